"""The seed planner: noncentral t in C against scipy, power against statsmodels.

Oracles: ``scipy.stats.nct`` (distribution function to 1e-9),
``statsmodels==0.15.0``'s ``TTestIndPower`` / ``TTestPower`` (power to
1e-6, and the seed counts they solve for), and, for Welch's test and the
rank tests, whose power has no closed form, Monte Carlo runs of scipy's own
tests on NumPy-drawn normal samples (agreement within binomial error).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as ss
from statsmodels.stats.power import TTestIndPower, TTestPower

from mushin import BenchmarkResult, _core
from mushin.stats import compare_scores, power_of, seeds_needed
from twins_resample import _nct_cdf, _nct_sf


@settings(max_examples=200)
@given(t=st.floats(-15, 15), df=st.floats(1.0, 200.0) | st.integers(1, 60), nc=st.floats(-8, 8))
def test_noncentral_t_cdf_equals_scipy(t, df, nc):
    want = ss.nct.cdf(t, df, nc)
    # scipy (Boost) returns NaN deep in some lower tails (t = -10, df = 22,
    # nc = 4): no oracle there
    assume(not math.isnan(want))
    got = _core.nct_cdf(t, df, nc)
    assert abs(got - want) <= 1e-9 * want + 1e-13, (got, want)


def test_noncentral_t_edges():
    assert _core.nct_cdf(1.0, 5, 0.0) == _core.t_cdf(1.0, 5)
    assert math.isnan(_core.nct_cdf(1.0, 0.0, 1.0)) and math.isnan(_core.nct_cdf(math.nan, 3, 1))
    assert _core.nct_cdf(math.inf, 3, 2.0) == 1.0 and _core.nct_cdf(-math.inf, 3, 2.0) == 0.0


@settings(max_examples=120)
@given(d=st.floats(0.05, 3.0), n=st.integers(2, 200), alpha=st.sampled_from([0.05, 0.01, 0.1]))
def test_t_test_power_equals_statsmodels(d, n, alpha):
    # statsmodels (through scipy's nct) returns NaN for some powers near 1
    # (d = 1, n = 100, alpha = 0.01: 0.999995; d = 2.0625, n = 11,
    # alpha = 0.01 paired: 0.998712), where scipy's lower tail is NaN; there
    # the same two tails are taken from scipy with mpmath quadrature where
    # scipy has no answer
    want_ind = TTestIndPower().power(effect_size=d, nobs1=n, alpha=alpha, ratio=1.0)
    want_rel = TTestPower().power(effect_size=d, nobs=n, alpha=alpha)
    if math.isnan(want_ind):
        want_ind = _two_sided_t_power(2 * n - 2, d * math.sqrt(n / 2), alpha)
    if math.isnan(want_rel):
        want_rel = _two_sided_t_power(n - 1, d * math.sqrt(n), alpha)
    got_ind = power_of("ttest_ind", n, d, 1.0, 1.0, alpha)
    got_rel = power_of("ttest_rel", n, d, 1.0, alpha=alpha)
    got_welch = power_of("welch", n, d, 1.0, 1.0, alpha)
    for got, want in ((got_ind, want_ind), (got_rel, want_rel), (got_welch, want_ind)):
        # Welch with equal variances and seeds has df = 2n - 2: Student's power
        assert abs(got - want) <= 1e-6, (got, want)


def _two_sided_t_power(df, nc, alpha):
    """statsmodels' two-sided power, P(T > c) + P(T < -c) with T ~ nct(df, nc)."""
    crit = ss.t.isf(alpha / 2, df)
    return _nct_sf(crit, df, nc) + _nct_cdf(-crit, df, nc)


@pytest.mark.parametrize("d,n,alpha,test", [(2.0625, 11, 0.01, "ttest_rel"), (1.0, 100, 0.01, "ttest_ind")])
def test_power_where_statsmodels_gives_nan_equals_the_quadrature(d, n, alpha, test):
    if test == "ttest_rel":
        assert math.isnan(TTestPower().power(effect_size=d, nobs=n, alpha=alpha))
        want, got = _two_sided_t_power(n - 1, d * math.sqrt(n), alpha), power_of(test, n, d, 1.0, alpha=alpha)
    else:
        want, got = _two_sided_t_power(2 * n - 2, d * math.sqrt(n / 2), alpha), power_of(test, n, d, 1.0, 1.0, alpha)
    assert abs(got - want) <= 1e-6, (got, want)


@pytest.mark.parametrize("d,target", [(0.5, 0.8), (1.3, 0.8), (2.0, 0.9), (0.8, 0.95)])
def test_seeds_needed_is_the_ceiling_of_statsmodels_solution(d, target):
    want = math.ceil(TTestIndPower().solve_power(effect_size=d, power=target, alpha=0.05))
    # a pilot whose two methods have sd 1 and a gap of d
    pilot = {"a": np.array([d - 1, d, d + 1]), "b": np.array([-1.0, 0.0, 1.0])}
    plan = seeds_needed(pilot, power=target, test="ttest_ind")
    assert plan.loc[0, "seeds_needed"] == want
    want_rel = math.ceil(TTestPower().solve_power(effect_size=d, power=target, alpha=0.05))
    paired = {"a": np.array([d - 1, d, d + 1.0]) + np.array([0, 0, 0]), "b": np.array([0.0, 0.0, 0.0])}
    plan = seeds_needed(paired, power=target, test="ttest_rel")  # differences have sd 1
    assert plan.loc[0, "seeds_needed"] == max(2, want_rel)


def _simulated_power(test, n, shift, sd_a, sd_b, sims, seed=1):
    rng = np.random.default_rng(seed)
    hits = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(sims):
            a = shift + sd_a * rng.standard_normal(n)
            if test == "wilcoxon":
                p = ss.wilcoxon(a).pvalue
            elif test == "mannwhitney":
                p = ss.mannwhitneyu(a, sd_b * rng.standard_normal(n)).pvalue
            else:
                p = ss.ttest_ind(a, sd_b * rng.standard_normal(n), equal_var=False).pvalue
            hits += p < 0.05
    return hits / sims


@pytest.mark.parametrize("test,n,shift,sd_a,sd_b", [
    ("wilcoxon", 8, 0.8, 1.0, 1.0),
    ("wilcoxon", 15, 0.5, 1.0, 1.0),
    ("mannwhitney", 6, 1.5, 1.0, 0.5),
    ("mannwhitney", 12, 1.0, 1.0, 1.0),
    ("welch", 5, 1.5, 1.0, 0.3),
])
def test_power_agrees_with_simulations_of_scipy_tests(test, n, shift, sd_a, sd_b):
    sims = 1500
    want = _simulated_power(test, n, shift, sd_a, sd_b, sims)
    ours = power_of(test, n, shift, sd_a, sd_b, sims=4000, seed=3)
    se = math.sqrt(want * (1 - want) / sims + ours * (1 - ours) / 4000)
    assert abs(ours - want) <= 4.5 * se + 1e-9, (ours, want, se)


def test_rank_power_is_the_same_for_any_thread_count():
    runs = [_core.rank_test_power("mannwhitney", 9, 0.7, 1.0, 1.2, 0.05, 3000, 5, t) for t in (1, 2, 7, 64)]
    assert len(set(runs)) == 1
    assert _core.rank_test_power("wilcoxon", 9, 0.7, 1.0, 0.0, 0.05, 3000, 5, 3) != \
        _core.rank_test_power("wilcoxon", 9, 0.7, 1.0, 0.0, 0.05, 3000, 6, 3)


def test_rank_tests_at_three_seeds_have_no_power():
    # Wilcoxon with 3 pairs cannot reach p < 0.05 (best p = 0.25)
    assert _core.rank_test_power("wilcoxon", 3, 50.0, 1.0, 1.0, 0.05, 500, 0, 2) == 0.0


def test_seeds_needed_for_a_rank_test_exceeds_the_t_test():
    pilot = {"a": [0.74, 0.72, 0.75, 0.73], "b": [0.71, 0.70, 0.72, 0.70]}
    welch = seeds_needed(pilot, test="welch").loc[0, "seeds_needed"]
    wilcoxon = seeds_needed(pilot, test="wilcoxon", sims=1000).loc[0, "seeds_needed"]
    assert 2 <= welch <= wilcoxon
    # the rank test's answer does have the power asked for, and one fewer seed does not
    effect = 0.74 - 0.7075  # |mean(a) - mean(b)|
    diffs = np.array([0.74, 0.72, 0.75, 0.73]) - np.array([0.71, 0.70, 0.72, 0.70])
    sd = float(np.std(diffs, ddof=1))
    assert power_of("wilcoxon", int(wilcoxon), effect, sd, sims=1000) >= 0.8
    if wilcoxon > 2:
        assert power_of("wilcoxon", int(wilcoxon) - 1, effect, sd, sims=1000) < 0.8


def test_planning_from_a_result_uses_its_test_and_names_the_pairs():
    conf = {m: [[[50 + 5 * i + s, 10], [10, 50]] for s in range(3)] for i, m in enumerate("abc")}
    result = BenchmarkResult.from_confusion(conf, test="welch")
    plan = seeds_needed(result, "miou")
    assert plan["method_b"].tolist() == ["b", "c"] and (plan["test"] == "welch").all()
    assert (plan["pilot_seeds"] == 3).all()
    sd = result.scores("miou", "a").std(ddof=1)
    assert plan.loc[0, "sd_a"] == pytest.approx(sd, rel=1e-12)
    bigger_gap = seeds_needed(result, "miou", effect=5 * abs(plan.loc[0, "effect"]))
    assert bigger_gap.loc[0, "seeds_needed"] <= plan.loc[0, "seeds_needed"]


def test_plans_that_cannot_be_made_say_why():
    plan = seeds_needed({"a": [0.7, 0.7, 0.7], "b": [0.6, 0.6, 0.6], "c": [0.7], "d": [0.6, 0.7, 0.8]},
                        test="welch")
    notes = dict(zip(plan["method_b"], plan["note"]))
    assert notes["b"].startswith("n/a: the pilot seeds do not vary")
    assert notes["c"].startswith("n/a: the pilot needs at least two seeds")
    assert math.isnan(plan.set_index("method_b").loc["b", "seeds_needed"])
    zero = seeds_needed({"a": [0.6, 0.7, 0.8], "b": [0.6, 0.7, 0.8]}, test="welch")
    assert zero.loc[0, "note"] == "n/a: no gap to detect (effect is 0)"
    tiny = seeds_needed({"a": [0.6, 0.7, 0.8], "b": [0.5, 0.9, 0.7001]}, test="welch", max_seeds=50)
    assert tiny.loc[0, "note"] == "n/a: more than 50 seeds per method (max_seeds)"


def test_bad_planning_arguments_are_refused():
    pilot = {"a": [0.6, 0.7], "b": [0.5, 0.6]}
    with pytest.raises(ValueError, match="power must be in"):
        seeds_needed(pilot, power=1.0)
    with pytest.raises(ValueError, match="unknown test"):
        seeds_needed(pilot, test="ttest")
    with pytest.raises(ValueError, match="reference 'z'"):
        seeds_needed(pilot, reference="z")
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        power_of("welch", 1, 0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="rank_test_power simulates"):
        _core.rank_test_power("welch", 5, 0.5, 1.0, 1.0, 0.05, 10, 0)


def test_underpowered_warning_suggests_the_seed_planner():
    with pytest.warns(UserWarning, match=r"cannot reach p < 0\.05.*mushin\.stats\.seeds_needed\(result, metric\)"):
        compare_scores({"a": [0.71, 0.73, 0.72], "b": [0.65, 0.66, 0.64]}, test="wilcoxon")
