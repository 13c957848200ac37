"""The C building blocks of the statistics against NumPy twins and scipy.

Exact null distributions, smallest attainable p-values, corrections, effect
sizes, confidence intervals (t and Hodges-Lehmann), NumPy-order summation
and the normal distribution.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as ss
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mushin import _core

import reference_stats as ref

# ------------------------------------------------- exact distributions --


@pytest.mark.parametrize("n", range(0, 51))
def test_signed_rank_counts_equal_twin(n):
    # up to n = 50 (scipy's exact range) every count is an exact integer
    counts = _core.signed_rank_counts(n)
    np.testing.assert_array_equal(counts, ref.signed_rank_counts(n))
    assert counts.sum() == 2.0**n


def test_signed_rank_counts_beyond_exact_range_stay_accurate():
    for n in (55, 60, 80):
        np.testing.assert_allclose(_core.signed_rank_counts(n), ref.signed_rank_counts(n), rtol=1e-14)


def test_signed_rank_counts_equal_scipy_distribution():
    from scipy.stats._hypotests import _get_wilcoxon_distr

    for n in range(1, 51):
        np.testing.assert_array_equal(_core.signed_rank_counts(n) / 2.0**n, _get_wilcoxon_distr(n))


@pytest.mark.parametrize("n1, n2", [(1, 1), (1, 5), (2, 3), (3, 3), (4, 7), (5, 5), (6, 2)])
def test_rank_sum_counts_equal_enumeration(n1, n2):
    np.testing.assert_array_equal(_core.rank_sum_counts(n1, n2), ref.rank_sum_counts_bruteforce(n1, n2))


def test_rank_sum_counts_equal_twin_over_seed_sizes():
    for n1 in range(0, 13):
        for n2 in range(0, 31, 3):
            counts = _core.rank_sum_counts(n1, n2)
            np.testing.assert_array_equal(counts, ref.rank_sum_counts(n1, n2))
            assert counts.sum() == math.comb(n1 + n2, n1)


def test_rank_sum_counts_partial_prefix_and_symmetry():
    full = _core.rank_sum_counts(8, 60)
    np.testing.assert_array_equal(_core.rank_sum_counts(8, 60, 100), full[:101])
    np.testing.assert_array_equal(full, full[::-1])
    # 1.8e19 > C(68, 8) exact in uint64, summed as an exact integer
    assert int(sum(int(c) for c in full)) == math.comb(68, 8)


def test_rank_sum_counts_double_branch_matches_exact_integers():
    # past C(n1 + n2, n1) = 2**64 the C side counts in doubles
    n1, n2, kmax = 8, 1500, 400
    assert math.comb(n1 + n2, n1) > 2**64
    counts = _core.rank_sum_counts(n1, n2, kmax)
    exact = ref.rank_sum_counts_gaussian(n1, n2, kmax)
    np.testing.assert_allclose(counts, [float(c) for c in exact], rtol=1e-13)


def test_gaussian_binomial_twin_equals_recursive_twin():
    for n1, n2 in [(3, 9), (8, 20), (6, 6)]:
        np.testing.assert_array_equal(
            [float(c) for c in ref.rank_sum_counts_gaussian(n1, n2, n1 * n2)],
            ref.rank_sum_counts(n1, n2),
        )


# --------------------------------------------------- attainable p-values --


@pytest.mark.parametrize("test", ["welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney"])
def test_min_pvalue_equals_twin(test):
    for na in range(0, 70, 1):
        for nb in ([na] if test in ("ttest_rel", "wilcoxon") else range(0, 70, 7)):
            got = _core.min_pvalue(test, na, nb)
            want = ref.min_pvalue(test, na, nb)
            if math.isnan(want):
                assert math.isnan(got), (na, nb)
            else:
                assert got == pytest.approx(want, rel=1e-12, abs=1e-300), (na, nb)


def test_wilcoxon_best_p_with_three_seeds_is_a_quarter():
    assert _core.min_pvalue("wilcoxon", 3, 3) == 0.25


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 9, 20, 55])
def test_min_pvalue_is_what_scipy_returns_at_complete_separation(n):
    a = np.arange(n, dtype=float) + 100.0
    b = np.arange(n, dtype=float) * 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _core.min_pvalue("wilcoxon", n, n) == pytest.approx(ss.wilcoxon(a, b).pvalue, rel=1e-12)
        assert _core.min_pvalue("mannwhitney", n, n) == pytest.approx(
            ss.mannwhitneyu(a, b).pvalue, rel=1e-12
        )


# ------------------------------------------------------------ corrections --

pvalue_lists = st.lists(
    st.one_of(st.floats(0.0, 1.0), st.just(float("nan")), st.sampled_from([0.0, 1.0, 0.05, 0.01])),
    min_size=0,
    max_size=40,
)


@settings(max_examples=300)
@given(p=pvalue_lists)
def test_fdr_bh_equals_scipy_false_discovery_control(p):
    p = np.array(p, float)
    got = _core.fdr_bh(p)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(p))
    keep = ~np.isnan(p)
    if keep.any():
        expected = ss.false_discovery_control(p[keep], method="bh")
        np.testing.assert_allclose(got[keep], expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(got, ref.fdr_bh(p), rtol=1e-15, atol=0)


@settings(max_examples=300)
@given(p=pvalue_lists)
def test_bonferroni_equals_twin(p):
    p = np.array(p, float)
    np.testing.assert_array_equal(_core.bonferroni(p), ref.bonferroni(p))


@pytest.mark.parametrize("name", ["bonferroni", "fdr_bh"])
@pytest.mark.parametrize("bad", [-0.1, 1.5, float("inf")])
def test_corrections_reject_values_outside_unit_interval(name, bad):
    with pytest.raises(ValueError, match="lie in \\[0, 1\\]"):
        getattr(_core, name)([0.1, bad])


def test_corrections_of_an_empty_family_are_empty():
    for name in ("bonferroni", "fdr_bh", "holm"):
        assert getattr(_core, name)([]).shape == (0,)


# ----------------------------------------------------------- effect sizes --

samples = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=2, max_size=40
)


@settings(max_examples=300)
@given(a=samples, b=samples)
@example(a=[0.0, 0.0], b=[699050.7174213014] * 3)  # mean of equal values off by an ulp
def test_cohens_d_equals_twin(a, b):
    got = _core.cohens_d(np.array(a), np.array(b))
    want = ref.cohens_d(a, b)
    if math.isinf(want) or want == 0:
        # zero pooled variance in exact arithmetic; the C side sees the same
        assert got == want or abs(got) > 1e6 or abs(got) < 1e-6
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=300)
@given(data=st.data())
def test_cohens_dz_equals_twin(data):
    n = data.draw(st.integers(2, 40))
    values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    a = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
    b = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
    got = _core.cohens_dz(a, b)
    want = ref.cohens_dz(a, b)
    if math.isinf(want) or want == 0:
        assert got == want
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], -math.inf),
        ([3.0, 3.0], [2.0, 2.0, 2.0], math.inf),
        ([2.0, 2.0, 2.0], [2.0, 2.0], 0.0),
    ],
)
def test_cohens_d_of_zero_variance_groups(a, b, expected):
    assert _core.cohens_d(a, b) == expected


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], -math.inf),
        ([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], math.inf),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.0),
    ],
)
def test_cohens_dz_of_constant_differences(a, b, expected):
    assert _core.cohens_dz(a, b) == expected


# ------------------------------------------------------ t-test intervals --


@pytest.mark.parametrize("test", ["welch", "ttest_ind", "ttest_rel"])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_t_intervals_equal_scipy_confidence_interval(test, confidence):
    rng = np.random.default_rng(int(confidence * 100))
    for _ in range(60):
        na = int(rng.integers(2, 61))
        nb = na if test == "ttest_rel" else int(rng.integers(2, 61))
        scale = 10.0 ** rng.uniform(-6, 6)
        a = rng.normal(0.3, 1, na) * scale
        b = rng.normal(0, rng.uniform(0.2, 5), nb) * scale
        if test == "ttest_rel":
            r = ss.ttest_rel(a, b)
        else:
            r = ss.ttest_ind(a, b, equal_var=test == "ttest_ind")
        ci = r.confidence_interval(confidence_level=confidence)
        got = _core.two_sample_test(test, a, b, confidence)
        half = (ci.high - ci.low) / 2
        # each bound is estimate +- half-width: compare on that scale
        assert abs(got[5] - ci.low) <= 1e-8 * (abs(ci.low) + half)
        assert abs(got[6] - ci.high) <= 1e-8 * (abs(ci.high) + half)
        twin = ref.ttest_interval(test, a, b, confidence)
        assert got[5] == pytest.approx(twin[0], rel=1e-8, abs=1e-8 * half)


# ----------------------------------------------- Hodges-Lehmann intervals --


def _hl_cases(rng, test, count):
    for _ in range(count):
        na = int(rng.integers(1, 31))
        nb = na if test == "wilcoxon" else int(rng.integers(1, 31))
        a = rng.normal(0.5, 1, na)
        b = rng.normal(0, 1, nb)
        yield a, b


@pytest.mark.parametrize("test", ["wilcoxon", "mannwhitney"])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_hodges_lehmann_interval_equals_twin(test, confidence):
    rng = np.random.default_rng(int(confidence * 1000) + len(test))
    for a, b in _hl_cases(rng, test, 80):
        got = _core.two_sample_test(test, a, b, confidence)
        assert (got[5], got[6]) == ref.hodges_lehmann_interval(test, a, b, confidence)


@pytest.mark.parametrize("test", ["wilcoxon", "mannwhitney"])
def test_hodges_lehmann_interval_asymptotic_branch_equals_twin(test):
    rng = np.random.default_rng(9)
    n = 70  # beyond the exact range of both tests
    a = rng.normal(0.3, 1, n)
    b = rng.normal(0, 1, n)
    got = _core.two_sample_test(test, a, b, 0.95)
    assert (got[5], got[6]) == ref.hodges_lehmann_interval(test, a, b, 0.95)


def _exact_p(test, a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if test == "wilcoxon":
            return ss.wilcoxon(a, b, method="exact").pvalue
        return ss.mannwhitneyu(a, b, method="exact").pvalue


@pytest.mark.parametrize("test", ["wilcoxon", "mannwhitney"])
def test_hodges_lehmann_interval_is_the_inverted_exact_scipy_test(test):
    # the interval holds exactly the shifts the exact test does not reject:
    # just inside each bound p >= alpha, just outside p < alpha
    rng = np.random.default_rng(21)
    alpha = 0.05
    checked = 0
    for a, b in _hl_cases(rng, test, 60):
        if _core.min_pvalue(test, a.size, b.size) >= alpha or (
            test == "mannwhitney" and min(a.size, b.size) > 8
        ):
            continue  # unbounded interval, or not the exact branch
        low, high = _core.two_sample_test(test, a, b, 1 - alpha)[5:7]
        assert np.isfinite(low) and np.isfinite(high) and low < high
        eps = 1e-9 * max(1.0, abs(low), abs(high))
        for shift, inside in ((low + eps, True), (high - eps, True), (low - eps, False), (high + eps, False)):
            p = _exact_p(test, a - shift, b)
            assert (p >= alpha) == inside, (shift, p, inside)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("test, n", [("wilcoxon", 3), ("wilcoxon", 5), ("mannwhitney", 2), ("mannwhitney", 3)])
def test_hodges_lehmann_interval_is_unbounded_when_no_shift_can_be_rejected(test, n):
    a = np.arange(n, dtype=float) + 10
    b = np.arange(n, dtype=float)
    low, high = _core.two_sample_test(test, a, b, 0.95)[5:7]
    assert (low, high) == (-math.inf, math.inf)


# --------------------------------------------------- summation and normal --


@settings(max_examples=300)
@given(
    x=st.lists(st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False), min_size=0, max_size=600)
)
def test_pairwise_sum_is_numpy_sum_bit_for_bit(x):
    x = np.array(x, float)
    assert _core.pairwise_sum(x) == np.sum(x)


def test_pairwise_sum_on_long_arrays_is_numpy_sum_bit_for_bit():
    rng = np.random.default_rng(0)
    for n in (127, 128, 129, 1000, 8191, 8193, 100_003):
        x = rng.normal(0, 1, n) * 10.0 ** rng.uniform(-8, 8, n)
        assert _core.pairwise_sum(x) == np.sum(x)


@pytest.mark.parametrize("z", np.concatenate([np.linspace(-10, 10, 201), [-40, 20, 30, 37.5, 38.5, np.inf, -np.inf]]))
def test_norm_sf_equals_scipy_ndtr(z):
    expected = sp.ndtr(-z)
    # both round z / sqrt(2) before erfc, which costs ~z**2 ulp in the far tail
    assert _core.norm_sf(float(z)) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("q", [1e-300, 1e-100, 1e-20, 1e-8, 0.001, 0.01, 0.025, 0.3, 0.5, 0.7, 0.975, 0.999, 1 - 1e-12])
def test_norm_ppf_equals_scipy_ndtri(q):
    assert _core.norm_ppf(q) == pytest.approx(sp.ndtri(q), rel=1e-12, abs=1e-15)
