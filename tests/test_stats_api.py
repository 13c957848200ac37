"""mushin.stats as users meet it: named results, corrections, compare_scores,
the degenerate rules of SPEC.md and the errors for bad input."""
from __future__ import annotations

import doctest
import math
import re
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
import xarray as xr

import mushin.stats as stats
import mushin.stats.registry
import mushin.stats.table
import mushin.stats.two_sample
from mushin import BenchmarkResult, _core
from stat_oracles import scipy_test

SPEC_COLUMNS = ["metric", "method_a", "method_b", "mean_diff", "effect_size", "p_value", "p_corrected", "significant"]
TESTS = ["welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney"]

A = [0.712, 0.735, 0.721, 0.744, 0.703, 0.751, 0.728, 0.717]
B = [0.655, 0.662, 0.641, 0.669, 0.668, 0.683, 0.650, 0.659]


def test_module_examples_run():
    # the package and each of its modules (doctest.testmod sees one module's own objects)
    failures = tried = 0
    for module in (stats, stats.registry, stats.two_sample, stats.table):
        f, t = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        failures, tried = failures + f, tried + t
    assert tried > 10 and failures == 0


# --------------------------------------------------------------- registry --


def test_c_core_accepts_exactly_the_registered_tests():
    # C cannot import the registry, so its own list of names is checked here
    for name, entry in stats.TEST_REGISTRY.items():
        assert entry.name == name
        result = _core.two_sample_test(name, np.array(A), np.array(B), 0.95)
        assert result[1] == getattr(stats, name)(A, B).pvalue
        assert _core.min_pvalue(name, 5, 5) == stats.min_pvalue(name, 5, 5)
    with pytest.raises(ValueError) as c_error:
        _core.two_sample_test("nope", np.array(A), np.array(B), 0.95)
    named_in_c = set(re.findall(r"'(\w+)'", str(c_error.value).split("valid tests:")[1]))
    assert named_in_c == set(stats.TEST_REGISTRY)
    assert set(stats.TESTS) == set(stats.TEST_REGISTRY)
    assert stats.PAIRED_TESTS == {"ttest_rel", "wilcoxon"}


def test_corrections_run_the_registered_c_function():
    p = np.array([0.01, 0.04, np.nan, 0.03])
    for name, entry in stats.CORRECTION_REGISTRY.items():
        assert entry.name == name
        expected = p if entry.c_function is None else entry.c_function(p)
        np.testing.assert_array_equal(stats.correct(p, name), expected)
        if entry.c_function is not None:
            assert entry.c_function is getattr(_core, name)
    assert set(stats.CORRECTIONS) == set(stats.CORRECTION_REGISTRY)


@pytest.mark.parametrize(
    "call",
    [lambda c: stats.welch(A, B, confidence=c), lambda c: stats.mean_ci(A, c)],
    ids=["welch", "mean_ci"],
)
def test_confidence_is_checked_once_in_python_with_one_message(call):
    with pytest.raises(ValueError, match=r"^confidence must be in \(0, 1\), got 1\.5$"):
        call(1.5)
    with pytest.raises(TypeError, match=r"^confidence must be a number in \(0, 1\), got 'high'$"):
        call("high")


def test_registry_labels_are_what_tables_and_plots_print():
    for registry in (stats.TEST_REGISTRY, stats.CORRECTION_REGISTRY):
        for entry in registry.values():
            assert entry.label and entry.short_label
    assert stats.TEST_REGISTRY["welch"].label == "Welch's t-test"
    assert stats.CORRECTION_REGISTRY["fdr_bh"].short_label == "FDR"


# ---------------------------------------------------------- named results --


@pytest.mark.parametrize("test", TESTS)
def test_public_functions_return_named_results_equal_to_scipy(test):
    result = getattr(stats, test)(A, B)
    assert isinstance(result, stats.TestResult)
    expected = scipy_test(test, A, B)
    assert result.statistic == pytest.approx(float(expected.statistic), rel=1e-12)
    assert result.pvalue == pytest.approx(float(expected.pvalue), rel=1e-10)
    assert result.mean_diff == pytest.approx(np.mean(A) - np.mean(B), rel=1e-12)
    assert result.ci_low < result.ci_high
    if test in ("wilcoxon", "mannwhitney"):
        assert math.isnan(result.df)
        assert result.method == "exact"
    else:
        assert result.df == pytest.approx(float(expected.df), rel=1e-12)
        assert result.method == "t"
    assert stats.TESTS[test] is getattr(stats, test)


def test_effect_size_is_cohens_d_unpaired_and_dz_paired():
    d = stats.cohens_d(A, B)
    dz = stats.cohens_dz(A, B)
    for test in ("welch", "ttest_ind", "mannwhitney"):
        assert getattr(stats, test)(A, B).effect_size == d
    for test in ("ttest_rel", "wilcoxon"):
        assert getattr(stats, test)(A, B).effect_size == dz
    diff = np.subtract(A, B)
    assert dz == pytest.approx(diff.mean() / diff.std(ddof=1), rel=1e-12)


def test_zero_variance_groups_give_signed_infinite_effect_and_undefined_t():
    r = stats.welch([0.5, 0.5, 0.5], [0.7, 0.7, 0.7])
    assert r.effect_size == -math.inf
    assert math.isnan(r.pvalue) and math.isnan(r.statistic) and r.method == "undefined"
    assert stats.ttest_ind([0.7, 0.7], [0.5, 0.5, 0.5]).effect_size == math.inf
    assert stats.ttest_ind([0.7, 0.7], [0.7, 0.7, 0.7]).effect_size == 0.0
    assert stats.ttest_rel([0.5, 0.75, 1.0], [0.25, 0.5, 0.75]).effect_size == math.inf


@pytest.mark.parametrize("test", TESTS)
def test_identical_methods_with_variance_have_p_one(test):
    r = getattr(stats, test)(A, A)
    assert r.pvalue == 1.0
    assert r.mean_diff == 0.0 and r.effect_size == 0.0


@pytest.mark.parametrize("test", ["ttest_rel", "wilcoxon"])
def test_identical_paired_methods_have_p_one_where_scipy_gives_nan(test):
    a = np.linspace(0.6, 0.7, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(scipy_test(test, a, a).pvalue)
    r = getattr(stats, test)(a, a)
    assert (r.statistic, r.pvalue, r.method) == (0.0, 1.0, "identical")


def test_confidence_sets_the_interval_level():
    narrow = stats.welch(A, B, confidence=0.8)
    wide = stats.welch(A, B, confidence=0.99)
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high
    ci = ss.ttest_ind(A, B, equal_var=False).confidence_interval(0.8)
    assert (narrow.ci_low, narrow.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_min_pvalue_answers_the_seed_count_question():
    assert stats.min_pvalue("wilcoxon", 3) == 0.25
    assert stats.min_pvalue("wilcoxon", 6) == 0.03125
    assert stats.min_pvalue("mannwhitney", 3, 3) == pytest.approx(0.1)
    assert stats.min_pvalue("welch", 3, 3) == 0.0
    assert math.isnan(stats.min_pvalue("welch", 1, 3))
    with pytest.raises(ValueError, match="unknown test"):
        stats.min_pvalue("ttest", 3)
    with pytest.raises(ValueError, match="n_a must be a non-negative int"):
        stats.min_pvalue("welch", -1)


def test_tests_release_the_gil_and_agree_across_threads():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(size=40)
    expected = {t: _core.two_sample_test(t, a, b, 0.9) for t in TESTS}
    errors = []

    def work():
        for _ in range(50):
            for t in TESTS:
                got = _core.two_sample_test(t, a, b, 0.9)
                same = np.array_equal(got[:7], expected[t][:7], equal_nan=True)
                if not same or got[7] != expected[t][7]:
                    errors.append(t)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# ------------------------------------------------------------ bad inputs --


@pytest.mark.parametrize("test", TESTS)
def test_nan_scores_are_rejected_with_their_position(test):
    with pytest.raises(ValueError, match=r"b contains NaN at positions \[1\]"):
        getattr(stats, test)([0.1, 0.2, 0.3], [0.1, float("nan"), 0.3])
    with pytest.raises(ValueError, match="NaN or inf"):
        getattr(stats, test)([0.1, math.inf, 0.3], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("test", TESTS)
def test_empty_groups_are_rejected(test):
    with pytest.raises(ValueError, match="a is empty"):
        getattr(stats, test)([], [0.1, 0.2])


@pytest.mark.parametrize("test", ["ttest_rel", "wilcoxon"])
def test_paired_tests_reject_unequal_lengths(test):
    with pytest.raises(ValueError, match="paired test.*got 3 and 2"):
        getattr(stats, test)([0.1, 0.2, 0.3], [0.1, 0.2])


def test_two_dimensional_scores_and_bad_confidence_are_rejected():
    with pytest.raises(ValueError, match="1-d sequence"):
        stats.welch([[0.1, 0.2]], [0.1, 0.2])
    with pytest.raises(ValueError, match="confidence must be in"):
        stats.welch(A, B, confidence=1.0)
    with pytest.raises(TypeError, match="1-d sequence of numbers"):
        stats.welch(["x", "y"], B)


def test_core_rejects_bad_arguments_without_crashing():
    with pytest.raises(ValueError, match="unknown test 'student'"):
        _core.two_sample_test("student", A, B)
    with pytest.raises(TypeError, match="test must be a str"):
        _core.two_sample_test(3, A, B)
    with pytest.raises(ValueError, match=r"a\[1\] is nan"):
        _core.two_sample_test("welch", [1.0, float("nan")], B)
    with pytest.raises(ValueError, match="b is empty"):
        _core.two_sample_test("mannwhitney", A, [])
    with pytest.raises(ValueError, match="confidence must be in"):
        _core.two_sample_test("welch", A, B, 0.0)
    with pytest.raises(ValueError, match="paired"):
        _core.two_sample_test("wilcoxon", A, B[:3])
    with pytest.raises(ValueError):
        _core.signed_rank_counts(-1)
    with pytest.raises(ValueError):
        _core.rank_sum_counts(-1, 3)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown test 'ttest'; valid tests: \['mannwhitney'"):
        stats.compare_scores({"a": A, "b": B}, test="ttest")
    with pytest.raises(ValueError, match=r"unknown correction 'bh'; valid corrections: \['bonferroni', 'fdr_bh', 'holm', 'none'\]"):
        stats.correct([0.1], "bh")
    with pytest.raises(ValueError, match="unknown correction"):
        stats.compare_scores({"a": A, "b": B}, correction="BH")


# ------------------------------------------------------------ corrections --


@pytest.mark.parametrize("method", ["holm", "bonferroni", "fdr_bh", "none"])
def test_corrections_leave_nan_out_of_the_family(method):
    p = [0.01, float("nan"), 0.04, 0.03]
    with_nan = stats.correct(p, method)
    without = stats.correct([0.01, 0.04, 0.03], method)
    assert math.isnan(with_nan[1])
    np.testing.assert_array_equal(with_nan[[0, 2, 3]], without)


def test_corrections_known_values():
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(stats.correct(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    np.testing.assert_allclose(stats.correct(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.correct(p, "fdr_bh"), ss.false_discovery_control(p))
    np.testing.assert_array_equal(stats.correct(p, "none"), p)


def test_corrections_reject_values_outside_unit_interval():
    for method in ("holm", "bonferroni", "fdr_bh", "none"):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            stats.correct([0.2, 1.2], method)


# ------------------------------------------------------- compare_scores --


def three_method_scores():
    rng = np.random.default_rng(4)
    return {
        "base": (0.70 + 0.01 * rng.normal(size=5)).tolist(),
        "better": (0.75 + 0.01 * rng.normal(size=5)).tolist(),
        "same": (0.70 + 0.01 * rng.normal(size=5)).tolist(),
    }


def test_compare_scores_table_columns_and_rows():
    table = stats.compare_scores(three_method_scores())
    assert [c for c in table.columns if c in SPEC_COLUMNS] == SPEC_COLUMNS
    assert {"diff_ci_low", "diff_ci_high", "statistic", "df"} <= set(table.columns)
    assert table[["method_a", "method_b"]].values.tolist() == [
        ["base", "better"], ["base", "same"], ["better", "same"]
    ]
    assert table["significant"].dtype == bool
    assert table["significant"].tolist() == [True, False, True]


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("correction", ["holm", "bonferroni", "fdr_bh", "none"])
def test_compare_scores_rows_equal_the_single_tests_and_correction(test, correction):
    scores = three_method_scores()
    alpha = 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rank tests at 5 seeds are underpowered
        table = stats.compare_scores(scores, test=test, alpha=alpha, correction=correction)
    raw = []
    for row in table.itertuples():
        single = getattr(stats, test)(scores[row.method_a], scores[row.method_b], confidence=1 - alpha)
        assert (row.p_value, row.statistic, row.effect_size) == (single.pvalue, single.statistic, single.effect_size)
        assert (row.diff_ci_low, row.diff_ci_high) == (single.ci_low, single.ci_high)
        raw.append(single.pvalue)
    np.testing.assert_array_equal(table["p_corrected"], stats.correct(raw, correction))
    assert table["significant"].tolist() == [p < alpha for p in table["p_corrected"]]


def test_compare_scores_accepts_dict_dataframe_and_dataset_alike():
    scores = three_method_scores()
    from_dict = stats.compare_scores(scores, test="ttest_rel")
    tidy = pd.DataFrame(
        [{"method": m, "seed": s, "metric": "score", "value": v} for m, vals in scores.items() for s, v in enumerate(vals)]
    )
    shuffled = tidy.sample(frac=1.0, random_state=0)  # pairing follows the seed column
    from_frame = stats.compare_scores(shuffled, test="ttest_rel")
    dataset = xr.Dataset(
        {"score": (("method", "seed"), np.array(list(scores.values())))},
        coords={"method": list(scores), "seed": range(5)},
    )
    from_dataset = stats.compare_scores(dataset, test="ttest_rel")
    columns = ["p_value", "statistic", "diff_ci_low", "effect_size"]
    by_pair = lambda t: t.sort_values(["method_a", "method_b"])[columns].to_numpy()  # noqa: E731
    np.testing.assert_array_equal(by_pair(from_dict), by_pair(from_dataset))
    np.testing.assert_array_equal(by_pair(from_dict), by_pair(from_frame))


def test_compare_scores_dataframe_without_seed_column_uses_row_order():
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "value": A[:3] + B[:3]})
    table = stats.compare_scores(frame)
    assert table["p_value"].iloc[0] == stats.welch(A[:3], B[:3]).pvalue
    assert table["metric"].iloc[0] == "score"


def test_compare_scores_matches_benchmark_result_comparisons():
    conf = {
        "a": np.array([[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]]),
        "b": np.array([[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = BenchmarkResult.from_confusion(conf, task="segmentation")
        again = stats.compare_scores(result.data)
    pd.testing.assert_frame_equal(
        result.comparisons.reset_index(drop=True), again.reset_index(drop=True), check_like=False
    )


@pytest.mark.parametrize(
    "scores, match",
    [
        ({"a": [0.1, float("nan"), 0.2], "b": [0.1, 0.2]}, r"scores\['a'\] contains NaN at positions \[1\]"),
        ({"a": [], "b": [0.1, 0.2]}, r"scores\['a'\] is empty"),
        ({"a": [0.1, 0.2]}, "need at least two methods"),
        (pd.DataFrame({"method": ["a"], "score": [0.1]}), r"missing \['value'\]"),
        (
            pd.DataFrame({"method": ["a", "b"], "seed": [0, 0], "value": [0.1, float("nan")]}),
            "NaN or inf, first at method='b', seed=0",
        ),
        (
            pd.DataFrame({"method": ["a", "a"], "seed": [0, 0], "value": [0.1, 0.2]}),
            "more than one score for method='a', seed=0",
        ),
        (xr.Dataset({"x": (("run",), [1.0])}), r"dims \(method, seed\)"),
    ],
)
def test_compare_scores_bad_input(scores, match):
    with pytest.raises(ValueError, match=match):
        stats.compare_scores(scores)


def test_compare_scores_rejects_other_types():
    with pytest.raises(TypeError, match="mapping, a tidy DataFrame"):
        stats.compare_scores([[0.1, 0.2], [0.3, 0.4]])


# ------------------------------------------------------- degenerate rules --


def test_one_seed_gives_nan_never_significant_with_a_warning():
    with pytest.warns(UserWarning, match="at least two seeds"):
        table = stats.compare_scores({"a": [0.9], "b": [0.1, 0.2, 0.3]})
    row = table.iloc[0]
    assert math.isnan(row.p_value) and math.isnan(row.p_corrected) and not row.significant


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy on a constant sample
@pytest.mark.parametrize("test", TESTS)
def test_constant_method_against_varying_ones_is_tested_as_scipy_does(test):
    # this used to pin the old masking (NaN + a warning per constant method);
    # a constant method against a varying one is a well-defined test
    scores = {"a": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], "b": [0.1, 0.2, 0.3, 0.25, 0.15, 0.22], "c": [0.3, 0.2, 0.1, 0.4, 0.35, 0.33]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = stats.compare_scores(scores, test=test)
    assert not any("not tested" in str(w.message) for w in caught)
    assert (table["note"] == "").all()
    for _, row in table.iterrows():
        expected = scipy_test(test, scores[row.method_a], scores[row.method_b])
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-8)
        assert row.statistic == pytest.approx(expected.statistic, rel=1e-8)


@pytest.mark.parametrize("test", TESTS)
def test_identical_methods_get_p_one_in_the_table(test):
    a = [0.61, 0.64, 0.62, 0.66, 0.65, 0.6, 0.63]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = stats.compare_scores({"a": a, "b": list(a)}, test=test)
    assert table["p_value"].tolist() == [1.0]
    assert not table["significant"].any()


@pytest.mark.parametrize("test", ["ttest_rel", "wilcoxon"])
def test_paired_test_on_unequal_seed_counts_raises(test):
    with pytest.raises(ValueError, match=f"test='{test}' is paired.*'a': 3, 'b': 2"):
        stats.compare_scores({"a": [0.1, 0.2, 0.3], "b": [0.1, 0.2]}, test=test)
    # unpaired tests take them
    stats.compare_scores({"a": [0.1, 0.2, 0.3], "b": [0.1, 0.25]}, test="welch")


def test_paired_test_on_different_seeds_raises():
    frame = pd.DataFrame(
        {"method": ["a", "a", "b", "b"], "seed": [0, 1, 1, 2], "value": [0.1, 0.2, 0.3, 0.4]}
    )
    with pytest.raises(ValueError, match="different seeds"):
        stats.compare_scores(frame, test="ttest_rel")


def test_check_design():
    stats.check_design("wilcoxon", {"a": 4, "b": 4})
    stats.check_design("mannwhitney", {"a": 4, "b": 7})
    with pytest.raises(ValueError, match="same seeds"):
        stats.check_design("ttest_rel", {"a": 4, "b": 7})


def test_paired_test_with_unequal_seeds_fails_before_any_model_runs():
    import torch

    from mushin import compare

    calls = []

    class Model(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            return torch.zeros(x.shape[0], 2, *x.shape[2:])

    data = [(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))]
    methods = {"a": [Model(), Model(), Model()], "b": [Model(), Model()]}
    with pytest.raises(ValueError, match="test='ttest_rel' is paired"):
        compare(methods, data, task="segmentation", num_classes=2, test="ttest_rel")
    assert calls == []


def test_reanalysing_unequal_seeds_with_a_paired_test_raises():
    conf = {
        "a": np.array([[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]]),
        "b": np.array([[[5, 5], [4, 6]], [[6, 4], [5, 5]]]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = BenchmarkResult.from_confusion(conf, task="segmentation")
    with pytest.raises(ValueError, match="is paired"):
        result.reanalyze(test="wilcoxon")


# --------------------------------------------------- underpowered warning --


def underpowered_warnings(caught):
    return [w for w in caught if "cannot reach p <" in str(w.message)]


def test_wilcoxon_with_three_seeds_warns_once_with_best_p_and_advice():
    frame = pd.DataFrame(
        [
            {"method": m, "seed": s, "metric": metric, "value": 0.5 + 0.1 * i + 0.01 * s + 0.001 * j}
            for i, m in enumerate(["a", "b", "c"])
            for s in range(3)
            for j, metric in enumerate(["miou", "dice", "pixel_acc"])
        ]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = stats.compare_scores(frame, test="wilcoxon")
    found = underpowered_warnings(caught)
    assert len(found) == 1  # once per run, not per metric or pair
    message = str(found[0].message)
    assert "test='wilcoxon'" in message and "3 seeds per method" in message
    assert "smallest p-value it can return is 0.25" in message
    assert "test='ttest_rel'" in message and "at least 6 seeds" in message
    assert found[0].category is UserWarning
    assert (table["p_value"] >= 0.25).all()


def test_mannwhitney_underpowered_warning_suggests_welch_and_seed_count():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats.compare_scores({"a": [0.1, 0.2, 0.3], "b": [0.5, 0.6, 0.7, 0.8]}, test="mannwhitney")
    (found,) = underpowered_warnings(caught)
    message = str(found.message)
    assert "3 and 4 seeds" in message and "0.0571" in message
    assert "test='welch'" in message and "at least 4 seeds" in message


@pytest.mark.parametrize("test, seeds", [("welch", 3), ("ttest_ind", 2), ("ttest_rel", 3), ("wilcoxon", 6), ("mannwhitney", 4)])
def test_no_underpowered_warning_when_alpha_is_reachable(test, seeds):
    rng = np.random.default_rng(seeds)
    scores = {"a": rng.normal(size=seeds).tolist(), "b": rng.normal(size=seeds).tolist()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats.compare_scores(scores, test=test)
    assert underpowered_warnings(caught) == []


def test_underpowered_warning_follows_alpha():
    scores = {"a": [0.1, 0.2, 0.3, 0.4], "b": [0.5, 0.6, 0.7, 0.8]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats.compare_scores(scores, test="wilcoxon", alpha=0.2)  # best p 0.125 < 0.2
        assert underpowered_warnings(caught) == []
        stats.compare_scores(scores, test="wilcoxon", alpha=0.1)
        assert len(underpowered_warnings(caught)) == 1
