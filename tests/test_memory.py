"""Evaluation memory does not grow with the number of batches.

Each test evaluates the same small model on 50 and then on 500 batches of
the same shape and compares the peaks, measured from just before the run:
Python allocations with ``tracemalloc`` (it sees every Python object a
leak would keep, such as a tensor handle per batch) and the resident set
(``VmHWM`` after resetting it through ``/proc/self/clear_refs``, else the
largest RSS sampled after every batch), which also sees torch's buffers.

Slack, and why it is small enough to catch a leak:

- tracemalloc: 16 KiB.  Run to run the peak moves by about 2 KiB
  (interpreter free lists, the worker thread's frames).  The smallest leak
  worth catching, one tensor handle kept per batch (the per-batch list the
  CUDA accumulator used to keep), adds about 94 bytes a batch, 42 KiB over
  the 450 extra batches.
- RSS: 1 MiB.  RSS moves by whole pages and malloc arenas; we measured
  under 40 KiB of drift.  Keeping one (2, 32, 32) int64 label tensor per
  batch would add 7 MiB over the 450 extra batches.

AUROC is left out on purpose: exact AUROC keeps every score, so its memory
grows with the number of samples by design (``RocScores.nbytes``).
"""
from __future__ import annotations

import gc
import importlib
import os
import re
import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn

from mushin import ConfusionMatrix, compare
from mushin.evaluation.compare import DeviceConfusionMatrix, evaluate_model, make_streams, stream_values
from mushin.metrics.tasks import StreamingMetric, accuracy, calibration_bins, get_task, resolve_battery

TRACED_SLACK = 16 * 1024
RSS_SLACK = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024


class RssSampler:
    """A progress hook that samples the resident set after every batch."""

    def __init__(self):
        self.peak = _rss()

    def update(self, n):
        self.peak = max(self.peak, _rss())


class Batches:
    """Re-iterable batches made on the fly, so the data itself holds no memory."""

    def __init__(self, n_batches, task):
        self.n_batches = n_batches
        self.task = task

    def __len__(self):
        return self.n_batches

    def __iter__(self):
        g = torch.Generator().manual_seed(0)
        for _ in range(self.n_batches):
            if self.task == "segmentation":
                yield torch.randn(2, 3, 32, 32, generator=g), torch.randint(0, 21, (2, 32, 32), generator=g)
            else:
                yield torch.randn(16, 8, generator=g), torch.randint(0, 5, (16,), generator=g)


def _peaks(run):
    """(traced peak, RSS peak) of ``run()`` above what was in use before it."""
    gc.collect()
    tracemalloc.reset_peak()
    traced_before = tracemalloc.get_traced_memory()[0]
    rss_before = _rss()
    exact_rss = _reset_peak_rss()
    sampler = RssSampler()
    run(sampler)
    traced_peak = tracemalloc.get_traced_memory()[1] - traced_before
    rss_peak = (_peak_rss() if exact_rss else sampler.peak) - rss_before
    return traced_peak, rss_peak


@pytest.fixture
def traced():
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _assert_flat(run):
    run(RssSampler())  # warm up: lazy imports, torch's first-call caches, thread start
    small = _peaks(lambda sampler: run(sampler, 50))
    large = _peaks(lambda sampler: run(sampler, 500))
    assert large[0] - small[0] < TRACED_SLACK, f"traced peak grew from {small[0]} to {large[0]} bytes"
    assert large[1] - small[1] < RSS_SLACK, f"RSS peak grew from {small[1]} to {large[1]} bytes"


def _evaluation(task_name, model, num_classes, battery=None, prob_metrics=None, overlap=True):
    task = get_task(task_name)
    entries, probs = resolve_battery(task, battery, prob_metrics)

    def run(sampler, n_batches=50):
        streams = make_streams(entries, probs, num_classes, None)
        evaluate_model(
            model, Batches(n_batches, task_name), task, num_classes=num_classes,
            streams=streams, progress=sampler, overlap=overlap,
        )
        stream_values(streams)

    return run


@pytest.mark.parametrize("overlap", [True, False])
def test_segmentation_memory_is_flat_from_50_to_500_batches(traced, overlap, monkeypatch):
    # these batches are small: hand every one to the worker thread all the same
    monkeypatch.setattr(importlib.import_module("mushin.evaluation.pipeline"), "_OVERLAP_MIN_ELEMENTS", 0)
    torch.manual_seed(0)
    _assert_flat(_evaluation("segmentation", nn.Conv2d(3, 21, 3, padding=1), 21, overlap=overlap))


def test_classification_with_streamed_ece_memory_is_flat_from_50_to_500_batches(traced):
    torch.manual_seed(0)
    battery = {"accuracy": accuracy, "ece": StreamingMetric(calibration_bins)}
    _assert_flat(_evaluation("classification", nn.Linear(8, 5), 5, battery, ["ece"]))


def test_device_accumulator_memory_is_flat_from_50_to_500_batches(traced):
    # DeviceConfusionMatrix runs on any torch device; on the CPU its memory is visible here.
    g = torch.Generator().manual_seed(0)
    preds, target = torch.randint(0, 21, (2, 32, 32), generator=g), torch.randint(0, 21, (2, 32, 32), generator=g)

    def run(sampler, n_batches=50):
        counts = DeviceConfusionMatrix(21, 255, "cpu")
        for _ in range(n_batches):
            counts.update(preds, target)
            sampler.update(1)
        counts.check()

    _assert_flat(run)


def test_device_accumulator_counts_and_reports_like_the_c_accumulator():
    rng = np.random.default_rng(7)
    device = DeviceConfusionMatrix(4, 255, "cpu")
    host = ConfusionMatrix(4, 255)
    bad_batches, bad_targets, bad_preds = [], 0, 0
    for i in range(30):
        preds = rng.integers(0, 4, size=(3, 5))
        target = rng.integers(0, 4, size=(3, 5))
        target[rng.random(target.shape) < 0.2] = 255
        if i % 3 == 1:
            target[0, 0] = 9
            bad_targets += 1
        if i == 5:
            preds[1, 1], target[1, 1] = -1, 0
            bad_preds += 1
        if i % 3 == 1 or i == 5:
            bad_batches.append(i)
        else:
            host.update(preds, target)
        device.update(torch.from_numpy(preds), torch.from_numpy(target))
    with pytest.raises(ValueError) as raised:
        device.check()
    assert str(raised.value) == (
        f"target held {bad_targets} value(s) outside [0, 4); preds held {bad_preds} value(s) outside [0, 4) "
        f"in batch(es) {bad_batches[:10]} (not ignore_index=255); those batches were not counted"
    )
    np.testing.assert_array_equal(device._counts.reshape(4, 4).numpy(), host.counts)


def test_device_accumulator_without_bad_batches_equals_the_c_accumulator():
    rng = np.random.default_rng(8)
    device, host = DeviceConfusionMatrix(6, None, "cpu"), ConfusionMatrix(6)
    for _ in range(12):
        preds, target = rng.integers(0, 6, size=40), rng.integers(0, 6, size=40)
        device.update(torch.from_numpy(preds), torch.from_numpy(target))
        host.update(preds, target)
    np.testing.assert_array_equal(device.counts, host.counts)


# ------------------------------------------------------------ one pass --


def _one_pass_run(n_models, n_batches=200):
    torch.manual_seed(0)
    models = [nn.Conv2d(3, 21, 3, padding=1) for _ in range(n_models)]

    def run(sampler):
        # compare() itself: one pass over the batches feeds every model
        compare({"a": models}, _SampledBatches(n_batches, sampler), task="segmentation", test="welch", num_classes=21, progress=False)

    return run


class _SampledBatches(Batches):
    """Batches that sample the resident set as each is loaded."""

    def __init__(self, n_batches, sampler):
        super().__init__(n_batches, "segmentation")
        self.sampler = sampler

    def __iter__(self):
        for batch in super().__iter__():
            self.sampler.update(1)
            yield batch


@pytest.mark.slow  # 2 x (1 + 6) models over 200 batches: about a minute on a loaded 2-core machine
@pytest.mark.filterwarnings("ignore:method .* scored .* on every seed:UserWarning")
def test_six_models_in_one_pass_cost_at_most_one_batch_of_predictions_each_over_one_model(monkeypatch):
    # hand every batch to the worker thread, so that predictions are in flight as in real use
    monkeypatch.setattr(importlib.import_module("mushin.evaluation.pipeline"), "_OVERLAP_MIN_ELEMENTS", 0)
    one, six = _one_pass_run(1), _one_pass_run(6)
    one(RssSampler())  # warm up: lazy imports, torch's first-call caches, thread start
    six(RssSampler())
    one_peak = min(_peaks(one)[1] for _ in range(2))
    six_peak = max(_peaks(six)[1] for _ in range(2))
    # the default predict_fn hands over the (2, 21, 32, 32) float32 logits of each batch
    predictions = 2 * 21 * 32 * 32 * 4
    assert six_peak - one_peak < 5 * predictions + RSS_SLACK, (
        f"6 models peaked {six_peak - one_peak} bytes above 1 model; allowed: one batch of "
        f"predictions ({predictions} bytes) for each of the 5 more models, plus {RSS_SLACK} slack"
    )
