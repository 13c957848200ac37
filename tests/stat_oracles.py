"""Outside answers for the statistics tests: scipy's test of each mushin
test name, and accuracy from a confusion matrix written here by hand."""
from __future__ import annotations

import numpy as np
import scipy.stats as ss


def scipy_test(test, a, b):
    """scipy's result (``.statistic``, ``.pvalue``) for mushin's ``test`` on the samples a and b."""
    return {
        "welch": lambda: ss.ttest_ind(a, b, equal_var=False),
        "ttest_ind": lambda: ss.ttest_ind(a, b),
        "ttest_rel": lambda: ss.ttest_rel(a, b),
        "wilcoxon": lambda: ss.wilcoxon(a, b),
        "mannwhitney": lambda: ss.mannwhitneyu(a, b),
    }[test]()


def accuracy(counts, ignore_index=None):
    """The fraction of the confusion matrix on its diagonal (a battery entry's signature)."""
    counts = np.asarray(counts, dtype=float)
    return float(np.trace(counts) / counts.sum())
