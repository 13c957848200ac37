"""A user's upstream script runs unchanged, with the same answers.

Each case is one of upstream mushin-py's documented uses, written in this
project's own words (tests/_upstream_examples.py builds the inputs from
fixed seeds).  Upstream's answers are data: tests/data/upstream-0.16.0-examples.json,
recorded by running the same builders through mushin-py 0.16.0 in a
scratch virtual environment (the command is in
tests/data/record_upstream_examples.py); upstream is never imported here.

Compared: every per-seed value, upstream's columns of ``comparisons`` and
``summary()`` (first, in its order; mushin adds columns after them) and
their values to 1e-6, and the warnings (same number and category, and the
same facts in the message).
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings

import numpy as np
import pytest
import torchmetrics

import _upstream_examples as ex
from mushin.benchmark import BenchmarkResult, IncompleteSweepError, compare, compare_methods

with open(os.path.join(os.path.dirname(__file__), "data", "upstream-0.16.0-examples.json")) as handle:
    UPSTREAM = json.load(handle)

# Upstream's metric values are torchmetrics' float32; the statistics built on
# them (effect sizes divide by small standard deviations) carry that rounding
# relative to their size, so values are compared to 1e-6 of max(1, |value|).
TOL = 1e-6


def _run(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [(w.category.__name__, str(w.message)) for w in caught]


def _same_value(got, want, where):
    if want is None:  # NaN upstream
        assert got is None or (isinstance(got, float) and math.isnan(got)), f"{where}: {got!r}, upstream NaN"
    elif isinstance(want, float):
        assert isinstance(got, (float, int, np.floating)) and not math.isnan(got), f"{where}: {got!r} vs {want!r}"
        assert abs(float(got) - want) <= TOL * max(1.0, abs(want)), f"{where}: {got!r} vs upstream {want!r}"
    else:
        assert got == want, f"{where}: {got!r} vs upstream {want!r}"


def _same_table(frame, want, what):
    columns = want["columns"]
    assert list(frame.columns[: len(columns)]) == columns, f"{what}: columns {list(frame.columns)}"
    assert len(frame) == len(want["rows"]), f"{what}: {len(frame)} rows, upstream {len(want['rows'])}"
    for i, (row, expected) in enumerate(zip(frame[columns].itertuples(index=False, name=None), want["rows"])):
        for column, got, value in zip(columns, row, expected):
            if isinstance(got, np.bool_):
                got = bool(got)
            _same_value(got, value, f"{what} row {i} {column}")


def _same_data(ds, want, what):
    assert list(ds.data_vars) == list(want), f"{what}: variables {list(ds.data_vars)}, upstream {list(want)}"
    for name, values in want.items():
        np.testing.assert_allclose(ds[name].values, np.array(values, dtype=float), rtol=0, atol=TOL, err_msg=name)


# Upstream's wording differs; each warning must carry the same facts.
_FACTS = [
    (re.compile(r"test='(\w+)' cannot reach alpha=([\d.]+) with (\d+) seeds \(best-case p=([\d.]+)\)"),
     lambda m: [f"test={m[1]!r}", "cannot reach", f"{m[3]} seeds", f"{float(m[4]):.3g}"]),
    (re.compile(r"comparing an incomplete sweep"), lambda m: ["incomplete sweep", "1 run(s) failed"]),
]


def _same_warnings(got, want, what, incomplete=False):
    """``incomplete``: the sweep has a failed run.  Upstream then still counts
    every seed of the grid when it judges what the test can reach; mushin
    counts the seeds each pair completed (e.g. 4, not 5: smallest p 0.125,
    not 0.0625), so only the test and the verdict "cannot reach" must agree,
    and mushin may warn where upstream does not (6 seeds with one failed:
    5 pairs, whose smallest Wilcoxon p is 2 / 2**5 = 0.0625 > 0.05)."""
    if incomplete and len(got) > len(want):
        extra = [m for _, m in got if "cannot reach" in m and not any("cannot reach" in t for _, t in want)]
        for message in extra:
            seeds = [int(n) for n in re.search(r"with (\d+)(?: and (\d+))? seeds", message).groups() if n]
            smallest = float(re.search(r"smallest p-value it can return is ([\d.e-]+)", message)[1])
            if "test='wilcoxon'" in message:  # exact: all paired differences of one sign, two-sided
                assert smallest == pytest.approx(2 / 2 ** min(seeds), rel=1e-3), message
            assert smallest >= 0.05, message
        got = [(c, m) for c, m in got if m not in extra]
    assert [c for c, _ in got] == [c for c, _ in want], f"{what}: warnings {got}, upstream {want}"
    for (_, mine), (_, theirs) in zip(got, want):
        for pattern, facts in _FACTS:
            match = pattern.search(theirs)
            if match:
                expected = facts(match)
                if incomplete and "cannot reach" in expected:
                    expected = expected[:2]
                for fact in expected:
                    assert fact in mine, f"{what}: upstream warned {theirs!r}; ours {mine!r} lacks {fact!r}"
                break
        else:
            raise AssertionError(f"{what}: no rule for upstream's warning {theirs!r}")


def test_classification_with_upstreams_defaults():
    """compare(methods, data, num_classes=3): task classification, Wilcoxon, Holm, as upstream."""
    want = UPSTREAM["classification_defaults"]
    methods, batches = ex.classifiers()
    result, caught = _run(lambda: compare(methods, batches, num_classes=ex.NUM_CLASSES, progress=False))
    _same_data(result.data, want["data"], "data")
    _same_table(result.comparisons, want["comparisons"], "comparisons")
    _same_table(result.summary(), want["summary"], "summary")
    assert result.alpha == want["alpha"]
    # Wilcoxon over 3 seeds cannot reach p < 0.05: both warn
    _same_warnings(caught, want["warnings"], "warnings")


def test_classification_under_welch_at_alpha_0_1_against_another_reference():
    want = UPSTREAM["classification_welch"]
    methods, batches = ex.classifiers()
    result, caught = _run(
        lambda: compare(methods, batches, num_classes=ex.NUM_CLASSES, test="welch", alpha=0.1, progress=False)
    )
    _same_data(result.data, want["data"], "data")
    _same_table(result.comparisons, want["comparisons"], "comparisons")
    _same_table(result.summary(reference="mlp"), want["summary"], "summary")
    assert result.alpha == want["alpha"] == 0.1
    _same_warnings(caught, want["warnings"], "warnings")


def test_segmentation_with_void_pixels():
    want = UPSTREAM["segmentation_void"]
    methods, batches = ex.segmenters()
    result, caught = _run(lambda: compare(methods, batches, task="segmentation", num_classes=ex.NUM_CLASSES,
                                          ignore_index=255, progress=False))
    _same_data(result.data, want["data"], "data")  # only upstream's (method, seed) variables
    _same_table(result.comparisons, want["comparisons"], "comparisons")
    _same_table(result.summary(), want["summary"], "summary")
    _same_warnings(caught, want["warnings"], "warnings")
    assert bool(result.comparisons["significant"].all())  # the 3x3 convolution wins on every metric


def test_a_custom_torchmetrics_battery_needs_no_num_classes():
    want = UPSTREAM["custom_battery_without_num_classes"]
    methods, batches = ex.classifiers()
    battery = {
        "acc": torchmetrics.classification.MulticlassAccuracy(ex.NUM_CLASSES),
        "kappa": torchmetrics.classification.MulticlassCohenKappa(ex.NUM_CLASSES),
    }
    result, caught = _run(lambda: compare(methods, batches, metrics=battery, test="ttest_rel", progress=False))
    _same_data(result.data, want["data"], "data")
    _same_table(result.comparisons, want["comparisons"], "comparisons")
    _same_warnings(caught, want["warnings"], "warnings")


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "fdr_bh", "none"])
@pytest.mark.parametrize("test", ["wilcoxon", "ttest_rel", "welch", "ttest_ind", "mannwhitney"])
def test_compare_methods_on_a_sweeps_scores(test, correction):
    want = UPSTREAM[f"compare_methods_{test}_{correction}"]
    table, caught = _run(lambda: compare_methods(ex.sweep_scores(), test=test, correction=correction))
    _same_table(table, want["comparisons"], f"{test}/{correction}")
    _same_warnings(caught, want["warnings"], "warnings")


def test_a_result_built_from_compare_methods_as_upstream_builds_one():
    ds = ex.sweep_scores()
    result = BenchmarkResult(ds, compare_methods(ds))
    _same_table(result.summary(), UPSTREAM["result_from_compare_methods"]["summary"], "summary")
    _same_table(result.summary(reference="new"), UPSTREAM["result_from_compare_methods"]["summary_new"], "vs new")
    result.alpha = 0.2  # a dataclass field upstream: the CIs follow it
    _same_table(result.summary(), UPSTREAM["result_alpha_0.2"]["summary"], "alpha 0.2")


def test_a_sweep_with_a_failed_run_is_refused_unless_allowed():
    assert UPSTREAM["incomplete_raises"] == "IncompleteSweepError"
    with pytest.raises(IncompleteSweepError, match=r"method=tweak,seed=5"):
        compare_methods(ex.sweep_with_a_failed_run())
    for test in ("wilcoxon", "welch"):
        want = UPSTREAM[f"incomplete_allowed_{test}"]
        table, caught = _run(lambda: compare_methods(ex.sweep_with_a_failed_run(), test=test, allow_incomplete=True))
        _same_table(table, want["comparisons"], f"allow_incomplete {test}")
        _same_warnings(caught, want["warnings"], f"allow_incomplete {test}")


GENERATED = sorted({int(key.split("_")[1]) for key in UPSTREAM if key.startswith("generated_")})


@pytest.mark.parametrize("test", ["wilcoxon", "ttest_rel", "welch", "ttest_ind", "mannwhitney"])
def test_compare_methods_on_generated_sweeps(test):
    """24 generated sweeps (2-4 methods, 3-12 seeds, ties, failed runs) under every test."""
    assert len(GENERATED) == 24
    for index, ds in ex.generated_sweeps():
        want = UPSTREAM[f"generated_{index}_{test}"]
        correction = ["holm", "fdr_bh", "bonferroni", "none"][index % 4]
        table, caught = _run(lambda: compare_methods(ds, test=test, correction=correction, allow_incomplete=True))
        _same_table(table, want["comparisons"], f"sweep {index} {test}/{correction}")
        _same_warnings(caught, want["warnings"], f"sweep {index} {test}", incomplete="mushin_failures" in ds.attrs)
