"""Overlap in evaluate_model: a batch is accumulated on a worker thread while the next forward pass runs.

Overlap must change nothing but the wall clock: the same counts and metric
values as the sequential loop, the same error at the same batch with the
state of the batches before it, bounded references, and no thread left
behind.
"""
from __future__ import annotations

import importlib
import threading
import weakref

import numpy as np
import pytest
import torch
from torch import nn

from mushin import ConfusionMatrix, compare
from mushin.evaluation.compare import evaluate_model, make_streams, stream_values
from mushin.metrics.tasks import get_task, resolve_battery

import reference as ref
from synthetic_batches import classification_batches

compare_module = importlib.import_module("mushin.evaluation.compare")  # the package exports compare() under that name
pipeline_module = importlib.import_module("mushin.evaluation.pipeline")  # the overlap worker lives there

pytestmark = pytest.mark.filterwarnings("ignore:method .* scored .* on every seed:UserWarning")

SEG = get_task("segmentation")
CLS = get_task("classification")


@pytest.fixture(autouse=True)
def offload_every_batch(monkeypatch):
    """These batches are tiny; hand them to the worker anyway so that it is what is tested."""
    monkeypatch.setattr(pipeline_module, "_OVERLAP_MIN_ELEMENTS", 0)


def _segmentation_batches(n_batches, num_classes=5, ignore=255, seed=0):
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        x = torch.randn(2, 3, 6, 6, generator=g)
        y = torch.randint(0, num_classes, (2, 6, 6), generator=g)
        if ignore is not None:
            y[torch.rand(y.shape, generator=g) < 0.1] = ignore
        batches.append((x, y))
    return batches


def _classification_batches(n_batches, num_classes=4, seed=0):
    return classification_batches(n_batches, 8, 6, num_classes, seed)


class BatchLog:
    """A streamed 'object' metric that records which batch it saw on which thread."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.batches = []
        self.threads = []

    def update(self, preds, target):
        self.batches.append(int(target.reshape(-1)[0]))  # batches are tagged in their first label
        self.threads.append(threading.current_thread().name)

    def compute(self):
        return float(len(self.batches))


def _tagged_batches(n_batches, num_classes=5):
    """Segmentation batches whose first label is the batch number (mod num_classes)."""
    batches = _segmentation_batches(n_batches, num_classes, ignore=None)
    for i, (_, y) in enumerate(batches):
        y.view(-1)[0] = i % num_classes
    return batches


def _evaluate(model, data, task, num_classes, *, overlap, ignore=None, battery=None, prob=()):
    battery_, prob_ = resolve_battery(task, battery, prob if battery is not None else None)
    streams = make_streams(battery_, prob_, num_classes, ignore)
    counts = evaluate_model(
        model, data, task, num_classes=num_classes, ignore_index=ignore, streams=streams, overlap=overlap
    )
    return counts, stream_values(streams)


# ----------------------------------------------------------------- results --


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segmentation_counts_equal_the_sequential_loop_and_the_numpy_twin(seed):
    torch.manual_seed(seed)
    model = nn.Conv2d(3, 5, 1)
    data = _segmentation_batches(9, seed=seed)
    with_overlap, _ = _evaluate(model, data, SEG, 5, overlap=True, ignore=255)
    sequential, _ = _evaluate(model, data, SEG, 5, overlap=False, ignore=255)
    with torch.no_grad():
        expected = sum(ref.confusion_counts(model(x).argmax(1).numpy(), y.numpy(), 5, 255) for x, y in data)
    np.testing.assert_array_equal(with_overlap, expected)
    np.testing.assert_array_equal(sequential, expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_classification_auroc_and_ece_are_bit_identical_with_and_without_overlap(seed):
    torch.manual_seed(seed)
    model = nn.Linear(6, 4)
    data = _classification_batches(11, seed=seed)
    counts_a, values_a = _evaluate(model, data, CLS, 4, overlap=True)
    counts_b, values_b = _evaluate(model, data, CLS, 4, overlap=False)
    np.testing.assert_array_equal(counts_a, counts_b)
    assert set(values_a) == {"auroc", "ece"}
    assert values_a == values_b  # exact float equality, not approx


def test_compare_results_are_identical_and_deterministic_with_overlap():
    torch.manual_seed(3)
    methods = {"a": [nn.Conv2d(3, 5, 1) for _ in range(2)], "b": [nn.Conv2d(3, 5, 1) for _ in range(2)]}
    data = _segmentation_batches(6)
    first = compare(methods, data, num_classes=5, ignore_index=255, task="segmentation", test="welch")
    second = compare(methods, data, num_classes=5, ignore_index=255, task="segmentation", test="welch")
    np.testing.assert_array_equal(first.confusion.values, second.confusion.values)
    for name in first.metrics:
        np.testing.assert_array_equal(first.data[name].values, second.data[name].values)


def test_accumulation_runs_on_one_worker_thread_from_the_second_batch():
    model = nn.Conv2d(3, 5, 1)
    streams = make_streams({"log": BatchLog()}, (), 5, None)
    evaluate_model(model, _tagged_batches(6), SEG, num_classes=5, streams=streams)
    seen = streams["log"][0]
    assert seen.batches == [0, 1, 2, 3, 4, 0]
    assert seen.threads[0] == threading.main_thread().name
    assert len(set(seen.threads[1:])) == 1 and seen.threads[1].startswith("mushin-accumulate")


def test_batches_too_small_to_pay_for_the_handoff_are_accumulated_inline(monkeypatch):
    model = nn.Conv2d(3, 5, 1)

    def threads_used(min_elements):
        monkeypatch.setattr(pipeline_module, "_OVERLAP_MIN_ELEMENTS", min_elements)
        streams = make_streams({"log": BatchLog()}, (), 5, None)
        evaluate_model(model, _tagged_batches(5), SEG, num_classes=5, streams=streams)
        return streams["log"][0].threads

    logits = 2 * 5 * 6 * 6  # the default predict_fn hands over the logits, (2, 5, 6, 6)
    assert set(threads_used(logits + 1)) == {threading.main_thread().name}
    assert threads_used(logits)[1].startswith("mushin-accumulate")


def test_overlap_false_accumulates_every_batch_on_the_calling_thread():
    streams = make_streams({"log": BatchLog()}, (), 5, None)
    evaluate_model(nn.Conv2d(3, 5, 1), _tagged_batches(5), SEG, num_classes=5, streams=streams, overlap=False)
    assert set(streams["log"][0].threads) == {threading.main_thread().name}


def test_the_next_forward_pass_runs_while_a_batch_is_accumulated():
    # The accumulation of batch 1 waits until the forward pass of batch 2 has
    # started; that can only happen if the two run at the same time.
    forward_started = [threading.Event() for _ in range(4)]
    overlapped = []

    class WaitsForNextForward(BatchLog):
        def update(self, preds, target):
            batch = int(target.reshape(-1)[0])
            if batch >= 1 and batch + 1 < len(forward_started):
                overlapped.append(forward_started[batch + 1].wait(timeout=10))
            super().update(preds, target)

    calls = iter(range(4))

    def predict(model, x):
        forward_started[next(calls)].set()
        logits = model(x)
        return logits.argmax(1), None

    streams = make_streams({"log": WaitsForNextForward()}, (), 5, None)
    evaluate_model(nn.Conv2d(3, 5, 1), _tagged_batches(4), SEG, num_classes=5, predict_fn=predict, streams=streams)
    assert overlapped == [True, True]


# ------------------------------------------------------------------ errors --


class RecordingConfusionMatrix:
    """Wraps the C accumulator so a test can read its counts after a failure."""

    made = []

    def __init__(self, num_classes, ignore_index=None):
        self.inner = ConfusionMatrix(num_classes, ignore_index)
        RecordingConfusionMatrix.made.append(self)

    def update(self, preds, target):
        self.inner.update(preds, target)

    @property
    def counts(self):
        return self.inner.counts


@pytest.fixture
def recorded_counts(monkeypatch):
    RecordingConfusionMatrix.made = []
    monkeypatch.setattr(compare_module, "ConfusionMatrix", RecordingConfusionMatrix)
    return RecordingConfusionMatrix.made


@pytest.mark.parametrize("overlap", [True, False])
def test_bad_labels_raise_the_same_message_and_keep_only_earlier_batches(overlap, recorded_counts):
    model = nn.Conv2d(3, 5, 1)
    data = _tagged_batches(7)
    data[4][1][0, 2, 2] = 9  # batch 4 holds a label outside [0, 5)
    streams = make_streams({"log": BatchLog()}, (), 5, 255)
    with pytest.raises(ValueError) as raised:
        evaluate_model(model, data, SEG, num_classes=5, ignore_index=255, streams=streams, overlap=overlap)
    assert str(raised.value) == (
        "target holds 1 value outside [0, 5) that is not ignore_index=255 (first: 9 at flat index 14); "
        "the confusion matrix was not changed"
    )
    assert streams["log"][0].batches == [0, 1, 2, 3]
    with torch.no_grad():
        expected = sum(ref.confusion_counts(model(x).argmax(1).numpy(), y.numpy(), 5, 255) for x, y in data[:4])
    np.testing.assert_array_equal(recorded_counts[-1].counts, expected)


def test_worker_error_message_is_the_sequential_one_verbatim():
    data = _tagged_batches(5)
    data[2][1][0, 0, 1] = -3
    messages = []
    for overlap in (True, False):
        with pytest.raises(ValueError) as raised:
            evaluate_model(nn.Conv2d(3, 5, 1), data, SEG, num_classes=5, overlap=overlap)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]


def test_a_failed_batch_in_flight_wins_over_a_later_forward_error():
    # Sequentially, batch 2's bad label stops the loop before batch 3's
    # forward pass; with overlap that forward pass may already have failed,
    # but the error raised must still be batch 2's.
    data = _tagged_batches(6)
    data[2][1][0, 0, 1] = 7

    def predict(model, x):
        if next(calls) == 3:
            raise RuntimeError("forward of batch 3 failed")
        return model(x).argmax(1), None

    for overlap in (True, False):
        calls = iter(range(6))
        with pytest.raises(ValueError, match=r"target holds 1 value outside \[0, 5\) \(first: 7") as raised:
            evaluate_model(nn.Conv2d(3, 5, 1), data, SEG, num_classes=5, predict_fn=predict, overlap=overlap)
        assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_forward_error_waits_for_the_batch_in_flight():
    data = _tagged_batches(6)
    calls = iter(range(6))

    def predict(model, x):
        if next(calls) == 4:
            raise RuntimeError("forward of batch 4 failed")
        return model(x).argmax(1), None

    streams = make_streams({"log": BatchLog()}, (), 5, None)
    with pytest.raises(RuntimeError, match="forward of batch 4 failed"):
        evaluate_model(nn.Conv2d(3, 5, 1), data, SEG, num_classes=5, predict_fn=predict, streams=streams)
    assert streams["log"][0].batches == [0, 1, 2, 3]


def test_stream_errors_keep_their_batch_and_metric_in_the_message():
    data = _classification_batches(5)

    def predict(model, x):
        logits = model(x)
        probs = logits.softmax(-1)
        if x[0, 0] == data[3][0][0, 0]:
            probs = probs * 2  # probabilities above 1 in batch 3
        return logits.argmax(-1), probs

    for overlap in (True, False):
        with pytest.raises(ValueError, match=r"batch 3, metric 'auroc': RocScores.update"):
            compare_module.evaluate_model(
                nn.Linear(6, 4),
                data,
                CLS,
                num_classes=4,
                predict_fn=predict,
                streams=make_streams(*resolve_battery(CLS), 4, None),
                overlap=overlap,
            )


# --------------------------------------------------------- threads, memory --


def _threads_after(fn):
    """(threads before, threads after, the class of what ``fn`` raised, or None)."""
    before = threading.active_count()
    raised = None
    try:
        fn()
    except (ValueError, RuntimeError, KeyboardInterrupt) as exc:
        raised = type(exc)
    return before, threading.active_count(), raised


def test_no_thread_is_left_behind_after_success_or_any_failure():
    model = nn.Conv2d(3, 5, 1)
    good = _tagged_batches(5)
    bad_labels = _tagged_batches(5)
    bad_labels[3][1][0, 0, 0] = 99
    calls = []

    def interrupted(model, x):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return model(x).argmax(1), None

    def forward_fails(model, x):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return model(x).argmax(1), None

    runs = [
        (lambda: evaluate_model(model, good, SEG, num_classes=5), None),
        (lambda: evaluate_model(model, bad_labels, SEG, num_classes=5), ValueError),
        (lambda: (calls.clear(), evaluate_model(model, good, SEG, num_classes=5, predict_fn=forward_fails)),
         RuntimeError),
        (lambda: (calls.clear(), evaluate_model(model, good, SEG, num_classes=5, predict_fn=interrupted)),
         KeyboardInterrupt),
    ]
    for run, expected in runs:
        before, after, raised = _threads_after(run)
        # each failure path is really taken
        assert raised is None if expected is None else raised is not None and issubclass(raised, expected)
        assert after == before
    assert not [t for t in threading.enumerate() if t.name.startswith("mushin-accumulate")]


def test_at_most_the_batch_in_flight_outlives_its_forward_pass():
    alive = []
    produced = []

    def predict(model, x):
        alive.append(sum(ref_() is not None for ref_ in produced))
        preds = model(x).argmax(1)
        produced.append(weakref.ref(preds))
        return preds, None

    evaluate_model(nn.Conv2d(3, 5, 1), _segmentation_batches(12, ignore=None), SEG, num_classes=5, predict_fn=predict)
    # when batch k's forward pass starts, at most batch k - 1 (in flight) is
    # referenced.  Batches this small are accumulated inline and the pipeline
    # drops each batch's predictions as soon as they are counted, so run on its
    # own every count is 0; under pytest a captured frame can keep the previous
    # batch alive a little longer, which is still within the bound.
    assert alive[0] == 0 and max(alive[1:]) <= 1


def test_a_source_that_refills_one_buffer_turns_overlap_off():
    template = _tagged_batches(6)
    x_buffer, y_buffer = template[0][0].clone(), template[0][1].clone()
    preds_buffer = torch.empty(2, 6, 6, dtype=torch.long)

    class RefilledInPlace:
        def __iter__(self):
            for x, y in template:
                x_buffer.copy_(x)
                y_buffer.copy_(y)
                yield x_buffer, y_buffer

    def predict(model, x):
        torch.argmax(model(x), 1, out=preds_buffer)
        return preds_buffer, None

    streams = make_streams({"log": BatchLog()}, (), 5, None)
    model = nn.Conv2d(3, 5, 1)
    counts = evaluate_model(model, RefilledInPlace(), SEG, num_classes=5, predict_fn=predict, streams=streams)
    assert set(streams["log"][0].threads) == {threading.main_thread().name}
    sequential, _ = _evaluate(model, template, SEG, 5, overlap=False)
    np.testing.assert_array_equal(counts, sequential)


# ----------------------------------------------------------------- progress --


class CountingProgress:
    def __init__(self):
        self.n = 0
        self.threads = set()

    def update(self, k):
        self.n += k
        self.threads.add(threading.current_thread().name)


def test_progress_advances_once_per_batch_on_the_calling_thread():
    progress = CountingProgress()
    evaluate_model(nn.Conv2d(3, 5, 1), _tagged_batches(7), SEG, num_classes=5, progress=progress)
    assert progress.n == 7
    assert progress.threads == {threading.main_thread().name}


def test_progress_counts_only_accumulated_batches_when_one_fails():
    data = _tagged_batches(6)
    data[3][1][0, 0, 0] = 42
    progress = CountingProgress()
    with pytest.raises(ValueError):
        evaluate_model(nn.Conv2d(3, 5, 1), data, SEG, num_classes=5, progress=progress)
    assert progress.n == 3


def test_progress_bar_of_compare_reaches_the_total_with_overlap(capsys):
    torch.manual_seed(0)
    methods = {"a": [nn.Conv2d(3, 5, 1) for _ in range(2)], "b": [nn.Conv2d(3, 5, 1) for _ in range(2)]}
    compare(methods, _segmentation_batches(4), num_classes=5, ignore_index=255, progress=True, task="segmentation", test="welch")
    assert "16/16" in capsys.readouterr().err  # 4 models x 4 batches
