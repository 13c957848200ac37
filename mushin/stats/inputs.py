"""What the aggregates and rankings accept: results, score dicts, Datasets.

:func:`collect_scores` turns each into one ``(seeds, sets)`` matrix per
method, the shape rliable works on.

Examples
--------
>>> from mushin.stats.inputs import collect_scores
>>> methods, sets, scores, higher = collect_scores({"a": [[0.7, 0.5]], "b": [[0.6, 0.4]]})
>>> methods, sets, scores["a"].shape
(['a', 'b'], ['set 0', 'set 1'], (1, 2))
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import xarray as xr

__all__ = ["collect_scores", "is_result"]




def is_result(obj: Any) -> bool:
    """A BenchmarkResult, recognised by what it offers (stats never imports result)."""
    return hasattr(obj, "data") and hasattr(obj, "metrics") and hasattr(obj, "higher_is_better")


def _result_matrix(result: Any, metric: str, where: str) -> Tuple[List[str], Dict[str, np.ndarray]]:
    """{method: per-seed scores} of one result, refusing missing seeds."""
    if metric not in result.metrics:
        raise KeyError(f"{where} has no metric {metric!r}; metrics: {result.metrics}")
    out: Dict[str, np.ndarray] = {}
    for method in result.methods:
        values = result.data[metric].sel({"method": method}).values.astype(float)
        if np.isnan(values).any():
            missing = np.flatnonzero(np.isnan(values)).tolist()
            raise ValueError(
                f"{where}: method {method!r} has no {metric!r} score for seed position(s) {missing}; "
                "aggregates need every method scored on every seed"
            )
        out[method] = values
    return list(result.methods), out


def _direction(result: Any, metric: str) -> Optional[bool]:
    try:
        return bool(result.higher_is_better(metric))
    except ValueError:
        return None


def collect_scores(
    source: Any, metric: Optional[str] = None
) -> Tuple[List[str], List[str], Dict[str, np.ndarray], Optional[bool]]:
    """Normalise what :func:`aggregate` and :func:`~mushin.stats.rank_methods` accept.

    Returns ``(methods, sets, scores, higher_is_better)`` with
    ``scores[method]`` a ``(seeds, sets)`` float64 matrix.

    ``source`` is one of

    - a :class:`~mushin.BenchmarkResult` (one evaluation set);
    - a mapping ``{set name: BenchmarkResult}`` or a sequence of results
      (several evaluation sets: the same methods, the same number of seeds);
    - rliable's ``{method: (seeds, sets) array}``;
    - an ``xarray.Dataset`` with dims ``(method, seed)`` (one set).

    ``metric`` picks the metric of a result (default: its first metric).
    """
    if is_result(source):
        source = {"set 0": source}
    if isinstance(source, (list, tuple)) and source and all(is_result(r) for r in source):
        source = {f"set {i}": r for i, r in enumerate(source)}
    if isinstance(source, xr.Dataset):
        if "method" not in source.dims or "seed" not in source.dims:
            raise ValueError(f"a scores Dataset needs dims (method, seed), got {tuple(source.dims)}")
        names = [n for n, v in source.data_vars.items() if set(v.dims) == {"method", "seed"}]
        metric = names[0] if metric is None else metric
        if metric not in names:
            raise KeyError(f"the scores Dataset has no variable {metric!r}; variables: {names}")
        methods = [str(m) for m in source["method"].values]
        scores = {
            m: source[metric].sel({"method": m}).transpose("seed").values.astype(float)[:, None] for m in methods
        }
        _check_finite(scores)
        direction = source[metric].attrs.get("higher_is_better")
        return methods, ["set 0"], scores, None if direction is None else bool(direction)
    if isinstance(source, Mapping) and source and all(is_result(r) for r in source.values()):
        sets = [str(s) for s in source]
        results = list(source.values())
        metric = results[0].metrics[0] if metric is None else metric
        methods: List[str] = []
        columns: Dict[str, List[np.ndarray]] = {}
        for name, result in zip(sets, results):
            where = f"evaluation set {name!r}"
            these, values = _result_matrix(result, metric, where)
            if not methods:
                methods = these
            elif set(these) != set(methods):
                raise ValueError(
                    f"{where} has methods {these}, the first set has {methods}; every evaluation set "
                    "needs the same methods"
                )
            for m in methods:
                columns.setdefault(m, []).append(values[m])
        for m in methods:
            lengths = {len(c) for c in columns[m]}
            if len(lengths) != 1:
                raise ValueError(
                    f"method {m!r} has {[len(c) for c in columns[m]]} seeds across the evaluation sets "
                    f"{sets}; a stratified bootstrap needs the same seeds in every set"
                )
        scores = {m: np.column_stack(columns[m]) for m in methods}
        return methods, sets, scores, _direction(results[0], metric)
    if isinstance(source, Mapping) and source:
        methods = [str(m) for m in source]
        scores = {}
        for key, m in zip(source, methods):
            try:
                arr = np.asarray(source[key], dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"scores[{key!r}] must be a (seeds, sets) array of numbers") from None
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
                raise ValueError(f"scores[{key!r}] must be a (seeds, sets) array, got shape {arr.shape}")
            scores[m] = arr
        sizes = {m: s.shape[1] for m, s in scores.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"every method needs the same evaluation sets (columns); got {sizes}")
        _check_finite(scores)
        n_sets = next(iter(sizes.values()))
        return methods, [f"set {i}" for i in range(n_sets)], scores, True
    raise TypeError(
        "expected a BenchmarkResult, a {set name: BenchmarkResult} mapping, a list of results, "
        f"a {{method: (seeds, sets) array}} mapping or an xarray.Dataset; got {type(source).__name__}"
    )


def first_non_finite(values: np.ndarray) -> Optional[Tuple[int, ...]]:
    """The index of the first NaN or infinity of ``values`` in C order, or ``None``."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _check_finite(scores: Mapping[str, np.ndarray]) -> None:
    for m, s in scores.items():
        where = first_non_finite(s)
        if where is not None:
            seed, column = where
            raise ValueError(
                f"method {m!r}: the score of seed position {seed} in evaluation set {column} is "
                f"{float(s[seed, column])!r}; scores must be finite"
            )
