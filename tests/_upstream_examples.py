"""The inputs of upstream mushin-py's documented uses, rebuilt from fixed seeds.

Imports neither mushin: ``tests/test_upstream_examples.py`` runs these
through this package, and the oracle script that recorded upstream's
answers (see that file) ran the very same builders through mushin-py 0.16.0.
Every example is written in this project's own words after upstream's
guides: a comparison of trained classifiers with the defaults, a
segmentation comparison with void pixels, a custom torchmetrics battery, and
``compare_methods`` on a sweep's scores, complete and with a failed run.
"""
from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

NUM_CLASSES = 3


def classifiers():
    """Three seeds each of two small classifiers on fixed data: ``(methods, batches)``.

    The wider model is trained a few steps on the data so that the methods differ.
    """
    torch.manual_seed(0)
    x = torch.randn(96, 8)
    y = (x[:, :NUM_CLASSES].argmax(dim=1) + (x[:, 3] > 1.2).long()) % NUM_CLASSES
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 96, 32)]
    methods = {"linear": [], "mlp": []}
    for seed in range(3):
        torch.manual_seed(100 + seed)
        methods["linear"].append(nn.Linear(8, NUM_CLASSES))
        torch.manual_seed(200 + seed)
        mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, NUM_CLASSES))
        optimizer = torch.optim.SGD(mlp.parameters(), lr=0.5)
        for _ in range(20):
            for xb, yb in batches:
                optimizer.zero_grad()
                nn.functional.cross_entropy(mlp(xb), yb).backward()
                optimizer.step()
        methods["mlp"].append(mlp.eval())
    return methods, batches


def segmenters():
    """Six seeds each of two 1x1/3x3 convolutions on striped masks with void pixels."""
    torch.manual_seed(1)
    images = torch.randn(12, 3, 10, 10)
    masks = (images[:, 0] > 0).long() + (images[:, 1] > 0.5).long()
    masks[:, 0, :] = 255  # void
    batches = [(images[i : i + 4], masks[i : i + 4]) for i in range(0, 12, 4)]
    methods = {"conv1x1": [], "conv3x3": []}
    for seed in range(6):
        torch.manual_seed(300 + seed)
        methods["conv1x1"].append(nn.Conv2d(3, NUM_CLASSES, 1))
        torch.manual_seed(400 + seed)
        conv = nn.Conv2d(3, NUM_CLASSES, 3, padding=1)
        with torch.no_grad():
            conv.weight[:, :, 1, 1] += torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [3.0, 3.0, 0.0]])
        methods["conv3x3"].append(conv)
    return methods, batches


def sweep_scores():
    """A sweep's scores: 3 methods x 8 seeds, two metrics, as a (method, seed) Dataset."""
    rng = np.random.default_rng(12)
    shift = np.array([0.0, 0.004, 0.02])[:, None]
    accuracy = 0.80 + shift + 0.008 * rng.standard_normal((3, 8))
    loss = 0.50 - 2 * shift + 0.02 * rng.standard_normal((3, 8))
    return xr.Dataset(
        {"accuracy": (("method", "seed"), accuracy), "loss": (("method", "seed"), loss)},
        coords={"method": ["baseline", "tweak", "new"], "seed": np.arange(8)},
    )


def sweep_with_a_failed_run():
    """The same sweep where one run failed: NaN in its cells, named in ``mushin_failures``."""
    ds = sweep_scores()
    ds["accuracy"].values[1, 5] = np.nan
    ds["loss"].values[1, 5] = np.nan
    ds.attrs["mushin_failures"] = '["method=tweak,seed=5"]'
    return ds


def generated_sweeps(count: int = 24):
    """``count`` generated sweeps of varied shape: 2-4 methods, 3-12 seeds, 1-3 metrics.

    Some have scores rounded to 2 decimals (ties for the rank tests, zero
    paired differences for Wilcoxon), some have methods that really differ,
    some a failed run (NaN, named in ``mushin_failures``).  Yields
    ``(index, dataset)``.
    """
    for index in range(count):
        rng = np.random.default_rng(1000 + index)
        n_methods = int(rng.integers(2, 5))
        n_seeds = int(rng.integers(3, 13))
        n_metrics = int(rng.integers(1, 4))
        variables = {}
        for k in range(n_metrics):
            shift = rng.choice([0.0, 0.005, 0.02], size=(n_methods, 1))
            values = rng.uniform(0.3, 0.9) + shift + rng.uniform(0.002, 0.03) * rng.standard_normal((n_methods, n_seeds))
            if index % 3 == 1:
                values = np.round(values, 2)
            variables[f"metric{k}"] = (("method", "seed"), values)
        ds = xr.Dataset(variables, coords={"method": [f"m{i}" for i in range(n_methods)], "seed": np.arange(n_seeds)})
        if index % 4 == 3 and n_seeds > 4:
            i, j = int(rng.integers(0, n_methods)), int(rng.integers(0, n_seeds))
            for name in ds.data_vars:
                ds[name].values[i, j] = np.nan
            ds.attrs["mushin_failures"] = f'["method=m{i},seed={j}"]'
        yield index, ds
