/*
 * perimage.c -- per-image TP/FP/FN counts and the two-level bootstrap over
 * them (see perimage.h).
 *
 * Counting reads each image row by row: a row of labels is widened to int64
 * in blocks by a loop specialised to its element type, then counted by one
 * generic loop.  For few classes the pairs go into a small per-image
 * confusion matrix (one increment per pixel, as the plain confusion kernel
 * does) that is folded into TP/FP/FN when the image is done; for many
 * classes, where zeroing that matrix per image would cost more than the
 * pixels, into per-class target and prediction counts and TP.
 *
 * The bootstrap turns the counts into one row per image holding every
 * model's counts side by side, so that a resample is one pass over the
 * drawn images adding whole rows; the sums fit in int32 for any data set
 * where N x (largest count) does, which halves the memory traffic, and
 * fall back to int64 otherwise.  The result is exact integers either way.
 */
#include "perimage.h"
#include "confusion_internal.h"
#include "dtype_load.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "portable_internal.h"
#include "rng_internal.h"

#define PI_BLOCK 512

/* The hot loops are compiled for baseline x86-64, AVX2 and AVX-512 and
 * picked by mushin_isa_level() (0, 1, 2), so the default build runs
 * anywhere; counts are integers, so every level gives the same bits. */
#if defined(MUSHIN_GNUC) && defined(MUSHIN_X86_64)
#define PI_DISPATCH 1
#define PI_BODY MUSHIN_ALWAYS_INLINE
#define PI_TARGET_AVX2 MUSHIN_TARGET_AVX2
#define PI_TARGET_AVX512 MUSHIN_TARGET_AVX512
#else
#define PI_BODY static inline
#endif


/* Count n (target, prediction) pairs into the per-image matrices `cm`:
 * PI_SUB copies of num_classes^2 + 1 bins ([target][prediction], the last
 * bin taking ignored positions), added up when the image is done.  Bins are
 * computed and checked in one branch-free loop the compiler vectorises,
 * then scattered round-robin over the copies, so consecutive equal pairs do
 * not wait on each other's increments (the plain confusion kernel does the
 * same).  0, or -1 if some value is bad. */
#define PI_SUB 4

PI_BODY int
count_pairs_matrix(int64_t *cm, int64_t num_classes, int has_ignore, int64_t ignore_index,
                   const int64_t *t, const int64_t *p, int64_t n, uint64_t *bins)
{
    const uint64_t c = (uint64_t)num_classes, skip = c * c, stride = skip + 1;
    uint64_t bad = 0;
    int64_t k;
    for (k = 0; k < n; k++) {
        const uint64_t ignored = (uint64_t)(has_ignore & (t[k] == ignore_index));
        const uint64_t t_out = (uint64_t)t[k] >= c, p_out = (uint64_t)p[k] >= c;
        /* at an ignored position the prediction may also be ignore_index */
        const uint64_t p_bad = p_out & ~(ignored & (uint64_t)(p[k] == ignore_index));
        const uint64_t off = ignored | t_out | p_out;
        bad |= ((t_out & ~ignored) | p_bad) & 1u;
        bins[k] = off ? skip : (uint64_t)t[k] * c + (uint64_t)p[k];
    }
    if (bad) {
        return -1;
    }
    mushin_scatter_bins(cm, (int64_t)stride, PI_SUB, bins, n);
    return 0;
}

/* Labels of at most 16 bits (and int32) fit in int32: loaded narrow, their
 * bins are checked and computed in twice the lanes (uint8 masks are the
 * common case). */
static int
narrow_type(mushin_itype type)
{
    return type == MUSHIN_INT8 || type == MUSHIN_UINT8 || type == MUSHIN_INT16 ||
           type == MUSHIN_UINT16 || type == MUSHIN_INT32;
}

PI_BODY void
load_labels32(int32_t *dst, const char *src, int64_t stride, int64_t n, mushin_itype type)
{
    int64_t k;
#define PI_LOAD32(T)                                 \
    for (k = 0; k < n; k++) {                        \
        T v;                                         \
        memcpy(&v, src + k * stride, sizeof(v));     \
        dst[k] = (int32_t)v;                         \
    }                                                \
    break;
    switch (type) {
    case MUSHIN_INT8: PI_LOAD32(int8_t)
    case MUSHIN_UINT8: PI_LOAD32(uint8_t)
    case MUSHIN_INT16: PI_LOAD32(int16_t)
    case MUSHIN_UINT16: PI_LOAD32(uint16_t)
    default: PI_LOAD32(int32_t)
    }
#undef PI_LOAD32
}

/* count_pairs_matrix on int32 labels; `ignore_index` is given only when it
 * fits in int32 (has_ignore = 0 otherwise: no int32 label can equal it). */
PI_BODY int
count_pairs_matrix32(int64_t *cm, int32_t num_classes, int has_ignore, int32_t ignore_index,
                     const int32_t *t, const int32_t *p, int64_t n, uint32_t *bins)
{
    const uint32_t c = (uint32_t)num_classes, skip = c * c, stride = skip + 1;
    uint32_t bad = 0;
    int64_t k;
    int64_t *h0 = cm, *h1 = cm + stride, *h2 = cm + 2 * stride, *h3 = cm + 3 * stride;
    for (k = 0; k < n; k++) {
        const uint32_t ignored = (uint32_t)(has_ignore & (t[k] == ignore_index));
        const uint32_t t_out = (uint32_t)t[k] >= c, p_out = (uint32_t)p[k] >= c;
        const uint32_t p_bad = p_out & ~(ignored & (uint32_t)(p[k] == ignore_index));
        const uint32_t off = ignored | t_out | p_out;
        bad |= ((t_out & ~ignored) | p_bad) & 1u;
        bins[k] = off ? skip : (uint32_t)t[k] * c + (uint32_t)p[k];
    }
    if (bad) {
        return -1;
    }
    for (k = 0; k + 4 <= n; k += 4) {
        h0[bins[k]]++;
        h1[bins[k + 1]]++;
        h2[bins[k + 2]]++;
        h3[bins[k + 3]]++;
    }
    for (; k < n; k++) {
        h0[bins[k]]++;
    }
    return 0;
}

/* The same pairs into per-class target counts, prediction counts and TP. */
PI_BODY int
count_pairs_marginals(int64_t *rows, int64_t *cols, int64_t *tp, int64_t num_classes,
                      int has_ignore, int64_t ignore_index, const int64_t *t,
                      const int64_t *p, int64_t n)
{
    const uint64_t c = (uint64_t)num_classes;
    int64_t k;
    for (k = 0; k < n; k++) {
        if (has_ignore && t[k] == ignore_index) {
            if ((uint64_t)p[k] >= c && p[k] != ignore_index) {
                return -1;
            }
            continue;
        }
        if ((uint64_t)t[k] >= c || (uint64_t)p[k] >= c) {
            return -1;
        }
        rows[t[k]]++;
        cols[p[k]]++;
        tp[t[k]] += t[k] == p[k];
    }
    return 0;
}

PI_BODY int
perimage_count_body(int64_t *out, int64_t num_classes, int has_ignore, int64_t ignore_index,
                    int ndim, const int64_t *shape, mushin_index_view preds,
                    mushin_index_view target, mushin_bad_values *bad)
{
    int64_t num_images, pixels = 1, row_len, row_count = 1, img, r, k, c;
    int64_t ps_row, ts_row, idx[MUSHIN_MAX_NDIM];
    int64_t *scratch = NULL, *tbuf, *pbuf, *cm = NULL, *rows = NULL, *cols = NULL, *tpv = NULL;
    int use_matrix, use_narrow, ignore32, d, status = MUSHIN_OK;

    if (out == NULL || num_classes < 1 || ndim < 1 || ndim > MUSHIN_MAX_NDIM || shape == NULL) {
        return MUSHIN_EINVAL;
    }
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            return MUSHIN_EINVAL;
        }
        if (d > 0) {
            pixels *= shape[d];
        }
    }
    num_images = shape[0];
    if ((uint64_t)num_images > (uint64_t)INT64_MAX / 3 / (uint64_t)num_classes) {
        return MUSHIN_EINVAL;
    }
    memset(out, 0, (size_t)(num_images * num_classes * 3) * sizeof(int64_t));
    if (num_images == 0 || pixels == 0) {
        return MUSHIN_OK;
    }
    row_len = ndim > 1 ? shape[ndim - 1] : 1;
    ps_row = ndim > 1 ? preds.strides[ndim - 1] : 0;
    ts_row = ndim > 1 ? target.strides[ndim - 1] : 0;
    for (d = 1; d < ndim - 1; d++) {
        row_count *= shape[d];
    }
    use_matrix = num_classes <= 4096 &&
                 num_classes * num_classes <= (pixels / 4 > 1024 ? pixels / 4 : 1024);
    scratch = (int64_t *)malloc((size_t)(3 * PI_BLOCK) * sizeof(int64_t));
    if (use_matrix) {
        cm = (int64_t *)malloc((size_t)(PI_SUB * (num_classes * num_classes + 1)) * sizeof(int64_t));
    }
    else {
        rows = (int64_t *)malloc((size_t)(3 * num_classes) * sizeof(int64_t));
    }
    if (scratch == NULL || (use_matrix ? cm == NULL : rows == NULL)) {
        free(scratch);
        free(cm);
        free(rows);
        return MUSHIN_ENOMEM;
    }
    tbuf = scratch;
    pbuf = scratch + PI_BLOCK;
    use_narrow = use_matrix && narrow_type(preds.type) && narrow_type(target.type);
    ignore32 = has_ignore && ignore_index >= INT32_MIN && ignore_index <= INT32_MAX;
    if (!use_matrix) {
        cols = rows + num_classes;
        tpv = cols + num_classes;
    }

    for (img = 0; img < num_images && status == MUSHIN_OK; img++) {
        int64_t *o = out + img * num_classes * 3;
        if (use_matrix) {
            memset(cm, 0, (size_t)(PI_SUB * (num_classes * num_classes + 1)) * sizeof(int64_t));
        }
        else {
            memset(rows, 0, (size_t)(3 * num_classes) * sizeof(int64_t));
        }
        for (d = 0; d < ndim; d++) {
            idx[d] = 0;
        }
        for (r = 0; r < row_count && status == MUSHIN_OK; r++) {
            const char *prow = preds.data + img * preds.strides[0];
            const char *trow = target.data + img * target.strides[0];
            for (d = 1; d < ndim - 1; d++) {
                prow += idx[d] * preds.strides[d];
                trow += idx[d] * target.strides[d];
            }
            for (k = 0; k < row_len; k += PI_BLOCK) {
                const int64_t n = row_len - k < PI_BLOCK ? row_len - k : PI_BLOCK;
                int failed;
                const int64_t *tv, *pv;
                if (use_narrow) {
                    int32_t *t32 = (int32_t *)(void *)tbuf, *p32 = (int32_t *)(void *)pbuf;
                    load_labels32(t32, trow + k * ts_row, ts_row, n, target.type);
                    load_labels32(p32, prow + k * ps_row, ps_row, n, preds.type);
                    if (count_pairs_matrix32(cm, (int32_t)num_classes, ignore32, (int32_t)ignore_index,
                                             t32, p32, n, (uint32_t *)(void *)(scratch + 2 * PI_BLOCK))) {
                        status = MUSHIN_EBADVALUE;
                        break;
                    }
                    continue;
                }
                /* contiguous int64 rows are read in place; others are widened first */
                tv = mushin_label_block(tbuf, trow + k * ts_row, ts_row, n, target.type);
                pv = mushin_label_block(pbuf, prow + k * ps_row, ps_row, n, preds.type);
                failed = use_matrix
                    ? count_pairs_matrix(cm, num_classes, has_ignore, ignore_index, tv, pv, n,
                                         (uint64_t *)(scratch + 2 * PI_BLOCK))
                    : count_pairs_marginals(rows, cols, tpv, num_classes, has_ignore,
                                            ignore_index, tv, pv, n);
                if (failed) {
                    status = MUSHIN_EBADVALUE;
                    break;
                }
            }
            /* the odometer over dims 1 .. ndim - 2 */
            for (d = ndim - 2; d >= 1; d--) {
                if (++idx[d] < shape[d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
        if (status != MUSHIN_OK) {
            break;
        }
        if (use_matrix) {
            /* fold the copies into the first */
            const int64_t stride = num_classes * num_classes + 1;
            int sub;
            for (sub = 1; sub < PI_SUB; sub++) {
                for (k = 0; k < stride; k++) {
                    cm[k] += cm[sub * stride + k];
                }
            }
        }
        for (c = 0; c < num_classes; c++) {
            int64_t tp, row_sum = 0, col_sum = 0, j;
            if (use_matrix) {
                tp = cm[c * num_classes + c];
                for (j = 0; j < num_classes; j++) {
                    row_sum += cm[c * num_classes + j];
                    col_sum += cm[j * num_classes + c];
                }
            }
            else {
                tp = tpv[c];
                row_sum = rows[c];
                col_sum = cols[c];
            }
            o[3 * c + MUSHIN_PI_TP] = tp;
            o[3 * c + MUSHIN_PI_FP] = col_sum - tp;
            o[3 * c + MUSHIN_PI_FN] = row_sum - tp;
        }
    }
    free(scratch);
    free(cm);
    free(rows);
    if (status == MUSHIN_EBADVALUE) {
        /* the exact report (counts, first values, positions) of the plain kernel */
        if (mushin_confusion_validate(num_classes, has_ignore, ignore_index, ndim, shape,
                                      preds, target, bad) != MUSHIN_EBADVALUE) {
            return MUSHIN_EINVAL;
        }
    }
    return status;
}

#define PI_COUNT_PARAMS                                                                  \
    (int64_t *out, int64_t num_classes, int has_ignore, int64_t ignore_index, int ndim, \
     const int64_t *shape, mushin_index_view preds, mushin_index_view target,           \
     mushin_bad_values *bad)
#define PI_COUNT_ARGS (out, num_classes, has_ignore, ignore_index, ndim, shape, preds, target, bad)

#ifdef PI_DISPATCH
static int perimage_count_baseline PI_COUNT_PARAMS { return perimage_count_body PI_COUNT_ARGS; }
PI_TARGET_AVX2 static int perimage_count_avx2 PI_COUNT_PARAMS { return perimage_count_body PI_COUNT_ARGS; }
PI_TARGET_AVX512 static int perimage_count_avx512 PI_COUNT_PARAMS { return perimage_count_body PI_COUNT_ARGS; }
#endif

int
mushin_perimage_count PI_COUNT_PARAMS
{
#ifdef PI_DISPATCH
    switch (mushin_isa_level()) {
    case 2: return perimage_count_avx512 PI_COUNT_ARGS;
    case 1: return perimage_count_avx2 PI_COUNT_ARGS;
    default: return perimage_count_baseline PI_COUNT_ARGS;
    }
#else
    return perimage_count_body PI_COUNT_ARGS;
#endif
}

int
mushin_perimage_count_logits(int64_t *out, int64_t *batch_counts, int64_t num_classes,
                             int has_ignore, int64_t ignore_index, int ndim,
                             const int64_t *shape, int class_dim, mushin_float_view logits,
                             mushin_index_view target, mushin_bad_values *bad)
{
    const int64_t nn = num_classes * num_classes;
    int64_t *cm, img, c, j;
    int d, status = MUSHIN_OK;
    if (out == NULL || batch_counts == NULL || num_classes < 1 ||
        num_classes > MUSHIN_PI_MAX_FUSED_CLASSES || ndim < 2 || ndim > MUSHIN_MAX_NDIM ||
        class_dim < 1 || class_dim >= ndim || shape[class_dim] != num_classes) {
        return MUSHIN_EINVAL;
    }
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            return MUSHIN_EINVAL;
        }
    }
    memset(out, 0, (size_t)(shape[0] * num_classes * 3) * sizeof(int64_t));
    cm = (int64_t *)malloc((size_t)nn * sizeof(int64_t));
    if (cm == NULL) {
        return MUSHIN_ENOMEM;
    }
    for (img = 0; img < shape[0]; img++) {
        mushin_float_view lv = logits;
        mushin_index_view tv = target;
        int64_t *o = out + img * num_classes * 3;
        lv.data += img * logits.strides[0];
        lv.strides = logits.strides + 1;
        tv.data += img * target.strides[0];
        tv.strides = target.strides + 1;
        memset(cm, 0, (size_t)nn * sizeof(int64_t));
        /* one image: the logits without dim 0, one thread (images are small) */
        status = mushin_confusion_count_logits(cm, num_classes, has_ignore, ignore_index, ndim - 1,
                                               shape + 1, class_dim - 1, lv, tv, 1, bad);
        if (status != MUSHIN_OK) {
            break;
        }
        for (c = 0; c < num_classes; c++) {
            int64_t row_sum = 0, col_sum = 0;
            for (j = 0; j < num_classes; j++) {
                row_sum += cm[c * num_classes + j];
                col_sum += cm[j * num_classes + c];
            }
            o[3 * c + MUSHIN_PI_TP] = cm[c * num_classes + c];
            o[3 * c + MUSHIN_PI_FP] = col_sum - cm[c * num_classes + c];
            o[3 * c + MUSHIN_PI_FN] = row_sum - cm[c * num_classes + c];
        }
        mushin_counts_add(batch_counts, cm, nn);
    }
    free(cm);
    if (status == MUSHIN_EBADVALUE) {
        /* the report of the whole batch, not of the image that failed */
        int64_t tshape[MUSHIN_MAX_NDIM];
        for (d = 0, j = 0; d < ndim; d++) {
            if (d != class_dim) {
                tshape[j++] = shape[d];
            }
        }
        if (mushin_confusion_validate_target(num_classes, has_ignore, ignore_index, ndim - 1, tshape,
                                             target, bad) != MUSHIN_EBADVALUE) {
            return MUSHIN_EINVAL;
        }
    }
    return status;
}

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
