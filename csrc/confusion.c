/*
 * confusion.c -- confusion-matrix accumulation over strided integer arrays.
 *
 * The traversal coalesces the dimensions both views can walk together, then
 * converts one chunk of each view at a time into int64 buffers that stay in
 * L1, so one counting loop serves every pair of element types and every
 * stride pattern.  Contiguous int64 input skips the conversion.
 */
#include "mushin_kernels.h"

#include <string.h>

#define CHUNK 1024

/* Load n integers of type `type` spaced `stride` bytes apart into out. */
static void
load_int64(int64_t *out, const char *src, int64_t stride, int64_t n,
           mushin_itype type)
{
    int64_t i;
#define LOAD(T)                                                       \
    for (i = 0; i < n; i++) {                                         \
        out[i] = (int64_t)(*(const T *)(src + i * stride));           \
    }                                                                 \
    break;
    switch (type) {
    case MUSHIN_INT8: LOAD(int8_t)
    case MUSHIN_INT16: LOAD(int16_t)
    case MUSHIN_INT32: LOAD(int32_t)
    case MUSHIN_INT64: LOAD(int64_t)
    case MUSHIN_UINT8: LOAD(uint8_t)
    case MUSHIN_UINT16: LOAD(uint16_t)
    case MUSHIN_UINT32: LOAD(uint32_t)
    }
#undef LOAD
}

static size_t
itemsize(mushin_itype type)
{
    switch (type) {
    case MUSHIN_INT8: case MUSHIN_UINT8: return 1;
    case MUSHIN_INT16: case MUSHIN_UINT16: return 2;
    case MUSHIN_INT32: case MUSHIN_UINT32: return 4;
    case MUSHIN_INT64: return 8;
    }
    return 0;
}

typedef struct {
    int64_t num_classes;
    int has_ignore;
    int ignore_in_range;
    int64_t ignore_index;
    int64_t *counts; /* NULL: validate only */
    mushin_bad_values *bad;
} count_ctx;

static void
note_bad(int64_t *nbad, int64_t *first, int64_t *first_pos, int64_t value,
         int64_t pos)
{
    if (*nbad == 0) {
        *first = value;
        *first_pos = pos;
    }
    (*nbad)++;
}

/* The rare path: a value outside the class range or an ignored target. */
static void
classify_slow(const count_ctx *ctx, int64_t t, int64_t p, int64_t pos)
{
    const int64_t C = ctx->num_classes;
    const int t_ok = t >= 0 && t < C;
    const int p_ok = p >= 0 && p < C;

    if (ctx->has_ignore && t == ctx->ignore_index) {
        if (!p_ok && p != ctx->ignore_index) {
            note_bad(&ctx->bad->preds_bad, &ctx->bad->preds_first,
                     &ctx->bad->preds_first_pos, p, pos);
        }
        return;
    }
    if (!t_ok) {
        note_bad(&ctx->bad->target_bad, &ctx->bad->target_first,
                 &ctx->bad->target_first_pos, t, pos);
    }
    if (!p_ok) {
        note_bad(&ctx->bad->preds_bad, &ctx->bad->preds_first,
                 &ctx->bad->preds_first_pos, p, pos);
    }
}

static void
count_chunk(const count_ctx *ctx, const int64_t *pb, const int64_t *tb,
            int64_t n, int64_t pos0)
{
    const uint64_t C = (uint64_t)ctx->num_classes;
    const int64_t ign = ctx->ignore_index;
    const int ign_in = ctx->ignore_in_range;
    int64_t *counts = ctx->counts;
    int64_t i;

    if (counts == NULL) {
        for (i = 0; i < n; i++) {
            const int64_t t = tb[i], p = pb[i];
            if (!((uint64_t)t < C && (uint64_t)p < C && !(ign_in && t == ign))) {
                classify_slow(ctx, t, p, pos0 + i);
            }
        }
        return;
    }
    for (i = 0; i < n; i++) {
        const int64_t t = tb[i], p = pb[i];
        if ((uint64_t)t < C && (uint64_t)p < C && !(ign_in && t == ign)) {
            counts[(uint64_t)t * C + (uint64_t)p]++;
        }
        else {
            classify_slow(ctx, t, p, pos0 + i);
        }
    }
}

/*
 * Merge adjacent dimensions that both views traverse with one stride, and
 * drop length-1 dimensions.  Writes the reduced shape/strides, returns the
 * new ndim (0 means a single element).
 */
static int
coalesce(int ndim, const int64_t *shape, const int64_t *ps, const int64_t *ts,
         int64_t *oshape, int64_t *ops, int64_t *ots)
{
    int i, k = 0;
    for (i = 0; i < ndim; i++) {
        if (shape[i] == 1) {
            continue;
        }
        if (k > 0 && ops[k - 1] == ps[i] * shape[i] &&
            ots[k - 1] == ts[i] * shape[i]) {
            oshape[k - 1] *= shape[i];
            ops[k - 1] = ps[i];
            ots[k - 1] = ts[i];
        }
        else {
            oshape[k] = shape[i];
            ops[k] = ps[i];
            ots[k] = ts[i];
            k++;
        }
    }
    return k;
}

static int
traverse(const count_ctx *ctx, int ndim, const int64_t *shape,
         mushin_index_view preds, mushin_index_view target)
{
    int64_t cshape[MUSHIN_MAX_NDIM], cps[MUSHIN_MAX_NDIM], cts[MUSHIN_MAX_NDIM];
    int64_t index[MUSHIN_MAX_NDIM];
    int64_t pbuf[CHUNK], tbuf[CHUNK];
    int64_t inner, inner_ps, inner_ts, pos = 0;
    int k, d;

    if (ndim < 0 || ndim > MUSHIN_MAX_NDIM || ctx->num_classes <= 0) {
        return MUSHIN_EINVAL;
    }
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            return MUSHIN_EINVAL;
        }
        if (shape[d] == 0) {
            return MUSHIN_OK;
        }
    }
    k = coalesce(ndim, shape, preds.strides, target.strides, cshape, cps, cts);
    if (k == 0) {
        cshape[0] = 1;
        cps[0] = (int64_t)itemsize(preds.type);
        cts[0] = (int64_t)itemsize(target.type);
        k = 1;
    }
    inner = cshape[k - 1];
    inner_ps = cps[k - 1];
    inner_ts = cts[k - 1];
    memset(index, 0, sizeof(index));

    for (;;) {
        const char *prow = preds.data;
        const char *trow = target.data;
        int64_t j;
        for (d = 0; d < k - 1; d++) {
            prow += index[d] * cps[d];
            trow += index[d] * cts[d];
        }
        for (j = 0; j < inner; j += CHUNK) {
            const int64_t n = inner - j < CHUNK ? inner - j : CHUNK;
            const int64_t *pb, *tb;
            if (preds.type == MUSHIN_INT64 && inner_ps == 8) {
                pb = (const int64_t *)(prow + j * 8);
            }
            else {
                load_int64(pbuf, prow + j * inner_ps, inner_ps, n, preds.type);
                pb = pbuf;
            }
            if (target.type == MUSHIN_INT64 && inner_ts == 8) {
                tb = (const int64_t *)(trow + j * 8);
            }
            else {
                load_int64(tbuf, trow + j * inner_ts, inner_ts, n, target.type);
                tb = tbuf;
            }
            count_chunk(ctx, pb, tb, n, pos);
            pos += n;
        }
        /* advance the outer multi-index in C order */
        for (d = k - 2; d >= 0; d--) {
            if (++index[d] < cshape[d]) {
                break;
            }
            index[d] = 0;
        }
        if (d < 0) {
            break;
        }
    }
    if (ctx->bad->preds_bad || ctx->bad->target_bad) {
        return MUSHIN_EBADVALUE;
    }
    return MUSHIN_OK;
}

static void
init_ctx(count_ctx *ctx, int64_t *counts, int64_t num_classes, int has_ignore,
         int64_t ignore_index, mushin_bad_values *bad)
{
    ctx->num_classes = num_classes;
    ctx->has_ignore = has_ignore != 0;
    ctx->ignore_index = ignore_index;
    ctx->ignore_in_range =
        has_ignore && ignore_index >= 0 && ignore_index < num_classes;
    ctx->counts = counts;
    ctx->bad = bad;
    memset(bad, 0, sizeof(*bad));
}

int
mushin_confusion_count(int64_t *counts, int64_t num_classes, int has_ignore,
                       int64_t ignore_index, int ndim, const int64_t *shape,
                       mushin_index_view preds, mushin_index_view target,
                       mushin_bad_values *bad)
{
    count_ctx ctx;
    if (counts == NULL || bad == NULL) {
        return MUSHIN_EINVAL;
    }
    init_ctx(&ctx, counts, num_classes, has_ignore, ignore_index, bad);
    return traverse(&ctx, ndim, shape, preds, target);
}

int
mushin_confusion_validate(int64_t num_classes, int has_ignore,
                          int64_t ignore_index, int ndim, const int64_t *shape,
                          mushin_index_view preds, mushin_index_view target,
                          mushin_bad_values *bad)
{
    count_ctx ctx;
    if (bad == NULL) {
        return MUSHIN_EINVAL;
    }
    init_ctx(&ctx, NULL, num_classes, has_ignore, ignore_index, bad);
    return traverse(&ctx, ndim, shape, preds, target);
}

void
mushin_counts_add(int64_t *counts, const int64_t *add, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        counts[i] += add[i];
    }
}
