"""The statistics fuzz corpus, run through ``mushin._core`` against scipy and mpmath.

``csrc/fuzz/fuzz_stats.c`` checks invariants only (no oracle in C).  Its seed
corpus (``csrc/fuzz/corpus/stats/``) holds the inputs libFuzzer kept for
reaching new code: ties, zero differences, the exact / permutation / normal
branches, extreme scales and degrees of freedom.  This test decodes those
bytes exactly as the harness does and checks the same inputs at the Python
level: every two-sample case against scipy through the oracle of
``test_stats_oracle.py`` (same tolerances, same documented departures), every
Student-t case against mpmath.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import mpmath
import numpy as np
import pytest
import scipy.stats as ss

from mushin import _core

from test_stats_oracle import _check_one, assert_close

CORPUS = Path(__file__).resolve().parent.parent / "csrc" / "fuzz" / "corpus" / "stats"
TESTS = ["welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney"]
MAX_SAMPLE = 64
# scipy squares the scores (and Welch's df squares variances again), so past
# about 1e+-75 its t-tests overflow or underflow where mushin rescales first;
# the oracle is only asked where it is itself exact
SCIPY_RANGE = (1e-75, 1e75)
# Student-t cases checked against mpmath: below df ~ 1e-3 the quantiles lie
# beyond exp(1 / df) (t.ppf(5e-4, 2.4e-19) is -inf in double; scipy says
# -3.3e144); above 1e8 x = df / (df + t^2) needs more digits than 60
DF_RANGE = (1e-3, 1e8)


class Reader:
    """fuzz_common.h's reader: bytes from the front, zeros past the end."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def u8(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        lo = self.u8()
        return lo | self.u8() << 8

    def u64(self) -> int:
        return sum(self.u8() << (8 * i) for i in range(8))

    def f64(self) -> float:
        return struct.unpack("<d", struct.pack("<Q", self.u64()))[0]


def int8(x: int) -> int:
    return x - 256 if x >= 128 else x


def int16(x: int) -> int:
    return x - 65536 if x >= 32768 else x


def c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def score(r: Reader, scale: float) -> float:
    b = r.u8()
    if b < 160:
        return (b % 16) * scale
    if b < 250:
        return int16(r.u16()) / 256.0 * scale
    return r.f64()


def decode_two_sample(r: Reader):
    """check_two_sample's inputs: (kind, a, b, confidence)."""
    kind_byte, sizes, conf = r.u8(), r.u8(), r.u8()
    kind = kind_byte % (len(TESTS) + 1)
    scale = math.ldexp(1.0, int8(r.u8()) * 4)
    na, nb = 1 + sizes % 16, 1 + (sizes >> 4)
    if kind_byte & 0x80:
        na = 1 + r.u8() % MAX_SAMPLE
        nb = na if kind_byte & 0x40 else 1 + r.u8() % MAX_SAMPLE
    if kind < len(TESTS) and TESTS[kind] in ("ttest_rel", "wilcoxon") and kind_byte & 0x20:
        nb = na
    a = [score(r, scale) for _ in range(na)]
    b = [score(r, scale) for _ in range(nb)]
    confidence = 0.95 if conf == 0 else 1.0 if conf == 255 else conf / 255.0
    return kind, np.array(a), np.array(b), confidence


def decode_t(r: Reader):
    """check_t_distribution's inputs: (df, t1, t2, q)."""
    b = r.u8()
    if b < 100:
        df = 1.0 + b % 60
    elif b < 140:
        df = r.u16() / 64.0
    elif b < 200:
        mantissa, exponent = r.u8(), r.u8()
        df = math.ldexp(1.0 + mantissa / 256.0, int8(exponent) * 2)
    elif b < 210:
        df = math.inf
    else:
        df = r.f64()
    m1, e1, m2, e2 = r.u16(), r.u8(), r.u16(), r.u8()
    t1 = math.ldexp(float(int16(m1)), c_div(int8(e1), 4))
    t2 = math.ldexp(float(int16(m2)), c_div(int8(e2), 4))
    q = r.u16() / 65536.0
    if r.u8() > 240:
        t1 = r.f64()
    return df, t1, t2, q


def corpus_cases(selector: int):
    files = sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []
    for path in files:
        data = path.read_bytes()
        if data and data[0] % 6 == selector:
            yield path.name, Reader(data[1:])


def in_scipy_range(x: np.ndarray) -> bool:
    ax = np.abs(x[x != 0])
    return bool(np.all(np.isfinite(x)) and np.all((ax >= SCIPY_RANGE[0]) & (ax <= SCIPY_RANGE[1])))


def test_corpus_is_committed_and_small():
    root = CORPUS.parent
    sizes = [p.stat().st_size for p in root.rglob("*") if p.is_file()]
    assert {"confusion", "scores", "stats"} <= {p.name for p in root.iterdir()}
    assert sum(sizes) < 1_000_000, f"the seed corpus under {root} is {sum(sizes)} bytes; run `make fuzz-corpus`"


def test_two_sample_corpus_matches_scipy():
    checked = {t: 0 for t in TESTS}
    for name, r in corpus_cases(0):
        kind, a, b, _ = decode_two_sample(r)
        if kind >= len(TESTS) or not (in_scipy_range(a) and in_scipy_range(b)):
            continue
        test = TESTS[kind]
        if test in ("ttest_rel", "wilcoxon") and a.size != b.size:
            continue  # the kernel refuses unequal paired samples before testing
        if test in ("ttest_rel", "wilcoxon") and a.size < 2:
            # scipy refuses one pair; the documented rule still applies
            if np.all(a == b):
                assert _core.two_sample_test(test, a, b)[:2] == (0.0, 1.0), f"corpus file {name}"
            continue
        try:
            _check_one(test, a, b)
        except AssertionError as exc:
            raise AssertionError(f"corpus file {name}: {exc}") from None
        checked[test] += 1
    # the corpus must keep exercising every test, or it has gone stale
    assert all(n > 0 for n in checked.values()), checked


def student_t_tail(t: float, df: float) -> float:
    """P(T > |t|) = I_x(df / 2, 1 / 2) / 2 with x = df / (df + t^2), in mpmath.

    The oracle for the t distribution: scipy's far tails underflow early
    (t.cdf(-3.5e306, 0.43) is 0.0 where the tail is 2.0e-134).  Exact inputs,
    60 digits: x is within 1e-8 of 1 at most (DF_RANGE), so nothing is lost.
    """
    with mpmath.workdps(60):
        t2 = mpmath.mpf(t) ** 2
        x = mpmath.mpf(df) / (mpmath.mpf(df) + t2)
        return float(mpmath.betainc(mpmath.mpf(df) / 2, mpmath.mpf(1) / 2, 0, x, regularized=True) / 2)


def test_student_t_corpus_matches_mpmath():
    checked = 0
    for name, r in corpus_cases(1):
        df, t1, t2, q = decode_t(r)
        if not DF_RANGE[0] <= df <= DF_RANGE[1]:
            continue
        for t in (t1, t2):
            if not math.isfinite(t):
                continue
            tail = student_t_tail(t, df)
            upper, lower = (tail, 1.0 - tail) if t >= 0 else (1.0 - tail, tail)
            assert_close(_core.t_sf(t, df), upper, f"t_sf({t!r}, {df!r}) of {name}")
            assert_close(_core.t_cdf(t, df), lower, f"t_cdf({t!r}, {df!r}) of {name}")
        if 0.0 < q < 1.0 and q != 0.5:
            # the quantile is right when the tail at it is the asked one
            t = _core.t_ppf(q, df)
            if math.isfinite(t):
                assert_close(student_t_tail(t, df), min(q, 1.0 - q), f"tail at t_ppf({q!r}, {df!r}) of {name}")
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("selector", range(6))
def test_every_harness_branch_has_seeds(selector):
    assert any(True for _ in corpus_cases(selector)), f"no seed reaches branch {selector} of fuzz_stats.c"
