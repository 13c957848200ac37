"""Argument checks of :class:`~mushin.study.Study`, each naming what was wrong."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from ..evaluation.spec import EvalSpec


PathLike = Union[str, "os.PathLike[str]"]
TrainFn = Callable[[int], PathLike]
LoadFn = Callable[[str], Any]
ON_ERROR = ("raise", "nan", "record")
ON_CHANGE = ("error", "retrain", "reuse")



def _check_seeds(seeds: Any, what: str = "seeds") -> List[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
        raise TypeError(f"{what} must be a list of ints such as [0, 1, 2], got {type(seeds).__name__}")
    out: List[int] = []
    for i, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"{what}[{i}] is {seed!r}; seeds must be ints")
        out.append(int(seed))
    if not out:
        raise ValueError(f"{what} is empty; give at least one seed")
    repeated = sorted({s for s in out if out.count(s) > 1})
    if repeated:
        raise ValueError(f"{what} repeats {repeated}; every seed must be distinct")
    return out


def _check_methods(methods: Any) -> Dict[str, TrainFn]:
    if not isinstance(methods, Mapping) or not methods:
        raise TypeError(
            "methods must be a non-empty dict {name: train_fn}, where train_fn(seed) "
            f"trains one model and returns its checkpoint path; got {type(methods).__name__}"
        )
    out: Dict[str, TrainFn] = {}
    for name, train_fn in methods.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"method names must be non-empty strings, got {name!r}")
        if not callable(train_fn):
            hint = ""
            if isinstance(train_fn, Sequence) and not isinstance(train_fn, (str, bytes)):
                hint = " (for checkpoints you already have, use Study.from_checkpoints)"
            raise TypeError(
                f"methods[{name!r}] is a {type(train_fn).__name__}, not a training function "
                f"train_fn(seed) -> checkpoint path{hint}"
            )
        out[name] = train_fn
    return out


def _check_checkpoints(checkpoints: Any, seeds: Optional[List[int]]) -> Dict[str, List[str]]:
    if not isinstance(checkpoints, Mapping) or not checkpoints:
        raise TypeError(
            "checkpoints must be a non-empty dict {name: [path_seed0, path_seed1, ...]}, "
            f"got {type(checkpoints).__name__}"
        )
    out: Dict[str, List[str]] = {}
    for name, paths in checkpoints.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"method names must be non-empty strings, got {name!r}")
        if isinstance(paths, (str, bytes, os.PathLike)) or not isinstance(paths, Sequence):
            raise TypeError(
                f"checkpoints[{name!r}] must be a list of paths (one per seed), got {type(paths).__name__}"
            )
        if not paths:
            raise ValueError(f"checkpoints[{name!r}] is empty; give at least one path")
        if seeds is not None and len(paths) != len(seeds):
            raise ValueError(f"checkpoints[{name!r}] has {len(paths)} paths for {len(seeds)} seeds {seeds}")
        checked = []
        for i, path in enumerate(paths):
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"checkpoints[{name!r}][{i}] is a {type(path).__name__}, not a path")
            full = os.path.abspath(os.fspath(path))
            if not os.path.exists(full):
                raise FileNotFoundError(f"checkpoints[{name!r}][{i}]: {os.fspath(path)!r} does not exist")
            checked.append(full)
        out[name] = checked
    return out


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _check_progress(progress: Any) -> Optional[bool]:
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (auto: on for a terminal), got {progress!r}")
    return progress


def _check_executor(executor: Any) -> Any:
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor (anything with submit(fn)), "
            f"got {type(executor).__name__}"
        )
    return executor


def _check_group_bytes(group_bytes: Any) -> Optional[int]:
    if group_bytes is not None and (isinstance(group_bytes, bool) or not isinstance(group_bytes, (int, np.integer))):
        raise TypeError(f"group_bytes must be a positive int (parameter bytes per group) or None, got {group_bytes!r}")
    if group_bytes is not None and group_bytes <= 0:
        raise ValueError(f"group_bytes must be a positive int (parameter bytes per group) or None, got {group_bytes!r}")
    return None if group_bytes is None else int(group_bytes)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


# The evaluation parameters Study and Study.from_checkpoints take one by one,
# with their defaults (upstream's); spec= replaces them all.
EVALUATION_DEFAULTS: Dict[str, Any] = {
    "num_classes": None,
    "task": "classification",
    "test": "wilcoxon",
    "alpha": 0.05,
    "correction": "holm",
    "ignore_index": None,
    "predict_fn": None,
    "metrics": None,
    "prob_metrics": None,
    "device": None,
    "class_names": None,
}


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    # only plain values compare: a tensor or a metric object is never "the default"
    return type(value) in (str, float, int) and type(value) is type(default) and value == default


def evaluation_spec(spec: Any, **given: Any) -> EvalSpec:
    """One :class:`EvalSpec` from ``spec=`` or from the individual evaluation parameters.

    ``spec=`` and the individual parameters are exclusive: mixing them would
    leave it unclear which value wins, so any individual parameter that is
    not at its default next to a ``spec`` is refused, naming it.
    """
    if spec is None:
        return EvalSpec(**given)
    if not isinstance(spec, EvalSpec):
        raise TypeError(
            f"spec must be a mushin.evaluation.EvalSpec, got {type(spec).__name__}; or leave spec out "
            "and pass the evaluation parameters (task=, num_classes=, ...) one by one"
        )
    clash = [name for name, value in given.items() if not _is_default(value, EVALUATION_DEFAULTS[name])]
    if clash:
        raise TypeError(
            f"spec= and {', '.join(f'{name}=' for name in clash)} were both given; pass the "
            "evaluation parameters either inside the EvalSpec or one by one, not both"
        )
    return spec


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)
