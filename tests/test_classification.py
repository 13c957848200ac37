"""task="classification", the task registry and custom metric batteries."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassCalibrationError

import mushin
import torch_threads
from mushin import BenchmarkResult, Task, compare, get_task, list_tasks, register_task
from mushin.metrics.tasks import StreamingMetric, calibration_bins, macro_f1, metric_kind, miou, roc_scores
from synthetic_batches import classification_batches

NUM_CLASSES = 4


@pytest.fixture(autouse=True)
def one_torch_thread():
    with torch_threads.one_torch_thread():
        yield


@pytest.fixture
def data():
    return classification_batches(4, 16, 6, NUM_CLASSES, seed=0)


@pytest.fixture
def methods():
    torch.manual_seed(0)
    return {
        "a": [nn.Linear(6, NUM_CLASSES) for _ in range(3)],
        "b": [nn.Linear(6, NUM_CLASSES) for _ in range(3)],
    }


def _quiet_compare(*args, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("test", "welch")  # the test these cases were written for (compare's default was welch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(*args, **kwargs)


def test_classification_is_registered_with_its_battery():
    assert {"classification", "segmentation"} <= set(list_tasks())
    task = get_task("classification")
    assert task.metrics == ("accuracy", "f1", "precision", "recall", "auroc", "ece")
    assert task.prob_metrics == ("auroc", "ece")
    assert get_task("segmentation").prob_metrics == ()
    assert [metric_kind(task.battery[m]) for m in task.metrics] == ["confusion"] * 4 + ["factory"] * 2


def test_compare_classification_gives_every_metric_per_seed(methods, data):
    result = _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES)
    assert result.metrics == ["accuracy", "f1", "precision", "recall", "auroc", "ece"]
    for metric in result.metrics:
        values = result.data[metric].values
        assert values.shape == (2, 3) and np.isfinite(values).all()
    assert result.confusion.shape == (2, 3, NUM_CLASSES, NUM_CLASSES)
    assert set(result.comparisons["metric"]) == set(result.metrics)


def test_builtin_battery_equals_the_same_torchmetrics_objects_as_a_custom_battery(methods, data):
    ours = _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES)
    custom = _quiet_compare(
        methods,
        data,
        task="classification",
        num_classes=NUM_CLASSES,
        metrics={
            "acc": MulticlassAccuracy(NUM_CLASSES, average="micro"),
            "auroc": MulticlassAUROC(NUM_CLASSES, average="macro", thresholds=None),
            "ece": MulticlassCalibrationError(NUM_CLASSES, n_bins=15, norm="l1"),
        },
        prob_metrics=["auroc", "ece"],
    )
    assert custom.metrics == ["acc", "auroc", "ece"]
    np.testing.assert_allclose(custom.data["acc"].values, ours.data["accuracy"].values, atol=1e-6)
    np.testing.assert_allclose(custom.data["auroc"].values, ours.data["auroc"].values, atol=1e-6)
    np.testing.assert_allclose(custom.data["ece"].values, ours.data["ece"].values, atol=1e-6)


def test_custom_metric_objects_are_copied_not_mutated(methods, data):
    template = MulticlassAccuracy(NUM_CLASSES, average="micro")
    template.update(torch.tensor([0, 1]), torch.tensor([0, 0]))  # state the caller holds
    _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES, metrics={"acc": template})
    assert float(template.compute()) == 0.5


def test_names_outside_prob_metrics_receive_predictions(methods, data):
    seen = []

    class Recorder:
        def __init__(self):
            self.n = 0

        def update(self, inputs, target):
            seen.append((inputs.dtype, tuple(inputs.shape), tuple(target.shape)))

        def compute(self):
            return 0.0

        def reset(self):
            pass

    _quiet_compare(
        {"a": methods["a"][:1]},
        data[:1],
        task="classification",
        num_classes=NUM_CLASSES,
        metrics={"preds": Recorder(), "probs": Recorder()},
        prob_metrics=("probs",),
    )
    assert seen == [(torch.int64, (16,), (16,)), (torch.float32, (16, NUM_CLASSES), (16,))]


def test_custom_battery_can_mix_confusion_functions_and_streaming_entries(methods, data):
    result = _quiet_compare(
        methods,
        data,
        task="classification",
        num_classes=NUM_CLASSES,
        metrics={"f1": macro_f1, "auroc": StreamingMetric(roc_scores)},
        prob_metrics=["auroc"],
    )
    builtin = _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES)
    np.testing.assert_array_equal(result.data["f1"].values, builtin.data["f1"].values)
    np.testing.assert_array_equal(result.data["auroc"].values, builtin.data["auroc"].values)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"prob_metrics": ["auroc"]}, ValueError, "prob_metrics= names entries of a custom metrics= battery"),
        ({"metrics": {"f1": macro_f1}, "prob_metrics": ["auroc"]}, ValueError, r"prob_metrics \['auroc'\] are not in its battery"),
        ({"metrics": {"f1": macro_f1}, "prob_metrics": ["f1"]}, ValueError, "functions of the confusion matrix and cannot take probabilities"),
        ({"metrics": {"x": 3}}, TypeError, "metric 'x' is a int"),
        ({"metrics": {}}, ValueError, "non-empty battery"),
        ({"metrics": {"f1": macro_f1}, "prob_metrics": "f1"}, TypeError, "prob_metrics must be a list"),
    ],
)
def test_bad_battery_arguments_raise_before_any_model_runs(data, kwargs, error, message):
    calls = []

    def model(x):
        calls.append(1)
        return torch.zeros(x.shape[0], NUM_CLASSES)

    with pytest.raises(error, match=message):
        compare({"a": [model]}, data, task="classification", num_classes=NUM_CLASSES, **kwargs)
    assert calls == []


def test_predict_fn_without_probabilities_names_the_metrics(methods, data):
    def preds_twice(model, x):
        preds = model(x).argmax(-1)
        return preds, preds

    with pytest.raises(TypeError, match=r"batch 0: metric\(s\) \['auroc', 'ece'\] take probabilities.*torch.int64"):
        _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES, predict_fn=preds_twice)


def test_predict_fn_returning_logits_as_probabilities_is_rejected(methods, data):
    def logits_as_probs(model, x):
        logits = model(x) * 10
        return logits.argmax(-1), logits

    with pytest.raises(ValueError, match=r"batch 0, metric 'auroc': .*outside \[0, 1\].*not logits"):
        _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES, predict_fn=logits_as_probs)


def test_probabilities_of_the_wrong_shape_are_rejected(methods, data):
    def wrong_shape(model, x):
        logits = model(x)
        return logits.argmax(-1), logits.softmax(-1)[:, :2]

    with pytest.raises(ValueError, match=r"batch 0: probabilities of shape \(16, 2\) .* expected \(16, 4\)"):
        _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES, predict_fn=wrong_shape)


def test_labels_out_of_range_are_rejected(methods):
    bad = [(torch.randn(4, 6), torch.tensor([0, 1, 7, 2]))]
    with pytest.raises(ValueError, match=r"target holds 1 value outside \[0, 4\)"):
        _quiet_compare(methods, bad, task="classification", num_classes=NUM_CLASSES)


def test_logits_with_the_wrong_number_of_classes_are_rejected(data):
    with pytest.raises(ValueError, match=r"3 classes in dim -1, but num_classes=4"):
        _quiet_compare({"a": [nn.Linear(6, 3)]}, data, task="classification", num_classes=NUM_CLASSES)


@pytest.mark.parametrize("ignore_index", [255, 2, -100])
def test_ignore_index_drops_samples_from_every_metric(methods, data, ignore_index):
    g = torch.Generator().manual_seed(1)
    with_ignored, without = [], []
    for x, y in data:
        y = y.clone()
        y[torch.rand(y.shape, generator=g) < 0.3] = ignore_index
        kept = y != ignore_index
        with_ignored.append((x, y))
        without.append((x[kept], y[kept]))
    ours = _quiet_compare(methods, with_ignored, task="classification", num_classes=NUM_CLASSES, ignore_index=ignore_index)
    dropped = _quiet_compare(methods, without, task="classification", num_classes=NUM_CLASSES)
    for metric in ours.metrics:
        np.testing.assert_allclose(ours.data[metric].values, dropped.data[metric].values, atol=1e-12)
    # an ignore_index inside the class range leaves that class without
    # positives: torchmetrics scores it 0 and keeps it in the macro AUROC
    tm = MulticlassAUROC(NUM_CLASSES, average="macro", thresholds=None, ignore_index=ignore_index)
    model = methods["a"][0]
    with torch.no_grad():
        for x, y in with_ignored:
            tm.update(model(x).softmax(-1), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ours.data["auroc"].values[0, 0] == pytest.approx(float(tm.compute()), abs=1e-6)


def test_from_confusion_keeps_only_the_confusion_metrics(methods, data):
    result = _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES)
    again = BenchmarkResult.from_confusion(
        {m: result.confusion.sel({"method": m}).values for m in result.methods}, task="classification"
    )
    assert again.metrics == ["accuracy", "f1", "precision", "recall"]
    for metric in again.metrics:
        np.testing.assert_array_equal(again.data[metric].values, result.data[metric].values)


def test_model_returning_a_dict_needs_a_predict_fn(data):
    with pytest.raises(TypeError, match="pass predict_fn"):
        _quiet_compare({"a": [lambda x: {"out": torch.zeros(x.shape[0], 4)}]}, data, task="classification", num_classes=4)


def test_custom_metric_must_compute_one_number(methods, data):
    per_class = MulticlassAccuracy(NUM_CLASSES, average="none")
    with pytest.raises(TypeError, match=r"metric 'acc': compute\(\) returned Tensor"):
        _quiet_compare(methods, data, task="classification", num_classes=NUM_CLASSES, metrics={"acc": per_class})


def test_register_a_task_with_a_streaming_and_a_torchmetrics_entry(methods, data):
    task = Task(
        battery={
            "accuracy": get_task("classification").battery["accuracy"],
            "ece_10": StreamingMetric(lambda c, ignore: calibration_bins(c, ignore, n_bins=10)),
            "top2": MulticlassAccuracy(NUM_CLASSES, top_k=2, average="micro"),
        },
        predict_fn=get_task("classification").predict_fn,
        prob_metrics=("ece_10", "top2"),
        class_dim=-1,
        name="topk-classification",
    )
    register_task(task.name, task, overwrite=True)
    try:
        result = _quiet_compare(methods, data, task="topk-classification", num_classes=NUM_CLASSES)
    finally:
        mushin.metrics.tasks._REGISTRY.pop("topk-classification")
    assert result.metrics == ["accuracy", "ece_10", "top2"]
    assert (result.data["top2"].values >= result.data["accuracy"].values - 1e-7).all()
    tm = MulticlassCalibrationError(NUM_CLASSES, n_bins=10, norm="l1")
    model = methods["b"][2]
    with torch.no_grad():
        for x, y in data:
            tm.update(model(x).softmax(-1), y)
    assert result.data["ece_10"].values[1, 2] == pytest.approx(float(tm.compute()), abs=1e-6)


@pytest.mark.parametrize(
    "battery, prob_metrics, error, message",
    [
        ({"miou": miou}, ("miou",), ValueError, "functions of the confusion matrix"),
        ({"miou": miou}, ("auroc",), ValueError, r"prob_metrics \['auroc'\] are not in its battery"),
        ({"miou": "miou"}, (), TypeError, "metric 'miou' is a str"),
    ],
)
def test_task_validates_its_battery(battery, prob_metrics, error, message):
    with pytest.raises(error, match=message):
        Task(battery, get_task("segmentation").predict_fn, prob_metrics=prob_metrics, name="bad")


def test_streaming_metric_needs_a_callable_factory():
    with pytest.raises(TypeError, match="StreamingMetric.make must be callable"):
        StreamingMetric(42)


def test_segmentation_never_computes_probabilities(monkeypatch):
    # its prob_metrics is empty, so the default predict_fn skips the softmax
    called = []
    real_softmax = torch.Tensor.softmax
    monkeypatch.setattr(torch.Tensor, "softmax", lambda self, *a, **k: called.append(1) or real_softmax(self, *a, **k))
    data = [(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)))]
    _quiet_compare({"a": [nn.Conv2d(3, 3, 1)]}, data, task="segmentation", num_classes=3)
    assert called == []
