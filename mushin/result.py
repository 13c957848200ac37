"""BenchmarkResult: per-seed scores, confusion matrices and their statistics."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from . import stats
from .tasks import Task, get_task

__all__ = ["BenchmarkResult"]


class BenchmarkResult:
    """The outcome of :func:`mushin.compare` or :meth:`mushin.Study.run`.

    Attributes
    ----------
    data : xarray.Dataset
        One variable per metric with dims ``(method, seed)``; NaN where a
        method has fewer seeds than another.
    confusion : xarray.DataArray
        int64 counts with dims ``(method, seed, target, prediction)``; -1
        fills the seeds a method does not have.  Enough to re-derive every
        metric and test without running a model again
        (:meth:`from_confusion`).
    comparisons : pandas.DataFrame
        One row per metric and method pair: ``metric, method_a, method_b,
        mean_diff, effect_size, statistic, df, p_value, p_corrected,
        significant``.

    Examples
    --------
    >>> import numpy as np
    >>> from mushin import BenchmarkResult
    >>> conf = {"a": np.array([[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]]),
    ...         "b": np.array([[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]])}
    >>> r = BenchmarkResult.from_confusion(conf, task="segmentation")
    >>> r.summary().query("metric == 'pixel_acc'")[["method", "significant_vs_ref"]].values.tolist()
    [['a', ''], ['b', '*']]
    """

    def __init__(self, data: Any, confusion: Any, comparisons: Any, settings: Mapping[str, Any]):
        self._data = data
        self._confusion = confusion
        self._comparisons = comparisons
        self._settings = dict(settings)

    # ------------------------------------------------------------ access --
    @property
    def data(self) -> Any:
        """Per-seed metric values as an ``xarray.Dataset`` (dims method, seed)."""
        return self._data

    @property
    def confusion(self) -> Any:
        """Confusion counts, dims ``(method, seed, target, prediction)``."""
        return self._confusion

    @property
    def comparisons(self) -> Any:
        """Pairwise test results, one row per (metric, method pair)."""
        return self._comparisons

    @property
    def settings(self) -> Dict[str, Any]:
        """task, num_classes, ignore_index, test, alpha, correction."""
        return dict(self._settings)

    @property
    def methods(self) -> List[str]:
        return [str(m) for m in self._data["method"].values]

    @property
    def metrics(self) -> List[str]:
        return list(self._data.data_vars)

    def scores(self, metric: str, method: str) -> np.ndarray:
        """The per-seed values of one method for one metric (missing seeds dropped)."""
        if metric not in self._data:
            raise KeyError(f"no metric {metric!r}; metrics: {self.metrics}")
        if method not in self.methods:
            raise KeyError(f"no method {method!r}; methods: {self.methods}")
        values = self._data[metric].sel({"method": method}).values.astype(float)
        return values[~np.isnan(values)]

    # ----------------------------------------------------------- summary --
    def summary(self, reference: Optional[str] = None) -> Any:
        """Mean and Student-t confidence interval per method and metric.

        Parameters
        ----------
        reference : str, optional
            The method the ``significant_vs_ref`` column compares against
            (default: the first method).  ``"*"`` marks a significant
            difference after correction, ``""`` anything else.

        Returns
        -------
        pandas.DataFrame
            Columns ``method, metric, mean, std, ci_low, ci_high,
            significant_vs_ref``; the CI level is ``1 - alpha``.
        """
        import pandas as pd

        methods = self.methods
        ref = methods[0] if reference is None else reference
        if ref not in methods:
            raise ValueError(f"reference {ref!r} is not one of the methods {methods}")
        confidence = 1.0 - self._settings.get("alpha", 0.05)
        comp = self._comparisons
        rows = []
        for method in methods:
            for metric in self.metrics:
                values = self.scores(metric, method)
                if values.size:
                    mean, low, high = stats.mean_ci(values, confidence)
                    std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
                else:
                    mean = low = high = std = math.nan
                mark = ""
                if method != ref:
                    hit = comp[
                        (comp["metric"] == metric)
                        & (
                            ((comp["method_a"] == ref) & (comp["method_b"] == method))
                            | ((comp["method_a"] == method) & (comp["method_b"] == ref))
                        )
                    ]
                    if len(hit) and bool(hit["significant"].iloc[0]):
                        mark = "*"
                rows.append(
                    {
                        "method": method,
                        "metric": metric,
                        "mean": mean,
                        "std": std,
                        "ci_low": low,
                        "ci_high": high,
                        "significant_vs_ref": mark,
                    }
                )
        frame = pd.DataFrame(rows)
        frame.attrs["reference"] = ref
        frame.attrs["confidence"] = confidence
        return frame

    # -------------------------------------------------------- re-analyse --
    def reanalyze(
        self,
        *,
        test: Optional[str] = None,
        alpha: Optional[float] = None,
        correction: Optional[str] = None,
    ) -> "BenchmarkResult":
        """The same scores under another test, alpha or correction."""
        settings = dict(self._settings)
        for key, value in (("test", test), ("alpha", alpha), ("correction", correction)):
            if value is not None:
                settings[key] = value
        comparisons = _comparisons_from_data(self._data, settings)
        data = self._data.copy()
        data.attrs.update({k: settings[k] for k in ("test", "alpha", "correction")})
        return BenchmarkResult(data, self._confusion, comparisons, settings)

    @classmethod
    def from_confusion(
        cls,
        confusion: Mapping[str, Any],
        *,
        task: "str | Task" = "segmentation",
        ignore_index: Optional[int] = None,
        test: str = "welch",
        alpha: float = 0.05,
        correction: str = "holm",
        seeds: Optional[Sequence[Any]] = None,
    ) -> "BenchmarkResult":
        """Build a result from confusion matrices alone.

        ``confusion`` maps each method to an array ``(n_seeds, C, C)`` (or a
        list of ``(C, C)`` arrays) of counts indexed ``[target, prediction]``.
        """
        task_obj = get_task(task)
        stats.check_test(test)
        stats.check_correction(correction)
        alpha = stats.check_alpha(alpha)
        stacked = {m: np.asarray(c, dtype=np.int64) for m, c in confusion.items()}
        if not stacked:
            raise ValueError("confusion is empty; pass {method: (n_seeds, C, C) counts}")
        shapes = {m: c.shape for m, c in stacked.items()}
        if any(len(s) != 3 or s[1] != s[2] for s in shapes.values()) or len(
            {s[1:] for s in shapes.values()}
        ) != 1:
            raise ValueError(f"every method needs (n_seeds, C, C) counts of one C; got {shapes}")
        num_classes = next(iter(shapes.values()))[1]
        settings = {
            "task": task_obj.name,
            "num_classes": int(num_classes),
            "ignore_index": ignore_index,
            "test": test,
            "alpha": alpha,
            "correction": correction,
        }
        return build_result(stacked, task_obj, settings, seeds=seeds)

    # ------------------------------------------------------------ display --
    def __repr__(self) -> str:
        summary = self.summary()
        ref = summary.attrs["reference"]
        cells = {}
        for _, row in summary.iterrows():
            half = (row["ci_high"] - row["ci_low"]) / 2 if not math.isnan(row["ci_low"]) else math.nan
            text = f"{row['mean']:.4f}" + (f" ± {half:.4f}" if not math.isnan(half) else "")
            cells.setdefault(row["method"], {})[row["metric"]] = text + (
                row["significant_vs_ref"] and " *"
            )
        import pandas as pd

        table = pd.DataFrame.from_dict(cells, orient="index")[self.metrics]
        n_seeds = self._data.sizes.get("seed", 0)
        s = self._settings
        head = (
            f"BenchmarkResult(task={s.get('task')!r}, methods={len(self.methods)}, "
            f"seeds={n_seeds}, test={s.get('test')!r}, correction={s.get('correction')!r}, "
            f"alpha={s.get('alpha')})"
        )
        foot = f"mean ± half-width of the {100 * (1 - s.get('alpha', 0.05)):.0f}% CI; * = significant vs {ref!r}"
        return f"{head}\n{table.to_string()}\n{foot}"


def _comparisons_from_data(data: Any, settings: Mapping[str, Any], warn: bool = True) -> Any:
    methods = [str(m) for m in data["method"].values]
    metrics = list(data.data_vars)
    table = {
        metric: {m: data[metric].sel({"method": m}).values.astype(float) for m in methods}
        for metric in metrics
    }
    return stats.comparisons_table(
        table,
        methods,
        metrics,
        test=settings["test"],
        alpha=settings["alpha"],
        correction=settings["correction"],
        warn=warn,
    )


def build_result(
    confusion: Mapping[str, np.ndarray],
    task: Task,
    settings: Mapping[str, Any],
    seeds: Optional[Sequence[Any]] = None,
) -> BenchmarkResult:
    """Derive the battery from confusion counts, then run the statistics.

    ``confusion[method]`` is ``(n_seeds, C, C)``.  ``seeds`` labels the seed
    axis (default ``0 .. max_seeds - 1``).
    """
    import xarray as xr

    methods = list(confusion)
    n_seeds = max(c.shape[0] for c in confusion.values())
    num_classes = next(iter(confusion.values())).shape[1]
    if seeds is None:
        seeds = list(range(n_seeds))
    elif len(seeds) != n_seeds:
        raise ValueError(f"got {len(seeds)} seed labels for {n_seeds} seeds")
    ignore_index = settings.get("ignore_index")

    values = {metric: np.full((len(methods), n_seeds), np.nan) for metric in task.battery}
    counts = np.full((len(methods), n_seeds, num_classes, num_classes), -1, dtype=np.int64)
    for i, method in enumerate(methods):
        for j, cm in enumerate(confusion[method]):
            counts[i, j] = cm
            for metric, fn in task.battery.items():
                values[metric][i, j] = fn(cm, ignore_index)

    coords = {"method": methods, "seed": list(seeds)}
    attrs = {k: ("none" if v is None else v) for k, v in settings.items()}
    data = xr.Dataset(
        {metric: (("method", "seed"), v) for metric, v in values.items()},
        coords=coords,
        attrs=attrs,
    )
    conf = xr.DataArray(
        counts,
        dims=("method", "seed", "target", "prediction"),
        coords={**coords, "target": np.arange(num_classes), "prediction": np.arange(num_classes)},
        name="confusion",
        attrs={"missing": -1},
    )
    comparisons = _comparisons_from_data(data, settings)
    return BenchmarkResult(data, conf, comparisons, settings)
