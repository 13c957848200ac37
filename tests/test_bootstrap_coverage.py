"""Coverage of the two-level bootstrap's 95% intervals, by simulation (slow).

benchmarks/coverage_study.py simulates evaluations with a known true gap
(per-seed offsets, per-image difficulty, a method x image interaction and
pixel noise).  Over 1,000 simulated evaluations (fixed seed, so the numbers
are reproducible: ``python benchmarks/coverage_study.py``), the two-level
intervals must cover the truth 93-97% of the time, while the seed-only
Welch interval, blind to which images were drawn, covers far less.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

STUDY = Path(__file__).resolve().parent.parent / "benchmarks" / "coverage_study.py"


def _study():
    spec = importlib.util.spec_from_file_location("coverage_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_level_intervals_cover_the_true_gap_and_welch_does_not():
    result = _study().coverage(evaluations=1000, seeds=5, images=200, resamples=1000, seed=0)
    for name in ("two-level: gap", "two-level: score m0", "two-level: score m1"):
        assert 0.93 <= result[name] <= 0.97, (name, result)
    assert result["seed-only Welch: gap"] < 0.90, result
    assert result["seed-only Welch: gap"] < result["two-level: gap"] - 0.1, result
