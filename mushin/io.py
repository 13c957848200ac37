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
result.  An existing result folder at ``path`` is replaced; any other
existing file or non-empty folder is left alone and raises
``FileExistsError``.

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

import csv
import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

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
    parent = target.absolute().parent
    if not parent.exists():
        raise FileNotFoundError(f"cannot save to {str(target)!r}: its parent folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot save to {str(target)!r}: {str(parent)!r} is not a folder")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FileExistsError(f"cannot save to {str(target)!r}: a file is in the way (not replaced)")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise FileExistsError(
            f"cannot save to {str(target)!r}: it is a non-empty folder that holds no saved "
            "result (not replaced)"
        )
    return target


def save_result(result: Any, path: Any) -> Path:
    """Write ``result`` to the folder ``path`` (see the module docs for the layout).

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    FileNotFoundError
        The parent folder of ``path`` does not exist.
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
    try:
        manifest_text = json.dumps(manifest, indent=2, default=_json_value, allow_nan=False)
    except ValueError as exc:  # NaN/inf in settings or attributes
        raise ValueError(f"cannot save the result's settings or attributes as JSON: {exc}") from None

    work = _sibling(target, "tmp")
    work.mkdir()  # unlike mkdtemp, honours the umask: the result is as readable as any folder
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


def load_result(path: Any) -> Any:
    """Read a result written by :func:`save_result` (``BenchmarkResult.save``).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not a saved result, or one of its files is damaged.
    """
    import pandas as pd
    import xarray as xr

    from .result import BenchmarkResult

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"no saved result at {str(folder)!r}: it does not exist")
    if not folder.is_dir() or not (folder / MANIFEST).is_file():
        raise ValueError(f"{str(folder)!r} is not a saved mushin result (no {MANIFEST} in a folder)")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(folder / MANIFEST)!r} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(folder / MANIFEST)!r} does not describe a {FORMAT_NAME} folder")
    if manifest.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(folder)!r} holds format version {manifest.get('version')!r}; this mushin reads "
            f"version {FORMAT_VERSION}"
        )
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{str(folder)!r} is missing {missing}")

    methods: List[str] = manifest["methods"]
    seeds: List[Any] = manifest["seeds"]
    classes: List[Any] = manifest["classes"]
    num_classes: int = manifest["num_classes"]
    method_index = {m: i for i, m in enumerate(methods)}
    seed_index = {key: j for j, key in enumerate(_labels_map(seeds, "seed"))}
    class_index = {key: k for k, key in enumerate(_labels_map(classes, "class"))}

    def locate(file: str, row_number: int, method: str, seed: str) -> tuple:
        try:
            return method_index[method], seed_index[seed]
        except KeyError:
            raise ValueError(
                f"{file} row {row_number}: method {method!r} / seed {seed!r} not in the manifest"
            ) from None

    def grid(shape: tuple, fill: Any, dtype: Any) -> np.ndarray:
        return np.full(shape, fill, dtype=dtype)

    try:
        shape = (len(methods), len(seeds))
        scores = {metric: grid(shape, np.nan, np.float64) for metric in manifest["metrics"]}
        for n, (m, s, metric, value) in enumerate(_read_csv(folder / "scores.csv", ["method", "seed", "metric", "value"]), 2):
            i, j = locate("scores.csv", n, m, s)
            scores[metric][i, j] = _parse_float(value)
        per_class = {
            name: grid(shape + (len(classes),), np.nan, np.float64) for name in manifest["per_class_metrics"]
        }
        for n, (m, s, c, name, value) in enumerate(
            _read_csv(folder / "per_class.csv", ["method", "seed", "class", "metric", "value"]), 2
        ):
            i, j = locate("per_class.csv", n, m, s)
            per_class[name][i, j, class_index[c]] = _parse_float(value)
        counts = grid(shape + (num_classes, num_classes), -1, np.int64)
        for n, (m, s, t, p, count) in enumerate(
            _read_csv(folder / "confusion.csv", ["method", "seed", "target", "prediction", "count"]), 2
        ):
            i, j = locate("confusion.csv", n, m, s)
            counts[i, j, int(t), int(p)] = int(count)
        kinds: Dict[str, str] = manifest["comparisons_columns"]
        columns = list(kinds)
        rows = _read_csv(folder / "comparisons.csv", columns)
        comparisons = pd.DataFrame(
            {col: [_parse_cell(row[c], kinds[col]) for row in rows] for c, col in enumerate(columns)},
            columns=columns,
        )
        comparisons = comparisons.astype(manifest["comparisons_dtypes"])
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{str(folder)!r} holds a damaged result: {exc!r}") from None
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
    return BenchmarkResult(data, confusion, comparisons, manifest["settings"])
