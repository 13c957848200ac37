"""Two builds of the counting kernels side by side: did a change make them slower?

Loads ``mushin._core`` from two built extension files into one process and
times the same updates with each, round by round in turn:
``ConfusionMatrix.update`` on int64 and uint8 labels and ``update_logits`` on
float32 / float16 NCHW and float32 channels-last logits, with 1 and 2
threads.  Reports the best time of each and the ratio after / before, and
checks that both builds count the same matrix.

Run (build the older commit in a worktree first):

    git worktree add /tmp/before <commit>
    (cd /tmp/before && python setup.py --quiet build_ext --inplace)
    python benchmarks/bench_builds.py /tmp/before/mushin/_core*.so mushin/_core*.so
"""
from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import torch


def load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(f"{name}._core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the older build's _core extension file")
    parser.add_argument("after", help="the newer build's _core extension file")
    parser.add_argument("--rounds", type=int, default=20, help="timed updates per build (best reported)")
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    builds = {"before": load(args.before, "before"), "after": load(args.after, "after")}
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.size, args.size)
    target = torch.from_numpy(rng.integers(0, args.classes, shape).astype(np.int64))
    target[:, :8] = 255
    preds = torch.from_numpy(rng.integers(0, args.classes, shape).astype(np.int64))
    logits = torch.randn(args.batch_size, args.classes, args.size, args.size)
    cases = {
        "update int64": (preds, target, False),
        "update uint8": (preds.to(torch.uint8), target.to(torch.uint8), False),
        "logits f32 NCHW": (logits, target, True),
        "logits f16 NCHW": (logits.half(), target, True),
        "logits f32 NHWC": (logits.contiguous(memory_format=torch.channels_last), target, True),
    }
    print(f"{args.batch_size}x{args.size}x{args.size} labels, {args.classes} classes, best of {args.rounds}")
    for threads in (1, 2):
        for name, (a, b, is_logits) in cases.items():
            best = dict.fromkeys(builds, float("inf"))
            matrices = {k: m.ConfusionMatrix(args.classes, ignore_index=255, num_threads=threads) for k, m in builds.items()}
            for _ in range(args.rounds):
                for label, cm in matrices.items():
                    update = cm.update_logits if is_logits else cm.update
                    t0 = time.perf_counter()
                    update(a, b)
                    best[label] = min(best[label], time.perf_counter() - t0)
            if not np.array_equal(matrices["before"].counts, matrices["after"].counts):
                raise SystemExit(f"{name}: the two builds count different matrices")
            print(
                f"{threads} thread(s)  {name:16s}  before {best['before'] * 1e3:7.2f} ms"
                f"  after {best['after'] * 1e3:7.2f} ms  after/before {best['after'] / best['before']:.2f}"
            )


if __name__ == "__main__":
    main()
