"""The metrics of one confusion matrix ``counts[target, prediction]``.

Each reproduces the torchmetrics metric named in its docstring, including
how torchmetrics treats classes that never occur and an ``ignore_index``
that is itself a class.  :mod:`mushin.metrics.tasks` puts them in the
segmentation and classification batteries.

Examples
--------
>>> import numpy as np
>>> from mushin.metrics.confusion_metrics import miou, pixel_accuracy
>>> counts = np.array([[3, 1], [0, 4]])
>>> round(miou(counts), 4), pixel_accuracy(counts)
(0.775, 0.875)
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ..stats.bootstrap import count_metric

__all__ = [
    "miou",
    "dice",
    "pixel_accuracy",
    "macro_precision",
    "macro_recall",
    "per_class_iou",
    "accuracy",
    "macro_f1",
]


# ----------------------------------------------------------- metric maths --
# The macro means and their class rules are count_metric's
# (mushin.stats.bootstrap), which scores per-image counts the same way; here
# they read the TP/FP/FN of one confusion matrix.


def stat_scores(counts: np.ndarray, dtype: Any = np.float64) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP and FN of every class of ``(..., C, C)`` counts ``[target, prediction]``, as ``dtype``."""
    cm = np.asarray(counts, dtype=dtype)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    fp = cm.sum(axis=-2) - tp
    fn = cm.sum(axis=-1) - tp
    return tp, fp, fn


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (torchmetrics' zero_division=0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _of_counts(counts: np.ndarray, metric: str, ignore_index: Optional[int] = None) -> float:
    return float(count_metric(np.stack(stat_scores(counts), axis=-1), metric, ignore_index))


def per_class_iou(counts: np.ndarray) -> np.ndarray:
    """Intersection over union of every class (0 where the class never occurs)."""
    tp, fp, fn = stat_scores(counts)
    return safe_divide(tp, tp + fp + fn)


def miou(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
    """Mean IoU = ``MulticlassJaccardIndex(average="macro")``.

    Classes absent from both predictions and targets are left out of the
    mean, and so is ``ignore_index`` when it is a class.  NaN when no class
    remains (torchmetrics returns NaN there too).
    """
    return _of_counts(counts, "miou", ignore_index)


def dice(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
    """Macro Dice = ``MulticlassF1Score(average="macro")``.

    Classes with ``tp + fp + fn == 0`` are left out.  Unlike the Jaccard
    index, torchmetrics keeps an in-range ``ignore_index`` class in the mean
    when it was predicted at non-ignored positions (it scores 0 there).
    """
    return _of_counts(counts, "dice")


def macro_precision(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
    """``MulticlassPrecision(average="macro")``."""
    return _of_counts(counts, "precision")


def macro_recall(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
    """``MulticlassRecall(average="macro")``."""
    return _of_counts(counts, "recall")


def pixel_accuracy(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
    """Micro accuracy = ``MulticlassAccuracy(average="micro")`` (0 when empty)."""
    cm = np.asarray(counts, dtype=np.float64)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def accuracy(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
    """Micro accuracy of a classifier = ``MulticlassAccuracy(average="micro")``.

    The fraction of counted samples whose prediction equals the label (0
    when nothing was counted); the same number as :func:`pixel_accuracy`.
    """
    return pixel_accuracy(counts, ignore_index)


def macro_f1(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
    """``MulticlassF1Score(average="macro")``; the same number as :func:`dice`."""
    return dice(counts, ignore_index)
