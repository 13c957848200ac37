"""Tasks and their metric batteries.

A :class:`Task` says how a model's output becomes predictions (its default
``predict_fn``) and which metrics are derived from the accumulated state.
Every metric of the built-in batteries is a function of one confusion matrix
``counts[target, prediction]`` and reproduces the torchmetrics metric named in
its docstring, including how torchmetrics treats classes that never occur and
an ``ignore_index`` that is itself a class.  The exceptions are the
probability metrics of classification, ``auroc`` and ``ece``: they are
:class:`StreamingMetric` entries fed with probabilities by accumulators of
the C core (:class:`~mushin._core.RocScores`,
:class:`~mushin._core.CalibrationBins`).

Examples
--------
>>> import numpy as np
>>> from mushin.metrics.tasks import get_task
>>> seg = get_task("segmentation")
>>> counts = np.array([[3, 1], [0, 4]])
>>> round(seg.battery["miou"](counts, None), 4)
0.775
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import _core
from . import batteries as _batteries
from .batteries import (
    audio_battery,
    detection_battery,
    image_quality_battery,
    passthrough_predict,
    regression_battery,
    retrieval_battery,
)
from . import confusion_metrics
from .confusion_metrics import (
    accuracy,
    dice,
    macro_f1,
    macro_precision,
    macro_recall,
    miou,
    per_class_iou,
    pixel_accuracy,
)
from .states import StateMetric

__all__ = [
    "Task",
    "register_task",
    "get_task",
    "list_tasks",
    *confusion_metrics.__all__,  # re-exported: the metrics of a confusion matrix
    "StreamingMetric",
    "metric_kind",
    "metric_direction",
    "with_direction",
    "resolve_battery",
    "roc_scores",
    "calibration_bins",
    "StateMetric",
    "passthrough_predict",
    "classification_battery",
    "segmentation_battery",
    "regression_battery",
    "retrieval_battery",
    "detection_battery",
    "image_quality_battery",
    "audio_battery",
    "confusion_fast_path",
]

ConfusionMetric = Callable[[np.ndarray, Optional[int]], float]
PredictFn = Callable[[Any, Any], Tuple[Any, Any]]


# --------------------------------------------------------- predict fns --


def _logits_from_output(output: Any) -> Any:
    if isinstance(output, Mapping):
        keys = ", ".join(repr(k) for k in list(output)[:5])
        raise TypeError(
            f"the model returned a dict (keys: {keys}) but the default predict_fn "
            "expects a logits tensor; pass predict_fn=... to compare(), one that runs the "
            "model once, e.g.\n"
            "    def torchvision_seg_predict(model, x):\n"
            "        logits = model(x)['out']\n"
            "        probs = logits.softmax(dim=1)\n"
            "        return probs.argmax(dim=1), probs"
        )
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"the model returned {type(output).__name__}, not a tensor of logits; "
            "pass predict_fn=... to compare() to adapt it"
        )
    if not output.is_floating_point():
        raise TypeError(
            f"the model returned a {output.dtype} tensor; the default predict_fn "
            "expects floating-point logits"
        )
    return output


class DefaultPredict:
    """A task's default ``predict_fn``: softmax and argmax over ``class_dim``.

    ``labels_only`` gives the same predictions without computing the
    softmax.  Both take the argmax of the logits themselves, so they agree
    exactly.  compare() calls :meth:`logits` and hands the logits to the C
    core, which counts their argmax without building a prediction tensor
    (``ConfusionMatrix.update_logits``); the softmax is computed only when a
    metric needs probabilities.
    """

    def __init__(self, class_dim: int, min_ndim: int, max_ndim: Optional[int] = None):
        self.class_dim, self.min_ndim, self.max_ndim = class_dim, min_ndim, max_ndim

    def logits(self, model: Any, x: Any) -> Any:
        logits = _logits_from_output(model(x))
        if logits.ndim < self.min_ndim:
            raise ValueError(
                f"the model returned logits of shape {tuple(logits.shape)}; this task "
                f"expects at least {self.min_ndim} dimensions with classes in dim "
                f"{self.class_dim}"
            )
        if self.max_ndim is not None and logits.ndim > self.max_ndim:  # (N, C, H, W) under classification
            raise ValueError(
                f"the model returned logits of shape {tuple(logits.shape)}; this task's default predict_fn takes "
                f"at most {self.max_ndim} dimensions with classes in dim {self.class_dim}.  Per-pixel logits "
                "(N, C, H, W) are segmentation: pass task=\"segmentation\" (compare's default task is "
                "\"classification\", as upstream's), or a predict_fn"
            )
        return logits

    def __call__(self, model: Any, x: Any) -> Tuple[Any, Any]:
        logits = self.logits(model, x)
        return logits.argmax(dim=self.class_dim), logits.softmax(dim=self.class_dim)

    def labels_only(self, model: Any, x: Any) -> Tuple[Any, None]:
        logits = self.logits(model, x)
        return logits.argmax(dim=self.class_dim), None

    def __repr__(self) -> str:
        return f"DefaultPredict(class_dim={self.class_dim})"


# ------------------------------------------------------ streaming metrics --
# A battery entry is one of three kinds (see metric_kind):
#   "confusion": fn(counts, ignore_index) -> float over the confusion matrix;
#   "factory":   a StreamingMetric, whose make(num_classes, ignore_index)
#                builds a fresh accumulator for every model;
#   "object":    anything with update/compute/reset (a torchmetrics Metric),
#                deep-copied and reset for every model.
# The last two are fed batch by batch: with probabilities when the entry is
# named in prob_metrics, with class-index predictions otherwise.


@dataclass(frozen=True)
class StreamingMetric:
    """A battery entry accumulated over the stream by a fresh object per model.

    Parameters
    ----------
    make : callable
        ``make(num_classes, ignore_index)`` returns an object with
        ``update(inputs, target)``, ``compute()`` and ``reset()``.  When the
        entry is one of the task's ``prob_metrics`` its ``update`` receives
        ``(N, num_classes)`` probabilities and ``(N,)`` labels (extra
        dimensions are flattened into N); otherwise class-index predictions
        and labels of the same shape.
    description : str
        What the metric is, for humans.
    higher_is_better : bool, optional
        The metric's direction, read by ranking, the bold "best" cells of
        the tables and the regression gates.  ``None`` (undeclared) lets the
        metric be computed and shown, but those refuse to guess.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.metrics.tasks import StreamingMetric, roc_scores
    >>> entry = StreamingMetric(roc_scores, "macro one-vs-rest AUROC", higher_is_better=True)
    >>> acc = entry.make(2, None)
    >>> acc.update(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 1]))
    >>> acc.compute()
    1.0
    """

    make: Callable[[int, Optional[int]], Any]
    description: str = field(default="", compare=False)
    higher_is_better: Optional[bool] = None

    def __post_init__(self) -> None:
        if not callable(self.make):
            raise TypeError(
                f"StreamingMetric.make must be callable as make(num_classes, ignore_index), "
                f"got {type(self.make).__name__}"
            )
        _check_direction_value(self.higher_is_better, "StreamingMetric: higher_is_better")


def _is_stateful_metric(entry: Any) -> bool:
    return all(callable(getattr(entry, name, None)) for name in ("update", "compute", "reset"))


def metric_kind(entry: Any, name: str = "metric") -> str:
    """``"confusion"``, ``"factory"``, ``"state"`` or ``"object"``: how a battery entry is fed.

    ``"state"`` is a :class:`~mushin.metrics.states.StateMetric`, a value of
    a mergeable state shared by the metrics that name the same factory.

    Raises ``TypeError`` for anything else.

    Examples
    --------
    >>> from mushin.metrics.tasks import metric_kind, miou, get_task
    >>> metric_kind(miou), metric_kind(get_task("classification").battery["auroc"])
    ('confusion', 'factory')
    """
    if isinstance(entry, StreamingMetric):
        return "factory"
    if isinstance(entry, StateMetric):
        return "state"
    if _is_stateful_metric(entry):  # before callable(): a torchmetrics Metric is callable too
        return "object"
    if callable(entry):
        return "confusion"
    raise TypeError(
        f"metric {name!r} is a {type(entry).__name__}; a battery entry must be a function "
        "fn(counts, ignore_index) -> float, a StreamingMetric, or an object with "
        "update/compute/reset such as a torchmetrics metric"
    )


# ------------------------------------------------------------ direction --
# Whether a larger value is the better one is a property of the metric, not
# of its name: two batteries may both call something "score" and mean
# opposite things.  Each entry carries it (a ``higher_is_better`` attribute,
# as torchmetrics metrics do) and build_result copies it into the result.


def _check_direction_value(value: Any, where: str) -> Optional[bool]:
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    raise TypeError(f"{where} must be True, False or None, got {value!r}")


def metric_direction(entry: Any, name: str = "metric") -> Optional[bool]:
    """The declared direction of a battery entry: True, False or None (undeclared).

    Read from the entry's ``higher_is_better`` attribute: a field of
    :class:`StreamingMetric`, an attribute set on a confusion-matrix
    function, or the class attribute every torchmetrics metric has.

    Examples
    --------
    >>> from mushin.metrics.tasks import metric_direction, miou, get_task
    >>> metric_direction(miou), metric_direction(get_task("classification").battery["ece"])
    (True, False)
    >>> metric_direction(lambda counts, ignore_index: 0.0) is None
    True
    """
    value = getattr(entry, "higher_is_better", None)
    if callable(value):  # a method or property object, not a declaration
        return None
    return _check_direction_value(value, f"metric {name!r}: higher_is_better")


def _declared(fn: Callable, higher_is_better: bool) -> Callable:
    """Tag a built-in confusion-matrix metric with its direction."""
    fn.higher_is_better = higher_is_better  # type: ignore[attr-defined]
    return fn


def with_direction(entry: Any, higher_is_better: bool) -> Any:
    """A copy of a battery entry that declares ``higher_is_better``.

    The entry itself is left alone (a function shared by several
    batteries, a torchmetrics object), so wrapping a built-in metric for a
    battery where it means the opposite cannot change it elsewhere.

    Examples
    --------
    >>> from mushin.metrics.tasks import with_direction, metric_direction
    >>> def brier(counts, ignore_index):
    ...     return 0.1
    >>> metric_direction(with_direction(brier, higher_is_better=False))
    False
    >>> metric_direction(brier) is None
    True
    """
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise TypeError(f"higher_is_better must be True or False, got {higher_is_better!r}")
    higher = bool(higher_is_better)
    kind = metric_kind(entry)
    if kind in ("factory", "state"):
        return replace(entry, higher_is_better=higher)
    if kind == "object":
        clone = copy.copy(entry)
        clone.higher_is_better = higher
        return clone

    @functools.wraps(entry)
    def declared(counts: np.ndarray, ignore_index: Optional[int] = None) -> float:
        return entry(counts, ignore_index)

    declared.higher_is_better = higher  # type: ignore[attr-defined]
    return declared


def battery_directions(battery: Mapping[str, Any]) -> Dict[str, Optional[bool]]:
    """``{metric: True | False | None}`` for every entry of a battery."""
    return {name: metric_direction(entry, name) for name, entry in battery.items()}


def _check_battery(battery: Any, prob_metrics: Any, owner: str) -> Tuple[str, ...]:
    """Validate a battery and its prob_metrics; return prob_metrics as a tuple."""
    if not isinstance(battery, Mapping) or not battery:
        raise ValueError(f"{owner} needs a non-empty battery {{name: metric}}")
    for name, entry in battery.items():
        if not isinstance(name, str):
            raise TypeError(f"{owner}: metric names must be strings, got {name!r}")
        metric_kind(entry, name)
        metric_direction(entry, name)
    if isinstance(prob_metrics, str) or not isinstance(prob_metrics, (Sequence, frozenset, set)):
        raise TypeError(
            f"{owner}: prob_metrics must be a list of metric names, got {type(prob_metrics).__name__}"
        )
    names = tuple(prob_metrics)
    unknown = [m for m in names if m not in battery]
    if unknown:
        raise ValueError(f"{owner}: prob_metrics {unknown} are not in its battery {list(battery)}")
    confusion_only = [m for m in names if metric_kind(battery[m], m) == "confusion"]
    if confusion_only:
        raise ValueError(
            f"{owner}: prob_metrics {confusion_only} are functions of the confusion matrix and "
            "cannot take probabilities; name only StreamingMetric entries or objects with "
            "update/compute/reset there"
        )
    return names


def resolve_battery(
    task: "Task",
    metrics: Optional[Mapping[str, Any]] = None,
    prob_metrics: Optional[Sequence[str]] = None,
    *,
    num_classes: Optional[int] = None,
    ignore_index: Optional[int] = None,
) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
    """The battery and prob_metrics ``compare`` evaluates.

    Without ``metrics`` the task's own battery and prob_metrics are used
    (``prob_metrics`` must then be left out); a task whose battery is a
    function gets it called with ``num_classes`` and ``ignore_index``.  With
    ``metrics`` that dict is the whole battery, and exactly the names listed
    in ``prob_metrics`` (default: none) receive probabilities; every other
    entry receives class-index predictions.

    Examples
    --------
    >>> from mushin.metrics.tasks import get_task, resolve_battery, miou
    >>> battery, probs = resolve_battery(get_task("classification"))
    >>> list(battery), probs
    (['accuracy', 'f1', 'precision', 'recall', 'auroc', 'ece'], ('auroc', 'ece'))
    >>> resolve_battery(get_task("segmentation"), {"miou": miou})[1]
    ()
    """
    if metrics is None:
        if prob_metrics is not None:
            raise ValueError(
                "prob_metrics= names entries of a custom metrics= battery; without metrics= "
                f"the battery of task {task.name!r} is used with its own prob_metrics "
                f"{list(task.prob_metrics)}"
            )
        if isinstance(task.battery, _FactoryBattery):
            battery = task.battery.build(num_classes, ignore_index)
            return battery, _check_battery(battery, task.prob_metrics, f"task {task.name!r}")
        return dict(task.battery), tuple(task.prob_metrics)
    names = _check_battery(metrics, () if prob_metrics is None else prob_metrics, "metrics=")
    return dict(metrics), names


def roc_scores(num_classes: int, ignore_index: Optional[int] = None) -> Any:
    """A fresh :class:`~mushin._core.RocScores`: exact macro one-vs-rest AUROC.

    Equals ``MulticlassAUROC(num_classes, average="macro", thresholds=None,
    ignore_index=ignore_index)``.  It keeps every score:
    ``num_samples * (num_classes + 1) * 4`` bytes per model.
    """
    return _core.RocScores(num_classes, ignore_index)


def calibration_bins(num_classes: int, ignore_index: Optional[int] = None, n_bins: int = 15) -> Any:
    """A fresh :class:`~mushin._core.CalibrationBins`: streaming L1 ECE.

    Equals ``MulticlassCalibrationError(num_classes, n_bins=n_bins,
    norm="l1", ignore_index=ignore_index)``.  The bins are
    ``torch.linspace(0, 1, n_bins + 1)`` itself, so they are bit-identical to
    torchmetrics' on this machine.
    """
    boundaries = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32).numpy()
    return _core.CalibrationBins(num_classes, ignore_index, boundaries=boundaries)


# ----------------------------------------------------------- fast paths --
# A torchmetrics object that computes what a confusion-matrix function here
# computes is counted by the C core instead of being driven batch by batch:
# same numbers (the built-ins are tested against these very classes), without
# torchmetrics' per-batch cost.  Only exact matches are taken: the class
# itself (not a subclass, which may change anything), macro or micro as the
# function computes it, top-1, global averaging, zero_division 0, and the
# num_classes and ignore_index of the comparison.

_FAST_PATHS = {
    ("MulticlassJaccardIndex", "macro"): miou,
    ("MulticlassF1Score", "macro"): macro_f1,
    ("MulticlassPrecision", "macro"): macro_precision,
    ("MulticlassRecall", "macro"): macro_recall,
    ("MulticlassAccuracy", "micro"): accuracy,
}


def confusion_fast_path(entry: Any, num_classes: Optional[int], ignore_index: Optional[int]) -> Any:
    """The confusion-matrix function ``entry`` equals, or ``entry`` itself.

    Examples
    --------
    >>> from torchmetrics.classification import MulticlassJaccardIndex  # doctest: +SKIP
    >>> confusion_fast_path(MulticlassJaccardIndex(21, average="macro", ignore_index=255), 21, 255) is miou  # doctest: +SKIP
    True
    """
    cls = type(entry)
    if num_classes is None or not cls.__module__.startswith("torchmetrics."):
        return entry
    function = _FAST_PATHS.get((cls.__name__, getattr(entry, "average", None)))
    if function is None:
        return entry
    matches = (
        getattr(entry, "num_classes", None) == num_classes
        and getattr(entry, "ignore_index", None) == ignore_index
        and getattr(entry, "top_k", 1) == 1
        and getattr(entry, "multidim_average", "global") == "global"
        and getattr(entry, "zero_division", 0) == 0
    )
    return function if matches else entry


# ---------------------------------------------------------------- tasks --


class _LazyBattery(Mapping):
    """A battery built on first use, for tasks whose metrics import optional packages.

    The image-quality and audio metrics are torchmetrics objects; building
    them when ``mushin`` is imported would make torchmetrics a dependency of
    every user.  The names are known up front, so listing works without it.
    """

    def __init__(self, factory: Callable[[], Dict[str, Any]], names: Sequence[str]):
        self._factory = factory
        self._names = tuple(names)
        self._built: Optional[Dict[str, Any]] = None

    def _battery(self) -> Dict[str, Any]:
        if self._built is None:
            built = self._factory()
            _check_battery(built, (), "battery")
            self._built = built
        return self._built

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        return self._battery()[name]

    def __iter__(self) -> Any:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _FactoryBattery(Mapping):
    """A battery given as upstream gives one: ``battery(num_classes, ignore_index) -> {name: metric}``.

    :meth:`build` calls the function for one run's ``num_classes`` and
    ``ignore_index`` and checks what it returns.  Read as a mapping (names,
    directions, a single entry) it is the battery built with both left as
    ``None``, made once on first use.
    """

    def __init__(self, factory: Callable[..., Mapping[str, Any]], owner: str):
        self.factory = factory
        self._owner = owner
        self._default: Optional[Dict[str, Any]] = None

    def build(self, num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> Dict[str, Any]:
        built = self.factory(num_classes, ignore_index)
        if not isinstance(built, Mapping):
            raise TypeError(
                f"{self._owner}: battery({num_classes!r}, {ignore_index!r}) returned "
                f"{type(built).__name__}; a battery function returns a dict {{name: metric}}"
            )
        _check_battery(built, (), self._owner)
        return dict(built)

    def _battery(self) -> Dict[str, Any]:
        if self._default is None:
            self._default = self.build(None, None)
        return self._default

    def __getitem__(self, name: str) -> Any:
        return self._battery()[name]

    def __iter__(self) -> Any:
        return iter(self._battery())

    def __len__(self) -> int:
        return len(self._battery())


@dataclass(frozen=True, init=False)
class Task:
    """What a task's models produce and which metrics judge them.

    Parameters
    ----------
    battery : mapping of str to metric, or callable
        Metric name -> one of: ``fn(counts, ignore_index) -> float`` over the
        ``(C, C)`` confusion matrix ``counts[target, prediction]``; a
        :class:`StreamingMetric` (a fresh accumulator per model); or an
        object with ``update/compute/reset`` such as a torchmetrics metric
        (deep-copied and reset per model).  Or, as upstream takes it, a
        function ``battery(num_classes, ignore_index)`` returning such a
        mapping (e.g. :func:`regression_battery`), so a custom task can
        bring any metric; :func:`resolve_battery` calls it with the run's
        ``num_classes`` and ``ignore_index``.
    predict_fn : callable
        Default ``predict_fn(model, x) -> (predictions, probabilities)``.
    prob_metrics : tuple of str
        Battery entries whose ``update`` receives probabilities (empty for
        segmentation, ``("auroc", "ece")`` for classification); the other
        streamed entries receive class-index predictions.
    requires_num_classes : bool
        Whether ``compare`` must be given ``num_classes``.
    description : str
        One line for humans, listed by :func:`list_tasks`.
    update_fn : callable, optional
        ``update_fn(states, preds, probs, target)`` owns every update of a
        batch for a task without a confusion matrix (``num_classes`` not
        required): ``states`` is ``{metric: state}`` with each state once
        (a torchmetrics metric as itself, so that an upstream ``update_fn``
        calling ``metric.update(preds, target)`` works).  When None, every
        state gets ``update(preds, probs, target)``.
    name : str, keyword-only
        Registry key, e.g. ``"segmentation"``; :func:`register_task` sets it
        to the name it registers the task under.
    class_dim : int, keyword-only
        The dimension of the model output that holds classes.

    The parameters up to ``update_fn`` are upstream's, in upstream's order.

    Examples
    --------
    >>> from mushin.metrics.tasks import Task, register_task, get_task, miou, regression_battery
    >>> seg = get_task("segmentation")
    >>> register_task("seg-miou-only", Task({"miou": miou}, seg.predict_fn))
    >>> get_task("seg-miou-only").metrics
    ('miou',)
    >>> Task(regression_battery, get_task("regression").predict_fn).metrics[:2]  # upstream's form
    ('mse', 'mae')
    """

    battery: Mapping[str, Any]
    predict_fn: PredictFn
    prob_metrics: Tuple[str, ...]
    requires_num_classes: bool
    description: str = field(compare=False)
    update_fn: Optional[Callable[..., None]] = field(compare=False)
    name: str
    class_dim: int

    def __init__(
        self,
        battery: Any,
        predict_fn: PredictFn,
        prob_metrics: Any = frozenset(),
        requires_num_classes: bool = True,
        description: str = "",
        update_fn: Optional[Callable[..., None]] = None,
        *,
        name: str = "",
        class_dim: int = 1,
    ) -> None:
        # upstream's parameters first, in upstream's order; mushin's own
        # (the registry name, the class dimension) keyword-only after them
        if isinstance(battery, str) and not isinstance(predict_fn, str):
            raise TypeError(
                f"Task takes upstream's order, Task(battery, predict_fn, ..., name=...); got the name "
                f"{battery!r} first: write Task(battery, predict_fn, ..., name={battery!r})"
            )
        for attribute, value in (("battery", battery), ("predict_fn", predict_fn),
                                 ("prob_metrics", prob_metrics), ("requires_num_classes", requires_num_classes),
                                 ("description", description), ("update_fn", update_fn),
                                 ("name", name), ("class_dim", class_dim)):
            object.__setattr__(self, attribute, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.update_fn is not None and not callable(self.update_fn):
            raise TypeError(f"task {self.name!r}: update_fn must be callable, got {type(self.update_fn).__name__}")
        if callable(self.battery) and not isinstance(self.battery, Mapping):
            object.__setattr__(self, "battery", _FactoryBattery(self.battery, f"task {self.name!r}"))
        if isinstance(self.battery, (_LazyBattery, _FactoryBattery)):  # checked when built
            if isinstance(self.prob_metrics, str) or not isinstance(self.prob_metrics, (Sequence, frozenset, set)):
                raise TypeError(f"task {self.name!r}: prob_metrics must be a list of metric names, "
                                f"got {type(self.prob_metrics).__name__}")
            return object.__setattr__(self, "prob_metrics", tuple(self.prob_metrics))
        if not self.battery:
            raise ValueError(f"task {self.name!r} needs at least one metric in its battery")
        object.__setattr__(
            self, "prob_metrics", _check_battery(self.battery, self.prob_metrics, f"task {self.name!r}")
        )

    @property
    def metrics(self) -> Tuple[str, ...]:
        return tuple(self.battery)


_REGISTRY: Dict[str, Task] = {}


def register_task(name: str, task: Task, *, overwrite: bool = False) -> None:
    """Add ``task`` to the registry under ``name`` (upstream's signature).

    A task registered under another name than its own is stored as a copy
    carrying that name, so results record the name it is found by.

    Examples
    --------
    >>> from mushin.metrics.tasks import Task, register_task, list_tasks, get_task
    >>> reg = get_task("regression")
    >>> register_task("regression-mse", Task({"mse": reg.battery["mse"]}, reg.predict_fn,
    ...               requires_num_classes=False, description="just mse"))
    >>> list_tasks()["regression-mse"]
    'just mse'
    """
    if not isinstance(task, Task):
        raise TypeError(f"register_task needs a Task, got {type(task).__name__}")
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_task: the name must be a non-empty str, got {name!r}")
    if task.name != name:
        task = replace(task, name=name)
    if task.name in _REGISTRY and not overwrite:
        raise ValueError(
            f"a task named {task.name!r} is already registered; pass overwrite=True to replace it"
        )
    _REGISTRY[task.name] = task


def get_task(task: "str | Task") -> Task:
    """Look a task up by name (a :class:`Task` is returned as is)."""
    if isinstance(task, Task):
        return task
    try:
        return _REGISTRY[task]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {task!r}; registered tasks: {list(list_tasks())}") from None


def list_tasks() -> Dict[str, str]:
    """``{name: description}`` of the registered tasks, sorted by name (as upstream).

    Examples
    --------
    >>> from mushin.metrics.tasks import list_tasks
    >>> "regression" in list_tasks()
    True
    """
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


for _metric in (miou, dice, pixel_accuracy, macro_precision, macro_recall, accuracy, macro_f1):
    _declared(_metric, True)

SEGMENTATION_BATTERY: Dict[str, ConfusionMetric] = {
    "miou": miou,
    "dice": dice,
    "pixel_acc": pixel_accuracy,
    "precision": macro_precision,
    "recall": macro_recall,
}

register_task(
    "segmentation",
    Task(
        name="segmentation",
        battery=SEGMENTATION_BATTERY,
        predict_fn=DefaultPredict(class_dim=1, min_ndim=3),
        prob_metrics=(),
        class_dim=1,
        description="Semantic segmentation (miou, dice, pixel_acc, precision, recall).",
    )
)

CLASSIFICATION_BATTERY: Dict[str, Any] = {
    "accuracy": accuracy,
    "f1": macro_f1,
    "precision": macro_precision,
    "recall": macro_recall,
    "auroc": StreamingMetric(
        roc_scores, 'MulticlassAUROC(average="macro", thresholds=None)', higher_is_better=True
    ),
    "ece": StreamingMetric(
        calibration_bins, 'MulticlassCalibrationError(n_bins=15, norm="l1")', higher_is_better=False
    ),
}

register_task(
    "classification",
    Task(
        name="classification",
        battery=CLASSIFICATION_BATTERY,
        predict_fn=DefaultPredict(class_dim=-1, min_ndim=2, max_ndim=3),
        prob_metrics=("auroc", "ece"),
        class_dim=-1,
        description="Multiclass classification (accuracy, f1, precision, recall, auroc, ece).",
    )
)


def segmentation_battery(num_classes: int, ignore_index: Optional[int] = None) -> Dict[str, Any]:
    """miou, dice, pixel_acc, precision, recall: functions of one confusion matrix.

    Both arguments are accepted for upstream's signature; the confusion
    matrix carries ``num_classes``, and ``ignore_index`` is applied when
    counting.

    Examples
    --------
    >>> from mushin.metrics.tasks import segmentation_battery
    >>> list(segmentation_battery(21, 255))
    ['miou', 'dice', 'pixel_acc', 'precision', 'recall']
    """
    return dict(SEGMENTATION_BATTERY)


def classification_battery(num_classes: int, ignore_index: Optional[int] = None) -> Dict[str, Any]:
    """accuracy, f1, precision, recall (confusion matrix), auroc and ece (C score states).

    Examples
    --------
    >>> from mushin.metrics.tasks import classification_battery
    >>> list(classification_battery(10))
    ['accuracy', 'f1', 'precision', 'recall', 'auroc', 'ece']
    """
    return dict(CLASSIFICATION_BATTERY)


for _name, _battery, _description, _predict, _update in (
    ("regression", regression_battery(), "Scalar regression (mse, mae, rmse, r2, pearson, spearman).",
     passthrough_predict, None),
    ("retrieval", retrieval_battery(), "Information retrieval (retrieval_map, ndcg, mrr, precision, recall).",
     passthrough_predict, _batteries.retrieval_update),
    ("detection", detection_battery(), "Object detection (mAP/mAR family + IoU variants).",
     _batteries.detection_predict, None),
    ("image_quality", _LazyBattery(image_quality_battery, ("ssim", "psnr", "ms_ssim", "lpips")),
     "Paired image quality (ssim, psnr, ms_ssim, lpips).", passthrough_predict, None),
    ("audio", _LazyBattery(audio_battery, ("si_sdr", "si_snr", "stoi")),
     "Speech/audio quality (si_sdr, si_snr, stoi).", passthrough_predict, None),
):
    register_task(
        _name,
        Task(
            _battery,
            _predict,
            requires_num_classes=False,
            name=_name,
            class_dim=-1,
            description=_description,
            update_fn=_update,
        ),
    )
