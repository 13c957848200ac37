"""EvalSpec: the evaluation parameters ``compare()`` and ``Study`` share, checked once.

Every check raises before any model runs (or trains) and names the parameter
at fault, so a typo in ``device=`` or ``test=`` costs nothing.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import torch

from .. import stats
from ..stats.table import _caller_stacklevel as caller_stacklevel
from ..result import check_class_names
from ..metrics.tasks import Task, get_task, resolve_battery
from ..metrics.per_image import DEFAULT_MAX_BYTES, check_per_image

__all__ = ["EvalSpec", "MAX_CLASSES", "select_metrics"]

PredictFn = Callable[[Any, Any], Tuple[Any, Any]]

# The C core's limit: a C x C int64 matrix of 65536 classes is 32 GiB.
MAX_CLASSES = 1 << 16


def check_num_classes(num_classes: Any, task: Task, metrics: Any = None) -> Optional[int]:
    """``num_classes=`` as an int, or None where the task (or a custom ``metrics`` dict) needs none.

    As upstream, a custom battery (``metrics`` a dict) needs no
    ``num_classes``: its metrics are fed predictions and labels, and no
    confusion matrix is counted.
    """
    if num_classes is None:
        if task.requires_num_classes and not isinstance(metrics, Mapping):
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


def check_ignore_index(ignore_index: Any) -> Optional[int]:
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


def warn_classification_ignore_index(task: Task, ignore_index: Optional[int], metrics: Any = None) -> None:
    """Warn that ``ignore_index`` is applied to classification, where upstream ignores it.

    Upstream mushin-py builds its classification battery without
    ``ignore_index`` (it warns and scores the ignored labels too); mushin
    leaves those samples out of every metric, which is what the argument
    asks for.  The numbers then differ from upstream's, so say so.  A custom
    ``metrics`` dict applies whatever ignore_index its metrics were built
    with, as upstream does: no warning.
    """
    if ignore_index is None or task.name != "classification" or isinstance(metrics, Mapping):
        return
    warnings.warn(
        f"ignore_index={ignore_index}: mushin leaves samples labelled {ignore_index} out of every "
        "classification metric, whereas upstream mushin-py ignores ignore_index for classification "
        "(and scores them), so these numbers differ from upstream's; leave ignore_index out to "
        "score every sample",
        UserWarning,
        stacklevel=caller_stacklevel(),
    )


def check_device(device: Any) -> Any:
    """Parse ``device=`` now, so that a typo fails before any model runs or trains."""
    if device is None:
        return None
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
    ``None``) is returned as it is, for :func:`~mushin.metrics.tasks.resolve_battery`
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


@dataclass
class EvalSpec:
    """The parameters of one evaluation, validated once when it is built.

    ``compare()`` builds one from its keyword arguments; ``Study`` and
    ``Study.from_checkpoints`` do the same, so the three share one set of
    checks and messages.  Fields hold the normalised values afterwards:
    ``task`` is a :class:`~mushin.metrics.tasks.Task`, ``alpha`` a float,
    ``class_names`` a list, ``metrics`` a dict battery (or None for the
    task's own) and ``prob_metrics`` a tuple (or None).

    Parameters
    ----------
    task : str or Task
    num_classes, ignore_index : int, optional
    predict_fn : callable, optional
    test, correction : str
    alpha : float
    device : str or torch.device, optional
    class_names : list of str, optional
    progress : bool, optional
    metrics : list of str, or dict of str to metric, optional
    prob_metrics : list of str, optional
    one_pass : bool
        ``True`` (default): one pass over the data feeds every model;
        ``False``: one pass per model.
    per_image : bool or {"int64", "int32"}
    per_image_max_bytes : int

    Examples
    --------
    >>> from mushin.evaluation import EvalSpec
    >>> spec = EvalSpec(task="segmentation", num_classes=21, ignore_index=255)
    >>> spec.task.name, spec.test, spec.settings()["num_classes"]
    ('segmentation', 'wilcoxon', 21)
    >>> EvalSpec(task="segmentation")
    Traceback (most recent call last):
    ...
    ValueError: compare(task='segmentation') needs num_classes=...: the number of classes the model predicts (21 for PASCAL VOC)
    """

    task: Any = "classification"
    num_classes: Optional[int] = None
    ignore_index: Optional[int] = None
    predict_fn: Optional[PredictFn] = None
    test: str = "wilcoxon"
    alpha: float = 0.05
    correction: str = "holm"
    device: Any = None
    class_names: Optional[Sequence[str]] = None
    progress: Optional[bool] = None
    metrics: Any = None
    prob_metrics: Optional[Sequence[str]] = None
    one_pass: bool = True
    per_image: Any = False
    per_image_max_bytes: int = DEFAULT_MAX_BYTES
    battery: dict = field(init=False, repr=False, compare=False)
    battery_prob_metrics: Tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.task = get_task(self.task)
        stats.check_test(self.test)
        stats.check_correction(self.correction)
        self.alpha = stats.check_alpha(self.alpha)
        self.num_classes = check_num_classes(self.num_classes, self.task, self.metrics)
        self.ignore_index = check_ignore_index(self.ignore_index)
        warn_classification_ignore_index(self.task, self.ignore_index, self.metrics)
        if self.predict_fn is not None and not callable(self.predict_fn):
            raise TypeError(f"predict_fn must be callable, got {type(self.predict_fn).__name__}")
        self.class_names = check_class_names(self.class_names, self.num_classes)
        self.metrics, self.prob_metrics = select_metrics(self.task, self.metrics, self.prob_metrics)
        self.battery, self.battery_prob_metrics = resolve_battery(
            self.task, self.metrics, self.prob_metrics,
            num_classes=self.num_classes, ignore_index=self.ignore_index,
        )
        check_device(self.device)
        check_per_image(self.per_image, self.per_image_max_bytes, self.num_classes)
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(
                f"progress must be True, False or None (auto: on for a terminal), got {self.progress!r}"
            )
        if not isinstance(self.one_pass, bool):
            raise TypeError(
                f"one_pass must be True (every model in one pass over the data) or False (one pass "
                f"per model), got {self.one_pass!r}"
            )

    def check_design(self, seeds_per_method: Mapping[str, int]) -> None:
        """Refuse a paired test over unequal seed counts (see :func:`mushin.stats.check_design`)."""
        stats.check_design(self.test, seeds_per_method)

    def settings(self) -> dict:
        """The parameters a result records (``result.settings``)."""
        return {
            "task": self.task.name,
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "test": self.test,
            "alpha": self.alpha,
            "correction": self.correction,
        }

    @classmethod
    def names(cls) -> List[str]:
        """The keyword arguments EvalSpec takes, for wrappers that pass them on."""
        return [f.name for f in fields(cls) if f.init]
