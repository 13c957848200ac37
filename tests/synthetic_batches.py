"""Seeded synthetic (x, y) batches for the classification and regression tests.

Each builder draws from its own ``torch.Generator`` seeded with ``seed``,
batch by batch (features first, then labels or noise), so a test's data is
fixed by its arguments alone.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch

Batch = Tuple[torch.Tensor, torch.Tensor]


def classification_batches(n_batches: int, size: int, features: int, num_classes: int, seed: int) -> List[Batch]:
    """Standard-normal features with uniformly drawn labels in ``[0, num_classes)``."""
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(size, features, generator=g), torch.randint(0, num_classes, (size,), generator=g))
        for _ in range(n_batches)
    ]


def regression_batches(n_batches: int, size: int, weights: Sequence[float], noise: float, seed: int) -> List[Batch]:
    """Standard-normal features ``x`` with targets ``x @ weights + noise * N(0, 1)``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        x = torch.randn(size, len(weights), generator=g)
        out.append((x, x @ torch.tensor(weights) + noise * torch.randn(size, generator=g)))
    return out
