"""The metric model: mergeable states and the metrics that read them.

A **state** accumulates what a model's predictions say over the data, batch
by batch, in memory that does not grow with the data (except where a metric
needs every score, as AUROC and Spearman do).  Every state follows one
protocol, so the same object serves threads, ``torch.distributed``,
``save``/``load`` and re-analysis:

``update(preds, probs, target)``
    Add one batch.  ``probs`` is the second element of ``predict_fn``'s
    tuple (None for tasks whose models output the prediction itself).
``merge(other)``
    Add another state of the same kind (or its ``state_dict()``).
``state_dict()`` / ``load_state_dict(d)``
    The state as plain arrays, and back.
``compute()``
    The metric values: a float, or ``{variable: float}``.
``reset()``
    Empty again.

A **metric** of a battery is a declaration, :class:`StateMetric`: which
state it reads (a factory; metrics naming the same factory share one state
per model), which value of that state's ``compute()`` it is, its direction
and whether it needs probabilities.  Any ``torchmetrics.Metric`` is wrapped
by :class:`TorchmetricsState`, which merges through torchmetrics' own state
reductions; a dict-valued one gives one variable per key, as upstream does.

Examples
--------
>>> import torch
>>> from mushin.metrics.states import TorchmetricsState
>>> from torchmetrics import MeanAbsoluteError                 # doctest: +SKIP
>>> a, b = TorchmetricsState(MeanAbsoluteError()), TorchmetricsState(MeanAbsoluteError())  # doctest: +SKIP
>>> a.update(torch.tensor([1.0, 2.0]), None, torch.tensor([1.5, 2.0]))  # doctest: +SKIP
>>> b.update(torch.tensor([0.0]), None, torch.tensor([1.0]))            # doctest: +SKIP
>>> a.merge(b); a.compute()                                              # doctest: +SKIP
0.5
"""
from __future__ import annotations

import contextlib
import copy
import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Protocol, Tuple, Union, runtime_checkable

import numpy as np
import torch

from .. import _core

__all__ = [
    "MetricState",
    "StateMetric",
    "TorchmetricsState",
    "RegressionState",
    "SpearmanState",
    "RetrievalState",
    "is_torchmetrics_metric",
    "metric_values",
]

Value = Union[float, Dict[str, float]]


# the logit dtypes the C states' update_logits read
LOGIT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def host_logits(preds: Any, target: Any) -> bool:
    """Whether the C states can count the logits ``preds`` against ``target``
    as they are: both tensors in host memory, ``preds`` of a dtype they read."""
    return preds.device.type == "cpu" and target.device.type == "cpu" and preds.dtype in LOGIT_DTYPES


def retrieval_pair(target: Any) -> Tuple[Any, Any]:
    """The retrieval task's labels ``(relevance, indexes)``, or a TypeError saying what came instead."""
    if not isinstance(target, (tuple, list)) or len(target) != 2:
        raise TypeError(
            f"retrieval labels must be a pair (relevance, indexes), got {type(target).__name__}"
            + (f" of length {len(target)}" if isinstance(target, (tuple, list)) else "")
        )
    return target[0], target[1]


@runtime_checkable
class MetricState(Protocol):
    """The protocol every state follows (see the module docstring)."""

    def update(self, preds: Any, probs: Any, target: Any) -> None: ...

    def merge(self, other: Any) -> None: ...

    def state_dict(self) -> Dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...

    def compute(self) -> Any: ...

    def reset(self) -> None: ...


def is_torchmetrics_metric(obj: Any) -> bool:
    """Whether ``obj`` is a ``torchmetrics.Metric`` (False when torchmetrics is not installed).

    A Metric instance exists only once torchmetrics is imported, so the
    check looks the module up instead of importing it (which would cost
    every ``import mushin`` the import of torchmetrics).
    """
    torchmetrics = sys.modules.get("torchmetrics")
    return torchmetrics is not None and isinstance(obj, torchmetrics.Metric)


@contextlib.contextmanager
def naming_metric(name: str, batch: Optional[int] = None) -> Iterator[None]:
    """Put ``metric 'name': `` (``batch i, metric 'name': `` given ``batch``) in
    front of a TypeError, ValueError or RuntimeError raised inside.

    Only those exact types are re-raised under their own type: a subclass may
    need constructor arguments of its own, so it passes through unchanged.
    """
    try:
        yield
    except (TypeError, ValueError, RuntimeError) as exc:
        if type(exc) not in (TypeError, ValueError, RuntimeError):
            raise
        where = "" if batch is None else f"batch {batch}, "
        raise type(exc)(f"{where}metric {name!r}: {exc}") from exc


def _as_float(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"{where}: compute() returned {type(value).__name__} {tuple(getattr(value, 'shape', ()))}; "
            "a metric must compute one number, or a dict of numbers"
        ) from None


def metric_values(value: Any, where: str) -> Value:
    """``compute()``'s result as a float or ``{key: float}`` (a dict-valued metric)."""
    if isinstance(value, Mapping):
        return {str(k): _as_float(v, f"{where}[{k!r}]") for k, v in value.items()}
    return _as_float(value, where)


# ------------------------------------------------------------ declaration --


@dataclass(frozen=True)
class StateMetric:
    """One metric of a battery: a value of a mergeable state.

    Parameters
    ----------
    state : callable
        ``state(num_classes, ignore_index)`` returns a fresh state (see
        :class:`MetricState`).  Metrics of one battery that name the same
        factory share one state per model, so ``mse`` and ``r2`` cost one
        pass.
    key : str, optional
        The entry of the state's ``compute()`` dict this metric is; None
        when ``compute()`` returns the value itself (or a dict whose every
        key becomes a variable).
    higher_is_better : bool, optional
        The metric's direction; None leaves it undeclared.
    needs_probs : bool
        Whether the state's ``update`` reads the probabilities.
    description : str
        What it is, for humans.

    Examples
    --------
    >>> from mushin.metrics.states import StateMetric, RegressionState
    >>> mse = StateMetric(RegressionState.make, "mse", higher_is_better=False)
    >>> state = mse.state(None, None)
    >>> state.update(torch.tensor([1.0, 2.0]), None, torch.tensor([1.0, 4.0]))
    >>> mse.value(state)
    2.0
    """

    state: Callable[[Optional[int], Optional[int]], Any]
    key: Optional[str] = None
    higher_is_better: Optional[bool] = None
    needs_probs: bool = False
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not callable(self.state):
            raise TypeError(
                "StateMetric.state must be callable as state(num_classes, ignore_index), "
                f"got {type(self.state).__name__}"
            )
        if self.higher_is_better is not None and not isinstance(self.higher_is_better, (bool, np.bool_)):
            raise TypeError(f"StateMetric: higher_is_better must be True, False or None, got {self.higher_is_better!r}")

    def value(self, state: Any, computed: Any = None) -> Value:
        """This metric's value(s) from ``state`` (or from its already computed result)."""
        result = state.compute() if computed is None else computed
        if self.key is None:
            return metric_values(result, "metric")
        return _as_float(result[self.key], f"metric {self.key!r}")


# ------------------------------------------------------ torchmetrics adapter --


class TorchmetricsState:
    """Any ``torchmetrics.Metric`` behind the state protocol.

    The metric is deep-copied and reset (the caller's object is never
    touched).  ``update`` feeds it ``probs`` when ``takes_probs`` and
    ``preds`` otherwise.  ``merge`` goes through torchmetrics' own
    reductions (``merge_state``, or ``_reduce_states`` for metrics that
    declare ``full_state_update``), with this state's data first, so merging
    rank 0, 1, ... in order gives the same list states as one process would.
    Its own ``torch.distributed`` synchronisation is switched off: mushin
    merges the ranks' states itself, and letting both happen would count
    every batch twice.

    Examples
    --------
    >>> from torchmetrics.regression import MeanSquaredError  # doctest: +SKIP
    >>> s = TorchmetricsState(MeanSquaredError())            # doctest: +SKIP
    >>> s.update(torch.tensor([1.0]), None, torch.tensor([3.0])); s.compute()  # doctest: +SKIP
    4.0
    """

    def __init__(self, metric: Any, takes_probs: bool = False):
        if not is_torchmetrics_metric(metric):
            raise TypeError(f"TorchmetricsState wraps a torchmetrics.Metric, got {type(metric).__name__}")
        self.metric = copy.deepcopy(metric)
        self.metric.reset()
        self.metric.sync_on_compute = False
        self.takes_probs = bool(takes_probs)

    def __repr__(self) -> str:
        return f"TorchmetricsState({type(self.metric).__name__})"

    @property
    def higher_is_better(self) -> Optional[bool]:
        return getattr(self.metric, "higher_is_better", None)

    def update(self, preds: Any, probs: Any, target: Any) -> None:
        inputs = probs if self.takes_probs else preds
        if isinstance(target, torch.Tensor) and isinstance(inputs, torch.Tensor):
            target = target.to(inputs.device)
        self.metric.update(inputs, target)

    def state_dict(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {}
        for name, value in self.metric.metric_state.items():
            if isinstance(value, torch.Tensor):
                state[name] = value.detach().cpu().clone()
            else:  # a list state: one tensor per update
                state[name] = [v.detach().cpu().clone() for v in value]
        state["_update_count"] = int(self.metric._update_count)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = [name for name in self.metric._defaults if name not in state]
        if missing:
            raise ValueError(f"{self!r}: state dict lacks {missing}; it holds {sorted(state)}")
        self.metric.reset()
        for name in self.metric._defaults:
            value = state[name]
            setattr(self.metric, name, list(value) if isinstance(value, (list, tuple)) else value)
        self.metric._update_count = int(state.get("_update_count", 1))
        self.metric._computed = None

    def merge(self, other: Any) -> None:
        incoming = other.state_dict() if isinstance(other, TorchmetricsState) else dict(other)
        mine = self.state_dict()
        # torchmetrics' reductions put the incoming state first; load the
        # other side and reduce this one into it, so this one comes first.
        self.load_state_dict(incoming)
        count = int(mine.pop("_update_count")) + int(incoming.get("_update_count", 0))
        try:
            self.metric.merge_state(mine)
        except RuntimeError:  # full_state_update metrics: the same reductions, without the guard
            self.metric._reduce_states(mine)
        self.metric._update_count = count
        self.metric._computed = None

    def compute(self) -> Value:
        if self.metric._update_count == 0:
            return math.nan  # torchmetrics warns and may fail on empty list states
        return metric_values(self.metric.compute(), type(self.metric).__name__)

    def reset(self) -> None:
        self.metric.reset()


# --------------------------------------------------------------- C states --


def _core_type(name: str) -> Any:
    try:
        return getattr(_core, name)
    except AttributeError:
        raise RuntimeError(
            f"mushin._core has no {name}: the C extension is older than this package; rebuild it "
            "with `python setup.py build_ext --inplace`"
        ) from None


class _CState:
    """A state of the C core behind the ``update(preds, probs, target)`` protocol."""

    type_name = ""

    def __init__(self) -> None:
        self.core = _core_type(self.type_name)()

    @classmethod
    def make(cls, num_classes: Optional[int] = None, ignore_index: Optional[int] = None) -> "_CState":
        """A fresh state (the factory signature batteries use); both arguments are ignored."""
        return cls()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type_name})"

    def merge(self, other: Any) -> None:
        self.core.merge(other.core if isinstance(other, _CState) else other)

    def state_dict(self) -> Dict[str, Any]:
        return self.core.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.core.load_state_dict(dict(state))

    def compute(self) -> Dict[str, float]:
        return self.core.compute()

    def reset(self) -> None:
        self.core.reset()


class RegressionState(_CState):
    """Exact moments of ``(preds, target)``: mse, mae, rmse, r2 and pearson (``RegressionMoments``).

    ``preds`` and ``target`` are ``(N,)`` or ``(N, 1)`` floats of one shape.
    """

    type_name = "RegressionMoments"

    def update(self, preds: Any, probs: Any, target: Any) -> None:
        self.core.update(_host(preds), _host(target))


class SpearmanState(RegressionState):
    """Every ``(pred, target)`` pair, ranked at compute: spearman (``RankedPairs``)."""

    type_name = "RankedPairs"


class RetrievalState(_CState):
    """Per-query relevance lists: retrieval_map, ndcg, mrr, precision, recall (``RetrievalGroups``).

    ``target`` is ``(relevance, indexes)``: relevance and query indexes of
    ``preds``'s shape.
    """

    type_name = "RetrievalGroups"

    def update(self, preds: Any, probs: Any, target: Any) -> None:
        relevance, indexes = retrieval_pair(target)
        self.core.update(_host(preds), _host(relevance), _host(indexes))


def _host(x: Any) -> Any:
    """A tensor in host memory, for the C states (which read CPU memory by DLPack)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    return x
