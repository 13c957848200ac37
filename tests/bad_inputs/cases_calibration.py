"""Bad input to CalibrationBins (ECE state): construction, update and merge."""

from bad_input_case import case

_BINS = (
    "bins = _core.CalibrationBins(3, n_bins=4)\n"
    "bins.update(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32), np.array([0, 2]))\n"
    "def fixed(*units):\n"
    "    return np.array([[(u >> (64 * k)) & (2**64 - 1) for k in range(4)] for u in units], np.uint64)\n"
)
_STATE = "(bins.counts.tolist(), bins.confidence_fixed.tolist(), bins.accuracy_sums.tolist())"
_OK_FIXED = "fixed(0, 0, 0, 0, 0)"
_ZEROS = "np.zeros(5, np.int64)"


def _merge(id, counts, conf, acc, error, match):
    return case(f"calibration_merge_{id}", _BINS, f"bins.merge({counts}, {conf}, {acc})", error, match, _STATE)


CASES = [
    _merge("float_counts", "np.array([0, 1.0, 0, 0, 0])", _OK_FIXED, _ZEROS, "TypeError", r"counts must be an array of integers.*float64"),
    _merge("float_fixed", "np.zeros(5, np.int64)", "np.zeros((5, 4))", _ZEROS, "TypeError", r"confidence_fixed must be an array of integers.*float64"),
    _merge("float_accuracy", "np.zeros(5, np.int64)", _OK_FIXED, "np.zeros(5)", "TypeError", r"accuracy_sums must be an array of integers.*float64"),
    _merge("bool_counts", "np.zeros(5, bool)", _OK_FIXED, _ZEROS, "TypeError", r"counts must be an array of integers.*bool"),
    _merge("uint64_counts", "np.zeros(5, np.uint64)", _OK_FIXED, _ZEROS, "TypeError", r"counts .* convert to int64 without loss"),
    _merge("signed_fixed", "np.zeros(5, np.int64)", "np.zeros((5, 4), np.int64)", _ZEROS, "TypeError", r"confidence_fixed .* convert to uint64"),
    _merge("negative_count", "np.array([0, -1, 0, 0, 0])", _OK_FIXED, _ZEROS, "ValueError", r"slot 1 holds count -1"),
    _merge("accuracy_above_count", "np.array([0, 1, 0, 0, 0])", _OK_FIXED, "np.array([0, 2, 0, 0, 0])", "ValueError", r"slot 1 holds count 1 and accuracy sum 2"),
    _merge("negative_accuracy", "np.array([0, 1, 0, 0, 0])", _OK_FIXED, "np.array([0, -1, 0, 0, 0])", "ValueError", r"accuracy sum -1"),
    _merge("confidence_above_count", "np.array([0, 1, 0, 0, 0])", "fixed(0, 2**149 + 1, 0, 0, 0)", _ZEROS, "ValueError", r"slot 1 holds a confidence sum above its count 1"),
    _merge("overflow", "np.array([0, 0, 2**63 - 1, 0, 0])", _OK_FIXED, _ZEROS, "ValueError", r"counts: the merged counts would overflow int64"),
    _merge("wrong_slots", "np.zeros(4, np.int64)", "fixed(0, 0, 0, 0)", "np.zeros(4, np.int64)", "ValueError", r"needs counts \(5,\), confidence_fixed \(5, 4\)"),
    _merge("wrong_limbs", "np.zeros(5, np.int64)", "np.zeros((5, 3), np.uint64)", _ZEROS, "ValueError", r"confidence_fixed \(5, 4\)"),
    _merge("two_dim_counts", "np.zeros((5, 1), np.int64)", _OK_FIXED, _ZEROS, "ValueError", r"counts must have 1 dimension"),
    _merge("object_counts", "np.array(['a'] * 5)", _OK_FIXED, _ZEROS, "TypeError", r"counts must be an array of integers"),
    case("calibration_update_probability_above_one", _BINS,
         "bins.update(np.array([[1.5, 0.0, 0.0]], np.float32), np.array([0]))", "ValueError", r"1\.5",
         _STATE),
    case("calibration_update_nan_probability", _BINS,
         "bins.update(np.array([[np.nan, 0.0, 0.0]], np.float32), np.array([0]))", "ValueError", r"nan|NaN",
         _STATE),
    case("calibration_update_label_out_of_range", _BINS,
         "bins.update(np.array([[0.5, 0.25, 0.25]], np.float32), np.array([3]))", "ValueError", r"3", _STATE),
    case("calibration_update_wrong_class_count", _BINS,
         "bins.update(np.array([[0.5, 0.5]], np.float32), np.array([0]))", "ValueError", r"3", _STATE),
    case("calibration_boundaries_not_rising", "",
         "_core.CalibrationBins(2, boundaries=np.array([0, 0.6, 0.5, 1], np.float32))", "ValueError",
         r"boundaries must rise strictly"),
    case("calibration_bool_n_bins", "", "_core.CalibrationBins(2, n_bins=True)", "TypeError",
         r"n_bins must be an int"),
    case("calibration_zero_n_bins", "", "_core.CalibrationBins(2, n_bins=0)", "ValueError",
         r"n_bins must be between 1"),
]
