"""Significance tests across seeds, computed by mushin's C core.

Every function here is a thin wrapper: the arithmetic (t statistics,
Welch-Satterthwaite degrees of freedom, the Student-t distribution through
the regularized incomplete beta function, Holm's step-down) runs in C with
the GIL released; scipy is not needed at run time.

Examples
--------
>>> from mushin.stats import welch
>>> r = welch([0.71, 0.73, 0.72], [0.65, 0.66, 0.64])
>>> round(r.pvalue, 6)
0.001017
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from . import _core

__all__ = [
    "TestResult",
    "welch",
    "cohens_d",
    "mean_ci",
    "correct",
    "compare_scores",
    "TESTS",
    "CORRECTIONS",
]


class TestResult(NamedTuple):
    """Outcome of one two-sample test (NaN where undefined)."""

    statistic: float
    pvalue: float
    df: float
    effect_size: float
    mean_diff: float

    __test__ = False  # keep pytest from collecting this class


def _as_scores(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of scores, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; every group needs at least one score")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN at positions {np.flatnonzero(np.isnan(arr)).tolist()}")
    return arr


def welch(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """Welch's unequal-variance t-test of ``mean(a) == mean(b)``, two-sided.

    Equals ``scipy.stats.ttest_ind(a, b, equal_var=False)``; the effect size
    is Cohen's d with the pooled standard deviation.

    Examples
    --------
    >>> from mushin.stats import welch
    >>> welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).pvalue
    1.0
    """
    a = _as_scores(a, "a")
    b = _as_scores(b, "b")
    t, df, p, diff, d = _core.welch_ttest(a, b)
    return TestResult(statistic=t, pvalue=p, df=df, effect_size=d, mean_diff=diff)


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """Cohen's d of ``a - b`` with the pooled standard deviation."""
    return _core.cohens_d(_as_scores(a, "a"), _as_scores(b, "b"))


def mean_ci(x: Sequence[float], confidence: float = 0.95) -> tuple:
    """Student-t confidence interval of the mean: ``(mean, low, high)``.

    Examples
    --------
    >>> from mushin.stats import mean_ci
    >>> [round(v, 4) for v in mean_ci([1.0, 2.0, 3.0])]
    [2.0, -0.4841, 4.4841]
    """
    return _core.mean_ci(_as_scores(x, "x"), float(confidence))


# ----------------------------------------------------------- corrections --


def _holm(p: np.ndarray) -> np.ndarray:
    return _core.holm(p)


def _no_correction(p: np.ndarray) -> np.ndarray:
    return np.array(p, dtype=np.float64, copy=True)


CORRECTIONS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "holm": _holm,
    "none": _no_correction,
}


def correct(pvalues: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons.

    NaN entries are left out of the family and stay NaN.

    Examples
    --------
    >>> from mushin.stats import correct
    >>> correct([0.01, 0.04, float("nan"), 0.03], "holm").round(2).tolist()
    [0.03, 0.06, nan, 0.06]
    """
    check_correction(method)
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    return CORRECTIONS[method](p)


# ----------------------------------------------------------------- tests --

TESTS: Dict[str, Callable[[np.ndarray, np.ndarray], TestResult]] = {
    "welch": lambda a, b: welch(a, b),
}
PAIRED_TESTS = frozenset()


def check_test(test: str) -> None:
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; valid tests: {sorted(TESTS)}")


def check_correction(correction: str) -> None:
    if correction not in CORRECTIONS:
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


# ------------------------------------------------------ comparison table --

COMPARISON_COLUMNS = [
    "metric",
    "method_a",
    "method_b",
    "mean_diff",
    "effect_size",
    "statistic",
    "df",
    "p_value",
    "p_corrected",
    "significant",
]


def comparisons_table(
    scores: Mapping[str, Mapping[str, np.ndarray]],
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
    missing seed).  Rows come in metric order, then pair order (a before b
    in ``methods``).  Returns a pandas DataFrame with
    :data:`COMPARISON_COLUMNS`.
    """
    import pandas as pd

    check_test(test)
    check_correction(correction)
    alpha = check_alpha(alpha)
    rows: List[dict] = []
    warned_single = False
    for metric in metrics:
        per_method = {m: np.asarray(scores[metric][m], dtype=np.float64) for m in methods}
        clean = {m: v[~np.isnan(v)] for m, v in per_method.items()}
        constant = set()
        for m, v in clean.items():
            if v.size >= 2 and np.all(v == v[0]):
                constant.add(m)
                if warn:
                    warnings.warn(
                        f"method {m!r} scored {v[0]:.6g} on every seed for metric {metric!r}; "
                        "a test needs variation across seeds, so its comparisons are masked (NaN)",
                        UserWarning,
                        stacklevel=3,
                    )
        family_rows = []
        for i, ma in enumerate(methods):
            for mb in methods[i + 1 :]:
                a, b = clean[ma], clean[mb]
                row = {
                    "metric": metric,
                    "method_a": ma,
                    "method_b": mb,
                    "mean_diff": float(a.mean() - b.mean()) if a.size and b.size else math.nan,
                    "effect_size": math.nan,
                    "statistic": math.nan,
                    "df": math.nan,
                    "p_value": math.nan,
                }
                if a.size < 2 or b.size < 2:
                    if warn and not warned_single:
                        warnings.warn(
                            f"{ma!r} has {a.size} and {mb!r} has {b.size} valid seed(s) for "
                            f"{metric!r}; significance needs at least two seeds per method, "
                            "so the p-value is NaN",
                            UserWarning,
                            stacklevel=3,
                        )
                        warned_single = True
                elif ma in constant or mb in constant:
                    pass
                else:
                    res = TESTS[test](a, b)
                    row.update(
                        effect_size=res.effect_size,
                        statistic=res.statistic,
                        df=res.df,
                        p_value=res.pvalue,
                    )
                family_rows.append(row)
        adjusted = CORRECTIONS[correction](np.array([r["p_value"] for r in family_rows], dtype=float))
        for row, p_adj in zip(family_rows, adjusted):
            row["p_corrected"] = float(p_adj)
            row["significant"] = bool(p_adj < alpha) if not math.isnan(p_adj) else False
        rows.extend(family_rows)
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    frame["significant"] = frame["significant"].astype(bool)
    return frame


def _scores_from_any(scores: Any) -> tuple:
    """Normalise user scores to (scores[metric][method], methods, metrics)."""
    import pandas as pd
    import xarray as xr

    if isinstance(scores, xr.Dataset):
        methods = [str(m) for m in scores["method"].values]
        metrics = list(scores.data_vars)
        table = {
            metric: {m: scores[metric].sel({"method": m}).values.astype(float) for m in methods}
            for metric in metrics
        }
        return table, methods, metrics
    if isinstance(scores, pd.DataFrame):
        missing = {"method", "value"} - set(scores.columns)
        if missing:
            raise ValueError(f"a scores DataFrame needs columns method, seed, metric, value; missing {sorted(missing)}")
        frame = scores if "metric" in scores.columns else scores.assign(metric="score")
        methods = list(dict.fromkeys(frame["method"]))
        metrics = list(dict.fromkeys(frame["metric"]))
        table = {
            metric: {
                m: frame[(frame["metric"] == metric) & (frame["method"] == m)]["value"].to_numpy(float)
                for m in methods
            }
            for metric in metrics
        }
        return table, methods, metrics
    if isinstance(scores, Mapping):
        methods = list(scores)
        table = {"score": {}}
        for m in methods:
            table["score"][m] = _as_scores(scores[m], f"scores[{m!r}]")
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
        ``{method: per-seed values}``, a tidy table with columns
        ``method, seed, metric, value``, or a Dataset with dims
        ``(method, seed)`` and one variable per metric.
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
    table, methods, metrics = _scores_from_any(scores)
    if len(methods) < 2:
        raise ValueError(f"need at least two methods to compare, got {methods}")
    return comparisons_table(table, methods, metrics, test=test, alpha=alpha, correction=correction)
