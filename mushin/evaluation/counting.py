"""The classification and segmentation path of one model: predictions checked, then counted.

A :class:`ConfusionSink` is what the pipeline (:mod:`mushin.evaluation.pipeline`)
feeds one model's batches to: it checks the labels and the output of
``predict_fn`` on the calling thread, then hands back the batch's
accumulation (confusion counts, and the streamed metrics such as AUROC and
ECE) for the pipeline to run, overlapped with the next forward pass.  Every
counting rule lives in the C core: CPU tensors go to ``ConfusionMatrix``
by DLPack, and tensors on another device are copied to the host once per
batch and counted by the same C state (:class:`DeviceConfusionMatrix`).
"""
from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .._core import CalibrationBins, ConfusionMatrix, RocScores
from ..metrics.states import host_logits, is_torchmetrics_metric, metric_values, naming_metric
from ..metrics.tasks import DefaultPredict, Task, metric_kind
from .pipeline import _call_predict, _tag_batch, _to_device

__all__ = ["ConfusionSink", "DeviceConfusionMatrix", "make_streams", "update_streams", "stream_values"]

PredictFn = Callable[[Any, Any], Tuple[Any, Any]]

# ------------------------------------------------------------ the checks --


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
    fused = not labels_needed and host_logits(preds, y)
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
        with naming_metric(name, batch=index):
            if not takes_probs:
                accumulator.update(preds, _to_device(y, preds.device))
            elif isinstance(accumulator, (RocScores, CalibrationBins)):
                if flat_probs is None:
                    # the C accumulators read (N, C) rows in host memory
                    flat_probs = probs.detach().movedim(task.class_dim, -1).reshape(-1, num_classes)
                    flat_probs = flat_probs.cpu()
                    flat_y = y.reshape(-1).cpu()
                accumulator.update(flat_probs, flat_y)
            else:
                accumulator.update(probs, _to_device(y, probs.device))


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


# --------------------------------------------------- device accumulation --

# The C core's message for a batch it refused; the counts are read back from it.
_BAD_COUNT = re.compile(r"\b(target|preds) holds (\d+) value")


class DeviceConfusionMatrix:
    """Confusion counts of tensors on another device (e.g. CUDA), counted by the C core.

    Each batch is copied to host memory once (asynchronously: CUDA tensors go
    to pinned memory behind an event) and counted by
    :class:`~mushin._core.ConfusionMatrix`, so the checks and the counting
    are the C core's, as for CPU tensors.  A batch is counted when the next
    one arrives (or when :attr:`counts` is read), so the device does not wait
    for the host after every batch, and at most one batch is held on the
    host.  A batch the C core refuses (a value outside ``[0, num_classes)``
    that is not ``ignore_index``) is left out, as the C core leaves its
    counts unchanged; :meth:`check` raises the ``ValueError`` at the end of
    the stream, naming the batches.
    """

    def __init__(self, num_classes: int, ignore_index: Optional[int], device: Any):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.device = torch.device(device)
        self._host = ConfusionMatrix(num_classes, ignore_index)
        self._pending: Optional[Tuple[Any, Any, Any, int]] = None
        # O(1) memory however many batches come: [bad targets, bad preds] over
        # all batches, how many batches were bad, and the numbers of the first 10.
        self._bad_total = [0, 0]
        self._bad_batch_count = 0
        self._bad_batches: List[int] = []
        self._other_error: Optional[BaseException] = None
        self._batches = 0

    def update(self, preds: Any, target: Any) -> None:
        event = None
        host_preds, host_target = _to_host(preds), _to_host(target)
        if any(t.device.type == "cuda" for t in (preds, target)):
            event = torch.cuda.Event()
            event.record()
        self._flush()
        self._pending = (host_preds, host_target, event, self._batches)
        self._batches += 1

    def _flush(self) -> None:
        if self._pending is None:
            return
        preds, target, event, number = self._pending
        self._pending = None
        if event is not None:
            event.synchronize()
        try:
            self._host.update(preds, target)
        except ValueError as exc:
            found = {which: int(n) for which, n in _BAD_COUNT.findall(str(exc))}
            if not found:  # not a bad value: reported as it is at the end
                if self._other_error is None:
                    self._other_error = exc
                return
            self._bad_total[0] += found.get("target", 0)
            self._bad_total[1] += found.get("preds", 0)
            if len(self._bad_batches) < 10:
                self._bad_batches.append(number)
            self._bad_batch_count += 1

    def check(self) -> None:
        """Count the batch still held, then raise ``ValueError`` if any batch was refused."""
        self._flush()
        if self._other_error is not None:
            raise self._other_error
        if not self._bad_batch_count:
            return
        parts = []
        for which, total in (("target", self._bad_total[0]), ("preds", self._bad_total[1])):
            if total:
                parts.append(f"{which} held {total} value(s) outside [0, {self.num_classes})")
        hint = ""
        if self.ignore_index is None and self._bad_total[0]:
            hint = "; if 255 marks void pixels, pass ignore_index=255"
        raise ValueError(
            f"{'; '.join(parts)} in batch(es) {self._bad_batches}"
            + (f" (not ignore_index={self.ignore_index})" if self.ignore_index is not None else "")
            + "; those batches were not counted"
            + hint
        )

    @property
    def _counts(self) -> Any:
        """The counts so far as a flat int64 tensor, refused batches left out."""
        self._flush()
        return torch.from_numpy(self._host.counts.reshape(-1))

    @property
    def counts(self) -> np.ndarray:
        self.check()
        return self._host.counts


def _to_host(t: Any) -> Any:
    if t.device.type == "cpu":
        return t
    # from CUDA, non_blocking copies into pinned memory; the event says when it is there
    return t.to("cpu", non_blocking=True)


# -------------------------------------------------- streams across ranks --


def check_streams_mergeable(streams: Optional[Streams], rank: int, world_size: int) -> None:
    """Refuse, before any batch, a streamed metric whose state cannot be combined across ranks.

    Raises ``TypeError`` for an accumulator mushin cannot merge, and
    ``ValueError`` for a torchmetrics metric built with ``sync_on_compute=False``.
    """
    for name, (accumulator, _) in (streams or {}).items():
        if isinstance(accumulator, (RocScores, CalibrationBins)):
            continue
        if is_torchmetrics_metric(accumulator):
            if not getattr(accumulator, "sync_on_compute", True):
                raise ValueError(
                    f"metric {name!r} was built with sync_on_compute=False, so its compute() "
                    f"would see only this rank's share of the data (rank {rank} of "
                    f"{world_size}); build it with sync_on_compute=True"
                )
            continue
        raise TypeError(
            f"metric {name!r}: its accumulator {type(accumulator).__name__} cannot be "
            f"combined across the {world_size} processes of torch.distributed; "
            "mushin merges ConfusionMatrix, CalibrationBins and RocScores state, and "
            "torchmetrics metrics synchronise themselves.  Evaluate in one process, or "
            "use a torchmetrics metric for it"
        )


def export_streams(streams: Optional[Streams]) -> Dict[str, Any]:
    """The state of each accumulator that travels to the other ranks (its ``state_dict()``)."""
    return {
        name: accumulator.state_dict() if isinstance(accumulator, (RocScores, CalibrationBins)) else None
        for name, (accumulator, _) in (streams or {}).items()
    }


def merge_streams(streams: Optional[Streams], exports: Sequence[Mapping[str, Any]]) -> None:
    """Make every C accumulator the merge of all ranks' states, in rank order (bit-identical on all ranks).

    torchmetrics objects synchronise themselves in ``compute()``.
    """
    for name, (accumulator, _) in (streams or {}).items():
        if isinstance(accumulator, RocScores):
            accumulator.reset()
            for export in exports:
                accumulator.merge(export[name])
        elif isinstance(accumulator, CalibrationBins):
            accumulator.reset()
            for export in exports:
                state = export[name]
                accumulator.merge(state["counts"], state["confidence_fixed"], state["accuracy_sums"])


# ------------------------------------------------------------ the sink --


class ConfusionSink:
    """One model's confusion counts and streamed metrics, fed batch by batch by the pipeline.

    ``counts`` is the C ``ConfusionMatrix`` (or a stand-in with the same
    methods) that CPU tensors are counted into; tensors on another device go
    to a :class:`DeviceConfusionMatrix` made on first use.  After the pass,
    :meth:`finish` gives the ``(C, C)`` counts and :meth:`values` the
    streamed metrics.
    """

    def __init__(
        self,
        task: Task,
        num_classes: int,
        ignore_index: Optional[int],
        predict_fn: Optional[PredictFn],
        counts: Any,
        streams: Optional[Streams] = None,
        per_image: Any = None,
    ):
        self.task = task
        # a PerImageState (mushin.metrics.per_image), counted alongside the confusion matrix
        self.per_image = per_image
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.streams = streams
        self.cpu_counts = counts
        self.device_counts: Optional[DeviceConfusionMatrix] = None
        self.counts: Optional[np.ndarray] = None
        if streams is None:
            needs_probs = bool(task.prob_metrics)
        else:
            needs_probs = any(takes_probs for _, takes_probs in streams.values())
        self.labels_needed = bool(streams) and any(not takes_probs for _, takes_probs in streams.values())
        if predict_fn is not None:
            self.predict: PredictFn = predict_fn
        elif isinstance(task.predict_fn, DefaultPredict):
            self.predict = _checked_default_predict(task.predict_fn, num_classes, needs_probs)
        else:
            self.predict = task.predict_fn

    def prepare(self, rank: int, world_size: int) -> None:
        if self.per_image is not None:
            raise NotImplementedError(
                "per_image=True under torch.distributed is not supported yet; run one process"
            )
        check_streams_mergeable(self.streams, rank, world_size)

    def step(self, model: Any, x: Any, y: Any, index: int) -> Tuple[Callable[[], None], Tuple[Any, ...]]:
        """Run the model on one batch and check its output; return the batch's accumulation."""
        y = _as_labels(y, index)
        preds, probs = _call_predict(self.predict, model, x, index)
        preds = _as_predictions(preds, y, index, self.task, self.num_classes)
        return functools.partial(self._accumulate, preds, probs, y, index), (preds, probs, y)

    def _accumulate(self, preds: Any, probs: Any, y: Any, index: int) -> None:
        try:
            if self.per_image is None:
                labels = _count_batch(self.cpu_counts, preds, y, self.task, self.labels_needed)
            else:  # one pass over CPU logits counts both (see PerImageState.count_batch)
                labels = self.per_image.count_batch(
                    self.cpu_counts, preds, y, self.task.class_dim, self.labels_needed
                )
            if labels is None:
                pass  # logits counted by the fused kernel; no stream takes class indices
            elif labels.device.type == "cpu" and y.device.type == "cpu":
                self.cpu_counts.update(labels, y)
            else:
                if self.device_counts is None:
                    self.device_counts = DeviceConfusionMatrix(self.num_classes, self.ignore_index, labels.device)
                self.device_counts.update(labels, y)
            if self.per_image is not None and labels is not None:
                self.per_image.update(labels, None, y)
            if self.streams:
                update_streams(
                    self.streams, preds if labels is None else labels, probs, y, index, self.task, self.num_classes
                )
        except Exception as exc:
            hinted = _void_hint(exc, y, self.num_classes, self.ignore_index)
            _tag_batch(hinted, index)
            if hinted is exc:
                raise
            raise hinted from exc

    def finish(self) -> None:
        """The counts of this process (raises the device path's deferred errors)."""
        counts = self.cpu_counts.counts
        if self.device_counts is not None:
            counts = counts + self.device_counts.counts
        self.counts = counts

    def export(self) -> Any:
        return self.counts, export_streams(self.streams)

    def merge_ranks(self, exports: Sequence[Any]) -> None:
        total = np.zeros_like(exports[0][0])
        for counts, _ in exports:
            total += counts
        self.counts = total
        merge_streams(self.streams, [streams for _, streams in exports])

    def values(self) -> Dict[str, Any]:
        return stream_values(self.streams or {})
