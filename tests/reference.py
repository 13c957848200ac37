"""Slow, obvious NumPy twins of mushin's C routines, used only by the tests.

Nothing here imports mushin: each function restates the definition its C
counterpart implements, so a test can put the two side by side on generated
inputs.  Where a twin needs a distribution function it takes it from an
outside source (scipy, or mpmath for tails scipy cannot reach).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np

# ------------------------------------------------------------ confusion --


class BadValues(NamedTuple):
    """What the confusion twin refused to count (C order, like the kernel)."""

    target_bad: int
    target_first: Optional[int]
    preds_bad: int
    preds_first: Optional[int]


def confusion_bad_values(preds, target, num_classes: int, ignore_index: Optional[int]) -> BadValues:
    """Values outside [0, num_classes) that the accumulator must reject.

    A target equal to ``ignore_index`` is skipped; at such a position the
    prediction may also equal ``ignore_index`` (void predicted as void), but
    any other out-of-range prediction is still an error.
    """
    p = np.asarray(preds).astype(np.int64).ravel(order="C")
    t = np.asarray(target).astype(np.int64).ravel(order="C")
    ignored = (t == ignore_index) if ignore_index is not None else np.zeros(t.shape, bool)
    p_out = (p < 0) | (p >= num_classes)
    t_out = (t < 0) | (t >= num_classes)
    bad_t = t_out & ~ignored
    bad_p = p_out & ~(ignored & (p == ignore_index))
    first = lambda values, mask: int(values[np.flatnonzero(mask)[0]]) if mask.any() else None  # noqa: E731
    return BadValues(int(bad_t.sum()), first(t, bad_t), int(bad_p.sum()), first(p, bad_p))


def confusion_counts(preds, target, num_classes: int, ignore_index: Optional[int] = None) -> np.ndarray:
    """``counts[target, prediction]`` over the positions whose target is not ignored.

    Raises ``ValueError`` when :func:`confusion_bad_values` finds anything.
    """
    bad = confusion_bad_values(preds, target, num_classes, ignore_index)
    if bad.target_bad or bad.preds_bad:
        raise ValueError(f"bad values: {bad}")
    p = np.asarray(preds).astype(np.int64).ravel()
    t = np.asarray(target).astype(np.int64).ravel()
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (t[keep], p[keep]), 1)
    return counts


# ------------------------------------------------- segmentation metrics --
# Written class by class from torchmetrics' definitions: a class enters a
# macro average only if it occurs (tp + fp + fn > 0); the Jaccard index also
# leaves out an ignore_index that is itself a class.


def _per_class(counts):
    cm = np.asarray(counts, dtype=np.float64)
    for c in range(cm.shape[0]):
        tp = cm[c, c]
        fp = cm[:, c].sum() - tp
        fn = cm[c, :].sum() - tp
        yield c, tp, fp, fn


def miou(counts, ignore_index: Optional[int] = None) -> float:
    scores = [
        tp / (tp + fp + fn)
        for c, tp, fp, fn in _per_class(counts)
        if tp + fp + fn > 0 and c != ignore_index
    ]
    return float(np.mean(scores)) if scores else math.nan


def dice(counts, ignore_index: Optional[int] = None) -> float:
    scores = [2 * tp / (2 * tp + fp + fn) for _, tp, fp, fn in _per_class(counts) if tp + fp + fn > 0]
    return float(np.mean(scores)) if scores else 0.0


def macro_precision(counts, ignore_index: Optional[int] = None) -> float:
    scores = [
        (tp / (tp + fp) if tp + fp > 0 else 0.0)
        for _, tp, fp, fn in _per_class(counts)
        if tp + fp + fn > 0
    ]
    return float(np.mean(scores)) if scores else 0.0


def macro_recall(counts, ignore_index: Optional[int] = None) -> float:
    scores = [
        (tp / (tp + fn) if tp + fn > 0 else 0.0)
        for _, tp, fp, fn in _per_class(counts)
        if tp + fp + fn > 0
    ]
    return float(np.mean(scores)) if scores else 0.0


def pixel_accuracy(counts, ignore_index: Optional[int] = None) -> float:
    cm = np.asarray(counts, dtype=np.float64)
    total = cm.sum()
    return float(np.trace(cm) / total) if total > 0 else 0.0


SEGMENTATION = {
    "miou": miou,
    "dice": dice,
    "pixel_acc": pixel_accuracy,
    "precision": macro_precision,
    "recall": macro_recall,
}


# ------------------------------------------------------------ statistics --


def student_t_sf_exact(t: float, df: float, digits: int = 60) -> float:
    """P(T > t) in arbitrary precision (mpmath), for tails scipy rounds to 0."""
    import mpmath as mp

    # 1 - I_y(1/2, df/2) cancels down to the tail, so that branch carries
    # enough extra digits for tails as small as the smallest double.
    with mp.workdps(digits + 340):
        t_ = mp.mpf(t)
        nu = mp.mpf(df)
        half = mp.mpf(1) / 2
        if t_ < 0:
            return float(1 - mp.mpf(student_t_sf_exact(-t, df, digits)))
        x = nu / (nu + t_ * t_)
        if x < half:
            return float(half * mp.betainc(nu / 2, half, 0, x, regularized=True))
        y = t_ * t_ / (nu + t_ * t_)
        return float(half * (1 - mp.betainc(half, nu / 2, 0, y, regularized=True)))


class WelchTwin(NamedTuple):
    statistic: float
    df: float
    pvalue: float


def welch(a, b) -> WelchTwin:
    """Welch's t and Welch-Satterthwaite df in NumPy; p from scipy's t distribution."""
    from scipy.special import stdtr

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    va = a.var(ddof=1) / a.size
    vb = b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return WelchTwin(float(t), float(df), float(2.0 * stdtr(df, -abs(t))))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment; NaN entries are not part of the family."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    ordered = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(ordered):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def mean_ci(x, confidence: float = 0.95):
    """Student-t interval of the mean: (mean, low, high)."""
    from scipy.stats import t as student_t

    x = np.asarray(x, dtype=np.float64)
    n = x.size
    mean = x.mean()
    half = student_t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(mean), float(mean - half), float(mean + half)


def cohens_d(a, b) -> float:
    """(mean(a) - mean(b)) / pooled standard deviation."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
    pooled = math.sqrt(ss / (a.size + b.size - 2))
    return float((a.mean() - b.mean()) / pooled)
