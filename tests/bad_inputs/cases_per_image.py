"""Bad input to PerImageCounts and the bootstrap functions: each must raise, name what is wrong,
leave the counts as they were, and never crash the interpreter."""

from bad_input_case import case

_STATE_SETUP = (
    "s = _core.PerImageCounts(3, 255, 'int64', 72 * 4)\n"
    "s.update(np.zeros((2, 2, 2), np.int64), np.ones((2, 2, 2), np.int64))\n"
)
_STATE = "s.counts.tolist()"
_COUNTS = "c = np.ones((3, 4, 2, 3), np.int64)\n"


def _state(id, call, error, match):
    return case(f"per_image_{id}", _STATE_SETUP, call, error, match, _STATE)


def _boot(id, call, error, match):
    return case(f"bootstrap_{id}", _COUNTS, call, error, match)


CASES = [
    _state("bad_target", "s.update(np.zeros((1, 2), np.int64), np.array([[0, 9]]))", "ValueError",
           r"target holds 1 value outside \[0, 3\).*first: 9"),
    _state("bad_pred", "s.update(np.array([[0, -4]]), np.zeros((1, 2), np.int64))", "ValueError",
           r"preds holds 1 value outside \[0, 3\).*first: -4"),
    _state("float_labels", "s.update(np.zeros((1, 2)), np.zeros((1, 2), np.int64))", "TypeError", r"integer dtype"),
    _state("zero_dim", "s.update(np.int64(0), np.int64(0))", "ValueError", r"one image per entry of dim 0"),
    _state("shape_mismatch", "s.update(np.zeros((1, 2), np.int64), np.zeros((2, 1), np.int64))", "ValueError",
           r"does not match"),
    _state("past_budget", "s.update(np.zeros((3, 2), np.int64), np.zeros((3, 2), np.int64))", "ValueError",
           r"5 images x 3 classes.*max_bytes=288"),
    _state("merge_negative", "s.merge({'num_classes': 3, 'counts': -np.ones((1, 3, 3), np.int64)})", "ValueError",
           r"counts\[0, 0, 0\] = -1 is negative"),
    _state("merge_wrong_classes", "s.merge({'num_classes': 4, 'counts': np.zeros((1, 4, 3), np.int64)})", "ValueError",
           r"num_classes=4, this state 3"),
    _state("merge_wrong_shape", "s.merge({'counts': np.zeros((1, 3, 2), np.int64)})", "ValueError",
           r"shape \(images, 3, 3\)"),
    _state("merge_floats", "s.merge({'counts': np.zeros((1, 3, 3))})", "TypeError", r"counts must be an array of integers"),
    _state("merge_huge_uint64", "s.merge({'counts': np.full((1, 3, 3), 2**63, np.uint64)})", "ValueError",
           r"past int64"),
    _state("merge_not_a_state", "s.merge([1, 2, 3])", "TypeError", r"PerImageCounts or its state_dict"),
    _state("load_no_counts", "s.load_state_dict({'num_classes': 3})", "ValueError", r"has no 'counts'"),
    _state("logits_class_dim_zero", "s.update_logits(np.zeros((3, 2), np.float32), np.zeros(2, np.int64), class_dim=0)",
           "ValueError", r"class_dim=0 is the image dimension"),
    _state("logits_bad_target", "s.update_logits(np.zeros((1, 3, 2), np.float32), np.array([[0, 5]]))", "ValueError",
           r"target holds 1 value outside \[0, 3\)"),
    _state("logits_int", "s.update_logits(np.zeros((1, 3, 2), np.int64), np.zeros((1, 2), np.int64))", "TypeError",
           r"logits must have dtype float16"),
    case("per_image_bad_dtype", "", "_core.PerImageCounts(3, None, 'int16')", "ValueError",
         r"dtype must be 'int64' or 'int32', got 'int16'"),
    case("per_image_bad_classes", "", "_core.PerImageCounts(0)", "ValueError",
         r"num_classes must be between 1 and 65536"),
    _boot("negative", "c[0, 0, 0, 0] = -1\n_core.bootstrap_counts(c, [3], 'miou', 10, True, True, 0)", "ValueError",
          r"non-negative"),
    _boot("seed_count_mismatch", "_core.bootstrap_counts(c, [2], 'miou', 10, True, True, 0)", "ValueError",
          r"counts holds 3 models but seeds_per_method adds up to 2"),
    _boot("no_method", "_core.bootstrap_counts(c, [], 'miou', 10, True, True, 0)", "ValueError",
          r"at least one method"),
    _boot("bad_metric", "_core.bootstrap_counts(c, [3], 'auroc', 10, True, True, 0)", "ValueError",
          r"metric 'auroc' cannot be recomputed"),
    _boot("zero_resamples", "_core.bootstrap_counts(c, [3], 'miou', 0, True, True, 0)", "ValueError",
          r"n must be between 1"),
    _boot("negative_seed", "_core.bootstrap_counts(c, [3], 'miou', 5, True, True, -1)", "ValueError",
          r"seed must be an int in \[0, 2\*\*64\)"),
    _boot("float_counts", "_core.bootstrap_counts(c * 1.0, [3], 'miou', 5, True, True, 0)", "ValueError",
          r"integer array of shape \(models, images, classes, 3\)"),
    _boot("too_many_threads", "_core.bootstrap_counts(c, [3], 'miou', 5, True, True, 0, -1, 65)", "ValueError",
          r"num_threads must be between 1 and 64"),
    _boot("indices_no_image", "_core.bootstrap_indices(0, 0, 0, [3], True, True)", "ValueError",
          r"1 <= num_images < 2\*\*31"),
    _boot("indices_zero_seeds", "_core.bootstrap_indices(0, 0, 5, [0], True, True)", "ValueError",
          r"seeds_per_method\[0\] = 0"),
]
