"""compare_methods(): the comparisons table of any ``(method, seed)`` Dataset of scores.

The scores may come from any harness (a training sweep, a leaderboard
export, numbers typed in by hand); mushin need not have computed them.  The
statistics are the C core's (:mod:`mushin.stats`), the same that
:func:`mushin.compare` reports.

Examples
--------
>>> import numpy as np, xarray as xr
>>> from mushin.benchmark import compare_methods
>>> ds = xr.Dataset({"acc": (("method", "seed"), [[0.71, 0.73, 0.72, 0.74, 0.70, 0.72],
...                                                [0.65, 0.66, 0.64, 0.67, 0.66, 0.63]])},
...                 coords={"method": ["a", "b"], "seed": np.arange(6)})
>>> table = compare_methods(ds)
>>> table[["metric", "method_a", "method_b", "p_value", "significant"]].values.tolist()
[['acc', 'a', 'b', 0.03125, True]]
"""
from __future__ import annotations

import json
import warnings
from typing import Any, List

import numpy as np
import xarray as xr

from .. import stats
from ..study.errors import IncompleteSweepError

__all__ = ["compare_methods", "incomplete_runs"]

_ATTRS = ("mushin_failures", "mushin_skipped")


def incomplete_runs(value: Any) -> List[str]:
    """One of the ``mushin_failures``/``mushin_skipped`` attributes as a list of run names.

    Sweeps record it as a JSON list in a string; older datasets hold a list,
    a bare string (a one-element list after a netCDF round trip) or an array.

    Examples
    --------
    >>> incomplete_runs('["method=a,seed=1"]'), incomplete_runs(None), incomplete_runs("a-1")
    (['method=a,seed=1'], [], ['a-1'])
    """
    if value is None:
        return []
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value] if value else []
        if isinstance(parsed, list):
            return [str(item) for item in parsed]
        return [str(parsed)]
    if isinstance(value, np.ndarray):
        return [str(item) for item in value.ravel().tolist()]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [str(value)]


def _incomplete_error(message: str, runs: List[str]) -> IncompleteSweepError:
    # IncompleteSweepError's constructor words a Study's failures; these runs
    # come from a dataset's attributes, so only the message and the list are set
    error = IncompleteSweepError.__new__(IncompleteSweepError)
    RuntimeError.__init__(error, message)
    error.failed = list(runs)
    error.errors = {}
    error.manifest_path = None
    return error


def _scores(ds: Any) -> tuple:
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset with dims (method, seed), got {type(ds).__name__}")
    missing = [dim for dim in ("method", "seed") if dim not in ds.dims]
    if missing:
        raise ValueError(f"ds needs dims (method, seed); it has {tuple(ds.dims)}, missing {missing}")
    metrics = [str(name) for name in ds.data_vars]
    other = [name for name in metrics if set(ds[name].dims) != {"method", "seed"}]
    if other:
        raise ValueError(
            f"every variable of ds must have dims (method, seed); {other[0]!r} has {ds[other[0]].dims} "
            "(per-class results live in result.per_class, not in the scores Dataset)"
        )
    methods = [str(m) for m in ds["method"].values]
    if len(set(methods)) != len(methods):
        raise ValueError(f"ds names a method more than once: {methods}")
    table = {}
    for metric in metrics:
        var = ds[metric].transpose("method", "seed")
        try:
            values = np.asarray(var.values, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"ds[{metric!r}] holds {var.dtype} values, not numbers") from None
        for i, method in enumerate(methods):
            if np.isinf(values[i]).any():
                seed = ds["seed"].values[int(np.flatnonzero(np.isinf(values[i]))[0])]
                seed = seed.item() if isinstance(seed, np.generic) else seed
                raise ValueError(
                    f"ds[{metric!r}] is inf for method {method!r}, seed {seed!r}; scores must be "
                    "finite (NaN marks a missing run)"
                )
        table[metric] = {method: values[i] for i, method in enumerate(methods)}
    return table, methods, metrics


def compare_methods(
    ds: xr.Dataset,
    test: str = "wilcoxon",
    alpha: float = 0.05,
    correction: str = "holm",
    allow_incomplete: bool = False,
) -> Any:
    """Test every method pair on every metric of a ``(method, seed)`` Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Dims ``(method, seed)``, one variable per metric, such as
        ``compare(...).data`` or a sweep's scores.  NaN marks a run that has
        no score: each pair is tested on the seeds both of its methods have
        (a paired test pairs seed ``i`` with seed ``i``).
    test : str
        ``"wilcoxon"`` (default, as upstream), ``"ttest_rel"``, ``"welch"``,
        ``"ttest_ind"`` or ``"mannwhitney"``.
    alpha : float
        Significance level after correction.
    correction : str
        ``"holm"`` (default), ``"bonferroni"``, ``"fdr_bh"`` or ``"none"``,
        applied per metric across the method pairs.
    allow_incomplete : bool
        A Dataset whose ``attrs["mushin_failures"]`` or
        ``attrs["mushin_skipped"]`` names runs comes from an incomplete
        sweep: by default that raises; ``True`` compares the completed runs
        and warns.

    Returns
    -------
    pandas.DataFrame
        Upstream's columns ``metric, method_a, method_b, mean_diff,
        effect_size, p_value, p_corrected, significant``, then mushin's
        ``diff_ci_low, diff_ci_high, statistic, df, note`` (see
        :func:`mushin.stats.comparisons_table`; ``note`` says why a pair
        was not tested).

    Raises
    ------
    IncompleteSweepError
        ``ds`` records failed or skipped runs and ``allow_incomplete`` is False.
    """
    stats.check_test(test)
    stats.check_correction(correction)
    alpha = stats.check_alpha(alpha)
    if not isinstance(allow_incomplete, bool):
        raise TypeError(f"allow_incomplete must be True or False, got {allow_incomplete!r}")
    attrs = getattr(ds, "attrs", {})
    failed = incomplete_runs(attrs.get("mushin_failures"))
    skipped = incomplete_runs(attrs.get("mushin_skipped"))
    if failed or skipped:
        parts = []
        if failed:
            parts.append(f"{len(failed)} run(s) failed ({', '.join(failed)})")
        if skipped:
            parts.append(f"{len(skipped)} run(s) were not run ({', '.join(skipped)})")
        if not allow_incomplete:
            raise _incomplete_error(
                "; ".join(parts) + ", so no statistics were computed.  Complete the sweep and "
                "compare again, or pass allow_incomplete=True to test the completed runs only",
                failed + skipped,
            )
        warnings.warn(
            "comparing an incomplete sweep: " + "; ".join(parts) + ".  Each pair is tested on the "
            "seeds both methods completed, so the tests may be underpowered or biased",
            UserWarning,
            stacklevel=2,
        )
    table, methods, metrics = _scores(ds)
    return stats.comparisons_table(
        table, methods, metrics, test=test, alpha=alpha, correction=correction, pair_missing_seeds=True
    )
