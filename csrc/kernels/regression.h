/*
 * regression.h -- mergeable, exact states for the regression battery.
 *
 * Plain C: no Python header, inputs are raw memory with byte strides,
 * failures are the status codes of mushin_kernels.h, and a call that fails
 * leaves its state as it was.  csrc/glue/regression_states.c validates
 * arguments with the GIL held and calls these with the GIL released
 * (reading batches through csrc/glue/state_inputs.c).
 *
 * Two states:
 *
 *  - mushin_regression_moments: n, min/max of preds and targets, and the
 *    sums  S(p), S(t), S(|p - t|)  and  S(p*p), S(t*t), S(p*t), each kept
 *    EXACTLY as an integer (see mushin_xsum).  Integer sums do not depend on
 *    the order of the elements, so the state -- and every metric computed
 *    from it -- is bit-identical for any batch split, merge order, thread or
 *    rank count.  S((p - t)^2) is not kept: it is S(pp) - 2 S(pt) + S(tt),
 *    exact in integers.  From these, mse, mae, rmse, r2 and pearson follow
 *    (torchmetrics 1.9 MeanSquaredError, MeanAbsoluteError,
 *    MeanSquaredError(squared=False), R2Score, PearsonCorrCoef), with every
 *    cancelling difference (n S(tt) - S(t)^2 and the like) formed exactly
 *    and rounded once.
 *
 *  - mushin_ranked_pairs: every (pred, target) pair (as float32), for Spearman's rank
 *    correlation (torchmetrics SpearmanCorrCoef).  Ranks (ties averaged) are
 *    half-integers, so the rank sums are exact integers too and the result
 *    does not depend on the order the pairs arrived in.
 *
 * Inputs are float32 or float64 (float16 and bfloat16 are widened by the
 * caller); NaN and infinities are bad values.
 */
#ifndef MUSHIN_REGRESSION_H
#define MUSHIN_REGRESSION_H

#include "mushin_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An exact signed sum of binary floating-point terms.  Every finite double
 * is m * 2^q with integer m < 2^53 and q >= -1074, so it is an integer in
 * units of 2^-1074, and the product of two doubles an integer in units of
 * 2^-2148.  The sum is that integer, written in base 2^32:
 * value = sum_i limb[i] * 2^(32 i).  Limbs are int64 so that up to 2^30
 * terms can be added before carries must be propagated.  In canonical form
 * (what every public function leaves behind and what state_dict exports)
 * limb[i] lies in [0, 2^32) for i < MUSHIN_XSUM_LIMBS - 1 and the top limb
 * carries the sign; two equal sums then have equal limbs.
 *
 * Size: the largest sum, 2^63 products each below 2^2048, is below
 * 2^(2148 + 2048 + 63) = 2^4259 units, well inside 136 limbs.
 */
#define MUSHIN_XSUM_LIMBS 136
#define MUSHIN_XSUM_UNIT_VALUE (-1074)   /* exponent of the unit of a sum of values */
#define MUSHIN_XSUM_UNIT_PRODUCT (-2148) /* ... and of a sum of products */

typedef struct {
    int64_t limb[MUSHIN_XSUM_LIMBS];
} mushin_xsum;

/* A strided vector of float32 or float64 values. */
typedef struct {
    const char *data;
    mushin_ftype type; /* MUSHIN_FLOAT32 or MUSHIN_FLOAT64 */
    int64_t stride;    /* bytes */
} mushin_vec_view;

/* The first value a kernel refused. */
typedef struct {
    int64_t count;      /* how many were bad */
    int64_t first_pos;  /* position of the first */
    double first;       /* its value */
    int which;          /* 0: preds, 1: target */
} mushin_regression_bad;

typedef struct {
    int64_t n;
    double min_p, max_p, min_t, max_t; /* +inf / -inf while n == 0 */
    mushin_xsum sum_p, sum_t, sum_abs; /* units 2^-1074 */
    mushin_xsum sum_pp, sum_tt, sum_pt; /* units 2^-2148 */
} mushin_regression_moments;

typedef struct {
    double mse, mae, rmse, r2, pearson; /* NaN where undefined, see below */
} mushin_regression_metrics;

/* An empty state. */
void mushin_regression_init(mushin_regression_moments *m);

/*
 * Add n (pred, target) pairs.  A NaN or infinite value anywhere gives
 * MUSHIN_EBADVALUE with `bad` filled (preds are reported before targets)
 * and the state untouched; MUSHIN_EOVERFLOW if the count would pass
 * 2^62; MUSHIN_EINVAL for a bad view.
 */
int mushin_regression_update(mushin_regression_moments *m, int64_t n,
                             mushin_vec_view preds, mushin_vec_view target,
                             mushin_regression_bad *bad);

/* dst += src, or nothing at all (MUSHIN_EOVERFLOW). */
int mushin_regression_merge(mushin_regression_moments *dst,
                            const mushin_regression_moments *src);

/*
 * MUSHIN_OK if `m` could have been built by updates and merges: n in
 * [0, 2^62], canonical limbs, S(pp), S(tt), S(|p - t|) >= 0, everything zero
 * and the extremes +-inf when n == 0, finite extremes with min <= max
 * otherwise.  MUSHIN_EINVAL if not; *what names the first bad field.
 */
int mushin_regression_check_state(const mushin_regression_moments *m,
                                  const char **what);

/*
 * The metrics, as torchmetrics 1.9 defines them on the same data:
 *   mse  = S((p - t)^2) / n,   rmse = sqrt(mse),   mae = S(|p - t|) / n
 *          (NaN when n == 0: torchmetrics divides 0 by 0);
 *   r2   = 1 - rss / tss with rss = S((p - t)^2), tss = S(tt) - S(t)^2 / n,
 *          except 1 when |rss| <= 1e-4 and 0 when |tss| <= 1e-4 < |rss|
 *          (R2Score's isclose(atol=1e-4) guards); NaN when n < 2, where
 *          R2Score raises;
 *   pearson = Sxy / sqrt(Sxx Syy), clamped to [-1, 1], or NaN when n < 2
 *          or when either normalised variance  (S../(n - 1)) / maxdev^2
 *          (maxdev = the largest |x - mean|) is below sqrt(FLT_EPSILON):
 *          PearsonCorrCoef keeps float32 states whatever the input dtype,
 *          so its bound is float32's.
 * Where torchmetrics' rounded sums leave a little noise in place of an
 * exact zero (a constant target: tss or a variance a hair off 0, so R2Score
 * may return a huge negative number and PearsonCorrCoef a tiny finite one),
 * these follow the definition on the exact sums instead: r2 0 (or 1) and
 * pearson NaN.
 */
void mushin_regression_compute(const mushin_regression_moments *m,
                               mushin_regression_metrics *out);

/* Exact sum to the nearest double (ties to even; may overflow to +-inf),
 * scaled by 2^unit_exp: one of the MUSHIN_XSUM_UNIT_* constants. */
double mushin_xsum_to_double(const mushin_xsum *s, int unit_exp);

/* ------------------------------------------------------- Spearman ---- */

/* Values are kept as float32, as SpearmanCorrCoef stores them whatever the
 * input dtype: float64 values that round to one float32 tie, as they do
 * there.  Memory: 8 bytes a pair. */
typedef struct {
    int64_t n;
    int64_t capacity;
    float *preds;
    float *target;
} mushin_ranked_pairs;

/* Pairs are limited so that the doubled-rank sums fit in int64 products
 * accumulated in 128 bits: n * (2n)^2 * n < 2^126. */
#define MUSHIN_RANKED_PAIRS_MAX ((int64_t)1 << 30)

void mushin_ranked_pairs_init(mushin_ranked_pairs *r);
void mushin_ranked_pairs_clear(mushin_ranked_pairs *r);

/* Append n pairs, or nothing: MUSHIN_EBADVALUE (with `bad`) for NaN,
 * infinity or a float64 value beyond float32's range, MUSHIN_ENOMEM,
 * MUSHIN_EOVERFLOW past MUSHIN_RANKED_PAIRS_MAX. */
int mushin_ranked_pairs_append(mushin_ranked_pairs *r, int64_t n,
                               mushin_vec_view preds, mushin_vec_view target,
                               mushin_regression_bad *bad);

/*
 * Spearman's rho as SpearmanCorrCoef computes it: Pearson's correlation of
 * the average ranks, cov / (sd_p * sd_t + 1e-6), clamped to [-1, 1] (so a
 * constant side gives 0, not NaN); NaN when n == 0.  Needs n (value,
 * position) keys and 2 n int64 of scratch: MUSHIN_ENOMEM without them.
 */
int mushin_spearman(const mushin_ranked_pairs *r, double *rho);

#ifdef __cplusplus
}
#endif

#endif /* MUSHIN_REGRESSION_H */
