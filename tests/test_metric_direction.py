"""Direction lives on the metric (issue 10, point 3).

Every battery entry declares ``higher_is_better``; a torchmetrics object's
own attribute is read; a custom metric that declares nothing is computed and
shown, but ranking, bold "best" cells and gates refuse to guess.  The
direction travels in the result and survives save/load.
"""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats as ss  # noqa: E402
import torch  # noqa: E402

import mushin.result  # noqa: E402
from mushin import BenchmarkResult, compare  # noqa: E402
from mushin.metrics.tasks import (  # noqa: E402
    StreamingMetric,
    Task,
    accuracy,
    calibration_bins,
    get_task,
    metric_direction,
    with_direction,
)
from mushin.testing import GateFailed, assert_better, assert_not_worse  # noqa: E402

N = 1000


def _accuracy(counts, ignore_index=None):
    counts = np.asarray(counts, dtype=float)
    return float(np.trace(counts) / counts.sum())


def _error(counts, ignore_index=None):
    return 1.0 - _accuracy(counts)


def _conf(scores):
    return {m: [[[round(v * N), N - round(v * N)], [0, 0]] for v in values] for m, values in scores.items()}


# "sharp" has the lower error (the better model on a lower-is-better metric)
ERR = {"sharp": [0.10, 0.12, 0.11, 0.09], "blunt": [0.20, 0.22, 0.19, 0.21]}
ACC = {m: [1 - v for v in values] for m, values in ERR.items()}


@pytest.fixture(scope="module")
def lower_result():
    task = Task(
        {"acc": with_direction(_accuracy, True), "err": with_direction(_error, False)},
        get_task("segmentation").predict_fn,
        name="direction-test",
    )
    return BenchmarkResult.from_confusion(_conf(ACC), task=task)


@pytest.fixture(scope="module")
def undeclared_result():
    task = Task({"acc": with_direction(_accuracy, True), "err": _error},
                get_task("segmentation").predict_fn, name="direction-undeclared")
    return BenchmarkResult.from_confusion(_conf(ACC), task=task)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------ declaring --


def test_every_built_in_metric_declares_its_direction():
    for name in ("segmentation", "classification"):
        directions = {m: metric_direction(e, m) for m, e in get_task(name).battery.items()}
        assert None not in directions.values(), (name, directions)
    assert metric_direction(get_task("classification").battery["ece"]) is False
    assert metric_direction(get_task("classification").battery["auroc"]) is True
    assert metric_direction(get_task("segmentation").battery["miou"]) is True


def test_the_global_registry_is_gone():
    assert not hasattr(mushin.result, "LOWER_IS_BETTER")
    assert not callable(getattr(mushin.result, "higher_is_better", None))


def test_torchmetrics_objects_carry_their_own_direction():
    from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

    assert metric_direction(MulticlassCalibrationError(3)) is False
    assert metric_direction(MulticlassAccuracy(3)) is True
    torch.manual_seed(0)
    x = torch.randn(40, 4)
    y = torch.randint(0, 3, (40,))
    models = {m: [torch.nn.Linear(4, 3) for _ in range(3)] for m in ("p", "q")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compare(
            models, [(x, y)], task="classification", num_classes=3, progress=False,
            metrics={"acc": accuracy, "cal": MulticlassCalibrationError(3, n_bins=5)},
            prob_metrics=["cal"], test="welch",
        )
    assert result.directions == {"acc": True, "cal": False}
    assert result.to_markdown().splitlines()[0] == "| method | acc ↑ | cal ↓ |"


def test_with_direction_leaves_the_original_alone():
    declared = with_direction(accuracy, False)
    assert metric_direction(declared) is False and metric_direction(accuracy) is True
    assert declared(np.array([[3, 1], [0, 4]]), None) == accuracy(np.array([[3, 1], [0, 4]]), None)
    stream = StreamingMetric(calibration_bins)
    assert metric_direction(stream) is None
    assert metric_direction(with_direction(stream, False)) is False and stream.higher_is_better is None


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_a_direction_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="higher_is_better must be True, False or None"):
        StreamingMetric(calibration_bins, higher_is_better=bad)

    def metric(counts, ignore_index=None):
        return 0.0

    metric.higher_is_better = bad
    with pytest.raises(TypeError, match=r"metric 'brier': higher_is_better must be True, False or None"):
        Task({"brier": metric}, get_task("segmentation").predict_fn, name="bad-direction")


# ------------------------------------------- a lower-is-better metric --


def test_lower_is_better_metric_is_ranked_bolded_and_gated_correctly(lower_result):
    r = lower_result
    assert r.directions == {"acc": True, "err": False}
    assert r.rank("err") == ["sharp", "blunt"] and r.rank("acc") == ["sharp", "blunt"]
    lines = r.to_markdown().splitlines()
    assert lines[0] == "| method | acc ↑ | err ↓ |"
    err_cells = {line.split("|")[1].strip(): line.split("|")[3] for line in lines[2:4]}
    assert err_cells["sharp (ref)"].strip().startswith("**0.105**")  # the lower error is bold
    assert "**" not in err_cells["blunt"]
    assert r"err $\downarrow$" in r.to_latex() and "err &darr;" in r.to_html()
    assert r.plot("err").get_title() == "err ↓"
    # the gate certifies the lower error, never the higher one
    gate = assert_better(r, "sharp", "blunt", "err")
    assert gate.higher_is_better is False
    oracle = ss.ttest_ind(r.scores("err", "sharp"), r.scores("err", "blunt"), equal_var=False, alternative="less")
    assert gate.p_value == pytest.approx(oracle.pvalue, rel=1e-8)
    with pytest.raises(GateFailed, match="lower is better"):
        assert_better(r, "blunt", "sharp", "err")
    with pytest.raises(GateFailed):
        assert_not_worse(r, "blunt", "sharp", "err", margin=0.01)


def test_readme_custom_task_marks_ece_10_lower_is_better():
    from mushin import register_task

    task = Task(
        name="calibrated-classification-test",
        battery={
            "accuracy": accuracy,
            "ece_10": StreamingMetric(lambda c, ignore: calibration_bins(c, ignore, n_bins=10),
                                      higher_is_better=False),
        },
        predict_fn=get_task("classification").predict_fn,
        prob_metrics=("ece_10",),
        class_dim=-1,
    )
    register_task(task.name, task, overwrite=True)
    torch.manual_seed(1)
    x = torch.randn(200, 4)
    y = (x[:, 0] > 0).long()

    def model(scale):
        layer = torch.nn.Linear(4, 2)
        with torch.no_grad():
            layer.weight.zero_()
            layer.bias.zero_()
            layer.weight[1, 0] = scale  # same argmax, different confidence
        return layer

    methods = {"calm": [model(s) for s in (1.0, 1.2, 1.4)], "overconfident": [model(s) for s in (40, 50, 60)]}
    result = compare(methods, [(x, y)], task=task.name, num_classes=2, progress=False, test="welch")
    ece = {m: result.scores("ece_10", m).mean() for m in methods}
    better = min(ece, key=ece.get)
    worse = max(ece, key=ece.get)
    assert result.rank("ece_10") == [better, worse]
    lines = result.to_markdown().splitlines()
    assert lines[0] == "| method | accuracy ↑ | ece\\_10 ↓ |"
    row = {line.split("|")[1].strip().replace(" (ref)", ""): line.split("|")[3] for line in lines[2:4]}
    assert row[better].strip().startswith("**") and "**" not in row[worse]
    assert assert_better(result, better, worse, "ece_10").higher_is_better is False
    with pytest.raises(GateFailed):
        assert_better(result, worse, better, "ece_10")


# --------------------------------------------- an undeclared direction --


def test_undeclared_metric_is_computed_and_shown(undeclared_result):
    r = undeclared_result
    assert r.directions == {"acc": True, "err": None}
    assert r.scores("err", "sharp") == pytest.approx(ERR["sharp"])
    assert len(r.summary()) == 4 and "err" in repr(r)
    text = r.to_markdown(bold_best=False)
    assert text.splitlines()[0] == "| method | acc ↑ | err |" and "**" not in text
    partial = r.to_markdown(bold_best=None)  # bold only where declared
    assert partial.count("**") == 2
    assert "err" in r._repr_html_()
    assert r.plot("err").get_title() == "err"


@pytest.mark.parametrize(
    "action",
    [
        lambda r: r.to_markdown(),
        lambda r: r.to_latex(),
        lambda r: r.to_html(),
        lambda r: r.rank("err"),
        lambda r: r.higher_is_better("err"),
        lambda r: assert_better(r, "sharp", "blunt", "err"),
        lambda r: assert_not_worse(r, "sharp", "blunt", "err"),
    ],
    ids=["markdown", "latex", "html", "rank", "higher_is_better", "assert_better", "assert_not_worse"],
)
def test_undeclared_metric_refuses_to_be_ranked_bolded_or_gated(undeclared_result, action):
    with pytest.raises(ValueError, match=r"metric 'err' does not declare whether higher is better.*"
                                         r"higher_is_better=False"):
        action(undeclared_result)


def test_gate_override_works_without_a_declaration(undeclared_result):
    gate = assert_better(undeclared_result, "sharp", "blunt", "err", higher_is_better=False)
    assert gate.higher_is_better is False and gate.p_value < 0.05


# ------------------------------------------------------ in the result --


def test_direction_survives_save_load_and_reanalyze(lower_result, tmp_path):
    r = lower_result
    assert r.settings["higher_is_better"] == {"acc": True, "err": False}
    assert r.data["err"].attrs["higher_is_better"] == 0 and r.data["acc"].attrs["higher_is_better"] == 1
    loaded = BenchmarkResult.load(r.save(tmp_path / "saved"))
    assert loaded.directions == {"acc": True, "err": False}
    assert loaded.to_markdown() == r.to_markdown()
    assert r.reanalyze(test="mannwhitney").directions == r.directions


def test_direction_does_not_depend_on_the_metric_name():
    # a metric called "ece" that declares higher-is-better is read as such
    task = Task({"ece": with_direction(_accuracy, True)},
                get_task("segmentation").predict_fn, name="direction-by-entry")
    r = BenchmarkResult.from_confusion(_conf(ACC), task=task)
    assert r.directions == {"ece": True} and r.rank("ece") == ["sharp", "blunt"]
