"""The errors a study raises: an incomplete sweep, a stale checkpoint."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Tuple, Union


def _escape(value: Any) -> str:
    # percent-encode the two delimiters (and the escape itself), so that keys stay unambiguous
    return str(value).replace("%", "%25").replace("=", "%3D").replace(",", "%2C")


def failure_key(method: str, seed: Any) -> str:
    """How ``attrs["mushin_failures"]`` names one run: ``"method=<name>,seed=<seed>"``.

    This is upstream mushin-py's key of a swept combination (names sorted,
    ``,`` ``=`` ``%`` percent-encoded), so a dataset from either reads the same.

    Examples
    --------
    >>> failure_key("deeplab", 1)
    'method=deeplab,seed=1'
    >>> failure_key("a,b=c", 0)
    'method=a%2Cb%3Dc,seed=0'
    """
    return f"method={_escape(method)},seed={_escape(seed)}"


class IncompleteSweepError(RuntimeError):
    """Some training runs of a :class:`Study` failed, so nothing was compared.

    Attributes
    ----------
    failed : list of (str, int)
        The ``(method, seed)`` runs that failed, in study order.
    errors : dict
        ``(method, seed) -> "ExceptionType: message"``.
    manifest_path : str or None
        The manifest holding each failure's full traceback.
    data : xarray.Dataset or None
        With ``Study(on_error="nan")``: the completed runs' scores, dims
        ``(method, seed)``, NaN in the failed runs' cells, which
        ``attrs["mushin_failures"]`` names.  ``None`` otherwise.

    ``IncompleteSweepError("message")`` (a message alone, as upstream raises
    it) also works; ``failed`` is then empty.
    """

    def __init__(
        self,
        failed: Union[str, Sequence[Tuple[str, int]]] = (),
        errors: Optional[Mapping[Tuple[str, int], str]] = None,
        manifest_path: Optional[str] = None,
        *,
        data: Any = None,
    ):
        self.data = data
        if isinstance(failed, str):
            self.failed, self.errors, self.manifest_path = [], dict(errors or {}), manifest_path
            super().__init__(failed)
            return
        self.failed = list(failed)
        self.errors = dict(errors or {})
        self.manifest_path = manifest_path
        lines = [f"  {method!r} seed {seed}: {self.errors.get((method, seed), '')}" for method, seed in self.failed]
        where = f"Tracebacks are in {manifest_path}.  " if manifest_path else ""
        super().__init__(
            f"{len(self.failed)} training run(s) failed, so no statistics were computed:\n"
            + "\n".join(lines)
            + f"\n{where}Fix the cause and call run() again: "
            "completed runs are reused and only the failed ones are trained."
        )

    def __reduce__(self) -> Any:
        if not self.failed and self.args:
            return (_rebuild, (type(self), self.args[0], None, self.manifest_path, self.data))
        return (_rebuild, (type(self), self.failed, self.errors, self.manifest_path, self.data))


def _rebuild(cls: Any, failed: Any, errors: Any, manifest_path: Any, data: Any) -> "IncompleteSweepError":
    return cls(failed, errors, manifest_path, data=data)


class StaleCheckpointError(ValueError):
    """Completed runs in ``working_dir`` were trained by code that has changed since."""
