"""compare(): stream an evaluation set through every model, then test.

Each model runs once over ``data`` under ``torch.no_grad()`` in eval mode on
the device of its parameters.  Its predictions go, batch by batch, into one
confusion matrix (``O(C^2)`` state): CPU tensors are counted by the C core
through DLPack with the GIL released; tensors on another device are reduced
there with torch, and only the ``C x C`` counts come back to the host.
"""
from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np

from . import stats
from ._core import ConfusionMatrix
from .distributed import KeptScores, rank_shard
from .result import BenchmarkResult, build_result, check_class_names
from .tasks import DefaultPredict, Task, get_task, metric_kind, resolve_battery

__all__ = ["compare", "run_comparison", "evaluate_model", "DeviceConfusionMatrix"]

PredictFn = Callable[[Any, Any], Tuple[Any, Any]]

# The C core's limit: a C x C int64 matrix of 65536 classes is 32 GiB.
MAX_CLASSES = 1 << 16


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


def _check_num_classes(num_classes: Any, task: Task) -> Optional[int]:
    if num_classes is None:
        if task.requires_num_classes:
            raise ValueError(
                f"compare(task={task.name!r}) needs num_classes=...: the number of classes "
                "the model predicts (21 for PASCAL VOC)"
            )
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"num_classes must be an int, got {num_classes!r}")
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(
            f"num_classes must be between 1 and {MAX_CLASSES} (one {MAX_CLASSES}x{MAX_CLASSES} "
            f"int64 confusion matrix is 32 GiB), got {num_classes}"
        )
    return int(num_classes)


def _check_ignore_index(ignore_index: Any) -> Optional[int]:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
    if not -(2**63) <= ignore_index < 2**63:
        raise ValueError(
            f"ignore_index={ignore_index} does not fit in int64, so no label can equal it; "
            "pass the label value that marks void pixels (e.g. 255), or None"
        )
    return int(ignore_index)


def _check_device(device: Any) -> Any:
    """Parse ``device=`` now, so that a typo fails before any model runs or trains."""
    if device is None:
        return None
    import torch

    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str such as 'cuda:0' or a torch.device, got {device!r}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ({exc}); use e.g. 'cpu' or 'cuda:0'") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}, but CUDA is not available here; use device='cpu' or None")
    return device


def select_metrics(
    task: Task, metrics: Any, prob_metrics: Optional[Sequence[str]]
) -> Tuple[Optional[Mapping[str, Any]], Optional[Sequence[str]]]:
    """``metrics=`` as a battery: a list of names selects those entries of the task's battery.

    The names keep the list's order; those among the task's ``prob_metrics``
    take probabilities, unless ``prob_metrics`` is given.  A dict (or
    ``None``) is returned as it is, for :func:`~mushin.tasks.resolve_battery`
    to check.
    """
    if metrics is None or isinstance(metrics, Mapping):
        return metrics, prob_metrics
    available = list(task.battery)
    # a set has no order, and the battery's order is the order of every table
    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Sequence):
        raise TypeError(
            f"metrics must be a list of metric names such as {available[:2]} or a dict "
            f"{{name: metric}}, got {type(metrics).__name__} {metrics!r}"
            + (f"; write metrics=[{metrics!r}]" if isinstance(metrics, str) else "")
        )
    names = list(metrics)
    if not names:
        raise ValueError(f"metrics=[] selects nothing; name some of {available}, or leave metrics out")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"metrics[{i}] is {name!r}; a list of metrics holds metric names (str)")
    unknown = [name for name in names if name not in task.battery]
    if unknown:
        raise ValueError(
            f"metrics={names}: task {task.name!r} has no metric(s) {unknown}; available: {available} "
            "(or pass a dict {name: metric} for metrics of your own)"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"metrics={names} names {repeated} more than once")
    if prob_metrics is None:
        prob_metrics = [name for name in names if name in task.prob_metrics]
    return {name: task.battery[name] for name in names}, prob_metrics


# --------------------------------------------------- device accumulation --


class DeviceConfusionMatrix:
    """Confusion counts kept on the tensors' device (e.g. CUDA) with torch.

    Each batch is reduced on the device with one ``bincount``; nothing is
    copied to the host until :attr:`counts` is read, so there is no
    per-batch synchronisation.  Invalid values cannot be reported per batch
    without a sync, so a batch holding any is dropped whole on the device and
    :meth:`check` raises the ``ValueError`` at the end of the stream.
    """

    def __init__(self, num_classes: int, ignore_index: Optional[int], device: Any):
        import torch

        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.device = torch.device(device)
        self._counts = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=self.device)
        # Kept on the device, in O(1) memory however many batches come:
        # [bad targets, bad preds] over all batches, how many batches were
        # bad, and the numbers of the first 10 (slot 10 takes the rest).
        self._bad_total = torch.zeros(2, dtype=torch.int64, device=self.device)
        self._bad_batch_count = torch.zeros(1, dtype=torch.int64, device=self.device)
        self._bad_batches = torch.full((11,), -1, dtype=torch.int64, device=self.device)
        self._batches = 0

    def update(self, preds: Any, target: Any) -> None:
        import torch

        C = self.num_classes
        p = preds.reshape(-1).to(torch.int64)
        t = target.reshape(-1).to(torch.int64)
        p_ok = (p >= 0) & (p < C)
        t_ok = (t >= 0) & (t < C)
        if self.ignore_index is not None:
            ignored = t == self.ignore_index
            keep = ~ignored
            bad_t = keep & ~t_ok
            bad_p = ~p_ok & ~(ignored & (p == self.ignore_index))
        else:
            keep = torch.ones_like(t_ok)
            bad_t = ~t_ok
            bad_p = ~p_ok
        valid = keep & t_ok & p_ok
        flat = torch.where(valid, t * C + p, torch.full_like(t, C * C))
        batch = torch.bincount(flat, minlength=C * C + 1)[: C * C]
        n_bad = torch.stack([bad_t.sum(), bad_p.sum()])
        is_bad = n_bad.sum().reshape(1) > 0
        self._counts += batch * ~is_bad
        self._bad_total += n_bad
        slot = self._bad_batch_count.clamp(max=10)
        number = torch.full((1,), self._batches, dtype=torch.int64, device=self.device)
        self._bad_batches.scatter_(0, slot, torch.where(is_bad, number, self._bad_batches.gather(0, slot)))
        self._bad_batch_count += is_bad
        self._batches += 1

    def check(self) -> None:
        """Raise ``ValueError`` if any batch held invalid values (one sync)."""
        if not self._batches:
            return
        totals = self._bad_total.cpu().numpy()
        if totals.any():
            count = min(int(self._bad_batch_count.item()), 10)
            rows = self._bad_batches[:count].cpu().numpy()
            parts = []
            for which, total in (("target", int(totals[0])), ("preds", int(totals[1]))):
                if total:
                    parts.append(f"{which} held {total} value(s) outside [0, {self.num_classes})")
            hint = ""
            if self.ignore_index is None and totals[0]:
                hint = "; if 255 marks void pixels, pass ignore_index=255"
            raise ValueError(
                f"{'; '.join(parts)} in batch(es) {rows.tolist()}"
                + (f" (not ignore_index={self.ignore_index})" if self.ignore_index is not None else "")
                + "; those batches were not counted"
                + hint
            )

    @property
    def counts(self) -> np.ndarray:
        self.check()
        return self._counts.reshape(self.num_classes, self.num_classes).cpu().numpy()


# ------------------------------------------------------------ evaluation --


def _model_device(model: Any) -> Any:
    import torch

    if isinstance(model, torch.nn.Module):
        for tensor in model.parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return torch.device("cpu")


def _to_device(x: Any, device: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True) if x.device != device else x
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    if isinstance(x, Mapping):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _split_batch(batch: Any, index: int) -> Tuple[Any, Any]:
    if isinstance(batch, Mapping) or not isinstance(batch, Sequence) or len(batch) != 2:
        kind = type(batch).__name__
        size = f" of length {len(batch)}" if isinstance(batch, Sequence) else ""
        raise TypeError(f"batch {index} is a {kind}{size}; data must yield (x, y) pairs")
    return batch[0], batch[1]


def _as_labels(y: Any, index: int) -> Any:
    import torch

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
    import torch

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


# The batch an error of evaluate_model came from, kept on the exception so
# that run_comparison can say where without every message repeating it.
_BATCH_ATTRIBUTE = "_mushin_batch"


def _tag_batch(exc: BaseException, index: int) -> None:
    if getattr(exc, _BATCH_ATTRIBUTE, None) is None:
        try:
            setattr(exc, _BATCH_ATTRIBUTE, index)
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass


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
    import torch

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


def _call_predict(predict: PredictFn, model: Any, x: Any, index: int) -> Tuple[Any, Any]:
    out = predict(model, x)
    if not isinstance(out, tuple) or len(out) != 2:
        got = f"a tuple of length {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise TypeError(
            f"batch {index}: predict_fn must return a 2-tuple (predictions, probabilities), "
            f"got {got}; with no probabilities, return (preds, preds)"
        )
    return out


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
    import copy

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
    import torch

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
    from ._core import CalibrationBins, RocScores

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


def stream_values(streams: Streams) -> Dict[str, float]:
    """``compute()`` of every accumulator as a float."""
    values = {}
    for name, (accumulator, _) in streams.items():
        value = accumulator.compute()
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"metric {name!r}: compute() returned {type(value).__name__} "
                f"{getattr(value, 'shape', '')}; a battery metric must compute one number"
            ) from None
    return values


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


# -------------------------------------------------------------- overlap --
# The C updates release the GIL, so a batch's accumulation (confusion counts
# and streamed metrics) can run on a worker thread while this thread computes
# the next batch's forward pass.

# Handing a batch to the worker costs about 50 us; counting predictions (or
# logits) of 2**15 elements takes longer than that, fewer are counted inline.
_OVERLAP_MIN_ELEMENTS = 1 << 15


def _storage_pointers(tensors: Tuple[Any, ...]) -> Set[int]:
    import torch

    return {
        t.untyped_storage().data_ptr()
        for t in tensors
        if isinstance(t, torch.Tensor) and t.numel() > 0
    }


def _on_cpu(tensors: Tuple[Any, ...]) -> bool:
    import torch

    return all(t.device.type == "cpu" for t in tensors if isinstance(t, torch.Tensor))


class _AccumulationPipeline:
    """Runs each batch's accumulation on one worker thread, at most one batch behind.

    :meth:`submit` first waits for the previous batch's job, re-raising its
    error, so a failure surfaces before any later batch is accumulated and
    the state holds exactly the batches before the failing one.  The worker
    drops its job before reporting it done, so once :meth:`wait` returns no
    reference to that batch is left here; the thread is joined on exit,
    error or not.  Jobs run inline (after the previous one finished) when
    ``overlap`` is off, for tensors off the CPU (torch streams are per
    thread), for predictions (or logits) of fewer than
    ``_OVERLAP_MIN_ELEMENTS`` elements, for the first batch, and for every
    batch when the second batch's tensors reuse the first one's memory: a
    source that refills one buffer in place would otherwise overwrite a
    batch while it is counted.
    """

    def __init__(self, overlap: bool, progress: Any = None):
        self._overlap = overlap
        self._progress = progress
        self._thread: Optional[threading.Thread] = None
        self._jobs: "queue.Queue[Optional[Callable[[], None]]]" = queue.Queue(maxsize=1)
        self._idle = threading.Event()
        self._in_flight = False
        self._error: Optional[BaseException] = None
        self._batches = 0
        self._first_pointers: Set[int] = set()

    def submit(self, job: Callable[[], None], tensors: Tuple[Any, ...]) -> None:
        """Accumulate a batch with ``job``; ``tensors`` are its (predictions or logits, ...)."""
        self.wait()
        self._batches += 1
        if self._overlap and self._batches <= 2:
            pointers = _storage_pointers(tensors)
            if self._batches == 1:
                self._first_pointers = pointers
            elif pointers & self._first_pointers:
                self._overlap = False
        small = tensors[0].numel() < _OVERLAP_MIN_ELEMENTS
        if not self._overlap or self._batches == 1 or small or not _on_cpu(tensors):
            job()
            self._done()
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="mushin-accumulate", daemon=True)
            self._thread.start()
        self._idle.clear()
        self._in_flight = True
        self._jobs.put(job)

    def _work(self) -> None:
        import torch

        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                with torch.no_grad():  # grad mode is per thread
                    job()
            except BaseException as exc:  # handed to the main thread by wait()
                self._error = exc
            job = None  # drop the batch before reporting it done
            self._idle.set()

    def wait(self) -> None:
        """Block until the batch in flight is accumulated; raise its error."""
        if not self._in_flight:
            return
        self._idle.wait()
        self._in_flight = False
        error, self._error = self._error, None
        if error is not None:
            raise error
        self._done()

    def _done(self) -> None:
        if self._progress is not None:
            self._progress.update(1)

    def __enter__(self) -> "_AccumulationPipeline":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.wait()
            elif issubclass(exc_type, Exception):
                # an error of the batch in flight came first: raise it instead
                try:
                    self.wait()
                except Exception as earlier:
                    raise earlier from earlier.__cause__
            elif self._in_flight:  # KeyboardInterrupt and the like win
                self._idle.wait()
                self._in_flight = False
                self._error = None
        finally:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread.join()
                self._thread = None


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
    ranks (see :mod:`mushin.distributed`).
    """
    import torch

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
        labels = _count_batch(cpu_counts, preds, y, task, labels_needed)
        if labels is None:
            pass  # logits counted by the fused kernel; no stream takes class indices
        elif labels.device.type == "cpu" and y.device.type == "cpu":
            cpu_counts.update(labels, y)
        else:
            if device_counts is None:
                device_counts = DeviceConfusionMatrix(num_classes, ignore_index, labels.device)
            device_counts.update(labels, _to_device(y, labels.device))
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
        :class:`~mushin.tasks.Task`.
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
        :class:`~mushin.tasks.StreamingMetric`, or an object with
        ``update/compute/reset`` such as a torchmetrics metric (deep-copied
        and reset for every model; it sees the raw labels, so build it with
        your own ``ignore_index``).
    prob_metrics : list of str, optional
        With ``metrics=``: the names whose ``update`` receives the
        probabilities from ``predict_fn``; every other entry receives
        class-index predictions.  Default: none.

    Returns
    -------
    BenchmarkResult

    Notes
    -----
    A batch's metric update runs on a worker thread while the next batch's
    forward pass runs (the C core releases the GIL); results do not change.
    When ``torch.distributed`` is initialised, every rank evaluates a shard
    of ``data`` and gets the result of one process over all of it; see
    :mod:`mushin.distributed` for who shards what.

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
    task_obj = get_task(task)
    stats.check_test(test)
    stats.check_correction(correction)
    alpha = stats.check_alpha(alpha)
    methods_checked = _check_methods(methods)
    stats.check_design(test, {name: len(models) for name, models in methods_checked.items()})
    _check_data(data)
    num_classes_checked = _check_num_classes(num_classes, task_obj)
    ignore_checked = _check_ignore_index(ignore_index)
    if predict_fn is not None and not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable, got {type(predict_fn).__name__}")
    names_checked = check_class_names(class_names, num_classes_checked)
    metrics, prob_metrics = select_metrics(task_obj, metrics, prob_metrics)
    resolve_battery(task_obj, metrics, prob_metrics)
    _check_device(device)
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (auto: on for a terminal), got {progress!r}")

    loaders = {name: [_Given(model) for model in models] for name, models in methods_checked.items()}
    with _progress_bar(progress, sum(len(m) for m in methods_checked.values()), data) as bar:
        return run_comparison(
            loaders,
            data,
            task_obj,
            num_classes=num_classes_checked,
            ignore_index=ignore_checked,
            predict_fn=predict_fn,
            test=test,
            alpha=alpha,
            correction=correction,
            device=device,
            progress=bar,
            class_names=names_checked,
            metrics=metrics,
            prob_metrics=prob_metrics,
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
) -> BenchmarkResult:
    """Evaluate lazily obtained models one at a time, then build the result.

    ``loaders[method][i]()`` returns the model of seed ``i``; it is called
    right before that model is evaluated and dropped right after, so at most
    one model is alive here at a time (``Study`` relies on this).  Arguments
    must already be validated (``compare`` and ``Study`` do that).
    """
    battery, prob_names = resolve_battery(task, *select_metrics(task, metrics, prob_metrics))
    confusion: Dict[str, np.ndarray] = {}
    streamed: Dict[str, Dict[str, List[float]]] = {}
    first: Optional[Tuple[str, int]] = None  # (where, batches) of the first model
    for name, method_loaders in loaders.items():
        per_seed = []
        for j, load in enumerate(method_loaders):
            given = "methods" if isinstance(load, _Given) else "checkpoints"
            where = f"method {name!r}, seed {seeds[j]}" if seeds is not None else (
                f"method {name!r}, seed {j} ({given}[{name!r}][{j}])"
            )
            model = load()
            streams = make_streams(battery, prob_names, num_classes, ignore_index)
            batches: List[int] = []
            try:
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
                )
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
            for metric, value in stream_values(streams).items():
                streamed.setdefault(metric, {}).setdefault(name, []).append(value)
            del model, streams
        confusion[name] = np.stack(per_seed)
    settings = {
        "task": task.name,
        "num_classes": num_classes,
        "ignore_index": ignore_index,
        "test": test,
        "alpha": alpha,
        "correction": correction,
    }
    return build_result(
        confusion,
        task,
        settings,
        seeds=seeds,
        class_names=class_names,
        battery=battery,
        metric_values=streamed,
    )
