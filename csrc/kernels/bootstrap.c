/*
 * bootstrap.c -- the segmentation metrics of TP/FP/FN counts and the
 * two-level bootstrap over per-image counts (see perimage.h).
 *
 * The bootstrap turns the counts into one row per image holding every
 * model's counts side by side, so that a resample is one pass over the
 * drawn images adding whole rows; the sums fit in int32 for any data set
 * where N x (largest count) does, which halves the memory traffic, and
 * fall back to int64 otherwise.  The result is exact integers either way.
 */
#include "perimage.h"
#include "perimage_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "rng_internal.h"

/* ------------------------------------------------------------ metrics -- */

/*
 * A metric reads only some sums of the counts, so the bootstrap adds only
 * those ("features"), per class a numerator and a denominator: TP and the
 * union TP + FP + FN for the Jaccard index; 2 TP and 2 TP + FP + FN for
 * Dice; TP, TP + FP (TP + FN) and the union for precision (recall); for
 * pixel accuracy two numbers per model, TP and TP + FN over all classes.
 * The bootstrap's features are exact integers, so the metric is the same
 * bits whether computed from the counts or from summed features.  Counts
 * are never negative here, so a class is counted exactly when its union
 * (for Dice, its denominator) is not 0.
 */
static int64_t
feature_width(mushin_count_metric metric, int64_t num_classes)
{
    switch (metric) {
    case MUSHIN_METRIC_PIXEL_ACC:
        return 2;
    case MUSHIN_METRIC_MIOU:
    case MUSHIN_METRIC_DICE:
        return 2 * num_classes;
    default:
        return 3 * num_classes;
    }
}

/* The features of one image's (or model's) integer counts [class][3]. */
static void
make_features(const int64_t *counts, int64_t num_classes, mushin_count_metric metric,
              int64_t *features)
{
    int64_t c;
    if (metric == MUSHIN_METRIC_PIXEL_ACC) {
        features[0] = features[1] = 0;
        for (c = 0; c < num_classes; c++) {
            features[0] += counts[3 * c + MUSHIN_PI_TP];
            features[1] += counts[3 * c + MUSHIN_PI_TP] + counts[3 * c + MUSHIN_PI_FN];
        }
        return;
    }
    for (c = 0; c < num_classes; c++) {
        const int64_t tp = counts[3 * c + MUSHIN_PI_TP], fp = counts[3 * c + MUSHIN_PI_FP];
        const int64_t fn = counts[3 * c + MUSHIN_PI_FN];
        if (metric == MUSHIN_METRIC_MIOU || metric == MUSHIN_METRIC_DICE) {
            const int64_t k = metric == MUSHIN_METRIC_DICE ? 2 : 1;
            features[2 * c] = k * tp;
            features[2 * c + 1] = k * tp + fp + fn;
        }
        else {
            features[3 * c] = tp;
            features[3 * c + 1] = metric == MUSHIN_METRIC_PRECISION ? tp + fp : tp + fn;
            features[3 * c + 2] = tp + fp + fn;
        }
    }
}

/*
 * The same features of floating-point counts, each sum taken as NumPy takes
 * it ((2 tp + fp) + fn; class sums in NumPy's pairwise order, `parts` holds
 * num_classes doubles), so that mushin.stats.count_metric, which calls this,
 * rounds as a NumPy formula would.
 */
static void
make_features_f64(const double *counts, int64_t num_classes, mushin_count_metric metric,
                  double *parts, double *features)
{
    int64_t c;
    if (metric == MUSHIN_METRIC_PIXEL_ACC) {
        for (c = 0; c < num_classes; c++) {
            parts[c] = counts[3 * c + MUSHIN_PI_TP];
        }
        features[0] = mushin_pairwise_sum(parts, num_classes);
        for (c = 0; c < num_classes; c++) {
            parts[c] = counts[3 * c + MUSHIN_PI_TP] + counts[3 * c + MUSHIN_PI_FN];
        }
        features[1] = mushin_pairwise_sum(parts, num_classes);
        return;
    }
    for (c = 0; c < num_classes; c++) {
        const double tp = counts[3 * c + MUSHIN_PI_TP], fp = counts[3 * c + MUSHIN_PI_FP];
        const double fn = counts[3 * c + MUSHIN_PI_FN];
        if (metric == MUSHIN_METRIC_MIOU || metric == MUSHIN_METRIC_DICE) {
            const double num = metric == MUSHIN_METRIC_DICE ? 2 * tp : tp;
            features[2 * c] = num;
            features[2 * c + 1] = num + fp + fn;
        }
        else {
            features[3 * c] = tp;
            features[3 * c + 1] = metric == MUSHIN_METRIC_PRECISION ? tp + fp : tp + fn;
            features[3 * c + 2] = tp + fp + fn;
        }
    }
}

/*
 * The metric of one image's (or model's) features, as doubles.  A macro
 * mean adds the score of every class, 0 for a class left out, in NumPy's
 * pairwise order, so that it equals NumPy's sum over the class axis of the
 * same scores bit for bit; `parts` holds num_classes doubles.
 */
static double
feature_metric(const double *f, int64_t num_classes, mushin_count_metric metric,
               int64_t excluded_class, double *parts)
{
    int64_t c, kept = 0;
    if (metric == MUSHIN_METRIC_PIXEL_ACC) {
        return f[1] > 0.0 ? f[0] / f[1] : 0.0;
    }
    for (c = 0; c < num_classes; c++) {
        const int macro2 = metric == MUSHIN_METRIC_MIOU || metric == MUSHIN_METRIC_DICE;
        const double num = macro2 ? f[2 * c] : f[3 * c];
        const double den = macro2 ? f[2 * c + 1] : f[3 * c + 1];
        const double support = macro2 ? den : f[3 * c + 2];
        parts[c] = 0.0;
        if (support == 0.0 || (metric == MUSHIN_METRIC_MIOU && c == excluded_class)) {
            continue;
        }
        parts[c] = den != 0.0 ? num / den : 0.0;
        kept++;
    }
    if (kept == 0) {
        return metric == MUSHIN_METRIC_MIOU ? NAN : 0.0;
    }
    return mushin_pairwise_sum(parts, num_classes) / (double)kept;
}

/* feature_metric of integer features (the bootstrap's sums). */
static double
int_feature_metric(const int64_t *f, int64_t width, int64_t num_classes,
                   mushin_count_metric metric, int64_t excluded_class, double *scratch)
{
    double *as_double = scratch + num_classes;
    int64_t k;
    for (k = 0; k < width; k++) {
        as_double[k] = (double)f[k];
    }
    return feature_metric(as_double, num_classes, metric, excluded_class, scratch);
}

int
mushin_count_metric_rows(const double *counts, int64_t rows, int64_t num_classes,
                         mushin_count_metric metric, int64_t excluded_class, double *out)
{
    double *features, *parts;
    int64_t r;
    if ((int)metric < 0 || (int)metric > (int)MUSHIN_METRIC_RECALL || num_classes < 1 || rows < 0) {
        return MUSHIN_EINVAL;
    }
    for (r = 0; r < rows * num_classes * 3; r++) {
        if (!(counts[r] >= 0.0) || isinf(counts[r])) {
            return MUSHIN_EBADVALUE;
        }
    }
    features = (double *)malloc((size_t)feature_width(metric, num_classes) * sizeof(double));
    parts = (double *)malloc((size_t)num_classes * sizeof(double));
    if (features == NULL || parts == NULL) {
        free(features);
        free(parts);
        return MUSHIN_ENOMEM;
    }
    for (r = 0; r < rows; r++) {
        make_features_f64(counts + r * num_classes * 3, num_classes, metric, parts, features);
        out[r] = feature_metric(features, num_classes, metric, excluded_class, parts);
    }
    free(features);
    free(parts);
    return MUSHIN_OK;
}

/* ---------------------------------------------------------- bootstrap -- */

/* Resamples handled together: each image's row is read once for all of
 * them, so the rows stream from memory once per block, not per resample. */
#define BOOT_BLOCK 8

static void
draw_resample(mushin_rng *rng, int64_t num_images, int64_t num_methods,
              const int64_t *seeds_per_method, int resample_images, int resample_seeds,
              int64_t *images, int64_t *seeds)
{
    int64_t i, m, k = 0;
    if (resample_images) {
        for (i = 0; i < num_images; i++) {
            images[i] = (int64_t)mushin_rng_below(rng, (uint64_t)num_images);
        }
    }
    if (resample_seeds) {
        for (m = 0; m < num_methods; m++) {
            for (i = 0; i < seeds_per_method[m]; i++) {
                seeds[k++] = (int64_t)mushin_rng_below(rng, (uint64_t)seeds_per_method[m]);
            }
        }
    }
}

void
mushin_bootstrap_draw(uint64_t seed, uint64_t resample, int64_t num_images,
                      int64_t num_methods, const int64_t *seeds_per_method,
                      int resample_images, int resample_seeds, int64_t *images,
                      int64_t *seeds)
{
    mushin_rng rng;
    mushin_rng_init(&rng, seed, resample);
    draw_resample(&rng, num_images, num_methods, seeds_per_method, resample_images,
                  resample_seeds, images, seeds);
}

/*
 * acc[r] = sum_i weights[i][r] * rows[i] for the nb resamples of a block.
 * The loop is compiled for baseline x86-64, AVX2 and AVX-512 (picked by
 * mushin_isa_level(): 0, 1, 2) so the default build runs anywhere; the sums
 * are exact integers, so every level gives the same bits.
 */
PI_BODY void
accumulate_block_body(const int32_t *rows32, const int64_t *rows64, const int32_t *weights,
                      int64_t n_img, int64_t width, int64_t nb, int32_t *acc32, int64_t *acc)
{
    int64_t i, k, r;
    if (rows32 != NULL) {
        memset(acc32, 0, (size_t)(width * nb) * sizeof(int32_t));
        for (i = 0; i < n_img; i++) {
            const int32_t *row = rows32 + i * width;
            for (r = 0; r < nb; r++) {
                const int32_t w = weights[i * BOOT_BLOCK + r];
                int32_t *a = acc32 + r * width;
                if (w == 0) {
                    continue;
                }
                if (w == 1) {
                    for (k = 0; k < width; k++) {
                        a[k] += row[k];
                    }
                }
                else {
                    for (k = 0; k < width; k++) {
                        a[k] += w * row[k];
                    }
                }
            }
        }
        for (k = 0; k < width * nb; k++) {
            acc[k] = acc32[k];
        }
        return;
    }
    memset(acc, 0, (size_t)(width * nb) * sizeof(int64_t));
    for (i = 0; i < n_img; i++) {
        const int64_t *row = rows64 + i * width;
        for (r = 0; r < nb; r++) {
            const int64_t w = weights[i * BOOT_BLOCK + r];
            int64_t *a = acc + r * width;
            if (w == 0) {
                continue;
            }
            for (k = 0; k < width; k++) {
                a[k] += w * row[k];
            }
        }
    }
}

#define PI_ACC_PARAMS                                                                      \
    (const int32_t *rows32, const int64_t *rows64, const int32_t *weights, int64_t n_img, \
     int64_t width, int64_t nb, int32_t *acc32, int64_t *acc)
#define PI_ACC_ARGS (rows32, rows64, weights, n_img, width, nb, acc32, acc)

#ifdef PI_DISPATCH
static void accumulate_block_baseline PI_ACC_PARAMS { accumulate_block_body PI_ACC_ARGS; }
PI_TARGET_AVX2 static void accumulate_block_avx2 PI_ACC_PARAMS { accumulate_block_body PI_ACC_ARGS; }
PI_TARGET_AVX512 static void accumulate_block_avx512 PI_ACC_PARAMS { accumulate_block_body PI_ACC_ARGS; }
static void accumulate_block PI_ACC_PARAMS
{
    switch (mushin_isa_level()) {
    case 2: accumulate_block_avx512 PI_ACC_ARGS; break;
    case 1: accumulate_block_avx2 PI_ACC_ARGS; break;
    default: accumulate_block_baseline PI_ACC_ARGS; break;
    }
}
#else
static void accumulate_block PI_ACC_PARAMS { accumulate_block_body PI_ACC_ARGS; }
#endif

typedef struct {
    const int32_t *rows32;   /* [image][width] features, or NULL */
    const int64_t *rows64;   /* [image][width] features, or NULL */
    const int64_t *full;     /* [width]: every image once */
    const int64_t *seeds_per_method;
    int64_t num_methods, num_models, num_images, num_classes, width, model_width;
    int64_t excluded_class, num_resamples;
    mushin_count_metric metric;
    int resample_images, resample_seeds, num_chunks;
    uint64_t seed;
    double *out;
    int status[MUSHIN_MAX_THREADS];
} boot_job;

static void
boot_chunk(void *arg, int chunk)
{
    boot_job *job = (boot_job *)arg;
    const int64_t first = job->num_resamples * chunk / job->num_chunks;
    const int64_t last = job->num_resamples * (chunk + 1) / job->num_chunks;
    const int64_t width = job->width, n_img = job->num_images, mw = job->model_width;
    const int64_t n_models = job->num_models;
    int64_t *images = NULL, *seeds = NULL, *acc = NULL;
    int32_t *weights = NULL, *acc32 = NULL;
    double *values = NULL, *full_values = NULL, *scratch = NULL;
    int64_t b0, i, m, r;

    images = (int64_t *)malloc((size_t)n_img * sizeof(int64_t));
    weights = (int32_t *)malloc((size_t)(n_img * BOOT_BLOCK) * sizeof(int32_t));
    seeds = (int64_t *)malloc((size_t)(n_models * BOOT_BLOCK) * sizeof(int64_t));
    acc = (int64_t *)malloc((size_t)(width * BOOT_BLOCK) * sizeof(int64_t));
    acc32 = (int32_t *)malloc((size_t)(width * BOOT_BLOCK) * sizeof(int32_t));
    values = (double *)malloc((size_t)(n_models * BOOT_BLOCK) * sizeof(double));
    full_values = (double *)malloc((size_t)n_models * sizeof(double));
    /* int_feature_metric: the class scores, then one model's features */
    scratch = (double *)malloc((size_t)(job->num_classes + mw) * sizeof(double));
    if (images == NULL || weights == NULL || seeds == NULL || acc == NULL || acc32 == NULL ||
        values == NULL || full_values == NULL || scratch == NULL) {
        job->status[chunk] = MUSHIN_ENOMEM;
        goto done;
    }
    for (m = 0; m < n_models; m++) {
        full_values[m] = int_feature_metric(job->full + m * mw, mw, job->num_classes,
                                            job->metric, job->excluded_class, scratch);
    }
    for (b0 = first; b0 < last; b0 += BOOT_BLOCK) {
        const int64_t nb = last - b0 < BOOT_BLOCK ? last - b0 : BOOT_BLOCK;
        if (job->resample_images) {
            memset(weights, 0, (size_t)(n_img * BOOT_BLOCK) * sizeof(int32_t));
        }
        for (r = 0; r < nb; r++) {
            mushin_rng rng;
            mushin_rng_init(&rng, job->seed, (uint64_t)(b0 + r));
            draw_resample(&rng, n_img, job->num_methods, job->seeds_per_method,
                          job->resample_images, job->resample_seeds, images,
                          seeds + r * n_models);
            if (job->resample_images) {
                for (i = 0; i < n_img; i++) {
                    weights[images[i] * BOOT_BLOCK + r]++;
                }
            }
        }
        if (job->resample_images) {
            accumulate_block(job->rows32, job->rows64, weights, n_img, width, nb, acc32, acc);
        }
        for (r = 0; r < nb; r++) {
            const double *v = full_values;
            int64_t model0 = 0, seed_at = 0;
            if (job->resample_images) {
                for (m = 0; m < n_models; m++) {
                    values[r * n_models + m] = int_feature_metric(
                        acc + r * width + m * mw, mw, job->num_classes, job->metric,
                        job->excluded_class, scratch);
                }
                v = values + r * n_models;
            }
            for (m = 0; m < job->num_methods; m++) {
                const int64_t s_m = job->seeds_per_method[m];
                double sum = 0.0;
                for (i = 0; i < s_m; i++) {
                    const int64_t pick = job->resample_seeds ? seeds[r * n_models + seed_at + i] : i;
                    sum += v[model0 + pick];
                }
                seed_at += s_m;
                model0 += s_m;
                job->out[(b0 + r) * job->num_methods + m] = sum / (double)s_m;
            }
        }
    }
done:
    free(images);
    free(weights);
    free(seeds);
    free(acc);
    free(acc32);
    free(values);
    free(full_values);
    free(scratch);
}

int
mushin_bootstrap_counts(const int64_t *counts, int64_t num_methods,
                        const int64_t *seeds_per_method, int64_t num_images,
                        int64_t num_classes, mushin_count_metric metric,
                        int64_t excluded_class, int resample_images, int resample_seeds,
                        uint64_t seed, int64_t num_resamples, int num_threads, double *out)
{
    boot_job job;
    int64_t num_models = 0, width, mw, i, m, k, max_feature = 0;
    int32_t *rows32 = NULL;
    int64_t *rows64 = NULL, *full = NULL, *features = NULL;
    int chunks, c, status = MUSHIN_OK;

    if (counts == NULL || seeds_per_method == NULL || out == NULL || num_methods < 1 ||
        num_images < 1 || num_images > INT32_MAX || num_classes < 1 || num_resamples < 0 ||
        (int)metric < 0 || (int)metric > (int)MUSHIN_METRIC_RECALL) {
        return MUSHIN_EINVAL;
    }
    for (m = 0; m < num_methods; m++) {
        if (seeds_per_method[m] < 1 || seeds_per_method[m] > (INT64_C(1) << 20)) {
            return MUSHIN_EINVAL;
        }
        num_models += seeds_per_method[m];
    }
    if ((uint64_t)num_classes > (UINT64_C(1) << 20) ||
        (uint64_t)(num_models * num_classes * 3) > (uint64_t)(INT64_MAX / 8) / (uint64_t)num_images) {
        return MUSHIN_EINVAL;
    }
    /* counts of one image (or model) must add up without overflow: the
     * union TP + FP + FN, and the totals over classes pixel accuracy takes */
    for (k = 0; k < num_models * num_images * num_classes * 3; k++) {
        if (counts[k] < 0) {
            return MUSHIN_EINVAL;
        }
        if (counts[k] > INT64_MAX / 4 / num_images / num_classes) {
            return MUSHIN_EOVERFLOW;
        }
    }
    mw = feature_width(metric, num_classes);
    width = num_models * mw;
    features = (int64_t *)malloc((size_t)(width * num_images) * sizeof(int64_t));
    full = (int64_t *)calloc((size_t)width, sizeof(int64_t));
    if (features == NULL || full == NULL) {
        free(features);
        free(full);
        return MUSHIN_ENOMEM;
    }
    /* [model][image][class x 3] -> features [image][model x feature] */
    for (m = 0; m < num_models; m++) {
        for (i = 0; i < num_images; i++) {
            int64_t *dst = features + i * width + m * mw;
            make_features(counts + (m * num_images + i) * num_classes * 3, num_classes, metric, dst);
            for (k = 0; k < mw; k++) {
                full[m * mw + k] += dst[k];
                if (dst[k] > max_feature) {
                    max_feature = dst[k];
                }
            }
        }
    }
    /* a weighted sum is at most num_images x max_feature (the weights add up
     * to num_images): int32 sums when that fits, which halves the traffic */
    if (max_feature <= INT32_MAX / num_images) {
        rows32 = (int32_t *)malloc((size_t)(width * num_images) * sizeof(int32_t));
        if (rows32 == NULL) {
            free(features);
            free(full);
            return MUSHIN_ENOMEM;
        }
        for (k = 0; k < width * num_images; k++) {
            rows32[k] = (int32_t)features[k];
        }
        free(features);
        features = NULL;
    }
    else {
        rows64 = features;
    }
    memset(&job, 0, sizeof(job));
    job.rows32 = rows32;
    job.rows64 = rows64;
    job.full = full;
    job.seeds_per_method = seeds_per_method;
    job.num_methods = num_methods;
    job.num_models = num_models;
    job.num_images = num_images;
    job.num_classes = num_classes;
    job.width = width;
    job.model_width = mw;
    job.excluded_class = excluded_class;
    job.num_resamples = num_resamples;
    job.metric = metric;
    job.resample_images = resample_images != 0;
    job.resample_seeds = resample_seeds != 0;
    job.seed = seed;
    job.out = out;
    chunks = num_threads < 1 ? 1 : (num_threads > MUSHIN_MAX_THREADS ? MUSHIN_MAX_THREADS : num_threads);
    if (num_resamples < (int64_t)chunks * BOOT_BLOCK) {
        chunks = (int)((num_resamples + BOOT_BLOCK - 1) / BOOT_BLOCK);
        if (chunks < 1) {
            chunks = 1;
        }
    }
    job.num_chunks = chunks;
    mushin_parallel_for(chunks, boot_chunk, &job);
    for (c = 0; c < chunks; c++) {
        if (job.status[c] != MUSHIN_OK) {
            status = job.status[c];
        }
    }
    free(full);
    free(rows32);
    free(rows64);
    return status;
}
