"""mushin's five tests against scipy's default calls, statistic and p-value.

Every test must equal the scipy call named in mushin.stats to a relative
1e-8 (absolute floor 1e-300) on generated cases: a seeded sweep of at least
2,000 cases per test (sizes 2-60 per side, ties, zero paired differences,
huge and tiny scales and variance ratios, df up to 1e5), plus hypothesis.
scipy is called on whole batches of same-sized cases (axis=1), split so
that every row of a batch takes the same exact / permutation / asymptotic
branch it would take alone.  The two documented departures from scipy --
NaN instead of +-inf when a t-test's standard error is zero, and p = 1
when every paired difference is zero -- are asserted as such.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from mushin import _core

import reference_stats as ref

TESTS = ["welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney"]
PAIRED = {"ttest_rel", "wilcoxon"}
RTOL = 1e-8
ATOL = 1e-300
# scipy's Wilcoxon permutation path costs ~2**n statistic evaluations per
# call (2.8 s at n = 13); above this size the default run checks it against
# the brute-force twin and the slow run against scipy itself
PERMUTATION_SCIPY_MAX_N = 7


def scipy_batch(test: str, a: np.ndarray, b: np.ndarray):
    """scipy's (statistic, pvalue) for each row of a and b."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if test == "welch":
            r = ss.ttest_ind(a, b, equal_var=False, axis=1)
        elif test == "ttest_ind":
            r = ss.ttest_ind(a, b, axis=1)
        elif test == "ttest_rel":
            r = ss.ttest_rel(a, b, axis=1)
        elif test == "wilcoxon":
            r = ss.wilcoxon(a, b, axis=1)
        else:
            r = ss.mannwhitneyu(a, b, axis=1)
    return np.atleast_1d(np.asarray(r.statistic, float)), np.atleast_1d(np.asarray(r.pvalue, float))


def constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def variance(x: np.ndarray) -> float:
    """Sample variance with a constant sample's taken as exactly 0."""
    return 0.0 if constant(x) else float(np.var(x, ddof=1))


def documented_departure(test: str, a: np.ndarray, b: np.ndarray):
    """mushin's (statistic, pvalue) where it departs from scipy by design, else None.

    Identical paired samples get p = 1.  A t-test whose standard error is
    zero gets NaN (scipy: +-inf or NaN); a constant sample counts as having
    no variance, although summing it in floating point can leave scipy a
    variance of ~1e-32 and a t of ~1e15.
    """
    if test in PAIRED and np.all(a - b == 0):
        return 0.0, 1.0
    if test == "ttest_rel":
        se2 = variance(a - b) / a.size
    elif test == "welch":
        se2 = variance(a) / a.size + variance(b) / b.size
    elif test == "ttest_ind":
        df = a.size + b.size - 2.0
        if df == 0:
            return None  # undefined for scipy and mushin alike
        se2 = ((a.size - 1) * variance(a) + (b.size - 1) * variance(b)) / df * (1 / a.size + 1 / b.size)
    else:
        return None
    return (math.nan, math.nan) if se2 == 0 else None


def assert_close(actual: float, expected: float, what: str) -> None:
    if math.isnan(expected) or math.isnan(actual):
        assert math.isnan(expected) and math.isnan(actual), f"{what}: {actual!r} vs {expected!r}"
        return
    if actual == expected:
        return
    assert abs(actual - expected) <= RTOL * abs(expected) + ATOL, (
        f"{what}: mushin {actual!r} vs scipy {expected!r} "
        f"(relative {abs(actual - expected) / max(abs(expected), 1e-300):.3g})"
    )


def check_rows(
    test: str, a: np.ndarray, b: np.ndarray, stat: np.ndarray, p: np.ndarray, oracle_inputs=None
) -> int:
    """mushin on (a, b) against scipy's rows; ``oracle_inputs`` are the (a, b) scipy saw, if scaled."""
    oa, ob = (a, b) if oracle_inputs is None else oracle_inputs
    for i in range(a.shape[0]):
        got = _core.two_sample_test(test, a[i], b[i], 0.95)
        expected = documented_departure(test, oa[i], ob[i]) or (stat[i], p[i])
        where = f"{test} case {i}: a={a[i].tolist()!r} b={b[i].tolist()!r}"
        assert_close(got[0], float(expected[0]), f"statistic of {where}")
        assert_close(got[1], float(expected[1]), f"p-value of {where}")
    return a.shape[0]


# ------------------------------------------------------------ generation --


def generate(rng: np.random.Generator, family: str, rows: int, na: int, nb: int):
    """A batch of `rows` cases of one family, as (rows, na) and (rows, nb)."""
    scale = 10.0 ** rng.uniform(-8, 8, (rows, 1))
    loc = rng.choice([0.0, 1.0, -3.0, 1e3], (rows, 1)) * scale
    if family == "normal":
        shift = rng.normal(0, 1.5, (rows, 1)) * scale
        ratio = 10.0 ** rng.uniform(-1, 1, (rows, 1))
        a = rng.normal(0, 1, (rows, na)) * scale + loc
        b = rng.normal(0, 1, (rows, nb)) * scale * ratio + loc + shift
    elif family == "ties":
        a = rng.integers(0, 4, (rows, na)) * scale + loc
        b = rng.integers(0, 5, (rows, nb)) * scale + loc
    elif family == "zeros":
        # paired: a share of the seeds identical, the rest perturbed
        a = rng.normal(0, 1, (rows, na)) * scale + loc
        b = a[:, np.arange(nb) % na].copy()
        moved = rng.random((rows, nb)) < rng.uniform(0.2, 0.9, (rows, 1))
        b = b + moved * rng.normal(0, 1, (rows, nb)) * scale
    elif family == "tiny_variance":
        # 1e6 +- 1e-6: the difference of means cancels ~12 digits
        a = 1e6 + rng.normal(0, 1e-6, (rows, na))
        b = 1e6 + rng.normal(0, 1e-6, (rows, nb)) + rng.choice([0.0, 1e-6], (rows, 1))
    elif family == "variance_ratio":
        ratio = 10.0 ** rng.uniform(-6, 6, (rows, 1))
        a = rng.normal(0, 1, (rows, na)) * scale
        b = rng.normal(0.5, 1, (rows, nb)) * scale * ratio
    elif family == "separated":
        a = rng.normal(0, 1, (rows, na)) * scale
        b = rng.normal(0, 1, (rows, nb)) * scale + 50 * scale
    else:
        raise ValueError(family)
    return np.ascontiguousarray(a, float), np.ascontiguousarray(b, float)


FAMILIES = ["normal", "ties", "zeros", "tiny_variance", "variance_ratio", "separated"]


def has_rank_ties(x: np.ndarray) -> np.ndarray:
    s = np.sort(x, axis=1)
    return (np.diff(s, axis=1) == 0).any(axis=1)


def wilcoxon_branch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: 'exact', 'permutation' or 'normal', scipy's method='auto' rule."""
    d = a - b
    n = d.shape[1]
    zeros = (d == 0).any(axis=1)
    magnitudes = np.where(d == 0, np.nan, np.abs(d))
    s = np.sort(magnitudes, axis=1)
    ties = (np.diff(s, axis=1) == 0).any(axis=1)
    if n > 50:
        return np.full(d.shape[0], "normal")
    plain = ~(zeros | ties)
    return np.where(plain, "exact", "permutation" if n <= 13 else "normal")


def sweep_sizes(rng: np.random.Generator, test: str, count: int):
    sizes = []
    for _ in range(count):
        na = int(rng.integers(2, 61))
        nb = na if test in PAIRED else int(rng.integers(2, 61))
        sizes.append((na, nb))
    # small sizes are where exact and permutation branches live: oversample
    for na in range(2, 14):
        sizes.append((na, na if test in PAIRED else int(rng.integers(2, 14))))
    return sizes


def run_sweep(test: str, seed: int, size_count: int, rows: int, permutation_twin_only: bool = True) -> int:
    rng = np.random.default_rng(seed)
    checked = 0
    for na, nb in sweep_sizes(rng, test, size_count):
        for family in FAMILIES:
            a, b = generate(rng, family, rows, na, nb)
            if test == "mannwhitney":
                # scipy picks exact vs normal from ties anywhere in the batch
                tied = has_rank_ties(np.concatenate([a, b], axis=1))
                groups = [tied, ~tied]
            elif test == "wilcoxon":
                branch = wilcoxon_branch(a, b)
                groups = [branch == "exact", branch == "normal"]
                perm = branch == "permutation"
                for i in np.flatnonzero(perm):
                    if na <= PERMUTATION_SCIPY_MAX_N:
                        stat, p = scipy_batch(test, a[i : i + 1], b[i : i + 1])
                    else:
                        stat_twin, p_twin, _ = ref.wilcoxon(a[i], b[i])
                        stat, p = np.array([stat_twin]), np.array([p_twin])
                    checked += check_rows(test, a[i : i + 1], b[i : i + 1], stat, p)
            else:
                groups = [np.ones(rows, bool)]
            for rows_in_group in groups:
                if rows_in_group.any():
                    stat, p = scipy_batch(test, a[rows_in_group], b[rows_in_group])
                    checked += check_rows(test, a[rows_in_group], b[rows_in_group], stat, p)
    return checked


@pytest.mark.parametrize("test", TESTS)
def test_seeded_sweep_matches_scipy(test):
    checked = run_sweep(test, seed=20240611 + TESTS.index(test), size_count=60, rows=6)
    assert checked >= 2000


@pytest.mark.slow
@pytest.mark.parametrize("test", TESTS)
def test_large_seeded_sweep_matches_scipy(test):
    checked = run_sweep(test, seed=7 + TESTS.index(test), size_count=400, rows=10)
    assert checked >= 20000


@pytest.mark.parametrize("test", ["welch", "ttest_ind", "ttest_rel"])
@pytest.mark.parametrize("n", [2_000, 50_001])
def test_t_tests_match_scipy_at_large_df(test, n):
    # df up to 1e5: the t distribution near the normal limit, p from tiny to ~1
    rng = np.random.default_rng(n)
    for shift in (0.0, 1e-3, 1e-2, 5e-2, 0.3):
        a = rng.normal(shift, 1.0, n)
        b = rng.normal(0.0, rng.uniform(0.5, 2.0), n if test == "ttest_rel" else n - 1)
        stat, p = scipy_batch(test, a[None], b[None])
        got = _core.two_sample_test(test, a, b, 0.95)
        assert got[2] > n / 2
        assert_close(got[0], stat[0], f"{test} statistic, n={n}, shift={shift}")
        assert_close(got[1], p[0], f"{test} p-value, n={n}, shift={shift}")


@pytest.mark.parametrize("test", TESTS)
def test_batched_scipy_calls_equal_single_calls(test):
    # the sweep relies on scipy treating each row of a batch as it would alone
    rng = np.random.default_rng(3)
    for family in FAMILIES:
        n = 8 if test == "wilcoxon" else 12
        a, b = generate(rng, family, 4, n, n)
        if test == "wilcoxon":
            keep = wilcoxon_branch(a, b) == "exact"
        elif test == "mannwhitney":
            keep = ~has_rank_ties(np.concatenate([a, b], axis=1))
        else:
            keep = np.ones(4, bool)
        if not keep.any():
            continue
        stat, p = scipy_batch(test, a[keep], b[keep])
        for i, (x, y) in enumerate(zip(a[keep], b[keep])):
            s1, p1 = scipy_batch(test, x[None], y[None])
            np.testing.assert_array_equal([stat[i], p[i]], [s1[0], p1[0]])


# ------------------------------------------------------------ hypothesis --

scales = st.sampled_from([1e-8, 1e-3, 1.0, 1e3, 1e8])


@st.composite
def two_samples(draw, paired: bool, max_tied_n: int = 60):
    na = draw(st.integers(2, 60))
    nb = na if paired else draw(st.integers(2, 60))
    scale = draw(scales)
    tied = draw(st.booleans())
    if tied:
        # few distinct values: ties, and zero differences when paired
        if paired:
            na = nb = draw(st.integers(2, max_tied_n).filter(lambda n: n <= PERMUTATION_SCIPY_MAX_N or n > 13))
        else:
            na = min(na, max_tied_n)
        values = st.integers(-3, 3).map(lambda v: v * scale)
    else:
        values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False).map(lambda v: v * scale)
    a = np.array(draw(st.lists(values, min_size=na, max_size=na)), float)
    b = np.array(draw(st.lists(values, min_size=nb, max_size=nb)), float)
    return a, b


def _into_normal_range(test: str, a: np.ndarray, b: np.ndarray):
    """(a, b) scaled up by one exact power of two when a t-test's variances would underflow.

    t statistics and their p-values do not change when both samples are
    multiplied by the same positive number.  Below about 1e-154 the squared
    deviations that scipy (and the variance of ``documented_departure``)
    sums underflow to zero, so for such tiny samples the oracle answers NaN
    where the true standard error is a positive, representable number (as
    for a=[0, 0], b=[0, 8.65e-247]: t = -1 exactly).  The oracle is
    therefore asked about the same samples scaled into the normal range;
    mushin still gets the original ones.  Scaling up by 2**k is exact.
    """
    top = float(np.max(np.abs(np.concatenate([a, b]))))
    if test not in ("welch", "ttest_ind", "ttest_rel") or top == 0.0 or top >= 2.0**-500:
        return a, b
    k = -math.frexp(top)[1]
    return np.ldexp(a, k), np.ldexp(b, k)


def _check_one(test: str, a: np.ndarray, b: np.ndarray) -> None:
    if test == "wilcoxon" and 7 < a.size <= 13 and wilcoxon_branch(a[None], b[None])[0] == "permutation":
        stat_twin, p_twin, _ = ref.wilcoxon(a, b)
        stat, p = np.array([stat_twin]), np.array([p_twin])
        oa, ob = a, b
    else:
        oa, ob = _into_normal_range(test, a, b)
        stat, p = scipy_batch(test, oa[None], ob[None])
    check_rows(test, a[None], b[None], stat, p, oracle_inputs=(oa[None], ob[None]))


def test_tiny_samples_are_judged_as_their_scaled_copies():
    # the t of a=[0, 0], b=[0, x] is -1 for every x > 0 (d = [0, -x]: mean -x/2,
    # standard error x/2), and with 1 degree of freedom p = 0.5 exactly
    for x in (1.0, 8.65e-247, 5e-324 * 3):
        got = _core.two_sample_test("ttest_rel", np.array([0.0, 0.0]), np.array([0.0, x]), 0.95)
        assert got[0] == pytest.approx(-1.0, rel=1e-12) and got[1] == pytest.approx(0.5, rel=1e-12)
    _check_one("ttest_rel", np.array([0.0, 0.0]), np.array([0.0, 8.65e-247]))


@pytest.mark.parametrize("test", ["welch", "ttest_ind", "mannwhitney"])
@settings(max_examples=150)
@given(data=st.data())
def test_unpaired_tests_match_scipy_on_hypothesis_cases(test, data):
    a, b = data.draw(two_samples(paired=False))
    _check_one(test, a, b)


@pytest.mark.parametrize("test", ["ttest_rel", "wilcoxon"])
@settings(max_examples=150)
@given(data=st.data())
def test_paired_tests_match_scipy_on_hypothesis_cases(test, data):
    a, b = data.draw(two_samples(paired=True))
    _check_one(test, a, b)


# ------------------------------------------------- the permutation path --


@pytest.mark.parametrize("n", range(2, 14))
def test_wilcoxon_permutation_path_matches_brute_force_twin(n):
    rng = np.random.default_rng(100 + n)
    for _ in range(25):
        a = rng.integers(0, 4, n).astype(float) * 0.1
        b = rng.integers(0, 4, n).astype(float) * 0.1
        stat, p, how = ref.wilcoxon(a, b)
        got = _core.two_sample_test("wilcoxon", a, b, 0.95)
        assert got[7] == how
        assert_close(got[0], stat, f"statistic n={n}")
        assert_close(got[1], p, f"p-value n={n}")


@pytest.mark.slow
@pytest.mark.parametrize("n", range(8, 14))
def test_wilcoxon_permutation_path_matches_scipy(n):
    rng = np.random.default_rng(200 + n)
    for _ in range(4):
        a = rng.integers(0, 5, n).astype(float)
        b = rng.integers(0, 5, n).astype(float)
        stat, p = scipy_batch("wilcoxon", a[None], b[None])
        check_rows("wilcoxon", a[None], b[None], stat, p)


def test_brute_force_twin_matches_scipy_on_small_permutation_cases():
    # the twin stands in for scipy above n = 7 in the default run: pin it
    rng = np.random.default_rng(5)
    for n in range(2, PERMUTATION_SCIPY_MAX_N + 1):
        for _ in range(3):
            a = rng.integers(0, 3, n).astype(float)
            b = rng.integers(0, 3, n).astype(float)
            stat, p = scipy_batch("wilcoxon", a[None], b[None])
            twin = ref.wilcoxon(a, b)
            if np.all(a == b):
                continue
            assert (twin[0], twin[1]) == pytest.approx((stat[0], p[0]), rel=1e-12)


# ------------------------------------------- exact/asymptotic boundaries --


@pytest.mark.parametrize(
    "n, tie, expected",
    [(50, False, "exact"), (51, False, "normal"), (13, True, "permutation"), (14, True, "normal")],
)
def test_wilcoxon_branch_boundaries_follow_scipy(n, tie, expected):
    rng = np.random.default_rng(n)
    a = rng.normal(0, 1, n) + 0.3
    b = rng.normal(0, 1, n)
    if tie:
        b[0] = a[0]  # one zero difference
    got = _core.two_sample_test("wilcoxon", a, b, 0.95)
    assert got[7] == expected
    stat, p = scipy_batch("wilcoxon", a[None], b[None])
    check_rows("wilcoxon", a[None], b[None], stat, p)


@pytest.mark.parametrize(
    "na, nb, tie, expected",
    [(8, 60, False, "exact"), (9, 9, False, "normal"), (9, 8, False, "exact"), (3, 4, True, "normal")],
)
def test_mannwhitney_branch_boundaries_follow_scipy(na, nb, tie, expected):
    rng = np.random.default_rng(na * 100 + nb)
    a = rng.normal(0.5, 1, na)
    b = rng.normal(0, 1, nb)
    if tie:
        b[0] = a[0]
    got = _core.two_sample_test("mannwhitney", a, b, 0.95)
    assert got[7] == expected
    stat, p = scipy_batch("mannwhitney", a[None], b[None])
    check_rows("mannwhitney", a[None], b[None], stat, p)


def test_mannwhitney_exact_distribution_beyond_uint64_matches_scipy():
    # C(2008, 8) > 2**64: the double-precision branch of the U distribution
    rng = np.random.default_rng(11)
    a = rng.normal(0.2, 1, 8)
    b = rng.normal(0, 1, 2000)
    stat, p = scipy_batch("mannwhitney", a[None], b[None])
    got = _core.two_sample_test("mannwhitney", a, b, 0.95)
    assert got[7] == "exact"
    assert_close(got[0], stat[0], "U")
    assert_close(got[1], p[0], "p-value")


@pytest.mark.parametrize("test", TESTS)
def test_single_values_match_scipy(test):
    # one score on a side: pooled t and the rank tests are still defined
    rng = np.random.default_rng(17)
    for nb in (1, 2, 5):
        a = rng.normal(size=1)
        b = rng.normal(size=1 if test in PAIRED else nb)
        stat, p = scipy_batch(test, a[None], b[None])
        check_rows(test, a[None], b[None], stat, p)


@pytest.mark.parametrize("test", ["welch", "ttest_ind", "ttest_rel"])
def test_t_tests_are_unit_free_at_extreme_magnitudes(test):
    # Scores near 1e+-100 and beyond overflow or underflow in squared
    # variances (scipy then reports df = 1 or p = 1); t, df and p do not
    # depend on the unit, so the oracle is scipy on the same data at
    # magnitude ~1, scaled by a power of two (exact).
    rng = np.random.default_rng(31)
    for exponent in (-900, -600, -300, 300, 600, 900):
        for family in ("normal", "variance_ratio", "ties"):
            a, b = generate(rng, family, 4, 9, 9 if test == "ttest_rel" else 13)
            largest = np.abs(np.concatenate([a, b], axis=1)).max(axis=1, keepdims=True)
            a, b = a / largest, b / largest
            stat, p = scipy_batch(test, a, b)
            for i in range(a.shape[0]):
                big_a, big_b = np.ldexp(a[i], exponent), np.ldexp(b[i], exponent)
                got = _core.two_sample_test(test, big_a, big_b, 0.95)
                expected = documented_departure(test, a[i], b[i]) or (stat[i], p[i])
                where = f"{test} at 2**{exponent}, {family} case {i}"
                assert_close(got[0], float(expected[0]), f"statistic of {where}")
                assert_close(got[1], float(expected[1]), f"p-value of {where}")
                unit = _core.two_sample_test(test, a[i], b[i], 0.95)
                np.testing.assert_array_equal(got[:3], unit[:3])
                np.testing.assert_array_equal(np.ldexp(unit[3], exponent), got[3])
                np.testing.assert_array_equal(np.ldexp(unit[5:7], exponent), got[5:7])
