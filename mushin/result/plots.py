"""Plots of a :class:`~mushin.BenchmarkResult` (matplotlib, imported on first use).

Three views, each drawing into ``ax=`` when given and returning what it drew
into:

- :func:`plot_result` (``result.plot()``): each method's mean with its
  confidence interval, the reference drawn as a diamond with a dashed line
  at its mean, and every other method annotated with its corrected p-value
  against the reference (``*`` when significant), or with "n/a" and the
  reason when that pair could not be tested.
- :func:`plot_per_class` (``result.plot_per_class()``): grouped bars of a
  per-class metric with CIs; ``*`` over a class where the method differs
  from the reference after the per-class FDR correction, "n/a" over one
  that could not be tested (the reasons in the axis label).
- :func:`plot_seeds` (``result.plot_seeds()``): every seed's value as a dot,
  the mean as a bar, so the spread behind each mean is visible.

With ``metric=None``, :func:`plot_result` and :func:`plot_seeds` draw one
panel per metric (each on its own scale) and return the Figure; ``ax`` may
then be a sequence of Axes, one per metric.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np
>>> from mushin import BenchmarkResult
>>> conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
...         "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]}
>>> r = BenchmarkResult.from_confusion(conf)
>>> ax = r.plot("miou")
>>> [t.get_text() for t in ax.get_xticklabels()]
['a\\n(ref)', 'b']
"""
from __future__ import annotations

import math
import textwrap
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from .. import stats
from .facts import correction_short_label, na_reason, pair_p

__all__ = ["plot_result", "plot_per_class", "plot_seeds"]

_PANEL_WIDTH = 2.4
_RATE_TOP = 1.12
_PANEL_HEIGHT = 3.2


def _pyplot() -> Any:
    # matplotlib is optional (the ``plot`` extra): this is the one place it is imported
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "mushin's plots need matplotlib: pip install 'mushin[plot]' (or matplotlib)"
        ) from exc
    return plt


def _method_colors(n: int) -> List[Any]:
    cycle = _pyplot().rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return [cycle[i % len(cycle)] for i in range(n)]


def _check_metric(result: Any, metric: str) -> None:
    if metric not in result.metrics:
        raise KeyError(f"no metric {metric!r}; metrics: {result.metrics}")


def _panels(result: Any, metric: Optional[str], ax: Any) -> "tuple[Any, List[Any], List[str]]":
    """(figure, axes, metrics): one Axes per metric drawn."""
    plt = _pyplot()

    if metric is not None:
        _check_metric(result, metric)
        if ax is None:
            fig, ax = plt.subplots(figsize=(_PANEL_WIDTH + 0.6, _PANEL_HEIGHT), layout="constrained")
        return ax.figure, [ax], [metric]
    metrics = result.metrics
    if ax is None:
        fig, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(_PANEL_WIDTH * len(metrics) + 0.6, _PANEL_HEIGHT),
            squeeze=False,
            layout="constrained",
        )
        return fig, list(axes[0]), metrics
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != len(metrics):
        raise ValueError(
            f"metric=None draws one panel per metric: ax must hold {len(metrics)} Axes "
            f"({metrics}), got {len(axes)}"
        )
    return axes[0].figure, axes, metrics


def _title(result: Any, metric: str) -> str:
    # plots rank nothing, so a metric without a declared direction is drawn
    # without an arrow rather than refused
    higher = result.directions.get(metric)
    return metric if higher is None else f"{metric} {'↑' if higher else '↓'}"


def _method_labels(methods: Sequence[str], ref: Optional[str]) -> List[str]:
    return [f"{m}\n(ref)" if m == ref else m for m in methods]


# ------------------------------------------------------------ mean + CI --


def _label_above(ax: Any, text: str, xy: Tuple[float, float], rise: float, **style: Any) -> None:
    """``text`` centred ``rise`` points above ``xy``: the p-values, stars and n/a marks."""
    ax.annotate(text, xy=xy, xytext=(0, rise), textcoords="offset points", ha="center", va="bottom", **style)


def _wrap(text: str, width: int = 14) -> str:
    """Break a reason over short lines so it fits above one method's marker."""
    return "\n".join(textwrap.wrap(text, width)) or text


def _draw_means(result: Any, summary: Any, metric: str, ax: Any) -> None:
    ref = summary.attrs["reference"]
    methods = result.methods
    colors = _method_colors(len(methods))
    rows = summary[summary["metric"] == metric].set_index("method")
    if ref in rows.index and math.isfinite(rows.loc[ref, "mean"]):
        ax.axhline(rows.loc[ref, "mean"], color="0.6", linestyle="--", linewidth=1, zorder=0)
    for x, method in enumerate(methods):
        mean = float(rows.loc[method, "mean"])
        low, high = float(rows.loc[method, "ci_low"]), float(rows.loc[method, "ci_high"])
        has_ci = math.isfinite(low) and math.isfinite(high)
        yerr = np.array([[mean - low], [high - mean]]) if has_ci else None
        ax.errorbar(
            [x],
            [mean],
            yerr=yerr,
            fmt="D" if method == ref else "o",
            color=colors[x],
            capsize=5,
            markersize=7,
            label=method,
        )
        if method == ref:
            continue
        p = pair_p(result.comparisons, metric, ref, method)
        note = str(rows.loc[method, "note"]) if "note" in rows.columns else ""
        significant = rows.loc[method, "significant_vs_ref"] == "*"
        if note or math.isnan(p):
            # an untested pair says so and why, instead of a gap that reads "not significant"
            _label_above(
                ax, "n/a:\n" + _wrap(na_reason(note or "n/a: not tested")), (x, high if has_ci else mean), 4,
                fontsize=7, color="0.45", gid=f"na:{method}",
            )
            continue
        _label_above(
            ax, f"p={p:.2g}" + (" *" if significant else ""), (x, high if has_ci else mean), 4,
            fontsize=8,
            fontweight="bold" if significant else "normal",
            color="black" if significant else "0.45",
        )
    ax.set_xticks(range(len(methods)), _method_labels(methods, ref))
    ax.set_xlim(-0.5, len(methods) - 0.5)
    ax.margins(y=0.2)
    ax.set_title(_title(result, metric))


def plot_result(
    result: Any, metric: Optional[str] = None, ax: Any = None, *, reference: Optional[str] = None
) -> Any:
    """Each method's mean with its confidence interval, per metric.

    Parameters
    ----------
    result : BenchmarkResult
    metric : str, optional
        One metric (returns its Axes); ``None`` draws every metric, one panel
        each (returns the Figure).
    ax : matplotlib Axes, or a sequence of them for ``metric=None``
        Where to draw; a new figure by default.
    reference : str, optional
        The method the p-values compare against (default: the first).

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
    """
    fig, axes, metrics = _panels(result, metric, ax)
    summary = result.summary(reference)
    for panel, name in zip(axes, metrics):
        _draw_means(result, summary, name, panel)
    conf = f"{100 * summary.attrs['confidence']:.10g}% CI"
    correction = correction_short_label(result.settings.get("correction"))
    p_note = f"p vs ref: {correction}" if len(result.methods) > 1 else ""
    label = f"mean ± {conf}" if metric is None else f"{metric}: mean ± {conf}"
    axes[0].set_ylabel(f"{label}\n{p_note}" if p_note else label)
    return axes[0] if metric is not None else fig


# -------------------------------------------------------------- per class --


def plot_per_class(
    result: Any, metric: str = "iou", ax: Any = None, *, reference: Optional[str] = None
) -> Any:
    """Grouped bars: each method's per-class mean with its confidence interval.

    A ``*`` over a bar marks a class where that method differs from the
    reference after the per-class correction of
    :meth:`~mushin.BenchmarkResult.per_class_comparisons` (FDR).

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()

    values = result.per_class(metric)  # raises KeyError for an unknown metric
    methods = result.methods
    ref = methods[0] if reference is None else reference
    comparisons = result.per_class_comparisons(metric, reference=ref) if len(methods) > 1 else None
    classes = [str(c) for c in result.classes]
    long_labels = max((len(c) for c in classes), default=0) > 5
    if ax is None:
        per_class_width = 0.3 * max(len(methods), 2) + (0.25 if long_labels else 0.0)
        _, ax = plt.subplots(
            figsize=(max(4.5, per_class_width * len(classes) + 2.5), _PANEL_HEIGHT + 0.4 * long_labels),
            layout="constrained",
        )
    confidence = 1.0 - result.settings.get("alpha", 0.05)
    width = 0.8 / len(methods)
    x = np.arange(len(classes))
    colors = _method_colors(len(methods))
    reasons: dict = {}  # why classes were not tested, in first-seen order
    for i, method in enumerate(methods):
        per_seed = values.sel({"method": method}).values.astype(float)  # (seed, class)
        means = np.full(len(classes), np.nan)
        halves = np.full(len(classes), np.nan)
        for k in range(len(classes)):
            column = per_seed[:, k][np.isfinite(per_seed[:, k])]
            if column.size:
                means[k] = column.mean()
            if column.size >= 2:
                mean, low, high = stats.mean_ci(column, confidence)
                halves[k] = (high - low) / 2
        offset = (i - (len(methods) - 1) / 2) * width
        ax.bar(
            x + offset,
            np.nan_to_num(means),
            width,
            yerr=halves,
            capsize=2,
            color=colors[i],
            label=method + (" (ref)" if method == ref else ""),
            error_kw={"elinewidth": 1},
        )
        if comparisons is None or method == ref:
            continue
        rows = comparisons[comparisons["method"] == method]
        notes = rows["note"].tolist() if "note" in rows.columns else [""] * len(rows)
        for k, (significant, note) in enumerate(zip(rows["significant"].to_numpy(bool), notes)):
            if note:
                reasons.setdefault(na_reason(note), None)
                top = np.nan_to_num(means[k]) + (halves[k] if np.isfinite(halves[k]) else 0.0)
                _label_above(
                    ax, "n/a", (x[k] + offset, min(top, _RATE_TOP - 0.1)), 1,
                    fontsize=6,
                    color="0.45",
                    gid=f"na:{method}:{classes[k]}",
                )
            elif significant:
                top = means[k] + (halves[k] if np.isfinite(halves[k]) else 0.0)
                _label_above(
                    ax, "*", (x[k] + offset, min(top, _RATE_TOP - 0.1)), 1,
                    fontweight="bold",
                    # readable over a whisker that runs off the top
                    bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "edgecolor": "none"},
                )
    ax.set_xticks(x, classes, rotation=30 if long_labels else 0, ha="right" if long_labels else "center")
    ax.set_xlabel("class" + (f"  (n/a = not tested: {'; '.join(reasons)})" if reasons else ""))
    ax.set_ylabel(f"{metric} (mean ± {100 * confidence:.10g}% CI)")
    title = f"per-class {metric}"
    if comparisons is not None:
        correction = comparisons.attrs.get("correction", "")
        title += f"; * differs from the reference ({correction_short_label(correction)})"
    ax.set_title(title, fontsize=10)
    # per-class metrics are rates in [0, 1]: a t-interval reaching past them
    # (few seeds, large spread) runs off the edge instead of rescaling the plot
    ax.set_ylim(0.0, _RATE_TOP)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


# ------------------------------------------------------------------ seeds --


def _draw_seeds(result: Any, metric: str, ax: Any) -> None:
    methods = result.methods
    colors = _method_colors(len(methods))
    present = (result.confusion.values >= 0).all(axis=(-2, -1))  # (method, seed)
    seeds = result.data["seed"].values
    for x, method in enumerate(methods):
        row = result.data[metric].sel({"method": method}).values.astype(float)
        keep = present[x] & np.isfinite(row)
        values = row[keep]
        n = values.size
        # spread the dots sideways in seed order, so equal values stay visible
        offsets = np.linspace(-0.18, 0.18, n) if n > 1 else np.zeros(n)
        dots = ax.scatter(
            x + offsets, values, color=colors[x], s=28, zorder=3, label=method, edgecolors="white"
        )
        dots.set_gid(f"seeds:{method}")
        if n:
            ax.hlines(values.mean(), x - 0.28, x + 0.28, color=colors[x], linewidth=2, zorder=2)
        for offset, value, seed in zip(offsets, values, seeds[keep]):
            ax.annotate(
                str(seed), (x + offset, value), xytext=(3, 0), textcoords="offset points",
                fontsize=6, color="0.5", va="center",
            )
    ax.set_xticks(range(len(methods)), list(methods))
    ax.set_xlim(-0.5, len(methods) - 0.5)
    ax.margins(y=0.15)
    ax.set_title(_title(result, metric))


def plot_seeds(result: Any, metric: Optional[str] = None, ax: Any = None) -> Any:
    """Every seed's value per method (dots labelled by seed), with the mean as a bar.

    Parameters
    ----------
    result : BenchmarkResult
    metric : str, optional
        One metric (returns its Axes); ``None`` draws every metric, one panel
        each (returns the Figure).
    ax : matplotlib Axes, or a sequence of them for ``metric=None``

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
    """
    fig, axes, metrics = _panels(result, metric, ax)
    for panel, name in zip(axes, metrics):
        _draw_seeds(result, name, panel)
    axes[0].set_ylabel("value per seed (bar: mean)")
    return axes[0] if metric is not None else fig
