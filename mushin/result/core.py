"""BenchmarkResult: per-seed scores, confusion matrices and their statistics.

The class delegates its views to the modules beside it (``tables``,
``plots``, ``files``, ``loading``, ``per_class``), which never import it.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import stats
from ..metrics.tasks import Task, battery_directions, get_task, metric_kind
from . import files, loading, plots, ranking_plots, tables
from .bootstrap import bootstrap as _bootstrap
from .facts import comparisons_from_data, na_reason, pair_note, scalar_metrics, undeclared_direction_message
from .per_class import PerClass, _per_class_comparisons, check_class_names, per_class_dataset, split_per_class

__all__ = ["BenchmarkResult", "build_result", "load_result"]


class BenchmarkResult:
    """The outcome of :func:`mushin.compare` or :meth:`mushin.Study.run`.

    ``BenchmarkResult(data, comparisons, alpha=0.05)`` builds one as
    upstream mushin-py does; ``data``, ``comparisons`` and ``alpha`` can be
    set afterwards, as there.  A result built that way holds no confusion
    matrices; :meth:`from_parts` (what ``compare`` uses) keeps them.

    Attributes
    ----------
    data : xarray.Dataset
        One variable per metric with dims ``(method, seed)``; NaN where a
        method has fewer seeds than another.  Nothing else: per-class values
        are in :attr:`per_class`.
    comparisons : pandas.DataFrame
        One row per metric and method pair: upstream's ``metric, method_a,
        method_b, mean_diff, effect_size, p_value, p_corrected,
        significant``, then ``diff_ci_low, diff_ci_high, statistic, df,
        note`` (see :mod:`mushin.stats`).
    alpha : float
        The significance level (the summary's CIs are at ``1 - alpha``).
    per_class : PerClass
        IoU, Dice, precision and recall of every class, dims ``(method,
        seed, class)``: ``result.per_class("iou")``, or the Dataset
        ``result.per_class.dataset``.
    confusion : xarray.DataArray
        int64 counts with dims ``(method, seed, target, prediction)``; -1
        fills the seeds a method does not have.  Enough to re-derive every
        metric and test without running a model again
        (:meth:`from_confusion`).

    Examples
    --------
    >>> import numpy as np
    >>> from mushin import BenchmarkResult
    >>> conf = {"a": np.array([[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]]),
    ...         "b": np.array([[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]])}
    >>> r = BenchmarkResult.from_confusion(conf, task="segmentation")
    >>> r.summary().query("metric == 'pixel_acc'")[["method", "significant_vs_ref"]].values.tolist()
    [['a', ''], ['b', '*']]
    >>> r.sel(method="b", metric="pixel_acc").values.tolist()
    [0.55, 0.55, 0.5]
    """

    #: Per-image TP/FP/FN counts (:class:`~mushin.result.per_image.PerImageResult`)
    #: when evaluated with ``compare(..., per_image=True)``, else None.
    per_image: Any = None
    bootstrap = _bootstrap

    def __init__(
        self,
        data: Any,
        comparisons: Any,
        alpha: float = 0.05,
        *,
        confusion: Any = None,
        per_class: Any = None,
    ):
        if not isinstance(data, xr.Dataset):
            raise TypeError(f"data must be an xarray.Dataset with dims (method, seed), got {type(data).__name__}")
        if not isinstance(comparisons, pd.DataFrame):
            raise TypeError(f"comparisons must be a pandas.DataFrame, got {type(comparisons).__name__}")
        data, split = split_per_class(data)
        self._data = data
        self._comparisons = comparisons
        self._confusion = confusion
        self._per_class = split if per_class is None else per_class
        self._settings = _settings_from_attrs(data, comparisons, stats.check_alpha(alpha), confusion)

    @classmethod
    def from_parts(
        cls,
        data: Any,
        comparisons: Any,
        settings: Mapping[str, Any],
        *,
        confusion: Any = None,
        per_class: Any = None,
    ) -> "BenchmarkResult":
        """A result from its parts, with ``settings`` (task, num_classes, ignore_index, test,
        alpha, correction, higher_is_better) given rather than read from ``data.attrs``.

        What ``compare``, ``Study`` and ``load`` build; per-class variables
        still in ``data`` (the layout before they moved to
        :attr:`per_class`) are moved out.
        """
        result = cls(data, comparisons, settings.get("alpha", 0.05), confusion=confusion, per_class=per_class)
        result._settings = dict(settings)
        return result

    # ------------------------------------------------------------ access --
    @property
    def data(self) -> Any:
        """Per-seed metric values as an ``xarray.Dataset`` (dims method, seed)."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        if not isinstance(value, xr.Dataset):
            raise TypeError(f"data must be an xarray.Dataset with dims (method, seed), got {type(value).__name__}")
        self._data, per_class = split_per_class(value)
        if len(per_class.data_vars):
            self._per_class = per_class

    @property
    def comparisons(self) -> Any:
        """Pairwise test results, one row per (metric, method pair)."""
        return self._comparisons

    @comparisons.setter
    def comparisons(self, value: Any) -> None:
        if not isinstance(value, pd.DataFrame):
            raise TypeError(f"comparisons must be a pandas.DataFrame, got {type(value).__name__}")
        self._comparisons = value

    @property
    def alpha(self) -> float:
        """The significance level; setting it changes the summary's CIs, not ``comparisons``
        (as upstream; :meth:`reanalyze` tests again at another alpha)."""
        return float(self._settings.get("alpha", 0.05))

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._settings["alpha"] = stats.check_alpha(value)

    @property
    def confusion(self) -> Any:
        """Confusion counts, dims ``(method, seed, target, prediction)`` (0 x 0 when none were kept)."""
        if self._confusion is None:
            shape = (len(self.methods), self._data.sizes.get("seed", 0), 0, 0)
            return xr.DataArray(
                np.zeros(shape, dtype=np.int64),
                dims=("method", "seed", "target", "prediction"),
                coords={"method": self._data["method"].values, "seed": self._data["seed"].values,
                        "target": np.arange(0), "prediction": np.arange(0)},
                name="confusion",
                attrs={"missing": -1},
            )
        return self._confusion

    @property
    def settings(self) -> Dict[str, Any]:
        """task, num_classes, ignore_index, test, alpha, correction, higher_is_better.

        ``higher_is_better`` maps each metric to the direction its battery
        entry declared (``None``: undeclared); it is saved and loaded with
        the result.
        """
        settings = dict(self._settings)
        if "higher_is_better" in settings:
            settings["higher_is_better"] = dict(settings["higher_is_better"])
        return settings

    @property
    def directions(self) -> Dict[str, Optional[bool]]:
        """``{metric: True | False | None}``: each metric's declared direction.

        Taken from the battery the result was computed with (each entry's
        ``higher_is_better``); ``None`` means the metric declared none.
        """
        declared = self._settings.get("higher_is_better")
        if declared is None:
            # a result built before directions travelled with it: the
            # registered task's battery is the only place left to ask
            try:
                declared = battery_directions(get_task(self._settings.get("task")).battery)
            except (ValueError, TypeError):
                declared = {}
        return {metric: declared.get(metric) for metric in self.metrics}

    def sel(self, *, method: Any = None, seed: Any = None, metric: Any = None) -> Any:
        """Select by method, seed and metric, meaning what the names say.

        xarray reads ``method=`` in ``result.data.sel(method="fcn")`` as its
        own argument (the inexact-match method), so that call returns every
        method; here ``method`` selects methods.  Each argument is a label or
        a list of labels; ``None`` keeps them all.  One ``metric`` gives an
        ``xarray.DataArray``, a list of metrics (or none) a Dataset.

        Examples
        --------
        >>> from mushin import BenchmarkResult
        >>> conf = {"a": [[[3, 1], [0, 4]], [[4, 0], [2, 2]]], "b": [[[2, 2], [1, 3]], [[3, 1], [2, 2]]]}
        >>> r = BenchmarkResult.from_confusion(conf)
        >>> r.sel(method="b", metric="pixel_acc").values.tolist()
        [0.625, 0.625]
        >>> float(r.sel(method="a", seed=1, metric="pixel_acc"))
        0.75
        """
        selected = self._data
        if metric is not None:
            names = [metric] if isinstance(metric, str) else list(metric)
            unknown = [name for name in names if name not in selected.data_vars]
            if unknown:
                hint = "; per-class metrics are in result.per_class" if any(n in self._per_class for n in unknown) else ""
                raise KeyError(f"no metric(s) {unknown}; metrics: {list(selected.data_vars)}{hint}")
            selected = selected[metric] if isinstance(metric, str) else selected[names]
        for dim, value in (("method", method), ("seed", seed)):
            if value is None:
                continue
            labels = self._data[dim].values.tolist()
            wanted = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
            missing = [v for v in wanted if v not in labels]
            if missing:
                raise KeyError(f"no {dim}(s) {missing}; {dim}s: {labels}")
            selected = selected.sel({dim: value})
        return selected

    def higher_is_better(self, metric: str) -> bool:
        """Whether a larger value of ``metric`` is the better one.

        Raises
        ------
        KeyError
            ``metric`` is not a metric of the result.
        ValueError
            The metric declares no direction; the message says how to
            declare one.  Ranking, bold "best" cells and gates need it.

        Examples
        --------
        >>> from mushin import BenchmarkResult
        >>> conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]]], "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]]]}
        >>> BenchmarkResult.from_confusion(conf).higher_is_better("miou")
        True
        """
        if metric not in self.metrics:
            raise KeyError(f"no metric {metric!r}; metrics: {self.metrics}")
        value = self.directions[metric]
        if value is None:
            raise ValueError(undeclared_direction_message(metric))
        return bool(value)

    def rank(self, metric: str) -> List[str]:
        """The methods ordered best first by their mean ``metric`` over seeds.

        Uses the metric's declared direction (:meth:`higher_is_better`);
        methods without a finite mean come last.

        Examples
        --------
        >>> from mushin import BenchmarkResult
        >>> conf = {"a": [[[5, 5], [4, 6]], [[6, 4], [5, 5]]], "b": [[[9, 1], [1, 9]], [[8, 2], [1, 9]]]}
        >>> BenchmarkResult.from_confusion(conf).rank("miou")
        ['b', 'a']
        """
        higher = self.higher_is_better(metric)
        means = {}
        for method in self.methods:
            values = self.scores(metric, method)
            means[method] = float(values.mean()) if values.size else math.nan
        finite = [m for m in self.methods if math.isfinite(means[m])]
        ordered = sorted(finite, key=lambda m: means[m], reverse=higher)
        return ordered + [m for m in self.methods if m not in finite]

    @property
    def methods(self) -> List[str]:
        return [str(m) for m in self._data["method"].values]

    @property
    def metrics(self) -> List[str]:
        """The scalar metrics (one value per method and seed), battery order."""
        return scalar_metrics(self._data)

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
            Columns ``method, metric, mean, ci_low, ci_high,
            significant_vs_ref`` (upstream's), then ``std, note``; the CI
            level is ``1 - alpha``.
            ``significant_vs_ref`` is ``"n/a"`` for a pair that could not be
            tested, and ``note`` says why (e.g. ``"n/a: one seed"``).
        """
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
                mark = note = ""
                if method != ref:
                    hit = comp[
                        (comp["metric"] == metric)
                        & (
                            ((comp["method_a"] == ref) & (comp["method_b"] == method))
                            | ((comp["method_a"] == method) & (comp["method_b"] == ref))
                        )
                    ]
                    if len(hit):
                        note = pair_note(hit.iloc[0])
                        if note:
                            mark = "n/a"
                        elif bool(hit["significant"].iloc[0]):
                            mark = "*"
                rows.append(  # upstream's columns first, in its order, then mushin's
                    {
                        "method": method,
                        "metric": metric,
                        "mean": mean,
                        "ci_low": low,
                        "ci_high": high,
                        "significant_vs_ref": mark,
                        "std": std,
                        "note": note,
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
        comparisons = comparisons_from_data(self._data, settings)
        data = self._data.copy()
        data.attrs.update({k: settings[k] for k in ("test", "alpha", "correction")})
        return type(self).from_parts(data, comparisons, settings, confusion=self._confusion, per_class=self._per_class)

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
        class_names: Optional[Sequence[str]] = None,
    ) -> "BenchmarkResult":
        """Build a result from confusion matrices alone.

        ``confusion`` maps each method to an array ``(n_seeds, C, C)`` (or a
        list of ``(C, C)`` arrays) of counts indexed ``[target, prediction]``.
        ``class_names`` labels the classes of the per-class variables.
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
        check_class_names(class_names, int(num_classes))
        settings = {
            "task": task_obj.name,
            "num_classes": int(num_classes),
            "ignore_index": ignore_index,
            "test": test,
            "alpha": alpha,
            "correction": correction,
        }
        return build_result(stacked, task_obj, settings, seeds=seeds, class_names=class_names)

    # ---------------------------------------------------------- per class --
    @property
    def classes(self) -> List[Any]:
        """Labels of the class axis: ``class_names`` if given, else ``0 .. C - 1``."""
        if "class" not in self._per_class.coords:
            return []
        return self._per_class["class"].values.tolist()

    @property
    def per_class(self) -> PerClass:
        """Per-seed values of the per-class metrics, dims ``(method, seed, class)``.

        ``result.per_class("iou")`` (or ``["iou"]``) is one metric: ``"iou"``,
        ``"dice"``, ``"precision"`` or ``"recall"``; NaN marks a class that
        cannot be scored in that seed (see :func:`mushin.result.per_class_scores`).
        ``result.per_class.dataset`` is the whole ``xarray.Dataset``.
        """
        return PerClass(self._per_class)

    def per_class_comparisons(
        self,
        metric: str = "iou",
        *,
        reference: Optional[str] = None,
        correction: str = "fdr_bh",
        alpha: Optional[float] = None,
    ) -> Any:
        """Which classes does each method change, compared with the reference?

        Every method is tested against ``reference`` class by class with the
        result's test; the p-values of one method's classes form one family,
        corrected with ``correction`` (Benjamini-Hochberg FDR by default, as
        many classes are tested at once).  Seeds where a class cannot be
        scored (NaN) are left out of that class's test; a paired test
        (``ttest_rel``, ``wilcoxon``) keeps the seeds where both methods
        scored it, and its ``mean_diff`` is the mean over those pairs.

        Returns
        -------
        pandas.DataFrame
            Columns ``method, class, mean, reference_mean, mean_diff
            (method - reference), diff_ci_low, diff_ci_high (its confidence
            interval at ``1 - alpha``), effect_size, p_value, p_corrected,
            significant, note`` (``note`` says why a class was not tested,
            as in :attr:`comparisons`).

        Examples
        --------
        >>> import numpy as np
        >>> from mushin import BenchmarkResult
        >>> conf = {"a": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
        ...         "b": [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]}
        >>> r = BenchmarkResult.from_confusion(conf, class_names=["sky", "road"])
        >>> r.per_class_comparisons("iou")[["method", "class", "significant"]].values.tolist()
        [['b', 'sky', True], ['b', 'road', True]]
        """
        return _per_class_comparisons(self, metric, reference, correction, alpha)

    # -------------------------------------------------------------- plots --
    def plot(self, metric: Optional[str] = None, ax: Any = None, *, reference: Optional[str] = None) -> Any:
        """Each method's mean and confidence interval; see :func:`mushin.result.plots.plot_result`."""
        return plots.plot_result(self, metric=metric, ax=ax, reference=reference)

    def plot_per_class(
        self, metric: str = "iou", ax: Any = None, *, reference: Optional[str] = None
    ) -> Any:
        """Per-class means with CIs; see :func:`mushin.result.plots.plot_per_class`."""
        return plots.plot_per_class(self, metric=metric, ax=ax, reference=reference)

    def plot_seeds(self, metric: Optional[str] = None, ax: Any = None) -> Any:
        """Every seed's value; see :func:`mushin.result.plots.plot_seeds`."""
        return plots.plot_seeds(self, metric=metric, ax=ax)

    def plot_profiles(self, metric: Optional[str] = None, ax: Any = None, **kwargs: Any) -> Any:
        """Performance profiles over seeds; see :func:`mushin.result.ranking_plots.plot_profiles`."""
        return ranking_plots.plot_profiles(self, ax=ax, metric=metric, **kwargs)

    def plot_cd(self, metric: Optional[str] = None, ax: Any = None, **kwargs: Any) -> Any:
        """Critical-difference diagram, seed by seed; see :func:`mushin.result.ranking_plots.plot_cd`."""
        return ranking_plots.plot_cd(self, ax=ax, metric=metric, **kwargs)

    # ------------------------------------------------------------- tables --
    def _repr_html_(self) -> str:
        # a display must never fail: bold only the metrics that declare a direction
        return tables.to_html(self, bold_best=None)

    def to_html(
        self, reference: Optional[str] = None, digits: int = 4, *, bold_best: Optional[bool] = True
    ) -> str:
        """The notebook table as an HTML string; see :func:`mushin.result.tables.to_html`."""
        return tables.to_html(self, reference=reference, digits=digits, bold_best=bold_best)

    def to_latex(
        self,
        reference: Optional[str] = None,
        digits: int = 3,
        *,
        caption: Optional[str] = None,
        label: Optional[str] = None,
        bold_best: Optional[bool] = True,
    ) -> str:
        """A booktabs table for a paper; see :func:`mushin.result.tables.to_latex`."""
        return tables.to_latex(
            self, reference=reference, digits=digits, caption=caption, label=label, bold_best=bold_best
        )

    def to_markdown(
        self, reference: Optional[str] = None, digits: int = 3, *, bold_best: Optional[bool] = True
    ) -> str:
        """A GitHub-flavoured markdown table; see :func:`mushin.result.tables.to_markdown`."""
        return tables.to_markdown(self, reference=reference, digits=digits, bold_best=bold_best)

    def to_dataframe(self, per_class: bool = False) -> Any:
        """A tidy long table; see :func:`mushin.result.files.to_dataframe`."""
        return files.to_dataframe(self, per_class=per_class)

    # ----------------------------------------------------------- save/load --
    def save(self, path: Any) -> Any:
        """Write the whole result to the folder ``path``; see :func:`mushin.result.files.save_result`."""
        return files.save_result(self, path)

    @classmethod
    def load(cls, path: Any) -> "BenchmarkResult":
        """Read a result written by :meth:`save`; see :func:`mushin.result.loading.load_result`."""
        return loading.load_result(path, cls)

    # ------------------------------------------------------------ display --
    def __repr__(self) -> str:
        summary = self.summary()
        ref = summary.attrs["reference"]
        cells = {}
        for _, row in summary.iterrows():
            half = (row["ci_high"] - row["ci_low"]) / 2 if not math.isnan(row["ci_low"]) else math.nan
            text = f"{row['mean']:.4f}" + (f" ± {half:.4f}" if not math.isnan(half) else "")
            mark = {"*": " *", "n/a": " n/a"}.get(row["significant_vs_ref"], "")
            cells.setdefault(row["method"], {})[row["metric"]] = text + mark
        table = pd.DataFrame.from_dict(cells, orient="index")[self.metrics]
        n_seeds = self._data.sizes.get("seed", 0)
        s = self._settings
        head = (
            f"BenchmarkResult(task={s.get('task')!r}, methods={len(self.methods)}, "
            f"seeds={n_seeds}, test={s.get('test')!r}, correction={s.get('correction')!r}, "
            f"alpha={s.get('alpha')})"
        )
        foot = f"mean ± half-width of the {100 * (1 - s.get('alpha', 0.05)):.0f}% CI; * = significant vs {ref!r}"
        untested = summary[summary["note"] != ""]
        for (method, note), group in untested.groupby(["method", "note"], sort=False):
            foot += f"\nn/a = not tested: {method} vs {ref} on {', '.join(group['metric'])}: {na_reason(note)}"
        return f"{head}\n{table.to_string()}\n{foot}"


def build_result(
    confusion: Mapping[str, np.ndarray],
    task: Task,
    settings: Mapping[str, Any],
    seeds: Optional[Sequence[Any]] = None,
    class_names: Optional[Sequence[str]] = None,
    battery: Optional[Mapping[str, Any]] = None,
    metric_values: Optional[Mapping[str, Mapping[str, Sequence[float]]]] = None,
) -> BenchmarkResult:
    """Derive the battery from confusion counts, then run the statistics.

    ``confusion[method]`` is ``(n_seeds, C, C)``.  ``seeds`` labels the seed
    axis (default ``0 .. max_seeds - 1``); ``class_names`` labels the class
    axis of the per-class variables (default ``0 .. C - 1``).  ``battery``
    (default: the task's) orders the metrics; its confusion-matrix functions
    are evaluated here, and ``metric_values[metric][method]`` gives the
    per-seed values of the streamed ones (AUROC, ECE, torchmetrics objects).
    A streamed metric without values (e.g. in :meth:`BenchmarkResult.from_confusion`)
    is left out.
    """
    methods = list(confusion)
    n_seeds = max(c.shape[0] for c in confusion.values())
    num_classes = next(iter(confusion.values())).shape[1]
    if seeds is None:
        seeds = list(range(n_seeds))
    elif len(seeds) != n_seeds:
        raise ValueError(f"got {len(seeds)} seed labels for {n_seeds} seeds")
    ignore_index = settings.get("ignore_index")

    battery = task.battery if battery is None else battery
    streamed = {} if metric_values is None else metric_values
    from_counts = {m: fn for m, fn in battery.items() if m not in streamed and metric_kind(fn, m) == "confusion"}
    values = {
        metric: np.full((len(methods), n_seeds), np.nan)
        for metric in battery
        if metric in from_counts or metric in streamed
    }
    counts = np.full((len(methods), n_seeds, num_classes, num_classes), -1, dtype=np.int64)
    for i, method in enumerate(methods):
        for j, cm in enumerate(confusion[method]):
            counts[i, j] = cm
            for metric, fn in from_counts.items():
                values[metric][i, j] = fn(cm, ignore_index)
    for metric, per_method in streamed.items():
        for i, method in enumerate(methods):
            seed_values = np.asarray(per_method.get(method, ()), dtype=np.float64)
            values[metric][i, : seed_values.size] = seed_values

    directions = battery_directions({metric: battery[metric] for metric in values})
    settings = {**settings, "higher_is_better": directions}
    coords = {"method": methods, "seed": list(seeds)}
    attrs = {k: ("none" if v is None else v) for k, v in settings.items() if k != "higher_is_better"}
    data = xr.Dataset(
        {
            metric: xr.Variable(
                ("method", "seed"),
                v,
                {} if directions[metric] is None else {"higher_is_better": int(directions[metric])},
            )
            for metric, v in values.items()
        },
        coords=coords,
        attrs=attrs,
    )
    if num_classes:  # a task without classes (regression, retrieval, ...) has no per-class values
        per_class = per_class_dataset(counts, settings.get("ignore_index"), class_names, coords)
    else:
        per_class = xr.Dataset(coords=coords)
    conf = xr.DataArray(
        counts,
        dims=("method", "seed", "target", "prediction"),
        coords={**coords, "target": np.arange(num_classes), "prediction": np.arange(num_classes)},
        name="confusion",
        attrs={"missing": -1},
    )
    comparisons = comparisons_from_data(data, settings)
    return BenchmarkResult.from_parts(data, comparisons, settings, confusion=conf, per_class=per_class)


def load_result(path: Any) -> BenchmarkResult:
    """Read a result written by :meth:`BenchmarkResult.save`; see :func:`mushin.result.loading.load_result`."""
    return BenchmarkResult.load(path)


def _settings_from_attrs(data: Any, comparisons: Any, alpha: float, confusion: Any) -> Dict[str, Any]:
    """The settings of a result built as upstream does, from what ``data`` and ``comparisons`` record.

    ``compare`` writes its settings into ``data.attrs`` (``"none"`` for
    None); a Dataset from another harness has none, and gets upstream's
    defaults (test ``"wilcoxon"``, correction ``"holm"``).  Directions come
    from each variable's ``higher_is_better`` attribute.
    """
    attrs = dict(getattr(data, "attrs", {}))
    recorded = dict(getattr(comparisons, "attrs", {}))

    def read(key: str, default: Any) -> Any:
        value = recorded.get(key, attrs.get(key, default))
        return None if isinstance(value, str) and value == "none" else value

    directions: Dict[str, Optional[bool]] = {}
    for name in scalar_metrics(data):
        declared = data[name].attrs.get("higher_is_better")
        directions[name] = None if declared is None else bool(declared)
    settings = {
        "task": read("task", None),
        # the class count travels with the confusion matrices: none kept, none claimed
        "num_classes": read("num_classes", None) if confusion is not None else None,
        "ignore_index": read("ignore_index", None),
        "test": read("test", "wilcoxon"),
        "alpha": alpha,
        "correction": read("correction", "holm"),
    }
    if any(value is not None for value in directions.values()):
        settings["higher_is_better"] = directions  # else: asked of the task's battery
    return settings
