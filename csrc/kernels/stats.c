/*
 * stats.c -- sums, means and variances as NumPy rounds them, the t-tests
 * (Welch, pooled, paired) with their intervals and effect sizes, and the
 * multiple-comparison corrections, without scipy.  The distributions they
 * read are in distributions.c.
 */
#include "mushin_kernels.h"
#include "portable_internal.h"

/* No fused multiply-add contraction: sums must round exactly as NumPy's do
 * (bit-equal means and variances), and clang contracts a * b + c by default
 * where gcc -std=c11 does not. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <float.h>
#include <math.h>
#include <stdlib.h>

/*
 * The terms a sum runs over: x[i], x[i] - y[i] (paired differences), or the
 * squared deviation of either from `center`.  Generating them on the fly
 * lets paired statistics use NumPy's summation order without a scratch copy.
 */
typedef struct {
    const double *x;
    const double *y; /* NULL for plain x */
    double center;
    int squared;
} sum_terms;

static inline double
sum_term(const sum_terms *s, int64_t i)
{
    double v = s->y != NULL ? s->x[i] - s->y[i] : s->x[i];
    if (s->squared) {
        v -= s->center;
        v *= v;
    }
    return v;
}

/*
 * NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src):
 * below 8 terms a plain loop, up to 128 eight interleaved accumulators,
 * above that split in two at a multiple of 8.  Matching it term for term
 * makes means, variances and t statistics equal scipy's bit for bit, which
 * matters when a difference of means cancels most of its digits.
 */
static double
pairwise_terms(const sum_terms *s, int64_t start, int64_t n)
{
    if (n < 8) {
        double res = 0.0;
        int64_t i;
        for (i = 0; i < n; i++) {
            res += sum_term(s, start + i);
        }
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        int64_t i, j;
        for (j = 0; j < 8; j++) {
            r[j] = sum_term(s, start + j);
        }
        for (i = 8; i < n - (n % 8); i += 8) {
            for (j = 0; j < 8; j++) {
                r[j] += sum_term(s, start + i + j);
            }
        }
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) {
            res += sum_term(s, start + i);
        }
        return res;
    }
    {
        int64_t half = n / 2;
        half -= half % 8;
        return pairwise_terms(s, start, half) + pairwise_terms(s, start + half, n - half);
    }
}

double
mushin_pairwise_sum(const double *x, int64_t n)
{
    sum_terms s = {x, NULL, 0.0, 0};
    return pairwise_terms(&s, 0, n > 0 ? n : 0);
}

/* Mean and ddof=1 variance of x (or of x - y when y is not NULL), in the
 * operation order of numpy.mean and scipy.stats' _var: mean of squared
 * deviations, times n / (n - 1). */
static void
mean_var_terms(const double *x, const double *y, int64_t n, double *mean, double *var)
{
    sum_terms s = {x, y, 0.0, 0};
    double m, ss;
    if (n < 1) {
        *mean = *var = NAN;
        return;
    }
    m = pairwise_terms(&s, 0, n) / (double)n;
    *mean = m;
    if (n < 2) {
        *var = NAN;
        return;
    }
    {
        /* A constant sample has variance 0 exactly.  Summed in floating
         * point, [0.7, 0.7, 0.7] has mean 0.6999999999999998 and variance
         * 1e-32, which would turn "no variation" into a t of 1e15. */
        const double first = sum_term(&s, 0);
        int64_t i = 1;
        while (i < n && sum_term(&s, i) == first) i++;
        if (i == n) {
            *mean = first;
            *var = 0.0;
            return;
        }
    }
    s.center = m;
    s.squared = 1;
    ss = pairwise_terms(&s, 0, n) / (double)n;
    *var = ss * ((double)n / (double)(n - 1));
}

void
mushin_mean_var(const double *x, int64_t n, double *mean, double *var)
{
    mean_var_terms(x, NULL, n, mean, var);
}

static int t_test_scale(const double *a, int64_t na, const double *b, int64_t nb);
static double *scaled_copy(const double *x, int64_t n, int exponent);

static double cohens_d_terms(const double *a, int64_t na, const double *b, int64_t nb);

/* Cohen's d is unit-free, but squared deviations of scores below ~1e-154
 * are subnormal and lose digits (and above ~1e154 overflow): such samples
 * are first scaled by a power of two, exactly, as the t-tests do. */
double
mushin_cohens_d(const double *a, int64_t na, const double *b, int64_t nb)
{
    const int exponent = (na > 0 && nb > 0) ? t_test_scale(a, na, b, nb) : 0;
    if (exponent != 0) {
        double *sa = scaled_copy(a, na, exponent), *sb = scaled_copy(b, nb, exponent);
        if (sa != NULL && sb != NULL) {
            const double d = cohens_d_terms(sa, na, sb, nb);
            free(sa);
            free(sb);
            return d;
        }
        free(sa);
        free(sb);
    }
    return cohens_d_terms(a, na, b, nb);
}

static double
cohens_d_terms(const double *a, int64_t na, const double *b, int64_t nb)
{
    double ma, va, mb, vb, pooled, diff;
    if (na < 1 || nb < 1 || na + nb < 3) {
        return NAN;
    }
    mushin_mean_var(a, na, &ma, &va);
    mushin_mean_var(b, nb, &mb, &vb);
    pooled = ((na > 1 ? (double)(na - 1) * va : 0.0) +
              (nb > 1 ? (double)(nb - 1) * vb : 0.0)) /
             (double)(na + nb - 2);
    diff = ma - mb;
    if (pooled == 0.0) {
        if (diff == 0.0) return 0.0;
        return diff > 0 ? INFINITY : -INFINITY;
    }
    return diff / sqrt(pooled);
}

int
mushin_welch_ttest(const double *a, int64_t na, const double *b, int64_t nb,
                   mushin_ttest_result *out)
{
    double ma, va, mb, vb, sa, sb, se2;
    out->statistic = out->df = out->pvalue = NAN;
    out->mean_diff = NAN;
    out->effect_size = NAN;
    if (na < 1 || nb < 1) {
        return MUSHIN_EDEGENERATE;
    }
    mushin_mean_var(a, na, &ma, &va);
    mushin_mean_var(b, nb, &mb, &vb);
    out->mean_diff = ma - mb;
    out->effect_size = mushin_cohens_d(a, na, b, nb);
    if (na < 2 || nb < 2) {
        return MUSHIN_EDEGENERATE;
    }
    sa = va / (double)na;
    sb = vb / (double)nb;
    se2 = sa + sb;
    if (se2 == 0.0) {
        return MUSHIN_EDEGENERATE;
    }
    out->statistic = (ma - mb) / sqrt(se2);
    {
        /* in units of the larger term: squared standard errors below
         * 1e-154 (or above 1e154) would underflow (overflow) to 0/0 */
        const double unit = sa > sb ? sa : sb;
        const double ra = sa / unit, rb = sb / unit;
        out->df = (ra + rb) * (ra + rb) /
                  (ra * ra / (double)(na - 1) + rb * rb / (double)(nb - 1));
    }
    out->pvalue = 2.0 * mushin_t_sf(fabs(out->statistic), out->df);
    if (out->pvalue > 1.0) {
        out->pvalue = 1.0;
    }
    return MUSHIN_OK;
}

int
mushin_mean_ci(const double *x, int64_t n, double confidence, double *mean,
               double *low, double *high)
{
    double m, v, half;
    if (!(confidence > 0.0 && confidence < 1.0)) {
        return MUSHIN_EINVAL;
    }
    mushin_mean_var(x, n, &m, &v);
    *mean = m;
    if (n < 2) {
        *low = *high = NAN;
        return MUSHIN_EDEGENERATE;
    }
    half = mushin_t_ppf(0.5 + 0.5 * confidence, (double)(n - 1)) *
           sqrt(v / (double)n);
    *low = m - half;
    *high = m + half;
    return MUSHIN_OK;
}

/* Sort indices by p ascending; the family is small (method pairs), so an
 * insertion sort keeps this free of callbacks and allocation. */
static void
argsort(const double *p, int64_t *order, int64_t n)
{
    int64_t i, j;
    for (i = 1; i < n; i++) {
        const int64_t key = order[i];
        j = i - 1;
        while (j >= 0 && p[order[j]] > p[key]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = key;
    }
}

int
mushin_holm(const double *p, int64_t n, double *out, int64_t *order)
{
    int64_t i, m = 0;
    double running = 0.0;
    for (i = 0; i < n; i++) {
        if (isnan(p[i])) {
            out[i] = NAN;
        }
        else if (p[i] < 0.0 || p[i] > 1.0) {
            return MUSHIN_EINVAL;
        }
        else {
            order[m++] = i;
        }
    }
    argsort(p, order, m);
    for (i = 0; i < m; i++) {
        double adj = (double)(m - i) * p[order[i]];
        if (adj > 1.0) adj = 1.0;
        if (adj > running) running = adj;
        out[order[i]] = running;
    }
    return MUSHIN_OK;
}

/* ---------------------------------------------------------- t-tests -- */

/* Two-sided p from a t statistic, as scipy: 2 * stdtr(df, -|t|). */
static double
t_two_sided(double t, double df)
{
    double p = 2.0 * mushin_t_sf(fabs(t), df);
    return p > 1.0 ? 1.0 : p;
}

static void
result_init(mushin_test_result *out)
{
    out->statistic = out->pvalue = out->df = NAN;
    out->mean_diff = out->effect_size = NAN;
    out->ci_low = out->ci_high = NAN;
    out->pvalue_method = MUSHIN_PVALUE_UNDEFINED;
}

/* estimate +- t quantile * standard error, in scipy's operation order
 * (TtestResult.confidence_interval). */
static void
t_interval(double estimate, double se, double df, double confidence, double *low,
           double *high)
{
    const double tail = (1.0 - confidence) / 2.0;
    *low = mushin_t_ppf(tail, df) * se + estimate;
    *high = mushin_t_ppf(1.0 - tail, df) * se + estimate;
}

static int
welch_test(const double *a, int64_t na, const double *b, int64_t nb, double confidence,
           mushin_test_result *out)
{
    mushin_ttest_result r;
    int status = mushin_welch_ttest(a, na, b, nb, &r);
    out->statistic = r.statistic;
    out->pvalue = r.pvalue;
    out->df = r.df;
    out->mean_diff = r.mean_diff;
    out->effect_size = r.effect_size;
    if (status == MUSHIN_OK) {
        double ma, va, mb, vb;
        mushin_mean_var(a, na, &ma, &va);
        mushin_mean_var(b, nb, &mb, &vb);
        t_interval(ma - mb, sqrt(va / (double)na + vb / (double)nb), r.df, confidence,
                   &out->ci_low, &out->ci_high);
        out->pvalue_method = MUSHIN_PVALUE_STUDENT_T;
    }
    return status;
}

/* Student's t-test with the pooled variance: scipy.stats.ttest_ind(a, b). */
static int
pooled_test(const double *a, int64_t na, const double *b, int64_t nb, double confidence,
            mushin_test_result *out)
{
    double ma, va, mb, vb, df, svar, denom;
    mushin_mean_var(a, na, &ma, &va);
    mushin_mean_var(b, nb, &mb, &vb);
    out->mean_diff = ma - mb;
    out->effect_size = mushin_cohens_d(a, na, b, nb);
    if (na + nb < 3) {
        return MUSHIN_EDEGENERATE;
    }
    /* one value contributes no squared deviations, hence 0 rather than NaN */
    if (na == 1) va = 0.0;
    if (nb == 1) vb = 0.0;
    df = (double)(na + nb) - 2.0;
    svar = ((double)(na - 1) * va + (double)(nb - 1) * vb) / df;
    denom = sqrt(svar * (1.0 / (double)na + 1.0 / (double)nb));
    out->df = df;
    if (denom == 0.0) {
        return MUSHIN_EDEGENERATE;
    }
    out->statistic = (ma - mb) / denom;
    out->pvalue = t_two_sided(out->statistic, df);
    out->pvalue_method = MUSHIN_PVALUE_STUDENT_T;
    t_interval(ma - mb, denom, df, confidence, &out->ci_low, &out->ci_high);
    return MUSHIN_OK;
}

static int
all_differences_zero(const double *a, const double *b, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        if (a[i] - b[i] != 0.0) {
            return 0;
        }
    }
    return 1;
}

static double cohens_dz_terms(const double *a, const double *b, int64_t n);

/* Scaled like mushin_cohens_d, for the same reason. */
double
mushin_cohens_dz(const double *a, const double *b, int64_t n)
{
    const int exponent = n > 0 ? t_test_scale(a, n, b, n) : 0;
    if (exponent != 0) {
        double *sa = scaled_copy(a, n, exponent), *sb = scaled_copy(b, n, exponent);
        if (sa != NULL && sb != NULL) {
            const double d = cohens_dz_terms(sa, sb, n);
            free(sa);
            free(sb);
            return d;
        }
        free(sa);
        free(sb);
    }
    return cohens_dz_terms(a, b, n);
}

static double
cohens_dz_terms(const double *a, const double *b, int64_t n)
{
    double m, v;
    if (n < 2) {
        return NAN;
    }
    mean_var_terms(a, b, n, &m, &v);
    if (v == 0.0) {
        if (m == 0.0) return 0.0;
        return m > 0 ? INFINITY : -INFINITY;
    }
    return m / sqrt(v);
}

/* Paired t-test: scipy.stats.ttest_rel(a, b) = ttest_1samp(a - b, 0). */
static int
paired_test(const double *a, const double *b, int64_t n, double confidence,
            mushin_test_result *out)
{
    double ma, va, mb, vb, md, vd, se;
    mushin_mean_var(a, n, &ma, &va);
    mushin_mean_var(b, n, &mb, &vb);
    out->mean_diff = ma - mb;
    out->effect_size = mushin_cohens_dz(a, b, n);
    out->df = (double)(n - 1);
    if (n >= 1 && all_differences_zero(a, b, n)) {
        /* checked before n < 2, so one identical pair agrees with wilcoxon */
        /* identical pair by pair: no evidence of any difference */
        out->statistic = 0.0;
        out->pvalue = 1.0;
        out->ci_low = out->ci_high = 0.0;
        out->pvalue_method = MUSHIN_PVALUE_IDENTICAL;
        return MUSHIN_OK;
    }
    if (n < 2) {
        return MUSHIN_EDEGENERATE;
    }
    mean_var_terms(a, b, n, &md, &vd);
    se = sqrt(vd / (double)n);
    if (se == 0.0) {
        return MUSHIN_EDEGENERATE;
    }
    out->statistic = md / se;
    out->pvalue = t_two_sided(out->statistic, out->df);
    out->pvalue_method = MUSHIN_PVALUE_STUDENT_T;
    t_interval(md, se, out->df, confidence, &out->ci_low, &out->ci_high);
    return MUSHIN_OK;
}

static int
all_finite(const double *x, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * The t-tests square the scores (and Welch's df squares the variances
 * again), so scores beyond about 1e+-60 overflow or underflow on the way
 * although t, df and p do not depend on the unit.  Such samples are first
 * scaled by a power of two, which is exact, to a largest magnitude near 1.
 * Returns that exponent: 0, so nothing changes, in the usual range.
 */
static int
t_test_scale(const double *a, int64_t na, const double *b, int64_t nb)
{
    double big = 0.0;
    int64_t i;
    int exponent;
    for (i = 0; i < na; i++) if (fabs(a[i]) > big) big = fabs(a[i]);
    for (i = 0; i < nb; i++) if (fabs(b[i]) > big) big = fabs(b[i]);
    if (big == 0.0 || (big < 0x1p200 && big > 0x1p-200)) {
        return 0;
    }
    frexp(big, &exponent);
    return -exponent;
}

static double *
scaled_copy(const double *x, int64_t n, int exponent)
{
    double *copy = (double *)malloc((size_t)n * sizeof(double));
    int64_t i;
    if (copy != NULL) {
        for (i = 0; i < n; i++) copy[i] = ldexp(x[i], exponent);
    }
    return copy;
}

static int
t_test(int kind, const double *a, int64_t na, const double *b, int64_t nb, double confidence,
       mushin_test_result *r)
{
    switch (kind) {
    case MUSHIN_TEST_WELCH:
        return welch_test(a, na, b, nb, confidence, r);
    case MUSHIN_TEST_TTEST_IND:
        return pooled_test(a, na, b, nb, confidence, r);
    default:
        return paired_test(a, b, na, confidence, r);
    }
}

int
mushin_two_sample_test(int kind, const double *a, int64_t na, const double *b, int64_t nb,
                       double confidence, mushin_test_result *out)
{
    mushin_test_result r;
    int status, exponent;
    const int paired = kind == MUSHIN_TEST_TTEST_REL || kind == MUSHIN_TEST_WILCOXON;
    if (kind < 0 || kind >= MUSHIN_NUM_TESTS || na < 1 || nb < 1 ||
        (paired && na != nb) || !(confidence > 0.0 && confidence < 1.0) ||
        !all_finite(a, na) || !all_finite(b, nb)) {
        return MUSHIN_EINVAL;
    }
    result_init(&r);
    if (kind <= MUSHIN_TEST_TTEST_REL && (exponent = t_test_scale(a, na, b, nb)) != 0) {
        double *sa = scaled_copy(a, na, exponent), *sb = scaled_copy(b, nb, exponent);
        status = (sa == NULL || sb == NULL)
                     ? MUSHIN_ENOMEM
                     : t_test(kind, sa, na, sb, nb, confidence, &r);
        free(sa);
        free(sb);
        /* t, df, p and the effect size are unit-free; locations scale back */
        r.mean_diff = ldexp(r.mean_diff, -exponent);
        r.ci_low = ldexp(r.ci_low, -exponent);
        r.ci_high = ldexp(r.ci_high, -exponent);
        if (status == MUSHIN_OK || status == MUSHIN_EDEGENERATE) {
            *out = r;
        }
        return status;
    }
    switch (kind) {
    case MUSHIN_TEST_WELCH:
        status = welch_test(a, na, b, nb, confidence, &r);
        break;
    case MUSHIN_TEST_TTEST_IND:
        status = pooled_test(a, na, b, nb, confidence, &r);
        break;
    case MUSHIN_TEST_TTEST_REL:
        status = paired_test(a, b, na, confidence, &r);
        break;
    case MUSHIN_TEST_WILCOXON:
        status = mushin_wilcoxon_test(a, b, na, confidence, &r);
        break;
    default:
        status = mushin_mannwhitney_test(a, na, b, nb, confidence, &r);
        break;
    }
    if (status == MUSHIN_OK || status == MUSHIN_EDEGENERATE) {
        *out = r;
    }
    return status;
}

/* ---------------------------------------------------------- corrections -- */

int
mushin_bonferroni(const double *p, int64_t n, double *out)
{
    int64_t i, m = 0;
    for (i = 0; i < n; i++) {
        if (isnan(p[i])) continue;
        if (p[i] < 0.0 || p[i] > 1.0) return MUSHIN_EINVAL;
        m++;
    }
    for (i = 0; i < n; i++) {
        const double adj = p[i] * (double)m;
        out[i] = isnan(p[i]) ? NAN : (adj > 1.0 ? 1.0 : adj);
    }
    return MUSHIN_OK;
}

int
mushin_fdr_bh(const double *p, int64_t n, double *out, int64_t *order)
{
    int64_t i, m = 0;
    double running = INFINITY;
    for (i = 0; i < n; i++) {
        if (isnan(p[i])) continue;
        if (p[i] < 0.0 || p[i] > 1.0) return MUSHIN_EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (isnan(p[i])) {
            out[i] = NAN;
        }
        else {
            order[m++] = i;
        }
    }
    argsort(p, order, m);
    /* p_(i) * (m / i), then the running minimum from the largest p down
     * (scipy.stats.false_discovery_control, in its operation order) */
    for (i = m - 1; i >= 0; i--) {
        double adj = p[order[i]] * ((double)m / (double)(i + 1));
        if (adj < running) running = adj;
        out[order[i]] = running > 1.0 ? 1.0 : running;
    }
    return MUSHIN_OK;
}
