"""state_dict / load_state_dict / merge of the C states that predate the
protocol (ConfusionMatrix, CalibrationBins, RocScores), and the module's
default thread count (set_default_threads): exact round trips, merges equal
to one accumulator over all the data, and refused states that change
nothing."""
from __future__ import annotations

import numpy as np
import pytest

from mushin import _core

RNG = np.random.default_rng(20261201)


def _probs(n, c, dtype=np.float32):
    p = RNG.random((n, c)).astype(np.float64)
    p /= p.sum(1, keepdims=True)
    return p.astype(dtype), RNG.integers(0, c, n)


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))
        assert np.asarray(a[k]).dtype == np.asarray(b[k]).dtype


def test_roc_scores_merged_from_shards_equal_one_accumulator():
    whole, shards = _core.RocScores(4, ignore_index=255), [_core.RocScores(4, ignore_index=255) for _ in range(3)]
    for i in range(6):
        p, t = _probs(700, 4, np.float64 if i == 4 else np.float32)
        t[::5] = 255
        whole.update(p, t)
        shards[i % 3].update(p, t)
    merged = _core.RocScores(4, ignore_index=255)
    merged.merge(shards[0])
    merged.merge(shards[1].state_dict())
    merged.merge(shards[2])
    assert merged.num_samples == whole.num_samples
    assert merged.score_dtype == "float64"
    assert merged.compute() == whole.compute()
    np.testing.assert_array_equal(merged.per_class(), whole.per_class())


def test_roc_scores_state_dict_round_trip_is_exact():
    a = _core.RocScores(3)
    p, t = _probs(1000, 3)
    a.update(p, t)
    d = a.state_dict()
    assert d["num_classes"] == 3 and d["scores"].dtype == np.float32 and d["labels"].dtype == np.int32
    np.testing.assert_array_equal(d["scores"], p)
    np.testing.assert_array_equal(d["labels"], t)
    b = _core.RocScores(3)
    b.load_state_dict(d)
    assert b.compute() == a.compute()
    _same_state(b.state_dict(), d)


def test_roc_scores_merge_with_itself_doubles_the_rows():
    a = _core.RocScores(2)
    a.update(*_probs(50, 2))
    a.merge(a)
    assert a.num_samples == 100


@pytest.mark.parametrize("method", ["load_state_dict", "merge"])
@pytest.mark.parametrize("edit, error, match", [
    (lambda d: {**d, "num_classes": 4}, ValueError, r"num_classes=4, this RocScores 3"),
    (lambda d: {**d, "scores": d["scores"] * 3}, ValueError, r"outside \[0, 1\]"),
    (lambda d: {**d, "labels": d["labels"] + 3}, ValueError, r"outside \[0, 3\)"),
    (lambda d: {**d, "scores": d["scores"][:4]}, ValueError, r"'scores' has 4 rows but 'labels' 40"),
    (lambda d: {**d, "scores": d["scores"].astype(np.int64)}, ValueError, r"float32 or float64"),
    (lambda d: {**d, "labels": d["labels"].astype(float)}, TypeError, r"labels must be an array of integers"),
    (lambda d: {"scores": d["scores"]}, ValueError, r"needs 'num_classes', 'scores' and 'labels'"),
    (lambda d: 3, TypeError, r"expected a dict from state_dict\(\), got int"),
])
def test_roc_scores_refuses_a_bad_state_and_keeps_its_own(method, edit, error, match):
    a, src = _core.RocScores(3), _core.RocScores(3)
    a.update(*_probs(30, 3))
    src.update(*_probs(40, 3))
    before = a.state_dict()
    with pytest.raises(error, match=match):
        getattr(a, method)(edit(src.state_dict()))
    _same_state(a.state_dict(), before)


def test_confusion_matrix_state_dict_round_trip_and_refusals():
    cm = _core.ConfusionMatrix(3, ignore_index=255)
    cm.update(RNG.integers(0, 3, 500), RNG.integers(0, 3, 500))
    d = cm.state_dict()
    assert d["num_classes"] == 3
    other = _core.ConfusionMatrix(3)
    other.update(np.array([1]), np.array([2]))
    other.load_state_dict(d)
    np.testing.assert_array_equal(other.counts, cm.counts)
    for bad, error, match in [
        ({"num_classes": 3, "counts": -d["counts"] - 1}, ValueError, r"must be non-negative"),
        ({"num_classes": 4, "counts": d["counts"]}, ValueError, r"num_classes=4, this matrix 3"),
        ({"num_classes": 3, "counts": d["counts"].astype(float)}, TypeError, r"array of integers"),
        ({"num_classes": 3, "counts": np.full((3, 3), 2**62)}, ValueError, r"overflows int64"),
        ({"counts": d["counts"]}, ValueError, r"needs 'num_classes' and 'counts'"),
        ([], TypeError, r"expected a dict"),
    ]:
        with pytest.raises(error, match=match):
            other.load_state_dict(bad)
        np.testing.assert_array_equal(other.counts, cm.counts)
    # the loaded total bounds later updates as a merged one does
    other.update(np.array([0]), np.array([0]))
    assert other.counts.sum() == cm.counts.sum() + 1


def test_calibration_bins_state_dict_round_trip_and_refusals():
    a = _core.CalibrationBins(3, n_bins=15)
    a.update(*_probs(800, 3))
    d = a.state_dict()
    b = _core.CalibrationBins(3, n_bins=15)
    b.update(*_probs(10, 3))
    b.load_state_dict(d)
    assert b.compute() == a.compute()
    _same_state(b.state_dict(), d)
    for bad, error, match in [
        ({**d, "counts": d["counts"] * 0 - 1}, ValueError, r"slot 0 holds count -1"),
        ({**d, "boundaries": d["boundaries"][:5]}, ValueError, r"boundaries differ"),
        ({**d, "accuracy_sums": d["accuracy_sums"].astype(float)}, TypeError, r"array of integers"),
        ({"counts": d["counts"]}, ValueError, r"no 'boundaries' entry"),
        (7, TypeError, r"expected a dict"),
    ]:
        with pytest.raises(error, match=match):
            b.load_state_dict(bad)
        _same_state(b.state_dict(), d)
    c = _core.CalibrationBins(3, n_bins=10)
    with pytest.raises(ValueError, match="boundaries differ"):
        c.load_state_dict(d)


def test_set_default_threads_takes_an_int_a_callable_or_none():
    previous = _core.get_default_threads()
    try:
        _core.set_default_threads(3)
        assert _core.get_default_threads() == 3
        _core.set_default_threads(None)
        assert _core.get_default_threads() is None
        for bad, error in [(0, ValueError), (65, ValueError), ("2", TypeError), (True, TypeError)]:
            with pytest.raises(error, match="set_default_threads needs"):
                _core.set_default_threads(bad)
            assert _core.get_default_threads() is None
    finally:
        _core.set_default_threads(previous)


def test_mushin_threads_registers_its_default_with_the_core():
    import mushin.threads  # noqa: F401  (registration happens at import)

    assert callable(_core.get_default_threads())
    assert _core.get_default_threads()() == mushin.threads.get_num_threads()
