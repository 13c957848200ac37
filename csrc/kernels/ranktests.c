/*
 * ranktests.c -- the Wilcoxon signed-rank and Mann-Whitney U tests, with
 * their exact null distributions, following scipy's method="auto" rules:
 *
 *   wilcoxon(a, b): n > 50 -> normal approximation; otherwise no ties and
 *     no zero differences -> exact distribution; ties or zeros with
 *     n <= 13 -> all 2^n sign flips (scipy's permutation test, which is
 *     exhaustive at that size); else normal approximation.  Zero
 *     differences are dropped ("wilcox"), no continuity correction, the
 *     statistic is min(R+, R-).
 *   mannwhitneyu(a, b): both samples larger than 8 or any tie -> normal
 *     approximation with tie correction and continuity correction 1/2;
 *     otherwise the exact distribution.  The statistic is U of `a`.
 *
 * The exact distributions are counted in integers (a count / a power of two
 * or a binomial coefficient), so the p-values are exact up to the final
 * division.
 */
#include "mushin_kernels.h"

/* No fused multiply-add contraction: sums must round exactly as NumPy's do
 * (bit-equal means and variances), and clang contracts a * b + c by default
 * where gcc -std=c11 does not. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hodges-Lehmann intervals sort every pairwise difference (or Walsh
 * average); past this many the interval is reported as NaN rather than
 * allocating hundreds of megabytes for a quantity seeds never need. */
#define HL_MAX_PAIRS ((int64_t)1 << 22)

/* ------------------------------------------------------------- ranking -- */

typedef struct {
    double value;
    int64_t index;
} keyed_value;

static int
compare_keyed(const void *p, const void *q)
{
    const keyed_value *x = (const keyed_value *)p, *y = (const keyed_value *)q;
    if (x->value < y->value) return -1;
    if (x->value > y->value) return 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int
compare_double(const void *p, const void *q)
{
    const double x = *(const double *)p, y = *(const double *)q;
    return (x > y) - (x < y);
}

/*
 * Average ranks (1-based; tied values share the mean of their positions,
 * as scipy.stats.rankdata(method="average")) of x into `ranks`.  Returns
 * the tie term sum(t^3 - t) over groups of t tied values and sets
 * *has_ties.  `keys` is scratch of n entries.
 */
static double
average_ranks(const double *x, int64_t n, double *ranks, keyed_value *keys, int *has_ties)
{
    double tie_term = 0.0;
    int64_t i = 0, j, k;
    for (k = 0; k < n; k++) {
        keys[k].value = x[k];
        keys[k].index = k;
    }
    qsort(keys, (size_t)n, sizeof(keyed_value), compare_keyed);
    *has_ties = 0;
    while (i < n) {
        double count, rank;
        j = i + 1;
        while (j < n && keys[j].value == keys[i].value) {
            j++;
        }
        count = (double)(j - i);
        rank = (double)(i + 1) + (count - 1.0) / 2.0;
        for (k = i; k < j; k++) {
            ranks[keys[k].index] = rank;
        }
        if (j - i > 1) {
            *has_ties = 1;
            tie_term += count * count * count - count;
        }
        i = j;
    }
    return tie_term;
}

/* ------------------------------------------------ exact distributions -- */

int
mushin_signed_rank_counts(int64_t n, double *counts)
{
    int64_t k, s, top;
    if (n < 0 || n > MUSHIN_SIGNED_RANK_MAX_N) {
        return MUSHIN_EINVAL;
    }
    top = n * (n + 1) / 2;
    memset(counts, 0, (size_t)(top + 1) * sizeof(double));
    counts[0] = 1.0;
    /* add rank k to every subset of {1..k-1}: the classic subset-sum table */
    for (k = 1; k <= n; k++) {
        for (s = k * (k + 1) / 2; s >= k; s--) {
            counts[s] += counts[s - k];
        }
    }
    return MUSHIN_OK;
}

/* C(n, k) in floating point (exact below 2^53). */
static double
binomial(int64_t n, int64_t k)
{
    double c = 1.0;
    int64_t i;
    if (k < 0 || k > n) return 0.0;
    if (k > n - k) k = n - k;
    for (i = 1; i <= k; i++) {
        c = c * (double)(n - k + i) / (double)i;
    }
    return c;
}

int
mushin_rank_sum_within_caps(int64_t n1, int64_t n2, int64_t kmax)
{
    const int64_t m = n1 < n2 ? n1 : n2, n = n1 < n2 ? n2 : n1;
    double log2_total = 0.0;
    int64_t i;
    if (n1 < 0 || n2 < 0 || kmax < 0 || kmax > MUSHIN_RANK_SUM_MAX_KMAX) {
        return 0;
    }
    if (m > 0 && kmax + 1 > MUSHIN_RANK_SUM_MAX_WORK / m) {
        return 0;
    }
    /* log2 C(n + m, m) = sum log2((n + i) / i); each term is >= 1 since
     * n >= m >= i, so this stops within 1000 steps */
    for (i = 1; i <= m && log2_total < 1000.0; i++) {
        log2_total += log2((double)(n + i) / (double)i);
    }
    return log2_total < 1000.0;
}

/*
 * Counts of U = 0..kmax for samples of n1 and n2: the coefficients of the
 * Gaussian binomial [n1 + n2 choose m]_q = prod_{i=1..m} (1 - q^(n+i)) /
 * (1 - q^i), m = min(n1, n2), n = max.  Each factor is one pass: multiply
 * by (1 - q^(n+i)) from the top down, divide by (1 - q^i) as a running sum
 * with stride i.  Done in uint64 the intermediate values may wrap, but the
 * result of every step is a true count below C(n + m, m), so while that is
 * under 2^64 modular arithmetic gives it exactly; beyond, double.
 */
int
mushin_rank_sum_counts(int64_t n1, int64_t n2, int64_t kmax, double *counts)
{
    const int64_t m = n1 < n2 ? n1 : n2, n = n1 < n2 ? n2 : n1;
    int64_t i, u;
    if (!mushin_rank_sum_within_caps(n1, n2, kmax)) {
        return MUSHIN_EINVAL;
    }
    if (binomial(n + m, m) < 1.8e19) {
        uint64_t *c = (uint64_t *)calloc((size_t)(kmax + 1), sizeof(uint64_t));
        if (c == NULL) {
            return MUSHIN_ENOMEM;
        }
        c[0] = 1;
        for (i = 1; i <= m; i++) {
            for (u = kmax; u >= n + i; u--) c[u] -= c[u - n - i];
            for (u = i; u <= kmax; u++) c[u] += c[u - i];
        }
        for (u = 0; u <= kmax; u++) counts[u] = (double)c[u];
        free(c);
        return MUSHIN_OK;
    }
    {
        /* In double, the multiply-by-(1 - q^(n+i)) step subtracts numbers
         * near C(n + m, m) in the upper half, and the running sums that
         * follow leave absolute errors there far above the small upper-tail
         * counts (even negative ones).  The lower half has no such
         * cancellation, and the distribution is symmetric, so compute up to
         * the centre -- truncating the polynomial product there is exact,
         * each step reads only lower degrees -- and mirror the rest. */
        const int64_t top_u = m * n, half = top_u / 2, low = kmax < half ? kmax : half;
        memset(counts, 0, (size_t)(kmax + 1) * sizeof(double));
        counts[0] = 1.0;
        for (i = 1; i <= m; i++) {
            for (u = low; u >= n + i; u--) counts[u] -= counts[u - n - i];
            for (u = i; u <= low; u++) counts[u] += counts[u - i];
        }
        for (u = low + 1; u <= kmax && u <= top_u; u++) counts[u] = counts[top_u - u];
    }
    return MUSHIN_OK;
}

/* ------------------------------------------------ critical values / HL -- */

/*
 * The largest u whose two-sided p-value, 2 P(S <= u), is below alpha, for
 * a statistic S with `counts[0..]` out of `total` equally likely outcomes;
 * -1 when even u = 0 is not.  `limit` bounds the scan (the centre).
 */
static int64_t
critical_exact(const double *counts, int64_t limit, double total, double alpha)
{
    double cumulative = 0.0;
    int64_t u;
    for (u = 0; u <= limit; u++) {
        cumulative += counts[u];
        if (!(2.0 * cumulative / total < alpha)) {
            return u - 1;
        }
    }
    return limit;
}

/* The same under the normal approximation: S has centre `mid` and standard
 * deviation `sigma`, and u is rejected when 2 sf((mid - u - cc) / sigma)
 * < alpha (cc: the continuity correction of the matching test). */
static int
normal_rejects(double u, double mid, double sigma, double cc, double alpha)
{
    return 2.0 * mushin_norm_sf((mid - u - cc) / sigma) < alpha;
}

static int64_t
critical_normal(double mid, double sigma, double cc, double alpha)
{
    int64_t u = (int64_t)floor(mid - cc - mushin_norm_ppf(1.0 - alpha / 2.0) * sigma);
    if (u < -1) u = -1;
    while (u >= 0 && !normal_rejects((double)u, mid, sigma, cc, alpha)) u--;
    while (normal_rejects((double)(u + 1), mid, sigma, cc, alpha)) u++;
    return u;
}

/*
 * Shifts d that the test would not reject form [v_(c+1), v_(N-c)] of the N
 * sorted values v (pairwise differences or Walsh averages), c being the
 * critical value.  Sorts `values` in place.
 */
static void
order_statistic_interval(double *values, int64_t count, int64_t critical, double *low,
                         double *high)
{
    if (critical < 0) {
        *low = -INFINITY;
        *high = INFINITY;
        return;
    }
    qsort(values, (size_t)count, sizeof(double), compare_double);
    *low = values[critical];
    *high = values[count - 1 - critical];
}

/* ------------------------------------------------------------ Wilcoxon -- */

static int
wilcoxon_interval(const double *d, int64_t n, double alpha, double *low, double *high)
{
    const int64_t count = n * (n + 1) / 2;
    double *walsh = NULL, *counts = NULL;
    int64_t critical, i, j, k = 0;
    if (count > HL_MAX_PAIRS) {
        *low = *high = NAN;
        return MUSHIN_OK;
    }
    walsh = (double *)malloc((size_t)count * sizeof(double));
    if (walsh == NULL) {
        return MUSHIN_ENOMEM;
    }
    if (n <= 50) {
        counts = (double *)malloc((size_t)(count + 1) * sizeof(double));
        if (counts == NULL) {
            free(walsh);
            return MUSHIN_ENOMEM;
        }
        mushin_signed_rank_counts(n, counts);
        critical = critical_exact(counts, count / 2, ldexp(1.0, (int)n), alpha);
        free(counts);
    }
    else {
        const double nd = (double)n;
        critical = critical_normal((double)count / 2.0,
                                   sqrt(nd * (nd + 1.0) * (2.0 * nd + 1.0) / 24.0), 0.0, alpha);
    }
    for (i = 0; i < n; i++) {
        for (j = i; j < n; j++) {
            walsh[k++] = (d[i] + d[j]) / 2.0;
        }
    }
    order_statistic_interval(walsh, count, critical, low, high);
    free(walsh);
    return MUSHIN_OK;
}

int
mushin_wilcoxon_test(const double *a, const double *b, int64_t n, double confidence,
                     mushin_test_result *out)
{
    double *d = NULL, *magnitude = NULL, *ranks = NULL, *counts = NULL;
    keyed_value *keys = NULL;
    double ma, va, mb, vb, r_plus = 0.0, r_minus = 0.0, tie_term;
    int64_t i, nonzero = 0;
    int has_ties = 0, status = MUSHIN_OK;

    mushin_mean_var(a, n, &ma, &va);
    mushin_mean_var(b, n, &mb, &vb);
    out->mean_diff = ma - mb;
    out->effect_size = mushin_cohens_dz(a, b, n);
    out->df = NAN;

    d = (double *)malloc((size_t)n * sizeof(double));
    magnitude = (double *)malloc((size_t)n * sizeof(double));
    ranks = (double *)malloc((size_t)n * sizeof(double));
    keys = (keyed_value *)malloc((size_t)n * sizeof(keyed_value));
    if (d == NULL || magnitude == NULL || ranks == NULL || keys == NULL) {
        status = MUSHIN_ENOMEM;
        goto done;
    }
    for (i = 0; i < n; i++) {
        d[i] = a[i] - b[i];
        if (d[i] != 0.0) {
            magnitude[nonzero++] = fabs(d[i]);
        }
    }
    status = wilcoxon_interval(d, n, 1.0 - confidence, &out->ci_low, &out->ci_high);
    if (status != MUSHIN_OK) {
        goto done;
    }
    if (nonzero == 0) {
        /* identical pair by pair: no evidence of any difference */
        out->statistic = 0.0;
        out->pvalue = 1.0;
        out->pvalue_method = MUSHIN_PVALUE_IDENTICAL;
        goto done;
    }
    tie_term = average_ranks(magnitude, nonzero, ranks, keys, &has_ties);
    for (i = 0, nonzero = 0; i < n; i++) {
        if (d[i] > 0.0) r_plus += ranks[nonzero++];
        else if (d[i] < 0.0) r_minus += ranks[nonzero++];
    }
    out->statistic = r_plus < r_minus ? r_plus : r_minus;

    if (n <= 50 && !has_ties && nonzero == n) {
        /* exact: P(T <= min(R+, R-)) from the subset-sum counts of 1..n */
        const int64_t top = n * (n + 1) / 2, k = (int64_t)out->statistic;
        double lower = 0.0;
        counts = (double *)malloc((size_t)(top + 1) * sizeof(double));
        if (counts == NULL) {
            status = MUSHIN_ENOMEM;
            goto done;
        }
        mushin_signed_rank_counts(n, counts);
        for (i = 0; i <= k; i++) lower += counts[i];
        out->pvalue = 2.0 * (lower / ldexp(1.0, (int)n));
        out->pvalue_method = MUSHIN_PVALUE_EXACT;
    }
    else if (n <= 13) {
        /* every sign flip of the nonzero differences: subset sums of the
         * doubled (so integral) average ranks */
        const int64_t top = nonzero * (nonzero + 1), observed = (int64_t)(2.0 * r_plus);
        double less = 0.0, greater = 0.0;
        int64_t s, j;
        counts = (double *)calloc((size_t)(top + 1), sizeof(double));
        if (counts == NULL) {
            status = MUSHIN_ENOMEM;
            goto done;
        }
        counts[0] = 1.0;
        for (j = 0; j < nonzero; j++) {
            const int64_t v = (int64_t)(2.0 * ranks[j]);
            for (s = top; s >= v; s--) counts[s] += counts[s - v];
        }
        for (s = 0; s <= top; s++) {
            if (s <= observed) less += counts[s];
            if (s >= observed) greater += counts[s];
        }
        out->pvalue = 2.0 * ((less < greater ? less : greater) / ldexp(1.0, (int)nonzero));
        out->pvalue_method = MUSHIN_PVALUE_PERMUTATION;
    }
    else {
        /* normal approximation with the tie correction, in scipy's order */
        const double count = (double)nonzero;
        const double mean = count * (count + 1.0) * 0.25;
        const double se = sqrt((count * (count + 1.0) * (2.0 * count + 1.0) - tie_term / 2.0) / 24.0);
        const double z = (r_plus - mean) / se;
        out->pvalue = 2.0 * mushin_norm_sf(fabs(z));
        out->pvalue_method = MUSHIN_PVALUE_NORMAL;
    }
    if (out->pvalue > 1.0) out->pvalue = 1.0;

done:
    free(d);
    free(magnitude);
    free(ranks);
    free(keys);
    free(counts);
    return status;
}

/* -------------------------------------------------------- Mann-Whitney -- */

static int
mannwhitney_interval(const double *a, int64_t na, const double *b, int64_t nb, double alpha,
                     double *low, double *high)
{
    const int64_t pairs = na * nb, m = na < nb ? na : nb;
    double *diffs = NULL;
    int64_t critical, i, j, k = 0;
    if (pairs > HL_MAX_PAIRS) {
        *low = *high = NAN;
        return MUSHIN_OK;
    }
    diffs = (double *)malloc((size_t)pairs * sizeof(double));
    if (diffs == NULL) {
        return MUSHIN_ENOMEM;
    }
    if (m <= 8 && mushin_rank_sum_within_caps(na, nb, pairs / 2)) {
        double *counts = (double *)malloc((size_t)(pairs / 2 + 1) * sizeof(double));
        int status = counts == NULL ? MUSHIN_ENOMEM
                                    : mushin_rank_sum_counts(na, nb, pairs / 2, counts);
        if (status != MUSHIN_OK) {
            free(counts);
            free(diffs);
            return status;
        }
        critical = critical_exact(counts, pairs / 2, binomial(na + nb, m), alpha);
        free(counts);
    }
    else {
        const double nn = (double)(na + nb);
        critical = critical_normal((double)pairs / 2.0, sqrt((double)pairs * (nn + 1.0) / 12.0),
                                   0.5, alpha);
    }
    for (i = 0; i < na; i++) {
        for (j = 0; j < nb; j++) {
            diffs[k++] = a[i] - b[j];
        }
    }
    order_statistic_interval(diffs, pairs, critical, low, high);
    free(diffs);
    return MUSHIN_OK;
}

int
mushin_mannwhitney_test(const double *a, int64_t na, const double *b, int64_t nb,
                        double confidence, mushin_test_result *out)
{
    const int64_t total = na + nb;
    double *values = NULL, *ranks = NULL, *counts = NULL;
    keyed_value *keys = NULL;
    double ma, va, mb, vb, rank_sum = 0.0, u1, u2, big, tie_term;
    int64_t i;
    int has_ties = 0, status;

    mushin_mean_var(a, na, &ma, &va);
    mushin_mean_var(b, nb, &mb, &vb);
    out->mean_diff = ma - mb;
    out->effect_size = mushin_cohens_d(a, na, b, nb);
    out->df = NAN;

    values = (double *)malloc((size_t)total * sizeof(double));
    ranks = (double *)malloc((size_t)total * sizeof(double));
    keys = (keyed_value *)malloc((size_t)total * sizeof(keyed_value));
    if (values == NULL || ranks == NULL || keys == NULL) {
        status = MUSHIN_ENOMEM;
        goto done;
    }
    status = mannwhitney_interval(a, na, b, nb, 1.0 - confidence, &out->ci_low, &out->ci_high);
    if (status != MUSHIN_OK) {
        goto done;
    }
    memcpy(values, a, (size_t)na * sizeof(double));
    memcpy(values + na, b, (size_t)nb * sizeof(double));
    tie_term = average_ranks(values, total, ranks, keys, &has_ties);
    for (i = 0; i < na; i++) {
        rank_sum += ranks[i]; /* half-integers: exact in any order */
    }
    u1 = rank_sum - (double)(na * (na + 1)) / 2.0;
    u2 = (double)(na * nb) - u1;
    big = u1 > u2 ? u1 : u2;
    out->statistic = u1;

    /* Past the caps of the exact counts (e.g. 8 scores against millions)
     * the normal approximation is used: at such sizes it agrees with the
     * exact p-value to many digits, and the table would cost gigabytes. */
    if ((na > 8 && nb > 8) || has_ties ||
        !mushin_rank_sum_within_caps(na, nb, (int64_t)((double)(na * nb) - big))) {
        const double mu = (double)(na * nb) / 2.0;
        const double s = sqrt((double)(na * nb) / 12.0 *
                              ((double)(total + 1) - tie_term / (double)(total * (total - 1))));
        /* s == 0 only when every value is tied (then u1 == mu): the 1/2 of
         * the continuity correction makes z = -inf and p = 1 */
        const double z = s > 0.0 ? (big - mu - 0.5) / s : -INFINITY;
        out->pvalue = 2.0 * mushin_norm_sf(z);
        out->pvalue_method = MUSHIN_PVALUE_NORMAL;
    }
    else {
        const int64_t smaller = (int64_t)((double)(na * nb) - big);
        const int64_t m = na < nb ? na : nb;
        double lower = 0.0;
        counts = (double *)malloc((size_t)(smaller + 1) * sizeof(double));
        if (counts == NULL) {
            status = MUSHIN_ENOMEM;
            goto done;
        }
        status = mushin_rank_sum_counts(na, nb, smaller, counts);
        if (status != MUSHIN_OK) {
            goto done;
        }
        for (i = 0; i <= smaller; i++) lower += counts[i];
        out->pvalue = 2.0 * (lower / binomial(total, m));
        out->pvalue_method = MUSHIN_PVALUE_EXACT;
    }
    if (out->pvalue > 1.0) out->pvalue = 1.0;

done:
    free(values);
    free(ranks);
    free(keys);
    free(counts);
    return status;
}

/* ------------------------------------------------------ attainable p -- */

double
mushin_min_pvalue(int kind, int64_t na, int64_t nb)
{
    const int64_t n = na < nb ? na : nb, big = na < nb ? nb : na;
    double p;
    switch (kind) {
    case MUSHIN_TEST_WELCH:
        return (na >= 2 && nb >= 2) ? 0.0 : NAN;
    case MUSHIN_TEST_TTEST_IND:
        return (n >= 1 && na + nb >= 3) ? 0.0 : NAN;
    case MUSHIN_TEST_TTEST_REL:
        return n >= 2 ? 0.0 : NAN;
    case MUSHIN_TEST_WILCOXON: {
        const double nd = (double)n;
        if (n < 1) return NAN;
        if (n <= 50) {
            /* every difference of one sign: R- = 0, the lowest count */
            double *counts = (double *)malloc((size_t)(n * (n + 1) / 2 + 1) * sizeof(double));
            if (counts == NULL) return NAN;
            mushin_signed_rank_counts(n, counts);
            p = 2.0 * (counts[0] / ldexp(1.0, (int)n));
            free(counts);
        }
        else {
            const double top = nd * (nd + 1.0) / 2.0, mean = nd * (nd + 1.0) * 0.25;
            const double se = sqrt(nd * (nd + 1.0) * (2.0 * nd + 1.0) / 24.0);
            p = 2.0 * mushin_norm_sf((top - mean) / se);
        }
        return p > 1.0 ? 1.0 : p;
    }
    case MUSHIN_TEST_MANNWHITNEY: {
        if (n < 1) return NAN;
        if (n > 8 && big > 8) {
            const double mn = (double)(na * nb);
            const double s = sqrt(mn / 12.0 * (double)(na + nb + 1));
            p = 2.0 * mushin_norm_sf((mn - mn / 2.0 - 0.5) / s);
        }
        else {
            /* complete separation: U = 0 has a single arrangement */
            double zero_count;
            if (mushin_rank_sum_counts(na, nb, 0, &zero_count) != MUSHIN_OK) return NAN;
            p = 2.0 * (zero_count / binomial(na + nb, n));
        }
        return p > 1.0 ? 1.0 : p;
    }
    default:
        return NAN;
    }
}
