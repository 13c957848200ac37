/*
 * retrieval.h -- the mergeable state of the retrieval battery: every
 * (query index, score, relevance) triple, grouped by query at compute time.
 *
 * Plain C: no Python header, status codes of mushin_kernels.h, and a call
 * that fails leaves the state as it was.
 *
 * Semantics follow torchmetrics 1.9's RetrievalMAP, RetrievalNormalizedDCG,
 * RetrievalMRR, RetrievalPrecision and RetrievalRecall with their defaults
 * (empty_target_action="neg", aggregation="mean", adaptive_k=False), which
 * is how upstream mushin-py 0.16.0's retrieval battery builds them, with one
 * shared top_k (None there):
 *
 *  - scores are rounded to float32 when stored, as torchmetrics casts them;
 *  - a query whose relevances sum to 0 scores 0 on every metric;
 *  - map, mrr, precision and recall treat an item whose score is <= 0 as
 *    not relevant (torchmetrics 1.9 masks the target with preds > 0), but
 *    recall still divides by the query's relevant count before masking;
 *  - precision@k divides by k (the query's size when top_k is 0), even when
 *    the query has fewer than k items;
 *  - ndcg averages the gain over tied scores (sklearn's rule, which
 *    torchmetrics translated), with discount 1 / log2(rank + 1) up to k;
 *  - every metric is the plain mean over queries.
 *
 * Ties.  torchmetrics orders tied scores by torch.topk / argsort, whose order
 * among equal values is unspecified (on CPU, topk of [0, 1, 1, 0, 1] gives
 * positions [2, 4, 1, 0, 3]).  Here items with equal scores are ranked
 * non-relevant first (the pessimistic order), so the result is defined and
 * does not depend on the order in which triples or states arrived: map, mrr
 * and the @k metrics can differ from torchmetrics only where a relevant and
 * a non-relevant item of one query tie.  ndcg needs no rule.
 */
#ifndef MUSHIN_RETRIEVAL_H
#define MUSHIN_RETRIEVAL_H

#include "mushin_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t n;
    int64_t capacity;
    int graded;       /* 0: relevances must be 0 or 1; 1: any finite value */
    int64_t *index;   /* query of each item, >= 0 */
    float *preds;
    double *target;
} mushin_retrieval_groups;

/* A strided vector: index as int64, preds float32/float64, target float64,
 * float32, int64, int32, uint8 (bool) -- see mushin_retrieval_append. */
typedef struct {
    const char *data;
    int type;        /* MUSHIN_RT_* */
    int64_t stride;  /* bytes */
} mushin_rt_view;

enum {
    MUSHIN_RT_INT64 = 0,
    MUSHIN_RT_INT32,
    MUSHIN_RT_UINT8, /* bool */
    MUSHIN_RT_FLOAT32,
    MUSHIN_RT_FLOAT64
};

/* What append refused: which = 0 index (negative), 1 preds (NaN or
 * infinite), 2 target (not finite, or not 0/1 unless graded). */
typedef struct {
    int64_t count;
    int64_t first_pos;
    double first;
    int which;
} mushin_retrieval_bad;

typedef struct {
    double map, ndcg, mrr, precision, recall; /* NaN with no items */
    int64_t queries;
} mushin_retrieval_metrics;

void mushin_retrieval_init(mushin_retrieval_groups *g, int graded);
void mushin_retrieval_clear(mushin_retrieval_groups *g);

/*
 * Append n triples, or nothing: MUSHIN_EBADVALUE with `bad` (the first
 * offending tensor in the order index, preds, target), MUSHIN_ENOMEM,
 * MUSHIN_EOVERFLOW past 2^40 items, MUSHIN_EINVAL for a view of the wrong
 * type (index must be an integer type, preds a float type).
 */
int mushin_retrieval_append(mushin_retrieval_groups *g, int64_t n,
                            mushin_rt_view index, mushin_rt_view preds,
                            mushin_rt_view target, mushin_retrieval_bad *bad);

/* dst += src (concatenation; all or nothing).  MUSHIN_EINVAL if src is
 * graded and dst is not but src holds a non-binary relevance. */
int mushin_retrieval_merge(mushin_retrieval_groups *dst,
                           const mushin_retrieval_groups *src);

/*
 * The five metrics at cut-off top_k (0: no cut-off).  Needs n items of
 * scratch (MUSHIN_ENOMEM otherwise); MUSHIN_EINVAL for top_k < 0.
 */
int mushin_retrieval_compute(const mushin_retrieval_groups *g, int64_t top_k,
                             mushin_retrieval_metrics *out);

#ifdef __cplusplus
}
#endif

#endif /* MUSHIN_RETRIEVAL_H */
