"""A model regression suite gated by mushin: copy this file next to your tests.

Each test asks a statistical question across seeds instead of comparing two
single numbers: ``assert_not_worse`` fails unless the candidate is shown to
lose at most ``margin``; ``assert_better`` fails unless it is shown to win.
A failing gate prints both means, the confidence interval of the
difference, the margin and the p-value.

The ``result`` fixture below makes stand-in models for synthetic pixels so
the file runs anywhere in a few seconds; in your suite, build the result from
your own checkpoints instead, e.g.::

    @pytest.fixture(scope="module")
    def result():
        load = lambda path: torch.load(path, weights_only=False)
        return compare(
            {"baseline": [load(p) for p in BASELINE_CHECKPOINTS],
             "candidate": [load(p) for p in CANDIDATE_CHECKPOINTS]},
            data=val_loader, task="segmentation", num_classes=21, ignore_index=255, test="welch",
        )

Run:  pytest examples/test_regression_example.py
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mushin import BenchmarkResult, compare
from mushin.testing import assert_better, assert_not_worse

SEEDS = (0, 1, 2, 3)
NUM_CLASSES = 4
MIXING = torch.randn(NUM_CLASSES, 3, generator=torch.Generator().manual_seed(1234))


def _pixels(n: int, seed: int) -> list:
    """Batches of (x, y): each pixel's class is a noisy linear function of its channels."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        x = torch.randn(8, 3, 12, 12, generator=g)
        scores = torch.einsum("kc,nchw->nkhw", MIXING, x) + 0.5 * torch.randn(8, NUM_CLASSES, 12, 12, generator=g)
        batches.append((x, scores.argmax(dim=1)))
    return batches


def _checkpoint(seed: int, error: float) -> nn.Module:
    """Stands in for a trained checkpoint: the true pixel rule, off by a seed-dependent error."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Conv2d(3, NUM_CLASSES, kernel_size=1)
    with torch.no_grad():
        weight = MIXING + error * torch.randn(NUM_CLASSES, 3, generator=g)
        model.weight.copy_(weight.view(NUM_CLASSES, 3, 1, 1))
        model.bias.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def result() -> BenchmarkResult:
    """The baseline's weights are further from the true rule than the candidate's."""
    methods = {
        "baseline": [_checkpoint(seed, error=0.8) for seed in SEEDS],
        "candidate": [_checkpoint(100 + seed, error=0.2) for seed in SEEDS],
    }
    return compare(methods, data=_pixels(4, seed=0), task="segmentation", num_classes=NUM_CLASSES, test="welch", progress=False)


def test_candidate_improves_miou(result: BenchmarkResult) -> None:
    assert_better(result, "candidate", "baseline", "miou")


def test_candidate_keeps_pixel_accuracy_within_one_point(result: BenchmarkResult) -> None:
    assert_not_worse(result, "candidate", "baseline", "pixel_acc", margin=0.01)


def test_baseline_is_not_better(result: BenchmarkResult) -> None:
    # a gate that must fail is a test too: the suite notices if it stops failing
    with pytest.raises(AssertionError, match="not shown to be better"):
        assert_better(result, "baseline", "candidate", "miou")
