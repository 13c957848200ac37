/*
 * test_regression.c -- C-only tests of csrc/kernels/regression.c, every
 * entry point, no Python.  Build and run (from the repository root):
 *
 *   cc -O2 -Wall -Wextra -std=c11 -Icsrc csrc/tests/test_regression.c \
 *      csrc/kernels/regression.c -lm -o csrc/tests/test_regression && \
 *   ./csrc/tests/test_regression
 *
 * Prints one line per failure and closes with "N passed, M failed"; exits
 * non-zero on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/regression.h"

#include "ctest.h"

static mushin_vec_view
f64(const double *x)
{
    mushin_vec_view v = {(const char *)x, MUSHIN_FLOAT64, sizeof(double)};
    return v;
}

static int
near(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(1.0, fabs(b));
}

static void
test_exact_sums(void)
{
    /* 1e16 + 1 - 1e16 + 3 is 3 in doubles, 4 exactly */
    const double p[4] = {1e16, 1.0, -1e16, 3.0}, t[4] = {0, 0, 0, 0};
    mushin_regression_moments m;
    mushin_regression_bad bad;
    mushin_regression_init(&m);
    CHECK(mushin_regression_update(&m, 4, f64(p), f64(t), &bad) == MUSHIN_OK);
    CHECK(m.n == 4);
    CHECK(mushin_xsum_to_double(&m.sum_p, MUSHIN_XSUM_UNIT_VALUE) == 4.0);
    CHECK(mushin_xsum_to_double(&m.sum_abs, MUSHIN_XSUM_UNIT_VALUE) == 2e16 + 4.0);
    /* S(pp) = 2e32 + 10, rounded once */
    CHECK(mushin_xsum_to_double(&m.sum_pp, MUSHIN_XSUM_UNIT_PRODUCT) == 2e32 + 10.0);
    CHECK(m.min_p == -1e16 && m.max_p == 1e16 && m.min_t == 0.0 && m.max_t == 0.0);
}

static void
test_subnormal_and_huge_terms(void)
{
    /* the smallest subnormal squared is 2^-2148: the unit itself */
    const double p[2] = {4.9406564584124654e-324, -1e300}, t[2] = {0.0, 1e300};
    mushin_regression_moments m;
    mushin_regression_bad bad;
    mushin_regression_init(&m);
    CHECK(mushin_regression_update(&m, 1, f64(p), f64(t), &bad) == MUSHIN_OK);
    CHECK(m.sum_pp.limb[0] == 1);
    CHECK(mushin_xsum_to_double(&m.sum_pp, MUSHIN_XSUM_UNIT_PRODUCT) == 0.0); /* 2^-2148 rounds to 0 */
    CHECK(mushin_xsum_to_double(&m.sum_p, MUSHIN_XSUM_UNIT_VALUE) == 4.9406564584124654e-324);
    CHECK(mushin_regression_update(&m, 1, f64(p + 1), f64(t + 1), &bad) == MUSHIN_OK);
    CHECK(isinf(mushin_xsum_to_double(&m.sum_pp, MUSHIN_XSUM_UNIT_PRODUCT)));
    {
        mushin_regression_metrics out;
        mushin_regression_compute(&m, &out);
        CHECK(isinf(out.mse) && out.mae == 1e300); /* (2e300) / 2 */
    }
}

static void
test_metrics_known_values(void)
{
    const double p[3] = {1.0, 2.0, 3.5}, t[3] = {1.5, 2.0, 3.0};
    mushin_regression_moments m;
    mushin_regression_metrics out;
    mushin_regression_bad bad;
    mushin_regression_init(&m);
    CHECK(mushin_regression_update(&m, 3, f64(p), f64(t), &bad) == MUSHIN_OK);
    mushin_regression_compute(&m, &out);
    CHECK(near(out.mse, 0.5 / 3.0, 1e-15));
    CHECK(near(out.mae, 1.0 / 3.0, 1e-15));
    CHECK(near(out.rmse, sqrt(0.5 / 3.0), 1e-15));
    CHECK(near(out.r2, 4.0 / 7.0, 1e-15)); /* 1 - 0.5 / (14/12) */
    {
        /* Sxy = 2.25, Sxx = 3.5 - ... from the centred values */
        const double mp = 6.5 / 3, mt = 6.5 / 3;
        double sxy = 0, sxx = 0, syy = 0;
        int i;
        for (i = 0; i < 3; i++) {
            sxy += (p[i] - mp) * (t[i] - mt);
            sxx += (p[i] - mp) * (p[i] - mp);
            syy += (t[i] - mt) * (t[i] - mt);
        }
        CHECK(near(out.pearson, sxy / sqrt(sxx * syy), 1e-14));
    }
}

static void
test_degenerate_inputs(void)
{
    const double c[4] = {2, 2, 2, 2}, r[4] = {0, 1, 2, 3};
    mushin_regression_moments m;
    mushin_regression_metrics out;
    mushin_regression_bad bad;
    mushin_regression_init(&m);
    mushin_regression_compute(&m, &out);
    CHECK(isnan(out.mse) && isnan(out.mae) && isnan(out.r2) && isnan(out.pearson));
    CHECK(mushin_regression_update(&m, 1, f64(r), f64(c), &bad) == MUSHIN_OK);
    mushin_regression_compute(&m, &out);
    CHECK(out.mse == 4.0 && out.mae == 2.0 && isnan(out.r2) && isnan(out.pearson));
    mushin_regression_init(&m);
    CHECK(mushin_regression_update(&m, 4, f64(r), f64(c), &bad) == MUSHIN_OK);
    mushin_regression_compute(&m, &out);
    CHECK(out.r2 == 0.0);       /* constant target, residuals not ~0 */
    CHECK(isnan(out.pearson));  /* zero variance */
    mushin_regression_init(&m);
    CHECK(mushin_regression_update(&m, 4, f64(c), f64(c), &bad) == MUSHIN_OK);
    mushin_regression_compute(&m, &out);
    CHECK(out.r2 == 1.0 && out.mse == 0.0);
}

static void
test_bad_values_leave_state(void)
{
    const double p[3] = {1.0, NAN, 2.0}, t[3] = {1.0, 2.0, INFINITY}, ok[3] = {1, 2, 3};
    mushin_regression_moments m, before;
    mushin_regression_bad bad;
    mushin_regression_init(&m);
    CHECK(mushin_regression_update(&m, 3, f64(ok), f64(ok), &bad) == MUSHIN_OK);
    before = m;
    CHECK(mushin_regression_update(&m, 3, f64(p), f64(ok), &bad) == MUSHIN_EBADVALUE);
    CHECK(bad.which == 0 && bad.count == 1 && bad.first_pos == 1 && isnan(bad.first));
    CHECK(mushin_regression_update(&m, 3, f64(ok), f64(t), &bad) == MUSHIN_EBADVALUE);
    CHECK(bad.which == 1 && bad.first_pos == 2 && isinf(bad.first));
    CHECK(memcmp(&m, &before, sizeof m) == 0);
    {
        mushin_vec_view wrong = f64(ok);
        wrong.type = MUSHIN_FLOAT16;
        CHECK(mushin_regression_update(&m, 3, wrong, f64(ok), &bad) == MUSHIN_EINVAL);
        CHECK(mushin_regression_update(&m, -1, f64(ok), f64(ok), &bad) == MUSHIN_EINVAL);
    }
    CHECK(memcmp(&m, &before, sizeof m) == 0);
    m.n = ((int64_t)1 << 62) - 1;
    CHECK(mushin_regression_update(&m, 3, f64(ok), f64(ok), &bad) == MUSHIN_EOVERFLOW);
}

static void
test_split_and_merge_are_bit_identical(void)
{
    enum { N = 257 };
    double p[N], t[N];
    float pf[N];
    mushin_regression_moments whole, a, b, c;
    mushin_regression_metrics x, y;
    mushin_regression_bad bad;
    mushin_vec_view v32 = {(const char *)pf, MUSHIN_FLOAT32, sizeof(float)};
    int i;
    srand(7);
    for (i = 0; i < N; i++) {
        p[i] = ldexp((double)rand() / RAND_MAX - 0.5, rand() % 80 - 40);
        t[i] = (double)rand() / RAND_MAX * 1e3 - 500.0;
        pf[i] = (float)p[i];
    }
    mushin_regression_init(&whole);
    CHECK(mushin_regression_update(&whole, N, f64(p), f64(t), &bad) == MUSHIN_OK);
    mushin_regression_init(&a);
    mushin_regression_init(&b);
    mushin_regression_init(&c);
    CHECK(mushin_regression_update(&a, 100, f64(p), f64(t), &bad) == MUSHIN_OK);
    CHECK(mushin_regression_update(&b, 1, f64(p + 100), f64(t + 100), &bad) == MUSHIN_OK);
    CHECK(mushin_regression_update(&c, N - 101, f64(p + 101), f64(t + 101), &bad) == MUSHIN_OK);
    /* (c + a) + b */
    CHECK(mushin_regression_merge(&c, &a) == MUSHIN_OK);
    CHECK(mushin_regression_merge(&c, &b) == MUSHIN_OK);
    CHECK(memcmp(&c, &whole, sizeof c) == 0);
    mushin_regression_compute(&c, &x);
    mushin_regression_compute(&whole, &y);
    CHECK(memcmp(&x, &y, sizeof x) == 0);
    /* float32 input equals its exact widening */
    mushin_regression_init(&a);
    mushin_regression_init(&b);
    for (i = 0; i < N; i++) {
        p[i] = (double)pf[i];
    }
    CHECK(mushin_regression_update(&a, N, v32, f64(t), &bad) == MUSHIN_OK);
    CHECK(mushin_regression_update(&b, N, f64(p), f64(t), &bad) == MUSHIN_OK);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(a.min_p <= a.max_p);
    c = a;
    c.n = ((int64_t)1 << 62);
    CHECK(mushin_regression_merge(&c, &a) == MUSHIN_EOVERFLOW);
    CHECK(c.n == ((int64_t)1 << 62));
}

static void
test_check_state(void)
{
    const double p[2] = {1.0, -2.0}, t[2] = {0.5, 3.0};
    mushin_regression_moments m, bad_m;
    mushin_regression_bad bad;
    const char *what = NULL;
    mushin_regression_init(&m);
    CHECK(mushin_regression_check_state(&m, &what) == MUSHIN_OK);
    CHECK(mushin_regression_update(&m, 2, f64(p), f64(t), &bad) == MUSHIN_OK);
    CHECK(mushin_regression_check_state(&m, &what) == MUSHIN_OK);
    bad_m = m;
    bad_m.sum_t.limb[3] = -1; /* not canonical */
    CHECK(mushin_regression_check_state(&bad_m, &what) == MUSHIN_EINVAL && strcmp(what, "sum_t") == 0);
    bad_m = m;
    bad_m.sum_pp.limb[MUSHIN_XSUM_LIMBS - 1] = -1; /* a negative sum of squares */
    CHECK(mushin_regression_check_state(&bad_m, &what) == MUSHIN_EINVAL && strcmp(what, "sum_pp") == 0);
    bad_m = m;
    bad_m.n = -1;
    CHECK(mushin_regression_check_state(&bad_m, &what) == MUSHIN_EINVAL && strcmp(what, "n") == 0);
    bad_m = m;
    bad_m.min_t = 9.0;
    CHECK(mushin_regression_check_state(&bad_m, &what) == MUSHIN_EINVAL && strcmp(what, "extremes") == 0);
    mushin_regression_init(&bad_m);
    bad_m.sum_abs.limb[0] = 1; /* non-zero with n == 0 */
    CHECK(mushin_regression_check_state(&bad_m, &what) == MUSHIN_EINVAL && strcmp(what, "sum_abs") == 0);
}

static void
test_spearman(void)
{
    const double p[5] = {1, 2, 3, 4, 5}, rev[5] = {5, 4, 3, 2, 1}, tie[5] = {1, 1, 2, 2, 3};
    const double bad_p[2] = {1e300, 1.0};
    mushin_ranked_pairs r, s;
    mushin_regression_bad bad;
    double rho, rho2;
    mushin_ranked_pairs_init(&r);
    CHECK(mushin_spearman(&r, &rho) == MUSHIN_OK && isnan(rho));
    CHECK(mushin_ranked_pairs_append(&r, 5, f64(p), f64(rev), &bad) == MUSHIN_OK);
    CHECK(mushin_spearman(&r, &rho) == MUSHIN_OK);
    /* ranks 1..5: var = 2, so rho = -2 / (2 + 1e-6) */
    CHECK(near(rho, -2.0 / (2.0 + 1e-6), 1e-15));
    mushin_ranked_pairs_clear(&r);
    CHECK(r.n == 0 && r.preds == NULL);
    /* ties get the average rank: ranks of tie = 1.5 1.5 3.5 3.5 5 */
    CHECK(mushin_ranked_pairs_append(&r, 5, f64(tie), f64(p), &bad) == MUSHIN_OK);
    CHECK(mushin_spearman(&r, &rho) == MUSHIN_OK);
    {
        const double rt[5] = {1.5, 1.5, 3.5, 3.5, 5}, rp[5] = {1, 2, 3, 4, 5};
        double cov = 0, vt = 0, vp = 0;
        int i;
        for (i = 0; i < 5; i++) {
            cov += (rt[i] - 3) * (rp[i] - 3) / 5;
            vt += (rt[i] - 3) * (rt[i] - 3) / 5;
            vp += (rp[i] - 3) * (rp[i] - 3) / 5;
        }
        CHECK(near(rho, cov / (sqrt(vt) * sqrt(vp) + 1e-6), 1e-14));
    }
    /* order independence: the same pairs in another order and split */
    mushin_ranked_pairs_init(&s);
    CHECK(mushin_ranked_pairs_append(&s, 3, f64(tie + 2), f64(p + 2), &bad) == MUSHIN_OK);
    CHECK(mushin_ranked_pairs_append(&s, 2, f64(tie), f64(p), &bad) == MUSHIN_OK);
    CHECK(mushin_spearman(&s, &rho2) == MUSHIN_OK && memcmp(&rho, &rho2, sizeof rho) == 0);
    /* bad values: NaN, and a double beyond float32 */
    {
        const double nan_p[2] = {NAN, 1.0};
        const int64_t n_before = s.n;
        CHECK(mushin_ranked_pairs_append(&s, 2, f64(nan_p), f64(p), &bad) == MUSHIN_EBADVALUE);
        CHECK(bad.which == 0 && bad.first_pos == 0);
        CHECK(mushin_ranked_pairs_append(&s, 2, f64(p), f64(bad_p), &bad) == MUSHIN_EBADVALUE);
        CHECK(bad.which == 1 && bad.first == 1e300);
        CHECK(bad.first_pos == 0 && bad.count == 1);
        /* a NaN in either view is reported before a float32 overflow in
         * the other, and every overflow in the first view is counted */
        {
            const double nan_t[2] = {1.0, NAN}, two_big[2] = {-1e300, 1e39};
            CHECK(mushin_ranked_pairs_append(&s, 2, f64(bad_p), f64(nan_t), &bad) ==
                  MUSHIN_EBADVALUE);
            CHECK(bad.which == 1 && bad.first_pos == 1 && isnan(bad.first) && bad.count == 1);
            CHECK(mushin_ranked_pairs_append(&s, 2, f64(two_big), f64(bad_p), &bad) ==
                  MUSHIN_EBADVALUE);
            CHECK(bad.which == 0 && bad.first_pos == 0 && bad.first == -1e300 &&
                  bad.count == 2);
        }
        CHECK(s.n == n_before);
    }
    /* constant side: 0, not NaN */
    mushin_ranked_pairs_clear(&s);
    {
        const double c[5] = {7, 7, 7, 7, 7};
        CHECK(mushin_ranked_pairs_append(&s, 5, f64(c), f64(p), &bad) == MUSHIN_OK);
        CHECK(mushin_spearman(&s, &rho) == MUSHIN_OK && rho == 0.0);
    }
    mushin_ranked_pairs_clear(&s);
    mushin_ranked_pairs_clear(&r);
}

int
main(void)
{
    test_exact_sums();
    test_subnormal_and_huge_terms();
    test_metrics_known_values();
    test_degenerate_inputs();
    test_bad_values_leave_state();
    test_split_and_merge_are_bit_identical();
    test_check_state();
    test_spearman();
    return ctest_summary();
}
