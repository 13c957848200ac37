"""Per-image counts of a result: one image's scores, the worst images, paired per-image gaps.

``compare(..., per_image=True)`` keeps, for every model, the TP, FP and FN
of every image and class (:mod:`mushin.metrics.per_image`).  The result
holds them as ``result.per_image``, a :class:`PerImageResult`; its
``counts`` is an int64 ``xarray.DataArray`` with dims ``(method, seed,
image, class, count)`` (``count`` = ``tp, fp, fn``; -1 fills the seeds a
method does not have, as in ``result.confusion``).

Examples
--------
>>> import numpy as np
>>> from mushin.result.per_image import PerImageResult
>>> rng = np.random.default_rng(0)
>>> per = PerImageResult.from_arrays({"a": rng.integers(0, 9, (2, 5, 3, 3)),
...                                   "b": rng.integers(0, 9, (2, 5, 3, 3))})
>>> per.scores("miou").dims
('method', 'seed', 'image')
>>> list(per.worst(k=2).columns)
['method', 'seed', 'rank', 'image', 'miou']
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import stats
from ..metrics.confusion_metrics import stat_scores
from ..stats.bootstrap import count_metric

__all__ = ["PerImageResult", "COUNT_NAMES", "attach_per_image", "save_per_image", "load_per_image"]

COUNT_NAMES = ["tp", "fp", "fn"]


class PerImageResult:
    """Per-image TP/FP/FN counts of every model, and what follows from them.

    Parameters
    ----------
    counts : xarray.DataArray
        int64, dims ``(method, seed, image, class, count)``; -1 fills the
        seeds a method does not have.
    ignore_index : int, optional
        The evaluation's ``ignore_index`` (an in-range one is left out of
        ``miou``).
    """

    def __init__(self, counts: Any, ignore_index: Optional[int] = None):
        expected = ("method", "seed", "image", "class", "count")
        if not isinstance(counts, xr.DataArray) or counts.dims != expected:
            raise TypeError(f"PerImageResult needs an xarray.DataArray with dims {expected}")
        self.counts = counts
        self.ignore_index = ignore_index

    @classmethod
    def from_arrays(
        cls,
        per_method: Mapping[str, Any],
        *,
        seeds: Optional[Sequence[Any]] = None,
        class_names: Optional[Sequence[Any]] = None,
        ignore_index: Optional[int] = None,
    ) -> "PerImageResult":
        """Build from ``{method: (seeds, images, classes, 3)}`` integer counts."""
        arrays = {str(m): np.asarray(a) for m, a in per_method.items()}
        if not arrays:
            raise ValueError("per-image counts of no method")
        shapes = {a.shape[1:] for a in arrays.values()}
        if any(a.ndim != 4 or a.shape[-1] != 3 for a in arrays.values()) or len(shapes) != 1:
            raise ValueError(
                "per-image counts must be (seeds, images, classes, 3) with the same images and classes "
                f"for every method, got {[a.shape for a in arrays.values()]}"
            )
        n_seeds = max(a.shape[0] for a in arrays.values())
        _, n_images, n_classes, _ = next(iter(arrays.values())).shape
        stacked = np.full((len(arrays), n_seeds, n_images, n_classes, 3), -1, dtype=np.int64)
        for i, a in enumerate(arrays.values()):
            stacked[i, : a.shape[0]] = a
        counts = xr.DataArray(
            stacked,
            dims=("method", "seed", "image", "class", "count"),
            coords={
                "method": list(arrays),
                "seed": list(range(n_seeds)) if seeds is None else list(seeds),
                "image": np.arange(n_images),
                "class": list(range(n_classes)) if class_names is None else list(class_names),
                "count": COUNT_NAMES,
            },
            name="per_image",
            attrs={"missing": -1},
        )
        return cls(counts, ignore_index)

    def __repr__(self) -> str:
        s = self.counts.sizes
        return (
            f"PerImageResult({s['method']} methods x {s['seed']} seeds x {s['image']} images "
            f"x {s['class']} classes)"
        )

    @property
    def methods(self) -> List[str]:
        return [str(m) for m in self.counts["method"].values]

    def _present(self) -> np.ndarray:
        """(method, seed): whether that method has that seed."""
        return (self.counts.values[:, :, :, :, :] >= 0).all(axis=(2, 3, 4))

    def by_method(self) -> Dict[str, np.ndarray]:
        """``{method: (seeds, images, classes, 3)}``, each method's own seeds only."""
        present = self._present()
        values = self.counts.values
        return {m: values[i][present[i]] for i, m in enumerate(self.methods)}

    def scores(self, metric: str = "miou") -> Any:
        """Each image's own score, dims ``(method, seed, image)`` (NaN for a missing seed).

        A class that neither occurs in an image nor is predicted there is
        left out of that image's macro mean; ``miou`` of an image where no
        class is left is NaN.
        """
        values = count_metric(np.maximum(self.counts.values, 0), metric, self.ignore_index)
        values = np.where(self._present()[:, :, None], values, np.nan)
        return xr.DataArray(
            values,
            dims=("method", "seed", "image"),
            coords={k: self.counts[k] for k in ("method", "seed", "image")},
            name=metric,
        )

    def image_score(self, image: int, metric: str = "miou") -> Any:
        """The score of one image, dims ``(method, seed)``."""
        n = self.counts.sizes["image"]
        if isinstance(image, bool) or not isinstance(image, (int, np.integer)) or not -n <= image < n:
            raise IndexError(f"image must be an int index in [0, {n}), got {image!r}")
        return self.scores(metric).isel(image=int(image))

    def worst(self, k: int = 10, metric: str = "miou") -> Any:
        """The ``k`` lowest-scoring images of each model (method, seed).

        Images whose score is undefined (NaN) are skipped.  Columns:
        ``method, seed, rank, image, <metric>`` (rank 1 = worst).
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        scores = self.scores(metric)
        present = self._present()
        rows = []
        for i, method in enumerate(self.methods):
            for j, seed in enumerate(scores["seed"].values):
                if not present[i, j]:
                    continue
                v = scores.values[i, j]
                order = [int(x) for x in np.argsort(v, kind="stable") if not np.isnan(v[x])][:k]
                for rank, image in enumerate(order, start=1):
                    rows.append({"method": method, "seed": seed, "rank": rank, "image": image, metric: float(v[image])})
        return pd.DataFrame(rows, columns=["method", "seed", "rank", "image", metric])

    def paired(self, method_a: str, method_b: str, metric: str = "miou") -> Any:
        """Per-image comparison of two methods on the same images.

        Each image's score is averaged over the method's seeds; the frame
        has one row per image: ``image, <method_a>, <method_b>,
        difference`` (a - b).  ``frame.attrs`` holds the mean difference,
        how many images each method wins, and a Wilcoxon signed-rank test
        over images (the images as the sample: it says whether the gap
        holds across images, not across seeds; for both, use
        ``result.bootstrap``).
        """
        for name in (method_a, method_b):
            if name not in self.methods:
                raise ValueError(f"no method {name!r}; per-image counts hold {self.methods}")
        scores = self.scores(metric)
        a = np.nanmean(scores.sel({"method": method_a}).values, axis=0)
        b = np.nanmean(scores.sel({"method": method_b}).values, axis=0)
        frame = pd.DataFrame({"image": np.arange(a.size), method_a: a, method_b: b, "difference": a - b})
        both = ~np.isnan(a) & ~np.isnan(b)
        diff = (a - b)[both]
        result = stats.wilcoxon(a[both], b[both]) if both.sum() >= 1 else None
        frame.attrs.update(
            {
                "metric": metric,
                "images": int(both.sum()),
                "mean_difference": float(diff.mean()) if diff.size else float("nan"),
                f"{method_a}_better": int((diff > 0).sum()),
                f"{method_b}_better": int((diff < 0).sum()),
                "ties": int((diff == 0).sum()),
                "wilcoxon_p": float(result.pvalue) if result is not None else float("nan"),
            }
        )
        return frame


def attach_per_image(
    result: Any,
    image_counts: Mapping[str, Sequence[np.ndarray]],
    seeds: Optional[Sequence[Any]],
    class_names: Optional[Sequence[Any]],
    ignore_index: Optional[int],
) -> Any:
    """``result`` with ``result.per_image`` set from ``{method: [per-seed (images, C, 3) counts]}`` (if any)."""
    if image_counts:
        result.per_image = PerImageResult.from_arrays(
            {m: np.stack(list(c)) for m, c in image_counts.items()},
            seeds=seeds,
            class_names=class_names,
            ignore_index=ignore_index,
        )
    return result


# ------------------------------------------------------------ save / load --
# ``result.save(path)`` writes the counts as ``per_image.npy`` (int64,
# dims method, seed, image, class, count) and names it in the manifest;
# ``load`` checks them against the confusion matrices before it keeps them.

PER_IMAGE_FILE = "per_image.npy"


def save_per_image(per_image: PerImageResult, folder: Any) -> Dict[str, Any]:
    """Write ``per_image``'s counts into ``folder``; return the manifest's ``per_image`` entry."""
    values = np.ascontiguousarray(per_image.counts.values, dtype=np.int64)
    np.save(folder / PER_IMAGE_FILE, values, allow_pickle=False)
    return {"file": PER_IMAGE_FILE, "images": int(values.shape[2])}


def load_per_image(
    folder: Any,
    entry: Any,
    confusion: np.ndarray,
    seeds: Sequence[Any],
    classes: Sequence[Any],
    methods: Sequence[str],
    ignore_index: Optional[int],
    damaged: Any,
) -> PerImageResult:
    """The counts saved by :func:`save_per_image`, checked against ``confusion``.

    ``confusion`` is the loaded ``(method, seed, C, C)`` counts (-1 for a
    missing seed).  Each model's counts summed over the images must give
    its confusion matrix's diagonal (TP), column sums less the diagonal
    (FP) and row sums less the diagonal (FN); a missing seed's counts are
    all -1.  ``damaged(path, line, what)`` makes the error.
    """
    manifest_file = folder / "manifest.json"
    if not isinstance(entry, dict) or entry.get("file") != PER_IMAGE_FILE:
        raise damaged(manifest_file, None, f"'per_image' is {entry!r}, not {{'file': {PER_IMAGE_FILE!r}, ...}}")
    images = entry.get("images")
    if isinstance(images, bool) or not isinstance(images, int) or images < 0:
        raise damaged(manifest_file, None, f"'per_image' says images={images!r}, not an int >= 0")
    path = folder / PER_IMAGE_FILE
    if not path.is_file():
        raise damaged(path, None, "the manifest names per-image counts but the file is missing")
    n_methods, n_seeds, n_classes = confusion.shape[0], confusion.shape[1], confusion.shape[2]
    want = (n_methods, n_seeds, images, n_classes, 3)
    try:
        # a memory map reads the header only: no allocation from a shape the file claims
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise damaged(path, None, f"not a NumPy array file that save() writes ({exc})") from None
    if mapped.dtype != np.int64 or mapped.shape != want:
        raise damaged(path, None, f"holds {mapped.dtype} of shape {mapped.shape}, not int64 of shape {want}")
    values = np.array(mapped)
    del mapped
    present = (confusion >= 0).all(axis=(-2, -1))
    for i in range(n_methods):
        for j in range(n_seeds):
            v = values[i, j]
            if not present[i, j]:
                if (v != -1).any():
                    raise damaged(path, None, f"method {methods[i]!r}, seed {seeds[j]!r} has no confusion "
                                  "matrix, so its per-image counts must all be -1")
                continue
            if (v < 0).any():
                raise damaged(path, None, f"negative per-image counts for method {methods[i]!r}, seed {seeds[j]!r}")
            if not np.array_equal(v.sum(axis=0), np.stack(stat_scores(confusion[i, j], np.int64), axis=-1)):
                raise damaged(path, None, f"per-image counts of method {methods[i]!r}, seed {seeds[j]!r} do not "
                              "sum to its confusion matrix")
    counts = xr.DataArray(
        values,
        dims=("method", "seed", "image", "class", "count"),
        coords={
            "method": list(methods),
            "seed": list(seeds),
            "image": np.arange(images),
            "class": list(classes) if len(classes) else list(range(n_classes)),
            "count": COUNT_NAMES,
        },
        name="per_image",
        attrs={"missing": -1},
    )
    return PerImageResult(counts, ignore_index)
