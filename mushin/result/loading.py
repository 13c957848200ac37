"""Loading a result saved by :func:`mushin.result.files.save_result`, checking everything.

Nothing read is trusted: the manifest's fields, one row per cell of every
file (none missing, none repeated), every value in range, and the scores,
per-class values and comparisons against what the confusion matrices give.
A damaged or edited folder raises ``ValueError`` naming the file and line,
before anything is allocated from sizes the manifest only claims.

Examples
--------
>>> import tempfile, os
>>> from mushin import BenchmarkResult
>>> from mushin.result.loading import load_result
>>> r = BenchmarkResult.from_confusion({"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]]]})
>>> folder = r.save(os.path.join(tempfile.mkdtemp(), "run1"))
>>> load_result(folder, BenchmarkResult).data.identical(r.data)
True
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import stats
from ..metrics.tasks import get_task, metric_kind
from .facts import PER_CLASS_METRICS, PER_CLASS_PREFIX
from .files import (
    _FILES,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    _comparisons_mismatch,
    _labels_map,
    _matches_battery,
    _parse_cell,
    _parse_float,
)
from .per_class import per_class_scores
from .per_image import load_per_image

__all__ = ["load_result"]

# Every cell of the (method, seed) grid has one row per file; a load checks
# that each row is there exactly once, that every value is in range, and
# that the scores are what the confusion matrices give, before it builds
# anything.  Reading a huge grid that a manifest only claims would need a
# huge allocation, so the grid's size is checked against the rows first.

_INT_TEXT = re.compile(r"-?[0-9]+")
_INT64_MAX = 2**63 - 1
_KINDS = ("bool", "int", "float", "str")


def _damaged(path: Path, line: Any, what: str) -> ValueError:
    """The error for a saved file that is not what ``save`` wrote, naming the file and line."""
    place = f"{path} line {line}" if line is not None else str(path)
    return ValueError(
        f"{place}: {what}.  The saved result was edited or damaged; restore the folder from a "
        "backup, or save the result again"
    )


def _check_loaded_manifest(manifest: Any, path: Path) -> None:
    """Raise ``ValueError`` unless every manifest field has the type and range save writes."""
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
    # a task without classes (regression, retrieval, ...) records num_classes=None in its
    # settings and saves a 0 x 0 confusion matrix; every other result has at least one class
    settings_given = manifest["settings"] if isinstance(manifest["settings"], dict) else {}
    least = 0 if "num_classes" in settings_given and settings_given["num_classes"] is None else 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not least <= num_classes <= 1 << 16:
        fail(f"num_classes is {num_classes!r}, not an int in [{least}, 65536]")
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
    # a task without classes records num_classes=None and saves a 0 x 0 confusion matrix
    if "num_classes" in settings and settings["num_classes"] != (num_classes or None):
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


def load_result(path: Any, result_type: Any) -> Any:
    """Read a result written by :func:`~mushin.result.files.save_result` (``BenchmarkResult.save``).

    ``result_type`` is the class to build (:class:`~mushin.BenchmarkResult`,
    whose ``load`` passes itself), so that this module need not import the
    result class that imports it.

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
    class_variables: Dict[str, Any] = {}
    for name in list(variable_attrs):
        if name in scores:
            variables[name] = xr.Variable(("method", "seed"), scores[name], variable_attrs[name])
        else:  # per_class_<metric> on disk, <metric> in result.per_class
            short = name[len(PER_CLASS_PREFIX):] if name.startswith(PER_CLASS_PREFIX) else name
            class_variables[short] = xr.Variable(("method", "seed", "class"), per_class[name], variable_attrs[name])
    data = xr.Dataset(variables, coords=coords, attrs=manifest["data_attrs"])
    class_data = xr.Dataset(
        class_variables, coords={**coords, "class": classes} if class_variables else coords
    )
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
    comparisons = _in_current_column_order(comparisons)
    result = result_type.from_parts(
        data, comparisons, manifest["settings"], confusion=confusion, per_class=class_data
    )
    _check_comparisons(file, [line for line, _ in rows], result, manifest.get("derived_comparisons", True))
    if "per_image" in manifest:
        result.per_image = load_per_image(
            folder, manifest["per_image"], counts, seeds, classes, methods,
            manifest["settings"].get("ignore_index"), _damaged,
        )
    return result


def _in_current_column_order(comparisons: Any) -> Any:
    """A comparisons table saved with the columns of ``mushin.stats.COMPARISON_COLUMNS`` in
    an older order, put in today's order (so that it equals what the scores give)."""
    columns = list(comparisons.columns)
    current = list(stats.COMPARISON_COLUMNS)
    if columns != current and sorted(columns) == sorted(current):
        return comparisons[current]
    return comparisons


def _check_scores(
    file: Path, grid: "_Grid", manifest: Dict[str, Any], scores: Dict[str, np.ndarray], counts: np.ndarray,
    present: np.ndarray, methods: List[str], seeds: List[Any],
) -> None:
    """Every score of a derived metric is what the task's battery gives; a missing seed has none."""
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
