/*
 * parallel.c -- run the chunks of one kernel call on several threads.
 *
 * Threads are started per call rather than kept in a pool: a call only asks
 * for them when every thread gets MUSHIN_MIN_WORK_PER_THREAD of work, which
 * dwarfs a thread's start-up cost, and nothing outlives the call (no state to
 * tear down, nothing to go wrong across fork()).  Without POSIX threads every
 * chunk runs on the calling thread, in order.
 */
#include "mushin_kernels.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define MUSHIN_HAVE_PTHREADS 1
#endif

#ifdef MUSHIN_HAVE_PTHREADS

typedef struct {
    mushin_chunk_fn fn;
    void *arg;
    int chunk;
} chunk_job;

static void *
run_chunk(void *job_ptr)
{
    const chunk_job *job = (const chunk_job *)job_ptr;
    job->fn(job->arg, job->chunk);
    return NULL;
}

void
mushin_parallel_for(int num_chunks, mushin_chunk_fn fn, void *arg)
{
    chunk_job jobs[MUSHIN_MAX_THREADS];
    pthread_t threads[MUSHIN_MAX_THREADS];
    int started[MUSHIN_MAX_THREADS];
    const int num_threads = num_chunks < MUSHIN_MAX_THREADS ? num_chunks : MUSHIN_MAX_THREADS;
    int c;

    for (c = 1; c < num_threads; c++) {
        jobs[c].fn = fn;
        jobs[c].arg = arg;
        jobs[c].chunk = c;
        started[c] = pthread_create(&threads[c], NULL, run_chunk, &jobs[c]) == 0;
    }
    if (num_chunks > 0) {
        fn(arg, 0);
    }
    for (c = num_threads; c < num_chunks; c++) {
        fn(arg, c);
    }
    for (c = 1; c < num_threads; c++) {
        if (started[c]) {
            pthread_join(threads[c], NULL);
        }
        else {
            fn(arg, c);
        }
    }
}

#else

void
mushin_parallel_for(int num_chunks, mushin_chunk_fn fn, void *arg)
{
    int c;
    for (c = 0; c < num_chunks; c++) {
        fn(arg, c);
    }
}

#endif
