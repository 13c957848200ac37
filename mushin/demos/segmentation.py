"""Segmentation demos: the guide's runnable example, then a comparison with a real gap.

1. ``run(loader)`` is the guide's example verbatim: two tiny segmentation models
   (the same architecture, different initial seeds) trained per seed on
   synthetic pixel masks, then compared.  Expect no significant difference:
   the two "methods" differ only in their seed.
2. ``shapes_comparison()`` generates images of striped and checkered shapes
   on noise.  The shapes share their pixel values up to a faint brightness
   offset, so telling the classes apart needs spatial context: a 3x3 CNN
   has it, a 1x1 conv sees one pixel at a time.  Shape
   boundaries are marked 255 (void) and ignored, as in PASCAL VOC.

Run:  python -m mushin.demos.segmentation [--quick]
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mushin import BenchmarkResult, compare

VOID = 255
# A faint per-class brightness: a per-pixel model can pick up some of it,
# the stripe orientation needs a neighbourhood.
BRIGHTNESS = {1: 0.4, 2: 0.0, 3: -0.4}


# --------------------------------------------------------------- models --


def _tiny_seg_model(in_channels: int, num_classes: int) -> nn.Module:
    """The guide's minimal segmentation model: a 1x1 convolution."""
    return nn.Conv2d(in_channels, num_classes, kernel_size=1)


def _small_cnn(in_channels: int, num_classes: int, width: int = 16) -> nn.Module:
    """Two 3x3 convolutions: enough receptive field to see stripe orientation."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, num_classes, 1),
    )


def _train(model: nn.Module, loader: DataLoader, epochs: int = 3, lr: float = 0.05) -> nn.Module:
    """A few epochs of Adam with cross-entropy (void pixels ignored)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=VOID)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y.long()).backward()
            opt.step()
    return model.eval()


# ---------------------------------------------------------- guide example --


def run(
    loader: DataLoader,
    *,
    in_channels: int = 3,
    num_classes: int = 4,
    seeds=(0, 1, 2),
) -> BenchmarkResult:
    """Train two tiny segmentation models per seed, then compare."""
    methods: dict[str, list[nn.Module]] = {"model_a": [], "model_b": []}
    for seed in seeds:
        torch.manual_seed(seed)
        methods["model_a"].append(
            _train(_tiny_seg_model(in_channels, num_classes), loader)
        )
        torch.manual_seed(seed + 100)
        methods["model_b"].append(
            _train(_tiny_seg_model(in_channels, num_classes), loader)
        )

    return compare(
        methods,
        data=loader,
        task="segmentation",
        num_classes=num_classes,
        test="welch",
    )


def synthetic_masks(
    n: int = 64, size: int = 16, in_channels: int = 3, num_classes: int = 4, seed: int = 0
) -> TensorDataset:
    """Pixel masks whose class is a noisy linear function of the pixel's channels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, in_channels, size, size, generator=g)
    mixing = torch.randn(num_classes, in_channels, generator=g)
    scores = torch.einsum("kc,nchw->nkhw", mixing, x)
    scores = scores + 0.5 * torch.randn(scores.shape, generator=g)
    return TensorDataset(x, scores.argmax(dim=1))


# ------------------------------------------------------- shapes benchmark --


def _texture(kind: int, size: int) -> torch.Tensor:
    rows = torch.arange(size).view(-1, 1).expand(size, size)
    cols = torch.arange(size).view(1, -1).expand(size, size)
    if kind == 1:
        pattern = rows % 2
    elif kind == 2:
        pattern = cols % 2
    else:
        pattern = (rows + cols) % 2
    return pattern.float() * 2 - 1


def striped_shapes(
    n: int = 96, size: int = 32, shapes_per_image: int = 3, noise: float = 0.6, seed: int = 0
) -> TensorDataset:
    """Images of rectangles filled with horizontal stripes (class 1), vertical
    stripes (class 2) or a checkerboard (class 3) on a noisy background
    (class 0).  The classes share their pixel values up to a faint
    brightness offset.  The one-pixel boundary of each shape is void (255)."""
    g = torch.Generator().manual_seed(seed)
    images = noise * torch.randn(n, 1, size, size, generator=g)
    labels = torch.zeros(n, size, size, dtype=torch.uint8)
    for i in range(n):
        for _ in range(shapes_per_image):
            kind = int(torch.randint(1, 4, (1,), generator=g))
            h, w = (int(v) for v in torch.randint(8, size // 2 + 1, (2,), generator=g))
            top = int(torch.randint(0, size - h + 1, (1,), generator=g))
            left = int(torch.randint(0, size - w + 1, (1,), generator=g))
            tex = _texture(kind, size)[top : top + h, left : left + w] + BRIGHTNESS[kind]
            images[i, 0, top : top + h, left : left + w] = tex + noise * torch.randn(h, w, generator=g)
            labels[i, top : top + h, left : left + w] = kind
            labels[i, top, left : left + w] = VOID
            labels[i, top + h - 1, left : left + w] = VOID
            labels[i, top : top + h, left] = VOID
            labels[i, top : top + h, left + w - 1] = VOID
    return TensorDataset(images, labels)


def shapes_comparison(
    seeds: Sequence[int] = (0, 1, 2, 3, 4), n_train: int = 96, n_val: int = 64, epochs: int = 4
) -> Tuple[BenchmarkResult, float]:
    """Train a 1x1 conv and a small CNN per seed on striped shapes, compare on held-out images."""
    train = DataLoader(striped_shapes(n_train, seed=1), batch_size=16, shuffle=True)
    val = DataLoader(striped_shapes(n_val, seed=2), batch_size=32)
    methods: dict[str, list[nn.Module]] = {"conv1x1": [], "cnn3x3": []}
    start = time.perf_counter()
    for seed in seeds:
        torch.manual_seed(seed)
        methods["conv1x1"].append(_train(_tiny_seg_model(1, 4), train, epochs=epochs, lr=0.05))
        torch.manual_seed(seed)
        methods["cnn3x3"].append(_train(_small_cnn(1, 4), train, epochs=epochs, lr=0.01))
    train_seconds = time.perf_counter() - start
    result = compare(methods, data=val, task="segmentation", num_classes=4, ignore_index=VOID, test="welch")
    return result, train_seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three seeds, fewer epochs")
    args = parser.parse_args(argv)

    print("== 1. The guide's example: two tiny models that differ only by seed ==")
    loader = DataLoader(synthetic_masks(), batch_size=16)
    result = run(loader)
    print(result)
    print(result.comparisons[["metric", "mean_diff", "p_value", "p_corrected", "significant"]].to_string(index=False))

    print("\n== 2. Striped shapes: 1x1 conv vs 3x3 CNN, void boundaries ignored ==")
    seeds = (0, 1, 2) if args.quick else (0, 1, 2, 3, 4)
    result, seconds = shapes_comparison(seeds=seeds, epochs=3 if args.quick else 4)
    print(f"(trained {2 * len(seeds)} models in {seconds:.1f} s)")
    print(result)
    print(result.comparisons[["metric", "mean_diff", "effect_size", "p_corrected", "significant"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
