"""The rival pipeline the benchmarks measure mushin against.

``torchmetrics_segmentation_battery`` is the five-metric torchmetrics battery
a segmentation pipeline updates on every batch, built with the same
``num_classes`` and ``ignore_index`` as mushin's segmentation battery.
"""
from __future__ import annotations


def torchmetrics_segmentation_battery(num_classes: int, ignore_index: int = 255) -> list:
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassF1Score,
        MulticlassJaccardIndex,
        MulticlassPrecision,
        MulticlassRecall,
    )

    kw = dict(num_classes=num_classes, ignore_index=ignore_index)
    return [
        MulticlassJaccardIndex(average="macro", **kw),
        MulticlassF1Score(average="macro", **kw),
        MulticlassAccuracy(average="micro", **kw),
        MulticlassPrecision(average="macro", **kw),
        MulticlassRecall(average="macro", **kw),
    ]
