"""One pass over a decode-bound loader: compare() against its limit, side by side in one process.

The workload: PNG images and masks written to a temporary folder, decoded by
Pillow in a ``Dataset`` (``DataLoader`` with ``num_workers=0``), 2 methods x 3
seeds of a small conv net, 21 classes, void pixels 255, torch on 2 threads.
Three timings, alternated round by round so that a busy spell on a shared
machine does not hit one of them only:

- ``one pass``: ``compare(...)`` (the default, ``one_pass=True``): each batch
  is decoded once and every model runs on it;
- ``one model at a time``: ``compare(..., one_pass=False)``: every model
  iterates the loader, so the images are decoded six times;
- ``limit``: what no evaluation can beat: one decode pass over the loader,
  plus the six models' forward passes over the decoded batches (timed apart,
  with the batches already in memory).

It prints the best time of each and the ratios to the limit (the target for
one pass: within 1.15x).  With mushin-py 0.16.0 installed in another
interpreter (``/work/oracle-venv/bin/python``, or the one named by
``MUSHIN_UPSTREAM_PYTHON``), the same workload also runs there, in a
subprocess started from a scratch folder, and its ratio to ours is printed.

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_one_pass.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

NUM_CLASSES = 21
IGNORE_INDEX = 255
METHODS = ("baseline", "wider")
SEEDS = (0, 1, 2)
THREADS = 2
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


# ----------------------------------------------------- shared by both sides --


def write_pngs(folder: Path, n_images: int, size: int) -> None:
    """Smooth random images (PNG compresses them as it does photos, not as noise) and their masks."""
    rng = np.random.default_rng(0)
    for i in range(n_images):
        coarse = rng.integers(0, 256, size=(size // 16, size // 16, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.BILINEAR)
        pixels = np.asarray(image).astype(np.int16) + rng.integers(-12, 13, size=(size, size, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"image_{i:04d}.png")
        mask = (np.asarray(image)[..., 0].astype(np.int64) * NUM_CLASSES // 256).astype(np.uint8)
        mask[rng.random((size, size)) < 0.05] = IGNORE_INDEX
        Image.fromarray(mask).save(folder / f"mask_{i:04d}.png")


class PngSegmentation(Dataset):
    """Decodes an image and its mask with Pillow, and normalises the image, on every access."""

    def __init__(self, folder: Path, n_images: int):
        self.folder = folder
        self.n_images = n_images

    def __len__(self) -> int:
        return self.n_images

    def __getitem__(self, i: int):
        with Image.open(self.folder / f"image_{i:04d}.png") as image:
            pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy())
        with Image.open(self.folder / f"mask_{i:04d}.png") as mask:
            labels = torch.from_numpy(np.asarray(mask, dtype=np.uint8).astype(np.int64))
        x = (pixels.permute(2, 0, 1).float() / 255 - MEAN) / STD
        return x, labels


def build_model(method: str) -> nn.Module:
    hidden = 8 if method == "baseline" else 12
    return nn.Sequential(nn.Conv2d(3, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, NUM_CLASSES, 1))


def build_methods():
    methods = {}
    for method in METHODS:
        models = []
        for seed in SEEDS:
            torch.manual_seed(1000 * METHODS.index(method) + seed)
            models.append(build_model(method).eval())
        methods[method] = models
    return methods


def loader(folder: Path, n_images: int, batch: int) -> DataLoader:
    return DataLoader(PngSegmentation(folder, n_images), batch_size=batch, num_workers=0)


# ----------------------------------------------------------------- timings --


def best(times):
    return min(times)


def time_once(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def limit_seconds(methods, data) -> float:
    """One decode pass, plus every model's forward passes over the decoded batches."""
    decode, batches = time_once(lambda: list(data))
    models = [m for seeds in methods.values() for m in seeds]

    def forward():
        with torch.no_grad():
            for x, _ in batches:
                for model in models:
                    model(x)

    return decode + time_once(forward)[0]


def upstream_side(folder: Path, n_images: int, batch: int, rounds: int) -> dict:
    """Run in mushin-py's interpreter: the same workload through its compare()."""
    from mushin.benchmark import compare

    torch.set_num_threads(THREADS)
    methods, data = build_methods(), loader(folder, n_images, batch)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compare(methods, data, task="segmentation", num_classes=NUM_CLASSES,
                           ignore_index=IGNORE_INDEX, test="welch")

    run()  # first-call costs outside the timing
    seconds = [time_once(run)[0] for _ in range(rounds)]
    return {"seconds": seconds}


def run_upstream(python: str, folder: Path, args: argparse.Namespace) -> dict:
    out = folder / "upstream.json"
    command = [python, "-P", str(Path(__file__).resolve()), "--side", "upstream", "--folder", str(folder),
               "--images", str(args.images), "--batch", str(args.batch), "--rounds", str(args.rounds),
               "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # mushin-py's interpreter may lack Pillow: lend it this interpreter's, and nothing else
    lent = folder / "lent"
    lent.mkdir(exist_ok=True)
    import PIL

    (lent / "PIL").symlink_to(Path(PIL.__file__).parent, target_is_directory=True)
    env["PYTHONPATH"] = str(lent)
    subprocess.run(command, cwd=folder, env=env, check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=48, help="images in the evaluation set")
    parser.add_argument("--size", type=int, default=384, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=8, help="images per batch")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each (the best is reported)")
    parser.add_argument("--no-upstream", action="store_true", help="skip mushin-py even when it is installed")
    parser.add_argument("--side", choices=["upstream"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "upstream":
        out = upstream_side(Path(args.folder), args.images, args.batch, args.rounds)
        Path(args.out).write_text(json.dumps(out))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's mushin
    from mushin import compare

    torch.set_num_threads(THREADS)
    upstream = os.environ.get("MUSHIN_UPSTREAM_PYTHON", "/work/oracle-venv/bin/python")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mushin-one-pass-") as tmp:
        folder = Path(tmp)
        write_pngs(folder, args.images, args.size)
        methods, data = build_methods(), loader(folder, args.images, args.batch)

        def ours(one_pass):
            return compare(methods, data, task="segmentation", test="welch", num_classes=NUM_CLASSES, ignore_index=IGNORE_INDEX,
                           progress=False, one_pass=one_pass)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours(True)  # first-call costs (imports, kernels, the worker thread) outside the timing
            times = {"one pass": [], "one model at a time": [], "limit": []}
            for _ in range(args.rounds):
                seconds, one = time_once(lambda: ours(True))
                times["one pass"].append(seconds)
                seconds, many = time_once(lambda: ours(False))
                times["one model at a time"].append(seconds)
                times["limit"].append(limit_seconds(methods, data))
        for name in one.metrics:
            if not np.array_equal(one.data[name].values, many.data[name].values):
                sys.exit(f"one pass and one model at a time disagree on {name}")
        theirs = None
        if not args.no_upstream and os.path.exists(upstream):
            theirs = run_upstream(upstream, folder, args)
    limit = best(times["limit"])
    print(f"{len(METHODS)} methods x {len(SEEDS)} seeds, {args.images} PNG images {args.size}x{args.size} "
          f"in batches of {args.batch} (Pillow, num_workers=0), {NUM_CLASSES} classes, void {IGNORE_INDEX}, "
          f"torch {torch.__version__} on {THREADS} threads; load average before {load_before:.2f}, "
          f"after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name, runs in times.items():
        print(f"  {name:20s}: best {best(runs):6.2f} s  ({best(runs) / limit:4.2f}x the limit)  "
              f"runs {[round(s, 2) for s in runs]}")
    print(f"  one pass is {best(times['one model at a time']) / best(times['one pass']):.2f}x faster than "
          "one model at a time; results identical")
    if theirs is not None:
        print(f"  mushin-py 0.16.0    : best {best(theirs['seconds']):6.2f} s  "
              f"({best(theirs['seconds']) / best(times['one pass']):.2f}x ours)  "
              f"runs {[round(s, 2) for s in theirs['seconds']]}")


if __name__ == "__main__":
    main()
