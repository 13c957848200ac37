"""Detection metrics without torchvision: the COCO mAP/mAR protocol and box IoU means.

torchmetrics' ``MeanAveragePrecision`` and its IoU metrics refuse to run
without torchvision (even with ``backend="faster_coco_eval"``, the constructor
checks for it, and box conversion and IoU come from ``torchvision.ops``), and
torchvision cannot be installed next to every torch build. The two states here
reproduce what those metrics compute:

- :class:`CocoDetections` keeps every image's detections and ground truths
  exactly and hands them to pycocotools' (or faster-coco-eval's) ``COCOeval``
  with the arguments torchmetrics passes: boxes converted xyxy -> xywh in the
  input dtype, one image id per image, one category per label seen in either
  detections or ground truth, IoU thresholds ``torch.linspace(0.5, 0.95, 10)``,
  recall thresholds ``torch.linspace(0, 1, 101)``, ``maxDets = [1, 10, 100]``
  and COCO's default area ranges.
- :class:`BoxIoUMeans` holds exact running sums of the IoU, GIoU, DIoU and
  CIoU matrices that torchmetrics' ``IntersectionOverUnion`` family averages.

Both follow the metric-state protocol: ``update(preds, probs, target)``,
``merge(other)``, ``state_dict()`` / ``load_state_dict(d)``, ``compute()``,
``reset()``. Inputs use torchmetrics' detection format: ``preds`` is a list
(one entry per image) of dicts with ``boxes`` (N, 4) xyxy, ``scores`` (N,) and
``labels`` (N,); ``target`` a list of dicts with ``boxes`` and ``labels`` (and
optionally ``iscrowd`` and ``area``, as torchmetrics reads them).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "MAP_KEYS",
    "IOU_VARIANTS",
    "CocoDetections",
    "BoxIoUMeans",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "box_xyxy_to_xywh",
]

#: Keys of :meth:`CocoDetections.compute`, in COCOeval's ``stats`` order; they
#: are torchmetrics' ``MeanAveragePrecision`` keys for ``maxDets = [1, 10, 100]``.
MAP_KEYS = (
    "map", "map_50", "map_75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
)

#: The IoU variants of :class:`BoxIoUMeans`, with the value torchmetrics writes
#: into a pair whose labels differ and then leaves out of the mean.
IOU_VARIANTS = {"iou": -1.0, "giou": -1.0, "diou": -1.0, "ciou": -2.0}

_BACKENDS = ("pycocotools", "faster_coco_eval")
# torchmetrics builds its thresholds with float32 torch.linspace and hands the
# rounded values to COCOeval; an IoU between 0.55 and float32(0.55) matches
# differently against the two, so the same float32 values are used here.
_IOU_THRESHOLDS = torch.linspace(0.5, 0.95, 10).tolist()
_REC_THRESHOLDS = torch.linspace(0.0, 1.0, 101).tolist()
_MAX_DETS = [1, 10, 100]


# --------------------------------------------------------------------------
# Box geometry (NumPy, in the boxes' own floating dtype, as torchvision.ops)
# --------------------------------------------------------------------------

def box_xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Convert ``(N, 4)`` corner boxes to ``(x, y, width, height)``.

    Computed in the boxes' dtype, so float32 boxes give the same float32
    widths as ``torchvision.ops.box_convert`` (and hence as torchmetrics).

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.metrics.coco import box_xyxy_to_xywh
    >>> box_xyxy_to_xywh(np.array([[1.0, 2.0, 4.0, 6.0]]))
    array([[1., 2., 3., 4.]])
    """
    out = boxes.copy()
    out[:, 2] = boxes[:, 2] - boxes[:, 0]
    out[:, 3] = boxes[:, 3] - boxes[:, 1]
    return out


def _area(b: np.ndarray) -> np.ndarray:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _inter_union(b1: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lt = np.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = np.minimum(b1[:, None, 2:], b2[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(b1)[:, None] + _area(b2)[None, :] - inter
    return inter, union


def _hull_wh(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    lt = np.minimum(b1[:, None, :2], b2[None, :, :2])
    rb = np.maximum(b1[:, None, 2:], b2[None, :, 2:])
    return np.clip(rb - lt, 0, None)


def box_iou(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of xyxy boxes, ``(N, 4) x (M, 4) -> (N, M)``.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.metrics.coco import box_iou
    >>> box_iou(np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 3.0, 2.0]]))
    array([[0.33333333]])
    """
    inter, union = _inter_union(b1, b2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def generalized_box_iou(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Pairwise generalized IoU: IoU minus the hull's share not covered by the union.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.metrics.coco import generalized_box_iou
    >>> generalized_box_iou(np.array([[0.0, 0.0, 1.0, 1.0]]), np.array([[2.0, 0.0, 3.0, 1.0]]))
    array([[-0.33333333]])
    """
    inter, union = _inter_union(b1, b2)
    whi = _hull_wh(b1, b2)
    hull = whi[..., 0] * whi[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union - (hull - union) / hull


def _diou_iou(b1: np.ndarray, b2: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    iou = box_iou(b1, b2)
    whi = _hull_wh(b1, b2)
    # eps keeps two coincident points (a zero hull diagonal) finite, as torchvision does
    diag2 = whi[..., 0] ** 2 + whi[..., 1] ** 2 + eps
    xp, yp = (b1[:, 0] + b1[:, 2]) / 2, (b1[:, 1] + b1[:, 3]) / 2
    xg, yg = (b2[:, 0] + b2[:, 2]) / 2, (b2[:, 1] + b2[:, 3]) / 2
    centre2 = (xp[:, None] - xg[None, :]) ** 2 + (yp[:, None] - yg[None, :]) ** 2
    return iou - centre2 / diag2, iou


def distance_box_iou(b1: np.ndarray, b2: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Pairwise distance IoU: IoU minus squared centre distance over squared hull diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.metrics.coco import distance_box_iou
    >>> distance_box_iou(np.array([[0.0, 0.0, 1.0, 1.0]]), np.array([[0.0, 0.0, 1.0, 1.0]]))
    array([[1.]])
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _diou_iou(b1, b2, eps)[0]


def complete_box_iou(b1: np.ndarray, b2: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Pairwise complete IoU: distance IoU minus an aspect-ratio consistency term.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.metrics.coco import complete_box_iou
    >>> complete_box_iou(np.array([[0.0, 0.0, 2.0, 1.0]]), np.array([[0.0, 0.0, 2.0, 1.0]]))
    array([[1.]])
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        diou, iou = _diou_iou(b1, b2, eps)
        wp, hp = (b1[:, 2] - b1[:, 0])[:, None], (b1[:, 3] - b1[:, 1])[:, None]
        wg, hg = (b2[:, 2] - b2[:, 0])[None, :], (b2[:, 3] - b2[:, 1])[None, :]
        v = (4 / math.pi**2) * (np.arctan(wg / hg) - np.arctan(wp / hp)) ** 2
        alpha = v / (1 - iou + v + eps)
        return diou - alpha * v


_PAIRWISE = {
    "iou": box_iou,
    "giou": generalized_box_iou,
    "diou": distance_box_iou,
    "ciou": complete_box_iou,
}


# --------------------------------------------------------------------------
# Input validation: a whole batch is checked before any state changes
# --------------------------------------------------------------------------

def _array(value: Any, where: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"{where} must be a torch.Tensor or numpy array, got {type(value).__name__}")


def _boxes(item: Mapping, side: str, i: int) -> np.ndarray:
    where = f"{side}[{i}]['boxes']"
    boxes = _array(item["boxes"], where)
    if boxes.size == 0:
        # torchmetrics accepts an empty (0,) tensor as "no boxes"
        return np.zeros((0, 4), dtype=boxes.dtype if boxes.dtype.kind == "f" else np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{where} must have shape (N, 4) (xyxy), got {tuple(boxes.shape)}")
    if boxes.dtype.kind != "f":
        raise ValueError(f"{where} must be floating point, got {boxes.dtype}")
    if not np.isfinite(boxes).all():
        raise ValueError(f"{where} holds {int((~np.isfinite(boxes)).sum())} non-finite coordinate(s)")
    return boxes


def _vector(item: Mapping, key: str, side: str, i: int, n: int, kind: str) -> np.ndarray:
    where = f"{side}[{i}][{key!r}]"
    arr = _array(item[key], where).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{where} has {arr.shape[0]} entries for {n} boxes")
    if kind == "i" and arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"{where} must hold integers, got {arr.dtype}")
    if kind == "f" and arr.size and arr.dtype.kind != "f":
        raise ValueError(f"{where} must be floating point, got {arr.dtype}")
    return arr


def _read_batch(preds: Any, target: Any, need_scores: bool) -> list[tuple[np.ndarray, ...]]:
    """Validate one batch; return per image (det boxes, scores, labels, gt boxes, labels, crowd, area)."""
    for name, value in (("preds", preds), ("target", target)):
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise TypeError(f"{name} must be a list of dicts (one per image), got {type(value).__name__}")
    if len(preds) != len(target):
        raise ValueError(f"preds has {len(preds)} images but target has {len(target)}")
    images = []
    for i, (p, t) in enumerate(zip(preds, target)):
        for side, item, keys in (("preds", p, ("boxes", "scores", "labels") if need_scores
                                  else ("boxes", "labels")), ("target", t, ("boxes", "labels"))):
            if not isinstance(item, Mapping):
                raise TypeError(f"{side}[{i}] must be a dict, got {type(item).__name__}")
            missing = [k for k in keys if k not in item]
            if missing:
                raise ValueError(f"{side}[{i}] lacks key(s) {missing}")
        db, gb = _boxes(p, "preds", i), _boxes(t, "target", i)
        dl = _vector(p, "labels", "preds", i, len(db), "i").astype(np.int64)
        ds = (_vector(p, "scores", "preds", i, len(db), "f").astype(np.float64) if need_scores
              else np.zeros(len(db)))
        gl = _vector(t, "labels", "target", i, len(gb), "i").astype(np.int64)
        crowd = (_vector(t, "iscrowd", "target", i, len(gb), "i").astype(np.int64)
                 if "iscrowd" in t else np.zeros(len(gb), np.int64))
        area = (_vector(t, "area", "target", i, len(gb), "").astype(np.float64)
                if "area" in t else np.zeros(len(gb)))
        images.append((db, ds, dl, gb, gl, crowd, area))
    return images


def _split(counts: np.ndarray, *arrays: np.ndarray) -> list[list[np.ndarray]]:
    edges = np.concatenate([[0], np.cumsum(counts)])
    return [[a[edges[k]:edges[k + 1]] for a in arrays] for k in range(len(counts))]


# --------------------------------------------------------------------------
# COCO mAP / mAR
# --------------------------------------------------------------------------

def _coco_backend(backend: str):
    if backend == "pycocotools":
        try:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval
        except ImportError as e:
            raise ImportError(
                "detection metric 'map' needs pycocotools to run the COCO protocol; install it "
                "with `pip install 'mushin[detection]'` (or pass backend='faster_coco_eval')") from e
        return COCO, COCOeval
    try:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    except ImportError as e:
        raise ImportError(
            "detection metric 'map' with backend='faster_coco_eval' needs faster-coco-eval; "
            "install it with `pip install faster-coco-eval`") from e
    return COCO, COCOeval


class CocoDetections:
    """Mergeable COCO detection state: mAP and mAR as torchmetrics' ``MeanAveragePrecision``.

    Keeps each image's detections (xywh boxes, scores, labels) and ground
    truths (xywh boxes, labels, ``iscrowd``, ``area``) exactly, as float64
    copies of the input values, and evaluates them with ``COCOeval`` on
    :meth:`compute`. Images are evaluated in a canonical order (sorted by
    content), so the result does not depend on batch split, merge order or
    rank count; COCOeval's own result depends on image order only through
    detections of equal score in different images.

    Parameters
    ----------
    backend : {"pycocotools", "faster_coco_eval"}
        The COCO implementation that :meth:`compute` calls.

    Examples
    --------
    >>> import torch
    >>> from mushin.metrics.coco import CocoDetections
    >>> state = CocoDetections()
    >>> preds = [{"boxes": torch.tensor([[10.0, 10.0, 50.0, 60.0]]),
    ...           "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}]
    >>> target = [{"boxes": torch.tensor([[12.0, 10.0, 50.0, 62.0]]),
    ...            "labels": torch.tensor([1])}]
    >>> state.update(preds, None, target)
    >>> round(state.compute()["map_50"], 6)
    1.0
    """

    higher_is_better = True
    keys = MAP_KEYS

    def __init__(self, *, backend: str = "pycocotools") -> None:
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        self.backend = backend
        self.reset()

    def reset(self) -> None:
        """Forget every image."""
        self._images: list[tuple[np.ndarray, ...]] = []

    def update(self, preds: Sequence[Mapping], probs: Any, target: Sequence[Mapping]) -> None:
        """Add one batch of images; ``probs`` is unused.

        The whole batch is validated first: a bad entry raises a ``ValueError``
        or ``TypeError`` naming the image and key, and adds nothing.
        """
        batch = _read_batch(preds, target, need_scores=True)
        stored = []
        for db, ds, dl, gb, gl, crowd, area in batch:
            # converted in the input dtype (torchvision's box_convert), then widened exactly
            dxywh = box_xyxy_to_xywh(db).astype(np.float64)
            gxywh = box_xyxy_to_xywh(gb).astype(np.float64)
            stored.append((dxywh, ds, dl, gxywh, gl, crowd, area))
        self._images.extend(stored)

    def merge(self, other: "CocoDetections | Mapping[str, np.ndarray]") -> None:
        """Add another state's images (a ``CocoDetections`` or its ``state_dict()``)."""
        if isinstance(other, CocoDetections):
            images = list(other._images)
        else:
            images = self._images_from_state(other)
        self._images.extend(images)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The images as flat arrays with per-image counts (canonical order)."""
        images = sorted(self._images, key=_image_key)
        cat = lambda k, shape: (np.concatenate([im[k] for im in images]) if images  # noqa: E731
                                else np.zeros(shape))
        return {
            "det_counts": np.array([len(im[0]) for im in images], dtype=np.int64),
            "det_boxes": cat(0, (0, 4)).astype(np.float64).reshape(-1, 4),
            "det_scores": cat(1, (0,)).astype(np.float64),
            "det_labels": cat(2, (0,)).astype(np.int64),
            "gt_counts": np.array([len(im[3]) for im in images], dtype=np.int64),
            "gt_boxes": cat(3, (0, 4)).astype(np.float64).reshape(-1, 4),
            "gt_labels": cat(4, (0,)).astype(np.int64),
            "gt_iscrowd": cat(5, (0,)).astype(np.int64),
            "gt_area": cat(6, (0,)).astype(np.float64),
        }

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Replace the images with those of ``state`` (as from :meth:`state_dict`)."""
        self._images = self._images_from_state(state)

    @staticmethod
    def _images_from_state(state: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, ...]]:
        need = ("det_counts", "det_boxes", "det_scores", "det_labels", "gt_counts",
                "gt_boxes", "gt_labels", "gt_iscrowd", "gt_area")
        missing = [k for k in need if k not in state]
        if missing:
            raise ValueError(f"CocoDetections state lacks {missing}")
        s = {k: np.asarray(state[k]) for k in need}
        dc, gc = s["det_counts"].astype(np.int64), s["gt_counts"].astype(np.int64)
        if dc.shape != gc.shape or dc.ndim != 1 or (dc < 0).any() or (gc < 0).any():
            raise ValueError("CocoDetections state: det_counts and gt_counts must be equal-length "
                             "non-negative vectors (one entry per image)")
        for side, total, keys in (("det", int(dc.sum()), ("boxes", "scores", "labels")),
                                  ("gt", int(gc.sum()), ("boxes", "labels", "iscrowd", "area"))):
            for key in keys:
                arr = s[f"{side}_{key}"]
                if arr.shape[0] != total or (key == "boxes" and arr.shape[1:] != (4,)):
                    raise ValueError(f"CocoDetections state: {side}_{key} has shape "
                                     f"{arr.shape}, expected {total} rows for {side}_counts")
        dets = _split(dc, s["det_boxes"].astype(np.float64), s["det_scores"].astype(np.float64),
                      s["det_labels"].astype(np.int64))
        gts = _split(gc, s["gt_boxes"].astype(np.float64), s["gt_labels"].astype(np.int64),
                     s["gt_iscrowd"].astype(np.int64), s["gt_area"].astype(np.float64))
        return [tuple(d) + tuple(g) for d, g in zip(dets, gts)]

    def compute(self) -> dict[str, float]:
        """COCO mAP/mAR over every image, keyed by :data:`MAP_KEYS`.

        A value COCO marks "not applicable" (``-1``: a size bucket without
        ground truth, or no ground truth at all) is NaN, as in upstream
        mushin-py's detection battery. Values are float64; torchmetrics rounds
        the same numbers to float32.
        """
        images = sorted(self._images, key=_image_key)
        if not images:
            return {k: math.nan for k in MAP_KEYS}
        COCO, COCOeval = _coco_backend(self.backend)
        labels = sorted({int(v) for im in images for v in np.concatenate([im[2], im[4]])})
        gt_anns, dt_anns = [], []
        for image_id, (db, ds, dl, gb, gl, crowd, area) in enumerate(images):
            for k in range(len(gb)):
                box = gb[k].tolist()
                # torchmetrics: a given positive area wins, else width * height
                a = float(area[k]) if area[k] > 0 else box[2] * box[3]
                gt_anns.append({"id": len(gt_anns) + 1, "image_id": image_id, "bbox": box, "area": a,
                                "category_id": int(gl[k]), "iscrowd": int(crowd[k])})
            for k in range(len(db)):
                box = db[k].tolist()
                dt_anns.append({"id": len(dt_anns) + 1, "image_id": image_id, "bbox": box,
                                "area": box[2] * box[3], "category_id": int(dl[k]),
                                "iscrowd": 0, "score": float(ds[k])})
        base = {"images": [{"id": i} for i in range(len(images))],
                "categories": [{"id": c, "name": str(c)} for c in labels],
                "info": {"description": "mushin CocoDetections"}}
        with contextlib.redirect_stdout(io.StringIO()):
            gt, dt = COCO(), COCO()
            gt.dataset = dict(base, annotations=gt_anns)
            dt.dataset = dict(base, annotations=dt_anns)
            gt.createIndex()
            dt.createIndex()
            ev = COCOeval(gt, dt, iouType="bbox")
            ev.params.iouThrs = np.array(_IOU_THRESHOLDS, dtype=np.float64)
            ev.params.recThrs = np.array(_REC_THRESHOLDS, dtype=np.float64)
            ev.params.maxDets = list(_MAX_DETS)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        stats = [float(v) for v in ev.stats[:12]]
        return {k: (math.nan if v == -1.0 else v) for k, v in zip(MAP_KEYS, stats)}


def _image_key(image: tuple[np.ndarray, ...]) -> tuple[bytes, ...]:
    return tuple(np.ascontiguousarray(a).tobytes() for a in image)


# --------------------------------------------------------------------------
# IoU means
# --------------------------------------------------------------------------

_SCALE = 1127  # 2**1127 * any finite float64 >= 2**-1074 in magnitude is an integer


def _exact_sum(values: np.ndarray) -> int:
    """The exact sum of finite float64 values, times ``2**_SCALE``, as an integer."""
    if values.size == 0:
        return 0
    m, e = np.frexp(values.astype(np.float64))
    mant = (m * 2.0**53).astype(np.int64)  # exact: 53-bit mantissas
    total = 0
    for ex in np.unique(e):
        # Python ints: thousands of 2**53 mantissas overflow int64
        total += sum(mant[e == ex].tolist()) << int(ex - 53 + _SCALE)
    return total


class BoxIoUMeans:
    """Mergeable means of box IoU variants, as torchmetrics' ``IntersectionOverUnion`` family.

    Per image, every (detection, ground truth) pair with equal labels
    contributes its IoU variant; an image without detections contributes a
    zero for each ground truth, one without ground truth a zero for each
    detection (torchmetrics' ``respect_labels=True`` rules). The mean is taken
    over all contributions of all images, from exact integer sums (so any
    batch split and merge order give bit-identical results); with no
    contribution it is 0, and a NaN among the contributions makes it 0, as
    torchmetrics returns.

    Parameters
    ----------
    variants : sequence of str
        Any of ``"iou"``, ``"giou"``, ``"diou"``, ``"ciou"``.

    Examples
    --------
    >>> import torch
    >>> from mushin.metrics.coco import BoxIoUMeans
    >>> state = BoxIoUMeans(variants=("iou", "giou"))
    >>> preds = [{"boxes": torch.tensor([[0.0, 0.0, 2.0, 2.0]]), "labels": torch.tensor([0])}]
    >>> target = [{"boxes": torch.tensor([[1.0, 0.0, 3.0, 2.0]]), "labels": torch.tensor([0])}]
    >>> state.update(preds, None, target)
    >>> {k: round(v, 6) for k, v in state.compute().items()}
    {'iou': 0.333333, 'giou': 0.333333}
    """

    higher_is_better = True

    def __init__(self, variants: Sequence[str] = tuple(IOU_VARIANTS)) -> None:
        unknown = [v for v in variants if v not in IOU_VARIANTS]
        if unknown or not variants:
            raise ValueError(f"variants must be a non-empty subset of {tuple(IOU_VARIANTS)}, got {tuple(variants)}")
        self.variants = tuple(variants)
        self.keys = self.variants
        self.reset()

    def reset(self) -> None:
        """Zero every sum and count."""
        # per variant: [exact sum * 2**_SCALE, count, NaN count, +inf count, -inf count]
        self._acc = {v: [0, 0, 0, 0, 0] for v in self.variants}

    def update(self, preds: Sequence[Mapping], probs: Any, target: Sequence[Mapping]) -> None:
        """Add one batch of images; ``probs`` and any ``scores`` are unused."""
        batch = _read_batch(preds, target, need_scores=False)
        delta = {v: [0, 0, 0, 0, 0] for v in self.variants}
        for db, _, dl, gb, gl, _, _ in batch:
            for v in self.variants:
                values = _pair_values(v, db, dl, gb, gl)
                d = delta[v]
                finite = np.isfinite(values)
                d[0] += _exact_sum(values[finite])
                d[1] += values.size
                d[2] += int(np.isnan(values).sum())
                d[3] += int((values == np.inf).sum())
                d[4] += int((values == -np.inf).sum())
        self._add(delta)

    def _add(self, delta: Mapping[str, Sequence[int]]) -> None:
        for v in self.variants:
            self._acc[v] = [a + b for a, b in zip(self._acc[v], delta[v])]

    def merge(self, other: "BoxIoUMeans | Mapping[str, Any]") -> None:
        """Add another state's sums (a ``BoxIoUMeans`` or its ``state_dict()``)."""
        state = other.state_dict() if isinstance(other, BoxIoUMeans) else other
        self._add(self._parse(state))

    def state_dict(self) -> dict[str, Any]:
        """``{variant: {"sum": hex(exact sum), "count", "nan", "posinf", "neginf"}}``.

        The sum is an exact integer (scaled by ``2**1127``) written in hex so that
        any serializer keeps it exactly.
        """
        return {v: {"sum": hex(a[0]), "count": a[1], "nan": a[2], "posinf": a[3], "neginf": a[4]}
                for v, a in self._acc.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the sums with those of ``state`` (as from :meth:`state_dict`)."""
        parsed = self._parse(state)
        self._acc = {v: list(parsed[v]) for v in self.variants}

    def _parse(self, state: Mapping[str, Any]) -> dict[str, list[int]]:
        out = {}
        for v in self.variants:
            if v not in state:
                raise ValueError(f"BoxIoUMeans state lacks variant {v!r} (has {sorted(state)})")
            s = state[v]
            try:
                row = [int(s["sum"], 16), int(s["count"]), int(s["nan"]), int(s["posinf"]), int(s["neginf"])]
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"BoxIoUMeans state for {v!r} is malformed: {e}") from None
            if min(row[1:]) < 0 or sum(row[2:]) > row[1]:
                raise ValueError(f"BoxIoUMeans state for {v!r} has inconsistent counts {row[1:]}")
            out[v] = row
        return out

    def compute(self) -> dict[str, float]:
        """The mean of each variant over every contributing pair."""
        out = {}
        for v, (total, count, nan, posinf, neginf) in self._acc.items():
            if count == 0 or nan or (posinf and neginf):
                out[v] = 0.0  # torchmetrics' value for "no pair" and for a NaN mean
            elif posinf or neginf:
                out[v] = math.inf if posinf else -math.inf
            else:
                # int / int is correctly rounded: the exact mean, rounded once
                out[v] = total / (count << _SCALE)
        return out


def _pair_values(variant: str, db: np.ndarray, dl: np.ndarray, gb: np.ndarray, gl: np.ndarray) -> np.ndarray:
    """The values one image adds to ``variant``'s mean (torchmetrics' valid entries)."""
    if len(db) == 0 or len(gb) == 0:
        # torchmetrics: a zero square matrix whose diagonal survives the label mask
        return np.zeros(max(len(db), len(gb)), dtype=np.float32)
    # torchvision upcasts half precision to float32 before any arithmetic
    dtype = np.result_type(db.dtype, gb.dtype, np.float32)
    mat = _PAIRWISE[variant](db.astype(dtype), gb.astype(dtype))
    mat = mat[dl[:, None] == gl[None, :]]
    # torchmetrics marks unmatched labels with a sentinel and then drops every
    # entry equal to it, including a real value that happens to equal it
    return mat[mat != IOU_VARIANTS[variant]]
