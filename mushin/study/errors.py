"""The errors a study raises: an incomplete sweep, a stale checkpoint."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Tuple


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
