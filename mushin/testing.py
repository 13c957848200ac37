"""Regression gates for pytest: is the candidate model no worse (or better)?

Both gates run a one-sided Welch t-test across seeds in mushin's C core
(the t statistic, Welch-Satterthwaite degrees of freedom and the Student-t
tail all come from :mod:`mushin._core`) and raise ``AssertionError`` with a
message that shows both means, the confidence interval of the difference,
the margin and the p-value.  A passing gate returns a :class:`GateResult`.

- :func:`assert_not_worse`, non-inferiority: rejects
  ``H0: candidate <= baseline - margin`` (for a higher-is-better metric).
- :func:`assert_better`, superiority: rejects
  ``H0: candidate <= baseline + margin``.

For metrics in :data:`mushin.result.LOWER_IS_BETTER` (``"ece"``) the
directions flip; ``higher_is_better=`` overrides the registry.

The reported interval is the two-sided ``1 - 2 alpha`` Welch interval of
``mean(candidate) - mean(baseline)``: a gate at ``alpha`` passes exactly when
the interval lies entirely on the passing side of the margin.

Examples
--------
>>> import numpy as np
>>> from mushin import BenchmarkResult
>>> from mushin.testing import assert_not_worse
>>> conf = {"new": [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],
...         "old": [[[9, 1], [2, 8]], [[8, 2], [2, 8]], [[9, 1], [1, 9]]]}
>>> r = BenchmarkResult.from_confusion(conf)
>>> gate = assert_not_worse(r, "new", "old", "miou", margin=0.1)
>>> round(gate.p_value, 4)
0.0431
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _core, stats

__all__ = ["assert_not_worse", "assert_better", "GateResult", "GateFailed"]


class GateResult(NamedTuple):
    """The test behind a gate (returned when it passes)."""

    candidate_mean: float
    baseline_mean: float
    mean_diff: float  # candidate - baseline
    ci_low: float  # two-sided 1 - 2 alpha interval of mean_diff
    ci_high: float
    margin: float
    statistic: float
    df: float
    p_value: float  # one-sided
    alpha: float
    higher_is_better: bool


class GateFailed(AssertionError):
    """A gate that did not pass; ``.gate`` holds the test behind it."""

    def __init__(self, message: str, gate: GateResult):
        super().__init__(message)
        self.gate = gate


def _check_inputs(result: Any, candidate: str, baseline: str, metric: str, margin: Any, alpha: Any) -> float:
    for name, value in (("candidate", candidate), ("baseline", baseline), ("metric", metric)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {value!r}")
    if not hasattr(result, "scores") or not hasattr(result, "methods"):
        raise TypeError(f"result must be a BenchmarkResult, got {type(result).__name__}")
    if candidate == baseline:
        raise ValueError(f"candidate and baseline are both {candidate!r}; compare two different methods")
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.integer, np.floating)):
        raise TypeError(f"margin must be a number, got {margin!r}")
    if not math.isfinite(float(margin)) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    alpha = stats.check_alpha(alpha)
    if alpha >= 0.5:
        raise ValueError(f"a one-sided gate needs alpha < 0.5, got {alpha!r}")
    return alpha


def _one_sided_welch(
    result: Any,
    candidate: str,
    baseline: str,
    metric: str,
    shift: float,
    alpha: float,
    higher: bool,
    margin: float,
) -> GateResult:
    """Welch test of ``candidate + shift`` against ``baseline`` in the metric's good direction."""
    a = result.scores(metric, candidate)  # KeyError names a bad metric or method
    b = result.scores(metric, baseline)
    for name, values in ((candidate, a), (baseline, b)):
        if values.size < 2:
            raise ValueError(
                f"{name!r} has {values.size} finite value(s) of {metric!r}; a gate needs at least "
                "two seeds per method"
            )
    # the Welch interval at 1 - 2 alpha is the two-sided view of a one-sided alpha test
    t, _two_sided, df, _shifted_diff, _d, low, high, _how = _core.two_sample_test(
        "welch", a + shift, b, 1.0 - 2.0 * alpha
    )
    # H1 "candidate is on the good side": upper tail when higher is better
    p = _core.t_sf(t, df) if higher else _core.t_cdf(t, df)
    diff = float(a.mean() - b.mean())
    low, high = low - shift, high - shift  # back to the unshifted difference
    return GateResult(
        candidate_mean=float(a.mean()),
        baseline_mean=float(b.mean()),
        mean_diff=diff,
        ci_low=low,
        ci_high=high,
        margin=margin,
        statistic=float(t),
        df=float(df),
        p_value=float(p),
        alpha=alpha,
        higher_is_better=higher,
    )


def _message(
    headline: str, gate: GateResult, candidate: str, baseline: str, result: Any, metric: str, need: str
) -> str:
    na = result.scores(metric, candidate).size
    nb = result.scores(metric, baseline).size
    direction = "higher" if gate.higher_is_better else "lower"
    level = f"{100 * (1 - 2 * gate.alpha):.10g}%"
    lines = [
        headline,
        f"  {candidate}: mean {gate.candidate_mean:.6g} over {na} seeds",
        f"  {baseline}: mean {gate.baseline_mean:.6g} over {nb} seeds",
        f"  difference {candidate} - {baseline} = {gate.mean_diff:+.6g}, {level} CI "
        f"[{gate.ci_low:+.6g}, {gate.ci_high:+.6g}] ({direction} is better)",
        f"  margin {gate.margin:g}: {need}",
        f"  one-sided Welch t = {gate.statistic:.4g}, df = {gate.df:.4g}, p = {gate.p_value:.4g} "
        f"(alpha = {gate.alpha:g})",
    ]
    if not math.isfinite(gate.p_value):
        lines.append(
            "  the p-value is undefined: both methods scored the same on every seed, and a test "
            "needs seed-to-seed variation"
        )
    return "\n".join(lines)


def _signed(value: float) -> str:
    return "0" if value == 0 else f"{value:+.6g}"


def _direction(metric: str, higher_is_better: Optional[bool]) -> bool:
    from .result import higher_is_better as registry

    if higher_is_better is None:
        return registry(metric)
    if not isinstance(higher_is_better, bool):
        raise TypeError(f"higher_is_better must be True, False or None, got {higher_is_better!r}")
    return higher_is_better


def assert_not_worse(
    result: Any,
    candidate: str,
    baseline: str,
    metric: str,
    margin: float = 0.0,
    alpha: float = 0.05,
    *,
    higher_is_better: Optional[bool] = None,
) -> GateResult:
    """Assert that ``candidate`` is no worse than ``baseline`` by more than ``margin``.

    A one-sided non-inferiority Welch test across seeds: the gate passes
    when ``H0: mean(candidate) <= mean(baseline) - margin`` is rejected at
    ``alpha`` (``>= baseline + margin`` for lower-is-better metrics).  With
    ``margin=0`` it asks for evidence that the candidate is at least as good,
    so pick the largest drop you would accept (e.g. ``0.005`` mIoU).

    Parameters
    ----------
    result : BenchmarkResult
    candidate, baseline : str
        Method names in ``result``.
    metric : str
        A scalar metric of ``result`` (``"miou"``, ``"accuracy"``, ...).
    margin : float
        The non-inferiority margin, in the metric's units (>= 0).
    alpha : float
        Significance level of the one-sided test.
    higher_is_better : bool, optional
        Override the metric's direction (default: ``"ece"`` is
        lower-is-better, everything else higher).

    Returns
    -------
    GateResult
        When the gate passes.

    Raises
    ------
    GateFailed
        An ``AssertionError``, when non-inferiority is not shown; the message
        gives both means, the CI of the difference, the margin and the
        p-value, and ``.gate`` holds them as a :class:`GateResult`.
    ValueError
        A method with fewer than two seeds, a negative margin, a bad alpha.

    Examples
    --------
    In a pytest module::

        def test_new_model_keeps_miou(result):
            assert_not_worse(result, "new", "old", "miou", margin=0.005)
    """
    alpha = _check_inputs(result, candidate, baseline, metric, margin, alpha)
    higher = _direction(metric, higher_is_better)
    margin = float(margin)
    gate = _one_sided_welch(
        result, candidate, baseline, metric, margin if higher else -margin, alpha, higher, margin
    )
    if not gate.p_value < alpha:
        bound = f"> {_signed(-margin)}" if higher else f"< {_signed(margin)}"
        raise GateFailed(
            _message(
                f"{candidate!r} is not shown to be no worse than {baseline!r} on {metric!r}",
                gate,
                candidate,
                baseline,
                result,
                metric,
                f"non-inferiority needs the difference {bound} (the CI entirely on that side)",
            ),
            gate,
        )
    return gate


def assert_better(
    result: Any,
    candidate: str,
    baseline: str,
    metric: str,
    margin: float = 0.0,
    alpha: float = 0.05,
    *,
    higher_is_better: Optional[bool] = None,
) -> GateResult:
    """Assert that ``candidate`` beats ``baseline`` by more than ``margin``.

    A one-sided superiority Welch test across seeds: the gate passes when
    ``H0: mean(candidate) <= mean(baseline) + margin`` is rejected at
    ``alpha`` (``>= baseline - margin`` for lower-is-better metrics).

    Parameters and errors as in :func:`assert_not_worse`; ``margin`` is the
    smallest improvement worth claiming (0: any improvement).

    Examples
    --------
    In a pytest module::

        def test_new_model_improves_miou(result):
            assert_better(result, "new", "old", "miou")
    """
    alpha = _check_inputs(result, candidate, baseline, metric, margin, alpha)
    higher = _direction(metric, higher_is_better)
    margin = float(margin)
    gate = _one_sided_welch(
        result, candidate, baseline, metric, -margin if higher else margin, alpha, higher, margin
    )
    if not gate.p_value < alpha:
        bound = f"> {_signed(margin)}" if higher else f"< {_signed(-margin)}"
        raise GateFailed(
            _message(
                f"{candidate!r} is not shown to be better than {baseline!r} on {metric!r}",
                gate,
                candidate,
                baseline,
                result,
                metric,
                f"superiority needs the difference {bound} (the CI entirely on that side)",
            ),
            gate,
        )
    return gate
