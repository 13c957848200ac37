"""The fused logits path and the int64-label path against torchmetrics and a plain read.

All contenders see the same batches in one process, one after another, on
1 and on 2 threads (``torch.set_num_threads(n)``; mushin follows torch's
thread count, see ``mushin.get_num_threads``):

* ``upstream default``  -- what a torchmetrics pipeline pays per batch with the
                            default predict function: ``logits.softmax(1)``,
                            ``argmax(1)``, then five metric updates
                            (MulticlassJaccardIndex, F1Score(macro),
                            Accuracy(micro), Precision(macro), Recall(macro),
                            each with ``ignore_index=255``)
* ``mushin fused``      -- ``ConfusionMatrix.update_logits(logits, target)``
* ``fused NHWC``        -- the same logits in channels-last memory
                            (``torch.channels_last``): each pixel's classes
                            contiguous
* ``read logits``       -- ``logits.sum(dim=1)``: one pass over the logits
* ``mushin int64``      -- ``ConfusionMatrix.update(preds, target)``, both int64
* ``read both labels``  -- ``preds.sum() + target.sum()``: one pass over both
* ``torchmetrics only`` -- for scale: the five updates given the argmax

Targets (docs/speed.md): fused >= 10x the upstream default, fused >= 0.5x the
speed of reading the logits, int64 >= 0.5x the speed of reading both labels,
channels-last fused at most 1.3x the time of NCHW fused.

``--runs K`` repeats the whole measurement K times (each a best-of and median
over ``--repeats`` passes) and prints every ratio's range over the runs: on a
machine shared with other work one run can be unlucky, and the spread says
how much.  ``--layout-dtypes`` adds, per dtype, NCHW against channels-last
fused on the first batch.

Run:  python benchmarks/bench_fused.py [--batches 3] [--repeats 5] [--threads 1 2] [--runs 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from _rivals import torchmetrics_segmentation_battery
from mushin import ConfusionMatrix
from mushin.metrics.tasks import dice, macro_precision, macro_recall, miou, pixel_accuracy


def make_batches(n_batches, batch, classes, size, void, labels="uniform", seed=0):
    """float32 logits (N, C, H, W), their int64 argmax, int64 labels with `void` at 255.

    ``uniform``: every class equally likely, predictions 70% right.
    ``background``: class 0 predicted for about 70% of the pixels (like the
    background of PASCAL VOC), predictions 95% right; one bin then takes most
    of the counts, the worst case for a histogram.
    """
    g = torch.Generator().manual_seed(seed)
    accuracy = 0.7 if labels == "uniform" else 0.95
    out = []
    for _ in range(n_batches):
        logits = torch.randn(batch, classes, size, size, generator=g)
        if labels == "background":
            logits[:, 0] += 2.4
        target = logits.argmax(1)
        wrong = torch.rand(target.shape, generator=g) < 1 - accuracy
        target[wrong] = torch.randint(0, classes, (int(wrong.sum()),), generator=g)
        target[torch.rand(target.shape, generator=g) < void] = 255
        out.append((logits, logits.argmax(1), target))
    return out


def upstream_update(metrics, logits, target):
    preds = logits.softmax(dim=1).argmax(dim=1)
    for metric in metrics:
        metric.update(preds, target)


def timed(make_state, step, batches, repeats):
    """Seconds per batch of each pass over all batches, and the last pass's state."""
    times, state = [], None
    for _ in range(repeats):
        state = make_state()
        start = time.perf_counter()
        for batch in batches:
            step(state, *batch)
        times.append((time.perf_counter() - start) / len(batches))
    return times, state


TORCHMETRICS_ROWS = ("upstream default", "torchmetrics only")

# (name, numerator row, denominator row, target): speed of the second
# relative to the first, i.e. time(numerator) / time(denominator)
RATIOS = [
    ("fused vs upstream (speed-up, target >= 10)", "upstream default", "mushin fused", 10.0),
    ("fused vs read logits (relative speed, target >= 0.5)", "read logits", "mushin fused", 0.5),
    ("int64 vs read both labels (relative speed, target >= 0.5)", "read both labels", "mushin int64", 0.5),
    ("channels-last vs NCHW fused (relative speed, target >= 0.77: <= 1.3x the time)", "mushin fused", "fused NHWC", 1 / 1.3),
]


def run(batches, classes, threads, repeats, upstream_repeats, with_torchmetrics=True):
    torch.set_num_threads(threads)
    sink = []
    channels_last = {id(b[0]): b[0].contiguous(memory_format=torch.channels_last) for b in batches}
    contenders = {
        "read logits": (lambda: None, lambda s, logits, preds, target: sink.append(logits.sum(dim=1))),
        "mushin fused": (
            lambda: ConfusionMatrix(classes, ignore_index=255),
            lambda cm, logits, preds, target: cm.update_logits(logits, target),
        ),
        "fused NHWC": (
            lambda: ConfusionMatrix(classes, ignore_index=255),
            lambda cm, logits, preds, target: cm.update_logits(channels_last[id(logits)], target),
        ),
        "read both labels": (lambda: None, lambda s, logits, preds, target: sink.append(preds.sum() + target.sum())),
        "mushin int64": (
            lambda: ConfusionMatrix(classes, ignore_index=255),
            lambda cm, logits, preds, target: cm.update(preds, target),
        ),
    }
    if with_torchmetrics:
        contenders["upstream default"] = (
            lambda: torchmetrics_segmentation_battery(classes),
            lambda metrics, logits, preds, target: upstream_update(metrics, logits, target),
        )
        # for scale: the five updates alone, given the argmax (no softmax, no argmax)
        contenders["torchmetrics only"] = (
            lambda: torchmetrics_segmentation_battery(classes),
            lambda metrics, logits, preds, target: [m.update(preds, target) for m in metrics],
        )
    times, states = {}, {}
    for name, (make_state, step) in contenders.items():
        n = upstream_repeats if name in TORCHMETRICS_ROWS else repeats
        times[name], states[name] = timed(make_state, lambda s, *b: (step(s, *b), sink.clear()), batches, n)
    # the contenders must agree before their times mean anything
    fused, by_index = states["mushin fused"].counts, states["mushin int64"].counts
    assert np.array_equal(fused, by_index), "fused and int64 paths disagree"
    assert np.array_equal(fused, states["fused NHWC"].counts), "NCHW and channels-last fused disagree"
    for row in TORCHMETRICS_ROWS if with_torchmetrics else ():
        for fn, metric in zip((miou, dice, pixel_accuracy, macro_precision, macro_recall), states[row]):
            assert abs(fn(fused, 255) - float(metric.compute())) < 1e-6, f"{fn.__name__} disagrees with torchmetrics"
    return times


def summarise(times):
    best = {name: min(t) for name, t in times.items()}
    median = {name: statistics.median(t) for name, t in times.items()}
    ratios, median_ratios = {}, {}
    for name, slow, fast, _ in RATIOS:
        if slow in times and fast in times:
            ratios[name] = best[slow] / best[fast]
            median_ratios[name] = median[slow] / median[fast]
    return best, median, ratios, median_ratios


def layout_dtypes(batch, classes, dtypes, repeats):
    """ms per batch (best of `repeats`, the two layouts alternating) of NCHW and channels-last fused, per dtype."""
    logits, _, target = batch
    rows = {}
    for name in dtypes:
        nchw = logits.to(getattr(torch, name))
        nhwc = nchw.contiguous(memory_format=torch.channels_last)
        best = {"nchw": float("inf"), "nhwc": float("inf")}
        counts = {}
        for _ in range(repeats):
            for layout, x in (("nchw", nchw), ("nhwc", nhwc)):
                cm = ConfusionMatrix(classes, ignore_index=255)
                start = time.perf_counter()
                cm.update_logits(x, target)
                best[layout] = min(best[layout], time.perf_counter() - start)
                counts[layout] = cm.counts
        assert np.array_equal(counts["nchw"], counts["nhwc"]), f"{name}: layouts disagree"
        rows[name] = (best["nchw"] * 1e3, best["nhwc"] * 1e3)
        del nchw, nhwc
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--void", type=float, default=0.05)
    parser.add_argument("--labels", choices=["uniform", "background"], default="uniform")
    parser.add_argument("--repeats", type=int, default=7, help="passes over the batches (best and median reported)")
    parser.add_argument("--upstream-repeats", type=int, default=3, help="passes for the slow torchmetrics rows")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-torchmetrics", action="store_true", help="leave out the two slow torchmetrics rows")
    parser.add_argument("--runs", type=int, default=1, help="repeat everything; ratios' range over runs printed")
    parser.add_argument("--layout-dtypes", nargs="*", default=[], metavar="DTYPE",
                        help="NCHW vs channels-last fused per dtype (float32 float16 bfloat16 float64)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    batches = make_batches(args.batches, args.batch_size, args.classes, args.size, args.void, args.labels)
    shape = tuple(batches[0][0].shape)
    print(
        f"{args.batches} batches of {shape} float32 logits + int64 labels ({args.labels}), "
        f"{args.void:.0%} void (255); "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    )
    report = {"shape": shape, "batches": args.batches, "labels": args.labels, "runs": [], "threads": {}}
    targets = {name: target for name, _, _, target in RATIOS}
    per_run = {threads: [] for threads in args.threads}
    for run_index in range(args.runs):
        for threads in args.threads:
            times = run(batches, args.classes, threads, args.repeats, args.upstream_repeats, not args.skip_torchmetrics)
            best, median, ratios, median_ratios = summarise(times)
            per_run[threads].append((ratios, median_ratios))
            print(f"\nrun {run_index + 1}/{args.runs}, {threads} thread(s): ms per batch, best / median of "
                  f"{args.repeats} passes ({args.upstream_repeats} for the torchmetrics rows)")
            for name in times:
                print(f"  {name:18s} {best[name] * 1e3:9.2f} {median[name] * 1e3:9.2f}")
            for name, ratio in ratios.items():
                verdict = "ok" if ratio >= targets[name] else "MISSED"
                print(f"  {name:62s} best {ratio:6.2f}  median {median_ratios[name]:6.2f}  {verdict}")
            report["runs"].append({
                "threads": threads,
                "ms_best": {k: v * 1e3 for k, v in best.items()},
                "ms_median": {k: v * 1e3 for k, v in median.items()},
                "ratios_best": ratios,
                "ratios_median": median_ratios,
            })
    if args.runs > 1:
        print(f"\nratios over {args.runs} runs: best-of range, median range, runs meeting the target by best-of")
        for threads in args.threads:
            print(f"  {threads} thread(s)")
            for name in per_run[threads][0][0]:
                bests = [r[0][name] for r in per_run[threads]]
                medians = [r[1][name] for r in per_run[threads]]
                met = sum(b >= targets[name] for b in bests)
                print(f"    {name:62s} {min(bests):5.2f}-{max(bests):5.2f}  {min(medians):5.2f}-{max(medians):5.2f}  "
                      f"{met}/{len(bests)}")
                report["threads"].setdefault(threads, {})[name] = {"best": bests, "median": medians}
    if args.layout_dtypes:
        torch.set_num_threads(1)
        print(f"\nNCHW vs channels-last fused, first batch, 1 thread, ms (best of {args.repeats}, alternating)")
        rows = layout_dtypes(batches[0], args.classes, args.layout_dtypes, args.repeats)
        for name, (nchw, nhwc) in rows.items():
            print(f"  {name:9s} NCHW {nchw:8.2f}  channels-last {nhwc:8.2f}  ratio {nhwc / nchw:5.2f}")
        report["layout_dtypes"] = rows
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
