"""Performance profiles and critical-difference diagrams (matplotlib, imported on first use).

- :func:`plot_profiles` (``result.plot_profiles()``,
  ``Aggregates.plot_profiles()``): for each method, the fraction of its
  (seed, evaluation set) scores above each threshold tau, with the
  stratified bootstrap band (rliable's performance profiles).  A curve
  lying above another everywhere dominates it.
- :func:`plot_cd` (``result.plot_cd()``, ``Ranking.plot_cd()``): Demšar's
  critical-difference diagram: methods placed by mean rank (1 = best, at the
  left), a thick bar joining each group with no significant pair inside,
  and Nemenyi's critical difference drawn above the axis.  The title gives
  Friedman's p-value; when Friedman does not reject, one bar joins all.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> from mushin.stats import rank_methods
>>> table = pd.DataFrame({"a": [0.9, 0.8, 0.7, 0.85], "b": [0.8, 0.7, 0.6, 0.8],
...                       "c": [0.7, 0.6, 0.65, 0.6]})
>>> ax = rank_methods(table).plot_cd()
>>> ax.get_title().startswith("Friedman")
True
"""
from __future__ import annotations

from typing import Any, Optional

from ..stats import Aggregates, Ranking, aggregate, rank_methods
from .plots import _pyplot

__all__ = ["plot_profiles", "plot_cd"]


def plot_profiles(source: Any, ax: Any = None, *, metric: Optional[str] = None, taus: Any = None,
                  reps: int = 2000, seed: int = 0, average: bool = False) -> Any:
    """Performance profiles with bootstrap bands.

    Parameters
    ----------
    source : Aggregates, BenchmarkResult, or what :func:`mushin.stats.aggregate` takes
        The scores.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    metric : str, optional
        The results' metric (when ``source`` is not already aggregated).
    taus : sequence of float, optional
        Thresholds (default: 101 spanning the scores).
    reps, seed : int
        Bootstrap resamples of the bands and their seed.
    average : bool
        Profile the per-set means instead of every score.

    Returns
    -------
    matplotlib Axes
    """
    agg = source if isinstance(source, Aggregates) else aggregate(source, metric, reps=reps, seed=seed)
    profiles = agg.profiles(taus, reps=reps, average=average)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.4))
    for method, part in profiles.groupby("method", sort=False):
        (line,) = ax.plot(part["tau"], part["fraction"], label=str(method), linewidth=1.8)
        ax.fill_between(part["tau"], part["ci_low"], part["ci_high"], color=line.get_color(), alpha=0.2,
                        linewidth=0)
    what = agg.metric if agg.metric else "score"
    ax.set_xlabel(f"{what} threshold \u03c4")
    ax.set_ylabel("fraction of " + ("set means" if average else "runs") + " > \u03c4")
    ax.set_ylim(-0.02, 1.02)
    n_seeds = sorted({s.shape[0] for s in agg.scores.values()})
    ax.set_title(f"performance profiles ({len(agg.sets)} set(s), {'/'.join(map(str, n_seeds))} seeds; "
                 f"{100 * agg.confidence:.0f}% bands)", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_cd(source: Any, ax: Any = None, *, metric: Optional[str] = None, test: str = "nemenyi",
            alpha: float = 0.05) -> Any:
    """The critical-difference diagram of a :class:`~mushin.stats.Ranking`.

    ``source`` may also be anything :func:`mushin.stats.rank_methods`
    takes (several evaluation sets, or one result ranked seed by seed).

    Returns
    -------
    matplotlib Axes
    """
    ranking = source if isinstance(source, Ranking) else rank_methods(source, metric, test=test, alpha=alpha)
    plt = _pyplot()
    ranks = ranking.mean_ranks.sort_values(kind="stable")
    k = len(ranks)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 1.3 + 0.3 * k))
    cliques = ranking.cliques()
    half = (k + 1) // 2  # the better half labelled on the left, the rest on the right
    top_label = -0.45 - 0.22 * len(cliques)  # labels start below the clique bars
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(top_label - 0.6 * half - 0.2, 1.8)
    ax.axis("off")
    # the rank axis, best (1) at the left
    ax.plot([1, k], [0, 0], color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.15], color="black", linewidth=1)
        ax.text(r, 0.3, str(r), ha="center", va="bottom", fontsize=8)
    for i, (method, rank) in enumerate(ranks.items()):
        left = i < half
        depth = top_label - 0.6 * (i if left else k - 1 - i)
        x_text = 0.55 if left else k + 0.45
        ax.plot([rank, rank, x_text], [0, depth, depth], color="black", linewidth=0.8)
        ax.text(x_text, depth + 0.05, f"{method} ({rank:.2f})", ha="left" if left else "right",
                va="bottom", fontsize=8)
    # cliques: thick bars just under the axis
    for j, clique in enumerate(cliques):
        lo, hi = ranks[clique[0]], ranks[clique[-1]]
        y = -0.3 - 0.22 * j
        ax.plot([lo - 0.03, hi + 0.03], [y, y], color="tab:red", linewidth=3, solid_capstyle="round")
    cd = ranking.critical_difference
    if cd == cd:  # Nemenyi's critical difference
        ax.plot([1, 1 + cd], [1.2, 1.2], color="black", linewidth=2)
        ax.text(1 + cd / 2, 1.3, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
    f = ranking.friedman
    ax.set_title(f"Friedman p = {f.pvalue:.3g} ({f.blocks} {ranking.blocks}s); "
                 f"{ranking.test.capitalize()}, \u03b1 = {ranking.alpha:g}", fontsize=8)
    return ax
