/*
 * fuzz_stats.c -- libFuzzer harness for the statistics entry points of
 * csrc/kernels/distributions.c, stats.c and ranktests.c.
 *
 * No reference implementation here (scipy is the oracle, in
 * tests/test_fuzz_smoke.py, on this corpus); instead invariants that hold
 * for every input, including extreme magnitudes, ties, zeros and non-finite
 * values:
 *   - a p-value is in [0, 1], or NaN exactly when the status says the test
 *     is undefined; non-finite scores or bad sizes give MUSHIN_EINVAL with
 *     the result untouched;
 *   - swapping a and b changes no p-value, method or statistic's meaning,
 *     and negates the mean difference and the effect size;
 *   - without ties no rank test goes below mushin_min_pvalue;
 *   - t_sf is a decreasing function, t_sf(-t) == t_cdf(t), and t_ppf
 *     inverts it; norm_ppf inverts norm_sf;
 *   - the exact null distributions are symmetric and sum to the number of
 *     outcomes (2^n, C(n1 + n2, n1)); sizes past the caps are refused
 *     without a write;
 *   - corrected p-values lie in [p, 1], keep the order of the raw ones and
 *     keep NaN as NaN.
 */
#include "../kernels/mushin_kernels.h"
#include "fuzz_common.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define MAX_SAMPLE 64

/* A score: mostly a few distinct values (ties, zero differences) at a
 * common scale that may be far from 1, sometimes any bit pattern. */
static double
score(fuzz_reader *r, double scale)
{
    const uint8_t b = fuzz_u8(r);
    if (b < 160) return (double)(b % 16) * scale;
    if (b < 250) return (double)(int16_t)fuzz_u16(r) / 256.0 * scale;
    return fuzz_f64_bits(r);
}

static int
all_finite(const double *x, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        if (!isfinite(x[i])) return 0;
    }
    return 1;
}

static int
all_distinct(const double *x, int64_t n)
{
    int64_t i, j;
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (x[i] == x[j]) return 0;
        }
    }
    return 1;
}

static int
same_double(double x, double y)
{
    return (isnan(x) && isnan(y)) || x == y;
}

static void
check_two_sample(fuzz_reader *r)
{
    const uint8_t kind_byte = fuzz_u8(r), sizes = fuzz_u8(r), conf = fuzz_u8(r);
    const int kind = kind_byte % (MUSHIN_NUM_TESTS + 1); /* one past: refused */
    const double scale = ldexp(1.0, (int)(int8_t)fuzz_u8(r) * 4);
    int64_t na = 1 + sizes % 16, nb = 1 + (sizes >> 4);
    double a[MAX_SAMPLE], b[MAX_SAMPLE], both[2 * MAX_SAMPLE], d[MAX_SAMPLE];
    double confidence = conf == 0 ? 0.95 : conf == 255 ? 1.0 : conf / 255.0;
    mushin_test_result ab, ba, untouched;
    int sab, sba, paired, finite;
    int64_t i;

    if (kind_byte & 0x80) {
        /* larger samples reach the normal approximations (n > 50) */
        na = 1 + fuzz_u8(r) % MAX_SAMPLE;
        nb = (kind_byte & 0x40) ? na : 1 + fuzz_u8(r) % MAX_SAMPLE;
    }
    paired = kind == MUSHIN_TEST_TTEST_REL || kind == MUSHIN_TEST_WILCOXON;
    if (paired && (kind_byte & 0x20)) nb = na;
    for (i = 0; i < na; i++) a[i] = score(r, scale);
    for (i = 0; i < nb; i++) b[i] = score(r, scale);
    finite = all_finite(a, na) && all_finite(b, nb);

    memset(&untouched, 0x5a, sizeof(untouched));
    ab = untouched;
    ba = untouched;
    sab = mushin_two_sample_test(kind, a, na, b, nb, confidence, &ab);
    sba = mushin_two_sample_test(kind, b, nb, a, na, confidence, &ba);
    FUZZ_CHECK(sab == sba);
    if (kind >= MUSHIN_NUM_TESTS || (paired && na != nb) || !finite ||
        !(confidence > 0.0 && confidence < 1.0)) {
        FUZZ_CHECK(sab == MUSHIN_EINVAL);
        FUZZ_CHECK(memcmp(&ab, &untouched, sizeof(ab)) == 0);
        return;
    }
    FUZZ_CHECK(sab == MUSHIN_OK || sab == MUSHIN_EDEGENERATE);
    if (sab == MUSHIN_OK) {
        FUZZ_CHECK(ab.pvalue >= 0.0 && ab.pvalue <= 1.0);
        FUZZ_CHECK(ab.pvalue_method != MUSHIN_PVALUE_UNDEFINED);
    }
    else {
        FUZZ_CHECK(isnan(ab.pvalue));
        FUZZ_CHECK(ab.pvalue_method == MUSHIN_PVALUE_UNDEFINED);
    }
    FUZZ_CHECK(same_double(ab.pvalue, ba.pvalue));
    FUZZ_CHECK(ab.pvalue_method == ba.pvalue_method);
    FUZZ_CHECK(same_double(ab.mean_diff, -ba.mean_diff));
    FUZZ_CHECK(same_double(ab.effect_size, -ba.effect_size));
    FUZZ_CHECK(same_double(ab.df, ba.df));
    if (!isnan(ab.ci_low) && !isnan(ab.ci_high)) {
        FUZZ_CHECK(ab.ci_low <= ab.ci_high);
    }

    /* without ties the rank tests cannot beat their best attainable p */
    for (i = 0; i < na; i++) both[i] = a[i];
    for (i = 0; i < nb; i++) both[na + i] = b[i];
    if (kind == MUSHIN_TEST_MANNWHITNEY && all_distinct(both, na + nb)) {
        const double floor_p = mushin_min_pvalue(kind, na, nb);
        FUZZ_CHECK(ab.pvalue >= floor_p * (1.0 - 1e-12));
    }
    if (kind == MUSHIN_TEST_WILCOXON) {
        int zero = 0;
        for (i = 0; i < na; i++) {
            d[i] = fabs(a[i] - b[i]);
            zero |= d[i] == 0.0;
        }
        if (!zero && all_distinct(d, na)) {
            const double floor_p = mushin_min_pvalue(kind, na, nb);
            FUZZ_CHECK(ab.pvalue >= floor_p * (1.0 - 1e-12));
        }
    }
}

/* A degrees-of-freedom value: ordinary, tiny, huge or infinite. */
static double
degrees_of_freedom(fuzz_reader *r)
{
    const uint8_t b = fuzz_u8(r);
    if (b < 100) return 1.0 + b % 60;
    if (b < 140) return (double)fuzz_u16(r) / 64.0;
    if (b < 200) {
        const uint8_t mantissa = fuzz_u8(r), exponent = fuzz_u8(r);
        return ldexp(1.0 + mantissa / 256.0, (int)(int8_t)exponent * 2);
    }
    if (b < 210) return INFINITY;
    return fuzz_f64_bits(r);
}

static void
check_t_distribution(fuzz_reader *r)
{
    const double df = degrees_of_freedom(r);
    /* each byte read in its own statement: the order of a call's
     * arguments is unspecified, and tests/test_fuzz_smoke.py decodes the
     * same bytes */
    const uint16_t m1 = fuzz_u16(r);
    const uint8_t e1 = fuzz_u8(r);
    const uint16_t m2 = fuzz_u16(r);
    const uint8_t e2 = fuzz_u8(r);
    double t1 = ldexp((double)(int16_t)m1, (int)(int8_t)e1 / 4);
    double t2 = ldexp((double)(int16_t)m2, (int)(int8_t)e2 / 4);
    const double q = (double)fuzz_u16(r) / 65536.0;
    double s1, s2;

    if (fuzz_u8(r) > 240) t1 = fuzz_f64_bits(r);
    if (t1 > t2) {
        const double t = t1;
        t1 = t2;
        t2 = t;
    }
    s1 = mushin_t_sf(t1, df);
    s2 = mushin_t_sf(t2, df);
    if (isnan(df) || !(df > 0) || isnan(t1)) {
        FUZZ_CHECK(isnan(s1));
        return;
    }
    FUZZ_CHECK(s1 >= 0.0 && s1 <= 1.0);
    FUZZ_CHECK(s2 >= 0.0 && s2 <= 1.0);
    /* decreasing; the two sides of t = 0 are computed differently, so
     * allow rounding of the result (relative, and 1 ulp of 1) */
    FUZZ_CHECK(s1 >= s2 * (1.0 - 1e-12) - DBL_EPSILON);
    FUZZ_CHECK(same_double(mushin_t_sf(-t1, df), mushin_t_cdf(t1, df)));
    FUZZ_CHECK(fabs(mushin_t_sf(t1, df) + mushin_t_cdf(t1, df) - 1.0) <= 4 * DBL_EPSILON);

    if (q > 0.0) {
        const double t = mushin_t_ppf(q, df);
        FUZZ_CHECK(!isnan(t));
        FUZZ_CHECK((q < 0.5) == (t < 0.0) || q == 0.5);
        if (isfinite(t)) {
            /* the quantile solves cdf(t) = q to about double precision in
             * the smaller tail */
            const double tail = q < 0.5 ? mushin_t_cdf(t, df) : mushin_t_sf(t, df);
            const double want = q < 0.5 ? q : 1.0 - q;
            FUZZ_CHECK(fabs(tail - want) <= 1e-9 * want);
        }
    }
}

static void
check_beta_and_normal(fuzz_reader *r)
{
    const uint8_t ma = fuzz_u8(r), ea = fuzz_u8(r), mb = fuzz_u8(r), eb = fuzz_u8(r);
    const double a = ldexp(1.0 + ma / 64.0, (int)(int8_t)ea / 3);
    const double b = ldexp(1.0 + mb / 64.0, (int)(int8_t)eb / 3);
    const double x = (double)fuzz_u16(r) / 65535.0;
    const double ix = mushin_betainc(a, b, x, 1.0 - x);
    const double iy = mushin_betainc(b, a, 1.0 - x, x);
    const double z = (double)(int16_t)fuzz_u16(r) / 1024.0;
    const double p = mushin_norm_sf(z);

    FUZZ_CHECK(ix >= 0.0 && ix <= 1.0);
    FUZZ_CHECK(iy >= 0.0 && iy <= 1.0);
    /* I_x(a, b) = 1 - I_{1-x}(b, a) */
    FUZZ_CHECK(fabs(ix + iy - 1.0) <= 1e-9);
    FUZZ_CHECK(p >= 0.0 && p <= 1.0);
    FUZZ_CHECK(same_double(mushin_norm_sf(-z), 1.0 - p) ||
               fabs(mushin_norm_sf(-z) - (1.0 - p)) <= 2 * DBL_EPSILON);
    if (z >= 0.0 && p > 0.0) {
        /* the upper tail keeps full relative accuracy, so its quantile
         * comes back; the lower one has lost the digits already */
        FUZZ_CHECK(fabs(mushin_norm_ppf(p) + z) <= 1e-9 * (1.0 + z));
    }
}

static void
check_exact_distributions(fuzz_reader *r)
{
    const uint8_t which = fuzz_u8(r);
    double refused = 12345.0;
    if (which & 1) {
        const int64_t n = which & 2 ? MUSHIN_SIGNED_RANK_MAX_N + 1 + fuzz_u8(r) : fuzz_u8(r) % 61;
        const int64_t top = n * (n + 1) / 2;
        double *counts, total = 0.0;
        int64_t s;
        if (n > MUSHIN_SIGNED_RANK_MAX_N) {
            FUZZ_CHECK(mushin_signed_rank_counts(n, &refused) == MUSHIN_EINVAL);
            FUZZ_CHECK(refused == 12345.0);
            return;
        }
        counts = (double *)malloc((size_t)(top + 1) * sizeof(double));
        if (counts == NULL) return;
        FUZZ_CHECK(mushin_signed_rank_counts(n, counts) == MUSHIN_OK);
        for (s = 0; s <= top; s++) {
            FUZZ_CHECK(counts[s] >= 1.0); /* every sum in 0..top is some subset's */
            FUZZ_CHECK(counts[s] == counts[top - s]);
            total += counts[s];
        }
        /* exact integers while below 2^53 */
        if (n <= 52) FUZZ_CHECK(total == ldexp(1.0, (int)n));
        free(counts);
    }
    else {
        const int64_t n1 = fuzz_u8(r) % 41, n2 = fuzz_u8(r) % 41;
        const int64_t kmax = n1 * n2;
        double *counts, total = 0.0, binom = 1.0;
        int64_t u, i;
        if (which & 2) {
            /* past the caps: refused, nothing written */
            const int64_t big = MUSHIN_RANK_SUM_MAX_KMAX + 1 + fuzz_u8(r);
            FUZZ_CHECK(mushin_rank_sum_counts(n1 + 1, big, big, &refused) == MUSHIN_EINVAL);
            FUZZ_CHECK(refused == 12345.0);
            return;
        }
        counts = (double *)malloc((size_t)(kmax + 1) * sizeof(double));
        if (counts == NULL) return;
        FUZZ_CHECK(mushin_rank_sum_counts(n1, n2, kmax, counts) == MUSHIN_OK);
        {
            /* C(n1 + n2, n1) exactly while it fits in int64 (infinite past
             * that): C(n2 + i, i) = C(n2 + i - 1, i - 1) (n2 + i) / i, with
             * i split by its gcd with the running value so the division is
             * exact before the multiply */
            int64_t exact = 1;
            for (i = 1; i <= n1 && binom != INFINITY; i++) {
                int64_t g = exact, h = i, t;
                while (h) { t = g % h; g = h; h = t; }
                if (mushin_mul_overflow_i64(exact / g, (n2 + i) / (i / g), &exact)) binom = INFINITY;
            }
            if (binom != INFINITY) binom = (double)exact;
        }
        /* past C(n1 + n2, n1) ~ 1.8e19 the kernel counts in double: every
         * count must still be positive and the distribution symmetric */
        for (u = 0; u <= kmax; u++) {
            FUZZ_CHECK(counts[u] >= 1.0);
            FUZZ_CHECK(counts[u] == counts[kmax - u]);
            total += counts[u];
        }
        if (binom < 0x1p53) FUZZ_CHECK(total == binom);
        free(counts);
    }
}

static void
check_corrections(fuzz_reader *r)
{
    const int64_t n = fuzz_u8(r) % 33;
    double p[33], holm[33], bonf[33], bh[33];
    int64_t order[33], i, j;
    int bad = 0;
    for (i = 0; i < n; i++) {
        const uint8_t b = fuzz_u8(r);
        p[i] = b < 16 ? NAN : b < 32 ? (double)(b % 4) / 3.0 : (double)fuzz_u16(r) / 65535.0;
        if (b == 255) {
            p[i] = fuzz_f64_bits(r); /* maybe outside [0, 1]: refused */
        }
        bad |= !isnan(p[i]) && !(p[i] >= 0.0 && p[i] <= 1.0);
    }
    if (bad) {
        FUZZ_CHECK(mushin_bonferroni(p, n, bonf) == MUSHIN_EINVAL);
        FUZZ_CHECK(mushin_fdr_bh(p, n, bh, order) == MUSHIN_EINVAL);
        return;
    }
    FUZZ_CHECK(mushin_holm(p, n, holm, order) == MUSHIN_OK);
    FUZZ_CHECK(mushin_bonferroni(p, n, bonf) == MUSHIN_OK);
    FUZZ_CHECK(mushin_fdr_bh(p, n, bh, order) == MUSHIN_OK);
    for (i = 0; i < n; i++) {
        if (isnan(p[i])) {
            FUZZ_CHECK(isnan(holm[i]) && isnan(bonf[i]) && isnan(bh[i]));
            continue;
        }
        FUZZ_CHECK(holm[i] >= p[i] && holm[i] <= 1.0);
        FUZZ_CHECK(bonf[i] >= p[i] && bonf[i] <= 1.0);
        FUZZ_CHECK(bh[i] >= p[i] && bh[i] <= 1.0);
        /* Holm and BH never adjust by more than Bonferroni */
        FUZZ_CHECK(holm[i] <= bonf[i] && bh[i] <= bonf[i]);
        for (j = 0; j < n; j++) {
            if (!isnan(p[j]) && p[i] <= p[j]) {
                FUZZ_CHECK(holm[i] <= holm[j] && bh[i] <= bh[j]);
            }
        }
    }
}

static void
check_summaries(fuzz_reader *r)
{
    const int64_t n = fuzz_u8(r) % MAX_SAMPLE;
    const double scale = ldexp(1.0, (int)(int8_t)fuzz_u8(r) * 3);
    double x[MAX_SAMPLE], mean, low, high, sum, abs_sum = 0.0;
    long double naive = 0.0L;
    int64_t i;
    for (i = 0; i < n; i++) {
        x[i] = score(r, scale);
        if (!isfinite(x[i])) x[i] = (double)i;
    }
    for (i = 0; i < n; i++) {
        naive += x[i];
        abs_sum += fabs(x[i]);
    }
    sum = mushin_pairwise_sum(x, n);
    if (isfinite(abs_sum)) {
        FUZZ_CHECK(fabs(sum - (double)naive) <= (double)(n + 1) * DBL_EPSILON * abs_sum);
    }
    if (mushin_mean_ci(x, n, 0.95, &mean, &low, &high) == MUSHIN_OK && n >= 2 &&
        !isnan(low) && !isnan(high)) {
        FUZZ_CHECK(low <= mean && mean <= high);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = {data, size};
    switch (fuzz_u8(&r) % 6) {
    case 0: check_two_sample(&r); break;
    case 1: check_t_distribution(&r); break;
    case 2: check_beta_and_normal(&r); break;
    case 3: check_exact_distributions(&r); break;
    case 4: check_corrections(&r); break;
    default: check_summaries(&r); break;
    }
    return 0;
}
