"""torchmetrics as the outside oracle of the segmentation battery (SPEC.md).

Shared by the tests of the battery over whole batches
(tests/test_segmentation_metrics.py) and over each image alone
(tests/test_per_image.py).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
)


def torchmetrics_battery(batches, num_classes, ignore_index):
    """The five torchmetrics metrics of SPEC.md, fed every (preds, target) batch."""
    kwargs = {"num_classes": num_classes, "ignore_index": ignore_index}
    oracles = {
        "miou": MulticlassJaccardIndex(average="macro", **kwargs),
        "dice": MulticlassF1Score(average="macro", **kwargs),
        "pixel_acc": MulticlassAccuracy(average="micro", **kwargs),
        "precision": MulticlassPrecision(average="macro", **kwargs),
        "recall": MulticlassRecall(average="macro", **kwargs),
    }
    with warnings.catch_warnings():
        # torchmetrics warns when a compute() sees no samples at all
        warnings.simplefilter("ignore")
        for preds, target in batches:
            if np.size(target) == 0:
                continue  # torchmetrics cannot reshape an empty batch; it holds no pixels
            p = torch.as_tensor(np.ascontiguousarray(preds, dtype=np.int64))
            t = torch.as_tensor(np.ascontiguousarray(target, dtype=np.int64))
            for oracle in oracles.values():
                oracle.update(p, t)
        return {name: float(oracle.compute()) for name, oracle in oracles.items()}
