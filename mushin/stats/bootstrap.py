"""The two-level (seeds x images) bootstrap of segmentation metrics.

A comparison over 3 or 5 seeds treats the seed as the only source of noise,
but the score also depends on which images happen to be in the evaluation
set.  With per-image counts (TP, FP and FN per image and class, kept by
``compare(..., per_image=True)``) both can be resampled:

* **images** are drawn with replacement, the *same* draw for every model
  (so the comparison stays paired on images);
* **seeds** are drawn with replacement within each method;
* each model's metric is recomputed from its counts *summed over the drawn
  images* (the dataset-level metric, not an average of per-image scores),
  and a method's value is the mean of its drawn seeds' metrics.

The loop runs in C (``mushin._core.bootstrap_counts``) on several threads,
without the GIL; resample ``b`` draws from its own random stream ``b``
(``csrc/kernels/rng_internal.h``), so the resamples are the same bit for
bit whatever the thread count.  :func:`bootstrap_indices` returns the
indices a resample draws, so anyone can recompute a resample by hand.

Examples
--------
>>> import numpy as np
>>> from mushin.stats.bootstrap import bootstrap_counts
>>> rng = np.random.default_rng(0)
>>> counts = {"a": rng.integers(0, 50, (3, 20, 4, 3)), "b": rng.integers(0, 50, (3, 20, 4, 3))}
>>> boot = bootstrap_counts(counts, "miou", n=2000, seed=1)
>>> list(boot.table.columns[:5])
['metric', 'term', 'method_a', 'method_b', 'estimate']
>>> boot.resamples["score"].shape
(2000, 2)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
import xarray as xr

from .. import _core
from ..threads import get_num_threads
from .registry import check_confidence

__all__ = [
    "LEVELS",
    "COUNT_METRICS",
    "BootstrapResult",
    "bootstrap_counts",
    "bootstrap_indices",
    "check_levels",
    "count_metric",
]

#: What can be resampled.
LEVELS = ("seed", "image")

#: Metrics that can be recomputed from TP, FP and FN counts.
COUNT_METRICS = ("miou", "dice", "pixel_acc", "precision", "recall")

TABLE_COLUMNS = [
    "metric",
    "term",
    "method_a",
    "method_b",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "excludes_zero",
]


def check_levels(levels: Any) -> Tuple[str, ...]:
    """``levels`` as a tuple of distinct names from :data:`LEVELS`."""
    if isinstance(levels, str):
        levels = (levels,)
    if not isinstance(levels, Sequence) or not levels:
        raise TypeError(
            f"levels must be a non-empty tuple drawn from {LEVELS}, e.g. ('seed', 'image'), got {levels!r}"
        )
    out = tuple(levels)
    bad = [level for level in out if level not in LEVELS]
    if bad:
        raise ValueError(f"levels={out!r}: {bad} not among {LEVELS}")
    if len(set(out)) != len(out):
        raise ValueError(f"levels={out!r} names a level more than once")
    return out


def _check_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int in [0, 2**64), got {seed!r}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed}")
    return int(seed)


def _check_metric(metric: Any) -> str:
    if metric not in COUNT_METRICS:
        raise ValueError(
            f"metric {metric!r} cannot be recomputed from per-image counts; use one of {list(COUNT_METRICS)}"
        )
    return str(metric)


def excluded_class(ignore_index: Optional[int], num_classes: int) -> int:
    """The class the Jaccard index leaves out: an ``ignore_index`` that is a class, else -1."""
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        return int(ignore_index)
    return -1


def count_metric(counts: Any, metric: str, ignore_index: Optional[int] = None) -> np.ndarray:
    """A metric of TP/FP/FN counts ``(..., C, 3)``, over the last two axes.

    The conventions of the confusion-matrix battery
    (:mod:`mushin.metrics.tasks`): a class with TP + FP + FN == 0 is left
    out of the macro means (and, for ``miou``, an ``ignore_index`` that is
    a class); ``miou`` is NaN when no class is left, the others 0.  Used for
    per-image scores (one image's mIoU).

    Examples
    --------
    >>> count_metric([[3, 1, 0], [0, 0, 0], [2, 0, 2]], "miou")  # doctest: +ELLIPSIS
    array(0.625...)
    """
    metric = _check_metric(metric)
    c = np.asarray(counts)
    if c.ndim < 2 or c.shape[-1] != 3:
        raise ValueError(f"counts must have shape (..., classes, 3) (TP, FP, FN), got {c.shape}")
    if c.shape[-2] == 0:
        return np.full(c.shape[:-2], np.nan if metric == "miou" else 0.0)
    c = c.astype(np.float64)
    if not np.all(c >= 0) or not np.all(np.isfinite(c)):
        raise ValueError("counts must be finite and not negative (TP, FP, FN counts)")
    # the rules the bootstrap recomputes with, in C (csrc/kernels/bootstrap.c)
    return _core.count_metric(c, metric, excluded_class(ignore_index, c.shape[-2]))


def bootstrap_indices(
    seed: int,
    resample: int,
    num_images: int,
    seeds_per_method: Sequence[int],
    levels: Sequence[str] = LEVELS,
) -> Tuple[Optional[np.ndarray], Optional[List[np.ndarray]]]:
    """The indices resample ``resample`` of :func:`bootstrap_counts` draws.

    Returns ``(images, seeds)``: ``images`` holds ``num_images`` image
    indices drawn with replacement (None when images are not resampled),
    ``seeds`` one array of seed indices per method (None when seeds are not
    resampled).

    Examples
    --------
    >>> images, seeds = bootstrap_indices(0, 0, 4, [3, 3])
    >>> images.shape, [s.shape for s in seeds]
    ((4,), [(3,), (3,)])
    """
    levels = check_levels(levels)
    return _core.bootstrap_indices(
        _check_seed(seed), int(resample), int(num_images), [int(s) for s in seeds_per_method],
        "image" in levels, "seed" in levels,
    )


@dataclass
class BootstrapResult:
    """What :func:`bootstrap_counts` (and ``BenchmarkResult.bootstrap``) returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per method (``term == "score"``) and per method pair
        (``term == "difference"``, ``method_a - method_b``): the estimate
        from all the data, the bootstrap standard error, the percentile
        interval ``ci_low, ci_high`` and whether it excludes 0 (for a
        difference: the bootstrap's verdict at ``1 - confidence``).
        ``method_b`` is "" on score rows.
    resamples : xarray.Dataset
        ``score`` with dims ``(resample, method)`` and ``difference`` with
        dims ``(resample, pair)``: every resample, for plots or other
        intervals.
    """

    metric: str
    levels: Tuple[str, ...]
    n: int
    seed: int
    confidence: float
    table: Any = field(repr=False)
    resamples: Any = field(repr=False)

    def __repr__(self) -> str:
        lines = [
            f"BootstrapResult({self.metric}, levels={self.levels}, n={self.n}, seed={self.seed}, "
            f"{self.confidence:.0%} percentile intervals)"
        ]
        for row in self.table.itertuples():
            name = row.method_a if row.term == "score" else f"{row.method_a} - {row.method_b}"
            lines.append(f"  {name:<24} {row.estimate: .4f}  [{row.ci_low: .4f}, {row.ci_high: .4f}]")
        return "\n".join(lines)


def _stack(counts_by_method: Mapping[str, Any]) -> Tuple[List[str], np.ndarray, List[int]]:
    if not isinstance(counts_by_method, Mapping) or not counts_by_method:
        raise TypeError("counts must be a non-empty dict {method: (seeds, images, classes, 3) counts}")
    methods, arrays, shapes = [], [], set()
    for name, value in counts_by_method.items():
        a = np.asarray(value)
        if a.dtype.kind not in "iu":
            raise TypeError(f"counts[{name!r}] must hold integers, got dtype {a.dtype}")
        if a.ndim != 4 or a.shape[-1] != 3:
            raise ValueError(
                f"counts[{name!r}] must have shape (seeds, images, classes, 3) (TP, FP, FN), got {a.shape}"
            )
        if a.shape[0] < 1:
            raise ValueError(f"counts[{name!r}] holds no seed")
        if a.size and a.min() < 0:
            raise ValueError(f"counts[{name!r}] holds a negative count ({a.min()})")
        shapes.add(a.shape[1:])
        methods.append(str(name))
        arrays.append(a.astype(np.int64, copy=False))
    if len(shapes) != 1:
        raise ValueError(
            f"every method needs counts over the same images and classes, got shapes {sorted(shapes)} "
            "after the seed axis; were the methods evaluated on different data?"
        )
    return methods, np.concatenate(arrays, axis=0), [a.shape[0] for a in arrays]


def _threads(num_threads: Optional[int]) -> int:
    if num_threads is None:
        return get_num_threads()
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
        raise TypeError(f"num_threads must be an int or None, got {num_threads!r}")
    return int(num_threads)


def bootstrap_counts(
    counts: Mapping[str, Any],
    metric: str = "miou",
    *,
    n: int = 10_000,
    levels: Sequence[str] = LEVELS,
    seed: int = 0,
    confidence: float = 0.95,
    ignore_index: Optional[int] = None,
    num_threads: Optional[int] = None,
) -> BootstrapResult:
    """Percentile intervals of each method's score and each pairwise difference.

    Parameters
    ----------
    counts : dict of str to array
        ``{method: (seeds, images, classes, 3)}`` integer TP, FP, FN counts;
        image ``i`` must be the same image for every method and seed.
    metric : str
        One of :data:`COUNT_METRICS`.
    n : int
        Resamples (10,000 by default).
    levels : tuple of str
        ``("seed", "image")`` (default), ``("seed",)`` or ``("image",)``.
    seed : int
        The random generator's seed; the same seed gives the same resamples
        bit for bit, whatever the thread count.
    confidence : float
        Coverage of the percentile intervals.
    ignore_index : int, optional
        The ignored label; when it is a class, ``miou`` leaves it out (as
        the battery does).
    num_threads : int, optional
        Threads of the C loop (default: :func:`mushin.get_num_threads`).

    Returns
    -------
    BootstrapResult
    """
    metric = _check_metric(metric)
    levels = check_levels(levels)
    seed = _check_seed(seed)
    confidence = check_confidence(confidence)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int (the number of resamples), got {n!r}")
    methods, stacked, seeds_per_method = _stack(counts)
    if stacked.shape[1] < 1:
        raise ValueError("counts hold no image: per-image counts need at least one image")
    excluded = excluded_class(ignore_index, stacked.shape[2])
    threads = _threads(num_threads)
    scores = _core.bootstrap_counts(
        stacked, seeds_per_method, metric, int(n), "image" in levels, "seed" in levels, seed, excluded, threads
    )
    estimate = _core.bootstrap_counts(stacked, seeds_per_method, metric, 1, False, False, 0, excluded, 1)[0]
    pairs = [(a, b) for i, a in enumerate(methods) for b in methods[i + 1 :]]
    index = {m: j for j, m in enumerate(methods)}
    diffs = np.stack([scores[:, index[a]] - scores[:, index[b]] for a, b in pairs], axis=1) if pairs else np.zeros((n, 0))
    tail = (1.0 - confidence) / 2.0
    rows: List[Dict[str, Any]] = []

    def interval(values: np.ndarray) -> Tuple[float, float, float]:
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            return np.nan, np.nan, np.nan
        low, high = np.quantile(finite, [tail, 1.0 - tail])
        return float(np.std(finite, ddof=1)) if finite.size > 1 else np.nan, float(low), float(high)

    for j, m in enumerate(methods):
        se, low, high = interval(scores[:, j])
        rows.append({"metric": metric, "term": "score", "method_a": m, "method_b": "",
                     "estimate": float(estimate[j]), "std_error": se, "ci_low": low, "ci_high": high,
                     "excludes_zero": bool(low > 0 or high < 0)})
    for k, (a, b) in enumerate(pairs):
        se, low, high = interval(diffs[:, k])
        rows.append({"metric": metric, "term": "difference", "method_a": a, "method_b": b,
                     "estimate": float(estimate[index[a]] - estimate[index[b]]), "std_error": se,
                     "ci_low": low, "ci_high": high,
                     "excludes_zero": bool(low > 0 or high < 0) if not np.isnan(low) else False})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    attrs = {"metric": metric, "levels": ",".join(levels), "n": int(n), "seed": seed}
    resamples = xr.Dataset(
        {
            "score": (("resample", "method"), scores),
            "difference": (("resample", "pair"), diffs),
        },
        coords={"method": methods, "pair": [f"{a} - {b}" for a, b in pairs]},
        attrs=attrs,
    )
    return BootstrapResult(metric, levels, int(n), seed, confidence, table, resamples)
