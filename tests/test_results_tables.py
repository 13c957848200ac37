"""HTML, LaTeX and markdown tables of small results built from hand-made confusion matrices.

Expected numbers come from scipy (Student-t interval half-widths, Welch
p-values) and Holm's adjustment written out here, never from mushin.
"""
from __future__ import annotations

import math
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest
import scipy.stats

from mushin import BenchmarkResult
from mushin.metrics.tasks import Task, get_task, with_direction


def accuracy(counts, ignore_index=None):
    counts = np.asarray(counts, dtype=float)
    return float(np.trace(counts) / counts.sum())


def error(counts, ignore_index=None):
    return 1.0 - accuracy(counts)


accuracy.higher_is_better = True  # each metric declares its own direction
error.higher_is_better = False

# "ece" here is simply the error rate, declared lower-is-better
TASK = Task({"acc": accuracy, "ece": error}, get_task("segmentation").predict_fn, name="tables-test")

# pixel accuracies: base 0.8/0.9/0.7, new_1 1.0/0.9/1.0, worse 0.5/0.6/0.5
CONF = {
    "base": [[[4, 1], [1, 4]], [[5, 0], [1, 4]], [[4, 1], [2, 3]]],
    "new_1": [[[5, 0], [0, 5]], [[5, 0], [1, 4]], [[5, 0], [0, 5]]],
    "worse": [[[3, 2], [3, 2]], [[3, 2], [2, 3]], [[2, 3], [2, 3]]],
}
ACC = {"base": [0.8, 0.9, 0.7], "new_1": [1.0, 0.9, 1.0], "worse": [0.5, 0.6, 0.5]}


@pytest.fixture(scope="module")
def result():
    return BenchmarkResult.from_confusion(CONF, task=TASK)


def _half(values, confidence=0.95):
    values = np.asarray(values, dtype=float)
    return scipy.stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)


def _holm(p):
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    adjusted = np.minimum(np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]), 1.0)
    out = np.empty_like(p)
    out[order] = adjusted
    return out


def _significant_vs_base(values):
    """Holm over the three pairs of one metric; which methods differ from base."""
    pairs = [("base", "new_1"), ("base", "worse"), ("new_1", "worse")]
    p = [scipy.stats.ttest_ind(values[a], values[b], equal_var=False).pvalue for a, b in pairs]
    adjusted = dict(zip(pairs, _holm(p)))
    return {m: adjusted[("base", m)] < 0.05 for m in ("new_1", "worse")}


def test_hand_computed_accuracies_are_what_the_result_holds(result):
    for method, values in ACC.items():
        np.testing.assert_allclose(result.scores("acc", method), values, atol=1e-15)


def test_markdown_table(result):
    lines = result.to_markdown().splitlines()
    sig = _significant_vs_base(ACC)
    err = {m: [1.0 - v for v in vals] for m, vals in ACC.items()}
    sig_err = _significant_vs_base(err)
    assert sig == sig_err == {"new_1": False, "worse": True}  # the case this test is built for

    def cell(values, best, dagger):
        mean = f"{np.mean(values):.3f}"
        return (f"**{mean}**" if best else mean) + f" ± {_half(values):.3f}" + (" †" if dagger else "")

    assert lines[0] == "| method | acc ↑ | ece ↓ |"
    assert lines[1] == "|:---|---:|---:|"
    assert lines[2] == f"| base (ref) | {cell(ACC['base'], False, False)} | {cell(err['base'], False, False)} |"
    assert lines[3] == f"| new\\_1 | {cell(ACC['new_1'], True, False)} | {cell(err['new_1'], True, False)} |"
    assert lines[4] == f"| worse | {cell(ACC['worse'], False, True)} | {cell(err['worse'], False, True)} |"
    assert lines[2] == "| base (ref) | 0.800 ± 0.248 | 0.200 ± 0.248 |"
    assert lines[5] == ""
    assert lines[6] == (
        "Mean ± half-width of the 95% confidence interval over 3 seeds; best per metric in bold; "
        "† significantly different from base (Welch's t-test, Holm correction, α = 0.05)."
    )


def test_markdown_respects_reference_digits_and_alpha(result):
    text = result.reanalyze(alpha=0.1, correction="none").to_markdown(reference="new_1", digits=2)
    lines = text.splitlines()
    p_base = scipy.stats.ttest_ind(ACC["new_1"], ACC["base"], equal_var=False).pvalue
    assert lines[3].startswith("| new\\_1 (ref) | **0.97** ± " + f"{_half(ACC['new_1'], 0.9):.2f}")
    assert p_base < 0.1  # significant at alpha 0.1, not at 0.05
    assert lines[2] == f"| base | 0.80 ± {_half(ACC['base'], 0.9):.2f} † | 0.20 ± {_half(ACC['base'], 0.9):.2f} † |"
    assert "90% confidence interval" in text and "no correction, α = 0.1)" in text
    assert "different from new\\_1" in text


def test_lower_is_better_follows_the_metrics_declared_direction():
    # formerly monkeypatched a global LOWER_IS_BETTER set; the direction now
    # comes from the battery entry (here "acc" declared lower-is-better)
    task = Task(
        {"acc": with_direction(accuracy, False), "ece": with_direction(error, True)},
        get_task("segmentation").predict_fn,
        name="tables-test-acc-lower",
    )
    result = BenchmarkResult.from_confusion(CONF, task=task)
    assert result.directions == {"acc": False, "ece": True}
    assert accuracy.higher_is_better is True  # the shared function is left alone
    lines = result.to_markdown().splitlines()
    assert lines[0] == "| method | acc ↓ | ece ↑ |"
    assert lines[4].startswith("| worse | **0.533**")
    assert "**" not in lines[3].split("|")[2]


def test_ties_at_the_printed_precision_are_all_bold():
    conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]]], "b": [[[9, 1], [1, 9]], [[8, 2], [1, 9]]]}
    text = BenchmarkResult.from_confusion(conf, task=TASK).to_markdown()
    assert text.splitlines()[2].count("**") == 4 and text.splitlines()[3].count("**") == 4
    assert "over 2 seeds" in text


def test_uneven_seed_counts_are_stated():
    conf = {"a": CONF["base"], "b": CONF["new_1"][:2]}
    text = BenchmarkResult.from_confusion(conf, task=TASK).to_markdown()
    assert "over 2-3 seeds" in text


def test_latex_table(result):
    tex = result.to_latex(label="tab:main", caption="Pixel accuracy.")
    lines = tex.splitlines()
    half = {m: f"{_half(v):.3f}" for m, v in ACC.items()}
    assert lines[0] == r"\begin{table}[t]"
    assert lines[2] == (
        r"\caption{Pixel accuracy. Mean $\pm$ half-width of the 95\% confidence interval over 3 seeds; "
        r"best per metric in bold; $^\dagger$ significantly different from base (Welch's t-test, "
        r"Holm correction, $\alpha$ = 0.05).}"
    )
    assert lines[3] == r"\label{tab:main}"
    assert lines[4] == r"\begin{tabular}{lcc}"
    assert lines[6] == r"Method & acc $\uparrow$ & ece $\downarrow$ \\"
    assert lines[8] == rf"base (ref) & 0.800 $\pm$ {half['base']} & 0.200 $\pm$ {half['base']} \\"
    assert lines[9] == (
        rf"new\_1 & \textbf{{0.967}} $\pm$ {half['new_1']} & \textbf{{0.033}} $\pm$ {half['new_1']} \\"
    )
    assert lines[10] == (
        rf"worse & 0.533 $\pm$ {half['worse']}$^\dagger$ & 0.467 $\pm$ {half['worse']}$^\dagger$ \\"
    )
    assert lines[5] == r"\toprule" and lines[7] == r"\midrule" and lines[11] == r"\bottomrule"
    assert lines[-1] == r"\end{table}"


def test_latex_escapes_special_characters():
    conf = {"a&b_%#": CONF["base"], "x~^{}$\\": CONF["new_1"]}
    tex = BenchmarkResult.from_confusion(conf, task=TASK).to_latex()
    assert r"a\&b\_\%\# (ref) &" in tex
    assert r"x\textasciitilde{}\textasciicircum{}\{\}\$\textbackslash{} &" in tex


class _Cells(HTMLParser):
    """Collects the table cells' text, which of them are bold, and dagger titles."""

    def __init__(self):
        super().__init__()
        self.rows, self.bold, self.titles, self.caption = [], [], [], ""
        self._in_cell = self._in_b = False
        self._depth_div = 0

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._in_cell = True
            self.rows[-1].append("")
        elif tag == "b":
            self._in_b = True
        elif tag == "span" and dict(attrs).get("title"):
            self.titles.append(dict(attrs)["title"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False
        elif tag == "b":
            self._in_b = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data
            if self._in_b:
                self.bold.append((len(self.rows) - 1, len(self.rows[-1]) - 1))
        else:
            self.caption += data


def test_html_table(result):
    parser = _Cells()
    parser.feed(result._repr_html_())
    half = {m: f"{_half(v):.4f}" for m, v in ACC.items()}
    assert parser.rows[0] == ["method", "acc ↑", "ece ↓"]
    assert parser.rows[1] == ["base (ref)", f"0.8000 ± {half['base']}", f"0.2000 ± {half['base']}"]
    assert parser.rows[2] == ["new_1", f"0.9667 ± {half['new_1']}", f"0.0333 ± {half['new_1']}"]
    assert parser.rows[3] == ["worse", f"0.5333 ± {half['worse']} †", f"0.4667 ± {half['worse']} †"]
    assert parser.bold == [(2, 1), (2, 2)]
    p = [scipy.stats.ttest_ind(ACC[a], ACC[b], equal_var=False).pvalue
         for a, b in [("base", "new_1"), ("base", "worse"), ("new_1", "worse")]]
    assert parser.titles == [f"p_corrected = {_holm(p)[1]:.3g}"] * 2
    assert "BenchmarkResult" in parser.caption and "task tables-test" in parser.caption
    assert "3 methods" in parser.caption and "3 seeds" in parser.caption
    assert "Welch's t-test, Holm correction, α = 0.05" in parser.caption


def test_html_escapes_method_names():
    conf = {"<b>x</b>": CONF["base"], "y&z": CONF["new_1"]}
    html = BenchmarkResult.from_confusion(conf, task=TASK)._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "y&amp;z" in html


def test_repr_names_settings_methods_and_marks(result):
    text = repr(result)
    assert text.splitlines()[0] == (
        "BenchmarkResult(task='tables-test', methods=3, seeds=3, test='welch', correction='holm', alpha=0.05)"
    )
    assert "worse" in text and "*" in text.splitlines()[4]
    assert "significant vs 'base'" in text


def test_digits_are_checked(result):
    with pytest.raises(ValueError, match="digits must be an int"):
        result.to_markdown(digits=-1)
    with pytest.raises(ValueError, match="digits must be an int"):
        result.to_latex(digits=2.5)


def test_single_seed_cells_have_no_half_width():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BenchmarkResult.from_confusion({"a": CONF["base"][:1], "b": CONF["new_1"][:1]}, task=TASK)
    lines = r.to_markdown().splitlines()
    assert lines[2] == "| a (ref) | 0.800 | 0.200 |"
    # an untested pair reads "(n/a)" with its reason in the caption, never a blank
    assert lines[3] == "| b | **1.000** (n/a) | **0.000** (n/a) |"
    assert "over 1 seed;" in r.to_markdown()
    assert "(n/a) not tested: b vs a on acc, ece: one seed." in r.to_markdown()
