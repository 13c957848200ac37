"""``BenchmarkResult.bootstrap``: the two-level (seeds x images) bootstrap of a result.

See :mod:`mushin.stats.bootstrap` for what is resampled and how.  A result
made with ``compare(..., per_image=True)`` can resample images; any
segmentation result can resample seeds alone (``levels=("seed",)``), from
its confusion matrices.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..metrics.confusion_metrics import stat_scores
from ..stats.bootstrap import COUNT_METRICS, LEVELS, BootstrapResult, bootstrap_counts, check_levels

__all__ = ["bootstrap", "counts_from_confusion"]


def counts_from_confusion(confusion: Any) -> Dict[str, np.ndarray]:
    """``{method: (seeds, 1, C, 3)}`` TP/FP/FN from ``result.confusion`` (the whole set as one image)."""
    out: Dict[str, np.ndarray] = {}
    values = confusion.values
    for i, method in enumerate(confusion["method"].values):
        cms = [cm for cm in values[i] if (cm >= 0).all()]
        out[str(method)] = np.stack(stat_scores(np.stack(cms), np.int64), axis=-1)[:, None, :, :]
    return out


def bootstrap(
    result: Any,
    metric: str = "miou",
    n: int = 10_000,
    levels: Sequence[str] = LEVELS,
    seed: int = 0,
    *,
    confidence: float = 0.95,
    num_threads: Optional[int] = None,
) -> BootstrapResult:
    """Bootstrap intervals of each method's score and of each pairwise difference.

    Seeds are resampled within each method, images (shared by every model,
    so differences stay paired) across the evaluation set, and ``metric`` is
    recomputed from the counts summed over the drawn images.

    Parameters
    ----------
    metric : str
        ``"miou"``, ``"dice"``, ``"pixel_acc"``, ``"precision"`` or ``"recall"``.
    n : int
        Resamples.
    levels : tuple of str
        ``("seed", "image")`` (default), ``("seed",)`` or ``("image",)``.
        Resampling images needs per-image counts: ``compare(...,
        per_image=True)``.
    seed : int
        Seed of the resampling; the same seed gives the same numbers bit for
        bit, whatever the thread count.
    confidence : float
        Coverage of the percentile intervals.
    num_threads : int, optional
        Threads (default :func:`mushin.get_num_threads`).

    Returns
    -------
    BootstrapResult
        ``.table`` (pandas) and ``.resamples`` (xarray).

    Examples
    --------
    >>> import numpy as np
    >>> from mushin import BenchmarkResult
    >>> conf = {"a": np.array([[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]]),
    ...         "b": np.array([[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]])}
    >>> r = BenchmarkResult.from_confusion(conf, task="segmentation")
    >>> boot = r.bootstrap("miou", n=1000, levels=("seed",), seed=0)
    >>> boot.table[["term", "method_a", "method_b"]].values.tolist()
    [['score', 'a', ''], ['score', 'b', ''], ['difference', 'a', 'b']]
    """
    levels = check_levels(levels)
    if metric not in COUNT_METRICS:
        raise ValueError(
            f"bootstrap(metric={metric!r}): only metrics recomputed from TP/FP/FN counts can be "
            f"bootstrapped: {list(COUNT_METRICS)}"
        )
    per_image = getattr(result, "per_image", None)
    if per_image is not None:
        counts = per_image.by_method()
    elif "image" in levels:
        raise ValueError(
            f"bootstrap(levels={levels}) resamples images, but this result has no per-image counts; "
            "evaluate with compare(..., per_image=True), or pass levels=('seed',)"
        )
    elif result.confusion.sizes.get("target", 0) == 0:
        raise ValueError("bootstrap needs a segmentation or classification result (it has no confusion matrices)")
    else:
        counts = counts_from_confusion(result.confusion)
    return bootstrap_counts(
        counts,
        metric,
        n=n,
        levels=levels,
        seed=seed,
        confidence=confidence,
        ignore_index=result.settings.get("ignore_index"),
        num_threads=num_threads,
    )
