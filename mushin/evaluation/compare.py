"""compare(): stream an evaluation set through every model, then test.

``compare`` checks its arguments (:class:`~mushin.evaluation.spec.EvalSpec`)
and hands the models to :func:`run_comparison`, which ``Study`` calls too.
That builds each model's metric states and sends the data through
:func:`~mushin.evaluation.pipeline.run_pass`: by default one pass over the
data feeds every batch to every model, each model in eval mode under
``torch.no_grad()`` on its own device; with ``one_pass=False`` the models
take one pass each.  Classification and segmentation count each model's
predictions into one confusion matrix (``O(C^2)`` state) by the C core
(:mod:`mushin.evaluation.counting`); the other tasks fill their states
(:class:`~mushin.evaluation.pipeline.ModelStates`).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from .._progress import tqdm

from .._core import ConfusionMatrix
from ..metrics.per_image import DEFAULT_MAX_BYTES, make_per_image_state
from ..metrics.tasks import Task, confusion_fast_path
from ..result import BenchmarkResult, build_result
from ..result.per_image import attach_per_image
from .counting import ConfusionSink, DeviceConfusionMatrix, Streams, make_streams, stream_values, update_streams
from .distributed import rank_shard
from .pipeline import (
    _BATCH_ATTRIBUTE,
    ModelRun,
    StatesSink,
    _tag_model,
    evaluate_states,
    expand_values,
    make_states,
    model_of,
    run_pass,
)
from .spec import EvalSpec, check_device, check_ignore_index, check_num_classes, select_metrics

__all__ = ["compare", "run_comparison", "evaluate_model", "DeviceConfusionMatrix"]

PredictFn = Callable[[Any, Any], Tuple[Any, Any]]

# Study loads checkpoints into groups of at most this many parameter bytes,
# and evaluates each group in one pass over the data.
DEFAULT_GROUP_BYTES = 4 << 30

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


def _check_data(data: Any, one_shot_ok: bool = False) -> None:
    """Refuse what is not a batch source; a one-shot iterator only where one pass is enough."""
    if not one_shot_ok and (isinstance(data, Iterator) or (hasattr(data, "__next__") and iter(data) is data)):
        raise TypeError(
            f"data is a one-shot {type(data).__name__}: evaluated one model at a time "
            "(one_pass=False), it would be exhausted after the first model.  Leave one_pass=True "
            "(every model sees each batch as it is loaded), or pass something that can be "
            "iterated again, such as a torch DataLoader or a list of (x, y) batches"
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


# Where (method, seed) a located error comes from, kept on the exception.
_WHERE_ATTRIBUTE = "_mushin_where"


def _located(exc: BaseException, where: str) -> BaseException:
    """``exc`` with ``where`` (method, seed, batch) at the front of its message.

    The built-in error types are rebuilt with the longer message (the
    original is kept as ``__cause__``); any other type gets ``where`` as a
    note, since its constructor may take other arguments.
    """
    index = getattr(exc, _BATCH_ATTRIBUTE, None)
    try:  # for a caller that adds a note of its own (Study)
        setattr(exc, _WHERE_ATTRIBUTE, where)
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        pass
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
        setattr(located, _WHERE_ATTRIBUTE, getattr(exc, _WHERE_ATTRIBUTE))
        return located
    _add_note(exc, f"while evaluating {where}")
    return exc


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)


# ------------------------------------------------------------- one model --


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

    The one-model case of :func:`~mushin.evaluation.pipeline.run_pass`.
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
    sink = ConfusionSink(
        task, num_classes, ignore_index, predict_fn, ConfusionMatrix(num_classes, ignore_index), streams, per_image
    )
    seen = run_pass([ModelRun(model, sink, device)], data, shard=rank_shard(data), overlap=overlap, progress=progress)
    if batch_count is not None:
        batch_count[:] = [seen]  # the caller says which model saw nothing
    elif seen == 0:
        raise ValueError(
            f"data yielded no batches (a {type(data).__name__}); every model would score on "
            "nothing.  Pass at least one (x, y) batch; a generator or iterator that is "
            "already used up yields nothing"
        )
    assert sink.counts is not None
    return sink.counts


def compare(
    methods: Mapping[str, Sequence[Any]],
    data: Any,
    task: "str | Task" = "classification",
    *,
    num_classes: Optional[int] = None,
    predict_fn: Optional[PredictFn] = None,
    metrics: "Optional[Mapping[str, Any] | Sequence[str]]" = None,
    prob_metrics: Optional[Sequence[str]] = None,
    test: str = "wilcoxon",
    alpha: float = 0.05,
    correction: str = "holm",
    ignore_index: Optional[int] = None,
    device: Any = None,
    # mushin's own parameters follow upstream's, all keyword-only
    class_names: Optional[Sequence[str]] = None,
    progress: Optional[bool] = None,
    one_pass: bool = True,
    per_image: "bool | str" = False,
    per_image_max_bytes: int = DEFAULT_MAX_BYTES,
) -> BenchmarkResult:
    """Evaluate every model of every method on ``data`` and test the gaps.

    The parameters up to ``device`` are upstream mushin-py's, in its order
    and with its defaults; mushin's own (``class_names``, ``progress``,
    ``one_pass``) follow, keyword-only.

    Parameters
    ----------
    methods : dict of str to list of models
        ``{name: [model_seed0, model_seed1, ...]}``.  The first method is the
        reference of :meth:`BenchmarkResult.summary`.
    data : iterable of (x, y)
        A batch source such as a ``DataLoader``, a list, or a generator: it
        is iterated once, and every model runs on each batch as it is
        loaded (see ``one_pass``).  Data that yields no batch raises
        ``ValueError``.
    task : str or Task
        ``"classification"`` (default, as upstream), ``"segmentation"``,
        ``"regression"``, ``"retrieval"``, ``"detection"``,
        ``"image_quality"``, ``"audio"`` or any registered
        :class:`~mushin.metrics.tasks.Task` (:func:`mushin.list_tasks`).
        The classification default takes ``(N, C)`` logits; a model that
        returns per-pixel ``(N, C, H, W)`` logits raises an error that
        points at ``task="segmentation"``.
    num_classes : int, optional
        Number of classes the models predict: required by
        ``"classification"`` and ``"segmentation"`` unless ``metrics`` is a
        dict (a custom battery counts no confusion matrix), ignored by the
        tasks without classes.
    predict_fn : callable, optional
        ``predict_fn(model, x) -> (predictions, probabilities)``; defaults to
        the task's (softmax + argmax over the class dimension).
    metrics : list of str, or dict of str to metric, optional
        A dict is a custom battery replacing the task's (as upstream): each
        value is a torchmetrics metric or any object with
        ``update/compute/reset`` (deep-copied and reset for every model; it
        sees the raw labels, so build it with your own ``ignore_index``), a
        :class:`~mushin.metrics.tasks.StreamingMetric`, or, with
        ``num_classes``, a function ``fn(counts, ignore_index) -> float`` of
        the confusion matrix.  A list of names selects those metrics of the
        task's battery, in that order (``["miou", "dice"]``).
    prob_metrics : list of str, optional
        The battery entries whose ``update`` receives the probabilities from
        ``predict_fn``; every other entry receives class-index predictions.
        Default: the task's own for its battery, none for a custom dict.
    test : str
        Significance test across seeds: ``"wilcoxon"`` (default, as
        upstream), ``"ttest_rel"``, ``"welch"``, ``"ttest_ind"`` or
        ``"mannwhitney"`` (see :mod:`mushin.stats`).  Paired tests need the
        same seeds for every method.  A test that cannot reach ``alpha``
        with the seeds given (Wilcoxon with fewer than 6 seeds) warns.
    alpha : float
        Significance level.
    correction : str
        Multiple-comparison correction per metric across method pairs:
        ``"holm"`` (default), ``"bonferroni"``, ``"fdr_bh"`` or ``"none"``.
    ignore_index : int, optional
        Target value excluded from every metric (e.g. 255 for void pixels).
        Applied for classification too, where upstream ignores it (with a
        warning saying so).
    device : str or torch.device, optional
        Move every model (and its inputs) to this device; by default each
        model runs where its parameters are.
    class_names : list of str, optional
        One name per class, the ``class`` coordinate of the per-class
        results (``result.per_class``).
    progress : bool, optional
        A progress bar over models x batches on stderr: ``None`` (default)
        shows it only when stderr is a terminal, ``False`` never.
    one_pass : bool
        ``True`` (default): load each batch once and run every model on it,
        each into its own metric states; results are bit-identical to
        ``False``, which runs the models one at a time, each over all of
        ``data`` (for models too large to sit on one device together; it
        needs data that can be iterated again, and the same batches every
        time).
    per_image, per_image_max_bytes : bool or {"int64", "int32"}, int
        Keep every image's TP/FP/FN per class as ``result.per_image``, for
        :meth:`BenchmarkResult.bootstrap` (see :mod:`mushin.metrics.per_image`).

    Returns
    -------
    BenchmarkResult

    Notes
    -----
    A model's metric update of a batch runs on a worker thread while the
    next forward pass runs (the C core releases the GIL); results do not
    change.
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
    >>> result = compare(methods, data, task="segmentation", num_classes=4, test="welch")
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
        one_pass=one_pass,
        per_image=per_image,
        per_image_max_bytes=per_image_max_bytes,
    )
    methods_checked = _check_methods(methods)
    spec.check_design({name: len(models) for name, models in methods_checked.items()})
    _check_data(data, one_shot_ok=spec.one_pass)
    loaders = {name: [_Given(model) for model in models] for name, models in methods_checked.items()}
    with _progress_bar(spec.progress, sum(len(m) for m in methods_checked.values()), data) as bar:
        return run_comparison(loaders, data, spec, progress=bar)


def _progress_bar(progress: Optional[bool], n_models: int, data: Any) -> Any:
    """A tqdm bar over models x batches; disabled off a terminal unless forced."""
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


def _parameter_bytes(model: Any) -> int:
    """The bytes of a model's parameters and buffers (0 for a plain callable)."""
    if not isinstance(model, torch.nn.Module):
        return 0
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _size_hint(load: Any) -> Optional[int]:
    """The bytes on disk of the checkpoint ``load`` reads (a file or a folder), if it names one."""
    path = getattr(load, "path", None)
    if not isinstance(path, (str, os.PathLike)):
        return None
    try:
        if os.path.isdir(path):
            return sum(
                os.path.getsize(os.path.join(folder, f)) for folder, _, files in os.walk(path) for f in files
            )
        return os.path.getsize(path)
    except OSError:  # load_fn may read what is not a plain path: measure the model instead
        return None


class _Evaluated:
    """What a model's evaluation leaves for the result: counts and metric values."""

    def __init__(
        self, counts: np.ndarray, flat: Dict[str, float], entries: Dict[str, Any], images: Optional[np.ndarray] = None
    ):
        self.counts = counts
        self.images = images  # per-image (images, C, 3) TP/FP/FN, with per_image=True
        self.flat = flat
        self.entries = entries


def run_comparison(
    loaders: Mapping[str, Sequence[Callable[[], Any]]],
    data: Any,
    spec: EvalSpec,
    *,
    seeds: Optional[Sequence[Any]] = None,
    progress: Any = None,
    group_bytes: Optional[int] = None,
) -> BenchmarkResult:
    """Evaluate lazily obtained models, then build the result.

    ``loaders[method][i]()`` returns the model of seed ``i``; it is called
    right before that model is evaluated, and the model is dropped once its
    group is.  With ``spec.one_pass`` the models are loaded into groups of
    at most ``group_bytes`` parameter bytes (a group is never empty; default
    :data:`DEFAULT_GROUP_BYTES` for checkpoints, unlimited for models the
    caller already holds), and each group takes one pass over ``data``.
    Without it, every model takes its own pass, so at most one model is
    alive here at a time.  Arguments must already be validated (``compare``
    and ``Study`` do that, through ``spec``).
    """
    task = spec.task
    battery, prob_names = spec.battery, spec.battery_prob_metrics
    num_classes, ignore_index = spec.num_classes, spec.ignore_index
    # tasks without classes (regression, retrieval, ...) have no confusion matrix
    if num_classes is not None:
        battery = {
            name: entry if name in prob_names else confusion_fast_path(entry, num_classes, ignore_index)
            for name, entry in battery.items()
        }
    order = [(name, j, load) for name, method_loaders in loaders.items() for j, load in enumerate(method_loaders)]

    def where(name: str, j: int, load: Any) -> str:
        if seeds is not None:
            return f"method {name!r}, seed {seeds[j]}"
        given = "methods" if isinstance(load, _Given) else "checkpoints"
        return f"method {name!r}, seed {j} ({given}[{name!r}][{j}])"

    def sink_for() -> Any:
        if num_classes is None:
            return StatesSink(task, make_states(battery, prob_names, None, ignore_index), spec.predict_fn)
        streams = make_streams(battery, prob_names, num_classes, ignore_index)
        image_state = make_per_image_state(spec.per_image, num_classes, ignore_index, spec.per_image_max_bytes)
        return ConfusionSink(
            task, num_classes, ignore_index, spec.predict_fn, ConfusionMatrix(num_classes, ignore_index), streams,
            image_state,
        )

    shard = rank_shard(data)
    evaluated: Dict[Tuple[str, int], _Evaluated] = {}
    first: List[Tuple[str, int]] = []  # (where, batches) of the first pass

    def evaluate(group: List[Tuple[str, int, Any, Any]]) -> None:
        places = [where(name, j, load) for name, j, load, _ in group]
        runs = []
        try:
            for k, (_, _, _, model) in enumerate(group):
                try:
                    runs.append(ModelRun(model, sink_for(), spec.device))
                except Exception as exc:
                    _tag_model(exc, k)
                    raise
            seen = run_pass(runs, data, shard=shard, progress=progress)
        except Exception as exc:
            k = model_of(exc)
            located = _located(exc, places[k if k is not None else 0])
            if located is exc:
                raise
            raise located from exc
        _check_batches(seen, places, first)
        for (name, j, _, _), run, place in zip(group, runs, places):
            try:
                counts = run.sink.counts if num_classes is not None else np.zeros((0, 0), dtype=np.int64)
                flat, entries = expand_values(run.sink.values(), battery)
            except Exception as exc:
                located = _located(exc, place)
                if located is exc:
                    raise
                raise located from exc
            image_state = getattr(run.sink, "per_image", None)
            images = image_state.counts if image_state is not None else None
            evaluated[(name, j)] = _Evaluated(counts, flat, entries, images)

    given = all(isinstance(load, _Given) for _, _, load in order)
    budget = None if not spec.one_pass else (group_bytes if group_bytes is not None else (
        None if given else DEFAULT_GROUP_BYTES))
    group: List[Tuple[str, int, Any, Any]] = []
    used = 0
    for name, j, load in order:
        # a checkpoint's size on disk stands for its parameters, so that a full
        # group is evaluated (and dropped) before the next model loads
        hint = _size_hint(load) if budget is not None else None
        if group and (not spec.one_pass or (hint is not None and used + hint > budget)):
            evaluate(group)
            group, used = [], 0
        model = load()
        size = hint if hint is not None else _parameter_bytes(model)
        if group and budget is not None and hint is None and used + size > budget:
            evaluate(group)
            group, used = [], 0
        group.append((name, j, load, model))
        used += size
        del model
    evaluate(group)
    del group

    result_battery: Optional[Dict[str, Any]] = None
    confusion: Dict[str, np.ndarray] = {}
    streamed: Dict[str, Dict[str, List[float]]] = {}
    image_counts: Dict[str, List[np.ndarray]] = {}
    for name, method_loaders in loaders.items():
        per_seed = []
        for j in range(len(method_loaders)):
            done = evaluated[(name, j)]
            per_seed.append(done.counts)
            if done.images is not None:
                image_counts.setdefault(name, []).append(done.images)
            if result_battery is None:
                result_battery = done.entries
            for metric, value in done.flat.items():
                streamed.setdefault(metric, {}).setdefault(name, []).append(value)
        confusion[name] = np.stack(per_seed)
    result = build_result(
        confusion,
        task,
        spec.settings(),
        seeds=seeds,
        class_names=spec.class_names,
        battery=battery if result_battery is None else result_battery,
        metric_values=streamed,
    )
    return attach_per_image(result, image_counts, seeds, spec.class_names, ignore_index)


def _check_batches(seen: int, places: List[str], first: List[Tuple[str, int]]) -> None:
    """Refuse a pass that saw no batch, or not as many as the first pass."""
    if seen == 0:
        seen_before = f" (it yielded {first[0][1]} for {first[0][0]})" if first else ""
        raise ValueError(
            f"data yielded no batches for {places[0]}{seen_before}: every model would score "
            "on nothing.  Pass at least one (x, y) batch, from a source that yields the "
            "same batches every time it is iterated (a DataLoader or a list); a used-up "
            "generator or iterator yields nothing"
        )
    if not first:
        first.append((places[0], seen))
    elif seen != first[0][1]:
        raise ValueError(
            f"data yielded {seen} batch(es) for {places[0]} but {first[0][1]} for {first[0][0]}: "
            "every model must see the same batches.  Pass a re-iterable source that "
            "yields the same batches every time (a DataLoader or a list), not one that "
            "runs out or changes between passes"
        )
