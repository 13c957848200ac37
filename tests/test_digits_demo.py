"""mushin/demos/digits.py on a reduced budget: real data, real training."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from torch_threads import one_torch_thread

# 4 epochs, 3 seeds: the CNN reaches about 0.95 held-out accuracy, the MLP
# about 0.88; the floors leave room for seed-to-seed and platform spread.
BUDGET = 0.2
SEEDS = (0, 1, 2)
CNN_ACCURACY_FLOOR = 0.92
MLP_ACCURACY_FLOOR = 0.75


@pytest.fixture(scope="module")
def demo():
    from mushin.demos import digits

    return digits


@pytest.fixture(scope="module")
def reduced_run(demo):
    with one_torch_thread():
        result, seconds = demo.run(budget=BUDGET, seeds=SEEDS)
    return result, seconds


def test_split_is_stratified_and_disjoint(demo):
    train, test = demo.digits_split()
    assert len(train) + len(test) == 1797
    assert train.tensors[0].shape[1:] == (1, 8, 8)
    counts = np.bincount(test.tensors[1].numpy(), minlength=10)
    assert counts.min() >= 50  # about 30% of every digit
    assert float(train.tensors[0].max()) <= 1.0


def test_cnn_beats_mlp_above_the_stated_floors(reduced_run):
    result, _ = reduced_run
    accuracy = {m: result.scores("accuracy", m) for m in result.methods}
    assert result.methods == ["mlp", "cnn"]
    assert accuracy["cnn"].size == len(SEEDS)
    assert accuracy["cnn"].mean() >= CNN_ACCURACY_FLOOR
    assert accuracy["mlp"].mean() >= MLP_ACCURACY_FLOOR
    assert accuracy["cnn"].mean() > accuracy["mlp"].mean()
    for metric in ("auroc", "ece"):
        assert np.isfinite(result.data[metric].values).all()
    assert result.scores("ece", "cnn").mean() < result.scores("ece", "mlp").mean()


def test_verdict_names_the_winner_and_the_significance(demo, reduced_run):
    result, _ = reduced_run
    sentence = demo.verdict(result, "accuracy")
    assert sentence.startswith("accuracy: cnn beats mlp by ")
    assert "significant at alpha = 0.05" in sentence
    assert demo.verdict(result, "ece").startswith("ece: cnn beats mlp")  # lower ECE is better


def test_main_prints_the_table_and_verdicts(demo, capsys):
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert demo.main(["--budget", "0.05", "--seeds", "2"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "MLP vs small CNN, 2 seeds each" in out
    assert "BenchmarkResult(task='classification'" in out
    for metric in ("accuracy", "auroc", "ece"):
        assert f"\n{metric}: " in out


def test_budget_must_be_positive(demo):
    with pytest.raises(ValueError, match="budget must be positive"):
        demo.run(budget=0)
