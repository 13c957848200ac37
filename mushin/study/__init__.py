"""Study: train every method for every seed, survive crashes, then compare.

Modules, each importing only those before it: ``errors``, ``fingerprint``
(is a training function's compiled code still the one that made a
checkpoint), ``checks`` (argument checks, the shared ``EvalSpec``),
``manifest`` (the atomically written run record and checkpoint storage),
``provenance`` (where a run trained: ``capture_env=True``), ``executors``
(training jobs for any ``concurrent.futures.Executor``), ``runs`` (planning,
training and recording the runs) and ``core`` (:class:`Study`).

Examples
--------
>>> from mushin.study import Study, IncompleteSweepError
>>> issubclass(IncompleteSweepError, RuntimeError)
True
"""
from .core import Study
from .errors import IncompleteSweepError, StaleCheckpointError
from .fingerprint import train_fn_fingerprint
from .manifest import write_json_atomic

__all__ = ["Study", "IncompleteSweepError", "StaleCheckpointError", "train_fn_fingerprint", "write_json_atomic"]
