"""Training jobs and their outcomes, as they cross to any ``concurrent.futures.Executor``,
and the loader that hands each checkpoint to the evaluation when it is reached."""
from __future__ import annotations

import concurrent.futures as cf
import pickle
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Dict, Optional

from .checks import TrainFn, _add_note
from .fingerprint import _callable_name
from .manifest import _now, _store_checkpoint
from .provenance import capture_environment


# How often to look at futures that are not concurrent.futures.Future (e.g. submitit jobs).
POLL_SECONDS = 0.5

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
        environment: Optional[Dict[str, Any]] = None,
    ):
        self.method = method
        self.seed = seed
        self.checkpoint = checkpoint
        self.returned_path = returned_path
        self.started_at = started_at
        self.duration_s = duration_s
        self.exception = exception
        self.error = error
        self.environment = environment  # capture_env=True: where the run trained
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

    def __init__(
        self,
        method: str,
        seed: int,
        train_fn: TrainFn,
        working_dir: str,
        capture_env: bool = False,
        code_dir: Optional[str] = None,
    ):
        self.method = method
        self.seed = seed
        self.train_fn = train_fn
        self.working_dir = working_dir
        self.capture_env = capture_env
        self.code_dir = code_dir

    def __call__(self) -> RunOutcome:
        # captured where the run trains, before train_fn can change anything
        environment = capture_environment(self.code_dir) if self.capture_env else None
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
                environment=environment,
            )
        return RunOutcome(
            self.method,
            self.seed,
            checkpoint=checkpoint,
            returned_path=returned_path,
            started_at=started_at,
            duration_s=time.perf_counter() - start,
            environment=environment,
        )

    def __repr__(self) -> str:
        return f"TrainJob({self.method!r}, seed={self.seed})"



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


class _CheckpointLoader:
    """Load one checkpoint when ``run_comparison`` reaches it, never earlier."""

    def __init__(self, study: Any, method: str, seed: Any, path: str):
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
