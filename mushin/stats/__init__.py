"""Significance tests across seeds, computed by mushin's C core.

Five two-sided tests, each equal to scipy's default call (including its
choice between exact, permutation and normal-approximation p-values):

=================  ==========================================  ==========
``test=``          scipy equivalent                            paired
=================  ==========================================  ==========
``"welch"``        ``ttest_ind(a, b, equal_var=False)``        no
``"ttest_ind"``    ``ttest_ind(a, b)`` (pooled variance)       no
``"ttest_rel"``    ``ttest_rel(a, b)``                         yes
``"wilcoxon"``     ``wilcoxon(a, b)`` (signed-rank)            yes
``"mannwhitney"``  ``mannwhitneyu(a, b)``                      no
=================  ==========================================  ==========

Corrections for multiple comparisons: ``"holm"``, ``"bonferroni"``,
``"fdr_bh"`` (Benjamini-Hochberg) and ``"none"``.  The arithmetic (t
statistics and the Student-t distribution, ranks and the exact null
distributions of the rank statistics, corrections, effect sizes, confidence
intervals) runs in C with the GIL released; scipy is not needed at run time.

The package's modules: :mod:`~mushin.stats.registry` (every test and
correction with its labels; tables, plots and the checks read it),
:mod:`~mushin.stats.two_sample` (the tests, effect sizes and corrections),
:mod:`~mushin.stats.table` (the comparisons table and its n/a reasons),
:mod:`~mushin.stats.aggregates` (rliable's IQM, optimality gap,
probability of improvement and performance profiles with stratified
bootstrap intervals), :mod:`~mushin.stats.ranking` (Friedman, Nemenyi and
Conover across several evaluation sets) and :mod:`~mushin.stats.power`
(the seed planner).

Examples
--------
>>> from mushin.stats import welch
>>> r = welch([0.71, 0.73, 0.72], [0.65, 0.66, 0.64])
>>> round(r.pvalue, 6)
0.001017
"""
from .aggregates import AGGREGATES, Aggregates, aggregate
from .power import power_of, seeds_needed
from .ranking import POSTHOC_TESTS, FriedmanResult, Ranking, friedman, posthoc, rank_methods
from .registry import (
    CORRECTION_REGISTRY,
    PAIRED_TESTS,
    TEST_REGISTRY,
    Correction,
    StatisticalTest,
    check_alpha,
    check_confidence,
    check_correction,
    check_design,
    check_test,
)
from .table import (
    COMPARISON_COLUMNS,
    NA_CONSTANT_DIFFERENCES,
    NA_NO_SCORES,
    NA_NO_VARIANCE,
    NA_ONE_SEED,
    NA_UNDEFINED,
    compare_scores,
    comparisons_table,
    untested_reason,
)
from .two_sample import (
    CORRECTIONS,
    TESTS,
    TestResult,
    cohens_d,
    cohens_dz,
    correct,
    mannwhitney,
    mean_ci,
    min_pvalue,
    ttest_ind,
    ttest_rel,
    welch,
    wilcoxon,
)

__all__ = [
    "TestResult",
    "welch",
    "ttest_ind",
    "ttest_rel",
    "wilcoxon",
    "mannwhitney",
    "cohens_d",
    "cohens_dz",
    "mean_ci",
    "min_pvalue",
    "correct",
    "compare_scores",
    "comparisons_table",
    "check_test",
    "check_correction",
    "check_alpha",
    "check_confidence",
    "check_design",
    "untested_reason",
    "TESTS",
    "PAIRED_TESTS",
    "CORRECTIONS",
    "TEST_REGISTRY",
    "CORRECTION_REGISTRY",
    "StatisticalTest",
    "Correction",
    "COMPARISON_COLUMNS",
    "NA_NO_SCORES",
    "NA_ONE_SEED",
    "NA_NO_VARIANCE",
    "NA_CONSTANT_DIFFERENCES",
    "NA_UNDEFINED",
    "aggregate",
    "Aggregates",
    "AGGREGATES",
    "rank_methods",
    "Ranking",
    "friedman",
    "posthoc",
    "FriedmanResult",
    "POSTHOC_TESTS",
    "seeds_needed",
    "power_of",
]
