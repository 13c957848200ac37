"""Digits demo: is a small CNN really better than an MLP on handwritten digits?

The data are scikit-learn's bundled 8x8 handwritten digits (1797 images, 10
classes; they ship inside the package, nothing is downloaded).  A fixed,
stratified split holds out 30% of them.  Each method is trained from 5
random seeds on the CPU: an MLP on the 64 flattened pixels, and a small CNN
that sees the image as an image.  ``compare(..., task="classification")``
then scores every model on the held-out digits (accuracy, macro F1,
precision, recall, AUROC, ECE) and tests the gap across seeds.

Run:  python -m mushin.demos.digits [--budget 1.0] [--seeds 5] [--plot digits.png]
"""
from __future__ import annotations

import argparse
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mushin import BenchmarkResult, compare

NUM_CLASSES = 10
EPOCHS_AT_FULL_BUDGET = 20


# ----------------------------------------------------------------- data --


def digits_split(test_fraction: float = 0.3, seed: int = 0) -> Tuple[TensorDataset, TensorDataset]:
    """scikit-learn's 8x8 digits as (N, 1, 8, 8) floats in [0, 1], split per class."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for digit in range(NUM_CLASSES):
        members = np.flatnonzero(digits.target == digit)
        test[rng.choice(members, size=round(test_fraction * members.size), replace=False)] = True
    train_idx = torch.from_numpy(np.flatnonzero(~test))
    test_idx = torch.from_numpy(np.flatnonzero(test))
    return (
        TensorDataset(images[train_idx], labels[train_idx]),
        TensorDataset(images[test_idx], labels[test_idx]),
    )


# --------------------------------------------------------------- models --


def mlp() -> nn.Module:
    """64 pixels -> 32 hidden units -> 10 logits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, NUM_CLASSES))


def small_cnn() -> nn.Module:
    """Two 3x3 convolutions and a 2x2 pool before a linear read-out."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, NUM_CLASSES),
    )


ARCHITECTURES = {"mlp": mlp, "cnn": small_cnn}


def train(model: nn.Module, data: TensorDataset, *, seed: int, epochs: int, lr: float = 3e-3) -> nn.Module:
    """Adam on cross-entropy; the seed fixes the initial weights and the batch order."""
    loader = DataLoader(data, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return model.eval()


# ----------------------------------------------------------- comparison --


def run(budget: float = 1.0, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> Tuple[BenchmarkResult, float]:
    """Train every architecture from every seed, then compare on the held-out digits.

    ``budget`` scales the number of epochs (1.0: 20 epochs); returns the
    result and the seconds spent training.

    Examples
    --------
    >>> result, seconds = run(budget=0.2, seeds=(0, 1))  # doctest: +SKIP
    >>> result.summary().query("metric == 'accuracy'")  # doctest: +SKIP
    """
    if budget <= 0:
        raise ValueError(f"budget must be positive, got {budget}")
    epochs = max(1, round(EPOCHS_AT_FULL_BUDGET * budget))
    train_set, test_set = digits_split()
    methods: Dict[str, List[nn.Module]] = {name: [] for name in ARCHITECTURES}
    start = time.perf_counter()
    for seed in seeds:
        for name, build in ARCHITECTURES.items():
            torch.manual_seed(seed)
            methods[name].append(train(build(), train_set, seed=seed, epochs=epochs))
    seconds = time.perf_counter() - start
    result = compare(
        methods,
        data=DataLoader(test_set, batch_size=256),
        task="classification",
        num_classes=NUM_CLASSES,
        test="welch",
        progress=False,
    )
    return result, seconds


def verdict(result: BenchmarkResult, metric: str = "accuracy") -> str:
    """One sentence: which method is better on ``metric`` and whether it is significant."""
    row = result.comparisons[result.comparisons["metric"] == metric].iloc[0]
    a, b, diff = row["method_a"], row["method_b"], float(row["mean_diff"])
    # the direction is the metric's own (accuracy: higher, ece: lower)
    better, worse = (a, b) if (diff > 0) == result.higher_is_better(metric) else (b, a)
    settings = result.settings
    if row["note"]:  # an untested pair says why rather than "NOT significant"
        return f"{metric}: {better} vs {worse} by {abs(diff):.4f}: {row['note']}"
    significant = "significant" if bool(row["significant"]) else "NOT significant"
    return (
        f"{metric}: {better} beats {worse} by {abs(diff):.4f} on average over "
        f"{result.data.sizes['seed']} seeds; {settings['test']} p = {row['p_value']:.2g}, "
        f"{settings['correction']}-corrected p = {row['p_corrected']:.2g} -> {significant} "
        f"at alpha = {settings['alpha']}"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=1.0, help="fraction of the 20 training epochs")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per method")
    parser.add_argument("--plot", metavar="FILE", help="save a plot of every metric to FILE")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # tiny models: threads cost more than they bring
    result, seconds = run(budget=args.budget, seeds=range(args.seeds))
    print(f"== Digits (8x8, scikit-learn): MLP vs small CNN, {args.seeds} seeds each ==")
    print(f"(trained {len(ARCHITECTURES) * args.seeds} models in {seconds:.1f} s on the CPU)")
    print(result)
    print()
    print(result.comparisons[["metric", "method_a", "method_b", "mean_diff", "effect_size", "p_value", "p_corrected", "significant"]].to_string(index=False))
    print()
    for metric in ("accuracy", "auroc", "ece"):
        print(verdict(result, metric))
    if args.plot:
        figure = result.plot()
        figure.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
