"""Slow NumPy twins of mushin's C statistics (csrc/stats.c, csrc/ranktests.c).

Used only by the tests: each function restates one C routine in the most
direct way available (Python integers for exact counts, brute-force
enumeration of sign flips, sorting every pairwise difference), so the C code
can be checked against it on generated inputs.  The outside oracle is scipy;
these twins cover what scipy does not expose (exact counts, the
Hodges-Lehmann interval, the attainable p-values) or is too slow to call
thousands of times (the Wilcoxon permutation path).
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Tuple

import numpy as np
from scipy import special

# ------------------------------------------------------------- ranking --


def average_ranks(x) -> Tuple[np.ndarray, float, bool]:
    """1-based average ranks, the tie term sum(t^3 - t) and whether any tie."""
    x = np.asarray(x, dtype=float)
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # last 1-based position of each distinct value
    rank_of_value = upper - (counts - 1) / 2.0
    tie_term = float(np.sum(counts.astype(float) ** 3 - counts))
    return rank_of_value[inverse], tie_term, bool((counts > 1).any())


# ------------------------------------------------ exact distributions --


def signed_rank_counts(n: int) -> np.ndarray:
    """Subsets of {1..n} per sum, by multiplying out prod (1 + q^k) in ints."""
    poly = [1]
    for k in range(1, n + 1):
        nxt = poly + [0] * k
        for s, c in enumerate(poly):
            nxt[s + k] += c
        poly = nxt
    return np.array(poly, dtype=float)


@functools.lru_cache(maxsize=None)
def _rank_sum_poly(m: int, n: int) -> Tuple[int, ...]:
    # the largest of the m + n values: from the first sample it beats all n
    # of the second (U += n), from the second it adds nothing
    if m == 0 or n == 0:
        return (1,)
    with_a = (0,) * n + _rank_sum_poly(m - 1, n)
    with_b = _rank_sum_poly(m, n - 1)
    size = max(len(with_a), len(with_b))
    return tuple(
        (with_a[i] if i < len(with_a) else 0) + (with_b[i] if i < len(with_b) else 0)
        for i in range(size)
    )


def rank_sum_counts(n1: int, n2: int) -> np.ndarray:
    """Arrangements per value of U (exact Python ints, returned as float)."""
    return np.array(_rank_sum_poly(min(n1, n2), max(n1, n2)), dtype=float)


def rank_sum_counts_gaussian(n1: int, n2: int, kmax: int) -> list:
    """Counts of U = 0..kmax as exact Python ints: the coefficients of
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), m = min(n1, n2), n = max."""
    m, n = min(n1, n2), max(n1, n2)
    c = [1] + [0] * kmax
    for i in range(1, m + 1):
        for u in range(kmax, n + i - 1, -1):
            c[u] -= c[u - n - i]
        for u in range(i, kmax + 1):
            c[u] += c[u - i]
    return c


def rank_sum_counts_bruteforce(n1: int, n2: int) -> np.ndarray:
    """The same by listing every choice of ranks for the first sample."""
    counts = np.zeros(n1 * n2 + 1)
    for chosen in itertools.combinations(range(1, n1 + n2 + 1), n1):
        counts[int(sum(chosen) - n1 * (n1 + 1) // 2)] += 1
    return counts


# ------------------------------------------------------------- t-tests --


def _t_two_sided(t: float, df: float) -> float:
    return float(min(1.0, 2.0 * special.stdtr(df, -abs(t))))


def ttest(kind: str, a, b) -> Tuple[float, float, float]:
    """(statistic, pvalue, df) of "welch", "ttest_ind" or "ttest_rel"."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if kind == "ttest_rel":
        d = a - b
        n = d.size
        if n < 2:
            return math.nan, math.nan, math.nan
        if np.all(d == 0):
            return 0.0, 1.0, n - 1.0
        se = math.sqrt(np.var(d, ddof=1) / n)
        if se == 0:
            return math.nan, math.nan, n - 1.0
        t = np.mean(d) / se
        return float(t), _t_two_sided(t, n - 1.0), n - 1.0
    na, nb = a.size, b.size
    va = np.var(a, ddof=1) if na > 1 else math.nan
    vb = np.var(b, ddof=1) if nb > 1 else math.nan
    if kind == "welch":
        if na < 2 or nb < 2:
            return math.nan, math.nan, math.nan
        se2 = va / na + vb / nb
        if se2 == 0:
            return math.nan, math.nan, math.nan
        df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    else:
        if na + nb < 3:
            return math.nan, math.nan, math.nan
        df = na + nb - 2.0
        pooled = ((na - 1) * (va if na > 1 else 0.0) + (nb - 1) * (vb if nb > 1 else 0.0)) / df
        se2 = pooled * (1.0 / na + 1.0 / nb)
        if se2 == 0:
            return math.nan, math.nan, df
    t = (np.mean(a) - np.mean(b)) / math.sqrt(se2)
    return float(t), _t_two_sided(t, df), float(df)


def ttest_interval(kind: str, a, b, confidence: float) -> Tuple[float, float]:
    """Interval of the mean difference matching the t-test."""
    from scipy import stats

    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if kind == "ttest_rel":
        d = a - b
        est, se, df = np.mean(d), math.sqrt(np.var(d, ddof=1) / d.size), d.size - 1.0
    else:
        va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
        est = np.mean(a) - np.mean(b)
        if kind == "welch":
            se = math.sqrt(va / a.size + vb / b.size)
            df = se**4 / ((va / a.size) ** 2 / (a.size - 1) + (vb / b.size) ** 2 / (b.size - 1))
        else:
            df = a.size + b.size - 2.0
            se = math.sqrt(((a.size - 1) * va + (b.size - 1) * vb) / df * (1 / a.size + 1 / b.size))
    q = stats.t.ppf(0.5 + confidence / 2, df)
    return float(est - q * se), float(est + q * se)


# ---------------------------------------------------------- rank tests --


def _normal_two_sided(z: float) -> float:
    return float(2.0 * special.ndtr(-z))


def wilcoxon_permutation_pvalue(d) -> float:
    """scipy's permutation p for Wilcoxon: every sign flip of every difference."""
    d = np.asarray(d, float)
    nonzero = d[d != 0]
    ranks, _, _ = average_ranks(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum()
    signs = np.array(list(itertools.product([0.0, 1.0], repeat=nonzero.size)))
    null = signs @ ranks if nonzero.size else np.zeros(1)
    less = np.mean(null <= observed)
    greater = np.mean(null >= observed)
    return float(min(1.0, 2.0 * min(less, greater)))


def wilcoxon(a, b) -> Tuple[float, float, str]:
    """(statistic, pvalue, method) under scipy.stats.wilcoxon's defaults."""
    d = np.asarray(a, float) - np.asarray(b, float)
    n = d.size
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 0.0, 1.0, "identical"
    ranks, tie_term, has_ties = average_ranks(np.abs(nonzero))
    r_plus = ranks[nonzero > 0].sum()
    r_minus = ranks[nonzero < 0].sum()
    statistic = float(min(r_plus, r_minus))
    if n <= 50 and not has_ties and nonzero.size == n:
        counts = signed_rank_counts(n)
        return statistic, float(min(1.0, 2 * counts[: int(statistic) + 1].sum() / 2.0**n)), "exact"
    if n <= 13:
        return statistic, wilcoxon_permutation_pvalue(d), "permutation"
    c = float(nonzero.size)
    se = math.sqrt((c * (c + 1) * (2 * c + 1) - tie_term / 2) / 24)
    z = (r_plus - c * (c + 1) / 4) / se
    return statistic, _normal_two_sided(abs(z)), "normal"


def mannwhitney(a, b) -> Tuple[float, float, str]:
    """(statistic, pvalue, method) under scipy.stats.mannwhitneyu's defaults."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    n1, n2 = a.size, b.size
    ranks, tie_term, has_ties = average_ranks(np.concatenate([a, b]))
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    if (n1 > 8 and n2 > 8) or has_ties:
        n = n1 + n2
        s = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
        z = (max(u1, u2) - n1 * n2 / 2 - 0.5) / s if s > 0 else -math.inf
        return float(u1), float(min(1.0, _normal_two_sided(z))), "normal"
    counts = rank_sum_counts(n1, n2)
    p = 2 * counts[: int(min(u1, u2)) + 1].sum() / math.comb(n1 + n2, n1)
    return float(u1), float(min(1.0, p)), "exact"


def _critical(counts: np.ndarray, total: float, alpha: float) -> int:
    """Largest u with 2 P(S <= u) < alpha, or -1."""
    below = np.flatnonzero(2 * np.cumsum(counts) / total < alpha)
    return int(below[-1]) if below.size else -1


def _critical_normal(count: int, sigma: float, cc: float, alpha: float) -> int:
    u = np.arange(-1, count + 1)
    rejects = 2 * special.ndtr(-(count / 2 - u - cc) / sigma) < alpha
    rejects[0] = True
    return int(u[np.flatnonzero(rejects)[-1]])


def hodges_lehmann_interval(kind: str, a, b, confidence: float) -> Tuple[float, float]:
    """Order statistics of pairwise differences (Mann-Whitney) or Walsh
    averages (Wilcoxon) at the critical value of the test."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    alpha = 1 - confidence
    if kind == "wilcoxon":
        d = a - b
        n = d.size
        i, j = np.triu_indices(n)
        values = np.sort((d[i] + d[j]) / 2)
        if n <= 50:
            c = _critical(signed_rank_counts(n), 2.0**n, alpha)
        else:
            c = _critical_normal(values.size, math.sqrt(n * (n + 1) * (2 * n + 1) / 24), 0.0, alpha)
    else:
        n1, n2 = a.size, b.size
        values = np.sort(np.subtract.outer(a, b).ravel())
        if min(n1, n2) <= 8:
            c = _critical(rank_sum_counts(n1, n2), math.comb(n1 + n2, n1), alpha)
        else:
            c = _critical_normal(values.size, math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12), 0.5, alpha)
    if c < 0:
        return -math.inf, math.inf
    return float(values[c]), float(values[values.size - 1 - c])


def min_pvalue(test: str, na: int, nb: int) -> float:
    """Smallest attainable two-sided p-value, from closed forms."""
    n = min(na, nb)
    if test == "welch":
        return 0.0 if na >= 2 and nb >= 2 else math.nan
    if test == "ttest_ind":
        return 0.0 if n >= 1 and na + nb >= 3 else math.nan
    if test == "ttest_rel":
        return 0.0 if n >= 2 else math.nan
    if n < 1:
        return math.nan
    if test == "wilcoxon":
        if n <= 50:
            return min(1.0, 2.0 / 2.0**n)
        top = n * (n + 1) / 2
        return _normal_two_sided((top - top / 2) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
    if n > 8 and max(na, nb) > 8:
        mn = na * nb
        return _normal_two_sided((mn / 2 - 0.5) / math.sqrt(mn * (na + nb + 1) / 12))
    return min(1.0, 2.0 / math.comb(na + nb, n))


# --------------------------------------------------------- effect sizes --


def _unit_scale(*samples):
    """Scale every sample by the same power of two (exact) so the largest
    magnitude is near 1: d and d_z are unit-free, but squares of values
    below ~1e-154 are subnormal and lose digits."""
    big = max((float(np.max(np.abs(x))) for x in samples if x.size), default=0.0)
    if big == 0.0 or 2.0**-200 < big < 2.0**200:
        return samples
    shift = -math.frexp(big)[1]
    return tuple(np.ldexp(x, shift) for x in samples)


def cohens_d(a, b) -> float:
    a, b = _unit_scale(np.asarray(a, float), np.asarray(b, float))
    if a.size + b.size < 3:
        return math.nan
    # a constant sample has variance exactly 0 (the kernel's contract), even
    # where the floating-point mean of equal values is off by an ulp
    ss = sum(0.0 if np.all(x == x[0]) else np.sum((x - x.mean()) ** 2) for x in (a, b))
    pooled = ss / (a.size + b.size - 2)
    diff = a.mean() - b.mean()
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return float(diff / math.sqrt(pooled))


def cohens_dz(a, b) -> float:
    a, b = _unit_scale(np.asarray(a, float), np.asarray(b, float))
    d = a - b
    if d.size < 2:
        return math.nan
    sd = np.std(d, ddof=1)
    if sd == 0:
        return 0.0 if d.mean() == 0 else math.copysign(math.inf, d.mean())
    return float(d.mean() / sd)


# ---------------------------------------------------------- corrections --


def bonferroni(p) -> np.ndarray:
    p = np.asarray(p, float)
    m = np.count_nonzero(~np.isnan(p))
    return np.minimum(1.0, p * m)


def fdr_bh(p) -> np.ndarray:
    p = np.asarray(p, float)
    out = np.full_like(p, np.nan)
    keep = np.flatnonzero(~np.isnan(p))
    m = keep.size
    if m == 0:
        return out
    order = keep[np.argsort(p[keep], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out
