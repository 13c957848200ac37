"""The one registry of significance tests and corrections, and the checks that read it.

Every place that names a test or a correction (the argument checks, the
tables' captions, the plots' titles, the C wrappers' dispatch) reads the
records here, so adding a test means adding one record.  C cannot import
Python: ``tests/test_stats_api.py`` checks that ``mushin._core`` accepts
exactly these test names and has a function for every C correction.

Examples
--------
>>> from mushin.stats.registry import TEST_REGISTRY, CORRECTION_REGISTRY
>>> TEST_REGISTRY["wilcoxon"].label, TEST_REGISTRY["wilcoxon"].paired
('Wilcoxon signed-rank test', True)
>>> CORRECTION_REGISTRY["fdr_bh"].short_label
'FDR'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np

from .. import _core

__all__ = [
    "StatisticalTest",
    "Correction",
    "TEST_REGISTRY",
    "CORRECTION_REGISTRY",
    "PAIRED_TESTS",
    "RANK_TESTS",
    "check_test",
    "check_correction",
    "check_alpha",
    "check_confidence",
    "check_design",
]


@dataclass(frozen=True)
class StatisticalTest:
    """One two-sample test: its ``test=`` name and how tables and plots call it.

    Attributes
    ----------
    name : str
        The ``test=`` value, also the name ``mushin._core.two_sample_test``
        dispatches on.
    label : str
        Caption wording, e.g. ``"Welch's t-test"``.
    short_label : str
        Plot-title wording, e.g. ``"Welch"``.
    paired : bool
        Whether seed ``i`` of one method is compared with seed ``i`` of the other.
    suggest_instead : str
        The test suggested when this one cannot reach ``alpha`` with the
        seeds given: for a rank test the t-test of the same design.
    rank : bool
        Whether it is a rank test (its power is simulated, see
        :mod:`mushin.stats.power`).
    """

    name: str
    label: str
    short_label: str
    paired: bool
    suggest_instead: str
    rank: bool = False


@dataclass(frozen=True)
class Correction:
    """One multiple-comparison correction.

    Attributes
    ----------
    name : str
        The ``correction=`` value.
    label : str
        Caption wording, e.g. ``"Holm correction"``.
    short_label : str
        Plot-title wording, e.g. ``"Holm"``.
    c_function : callable or None
        The ``mushin._core`` function that adjusts a 1-d float64 array of
        p-values (NaN left out of the family); None for ``"none"``.
    """

    name: str
    label: str
    short_label: str
    c_function: Optional[Callable[[np.ndarray], np.ndarray]]


TEST_REGISTRY: Dict[str, StatisticalTest] = {
    t.name: t
    for t in (
        StatisticalTest("welch", "Welch's t-test", "Welch", False, "welch"),
        StatisticalTest("ttest_ind", "Student's t-test", "Student t", False, "welch"),
        StatisticalTest("ttest_rel", "paired t-test", "paired t", True, "welch"),
        StatisticalTest("wilcoxon", "Wilcoxon signed-rank test", "Wilcoxon", True, "ttest_rel", rank=True),
        StatisticalTest("mannwhitney", "Mann-Whitney U test", "Mann-Whitney", False, "welch", rank=True),
    )
}

CORRECTION_REGISTRY: Dict[str, Correction] = {
    c.name: c
    for c in (
        Correction("holm", "Holm correction", "Holm", _core.holm),
        Correction("bonferroni", "Bonferroni correction", "Bonferroni", _core.bonferroni),
        Correction("fdr_bh", "Benjamini-Hochberg FDR correction", "FDR", _core.fdr_bh),
        Correction("none", "no correction", "uncorrected", None),
    )
}

PAIRED_TESTS = frozenset(name for name, t in TEST_REGISTRY.items() if t.paired)
RANK_TESTS = frozenset(name for name, t in TEST_REGISTRY.items() if t.rank)


# The checks below are the one place that words a bad test, correction,
# alpha or confidence for the user; the C wrappers check again only so that
# a direct ``mushin._core`` call cannot crash.


def check_test(test: Any) -> None:
    """Raise ``ValueError`` unless ``test`` names a registered test.

    Examples
    --------
    >>> from mushin.stats import check_test
    >>> check_test("welch")
    """
    if not isinstance(test, str) or test not in TEST_REGISTRY:
        raise ValueError(f"unknown test {test!r}; valid tests: {sorted(TEST_REGISTRY)}")


def check_correction(correction: Any) -> None:
    """Raise ``ValueError`` unless ``correction`` names a registered correction.

    Examples
    --------
    >>> from mushin.stats import check_correction
    >>> check_correction("holm")
    """
    if not isinstance(correction, str) or correction not in CORRECTION_REGISTRY:
        raise ValueError(
            f"unknown correction {correction!r}; valid corrections: {sorted(CORRECTION_REGISTRY)}"
        )


def _in_open_unit_interval(given: Any, name: str) -> float:
    try:
        value = float(given)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in (0, 1), got {given!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {given!r}")
    return value


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in (0, 1), else ``TypeError``/``ValueError``.

    Examples
    --------
    >>> from mushin.stats import check_alpha
    >>> check_alpha(0.05)
    0.05
    """
    return _in_open_unit_interval(alpha, "alpha")


def check_confidence(confidence: Any) -> float:
    """``confidence`` as a float in (0, 1), else ``TypeError``/``ValueError``.

    Examples
    --------
    >>> from mushin.stats import check_confidence
    >>> check_confidence(0.95)
    0.95
    """
    return _in_open_unit_interval(confidence, "confidence")


def check_design(test: str, seeds_per_method: Mapping[str, int]) -> None:
    """Raise ``ValueError`` when a paired test meets unequal seed counts.

    A paired test compares seed ``i`` of one method with seed ``i`` of the
    other, so every method needs the same number of seeds.  ``compare`` and
    ``Study`` call this before any model runs.

    Examples
    --------
    >>> from mushin.stats import check_design
    >>> check_design("ttest_rel", {"a": 3, "b": 3})
    >>> check_design("welch", {"a": 3, "b": 5})
    """
    check_test(test)
    if test not in PAIRED_TESTS:
        return
    counts = dict(seeds_per_method)
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name!r}: {n}" for name, n in counts.items())
        unpaired = ", ".join(repr(n) for n, t in TEST_REGISTRY.items() if not t.paired)
        raise ValueError(
            f"test={test!r} is paired: it compares seed i of one method with seed i of "
            f"another, so every method needs the same seeds; got {listed}.  Give every "
            f"method the same seeds or use an unpaired test ({unpaired})"
        )
