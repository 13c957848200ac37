"""What every view of a result shares: names, n/a reasons, labels and the comparisons.

The tables, plots and files each read these facts and none of them imports
another renderer or :class:`~mushin.BenchmarkResult`, so dependencies run
one way: ``facts`` <- ``tables``/``plots``/``files``/``loading`` <- ``core``.

Examples
--------
>>> from mushin.result.facts import na_reason, test_label, correction_short_label
>>> na_reason("n/a: one seed")
'one seed'
>>> test_label("welch"), correction_short_label("fdr_bh")
("Welch's t-test", 'FDR')
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping

from .. import stats

__all__ = [
    "PER_CLASS_METRICS",
    "PER_CLASS_PREFIX",
    "undeclared_direction_message",
    "na_reason",
    "pair_note",
    "pair_p",
    "scalar_metrics",
    "comparisons_from_data",
    "test_label",
    "correction_label",
    "correction_short_label",
]

# Per-class values live in ``result.per_class`` (dims method, seed, class),
# one variable per metric; ``result.data`` holds the (method, seed) scores
# only.  Saved files (and ``.data`` before the move) name them
# ``per_class_<metric>``.
PER_CLASS_METRICS = ("iou", "dice", "precision", "recall")
PER_CLASS_PREFIX = "per_class_"


def undeclared_direction_message(metric: str) -> str:
    """How to fix a metric whose direction is unknown (tables, ranking and gates)."""
    return (
        f"metric {metric!r} does not declare whether higher is better, so it cannot be ranked, "
        "bolded as best or gated.  Declare it on the battery entry: "
        "StreamingMetric(..., higher_is_better=False), fn.higher_is_better = False on a "
        "confusion-matrix function, or mushin.metrics.tasks.with_direction(entry, higher_is_better=False) "
        "(torchmetrics metrics carry their own higher_is_better); a gate also takes "
        "higher_is_better=..., and the tables take bold_best=False"
    )


def na_reason(note: str) -> str:
    """``"n/a: one seed"`` -> ``"one seed"``, for sentences that already say n/a."""
    return note[len("n/a: "):] if note.startswith("n/a: ") else note


def pair_note(row: Any) -> str:
    """The ``note`` of a comparisons row ("" when tested), for tables saved without one."""
    note = row.get("note", "") if hasattr(row, "get") else ""
    if isinstance(note, str) and note:
        return note
    if isinstance(row.get("p_value"), float) and math.isnan(row["p_value"]):
        return "n/a: not tested"
    return ""


def pair_p(comparisons: Any, metric: str, ref: str, method: str) -> float:
    """The corrected p-value of ``method`` against ``ref`` on ``metric`` (NaN if absent)."""
    hit = comparisons[
        (comparisons["metric"] == metric)
        & (
            ((comparisons["method_a"] == ref) & (comparisons["method_b"] == method))
            | ((comparisons["method_a"] == method) & (comparisons["method_b"] == ref))
        )
    ]
    return float(hit["p_corrected"].iloc[0]) if len(hit) else math.nan


def scalar_metrics(data: Any) -> List[str]:
    """The variables of ``data`` with one value per (method, seed)."""
    return [name for name in data.data_vars if "class" not in data[name].dims]


def comparisons_from_data(data: Any, settings: Mapping[str, Any], warn: bool = True) -> Any:
    """The comparisons table that the scores in ``data`` give under ``settings``."""
    methods = [str(m) for m in data["method"].values]
    metrics = scalar_metrics(data)
    table = {
        metric: {m: data[metric].sel({"method": m}).values.astype(float) for m in methods}
        for metric in metrics
    }
    return stats.comparisons_table(
        table,
        methods,
        metrics,
        test=settings["test"],
        alpha=settings["alpha"],
        correction=settings["correction"],
        warn=warn,
    )


def test_label(test: str) -> str:
    """Caption wording of a test (its name when it is not registered)."""
    entry = stats.TEST_REGISTRY.get(test)
    return entry.label if entry is not None else test


def correction_label(correction: str) -> str:
    """Caption wording of a correction."""
    entry = stats.CORRECTION_REGISTRY.get(correction)
    return entry.label if entry is not None else f"{correction} correction"


def correction_short_label(correction: Any) -> Any:
    """Plot-title wording of a correction (the value itself when it is not registered)."""
    entry = stats.CORRECTION_REGISTRY.get(correction) if isinstance(correction, str) else None
    return entry.short_label if entry is not None else correction
