"""Two-level bootstrap speed: mushin's C loop vs NumPy doing the same resamples.

The case of issue 15: 2 methods x 5 seeds x 1,449 images (PASCAL VOC val)
x 21 classes, 10,000 resamples of mIoU, resampling seeds and images.
Contenders, in one process, on the same counts:

* ``mushin``       -- ``mushin.stats.bootstrap.bootstrap_counts`` (C, GIL
                      released; int32 sums where they fit; resample b on
                      random stream b, so any thread count gives the same bits)
* ``numpy-matmul`` -- the fastest plain NumPy formulation we know: one
                      (resamples x images) weight matrix times the
                      (images x models*features) count matrix in float64
                      BLAS, the same per-class features, then mIoU and the
                      seed resampling vectorised.  It draws its own
                      multinomial weights (not the same resamples), so only
                      its time is compared.

Reports the best of ``--repeats`` runs (the machine may be shared).

Run:  python benchmarks/bench_bootstrap.py [--n 10000] [--threads 1 2] [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mushin import _core
from mushin.stats.bootstrap import bootstrap_counts


def make_counts(methods=2, seeds=5, images=1449, classes=21, seed=0):
    """Plausible VOC-like per-image counts: ~180k pixels an image, a few classes each."""
    rng = np.random.default_rng(seed)
    counts = {}
    present = rng.random((images, classes)) < 0.15
    present[:, 0] = True  # background everywhere
    pixels = rng.integers(100_000, 190_000, images)
    for m in range(methods):
        per_seed = np.zeros((seeds, images, classes, 3), np.int64)
        for s in range(seeds):
            share = rng.random((images, classes)) * present
            share /= share.sum(axis=1, keepdims=True)
            truth = np.floor(share * pixels[:, None]).astype(np.int64)
            hit = rng.uniform(0.6 + 0.02 * m, 0.95, (images, classes))
            tp = np.floor(truth * hit).astype(np.int64)
            fn = truth - tp
            fp = np.roll(fn, 1, axis=1)  # misses land on a neighbouring class
            per_seed[s] = np.stack([tp, fp, fn], axis=-1)
        counts[f"method{m}"] = per_seed
    return counts


def numpy_matmul_bootstrap(counts, n, seed=0, block=500):
    rng = np.random.default_rng(seed)
    stacked = np.concatenate(list(counts.values()))  # (models, images, C, 3)
    models, images, classes, _ = stacked.shape
    tp = stacked[..., 0]
    union = stacked.sum(axis=-1)
    features = np.concatenate([tp, union], axis=-1).transpose(1, 0, 2).reshape(images, -1).astype(np.float64)
    spm = [c.shape[0] for c in counts.values()]
    out = np.empty((n, len(spm)))
    for start in range(0, n, block):
        b = min(block, n - start)
        weights = rng.multinomial(images, np.full(images, 1.0 / images), size=b).astype(np.float64)
        sums = (weights @ features).reshape(b, models, 2, classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = sums[:, :, 0] / sums[:, :, 1]
        miou = np.nanmean(np.where(sums[:, :, 1] > 0, iou, np.nan), axis=-1)
        first = 0
        for j, s in enumerate(spm):
            picks = rng.integers(0, s, (b, s))
            out[start : start + b, j] = np.take_along_axis(miou[:, first : first + s], picks, axis=1).mean(axis=1)
            first += s
    return out


def best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    counts = make_counts()
    print(f"2 methods x 5 seeds x 1449 images x 21 classes, {args.n} two-level resamples of mIoU "
          f"(ISA {_core.isa_name()}), best of {args.repeats}")
    reference = None
    times = {}
    for threads in args.threads:
        result = {}

        def run():
            result["boot"] = bootstrap_counts(counts, "miou", n=args.n, seed=0, num_threads=threads)

        times[f"mushin, {threads} thread(s)"] = best_of(run, args.repeats)
        values = result["boot"].resamples["score"].values
        if reference is None:
            reference = values
        assert np.array_equal(values, reference), "resamples differ between thread counts"
    times["numpy-matmul"] = best_of(lambda: numpy_matmul_bootstrap(counts, args.n), max(1, args.repeats // 2))
    fastest_mushin = min(v for k, v in times.items() if k.startswith("mushin"))
    for name, seconds in times.items():
        print(f"  {name:<22} {seconds:7.3f} s   {seconds / fastest_mushin:5.2f}x mushin's best")
    print("  resamples bit-identical across thread counts: yes")


if __name__ == "__main__":
    main()
