"""mushin.testing gates: pass, fail and explain; p-values against scipy's one-sided Welch test."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from mushin import BenchmarkResult
from mushin.metrics.tasks import Task, get_task, with_direction
from mushin.testing import GateFailed, GateResult, assert_better, assert_not_worse
from stat_oracles import accuracy

# building results with constant or single-seed methods warns (tested elsewhere)
pytestmark = [
    pytest.mark.filterwarnings("ignore:method .* scored .* on every seed:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*significance needs at least two seeds:UserWarning"),
]

N = 10_000  # pixels per confusion matrix: scores are multiples of 1e-4


# the same score under two declared directions: "acc" higher-is-better, "ece" lower
TASK = Task(
    {"acc": with_direction(accuracy, True), "ece": with_direction(accuracy, False)},
    get_task("segmentation").predict_fn,
    name="gates-test",
)


def _result(scores):
    """A result whose per-seed 'acc' (and 'ece') are exactly ``scores[method]`` (multiples of 1/N)."""
    conf = {}
    for method, values in scores.items():
        hits = [int(round(v * N)) for v in values]
        conf[method] = [[[h, N - h], [0, 0]] for h in hits]
    return BenchmarkResult.from_confusion(conf, task=TASK)


def _oracle(a, b, shift, alternative):
    return scipy.stats.ttest_ind(np.asarray(a) + shift, b, equal_var=False, alternative=alternative)


def _run(gate, *args, **kwargs):
    """(passed, GateResult) whichever way the gate went."""
    try:
        return True, gate(*args, **kwargs)
    except GateFailed as failure:
        return False, failure.gate


CASES = [
    # (gate, metric, margin, shift of candidate for the oracle, alternative)
    (assert_not_worse, "acc", 0.02, +1, "greater"),
    (assert_not_worse, "ece", 0.02, -1, "less"),
    (assert_better, "acc", 0.01, -1, "greater"),
    (assert_better, "ece", 0.01, +1, "less"),
]


@pytest.mark.parametrize("gate, metric, margin, sign, alternative", CASES)
@pytest.mark.parametrize("seed", range(6))
def test_p_value_matches_scipy_one_sided_welch(gate, metric, margin, sign, alternative, seed):
    rng = np.random.default_rng(seed)
    na, nb = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    a = np.round(rng.normal(0.70, rng.uniform(0.002, 0.03), na), 4)
    b = np.round(rng.normal(0.70 + rng.uniform(-0.03, 0.03), rng.uniform(0.002, 0.03), nb), 4)
    r = _result({"new": a, "old": b})
    a, b = r.scores(metric, "new"), r.scores(metric, "old")
    oracle = _oracle(a, b, sign * margin, alternative)
    passed, res = _run(gate, r, "new", "old", metric, margin=margin, alpha=0.05)
    assert res.p_value == pytest.approx(oracle.pvalue, rel=1e-8, abs=1e-300)
    assert res.statistic == pytest.approx(oracle.statistic, rel=1e-10)
    assert res.df == pytest.approx(oracle.df, rel=1e-10)
    assert passed == (oracle.pvalue < 0.05)
    ci = scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.90)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert res.mean_diff == pytest.approx(a.mean() - b.mean(), abs=1e-15)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy on near-constant scores
@settings(max_examples=40)
@given(
    a=st.lists(st.integers(5000, 9000), min_size=2, max_size=6),
    b=st.lists(st.integers(5000, 9000), min_size=2, max_size=6),
    margin=st.sampled_from([0.0, 0.001, 0.01, 0.05]),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_non_inferiority_agrees_with_scipy_on_generated_scores(a, b, margin, alpha):
    if len(set(a)) == 1 and len(set(b)) == 1:
        return  # no variation at all: covered by the undefined-p test
    r = _result({"new": [v / N for v in a], "old": [v / N for v in b]})
    sa, sb = r.scores("acc", "new"), r.scores("acc", "old")
    oracle = _oracle(sa, sb, margin, "greater")
    passed, res = _run(assert_not_worse, r, "new", "old", "acc", margin=margin, alpha=alpha)
    assert res.p_value == pytest.approx(oracle.pvalue, rel=1e-8, abs=1e-300)
    assert passed == (oracle.pvalue < alpha)
    # the gate passes exactly when the 1 - 2 alpha CI lies above -margin
    ci = scipy.stats.ttest_ind(sa, sb, equal_var=False).confidence_interval(1 - 2 * alpha)
    if abs(ci.low + margin) > 1e-9:
        assert passed == (ci.low > -margin)


# ------------------------------------------------------------ pass / fail --

NEW = [0.801, 0.805, 0.803, 0.807]
OLD = [0.790, 0.794, 0.792, 0.788]


def test_gates_pass_on_a_real_improvement():
    r = _result({"new": NEW, "old": OLD})
    better = assert_better(r, "new", "old", "acc")
    assert isinstance(better, GateResult) and better.p_value < 0.05
    assert assert_not_worse(r, "new", "old", "acc").p_value < 1e-3
    # and the reverse fails both ways round
    with pytest.raises(AssertionError):
        assert_better(r, "old", "new", "acc")
    with pytest.raises(AssertionError):
        assert_not_worse(r, "old", "new", "acc", margin=0.005)
    # unless the margin covers the gap
    assert assert_not_worse(r, "old", "new", "acc", margin=0.02).p_value < 0.05


def test_failure_message_explains_everything():
    r = _result({"new": OLD, "old": NEW})
    with pytest.raises(AssertionError) as info:
        assert_not_worse(r, "new", "old", "acc", margin=0.005)
    a, b = np.array(OLD), np.array(NEW)
    oracle = _oracle(a, b, 0.005, "greater")
    ci = scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.90)
    lines = str(info.value).splitlines()
    assert lines[0] == "'new' is not shown to be no worse than 'old' on 'acc'"
    assert lines[1] == f"  new: mean {a.mean():.6g} over 4 seeds"
    assert lines[2] == f"  old: mean {b.mean():.6g} over 4 seeds"
    assert lines[3] == (
        f"  difference new - old = {a.mean() - b.mean():+.6g}, 90% CI [{ci.low:+.6g}, {ci.high:+.6g}] "
        "(higher is better)"
    )
    assert lines[4] == "  margin 0.005: non-inferiority needs the difference > -0.005 (the CI entirely on that side)"
    assert lines[5] == (
        f"  one-sided Welch t = {oracle.statistic:.4g}, df = {oracle.df:.4g}, p = {oracle.pvalue:.4g} (alpha = 0.05)"
    )


def test_failure_message_of_assert_better_for_a_lower_is_better_metric():
    r = _result({"new": NEW, "old": OLD})  # higher 'ece' is worse
    with pytest.raises(AssertionError) as info:
        assert_better(r, "new", "old", "ece", margin=0.001)
    text = str(info.value)
    assert text.startswith("'new' is not shown to be better than 'old' on 'ece'")
    assert "(lower is better)" in text
    assert "superiority needs the difference < -0.001" in text
    assert assert_better(r, "old", "new", "ece", margin=0.001).p_value < 0.05


def test_higher_is_better_override():
    r = _result({"new": NEW, "old": OLD})
    assert assert_better(r, "new", "old", "ece", higher_is_better=True).higher_is_better is True
    with pytest.raises(AssertionError, match="lower is better"):
        assert_better(r, "new", "old", "acc", higher_is_better=False)


def test_identical_constant_methods_fail_both_gates():
    r = _result({"new": [0.8, 0.8, 0.8], "old": [0.8, 0.8, 0.8]})
    with pytest.raises(AssertionError, match="not shown to be no worse"):
        assert_not_worse(r, "new", "old", "acc")
    with pytest.raises(AssertionError, match="not shown to be better"):
        assert_better(r, "new", "old", "acc")


def test_gates_usable_straight_in_a_test_function():
    r = _result({"new": NEW, "old": OLD})

    def test_regression():  # what a user writes
        assert_not_worse(r, "new", "old", "acc", margin=0.005)
        assert_better(r, "new", "old", "acc")

    test_regression()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"candidate": "nope"}, KeyError, "no method 'nope'"),
        ({"metric": "miou_x"}, KeyError, "no metric 'miou_x'"),
        ({"baseline": "new"}, ValueError, "both 'new'"),
        ({"margin": -0.1}, ValueError, "margin must be a finite number >= 0"),
        ({"margin": math.inf}, ValueError, "margin must be a finite number >= 0"),
        ({"margin": "0.1"}, TypeError, "margin must be a number"),
        ({"alpha": 1.5}, ValueError, "alpha must be in"),
        ({"higher_is_better": "yes"}, TypeError, "higher_is_better must be"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    r = _result({"new": NEW, "old": OLD})
    args = {"result": r, "candidate": "new", "baseline": "old", "metric": "acc", **kwargs}
    for gate in (assert_not_worse, assert_better):
        with pytest.raises(error, match=match):
            gate(**args)


def test_one_seed_is_not_enough():
    r = _result({"new": NEW, "old": OLD[:1]})
    with pytest.raises(ValueError, match="'old' has 1 finite value"):
        assert_not_worse(r, "new", "old", "acc")
