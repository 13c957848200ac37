"""The pytest plugin (mushin.pytest_plugin), run through pytester as a user's suite would run it.

Each test writes a small test module that builds a candidate result from
confusion counts, runs pytest on it (once or several times) and checks the
outcome, the stored baseline file and the report.  The gate's numbers are
checked against scipy's one-sided Welch test on IoUs computed here by hand.
"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from mushin import BenchmarkResult, pytest_plugin

pytest_plugins = ["pytester"]

# four seeds of a two-class segmenter; WORSE loses about ten points of IoU
GOOD = [
    [[90, 10], [8, 92]],
    [[88, 12], [9, 91]],
    [[91, 9], [10, 90]],
    [[89, 11], [7, 93]],
]
WORSE = [
    [[80, 20], [18, 82]],
    [[79, 21], [20, 80]],
    [[82, 18], [19, 81]],
    [[78, 22], [17, 83]],
]

# pytester's in-process runs drop every module first imported during a run,
# and re-importing torch, or importlib_metadata (which dask, imported by
# xarray, hooks into sys.meta_path), breaks the process; build one result
# here so that all of them are imported before the first run.
BenchmarkResult.from_confusion({"warm-up": GOOD})

TEST_MODULE = """
from mushin import BenchmarkResult

COUNTS = {counts!r}

def test_unet_keeps_miou(mushin_baseline):
    result = BenchmarkResult.from_confusion({{"unet": COUNTS}}, task={task!r}, test="welch")
    mushin_baseline.assert_not_worse(result, "miou", margin=0.02)
"""

BASELINE = Path("mushin_baselines") / "test_model" / "test_unet_keeps_miou.json"


def _plugin_args() -> list:
    """Load the plugin by name unless an installed entry point already loads it."""
    installed = [ep for ep in metadata.entry_points(group="pytest11") if ep.value == "mushin.pytest_plugin"]
    return [] if installed else ["-p", "mushin.pytest_plugin"]


def _run(pytester, counts, *args, task="segmentation"):
    pytester.makepyfile(test_model=TEST_MODULE.format(counts=counts, task=task))
    return pytester.runpytest(*_plugin_args(), *args)


def _failed_output(run) -> str:
    """The output of a run whose one test failed."""
    run.assert_outcomes(failed=1)
    return run.stdout.str()


def _edit_stored_baseline(pytester, edit, *, checksum: bool) -> None:
    """Store GOOD's baseline (its first run fails, saying so), then change the file with ``edit``.

    With ``checksum`` the edited file is made consistent again, as another
    mushin version would have written it; without, it is a hand edit.
    """
    _run(pytester, GOOD).assert_outcomes(failed=1)
    path = pytester.path / BASELINE
    stored = json.loads(path.read_text())
    edit(stored)
    if checksum:
        stored["checksum"] = pytest_plugin._checksum(stored)
    path.write_text(json.dumps(stored))


def _miou(counts) -> np.ndarray:
    """Mean IoU per seed, tp / (tp + fp + fn) averaged over the classes (independent of mushin)."""
    c = np.asarray(counts, dtype=float)
    tp = np.diagonal(c, axis1=1, axis2=2)
    iou = tp / (c.sum(axis=2) + c.sum(axis=1) - tp)
    return iou.mean(axis=1)


def _no_internals(output: str) -> None:
    assert "Traceback" not in output
    assert "pytest_plugin.py" not in output and "mushin/testing.py" not in output
    assert "_BaselineProblem" not in output and "GateFailed" not in output


def test_first_run_stores_the_baseline_and_says_so(pytester):
    output = _failed_output(_run(pytester, GOOD))
    assert "no stored baseline for test_unet_keeps_miou" in output
    assert "Commit that file and run again" in output
    _no_internals(output)
    stored = json.loads((pytester.path / BASELINE).read_text())
    assert stored["confusion"] == GOOD
    assert stored["method"] == "unet" and stored["settings"]["task"] == "segmentation"
    assert stored["classes"] == [0, 1]
    np.testing.assert_allclose(stored["scores"]["miou"], _miou(GOOD), rtol=1e-12)
    # diffable: one matrix row per line
    assert "      [90, 10]," in (pytester.path / BASELINE).read_text()


def test_second_run_passes_an_equal_model_and_fails_a_worse_one(pytester):
    _run(pytester, GOOD).assert_outcomes(failed=1)  # stores
    _run(pytester, GOOD).assert_outcomes(passed=1)
    output = _failed_output(_run(pytester, WORSE))
    assert "'unet' is not shown to be no worse than 'baseline' on 'miou'" in output
    assert f"baseline: {BASELINE}" in output
    _no_internals(output)
    # the reported test is scipy's one-sided Welch test on the shifted candidate
    expected = scipy.stats.ttest_ind(_miou(WORSE) + 0.02, _miou(GOOD), equal_var=False, alternative="greater")
    line = next(line for line in output.splitlines() if "one-sided Welch" in line)
    assert f"t = {expected.statistic:.4g}," in line and f"p = {expected.pvalue:.4g}" in line
    # the stored baseline is untouched by a failing run
    assert json.loads((pytester.path / BASELINE).read_text())["confusion"] == GOOD


def test_update_option_refreshes_the_baseline(pytester):
    _run(pytester, GOOD).assert_outcomes(failed=1)
    run = _run(pytester, WORSE, "--mushin-update-baselines")
    run.assert_outcomes(passed=1)
    assert "mushin baselines written" in run.stdout.str()
    assert json.loads((pytester.path / BASELINE).read_text())["confusion"] == WORSE
    _run(pytester, WORSE).assert_outcomes(passed=1)  # now the bar is the worse model


def test_a_better_model_passes_assert_better(pytester):
    pytester.makepyfile(
        test_better="""
from mushin import BenchmarkResult

def test_gate(mushin_baseline):
    counts = __import__("json").loads(open("counts.json").read())
    result = BenchmarkResult.from_confusion({"unet": counts}, test="welch")
    mushin_baseline.assert_better(result, "miou", name="miou")
"""
    )
    pytester.path.joinpath("counts.json").write_text(json.dumps(WORSE))
    pytester.runpytest(*_plugin_args()).assert_outcomes(failed=1)
    assert (pytester.path / "mushin_baselines" / "test_better" / "test_gate--miou.json").exists()
    pytester.path.joinpath("counts.json").write_text(json.dumps(GOOD))
    pytester.runpytest(*_plugin_args()).assert_outcomes(passed=1)
    pytester.path.joinpath("counts.json").write_text(json.dumps(WORSE))
    run = pytester.runpytest(*_plugin_args())
    run.assert_outcomes(failed=1)
    assert "'unet' is not shown to be better than 'baseline' on 'miou'" in run.stdout.str()


def test_a_hand_edited_baseline_is_refused(pytester):
    def slip_in(stored):
        stored["confusion"][0][0] = [99, 1]  # a better-looking baseline, slipped in by hand

    _edit_stored_baseline(pytester, slip_in, checksum=False)
    output = _failed_output(_run(pytester, GOOD))
    assert "was changed after mushin stored it" in output and "--mushin-update-baselines" in output
    _no_internals(output)


def test_a_stale_baseline_names_what_changed(pytester):
    _run(pytester, GOOD).assert_outcomes(failed=1)
    three = [[[50, 5, 5], [4, 50, 6], [3, 3, 54]]] * 2 + [[[52, 4, 4], [5, 49, 6], [4, 2, 54]]] * 2
    output = _failed_output(_run(pytester, three))
    assert "stale baseline" in output and "classes: stored [0, 1], now [0, 1, 2]" in output
    _no_internals(output)
    output = _failed_output(_run(pytester, GOOD, task="classification"))
    assert "task: stored 'segmentation', now 'classification'" in output
    assert "metric battery: stored" in output


def test_a_baseline_from_an_incompatible_version_is_refused(pytester):
    def from_the_future(stored):
        stored.update(format_version=pytest_plugin.FORMAT_VERSION + 1, mushin_version="9.0.0")

    _edit_stored_baseline(pytester, from_the_future, checksum=True)
    output = _failed_output(_run(pytester, GOOD))
    assert "stored by mushin 9.0.0 in baseline format 2" in output and "incompatible version" in output
    _no_internals(output)


def test_changed_metric_definitions_make_a_baseline_stale(pytester):
    # an internally consistent file whose stored scores are not what this mushin derives
    def shift_score(stored):
        stored["scores"]["miou"][0] += 0.01

    _edit_stored_baseline(pytester, shift_score, checksum=True)
    assert "derives 'miou' from the stored confusion matrices as" in _failed_output(_run(pytester, GOOD))


def test_a_metric_without_confusion_matrices_cannot_be_gated(pytester):
    pytester.makepyfile(
        test_streamed="""
from mushin import BenchmarkResult

def test_gate(mushin_baseline):
    result = BenchmarkResult.from_confusion({"unet": %r})
    mushin_baseline.assert_not_worse(result, "auroc")
""" % (GOOD,)
    )
    pytester.runpytest(*_plugin_args()).assert_outcomes(failed=1)  # stores
    run = pytester.runpytest(*_plugin_args())
    run.assert_outcomes(failed=1)
    assert "no metric 'auroc'; the metrics a stored baseline can gate here are" in run.stdout.str()


def test_a_result_with_several_methods_needs_method(pytester):
    pytester.makepyfile(
        test_two="""
from mushin import BenchmarkResult

def test_gate(mushin_baseline):
    result = BenchmarkResult.from_confusion({"a": %r, "b": %r})
    mushin_baseline.assert_not_worse(result, "miou")
""" % (GOOD, WORSE)
    )
    run = pytester.runpytest(*_plugin_args())
    run.assert_outcomes(failed=1)
    assert "the result has methods ['a', 'b']; say which one to gate with method=..." in run.stdout.str()
    assert not (pytester.path / "mushin_baselines").exists()


def test_entry_point_is_named_after_the_module():
    # pytest skips `-p NAME` when a plugin of that name is registered, so with the
    # entry point named after the module, `-p mushin.pytest_plugin` (pyproject's
    # addopts, user suites) cannot register the plugin a second time
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    entry_points = pyproject["project"]["entry-points"]["pytest11"]
    assert entry_points == {"mushin.pytest_plugin": "mushin.pytest_plugin"}
