"""The comparisons table: every method pair for every metric, corrected per metric.

Also the reasons a pair goes untested (the table's ``note`` column, which
every table and plot prints where the p-value would be) and
:func:`compare_scores` for scores a user already has.

Examples
--------
>>> from mushin.stats import compare_scores
>>> table = compare_scores({"a": [0.71, 0.73, 0.72], "b": [0.65, 0.66, 0.64]})
>>> table.loc[0, "method_a"], table.loc[0, "method_b"], bool(table.loc[0, "significant"])
('a', 'b', True)
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import xarray as xr

from .. import _core
from .registry import (
    PAIRED_TESTS,
    TEST_REGISTRY,
    check_alpha,
    check_correction,
    check_design,
    check_test,
)
from .two_sample import CORRECTIONS, _as_scores, _seeds_to_reach

__all__ = [
    "COMPARISON_COLUMNS",
    "comparisons_table",
    "compare_scores",
    "untested_reason",
    "NA_NO_SCORES",
    "NA_ONE_SEED",
    "NA_NO_VARIANCE",
    "NA_CONSTANT_DIFFERENCES",
    "NA_UNDEFINED",
]

# the mushin package folder: warnings point at the first frame outside it
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the user's code.

    The statistics are reached through ``compare``, ``Study``,
    ``BenchmarkResult`` or ``compare_scores``, each at another depth, so
    the first frame outside the mushin package (and its subpackages) is
    found by walking up.
    """
    frame = sys._getframe(1)
    level = 1
    inside = _PACKAGE_DIR + os.sep
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(inside):
        frame = frame.f_back
        level += 1
    return level


# ------------------------------------------------------ comparison table --

# upstream mushin-py's columns first, in its order, then mushin's own
COMPARISON_COLUMNS = [
    "metric",
    "method_a",
    "method_b",
    "mean_diff",
    "effect_size",
    "p_value",
    "p_corrected",
    "significant",
    "diff_ci_low",
    "diff_ci_high",
    "statistic",
    "df",
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
    suggestion = f"use test={TEST_REGISTRY[test].suggest_instead!r}"
    if needed is not None:
        suggestion += f", or at least {needed} seeds per method"
    suggestion += (
        "; mushin.stats.seeds_needed(result, metric) plans how many seeds detect the gap "
        "you care about"
    )
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
    pair_missing_seeds: bool = False,
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
    raises ``ValueError``, unless ``pair_missing_seeds``: then each pair,
    under any test, keeps the seeds both of its methods have, as upstream's
    ``compare_methods`` does for a sweep with failed runs.
    """
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
    if paired and len(methods) > 1 and not pair_missing_seeds:
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
                if paired or pair_missing_seeds:
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
