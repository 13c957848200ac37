/*
 * test_rng.c -- C-only tests of csrc/kernels/rng_internal.h, no Python.
 *
 * The SplitMix64 outputs are checked against the published reference
 * sequence for state 0 (Vigna's splitmix64.c: 0xe220a8397b1dcdaf, ...);
 * the three 64x64 high-multiply paths against each other; mushin_rng_below
 * for range, exact uniformity on a small modulus (a chi-square bound) and
 * the rejection threshold; streams for independence of the thread layout.
 *
 * Prints one line per failure and closes with "N passed, M failed"; exits
 * non-zero on any failure.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/rng_internal.h"

#include "ctest.h"

static void test_reference_sequence(void) {
    /* splitmix64 with x = 0, as printed by the reference implementation */
    const uint64_t expected[3] = {UINT64_C(0xe220a8397b1dcdaf), UINT64_C(0x6e789e6aa1b965f4),
                                  UINT64_C(0x06c45d188009454f)};
    mushin_rng rng = {0};
    for (int i = 0; i < 3; i++) CHECK(mushin_rng_next(&rng) == expected[i]);
}

static void test_mul_hi(void) {
    mushin_rng rng;
    mushin_rng_init(&rng, 7, 0);
    CHECK(mushin_mul_hi64_portable(UINT64_MAX, UINT64_MAX) == UINT64_MAX - 1);
    CHECK(mushin_mul_hi64_portable(UINT64_C(1) << 32, UINT64_C(1) << 32) == 1);
    CHECK(mushin_mul_hi64_portable(0, UINT64_MAX) == 0);
    int agree = 1;
    for (int i = 0; i < 100000; i++) {
        const uint64_t a = mushin_rng_next(&rng), b = mushin_rng_next(&rng) >> (i % 64);
        if (mushin_mul_hi64_portable(a, b) != mushin_mul_hi64(a, b)) agree = 0;
    }
    CHECK(agree);
}

static void test_below(void) {
    mushin_rng rng;
    mushin_rng_init(&rng, 123, 4);
    int in_range = 1;
    for (uint64_t n = 1; n < 2000; n++)
        for (int k = 0; k < 20; k++)
            if (mushin_rng_below(&rng, n) >= n) in_range = 0;
    CHECK(in_range);
    /* n = 2^63 + 1 rejects almost half of all draws: still in range */
    const uint64_t big = (UINT64_C(1) << 63) + 1;
    int big_ok = 1;
    for (int k = 0; k < 1000; k++)
        if (mushin_rng_below(&rng, big) >= big) big_ok = 0;
    CHECK(big_ok);
    CHECK(mushin_rng_below(&rng, 1) == 0);

    /* chi-square over 7 cells, 700000 draws: 6 degrees of freedom, the
     * 0.9999 quantile is 27.9 */
    enum { CELLS = 7, DRAWS = 700000 };
    long count[CELLS] = {0};
    for (int k = 0; k < DRAWS; k++) count[mushin_rng_below(&rng, CELLS)]++;
    double chi2 = 0.0;
    for (int c = 0; c < CELLS; c++) {
        const double d = (double)count[c] - DRAWS / (double)CELLS;
        chi2 += d * d / (DRAWS / (double)CELLS);
    }
    CHECK(chi2 < 27.9);
}

static void test_uniform(void) {
    mushin_rng rng;
    mushin_rng_init(&rng, 99, 1);
    int ok = 1;
    double sum = 0.0;
    for (int k = 0; k < 100000; k++) {
        const double u = mushin_rng_uniform(&rng);
        if (!(u >= 0.0 && u < 1.0)) ok = 0;
        sum += u;
    }
    CHECK(ok);
    CHECK(sum / 100000 > 0.49 && sum / 100000 < 0.51);
}

static void test_streams(void) {
    /* the same (seed, stream) gives the same draws wherever it is used */
    mushin_rng a, b, c, d;
    mushin_rng_init(&a, 5, 17);
    mushin_rng_init(&b, 5, 17);
    mushin_rng_init(&c, 5, 18);
    mushin_rng_init(&d, 6, 17);
    int same = 1, differ_stream = 0, differ_seed = 0;
    for (int k = 0; k < 64; k++) {
        const uint64_t x = mushin_rng_next(&a), y = mushin_rng_next(&b);
        if (x != y) same = 0;
        if (x != mushin_rng_next(&c)) differ_stream++;
        if (x != mushin_rng_next(&d)) differ_seed++;
    }
    CHECK(same);
    CHECK(differ_stream == 64);
    CHECK(differ_seed == 64);
}

int main(void) {
    test_reference_sequence();
    test_mul_hi();
    test_below();
    test_uniform();
    test_streams();
    return ctest_summary();
}
