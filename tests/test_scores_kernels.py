"""The C accumulators of csrc/scores.c against their NumPy twins.

CalibrationBins and RocScores are fed generated batches (ties, every float
dtype, strided and reversed layouts, several label dtypes, ignore_index in
and out of the class range) and must agree with tests/reference_scores.py:
bin counts exactly, sums and AUROCs to 1e-12.  Bad input must raise a clear
error and leave the accumulator exactly as it was.
"""
from __future__ import annotations

import copy
import ctypes
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_scores as ref
from mushin._core import CalibrationBins, RocScores

FLOAT_DTYPES = [np.float16, np.float32, np.float64]
LABEL_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32]


def _layout(array: np.ndarray, how: str) -> np.ndarray:
    """The same values in another memory layout."""
    if how == "fortran":
        return np.asfortranarray(array)
    if how == "reversed":
        return np.ascontiguousarray(array[::-1])[::-1]
    if how == "strided":
        wide = np.zeros((array.shape[0] * 2,) + array.shape[1:] + (2,) * (array.ndim - 1), array.dtype)
        if array.ndim == 2:
            wide[::2, :, 0] = array
            return wide[::2, :, 0]
        wide[::2] = array
        return wide[::2]
    return array


@st.composite
def batches(draw, max_rows: int = 40, max_classes: int = 9):
    """(num_classes, ignore_index, [(probs, labels), ...])."""
    num_classes = draw(st.integers(1, max_classes))
    ignore_choice = draw(st.sampled_from(["none", "in", "out"]))
    label_dtype = draw(st.sampled_from(LABEL_DTYPES))
    if ignore_choice == "none":
        ignore_index = None
    elif ignore_choice == "in":
        ignore_index = draw(st.integers(0, num_classes - 1))
    else:
        ignore_index = 255 if np.iinfo(label_dtype).max >= 255 else -1
        if ignore_index == -1 and np.iinfo(label_dtype).min == 0:
            ignore_index = None
    pool = draw(
        st.sampled_from(
            [
                [0.0, 1.0],
                [0.0, 0.25, 0.5, 0.75, 1.0],
                [0.1, 0.2, 0.3, 1 / 3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0],
                None,  # continuous
            ]
        )
    )
    out = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.integers(0, max_rows))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        if pool is None:
            probs = rng.random((rows, num_classes))
        else:
            probs = rng.choice(np.asarray(pool), size=(rows, num_classes))
        labels = rng.integers(0, num_classes, rows)
        if ignore_index is not None:
            labels[rng.random(rows) < 0.2] = ignore_index
        dtype = draw(st.sampled_from(FLOAT_DTYPES))
        layout = draw(st.sampled_from(["c", "fortran", "reversed", "strided"]))
        out.append(
            (
                _layout(probs.astype(dtype), layout),
                _layout(labels.astype(label_dtype), draw(st.sampled_from(["c", "reversed", "strided"]))),
            )
        )
    return num_classes, ignore_index, out


def _concat(batch_list):
    probs = np.concatenate([np.asarray(p) for p, _ in batch_list]) if batch_list else None
    labels = np.concatenate([np.asarray(t).astype(np.int64) for _, t in batch_list])
    return probs, labels


@settings(max_examples=150)
@given(batches())
def test_calibration_bins_match_numpy_twin(case):
    num_classes, ignore_index, batch_list = case
    n_bins = 7
    bins = CalibrationBins(num_classes, ignore_index, n_bins=n_bins)
    for probs, labels in batch_list:
        bins.update(probs, labels)
    counts = np.zeros(n_bins + 1, np.int64)
    conf = np.zeros(n_bins + 1)
    acc = np.zeros(n_bins + 1)
    for probs, labels in batch_list:
        c, s, a = ref.calibration_bins(probs, labels, n_bins, ignore_index)
        counts += c
        conf += s
        acc += a
    np.testing.assert_array_equal(bins.counts, counts)
    np.testing.assert_allclose(bins.confidence_sums, conf, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(bins.accuracy_sums, acc)
    assert bins.num_samples == counts.sum()
    probs, labels = _concat(batch_list)
    expected = ref.calibration_error(probs, labels, n_bins, ignore_index)
    if np.isnan(expected):
        assert np.isnan(bins.compute())
    else:
        assert bins.compute() == pytest.approx(expected, abs=1e-12)


@settings(max_examples=150)
@given(batches())
def test_roc_scores_match_numpy_twin(case):
    num_classes, ignore_index, batch_list = case
    roc = RocScores(num_classes, ignore_index)
    for probs, labels in batch_list:
        roc.update(probs, labels)
    probs, labels = _concat(batch_list)
    expected = ref.auroc_per_class(probs, labels, num_classes, ignore_index)
    np.testing.assert_allclose(roc.per_class(), expected, rtol=0, atol=1e-12)
    kept = labels.size if ignore_index is None else int((labels != ignore_index).sum())
    assert roc.num_samples == kept
    # the store widens to float64 once a float64 batch keeps a row
    wide = any(
        np.asarray(p).dtype == np.float64
        and bool((np.asarray(t).astype(np.int64) != ignore_index).any())
        for p, t in batch_list
    )
    assert roc.score_dtype == ("float64" if wide else "float32")


def test_bfloat16_probabilities_are_read_exactly():
    rng = np.random.default_rng(3)
    probs = torch.from_numpy(rng.random((300, 6))).to(torch.bfloat16)
    labels = torch.from_numpy(rng.integers(0, 6, 300))
    exact = probs.to(torch.float32).numpy()
    roc, bins = RocScores(6), CalibrationBins(6)
    roc.update(probs, labels)
    bins.update(probs, labels)
    np.testing.assert_allclose(roc.per_class(), ref.auroc_per_class(exact, labels.numpy(), 6), atol=1e-12)
    np.testing.assert_array_equal(bins.counts, ref.calibration_bins(exact, labels.numpy())[0])


def test_float16_subnormals_and_extremes_are_read_exactly():
    values = np.array([0.0, -0.0, 6e-8, 1e-7, 6.1e-5, 0.5, 0.99951171875, 1.0], np.float16)
    probs = np.stack([values, values[::-1]], axis=1)
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    roc = RocScores(2)
    roc.update(probs, labels)
    np.testing.assert_allclose(
        roc.per_class(), ref.auroc_per_class(probs.astype(np.float32), labels, 2), atol=1e-15
    )


def test_negative_zero_ties_with_zero():
    probs = np.array([[0.0, 1.0], [-0.0, 1.0], [0.0, 1.0], [-0.0, 1.0]], np.float32)
    labels = np.array([0, 1, 1, 0])
    roc = RocScores(2)
    roc.update(probs, labels)
    assert roc.per_class()[0] == 0.5


def test_rows_spanning_many_blocks_keep_their_order():
    # 5000 classes -> blocks of 64 rows; 300 rows cross several of them
    rng = np.random.default_rng(0)
    num_classes = 5000
    probs = rng.random((300, num_classes)).astype(np.float32)
    labels = rng.integers(0, 3, 300)
    roc = RocScores(num_classes)
    roc.update(probs[:100], labels[:100])
    roc.update(probs[100:], labels[100:])
    got = roc.per_class()
    expected = ref.auroc_per_class(probs, labels, num_classes)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert roc.nbytes >= 300 * (num_classes * 4 + 4)


def test_float64_batch_widens_earlier_float32_rows_exactly():
    rng = np.random.default_rng(1)
    p32 = rng.random((50, 4)).astype(np.float32)
    p64 = rng.random((50, 4))
    labels = rng.integers(0, 4, 100)
    roc = RocScores(4)
    roc.update(p32, labels[:50])
    assert roc.score_dtype == "float32"
    roc.update(p64, labels[50:])
    assert roc.score_dtype == "float64"
    both = np.concatenate([p32.astype(np.float64), p64])
    np.testing.assert_allclose(roc.per_class(), ref.auroc_per_class(both, labels, 4), atol=1e-12)


def test_default_boundaries_are_i_over_n_bins_in_float32():
    for n_bins in (1, 2, 3, 7, 10, 15, 100):
        np.testing.assert_array_equal(CalibrationBins(2, n_bins=n_bins).boundaries, ref.default_boundaries(n_bins))


def test_torch_linspace_boundaries_are_kept_bit_for_bit():
    for n_bins in (3, 9, 15, 20, 64):
        expected = torch.linspace(0, 1, n_bins + 1).numpy()
        bins = CalibrationBins(2, boundaries=expected)
        np.testing.assert_array_equal(bins.boundaries, expected)
        assert bins.n_bins == n_bins


def test_confidence_of_one_and_on_boundaries():
    boundaries = torch.linspace(0, 1, 16).numpy()
    confidences = np.concatenate([boundaries, np.nextafter(boundaries, np.float32(0))[1:], [1.0]])
    probs = np.stack([confidences, 1 - confidences], axis=1).astype(np.float32)
    probs = np.where(probs[:, :1] >= probs[:, 1:], probs, probs[:, ::-1])  # class 0 holds the max
    labels = np.zeros(len(probs), np.int64)
    bins = CalibrationBins(2, boundaries=boundaries)
    bins.update(probs, labels)
    counts, conf, acc = ref.calibration_bins(probs, labels, boundaries=boundaries)
    np.testing.assert_array_equal(bins.counts, counts)
    assert bins.counts[-1] == 3  # confidences of exactly 1 (rows 0 -> (1, 0), 1.0, 1.0) get the extra slot


def test_empty_accumulators_compute_nan():
    assert np.isnan(RocScores(3).compute())
    assert np.isnan(CalibrationBins(3).compute())
    roc = RocScores(3, ignore_index=1)
    roc.update(np.full((4, 3), 1 / 3), np.ones(4, np.int64))
    assert roc.num_samples == 0 and np.isnan(roc.compute())


def test_class_without_positives_or_negatives_scores_zero():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])
    roc = RocScores(3)
    roc.update(probs, np.array([0, 1, 0]))
    per_class = roc.per_class()
    assert per_class[2] == 0.0  # no positives
    assert per_class[0] == 1.0 and per_class[1] == 1.0
    assert roc.compute() == pytest.approx(2 / 3)
    single = RocScores(2)
    single.update(probs[:, :2], np.array([0, 0, 0]))
    assert single.per_class().tolist() == [0.0, 0.0]  # class 0: no negatives; class 1: no positives


# --------------------------------------------------------------- state --


def _snapshot(acc):
    if isinstance(acc, CalibrationBins):
        return acc.counts.tolist(), acc.confidence_sums.tolist(), acc.accuracy_sums.tolist()
    return acc.num_samples, acc.score_dtype, acc.per_class().tolist()


@pytest.fixture(params=["roc", "bins"])
def filled(request):
    acc = RocScores(4, ignore_index=255) if request.param == "roc" else CalibrationBins(4, ignore_index=255)
    rng = np.random.default_rng(5)
    acc.update(rng.random((20, 4)).astype(np.float32), rng.integers(0, 4, 20))
    return acc


@pytest.mark.parametrize(
    "probs, target, error, message",
    [
        (np.full((3, 4), 0.25), np.array([0, 4, 1]), ValueError, r"target holds 1 value outside \[0, 4\) that is not ignore_index=255 \(first: 4 at index 1\)"),
        (np.full((3, 4), 0.25), np.array([-1, 9, 1]), ValueError, r"target holds 2 values outside \[0, 4\)"),
        (np.array([[0.2, 1.5, 0.0, 0.0]] * 2), np.array([0, 1]), ValueError, r"probs holds 2 values outside \[0, 1\] or NaN .*first: 1\.5 at row 0, class 1.*not logits"),
        (np.array([[0.2, np.nan, 0.0, 0.0]]), np.array([0]), ValueError, r"first: nan at row 0, class 1"),
        (np.array([[-0.1, 0.5, 0.3, 0.3]]), np.array([2]), ValueError, r"first: -0\.1 at row 0, class 0"),
        (np.full((3, 4), 1, np.int64), np.array([0, 1, 2]), TypeError, r"probs must be floating-point .* got int64; pass per-class probabilities"),
        (np.full((3, 4), 0.25), np.array([0.0, 1.0, 2.0]), TypeError, r"target must hold integer class indices .* got float64"),
        (np.full((3, 5), 0.2), np.array([0, 1, 2]), ValueError, r"probs must have shape \(N, 4\).* got \(3, 5\)"),
        (np.full((3, 4, 1), 0.25), np.array([0, 1, 2]), ValueError, r"probs must have shape \(N, 4\).* got \(3, 4, 1\)"),
        (np.full(4, 0.25), np.array([0]), ValueError, r"probs must have shape \(N, 4\).* got \(4,\)"),
        (np.full((3, 4), 0.25), np.array([0, 1]), ValueError, r"target must have shape \(3,\) to match probs \(3, 4\), got \(2,\)"),
        (np.full((3, 4), 0.25), np.array([[0, 1, 2]]), ValueError, r"target must have shape \(3,\)"),
    ],
)
def test_bad_input_raises_and_leaves_state_unchanged(filled, probs, target, error, message):
    before = _snapshot(filled)
    with pytest.raises(error, match=message):
        filled.update(probs, target)
    assert _snapshot(filled) == before


def test_ignored_rows_may_hold_anything(filled):
    before = _snapshot(filled)
    filled.update(np.array([[np.nan, 7.0, -3.0, 0.0]]), np.array([255]))
    assert _snapshot(filled) == before


def test_bad_value_in_a_later_row_keeps_nothing_of_the_batch(filled):
    before = _snapshot(filled)
    probs = np.full((1000, 4), 0.25)
    probs[999, 3] = 2.0
    with pytest.raises(ValueError, match="row 999, class 3"):
        filled.update(probs, np.zeros(1000, np.int64))
    assert _snapshot(filled) == before


class _FakeDevice:
    """A DLPack producer claiming CUDA memory (legacy capsule, no deleter)."""

    class DLTensor(ctypes.Structure):
        _fields_ = [
            ("data", ctypes.c_void_p),
            ("device_type", ctypes.c_int32),
            ("device_id", ctypes.c_int32),
            ("ndim", ctypes.c_int32),
            ("code", ctypes.c_uint8),
            ("bits", ctypes.c_uint8),
            ("lanes", ctypes.c_uint16),
            ("shape", ctypes.POINTER(ctypes.c_int64)),
            ("strides", ctypes.POINTER(ctypes.c_int64)),
            ("byte_offset", ctypes.c_uint64),
        ]

    class Managed(ctypes.Structure):
        pass

    Managed._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]

    def __init__(self, shape, code=2, bits=32):
        self.buffer = (ctypes.c_float * int(np.prod(shape)))()
        self.shape = (ctypes.c_int64 * len(shape))(*shape)
        self.managed = self.Managed()
        t = self.managed.dl_tensor
        t.data = ctypes.cast(self.buffer, ctypes.c_void_p)
        t.device_type, t.device_id, t.ndim = 2, 0, len(shape)
        t.code, t.bits, t.lanes = code, bits, 1
        t.shape = self.shape
        t.strides = None

    def __dlpack__(self, stream=None):
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new(ctypes.addressof(self.managed), b"dltensor", None)


def test_probabilities_on_a_device_are_rejected(filled):
    before = _snapshot(filled)
    with pytest.raises(ValueError, match=r"reads host memory, but probs is on cuda:0 .* move both to the CPU"):
        filled.update(_FakeDevice((3, 4)), np.array([0, 1, 2]))
    assert _snapshot(filled) == before


@pytest.mark.parametrize("make", [lambda: RocScores(0), lambda: CalibrationBins(0), lambda: RocScores(70000)])
def test_bad_num_classes(make):
    with pytest.raises(ValueError, match="num_classes must be between 1 and 65536"):
        make()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_bins": 0}, ValueError, "n_bins must be between 1"),
        ({"n_bins": 2.5}, TypeError, "n_bins must be an int"),
        ({"ignore_index": 1.0}, TypeError, "ignore_index must be an int or None"),
        ({"boundaries": [0.0, 0.5, 0.4, 1.0]}, ValueError, r"boundaries\[2\] does not exceed boundaries\[1\]"),
        ({"boundaries": [0.1, 1.0]}, ValueError, "from 0 to 1"),
        ({"boundaries": [0.0, 0.5, 1.0], "n_bins": 3}, ValueError, "n_bins=3 needs 4 boundaries, got 3"),
    ],
)
def test_bad_calibration_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        CalibrationBins(3, **kwargs)


def test_deepcopy_is_independent(filled):
    clone = copy.deepcopy(filled)
    assert _snapshot(clone) == _snapshot(filled)
    clone.update(np.full((2, 4), 0.25), np.array([0, 1]))
    assert _snapshot(clone) != _snapshot(filled)
    filled.reset()
    assert filled.num_samples == 0 and clone.num_samples > 0


def test_reset_empties_and_frees(filled):
    filled.reset()
    assert filled.num_samples == 0
    if isinstance(filled, RocScores):
        assert filled.nbytes == 0 and filled.score_dtype == "float32"


def test_inputs_are_not_modified():
    rng = np.random.default_rng(2)
    probs = rng.random((30, 3))
    labels = rng.integers(0, 3, 30)
    p0, l0 = probs.copy(), labels.copy()
    RocScores(3).update(probs, labels)
    CalibrationBins(3).update(probs, labels)
    np.testing.assert_array_equal(probs, p0)
    np.testing.assert_array_equal(labels, l0)


@pytest.mark.parametrize("kind", [RocScores, CalibrationBins])
def test_concurrent_updates_from_threads_count_every_row(kind):
    rng = np.random.default_rng(4)
    chunks = [(rng.random((2000, 5)).astype(np.float32), rng.integers(0, 5, 2000)) for _ in range(8)]
    shared, serial = kind(5), kind(5)
    for probs, labels in chunks:
        serial.update(probs, labels)
    threads = [threading.Thread(target=shared.update, args=chunk) for chunk in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared.num_samples == serial.num_samples == 16000
    assert shared.compute() == pytest.approx(serial.compute(), abs=1e-12)


def test_torch_tensors_and_numpy_arrays_agree():
    rng = np.random.default_rng(6)
    probs = rng.random((64, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 64)
    a, b = RocScores(5), RocScores(5)
    a.update(probs, labels)
    b.update(torch.from_numpy(probs).T.contiguous().T, torch.from_numpy(labels).int())
    assert a.per_class().tolist() == b.per_class().tolist()


def test_uneven_custom_boundaries_match_numpy_twin():
    boundaries = np.array([0.0, 0.1, 0.5, 0.9, 0.99, 1.0], np.float32)
    rng = np.random.default_rng(8)
    probs = rng.dirichlet(np.full(3, 0.3), size=500).astype(np.float32)
    labels = rng.integers(0, 3, 500)
    bins = CalibrationBins(3, boundaries=boundaries)
    bins.update(probs, labels)
    counts, conf, acc = ref.calibration_bins(probs, labels, boundaries=boundaries)
    np.testing.assert_array_equal(bins.counts, counts)
    np.testing.assert_allclose(bins.confidence_sums, conf, rtol=1e-12)
    assert bins.compute() == pytest.approx(ref.calibration_error(probs, labels, boundaries=boundaries), abs=1e-12)
