"""Bit-for-bit exactness: the state and every value computed from it do not
depend on batch split, row order, merge order, thread count or instruction
set.

Run by ``make test`` once per instruction-set path the machine has
(``MUSHIN_ISA=baseline|avx2|avx512``), so a path the developer's CPU lacks
cannot hide a difference: each test here also loops over every level itself.
"""
import math
import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mushin import _core
from mushin._core import CalibrationBins, ConfusionMatrix

import reference as ref
from isa_levels import ISA_LEVELS, ISA_NAMES
FRAC_BITS = 149  # a float32 in [0, 1] is an integer number of 2**-149 units


@pytest.fixture(autouse=True)
def _restore_isa():
    level = _core.isa_level()
    yield
    _core.set_isa_cap(level)


# ------------------------------------------------------------ twins --


def _units(value) -> int:
    """A float32 in [0, 1] as an exact integer number of 2**-149 units."""
    return int(math.ldexp(float(np.float32(value)), FRAC_BITS))


def _fixed_value(limbs) -> int:
    return sum(int(limb) << (64 * k) for k, limb in enumerate(limbs))


def _bins_twin(probs, labels, boundaries, ignore_index=None):
    """Exact per-slot counts, confidence sums (2**-149 units) and correct counts."""
    slots = len(boundaries)
    counts, conf, correct = [0] * slots, [0] * slots, [0] * slots
    for row, label in zip(probs, labels):
        if ignore_index is not None and label == ignore_index:
            continue
        best = int(np.argmax(row))
        confidence = np.float32(row[best])
        slot = max(int(np.searchsorted(boundaries, confidence, side="right")) - 1, 0)
        counts[slot] += 1
        conf[slot] += _units(confidence)
        correct[slot] += int(best == label)
    return counts, conf, correct


def _ece_twin(counts, conf, correct) -> float:
    """The kernel's rule: the exact numerator rounded once, then divided by the rows."""
    total = sum(counts)
    if total == 0:
        return math.nan
    numerator = sum(abs((c << FRAC_BITS) - s) for c, s in zip(correct, conf))
    return float(Fraction(numerator, 2**FRAC_BITS)) / total


def _softmax_rows(rng, rows, classes, dtype=np.float32):
    logits = rng.normal(size=(rows, classes)) * rng.uniform(0.1, 8.0)
    p = np.exp(logits - logits.max(1, keepdims=True))
    return (p / p.sum(1, keepdims=True)).astype(dtype)


# ------------------------------------------------------ calibration --


@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 400),
    classes=st.integers(1, 9),
    n_bins=st.integers(1, 20),
    dtype=st.sampled_from([np.float32, np.float64, np.float16]),
)
def test_calibration_state_equals_the_exact_integer_twin(seed, rows, classes, n_bins, dtype):
    rng = np.random.default_rng(seed)
    probs = _softmax_rows(rng, rows, classes, dtype)
    labels = rng.integers(0, classes, rows)
    bins = CalibrationBins(classes, n_bins=n_bins)
    bins.update(probs, labels)
    counts, conf, correct = _bins_twin(probs.astype(np.float64), labels, bins.boundaries)
    assert bins.counts.tolist() == counts
    assert [_fixed_value(limbs) for limbs in bins.confidence_fixed] == conf
    assert bins.accuracy_sums.tolist() == correct
    # the float view is the correctly rounded exact sum
    assert bins.confidence_sums.tolist() == [float(Fraction(s, 2**FRAC_BITS)) for s in conf]
    got, want = bins.compute(), _ece_twin(counts, conf, correct)
    assert got == want or (math.isnan(got) and math.isnan(want))


def _wide_rows(rng, rows):
    """One-class rows whose confidences span 12 decades: float64 sums of these
    lose bits, so their value depends on the order they are added in."""
    return (10.0 ** rng.uniform(-12, 0, (rows, 1))).astype(np.float32)


@given(seed=st.integers(0, 2**32 - 1), parts=st.integers(2, 7), wide=st.booleans())
def test_ece_is_bit_identical_for_any_split_order_and_merge(seed, parts, wide):
    rng = np.random.default_rng(seed)
    probs = _wide_rows(rng, 3000) if wide else _softmax_rows(rng, 3000, 5)
    classes = probs.shape[1]
    labels = rng.integers(0, classes, 3000)
    whole = CalibrationBins(classes, n_bins=15)
    whole.update(probs, labels)
    # the rows shuffled, cut at random places, fed to separate accumulators and
    # merged in a random order
    order = rng.permutation(3000)
    cuts = np.sort(rng.choice(np.arange(1, 3000), parts - 1, replace=False))
    accs = []
    for piece in np.split(order, cuts):
        acc = CalibrationBins(classes, n_bins=15)
        acc.update(probs[piece], labels[piece])
        accs.append(acc)
    merged = CalibrationBins(classes, n_bins=15)
    for k in rng.permutation(len(accs)):
        merged.merge(accs[k].counts, accs[k].confidence_fixed, accs[k].accuracy_sums)
    np.testing.assert_array_equal(merged.confidence_fixed, whole.confidence_fixed)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    assert merged.compute() == whole.compute()


def test_float_sums_of_wide_confidences_depend_on_order():
    # Why the state is integer: with these confidences a float64 running sum
    # (the old state) differs with the order of the rows, so the split/merge
    # test above could fail for a float state.
    conf = _wide_rows(np.random.default_rng(0), 3000)[:, 0].astype(np.float64)
    forward = backward = 0.0
    for c in conf:
        forward += c
    for c in conf[::-1]:
        backward += c
    assert forward != backward


@pytest.mark.parametrize(
    "values",
    [
        [0.0],
        [1.0],
        [float(np.float32(2.0**-149))],  # the smallest subnormal
        [float(np.float32(2.0**-126)), float(np.float32(1 - 2.0**-24))],
        [1.0] * 7 + [float(np.float32(2.0**-149))],  # needs more than 53 bits
        [float(np.float32(0.1))] * 10,
    ],
)
def test_fixed_point_edge_values(values):
    probs = np.array([[v] for v in values], np.float32)
    bins = CalibrationBins(1, n_bins=4)
    bins.update(probs, np.zeros(len(values), np.int64))
    counts, conf, correct = _bins_twin(probs.astype(np.float64), np.zeros(len(values)), bins.boundaries)
    assert [_fixed_value(limbs) for limbs in bins.confidence_fixed] == conf
    assert bins.confidence_sums.tolist() == [float(Fraction(s, 2**FRAC_BITS)) for s in conf]
    assert bins.compute() == _ece_twin(counts, conf, correct)


# ------------------------------------------------- counting kernels --


def _strided(rng, array):
    """The same values behind a non-contiguous, reversed view."""
    big = np.empty((array.shape[0] * 2,) + array.shape[1:], array.dtype)
    big[::2] = array[::-1]
    return big[::2][::-1]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.int16])
def test_confusion_counts_are_identical_for_every_isa_thread_count_and_split(rng, dtype):
    num_classes, ignore = 21, 255
    target = rng.integers(0, num_classes, (4, 64, 64)).astype(dtype)
    preds = rng.integers(0, num_classes, (4, 64, 64)).astype(dtype)
    if np.iinfo(dtype).max >= ignore:
        target[rng.random(target.shape) < 0.05] = ignore
    expected = ref.confusion_counts(preds, target, num_classes, ignore if np.iinfo(dtype).max >= ignore else None)
    has_ignore = ignore if np.iinfo(dtype).max >= ignore else None
    for level in ISA_LEVELS:
        assert _core.set_isa_cap(level) == level
        for threads in (1, 2, 3):
            for split in (1, 3):
                cm = ConfusionMatrix(num_classes, has_ignore, num_threads=threads)
                for p, t in zip(np.array_split(preds, split), np.array_split(target, split)):
                    cm.update(_strided(rng, p), _strided(rng, t))
                np.testing.assert_array_equal(cm.counts, expected, err_msg=f"isa {level}, {threads} threads, {split} parts")


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_fused_logits_counts_are_identical_for_every_isa_and_thread_count(rng, dtype, layout):
    torch = pytest.importorskip("torch")
    num_classes = 7
    logits = torch.randn(3, num_classes, 33, 17, dtype=getattr(torch, dtype))
    target = torch.from_numpy(rng.integers(0, num_classes, (3, 33, 17)))
    target[torch.from_numpy(rng.random((3, 33, 17)) < 0.1)] = 255
    if layout == "nhwc":
        logits = logits.contiguous(memory_format=torch.channels_last)
    expected = ref.confusion_counts(logits.float().argmax(1).numpy(), target.numpy(), num_classes, 255)
    for level in ISA_LEVELS:
        _core.set_isa_cap(level)
        for threads in (1, 2, 4):
            cm = ConfusionMatrix(num_classes, 255, num_threads=threads)
            cm.update_logits(logits, target)
            np.testing.assert_array_equal(cm.counts, expected, err_msg=f"isa {level}, {threads} threads")


def test_the_mushin_isa_switch_caps_the_path_in_use():
    # make test reruns this file under each MUSHIN_ISA below the CPU's best;
    # the run is only worth something if the switch really took effect
    wanted = os.environ.get("MUSHIN_ISA")
    if wanted is None:
        pytest.skip("MUSHIN_ISA is not set in this run")
    assert ISA_NAMES[_core.isa_level()] == wanted
