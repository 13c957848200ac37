/*
 * distributions.c -- the Student-t and normal distributions, without scipy.
 *
 * The t distribution goes through the regularized incomplete beta function,
 * computed as in TOMS 708 (DiDonato & Morris 1992): its continued fraction
 * written through lambda = a - (a + b) x, on the side of the mean where it
 * converges fast, and an asymptotic expansion near the mean when a and b
 * are both large.  Callers pass both x and 1 - x so a tail probability
 * never comes from 1 - (something close to 1).  Accurate to ~1e-12 relative
 * for any a, b up to 1e300 (tests/test_core_hardening.py checks it against
 * mpmath); from df = 1e25 on the t distribution is the normal one.
 */
#define _GNU_SOURCE /* lgamma_r */
#include "mushin_kernels.h"
#include "portable_internal.h"

/* No fused multiply-add contraction: the quantiles and tails must round the
 * same on every compiler, and clang contracts a * b + c by default where
 * gcc -std=c11 does not. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

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

/* x - log(1 + x), without the cancellation that loses every digit of the
 * x^2/2 it is for small x (TOMS 708's rlog1). */
static double
rlog1(double x)
{
    if (fabs(x) < 0.01) {
        /* x^2/2 - x^3/3 + ...: the x^11 term is below 1e-22 x^2 */
        double term = x * x, sum = 0.0;
        int k;
        for (k = 2; k <= 10; k++) {
            sum += (k % 2 == 0 ? term : -term) / k;
            term *= x;
        }
        return sum;
    }
    return x - log1p(x);
}

/* bcorr(a, b) = del(a) + del(b) - del(a + b), del being the Stirling
 * remainder, so that B(a, b) = sqrt(2 pi) a^(a-1/2) b^(b-1/2)
 * (a+b)^(1/2-a-b) exp(bcorr) without forming the huge powers. */
static double
bcorr(double a, double b)
{
    return stirling_correction(a) + stirling_correction(b) - stirling_correction(a + b);
}

/*
 * lambda = a - (a + b) x = (a + b) y - b, the distance of x below the mean
 * a / (a + b) in units of 1 / (a + b).  For large a and b the result
 * depends on lambda^2 / (a b / (a + b)) and lambda is a difference of two
 * numbers of size a: rounding (a + b) x alone would put an error of
 * eps * a into it, i.e. a relative error of eps * sqrt(a) into I_x(a, b)
 * (1e-6 at a = 1e20).  So the products and sums are carried exactly
 * (two-sum, fma), from whichever of x, y is the smaller, since only the
 * smaller of the two given values is exact.
 */
static double
lambda_from(double a, double b, double x) /* a - (a + b) x */
{
    const double s = a + b, bv = s - a, s_err = (a - (s - bv)) + (b - bv);
    const double p = s * x, p_err = fma(s, x, -p);
    const double d = a - p, dv = d - a, d_err = (a - (d - dv)) + (-p - dv);
    return d + ((d_err - p_err) - s_err * x);
}

static double
lambda_of(double a, double b, double x, double y)
{
    return x <= y ? lambda_from(a, b, x) : -lambda_from(b, a, y);
}

/* x^a y^b / B(a, b) for a, b >= 8 (TOMS 708's brcomp): the powers relative
 * to the mode, through rlog1, and B through bcorr, so nothing huge is
 * formed and nothing cancels. */
static double
front_large(double a, double b, double x, double y, double lambda)
{
    double x0, y0, e, u, v, h;
    if (a <= b) {
        h = a / b;
        x0 = h / (h + 1.0);
        y0 = 1.0 / (h + 1.0);
    }
    else {
        h = b / a;
        x0 = 1.0 / (h + 1.0);
        y0 = h / (h + 1.0);
    }
    e = -lambda / a;
    u = fabs(e) > 0.6 ? e - log(x / x0) : rlog1(e);
    e = lambda / b;
    v = fabs(e) > 0.6 ? e - log(y / y0) : rlog1(e);
    return 0.398942280401432677939946059934 /* 1/sqrt(2 pi) */ * sqrt(b * x0) *
           exp(-(a * u + b * v) - bcorr(a, b));
}

/* exp(z^2) erfc(z) for z >= 0 (TOMS 708's erfc1(1, .)). */
static double
erfcx(double z)
{
    if (z < 26.0) {
        return exp(z * z) * erfc(z);
    }
    {
        /* asymptotic series; at z >= 26 the fifth term is below 1e-14 */
        const double w = 1.0 / (2.0 * z * z);
        return (1.0 - w * (1.0 - 3.0 * w * (1.0 - 5.0 * w * (1.0 - 7.0 * w)))) /
               (z * 1.772453850905516027298167483341 /* sqrt(pi) */);
    }
}

/*
 * I_x(a, b) for large a and b near the mean: the asymptotic expansion of
 * TOMS 708 (DiDonato & Morris 1992, basym), with lambda = a - (a + b) x
 * >= 0, a, b >= 15.  Used where the continued fraction would need of
 * order sqrt(a + b) terms (10^10 at a = b = 10^20).
 */
static double
basym(double a, double b, double lambda)
{
    enum { NUM = 20 };
    const double e0 = 1.12837916709551257389615890312; /* 2/sqrt(pi) */
    const double e1 = 0.353553390593273762200422181052; /* 2^(-3/2) */
    const double eps = 100.0 * DBL_EPSILON;
    double a0[NUM + 1], b0[NUM + 1], c[NUM + 1], d[NUM + 1];
    const double f = a * rlog1(-lambda / a) + b * rlog1(lambda / b);
    const double t = exp(-f);
    double z0, z, z2, h, r0, r1, w0, j0, j1, sum, s, h2, hn, w, znm1, zn;
    int n;
    if (t == 0.0) {
        return 0.0;
    }
    z0 = sqrt(f);
    z = z0 / e1 * 0.5;
    z2 = f + f;
    if (a < b) {
        h = a / b;
        r0 = 1.0 / (h + 1.0);
        r1 = (b - a) / b;
        w0 = 1.0 / sqrt(a * (h + 1.0));
    }
    else {
        h = b / a;
        r0 = 1.0 / (h + 1.0);
        r1 = (b - a) / a;
        w0 = 1.0 / sqrt(b * (h + 1.0));
    }
    a0[0] = r1 * 0.66666666666666663;
    c[0] = a0[0] * -0.5;
    d[0] = -c[0];
    j0 = 0.5 / e0 * erfcx(z0);
    j1 = e1;
    sum = j0 + d[0] * w0 * j1;
    s = 1.0;
    h2 = h * h;
    hn = 1.0;
    w = w0;
    znm1 = z;
    zn = z2;
    for (n = 2; n <= NUM; n += 2) {
        const int np1 = n + 1;
        double t0, t1;
        int i, m, j;
        hn *= h2;
        a0[n - 1] = r0 * 2.0 * (h * hn + 1.0) / (n + 2.0);
        s += hn;
        a0[np1 - 1] = r1 * 2.0 * s / (n + 3.0);
        for (i = n; i <= np1; i++) {
            const double r = (i + 1.0) * -0.5;
            double dsum = 0.0;
            b0[0] = r * a0[0];
            for (m = 2; m <= i; m++) {
                double bsum = 0.0;
                for (j = 1; j <= m - 1; j++) {
                    const int mmj = m - j;
                    bsum += (j * r - mmj) * a0[j - 1] * b0[mmj - 1];
                }
                b0[m - 1] = r * a0[m - 1] + bsum / m;
            }
            c[i - 1] = b0[i - 1] / (i + 1.0);
            for (j = 1; j <= i - 1; j++) {
                dsum += d[i - j - 1] * c[j - 1];
            }
            d[i - 1] = -(dsum + c[i - 1]);
        }
        j0 = e1 * znm1 + (n - 1.0) * j0;
        j1 = e1 * zn + n * j1;
        znm1 = z2 * znm1;
        zn = z2 * zn;
        w *= w0;
        t0 = d[n - 1] * w * j0;
        w *= w0;
        t1 = d[np1 - 1] * w * j1;
        sum += t0 + t1;
        if (fabs(t0) + fabs(t1) <= eps * sum) {
            break;
        }
    }
    return e0 * t * exp(-bcorr(a, b)) * sum;
}

/*
 * I_x(a, b) = front * (continued fraction), for lambda = a - (a + b) x >= 0
 * (x at or below the mean), front = x^a y^b / B(a, b): TOMS 708's bfrac.
 * Its terms are written through lambda and y rather than 1 - (a + b) x / a
 * so that nothing cancels when x is close to 1 -- the Student-t case,
 * x = df / (df + t^2) with a large df, where the textbook (Numerical
 * Recipes) form loses a relative 1e-16 * df of accuracy.
 */
static double
bfrac(double a, double b, double x, double y, double lambda, double front)
{
    const double eps = 1e-15;
    const double c = 1.0 + lambda, c0 = b / a, c1 = 1.0 / a + 1.0, yp1 = y + 1.0;
    double n = 0.0, p = 1.0, s = a + 1.0, an = 0.0, bn = 1.0, anp1 = 1.0;
    double bnp1 = c / c1, r = c1 / c;
    if (front == 0.0) {
        return 0.0;
    }
    do {
        double t, w, e, alpha, beta, r0;
        n += 1.0;
        t = n / a;
        w = n * (b - n) * x;
        e = a / s;
        alpha = p * (p + c0) * e * e * (w * x);
        e = (t + 1.0) / (c1 + t + t);
        beta = n + w / s + e * (c + n * yp1);
        p = t + 1.0;
        s += 2.0;
        t = alpha * an + beta * anp1;
        an = anp1;
        anp1 = t;
        t = alpha * bn + beta * bnp1;
        bn = bnp1;
        bnp1 = t;
        r0 = r;
        r = anp1 / bnp1;
        if (fabs(r - r0) <= eps * r) {
            break;
        }
        an /= bnp1;
        bn /= bnp1;
        anp1 = r;
        bnp1 = 1.0;
    } while (n < 100000.0);
    return front * r;
}

double
mushin_betainc(double a, double b, double x, double y)
{
    double front, lambda = 0.0;
    if (isnan(a) || isnan(b) || isnan(x) || isnan(y) || a <= 0 || b <= 0 ||
        x < 0 || y < 0) {
        return NAN;
    }
    if (x == 0.0) return 0.0;
    if (y == 0.0) return 1.0;
    if (isinf(a) || isinf(b)) {
        /* the distribution collapses onto 1 (a = inf) or 0 (b = inf) */
        if (isinf(a) && isinf(b)) return NAN;
        return isinf(a) ? 0.0 : 1.0;
    }
    lambda = lambda_of(a, b, x, y);
    if (a >= 8.0 && b >= 8.0) {
        /* TOMS 708's rule: the expansion near the mean, the continued
         * fraction (which converges fast there) elsewhere */
        if (a > 100.0 && b > 100.0 && fabs(lambda) <= 0.03 * (a < b ? a : b)) {
            return lambda >= 0.0 ? basym(a, b, lambda) : 1.0 - basym(b, a, -lambda);
        }
        front = front_large(a, b, x, y, lambda);
    }
    else {
        /* log of the smaller of x, y directly, of the other through log1p:
         * the caller's 1 - (small) may have been rounded */
        const double log_x = x <= y ? log(x) : log1p(-y);
        const double log_y = y <= x ? log(y) : log1p(-x);
        front = exp(a * log_x + b * log_y - log_beta(a, b));
    }
    if (lambda >= 0.0) {
        return bfrac(a, b, x, y, lambda, front);
    }
    return 1.0 - bfrac(b, a, y, x, -lambda, front);
}

/*
 * From this df on, the Student-t is the normal distribution to the last
 * bit.  The tails differ by a relative (t^4 + t^2) / (4 df) + O(df^-2)
 * (the first Edgeworth term of F(t) - Phi(t) = -phi(t) (t^3 + t) / (4 df),
 * divided by the tail phi(t) / t); a tail is representable in double only
 * for t < 38.5, where that is at most 5.5e5 / df: below 6e-20 at 1e25,
 * three orders under half an ulp.  Below this df the beta route is used,
 * which stays accurate there (see mushin_betainc).
 */
#define T_NORMAL_DF 1e25

/* P(T > t) for t >= 0, written so small tails keep their relative accuracy. */
static double
t_upper_tail(double t, double df)
{
    double t2, x, y;
    if (df >= T_NORMAL_DF) {
        return 0.5 * erfc(t / sqrt(2.0));
    }
    if (isinf(t)) {
        return 0.0;
    }
    if (0.5 * df == 0.0) {
        /* df below twice the smallest subnormal: a = df / 2 underflows.  As
         * df -> 0 the mass leaves for +-inf and the tail of every finite t
         * tends to 1/2 (x^a -> 1 and a B(a, 1/2) -> 1); in double it is 1/2. */
        return 0.5;
    }
    t2 = t * t;
    /* x = df / (df + t^2) and y = 1 - x computed without subtraction */
    if (t2 < df) {
        const double r = t2 / df;
        x = 1.0 / (1.0 + r);
        y = r / (1.0 + r);
    }
    else {
        /* (df / t) / t: t * t overflows for |t| > 1.3e154, where small df
         * still has tails far above the smallest double */
        const double r = (df / t) / t;
        if (r < 1e-20) {
            /* I_x(a, 1/2) = x^a / (a B(a, 1/2)) (1 + O(x)); in logs, since
             * x^a (or x itself) underflows long before the tail does */
            const double a = 0.5 * df;
            const double log_x = log(df) - 2.0 * log(t) - log1p(r);
            return 0.5 * exp(a * log_x - 0.5 * log1p(r) - log_beta(a, 0.5) - log(a));
        }
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
    if (df >= T_NORMAL_DF) {
        return exp(-0.5 * t * t) / sqrt(2.0 * MUSHIN_PI);
    }
    {
        /* log(1 + z^2) without overflowing z^2 in the far tail */
        const double z = fabs(t) / sqrt(df);
        const double log_q = z > 1e100 ? 2.0 * log(z) : log1p(z * z);
        return exp(-log_beta(0.5 * df, 0.5) - 0.5 * log(df) - 0.5 * (df + 1.0) * log_q);
    }
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
    if (df >= T_NORMAL_DF) {
        return mushin_norm_ppf(q);
    }
    /* Solve on the upper half for the tail probability min(q, 1 - q). */
    upper = q > 0.5;
    target = upper ? 1.0 - q : q;
    lo = 0.0;
    hi = 1.0;
    while (t_upper_tail(hi, df) > target) {
        lo = hi;
        if (hi > 0.5 * DBL_MAX) {
            /* the quantile lies beyond the largest double (df < 2 only) */
            return upper ? INFINITY : -INFINITY;
        }
        hi *= 2.0;
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

/* ------------------------------------------------------ normal distribution -- */

/* Phi(a), as scipy.special.ndtr computes it: erf near the centre, erfc in
 * the tails so that tail probabilities keep their relative accuracy. */
static double
normal_cdf(double a)
{
    const double x = a * MUSHIN_SQRT1_2;
    const double z = fabs(x);
    double y;
    if (isnan(a)) {
        return NAN;
    }
    if (z < MUSHIN_SQRT1_2) {
        return 0.5 + 0.5 * erf(x);
    }
    y = 0.5 * erfc(z);
    return x > 0 ? 1.0 - y : y;
}

double
mushin_norm_sf(double z)
{
    return normal_cdf(-z);
}

double
mushin_norm_ppf(double q)
{
    /* Acklam's rational approximation (relative error 1.2e-9), then two
     * Newton steps on the tail probability, which bring it to a few ulp. */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    double p, x, r;
    int upper, i;
    if (isnan(q) || q < 0.0 || q > 1.0) return NAN;
    if (q == 0.0) return -INFINITY;
    if (q == 1.0) return INFINITY;
    /* work on the lower tail p = min(q, 1 - q), then mirror */
    upper = q > 0.5;
    p = upper ? 1.0 - q : q;
    if (p < 0.02425) {
        r = sqrt(-2.0 * log(p));
        x = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) /
            ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1.0);
    }
    else {
        const double u = p - 0.5;
        r = u * u;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * u /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    for (i = 0; i < 2; i++) {
        /* Newton on Phi(x) = p with Phi from erfc: x <= 0 here */
        const double err = normal_cdf(x) - p;
        const double dens = exp(-0.5 * x * x) / sqrt(2.0 * MUSHIN_PI);
        if (dens > 0.0) {
            x -= err / dens;
        }
    }
    return upper ? -x : x;
}
