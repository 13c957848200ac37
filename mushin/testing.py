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

The direction is the metric's own: the ``higher_is_better`` its battery
entry declared, carried in the result (``result.higher_is_better(metric)``);
for a lower-is-better metric such as ``"ece"`` the inequalities flip.  A
metric that declares no direction makes a gate raise ``ValueError`` until it
does; ``higher_is_better=`` overrides the metric.

The reported interval is the two-sided ``1 - 2 alpha`` Welch interval of
``mean(candidate) - mean(baseline)``: a gate at ``alpha`` passes exactly when
the interval lies entirely on the passing side of the margin.

Gates follow the comparisons table's rules for degenerate scores: a method
constant across seeds against a varying one is tested as usual; a method
with one seed raises ``ValueError`` ("n/a: one seed"); two methods that are
both constant fail with the table's reason ("n/a: no variance on either
side", or p = 1 when equal).  With ``margin=0`` the gate's one-sided p-value
is the table's two-sided Welch ``p_value`` halved when the difference lies
on the good side (``1 - p_value / 2`` otherwise), so ``alpha=a / 2`` passes
exactly when an uncorrected Welch table calls the pair significant at ``a``
in the good direction.

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
    __tracebackhide__ = True
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
    __tracebackhide__ = True
    a = result.scores(metric, candidate)  # KeyError names a bad metric or method
    b = result.scores(metric, baseline)
    for name, values in ((candidate, a), (baseline, b)):
        if values.size < 2:
            raise ValueError(
                f"{name!r} has {values.size} finite value(s) of {metric!r}; a gate needs at least "
                f"two seeds per method ({stats.NA_ONE_SEED}, as in result.comparisons)"
            )
    # the Welch interval at 1 - 2 alpha is the two-sided view of a one-sided alpha test
    t, _two_sided, df, _shifted_diff, _d, low, high, _how = _core.two_sample_test(
        "welch", a + shift, b, 1.0 - 2.0 * alpha
    )
    # H1 "candidate is on the good side": upper tail when higher is better
    p = _core.t_sf(t, df) if higher else _core.t_cdf(t, df)
    # both constant: decided as the comparisons table decides it (on the
    # scores themselves, not the margin-shifted ones), never by a 0/0 t
    if stats.untested_reason(a, b):
        p = math.nan
    elif np.all(a == a[0]) and np.all(b == b[0]):
        p = 1.0
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
    a, b = result.scores(metric, candidate), result.scores(metric, baseline)
    if np.all(a == a[0]) and np.all(b == b[0]):
        reason = stats.untested_reason(a, b)
        lines.append(
            f"  {reason or 'p = 1'}: both methods scored the same on every seed "
            f"({candidate}: {a[0]:.6g}, {baseline}: {b[0]:.6g}), so there is no seed-to-seed "
            "variation to test against; result.comparisons shows this pair the same way"
        )
    return "\n".join(lines)


def _signed(value: float) -> str:
    return "0" if value == 0 else f"{value:+.6g}"


def _direction(result: Any, metric: str, higher_is_better: Optional[bool]) -> bool:
    __tracebackhide__ = True
    if higher_is_better is None:
        # KeyError for an unknown metric; ValueError (how to declare it) when
        # the metric never said which way is better
        return result.higher_is_better(metric)
    if not isinstance(higher_is_better, bool):
        raise TypeError(f"higher_is_better must be True, False or None, got {higher_is_better!r}")
    return higher_is_better


def _gate(
    result: Any,
    candidate: str,
    baseline: str,
    metric: str,
    margin: float,
    alpha: float,
    higher_is_better: Optional[bool],
    *,
    better: bool,
) -> GateResult:
    """The body of both gates: ``better`` asks for superiority by more than
    ``margin``, otherwise non-inferiority within ``margin``."""
    __tracebackhide__ = True
    alpha = _check_inputs(result, candidate, baseline, metric, margin, alpha)
    result.scores(metric, candidate)  # KeyError names a bad metric or method first
    result.scores(metric, baseline)
    higher = _direction(result, metric, higher_is_better)
    margin = float(margin)
    # what the difference must pass, in the metric's better direction
    threshold = margin if better else -margin
    gate = _one_sided_welch(
        result, candidate, baseline, metric, -threshold if higher else threshold, alpha, higher, margin
    )
    if not gate.p_value < alpha:
        bound = f"> {_signed(threshold)}" if higher else f"< {_signed(-threshold)}"
        claim, test = ("better than", "superiority") if better else ("no worse than", "non-inferiority")
        raise GateFailed(
            _message(
                f"{candidate!r} is not shown to be {claim} {baseline!r} on {metric!r}",
                gate,
                candidate,
                baseline,
                result,
                metric,
                f"{test} needs the difference {bound} (the CI entirely on that side)",
            ),
            gate,
        )
    return gate


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
        Override the metric's direction (default: the direction the metric
        declared, ``result.higher_is_better(metric)``).

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
        A method with fewer than two seeds, a negative margin, a bad alpha,
        a metric that declares no direction (without ``higher_is_better=``).

    Examples
    --------
    In a pytest module::

        def test_new_model_keeps_miou(result):
            assert_not_worse(result, "new", "old", "miou", margin=0.005)
    """
    __tracebackhide__ = True  # a failing gate shows the user's call, not this function
    return _gate(result, candidate, baseline, metric, margin, alpha, higher_is_better, better=False)


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
    __tracebackhide__ = True  # a failing gate shows the user's call, not this function
    return _gate(result, candidate, baseline, metric, margin, alpha, higher_is_better, better=True)
