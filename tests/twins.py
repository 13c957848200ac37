"""The one map from every public ``mushin._core`` callable to its reference twin.

``TWINS`` maps a qualified name -- ``"t_sf"`` for a module function,
``"ConfusionMatrix.update"`` for a method -- to a short NumPy/Python twin
with the same call signature.  ``tests/test_twins.py`` finds every public
callable of ``mushin._core`` by ``dir()``, fails when one has no entry here,
and runs each against its twin on generated inputs (bottleneck's
``bottleneck/slow`` + ``reduce_test.py`` pattern).  A twin raises where the C
callable raises: "both raise" counts as agreement.

The twins are built from the existing references (``reference*.py``), never
from mushin, and add only what those lack: the argument rules the C glue
enforces (written from its docstrings, so that bad input raises on both
sides), and the stateful wrappers below, which keep what the C states
summarise and recompute it with the references.

Method twins are the methods of the ``Slow*`` classes: a slow object is
built with the same arguments as the C one, and the driver applies the same
calls to both.  Used only by the tests.
"""
from __future__ import annotations

import math
import statistics
from fractions import Fraction
from typing import Callable

import mpmath
import numpy as np
from scipy import special

import reference as ref
import reference_logits as ref_logits
import reference_regression as ref_regression
import reference_retrieval as ref_retrieval
import reference_scores as ref_scores
import reference_stats as ref_stats
import twins_resample

TESTS = ("welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney")
PAIRED = ("ttest_rel", "wilcoxon")
INT64_MAX = 2**63 - 1


def _vector(x) -> np.ndarray:
    """A 1-d float64 array, refusing what the glue refuses (deeper input)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError("expected a 1-d sequence of numbers")
    return a


def _pvalues(p) -> np.ndarray:
    a = _vector(p)
    if np.any((a < 0) | (a > 1)):  # NaN compares False: allowed
        raise ValueError("p-values must lie in [0, 1] or be NaN")
    return a


# ------------------------------------------------------- distributions --


def betainc(a, b, x):
    """I_x(a, b) in 60-digit arithmetic, on the side where it does not
    cancel (1 - I_{1-x}(b, a) above the mean)."""
    if not (a > 0 and b > 0 and 0 <= x <= 1):
        return math.nan
    with mpmath.workdps(60):
        a_, b_, x_ = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(x)
        if x_ <= a_ / (a_ + b_):
            return float(mpmath.betainc(a_, b_, 0, x_, regularized=True))
        return float(1 - mpmath.betainc(b_, a_, 0, 1 - x_, regularized=True))


def t_sf(t, df):
    if math.isnan(t) or not df > 0:
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    return ref.student_t_sf_exact(t, df)


def t_cdf(t, df):
    return t_sf(-t, df)


def t_ppf(q, df):
    """scipy's Student-t quantile (the oracle of tests/test_welch.py)."""
    if math.isnan(q) or not df > 0 or not 0 <= q <= 1:
        return math.nan
    return float(special.stdtrit(df, q))


def norm_sf(z):
    """P(Z > z) = erfc(z / sqrt 2) / 2."""
    return 0.5 * math.erfc(z / math.sqrt(2.0)) if not math.isnan(z) else math.nan


def norm_ppf(q):
    """The standard normal quantile of Python's statistics module (Wichura's
    AS 241); +-inf at 0 and 1, NaN outside."""
    if q == 0.0:
        return -math.inf
    if q == 1.0:
        return math.inf
    if not 0.0 < q < 1.0:
        return math.nan
    return statistics.NormalDist().inv_cdf(q)


def pairwise_sum(x):
    """numpy.sum of the values in their logical order (a contiguous copy, so
    that NumPy's own traversal of a strided or reversed view cannot reorder
    the pairwise blocks), which the C sum follows bit for bit."""
    return float(np.sum(np.ascontiguousarray(_vector(x))))


# ------------------------------------------------------------- summaries --


def mean_ci(x, confidence=0.95):
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    a = _vector(x)
    if a.size == 0 or not np.all(np.isfinite(a)):
        return math.nan, math.nan, math.nan
    if a.size < 2:
        return float(a.mean()), math.nan, math.nan
    return ref.mean_ci(a, confidence)


def holm(pvalues):
    return ref.holm(_pvalues(pvalues))


def bonferroni(pvalues):
    return ref_stats.bonferroni(_pvalues(pvalues))


def fdr_bh(pvalues):
    return ref_stats.fdr_bh(_pvalues(pvalues))


def cohens_d(a, b):
    a, b = _vector(a), _vector(b)
    # an empty side has no mean; fewer than 3 values leave no degree of freedom
    if a.size == 0 or b.size == 0 or a.size + b.size < 3:
        return math.nan
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    return ref_stats.cohens_d(a, b)


def cohens_dz(a, b):
    a, b = _vector(a), _vector(b)
    if a.size != b.size:
        raise ValueError("cohens_dz needs paired scores")
    return ref_stats.cohens_dz(a, b)


# ------------------------------------------------------- the tests ----


def _check_test(test: str) -> None:
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}")


def min_pvalue(test, na, nb):
    _check_test(test)
    if na < 0 or nb < 0 or na * nb > 1e9:
        raise ValueError("na and nb must be non-negative with na * nb <= 1e9")
    return ref_stats.min_pvalue(test, na, nb)


def signed_rank_counts(n):
    if not 0 <= n <= 1000:
        raise ValueError("n must be in [0, 1000]")
    return ref_stats.signed_rank_counts(n)


def rank_sum_counts(n1, n2, kmax=-1):
    """Counts of U = 0..kmax (all, n1 * n2, by default) within the caps of
    mushin_kernels.h."""
    if n1 < 0 or n2 < 0:
        raise ValueError("n1 and n2 must be non-negative")
    # U never exceeds n1 * n2: the table stops there whatever kmax asks
    kmax = n1 * n2 if kmax < 0 else min(kmax, n1 * n2)
    if kmax + 1 > 2**24 or min(n1, n2) * (kmax + 1) > 2**28 or math.comb(n1 + n2, n1) >= 2**1000:
        raise ValueError("beyond the caps")
    full = ref_stats.rank_sum_counts(n1, n2)
    out = np.zeros(kmax + 1)
    out[: min(kmax + 1, full.size)] = full[: kmax + 1]
    return out


def two_sample_test(test, a, b, confidence=0.95):
    """(statistic, pvalue, df, mean_diff, effect_size, ci_low, ci_high,
    pvalue_method) from the scipy-rule twins of reference_stats, with the
    documented departures of mushin_two_sample_test (mushin_kernels.h): a
    t-test with zero standard error gives NaN, identical paired data p = 1."""
    _check_test(test)
    a, b = _vector(a), _vector(b)
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    if a.size == 0 or b.size == 0:
        raise ValueError("every group needs at least one score")
    if test in PAIRED and a.size != b.size:
        raise ValueError("a paired test needs one score per seed on each side")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("scores must be finite numbers")
    mean_diff = float(np.mean(a) - np.mean(b))
    effect = cohens_dz(a, b) if test in PAIRED else cohens_d(a, b)
    if test in PAIRED and np.all(a == b):
        # every difference is zero: p = 1 by definition; the paired t
        # interval of a difference known to be 0 is [0, 0] (zero standard
        # error), the Hodges-Lehmann one whatever the Walsh averages give
        if test == "ttest_rel":
            return 0.0, 1.0, float(a.size - 1), mean_diff, effect, 0.0, 0.0, "identical"
        low, high = _interval(test, a, b, confidence)
        return 0.0, 1.0, math.nan, mean_diff, effect, low, high, "identical"
    if test in ("wilcoxon", "mannwhitney"):
        twin = ref_stats.wilcoxon if test == "wilcoxon" else ref_stats.mannwhitney
        stat, p, method = twin(a, b)
        low, high = _interval(test, a, b, confidence)
        return stat, p, math.nan, mean_diff, effect, low, high, method
    stat, p, df = ref_stats.ttest(test, a, b)
    if math.isnan(p):
        # zero standard error, or too few values: the test and its interval
        # are undefined (NaN)
        return math.nan, math.nan, df, mean_diff, effect, math.nan, math.nan, "undefined"
    low, high = _interval(test, a, b, confidence)
    return stat, p, df, mean_diff, effect, low, high, "t"


def _interval(test, a, b, confidence):
    if test in ("wilcoxon", "mannwhitney"):
        return ref_stats.hodges_lehmann_interval(test, a, b, confidence)
    if test == "ttest_ind" and min(a.size, b.size) == 1:
        # reference_stats.ttest_interval pools 0 * var(ddof=1) = 0 * NaN for
        # a group of one; the pooled interval is scipy's there
        from scipy import stats

        ci = stats.ttest_ind(a, b).confidence_interval(confidence_level=confidence)
        return float(ci.low), float(ci.high)
    return ref_stats.ttest_interval(test, a, b, confidence)


# --------------------------------------------------- runtime settings --


def cpu_flags() -> list:
    """The CPU flags Linux lists in /proc/cpuinfo (empty where there is no
    such file, or on a CPU that is not x86)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []


def _cpu_level() -> int:
    """The instruction-set level /proc/cpuinfo says this CPU has: what
    mushin_isa_supported asks cpuid for."""
    flags = cpu_flags()
    avx2 = all(f in flags for f in ("avx2", "fma", "bmi2", "f16c"))
    avx512 = all(f in flags for f in ("avx512f", "avx512vl", "avx512bw", "avx512dq"))
    return 2 if avx2 and avx512 else 1 if avx2 else 0


class _IsaTwin:
    """The cap the module keeps, as a twin: level = min(CPU level, cap)."""

    NAMES = ("baseline", "avx2", "avx512")

    def __init__(self):
        self.cap = 2

    def isa_level(self):
        return min(_cpu_level(), self.cap)

    def isa_name(self):
        return self.NAMES[self.isa_level()]

    def set_isa_cap(self, cap):
        if cap not in (0, 1, 2):
            raise ValueError("set_isa_cap needs 0, 1 or 2")
        self.cap = cap
        return self.isa_level()


ISA = _IsaTwin()


class _ThreadDefaultTwin:
    """The module's default thread count for ConfusionMatrix updates: what
    set_default_threads was last given, checked as its docstring says."""

    def __init__(self, value=None):
        self.value = value

    def set_default_threads(self, value):
        if value is not None and not callable(value):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError("set_default_threads needs an int, a callable or None")
            if not 1 <= value <= 64:
                raise ValueError("set_default_threads needs 1 to 64 threads")
        self.value = value

    def get_default_threads(self):
        return self.value


THREADS = _ThreadDefaultTwin()


def confusion_thread_count(num_classes, num_elements, work, num_threads):
    """The rule of mushin_kernels.h: at most num_threads (and 64) threads,
    each with 2^18 units of work and 4 positions per bin of its private
    matrix (rows of 2^ceil(log2 C) bins, plus one discard bin); at least 1."""
    if not (1 <= num_classes <= 65536 and num_elements >= 0 and work >= 0 and num_threads >= 1):
        raise ValueError("confusion_thread_count: bad arguments")
    bins = (num_classes << max(0, (num_classes - 1).bit_length())) + 1
    threads = min(num_threads, 64, work // 2**18, num_elements // (4 * bins))
    return max(1, threads)


# ------------------------------------------------------------- states --


def _as_numpy(x) -> np.ndarray:
    """What a DLPack producer holds, as NumPy (bfloat16 widened exactly)."""
    if hasattr(x, "detach"):  # torch
        import torch

        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.detach().numpy()
    return np.asarray(x)


def _check_rows(probs, target, num_classes, ignore_index):
    """The batch rules of CalibrationBins/RocScores.update: (N, C) floats,
    (N,) integers, labels in [0, C) unless ignored, kept probabilities in
    [0, 1]."""
    p, t = _as_numpy(probs), _as_numpy(target)
    if p.ndim != 2 or p.shape[1] != num_classes or t.shape != (p.shape[0],):
        raise ValueError("shapes")
    if not np.issubdtype(p.dtype, np.floating) or not np.issubdtype(t.dtype, np.integer):
        raise TypeError("dtypes")
    t64 = t.astype(np.int64)
    keep = t64 != ignore_index if ignore_index is not None else np.ones(t.shape, bool)
    if np.any((t64[keep] < 0) | (t64[keep] >= num_classes)):
        raise ValueError("label out of range")
    kept = p[keep].astype(np.float64)
    if np.any(~((kept >= 0) & (kept <= 1))):
        raise ValueError("probability outside [0, 1]")
    return p, t64


class SlowConfusionMatrix:
    """``counts[target, prediction]`` from reference.confusion_counts."""

    def __init__(self, num_classes, ignore_index=None, num_threads=None):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.counts = np.zeros((num_classes, num_classes), np.int64)

    def update(self, preds, target):
        p, t = _as_numpy(preds), _as_numpy(target)
        if p.shape != t.shape:
            raise ValueError("shapes")
        self.counts = self.counts + ref.confusion_counts(p, t, self.num_classes, self.ignore_index)

    def update_logits(self, logits, target, class_dim=1):
        x, t = _as_numpy(logits), _as_numpy(target)
        if x.shape[class_dim] != self.num_classes or t.shape != tuple(np.delete(x.shape, class_dim)):
            raise ValueError("shapes")
        self.counts = self.counts + ref_logits.confusion_counts_from_logits(
            x, t, self.num_classes, self.ignore_index, class_dim
        )

    def _checked(self, counts, base) -> np.ndarray:
        """base + counts, by the rules of merge(): integer dtype, the
        matrix's shape, no negative count, every cell and the total within
        int64."""
        c = np.asarray(counts)
        if c.dtype.kind not in "iu":
            raise TypeError("counts must hold integers")
        if c.shape != self.counts.shape or np.any(c < 0):
            raise ValueError("shape or negative count")
        total = [int(a) + int(b) for a, b in zip(base.ravel(), c.ravel())]
        if max(total, default=0) > INT64_MAX or sum(total) > INT64_MAX:
            raise ValueError("overflow")
        return np.array(total, np.int64).reshape(self.counts.shape)

    def merge(self, counts):
        self.counts = self._checked(counts, self.counts)

    def state_dict(self):
        return {"num_classes": self.num_classes, "counts": self.counts.copy()}

    def load_state_dict(self, state):
        if state["num_classes"] != self.num_classes:
            raise ValueError("num_classes differs")
        self.counts = self._checked(state["counts"], np.zeros_like(self.counts))

    def reset(self):
        self.counts[:] = 0


FRAC_BITS = 149  # a float32 in [0, 1] is an integer number of 2**-149


class SlowCalibrationBins:
    """Slot counts, correct counts and exact confidence sums (integers in
    units of 2**-149) from reference_scores.calibration_bins, one row at a
    time so that every confidence is seen exactly."""

    def __init__(self, num_classes, ignore_index=None, n_bins=None, boundaries=None):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.n_bins = 15 if n_bins is None else n_bins
        self.bounds = boundaries
        self.reset()

    def reset(self):
        slots = self.n_bins + 1
        self.counts = np.zeros(slots, np.int64)
        self.accuracy_sums = np.zeros(slots, np.int64)
        self.units = [0] * slots

    def update(self, probs, target):
        p, t = _check_rows(probs, target, self.num_classes, self.ignore_index)
        counts, acc, units = self.counts.copy(), self.accuracy_sums.copy(), list(self.units)
        for i in range(p.shape[0]):
            c, conf, a = ref_scores.calibration_bins(
                p[i : i + 1].astype(np.float64), t[i : i + 1], self.n_bins, self.ignore_index, self.bounds
            )
            counts += c
            acc += a.astype(np.int64)
            for s in np.flatnonzero(c):
                units[s] += int(Fraction(float(conf[s])) * 2**FRAC_BITS)
        self.counts, self.accuracy_sums, self.units = counts, acc, units

    def merge(self, counts, confidence_fixed, accuracy_sums):
        c, f, a = (np.asarray(x) for x in (counts, confidence_fixed, accuracy_sums))
        if any(x.dtype.kind not in "iu" for x in (c, f, a)):
            raise TypeError("merge(): integer arrays only")
        slots = self.n_bins + 1
        if c.shape != (slots,) or a.shape != (slots,) or f.shape != (slots, 4):
            raise ValueError("shapes")
        units = [sum(int(v) << (64 * k) for k, v in enumerate(row)) for row in f]
        if np.any(c < 0) or np.any(a < 0) or np.any(a > c) or np.any(f < 0):
            raise ValueError("inconsistent slots")
        if any(u > int(n) << FRAC_BITS for u, n in zip(units, c)):
            raise ValueError("a confidence sum above its count")
        new_c = [int(x) + int(y) for x, y in zip(self.counts, c)]
        if sum(new_c) > INT64_MAX:
            raise ValueError("overflow")
        self.counts = np.array(new_c, np.int64)
        self.accuracy_sums = self.accuracy_sums + a.astype(np.int64)
        self.units = [u + v for u, v in zip(self.units, units)]

    def boundaries(self) -> np.ndarray:
        if self.bounds is None:
            return ref_scores.default_boundaries(self.n_bins)
        return np.asarray(self.bounds, np.float32)

    def state_dict(self):
        return {
            "boundaries": self.boundaries(),
            "counts": self.counts.copy(),
            "confidence_fixed": self.confidence_fixed(),
            "accuracy_sums": self.accuracy_sums.copy(),
        }

    def load_state_dict(self, state):
        """The bins of `state` in place of these: same boundaries bit for
        bit, and the checks of merge() (run on an empty copy)."""
        if not np.array_equal(np.asarray(state["boundaries"]).view(np.uint32), self.boundaries().view(np.uint32)):
            raise ValueError("boundaries differ")
        fresh = SlowCalibrationBins(self.num_classes, self.ignore_index, self.n_bins, self.bounds)
        fresh.merge(state["counts"], state["confidence_fixed"], state["accuracy_sums"])
        self.counts, self.accuracy_sums, self.units = fresh.counts, fresh.accuracy_sums, fresh.units

    def compute(self):
        total = int(self.counts.sum())
        if total == 0:
            return math.nan
        gap = sum(abs(Fraction(int(a)) - Fraction(u, 2**FRAC_BITS)) for a, u in zip(self.accuracy_sums, self.units))
        return float(gap / total)

    # what the driver compares after every call
    def confidence_fixed(self):
        return np.array([[(u >> (64 * k)) & (2**64 - 1) for k in range(4)] for u in self.units], np.uint64)

    def confidence_sums(self):
        return np.array([float(Fraction(u, 2**FRAC_BITS)) for u in self.units])


class SlowRocScores:
    """Every kept row at the precision the store keeps (float32 unless the
    batch is float64), scored by reference_scores.auroc_per_class."""

    def __init__(self, num_classes, ignore_index=None):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.reset()

    def reset(self):
        self.probs = np.zeros((0, self.num_classes))
        self.target = np.zeros(0, np.int64)
        self.wide = False  # float64 scores kept: the store holds float64 from then on

    def _keep(self, probs: np.ndarray, target: np.ndarray):
        kept = probs if probs.dtype == np.float64 else probs.astype(np.float32)
        self.wide = self.wide or (probs.dtype == np.float64 and target.size > 0)
        self.probs = np.concatenate([self.probs, kept.astype(np.float64)])
        self.target = np.concatenate([self.target, target.astype(np.int64)])

    def update(self, probs, target):
        p, t = _check_rows(probs, target, self.num_classes, self.ignore_index)
        keep = t != self.ignore_index if self.ignore_index is not None else np.ones(t.shape, bool)
        self._keep(p[keep], t[keep])

    def state_dict(self):
        return {
            "num_classes": self.num_classes,
            "scores": self.probs.astype(np.float64 if self.wide else np.float32),
            "labels": self.target.astype(np.int32),
        }

    def _checked_state(self, state):
        if isinstance(state, SlowRocScores):
            state = state.state_dict()
        if state["num_classes"] != self.num_classes:
            raise ValueError("num_classes differs")
        scores, labels = np.asarray(state["scores"]), np.asarray(state["labels"])
        if scores.dtype not in (np.float32, np.float64) or labels.dtype.kind not in "iu":
            raise TypeError("dtypes")
        _check_rows(scores, labels, self.num_classes, None)
        return scores, labels

    def merge(self, other):
        self._keep(*self._checked_state(other))

    def load_state_dict(self, state):
        scores, labels = self._checked_state(state)
        self.reset()
        self._keep(scores, labels)

    def per_class(self):
        return ref_scores.auroc_per_class(self.probs, self.target, self.num_classes)

    def compute(self):
        return float(np.mean(self.per_class())) if self.target.size else math.nan


class TwinState(dict):
    """A slow state's state_dict(): the arrays the C state exports, plus the
    pairs or triples they came from, so that load_state_dict and merge on the
    slow side need no inverse of the exact sums."""

    rows: tuple = ()


class _SlowRows:
    """A state that keeps every row it was given (float vectors)."""

    fields: tuple = ()

    def __init__(self):
        self.reset()

    def reset(self):
        self.rows = tuple(np.zeros(0) for _ in self.fields)

    def _append(self, *columns):
        self.rows = tuple(np.concatenate([r, c]) for r, c in zip(self.rows, columns))

    def _export(self) -> dict:
        raise NotImplementedError

    def state_dict(self):
        d = TwinState(self._export())
        d.rows = self.rows
        return d

    def load_state_dict(self, d):
        if not isinstance(d, TwinState):
            raise TypeError("expected a state_dict()")
        self.rows = d.rows

    def merge(self, other):
        d = other if isinstance(other, TwinState) else other.state_dict()
        self._append(*d.rows)


def _finite_floats(name, x) -> np.ndarray:
    a = _as_numpy(x)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be floating point")
    a = a.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinity")
    return a


def _finite_pairs(preds, target):
    """preds and target as float64 vectors: finite, of one shape."""
    p, t = _finite_floats("preds", preds), _finite_floats("target", target)
    if p.shape != t.shape:
        raise ValueError("shapes")
    return p, t


class SlowRegressionMoments(_SlowRows):
    """reference_regression.moments_state_dict / moments_metrics of every pair."""

    fields = ("preds", "target")

    def update(self, preds, target):
        self._append(*_finite_pairs(preds, target))

    def _export(self):
        return ref_regression.moments_state_dict(*self.rows)

    def compute(self):
        return ref_regression.moments_metrics(*self.rows)


class SlowRankedPairs(_SlowRows):
    """reference_regression.spearman of every pair (kept as float32)."""

    fields = ("preds", "target")

    def update(self, preds, target):
        p, t = _finite_pairs(preds, target)
        big = np.finfo(np.float32).max
        if np.any(np.abs(p) > big) or np.any(np.abs(t) > big):
            raise ValueError("beyond float32")
        self._append(p.astype(np.float32).astype(np.float64), t.astype(np.float32).astype(np.float64))

    def _export(self):
        return {"preds": self.rows[0].astype(np.float32), "target": self.rows[1].astype(np.float32)}

    def compute(self):
        return {"spearman": ref_regression.spearman(*self.rows)}


class SlowRetrievalGroups(_SlowRows):
    """reference_retrieval.retrieval_metrics of every (query, score,
    relevance) triple."""

    fields = ("indexes", "preds", "target")

    def __init__(self, top_k=None, graded=False):
        self.top_k, self.graded = top_k, graded
        super().__init__()

    def update(self, preds, target, indexes):
        q = _as_numpy(indexes)
        if q.dtype.kind not in "iu":
            raise TypeError("indexes must be integers")
        q = q.astype(np.int64).reshape(-1)
        p = _finite_floats("preds", preds)
        t = _as_numpy(target).astype(np.float64).reshape(-1)
        if not (q.shape == p.shape == t.shape):
            raise ValueError("shapes")
        if np.any(q < 0) or not np.all(np.isfinite(t)) or (not self.graded and np.any((t != 0) & (t != 1))):
            raise ValueError("bad index or relevance")
        self._append(q.astype(np.float64), p.astype(np.float32).astype(np.float64), t)

    def _export(self):
        q, p, t = self.rows
        return {"indexes": q.astype(np.int64), "preds": p.astype(np.float32), "target": t, "graded": self.graded}

    def compute(self):
        q, p, t = self.rows
        return ref_retrieval.retrieval_metrics(p, t, q.astype(np.int64), self.top_k)


# -------------------------------------------- per-image counts, bootstrap --
# From csrc/kernels/perimage.h's and rng_internal.h's comments: SplitMix64
# (Steele, Lea and Flood 2014) with Lemire's bounded integers, in Python
# integers; per-image TP/FP/FN from reference.confusion_counts of each image;
# the metrics written from torchmetrics' definitions, as reference.py does.

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15


def _splitmix_mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class SplitMix64:
    """Stream ``stream`` of generator ``seed``, as rng_internal.h defines it."""

    def __init__(self, seed, stream):
        self.state = _splitmix_mix((seed + _GAMMA) & _M64) ^ _splitmix_mix(((~stream) & _M64) * _GAMMA & _M64)

    def next(self):
        self.state = (self.state + _GAMMA) & _M64
        return _splitmix_mix(self.state)

    def below(self, n):
        """Uniform in [0, n) by multiply-and-reject (Lemire 2019)."""
        x = self.next()
        m = x * n
        if (m & _M64) < n:
            threshold = ((1 << 64) - n) % n
            while (m & _M64) < threshold:
                x = self.next()
                m = x * n
        return m >> 64


def _boot_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError("seed must be an int")
    if not 0 <= int(seed) < 2**64:
        raise ValueError("seed out of range")
    return int(seed)


def _seeds_per_method(spm):
    a = np.asarray(spm)
    if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "iu" or np.any(a < 1) or np.any(a > 2**20):
        raise ValueError("seeds_per_method: 1 to 2**20 seeds per method")
    return [int(v) for v in a]


def _draw(rng, num_images, spm, resample_images, resample_seeds):
    images = [rng.below(num_images) for _ in range(num_images)] if resample_images else None
    seeds = [[rng.below(s) for _ in range(s)] for s in spm] if resample_seeds else None
    return images, seeds


def bootstrap_indices(seed, resample, num_images, seeds_per_method, resample_images, resample_seeds):
    seed = _boot_seed(seed)
    if resample < 0 or not 1 <= num_images < 2**31:
        raise ValueError("resample >= 0, 1 <= num_images < 2**31")
    spm = _seeds_per_method(seeds_per_method)
    images, seeds = _draw(SplitMix64(seed, resample), num_images, spm, resample_images, resample_seeds)
    return (
        None if images is None else np.array(images, np.int64),
        None if seeds is None else [np.array(s, np.int64) for s in seeds],
    )


def count_metric(tp, fp, fn, metric, excluded_class=-1):
    """One metric of per-class sums, class by class (reference.py's rules)."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    if metric == "pixel_acc":
        total = tp.sum() + fn.sum()
        return float(tp.sum() / total) if total > 0 else 0.0
    scores = []
    for c in range(tp.size):
        if tp[c] + fp[c] + fn[c] == 0:
            continue
        if metric == "miou":
            if c != excluded_class:
                scores.append(tp[c] / (tp[c] + fp[c] + fn[c]))
        elif metric == "dice":
            scores.append(2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]))
        elif metric == "precision":
            scores.append(tp[c] / (tp[c] + fp[c]) if tp[c] + fp[c] > 0 else 0.0)
        elif metric == "recall":
            scores.append(tp[c] / (tp[c] + fn[c]) if tp[c] + fn[c] > 0 else 0.0)
        else:
            raise ValueError(f"metric {metric!r}")
    if not scores:
        return math.nan if metric == "miou" else 0.0
    return float(np.mean(scores))


def count_metric_tables(counts, metric, excluded_class=-1):
    """Every (C, 3) table's metric, vectorised as NumPy sums it (pairwise
    over the class axis, with 0 for a class left out)."""
    if metric not in ("miou", "dice", "pixel_acc", "precision", "recall"):
        raise ValueError("metric")
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim < 2 or c.shape[-1] != 3 or c.shape[-2] < 1:
        raise ValueError("counts: (..., classes >= 1, 3)")
    if not np.all(c >= 0) or not np.all(np.isfinite(c)):
        raise ValueError("counts: finite, not negative")
    tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
    if metric == "pixel_acc":
        total = (tp + fn).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, tp.sum(axis=-1) / np.where(total > 0, total, 1.0), 0.0)
    present = (tp + fp + fn) != 0
    if metric == "miou":
        num, den = tp, tp + fp + fn
        if 0 <= excluded_class < c.shape[-2]:
            present[..., excluded_class] = False
    elif metric == "dice":
        num, den = 2 * tp, 2 * tp + fp + fn
    elif metric == "precision":
        num, den = tp, tp + fp
    else:
        num, den = tp, tp + fn
    score = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
    kept = present.sum(axis=-1)
    total = np.where(present, score, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(kept > 0, total / np.where(kept > 0, kept, 1), np.nan if metric == "miou" else 0.0)


def bootstrap_counts(counts, seeds_per_method, metric, n, resample_images, resample_seeds, seed,
                     excluded_class=-1, num_threads=1):
    seed = _boot_seed(seed)
    if metric not in ("miou", "dice", "pixel_acc", "precision", "recall"):
        raise ValueError("metric")
    if not 1 <= n <= 2**31 or not 1 <= num_threads <= 64:
        raise ValueError("n or num_threads")
    spm = _seeds_per_method(seeds_per_method)
    c = np.asarray(counts)
    if c.dtype.kind not in "iu" or c.ndim != 4 or c.shape[3] != 3:
        raise ValueError("counts shape")
    if c.shape[0] != sum(spm) or c.shape[1] < 1 or c.shape[2] < 1 or np.any(c < 0):
        raise ValueError("counts")
    c = c.astype(np.int64)
    num_images = c.shape[1]
    out = np.empty((n, len(spm)))
    for b in range(n):
        images, seeds = _draw(SplitMix64(seed, b), num_images, spm, resample_images, resample_seeds)
        weights = np.bincount(images, minlength=num_images) if images is not None else np.ones(num_images, np.int64)
        sums = np.einsum("i,mikj->mkj", weights, c)
        values = [count_metric(s[:, 0], s[:, 1], s[:, 2], metric, excluded_class) for s in sums]
        first = 0
        for m, s_m in enumerate(spm):
            picks = seeds[m] if seeds is not None else range(s_m)
            out[b, m] = sum(values[first + j] for j in picks) / s_m
            first += s_m
    return out


class SlowPerImageCounts:
    """TP/FP/FN of every image from reference.confusion_counts of that image."""

    def __init__(self, num_classes, ignore_index=None, dtype="int64", max_bytes=2**30):
        if dtype not in ("int64", "int32") or max_bytes < 0 or not 1 <= num_classes <= 65536:
            raise ValueError("arguments")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.dtype, self.max_bytes = np.dtype(dtype), max_bytes
        self.counts = np.zeros((0, num_classes, 3), self.dtype)

    def _room(self, images):
        if images * self.num_classes * 3 * self.dtype.itemsize > self.max_bytes:
            raise ValueError("past the budget")

    def update(self, preds, target):
        p, t = _as_numpy(preds), _as_numpy(target)
        if p.dtype.kind not in "iub" or t.dtype.kind not in "iub":
            raise TypeError("integer dtypes")
        if p.shape != t.shape or p.ndim < 1:
            raise ValueError("shapes")
        if self.dtype == np.int32 and int(np.prod(p.shape[1:], dtype=np.int64)) > 2**31 - 1:
            raise ValueError("int32")
        self._room(self.counts.shape[0] + p.shape[0])
        rows = []
        for i in range(p.shape[0]):
            cm = ref.confusion_counts(p[i], t[i], self.num_classes, self.ignore_index)
            tp = np.diag(cm)
            rows.append(np.stack([tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp], axis=1))
        if rows:
            self.counts = np.concatenate([self.counts, np.array(rows, dtype=self.dtype)])

    def update_logits(self, logits, target, class_dim=1):
        x, t = _as_numpy(logits), _as_numpy(target)
        if x.dtype.kind != "f" or t.dtype.kind not in "iub":
            raise TypeError("float logits, integer targets")
        if x.ndim < 2 or not -x.ndim <= class_dim < x.ndim:
            raise ValueError("class_dim")
        cd = class_dim % x.ndim
        if cd == 0 or x.shape[cd] != self.num_classes or t.shape != tuple(np.delete(x.shape, cd)):
            raise ValueError("shapes")
        self._room(self.counts.shape[0] + x.shape[0])
        rows, total = [], np.zeros((self.num_classes, self.num_classes), np.int64)
        for i in range(x.shape[0]):
            cm = ref_logits.confusion_counts_from_logits(x[i], t[i], self.num_classes, self.ignore_index, cd - 1)
            tp = np.diag(cm)
            rows.append(np.stack([tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp], axis=1))
            total += cm
        if rows:
            self.counts = np.concatenate([self.counts, np.array(rows, dtype=self.dtype)])
        return total

    def _incoming(self, other):
        if isinstance(other, SlowPerImageCounts):
            other = other.state_dict()
        if not isinstance(other, dict):
            raise TypeError("a state or its state_dict")
        if other.get("num_classes", self.num_classes) != self.num_classes:
            raise ValueError("num_classes")
        c = np.asarray(other["counts"])
        if c.dtype.kind not in "iu":
            raise TypeError("integers")
        if c.ndim != 3 or c.shape[1:] != (self.num_classes, 3) or np.any(c < 0):
            raise ValueError("shape or negative")
        if self.dtype == np.int32 and np.any(c > 2**31 - 1):
            raise ValueError("int32")
        return c.astype(self.dtype)

    def merge(self, other):
        c = self._incoming(other)
        self._room(self.counts.shape[0] + c.shape[0])
        self.counts = np.concatenate([self.counts, c])

    def state_dict(self):
        return {"num_classes": self.num_classes, "counts": self.counts.copy()}

    def load_state_dict(self, state):
        if not isinstance(state, dict):
            raise TypeError("a dict")
        c = self._incoming(state)
        self._room(c.shape[0])
        self.counts = c

    def reset(self):
        self.counts = self.counts[:0]


# ------------------------------------------------------------- the map --

# the slow class of each C type, built with the same constructor arguments
SLOW_TYPES: dict[str, type] = {
    "ConfusionMatrix": SlowConfusionMatrix,
    "CalibrationBins": SlowCalibrationBins,
    "RocScores": SlowRocScores,
    "RegressionMoments": SlowRegressionMoments,
    "RankedPairs": SlowRankedPairs,
    "RetrievalGroups": SlowRetrievalGroups,
    "PerImageCounts": SlowPerImageCounts,
}

_METHODS = {
    "ConfusionMatrix": ("update", "update_logits", "merge", "state_dict", "load_state_dict", "reset"),
    "CalibrationBins": ("update", "merge", "state_dict", "load_state_dict", "compute", "reset"),
    "RocScores": ("update", "merge", "state_dict", "load_state_dict", "per_class", "compute", "reset"),
    "RegressionMoments": ("update", "merge", "state_dict", "load_state_dict", "compute", "reset"),
    "RankedPairs": ("update", "merge", "state_dict", "load_state_dict", "compute", "reset"),
    "RetrievalGroups": ("update", "merge", "state_dict", "load_state_dict", "compute", "reset"),
    "PerImageCounts": ("update", "update_logits", "merge", "state_dict", "load_state_dict", "reset"),
}

TWINS: dict[str, Callable] = {
    # distributions
    "betainc": betainc,
    "t_cdf": t_cdf,
    "t_sf": t_sf,
    "t_ppf": t_ppf,
    "norm_sf": norm_sf,
    "norm_ppf": norm_ppf,
    "pairwise_sum": pairwise_sum,
    # summaries, effect sizes, corrections
    "mean_ci": mean_ci,
    "cohens_d": cohens_d,
    "cohens_dz": cohens_dz,
    "holm": holm,
    "bonferroni": bonferroni,
    "fdr_bh": fdr_bh,
    # tests and their exact distributions
    "two_sample_test": two_sample_test,
    "min_pvalue": min_pvalue,
    "signed_rank_counts": signed_rank_counts,
    "rank_sum_counts": rank_sum_counts,
    # runtime settings of the counting core
    "confusion_thread_count": confusion_thread_count,
    "isa_level": ISA.isa_level,
    "isa_name": ISA.isa_name,
    "set_isa_cap": ISA.set_isa_cap,
    "get_default_threads": THREADS.get_default_threads,
    "set_default_threads": THREADS.set_default_threads,
    # per-image counts and the two-level bootstrap
    "bootstrap_indices": bootstrap_indices,
    "bootstrap_counts": bootstrap_counts,
    "count_metric": count_metric_tables,
}
TWINS.update(
    {f"{name}.{method}": getattr(SLOW_TYPES[name], method) for name, methods in _METHODS.items() for method in methods}
)
# resampling, ranking and power (csrc/kernels/resample.c, ranking.c)
TWINS.update(twins_resample.TWINS)
