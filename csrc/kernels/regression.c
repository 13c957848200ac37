/*
 * regression.c -- exact regression moments and Spearman's pairs; see
 * regression.h for the semantics.
 */
#include "regression.h"
#include "portable_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DIGIT_MASK 0xffffffffu
/* carries are propagated at least this often, far below the 2^31 terms an
 * int64 limb could take (each term adds less than 2^32 to a limb) */
#define TERMS_PER_NORMALIZE ((int64_t)1 << 24)
#define MAX_COUNT ((int64_t)1 << 62)

/* ------------------------------------------------------------ xsum ---- */

/* x = *mant * 2^(*shift - 1074) exactly, *mant < 2^53, *shift >= 0. */
static void
split_double(double x, uint64_t *mant, int *shift, int *neg)
{
    uint64_t bits;
    int e;
    memcpy(&bits, &x, sizeof bits);
    *neg = (int)(bits >> 63);
    e = (int)((bits >> 52) & 0x7ff);
    *mant = bits & (((uint64_t)1 << 52) - 1);
    if (e != 0) {
        *mant |= (uint64_t)1 << 52;
    }
    *shift = e == 0 ? 0 : e - 1;
}

/* s += (neg ? -1 : 1) * mag * 2^bit (bit >= 0, mag < 2^106); the limbs stay
 * unnormalised */
static void
xsum_add_term(mushin_xsum *s, int neg, mushin_u128 mag, int bit)
{
    const int w = bit >> 5, sh = bit & 31;
    const uint64_t lo = mag.lo, hi = mag.hi;
    const uint64_t w0 = lo << sh;
    const uint64_t w1 = (hi << sh) | (sh ? lo >> (64 - sh) : 0);
    const uint64_t w2 = sh ? hi >> (64 - sh) : 0;
    const int64_t d[5] = {(int64_t)(w0 & DIGIT_MASK), (int64_t)(w0 >> 32),
                          (int64_t)(w1 & DIGIT_MASK), (int64_t)(w1 >> 32),
                          (int64_t)(w2 & DIGIT_MASK)};
    int j;
    if (neg) {
        for (j = 0; j < 5; j++) {
            s->limb[w + j] -= d[j];
        }
    }
    else {
        for (j = 0; j < 5; j++) {
            s->limb[w + j] += d[j];
        }
    }
}

static void
xsum_add_value(mushin_xsum *s, double x, int negate)
{
    uint64_t m;
    int shift, neg;
    split_double(x, &m, &shift, &neg);
    if (m) {
        xsum_add_term(s, neg ^ negate, mushin_u128_from_u64(m), shift);
    }
}

static void
xsum_add_product(mushin_xsum *s, double x, double y)
{
    uint64_t mx, my;
    int sx, sy, nx, ny;
    split_double(x, &mx, &sx, &nx);
    split_double(y, &my, &sy, &ny);
    if (mx && my) {
        xsum_add_term(s, nx ^ ny, mushin_mul_wide_u64(mx, my), sx + sy);
    }
}

/* Canonical form: every limb but the top in [0, 2^32).  The arithmetic
 * shift floors, so negative limbs borrow from the next one. */
static void
xsum_normalize(mushin_xsum *s)
{
    int i;
    for (i = 0; i < MUSHIN_XSUM_LIMBS - 1; i++) {
        const int64_t carry = s->limb[i] >> 32;
        s->limb[i] -= carry * ((int64_t)1 << 32);
        s->limb[i + 1] += carry;
    }
}

static void
xsum_add_xsum(mushin_xsum *dst, const mushin_xsum *src, int negate)
{
    int i;
    for (i = 0; i < MUSHIN_XSUM_LIMBS; i++) {
        dst->limb[i] += negate ? -src->limb[i] : src->limb[i];
    }
    xsum_normalize(dst);
}

static int
xsum_sign(const mushin_xsum *s)
{
    int i;
    if (s->limb[MUSHIN_XSUM_LIMBS - 1] != 0) {
        return s->limb[MUSHIN_XSUM_LIMBS - 1] < 0 ? -1 : 1;
    }
    for (i = MUSHIN_XSUM_LIMBS - 2; i >= 0; i--) {
        if (s->limb[i] != 0) {
            return 1;
        }
    }
    return 0;
}

static int
xsum_is_canonical(const mushin_xsum *s)
{
    int i;
    for (i = 0; i < MUSHIN_XSUM_LIMBS - 1; i++) {
        if (s->limb[i] < 0 || s->limb[i] > (int64_t)DIGIT_MASK) {
            return 0;
        }
    }
    /* the top limb never needs more than a few bits (see regression.h) */
    return s->limb[MUSHIN_XSUM_LIMBS - 1] >= -((int64_t)1 << 40)
           && s->limb[MUSHIN_XSUM_LIMBS - 1] <= ((int64_t)1 << 40);
}

/*
 * Big integers for compute(): magnitudes in base 2^32, least significant
 * first, with a separate sign.  Products of two sums need twice the limbs.
 */
#define BIG_LIMBS (2 * MUSHIN_XSUM_LIMBS + 2)

typedef struct {
    int neg;
    uint32_t d[BIG_LIMBS];
} big;

static void
big_from_xsum(big *b, const mushin_xsum *s)
{
    int64_t carry = 0;
    int i;
    memset(b, 0, sizeof *b);
    b->neg = xsum_sign(s) < 0;
    /* the magnitude: negate digit by digit with borrow when negative */
    for (i = 0; i < MUSHIN_XSUM_LIMBS; i++) {
        int64_t v = (b->neg ? -s->limb[i] : s->limb[i]) + carry;
        if (i < MUSHIN_XSUM_LIMBS - 1) {
            carry = v >> 32;
            b->d[i] = (uint32_t)(v - carry * ((int64_t)1 << 32));
        }
        else {
            /* v >= 0 here; the top limb may exceed one digit */
            b->d[i] = (uint32_t)(v & DIGIT_MASK);
            b->d[i + 1] = (uint32_t)((uint64_t)v >> 32);
        }
    }
}

static int
big_cmp_mag(const big *a, const big *b)
{
    int i;
    for (i = BIG_LIMBS - 1; i >= 0; i--) {
        if (a->d[i] != b->d[i]) {
            return a->d[i] < b->d[i] ? -1 : 1;
        }
    }
    return 0;
}

static int
big_is_zero(const big *a)
{
    int i;
    for (i = 0; i < BIG_LIMBS; i++) {
        if (a->d[i]) {
            return 0;
        }
    }
    return 1;
}

/* r = a - b (signed); r may alias neither */
static void
big_sub(big *r, const big *a, const big *b)
{
    const big *x = a, *y = b;
    int i, flip = 0;
    int64_t borrow = 0;
    memset(r, 0, sizeof *r);
    if (a->neg != b->neg) {
        /* a - b = sign(a) * (|a| + |b|) */
        uint64_t carry = 0;
        for (i = 0; i < BIG_LIMBS; i++) {
            uint64_t v = (uint64_t)a->d[i] + b->d[i] + carry;
            r->d[i] = (uint32_t)v;
            carry = v >> 32;
        }
        r->neg = a->neg;
        return;
    }
    if (big_cmp_mag(a, b) < 0) {
        x = b;
        y = a;
        flip = 1;
    }
    for (i = 0; i < BIG_LIMBS; i++) {
        int64_t v = (int64_t)x->d[i] - y->d[i] - borrow;
        borrow = v < 0;
        r->d[i] = (uint32_t)(v + (borrow ? ((int64_t)1 << 32) : 0));
    }
    r->neg = a->neg ^ flip;
    if (big_is_zero(r)) {
        r->neg = 0;
    }
}

/* r = a * b; the operands come from sums, so their top halves are zero */
static void
big_mul(big *r, const big *a, const big *b)
{
    int i, j;
    memset(r, 0, sizeof *r);
    for (i = 0; i < BIG_LIMBS / 2; i++) {
        uint64_t carry = 0;
        if (!a->d[i]) {
            continue;
        }
        for (j = 0; j < BIG_LIMBS / 2; j++) {
            uint64_t v = (uint64_t)a->d[i] * b->d[j] + r->d[i + j] + carry;
            r->d[i + j] = (uint32_t)v;
            carry = v >> 32;
        }
        for (j = i + BIG_LIMBS / 2; carry && j < BIG_LIMBS; j++) {
            uint64_t v = (uint64_t)r->d[j] + carry;
            r->d[j] = (uint32_t)v;
            carry = v >> 32;
        }
    }
    r->neg = a->neg ^ b->neg;
    if (big_is_zero(r)) {
        r->neg = 0;
    }
}

static void
big_mul_small(big *r, const big *a, uint64_t k)
{
    big kb;
    memset(&kb, 0, sizeof kb);
    kb.d[0] = (uint32_t)k;
    kb.d[1] = (uint32_t)(k >> 32);
    big_mul(r, a, &kb);
}

/* |a| = *mant * 2^*exp with *mant in [2^63, 2^64) correctly rounded to the
 * nearest double when converted; 0 gives *mant = 0.  The bits below the top
 * 64 fold into the lowest one ("round to odd"), so the one rounding of the
 * uint64 to double rounds the whole number correctly. */
static void
big_top64(const big *a, uint64_t *mant, int *exp)
{
    int top = BIG_LIMBS - 1, lead, bitpos, i;
    uint64_t head = 0, sticky = 0;
    while (top >= 0 && a->d[top] == 0) {
        top--;
    }
    if (top < 0) {
        *mant = 0;
        *exp = 0;
        return;
    }
    lead = 31;
    while (!((a->d[top] >> lead) & 1u)) {
        lead--;
    }
    bitpos = top * 32 + lead; /* index of the leading one */
    for (i = 0; i < 64; i++) {
        const int b = bitpos - i;
        head <<= 1;
        if (b >= 0) {
            head |= (a->d[b >> 5] >> (b & 31)) & 1u;
        }
    }
    for (i = 0; i < bitpos - 63; i++) {
        if ((a->d[i >> 5] >> (i & 31)) & 1u) {
            sticky = 1;
            break;
        }
    }
    *mant = head | sticky;
    *exp = bitpos - 63;
}

/* a * 2^unit_exp as a double mantissa and binary exponent, so that ratios
 * of huge or tiny sums never overflow: |a| 2^unit_exp = f * 2^e, f in
 * [0.5, 1] (or 0).  f is rounded once, correctly. */
static double
big_frexp(const big *a, int unit_exp, int *e)
{
    uint64_t mant;
    int exp, fe;
    double f;
    big_top64(a, &mant, &exp);
    if (!mant) {
        *e = 0;
        return 0.0;
    }
    f = frexp((double)mant, &fe); /* (double)mant may round up to 2^64: fine */
    *e = fe + exp + unit_exp;
    return a->neg ? -f : f;
}

double
mushin_xsum_to_double(const mushin_xsum *s, int unit_exp)
{
    big b;
    int e;
    double f;
    big_from_xsum(&b, s);
    f = big_frexp(&b, unit_exp, &e);
    return ldexp(f, e);
}

/* ----------------------------------------------------------- moments -- */

void
mushin_regression_init(mushin_regression_moments *m)
{
    memset(m, 0, sizeof *m);
    m->min_p = m->min_t = INFINITY;
    m->max_p = m->max_t = -INFINITY;
}

static double
load_value(mushin_vec_view v, int64_t i)
{
    const char *p = v.data + i * v.stride;
    if (v.type == MUSHIN_FLOAT32) {
        float f;
        memcpy(&f, p, sizeof f);
        return (double)f;
    }
    else {
        double d;
        memcpy(&d, p, sizeof d);
        return d;
    }
}

static int
view_ok(mushin_vec_view v, int64_t n)
{
    return (v.type == MUSHIN_FLOAT32 || v.type == MUSHIN_FLOAT64)
           && (v.data != NULL || n == 0);
}

/* Fills `bad` (preds first, then target) and returns MUSHIN_EBADVALUE if a
 * value is NaN or infinite -- as a double, or with as_float32 once rounded
 * to float32 (a finite double beyond float32's range). */
static int
check_finite(int64_t n, mushin_vec_view preds, mushin_vec_view target, int as_float32,
             mushin_regression_bad *bad)
{
    int which;
    memset(bad, 0, sizeof *bad);
    bad->first_pos = -1;
    for (which = 0; which < 2; which++) {
        const mushin_vec_view v = which ? target : preds;
        int64_t i;
        for (i = 0; i < n; i++) {
            const double x = load_value(v, i);
            if (as_float32 ? !isfinite((float)x) : !isfinite(x)) {
                if (bad->count++ == 0) {
                    bad->first_pos = i;
                    bad->first = x;
                    bad->which = which;
                }
            }
        }
        if (bad->count) {
            return MUSHIN_EBADVALUE;
        }
    }
    return MUSHIN_OK;
}

/* MUSHIN_EINVAL for a negative n or a view of another type (or without
 * data); else as check_finite on the values as doubles. */
static int
check_inputs(int64_t n, mushin_vec_view preds, mushin_vec_view target,
             mushin_regression_bad *bad)
{
    if (n < 0 || !view_ok(preds, n) || !view_ok(target, n)) {
        return MUSHIN_EINVAL;
    }
    return check_finite(n, preds, target, 0, bad);
}

int
mushin_regression_update(mushin_regression_moments *m, int64_t n,
                         mushin_vec_view preds, mushin_vec_view target,
                         mushin_regression_bad *bad)
{
    int64_t i;
    int status;
    status = check_inputs(n, preds, target, bad);
    if (status != MUSHIN_OK) {
        return status;
    }
    if (n > MAX_COUNT - m->n) {
        return MUSHIN_EOVERFLOW;
    }
    /* everything is checked, nothing below can fail: update in place */
    for (i = 0; i < n; i++) {
        const double p = load_value(preds, i), t = load_value(target, i);
        xsum_add_value(&m->sum_p, p, 0);
        xsum_add_value(&m->sum_t, t, 0);
        /* |p - t| = p - t or t - p, each added exactly as two terms */
        if (p >= t) {
            xsum_add_value(&m->sum_abs, p, 0);
            xsum_add_value(&m->sum_abs, t, 1);
        }
        else {
            xsum_add_value(&m->sum_abs, t, 0);
            xsum_add_value(&m->sum_abs, p, 1);
        }
        xsum_add_product(&m->sum_pp, p, p);
        xsum_add_product(&m->sum_tt, t, t);
        xsum_add_product(&m->sum_pt, p, t);
        if (p < m->min_p) m->min_p = p;
        if (p > m->max_p) m->max_p = p;
        if (t < m->min_t) m->min_t = t;
        if (t > m->max_t) m->max_t = t;
        /* sum_abs takes two terms per element: normalise well before any
         * limb could overflow */
        if (((i + 1) & (TERMS_PER_NORMALIZE - 1)) == 0) {
            xsum_normalize(&m->sum_p);
            xsum_normalize(&m->sum_t);
            xsum_normalize(&m->sum_abs);
            xsum_normalize(&m->sum_pp);
            xsum_normalize(&m->sum_tt);
            xsum_normalize(&m->sum_pt);
        }
    }
    xsum_normalize(&m->sum_p);
    xsum_normalize(&m->sum_t);
    xsum_normalize(&m->sum_abs);
    xsum_normalize(&m->sum_pp);
    xsum_normalize(&m->sum_tt);
    xsum_normalize(&m->sum_pt);
    m->n += n;
    return MUSHIN_OK;
}

int
mushin_regression_merge(mushin_regression_moments *dst,
                        const mushin_regression_moments *src)
{
    if (src->n > MAX_COUNT - dst->n) {
        return MUSHIN_EOVERFLOW;
    }
    dst->n += src->n;
    xsum_add_xsum(&dst->sum_p, &src->sum_p, 0);
    xsum_add_xsum(&dst->sum_t, &src->sum_t, 0);
    xsum_add_xsum(&dst->sum_abs, &src->sum_abs, 0);
    xsum_add_xsum(&dst->sum_pp, &src->sum_pp, 0);
    xsum_add_xsum(&dst->sum_tt, &src->sum_tt, 0);
    xsum_add_xsum(&dst->sum_pt, &src->sum_pt, 0);
    dst->min_p = fmin(dst->min_p, src->min_p);
    dst->max_p = fmax(dst->max_p, src->max_p);
    dst->min_t = fmin(dst->min_t, src->min_t);
    dst->max_t = fmax(dst->max_t, src->max_t);
    return MUSHIN_OK;
}

int
mushin_regression_check_state(const mushin_regression_moments *m,
                              const char **what)
{
    const mushin_xsum *sums[6] = {&m->sum_p, &m->sum_t, &m->sum_abs,
                                  &m->sum_pp, &m->sum_tt, &m->sum_pt};
    static const char *names[6] = {"sum_p", "sum_t", "sum_abs",
                                   "sum_pp", "sum_tt", "sum_pt"};
    int i;
    if (m->n < 0 || m->n > MAX_COUNT) {
        *what = "n";
        return MUSHIN_EINVAL;
    }
    for (i = 0; i < 6; i++) {
        if (!xsum_is_canonical(sums[i])) {
            *what = names[i];
            return MUSHIN_EINVAL;
        }
        if (m->n == 0 && xsum_sign(sums[i]) != 0) {
            *what = names[i];
            return MUSHIN_EINVAL;
        }
        if ((i == 2 || i == 3 || i == 4) && xsum_sign(sums[i]) < 0) {
            *what = names[i];
            return MUSHIN_EINVAL;
        }
    }
    if (m->n == 0) {
        if (!(m->min_p == INFINITY && m->min_t == INFINITY
              && m->max_p == -INFINITY && m->max_t == -INFINITY)) {
            *what = "extremes";
            return MUSHIN_EINVAL;
        }
    }
    else if (!(isfinite(m->min_p) && isfinite(m->max_p) && isfinite(m->min_t)
               && isfinite(m->max_t) && m->min_p <= m->max_p
               && m->min_t <= m->max_t)) {
        *what = "extremes";
        return MUSHIN_EINVAL;
    }
    return MUSHIN_OK;
}

/* n * S(xy) - S(x) S(y), exactly, in units 2^-2148 */
static void
centered_product(big *r, int64_t n, const mushin_xsum *sxy,
                 const mushin_xsum *sx, const mushin_xsum *sy)
{
    big a, b, c, d;
    big_from_xsum(&a, sxy);
    big_mul_small(&c, &a, (uint64_t)n);
    big_from_xsum(&a, sx);
    big_from_xsum(&b, sy);
    big_mul(&d, &a, &b);
    big_sub(r, &c, &d);
}

static double
normalized_variance(double f, int e, double n, double dev)
{
    int ed;
    const double fd = frexp(dev, &ed);
    if (fd == 0.0) {
        return NAN; /* 0 / 0 in PearsonCorrCoef */
    }
    return ldexp(f / (n * (n - 1.0)) / (fd * fd), e - 2 * ed);
}

void
mushin_regression_compute(const mushin_regression_moments *m,
                          mushin_regression_metrics *out)
{
    const double n = (double)m->n;
    big pp, tt, pt, rss, tmp, nss_p, nss_t, nsp;
    double rss_f, tss_f, f_rss, f_tss, f_p, f_t, f_pt;
    int e_rss, e_tss, e_p, e_t, e_pt;

    out->mse = out->mae = out->rmse = out->r2 = out->pearson = NAN;
    if (m->n == 0) {
        return;
    }
    /* rss = S(pp) - 2 S(pt) + S(tt) */
    big_from_xsum(&pp, &m->sum_pp);
    big_from_xsum(&tt, &m->sum_tt);
    big_from_xsum(&pt, &m->sum_pt);
    big_mul_small(&tmp, &pt, 2);
    big_sub(&rss, &pp, &tmp);
    tmp = rss;
    tt.neg = !tt.neg;
    big_sub(&rss, &tmp, &tt);
    tt.neg = !tt.neg;

    f_rss = big_frexp(&rss, MUSHIN_XSUM_UNIT_PRODUCT, &e_rss);
    rss_f = ldexp(f_rss, e_rss);
    /* dividing the exact value (not a rounded overflowing one) keeps mse
     * finite whenever it is representable */
    out->mse = ldexp(f_rss / n, e_rss);
    out->rmse = sqrt(out->mse);
    {
        big a;
        int e;
        double f;
        big_from_xsum(&a, &m->sum_abs);
        f = big_frexp(&a, MUSHIN_XSUM_UNIT_VALUE, &e);
        out->mae = ldexp(f / n, e);
    }
    if (m->n < 2) {
        return;
    }

    centered_product(&nss_t, m->n, &m->sum_tt, &m->sum_t, &m->sum_t);
    centered_product(&nss_p, m->n, &m->sum_pp, &m->sum_p, &m->sum_p);
    centered_product(&nsp, m->n, &m->sum_pt, &m->sum_p, &m->sum_t);
    /* tss = (n S(tt) - S(t)^2) / n */
    f_tss = big_frexp(&nss_t, MUSHIN_XSUM_UNIT_PRODUCT, &e_tss);
    tss_f = ldexp(f_tss / n, e_tss);
    if (fabs(rss_f) <= 1e-4) {
        out->r2 = 1.0;
    }
    else if (fabs(tss_f) <= 1e-4) {
        out->r2 = 0.0;
    }
    else {
        /* rss / tss = n rss / (n tss), both exact before this one division */
        out->r2 = 1.0 - ldexp(f_rss * n / f_tss, e_rss - e_tss);
    }

    /* Pearson: NaN when a normalised variance is below float32's bound */
    {
        const double bound = sqrt((double)FLT_EPSILON);
        const double mean_p = mushin_xsum_to_double(&m->sum_p, MUSHIN_XSUM_UNIT_VALUE) / n;
        const double mean_t = mushin_xsum_to_double(&m->sum_t, MUSHIN_XSUM_UNIT_VALUE) / n;
        const double dev_p = fmax(m->max_p - mean_p, mean_p - m->min_p);
        const double dev_t = fmax(m->max_t - mean_t, mean_t - m->min_t);
        double var_p, var_t, r;
        f_p = big_frexp(&nss_p, MUSHIN_XSUM_UNIT_PRODUCT, &e_p);
        f_t = big_frexp(&nss_t, MUSHIN_XSUM_UNIT_PRODUCT, &e_t);
        f_pt = big_frexp(&nsp, MUSHIN_XSUM_UNIT_PRODUCT, &e_pt);
        /* var = (n S - S^2) / (n (n - 1)) / dev^2, formed from mantissas
         * and exponents: the ratio is scale-free, dev^2 alone may not be
         * representable */
        var_p = normalized_variance(f_p, e_p, n, dev_p);
        var_t = normalized_variance(f_t, e_t, n, dev_t);
        if (!(var_p >= bound) || !(var_t >= bound) || !isfinite(var_p)
            || !isfinite(var_t)) {
            return;
        }
        /* torchmetrics divides its float32 variance state by n - 1 in
         * float32: a variance of at most half float32's smallest subnormal
         * (2^-150) rounds to 0 there, and the correlation is NaN however
         * well-scaled the exact ratio is */
        if (ldexp(f_p / (n * (n - 1.0)), e_p) <= 0x1p-150
            || ldexp(f_t / (n * (n - 1.0)), e_t) <= 0x1p-150) {
            return;
        }
        {
            /* r = Sxy / sqrt(Sxx Syy); halve odd exponent sums exactly */
            int e = e_p + e_t;
            double prod = f_p * f_t;
            if (e & 1) {
                prod *= 2.0;
                e -= 1;
            }
            r = ldexp(f_pt / sqrt(prod), e_pt - e / 2);
        }
        out->pearson = r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r);
    }
}

/* ---------------------------------------------------------- Spearman -- */

void
mushin_ranked_pairs_init(mushin_ranked_pairs *r)
{
    memset(r, 0, sizeof *r);
}

void
mushin_ranked_pairs_clear(mushin_ranked_pairs *r)
{
    free(r->preds);
    free(r->target);
    mushin_ranked_pairs_init(r);
}

static int
pairs_reserve(mushin_ranked_pairs *r, int64_t more)
{
    int64_t want, cap;
    float *p, *t;
    if (more > MUSHIN_RANKED_PAIRS_MAX - r->n) {
        return MUSHIN_EOVERFLOW;
    }
    want = r->n + more;
    if (want <= r->capacity) {
        return MUSHIN_OK;
    }
    cap = r->capacity ? r->capacity : 1024;
    while (cap < want) {
        cap *= 2;
    }
    /* both or neither: a failed second realloc leaves the first array
     * larger but its contents, and r->n, unchanged */
    p = realloc(r->preds, (size_t)cap * sizeof *p);
    if (!p) {
        return MUSHIN_ENOMEM;
    }
    r->preds = p;
    t = realloc(r->target, (size_t)cap * sizeof *t);
    if (!t) {
        return MUSHIN_ENOMEM;
    }
    r->target = t;
    r->capacity = cap;
    return MUSHIN_OK;
}

int
mushin_ranked_pairs_append(mushin_ranked_pairs *r, int64_t n,
                           mushin_vec_view preds, mushin_vec_view target,
                           mushin_regression_bad *bad)
{
    int64_t i;
    int status;
    status = check_inputs(n, preds, target, bad);
    if (status != MUSHIN_OK) {
        return status;
    }
    /* finite doubles that overflow float32 would become infinite ties */
    status = check_finite(n, preds, target, 1, bad);
    if (status != MUSHIN_OK) {
        return status;
    }
    status = pairs_reserve(r, n);
    if (status != MUSHIN_OK) {
        return status;
    }
    for (i = 0; i < n; i++) {
        r->preds[r->n + i] = (float)load_value(preds, i);
        r->target[r->n + i] = (float)load_value(target, i);
    }
    r->n += n;
    return MUSHIN_OK;
}

typedef struct {
    double value;
    int64_t pos;
} keyed;

static int
cmp_keyed(const void *a, const void *b)
{
    const double x = ((const keyed *)a)->value, y = ((const keyed *)b)->value;
    return (x > y) - (x < y);
}

/* doubled average ranks: a tie group at sorted positions i..j (1-based)
 * gets (i + j), an integer, whatever order qsort leaves the ties in */
static void
doubled_ranks(int64_t n, const float *x, keyed *scratch, int64_t *rank2)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        scratch[i].value = x[i];
        scratch[i].pos = i;
    }
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_keyed);
    i = 0;
    while (i < n) {
        int64_t j = i, k;
        while (j + 1 < n && scratch[j + 1].value == scratch[i].value) {
            j++;
        }
        for (k = i; k <= j; k++) {
            rank2[scratch[k].pos] = (i + 1) + (j + 1);
        }
        i = j + 1;
    }
}

/* (a - b) rounded once to double; a and b are exact */
static double
u128_difference(mushin_u128 a, mushin_u128 b)
{
    return mushin_u128_cmp(a, b) >= 0 ? mushin_u128_to_double(mushin_u128_sub(a, b))
                                      : -mushin_u128_to_double(mushin_u128_sub(b, a));
}

int
mushin_spearman(const mushin_ranked_pairs *r, double *rho)
{
    const int64_t n = r->n;
    keyed *order;
    int64_t *rp, *rt, i;
    /* doubled ranks are at most 2n and n <= MUSHIN_RANKED_PAIRS_MAX, so
     * their sums fit in 64 bits and n times the sums of products in 128 */
    uint64_t sp = 0, st = 0;
    mushin_u128 spp = {0, 0}, stt = {0, 0}, spt = {0, 0};
    double cov, sd_p, sd_t, v;
    if (n == 0) {
        *rho = NAN;
        return MUSHIN_OK;
    }
    order = malloc((size_t)n * sizeof *order);
    rp = malloc((size_t)n * sizeof *rp);
    rt = malloc((size_t)n * sizeof *rt);
    if (!order || !rp || !rt) {
        free(order);
        free(rp);
        free(rt);
        return MUSHIN_ENOMEM;
    }
    doubled_ranks(n, r->preds, order, rp);
    doubled_ranks(n, r->target, order, rt);
    for (i = 0; i < n; i++) {
        const uint64_t a = (uint64_t)rp[i], b = (uint64_t)rt[i];
        sp += a;
        st += b;
        spp = mushin_u128_add(spp, mushin_mul_wide_u64(a, a));
        stt = mushin_u128_add(stt, mushin_mul_wide_u64(b, b));
        spt = mushin_u128_add(spt, mushin_mul_wide_u64(a, b));
    }
    free(order);
    free(rp);
    free(rt);
    /* with doubled ranks R: cov = (n S(RpRt) - S(Rp) S(Rt)) / (4 n^2) and
     * sd = sqrt(n S(RR) - S(R)^2) / (2 n); every difference is exact */
    {
        const double nd = (double)n;
        cov = u128_difference(mushin_u128_mul_u64(spt, (uint64_t)n), mushin_mul_wide_u64(sp, st)) /
              (4.0 * nd * nd);
        sd_p = sqrt(u128_difference(mushin_u128_mul_u64(spp, (uint64_t)n), mushin_mul_wide_u64(sp, sp))) /
               (2.0 * nd);
        sd_t = sqrt(u128_difference(mushin_u128_mul_u64(stt, (uint64_t)n), mushin_mul_wide_u64(st, st))) /
               (2.0 * nd);
    }
    /* SpearmanCorrCoef's eps keeps a constant side at 0 instead of NaN */
    v = cov / (sd_p * sd_t + 1e-6);
    *rho = v > 1.0 ? 1.0 : (v < -1.0 ? -1.0 : v);
    return MUSHIN_OK;
}
