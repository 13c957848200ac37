"""The segmentation battery against torchmetrics, the oracle named in SPEC.md.

mushin's values go through the public path: ``ConfusionMatrix.update`` on
the batches (in assorted dtypes, producers and memory layouts) and the
battery functions of ``mushin.metrics.tasks``; some cases run end to end through
``compare()``.  torchmetrics sees the same values as contiguous int64
tensors.  It computes in float32, hence the 1e-6 absolute tolerance.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from mushin import ConfusionMatrix, compare
from mushin.metrics.tasks import get_task
from torch_threads import one_torch_thread
from torchmetrics_oracles import torchmetrics_battery

ATOL = 1e-6
BATTERY = get_task("segmentation").battery
METRICS = ["miou", "dice", "pixel_acc", "precision", "recall"]


def mushin_battery(counts, ignore_index):
    return {name: BATTERY[name](counts, ignore_index) for name in METRICS}


def assert_battery_close(got, want, context=""):
    for name in METRICS:
        g, w = got[name], want[name]
        if math.isnan(w):
            assert math.isnan(g), f"{name}: got {g}, torchmetrics NaN ({context})"
        else:
            assert abs(g - w) <= ATOL, f"{name}: got {g!r}, torchmetrics {w!r} ({context})"


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread():
    # the tensors here are tiny: handing them to a second thread costs more
    # than the work, and on a busy machine far more
    with one_torch_thread():
        yield


# --------------------------------------------------------- case generator --

JUNK = 100  # fits every dtype used, is never a class (num_classes <= 40) or ignore_index
DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint16]
LAYOUTS = ["contiguous", "transposed", "step_slice", "reversed", "offset"]


def laid_out(values, dtype, layout, producer):
    """A view whose logical content equals ``values`` (N, H, W), in the given layout."""
    n, h, w = values.shape
    if producer == "torch" and layout == "reversed":
        layout = "transposed"  # torch has no negative strides
    if layout == "contiguous":
        arr = values.astype(dtype)
    elif layout == "transposed":
        arr = np.ascontiguousarray(values.transpose(0, 2, 1)).astype(dtype).transpose(0, 2, 1)
    elif layout == "step_slice":
        big = np.full((n, 2 * h, 3 * w), JUNK, dtype=dtype)
        big[:, ::2, ::3] = values
        arr = big[:, ::2, ::3]
    elif layout == "reversed":
        arr = np.ascontiguousarray(values[:, ::-1, ::-1]).astype(dtype)[:, ::-1, ::-1]
    elif layout == "offset":
        big = np.full(values.size + 17, JUNK, dtype=dtype)
        big[17:] = values.ravel()
        arr = big[17:].reshape(values.shape)
    else:  # pragma: no cover
        raise AssertionError(layout)
    np.testing.assert_array_equal(arr, values)
    if producer == "torch":
        if layout == "offset":
            storage = torch.from_numpy(big)
            view = storage.narrow(0, 17, values.size).view(values.shape)
            assert view.storage_offset() == 17
            return view
        return torch.from_numpy(arr)
    return arr


def _dtype_for(rng, values):
    lo, hi = int(values.min()), int(values.max())
    choices = [d for d in DTYPES if np.iinfo(d).min <= lo and hi <= np.iinfo(d).max]
    return choices[rng.integers(len(choices))]


def generate_case(seed):
    """One oracle case: num_classes, ignore_index, batches of logical values."""
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 41))
    ignore_mode = ["none", "inside", "outside_255", "outside_negative"][seed % 4]
    ignore_index = {
        "none": None,
        "inside": int(rng.integers(0, num_classes)),
        "outside_255": 255,
        "outside_negative": -1,
    }[ignore_mode]
    # classes that occur in labels / predictions; the rest are absent from both
    label_classes = rng.choice(num_classes, size=int(rng.integers(1, num_classes + 1)), replace=False)
    pred_classes = np.union1d(
        label_classes[: max(1, len(label_classes) // 2)],
        rng.choice(num_classes, size=int(rng.integers(1, num_classes + 1)), replace=False),
    )
    accuracy = rng.uniform(0, 1)
    void_fraction = rng.choice([0.0, 0.1, 0.5, 1.0], p=[0.3, 0.4, 0.25, 0.05]) if ignore_index is not None else 0.0
    batches = []
    for _ in range(int(rng.integers(1, 4))):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 17)), int(rng.integers(1, 17)))
        target = rng.choice(label_classes, size=shape)
        noise = rng.choice(pred_classes, size=shape)
        preds = np.where(rng.random(shape) < accuracy, target, noise)
        if ignore_index is not None:
            void = rng.random(shape) < void_fraction
            target = np.where(void, ignore_index, target)
            outside = not 0 <= ignore_index < num_classes
            if outside and rng.random() < 0.5:  # void predicted as void where the label is void
                preds = np.where(void & (rng.random(shape) < 0.5), ignore_index, preds)
        batches.append((preds.astype(np.int64), target.astype(np.int64)))
    return num_classes, ignore_index, batches, rng


N_ORACLE_CASES = 240


@pytest.mark.parametrize("seed", range(N_ORACLE_CASES))
def test_battery_matches_torchmetrics(seed):
    num_classes, ignore_index, batches, rng = generate_case(seed)
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    layouts = []
    for preds, target in batches:
        producer = ["numpy", "torch"][rng.integers(2)]
        layout_p = LAYOUTS[rng.integers(len(LAYOUTS))]
        layout_t = LAYOUTS[rng.integers(len(LAYOUTS))]
        p_view = laid_out(preds, _dtype_for(rng, preds), layout_p, producer)
        t_view = laid_out(target, _dtype_for(rng, target), layout_t, producer)
        layouts.append((producer, layout_p, str(p_view.dtype), layout_t, str(t_view.dtype)))
        cm.update(p_view, t_view)
    counts = cm.counts
    twin_counts = sum(ref.confusion_counts(p, t, num_classes, ignore_index) for p, t in batches)
    np.testing.assert_array_equal(counts, twin_counts)
    want = torchmetrics_battery(batches, num_classes, ignore_index)
    context = f"seed={seed}, C={num_classes}, ignore_index={ignore_index}, batches={layouts}"
    assert_battery_close(mushin_battery(counts, ignore_index), want, context)
    # the twin agrees with torchmetrics too, so it can stand in for it below
    twin = {name: ref.SEGMENTATION[name](counts, ignore_index) for name in METRICS}
    assert_battery_close(twin, want, "twin, " + context)


def test_oracle_cases_cover_the_required_ground():
    seen = {"classes": set(), "ignore": set(), "absent": 0, "multi_batch": 0}
    for seed in range(N_ORACLE_CASES):
        num_classes, ignore_index, batches, _ = generate_case(seed)
        seen["classes"].add(num_classes)
        seen["ignore"].add(
            "none" if ignore_index is None else "inside" if 0 <= ignore_index < num_classes else "outside"
        )
        present = set()
        for p, t in batches:
            present |= set(np.unique(p)) | set(np.unique(t))
        seen["absent"] += any(c not in present for c in range(num_classes))
        seen["multi_batch"] += len(batches) > 1
    assert min(seen["classes"]) == 2 and max(seen["classes"]) == 40
    assert seen["ignore"] == {"none", "inside", "outside"}
    assert seen["absent"] >= 100
    assert seen["multi_batch"] >= 100


# ------------------------------------------------------------- edge cases --


def _check_against_torchmetrics(batches, num_classes, ignore_index):
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    for p, t in batches:
        cm.update(p, t)
    want = torchmetrics_battery(batches, num_classes, ignore_index)
    got = mushin_battery(cm.counts, ignore_index)
    assert_battery_close(got, want)
    return got, want


@pytest.mark.parametrize("ignore_index", [255, 1])
def test_every_pixel_ignored(ignore_index):
    target = np.full((2, 4, 4), ignore_index)
    preds = np.zeros((2, 4, 4), np.int64)
    got, want = _check_against_torchmetrics([(preds, target)], 3, ignore_index)
    assert math.isnan(got["miou"]) and math.isnan(want["miou"])
    assert got["pixel_acc"] == got["dice"] == got["precision"] == got["recall"] == 0.0


def test_only_two_of_ten_classes_occur():
    target = np.array([[0, 0, 3, 3], [3, 3, 0, 0]])
    preds = np.array([[0, 3, 3, 3], [3, 0, 0, 0]])
    got, _ = _check_against_torchmetrics([(preds, target)], 10, None)
    # classes 0 and 3 only: IoU 3/5 each
    assert got["miou"] == pytest.approx(0.6, abs=1e-12)


def test_ignored_class_predicted_elsewhere_counts_for_dice_but_not_miou():
    # ignore_index 1 is a class; it is predicted at two counted positions
    target = np.array([0, 0, 2, 2, 1, 1])
    preds = np.array([0, 1, 2, 1, 1, 0])
    got, want = _check_against_torchmetrics([(preds, target)], 3, 1)
    # dice averages classes 0, 1 (F1 = 0) and 2; miou leaves class 1 out
    assert got["dice"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3, abs=1e-12)
    assert got["miou"] == pytest.approx((1 / 2 + 1 / 2) / 2, abs=1e-12)


def test_empty_and_nonempty_batches_mixed():
    batches = [
        (np.zeros((0, 5, 5), np.int64), np.zeros((0, 5, 5), np.int64)),
        (np.array([[1, 2], [2, 2]]), np.array([[1, 2], [255, 0]])),
        (np.zeros((1, 0), np.int64), np.zeros((1, 0), np.int64)),
    ]
    _check_against_torchmetrics(batches, 3, 255)


def test_perfect_and_all_wrong_predictions():
    target = np.arange(40).reshape(5, 8) % 7
    got, _ = _check_against_torchmetrics([(target, target)], 7, None)
    assert all(got[name] == 1.0 for name in METRICS)
    got, _ = _check_against_torchmetrics([((target + 1) % 7, target)], 7, None)
    assert all(got[name] == 0.0 for name in METRICS)


# ---------------------------------------------------- through compare() --


class ReplayModel(torch.nn.Module):
    """Returns one-hot logits that argmax to stored predictions, batch by batch."""

    def __init__(self, predictions, num_classes):
        super().__init__()
        self.predictions = [torch.as_tensor(p) for p in predictions]
        self.num_classes = num_classes
        self.bias = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        index = int(x[0, 0, 0, 0])
        one_hot = torch.nn.functional.one_hot(self.predictions[index], self.num_classes)
        return one_hot.permute(0, 3, 1, 2).float() + self.bias


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("seed", range(12))
def test_compare_end_to_end_matches_torchmetrics(seed):
    num_classes, ignore_index, batches, rng = generate_case(10_000 + seed)
    if ignore_index == -1:
        ignore_index = 255
        batches = [(np.where(p == -1, 255, p), np.where(t == -1, 255, t)) for p, t in batches]
    label_dtype = torch.uint8 if ignore_index in (None, 255) else torch.int64
    data = [
        (torch.full((t.shape[0], 1, t.shape[1], t.shape[2]), float(i)), torch.as_tensor(t).to(label_dtype))
        for i, (_, t) in enumerate(batches)
    ]
    methods = {}
    per_model_preds = {}
    for method in ("a", "b"):
        methods[method] = []
        for s in range(3):
            preds = []
            for _, t in batches:
                guess = rng.integers(0, num_classes, t.shape)
                keep = (rng.random(t.shape) < rng.uniform(0.2, 0.9)) & (t >= 0) & (t < num_classes)
                preds.append(np.where(keep, t, guess))
            methods[method].append(ReplayModel(preds, num_classes))
            per_model_preds[(method, s)] = preds
    result = compare(methods, data, task="segmentation", num_classes=num_classes, ignore_index=ignore_index)
    for (method, s), preds in per_model_preds.items():
        want = torchmetrics_battery(
            [(p, t) for p, (_, t) in zip(preds, batches)], num_classes, ignore_index
        )
        got = {name: float(result.data[name].sel({"method": method, "seed": s})) for name in METRICS}
        assert_battery_close(got, want, f"compare seed={seed}, {method}[{s}]")


# -------------------------------------------------------------- hypothesis --


@st.composite
def _count_matrices(draw):
    num_classes = draw(st.integers(1, 12))
    counts = draw(
        hnp.arrays(
            np.int64,
            (num_classes, num_classes),
            elements=st.sampled_from([0, 0, 0, 1, 2, 7, 1000]),
        )
    )
    ignore_index = draw(st.sampled_from([None, 255, *range(num_classes)]))
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        counts[ignore_index, :] = 0  # an ignored target row is never counted
    return counts, ignore_index


@given(_count_matrices())
def test_battery_matches_twin_on_any_confusion_matrix(case):
    counts, ignore_index = case
    for name in METRICS:
        got = BATTERY[name](counts, ignore_index)
        want = ref.SEGMENTATION[name](counts, ignore_index)
        if math.isnan(want):
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(want, abs=1e-12), name
