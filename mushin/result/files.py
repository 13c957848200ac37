"""Saving and loading a :class:`~mushin.BenchmarkResult`, and its tidy table.

``result.save(path)`` writes a folder of CSV files and one JSON manifest; no
extra package is needed to write or read it, and every value comes back
bit for bit (floats are written with Python's shortest round-trip ``repr``).

::

    path/
      manifest.json    format name and version, settings, the order and
                       labels of methods, seeds and classes, attributes
      scores.csv       method, seed, metric, value       (every scalar metric)
      per_class.csv    method, seed, class, metric, value (per-class metrics)
      confusion.csv    method, seed, target, prediction, count
      comparisons.csv  the result.comparisons table, column for column

Cells of the (method, seed) grid that a method does not have are written
too: an empty ``value`` (NaN) and ``count`` -1, as in memory.  Seed and
class labels are written as text and mapped back to their original type
(int or str) through the manifest.

The folder is first written next to ``path`` under a temporary name and
then renamed into place, so an interrupted save leaves no half-written
result; missing folders above ``path`` are created.  An existing result
folder at ``path`` is replaced; any other existing file or non-empty folder
is left alone and raises ``FileExistsError``.

``load`` trusts nothing it reads: the manifest's fields, one row per cell
of every file (none missing, none repeated), every value in range, and the
scores, per-class values and comparisons against what the confusion
matrices give (the manifest lists which metrics the task's battery
computed, ``derived_metrics``).  A damaged or edited folder raises
``ValueError`` naming the file and line, before anything is allocated
from sizes the manifest only claims.

Examples
--------
>>> import tempfile, os
>>> from mushin import BenchmarkResult
>>> conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
...         "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]}
>>> r = BenchmarkResult.from_confusion(conf)
>>> folder = os.path.join(tempfile.mkdtemp(), "run1")
>>> _ = r.save(folder)
>>> BenchmarkResult.load(folder).data.identical(r.data)
True
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["save_result", "load_result", "to_dataframe", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "mushin-result"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_FILES = ("scores.csv", "per_class.csv", "confusion.csv", "comparisons.csv")


# ------------------------------------------------------------ tidy table --


def _present(result: Any) -> np.ndarray:
    """(method, seed) mask of the cells a method really has (not -1 filled)."""
    return (result.confusion.values >= 0).all(axis=(-2, -1))


def to_dataframe(result: Any, per_class: bool = False) -> Any:
    """The per-seed values as a tidy long table.

    Parameters
    ----------
    result : BenchmarkResult
    per_class : bool
        ``False``: columns ``method, seed, metric, value`` for the scalar
        metrics.  ``True``: columns ``method, seed, class, metric, value``
        for the per-class metrics (``metric`` is ``iou``, ``dice``, ...).

    Returns
    -------
    pandas.DataFrame
        Only the seeds each method has; a NaN ``value`` is a metric that is
        undefined for that model (e.g. a class it cannot be scored on).

    Examples
    --------
    >>> from mushin import BenchmarkResult
    >>> r = BenchmarkResult.from_confusion({"a": [[[3, 1], [0, 4]], [[4, 0], [2, 2]]]})
    >>> r.to_dataframe().query("metric == 'pixel_acc'").values.tolist()
    [['a', 0, 'pixel_acc', 0.875], ['a', 1, 'pixel_acc', 0.75]]
    """
    import pandas as pd

    from .result import PER_CLASS_PREFIX

    data = result.data
    present = _present(result)
    methods = result.methods
    seeds = data["seed"].values.tolist()
    rows: List[tuple] = []
    if not per_class:
        for i, method in enumerate(methods):
            for j, seed in enumerate(seeds):
                if present[i, j]:
                    for metric in result.metrics:
                        rows.append((method, seed, metric, float(data[metric].values[i, j])))
        return pd.DataFrame(rows, columns=["method", "seed", "metric", "value"])
    classes = result.classes
    names = [v for v in data.data_vars if v.startswith(PER_CLASS_PREFIX)]
    for i, method in enumerate(methods):
        for j, seed in enumerate(seeds):
            if present[i, j]:
                for k, label in enumerate(classes):
                    for name in names:
                        value = float(data[name].values[i, j, k])
                        rows.append((method, seed, label, name[len(PER_CLASS_PREFIX):], value))
    return pd.DataFrame(rows, columns=["method", "seed", "class", "metric", "value"])


# ------------------------------------------------------------ encoding --


def _float_text(value: float) -> str:
    value = float(value)
    return "" if math.isnan(value) else repr(value)


def _parse_float(text: str) -> float:
    return math.nan if text == "" else float(text)


def _labels_map(labels: Sequence[Any], what: str) -> Dict[str, Any]:
    """text -> label, refusing labels that would collide as text."""
    out: Dict[str, Any] = {}
    for label in labels:
        key = str(label)
        if key in out:
            raise ValueError(f"{what} labels {out[key]!r} and {label!r} are the same as text; rename one")
        out[key] = label
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot save a value of type {type(value).__name__} ({value!r}) in the manifest")


def _plain_labels(values: Iterable[Any], what: str) -> List[Any]:
    labels = [v.item() if isinstance(v, np.generic) else v for v in values]
    for label in labels:
        if isinstance(label, bool) or not isinstance(label, (int, str)):
            raise TypeError(f"{what} labels must be int or str to be saved, got {label!r}")
    return labels


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _read_csv(path: Path, header: Sequence[str]) -> List[List[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        got = next(reader, None)
        if got != list(header):
            raise ValueError(f"{path}: expected the columns {list(header)}, found {got}")
        return list(reader)


def _column_kind(dtype: Any) -> str:
    from pandas.api import types

    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_integer_dtype(dtype):
        return "int"
    if types.is_float_dtype(dtype):
        return "float"
    return "str"


def _cell_text(value: Any, kind: str) -> str:
    if kind == "float":
        return _float_text(value)
    if kind in ("bool", "int"):
        return str(int(value)) if kind == "int" else ("True" if value else "False")
    return str(value)


def _parse_cell(text: str, kind: str) -> Any:
    if kind == "float":
        return _parse_float(text)
    if kind == "int":
        return int(text)
    if kind == "bool":
        if text not in ("True", "False"):
            raise ValueError(f"expected True or False, found {text!r}")
        return text == "True"
    return text


# ----------------------------------------------------------------- save --


def _check_target(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    target = Path(path).expanduser()
    if target.name in ("", ".", ".."):
        raise ValueError(f"path {str(path)!r} must name a folder to write, not {target.name!r}")
    for folder in target.absolute().parents:
        if folder.exists():  # the nearest existing ancestor; save creates the folders below it
            if not folder.is_dir():
                raise NotADirectoryError(f"cannot save to {str(target)!r}: {str(folder)!r} is not a folder")
            break
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FileExistsError(f"cannot save to {str(target)!r}: a file is in the way (not replaced)")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise FileExistsError(
            f"cannot save to {str(target)!r}: it is a non-empty folder that holds no saved "
            "result (not replaced)"
        )
    return target


def _make_parents(target: Path) -> List[Path]:
    """Create the missing folders above ``target``; return them, outermost first."""
    missing = [folder for folder in target.absolute().parents if not folder.exists()]
    created: List[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
    except BaseException:
        _remove_created(created)
        raise
    return created


def _remove_created(created: List[Path]) -> None:
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _derived_metrics(result: Any, metrics: Sequence[str]) -> List[str]:
    """The metrics whose every value is the task battery's function of the confusion matrix.

    ``load`` recomputes these from the saved matrices to catch edited files;
    a custom metric (even one named like a battery entry) is not listed.
    """
    from .tasks import get_task, metric_kind

    try:
        task = get_task(result.settings.get("task"))
    except (TypeError, ValueError):
        return []
    ignore_index = result.settings.get("ignore_index")
    counts = result.confusion.values
    present = _present(result)
    derived = []
    for metric in metrics:
        entry = task.battery.get(metric)
        if entry is None or metric_kind(entry, metric) != "confusion":
            continue
        values = result.data[metric].values
        if _matches_battery(values, counts, present, entry, ignore_index, tolerance=0.0) is None:
            derived.append(metric)
    return derived


def _matches_battery(
    values: np.ndarray, counts: np.ndarray, present: np.ndarray, fn: Any, ignore_index: Any, tolerance: float
) -> Any:
    """``None``, or the first ``(i, j, value, expected)`` where ``values`` is not ``fn(counts)``."""
    for (i, j), here in np.ndenumerate(present):
        value = float(values[i, j])
        expected = float(fn(counts[i, j], ignore_index)) if here else math.nan
        if math.isnan(value) and math.isnan(expected):
            continue
        if math.isnan(value) or math.isnan(expected) or abs(value - expected) > tolerance * max(1.0, abs(expected)):
            return i, j, value, expected
    return None


def save_result(result: Any, path: Any) -> Path:
    """Write ``result`` to the folder ``path`` (see the module docs for the layout).

    Returns
    -------
    pathlib.Path
        The folder written.

    Missing folders above ``path`` are created (and removed again if the
    save fails).

    Raises
    ------
    NotADirectoryError
        A file stands where a folder above ``path`` should be.
    FileExistsError
        ``path`` is a file, or a non-empty folder that is not a saved result.
    """
    from .result import PER_CLASS_PREFIX

    target = _check_target(path)
    data, confusion, comparisons = result.data, result.confusion, result.comparisons
    methods = result.methods
    seeds = _plain_labels(data["seed"].values, "seed")
    classes = _plain_labels(result.classes, "class")
    _labels_map(seeds, "seed")
    _labels_map(classes, "class")
    metrics = result.metrics
    per_class = [v for v in data.data_vars if v.startswith(PER_CLASS_PREFIX)]
    extra = [v for v in data.data_vars if v not in metrics and v not in per_class]
    if extra:
        raise ValueError(f"cannot save data variables {extra}: neither (method, seed) nor per-class")
    num_classes = int(confusion.sizes["target"])
    kinds = {col: _column_kind(comparisons[col].dtype) for col in comparisons.columns}
    dtypes = {col: str(comparisons[col].dtype) for col in comparisons.columns}
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "settings": result.settings,
        "methods": methods,
        "seeds": seeds,
        "classes": classes,
        "num_classes": num_classes,
        "metrics": metrics,
        "per_class_metrics": per_class,
        "data_attrs": dict(data.attrs),
        "variable_attrs": {v: dict(data[v].attrs) for v in data.data_vars},
        "confusion_name": confusion.name,
        "confusion_attrs": dict(confusion.attrs),
        "comparisons_columns": kinds,
        "comparisons_dtypes": dtypes,
        "comparisons_attrs": dict(comparisons.attrs),
    }
    manifest["derived_metrics"] = _derived_metrics(result, metrics)
    manifest["derived_comparisons"] = _comparisons_mismatch(result, result.comparisons) is None
    try:
        manifest_text = json.dumps(manifest, indent=2, default=_json_value, allow_nan=False)
    except ValueError as exc:  # NaN/inf in settings or attributes
        raise ValueError(f"cannot save the result's settings or attributes as JSON: {exc}") from None

    created = _make_parents(target)  # e.g. runs/ of "runs/x"; removed again if the save fails
    work = _sibling(target, "tmp")
    try:
        work.mkdir()  # unlike mkdtemp, honours the umask: the result is as readable as any folder
    except BaseException:
        _remove_created(created)
        raise
    try:
        grid = [(i, m, j, s) for i, m in enumerate(methods) for j, s in enumerate(seeds)]
        scores = {metric: data[metric].values for metric in metrics}
        _write_csv(
            work / "scores.csv",
            ["method", "seed", "metric", "value"],
            ((m, s, metric, _float_text(scores[metric][i, j])) for i, m, j, s in grid for metric in metrics),
        )
        class_values = {name: data[name].values for name in per_class}
        _write_csv(
            work / "per_class.csv",
            ["method", "seed", "class", "metric", "value"],
            (
                (m, s, c, name, _float_text(class_values[name][i, j, k]))
                for i, m, j, s in grid
                for k, c in enumerate(classes)
                for name in per_class
            ),
        )
        counts = confusion.values
        _write_csv(
            work / "confusion.csv",
            ["method", "seed", "target", "prediction", "count"],
            (
                (m, s, t, p, str(int(counts[i, j, t, p])))
                for i, m, j, s in grid
                for t in range(num_classes)
                for p in range(num_classes)
            ),
        )
        _write_csv(
            work / "comparisons.csv",
            list(comparisons.columns),
            (
                [_cell_text(value, kinds[col]) for col, value in zip(comparisons.columns, row)]
                for row in comparisons.itertuples(index=False, name=None)
            ),
        )
        # the manifest last: a folder without it is never taken for a result
        (work / MANIFEST).write_text(manifest_text + "\n", encoding="utf-8")
        _move_into_place(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        _remove_created(created)
        raise
    return target


def _sibling(target: Path, kind: str) -> Path:
    """An unused hidden name next to ``target`` for a folder being written or replaced."""
    return target.absolute().parent / f".{target.name}.{uuid.uuid4().hex[:12]}.{kind}"


def _move_into_place(work: Path, target: Path) -> None:
    if not target.exists():
        os.rename(work, target)
        return
    old = _sibling(target, "old")
    os.rename(target, old)
    try:
        os.rename(work, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------- load --


# Every cell of the (method, seed) grid has one row per file; a load checks
# that each row is there exactly once, that every value is in range, and
# that the scores are what the confusion matrices give, before it builds
# anything.  Reading a huge grid that a manifest only claims would need a
# huge allocation, so the grid's size is checked against the rows first.

_INT_TEXT = re.compile(r"-?[0-9]+")
_INT64_MAX = 2**63 - 1
_KINDS = ("bool", "int", "float", "str")
# Scores are written with repr(), which round-trips exactly, so a loaded
# score differs from its recomputation only by the order in which a battery
# function sums its C per-class terms (each in [0, 1]) on this machine
# versus the saving one: at most C roundings of 2**-53 relative each.  A
# test statistic or p-value goes through more steps (the t CDF), so the
# comparisons table is compared to a relative 1e-9.
_COMPARISONS_RTOL = 1e-9


def _damaged(path: Path, line: Any, what: str) -> ValueError:
    """The error for a saved file that is not what ``save`` wrote, naming the file and line."""
    place = f"{path} line {line}" if line is not None else str(path)
    return ValueError(
        f"{place}: {what}.  The saved result was edited or damaged; restore the folder from a "
        "backup, or save the result again"
    )


def _check_loaded_manifest(manifest: Any, path: Path) -> None:
    """Raise ``ValueError`` unless every manifest field has the type and range save writes."""
    from . import stats

    def fail(what: str) -> None:
        raise _damaged(path, None, what)

    def text_list(key: str, allow_int: bool = False, non_empty: bool = False) -> List[Any]:
        values = manifest.get(key)
        if not isinstance(values, list):
            fail(f"{key!r} is {type(values).__name__}, not a list")
        for k, value in enumerate(values):
            ok = isinstance(value, str) or (allow_int and isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                fail(f"{key}[{k}] is {value!r}, not a {'str or int' if allow_int else 'str'}")
        texts = [str(v) for v in values]
        repeated = sorted({t for t in texts if texts.count(t) > 1})
        if repeated:
            fail(f"{key!r} repeats {repeated}")
        if non_empty and not values:
            fail(f"{key!r} is empty")
        return values

    required = (
        "settings", "methods", "seeds", "classes", "num_classes", "metrics", "per_class_metrics",
        "data_attrs", "variable_attrs", "confusion_name", "confusion_attrs", "comparisons_columns",
        "comparisons_dtypes",
    )
    missing = [key for key in required if key not in manifest]
    if missing:
        fail(f"it has no {missing} key(s)")
    text_list("methods", non_empty=True)
    text_list("seeds", allow_int=True, non_empty=True)
    classes = text_list("classes", allow_int=True)
    metrics = text_list("metrics")
    per_class = text_list("per_class_metrics")
    num_classes = manifest["num_classes"]
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= 1 << 16:
        fail(f"num_classes is {num_classes!r}, not an int in [1, 65536]")
    if classes and len(classes) != num_classes:
        fail(f"'classes' has {len(classes)} labels for num_classes={num_classes}")
    if per_class and not classes:
        fail(f"per-class metrics {per_class} but no 'classes'")
    for key in ("settings", "data_attrs", "variable_attrs", "confusion_attrs", "comparisons_columns",
                "comparisons_dtypes"):
        if not isinstance(manifest[key], dict):
            fail(f"{key!r} is {type(manifest[key]).__name__}, not an object")
    if not isinstance(manifest.get("comparisons_attrs", {}), dict):
        fail("'comparisons_attrs' is not an object")
    if manifest["confusion_name"] is not None and not isinstance(manifest["confusion_name"], str):
        fail(f"confusion_name is {manifest['confusion_name']!r}")
    variables = manifest["variable_attrs"]
    if set(variables) != set(metrics) | set(per_class) or set(metrics) & set(per_class):
        fail(f"'variable_attrs' names {sorted(variables)}, not the metrics {metrics + per_class}")
    if not all(isinstance(v, dict) for v in variables.values()):
        fail("'variable_attrs' holds a value that is not an object")
    kinds, dtypes = manifest["comparisons_columns"], manifest["comparisons_dtypes"]
    bad = {col: kind for col, kind in kinds.items() if kind not in _KINDS}
    if bad:
        fail(f"'comparisons_columns' has unknown kinds {bad}; known: {list(_KINDS)}")
    if list(dtypes) != list(kinds) or not all(isinstance(v, str) for v in dtypes.values()):
        fail(f"'comparisons_dtypes' does not match 'comparisons_columns' {list(kinds)}")
    if not isinstance(manifest.get("derived_comparisons", True), bool):
        fail(f"'derived_comparisons' is {manifest['derived_comparisons']!r}, not true or false")
    derived = manifest.get("derived_metrics", [])
    if not isinstance(derived, list) or not all(isinstance(m, str) and m in metrics for m in derived):
        fail(f"'derived_metrics' is {derived!r}, not a list of the metrics {metrics}")
    settings = manifest["settings"]
    try:
        stats.check_test(settings.get("test"))
        stats.check_correction(settings.get("correction"))
        stats.check_alpha(settings.get("alpha"))
    except (TypeError, ValueError) as exc:
        fail(f"settings: {exc}")
    ignore_index = settings.get("ignore_index")
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        fail(f"settings: ignore_index is {ignore_index!r}, not an int or null")
    if "num_classes" in settings and settings["num_classes"] != num_classes:
        fail(f"settings say num_classes={settings['num_classes']!r} but the manifest says {num_classes}")


def _read_rows(path: Path, header: Sequence[str]) -> List[tuple]:
    """``(line number, fields)`` of every data row, each with ``len(header)`` fields."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            got = next(reader, None)
            if got != list(header):
                raise _damaged(path, 1, f"expected the columns {list(header)}, found {got}")
            rows = []
            for row in reader:
                if len(row) != len(header):
                    raise _damaged(
                        path, reader.line_num, f"{len(row)} fields where {len(header)} ({', '.join(header)}) belong"
                    )
                rows.append((reader.line_num, row))
            return rows
    except UnicodeDecodeError as exc:
        raise _damaged(path, None, f"not UTF-8 text ({exc})") from None
    except csv.Error as exc:
        raise _damaged(path, None, f"not a CSV file ({exc})") from None


def _int_cell(path: Path, line: int, name: str, text: str, low: int, high: int) -> int:
    if not _INT_TEXT.fullmatch(text):
        raise _damaged(path, line, f"{name} {text!r} is not an integer")
    value = int(text)
    if not low <= value <= high:
        raise _damaged(path, line, f"{name} {value} is outside [{low}, {high}]")
    return value


def _float_cell(path: Path, line: int, text: str) -> float:
    try:
        value = _parse_float(text)
    except ValueError:
        raise _damaged(path, line, f"value {text!r} is not a number") from None
    if text != "" and (math.isnan(value) or text != text.strip()):
        raise _damaged(path, line, f"value {text!r} is not how save writes a number (NaN is empty)")
    return value


class _Grid:
    """Places rows of one file in a grid, each key exactly once."""

    def __init__(self, path: Path, axes: List[Dict[str, int]], names: List[str]):
        self.path = path
        self.axes = axes
        self.names = names
        self.lines = np.zeros([len(axis) for axis in axes], dtype=np.int64)

    def place(self, line: int, keys: Sequence[str]) -> tuple:
        index = []
        for key, axis, name in zip(keys, self.axes, self.names):
            if key not in axis:
                raise _damaged(self.path, line, f"{name} {key!r} is not in the manifest ({list(axis)[:10]})")
            index.append(axis[key])
        where = tuple(index)
        if self.lines[where]:
            raise _damaged(
                self.path, line, f"the row for {self._describe(where)} repeats line {int(self.lines[where])}"
            )
        self.lines[where] = line
        return where

    def check_complete(self) -> None:
        missing = np.argwhere(self.lines == 0)
        if missing.size:
            raise _damaged(
                self.path, None, f"{len(missing)} row(s) are missing, the first for {self._describe(tuple(missing[0]))}"
            )

    def _describe(self, where: tuple) -> str:
        parts = []
        for k, axis, name in zip(where, self.axes, self.names):
            key = list(axis)[k]
            parts.append(f"{name} {key!r}")
        return ", ".join(parts)


def _expected_rows(path: Path, rows: List[tuple], expected: int, what: str) -> None:
    """Refuse a grid far larger than the file before allocating it."""
    if expected > 2 * len(rows) + 1024:
        raise _damaged(
            path,
            None,
            f"it holds {len(rows)} rows, but {what} need {expected} (one per cell); the manifest's "
            "sizes do not match the file",
        )


def load_result(path: Any) -> Any:
    """Read a result written by :func:`save_result` (``BenchmarkResult.save``).

    Everything is checked before a result is returned: the manifest's
    fields, every row's place and range (one row per cell, no more, no
    less; counts non-negative integers, targets and predictions in
    ``[0, num_classes)``), that the scores and per-class values are what
    the task's battery gives from the confusion matrices, and that the
    comparisons table is what the scores give.  Nothing in ``path`` is
    written.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not a saved result, or one of its files is damaged or
        was edited; the message names the file and line.
    """
    import xarray as xr

    from .result import BenchmarkResult

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"no saved result at {str(folder)!r}: it does not exist")
    if not folder.is_dir() or not (folder / MANIFEST).is_file():
        raise ValueError(f"{str(folder)!r} is not a saved mushin result (no {MANIFEST} in a folder)")
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(manifest_path)!r} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(manifest_path)!r} does not describe a {FORMAT_NAME} folder")
    if manifest.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(folder)!r} holds format version {manifest.get('version')!r}; this mushin reads "
            f"version {FORMAT_VERSION}"
        )
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{str(folder)!r} is missing {missing}")
    _check_loaded_manifest(manifest, manifest_path)

    methods: List[str] = manifest["methods"]
    seeds: List[Any] = manifest["seeds"]
    classes: List[Any] = manifest["classes"]
    num_classes: int = manifest["num_classes"]
    metrics: List[str] = manifest["metrics"]
    per_class_names: List[str] = manifest["per_class_metrics"]
    method_axis = {m: i for i, m in enumerate(methods)}
    seed_axis = {key: j for j, key in enumerate(_labels_map(seeds, "seed"))}
    class_axis = {key: k for k, key in enumerate(_labels_map(classes, "class"))}
    shape = (len(methods), len(seeds))

    file = folder / "confusion.csv"
    rows = _read_rows(file, ["method", "seed", "target", "prediction", "count"])
    cells = shape[0] * shape[1] * num_classes * num_classes
    _expected_rows(file, rows, cells, f"{shape[0]} method(s) x {shape[1]} seed(s) x num_classes={num_classes}**2")
    class_keys = {str(c): c for c in range(num_classes)}
    grid = _Grid(file, [method_axis, seed_axis, class_keys, class_keys], ["method", "seed", "target", "prediction"])
    counts = np.full(shape + (num_classes, num_classes), -1, dtype=np.int64)
    for line, (m, s, t, p, count) in rows:
        _int_cell(file, line, "target", t, 0, num_classes - 1)
        _int_cell(file, line, "prediction", p, 0, num_classes - 1)
        value = _int_cell(file, line, "count", count, -_INT64_MAX, _INT64_MAX)
        if value < -1:
            raise _damaged(
                file, line,
                f"count {value} is negative; counts are >= 0 (-1 fills every cell of a seed the "
                "method does not have)",
            )
        counts[grid.place(line, (m, s, t, p))] = value
    grid.check_complete()
    present = (counts >= 0).all(axis=(-2, -1))
    mixed = ~present & (counts >= 0).any(axis=(-2, -1))
    if mixed.any():
        i, j = np.argwhere(mixed)[0]
        first = grid.lines[i, j][counts[i, j] < 0].min()
        raise _damaged(
            file, int(first),
            f"count -1 (a seed the method does not have) in a matrix of method {methods[i]!r}, seed "
            f"{seeds[j]!r} that holds counts: counts must be >= 0",
        )

    file = folder / "scores.csv"
    rows = _read_rows(file, ["method", "seed", "metric", "value"])
    _expected_rows(file, rows, shape[0] * shape[1] * len(metrics), "the manifest's methods, seeds and metrics")
    metric_axis = {name: k for k, name in enumerate(metrics)}
    grid = _Grid(file, [method_axis, seed_axis, metric_axis], ["method", "seed", "metric"])
    score_values = np.full(shape + (len(metrics),), np.nan)
    for line, (m, s, metric, value) in rows:
        score_values[grid.place(line, (m, s, metric))] = _float_cell(file, line, value)
    grid.check_complete()
    scores = {metric: score_values[..., k] for k, metric in enumerate(metrics)}
    _check_scores(file, grid, manifest, scores, counts, present, methods, seeds)

    file = folder / "per_class.csv"
    rows = _read_rows(file, ["method", "seed", "class", "metric", "value"])
    _expected_rows(
        file, rows, shape[0] * shape[1] * len(classes) * len(per_class_names),
        "the manifest's methods, seeds, classes and per-class metrics",
    )
    name_axis = {name: k for k, name in enumerate(per_class_names)}
    grid = _Grid(file, [method_axis, seed_axis, class_axis, name_axis], ["method", "seed", "class", "metric"])
    class_values = np.full(shape + (len(classes), len(per_class_names)), np.nan)
    for line, (m, s, c, name, value) in rows:
        class_values[grid.place(line, (m, s, c, name))] = _float_cell(file, line, value)
    grid.check_complete()
    per_class = {name: class_values[..., k] for k, name in enumerate(per_class_names)}
    _check_per_class(file, grid, manifest, per_class, counts, methods, seeds, classes)

    file = folder / "comparisons.csv"
    kinds: Dict[str, str] = manifest["comparisons_columns"]
    columns = list(kinds)
    rows = _read_rows(file, columns)
    comparisons = _comparisons_frame(file, rows, columns, kinds, manifest["comparisons_dtypes"])
    comparisons.attrs.update(manifest.get("comparisons_attrs", {}))

    coords: Dict[str, Any] = {"method": methods, "seed": seeds}
    variable_attrs = manifest["variable_attrs"]
    variables: Dict[str, Any] = {}
    for name in list(variable_attrs):
        if name in scores:
            variables[name] = xr.Variable(("method", "seed"), scores[name], variable_attrs[name])
        else:
            variables[name] = xr.Variable(("method", "seed", "class"), per_class[name], variable_attrs[name])
    if per_class:
        coords["class"] = classes
    data = xr.Dataset(variables, coords=coords, attrs=manifest["data_attrs"])
    confusion = xr.DataArray(
        counts,
        dims=("method", "seed", "target", "prediction"),
        coords={
            "method": methods,
            "seed": seeds,
            "target": np.arange(num_classes),
            "prediction": np.arange(num_classes),
        },
        name=manifest["confusion_name"],
        attrs=manifest["confusion_attrs"],
    )
    result = BenchmarkResult(data, confusion, comparisons, manifest["settings"])
    _check_comparisons(file, [line for line, _ in rows], result, manifest.get("derived_comparisons", True))
    return result


def _check_scores(
    file: Path, grid: "_Grid", manifest: Dict[str, Any], scores: Dict[str, np.ndarray], counts: np.ndarray,
    present: np.ndarray, methods: List[str], seeds: List[Any],
) -> None:
    """Every score of a derived metric is what the task's battery gives; a missing seed has none."""
    from .tasks import get_task, metric_kind

    settings = manifest["settings"]
    try:
        task = get_task(settings.get("task"))
    except (TypeError, ValueError):
        task = None  # a custom task not registered in this process: its functions are unknown here
    if "derived_metrics" in manifest:
        derived = list(manifest["derived_metrics"])
    else:  # written before derived_metrics was recorded: every battery entry of that name
        derived = [
            m for m in scores
            if task is not None and m in task.battery and metric_kind(task.battery[m], m) == "confusion"
        ]
    num_classes = counts.shape[-1]
    tolerance = num_classes * 2.0**-52
    for k, metric in enumerate(scores):
        values = scores[metric]
        stray = np.argwhere(~present & ~np.isnan(values))
        if stray.size:
            i, j = stray[0]
            raise _damaged(
                file, int(grid.lines[i, j, k]),
                f"{metric} of method {methods[i]!r}, seed {seeds[j]!r} is {float(values[i, j])!r}, but that "
                "seed has no confusion matrix (count -1): its scores must be empty",
            )
        if metric not in derived:
            continue
        entry = task.battery.get(metric) if task is not None else None
        if entry is None or metric_kind(entry, metric) != "confusion":
            raise _damaged(
                file.parent / MANIFEST, None,
                f"'derived_metrics' lists {metric!r}, which is not a confusion-matrix metric of task "
                f"{settings.get('task')!r}",
            )
        bad = _matches_battery(values, counts, present, entry, settings.get("ignore_index"), tolerance)
        if bad is not None:
            i, j, value, expected = bad
            raise _damaged(
                file, int(grid.lines[i, j, k]),
                f"{metric} of method {methods[i]!r}, seed {seeds[j]!r} is {value!r}, but its confusion "
                f"matrix in confusion.csv gives {expected!r}",
            )


def _check_per_class(
    file: Path, grid: "_Grid", manifest: Dict[str, Any], per_class: Dict[str, np.ndarray], counts: np.ndarray,
    methods: List[str], seeds: List[Any], classes: List[Any],
) -> None:
    """Per-class values are single ratios of counts: recomputed, they match bit for bit."""
    from .result import PER_CLASS_METRICS, PER_CLASS_PREFIX, per_class_scores

    expected_all = per_class_scores(counts, manifest["settings"].get("ignore_index"))
    for k, name in enumerate(per_class):
        short = name[len(PER_CLASS_PREFIX):] if name.startswith(PER_CLASS_PREFIX) else None
        if short not in PER_CLASS_METRICS:
            continue
        values, expected = per_class[name], expected_all[short]
        differ = ~((values == expected) | (np.isnan(values) & np.isnan(expected)))
        if differ.any():
            i, j, c = np.argwhere(differ)[0]
            raise _damaged(
                file, int(grid.lines[i, j, c, k]),
                f"{name} of method {methods[i]!r}, seed {seeds[j]!r}, class {classes[c]!r} is "
                f"{float(values[i, j, c])!r}, but the confusion matrix in confusion.csv gives "
                f"{float(expected[i, j, c])!r}",
            )


def _comparisons_frame(
    file: Path, rows: List[tuple], columns: List[str], kinds: Dict[str, str], dtypes: Dict[str, str]
) -> Any:
    import pandas as pd

    parsed: Dict[str, List[Any]] = {col: [] for col in columns}
    for line, row in rows:
        for col, text in zip(columns, row):
            try:
                parsed[col].append(_parse_cell(text, kinds[col]))
            except ValueError:
                raise _damaged(file, line, f"{col} {text!r} is not a {kinds[col]}") from None
    try:
        return pd.DataFrame(parsed, columns=columns).astype(dtypes)
    except (TypeError, ValueError) as exc:
        raise _damaged(file, None, f"its columns do not have the dtypes in the manifest ({exc})") from None


def _comparisons_mismatch(result: Any, saved: Any) -> Optional[Tuple[Optional[int], str]]:
    """``None`` if ``saved`` is the comparisons table the result's scores give, else (row, why)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the warnings were shown when the result was made
            fresh = result.reanalyze().comparisons
    except (TypeError, ValueError, KeyError) as exc:
        return None, f"its scores cannot be tested under the saved settings ({exc})"
    if list(saved.columns) != list(fresh.columns) or len(saved) != len(fresh):
        return None, (
            f"it holds {len(saved)} rows with columns {list(saved.columns)}, but the scores give "
            f"{len(fresh)} rows with columns {list(fresh.columns)}"
        )
    for col in saved.columns:
        a, b = saved[col].to_numpy(), fresh[col].to_numpy()
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            a, b = a.astype(float), b.astype(float)
            same = np.isclose(a, b, rtol=_COMPARISONS_RTOL, atol=0.0, equal_nan=True) | (a == b)
        else:
            same = np.array([x == y for x, y in zip(a, b)], dtype=bool)
        if not same.all():
            r = int(np.argmin(same))
            metric = fresh["metric"].iloc[r] if "metric" in fresh else "?"
            return r, (
                f"{col} is {_plain(a[r])!r}, but the scores in scores.csv give {_plain(b[r])!r} "
                f"(metric {metric!r})"
            )
    return None


def _check_comparisons(file: Path, lines: List[int], result: Any, derived: bool) -> None:
    """The saved comparisons are those the saved scores give under the saved settings.

    ``derived`` is False for a result whose comparisons did not come from
    its scores when it was saved (one built by hand): nothing to check.
    """
    if not derived:
        return
    mismatch = _comparisons_mismatch(result, result.comparisons)
    if mismatch is not None:
        row, why = mismatch
        raise _damaged(file, None if row is None else lines[row], why)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
