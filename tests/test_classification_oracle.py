"""compare(task="classification") against torchmetrics, metric by metric.

240 generated cases (24 data sets x 10 models): 2 to 50 classes, skewed
class frequencies, classes with no samples at all, heavy ties in the scores
(quantised and constant logits, probabilities of exactly 0 and 1), and
ignore_index absent, inside the class range and outside it.  Each model is a
lookup table of logits streamed in batches of uneven size; torchmetrics is
fed the very same batches, with class-index predictions for the confusion
metrics and softmax probabilities for AUROC and ECE, which is how mushin
routes them.  Every value must agree to 1e-6.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassCalibrationError,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)
from torchmetrics.functional.classification.calibration_error import _ce_compute

import torch_threads
from mushin import compare

N_DATASETS = 24
MODELS_PER_DATASET = 10
TOLERANCE = 1e-6


class LogitTable(torch.nn.Module):
    """A 'model' whose input is row indices into a fixed logit table."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.logits[index]


def _labels(rng: np.random.Generator, n: int, num_classes: int, ignore_index) -> np.ndarray:
    weights = rng.dirichlet(np.full(num_classes, rng.choice([0.2, 1.0, 5.0])))
    absent = rng.choice(num_classes, size=rng.integers(0, max(1, num_classes // 4) + 1), replace=False)
    weights[absent] = 0.0  # classes with no samples at all
    if weights.sum() == 0:
        weights[0] = 1.0
    labels = rng.choice(num_classes, size=n, p=weights / weights.sum())
    if ignore_index is not None:
        ignored = rng.random(n) < rng.uniform(0.05, 0.4)
        ignored[0] = False  # keep at least one row
        labels[ignored] = ignore_index
    return labels


def _logits(rng: np.random.Generator, n: int, num_classes: int, style: str, labels: np.ndarray) -> np.ndarray:
    signal = np.zeros((n, num_classes))
    valid = (labels >= 0) & (labels < num_classes)
    signal[np.flatnonzero(valid), labels[valid]] = rng.uniform(0.0, 3.0)
    if style == "gaussian":
        return rng.normal(size=(n, num_classes)) + signal
    if style == "quantised":  # many exactly tied probabilities within and across rows
        return np.round(rng.normal(size=(n, num_classes)) + signal)
    if style == "coarse":  # only a handful of distinct rows
        return rng.integers(0, 3, size=(n, num_classes)).astype(np.float64)
    if style == "constant_rows":  # uniform probabilities, argmax = class 0
        return np.repeat(rng.normal(size=(n, 1)), num_classes, axis=1)
    if style == "saturated":  # probabilities of exactly 0 and 1: confidence 1 slot
        return 200.0 * (rng.normal(size=(n, num_classes)) + signal)
    raise ValueError(style)


STYLES = ["gaussian", "quantised", "coarse", "constant_rows", "saturated"]


def _dataset(index: int):
    rng = np.random.default_rng(1000 + index)
    num_classes = int(rng.choice([2, 3, 5, 10, 17, 50])) if index % 6 else 2 + index % 49
    n = int(rng.integers(30, 300))
    ignore_index = [None, 255, int(rng.integers(0, num_classes)), -100][index % 4]
    labels = _labels(rng, n, num_classes, ignore_index)
    tables = []
    for m in range(MODELS_PER_DATASET):
        style = STYLES[(index + m) % len(STYLES)]
        tables.append(torch.from_numpy(_logits(rng, n, num_classes, style, labels)).float())
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(1, 6))), replace=False))
    batches = [
        (torch.from_numpy(idx), torch.from_numpy(labels[idx]))
        for idx in np.split(np.arange(n), cuts)
    ]
    return num_classes, ignore_index, tables, batches


def _torchmetrics_battery(num_classes: int, ignore_index):
    kw = {"num_classes": num_classes, "ignore_index": ignore_index}
    return {
        "accuracy": MulticlassAccuracy(average="micro", **kw),
        "f1": MulticlassF1Score(average="macro", **kw),
        "precision": MulticlassPrecision(average="macro", **kw),
        "recall": MulticlassRecall(average="macro", **kw),
        "auroc": MulticlassAUROC(average="macro", thresholds=None, **kw),
        "ece": MulticlassCalibrationError(n_bins=15, norm="l1", **kw),
    }


def _oracle(table: torch.Tensor, batches, num_classes: int, ignore_index):
    battery = _torchmetrics_battery(num_classes, ignore_index)
    for x, y in batches:
        logits = table[x]
        preds, probs = logits.argmax(dim=-1), logits.softmax(dim=-1)
        for name, metric in battery.items():
            metric.update(probs if name in ("auroc", "ece") else preds, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns about classes without positives
        values = {name: float(metric.compute()) for name, metric in battery.items()}
    ece = battery["ece"]
    values["ece_float64"] = float(
        _ce_compute(
            torch.cat(ece.confidences).double(),
            torch.cat(ece.accuracies).double(),
            torch.linspace(0, 1, 16).double(),
            norm="l1",
        )
    )
    return values


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # tiny tensors: an intra-op thread pool only adds wake-up latency, which
    # dominates on a busy machine
    with torch_threads.one_torch_thread():
        yield


@pytest.fixture(scope="module")
def sweep(one_torch_thread):
    """Per case: (mushin values, torchmetrics values, description)."""
    cases = []
    for index in range(N_DATASETS):
        num_classes, ignore_index, tables, batches = _dataset(index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one method: no pairs to test
            result = compare(
                {"m": [LogitTable(t) for t in tables]},
                batches,
                task="classification",
                num_classes=num_classes,
                ignore_index=ignore_index,
                progress=False, test="welch",
            )
        for m, table in enumerate(tables):
            ours = {metric: float(result.data[metric].values[0, m]) for metric in result.metrics}
            theirs = _oracle(table, batches, num_classes, ignore_index)
            style = STYLES[(index + m) % len(STYLES)]
            cases.append((ours, theirs, f"dataset {index} model {m} ({style}, C={num_classes}, ignore={ignore_index})"))
    return cases


def test_sweep_covers_what_it_claims(sweep):
    assert len(sweep) >= 200
    classes = {int(d.split("C=")[1].split(",")[0]) for _, _, d in sweep}
    assert min(classes) == 2 and max(classes) == 50
    ignores = {d.split("ignore=")[1].rstrip(")") for _, _, d in sweep}
    assert {"None", "255", "-100"} <= ignores and len(ignores) > 4


@pytest.mark.parametrize("metric", ["accuracy", "f1", "precision", "recall", "auroc", "ece"])
def test_metric_equals_torchmetrics(sweep, metric):
    worst = max(sweep, key=lambda case: abs(case[0][metric] - case[1][metric]))
    ours, theirs, description = worst
    assert ours[metric] == pytest.approx(theirs[metric], abs=TOLERANCE), description


def test_ece_differs_from_torchmetrics_only_by_its_float32_sums(sweep):
    # torchmetrics sums the bins in float32; with its own state summed in
    # float64 the two agree to rounding of the final division
    for ours, theirs, description in sweep:
        assert ours["ece"] == pytest.approx(theirs["ece_float64"], abs=1e-12), description


def test_sweep_includes_classes_without_positives(sweep):
    # absent classes score 0 in torchmetrics' macro AUROC; they must occur
    _, _, tables, batches = _dataset(1)
    labels = torch.cat([y for _, y in batches]).numpy()
    num_classes = tables[0].shape[1]
    present = set(labels[(labels >= 0) & (labels < num_classes)].tolist())
    assert len(present) < num_classes
