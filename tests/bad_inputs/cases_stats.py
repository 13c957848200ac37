"""Bad input to the statistics: mushin.stats, the gates in mushin.testing,
BenchmarkResult's methods and metric directions."""

from bad_input_case import case

_STATS = "from mushin import stats\n"

_RESULT = (
    "from mushin import BenchmarkResult, stats\n"
    "from mushin.testing import assert_better, assert_not_worse\n"
    "from mushin.metrics.tasks import Task, get_task, with_direction\n"
    "conf = {'new': [[[9, 1], [1, 9]], [[8, 2], [1, 9]], [[9, 1], [2, 8]]],\n"
    "        'old': [[[5, 5], [4, 6]], [[6, 4], [5, 5]], [[5, 5], [5, 5]]]}\n"
    "r = BenchmarkResult.from_confusion(conf)\n"
    "def err(counts, ignore_index=None):\n"
    "    c = np.asarray(counts, dtype=float)\n"
    "    return 1.0 - float(np.trace(c) / c.sum())\n"
    "u = BenchmarkResult.from_confusion(conf, task=Task({'err': err}, get_task('segmentation').predict_fn, name='cat-undeclared'))\n"
    "flat = BenchmarkResult.from_confusion({'a': [[[9, 1], [1, 9]]] * 3, 'b': [[[5, 5], [5, 5]]] * 3})\n"
    "single = BenchmarkResult.from_confusion({'new': conf['new'], 'old': conf['old'][:1]})\n"
)
# everything a failing call could have touched on the results
_STATE = "(r.comparisons.to_json(), repr(r.settings), u.comparisons.to_json(), r.data.to_dict()['attrs'])"

_TASKS = "from mushin.metrics.tasks import Task, StreamingMetric, calibration_bins, get_task, with_direction, accuracy\n"


def _stats(id, call, error, match):
    return case(f"stats_{id}", _STATS, call, error, match)


def _result(id, call, error, match):
    return case(f"stats_{id}", _RESULT, call, error, match, _STATE)


CASES = [
    # ------------------------------------------------- the tests themselves
    _stats("welch_two_dim_a", "stats.welch([[0.1, 0.2], [0.3, 0.4]], [0.1, 0.2, 0.3])", "ValueError", r"a must be a 1-d sequence of scores, got shape \(2, 2\)"),
    _stats("welch_empty_b", "stats.welch([0.1, 0.2, 0.3], [])", "ValueError", r"b is empty"),
    _stats("welch_nan_in_a", "stats.welch([0.1, float('nan'), 0.3], [0.1, 0.2, 0.3])", "ValueError", r"a contains NaN at positions \[1\]"),
    _stats("ttest_ind_inf_in_b", "stats.ttest_ind([0.1, 0.2], [0.1, float('inf')])", "ValueError", r"b contains NaN or inf at positions \[1\]"),
    _stats("welch_string_scores", "stats.welch('abc', [0.1, 0.2])", "TypeError", r"a must be a 1-d sequence of numbers, got str"),
    _stats("mannwhitney_none_score", "stats.mannwhitney([None, 0.1], [0.1, 0.2])", "ValueError", r"a contains NaN at positions \[0\]"),
    _stats("ttest_rel_unequal_lengths", "stats.ttest_rel([0.1, 0.2, 0.3], [0.1, 0.2])", "ValueError", r"ttest_rel is a paired test.*got 3 and 2"),
    _stats("wilcoxon_unequal_lengths", "stats.wilcoxon([0.1, 0.2], [0.1, 0.2, 0.3])", "ValueError", r"wilcoxon is a paired test.*got 2 and 3"),
    _stats("welch_confidence_one", "stats.welch([0.1, 0.2], [0.3, 0.4], confidence=1.0)", "ValueError", r"confidence must be in \(0, 1\), got 1\.0"),
    _stats("welch_confidence_text", "stats.welch([0.1, 0.2], [0.3, 0.4], confidence='high')", "TypeError", r"confidence must be a number in \(0, 1\), got 'high'"),
    _stats("cohens_dz_unequal_lengths", "stats.cohens_dz([0.1, 0.2, 0.3], [0.1, 0.2])", "ValueError", r"cohens_dz needs paired scores, got 3 and 2"),
    _stats("mean_ci_empty", "stats.mean_ci([])", "ValueError", r"x is empty"),
    _stats("min_pvalue_unknown_test", "stats.min_pvalue('ttest', 3)", "ValueError", r"unknown test 'ttest'"),
    _stats("min_pvalue_negative_seeds", "stats.min_pvalue('wilcoxon', -1)", "ValueError", r"n_a must be a non-negative int, got -1"),
    _stats("min_pvalue_bool_seeds", "stats.min_pvalue('mannwhitney', 3, True)", "ValueError", r"n_b must be a non-negative int, got True"),
    _stats("check_design_paired_unequal", "stats.check_design('wilcoxon', {'a': 3, 'b': 4})", "ValueError", r"test='wilcoxon' is paired.*'a': 3, 'b': 4"),
    # ------------------------------------------------------- corrections
    _stats("correct_two_dim_family", "stats.correct([[0.01, 0.2], [0.03, 0.04]], 'holm')", "ValueError", r"pvalues must be 1-d .*got shape \(2, 2\)"),
    _stats("correct_scalar", "stats.correct(0.01, 'bonferroni')", "ValueError", r"pvalues must be 1-d .*got shape \(\)"),
    _stats("correct_unknown_method", "stats.correct([0.01, 0.2], 'sidak')", "ValueError", r"unknown correction 'sidak'"),
    _stats("correct_p_above_one", "stats.correct([0.1, 1.5], 'fdr_bh')", "ValueError", r"fdr_bh: p-values must lie in \[0, 1\]"),
    _stats("correct_text_pvalues", "stats.correct(['low', 'high'], 'holm')", "TypeError", r"pvalues must be a sequence of numbers, got list"),
    # ---------------------------------------------------- compare_scores
    _stats("compare_scores_one_method", "stats.compare_scores({'a': [0.1, 0.2]})", "ValueError", r"need at least two methods to compare, got \['a'\]"),
    _stats("compare_scores_list", "stats.compare_scores([[0.1, 0.2], [0.3, 0.4]])", "TypeError", r"scores must be a \{method: per-seed values\} mapping.*got list"),
    _stats("compare_scores_alpha_above_one", "stats.compare_scores({'a': [0.1, 0.2], 'b': [0.3, 0.4]}, alpha=1.5)", "ValueError", r"alpha must be in \(0, 1\), got 1\.5"),
    _stats("compare_scores_unknown_test", "stats.compare_scores({'a': [0.1, 0.2], 'b': [0.3, 0.4]}, test='t')", "ValueError", r"unknown test 't'"),
    _stats("compare_scores_unknown_correction", "stats.compare_scores({'a': [0.1, 0.2], 'b': [0.3, 0.4]}, correction='fdr')", "ValueError", r"unknown correction 'fdr'"),
    _stats("compare_scores_paired_unequal", "stats.compare_scores({'a': [0.1, 0.2, 0.3], 'b': [0.3, 0.4]}, test='ttest_rel')", "ValueError", r"test='ttest_rel' is paired.*'a': 3, 'b': 2"),
    _stats("compare_scores_nan_in_mapping", "stats.compare_scores({'a': [0.1, float('nan')], 'b': [0.3, 0.4]})", "ValueError", r"scores\['a'\] contains NaN at positions \[1\]"),
    _stats("compare_scores_frame_nan", "import pandas as pd\nstats.compare_scores(pd.DataFrame({'method': ['a', 'a', 'b', 'b'], 'seed': [0, 1, 0, 1], 'value': [0.1, float('nan'), 0.3, 0.4]}))", "ValueError", r"1 score\(s\) are NaN or inf, first at method='a', seed=1"),
    _stats("compare_scores_frame_duplicate", "import pandas as pd\nstats.compare_scores(pd.DataFrame({'method': ['a', 'a', 'b'], 'seed': [0, 0, 0], 'value': [0.1, 0.2, 0.3]}))", "ValueError", r"more than one score for method='a', seed=0"),
    _stats("compare_scores_frame_no_value", "import pandas as pd\nstats.compare_scores(pd.DataFrame({'method': ['a', 'b'], 'score': [0.1, 0.2]}))", "ValueError", r"missing \['value'\]"),
    _stats("compare_scores_dataset_dims", "import xarray as xr\nstats.compare_scores(xr.Dataset({'acc': (('model', 'run'), np.zeros((2, 3)))}))", "ValueError", r"needs dims \(method, seed\), got \('model', 'run'\)"),
    # -------------------------------------------------------------- gates
    _result("gate_unknown_method", "assert_better(r, 'nope', 'old', 'miou')", "KeyError", r"no method 'nope'"),
    _result("gate_unknown_metric", "assert_not_worse(r, 'new', 'old', 'mIoU')", "KeyError", r"no metric 'mIoU'"),
    _result("gate_same_method", "assert_better(r, 'new', 'new', 'miou')", "ValueError", r"candidate and baseline are both 'new'"),
    _result("gate_negative_margin", "assert_not_worse(r, 'new', 'old', 'miou', margin=-0.1)", "ValueError", r"margin must be a finite number >= 0, got -0\.1"),
    _result("gate_alpha_half", "assert_better(r, 'new', 'old', 'miou', alpha=0.5)", "ValueError", r"a one-sided gate needs alpha < 0\.5, got 0\.5"),
    _result("gate_not_a_result", "assert_better({'new': [0.9]}, 'new', 'old', 'miou')", "TypeError", r"result must be a BenchmarkResult, got dict"),
    _result("gate_candidate_not_str", "assert_better(r, 3, 'old', 'miou')", "TypeError", r"candidate must be a str, got 3"),
    _result("gate_direction_text", "assert_better(r, 'new', 'old', 'miou', higher_is_better='yes')", "TypeError", r"higher_is_better must be True, False or None, got 'yes'"),
    _result("gate_one_seed", "assert_better(single, 'new', 'old', 'miou')", "ValueError", r"'old' has 1 finite value\(s\) of 'miou'.*n/a: one seed"),
    _result("gate_both_constant", "assert_better(flat, 'a', 'b', 'miou')", "AssertionError", r"'a' is not shown to be better than 'b' on 'miou'[\s\S]*n/a: no variance on either side"),
    _result("gate_undeclared_direction", "assert_better(u, 'new', 'old', 'err')", "ValueError", r"metric 'err' does not declare whether higher is better.*higher_is_better=False"),
    # ------------------------------------------------- BenchmarkResult
    _result("result_summary_unknown_reference", "r.summary(reference='zzz')", "ValueError", r"reference 'zzz' is not one of the methods \['new', 'old'\]"),
    _result("result_reanalyze_unknown_test", "r.reanalyze(test='welsh')", "ValueError", r"unknown test 'welsh'"),
    _result("result_reanalyze_alpha_zero", "r.reanalyze(alpha=0)", "ValueError", r"alpha must be in \(0, 1\), got 0"),
    _result("result_reanalyze_unknown_correction", "r.reanalyze(correction='BH')", "ValueError", r"unknown correction 'BH'"),
    _result("result_rank_undeclared", "u.rank('err')", "ValueError", r"metric 'err' does not declare whether higher is better"),
    _result("result_rank_unknown_metric", "r.rank('accuracy')", "KeyError", r"no metric 'accuracy'"),
    _result("result_markdown_undeclared", "u.to_markdown()", "ValueError", r"metric 'err' does not declare whether higher is better.*bold_best=False"),
    _result("result_latex_undeclared", "u.to_latex()", "ValueError", r"metric 'err' does not declare"),
    _result("result_latex_fractional_digits", "r.to_latex(digits=2.5)", "ValueError", r"digits must be an int in \[0, 15\], got 2\.5"),
    _result("result_markdown_bold_best_text", "r.to_markdown(bold_best='yes')", "TypeError", r"bold_best must be True, False or None, got 'yes'"),
    _result("result_scores_unknown_method", "r.scores('miou', 'newer')", "KeyError", r"no method 'newer'"),
    _result("result_per_class_unknown", "r.per_class('miou')", "KeyError", r"no per-class metric 'miou'"),
    _result("result_per_class_comparisons_bad_correction", "r.per_class_comparisons('iou', correction='fdr')", "ValueError", r"unknown correction 'fdr'"),
    _result("result_plot_unknown_metric", "import matplotlib\nmatplotlib.use('Agg')\nr.plot('acc')", "KeyError", r"no metric 'acc'"),
    _result("result_from_confusion_not_square", "BenchmarkResult.from_confusion({'a': np.zeros((3, 2, 3), np.int64)})", "ValueError", r"every method needs \(n_seeds, C, C\) counts of one C; got \{'a': \(3, 2, 3\)\}"),
    _result("result_from_confusion_empty", "BenchmarkResult.from_confusion({})", "ValueError", r"confusion is empty"),
    _result("result_from_confusion_class_names", "BenchmarkResult.from_confusion(conf, class_names=['sky', 'road', 'car'])", "ValueError", r"got 3 class_names for num_classes=2"),
    # --------------------------------------------------------- directions
    case("stats_direction_streaming_text", _TASKS,
         "StreamingMetric(calibration_bins, 'ECE', higher_is_better='lower')", "TypeError",
         r"StreamingMetric: higher_is_better must be True, False or None, got 'lower'"),
    case("stats_direction_function_attribute_int",
         _TASKS + "def brier(counts, ignore_index=None):\n    return 0.0\nbrier.higher_is_better = 0\n",
         "Task({'brier': brier}, get_task('segmentation').predict_fn, name='bad-direction')", "TypeError",
         r"metric 'brier': higher_is_better must be True, False or None, got 0"),
    case("stats_direction_with_direction_none", _TASKS, "with_direction(accuracy, None)", "TypeError",
         r"higher_is_better must be True or False, got None", "accuracy.higher_is_better"),
    case("stats_direction_with_direction_not_a_metric", _TASKS, "with_direction(42, True)", "TypeError",
         r"is a int; a battery entry must be a function"),
]
