"""NumPy twins of the C kernels in csrc/scores.c (used only by the tests).

Each twin states the rule the kernel implements in the plainest NumPy it
can, without sharing code with mushin: ``np.searchsorted`` for the bins,
mid-ranks for the AUROC.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def _kept(probs, target, ignore_index: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs)
    target = np.asarray(target).astype(np.int64)
    if ignore_index is not None:
        keep = target != ignore_index
        probs, target = probs[keep], target[keep]
    return probs, target


def default_boundaries(n_bins: int) -> np.ndarray:
    """``i / n_bins`` rounded to float32, for i in 0..n_bins."""
    return (np.arange(n_bins + 1, dtype=np.float64) / n_bins).astype(np.float32)


def calibration_bins(
    probs,
    target,
    n_bins: int = 15,
    ignore_index: Optional[int] = None,
    boundaries=None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts, confidence sums, accuracy sums) over n_bins + 1 slots."""
    p, t = _kept(probs, target, ignore_index)
    b = default_boundaries(n_bins) if boundaries is None else np.asarray(boundaries, np.float32)
    slots = b.size
    if p.shape[0] == 0:
        return np.zeros(slots, np.int64), np.zeros(slots), np.zeros(slots)
    confidence = p.max(axis=1).astype(np.float32)
    correct = (p.argmax(axis=1) == t).astype(np.float64)  # argmax: first maximum
    slot = np.searchsorted(b, confidence, side="right") - 1
    counts = np.bincount(slot, minlength=slots).astype(np.int64)
    conf_sums = np.bincount(slot, weights=confidence.astype(np.float64), minlength=slots)
    acc_sums = np.bincount(slot, weights=correct, minlength=slots)
    return counts, conf_sums, acc_sums


def calibration_error(probs, target, n_bins: int = 15, ignore_index=None, boundaries=None) -> float:
    """L1 expected calibration error; NaN with no kept rows."""
    counts, conf, acc = calibration_bins(probs, target, n_bins, ignore_index, boundaries)
    total = counts.sum()
    if total == 0:
        return float("nan")
    nonempty = counts > 0
    gap = np.abs(acc[nonempty] / counts[nonempty] - conf[nonempty] / counts[nonempty])
    return float((gap * counts[nonempty] / total).sum())


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of their positions."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    lower = upper - counts + 1
    return ((lower + upper) / 2.0)[inverse]


def auroc_per_class(probs, target, num_classes: int, ignore_index=None) -> np.ndarray:
    """One-vs-rest AUROC of every class by the Mann-Whitney U with mid-ranks;
    0 for a class without positives or without negatives; NaN with no rows."""
    p, t = _kept(probs, target, ignore_index)
    n = t.size
    out = np.zeros(num_classes)
    if n == 0:
        return np.full(num_classes, np.nan)
    for c in range(num_classes):
        positive = t == c
        n_pos = int(positive.sum())
        n_neg = n - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = _midranks(p[:, c].astype(np.float64))
        u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
        out[c] = u / (n_pos * n_neg)
    return out


def auroc_macro(probs, target, num_classes: int, ignore_index=None) -> float:
    return float(np.mean(auroc_per_class(probs, target, num_classes, ignore_index)))
