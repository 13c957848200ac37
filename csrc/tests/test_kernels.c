/*
 * test_kernels.c -- the C kernels tested without Python.
 *
 * Build and run with `make ckernels`.  Expected values are closed forms
 * (Cauchy and df = 2, 4 Student-t distributions, small confusion matrices
 * counted by hand), never the output of the code under test.  Exits non-zero
 * if any check fails.
 */
#include "mushin_kernels.h"
#include "scores.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#include "ctest.h"

/* |got - want| <= rel * |want| (+ a tiny absolute floor) */
static int
close_rel(double got, double want, double rel)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= rel * fabs(want) + 1e-300;
}

#define CHECK_REL(got, want, rel)                                             \
    do {                                                                      \
        const double g_ = (got), w_ = (want);                                 \
        if (close_rel(g_, w_, rel)) {                                         \
            passed++;                                                         \
        }                                                                     \
        else {                                                                \
            failed++;                                                         \
            fprintf(stderr, "%s:%d: %s: %s = %.17g, want %.17g\n", __FILE__,  \
                    __LINE__, __func__, #got, g_, w_);                        \
        }                                                                     \
    } while (0)

static int
counts_equal(const int64_t *a, const int64_t *b, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        if (a[i] != b[i]) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ confusion -- */

static mushin_index_view
view(const void *data, mushin_itype type, const int64_t *strides)
{
    mushin_index_view v;
    v.data = (const char *)data;
    v.type = type;
    v.strides = strides;
    return v;
}

static void
test_confusion_contiguous_int64(void)
{
    const int64_t preds[6] = {0, 1, 2, 2, 1, 0};
    const int64_t target[6] = {0, 1, 1, 2, 2, 2};
    const int64_t shape[1] = {6}, strides[1] = {8};
    const int64_t want[9] = {1, 0, 0, /**/ 0, 1, 1, /**/ 1, 1, 1};
    int64_t counts[9] = {0};
    mushin_bad_values bad;
    int status = mushin_confusion_count(counts, 3, 0, 0, 1, shape,
                                        view(preds, MUSHIN_INT64, strides),
                                        view(target, MUSHIN_INT64, strides), &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts_equal(counts, want, 9));
    /* counts accumulate */
    status = mushin_confusion_count(counts, 3, 0, 0, 1, shape,
                                    view(preds, MUSHIN_INT64, strides),
                                    view(target, MUSHIN_INT64, strides), &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts[0] == 2 && counts[5] == 2 && counts[8] == 2);
}

static void
test_confusion_every_type_pair(void)
{
    /* same values in each type; every (preds, target) type pair counts alike */
    const int8_t i8[5] = {0, 1, 2, 3, 1};
    const int16_t i16[5] = {0, 1, 2, 3, 1};
    const int32_t i32[5] = {0, 1, 2, 3, 1};
    const int64_t i64[5] = {0, 1, 2, 3, 1};
    const uint8_t u8[5] = {0, 1, 2, 3, 1};
    const uint16_t u16[5] = {0, 1, 2, 3, 1};
    const uint32_t u32[5] = {0, 1, 2, 3, 1};
    const void *data[7] = {i8, i16, i32, i64, u8, u16, u32};
    const mushin_itype types[7] = {MUSHIN_INT8, MUSHIN_INT16, MUSHIN_INT32, MUSHIN_INT64,
                                   MUSHIN_UINT8, MUSHIN_UINT16, MUSHIN_UINT32};
    const int64_t sizes[7] = {1, 2, 4, 8, 1, 2, 4};
    const int64_t shape[1] = {5};
    int i, j, all_ok = 1;
    for (i = 0; i < 7; i++) {
        for (j = 0; j < 7; j++) {
            int64_t counts[16] = {0};
            mushin_bad_values bad;
            const int64_t ps[1] = {sizes[i]};
            /* target is the reversed sequence read through a negative stride */
            const int64_t ts_neg[1] = {-sizes[j]};
            int status = mushin_confusion_count(
                counts, 4, 0, 0, 1, shape, view(data[i], types[i], ps),
                view((const char *)data[j] + 4 * sizes[j], types[j], ts_neg), &bad);
            /* pairs (p, t): (0,1) (1,3) (2,2) (3,1) (1,0) */
            const int64_t want[16] = {0, 1, 0, 0, /**/ 1, 0, 0, 1, /**/ 0, 0, 1, 0, /**/ 0, 1, 0, 0};
            if (status != MUSHIN_OK || !counts_equal(counts, want, 16)) {
                fprintf(stderr, "type pair (%d, %d) failed\n", i, j);
                all_ok = 0;
            }
        }
    }
    CHECK(all_ok);
}

static void
test_confusion_strided_2d(void)
{
    /* a 3x4 int32 array read transposed (4x3) against a 4x3 target holding the
     * transposed values in a buffer with a row pitch of 5 elements */
    const int32_t p[12] = {0, 1, 2, 0, /**/ 1, 1, 2, 2, /**/ 0, 0, 1, 2};
    int16_t t[4 * 5];
    const int64_t shape[2] = {4, 3};
    const int64_t ps[2] = {4, 16};         /* transposed: step 1 element, then a row */
    const int64_t ts[2] = {5 * 2, 2};      /* row pitch 5 int16 */
    int64_t counts[9] = {0}, want[9] = {0};
    mushin_bad_values bad;
    int r, c, status;
    memset(t, 0x7f, sizeof(t)); /* padding holds out-of-range values */
    for (r = 0; r < 4; r++) {
        for (c = 0; c < 3; c++) {
            t[r * 5 + c] = (int16_t)p[c * 4 + r];   /* perfect predictions */
            want[p[c * 4 + r] * 3 + p[c * 4 + r]]++;
        }
    }
    status = mushin_confusion_count(counts, 3, 0, 0, 2, shape, view(p, MUSHIN_INT32, ps),
                                    view(t, MUSHIN_INT16, ts), &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts_equal(counts, want, 9));
    CHECK(counts[0] + counts[4] + counts[8] == 12);
}

static void
test_confusion_long_inner_dimension(void)
{
    /* longer than one internal chunk, with a stride, and a size not a multiple of it */
    enum { N = 5000 };
    static uint8_t p[2 * N];
    static int64_t t[N];
    const int64_t shape[1] = {N}, ps[1] = {2}, ts[1] = {8};
    int64_t counts[49] = {0}, want[49] = {0};
    mushin_bad_values bad;
    int i, status;
    for (i = 0; i < N; i++) {
        p[2 * i] = (uint8_t)(i % 7);
        p[2 * i + 1] = 200; /* never read */
        t[i] = (i / 3) % 7;
        want[t[i] * 7 + p[2 * i]]++;
    }
    status = mushin_confusion_count(counts, 7, 0, 0, 1, shape, view(p, MUSHIN_UINT8, ps),
                                    view(t, MUSHIN_INT64, ts), &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts_equal(counts, want, 49));
}

static void
test_confusion_zero_d_and_empty(void)
{
    const int16_t p = 2;
    const uint8_t t = 1;
    int64_t counts[9] = {0};
    mushin_bad_values bad;
    const int64_t empty_shape[2] = {3, 0}, strides[2] = {0, 0};
    int status = mushin_confusion_count(counts, 3, 0, 0, 0, NULL, view(&p, MUSHIN_INT16, NULL),
                                        view(&t, MUSHIN_UINT8, NULL), &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts[1 * 3 + 2] == 1);
    status = mushin_confusion_count(counts, 3, 0, 0, 2, empty_shape,
                                    view(NULL, MUSHIN_INT64, strides),
                                    view(NULL, MUSHIN_INT64, strides), &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts[5] == 1 && counts[0] == 0);
}

static void
test_confusion_ignore_index(void)
{
    const int64_t shape[1] = {6}, s[1] = {8};
    int64_t counts[9];
    mushin_bad_values bad;
    int status;
    /* outside the class range: void predicted as void is allowed */
    {
        const int64_t p[6] = {0, 255, 2, 1, 1, 2};
        const int64_t t[6] = {0, 255, 255, 1, 2, 2};
        const int64_t want[9] = {1, 0, 0, /**/ 0, 1, 0, /**/ 0, 1, 1};
        memset(counts, 0, sizeof(counts));
        status = mushin_confusion_count(counts, 3, 1, 255, 1, shape, view(p, MUSHIN_INT64, s),
                                        view(t, MUSHIN_INT64, s), &bad);
        CHECK(status == MUSHIN_OK);
        CHECK(counts_equal(counts, want, 9));
    }
    /* inside the class range: the class's target rows are skipped, predictions
     * of it at other positions still count */
    {
        const int64_t p[6] = {0, 1, 1, 1, 0, 2};
        const int64_t t[6] = {0, 1, 1, 2, 2, 2};
        const int64_t want[9] = {1, 0, 0, /**/ 0, 0, 0, /**/ 1, 1, 1};
        memset(counts, 0, sizeof(counts));
        status = mushin_confusion_count(counts, 3, 1, 1, 1, shape, view(p, MUSHIN_INT64, s),
                                        view(t, MUSHIN_INT64, s), &bad);
        CHECK(status == MUSHIN_OK);
        CHECK(counts_equal(counts, want, 9));
    }
    /* a negative ignore_index */
    {
        const int8_t p[6] = {0, -1, 1, 2, 2, 0};
        const int8_t t[6] = {0, -1, -1, 2, 1, 0};
        const int64_t s1[1] = {1};
        const int64_t want[9] = {2, 0, 0, /**/ 0, 0, 1, /**/ 0, 0, 1};
        memset(counts, 0, sizeof(counts));
        status = mushin_confusion_count(counts, 3, 1, -1, 1, shape, view(p, MUSHIN_INT8, s1),
                                        view(t, MUSHIN_INT8, s1), &bad);
        CHECK(status == MUSHIN_OK);
        CHECK(counts_equal(counts, want, 9));
    }
}

static void
test_confusion_bad_values(void)
{
    const int64_t shape[1] = {7}, s[1] = {8};
    /* target 5 at 2 and 9 at 6; preds 7 at 1 and 255 (not at an ignored
     * position) at 4; 255 at position 5 sits on an ignored target: allowed */
    const int64_t p[7] = {0, 7, 1, 2, 255, 255, 0};
    const int64_t t[7] = {0, 1, 5, 2, 1, 255, 9};
    int64_t counts[9] = {3, 0, 0, 0, 3, 0, 0, 0, 3};
    const int64_t before[9] = {3, 0, 0, 0, 3, 0, 0, 0, 3};
    mushin_bad_values bad;
    int status = mushin_confusion_validate(3, 1, 255, 1, shape, view(p, MUSHIN_INT64, s),
                                           view(t, MUSHIN_INT64, s), &bad);
    CHECK(status == MUSHIN_EBADVALUE);
    CHECK(bad.target_bad == 2 && bad.target_first == 5 && bad.target_first_pos == 2);
    CHECK(bad.preds_bad == 2 && bad.preds_first == 7 && bad.preds_first_pos == 1);
    CHECK(counts_equal(counts, before, 9)); /* validate never writes */

    /* no ignore_index: 255 targets are bad too */
    status = mushin_confusion_validate(3, 0, 0, 1, shape, view(p, MUSHIN_INT64, s),
                                       view(t, MUSHIN_INT64, s), &bad);
    CHECK(status == MUSHIN_EBADVALUE);
    CHECK(bad.target_bad == 3 && bad.preds_bad == 3);

    /* counting into scratch reports the same */
    {
        int64_t scratch[9] = {0};
        status = mushin_confusion_count(scratch, 3, 1, 255, 1, shape, view(p, MUSHIN_INT64, s),
                                        view(t, MUSHIN_INT64, s), &bad);
        CHECK(status == MUSHIN_EBADVALUE);
        CHECK(bad.target_bad == 2 && bad.preds_bad == 2);
    }
    /* negative values in signed types, large ones in unsigned types */
    {
        const int16_t pn[3] = {0, -3, 1};
        const uint32_t tn[3] = {0, 1, 4000000000u};
        const int64_t shape3[1] = {3}, s2[1] = {2}, s4[1] = {4};
        status = mushin_confusion_validate(3, 0, 0, 1, shape3, view(pn, MUSHIN_INT16, s2),
                                           view(tn, MUSHIN_UINT32, s4), &bad);
        CHECK(status == MUSHIN_EBADVALUE);
        CHECK(bad.preds_bad == 1 && bad.preds_first == -3 && bad.preds_first_pos == 1);
        CHECK(bad.target_bad == 1 && bad.target_first == 4000000000LL);
    }
}

static void
test_confusion_invalid_arguments(void)
{
    const int64_t v = 0, shape[1] = {1}, s[1] = {8}, neg_shape[1] = {-1};
    int64_t counts[4] = {0};
    mushin_bad_values bad;
    CHECK(mushin_confusion_count(NULL, 2, 0, 0, 1, shape, view(&v, MUSHIN_INT64, s),
                                 view(&v, MUSHIN_INT64, s), &bad) == MUSHIN_EINVAL);
    CHECK(mushin_confusion_count(counts, 0, 0, 0, 1, shape, view(&v, MUSHIN_INT64, s),
                                 view(&v, MUSHIN_INT64, s), &bad) == MUSHIN_EINVAL);
    CHECK(mushin_confusion_count(counts, 2, 0, 0, MUSHIN_MAX_NDIM + 1, shape,
                                 view(&v, MUSHIN_INT64, s), view(&v, MUSHIN_INT64, s),
                                 &bad) == MUSHIN_EINVAL);
    CHECK(mushin_confusion_count(counts, 2, 0, 0, 1, neg_shape, view(&v, MUSHIN_INT64, s),
                                 view(&v, MUSHIN_INT64, s), &bad) == MUSHIN_EINVAL);
    CHECK(mushin_confusion_validate(2, 0, 0, 1, shape, view(&v, MUSHIN_INT64, s),
                                    view(&v, MUSHIN_INT64, s), NULL) == MUSHIN_EINVAL);
    CHECK(counts[0] == 0 && counts[1] == 0 && counts[2] == 0 && counts[3] == 0);
}

static void
test_counts_add(void)
{
    int64_t a[3] = {1, 2, 3};
    const int64_t b[3] = {10, 0, -3};
    mushin_counts_add(a, b, 3);
    CHECK(a[0] == 11 && a[1] == 2 && a[2] == 0);
}

/* ------------------------------------------------- fused logits path -- */

static mushin_float_view
fview(const void *data, mushin_ftype type, const int64_t *strides)
{
    mushin_float_view v;
    v.data = (const char *)data;
    v.type = type;
    v.strides = strides;
    return v;
}

/* One image of 4 classes x 5 pixels, written by hand so that the argmax of
 * each pixel is known: a plain maximum, a tie (first wins), a NaN after a
 * larger number (NaN wins), two NaNs (the first wins), -0.0 against 0.0
 * (tie, first wins).  Argmax: 2, 1, 3, 0, 1. */
#define NAN_F (0.0f / 0.0f)
static const float FUSED_LOGITS[4][5] = {
    {0.0f, 1.0f, 5.0f, NAN_F, -1.0f},
    {1.0f, 3.0f, 2.0f, 0.0f, -0.0f},
    {4.0f, 3.0f, 1.0f, NAN_F, 0.0f},
    {-2.0f, 3.0f, NAN_F, 1.0f, -3.0f},
};

static void
test_fused_layouts_ties_and_nan(void)
{
    const int64_t target[5] = {2, 1, 0, 0, 3}; /* pairs (t, p): (2,2) (1,1) (0,3) (0,0) (3,1) */
    const int64_t want[16] = {1, 0, 0, 1, /**/ 0, 1, 0, 0, /**/ 0, 0, 1, 0, /**/ 0, 1, 0, 0};
    float nhwc[5][4];
    const int64_t nchw_shape[3] = {1, 4, 5}, nchw_strides[3] = {80, 20, 4};
    const int64_t nhwc_shape[3] = {1, 5, 4}, nhwc_strides[3] = {80, 16, 4};
    const int64_t tshape_strides[2] = {40, 8};
    int64_t counts[16] = {0};
    mushin_bad_values bad;
    int c, i, status;

    status = mushin_confusion_count_logits(counts, 4, 0, 0, 3, nchw_shape, 1,
                                           fview(FUSED_LOGITS, MUSHIN_FLOAT32, nchw_strides),
                                           view(target, MUSHIN_INT64, tshape_strides), 1, &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts_equal(counts, want, 16));

    for (c = 0; c < 4; c++) {
        for (i = 0; i < 5; i++) {
            nhwc[i][c] = FUSED_LOGITS[c][i];
        }
    }
    memset(counts, 0, sizeof(counts));
    status = mushin_confusion_count_logits(counts, 4, 0, 0, 3, nhwc_shape, 2,
                                           fview(nhwc, MUSHIN_FLOAT32, nhwc_strides),
                                           view(target, MUSHIN_INT64, tshape_strides), 1, &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts_equal(counts, want, 16));
}

static void
test_fused_half_and_bfloat(void)
{
    /* the same values as binary16 and bfloat16 bit patterns, read through a
     * negative pixel stride (pixels reversed, target reversed with them) */
    static const uint16_t half[4][5] = {
        {0x0000, 0x3c00, 0x4500, 0x7e00, 0xbc00},
        {0x3c00, 0x4200, 0x4000, 0x0000, 0x8000},
        {0x4400, 0x4200, 0x3c00, 0x7e00, 0x0000},
        {0xc000, 0x4200, 0x7e00, 0x3c00, 0xc200},
    };
    static const uint16_t bf16[4][5] = {
        {0x0000, 0x3f80, 0x40a0, 0x7fc0, 0xbf80},
        {0x3f80, 0x4040, 0x4000, 0x0000, 0x8000},
        {0x4080, 0x4040, 0x3f80, 0x7fc0, 0x0000},
        {0xc000, 0x4040, 0x7fc0, 0x3f80, 0xc040},
    };
    const int64_t target[5] = {2, 1, 0, 0, 3}; /* reversed along with the logits */
    const int64_t want[16] = {1, 0, 0, 1, /**/ 0, 1, 0, 0, /**/ 0, 0, 1, 0, /**/ 0, 1, 0, 0};
    const int64_t shape[2] = {4, 5}, strides[2] = {10, -2}, tstrides[1] = {-8};
    int64_t counts[16];
    mushin_bad_values bad;
    int status;

    memset(counts, 0, sizeof(counts));
    status = mushin_confusion_count_logits(counts, 4, 0, 0, 2, shape, 0,
                                           fview(&half[0][4], MUSHIN_FLOAT16, strides),
                                           view(&target[4], MUSHIN_INT64, tstrides), 1, &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts_equal(counts, want, 16));
    memset(counts, 0, sizeof(counts));
    status = mushin_confusion_count_logits(counts, 4, 0, 0, 2, shape, 0,
                                           fview(&bf16[0][4], MUSHIN_BFLOAT16, strides),
                                           view(&target[4], MUSHIN_INT64, tstrides), 1, &bad);
    CHECK(status == MUSHIN_OK);
    CHECK(counts_equal(counts, want, 16));
}

static void
test_fused_bad_targets_and_invalid_arguments(void)
{
    const int64_t target[5] = {2, 9, 255, -1, 3};
    const int64_t shape[3] = {1, 4, 5}, strides[3] = {80, 20, 4}, tstrides[2] = {40, 8};
    const int64_t wrong_classes[3] = {1, 3, 5};
    int64_t counts[16] = {0};
    mushin_bad_values bad;
    int status = mushin_confusion_count_logits(counts, 4, 1, 255, 3, shape, 1,
                                               fview(FUSED_LOGITS, MUSHIN_FLOAT32, strides),
                                               view(target, MUSHIN_INT64, tstrides), 1, &bad);
    CHECK(status == MUSHIN_EBADVALUE);
    CHECK(bad.target_bad == 2 && bad.target_first == 9 && bad.target_first_pos == 1);
    CHECK(bad.preds_bad == 0);
    {
        const int64_t tshape[2] = {1, 5};
        memset(counts, 0, sizeof(counts));
        CHECK(mushin_confusion_validate_target(4, 1, 255, 2, tshape,
                                               view(target, MUSHIN_INT64, tstrides),
                                               &bad) == MUSHIN_EBADVALUE);
        CHECK(bad.target_bad == 2 && bad.target_first == 9 && bad.target_first_pos == 1);
        CHECK(mushin_confusion_validate_target(10, 1, 255, 2, tshape,
                                               view(target, MUSHIN_INT64, tstrides),
                                               &bad) == MUSHIN_EBADVALUE);
        CHECK(bad.target_bad == 1 && bad.target_first == -1 && bad.target_first_pos == 3);
    }
    CHECK(mushin_confusion_count_logits(counts, 4, 0, 0, 3, wrong_classes, 1,
                                        fview(FUSED_LOGITS, MUSHIN_FLOAT32, strides),
                                        view(target, MUSHIN_INT64, tstrides), 1,
                                        &bad) == MUSHIN_EINVAL);
    CHECK(mushin_confusion_count_logits(counts, 4, 0, 0, 3, shape, 3,
                                        fview(FUSED_LOGITS, MUSHIN_FLOAT32, strides),
                                        view(target, MUSHIN_INT64, tstrides), 1,
                                        &bad) == MUSHIN_EINVAL);
    CHECK(mushin_confusion_count_logits(NULL, 4, 0, 0, 3, shape, 1,
                                        fview(FUSED_LOGITS, MUSHIN_FLOAT32, strides),
                                        view(target, MUSHIN_INT64, tstrides), 1,
                                        &bad) == MUSHIN_EINVAL);
}

/* Threads: a long batch whose counts are known in closed form, counted
 * with 1, 2 and 7 threads, and a bad value in the last range reported as
 * the serial pass reports it. */
static void
test_threaded_counts_and_bad_values(void)
{
    enum { N = 5 * 300000 + 17, C = 7 };
    static int64_t preds[N], target[N];
    static float logits[C][N];
    const int64_t shape[1] = {N}, s8[1] = {8};
    const int64_t lshape[2] = {C, N}, lstrides[2] = {(int64_t)N * 4, 4};
    int64_t want[C * C] = {0}, counts[C * C];
    mushin_bad_values bad, serial_bad;
    const int threads[3] = {1, 2, 7};
    int64_t i;
    int k, c, all_ok = 1;

    for (i = 0; i < N; i++) {
        preds[i] = i % C;
        target[i] = (i / 3) % C;
        want[target[i] * C + preds[i]]++;
        for (c = 0; c < C; c++) {
            logits[c][i] = c == preds[i] ? 1.0f : (float)(c % 3) * 0.25f;
        }
    }
    CHECK(mushin_confusion_thread_count(C, N, N, 7) >= 5);
    for (k = 0; k < 3; k++) {
        memset(counts, 0, sizeof(counts));
        all_ok &= mushin_confusion_count_threads(counts, C, 0, 0, 1, shape,
                                                 view(preds, MUSHIN_INT64, s8),
                                                 view(target, MUSHIN_INT64, s8), threads[k],
                                                 &bad) == MUSHIN_OK;
        all_ok &= counts_equal(counts, want, C * C);
        memset(counts, 0, sizeof(counts));
        all_ok &= mushin_confusion_count_logits(counts, C, 0, 0, 2, lshape, 0,
                                                fview(logits, MUSHIN_FLOAT32, lstrides),
                                                view(target, MUSHIN_INT64, s8), threads[k],
                                                &bad) == MUSHIN_OK;
        all_ok &= counts_equal(counts, want, C * C);
    }
    CHECK(all_ok);

    target[N - 2] = 40;
    target[N - 1] = 41;
    preds[N - 5] = -6;
    memset(counts, 0, sizeof(counts));
    CHECK(mushin_confusion_count_threads(counts, C, 0, 0, 1, shape, view(preds, MUSHIN_INT64, s8),
                                         view(target, MUSHIN_INT64, s8), 1,
                                         &serial_bad) == MUSHIN_EBADVALUE);
    CHECK(serial_bad.target_bad == 2 && serial_bad.target_first == 40 &&
          serial_bad.target_first_pos == N - 2);
    CHECK(serial_bad.preds_bad == 1 && serial_bad.preds_first == -6 &&
          serial_bad.preds_first_pos == N - 5);
    memset(counts, 0, sizeof(counts));
    CHECK(mushin_confusion_count_threads(counts, C, 0, 0, 1, shape, view(preds, MUSHIN_INT64, s8),
                                         view(target, MUSHIN_INT64, s8), 7,
                                         &bad) == MUSHIN_EBADVALUE);
    CHECK(memcmp(&bad, &serial_bad, sizeof(bad)) == 0);
    target[N - 2] = 0;
    target[N - 1] = 0;
    preds[N - 5] = 0;
}

/* ---------------------------------------------------------------- stats -- */

/* closed forms of the Student-t CDF */
/* written tail-first: cdf(-s) for s > 0 without cancellation */
static double
cauchy_cdf(double t)
{
    if (t == 0.0) return 0.5;
    return t < 0 ? atan(-1.0 / t) / M_PI : 1.0 - atan(1.0 / t) / M_PI;
}

static double
t2_lower(double s)
{
    const double r = sqrt(2.0 + s * s);
    return 1.0 / (r * (r + s)); /* (1 - s / r) / 2 */
}

static double
t2_cdf(double t)
{
    return t <= 0 ? t2_lower(-t) : 1.0 - t2_lower(t);
}

/* df = 4, by the textbook formula; only used where it keeps its digits */

static double
t4_cdf(double t)
{
    const double u = t * t / (4.0 + t * t);
    return 0.5 + 0.375 * (t / sqrt(4.0 + t * t)) * 2.0 * (1.0 - u / 3.0);
}

static void
test_betainc_closed_forms(void)
{
    const double xs[5] = {1e-6, 0.1, 0.37, 0.5, 0.93};
    int i;
    for (i = 0; i < 5; i++) {
        const double x = xs[i];
        CHECK_REL(mushin_betainc(1.0, 1.0, x, 1.0 - x), x, 1e-14);
        CHECK_REL(mushin_betainc(3.5, 1.0, x, 1.0 - x), pow(x, 3.5), 1e-13);
        CHECK_REL(mushin_betainc(1.0, 2.5, x, 1.0 - x), -expm1(2.5 * log1p(-x)), 1e-13);
    }
    CHECK_REL(mushin_betainc(7.0, 7.0, 0.5, 0.5), 0.5, 1e-14);
    CHECK_REL(mushin_betainc(1234.5, 1234.5, 0.5, 0.5), 0.5, 1e-12);
    CHECK(mushin_betainc(2.0, 3.0, 0.0, 1.0) == 0.0);
    CHECK(mushin_betainc(2.0, 3.0, 1.0, 0.0) == 1.0);
    CHECK(isnan(mushin_betainc(-1.0, 3.0, 0.5, 0.5)));
    CHECK(isnan(mushin_betainc(1.0, 3.0, NAN, 0.5)));
}

static void
test_t_cdf_closed_forms(void)
{
    const double ts[12] = {-5e4, -50.0, -7.5, -2.0, -1.0, -0.3, 0.0, 1e-7, 0.3, 1.0, 2.0, 7.5};
    int i;
    for (i = 0; i < 12; i++) {
        const double t = ts[i];
        CHECK_REL(mushin_t_cdf(t, 1.0), cauchy_cdf(t), 1e-12);
        CHECK_REL(mushin_t_cdf(t, 2.0), t2_cdf(t), 1e-12);
        if (fabs(t) <= 2.0) {
            CHECK_REL(mushin_t_cdf(t, 4.0), t4_cdf(t), 1e-12);
        }
        CHECK_REL(mushin_t_sf(t, 2.0), t2_cdf(-t), 1e-12);
        CHECK_REL(mushin_t_cdf(t, INFINITY), 0.5 * erfc(-t / sqrt(2.0)), 1e-14);
    }
    /* far tails keep relative accuracy: Cauchy sf(t) = atan(1/t)/pi */
    CHECK_REL(mushin_t_sf(1e10, 1.0), atan(1e-10) / M_PI, 1e-12);
    CHECK_REL(mushin_t_cdf(-1e100, 1.0), atan(1e-100) / M_PI, 1e-12);
    /* beyond sqrt(DBL_MAX), where t * t overflows */
    CHECK_REL(mushin_t_sf(1e200, 1.0), 1.0 / (M_PI * 1e200), 1e-12);
    CHECK_REL(mushin_t_sf(1e300, 1.0), 1.0 / (M_PI * 1e300), 1e-12);
    /* df = 2: sf(t) = (1 - t / sqrt(2 + t^2)) / 2 ~ 1 / (2 t^2) */
    CHECK_REL(mushin_t_sf(1e150, 2.0), 0.5e-300, 1e-12);
    CHECK(mushin_t_sf(INFINITY, 3.0) == 0.0);
    CHECK(mushin_t_cdf(-INFINITY, 3.0) == 0.0);
    CHECK(mushin_t_cdf(INFINITY, 3.0) == 1.0);
    CHECK(isnan(mushin_t_cdf(1.0, 0.0)));
    CHECK(isnan(mushin_t_cdf(1.0, -2.0)));
    CHECK(isnan(mushin_t_sf(NAN, 2.0)));
}

static void
test_t_ppf_closed_forms(void)
{
    const double qs[9] = {1e-12, 1e-4, 0.025, 0.1, 0.4, 0.6, 0.9, 0.975, 0.9999};
    int i;
    for (i = 0; i < 9; i++) {
        const double q = qs[i];
        /* Cauchy: tan(pi (q - 1/2)) = -1 / tan(pi q); df = 2: (2q - 1) / sqrt(2 q (1 - q)) */
        const double cauchy = q < 0.5 ? -1.0 / tan(M_PI * q) : 1.0 / tan(M_PI * (1.0 - q));
        CHECK_REL(mushin_t_ppf(q, 1.0), cauchy, 1e-10);
        CHECK_REL(mushin_t_ppf(q, 2.0), (2.0 * q - 1.0) / sqrt(2.0 * q * (1.0 - q)), 1e-10);
        /* ppf inverts cdf */
        CHECK_REL(mushin_t_cdf(mushin_t_ppf(q, 7.3), 7.3), q, 1e-12);
        CHECK_REL(mushin_t_cdf(mushin_t_ppf(q, 1e5), 1e5), q, 1e-10);
    }
    CHECK_REL(mushin_t_ppf(1e-300, 1.0), -1.0 / (M_PI * 1e-300), 1e-10);
    CHECK(mushin_t_ppf(0.5, 3.0) == 0.0);
    CHECK(mushin_t_ppf(0.0, 3.0) == -INFINITY);
    CHECK(mushin_t_ppf(1.0, 3.0) == INFINITY);
    /* df = 0.5: the 1e-200 quantile (~ -1e400) is beyond the largest double */
    CHECK(mushin_t_ppf(1e-200, 0.5) == -INFINITY);
    CHECK(isnan(mushin_t_ppf(1.5, 3.0)));
    CHECK(isnan(mushin_t_ppf(0.5, 0.0)));
}

static void
test_mean_var(void)
{
    const double x[4] = {1.0, 2.0, 4.0, 9.0};
    double mean, var;
    mushin_mean_var(x, 4, &mean, &var);
    CHECK_REL(mean, 4.0, 1e-15);
    CHECK_REL(var, (9.0 + 4.0 + 0.0 + 25.0) / 3.0, 1e-15);
    mushin_mean_var(x, 1, &mean, &var);
    CHECK(mean == 1.0 && isnan(var));
}

static void
test_welch_closed_form(void)
{
    /* means 2 and 5, both variances 1, n = 3: t = -3 / sqrt(2/3), df = 4 */
    const double a[3] = {1.0, 2.0, 3.0}, b[3] = {4.0, 5.0, 6.0};
    const double t = -3.0 / sqrt(2.0 / 3.0);
    mushin_ttest_result r;
    CHECK(mushin_welch_ttest(a, 3, b, 3, &r) == MUSHIN_OK);
    CHECK_REL(r.statistic, t, 1e-14);
    CHECK_REL(r.df, 4.0, 1e-14);
    CHECK_REL(r.pvalue, 2.0 * t4_cdf(t), 1e-12);
    CHECK_REL(r.mean_diff, -3.0, 1e-15);
    CHECK_REL(r.effect_size, -3.0, 1e-14); /* pooled sd 1 */
}

static void
test_welch_unequal_variances(void)
{
    /* a: n = 2, var 2; b: n = 4, var 0 ... all by hand:
     * a = {0, 2}: mean 1, var 2; b = {3, 3, 3, 5}: mean 3.5, var 1
     * se2 = 2/2 + 1/4 = 1.25; t = -2.5 / sqrt(1.25)
     * df = 1.25^2 / (1^2 / 1 + 0.25^2 / 3) */
    const double a[2] = {0.0, 2.0}, b[4] = {3.0, 3.0, 3.0, 5.0};
    const double t = -2.5 / sqrt(1.25);
    const double df = 1.5625 / (1.0 + 0.0625 / 3.0);
    mushin_ttest_result r;
    CHECK(mushin_welch_ttest(a, 2, b, 4, &r) == MUSHIN_OK);
    CHECK_REL(r.statistic, t, 1e-14);
    CHECK_REL(r.df, df, 1e-14);
    CHECK_REL(r.pvalue, 2.0 * mushin_t_cdf(t, df), 1e-14);
    CHECK_REL(r.effect_size, -2.5 / sqrt((2.0 + 3.0) / 4.0), 1e-14);
}

static void
test_welch_degenerate(void)
{
    const double one[1] = {1.0}, c1[3] = {2.0, 2.0, 2.0}, c2[3] = {3.0, 3.0, 3.0};
    const double same[3] = {1.0, 2.0, 3.0};
    mushin_ttest_result r;
    CHECK(mushin_welch_ttest(one, 1, same, 3, &r) == MUSHIN_EDEGENERATE);
    CHECK(isnan(r.pvalue) && isnan(r.statistic) && isnan(r.df));
    CHECK_REL(r.mean_diff, -1.0, 1e-15);
    CHECK(mushin_welch_ttest(c1, 3, c2, 3, &r) == MUSHIN_EDEGENERATE);
    CHECK(isnan(r.pvalue));
    CHECK(r.effect_size == -INFINITY);
    CHECK(mushin_welch_ttest(same, 3, same, 3, &r) == MUSHIN_OK);
    CHECK(r.pvalue == 1.0 && r.statistic == 0.0);
    CHECK(mushin_welch_ttest(same, 0, same, 3, &r) == MUSHIN_EDEGENERATE);
    CHECK(isnan(r.mean_diff));
}

static void
test_cohens_d(void)
{
    /* a = {1, 3}: mean 2, ss 2; b = {0, 0, 3}: mean 1, ss 6; pooled = 8 / 3 */
    const double a[2] = {1.0, 3.0}, b[3] = {0.0, 0.0, 3.0};
    const double c[2] = {4.0, 4.0};
    CHECK_REL(mushin_cohens_d(a, 2, b, 3), 1.0 / sqrt(8.0 / 3.0), 1e-14);
    CHECK_REL(mushin_cohens_d(b, 3, a, 2), -1.0 / sqrt(8.0 / 3.0), 1e-14);
    CHECK(mushin_cohens_d(c, 2, c, 2) == 0.0);
    CHECK(mushin_cohens_d(c, 2, c, 1) == 0.0);
    CHECK(isnan(mushin_cohens_d(a, 1, b, 1)));
}

static void
test_mean_ci(void)
{
    /* x = {1, 2, 3}: mean 2, sd 1, df 2; t_{0.975, 2} = 0.95 / sqrt(2 * 0.975 * 0.025) */
    const double x[3] = {1.0, 2.0, 3.0};
    const double half = 0.95 / sqrt(2.0 * 0.975 * 0.025) / sqrt(3.0);
    double mean, low, high;
    CHECK(mushin_mean_ci(x, 3, 0.95, &mean, &low, &high) == MUSHIN_OK);
    CHECK_REL(mean, 2.0, 1e-15);
    CHECK_REL(low, 2.0 - half, 1e-12);
    CHECK_REL(high, 2.0 + half, 1e-12);
    CHECK(mushin_mean_ci(x, 1, 0.95, &mean, &low, &high) == MUSHIN_EDEGENERATE);
    CHECK(mean == 1.0 && isnan(low) && isnan(high));
    CHECK(mushin_mean_ci(x, 3, 1.0, &mean, &low, &high) == MUSHIN_EINVAL);
    CHECK(mushin_mean_ci(x, 3, 0.0, &mean, &low, &high) == MUSHIN_EINVAL);
}

static void
test_holm(void)
{
    const double p[4] = {0.01, 0.04, NAN, 0.03};
    double out[4];
    int64_t order[4];
    CHECK(mushin_holm(p, 4, out, order) == MUSHIN_OK);
    /* family of 3: 3 * 0.01, then max(0.03, 2 * 0.03), then max(0.06, 1 * 0.04) */
    CHECK_REL(out[0], 0.03, 1e-15);
    CHECK_REL(out[3], 0.06, 1e-15);
    CHECK_REL(out[1], 0.06, 1e-15);
    CHECK(isnan(out[2]));
    {
        const double q[3] = {0.5, 0.9, 0.2};
        double o[3];
        int64_t ord[3];
        CHECK(mushin_holm(q, 3, o, ord) == MUSHIN_OK);
        CHECK_REL(o[2], 0.6, 1e-15);
        CHECK(o[0] == 1.0 && o[1] == 1.0); /* capped at 1, monotone */
    }
    {
        const double bad[2] = {0.2, 1.5};
        double o[2] = {-7.0, -7.0};
        int64_t ord[2];
        CHECK(mushin_holm(bad, 2, o, ord) == MUSHIN_EINVAL);
    }
    {
        const double nan_only[2] = {NAN, NAN};
        double o[2];
        int64_t ord[2];
        CHECK(mushin_holm(nan_only, 2, o, ord) == MUSHIN_OK);
        CHECK(isnan(o[0]) && isnan(o[1]));
    }
    CHECK(mushin_holm(p, 0, out, order) == MUSHIN_OK);
}

/* ------------------------------------------------ hardening (issue 10) -- */

static void
test_counts_add_checked(void)
{
    int64_t where = 7, total = -1;
    {
        /* a negative count is refused and nothing changes */
        int64_t a[3] = {1, 2, 3};
        const int64_t b[3] = {10, -1, 5};
        CHECK(mushin_counts_add_checked(a, b, 3, &where, &total) == MUSHIN_EBADVALUE);
        CHECK(where == 1);
        CHECK(a[0] == 1 && a[1] == 2 && a[2] == 3);
    }
    {
        /* one cell past INT64_MAX: named, nothing changes */
        int64_t a[2] = {5, INT64_MAX - 1};
        const int64_t b[2] = {1, 2};
        CHECK(mushin_counts_add_checked(a, b, 2, &where, &total) == MUSHIN_EOVERFLOW);
        CHECK(where == 1);
        CHECK(a[0] == 5 && a[1] == INT64_MAX - 1);
    }
    {
        /* the case: four cells of 2^62 fit, their total does not */
        int64_t a[4] = {0, 0, 0, 0};
        const int64_t b[4] = {(int64_t)1 << 62, (int64_t)1 << 62, (int64_t)1 << 62,
                              (int64_t)1 << 62};
        CHECK(mushin_counts_add_checked(a, b, 4, &where, &total) == MUSHIN_EOVERFLOW);
        CHECK(where == -1);
        CHECK(a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0);
    }
    {
        /* exactly INT64_MAX in total is still fine */
        int64_t a[2] = {INT64_MAX - 10, 0};
        const int64_t b[2] = {4, 6};
        CHECK(mushin_counts_add_checked(a, b, 2, &where, &total) == MUSHIN_OK);
        CHECK(a[0] == INT64_MAX - 6 && a[1] == 6);
        CHECK(total == INT64_MAX);
    }
}

static void
test_exact_distribution_caps(void)
{
    double *counts = (double *)malloc((size_t)(1000 * 1001 / 2 + 1) * sizeof(double));
    double sentinel = -1.0;
    CHECK(counts != NULL);
    if (counts == NULL) {
        return;
    }
    CHECK(mushin_signed_rank_counts(MUSHIN_SIGNED_RANK_MAX_N, counts) == MUSHIN_OK);
    CHECK(counts[0] == 1.0 && isfinite(counts[1000 * 1001 / 4]));
    /* past the cap: refused before anything is written */
    CHECK(mushin_signed_rank_counts(MUSHIN_SIGNED_RANK_MAX_N + 1, &sentinel) == MUSHIN_EINVAL);
    CHECK(mushin_signed_rank_counts(20000, &sentinel) == MUSHIN_EINVAL);
    CHECK(mushin_rank_sum_counts(22360, 22360, (int64_t)22360 * 22360, &sentinel) ==
          MUSHIN_EINVAL);
    CHECK(mushin_rank_sum_counts(-1, 3, 0, &sentinel) == MUSHIN_EINVAL);
    CHECK(sentinel == -1.0);
    CHECK(mushin_rank_sum_within_caps(8, 60, 480));
    CHECK(mushin_rank_sum_within_caps(8, 1000000, 4000000));
    CHECK(!mushin_rank_sum_within_caps(8, 10000000, 40000000));    /* kmax */
    CHECK(!mushin_rank_sum_within_caps(5000, 5000, 100000));       /* work */
    CHECK(!mushin_rank_sum_within_caps(600, 600, 10));             /* C(1200, 600) > 2^1000 */
    CHECK(mushin_rank_sum_within_caps(400, 400, 10));              /* C(800, 400) < 2^1000 */
    /* a caller past the caps gets the normal approximation, not an error */
    {
        enum { NB = 3000000 };
        double a[3] = {-3.0, -2.0, -1.0};
        double *b = (double *)malloc((size_t)NB * sizeof(double));
        mushin_test_result r;
        int64_t i;
        CHECK(b != NULL);
        if (b != NULL) {
            for (i = 0; i < NB; i++) b[i] = (double)i;
            CHECK(mushin_two_sample_test(MUSHIN_TEST_MANNWHITNEY, a, 3, b, NB, 0.95, &r) ==
                  MUSHIN_OK);
            CHECK(r.pvalue_method == MUSHIN_PVALUE_EXACT); /* 3 x 3e6: within the caps */
            free(b);
        }
    }
    free(counts);
}

/* The normal upper tail from libm, the limit the t tests must reach. */
static double
normal_sf(double z)
{
    return 0.5 * erfc(z / sqrt(2.0));
}

static void
test_numerics_huge_parameters(void)
{
    const double huge[5] = {1e8, 1e20, 1e100, 1e200, 1e300};
    int i;
    /* symmetric beta: the median is 1/2 exactly */
    for (i = 0; i < 5; i++) {
        CHECK_REL(mushin_betainc(huge[i], huge[i], 0.5, 0.5), 0.5, 1e-14);
    }
    /* I_x(a, b) + I_y(b, a) = 1 near and away from the mean */
    {
        const double a = 3e20, b = 1e20, mean = 0.75, sd = sqrt(a * b / (a + b) / (a + b) / (a + b));
        const double ks[5] = {-30.0, -2.0, 0.0, 1.5, 9.0};
        for (i = 0; i < 5; i++) {
            const double x = mean + ks[i] * sd, y = 1.0 - x;
            const double lower = mushin_betainc(a, b, x, y), upper = mushin_betainc(b, a, y, x);
            CHECK(lower >= 0.0 && lower <= 1.0 && upper >= 0.0 && upper <= 1.0);
            CHECK_REL(lower + upper, 1.0, 1e-13);
        }
    }
    /* the cases: a huge df is the normal distribution */
    CHECK_REL(mushin_t_sf(2.0, 1e18), normal_sf(2.0), 1e-13);
    CHECK_REL(mushin_t_cdf(-2.0, 1e18), normal_sf(2.0), 1e-13);
    CHECK_REL(mushin_t_sf(-2.0, 1e18), 1.0 - normal_sf(2.0), 1e-15);
    CHECK_REL(mushin_t_ppf(0.975, 1e18), 1.959963984540054, 1e-13);
    for (i = 0; i < 5; i++) {
        const double df = huge[i] >= 1e100 ? huge[i] : huge[i] * 1e10;
        CHECK_REL(mushin_t_sf(5.0, df), normal_sf(5.0), 1e-12);
        CHECK_REL(mushin_t_sf(30.0, df), normal_sf(30.0), 1e-12);
        CHECK_REL(mushin_t_ppf(0.025, df), -1.959963984540054, 1e-13);
    }
    CHECK_REL(mushin_t_sf(3.0, INFINITY), normal_sf(3.0), 1e-15);
    /* df that is not a positive number: NaN, like scipy.stats.t */
    CHECK(isnan(mushin_t_sf(1.0, 0.0)));
    CHECK(isnan(mushin_t_sf(1.0, -3.0)));
    CHECK(isnan(mushin_t_cdf(1.0, -INFINITY)));
    CHECK(isnan(mushin_t_ppf(0.3, NAN)));
    CHECK(isnan(mushin_betainc(-1.0, 2.0, 0.5, 0.5)));
    CHECK(isnan(mushin_betainc(INFINITY, INFINITY, 0.5, 0.5)));
}

/* MUSHIN_ISA=baseline|avx2|avx512 caps the levels tested, as it caps the
 * Python module, so `make ckernels` can run once per level. */
/* mushin_score_store_export gives back every kept row, in order, across
 * block boundaries, before and after the store is widened to float64. */
static void
test_score_store_export(void)
{
    enum { C = 3, ROWS = 5 };
    mushin_score_store store;
    float probs[ROWS][C], got32[ROWS * C];
    double got64[ROWS * C];
    int64_t y[ROWS] = {0, 2, 1, 255, 2};
    int32_t labels[ROWS];
    mushin_prob_view pv;
    mushin_label_view lv;
    int r, c, same = 1;
    for (r = 0; r < ROWS; r++) {
        for (c = 0; c < C; c++) {
            probs[r][c] = (float)(r * C + c) / 16.0f;
        }
    }
    pv.data = (const char *)probs;
    pv.type = MUSHIN_FLOAT32;
    pv.row_stride = C * sizeof(float);
    pv.class_stride = sizeof(float);
    lv.data = (const char *)y;
    lv.type = MUSHIN_INT64;
    lv.stride = sizeof(int64_t);
    mushin_score_store_init(&store, C);
    CHECK(mushin_score_store_reserve(&store, ROWS) == MUSHIN_OK);
    CHECK(mushin_score_store_append(&store, ROWS, 1, 255, pv, lv) == MUSHIN_OK);
    CHECK(store.rows == ROWS - 1);
    mushin_score_store_export(&store, got32, labels);
    /* row 3 was ignored: kept rows are 0, 1, 2, 4 */
    for (r = 0; r < ROWS - 1; r++) {
        const int src = r < 3 ? r : 4;
        same &= labels[r] == (int32_t)y[src];
        for (c = 0; c < C; c++) {
            same &= got32[r * C + c] == probs[src][c];
        }
    }
    CHECK(same);
    CHECK(mushin_score_store_widen(&store) == MUSHIN_OK);
    mushin_score_store_export(&store, got64, labels);
    for (r = 0; r < ROWS - 1; r++) {
        const int src = r < 3 ? r : 4;
        for (c = 0; c < C; c++) {
            same &= got64[r * C + c] == (double)probs[src][c];
        }
    }
    CHECK(same);
    mushin_score_store_clear(&store);
}

/* The counting tests run at every instruction-set level this CPU has. */
static void
counting_tests(void)
{
    test_confusion_contiguous_int64();
    test_confusion_long_inner_dimension();
    test_fused_layouts_ties_and_nan();
    test_fused_half_and_bfloat();
    test_fused_bad_targets_and_invalid_arguments();
    test_threaded_counts_and_bad_values();
}

int
main(void)
{
    static const char *const isa_names[3] = {"baseline", "avx2", "avx512"};
    const int isa_top = mushin_set_isa_cap(ctest_isa_cap());
    test_confusion_contiguous_int64();
    test_confusion_every_type_pair();
    test_confusion_strided_2d();
    test_confusion_long_inner_dimension();
    test_confusion_zero_d_and_empty();
    test_confusion_ignore_index();
    test_confusion_bad_values();
    test_confusion_invalid_arguments();
    test_counts_add();
    ctest_each_isa(isa_top, counting_tests);
    test_counts_add_checked();
    test_exact_distribution_caps();
    test_numerics_huge_parameters();
    test_betainc_closed_forms();
    test_t_cdf_closed_forms();
    test_t_ppf_closed_forms();
    test_mean_var();
    test_welch_closed_form();
    test_welch_unequal_variances();
    test_welch_degenerate();
    test_cohens_d();
    test_mean_ci();
    test_holm();
    test_score_store_export();
    printf("instruction sets: %s and below (this CPU supports up to %s)\n", isa_names[isa_top],
           isa_names[mushin_isa_supported()]);
    return ctest_summary();
}
