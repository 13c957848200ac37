/*
 * logits.c -- the fused path: argmax over the class dimension of float
 * logits (argmax.c), counted against integer labels, in one pass over the
 * logits and without a prediction tensor.  Each block of pixels is
 * reduced to class indices on the stack and counted by the shared counting
 * driver of confusion_internal.h.
 */
#include "argmax_internal.h"
#include "dtype_load.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ counting -- */

static void
note_bad_targets(const mushin_rules *rules, mushin_bad_values *bad, const int64_t *tb,
                 int64_t n, int64_t pos0)
{
    const uint64_t C = (uint64_t)rules->num_classes;
    int64_t i;
    for (i = 0; i < n; i++) {
        const int64_t t = tb[i];
        if ((uint64_t)t >= C && !(rules->has_ignore && t == rules->ignore_index)) {
            mushin_note_bad(&bad->target_bad, &bad->target_first, &bad->target_first_pos, t,
                            pos0 + i);
        }
    }
}

static void
count_fused_direct(const mushin_rules *rules, int64_t *counts, mushin_bad_values *bad,
                   const int32_t *pb, const int64_t *tb, int64_t n, int64_t pos0)
{
    const uint64_t C = (uint64_t)rules->num_classes;
    int64_t i;
    for (i = 0; i < n; i++) {
        const int64_t t = tb[i];
        if ((uint64_t)t < C && !(rules->ignore_in_range && t == rules->ignore_index)) {
            counts[(uint64_t)t * C + (uint64_t)pb[i]]++;
        }
        else if (!(rules->has_ignore && t == rules->ignore_index)) {
            mushin_note_bad(&bad->target_bad, &bad->target_first, &bad->target_first_pos, t,
                            pos0 + i);
        }
    }
}

/* As pair_bins in confusion.c; a prediction is always a class, so only
 * targets can be invalid. */
MUSHIN_BODY int
fused_bins_body(const mushin_rules *rules, int shift, uint64_t *restrict bins,
                const int32_t *restrict pb, const int64_t *restrict tb, int64_t n)
{
    const uint64_t C = (uint64_t)rules->num_classes;
    const uint64_t discard = C << shift;
    const uint64_t ign = (uint64_t)rules->ignore_index;
    const int64_t has_ign = -(int64_t)rules->has_ignore;
    int64_t any_bad = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        const uint64_t t = (uint64_t)tb[i];
        const int64_t t_in = -(int64_t)(t < C);
        const int64_t ignored = -(int64_t)(t == ign) & has_ign;
        any_bad |= ~(t_in | ignored);
        bins[i] = (t_in & ~ignored) ? (t << shift) + (uint64_t)(uint32_t)pb[i] : discard;
    }
    return any_bad != 0;
}

MUSHIN_ISA_VARIANTS(fused_bins,
                    (const mushin_rules *rules, int shift, uint64_t *restrict bins,
                     const int32_t *restrict pb, const int64_t *restrict tb, int64_t n),
                    (rules, shift, bins, pb, tb, n))

typedef struct {
    mushin_view_job view; /* a: logits (class 0), b: target */
    mushin_ftype logits_type;
    mushin_itype target_type;
    int64_t class_stride;
    int classes_inner;
} logits_job;

MUSHIN_ALWAYS_INLINE void
logits_block(const mushin_view_job *view, const mushin_block *blk)
{
    const logits_job *job = (const logits_job *)(const void *)view;
    const mushin_rules *rules = &view->rules;
    const mushin_count_plan *plan = view->plan;
    mushin_argmax_scratch scratch;
    int32_t pbuf[MUSHIN_BLOCK];
    int64_t tbuf[MUSHIN_BLOCK];
    uint64_t bins[MUSHIN_BLOCK];
    const int64_t *tb = mushin_label_block(tbuf, blk->b, blk->sb, blk->n, job->target_type);

    if (blk->matrix == NULL) {
        note_bad_targets(rules, blk->bad, tb, blk->n, blk->pos);
        return;
    }
    if (job->classes_inner) {
        mushin_argmax_classes_inner(blk->a, blk->sa, job->logits_type, rules->num_classes,
                                    blk->n, pbuf);
    }
    else {
        mushin_argmax_classes_outer(blk->a, blk->sa, job->class_stride, job->logits_type,
                                    rules->num_classes, blk->n, pbuf, &scratch);
    }
    if (plan->buffer == NULL) {
        count_fused_direct(rules, blk->matrix, blk->bad, pbuf, tb, blk->n, blk->pos);
    }
    else {
        if (fused_bins(rules, plan->shift, bins, pbuf, tb, blk->n)) {
            note_bad_targets(rules, blk->bad, tb, blk->n, blk->pos);
        }
        mushin_scatter_bins(blk->matrix, plan->stride, plan->num_sub, bins, blk->n);
    }
}

static void
logits_chunk(void *arg, int worker, int chunk)
{
    mushin_walk_blocks((const mushin_view_job *)arg, worker, chunk, logits_block);
}

static int
logits_update(int64_t *counts, int64_t num_classes, int has_ignore, int64_t ignore_index,
              int ndim, const int64_t *shape, int class_dim, mushin_float_view logits,
              mushin_index_view target, int num_threads, mushin_bad_values *bad)
{
    int64_t pixel_shape[MUSHIN_MAX_NDIM], pixel_strides[MUSHIN_MAX_NDIM];
    const size_t size = mushin_float_itemsize(logits.type);
    logits_job job;
    int d, k = 0, status;

    if (bad == NULL || num_classes <= 0 || num_classes > ((int64_t)1 << 31) || size == 0 ||
        ndim < 1 || ndim > MUSHIN_MAX_NDIM || class_dim < 0 || class_dim >= ndim ||
        shape[class_dim] != num_classes) {
        return MUSHIN_EINVAL;
    }
    memset(bad, 0, sizeof(*bad));
    for (d = 0; d < ndim; d++) {
        if (d != class_dim) {
            pixel_shape[k] = shape[d];
            pixel_strides[k] = logits.strides[d];
            k++;
        }
    }
    status = mushin_walk_init(&job.view.walk, ndim - 1, pixel_shape, pixel_strides,
                              target.strides, (int64_t)size,
                              (int64_t)mushin_itemsize(target.type));
    if (status != MUSHIN_OK) {
        return status;
    }
    job.view.a = logits.data;
    job.view.b = target.data;
    job.view.counts = counts;
    job.logits_type = logits.type;
    job.target_type = target.type;
    job.class_stride = logits.strides[class_dim];
    /* channels-last: a pixel's classes are one contiguous vector and the
     * pixels are not, so scan each vector rather than gather rows */
    job.classes_inner = job.class_stride == (int64_t)size &&
                        job.view.walk.sa[job.view.walk.k - 1] != (int64_t)size;
    return mushin_count_update(&job.view, num_classes, has_ignore, ignore_index,
                               job.view.walk.size * num_classes, num_threads, logits_chunk,
                               bad);
}

int
mushin_confusion_count_logits(int64_t *counts, int64_t num_classes, int has_ignore,
                              int64_t ignore_index, int ndim, const int64_t *shape,
                              int class_dim, mushin_float_view logits,
                              mushin_index_view target, int num_threads,
                              mushin_bad_values *bad)
{
    if (counts == NULL) {
        return MUSHIN_EINVAL;
    }
    return logits_update(counts, num_classes, has_ignore, ignore_index, ndim, shape,
                         class_dim, logits, target, num_threads, bad);
}

int
mushin_confusion_validate_target(int64_t num_classes, int has_ignore, int64_t ignore_index,
                                 int ndim, const int64_t *shape, mushin_index_view target,
                                 mushin_bad_values *bad)
{
    logits_job job;
    int status;

    if (bad == NULL || num_classes <= 0) {
        return MUSHIN_EINVAL;
    }
    memset(bad, 0, sizeof(*bad));
    memset(&job, 0, sizeof(job));
    /* the target walked as both views: only b is read */
    status = mushin_walk_init(&job.view.walk, ndim, shape, target.strides, target.strides,
                              (int64_t)mushin_itemsize(target.type),
                              (int64_t)mushin_itemsize(target.type));
    if (status != MUSHIN_OK) {
        return status;
    }
    job.view.a = target.data;
    job.view.b = target.data;
    job.view.counts = NULL;
    job.target_type = target.type;
    return mushin_count_update(&job.view, num_classes, has_ignore, ignore_index,
                               job.view.walk.size, 1, logits_chunk, bad);
}
