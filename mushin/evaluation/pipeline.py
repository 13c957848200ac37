"""The journey of data through models: batches, devices, states, and ranks.

Data enters here once per model and goes one way: each batch is split into
``(x, y)``, ``x`` moves to the model's device, ``predict_fn`` turns the
model's output into ``(predictions, probabilities)``, and the metric states
take the batch.  Under ``torch.distributed`` every rank evaluates its shard
and the states are merged in rank order afterwards, through the same
``state_dict()``/``merge()`` protocol ``save``/``load`` use.

This module holds the path of the tasks without a confusion matrix
(regression, retrieval, detection, image quality, audio and custom ones),
and the batch helpers both paths share; the confusion-matrix path of
classification and segmentation (fused logits kernel, device counting,
overlap) lives in :mod:`mushin.evaluation.compare`.
"""
from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np
import torch

from .distributed import rank_shard
from ..metrics.states import StateMetric, TorchmetricsState, is_torchmetrics_metric, metric_values
from ..metrics.tasks import StreamingMetric, Task, metric_direction, metric_kind

__all__ = ["ModelStates", "make_states", "evaluate_states", "DeviceConfusionMatrix"]

PredictFn = Callable[[Any, Any], Tuple[Any, Any]]


def _model_device(model: Any) -> Any:

    if isinstance(model, torch.nn.Module):
        for tensor in model.parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return torch.device("cpu")

def _to_device(x: Any, device: Any) -> Any:

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

# The batch an error of evaluate_model came from, kept on the exception so
# that run_comparison can say where without every message repeating it.
_BATCH_ATTRIBUTE = "_mushin_batch"

def _tag_batch(exc: BaseException, index: int) -> None:
    if getattr(exc, _BATCH_ATTRIBUTE, None) is None:
        try:
            setattr(exc, _BATCH_ATTRIBUTE, index)
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass

def _call_predict(predict: PredictFn, model: Any, x: Any, index: int) -> Tuple[Any, Any]:
    out = predict(model, x)
    if not isinstance(out, tuple) or len(out) != 2:
        got = f"a tuple of length {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise TypeError(
            f"batch {index}: predict_fn must return a 2-tuple (predictions, probabilities), "
            f"got {got}; with no probabilities, return (preds, preds)"
        )
    return out



# ------------------------------------------------------------- the states --


class _PlainState:
    """An accumulator with ``update(inputs, target)`` (a StreamingMetric's, or a
    user's object with update/compute/reset) behind the three-argument protocol."""

    def __init__(self, accumulator: Any, takes_probs: bool):
        self.accumulator = accumulator
        self.takes_probs = takes_probs

    def update(self, preds: Any, probs: Any, target: Any) -> None:
        self.accumulator.update(probs if self.takes_probs else preds, target)

    def compute(self) -> Any:
        return self.accumulator.compute()

    def reset(self) -> None:
        self.accumulator.reset()

    @property
    def mergeable(self) -> bool:
        return all(callable(getattr(self.accumulator, m, None)) for m in ("merge", "state_dict"))

    def merge(self, other: Any) -> None:
        self.accumulator.merge(other.accumulator if isinstance(other, _PlainState) else other)

    def state_dict(self) -> Dict[str, Any]:
        return self.accumulator.state_dict()

    def load_state_dict(self, state: Mapping) -> None:
        self.accumulator.load_state_dict(state)


def _mergeable(state: Any) -> bool:
    if isinstance(state, _PlainState):
        return state.mergeable
    return all(callable(getattr(state, m, None)) for m in ("merge", "state_dict"))


class ModelStates:
    """The states of one model: each battery metric mapped to the state it reads.

    Metrics declaring the same state factory share one state (``mse`` and
    ``r2`` read one ``RegressionMoments``).  :meth:`values` computes every
    state once and returns ``{variable: float}``, a dict-valued metric giving
    one variable per key (a collision between variables raises).
    """

    def __init__(self, battery: Mapping[str, Any], prob_metrics: Sequence[str],
                 num_classes: Optional[int], ignore_index: Optional[int]):
        self.metrics: Dict[str, Tuple[Any, Optional[StateMetric]]] = {}
        self.distinct: Dict[str, Any] = {}  # first metric name -> state, each state once
        shared: Dict[Any, Any] = {}
        for name, entry in battery.items():
            kind = metric_kind(entry, name)
            takes_probs = name in prob_metrics
            if kind == "state":
                if entry.state not in shared:
                    shared[entry.state] = entry.state(num_classes, ignore_index)
                    self.distinct[name] = shared[entry.state]
                self.metrics[name] = (shared[entry.state], entry)
                continue
            if kind == "confusion":
                raise TypeError(
                    f"metric {name!r} is a function of the confusion matrix, which this task does "
                    "not count (it takes no num_classes); use a torchmetrics metric or a StateMetric"
                )
            if kind == "factory":
                state: Any = _PlainState(entry.make(num_classes, ignore_index), takes_probs)
            elif is_torchmetrics_metric(entry):
                state = TorchmetricsState(entry, takes_probs)
            else:  # any object with update/compute/reset, never the caller's own
                accumulator = copy.deepcopy(entry)
                accumulator.reset()
                state = _PlainState(accumulator, takes_probs)
            self.metrics[name] = (state, None)
            self.distinct[name] = state

    def update(self, preds: Any, probs: Any, target: Any, update_fn: Optional[Callable] = None) -> None:
        if update_fn is not None:
            view = {
                name: state.metric if isinstance(state, TorchmetricsState) else state
                for name, state in self.distinct.items()
            }
            update_fn(view, preds, probs, target)
            return
        for name, state in self.distinct.items():
            try:
                state.update(preds, probs, target)
            except (TypeError, ValueError, RuntimeError) as exc:
                if type(exc) not in (TypeError, ValueError, RuntimeError):
                    raise
                raise type(exc)(f"metric {name!r}: {exc}") from exc

    def values(self) -> Dict[str, Any]:
        """``{metric: float or {key: float}}``, every state computed once."""
        computed = {id(state): state.compute() for state in self.distinct.values()}
        out: Dict[str, Any] = {}
        for name, (state, reader) in self.metrics.items():
            if reader is not None:
                out[name] = reader.value(state, computed[id(state)])
            else:
                out[name] = metric_values(computed[id(state)], f"metric {name!r}")
        return out

    def check_mergeable(self, world_size: int) -> None:
        for name, state in self.distinct.items():
            if not _mergeable(state):
                raise TypeError(
                    f"metric {name!r}: its state {type(state).__name__} has no merge()/state_dict(), so "
                    f"it cannot be combined across the {world_size} processes of torch.distributed; "
                    "evaluate in one process, or use a torchmetrics metric for it"
                )

    def export(self) -> Dict[str, Any]:
        return {name: state.state_dict() for name, state in self.distinct.items()}

    def merge_ranks(self, exports: Sequence[Mapping[str, Any]]) -> None:
        """Replace every state by the merge of all ranks' exports, in rank order."""
        for name, state in self.distinct.items():
            state.reset()
            for export in exports:
                state.merge(export[name])


class _Direction:
    """A metric direction standing for a variable of the result (read by build_result)."""

    def __init__(self, higher_is_better: Optional[bool]):
        self.higher_is_better = higher_is_better


def expand_values(
    per_metric: Mapping[str, Any], battery: Mapping[str, Any]
) -> Tuple[Dict[str, float], Dict[str, Any]]:
    """Flatten dict-valued metrics into variables, as upstream does.

    Returns ``({variable: value}, {variable: entry})``: the second, in
    battery order, also keeps the entries not in ``per_metric`` (the
    confusion-matrix functions, derived later from the counts), and gives a
    dict-valued metric's keys an entry carrying that metric's direction.
    A variable name given twice raises ``ValueError``.

    Examples
    --------
    >>> from mushin.evaluation.pipeline import expand_values
    >>> flat, _ = expand_values({"a": 1.0, "det": {"map": 0.5, "mar": 0.25}}, {"a": None, "det": None})
    >>> flat
    {'a': 1.0, 'map': 0.5, 'mar': 0.25}
    """
    flat: Dict[str, float] = {}
    entries: Dict[str, Any] = {}
    for name, entry in battery.items():
        value = per_metric.get(name)
        if not isinstance(value, dict):
            if name in entries:
                raise ValueError(f"metric {name!r} is also a variable of a dict-valued metric; rename one")
            entries[name] = entry
            if name in per_metric:
                flat[name] = value
            continue
        direction = _Direction(metric_direction(entry, name))
        for key, v in value.items():
            if key in entries or (key in battery and key != name):
                raise ValueError(
                    f"metric {name!r} gives a variable {key!r}, which another metric of the battery "
                    "gives too; rename one of them"
                )
            flat[key] = v
            entries[key] = direction
    return flat, entries


def make_states(battery: Mapping[str, Any], prob_metrics: Sequence[str],
                num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> ModelStates:
    """Fresh states for one model (see :class:`ModelStates`)."""
    return ModelStates(battery, prob_metrics, num_classes, ignore_index)


def evaluate_states(
    model: Any,
    data: Any,
    task: Task,
    states: ModelStates,
    *,
    predict_fn: Optional[PredictFn] = None,
    device: Any = None,
    progress: Any = None,
    batch_count: Optional[List[int]] = None,
) -> None:
    """Stream ``data`` through one model into ``states`` (a task without a confusion matrix).

    The model runs in eval mode under ``torch.no_grad()``; its training mode
    is restored afterwards.  ``batch_count``, if given, is set to
    ``[number of batches data yielded]``.  Under ``torch.distributed`` each
    rank evaluates its shard and ``states`` end up as the merge over all
    ranks, identical on every rank; an error on any rank is raised on all.
    """
    dev = torch.device(device) if device is not None else _model_device(model)
    if device is not None and isinstance(model, torch.nn.Module):
        model.to(dev)
    predict = task.predict_fn if predict_fn is None else predict_fn
    shard = rank_shard(data)
    if shard is not None:
        states.check_mergeable(shard.world_size)
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    error: Optional[BaseException] = None
    seen = 0
    try:
        with torch.no_grad():
            for index, batch in enumerate(data):
                seen = index + 1
                if shard is not None and not shard.owns(index):
                    if progress is not None:
                        progress.update(1)
                    continue
                try:
                    x, y = _split_batch(batch, index)
                    preds, probs = _call_predict(predict, model, _to_device(x, dev), index)
                    states.update(preds, probs, y, task.update_fn)
                except Exception as exc:
                    _tag_batch(exc, index)
                    raise
                if progress is not None:
                    progress.update(1)
    except Exception as exc:
        if shard is None:
            raise
        error = exc  # raised on every rank below, so none waits for the others
    finally:
        if was_training is not None and hasattr(model, "train"):
            model.train(was_training)
    if batch_count is not None:
        batch_count[:] = [seen]
    if shard is not None:
        _reduce_states(shard, states, error)


def _reduce_states(shard: Any, states: ModelStates, error: Optional[BaseException]) -> None:
    import torch.distributed as dist

    payload: Any = (None, states.export()) if error is None else (f"{type(error).__name__}: {error}", None)
    gathered: List[Any] = [None] * shard.world_size
    dist.all_gather_object(gathered, payload)
    failed = [(rank, message) for rank, (message, _) in enumerate(gathered) if message is not None]
    if failed:
        if error is not None:
            raise error
        rank, message = failed[0]
        raise RuntimeError(
            f"rank {rank} of {shard.world_size} failed while evaluating this model, so every rank "
            f"stops: {message}"
        )
    states.merge_ranks([export for _, export in gathered])


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


# -------------------------------------------------------------- overlap --
# The C updates release the GIL, so a batch's accumulation (confusion counts
# and streamed metrics) can run on a worker thread while this thread computes
# the next batch's forward pass.

# Handing a batch to the worker costs about 50 us; counting predictions (or
# logits) of 2**15 elements takes longer than that, fewer are counted inline.
_OVERLAP_MIN_ELEMENTS = 1 << 15


def _storage_pointers(tensors: Tuple[Any, ...]) -> Set[int]:
    return {
        t.untyped_storage().data_ptr()
        for t in tensors
        if isinstance(t, torch.Tensor) and t.numel() > 0
    }


def _on_cpu(tensors: Tuple[Any, ...]) -> bool:
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
