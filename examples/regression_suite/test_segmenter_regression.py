"""A model regression suite against stored baselines: copy this folder next to your tests.

Only the candidate model runs.  The baseline it is gated against is the
confusion matrices of an earlier model's seeds, stored by the
``mushin_baseline`` fixture (mushin's pytest plugin, active once mushin is
installed) in ``mushin_baselines/`` beside this file:

- the first run of a test stores the candidate's result as its baseline and
  fails, saying so: commit the file, then run again;
- later runs re-derive the baseline's metrics from the stored counts and
  apply a gate of :mod:`mushin.testing` (a one-sided Welch test across
  seeds); a failing gate prints both means, the interval of the difference,
  the margin and the p-value;
- ``pytest --mushin-update-baselines`` stores the current model as the new
  baseline on purpose (review the diff: one line per confusion-matrix row).

The stand-in "checkpoints" below are 1x1 convolutions close to the rule that
labels the synthetic pixels, so the file runs anywhere in a few seconds; in
your suite, load your own checkpoints and validation loader instead.

Run:  pytest examples/regression_suite
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mushin import BenchmarkResult, compare

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
        model.weight.copy_((MIXING + error * torch.randn(NUM_CLASSES, 3, generator=g)).view(NUM_CLASSES, 3, 1, 1))
        model.bias.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def result() -> BenchmarkResult:
    """The candidate's seeds only: the baseline's models are never run again."""
    models = [_checkpoint(100 + seed, error=0.2) for seed in SEEDS]
    return compare(
        {"segmenter": models},
        data=_pixels(4, seed=0),
        task="segmentation",
        num_classes=NUM_CLASSES,
        test="welch",
        progress=False,
    )


def test_segmenter_keeps_miou(result: BenchmarkResult, mushin_baseline) -> None:
    mushin_baseline.assert_not_worse(result, "miou", margin=0.01)


def test_segmenter_keeps_pixel_accuracy(result: BenchmarkResult, mushin_baseline) -> None:
    mushin_baseline.assert_not_worse(result, "pixel_acc", margin=0.02)


def test_no_metric_changes_significantly(result: BenchmarkResult, mushin_baseline) -> None:
    mushin_baseline.assert_not_worse(result, "dice", margin=0.01)
    # against() reads the baseline the gate above stored and gives it and the
    # candidate as one result, for checks of your own
    both = mushin_baseline.against(result)
    assert both.methods == ["segmenter", "baseline"]
    assert not both.comparisons["significant"].any(), both.comparisons
