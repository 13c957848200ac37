"""A Task's battery may be upstream's battery function,
``battery(num_classes, ignore_index) -> {name: metric}``: a custom task can
bring any metric, and compare() evaluates what the function builds for the
run's num_classes and ignore_index.  Values are checked against torchmetrics
run by hand on the same models and data."""
from __future__ import annotations

import pytest
import torch
import torchmetrics
from torch import nn

from mushin import compare
from mushin.metrics.tasks import (
    Task,
    get_task,
    passthrough_predict,
    regression_battery,
    resolve_battery,
)


def _regression_models():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(60, 3, generator=g)
    y = x @ torch.tensor([0.5, 1.0, -1.5]) + 0.3 * torch.randn(60, generator=g)
    data = [(x[i : i + 20], y[i : i + 20]) for i in range(0, 60, 20)]
    torch.manual_seed(2)
    methods = {name: [nn.Sequential(nn.Linear(3, 1), nn.Flatten(0)) for _ in range(3)] for name in ("a", "b")}
    return methods, data


def _values(result, metric, method, n):
    return [float(result.data[metric].sel({"method": method, "seed": seed})) for seed in range(n)]


def _by_hand(models, data, make):
    out = []
    for model in models:
        metric = make()
        with torch.no_grad():
            for x, y in data:
                metric.update(model(x), y)
        out.append(float(metric.compute()))
    return out


def test_a_battery_function_brings_any_torchmetrics_metric():
    def battery(num_classes=None, ignore_index=None):
        return {"explained_variance": torchmetrics.ExplainedVariance(), "log_mse": torchmetrics.MeanSquaredLogError()}

    task = Task(battery, passthrough_predict, requires_num_classes=False, name="custom-regression")
    assert task.metrics == ("explained_variance", "log_mse")
    methods, data = _regression_models()
    # log-MSE needs non-negative values: shift both sides
    data = [(x, y.abs()) for x, y in data]
    methods = {k: [nn.Sequential(m, nn.ReLU()) for m in v] for k, v in methods.items()}
    result = compare(methods, data, task=task, test="welch", progress=False)
    assert result.metrics == ["explained_variance", "log_mse"]
    for name, make in (("explained_variance", torchmetrics.ExplainedVariance),
                       ("log_mse", torchmetrics.MeanSquaredLogError)):
        for method, models in methods.items():
            want = _by_hand(models, data, make)
            got = _values(result, name, method, len(models))
            assert got == pytest.approx(want, rel=1e-6, abs=1e-9), (name, method)


def test_upstream_battery_helper_as_the_battery_matches_the_builtin_task():
    task = Task(regression_battery, passthrough_predict, requires_num_classes=False, name="regression-by-function")
    assert task.metrics == get_task("regression").metrics
    methods, data = _regression_models()
    ours = compare(methods, data, task=task, test="welch", progress=False)
    builtin = compare(methods, data, task="regression", test="welch", progress=False)
    for name in builtin.metrics:
        for method, models in methods.items():
            assert _values(ours, name, method, len(models)) == _values(builtin, name, method, len(models))
    for method, models in methods.items():
        want = _by_hand(models, data, torchmetrics.MeanSquaredError)
        assert _values(ours, "mse", method, len(models)) == pytest.approx(want, rel=1e-6)


def test_resolve_battery_builds_for_the_runs_classes():
    seen = []

    def battery(num_classes, ignore_index):
        seen.append((num_classes, ignore_index))
        return {"acc": torchmetrics.classification.MulticlassAccuracy(num_classes or 2, ignore_index=ignore_index)}

    task = Task(battery, get_task("classification").predict_fn, prob_metrics=(), name="per-run")
    built, probs = resolve_battery(task, num_classes=7, ignore_index=3)
    assert seen == [(7, 3)] and probs == ()
    assert built["acc"].num_classes == 7 and built["acc"].ignore_index == 3
    # reading the task as a mapping builds it once with both left as None
    assert task.metrics == ("acc",) and seen == [(7, 3), (None, None)]


def test_a_battery_function_that_returns_no_mapping_is_refused():
    task = Task(lambda num_classes, ignore_index: ["mse"], passthrough_predict, requires_num_classes=False, name="bad")
    with pytest.raises(TypeError, match=r"task 'bad': battery\(None, None\) returned list; a battery function returns a dict"):
        task.metrics
    with pytest.raises(TypeError, match=r"prob_metrics must be a list of metric names, got int"):
        Task(regression_battery, passthrough_predict, prob_metrics=3, name="bad-probs")


def test_task_takes_upstreams_positional_order():
    # upstream: Task(battery, predict_fn, prob_metrics, requires_num_classes, description, update_fn)
    task = Task(regression_battery, passthrough_predict, frozenset(), False, "regression, upstream's way", None)
    assert task.metrics == get_task("regression").metrics
    assert (task.requires_num_classes, task.description, task.update_fn, task.prob_metrics) == (
        False, "regression, upstream's way", None, ())
    with pytest.raises(TypeError, match=r"Task takes upstream's order.*name='old-style'"):
        Task("old-style", {"mse": regression_battery()["mse"]}, passthrough_predict)
