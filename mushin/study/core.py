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

import concurrent.futures as cf
import contextlib
import json
import os
import pickle
import traceback
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from tqdm.auto import tqdm

from .. import stats
from ..evaluation import EvalSpec
from ..evaluation.compare import (
    PredictFn,
    _check_data,
    _check_device,
    _check_ignore_index,
    _check_num_classes,
    run_comparison,
    select_metrics,
)
from ..metrics.tasks import get_task, resolve_battery
from ..result import BenchmarkResult, check_class_names
from .checks import (
    LoadFn,
    ON_CHANGE,
    ON_ERROR,
    PathLike,
    TrainFn,
    _add_note,
    _check_checkpoints,
    _check_choice,
    _check_executor,
    _check_methods,
    _check_progress,
    _check_seeds,
)
from .errors import IncompleteSweepError, StaleCheckpointError
from .executors import (
    RunOutcome,
    TrainJob,
    _CheckpointLoader,
    _cancel,
    _error_record,
    _is_pickling_error,
    _pickling_error,
    _wait_any,
)
from .fingerprint import _callable_name, train_fn_fingerprint
from .manifest import (
    CHECKPOINT_DIR,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    _check_manifest,
    _damaged,
    _now,
    _remove_path,
    write_json_atomic,
)

try:  # POSIX advisory lock: released by the OS when the holder dies, even on SIGKILL
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


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
        spec = EvalSpec(
            task=self._task, num_classes=self._num_classes, ignore_index=self._ignore_index,
            predict_fn=self._predict_fn, test=self._test, alpha=self._alpha, correction=self._correction,
            device=self._device, class_names=self._class_names, metrics=self._metrics,
            prob_metrics=self._prob_metrics,
        )
        n_models = sum(len(paths) for paths in checkpoints.values())
        try:
            total: Optional[int] = n_models * len(self._data)
        except TypeError:
            total = None
        with self._bar(total=total, desc="mushin: evaluating", unit="batch") as bar:
            try:
                # checkpoints load lazily, in groups of at most DEFAULT_GROUP_BYTES of
                # parameters, and each group takes one pass over the data
                return run_comparison(loaders, self._data, spec, seeds=seeds, progress=bar)
            except Exception as exc:
                # the model the error came from (models of a group are loaded together)
                where = getattr(exc, "_mushin_where", None) or self._evaluating
                if where is not None:
                    _add_note(exc, f"while evaluating {where}")
                raise
            finally:
                self._evaluating = None
