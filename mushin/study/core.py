"""Study: train every method for every seed, survive crashes, then compare.

A :class:`Study` calls ``train_fn(seed)`` for every (method, seed), keeps each
checkpoint under a stable name in ``working_dir``, records every run in an
atomically written ``manifest.json`` and, once every run has succeeded,
evaluates the checkpoints one at a time through the same streaming path as
:func:`mushin.compare`.  Running the same study again trains only what is
missing or failed; a training function whose code changed is detected and
reported instead of silently reusing its old checkpoints.

Training jobs can run on any ``concurrent.futures.Executor`` (a
``ProcessPoolExecutor``, ``distributed.Client(...).get_executor()``, ...): the
executor schedules, the study only submits jobs and records their outcomes.
"""
from __future__ import annotations

import ast
import concurrent.futures as cf
import contextlib
import datetime
import functools
import hashlib
import inspect
import json
import linecache
import os
import pickle
import re
import shutil
import tempfile
import textwrap
import time
import traceback
import uuid
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import stats
from .compare import (
    PredictFn,
    _check_data,
    _check_device,
    _check_ignore_index,
    _check_num_classes,
    run_comparison,
    select_metrics,
)
from .result import BenchmarkResult, check_class_names
from .tasks import Task, get_task, resolve_battery

try:  # POSIX advisory lock: released by the OS when the holder dies, even on SIGKILL
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Study", "IncompleteSweepError", "StaleCheckpointError", "train_fn_fingerprint"]

PathLike = Union[str, "os.PathLike[str]"]
TrainFn = Callable[[int], PathLike]
LoadFn = Callable[[str], Any]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CHECKPOINT_DIR = "checkpoints"
ON_ERROR = ("raise", "record")
ON_CHANGE = ("error", "retrain", "reuse")
# How often to look at futures that are not concurrent.futures.Future (e.g. submitit jobs).
POLL_SECONDS = 0.5


# ---------------------------------------------------------------- errors --


class IncompleteSweepError(RuntimeError):
    """Some training runs of a :class:`Study` failed, so nothing was compared.

    Attributes
    ----------
    failed : list of (str, int)
        The ``(method, seed)`` runs that failed, in study order.
    errors : dict
        ``(method, seed) -> "ExceptionType: message"``.
    manifest_path : str
        The manifest holding each failure's full traceback.
    """

    def __init__(self, failed: Sequence[Tuple[str, int]], errors: Mapping[Tuple[str, int], str], manifest_path: str):
        self.failed = list(failed)
        self.errors = dict(errors)
        self.manifest_path = manifest_path
        lines = [f"  {method!r} seed {seed}: {self.errors.get((method, seed), '')}" for method, seed in self.failed]
        super().__init__(
            f"{len(self.failed)} training run(s) failed, so no statistics were computed:\n"
            + "\n".join(lines)
            + f"\nTracebacks are in {manifest_path}.  Fix the cause and call run() again: "
            "completed runs are reused and only the failed ones are trained."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.failed, self.errors, self.manifest_path))


class StaleCheckpointError(ValueError):
    """Completed runs in ``working_dir`` were trained by code that has changed since."""


# ----------------------------------------------------------- fingerprint --

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable_repr(value: Any) -> str:
    """``repr`` without memory addresses, which change from one process to the next."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not stop the study
        text = f"<{type(value).__qualname__}>"
    return _ADDRESS.sub("", text)


def _code_constants(code: Any) -> str:
    parts = []
    for const in code.co_consts:
        parts.append(_code_constants(const) if inspect.iscode(const) else _stable_repr(const))
    return f"({','.join(parts)};{','.join(code.co_names)})"


def _function_source(fn: Any) -> Optional[str]:
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None


def _lambda_source(fn: Any) -> Optional[str]:
    """The text of the lambda alone.

    ``inspect.getsource`` returns the whole statement around a lambda, so an
    edit to, say, the seed list next to it would look like a code change.
    The lambda's own text comes from the parsed file; when several lambdas
    start on its line, ``None`` (the caller falls back to bytecode).
    """
    try:
        filename = inspect.getsourcefile(fn)
        lines = linecache.getlines(filename) if filename else []
        text = "".join(lines)
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    first_line = fn.__code__.co_firstlineno
    hits = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda) and node.lineno == first_line]
    if len(hits) != 1:
        return None
    return ast.get_source_segment(text, hits[0])


def _callable_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        return f"partial({_callable_name(fn.func)})"
    target = getattr(fn, "__func__", fn)
    module = getattr(target, "__module__", None) or type(fn).__module__
    qualname = getattr(target, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}"


def _feed_fingerprint(digest: Any, fn: Any) -> None:
    def feed(text: str) -> None:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")

    if isinstance(fn, functools.partial):
        feed("partial")
        _feed_fingerprint(digest, fn.func)
        feed(_stable_repr(fn.args))
        feed(_stable_repr(sorted(fn.keywords.items())))
        return
    if inspect.ismethod(fn):
        feed(type(fn.__self__).__qualname__)
        fn = fn.__func__
    if inspect.isfunction(fn):
        feed(fn.__module__ or "")
        feed(fn.__qualname__)
        source = _lambda_source(fn) if fn.__name__ == "<lambda>" else _function_source(fn)
        feed(source if source is not None else fn.__code__.co_code.hex())
        feed(_code_constants(fn.__code__))
        feed(_stable_repr(fn.__defaults__))
        feed(_stable_repr(fn.__kwdefaults__))
        for cell in fn.__closure__ or ():
            try:
                feed(_stable_repr(cell.cell_contents))
            except ValueError:  # empty cell
                feed("<empty>")
        return
    cls = type(fn)
    feed(_callable_name(fn))
    feed(f"{cls.__module__}.{cls.__qualname__}")
    try:
        feed(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        call = getattr(cls, "__call__", None)
        code = getattr(call, "__code__", None)
        feed(code.co_code.hex() if code is not None else "")
    feed(_stable_repr(getattr(fn, "__dict__", None)))


def train_fn_fingerprint(fn: Callable[..., Any]) -> str:
    """A hash of what a training function's own code says it does.

    It covers the function's qualified name and source (bytecode when the
    source is not available), its constants, default arguments, closure
    values and, for ``functools.partial``, the bound arguments.  It does not
    see functions the training function calls, global variables it reads or
    files it loads: after changing those, retrain with ``Study(..., rerun=...)``.

    Examples
    --------
    >>> from mushin.study import train_fn_fingerprint
    >>> train_fn_fingerprint(lambda seed: seed) == train_fn_fingerprint(lambda seed: seed + 1)
    False
    """
    digest = hashlib.sha256()
    _feed_fingerprint(digest, fn)
    return digest.hexdigest()


# --------------------------------------------------------------- manifest --


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: PathLike, payload: Any) -> None:
    """Replace ``path`` with ``payload`` as JSON so that it is never seen half written.

    The text goes to a temporary file in the same directory, is flushed to
    disk, and is renamed over ``path`` (an atomic replace on POSIX and
    Windows).  A crash at any instant leaves either the old or the new file.
    """
    path = Path(path)
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


# ------------------------------------------------------------ checkpoint --

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _safe_dirname(method: str) -> str:
    safe = _SAFE_NAME.sub("_", method).strip(".") or "method"
    if safe != method:
        # keep "a/b" and "a_b" apart
        safe += "-" + hashlib.sha1(method.encode("utf-8")).hexdigest()[:8]
    return safe


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _store_checkpoint(returned: Any, method: str, seed: int, working_dir: Path) -> Tuple[str, str]:
    """Check what ``train_fn`` returned and put it under its stable name.

    Returns ``(stable_path, returned_path)``.  A checkpoint written inside
    ``working_dir`` is moved (a rename, no copy); one written elsewhere is
    copied, leaving the original alone.  Either way the stable name appears
    atomically: a file at the stable path is always a complete checkpoint.
    """
    where = f"train_fn of method {method!r} for seed {seed}"
    if returned is None:
        raise TypeError(
            f"{where} returned None; it must return the path of the checkpoint it saved "
            "(e.g. `torch.save(model, path); return path`)"
        )
    if not isinstance(returned, (str, os.PathLike)):
        hint = ""
        if callable(returned) or hasattr(returned, "state_dict"):
            hint = "; it looks like the model itself: save it and return the file's path"
        raise TypeError(f"{where} returned a {type(returned).__name__}, not a path{hint}")
    source = Path(os.path.abspath(os.fspath(returned)))
    if not source.exists():
        raise FileNotFoundError(f"{where} returned {os.fspath(returned)!r}, but no such file or directory exists")
    if source == working_dir or source in working_dir.parents:
        raise ValueError(
            f"{where} returned {os.fspath(returned)!r}, which contains the study's working_dir "
            f"{str(working_dir)!r}; return the checkpoint file, or a folder of its own"
        )
    suffix = source.suffix if source.is_file() else ""
    stable = working_dir / CHECKPOINT_DIR / _safe_dirname(method) / f"seed-{seed}{suffix}"
    if source == stable:
        return str(stable), str(source)
    stable.parent.mkdir(parents=True, exist_ok=True)
    staging = stable.with_name(f".{stable.name}.{uuid.uuid4().hex}.tmp")
    inside = working_dir in source.parents
    try:
        if inside:
            os.replace(source, staging)
        elif source.is_dir():
            shutil.copytree(source, staging)
        else:
            shutil.copy2(source, staging)
        if staging.is_dir() and stable.exists():
            # os.replace cannot put a directory over a non-empty one: move the old one aside first
            old = stable.with_name(f".{stable.name}.{uuid.uuid4().hex}.old")
            os.replace(stable, old)
            os.replace(staging, stable)
            _remove_path(old)
        else:
            os.replace(staging, stable)
    except BaseException:
        _remove_path(staging)
        raise
    return str(stable), str(source)


# ------------------------------------------------------ manifest checks --
# The manifest decides which files are loaded as models and which old files
# are deleted, so it is checked whole before anything acts on it: a damaged
# or edited one must not point the study at another run's checkpoint or at
# a file outside working_dir.

RUN_STATUSES = ("started", "done", "failed", "cancelled")
_SEED_KEY = re.compile(r"-?[0-9]+")


def _damaged(path: Path, what: str) -> str:
    return (
        f"the study manifest {path} is damaged: {what}.  Restore it from a backup, or delete "
        "it to train every run again"
    )


def _checkpoint_problem(checkpoint: str, method: str, seed: str, working_dir: Path) -> Optional[str]:
    """Why ``checkpoint`` is not run (method, seed)'s own file inside ``working_dir``, or None."""
    relative = Path(checkpoint)
    if relative.is_absolute() or ".." in relative.parts:
        return "it is not a path inside working_dir"
    folder = Path(CHECKPOINT_DIR) / _safe_dirname(method)
    stem = f"seed-{seed}"
    own_name = relative.name == stem or (relative.name.startswith(stem + ".") and relative.stem == stem)
    if relative.parent != folder or not own_name:
        return f"it is not this run's own file {folder / stem}<suffix>"
    real = os.path.realpath(working_dir / relative)
    if os.path.commonpath([real, os.path.realpath(working_dir)]) != os.path.realpath(working_dir):
        return f"it is a link to {real}, outside working_dir"
    return None


def _check_manifest(manifest: Any, path: Path, working_dir: Path) -> None:
    """Raise ``ValueError`` unless ``manifest`` is a well-formed study manifest."""
    if not isinstance(manifest, dict):
        raise ValueError(_damaged(path, f"it holds a JSON {type(manifest).__name__}, not an object"))
    if "format" not in manifest:
        raise ValueError(_damaged(path, "it has no 'format' key"))
    if manifest["format"] != MANIFEST_FORMAT:
        raise ValueError(
            f"the study manifest {path} has format {manifest['format']!r}, but this mushin reads "
            f"format {MANIFEST_FORMAT}: it was written by another version of mushin.  Use that "
            "version, another working_dir, or delete the manifest to train every run again"
        )
    for key, kind in (("seeds", (list, type(None))), ("methods", dict), ("runs", dict)):
        if key not in manifest:
            raise ValueError(_damaged(path, f"it has no {key!r} key"))
        if not isinstance(manifest[key], kind):
            raise ValueError(_damaged(path, f"{key!r} is a JSON {type(manifest[key]).__name__}"))
    for i, seed in enumerate(manifest["seeds"] or []):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(_damaged(path, f"seeds[{i}] is {seed!r}, not an int"))
    for name, entry in manifest["methods"].items():
        if not isinstance(entry, dict):
            raise ValueError(_damaged(path, f"methods[{name!r}] is a JSON {type(entry).__name__}, not an object"))
    for method, runs in manifest["runs"].items():
        if not isinstance(runs, dict):
            raise ValueError(_damaged(path, f"runs[{method!r}] is a JSON {type(runs).__name__}, not an object"))
        for seed, record in runs.items():
            where = f"runs[{method!r}][{seed!r}]"
            if not _SEED_KEY.fullmatch(seed):
                raise ValueError(_damaged(path, f"{where}: the seed {seed!r} is not an int"))
            if not isinstance(record, dict):
                raise ValueError(_damaged(path, f"{where} is a JSON {type(record).__name__}, not an object"))
            status = record.get("status")
            if status not in RUN_STATUSES:
                raise ValueError(_damaged(path, f"{where}['status'] is {status!r}, not one of {list(RUN_STATUSES)}"))
            checkpoint = record.get("checkpoint")
            if checkpoint is None and status == "done":
                raise ValueError(_damaged(path, f"{where} is done but names no checkpoint"))
            if checkpoint is not None and not isinstance(checkpoint, str):
                raise ValueError(_damaged(path, f"{where}['checkpoint'] is {checkpoint!r}, not a path"))
            for key, kind in (("code_hash", str), ("error", dict)):
                value = record.get(key)
                if value is not None and not isinstance(value, kind):
                    raise ValueError(_damaged(path, f"{where}[{key!r}] is a JSON {type(value).__name__}"))
            if checkpoint is not None:
                problem = _checkpoint_problem(checkpoint, method, seed, working_dir)
                if problem is not None:
                    raise ValueError(
                        f"the study manifest {path} names {checkpoint!r} as the checkpoint of method "
                        f"{method!r}, seed {seed}, and {problem}.  A study loads and replaces only "
                        "each run's own checkpoint under working_dir/checkpoints.  Restore the "
                        "manifest from a backup, or delete it to train every run again"
                    )


class RunOutcome:
    """What one training job reports back to the study (crosses process boundaries)."""

    def __init__(
        self,
        method: str,
        seed: int,
        *,
        checkpoint: Optional[str] = None,
        returned_path: Optional[str] = None,
        started_at: Optional[str] = None,
        duration_s: Optional[float] = None,
        exception: Optional[BaseException] = None,
        error: Optional[Dict[str, str]] = None,
    ):
        self.method = method
        self.seed = seed
        self.checkpoint = checkpoint
        self.returned_path = returned_path
        self.started_at = started_at
        self.duration_s = duration_s
        self.exception = exception
        self.error = error
        self.from_worker = False  # set when unpickled: the outcome came from another process

    @property
    def ok(self) -> bool:
        return self.error is None

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        try:  # the exception object is a convenience; its text is already in ``error``
            pickle.dumps(state["exception"])
        except Exception:
            state["exception"] = None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.from_worker = True


def _error_record(exc: BaseException, tb_text: str) -> Dict[str, str]:
    return {"type": type(exc).__qualname__, "message": str(exc), "traceback": tb_text}


class TrainJob:
    """One (method, seed) run: call ``train_fn(seed)``, store the checkpoint.

    This is what is submitted to an executor; it pickles whenever the
    training function does.  Exceptions raised by the training function are
    caught and reported in the :class:`RunOutcome`, with their traceback, so
    that every executor brings failures back the same way.
    """

    def __init__(self, method: str, seed: int, train_fn: TrainFn, working_dir: str):
        self.method = method
        self.seed = seed
        self.train_fn = train_fn
        self.working_dir = working_dir

    def __call__(self) -> RunOutcome:
        started_at = _now()
        start = time.perf_counter()
        try:
            returned = self.train_fn(self.seed)
            checkpoint, returned_path = _store_checkpoint(returned, self.method, self.seed, Path(self.working_dir))
        except Exception as exc:
            return RunOutcome(
                self.method,
                self.seed,
                started_at=started_at,
                duration_s=time.perf_counter() - start,
                exception=exc,
                error=_error_record(exc, traceback.format_exc()),
            )
        return RunOutcome(
            self.method,
            self.seed,
            checkpoint=checkpoint,
            returned_path=returned_path,
            started_at=started_at,
            duration_s=time.perf_counter() - start,
        )

    def __repr__(self) -> str:
        return f"TrainJob({self.method!r}, seed={self.seed})"


# ----------------------------------------------------------- validation --


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


def _is_pickling_error(exc: BaseException) -> bool:
    if isinstance(exc, pickle.PicklingError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (TypeError, AttributeError, ValueError)) and ("pickl" in text or "serializ" in text)


def _pickling_error(method: str, train_fn: Any, exc: BaseException) -> TypeError:
    return TypeError(
        f"method {method!r}: the executor could not send its train_fn ({_callable_name(train_fn)}) "
        f"to a worker: {type(exc).__name__}: {exc}.  Process and cluster executors pickle the "
        "training function: define it at module level in an importable module (not a lambda, "
        "a nested function or a notebook cell), or run without executor="
    )


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)


# ------------------------------------------------------------------ study --


class _CheckpointLoader:
    """Load one checkpoint when ``run_comparison`` reaches it, never earlier."""

    def __init__(self, study: "Study", method: str, seed: Any, path: str):
        self.study = study
        self.method = method
        self.seed = seed
        self.path = path

    def __call__(self) -> Any:
        self.study._evaluating = None
        where = f"method {self.method!r}, seed {self.seed} (checkpoint {self.path})"
        try:
            model = self.study._load_fn(self.path)
        except Exception as exc:
            _add_note(exc, f"while loading {where} with load_fn")
            raise
        if not callable(model):
            hint = ""
            if isinstance(model, Mapping):
                hint = (
                    "; a dict looks like a state_dict: build the model in load_fn and call "
                    "model.load_state_dict(torch.load(path)) before returning it"
                )
            raise TypeError(
                f"load_fn returned a {type(model).__name__} for {where}; it must return the "
                f"model: a callable such as a torch.nn.Module{hint}"
            )
        self.study._evaluating = where
        return model


class Study:
    """Train every method for every seed, then compare them across seeds.

    ``train_fn(seed)`` is called once per (method, seed) and returns the path
    of the checkpoint it saved.  The study keeps that checkpoint under
    ``working_dir/checkpoints/<method>/seed-<seed><suffix>`` (moved there if
    ``train_fn`` wrote it inside ``working_dir``, copied otherwise) and
    records each run in ``working_dir/manifest.json``.  :meth:`run` trains
    what is missing, then loads the checkpoints one at a time with
    ``load_fn`` and evaluates them on ``data`` exactly as :func:`mushin.compare`
    does.

    Parameters
    ----------
    methods : dict of str to callable
        ``{name: train_fn}``; ``train_fn(seed) -> path``.  The first method
        is the reference of :meth:`BenchmarkResult.summary`.
    load_fn : callable
        ``load_fn(path) -> model``; the model must be callable (e.g. a
        ``torch.nn.Module``).  Called in this process, one model at a time.
    seeds : list of int
        The seeds every method is trained with; the result's ``seed``
        coordinate.
    data : iterable of (x, y)
        A re-iterable evaluation batch source such as a ``DataLoader``.
    task, num_classes, ignore_index, predict_fn, test, alpha, correction, device
        Evaluation options, exactly as in :func:`mushin.compare`.
    class_names, metrics, prob_metrics
        Also as in :func:`mushin.compare`: names for the per-class results,
        a custom battery, and which of its entries take probabilities.
    working_dir : str or path, optional
        Where checkpoints and the manifest live (default ``./mushin-study``).
        With a cluster executor it must be on a file system the workers share.
    on_error : {"raise", "record"}
        ``"raise"`` stops at the first failed run and re-raises its
        exception; ``"record"`` trains every other run, then raises
        :class:`IncompleteSweepError` listing the failures.  Statistics never
        run on an incomplete study.
    on_change : {"error", "retrain", "reuse"}
        What to do with completed runs whose ``train_fn`` code changed since
        they were trained: raise :class:`StaleCheckpointError` (default),
        train them again, or keep them.
    rerun : "all" or list of str, optional
        Methods to train again even if their runs completed (for changes the
        code fingerprint cannot see, such as a data file or a called helper).
    executor : concurrent.futures.Executor, optional
        Runs the training jobs, e.g. ``ProcessPoolExecutor(4)`` or
        ``distributed.Client(...).get_executor()``; ``train_fn`` must then be
        picklable.  Default: train one run after another in this process.
    progress : bool, optional
        Progress bars over training runs and evaluation batches.  Default:
        shown only when stderr is a terminal.

    Examples
    --------
    >>> import tempfile, torch
    >>> from torch import nn
    >>> from mushin import Study
    >>> tmp = tempfile.mkdtemp()
    >>> def train_conv(seed):
    ...     torch.manual_seed(seed)
    ...     path = f"{tmp}/conv-{seed}.pt"
    ...     torch.save(nn.Conv2d(3, 4, 1), path)
    ...     return path
    >>> data = [(torch.randn(2, 3, 8, 8), torch.randint(0, 4, (2, 8, 8))) for _ in range(2)]
    >>> study = Study(methods={"a": train_conv, "b": train_conv},
    ...               load_fn=lambda p: torch.load(p, weights_only=False),
    ...               seeds=[0, 1, 2], data=data, task="segmentation", num_classes=4,
    ...               working_dir=f"{tmp}/study")
    >>> result = study.run()
    >>> result.data["seed"].values.tolist()
    [0, 1, 2]
    >>> [p.rsplit("/", 2)[-2:] for p in study.checkpoints["a"]]
    [['a', 'seed-0.pt'], ['a', 'seed-1.pt'], ['a', 'seed-2.pt']]
    """

    def __init__(
        self,
        methods: Mapping[str, TrainFn],
        *,
        load_fn: LoadFn,
        seeds: Sequence[int],
        data: Any,
        task: "str | Task" = "segmentation",
        num_classes: Optional[int] = None,
        ignore_index: Optional[int] = None,
        predict_fn: Optional[PredictFn] = None,
        test: str = "welch",
        alpha: float = 0.05,
        correction: str = "holm",
        device: Any = None,
        class_names: Optional[Sequence[str]] = None,
        metrics: Optional[Mapping[str, Any]] = None,
        prob_metrics: Optional[Sequence[str]] = None,
        working_dir: Optional[PathLike] = None,
        on_error: str = "raise",
        on_change: str = "error",
        rerun: "None | str | Sequence[str]" = None,
        executor: Any = None,
        progress: Optional[bool] = None,
    ):
        self._methods: Optional[Dict[str, TrainFn]] = _check_methods(methods)
        self._seeds: Optional[List[int]] = _check_seeds(seeds)
        self._given: Optional[Dict[str, List[str]]] = None
        self._check_evaluation(load_fn, data, task, num_classes, ignore_index, predict_fn, test, alpha, correction,
                               class_names, metrics, prob_metrics)
        # every method trains every seed: a paired test's design is known now
        stats.check_design(test, {name: len(self._seeds) for name in self._methods})
        self._device = _check_device(device)
        if working_dir is not None and not isinstance(working_dir, (str, os.PathLike)):
            raise TypeError(f"working_dir must be a path, got {type(working_dir).__name__}")
        self._working_dir = Path(os.path.abspath(os.fspath(working_dir) if working_dir is not None else "mushin-study"))
        for folder in (self._working_dir, *self._working_dir.parents):
            if folder.exists():  # the nearest existing folder: train() creates the rest
                if not folder.is_dir():
                    raise NotADirectoryError(
                        f"working_dir {str(self._working_dir)!r} cannot be created: {str(folder)!r} "
                        "is a file; pass another working_dir"
                    )
                break
        self._on_error = _check_choice(on_error, "on_error", ON_ERROR)
        self._on_change = _check_choice(on_change, "on_change", ON_CHANGE)
        self._rerun = self._check_rerun(rerun)
        self._executor = _check_executor(executor)
        self._progress = _check_progress(progress)
        self._fingerprints = {name: train_fn_fingerprint(fn) for name, fn in self._methods.items()}
        self._manifest: Optional[Dict[str, Any]] = None
        self._evaluating: Optional[str] = None

    @classmethod
    def from_checkpoints(
        cls,
        checkpoints: Mapping[str, Sequence[PathLike]],
        *,
        load_fn: LoadFn,
        data: Any,
        seeds: Optional[Sequence[int]] = None,
        task: "str | Task" = "segmentation",
        num_classes: Optional[int] = None,
        ignore_index: Optional[int] = None,
        predict_fn: Optional[PredictFn] = None,
        test: str = "welch",
        alpha: float = 0.05,
        correction: str = "holm",
        device: Any = None,
        class_names: Optional[Sequence[str]] = None,
        metrics: Optional[Mapping[str, Any]] = None,
        prob_metrics: Optional[Sequence[str]] = None,
        progress: Optional[bool] = None,
    ) -> "Study":
        """A study over checkpoints that already exist: nothing is trained.

        Parameters
        ----------
        checkpoints : dict of str to list of paths
            ``{name: [path_seed0, path_seed1, ...]}``; every path must exist.
        seeds : list of int, optional
            The seed of each path (default ``0, 1, ...``); when given, every
            method needs one path per seed.

        The other parameters are those of :class:`Study`.

        Examples
        --------
        >>> import tempfile, torch
        >>> from torch import nn
        >>> from mushin import Study
        >>> tmp = tempfile.mkdtemp()
        >>> paths = {"a": [], "b": []}
        >>> for seed in (7, 8, 9):
        ...     for name in paths:
        ...         _ = torch.manual_seed(seed)
        ...         paths[name].append(f"{tmp}/{name}-{seed}.pt")
        ...         torch.save(nn.Conv2d(3, 4, 1), paths[name][-1])
        >>> data = [(torch.randn(2, 3, 8, 8), torch.randint(0, 4, (2, 8, 8)))]
        >>> result = Study.from_checkpoints(
        ...     checkpoints=paths, load_fn=lambda p: torch.load(p, weights_only=False),
        ...     data=data, seeds=[7, 8, 9], task="segmentation", num_classes=4).run()
        >>> result.data["seed"].values.tolist()
        [7, 8, 9]
        """
        study = cls.__new__(cls)
        study._methods = None
        study._seeds = _check_seeds(seeds) if seeds is not None else None
        study._given = _check_checkpoints(checkpoints, study._seeds)
        study._check_evaluation(load_fn, data, task, num_classes, ignore_index, predict_fn, test, alpha, correction,
                                class_names, metrics, prob_metrics)
        stats.check_design(test, {name: len(paths) for name, paths in study._given.items()})
        study._device = _check_device(device)
        study._working_dir = None
        study._on_error = "raise"
        study._on_change = "error"
        study._rerun = set()
        study._executor = None
        study._progress = _check_progress(progress)
        study._fingerprints = {}
        study._manifest = None
        study._evaluating = None
        return study

    # ------------------------------------------------------- validation --
    def _check_evaluation(
        self,
        load_fn: Any,
        data: Any,
        task: Any,
        num_classes: Any,
        ignore_index: Any,
        predict_fn: Any,
        test: Any,
        alpha: Any,
        correction: Any,
        class_names: Any = None,
        metrics: Any = None,
        prob_metrics: Any = None,
    ) -> None:
        if not callable(load_fn):
            raise TypeError(
                f"load_fn must be callable: load_fn(path) -> model, got {type(load_fn).__name__}"
            )
        self._load_fn = load_fn
        self._task = get_task(task)
        stats.check_test(test)
        stats.check_correction(correction)
        self._alpha = stats.check_alpha(alpha)
        self._test = test
        self._correction = correction
        _check_data(data)
        self._data = data
        self._num_classes = _check_num_classes(num_classes, self._task)
        self._ignore_index = _check_ignore_index(ignore_index)
        if predict_fn is not None and not callable(predict_fn):
            raise TypeError(f"predict_fn must be callable, got {type(predict_fn).__name__}")
        self._predict_fn = predict_fn
        self._class_names = check_class_names(class_names, self._num_classes)
        metrics, prob_metrics = select_metrics(self._task, metrics, prob_metrics)
        resolve_battery(self._task, metrics, prob_metrics)
        self._metrics = metrics
        self._prob_metrics = prob_metrics

    def _check_rerun(self, rerun: Any) -> set:
        assert self._methods is not None
        if rerun is None:
            return set()
        if rerun == "all":
            return set(self._methods)
        if isinstance(rerun, str):
            rerun = [rerun]
        if not isinstance(rerun, (Sequence, set, frozenset)):
            raise TypeError(f"rerun must be 'all' or a list of method names, got {type(rerun).__name__}")
        unknown = [name for name in rerun if name not in self._methods]
        if unknown:
            raise ValueError(f"rerun names unknown method(s) {unknown}; methods: {list(self._methods)}")
        return set(rerun)

    # ------------------------------------------------------- properties --
    @property
    def methods(self) -> List[str]:
        """Method names, in order (the first is the reference)."""
        if self._methods is not None:
            return list(self._methods)
        assert self._given is not None
        return list(self._given)

    @property
    def seeds(self) -> Optional[List[int]]:
        """The seeds, in order (``None`` for checkpoints given without seeds)."""
        return None if self._seeds is None else list(self._seeds)

    @property
    def working_dir(self) -> Optional[Path]:
        """Where checkpoints and the manifest live (``None`` for :meth:`from_checkpoints`)."""
        return self._working_dir

    @property
    def manifest_path(self) -> Optional[Path]:
        return None if self._working_dir is None else self._working_dir / MANIFEST_NAME

    @property
    def checkpoints(self) -> Dict[str, List[Optional[str]]]:
        """``{method: [path of each seed's checkpoint]}``, ``None`` where not trained yet."""
        if self._given is not None:
            return {name: list(paths) for name, paths in self._given.items()}
        manifest = self._read_manifest()
        out: Dict[str, List[Optional[str]]] = {}
        for name in self.methods:
            out[name] = []
            for seed in self._seeds or []:
                record = manifest["runs"].get(name, {}).get(str(seed))
                done = record is not None and record.get("status") == "done"
                out[name].append(self._absolute(record["checkpoint"]) if done else None)
        return out

    @property
    def manifest(self) -> Dict[str, Any]:
        """A copy of the manifest: each run's status, checkpoint, duration and error."""
        if self._working_dir is None:
            raise ValueError("a Study.from_checkpoints trains nothing and has no manifest")
        return json.loads(json.dumps(self._read_manifest()))

    def __repr__(self) -> str:
        seeds = self._seeds if self._seeds is not None else "0.."
        where = f", working_dir={str(self._working_dir)!r}" if self._working_dir else ""
        return f"Study(methods={self.methods}, seeds={seeds}, task={self._task.name!r}{where})"

    # -------------------------------------------------------------- run --
    def run(self) -> BenchmarkResult:
        """Train whatever is missing, then evaluate every checkpoint and test.

        Returns
        -------
        BenchmarkResult
            Dims ``(method, seed)``; the ``seed`` coordinate holds the seeds.

        Raises
        ------
        IncompleteSweepError
            With ``on_error="record"``, when any run failed.
        StaleCheckpointError
            When completed runs were trained by code that has changed since
            (see ``on_change``).
        """
        checkpoints = self.train()
        return self._evaluate(checkpoints)

    def train(self) -> Dict[str, List[str]]:
        """Train every (method, seed) not completed yet; return the checkpoints.

        Returns ``{method: [checkpoint path per seed]}``.  Safe to call
        again after a crash: completed runs are reused.
        """
        if self._given is not None:
            return {name: list(paths) for name, paths in self._given.items()}
        assert self._working_dir is not None and self._methods is not None and self._seeds is not None
        self._working_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            self._remove_leftovers()
            manifest = self._read_manifest(fresh=True)
            todo = self._plan(manifest)
            if self._executor is None:
                self._train_here(manifest, todo)
            else:
                self._train_on_executor(manifest, todo)
            failed = [
                (name, seed)
                for name in self._methods
                for seed in self._seeds
                if manifest["runs"][name][str(seed)]["status"] != "done"
            ]
            if failed:
                errors = {}
                for name, seed in failed:
                    error = manifest["runs"][name][str(seed)].get("error") or {}
                    errors[(name, seed)] = f"{error.get('type', 'Error')}: {error.get('message', '')}"
                raise IncompleteSweepError(failed, errors, str(self.manifest_path))
            return {
                name: [self._absolute(manifest["runs"][name][str(seed)]["checkpoint"]) for seed in self._seeds]
                for name in self._methods
            }

    # --------------------------------------------------------- manifest --
    def _absolute(self, path: str) -> str:
        assert self._working_dir is not None
        return str(self._working_dir / path)

    def _relative(self, path: str) -> str:
        assert self._working_dir is not None
        try:
            return str(Path(path).relative_to(self._working_dir))
        except ValueError:
            return path

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        assert self._working_dir is not None
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        with open(self._working_dir / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RuntimeError(
                    f"another Study is running in {self._working_dir} right now; wait for it to "
                    "finish or give this one another working_dir"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _remove_leftovers(self) -> None:
        """Temporary files of a study that was killed mid-write (we hold the lock)."""
        assert self._working_dir is not None
        leftovers = list(self._working_dir.glob(f".{MANIFEST_NAME}.*.tmp"))
        leftovers += self._working_dir.glob(f"{CHECKPOINT_DIR}/*/.*.tmp")
        leftovers += self._working_dir.glob(f"{CHECKPOINT_DIR}/*/.*.old")
        for path in leftovers:
            _remove_path(path)

    def _read_manifest(self, fresh: bool = False) -> Dict[str, Any]:
        if self._manifest is not None and not fresh:
            return self._manifest
        path = self.manifest_path
        assert path is not None
        empty = {"format": MANIFEST_FORMAT, "seeds": None, "methods": {}, "runs": {}}
        if not path.exists():
            manifest = empty
        else:
            try:
                with open(path, encoding="utf-8") as handle:
                    manifest = json.load(handle)
            except OSError as exc:
                raise OSError(
                    exc.errno, f"cannot read the study manifest {path}: {exc.strerror}", str(path)
                ) from None
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
                raise ValueError(_damaged(path, f"it is not valid JSON ({exc})")) from None
            _check_manifest(manifest, path, self._working_dir)
        self._manifest = manifest
        return manifest

    def _write_manifest(self, manifest: Dict[str, Any]) -> None:
        manifest["updated_at"] = _now()
        assert self.manifest_path is not None
        write_json_atomic(self.manifest_path, manifest)
        self._manifest = manifest

    def _plan(self, manifest: Dict[str, Any]) -> List[Tuple[str, int]]:
        """Which runs to train; report changed seeds and stale code first."""
        assert self._methods is not None and self._seeds is not None
        previous = manifest.get("seeds")
        if previous is not None and list(previous) != self._seeds:
            kept = [s for s in self._seeds if s in previous]
            warnings.warn(
                f"the seed list changed since the last run in {self._working_dir}: was {previous}, "
                f"now {self._seeds}.  Completed runs of seeds {kept} are reused, seeds "
                f"{[s for s in self._seeds if s not in previous]} are new and seeds "
                f"{[s for s in previous if s not in self._seeds]} are left out of the result",
                UserWarning,
                stacklevel=4,
            )
        stale: Dict[str, List[int]] = {}
        todo: List[Tuple[str, int]] = []
        missing: List[Tuple[str, int]] = []
        for name in self._methods:
            for seed in self._seeds:
                record = manifest["runs"].get(name, {}).get(str(seed))
                if record is None or record.get("status") != "done" or name in self._rerun:
                    todo.append((name, seed))
                elif not os.path.exists(self._absolute(record["checkpoint"])):
                    missing.append((name, seed))
                    todo.append((name, seed))
                elif record.get("code_hash") != self._fingerprints[name]:
                    stale.setdefault(name, []).append(seed)
        if missing:
            warnings.warn(
                f"checkpoints of completed runs {missing} are gone from {self._working_dir}; "
                "training them again",
                UserWarning,
                stacklevel=4,
            )
        if stale and self._on_change == "error":
            listing = "; ".join(f"{name!r} (seeds {seeds})" for name, seeds in stale.items())
            raise StaleCheckpointError(
                f"the train_fn code of {listing} changed since those runs were trained in "
                f"{self._working_dir}.  Pass on_change='retrain' to train them again, "
                "on_change='reuse' to keep the old checkpoints (e.g. after a cosmetic edit), "
                "or use a fresh working_dir"
            )
        for name, seeds in stale.items():
            for seed in seeds:
                if self._on_change == "retrain":
                    todo.append((name, seed))
                else:  # reuse: adopt the current fingerprint
                    manifest["runs"][name][str(seed)]["code_hash"] = self._fingerprints[name]
        order = {(name, seed): i for i, (name, seed) in enumerate((n, s) for n in self._methods for s in self._seeds)}
        todo.sort(key=order.__getitem__)
        manifest["seeds"] = list(self._seeds)
        for name, fn in self._methods.items():
            manifest["methods"][name] = {"train_fn": _callable_name(fn), "code_hash": self._fingerprints[name]}
            manifest["runs"].setdefault(name, {})
        self._write_manifest(manifest)
        return todo

    def _mark_started(self, manifest: Dict[str, Any], runs: Sequence[Tuple[str, int]]) -> None:
        for name, seed in runs:
            previous = manifest["runs"][name].get(str(seed)) or {}
            manifest["runs"][name][str(seed)] = {
                "status": "started",
                "checkpoint": previous.get("checkpoint"),
                "started_at": _now(),
                "code_hash": self._fingerprints[name],
            }
        self._write_manifest(manifest)

    def _record(self, manifest: Dict[str, Any], outcome: RunOutcome) -> None:
        key = str(outcome.seed)
        previous = manifest["runs"][outcome.method].get(key) or {}
        record: Dict[str, Any] = {
            "status": "done" if outcome.ok else "failed",
            "checkpoint": self._relative(outcome.checkpoint) if outcome.checkpoint else None,
            "returned_path": outcome.returned_path,
            "started_at": outcome.started_at,
            "finished_at": _now(),
            "duration_s": None if outcome.duration_s is None else round(float(outcome.duration_s), 6),
            "code_hash": self._fingerprints[outcome.method],
            "error": outcome.error,
        }
        old = previous.get("checkpoint")
        if outcome.ok and old and old != record["checkpoint"]:
            # a retrained run whose file name changed (another suffix): drop the old file
            old_path = Path(self._absolute(old))
            if self._working_dir in old_path.parents:
                _remove_path(old_path)
        if not outcome.ok:
            record["checkpoint"] = None
        manifest["runs"][outcome.method][key] = record
        self._write_manifest(manifest)

    # --------------------------------------------------------- training --
    def _job(self, name: str, seed: int) -> TrainJob:
        assert self._methods is not None
        return TrainJob(name, seed, self._methods[name], str(self._working_dir))

    def _bar(self, **kwargs: Any) -> Any:
        from tqdm.auto import tqdm

        return tqdm(disable=None if self._progress is None else not self._progress, **kwargs)

    def _raise_failure(self, outcome: RunOutcome) -> None:
        note = (
            f"while training method {outcome.method!r}, seed {outcome.seed}; recorded in "
            f"{self.manifest_path}.  Calling run() again retrains only the missing and failed runs"
        )
        exc = outcome.exception
        if exc is None:  # the exception did not survive the trip back from the worker
            assert outcome.error is not None
            raise RuntimeError(
                f"{outcome.error['type']}: {outcome.error['message']} ({note})\n"
                f"Traceback from the worker:\n{outcome.error['traceback']}"
            )
        if outcome.from_worker and outcome.error:
            note += "\nTraceback from the worker:\n" + outcome.error["traceback"]
        _add_note(exc, note)
        raise exc

    def _train_here(self, manifest: Dict[str, Any], todo: List[Tuple[str, int]]) -> None:
        with self._bar(total=len(todo), desc="mushin: training", unit="run") as bar:
            for name, seed in todo:
                bar.set_postfix_str(f"{name} seed {seed}")
                self._mark_started(manifest, [(name, seed)])
                outcome = self._job(name, seed)()
                self._record(manifest, outcome)
                bar.update(1)
                if not outcome.ok and self._on_error == "raise":
                    self._raise_failure(outcome)

    def _train_on_executor(self, manifest: Dict[str, Any], todo: List[Tuple[str, int]]) -> None:
        if not todo:
            return
        assert self._methods is not None
        if isinstance(self._executor, cf.ProcessPoolExecutor):
            # The pool pickles in a background thread and a worker that cannot
            # unpickle dies, breaking the pool; find the culprit before any work.
            for name in dict.fromkeys(name for name, _ in todo):
                try:
                    pickle.dumps(self._methods[name])
                except Exception as exc:
                    raise _pickling_error(name, self._methods[name], exc) from exc
        self._mark_started(manifest, todo)
        futures: Dict[Any, Tuple[str, int]] = {}
        stop: Optional[BaseException] = None
        failure: Optional[RunOutcome] = None
        try:
            with self._bar(total=len(todo), desc="mushin: training", unit="run") as bar:
                for name, seed in todo:
                    try:
                        future = self._executor.submit(self._job(name, seed))
                    except Exception as exc:
                        if not _is_pickling_error(exc):
                            raise
                        stop = _pickling_error(name, self._methods[name], exc)
                        stop.__cause__ = exc
                        break
                    if not (isinstance(future, cf.Future) or callable(getattr(future, "done", None))):
                        raise TypeError(
                            f"executor.submit returned a {type(future).__name__}, which is neither a "
                            "concurrent.futures.Future nor has done() and result()"
                        )
                    futures[future] = (name, seed)
                if stop is not None:
                    _cancel(futures)
                pending = set(futures)
                while pending:
                    for future in _wait_any(pending):
                        pending.discard(future)
                        name, seed = futures[future]
                        if isinstance(future, cf.Future) and future.cancelled():
                            continue
                        outcome, executor_error = self._collect(future, name, seed)
                        if stop is None and executor_error is not None and _is_pickling_error(executor_error):
                            stop = _pickling_error(name, self._methods[name], executor_error)
                            stop.__cause__ = executor_error
                            _cancel(futures)
                        self._record(manifest, outcome)
                        bar.update(1)
                        if not outcome.ok and self._on_error == "raise" and failure is None:
                            failure = outcome
                            # Jobs already running are left to finish and are recorded:
                            # a generic executor cannot stop them, and their work is kept.
                            _cancel(futures)
        except BaseException:
            _cancel(futures)  # e.g. Ctrl-C: do not leave queued jobs behind
            raise
        finally:
            # runs that were never submitted or were cancelled before they started
            for name, seed in todo:
                record = manifest["runs"][name][str(seed)]
                if record["status"] == "started":
                    record["status"] = "cancelled"
            self._write_manifest(manifest)
        if stop is not None:
            raise stop
        if failure is not None:
            self._raise_failure(failure)

    def _collect(self, future: Any, name: str, seed: int) -> Tuple[RunOutcome, Optional[BaseException]]:
        """``(outcome, executor_error)`` of one job.

        Errors of ``train_fn`` come back inside the outcome; an exception from
        ``future.result()`` is the executor's own (pickling, a dead worker)
        and also counts as the run's failure.
        """
        try:
            return future.result(), None
        except Exception as exc:
            if isinstance(exc, BrokenProcessPool):
                _add_note(
                    exc,
                    "a worker process died: it ran out of memory, crashed in native code, "
                    "or could not unpickle the train_fn (define it in an importable module)",
                )
            tb_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return RunOutcome(name, seed, exception=exc, error=_error_record(exc, tb_text)), exc

    # ------------------------------------------------------- evaluation --
    def _evaluate(self, checkpoints: Dict[str, List[str]]) -> BenchmarkResult:
        seeds: Optional[List[Any]] = self._seeds
        loaders = {
            name: [
                _CheckpointLoader(self, name, seeds[i] if seeds is not None else i, path)
                for i, path in enumerate(paths)
            ]
            for name, paths in checkpoints.items()
        }
        n_models = sum(len(paths) for paths in checkpoints.values())
        try:
            total: Optional[int] = n_models * len(self._data)
        except TypeError:
            total = None
        with self._bar(total=total, desc="mushin: evaluating", unit="batch") as bar:
            try:
                return run_comparison(
                    loaders,
                    self._data,
                    self._task,
                    num_classes=self._num_classes,
                    ignore_index=self._ignore_index,
                    predict_fn=self._predict_fn,
                    test=self._test,
                    alpha=self._alpha,
                    correction=self._correction,
                    device=self._device,
                    seeds=seeds,
                    progress=bar,
                    class_names=self._class_names,
                    metrics=self._metrics,
                    prob_metrics=self._prob_metrics,
                )
            except Exception as exc:
                if self._evaluating is not None:
                    _add_note(exc, f"while evaluating {self._evaluating}")
                raise
            finally:
                self._evaluating = None


def _cancel(futures: Mapping[Any, Any]) -> None:
    """Cancel the jobs that have not started; running ones cannot be stopped safely."""
    for future in futures:
        if isinstance(future, cf.Future):
            future.cancel()


def _wait_any(pending: set) -> set:
    if all(isinstance(future, cf.Future) for future in pending):
        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        return done
    while True:  # futures of other kinds (e.g. submitit jobs) only offer done()
        done = {future for future in pending if future.done()}
        if done:
            return done
        time.sleep(POLL_SECONDS)
