"""Saving a :class:`~mushin.BenchmarkResult` to a folder, and its tidy table.

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
      per_image.npy    only with per-image counts (compare(..., per_image=True)):
                       int64 (method, seed, image, class, [tp, fp, fn])

Cells of the (method, seed) grid that a method does not have are written
too: an empty ``value`` (NaN) and ``count`` -1, as in memory.  Seed and
class labels are written as text and mapped back to their original type
(int or str) through the manifest.

The folder is first written next to ``path`` under a temporary name and
then renamed into place, so an interrupted save leaves no half-written
result; missing folders above ``path`` are created.  An existing result
folder at ``path`` is replaced; any other existing file or non-empty folder
is left alone and raises ``FileExistsError``.

``load`` (:mod:`mushin.result.loading`) trusts nothing it reads: the manifest's fields, one row per cell
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
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from pandas.api import types as pandas_types  # dtype kinds of the comparisons columns

from ..metrics.tasks import get_task, metric_kind
from .facts import PER_CLASS_PREFIX
from .per_image import save_per_image

__all__ = ["save_result", "to_dataframe", "FORMAT_NAME", "FORMAT_VERSION"]

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
    per_class = result.per_class.dataset
    values = {name: per_class[name].transpose("method", "seed", "class").values for name in per_class.data_vars}
    for i, method in enumerate(methods):
        for j, seed in enumerate(seeds):
            if present[i, j]:
                for k, label in enumerate(classes):
                    for name, grid in values.items():
                        rows.append((method, seed, label, name, float(grid[i, j, k])))
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


def _column_kind(dtype: Any) -> str:

    if pandas_types.is_bool_dtype(dtype):
        return "bool"
    if pandas_types.is_integer_dtype(dtype):
        return "int"
    if pandas_types.is_float_dtype(dtype):
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
    target = _check_target(path)
    data, confusion, comparisons = result.data, result.confusion, result.comparisons
    methods = result.methods
    seeds = _plain_labels(data["seed"].values, "seed")
    classes = _plain_labels(result.classes, "class")
    _labels_map(seeds, "seed")
    _labels_map(classes, "class")
    metrics = result.metrics
    class_data = result.per_class.dataset
    # saved under their names in .data before per-class values moved out of it
    per_class = [PER_CLASS_PREFIX + str(v) for v in class_data.data_vars]
    extra = [v for v in data.data_vars if v not in metrics]
    if extra:
        raise ValueError(f"cannot save data variables {extra}: they do not have dims (method, seed)")
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
        "variable_attrs": {
            **{v: dict(data[v].attrs) for v in data.data_vars},
            **{PER_CLASS_PREFIX + str(v): dict(class_data[v].attrs) for v in class_data.data_vars},
        },
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
        class_values = {
            PER_CLASS_PREFIX + str(name): class_data[name].transpose("method", "seed", "class").values
            for name in class_data.data_vars
        }
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
        if getattr(result, "per_image", None) is not None:
            manifest["per_image"] = save_per_image(result.per_image, work)
            manifest_text = json.dumps(manifest, indent=2, default=_json_value, allow_nan=False)
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


# Scores are written with repr(), which round-trips exactly, so a loaded
# score differs from its recomputation only by the order in which a battery
# function sums its C per-class terms (each in [0, 1]) on this machine
# versus the saving one: at most C roundings of 2**-53 relative each.  A
# test statistic or p-value goes through more steps (the t CDF), so the
# comparisons table is compared to a relative 1e-9.
_COMPARISONS_RTOL = 1e-9


def _comparisons_mismatch(result: Any, saved: Any) -> Optional[Tuple[Optional[int], str]]:
    """``None`` if ``saved`` is the comparisons table the result's scores give, else (row, why)."""
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


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
