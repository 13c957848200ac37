"""The training half of a :class:`~mushin.study.Study`: the manifest, the lock, and the runs.

:class:`StudyRuns` is the base class of ``Study`` that owns everything
between "which runs are missing" and "every run is recorded": reading and
checking ``manifest.json``, planning (stale code, changed seeds, deleted
checkpoints), training in this process or on an executor, and recording
each outcome atomically.  ``Study`` adds the arguments, the evaluation and
the public API on top.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import pickle
import traceback
import warnings
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .._progress import tqdm

from .checks import TrainFn, _add_note
from .errors import StaleCheckpointError
from .executors import (
    RunOutcome,
    TrainJob,
    _cancel,
    _error_record,
    _is_pickling_error,
    _pickling_error,
    _wait_any,
)
from .fingerprint import FINGERPRINT_VERSION, _callable_name, python_version
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
from .provenance import environment_id

try:  # POSIX advisory lock: released by the OS when the holder dies, even on SIGKILL
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class StudyRuns:
    """Manifest bookkeeping and training of the (method, seed) runs."""

    _methods: Optional[Dict[str, TrainFn]]
    _seeds: Optional[List[int]]
    _working_dir: Optional[Path]
    _on_error: str
    _on_change: str
    _rerun: set
    _executor: Any
    _progress: Optional[bool]
    _fingerprints: Dict[str, str]
    _capture_env: bool
    _code_dirs: Dict[str, Optional[str]]
    _manifest: Optional[Dict[str, Any]]

    @property
    def manifest_path(self) -> Optional[Path]:
        return None if self._working_dir is None else self._working_dir / MANIFEST_NAME

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
                f"{self._working_dir}.{self._why_stale(manifest, stale)}  Pass on_change='retrain' to "
                "train them again, on_change='reuse' to keep the old checkpoints, or use a fresh working_dir"
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
            manifest["methods"][name] = {
                "train_fn": _callable_name(fn),
                "code_hash": self._fingerprints[name],
                "fingerprint": FINGERPRINT_VERSION,
                "python": python_version(),
            }
            manifest["runs"].setdefault(name, {})
        self._write_manifest(manifest)
        return todo

    @staticmethod
    def _why_stale(manifest: Dict[str, Any], stale: Dict[str, List[int]]) -> str:
        """A hint when the fingerprints differ for a reason other than an edit."""
        entries = [manifest["methods"].get(name) or {} for name in stale]
        if any(entry.get("fingerprint") != FINGERPRINT_VERSION for entry in entries):
            return ("  (They were fingerprinted by an older mushin, which hashed the source text; "
                    "if the code is unchanged, on_change='reuse' adopts the new fingerprints.)")
        pythons = sorted({entry.get("python") for entry in entries if entry.get("python") != python_version()})
        if pythons:
            return (f"  (They were fingerprinted under Python {', '.join(map(str, pythons))} and this is "
                    f"Python {python_version()}, which compiles other bytecode; if the code is unchanged, "
                    "on_change='reuse' adopts the new fingerprints.)")
        return ""

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
        if outcome.environment is not None:
            env_id = environment_id(outcome.environment)
            manifest.setdefault("environments", {})[env_id] = outcome.environment
            record["environment"] = env_id
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
        return TrainJob(name, seed, self._methods[name], str(self._working_dir),
                        capture_env=self._capture_env, code_dir=self._code_dirs.get(name))

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

