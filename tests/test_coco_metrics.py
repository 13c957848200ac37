"""Detection states (mushin.metrics.coco) against pycocotools' COCOeval and torchmetrics.

The named oracle is pycocotools' ``COCOeval`` driven directly, with what
torchmetrics' ``MeanAveragePrecision`` passes to it (float32 xyxy -> xywh,
float32 ``linspace`` thresholds, ``maxDets = [1, 10, 100]``, default area
ranges). torchmetrics' own detection classes refuse to run without
torchvision; the tests that run them install a stand-in ``torchvision.ops``
holding only the box conversion (or IoU matrices) so that torchmetrics' own
bookkeeping (keys, empty images, label masks, averaging) is what is checked.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import io
import math
import sys
import types

import numpy as np
import pytest
import torch

from mushin.metrics.coco import (
    MAP_KEYS,
    BoxIoUMeans,
    CocoDetections,
    box_iou,
    complete_box_iou,
    distance_box_iou,
    generalized_box_iou,
)

pycocotools = pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


# --------------------------------------------------------------------------
# generated detection sets
# --------------------------------------------------------------------------

def _rand_boxes(rng, n, scale=300.0):
    xy = rng.uniform(0, scale, size=(n, 2))
    wh = rng.uniform(2, scale / 2, size=(n, 2)) * rng.choice([0.1, 0.5, 1.0], size=(n, 1))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def make_images(seed, n_images=12, n_classes=3, max_gt=6, max_extra=6, empty_share=0.2,
                score_levels=None):
    """Images with jittered true positives, false positives, misses, empty images,
    images without ground truth, and several classes."""
    rng = np.random.default_rng(seed)
    preds, target = [], []
    for _ in range(n_images):
        kind = rng.random()
        n_gt = 0 if kind < empty_share else int(rng.integers(1, max_gt + 1))
        gt = _rand_boxes(rng, n_gt)
        gl = rng.integers(0, n_classes, n_gt)
        hit = rng.random(n_gt) < 0.7
        jitter = rng.normal(0, 4, size=(int(hit.sum()), 4)).astype(np.float32)
        tp = gt[hit] + jitter
        tp[:, 2:] = np.maximum(tp[:, 2:], tp[:, :2] + 1)
        n_fp = int(rng.integers(0, max_extra + 1)) if kind > empty_share / 2 else 0
        det = np.concatenate([tp, _rand_boxes(rng, n_fp)]).astype(np.float32)
        dl = np.concatenate([np.where(rng.random(len(tp)) < 0.85, gl[hit], rng.integers(0, n_classes, len(tp))),
                             rng.integers(0, n_classes, n_fp)])
        if score_levels is None:
            scores = rng.random(len(det)).astype(np.float32)
        else:
            scores = rng.choice(np.asarray(score_levels, dtype=np.float32), len(det))
        preds.append({"boxes": torch.from_numpy(det), "scores": torch.from_numpy(scores),
                      "labels": torch.from_numpy(dl.astype(np.int64))})
        target.append({"boxes": torch.from_numpy(gt), "labels": torch.from_numpy(gl.astype(np.int64))})
    return preds, target


def _xywh32(boxes):
    b = boxes.numpy()
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1) if len(b) else b


def cocoeval_oracle(preds, target, first_image_id=1):
    """pycocotools' COCOeval on the images, as torchmetrics configures it."""
    images = [(_xywh32(p["boxes"]), p["scores"].tolist(), p["labels"].tolist(),
               _xywh32(t["boxes"]), t["labels"].tolist(), t.get("iscrowd"), t.get("area"))
              for p, t in zip(preds, target)]
    return cocoeval_on_xywh(images, first_image_id)


def cocoeval_on_xywh(images, first_image_id=1):
    """COCOeval on per-image (det xywh, scores, labels, truth xywh, labels), in this order."""
    ids = [{"id": first_image_id + i} for i in range(len(images))]
    cats = sorted({int(v) for im in images for v in list(im[2]) + list(im[4])})
    anns, dets = [], []
    for i, (db, ds, dl, gb, gl, *extra) in enumerate(images):
        crowd, area = extra if extra else (None, None)
        for k, (box, lab) in enumerate(zip(np.asarray(gb).tolist(), list(gl))):
            given = float(area[k]) if area is not None else 0.0
            anns.append({"id": len(anns) + 1, "image_id": first_image_id + i, "bbox": box,
                         "area": given if given > 0 else box[2] * box[3], "category_id": int(lab),
                         "iscrowd": int(crowd[k]) if crowd is not None else 0})
        for box, lab, sc in zip(np.asarray(db).tolist(), list(dl), list(ds)):
            dets.append({"image_id": first_image_id + i, "bbox": box, "category_id": int(lab), "score": float(sc)})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": ids, "annotations": anns,
                      "categories": [{"id": c, "name": str(c)} for c in cats]}
        gt.createIndex()
        if dets:
            dt = gt.loadRes(dets)
        else:  # loadRes cannot take an empty list
            dt = COCO()
            dt.dataset = {"images": ids, "annotations": [], "categories": gt.dataset["categories"]}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.iouThrs = np.array(torch.linspace(0.5, 0.95, 10).tolist())
        ev.params.recThrs = np.array(torch.linspace(0.0, 1.0, 101).tolist())
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: (math.nan if v == -1 else float(v)) for k, v in zip(MAP_KEYS, ev.stats[:12])}


def _state(preds, target, batch=5, **kw):
    s = CocoDetections(**kw)
    for i in range(0, len(preds), batch):
        s.update(preds[i:i + batch], None, target[i:i + batch])
    return s


def assert_same(got, want, tol=0.0):
    assert list(got) == list(want)
    for k in want:
        if math.isnan(want[k]):
            assert math.isnan(got[k]), (k, got[k])
        else:
            assert abs(got[k] - want[k]) <= tol, (k, got[k], want[k])


# --------------------------------------------------------------------------
# mAP / mAR against COCOeval
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_map_equals_cocoeval_on_generated_images(seed):
    preds, target = make_images(seed, n_images=4 + 3 * seed, n_classes=1 + seed % 4)
    want = cocoeval_oracle(preds, target)
    assert any(v > 0 for v in want.values() if not math.isnan(v))
    assert_same(_state(preds, target).compute(), want)


@pytest.mark.parametrize("seed", range(3))
def test_faster_coco_eval_backend_agrees_with_cocoeval(seed):
    pytest.importorskip("faster_coco_eval")
    preds, target = make_images(100 + seed, n_images=15)
    assert_same(_state(preds, target, backend="faster_coco_eval").compute(),
                cocoeval_oracle(preds, target), tol=1e-6)


def test_images_without_ground_truth_and_empty_images():
    preds, target = make_images(7, n_images=20, empty_share=0.5)
    assert any(len(t["boxes"]) == 0 and len(p["boxes"]) > 0 for p, t in zip(preds, target))
    assert any(len(t["boxes"]) == 0 and len(p["boxes"]) == 0 for p, t in zip(preds, target))
    assert_same(_state(preds, target).compute(), cocoeval_oracle(preds, target))


def test_no_detections_scores_zero_not_nan():
    preds, target = make_images(3, n_images=6, empty_share=0.0)
    preds = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
             for _ in preds]
    got = _state(preds, target).compute()
    assert_same(got, cocoeval_oracle(preds, target))
    assert got["map"] == 0.0 and got["mar_100"] == 0.0


def test_no_ground_truth_at_all_is_nan_everywhere():
    preds, target = make_images(4, n_images=5)
    target = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)} for _ in target]
    got = _state(preds, target).compute()
    assert all(math.isnan(v) for v in got.values())
    assert all(math.isnan(v) for v in CocoDetections().compute().values())


def test_crowd_regions_and_given_areas_are_passed_to_cocoeval():
    preds, target = make_images(13, n_images=10, empty_share=0.1)
    rng = np.random.default_rng(13)
    for t in target:
        n = len(t["labels"])
        t["iscrowd"] = torch.from_numpy((rng.random(n) < 0.3).astype(np.int64))
        # zero means "not given": torchmetrics then uses width * height
        t["area"] = torch.from_numpy(np.where(rng.random(n) < 0.5, rng.uniform(100, 20000, n), 0.0))
    assert sum(int(t["iscrowd"].sum()) for t in target) > 0
    got = _state(preds, target).compute()
    assert_same(got, cocoeval_oracle(preds, target))
    plain = [{"boxes": t["boxes"], "labels": t["labels"]} for t in target]
    other = _state(preds, plain).compute()
    # crowd regions and areas do change the answer (NaN-aware: NaN != NaN would pass vacuously)
    assert any(not (math.isnan(got[k]) and math.isnan(other[k])) and got[k] != other[k] for k in MAP_KEYS)


def test_more_than_100_detections_per_image_uses_the_top_scores():
    preds, target = make_images(11, n_images=3, max_gt=30, max_extra=150, empty_share=0.0)
    assert max(len(p["boxes"]) for p in preds) > 100
    assert_same(_state(preds, target).compute(), cocoeval_oracle(preds, target))


def test_float64_boxes_and_scores_are_kept_exactly():
    preds, target = make_images(12, n_images=8)
    p64 = [{k: (v.double() if v.is_floating_point() else v) for k, v in p.items()} for p in preds]
    t64 = [{k: (v.double() if v.is_floating_point() else v) for k, v in t.items()} for t in target]
    state = _state(p64, t64)
    sd = state.state_dict()
    np.testing.assert_array_equal(np.sort(sd["det_scores"]),
                                  np.sort(np.concatenate([p["scores"].numpy() for p in p64])))
    assert_same(state.compute(), cocoeval_oracle(p64, t64))


# --------------------------------------------------------------------------
# splits, merges and state round trips
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_any_split_and_merge_order_is_identical(seed):
    rng = np.random.default_rng(seed)
    preds, target = make_images(20 + seed, n_images=17, score_levels=[0.25, 0.5, 1.0])
    whole = _state(preds, target, batch=len(preds))
    cuts = np.sort(rng.choice(np.arange(1, len(preds)), size=4, replace=False))
    parts = [_state(preds[a:b], target[a:b], batch=int(rng.integers(1, 4)))
             for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(preds)])]
    rng.shuffle(parts)
    merged = CocoDetections()
    for part in parts:
        merged.merge(part if rng.random() < 0.5 else part.state_dict())
    for k, v in whole.state_dict().items():
        np.testing.assert_array_equal(merged.state_dict()[k], v, err_msg=k)
    assert_same(merged.compute(), whole.compute())


def test_tied_scores_do_not_depend_on_image_order():
    preds, target = make_images(31, n_images=20, score_levels=[0.5, 1.0])
    state = _state(preds, target)
    want = state.compute()
    # COCOeval breaks score ties across images by image order; the state feeds
    # it the images in the canonical order its state_dict lists them in
    sd = state.state_dict()
    d_edges, g_edges = np.r_[0, np.cumsum(sd["det_counts"])], np.r_[0, np.cumsum(sd["gt_counts"])]
    canonical = [(sd["det_boxes"][d_edges[i]:d_edges[i + 1]], sd["det_scores"][d_edges[i]:d_edges[i + 1]],
                  sd["det_labels"][d_edges[i]:d_edges[i + 1]], sd["gt_boxes"][g_edges[i]:g_edges[i + 1]],
                  sd["gt_labels"][g_edges[i]:g_edges[i + 1]]) for i in range(len(sd["det_counts"]))]
    assert_same(want, cocoeval_on_xywh(canonical))
    stream_orders = set()
    for seed in range(4):
        order = np.random.default_rng(seed).permutation(len(preds))
        p, t = [preds[i] for i in order], [target[i] for i in order]
        assert_same(_state(p, t).compute(), want)
        stream_orders.add(tuple(cocoeval_oracle(p, t).values()))
    # the reason for the canonical order: fed in stream order, COCOeval's answer moves
    assert len(stream_orders) > 1


def test_state_dict_round_trip():
    preds, target = make_images(40, n_images=9)
    a = _state(preds, target)
    b = CocoDetections()
    b.load_state_dict(a.state_dict())
    assert_same(b.compute(), a.compute())
    b.reset()
    assert b.state_dict()["det_counts"].size == 0


def test_malformed_state_dict_is_refused_and_state_kept():
    preds, target = make_images(41, n_images=4)
    a = _state(preds, target)
    before = a.compute()
    bad = a.state_dict()
    bad["det_scores"] = bad["det_scores"][:-1]
    with pytest.raises(ValueError, match="det_scores"):
        a.load_state_dict(bad)
    with pytest.raises(ValueError, match="lacks"):
        a.merge({"det_counts": np.zeros(0)})
    assert_same(a.compute(), before)


@pytest.mark.parametrize("mutate, error, match", [
    (lambda p, t: (p[:-1], t), ValueError, "preds has 2 images but target has 3"),
    (lambda p, t: (p, t[:2] + [{"boxes": torch.zeros(2, 3), "labels": torch.zeros(2, dtype=torch.long)}]),
     ValueError, r"target\[2\]\['boxes'\] must have shape \(N, 4\)"),
    (lambda p, t: ([p[0], p[1], dict(p[2], labels=p[2]["labels"].float())], t),
     ValueError, r"preds\[2\]\['labels'\] must hold integers"),
    (lambda p, t: ([p[0], {"boxes": p[1]["boxes"]}, p[2]], t), ValueError, r"preds\[1\] lacks key"),
    (lambda p, t: ([dict(p[0], scores=p[0]["scores"][:-1])] + p[1:], t),
     ValueError, r"preds\[0\]\['scores'\] has"),
    (lambda p, t: (torch.zeros(3), t), TypeError, "preds must be a list of dicts"),
    (lambda p, t: (p, [dict(t[0], boxes=t[0]["boxes"] * float("nan"))] + t[1:]),
     ValueError, "non-finite"),
])
def test_bad_batch_names_the_problem_and_leaves_state_unchanged(mutate, error, match):
    preds, target = make_images(50, n_images=3, empty_share=0.0)
    for state in (CocoDetections(), BoxIoUMeans()):
        state.update(preds, None, target)
        before = state.state_dict()
        bad_preds, bad_target = mutate(list(preds), list(target))
        if isinstance(state, BoxIoUMeans) and "scores" in match:
            continue  # the IoU metrics ignore scores, as torchmetrics' do
        with pytest.raises(error, match=match):
            state.update(bad_preds, None, bad_target)
        after = state.state_dict()
        if isinstance(state, CocoDetections):
            for k in before:
                np.testing.assert_array_equal(after[k], before[k])
        else:
            assert after == before


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        CocoDetections(backend="detectron")


# --------------------------------------------------------------------------
# torchmetrics' own MeanAveragePrecision, with a stand-in torchvision.ops
# --------------------------------------------------------------------------

def _xyxy_to_xywh_torch(boxes, in_fmt, out_fmt):
    assert (in_fmt, out_fmt) in (("xyxy", "xywh"), ("xyxy", "xyxy"))
    if out_fmt == "xyxy":
        return boxes
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)


def _np_pairwise(fn):
    return lambda a, b: torch.from_numpy(np.ascontiguousarray(fn(a.numpy(), b.numpy())))


@pytest.fixture
def stand_in_torchvision(monkeypatch):
    """torchvision.ops with the box helpers torchmetrics' detection metrics call."""
    # import torchmetrics first: its import-time probe of torchvision must see none
    import torchmetrics.detection.mean_ap  # noqa: F401

    tv, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
    ops.box_convert = _xyxy_to_xywh_torch
    ops.box_iou = _np_pairwise(box_iou)
    ops.generalized_box_iou = _np_pairwise(generalized_box_iou)
    ops.distance_box_iou = _np_pairwise(distance_box_iou)
    ops.complete_box_iou = _np_pairwise(complete_box_iou)
    tv.ops = ops
    for mod in (tv, ops):
        mod.__spec__ = importlib.machinery.ModuleSpec(mod.__name__, None)
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.ops", ops)
    import torchmetrics.detection.iou as tm_iou
    import torchmetrics.detection.mean_ap as tm_map
    for mod in (tm_map, tm_iou):
        monkeypatch.setattr(mod, "_TORCHVISION_AVAILABLE", True)
    for name in ("giou", "diou", "ciou"):
        mod = __import__(f"torchmetrics.detection.{name}", fromlist=["_"])
        monkeypatch.setattr(mod, "_TORCHVISION_AVAILABLE", True)
    return tv


@pytest.mark.parametrize("seed", range(3))
def test_map_equals_torchmetrics_mean_average_precision(seed, stand_in_torchvision):
    from torchmetrics.detection.mean_ap import MeanAveragePrecision

    preds, target = make_images(60 + seed, n_images=10, empty_share=0.3)
    tm = MeanAveragePrecision()
    tm.update(preds, target)
    want = {k: v.item() for k, v in tm.compute().items() if k in MAP_KEYS}
    want = {k: (math.nan if v == -1 else v) for k, v in want.items()}
    got = _state(preds, target).compute()
    # torchmetrics rounds COCOeval's float64 stats to float32
    assert_same({k: float(np.float32(v)) for k, v in got.items()}, dict(sorted(want.items(),
                key=lambda kv: MAP_KEYS.index(kv[0]))))


# --------------------------------------------------------------------------
# IoU variants
# --------------------------------------------------------------------------

def _scalar_variants(a, b, eps=1e-7):
    """Each variant from its published definition, one pair at a time in plain Python."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    iou = inter / union
    cw, ch = max(ax2, bx2) - min(ax1, bx1), max(ay2, by2) - min(ay1, by1)
    giou = iou - (cw * ch - union) / (cw * ch)
    rho2 = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    diou = iou - rho2 / (cw**2 + ch**2 + eps)
    v = 4 / math.pi**2 * (math.atan((bx2 - bx1) / (by2 - by1)) - math.atan((ax2 - ax1) / (ay2 - ay1))) ** 2
    ciou = diou - v / (1 - iou + v + eps) * v
    return {"iou": iou, "giou": giou, "diou": diou, "ciou": ciou}


@pytest.mark.parametrize("seed", range(5))
def test_box_variants_equal_their_closed_forms(seed):
    rng = np.random.default_rng(seed)
    a = _rand_boxes(rng, 7).astype(np.float64)
    b = np.concatenate([_rand_boxes(rng, 5), a[:2] + 1.5]).astype(np.float64)
    fns = {"iou": box_iou, "giou": generalized_box_iou, "diou": distance_box_iou, "ciou": complete_box_iou}
    mats = {k: fn(a, b) for k, fn in fns.items()}
    for i in range(len(a)):
        for j in range(len(b)):
            want = _scalar_variants(a[i].tolist(), b[j].tolist())
            for k in fns:
                assert mats[k][i, j] == pytest.approx(want[k], rel=1e-12, abs=1e-12), (k, i, j)


def test_box_iou_equals_pycocotools_iou():
    rng = np.random.default_rng(9)
    a, b = _rand_boxes(rng, 20).astype(np.float64), _rand_boxes(rng, 15).astype(np.float64)
    xywh = lambda x: np.c_[x[:, :2], x[:, 2:] - x[:, :2]]  # noqa: E731
    want = mask_utils.iou(xywh(a).tolist(), xywh(b).tolist(), [0] * len(b))
    np.testing.assert_allclose(box_iou(a, b), want, rtol=1e-12, atol=1e-15)


def test_box_variants_known_values():
    unit = np.array([[0.0, 0.0, 1.0, 1.0]])
    far = np.array([[2.0, 0.0, 3.0, 1.0]])
    assert box_iou(unit, unit)[0, 0] == 1.0
    assert generalized_box_iou(unit, far)[0, 0] == pytest.approx(-1 / 3)
    # centres 2 apart, hull diagonal^2 = 3^2 + 1^2
    assert distance_box_iou(unit, far)[0, 0] == pytest.approx(-4 / 10, rel=1e-6)
    # same aspect ratio: no CIoU penalty beyond DIoU
    assert complete_box_iou(unit, far)[0, 0] == pytest.approx(distance_box_iou(unit, far)[0, 0])


def test_iou_means_follow_torchmetrics_empty_image_and_label_rules():
    box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    half = torch.tensor([[1.0, 0.0, 3.0, 2.0]])
    preds = [{"boxes": box, "labels": torch.tensor([0])},               # matched: 1/3
             {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},  # 2 misses: 0, 0
             {"boxes": box, "labels": torch.tensor([1])},               # label differs: nothing
             {"boxes": torch.cat([box, half]), "labels": torch.tensor([2, 2])}]  # no truth: 0, 0
    target = [{"boxes": half, "labels": torch.tensor([0])},
              {"boxes": torch.cat([box, half]), "labels": torch.tensor([0, 1])},
              {"boxes": half, "labels": torch.tensor([0])},
              {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    s = BoxIoUMeans(variants=("iou",))
    s.update(preds, None, target)
    assert s.compute()["iou"] == pytest.approx((1 / 3) / 5, rel=1e-7)
    assert BoxIoUMeans().compute() == {"iou": 0.0, "giou": 0.0, "diou": 0.0, "ciou": 0.0}


@pytest.mark.parametrize("seed", range(3))
def test_iou_means_equal_torchmetrics_iou_metrics(seed, stand_in_torchvision):
    from torchmetrics.detection.ciou import CompleteIntersectionOverUnion
    from torchmetrics.detection.diou import DistanceIntersectionOverUnion
    from torchmetrics.detection.giou import GeneralizedIntersectionOverUnion
    from torchmetrics.detection.iou import IntersectionOverUnion

    preds, target = make_images(70 + seed, n_images=12, empty_share=0.3)
    got = BoxIoUMeans()
    got.update(preds, None, target)
    got = got.compute()
    for cls in (IntersectionOverUnion, GeneralizedIntersectionOverUnion,
                DistanceIntersectionOverUnion, CompleteIntersectionOverUnion):
        tm = cls()
        tm.update(preds, target)
        (key, value), = tm.compute().items()
        assert got[key] == pytest.approx(value.item(), rel=1e-6, abs=1e-7), key


@pytest.mark.parametrize("seed", range(3))
def test_iou_means_any_split_and_merge_order_is_bit_identical(seed):
    rng = np.random.default_rng(seed)
    preds, target = make_images(80 + seed, n_images=14)
    whole = BoxIoUMeans()
    whole.update(preds, None, target)
    merged = BoxIoUMeans()
    order = rng.permutation(len(preds))
    for i in order:
        part = BoxIoUMeans()
        part.update([preds[i]], None, [target[i]])
        merged.merge(part if rng.random() < 0.5 else part.state_dict())
    assert merged.state_dict() == whole.state_dict()
    assert merged.compute() == whole.compute()
    fresh = BoxIoUMeans()
    fresh.load_state_dict(whole.state_dict())
    assert fresh.compute() == whole.compute()


def test_iou_means_refuse_unknown_variants_and_bad_state():
    with pytest.raises(ValueError, match="variants must be"):
        BoxIoUMeans(variants=("iou", "wiou"))
    s = BoxIoUMeans(variants=("iou",))
    with pytest.raises(ValueError, match="lacks variant 'iou'"):
        s.merge({"giou": {}})
    with pytest.raises(ValueError, match="inconsistent counts"):
        s.load_state_dict({"iou": {"sum": "0x0", "count": 1, "nan": 2, "posinf": 0, "neginf": 0}})
    assert s.state_dict()["iou"]["count"] == 0


def test_docstring_examples_run():
    import doctest

    import mushin.metrics.coco as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
