"""Degenerate seed scores get the verdict the test really gives (issue 10, point 2).

A method that scores the same on every seed against one that varies is an
ordinary test: every p-value here comes from scipy.  Only two constant
methods are untested, and every view says "n/a" and why, never a blank.
"""
from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats as ss  # noqa: E402

import mushin.stats as stats  # noqa: E402
from mushin import BenchmarkResult  # noqa: E402
from mushin.metrics.tasks import Task, get_task, with_direction  # noqa: E402
from mushin.testing import GateFailed, assert_better, assert_not_worse  # noqa: E402
from stat_oracles import accuracy, scipy_test  # noqa: E402

TESTS = ["welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney"]
N = 1000  # pixels per confusion matrix: scores are exact multiples of 1/N

# the case: a deterministic 1x1-conv baseline and a method that varies
BASELINE = [0.107, 0.107, 0.107]
OTHER = [0.41, 0.45, 0.48]

pytestmark = pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy on constants


TASK = Task(
    {"acc": with_direction(accuracy, True), "acc2": with_direction(accuracy, True)},
    get_task("segmentation").predict_fn,
    name="degenerate-test",
)


def _result(scores, **kwargs):
    """A result whose per-seed 'acc' (and 'acc2') are exactly ``scores[method]``."""
    conf = {m: [[[round(v * N), N - round(v * N)], [0, 0]] for v in values] for m, values in scores.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BenchmarkResult.from_confusion(conf, task=TASK, **kwargs)


# --------------------------------------------- constant against varying --


@pytest.mark.parametrize("test", TESTS)
def test_constant_baseline_against_a_varying_method_matches_scipy(test):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = stats.compare_scores({"other": OTHER, "baseline": BASELINE}, test=test, correction="none")
    assert not [w for w in caught if "not tested" in str(w.message)]
    row = table.iloc[0]
    expected = scipy_test(test, OTHER, BASELINE)
    assert row.note == ""
    assert row.p_value == pytest.approx(expected.pvalue, rel=1e-8)
    assert row.statistic == pytest.approx(expected.statistic, rel=1e-8)
    assert row.significant == (expected.pvalue < 0.05)


@pytest.mark.parametrize("test", TESTS)
def test_constant_baseline_in_a_result_matches_scipy_for_every_test(test):
    result = _result({"baseline": BASELINE, "other": OTHER}, test=test)
    a, b = result.scores("acc", "baseline"), result.scores("acc", "other")
    assert a.tolist() == BASELINE and np.allclose(b, OTHER, atol=0)
    expected = scipy_test(test, a, b)
    comp = result.comparisons
    assert (comp["note"] == "").all()
    assert comp["p_value"].to_numpy() == pytest.approx([expected.pvalue] * 2, rel=1e-8)
    assert comp["statistic"].to_numpy() == pytest.approx([expected.statistic] * 2, rel=1e-8)


def test_constant_baseline_gate_agrees_with_the_comparisons_table():
    result = _result({"baseline": BASELINE, "other": OTHER}, correction="none")
    row = result.comparisons.iloc[0]
    welch = ss.ttest_ind(OTHER, BASELINE, equal_var=False)
    assert row.method_a == "baseline" and row.significant
    assert row.p_value == pytest.approx(welch.pvalue, rel=1e-8)
    gate = assert_better(result, "other", "baseline", "acc")
    one_sided = ss.ttest_ind(OTHER, BASELINE, equal_var=False, alternative="greater").pvalue
    assert gate.p_value == pytest.approx(one_sided, rel=1e-8)
    # the gate's one-sided p is the table's two-sided p halved (good side)
    assert gate.p_value == pytest.approx(row.p_value / 2, rel=1e-12)
    # the same verdict: significant at alpha <=> the gate passes at alpha / 2
    for alpha in (0.001, 0.005, 0.01, 0.05):
        table = result.reanalyze(alpha=alpha, correction="none").comparisons.iloc[0]
        try:
            assert_better(result, "other", "baseline", "acc", alpha=alpha / 2)
            passed = True
        except GateFailed:
            passed = False
        assert passed == bool(table.significant), alpha
    with pytest.raises(GateFailed):
        assert_better(result, "baseline", "other", "acc")
    assert assert_not_worse(result, "other", "baseline", "acc").p_value == pytest.approx(one_sided, rel=1e-8)


# ------------------------------------------------------- both constant --


@pytest.mark.parametrize("test", TESTS)
def test_both_constant_and_different_is_untested_with_its_reason(test):
    scores = {"a": [0.2, 0.2, 0.2], "b": [0.5, 0.5, 0.5], "c": [0.3, 0.35, 0.4], "d": [0.7, 0.7, 0.7]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = stats.compare_scores(scores, test=test)
    untested = table[table["note"] != ""]
    assert sorted(zip(untested.method_a, untested.method_b)) == [("a", "b"), ("a", "d"), ("b", "d")]
    assert (untested["note"] == "n/a: no variance on either side").all()
    assert untested[["p_value", "p_corrected", "statistic", "diff_ci_low"]].isna().all().all()
    assert not untested["significant"].any()
    assert untested["mean_diff"].to_numpy() == pytest.approx([-0.3, -0.5, -0.2])
    # the tested pairs match scipy, and the correction family leaves the n/a ones out
    tested = table[table["note"] == ""]
    raw = [scipy_test(test, scores[r.method_a], scores[r.method_b]).pvalue for r in tested.itertuples()]
    assert tested["p_value"].to_numpy() == pytest.approx(raw, rel=1e-8)
    assert tested["p_corrected"].to_numpy() == pytest.approx(stats.correct(raw, "holm"), rel=1e-12)
    # one warning for the metric, naming every untested pair and the reason
    messages = [str(w.message) for w in caught if "not tested" in str(w.message)]
    assert len(messages) == 1
    assert "3 of 6 comparison(s)" in messages[0] and "no variance on either side" in messages[0]
    assert "'a' vs 'b'" in messages[0] and "'b' vs 'd'" in messages[0]


@pytest.mark.parametrize("test", TESTS)
def test_both_constant_and_equal_gives_p_one(test):
    table = stats.compare_scores({"a": [0.4] * 6, "b": [0.4] * 6}, test=test)
    assert table["p_value"].tolist() == [1.0] and table["note"].tolist() == [""]
    assert not table["significant"].any()


@pytest.mark.parametrize("test", TESTS)
def test_identical_varying_methods_give_p_one(test):
    values = [0.61, 0.64, 0.62, 0.66]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rank tests are underpowered at 4 seeds
        table = stats.compare_scores({"a": values, "b": list(values)}, test=test)
    assert table["p_value"].tolist() == [1.0] and table["note"].tolist() == [""]


@pytest.fixture(scope="module")
def both_constant():
    return _result({"base": [0.2, 0.2, 0.2], "flat": [0.5, 0.5, 0.5], "vary": [0.6, 0.65, 0.7]})


def test_both_constant_shows_na_in_comparisons_and_summary(both_constant):
    comp = both_constant.comparisons.set_index(["metric", "method_a", "method_b"])
    assert comp.loc[("acc", "base", "flat"), "note"] == "n/a: no variance on either side"
    assert comp.loc[("acc", "base", "vary"), "note"] == ""
    summary = both_constant.summary().set_index(["method", "metric"])
    assert summary.loc[("flat", "acc"), "significant_vs_ref"] == "n/a"
    assert summary.loc[("flat", "acc"), "note"] == "n/a: no variance on either side"
    assert summary.loc[("vary", "acc"), "significant_vs_ref"] == "*"
    assert summary.loc[("vary", "acc"), "note"] == ""
    assert summary.loc[("base", "acc"), "significant_vs_ref"] == ""  # the reference itself
    text = repr(both_constant)
    assert "0.5000 ± 0.0000 n/a" in text
    assert "n/a = not tested: flat vs 'base' on acc, acc2: no variance on either side" in text.replace(
        "vs base", "vs 'base'"
    )


def test_both_constant_shows_na_in_markdown(both_constant):
    text = both_constant.to_markdown()
    lines = text.splitlines()
    assert lines[3] == "| flat | 0.500 ± 0.000 (n/a) | 0.500 ± 0.000 (n/a) |"
    assert lines[4] == "| vary | **0.650** ± 0.124 † | **0.650** ± 0.124 † |"
    assert "(n/a) not tested: flat vs base on acc, acc2: no variance on either side." in text


def test_both_constant_shows_na_in_latex(both_constant):
    tex = both_constant.to_latex()
    assert r"flat & 0.500 $\pm$ 0.000 (n/a) & 0.500 $\pm$ 0.000 (n/a) \\" in tex
    assert "(n/a) not tested: flat vs base on acc, acc2: no variance on either side." in tex


def test_both_constant_shows_na_in_html(both_constant):
    for html in (both_constant.to_html(), both_constant._repr_html_()):
        assert html.count('<span title="n/a: no variance on either side">(n/a)</span>') == 2
        assert "(n/a) not tested: flat vs base on acc, acc2: no variance on either side." in html


def test_both_constant_shows_na_in_the_plot(both_constant):
    ax = both_constant.plot("acc")
    texts = [t.get_text() for t in ax.texts]
    na = [t for t in texts if t.startswith("n/a")]
    assert len(na) == 1 and "no variance" in na[0] and "either side" in na[0]
    assert any(t.startswith("p=") for t in texts)  # the tested pair keeps its p-value
    fig = both_constant.plot()
    assert sum(t.get_text().startswith("n/a") for a in fig.axes for t in a.texts) == 2
    plt.close("all")


def test_one_seed_shows_na_everywhere_with_one_warning_per_metric():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = BenchmarkResult.from_confusion(
            {"a": [[[9, 1], [1, 9]]], "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]]], "c": [[[5, 5], [5, 5]]] * 2},
            task=TASK,
        )
    messages = [str(w.message) for w in caught if "not tested" in str(w.message)]
    assert len(messages) == 2  # one per metric (acc, acc2), not one per pair
    assert all("significance needs at least two seeds" in m for m in messages)
    comp = result.comparisons
    assert (comp[comp.method_a == "a"]["note"] == "n/a: one seed").all()
    assert "(n/a) not tested: b vs a on acc, acc2: one seed." in result.to_markdown()
    summary = result.summary().set_index(["method", "metric"])
    assert summary.loc[("b", "acc"), "significant_vs_ref"] == "n/a"
    texts = [t.get_text() for t in result.plot("acc").texts]
    assert texts.count("n/a:\none seed") == 2
    plt.close("all")


def test_a_test_that_cannot_reach_alpha_names_the_best_p():
    with pytest.warns(UserWarning, match=r"smallest p-value it can return is 0\.25"):
        stats.compare_scores({"a": OTHER, "b": BASELINE}, test="wilcoxon")


# ---------------------------------------------------------------- gates --


def test_gate_on_two_constant_methods_fails_with_the_tables_reason(both_constant):
    for gate in (assert_better, assert_not_worse):
        with pytest.raises(GateFailed, match="n/a: no variance on either side") as info:
            gate(both_constant, "flat", "base", "acc")
        assert math.isnan(info.value.gate.p_value)


def test_gate_on_equal_constants_fails_with_p_one():
    result = _result({"new": [0.8, 0.8, 0.8], "old": [0.8, 0.8, 0.8]})
    assert result.comparisons["p_value"].tolist() == [1.0, 1.0]
    with pytest.raises(GateFailed, match="p = 1: both methods scored the same") as info:
        assert_better(result, "new", "old", "acc")
    assert info.value.gate.p_value == 1.0


def test_gate_on_one_seed_raises_with_the_reason():
    result = _result({"new": [0.8, 0.81, 0.82], "old": [0.5]})
    with pytest.raises(ValueError, match="'old' has 1 finite value.*n/a: one seed"):
        assert_better(result, "new", "old", "acc")


def test_failing_gate_does_not_print_its_own_source(tmp_path):
    suite = tmp_path / "test_gate_failure.py"
    suite.write_text(textwrap.dedent('''
        from mushin import BenchmarkResult
        from mushin.testing import assert_better

        def test_regression():
            conf = {"new": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 4]]],
                    "old": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]]}
            result = BenchmarkResult.from_confusion(conf)
            assert_better(result, "new", "old", "miou")
    '''))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    out = run.stdout
    assert run.returncode == 1 and "GateFailed: 'new' is not shown to be better than 'old'" in out
    assert 'assert_better(result, "new", "old", "miou")' in out  # the user's line
    for gate_source in ("_check_inputs(result", "raise GateFailed(", "two_sample_test(", "def assert_better"):
        assert gate_source not in out, gate_source


# ---------------------------------------------------------- correction --


def test_correct_refuses_a_table_of_families():
    with pytest.raises(ValueError, match=r"pvalues must be 1-d .* got shape \(2, 2\)"):
        stats.correct([[0.01, 0.2], [0.03, 0.04]], "holm")
    rows = [stats.correct(row, "holm") for row in [[0.01, 0.2], [0.03, 0.04]]]
    assert [r.tolist() for r in rows] == [[0.02, 0.2], [0.06, 0.06]]
    with pytest.raises(ValueError, match=re.escape("got shape ()")):
        stats.correct(0.01, "holm")


def test_per_class_plot_marks_untested_classes():
    # class 2 never occurs in "a": its IoU is NaN on every seed, so it is untested
    conf = {
        "a": [[[9, 1, 0], [1, 9, 0], [0, 0, 0]], [[8, 2, 0], [1, 9, 0], [0, 0, 0]], [[9, 1, 0], [2, 8, 0], [0, 0, 0]]],
        "b": [[[5, 5, 0], [4, 6, 0], [0, 1, 4]], [[6, 4, 0], [5, 5, 0], [0, 2, 3]], [[5, 5, 0], [5, 5, 0], [0, 1, 4]]],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = BenchmarkResult.from_confusion(conf)
    table = result.per_class_comparisons("iou")
    assert table["note"].tolist() == ["", "", "n/a: no scores"]
    ax = result.plot_per_class("iou")
    assert [t.get_text() for t in ax.texts if t.get_text() == "n/a"] == ["n/a"]
    assert "n/a = not tested: no scores" in ax.get_xlabel()
    plt.close("all")
