"""NumPy twin of the fused logits kernel (csrc/logits.c), used only by the tests.

It restates the definition: the prediction of a pixel is the index of the
first NaN among its class scores if there is one, else the index of the first
maximum (``-0.0`` and ``0.0`` are equal).  That is what ``torch.argmax``
returns; the tests hold both the twin and ``torch.argmax`` against the C core.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

import reference as ref


def argmax_first(logits, axis: int) -> np.ndarray:
    """First NaN if any, else first maximum, along ``axis``."""
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)  # exact for <= 64-bit floats
    nan = np.isnan(x)
    first_nan = np.argmax(nan, axis=-1)
    first_max = np.argmax(np.where(nan, -np.inf, x), axis=-1)  # np.argmax: first of equal maxima
    return np.where(nan.any(axis=-1), first_nan, first_max)


def confusion_counts_from_logits(
    logits, target, num_classes: int, ignore_index: Optional[int] = None, class_dim: int = 1
) -> np.ndarray:
    """``counts[target, argmax_first(logits)]`` over the positions not ignored."""
    preds = argmax_first(logits, class_dim)
    return ref.confusion_counts(preds, np.asarray(target), num_classes, ignore_index)
