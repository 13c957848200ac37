"""Tiny segmentation models and training functions for tests/test_study*.py.

Everything here lives at module level so that process executors (a
ProcessPoolExecutor, Dask workers) can pickle the training functions by
reference; tests bind their arguments with functools.partial.
"""
from __future__ import annotations

import collections
import functools
import os
import signal
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torch_threads import one_torch_thread

NUM_CLASSES = 21
IGNORE_INDEX = 255
IN_CHANNELS = 3
SIZE = 16
# Set in a child process to SIGKILL it in the middle of one run, e.g. "deeplab:1".
KILL_AT_ENV = "MUSHIN_TEST_KILL_AT"


class TinyFCN(nn.Module):
    """Two convolutions: a 3x3 feature layer and a 1x1 classifier."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.features = nn.Conv2d(IN_CHANNELS, hidden, 3, padding=1)
        self.classifier = nn.Conv2d(hidden, NUM_CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.features(x)))


class TinyDeepLab(nn.Module):
    """A dilated 3x3 convolution, then a 1x1 classifier."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.features = nn.Conv2d(IN_CHANNELS, hidden, 3, padding=2, dilation=2)
        self.classifier = nn.Conv2d(hidden, NUM_CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.features(x)))


ARCHITECTURES = {"fcn": TinyFCN, "deeplab": TinyDeepLab}


def synthetic_masks(n: int, seed: int) -> TensorDataset:
    """Images whose label is the sign pattern of their 3 channels (classes 0..7),
    with about 5% of the pixels marked void (255)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, IN_CHANNELS, SIZE, SIZE, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long() + 4 * (x[:, 2] > 0).long()
    void = torch.rand(n, SIZE, SIZE, generator=g) < 0.05
    y[void] = IGNORE_INDEX
    return TensorDataset(x, y)


def val_loader() -> DataLoader:
    return DataLoader(synthetic_masks(12, seed=99), batch_size=4)


def _log_call(log: Optional[str], name: str, seed: int) -> None:
    if log is not None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{name}:{seed}\n")
        # which process trained the run (executor tests check it was a worker)
        with open(Path(log).with_suffix(".pids"), "a", encoding="utf-8") as handle:
            handle.write(f"{name}:{seed}@{os.getpid()}\n")


def train(name: str, seed: int, *, out_dir: str, log: Optional[str] = None, steps: int = 8) -> str:
    """Train ARCHITECTURES[name] with ``seed`` and return the saved checkpoint's path."""
    _log_call(log, name, seed)
    with one_torch_thread():  # the same arithmetic in every process
        torch.manual_seed(seed)
        model = ARCHITECTURES[name]()
        data = synthetic_masks(8, seed=1000 + seed)
        loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
        for _ in range(steps):
            # plain gradient descent: torch.optim's first use imports torch._dynamo (seconds)
            model.zero_grad()
            loss_fn(model(data.tensors[0]), data.tensors[1]).backward()
            with torch.no_grad():
                for param in model.parameters():
                    param -= 0.5 * param.grad
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = os.path.join(out_dir, f"{name}-seed{seed}.pt")
    torch.save(model, path)
    if os.environ.get(KILL_AT_ENV) == f"{name}:{seed}":
        # the checkpoint is on disk but train_fn never returns: a crash mid-run
        os.kill(os.getpid(), signal.SIGKILL)
    return path


def train_fcn(seed: int, *, out_dir: str, log: Optional[str] = None) -> str:
    return train("fcn", seed, out_dir=out_dir, log=log)


def train_deeplab(seed: int, *, out_dir: str, log: Optional[str] = None) -> str:
    return train("deeplab", seed, out_dir=out_dir, log=log)


def train_fcn_unless_marked(seed: int, *, out_dir: str, log: Optional[str] = None, marker: str) -> str:
    """Fails for the seeds listed in the ``marker`` file (if it exists)."""
    _log_call(log, "flaky", seed)
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            failing = {int(s) for s in handle.read().split()}
        if seed in failing:
            raise RuntimeError(f"simulated divergence at seed {seed}")
    return train("fcn", seed, out_dir=out_dir)


def return_none(seed: int) -> None:
    return None


def return_missing_path(seed: int) -> str:
    return f"/nonexistent/mushin-test/seed{seed}.pt"


def load(path: str) -> nn.Module:
    return torch.load(path, weights_only=False)


# ------------------------------------------------ shared by the test files --
# (imported by tests/test_study.py and tests/test_study_executors.py)


def calls(log: Path) -> collections.Counter:
    if not log.exists():
        return collections.Counter()
    return collections.Counter(log.read_text().split())


def seg_methods(tmp_path: Path, log: Path) -> dict:
    out = str(tmp_path / "out")
    return {
        "fcn": functools.partial(train_fcn, out_dir=out, log=str(log)),
        "deeplab": functools.partial(train_deeplab, out_dir=out, log=str(log)),
    }


def make_study(methods, working_dir, **kwargs) -> "Study":
    from mushin import Study

    options = dict(
        load_fn=load,
        seeds=[0, 1, 2],
        data=val_loader(),
        task="segmentation",
        # Welch, not upstream's default Wilcoxon: 3 seeds cannot reach p < 0.25 with it
        test="welch",
        num_classes=NUM_CLASSES,
        ignore_index=IGNORE_INDEX,
        working_dir=working_dir,
    )
    options.update(kwargs)
    return Study(methods, **options)


def assert_same_result(a, b) -> None:
    assert a.methods == b.methods
    assert a.data["seed"].values.tolist() == b.data["seed"].values.tolist()
    np.testing.assert_array_equal(a.confusion.values, b.confusion.values)
    for metric in a.metrics:
        np.testing.assert_array_equal(a.data[metric].values, b.data[metric].values)
    cols = ["metric", "method_a", "method_b", "p_value", "significant"]
    assert a.comparisons[cols].astype(str).values.tolist() == b.comparisons[cols].astype(str).values.tolist()
