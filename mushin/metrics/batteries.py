"""The batteries of the tasks without a confusion matrix, under upstream's names.

Each ``*_battery(num_classes=None, ignore_index=None)`` returns a fresh
``{name: metric}`` dict, as upstream mushin-py does (both arguments are
accepted and ignored: these tasks have no classes).  Regression and retrieval
read exact C states (:mod:`mushin.metrics.states`); detection reads the COCO
and box-IoU states of :mod:`mushin.metrics.coco`; image quality and audio are
torchmetrics objects, driven by the generic adapter.

Examples
--------
>>> from mushin.metrics.batteries import regression_battery
>>> sorted(regression_battery())
['mae', 'mse', 'pearson', 'r2', 'rmse', 'spearman']
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from .coco import IOU_VARIANTS, MAP_KEYS, BoxIoUMeans, CocoDetections
from .signal import audio_metrics, image_quality_metrics
from .states import (
    RegressionState,
    RetrievalState,
    SpearmanState,
    StateMetric,
    is_torchmetrics_metric,
    naming_metric,
    retrieval_pair,
)

__all__ = [
    "regression_battery",
    "retrieval_battery",
    "detection_battery",
    "image_quality_battery",
    "audio_battery",
    "passthrough_predict",
    "detection_predict",
    "retrieval_update",
]


def passthrough_predict(model: Any, x: Any) -> Tuple[Any, None]:
    """``(model(x), None)``: the model's output is the prediction (regression, retrieval, signals)."""
    return model(x), None


def detection_predict(model: Any, x: Any) -> Tuple[Any, None]:
    """``(model(list(images)), None)``: torchvision's detection convention.

    A batched ``(N, C, H, W)`` tensor is split into a list of images; the
    model returns one ``{"boxes", "scores", "labels"}`` dict per image.
    """
    images = list(x) if not isinstance(x, (list, tuple)) else list(x)
    return model(images), None


def retrieval_update(states: Dict[str, Any], preds: Any, probs: Any, target: Any) -> None:
    """The retrieval task's ``update_fn``: ``target`` is ``(relevance, indexes)``.

    A torchmetrics retrieval metric gets ``update(preds, relevance,
    indexes=indexes)`` (as upstream calls it); mushin's states get the batch
    as it is.
    """
    relevance, indexes = retrieval_pair(target)
    for name, state in states.items():
        with naming_metric(name):
            if is_torchmetrics_metric(state):
                state.update(preds, relevance.to(preds.device), indexes=indexes.to(preds.device))
            else:
                state.update(preds, probs, target)


# (key, higher_is_better, what it is); the states' compute() dicts use these keys
_REGRESSION = (
    ("mse", False, "mean squared error (MeanSquaredError())"),
    ("mae", False, "mean absolute error (MeanAbsoluteError())"),
    ("rmse", False, "root mean squared error (MeanSquaredError(squared=False))"),
    ("r2", True, "coefficient of determination (R2Score())"),
    # torchmetrics' PearsonCorrCoef declares no direction, and upstream keeps it so
    ("pearson", None, "Pearson correlation (PearsonCorrCoef())"),
)

_RETRIEVAL = (
    ("retrieval_map", "mean average precision (RetrievalMAP())"),
    ("ndcg", "normalised discounted cumulative gain (RetrievalNormalizedDCG())"),
    ("mrr", "mean reciprocal rank (RetrievalMRR())"),
    ("precision", "precision over the whole query (RetrievalPrecision())"),
    ("recall", "recall over the whole query (RetrievalRecall())"),
)


def regression_battery(num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Dict[str, Any]:
    """mse, mae, rmse, r2, pearson (one exact moments state) and spearman (ranked pairs).

    Values equal torchmetrics' regression metrics to 1e-6 (see
    ``docs/upstream-notes.md`` for where torchmetrics' float32 states differ).

    Examples
    --------
    >>> from mushin.metrics.batteries import regression_battery
    >>> battery = regression_battery()
    >>> battery["r2"].higher_is_better, battery["mse"].higher_is_better
    (True, False)
    """
    battery: Dict[str, Any] = {
        key: StateMetric(RegressionState.make, key, higher_is_better=higher, description=what)
        for key, higher, what in _REGRESSION
    }
    battery["spearman"] = StateMetric(
        SpearmanState.make, "spearman", higher_is_better=True, description="Spearman rank correlation (SpearmanCorrCoef())"
    )
    return battery


def retrieval_battery(num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Dict[str, Any]:
    """retrieval_map, ndcg, mrr, precision, recall, all from one per-query state.

    Batches are ``(x, (relevance, indexes))``: the query index of every
    scored document, as torchmetrics' retrieval metrics take it.

    Examples
    --------
    >>> from mushin.metrics.batteries import retrieval_battery
    >>> list(retrieval_battery())
    ['retrieval_map', 'ndcg', 'mrr', 'precision', 'recall']
    """
    return {
        key: StateMetric(RetrievalState.make, key, higher_is_better=True, description=what)
        for key, what in _RETRIEVAL
    }


def _coco_state(num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Any:
    return CocoDetections()


def _iou_state(num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Any:
    return BoxIoUMeans()


def detection_battery(num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Dict[str, Any]:
    """The COCO mAP/mAR family and the mean IoU, GIoU, DIoU and CIoU of matched-label boxes.

    Computed with pycocotools (no torchvision needed); see
    :mod:`mushin.metrics.coco`.

    Examples
    --------
    >>> from mushin.metrics.batteries import detection_battery
    >>> list(detection_battery())[:3]
    ['map', 'map_50', 'map_75']
    """
    battery: Dict[str, Any] = {
        key: StateMetric(_coco_state, key, higher_is_better=True, description=f"COCO {key}") for key in MAP_KEYS
    }
    for key in IOU_VARIANTS:
        battery[key] = StateMetric(_iou_state, key, higher_is_better=True, description=f"mean {key} of boxes")
    return battery


def image_quality_battery(num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Dict[str, Any]:
    """ssim, psnr, ms_ssim and lpips (torchmetrics; LPIPS raises a clear error where unavailable).

    Examples
    --------
    >>> from mushin.metrics.batteries import image_quality_battery
    >>> list(image_quality_battery())
    ['ssim', 'psnr', 'ms_ssim', 'lpips']
    """
    return image_quality_metrics()


def audio_battery(num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Dict[str, Any]:
    """si_sdr, si_snr and stoi at 16 kHz (torchmetrics; STOI needs pystoi).

    Examples
    --------
    >>> from mushin.metrics.batteries import audio_battery
    >>> list(audio_battery())
    ['si_sdr', 'si_snr', 'stoi']
    """
    return audio_metrics()
