"""pytest plugin: gate a model against a stored baseline, without running the baseline again.

Registered through the ``pytest11`` entry point, so installing mushin is
enough.  It adds one fixture, ``mushin_baseline``, and one option,
``--mushin-update-baselines``.

A baseline is the confusion matrices of one method over its seeds, plus the
settings they were made under (task, classes, ignore_index, the metric
battery and its directions), stored as a small JSON file next to the tests::

    tests/mushin_baselines/<test module>/<test name>.json

The first run of a test stores the candidate's result as the baseline and
fails, saying so (commit the file, then run again); a run with
``--mushin-update-baselines`` stores it and passes.  Every other run
re-derives the baseline's metrics from the stored counts, puts them next to
the candidate's fresh ones and applies the gate of :mod:`mushin.testing`
(a one-sided Welch test across seeds), so the baseline models never run
again.  A failing gate reports the gate's verdict and nothing else; a
stored baseline that is missing, stale (another task, other classes or
another metric battery), edited by hand, or written by an incompatible
version of mushin fails with a message saying which and what to do.

Examples
--------
In a test module (``result`` holds the candidate's seeds)::

    def test_segmenter_keeps_miou(mushin_baseline):
        result = compare({"unet": models}, data=val_loader, task="segmentation",
                         num_classes=21, ignore_index=255, test="welch")
        mushin_baseline.assert_not_worse(result, "miou", margin=0.005)
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

# mushin itself (and with it torch) is imported by the fixture's methods, not
# here: pytest imports every installed plugin at start-up, including in
# projects that never ask for a baseline.

__all__ = ["Baseline", "FORMAT_NAME", "FORMAT_VERSION", "BASELINES_DIR"]

FORMAT_NAME = "mushin-baseline"
FORMAT_VERSION = 1
BASELINES_DIR = "mushin_baselines"
UPDATE_OPTION = "--mushin-update-baselines"
_WRITTEN = pytest.StashKey[List[str]]()


class _BaselineProblem(Exception):
    """A stored baseline that cannot be used; the message says why and what to do."""


# --------------------------------------------------------------- hooks --


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("mushin", "mushin model regression baselines")
    group.addoption(
        UPDATE_OPTION,
        action="store_true",
        default=False,
        help="store each candidate result as the new baseline of its test (tests using mushin_baseline pass)",
    )


def pytest_configure(config: Any) -> None:
    config.stash[_WRITTEN] = []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    written = config.stash.get(_WRITTEN, [])
    if written:
        terminalreporter.section("mushin baselines written")
        for line in written:
            terminalreporter.write_line(line)


@pytest.fixture
def mushin_baseline(request: Any) -> "Baseline":
    """The stored baseline of this test; gate a fresh result against it.

    See :class:`Baseline` for its methods.
    """
    node_name = request.node.nodeid.split("::", 1)[-1]
    return Baseline(
        directory=Path(request.path).parent / BASELINES_DIR / Path(request.path).stem,
        test_name=node_name,
        update=bool(request.config.getoption(UPDATE_OPTION)),
        written=request.config.stash[_WRITTEN],
        rootdir=Path(str(request.config.rootpath)),
    )


# -------------------------------------------------------------- fixture --


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "baseline"


class Baseline:
    """One test's stored baseline; the ``mushin_baseline`` fixture.

    Each method takes the candidate's fresh :class:`~mushin.BenchmarkResult`
    and the method in it to gate (``method=None``: the result's only
    method).  ``name=`` keeps several baselines in one test (one file each).
    """

    def __init__(self, directory: Path, test_name: str, update: bool, written: List[str], rootdir: Path):
        self.directory = directory
        self.test_name = test_name
        self.update = update
        self._written = written
        self._rootdir = rootdir

    def path(self, name: Optional[str] = None) -> Path:
        """Where this test's baseline (or its baseline ``name``) is stored."""
        stem = _safe_name(self.test_name) + (f"--{_safe_name(name)}" if name else "")
        return self.directory / f"{stem}.json"

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self._rootdir))
        except ValueError:
            return str(path)

    # ------------------------------------------------------------- gates --
    def assert_not_worse(
        self,
        result: Any,
        metric: str,
        margin: float = 0.0,
        alpha: float = 0.05,
        *,
        method: Optional[str] = None,
        name: Optional[str] = None,
        higher_is_better: Optional[bool] = None,
    ) -> Any:
        """Fail unless ``method`` is shown to lose at most ``margin`` against the stored baseline.

        :func:`mushin.testing.assert_not_worse` with the stored baseline as
        the baseline.  Returns its :class:`~mushin.testing.GateResult`, or
        ``None`` when the run stores the baseline instead
        (``--mushin-update-baselines``).
        """
        __tracebackhide__ = True
        return self._gate("assert_not_worse", result, metric, margin, alpha, method, name, higher_is_better)

    def assert_better(
        self,
        result: Any,
        metric: str,
        margin: float = 0.0,
        alpha: float = 0.05,
        *,
        method: Optional[str] = None,
        name: Optional[str] = None,
        higher_is_better: Optional[bool] = None,
    ) -> Any:
        """Fail unless ``method`` is shown to beat the stored baseline by more than ``margin``.

        :func:`mushin.testing.assert_better` with the stored baseline as the
        baseline; returns as :meth:`assert_not_worse`.
        """
        __tracebackhide__ = True
        return self._gate("assert_better", result, metric, margin, alpha, method, name, higher_is_better)

    def against(self, result: Any, *, method: Optional[str] = None, name: Optional[str] = None) -> Any:
        """The candidate and the stored baseline as one :class:`~mushin.BenchmarkResult`.

        Its methods are ``method`` and ``"baseline"`` (``"stored baseline"``
        if the candidate is itself called ``"baseline"``), with the metrics
        the stored confusion matrices give and the candidate's test, alpha
        and correction; for checks of your own (``.comparisons``,
        ``.summary()``).  It reads the baseline a gate of the same test (and
        ``name``) stored, and never writes one; it fails the test as the
        gates do when the baseline is missing or unusable.
        """
        __tracebackhide__ = True
        problem = None
        try:
            method = _pick_method(result, method)
            fresh = _payload(result, method, self.test_name)
            stored = _read(self.path(name), self._shown(self.path(name)))
            _check_current(stored, fresh, self._shown(self.path(name)))
            return _combined(result, method, stored)
        except _BaselineProblem as exc:
            problem = str(exc)
        pytest.fail(problem, pytrace=False)

    def _gate(
        self,
        gate_name: str,
        result: Any,
        metric: str,
        margin: float,
        alpha: float,
        method: Optional[str],
        name: Optional[str],
        higher_is_better: Optional[bool],
    ) -> Any:
        __tracebackhide__ = True
        from . import testing

        path = self.path(name)
        shown = self._shown(path)
        problem = None
        try:
            method = _pick_method(result, method)
            fresh = _payload(result, method, self.test_name)
            if self.update or not path.exists():
                _write(path, fresh)
                self._written.append(f"{shown}  ({self.test_name}, method {method!r}, {len(fresh['confusion'])} seeds)")
                if self.update:
                    return None
                raise _BaselineProblem(
                    f"no stored baseline for {self.test_name}: stored the result of {method!r} as the baseline "
                    f"now, at {shown}.\nCommit that file and run again; later runs gate against it "
                    f"(`pytest {UPDATE_OPTION}` replaces it on purpose)."
                )
            stored = _read(path, shown)
            _check_current(stored, fresh, shown)
            combined = _combined(result, method, stored)
            if metric not in combined.metrics:
                raise _BaselineProblem(_not_gateable(metric, result, combined))
            gate = getattr(testing, gate_name)
            try:
                return gate(
                    combined, method, _stored_name(method), metric, margin, alpha, higher_is_better=higher_is_better
                )
            except testing.GateFailed as failed:
                problem = f"{failed}\n  baseline: {shown} (stored by mushin {stored['mushin_version']})"
        except _BaselineProblem as exc:
            problem = str(exc)
        # outside the except blocks: the report shows the verdict, not a chain of mushin frames
        pytest.fail(problem, pytrace=False)


# ------------------------------------------------------------ contents --


def _stored_name(method: str) -> str:
    return "stored baseline" if method == "baseline" else "baseline"


def _pick_method(result: Any, method: Optional[str]) -> str:
    methods = list(getattr(result, "methods", None) or [])
    if not hasattr(result, "confusion") or not methods:
        raise _BaselineProblem(f"mushin_baseline needs a BenchmarkResult, got {type(result).__name__}")
    if method is None:
        if len(methods) != 1:
            raise _BaselineProblem(
                f"the result has methods {methods}; say which one to gate with method=..."
            )
        return methods[0]
    if method not in methods:
        raise _BaselineProblem(f"no method {method!r} in the result; its methods are {methods}")
    return method


def _labels(values: Any) -> List[Any]:
    return [v if isinstance(v, (int, str)) else (int(v) if float(v).is_integer() else str(v)) for v in values]


def _derived(counts: Dict[str, Any], settings: Dict[str, Any], class_names: Optional[List[str]]) -> Any:
    """A result computed from confusion counts alone (the task battery's confusion metrics)."""
    from .result import BenchmarkResult

    return BenchmarkResult.from_confusion(
        counts,
        task=settings["task"],
        ignore_index=settings["ignore_index"],
        test=settings["test"],
        alpha=settings["alpha"],
        correction=settings["correction"],
        class_names=class_names,
    )


def _payload(result: Any, method: str, test_name: str) -> Dict[str, Any]:
    """The baseline file's contents for ``method`` of ``result`` (checksum excluded)."""
    import numpy as np

    from . import __version__

    settings = result.settings
    num_classes = settings.get("num_classes")
    if not num_classes:
        raise _BaselineProblem(
            f"task {settings.get('task')!r} has no confusion matrices; a stored baseline is the "
            "confusion matrices of the baseline's seeds, so only tasks with classes can have one"
        )
    counts = np.asarray(result.confusion.sel({"method": method}).values, dtype=np.int64)
    present = (counts >= 0).all(axis=(-2, -1))
    counts = counts[present]
    seeds = _labels(np.asarray(result.confusion["seed"].values)[present])
    classes = _labels(result.classes)
    class_names = classes if all(isinstance(c, str) for c in classes) and classes else None
    kept = {k: settings.get(k) for k in ("task", "num_classes", "ignore_index", "test", "alpha", "correction")}
    kept["ignore_index"] = None if kept["ignore_index"] is None else int(kept["ignore_index"])
    derived = _derived({method: counts}, kept, class_names)
    scores: Dict[str, List[Optional[float]]] = {}
    for metric in derived.metrics:
        if metric not in result.metrics:
            continue
        again = derived.scores(metric, method)
        given = result.scores(metric, method)
        if again.shape != given.shape or not np.allclose(again, given, rtol=1e-12, atol=0.0, equal_nan=True):
            raise _BaselineProblem(
                f"{metric!r} of this result is not what task {kept['task']!r} derives from its confusion "
                f"matrices ({given.tolist()} vs {again.tolist()}); a stored baseline holds confusion matrices "
                f"only, so it can gate the task's own battery, not a metric of another definition"
            )
        scores[metric] = [None if math.isnan(v) else float(v) for v in again.tolist()]
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "mushin_version": __version__,
        "test": test_name,
        "method": method,
        "settings": kept,
        "classes": classes,
        "battery": {m: result.directions.get(m) for m in result.metrics},
        "seeds": seeds,
        "scores": scores,
        "confusion": counts.tolist(),
    }


def _checksum(payload: Dict[str, Any]) -> str:
    body = {k: v for k, v in payload.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dumps(value: Any, indent: int = 0) -> str:
    """JSON with one matrix row per line: a changed count is a one-line diff."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad}  {json.dumps(k)}: {_dumps(v, indent + 2)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        items = [f"{pad}  {_dumps(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


def _write(path: Path, payload: Dict[str, Any]) -> None:
    payload = {**payload, "checksum": _checksum(payload)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_dumps(payload) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # never a half-written baseline


def _refresh_hint() -> str:
    return f"run `pytest {UPDATE_OPTION}` to store the current model as the baseline on purpose"


def _read(path: Path, shown: str) -> Dict[str, Any]:
    if not path.exists():
        raise _BaselineProblem(f"no stored baseline at {shown}; {_refresh_hint()}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BaselineProblem(f"baseline {shown} is not valid JSON ({exc}); restore it from version control or {_refresh_hint()}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise _BaselineProblem(f"{shown} is not a mushin baseline file (no \"format\": \"{FORMAT_NAME}\")")
    from . import __version__

    if payload.get("format_version") != FORMAT_VERSION:
        raise _BaselineProblem(
            f"baseline {shown} was stored by mushin {payload.get('mushin_version')!s} in baseline format "
            f"{payload.get('format_version')!r}; this mushin ({__version__}) reads format {FORMAT_VERSION} "
            f"only (an incompatible version); {_refresh_hint()}"
        )
    if payload.get("checksum") != _checksum(payload):
        raise _BaselineProblem(
            f"baseline {shown} was changed after mushin stored it (its checksum does not match its "
            "contents). Baselines are only written by mushin, so that a hand edit cannot move the bar; "
            f"restore it from version control, or {_refresh_hint()}"
        )
    return payload


def _describe(payload: Dict[str, Any]) -> Dict[str, Any]:
    s = payload["settings"]
    return {
        "task": s["task"],
        "classes": payload["classes"],
        "ignore_index": s["ignore_index"],
        "metric battery": payload["battery"],
    }


def _check_current(stored: Dict[str, Any], fresh: Dict[str, Any], shown: str) -> None:
    """Stale: the baseline answers another question than the candidate's result asks."""
    import numpy as np

    old, new = _describe(stored), _describe(fresh)
    changed = [f"{key}: stored {old[key]!r}, now {new[key]!r}" for key in old if old[key] != new[key]]
    if changed:
        raise _BaselineProblem(
            f"stale baseline {shown}: it was stored for another setup\n  " + "\n  ".join(changed)
            + f"\n{_refresh_hint()} if the change is intended"
        )
    # the metric definitions themselves: the stored scores against what this
    # mushin derives from the stored counts
    counts = np.asarray(stored["confusion"], dtype=np.int64)
    names = stored["classes"] if stored["classes"] and all(isinstance(c, str) for c in stored["classes"]) else None
    again = _derived({"b": counts}, stored["settings"], names)
    for metric, values in stored["scores"].items():
        now = again.scores(metric, "b") if metric in again.metrics else np.array([])
        was = np.array([math.nan if v is None else v for v in values], dtype=float)
        was = was[~np.isnan(was)]
        if now.shape != was.shape or not np.allclose(now, was, rtol=1e-12, atol=0.0):
            raise _BaselineProblem(
                f"stale baseline {shown}: this mushin ({fresh['mushin_version']}) derives {metric!r} from the "
                f"stored confusion matrices as {now.tolist()}, the mushin that stored it "
                f"({stored['mushin_version']}) had {was.tolist()}; {_refresh_hint()}"
            )


def _combined(result: Any, method: str, stored: Dict[str, Any]) -> Any:
    import numpy as np

    fresh_counts = np.asarray(result.confusion.sel({"method": method}).values, dtype=np.int64)
    fresh_counts = fresh_counts[(fresh_counts >= 0).all(axis=(-2, -1))]
    settings = {**stored["settings"], **{k: result.settings.get(k) for k in ("test", "alpha", "correction")}}
    names = stored["classes"] if stored["classes"] and all(isinstance(c, str) for c in stored["classes"]) else None
    counts = {method: fresh_counts, _stored_name(method): np.asarray(stored["confusion"], dtype=np.int64)}
    return _derived(counts, settings, names)


def _not_gateable(metric: str, result: Any, combined: Any) -> str:
    if metric in result.metrics:
        return (
            f"{metric!r} is not derived from confusion matrices (it needs the models' scores), and a "
            f"stored baseline holds confusion matrices only; gate one of {combined.metrics}"
        )
    return f"no metric {metric!r}; the metrics a stored baseline can gate here are {combined.metrics}"
