"""Per-image counts from the evaluation pipeline (``compare(..., per_image=True)``).

Every model keeps a ``PerImageState`` next to its confusion matrix.  These
tests check the counts against NumPy's own count of each image (from the
same model outputs), on each path the pipeline takes: CPU logits (the fused
``update_logits`` pass that counts per-image and confusion counts at once),
class indices from ``predict_fn``, and logits whose argmax a streamed metric
needs; that ``one_pass=True`` and ``one_pass=False`` give bit-identical
counts; and that ``torch.distributed`` is refused before any batch.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from mushin import compare
from mushin.evaluation import EvalSpec
from mushin.evaluation.distributed import RankShard
from mushin.metrics.per_image import PerImageState

CLASSES = 5


def _data(seed=0, batches=3, images=2):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batches):
        y = torch.randint(0, CLASSES, (images, 9, 7), generator=g)
        y[torch.rand(y.shape, generator=g) < 0.2] = 255
        out.append((torch.randn(images, 3, 9, 7, generator=g), y))
    return out


def _methods(seed=0):
    torch.manual_seed(seed)
    return {name: [nn.Conv2d(3, CLASSES, 1) for _ in range(3)] for name in ("a", "b")}


def _numpy_counts(model, data, ignore_index=255):
    """(images, classes, 3) TP/FP/FN counted by NumPy from the model's argmax."""
    rows = []
    for x, y in data:
        with torch.no_grad():
            preds = model(x).argmax(1).numpy()
        for p, t in zip(preds, y.numpy()):
            valid = t != ignore_index
            p, t = p[valid], t[valid]
            rows.append([[np.sum((p == c) & (t == c)), np.sum((p == c) & (t != c)), np.sum((p != c) & (t == c))]
                         for c in range(CLASSES)])
    return np.array(rows, dtype=np.int64)


def _class_indices(model, x):
    return model(x).argmax(1), None


PATHS = {
    "cpu_logits_fused": {},
    "class_indices": {"predict_fn": _class_indices},
    # a streamed metric that takes class indices: the logits' argmax is counted
    "labels_for_a_stream": {"metrics": {"acc": MulticlassAccuracy(CLASSES, ignore_index=255)}},
}


@pytest.mark.parametrize("path", list(PATHS))
def test_per_image_counts_are_numpys_and_one_pass_is_bit_identical_to_one_model_at_a_time(path):
    methods, data = _methods(), _data()
    kwargs = dict(task="segmentation", test="welch", num_classes=CLASSES, ignore_index=255, progress=False,
                  per_image=True, **PATHS[path])
    one = compare(methods, data, one_pass=True, **kwargs)
    many = compare(methods, data, one_pass=False, **kwargs)
    assert one.per_image.counts.dtype == np.int64
    np.testing.assert_array_equal(one.per_image.counts.values, many.per_image.counts.values)
    for name, models in methods.items():
        for j, model in enumerate(models):
            want = _numpy_counts(model, data)
            np.testing.assert_array_equal(one.per_image.counts.sel({"method": name}).values[j], want)
            # the confusion matrix is unchanged by keeping per-image counts
            cm = one.confusion.sel({"method": name}).values[j]
            np.testing.assert_array_equal(want.sum(axis=0)[:, 0], np.diag(cm))
            np.testing.assert_array_equal(want.sum(axis=0)[:, 1], cm.sum(axis=0) - np.diag(cm))
    plain = compare(methods, data, **{**kwargs, "per_image": False})
    assert plain.per_image is None
    for metric in plain.metrics:
        np.testing.assert_array_equal(plain.data[metric].values, one.data[metric].values)
    for variable in plain.per_class.data_vars:
        np.testing.assert_array_equal(plain.per_class[variable].values, one.per_class[variable].values)


def test_cpu_logits_take_the_fused_pass_and_class_indices_the_plain_update(monkeypatch):
    calls = []
    original = PerImageState.update

    def recording(self, preds, probs, target):
        calls.append(tuple(preds.shape))
        return original(self, preds, probs, target)

    monkeypatch.setattr(PerImageState, "update", recording)
    methods, data = _methods(1), _data(1)
    kwargs = dict(task="segmentation", test="welch", num_classes=CLASSES, ignore_index=255, progress=False,
                  per_image="int32")
    fused = compare(methods, data, **kwargs)
    assert calls == []  # counted by PerImageCounts.update_logits, with the confusion matrix
    indices = compare(methods, data, predict_fn=_class_indices, **kwargs)
    assert len(calls) == 6 * len(data)  # 6 models, every batch
    np.testing.assert_array_equal(fused.per_image.counts.values, indices.per_image.counts.values)
    np.testing.assert_array_equal(fused.confusion.values, indices.confusion.values)


def test_an_eval_spec_carries_per_image_to_run_comparison():
    spec = EvalSpec(task="segmentation", test="welch", num_classes=CLASSES, ignore_index=255, per_image=True)
    assert spec.per_image is True
    with pytest.raises(ValueError, match="per_image must be True, False, 'int64' or 'int32'"):
        EvalSpec(task="segmentation", num_classes=CLASSES, per_image="yes")


def test_per_image_is_refused_under_torch_distributed_before_any_batch(monkeypatch):
    compare_module = importlib.import_module("mushin.evaluation.compare")
    monkeypatch.setattr(compare_module, "rank_shard", lambda data: RankShard(0, 2, by_batch=True))
    forwards = []
    methods = _methods(2)
    for models in methods.values():
        for model in models:
            model.register_forward_hook(lambda *args: forwards.append(1))
    for one_pass in (True, False):
        with pytest.raises(NotImplementedError, match=r"per_image=True under torch.distributed is not supported"):
            compare(methods, _data(2), task="segmentation", test="welch", num_classes=CLASSES, ignore_index=255,
                    progress=False, per_image=True, one_pass=one_pass)
    assert forwards == []


# ------------------------------------------------------------ save / load --


def _saved_result(tmp_path, ignore_index=255, class_names=None):
    torch.manual_seed(3)
    methods = {"a": [nn.Conv2d(3, CLASSES, 1) for _ in range(3)], "b": [nn.Conv2d(3, CLASSES, 1) for _ in range(2)]}
    data = _data(3)
    if ignore_index != 255:
        for _, y in data:
            y[y == 255] = ignore_index
    result = compare(methods, data, task="segmentation", test="welch", num_classes=CLASSES, ignore_index=ignore_index,
                     class_names=class_names, progress=False, per_image=True)
    return result, methods, data, result.save(tmp_path / "run")


@pytest.mark.parametrize("ignore_index, class_names", [(255, None), (0, ["sky", "road", "car", "tree", "person"])])
def test_save_and_load_keep_the_per_image_counts(tmp_path, ignore_index, class_names):
    from mushin import BenchmarkResult

    result, methods, data, folder = _saved_result(tmp_path, ignore_index, class_names)
    loaded = BenchmarkResult.load(folder)
    assert loaded.per_image.counts.identical(result.per_image.counts)
    assert loaded.per_image.ignore_index == ignore_index
    # the counts on disk are NumPy's count of each image (b's missing third seed is -1)
    on_disk = np.load(folder / "per_image.npy")
    np.testing.assert_array_equal(on_disk[1, 2], -1)
    np.testing.assert_array_equal(on_disk[0, 1], _numpy_counts(methods["a"][1], data, ignore_index))
    want = result.bootstrap("miou", n=200, seed=4)
    got = loaded.bootstrap("miou", n=200, seed=4)
    np.testing.assert_array_equal(got.resamples["difference"].values, want.resamples["difference"].values)


def test_a_result_without_per_image_counts_saves_no_file(tmp_path):
    from mushin import BenchmarkResult

    methods, data = _methods(4), _data(4)
    result = compare(methods, data, task="segmentation", test="welch", num_classes=CLASSES, ignore_index=255,
                     progress=False)
    folder = result.save(tmp_path / "run")
    assert not (folder / "per_image.npy").exists()
    assert BenchmarkResult.load(folder).per_image is None


def test_damaged_per_image_counts_are_refused_naming_the_file(tmp_path):
    from mushin import BenchmarkResult

    _, _, _, folder = _saved_result(tmp_path)
    path = folder / "per_image.npy"
    good = np.load(path)
    edited = good.copy()
    edited[0, 1, 3, 2, 0] += 1
    np.save(path, edited)
    with pytest.raises(ValueError, match=r"per_image\.npy: per-image counts of method 'a', seed 1 do not sum"):
        BenchmarkResult.load(folder)
    edited = good.copy()
    edited[1, 2, 0, 0, 0] = 0
    np.save(path, edited)
    with pytest.raises(ValueError, match=r"method 'b', seed 2 has no confusion matrix"):
        BenchmarkResult.load(folder)
    np.save(path, good[:, :, 1:])
    with pytest.raises(ValueError, match=r"per_image\.npy: holds int64 of shape \(2, 3, 5, 5, 3\), not int64"):
        BenchmarkResult.load(folder)
    np.save(path, good.astype(np.float64))
    with pytest.raises(ValueError, match=r"holds float64"):
        BenchmarkResult.load(folder)
    path.write_bytes(b"not an array")
    with pytest.raises(ValueError, match=r"not a NumPy array file"):
        BenchmarkResult.load(folder)
    path.unlink()
    with pytest.raises(ValueError, match=r"the file is missing"):
        BenchmarkResult.load(folder)


def test_a_study_keeps_per_image_counts_through_its_eval_spec(tmp_path):
    from mushin import Study

    methods, data = _methods(5), _data(5)
    paths = {name: [] for name in methods}
    for name, models in methods.items():
        for j, model in enumerate(models):
            paths[name].append(str(tmp_path / f"{name}-{j}.pt"))
            torch.save(model, paths[name][-1])
    spec = EvalSpec(task="segmentation", test="welch", num_classes=CLASSES, ignore_index=255, per_image=True)
    result = Study.from_checkpoints(paths, lambda p: torch.load(p, weights_only=False), data, seeds=[7, 8, 9],
                                    spec=spec, progress=False).run()
    assert result.per_image.counts["seed"].values.tolist() == [7, 8, 9]
    for name, models in methods.items():
        for j, model in enumerate(models):
            np.testing.assert_array_equal(result.per_image.counts.sel({"method": name}).values[j],
                                          _numpy_counts(model, data))
