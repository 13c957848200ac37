"""Welch's t-test, the Student-t distribution, the mean CI, Holm and Cohen's d
from the C core, against scipy (and mpmath where scipy's doubles run out)
and against the NumPy twins in tests/reference.py."""
import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import assume, given
from hypothesis import strategies as st

import reference as ref
from mushin import _core, stats

P_RTOL = 1e-8
P_ATOL = 1e-300


def assert_close(got, want, rtol=P_RTOL, atol=P_ATOL, what=""):
    got = float(got)
    want = float(want)
    if math.isnan(want):
        assert math.isnan(got), f"{what}: got {got!r}, want NaN"
        return
    assert abs(got - want) <= rtol * abs(want) + atol, (
        f"{what}: got {got!r}, want {want!r} (relative error {abs(got - want) / max(abs(want), 1e-300):.3g})"
    )


# --------------------------------------------------------- Welch vs scipy --


def _generated_pair(rng):
    """Two samples of 2..200 values with wildly different scales and shapes."""
    na, nb = (int(n) for n in rng.integers(2, 201, size=2))
    kind = rng.integers(0, 5)
    sd_a = 10.0 ** rng.uniform(-6, 6)
    sd_b = 10.0 ** rng.uniform(-6, 6)
    gap = rng.normal() * 10.0 ** rng.uniform(-3, 2) * max(sd_a / math.sqrt(na), sd_b / math.sqrt(nb))
    if kind == 0:  # normal, unequal variances
        a = rng.normal(gap, sd_a, na)
        b = rng.normal(0.0, sd_b, nb)
    elif kind == 1:  # heavy tails
        a = gap + sd_a * rng.standard_t(2, na)
        b = sd_b * rng.standard_t(2, nb)
    elif kind == 2:  # skewed
        a = gap + sd_a * rng.exponential(1.0, na)
        b = sd_b * rng.exponential(1.0, nb)
    elif kind == 3:  # metric-like values near 0.7 with tiny seed noise
        a = 0.7 + gap * 1e-3 + rng.normal(0, 10.0 ** rng.uniform(-5, -1), na)
        b = 0.7 + rng.normal(0, 10.0 ** rng.uniform(-5, -1), nb)
    else:  # integers with ties
        a = rng.integers(0, 5, na).astype(float) + (1 if rng.random() < 0.5 else 0)
        b = rng.integers(0, 5, nb).astype(float)
    return a, b


SCIPY_CANCELLATION = "ignore:Precision loss occurred in moment calculation:RuntimeWarning"


@pytest.mark.filterwarnings(SCIPY_CANCELLATION)
@pytest.mark.parametrize("chunk", range(12))
def test_welch_matches_scipy_on_generated_pairs(chunk):
    rng = np.random.default_rng(1000 + chunk)
    checked = 0
    for _ in range(100):
        a, b = _generated_pair(rng)
        want = scipy.stats.ttest_ind(a, b, equal_var=False)
        got = stats.welch(a, b)
        if np.var(a) == 0 and np.var(b) == 0:
            assert math.isnan(got.pvalue)
            continue
        assert_close(got.pvalue, want.pvalue, what=f"p, n=({a.size}, {b.size})")
        assert_close(got.statistic, want.statistic, what="t")
        assert_close(got.df, want.df, what="df")
        assert_close(got.mean_diff, a.mean() - b.mean(), rtol=1e-12, atol=1e-12 * np.abs(a).max())
        checked += 1
    assert checked >= 90


@pytest.mark.parametrize("gap_in_se", [0.0, 0.3, 2.0, 8.0, 30.0])
def test_welch_df_near_one_hundred_thousand(gap_in_se):
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 1.0, 50_001)
    b = rng.normal(0.0, 1.0001, 60_000)
    b += gap_in_se * math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size) - b.mean() + a.mean()
    want = scipy.stats.ttest_ind(a, b, equal_var=False)
    got = stats.welch(a, b)
    assert want.df > 1e5
    assert_close(got.df, want.df, what="df")
    assert_close(got.statistic, want.statistic, rtol=1e-8, atol=1e-12, what="t")
    assert_close(got.pvalue, want.pvalue, what="p")


def test_welch_twin_agrees_with_scipy_and_with_mushin():
    # the twin must itself be right before it can judge anything
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = _generated_pair(rng)
        if np.var(a) == 0 or np.var(b) == 0:
            continue
        twin = ref.welch(a, b)
        want = scipy.stats.ttest_ind(a, b, equal_var=False)
        got = stats.welch(a, b)
        assert_close(twin.pvalue, want.pvalue, rtol=1e-10, what="twin p")
        assert_close(got.df, twin.df, rtol=1e-12, what="df vs twin")
        assert_close(got.statistic, twin.statistic, rtol=1e-12, what="t vs twin")


# Magnitudes below 1e-12 are mapped to 0: scipy squares standard errors and
# returns NaN degrees of freedom (then replaced by 1) once they pass 1e-154;
# mushin's answer on that scale is checked by scale invariance instead.
_values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda v: 0.0 if abs(v) < 1e-12 else v)


@pytest.mark.filterwarnings(SCIPY_CANCELLATION)
@given(st.lists(_values, min_size=2, max_size=40), st.lists(_values, min_size=2, max_size=40))
def test_welch_matches_scipy_on_hypothesis_samples(a, b):
    a = np.array(a)
    b = np.array(b)
    # two constant groups are undefined for mushin (NaN, test_two_constant_groups_give_nan_p)
    # exactly constant on both sides is a documented departure (NaN; see
    # test_stats_oracle.documented_departure): NumPy's variance of equal values can
    # round above zero, so test the values themselves
    assume(len(set(a)) > 1 or len(set(b)) > 1)
    with np.errstate(all="ignore"):
        want = scipy.stats.ttest_ind(a, b, equal_var=False)
    got = stats.welch(a, b)
    if math.isnan(want.pvalue):
        assert math.isnan(got.pvalue)
        return
    assert_close(got.pvalue, want.pvalue, what="p")
    assert_close(got.df, want.df, what="df")


@pytest.mark.parametrize("scale", [1e-140, 1e-120, 1e100, 1e120])
def test_welch_is_scale_invariant_far_from_unit_scale(scale):
    # squared standard errors under- or overflow at these scales (scipy then
    # reports df = 1); the variances themselves stay representable
    rng = np.random.default_rng(5)
    for _ in range(50):
        a = rng.normal(0.3, 10.0 ** rng.uniform(-2, 0), int(rng.integers(2, 60)))
        b = rng.normal(0.5, 10.0 ** rng.uniform(-2, 0), int(rng.integers(2, 60)))
        unit = stats.welch(a, b)
        scaled = stats.welch(a * scale, b * scale)
        assert_close(scaled.statistic, unit.statistic, rtol=1e-12, what="t")
        assert_close(scaled.df, unit.df, rtol=1e-12, what="df")
        assert_close(scaled.pvalue, unit.pvalue, rtol=1e-10, what="p")


def test_welch_closed_form_case():
    # means 2 and 5, variances 1, n = 3: t = -3 / sqrt(2/3), df = 4
    got = stats.welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    t = -3.0 / math.sqrt(2.0 / 3.0)
    assert_close(got.statistic, t, rtol=1e-14)
    assert_close(got.df, 4.0, rtol=1e-14)
    # df = 4 Student-t CDF in closed form
    u = t * t / (4 + t * t)
    cdf = 0.5 + 0.75 * (t / math.sqrt(4 + t * t)) * (1 - u / 3)
    assert_close(got.pvalue, 2 * cdf, rtol=1e-12)


def test_one_seed_gives_nan_p():
    got = stats.welch([0.7], [0.6, 0.65, 0.62])
    assert math.isnan(got.pvalue) and math.isnan(got.statistic) and math.isnan(got.df)
    assert_close(got.mean_diff, 0.7 - np.mean([0.6, 0.65, 0.62]), rtol=1e-14)


def test_two_constant_groups_give_nan_p():
    got = stats.welch([0.5, 0.5, 0.5], [0.6, 0.6])
    assert math.isnan(got.pvalue)
    assert got.effect_size == -math.inf


def test_identical_groups_with_variance_give_p_one():
    got = stats.welch([0.1, 0.3, 0.2], [0.1, 0.3, 0.2])
    assert got.pvalue == 1.0
    assert got.statistic == 0.0


@pytest.mark.parametrize(
    "a, text",
    [
        ([[1.0, 2.0]], "must be a 1-d sequence"),
        ([], "is empty"),
        ([1.0, float("nan")], "contains NaN at positions \\[1\\]"),
    ],
)
def test_welch_rejects_bad_scores(a, text):
    with pytest.raises(ValueError, match=text):
        stats.welch(a, [1.0, 2.0])


# ------------------------------------------------- Student-t distribution --

DFS = [1.0, 1.5, 2.0, 2.7, 3.0, 5.0, 10.0, 29.5, 100.0, 1e3, 1e4, 5e4, 1e5]
TS = [0.0, 1e-8, 1e-3, 0.1, 0.5, 1.0, 1.96, 3.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e5, 1e10, 1e20]


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_and_sf_match_scipy(df):
    for t in TS:
        for signed in (t, -t):
            sf = scipy.stats.t.sf(signed, df)
            cdf = scipy.stats.t.cdf(signed, df)
            if sf > 1e-300:
                assert_close(_core.t_sf(signed, df), sf, what=f"sf({signed}, {df})")
            if cdf > 1e-300:
                assert_close(_core.t_cdf(signed, df), cdf, what=f"cdf({signed}, {df})")


@pytest.mark.parametrize(
    "t, df",
    [
        (1e160, 1.0),
        (1e200, 1.0),
        (1e299, 1.0),
        (1e180, 1.5),
        (1e140, 2.0),
        (1e100, 3.0),
        (3e6, 50.0),
        (35.0, 1e5),
        (1e40, 0.5),
        (1e300, 0.5),
    ],
)
def test_t_sf_in_tails_scipy_rounds_to_zero(t, df):
    # mpmath in 60 digits; several of these scipy itself returns as 0
    want = ref.student_t_sf_exact(t, df)
    assert want > 1e-300
    assert_close(_core.t_sf(t, df), want, what=f"sf({t}, {df})")
    assert_close(_core.t_cdf(-t, df), want, what=f"cdf({-t}, {df})")


QS = [1e-300, 1e-200, 1e-100, 1e-30, 1e-10, 1e-4, 0.001, 0.025, 0.05, 0.2, 0.45, 0.5, 0.55, 0.8, 0.95, 0.975, 0.999]


@pytest.mark.parametrize("df", DFS)
def test_t_ppf_matches_scipy(df):
    for q in QS:
        want = scipy.stats.t.ppf(q, df)
        got = _core.t_ppf(q, df)
        if abs(want) < 1e15:
            assert_close(got, want, rtol=P_RTOL, atol=1e-300, what=f"ppf({q}, {df})")
        else:
            # scipy's far quantiles are off (ppf(1e-200, 3) by a factor of 2), so
            # check by the exact tail: a relative error e in t moves it by about df * e
            tail = ref.student_t_sf_exact(-got, df) if q < 0.5 else ref.student_t_sf_exact(got, df)
            assert abs(tail / min(q, 1 - q) - 1) <= P_RTOL * max(df, 1.0), f"ppf({q}, {df}) = {got!r}"


def test_t_ppf_inverts_cdf_over_df_grid():
    for df in DFS:
        for q in QS:
            t = _core.t_ppf(q, df)
            assert_close(_core.t_cdf(t, df), q, rtol=1e-10 * max(1.0, df / 100), what=f"df={df} q={q}")


def test_t_ppf_quantile_beyond_the_largest_double_is_infinite():
    # df = 0.5: P(T < t) ~ C |t|^-0.5, so the 1e-200 quantile is near -1e400
    assert _core.t_ppf(1e-200, 0.5) == -math.inf
    assert _core.t_ppf(1 - 1e-16, 0.05) == math.inf


def test_t_distribution_edge_arguments():
    assert _core.t_cdf(math.inf, 3.0) == 1.0
    assert _core.t_cdf(-math.inf, 3.0) == 0.0
    assert _core.t_ppf(0.5, 7.0) == 0.0
    assert _core.t_ppf(0.0, 7.0) == -math.inf
    assert _core.t_ppf(1.0, 7.0) == math.inf
    for value in (_core.t_cdf(1.0, 0.0), _core.t_sf(1.0, -1.0), _core.t_ppf(1.5, 3.0), _core.t_cdf(math.nan, 3.0)):
        assert math.isnan(value)
    assert_close(_core.t_cdf(1.3, math.inf), scipy.stats.norm.cdf(1.3), rtol=1e-14)


@pytest.mark.parametrize("a", [0.05, 0.5, 1.0, 2.5, 10.0, 50.0, 1e3, 5e4])
def test_betainc_matches_scipy(a):
    for b in [0.05, 0.5, 1.0, 3.3, 10.0, 50.0, 1e3, 5e4]:
        for x in [1e-10, 1e-3, 0.05, 0.2, 0.5, 0.7, 0.95, 0.999]:
            want = scipy.special.betainc(a, b, x)
            if want > 1e-300:
                assert_close(_core.betainc(a, b, x), want, what=f"I_{x}({a}, {b})")


# ------------------------------------------------------------- mean CI --


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
def test_mean_ci_matches_scipy_interval(confidence):
    rng = np.random.default_rng(int(confidence * 1000))
    for _ in range(60):
        n = int(rng.integers(2, 201))
        x = rng.normal(rng.normal() * 10, 10.0 ** rng.uniform(-4, 2), n)
        mean, low, high = stats.mean_ci(x, confidence)
        want_low, want_high = scipy.stats.t.interval(confidence, n - 1, loc=x.mean(), scale=scipy.stats.sem(x))
        assert_close(mean, x.mean(), rtol=1e-13, atol=1e-13 * np.abs(x).max())
        assert_close((high - low) / 2, (want_high - want_low) / 2, what=f"half width n={n}")
        assert_close(low, want_low, rtol=1e-8, atol=1e-8 * (want_high - want_low))
        assert_close(high, want_high, rtol=1e-8, atol=1e-8 * (want_high - want_low))
        twin = ref.mean_ci(x, confidence)
        assert_close((high - low) / 2, (twin[2] - twin[1]) / 2, what="half width vs twin")


def test_mean_ci_of_one_value_is_nan_and_bad_confidence_is_refused():
    mean, low, high = stats.mean_ci([0.4])
    assert mean == 0.4 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 1.0"):
        _core.mean_ci([1.0, 2.0], 1.0)


def test_mean_ci_closed_form():
    # x = 1, 2, 3: sd 1, df 2; t_{0.975, 2} = 0.95 / sqrt(2 * 0.975 * 0.025)
    half = 0.95 / math.sqrt(2 * 0.975 * 0.025) / math.sqrt(3)
    mean, low, high = stats.mean_ci([1.0, 2.0, 3.0], 0.95)
    assert mean == 2.0
    assert_close(low, 2 - half, rtol=1e-12)
    assert_close(high, 2 + half, rtol=1e-12)


# ------------------------------------------------------------------ Holm --


@pytest.mark.parametrize(
    "p, want",
    [
        ([0.01, 0.04, math.nan, 0.03], [0.03, 0.06, math.nan, 0.06]),
        ([0.01, 0.02, 0.03, 0.04, 0.05], [0.05, 0.08, 0.09, 0.09, 0.09]),
        ([0.04, 0.001, math.nan, 0.5], [0.08, 0.003, math.nan, 0.5]),
        ([0.02, 0.02], [0.04, 0.04]),
        ([0.3, 0.6, 0.9], [0.9, 1.0, 1.0]),
        ([0.2], [0.2]),
        ([math.nan, math.nan], [math.nan, math.nan]),
        ([], []),
        ([0.0, 1.0], [0.0, 1.0]),
    ],
)
def test_holm_hand_computed_cases(p, want):
    got = stats.correct(p, "holm")
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0, equal_nan=True)
    np.testing.assert_allclose(_core.holm(p), want, rtol=1e-14, atol=0, equal_nan=True)


@given(st.lists(st.one_of(st.floats(0.0, 1.0), st.just(math.nan)), min_size=0, max_size=30))
def test_holm_matches_twin(p):
    got = _core.holm(np.array(p, dtype=float))
    want = ref.holm(p)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0, equal_nan=True)
    finite = ~np.isnan(got)
    assert np.all(got[finite] >= np.array(p)[finite])
    assert np.all(got[finite] <= 1.0)


def test_holm_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\] or be NaN"):
        _core.holm([0.2, 1.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _core.holm([-0.1])


def test_unknown_correction_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown correction 'sidak'; valid corrections: \[.*'holm'.*\]"):
        stats.correct([0.1], "sidak")


# ------------------------------------------------------------- Cohen's d --


def test_cohens_d_matches_twin_on_generated_pairs():
    rng = np.random.default_rng(11)
    for _ in range(300):
        a, b = _generated_pair(rng)
        if np.var(a) == 0 and np.var(b) == 0:
            continue
        want = ref.cohens_d(a, b)
        assert_close(stats.cohens_d(a, b), want, rtol=1e-10, what="d")
        assert_close(stats.welch(a, b).effect_size, want, rtol=1e-10, what="welch effect size")


def test_cohens_d_closed_form_and_degenerate_cases():
    # a = 1, 3 (ss 2); b = 0, 0, 3 (ss 6); pooled variance 8 / 3
    assert_close(stats.cohens_d([1.0, 3.0], [0.0, 0.0, 3.0]), 1 / math.sqrt(8 / 3), rtol=1e-14)
    assert stats.cohens_d([2.0, 2.0], [2.0, 2.0]) == 0.0
    assert stats.cohens_d([3.0, 3.0], [2.0, 2.0]) == math.inf
    assert stats.cohens_d([1.0, 1.0], [2.0, 2.0, 2.0]) == -math.inf
    assert math.isnan(stats.cohens_d([1.0], [2.0]))
