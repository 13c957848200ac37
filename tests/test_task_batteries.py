"""Every upstream task through compare(), end to end, against its oracle.

regression and retrieval (C states), detection (COCO and box-IoU states),
image_quality and audio (torchmetrics objects through the adapter) are run by
``compare()`` on generated data, and each (method, seed, metric) value is
checked against torchmetrics (or, for detection, the COCO states fed
directly: ``tests/test_coco_metrics.py`` checks those against pycocotools).
A user's torchmetrics metric, scalar- or dict-valued, works in ``metrics=``
for every task, and survives ``save``/``load``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torchmetrics
from torch import nn

from mushin import BenchmarkResult, compare, get_task, list_tasks
from mushin.metrics.states import StateMetric, TorchmetricsState
from mushin.metrics.tasks import Task, audio_battery, detection_battery, regression_battery, register_task, retrieval_battery

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*seed.*:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*underpowered.*:UserWarning"),
]

UPSTREAM_TASKS = {
    "audio": "Speech/audio quality (si_sdr, si_snr, stoi).",
    "classification": "Multiclass classification (accuracy, f1, precision, recall, auroc, ece).",
    "detection": "Object detection (mAP/mAR family + IoU variants).",
    "image_quality": "Paired image quality (ssim, psnr, ms_ssim, lpips).",
    "regression": "Scalar regression (mse, mae, rmse, r2, pearson, spearman).",
    "retrieval": "Information retrieval (retrieval_map, ndcg, mrr, precision, recall).",
    "segmentation": "Semantic segmentation (miou, dice, pixel_acc, precision, recall).",
}


def _close(got, want, tol=1e-6):
    if math.isnan(want):
        return math.isnan(got)
    return abs(got - want) <= tol * max(1.0, abs(want))


def _value(result, metric, method, seed):
    return float(result.data[metric].sel({"method": method, "seed": seed}))


def _run(result, methods, data, oracle, update):
    """Check every value of ``result`` against ``oracle()`` metrics fed by ``update``."""
    checked = 0
    for method, models in methods.items():
        for seed, model in enumerate(models):
            metrics = oracle()
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for x, y in data:
                    out = model(x)
                    for m in metrics.values():
                        update(m, out, y)
                want = {name: m.compute() for name, m in metrics.items()}
            for name, value in want.items():
                values = value if isinstance(value, dict) else {name: value}
                for key, v in values.items():
                    got = _value(result, key, method, seed)
                    assert _close(got, float(v)), (method, seed, key, got, float(v))
                    checked += 1
    assert checked > 0


# ------------------------------------------------------------------ tasks --


def test_list_tasks_gives_upstream_names_and_descriptions():
    assert {name: list_tasks()[name] for name in UPSTREAM_TASKS} == UPSTREAM_TASKS


def test_batteries_have_upstream_names_and_signature():
    assert list(regression_battery()) == ["mse", "mae", "rmse", "r2", "pearson", "spearman"]
    assert list(retrieval_battery(None, None)) == ["retrieval_map", "ndcg", "mrr", "precision", "recall"]
    assert list(audio_battery(num_classes=None, ignore_index=None)) == ["si_sdr", "si_snr", "stoi"]
    assert {"map", "map_50", "mar_100", "iou", "giou", "diou", "ciou"} <= set(detection_battery())
    directions = {name: m.higher_is_better for name, m in regression_battery().items()}
    assert directions == {"mse": False, "mae": False, "rmse": False, "r2": True, "pearson": None, "spearman": True}


def _regression():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(90, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.2 * torch.randn(90, generator=g)
    data = [(x[i : i + 30], y[i : i + 30]) for i in range(0, 90, 30)]
    torch.manual_seed(3)
    methods = {
        name: [nn.Sequential(nn.Linear(3, 1), nn.Flatten(0)) for _ in range(3)] for name in ("a", "b")
    }
    return methods, data


def test_regression_matches_torchmetrics():
    methods, data = _regression()
    result = compare(methods, data, task="regression", test="welch", progress=False)
    assert result.metrics == ["mse", "mae", "rmse", "r2", "pearson", "spearman"]
    assert result.data["mse"].attrs["higher_is_better"] == 0 and "higher_is_better" not in result.data["pearson"].attrs
    tm = torchmetrics.regression

    def oracle():
        return {
            "mse": tm.MeanSquaredError(), "mae": tm.MeanAbsoluteError(),
            "rmse": tm.MeanSquaredError(squared=False), "r2": tm.R2Score(),
            "pearson": tm.PearsonCorrCoef(), "spearman": tm.SpearmanCorrCoef(),
        }

    _run(result, methods, data, oracle, lambda m, out, y: m.update(out, y))


def _retrieval():
    g = torch.Generator().manual_seed(8)
    n = 96
    x = torch.randn(n, 4, generator=g)
    indexes = torch.arange(n) // 8
    relevance = (x[:, 0] + 0.5 * torch.randn(n, generator=g) > 0.2).long()
    relevance[indexes == 2] = 0  # a query with nothing relevant scores 0
    data = [(x[i : i + 32], (relevance[i : i + 32], indexes[i : i + 32])) for i in range(0, n, 32)]
    torch.manual_seed(4)
    methods = {name: [nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)) for _ in range(2)] for name in ("a", "b")}
    return methods, data


def test_retrieval_matches_torchmetrics():
    methods, data = _retrieval()
    result = compare(methods, data, task="retrieval", test="welch", progress=False)
    assert result.metrics == ["retrieval_map", "ndcg", "mrr", "precision", "recall"]
    r = torchmetrics.retrieval

    def oracle():
        return {
            "retrieval_map": r.RetrievalMAP(), "ndcg": r.RetrievalNormalizedDCG(), "mrr": r.RetrievalMRR(),
            "precision": r.RetrievalPrecision(), "recall": r.RetrievalRecall(),
        }

    _run(result, methods, data, oracle, lambda m, out, y: m.update(out, y[0], indexes=y[1]))


class _Detector(nn.Module):
    """Boxes near the targets', jittered by a seed-dependent amount."""

    def __init__(self, seed, targets):
        super().__init__()
        self.seed, self.targets = seed, targets

    def forward(self, images):
        g = torch.Generator().manual_seed(self.seed)
        out = []
        for image in images:
            t = self.targets[int(image[0, 0, 0])]
            boxes = t["boxes"] + torch.randn(t["boxes"].shape, generator=g) * (2.0 + self.seed)
            out.append({"boxes": boxes, "scores": torch.rand(len(boxes), generator=g), "labels": t["labels"]})
        return out


def _detection():
    g = torch.Generator().manual_seed(11)
    targets = []
    for _ in range(6):
        k = 3
        xy = torch.rand(k, 2, generator=g) * 60
        wh = 10 + torch.rand(k, 2, generator=g) * 40
        targets.append({"boxes": torch.cat([xy, xy + wh], 1), "labels": torch.randint(0, 3, (k,), generator=g)})
    data = []
    for b in range(3):
        images = torch.zeros(2, 3, 4, 4)
        images[0, 0, 0, 0], images[1, 0, 0, 0] = 2 * b, 2 * b + 1
        data.append((images, [targets[2 * b], targets[2 * b + 1]]))
    methods = {"a": [_Detector(s, targets) for s in (0, 1)], "b": [_Detector(s, targets) for s in (3, 4)]}
    return methods, data


def test_detection_matches_the_coco_states_fed_directly():
    from mushin.metrics.coco import BoxIoUMeans, CocoDetections

    methods, data = _detection()
    result = compare(methods, data, task="detection", test="welch", progress=False)
    assert {"map", "map_50", "mar_100", "iou", "ciou"} <= set(result.metrics)

    class Direct:
        def __init__(self, state):
            self.state = state

        def update(self, out, y):
            self.state.update(out, None, y)

        def compute(self):
            return self.state.compute()

    _run(result, methods, [(list(x), y) for x, y in data],
         lambda: {"coco": Direct(CocoDetections()), "iou": Direct(BoxIoUMeans())},
         lambda m, out, y: m.update(out, y))


class _Blur(nn.Module):
    def __init__(self, amount):
        super().__init__()
        self.amount = amount

    def forward(self, x):
        return (x * (1 - self.amount) + self.amount * x.mean()).clamp(0, 1)


def test_image_quality_matches_torchmetrics_and_lpips_fails_clearly():
    g = torch.Generator().manual_seed(2)
    data = [(img, img) for img in (torch.rand(2, 1, 176, 176, generator=g) for _ in range(2))]
    methods = {"a": [_Blur(0.1), _Blur(0.15)], "b": [_Blur(0.3), _Blur(0.35)]}
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        LearnedPerceptualImagePatchSimilarity(normalize=True)
    except Exception:  # noqa: BLE001 - whatever keeps LPIPS from being built here
        with pytest.raises(ImportError, match="lpips"):
            compare(methods, data, task="image_quality", progress=False, test="welch")
    result = compare(methods, data, task="image_quality", metrics=["ssim", "psnr", "ms_ssim"], progress=False, test="welch")
    im = torchmetrics.image
    _run(result, methods, data, lambda: {
        "ssim": im.StructuralSimilarityIndexMeasure(data_range=1.0),
        "psnr": im.PeakSignalNoiseRatio(data_range=1.0),
        "ms_ssim": im.MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0),
    }, lambda m, out, y: m.update(out, y))


class _Noisy(nn.Module):
    def __init__(self, seed, level):
        super().__init__()
        self.seed, self.level = seed, level

    def forward(self, x):
        g = torch.Generator().manual_seed(self.seed)
        return x + self.level * torch.randn(x.shape, generator=g)


def test_audio_matches_torchmetrics():
    pytest.importorskip("pystoi")
    g = torch.Generator().manual_seed(6)
    t = torch.arange(8000) / 16000
    data = []
    for _ in range(2):
        clean = torch.sin(2 * math.pi * (200 + 300 * torch.rand(2, 1, generator=g)) * t)
        data.append((clean, clean))
    methods = {"a": [_Noisy(s, 0.1) for s in (0, 1)], "b": [_Noisy(s, 0.4) for s in (2, 3)]}
    result = compare(methods, data, task="audio", progress=False, test="welch")
    assert result.metrics == ["si_sdr", "si_snr", "stoi"]
    au = torchmetrics.audio
    _run(result, methods, data, lambda: {
        "si_sdr": au.ScaleInvariantSignalDistortionRatio(), "si_snr": au.ScaleInvariantSignalNoiseRatio(),
        "stoi": au.ShortTimeObjectiveIntelligibility(fs=16000),
    }, lambda m, out, y: m.update(out, y))


# --------------------------------------------- a user's torchmetrics metric --


class PredictionStats(torchmetrics.Metric):
    """A dict-valued metric that takes any task's predictions: how many values, and their largest."""

    full_state_update = False
    higher_is_better = True

    def __init__(self):
        super().__init__()
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("largest", torch.tensor(-math.inf, dtype=torch.float64), dist_reduce_fx="max")

    @staticmethod
    def _values(preds):
        if isinstance(preds, (list, tuple)):  # detection: one dict per image
            return torch.cat([p["scores"].reshape(-1) for p in preds])
        return preds.reshape(-1)

    def update(self, preds, target=None, **kwargs):
        v = self._values(preds).double()
        self.count += v.numel()
        self.largest = torch.maximum(self.largest, v.max())

    def compute(self):
        return {"pred_count": self.count, "pred_largest": self.largest}


class PredictionSum(PredictionStats):
    """The scalar sibling: the sum of all prediction values."""

    def __init__(self):
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds, target=None, **kwargs):
        super().update(preds)
        self.total += self._values(preds).double().sum()

    def compute(self):
        return self.total


def _every_task():
    g = torch.Generator().manual_seed(1)
    seg = [(torch.randn(2, 3, 6, 6, generator=g), torch.randint(0, 3, (2, 6, 6), generator=g)) for _ in range(2)]
    cls = [(torch.randn(5, 4, generator=g), torch.randint(0, 3, (5,), generator=g)) for _ in range(2)]
    torch.manual_seed(0)
    audio = [(torch.randn(2, 800, generator=g),) * 2 for _ in range(2)]
    images = [(torch.rand(2, 1, 16, 16, generator=g),) * 2 for _ in range(2)]
    return {
        "segmentation": ({"a": [nn.Conv2d(3, 3, 1) for _ in range(2)]}, seg, {"num_classes": 3}),
        "classification": ({"a": [nn.Linear(4, 3) for _ in range(2)]}, cls, {"num_classes": 3}),
        "regression": (*_regression(), {}),
        "retrieval": (*_retrieval(), {}),
        "detection": (*_detection(), {}),
        "image_quality": ({"a": [_Blur(0.1), _Blur(0.2)]}, images, {}),
        "audio": ({"a": [_Noisy(0, 0.1), _Noisy(1, 0.2)]}, audio, {}),
    }


@pytest.mark.parametrize("task", list(UPSTREAM_TASKS))
def test_user_torchmetrics_metrics_work_for_every_task(task, tmp_path):
    methods, data, kwargs = _every_task()[task]
    result = compare(methods, data, task=task, metrics={"total": PredictionSum(), "stats": PredictionStats()},
                     test="welch", progress=False, **kwargs)
    assert result.metrics == ["total", "pred_count", "pred_largest"]
    assert all(result.data[m].attrs["higher_is_better"] == 1 for m in result.metrics)
    predict = get_task(task).predict_fn
    for method, models in methods.items():
        for seed, model in enumerate(models):
            want = PredictionSum()
            with torch.no_grad():
                for x, _ in data:
                    preds = predict(model, x if task != "detection" else list(x))[0]
                    if task in ("segmentation", "classification") and preds.is_floating_point():
                        preds = preds.argmax(get_task(task).class_dim)  # class indices, as compare feeds them
                    want.update(preds)
            assert _value(result, "total", method, seed) == pytest.approx(float(want.total), rel=1e-12)
            assert _value(result, "pred_count", method, seed) == float(want.count)
            assert _value(result, "pred_largest", method, seed) == float(want.largest)
    path = result.save(tmp_path / "run")
    loaded = BenchmarkResult.load(path)
    for m in result.metrics:
        np.testing.assert_array_equal(loaded.data[m].values, result.data[m].values)
    assert list(loaded.comparisons.columns) == list(result.comparisons.columns)


def test_regression_result_round_trips_through_save_and_load(tmp_path):
    methods, data = _regression()
    result = compare(methods, data, task="regression", test="welch", progress=False)
    loaded = BenchmarkResult.load(result.save(tmp_path / "reg"))
    assert loaded.metrics == result.metrics
    for m in result.metrics:
        np.testing.assert_array_equal(loaded.data[m].values, result.data[m].values)
    np.testing.assert_array_equal(loaded.comparisons["p_value"].values, result.comparisons["p_value"].values)


# ------------------------------------------------------------ the adapter --


def test_adapter_merges_in_order_and_round_trips_its_state():
    a, b, whole = (TorchmetricsState(torchmetrics.regression.SpearmanCorrCoef()) for _ in range(3))
    g = torch.Generator().manual_seed(0)
    p, t = torch.randn(40, generator=g), torch.randn(40, generator=g)
    a.update(p[:25], None, t[:25])
    b.update(p[25:], None, t[25:])
    whole.update(p[:25], None, t[:25])
    whole.update(p[25:], None, t[25:])
    a.merge(b.state_dict())
    assert [x.tolist() for x in a.state_dict()["preds"]] == [x.tolist() for x in whole.state_dict()["preds"]]
    assert a.compute() == whole.compute()
    fresh = TorchmetricsState(torchmetrics.regression.SpearmanCorrCoef())
    fresh.load_state_dict(a.state_dict())
    assert fresh.compute() == whole.compute()


def test_adapter_never_touches_the_callers_metric():
    mine = torchmetrics.regression.MeanAbsoluteError()
    mine.update(torch.tensor([1.0]), torch.tensor([3.0]))
    state = TorchmetricsState(mine)
    state.update(torch.tensor([0.0]), None, torch.tensor([1.0]))
    assert float(mine.compute()) == 2.0 and state.compute() == 1.0


def test_custom_task_brings_its_own_state_metric():
    from mushin.metrics.states import RegressionState

    name = "regression-r2-only"
    register_task(name, Task({"r2": StateMetric(RegressionState.make, "r2", higher_is_better=True)},
                             get_task("regression").predict_fn, requires_num_classes=False,
                             description="r2 alone", name=name), overwrite=True)
    assert list_tasks()[name] == "r2 alone"
    methods, data = _regression()
    result = compare(methods, data, task=name, test="welch", progress=False)
    full = compare(methods, data, task="regression", test="welch", progress=False)
    np.testing.assert_array_equal(result.data["r2"].values, full.data["r2"].values)


def test_confusion_metric_in_a_task_without_classes_is_refused():
    from mushin.metrics.tasks import miou

    methods, data = _regression()
    with pytest.raises(TypeError, match="metric 'miou' is a function of the confusion matrix"):
        compare(methods, data, task="regression", metrics={"miou": miou}, progress=False, test="welch")


def test_bad_retrieval_labels_name_the_problem():
    methods, data = _retrieval()
    bad = [(x, y[0]) for x, y in data]
    with pytest.raises(TypeError, match=r"method 'a', seed 0.*batch 0.*\(relevance, indexes\)"):
        compare(methods, bad, task="retrieval", progress=False, test="welch")


def test_a_torchmetrics_metric_mushin_knows_is_counted_by_the_confusion_matrix(monkeypatch):
    from torchmetrics.classification import MulticlassJaccardIndex, MulticlassRecall

    def never(self, *args, **kwargs):
        raise AssertionError("the fast path should count this metric in C, not call torchmetrics")

    methods, data, kwargs = _every_task()["segmentation"]
    builtin = compare(methods, data, task="segmentation", metrics=["miou", "recall"], progress=False, **kwargs)
    monkeypatch.setattr(MulticlassJaccardIndex, "update", never)
    monkeypatch.setattr(MulticlassRecall, "update", never)
    mine = compare(methods, data, task="segmentation", progress=False, metrics={
        "iou": MulticlassJaccardIndex(3, average="macro"), "rec": MulticlassRecall(3, average="macro"),
    }, **kwargs)
    np.testing.assert_array_equal(mine.data["iou"].values, builtin.data["miou"].values)
    np.testing.assert_array_equal(mine.data["rec"].values, builtin.data["recall"].values)
    # another ignore_index than the comparison's is not the same metric: torchmetrics runs it
    with pytest.raises(AssertionError, match="fast path"):
        compare(methods, data, task="segmentation", progress=False,
                metrics={"iou": MulticlassJaccardIndex(3, average="macro", ignore_index=0)}, **kwargs)


@pytest.mark.parametrize("module", ["mushin.metrics.states", "mushin.metrics.batteries", "mushin.metrics.tasks",
                                    "mushin.evaluation.spec", "mushin.evaluation.pipeline"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
