"""The fused logits kernel on channels-last logits (each pixel's classes contiguous).

That layout has its own loops in the C core: SIMD over one pixel's class
vector, a horizontal maximum and the first lane equal to it, with vector
shapes that change with the class count (shorter than one vector, a partial
last chunk, an overlapping last chunk, more than 64 classes).  So every test
here sweeps class counts across those boundaries, at every instruction-set
level this CPU has, for every logits dtype, and holds every pixel against
``torch.argmax`` and the counts against the NumPy twin
(tests/reference_logits.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
import reference_logits as ref_logits
from isa_levels import ISA_LEVELS, isa_capped
from mushin import ConfusionMatrix, _core

FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
DTYPE_IDS = ["float32", "float16", "bfloat16", "float64"]
NAN = float("nan")
INF = float("inf")

# below, at and above 8, 16, 32 and 64 lanes' worth of classes
CLASS_COUNTS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 21, 31, 32, 33, 63, 64, 65, 150]

def _counts(logits, target, num_classes, ignore_index=None, class_dim=-1, num_threads=None):
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index, num_threads=num_threads)
    cm.update_logits(logits, target, class_dim=class_dim)
    return cm.counts


def _check(logits: torch.Tensor, class_dim: int, ignore_index=None, seed=0):
    """Every pixel is torch.argmax, and counts against random labels equal both oracles."""
    num_classes = logits.shape[class_dim]
    labels = logits.argmax(dim=class_dim)  # torch's own argmax: the outside oracle
    as64 = logits.to(torch.float64).numpy()
    np.testing.assert_array_equal(ref_logits.argmax_first(as64, class_dim), labels.numpy())
    counts = _counts(logits, labels, num_classes, class_dim=class_dim)
    # labels equal to the argmax: any pixel the kernel gets wrong lands off the diagonal
    np.testing.assert_array_equal(np.diag(counts), np.bincount(labels.numpy().ravel(), minlength=num_classes))
    assert counts.sum() == labels.numel()

    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, labels.shape, generator=g)
    if ignore_index is not None:
        target[torch.rand(labels.shape, generator=g) < 0.1] = ignore_index
    expected = ref.confusion_counts(labels.numpy(), target.numpy(), num_classes, ignore_index)
    np.testing.assert_array_equal(
        ref_logits.confusion_counts_from_logits(as64, target.numpy(), num_classes, ignore_index, class_dim), expected
    )
    np.testing.assert_array_equal(_counts(logits, target, num_classes, ignore_index, class_dim), expected)


def _values(kind: str, shape, g: torch.Generator) -> torch.Tensor:
    if kind == "ties":  # three values: ties in almost every pixel
        return torch.randint(-1, 2, shape, generator=g).float()
    base = torch.randn(shape, generator=g)
    if kind == "nan":
        base[torch.rand(shape, generator=g) < 0.03] = NAN
    if kind == "inf":
        base[torch.rand(shape, generator=g) < 0.1] = INF
        base[torch.rand(shape, generator=g) < 0.1] = -INF
    if kind == "zeros":  # -0.0 against 0.0 as the maximum
        base = -base.abs()
        base[torch.rand(shape, generator=g) < 0.3] = 0.0
        base[torch.rand(shape, generator=g) < 0.3] = -0.0
    return base


@pytest.mark.parametrize("num_classes", CLASS_COUNTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_nhwc_every_class_count(isa, dtype, num_classes):
    g = torch.Generator().manual_seed(num_classes)
    for kind in ("normal", "ties", "nan", "inf", "zeros"):
        logits = _values(kind, (1, 3, 37, num_classes), g).to(dtype)
        _check(logits, class_dim=-1, ignore_index=255, seed=num_classes)


@pytest.mark.parametrize("num_classes", [3, 9, 21, 33, 65])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_channels_last_memory_of_an_nchw_tensor(isa, dtype, num_classes):
    g = torch.Generator().manual_seed(100 + num_classes)
    for kind in ("normal", "ties", "nan"):
        logits = _values(kind, (2, num_classes, 9, 31), g).to(dtype).contiguous(memory_format=torch.channels_last)
        assert logits.stride(1) == 1
        _check(logits, class_dim=1)


@pytest.mark.parametrize("num_classes", [5, 21, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64], ids=lambda d: np.dtype(d).name)
def test_pixels_with_gaps_reversed_and_misaligned(isa, rng, dtype, num_classes):
    # pixels 3 elements apart beyond their classes, read backwards, and a
    # float buffer one byte off its alignment: the vector loads take any address
    big = rng.standard_normal((4, 50, num_classes + 3)).astype(dtype)
    big[rng.random(big.shape) < 0.02] = np.nan
    views = [big[:, :, :num_classes], big[::-1, ::-2, :num_classes]]
    raw = np.zeros(big[:, :, :num_classes].nbytes + 1, dtype=np.uint8)
    packed = np.ascontiguousarray(big[:, :, :num_classes])
    raw[1:] = packed.view(np.uint8).ravel()
    views.append(np.frombuffer(raw.data, dtype=dtype, offset=1, count=packed.size).reshape(packed.shape))
    assert not views[-1].flags.aligned
    for view in views:
        _check(torch.from_numpy(np.ascontiguousarray(view)), class_dim=-1)  # torch holds the oracle copy
        labels = torch.from_numpy(np.ascontiguousarray(view)).argmax(-1)
        counts = _counts(view, labels, num_classes)  # the kernel reads the view itself
        np.testing.assert_array_equal(np.diag(counts), np.bincount(labels.numpy().ravel(), minlength=num_classes))


@pytest.mark.parametrize("num_classes", [2, 8, 16, 17, 32, 64, 65])
def test_the_winner_at_every_index_with_ties_and_nans_after_it(isa, num_classes):
    # pixel w has its maximum at class w (then again at every later class:
    # ties), pixel C + w a NaN at w and at the last class; every dtype
    C = num_classes
    rows = []
    for w in range(C):
        tie = torch.full((C,), -1.0)
        tie[w::1] = torch.where(torch.arange(C - w) % 2 == 0, 3.0, -2.0)
        rows.append(tie)
    for w in range(C):
        nan = torch.linspace(-1, 1, C)
        nan[w] = NAN
        nan[-1] = NAN
        rows.append(nan)
    logits = torch.stack(rows).reshape(2, C, C)
    for dtype in FLOAT_DTYPES:
        x = logits.to(dtype)
        expected = torch.cat([torch.arange(C), torch.arange(C)]).reshape(2, C)
        assert torch.equal(x.argmax(-1), expected)  # torch agrees with the construction
        counts = _counts(x, expected, C)
        np.testing.assert_array_equal(counts, np.diag(np.full(C, 2)))


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_count_channels_last_like_one_thread(threads):
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 21, 128, 128, generator=g).contiguous(memory_format=torch.channels_last)
    target = torch.randint(0, 21, (4, 128, 128), generator=g)
    assert _core.confusion_thread_count(21, target.numel(), logits.numel(), threads) == threads
    serial = _counts(logits, target, 21, class_dim=1, num_threads=1)
    np.testing.assert_array_equal(_counts(logits, target, 21, class_dim=1, num_threads=threads), serial)
    np.testing.assert_array_equal(serial, ref.confusion_counts(logits.argmax(1).numpy(), target.numpy(), 21))


@settings(max_examples=60)
@given(
    num_classes=st.integers(1, 80),
    pixels=st.integers(1, 70),
    dtype=st.sampled_from(FLOAT_DTYPES),
    kind=st.sampled_from(["normal", "ties", "nan", "inf", "zeros"]),
    isa_level=st.sampled_from(ISA_LEVELS),
    seed=st.integers(0, 2**31 - 1),
)
def test_generated_channels_last_batches(num_classes, pixels, dtype, kind, isa_level, seed):
    with isa_capped(isa_level):
        g = torch.Generator().manual_seed(seed)
        _check(_values(kind, (2, pixels, num_classes), g).to(dtype), class_dim=-1, ignore_index=0, seed=seed)
