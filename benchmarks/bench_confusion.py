"""Confusion-matrix update throughput: mushin's C accumulator vs the rivals.

All contenders see the same batches in one process, one after another:

* ``mushin``          -- ``ConfusionMatrix.update(preds, target)`` (C, via DLPack)
* ``torch.bincount``  -- the usual hand-written confusion matrix in torch
                          (mask void, ``bincount(target * C + preds)``)
* ``torchmetrics``    -- the segmentation battery a torchmetrics pipeline
                          updates per batch: Jaccard, F1, Accuracy (micro),
                          Precision, Recall, each with ``ignore_index``

Run:  python benchmarks/bench_confusion.py [--batches 10] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from _rivals import torchmetrics_segmentation_battery
from mushin import ConfusionMatrix


def make_batches(n_batches: int, batch: int, size: int, num_classes: int, void: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        target = torch.randint(0, num_classes, (batch, size, size), generator=g)
        preds = torch.where(
            torch.rand(target.shape, generator=g) < 0.7, target,
            torch.randint(0, num_classes, target.shape, generator=g),
        )
        target[torch.rand(target.shape, generator=g) < void] = 255
        out.append((preds, target))
    return out


def time_update(name, make_state, update, batches, repeats):
    """Best-of-`repeats` seconds for one pass of `update` over all batches."""
    times = []
    state = None
    for _ in range(repeats):
        state = make_state()
        start = time.perf_counter()
        for preds, target in batches:
            update(state, preds, target)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), state


def bincount_state(num_classes):
    return {"counts": torch.zeros(num_classes * num_classes, dtype=torch.int64), "C": num_classes}


def bincount_update(state, preds, target):
    keep = target != 255
    C = state["C"]
    state["counts"] += torch.bincount(target[keep] * C + preds[keep], minlength=C * C)


def torchmetrics_update(metrics, preds, target):
    for metric in metrics:
        metric.update(preds, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--void", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    C = args.classes
    batches = make_batches(args.batches, args.batch_size, args.size, C, args.void)
    pixels = sum(t.numel() for _, t in batches)
    print(
        f"{args.batches} batches of {args.batch_size}x{args.size}x{args.size} int64 labels, "
        f"{C} classes, {args.void:.0%} void; torch threads = {torch.get_num_threads()}; "
        f"best of {args.repeats}"
    )

    results = {}
    best, med, cm = time_update(
        "mushin", lambda: ConfusionMatrix(C, ignore_index=255), lambda s, p, t: s.update(p, t),
        batches, args.repeats,
    )
    results["mushin ConfusionMatrix.update"] = best
    reference = cm.counts

    best, med, st = time_update("bincount", lambda: bincount_state(C), bincount_update, batches, args.repeats)
    results["torch.bincount confusion"] = best
    assert np.array_equal(st["counts"].reshape(C, C).numpy(), reference), "bincount disagrees"

    best, med, metrics = time_update(
        "torchmetrics", lambda: torchmetrics_segmentation_battery(C), torchmetrics_update, batches, args.repeats
    )
    results["torchmetrics battery (5 metrics)"] = best
    tm_miou = float(metrics[0].compute())
    from mushin.metrics.tasks import miou

    assert abs(tm_miou - miou(reference, 255)) < 1e-6, "torchmetrics disagrees"

    base = results["mushin ConfusionMatrix.update"]
    print(f"{'contender':36s} {'seconds':>9s} {'Mpixel/s':>10s} {'mushin is':>11s}")
    for name, seconds in results.items():
        ratio = seconds / base
        print(f"{name:36s} {seconds:9.4f} {pixels / seconds / 1e6:10.1f} {ratio:10.1f}x")


if __name__ == "__main__":
    main()
