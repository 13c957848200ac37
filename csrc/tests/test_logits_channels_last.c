/*
 * test_logits_channels_last.c -- the fused logits kernel on channels-last
 * logits (each pixel's classes contiguous), without Python.
 *
 * Build and run with `make ckernels` (once per MUSHIN_ISA level; each run
 * also goes down through the lower levels the CPU has).  Every pixel's
 * argmax is fixed by construction -- one winner per pixel, placed at every
 * class index in turn, with ties after it, NaNs, -0.0 against 0.0 and
 * all -inf vectors -- and the labels are those winners, so the expected
 * matrix is diagonal with a count per class found by counting the labels.
 * Class counts cover every vector shape the SIMD loops take: shorter than
 * one vector, one or two vectors with a partial last chunk, exact
 * multiples of 8 and 16, more than 64 classes.  Exits non-zero if any
 * check fails.
 */
#include "ctest.h"
#include "mushin_kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The values a test pixel is built from, as bits of each type. */
enum { V_LOW0, V_LOW1, V_LOW2, V_TOP, V_NAN, V_NEG_ZERO, V_ZERO, V_NEG_INF, V_KINDS };

static const uint16_t HALF_BITS[V_KINDS] = {0x0000, 0x3400, 0x3800, 0x4000,
                                            0x7e00, 0x8000, 0x0000, 0xfc00};
static const uint16_t BF16_BITS[V_KINDS] = {0x0000, 0x3e80, 0x3f00, 0x4000,
                                            0x7fc0, 0x8000, 0x0000, 0xff80};

static double
value_of(int kind)
{
    static const double values[V_KINDS] = {0.0, 0.25, 0.5, 2.0, 0.0, -0.0, 0.0, 0.0};
    if (kind == V_NAN) {
        return 0.0 / 0.0;
    }
    if (kind == V_NEG_INF) {
        return -1.0 / 0.0;
    }
    return values[kind];
}

static size_t
itemsize(mushin_ftype type)
{
    return type == MUSHIN_FLOAT64 ? 8 : type == MUSHIN_FLOAT32 ? 4 : 2;
}

static void
store(char *dst, mushin_ftype type, int kind)
{
    if (type == MUSHIN_FLOAT16) {
        memcpy(dst, &HALF_BITS[kind], 2);
    }
    else if (type == MUSHIN_BFLOAT16) {
        memcpy(dst, &BF16_BITS[kind], 2);
    }
    else if (type == MUSHIN_FLOAT32) {
        const float f = (float)value_of(kind);
        memcpy(dst, &f, 4);
    }
    else {
        const double d = value_of(kind);
        memcpy(dst, &d, 8);
    }
}

/*
 * Pixel p of C classes and the class its argmax must be.  The winner
 * w = p % C moves through every index; the pattern p / C picks what
 * surrounds it:
 *   0: the one largest value (2.0) at w, small values elsewhere;
 *   1: 2.0 at w and again at every later index that is a multiple of 3
 *      past it: ties, the first wins;
 *   2: a NaN at w, another at the last index, 2.0 before w: the first NaN
 *      wins over any number;
 *   3: -0.0 at w, 0.0 at every later index, -inf elsewhere: they tie;
 *   4: every value -inf: class 0.
 */
static int
build_pixel(char *px, mushin_ftype type, int64_t C, int64_t p)
{
    const size_t size = itemsize(type);
    const int64_t w = p % C;
    const int pattern = (int)((p / C) % 5);
    int64_t c;
    for (c = 0; c < C; c++) {
        int kind = (int)(c % 3); /* V_LOW0..V_LOW2 */
        switch (pattern) {
        case 0: kind = c == w ? V_TOP : kind; break;
        case 1: kind = (c == w || (c > w && (c - w) % 3 == 0)) ? V_TOP : kind; break;
        case 2: kind = (c == w || c == C - 1) ? V_NAN : (c < w ? V_TOP : kind); break;
        case 3: kind = c == w ? V_NEG_ZERO : (c > w ? V_ZERO : V_NEG_INF); break;
        default: kind = V_NEG_INF; break;
        }
        store(px + c * size, type, kind);
    }
    return pattern == 4 ? 0 : (int)w;
}

/*
 * P pixels of C classes, `gap` unused elements after each pixel's classes
 * and the whole buffer `shift` bytes off its allocation, counted against
 * their winners.  Returns nonzero if the counts are the expected diagonal.
 */
static int
check_layout(mushin_ftype type, int64_t C, int64_t P, int64_t gap, int64_t shift, int threads)
{
    const size_t size = itemsize(type);
    const int64_t ps = (C + gap) * (int64_t)size;
    char *raw = (char *)calloc((size_t)(P * ps + shift + 64), 1);
    int64_t *labels = (int64_t *)malloc((size_t)P * sizeof(int64_t));
    int64_t *counts = (int64_t *)calloc((size_t)(C * C), sizeof(int64_t));
    int64_t *per_class = (int64_t *)calloc((size_t)C, sizeof(int64_t));
    const int64_t shape[2] = {P, C};
    const int64_t strides[2] = {ps, (int64_t)size};
    const int64_t tstrides[1] = {8};
    mushin_float_view logits;
    mushin_index_view target;
    mushin_bad_values bad;
    int64_t p, t, q;
    int ok;

    if (raw == NULL || labels == NULL || counts == NULL || per_class == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (p = 0; p < P; p++) {
        labels[p] = build_pixel(raw + shift + p * ps, type, C, p);
        per_class[labels[p]]++;
    }
    logits.data = raw + shift;
    logits.type = type;
    logits.strides = strides;
    target.data = (const char *)labels;
    target.type = MUSHIN_INT64;
    target.strides = tstrides;
    ok = mushin_confusion_count_logits(counts, C, 0, 0, 2, shape, 1, logits, target, threads,
                                       &bad) == MUSHIN_OK;
    for (t = 0; t < C; t++) {
        for (q = 0; q < C; q++) {
            ok &= counts[t * C + q] == (t == q ? per_class[t] : 0);
        }
    }
    if (!ok) {
        fprintf(stderr, "  type %d, %lld classes, %lld pixels, gap %lld, shift %lld\n", (int)type,
                (long long)C, (long long)P, (long long)gap, (long long)shift);
    }
    free(raw);
    free(labels);
    free(counts);
    free(per_class);
    return ok;
}

static const int64_t CLASS_COUNTS[] = {1,  2,  3,  5,  7,  8,  9,  13, 15, 16,  17,
                                       19, 21, 24, 31, 32, 33, 47, 48, 63, 64, 65,
                                       80, 100, 150};
#define NUM_CLASS_COUNTS (sizeof(CLASS_COUNTS) / sizeof(CLASS_COUNTS[0]))

static void
test_every_class_count_and_type(void)
{
    static const mushin_ftype types[4] = {MUSHIN_FLOAT32, MUSHIN_FLOAT16, MUSHIN_BFLOAT16,
                                          MUSHIN_FLOAT64};
    size_t k;
    int t;
    for (t = 0; t < 4; t++) {
        for (k = 0; k < NUM_CLASS_COUNTS; k++) {
            const int64_t C = CLASS_COUNTS[k];
            /* every pattern at every winner, over more than one 512-pixel block */
            const int64_t P = 5 * C * (C < 120 ? 3 : 1) + 7;
            CHECK(check_layout(types[t], C, P, 0, 0, 1));
        }
    }
}

static void
test_gaps_and_misaligned_pixels(void)
{
    static const mushin_ftype types[3] = {MUSHIN_FLOAT32, MUSHIN_FLOAT16, MUSHIN_BFLOAT16};
    int t;
    for (t = 0; t < 3; t++) {
        CHECK(check_layout(types[t], 21, 700, 3, 0, 1)); /* pixels with gaps */
        CHECK(check_layout(types[t], 21, 700, 0, 1, 1)); /* one byte off */
        CHECK(check_layout(types[t], 6, 300, 1, 3, 1));
        CHECK(check_layout(types[t], 40, 300, 5, 1, 1));
    }
}

static void
test_threads_count_the_same(void)
{
    /* big enough for several threads (2^18 logit values each) */
    CHECK(check_layout(MUSHIN_FLOAT32, 21, 120001, 0, 0, 3));
    CHECK(check_layout(MUSHIN_BFLOAT16, 21, 120001, 0, 0, 2));
}

/* Every test, at each instruction-set level this CPU has. */
static void
every_test(void)
{
    test_every_class_count_and_type();
    test_gaps_and_misaligned_pixels();
    test_threads_count_the_same();
}

int
main(void)
{
    static const char *const isa_names[3] = {"baseline", "avx2", "avx512"};
    const int isa_top = mushin_set_isa_cap(ctest_isa_cap());
    ctest_each_isa(isa_top, every_test);
    printf("instruction sets: %s and below (this CPU supports up to %s)\n", isa_names[isa_top],
           isa_names[mushin_isa_supported()]);
    return ctest_summary();
}
