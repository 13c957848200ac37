"""The journey of data through models: batches, devices, overlap and ranks.

Data enters here once and goes one way.  :func:`run_pass` iterates the data
once for a group of models: each batch is split into ``(x, y)``, ``x`` moves
once to each device a model sits on, every model runs on it, and each
model's sink checks the output and hands back the batch's accumulation,
which runs on a worker thread while the next forward pass does
(:class:`_AccumulationPipeline`).  Under ``torch.distributed`` every rank
evaluates its shard (:mod:`mushin.evaluation.distributed`) and the states are
merged in rank order afterwards, through the same ``state_dict()``/``merge()``
protocol ``save``/``load`` use.

The sinks: :class:`StatesSink` here, over :class:`ModelStates` (the tasks
without a confusion matrix: regression, retrieval, detection, image quality,
audio and custom ones), and
:class:`~mushin.evaluation.counting.ConfusionSink` for classification and
segmentation.
"""
from __future__ import annotations

import copy
import functools
import queue
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import torch

from .distributed import RankShard, rank_shard
from ..metrics.states import StateMetric, TorchmetricsState, is_torchmetrics_metric, metric_values, naming_metric
from ..metrics.tasks import Task, metric_direction, metric_kind

__all__ = ["ModelRun", "ModelStates", "StatesSink", "evaluate_states", "make_states", "model_of", "run_pass"]

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

def _tag_once(exc: BaseException, attribute: str, value: int) -> None:
    """Keep ``value`` on ``exc`` under ``attribute`` unless an inner frame already did."""
    if getattr(exc, attribute, None) is None:
        try:
            setattr(exc, attribute, value)
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass

def _tag_batch(exc: BaseException, index: int) -> None:
    _tag_once(exc, _BATCH_ATTRIBUTE, index)

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
            with naming_metric(name):
                state.update(preds, probs, target)

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



class StatesSink:
    """One model's :class:`ModelStates` (a task without a confusion matrix), fed by the pipeline."""

    def __init__(self, task: Task, states: ModelStates, predict_fn: Optional[PredictFn] = None):
        self.task = task
        self.states = states
        self.predict = task.predict_fn if predict_fn is None else predict_fn

    def prepare(self, rank: int, world_size: int) -> None:
        self.states.check_mergeable(world_size)

    def step(self, model: Any, x: Any, y: Any, index: int) -> Tuple[Callable[[], None], Tuple[Any, ...]]:
        preds, probs = _call_predict(self.predict, model, x, index)
        job = functools.partial(self.states.update, preds, probs, y, self.task.update_fn)
        return job, (preds, probs, y)

    def finish(self) -> None:
        pass

    def export(self) -> Any:
        return self.states.export()

    def merge_ranks(self, exports: Sequence[Any]) -> None:
        self.states.merge_ranks(exports)

    def values(self) -> Dict[str, Any]:
        return self.states.values()


# --------------------------------------------------------------- the pass --

# The model (its index in the pass) an error came from, kept on the
# exception so that the caller can name its method and seed.
_MODEL_ATTRIBUTE = "_mushin_model"


def _tag_model(exc: BaseException, k: int) -> None:
    _tag_once(exc, _MODEL_ATTRIBUTE, k)


def model_of(exc: BaseException) -> Optional[int]:
    """The index, in the pass, of the model whose evaluation raised ``exc`` (None if unknown)."""
    return getattr(exc, _MODEL_ATTRIBUTE, None)


class ModelRun:
    """One model on its way through the data: the model, its device and its sink.

    ``device`` moves the model there (``model.to``); by default the model
    runs where its parameters are.  The sink (:class:`StatesSink`, or
    :class:`~mushin.evaluation.counting.ConfusionSink`) has ``step(model, x,
    y, index) -> (job, tensors)``: the forward pass and its checks, on the
    calling thread, and the batch's accumulation ``job`` for the pipeline.
    """

    def __init__(self, model: Any, sink: Any, device: Any = None):
        self.model = model
        self.sink = sink
        self.device = torch.device(device) if device is not None else _model_device(model)
        if device is not None and isinstance(model, torch.nn.Module):
            model.to(self.device)


def _located_job(job: Callable[[], None], index: int, k: int) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception as exc:
            _tag_batch(exc, index)
            _tag_model(exc, k)
            raise

    return run


def run_pass(
    runs: Sequence[ModelRun],
    data: Any,
    *,
    shard: Optional[RankShard] = None,
    overlap: bool = True,
    progress: Any = None,
) -> int:
    """Iterate ``data`` once and feed every batch to every model; return the number of batches.

    Each batch is split into ``(x, y)`` once, ``x`` is moved once per device,
    and every model runs on it in turn, in eval mode under
    ``torch.no_grad()`` (each model's training flag is restored
    afterwards, error or not).  A model's accumulation of a batch runs on a
    worker thread while the next model's (or batch's) forward pass runs;
    the worker holds at most one batch of predictions, so memory stays flat
    in the number of batches and grows with the number of models by at most
    one batch of predictions in flight.  The order of every state's updates
    is the order of the batches, so each model's state is exactly what
    evaluating it alone gives.  An error carries the batch and the model
    (:func:`model_of`) it came from; the states of the models hold exactly
    the batches before the failing one.

    ``shard`` (see :mod:`mushin.evaluation.distributed`): this rank
    evaluates its batches, then every sink's state is merged over all ranks
    in rank order, and an error on any rank is raised on every rank.
    ``progress.update(1)`` is called per model and batch.
    """
    if shard is not None:
        for k, run in enumerate(runs):
            try:
                run.sink.prepare(shard.rank, shard.world_size)
            except Exception as exc:
                _tag_model(exc, k)
                raise
    flags = [getattr(run.model, "training", None) for run in runs]
    error: Optional[BaseException] = None
    seen = 0
    try:
        for run in runs:
            if hasattr(run.model, "eval"):
                run.model.eval()
        with torch.no_grad(), _AccumulationPipeline(overlap, progress) as pipeline:
            held = None  # the first batch, alive until the second: see _AccumulationPipeline
            for index, batch in enumerate(data):
                seen = index + 1
                held = batch if index == 0 else (held if index == 1 else None)
                if shard is not None and not shard.owns(index):
                    if progress is not None:
                        progress.update(len(runs))
                    continue
                inputs: Dict[Any, Any] = {}
                for k, run in enumerate(runs):
                    try:
                        if k == 0:
                            x, y = _split_batch(batch, index)
                        if run.device not in inputs:
                            inputs[run.device] = _to_device(x, run.device)
                        job, tensors = run.sink.step(run.model, inputs[run.device], y, index)
                    except Exception as exc:
                        _tag_batch(exc, index)
                        _tag_model(exc, k)
                        raise
                    pipeline.submit(_located_job(job, index, k), tensors, key=k)
                    del job, tensors
                del inputs
            del held
        for k, run in enumerate(runs):
            try:
                run.sink.finish()
            except Exception as exc:
                _tag_model(exc, k)
                raise
    except Exception as exc:
        if shard is None:
            raise
        error = exc  # raised on every rank below, so none waits for the others
    finally:
        for run, flag in zip(runs, flags):
            if flag is not None and hasattr(run.model, "train"):
                run.model.train(flag)
    if shard is not None:
        _merge_ranks(shard, runs, error)
    return seen


def _merge_ranks(shard: RankShard, runs: Sequence[ModelRun], error: Optional[BaseException]) -> None:
    """One gather of every model's state (or this rank's error); every sink becomes the merge."""
    if error is None:
        payload: Any = (None, None, [run.sink.export() for run in runs])
    else:
        payload = (f"{type(error).__name__}: {error}", model_of(error), None)
    gathered = shard.gather(payload)
    failed = [(rank, message, k) for rank, (message, k, _) in enumerate(gathered) if message is not None]
    if failed:
        if error is not None:
            raise error
        rank, message, k = failed[0]
        exc = RuntimeError(
            f"rank {rank} of {shard.world_size} failed while evaluating this model, so every rank "
            f"stops: {message}"
        )
        if k is not None:
            _tag_model(exc, k)
        raise exc
    for k, run in enumerate(runs):
        run.sink.merge_ranks([exports[k] for _, _, exports in gathered])


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

    The one-model case of :func:`run_pass`.  ``batch_count``, if given, is
    set to ``[number of batches data yielded]``.  Under
    ``torch.distributed`` ``states`` end up as the merge over all ranks.
    """
    seen = run_pass([ModelRun(model, StatesSink(task, states, predict_fn), device)], data,
                    shard=rank_shard(data), progress=progress)
    if batch_count is not None:
        batch_count[:] = [seen]


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
    batch while it is counted.  With several models in one pass (each
    submits under its own ``key``), the first batch and the reuse of memory
    are judged per model; jobs still run one at a time, in submission order.
    """

    def __init__(self, overlap: bool, progress: Any = None):
        self._overlap = overlap
        self._progress = progress
        self._thread: Optional[threading.Thread] = None
        self._jobs: "queue.Queue[Optional[Callable[[], None]]]" = queue.Queue(maxsize=1)
        self._idle = threading.Event()
        self._in_flight = False
        self._error: Optional[BaseException] = None
        self._batches: Dict[Any, int] = {}
        self._first: Dict[Any, List[Tuple[Any, Set[int]]]] = {}

    def submit(self, job: Callable[[], None], tensors: Tuple[Any, ...], key: Any = 0) -> None:
        """Accumulate a batch with ``job``; ``tensors`` are its (predictions or logits, ...).

        ``key`` names the model the batch belongs to: the first batch and
        the reuse of memory are judged per model.
        """
        self.wait()
        batches = self._batches[key] = self._batches.get(key, 0) + 1
        if self._overlap and batches == 1:
            self._first[key] = [
                (weakref.ref(t), _storage_pointers((t,))) for t in tensors if isinstance(t, torch.Tensor)
            ]
        elif self._overlap and batches == 2:
            pointers = _storage_pointers(tensors)
            # memory of a first-batch tensor still alive: the source (or predict_fn) refills it
            for ref, first in self._first.pop(key, []):
                if ref() is not None and pointers & first:
                    self._overlap = False
        lead = tensors[0] if tensors else None
        small = not isinstance(lead, torch.Tensor) or lead.numel() < _OVERLAP_MIN_ELEMENTS
        if not self._overlap or batches == 1 or small or not _on_cpu(tensors):
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
