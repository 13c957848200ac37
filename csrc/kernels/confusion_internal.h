/*
 * confusion_internal.h -- what the index path (confusion.c) and the fused
 * logits path (logits.c) share: the counting rules, the strided walk over a
 * pair of views, the plan that splits one update over threads, and the
 * update that walks each chunk a block at a time.
 * Not part of the kernel API.
 */
#ifndef MUSHIN_CONFUSION_INTERNAL_H
#define MUSHIN_CONFUSION_INTERNAL_H

#include "mushin_kernels.h"
#include "portable_internal.h"

/* Positions converted or compared per step: a block of int64 labels, int32
 * predictions and float scratch stays in L1. */
#define MUSHIN_BLOCK 512

/* Interleaved copies of a private matrix: consecutive positions go to
 * different copies, so a bin that repeats (the background class of a
 * segmentation set) does not wait on its own previous store.  Measured
 * (docs/speed.md): four copies cost nothing on uniform labels and save a
 * third of the counting time when 70% of the pixels are one class.  Only
 * for matrices small enough that the copies stay in L1. */
#define MUSHIN_SUBHIST_MAX_BINS 1024
#ifndef MUSHIN_SUBHIST
#define MUSHIN_SUBHIST 4
#endif
#if MUSHIN_SUBHIST != 1 && MUSHIN_SUBHIST != 2 && MUSHIN_SUBHIST != 4
#error "MUSHIN_SUBHIST must be 1, 2 or 4 (mushin_scatter_bins unrolls by four)"
#endif

/*
 * Instruction-set levels.  The hot loops are compiled three times from one
 * body -- baseline x86-64 (SSE2), AVX2, and AVX-512 (x86-64-v4) -- and the
 * best level this CPU and OS support is picked at each call, so the default
 * build still runs on any x86-64.  mushin_set_isa_cap (mushin_kernels.h)
 * lowers the level so the tests can run every one; elsewhere there is only
 * the baseline.
 */
enum { MUSHIN_ISA_BASELINE = 0, MUSHIN_ISA_AVX2 = 1, MUSHIN_ISA_AVX512 = 2 };

/* The run-time CPU check (confusion.c) is GCC/Clang's; elsewhere, MSVC
 * included, the baseline body is the only one. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(MUSHIN_HAVE_TARGETS)
#define MUSHIN_ISA_DISPATCH 1
#define MUSHIN_BODY MUSHIN_ALWAYS_INLINE
/* NAME(PARAMS), returning int, defined from NAME##_body(ARGS) once per level. */
#define MUSHIN_ISA_VARIANTS(NAME, PARAMS, ARGS)                                   \
    static int NAME##_baseline PARAMS { return NAME##_body ARGS; }                \
    MUSHIN_TARGET_AVX2 static int NAME##_avx2 PARAMS { return NAME##_body ARGS; } \
    MUSHIN_TARGET_AVX512 static int NAME##_avx512 PARAMS                          \
    {                                                                             \
        return NAME##_body ARGS;                                                  \
    }                                                                             \
    static int NAME PARAMS                                                        \
    {                                                                             \
        switch (mushin_isa_level()) {                                             \
        case MUSHIN_ISA_AVX512: return NAME##_avx512 ARGS;                        \
        case MUSHIN_ISA_AVX2: return NAME##_avx2 ARGS;                            \
        default: return NAME##_baseline ARGS;                                     \
        }                                                                         \
    }
#else
#define MUSHIN_BODY static inline
#define MUSHIN_ISA_VARIANTS(NAME, PARAMS, ARGS) \
    static int NAME PARAMS { return NAME##_body ARGS; }
#endif

/* Ask for the `bytes` after p (a view's next block, about to be read) to
 * be brought into cache.  Called right before a loop that touches no new
 * memory (the scatter of bins), so the fetch overlaps with that work rather
 * than with the demand misses of the block being read. */
static inline void
mushin_prefetch(const char *p, int64_t bytes)
{
    int64_t off;
    for (off = 0; off < bytes; off += 64) {
        MUSHIN_PREFETCH(p + off);
    }
}

typedef struct {
    int64_t num_classes;
    int has_ignore;
    int ignore_in_range;
    int64_t ignore_index;
} mushin_rules;

void mushin_rules_init(mushin_rules *rules, int64_t num_classes, int has_ignore,
                       int64_t ignore_index);

/* Note a bad value at flat position pos (keeps the first). */
void mushin_note_bad(int64_t *nbad, int64_t *first, int64_t *first_pos, int64_t value,
                     int64_t pos);

/* Bytes per element of an integer view. */
size_t mushin_itemsize(mushin_itype type);

/*
 * Two views walked together in C order over one shape, with the dimensions
 * both can traverse as one merged and length-1 dimensions dropped.  A walk
 * of k >= 1 dimensions; `size` positions (0: nothing to do).
 */
typedef struct {
    int k;
    int64_t size;
    int64_t shape[MUSHIN_MAX_NDIM];
    int64_t sa[MUSHIN_MAX_NDIM];
    int64_t sb[MUSHIN_MAX_NDIM];
} mushin_walk;

/* Returns MUSHIN_OK or MUSHIN_EINVAL (bad ndim or a negative extent).
 * unit_a / unit_b: the strides to use when every dimension has length 1. */
int mushin_walk_init(mushin_walk *walk, int ndim, const int64_t *shape, const int64_t *sa,
                     const int64_t *sb, int64_t unit_a, int64_t unit_b);

/* A position in a walk: its multi-index, flat position and byte offsets. */
typedef struct {
    int64_t index[MUSHIN_MAX_NDIM];
    int64_t pos;
    int64_t off_a;
    int64_t off_b;
} mushin_walk_cursor;

void mushin_walk_seek(const mushin_walk *walk, int64_t pos, mushin_walk_cursor *cur);

/* Length of the run along the last dimension that starts at cur and ends
 * no later than flat position `end`. */
static inline int64_t
mushin_walk_run(const mushin_walk *walk, const mushin_walk_cursor *cur, int64_t end)
{
    const int64_t row_left = walk->shape[walk->k - 1] - cur->index[walk->k - 1];
    return end - cur->pos < row_left ? end - cur->pos : row_left;
}

void mushin_walk_advance(const mushin_walk *walk, mushin_walk_cursor *cur, int64_t n);

/* Private matrices of different threads start this many bytes apart at
 * least, aligned to it: no cache line (nor an adjacent-line prefetch pair)
 * is written by two threads.  Without the gap, the last bin of one thread's
 * matrix -- the discard bin, hit by every ignored pixel -- shared a line
 * with the first bins of the next thread's, and two threads counting an
 * int64 batch ran slower than one (docs/speed.md). */
#define MUSHIN_MATRIX_ALIGN 128

/*
 * How one update is split: `num_chunks` contiguous C-order ranges
 * [bounds[c], bounds[c + 1]) shared out to `num_workers` threads, each
 * counting into its own matrix, or -- one chunk, one worker and no private
 * matrix -- straight into the caller's counts.  Every chunk notes its own
 * bad values (bad[c]), so the first one in C order is found whichever
 * worker counted it.  A private matrix has rows of 2^shift >= num_classes
 * bins, so a pair's bin is (target << shift) + prediction without a
 * multiplication, plus one last bin that takes the positions not counted;
 * `num_sub` interleaved copies of it lie `stride` bins apart.
 */
typedef struct {
    int num_chunks;
    int num_workers;
    int num_sub;
    int shift;
    int64_t num_classes;
    int64_t bins;    /* num_classes << shift: the discard bin's index */
    int64_t stride;  /* bins + 1, or 0 when counting straight into counts */
    int64_t worker_stride; /* from one worker's first copy to the next worker's */
    int64_t *buffer; /* num_workers matrices worker_stride apart, or NULL */
    void *allocation; /* what buffer lies in (freed by mushin_plan_finish) */
    int64_t bounds[MUSHIN_MAX_THREADS + 1];
    mushin_bad_values bad[MUSHIN_MAX_THREADS];
} mushin_count_plan;

/* Plan an update of `size` positions and `work` units of work.  Returns
 * MUSHIN_OK or MUSHIN_ENOMEM. */
int mushin_plan_init(mushin_count_plan *plan, int64_t num_classes, int64_t size, int64_t work,
                     int num_threads);

/* Add one to matrix[bins[i]] for every i, position i going to copy
 * i % num_sub (copies `stride` apart). */
void mushin_scatter_bins(int64_t *matrix, int64_t stride, int num_sub, const uint64_t *bins,
                         int64_t n);

/* One chunk, straight into the caller's counts (or only validating). */
void mushin_plan_single(mushin_count_plan *plan, int64_t size);

/* The matrix worker w counts into. */
static inline int64_t *
mushin_plan_matrix(const mushin_count_plan *plan, int64_t *counts, int worker)
{
    return plan->buffer == NULL ? counts : plan->buffer + (int64_t)worker * plan->worker_stride;
}

/* Chunks per worker when an update is split: a worker that starts late or
 * is descheduled leaves its remaining chunks to the others. */
#define MUSHIN_CHUNKS_PER_WORKER 4

/* Run fn(arg, worker, c) for every chunk c in [0, num_chunks) on up to
 * num_workers threads (worker 0 is the calling thread), each taking the
 * next chunk not yet taken; returns when all are done.  parallel.c. */
typedef void (*mushin_piece_fn)(void *arg, int worker, int chunk);
void mushin_parallel_pieces(int num_workers, int num_chunks, mushin_piece_fn fn, void *arg);

/* Merge the chunks' bad values into `bad` (C order) and, when there were
 * none, the workers' matrices into `counts`; free the buffers.  Returns
 * MUSHIN_OK or MUSHIN_EBADVALUE. */
int mushin_plan_finish(mushin_count_plan *plan, int64_t *counts, mushin_bad_values *bad);

/*
 * One counting update over a pair of views, as both the index path and the
 * fused logits path run it.  A kernel's own job struct starts with a
 * mushin_view_job whose walk, views and counts it fills; its chunk function
 * hands the job to mushin_walk_blocks with its block function.
 * mushin_count_update takes the rules, plans the update (counts NULL: one
 * chunk, validate only), runs the chunk function on every chunk on the
 * planned threads, and merges the chunks' bad values and private matrices
 * (mushin_plan_finish).
 */
typedef struct {
    mushin_walk walk;         /* by the caller: mushin_walk_init */
    const char *a;            /* by the caller: the views' data */
    const char *b;
    int64_t *counts;          /* by the caller; NULL: validate only */
    mushin_rules rules;       /* by mushin_count_update */
    mushin_count_plan *plan;  /* by mushin_count_update, while it runs */
} mushin_view_job;

/* `work`: units of work the update does (threads are only asked for when
 * each gets enough).  An empty walk is MUSHIN_OK at once; else as
 * mushin_plan_init and mushin_plan_finish. */
int mushin_count_update(mushin_view_job *job, int64_t num_classes, int has_ignore,
                        int64_t ignore_index, int64_t work, int num_threads,
                        mushin_piece_fn chunk_fn, mushin_bad_values *bad);

/* A block of at most MUSHIN_BLOCK positions along one run of the walk. */
typedef struct {
    const char *a;          /* view a's first element in the block */
    const char *b;          /* view b's */
    int64_t sa;             /* a's stride along the run, in bytes */
    int64_t sb;             /* b's */
    int64_t n;              /* positions in the block */
    int64_t pos;            /* flat C-order position of the first */
    int64_t more;           /* positions left in the run after this block */
    int64_t *matrix;        /* where this worker counts; NULL: validate only */
    mushin_bad_values *bad; /* the chunk's bad values */
} mushin_block;

typedef void (*mushin_block_fn)(const mushin_view_job *job, const mushin_block *block);

/* Chunk `chunk` of the update in job, a block at a time in C order, counted
 * into worker `worker`'s matrix.  Always inlined into a kernel's chunk
 * function, with a block function that is MUSHIN_ALWAYS_INLINE too, so the
 * block function ends up in the chunk's loop: a walk of short runs pays no
 * call per block (through a pointer, one per run of four cost 70%). */
MUSHIN_ALWAYS_INLINE void
mushin_walk_blocks(const mushin_view_job *job, int worker, int chunk, mushin_block_fn fn)
{
    const mushin_walk *walk = &job->walk;
    mushin_count_plan *plan = job->plan;
    const char *const a = job->a, *const b = job->b;
    const int64_t end = plan->bounds[chunk + 1];
    mushin_walk_cursor cur;
    mushin_block block;

    block.sa = walk->sa[walk->k - 1];
    block.sb = walk->sb[walk->k - 1];
    block.matrix = job->counts == NULL ? NULL : mushin_plan_matrix(plan, job->counts, worker);
    block.bad = &plan->bad[chunk];
    mushin_walk_seek(walk, plan->bounds[chunk], &cur);
    while (cur.pos < end) {
        const int64_t run = mushin_walk_run(walk, &cur, end);
        int64_t j;
        for (j = 0; j < run; j += MUSHIN_BLOCK) {
            block.n = run - j < MUSHIN_BLOCK ? run - j : MUSHIN_BLOCK;
            block.a = a + cur.off_a + j * block.sa;
            block.b = b + cur.off_b + j * block.sb;
            block.pos = cur.pos + j;
            block.more = run - j - block.n;
            fn(job, &block);
        }
        mushin_walk_advance(walk, &cur, run);
    }
}

#endif /* MUSHIN_CONFUSION_INTERNAL_H */
