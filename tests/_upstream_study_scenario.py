"""Study scenarios written the way upstream mushin-py's guide uses ``Study``.

This module holds only data and training code (torch, no mushin): it is
shared by ``tests/test_study_upstream.py``, which runs each scenario with
this package's ``Study``, and by ``tests/upstream_study_oracle.py``, which ran
the same scenarios with the published mushin-py 0.16.0 in a separate venv
and printed the answers recorded in the test.
"""
from __future__ import annotations

import os
from typing import List, Tuple

import torch
from torch import nn

# identical arithmetic in both venvs, whatever their thread settings
from torch_threads import one_torch_thread as one_thread

N_FEATURES = 6
N_CLASSES = 3
SEG_CLASSES = 4
SEG_VOID = 255


def _teacher(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([[1.0, -0.5, 0.2], [0.3, 1.0, -0.7], [-0.8, 0.1, 1.0],
                            [0.5, 0.5, -0.5], [-0.2, 0.9, 0.4], [0.7, -0.3, 0.6]])
    return (x @ weights).argmax(dim=1)


def classification_data(n: int, seed: int, batch: int = 12) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (features, label): a linear teacher with 15% of the labels flipped."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=g)
    y = _teacher(x)
    flip = torch.rand(n, generator=g) < 0.15
    y[flip] = torch.randint(0, N_CLASSES, (int(flip.sum()),), generator=g)
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


def classifier(kind: str) -> nn.Module:
    if kind == "linear":
        return nn.Linear(N_FEATURES, N_CLASSES)
    return nn.Sequential(nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, N_CLASSES))


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    loss_fn = nn.CrossEntropyLoss(ignore_index=SEG_VOID)
    for _ in range(steps):
        model.zero_grad()
        loss_fn(model(x), y).backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= 0.3 * param.grad


def train_classifier(kind: str, seed: int, out_dir: str, steps: int = 6) -> str:
    """Train ``classifier(kind)`` from ``seed``; save the whole module; return its path."""
    with one_thread():
        torch.manual_seed(seed)
        model = classifier(kind)
        (x, y), = classification_data(32, seed=1000 + seed, batch=32)
        _fit(model, x, y, steps)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{kind}-{seed}.pt")
    torch.save(model, path)
    return path


def segmentation_data(seed: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Images whose label is a function of two channels, with void (255) pixels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, 8, 8, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    y[torch.rand(6, 8, 8, generator=g) < 0.1] = SEG_VOID
    return [(x[:3], y[:3]), (x[3:], y[3:])]


def train_segmenter(kind: str, seed: int, out_dir: str) -> str:
    with one_thread():
        torch.manual_seed(seed)
        model = nn.Conv2d(3, SEG_CLASSES, 1 if kind == "pointwise" else 3, padding=0 if kind == "pointwise" else 1)
        x, y = segmentation_data(2000 + seed)[0]
        _fit(model, x, y, steps=4)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{kind}-{seed}.pt")
    torch.save(model, path)
    return path


def load(path: str) -> nn.Module:
    return torch.load(path, weights_only=False)
