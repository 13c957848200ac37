"""Stratified bootstrap of the IQM: mushin's C loop against the NumPy/rliable way.

rliable resamples with ``np.random.choice(runs, (runs, tasks))`` and calls
``rliable.metrics.aggregate_iqm`` once per resample (its
``StratifiedBootstrap`` cannot run under pandas 3 + arch, so the same loop is
written out here with rliable's metric).  Both rivals run in one process on
the same scores; the ratio is what to read.

    .venv/bin/python benchmarks/bench_resample.py [--reps 10000] [--runs 10] [--tasks 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from rliable import metrics as rly

from mushin import _core


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    scores = np.random.default_rng(0).uniform(size=(args.runs, args.tasks))
    cols = np.arange(args.tasks)[None, :]

    t = time.perf_counter()
    np.random.seed(0)
    numpy_boot = [rly.aggregate_iqm(scores[np.random.choice(args.runs, scores.shape), cols]) for _ in range(args.reps)]
    t_numpy = time.perf_counter() - t
    timings = {}
    for threads in (1, 2):
        t = time.perf_counter()
        ours = _core.stratified_bootstrap(scores, "iqm", [], args.reps, 0, False, threads)
        timings[threads] = time.perf_counter() - t
    print(f"{args.reps} stratified IQM resamples of a ({args.runs} seeds x {args.tasks} sets) matrix")
    print(f"  numpy + rliable.metrics : {t_numpy:8.3f} s")
    for threads, seconds in timings.items():
        print(f"  mushin C, {threads} thread(s)  : {seconds:8.3f} s   ({t_numpy / seconds:6.0f}x faster)")
    print(f"  (percentile intervals: numpy {np.percentile(numpy_boot, [2.5, 97.5]).round(4)}, "
          f"mushin {np.percentile(ours[:, 0], [2.5, 97.5]).round(4)})")


if __name__ == "__main__":
    main()
