"""RegressionMoments and RankedPairs (csrc/kernels/regression.c): against
torchmetrics (MeanSquaredError, MeanAbsoluteError, R2Score, PearsonCorrCoef,
SpearmanCorrCoef) to 1e-6, against the exact twins in
tests/reference_regression.py, and bit-identical for any split and merge
order."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torchmetrics
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import reference_regression as ref
from mushin import _core as core


METRICS = ("mse", "mae", "rmse", "r2", "pearson")

# values whose squares and products stay far from float32 overflow, so the
# float32 states torchmetrics keeps (MeanSquaredError, PearsonCorrCoef) are
# an oracle to 1e-6
_value = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def pairs(draw, min_size=2, max_size=60):
    n = draw(st.integers(min_size, max_size))
    p = draw(st.lists(_value, min_size=n, max_size=n))
    t = draw(st.lists(_value, min_size=n, max_size=n))
    return np.array(p), np.array(t)


def _torchmetrics_values(p, t):
    pt, tt = torch.from_numpy(p), torch.from_numpy(t)
    metrics = {
        "mse": torchmetrics.MeanSquaredError(),
        "mae": torchmetrics.MeanAbsoluteError(),
        "rmse": torchmetrics.MeanSquaredError(squared=False),
        "r2": torchmetrics.R2Score(),
        "pearson": torchmetrics.PearsonCorrCoef(),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, m in metrics.items():
            m.update(pt, tt)
            out[name] = float(m.compute())
    return out


def _moments(core, p, t, batches=1):
    m = core.RegressionMoments()
    for bp, bt in zip(np.array_split(p, batches), np.array_split(t, batches)):
        m.update(bp, bt)
    return m


def _close(a, b, tol):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:  # also equal infinities
        return True
    return abs(a - b) <= tol * max(1.0, abs(b))


def _near_pearson_bound(p, t):
    """True when a normalised variance is within 1% of PearsonCorrCoef's
    NaN bound, where its float32 running moments may land either side."""
    for x in (p, t):
        dev = np.max(np.abs(x - x.mean()))
        if dev == 0:
            continue
        v = x.var(ddof=1) / dev**2
        if abs(v / ref.PEARSON_BOUND - 1) < 0.01:
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs())
def test_moments_match_torchmetrics(data):
    p, t = data
    assume(not _near_pearson_bound(p, t))
    # torchmetrics' R2Score decides "tss is zero" with atol 1e-4 on a
    # cancelling float sum; keep clear of that edge
    tss = float(((t - t.mean()) ** 2).sum())
    rss = float(((p - t) ** 2).sum())
    assume(abs(tss - 1e-4) > 1e-6 and abs(rss - 1e-4) > 1e-6)
    got = _moments(core, p, t, batches=3).compute()
    want = _torchmetrics_values(p, t)
    for name in METRICS:
        assert _close(got[name], want[name], 1e-6), (name, got[name], want[name])


@settings(max_examples=150, deadline=None)
@given(pairs(min_size=0))
def test_moments_match_exact_twin(data):
    p, t = data
    m = _moments(core, p, t, batches=2)
    got, want = m.compute(), ref.moments_metrics(p, t)
    for name in METRICS:
        assert _close(got[name], want[name], 1e-13), (name, got[name], want[name])
    state, twin = m.state_dict(), ref.moments_state_dict(p, t)
    assert int(state["n"]) == int(twin["n"])
    np.testing.assert_array_equal(state["extremes"], twin["extremes"])
    np.testing.assert_array_equal(state["sums"], twin["sums"])


@settings(max_examples=60, deadline=None)
@given(pairs(min_size=0, max_size=80), st.randoms(use_true_random=False))
def test_any_split_and_merge_order_is_bit_identical(data, rnd):
    p, t = data
    whole = _moments(core, p, t).state_dict()
    cuts = sorted(rnd.sample(range(len(p) + 1), min(4, len(p) + 1)))
    parts = []
    for lo, hi in zip([0] + cuts, cuts + [len(p)]):
        s = core.RegressionMoments()
        s.update(p[lo:hi], t[lo:hi])
        parts.append(s)
    rnd.shuffle(parts)
    merged = core.RegressionMoments()
    for s in parts:
        merged.merge(s if rnd.random() < 0.5 else s.state_dict())
    got = merged.state_dict()
    for key in whole:
        np.testing.assert_array_equal(got[key], whole[key])
    a, b = merged.compute(), _moments(core, p, t).compute()
    assert [np.float64(a[k]).tobytes() for k in METRICS] == [np.float64(b[k]).tobytes() for k in METRICS]


def test_sums_are_exact_where_floats_cancel():
    # 1e16 + 1 - 1e16 is 0 in doubles; the exact sums keep the 1
    p = np.array([1e16, 1.0, -1e16, 3.0])
    t = np.zeros(4)
    got = _moments(core, p, t).compute()
    assert got["mae"] == (2e16 + 4.0) / 4
    state = _moments(core, p, t).state_dict()
    np.testing.assert_array_equal(state["sums"], ref.moments_state_dict(p, t)["sums"])
    # the mean of p is exactly 1.0: sum_p is 4 in value units
    assert ref.exact_sums(p, t)["sum_p"] == 4 << ref.VALUE_UNIT


def test_tiny_and_huge_values_are_exact():
    p = np.array([5e-324, 1e300, -1e300, 2.5e-310])
    t = np.array([-5e-324, 1e-300, 1e300, 0.0])
    m = _moments(core, p, t)
    np.testing.assert_array_equal(m.state_dict()["sums"], ref.moments_state_dict(p, t)["sums"])
    got, want = m.compute(), ref.moments_metrics(p, t)
    for name in ("mse", "mae", "rmse"):
        assert _close(got[name], want[name], 1e-15)


def test_r2_with_constant_target_follows_r2score():
    # tss = 0: R2Score gives 0 when the residuals are not ~0, 1 when they are
    t = np.full(5, 2.0)
    assert _moments(core, np.arange(5.0), t).compute()["r2"] == 0.0
    assert _moments(core, t.copy(), t).compute()["r2"] == 1.0
    assert _torchmetrics_values(np.arange(5.0), t)["r2"] == 0.0


def test_pearson_with_a_constant_side_is_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _torchmetrics_values(np.arange(6.0), np.full(6, 3.0))["pearson"]
    assert math.isnan(want)
    assert math.isnan(_moments(core, np.arange(6.0), np.full(6, 3.0)).compute()["pearson"])


def test_pearson_uses_float32_bound_like_pearsoncorrcoef():
    # one outlier among 10 000 zeros: the normalised variance is ~1e-4,
    # below sqrt(float32 eps) = 3.45e-4, so PearsonCorrCoef (float32 states
    # whatever the input dtype) gives NaN, and so does the state
    x = np.zeros(10001)
    x[0] = 1.0
    y = np.random.default_rng(0).normal(size=10001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(_torchmetrics_values(x, y)["pearson"])
    assert math.isnan(_moments(core, x, y).compute()["pearson"])


def test_fewer_than_two_pairs():
    m = core.RegressionMoments()
    got = m.compute()
    assert all(math.isnan(got[k]) for k in METRICS)  # torchmetrics divides 0 by 0
    m.update(np.array([1.0]), np.array([3.0]))
    got = m.compute()
    assert (got["mse"], got["mae"], got["rmse"]) == (4.0, 2.0, 2.0)
    assert math.isnan(got["r2"]) and math.isnan(got["pearson"])  # R2Score raises here


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes_and_column_shape(dtype):
    rng = np.random.default_rng(1)
    p = rng.normal(size=(40, 1)).astype(dtype)
    t = rng.normal(size=(40, 1)).astype(dtype)
    got = _moments(core, p, t).compute()
    want = ref.moments_metrics(p.astype(np.float64), t.astype(np.float64))
    for name in METRICS:
        assert _close(got[name], want[name], 1e-13)


def test_torch_tensors_are_accepted():
    p = torch.linspace(-1, 1, 11)
    t = p**2
    got = _moments(core, p, t).compute()
    want = ref.moments_metrics(p.numpy(), t.numpy())
    assert all(_close(got[k], want[k], 1e-13) for k in METRICS)


def test_reset_and_load_state_dict_round_trip():
    rng = np.random.default_rng(2)
    p, t = rng.normal(size=30), rng.normal(size=30)
    m = _moments(core, p, t)
    d = m.state_dict()
    fresh = core.RegressionMoments()
    fresh.load_state_dict(d)
    assert fresh.compute() == m.compute()
    m.reset()
    assert m.n == 0
    assert all(math.isnan(v) for v in m.compute().values())


# ------------------------------------------------------------ bad input --

def _unchanged(m):
    return {k: np.asarray(v).tolist() for k, v in m.state_dict().items()}


@pytest.mark.parametrize(
    "preds, target, error, match",
    [
        (np.array([1.0, np.nan]), np.array([1.0, 2.0]), ValueError, r"`preds` holds 1 non-finite.*nan.*position 1"),
        (np.array([1.0, 2.0]), np.array([np.inf, 2.0]), ValueError, r"`target` holds 1 non-finite.*inf.*position 0"),
        (np.ones(3), np.ones(4), ValueError, r"`preds` has shape \(3,\) but `target` has shape \(4,\)"),
        (np.ones((3, 2)), np.ones((3, 2)), ValueError, r"shape \(3, 2\).*\(N,\) or \(N, 1\)"),
        (np.ones(3, dtype=np.int64), np.ones(3), TypeError, r"`preds` has dtype.*int64.*float"),
        (np.ones(3), np.ones(3, dtype=bool), TypeError, r"`target` has dtype.*bool"),
        (np.float64(1.0), np.float64(2.0), ValueError, r"shape \(\)"),
    ],
)
def test_bad_batches_raise_and_leave_state(preds, target, error, match):
    for cls in (core.RegressionMoments, core.RankedPairs):
        m = cls()
        m.update(np.array([0.5, 1.5]), np.array([1.0, 1.0]))
        before = _unchanged(m)
        with pytest.raises(error, match=match):
            m.update(preds, target)
        assert _unchanged(m) == before


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda d: d.pop("sums"), r"no 'sums' entry"),
        (lambda d: d.__setitem__("n", np.array(-1)), r"field n"),
        (lambda d: d["sums"].__setitem__((0, 0), -5), r"field sum_p"),
        (lambda d: d["sums"].__setitem__((3, 5), 1 << 40), r"field sum_pp"),
        (lambda d: d.__setitem__("extremes", np.array([1.0, 0.0, 0.0, 1.0])), r"field extremes"),
        (lambda d: d.__setitem__("sums", np.zeros((6, 3), dtype=np.int64)), r"wrong shapes"),
        (lambda d: d.__setitem__("sums", d["sums"].astype(np.float64)), r"'sums' has dtype"),
    ],
)
def test_corrupt_state_dict_is_refused(corrupt, match):
    m = _moments(core, np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 3.0]))
    before = _unchanged(m)
    d = m.state_dict()
    corrupt(d)
    with pytest.raises(ValueError, match=match):
        m.load_state_dict(d)
    with pytest.raises(ValueError, match=match):
        m.merge(d)
    assert _unchanged(m) == before


def test_merge_refuses_other_types():
    m = core.RegressionMoments()
    with pytest.raises(TypeError, match="expected a .*RegressionMoments or its state_dict"):
        m.merge(core.RankedPairs())


# ------------------------------------------------------------- Spearman --

@settings(max_examples=120, deadline=None)
@given(pairs(min_size=2, max_size=60), st.booleans())
def test_spearman_matches_torchmetrics_and_twin(data, with_ties):
    p, t = data
    if with_ties:
        p, t = np.round(p / 300), np.round(t / 300)  # few distinct values
    r = core.RankedPairs()
    for bp, bt in zip(np.array_split(p, 3), np.array_split(t, 3)):
        r.update(bp, bt)
    got = r.compute()["spearman"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = torchmetrics.SpearmanCorrCoef()
        m.update(torch.from_numpy(p), torch.from_numpy(t))
        want = float(m.compute())
    assert abs(got - want) <= 1e-6, (got, want)
    assert abs(got - ref.spearman(p, t)) <= 1e-14


@settings(max_examples=40, deadline=None)
@given(pairs(min_size=0, max_size=50), st.randoms(use_true_random=False))
def test_spearman_independent_of_order(data, rnd):
    p, t = data
    whole = core.RankedPairs()
    whole.update(p, t)
    perm = list(range(len(p)))
    rnd.shuffle(perm)
    a, b = core.RankedPairs(), core.RankedPairs()
    half = len(p) // 2
    a.update(p[perm[:half]], t[perm[:half]])
    b.update(p[perm[half:]], t[perm[half:]])
    b.merge(a.state_dict())
    x, y = whole.compute()["spearman"], b.compute()["spearman"]
    assert np.float64(x).tobytes() == np.float64(y).tobytes()


def test_spearman_constant_side_is_zero_like_torchmetrics():
    r = core.RankedPairs()
    r.update(np.full(5, 1.0), np.arange(5.0))
    assert r.compute()["spearman"] == 0.0
    assert float(torchmetrics.functional.spearman_corrcoef(torch.full((5,), 1.0), torch.arange(5.0))) == 0.0


def test_ranked_pairs_state_round_trip():
    r = core.RankedPairs()
    r.update(np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    d = r.state_dict()
    assert d["preds"].dtype == np.float32 and d["preds"].tolist() == [3.0, 1.0, 2.0]
    s = core.RankedPairs()
    s.load_state_dict(d)
    assert s.compute() == r.compute()
    bad = {"preds": np.array([np.nan], dtype=np.float32), "target": np.array([1.0], dtype=np.float32)}
    with pytest.raises(ValueError, match="`preds` holds 1 non-finite"):
        s.load_state_dict(bad)
    assert s.compute() == r.compute()


# -------------------------------------------------- threads, references --

def test_concurrent_updates_equal_serial_bit_for_bit():
    # the kernel runs without the GIL under the state's own lock; exact sums
    # make the result independent of the order threads got the lock in
    import threading

    rng = np.random.default_rng(5)
    batches = [(rng.normal(size=500) * 10.0 ** rng.integers(-5, 5), rng.normal(size=500))
               for _ in range(32)]
    shared = core.RegressionMoments()
    pairs_shared = core.RankedPairs()

    def work(part):
        for p, t in part:
            shared.update(p, t)
            pairs_shared.update(p, t)

    threads = [threading.Thread(target=work, args=(batches[i::4],)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    serial = core.RegressionMoments()
    pairs_serial = core.RankedPairs()
    for p, t in batches:
        serial.update(p, t)
        pairs_serial.update(p, t)
    for key, value in serial.state_dict().items():
        np.testing.assert_array_equal(shared.state_dict()[key], value)
    assert shared.compute() == serial.compute()
    assert pairs_shared.compute() == pairs_serial.compute()


def test_inputs_are_not_kept_or_modified():
    import sys

    p, t = np.linspace(0, 1, 9), np.linspace(1, 0, 9)
    p_copy, t_copy = p.copy(), t.copy()
    before = sys.getrefcount(p), sys.getrefcount(t)
    for cls in (core.RegressionMoments, core.RankedPairs):
        s, other = cls(), cls()
        other.update(p, t)
        for _ in range(50):
            s.update(p, t)
            with pytest.raises(ValueError):
                s.update(p, t[:3])
            s.merge(other.state_dict())
            s.compute()
    assert (sys.getrefcount(p), sys.getrefcount(t)) == before
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(t, t_copy)
