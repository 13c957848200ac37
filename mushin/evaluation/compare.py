"""compare(): stream an evaluation set through every model, then test.

Each model runs once over ``data`` under ``torch.no_grad()`` in eval mode on
the device of its parameters.  Its predictions go, batch by batch, into one
confusion matrix (``O(C^2)`` state): CPU tensors are counted by the C core
through DLPack with the GIL released; tensors on another device are reduced
there with torch, and only the ``C x C`` counts come back to the host.
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np
import torch

from .. import stats
from .._core import CalibrationBins, ConfusionMatrix, RocScores
from ..metrics.states import metric_values
from ..metrics.per_image import DEFAULT_MAX_BYTES, make_per_image_state
from ..result.per_image import attach_per_image
from ..result import BenchmarkResult, build_result
from ..metrics.tasks import DefaultPredict, Task, confusion_fast_path, metric_kind, resolve_battery
from .distributed import KeptScores, rank_shard
from .pipeline import (
    DeviceConfusionMatrix,
    _AccumulationPipeline,
    _BATCH_ATTRIBUTE,
    _call_predict,
    _model_device,
    _split_batch,
    _tag_batch,
    _to_device,
    evaluate_states,
    expand_values,
    make_states,
)
from .spec import (
    MAX_CLASSES,
    EvalSpec,
    check_device,
    check_ignore_index,
    check_num_classes,
    select_metrics,
)

__all__ = ["compare", "run_comparison", "evaluate_model", "DeviceConfusionMatrix"]

PredictFn = Callable[[Any, Any], Tuple[Any, Any]]

# ----------------------------------------------------------- validation --


def _check_methods(methods: Any) -> Dict[str, List[Any]]:
    if not isinstance(methods, Mapping) or not methods:
        raise TypeError(
            "methods must be a non-empty dict {name: [model_seed0, model_seed1, ...]}, "
            f"got {type(methods).__name__}"
        )
    out: Dict[str, List[Any]] = {}
    for name, models in methods.items():
        if not isinstance(name, str):
            raise TypeError(f"method names must be strings, got {name!r}")
        if callable(models) or not isinstance(models, Sequence) or isinstance(models, (str, bytes)):
            raise TypeError(
                f"methods[{name!r}] must be a list of models (one per seed), "
                f"got {type(models).__name__}"
            )
        if len(models) == 0:
            raise ValueError(f"methods[{name!r}] is empty; give at least one model")
        for i, model in enumerate(models):
            if not callable(model):
                raise TypeError(
                    f"methods[{name!r}][{i}] is a {type(model).__name__}, not a callable model"
                )
        out[name] = list(models)
    return out


def _check_data(data: Any) -> None:
    if isinstance(data, Iterator) or (hasattr(data, "__next__") and iter(data) is data):
        raise TypeError(
            f"data is a one-shot {type(data).__name__}: it would be exhausted after the "
            "first model.  Pass something that can be iterated again, such as a "
            "torch DataLoader or a list of (x, y) batches"
        )
    if not hasattr(data, "__iter__"):
        raise TypeError(
            f"data must be an iterable of (x, y) batches such as a DataLoader, "
            f"got {type(data).__name__}"
        )
    try:
        size = len(data)
    except (TypeError, NotImplementedError):  # e.g. an IterableDataset's loader: counted while streaming
        return
    if size == 0:
        raise ValueError(
            f"data is empty (a {type(data).__name__} of length 0): every model would score on "
            "nothing; pass at least one (x, y) batch"
        )


# The spec's checks under the names the rest of the package imports them by.
_check_num_classes = check_num_classes
_check_ignore_index = check_ignore_index
_check_device = check_device


# ------------------------------------------------------------ evaluation --


def _as_labels(y: Any, index: int) -> Any:
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(np.asarray(y))
    if y.is_floating_point() or y.is_complex():
        raise TypeError(
            f"batch {index}: labels have dtype {y.dtype}; labels must be integer class "
            "indices (convert with y.long())"
        )
    return y


def _as_predictions(preds: Any, y: Any, index: int, task: Task, num_classes: int) -> Any:
    """Check predict_fn output: class indices with y's shape, or logits.

    Floating predictions with one more dimension than ``y`` are logits with
    classes in ``task.class_dim``; they are returned as they are, to be
    counted by their argmax (see :func:`_count_batch`).
    """
    if not isinstance(preds, torch.Tensor):
        raise TypeError(
            f"batch {index}: predict_fn returned predictions of type {type(preds).__name__}; "
            "expected a tensor of class indices"
        )
    shape = tuple(preds.shape)
    _check_label_channel(preds, y, index, task)
    logits_note = ""
    if preds.is_floating_point():
        if preds.ndim == y.ndim + 1:
            if preds.shape[task.class_dim] != num_classes:
                raise ValueError(
                    f"batch {index}: logits of shape {tuple(preds.shape)} have "
                    f"{preds.shape[task.class_dim]} classes in dim {task.class_dim}, "
                    f"but num_classes={num_classes}"
                )
            dim = task.class_dim % preds.ndim
            shape = shape[:dim] + shape[dim + 1 :]
            logits_note = f" (the argmax of logits of shape {tuple(preds.shape)} over dim {task.class_dim})"
        else:
            raise TypeError(
                f"batch {index}: predictions have dtype {preds.dtype} and shape "
                f"{tuple(preds.shape)} for labels of shape {tuple(y.shape)}; return class "
                "indices (e.g. logits.argmax(dim=1)) as the first element of predict_fn's tuple"
            )
    if shape != tuple(y.shape):
        raise ValueError(
            f"batch {index}: predictions of shape {shape} do not match labels "
            f"of shape {tuple(y.shape)}{logits_note}"
        )
    return preds


def _check_label_channel(preds: Any, y: Any, index: int, task: Task) -> None:
    """Refuse labels with a channel dim of 1, such as (N, 1, H, W) masks.

    Read as they are, they look like predictions of the wrong shape and the
    error would point at predict_fn; the fix is on the labels' side.
    """
    if y.ndim < 2 or y.shape[1] != 1 or tuple(preds.shape) == tuple(y.shape):
        return
    squeezed = tuple(y.shape[:1]) + tuple(y.shape[2:])
    shape = tuple(preds.shape)
    if preds.is_floating_point() and preds.ndim == y.ndim:
        dim = task.class_dim % preds.ndim
        shape = shape[:dim] + shape[dim + 1 :]
    if shape != squeezed:
        return
    pattern = {2: "(N, 1)", 4: "(N, 1, H, W)"}.get(y.ndim, "(N, 1, ...)")
    raise ValueError(
        f"batch {index}: labels have shape {tuple(y.shape)}, i.e. {pattern}, while the predictions "
        f"have shape {squeezed}; squeeze dim 1 (y.squeeze(1)) in your data or collate_fn"
    )


def _void_hint(exc: BaseException, y: Any, num_classes: int, ignore_index: Optional[int]) -> BaseException:
    """``exc`` with a hint to pass ``ignore_index`` when labels hold values >= num_classes."""
    if type(exc) is not ValueError or ignore_index is not None:
        return exc
    try:
        high = y[y >= num_classes]
        if high.numel() == 0:
            return exc
        value = 255 if bool((high == 255).any()) else int(high.max())
    except Exception:  # the hint is a courtesy: never mask the real error
        return exc
    other = "" if value == 255 else f", or check num_classes={num_classes}"
    return ValueError(f"{exc}; if {value} marks void pixels, pass ignore_index={value}{other}")


def _located(exc: BaseException, where: str) -> BaseException:
    """``exc`` with ``where`` (method, seed, batch) at the front of its message.

    The built-in error types are rebuilt with the longer message (the
    original is kept as ``__cause__``); any other type gets ``where`` as a
    note, since its constructor may take other arguments.
    """
    index = getattr(exc, _BATCH_ATTRIBUTE, None)
    text = str(exc)
    separator = ": "
    if index is not None:
        lead = f"batch {index}"
        for sep in (": ", ", "):  # the message may already start with its batch
            if text.startswith(lead + sep):
                text, separator = text[len(lead) + len(sep) :], sep
                break
        where = f"{where}, {lead}"
    if type(exc) in (ValueError, TypeError, RuntimeError, IndexError, OverflowError, NotImplementedError):
        located = type(exc)(f"{where}{separator}{text}")
        located.__cause__ = exc
        return located
    _add_note(exc, f"while evaluating {where}")
    return exc


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)


def _count_batch(
    cpu_counts: ConfusionMatrix, preds: Any, y: Any, task: Task, labels_needed: bool
) -> Any:
    """Count CPU logits with the fused C kernel, or return class indices to count.

    Logits in host memory are counted by ``update_logits`` (argmax and
    counting in one pass, no prediction tensor) and ``None`` is returned,
    unless ``labels_needed`` (a streamed metric takes class indices): then,
    as for logits on another device, their argmax is returned.  Class
    indices are returned as they are.  The counts are identical either way.
    """
    if not preds.is_floating_point():
        return preds
    # the logit dtypes ConfusionMatrix.update_logits reads
    fused_dtypes = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
    fused = (
        not labels_needed
        and preds.device.type == "cpu"
        and y.device.type == "cpu"
        and preds.dtype in fused_dtypes
    )
    if fused:
        cpu_counts.update_logits(preds.detach(), y, class_dim=task.class_dim)
        return None
    return preds.argmax(dim=task.class_dim)


# ------------------------------------------------------- streamed metrics --
# Battery entries that are not functions of the confusion matrix (AUROC, ECE,
# torchmetrics objects) get one accumulator per model, fed batch by batch:
# probabilities for the names in prob_metrics, predictions otherwise.

Streams = Dict[str, Tuple[Any, bool]]


def make_streams(
    battery: Mapping[str, Any],
    prob_metrics: Sequence[str],
    num_classes: int,
    ignore_index: Optional[int],
) -> Streams:
    """Fresh accumulators ``{name: (accumulator, takes_probabilities)}`` for one model."""
    streams: Streams = {}
    for name, entry in battery.items():
        kind = metric_kind(entry, name)
        if kind == "factory":
            accumulator = entry.make(num_classes, ignore_index)
        elif kind == "object":
            accumulator = copy.deepcopy(entry)  # never touch the caller's object
            accumulator.reset()
        else:
            continue
        streams[name] = (accumulator, name in prob_metrics)
    return streams


def _as_probabilities(probs: Any, y: Any, index: int, task: Task, num_classes: int, names: List[str]) -> Any:
    if not isinstance(probs, torch.Tensor) or not probs.is_floating_point():
        got = f"a {probs.dtype} tensor" if isinstance(probs, torch.Tensor) else type(probs).__name__
        raise TypeError(
            f"batch {index}: metric(s) {names} take probabilities, but predict_fn returned {got} "
            "as the second element of its tuple; return (predictions, probabilities) with "
            f"floating-point probabilities of shape {tuple(y.shape[:1]) + (num_classes,)}"
        )
    expected = list(y.shape)
    expected.insert(task.class_dim % (y.ndim + 1), num_classes)
    if list(probs.shape) != expected:
        raise ValueError(
            f"batch {index}: probabilities of shape {tuple(probs.shape)} do not fit labels of "
            f"shape {tuple(y.shape)} with {num_classes} classes in dim {task.class_dim}; "
            f"expected {tuple(expected)}"
        )
    return probs


def update_streams(
    streams: Streams, preds: Any, probs: Any, y: Any, index: int, task: Task, num_classes: int
) -> None:
    """Feed one batch to every accumulator of ``streams``."""
    prob_names = [name for name, (_, takes_probs) in streams.items() if takes_probs]
    flat_probs = flat_y = None
    if prob_names:
        probs = _as_probabilities(probs, y, index, task, num_classes, prob_names)
    for name, (accumulator, takes_probs) in streams.items():
        try:
            if not takes_probs:
                accumulator.update(preds, _to_device(y, preds.device))
            elif isinstance(accumulator, (RocScores, CalibrationBins, KeptScores)):
                if flat_probs is None:
                    # the C accumulators read (N, C) rows in host memory
                    flat_probs = probs.detach().movedim(task.class_dim, -1).reshape(-1, num_classes)
                    flat_probs = flat_probs.cpu()
                    flat_y = y.reshape(-1).cpu()
                accumulator.update(flat_probs, flat_y)
            else:
                accumulator.update(probs, _to_device(y, probs.device))
        except (TypeError, ValueError, RuntimeError) as exc:
            if type(exc) not in (TypeError, ValueError, RuntimeError):
                raise
            raise type(exc)(f"batch {index}, metric {name!r}: {exc}") from exc


def stream_values(streams: Streams) -> Dict[str, Any]:
    """``compute()`` of every accumulator: a float, or ``{key: float}`` for a dict-valued metric."""
    return {
        name: metric_values(accumulator.compute(), f"metric {name!r}")
        for name, (accumulator, _) in streams.items()
    }


def _checked_default_predict(default: DefaultPredict, num_classes: int, with_probs: bool) -> PredictFn:
    """The task's default predict_fn, refusing logits with the wrong number of classes.

    Argmax over fewer classes than ``num_classes`` would count silently (and
    over more would fail later as a bad prediction value), so the class
    dimension is checked against ``num_classes`` here, where the logits are.
    """
    dim = default.class_dim

    def predict(model: Any, x: Any) -> Tuple[Any, Any]:
        logits = default.logits(model, x)
        if logits.shape[dim] != num_classes:
            raise ValueError(
                f"the model returned logits of shape {tuple(logits.shape)} with "
                f"{logits.shape[dim]} classes in dim {dim}, but num_classes={num_classes}"
            )
        # the logits themselves: _count_batch counts their argmax
        return logits, (logits.softmax(dim=dim) if with_probs else None)

    return predict


def evaluate_model(
    model: Any,
    data: Any,
    task: Task,
    *,
    num_classes: int,
    ignore_index: Optional[int] = None,
    predict_fn: Optional[PredictFn] = None,
    device: Any = None,
    progress: Any = None,
    streams: Optional[Streams] = None,
    overlap: bool = True,
    batch_count: Optional[List[int]] = None,
    per_image: Any = None,
) -> np.ndarray:
    """Stream ``data`` through one model; return its ``(C, C)`` confusion counts.

    ``batch_count``, if given, is a list set to ``[number of batches data
    yielded]`` (on every rank, all of them).  Without it, data that yields
    no batch raises ``ValueError``.

    ``progress``, if given, is advanced by ``progress.update(1)`` after each
    batch (e.g. a tqdm bar).  ``streams`` (from :func:`make_streams`) are
    fed every batch as well; read them afterwards with :func:`stream_values`.

    With ``overlap`` (the default) a batch's accumulation runs on one worker
    thread while the next batch's forward pass runs on this one; counts,
    metrics and errors are the same as with ``overlap=False``.  When
    ``torch.distributed`` is initialised, this rank evaluates its shard of
    ``data`` and the counts and ``streams`` returned are summed over all
    ranks (see :mod:`mushin.evaluation.distributed`).
    """
    dev = torch.device(device) if device is not None else _model_device(model)
    if device is not None and isinstance(model, torch.nn.Module):
        model.to(dev)
    if streams is None:
        needs_probs = bool(task.prob_metrics)
    else:
        needs_probs = any(takes_probs for _, takes_probs in streams.values())
    if predict_fn is None:
        default = task.predict_fn
        if isinstance(default, DefaultPredict):
            predict = _checked_default_predict(default, num_classes, needs_probs)
        else:
            predict = default
    else:
        predict = predict_fn

    shard = rank_shard(data)
    if shard is not None:
        shard.prepare(streams)

    cpu_counts = ConfusionMatrix(num_classes, ignore_index)
    device_counts: Optional[DeviceConfusionMatrix] = None

    labels_needed = bool(streams) and any(not takes_probs for _, takes_probs in streams.values())
    if per_image is not None and shard is not None:
        raise NotImplementedError("per_image=True under torch.distributed is not supported yet; run one process")

    def accumulate(preds: Any, probs: Any, y: Any, index: int) -> None:
        try:
            accumulate_batch(preds, probs, y, index)
        except Exception as exc:
            hinted = _void_hint(exc, y, num_classes, ignore_index)
            _tag_batch(hinted, index)
            if hinted is exc:
                raise
            raise hinted from exc

    def accumulate_batch(preds: Any, probs: Any, y: Any, index: int) -> None:
        nonlocal device_counts
        if per_image is None:
            labels = _count_batch(cpu_counts, preds, y, task, labels_needed)
        else:  # one pass over CPU logits counts both (see PerImageState.count_batch)
            labels = per_image.count_batch(cpu_counts, preds, y, task.class_dim, labels_needed)
        if labels is None:
            pass  # logits counted by the fused kernel; no stream takes class indices
        elif labels.device.type == "cpu" and y.device.type == "cpu":
            cpu_counts.update(labels, y)
        else:
            if device_counts is None:
                device_counts = DeviceConfusionMatrix(num_classes, ignore_index, labels.device)
            device_counts.update(labels, _to_device(y, labels.device))
        if per_image is not None and labels is not None:
            per_image.update(labels, None, y)
        if streams:
            update_streams(streams, preds if labels is None else labels, probs, y, index, task, num_classes)

    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    counts: Optional[np.ndarray] = None
    error: Optional[Exception] = None
    seen = 0
    try:
        with torch.no_grad(), _AccumulationPipeline(overlap, progress) as pipeline:
            for index, batch in enumerate(data):
                seen = index + 1
                if shard is not None and not shard.owns(index):
                    if progress is not None:
                        progress.update(1)
                    continue
                try:
                    x, y = _split_batch(batch, index)
                    y = _as_labels(y, index)
                    preds, probs = _call_predict(predict, model, _to_device(x, dev), index)
                    preds = _as_predictions(preds, y, index, task, num_classes)
                except Exception as exc:
                    _tag_batch(exc, index)
                    raise
                job = functools.partial(accumulate, preds, probs, y, index)
                pipeline.submit(job, (preds, probs, y))
        if batch_count is not None:
            batch_count[:] = [seen]  # the caller says which model saw nothing
        elif seen == 0:
            raise ValueError(
                f"data yielded no batches (a {type(data).__name__}); every model would score on "
                "nothing.  Pass at least one (x, y) batch; a generator or iterator that is "
                "already used up yields nothing"
            )
        counts = cpu_counts.counts
        if device_counts is not None:
            counts = counts + device_counts.counts
    except Exception as exc:
        if shard is None:
            raise
        error = exc  # raised on every rank by reduce(), so none waits for the others
    finally:
        if was_training is not None and hasattr(model, "train"):
            model.train(was_training)
    if shard is not None:
        counts = shard.reduce(counts, streams, error)
    assert counts is not None
    return counts


def compare(
    methods: Mapping[str, Sequence[Any]],
    data: Any,
    task: "str | Task" = "segmentation",
    *,
    num_classes: Optional[int] = None,
    ignore_index: Optional[int] = None,
    predict_fn: Optional[PredictFn] = None,
    test: str = "welch",
    alpha: float = 0.05,
    correction: str = "holm",
    device: Any = None,
    class_names: Optional[Sequence[str]] = None,
    progress: Optional[bool] = None,
    metrics: "Optional[Mapping[str, Any] | Sequence[str]]" = None,
    prob_metrics: Optional[Sequence[str]] = None,
    per_image: "bool | str" = False,
    per_image_max_bytes: int = DEFAULT_MAX_BYTES,
) -> BenchmarkResult:
    """Evaluate every model of every method on ``data`` and test the gaps.

    Parameters
    ----------
    methods : dict of str to list of models
        ``{name: [model_seed0, model_seed1, ...]}``.  The first method is the
        reference of :meth:`BenchmarkResult.summary`.
    data : iterable of (x, y)
        A re-iterable batch source such as a ``DataLoader``; it is streamed
        once per model.  A one-shot iterator raises ``TypeError``; data that
        yields no batch, or not the same number for every model, raises
        ``ValueError``.
    task : str or Task
        ``"segmentation"``, ``"classification"`` or any registered
        :class:`~mushin.metrics.tasks.Task`.
    num_classes : int
        Number of classes the models predict (required).
    ignore_index : int, optional
        Target value excluded from every metric (e.g. 255 for void pixels).
    predict_fn : callable, optional
        ``predict_fn(model, x) -> (predictions, probabilities)``; defaults to
        softmax + argmax over the class dimension.
    test : str
        Significance test across seeds: ``"welch"`` (default),
        ``"ttest_ind"``, ``"ttest_rel"``, ``"wilcoxon"`` or ``"mannwhitney"``
        (see :mod:`mushin.stats`).  Paired tests need the same number of
        seeds for every method.
    alpha : float
        Significance level.
    correction : str
        Multiple-comparison correction per metric across method pairs:
        ``"holm"`` (default), ``"bonferroni"``, ``"fdr_bh"`` or ``"none"``.
    device : str or torch.device, optional
        Move every model (and its inputs) to this device; by default each
        model runs where its parameters are.
    class_names : list of str, optional
        One name per class, used as the ``class`` coordinate of the
        per-class variables (``result.data["per_class_iou"]``, ...).
    progress : bool, optional
        A progress bar over models x batches on stderr: ``None`` (default)
        shows it only when stderr is a terminal, ``False`` never.
    metrics : list of str, or dict of str to metric, optional
        A list of names selects those metrics of the task's battery, in
        that order (``["miou", "dice"]``).  A dict is a custom battery
        replacing the task's: each value is a function
        ``fn(counts, ignore_index) -> float`` of the confusion matrix, a
        :class:`~mushin.metrics.tasks.StreamingMetric`, or an object with
        ``update/compute/reset`` such as a torchmetrics metric (deep-copied
        and reset for every model; it sees the raw labels, so build it with
        your own ``ignore_index``).
    prob_metrics : list of str, optional
        With ``metrics=``: the names whose ``update`` receives the
        probabilities from ``predict_fn``; every other entry receives
        class-index predictions.  Default: none.
    per_image, per_image_max_bytes : bool or {"int64", "int32"}, int
        Keep every image's TP/FP/FN per class as ``result.per_image``, for
        :meth:`BenchmarkResult.bootstrap` (see :mod:`mushin.metrics.per_image`).

    Returns
    -------
    BenchmarkResult

    Notes
    -----
    A batch's metric update runs on a worker thread while the next batch's
    forward pass runs (the C core releases the GIL); results do not change.
    When ``torch.distributed`` is initialised, every rank evaluates a shard
    of ``data`` and gets the result of one process over all of it; see
    :mod:`mushin.evaluation.distributed` for who shards what.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mushin import compare
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> data = [(torch.randn(2, 3, 8, 8), torch.randint(0, 4, (2, 8, 8))) for _ in range(3)]
    >>> methods = {"a": [nn.Conv2d(3, 4, 1) for _ in range(3)],
    ...            "b": [nn.Conv2d(3, 4, 1) for _ in range(3)]}
    >>> result = compare(methods, data, task="segmentation", num_classes=4)
    >>> sorted(result.metrics)
    ['dice', 'miou', 'pixel_acc', 'precision', 'recall']
    """
    spec = EvalSpec(
        task=task,
        num_classes=num_classes,
        ignore_index=ignore_index,
        predict_fn=predict_fn,
        test=test,
        alpha=alpha,
        correction=correction,
        device=device,
        class_names=class_names,
        progress=progress,
        metrics=metrics,
        prob_metrics=prob_metrics,
        per_image=per_image,
        per_image_max_bytes=per_image_max_bytes,
    )
    methods_checked = _check_methods(methods)
    spec.check_design({name: len(models) for name, models in methods_checked.items()})
    _check_data(data)
    loaders = {name: [_Given(model) for model in models] for name, models in methods_checked.items()}
    with _progress_bar(spec.progress, sum(len(m) for m in methods_checked.values()), data) as bar:
        return run_comparison(
            loaders,
            data,
            spec.task,
            num_classes=spec.num_classes,
            ignore_index=spec.ignore_index,
            predict_fn=spec.predict_fn,
            test=spec.test,
            alpha=spec.alpha,
            correction=spec.correction,
            device=spec.device,
            progress=bar,
            class_names=spec.class_names,
            metrics=spec.metrics,
            prob_metrics=spec.prob_metrics,
            per_image=spec.per_image,
            per_image_max_bytes=spec.per_image_max_bytes,
        )


def _progress_bar(progress: Optional[bool], n_models: int, data: Any) -> Any:
    """A tqdm bar over models x batches; disabled off a terminal unless forced."""
    from tqdm.auto import tqdm

    try:
        total: Optional[int] = n_models * len(data)
    except TypeError:
        total = None
    return tqdm(
        total=total,
        desc="mushin: evaluating",
        unit="batch",
        disable=None if progress is None else not progress,
    )


class _Given:
    """A model the caller already holds, behind the same lazy interface as a checkpoint."""

    def __init__(self, model: Any):
        self.model = model

    def __call__(self) -> Any:
        return self.model


def run_comparison(
    loaders: Mapping[str, Sequence[Callable[[], Any]]],
    data: Any,
    task: Task,
    *,
    num_classes: int,
    ignore_index: Optional[int],
    predict_fn: Optional[PredictFn],
    test: str,
    alpha: float,
    correction: str,
    device: Any = None,
    seeds: Optional[Sequence[Any]] = None,
    progress: Any = None,
    class_names: Optional[Sequence[str]] = None,
    metrics: Optional[Mapping[str, Any]] = None,
    prob_metrics: Optional[Sequence[str]] = None,
    per_image: Any = False,
    per_image_max_bytes: int = DEFAULT_MAX_BYTES,
) -> BenchmarkResult:
    """Evaluate lazily obtained models one at a time, then build the result.

    ``loaders[method][i]()`` returns the model of seed ``i``; it is called
    right before that model is evaluated and dropped right after, so at most
    one model is alive here at a time (``Study`` relies on this).  Arguments
    must already be validated (``compare`` and ``Study`` do that).
    """
    battery, prob_names = resolve_battery(task, *select_metrics(task, metrics, prob_metrics))
    # tasks without classes (regression, retrieval, ...) have no confusion matrix
    states_only = num_classes is None
    if not states_only:
        battery = {
            name: entry if name in prob_names else confusion_fast_path(entry, num_classes, ignore_index)
            for name, entry in battery.items()
        }
    result_battery: Optional[Dict[str, Any]] = None
    confusion: Dict[str, np.ndarray] = {}
    streamed: Dict[str, Dict[str, List[float]]] = {}
    first: Optional[Tuple[str, int]] = None  # (where, batches) of the first model
    image_counts: Dict[str, List[np.ndarray]] = {}
    for name, method_loaders in loaders.items():
        per_seed = []
        for j, load in enumerate(method_loaders):
            given = "methods" if isinstance(load, _Given) else "checkpoints"
            where = f"method {name!r}, seed {seeds[j]}" if seeds is not None else (
                f"method {name!r}, seed {j} ({given}[{name!r}][{j}])"
            )
            model = load()
            batches: List[int] = []
            try:
                if states_only:
                    states = make_states(battery, prob_names, None, ignore_index)
                    evaluate_states(
                        model, data, task, states, predict_fn=predict_fn, device=device,
                        progress=progress, batch_count=batches,
                    )
                    counts = np.zeros((0, 0), dtype=np.int64)
                    compute_values = states.values
                else:
                    streams = make_streams(battery, prob_names, num_classes, ignore_index)
                    compute_values = functools.partial(stream_values, streams)
                    image_state = make_per_image_state(per_image, num_classes, ignore_index, per_image_max_bytes)
                    counts = evaluate_model(
                        model,
                        data,
                        task,
                        num_classes=num_classes,
                        ignore_index=ignore_index,
                        predict_fn=predict_fn,
                        device=device,
                        progress=progress,
                        streams=streams,
                        batch_count=batches,
                        per_image=image_state,
                    )
                    if image_state is not None:
                        image_counts.setdefault(name, []).append(image_state.counts)
            except Exception as exc:
                located = _located(exc, where)
                if located is exc:
                    raise
                raise located from exc
            if batches[0] == 0:
                seen_before = f" (it yielded {first[1]} for {first[0]})" if first is not None else ""
                raise ValueError(
                    f"data yielded no batches for {where}{seen_before}: every model would score "
                    "on nothing.  Pass at least one (x, y) batch, from a source that yields the "
                    "same batches every time it is iterated (a DataLoader or a list); a used-up "
                    "generator or iterator yields nothing"
                )
            if first is None:
                first = (where, batches[0])
            elif batches[0] != first[1]:
                raise ValueError(
                    f"data yielded {batches[0]} batch(es) for {where} but {first[1]} for {first[0]}: "
                    "every model must see the same batches.  Pass a re-iterable source that "
                    "yields the same batches every time (a DataLoader or a list), not one that "
                    "runs out or changes between passes"
                )
            per_seed.append(counts)
            try:
                flat, entries = expand_values(compute_values(), battery)
            except Exception as exc:
                located = _located(exc, where)
                if located is exc:
                    raise
                raise located from exc
            if result_battery is None:
                result_battery = entries
            for metric, value in flat.items():
                streamed.setdefault(metric, {}).setdefault(name, []).append(value)
            del model, compute_values
        confusion[name] = np.stack(per_seed)
    settings = {
        "task": task.name,
        "num_classes": num_classes,
        "ignore_index": ignore_index,
        "test": test,
        "alpha": alpha,
        "correction": correction,
    }
    result = build_result(
        confusion,
        task,
        settings,
        seeds=seeds,
        class_names=class_names,
        battery=battery if result_battery is None else result_battery,
        metric_values=streamed,
    )
    return attach_per_image(result, image_counts, seeds, class_names, ignore_index)
