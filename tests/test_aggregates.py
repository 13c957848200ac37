"""rliable's aggregates, computed by mushin's C core, against the rliable package.

Oracle: ``rliable==1.2.0``.  Its ``rliable.metrics`` (IQM, mean, median,
optimality gap, probability of improvement) is checked to 1e-9 on
hypothesis-generated score matrices (ties included).  The bootstrap is
checked on *the same resamples*: mushin exports the indices of resample b
(``_core.stratified_indices``), rliable's functions are applied to the data
at those indices, and the result must equal mushin's resample b; the
interval is the percentile rule of arch's ``conf_int`` that rliable calls.

``rliable.library`` (``StratifiedBootstrap``, the profile functions) cannot
be imported or used here: rliable 1.2.0 pins ``arch < 8``, arch 7.x fails
to import under pandas 3, and arch 8 no longer takes the ``random_state``
rliable passes.  So the profile functions are read from rliable's own
source file (the two functions, unchanged) and the intervals are checked
statistically against bootstraps drawn the way ``StratifiedBootstrap``
draws them (``np.random.choice(runs, (runs, tasks))``) and aggregated by
``rliable.metrics``.
"""
from __future__ import annotations

import ast
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import rliable
from rliable import metrics as rly

from mushin import BenchmarkResult, _core
from mushin.stats import aggregate
from mushin.stats.aggregates import percentile_interval

TOL = 1e-9


def close(got, want, what=""):
    assert abs(got - want) <= TOL * max(1.0, abs(want)), f"{what}: {got!r} vs rliable {want!r}"


@st.composite
def score_matrix(draw, max_runs=9, max_tasks=6, runs=None, tasks=None):
    runs = draw(st.integers(1, max_runs)) if runs is None else runs
    tasks = draw(st.integers(1, max_tasks)) if tasks is None else tasks
    if draw(st.booleans()):
        # a coarse grid: many ties, as seeds of a stable method give
        values = draw(st.lists(st.integers(0, 6), min_size=runs * tasks, max_size=runs * tasks))
        return np.array(values, dtype=float).reshape(runs, tasks) / 8.0
    values = draw(st.lists(st.floats(-50, 150, allow_nan=False), min_size=runs * tasks, max_size=runs * tasks))
    return np.array(values, dtype=float).reshape(runs, tasks)


# ------------------------------------------------------- point estimates --


@settings(max_examples=150)
@given(x=score_matrix(), gamma=st.floats(-20, 120))
def test_point_estimates_equal_rliable(x, gamma):
    close(_core.aggregate(x, "iqm")[0], rly.aggregate_iqm(x), "iqm")
    close(_core.aggregate(x, "mean")[0], rly.aggregate_mean(x), "mean")
    close(_core.aggregate(x, "median")[0], rly.aggregate_median(x), "median")
    close(_core.aggregate(x, "optimality_gap", [gamma])[0], rly.aggregate_optimality_gap(x, gamma), "gap")


@settings(max_examples=80)
@given(data=st.data())
def test_probability_of_improvement_equals_rliable(data):
    tasks = data.draw(st.integers(1, 5))
    x = data.draw(score_matrix(tasks=tasks))
    if data.draw(st.booleans()):
        y = x.copy()  # equal columns: rliable's 0.5 rule
        if data.draw(st.booleans()) and x.size:
            y[0, 0] += 1.0
    else:
        y = data.draw(score_matrix(tasks=tasks))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about tiny samples
        want = rly.probability_of_improvement(x, y)
    close(_core.probability_of_improvement(x, y), want, "probability of improvement")


def test_probability_of_improvement_of_identical_methods_is_one_half():
    x = np.array([[0.5, 0.7], [0.5, 0.6]])
    assert rly.probability_of_improvement(x, x) == 0.5
    assert _core.probability_of_improvement(x, x) == 0.5


# ---------------------------------------------- the same resamples, b by b --


@settings(max_examples=40)
@given(x=score_matrix(), task_bootstrap=st.booleans(), seed=st.integers(0, 2**64 - 1),
       kind=st.sampled_from(["iqm", "mean", "median", "optimality_gap"]))
def test_each_resample_is_rliable_applied_to_our_indices(x, task_bootstrap, seed, kind):
    runs, tasks = x.shape
    params = [0.5] if kind == "optimality_gap" else []
    oracle = {
        "iqm": rly.aggregate_iqm,
        "mean": rly.aggregate_mean,
        "median": rly.aggregate_median,
        "optimality_gap": lambda s: rly.aggregate_optimality_gap(s, 0.5),
    }[kind]
    reps = 25
    ours = _core.stratified_bootstrap(x, kind, params, reps, seed, task_bootstrap, 2)
    for b in range(reps):
        run_idx, task_idx = _core.stratified_indices(runs, tasks, seed, b, task_bootstrap)
        assert run_idx.min() >= 0 and run_idx.max() < runs
        columns = np.arange(tasks) if task_bootstrap is False else task_idx
        # rliable's StratifiedBootstrap indexes data[indices, task_indices]
        close(ours[b, 0], oracle(x[run_idx, columns[None, :]]), f"{kind} resample {b}")


@settings(max_examples=20)
@given(data=st.data())
def test_improvement_resamples_are_rliable_on_our_indices(data):
    # with equal run counts, resample b's x and y indices are the first and
    # second halves of stream b's draws, i.e. stratified_indices of a
    # (runs, 2 * tasks) matrix read in C order
    runs, tasks = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 4))
    x = data.draw(score_matrix(runs=runs, tasks=tasks))
    y = data.draw(score_matrix(runs=runs, tasks=tasks))
    seed = data.draw(st.integers(0, 2**32))
    ours = _core.improvement_bootstrap(x, y, 20, seed, 3)
    for b in range(20):
        flat = _core.stratified_indices(runs, 2 * tasks, seed, b)[0].ravel()
        xi, yi = flat[: runs * tasks].reshape(runs, tasks), flat[runs * tasks:].reshape(runs, tasks)
        cols = np.arange(tasks)[None, :]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = rly.probability_of_improvement(x[xi, cols], y[yi, cols])
        close(ours[b], want, f"resample {b}")


def test_percentile_interval_is_numpys_linear_percentile():
    # rliable's method="percentile" is arch.bootstrap's conf_int: alpha =
    # (1 - size) / 2, then numpy.percentile at 100 * alpha and 100 * (1 - alpha)
    # (2.5000000000000027, not 2.5, in floating point)
    values = np.random.default_rng(3).normal(size=(1001, 3))
    for size in (0.95, 0.9, 0.5):
        alpha = (1.0 - size) / 2
        low, high = percentile_interval(values, size)
        np.testing.assert_array_equal(low, np.percentile(values, 100 * alpha, axis=0))
        np.testing.assert_array_equal(high, np.percentile(values, 100 * (1.0 - alpha), axis=0))


# ----------------------------------------------- threads and reproducibility --


@pytest.mark.parametrize("kind,params", [("iqm", []), ("median", []), ("score_profile", [0.2, 0.5, 0.9])])
def test_bootstrap_is_bit_identical_for_any_thread_count(kind, params):
    x = np.random.default_rng(0).uniform(size=(7, 5))
    runs = [_core.stratified_bootstrap(x, kind, params, 1000, 42, True, t) for t in (1, 2, 3, 8, 64)]
    for other in runs[1:]:
        assert np.array_equal(runs[0], other)
    pairs = [_core.improvement_bootstrap(x, x[::-1] + 0.01, 777, 9, t) for t in (1, 4, 13)]
    assert all(np.array_equal(pairs[0], p) for p in pairs[1:])


def test_another_seed_gives_other_resamples_and_the_same_seed_the_same():
    x = np.random.default_rng(1).uniform(size=(6, 3))
    a = _core.stratified_bootstrap(x, "iqm", [], 200, 1, False, 2)
    assert np.array_equal(a, _core.stratified_bootstrap(x, "iqm", [], 200, 1, False, 2))
    assert not np.array_equal(a, _core.stratified_bootstrap(x, "iqm", [], 200, 2, False, 2))


def test_bootstrap_intervals_cover_a_known_mean():
    # 4 runs on each of 50 tasks from N(0.3, 0.1^2): the 95% interval of
    # the mean must hold 0.3 (a loose, failing-when-wrong sanity check)
    x = np.random.default_rng(5).normal(0.3, 0.1, size=(4, 50))
    low, high = percentile_interval(_core.stratified_bootstrap(x, "mean", [], 4000, 0, False, 2)[:, 0], 0.95)
    assert low < 0.3 < high and high - low < 0.05


# ------------------------------------------------------------ public API --


def _result(rng, methods="abc", seeds=3, shift=None):
    shift = shift or {}
    conf = {}
    for i, m in enumerate(methods):
        conf[m] = []
        for _ in range(seeds):
            good = 40 + 10 * shift.get(m, i) + rng.integers(0, 8)
            conf[m].append([[good, 60 - good // 2], [20, good]])
    return BenchmarkResult.from_confusion(conf)


def test_aggregate_of_results_stacks_the_evaluation_sets_as_columns(rng):
    sets = {f"set{i}": _result(rng) for i in range(4)}
    agg = aggregate(sets, "miou", reps=300)
    assert agg.sets == list(sets) and agg.methods == ["a", "b", "c"]
    for j, r in enumerate(sets.values()):
        np.testing.assert_array_equal(agg.scores["b"][:, j], r.scores("miou", "b"))
    table = agg.table()
    assert list(table.columns) == ["method", "aggregate", "estimate", "ci_low", "ci_high"]
    row = table[(table["method"] == "a") & (table["aggregate"] == "iqm")].iloc[0]
    close(row.estimate, rly.aggregate_iqm(agg.scores["a"]), "iqm of the results")
    assert row.ci_low <= row.estimate <= row.ci_high


def test_summary_is_the_ranking_for_three_methods_on_several_sets(rng):
    sets = [_result(rng) for _ in range(5)]
    agg = aggregate(sets, "miou", reps=100)
    assert agg.ranking is not None
    assert list(agg.summary().columns) == ["method", "mean_rank", "mean_score", "beats"]
    two = aggregate([_result(rng, "ab") for _ in range(5)], "miou", reps=100)
    assert two.ranking is None and "aggregate" in two.summary().columns
    one_set = aggregate(_result(rng), "miou", reps=100)
    assert one_set.ranking is None


def test_improvement_follows_the_metric_direction():
    higher = aggregate({"a": [[0.9], [0.8]], "b": [[0.1], [0.2]]}, reps=50)
    assert higher.improvement().query("method_a == 'a'")["probability"].item() == 1.0
    ds = pd.DataFrame({"method": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "value": [0.9, 0.8, 0.1, 0.2]})
    data = ds.set_index(["method", "seed"]).to_xarray().rename({"value": "ece"})
    data["ece"].attrs["higher_is_better"] = 0
    lower = aggregate(data, reps=50)
    assert lower.improvement().query("method_a == 'a'")["probability"].item() == 0.0


def test_profiles_count_scores_above_each_threshold():
    agg = aggregate({"a": [[0.1, 0.5], [0.3, 0.9]], "b": [[0.2, 0.2], [0.2, 0.2]]}, reps=50)
    prof = agg.profiles([0.0, 0.25, 0.6, 1.0])
    assert prof.query("method == 'a'")["fraction"].tolist() == [1.0, 0.75, 0.25, 0.0]
    avg = agg.profiles([0.25], average=True)  # per-set means: 0.2 and 0.7
    assert avg.query("method == 'a'")["fraction"].tolist() == [0.5]


def test_bad_scores_are_refused_with_the_method_and_position():
    with pytest.raises(ValueError, match=r"method 'b'.*seed position 1.*set 0.*nan"):
        aggregate({"a": [[0.1], [0.2]], "b": [[0.1], [math.nan]]})
    with pytest.raises(ValueError, match="same evaluation sets"):
        aggregate({"a": [[0.1, 0.2]], "b": [[0.1]]})
    with pytest.raises(ValueError, match="reps must be a positive int"):
        aggregate({"a": [0.1], "b": [0.2]}, reps=0)
    with pytest.raises(ValueError, match="seed must be an int"):
        aggregate({"a": [0.1], "b": [0.2]}, seed=-1)
    with pytest.raises(TypeError, match="expected a BenchmarkResult"):
        aggregate(42)
    with pytest.raises(ValueError, match=r"scores\[0, 1\] is inf"):
        _core.aggregate(np.array([[0.0, np.inf]]), "iqm")
    with pytest.raises(ValueError, match="optimality_gap takes one parameter"):
        _core.aggregate(np.ones((2, 2)), "optimality_gap")
    with pytest.raises(ValueError, match="unknown aggregate"):
        _core.aggregate(np.ones((2, 2)), "trimmed")


def test_results_with_different_seed_counts_are_refused(rng):
    with pytest.raises(ValueError, match="same seeds in every set"):
        aggregate([_result(rng, seeds=3), _result(rng, seeds=4)], "miou")
    with pytest.raises(ValueError, match="same methods"):
        aggregate([_result(rng, "abc"), _result(rng, "abd")], "miou")


def test_plot_profiles_draws_one_curve_per_method(rng):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = _result(rng)
    ax = r.plot_profiles("miou", reps=100)
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b", "c"]
    plt.close("all")


# ------------------------------------------------ performance profiles --


def _rliable_profile_functions():
    """rliable.library's run_score_deviation and mean_score_deviation, taken
    verbatim from its source (the module's arch import fails here)."""
    source = (Path(rliable.__file__).parent / "library.py").read_text()
    wanted = {"run_score_deviation", "mean_score_deviation"}
    nodes = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    assert {n.name for n in nodes} == wanted
    namespace = {"np": np, "Float": float}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "rliable/library.py", "exec"), namespace)
    return namespace["run_score_deviation"], namespace["mean_score_deviation"]


@settings(max_examples=60)
@given(x=score_matrix(), taus=st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 0.625, 1.0, 60.0]) | st.floats(-60, 160),
                                       min_size=1, max_size=8))
def test_profiles_equal_rliable_score_distributions(x, taus):
    run_score, mean_score = _rliable_profile_functions()
    got = _core.aggregate(x, "score_profile", taus)
    got_avg = _core.aggregate(x, "average_profile", taus)
    for i, tau in enumerate(taus):
        assert got[i] == run_score(x, tau), (tau, got[i])
        assert got_avg[i] == mean_score(x, tau), (tau, got_avg[i])


# ------------------------------------------- intervals, statistically --


def test_intervals_agree_statistically_with_rliable_style_resamples():
    rng = np.random.default_rng(11)
    scores = {"a": rng.normal(0.6, 0.08, size=(5, 8)), "b": rng.normal(0.5, 0.1, size=(5, 8))}
    reps = 3000
    table = aggregate(scores, reps=reps, seed=3).table()
    np.random.seed(0)
    for m, x in scores.items():
        runs, tasks = x.shape
        cols = np.arange(tasks)[None, :]
        boots = np.array([rly.aggregate_iqm(x[np.random.choice(runs, (runs, tasks)), cols]) for _ in range(reps)])
        low, high = np.percentile(boots, [2.5, 97.5])
        row = table[(table["method"] == m) & (table["aggregate"] == "iqm")].iloc[0]
        width = high - low
        # two independent 3000-resample runs: the standard deviation of the
        # difference of their 2.5% quantiles is about 2% of the interval's
        # width (normal approximation), so 10% is five of them
        assert abs(row["ci_low"] - low) <= 0.1 * width, (row["ci_low"], low)
        assert abs(row["ci_high"] - high) <= 0.1 * width, (row["ci_high"], high)
