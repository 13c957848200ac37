"""Per-image counts: TP, FP and FN of every image and class.

A segmentation evaluation usually keeps one ``C x C`` confusion matrix per
model.  With ``compare(..., per_image=True)`` each model also keeps a
:class:`PerImageState`: for image ``i`` (the ``i``-th entry of dimension 0
over the batches, in order) and class ``c``, the true positives, false
positives and false negatives.  Summed over the images they give back the
confusion matrix's diagonal, column sums and row sums, so every metric of
the segmentation battery can be recomputed on any subset or resample of the
images (:mod:`mushin.stats.bootstrap`), and per-image scores come free.

Memory is ``N x C x 3`` integers: 1,449 PASCAL VOC images x 21 classes x 3
x 8 bytes = 0.7 MiB per model (half that with ``dtype="int32"``).  A state
refuses to grow past ``max_bytes`` (1 GiB by default) with a ``ValueError``
that names the budget; raise it when you mean it.

Examples
--------
>>> import torch
>>> from mushin.metrics.per_image import PerImageState
>>> s = PerImageState(num_classes=3, ignore_index=255)
>>> preds = torch.tensor([[[0, 1], [2, 2]], [[1, 1], [0, 0]]])
>>> target = torch.tensor([[[0, 1], [2, 1]], [[1, 0], [255, 255]]])
>>> s.update(preds, None, target)
>>> s.counts[0].tolist()   # image 0: [TP, FP, FN] of classes 0, 1, 2
[[1, 0, 0], [1, 0, 1], [1, 1, 0]]
>>> round(s.compute()["miou"], 4)
0.5
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Optional

import numpy as np

from .. import _core
from ..stats.bootstrap import COUNT_METRICS, count_metric
from .states import _host, host_logits

__all__ = ["PerImageState", "DEFAULT_MAX_BYTES", "PER_IMAGE_DTYPES", "check_per_image", "make_per_image_state"]

#: The default memory budget of one model's per-image counts (1 GiB).
DEFAULT_MAX_BYTES = 1 << 30

PER_IMAGE_DTYPES = ("int64", "int32")

# PerImageCounts.update_logits keeps one C x C matrix per image up to this many classes
FUSED_MAX_CLASSES = 4096


class PerImageState:
    """Per-image TP/FP/FN counts behind the state protocol of :mod:`mushin.metrics.states`.

    Parameters
    ----------
    num_classes : int
    ignore_index : int, optional
        Target value whose positions are skipped.
    dtype : {"int64", "int32"}
        The counts' integer type; int32 halves the memory and holds images
        of up to 2**31 - 1 pixels.
    max_bytes : int
        The most memory the counts may take; an update or merge past it
        raises ``ValueError`` and adds nothing.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: Optional[int] = None,
        dtype: str = "int64",
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        if dtype not in PER_IMAGE_DTYPES:
            raise ValueError(f"per-image counts are kept as 'int64' or 'int32', got dtype={dtype!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int (bytes), got {max_bytes!r}")
        self.core = _core.PerImageCounts(num_classes, ignore_index, dtype, int(max_bytes))

    def __repr__(self) -> str:
        c = self.core
        return f"PerImageState({c.num_images} images x {c.num_classes} classes, {c.dtype}, {c.nbytes} bytes)"

    @property
    def counts(self) -> np.ndarray:
        """``(images, classes, 3)``: TP, FP, FN (a copy)."""
        return self.core.counts

    @property
    def num_images(self) -> int:
        return self.core.num_images

    def update(self, preds: Any, probs: Any, target: Any) -> None:
        """Count one batch of class indices ``(N, ...)`` against labels of the same shape."""
        self.core.update(_host(preds), _host(target))

    def count_batch(self, confusion: Any, preds: Any, target: Any, class_dim: int, labels_needed: bool) -> Any:
        """Count CPU logits here and into ``confusion`` in one pass, or return class indices.

        ``compare()``'s fused path with per-image counts: logits in host
        memory go through ``PerImageCounts.update_logits`` (argmax and
        per-image counting in one pass), whose batch confusion matrix is
        merged into ``confusion`` (a ``ConfusionMatrix``), and None is
        returned.  Otherwise (class indices, logits elsewhere, or a streamed
        metric that needs class indices) the class indices are returned for
        the caller to count, into both.
        """
        if not preds.is_floating_point():
            return preds
        fused = not labels_needed and host_logits(preds, target) and self.core.num_classes <= FUSED_MAX_CLASSES
        if fused:
            confusion.merge(self.core.update_logits(preds.detach(), target, class_dim=class_dim))
            return None
        return preds.argmax(dim=class_dim)

    def merge(self, other: Any) -> None:
        """Append another state's images (or its ``state_dict()``'s) after these."""
        self.core.merge(other.core if isinstance(other, PerImageState) else dict(other))

    def state_dict(self) -> Dict[str, Any]:
        return self.core.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.core.load_state_dict(dict(state))

    def reset(self) -> None:
        self.core.reset()

    def compute(self) -> Dict[str, float]:
        """The dataset-level battery from the counts summed over every image."""
        total = self.counts.astype(np.int64).sum(axis=0)
        ignore = self.core.ignore_index
        return {name: float(count_metric(total, name, ignore)) for name in COUNT_METRICS}


def check_per_image(per_image: Any, max_bytes: Any, num_classes: Optional[int]) -> None:
    """Check ``compare(per_image=..., per_image_max_bytes=...)`` before any model runs."""
    if per_image is False or per_image is None:
        return
    if per_image is not True and per_image not in PER_IMAGE_DTYPES:
        raise ValueError(
            f"per_image must be True, False, 'int64' or 'int32' (the counts' type; True = 'int64'), "
            f"got {per_image!r}"
        )
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise ValueError(f"per_image_max_bytes must be a non-negative int (bytes), got {max_bytes!r}")
    if num_classes is None:
        raise ValueError(
            "per_image=True keeps TP/FP/FN per image and class, so it needs a task with classes "
            "(segmentation) and num_classes=..."
        )


def make_per_image_state(
    per_image: Any, num_classes: Optional[int], ignore_index: Optional[int], max_bytes: int
) -> Optional[PerImageState]:
    """A fresh :class:`PerImageState` for one model, or None when ``per_image`` is off."""
    if per_image is False or per_image is None or num_classes is None:
        return None
    dtype = "int64" if per_image is True else per_image
    return PerImageState(num_classes, ignore_index, dtype=dtype, max_bytes=max_bytes)
