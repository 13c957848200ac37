/*
 * confusion.c -- confusion-matrix accumulation over strided integer arrays.
 *
 * The traversal coalesces the dimensions both views can walk together, then
 * converts one block of each view at a time into int64 buffers that stay in
 * L1, so one counting loop serves every pair of element types and every
 * stride pattern.  Contiguous int64 input skips the conversion.
 *
 * Large updates are split into contiguous C-order ranges, one per thread,
 * each counted into a private matrix that is merged at the end (see
 * mushin_count_plan).  A private matrix has one extra bin that takes every
 * position that is not counted, so counting is two loops without branches:
 * one computes every position's bin (vectorised) and folds whether the block
 * held an invalid value into one flag -- only such a block is scanned again
 * to say which values were wrong -- and one adds the bins up.
 */
#include "confusion_internal.h"
#include "dtype_load.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A private matrix is used only if it is read at least this many times
 * per bin on average; below that, zeroing and merging it would dominate. */
#define PRIVATE_MIN_FILL 4

/* ------------------------------------------------------------- shared -- */

#ifdef MUSHIN_ISA_DISPATCH
#include <cpuid.h>

static int isa_cap = MUSHIN_ISA_AVX512;
static int isa_detected = -1; /* the CPU's level, found once */

/* F16C from cpuid (leaf 1, ECX bit 29): clang 14 rejects
 * __builtin_cpu_supports("f16c"), and gcc and clang agree on cpuid. */
static int
cpu_has_f16c(void)
{
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return 0;
    }
    return (ecx & (1u << 29)) != 0;
}

static int
isa_supported(void)
{
    /* relaxed atomics: threads that race here compute the same value */
    int level = __atomic_load_n(&isa_detected, __ATOMIC_RELAXED);
    if (level >= 0) {
        return level;
    }
    {
        const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("bmi2") && cpu_has_f16c();
        if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
            level = MUSHIN_ISA_AVX512;
        }
        else {
            level = avx2 ? MUSHIN_ISA_AVX2 : MUSHIN_ISA_BASELINE;
        }
    }
    __atomic_store_n(&isa_detected, level, __ATOMIC_RELAXED);
    return level;
}

int
mushin_isa_level(void)
{
    const int supported = isa_supported();
    const int cap = __atomic_load_n(&isa_cap, __ATOMIC_RELAXED);
    return supported < cap ? supported : cap;
}

int
mushin_isa_supported(void)
{
    return isa_supported();
}

int
mushin_set_isa_cap(int cap)
{
    cap = cap < MUSHIN_ISA_BASELINE ? MUSHIN_ISA_BASELINE
        : cap > MUSHIN_ISA_AVX512  ? MUSHIN_ISA_AVX512
                                   : cap;
    __atomic_store_n(&isa_cap, cap, __ATOMIC_RELAXED);
    return mushin_isa_level();
}
#else
int
mushin_isa_level(void)
{
    return MUSHIN_ISA_BASELINE;
}

int
mushin_isa_supported(void)
{
    return MUSHIN_ISA_BASELINE;
}

int
mushin_set_isa_cap(int cap)
{
    (void)cap;
    return MUSHIN_ISA_BASELINE;
}
#endif

void
mushin_rules_init(mushin_rules *rules, int64_t num_classes, int has_ignore,
                  int64_t ignore_index)
{
    rules->num_classes = num_classes;
    rules->has_ignore = has_ignore != 0;
    rules->ignore_index = ignore_index;
    rules->ignore_in_range = has_ignore && ignore_index >= 0 && ignore_index < num_classes;
}

void
mushin_note_bad(int64_t *nbad, int64_t *first, int64_t *first_pos, int64_t value,
                int64_t pos)
{
    if (*nbad == 0) {
        *first = value;
        *first_pos = pos;
    }
    (*nbad)++;
}

size_t
mushin_itemsize(mushin_itype type)
{
    switch (type) {
    case MUSHIN_INT8: case MUSHIN_UINT8: return 1;
    case MUSHIN_INT16: case MUSHIN_UINT16: return 2;
    case MUSHIN_INT32: case MUSHIN_UINT32: return 4;
    case MUSHIN_INT64: return 8;
    }
    return 0;
}

int
mushin_walk_init(mushin_walk *walk, int ndim, const int64_t *shape, const int64_t *sa,
                 const int64_t *sb, int64_t unit_a, int64_t unit_b)
{
    int d, k = 0;
    if (ndim < 0 || ndim > MUSHIN_MAX_NDIM) {
        return MUSHIN_EINVAL;
    }
    walk->size = 1;
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            return MUSHIN_EINVAL;
        }
        walk->size *= shape[d];
    }
    for (d = 0; d < ndim && walk->size > 0; d++) {
        if (shape[d] == 1) {
            continue;
        }
        if (k > 0 && walk->sa[k - 1] == sa[d] * shape[d] &&
            walk->sb[k - 1] == sb[d] * shape[d]) {
            walk->shape[k - 1] *= shape[d];
            walk->sa[k - 1] = sa[d];
            walk->sb[k - 1] = sb[d];
        }
        else {
            walk->shape[k] = shape[d];
            walk->sa[k] = sa[d];
            walk->sb[k] = sb[d];
            k++;
        }
    }
    if (k == 0) {
        walk->shape[0] = 1;
        walk->sa[0] = unit_a;
        walk->sb[0] = unit_b;
        k = 1;
    }
    walk->k = k;
    return MUSHIN_OK;
}

void
mushin_walk_seek(const mushin_walk *walk, int64_t pos, mushin_walk_cursor *cur)
{
    int64_t rest = pos;
    int d;
    cur->pos = pos;
    cur->off_a = 0;
    cur->off_b = 0;
    for (d = walk->k - 1; d >= 0; d--) {
        cur->index[d] = rest % walk->shape[d];
        rest /= walk->shape[d];
        cur->off_a += cur->index[d] * walk->sa[d];
        cur->off_b += cur->index[d] * walk->sb[d];
    }
}

void
mushin_walk_advance(const mushin_walk *walk, mushin_walk_cursor *cur, int64_t n)
{
    int d = walk->k - 1;
    cur->pos += n;
    cur->index[d] += n;
    cur->off_a += n * walk->sa[d];
    cur->off_b += n * walk->sb[d];
    /* carry into the outer dimensions when a row is finished */
    while (d > 0 && cur->index[d] == walk->shape[d]) {
        cur->off_a -= cur->index[d] * walk->sa[d];
        cur->off_b -= cur->index[d] * walk->sb[d];
        cur->index[d] = 0;
        d--;
        cur->index[d]++;
        cur->off_a += walk->sa[d];
        cur->off_b += walk->sb[d];
    }
}

/* log2 of the row length of a private matrix: the smallest power of two
 * holding num_classes. */
static int
row_shift(int64_t num_classes)
{
    int shift = 0;
    while (((int64_t)1 << shift) < num_classes) {
        shift++;
    }
    return shift;
}

int
mushin_confusion_thread_count(int64_t num_classes, int64_t num_elements, int64_t work,
                              int num_threads)
{
    const int64_t bins = (num_classes << row_shift(num_classes)) + 1;
    int64_t threads = num_threads < MUSHIN_MAX_THREADS ? num_threads : MUSHIN_MAX_THREADS;
    if (threads > work / MUSHIN_MIN_WORK_PER_THREAD) {
        threads = work / MUSHIN_MIN_WORK_PER_THREAD;
    }
    if (threads > num_elements / (PRIVATE_MIN_FILL * bins)) {
        threads = num_elements / (PRIVATE_MIN_FILL * bins);
    }
    return threads < 1 ? 1 : (int)threads;
}

int
mushin_plan_init(mushin_count_plan *plan, int64_t num_classes, int64_t size, int64_t work,
                 int num_threads)
{
    const int shift = row_shift(num_classes);
    const int64_t bins = num_classes << shift;
    int workers = mushin_confusion_thread_count(num_classes, size, work, num_threads);
    int c, chunks;

    memset(plan->bad, 0, sizeof(plan->bad));
    plan->num_classes = num_classes;
    plan->shift = shift;
    plan->bins = bins;
    plan->num_sub = bins <= MUSHIN_SUBHIST_MAX_BINS ? MUSHIN_SUBHIST : 1;
    plan->stride = 0;
    plan->worker_stride = 0;
    plan->buffer = NULL;
    plan->allocation = NULL;
    if (workers > 1 || size >= PRIVATE_MIN_FILL * (bins + 1)) {
        /* each worker's copies rounded up to whole MUSHIN_MATRIX_ALIGN
         * blocks, the buffer aligned to one: no line is shared */
        const int64_t per_block = MUSHIN_MATRIX_ALIGN / (int64_t)sizeof(int64_t);
        const int64_t words = (int64_t)plan->num_sub * (bins + 1);
        plan->stride = bins + 1;
        plan->worker_stride = (words + per_block - 1) / per_block * per_block;
        plan->allocation = calloc((size_t)workers * (size_t)plan->worker_stride +
                                      (size_t)per_block,
                                  sizeof(int64_t));
        if (plan->allocation == NULL) {
            /* no room for private matrices: one thread, straight into counts */
            workers = 1;
            plan->stride = 0;
            plan->worker_stride = 0;
        }
        else {
            const uintptr_t at = (uintptr_t)plan->allocation;
            const uintptr_t align = MUSHIN_MATRIX_ALIGN;
            plan->buffer = (int64_t *)(at + (align - at % align) % align);
        }
    }
    if (plan->buffer == NULL) {
        plan->num_sub = 1;
    }
    chunks = workers == 1 ? 1 : workers * MUSHIN_CHUNKS_PER_WORKER;
    chunks = chunks < MUSHIN_MAX_THREADS ? chunks : MUSHIN_MAX_THREADS;
    plan->num_workers = workers;
    plan->num_chunks = chunks;
    for (c = 0; c <= chunks; c++) {
        /* equal ranges, the first size % chunks one longer */
        const int64_t q = size / chunks, r = size % chunks;
        plan->bounds[c] = c * q + (c < r ? c : r);
    }
    return MUSHIN_OK;
}

void
mushin_plan_single(mushin_count_plan *plan, int64_t size)
{
    memset(plan->bad, 0, sizeof(plan->bad));
    plan->num_chunks = 1;
    plan->num_workers = 1;
    plan->num_sub = 1;
    plan->shift = 0;
    plan->num_classes = 0;
    plan->bins = 0;
    plan->stride = 0;
    plan->worker_stride = 0;
    plan->buffer = NULL;
    plan->allocation = NULL;
    plan->bounds[0] = 0;
    plan->bounds[1] = size;
}

static void
merge_bad(mushin_bad_values *into, const mushin_bad_values *from)
{
    if (from->target_bad) {
        if (into->target_bad == 0) {
            into->target_first = from->target_first;
            into->target_first_pos = from->target_first_pos;
        }
        into->target_bad += from->target_bad;
    }
    if (from->preds_bad) {
        if (into->preds_bad == 0) {
            into->preds_first = from->preds_first;
            into->preds_first_pos = from->preds_first_pos;
        }
        into->preds_bad += from->preds_bad;
    }
}

int
mushin_plan_finish(mushin_count_plan *plan, int64_t *counts, mushin_bad_values *bad)
{
    const int64_t C = plan->num_classes;
    int c, s;
    int64_t t, p;
    memset(bad, 0, sizeof(*bad));
    for (c = 0; c < plan->num_chunks; c++) {
        merge_bad(bad, &plan->bad[c]);
    }
    if (plan->buffer != NULL) {
        if (counts != NULL && !bad->target_bad && !bad->preds_bad) {
            for (c = 0; c < plan->num_workers; c++) {
                for (s = 0; s < plan->num_sub; s++) {
                    const int64_t *m =
                        plan->buffer + (int64_t)c * plan->worker_stride + (int64_t)s * plan->stride;
                    for (t = 0; t < C; t++) {
                        for (p = 0; p < C; p++) {
                            counts[t * C + p] += m[(t << plan->shift) + p];
                        }
                    }
                }
            }
        }
        free(plan->allocation);
        plan->allocation = NULL;
        plan->buffer = NULL;
    }
    return (bad->target_bad || bad->preds_bad) ? MUSHIN_EBADVALUE : MUSHIN_OK;
}

int
mushin_count_update(mushin_view_job *job, int64_t num_classes, int has_ignore,
                    int64_t ignore_index, int64_t work, int num_threads,
                    mushin_piece_fn chunk_fn, mushin_bad_values *bad)
{
    mushin_count_plan plan;
    int status;
    if (job->walk.size == 0) {
        return MUSHIN_OK;
    }
    mushin_rules_init(&job->rules, num_classes, has_ignore, ignore_index);
    if (job->counts == NULL) {
        /* validation reads little per position: one thread, no matrix */
        mushin_plan_single(&plan, job->walk.size);
    }
    else {
        status = mushin_plan_init(&plan, num_classes, job->walk.size, work, num_threads);
        if (status != MUSHIN_OK) {
            return status;
        }
    }
    job->plan = &plan;
    mushin_parallel_pieces(plan.num_workers, plan.num_chunks, chunk_fn, job);
    job->plan = NULL;
    return mushin_plan_finish(&plan, job->counts, bad);
}

/* --------------------------------------------------------- index path -- */

/* The rare path: a value outside the class range or an ignored target. */
static void
classify_slow(const mushin_rules *rules, mushin_bad_values *bad, int64_t t, int64_t p,
              int64_t pos)
{
    const int64_t C = rules->num_classes;
    const int t_ok = t >= 0 && t < C;
    const int p_ok = p >= 0 && p < C;

    if (rules->has_ignore && t == rules->ignore_index) {
        if (!p_ok && p != rules->ignore_index) {
            mushin_note_bad(&bad->preds_bad, &bad->preds_first, &bad->preds_first_pos, p, pos);
        }
        return;
    }
    if (!t_ok) {
        mushin_note_bad(&bad->target_bad, &bad->target_first, &bad->target_first_pos, t, pos);
    }
    if (!p_ok) {
        mushin_note_bad(&bad->preds_bad, &bad->preds_first, &bad->preds_first_pos, p, pos);
    }
}

/* Every position that is not a plain in-range, non-ignored pair. */
static void
classify_block(const mushin_rules *rules, mushin_bad_values *bad, const int64_t *pb,
               const int64_t *tb, int64_t n, int64_t pos0)
{
    const uint64_t C = (uint64_t)rules->num_classes;
    int64_t i;
    for (i = 0; i < n; i++) {
        const int64_t t = tb[i], p = pb[i];
        if (!((uint64_t)t < C && (uint64_t)p < C &&
              !(rules->ignore_in_range && t == rules->ignore_index))) {
            classify_slow(rules, bad, t, p, pos0 + i);
        }
    }
}

/* Count straight into counts (a matrix too large to copy per update). */
static void
count_block_direct(const mushin_rules *rules, int64_t *counts, mushin_bad_values *bad,
                   const int64_t *pb, const int64_t *tb, int64_t n, int64_t pos0)
{
    const uint64_t C = (uint64_t)rules->num_classes;
    const int64_t ign = rules->ignore_index;
    const int ign_in = rules->ignore_in_range;
    int64_t i;
    for (i = 0; i < n; i++) {
        const int64_t t = tb[i], p = pb[i];
        if ((uint64_t)t < C && (uint64_t)p < C && !(ign_in && t == ign)) {
            counts[(uint64_t)t * C + (uint64_t)p]++;
        }
        else {
            classify_slow(rules, bad, t, p, pos0 + i);
        }
    }
}

/* The four copies a scatter is unrolled over, `stride` bins apart: with
 * two copies h2 == h0 and h3 == h1, with one all four are the same. */
typedef struct {
    int64_t *h0, *h1, *h2, *h3;
} scatter_copies;

static inline scatter_copies
copies_of(int64_t *matrix, int64_t stride, int num_sub)
{
    scatter_copies h;
    h.h0 = matrix;
    h.h1 = matrix + (num_sub > 1 ? stride : 0);
    h.h2 = matrix + (num_sub > 2 ? 2 * stride : 0);
    h.h3 = matrix + (num_sub > 2 ? 3 * stride : (num_sub > 1 ? stride : 0));
    return h;
}

void
mushin_scatter_bins(int64_t *matrix, int64_t stride, int num_sub, const uint64_t *bins,
                    int64_t n)
{
    const scatter_copies h = copies_of(matrix, stride, num_sub);
    int64_t *const h0 = h.h0, *const h1 = h.h1, *const h2 = h.h2, *const h3 = h.h3;
    int64_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        h0[bins[i]]++;
        h1[bins[i + 1]]++;
        h2[bins[i + 2]]++;
        h3[bins[i + 3]]++;
    }
    for (; i < n; i++) {
        h0[bins[i]]++;
    }
}

/* mushin_scatter_bins of a full block of int64 pairs, fetching the next
 * block of both views (4 KiB each) a line at a time as it goes: the loop
 * touches no new memory, so the fetches overlap with its work instead of
 * queueing behind the demand misses of the next pair_bins. */
static void
mushin_scatter_bins_prefetch(int64_t *matrix, int64_t stride, int num_sub,
                             const uint64_t *bins, int64_t n, const char *next_a,
                             const char *next_b)
{
    const scatter_copies h = copies_of(matrix, stride, num_sub);
    int64_t *const h0 = h.h0, *const h1 = h.h1, *const h2 = h.h2, *const h3 = h.h3;
    int64_t i;
    for (i = 0; i + 8 <= n; i += 8) {
#if defined(__GNUC__)
        MUSHIN_PREFETCH(next_a + i * 8);
        MUSHIN_PREFETCH(next_b + i * 8);
#endif
        h0[bins[i]]++;
        h1[bins[i + 1]]++;
        h2[bins[i + 2]]++;
        h3[bins[i + 3]]++;
        h0[bins[i + 4]]++;
        h1[bins[i + 5]]++;
        h2[bins[i + 6]]++;
        h3[bins[i + 7]]++;
    }
    (void)next_a;
    (void)next_b;
    mushin_scatter_bins(matrix, stride, num_sub, bins + i, n - i);
}

/*
 * The bin of every (target, prediction) pair of a block in a private matrix
 * with rows of 2^shift, branch-free so that it vectorises: (target << shift)
 * + prediction, or the discard bin num_classes << shift for a position that
 * is not counted.  Returns nonzero if any position held an invalid value
 * (classify_block then says which).
 */
MUSHIN_BODY int
pair_bins_body(const mushin_rules *rules, int shift, uint64_t *restrict bins,
               const int64_t *restrict pb, const int64_t *restrict tb, int64_t n)
{
    const uint64_t C = (uint64_t)rules->num_classes;
    const uint64_t discard = C << shift;
    const uint64_t ign = (uint64_t)rules->ignore_index;
    const int64_t has_ign = -(int64_t)rules->has_ignore;
    int64_t any_bad = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        /* masks are 0 or all ones */
        const uint64_t t = (uint64_t)tb[i], p = (uint64_t)pb[i];
        const int64_t t_in = -(int64_t)(t < C), p_in = -(int64_t)(p < C);
        const int64_t ignored = -(int64_t)(t == ign) & has_ign;
        const int64_t p_void = -(int64_t)(p == ign);
        const int64_t counted = t_in & p_in & ~ignored;
        any_bad |= ~counted & ~(ignored & (p_in | p_void));
        bins[i] = counted ? (t << shift) + p : discard;
    }
    return any_bad != 0;
}

MUSHIN_ISA_VARIANTS(pair_bins,
                    (const mushin_rules *rules, int shift, uint64_t *restrict bins,
                     const int64_t *restrict pb, const int64_t *restrict tb, int64_t n),
                    (rules, shift, bins, pb, tb, n))

typedef struct {
    mushin_view_job view; /* a: predictions, b: target */
    mushin_itype preds_type;
    mushin_itype target_type;
} index_job;

MUSHIN_ALWAYS_INLINE void
index_block(const mushin_view_job *view, const mushin_block *blk)
{
    const index_job *job = (const index_job *)(const void *)view;
    const mushin_rules *rules = &view->rules;
    const mushin_count_plan *plan = view->plan;
    int64_t pbuf[MUSHIN_BLOCK], tbuf[MUSHIN_BLOCK];
    uint64_t bins[MUSHIN_BLOCK];
    const int64_t *pb = mushin_label_block(pbuf, blk->a, blk->sa, blk->n, job->preds_type);
    const int64_t *tb = mushin_label_block(tbuf, blk->b, blk->sb, blk->n, job->target_type);

    if (blk->matrix == NULL) {
        classify_block(rules, blk->bad, pb, tb, blk->n, blk->pos);
    }
    else if (plan->buffer == NULL) {
        count_block_direct(rules, blk->matrix, blk->bad, pb, tb, blk->n, blk->pos);
    }
    else {
        if (pair_bins(rules, plan->shift, bins, pb, tb, blk->n)) {
            classify_block(rules, blk->bad, pb, tb, blk->n, blk->pos);
        }
        /* a full block follows in this run: fetch it while scattering */
        if (blk->more >= MUSHIN_BLOCK && blk->sa == 8 && blk->sb == 8) {
            mushin_scatter_bins_prefetch(blk->matrix, plan->stride, plan->num_sub, bins, blk->n,
                                         blk->a + MUSHIN_BLOCK * 8, blk->b + MUSHIN_BLOCK * 8);
        }
        else {
            mushin_scatter_bins(blk->matrix, plan->stride, plan->num_sub, bins, blk->n);
        }
    }
}

static void
index_chunk(void *arg, int worker, int chunk)
{
    mushin_walk_blocks((const mushin_view_job *)arg, worker, chunk, index_block);
}

static int
index_update(int64_t *counts, int64_t num_classes, int has_ignore, int64_t ignore_index,
             int ndim, const int64_t *shape, mushin_index_view preds,
             mushin_index_view target, int num_threads, mushin_bad_values *bad)
{
    index_job job;
    int status;

    if (bad == NULL || num_classes <= 0 || num_classes > ((int64_t)1 << 31)) {
        return MUSHIN_EINVAL;
    }
    memset(bad, 0, sizeof(*bad));
    status = mushin_walk_init(&job.view.walk, ndim, shape, preds.strides, target.strides,
                              (int64_t)mushin_itemsize(preds.type),
                              (int64_t)mushin_itemsize(target.type));
    if (status != MUSHIN_OK) {
        return status;
    }
    job.view.a = preds.data;
    job.view.b = target.data;
    job.view.counts = counts;
    job.preds_type = preds.type;
    job.target_type = target.type;
    return mushin_count_update(&job.view, num_classes, has_ignore, ignore_index,
                               job.view.walk.size, num_threads, index_chunk, bad);
}

int
mushin_confusion_count(int64_t *counts, int64_t num_classes, int has_ignore,
                       int64_t ignore_index, int ndim, const int64_t *shape,
                       mushin_index_view preds, mushin_index_view target,
                       mushin_bad_values *bad)
{
    if (counts == NULL) {
        return MUSHIN_EINVAL;
    }
    return index_update(counts, num_classes, has_ignore, ignore_index, ndim, shape, preds,
                        target, 1, bad);
}

int
mushin_confusion_count_threads(int64_t *counts, int64_t num_classes, int has_ignore,
                               int64_t ignore_index, int ndim, const int64_t *shape,
                               mushin_index_view preds, mushin_index_view target,
                               int num_threads, mushin_bad_values *bad)
{
    if (counts == NULL) {
        return MUSHIN_EINVAL;
    }
    return index_update(counts, num_classes, has_ignore, ignore_index, ndim, shape, preds,
                        target, num_threads, bad);
}

int
mushin_confusion_validate(int64_t num_classes, int has_ignore, int64_t ignore_index,
                          int ndim, const int64_t *shape, mushin_index_view preds,
                          mushin_index_view target, mushin_bad_values *bad)
{
    return index_update(NULL, num_classes, has_ignore, ignore_index, ndim, shape, preds,
                        target, 1, bad);
}

/* *sum = a + b, or 1 if that overflows int64 (then *sum is unset). */
static int
add_overflows(int64_t a, int64_t b, int64_t *sum)
{
    return mushin_add_overflow_i64(a, b, sum);
}

int
mushin_counts_add_checked(int64_t *counts, const int64_t *add, int64_t n, int64_t *where,
                          int64_t *merged_total)
{
    int64_t i, total = 0, sum;
    *where = -1;
    for (i = 0; i < n; i++) {
        if (add[i] < 0) {
            *where = i;
            return MUSHIN_EBADVALUE;
        }
    }
    /* Every count is non-negative, so if the merged grand total fits in
     * int64 every cell does, and so does any sum a metric takes later
     * (counts.sum(), a row or column total).  A cell that overflows on its
     * own is named; otherwise the total is what overflowed (*where = -1). */
    for (i = 0; i < n; i++) {
        if (add_overflows(counts[i], add[i], &sum)) {
            *where = i;
            return MUSHIN_EOVERFLOW;
        }
        if (add_overflows(total, sum, &total)) {
            return MUSHIN_EOVERFLOW;
        }
    }
    for (i = 0; i < n; i++) {
        counts[i] += add[i];
    }
    *merged_total = total;
    return MUSHIN_OK;
}

void
mushin_counts_add(int64_t *counts, const int64_t *add, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        counts[i] += add[i];
    }
}
