/*
 * perimage.c -- per-image TP/FP/FN counts (see perimage.h).
 *
 * Counting reads each image row by row: a row of labels is widened to int64
 * in blocks by a loop specialised to its element type, then counted by one
 * generic loop.  For few classes the pairs go into a small per-image
 * confusion matrix (one increment per pixel, as the plain confusion kernel
 * does) that is folded into TP/FP/FN when the image is done; for many
 * classes, where zeroing that matrix per image would cost more than the
 * pixels, into per-class target and prediction counts and TP.
 *
 * The metrics of the counts and the two-level bootstrap over them are in
 * bootstrap.c.
 */
#include "perimage.h"
#include "confusion_internal.h"
#include "dtype_load.h"

#include <stdlib.h>
#include <string.h>

#include "perimage_internal.h"

#define PI_BLOCK 512


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
