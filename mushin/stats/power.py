"""How many seeds does a comparison need?  Power of the tests from a pilot run.

A pilot (a result with a few seeds per method) gives each method's
seed-to-seed standard deviation.  :func:`seeds_needed` finds the fewest
seeds per method at which the chosen test detects a gap of ``effect`` (by
default the gap the pilot saw) with probability ``power`` at level
``alpha``:

- t-tests (``welch``, ``ttest_ind``, ``ttest_rel``): exact power from the
  noncentral t distribution (Welch: Welch-Satterthwaite df and the two
  pilot variances; Student: the pooled variance; paired: the variance of
  the per-seed differences).  Equals statsmodels' ``TTestIndPower`` /
  ``TTestPower`` to 1e-6.
- rank tests (``wilcoxon``, ``mannwhitney``): power by simulation from the
  pilot (normal scores with the pilot's standard deviations, shifted by
  ``effect``), run in C; simulation ``s`` uses random stream ``s`` of
  ``seed``, so the answer does not depend on the thread count.

Examples
--------
>>> from mushin.stats import power_of
>>> round(power_of("ttest_ind", n=10, effect=0.8, sd_a=1.0, sd_b=1.0), 4)
0.3951
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Tuple

import numpy as np
import pandas as pd

from .. import _core
from ..threads import get_num_threads
from .registry import PAIRED_TESTS, RANK_TESTS, check_alpha, check_test

__all__ = ["power_of", "seeds_needed", "SEEDS_NEEDED_COLUMNS"]

#: The rank tests' power is simulated, each simulation a full test; plans
#: stop at this many seeds per method.
RANK_TEST_MAX_SEEDS = 300

SEEDS_NEEDED_COLUMNS = [
    "metric", "method_a", "method_b", "effect", "sd_a", "sd_b", "pilot_seeds", "test",
    "power_now", "seeds_needed", "note",
]


def _welch_df(va: float, vb: float, n: int) -> float:
    sa, sb = va / n, vb / n
    return (sa + sb) ** 2 / (sa**2 / (n - 1) + sb**2 / (n - 1))


def power_of(
    test: str,
    n: int,
    effect: float,
    sd_a: float,
    sd_b: float = math.nan,
    alpha: float = 0.05,
    *,
    sims: int = 2000,
    seed: int = 0,
) -> float:
    """Power of a two-sided ``test`` with ``n`` seeds per method.

    Parameters
    ----------
    test : str
        One of mushin's tests (see :mod:`mushin.stats`).
    n : int
        Seeds per method (pairs for the paired tests), at least 2.
    effect : float
        The true gap ``mean(a) - mean(b)``, in metric units.
    sd_a, sd_b : float
        Seed-to-seed standard deviations of the two methods; for the
        paired tests ``sd_a`` is that of the per-seed differences and
        ``sd_b`` is ignored.
    alpha : float
        Level of the test.
    sims, seed : int
        Simulations of the rank tests, and their random seed.

    Examples
    --------
    >>> from mushin.stats import power_of
    >>> round(power_of("ttest_rel", n=8, effect=0.5, sd_a=0.5), 4)
    0.6808
    """
    check_test(test)
    alpha = check_alpha(alpha)
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"n must be an int >= 2 seeds per method, got {n!r}")
    n = int(n)
    effect = float(effect)
    paired = test in PAIRED_TESTS
    sd_b = sd_a if paired else float(sd_b)
    for name, value in (("effect", effect), ("sd_a", sd_a), ("sd_b", sd_b)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if sd_a < 0 or sd_b < 0:
        raise ValueError(f"standard deviations must be >= 0, got sd_a={sd_a!r}, sd_b={sd_b!r}")
    if test in RANK_TESTS:
        return _core.rank_test_power(test, n, effect, sd_a, sd_b, alpha, sims, seed, get_num_threads())
    if test == "ttest_rel":
        if sd_a == 0:
            return math.nan
        return _core.t_test_power(n - 1, effect / sd_a * math.sqrt(n), alpha)
    va, vb = sd_a**2, sd_b**2
    if va + vb == 0:
        return math.nan
    if test == "welch":
        return _core.t_test_power(_welch_df(va, vb, n), effect / math.sqrt(va / n + vb / n), alpha)
    pooled = math.sqrt((va + vb) / 2.0)  # equal n: the pooled variance is the mean of the two
    return _core.t_test_power(2 * n - 2, effect / pooled * math.sqrt(n / 2.0), alpha)


def _grow(power_at: Callable[[int], float], target: float, below: int, cap: int,
          step: Callable[[int], int]) -> Optional[Tuple[int, int]]:
    """From ``below`` (power short of ``target``), step up until the power is
    reached: ``(last n short of it, first n reaching it)``, or None at ``cap``."""
    while True:
        nxt = min(cap, step(below))
        if power_at(nxt) >= target:
            return below, nxt
        if nxt == cap:
            return None
        below = nxt


def _fewest(power_at: Callable[[int], float], target: float, lo: int, cap: int,
            start: Optional[int] = None) -> Optional[int]:
    """The smallest n in [lo, cap] with power_at(n) >= target (power grows with n).

    ``start`` is a guess (the t-test's answer when planning a rank test):
    the search walks down from it while the power holds, or grows it by
    about 10% a step until the power is reached, then bisects.
    """
    if start is not None and lo < start <= cap:
        if power_at(start) >= target:
            n = start
            while n > lo and power_at(n - 1) >= target:
                n -= 1
            return n
        bracket = _grow(power_at, target, start, cap, lambda n: max(n + 1, int(n * 1.1)))
    else:
        if power_at(lo) >= target:
            return lo
        bracket = _grow(power_at, target, lo, cap, lambda n: n * 2)
    if bracket is None:
        return None
    lo, hi = bracket
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def seeds_needed(
    result: Any,
    metric: Optional[str] = None,
    effect: Optional[float] = None,
    power: float = 0.8,
    alpha: float = 0.05,
    test: Optional[str] = None,
    *,
    reference: Optional[str] = None,
    max_seeds: int = 1000,
    sims: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Seeds per method needed to detect a gap, planned from a pilot result.

    Parameters
    ----------
    result : BenchmarkResult or xarray.Dataset
        The pilot: per-seed scores of every method (``result.data`` works
        too).
    metric : str, optional
        The metric (default: the result's first).
    effect : float, optional
        The gap to detect, in metric units; default: each pair's observed
        mean difference.
    power : float
        The chance of detecting it (default 0.8).
    alpha : float
        Level of the test (no correction for the number of pairs).
    test : str, optional
        The test to plan for; default the result's own (``settings["test"]``),
        else ``"welch"``.
    reference : str, optional
        Compare every method with this one (default: the first method).
    max_seeds : int
        Give up beyond this many seeds (``seeds_needed`` is then NaN).
    sims, seed : int
        Simulations per candidate seed count for the rank tests, and their seed.

    Returns
    -------
    pandas.DataFrame
        One row per method against the reference: columns ``metric,
        method_a, method_b, effect, sd_a, sd_b, pilot_seeds, test,
        power_now (at the pilot's seed count), seeds_needed, note``.  A
        pair that cannot be planned has NaN and a note starting "n/a".

    Examples
    --------
    >>> from mushin.stats import seeds_needed
    >>> pilot = {"a": [0.71, 0.74, 0.72], "b": [0.69, 0.70, 0.72]}
    >>> seeds_needed(pilot, test="welch")[["method_b", "seeds_needed"]].values.tolist()
    [['b', 11]]
    """
    alpha = check_alpha(alpha)
    if not 0.0 < float(power) < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    settings = getattr(result, "settings", {}) or {}
    test = settings.get("test", "welch") if test is None else test
    check_test(test)
    if isinstance(max_seeds, bool) or int(max_seeds) != max_seeds or max_seeds < 2:
        raise ValueError(f"max_seeds must be an int >= 2, got {max_seeds!r}")
    scores, metric = _pilot_scores(result, metric)
    methods = list(scores)
    reference = methods[0] if reference is None else reference
    if reference not in scores:
        raise ValueError(f"reference {reference!r} is not one of the methods {methods}")
    rows = []
    for other in methods:
        if other == reference:
            continue
        rows.append(_plan_pair(metric, reference, other, scores[reference], scores[other], effect,
                               float(power), alpha, test, int(max_seeds), sims, seed))
    return pd.DataFrame(rows, columns=SEEDS_NEEDED_COLUMNS)


def _pilot_scores(result: Any, metric: Optional[str]) -> tuple:
    """{method: per-seed scores (NaN kept: paired tests align by seed)} and the metric."""
    data = getattr(result, "data", result)
    if isinstance(data, dict) or hasattr(data, "keys") and not hasattr(data, "data_vars"):
        return {str(m): np.asarray(v, dtype=float).ravel() for m, v in data.items()}, metric or "score"
    names = [n for n, v in data.data_vars.items() if set(v.dims) == {"method", "seed"}]
    metric = names[0] if metric is None else metric
    if metric not in names:
        raise KeyError(f"no metric {metric!r}; metrics: {names}")
    return {str(m): data[metric].sel({"method": m}).values.astype(float) for m in data["method"].values}, metric


def _sd(x: np.ndarray) -> float:
    """Sample sd; exactly 0 for equal values (NumPy's mean of equal values
    can miss them by an ulp and leave a 1e-17 "spread")."""
    return 0.0 if bool(np.all(x == x[0])) else float(np.std(x, ddof=1))


def _plan_pair(metric, ma, mb, a_all, b_all, effect, target, alpha, test, cap, sims, seed) -> dict:
    paired = test in PAIRED_TESTS
    if paired:
        both = ~np.isnan(a_all) & ~np.isnan(b_all)
        a, b = a_all[both], b_all[both]
    else:
        a, b = a_all[~np.isnan(a_all)], b_all[~np.isnan(b_all)]
    row = {"metric": metric, "method_a": ma, "method_b": mb, "effect": math.nan, "sd_a": math.nan,
           "sd_b": math.nan, "pilot_seeds": int(min(a.size, b.size)), "test": test,
           "power_now": math.nan, "seeds_needed": math.nan, "note": ""}
    if a.size < 2 or b.size < 2:
        row["note"] = "n/a: the pilot needs at least two seeds per method"
        return row
    gap = float(a.mean() - b.mean()) if effect is None else float(effect)
    sd_a, sd_b = _sd(a), _sd(b)
    row.update(effect=gap, sd_a=sd_a, sd_b=sd_b)
    spread = _sd(a - b) if paired else math.hypot(sd_a, sd_b)
    if gap == 0.0:
        row["note"] = "n/a: no gap to detect (effect is 0)"
        return row
    if spread == 0.0:
        row["note"] = "n/a: the pilot seeds do not vary, so no variance to plan with"
        return row
    s_a = spread if paired else sd_a
    s_b = spread if paired else sd_b

    def power_at(n: int) -> float:
        return power_of(test, n, abs(gap), s_a, s_b, alpha, sims=sims, seed=seed)

    row["power_now"] = power_at(row["pilot_seeds"])
    if test in RANK_TESTS:
        # the t-test of the same design needs about as many seeds (the rank
        # tests' efficiency on normal scores is 0.955): start the simulated
        # search there, and keep it to sizes the simulations can afford
        t_test = "ttest_rel" if paired else "welch"

        def t_power(n: int) -> float:
            return power_of(t_test, n, abs(gap), s_a, s_b, alpha)

        rank_cap = min(cap, RANK_TEST_MAX_SEEDS)
        start = _fewest(t_power, target, 2, rank_cap)
        needed = None if start is None else _fewest(power_at, target, 2, rank_cap, start=start)
        if needed is None:
            row["note"] = (f"n/a: more than {rank_cap} seeds per method "
                           f"({'max_seeds' if rank_cap == cap else 'the rank tests are simulated up to ' + str(rank_cap)})")
        else:
            row["seeds_needed"] = needed
        return row
    needed = _fewest(power_at, target, 2, cap)
    if needed is None:
        row["note"] = f"n/a: more than {cap} seeds per method (max_seeds)"
    else:
        row["seeds_needed"] = needed
    return row
