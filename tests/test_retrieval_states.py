"""RetrievalGroups (csrc/kernels/retrieval.c): against torchmetrics'
RetrievalMAP, RetrievalNormalizedDCG, RetrievalMRR, RetrievalPrecision and
RetrievalRecall to 1e-6, against the twin in tests/reference_retrieval.py,
and independent of batch split and merge order."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torchmetrics
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_retrieval as ref
from mushin import _core as core

NAMES = ref.NAMES


@st.composite
def triples(draw, ties=False, max_items=50):
    n = draw(st.integers(1, max_items))
    q = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    t = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    if ties:
        # few distinct scores, zero and negatives included
        p = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 2.0]), min_size=n, max_size=n))
    else:
        # distinct float32 scores: a permutation of n levels, some <= 0
        perm = draw(st.permutations(range(n)))
        shift = draw(st.integers(0, n))
        p = [(v - shift) * 0.125 for v in perm]
    return np.array(p), np.array(t, dtype=np.int64), np.array(q, dtype=np.int64)


def _torchmetrics_values(p, t, q, top_k=None):
    metrics = {
        "retrieval_map": torchmetrics.retrieval.RetrievalMAP(top_k=top_k),
        "ndcg": torchmetrics.retrieval.RetrievalNormalizedDCG(top_k=top_k),
        "mrr": torchmetrics.retrieval.RetrievalMRR(top_k=top_k),
        "precision": torchmetrics.retrieval.RetrievalPrecision(top_k=top_k),
        "recall": torchmetrics.retrieval.RetrievalRecall(top_k=top_k),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, m in metrics.items():
            m.update(torch.from_numpy(p), torch.from_numpy(t), indexes=torch.from_numpy(q))
            out[name] = float(m.compute())
    return out


def _groups(core, p, t, q, batches=1, **kw):
    g = core.RetrievalGroups(**kw)
    for bp, bt, bq in zip(np.array_split(p, batches), np.array_split(t, batches),
                          np.array_split(q, batches)):
        g.update(bp, bt, bq)
    return g


@settings(max_examples=200, deadline=None)
@given(triples(), st.sampled_from([None, 1, 2, 3, 10]))
def test_matches_torchmetrics_without_ties(data, top_k):
    p, t, q = data
    got = _groups(core, p, t, q, batches=3, top_k=top_k).compute()
    want = _torchmetrics_values(p, t, q, top_k)
    for name in NAMES:
        assert abs(got[name] - want[name]) <= 1e-6, (name, got[name], want[name])


@settings(max_examples=200, deadline=None)
@given(st.one_of(triples(), triples(ties=True)), st.sampled_from([None, 1, 3]))
def test_matches_twin_with_ties(data, top_k):
    p, t, q = data
    got = _groups(core, p, t, q, batches=2, top_k=top_k).compute()
    want = ref.retrieval_metrics(p, t, q, top_k)
    for name in NAMES:
        assert abs(got[name] - want[name]) <= 1e-12, (name, got[name], want[name])


@settings(max_examples=100, deadline=None)
@given(triples(ties=True), st.randoms(use_true_random=False))
def test_result_independent_of_split_and_merge_order(data, rnd):
    p, t, q = data
    whole = _groups(core, p, t, q).compute()
    perm = list(range(len(p)))
    rnd.shuffle(perm)
    parts = np.array_split(np.array(perm, dtype=np.int64), 3)
    states = []
    for idx in parts:
        s = core.RetrievalGroups()
        s.update(p[idx], t[idx], q[idx])
        states.append(s)
    merged = core.RetrievalGroups()
    for s in reversed(states):
        merged.merge(s.state_dict() if rnd.random() < 0.5 else s)
    got = merged.compute()
    assert [np.float64(got[k]).tobytes() for k in NAMES] == [np.float64(whole[k]).tobytes() for k in NAMES]


def test_ties_rank_non_relevant_first():
    # torchmetrics leaves the order of tied scores to torch.topk; the state
    # ranks the non-relevant item first, so the relevant one is at rank 2
    g = core.RetrievalGroups()
    g.update(np.array([0.5, 0.5]), np.array([1, 0]), np.array([0, 0]))
    got = g.compute()
    assert got["mrr"] == 0.5 and got["retrieval_map"] == 0.5
    # ndcg averages over the tie: (1/2)(1 + 1/log2(3)) / 1
    assert got["ndcg"] == pytest.approx(0.5 * (1 + 1 / math.log2(3)), abs=1e-15)
    assert got["ndcg"] == pytest.approx(_torchmetrics_values(
        np.array([0.5, 0.5]), np.array([1, 0]), np.array([0, 0]))["ndcg"], abs=1e-6)


def test_empty_query_scores_zero_and_counts():
    g = core.RetrievalGroups()
    g.update(np.array([0.9, 0.1, 0.8, 0.3]), np.array([1, 0, 0, 0]), np.array([0, 0, 7, 7]))
    got = g.compute()
    want = _torchmetrics_values(np.array([0.9, 0.1, 0.8, 0.3]), np.array([1, 0, 0, 0]),
                                np.array([0, 0, 7, 7]))
    assert got == pytest.approx(want, abs=1e-6)
    assert got["mrr"] == 0.5  # (1 + 0) / 2 queries


def test_non_positive_scores_are_not_retrieved():
    # torchmetrics 1.9 masks the target where preds <= 0 for map, mrr,
    # precision and recall (not ndcg)
    p, t, q = np.array([-0.5, -0.2, 0.0]), np.array([1, 1, 0]), np.zeros(3, dtype=np.int64)
    got = _groups(core, p, t, q).compute()
    want = _torchmetrics_values(p, t, q)
    assert got == pytest.approx(want, abs=1e-6)
    assert got["recall"] == 0.0 and got["ndcg"] > 0


def test_scores_are_rounded_to_float32():
    # 1 + 1e-12 and 1 tie once cast to float32, as in torchmetrics
    g = core.RetrievalGroups()
    g.update(np.array([1.0 + 1e-12, 1.0]), np.array([0, 1]), np.array([3, 3]))
    assert g.state_dict()["preds"].dtype == np.float32
    assert g.compute()["ndcg"] == pytest.approx(0.5 * (1 + 1 / math.log2(3)), abs=1e-15)


def test_graded_relevance_gives_ndcg_only():
    p, t, q = np.array([0.3, 0.2, 0.1]), np.array([0.0, 3.0, 1.5]), np.zeros(3, dtype=np.int64)
    g = core.RetrievalGroups(graded=True)
    g.update(p, t, q)
    got = g.compute()
    assert list(got) == ["ndcg"]
    m = torchmetrics.retrieval.RetrievalNormalizedDCG()
    m.update(torch.from_numpy(p), torch.from_numpy(t), indexes=torch.from_numpy(q))
    assert got["ndcg"] == pytest.approx(float(m.compute()), abs=1e-6)


def test_input_kinds():
    p = torch.tensor([0.3, 0.9, 0.1], dtype=torch.float16)
    t = torch.tensor([True, False, True])
    q = torch.tensor([0, 0, 1], dtype=torch.int32)
    got = _groups(core, p, t, q).compute()
    want = ref.retrieval_metrics(p.float().numpy(), t.numpy(), q.numpy())
    assert got == pytest.approx(want, abs=1e-15)
    # any shape, flattened like torchmetrics
    g = core.RetrievalGroups()
    g.update(np.array([[0.3, 0.9], [0.2, 0.1]]), np.array([[1, 0], [0, 1]]), np.array([[0, 0], [1, 1]]))
    assert g.n == 4


def test_state_round_trip_and_reset():
    g = _groups(core, np.array([0.3, 0.9, 0.1]), np.array([1, 0, 1]), np.array([0, 0, 1]), top_k=2)
    d = g.state_dict()
    assert sorted(d) == ["graded", "indexes", "preds", "target"]
    h = core.RetrievalGroups(top_k=2)
    h.load_state_dict(d)
    assert h.compute() == g.compute() and h.top_k == 2
    g.reset()
    assert g.n == 0 and all(math.isnan(v) for v in g.compute().values())


# ------------------------------------------------------------ bad input --

def _snapshot(g):
    return {k: np.asarray(v).tolist() for k, v in g.state_dict().items()}


@pytest.mark.parametrize(
    "p, t, q, error, match",
    [
        ([0.1, 0.2], [1, 0], [0, -3], ValueError, r"`indexes` holds 1 negative.*-3.*position 1"),
        ([0.1, np.nan], [1, 0], [0, 0], ValueError, r"`preds` holds 1 non-finite.*nan.*position 1"),
        ([0.1, np.inf], [1, 0], [0, 0], ValueError, r"`preds` holds 1 non-finite.*inf"),
        ([0.1, 1e300], [1, 0], [0, 0], ValueError, r"`preds`.*float32's range"),
        ([0.1, 0.2], [1, 2], [0, 0], ValueError, r"`target` holds 1 relevance.*other than 0 and 1.*graded=True"),
        ([0.1, 0.2], [1.0, 0.5], [0, 0], ValueError, r"`target` holds 1 relevance.*first: 0.5 at flat position 1"),
        ([0.1, 0.2, 0.3], [1, 0], [0, 0], ValueError, r"`preds` has shape \(3,\) but `target` has shape \(2,\)"),
        ([0.1, 0.2], [1, 0], [0, 0, 1], ValueError, r"`preds` has shape \(2,\) but `indexes` has shape \(3,\)"),
        ([0.1, 0.2], [1, 0], [0.0, 1.0], TypeError, r"`indexes` has dtype.*float64.*int64"),
        ([1, 2], [1, 0], [0, 0], TypeError, r"`preds` has dtype.*int64.*float"),
        ([0.1, 0.2], np.array([1, 0], dtype=np.uint8), [0, 0], TypeError, r"`target` has dtype.*uint8"),
        (0.5, 1, 0, ValueError, r"scalars"),
    ],
)
def test_bad_batches_raise_and_leave_state(p, t, q, error, match):
    g = core.RetrievalGroups()
    g.update(np.array([0.4, 0.6]), np.array([0, 1]), np.array([5, 5]))
    before = _snapshot(g)
    with pytest.raises(error, match=match):
        g.update(np.asarray(p), np.asarray(t), np.asarray(q))
    assert _snapshot(g) == before


@pytest.mark.parametrize("top_k, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_top_k(top_k, error):
    with pytest.raises(error, match="`top_k` must be a positive int or None"):
        core.RetrievalGroups(top_k=top_k)


def test_corrupt_state_dict_is_refused():
    g = _groups(core, np.array([0.3, 0.9]), np.array([1, 0]), np.array([0, 0]))
    before = _snapshot(g)
    d = g.state_dict()
    d["indexes"] = np.array([0, -1])
    with pytest.raises(ValueError, match="`indexes` holds 1 negative"):
        g.merge(d)
    with pytest.raises(ValueError, match="no 'target' entry"):
        g.load_state_dict({"indexes": d["indexes"], "preds": d["preds"]})
    with pytest.raises(TypeError, match="RetrievalGroups or its state_dict"):
        g.merge([1, 2])
    assert _snapshot(g) == before


def test_inputs_are_not_kept_or_modified():
    import sys

    p, t, q = np.linspace(-1, 1, 8), np.array([1, 0] * 4), np.arange(8) // 3
    copies = p.copy(), t.copy(), q.copy()
    before = [sys.getrefcount(a) for a in (p, t, q)]
    g, other = core.RetrievalGroups(), core.RetrievalGroups()
    other.update(p, t, q)
    for _ in range(50):
        g.update(p, t, q)
        with pytest.raises(ValueError):
            g.update(p, t, -q - 1)
        g.merge(other.state_dict())
        g.compute()
    assert [sys.getrefcount(a) for a in (p, t, q)] == before
    for a, c in zip((p, t, q), copies):
        np.testing.assert_array_equal(a, c)
