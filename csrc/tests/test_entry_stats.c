/*
 * test_entry_stats.c -- C-only tests of the statistics entry points that
 * csrc/tests/test_kernels.c does not reach (NumPy-order sums, the normal
 * distribution, Cohen's d_z, Bonferroni and Benjamini-Hochberg) and of the
 * runtime entry points of the counting core (the instruction-set level and
 * mushin_parallel_for).  No Python.
 *
 * Expected values are closed forms (integer sums, libm's erfc, dyadic
 * p-values whose adjusted values are exact) worked out in the comments;
 * never values printed by the code under test.  Build and run from the root:
 *
 *   cc -O2 -Wall -Wextra -std=c11 -pthread -Icsrc/kernels -Icsrc \
 *      csrc/tests/test_entry_stats.c csrc/kernels/[a-z]*.c -lm -o /tmp/t && /tmp/t
 *
 * Closes with "N passed, M failed"; exits non-zero on any failure.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"

#include "ctest.h"

static int
same(double got, double want)
{
    return (isnan(want) && isnan(got)) || got == want;
}

static void
test_pairwise_sum(void)
{
    double x[1000];
    int i;
    for (i = 0; i < 1000; i++) x[i] = (double)i;
    CHECK(mushin_pairwise_sum(x, 0) == 0.0);
    CHECK(mushin_pairwise_sum(x, 5) == 10.0);
    /* 129 values: past one 128-block; 0 + ... + 128 */
    CHECK(mushin_pairwise_sum(x, 129) == 8256.0);
    CHECK(mushin_pairwise_sum(x, 1000) == 499500.0);
    /* 2^16 halves: every partial sum is a small multiple of 0.5, exact in
     * any order, so the blocked and unrolled paths must give 2^15 */
    {
        const int64_t n = (int64_t)1 << 16;
        double *y = (double *)malloc((size_t)n * sizeof(double));
        if (y != NULL) {
            for (i = 0; i < n; i++) y[i] = 0.5;
            CHECK(mushin_pairwise_sum(y, n) == 32768.0);
            free(y);
        }
        else {
            CHECK(!"out of memory");
        }
    }
    /* one NaN spoils the sum, as in numpy */
    x[7] = NAN;
    CHECK(isnan(mushin_pairwise_sum(x, 200)));
}

static void
test_normal_distribution(void)
{
    const double zs[] = {-8.0, -1.0, 0.0, 0.5, 1.0, 1.959963984540054, 3.0, 10.0, 30.0};
    size_t i;
    int ok = 1;
    CHECK(mushin_norm_sf(0.0) == 0.5);
    CHECK(mushin_norm_sf(INFINITY) == 0.0 && mushin_norm_sf(-INFINITY) == 1.0);
    /* P(Z > z) = erfc(z / sqrt 2) / 2, to full relative accuracy far in
     * the tail too (where 1 - cdf would be 0).  Rounding z / sqrt 2 moves
     * the argument by an ulp or two, and d ln P / dz ~ -z, so two correct
     * evaluations may differ by a few eps * (1 + z^2) relative: that is the
     * bound, not a fixed one that only fits the centre. */
    for (i = 0; i < sizeof zs / sizeof zs[0]; i++) {
        const double want = 0.5 * erfc(zs[i] / sqrt(2.0));
        const double tol = 4.0 * DBL_EPSILON * (1.0 + zs[i] * zs[i]);
        ok = ok && fabs(mushin_norm_sf(zs[i]) - want) <= tol * want;
    }
    CHECK(ok);
    CHECK(mushin_norm_sf(30.0) > 0.0);
    /* quantiles: the middle, the 97.5% point, symmetry, and the round trip
     * q -> z -> sf(-z) (= q) into the far tail */
    CHECK(mushin_norm_ppf(0.5) == 0.0);
    CHECK(fabs(mushin_norm_ppf(0.975) - 1.959963984540054) <= 1e-14 * 1.959963984540054);
    /* 0.25 and 0.75 are exact complements */
    CHECK(mushin_norm_ppf(0.25) == -mushin_norm_ppf(0.75));
    {
        const double qs[] = {1e-300, 1e-10, 0.001, 0.1, 0.3, 0.7, 0.9, 0.999};
        for (i = 0, ok = 1; i < sizeof qs / sizeof qs[0]; i++) {
            const double z = mushin_norm_ppf(qs[i]);
            const double back = 0.5 * erfc(-z / sqrt(2.0));
            ok = ok && fabs(back - qs[i]) <= 1e-12 * qs[i];
        }
        CHECK(ok);
    }
}

static void
test_cohens_dz(void)
{
    /* differences {1, 2, 3}: mean 2, sd 1 */
    const double a[3] = {1, 2, 3}, zero[3] = {0, 0, 0}, ones[3] = {1, 1, 1};
    CHECK(mushin_cohens_dz(a, zero, 3) == 2.0);
    CHECK(mushin_cohens_dz(zero, a, 3) == -2.0);
    /* a constant nonzero difference: +-inf; every difference zero: 0 */
    CHECK(mushin_cohens_dz(ones, zero, 3) == INFINITY);
    CHECK(mushin_cohens_dz(zero, ones, 3) == -INFINITY);
    CHECK(mushin_cohens_dz(a, a, 3) == 0.0);
    /* one pair: no standard deviation */
    CHECK(isnan(mushin_cohens_dz(a, zero, 1)));
}

static void
test_bonferroni(void)
{
    /* m = 4 non-NaN values: min(1, 4 p); NaN stays NaN outside the family */
    const double p[5] = {0.0625, 0.125, NAN, 0.5, 0.0};
    const double want[5] = {0.25, 0.5, NAN, 1.0, 0.0};
    double out[5];
    int i, ok = 1;
    CHECK(mushin_bonferroni(p, 5, out) == MUSHIN_OK);
    for (i = 0; i < 5; i++) ok = ok && same(out[i], want[i]);
    CHECK(ok);
    {
        const double bad[2] = {0.5, 1.5};
        const double neg[1] = {-0.25};
        CHECK(mushin_bonferroni(bad, 2, out) == MUSHIN_EINVAL);
        CHECK(mushin_bonferroni(neg, 1, out) == MUSHIN_EINVAL);
    }
    CHECK(mushin_bonferroni(p, 0, out) == MUSHIN_OK);
}

static void
test_fdr_bh(void)
{
    /* m = 4: sorted 0.0625 (rank 1), 0.125 (2), 0.375 (3), 0.5 (4);
     * p m / rank = 0.25, 0.25, 0.5, 0.5; the running minimum from the top
     * leaves them so.  NaN is left out (m stays 4) and stays NaN. */
    const double p[5] = {0.125, 0.375, NAN, 0.0625, 0.5};
    const double want[5] = {0.25, 0.5, NAN, 0.25, 0.5};
    double out[5];
    int64_t order[5];
    int i, ok = 1;
    CHECK(mushin_fdr_bh(p, 5, out, order) == MUSHIN_OK);
    for (i = 0; i < 5; i++) ok = ok && same(out[i], want[i]);
    CHECK(ok);
    /* the step-up minimum: {0.25, 0.5, 0.5} (m = 3) give p m / rank =
     * 0.75, 0.75, 0.5; the running minimum from the top makes all 0.5 */
    {
        const double q[3] = {0.25, 0.5, 0.5};
        double o[3];
        int64_t ord[3];
        CHECK(mushin_fdr_bh(q, 3, o, ord) == MUSHIN_OK);
        CHECK(o[0] == 0.5 && o[1] == 0.5 && o[2] == 0.5);
    }
    {
        const double bad[2] = {0.5, 2.0};
        CHECK(mushin_fdr_bh(bad, 2, out, order) == MUSHIN_EINVAL);
    }
}

/* ------------------------------------------ runtime: ISA and threads -- */

static void
test_isa_level(void)
{
    const int best = mushin_isa_supported();
    const int start = mushin_isa_level();
    CHECK(best >= 0 && best <= 2);
    CHECK(start >= 0 && start <= best);
    /* capping at the baseline always works, and lifting the cap restores
     * the best level this CPU has */
    CHECK(mushin_set_isa_cap(0) == 0);
    CHECK(mushin_isa_level() == 0);
    /* caps outside [0, 2] are clamped */
    CHECK(mushin_set_isa_cap(-5) == 0);
    CHECK(mushin_set_isa_cap(99) == best);
    CHECK(mushin_set_isa_cap(2) == best);
    CHECK(mushin_isa_level() == best);
    mushin_set_isa_cap(start);
    CHECK(mushin_isa_level() == start);
}

typedef struct {
    int runs[64];
} chunk_record;

static void
record_chunk(void *arg, int chunk)
{
    ((chunk_record *)arg)->runs[chunk]++; /* each chunk writes only its own slot */
}

static void
test_parallel_for(void)
{
    const int sizes[] = {1, 2, 7, 64};
    size_t s;
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        chunk_record rec;
        int c, ok = 1;
        memset(&rec, 0, sizeof rec);
        mushin_parallel_for(sizes[s], record_chunk, &rec);
        /* every chunk exactly once, none past the end */
        for (c = 0; c < 64; c++) ok = ok && rec.runs[c] == (c < sizes[s] ? 1 : 0);
        CHECK(ok);
    }
    /* no chunks: nothing runs */
    {
        chunk_record rec;
        memset(&rec, 0, sizeof rec);
        mushin_parallel_for(0, record_chunk, &rec);
        CHECK(rec.runs[0] == 0);
    }
}

int
main(void)
{
    test_pairwise_sum();
    test_normal_distribution();
    test_cohens_dz();
    test_bonferroni();
    test_fdr_bh();
    test_isa_level();
    test_parallel_for();
    return ctest_summary();
}
