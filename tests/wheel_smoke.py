"""Smoke test of an installed mushin wheel: run it outside the source tree.

``make wheel`` runs it in a fresh venv where the repaired wheel was installed
with ``--only-binary :all:`` and no compiler on PATH; cibuildwheel runs it as
its test command on every platform.  Needs only the wheel's dependencies
(pytest optional: with it, the plugin is checked through its entry point).

Run:  python -I tests/wheel_smoke.py      (-I: the script's folder is not on sys.path)
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import numpy as np
import torch
from torch import nn

import mushin
from mushin import BenchmarkResult, ConfusionMatrix, _core, compare
from mushin.stats import welch


def check_installed_copy() -> None:
    where = Path(mushin.__file__).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert site in where.parents, f"mushin imported from {where}, not from the installed wheel in {site}"
    (core,) = [p for p in where.parent.iterdir()
               if p.name.startswith("_core.") and any(p.name.endswith(s) for s in EXTENSION_SUFFIXES)]
    assert Path(_core.__file__).resolve() == core.resolve()
    print(f"mushin {mushin.__version__} from {where.parent}; C core {core.name}")


def check_confusion_counts() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, 10_000)
    pred = np.where(rng.random(10_000) < 0.7, target, rng.integers(0, 5, 10_000))
    target[::97] = 255  # ignored
    cm = ConfusionMatrix(5, ignore_index=255)
    cm.update(torch.from_numpy(pred), torch.from_numpy(target))
    keep = target != 255
    expected = np.bincount(target[keep] * 5 + pred[keep], minlength=25).reshape(5, 5)
    assert np.array_equal(np.asarray(cm.counts), expected), "confusion counts differ from NumPy's"


def check_welch_against_scipy() -> None:
    # scipy 1.17.1: scipy.stats.ttest_ind(a, b, equal_var=False) ->
    # statistic 3.812464258315122, pvalue 0.0051445635737185965, df 7.999999999999999
    a, b = [0.81, 0.79, 0.84, 0.80, 0.83], [0.76, 0.78, 0.75, 0.79, 0.74]
    r = welch(a, b)
    assert abs(r.statistic - 3.812464258315122) < 1e-9, r
    assert abs(r.pvalue - 0.0051445635737185965) < 1e-12, r


def check_compare() -> None:
    torch.manual_seed(0)
    data = [(torch.randn(32, 8), torch.randint(0, 3, (32,))) for _ in range(3)]
    methods = {
        "a": [nn.Linear(8, 3) for _ in range(3)],
        "b": [nn.Linear(8, 3) for _ in range(3)],
    }
    result = compare(methods, data, task="classification", num_classes=3, test="welch", progress=False)
    assert result.methods == ["a", "b"] and "accuracy" in result.metrics and "auroc" in result.metrics
    for name, models in methods.items():
        with torch.no_grad():
            expected = [
                float(np.mean(np.concatenate([(m(x).argmax(1) == y).numpy() for x, y in data]))) for m in models
            ]
        assert np.allclose(result.scores("accuracy", name), expected, rtol=0, atol=1e-12), name
    assert "<table" in result._repr_html_()
    again = BenchmarkResult.from_confusion({m: result.confusion.sel({"method": m}).values for m in result.methods},
                                           task="classification", test="welch")
    assert np.array_equal(again.scores("f1", "a"), result.scores("f1", "a"))


PLUGIN_SUITE = """
from mushin import BenchmarkResult

def test_gate(mushin_baseline):
    result = BenchmarkResult.from_confusion(
        {"m": [[[90, 10], [8, 92]], [[88, 12], [9, 91]], [[91, 9], [10, 90]], [[89, 11], [7, 93]]]},
        test="welch")
    mushin_baseline.assert_not_worse(result, "miou", margin=0.02)
"""


def check_pytest_plugin() -> None:
    """The entry point loads the plugin; `-p mushin.pytest_plugin` on top of it is harmless."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        print("pytest not installed: plugin check skipped")
        return
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_suite.py").write_text(textwrap.dedent(PLUGIN_SUITE))
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                                  cwd=folder, env=env, capture_output=True, text=True)

        first = run()
        assert first.returncode == 1 and "no stored baseline for test_gate" in first.stdout, first.stdout
        second = run()
        assert second.returncode == 0, second.stdout + second.stderr
        both = run("-p", "mushin.pytest_plugin")
        assert both.returncode == 0, both.stdout + both.stderr


def main() -> None:
    check_installed_copy()
    check_confusion_counts()
    check_welch_against_scipy()
    check_compare()
    check_pytest_plugin()
    print("wheel smoke test passed")


if __name__ == "__main__":
    main()
