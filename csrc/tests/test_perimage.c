/*
 * test_perimage.c -- C-only tests of csrc/kernels/perimage.h, no Python.
 *
 * Per-image counts against a hand count and against the plain confusion
 * kernel (their sums over images are its diagonal, column and row sums);
 * bad values reported as mushin_confusion_validate reports them; metric
 * values on hand-worked counts; the bootstrap's draws against a second call
 * and its resamples against a serial recomputation from those draws, for
 * 1, 2 and 5 threads.
 *
 * Prints one line per failure and closes with "N passed, M failed"; exits
 * non-zero on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "kernels/perimage.h"

static mushin_index_view view64(const int64_t *data, const int64_t *strides) {
    mushin_index_view v;
    v.data = (const char *)data;
    v.type = MUSHIN_INT64;
    v.strides = strides;
    return v;
}

static void test_counts_by_hand(void) {
    /* two 2x2 images, 3 classes, ignore_index 255 */
    const int64_t preds[8] = {0, 1, 2, 2, 1, 1, 0, 255};
    const int64_t target[8] = {0, 1, 2, 1, 1, 0, 255, 255};
    const int64_t shape[3] = {2, 2, 2}, strides[3] = {32, 16, 8};
    const int64_t want[18] = {1, 0, 0, 1, 0, 1, 1, 1, 0, /* image 0 */
                              0, 0, 1, 1, 1, 0, 0, 0, 0 /* image 1 */};
    int64_t out[18], cm[9] = {0};
    mushin_bad_values bad;
    CHECK(mushin_perimage_count(out, 3, 1, 255, 3, shape, view64(preds, strides),
                                view64(target, strides), &bad) == MUSHIN_OK);
    CHECK(memcmp(out, want, sizeof(want)) == 0);
    CHECK(mushin_confusion_count(cm, 3, 1, 255, 3, shape, view64(preds, strides),
                                 view64(target, strides), &bad) == MUSHIN_OK);
    for (int c = 0; c < 3; c++) {
        int64_t tp = out[3 * c] + out[9 + 3 * c], fp = out[3 * c + 1] + out[9 + 3 * c + 1];
        int64_t fn = out[3 * c + 2] + out[9 + 3 * c + 2];
        CHECK(tp == cm[4 * c]);
        CHECK(tp + fp == cm[c] + cm[3 + c] + cm[6 + c]);
        CHECK(tp + fn == cm[3 * c] + cm[3 * c + 1] + cm[3 * c + 2]);
    }
}

static void test_many_classes_path(void) {
    /* 300 classes and tiny images take the per-class marginal path */
    int64_t preds[6] = {0, 299, 5, 5, 7, 1}, target[6] = {0, 5, 5, 5, 299, 1};
    const int64_t shape[2] = {3, 2}, strides[2] = {16, 8};
    int64_t *out = (int64_t *)malloc(3 * 300 * 3 * sizeof(int64_t));
    mushin_bad_values bad;
    CHECK(out != NULL);
    if (out == NULL) return;
    CHECK(mushin_perimage_count(out, 300, 0, 0, 2, shape, view64(preds, strides),
                                view64(target, strides), &bad) == MUSHIN_OK);
    CHECK(out[0] == 1 && out[1] == 0 && out[2] == 0);               /* image 0, class 0 */
    CHECK(out[3 * 299 + 1] == 1 && out[3 * 5 + 2] == 1);            /* 299 predicted for 5 */
    CHECK(out[900 + 3 * 5] == 2);                                   /* image 1: TP of 5 */
    CHECK(out[1800 + 3 * 7 + 1] == 1 && out[1800 + 3 * 299 + 2] == 1 && out[1800 + 3 + 0] == 1);
    free(out);
}

static void test_bad_values(void) {
    const int64_t preds[4] = {0, 1, 7, 1}, target[4] = {0, -2, 1, 1};
    const int64_t shape[2] = {2, 2}, strides[2] = {16, 8};
    int64_t out[2 * 2 * 3];
    mushin_bad_values bad, want;
    CHECK(mushin_perimage_count(out, 2, 0, 0, 2, shape, view64(preds, strides),
                                view64(target, strides), &bad) == MUSHIN_EBADVALUE);
    CHECK(mushin_confusion_validate(2, 0, 0, 2, shape, view64(preds, strides),
                                    view64(target, strides), &want) == MUSHIN_EBADVALUE);
    CHECK(bad.target_bad == 1 && bad.target_first == -2 && bad.target_first_pos == 1);
    CHECK(bad.preds_bad == want.preds_bad && bad.preds_first == 7 && bad.preds_first_pos == 2);
}

static void test_logits_path(void) {
    /* 2 images x 3 classes x 2 pixels, classes in dim 1; argmax per pixel:
     * image 0: (2, 0), image 1: (1, 1) with a tie (first maximum wins) */
    const float logits[12] = {0.1f, 5.0f, 0.2f, 1.0f, 3.0f, 2.0f,
                              0.0f, 0.0f, 4.0f, 4.0f, 1.0f, 1.0f};
    const int64_t lshape[3] = {2, 3, 2}, lstrides[3] = {24, 8, 4};
    const int64_t target[4] = {2, 1, 1, 255}, tstrides[2] = {16, 8};
    const int64_t want[18] = {0, 1, 0, 0, 0, 1, 1, 0, 0, /* image 0: 2 right, 1 -> 0 */
                              0, 0, 0, 1, 0, 0, 0, 0, 0 /* image 1: 1 right, 255 ignored */};
    int64_t out[18], batch[9] = {0}, bad_target[4] = {2, 1, 1, 7};
    mushin_float_view lv;
    mushin_bad_values bad;
    lv.data = (const char *)logits;
    lv.type = MUSHIN_FLOAT32;
    lv.strides = lstrides;
    CHECK(mushin_perimage_count_logits(out, batch, 3, 1, 255, 3, lshape, 1, lv,
                                       view64(target, tstrides), &bad) == MUSHIN_OK);
    CHECK(memcmp(out, want, sizeof(want)) == 0);
    CHECK(batch[2 * 3 + 2] == 1 && batch[1 * 3 + 0] == 1 && batch[1 * 3 + 1] == 1);
    CHECK(mushin_perimage_count_logits(out, batch, 3, 1, 255, 3, lshape, 1, lv,
                                       view64(bad_target, tstrides), &bad) == MUSHIN_EBADVALUE);
    CHECK(bad.target_bad == 1 && bad.target_first == 7 && bad.target_first_pos == 3);
    CHECK(mushin_perimage_count_logits(out, batch, 3, 1, 255, 3, lshape, 0, lv,
                                       view64(target, tstrides), &bad) == MUSHIN_EINVAL);
}

/* One integer table's metric through the rows entry point. */
static double metric_of(const int64_t *counts, int64_t num_classes, mushin_count_metric metric,
                        int64_t excluded) {
    double as_double[64 * 3], out = -1.0;
    if (num_classes > 64) return NAN;
    for (int64_t k = 0; k < num_classes * 3; k++) as_double[k] = (double)counts[k];
    CHECK(mushin_count_metric_rows(as_double, 1, num_classes, metric, excluded, &out) == MUSHIN_OK);
    return out;
}

static void test_metric_rows(void) {
    /* two tables in one call give each table's own value */
    const double two[2 * 2 * 3] = {3, 1, 0, 2, 0, 2, 0, 0, 0, 5, 5, 0};
    double out[2] = {-1.0, -1.0};
    CHECK(mushin_count_metric_rows(two, 2, 2, MUSHIN_METRIC_MIOU, -1, out) == MUSHIN_OK);
    CHECK(fabs(out[0] - (0.75 + 0.5) / 2) < 1e-15 && fabs(out[1] - 0.5) < 1e-15);
    CHECK(mushin_count_metric_rows(two, 0, 2, MUSHIN_METRIC_MIOU, -1, out) == MUSHIN_OK);
    CHECK(mushin_count_metric_rows(two, 1, 0, MUSHIN_METRIC_MIOU, -1, out) == MUSHIN_EINVAL);
    CHECK(mushin_count_metric_rows(two, -1, 2, MUSHIN_METRIC_MIOU, -1, out) == MUSHIN_EINVAL);
    CHECK(mushin_count_metric_rows(two, 1, 2, (mushin_count_metric)9, -1, out) == MUSHIN_EINVAL);
    {
        /* a negative, NaN or infinite count is refused */
        const double bad[3][3] = {{1, -1, 0}, {1, NAN, 0}, {INFINITY, 0, 0}};
        for (int k = 0; k < 3; k++)
            CHECK(mushin_count_metric_rows(bad[k], 1, 1, MUSHIN_METRIC_DICE, -1, out) == MUSHIN_EBADVALUE);
    }
}

static void test_metric_values(void) {
    /* classes: (tp, fp, fn) = (3, 1, 0), (0, 0, 0), (2, 0, 2) */
    const int64_t counts[9] = {3, 1, 0, 0, 0, 0, 2, 0, 2};
    CHECK(fabs(metric_of(counts, 3, MUSHIN_METRIC_MIOU, -1) - 0.625) < 1e-15);
    CHECK(fabs(metric_of(counts, 3, MUSHIN_METRIC_MIOU, 0) - 0.5) < 1e-15);
    CHECK(fabs(metric_of(counts, 3, MUSHIN_METRIC_DICE, -1) - (6.0 / 7 + 4.0 / 6) / 2) < 1e-15);
    CHECK(fabs(metric_of(counts, 3, MUSHIN_METRIC_PIXEL_ACC, -1) - 5.0 / 7) < 1e-15);
    CHECK(fabs(metric_of(counts, 3, MUSHIN_METRIC_PRECISION, -1) - (0.75 + 1.0) / 2) < 1e-15);
    CHECK(fabs(metric_of(counts, 3, MUSHIN_METRIC_RECALL, -1) - (1.0 + 0.5) / 2) < 1e-15);
    {
        const int64_t empty[3] = {0, 0, 0};
        CHECK(isnan(metric_of(empty, 1, MUSHIN_METRIC_MIOU, -1)));
        CHECK(metric_of(empty, 1, MUSHIN_METRIC_DICE, -1) == 0.0);
    }
}

static void test_bootstrap(void) {
    enum { MODELS = 5, IMAGES = 9, CLASSES = 3, N = 37 };
    const int64_t spm[2] = {2, 3};
    int64_t counts[MODELS * IMAGES * CLASSES * 3], images[IMAGES], seeds[MODELS];
    double out1[N * 2], out2[N * 2], out5[N * 2];
    int ok_draws = 1, ok_values = 1;
    for (int k = 0; k < MODELS * IMAGES * CLASSES * 3; k++) counts[k] = (k * 7919) % 23;
    CHECK(mushin_bootstrap_counts(counts, 2, spm, IMAGES, CLASSES, MUSHIN_METRIC_MIOU, -1, 1, 1,
                                  42, N, 1, out1) == MUSHIN_OK);
    CHECK(mushin_bootstrap_counts(counts, 2, spm, IMAGES, CLASSES, MUSHIN_METRIC_MIOU, -1, 1, 1,
                                  42, N, 2, out2) == MUSHIN_OK);
    CHECK(mushin_bootstrap_counts(counts, 2, spm, IMAGES, CLASSES, MUSHIN_METRIC_MIOU, -1, 1, 1,
                                  42, N, 5, out5) == MUSHIN_OK);
    CHECK(memcmp(out1, out2, sizeof(out1)) == 0 && memcmp(out1, out5, sizeof(out1)) == 0);
    for (int b = 0; b < N; b++) {
        int64_t again[IMAGES];
        double values[MODELS];
        mushin_bootstrap_draw(42, (uint64_t)b, IMAGES, 2, spm, 1, 1, images, seeds);
        mushin_bootstrap_draw(42, (uint64_t)b, IMAGES, 2, spm, 1, 0, again, NULL);
        for (int i = 0; i < IMAGES; i++) {
            if (images[i] != again[i] || images[i] < 0 || images[i] >= IMAGES) ok_draws = 0;
        }
        for (int m = 0; m < MODELS; m++) {
            int64_t sums[CLASSES * 3] = {0};
            for (int i = 0; i < IMAGES; i++)
                for (int k = 0; k < CLASSES * 3; k++)
                    sums[k] += counts[(m * IMAGES + images[i]) * CLASSES * 3 + k];
            values[m] = metric_of(sums, CLASSES, MUSHIN_METRIC_MIOU, -1);
        }
        {
            const double a = (values[seeds[0]] + values[seeds[1]]) / 2;
            const double c = (values[2 + seeds[2]] + values[2 + seeds[3]] + values[2 + seeds[4]]) / 3;
            if (a != out1[2 * b] || c != out1[2 * b + 1]) ok_values = 0;
        }
    }
    CHECK(ok_draws);
    CHECK(ok_values);
    /* a negative count is refused */
    counts[5] = -1;
    CHECK(mushin_bootstrap_counts(counts, 2, spm, IMAGES, CLASSES, MUSHIN_METRIC_MIOU, -1, 1, 1,
                                  42, N, 1, out1) == MUSHIN_EINVAL);
}

int main(void) {
    test_counts_by_hand();
    test_many_classes_path();
    test_bad_values();
    test_logits_path();
    test_metric_values();
    test_metric_rows();
    test_bootstrap();
    return ctest_summary();
}
