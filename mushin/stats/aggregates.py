"""rliable's aggregates across seeds and evaluation sets, with stratified bootstrap intervals.

Agarwal et al. ("Deep reinforcement learning at the edge of the statistical
precipice", NeurIPS 2021) recommend reporting, instead of a mean over a
handful of seeds, aggregates that are robust to outlying runs together with
bootstrap confidence intervals that resample the runs *within* each task
(a stratified bootstrap).  :func:`aggregate` computes them for mushin's
results:

- ``iqm``: interquartile mean, the mean of the middle 50% of every
  (seed, evaluation set) score;
- ``mean`` and ``median`` of the per-set means;
- ``optimality_gap``: how far the scores fall short of ``gamma`` (scores
  above it count as ``gamma``);
- the probability of improvement ``P(X > Y)`` of one method over another,
  averaged over evaluation sets;
- performance profiles: the fraction of scores above each threshold.

"Tasks" in rliable's words are *evaluation sets* here: one
:class:`~mushin.BenchmarkResult` per data set (or per task) with the same
methods and seeds.  The point estimates equal the ``rliable`` package's to
1e-9; the resampling loops run in C (``csrc/kernels/resample.c``), resample
``b`` from random stream ``b`` of ``seed``, so the intervals are the same
bit for bit whatever the thread count.

Examples
--------
>>> from mushin.stats import aggregate
>>> agg = aggregate({"a": [[0.71, 0.52], [0.73, 0.55], [0.72, 0.50]],
...                  "b": [[0.65, 0.49], [0.66, 0.47], [0.64, 0.51]]}, reps=2000, seed=0)
>>> agg.table().query("aggregate == 'iqm'")[["method", "estimate"]].round(4).values.tolist()
[['a', 0.625], ['b', 0.5725]]
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .. import _core
from ..threads import get_num_threads
from .inputs import collect_scores, is_result
from .ranking import Ranking
from .registry import check_alpha, check_confidence

__all__ = ["AGGREGATES", "Aggregates", "aggregate", "percentile_interval"]

#: The scalar aggregates of :meth:`Aggregates.table`, in table order.
AGGREGATES = ("iqm", "mean", "median", "optimality_gap")


def percentile_interval(resamples: np.ndarray, confidence: float) -> Tuple[np.ndarray, np.ndarray]:
    """The percentile bootstrap interval: the ``(1 -+ confidence) / 2`` quantiles
    of the resamples along axis 0, linearly interpolated (``numpy.percentile``,
    as rliable's ``method="percentile"`` computes them)."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.percentile(resamples, [100.0 * tail, 100.0 * (1.0 - tail)], axis=0)
    return low, high


# -------------------------------------------------------------- results --


class Aggregates:
    """Aggregates of several methods' scores over seeds and evaluation sets.

    Made by :func:`aggregate`; every method holds a ``(seeds, sets)``
    matrix in :attr:`scores`.  Tables are computed on request, each
    resample from its own random stream of :attr:`seed`.
    """

    def __init__(
        self,
        methods: Sequence[str],
        sets: Sequence[str],
        scores: Mapping[str, np.ndarray],
        *,
        higher_is_better: Optional[bool],
        reps: int,
        confidence: float,
        seed: int,
        task_bootstrap: bool,
        gamma: float,
        alpha: float,
        metric: Optional[str],
    ):
        self.methods = list(methods)
        self.sets = list(sets)
        self.scores = {m: np.ascontiguousarray(scores[m], dtype=np.float64) for m in self.methods}
        self.higher_is_better = higher_is_better
        self.reps = reps
        self.confidence = confidence
        self.seed = seed
        self.task_bootstrap = task_bootstrap
        self.gamma = gamma
        self.alpha = alpha
        self.metric = metric

    def _resample(self, method: str, kind: str, params: Sequence[float], reps: int) -> np.ndarray:
        return _core.stratified_bootstrap(
            self.scores[method], kind, np.asarray(params, dtype=float), reps, self.seed,
            self.task_bootstrap, get_num_threads(),
        )

    def table(self) -> pd.DataFrame:
        """IQM, mean, median and optimality gap per method with percentile CIs.

        Returns
        -------
        pandas.DataFrame
            Columns ``method, aggregate, estimate, ci_low, ci_high``; the
            interval is the percentile interval of :attr:`reps` stratified
            bootstrap resamples at :attr:`confidence`.
        """
        rows = []
        for m in self.methods:
            for kind in AGGREGATES:
                params = [self.gamma] if kind == "optimality_gap" else []
                estimate = float(_core.aggregate(self.scores[m], kind, params)[0])
                low, high = percentile_interval(self._resample(m, kind, params, self.reps)[:, 0], self.confidence)
                rows.append({"method": m, "aggregate": kind, "estimate": estimate,
                             "ci_low": float(low), "ci_high": float(high)})
        frame = pd.DataFrame(rows, columns=["method", "aggregate", "estimate", "ci_low", "ci_high"])
        frame.attrs.update(confidence=self.confidence, reps=self.reps, seed=self.seed)
        return frame

    def improvement(self) -> pd.DataFrame:
        """The probability of improvement of every method over every other.

        ``probability`` is ``P(a beats b)``: over evaluation sets, the mean
        of the chance that a random seed of ``a`` scores better than a
        random seed of ``b`` (ties count one half; "better" follows the
        metric's direction).  The interval resamples the seeds of ``a``
        and of ``b`` independently within each set.

        Returns
        -------
        pandas.DataFrame
            Columns ``method_a, method_b, probability, ci_low, ci_high``.
        """
        sign = -1.0 if self.higher_is_better is False else 1.0
        rows = []
        for a in self.methods:
            for b in self.methods:
                if a == b:
                    continue
                x, y = sign * self.scores[a], sign * self.scores[b]
                p = float(_core.probability_of_improvement(x, y))
                boot = _core.improvement_bootstrap(x, y, self.reps, self.seed, get_num_threads())
                low, high = percentile_interval(boot, self.confidence)
                rows.append({"method_a": a, "method_b": b, "probability": p,
                             "ci_low": float(low), "ci_high": float(high)})
        return pd.DataFrame(rows, columns=["method_a", "method_b", "probability", "ci_low", "ci_high"])

    def profiles(self, taus: Optional[Sequence[float]] = None, *, reps: int = 2000,
                 average: bool = False) -> pd.DataFrame:
        """Performance profiles: the fraction of scores above each threshold tau.

        Parameters
        ----------
        taus : sequence of float, optional
            Thresholds (default: 101 points spanning the scores).
        reps : int
            Bootstrap resamples of the bands (rliable's default, 2000).
        average : bool
            Count per-set means instead of every (seed, set) score
            (rliable's ``use_score_distribution=False``).

        Returns
        -------
        pandas.DataFrame
            Columns ``method, tau, fraction, ci_low, ci_high``.
        """
        if taus is None:
            every = np.concatenate([s.ravel() for s in self.scores.values()])
            lo, hi = float(every.min()), float(every.max())
            pad = 0.05 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)
            taus = np.linspace(lo - pad, hi + pad, 101)
        taus = np.asarray(taus, dtype=float)
        kind = "average_profile" if average else "score_profile"
        rows = []
        for m in self.methods:
            point = _core.aggregate(self.scores[m], kind, taus)
            low, high = percentile_interval(self._resample(m, kind, taus, reps), self.confidence)
            for i, tau in enumerate(taus):
                rows.append({"method": m, "tau": float(tau), "fraction": float(point[i]),
                             "ci_low": float(low[i]), "ci_high": float(high[i])})
        return pd.DataFrame(rows, columns=["method", "tau", "fraction", "ci_low", "ci_high"])

    @property
    def ranking(self) -> Any:
        """Friedman's test with post-hoc comparisons over the evaluation sets,
        or None with fewer than 3 methods or 2 sets (see :func:`~mushin.stats.rank_methods`)."""
        if len(self.methods) < 3 or len(self.sets) < 2:
            return None
        table = pd.DataFrame({m: self.scores[m].mean(axis=0) for m in self.methods}, index=self.sets)
        return Ranking(table, higher_is_better=self.higher_is_better is not False, alpha=self.alpha)

    def summary(self) -> pd.DataFrame:
        """The default summary: the ranking when more than two methods meet on
        several evaluation sets (:attr:`ranking`), else :meth:`table`."""
        ranking = self.ranking
        return ranking.summary() if ranking is not None else self.table()

    def plot_profiles(self, ax: Any = None, **kwargs: Any) -> Any:
        """Plot :meth:`profiles`; see :func:`mushin.result.ranking_plots.plot_profiles`."""
        from ..result.ranking_plots import plot_profiles  # plotting is optional

        return plot_profiles(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return (f"Aggregates(methods={self.methods}, sets={len(self.sets)}, "
                f"seeds={[s.shape[0] for s in self.scores.values()]}, reps={self.reps}, seed={self.seed})")


def aggregate(
    results_or_scores: Any,
    metric: Optional[str] = None,
    *,
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    task_bootstrap: bool = False,
    gamma: float = 1.0,
    alpha: float = 0.05,
) -> Aggregates:
    """rliable's aggregates of one or several evaluation sets.

    Parameters
    ----------
    results_or_scores
        A :class:`~mushin.BenchmarkResult`; several (a ``{set name:
        result}`` mapping or a list: one result per evaluation set or task,
        with the same methods and seed counts); rliable's ``{method:
        (seeds, sets) array}``; or an ``xarray.Dataset`` such as
        ``result.data``.
    metric : str, optional
        The metric of the results (default: their first metric).
    reps : int
        Stratified bootstrap resamples per interval.
    confidence : float
        Level of the percentile intervals.
    seed : int
        Seed of the resamples: resample ``b`` uses random stream ``b``.
    task_bootstrap : bool
        Also resample the evaluation sets (rliable's ``task_bootstrap``).
    gamma : float
        Threshold of the optimality gap.
    alpha : float
        Level of the post-hoc tests of :attr:`Aggregates.ranking`.

    Examples
    --------
    >>> from mushin.stats import aggregate
    >>> agg = aggregate({"a": [[0.9], [0.8], [0.85]], "b": [[0.7], [0.75], [0.72]]}, reps=1000)
    >>> table = agg.improvement()
    >>> table.loc[0, "method_a"], table.loc[0, "method_b"], float(table.loc[0, "probability"])
    ('a', 'b', 1.0)
    """
    confidence = check_confidence(confidence)
    alpha = check_alpha(alpha)
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    if not math.isfinite(float(gamma)):
        raise ValueError(f"gamma must be a finite number, got {gamma!r}")
    methods, sets, scores, direction = collect_scores(results_or_scores, metric)
    if metric is None and is_result(results_or_scores):
        metric = results_or_scores.metrics[0]
    return Aggregates(methods, sets, scores, higher_is_better=direction, reps=int(reps),
                      confidence=confidence, seed=int(seed), task_bootstrap=bool(task_bootstrap),
                      gamma=float(gamma), alpha=alpha, metric=metric)
