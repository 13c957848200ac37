/*
 * test_entry_scores.c -- C-only tests of every entry point of scores.h:
 * the batch check, calibration (boundaries, the fixed-point sums
 * mushin_fixed_*, update, L1 error), the score store and AUROC.  No Python.
 *
 * Expected values are worked out by hand in the comments (dyadic
 * probabilities, so every sum is exact), or closed forms; never values
 * printed by the code under test.  Build and run from the repository root:
 *
 *   cc -O2 -Wall -Wextra -std=c11 -pthread -Icsrc/kernels -Icsrc \
 *      csrc/tests/test_entry_scores.c csrc/kernels/[a-z]*.c -lm -o /tmp/t && /tmp/t
 *
 * Closes with "N passed, M failed"; exits non-zero on any failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scores.h"

#include "ctest.h"

/* The six rows used by the calibration tests, as (p0, p1, label); the last
 * row is ignored (label 255).  By hand, with n_bins = 2 (boundaries 0, 0.5,
 * 1 and an extra slot for a confidence of exactly 1):
 *   row 0: conf 0.75, pred 0, label 0 -> slot 1, correct
 *   row 1: conf 0.75, pred 1, label 0 -> slot 1, wrong
 *   row 2: conf 0.5,  pred 0 (first maximum wins), label 0 -> slot 1, correct
 *   row 3: conf 1,    pred 1, label 1 -> slot 2, correct
 *   row 4: conf 0.375, pred 0, label 1 -> slot 0, wrong
 * count = {1, 3, 1}, correct = {0, 2, 1}, confidence sums {0.375, 2, 1};
 * ECE = (|0 - 0.375| + |2 - 2| + |1 - 1|) / 5 = 0.375 / 5. */
#define CAL_ROWS 6
static const double cal_p[CAL_ROWS][2] = {{0.75, 0.25}, {0.25, 0.75}, {0.5, 0.5},
                                          {0.0, 1.0},   {0.375, 0.125}, {0.875, 0.125}};
static const int64_t cal_label[CAL_ROWS] = {0, 0, 0, 1, 1, 255};
/* The same values as IEEE binary16 and bfloat16 bit patterns. */
static const uint16_t cal_f16[CAL_ROWS][2] = {{0x3A00, 0x3400}, {0x3400, 0x3A00}, {0x3800, 0x3800},
                                              {0x0000, 0x3C00}, {0x3600, 0x3000}, {0x3B00, 0x3000}};
static const uint16_t cal_bf16[CAL_ROWS][2] = {{0x3F40, 0x3E80}, {0x3E80, 0x3F40}, {0x3F00, 0x3F00},
                                               {0x0000, 0x3F80}, {0x3EC0, 0x3E00}, {0x3F60, 0x3E00}};

static mushin_label_view
labels64(const int64_t *x)
{
    mushin_label_view v = {(const char *)x, MUSHIN_INT64, sizeof(int64_t)};
    return v;
}

static void
test_scores_check(void)
{
    /* row 1: label 5 is out of range and 1.5 is not a probability; row 2 is
     * ignored, so its NaN is not looked at */
    const double p[3][2] = {{0.2, 0.8}, {1.5, 0.1}, {NAN, 0.0}};
    const int64_t y[3] = {0, 5, 255};
    const uint8_t y8[3] = {1, 0, 1};
    const mushin_prob_view pv = {(const char *)p, MUSHIN_FLOAT64, 2 * sizeof(double), sizeof(double)};
    mushin_label_view lv8 = {(const char *)y8, MUSHIN_UINT8, 1};
    mushin_score_check chk;
    CHECK(mushin_scores_check(3, 2, 1, 255, pv, labels64(y), &chk) == MUSHIN_EBADVALUE);
    CHECK(chk.kept == 2);
    CHECK(chk.labels_bad == 1 && chk.labels_first == 5 && chk.labels_first_row == 1);
    CHECK(chk.probs_bad == 1 && chk.probs_first == 1.5 && chk.probs_first_row == 1 &&
          chk.probs_first_class == 0);
    /* without ignore_index the NaN row counts: two bad probabilities, and
     * label 255 is a second bad label */
    CHECK(mushin_scores_check(3, 2, 0, 0, pv, labels64(y), &chk) == MUSHIN_EBADVALUE);
    CHECK(chk.kept == 3 && chk.labels_bad == 2 && chk.probs_bad == 2);
    /* the first row alone is clean */
    CHECK(mushin_scores_check(1, 2, 0, 0, pv, labels64(y), &chk) == MUSHIN_OK);
    CHECK(chk.kept == 1 && chk.labels_bad == 0 && chk.probs_bad == 0);
    /* uint8 labels {1, 0, 1} with ignore_index 1: rows 0 and 2 drop, and
     * the one kept row (label 0) holds 1.5 */
    CHECK(mushin_scores_check(3, 2, 1, 1, pv, lv8, &chk) == MUSHIN_EBADVALUE);
    CHECK(chk.kept == 1 && chk.labels_bad == 0 && chk.probs_bad == 1 && chk.probs_first_row == 1);
    /* arguments the caller should have rejected */
    CHECK(mushin_scores_check(-1, 2, 0, 0, pv, labels64(y), &chk) == MUSHIN_EINVAL);
    CHECK(mushin_scores_check(1, 0, 0, 0, pv, labels64(y), &chk) == MUSHIN_EINVAL);
    CHECK(mushin_scores_check(1, 2, 0, 0, pv, labels64(y), NULL) == MUSHIN_EINVAL);
}

static void
test_calibration_boundaries(void)
{
    float b4[5], b3[4];
    mushin_calibration_boundaries(4, b4);
    CHECK(b4[0] == 0.0f && b4[1] == 0.25f && b4[2] == 0.5f && b4[3] == 0.75f && b4[4] == 1.0f);
    /* i / 3 rounded once to float32 */
    mushin_calibration_boundaries(3, b3);
    CHECK(b3[0] == 0.0f && b3[1] == (float)(1.0 / 3.0) && b3[2] == (float)(2.0 / 3.0) &&
          b3[3] == 1.0f);
}

static void
test_fixed_add_and_cmp(void)
{
    const uint64_t M = UINT64_MAX;
    uint64_t a[4] = {M, 0, 0, 0}, one[4] = {1, 0, 0, 0};
    uint64_t chain[4] = {M, M, M, 0}, top[4] = {0, 0, 0, M}, top1[4] = {0, 0, 0, 1};
    CHECK(mushin_fixed_add(a, one) == 0);
    CHECK(a[0] == 0 && a[1] == 1 && a[2] == 0 && a[3] == 0);
    /* a carry runs through every limb */
    CHECK(mushin_fixed_add(chain, one) == 0);
    CHECK(chain[0] == 0 && chain[1] == 0 && chain[2] == 0 && chain[3] == 1);
    /* out of the top limb: reported, the sum kept modulo 2^256 */
    CHECK(mushin_fixed_add(top, top1) == 1);
    CHECK(top[0] == 0 && top[1] == 0 && top[2] == 0 && top[3] == 0);
    {
        uint64_t x[4] = {5, 0, 0, 1}, y[4] = {M, M, M, 0}, z[4] = {5, 0, 0, 1};
        CHECK(mushin_fixed_cmp(x, y) == 1); /* the top limb decides */
        CHECK(mushin_fixed_cmp(y, x) == -1);
        CHECK(mushin_fixed_cmp(x, z) == 0);
        z[0] = 6;
        CHECK(mushin_fixed_cmp(x, z) == -1);
    }
}

static void
test_fixed_to_double(void)
{
    /* units of 2^-149; 1.0 is 2^149 = limb 2, bit 21 */
    uint64_t v[4] = {0, 0, 0, 0};
    CHECK(mushin_fixed_to_double(v) == 0.0);
    v[0] = 1;
    CHECK(mushin_fixed_to_double(v) == ldexp(1.0, -149));
    v[0] = 0;
    v[2] = UINT64_C(1) << 21;
    CHECK(mushin_fixed_to_double(v) == 1.0);
    /* 1 + 2^-53 (half an ulp of 1, 2^96 units) is a tie: to even, 1 */
    v[1] = UINT64_C(1) << 32;
    CHECK(mushin_fixed_to_double(v) == 1.0);
    /* one unit above the tie rounds up */
    v[0] = 1;
    CHECK(mushin_fixed_to_double(v) == 1.0 + ldexp(1.0, -52));
    /* 1 + 1.5 ulp is a tie between 1 + ulp (odd) and 1 + 2 ulp (even) */
    v[0] = 0;
    v[1] = UINT64_C(3) << 32;
    CHECK(mushin_fixed_to_double(v) == 1.0 + ldexp(1.0, -51));
    /* the largest value: 2^256 - 1 units, just under 2^107 */
    {
        uint64_t m[4] = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
        CHECK(mushin_fixed_to_double(m) == ldexp(1.0, 256 - 149));
    }
}

static void
test_fixed_add_float(void)
{
    uint64_t v[4] = {0, 0, 0, 0};
    mushin_fixed_add_float(v, 1.0f);
    CHECK(v[0] == 0 && v[1] == 0 && v[2] == UINT64_C(1) << 21 && v[3] == 0);
    mushin_fixed_add_float(v, 0.5f);
    CHECK(v[2] == (UINT64_C(1) << 21 | UINT64_C(1) << 20));
    CHECK(mushin_fixed_to_double(v) == 1.5);
    /* the smallest subnormal float32 is one unit; the smallest normal 2^23 */
    memset(v, 0, sizeof v);
    mushin_fixed_add_float(v, ldexpf(1.0f, -149));
    CHECK(v[0] == 1 && v[1] == 0 && v[2] == 0);
    mushin_fixed_add_float(v, ldexpf(1.0f, -126));
    CHECK(v[0] == (UINT64_C(1) << 23) + 1);
    /* 0 adds nothing; 0.1f is exactly representable in the sum */
    memset(v, 0, sizeof v);
    mushin_fixed_add_float(v, 0.0f);
    CHECK(mushin_fixed_to_double(v) == 0.0);
    mushin_fixed_add_float(v, 0.1f);
    CHECK(mushin_fixed_to_double(v) == (double)0.1f);
    /* ten thousand 0.1f sum exactly to 10000 * (double)0.1f, which a
     * float accumulator would not */
    {
        int i;
        for (i = 1; i < 10000; i++) {
            mushin_fixed_add_float(v, 0.1f);
        }
        CHECK(mushin_fixed_to_double(v) == 10000.0 * (double)0.1f);
    }
}

/* Run calibration_update on the six rows in one layout and check the
 * hand-computed state and ECE. */
static void
check_calibration(mushin_prob_view pv, mushin_label_view lv, const char *what)
{
    float bnd[3];
    int64_t count[3] = {0, 0, 0}, correct[3] = {0, 0, 0};
    uint64_t conf[3 * MUSHIN_FIXED_LIMBS];
    int ok;
    memset(conf, 0, sizeof conf);
    mushin_calibration_boundaries(2, bnd);
    ok = mushin_calibration_update(CAL_ROWS, 2, 1, 255, pv, lv, bnd, 2, count, conf, correct) ==
         MUSHIN_OK;
    ok = ok && count[0] == 1 && count[1] == 3 && count[2] == 1;
    ok = ok && correct[0] == 0 && correct[1] == 2 && correct[2] == 1;
    ok = ok && mushin_fixed_to_double(conf) == 0.375 &&
         mushin_fixed_to_double(conf + MUSHIN_FIXED_LIMBS) == 2.0 &&
         mushin_fixed_to_double(conf + 2 * MUSHIN_FIXED_LIMBS) == 1.0;
    ok = ok && mushin_calibration_error_l1(3, count, conf, correct) == 0.375 / 5.0;
    if (!ok) {
        printf("  (layout: %s)\n", what);
    }
    CHECK(ok);
}

static void
test_calibration_update_and_error(void)
{
    double p64[CAL_ROWS][2], pT[2][CAL_ROWS];
    float p32[CAL_ROWS][2];
    int32_t y32[CAL_ROWS];
    int r, c;
    for (r = 0; r < CAL_ROWS; r++) {
        y32[r] = (int32_t)cal_label[r];
        for (c = 0; c < 2; c++) {
            p64[r][c] = cal_p[r][c];
            pT[c][r] = cal_p[r][c];
            p32[r][c] = (float)cal_p[r][c];
        }
    }
    {
        const mushin_prob_view v64 = {(const char *)p64, MUSHIN_FLOAT64, 16, 8};
        const mushin_prob_view v32 = {(const char *)p32, MUSHIN_FLOAT32, 8, 4};
        const mushin_prob_view v16 = {(const char *)cal_f16, MUSHIN_FLOAT16, 4, 2};
        const mushin_prob_view vbf = {(const char *)cal_bf16, MUSHIN_BFLOAT16, 4, 2};
        /* class-major memory: row stride 8, class stride 8 * CAL_ROWS */
        const mushin_prob_view vT = {(const char *)pT, MUSHIN_FLOAT64, 8, 8 * CAL_ROWS};
        /* rows read backwards: the same multiset, so the same state */
        const mushin_prob_view vrev = {(const char *)p64[CAL_ROWS - 1], MUSHIN_FLOAT64, -16, 8};
        int64_t yrev[CAL_ROWS];
        const mushin_label_view l32 = {(const char *)y32, MUSHIN_INT32, 4};
        for (r = 0; r < CAL_ROWS; r++) {
            yrev[r] = cal_label[CAL_ROWS - 1 - r];
        }
        check_calibration(v64, labels64(cal_label), "float64");
        check_calibration(v32, l32, "float32, int32 labels");
        check_calibration(v16, labels64(cal_label), "float16");
        check_calibration(vbf, labels64(cal_label), "bfloat16");
        check_calibration(vT, labels64(cal_label), "class-major");
        check_calibration(vrev, labels64(yrev), "negative row stride");
    }
    /* bad arguments write nothing */
    {
        const mushin_prob_view v64 = {(const char *)p64, MUSHIN_FLOAT64, 16, 8};
        float bnd[3] = {0.0f, 0.5f, 1.0f};
        int64_t count[3] = {0, 0, 0}, correct[3] = {0, 0, 0};
        uint64_t conf[3 * MUSHIN_FIXED_LIMBS] = {0};
        CHECK(mushin_calibration_update(CAL_ROWS, 2, 1, 255, v64, labels64(cal_label), bnd, 0,
                                        count, conf, correct) == MUSHIN_EINVAL);
        CHECK(mushin_calibration_update(CAL_ROWS, 2, 1, 255, v64, labels64(cal_label), NULL, 2,
                                        count, conf, correct) == MUSHIN_EINVAL);
        CHECK(mushin_calibration_update(-1, 2, 1, 255, v64, labels64(cal_label), bnd, 2, count,
                                        conf, correct) == MUSHIN_EINVAL);
        CHECK(count[0] == 0 && count[1] == 0 && count[2] == 0 && conf[0] == 0);
        /* every slot empty: NaN */
        CHECK(isnan(mushin_calibration_error_l1(3, count, conf, correct)));
    }
    /* perfect calibration: two rows at confidence 0.5, one right, one wrong */
    {
        int64_t count[2] = {0, 2}, correct[2] = {0, 1};
        uint64_t conf[2 * MUSHIN_FIXED_LIMBS] = {0};
        mushin_fixed_add_float(conf + MUSHIN_FIXED_LIMBS, 0.5f);
        mushin_fixed_add_float(conf + MUSHIN_FIXED_LIMBS, 0.5f);
        CHECK(mushin_calibration_error_l1(2, count, conf, correct) == 0.0);
        /* both right: |2 - 1| / 2 */
        correct[1] = 2;
        CHECK(mushin_calibration_error_l1(2, count, conf, correct) == 0.5);
    }
}

/* The C = 3 AUROC example: labels {0, 0, 1, 1}.
 * class 1 scores {0.125, 0.5, 0.375, 0.875}: positives 0.375, 0.875 beat
 * negatives (0.125, 0.5) in 3 of 4 pairs -> 0.75.
 * class 0 scores {0.875, 0.5, 0.625, 0.125}: positives 0.875, 0.5 against
 * 0.625, 0.125 -> 3 of 4 -> 0.75.
 * class 2 has no positives -> 0.  macro = 1.5 / 3 = 0.5. */
static const double au_p[4][3] = {
    {0.875, 0.125, 0.0}, {0.5, 0.5, 0.0}, {0.625, 0.375, 0.0}, {0.125, 0.875, 0.0}};
static const int64_t au_y[4] = {0, 0, 1, 1};

static void
test_score_store_and_auroc(void)
{
    mushin_score_store s, copy;
    double per[3], macro;
    float p32[4][3];
    int r, c;
    const mushin_prob_view v32 = {(const char *)p32, MUSHIN_FLOAT32, 12, 4};
    const mushin_prob_view v64 = {(const char *)au_p, MUSHIN_FLOAT64, 24, 8};
    for (r = 0; r < 4; r++) {
        for (c = 0; c < 3; c++) {
            p32[r][c] = (float)au_p[r][c];
        }
    }
    mushin_score_store_init(&s, 3);
    CHECK(s.rows == 0 && mushin_score_store_nbytes(&s) == 0);
    /* empty: NaN */
    CHECK(mushin_auroc(&s, per, &macro) == MUSHIN_OK && isnan(macro) && isnan(per[0]));
    /* appending before reserving is refused, nothing written */
    CHECK(mushin_score_store_append(&s, 4, 0, 0, v32, labels64(au_y)) == MUSHIN_EINVAL);
    CHECK(s.rows == 0);
    CHECK(mushin_score_store_reserve(&s, -1) == MUSHIN_EINVAL);
    CHECK(mushin_score_store_reserve(&s, 4) == MUSHIN_OK);
    /* at least rows * (C * 4 + 4) bytes for float32 scores */
    CHECK(mushin_score_store_nbytes(&s) >= 4 * (3 * 4 + 4));
    /* float64 input needs a widened store */
    CHECK(mushin_score_store_append(&s, 4, 0, 0, v64, labels64(au_y)) == MUSHIN_EINVAL);
    /* a label outside [0, C) is refused before anything is written */
    {
        const int64_t bad_y[4] = {0, 0, 3, 1};
        CHECK(mushin_score_store_append(&s, 4, 0, 0, v32, labels64(bad_y)) == MUSHIN_EINVAL);
        CHECK(s.rows == 0);
    }
    CHECK(mushin_score_store_append(&s, 4, 0, 0, v32, labels64(au_y)) == MUSHIN_OK);
    CHECK(s.rows == 4 && !s.wide);
    /* the rows come back out as they went in, row-major */
    {
        float out[4][3];
        int32_t out_y[4];
        int ok = 1;
        mushin_score_store_export(&s, out, out_y);
        for (r = 0; r < 4; r++) {
            ok = ok && out_y[r] == au_y[r];
            for (c = 0; c < 3; c++) ok = ok && out[r][c] == p32[r][c];
        }
        CHECK(ok);
    }
    CHECK(mushin_auroc(&s, per, &macro) == MUSHIN_OK);
    CHECK(per[0] == 0.75 && per[1] == 0.75 && per[2] == 0.0 && macro == 0.5);

    /* a deep copy answers the same and holds as many bytes */
    mushin_score_store_init(&copy, 3);
    CHECK(mushin_score_store_copy(&copy, &s) == MUSHIN_OK);
    CHECK(copy.rows == 4 && mushin_score_store_nbytes(&copy) == mushin_score_store_nbytes(&s));
    {
        double per2[3], macro2;
        CHECK(mushin_auroc(&copy, per2, &macro2) == MUSHIN_OK && macro2 == 0.5 && per2[0] == 0.75);
    }

    /* widening keeps the rows (8 bytes a score instead of 4: the same blocks
     * grow from C * 4 + 4 to C * 8 + 4 bytes a row) */
    {
        const int64_t before = mushin_score_store_nbytes(&s);
        CHECK(mushin_score_store_widen(&s) == MUSHIN_OK && s.wide && s.rows == 4);
        CHECK(mushin_score_store_nbytes(&s) * (3 * 4 + 4) == before * (3 * 8 + 4));
        CHECK(mushin_score_store_widen(&s) == MUSHIN_OK); /* already wide: nothing to do */
        CHECK(mushin_auroc(&s, per, &macro) == MUSHIN_OK && macro == 0.5 && per[1] == 0.75);
        /* exported as float64 now, the same values */
        {
            double out[4][3];
            int32_t out_y[4];
            int ok = 1;
            mushin_score_store_export(&s, out, out_y);
            for (r = 0; r < 4; r++) {
                ok = ok && out_y[r] == au_y[r];
                for (c = 0; c < 3; c++) ok = ok && out[r][c] == au_p[r][c];
            }
            CHECK(ok);
        }
    }
    /* an ignored row is dropped; a tie counts half: class 1's extra
     * positive scores 0.5 against the negative 0.5 -> 3 + 0.5 + 2 of 6,
     * i.e. positives {0.375, 0.875, 0.5} vs negatives {0.125, 0.5}:
     * 0.375 > 0.125; 0.875 > both; 0.5 > 0.125, 0.5 ties 0.5 -> 4.5 / 6 */
    {
        const double more_p[2][3] = {{0.5, 0.5, 0.0}, {0.25, 0.75, 0.0}};
        const int64_t more_y[2] = {1, 255};
        const mushin_prob_view vm = {(const char *)more_p, MUSHIN_FLOAT64, 24, 8};
        CHECK(mushin_score_store_reserve(&s, 2) == MUSHIN_OK);
        CHECK(mushin_score_store_append(&s, 2, 1, 255, vm, labels64(more_y)) == MUSHIN_OK);
        CHECK(s.rows == 5);
        CHECK(mushin_auroc(&s, per, &macro) == MUSHIN_OK);
        CHECK(per[1] == 4.5 / 6.0);
        /* class 0: positives {0.875, 0.5} vs negatives {0.625, 0.125, 0.5}:
         * 0.875 beats 3, 0.5 beats 0.125 and ties 0.5 -> 4.5 / 6 */
        CHECK(per[0] == 4.5 / 6.0 && per[2] == 0.0);
    }
    mushin_score_store_clear(&s);
    CHECK(s.rows == 0 && mushin_score_store_nbytes(&s) == 0);
    mushin_score_store_clear(&copy);
}

/* Many rows, over a block boundary: label i % 2, class-1 score i * 2^-18
 * (exact in float32), class-0 score 1 - that.  With N = 2M rows, the
 * positive 2m + 1 of class 1 outranks the m + 1 negatives 0, 2, ..., 2m:
 * sum_{m<M} (m + 1) = M (M + 1) / 2 of M^2 pairs -> (M + 1) / (2 M); class 0
 * is the mirror image. */
static void
test_auroc_many_rows(void)
{
    enum { M = 100000, N = 2 * M };
    float *p = (float *)malloc((size_t)N * 2 * sizeof(float));
    int32_t *y = (int32_t *)malloc((size_t)N * sizeof(int32_t));
    mushin_score_store s;
    double per[2], macro;
    int64_t i;
    if (p == NULL || y == NULL) {
        CHECK(!"out of memory");
        free(p);
        free(y);
        return;
    }
    for (i = 0; i < N; i++) {
        p[2 * i + 1] = ldexpf((float)i, -18);
        p[2 * i] = 1.0f - p[2 * i + 1];
        y[i] = (int32_t)(i % 2);
    }
    mushin_score_store_init(&s, 2);
    {
        const mushin_prob_view v = {(const char *)p, MUSHIN_FLOAT32, 8, 4};
        const mushin_label_view l = {(const char *)y, MUSHIN_INT32, 4};
        /* two batches, so the second starts mid-block */
        CHECK(mushin_score_store_reserve(&s, 1000) == MUSHIN_OK);
        CHECK(mushin_score_store_append(&s, 1000, 0, 0, v, l) == MUSHIN_OK);
        const mushin_prob_view v2 = {(const char *)(p + 2000), MUSHIN_FLOAT32, 8, 4};
        const mushin_label_view l2 = {(const char *)(y + 1000), MUSHIN_INT32, 4};
        CHECK(mushin_score_store_reserve(&s, N - 1000) == MUSHIN_OK);
        CHECK(mushin_score_store_append(&s, N - 1000, 0, 0, v2, l2) == MUSHIN_OK);
    }
    CHECK(s.rows == N && s.n_blocks >= 2);
    CHECK(mushin_auroc(&s, per, &macro) == MUSHIN_OK);
    CHECK(per[0] == (M + 1.0) / (2.0 * M) && per[1] == (M + 1.0) / (2.0 * M));
    CHECK(macro == (M + 1.0) / (2.0 * M));
    mushin_score_store_clear(&s);
    free(p);
    free(y);
}

int
main(void)
{
    test_scores_check();
    test_calibration_boundaries();
    test_fixed_add_and_cmp();
    test_fixed_to_double();
    test_fixed_add_float();
    test_calibration_update_and_error();
    test_score_store_and_auroc();
    test_auroc_many_rows();
    return ctest_summary();
}
