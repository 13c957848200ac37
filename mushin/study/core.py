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

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import numpy as np
import xarray as xr

from ..evaluation.compare import PredictFn, _check_data, run_comparison
from ..evaluation.spec import EvalSpec
from ..result import BenchmarkResult
from .checks import (
    LoadFn,
    ON_CHANGE,
    ON_ERROR,
    PathLike,
    TrainFn,
    _add_note,
    _check_bool,
    _check_checkpoints,
    _check_choice,
    _check_executor,
    _check_methods,
    _check_progress,
    _check_group_bytes,
    _check_seeds,
    evaluation_spec,
)
from .errors import IncompleteSweepError, failure_key
from .executors import _CheckpointLoader
from .fingerprint import train_fn_fingerprint
from .provenance import source_dir
from .runs import StudyRuns

if TYPE_CHECKING:
    from ..metrics.tasks import Task


class Study(StudyRuns):
    """Train every method for every seed, then compare them across seeds.

    The parameters up to ``capture_env`` are those of upstream mushin-py
    0.16.0's ``Study``, in its order and with its defaults; everything after
    them is mushin's own and keyword-only.

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
    num_classes, task, test, alpha, correction, ignore_index, predict_fn, metrics, prob_metrics
        Evaluation options, exactly as in :func:`mushin.compare` (defaults
        ``task="classification"``, ``test="wilcoxon"``, as upstream's).
    working_dir : str or path, optional
        Where checkpoints and the manifest live (default ``./mushin-study``).
        With a cluster executor it must be on a file system the workers share.
    on_error : {"raise", "nan", "record"}
        ``"raise"`` stops at the first failed run and re-raises its
        exception.  ``"nan"`` trains every other run, evaluates the
        completed ones and raises :class:`IncompleteSweepError` whose
        ``data`` holds their scores, NaN in the failed runs' cells, with the
        failed runs named in ``data.attrs["mushin_failures"]``.  ``"record"``
        trains every other run, then raises :class:`IncompleteSweepError`
        without evaluating.  Statistics never run on an incomplete study.
    resume : bool
        Accepted for upstream compatibility.  A study here always resumes:
        completed runs recorded in ``working_dir`` are reused and only
        missing or failed ones are trained, whether ``resume`` is True or
        False.  To train everything again, pass ``rerun="all"`` or use a
        fresh ``working_dir``.
    capture_env : bool
        Record each run's environment in the manifest: git commit and dirty
        flag, Python, torch and mushin versions, installed packages, CPU and
        GPU model, thread counts.  The result shows it in
        ``result.data.attrs["mushin_provenance"]`` (see :attr:`provenance`).
    device : str or torch.device, optional
        Where the models are evaluated, as in :func:`mushin.compare`.
    class_names : list of str, optional
        Names for the per-class results, as in :func:`mushin.compare`.
    spec : EvalSpec, optional
        All evaluation options at once (``mushin.evaluation.EvalSpec``);
        then leave ``num_classes`` ... ``prob_metrics``, ``device`` and
        ``class_names`` out.
    on_change : {"error", "retrain", "reuse"}
        What to do with completed runs whose ``train_fn`` code changed since
        they were trained: raise :class:`StaleCheckpointError` (default),
        train them again, or keep them.
    rerun : "all" or list of str, optional
        Methods to train again even if their runs completed (for changes the
        code fingerprint cannot see, such as a data file or a global value).
    executor : concurrent.futures.Executor, optional
        Runs the training jobs, e.g. ``ProcessPoolExecutor(4)`` or
        ``distributed.Client(...).get_executor()``; ``train_fn`` must then be
        picklable.  Default: train one run after another in this process.
    progress : bool, optional
        Progress bars over training runs and evaluation batches.  Default:
        shown only when stderr is a terminal.
    group_bytes : int, optional
        The most parameter bytes (a checkpoint's size on disk stands for
        them) loaded at once for evaluation: checkpoints load in groups of
        at most this many, never empty, and each group takes one pass over
        ``data``.  Default ``DEFAULT_GROUP_BYTES`` of
        ``mushin.evaluation.compare`` (4 GiB).  Results do not depend on it.

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
    >>> study = Study({"a": train_conv, "b": train_conv}, lambda p: torch.load(p, weights_only=False),
    ...               [0, 1, 2], data, task="segmentation", num_classes=4, test="welch",
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
        load_fn: LoadFn,
        seeds: Sequence[int],
        data: Any,
        *,
        num_classes: Optional[int] = None,
        task: str | Task = "classification",
        test: str = "wilcoxon",
        alpha: float = 0.05,
        correction: str = "holm",
        ignore_index: Optional[int] = None,
        predict_fn: Optional[PredictFn] = None,
        metrics: Optional[Mapping[str, Any]] = None,
        prob_metrics: Optional[Sequence[str]] = None,
        working_dir: Optional[PathLike] = None,
        on_error: str = "raise",
        resume: bool = False,
        capture_env: bool = False,
        device: Any = None,
        class_names: Optional[Sequence[str]] = None,
        spec: Optional[EvalSpec] = None,
        on_change: str = "error",
        rerun: None | str | Sequence[str] = None,
        executor: Any = None,
        progress: Optional[bool] = None,
        group_bytes: Optional[int] = None,
    ):
        self._methods: Optional[Dict[str, TrainFn]] = _check_methods(methods)
        self._seeds: Optional[List[int]] = _check_seeds(seeds)
        self._given: Optional[Dict[str, List[str]]] = None
        self._set_evaluation(load_fn, data, evaluation_spec(
            spec, num_classes=num_classes, task=task, test=test, alpha=alpha, correction=correction,
            ignore_index=ignore_index, predict_fn=predict_fn, metrics=metrics, prob_metrics=prob_metrics,
            device=device, class_names=class_names,
        ))
        # every method trains every seed: a paired test's design is known now
        self._spec.check_design({name: len(self._seeds) for name in self._methods})
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
        self._resume = _check_bool(resume, "resume")
        self._capture_env = _check_bool(capture_env, "capture_env")
        self._on_change = _check_choice(on_change, "on_change", ON_CHANGE)
        self._rerun = self._check_rerun(rerun)
        self._executor = _check_executor(executor)
        self._progress = _check_progress(progress)
        self._group_bytes = _check_group_bytes(group_bytes)
        self._fingerprints = {name: train_fn_fingerprint(fn) for name, fn in self._methods.items()}
        self._code_dirs = {name: source_dir(fn) for name, fn in self._methods.items()} if self._capture_env else {}
        self._manifest: Optional[Dict[str, Any]] = None
        self._evaluating: Optional[str] = None

    @classmethod
    def from_checkpoints(
        cls,
        checkpoints: Mapping[str, Sequence[PathLike]],
        load_fn: LoadFn,
        data: Any,
        *,
        num_classes: Optional[int] = None,
        task: str | Task = "classification",
        test: str = "wilcoxon",
        alpha: float = 0.05,
        correction: str = "holm",
        ignore_index: Optional[int] = None,
        predict_fn: Optional[PredictFn] = None,
        metrics: Optional[Mapping[str, Any]] = None,
        prob_metrics: Optional[Sequence[str]] = None,
        seeds: Optional[Sequence[int]] = None,
        device: Any = None,
        class_names: Optional[Sequence[str]] = None,
        spec: Optional[EvalSpec] = None,
        progress: Optional[bool] = None,
        group_bytes: Optional[int] = None,
    ) -> Study:
        """A study over checkpoints that already exist: nothing is trained.

        The parameters up to ``prob_metrics`` are upstream mushin-py
        0.16.0's, in its order and with its defaults; the rest are mushin's
        own and keyword-only.

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
        ...     paths, lambda p: torch.load(p, weights_only=False), data,
        ...     task="segmentation", num_classes=4, test="welch", seeds=[7, 8, 9]).run()
        >>> result.data["seed"].values.tolist()
        [7, 8, 9]
        """
        study = cls.__new__(cls)
        study._methods = None
        study._seeds = _check_seeds(seeds) if seeds is not None else None
        study._given = _check_checkpoints(checkpoints, study._seeds)
        study._set_evaluation(load_fn, data, evaluation_spec(
            spec, num_classes=num_classes, task=task, test=test, alpha=alpha, correction=correction,
            ignore_index=ignore_index, predict_fn=predict_fn, metrics=metrics, prob_metrics=prob_metrics,
            device=device, class_names=class_names,
        ))
        study._spec.check_design({name: len(paths) for name, paths in study._given.items()})
        study._working_dir = None
        study._on_error = "raise"
        study._resume = True
        study._capture_env = False
        study._on_change = "error"
        study._rerun = set()
        study._executor = None
        study._progress = _check_progress(progress)
        study._group_bytes = _check_group_bytes(group_bytes)
        study._fingerprints = {}
        study._code_dirs = {}
        study._manifest = None
        study._evaluating = None
        return study

    # ------------------------------------------------------- validation --
    def _set_evaluation(self, load_fn: Any, data: Any, spec: EvalSpec) -> None:
        if not callable(load_fn):
            raise TypeError(
                f"load_fn must be callable: load_fn(path) -> model, got {type(load_fn).__name__}"
            )
        _check_data(data)
        self._load_fn = load_fn
        self._data = data
        self._spec = spec
        # the names _evaluate reads, until it takes the spec whole
        self._task = spec.task
        self._num_classes = spec.num_classes
        self._ignore_index = spec.ignore_index
        self._predict_fn = spec.predict_fn
        self._test = spec.test
        self._alpha = spec.alpha
        self._correction = spec.correction
        self._device = spec.device
        self._class_names = spec.class_names
        self._metrics = spec.metrics
        self._prob_metrics = spec.prob_metrics

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
            With environments recorded (``capture_env=True``),
            ``result.data.attrs["mushin_provenance"]`` holds them (see
            :attr:`provenance`).

        Raises
        ------
        IncompleteSweepError
            With ``on_error="record"`` or ``"nan"``, when any run failed;
            with ``"nan"``, its ``data`` holds the completed runs' scores.
        StaleCheckpointError
            When completed runs were trained by code that has changed since
            (see ``on_change``).
        """
        try:
            checkpoints = self.train()
        except IncompleteSweepError as incomplete:
            if self._on_error != "nan":
                raise
            incomplete.data = self._evaluate_completed(incomplete.failed)
            raise
        result = self._evaluate(checkpoints)
        self._add_provenance(result.data)
        return result

    def train(self) -> Dict[str, List[str]]:
        """Train every (method, seed) not completed yet; return the checkpoints.

        Returns ``{method: [checkpoint path per seed]}``.  Safe to call
        again after a crash: completed runs are reused.  Raises
        :class:`IncompleteSweepError` when a run failed (``on_error`` other
        than ``"raise"``); ``train()`` itself evaluates nothing.
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

    def _evaluate_completed(self, failed: Sequence[Tuple[str, int]]) -> xr.Dataset:
        """The ``(method, seed)`` scores of the completed runs, NaN where a run failed.

        Each method's completed checkpoints are evaluated as a study of
        their own (no test runs across methods); the failed runs are named
        in ``attrs["mushin_failures"]`` as a JSON list of ``"method=...,seed=..."``
        keys, the form ``compare_methods`` reads.
        """
        assert self._seeds is not None
        warnings.warn(
            f"{len(failed)} training run(s) failed: {[failure_key(m, s) for m, s in failed]}; their "
            "cells are NaN in the IncompleteSweepError's data and no test is run",
            UserWarning,
            stacklevel=3,
        )
        paths = self.checkpoints
        parts = []
        for name in self.methods:
            done = [(seed, path) for seed, path in zip(self._seeds, paths[name]) if path is not None]
            if not done:
                continue
            part = Study.from_checkpoints(
                {name: [path for _, path in done]}, self._load_fn, self._data, spec=self._spec,
                seeds=[seed for seed, _ in done], progress=self._progress, group_bytes=self._group_bytes,
            )
            parts.append(part.run().data)
        if parts:
            data = xr.concat(parts, dim="method", join="outer", combine_attrs="override")
            # a dict: as a keyword, xarray would read method= as its own fill-method argument
            data = data.reindex({"method": self.methods, "seed": self._seeds})
        else:  # nothing to evaluate: every cell of every metric is NaN
            nan = np.full((len(self.methods), len(self._seeds)), np.nan)
            data = xr.Dataset(
                {metric: (("method", "seed"), nan.copy()) for metric in self._spec.battery},
                coords={"method": self.methods, "seed": self._seeds},
            )
        data.attrs["mushin_failures"] = json.dumps([failure_key(name, seed) for name, seed in failed])
        self._add_provenance(data)
        return data

    def _add_provenance(self, data: xr.Dataset) -> None:
        """Show the recorded environments with the result (when any run has one)."""
        if self._working_dir is None:
            return
        manifest = self._read_manifest()
        environments = manifest.get("environments") or {}
        runs = {
            name: {str(seed): manifest["runs"].get(name, {}).get(str(seed), {}).get("environment")
                   for seed in self._seeds or []}
            for name in self.methods
        }
        used = {env for seeds in runs.values() for env in seeds.values() if env is not None}
        if used:
            data.attrs["mushin_provenance"] = json.dumps(
                {"runs": runs, "environments": {env: environments[env] for env in sorted(used)}},
                sort_keys=True,
            )

    @property
    def provenance(self) -> Dict[Tuple[str, int], Optional[Dict[str, Any]]]:
        """``{(method, seed): environment record}`` of each run (``capture_env=True``).

        ``None`` for runs trained without ``capture_env`` (or not trained yet).
        The same records travel with the result, as JSON, in
        ``result.data.attrs["mushin_provenance"]``.
        """
        if self._working_dir is None:
            return {}
        manifest = self._read_manifest(fresh=True)
        environments = manifest.get("environments") or {}
        out: Dict[Tuple[str, int], Optional[Dict[str, Any]]] = {}
        for name in self.methods:
            for seed in self._seeds or []:
                env = manifest["runs"].get(name, {}).get(str(seed), {}).get("environment")
                out[(name, seed)] = None if env is None else json.loads(json.dumps(environments[env]))
        return out

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
        spec = self._spec
        n_models = sum(len(paths) for paths in checkpoints.values())
        try:
            total: Optional[int] = n_models * len(self._data)
        except TypeError:
            total = None
        with self._bar(total=total, desc="mushin: evaluating", unit="batch") as bar:
            try:
                # checkpoints load lazily, in groups of at most group_bytes (default
                # DEFAULT_GROUP_BYTES) of parameters, and each group takes one pass over the data
                return run_comparison(loaders, self._data, spec, seeds=seeds, progress=bar,
                                      group_bytes=self._group_bytes)
            except Exception as exc:
                # the model the error came from (models of a group are loaded together)
                where = getattr(exc, "_mushin_where", None) or self._evaluating
                if where is not None:
                    _add_note(exc, f"while evaluating {where}")
                raise
            finally:
                self._evaluating = None
