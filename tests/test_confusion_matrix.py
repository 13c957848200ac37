"""ConfusionMatrix: counts against the NumPy twin for every dtype, layout and
ignore_index rule, bad input rejected with the matrix left untouched, and
concurrent updates from two threads."""
import threading

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
from mushin import ConfusionMatrix

NUMPY_INT_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint32, np.bool_]
TORCH_INT_DTYPES = [
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint16,
    torch.uint32,
    torch.bool,
]


def _values(rng, shape, num_classes):
    return rng.integers(0, num_classes, size=shape)


def _counts_after(num_classes, preds, target, ignore_index=None):
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    cm.update(preds, target)
    return cm.counts


# ------------------------------------------------------------------ dtypes --


@pytest.mark.parametrize("dtype", NUMPY_INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_numpy_integer_dtype_counts_like_the_twin(rng, dtype):
    num_classes = 2 if dtype is np.bool_ else 7
    preds = _values(rng, (4, 33), num_classes).astype(dtype)
    target = _values(rng, (4, 33), num_classes).astype(dtype)
    np.testing.assert_array_equal(
        _counts_after(num_classes, preds, target), ref.confusion_counts(preds, target, num_classes)
    )


@pytest.mark.parametrize("dtype", TORCH_INT_DTYPES, ids=str)
def test_every_torch_integer_dtype_counts_like_the_twin(rng, dtype):
    num_classes = 2 if dtype is torch.bool else 7
    values_p = _values(rng, (3, 5, 11), num_classes)
    values_t = _values(rng, (3, 5, 11), num_classes)
    preds = torch.from_numpy(values_p).to(dtype)
    target = torch.from_numpy(values_t).to(dtype)
    np.testing.assert_array_equal(
        _counts_after(num_classes, preds, target), ref.confusion_counts(values_p, values_t, num_classes)
    )


@pytest.mark.parametrize("pdtype", NUMPY_INT_DTYPES[:-1], ids=lambda d: "p_" + np.dtype(d).name)
@pytest.mark.parametrize("tdtype", NUMPY_INT_DTYPES[:-1], ids=lambda d: "t_" + np.dtype(d).name)
def test_mixed_dtypes_between_preds_and_target(rng, pdtype, tdtype):
    preds = _values(rng, 300, 5)
    target = _values(rng, 300, 5)
    np.testing.assert_array_equal(
        _counts_after(5, preds.astype(pdtype), target.astype(tdtype)),
        ref.confusion_counts(preds, target, 5),
    )


def test_mixed_producers_numpy_preds_torch_target(rng):
    preds = _values(rng, (6, 6), 4)
    target = _values(rng, (6, 6), 4)
    np.testing.assert_array_equal(
        _counts_after(4, preds.astype(np.int16), torch.from_numpy(target).to(torch.uint8)),
        ref.confusion_counts(preds, target, 4),
    )


def test_values_at_the_top_of_narrow_dtypes(rng):
    # 255 in uint8 and 127 in int8 are classes when num_classes is large enough
    preds = rng.integers(0, 256, 2000).astype(np.uint8)
    target = rng.integers(0, 256, 2000).astype(np.uint8)
    np.testing.assert_array_equal(
        _counts_after(256, preds, target), ref.confusion_counts(preds, target, 256)
    )
    preds8 = rng.integers(0, 128, 500).astype(np.int8)
    np.testing.assert_array_equal(
        _counts_after(128, preds8, preds8[::-1]), ref.confusion_counts(preds8, preds8[::-1], 128)
    )


def test_lists_without_dlpack_go_through_numpy():
    assert _counts_after(3, [0, 1, 2, 2], [0, 2, 2, 1]).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]


# ----------------------------------------------------------------- layouts --


def _numpy_views(base):
    """Views of a 3-d array that are not C-contiguous, each with a label."""
    return {
        "transposed": base.transpose(2, 0, 1),
        "step_slices": base[::2, :, ::3],
        "negative_stride": base[::-1, :, ::-1],
        "negative_step_slice": base[:, ::-2, :],
        "fortran_copy": np.asfortranarray(base),
        "offset_slice": base[1:, 2:, 1:-1],
        "broadcast_zero_stride": np.broadcast_to(base[:, :1, :], base.shape),
    }


@pytest.mark.parametrize(
    "layout",
    [
        "transposed",
        "step_slices",
        "negative_stride",
        "negative_step_slice",
        "fortran_copy",
        "offset_slice",
        "broadcast_zero_stride",
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64])
def test_numpy_views_count_like_contiguous_copies(rng, layout, dtype):
    base_p = _values(rng, (6, 9, 12), 5).astype(dtype)
    base_t = _values(rng, (6, 9, 12), 5).astype(np.int64)
    preds = _numpy_views(base_p)[layout]
    target = _numpy_views(base_t)[layout]
    assert not (preds.flags.c_contiguous and target.flags.c_contiguous) or layout == "fortran_copy"
    got = _counts_after(5, preds, target)
    want = _counts_after(5, np.ascontiguousarray(preds), np.ascontiguousarray(target))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, ref.confusion_counts(preds, target, 5))


def test_preds_and_target_with_different_layouts(rng):
    # preds reversed and transposed, target a step slice of a larger buffer
    p = _values(rng, (20, 8), 6)
    t_big = np.zeros((40, 9), dtype=np.int16)
    t_big[::2, :8] = _values(rng, (20, 8), 6)
    preds = np.ascontiguousarray(p[::-1].T).T[::-1]
    target = t_big[::2, :8]
    np.testing.assert_array_equal(
        _counts_after(6, preds, target), ref.confusion_counts(np.array(preds), np.array(target), 6)
    )


@pytest.mark.parametrize(
    "make_view",
    [
        pytest.param(lambda t: t.transpose(0, 2), id="transpose"),
        pytest.param(lambda t: t.permute(2, 0, 1), id="permute"),
        pytest.param(lambda t: t[:, ::2, 1::3], id="step_slices"),
        pytest.param(lambda t: t.narrow(0, 2, 3).narrow(2, 1, 7), id="narrow_byte_offset"),
        pytest.param(lambda t: t[1:, 3:, 4], id="offset_index"),
        pytest.param(lambda t: t.unfold(2, 3, 2), id="overlapping_unfold"),
        pytest.param(lambda t: t[:, :1, :].expand(-1, 7, -1), id="expand_zero_stride"),
    ],
)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int64])
def test_torch_views_count_like_contiguous_copies(rng, make_view, dtype):
    base_p = torch.from_numpy(_values(rng, (6, 7, 10), 4)).to(dtype)
    base_t = torch.from_numpy(_values(rng, (6, 7, 10), 4))
    preds = make_view(base_p)
    target = make_view(base_t)
    assert preds.shape == target.shape
    got = _counts_after(4, preds, target)
    want = _counts_after(4, preds.contiguous(), target.contiguous())
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, ref.confusion_counts(preds.numpy(), target.numpy(), 4))


def test_torch_narrow_has_a_storage_offset_and_counts_only_the_view():
    # the rest of the storage holds values that would be rejected if read
    storage = torch.full((100,), 99, dtype=torch.int64)
    storage[40:52] = torch.arange(12) % 3
    preds = storage.narrow(0, 40, 12).view(3, 4)
    assert preds.storage_offset() == 40
    counts = _counts_after(3, preds, preds)
    np.testing.assert_array_equal(counts, np.diag([4, 4, 4]))


def test_zero_dimensional_tensors():
    assert _counts_after(3, np.array(2), np.array(1))[1, 2] == 1
    assert _counts_after(3, torch.tensor(0, dtype=torch.uint8), torch.tensor(0)).sum() == 1
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor(1), torch.tensor(1))
    cm.update(np.int16(2), np.int64(2))
    np.testing.assert_array_equal(cm.counts, np.diag([0, 1, 1]))


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 2), (4, 0)])
def test_empty_tensors_count_nothing(shape):
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(np.zeros(shape, np.int64), torch.zeros(shape, dtype=torch.uint8))
    assert cm.counts.sum() == 0
    assert cm.counts.shape == (3, 3)


# ------------------------------------------------------------ ignore_index --


def test_ignore_index_outside_class_range_skips_void_targets(rng):
    target = _values(rng, (8, 8), 4)
    target[rng.random((8, 8)) < 0.3] = 255
    preds = _values(rng, (8, 8), 4)
    counts = _counts_after(4, preds.astype(np.uint8), target.astype(np.uint8), ignore_index=255)
    np.testing.assert_array_equal(counts, ref.confusion_counts(preds, target, 4, 255))
    assert counts.sum() == (target != 255).sum()


def test_ignore_index_inside_class_range_drops_that_target_row(rng):
    target = _values(rng, 500, 5)
    preds = _values(rng, 500, 5)
    counts = _counts_after(5, preds, target, ignore_index=2)
    np.testing.assert_array_equal(counts, ref.confusion_counts(preds, target, 5, 2))
    assert counts[2].sum() == 0
    # predictions of the ignored class at counted positions are still counted
    assert counts[:, 2].sum() == ((preds == 2) & (target != 2)).sum() > 0


def test_no_ignore_index_counts_everything(rng):
    target = _values(rng, 400, 3)
    preds = _values(rng, 400, 3)
    counts = _counts_after(3, preds, target, ignore_index=None)
    assert counts.sum() == 400
    np.testing.assert_array_equal(counts, ref.confusion_counts(preds, target, 3))


def test_prediction_may_equal_out_of_range_ignore_index_where_target_is_ignored():
    target = np.array([0, 255, 255, 1])
    preds = np.array([0, 255, 1, 1])
    counts = _counts_after(2, preds, target, ignore_index=255)
    assert counts.tolist() == [[1, 0], [0, 1]]


def test_prediction_equal_to_ignore_index_elsewhere_is_rejected():
    cm = ConfusionMatrix(2, ignore_index=255)
    with pytest.raises(ValueError, match=r"preds holds 1 value outside \[0, 2\) \(first: 255"):
        cm.update(np.array([0, 255, 1]), np.array([0, 1, 255]))
    assert cm.counts.sum() == 0


def test_negative_ignore_index():
    counts = _counts_after(3, np.array([0, -1, 2, 1], np.int8), np.array([0, -1, -1, 1], np.int8), -1)
    assert counts.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_ignore_index_beyond_a_dtype_range_never_matches():
    # int8 can never hold 255, so -1 stays an invalid label
    cm = ConfusionMatrix(3, ignore_index=255)
    with pytest.raises(ValueError, match=r"target holds 1 value outside \[0, 3\) that is not ignore_index=255"):
        cm.update(np.array([0, 1], np.int8), np.array([0, -1], np.int8))


# --------------------------------------------------------------- bad input --


@pytest.mark.parametrize("batch", [12, 5000], ids=["validate_then_count", "scratch_then_merge"])
def test_bad_target_values_raise_and_leave_counts_unchanged(rng, batch):
    # the glue takes one of two paths depending on batch size vs C*C; both must
    # leave the matrix untouched
    num_classes = 40
    cm = ConfusionMatrix(num_classes, ignore_index=255)
    cm.update(_values(rng, 300, num_classes), _values(rng, 300, num_classes))
    before = cm.counts
    preds = _values(rng, batch, num_classes)
    target = _values(rng, batch, num_classes)
    target[[3, 7, 9]] = [41, 40, 300]
    target[5] = 255  # ignored, not bad
    with pytest.raises(ValueError) as info:
        cm.update(preds, target)
    message = str(info.value)
    assert "target holds 3 values outside [0, 40)" in message
    assert "first: 41" in message
    assert "preds" not in message.split(";")[0]
    np.testing.assert_array_equal(cm.counts, before)


@pytest.mark.parametrize("batch", [12, 5000], ids=["validate_then_count", "scratch_then_merge"])
def test_bad_prediction_values_raise_and_leave_counts_unchanged(rng, batch):
    cm = ConfusionMatrix(40)
    cm.update(_values(rng, 100, 40), _values(rng, 100, 40))
    before = cm.counts
    preds = _values(rng, batch, 40).astype(np.int16)
    preds[[2, 10]] = [-4, 77]
    with pytest.raises(ValueError, match=r"^preds holds 2 values outside \[0, 40\) \(first: -4 at flat index 2\)"):
        cm.update(preds, _values(rng, batch, 40))
    np.testing.assert_array_equal(cm.counts, before)


def test_bad_values_in_both_tensors_are_both_reported():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError) as info:
        cm.update(np.array([5, 0, 0, 9]), np.array([0, -2, 1, 1]))
    message = str(info.value)
    assert "target holds 1 value outside [0, 3) (first: -2 at flat index 1)" in message
    assert "preds holds 2 values outside [0, 3) (first: 5 at flat index 0)" in message
    assert "not changed" in message
    assert cm.counts.sum() == 0


def test_bad_value_position_is_in_c_order_of_a_strided_view():
    target = np.zeros((4, 5), np.int64)
    target[3, 1] = 9  # in the transposed view that is position (1, 3) -> flat 1 * 4 + 3
    with pytest.raises(ValueError, match=r"first: 9 at flat index 7"):
        ConfusionMatrix(3).update(np.zeros((5, 4), np.int64), target.T)


def test_large_unsigned_values_are_reported_exactly():
    with pytest.raises(ValueError, match=r"first: 4000000000 "):
        ConfusionMatrix(3).update(np.array([0, 1], np.uint32), np.array([0, 4_000_000_000], np.uint32))


@pytest.mark.parametrize(
    "preds, target, names",
    [
        (np.zeros(4, np.float32), np.zeros(4, np.int64), ("float32", "int64")),
        (np.zeros(4, np.int64), np.zeros(4, np.float64), ("int64", "float64")),
        (torch.zeros(4, dtype=torch.bfloat16), torch.zeros(4, dtype=torch.int32), ("bfloat16", "int32")),
        (torch.zeros(4, dtype=torch.float16), torch.zeros(4, dtype=torch.float16), ("float16", "float16")),
        (np.zeros(4, np.complex64), np.zeros(4, np.int64), ("complex64", "int64")),
        (torch.zeros(4, dtype=torch.uint64), torch.zeros(4, dtype=torch.int64), ("uint64", "int64")),
    ],
)
def test_non_integer_dtypes_raise_type_error_naming_both(preds, target, names):
    cm = ConfusionMatrix(3)
    with pytest.raises(TypeError) as info:
        cm.update(preds, target)
    message = str(info.value)
    assert f"got preds {names[0]} and target {names[1]}" in message
    assert cm.counts.sum() == 0


def test_float_predictions_hint_at_argmax():
    with pytest.raises(TypeError, match="argmax"):
        ConfusionMatrix(3).update(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize(
    "pshape, tshape, text",
    [
        ((2, 3), (3, 2), r"preds shape \(2, 3\) does not match target shape \(3, 2\)"),
        ((6,), (2, 3), r"preds shape \(6,\) does not match target shape \(2, 3\)"),
        ((1, 4, 4), (4, 4), r"preds shape \(1, 4, 4\) does not match target shape \(4, 4\)"),
        ((), (1,), r"preds shape \(\) does not match target shape \(1,\)"),
    ],
)
def test_shape_mismatch_raises_value_error_naming_both_shapes(pshape, tshape, text):
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=text):
        cm.update(torch.zeros(pshape, dtype=torch.long), np.zeros(tshape, np.int64))
    assert cm.counts.sum() == 0


def test_update_takes_exactly_two_arguments():
    cm = ConfusionMatrix(2)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        cm.update(np.zeros(2, np.int64))


@pytest.mark.parametrize(
    "args, kwargs, exc, text",
    [
        ((0,), {}, ValueError, "num_classes must be between 1 and 65536, got 0"),
        ((70000,), {}, ValueError, "got 70000"),
        ((3,), {"ignore_index": 2.5}, TypeError, "ignore_index must be an int or None, got float"),
        ((3,), {"ignore_index": True}, TypeError, "got bool"),
    ],
)
def test_constructor_rejects_bad_arguments(args, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        ConfusionMatrix(*args, **kwargs)


# ------------------------------------------------------- merge and others --


def test_counts_is_a_copy_and_reset_clears():
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(np.array([0, 1]), np.array([0, 1]))
    snapshot = cm.counts
    snapshot[:] = 1000
    assert cm.counts.sum() == 2
    assert cm.counts.dtype == np.int64
    cm.reset()
    assert cm.counts.sum() == 0
    assert cm.num_classes == 3 and cm.ignore_index == 255
    assert repr(cm) == "ConfusionMatrix(num_classes=3, ignore_index=255)"
    assert ConfusionMatrix(4).ignore_index is None


def test_merge_adds_counts_and_rejects_bad_arrays():
    cm = ConfusionMatrix(2)
    cm.merge(np.array([[1, 2], [3, 4]]))
    cm.merge([[1, 0], [0, 1]])
    assert cm.counts.tolist() == [[2, 2], [3, 5]]
    with pytest.raises(ValueError, match=r"needs a \(2, 2\) array, got \(3, 3\)"):
        cm.merge(np.zeros((3, 3), np.int64))
    with pytest.raises(ValueError, match="non-negative, got -1 at flat index 3"):
        cm.merge(np.array([[0, 0], [0, -1]]))
    assert cm.counts.tolist() == [[2, 2], [3, 5]]


# ----------------------------------------------------------------- threads --


@pytest.mark.parametrize("batch_shape", [(4, 512, 512), (16,)], ids=["large_batches", "small_batches"])
def test_two_threads_updating_one_accumulator_lose_no_counts(rng, batch_shape):
    num_classes = 21
    preds = torch.from_numpy(_values(rng, batch_shape, num_classes))
    target = torch.from_numpy(_values(rng, batch_shape, num_classes)).to(torch.uint8)
    one = _counts_after(num_classes, preds, target)
    rounds = 6 if len(batch_shape) > 1 else 3000
    cm = ConfusionMatrix(num_classes)
    errors = []
    start = threading.Barrier(2)

    def work():
        try:
            start.wait()
            for _ in range(rounds):
                cm.update(preds, target)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    np.testing.assert_array_equal(cm.counts, one * (2 * rounds))


# -------------------------------------------------------------- hypothesis --

_dtypes = st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint32])


@st.composite
def _batches(draw):
    num_classes = draw(st.integers(1, 12))
    ignore = draw(st.sampled_from([None, 255, 0, num_classes - 1, -1]))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    size = int(np.prod(shape)) if shape else 1
    pool = list(range(num_classes)) + ([ignore] if ignore is not None else [])
    target = np.array(draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size)), np.int64)
    preds = np.array(
        draw(st.lists(st.integers(0, num_classes - 1), min_size=size, max_size=size)), np.int64
    )
    # void predicted as void where the target is void
    if ignore is not None and draw(st.booleans()):
        preds = np.where(target == ignore, ignore, preds)
    # sometimes a bad value
    if size and draw(st.integers(0, 4)) == 0:
        where = draw(st.integers(0, size - 1))
        arr = draw(st.sampled_from(["preds", "target"]))
        value = draw(st.sampled_from([num_classes, num_classes + 3, -2, 100]))
        (preds if arr == "preds" else target)[where] = value
    pdt, tdt = draw(_dtypes), draw(_dtypes)
    flip = draw(st.booleans())
    return num_classes, ignore, shape, preds, target, pdt, tdt, flip


def _fits(values, dtype):
    info = np.iinfo(dtype)
    return values.size == 0 or (values.min() >= info.min and values.max() <= info.max)


@given(_batches())
def test_matches_twin_on_generated_batches(batch):
    num_classes, ignore, shape, preds, target, pdt, tdt, flip = batch
    if not (_fits(preds, pdt) and _fits(target, tdt)):
        pdt = tdt = np.int64
    p = preds.astype(pdt).reshape(shape)
    t = target.astype(tdt).reshape(shape)
    if flip and p.ndim:
        p, t = p[::-1], t[::-1]
    cm = ConfusionMatrix(num_classes, ignore_index=ignore)
    cm.update(np.zeros(1, np.int64), np.zeros(1, np.int64))
    before = cm.counts
    bad = ref.confusion_bad_values(p, t, num_classes, ignore)
    if bad.target_bad or bad.preds_bad:
        with pytest.raises(ValueError) as info:
            cm.update(p, t)
        message = str(info.value)
        if bad.target_bad:
            plural = "s" if bad.target_bad != 1 else ""
            assert f"target holds {bad.target_bad} value{plural} outside [0, {num_classes})" in message
            assert f"(first: {bad.target_first} at" in message
        if bad.preds_bad:
            plural = "s" if bad.preds_bad != 1 else ""
            assert f"preds holds {bad.preds_bad} value{plural} outside [0, {num_classes})" in message
            assert f"(first: {bad.preds_first} at" in message
        np.testing.assert_array_equal(cm.counts, before)
    else:
        cm.update(p, t)
        np.testing.assert_array_equal(
            cm.counts - before, ref.confusion_counts(p, t, num_classes, ignore)
        )
