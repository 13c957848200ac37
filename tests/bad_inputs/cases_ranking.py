"""Bad input to the aggregates, rankings and seed planner (mushin.stats) and
to their C functions: each names the argument and the position at fault."""

from bad_input_case import case

_SETUP = (
    "from mushin import stats\n"
    "import pandas as pd\n"
    "good = {'a': [[0.7, 0.5], [0.72, 0.52]], 'b': [[0.6, 0.4], [0.61, 0.42]]}\n"
    "table = pd.DataFrame({'a': [0.7, 0.5, 0.6], 'b': [0.6, 0.4, 0.5], 'c': [0.5, 0.3, 0.4]})\n"
)
_STATE = "(repr(good), table.to_json())"


def _case(id, call, error, match):
    return case(f"ranking_{id}", _SETUP, call, error, match, _STATE)


CASES = [
    _case("aggregate_nan_score", "stats.aggregate({'a': [[0.1], [float('nan')]], 'b': [[0.2], [0.3]]})",
          "ValueError", r"method 'a': the score of seed position 1 in evaluation set 0 is nan"),
    _case("aggregate_sets_differ", "stats.aggregate({'a': [[0.1, 0.2]], 'b': [[0.1]]})",
          "ValueError", r"same evaluation sets \(columns\); got \{'a': 2, 'b': 1\}"),
    _case("aggregate_bad_reps", "stats.aggregate(good, reps=0)", "ValueError", "reps must be a positive int"),
    _case("aggregate_bad_confidence", "stats.aggregate(good, confidence=1.5)", "ValueError", "confidence must be in"),
    _case("aggregate_not_scores", "stats.aggregate('scores')", "TypeError", "expected a BenchmarkResult"),
    _case("rank_two_methods", "stats.rank_methods(table[['a', 'b']])", "ValueError", "at least 3 methods"),
    _case("rank_nan", "t = table.copy(); t.loc[1, 'c'] = float('nan'); stats.rank_methods(t)",
          "ValueError", r"method 'c' on evaluation set 1"),
    _case("rank_unknown_posthoc", "stats.rank_methods(table, test='dunn')", "ValueError", "unknown post-hoc test 'dunn'"),
    _case("plan_bad_power", "stats.seeds_needed(good, power=0)", "ValueError", r"power must be in \(0, 1\)"),
    _case("plan_bad_test", "stats.seeds_needed(good, test='t')", "ValueError", "unknown test 't'"),
    _case("core_bootstrap_inf", "_core.stratified_bootstrap(np.array([[1.0, np.inf]]), 'iqm', [], 10, 0)",
          "ValueError", r"scores\[0, 1\] is inf"),
    _case("core_bootstrap_threads", "_core.stratified_bootstrap(np.ones((2, 2)), 'iqm', [], 10, 0, False, 0)",
          "ValueError", "num_threads must be 1 to 64"),
    _case("core_improvement_tasks", "_core.probability_of_improvement(np.ones((2, 2)), np.ones((2, 3)))",
          "ValueError", r"same tasks \(columns\), got 2 and 3"),
    _case("core_friedman_empty", "_core.friedman(np.ones((0, 3)))", "ValueError", "at least one row"),
    _case("core_rank_power_alpha", "_core.rank_test_power('wilcoxon', 5, 1.0, 1.0, 1.0, 1.5, 10, 0)",
          "ValueError", r"alpha in \(0, 1\)"),
]
