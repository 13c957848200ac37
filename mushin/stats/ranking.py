"""Many methods over several evaluation sets: Friedman, Nemenyi, Conover, and cliques.

With more than two methods, testing every pair with a two-sample test
inflates the errors, and means over different data sets do not share a
scale.  Demšar ("Statistical comparisons of classifiers over multiple data
sets", JMLR 2006) recommends ranking the methods within each *block* (an
evaluation set, scored by the mean over seeds), testing whether the mean
ranks differ at all with Friedman's test, and then which pairs differ with
a post-hoc test:

- ``"nemenyi"``: every pair, studentized range with infinite df (controls
  the family-wise error by itself; gives the critical difference drawn on
  the CD diagram);
- ``"conover"``: Conover's t-test on the rank sums, more powerful, Holm-
  corrected here.

A pair counts as significant only when Friedman's test rejects too (the
protected procedure).  The statistics run in C (``csrc/kernels/ranking.c``)
and equal ``scipy.stats.friedmanchisquare`` and scikit-posthocs'
``posthoc_nemenyi_friedman`` / ``posthoc_conover_friedman`` to 1e-8.

**Blocks.**  :func:`rank_methods` takes *several evaluation sets* -- a
``{set name: BenchmarkResult}`` mapping, a list of results, or a table with
one row per evaluation set and one column per method -- and ranks the
methods within each set.  Given a single result it ranks within each seed
instead (seed ``i`` of every method forms a block), which assumes the seeds
pair up across methods.

Examples
--------
>>> import pandas as pd
>>> from mushin.stats import rank_methods
>>> table = pd.DataFrame({"a": [0.71, 0.52, 0.80, 0.66], "b": [0.65, 0.49, 0.77, 0.60],
...                       "c": [0.60, 0.45, 0.70, 0.58]}, index=["voc", "ade", "city", "coco"])
>>> r = rank_methods(table)
>>> r.mean_ranks.tolist(), round(r.friedman.pvalue, 4)
([1.0, 2.0, 3.0], 0.0183)
"""
from __future__ import annotations

import math
from typing import Any, List, NamedTuple, Optional

import numpy as np
import pandas as pd

from .. import _core
from .inputs import collect_scores, first_non_finite, is_result
from .registry import check_alpha
from .two_sample import correct

__all__ = ["POSTHOC_TESTS", "FriedmanResult", "Ranking", "friedman", "posthoc", "rank_methods"]

#: Post-hoc tests after Friedman: name -> (label, correction applied here).
POSTHOC_TESTS = {
    "nemenyi": ("Nemenyi test", "none"),
    "conover": ("Conover test", "holm"),
}


class FriedmanResult(NamedTuple):
    """Friedman's omnibus test: do the methods' mean ranks differ at all?"""

    statistic: float
    pvalue: float
    df: float
    blocks: int
    methods: int


def _block_matrix(table: Any) -> np.ndarray:
    values = np.asarray(table, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"need a (blocks, methods) table, got shape {values.shape}")
    return values


def friedman(table: Any) -> FriedmanResult:
    """Friedman's test of the columns (methods) of a (blocks, methods) table.

    Equals ``scipy.stats.friedmanchisquare(*table.T)``; NaN statistic and
    p-value when every block is one tie.

    Examples
    --------
    >>> from mushin.stats import friedman
    >>> r = friedman([[1, 2, 3], [1, 3, 2], [1, 2, 3], [2, 1, 3]])
    >>> round(r.statistic, 4), round(r.pvalue, 4)
    (4.5, 0.1054)
    """
    values = _block_matrix(table)
    statistic, pvalue, df, _ = _core.friedman(values)
    return FriedmanResult(statistic, pvalue, df, values.shape[0], values.shape[1])


def posthoc(table: Any, test: str = "nemenyi") -> pd.DataFrame:
    """Uncorrected pairwise p-values of a post-hoc test after Friedman.

    ``test`` is ``"nemenyi"`` (scikit-posthocs ``posthoc_nemenyi_friedman``)
    or ``"conover"`` (``posthoc_conover_friedman``, no adjustment).  Returns
    a symmetric (methods x methods) DataFrame with 1 on the diagonal.

    Examples
    --------
    >>> from mushin.stats import posthoc
    >>> p = posthoc([[1, 2, 3], [1, 3, 2], [1, 2, 3], [2, 1, 3]], "nemenyi")
    >>> round(float(p.iloc[0, 2]), 4)
    0.0855
    """
    if test not in POSTHOC_TESTS:
        raise ValueError(f"unknown post-hoc test {test!r}; valid: {sorted(POSTHOC_TESTS)}")
    names = list(table.columns) if isinstance(table, pd.DataFrame) else None
    values = _block_matrix(table)
    _, p = _core.friedman_posthoc(values, test)
    return pd.DataFrame(p, index=names, columns=names)


class Ranking:
    """Methods ranked within each block, with Friedman's test and a post-hoc test.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per block (evaluation set, or seed), one column per method.
    higher_is_better : bool
        Direction of the scores: rank 1 goes to the best method of a block.
    alpha : float
        Level of Friedman's test and of the post-hoc comparisons.
    test : str
        The post-hoc test, ``"nemenyi"`` or ``"conover"``.
    blocks : str
        What a row is, for labels (``"evaluation set"`` or ``"seed"``).
    """

    def __init__(self, table: pd.DataFrame, *, higher_is_better: bool = True, alpha: float = 0.05,
                 test: str = "nemenyi", blocks: str = "evaluation set"):
        if test not in POSTHOC_TESTS:
            raise ValueError(f"unknown post-hoc test {test!r}; valid: {sorted(POSTHOC_TESTS)}")
        self.alpha = check_alpha(alpha)
        self.table = table
        self.methods: List[str] = [str(c) for c in table.columns]
        self.higher_is_better = bool(higher_is_better)
        self.test = test
        self.blocks = blocks
        values = _block_matrix(table)
        if values.shape[1] < 3:
            raise ValueError(
                f"ranking needs at least 3 methods, got {self.methods}; compare two methods with "
                "mushin.compare / mushin.stats.compare_scores"
            )
        if values.shape[0] < 2:
            raise ValueError(f"ranking needs at least 2 {blocks}s (blocks), got {values.shape[0]}")
        where = first_non_finite(values)
        if where is not None:
            row, col = where
            raise ValueError(
                f"the score of method {self.methods[col]!r} on {blocks} {table.index[row]!r} is "
                f"{float(values[row, col])!r}; every method needs a finite score in every {blocks}"
            )
        # rank 1 = best: rank the negated scores when higher is better
        oriented = -values if self.higher_is_better else values
        statistic, pvalue, df, mean_ranks = _core.friedman(np.ascontiguousarray(oriented))
        self.friedman = FriedmanResult(statistic, pvalue, df, values.shape[0], values.shape[1])
        self.mean_ranks = pd.Series(mean_ranks, index=self.methods, name="mean_rank")
        stat, p = _core.friedman_posthoc(np.ascontiguousarray(oriented), test)
        self.statistics = pd.DataFrame(stat, index=self.methods, columns=self.methods)
        self.pvalues = pd.DataFrame(p, index=self.methods, columns=self.methods)
        k, n = values.shape[1], values.shape[0]
        # Nemenyi's critical difference of mean ranks (Demšar 2006, eq. 5)
        self.critical_difference = (
            _core.studentized_range_isf(self.alpha, k) / math.sqrt(2.0) * math.sqrt(k * (k + 1) / (6.0 * n))
            if test == "nemenyi" else math.nan
        )

    @property
    def omnibus_rejects(self) -> bool:
        """Whether Friedman's test finds any difference at :attr:`alpha`."""
        return bool(self.friedman.pvalue < self.alpha)

    def comparisons(self) -> pd.DataFrame:
        """Every pair: mean-rank difference, statistic, p-values and verdict.

        Returns
        -------
        pandas.DataFrame
            Columns ``method_a, method_b, mean_rank_diff (a - b; negative:
            a ranks better), statistic, p_value, p_corrected, significant,
            note``.  Conover's p-values are Holm-corrected across the pairs;
            Nemenyi's already hold the family-wise error.  ``significant``
            needs both the pair's corrected p and Friedman's p below alpha;
            ``note`` says why a pair is n/a or held back.
        """
        pairs = [(a, b) for i, a in enumerate(self.methods) for b in self.methods[i + 1:]]
        raw = np.array([self.pvalues.loc[a, b] for a, b in pairs], dtype=float)
        corrected = correct(raw, POSTHOC_TESTS[self.test][1])
        rows = []
        for (a, b), p, p_adj in zip(pairs, raw, corrected):
            if math.isnan(p_adj):
                note, significant = "n/a: the post-hoc test is undefined for these ranks", False
            elif math.isinf(self.statistics.loc[a, b]):
                # Conover's variance term is 0 when every block ranks the
                # methods alike: t is infinite and p = 0 by arithmetic, not evidence
                note, significant = "n/a: every block ranks the methods alike (Conover's variance is 0)", False
            elif not self.omnibus_rejects:
                note = (f"not tested: Friedman p = {self.friedman.pvalue:.3g} >= {self.alpha:g}"
                        if not math.isnan(self.friedman.pvalue) else "n/a: every block is one tie")
                significant = False
            else:
                note, significant = "", bool(p_adj < self.alpha)
            rows.append({
                "method_a": a, "method_b": b,
                "mean_rank_diff": float(self.mean_ranks[a] - self.mean_ranks[b]),
                "statistic": float(self.statistics.loc[a, b]), "p_value": float(p),
                "p_corrected": float(p_adj), "significant": significant, "note": note,
            })
        return pd.DataFrame(rows, columns=["method_a", "method_b", "mean_rank_diff", "statistic",
                                           "p_value", "p_corrected", "significant", "note"])

    def cliques(self) -> List[List[str]]:
        """Groups of methods, consecutive by mean rank, with no significant pair
        inside: the bars of the critical-difference diagram (largest first)."""
        order = list(self.mean_ranks.sort_values(kind="stable").index)
        table = self.comparisons()
        significant = {(r.method_a, r.method_b) for r in table.itertuples() if r.significant}
        significant |= {(b, a) for a, b in significant}
        spans = []
        for i in range(len(order)):
            j = i
            while j + 1 < len(order) and all((order[m], order[j + 1]) not in significant for m in range(i, j + 1)):
                j += 1
            if j > i:
                spans.append((i, j))
        kept = [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)]
        return [order[i:j + 1] for i, j in kept]

    def summary(self) -> pd.DataFrame:
        """Methods best first: mean rank, mean score, and whom each significantly beats.

        Returns
        -------
        pandas.DataFrame
            Columns ``method, mean_rank, mean_score, beats`` (the methods
            it ranks significantly better than), with Friedman's
            statistic, p-value, the post-hoc test and the critical
            difference in ``.attrs``.
        """
        table = self.comparisons()
        rows = []
        for m in self.mean_ranks.sort_values(kind="stable").index:
            beaten = [r.method_b if r.method_a == m else r.method_a for r in table.itertuples()
                      if r.significant and m in (r.method_a, r.method_b)
                      and self.mean_ranks[m] < self.mean_ranks[r.method_b if r.method_a == m else r.method_a]]
            rows.append({"method": m, "mean_rank": float(self.mean_ranks[m]),
                         "mean_score": float(self.table[m].mean()), "beats": ", ".join(beaten)})
        frame = pd.DataFrame(rows, columns=["method", "mean_rank", "mean_score", "beats"])
        frame.attrs.update(
            friedman_statistic=self.friedman.statistic, friedman_pvalue=self.friedman.pvalue,
            blocks=self.friedman.blocks, posthoc=self.test, alpha=self.alpha,
            critical_difference=self.critical_difference,
        )
        return frame

    def plot_cd(self, ax: Any = None, **kwargs: Any) -> Any:
        """The critical-difference diagram; see :func:`mushin.result.ranking_plots.plot_cd`."""
        from ..result.ranking_plots import plot_cd  # plotting is optional (matplotlib)

        return plot_cd(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        f = self.friedman
        ranks = ", ".join(f"{m} {r:.2f}" for m, r in self.mean_ranks.sort_values(kind="stable").items())
        return (f"Ranking({f.methods} methods over {f.blocks} {self.blocks}s; Friedman chi2 = "
                f"{f.statistic:.3g}, p = {f.pvalue:.3g}; mean ranks: {ranks}; post-hoc: {self.test})")


def rank_methods(
    results_or_table: Any,
    metric: Optional[str] = None,
    *,
    test: str = "nemenyi",
    alpha: float = 0.05,
    higher_is_better: Optional[bool] = None,
) -> Ranking:
    """Rank three or more methods across several evaluation sets.

    Parameters
    ----------
    results_or_table
        Several evaluation sets: a ``{set name: BenchmarkResult}``
        mapping, a list of results, a ``{method: (seeds, sets) array}``
        mapping, or a DataFrame with one row per set and one column per
        method.  Each set is one block, scored by each method's mean over
        seeds.  A single :class:`~mushin.BenchmarkResult` is ranked seed by
        seed instead (seed ``i`` of every method is one block).
    metric : str, optional
        The results' metric (default: their first).
    test : str
        Post-hoc test: ``"nemenyi"`` (default) or ``"conover"``.
    alpha : float
        Level of Friedman's test and of the post-hoc verdicts.
    higher_is_better : bool, optional
        Direction; by default the metric's declared one (True for tables).

    Examples
    --------
    >>> from mushin.stats import rank_methods
    >>> r = rank_methods({"a": [[0.9, 0.8, 0.7]], "b": [[0.8, 0.7, 0.6]], "c": [[0.7, 0.6, 0.65]]})
    >>> r.summary()["method"].tolist()
    ['a', 'b', 'c']
    """
    alpha = check_alpha(alpha)
    blocks = "evaluation set"
    if isinstance(results_or_table, pd.DataFrame):
        table = results_or_table
        direction = True if higher_is_better is None else higher_is_better
    elif is_result(results_or_table):
        methods, _, scores, declared = collect_scores(results_or_table, metric)
        seeds = {m: s.shape[0] for m, s in scores.items()}
        if len(set(seeds.values())) != 1:
            raise ValueError(
                f"ranking one result seed by seed needs every method on the same seeds, got {seeds}"
            )
        table = pd.DataFrame({m: scores[m][:, 0] for m in methods})
        table.index = [f"seed {i}" for i in range(len(table))]
        blocks = "seed"
        direction = declared if higher_is_better is None else higher_is_better
    else:
        methods, sets, scores, declared = collect_scores(results_or_table, metric)
        table = pd.DataFrame({m: scores[m].mean(axis=0) for m in methods}, index=sets)
        direction = declared if higher_is_better is None else higher_is_better
    if direction is None:
        raise ValueError(
            f"metric {metric!r} declares no direction; pass higher_is_better=True or False"
        )
    return Ranking(table, higher_is_better=direction, alpha=alpha, test=test, blocks=blocks)

