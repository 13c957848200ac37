"""End to end: compare() with this mushin against the published mushin-py 0.16.0.

The comparison is two methods x three seeds of a small conv net, evaluated
on 64 images of 512 x 512 with 21 classes (5% void pixels, ignore_index=255)
in batches of 8.  Both sides load the same saved state dicts and rebuild the
same batches from one seed, each in its own process; only the compare() call
is timed.  The script also checks that both report the same metric values.

mushin-py imports as ``mushin`` too, so it lives in its own virtual
environment (torch pinned to the same 2.13.0)::

    python3 -m venv /tmp/mushinpy-venv
    /tmp/mushinpy-venv/bin/pip install torch==2.13.0 mushin-py==0.16.0 torchmetrics scipy

Run (from the repository root)::

    .venv/bin/python benchmarks/bench_end_to_end.py --upstream-python /tmp/mushinpy-venv/bin/python

Each side runs in a fresh process started with ``python -P`` from a scratch
folder, so neither can import the other's ``mushin``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUM_CLASSES = 21
IGNORE_INDEX = 255
IMAGES = 64
SIZE = 512
BATCH = 8
METHODS = ("baseline", "wider")
SEEDS = (0, 1, 2)
DATA_SEED = 1234
METRICS = ("miou", "dice", "pixel_acc", "precision", "recall")


# ------------------------------------------------------ shared by both sides --


def build_model(method: str):
    """A small fully convolutional net; ``wider`` has more hidden channels.

    With ``MUSHIN_BENCH_MODEL=tiny`` it is one 1x1 convolution instead, so
    cheap that accumulating the logits costs about as much as computing them
    (to see what the overlap of the two buys).
    """
    from torch import nn

    if os.environ.get("MUSHIN_BENCH_MODEL") == "tiny":
        return nn.Conv2d(3, NUM_CLASSES, 1)
    hidden = 8 if method == "baseline" else 12
    return nn.Sequential(
        nn.Conv2d(3, hidden, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(hidden, NUM_CLASSES, 1),
    )


def save_models(folder: Path) -> None:
    import torch

    for method in METHODS:
        for seed in SEEDS:
            torch.manual_seed(1000 * METHODS.index(method) + seed)
            torch.save(build_model(method).state_dict(), folder / f"{method}_{seed}.pt")


def load_methods(folder: Path):
    import torch

    methods = {}
    for method in METHODS:
        models = []
        for seed in SEEDS:
            model = build_model(method)
            model.load_state_dict(torch.load(folder / f"{method}_{seed}.pt", weights_only=True))
            models.append(model.eval())
        methods[method] = models
    return methods


def make_batches(n_images: int = IMAGES):
    """The same list of (x, y) batches in every process: images, labels with 5% void."""
    import torch

    g = torch.Generator().manual_seed(DATA_SEED)
    batches = []
    for start in range(0, n_images, BATCH):
        n = min(BATCH, n_images - start)
        x = torch.randn(n, 3, SIZE, SIZE, generator=g)
        # labels follow the image a little, so that the models' scores differ
        y = (x[:, 0] * 4).floor().long().remainder(NUM_CLASSES)
        y[torch.rand(n, SIZE, SIZE, generator=g) < 0.05] = IGNORE_INDEX
        batches.append((x, y))
    return batches


# ------------------------------------------------------------------- sides --


def run_side(side: str, folder: Path, repeat: int, threads: int, overlap: bool = True) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    if not overlap:  # every batch accumulated on the calling thread
        import importlib

        importlib.import_module("mushin.evaluation.pipeline")._OVERLAP_MIN_ELEMENTS = float("inf")
    methods = load_methods(folder)
    data = make_batches()
    warmup = make_batches(BATCH)  # one batch: first-call costs (kernels, imports) outside the timing
    if side == "mushin":
        from mushin import compare

        def run(batches):
            return compare(
                methods, batches, task="segmentation", num_classes=NUM_CLASSES,
                ignore_index=IGNORE_INDEX, test="welch", progress=False,
            )
    else:
        from mushin.benchmark import compare

        def run(batches):
            return compare(
                methods, batches, task="segmentation", num_classes=NUM_CLASSES,
                ignore_index=IGNORE_INDEX, test="welch",
            )

    run(warmup)
    seconds, cpu_seconds = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run(data)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - start_cpu)
    values = {
        metric: {m: [float(v) for v in result.data[metric].sel({"method": m}).values] for m in METHODS}
        for metric in METRICS
    }
    import mushin

    return {
        "side": side,
        "module": mushin.__file__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "values": values,
    }


def _side_main(args: argparse.Namespace) -> None:
    out = run_side(args.side, Path(args.folder), args.repeat, args.threads, not args.no_overlap)
    Path(args.out).write_text(json.dumps(out))


# ---------------------------------------------------------------- driver --


def _run_process(python: str, side: str, folder: Path, args: argparse.Namespace) -> dict:
    out = folder / f"{side}.json"
    command = [
        python, "-P", str(Path(__file__).resolve()), "--side", side, "--folder", str(folder),
        "--out", str(out), "--repeat", str(args.repeat), "--threads", str(args.threads),
    ] + (["--no-overlap"] if args.no_overlap and side == "mushin" else [])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if side == "mushin":
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's mushin
    subprocess.run(command, cwd=folder, env=env, check=True)
    return json.loads(out.read_text())


def _merge_runs(earlier, later):
    """One side's record over several processes: all timings, the last values."""
    if earlier is None:
        return later
    later["seconds"] = earlier["seconds"] + later["seconds"]
    later["cpu_seconds"] = earlier["cpu_seconds"] + later["cpu_seconds"]
    return later


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream-python", default="/tmp/mushinpy-venv/bin/python",
                        help="python of the virtual environment holding mushin-py 0.16.0")
    parser.add_argument("--repeat", type=int, default=1, help="timed compare() calls per process (the best is reported)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate this many times between a process of each side, so that a busy "
                        "spell on a shared machine does not hit one side only")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: torch's default)")
    parser.add_argument("--no-overlap", action="store_true",
                        help="this checkout: accumulate every batch on the calling thread")
    parser.add_argument("--ours-only", action="store_true", help="time this checkout only")
    parser.add_argument("--model", choices=["small", "tiny"], default="small",
                        help="tiny: one 1x1 convolution, to measure the overlap")
    parser.add_argument("--side", choices=["mushin", "upstream"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        _side_main(args)
        return

    os.environ["MUSHIN_BENCH_MODEL"] = args.model  # read by build_model on both sides
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mushin-e2e-") as tmp:
        folder = Path(tmp)
        save_models(folder)
        ours = theirs = None
        for _ in range(args.rounds):
            ours = _merge_runs(ours, _run_process(sys.executable, "mushin", folder, args))
            if not args.ours_only:
                theirs = _merge_runs(theirs, _run_process(args.upstream_python, "upstream", folder, args))
        if args.ours_only:
            print(f"mushin (this checkout): runs {[round(s, 2) for s in ours['seconds']]} s wall, "
                  f"{[round(s, 2) for s in ours['cpu_seconds']]} s CPU, {ours['threads']} thread(s), "
                  f"overlap {'off' if args.no_overlap else 'on'}; load average before "
                  f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
            return
    load_after = os.getloadavg()

    largest = 0.0
    for metric in METRICS:
        for method in METHODS:
            for a, b in zip(ours["values"][metric][method], theirs["values"][metric][method]):
                largest = max(largest, abs(a - b))
    best_ours, best_theirs = min(ours["seconds"]), min(theirs["seconds"])
    cpu_ours, cpu_theirs = min(ours["cpu_seconds"]), min(theirs["cpu_seconds"])
    print(f"compare(): {len(METHODS)} methods x {len(SEEDS)} seeds, {IMAGES} images {SIZE}x{SIZE}, "
          f"{NUM_CLASSES} classes, batches of {BATCH}")
    print(f"torch {ours['torch']}, {ours['threads']} thread(s); load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f} (1 min) on {os.cpu_count()} cores")
    print(f"  mushin (this checkout) : best {best_ours:7.2f} s wall, {cpu_ours:7.2f} s CPU;  "
          f"runs {[round(s, 2) for s in ours['seconds']]}")
    print(f"  mushin-py 0.16.0       : best {best_theirs:7.2f} s wall, {cpu_theirs:7.2f} s CPU;  "
          f"runs {[round(s, 2) for s in theirs['seconds']]}")
    print(f"  speed-up               : {best_theirs / best_ours:.1f}x wall-clock, {cpu_theirs / cpu_ours:.1f}x CPU time")
    print(f"  largest metric difference over {len(METRICS)} metrics x 6 models: {largest:.2e}")
    for metric in METRICS:
        print(f"    {metric:9s} ours {ours['values'][metric]['baseline'][0]:.9f}  "
              f"theirs {theirs['values'][metric]['baseline'][0]:.9f}  (baseline, seed 0)")
    if largest > 1e-6:
        sys.exit(f"the two sides disagree by {largest:.2e} (> 1e-6)")


if __name__ == "__main__":
    main()
