"""Friedman, Nemenyi and Conover in C against scipy and scikit-posthocs.

Oracles: ``scipy.stats.friedmanchisquare`` (statistic and p-value to 1e-8)
and ``scikit-posthocs==0.17.1`` (``posthoc_nemenyi_friedman``,
``posthoc_conover_friedman``; p-values to 1e-8) on hypothesis-generated
(blocks x methods) tables, many of them with ties.  scipy computes the
studentized range's upper tail as ``1 - cdf``, so its tiny Nemenyi p-values
carry an absolute error near 1e-16 (``mpmath`` shows, for example,
4.6122265e-12 where scipy says 4.6121995e-12 at q = 10, k = 3); the comparison allows that
absolute 1e-14 on top of the relative 1e-8, and mushin's tail is checked
against a 30-digit ``mpmath`` integral separately.
"""
from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pandas as pd
import pytest
import scikit_posthocs as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as ss

from mushin import BenchmarkResult, _core
from mushin.stats import friedman, posthoc, rank_methods


def p_close(got, want, what, atol=0.0):
    if math.isnan(want):
        assert math.isnan(got), f"{what}: {got!r} vs NaN"
        return
    if math.isinf(want):
        assert got == want, f"{what}: {got!r} vs {want!r}"
        return
    assert abs(got - want) <= 1e-8 * abs(want) + atol, f"{what}: {got!r} vs oracle {want!r}"


@st.composite
def block_tables(draw, min_k=3, max_k=7, min_n=1, max_n=12):
    k = draw(st.integers(min_k, max_k))
    n = draw(st.integers(min_n, max_n))
    if draw(st.booleans()):
        values = draw(st.lists(st.integers(0, 3), min_size=n * k, max_size=n * k))  # ties
    else:
        values = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n * k, max_size=n * k))
    return np.array(values, dtype=float).reshape(n, k)


@settings(max_examples=100)
@given(x=block_tables())
def test_friedman_equals_scipy(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = ss.friedmanchisquare(*x.T)
    statistic, pvalue, df, mean_ranks = _core.friedman(x)
    if (x == x[:, :1]).all():
        # every block one tie: the statistic is 0/0.  scipy's rounding makes
        # that NaN or +-inf by chance; mushin says NaN (n/a), deliberately
        assert math.isnan(statistic) and math.isnan(pvalue)
        return
    p_close(statistic, float(want.statistic), "statistic")
    p_close(pvalue, float(want.pvalue), "p-value", atol=1e-300)
    assert df == x.shape[1] - 1
    np.testing.assert_array_equal(mean_ranks, ss.rankdata(x, axis=1).mean(axis=0))


@settings(max_examples=80)
@given(x=block_tables(min_k=2, min_n=1))
def test_nemenyi_equals_scikit_posthocs(x):
    want = sp.posthoc_nemenyi_friedman(x).to_numpy()
    _, got = _core.friedman_posthoc(x, "nemenyi")
    for i in range(x.shape[1]):
        for j in range(x.shape[1]):
            p_close(got[i, j], want[i, j], f"p[{i}, {j}]", atol=1e-14)


@settings(max_examples=80)
@given(x=block_tables(min_k=2, min_n=1))
def test_conover_equals_scikit_posthocs(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its divisions by zero on all-tie blocks
        want = sp.posthoc_conover_friedman(x).to_numpy()
    _, got = _core.friedman_posthoc(x, "conover")
    for i in range(x.shape[1]):
        for j in range(x.shape[1]):
            p_close(got[i, j], want[i, j], f"p[{i}, {j}]", atol=1e-300)


def _range_tail_mpmath(q, k):
    # Phi(z)^n - (Phi(z) - Phi(z - q))^n cancels to about Phi(q/2 - q), so
    # the working precision must hold digits well past that (1e-35 at q = 25)
    mpmath.mp.dps = 90
    f = lambda z: mpmath.npdf(z) * (mpmath.ncdf(z) ** (k - 1) - (mpmath.ncdf(z) - mpmath.ncdf(z - q)) ** (k - 1))
    return float(k * mpmath.quad(f, [-mpmath.inf, -5, 0, q / 2, q, mpmath.inf]))


@pytest.mark.parametrize("q,k", [(0.5, 2), (3.0, 3), (6.0, 5), (10.0, 3), (15.0, 10), (25.0, 4), (4.2, 30)])
def test_studentized_range_tail_keeps_relative_accuracy(q, k):
    want = _range_tail_mpmath(q, k)
    got = _core.studentized_range_sf(q, k)
    assert abs(got - want) <= 1e-9 * want, (got, want)


@pytest.mark.parametrize("k", [2, 3, 5, 10, 20])
@pytest.mark.parametrize("p", [0.1, 0.05, 0.01])
def test_studentized_range_quantile_equals_scipy(p, k):
    want = ss.studentized_range.isf(p, k, np.inf)
    assert abs(_core.studentized_range_isf(p, k) - want) <= 1e-8 * want


@settings(max_examples=200)
@given(x=st.floats(0, 400), df=st.integers(1, 60) | st.floats(0.5, 100))
def test_chi2_tail_equals_scipy(x, df):
    want = ss.chi2.sf(x, df)
    assert abs(_core.chi2_sf(x, df) - want) <= 1e-11 * want + 1e-300


def test_rank_rows_equals_scipy_rankdata():
    x = np.random.default_rng(2).integers(0, 4, size=(30, 6)).astype(float)
    np.testing.assert_array_equal(_core.rank_rows(x), ss.rankdata(x, axis=1))


def test_degenerate_tables():
    # every block one tie: scipy returns NaN, and so does mushin
    ties = np.ones((4, 3))
    statistic, p, _, _ = _core.friedman(ties)
    assert math.isnan(statistic) and math.isnan(p)
    with pytest.raises(ValueError, match="at least 3 methods"):
        _core.friedman(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"x\[1, 0\] is NaN"):
        _core.friedman(np.array([[1.0, 2, 3], [np.nan, 1, 2]]))
    with pytest.raises(ValueError, match="unknown post-hoc test"):
        _core.friedman_posthoc(np.ones((3, 3)), "tukey")


# ---------------------------------------------------------- the Ranking --


def _table(rng, k=5, n=10, step=0.6):
    return pd.DataFrame(rng.normal(size=(n, k)) - step * np.arange(k), columns=[f"m{i}" for i in range(k)],
                        index=[f"set{i}" for i in range(n)])


def test_rank_one_is_the_best_method_in_either_direction(rng):
    table = _table(rng)
    up = rank_methods(table)
    down = rank_methods(-table, higher_is_better=False)
    assert up.mean_ranks.idxmin() == "m0" and down.mean_ranks.idxmin() == "m0"
    np.testing.assert_array_equal(up.mean_ranks.to_numpy(), down.mean_ranks.to_numpy())
    want = ss.rankdata(-table.to_numpy(), axis=1).mean(axis=0)
    np.testing.assert_array_equal(up.mean_ranks.to_numpy(), want)
    assert up.friedman.pvalue == pytest.approx(ss.friedmanchisquare(*table.to_numpy().T).pvalue, rel=1e-8)


def test_verdicts_need_friedman_to_reject(rng):
    noise = pd.DataFrame(rng.normal(size=(6, 4)), columns=list("abcd"))
    ranking = rank_methods(noise)
    if ranking.friedman.pvalue >= 0.05:
        table = ranking.comparisons()
        assert not table["significant"].any()
        assert table["note"].str.startswith("not tested: Friedman p").all()
        assert ranking.cliques() == [list(ranking.mean_ranks.sort_values(kind="stable").index)]
    strong = rank_methods(_table(rng, k=4, n=20, step=2.0))
    assert strong.omnibus_rejects
    assert strong.comparisons().query("method_a == 'm0' and method_b == 'm3'")["significant"].item()


def test_conover_pvalues_are_holm_corrected_and_nemenyi_are_not(rng):
    table = _table(rng, k=4, n=8, step=0.5)
    for test, correction in (("conover", "holm"), ("nemenyi", None)):
        ranking = rank_methods(table, test=test)
        comp = ranking.comparisons()
        raw = sp.posthoc_conover_friedman(table.to_numpy()) if test == "conover" else \
            sp.posthoc_nemenyi_friedman(table.to_numpy())
        raw_pairs = np.array([raw.iloc[i, j] for i in range(4) for j in range(i + 1, 4)])
        np.testing.assert_allclose(comp["p_value"], raw_pairs, rtol=1e-8, atol=1e-14)
        if correction:
            from statsmodels.stats.multitest import multipletests

            np.testing.assert_allclose(comp["p_corrected"], multipletests(raw_pairs, method="holm")[1], rtol=1e-12)
        else:
            np.testing.assert_array_equal(comp["p_corrected"], comp["p_value"])


def test_conover_with_identical_rankings_is_not_a_verdict():
    # every block ranks a > b > c: Conover's variance term is 0, t is inf
    table = pd.DataFrame({"a": [3.0, 3, 3, 3, 3], "b": [2.0, 2, 2, 2, 2], "c": [1.0, 1, 1, 1, 1]})
    ranking = rank_methods(table, test="conover")
    comp = ranking.comparisons()
    assert not comp["significant"].any() and comp["note"].str.startswith("n/a").all()


def test_critical_difference_is_demsars(rng):
    ranking = rank_methods(_table(rng, k=5, n=12))
    q = ss.studentized_range.isf(0.05, 5, np.inf) / math.sqrt(2)
    assert ranking.critical_difference == pytest.approx(q * math.sqrt(5 * 6 / (6 * 12)), rel=1e-8)
    # Demšar's table: q_0.05 for k = 5 is 2.728
    assert q == pytest.approx(2.728, abs=5e-4)


def _result(rng, methods="abcd", seeds=4):
    conf = {m: [[[40 + 8 * i + rng.integers(0, 6), 30], [20, 50]] for _ in range(seeds)] for i, m in enumerate(methods)}
    return BenchmarkResult.from_confusion(conf)


def test_several_results_rank_per_evaluation_set(rng):
    sets = {f"set{i}": _result(rng) for i in range(6)}
    ranking = rank_methods(sets, "miou")
    assert ranking.blocks == "evaluation set" and ranking.friedman.blocks == 6
    means = np.array([[r.scores("miou", m).mean() for m in "abcd"] for r in sets.values()])
    np.testing.assert_array_equal(ranking.table.to_numpy(), means)
    summary = ranking.summary()
    assert summary["method"].tolist()[0] == "d"  # the largest counts on the diagonal
    assert summary.attrs["friedman_pvalue"] == pytest.approx(ss.friedmanchisquare(*means.T).pvalue, rel=1e-8)


def test_one_result_is_ranked_seed_by_seed(rng):
    r = _result(rng, seeds=5)
    ranking = rank_methods(r, "miou")
    assert ranking.blocks == "seed" and ranking.friedman.blocks == 5


def test_bad_rankings_are_refused(rng):
    with pytest.raises(ValueError, match="at least 3 methods"):
        rank_methods(pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, 1.0]}))
    with pytest.raises(ValueError, match="at least 2 evaluation sets"):
        rank_methods(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}))
    with pytest.raises(ValueError, match=r"method 'b' on evaluation set 1 is .*nan"):
        rank_methods(pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, np.nan], "c": [0.0, 1.0]}))
    with pytest.raises(ValueError, match="unknown post-hoc test"):
        rank_methods(_table(rng), test="dunn")


def test_friedman_and_posthoc_helpers():
    x = [[1, 2, 3], [1, 3, 2], [1, 2, 3], [2, 1, 3]]
    r = friedman(x)
    want = ss.friedmanchisquare(*np.array(x, float).T)
    assert r.statistic == pytest.approx(want.statistic, rel=1e-12) and r.blocks == 4 and r.methods == 3
    p = posthoc(pd.DataFrame(x, columns=list("abc")), "conover")
    assert list(p.columns) == ["a", "b", "c"]
    np.testing.assert_allclose(p.to_numpy(), sp.posthoc_conover_friedman(np.array(x, float)).to_numpy(), rtol=1e-8)


def test_plot_cd_draws_every_method(rng):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = _result(rng, seeds=5).plot_cd("miou")
    labels = [t.get_text() for t in ax.texts]
    for m in "abcd":
        assert any(label.startswith(f"{m} (") for label in labels), labels
    assert ax.get_title().startswith("Friedman p = ")
    plt.close("all")
