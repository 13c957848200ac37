"""An upstream user's Study script gives upstream's answers here.

Each scenario of ``_upstream_study_scenario`` calls ``Study`` as upstream
mushin-py 0.16.0's guide does (positional ``methods, load_fn, seeds, data``,
its defaults).  ``_upstream_study_answers.ANSWERS`` holds what upstream
returned for them (recorded with ``tests/upstream_study_oracle.py`` in the
oracle venv; upstream is never imported here).  The same script run with
this package must give the same methods, seeds, metric values (1e-6), the
comparison table's columns and rows (1e-6), and the same warnings.
"""
from __future__ import annotations

import functools
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import _upstream_study_scenario as sc
from _upstream_study_answers import ANSWERS
from mushin import IncompleteSweepError, Study

TOL = 1e-6


def methods(train, kinds, out):
    return {kind: functools.partial(train, kind, out_dir=out) for kind in kinds}


def run(make):
    """(result or exception, the UserWarnings), as the oracle script collected upstream's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome = make().run()
        except Exception as exc:  # compared with upstream's raised exception below
            outcome = exc
    # mushin's warnings point at the caller's line (stacklevel), so they are all the UserWarnings here
    return outcome, [w for w in caught if w.category is UserWarning]


SCENARIOS = {
    "classification_defaults_6_seeds": lambda tmp: Study(
        methods(sc.train_classifier, ["linear", "mlp"], f"{tmp}/c6"), sc.load, [0, 1, 2, 3, 4, 5],
        sc.classification_data(48, seed=7), num_classes=sc.N_CLASSES, working_dir=f"{tmp}/w-c6"),
    "classification_defaults_3_seeds": lambda tmp: Study(
        methods(sc.train_classifier, ["linear", "mlp"], f"{tmp}/c3"), sc.load, [10, 11, 12],
        sc.classification_data(48, seed=7), num_classes=sc.N_CLASSES, working_dir=f"{tmp}/w-c3"),
    "from_checkpoints_welch_bonferroni": lambda tmp: Study.from_checkpoints(
        {kind: [sc.train_classifier(kind, s, f"{tmp}/given") for s in range(5)] for kind in ("linear", "mlp")},
        sc.load, sc.classification_data(48, seed=7), num_classes=sc.N_CLASSES, test="welch",
        correction="bonferroni", alpha=0.1),
    "segmentation_ttest_rel": lambda tmp: Study(
        methods(sc.train_segmenter, ["pointwise", "spatial"], f"{tmp}/s"), sc.load, [0, 1, 2, 3],
        sc.segmentation_data(seed=11), task="segmentation", num_classes=sc.SEG_CLASSES, ignore_index=sc.SEG_VOID,
        test="ttest_rel", working_dir=f"{tmp}/w-s"),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_upstream_study_script_gives_upstreams_values(tmp_path, name):
    expected = ANSWERS[name]
    result, caught = run(lambda: SCENARIOS[name](tmp_path))
    assert not isinstance(result, Exception), result
    data = result.data
    assert data["method"].values.tolist() == expected["methods"]
    assert data["seed"].values.tolist() == expected["seeds"]
    # upstream's variables are the (method, seed) ones, in its order
    assert [v for v, var in data.data_vars.items() if var.dims == ("method", "seed")] == expected["variables"]
    for variable in expected["variables"]:
        np.testing.assert_allclose(data[variable].values, np.array(expected["values"][variable]), rtol=0, atol=TOL,
                                   err_msg=variable)

    # upstream's columns, in upstream's order (mushin adds its own between and after them)
    columns = list(result.comparisons.columns)
    assert [c for c in columns if c in expected["columns"]] == expected["columns"]
    ours = result.comparisons
    theirs = pd.DataFrame(expected["comparisons"])
    assert len(ours) == len(theirs)
    merged = theirs.merge(ours, on=["metric", "method_a", "method_b"], suffixes=("_up", "_ours"), validate="1:1")
    assert len(merged) == len(theirs)
    for column in ("mean_diff", "effect_size", "p_value", "p_corrected"):
        np.testing.assert_allclose(merged[f"{column}_ours"].astype(float), merged[f"{column}_up"].astype(float),
                                   rtol=0, atol=TOL, err_msg=column)
    assert merged["significant_ours"].astype(bool).tolist() == merged["significant_up"].astype(bool).tolist()
    assert_same_warnings(caught, expected["warnings"])


def assert_same_warnings(caught, expected) -> None:
    """The same number of warnings, of the same category, stating the same facts.

    The wording is mushin's own; what must agree are the numbers and names
    upstream's message states about the data (the test, alpha, the seed
    count, the best p-value), before its advice (after the ";"), where
    mushin may suggest another remedy.
    """
    assert [w.category.__name__ for w in caught] == [e["category"] for e in expected], [str(w.message) for w in caught]
    for ours, theirs in zip(caught, expected):
        facts = _facts(theirs["message"])
        assert facts, theirs["message"]
        for fact in facts:
            assert fact in str(ours.message), (fact, str(ours.message))


def _facts(message: str) -> list:
    return re.findall(r"'[a-z_]+'|\d+ seeds|0\.\d+", message.split(";")[0])


def test_three_seed_wilcoxon_warning_states_upstreams_facts():
    # the recorded warning is the one the check above compares against
    (warning,) = ANSWERS["classification_defaults_3_seeds"]["warnings"]
    assert _facts(warning["message"]) == ["'wilcoxon'", "0.05", "3 seeds", "0.25"]


def test_upstream_on_error_nan_script_raises_as_upstream(tmp_path):
    expected = ANSWERS["on_error_nan"]

    def failing(seed):
        if seed == 1:
            raise RuntimeError("diverged")
        return sc.train_classifier("mlp", seed, f"{tmp_path}/f")

    outcome, caught = run(lambda: Study(
        {"linear": functools.partial(sc.train_classifier, "linear", out_dir=f"{tmp_path}/f"), "mlp": failing},
        sc.load, [0, 1, 2], sc.classification_data(48, seed=7), num_classes=sc.N_CLASSES,
        working_dir=f"{tmp_path}/w-f", on_error="nan"))
    assert type(outcome).__name__ == expected["raised"] == "IncompleteSweepError"
    assert [c.__name__ for c in type(outcome).__mro__[1:3]] == expected["bases"]
    assert isinstance(outcome, IncompleteSweepError) and outcome.failed == [("mlp", 1)]
    # upstream: "1 run(s) failed: [<that run>]; grid cells set to NaN." -- the same count and category here,
    # naming the run by method and seed
    (theirs,) = expected["warnings"]
    (ours,) = caught
    assert ours.category.__name__ == theirs["category"]
    assert re.match(r"1 run\(s\) failed", theirs["message"])
    assert re.match(r"1 training run\(s\) failed: \['method=mlp,seed=1'\]", str(ours.message))
    assert np.isnan(outcome.data["accuracy"].values[1, 1])
