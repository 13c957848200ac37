"""Slow, exact NumPy/Python twins of the regression states in
``csrc/kernels/regression.c`` (``RegressionMoments``, ``RankedPairs``).

Used only by the tests.  Sums are Python integers (every finite double is an
integer multiple of 2**-1074, every product of two an integer multiple of
2**-2148), metrics come from exact fractions rounded at the end, so the twin
shares no arithmetic with the C code.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

LIMBS = 136
VALUE_UNIT = 1074     # a sum of values is an integer in units of 2**-1074
PRODUCT_UNIT = 2148   # a sum of products, in units of 2**-2148
PEARSON_BOUND = math.sqrt(float(np.finfo(np.float32).eps))


def _values(a) -> list[float]:
    arr = np.asarray(a)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    return [float(v) for v in arr.reshape(-1)]


def _units(x: float, unit: int) -> int:
    num, den = x.as_integer_ratio()
    scaled = Fraction(num, den) * (1 << unit)
    assert scaled.denominator == 1
    return scaled.numerator


def exact_sums(preds, target) -> dict:
    """The six integer sums, n and the extremes of a set of pairs."""
    p, t = _values(preds), _values(target)
    return {
        "n": len(p),
        "sum_p": sum(_units(v, VALUE_UNIT) for v in p),
        "sum_t": sum(_units(v, VALUE_UNIT) for v in t),
        "sum_abs": sum(abs(_units(a, VALUE_UNIT) - _units(b, VALUE_UNIT)) for a, b in zip(p, t)),
        "sum_pp": sum(_units(a, VALUE_UNIT) ** 2 for a in p),
        "sum_tt": sum(_units(b, VALUE_UNIT) ** 2 for b in t),
        "sum_pt": sum(_units(a, VALUE_UNIT) * _units(b, VALUE_UNIT) for a, b in zip(p, t)),
        "extremes": [min(p, default=math.inf), max(p, default=-math.inf),
                     min(t, default=math.inf), max(t, default=-math.inf)],
    }


def limbs(value: int) -> np.ndarray:
    """Canonical base-2**32 limbs: all but the top in [0, 2**32), the top
    signed (Python's >> floors, as the C normalisation does)."""
    out = [(value >> (32 * i)) & 0xFFFFFFFF for i in range(LIMBS - 1)]
    out.append(value >> (32 * (LIMBS - 1)))
    return np.array(out, dtype=np.int64)


def moments_state_dict(preds, target) -> dict:
    s = exact_sums(preds, target)
    order = ("sum_p", "sum_t", "sum_abs", "sum_pp", "sum_tt", "sum_pt")
    return {
        "n": np.array(s["n"], dtype=np.int64),
        "extremes": np.array(s["extremes"], dtype=np.float64),
        "sums": np.stack([limbs(s[k]) for k in order]),
    }


def _float(x: Fraction) -> float:
    """x rounded to a double; +-inf past the largest (as the C code's ldexp)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _signed_sqrt_ratio(num: Fraction, den: Fraction) -> float:
    """num / sqrt(den) for den > 0, from the exact square."""
    r2 = num * num / den
    root = math.sqrt(float(r2))
    return -root if num < 0 else root


def moments_metrics(preds, target) -> dict:
    """mse, mae, rmse, r2 and pearson as regression.h defines them."""
    s = exact_sums(preds, target)
    n = s["n"]
    nan = float("nan")
    out = dict(mse=nan, mae=nan, rmse=nan, r2=nan, pearson=nan)
    if n == 0:
        return out
    vu, pu = Fraction(1, 1 << VALUE_UNIT), Fraction(1, 1 << PRODUCT_UNIT)
    rss = (s["sum_pp"] - 2 * s["sum_pt"] + s["sum_tt"]) * pu
    out["mse"] = _float(rss / n)
    out["rmse"] = math.sqrt(out["mse"])
    out["mae"] = _float(s["sum_abs"] * vu / n)
    if n < 2:
        return out
    nss_t = (n * s["sum_tt"] - s["sum_t"] ** 2) * pu
    nss_p = (n * s["sum_pp"] - s["sum_p"] ** 2) * pu
    nsp = (n * s["sum_pt"] - s["sum_p"] * s["sum_t"]) * pu
    tss = nss_t / n
    if abs(_float(rss)) <= 1e-4:
        out["r2"] = 1.0
    elif abs(_float(tss)) <= 1e-4:
        out["r2"] = 0.0
    else:
        out["r2"] = _float(1 - rss / tss)
    mean_p = _float(s["sum_p"] * vu) / n
    mean_t = _float(s["sum_t"] * vu) / n
    lo_p, hi_p, lo_t, hi_t = s["extremes"]
    dev_p = max(hi_p - mean_p, mean_p - lo_p)
    dev_t = max(hi_t - mean_t, mean_t - lo_t)
    with np.errstate(all="ignore"):
        var_p = _float(nss_p / (n * (n - 1)) / Fraction(dev_p) ** 2) if dev_p else nan
        var_t = _float(nss_t / (n * (n - 1)) / Fraction(dev_t) ** 2) if dev_t else nan
    if not (var_p >= PEARSON_BOUND and var_t >= PEARSON_BOUND
            and math.isfinite(var_p) and math.isfinite(var_t)):
        return out
    # torchmetrics' float32 variance, divided by n - 1 in float32, rounds a
    # variance of at most 2^-150 to 0
    if min(nss_p, nss_t) / (n * (n - 1)) <= Fraction(1, 1 << 150):
        return out
    r = _signed_sqrt_ratio(nsp, nss_p * nss_t)
    out["pearson"] = min(1.0, max(-1.0, r))
    return out


def doubled_average_ranks(values) -> np.ndarray:
    """2 * the average rank (1-based) of each value: an integer."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), dtype=np.int64)
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + 1) + (j + 1)
        i = j + 1
    return ranks


def spearman(preds, target) -> float:
    """SpearmanCorrCoef's cov / (sd_p * sd_t + 1e-6) on average ranks, with
    the moments from exact integer rank sums; NaN without pairs."""
    # kept as float32, as SpearmanCorrCoef stores them
    p = _values(np.asarray(preds).astype(np.float32))
    t = _values(np.asarray(target).astype(np.float32))
    n = len(p)
    if n == 0:
        return float("nan")
    rp = [int(r) for r in doubled_average_ranks(p)]
    rt = [int(r) for r in doubled_average_ranks(t)]
    sp, st = sum(rp), sum(rt)
    cov = Fraction(n * sum(a * b for a, b in zip(rp, rt)) - sp * st, 4 * n * n)
    var_p = Fraction(n * sum(a * a for a in rp) - sp * sp, 4 * n * n)
    var_t = Fraction(n * sum(b * b for b in rt) - st * st, 4 * n * n)
    v = float(cov) / (math.sqrt(float(var_p)) * math.sqrt(float(var_t)) + 1e-6)
    return min(1.0, max(-1.0, v))
