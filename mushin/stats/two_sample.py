"""The five two-sample tests, effect sizes, intervals and corrections, in C.

Each test equals scipy's default call (see :mod:`mushin.stats`); the
arguments are checked here, once, with the messages users see, and the C
core computes with the GIL released.

Examples
--------
>>> from mushin.stats import welch
>>> r = welch([0.71, 0.73, 0.72], [0.65, 0.66, 0.64])
>>> round(r.pvalue, 6)
0.001017
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence

import numpy as np

from .. import _core
from .registry import (
    CORRECTION_REGISTRY,
    PAIRED_TESTS,
    TEST_REGISTRY,
    check_confidence,
    check_correction,
    check_test,
)

__all__ = [
    "TestResult",
    "welch",
    "ttest_ind",
    "ttest_rel",
    "wilcoxon",
    "mannwhitney",
    "cohens_d",
    "cohens_dz",
    "mean_ci",
    "min_pvalue",
    "correct",
    "TESTS",
    "CORRECTIONS",
]


class TestResult(NamedTuple):
    """Outcome of one two-sided two-sample test (NaN where undefined).

    Attributes
    ----------
    statistic : float
        t for the t-tests; ``min(R+, R-)`` for Wilcoxon; U of the first
        sample for Mann-Whitney (the statistics scipy reports).
    pvalue : float
        Two-sided p-value.
    df : float
        Degrees of freedom of the t-tests; NaN for the rank tests.
    effect_size : float
        Cohen's d (pooled sd) for unpaired tests, d_z (mean / sd of the
        paired differences) for paired ones; +-inf when the groups do not
        vary and differ, 0 when they do not vary and agree.
    mean_diff : float
        ``mean(a) - mean(b)``.
    ci_low, ci_high : float
        Confidence interval of the difference at ``confidence``: of the
        mean difference for the t-tests (Welch, pooled or paired interval),
        the Hodges-Lehmann interval of the shift for the rank tests
        (``-inf, inf`` when too few values to exclude any shift).
    method : str
        How the p-value was obtained: ``"t"``, ``"exact"``,
        ``"permutation"``, ``"normal"``, ``"identical"`` (every paired
        difference is zero, p = 1) or ``"undefined"``.
    """

    statistic: float
    pvalue: float
    df: float
    effect_size: float
    mean_diff: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    method: str = "undefined"

    __test__ = False  # keep pytest from collecting this class


def _as_scores(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-d sequence of numbers, got {type(values).__name__}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of scores, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; every group needs at least one score")
    bad = ~np.isfinite(arr)
    if bad.any():
        kind = "NaN" if np.isnan(arr[bad]).all() else "NaN or inf"
        raise ValueError(f"{name} contains {kind} at positions {np.flatnonzero(bad).tolist()}")
    return arr


def _run(test: str, a: Any, b: Any, confidence: float) -> TestResult:
    # every argument is checked here, so C's own checks never fire for a user call
    x = _as_scores(a, "a")
    y = _as_scores(b, "b")
    if test in PAIRED_TESTS and x.size != y.size:
        raise ValueError(
            f"{test} is a paired test: a and b need one score per seed each, "
            f"got {x.size} and {y.size}"
        )
    t, p, df, diff, effect, low, high, how = _core.two_sample_test(
        test, x, y, check_confidence(confidence)
    )
    return TestResult(t, p, df, effect, diff, low, high, how)


def welch(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> TestResult:
    """Welch's unequal-variance t-test of ``mean(a) == mean(b)``, two-sided.

    Equals ``scipy.stats.ttest_ind(a, b, equal_var=False)``.  The effect
    size is Cohen's d (pooled sd), the interval the Welch interval of
    ``mean(a) - mean(b)``.  When neither group varies the statistic and
    p-value are NaN (scipy: +-inf and 0).

    Examples
    --------
    >>> from mushin.stats import welch
    >>> welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).pvalue
    1.0
    """
    return _run("welch", a, b, confidence)


def ttest_ind(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> TestResult:
    """Student's two-sample t-test with the pooled variance, two-sided.

    Equals ``scipy.stats.ttest_ind(a, b)``; assumes both groups share one
    variance.  Effect size: Cohen's d; interval: the pooled-variance
    interval of ``mean(a) - mean(b)``.

    Examples
    --------
    >>> from mushin.stats import ttest_ind
    >>> r = ttest_ind([0.71, 0.73, 0.72], [0.65, 0.66, 0.64])
    >>> round(r.statistic, 4), r.df
    (8.5732, 4.0)
    """
    return _run("ttest_ind", a, b, confidence)


def ttest_rel(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> TestResult:
    """Paired t-test on ``a[i] - b[i]`` (seed ``i`` of both methods), two-sided.

    Equals ``scipy.stats.ttest_rel(a, b)``, except that when every
    difference is zero the p-value is 1 (scipy: NaN).  Effect size: d_z;
    interval: the paired interval of the mean difference.

    Examples
    --------
    >>> from mushin.stats import ttest_rel
    >>> r = ttest_rel([0.71, 0.73, 0.72], [0.70, 0.71, 0.71])
    >>> round(r.pvalue, 4), r.df
    (0.0572, 2.0)
    """
    return _run("ttest_rel", a, b, confidence)


def wilcoxon(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> TestResult:
    """Wilcoxon signed-rank test on ``a[i] - b[i]``, two-sided.

    Equals ``scipy.stats.wilcoxon(a, b)``: zero differences dropped, the
    exact distribution for up to 50 pairs without ties or zeros, all sign
    flips for up to 13 pairs with them, else the normal approximation; the
    statistic is ``min(R+, R-)``.  When every difference is zero, p = 1.
    With n pairs the smallest possible p is ``2 / 2**n`` (0.25 for 3 seeds).

    Examples
    --------
    >>> from mushin.stats import wilcoxon
    >>> r = wilcoxon([0.71, 0.73, 0.72, 0.74, 0.70, 0.75],
    ...              [0.70, 0.71, 0.69, 0.70, 0.65, 0.69])
    >>> r.statistic, r.pvalue, r.method
    (0.0, 0.03125, 'exact')
    """
    return _run("wilcoxon", a, b, confidence)


def mannwhitney(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> TestResult:
    """Mann-Whitney U test of ``a`` against ``b``, two-sided.

    Equals ``scipy.stats.mannwhitneyu(a, b)``: the exact distribution when
    either sample has at most 8 values and there are no ties, else the
    normal approximation with tie and continuity corrections; the statistic
    is U of ``a``.  Effect size: Cohen's d; interval: Hodges-Lehmann.

    Examples
    --------
    >>> from mushin.stats import mannwhitney
    >>> r = mannwhitney([0.71, 0.73, 0.72, 0.74], [0.65, 0.66, 0.64, 0.67])
    >>> r.statistic, round(r.pvalue, 4), r.method
    (16.0, 0.0286, 'exact')
    """
    return _run("mannwhitney", a, b, confidence)


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """Cohen's d of ``a - b`` with the pooled standard deviation.

    Examples
    --------
    >>> from mushin.stats import cohens_d
    >>> cohens_d([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    1.0
    """
    return _core.cohens_d(_as_scores(a, "a"), _as_scores(b, "b"))


def cohens_dz(a: Sequence[float], b: Sequence[float]) -> float:
    """Cohen's d_z of paired scores: ``mean(a - b) / sd(a - b)``.

    Examples
    --------
    >>> from mushin.stats import cohens_dz
    >>> cohens_dz([1.0, 2.0, 4.0], [0.0, 1.0, 2.0])
    2.309401076758503
    """
    x, y = _as_scores(a, "a"), _as_scores(b, "b")
    if x.size != y.size:
        raise ValueError(f"cohens_dz needs paired scores, got {x.size} and {y.size} values")
    return _core.cohens_dz(x, y)


def mean_ci(x: Sequence[float], confidence: float = 0.95) -> tuple:
    """Student-t confidence interval of the mean: ``(mean, low, high)``.

    Examples
    --------
    >>> from mushin.stats import mean_ci
    >>> [round(v, 4) for v in mean_ci([1.0, 2.0, 3.0])]
    [2.0, -0.4841, 4.4841]
    """
    return _core.mean_ci(_as_scores(x, "x"), check_confidence(confidence))


def min_pvalue(test: str, n_a: int, n_b: Optional[int] = None) -> float:
    """The smallest p-value ``test`` can return with these seed counts.

    Read from the exact null distribution where the test uses it (else the
    normal approximation), for scores without ties.  It is 0 for the
    t-tests (once there are enough seeds for a variance) and a fixed
    floor for the rank tests: a test whose floor is at or above ``alpha``
    can never call a difference significant.

    Examples
    --------
    >>> from mushin.stats import min_pvalue
    >>> min_pvalue("wilcoxon", 3)
    0.25
    >>> round(min_pvalue("mannwhitney", 3, 3), 4)
    0.1
    """
    check_test(test)
    n_b = n_a if n_b is None else n_b
    for name, value in (("n_a", n_a), ("n_b", n_b)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return _core.min_pvalue(test, int(n_a), int(n_b))


def _seeds_to_reach(test: str, alpha: float, limit: int = 1000) -> Optional[int]:
    """Fewest seeds per method at which ``test`` can return p < alpha."""
    for n in range(2, limit + 1):
        if _core.min_pvalue(test, n, n) < alpha:
            return n
    return None


# ----------------------------------------------------------- corrections --


def _no_correction(p: np.ndarray) -> np.ndarray:
    out = np.array(p, dtype=np.float64, copy=True)
    finite = out[~np.isnan(out)]
    if ((finite < 0.0) | (finite > 1.0)).any():
        raise ValueError("none: p-values must lie in [0, 1] or be NaN")
    return out


# name -> adjusting function, read from the registry (the C function, or the
# identity for "none")
CORRECTIONS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    name: c.c_function if c.c_function is not None else _no_correction
    for name, c in CORRECTION_REGISTRY.items()
}


def correct(pvalues: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons.

    ``"holm"`` (step-down, controls the family-wise error rate),
    ``"bonferroni"`` (``min(1, m p)``), ``"fdr_bh"`` (Benjamini-Hochberg,
    controls the false discovery rate; equals
    ``scipy.stats.false_discovery_control``) or ``"none"``.  NaN entries
    are left out of the family and stay NaN.

    Examples
    --------
    >>> from mushin.stats import correct
    >>> correct([0.01, 0.04, float("nan"), 0.03], "holm").round(2).tolist()
    [0.03, 0.06, nan, 0.06]
    >>> correct([0.01, 0.04, float("nan"), 0.03], "fdr_bh").round(2).tolist()
    [0.03, 0.04, nan, 0.04]
    """
    check_correction(method)
    try:
        p = np.asarray(pvalues, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"pvalues must be a sequence of numbers, got {type(pvalues).__name__}") from None
    if p.ndim != 1:
        # a correction's family is one list of p-values; flattening a table
        # would silently pool families the caller meant to keep apart
        raise ValueError(
            f"pvalues must be 1-d (one family of p-values), got shape {p.shape}; correct each "
            "family separately, e.g. [correct(row, method) for row in pvalues]"
        )
    return CORRECTIONS[method](p)


# ----------------------------------------------------------------- tests --

_FUNCTIONS = {"welch": welch, "ttest_ind": ttest_ind, "ttest_rel": ttest_rel,
              "wilcoxon": wilcoxon, "mannwhitney": mannwhitney}
# name -> test function, in registry order (a registered test without a
# function here fails at import, not at first use)
TESTS: Dict[str, Callable[..., TestResult]] = {name: _FUNCTIONS[name] for name in TEST_REGISTRY}
