"""Every public ``mushin._core`` callable against its twin in ``tests/twins.py``.

Bottleneck's way (``reduce_test.py``): callables are found by ``dir()`` on
the module and on each type; one without a twin fails
``test_every_core_callable_has_a_twin``.  Each function is called with the
same hypothesis-generated arguments as its twin (dtypes, memory layouts,
edge values, bad values), and each type's methods are driven through the
same random sequence of calls on the C object and on its slow twin, with the
observable state compared after every call.  When the C side raises, the
twin must raise too, and the other way round: "both raise" is agreement
(and the state must then still agree, i.e. be unchanged on both sides).

Tolerances are the ones the existing oracle tests use for each routine
(named next to each), exact for every count.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twins
from mushin import _core

TWINS = twins.TWINS

# ------------------------------------------------------------ discovery --


def public_callables() -> list[str]:
    """Qualified names of the public callables of mushin._core: module
    functions, and the public methods of each type (properties are data,
    not callables)."""
    names = []
    for name in dir(_core):
        if name.startswith("_"):
            continue
        obj = getattr(_core, name)
        if isinstance(obj, type):
            names += [f"{name}.{m}" for m in dir(obj) if not m.startswith("_") and callable(getattr(obj, m))]
        elif callable(obj):
            names.append(name)
    return sorted(names)


def test_every_core_callable_has_a_twin():
    names = public_callables()
    assert "t_sf" in names and "ConfusionMatrix.update" in names  # discovery works
    missing = [n for n in names if n not in TWINS]
    assert not missing, f"mushin._core callables without a twin in tests/twins.py: {missing}"


def test_every_twin_names_a_core_callable():
    # twins of a type not registered in mushin._core yet wait for it
    present = set(public_callables())
    stale = [
        key
        for key in TWINS
        if key not in present and (("." not in key) or hasattr(_core, key.split(".")[0]))
    ]
    assert not stale, f"twins of callables mushin._core does not have: {stale}"


# ----------------------------------------------------------- agreement --


class Raised:
    """What a call raised, kept for the message."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def __repr__(self):
        return f"raised {type(self.exc).__name__}: {self.exc}"


def call(fn: Callable, *args):
    """fn(*args), or what it raised.  The arguments are passed as they are
    (a copy would lose their memory layout); see inputs_unchanged."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 -- any exception counts as "raises"
        return Raised(exc)


def snapshot(args) -> list:
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]


def inputs_unchanged(args, before, what):
    """The C callable read its array arguments without writing them
    (bottleneck's input_modification_test)."""
    for i, (a, b) in enumerate(zip(args, before)):
        if b is not None:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{what}: argument {i} was modified"


def agree(got, want, compare: Callable, what: str) -> bool:
    """True when both returned (and compare() passed); True when both
    raised; an assertion error when only one raised."""
    if isinstance(got, Raised) or isinstance(want, Raised):
        assert isinstance(got, Raised) and isinstance(want, Raised), f"{what}: C {got!r}, twin {want!r}"
        return False
    compare(got, want, what)
    return True


# ---------------------------------------------------------- comparisons --


def _scalar_close(got, want, rtol, atol, what):
    got, want = float(got), float(want)
    if math.isnan(want) or math.isnan(got):
        assert math.isnan(want) and math.isnan(got), f"{what}: {got!r} vs {want!r}"
        return
    if got == want:
        return
    assert abs(got - want) <= rtol * abs(want) + atol, f"{what}: {got!r} vs twin {want!r}"


def close(rtol, atol=0.0):
    def compare(got, want, what):
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        assert g.shape == w.shape, f"{what}: shape {g.shape} vs {w.shape}"
        for a, b in zip(g.ravel(), w.ravel()):
            _scalar_close(a, b, rtol, atol, what)

    return compare


def exact(got, want, what):
    g, w = np.asarray(got), np.asarray(want)
    assert g.shape == w.shape, f"{what}: shape {g.shape} vs {w.shape}"
    if g.dtype.kind == "f" or w.dtype.kind == "f":
        np.testing.assert_array_equal(g.astype(np.float64), w.astype(np.float64), err_msg=what)
    else:
        assert g.tolist() == w.tolist(), f"{what}: {g.tolist()} vs {w.tolist()}"


def tail_close(got, want, what):
    """t_sf / t_cdf (tests/test_core_hardening.py): the tail to 1e-12
    relative, the other side (1 - tail) to that as an absolute bound."""
    got, want = float(got), float(want)
    if math.isnan(want):
        assert math.isnan(got), what
    elif want <= 0.5:
        assert abs(got - want) <= 1e-12 * want + 1e-300, f"{what}: {got!r} vs {want!r}"
    else:
        assert abs(got - want) <= 1e-12 * (1 - want) + 2e-16, f"{what}: {got!r} vs {want!r}"


def effect_size(got, want, what):
    """Cohen's d / d_z (tests/test_stats_exact.py): 1e-9 relative; zero
    pooled variance gives +-inf or 0 on both sides."""
    if math.isnan(want):
        assert math.isnan(got), f"{what}: {got!r} vs NaN"
    elif math.isinf(want) or want == 0:
        assert got == want or abs(got) > 1e6 or abs(got) < 1e-6, f"{what}: {got!r} vs {want!r}"
    else:
        _scalar_close(got, want, 1e-9, 1e-12, what)


def mean_ci_close(got, want, what, x):
    """tests/test_welch.py: mean to 1e-13, bounds to 1e-8 of the width."""
    scale = float(np.max(np.abs(np.asarray(x, float)))) if np.size(x) else 0.0
    _scalar_close(got[0], want[0], 1e-13, 1e-13 * scale, what + " mean")
    width = want[2] - want[1] if np.isfinite(want[2] - want[1]) else 0.0
    _scalar_close(got[1], want[1], 1e-8, 1e-8 * width, what + " low")
    _scalar_close(got[2], want[2], 1e-8, 1e-8 * width, what + " high")


def two_sample_result_close(got, want, what, test, a):
    """two_sample_test: statistic and p as tests/test_stats_oracle.py (1e-8),
    df and mean_diff as tests/test_welch.py (1e-12), Hodges-Lehmann bounds
    exactly and t intervals to 1e-8 of the half-width (tests/test_stats_exact.py)."""
    assert len(got) == 8, what
    _scalar_close(got[0], want[0], 1e-8, 1e-300, what + " statistic")
    _scalar_close(got[1], want[1], 1e-8, 1e-300, what + " p-value")
    if not math.isnan(want[1]):
        # df of a test that is undefined here (too few values) is not part
        # of the contract: scipy says 0 where mushin may say NaN
        _scalar_close(got[2], want[2], 1e-12, 0.0, what + " df")
    _scalar_close(got[3], want[3], 1e-12, 1e-12 * float(np.max(np.abs(a))), what + " mean_diff")
    effect_size(got[4], want[4], what + " effect size")
    if test in ("wilcoxon", "mannwhitney"):
        assert (got[5], got[6]) == tuple(want[5:7]), f"{what} interval: {got[5:7]} vs {want[5:7]}"
    else:
        half = (want[6] - want[5]) / 2 if np.isfinite(want[6] - want[5]) else 0.0
        _scalar_close(got[5], want[5], 1e-8, 1e-8 * half, what + " ci_low")
        _scalar_close(got[6], want[6], 1e-8, 1e-8 * half, what + " ci_high")
    assert got[7] == want[7], f"{what} method: {got[7]!r} vs {want[7]!r}"


# ------------------------------------------------------------ inputs ----


def layouts(values: np.ndarray, draw) -> np.ndarray:
    """The same 1-d values in a drawn memory layout: contiguous, every other
    element of a larger buffer, or read backwards."""
    kind = draw(st.sampled_from(["contiguous", "strided", "reversed"]))
    if kind == "strided":
        buf = np.zeros(2 * values.size, dtype=values.dtype)
        buf[::2] = values
        return buf[::2]
    if kind == "reversed":
        return np.ascontiguousarray(values[::-1])[::-1]
    return values


def float_vector(draw, min_size=0, max_size=40, grid=False, elements=None):
    n = draw(st.integers(min_size, max_size))
    if grid:
        # multiples of 2^-10 times a power of two: sums (and so the
        # variance of a constant sample) are exact, as on the C side
        ints = draw(st.lists(st.integers(-2000, 2000), min_size=n, max_size=n))
        scale = 2.0 ** draw(st.integers(-30, 30))
        values = np.array(ints, dtype=np.float64) * 2.0**-10 * scale
    else:
        if elements is None:
            elements = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
        values = np.array(draw(st.lists(elements, min_size=n, max_size=n)), dtype=np.float64)
    dtype = draw(st.sampled_from([np.float64, np.float64, np.float32]))
    if dtype is np.float32:
        values = values.astype(np.float32)  # both sides get the same float32 values
    return layouts(values, draw)


def log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e)


probabilities = st.one_of(
    st.floats(0.0, 1.0),
    st.just(math.nan),
    st.sampled_from([0.0, 1.0, 0.05, 0.01, 0.5]),
)


@st.composite
def pvalue_arrays(draw):
    values = draw(st.lists(probabilities, min_size=0, max_size=30))
    if draw(st.integers(0, 9)) == 0 and values:  # sometimes one bad value: both raise
        values[draw(st.integers(0, len(values) - 1))] = draw(st.sampled_from([1.5, -0.25, math.inf]))
    return (layouts(np.array(values, dtype=np.float64), draw),)


@st.composite
def two_samples(draw, paired=False, grid=True):
    a = float_vector(draw, 0 if not paired else 1, 25, grid=grid)
    b_size = a.size if paired else draw(st.integers(0, 25))
    b = float_vector(draw, b_size, b_size, grid=grid)
    return a, b


@st.composite
def two_sample_test_args(draw):
    test = draw(st.sampled_from(twins.TESTS + ("bogus",)) if draw(st.integers(0, 19)) == 0 else st.sampled_from(twins.TESTS))
    paired = test in twins.PAIRED and draw(st.integers(0, 9)) > 0  # sometimes unequal sizes: both raise
    a, b = draw(two_samples(paired=paired))
    if paired and a.size and draw(st.booleans()):
        # a share of identical pairs: zeros among the differences
        keep = np.array(draw(st.lists(st.booleans(), min_size=a.size, max_size=a.size)))
        b = np.where(keep, a, b)
    confidence = draw(st.sampled_from([0.8, 0.95, 0.99]))
    return test, a, b, confidence


@st.composite
def mean_ci_args(draw):
    x = float_vector(draw, 0, 40)
    confidence = draw(st.one_of(st.floats(0.5, 0.999), st.sampled_from([0.95, 1.0, 0.0])))
    return x, confidence


@st.composite
def cohens_args(draw, paired):
    if paired:
        n = draw(st.integers(0, 30))
        m = n if draw(st.integers(0, 9)) else n + 1  # unequal sizes: both raise
        return float_vector(draw, n, n), float_vector(draw, m, m)
    return float_vector(draw, 0, 30), float_vector(draw, 0, 30)


@st.composite
def one_vector(draw):
    # past one and two 128-value blocks of NumPy's pairwise order
    return (float_vector(draw, 0, 300, elements=st.floats(-1e12, 1e12)),)


@st.composite
def bootstrap_indices_args(draw):
    seed = draw(st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 2**64 - 1, -1, 2**64])))
    spm = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    if draw(st.integers(0, 15)) == 0:
        spm[0] = 0  # no seed: both raise
    num_images = draw(st.integers(1, 40)) if draw(st.integers(0, 15)) else 0
    return (seed, draw(st.integers(0, 5000)), num_images, spm, draw(st.booleans()), draw(st.booleans()))


def indices_equal(got, want, what):
    assert (got[0] is None) == (want[0] is None) and (got[1] is None) == (want[1] is None), f"{what}: {got} vs {want}"
    if want[0] is not None:
        exact(got[0], want[0], what)
    if want[1] is not None:
        assert len(got[1]) == len(want[1]), what
        for g, w in zip(got[1], want[1]):
            exact(g, w, what)


@st.composite
def bootstrap_counts_args(draw):
    spm = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    n_images, n_classes = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    shape = (sum(spm), n_images, n_classes, 3)
    values = draw(st.lists(st.one_of(st.just(0), st.integers(0, 30)), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    counts = np.array(values, dtype=np.int64).reshape(shape)
    if draw(st.integers(0, 15)) == 0:
        counts.flat[0] = -1  # a negative count: both raise
    metric = draw(st.sampled_from(["miou", "dice", "pixel_acc", "precision", "recall"] + (["bogus"] if draw(st.integers(0, 15)) == 0 else [])))
    return (
        counts.astype(draw(st.sampled_from([np.int64, np.int32]))),
        spm,
        metric,
        draw(st.integers(1, 12)),
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.integers(0, 2**64 - 1)),
        draw(st.sampled_from([-1, 0, n_classes - 1])),
        draw(st.integers(1, 4)),
    )


@st.composite
def count_metric_args(draw):
    # classes past NumPy's eight-accumulator block; whole counts, counts past
    # 2**53 (rounded as doubles) and fractions; now and then a bad one
    rows, classes = draw(st.integers(0, 4)), draw(st.integers(1, 40))
    value = st.one_of(st.just(0), st.integers(0, 10**6), st.integers(2**53, 2**62), st.floats(0, 1e6))
    values = draw(st.lists(value, min_size=rows * classes * 3, max_size=rows * classes * 3))
    counts = np.array(values, dtype=np.float64).reshape(rows, classes, 3)
    if rows and draw(st.integers(0, 15)) == 0:
        counts.flat[0] = draw(st.sampled_from([-1.0, math.nan, math.inf]))  # both raise
    if draw(st.booleans()):
        counts = counts.round().astype(np.int64)
    metric = draw(st.sampled_from(["miou", "dice", "pixel_acc", "precision", "recall"] + (["bogus"] if draw(st.integers(0, 15)) == 0 else [])))
    return counts, metric, draw(st.sampled_from([-1, 0, classes - 1, classes]))


FUNCTION_CASES: dict[str, tuple] = {
    # name: (argument strategy, compare(got, want, what, args), max_examples)
    "betainc": (
        st.one_of(
            st.tuples(log_uniform(1e-2, 1e3), log_uniform(1e-2, 1e3), st.floats(0.0, 1.0)),
            st.tuples(st.sampled_from([-1.0, 0.0, 2.0, math.nan]), st.just(2.0), st.sampled_from([0.0, 1.0, 0.5, 1.5, -0.1])),
        ),
        lambda g, w, what, args: close(1e-11, 1e-300)(g, w, what),  # tests/test_core_hardening.py grid
        60,
    ),
    "t_sf": (
        st.tuples(st.floats(-40, 40), st.one_of(log_uniform(0.5, 1e6), st.sampled_from([math.inf, 0.0, -1.0]))),
        lambda g, w, what, args: tail_close(g, w, what),
        60,
    ),
    "t_cdf": (
        st.tuples(st.floats(-40, 40), st.one_of(log_uniform(0.5, 1e6), st.sampled_from([math.inf, 0.0, -1.0]))),
        lambda g, w, what, args: tail_close(g, w, what),
        60,
    ),
    "t_ppf": (
        st.tuples(
            st.one_of(st.floats(1e-10, 1 - 1e-10), st.sampled_from([0.0, 1.0, 1.2, math.nan])),
            log_uniform(1.0, 1e6),
        ),
        lambda g, w, what, args: close(1e-8, 1e-300)(g, w, what),  # tests/test_welch.py P_RTOL
        100,
    ),
    "norm_sf": (
        st.tuples(st.one_of(st.floats(-40, 40), st.sampled_from([math.inf, -math.inf, math.nan]))),
        lambda g, w, what, args: close(1e-12, 1e-300)(g, w, what),  # tests/test_stats_exact.py
        100,
    ),
    "norm_ppf": (
        st.tuples(st.one_of(st.floats(1e-300, 1 - 1e-12), log_uniform(1e-300, 1e-3), st.sampled_from([0.0, 1.0, 1.5, math.nan]))),
        lambda g, w, what, args: close(1e-12, 1e-15)(g, w, what),  # tests/test_stats_exact.py
        100,
    ),
    "pairwise_sum": (
        one_vector(),
        lambda g, w, what, args: exact(g, w, what),  # numpy.sum bit for bit
        100,
    ),
    "mean_ci": (mean_ci_args(), lambda g, w, what, args: mean_ci_close(g, w, what, args[0]), 60),
    "cohens_d": (cohens_args(False), lambda g, w, what, args: effect_size(g, w, what), 100),
    "cohens_dz": (cohens_args(True), lambda g, w, what, args: effect_size(g, w, what), 100),
    "holm": (pvalue_arrays(), lambda g, w, what, args: close(1e-14)(g, w, what), 100),  # tests/test_welch.py
    "bonferroni": (pvalue_arrays(), lambda g, w, what, args: close(1e-14)(g, w, what), 100),
    "fdr_bh": (pvalue_arrays(), lambda g, w, what, args: close(1e-15)(g, w, what), 100),  # test_stats_exact
    "two_sample_test": (
        two_sample_test_args(),
        lambda g, w, what, args: two_sample_result_close(g, w, what, args[0], args[1]),
        80,
    ),
    "min_pvalue": (
        st.tuples(
            st.sampled_from(twins.TESTS + ("bogus",)),
            st.integers(-1, 70),
            st.integers(-1, 70),
        ),
        lambda g, w, what, args: close(1e-12, 1e-300)(g, w, what),  # tests/test_stats_exact.py
        150,
    ),
    "signed_rank_counts": (
        st.tuples(st.one_of(st.integers(-2, 60), st.just(1001))),
        lambda g, w, what, args: close(1e-14)(g, w, what),  # tests/test_stats_exact.py
        40,
    ),
    # the indices bit for bit (the same SplitMix64 stream); the bootstrap's
    # metrics to 1e-12 (one rounding order in C, another in NumPy)
    "bootstrap_indices": (bootstrap_indices_args(), lambda g, w, what, args: indices_equal(g, w, what), 60),
    # bit for bit: every sum in the NumPy formula's order
    "count_metric": (count_metric_args(), lambda g, w, what, args: exact(g, w, what), 150),
    "bootstrap_counts": (bootstrap_counts_args(), lambda g, w, what, args: close(1e-12, 1e-15)(g, w, what), 60),
    "rank_sum_counts": (
        st.tuples(st.integers(-1, 20), st.integers(0, 20)).flatmap(
            lambda n: st.tuples(st.just(n[0]), st.just(n[1]), st.integers(-1, max(n[0], 0) * n[1] + 5))
        ),
        lambda g, w, what, args: close(1e-13)(g, w, what),  # tests/test_stats_exact.py
        60,
    ),
    "confusion_thread_count": (
        st.tuples(
            st.one_of(st.integers(0, 300), st.integers(60000, 70000)),
            st.one_of(st.integers(-1, 2**20), st.integers(2**20, 2**34)),
            st.one_of(st.integers(0, 2**20), st.integers(2**20, 2**36)),
            st.integers(0, 100),
        ),
        lambda g, w, what, args: exact(g, w, what),
        200,
    ),
}


# resampling, ranking and power (tests/twins_resample.py)
FUNCTION_CASES.update(twins.twins_resample.CASES)

# the slow runs draw this many times the default number of examples
SLOW_FACTOR = 10


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_function_agrees_with_twin(name):
    check_function(name, FUNCTION_CASES[name][2])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_function_agrees_with_twin_on_many_inputs(name):
    check_function(name, SLOW_FACTOR * FUNCTION_CASES[name][2], derandomize=False)


def check_function(name, examples, derandomize=True):
    strategy, compare, _ = FUNCTION_CASES[name]
    fn, twin = getattr(_core, name), TWINS[name]

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=derandomize)
    @given(args=strategy)
    def check(args):
        what = f"{name}{tuple(np.asarray(a).tolist() if isinstance(a, np.ndarray) else a for a in args)}"
        before = snapshot(args)
        got = call(fn, *args)
        inputs_unchanged(args, before, what)
        want = call(twin, *args)
        agree(got, want, lambda g, w, wh: compare(g, w, wh, args), what)

    check()


@pytest.mark.skipif(not twins.cpu_flags(), reason="the twin reads the CPU's flags from /proc/cpuinfo")
def test_isa_settings_agree_with_twin():
    """set_isa_cap / isa_level / isa_name on a random sequence of caps, the
    C side restored afterwards."""
    start = _core.isa_level()
    names = ("set_isa_cap", "isa_level", "isa_name")
    rng = np.random.default_rng(11)
    try:
        assert _core.set_isa_cap(2) == twins.ISA.set_isa_cap(2)
        for cap in rng.integers(-1, 4, 40).tolist():
            agree(call(_core.set_isa_cap, cap), call(TWINS["set_isa_cap"], cap), exact, f"set_isa_cap({cap})")
            for name in names[1:]:
                assert getattr(_core, name)() == TWINS[name](), name
    finally:
        _core.set_isa_cap(start)
        twins.ISA.set_isa_cap(2)
    assert _core.isa_level() == start


def test_default_threads_agree_with_twin():
    """set_default_threads / get_default_threads on a sequence of good and
    bad values; the module's default is restored afterwards."""
    start = _core.get_default_threads()
    values = [1, 64, None, 0, 65, -1, 7, 2.5, True, "4", lambda: 3, 12]
    try:
        twins.THREADS.set_default_threads(start)
        for value in values:
            got = call(_core.set_default_threads, value)
            want = call(TWINS["set_default_threads"], value)
            agree(got, want, exact, f"set_default_threads({value!r})")
            if not isinstance(got, Raised):
                assert got is None
            assert _core.get_default_threads() is TWINS["get_default_threads"](), repr(value)
    finally:
        _core.set_default_threads(start)
        twins.THREADS.set_default_threads(None)
    assert _core.get_default_threads() is start


def test_every_function_twin_is_exercised():
    functions = {n for n in public_callables() if "." not in n}
    driven = set(FUNCTION_CASES) | {"set_isa_cap", "isa_level", "isa_name"}
    driven |= {"set_default_threads", "get_default_threads"}
    assert functions <= driven, f"no argument strategy in tests/test_twins.py for {sorted(functions - driven)}"


# ------------------------------------------------------------- states ---


def int_array(draw, values, shape):
    dtype = draw(st.sampled_from([np.int64, np.int32, np.int16, np.int8, np.uint8]))
    a = np.array(values, dtype=np.int64).reshape(shape)
    if dtype is np.uint8 and (a.min(initial=0) < 0 or a.max(initial=0) > 255):
        dtype = np.int64
    if dtype is np.int8 and a.max(initial=0) > 127:
        dtype = np.int16
    return arrange(a.astype(dtype), draw)


def arrange(a: np.ndarray, draw) -> np.ndarray:
    """The same values in a drawn layout: C order, Fortran order, every
    other element of a larger buffer, or a transposed view."""
    kind = draw(st.sampled_from(["C", "F", "strided", "transposed"]))
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":
        buf = np.zeros(2 * a.size, dtype=a.dtype)
        buf[::2] = a.ravel()
        strides = tuple(2 * s for s in np.empty(a.shape, a.dtype).strides)
        return np.lib.stride_tricks.as_strided(buf, a.shape, strides, writeable=False)
    if kind == "transposed" and a.ndim >= 2:
        return np.ascontiguousarray(a.T).T
    return a


def labels(draw, num_classes, ignore_index, size, bad_rate=12):
    """Class labels, the ignore value now and then, and (one batch in
    bad_rate) an out-of-range one."""
    choices = list(range(num_classes)) + ([ignore_index] if ignore_index is not None else [])
    values = draw(st.lists(st.sampled_from(choices), min_size=size, max_size=size))
    if size and draw(st.integers(0, bad_rate - 1)) == 0:
        values[draw(st.integers(0, size - 1))] = draw(st.sampled_from([-1, num_classes, num_classes + 3]))
    return values


def prob_matrix(draw, rows, num_classes):
    grid = st.sampled_from([0.0, 0.125, 0.25, 0.5, 0.75, 1.0])
    values = draw(st.lists(st.one_of(grid, st.floats(0.0, 1.0)), min_size=rows * num_classes, max_size=rows * num_classes))
    p = np.array(values, dtype=np.float64).reshape(rows, num_classes)
    if rows and draw(st.integers(0, 11)) == 0:
        p[draw(st.integers(0, rows - 1)), draw(st.integers(0, num_classes - 1))] = draw(st.sampled_from([1.5, -0.25, math.nan]))
    kind = draw(st.sampled_from(["float64", "float32", "float16", "bfloat16"]))
    if kind == "bfloat16":
        return torch.from_numpy(p).to(torch.bfloat16)
    return arrange(p.astype(kind), draw)


def confusion_update(draw, ctor):
    num_classes, ignore_index = ctor["num_classes"], ctor.get("ignore_index")
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    size = int(np.prod(shape))
    target = labels(draw, num_classes, ignore_index, size)
    preds = labels(draw, num_classes, ignore_index, size)
    return (int_array(draw, preds, shape), int_array(draw, target, shape))


def confusion_update_logits(draw, ctor):
    num_classes, ignore_index = ctor["num_classes"], ctor.get("ignore_index")
    n, h = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    grid = st.sampled_from([0.0, -0.0, 1.0, 2.0, -3.5, math.nan, math.inf, -math.inf])
    values = draw(st.lists(st.one_of(grid, st.floats(-10, 10)), min_size=n * num_classes * h, max_size=n * num_classes * h))
    logits = np.array(values, dtype=np.float64).reshape(n, num_classes, h)
    class_dim = draw(st.sampled_from([1, -1]))
    if class_dim == -1:
        logits = np.ascontiguousarray(np.moveaxis(logits, 1, -1))
    target = int_array(draw, labels(draw, num_classes, ignore_index, n * h), (n, h))
    kind = draw(st.sampled_from(["float64", "float32", "float16", "bfloat16"]))
    if kind == "bfloat16":
        x = torch.from_numpy(logits).to(torch.bfloat16)
    else:
        x = arrange(logits.astype(kind), draw)
    return (x, target, class_dim)


def score_update(draw, ctor):
    rows = draw(st.integers(0, 12))
    num_classes, ignore_index = ctor["num_classes"], ctor.get("ignore_index")
    probs = prob_matrix(draw, rows, num_classes)
    target = int_array(draw, labels(draw, num_classes, ignore_index, rows), (rows,))
    return (probs, target)


def regression_update(draw, ctor):
    n = draw(st.integers(0, 20))
    values = st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, 1.0, -2.5]))
    p = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    t = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    if n and draw(st.integers(0, 11)) == 0:
        p[draw(st.integers(0, n - 1))] = draw(st.sampled_from([math.nan, math.inf]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    return (layouts(p.astype(dtype), draw), layouts(t.astype(dtype), draw))


def retrieval_update(draw, ctor):
    n = draw(st.integers(0, 20))
    p = np.array(draw(st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 2.0]) | st.floats(-2, 2), min_size=n, max_size=n)))
    t = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int64)
    q = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.int64)
    if n and draw(st.integers(0, 11)) == 0:
        q[draw(st.integers(0, n - 1))] = -1
    return (layouts(p, draw), layouts(t, draw), layouts(q, draw))


def _confusion_ctor(draw):
    c = draw(st.integers(1, 5))
    return {"num_classes": c, "ignore_index": draw(st.sampled_from([None, 255, 0, c - 1]))}


def _scores_ctor(draw):
    c = draw(st.integers(1, 4))
    return {"num_classes": c, "ignore_index": draw(st.sampled_from([None, 255, 0]))}


def per_image_update(draw, ctor):
    num_classes, ignore_index = ctor["num_classes"], ctor.get("ignore_index")
    shape = (draw(st.integers(0, 3)),) + tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    size = int(np.prod(shape))
    target = labels(draw, num_classes, ignore_index, size)
    preds = labels(draw, num_classes, ignore_index, size)
    return (int_array(draw, preds, shape), int_array(draw, target, shape))


def _per_image_ctor(draw):
    c = draw(st.integers(1, 5))
    return {
        "num_classes": c,
        "ignore_index": draw(st.sampled_from([None, 255, 0, c - 1])),
        "dtype": draw(st.sampled_from(["int64", "int32"])),
        # a budget of a few images now and then: updates and merges past it are refused
        "max_bytes": draw(st.sampled_from([2**30, 2**30, 600])),
    }


def _calibration_ctor(draw):
    ctor = _scores_ctor(draw)
    ctor["n_bins"] = draw(st.sampled_from([None, 1, 2, 5, 15]))
    return ctor


# type: (constructor kwargs, {method: argument maker}, observables {name: (C getter, twin getter, compare)})
STATE_CASES: dict[str, tuple] = {
    "ConfusionMatrix": (
        _confusion_ctor,
        {"update": confusion_update, "update_logits": confusion_update_logits},
        {"counts": (lambda o: o.counts, lambda o: o.counts, exact)},
    ),
    "CalibrationBins": (
        _calibration_ctor,
        {"update": score_update},
        {
            "counts": (lambda o: o.counts, lambda o: o.counts, exact),
            "accuracy_sums": (lambda o: o.accuracy_sums, lambda o: o.accuracy_sums, exact),
            "confidence_fixed": (lambda o: o.confidence_fixed, lambda o: o.confidence_fixed(), exact),
            # correctly rounded from the exact sums
            "confidence_sums": (lambda o: o.confidence_sums, lambda o: o.confidence_sums(), exact),
        },
    ),
    "RocScores": (
        _scores_ctor,
        {"update": score_update},
        {"num_samples": (lambda o: o.num_samples, lambda o: o.target.size, exact)},
    ),
    "RegressionMoments": (
        lambda draw: {},
        {"update": regression_update},
        {"state": (lambda o: o.state_dict(), lambda o: o.state_dict(), None)},
    ),
    "RankedPairs": (
        lambda draw: {},
        {"update": regression_update},
        {"state": (lambda o: o.state_dict(), lambda o: o.state_dict(), None)},
    ),
    "RetrievalGroups": (
        lambda draw: {"top_k": draw(st.sampled_from([None, 1, 3])), "graded": False},
        {"update": retrieval_update},
        {"state": (lambda o: o.state_dict(), lambda o: o.state_dict(), None)},
    ),
    "PerImageCounts": (
        _per_image_ctor,
        {"update": per_image_update, "update_logits": confusion_update_logits},
        {"state": (lambda o: o.state_dict(), lambda o: o.state_dict(), None)},
    ),
}

def each_key(compare):
    """compare() applied to every entry of a dict result, same keys."""

    def check(got, want, what):
        assert sorted(got) == sorted(want), f"{what}: keys {sorted(got)} vs {sorted(want)}"
        for key in want:
            compare(got[key], want[key], f"{what}[{key!r}]")

    return check


# what the read-only methods return, compared as the oracle tests do
RESULT_COMPARE = {
    "CalibrationBins.compute": close(0.0, 1e-12),  # tests/test_scores_kernels.py
    "RocScores.compute": close(0.0, 1e-12),
    "RocScores.per_class": close(0.0, 1e-12),  # tests/test_scores_kernels.py
    "RegressionMoments.compute": each_key(close(1e-13, 1e-13)),  # test_regression_states.py _close
    "RankedPairs.compute": each_key(close(0.0, 1e-14)),  # tests/test_regression_states.py
    "RetrievalGroups.compute": each_key(close(0.0, 1e-12)),  # tests/test_retrieval_states.py
    "PerImageCounts.update_logits": exact,  # the batch's confusion counts
}


def state_dicts_equal(got, want, what):
    """Same keys, same dtypes, same values bit for bit."""
    assert sorted(got) == sorted(want), f"{what}: keys {sorted(got)} vs {sorted(want)}"
    for key in want:
        g, w = np.asarray(got[key]), np.asarray(want[key])
        assert g.dtype == w.dtype, f"{what}[{key!r}]: dtype {g.dtype} vs {w.dtype}"
        exact(g, w, f"{what}[{key!r}]")


def _merge_args(type_name, draw, other_c, other_slow):
    """What merge() is given: the other accumulator's arrays (the same to
    both sides), now and then tampered with so that both must refuse it; for
    the dict states, the other object or its state_dict()."""
    if type_name == "ConfusionMatrix":
        counts = other_c.counts
        how = draw(st.integers(0, 7))
        if how == 0:
            counts = counts.astype(np.float64)
        elif how == 1 and counts.size:
            counts = counts.copy()
            counts.flat[0] = -1
        return (counts,), (counts,)
    if type_name == "CalibrationBins":
        arrays = [other_c.counts, other_c.confidence_fixed, other_c.accuracy_sums]
        how = draw(st.integers(0, 7))
        if how == 0:
            arrays[0] = arrays[0].astype(np.float64)
        elif how == 1:
            arrays[2] = arrays[2] + 1  # a correct count above its slot's count
        return tuple(arrays), tuple(arrays)
    if draw(st.booleans()):
        return (other_c,), (other_slow,)
    return (other_c.state_dict(),), (other_slow.state_dict(),)


@pytest.mark.parametrize("type_name", sorted(STATE_CASES))
def test_state_methods_agree_with_twin(type_name):
    check_state(type_name, 40)


@pytest.mark.slow
@pytest.mark.parametrize("type_name", sorted(STATE_CASES))
def test_state_methods_agree_with_twin_on_many_histories(type_name):
    check_state(type_name, 40 * SLOW_FACTOR, derandomize=False)


def check_state(type_name, examples, derandomize=True):
    ctor_maker, updaters, observables = STATE_CASES[type_name]
    c_type, slow_type = getattr(_core, type_name), twins.SLOW_TYPES[type_name]
    methods = sorted(m.split(".", 1)[1] for m in TWINS if m.startswith(type_name + "."))
    called: set[str] = set()

    def observe(c_obj, slow_obj, what):
        for name, (c_get, slow_get, compare) in observables.items():
            (compare or state_dicts_equal)(c_get(c_obj), slow_get(slow_obj), f"{what}: {name}")

    def build(draw, ctor, updates):
        c_obj, slow_obj = c_type(**ctor), slow_type(**ctor)
        for _ in range(updates):
            args = updaters["update"](draw, ctor)
            call(c_obj.update, *args), call(slow_obj.update, *args)
        return c_obj, slow_obj

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=derandomize)
    @given(data=st.data())
    def check(data):
        draw = data.draw
        ctor = ctor_maker(draw)
        steps = draw(st.lists(st.sampled_from(methods), min_size=1, max_size=6))
        c_obj, slow_obj = c_type(**ctor), slow_type(**ctor)
        for i, method in enumerate(steps):
            what = f"{type_name}({ctor}) step {i}: {method}"
            if method in updaters:
                c_args = slow_args = updaters[method](draw, ctor)
            elif method in ("merge", "load_state_dict"):
                other_c, other_slow = build(draw, ctor, draw(st.integers(0, 2)))
                c_args, slow_args = _merge_args(type_name, draw, other_c, other_slow)
                if method == "load_state_dict":
                    c_args, slow_args = (other_c.state_dict(),), (other_slow.state_dict(),)
            else:
                c_args = slow_args = ()
            before = snapshot(c_args)
            got = call(getattr(c_obj, method), *c_args)
            inputs_unchanged(c_args, before, what)
            want = call(getattr(slow_obj, method), *slow_args)
            compare = RESULT_COMPARE.get(f"{type_name}.{method}")
            if method == "state_dict":
                compare = state_dicts_equal
            if agree(got, want, compare or (lambda g, w, wh: None), what):
                called.add(method)
                if compare is None and method not in ("state_dict",):
                    assert got is None, f"{what}: returned {got!r}"
            observe(c_obj, slow_obj, what)

    check()
    # every method of the type was driven to a successful call at least once
    assert set(methods) <= called, f"{type_name}: never called successfully: {sorted(set(methods) - called)}"
