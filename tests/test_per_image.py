"""Per-image counts (``compare(per_image=True)``, ``mushin._core.PerImageCounts``).

Oracles: torchmetrics on each image alone (an image's mIoU, Dice, ...),
the plain ConfusionMatrix over the same batches (sums over images), and
scipy's Wilcoxon signed-rank test for the paired per-image comparison.
"""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from isa_levels import ISA_LEVELS, isa_capped
from mushin import _core, compare
from mushin.metrics.per_image import PerImageState
from mushin.result.per_image import PerImageResult
from mushin.stats.bootstrap import COUNT_METRICS, count_metric
from torchmetrics_oracles import torchmetrics_battery


def _torchmetrics_image(preds, target, num_classes, ignore_index):
    """The five battery metrics of one image by torchmetrics."""
    return torchmetrics_battery([(preds, target)], num_classes, ignore_index)


@st.composite
def segmentation_batch(draw):
    num_classes = draw(st.integers(2, 6))  # torchmetrics needs two classes
    ignore_index = draw(st.sampled_from([None, 255, 0, num_classes - 1]))
    n, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    choices = list(range(num_classes)) + ([ignore_index] if ignore_index is not None else [])
    target = np.array(draw(st.lists(st.sampled_from(choices), min_size=n * h * w, max_size=n * h * w))).reshape(n, h, w)
    preds = np.array(draw(st.lists(st.integers(0, num_classes - 1), min_size=n * h * w, max_size=n * h * w))).reshape(n, h, w)
    dtype = draw(st.sampled_from([np.int64, np.int32, np.uint8 if 255 >= num_classes else np.int64]))
    if ignore_index == 255 and dtype is np.uint8:
        dtype = np.int64
    layout = draw(st.sampled_from(["C", "F", "transposed"]))
    preds, target = preds.astype(dtype), target.astype(dtype)
    if layout == "F":
        preds, target = np.asfortranarray(preds), np.asfortranarray(target)
    elif layout == "transposed":
        preds = np.ascontiguousarray(preds.transpose(0, 2, 1)).transpose(0, 2, 1)
    return num_classes, ignore_index, preds, target


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(segmentation_batch())
def test_each_image_scores_as_torchmetrics_on_that_image_alone(case):
    num_classes, ignore_index, preds, target = case
    state = _core.PerImageCounts(num_classes, ignore_index)
    state.update(preds, target)
    counts = state.counts
    assert counts.shape == (preds.shape[0], num_classes, 3)
    for i in range(preds.shape[0]):
        want = _torchmetrics_image(preds[i], target[i], num_classes, ignore_index)
        for metric in COUNT_METRICS:
            got = float(count_metric(counts[i], metric, ignore_index))
            if math.isnan(want[metric]):
                assert math.isnan(got), (i, metric)
            else:
                assert got == pytest.approx(want[metric], abs=1e-6), (i, metric, got, want[metric])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(segmentation_batch())
def test_counts_summed_over_images_are_the_confusion_matrix_sums(case):
    num_classes, ignore_index, preds, target = case
    state = _core.PerImageCounts(num_classes, ignore_index)
    cm = _core.ConfusionMatrix(num_classes, ignore_index)
    for k in range(0, preds.shape[0], 2):  # two batches
        state.update(preds[k : k + 2], target[k : k + 2])
        cm.update(preds[k : k + 2], target[k : k + 2])
    total = state.counts.sum(axis=0)
    tp = np.diag(cm.counts)
    np.testing.assert_array_equal(total[:, 0], tp)
    np.testing.assert_array_equal(total[:, 1], cm.counts.sum(axis=0) - tp)
    np.testing.assert_array_equal(total[:, 2], cm.counts.sum(axis=1) - tp)


def test_many_classes_take_the_same_counts_as_few():
    rng = np.random.default_rng(3)
    preds, target = rng.integers(0, 300, (3, 4, 4)), rng.integers(0, 300, (3, 4, 4))
    state = _core.PerImageCounts(300)
    state.update(preds, target)
    for i in range(3):
        cm = _core.ConfusionMatrix(300)
        cm.update(preds[i], target[i])
        tp = np.diag(cm.counts)
        np.testing.assert_array_equal(state.counts[i], np.stack([tp, cm.counts.sum(0) - tp, cm.counts.sum(1) - tp], 1))


def test_bad_batch_names_the_tensor_and_changes_nothing():
    state = _core.PerImageCounts(3, 255)
    state.update(np.zeros((2, 2, 2), np.int64), np.zeros((2, 2, 2), np.int64))
    before = state.counts
    target = np.zeros((2, 2, 2), np.int64)
    target[1, 0, 1] = 7
    with pytest.raises(ValueError, match=r"target holds 1 value outside \[0, 3\).*first: 7 at flat index 5.*not changed"):
        state.update(np.zeros((2, 2, 2), np.int64), target)
    np.testing.assert_array_equal(state.counts, before)
    with pytest.raises(TypeError, match="integer dtype"):
        state.update(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="does not match"):
        state.update(np.zeros((2, 2), np.int64), np.zeros((2, 3), np.int64))
    assert state.num_images == 2


def test_memory_budget_is_refused_with_the_numbers_and_can_be_raised():
    # 4 classes x 3 counts x 8 bytes = 96 bytes an image
    state = _core.PerImageCounts(4, None, "int64", 96 * 5)
    state.update(np.zeros((5, 3, 3), np.int64), np.zeros((5, 3, 3), np.int64))
    with pytest.raises(ValueError, match=r"6 images x 4 classes.*576 bytes.*max_bytes=480.*nothing was added"):
        state.update(np.zeros((1, 3, 3), np.int64), np.zeros((1, 3, 3), np.int64))
    assert state.num_images == 5
    bigger = _core.PerImageCounts(4, None, "int64", 96 * 6)
    bigger.merge(state)
    bigger.update(np.zeros((1, 3, 3), np.int64), np.zeros((1, 3, 3), np.int64))
    assert bigger.num_images == 6 and bigger.nbytes == 576
    narrow = _core.PerImageCounts(4, None, "int32", 96 * 5)
    narrow.merge(bigger)  # int32 takes half: 6 images fit in 480 bytes
    assert narrow.nbytes == 288 and narrow.counts.dtype == np.int32


def test_int32_refuses_counts_it_cannot_hold():
    state = _core.PerImageCounts(2, None, "int32")
    counts = np.zeros((1, 2, 3), np.int64)
    counts[0, 1, 2] = 2**31
    with pytest.raises(ValueError, match=r"counts\[0, 1, 2\] = 2147483648 is past int32"):
        state.merge({"num_classes": 2, "counts": counts})
    assert state.num_images == 0


def test_merging_rank_states_in_rank_order_keeps_the_image_order():
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 4, (3, 5, 5)), rng.integers(0, 4, (3, 5, 5))) for _ in range(4)]
    whole = PerImageState(4)
    for p, t in batches:
        whole.update(torch.as_tensor(p), None, torch.as_tensor(t))
    rank0, rank1 = PerImageState(4), PerImageState(4)
    for p, t in batches[:2]:
        rank0.update(p, None, t)
    for p, t in batches[2:]:
        rank1.update(p, None, t)
    rank0.merge(rank1.state_dict())
    np.testing.assert_array_equal(rank0.counts, whole.counts)
    restored = PerImageState(4)
    restored.load_state_dict(whole.state_dict())
    np.testing.assert_array_equal(restored.counts, whole.counts)
    assert restored.compute() == whole.compute()


def test_threads_updating_their_own_states_agree_with_one_thread():
    rng = np.random.default_rng(1)
    p, t = rng.integers(0, 5, (8, 64, 64)), rng.integers(0, 5, (8, 64, 64))
    serial = _core.PerImageCounts(5)
    serial.update(p, t)
    states = [_core.PerImageCounts(5) for _ in range(4)]
    threads = [threading.Thread(target=s.update, args=(p, t)) for s in states]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for s in states:
        np.testing.assert_array_equal(s.counts, serial.counts)


def _seg_models_and_data(seed=0, images=3, batches=3, classes=4):
    torch.manual_seed(seed)
    data = [(torch.randn(images, 3, 8, 8), torch.randint(0, classes, (images, 8, 8))) for _ in range(batches)]
    for _, y in data:
        y[:, 0, 0] = 255  # void pixels
    methods = {
        "a": [nn.Conv2d(3, classes, 1) for _ in range(3)],
        "b": [nn.Conv2d(3, classes, 1) for _ in range(2)],
    }
    return methods, data


def test_compare_per_image_changes_no_score_and_sums_to_the_confusion():
    methods, data = _seg_models_and_data()
    plain = compare(methods, data, task="segmentation", test="welch", num_classes=4, ignore_index=255, progress=False)
    kept = compare(methods, data, task="segmentation", test="welch", num_classes=4, ignore_index=255, progress=False, per_image=True)
    assert plain.per_image is None
    for metric in plain.metrics:
        np.testing.assert_array_equal(plain.data[metric].values, kept.data[metric].values)
    counts = kept.per_image.counts
    assert counts.dims == ("method", "seed", "image", "class", "count")
    assert counts.sizes["image"] == 9 and list(counts["count"].values) == ["tp", "fp", "fn"]
    assert (counts.sel({"method": "b"}).values[2] == -1).all()  # b has 2 seeds: the third is filled
    for method, per_seed in kept.per_image.by_method().items():
        for j, c in enumerate(per_seed):
            cm = kept.confusion.sel({"method": method}).values[j]
            np.testing.assert_array_equal(c.sum(axis=0)[:, 0], np.diag(cm))
            np.testing.assert_array_equal(c.sum(axis=0)[:, 2], cm.sum(axis=1) - np.diag(cm))


def test_image_scores_worst_images_and_paired_comparison_against_oracles():
    methods, data = _seg_models_and_data(seed=2, images=4, batches=2)
    result = compare(methods, data, task="segmentation", test="welch", num_classes=4, ignore_index=255, progress=False, per_image=True)
    per = result.per_image
    images = torch.cat([x for x, _ in data]), torch.cat([y for _, y in data])
    scores = {}
    for name, models in methods.items():
        per_seed = []
        for model in models:
            with torch.no_grad():
                preds = model(images[0]).argmax(1).numpy()
            per_seed.append([_torchmetrics_image(preds[i], images[1][i].numpy(), 4, 255)["miou"] for i in range(8)])
        scores[name] = np.array(per_seed)
    got = per.scores("miou")
    for name in methods:
        s = scores[name].shape[0]
        np.testing.assert_allclose(got.sel({"method": name}).values[:s], scores[name], atol=1e-6)
    assert float(per.image_score(5).sel({"method": "a"}).values[1]) == pytest.approx(scores["a"][1, 5], abs=1e-6)
    worst = per.worst(k=3)
    rows = worst[(worst.method == "a") & (worst.seed == 0)]
    assert rows["image"].tolist() == np.argsort(scores["a"][0], kind="stable")[:3].tolist()
    paired = per.paired("a", "b")
    mean_a, mean_b = scores["a"].mean(axis=0), scores["b"].mean(axis=0)
    np.testing.assert_allclose(paired["difference"].values, mean_a - mean_b, atol=1e-6)
    assert paired.attrs["wilcoxon_p"] == pytest.approx(scipy.stats.wilcoxon(mean_a, mean_b).pvalue, rel=1e-8)
    assert paired.attrs["a_better"] == int((mean_a - mean_b > 1e-9).sum())


def test_compare_refuses_bad_per_image_arguments_before_any_model_runs():
    methods, data = _seg_models_and_data()
    with pytest.raises(ValueError, match="per_image must be True, False, 'int64' or 'int32'"):
        compare(methods, data, task="segmentation", test="welch", num_classes=4, per_image="int16")
    with pytest.raises(ValueError, match="per_image_max_bytes must be a non-negative int"):
        compare(methods, data, task="segmentation", test="welch", num_classes=4, per_image=True, per_image_max_bytes=-1)
    with pytest.raises(ValueError, match="needs a task with classes"):
        compare({"a": [nn.Linear(2, 1)]}, [(torch.randn(4, 2), torch.randn(4, 1))], task="regression", per_image=True)


def test_compare_stops_past_the_per_image_budget_naming_the_model():
    methods, data = _seg_models_and_data()
    with pytest.raises(ValueError, match=r"method 'a', seed 0.*per-image counts of 6 images.*per_image_max_bytes"):
        compare(methods, data, task="segmentation", test="welch", num_classes=4, ignore_index=255, progress=False,
                per_image=True, per_image_max_bytes=4 * 3 * 8 * 5)


def test_per_image_result_validates_its_arguments():
    per = PerImageResult.from_arrays({"a": np.zeros((1, 2, 3, 3), np.int64)})
    with pytest.raises(IndexError, match=r"image must be an int index in \[0, 2\)"):
        per.image_score(2)
    with pytest.raises(ValueError, match="k must be a positive int"):
        per.worst(k=0)
    with pytest.raises(ValueError, match="no method 'z'"):
        per.paired("a", "z")
    with pytest.raises(ValueError, match="cannot be recomputed"):
        per.scores("auroc")


def test_every_instruction_set_level_counts_the_same():
    rng = np.random.default_rng(11)
    cases = [(rng.integers(0, 21, (3, 40, 50)), rng.integers(0, 21, (3, 40, 50)))]
    cases.append(tuple(a.astype(np.uint8) for a in cases[0]))
    cases[0][1][0, :3, :3] = 255
    runs = []
    for level in ISA_LEVELS:
        with isa_capped(level):
            out = []
            for p, t in cases:
                s = _core.PerImageCounts(21, 255)
                s.update(p, t)
                out.append(s.counts)
            runs.append(out)
    for other in runs[1:]:
        for got, want in zip(other, runs[0]):
            np.testing.assert_array_equal(got, want)
