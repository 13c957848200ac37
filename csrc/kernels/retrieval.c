/*
 * retrieval.c -- grouped retrieval metrics; see retrieval.h.
 */
#include "retrieval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS ((int64_t)1 << 40)

void
mushin_retrieval_init(mushin_retrieval_groups *g, int graded)
{
    memset(g, 0, sizeof *g);
    g->graded = graded ? 1 : 0;
}

void
mushin_retrieval_clear(mushin_retrieval_groups *g)
{
    const int graded = g->graded;
    free(g->index);
    free(g->preds);
    free(g->target);
    mushin_retrieval_init(g, graded);
}

static double
load(mushin_rt_view v, int64_t i)
{
    const char *p = v.data + i * v.stride;
    switch (v.type) {
    case MUSHIN_RT_INT64: {
        int64_t x;
        memcpy(&x, p, sizeof x);
        return (double)x;
    }
    case MUSHIN_RT_INT32: {
        int32_t x;
        memcpy(&x, p, sizeof x);
        return (double)x;
    }
    case MUSHIN_RT_UINT8:
        return (double)*(const uint8_t *)p;
    case MUSHIN_RT_FLOAT32: {
        float x;
        memcpy(&x, p, sizeof x);
        return (double)x;
    }
    default: {
        double x;
        memcpy(&x, p, sizeof x);
        return x;
    }
    }
}

static int64_t
load_index(mushin_rt_view v, int64_t i)
{
    const char *p = v.data + i * v.stride;
    if (v.type == MUSHIN_RT_INT64) {
        int64_t x;
        memcpy(&x, p, sizeof x);
        return x;
    }
    else {
        int32_t x;
        memcpy(&x, p, sizeof x);
        return x;
    }
}

static int
target_ok(double t, int graded)
{
    return graded ? isfinite(t) : (t == 0.0 || t == 1.0);
}

/* every array grows to `want` or none does (the ones already grown keep
 * their old contents, and g->n is unchanged) */
static int
reserve(mushin_retrieval_groups *g, int64_t more)
{
    int64_t want, cap;
    void *p;
    if (more > MAX_ITEMS - g->n) {
        return MUSHIN_EOVERFLOW;
    }
    want = g->n + more;
    if (want <= g->capacity) {
        return MUSHIN_OK;
    }
    cap = g->capacity ? g->capacity : 1024;
    while (cap < want) {
        cap *= 2;
    }
    p = realloc(g->index, (size_t)cap * sizeof *g->index);
    if (!p) {
        return MUSHIN_ENOMEM;
    }
    g->index = p;
    p = realloc(g->preds, (size_t)cap * sizeof *g->preds);
    if (!p) {
        return MUSHIN_ENOMEM;
    }
    g->preds = p;
    p = realloc(g->target, (size_t)cap * sizeof *g->target);
    if (!p) {
        return MUSHIN_ENOMEM;
    }
    g->target = p;
    g->capacity = cap;
    return MUSHIN_OK;
}

static void
note_bad(mushin_retrieval_bad *bad, int which, int64_t pos, double value)
{
    if (bad->count++ == 0) {
        bad->which = which;
        bad->first_pos = pos;
        bad->first = value;
    }
}

int
mushin_retrieval_append(mushin_retrieval_groups *g, int64_t n,
                        mushin_rt_view index, mushin_rt_view preds,
                        mushin_rt_view target, mushin_retrieval_bad *bad)
{
    int64_t i;
    int status;
    memset(bad, 0, sizeof *bad);
    bad->first_pos = -1;
    if (n < 0 || (index.type != MUSHIN_RT_INT64 && index.type != MUSHIN_RT_INT32)
        || (preds.type != MUSHIN_RT_FLOAT32 && preds.type != MUSHIN_RT_FLOAT64)
        || target.type < MUSHIN_RT_INT64 || target.type > MUSHIN_RT_FLOAT64
        || (n > 0 && (!index.data || !preds.data || !target.data))) {
        return MUSHIN_EINVAL;
    }
    /* check everything first, one tensor at a time, so that the error
     * names the first tensor that holds a bad value */
    for (i = 0; i < n; i++) {
        const int64_t q = load_index(index, i);
        if (q < 0) {
            note_bad(bad, 0, i, (double)q);
        }
    }
    for (i = 0; i < n && !bad->count; i++) {
        /* a finite float64 score can still overflow float32 */
        const double p = load(preds, i);
        if (!isfinite(p) || !isfinite((double)(float)p)) {
            note_bad(bad, 1, i, p);
        }
    }
    if (!bad->count) {
        for (i = 0; i < n; i++) {
            const double t = load(target, i);
            if (!target_ok(t, g->graded)) {
                note_bad(bad, 2, i, t);
            }
        }
    }
    if (bad->count) {
        return MUSHIN_EBADVALUE;
    }
    status = reserve(g, n);
    if (status != MUSHIN_OK) {
        return status;
    }
    for (i = 0; i < n; i++) {
        g->index[g->n + i] = load_index(index, i);
        g->preds[g->n + i] = (float)load(preds, i);
        g->target[g->n + i] = load(target, i);
    }
    g->n += n;
    return MUSHIN_OK;
}

int
mushin_retrieval_merge(mushin_retrieval_groups *dst,
                       const mushin_retrieval_groups *src)
{
    int64_t i;
    int status;
    if (dst == src) {
        return MUSHIN_EINVAL;
    }
    for (i = 0; i < src->n; i++) {
        if (!target_ok(src->target[i], dst->graded)
            || src->index[i] < 0 || !isfinite(src->preds[i])) {
            return MUSHIN_EINVAL;
        }
    }
    status = reserve(dst, src->n);
    if (status != MUSHIN_OK) {
        return status;
    }
    if (src->n) {
        memcpy(dst->index + dst->n, src->index, (size_t)src->n * sizeof *src->index);
        memcpy(dst->preds + dst->n, src->preds, (size_t)src->n * sizeof *src->preds);
        memcpy(dst->target + dst->n, src->target, (size_t)src->n * sizeof *src->target);
    }
    dst->n += src->n;
    return MUSHIN_OK;
}

/* ------------------------------------------------------------ compute -- */

typedef struct {
    int64_t index;
    float pred;
    double target;
} item;

/* by query, then score descending, then relevance ascending (ties ranked
 * pessimistically; equal triples are interchangeable for every metric) */
static int
cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->index != y->index) {
        return x->index < y->index ? -1 : 1;
    }
    if (x->pred != y->pred) {
        return x->pred > y->pred ? -1 : 1;
    }
    return (x->target > y->target) - (x->target < y->target);
}

static int
cmp_double_desc(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static double
discount(int64_t rank0, int64_t k)
{
    return rank0 < k ? 1.0 / log2((double)rank0 + 2.0) : 0.0;
}

/* one query: items q[0..m) sorted as cmp_item leaves them */
static void
query_metrics(const item *q, int64_t m, int64_t top_k, double *scratch,
              double out[5])
{
    const int64_t k = top_k ? top_k : m;
    const int64_t kk = k < m ? k : m;
    double total = 0.0, ap = 0.0, gain = 0.0, ideal = 0.0;
    int64_t i, hits = 0, first_hit = 0;
    for (i = 0; i < m; i++) {
        total += q[i].target;
    }
    if (total == 0.0) {
        /* empty_target_action="neg" */
        out[0] = out[1] = out[2] = out[3] = out[4] = 0.0;
        return;
    }
    for (i = 0; i < kk; i++) {
        const int rel = q[i].pred > 0.0f && q[i].target != 0.0;
        if (rel) {
            hits++;
            ap += (double)hits / (double)(i + 1);
            if (!first_hit) {
                first_hit = i + 1;
            }
        }
    }
    out[0] = hits ? ap / (double)hits : 0.0;
    out[2] = first_hit ? 1.0 / (double)first_hit : 0.0;
    out[3] = (double)hits / (double)k;
    out[4] = (double)hits / total;

    /* ndcg: the gain of a tie group is its mean relevance times the sum of
     * its discounts */
    i = 0;
    while (i < m) {
        int64_t j = i, r;
        double rel = 0.0, disc = 0.0;
        while (j + 1 < m && q[j + 1].pred == q[i].pred) {
            j++;
        }
        for (r = i; r <= j; r++) {
            rel += q[r].target;
            disc += discount(r, k);
        }
        gain += rel / (double)(j - i + 1) * disc;
        i = j + 1;
    }
    for (i = 0; i < m; i++) {
        scratch[i] = q[i].target;
    }
    qsort(scratch, (size_t)m, sizeof *scratch, cmp_double_desc);
    for (i = 0; i < kk; i++) {
        ideal += scratch[i] * discount(i, k);
    }
    out[1] = ideal == 0.0 ? 0.0 : gain / ideal;
}

int
mushin_retrieval_compute(const mushin_retrieval_groups *g, int64_t top_k,
                         mushin_retrieval_metrics *out)
{
    item *items;
    double *scratch, sums[5] = {0, 0, 0, 0, 0};
    int64_t i, queries = 0;
    out->map = out->ndcg = out->mrr = out->precision = out->recall = NAN;
    out->queries = 0;
    if (top_k < 0) {
        return MUSHIN_EINVAL;
    }
    if (g->n == 0) {
        return MUSHIN_OK;
    }
    items = malloc((size_t)g->n * sizeof *items);
    scratch = malloc((size_t)g->n * sizeof *scratch);
    if (!items || !scratch) {
        free(items);
        free(scratch);
        return MUSHIN_ENOMEM;
    }
    for (i = 0; i < g->n; i++) {
        items[i].index = g->index[i];
        items[i].pred = g->preds[i];
        items[i].target = g->target[i];
    }
    qsort(items, (size_t)g->n, sizeof *items, cmp_item);
    i = 0;
    while (i < g->n) {
        int64_t j = i;
        double v[5];
        int c;
        while (j < g->n && items[j].index == items[i].index) {
            j++;
        }
        query_metrics(items + i, j - i, top_k, scratch, v);
        for (c = 0; c < 5; c++) {
            sums[c] += v[c];
        }
        queries++;
        i = j;
    }
    free(items);
    free(scratch);
    out->queries = queries;
    out->map = sums[0] / (double)queries;
    out->ndcg = sums[1] / (double)queries;
    out->mrr = sums[2] / (double)queries;
    out->precision = sums[3] / (double)queries;
    out->recall = sums[4] / (double)queries;
    return MUSHIN_OK;
}
