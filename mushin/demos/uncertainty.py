"""From "3 seeds say nothing" to a two-level interval, a seed plan and a CD diagram.

The example of ``docs/uncertainty.md``, as a demo: stand-in segmentation
models (a 1x1 convolution that knows the true class mixing up to an error
that depends on its seed; a smaller error is a better method), scored on
validation images that each have their own mix of classes, so which images
are in the set matters as well as which seeds.

Run: ``python -m mushin.demos.uncertainty`` (or ``python -m mushin demo``,
which also saves the plots).
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from ..evaluation.compare import compare
from ..result import BenchmarkResult
from ..stats.power import seeds_needed
from ..stats.ranking import Ranking, rank_methods

NUM_CLASSES = 4
ERRORS = {"new": 0.25, "tuned": 0.30, "baseline": 0.40, "old": 0.55}


def _mixing() -> torch.Tensor:
    return torch.randn(NUM_CLASSES, 3, generator=torch.Generator().manual_seed(0))


def validation_set(seed: int, n_images: int = 240, size: int = 24, batch: int = 40) -> List[Tuple[Any, Any]]:
    """Images whose class mix varies from image to image, as (x, y) batches."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_images, 3, size, size, generator=g)
    prior = 1.5 * torch.randn(n_images, NUM_CLASSES, 1, 1, generator=g)
    noise = 0.8 * torch.randn(n_images, NUM_CLASSES, size, size, generator=g)
    y = (torch.einsum("kc,nchw->nkhw", _mixing(), x) + prior + noise).argmax(dim=1)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n_images, batch)]


def trained_model(error: float, seed: int) -> nn.Module:
    """A stand-in for a trained model: the true mixing, off by a seed-dependent error."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Conv2d(3, NUM_CLASSES, kernel_size=1, bias=False)
    model.weight.data = (_mixing() + error * torch.randn(NUM_CLASSES, 3, generator=g)).view(NUM_CLASSES, 3, 1, 1)
    return model


def _methods(names: List[str], seeds: int) -> Dict[str, List[nn.Module]]:
    return {name: [trained_model(ERRORS[name], 100 * j + s) for s in range(seeds)] for j, name in enumerate(names)}


def two_methods(seeds: int = 5, per_image: bool = True) -> BenchmarkResult:
    """``new`` against ``baseline`` on one validation set."""
    return compare(
        _methods(["new", "baseline"], seeds), validation_set(0), task="segmentation",
        num_classes=NUM_CLASSES, test="welch", per_image=per_image, progress=False,
    )


def seed_plan(pilot: BenchmarkResult) -> Any:
    """How many seeds the t-test needs for the pilot's gap, at 80% power."""
    return seeds_needed(pilot, "miou", power=0.8, alpha=0.05, test="welch")


def many_sets(sets: int = 5, seeds: int = 3) -> Ranking:
    """Four methods on several validation sets, ranked (Friedman, then Nemenyi)."""
    results = {
        f"set{k}": compare(
            _methods(list(ERRORS), seeds), validation_set(100 + k, n_images=120), task="segmentation",
            num_classes=NUM_CLASSES, test="welch", progress=False,
        )
        for k in range(sets)
    }
    return rank_methods(results, "miou")


def main() -> int:
    pilot = two_methods(seeds=3, per_image=False)
    print(pilot.comparisons.query("metric == 'miou'")[["method_a", "method_b", "mean_diff", "p_value"]])
    print(seed_plan(pilot)[["method_a", "method_b", "effect", "power_now", "seeds_needed"]])
    boot = two_methods().bootstrap("miou", n=10_000, levels=("seed", "image"), seed=0)
    print(boot)
    ranking = many_sets()
    print(ranking.friedman)
    print(ranking.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
