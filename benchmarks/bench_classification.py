"""Classification battery throughput: mushin's C accumulators vs torchmetrics.

Both contenders see the same batches of softmax probabilities, argmax
predictions and labels, in one process, one after the other:

* ``mushin``       -- ``ConfusionMatrix`` (accuracy, F1, precision, recall from
                      one C x C matrix), ``RocScores`` (exact macro AUROC) and
                      ``CalibrationBins`` (ECE, 15 bins), fed through DLPack
* ``torchmetrics`` -- ``MulticlassAccuracy(micro)``, ``MulticlassF1Score``,
                      ``MulticlassPrecision``, ``MulticlassRecall`` (macro),
                      ``MulticlassAUROC(macro, thresholds=None)`` and
                      ``MulticlassCalibrationError(n_bins=15, norm="l1")``

It times the updates over all batches and the final compute separately,
prints samples per second and the speed-up, and checks the six values.
torchmetrics sums the calibration bins in float32, which at a million
samples moves its ECE by a few 1e-6; the check therefore also evaluates
torchmetrics' own ECE state in float64 (its ``_ce_compute`` on the kept
confidences), which mushin's float64 sums must match to 1e-9.  Every other
value must match torchmetrics' to 1e-6.  The default, 1M samples x 100 classes, needs about 2 GB of
memory (the probabilities, plus the scores each AUROC keeps).

Run:  python benchmarks/bench_classification.py [--samples 1000000] [--classes 100]
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import torch
from torchmetrics.functional.classification.calibration_error import _ce_compute
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassCalibrationError,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from mushin import ConfusionMatrix
from mushin._core import CalibrationBins, RocScores
from mushin.metrics.tasks import accuracy, calibration_bins, macro_f1, macro_precision, macro_recall


def make_batches(samples: int, num_classes: int, batch: int, seed: int = 0):
    """Softmax probabilities of noisy logits that favour the true class."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        target = torch.randint(0, num_classes, (n,), generator=g)
        logits = torch.randn(n, num_classes, generator=g)
        logits[torch.arange(n), target] += 2.0
        probs = logits.softmax(dim=-1)
        out.append((probs.argmax(dim=-1), probs, target))
    return out


def run_mushin(batches, num_classes: int):
    confusion = ConfusionMatrix(num_classes)
    roc = RocScores(num_classes)
    bins = calibration_bins(num_classes)  # torch.linspace boundaries, as torchmetrics
    start = time.perf_counter()
    for preds, probs, target in batches:
        confusion.update(preds, target)
        roc.update(probs, target)
        bins.update(probs, target)
    updated = time.perf_counter()
    counts = confusion.counts
    values = {
        "accuracy": accuracy(counts),
        "f1": macro_f1(counts),
        "precision": macro_precision(counts),
        "recall": macro_recall(counts),
        "auroc": roc.compute(),
        "ece": bins.compute(),
    }
    done = time.perf_counter()
    extra = {"kept_scores_bytes": roc.nbytes}
    return values, updated - start, done - updated, extra


def run_torchmetrics(batches, num_classes: int):
    battery = {
        "accuracy": MulticlassAccuracy(num_classes, average="micro"),
        "f1": MulticlassF1Score(num_classes, average="macro"),
        "precision": MulticlassPrecision(num_classes, average="macro"),
        "recall": MulticlassRecall(num_classes, average="macro"),
        "auroc": MulticlassAUROC(num_classes, average="macro", thresholds=None),
        "ece": MulticlassCalibrationError(num_classes, n_bins=15, norm="l1"),
    }
    start = time.perf_counter()
    for preds, probs, target in batches:
        for name, metric in battery.items():
            metric.update(probs if name in ("auroc", "ece") else preds, target)
    updated = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = {name: float(metric.compute()) for name, metric in battery.items()}
    done = time.perf_counter()
    ece = battery["ece"]
    ece_float64 = float(
        _ce_compute(
            torch.cat(ece.confidences).double(),
            torch.cat(ece.accuracies).double(),
            torch.linspace(0, 1, 16).double(),  # torchmetrics' float32 boundaries, widened exactly
            norm="l1",
        )
    )
    return values, updated - start, done - updated, {"ece_float64": ece_float64}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(
        f"{args.samples} samples x {args.classes} classes in batches of {args.batch}; "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"{platform.processor() or platform.machine()}"
    )
    t0 = time.perf_counter()
    batches = make_batches(args.samples, args.classes, args.batch)
    print(f"data generated in {time.perf_counter() - t0:.1f} s")

    results = {}
    for name, run in (("mushin", run_mushin), ("torchmetrics", run_torchmetrics)):
        values, update_s, compute_s, extra = run(batches, args.classes)
        results[name] = values
        total = update_s + compute_s
        line = (
            f"{name:>12}: update {update_s:7.2f} s, compute {compute_s:7.2f} s, total {total:7.2f} s "
            f"= {args.samples / total / 1e6:6.3f} M samples/s"
        )
        if "kept_scores_bytes" in extra:
            line += f"  (AUROC keeps {extra['kept_scores_bytes'] / 2**20:.0f} MiB)"
        print(line)
        results[name + "_time"] = (update_s, compute_s)
        results[name + "_extra"] = extra

    ours, theirs = results["mushin"], results["torchmetrics"]
    print("values (mushin): " + ", ".join(f"{m}={ours[m]:.6f}" for m in ours))
    print("|mushin - torchmetrics|: " + ", ".join(f"{m} {abs(ours[m] - theirs[m]):.1e}" for m in ours))
    ece_float64 = results["torchmetrics_extra"]["ece_float64"]
    print(f"|mushin - torchmetrics' ECE state summed in float64|: {abs(ours['ece'] - ece_float64):.1e}")
    (mu, mc), (tu, tc) = results["mushin_time"], results["torchmetrics_time"]
    print(f"speed-up: update x{tu / mu:.1f}, compute x{tc / mc:.1f}, total x{(tu + tc) / (mu + mc):.1f}")
    bad = [m for m in ours if m != "ece" and abs(ours[m] - theirs[m]) > 1e-6]
    if abs(ours["ece"] - ece_float64) > 1e-9:
        bad.append("ece")
    if bad:
        print(f"MISMATCH: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
