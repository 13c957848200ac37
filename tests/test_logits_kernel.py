"""ConfusionMatrix.update_logits: the fused argmax + confusion kernel.

Every count is checked against two oracles: ``torch.argmax`` counted by the
confusion twin, and the NumPy twin of the fused kernel
(tests/reference_logits.py).  The per-pixel tests give the kernel labels
equal to ``torch.argmax`` itself, so a single wrong pixel shows up off the
diagonal.
"""
from __future__ import annotations

import doctest
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
import reference_logits as ref_logits
from isa_levels import ISA_LEVELS, isa_capped
from mushin import ConfusionMatrix
from synthetic_batches import classification_batches
from test_dlpack import KDL_CUDA, KDL_FLOAT, CtypesProducer

KDL_BFLOAT = 4

FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
DTYPE_IDS = ["float32", "float16", "bfloat16", "float64"]
NAN = float("nan")
INF = float("inf")

# A batch spanning more than one internal block of 512 pixels with rows that
# are not a multiple of the 16-pixel vector step, so tails are exercised.
SHAPE = (2, 6, 23, 41)


# ---------------------------------------------------- oracles, layouts --


def _as_numpy64(logits) -> np.ndarray:
    """The logits as float64 NumPy (exact for every dtype tested here)."""
    if isinstance(logits, torch.Tensor):
        return logits.detach().to(torch.float64).numpy()
    return np.asarray(logits, dtype=np.float64)


def _torch_argmax(logits, class_dim: int) -> np.ndarray:
    tensor = logits if isinstance(logits, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(logits))
    return tensor.argmax(dim=class_dim).numpy()


def _fused(logits, target, num_classes, ignore_index=None, class_dim=1, num_threads=None):
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index, num_threads=num_threads)
    cm.update_logits(logits, target, class_dim=class_dim)
    return cm.counts


def _assert_matches_oracles(logits, target, num_classes, ignore_index=None, class_dim=1):
    got = _fused(logits, target, num_classes, ignore_index, class_dim)
    target_np = np.asarray(target)
    by_torch = ref.confusion_counts(_torch_argmax(logits, class_dim), target_np, num_classes, ignore_index)
    by_twin = ref_logits.confusion_counts_from_logits(
        _as_numpy64(logits), target_np, num_classes, ignore_index, class_dim
    )
    np.testing.assert_array_equal(by_twin, by_torch)  # the two oracles agree
    np.testing.assert_array_equal(got, by_torch)


def _assert_every_pixel_is_torch_argmax(logits, num_classes, class_dim=1):
    """Labels = torch.argmax: any pixel the kernel gets wrong lands off the diagonal."""
    labels = _torch_argmax(logits, class_dim)
    counts = _fused(logits, labels, num_classes, class_dim=class_dim)
    np.testing.assert_array_equal(np.diag(counts), np.bincount(labels.ravel(), minlength=num_classes))
    assert counts.sum() == labels.size
    np.testing.assert_array_equal(
        ref_logits.argmax_first(_as_numpy64(logits), class_dim), labels
    )  # the twin agrees pixel by pixel too


def _labels(shape, num_classes, ignore_index=None, seed=0, void=0.1):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=g)
    if ignore_index is not None:
        target[torch.rand(shape, generator=g) < void] = ignore_index
    return target


def _layout(base: torch.Tensor, name: str):
    """(logits, class_dim) holding the classes of `base` (N, C, H, W) in a given memory layout."""
    if name == "nchw":
        return base.contiguous(), 1
    if name == "nhwc":  # channels-last as its own shape
        return base.permute(0, 2, 3, 1).contiguous(), -1
    if name == "channels_last":  # NCHW shape, NHWC memory
        return base.contiguous(memory_format=torch.channels_last), 1
    if name == "strided":  # every other row, every third column of a larger tensor
        n, c, h, w = base.shape
        big = torch.zeros(n, c, 2 * h, 3 * w, dtype=base.dtype)
        big[:, :, ::2, 1::3] = base
        return big[:, :, ::2, 1::3], 1
    if name == "class_strided":  # classes every other plane of a larger tensor
        n, c, h, w = base.shape
        big = torch.zeros(n, 2 * c, h, w, dtype=base.dtype)
        big[:, ::2] = base
        return big[:, ::2], 1
    if name == "transposed":  # H and W swapped in memory
        return base.transpose(2, 3).contiguous().transpose(2, 3), 1
    if name == "classes_outer_dim0":  # (C, N, H, W) memory, read through class_dim=0
        return base.transpose(0, 1).contiguous(), 0
    raise ValueError(name)


TORCH_LAYOUTS = ["nchw", "nhwc", "channels_last", "strided", "class_strided", "transposed", "classes_outer_dim0"]


def _base_logits(dtype, shape=SHAPE, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(dtype)


# ---------------------------------------------------- layouts and dtypes --


@pytest.mark.parametrize("layout", TORCH_LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_counts_equal_torch_argmax_and_the_twin(dtype, layout):
    base = _base_logits(dtype)
    logits, class_dim = _layout(base, layout)
    target = _labels((SHAPE[0], SHAPE[2], SHAPE[3]), SHAPE[1], ignore_index=255)
    _assert_matches_oracles(logits, target, SHAPE[1], 255, class_dim)


@pytest.mark.parametrize("layout", TORCH_LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_every_pixel_gets_torch_argmax(isa, dtype, layout):
    logits, class_dim = _layout(_base_logits(dtype, seed=1), layout)
    _assert_every_pixel_is_torch_argmax(logits, SHAPE[1], class_dim)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64], ids=lambda d: np.dtype(d).name)
def test_negative_strides_from_numpy(rng, dtype):
    base = rng.standard_normal(SHAPE).astype(dtype)
    flipped = base[::-1, :, ::-1, ::-1]  # negative strides on every pixel dimension
    assert all(s < 0 for i, s in enumerate(flipped.strides) if i != 1)
    target = rng.integers(0, SHAPE[1], size=(SHAPE[0], SHAPE[2], SHAPE[3]))
    target[rng.random(target.shape) < 0.1] = 255
    _assert_matches_oracles(flipped, target, SHAPE[1], 255)
    _assert_every_pixel_is_torch_argmax(flipped, SHAPE[1])
    reversed_classes = base[:, ::-1]  # a negative class stride
    _assert_every_pixel_is_torch_argmax(reversed_classes, SHAPE[1])


def test_misaligned_float32_buffer(rng):
    values = rng.standard_normal(3 * 40).astype(np.float32)
    raw = np.zeros(values.nbytes + 1, dtype=np.uint8)
    raw[1:] = values.view(np.uint8)
    misaligned = np.frombuffer(raw.data, dtype=np.float32, offset=1, count=values.size).reshape(3, 40)
    assert not misaligned.flags.aligned
    _assert_every_pixel_is_torch_argmax(misaligned, 3, class_dim=0)
    _assert_every_pixel_is_torch_argmax(misaligned.T, 3, class_dim=1)


@pytest.mark.parametrize("class_dim", [1, -1])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_classification_logits(dtype, class_dim):
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(300, 7, generator=g).to(dtype)
    target = torch.randint(0, 7, (300,), generator=g)
    _assert_matches_oracles(logits, target, 7, None, class_dim)
    classes_major = torch.randn(7, 300, generator=g).to(dtype).T  # (N, C) with the class stride N
    _assert_every_pixel_is_torch_argmax(classes_major, 7, class_dim)


def test_volumetric_and_one_dimensional_logits():
    g = torch.Generator().manual_seed(4)
    volume = torch.randn(2, 4, 5, 6, 7, generator=g)
    _assert_every_pixel_is_torch_argmax(volume, 4)
    _assert_matches_oracles(volume, _labels((2, 5, 6, 7), 4, 255), 4, 255)
    single = torch.tensor([0.5, 2.0, -1.0])  # one pixel, a 0-d label
    np.testing.assert_array_equal(_fused(single, torch.tensor(1), 3, class_dim=0), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_one_class_predicts_class_zero_everywhere():
    logits = torch.randn(2, 1, 5, 5)
    np.testing.assert_array_equal(_fused(logits, torch.zeros(2, 5, 5, dtype=torch.long), 1), [[50]])


def test_empty_batch_counts_nothing():
    cm = ConfusionMatrix(4)
    cm.update_logits(torch.zeros(0, 4, 3, 3), torch.zeros(0, 3, 3, dtype=torch.long))
    cm.update_logits(torch.zeros(2, 4, 0, 3), torch.zeros(2, 0, 3, dtype=torch.long))
    assert cm.counts.sum() == 0


@pytest.mark.parametrize("target_dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_every_label_dtype(target_dtype):
    logits = _base_logits(torch.float32, seed=5)
    target = _labels((SHAPE[0], SHAPE[2], SHAPE[3]), SHAPE[1], ignore_index=255).to(target_dtype)
    _assert_matches_oracles(logits, target, SHAPE[1], 255)


def test_accumulates_like_update_of_the_argmax():
    logits = _base_logits(torch.float32, seed=6)
    target = _labels((SHAPE[0], SHAPE[2], SHAPE[3]), SHAPE[1], ignore_index=255)
    fused = ConfusionMatrix(SHAPE[1], ignore_index=255)
    by_index = ConfusionMatrix(SHAPE[1], ignore_index=255)
    for _ in range(3):
        fused.update_logits(logits, target)
        by_index.update(logits.argmax(1), target)
    np.testing.assert_array_equal(fused.counts, by_index.counts)


# ---------------------------------------------- ties, NaN and infinities --


@pytest.mark.parametrize("layout", TORCH_LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_ties_go_to_the_first_maximum(isa, dtype, layout):
    g = torch.Generator().manual_seed(7)
    base = torch.randint(0, 3, SHAPE, generator=g).to(dtype)  # three values: ties everywhere
    logits, class_dim = _layout(base, layout)
    _assert_every_pixel_is_torch_argmax(logits, SHAPE[1], class_dim)


@pytest.mark.parametrize("layout", TORCH_LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_nan_is_the_maximum_and_the_first_nan_wins(isa, dtype, layout):
    g = torch.Generator().manual_seed(8)
    base = torch.randn(SHAPE, generator=g)
    base[torch.rand(SHAPE, generator=g) < 0.05] = NAN
    base[0, :, 0, :] = NAN  # whole pixels of NaN
    base[1, 0, 3, :] = NAN  # NaN in the first class
    base = base.to(dtype)
    logits, class_dim = _layout(base, layout)
    _assert_every_pixel_is_torch_argmax(logits, SHAPE[1], class_dim)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_a_single_nan_far_from_the_rest(isa, dtype):
    # one NaN in the last class of one pixel in a large clean batch: the fast
    # vector path must notice it and redo that block exactly
    base = _base_logits(torch.float32, seed=9)
    base[1, SHAPE[1] - 1, 17, 33] = NAN
    logits = base.to(dtype)
    _assert_every_pixel_is_torch_argmax(logits, SHAPE[1])
    assert _torch_argmax(logits, 1)[1, 17, 33] == SHAPE[1] - 1


@pytest.mark.parametrize(
    "row, expected",
    [
        ([1.0, NAN, 3.0, NAN], 1),
        ([NAN, NAN, 5.0, 1.0], 0),
        ([-INF, -INF, -INF, -INF], 0),
        ([-INF, NAN, INF, 0.0], 1),
        ([INF, INF, 1.0, INF], 0),
        ([1.0, INF, 2.0, INF], 1),
        ([-0.0, 0.0, -1.0, -2.0], 0),
        ([0.0, -0.0, -1.0, -2.0], 0),
        ([-5.0, -0.0, 0.0, -1.0], 1),
        ([2.0, 3.0, 3.0, 3.0], 1),
    ],
)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_special_values(isa, dtype, row, expected):
    # the same row repeated over many pixels (vector path) and once (scalar path)
    one = torch.tensor(row).to(dtype)
    assert int(one.argmax()) == expected  # torch's own rule
    many = one.reshape(1, 4, 1, 1).expand(2, 4, 3, 40).contiguous()
    for logits in (many, many[:, :, :1, :1], many.permute(0, 2, 3, 1).contiguous()):
        class_dim = -1 if logits.shape[-1] == 4 else 1
        labels = torch.full(logits.select(class_dim, 0).shape, expected, dtype=torch.long)
        counts = _fused(logits, labels, 4, class_dim=class_dim)
        assert counts[expected, expected] == labels.numel()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_every_16_bit_pattern_converts_exactly(isa, dtype):
    # all 65536 patterns against all 65536 shifted by one: every pair of
    # neighbouring values (subnormals, infinities, NaN payloads) is compared
    bits = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16)
    values = bits.view(dtype)
    logits = torch.stack([values, values.roll(1), values.roll(-7)], dim=1)  # (65536, 3)
    _assert_every_pixel_is_torch_argmax(logits, 3, class_dim=1)
    _assert_every_pixel_is_torch_argmax(logits.T.contiguous(), 3, class_dim=0)


# -------------------------------------------------------- ignore_index --


@pytest.mark.parametrize("ignore_index", [None, 255, 2, 0, -1, -100])
@pytest.mark.parametrize("layout", ["nchw", "nhwc", "strided"])
def test_ignore_index_inside_and_outside_the_class_range(isa, ignore_index, layout):
    logits, class_dim = _layout(_base_logits(torch.float32, seed=10), layout)
    target = _labels((SHAPE[0], SHAPE[2], SHAPE[3]), SHAPE[1], ignore_index=ignore_index, void=0.3)
    _assert_matches_oracles(logits, target, SHAPE[1], ignore_index, class_dim)


def test_ignored_positions_are_not_counted_even_with_nan_logits():
    logits = torch.full((1, 3, 2, 2), NAN)
    target = torch.full((1, 2, 2), 255)
    target[0, 0, 0] = 2
    np.testing.assert_array_equal(_fused(logits, target, 3, ignore_index=255), [[0, 0, 0], [0, 0, 0], [1, 0, 0]])


# ------------------------------------------------------------- bad input --


def test_class_count_must_equal_num_classes():
    cm = ConfusionMatrix(5)
    with pytest.raises(ValueError, match=re.escape("logits of shape (2, 4, 3, 3) have 4 classes in dim 1, but num_classes=5")):
        cm.update_logits(torch.zeros(2, 4, 3, 3), torch.zeros(2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=re.escape("logits of shape (2, 3, 3, 4) have 4 classes in dim 3, but num_classes=5")):
        cm.update_logits(torch.zeros(2, 3, 3, 4), torch.zeros(2, 3, 3, dtype=torch.long), class_dim=-1)
    assert cm.counts.sum() == 0


@pytest.mark.parametrize("target_shape", [(2, 3, 4), (2, 3), (2, 3, 3, 1), ()])
def test_target_shape_must_be_the_logits_without_class_dim(target_shape):
    with pytest.raises(ValueError, match=re.escape("does not match logits shape (2, 4, 3, 3) without dim 1")):
        ConfusionMatrix(4).update_logits(torch.zeros(2, 4, 3, 3), torch.zeros(target_shape, dtype=torch.long))


@pytest.mark.parametrize("class_dim", [4, -5, 100])
def test_class_dim_out_of_range(class_dim):
    with pytest.raises(ValueError, match=rf"class_dim={class_dim} is out of range for logits of shape \(2, 4, 3, 3\)"):
        ConfusionMatrix(4).update_logits(torch.zeros(2, 4, 3, 3), torch.zeros(2, 3, 3, dtype=torch.long), class_dim=class_dim)


def test_zero_dimensional_logits_are_rejected():
    with pytest.raises(ValueError, match="out of range for logits of shape ()"):
        ConfusionMatrix(1).update_logits(torch.tensor(1.0), torch.tensor(0), class_dim=0)


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_logits_must_be_floating(dtype):
    with pytest.raises(TypeError, match="logits must have dtype float16, bfloat16, float32 or float64"):
        ConfusionMatrix(2).update_logits(torch.zeros(2, 2, 3, 3, dtype=dtype), torch.zeros(2, 3, 3, dtype=torch.long))


def test_labels_must_be_integers():
    with pytest.raises(TypeError, match="target must hold integer class indices.*got float32"):
        ConfusionMatrix(2).update_logits(torch.zeros(2, 2, 3, 3), torch.zeros(2, 3, 3))


def test_class_dim_must_be_an_int():
    with pytest.raises(TypeError):
        ConfusionMatrix(2).update_logits(torch.zeros(2, 2, 3), torch.zeros(2, 3, dtype=torch.long), class_dim="1")


@pytest.mark.parametrize("size", [(1, 4, 2), (2, 300, 300)], ids=["small", "large"])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_bad_labels_name_target_value_and_count_and_change_nothing(size, ignore_index):
    C = 4
    n, h, w = size
    logits = torch.randn(n, C, h, w)
    target = _labels((n, h, w), C, ignore_index=ignore_index)
    cm = ConfusionMatrix(C, ignore_index=ignore_index)
    cm.update_logits(logits, target)  # some counts to keep
    before = cm.counts
    bad = target.clone()
    flat = bad.view(-1)
    flat[5] = 7
    flat[-1] = -3
    expected = ref.confusion_bad_values(logits.argmax(1).numpy(), bad.numpy(), C, ignore_index)
    assert (expected.target_bad, expected.target_first) == (2, 7)
    with pytest.raises(ValueError) as info:
        cm.update_logits(logits, bad)
    message = str(info.value)
    assert "target holds 2 values outside [0, 4)" in message
    assert "(first: 7 at flat index 5)" in message
    assert "preds" not in message
    assert "the confusion matrix was not changed" in message
    np.testing.assert_array_equal(cm.counts, before)


def test_bad_label_error_matches_update():
    logits = torch.randn(2, 3, 5, 5)
    target = _labels((2, 5, 5), 3, ignore_index=255)
    target[1, 2, 2] = 9
    messages = []
    for call in (lambda cm: cm.update_logits(logits, target), lambda cm: cm.update(logits.argmax(1), target)):
        with pytest.raises(ValueError) as info:
            call(ConfusionMatrix(3, ignore_index=255))
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_device_memory_is_rejected_naming_both_devices():
    logits = CtypesProducer(np.zeros((1, 2, 2, 2), np.float32), (1, 2, 2, 2), device=(KDL_CUDA, 1))
    with pytest.raises(
        ValueError,
        match=re.escape("update_logits reads host memory, but logits is on cuda:1 and target is on cpu:0"),
    ):
        ConfusionMatrix(2).update_logits(logits, torch.zeros(1, 2, 2, dtype=torch.long))
    assert logits.deleter_calls == logits.produced == 1


def test_byte_offset_and_compact_strides_from_a_raw_producer():
    # strides == NULL (compact row-major) and a byte offset of one (C, N) block
    values = np.random.default_rng(11).standard_normal((2, 3, 50)).astype(np.float32)
    producer = CtypesProducer(values, (3, 50), None, byte_offset=values[0].nbytes)
    target = np.zeros(50, dtype=np.int64)
    expected = ref.confusion_counts(values[1].argmax(0), target, 3)
    np.testing.assert_array_equal(_fused(producer, target, 3, class_dim=0), expected)
    assert producer.deleter_calls == 1


def test_bfloat16_from_a_raw_producer():
    values = torch.randn(4, 40).to(torch.bfloat16)
    raw = values.view(torch.int16).numpy()
    producer = CtypesProducer(raw, (4, 40), None, code=KDL_BFLOAT, bits=16)
    np.testing.assert_array_equal(
        _fused(producer, np.zeros(40, dtype=np.int64), 4, class_dim=0),
        ref.confusion_counts(values.argmax(0).numpy(), np.zeros(40, dtype=np.int64), 4),
    )


@pytest.mark.parametrize("code, bits, lanes", [(KDL_FLOAT, 8, 1), (KDL_BFLOAT, 32, 1), (KDL_FLOAT, 32, 4)])
def test_unsupported_float_formats_are_type_errors(code, bits, lanes):
    producer = CtypesProducer(np.zeros(8, np.uint8), (2, 2), None, code=code, bits=bits, lanes=lanes)
    with pytest.raises(TypeError):
        ConfusionMatrix(2).update_logits(producer, np.zeros(2, dtype=np.int64), class_dim=1)
    assert producer.deleter_calls == producer.produced


# ------------------------------------------------------------ hypothesis --


@st.composite
def fused_cases(draw):
    num_classes = draw(st.integers(1, 9))
    n = draw(st.integers(1, 3))
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 70))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    layout = draw(st.sampled_from(TORCH_LAYOUTS))
    values = draw(st.sampled_from(["normal", "ties", "nan", "inf"]))
    ignore_index = draw(st.sampled_from([None, 255, 0, -1]))
    seed = draw(st.integers(0, 2**31 - 1))
    isa_level = draw(st.sampled_from(ISA_LEVELS))
    return num_classes, (n, num_classes, h, w), dtype, layout, values, ignore_index, seed, isa_level


@given(fused_cases())
def test_fused_equals_torch_argmax_and_twin_on_generated_batches(case):
    num_classes, shape, dtype, layout, values, ignore_index, seed, isa_level = case
    with isa_capped(isa_level):
        _check_generated_case(num_classes, shape, dtype, layout, values, ignore_index, seed)


def _check_generated_case(num_classes, shape, dtype, layout, values, ignore_index, seed):
    g = torch.Generator().manual_seed(seed)
    if values == "ties":
        base = torch.randint(-2, 2, shape, generator=g).float()
    else:
        base = torch.randn(shape, generator=g)
    if values == "nan":
        base[torch.rand(shape, generator=g) < 0.2] = NAN
    if values == "inf":
        base[torch.rand(shape, generator=g) < 0.2] = INF
        base[torch.rand(shape, generator=g) < 0.2] = -INF
    logits, class_dim = _layout(base.to(dtype), layout)
    target = _labels((shape[0], shape[2], shape[3]), num_classes, ignore_index, seed=seed, void=0.2)
    _assert_matches_oracles(logits, target, num_classes, ignore_index, class_dim)
    _assert_every_pixel_is_torch_argmax(logits, num_classes, class_dim)


# ------------------------------------------------------------- docstring --


def test_update_logits_docstring_example_runs():
    parser = doctest.DocTestParser()
    test = parser.get_doctest(ConfusionMatrix.update_logits.__doc__, {}, "update_logits", None, 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.tries > 0 and runner.failures == 0


# ------------------------------------------------- compare() integration --


class _CountingMatrix:
    """Wraps mushin's ConfusionMatrix and records which update method compare() used."""

    calls: list = []

    def __init__(self, *args, **kwargs):
        self._inner = ConfusionMatrix(*args, **kwargs)

    def update(self, *args, **kwargs):
        _CountingMatrix.calls.append("update")
        return self._inner.update(*args, **kwargs)

    def update_logits(self, *args, **kwargs):
        _CountingMatrix.calls.append("update_logits")
        return self._inner.update_logits(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def counting_matrix(monkeypatch):
    import importlib

    compare_module = importlib.import_module("mushin.evaluation.compare")  # mushin.compare is the function
    _CountingMatrix.calls = []
    monkeypatch.setattr(compare_module, "ConfusionMatrix", _CountingMatrix)
    return _CountingMatrix.calls


def _seg_models(num_classes, seeds=(0, 1)):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(torch.nn.Conv2d(3, num_classes, 3, padding=1))
    return models


def _seg_data(num_classes, n_batches=3, ignore_index=255):
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(n_batches):
        y = torch.randint(0, num_classes, (2, 9, 11), generator=g)
        y[torch.rand(y.shape, generator=g) < 0.1] = ignore_index
        data.append((torch.randn(2, 3, 9, 11, generator=g), y))
    return data


def _compare(methods, data, **kwargs):
    from mushin import compare

    # the task and test these cases were written for (compare's defaults were segmentation, welch)
    kwargs.setdefault("task", "segmentation")
    kwargs.setdefault("test", "welch")
    return compare(methods, data, progress=False, **kwargs)


def test_compare_counts_segmentation_logits_with_the_fused_kernel(counting_matrix):
    C = 5
    data = _seg_data(C)
    methods = {"a": _seg_models(C, (0, 1)), "b": _seg_models(C, (2, 3))}
    fused = _compare(methods, data, num_classes=C, ignore_index=255)
    assert set(counting_matrix) == {"update_logits"}
    counting_matrix.clear()
    by_index = _compare(
        methods, data, num_classes=C, ignore_index=255, predict_fn=lambda model, x: (model(x).argmax(1), None)
    )
    assert set(counting_matrix) == {"update"}
    np.testing.assert_array_equal(fused.confusion.values, by_index.confusion.values)
    for metric in fused.metrics:
        np.testing.assert_array_equal(fused.data[metric].values, by_index.data[metric].values)
    # and the counts are the oracle's
    model = methods["a"][0]
    with torch.no_grad():
        expected = sum(ref.confusion_counts(model(x).argmax(1).numpy(), y.numpy(), C, 255) for x, y in data)
    np.testing.assert_array_equal(fused.confusion.sel({"method": "a"}).values[0], expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64], ids=["float16", "bfloat16", "float64"])
def test_compare_takes_logits_from_a_user_predict_fn(counting_matrix, dtype):
    C = 4
    data = _seg_data(C)
    methods = {"a": _seg_models(C, (0, 1)), "b": _seg_models(C, (2, 3))}

    def logits_fn(model, x):
        return model(x).to(dtype), None

    result = _compare(methods, data, num_classes=C, ignore_index=255, predict_fn=logits_fn)
    assert set(counting_matrix) == {"update_logits"}
    with torch.no_grad():
        for i, model in enumerate(methods["b"]):
            expected = sum(
                ref.confusion_counts(model(x).to(dtype).argmax(1).numpy(), y.numpy(), C, 255) for x, y in data
            )
            np.testing.assert_array_equal(result.confusion.sel({"method": "b"}).values[i], expected)


def test_compare_classification_counts_logits_while_probabilities_feed_auroc_and_ece(counting_matrix):
    C = 4
    data = classification_batches(3, 16, 6, C, seed=1)
    methods = {"a": [torch.nn.Linear(6, C) for _ in range(2)], "b": [torch.nn.Linear(6, C) for _ in range(2)]}
    fused = _compare(methods, data, task="classification", num_classes=C)
    assert set(counting_matrix) == {"update_logits"}
    counting_matrix.clear()

    def indices_and_probs(model, x):
        logits = model(x)
        return logits.argmax(-1), logits.softmax(-1)

    by_index = _compare(methods, data, task="classification", num_classes=C, predict_fn=indices_and_probs)
    assert set(counting_matrix) == {"update"}
    np.testing.assert_array_equal(fused.confusion.values, by_index.confusion.values)
    for metric in fused.metrics:
        np.testing.assert_array_equal(fused.data[metric].values, by_index.data[metric].values)


def test_a_metric_taking_class_indices_keeps_the_argmax_path(counting_matrix):
    from torchmetrics.classification import MulticlassAccuracy

    from mushin.metrics.tasks import miou

    C = 4
    data = _seg_data(C)
    methods = {"a": _seg_models(C, (0, 1)), "b": _seg_models(C, (2, 3))}
    battery = {"miou": miou, "tm_acc": MulticlassAccuracy(num_classes=C, average="macro", ignore_index=255)}  # no confusion fast path for macro accuracy
    result = _compare(methods, data, num_classes=C, ignore_index=255, metrics=battery)
    assert set(counting_matrix) == {"update"}  # the indices are built anyway: count them
    with torch.no_grad():
        model = methods["a"][1]
        expected = sum(ref.confusion_counts(model(x).argmax(1).numpy(), y.numpy(), C, 255) for x, y in data)
    np.testing.assert_array_equal(result.confusion.sel({"method": "a"}).values[1], expected)
    assert np.isfinite(result.data["tm_acc"].values).all()


def test_bad_labels_in_compare_name_the_batch_and_the_value():
    C = 3
    data = _seg_data(C, n_batches=2)
    data[1][1][0, 4, 4] = 7
    with pytest.raises(ValueError, match=r"target holds 1 value outside \[0, 3\).*\(first: 7 at flat index 48\)"):
        _compare({"a": _seg_models(C, (0,))}, data, num_classes=C, ignore_index=255)
