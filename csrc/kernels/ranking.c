/*
 * ranking.c -- many methods over many blocks (Friedman, Nemenyi, Conover),
 * the distributions they need (chi-square, studentized range), and the
 * power of the tests (noncentral t, simulation of the rank tests); see
 * resample.h.
 *
 * The post-hoc statistics repeat scikit-posthocs' arithmetic operation by
 * operation (the ranks are half-integers, their sums exact), so statistics
 * agree with it bit for bit and p-values to the accuracy of the
 * distribution functions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "resample.h"
#include "rng_internal.h"

#define SQRT2 1.41421356237309504880

/* ------------------------------------------------------- chi-square -- */

/* Regularized upper incomplete gamma Q(a, x), a > 0, x >= 0: the series of
 * P below x = a + 1 (where Q is not small, so 1 - P keeps its digits), the
 * continued fraction of Q above (modified Lentz). */
static double
gamma_q(double a, double x)
{
    const double log_prefix = -x + a * log(x) - lgamma(a);
    int i;
    if (x <= 0.0) {
        return 1.0;
    }
    if (isinf(x)) {
        return 0.0;
    }
    if (x < a + 1.0) {
        double ap = a, term = 1.0 / a, sum = term;
        for (i = 0; i < 100000; i++) {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-17) {
                break;
            }
        }
        return 1.0 - sum * exp(log_prefix);
    }
    {
        const double tiny = 1e-300;
        double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
        for (i = 1; i < 100000; i++) {
            const double an = -(double)i * ((double)i - a);
            double delta;
            b += 2.0;
            d = an * d + b;
            if (fabs(d) < tiny) d = tiny;
            c = b + an / c;
            if (fabs(c) < tiny) c = tiny;
            d = 1.0 / d;
            delta = d * c;
            h *= delta;
            if (fabs(delta - 1.0) < 1e-16) {
                break;
            }
        }
        return exp(log_prefix) * h;
    }
}

double
mushin_chi2_sf(double x, double df)
{
    if (isnan(x) || isnan(df) || !(df > 0.0)) {
        return NAN;
    }
    if (x <= 0.0) {
        return 1.0;
    }
    return gamma_q(0.5 * df, 0.5 * x);
}

/* ------------------------------------------------ studentized range -- */

/* Ten-point Gauss-Legendre rule on [-1, 1]. */
static const double gl_node[5] = {0.1488743389816312, 0.4333953941292472, 0.6794095682990244,
                                  0.8650633666889845, 0.9739065285171717};
static const double gl_weight[5] = {0.2955242247147529, 0.2692667193099963, 0.2190863625159820,
                                    0.1494513491505806, 0.0666713443086881};

static double
normal_cdf(double z)
{
    return 0.5 * erfc(-z / SQRT2);
}

/* phi(z) [Phi(z)^n - (Phi(z) - Phi(z - q))^n]: the density that the
 * largest of n + 1 normals sits at z and the range exceeds q.  The
 * difference is a^n (1 - (1 - d/a)^n), formed with expm1/log1p so that it
 * keeps its relative accuracy when d = Phi(z - q) is tiny. */
static double
range_tail_integrand(double z, double q, double n)
{
    const double a = normal_cdf(z), d = normal_cdf(z - q);
    const double density = exp(-0.5 * z * z) / 2.50662827463100050242;
    if (a <= 0.0) {
        return 0.0;
    }
    return density * pow(a, n) * -expm1(n * log1p(-d / a));
}

double
mushin_studentized_range_sf(double q, int64_t k)
{
    /* P(range > q) = k * integral of range_tail_integrand over z, whose
     * mass lies between -12 and q + 12 (outside it the density is below
     * e^-72 of what is inside); panels of 1/4 are far narrower than the
     * integrand's features (widths near 1/sqrt 2) */
    const double lo = -12.0, n = (double)(k - 1);
    double hi, width, total = 0.0;
    int64_t panels, p;
    int i;
    if (isnan(q) || k < 2) {
        return NAN;
    }
    if (q <= 0.0) {
        return 1.0;
    }
    if (isinf(q)) {
        return 0.0;
    }
    hi = q + 12.0;
    panels = (int64_t)ceil((hi - lo) / 0.25);
    width = (hi - lo) / (double)panels;
    for (p = 0; p < panels; p++) {
        const double mid = lo + ((double)p + 0.5) * width, half = 0.5 * width;
        double sum = 0.0;
        for (i = 0; i < 5; i++) {
            sum += gl_weight[i] * (range_tail_integrand(mid - half * gl_node[i], q, n) +
                                   range_tail_integrand(mid + half * gl_node[i], q, n));
        }
        total += sum * half;
    }
    total *= (double)k;
    return total > 1.0 ? 1.0 : total;
}

double
mushin_studentized_range_isf(double p, int64_t k)
{
    double lo = 0.0, hi = 8.0;
    int i;
    if (!(p > 0.0 && p < 1.0) || k < 2) {
        return NAN;
    }
    while (mushin_studentized_range_sf(hi, k) > p) {
        lo = hi;
        hi *= 2.0;
        if (hi > 1e4) {
            return NAN;
        }
    }
    for (i = 0; i < 200 && hi - lo > 1e-14 * hi; i++) {
        const double mid = 0.5 * (lo + hi);
        if (mushin_studentized_range_sf(mid, k) > p) {
            lo = mid;
        }
        else {
            hi = mid;
        }
    }
    return 0.5 * (lo + hi);
}

/* ------------------------------------------------------------ ranks -- */

typedef struct {
    double value;
    int64_t index;
} ranked_value;

static int
compare_ranked(const void *a, const void *b)
{
    const ranked_value *x = (const ranked_value *)a, *y = (const ranked_value *)b;
    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }
    return (x->index > y->index) - (x->index < y->index);
}

/* Average ranks of one row; returns sum over tie groups of t (t^2 - 1). */
static double
rank_row(const double *row, int64_t k, ranked_value *keys, double *ranks)
{
    int64_t i, j;
    double ties = 0.0;
    for (i = 0; i < k; i++) {
        keys[i].value = row[i];
        keys[i].index = i;
    }
    qsort(keys, (size_t)k, sizeof(ranked_value), compare_ranked);
    for (i = 0; i < k; i = j) {
        double t, average;
        for (j = i + 1; j < k && keys[j].value == keys[i].value; j++) {
        }
        t = (double)(j - i);
        average = 0.5 * ((double)(i + 1) + (double)j);
        ties += t * (t * t - 1.0);
        for (int64_t m = i; m < j; m++) {
            ranks[keys[m].index] = average;
        }
    }
    return ties;
}

int
mushin_rank_rows(const double *x, int64_t blocks, int64_t k, double *ranks)
{
    ranked_value *keys;
    int64_t b;
    if (blocks < 0 || k < 1) {
        return MUSHIN_EINVAL;
    }
    keys = (ranked_value *)malloc((size_t)k * sizeof(ranked_value));
    if (keys == NULL) {
        return MUSHIN_ENOMEM;
    }
    for (b = 0; b < blocks; b++) {
        rank_row(x + b * k, k, keys, ranks + b * k);
    }
    free(keys);
    return MUSHIN_OK;
}

/* Ranks of every block, the per-method rank sums and the tie total: *ranks
 * is a new buffer of the blocks * k ranks followed by the k sums (*rank_sums
 * points there), for the caller to free. */
static int
rank_blocks(const double *x, int64_t blocks, int64_t k, double **ranks_out,
            double **rank_sums_out, double *ties)
{
    double *ranks = (double *)malloc((size_t)(blocks * k + k) * sizeof(double));
    ranked_value *keys = (ranked_value *)malloc((size_t)k * sizeof(ranked_value));
    double *rank_sums;
    int64_t b, j;
    if (ranks == NULL || keys == NULL) {
        free(ranks);
        free(keys);
        return MUSHIN_ENOMEM;
    }
    rank_sums = ranks + blocks * k;
    *ranks_out = ranks;
    *rank_sums_out = rank_sums;
    *ties = 0.0;
    for (j = 0; j < k; j++) {
        rank_sums[j] = 0.0;
    }
    for (b = 0; b < blocks; b++) {
        *ties += rank_row(x + b * k, k, keys, ranks + b * k);
        for (j = 0; j < k; j++) {
            rank_sums[j] += ranks[b * k + j];
        }
    }
    free(keys);
    return MUSHIN_OK;
}

int
mushin_friedman(const double *x, int64_t blocks, int64_t k, double *mean_ranks,
                mushin_friedman_result *out)
{
    double *ranks, *sums, ties, ssbn = 0.0, c, kd = (double)k, nd = (double)blocks;
    int64_t j;
    int status;
    if (k < 3 || blocks < 1) {
        return MUSHIN_EINVAL;
    }
    status = rank_blocks(x, blocks, k, &ranks, &sums, &ties);
    if (status != MUSHIN_OK) {
        return status;
    }
    for (j = 0; j < k; j++) {
        ssbn += sums[j] * sums[j];
        mean_ranks[j] = sums[j] / nd;
    }
    free(ranks);
    /* scipy.stats.friedmanchisquare, term by term */
    c = 1.0 - ties / (kd * (kd * kd - 1.0) * nd);
    out->df = kd - 1.0;
    if (c == 0.0) {
        /* every block is one tie: no ranking to test */
        out->statistic = NAN;
        out->pvalue = NAN;
        return MUSHIN_EDEGENERATE;
    }
    out->statistic = (12.0 / (kd * nd * (kd + 1.0)) * ssbn - 3.0 * nd * (kd + 1.0)) / c;
    out->pvalue = mushin_chi2_sf(out->statistic, out->df);
    return MUSHIN_OK;
}

int
mushin_friedman_posthoc(const double *x, int64_t blocks, int64_t k, int kind,
                        double *statistic, double *pvalue)
{
    double *ranks, *sums, ties, kd = (double)k, n = (double)blocks;
    int64_t i, j;
    int status;
    if (k < 2 || blocks < 1 || (kind != MUSHIN_POSTHOC_NEMENYI && kind != MUSHIN_POSTHOC_CONOVER)) {
        return MUSHIN_EINVAL;
    }
    status = rank_blocks(x, blocks, k, &ranks, &sums, &ties);
    if (status != MUSHIN_OK) {
        return status;
    }
    for (i = 0; i < k; i++) {
        statistic[i * k + i] = 0.0;
        pvalue[i * k + i] = 1.0;
    }
    if (kind == MUSHIN_POSTHOC_NEMENYI) {
        const double scale = sqrt(kd * (kd + 1.0) / (6.0 * n));
        for (i = 0; i < k; i++) {
            for (j = i + 1; j < k; j++) {
                const double q = fabs(sums[i] / n - sums[j] / n) / scale;
                statistic[i * k + j] = statistic[j * k + i] = q;
                pvalue[i * k + j] = pvalue[j * k + i] = mushin_studentized_range_sf(q * sqrt(2.0), k);
            }
        }
    }
    else {
        double a1 = 0.0, spread = 0.0, s2, t2, df, a, b;
        for (i = 0; i < blocks * k; i++) {
            a1 += ranks[i] * ranks[i];
        }
        for (j = 0; j < k; j++) {
            const double centred = sums[j] - n * (kd + 1.0) / 2.0;
            spread += centred * centred;
        }
        s2 = 1.0 / (kd - 1.0) * (a1 - kd * n * ((kd + 1.0) * (kd + 1.0)) / 4.0);
        t2 = spread / s2;
        df = n * kd - kd - n + 1.0;
        a = s2 * (2.0 * n * (kd - 1.0)) / df;
        b = 1.0 - t2 / (n * (kd - 1.0));
        for (i = 0; i < k; i++) {
            for (j = i + 1; j < k; j++) {
                const double t = fabs(sums[i] - sums[j]) / sqrt(a) / sqrt(b);
                statistic[i * k + j] = statistic[j * k + i] = t;
                pvalue[i * k + j] = pvalue[j * k + i] = 2.0 * mushin_t_sf(fabs(t), df);
            }
        }
    }
    free(ranks);
    return MUSHIN_OK;
}

/* ------------------------------------------------------------ power -- */

/* P(T <= t) for t >= 0 (Lenth, AS 243): Phi(-nc) plus half a Poisson
 * mixture of incomplete beta functions, summed over the window of the
 * Poisson(nc^2 / 2) weights that holds all but e^-100 of their mass. */
static double
nct_cdf_nonnegative(double t, double df, double nc)
{
    const double lambda = 0.5 * nc * nc, t2 = t * t;
    const double x = t2 / (t2 + df), y = df / (t2 + df);
    const double spread = 15.0 * sqrt(lambda);
    const double jlo = floor(lambda - spread - 10.0 > 0.0 ? lambda - spread - 10.0 : 0.0);
    const double jhi = ceil(lambda + spread + 40.0);
    double j, sum = 0.0;
    int64_t step, steps;
    if (t2 == 0.0) {
        return normal_cdf(-nc);
    }
    if (lambda > 1e6) {
        /* |nc| > 1414: the series would need more than 1e4 terms.  The
         * normal approximation of Abramowitz and Stegun 26.7.10 is good to
         * about 1e-3 near t ~ nc, and exact in double where a power reads
         * it (|t| of a few units, where the probability is below 1e-300) */
        return normal_cdf((t * (1.0 - 1.0 / (4.0 * df)) - nc) / sqrt(1.0 + t2 / (2.0 * df)));
    }
    steps = (int64_t)(jhi - jlo);
    for (step = 0, j = jlo; step <= steps; step++, j += 1.0) {
        /* j = 0 alone when lambda underflows to 0 (|nc| < 1e-154) */
        const double log_poisson = (j == 0.0 ? 0.0 : j * log(lambda)) - lambda;
        const double p = exp(log_poisson - lgamma(j + 1.0));
        const double q = nc / SQRT2 * exp(log_poisson - lgamma(j + 1.5));
        sum += p * mushin_betainc(j + 0.5, 0.5 * df, x, y) + q * mushin_betainc(j + 1.0, 0.5 * df, x, y);
    }
    return normal_cdf(-nc) + 0.5 * sum;
}

double
mushin_nct_cdf(double t, double df, double nc)
{
    double p;
    if (isnan(t) || isnan(df) || isnan(nc) || !(df > 0.0) || isinf(nc)) {
        return NAN;
    }
    if (nc == 0.0) {
        return mushin_t_cdf(t, df);
    }
    if (isinf(t)) {
        return t > 0 ? 1.0 : 0.0;
    }
    p = t >= 0.0 ? nct_cdf_nonnegative(t, df, nc) : 1.0 - nct_cdf_nonnegative(-t, df, -nc);
    return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

double
mushin_t_test_power(double df, double nc, double alpha)
{
    double crit;
    if (!(alpha > 0.0 && alpha < 1.0) || !(df > 0.0) || isnan(nc)) {
        return NAN;
    }
    crit = mushin_t_ppf(1.0 - alpha / 2.0, df);
    return (1.0 - mushin_nct_cdf(crit, df, nc)) + mushin_nct_cdf(-crit, df, nc);
}

typedef struct {
    int kind;
    int64_t n, sims;
    double shift, sd_a, sd_b, alpha;
    uint64_t seed;
    int chunks;
    double *work;    /* per chunk: 2n doubles */
    int64_t *hits;   /* per chunk */
    int *failed;     /* per chunk: a test that ran out of memory */
} power_job;

/* A standard normal deviate by inversion of a uniform in (0, 1). */
static double
normal_deviate(mushin_rng *rng)
{
    const double u = ((double)(mushin_rng_next(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return mushin_norm_ppf(u);
}

static void
power_chunk(void *arg, int chunk)
{
    const power_job *job = (const power_job *)arg;
    const int64_t first = job->sims * chunk / job->chunks;
    const int64_t last = job->sims * (chunk + 1) / job->chunks;
    double *a = job->work + (size_t)chunk * (size_t)(2 * job->n), *b = a + job->n;
    int64_t s, i, hits = 0;
    for (s = first; s < last; s++) {
        mushin_rng rng;
        mushin_test_result r;
        int status;
        mushin_rng_init(&rng, job->seed, (uint64_t)s);
        for (i = 0; i < job->n; i++) {
            a[i] = job->shift + job->sd_a * normal_deviate(&rng);
        }
        if (job->kind == MUSHIN_TEST_WILCOXON) {
            for (i = 0; i < job->n; i++) {
                b[i] = 0.0;
            }
            status = mushin_wilcoxon_test(a, b, job->n, 0.95, &r);
        }
        else {
            for (i = 0; i < job->n; i++) {
                b[i] = job->sd_b * normal_deviate(&rng);
            }
            status = mushin_mannwhitney_test(a, job->n, b, job->n, 0.95, &r);
        }
        if (status == MUSHIN_ENOMEM) {
            job->failed[chunk] = 1;
            return;
        }
        hits += (status == MUSHIN_OK && r.pvalue < job->alpha);
    }
    job->hits[chunk] = hits;
}

int
mushin_rank_test_power(int kind, int64_t n, double shift, double sd_a, double sd_b, double alpha,
                       int64_t sims, uint64_t seed, int num_threads, double *power)
{
    power_job job;
    int64_t total = 0, chunks;
    int c, status = MUSHIN_OK;
    if ((kind != MUSHIN_TEST_WILCOXON && kind != MUSHIN_TEST_MANNWHITNEY) || n < 1 || sims < 1 ||
        num_threads < 1 || !(alpha > 0.0 && alpha < 1.0) || !isfinite(shift) ||
        !(sd_a >= 0.0) || !(sd_b >= 0.0) || isinf(sd_a) || isinf(sd_b)) {
        return MUSHIN_EINVAL;
    }
    chunks = sims / 16;
    if (chunks > num_threads) chunks = num_threads;
    if (chunks > MUSHIN_MAX_THREADS) chunks = MUSHIN_MAX_THREADS;
    if (chunks < 1) chunks = 1;
    job.kind = kind;
    job.n = n;
    job.sims = sims;
    job.shift = shift;
    job.sd_a = sd_a;
    job.sd_b = sd_b;
    job.alpha = alpha;
    job.seed = seed;
    job.chunks = (int)chunks;
    job.work = (double *)malloc((size_t)chunks * (size_t)(2 * n) * sizeof(double));
    job.hits = (int64_t *)calloc((size_t)chunks, sizeof(int64_t));
    job.failed = (int *)calloc((size_t)chunks, sizeof(int));
    if (job.work == NULL || job.hits == NULL || job.failed == NULL) {
        status = MUSHIN_ENOMEM;
        goto done;
    }
    mushin_parallel_for(job.chunks, power_chunk, &job);
    for (c = 0; c < job.chunks; c++) {
        if (job.failed[c]) {
            status = MUSHIN_ENOMEM;
            goto done;
        }
        total += job.hits[c];
    }
    *power = (double)total / (double)sims;
done:
    free(job.work);
    free(job.hits);
    free(job.failed);
    return status;
}
