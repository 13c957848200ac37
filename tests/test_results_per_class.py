"""Per-class IoU/Dice/precision/recall and the per-class comparison table.

Oracles: torchmetrics (average="none") for the per-class values, scipy's
Welch test and Benjamini-Hochberg adjustment for the per-class table.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.classification import (
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
)

import mushin
from mushin import BenchmarkResult, ConfusionMatrix
from mushin.result import per_class_scores

ORACLES = {
    "iou": MulticlassJaccardIndex,
    "dice": MulticlassF1Score,
    "precision": MulticlassPrecision,
    "recall": MulticlassRecall,
}


def _counts(preds: np.ndarray, target: np.ndarray, num_classes: int, ignore_index) -> np.ndarray:
    cm = ConfusionMatrix(num_classes, ignore_index)
    cm.update(torch.from_numpy(preds), torch.from_numpy(target))
    return cm.counts


def _check_against_torchmetrics(preds, target, num_classes, ignore_index):
    counts = _counts(preds, target, num_classes, ignore_index)
    ours = per_class_scores(counts, ignore_index)
    p, t = torch.from_numpy(preds), torch.from_numpy(target)
    keep = t != ignore_index if ignore_index is not None else torch.ones_like(t, dtype=torch.bool)
    # independent of the confusion matrix: which classes occur at counted positions
    occurring = set(t[keep].tolist()) | set(p[keep].tolist())
    for metric, oracle in ORACLES.items():
        expected = oracle(num_classes=num_classes, average="none", ignore_index=ignore_index)(p, t).double().numpy()
        for k in range(num_classes):
            unscored = k not in occurring or (ignore_index is not None and k == ignore_index)
            if unscored:
                assert np.isnan(ours[metric][k]), (metric, k)
            else:
                assert ours[metric][k] == pytest.approx(expected[k], abs=1e-6), (metric, k)


@settings(max_examples=60)
@given(
    num_classes=st.integers(2, 6),
    n=st.integers(1, 60),
    ignore=st.sampled_from([None, 0, 1, 255]),
    data=st.data(),
)
def test_per_class_scores_match_torchmetrics_average_none(num_classes, n, ignore, data):
    values = st.integers(0, num_classes - 1)
    preds = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=np.int64)
    target = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=np.int64)
    if ignore == 255:
        mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        target[mask] = 255
    _check_against_torchmetrics(preds, target, num_classes, ignore)


@pytest.mark.parametrize("seed", range(8))
def test_per_class_scores_match_torchmetrics_on_images(seed):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 9))
    target = rng.integers(0, num_classes, size=(2, 16, 16))
    # some classes are never used, so absent classes are exercised too
    preds = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, max(1, num_classes - 2), size=target.shape))
    ignore = [None, 255, int(rng.integers(0, num_classes))][seed % 3]
    if ignore == 255:
        target = np.where(rng.random(target.shape) < 0.1, 255, target)
    _check_against_torchmetrics(preds.astype(np.int64), target.astype(np.int64), num_classes, ignore)


def test_finite_per_class_iou_averages_to_miou(rng):
    for _ in range(20):
        num_classes = int(rng.integers(2, 7))
        counts = rng.integers(0, 5, size=(num_classes, num_classes))
        counts[rng.integers(0, num_classes)] = 0  # a class missing from the targets
        ignore = [None, 0][int(rng.integers(0, 2))]
        if ignore is not None:
            counts[ignore] = 0
        iou = per_class_scores(counts, ignore)["iou"]
        if np.isnan(iou).all():
            assert np.isnan(mushin.metrics.tasks.miou(counts, ignore))
        else:
            assert np.nanmean(iou) == pytest.approx(mushin.metrics.tasks.miou(counts, ignore), abs=1e-12)


def test_missing_seed_is_nan_in_every_class():
    conf = {"a": [[[3, 1], [0, 4]], [[2, 2], [1, 3]]], "b": [[[4, 0], [1, 3]]]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BenchmarkResult.from_confusion(conf)
    values = r.per_class("iou")
    assert values.dims == ("method", "seed", "class")
    assert np.isnan(values.sel({"method": "b", "seed": 1}).values).all()
    assert values.sel({"method": "b", "seed": 0}).values.tolist() == [4 / 5, 3 / 4]


def test_per_class_variables_are_not_tested_as_scalar_metrics():
    conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
            "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]}
    r = BenchmarkResult.from_confusion(conf)
    assert r.metrics == ["miou", "dice", "pixel_acc", "precision", "recall"]
    assert set(r.comparisons["metric"]) == set(r.metrics)
    # the per-class values live in result.per_class; .data holds upstream's (method, seed) variables only
    assert list(r.per_class.data_vars) == ["iou", "dice", "precision", "recall"]
    assert all(r.per_class[m].dims == ("method", "seed", "class") for m in ("iou", "dice", "precision", "recall"))
    assert list(r.data.data_vars) == r.metrics
    assert all(r.data[m].dims == ("method", "seed") for m in r.data.data_vars)
    assert "class" not in r.data.coords
    assert r.reanalyze(alpha=0.01).metrics == r.metrics
    assert list(r.reanalyze(alpha=0.01).per_class.data_vars) == ["iou", "dice", "precision", "recall"]


# --------------------------------------------------------------- class_names --


def _tiny_compare(**kwargs):
    from torch import nn

    torch.manual_seed(0)
    data = [(torch.randn(2, 3, 6, 6), torch.randint(0, 3, (2, 6, 6))) for _ in range(2)]
    methods = {"a": [nn.Conv2d(3, 3, 1) for _ in range(2)], "b": [nn.Conv2d(3, 3, 1) for _ in range(2)]}
    kwargs.setdefault("test", "welch")
    return mushin.compare(methods, data, task="segmentation", num_classes=3, progress=False, **kwargs)


def test_compare_labels_the_class_axis_with_class_names():
    r = _tiny_compare(class_names=["sky", "road", "car"])
    assert r.classes == ["sky", "road", "car"]
    assert r.per_class("iou").sel({"class": "road"}).dims == ("method", "seed")


def test_compare_without_class_names_numbers_the_classes():
    assert _tiny_compare().classes == [0, 1, 2]


@pytest.mark.parametrize(
    "names, error, match",
    [
        (["sky", "road"], ValueError, "2 class_names for num_classes=3"),
        (["sky", "road", "sky"], ValueError, r"class_names\[0\] and class_names\[2\] are both 'sky'"),
        (["sky", 1, "car"], TypeError, r"class_names\[1\] is 1"),
        ("sky", TypeError, "list of strings"),
    ],
)
def test_bad_class_names_are_rejected_before_any_model_runs(names, error, match):
    from torch import nn

    class Exploding(nn.Module):
        def forward(self, x):  # pragma: no cover - must never run
            raise AssertionError("a model ran before class_names was checked")

    data = [(torch.randn(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))]
    with pytest.raises(error, match=match):
        mushin.compare({"a": [Exploding()], "b": [Exploding()]}, data, num_classes=3, class_names=names, task="segmentation", test="welch")


def test_from_confusion_accepts_class_names():
    r = BenchmarkResult.from_confusion({"a": [[[3, 1], [0, 4]], [[2, 2], [1, 3]]]}, class_names=["x", "y"])
    assert r.classes == ["x", "y"]


# ---------------------------------------------------- per-class comparisons --


def _three_method_result(rng, num_classes=5, seeds=4):
    conf = {}
    for name, skill in (("ref", 0.6), ("better", 0.8), ("same", 0.6)):
        mats = []
        for _ in range(seeds):
            cm = rng.integers(1, 10, size=(num_classes, num_classes))
            cm[np.arange(num_classes), np.arange(num_classes)] += (rng.random(num_classes) * 200 * skill).astype(int)
            mats.append(cm)
        conf[name] = np.stack(mats)
    return BenchmarkResult.from_confusion(conf, class_names=[f"c{k}" for k in range(num_classes)])


@pytest.mark.parametrize("correction", ["holm", "none", "fdr_bh"])
def test_per_class_comparisons_match_scipy(rng, correction):
    r = _three_method_result(rng)
    table = r.per_class_comparisons("dice", correction=correction)
    assert list(table["method"]) == ["better"] * 5 + ["same"] * 5
    assert list(table["class"]) == [f"c{k}" for k in range(5)] * 2
    values = r.per_class("dice")
    for method in ("better", "same"):
        rows = table[table["method"] == method]
        p = []
        for k in range(5):
            a = values.sel({"method": method}).values[:, k]
            b = values.sel({"method": "ref"}).values[:, k]
            oracle = scipy.stats.ttest_ind(a, b, equal_var=False)
            p.append(oracle.pvalue)
            row = rows.iloc[k]
            assert row["p_value"] == pytest.approx(oracle.pvalue, rel=1e-8)
            assert row["mean_diff"] == pytest.approx(a.mean() - b.mean(), abs=1e-12)
            assert row["mean"] == pytest.approx(a.mean(), abs=1e-12)
            assert row["reference_mean"] == pytest.approx(b.mean(), abs=1e-12)
        p = np.array(p)
        if correction == "fdr_bh":
            expected = scipy.stats.false_discovery_control(p, method="bh")
        elif correction == "holm":
            order = np.argsort(p)
            adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
            expected = np.empty_like(p)
            expected[order] = np.minimum(adjusted, 1.0)
        else:
            expected = p
        np.testing.assert_allclose(rows["p_corrected"].to_numpy(float), expected, rtol=1e-8)
        assert list(rows["significant"]) == list(expected < 0.05)


def test_per_class_comparisons_default_to_fdr():
    conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
            "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]}
    table = BenchmarkResult.from_confusion(conf, class_names=["sky", "road"]).per_class_comparisons()
    assert table.attrs["correction"] == "fdr_bh"
    assert table.attrs["metric"] == "iou"


def test_per_class_comparisons_skip_seeds_where_a_class_is_unscored():
    # class 2 occurs in only two of the reference's seeds
    ref = [[[5, 1, 0], [1, 5, 0], [0, 0, 0]], [[6, 1, 0], [1, 4, 0], [0, 0, 3]], [[5, 2, 0], [1, 5, 0], [0, 1, 4]]]
    new = [[[7, 0, 0], [0, 7, 0], [0, 0, 2]], [[6, 1, 0], [0, 6, 0], [1, 0, 3]], [[7, 1, 0], [0, 6, 0], [0, 0, 5]]]
    r = BenchmarkResult.from_confusion({"ref": ref, "new": new})
    table = r.per_class_comparisons("iou", correction="none")
    row = table[table["class"] == 2].iloc[0]
    a = np.array([2 / 2, 3 / 4, 5 / 5])  # tp / (tp + fp + fn) of class 2, by hand
    b = np.array([3 / 3, 4 / 5])  # the reference's seed 0 has no class 2 at all
    assert row["p_value"] == pytest.approx(scipy.stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-8)
    assert row["reference_mean"] == pytest.approx(b.mean())


def test_paired_per_class_comparisons_use_the_seeds_both_methods_scored():
    ref = [[[5, 1, 0], [1, 5, 0], [0, 0, 0]], [[6, 1, 0], [1, 4, 0], [0, 0, 3]], [[5, 2, 0], [1, 5, 0], [0, 1, 4]]]
    new = [[[7, 0, 0], [0, 7, 0], [0, 0, 2]], [[6, 1, 0], [0, 6, 0], [1, 0, 3]], [[7, 1, 0], [0, 6, 0], [0, 0, 5]]]
    r = BenchmarkResult.from_confusion({"ref": ref, "new": new}, test="ttest_rel")
    table = r.per_class_comparisons("iou", correction="none").set_index("class")
    values = r.per_class("iou")
    for k in range(3):
        a = values.sel({"method": "new"}).values[:, k]
        b = values.sel({"method": "ref"}).values[:, k]
        both = np.isfinite(a) & np.isfinite(b)
        oracle = scipy.stats.ttest_rel(a[both], b[both])
        assert table.loc[k, "p_value"] == pytest.approx(oracle.pvalue, rel=1e-8)
        assert table.loc[k, "mean_diff"] == pytest.approx((a[both] - b[both]).mean(), abs=1e-12)
    assert table.loc[2, "p_value"] == pytest.approx(
        scipy.stats.ttest_rel([3 / 4, 5 / 5], [3 / 3, 4 / 5]).pvalue, rel=1e-8
    )


def test_per_class_comparisons_reject_unknown_names():
    r = BenchmarkResult.from_confusion({"a": [[[3, 1], [0, 4]], [[2, 2], [1, 3]]], "b": [[[3, 1], [1, 4]], [[2, 1], [1, 3]]]})
    with pytest.raises(KeyError, match="per-class metrics: \\['iou', 'dice', 'precision', 'recall'\\]"):
        r.per_class_comparisons("miou", correction="none")
    with pytest.raises(ValueError, match="reference 'c' is not one of the methods"):
        r.per_class_comparisons("iou", reference="c", correction="none")
    with pytest.raises(ValueError, match="unknown correction"):
        r.per_class_comparisons("iou", correction="bogus")
