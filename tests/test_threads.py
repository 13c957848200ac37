"""Large updates split over threads inside the C core.

Threaded counts must equal serial counts and the NumPy twins for every
layout and dtype, and a batch with bad labels must be reported exactly as the
serial pass reports it (first bad value in C order, total count) with the
matrix unchanged.  The sizes used here are checked against the core's own
thread plan (``confusion_thread_count``) so that the comparisons really do
run on several threads.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mushin
import mushin.threads
import reference as ref
import reference_logits as ref_logits
from isa_levels import ISA_LEVELS, isa_capped
from mushin import ConfusionMatrix
from mushin._core import confusion_thread_count

MIN_WORK = 1 << 18  # MUSHIN_MIN_WORK_PER_THREAD
THREADS = [1, 2, 3, 8]


def _index_batch(n, num_classes, ignore_index=255, seed=0):
    """int64 (preds, target), 70% correct, 5% of targets ignored."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, num_classes, size=n)
    preds = np.where(rng.random(n) < 0.7, target, rng.integers(0, num_classes, size=n))
    if ignore_index is not None:
        target[rng.random(n) < 0.05] = ignore_index
    return preds, target


def _counts(num_classes, ignore_index, num_threads, call):
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index, num_threads=num_threads)
    call(cm)
    return cm.counts


# ------------------------------------------------------------- the plan --


def test_the_plan_splits_large_updates_and_keeps_small_ones_serial():
    assert confusion_thread_count(21, 2 * MIN_WORK - 1, 2 * MIN_WORK - 1, 8) == 1
    assert confusion_thread_count(21, 2 * MIN_WORK, 2 * MIN_WORK, 8) == 2
    assert confusion_thread_count(21, 8 * MIN_WORK, 8 * MIN_WORK, 8) == 8
    assert confusion_thread_count(21, 8 * MIN_WORK, 8 * MIN_WORK, 3) == 3
    assert confusion_thread_count(21, 8 * MIN_WORK, 8 * MIN_WORK, 1) == 1
    assert confusion_thread_count(21, 100 * MIN_WORK, 100 * MIN_WORK, 1000) == 64
    # fused: the work is pixels x classes
    assert confusion_thread_count(21, 100_000, 100_000 * 21, 8) == 8
    assert confusion_thread_count(21, 10_000, 10_000 * 21, 8) == 1
    # a large matrix needs enough positions per thread to pay for a private copy
    assert confusion_thread_count(1000, 8 * MIN_WORK, 8 * MIN_WORK, 8) == 1
    assert 1 < confusion_thread_count(1000, 16_000_000, 16_000_000, 8) < 8


# ------------------------------------------------------------ index path --

INDEX_N = 3 * MIN_WORK + 12_345  # three threads at most, ranges not aligned to blocks


@pytest.mark.parametrize("num_threads", THREADS)
@pytest.mark.parametrize(
    "layout", ["contiguous", "strided", "transposed", "negative", "uint8_and_int32"]
)
def test_threaded_update_equals_serial_and_the_twin(layout, num_threads):
    C = 21
    preds, target = _index_batch(INDEX_N, C)
    if layout == "strided":
        preds = np.repeat(preds, 2)[::2]
        target = np.repeat(target, 3)[1::3]
    elif layout == "transposed":  # preds read column by column, target row by row
        preds = preds[: 690 * 1150].reshape(1150, 690).T
        target = target[: 690 * 1150].reshape(690, 1150)
    elif layout == "negative":
        preds, target = preds[::-1], target[::-1]
    elif layout == "uint8_and_int32":
        preds = preds.astype(np.uint8)
        target = target.astype(np.int32)
    assert confusion_thread_count(C, preds.size, preds.size, num_threads) == min(num_threads, 3)
    expected = ref.confusion_counts(preds, target, C, 255)
    got = _counts(C, 255, num_threads, lambda cm: cm.update(preds, target))
    np.testing.assert_array_equal(got, expected)


def test_every_thread_count_gives_the_same_counts_on_a_big_batch(isa):
    C = 21
    preds, target = _index_batch(9 * MIN_WORK + 1, C, seed=3)
    serial = _counts(C, 255, 1, lambda cm: cm.update(preds, target))
    np.testing.assert_array_equal(serial, ref.confusion_counts(preds, target, C, 255))
    for num_threads in (2, 5, 8, 9, 64):
        np.testing.assert_array_equal(_counts(C, 255, num_threads, lambda cm: cm.update(preds, target)), serial)


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("num_classes", [2, 21, 40, 300])
def test_small_and_large_matrices(num_classes, num_threads):
    # up to 32 classes the private matrices are interleaved copies, beyond
    # that single ones; 300 classes need 600k positions per thread
    preds, target = _index_batch(1_300_000, num_classes, seed=num_classes)
    expected = ref.confusion_counts(preds, target, num_classes, 255)
    got = _counts(num_classes, 255, num_threads, lambda cm: cm.update(preds, target))
    np.testing.assert_array_equal(got, expected)
    logits = np.zeros((num_classes, 200_000), np.float32)
    logits[preds[:200_000], np.arange(200_000)] = 1.0  # argmax = preds
    got = _counts(num_classes, 255, num_threads, lambda cm: cm.update_logits(logits, target[:200_000], class_dim=0))
    np.testing.assert_array_equal(got, ref.confusion_counts(preds[:200_000], target[:200_000], num_classes, 255))
    if num_threads == 2:
        assert confusion_thread_count(num_classes, preds.size, preds.size, 2) == 2


# ------------------------------------------------------------ fused path --

FUSED_SHAPE = (3, 9, 211, 197)  # 124701 pixels x 9 classes: up to four threads


def _fused_layout(base, name):
    if name == "nchw":
        return base, 1
    if name == "nhwc":
        return base.permute(0, 2, 3, 1).contiguous(), -1
    if name == "channels_last":
        return base.contiguous(memory_format=torch.channels_last), 1
    if name == "strided":
        return base.transpose(2, 3).contiguous().transpose(2, 3), 1
    raise ValueError(name)


@pytest.mark.parametrize("num_threads", THREADS)
@pytest.mark.parametrize("layout", ["nchw", "nhwc", "channels_last", "strided"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64], ids=str)
def test_threaded_update_logits_equals_serial_and_the_twin(dtype, layout, num_threads):
    g = torch.Generator().manual_seed(5)
    n, C, h, w = FUSED_SHAPE
    base = torch.randn(FUSED_SHAPE, generator=g)
    base[torch.rand(FUSED_SHAPE, generator=g) < 0.001] = float("nan")
    logits, class_dim = _fused_layout(base.to(dtype), layout)
    target = torch.randint(0, C, (n, h, w), generator=g)
    target[torch.rand(target.shape, generator=g) < 0.05] = 255
    pixels = n * h * w
    assert confusion_thread_count(C, pixels, pixels * C, num_threads) == min(num_threads, 4)
    expected = ref_logits.confusion_counts_from_logits(
        logits.to(torch.float64).numpy(), target.numpy(), C, 255, class_dim
    )
    got = _counts(C, 255, num_threads, lambda cm: cm.update_logits(logits, target, class_dim=class_dim))
    np.testing.assert_array_equal(got, expected)


# -------------------------------------------------- bad-value reports --


def _error_message(call):
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize(
    "positions",
    [[INDEX_N - 1], [0, INDEX_N - 1], [MIN_WORK + 7, 2 * MIN_WORK + 3, 3 * MIN_WORK], list(range(0, INDEX_N, 9973))],
    ids=["last-chunk", "first-and-last", "middle-chunks", "everywhere"],
)
def test_bad_values_are_reported_as_the_serial_pass_does(positions):
    C = 21
    preds, target = _index_batch(INDEX_N, C, seed=7)
    for k, pos in enumerate(positions):
        if k % 2:
            preds[pos] = 40 + k  # a bad prediction
        else:
            target[pos] = -(k + 1)  # a bad target
    bad = ref.confusion_bad_values(preds, target, C, 255)
    messages = []
    for num_threads in (1, 2, 3, 8):
        cm = ConfusionMatrix(C, ignore_index=255, num_threads=num_threads)
        cm.merge(np.ones((C, C), dtype=np.int64))
        messages.append(_error_message(lambda: cm.update(preds, target)))
        np.testing.assert_array_equal(cm.counts, np.ones((C, C)))  # unchanged
    assert all(m == messages[0] for m in messages)
    assert f"target holds {bad.target_bad} value" in messages[0]
    assert f"(first: {bad.target_first} at flat index {positions[0]})" in messages[0]
    if bad.preds_bad:
        assert f"preds holds {bad.preds_bad} value" in messages[0]
        assert f"(first: {bad.preds_first} at flat index {positions[1]})" in messages[0]


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_bad_labels_in_threaded_update_logits_are_reported_as_the_serial_pass_does(layout):
    g = torch.Generator().manual_seed(9)
    n, C, h, w = FUSED_SHAPE
    logits, class_dim = _fused_layout(torch.randn(FUSED_SHAPE, generator=g), layout)
    target = torch.randint(0, C, (n, h, w), generator=g)
    flat = target.view(-1)
    flat[[5, 40_000, 90_000, flat.numel() - 1]] = torch.tensor([255, 9, -4, 300])
    messages = []
    for num_threads in (1, 2, 4):
        cm = ConfusionMatrix(C, ignore_index=255, num_threads=num_threads)
        messages.append(_error_message(lambda: cm.update_logits(logits, target, class_dim=class_dim)))
        assert cm.counts.sum() == 0
    assert all(m == messages[0] for m in messages)
    assert "target holds 3 values outside [0, 9) that are not ignore_index=255 (first: 9 at flat index 40000)" in messages[0]


# ------------------------------------------------------------ hypothesis --


@settings(max_examples=25)
@given(
    num_classes=st.integers(2, 30),
    pixels=st.integers(2 * MIN_WORK // 30, 200_000),
    fused=st.booleans(),
    channels_last=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
    ignore_index=st.sampled_from([None, 255, 0]),
    num_threads=st.integers(2, 8),
    seed=st.integers(0, 2**31 - 1),
    isa_level=st.sampled_from(ISA_LEVELS),
)
def test_threaded_equals_serial_on_generated_batches(
    num_classes, pixels, fused, channels_last, dtype, ignore_index, num_threads, seed, isa_level
):
    with isa_capped(isa_level):
        _check_threaded_case(num_classes, pixels, fused, channels_last, dtype, ignore_index, num_threads, seed)


def _check_threaded_case(num_classes, pixels, fused, channels_last, dtype, ignore_index, num_threads, seed):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, (pixels,), generator=g)
    if ignore_index is not None:
        target[torch.rand(pixels, generator=g) < 0.1] = ignore_index
    if fused:
        logits = torch.randn(num_classes, pixels, generator=g).to(dtype)
        class_dim = 0
        if channels_last:
            logits, class_dim = logits.T.contiguous(), 1

        def call(cm):
            cm.update_logits(logits, target, class_dim=class_dim)

        expected = ref_logits.confusion_counts_from_logits(
            logits.to(torch.float64).numpy(), target.numpy(), num_classes, ignore_index, class_dim
        )
    else:
        preds = torch.randint(0, num_classes, (pixels,), generator=g)

        def call(cm):
            cm.update(preds, target)

        expected = ref.confusion_counts(preds.numpy(), target.numpy(), num_classes, ignore_index)
    serial = _counts(num_classes, ignore_index, 1, call)
    threaded = _counts(num_classes, ignore_index, num_threads, call)
    np.testing.assert_array_equal(serial, expected)
    np.testing.assert_array_equal(threaded, expected)


# ---------------------------------------------------------- thread count --


@pytest.fixture
def restore_threads():
    torch_threads = torch.get_num_threads()
    yield
    mushin.set_num_threads(None)
    torch.set_num_threads(torch_threads)


def test_get_num_threads_follows_torch_until_set(restore_threads):
    torch.set_num_threads(1)
    assert mushin.get_num_threads() == 1
    torch.set_num_threads(2)
    assert mushin.get_num_threads() == 2
    mushin.set_num_threads(5)
    assert mushin.get_num_threads() == 5
    torch.set_num_threads(1)
    assert mushin.get_num_threads() == 5
    mushin.set_num_threads(None)
    assert mushin.get_num_threads() == 1


@pytest.mark.parametrize("bad, error", [(0, ValueError), (65, ValueError), (-2, ValueError), (True, TypeError), (2.0, TypeError), ("2", TypeError)])
def test_num_threads_must_be_an_int_from_1_to_64(bad, error, restore_threads):
    with pytest.raises(error, match="num_threads"):
        mushin.set_num_threads(bad)
    with pytest.raises(error, match="num_threads"):
        ConfusionMatrix(3, num_threads=bad)
    cm = ConfusionMatrix(3)
    with pytest.raises(error, match="num_threads"):
        cm.num_threads = bad
    assert cm.num_threads is None


def test_num_threads_property():
    cm = ConfusionMatrix(3, num_threads=4)
    assert cm.num_threads == 4
    cm.num_threads = None
    assert cm.num_threads is None
    cm.num_threads = 64
    assert cm.num_threads == 64
    with pytest.raises(AttributeError):
        del cm.num_threads
    assert repr(ConfusionMatrix(3, 255, num_threads=2)) == "ConfusionMatrix(num_classes=3, ignore_index=255)"


def test_only_large_updates_ask_for_the_thread_count(monkeypatch):
    calls = []

    def spy():
        calls.append(1)
        return 2

    monkeypatch.setattr(mushin.threads, "get_num_threads", spy)
    small_p, small_t = _index_batch(1000, 5)
    big_p, big_t = _index_batch(2 * MIN_WORK, 5)
    cm = ConfusionMatrix(5, ignore_index=255)
    cm.update(small_p, small_t)
    cm.update_logits(np.zeros((5, 1000), np.float32), small_t, class_dim=0)
    assert calls == []
    cm.update(big_p, big_t)
    assert calls == [1]
    pixels = 2 * MIN_WORK // 5 + 1  # pixels x classes reach two threads' work
    cm.update_logits(np.zeros((5, pixels), np.float32), big_t[:pixels], class_dim=0)
    assert calls == [1, 1]
    ConfusionMatrix(5, 255, num_threads=3).update(big_p, big_t)  # its own count: no call
    assert calls == [1, 1]


def test_an_error_from_the_thread_count_propagates_and_counts_nothing(monkeypatch):
    def broken():
        raise RuntimeError("no thread count today")

    monkeypatch.setattr(mushin.threads, "get_num_threads", broken)
    preds, target = _index_batch(2 * MIN_WORK, 5)
    cm = ConfusionMatrix(5, ignore_index=255)
    with pytest.raises(RuntimeError, match="no thread count today"):
        cm.update(preds, target)
    assert cm.counts.sum() == 0


def test_concurrent_threaded_updates_from_python_threads():
    C = 21
    preds, target = _index_batch(2 * MIN_WORK + 99, C, seed=11)
    cm = ConfusionMatrix(C, ignore_index=255, num_threads=2)
    workers = [threading.Thread(target=lambda: [cm.update(preds, target) for _ in range(3)]) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    np.testing.assert_array_equal(cm.counts, 9 * ref.confusion_counts(preds, target, C, 255))


def test_threads_module_docstring_examples_run(restore_threads):
    import doctest

    failures, tried = doctest.testmod(mushin.threads)
    assert tried > 0 and failures == 0
