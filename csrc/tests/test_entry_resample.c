/*
 * test_entry_resample.c -- C-only tests of resample.h: rliable's aggregates
 * and their stratified bootstrap, Friedman and its post-hoc tests, the
 * chi-square, studentized-range and noncentral t distributions, and the
 * power of the tests.  No Python.
 *
 * Expected values are worked out by hand in the comments (trimmed means,
 * counts of pairs, ranks and rank sums) or are closed forms through libm
 * (exp, erfc); never values printed by the code under test.  Build and run
 * from the root:
 *
 *   cc -O2 -Wall -Wextra -std=c11 -pthread -Icsrc/kernels -Icsrc \
 *      csrc/tests/test_entry_resample.c csrc/kernels/[a-z]*.c -lm -o /tmp/t && /tmp/t
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
#include "resample.h"

static int
near(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want) + 1e-300;
}

static void
test_aggregates(void)
{
    /* 4 runs x 2 tasks, row-major */
    const double x[8] = {1, 10, 2, 20, 3, 30, 4, 40};
    double scratch[16], out[3];
    const double taus[3] = {2.5, 15.0, 100.0};
    const double gamma = 3.0;
    CHECK(mushin_aggregate_size(MUSHIN_AGG_IQM, 0) == 1);
    CHECK(mushin_aggregate_size(MUSHIN_AGG_IQM, 1) == -1);
    CHECK(mushin_aggregate_size(MUSHIN_AGG_OPTIMALITY_GAP, 1) == 1);
    CHECK(mushin_aggregate_size(MUSHIN_AGG_SCORE_PROFILE, 3) == 3);
    CHECK(mushin_aggregate_size(MUSHIN_AGG_SCORE_PROFILE, 0) == -1);
    CHECK(mushin_aggregate_size(99, 0) == -1);
    CHECK(mushin_aggregate_scratch(4, 2) == 10);
    /* task means 2.5 and 25: mean 13.75, median (of two) 13.75 */
    CHECK(mushin_aggregate(x, 4, 2, MUSHIN_AGG_MEAN, NULL, 0, scratch, out) == MUSHIN_OK);
    CHECK(out[0] == 13.75);
    CHECK(mushin_aggregate(x, 4, 2, MUSHIN_AGG_MEDIAN, NULL, 0, scratch, out) == MUSHIN_OK);
    CHECK(out[0] == 13.75);
    /* 8 scores sorted 1 2 3 4 10 20 30 40; int(0.25 * 8) = 2 cut per end:
     * mean of 3 4 10 20 = 9.25 */
    CHECK(mushin_aggregate(x, 4, 2, MUSHIN_AGG_IQM, NULL, 0, scratch, out) == MUSHIN_OK);
    CHECK(out[0] == 9.25);
    /* min(x, 3): 1 3 2 3 3 3 3 3, mean 21/8; gap 3 - 2.625 */
    CHECK(mushin_aggregate(x, 4, 2, MUSHIN_AGG_OPTIMALITY_GAP, &gamma, 1, scratch, out) == MUSHIN_OK);
    CHECK(out[0] == 0.375);
    /* > 2.5: 3 4 10 20 30 40 (6/8); > 15: 20 30 40 (3/8); > 100: none */
    CHECK(mushin_aggregate(x, 4, 2, MUSHIN_AGG_SCORE_PROFILE, taus, 3, scratch, out) == MUSHIN_OK);
    CHECK(out[0] == 0.75 && out[1] == 0.375 && out[2] == 0.0);
    /* task means 2.5, 25: > 2.5 one of two (strict), > 15 one, > 100 none */
    CHECK(mushin_aggregate(x, 4, 2, MUSHIN_AGG_AVERAGE_PROFILE, taus, 3, scratch, out) == MUSHIN_OK);
    CHECK(out[0] == 0.5 && out[1] == 0.5 && out[2] == 0.0);
    CHECK(mushin_aggregate(x, 0, 2, MUSHIN_AGG_MEAN, NULL, 0, scratch, out) == MUSHIN_EINVAL);
}

static void
test_bootstrap(void)
{
    const double x[12] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60}; /* 6 runs x 2 tasks */
    double one[300], many[300], scratch[32], resample[12], by_hand;
    int64_t run_idx[12], task_idx[2], again[12];
    int rep, i, ok = 1;
    /* indices: in range, a function of (seed, rep) only */
    mushin_stratified_indices(6, 2, 1, 77, 5, run_idx, task_idx);
    mushin_stratified_indices(6, 2, 1, 77, 5, again, task_idx);
    for (i = 0; i < 12; i++) {
        ok = ok && run_idx[i] >= 0 && run_idx[i] < 6 && run_idx[i] == again[i];
    }
    CHECK(ok);
    CHECK(task_idx[0] >= 0 && task_idx[0] < 2 && task_idx[1] >= 0 && task_idx[1] < 2);
    /* the bootstrap is the aggregate of the data at those indices, and the
     * same for 1 and 3 threads */
    CHECK(mushin_stratified_bootstrap(x, 6, 2, MUSHIN_AGG_IQM, NULL, 0, 1, 300, 77, 1, one) == MUSHIN_OK);
    CHECK(mushin_stratified_bootstrap(x, 6, 2, MUSHIN_AGG_IQM, NULL, 0, 1, 300, 77, 3, many) == MUSHIN_OK);
    CHECK(memcmp(one, many, sizeof(one)) == 0);
    for (rep = 0, ok = 1; rep < 300; rep += 37) {
        mushin_stratified_indices(6, 2, 1, 77, rep, run_idx, task_idx);
        for (i = 0; i < 12; i++) {
            resample[i] = x[run_idx[i] * 2 + task_idx[i % 2]];
        }
        mushin_aggregate(resample, 6, 2, MUSHIN_AGG_IQM, NULL, 0, scratch, &by_hand);
        ok = ok && by_hand == one[rep];
    }
    CHECK(ok);
    CHECK(mushin_stratified_bootstrap(x, 6, 2, MUSHIN_AGG_IQM, NULL, 1, 0, 10, 1, 1, one) == MUSHIN_EINVAL);
}

static void
test_improvement(void)
{
    /* one task: x = {1, 3}, y = {2, 3}: pairs x > y: (3, 2); ties (3, 3):
     * (1 + 0.5) / 4 */
    const double x[2] = {1, 3}, y[2] = {2, 3}, same[2] = {1, 3};
    double p, boot[200], boot2[200];
    CHECK(mushin_probability_of_improvement(x, 2, y, 2, 1, &p) == MUSHIN_OK && p == 0.375);
    CHECK(mushin_probability_of_improvement(x, 2, same, 2, 1, &p) == MUSHIN_OK && p == 0.5);
    CHECK(mushin_probability_of_improvement(x, 0, y, 2, 1, &p) == MUSHIN_EINVAL);
    CHECK(mushin_improvement_bootstrap(x, 2, y, 2, 1, 200, 9, 1, boot) == MUSHIN_OK);
    CHECK(mushin_improvement_bootstrap(x, 2, y, 2, 1, 200, 9, 4, boot2) == MUSHIN_OK);
    CHECK(memcmp(boot, boot2, sizeof(boot)) == 0);
    /* every resample is a count of pairs out of 4, halves included */
    {
        int i, ok = 1;
        for (i = 0; i < 200; i++) ok = ok && boot[i] >= 0 && boot[i] <= 1 && fmod(boot[i] * 8, 1) == 0;
        CHECK(ok);
    }
}

static void
test_distributions(void)
{
    /* chi-square with 2 df: exp(-x / 2) */
    CHECK(near(mushin_chi2_sf(3.0, 2.0), exp(-1.5), 1e-14));
    CHECK(near(mushin_chi2_sf(80.0, 2.0), exp(-40.0), 1e-13));
    /* 1 df: erfc(sqrt(x / 2)) */
    CHECK(near(mushin_chi2_sf(5.0, 1.0), erfc(sqrt(2.5)), 1e-13));
    CHECK(mushin_chi2_sf(0.0, 3.0) == 1.0 && isnan(mushin_chi2_sf(1.0, 0.0)));
    /* range of 2 normals = sqrt 2 |Z|: P(range > q) = erfc(q / 2) */
    CHECK(near(mushin_studentized_range_sf(1.0, 2), erfc(0.5), 1e-10));
    CHECK(near(mushin_studentized_range_sf(9.0, 2), erfc(4.5), 1e-9));
    CHECK(mushin_studentized_range_sf(0.0, 3) == 1.0 && isnan(mushin_studentized_range_sf(1.0, 1)));
    CHECK(near(mushin_studentized_range_sf(mushin_studentized_range_isf(0.05, 4), 4), 0.05, 1e-10));
    /* erfc(q / 2) = 0.05, i.e. P(|Z| > q / sqrt 2) = 0.05: q = sqrt 2 * 1.959963984540054 */
    CHECK(near(mushin_studentized_range_isf(0.05, 2), sqrt(2.0) * 1.959963984540054, 1e-10));
    /* noncentral t: nc = 0 is the central t; t = 0 gives Phi(-nc) */
    CHECK(mushin_nct_cdf(1.3, 7.0, 0.0) == mushin_t_cdf(1.3, 7.0));
    CHECK(near(mushin_nct_cdf(0.0, 5.0, 1.0), 0.5 * erfc(1.0 / sqrt(2.0)), 1e-14));
    CHECK(isnan(mushin_nct_cdf(1.0, -1.0, 1.0)));
    /* power: nc = 0 gives alpha */
    CHECK(near(mushin_t_test_power(10.0, 0.0, 0.05), 0.05, 1e-12));
}

static void
test_friedman(void)
{
    /* 4 blocks x 3 methods: ranks (1 2 3) (1 3 2) (1 2 3) (2 1 3);
     * rank sums 5 8 11; chi2 = 12 / (4 * 3 * 4) * (25 + 64 + 121) - 3 * 4 * 4
     * = 52.5 - 48 = 4.5 with 2 df: p = exp(-2.25) */
    const double x[12] = {1, 2, 3, 1, 3, 2, 1, 2, 3, 2, 1, 3};
    const double ties[6] = {1, 1, 1, 5, 5, 5};
    double ranks[12], mean_ranks[3], stat[9], p[9];
    mushin_friedman_result r;
    CHECK(mushin_rank_rows(x, 4, 3, ranks) == MUSHIN_OK);
    CHECK(ranks[9] == 2 && ranks[10] == 1 && ranks[11] == 3);
    {
        const double tied[3] = {7, 7, 1};
        double tr[3];
        CHECK(mushin_rank_rows(tied, 1, 3, tr) == MUSHIN_OK && tr[0] == 2.5 && tr[1] == 2.5 && tr[2] == 1);
    }
    CHECK(mushin_friedman(x, 4, 3, mean_ranks, &r) == MUSHIN_OK);
    CHECK(near(r.statistic, 4.5, 1e-14) && r.df == 2.0 && near(r.pvalue, exp(-2.25), 1e-13));
    CHECK(mean_ranks[0] == 1.25 && mean_ranks[1] == 2.0 && mean_ranks[2] == 2.75);
    CHECK(mushin_friedman(ties, 2, 3, mean_ranks, &r) == MUSHIN_EDEGENERATE && isnan(r.pvalue));
    CHECK(mushin_friedman(x, 4, 2, mean_ranks, &r) == MUSHIN_EINVAL);
    /* Nemenyi: |1.25 - 2.75| / sqrt(3 * 4 / 24) = 1.5 / sqrt(0.5) */
    CHECK(mushin_friedman_posthoc(x, 4, 3, MUSHIN_POSTHOC_NEMENYI, stat, p) == MUSHIN_OK);
    CHECK(near(stat[2], 1.5 / sqrt(0.5), 1e-14) && stat[6] == stat[2] && p[0] == 1.0 && stat[0] == 0.0);
    CHECK(near(p[2], mushin_studentized_range_sf(1.5 / sqrt(0.5) * sqrt(2.0), 3), 1e-15));
    /* Conover: A1 = 4 * 14 - 0 = 56 (each row's squares 1 + 4 + 9), S2 = (56 - 48) / 2 = 4,
     * T2 = ((5-8)^2 + 0 + (11-8)^2) / 4 = 4.5, df = 12 - 3 - 4 + 1 = 6,
     * A = 4 * 16 / 6, B = 1 - 4.5 / 8; t(0, 2) = 6 / sqrt(A) / sqrt(B) */
    CHECK(mushin_friedman_posthoc(x, 4, 3, MUSHIN_POSTHOC_CONOVER, stat, p) == MUSHIN_OK);
    CHECK(near(stat[2], 6.0 / sqrt(64.0 / 6.0) / sqrt(1.0 - 4.5 / 8.0), 1e-14));
    CHECK(near(p[2], 2.0 * mushin_t_sf(stat[2], 6.0), 1e-15));
    CHECK(mushin_friedman_posthoc(x, 4, 3, 7, stat, p) == MUSHIN_EINVAL);
}

static void
test_rank_power(void)
{
    double one = -1, many = -2, none = -3;
    CHECK(mushin_rank_test_power(MUSHIN_TEST_MANNWHITNEY, 8, 1.0, 1.0, 1.0, 0.05, 400, 3, 1, &one) == MUSHIN_OK);
    CHECK(mushin_rank_test_power(MUSHIN_TEST_MANNWHITNEY, 8, 1.0, 1.0, 1.0, 0.05, 400, 3, 5, &many) == MUSHIN_OK);
    CHECK(one == many && one > 0.05 && one < 1.0);
    /* 3 pairs: the signed-rank test's smallest p is 0.25, so never below 0.05 */
    CHECK(mushin_rank_test_power(MUSHIN_TEST_WILCOXON, 3, 10.0, 1.0, 0.0, 0.05, 200, 3, 2, &none) == MUSHIN_OK);
    CHECK(none == 0.0);
    CHECK(mushin_rank_test_power(MUSHIN_TEST_WELCH, 3, 1.0, 1.0, 1.0, 0.05, 10, 0, 1, &none) == MUSHIN_EINVAL);
}

int
main(void)
{
    test_aggregates();
    test_bootstrap();
    test_improvement();
    test_distributions();
    test_friedman();
    test_rank_power();
    return ctest_summary();
}
