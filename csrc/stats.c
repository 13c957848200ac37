/*
 * stats.c -- Student-t machinery and Welch's test, without scipy.
 *
 * The t distribution goes through the regularized incomplete beta function,
 * evaluated by its continued fraction (modified Lentz), on whichever side of
 * the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) converges fast.  Callers pass
 * both x and 1 - x so a tail probability never comes from 1 - (something
 * close to 1).
 */
#define _GNU_SOURCE /* lgamma_r */
#include "mushin_kernels.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static double
log_gamma(double x)
{
#if defined(__GLIBC__) || defined(__APPLE__)
    int sign;
    return lgamma_r(x, &sign); /* reentrant: no write to the global signgam */
#else
    return lgamma(x);
#endif
}

/*
 * log B(a, b).  For large arguments the three lgamma terms are huge and
 * nearly cancel; there the Stirling series of the difference is used, which
 * keeps the absolute error near machine epsilon.
 */
static double
stirling_correction(double x)
{
    /* lgamma(x) - [(x - 0.5) log x - x + 0.5 log(2 pi)], for x >= 10 */
    const double x2 = 1.0 / (x * x);
    return (1.0 / 12.0 -
            x2 * (1.0 / 360.0 -
                  x2 * (1.0 / 1260.0 -
                        x2 * (1.0 / 1680.0 - x2 * (1.0 / 1188.0))))) / x;
}

static double
log_beta(double a, double b)
{
    double lo = a < b ? a : b, hi = a < b ? b : a;
    if (lo >= 10.0) {
        /* both large */
        const double s = lo + hi;
        return -0.5 * log(hi) + 0.918938533204672741780329736406 /* log sqrt(2pi) */
               + stirling_correction(lo) + stirling_correction(hi) -
               stirling_correction(s) + (lo - 0.5) * log(lo / s) +
               hi * log1p(-lo / s);
    }
    if (hi >= 10.0) {
        /* lgamma(hi) - lgamma(hi + lo) without cancellation */
        const double s = lo + hi;
        const double corr = stirling_correction(hi) - stirling_correction(s);
        return log_gamma(lo) + corr + lo - lo * log(s) +
               (hi - 0.5) * log1p(-lo / s);
    }
    return log_gamma(lo) + log_gamma(hi) - log_gamma(lo + hi);
}

/* Continued fraction for I_x(a, b) / (x^a (1-x)^b / (a B(a, b))). */
static double
betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    const double eps = 1e-16;
    const int max_iter = 100000;
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap, h;
    int m;

    if (fabs(d) < tiny) {
        d = tiny;
    }
    d = 1.0 / d;
    h = d;
    for (m = 1; m <= max_iter; m++) {
        const int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        double del;
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps) {
            break;
        }
    }
    return h;
}

double
mushin_betainc(double a, double b, double x, double y)
{
    double log_front;
    if (isnan(a) || isnan(b) || isnan(x) || isnan(y) || a <= 0 || b <= 0 ||
        x < 0 || y < 0) {
        return NAN;
    }
    if (x == 0.0) return 0.0;
    if (y == 0.0) return 1.0;
    log_front = a * log(x) + b * log(y) - log_beta(a, b);
    if (x < (a + 1.0) / (a + b + 2.0)) {
        return exp(log_front) * betacf(a, b, x) / a;
    }
    return 1.0 - exp(log_front) * betacf(b, a, y) / b;
}

/* P(T > t) for t >= 0, written so small tails keep their relative accuracy. */
static double
t_upper_tail(double t, double df)
{
    double t2, x, y;
    if (isinf(df)) {
        return 0.5 * erfc(t / sqrt(2.0));
    }
    if (isinf(t)) {
        return 0.0;
    }
    t2 = t * t;
    /* x = df / (df + t^2) and y = 1 - x computed without subtraction */
    if (t2 < df) {
        const double r = t2 / df;
        x = 1.0 / (1.0 + r);
        y = r / (1.0 + r);
    }
    else {
        const double r = df / t2;
        x = r / (1.0 + r);
        y = 1.0 / (1.0 + r);
    }
    return 0.5 * mushin_betainc(0.5 * df, 0.5, x, y);
}

double
mushin_t_sf(double t, double df)
{
    if (isnan(t) || isnan(df) || df <= 0) {
        return NAN;
    }
    if (t >= 0) {
        return t_upper_tail(t, df);
    }
    return 1.0 - t_upper_tail(-t, df);
}

double
mushin_t_cdf(double t, double df)
{
    if (isnan(t) || isnan(df) || df <= 0) {
        return NAN;
    }
    if (t <= 0) {
        return t_upper_tail(-t, df);
    }
    return 1.0 - t_upper_tail(t, df);
}

static double
t_pdf(double t, double df)
{
    if (isinf(df)) {
        return exp(-0.5 * t * t) / sqrt(2.0 * M_PI);
    }
    return exp(-log_beta(0.5 * df, 0.5) - 0.5 * log(df) -
               0.5 * (df + 1.0) * log1p(t * t / df));
}

double
mushin_t_ppf(double q, double df)
{
    double lo, hi, t, target;
    int upper, i;

    if (isnan(q) || isnan(df) || df <= 0 || q < 0 || q > 1) {
        return NAN;
    }
    if (q == 0.0) return -INFINITY;
    if (q == 1.0) return INFINITY;
    if (q == 0.5) return 0.0;
    /* Solve on the upper half for the tail probability min(q, 1 - q). */
    upper = q > 0.5;
    target = upper ? 1.0 - q : q;
    lo = 0.0;
    hi = 1.0;
    while (t_upper_tail(hi, df) > target) {
        lo = hi;
        hi *= 2.0;
        if (hi > 1e300) break;
    }
    t = 0.5 * (lo + hi);
    for (i = 0; i < 400; i++) {
        const double f = t_upper_tail(t, df) - target;
        const double dens = t_pdf(t, df);
        double next;
        if (f > 0) lo = t; else hi = t;
        next = dens > 0 ? t + f / dens : 0.5 * (lo + hi);
        if (!(next > lo && next < hi)) {
            next = 0.5 * (lo + hi);
        }
        if (fabs(next - t) <= 4 * DBL_EPSILON * fabs(next) || hi - lo <= DBL_EPSILON * hi) {
            t = next;
            break;
        }
        t = next;
    }
    return upper ? t : -t;
}

void
mushin_mean_var(const double *x, int64_t n, double *mean, double *var)
{
    double s = 0.0, ss = 0.0, m;
    int64_t i;
    for (i = 0; i < n; i++) s += x[i];
    m = n > 0 ? s / (double)n : NAN;
    for (i = 0; i < n; i++) {
        const double dv = x[i] - m;
        ss += dv * dv;
    }
    *mean = m;
    *var = n > 1 ? ss / (double)(n - 1) : NAN;
}

double
mushin_cohens_d(const double *a, int64_t na, const double *b, int64_t nb)
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
    out->df = se2 * se2 /
              (sa * sa / (double)(na - 1) + sb * sb / (double)(nb - 1));
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
