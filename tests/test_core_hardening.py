"""The hardened C core (issue 10): merge() input, constructor argument
types, the DLPack consumer against broken producers, the caps of the exact
rank distributions, the incomplete beta / Student-t numerics for huge
parameters, and the MUSHIN_ISA switch.

Oracles: mpmath (incomplete beta and the t tail at high precision, the
gamma limit of the beta for b >> a, quadrature of the beta density for a,
b both huge), scipy where it is itself accurate, and exact integer
arithmetic for counts.
"""
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mushin import _core
from mushin._core import ConfusionMatrix

from _raw_dlpack import RawProducer

HERE = Path(__file__).parent
INT64_MAX = 2**63 - 1

# ------------------------------------------------------- merge() input --


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                   np.uint32, np.uint64])
def test_merge_accepts_every_integer_dtype(dtype):
    cm = ConfusionMatrix(2)
    cm.merge(np.array([[1, 2], [3, 4]], dtype=dtype))
    cm.merge(np.array([[1, 2], [3, 4]], dtype=dtype)[:, ::-1][:, ::-1])  # strided view
    assert cm.counts.tolist() == [[2, 4], [6, 8]]


@pytest.mark.parametrize("counts, dtype_name", [
    (np.array([[1.9, 0], [0, 2.7]]), "float64"),            # the issue's case: was truncated
    (np.array([[1.0, 0], [0, 2.0]]), "float64"),            # whole-valued floats too
    (np.array([[1, 0], [0, 2]], np.float32), "float32"),
    (np.array([[True, False], [False, True]]), "bool"),
    (np.array([[1, 0], [0, 2]], dtype=object), "object"),
    (np.array([["1", "0"], ["0", "2"]]), "<U1"),
])
def test_merge_refuses_non_integer_counts_and_keeps_state(counts, dtype_name):
    cm = ConfusionMatrix(2)
    cm.merge(np.array([[5, 1], [2, 7]]))
    with pytest.raises(TypeError, match=rf"merge\(\): counts must be an array of integers, got dtype {dtype_name}"):
        cm.merge(counts)
    assert cm.counts.tolist() == [[5, 1], [2, 7]]


def test_merge_names_the_negative_cell():
    cm = ConfusionMatrix(3)
    bad = np.zeros((3, 3), np.int64)
    bad[2, 1] = -4
    with pytest.raises(ValueError, match=r"non-negative, got -4 at flat index 7 \(counts\[2, 1\]\)"):
        cm.merge(bad)
    assert cm.counts.sum() == 0


def test_merge_refuses_uint64_beyond_int64():
    cm = ConfusionMatrix(2)
    bad = np.array([[0, 0], [2**63 + 5, 0]], np.uint64)
    with pytest.raises(ValueError, match=r"counts\[1, 0\] = 9223372036854775813 does not fit in int64"):
        cm.merge(bad)
    assert cm.counts.sum() == 0


def test_merge_of_two_to_the_62_no_longer_wraps():
    # the issue's case: four cells of 2**62 fit one by one, their total does not
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match=r"total of the merged counts would overflow int64; nothing was added"):
        cm.merge(np.full((2, 2), 2**62, np.int64))
    assert cm.counts.tolist() == [[0, 0], [0, 0]]


def test_merge_names_the_cell_that_overflows():
    cm = ConfusionMatrix(2)
    cm.merge(np.array([[0, 0], [0, INT64_MAX - 3]]))
    with pytest.raises(ValueError, match=r"counts\[1, 1\] = 4 plus the 9223372036854775804 already counted there overflows int64"):
        cm.merge(np.array([[0, 0], [0, 4]]))
    assert cm.counts.tolist() == [[0, 0], [0, INT64_MAX - 3]]


def test_merge_up_to_int64_max_in_total_is_exact():
    cm = ConfusionMatrix(2)
    cm.merge(np.array([[INT64_MAX - 10, 0], [0, 0]]))
    cm.merge(np.array([[4, 3], [2, 1]]))
    assert cm.counts.tolist() == [[INT64_MAX - 6, 3], [2, 1]]
    assert sum(cm.counts.ravel().tolist()) == INT64_MAX
    with pytest.raises(ValueError, match="overflow"):
        cm.merge(np.array([[0, 0], [0, 1]]))


def test_update_after_a_near_max_merge_refuses_instead_of_wrapping():
    torch = pytest.importorskip("torch")
    cm = ConfusionMatrix(2)
    cm.merge(np.array([[INT64_MAX - 3, 0], [0, 0]]))
    before = cm.counts.tolist()
    # small batches count in place, large ones through scratch: both guarded
    for preds, target in [(np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1])),
                          (np.zeros(1000, np.int64), np.zeros(1000, np.int64))]:
        with pytest.raises(ValueError, match=r"update\(\): adding this batch could carry the int64 counts past 2\*\*63 - 1; nothing was added"):
            cm.update(preds, target)
    with pytest.raises(ValueError, match=r"update_logits\(\): adding this batch could carry"):
        cm.update_logits(torch.zeros(5, 2), torch.zeros(5, dtype=torch.long))
    assert cm.counts.tolist() == before
    cm.update(np.array([1, 1]), np.array([1, 0]))  # 2 more still fit (1 would be left)
    assert cm.counts.tolist() == [[INT64_MAX - 3, 1], [0, 1]]
    cm.reset()
    cm.update(np.zeros(1000, np.int64), np.zeros(1000, np.int64))
    assert cm.counts.tolist() == [[1000, 0], [0, 0]]


@pytest.mark.parametrize("shape", [(3, 3), (2,), (2, 2, 1), (4,)])
def test_merge_refuses_wrong_shapes(shape):
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match=r"counts \(num_classes x num_classes\) needs a \(2, 2\) array, got \("):
        cm.merge(np.zeros(shape, np.int64))


# ------------------------------------------------- constructor arguments --


@pytest.mark.parametrize("value, type_name", [(True, "bool"), (False, "bool"), (np.bool_(True), "numpy.bool"),
                                              (2.0, "float"), ("3", "str"), (None, "NoneType")])
def test_num_classes_must_be_an_int(value, type_name):
    with pytest.raises(TypeError, match=rf"num_classes must be an int .*got {type_name}"):
        ConfusionMatrix(value)


def test_num_classes_accepts_numpy_integers_and_names_huge_values():
    assert ConfusionMatrix(np.int64(3)).num_classes == 3
    assert ConfusionMatrix(num_classes=np.uint8(2)).num_classes == 2
    with pytest.raises(ValueError, match=r"between 1 and 65536, got 1180591620717411303424"):
        ConfusionMatrix(2**70)


@pytest.mark.parametrize("value", [True, np.bool_(False), 1.0])
def test_ignore_index_must_be_an_int(value):
    with pytest.raises(TypeError, match="ignore_index must be an int or None"):
        ConfusionMatrix(3, ignore_index=value)


# ---------------------------------------------------- broken producers --

# (producer arguments, what the error must say)
BROKEN_PRODUCERS = {
    "null_shape": (dict(shape=None, ndim=1), r"1 dimensions but a NULL shape pointer"),
    "null_shape_versioned": (dict(shape=None, ndim=3, versioned=True), r"3 dimensions but a NULL shape"),
    "negative_extent": (dict(shape=[4, -2]), r"negative extent -2 in dimension 1"),
    "elements_overflow_int64": (dict(shape=[2**40, 2**40], strides=[0, 0]), r"more elements than fit in int64"),
    "bytes_overflow": (dict(shape=[2**61]), r"spans more bytes than fit in the address space"),
    "stride_overflow": (dict(shape=[3], strides=[2**62]), r"spans more bytes"),
    "int64_min_stride": (dict(shape=[3], strides=[-2**63]), r"spans more bytes"),
    "null_data_with_elements": (dict(shape=[4], data=None), r"4 elements but a NULL data pointer"),
    "wraps_past_top_of_memory": (dict(shape=[4], data=2**64 - 16), r"reach outside the address space"),
    "negative_stride_below_address_zero": (dict(shape=[4], data=8, strides=[-1]), r"reach outside the address space"),
    "too_many_dimensions": (dict(shape=[1], ndim=100000), r"100000 dimensions; at most 32"),
    "negative_ndim": (dict(shape=[1], ndim=-1), r"-1 dimensions; at most 32"),
    "fractional_bytes": (dict(shape=[4], bits=12), r"12-bit elements"),
    "byte_offset_beyond_address_space": (dict(shape=[4], byte_offset=2**63 + 8), r"byte_offset 9223372036854775816"),
}


@pytest.mark.parametrize("name", list(BROKEN_PRODUCERS))
def test_broken_producer_is_refused_and_released_once(name):
    kwargs, message = BROKEN_PRODUCERS[name]
    cm = ConfusionMatrix(3)
    producer = RawProducer(**kwargs)
    with pytest.raises((BufferError, ValueError)) as info:
        cm.update(producer, np.zeros(4, np.int64))
    assert info.value.args[0].startswith("preds")
    assert re.search(message, str(info.value)), str(info.value)
    assert producer.deleter_calls == 1
    assert cm.counts.sum() == 0
    # in target position, and through the fused path, as well
    target = RawProducer(**kwargs)
    with pytest.raises((BufferError, ValueError), match=r"^target"):
        cm.update(np.zeros(4, np.int64), target)
    with pytest.raises((BufferError, ValueError), match=r"^logits|^target"):
        cm.update_logits(RawProducer(**dict(kwargs, code=2, bits=kwargs.get("bits", 32))), np.zeros(4, np.int64))
    assert target.deleter_calls == 1


def test_empty_tensor_with_null_data_is_fine():
    # zero elements never dereference data: a legal DLPack tensor
    cm = ConfusionMatrix(3)
    cm.update(RawProducer([0, 5], data=None), np.zeros((0, 5), np.int64))
    assert cm.counts.sum() == 0


def test_broken_producers_do_not_crash_a_fresh_interpreter():
    # the NULL-shape capsule segfaulted the interpreter (_core.c acquire_dlpack);
    # run every broken producer in a child so a regression fails this test
    # instead of killing the run
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import numpy as np
        from _raw_dlpack import RawProducer
        from mushin import _core
        cases = {{k: v[0] for k, v in {BROKEN_PRODUCERS!r}.items()}}
        for name, kwargs in cases.items():
            for entry in ("update", "calibration", "roc"):
                p = RawProducer(**kwargs)
                try:
                    if entry == "update":
                        _core.ConfusionMatrix(3).update(p, np.zeros(4, np.int64))
                    elif entry == "calibration":
                        _core.CalibrationBins(3).update(RawProducer(**dict(kwargs, code=2, bits=kwargs.get("bits", 32))),
                                                        np.zeros(4, np.int64))
                    else:
                        _core.RocScores(3).update(np.zeros((4, 3), np.float32), p)
                except (BufferError, ValueError, TypeError):
                    pass
                else:
                    print("accepted", name, entry)
                    sys.exit(3)
        print("survived")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    assert done.stdout.strip().endswith("survived")


# ------------------------------------------------- exact distributions --


def _fast(fn, *args):
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        fn(*args)
    assert time.perf_counter() - start < 0.5
    return str(info.value)


def test_signed_rank_counts_are_capped_at_1000():
    # the issue's case ran for minutes: now refused at once
    assert "n must be in [0, 1000], got 20000" in _fast(_core.signed_rank_counts, 20000)
    assert "got 1001" in _fast(_core.signed_rank_counts, 1001)
    counts = _core.signed_rank_counts(1000)
    assert np.isfinite(counts).all() and counts[0] == 1.0
    # exact integer twin at a size past scipy's range but below 2^53 per count
    n = 40
    exact = [0] * (n * (n + 1) // 2 + 1)
    exact[0] = 1
    for k in range(1, n + 1):
        for s in range(k * (k + 1) // 2, k - 1, -1):
            exact[s] += exact[s - k]
    np.testing.assert_array_equal(_core.signed_rank_counts(n), np.array(exact, dtype=float))


def test_rank_sum_counts_are_capped():
    msg = _fast(_core.rank_sum_counts, 22360, 22360)
    assert "rank_sum_counts(22360, 22360, kmax=n1 * n2) is past the caps" in msg
    assert "kmax + 1 <= 2**24" in msg
    _fast(_core.rank_sum_counts, 8, 10**7)             # 4e7 counts
    _fast(_core.rank_sum_counts, 5000, 5000, 100000)   # 5e8 steps
    _fast(_core.rank_sum_counts, 600, 600, 10)         # C(1200, 600) > 2**1000
    _fast(_core.rank_sum_counts, 2**62, 2**62)         # n1 * n2 must not wrap
    _fast(_core.rank_sum_counts, -1, 3)


def test_rank_sum_counts_below_the_cap_equal_partition_counts():
    # with n2 >= kmax, #{U = u} is the number of partitions of u into at most
    # n1 parts: an independent integer recursion
    n1, n2, kmax = 8, 10**7, 300
    counts = _core.rank_sum_counts(n1, n2, kmax)
    parts = [[0] * (kmax + 1) for _ in range(n1 + 1)]
    for k in range(n1 + 1):
        parts[k][0] = 1
    for k in range(1, n1 + 1):
        for u in range(1, kmax + 1):
            parts[k][u] = parts[k - 1][u] + (parts[k][u - k] if u >= k else 0)
    np.testing.assert_array_equal(counts, np.array(parts[n1], dtype=float))


@pytest.mark.slow
def test_mannwhitney_past_the_caps_uses_the_normal_approximation_like_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(7)
    a = rng.normal(size=8)
    b = rng.normal(size=5_000_000)
    # 8 x 5e6 without ties: scipy's rule says exact, but the table up to
    # min(U) ~ 2e7 is past the 2**24 cap; mushin switches to the normal
    # approximation instead of allocating and looping for it
    stat, p, *_rest, method = _core.two_sample_test("mannwhitney", a, b)
    assert method == "normal"
    want = scipy_stats.mannwhitneyu(a, b, method="asymptotic")
    assert stat == want.statistic
    assert p == pytest.approx(want.pvalue, rel=1e-8)


# -------------------------------------------------------------- numerics --

mpmath = pytest.importorskip("mpmath")


class _Timeout(Exception):
    pass


def _mp_betainc(a, b, x, dps):
    with mpmath.workdps(dps):
        a, b, x = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(x)
        if x <= a / (a + b):
            return +mpmath.betainc(a, b, 0, x, regularized=True)
        return 1 - mpmath.betainc(b, a, 0, 1 - x, regularized=True)


def mp_betainc(a, b, x, seconds=3):
    """I_x(a, b) at the exact doubles from mpmath at two precisions that must
    agree (mpmath silently loses digits for huge a or b); None otherwise."""
    def alarm(*_):
        raise _Timeout()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        dps = 40 + int(math.log10(max(a, b, 1.0)))
        r1, r2 = _mp_betainc(a, b, x, dps), _mp_betainc(a, b, x, dps + 30)
        if r2 == 0 or abs(r1 - r2) > mpmath.mpf(10) ** -25 * abs(r2):
            return None
        return r2
    except (_Timeout, mpmath.libmp.NoConvergence, ZeroDivisionError, ValueError):
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def mp_betainc_quad(a, b, x):
    """I_x(a, b) for a, b >= 1e6 by quadrature of the density in units of its
    standard deviation, with enough digits to resolve x next to the mean."""
    with mpmath.workdps(40 + int(math.log10(a + b))):
        a, b, x = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(x)
        s = a + b
        sd = mpmath.sqrt(a * b / (s * s * (s + 1)))
        log_beta = mpmath.loggamma(a) + mpmath.loggamma(b) - mpmath.loggamma(s)

        def density(u):
            t = x + u * sd
            return mpmath.exp((a - 1) * mpmath.log(t) + (b - 1) * mpmath.log1p(-t) - log_beta) * sd

        if x <= a / s:
            return +mpmath.quad(density, [p for p in (-80, -40, -20, -10, -4, -1, 0) if x + p * sd > 0])
        return 1 - mpmath.quad(density, [p for p in (0, 1, 4, 10, 20, 40, 80) if x + p * sd < 1])


def _points(a, b, ks):
    mean = a / (a + b)
    sd = math.sqrt(a / (a + b)) * math.sqrt(b / (a + b)) / math.sqrt(a + b + 1)
    return [x for x in (mean + k * sd for k in ks) if 0 < x < 1]


def _rel(got, want):
    return float(abs(mpmath.mpf(got) - want) / abs(want))


def test_betainc_issue_cases():
    assert _core.betainc(1e20, 1e20, 0.5) == 0.5          # was 0.99999996
    assert _core.betainc(1e300, 1e300, 0.5) == 0.5
    # x one part in 5e9 above the mean: 2.83 standard deviations
    want = mp_betainc_quad(1e20, 1e20, 0.5 + 1e-10)
    assert _rel(_core.betainc(1e20, 1e20, 0.5 + 1e-10), want) < 1e-13
    # scipy rounds (a + b) x here and is off by 5e-9: mushin is the better one
    scipy_special = pytest.importorskip("scipy.special")
    assert _rel(scipy_special.betainc(1e20, 1e20, 0.5 + 1e-10), want) > 1e-9


BETA_GRID = [0.01, 0.5, 3, 10, 100, 1e3, 1e4, 1e6, 1e10]
BETA_GRID_FAST = BETA_GRID[:6]  # where mpmath answers in milliseconds


def _check_betainc_against_mpmath(a, grid):
    checked = 0
    for b in grid:
        for x in _points(a, b, (-20, -3, 0, 1, 5)):
            want = mp_betainc(a, b, x)
            if want is None or want < 1e-300:
                continue
            assert _rel(_core.betainc(a, b, x), want) < 1e-11, (a, b, x)
            checked += 1
    return checked


@pytest.mark.parametrize("a", BETA_GRID_FAST)
def test_betainc_matches_mpmath_on_a_log_grid(a):
    assert _check_betainc_against_mpmath(a, BETA_GRID_FAST) >= 15


@pytest.mark.slow
@pytest.mark.parametrize("a", BETA_GRID)
def test_betainc_matches_mpmath_on_the_full_log_grid(a):
    # mpmath needs seconds per point for a or b >= 1e4 and gives up on some
    assert _check_betainc_against_mpmath(a, BETA_GRID) >= 15


@pytest.mark.parametrize("a, b", [(1e6, 3e6), (1e10, 1e10), (1e12, 1e20), (1e20, 5e20), (3e25, 1e25)])
def test_betainc_for_huge_a_and_b_matches_quadrature(a, b):
    for x in _points(a, b, (-10, -1, 0, 2, 7)):
        assert _rel(_core.betainc(a, b, x), mp_betainc_quad(a, b, x)) < 1e-12, (a, b, x)


@pytest.mark.parametrize("b", [1e20, 1e50, 1e100, 1e200, 1e300])
def test_betainc_with_one_huge_parameter_reaches_the_gamma_limit(b):
    # b X -> Gamma(a) as b -> inf, with a relative error O(a^2 / b) < 1e-15 here
    scipy_stats = pytest.importorskip("scipy.stats")
    for a in (0.01, 0.5, 3, 100):
        for q in (1e-30, 1e-5, 0.3, 0.9, 0.99999):
            x = scipy_stats.gamma.ppf(q, a) / b
            if x == 0.0:
                continue  # the quantile underflowed (a = 0.01, q = 1e-30)
            with mpmath.workdps(50):
                want = mpmath.gammainc(a, 0, mpmath.mpf(b) * mpmath.mpf(x), regularized=True)
            assert _rel(_core.betainc(a, b, x), want) < 1e-12, (a, b, q)


def test_betainc_domain():
    for a, b, x in [(-1, 2, 0.5), (0, 2, 0.5), (2, 0, 0.5), (np.nan, 2, 0.5), (2, 2, -0.1), (2, 2, 1.1),
                    (np.inf, np.inf, 0.5)]:
        assert math.isnan(_core.betainc(a, b, x))
    assert _core.betainc(np.inf, 2, 0.5) == 0.0 and _core.betainc(2, np.inf, 0.5) == 1.0


def mp_t_sf(t, df):
    """P(T > t), t > 0: (1 - I_y(1/2, df/2)) / 2 with y = t^2 / (df + t^2),
    at a precision that absorbs the cancellation down to 1e-320."""
    with mpmath.workdps(420):
        t, df = mpmath.mpf(t), mpmath.mpf(df)
        y = t * t / (df + t * t)
        return (1 - mpmath.betainc(mpmath.mpf(0.5), df / 2, 0, y, regularized=True)) / 2


T_DFS = [0.5, 1, 3, 10, 1e3, 1e6, 1e10, 1e15, 1e18, 1e20, 1e22, 1e24, 1e26, 1e30, 1e40, 1e100, 1e300]


@pytest.mark.parametrize("df", T_DFS)
def test_t_sf_matches_mpmath_for_any_df(df):
    for t in (0.1, 1, 2, 5, 10, 30, 37):
        # past 1e30 the t and normal tails differ by (t^4 + t^2) / (4 df) < 1e-24
        want = mp_t_sf(t, df) if df <= 1e30 else mpmath.ncdf(-t)
        assert _rel(_core.t_sf(t, df), want) < 1e-12, (t, df)
        assert _rel(_core.t_cdf(-t, df), want) < 1e-12, (t, df)
        # the other side is 1 - tail: the tail's relative 1e-12 as an absolute bound
        assert abs(_core.t_sf(-t, df) - (1 - float(want))) <= 1e-12 * float(want) + 2e-16


def test_t_issue_cases():
    scipy_stats = pytest.importorskip("scipy.stats")
    assert _core.t_sf(2, 1e18) == pytest.approx(float(mpmath.ncdf(-2)), rel=1e-14)   # was -3.03
    assert _core.t_ppf(0.975, 1e18) == pytest.approx(1.959963984540054, rel=1e-14)    # was 0.90
    assert _core.t_ppf(0.975, 1e18) == pytest.approx(scipy_stats.t.ppf(0.975, 1e18), rel=1e-13)


@pytest.mark.parametrize("df", T_DFS)
def test_t_ppf_matches_scipy_and_inverts_t_cdf(df):
    scipy_stats = pytest.importorskip("scipy.stats")
    for q in (1e-100, 1e-10, 1e-3, 0.025, 0.3, 0.7, 0.975, 1 - 1e-10):
        got = _core.t_ppf(q, df)
        want = scipy_stats.t.ppf(q, df)
        if df < 1 and q < 1e-50:
            continue  # the quantile is beyond 1e308 (mushin: -inf; scipy: a finite wrong value)
        assert got == pytest.approx(want, rel=1e-12), (q, df)
        assert _core.t_cdf(got, df) == pytest.approx(q, rel=1e-11)


def test_t_quantile_beyond_the_largest_double_is_infinite():
    # P(T < t) ~ t^-df / ... for df = 0.3: the 1e-300 quantile is near -1e1000
    assert _core.t_ppf(1e-300, 0.3) == -math.inf
    assert _core.t_ppf(1 - 1e-16, 0.05) == math.inf


@pytest.mark.parametrize("df", [0.0, -1.0, -math.inf, math.nan])
def test_t_functions_give_nan_for_df_not_positive(df):
    # decided: NaN, as scipy.stats.t does, never an exception mid-table
    assert math.isnan(_core.t_sf(1.0, df))
    assert math.isnan(_core.t_cdf(1.0, df))
    assert math.isnan(_core.t_ppf(0.3, df))


def test_t_with_infinite_df_is_the_normal_distribution():
    assert _core.t_sf(3.0, math.inf) == pytest.approx(float(mpmath.ncdf(-3)), rel=1e-15)
    assert _core.t_ppf(0.975, math.inf) == pytest.approx(1.959963984540054, rel=1e-15)


# ------------------------------------------------------ MUSHIN_ISA switch --


def _isa_in_child(value):
    env = dict(os.environ)
    env.pop("MUSHIN_ISA", None)
    if value is not None:
        env["MUSHIN_ISA"] = value
    return subprocess.run(
        [sys.executable, "-c", "from mushin import _core; print(_core.isa_name(), _core.isa_level())"],
        capture_output=True, text=True, env=env, timeout=60)


def test_mushin_isa_caps_the_level_and_says_so():
    best = _isa_in_child(None)
    assert best.returncode == 0, best.stderr
    best_name, best_level = best.stdout.split()
    assert best_name == ["baseline", "avx2", "avx512"][int(best_level)]
    for level, name in enumerate(["baseline", "avx2", "avx512"]):
        done = _isa_in_child(name)
        assert done.returncode == 0, done.stderr
        # a level the CPU lacks is capped to what it has, visibly
        used = min(level, int(best_level))
        assert done.stdout.split() == [["baseline", "avx2", "avx512"][used], str(used)]
    assert _isa_in_child("").stdout.split() == [best_name, best_level]


@pytest.mark.parametrize("value", ["AVX2", "sse4", "avx-512", "2"])
def test_unknown_mushin_isa_is_an_import_error(value):
    done = _isa_in_child(value)
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert f"MUSHIN_ISA={value} is not an instruction-set level; use baseline, avx2 or avx512" in done.stderr


def test_isa_name_follows_set_isa_cap():
    start = _core.isa_level()
    try:
        assert _core.set_isa_cap(0) == 0 and _core.isa_name() == "baseline"
    finally:
        _core.set_isa_cap(start)
    assert _core.isa_name() == ["baseline", "avx2", "avx512"][start]


# ---------------------------------------------------- effect-size scale --


@pytest.mark.parametrize("scale", [2.0**-600, 2.0**-520, 2.0**520, 2.0**600])
def test_effect_sizes_do_not_depend_on_the_unit(scale):
    # squares of scores near 1e-159 are subnormal: d_z of [0, 0, -c] came out
    # as -0.57734990 instead of -1/sqrt(3); both are now computed on scores
    # scaled by an exact power of two
    a = np.array([0.3, 0.9, 0.4, 0.75])
    b = np.array([0.1, 0.2, 0.65, 0.3, 0.5])
    assert _core.cohens_d(a * scale, b * scale) == _core.cohens_d(a, b)
    assert _core.cohens_dz(a * scale, b[:4] * scale) == _core.cohens_dz(a, b[:4])
    assert _core.cohens_dz(np.zeros(3), np.array([0.0, 0.0, 2.9476980347059057e-159])) == pytest.approx(
        -1 / math.sqrt(3), rel=1e-15)


# ------------------------------------------------- found by the fuzzers --


def _exact_rank_sum_counts(n1, n2):
    """The Mann-Whitney U distribution counts in Python integers (exact)."""
    m, n = min(n1, n2), max(n1, n2)
    c = [1] + [0] * (m * n)
    for i in range(1, m + 1):
        for u in range(m * n, n + i - 1, -1):
            c[u] -= c[u - n - i]
        for u in range(i, m * n + 1):
            c[u] += c[u - i]
    return c


@pytest.mark.parametrize("n1, n2", [(32, 38), (40, 40), (45, 30), (8, 500)])
def test_rank_sum_counts_in_the_double_range_are_exact_and_symmetric(n1, n2):
    # C(n1 + n2, n1) >= 1.8e19 takes the double path; its upper tail used to
    # come out negative (fuzz_stats: rank_sum_counts(32, 38, 1216)).
    got = _core.rank_sum_counts(n1, n2)
    exact = _exact_rank_sum_counts(n1, n2)
    assert (got > 0).all()
    np.testing.assert_array_equal(got, got[::-1])
    worst = max(abs(g - e) / e for g, e in zip(got.tolist(), exact))
    assert worst < 1e-14


@pytest.mark.parametrize("df", [5e-324, 1e-323])
def test_t_distribution_at_subnormal_df(df):
    # df / 2 underflows to 0 for the smallest subnormal: the tails are 1/2
    # (the limit as df -> 0, as at df = 1e-320) and the quantiles infinite
    for t in (0.0, 1.0, 1e300):
        assert _core.t_sf(t, df) == 0.5
        assert _core.t_cdf(-t, df) == 0.5
    assert _core.t_ppf(0.9, df) == np.inf
    assert _core.t_ppf(0.1, df) == -np.inf
    assert _core.t_sf(1.0, 1e-320) == 0.5


def test_one_identical_pair_gets_p_one_from_both_paired_tests():
    # the documented rule (identical paired data: statistic 0, p = 1) holds
    # at n = 1 too, for ttest_rel as for wilcoxon
    for test in ("ttest_rel", "wilcoxon"):
        assert _core.two_sample_test(test, [0.25], [0.25])[:2] == (0.0, 1.0)
