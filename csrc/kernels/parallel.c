/*
 * parallel.c -- run the chunks of one kernel call on several threads.
 *
 * Threads are started per call rather than kept in a pool: a call only asks
 * for them when every thread gets MUSHIN_MIN_WORK_PER_THREAD of work, which
 * dwarfs a thread's start-up cost (about 50 us measured, docs/speed.md), and
 * nothing outlives the call (no state to tear down, nothing to go wrong
 * across fork()).  Threads come from a small shim: POSIX threads, Windows
 * threads (CreateThread / WaitForSingleObject), or none, in which case every
 * chunk runs on the calling thread, in order.
 */
#include "confusion_internal.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#define MUSHIN_HAVE_THREADS 1
#elif defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define MUSHIN_HAVE_THREADS 1
#endif

/* ------------------------------------------------------- thread shim -- */

typedef void (*thread_body)(void *arg);

typedef struct {
    thread_body body;
    void *arg;
#if defined(_WIN32)
    HANDLE handle;
#elif defined(MUSHIN_HAVE_THREADS)
    pthread_t handle;
#endif
} shim_thread;

#if defined(_WIN32)
static DWORD WINAPI
shim_entry(LPVOID self)
{
    shim_thread *t = (shim_thread *)self;
    t->body(t->arg);
    return 0;
}
#elif defined(MUSHIN_HAVE_THREADS)
static void *
shim_entry(void *self)
{
    shim_thread *t = (shim_thread *)self;
    t->body(t->arg);
    return NULL;
}
#endif

/* Start body(arg) on a new thread; 0 if none could be started. */
static int
shim_start(shim_thread *t, thread_body body, void *arg)
{
    t->body = body;
    t->arg = arg;
#if defined(_WIN32)
    t->handle = CreateThread(NULL, 0, shim_entry, t, 0, NULL);
    return t->handle != NULL;
#elif defined(MUSHIN_HAVE_THREADS)
    return pthread_create(&t->handle, NULL, shim_entry, t) == 0;
#else
    return 0;
#endif
}

static void
shim_join(shim_thread *t)
{
#if defined(_WIN32)
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
#elif defined(MUSHIN_HAVE_THREADS)
    pthread_join(t->handle, NULL);
#else
    (void)t;
#endif
}

/* ------------------------------------------------- static chunks -------- */

typedef struct {
    mushin_chunk_fn fn;
    void *arg;
    int chunk;
} chunk_job;

static void
run_chunk(void *job_ptr)
{
    const chunk_job *job = (const chunk_job *)job_ptr;
    job->fn(job->arg, job->chunk);
}

void
mushin_parallel_for(int num_chunks, mushin_chunk_fn fn, void *arg)
{
    chunk_job jobs[MUSHIN_MAX_THREADS];
    shim_thread threads[MUSHIN_MAX_THREADS];
    int started[MUSHIN_MAX_THREADS];
    const int num_threads = num_chunks < MUSHIN_MAX_THREADS ? num_chunks : MUSHIN_MAX_THREADS;
    int c;

    for (c = 1; c < num_threads; c++) {
        jobs[c].fn = fn;
        jobs[c].arg = arg;
        jobs[c].chunk = c;
        started[c] = shim_start(&threads[c], run_chunk, &jobs[c]);
    }
    if (num_chunks > 0) {
        fn(arg, 0);
    }
    for (c = num_threads; c < num_chunks; c++) {
        fn(arg, c);
    }
    for (c = 1; c < num_threads; c++) {
        if (started[c]) {
            shim_join(&threads[c]);
        }
        else {
            fn(arg, c);
        }
    }
}

/* --------------------------------------------------- shared pieces ------ */

/*
 * Workers take the pieces in order from one shared counter, so a worker
 * that starts late or is descheduled (a busy machine) leaves its share to
 * the others instead of holding up the call.  The counter is the only
 * shared write, once per piece.
 */
typedef struct {
    mushin_piece_fn fn;
    void *arg;
    int num_pieces;
    volatile long next; /* the next piece to hand out */
#if !defined(_WIN32) && defined(MUSHIN_HAVE_THREADS) && !defined(__GNUC__)
    pthread_mutex_t lock;
#endif
} piece_pool;

typedef struct {
    piece_pool *pool;
    int worker;
} piece_worker;

static int
take_piece(piece_pool *pool)
{
#if defined(_WIN32)
    return (int)InterlockedIncrement(&pool->next) - 1;
#elif defined(__GNUC__)
    return (int)__atomic_fetch_add(&pool->next, 1, __ATOMIC_RELAXED);
#elif defined(MUSHIN_HAVE_THREADS)
    long piece;
    pthread_mutex_lock(&pool->lock);
    piece = pool->next++;
    pthread_mutex_unlock(&pool->lock);
    return (int)piece;
#else
    return (int)pool->next++;
#endif
}

static void
run_pieces(void *self)
{
    const piece_worker *w = (const piece_worker *)self;
    piece_pool *pool = w->pool;
    int piece;
    while ((piece = take_piece(pool)) < pool->num_pieces) {
        pool->fn(pool->arg, w->worker, piece);
    }
}

void
mushin_parallel_pieces(int num_workers, int num_pieces, mushin_piece_fn fn, void *arg)
{
    piece_pool pool;
    piece_worker workers[MUSHIN_MAX_THREADS];
    shim_thread threads[MUSHIN_MAX_THREADS];
    int started[MUSHIN_MAX_THREADS];
    int w;

    if (num_workers > MUSHIN_MAX_THREADS) {
        num_workers = MUSHIN_MAX_THREADS;
    }
    if (num_workers < 1) {
        num_workers = 1;
    }
    pool.fn = fn;
    pool.arg = arg;
    pool.num_pieces = num_pieces;
    pool.next = 0;
#if !defined(_WIN32) && defined(MUSHIN_HAVE_THREADS) && !defined(__GNUC__)
    pthread_mutex_init(&pool.lock, NULL);
#endif
    for (w = 0; w < num_workers; w++) {
        workers[w].pool = &pool;
        workers[w].worker = w;
    }
    for (w = 1; w < num_workers; w++) {
        started[w] = shim_start(&threads[w], run_pieces, &workers[w]);
    }
    run_pieces(&workers[0]); /* pieces no thread could take end up here */
    for (w = 1; w < num_workers; w++) {
        if (started[w]) {
            shim_join(&threads[w]);
        }
    }
#if !defined(_WIN32) && defined(MUSHIN_HAVE_THREADS) && !defined(__GNUC__)
    pthread_mutex_destroy(&pool.lock);
#endif
}
