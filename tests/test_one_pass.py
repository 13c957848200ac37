"""One pass over the data feeds every model, with the results of one model at a time.

compare() loads each batch once and runs every model on it.  These tests
count how often the data is iterated, check that every variable of the
result (confusion counts, per-class values, AUROC, ECE, regression metrics)
is bit-identical to ``one_pass=False`` (each model over all of the data in
turn, the path of earlier releases), and that each model keeps its own
semantics: eval mode restored, no autograd, its own ``predict_fn`` call,
errors that name its method and seed.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from mushin import compare
from mushin.evaluation import EvalSpec
from synthetic_batches import classification_batches, regression_batches

pytestmark = pytest.mark.filterwarnings("ignore:method .* scored .* on every seed:UserWarning")


class CountingLoader:
    """Re-iterable batches that count how often they are iterated and how many batches they yield."""

    def __init__(self, batches):
        self.batches = batches
        self.iterations = 0
        self.yielded = 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self.iterations += 1
        for batch in self.batches:
            self.yielded += 1
            yield batch


def _segmentation(n_batches=5, num_classes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        y = torch.randint(0, num_classes, (2, 12, 10), generator=g)
        y[torch.rand(y.shape, generator=g) < 0.15] = 255
        out.append((torch.randn(2, 3, 12, 10, generator=g), y))
    return out


def _classification(n_batches=6, num_classes=5, seed=1):
    return classification_batches(n_batches, 16, 8, num_classes, seed)


def _regression(n_batches=5, seed=2):
    return regression_batches(n_batches, 12, [1.0, -2.0, 0.5, 1.5], 0.3, seed)


def _methods(kind, n_seeds=3):
    torch.manual_seed(7)
    make = {
        "segmentation": lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 1)),
        "classification": lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5)),
        "regression": lambda: nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)),
    }[kind]
    return {name: [make() for _ in range(n_seeds)] for name in ("a", "b")}


CASES = {
    "segmentation": (lambda: _segmentation(), dict(task="segmentation", num_classes=6, ignore_index=255)),
    "classification": (lambda: _classification(), dict(task="classification", num_classes=5)),
    "regression": (lambda: _regression(), dict(task="regression")),
}


def _assert_identical(one, many):
    np.testing.assert_array_equal(one.confusion.values, many.confusion.values)
    assert list(one.data.data_vars) == list(many.data.data_vars)
    for name in one.data.data_vars:
        np.testing.assert_array_equal(one.data[name].values, many.data[name].values, err_msg=name)
    assert list(one.per_class) == list(many.per_class)
    for name in one.per_class:
        np.testing.assert_array_equal(one.per_class[name].values, many.per_class[name].values, err_msg=name)
    assert one.metrics == many.metrics


@pytest.mark.parametrize("case", list(CASES))
def test_the_loader_is_iterated_once_per_compare_and_each_model_sees_every_batch(case):
    make_data, kwargs = CASES[case]
    methods = _methods(case)
    loader = CountingLoader(make_data())
    calls = []

    def predict(model, x):
        calls.append(id(model))
        out = model(x)
        if case == "regression":
            return out, out
        return out.argmax(1), out.softmax(1)

    compare(methods, loader, predict_fn=predict, progress=False, **kwargs)
    assert loader.iterations == 1 and loader.yielded == len(loader.batches)
    models = [m for seeds in methods.values() for m in seeds]
    # predict_fn is called once per model and batch, model after model within a batch
    assert calls == [id(m) for _ in loader.batches for m in models]

    again = CountingLoader(make_data())
    compare(methods, again, predict_fn=predict, progress=False, one_pass=False, **kwargs)
    assert again.iterations == len(models)


@pytest.mark.parametrize("case", list(CASES))
def test_one_pass_is_bit_identical_to_one_model_at_a_time(case):
    make_data, kwargs = CASES[case]
    methods, data = _methods(case), make_data()
    one = compare(methods, data, progress=False, **kwargs)
    many = compare(methods, data, progress=False, one_pass=False, **kwargs)
    _assert_identical(one, many)
    if case == "classification":
        assert {"auroc", "ece"} <= set(one.metrics)
    if case == "segmentation":
        assert "iou" in one.per_class


def test_one_pass_equals_one_model_at_a_time_with_overlap_on_every_batch(monkeypatch):
    # the worker thread takes every batch: a model's update runs while the next model's forward does
    import importlib

    monkeypatch.setattr(importlib.import_module("mushin.evaluation.pipeline"), "_OVERLAP_MIN_ELEMENTS", 0)
    methods, data = _methods("classification"), _classification(n_batches=8)
    threads = set()

    def predict(model, x):
        logits = model(x)
        return logits.argmax(1), logits.softmax(1)

    class Threads:
        def update(self, preds, target):
            threads.add(threading.current_thread().name)

        def compute(self):
            return 0.0

        def reset(self):
            pass

    from mushin.metrics.tasks import classification_battery

    battery = dict(classification_battery(5), seen=Threads())
    kwargs = dict(task="classification", num_classes=5, predict_fn=predict, metrics=battery,
                  prob_metrics=["auroc", "ece"], progress=False)
    one = compare(methods, data, **kwargs)
    many = compare(methods, data, one_pass=False, **kwargs)
    _assert_identical(one, many)
    assert any(name.startswith("mushin-accumulate") for name in threads)


def test_a_generator_is_evaluated_in_one_pass():
    methods, data = _methods("segmentation"), _segmentation()
    from_generator = compare(methods, (batch for batch in data), task="segmentation", test="welch", num_classes=6, ignore_index=255, progress=False)
    from_list = compare(methods, data, task="segmentation", test="welch", num_classes=6, ignore_index=255, progress=False, one_pass=False)
    _assert_identical(from_generator, from_list)


class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 1)
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.conv(x)


def test_every_model_runs_in_eval_mode_under_no_grad_and_gets_its_mode_back():
    training, evaluating = [Recorder(), Recorder()], [Recorder().eval(), Recorder().eval()]
    data = _segmentation()
    compare({"a": training, "b": evaluating}, data, task="segmentation", test="welch", num_classes=6, ignore_index=255, progress=False)
    for model in training + evaluating:
        assert model.seen == [(False, False)] * len(data)
    assert all(m.training for m in training) and not any(m.training for m in evaluating)
    assert torch.is_grad_enabled()


def test_an_error_names_the_method_and_seed_and_every_mode_is_restored():
    models = {"a": [Recorder(), Recorder()], "b": [Recorder(), nn.Conv2d(3, 4, 1)]}  # b, seed 1: 4 classes
    with pytest.raises(ValueError, match=r"^method 'b', seed 1 \(methods\['b'\]\[1\]\), batch 0: .*4 classes"):
        compare(models, _segmentation(), task="segmentation", test="welch", num_classes=6, ignore_index=255, progress=False)
    assert all(m.training for seeds in models.values() for m in seeds)


def test_a_bad_label_stops_at_the_first_model_as_one_model_at_a_time_does():
    data = _segmentation()
    data[2][1][0, 1, 1] = 9
    messages = []
    for one_pass in (True, False):
        with pytest.raises(ValueError) as raised:
            compare(_methods("segmentation"), data, task="segmentation", test="welch", num_classes=6, ignore_index=255, progress=False, one_pass=one_pass)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("method 'a', seed 0 (methods['a'][0]), batch 2: target holds 1 value")


def test_one_pass_is_a_checked_field_of_the_spec():
    assert EvalSpec(num_classes=3).one_pass is True
    assert EvalSpec(num_classes=3, one_pass=False).one_pass is False
    with pytest.raises(TypeError, match="one_pass must be True .* or False .*, got 'yes'"):
        EvalSpec(num_classes=3, one_pass="yes")
    with pytest.raises(TypeError, match="one_pass must be"):
        compare(_methods("segmentation"), _segmentation(), task="segmentation", test="welch", num_classes=6, one_pass=1)
