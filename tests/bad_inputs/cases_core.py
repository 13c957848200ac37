"""Bad input to the C core: ConfusionMatrix construction and merge(), the
DLPack consumer fed by a broken producer, the capped exact rank
distributions, the statistics helpers' argument types, and MUSHIN_ISA.

Broken DLPack tensors come from tests/_raw_dlpack.py (RawProducer), whose
source is run in each case's fresh namespace.  Those cases used to crash the
interpreter (NULL shape) or read out of bounds; each now must raise and
leave the counts as they were.
"""
import sys
from pathlib import Path

from bad_input_case import case

# the catalogue execs this file without __file__; the code object knows its path
_HERE = Path(sys._getframe().f_code.co_filename).resolve().parent
_PRODUCER = (_HERE.parent / "_raw_dlpack.py").read_text()

# a matrix that already holds counts, so "unchanged" means something
_CM = "cm = _core.ConfusionMatrix(3)\ncm.update(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]))\n"
_CM_STATE = "cm.counts.tolist()"


def _merge(id, counts, error, match, setup=""):
    return case(f"core_merge_{id}", _CM + setup, f"cm.merge({counts})", error, match, _CM_STATE)


MERGE = [
    _merge("float_fractional", "np.array([[1.9, 0, 0], [0, 2.7, 0], [0, 0, 0]])", "TypeError",
           r"merge\(\): counts must be an array of integers, got dtype float64"),
    _merge("float_whole", "np.eye(3)", "TypeError", r"counts must be an array of integers, got dtype float64"),
    _merge("float32", "np.eye(3, dtype=np.float32)", "TypeError", r"counts .* got dtype float32"),
    _merge("float16", "np.eye(3, dtype=np.float16)", "TypeError", r"counts .* got dtype float16"),
    _merge("bool", "np.eye(3, dtype=bool)", "TypeError", r"counts must be an array of integers, got dtype bool"),
    _merge("object", "np.eye(3, dtype=int).astype(object)", "TypeError", r"counts .* got dtype object"),
    _merge("strings", "[['1', '0', '0']] * 3", "TypeError", r"counts .* got dtype <U1"),
    _merge("complex", "np.eye(3, dtype=complex)", "TypeError", r"counts .* got dtype complex128"),
    _merge("nested_float_list", "[[0.5, 0, 0], [0, 0, 0], [0, 0, 0]]", "TypeError", r"counts .* float64"),
    _merge("negative_cell", "np.array([[0, 0, 0], [0, 0, -2], [0, 0, 0]])", "ValueError",
           r"non-negative, got -2 at flat index 5 \(counts\[1, 2\]\)"),
    _merge("negative_int8", "np.array([[0, 0, 0], [0, 0, 0], [-1, 0, 0]], np.int8)", "ValueError",
           r"got -1 at flat index 6 \(counts\[2, 0\]\)"),
    _merge("uint64_beyond_int64", "np.array([[0, 0, 0], [0, 2**63, 0], [0, 0, 0]], np.uint64)", "ValueError",
           r"counts\[1, 1\] = 9223372036854775808 does not fit in int64"),
    _merge("cell_overflow", "np.array([[0, 0, 0], [0, 0, 0], [0, 2**63 - 1, 0]])", "ValueError",
           r"counts\[2, 1\] = 9223372036854775807 plus the 1 already counted there overflows int64"),
    _merge("total_overflow_two_to_62", "np.full((3, 3), 2**62, np.int64)", "ValueError",
           r"total of the merged counts would overflow int64; nothing was added"),
    _merge("total_overflow_after_merge", "np.array([[0, 0, 0], [0, 0, 0], [0, 0, 2**62]])", "ValueError",
           r"total of the merged counts would overflow int64",
           setup="cm.merge(np.array([[2**62, 0, 0], [0, 0, 0], [0, 0, 0]]))\n"),
    case("core_update_after_near_max_merge",
         _CM + "cm.merge(np.array([[2**63 - 10, 0, 0], [0, 0, 0], [0, 0, 0]]))\n",
         "cm.update(np.zeros(8, np.int64), np.zeros(8, np.int64))", "ValueError",
         r"update\(\): adding this batch could carry the int64 counts past 2\*\*63 - 1; nothing was added",
         _CM_STATE),
    case("core_update_logits_after_near_max_merge",
         _CM + "cm.merge(np.array([[2**63 - 10, 0, 0], [0, 0, 0], [0, 0, 0]]))\n",
         "cm.update_logits(np.zeros((8, 3), np.float32), np.zeros(8, np.int64))", "ValueError",
         r"update_logits\(\): adding this batch could carry the int64 counts", _CM_STATE),
    _merge("wrong_square", "np.zeros((2, 2), np.int64)", "ValueError", r"counts \(num_classes x num_classes\) needs a \(3, 3\) array, got \(2, 2\)"),
    _merge("flat", "np.zeros(9, np.int64)", "ValueError", r"needs a \(3, 3\) array, got \(9,\)"),
    _merge("three_dims", "np.zeros((3, 3, 1), np.int64)", "ValueError", r"needs a \(3, 3\) array, got \(3, 3, 1\)"),
    _merge("scalar", "5", "ValueError", r"needs a \(3, 3\) array, got \(\)"),
]

# ----------------------------------------------------------- constructor --


def _ctor(id, args, error, match):
    return case(f"core_confusion_{id}", "", f"_core.ConfusionMatrix({args})", error, match)


CONSTRUCTOR = [
    _ctor("num_classes_true", "True", "TypeError", r"num_classes must be an int .*got bool"),
    _ctor("num_classes_false", "False", "TypeError", r"num_classes must be an int .*got bool"),
    _ctor("num_classes_numpy_bool", "np.bool_(True)", "TypeError", r"num_classes must be an int .*got numpy\.bool"),
    _ctor("num_classes_float", "21.0", "TypeError", r"num_classes must be an int .*got float"),
    _ctor("num_classes_string", "'21'", "TypeError", r"num_classes must be an int .*got str"),
    _ctor("num_classes_none", "None", "TypeError", r"num_classes must be an int .*got NoneType"),
    _ctor("num_classes_zero", "0", "ValueError", r"num_classes must be between 1 and 65536, got 0"),
    _ctor("num_classes_too_many", "65537", "ValueError", r"num_classes must be between 1 and 65536, got 65537"),
    _ctor("num_classes_beyond_int64", "2**70", "ValueError", r"between 1 and 65536, got 1180591620717411303424"),
    _ctor("ignore_index_true", "3, ignore_index=True", "TypeError", r"ignore_index must be an int or None, got bool"),
    _ctor("ignore_index_numpy_bool", "3, ignore_index=np.bool_(False)", "TypeError", r"ignore_index must be an int or None"),
    _ctor("ignore_index_float", "3, ignore_index=255.0", "TypeError", r"ignore_index must be an int or None, got float"),
    _ctor("num_threads_bool", "3, num_threads=True", "TypeError", r"num_threads must be an int or None, got bool"),
    _ctor("num_threads_zero", "3, num_threads=0", "ValueError", r"num_threads must be between 1 and 64"),
]

# ------------------------------------------------------ broken producers --

_DL = _CM + _PRODUCER


def _dl(id, producer, call, match, error="BufferError"):
    return case(f"core_dlpack_{id}", _DL + f"p = RawProducer({producer})\n", call, error, match, _CM_STATE)


_UPDATE = "cm.update(p, np.zeros(4, np.int64))"
DLPACK = [
    _dl("null_shape", "None, ndim=1", _UPDATE, r"^preds: .*1 dimensions but a NULL shape pointer"),
    _dl("null_shape_versioned", "None, ndim=2, versioned=True", _UPDATE, r"^preds: .*2 dimensions but a NULL shape"),
    _dl("null_shape_target", "None, ndim=1", "cm.update(np.zeros(4, np.int64), p)", r"^target: .*NULL shape pointer"),
    _dl("null_shape_logits", "None, ndim=2, code=2, bits=32", "cm.update_logits(p, np.zeros(4, np.int64))",
        r"^logits: .*NULL shape pointer"),
    _dl("negative_extent", "[4, -3]", _UPDATE, r"^preds: .*negative extent -3 in dimension 1"),
    _dl("elements_overflow", "[2**40, 2**40], strides=[0, 0]", _UPDATE, r"^preds: .*more elements than fit in int64"),
    _dl("bytes_overflow", "[2**61]", _UPDATE, r"^preds: .*spans more bytes than fit in the address space"),
    _dl("stride_overflow", "[3], strides=[2**62]", _UPDATE, r"^preds: .*spans more bytes .* dimension 0"),
    _dl("int64_min_stride", "[3], strides=[-2**63]", _UPDATE, r"^preds: .*spans more bytes"),
    _dl("second_dim_overflow", "[2, 2**62], strides=[1, 4]", _UPDATE, r"^preds: .*dimension 1"),
    _dl("null_data", "[4], data=None", _UPDATE, r"^preds: .*4 elements but a NULL data pointer"),
    _dl("ndim_huge", "[1], ndim=2**31 - 1", _UPDATE, r"^preds has 2147483647 dimensions; at most 32", error="ValueError"),
    _dl("ndim_negative", "[1], ndim=-5", _UPDATE, r"^preds has -5 dimensions", error="ValueError"),
    _dl("wraps_past_top_of_memory", "[4], data=2**64 - 16", _UPDATE, r"^preds: .*reach outside the address space"),
    _dl("negative_stride_below_zero", "[4], data=8, strides=[-1]", _UPDATE, r"^preds: .*reach outside the address space"),
    _dl("fractional_bits", "[4], bits=4", _UPDATE, r"^preds: .*4-bit elements; only whole bytes"),
    _dl("byte_offset_huge", "[4], byte_offset=2**64 - 8", _UPDATE, r"^preds: .*byte_offset 18446744073709551608"),
    case("core_dlpack_calibration_null_shape",
         _PRODUCER + "bins = _core.CalibrationBins(3)\n" "p = RawProducer(None, ndim=2, code=2, bits=32)\n",
         "bins.update(p, np.zeros(4, np.int64))", "BufferError", r"NULL shape pointer",
         "bins.counts.tolist()"),
    case("core_dlpack_roc_null_shape_target",
         _PRODUCER + "roc = _core.RocScores(3)\n" "p = RawProducer(None, ndim=1)\n",
         "roc.update(np.full((4, 3), 1 / 3, np.float32), p)", "BufferError", r"NULL shape pointer",
         "roc.num_samples"),
]

# ------------------------------------------------- exact distributions --


def _cap(id, call, match):
    return case(f"core_exact_{id}", "", call, "ValueError", match)


CAPS = [
    _cap("signed_rank_20000", "_core.signed_rank_counts(20000)", r"signed_rank_counts: n must be in \[0, 1000\], got 20000"),
    _cap("signed_rank_1001", "_core.signed_rank_counts(1001)", r"n must be in \[0, 1000\], got 1001"),
    _cap("signed_rank_negative", "_core.signed_rank_counts(-1)", r"n must be in \[0, 1000\], got -1"),
    _cap("rank_sum_22360", "_core.rank_sum_counts(22360, 22360)", r"rank_sum_counts\(22360, 22360, kmax=n1 \* n2\) is past the caps"),
    _cap("rank_sum_long_table", "_core.rank_sum_counts(8, 10**7)", r"rank_sum_counts\(8, 10000000, .*kmax \+ 1 <= 2\*\*24"),
    _cap("rank_sum_work", "_core.rank_sum_counts(5000, 5000, 100000)", r"rank_sum_counts\(5000, 5000, kmax=100000\) .*min\(n1, n2\) \* \(kmax \+ 1\) <= 2\*\*28"),
    _cap("rank_sum_double_overflow", "_core.rank_sum_counts(600, 600, 10)", r"rank_sum_counts\(600, 600, kmax=10\) .*C\(n1 \+ n2, n1\) < 2\*\*1000"),
    _cap("rank_sum_product_wraps", "_core.rank_sum_counts(2**62, 2**62)", r"rank_sum_counts\(4611686018427387904, 4611686018427387904"),
    _cap("rank_sum_negative", "_core.rank_sum_counts(-1, 3)", r"n1 and n2 must be non-negative, got -1 and 3"),
]

# ------------------------------------------------------------- numerics --

NUMERICS = [
    case("core_stats_betainc_string", "", "_core.betainc('1e20', 1e20, 0.5)", "TypeError",
         r"betainc\(\): a must be a real number, got str"),
    case("core_stats_t_sf_none_df", "", "_core.t_sf(2.0, None)", "TypeError",
         r"t_sf\(\): df must be a real number, got NoneType"),
    case("core_stats_t_ppf_complex_q", "", "_core.t_ppf(0.5j, 3.0)", "TypeError",
         r"t_ppf\(\): q must be a real number, got complex"),
]

# ------------------------------------------------------------ MUSHIN_ISA --
# A second instance of the extension (multi-phase init allows it) runs the
# module's exec slot, which reads MUSHIN_ISA, without touching the loaded one.

_ISA = (
    "import importlib.util, os\n"
    "spec = importlib.util.spec_from_file_location('isa_probe._core', _core.__file__)\n"
)


def _isa(id, value):
    return case(f"core_isa_{id}", _ISA + f"os.environ['MUSHIN_ISA'] = {value!r}\n",
                "spec.loader.exec_module(importlib.util.module_from_spec(spec))", "ImportError",
                rf"MUSHIN_ISA={value} is not an instruction-set level; use baseline, avx2 or avx512",
                "(_core.isa_level(), _core.isa_name())")


ISA = [_isa("upper_case", "AVX2"), _isa("dash", "avx-512"), _isa("sse", "sse4"), _isa("number", "2")]

CASES = MERGE + CONSTRUCTOR + DLPACK + CAPS + NUMERICS + ISA
