/*
 * mushin_kernels.h -- the plain-C core of mushin.
 *
 * Nothing here includes Python.h: the kernels work on raw memory described by
 * pointers, shapes and byte strides, report failure through integer status
 * codes, and can be built and tested without an interpreter
 * (see csrc/tests/, `make ckernels`).  Only csrc/glue/ talks to CPython; it
 * validates arguments with the GIL held and calls these routines with the
 * GIL released.
 */
#ifndef MUSHIN_KERNELS_H
#define MUSHIN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes shared by every kernel. */
enum {
    MUSHIN_OK = 0,
    MUSHIN_EBADVALUE = 1,  /* an index outside [0, num_classes) that is not ignored */
    MUSHIN_EINVAL = 2,     /* an argument the caller should have rejected */
    MUSHIN_ENOMEM = 3,
    MUSHIN_EDEGENERATE = 4, /* statistics undefined for these inputs (result is NaN) */
    MUSHIN_EOVERFLOW = 5    /* a count would not fit in int64 */
};

#define MUSHIN_MAX_NDIM 32

/* Integer element types the confusion kernel reads. */
typedef enum {
    MUSHIN_INT8 = 0,
    MUSHIN_INT16,
    MUSHIN_INT32,
    MUSHIN_INT64,
    MUSHIN_UINT8,
    MUSHIN_UINT16,
    MUSHIN_UINT32
} mushin_itype;

/* A strided N-d view of integers; `data` already includes any byte offset. */
typedef struct {
    const char *data;
    mushin_itype type;
    const int64_t *strides; /* in bytes, one per dimension */
} mushin_index_view;

/* What the confusion kernel saw that it could not count. */
typedef struct {
    int64_t preds_bad;         /* how many prediction values were invalid */
    int64_t preds_first;       /* the first one, in C order */
    int64_t preds_first_pos;   /* its flat C-order position */
    int64_t target_bad;
    int64_t target_first;
    int64_t target_first_pos;
} mushin_bad_values;

/*
 * Count (target, prediction) pairs into `counts`, a row-major
 * num_classes x num_classes int64 matrix indexed [target][prediction]
 * (the orientation torchmetrics uses).
 *
 * Positions whose target equals `ignore_index` (when `has_ignore`) are
 * skipped.  A prediction may equal an ignore_index outside [0, num_classes)
 * only at such a skipped position.  Every other value must lie in
 * [0, num_classes); if any does not, MUSHIN_EBADVALUE is returned, `bad`
 * describes the offenders and the contents of `counts` are unspecified: pass
 * a zeroed scratch matrix and merge it only on MUSHIN_OK.
 */
int mushin_confusion_count(int64_t *counts, int64_t num_classes,
                           int has_ignore, int64_t ignore_index, int ndim,
                           const int64_t *shape, mushin_index_view preds,
                           mushin_index_view target, mushin_bad_values *bad);

/* Same traversal, same rules, but only checks: returns MUSHIN_OK or
 * MUSHIN_EBADVALUE and never writes a count. */
int mushin_confusion_validate(int64_t num_classes, int has_ignore,
                              int64_t ignore_index, int ndim,
                              const int64_t *shape, mushin_index_view preds,
                              mushin_index_view target,
                              mushin_bad_values *bad);

/* counts[i] += add[i] for n entries. */
void mushin_counts_add(int64_t *counts, const int64_t *add, int64_t n);

/* counts[i] += add[i] for n entries, or nothing at all: MUSHIN_EBADVALUE
 * if some add[i] < 0 (*where = i, the first), MUSHIN_EOVERFLOW if a merged
 * count (*where = its index) or the grand total of the merged counts
 * (*where = -1) would exceed INT64_MAX.  `counts` must hold non-negative
 * counts whose total fits in int64 (what this function keeps true).  On
 * MUSHIN_OK, *merged_total is that grand total. */
int mushin_counts_add_checked(int64_t *counts, const int64_t *add, int64_t n,
                              int64_t *where, int64_t *merged_total);

/* ------------------------------------------- threads, fused logits path -- */

/* At most this many threads split one update. */
#define MUSHIN_MAX_THREADS 64

/* A thread is only started for at least this much work (elements read by
 * the index path, logit values by the fused path), so small batches never
 * pay thread start-up costs. */
#define MUSHIN_MIN_WORK_PER_THREAD ((int64_t)1 << 18)

/* How many threads an update of `num_elements` positions, `work` units of
 * work, into a num_classes^2 matrix uses when allowed `num_threads`
 * (>= 1): one unless every thread gets MUSHIN_MIN_WORK_PER_THREAD of work
 * and enough positions to pay for zeroing and merging a private matrix. */
int mushin_confusion_thread_count(int64_t num_classes, int64_t num_elements,
                                  int64_t work, int num_threads);

/* mushin_confusion_count split over up to `num_threads` threads (POSIX
 * threads; serial where there are none).  Each thread counts a contiguous
 * C-order range into a private matrix; the matrices are added to `counts`
 * at the end, so no count is shared and no atomics are needed.  `bad` is
 * exactly what the serial call reports (the first value comes from the
 * lowest range that saw one).  May return MUSHIN_ENOMEM (counts
 * untouched). */
int mushin_confusion_count_threads(int64_t *counts, int64_t num_classes,
                                   int has_ignore, int64_t ignore_index,
                                   int ndim, const int64_t *shape,
                                   mushin_index_view preds,
                                   mushin_index_view target, int num_threads,
                                   mushin_bad_values *bad);

/* Floating element types the fused logits kernel (and csrc/kernels/scores.c) read. */
typedef enum {
    MUSHIN_FLOAT16 = 0,  /* IEEE binary16 */
    MUSHIN_BFLOAT16,     /* the top half of a binary32 */
    MUSHIN_FLOAT32,
    MUSHIN_FLOAT64
} mushin_ftype;

/* A strided N-d view of floats; `data` already includes any byte offset. */
typedef struct {
    const char *data;
    mushin_ftype type;
    const int64_t *strides; /* in bytes, one per dimension */
} mushin_float_view;

/*
 * The fused path: argmax of `logits` over dimension `class_dim`, counted
 * against `target` as by mushin_confusion_count, without materialising the
 * predictions.  `shape` has `ndim` (>= 1) entries and is the shape of the
 * logits; shape[class_dim] must equal num_classes.  `target` has the
 * shape of the logits without class_dim (its strides: ndim - 1 entries).
 *
 * The argmax equals torch.argmax: the first maximum wins ties (-0.0 and
 * 0.0 tie), NaN is larger than every number and the first NaN wins.
 * float16 and bfloat16 are converted to float32 exactly before comparing.
 * Only targets can be invalid (a prediction is always a class): `bad`
 * reports them as mushin_confusion_count does, with preds_bad = 0, and
 * `counts` is then unspecified.  Threads as mushin_confusion_count_threads.
 * Returns MUSHIN_OK, MUSHIN_EBADVALUE, MUSHIN_EINVAL or MUSHIN_ENOMEM.
 */
int mushin_confusion_count_logits(int64_t *counts, int64_t num_classes,
                                  int has_ignore, int64_t ignore_index,
                                  int ndim, const int64_t *shape,
                                  int class_dim, mushin_float_view logits,
                                  mushin_index_view target, int num_threads,
                                  mushin_bad_values *bad);

/* Only the target half of the rules: MUSHIN_OK, or MUSHIN_EBADVALUE with
 * `bad` filled (preds_bad = 0) if a target that is not ignored lies outside
 * [0, num_classes).  Never writes a count. */
int mushin_confusion_validate_target(int64_t num_classes, int has_ignore,
                                     int64_t ignore_index, int ndim,
                                     const int64_t *shape,
                                     mushin_index_view target,
                                     mushin_bad_values *bad);

/* The instruction-set level of the counting loops (0 baseline, 1 AVX2,
 * 2 AVX-512: the best this CPU supports, at most the cap), and a way to
 * cap it so that every level can be tested on one machine.  Counts never
 * depend on the level.  mushin_set_isa_cap returns the level now in use and
 * must not be called while an update runs. */
int mushin_isa_level(void);
int mushin_set_isa_cap(int cap);
/* The best level this CPU and OS support, whatever the cap. */
int mushin_isa_supported(void);

/* Run fn(arg, 0) ... fn(arg, num_chunks - 1), on up to num_chunks threads
 * (chunk 0 on the calling thread), and return when all have finished.  A
 * thread that cannot be started has its chunk run on the calling thread. */
typedef void (*mushin_chunk_fn)(void *arg, int chunk);
void mushin_parallel_for(int num_chunks, mushin_chunk_fn fn, void *arg);

/* ---------------------------------------------------------------- stats -- */

/* Regularized incomplete beta I_x(a, b); y must equal 1 - x (passed
 * separately so callers that know 1 - x exactly do not lose digits; the
 * smaller of the two is taken as exact).  About 1e-12 relative for any
 * a, b > 0 up to 1e300; NaN for a or b <= 0, NaN, or x, y < 0. */
double mushin_betainc(double a, double b, double x, double y);

/* Student-t distribution with `df` degrees of freedom (df > 0, may be
 * non-integer or infinite; from 1e25 on, where it is exact in double, the
 * normal distribution).  df <= 0 or NaN gives NaN, as scipy.stats.t. */
double mushin_t_cdf(double t, double df);
double mushin_t_sf(double t, double df);
double mushin_t_ppf(double q, double df);

/* Sample mean and variance (ddof = 1) by two passes. */
void mushin_mean_var(const double *x, int64_t n, double *mean, double *var);

typedef struct {
    double statistic;  /* t */
    double df;         /* Welch-Satterthwaite degrees of freedom */
    double pvalue;     /* two-sided */
    double mean_diff;  /* mean(a) - mean(b) */
    double effect_size;/* Cohen's d with the pooled standard deviation */
} mushin_ttest_result;

/* Welch's unequal-variance t-test, two-sided; equals
 * scipy.stats.ttest_ind(a, b, equal_var=False).  Returns MUSHIN_EDEGENERATE
 * (with NaN fields where undefined) when either side has fewer than two
 * values or both variances are zero. */
int mushin_welch_ttest(const double *a, int64_t na, const double *b,
                       int64_t nb, mushin_ttest_result *out);

/* Cohen's d: (mean_a - mean_b) / pooled sd.  +-inf for separated
 * zero-variance groups, 0 for identical constant ones, NaN for n < 2 total
 * degrees of freedom. */
double mushin_cohens_d(const double *a, int64_t na, const double *b,
                       int64_t nb);

/* Student-t confidence interval of a mean at `confidence` in (0, 1).  With
 * n < 2 the bounds are NaN. */
int mushin_mean_ci(const double *x, int64_t n, double confidence,
                   double *mean, double *low, double *high);

/* Holm step-down adjusted p-values.  NaN entries are left out of the family
 * and stay NaN.  `order` is caller-provided scratch of n int64. */
int mushin_holm(const double *p, int64_t n, double *out, int64_t *order);

/* ------------------------------------------- tests, corrections, ranks -- */

/* Sum in NumPy's order (pairwise, eight accumulators per 128-block), so
 * means and variances agree with numpy.mean / scipy bit for bit. */
double mushin_pairwise_sum(const double *x, int64_t n);

/* Standard normal upper tail P(Z > z), to full relative accuracy (erfc). */
double mushin_norm_sf(double z);
/* Standard normal quantile; q in (0, 1). */
double mushin_norm_ppf(double q);

typedef enum {
    MUSHIN_TEST_WELCH = 0,     /* scipy.stats.ttest_ind(a, b, equal_var=False) */
    MUSHIN_TEST_TTEST_IND = 1, /* scipy.stats.ttest_ind(a, b) */
    MUSHIN_TEST_TTEST_REL = 2, /* scipy.stats.ttest_rel(a, b) */
    MUSHIN_TEST_WILCOXON = 3,  /* scipy.stats.wilcoxon(a, b) */
    MUSHIN_TEST_MANNWHITNEY = 4/* scipy.stats.mannwhitneyu(a, b) */
} mushin_test_kind;

#define MUSHIN_NUM_TESTS 5

/* How a p-value was obtained. */
typedef enum {
    MUSHIN_PVALUE_UNDEFINED = 0, /* NaN: too few values or no variation */
    MUSHIN_PVALUE_STUDENT_T = 1,
    MUSHIN_PVALUE_EXACT = 2,       /* exact null distribution of the rank statistic */
    MUSHIN_PVALUE_PERMUTATION = 3, /* all 2^n sign flips (Wilcoxon with ties or zeros) */
    MUSHIN_PVALUE_NORMAL = 4,      /* normal approximation */
    MUSHIN_PVALUE_IDENTICAL = 5    /* a == b pair by pair: p = 1 by definition */
} mushin_pvalue_method;

typedef struct {
    double statistic;   /* t; Wilcoxon: min(R+, R-); Mann-Whitney: U of a */
    double pvalue;      /* two-sided */
    double df;          /* t-tests only, NaN otherwise */
    double mean_diff;   /* mean(a) - mean(b) */
    double effect_size; /* Cohen's d (unpaired) or d_z (paired) */
    double ci_low;      /* confidence interval of the difference (see below) */
    double ci_high;
    int pvalue_method;  /* mushin_pvalue_method */
} mushin_test_result;

/*
 * Two-sided two-sample test `kind` of a against b, equal to the scipy call
 * named in mushin_test_kind (method="auto" rules for exact / permutation /
 * asymptotic p-values included), with these deliberate differences:
 *   - a t-test whose standard error is zero reports NaN statistic and p
 *     (scipy: +-inf and 0, or NaN), except that
 *   - paired data with every difference zero ("identical") gets statistic 0
 *     and p = 1 (scipy: NaN for ttest_rel and for wilcoxon with n > 13).
 * The interval, at `confidence` in (0, 1), is that of mean(a) - mean(b)
 * from the matching t-test (Welch, pooled, paired), or the Hodges-Lehmann
 * interval of the shift for the rank tests (pairwise differences for
 * Mann-Whitney, Walsh averages of the differences for Wilcoxon), bounds
 * being the order statistics at the exact (or normal) critical value;
 * -inf / +inf when no shift can be rejected at this sample size.
 * Paired tests need na == nb.  Inputs must be finite.
 * Returns MUSHIN_OK, MUSHIN_EDEGENERATE (p undefined, fields NaN where
 * undefined), MUSHIN_EINVAL (bad kind, sizes, confidence or a non-finite
 * value; `out` untouched) or MUSHIN_ENOMEM (`out` untouched).
 */
int mushin_two_sample_test(int kind, const double *a, int64_t na,
                           const double *b, int64_t nb, double confidence,
                           mushin_test_result *out);

/* The rank tests behind mushin_two_sample_test (csrc/kernels/ranktests.c); same
 * contract, without the argument checks. */
int mushin_wilcoxon_test(const double *a, const double *b, int64_t n,
                         double confidence, mushin_test_result *out);
int mushin_mannwhitney_test(const double *a, int64_t na, const double *b,
                            int64_t nb, double confidence,
                            mushin_test_result *out);

/* Cohen's d_z of paired data: mean(a - b) / sd(a - b); +-inf for a constant
 * nonzero difference, 0 when every difference is zero, NaN for n < 2. */
double mushin_cohens_dz(const double *a, const double *b, int64_t n);

/* Bonferroni: min(1, m p) with m the number of non-NaN p-values.
 * Benjamini-Hochberg (step-up), equal to
 * scipy.stats.false_discovery_control(p, method="bh") on the non-NaN
 * entries; `order` is scratch of n int64.  NaN stays NaN; a value outside
 * [0, 1] gives MUSHIN_EINVAL. */
int mushin_bonferroni(const double *p, int64_t n, double *out);
int mushin_fdr_bh(const double *p, int64_t n, double *out, int64_t *order);

/* Exact null distributions, as counts of equally likely outcomes (exact
 * integers while below 2^53).
 * Signed-rank: counts[s] = #{subsets of {1..n} with sum s}, s = 0 ..
 * n(n+1)/2 (array of n(n+1)/2 + 1).  Mann-Whitney: counts[u] = #{ways U =
 * u}, u = 0 .. kmax, for samples of n1 and n2 (array of kmax + 1). */
int mushin_signed_rank_counts(int64_t n, double *counts);
int mushin_rank_sum_counts(int64_t n1, int64_t n2, int64_t kmax, double *counts);

/*
 * Caps on the exact distributions (MUSHIN_EINVAL beyond them, nothing
 * written).  The tests only need small sizes -- scipy's exact Wilcoxon
 * stops at n = 50, its exact Mann-Whitney needs min(n1, n2) <= 8 -- and
 * past the caps the counts stop being useful while time and memory grow
 * without bound:
 *   - signed rank: n <= 1000.  The table has n(n+1)/2 + 1 doubles (4 MB at
 *     the cap) and takes ~n^3/6 additions (0.2 s); from n ~ 1030 on the
 *     largest counts exceed DBL_MAX and the table would hold inf.
 *   - rank sum: kmax + 1 <= 2^24 entries (128 MB of counts, as much
 *     scratch), min(n1, n2) * (kmax + 1) <= 2^28 additions (~0.3 s), and
 *     C(n1 + n2, min(n1, n2)) < 2^1000 so that no count overflows a double.
 * Internal callers that would exceed them use the normal approximation
 * instead (see ranktests.c), never an error.
 */
#define MUSHIN_SIGNED_RANK_MAX_N 1000
#define MUSHIN_RANK_SUM_MAX_KMAX (((int64_t)1 << 24) - 1)
#define MUSHIN_RANK_SUM_MAX_WORK ((int64_t)1 << 28)

/* 1 if mushin_rank_sum_counts(n1, n2, kmax, .) is within the caps. */
int mushin_rank_sum_within_caps(int64_t n1, int64_t n2, int64_t kmax);

/* The smallest two-sided p-value test `kind` can return for samples of na
 * and nb values without ties (0 for the t-tests once df > 0; NaN when the
 * test is undefined at these sizes).  From the exact null distribution
 * where the test uses it, else from the normal approximation. */
double mushin_min_pvalue(int kind, int64_t na, int64_t nb);

#ifdef __cplusplus
}
#endif

#endif /* MUSHIN_KERNELS_H */
