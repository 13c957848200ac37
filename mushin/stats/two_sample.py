"""Significance tests across seeds, computed by mushin's C core.

Five two-sided tests, each equal to scipy's default call (including its
choice between exact, permutation and normal-approximation p-values):

=================  ==========================================  ==========
``test=``          scipy equivalent                            paired
=================  ==========================================  ==========
``"welch"``        ``ttest_ind(a, b, equal_var=False)``        no
``"ttest_ind"``    ``ttest_ind(a, b)`` (pooled variance)       no
``"ttest_rel"``    ``ttest_rel(a, b)``                         yes
``"wilcoxon"``     ``wilcoxon(a, b)`` (signed-rank)            yes
``"mannwhitney"``  ``mannwhitneyu(a, b)``                      no
=================  ==========================================  ==========

Corrections for multiple comparisons: ``"holm"``, ``"bonferroni"``,
``"fdr_bh"`` (Benjamini-Hochberg) and ``"none"``.  The arithmetic (t
statistics and the Student-t distribution, ranks and the exact null
distributions of the rank statistics, corrections, effect sizes, confidence
intervals) runs in C with the GIL released; scipy is not needed at run time.

Examples
--------
>>> from mushin.stats import welch
>>> r = welch([0.71, 0.73, 0.72], [0.65, 0.66, 0.64])
>>> round(r.pvalue, 6)
0.001017
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _core

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
    "compare_scores",
    "check_design",
    "untested_reason",
    "TESTS",
    "PAIRED_TESTS",
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


PAIRED_TESTS = frozenset({"ttest_rel", "wilcoxon"})
_TEST_NAMES = ("welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney")
# what to suggest when a test cannot reach alpha: the t-test of the same design
_T_ALTERNATIVE = {"wilcoxon": "ttest_rel", "mannwhitney": "welch"}


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the user's code.

    The statistics are reached through ``compare``, ``Study``,
    ``BenchmarkResult`` or ``compare_scores``, each at another depth, so
    the first frame outside the mushin package is found by walking up.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR:
        frame = frame.f_back
        level += 1
    return level


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


def _check_confidence(confidence: Any) -> float:
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise TypeError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return value


def _run(test: str, a: Any, b: Any, confidence: float) -> TestResult:
    x = _as_scores(a, "a")
    y = _as_scores(b, "b")
    if test in PAIRED_TESTS and x.size != y.size:
        raise ValueError(
            f"{test} is a paired test: a and b need one score per seed each, "
            f"got {x.size} and {y.size}"
        )
    t, p, df, diff, effect, low, high, how = _core.two_sample_test(
        test, x, y, _check_confidence(confidence)
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
    return _core.mean_ci(_as_scores(x, "x"), float(confidence))


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


def _holm(p: np.ndarray) -> np.ndarray:
    return _core.holm(p)


def _bonferroni(p: np.ndarray) -> np.ndarray:
    return _core.bonferroni(p)


def _fdr_bh(p: np.ndarray) -> np.ndarray:
    return _core.fdr_bh(p)


def _no_correction(p: np.ndarray) -> np.ndarray:
    out = np.array(p, dtype=np.float64, copy=True)
    finite = out[~np.isnan(out)]
    if ((finite < 0.0) | (finite > 1.0)).any():
        raise ValueError("none: p-values must lie in [0, 1] or be NaN")
    return out


CORRECTIONS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "holm": _holm,
    "bonferroni": _bonferroni,
    "fdr_bh": _fdr_bh,
    "none": _no_correction,
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

TESTS: Dict[str, Callable[..., TestResult]] = {
    "welch": welch,
    "ttest_ind": ttest_ind,
    "ttest_rel": ttest_rel,
    "wilcoxon": wilcoxon,
    "mannwhitney": mannwhitney,
}


def check_test(test: str) -> None:
    if not isinstance(test, str) or test not in TESTS:
        raise ValueError(f"unknown test {test!r}; valid tests: {sorted(TESTS)}")


def check_correction(correction: str) -> None:
    if not isinstance(correction, str) or correction not in CORRECTIONS:
        raise ValueError(
            f"unknown correction {correction!r}; valid corrections: {sorted(CORRECTIONS)}"
        )


def check_alpha(alpha: float) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be a number in (0, 1), got {alpha!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return value


def check_design(test: str, seeds_per_method: Mapping[str, int]) -> None:
    """Raise ``ValueError`` when a paired test meets unequal seed counts.

    A paired test compares seed ``i`` of one method with seed ``i`` of the
    other, so every method needs the same number of seeds.  ``compare`` and
    ``Study`` call this before any model runs.

    Examples
    --------
    >>> from mushin.stats import check_design
    >>> check_design("ttest_rel", {"a": 3, "b": 3})
    >>> check_design("welch", {"a": 3, "b": 5})
    """
    check_test(test)
    if test not in PAIRED_TESTS:
        return
    counts = dict(seeds_per_method)
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name!r}: {n}" for name, n in counts.items())
        raise ValueError(
            f"test={test!r} is paired: it compares seed i of one method with seed i of "
            f"another, so every method needs the same seeds; got {listed}.  Give every "
            "method the same seeds or use an unpaired test ('welch', 'ttest_ind', "
            "'mannwhitney')"
        )


# ------------------------------------------------------ comparison table --

COMPARISON_COLUMNS = [
    "metric",
    "method_a",
    "method_b",
    "mean_diff",
    "diff_ci_low",
    "diff_ci_high",
    "effect_size",
    "statistic",
    "df",
    "p_value",
    "p_corrected",
    "significant",
    "note",
]


def _seed_presence(
    arrays: Mapping[str, Mapping[str, np.ndarray]], methods: Sequence[str], metrics: Sequence[str]
) -> Dict[str, np.ndarray]:
    """Per method, which seed positions hold a score for at least one metric."""
    presence: Dict[str, np.ndarray] = {}
    for m in methods:
        length = max((arrays[metric][m].size for metric in metrics), default=0)
        mask = np.zeros(length, dtype=bool)
        for metric in metrics:
            values = arrays[metric][m]
            mask[: values.size] |= ~np.isnan(values)
        presence[m] = mask
    return presence


def _check_paired_seeds(test: str, presence: Mapping[str, np.ndarray], methods: Sequence[str]) -> None:
    check_design(test, {m: int(presence[m].sum()) for m in methods})
    first = methods[0]
    for m in methods[1:]:
        a, b = presence[first], presence[m]
        if a.size != b.size or not np.array_equal(a, b):
            raise ValueError(
                f"test={test!r} is paired: it compares seed i of one method with seed i of "
                f"another, but {first!r} and {m!r} have scores for different seeds "
                f"({np.flatnonzero(a).tolist()} and {np.flatnonzero(b).tolist()})"
            )


def _underpowered_message(test: str, alpha: float, worst: Tuple[float, int, int]) -> str:
    best, na, nb = worst
    seeds = f"{na} seeds per method" if na == nb else f"{na} and {nb} seeds"
    needed = _seeds_to_reach(test, alpha)
    suggestion = f"use test={_T_ALTERNATIVE.get(test, 'welch')!r}"
    if needed is not None:
        suggestion += f", or at least {needed} seeds per method"
    return (
        f"test={test!r} cannot reach p < {alpha:g} with {seeds}: the smallest p-value it can "
        f"return is {best:.3g}, so no difference can be significant; {suggestion}"
    )


# Why a pair is not tested.  The table's ``note`` column holds one of these
# (empty when the pair was tested) and every table and plot prints it where
# the p-value would be, so an untested pair never reads as "not significant".
NA_NO_SCORES = "n/a: no scores"
NA_ONE_SEED = "n/a: one seed"
NA_NO_VARIANCE = "n/a: no variance on either side"
NA_CONSTANT_DIFFERENCES = "n/a: the paired differences do not vary"
NA_UNDEFINED = "n/a: the test is undefined for these scores"


def untested_reason(a: np.ndarray, b: np.ndarray) -> str:
    """Why two groups of seed scores cannot be tested ("" when they can).

    A method that scores the same on every seed against one that varies is
    an ordinary, well-defined test (Welch, the paired tests and the rank
    tests all have a sampling distribution there).  Only when *both* sides
    are constant is there nothing to test; equal constants are reported as
    p = 1 by the table instead, so they return "" here too.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.stats import untested_reason
    >>> untested_reason(np.array([0.1, 0.1, 0.1]), np.array([0.4, 0.45, 0.48]))
    ''
    >>> untested_reason(np.array([0.1, 0.1]), np.array([0.4, 0.4]))
    'n/a: no variance on either side'
    >>> untested_reason(np.array([0.1]), np.array([0.4, 0.45]))
    'n/a: one seed'
    """
    if a.size == 0 or b.size == 0:
        return NA_NO_SCORES
    if a.size < 2 or b.size < 2:
        return NA_ONE_SEED
    if _is_constant(a) and _is_constant(b) and a[0] != b[0]:
        return NA_NO_VARIANCE
    return ""


def _is_constant(values: np.ndarray) -> bool:
    return bool(values.size) and bool(np.all(values == values[0]))


def _untested_detail(note: str, ma: str, mb: str, a: np.ndarray, b: np.ndarray) -> str:
    """The warning's longer account of one untested pair."""
    if note in (NA_ONE_SEED, NA_NO_SCORES):
        return (
            f"{ma!r} vs {mb!r}: {note} ({ma!r} has {a.size} and {mb!r} has {b.size} valid seed(s); "
            "significance needs at least two seeds per method)"
        )
    if note == NA_NO_VARIANCE:
        return (
            f"{ma!r} vs {mb!r}: {note} ({ma!r} scored {a[0]:.6g} and {mb!r} scored {b[0]:.6g} "
            "on every seed; without seed-to-seed variation there is nothing to test)"
        )
    return f"{ma!r} vs {mb!r}: {note}"


def _test_pair(test: str, a: np.ndarray, b: np.ndarray, confidence: float) -> Tuple[dict, str]:
    """The statistics columns of one pair and its note ("" when tested)."""
    fields = {
        "mean_diff": float(a.mean() - b.mean()) if a.size and b.size else math.nan,
        "diff_ci_low": math.nan,
        "diff_ci_high": math.nan,
        "effect_size": math.nan,
        "statistic": math.nan,
        "df": math.nan,
        "p_value": math.nan,
    }
    note = untested_reason(a, b)
    if note in (NA_NO_SCORES, NA_ONE_SEED):
        return fields, note
    t, p, df, diff, effect, low, high, _how = _core.two_sample_test(test, a, b, confidence)
    fields.update(mean_diff=diff, effect_size=effect)
    if note:  # both constant and different: only the gap itself is known
        return fields, note
    if _is_constant(a) and _is_constant(b):
        # equal constants: no evidence of any difference; the t-tests' 0/0
        # statistic stays NaN but the verdict is the one identical methods get
        fields.update(statistic=t, df=df, p_value=1.0)
        return fields, ""
    if math.isnan(p):
        if test in PAIRED_TESTS and _is_constant(a - b):
            return fields, NA_CONSTANT_DIFFERENCES
        return fields, NA_UNDEFINED
    fields.update(diff_ci_low=low, diff_ci_high=high, statistic=t, df=df, p_value=p)
    return fields, ""


def comparisons_table(
    scores: Mapping[str, Mapping[str, Any]],
    methods: Sequence[str],
    metrics: Sequence[str],
    *,
    test: str = "welch",
    alpha: float = 0.05,
    correction: str = "holm",
    warn: bool = True,
) -> "Any":
    """Pairwise comparisons of every method pair for every metric.

    ``scores[metric][method]`` is a 1-d array of per-seed values (NaN marks a
    missing seed; for paired tests position ``i`` is seed ``i`` of every
    method).  Rows come in metric order, then pair order (a before b in
    ``methods``).  The correction runs per metric across method pairs.
    Returns a pandas DataFrame with :data:`COMPARISON_COLUMNS`;
    ``diff_ci_low``/``diff_ci_high`` bound ``a - b`` at confidence
    ``1 - alpha``.

    Degenerate cases, decided by whether the test is defined: fewer than two
    seeds -> p NaN, note ``"n/a: one seed"``; a method constant across seeds
    against a varying one -> tested as usual; both constant -> p NaN, note
    ``"n/a: no variance on either side"`` (p = 1 when the constants are
    equal).  Untested pairs are never significant, are left out of the
    correction family, and raise one ``UserWarning`` per metric.  A test
    whose smallest attainable p-value is at least ``alpha`` -> one
    ``UserWarning`` per call.  A paired test on methods with different seeds
    raises ``ValueError``.
    """
    import pandas as pd

    check_test(test)
    check_correction(correction)
    alpha = check_alpha(alpha)
    paired = test in PAIRED_TESTS
    confidence = 1.0 - alpha
    arrays = {
        metric: {m: np.asarray(scores[metric][m], dtype=np.float64).ravel() for m in methods}
        for metric in metrics
    }
    presence = _seed_presence(arrays, methods, metrics)
    if paired and len(methods) > 1:
        _check_paired_seeds(test, presence, methods)

    worst: Optional[Tuple[float, int, int]] = None
    for i, ma in enumerate(methods):
        for mb in methods[i + 1 :]:
            na, nb = int(presence[ma].sum()), int(presence[mb].sum())
            best = _core.min_pvalue(test, na, nb)
            if best >= alpha and (worst is None or best > worst[0]):
                worst = (best, na, nb)
    if warn and worst is not None:
        warnings.warn(
            _underpowered_message(test, alpha, worst), UserWarning, stacklevel=_caller_stacklevel()
        )

    rows: List[dict] = []
    for metric in metrics:
        per_method = arrays[metric]
        clean = {m: v[~np.isnan(v)] for m, v in per_method.items()}
        family_rows = []
        untested: List[str] = []
        for i, ma in enumerate(methods):
            for mb in methods[i + 1 :]:
                if paired:
                    a_all, b_all = per_method[ma], per_method[mb]
                    both = ~np.isnan(a_all) & ~np.isnan(b_all)
                    a, b = a_all[both], b_all[both]
                else:
                    a, b = clean[ma], clean[mb]
                fields, note = _test_pair(test, a, b, confidence)
                if note:
                    untested.append(_untested_detail(note, ma, mb, a, b))
                family_rows.append({"metric": metric, "method_a": ma, "method_b": mb, **fields, "note": note})
        if warn and untested:
            warnings.warn(
                f"metric {metric!r}: {len(untested)} of {len(family_rows)} comparison(s) not tested "
                "(p-value NaN, shown as n/a): " + "; ".join(untested),
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )
        adjusted = CORRECTIONS[correction](np.array([r["p_value"] for r in family_rows], dtype=float))
        for row, p_adj in zip(family_rows, adjusted):
            row["p_corrected"] = float(p_adj)
            row["significant"] = bool(p_adj < alpha) if not math.isnan(p_adj) else False
        rows.extend(family_rows)
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    frame["significant"] = frame["significant"].astype(bool)
    frame["note"] = frame["note"].astype(object)
    frame.attrs.update({"test": test, "alpha": alpha, "correction": correction})
    return frame


# ------------------------------------------------------ scores you have --


def _scores_from_dataset(scores: Any) -> tuple:
    if "method" not in scores.dims or "seed" not in scores.dims:
        raise ValueError(
            f"a scores Dataset needs dims (method, seed), got {tuple(scores.dims)}"
        )
    methods = [str(m) for m in scores["method"].values]
    metrics = [name for name, var in scores.data_vars.items() if set(var.dims) == {"method", "seed"}]
    if not metrics:
        raise ValueError("the scores Dataset has no variable with dims (method, seed)")
    table = {
        metric: {
            m: scores[metric].sel({"method": m}).transpose("seed").values.astype(float)
            for m in methods
        }
        for metric in metrics
    }
    for metric in metrics:
        for m in methods:
            if np.isinf(table[metric][m]).any():
                raise ValueError(f"scores[{metric!r}] holds inf for method {m!r}; scores must be finite")
    return table, methods, metrics


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _scores_from_frame(scores: Any) -> tuple:
    missing = {"method", "value"} - set(scores.columns)
    if missing:
        raise ValueError(
            f"a scores DataFrame needs columns method, seed, metric, value; missing {sorted(missing)}"
        )
    frame = scores if "metric" in scores.columns else scores.assign(metric="score")
    if "seed" not in frame.columns:
        frame = frame.assign(seed=frame.groupby(["metric", "method"], sort=False).cumcount())
    values = frame["value"].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        first = frame.iloc[int(np.flatnonzero(bad)[0])]
        raise ValueError(
            f"{int(bad.sum())} score(s) are NaN or inf, first at method={_plain(first['method'])!r}, "
            f"seed={_plain(first['seed'])!r}, metric={_plain(first['metric'])!r}; "
            "drop missing seeds instead"
        )
    duplicated = frame.duplicated(["metric", "method", "seed"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise ValueError(
            f"more than one score for method={_plain(first['method'])!r}, "
            f"seed={_plain(first['seed'])!r}, metric={_plain(first['metric'])!r}"
        )
    methods = list(dict.fromkeys(frame["method"]))
    metrics = list(dict.fromkeys(frame["metric"]))
    seeds = list(dict.fromkeys(frame["seed"]))
    position = {s: i for i, s in enumerate(seeds)}
    table: Dict[str, Dict[str, np.ndarray]] = {}
    for metric in metrics:
        table[metric] = {}
        part = frame[frame["metric"] == metric]
        for m in methods:
            rows = part[part["method"] == m]
            column = np.full(len(seeds), np.nan)
            column[[position[s] for s in rows["seed"]]] = rows["value"].to_numpy(float)
            table[metric][m] = column
    return table, methods, metrics


def _scores_from_any(scores: Any) -> tuple:
    """Normalise user scores to (scores[metric][method], methods, metrics)."""
    import pandas as pd
    import xarray as xr

    if isinstance(scores, xr.Dataset):
        return _scores_from_dataset(scores)
    if isinstance(scores, pd.DataFrame):
        return _scores_from_frame(scores)
    if isinstance(scores, Mapping):
        methods = list(scores)
        table: Dict[str, Dict[str, np.ndarray]] = {"score": {}}
        for m in methods:
            table["score"][m] = _as_scores(scores[m], f"scores[{m!r}]")
        # unequal lengths: pad with NaN (missing seeds) so paired tests can tell
        longest = max((v.size for v in table["score"].values()), default=0)
        for m in methods:
            v = table["score"][m]
            table["score"][m] = np.concatenate([v, np.full(longest - v.size, np.nan)])
        return table, methods, ["score"]
    raise TypeError(
        "scores must be a {method: per-seed values} mapping, a tidy DataFrame "
        f"(method, seed, metric, value) or an xarray.Dataset; got {type(scores).__name__}"
    )


def compare_scores(
    scores: Any, test: str = "welch", alpha: float = 0.05, correction: str = "holm"
) -> "Any":
    """Compare methods from scores you already have.

    Parameters
    ----------
    scores : mapping, DataFrame or xarray.Dataset
        ``{method: per-seed values}``; a tidy table with columns
        ``method, seed, metric, value`` (``seed`` and ``metric`` optional);
        or a Dataset with dims ``(method, seed)`` and one variable per
        metric, such as ``BenchmarkResult.data`` (NaN marks a missing seed).
        Paired tests pair scores by seed.
    test, alpha, correction
        As in :func:`mushin.compare`.

    Returns
    -------
    pandas.DataFrame
        The same comparisons table as ``compare(...).comparisons``.

    Examples
    --------
    >>> from mushin.stats import compare_scores
    >>> table = compare_scores({"a": [0.71, 0.73, 0.72], "b": [0.65, 0.66, 0.64]})
    >>> bool(table.loc[0, "significant"])
    True
    """
    check_test(test)
    check_correction(correction)
    alpha = check_alpha(alpha)
    table, methods, metrics = _scores_from_any(scores)
    if len(methods) < 2:
        raise ValueError(f"need at least two methods to compare, got {methods}")
    return comparisons_table(table, methods, metrics, test=test, alpha=alpha, correction=correction)
