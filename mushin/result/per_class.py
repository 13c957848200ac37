"""Per-class scores of a result: IoU, Dice, precision and recall of every class, and their tests.

Examples
--------
>>> import numpy as np
>>> from mushin.result import per_class_scores
>>> per_class_scores(np.array([[3, 1], [0, 4]]))["recall"].tolist()
[0.75, 1.0]
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import xarray as xr

from .. import stats
from ..metrics.confusion_metrics import safe_divide, stat_scores
from .facts import PER_CLASS_METRICS, PER_CLASS_PREFIX

__all__ = ["check_class_names", "per_class_scores", "per_class_dataset", "split_per_class", "PerClass"]


def check_class_names(class_names: Any, num_classes: Optional[int]) -> Optional[List[str]]:
    """Validate ``class_names=``: distinct strings, one per class."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence):
        raise TypeError(
            f"class_names must be a list of strings, one per class, got {type(class_names).__name__}"
        )
    names = list(class_names)
    bad = [(i, n) for i, n in enumerate(names) if not isinstance(n, str)]
    if bad:
        raise TypeError(f"class_names must be strings; class_names[{bad[0][0]}] is {bad[0][1]!r}")
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(f"got {len(names)} class_names for num_classes={num_classes}")
    seen: Dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(f"class_names[{seen[name]}] and class_names[{i}] are both {name!r}")
        seen[name] = i
    return names


def per_class_scores(counts: Any, ignore_index: Optional[int] = None) -> Dict[str, np.ndarray]:
    """IoU, Dice, precision and recall of every class from confusion counts.

    ``counts`` is ``(..., C, C)`` indexed ``[target, prediction]``; each
    result is ``(..., C)``.  A ratio whose denominator is 0 while the class
    occurs is 0 (as torchmetrics' ``average="none"``).  NaN marks a class
    that cannot be scored: absent from both targets and predictions
    (``tp + fp + fn == 0``; torchmetrics reports 0), the ``ignore_index``
    class when it lies in ``[0, C)``, and matrices filled with -1 (a seed
    the method does not have).  Averaging the finite IoUs gives ``miou``.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin.result import per_class_scores
    >>> per_class_scores(np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]]))["iou"].round(3).tolist()
    [0.75, 0.8, nan]
    """
    cm = np.asarray(counts)
    missing = (cm < 0).any(axis=(-2, -1))
    tp, fp, fn = stat_scores(cm)
    scores = {
        "iou": safe_divide(tp, tp + fp + fn),
        "dice": safe_divide(2 * tp, 2 * tp + fp + fn),
        "precision": safe_divide(tp, tp + fp),
        "recall": safe_divide(tp, tp + fn),
    }
    unscored = (tp + fp + fn) == 0
    unscored |= missing[..., None]
    num_classes = cm.shape[-1]
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        unscored[..., ignore_index] = True
    for values in scores.values():
        values[unscored] = np.nan
    return scores


def per_class_dataset(
    counts: np.ndarray,
    ignore_index: Optional[int],
    class_names: Optional[Sequence[str]],
    coords: Mapping[str, Any],
) -> Any:
    """The per-class values derived from ``counts``: dims ``(method, seed, class)``.

    One variable per entry of :data:`PER_CLASS_METRICS` (``iou``, ``dice``,
    ``precision``, ``recall``); ``coords`` gives the method and seed labels.
    """
    num_classes = counts.shape[-1]
    names = check_class_names(class_names, num_classes)
    labels: List[Any] = names if names is not None else list(range(num_classes))
    scores = per_class_scores(counts, ignore_index)
    return xr.Dataset(
        {metric: (("method", "seed", "class"), scores[metric]) for metric in PER_CLASS_METRICS},
        coords={"method": list(coords["method"]), "seed": list(coords["seed"]), "class": labels},
    )


def split_per_class(data: Any) -> Tuple[Any, Any]:
    """``(scores, per_class)``: the ``(method, seed)`` variables, and those with a ``class`` dim.

    Per-class variables named ``per_class_<metric>`` (their name in ``.data``
    before they moved out of it, and in saved files) lose the prefix.
    """
    with_class = [name for name in data.data_vars if "class" in data[name].dims]
    if not with_class:
        return data, empty_per_class(data)
    per_class = data[with_class].rename(
        {name: name[len(PER_CLASS_PREFIX):] for name in with_class if str(name).startswith(PER_CLASS_PREFIX)}
    )
    per_class.attrs = {}
    scores = data.drop_vars(with_class)
    if "class" in scores.coords:
        scores = scores.drop_vars("class")
    return scores, per_class


def empty_per_class(data: Any) -> Any:
    """A per-class Dataset with no variables, on the method and seed labels of ``data``."""
    coords = {dim: data[dim].values for dim in ("method", "seed") if dim in data.coords}
    return xr.Dataset(coords=coords)


class PerClass:
    """``result.per_class``: the per-class values, dims ``(method, seed, class)``.

    Call it with a metric for one variable (``result.per_class("iou")``), index
    it (``result.per_class["iou"]``), or use it as the ``xarray.Dataset`` it
    wraps (``result.per_class.dataset``; any Dataset attribute such as
    ``.data_vars`` or ``.sel`` is passed through).  ``result.data`` holds only
    the ``(method, seed)`` scores, as upstream's does.

    Examples
    --------
    >>> from mushin import BenchmarkResult
    >>> r = BenchmarkResult.from_confusion({"a": [[[3, 1], [0, 4]], [[4, 0], [2, 2]]]},
    ...                                    class_names=["sky", "road"])
    >>> list(r.per_class.data_vars), r.per_class("iou").dims
    (['iou', 'dice', 'precision', 'recall'], ('method', 'seed', 'class'))
    """

    def __init__(self, dataset: Any):
        self._dataset = dataset

    @property
    def dataset(self) -> Any:
        """The ``xarray.Dataset`` of per-class values (no variables for a task without classes)."""
        return self._dataset

    def __call__(self, metric: str = "iou") -> Any:
        """One per-class metric (``"iou"``, ``"dice"``, ``"precision"``, ``"recall"``)."""
        return self[metric]

    def __getitem__(self, metric: str) -> Any:
        name = metric[len(PER_CLASS_PREFIX):] if isinstance(metric, str) and metric.startswith(PER_CLASS_PREFIX) else metric
        if not isinstance(name, str) or name not in self._dataset.data_vars:
            raise KeyError(f"no per-class metric {metric!r}; per-class metrics: {list(self._dataset.data_vars)}")
        return self._dataset[name]

    def __contains__(self, metric: Any) -> bool:
        return metric in self._dataset.data_vars

    def __iter__(self) -> Any:
        return iter(self._dataset.data_vars)

    def __len__(self) -> int:
        return len(self._dataset.data_vars)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._dataset, name)

    def __repr__(self) -> str:
        return repr(self._dataset)


def _mean_of_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _per_class_comparisons(
    result: Any,
    metric: str,
    reference: Optional[str],
    correction: str,
    alpha: Optional[float],
) -> Any:
    values = result.per_class(metric)
    methods = result.methods
    ref = methods[0] if reference is None else reference
    if ref not in methods:
        raise ValueError(f"reference {ref!r} is not one of the methods {methods}")
    stats.check_correction(correction)
    settings = result.settings
    alpha = stats.check_alpha(settings.get("alpha", 0.05) if alpha is None else alpha)
    classes = result.classes
    keys = [str(i) for i in range(len(classes))]
    columns = [
        "method", "class", "mean", "reference_mean", "mean_diff", "diff_ci_low",
        "diff_ci_high", "effect_size", "p_value", "p_corrected", "significant", "note",
    ]
    frames = []
    for method in methods:
        if method == ref:
            continue
        scores = {
            key: {m: values.sel({"method": m}).values[:, i].astype(float) for m in (method, ref)}
            for i, key in enumerate(keys)
        }
        # one pair per "metric" (= class), uncorrected: the family is the classes
        table = stats.comparisons_table(
            scores, [method, ref], keys, test=settings["test"], alpha=alpha,
            correction="none", warn=False,
        )
        p_corrected = stats.correct(table["p_value"].to_numpy(float), correction)
        frames.append(
            pd.DataFrame(
                {
                    "method": method,
                    "class": classes,
                    "mean": [_mean_of_finite(s[method]) for s in scores.values()],
                    "reference_mean": [_mean_of_finite(s[ref]) for s in scores.values()],
                    "mean_diff": table["mean_diff"].to_numpy(float),
                    "diff_ci_low": table["diff_ci_low"].to_numpy(float),
                    "diff_ci_high": table["diff_ci_high"].to_numpy(float),
                    "effect_size": table["effect_size"].to_numpy(float),
                    "p_value": table["p_value"].to_numpy(float),
                    "p_corrected": p_corrected,
                    "significant": [bool(p < alpha) for p in p_corrected],
                    "note": table["note"].to_numpy(object),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    frame.attrs.update(
        {"metric": metric, "reference": ref, "test": settings["test"], "correction": correction, "alpha": alpha}
    )
    return frame
