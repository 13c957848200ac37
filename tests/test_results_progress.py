"""compare()'s progress bar: models x batches on stderr, silent off a terminal or when asked."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mushin import compare

pytestmark = pytest.mark.filterwarnings("ignore:method .* scored .* on every seed:UserWarning")


def _setup():
    torch.manual_seed(0)
    data = [(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))) for _ in range(3)]
    methods = {"a": [nn.Conv2d(3, 3, 1) for _ in range(2)], "b": [nn.Conv2d(3, 3, 1) for _ in range(2)]}
    return methods, data


def test_progress_true_counts_every_batch_of_every_model(capsys):
    methods, data = _setup()
    compare(methods, data, num_classes=3, progress=True, task="segmentation", test="welch")
    err = capsys.readouterr().err
    assert "mushin: evaluating" in err
    assert "12/12" in err  # 4 models x 3 batches


def test_progress_false_and_default_off_a_terminal_are_silent(capsys):
    methods, data = _setup()
    compare(methods, data, num_classes=3, progress=False, task="segmentation", test="welch")
    compare(methods, data, num_classes=3, task="segmentation", test="welch")  # stderr is captured here, not a terminal
    assert capsys.readouterr().err == ""


def test_progress_without_len_has_no_total(capsys):
    methods, data = _setup()

    class Batches:  # re-iterable, but without __len__
        def __iter__(self):
            return iter(data)

    compare(methods, Batches(), num_classes=3, progress=True, task="segmentation", test="welch")
    assert "12batch" in capsys.readouterr().err.replace(" ", "")


def test_bad_progress_value():
    methods, data = _setup()
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        compare(methods, data, num_classes=3, progress="yes", task="segmentation", test="welch")
