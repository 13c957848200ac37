"""Slow Python twin of ``csrc/kernels/retrieval.c`` (``RetrievalGroups``).

Used only by the tests.  One query at a time, in plain Python, with the
semantics written out in ``csrc/kernels/retrieval.h``: scores rounded to
float32, empty queries score 0, map/mrr/precision/recall count an item as
relevant only when its score is > 0, ties ranked non-relevant first, ndcg
averaged over tied scores, plain mean over queries.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

NAMES = ("retrieval_map", "ndcg", "mrr", "precision", "recall")


def _discount(rank0: int, k: int) -> float:
    return 1.0 / math.log2(rank0 + 2.0) if rank0 < k else 0.0


def query_metrics(preds, target, top_k=None) -> dict:
    """The five metrics of one query (scores already float32-rounded)."""
    m = len(preds)
    k = top_k or m
    kk = min(k, m)
    total = float(sum(target))
    if total == 0.0:
        return dict.fromkeys(NAMES, 0.0)
    items = sorted(zip(preds, target), key=lambda it: (-it[0], it[1]))
    hits, ap, first = 0, 0.0, 0
    for i, (p, t) in enumerate(items[:kk]):
        if p > 0 and t != 0:
            hits += 1
            ap += hits / (i + 1)
            first = first or i + 1
    gain, i = 0.0, 0
    while i < m:
        j = i
        while j + 1 < m and items[j + 1][0] == items[i][0]:
            j += 1
        rel = sum(t for _, t in items[i:j + 1])
        disc = sum(_discount(r, k) for r in range(i, j + 1))
        gain += rel / (j - i + 1) * disc
        i = j + 1
    ideal = sum(t * _discount(r, k) for r, t in enumerate(sorted(target, reverse=True)[:kk]))
    return {
        "retrieval_map": ap / hits if hits else 0.0,
        "ndcg": gain / ideal if ideal != 0.0 else 0.0,
        "mrr": 1.0 / first if first else 0.0,
        "precision": hits / k,
        "recall": hits / total,
    }


def retrieval_metrics(preds, target, indexes, top_k=None) -> dict:
    """Mean over queries of query_metrics; NaN without items."""
    p = np.asarray(preds).astype(np.float32).astype(np.float64).reshape(-1)
    t = np.asarray(target).astype(np.float64).reshape(-1)
    q = np.asarray(indexes).astype(np.int64).reshape(-1)
    if len(p) == 0:
        return dict.fromkeys(NAMES, float("nan"))
    groups = defaultdict(lambda: ([], []))
    for qi, pi, ti in zip(q.tolist(), p.tolist(), t.tolist()):
        groups[qi][0].append(pi)
        groups[qi][1].append(ti)
    sums = dict.fromkeys(NAMES, 0.0)
    for qi in sorted(groups):
        for name, v in query_metrics(*groups[qi], top_k=top_k).items():
            sums[name] += v
    return {name: v / len(groups) for name, v in sums.items()}
