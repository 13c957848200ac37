"""Twins of the resampling, ranking and power functions of ``mushin._core``.

Merged into ``tests/twins.py``'s ``TWINS``; ``CASES`` (argument strategy,
comparison, examples) is merged into ``tests/test_twins.py``'s
``FUNCTION_CASES``.  The twins are built from the outside references --
rliable's metrics, scipy, scikit-posthocs -- plus a pure-Python copy of the
one RNG (SplitMix64 streams, Lemire's bounded integers) written from
``csrc/kernels/rng_internal.h``'s description.  A twin raises where the C
glue raises (its documented argument rules).
"""
from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import scikit_posthocs as sp
from hypothesis import strategies as st
from rliable import metrics as rly
from scipy import stats as ss

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
AGGREGATES = ("mean", "median", "iqm", "optimality_gap", "score_profile", "average_profile")


# ------------------------------------------------------------ the RNG ----


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class Stream:
    """Stream `stream` of generator `seed` (SplitMix64)."""

    def __init__(self, seed: int, stream: int):
        self.state = _mix((seed + GAMMA) & MASK) ^ _mix(((~stream & MASK) * GAMMA) & MASK)

    def next(self) -> int:
        self.state = (self.state + GAMMA) & MASK
        return _mix(self.state)

    def below(self, n: int) -> int:
        """Uniform in [0, n), Lemire's multiply-and-reject."""
        x = self.next()
        low = (x * n) & MASK
        if low < n:
            threshold = (-n % (1 << 64)) % n
            while low < threshold:
                x = self.next()
                low = (x * n) & MASK
        return (x * n) >> 64

    def normal(self) -> float:
        u = ((self.next() >> 11) + 0.5) * 2.0**-53
        return statistics.NormalDist().inv_cdf(u)


# ------------------------------------------------------ argument rules ---


def _matrix(x, name="scores") -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-d array")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds a non-finite value")
    return a


def _params(kind, params) -> np.ndarray:
    if kind not in AGGREGATES:
        raise ValueError(f"unknown aggregate {kind!r}")
    p = np.asarray(params, dtype=np.float64).ravel() if not isinstance(params, np.ndarray) or params.ndim == 1 else None
    if p is None:
        raise ValueError("params must be 1-d")
    if not np.isfinite(p).all():
        raise ValueError("params must be finite")
    ok = {"mean": p.size == 0, "median": p.size == 0, "iqm": p.size == 0,
          "optimality_gap": p.size == 1}.get(kind, p.size >= 1)
    if not ok:
        raise ValueError(f"wrong number of parameters for {kind}")
    return p


# ------------------------------------------------------------- twins -----


def aggregate(scores, kind, params=()):
    x = _matrix(scores)
    p = _params(kind, params)
    if kind == "mean":
        return np.array([rly.aggregate_mean(x)])
    if kind == "median":
        return np.array([rly.aggregate_median(x)])
    if kind == "iqm":
        return np.array([rly.aggregate_iqm(x)])
    if kind == "optimality_gap":
        return np.array([rly.aggregate_optimality_gap(x, p[0])])
    if kind == "score_profile":
        return np.array([np.mean(x > t) for t in p])
    return np.array([np.mean(np.mean(x, axis=0) > t) for t in p])


def stratified_indices(runs, tasks, seed, rep, task_bootstrap=False):
    if runs < 1 or tasks < 1 or rep < 0 or runs * tasks > 1e9:
        raise ValueError("bad sizes")
    s = Stream(seed, rep)
    run_idx = np.array([s.below(runs) for _ in range(runs * tasks)], dtype=np.int64).reshape(runs, tasks)
    task_idx = np.array([s.below(tasks) for _ in range(tasks)], dtype=np.int64) if task_bootstrap else None
    return run_idx, task_idx


def stratified_bootstrap(scores, kind, params, reps, seed, task_bootstrap=False, num_threads=1):
    if reps < 0 or not 1 <= num_threads <= 64:
        raise ValueError("bad reps or num_threads")
    x = _matrix(scores)
    p = _params(kind, params)
    runs, tasks = x.shape
    rows = []
    for b in range(reps):
        run_idx, task_idx = stratified_indices(runs, tasks, seed, b, task_bootstrap)
        cols = np.arange(tasks) if task_idx is None else task_idx
        rows.append(aggregate(x[run_idx, cols[None, :]], kind, p))
    size = 1 if kind in ("mean", "median", "iqm", "optimality_gap") else p.size
    return np.array(rows, dtype=float).reshape(reps, size)


def probability_of_improvement(x, y):
    a, b = _matrix(x, "x"), _matrix(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError("x and y need the same tasks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(rly.probability_of_improvement(a, b))


def improvement_bootstrap(x, y, reps, seed, num_threads=1):
    a, b = _matrix(x, "x"), _matrix(y, "y")
    if reps < 0 or not 1 <= num_threads <= 64 or a.shape[1] != b.shape[1]:
        raise ValueError("bad arguments")
    tasks = a.shape[1]
    cols = np.arange(tasks)[None, :]
    out = []
    for r in range(reps):
        s = Stream(seed, r)
        xi = np.array([s.below(a.shape[0]) for _ in range(a.size)]).reshape(a.shape)
        yi = np.array([s.below(b.shape[0]) for _ in range(b.size)]).reshape(b.shape)
        out.append(probability_of_improvement(a[xi, cols], b[yi, cols]))
    return np.array(out)


def rank_rows(x):
    return ss.rankdata(_matrix(x, "x"), axis=1)


def friedman(x):
    a = _matrix(x, "x")
    if a.shape[1] < 3:
        raise ValueError("at least 3 methods")
    ranks = ss.rankdata(a, axis=1).mean(axis=0)
    if (a == a[:, :1]).all():
        return (math.nan, math.nan, float(a.shape[1] - 1), ranks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = ss.friedmanchisquare(*a.T)
    return (float(r.statistic), float(r.pvalue), float(a.shape[1] - 1), ranks)


def friedman_posthoc(x, test):
    if test not in ("nemenyi", "conover"):
        raise ValueError("unknown post-hoc test")
    a = _matrix(x, "x")
    if a.shape[1] < 2:
        raise ValueError("at least 2 methods")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = sp.posthoc_nemenyi_friedman if test == "nemenyi" else sp.posthoc_conover_friedman
        return None, fn(a).to_numpy()


def chi2_sf(x, df):
    if not df > 0 or math.isnan(x):
        return math.nan
    return float(ss.chi2.sf(x, df))


def studentized_range_sf(q, k):
    if k < 2 or math.isnan(q):
        return math.nan
    return float(ss.studentized_range.sf(q, k, np.inf))


def studentized_range_isf(p, k):
    if k < 2 or not 0 < p < 1:
        return math.nan
    return float(ss.studentized_range.isf(p, k, np.inf))


def _nct_cdf_by_quadrature(t, df, nc):
    """P(T <= t) as E[Phi(t sqrt(X / df) - nc)], X ~ chi2(df), integrated by mpmath at 40 digits.

    Only asked where scipy's nct answers NaN (it does for some far tails,
    e.g. t=-4, df=17, nc=6, where the probability is about 4.2e-18).
    """
    import mpmath as mp

    with mp.workdps(40):
        t, df, nc = mp.mpf(t), mp.mpf(df), mp.mpf(nc)

        def integrand(x):
            log_density = (df / 2 - 1) * mp.log(x) - x / 2 - (df / 2) * mp.log(2) - mp.loggamma(df / 2)
            return mp.ncdf(t * mp.sqrt(x / df) - nc) * mp.exp(log_density)

        return float(mp.quad(integrand, [0, df, 4 * df, mp.inf]))


def _nct_cdf(t, df, nc):
    value = float(ss.nct.cdf(t, df, nc))
    return _nct_cdf_by_quadrature(t, df, nc) if math.isnan(value) and math.isfinite(t) else value


def _nct_sf(t, df, nc):
    value = float(ss.nct.sf(t, df, nc))
    return 1.0 - _nct_cdf_by_quadrature(t, df, nc) if math.isnan(value) and math.isfinite(t) else value


def nct_cdf(t, df, nc):
    if not df > 0 or math.isnan(t) or math.isnan(nc) or math.isinf(nc):
        return math.nan
    return _nct_cdf(t, df, nc)


def t_test_power(df, nc, alpha):
    if not 0 < alpha < 1 or not df > 0 or math.isnan(nc):
        return math.nan
    crit = ss.t.isf(alpha / 2, df)
    return float(_nct_sf(crit, df, nc) + _nct_cdf(-crit, df, nc))


def rank_test_power(test, n, shift, sd_a, sd_b, alpha, sims, seed, num_threads=1):
    if test not in ("wilcoxon", "mannwhitney") or not 1 <= num_threads <= 64 or n < 1 or sims < 1:
        raise ValueError("bad arguments")
    if not 0 < alpha < 1 or not math.isfinite(shift) or not (sd_a >= 0 and sd_b >= 0):
        raise ValueError("bad arguments")
    hits = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s_ in range(sims):
            s = Stream(seed, s_)
            a = np.array([shift + sd_a * s.normal() for _ in range(n)])
            if test == "wilcoxon":
                p = ss.wilcoxon(a).pvalue if np.any(a != 0) else 1.0
            else:
                b = np.array([sd_b * s.normal() for _ in range(n)])
                p = ss.mannwhitneyu(a, b).pvalue
            hits += p < alpha
    return hits / sims


TWINS = {
    "aggregate": aggregate,
    "stratified_bootstrap": stratified_bootstrap,
    "stratified_indices": stratified_indices,
    "probability_of_improvement": probability_of_improvement,
    "improvement_bootstrap": improvement_bootstrap,
    "rank_rows": rank_rows,
    "friedman": friedman,
    "friedman_posthoc": friedman_posthoc,
    "chi2_sf": chi2_sf,
    "studentized_range_sf": studentized_range_sf,
    "studentized_range_isf": studentized_range_isf,
    "nct_cdf": nct_cdf,
    "t_test_power": t_test_power,
    "rank_test_power": rank_test_power,
}


# ------------------------------------------------ strategies, comparisons --


def _close(rtol, atol=0.0):
    def compare(got, want, what, args):
        g = np.asarray(got, dtype=float)
        w = np.asarray(want, dtype=float)
        assert g.shape == w.shape, f"{what}: shape {g.shape} vs {w.shape}"
        both_nan = np.isnan(g) & np.isnan(w)
        same_inf = np.isinf(w) & (g == w)
        ok = both_nan | same_inf | (np.abs(g - w) <= rtol * np.abs(w) + atol)
        assert ok.all(), f"{what}: {g} vs twin {w}"
    return compare


def _exact(got, want, what, args):
    g = [np.asarray(v) if v is not None else None for v in (got if isinstance(got, tuple) else (got,))]
    w = [np.asarray(v) if v is not None else None for v in (want if isinstance(want, tuple) else (want,))]
    for a, b in zip(g, w):
        assert (a is None and b is None) or np.array_equal(a, b), f"{what}: {a} vs {b}"


def _friedman_close(got, want, what, args):
    _close(1e-8, 1e-300)(got[:3], want[:3], what, args)
    assert np.array_equal(got[3], want[3]), what


def _posthoc_close(got, want, what, args):
    _close(1e-8, 1e-14)(got[1], want[1], what, args)


def _power_close(got, want, what, args):
    # the normal deviates come from two inverse-cdf codes that may differ
    # in the last bit; a p-value that lands on alpha can flip
    assert abs(got - want) <= 2.0 / args[6] + 1e-12, f"{what}: {got} vs {want}"


@st.composite
def _matrices(draw, max_runs=6, max_tasks=4, bad=True):
    runs, tasks = draw(st.integers(0 if bad else 1, max_runs)), draw(st.integers(1, max_tasks))
    values = draw(st.lists(st.integers(0, 5).map(float) | st.floats(-10, 10), min_size=runs * tasks,
                           max_size=runs * tasks))
    x = np.array(values, dtype=float).reshape(runs, tasks)
    if bad and x.size and draw(st.integers(0, 9)) == 0:
        x[0, 0] = math.nan
    return x


@st.composite
def _aggregate_args(draw):
    kind = draw(st.sampled_from(AGGREGATES + ("bogus",)) if draw(st.integers(0, 19)) == 0 else st.sampled_from(AGGREGATES))
    nparams = {"optimality_gap": 1}.get(kind, 0 if kind in ("mean", "median", "iqm") else draw(st.integers(1, 4)))
    if draw(st.integers(0, 9)) == 0:
        nparams += 1  # the wrong count: both raise
    return draw(_matrices()), kind, np.array(draw(st.lists(st.floats(-10, 10), min_size=nparams, max_size=nparams)))


@st.composite
def _bootstrap_args(draw):
    x, kind, params = draw(_aggregate_args())
    return x, kind, params, draw(st.integers(0, 6)), draw(st.integers(0, 2**64 - 1)), draw(st.booleans()), draw(st.integers(1, 4))


@st.composite
def _pair_args(draw):
    tasks = draw(st.integers(1, 3))
    x = draw(_matrices(max_tasks=1, bad=False))
    x = np.tile(x, (1, tasks)) + np.arange(tasks)
    y = draw(_matrices(max_tasks=1, bad=False))
    y = np.tile(y, (1, tasks if draw(st.integers(0, 9)) else tasks + 1))
    return x, y


CASES = {
    "aggregate": (_aggregate_args(), _close(1e-9, 1e-12), 60),
    "stratified_bootstrap": (_bootstrap_args(), _close(1e-9, 1e-12), 25),
    "stratified_indices": (
        st.tuples(st.integers(0, 6), st.integers(1, 4), st.integers(0, 2**64 - 1), st.integers(0, 50), st.booleans()),
        _exact, 40),
    "probability_of_improvement": (_pair_args(), _close(1e-9, 1e-12), 40),
    "improvement_bootstrap": (
        _pair_args().flatmap(lambda p: st.tuples(st.just(p[0]), st.just(p[1]), st.integers(0, 5),
                                                 st.integers(0, 2**32), st.integers(1, 3))),
        _close(1e-9, 1e-12), 20),
    "rank_rows": (st.tuples(_matrices(max_tasks=6)), _exact, 40),
    "friedman": (st.tuples(_matrices(max_runs=6, max_tasks=6).filter(lambda x: x.shape[0] > 0)), _friedman_close, 40),
    "friedman_posthoc": (
        st.tuples(_matrices(max_runs=6, max_tasks=6).filter(lambda x: x.shape[0] > 0),
                  st.sampled_from(["nemenyi", "conover", "dunn"])),
        _posthoc_close, 40),
    "chi2_sf": (st.tuples(st.floats(0, 200), st.floats(0.5, 60) | st.just(0.0)), _close(1e-11, 1e-300), 60),
    "studentized_range_sf": (st.tuples(st.floats(0, 12), st.integers(1, 20)), _close(1e-8, 1e-14), 40),
    "studentized_range_isf": (st.tuples(st.floats(1e-4, 0.5), st.integers(1, 12)), _close(1e-8), 15),
    "nct_cdf": (st.tuples(st.floats(-10, 10), st.floats(1, 100), st.floats(-6, 6)), _close(1e-9, 1e-13), 60),
    "t_test_power": (st.tuples(st.floats(1, 100), st.floats(-6, 6), st.sampled_from([0.01, 0.05, 0.1])),
                     _close(1e-8, 1e-12), 40),
    "rank_test_power": (
        st.tuples(st.sampled_from(["wilcoxon", "mannwhitney"]), st.integers(1, 9), st.floats(0, 2),
                  st.floats(0.1, 2), st.floats(0.1, 2), st.just(0.05), st.integers(1, 40),
                  st.integers(0, 2**32), st.integers(1, 3)),
        _power_close, 10),
}
