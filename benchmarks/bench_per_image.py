"""What per-image counts cost: PerImageCounts.update vs the plain ConfusionMatrix.update.

Both read the same batches of class-index predictions and labels (int64,
PASCAL VOC sized: 8 images of 375 x 500, 21 classes, 5% void pixels) in one
process, one after another, one thread each:

* ``confusion``  -- ``ConfusionMatrix.update``: what every segmentation
                    evaluation does
* ``per-image``  -- ``PerImageCounts.update``: TP/FP/FN of every image
                    (``compare(..., per_image=True)`` adds this to the above)

The issue's budget: per-image at most 1.5x the plain confusion update.

With ``--logits`` it also times what ``compare()`` does per batch when a
model returns logits on the CPU: without per-image counts the fused
``ConfusionMatrix.update_logits`` (argmax and counting in one pass); with
them, ``PerImageCounts.update_logits`` (the same pass, per image), whose
batch matrix is merged into the ConfusionMatrix.
Reports the best of ``--repeats`` passes (the machine may be shared).

Run:  python benchmarks/bench_per_image.py [--batches 10] [--repeats 5] [--dtype int64]
"""
from __future__ import annotations

import argparse
import time

import torch

from mushin import _core


def make_batches(n_batches, batch=8, height=375, width=500, num_classes=21, void=0.05, seed=0, dtype=torch.int64):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        target = torch.randint(0, num_classes, (batch, height, width), generator=g)
        preds = torch.where(torch.rand(target.shape, generator=g) < 0.7, target,
                            torch.randint(0, num_classes, target.shape, generator=g))
        target[torch.rand(target.shape, generator=g) < void] = 255
        out.append((preds.to(dtype), target.to(dtype)))
    return out


def one_pass(state, batches):
    t0 = time.perf_counter()
    for preds, target in batches:
        state.update(preds, target)
    return time.perf_counter() - t0


def best_passes(makers, batches, repeats):
    """Best pass of each contender; passes alternate, so a busy machine slows both alike."""
    best = {name: float("inf") for name in makers}
    for _ in range(repeats):
        for name, make_state in makers.items():
            best[name] = min(best[name], one_pass(make_state(), batches))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["int64", "uint8"], default="int64")
    parser.add_argument("--logits", action="store_true", help="also time the compare() paths from logits")
    args = parser.parse_args()
    dtype = torch.int64 if args.dtype == "int64" else torch.uint8
    batches = make_batches(args.batches, dtype=dtype)
    pixels = sum(t.numel() for _, t in batches)
    best = best_passes(
        {"confusion": lambda: _core.ConfusionMatrix(21, 255, num_threads=1), "per-image": lambda: _core.PerImageCounts(21, 255)},
        batches,
        args.repeats,
    )
    confusion, per_image = best["confusion"], best["per-image"]
    print(f"{args.batches} batches of 8 x 375 x 500 {args.dtype} labels, 21 classes "
          f"(ISA {_core.isa_name()}), best of {args.repeats}")
    for name, seconds in (("confusion", confusion), ("per-image", per_image)):
        print(f"  {name:<10} {seconds * 1e3:8.1f} ms  {pixels / seconds / 1e6:8.1f} Mpixel/s  "
              f"{seconds / confusion:5.2f}x confusion")
    if args.logits:
        logit_batches = [(torch.randn(p.shape[0], 21, *p.shape[1:]), t) for p, t in batches[:3]]

        def fused():
            cm = _core.ConfusionMatrix(21, 255, num_threads=1)
            for logits, target in logit_batches:
                cm.update_logits(logits, target, class_dim=1)

        def with_per_image():
            cm, per = _core.ConfusionMatrix(21, 255, num_threads=1), _core.PerImageCounts(21, 255)
            for logits, target in logit_batches:
                cm.merge(per.update_logits(logits, target, class_dim=1))

        times = {"fused logits (per_image=False)": float("inf"), "per-image fused (per_image=True)": float("inf")}
        for _ in range(args.repeats):  # alternating, as above
            for name, fn in (("fused logits (per_image=False)", fused), ("per-image fused (per_image=True)", with_per_image)):
                t0 = time.perf_counter()
                fn()
                times[name] = min(times[name], time.perf_counter() - t0)
        base = times["fused logits (per_image=False)"]
        print(f"compare() from CPU logits, 3 batches of 8 x 21 x 375 x 500 float32, torch threads {torch.get_num_threads()}")
        for name, seconds in times.items():
            print(f"  {name:<32} {seconds * 1e3:8.1f} ms  {seconds / base:5.2f}x")


if __name__ == "__main__":
    main()
