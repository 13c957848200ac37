/*
 * test_entry_ranktests.c -- C-only tests of the rank tests (ranktests.c):
 * exact null distributions, Wilcoxon signed-rank, Mann-Whitney U, their
 * Hodges-Lehmann intervals, and the smallest attainable p-value.  No Python.
 *
 * Expected values are counted by hand in the comments (subsets of ranks,
 * arrangements of two samples, order statistics of Walsh averages and
 * pairwise differences) or are closed forms through libm's erfc; never
 * values printed by the code under test.  Build and run from the root:
 *
 *   cc -O2 -Wall -Wextra -std=c11 -pthread -Icsrc/kernels -Icsrc \
 *      csrc/tests/test_entry_ranktests.c csrc/kernels/[a-z]*.c -lm -o /tmp/t && /tmp/t
 *
 * Closes with "N passed, M failed"; exits non-zero on any failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"

#include "ctest.h"

/* p-values are ratios of counts formed in a different order than here:
 * allow a few ulps, nothing more */
static int
close_p(double got, double want)
{
    if (isnan(want)) return isnan(got);
    return fabs(got - want) <= 1e-14 * fabs(want);
}

/* two-sided normal tail 2 P(Z > |z|) from libm */
static double
two_sided_normal(double z)
{
    return erfc(fabs(z) / sqrt(2.0));
}

static void
test_exact_distributions(void)
{
    /* n = 3: subset sums of {1, 2, 3}: 0, 1, 2, 3 (twice: {3}, {1,2}), 4, 5, 6 */
    double sr[7];
    const double sr_want[7] = {1, 1, 1, 2, 1, 1, 1};
    /* samples of 3 and 3: U counts, the partitions of u into at most 3
     * parts no larger than 3 (C(6, 3) = 20 in all) */
    double rs[10];
    const double rs_want[10] = {1, 1, 2, 3, 3, 3, 3, 2, 1, 1};
    int i, ok = 1;
    double total = 0.0;
    CHECK(mushin_signed_rank_counts(3, sr) == MUSHIN_OK);
    for (i = 0; i < 7; i++) ok = ok && sr[i] == sr_want[i];
    CHECK(ok);
    CHECK(mushin_rank_sum_counts(3, 3, 9, rs) == MUSHIN_OK);
    for (i = 0, ok = 1; i < 10; i++) ok = ok && rs[i] == rs_want[i];
    CHECK(ok);
    /* the signed-rank table of n sums to 2^n */
    {
        double t20[211];
        CHECK(mushin_signed_rank_counts(20, t20) == MUSHIN_OK);
        for (i = 0; i <= 210; i++) total += t20[i];
        CHECK(total == 1048576.0);
        CHECK(t20[0] == 1.0 && t20[210] == 1.0 && t20[1] == 1.0 && t20[3] == 2.0);
    }
    /* past the caps: refused, nothing written */
    {
        double guard = -1.0;
        CHECK(mushin_signed_rank_counts(MUSHIN_SIGNED_RANK_MAX_N + 1, &guard) == MUSHIN_EINVAL);
        CHECK(guard == -1.0);
        CHECK(mushin_rank_sum_within_caps(3, 3, 9) == 1);
        CHECK(mushin_rank_sum_within_caps(3, 3, MUSHIN_RANK_SUM_MAX_KMAX + 1) == 0);
    }
}

static void
test_wilcoxon_exact(void)
{
    mushin_test_result r;
    /* differences {1, 2, -3, 4, 5}: R- = 3, R+ = 12, statistic 3; subsets of
     * {1..5} summing to at most 3: {}, {1}, {2}, {3}, {1,2} -> 5 of 32;
     * p = 2 * 5 / 32 */
    const double a[5] = {1, 2, -3, 4, 5}, zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(mushin_wilcoxon_test(a, zero, 5, 0.95, &r) == MUSHIN_OK);
    CHECK(r.statistic == 3.0);
    CHECK(close_p(r.pvalue, 0.3125));
    CHECK(r.pvalue_method == MUSHIN_PVALUE_EXACT);
    CHECK(r.mean_diff == 9.0 / 5.0);
    /* with 5 pairs no shift can be rejected at 95% (the best p is 1/16) */
    CHECK(isinf(r.ci_low) && r.ci_low < 0 && isinf(r.ci_high) && r.ci_high > 0);
    /* the entry point with argument checks answers the same */
    {
        mushin_test_result q;
        CHECK(mushin_two_sample_test(MUSHIN_TEST_WILCOXON, a, 5, zero, 5, 0.95, &q) == MUSHIN_OK);
        CHECK(q.statistic == r.statistic && q.pvalue == r.pvalue);
    }
}

static void
test_wilcoxon_hodges_lehmann(void)
{
    /* differences 1..8, all positive: statistic 0, p = 2 / 2^8.
     * The critical value at alpha = 0.05 is 3: subsets summing to <= 3 are
     * 5 of 256 (2 * 5 / 256 < 0.05), to <= 4 are 7 (2 * 7 / 256 > 0.05).
     * The interval is the 4th smallest and 4th largest of the 36 Walsh
     * averages (d_i + d_j) / 2, i <= j: 1, 1.5, 2, 2, ... and 8, 7.5, 7, 7. */
    const double a[8] = {11, 12, 13, 14, 15, 16, 17, 18}, b[8] = {10, 10, 10, 10, 10, 10, 10, 10};
    mushin_test_result r;
    CHECK(mushin_wilcoxon_test(a, b, 8, 0.95, &r) == MUSHIN_OK);
    CHECK(r.statistic == 0.0 && close_p(r.pvalue, 2.0 / 256.0));
    CHECK(r.ci_low == 2.0 && r.ci_high == 7.0);
    CHECK(r.mean_diff == 4.5);
    /* mirrored: the same p, the interval negated */
    CHECK(mushin_wilcoxon_test(b, a, 8, 0.95, &r) == MUSHIN_OK);
    CHECK(r.statistic == 0.0 && close_p(r.pvalue, 2.0 / 256.0));
    CHECK(r.ci_low == -7.0 && r.ci_high == -2.0);
}

static void
test_wilcoxon_ties_zeros_identical(void)
{
    mushin_test_result r;
    const double zero[14] = {0};
    /* ties: |d| = {1, 1, 2} get ranks {1.5, 1.5, 3}; all positive so R- = 0.
     * Sign flips: R+ over the 8 subsets is 6 only once -> p = 2 * 1/8 */
    {
        const double d[3] = {1, 1, 2};
        CHECK(mushin_wilcoxon_test(d, zero, 3, 0.95, &r) == MUSHIN_OK);
        CHECK(r.statistic == 0.0 && close_p(r.pvalue, 0.25));
        CHECK(r.pvalue_method == MUSHIN_PVALUE_PERMUTATION);
    }
    /* n = 14 tied differences (all 1): beyond the permutation range, the
     * normal approximation with the tie correction: ranks all 7.5,
     * R+ = 105, mean 52.5, var = (14*15*29 - (14^3 - 14) / 2) / 24 */
    {
        const double d[14] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        const double se = sqrt((14.0 * 15.0 * 29.0 - (2744.0 - 14.0) / 2.0) / 24.0);
        CHECK(mushin_wilcoxon_test(d, zero, 14, 0.95, &r) == MUSHIN_OK);
        CHECK(r.pvalue_method == MUSHIN_PVALUE_NORMAL);
        CHECK(fabs(r.pvalue - two_sided_normal(52.5 / se)) <= 1e-12 * two_sided_normal(52.5 / se));
    }
    /* every difference zero: p = 1 by definition, statistic 0 */
    {
        const double same[4] = {3, 1, 4, 1};
        CHECK(mushin_wilcoxon_test(same, same, 4, 0.95, &r) == MUSHIN_OK);
        CHECK(r.pvalue == 1.0 && r.statistic == 0.0 && r.pvalue_method == MUSHIN_PVALUE_IDENTICAL);
    }
}

static void
test_mannwhitney(void)
{
    mushin_test_result r;
    /* complete separation, 3 and 3: U of a = 0; one arrangement of 20 on
     * each side -> p = 2 / 20 */
    {
        const double a[3] = {1, 2, 3}, b[3] = {4, 5, 6};
        CHECK(mushin_mannwhitney_test(a, 3, b, 3, 0.95, &r) == MUSHIN_OK);
        CHECK(r.statistic == 0.0 && close_p(r.pvalue, 0.1));
        CHECK(r.pvalue_method == MUSHIN_PVALUE_EXACT);
        CHECK(r.mean_diff == -3.0);
        CHECK(mushin_mannwhitney_test(b, 3, a, 3, 0.95, &r) == MUSHIN_OK);
        CHECK(r.statistic == 9.0 && close_p(r.pvalue, 0.1));
    }
    /* interleaved {1, 3, 5} vs {2, 4, 6}: U of a = 0 + 1 + 2 = 3;
     * P(U <= 3) = (1 + 1 + 2 + 3) / 20 -> p = 2 * 7 / 20 */
    {
        const double a[3] = {1, 3, 5}, b[3] = {2, 4, 6};
        CHECK(mushin_mannwhitney_test(a, 3, b, 3, 0.95, &r) == MUSHIN_OK);
        CHECK(r.statistic == 3.0 && close_p(r.pvalue, 0.7));
    }
    /* 5 and 5, separated by 10: U = 25, p = 2 / C(10, 5) = 2 / 252.
     * Critical value 2: P(U <= 2) = (1 + 1 + 2) / 252, 2x < 0.05; P(U <= 3)
     * = 7 / 252, 2x > 0.05.  The 25 differences a_i - b_j = 10 + i - j take
     * v in 6..14 (5 - |v - 10| times each): 3rd smallest 7, 3rd largest 13 */
    {
        const double a[5] = {10, 11, 12, 13, 14}, b[5] = {0, 1, 2, 3, 4};
        CHECK(mushin_mannwhitney_test(a, 5, b, 5, 0.95, &r) == MUSHIN_OK);
        CHECK(r.statistic == 25.0 && close_p(r.pvalue, 2.0 / 252.0));
        CHECK(r.ci_low == 7.0 && r.ci_high == 13.0);
        CHECK(r.mean_diff == 10.0);
        /* with 3 and 3 no shift can be rejected at 95% */
        CHECK(mushin_mannwhitney_test(a, 3, b, 3, 0.95, &r) == MUSHIN_OK);
        CHECK(isinf(r.ci_low) && isinf(r.ci_high));
        {
            mushin_test_result q;
            CHECK(mushin_two_sample_test(MUSHIN_TEST_MANNWHITNEY, a, 5, b, 5, 0.95, &q) ==
                  MUSHIN_OK);
            CHECK(q.statistic == 25.0 && q.ci_low == 7.0 && q.ci_high == 13.0);
        }
    }
    /* 9 and 9 without ties: the normal approximation with continuity
     * correction, mu = 40.5, sigma^2 = 81 * 19 / 12; U = 81 */
    {
        double a[9], b[9];
        int i;
        for (i = 0; i < 9; i++) {
            a[i] = 100 + i;
            b[i] = i;
        }
        CHECK(mushin_mannwhitney_test(a, 9, b, 9, 0.95, &r) == MUSHIN_OK);
        CHECK(r.statistic == 81.0 && r.pvalue_method == MUSHIN_PVALUE_NORMAL);
        {
            const double want = two_sided_normal((40.5 - 0.5) / sqrt(81.0 * 19.0 / 12.0));
            CHECK(fabs(r.pvalue - want) <= 1e-12 * want);
        }
    }
}

static void
test_min_pvalue(void)
{
    /* Wilcoxon, 3 pairs: 2 / 2^3; 5 pairs: 2 / 2^5 */
    CHECK(close_p(mushin_min_pvalue(MUSHIN_TEST_WILCOXON, 3, 3), 0.25));
    CHECK(close_p(mushin_min_pvalue(MUSHIN_TEST_WILCOXON, 5, 5), 0.0625));
    /* Mann-Whitney, 3 and 3: 2 / C(6, 3); 4 and 4: 2 / C(8, 4) */
    CHECK(close_p(mushin_min_pvalue(MUSHIN_TEST_MANNWHITNEY, 3, 3), 0.1));
    CHECK(close_p(mushin_min_pvalue(MUSHIN_TEST_MANNWHITNEY, 4, 4), 2.0 / 70.0));
    /* 9 and 9: normal approximation at complete separation (as above) */
    {
        const double want = two_sided_normal((40.5 - 0.5) / sqrt(81.0 * 19.0 / 12.0));
        CHECK(fabs(mushin_min_pvalue(MUSHIN_TEST_MANNWHITNEY, 9, 9) - want) <= 1e-12 * want);
    }
    /* the t-tests reach any p once they have degrees of freedom */
    CHECK(mushin_min_pvalue(MUSHIN_TEST_WELCH, 2, 2) == 0.0);
    CHECK(isnan(mushin_min_pvalue(MUSHIN_TEST_WELCH, 1, 3)));
    CHECK(mushin_min_pvalue(MUSHIN_TEST_TTEST_IND, 1, 2) == 0.0);
    CHECK(isnan(mushin_min_pvalue(MUSHIN_TEST_TTEST_IND, 1, 1)));
    CHECK(mushin_min_pvalue(MUSHIN_TEST_TTEST_REL, 2, 2) == 0.0);
    CHECK(isnan(mushin_min_pvalue(MUSHIN_TEST_TTEST_REL, 1, 1)));
    CHECK(isnan(mushin_min_pvalue(MUSHIN_TEST_WILCOXON, 0, 0)));
    CHECK(isnan(mushin_min_pvalue(99, 5, 5)));
}

int
main(void)
{
    test_exact_distributions();
    test_wilcoxon_exact();
    test_wilcoxon_hodges_lehmann();
    test_wilcoxon_ties_zeros_identical();
    test_mannwhitney();
    test_min_pvalue();
    return ctest_summary();
}
