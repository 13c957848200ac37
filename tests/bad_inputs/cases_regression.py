"""Bad-input cases for RegressionMoments, RankedPairs and RetrievalGroups.

Each case leaves the state's state_dict() unchanged.
"""

from bad_input_case import case

_SNAP = "{k: np.asarray(v).tolist() for k, v in s.state_dict().items()}"

_MOMENTS = "s = _core.RegressionMoments(); s.update(np.array([0.5, 1.5]), np.array([1.0, 2.0]))"
_PAIRS = "s = _core.RankedPairs(); s.update(np.array([0.5, 1.5]), np.array([1.0, 2.0]))"
_GROUPS = ("s = _core.RetrievalGroups(); "
           "s.update(np.array([0.4, 0.6]), np.array([0, 1]), np.array([5, 5]))")


def _case(id, setup, call, error, match):
    return case(id, setup, call, error, match, _SNAP)


CASES = [
    # ---- RegressionMoments
    _case("regression_moments_nan_pred", _MOMENTS, "s.update(np.array([1.0, np.nan]), np.array([1.0, 2.0]))",
          "ValueError", r"RegressionMoments\.update: `preds` holds 1 non-finite.*nan.*position 1"),
    _case("regression_moments_inf_target", _MOMENTS, "s.update(np.array([1.0, 2.0]), np.array([-np.inf, 2.0]))",
          "ValueError", r"`target` holds 1 non-finite.*-inf.*position 0"),
    _case("regression_moments_shape_mismatch", _MOMENTS, "s.update(np.ones(3), np.ones(4))",
          "ValueError", r"`preds` has shape \(3,\) but `target` has shape \(4,\)"),
    _case("regression_moments_multi_output", _MOMENTS, "s.update(np.ones((4, 2)), np.ones((4, 2)))",
          "ValueError", r"shape \(4, 2\).*\(N,\) or \(N, 1\)"),
    _case("regression_moments_scalar", _MOMENTS, "s.update(np.float64(1.0), np.float64(1.0))",
          "ValueError", r"shape \(\)"),
    _case("regression_moments_int_preds", _MOMENTS, "s.update(np.arange(3), np.ones(3))",
          "TypeError", r"`preds` has dtype.*int64.*float16, float32 or float64"),
    _case("regression_moments_bool_target", _MOMENTS, "s.update(np.ones(3), np.ones(3, dtype=bool))",
          "TypeError", r"`target` has dtype.*bool"),
    _case("regression_moments_torch_nan", _MOMENTS,
          "s.update(torch.tensor([0.0, float('nan')]), torch.tensor([1.0, 1.0]))",
          "ValueError", r"`preds` holds 1 non-finite"),
    _case("regression_moments_state_missing_key", _MOMENTS,
          "d = s.state_dict(); d.pop('sums'); s.load_state_dict(d)",
          "ValueError", r"no 'sums' entry"),
    _case("regression_moments_state_negative_n", _MOMENTS,
          "d = s.state_dict(); d['n'] = np.array(-1); s.load_state_dict(d)",
          "ValueError", r"field n is inconsistent"),
    _case("regression_moments_state_bad_limb", _MOMENTS,
          "d = s.state_dict(); d['sums'][4, 0] = -7; s.merge(d)",
          "ValueError", r"field sum_tt is inconsistent"),
    _case("regression_moments_state_bad_extremes", _MOMENTS,
          "d = s.state_dict(); d['extremes'] = np.array([2.0, 1.0, 0.0, 1.0]); s.load_state_dict(d)",
          "ValueError", r"field extremes is inconsistent"),
    _case("regression_moments_state_float_sums", _MOMENTS,
          "d = s.state_dict(); d['sums'] = d['sums'].astype(np.float64); s.load_state_dict(d)",
          "ValueError", r"'sums' has dtype.*expected int64"),
    _case("regression_moments_merge_wrong_type", _MOMENTS, "s.merge(_core.RankedPairs())",
          "TypeError", r"RegressionMoments\.merge: expected a .*RegressionMoments or its state_dict"),
    _case("regression_moments_no_args", _MOMENTS, "s.update(np.ones(3))",
          "TypeError", r"update\(\)|missing|required"),
    # ---- RankedPairs
    _case("regression_pairs_nan_target", _PAIRS, "s.update(np.array([1.0, 2.0]), np.array([np.nan, 2.0]))",
          "ValueError", r"RankedPairs\.update: `target` holds 1 non-finite"),
    _case("regression_pairs_beyond_float32", _PAIRS, "s.update(np.array([1e300, 2.0]), np.array([1.0, 2.0]))",
          "ValueError", r"`preds` holds 1 non-finite.*1e\+300"),
    _case("regression_pairs_shape_mismatch", _PAIRS, "s.update(np.ones(2), np.ones((2, 1)))",
          "ValueError", r"`preds` has shape \(2,\) but `target` has shape \(2, 1\)"),
    _case("regression_pairs_state_nan", _PAIRS,
          "s.load_state_dict({'preds': np.array([np.nan], dtype=np.float32), "
          "'target': np.array([1.0], dtype=np.float32)})",
          "ValueError", r"load_state_dict: `preds` holds 1 non-finite"),
    _case("regression_pairs_state_not_dict", _PAIRS, "s.load_state_dict([1, 2])",
          "TypeError", r"expected a dict from state_dict\(\)"),
    # ---- RetrievalGroups
    _case("retrieval_negative_index", _GROUPS, "s.update(np.array([0.1, 0.2]), np.array([1, 0]), np.array([0, -3]))",
          "ValueError", r"RetrievalGroups\.update: `indexes` holds 1 negative.*-3.*position 1"),
    _case("retrieval_nan_score", _GROUPS, "s.update(np.array([np.nan, 0.2]), np.array([1, 0]), np.array([0, 0]))",
          "ValueError", r"`preds` holds 1 non-finite"),
    _case("retrieval_score_beyond_float32", _GROUPS,
          "s.update(np.array([0.1, -1e300]), np.array([1, 0]), np.array([0, 0]))",
          "ValueError", r"`preds`.*float32's range"),
    _case("retrieval_graded_target", _GROUPS, "s.update(np.array([0.1, 0.2]), np.array([1, 3]), np.array([0, 0]))",
          "ValueError", r"`target` holds 1 relevance.*other than 0 and 1.*graded=True"),
    _case("retrieval_nan_relevance_graded",
          "s = _core.RetrievalGroups(graded=True); s.update(np.array([0.4]), np.array([2.0]), np.array([1]))",
          "s.update(np.array([0.1]), np.array([np.nan]), np.array([0]))",
          "ValueError", r"`target` holds 1 non-finite relevance"),
    _case("retrieval_float_indexes", _GROUPS, "s.update(np.array([0.1, 0.2]), np.array([1, 0]), np.array([0.0, 1.0]))",
          "TypeError", r"`indexes` has dtype.*float64.*int64"),
    _case("retrieval_int_scores", _GROUPS, "s.update(np.array([1, 2]), np.array([1, 0]), np.array([0, 0]))",
          "TypeError", r"`preds` has dtype.*int64.*float"),
    _case("retrieval_uint8_target", _GROUPS,
          "s.update(np.array([0.1, 0.2]), np.array([1, 0], dtype=np.uint8), np.array([0, 0]))",
          "TypeError", r"`target` has dtype.*uint8"),
    _case("retrieval_target_shape", _GROUPS, "s.update(np.array([0.1, 0.2, 0.3]), np.array([1, 0]), np.array([0, 0, 0]))",
          "ValueError", r"`preds` has shape \(3,\) but `target` has shape \(2,\)"),
    _case("retrieval_indexes_shape", _GROUPS, "s.update(np.array([0.1, 0.2]), np.array([1, 0]), np.array([0, 0, 1]))",
          "ValueError", r"`preds` has shape \(2,\) but `indexes` has shape \(3,\)"),
    _case("retrieval_scalars", _GROUPS, "s.update(np.float64(0.5), np.int64(1), np.int64(0))",
          "ValueError", r"scalars"),
    _case("retrieval_state_negative_index", _GROUPS,
          "d = s.state_dict(); d['indexes'] = np.array([0, -1]); s.merge(d)",
          "ValueError", r"RetrievalGroups\.merge: `indexes` holds 1 negative"),
    _case("retrieval_state_missing_target", _GROUPS,
          "d = s.state_dict(); del d['target']; s.load_state_dict(d)",
          "ValueError", r"no 'target' entry"),
    _case("retrieval_state_float64_preds", _GROUPS,
          "d = s.state_dict(); d['preds'] = d['preds'].astype(np.float64); s.load_state_dict(d)",
          "ValueError", r"'preds' has dtype.*expected float32"),
    _case("retrieval_merge_wrong_type", _GROUPS, "s.merge(_core.RegressionMoments())",
          "TypeError", r"RetrievalGroups or its state_dict"),
]

# constructor errors: no state to keep
CASES += [
    case("retrieval_top_k_zero", "", "_core.RetrievalGroups(top_k=0)", "ValueError",
         r"`top_k` must be a positive int or None, got 0"),
    case("retrieval_top_k_float", "", "_core.RetrievalGroups(top_k=2.5)", "TypeError",
         r"`top_k` must be a positive int or None, got 2\.5"),
    case("retrieval_top_k_bool", "", "_core.RetrievalGroups(top_k=True)", "TypeError",
         r"`top_k` must be a positive int or None, got True"),
    case("regression_moments_takes_no_args", "", "_core.RegressionMoments(3)", "TypeError",
         r"RegressionMoments\(\) takes no arguments|at most 0"),
]
