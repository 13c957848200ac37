/*
 * resample.c -- rliable's aggregates of a (runs x tasks) score matrix and
 * their stratified bootstrap; see resample.h.
 *
 * Each resample is built from its own RNG stream (rng_internal.h), so a
 * thread handles a contiguous range of resamples with its own scratch and
 * writes only its own rows of the output: no sharing, no ordering, the same
 * bits for any thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "resample.h"
#include "rng_internal.h"

/* A bootstrap only splits over threads when each gets this many resamples. */
#define MIN_REPS_PER_THREAD 64

int64_t
mushin_aggregate_size(int kind, int64_t nparams)
{
    switch (kind) {
    case MUSHIN_AGG_MEAN:
    case MUSHIN_AGG_MEDIAN:
    case MUSHIN_AGG_IQM:
        return nparams == 0 ? 1 : -1;
    case MUSHIN_AGG_OPTIMALITY_GAP:
        return nparams == 1 ? 1 : -1;
    case MUSHIN_AGG_SCORE_PROFILE:
    case MUSHIN_AGG_AVERAGE_PROFILE:
        return nparams >= 1 ? nparams : -1;
    default:
        return -1;
    }
}

int64_t
mushin_aggregate_scratch(int64_t runs, int64_t tasks)
{
    return runs * tasks + tasks;
}

static int
compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per-task means as numpy.mean(scores, axis=0): each column summed run by
 * run, in order, then divided by the number of runs. */
static void
task_means(const double *scores, int64_t runs, int64_t tasks, double *means)
{
    int64_t r, t;
    for (t = 0; t < tasks; t++) {
        means[t] = 0.0;
    }
    for (r = 0; r < runs; r++) {
        for (t = 0; t < tasks; t++) {
            means[t] += scores[r * tasks + t];
        }
    }
    for (t = 0; t < tasks; t++) {
        means[t] /= (double)runs;
    }
}

/* numpy.median of n values (sorted in place). */
static double
median_of(double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof(double), compare_doubles);
    if (n % 2) {
        return v[n / 2];
    }
    return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int
mushin_aggregate(const double *scores, int64_t runs, int64_t tasks, int kind,
                 const double *params, int64_t nparams, double *scratch, double *out)
{
    const int64_t n = runs * tasks;
    double *means = scratch + n;
    int64_t i, j;
    if (runs < 1 || tasks < 1 || mushin_aggregate_size(kind, nparams) < 0) {
        return MUSHIN_EINVAL;
    }
    switch (kind) {
    case MUSHIN_AGG_MEAN:
        task_means(scores, runs, tasks, means);
        out[0] = mushin_pairwise_sum(means, tasks) / (double)tasks;
        break;
    case MUSHIN_AGG_MEDIAN:
        task_means(scores, runs, tasks, means);
        out[0] = median_of(means, tasks);
        break;
    case MUSHIN_AGG_IQM: {
        /* scipy.stats.trim_mean(scores, 0.25, axis=None): cut int(0.25 n)
         * values from each end of the sorted scores */
        const int64_t cut = (int64_t)(0.25 * (double)n);
        memcpy(scratch, scores, (size_t)n * sizeof(double));
        qsort(scratch, (size_t)n, sizeof(double), compare_doubles);
        out[0] = mushin_pairwise_sum(scratch + cut, n - 2 * cut) / (double)(n - 2 * cut);
        break;
    }
    case MUSHIN_AGG_OPTIMALITY_GAP: {
        const double gamma = params[0];
        for (i = 0; i < n; i++) {
            scratch[i] = scores[i] < gamma ? scores[i] : gamma;
        }
        out[0] = gamma - mushin_pairwise_sum(scratch, n) / (double)n;
        break;
    }
    case MUSHIN_AGG_SCORE_PROFILE:
        for (j = 0; j < nparams; j++) {
            int64_t above = 0;
            for (i = 0; i < n; i++) {
                above += scores[i] > params[j];
            }
            out[j] = (double)above / (double)n;
        }
        break;
    case MUSHIN_AGG_AVERAGE_PROFILE:
        task_means(scores, runs, tasks, means);
        for (j = 0; j < nparams; j++) {
            int64_t above = 0;
            for (i = 0; i < tasks; i++) {
                above += means[i] > params[j];
            }
            out[j] = (double)above / (double)tasks;
        }
        break;
    default:
        return MUSHIN_EINVAL;
    }
    return MUSHIN_OK;
}

void
mushin_stratified_indices(int64_t runs, int64_t tasks, int task_bootstrap, uint64_t seed,
                          int64_t rep, int64_t *run_idx, int64_t *task_idx)
{
    mushin_rng rng;
    int64_t i;
    mushin_rng_init(&rng, seed, (uint64_t)rep);
    for (i = 0; i < runs * tasks; i++) {
        run_idx[i] = (int64_t)mushin_rng_below(&rng, (uint64_t)runs);
    }
    if (task_bootstrap) {
        for (i = 0; i < tasks; i++) {
            task_idx[i] = (int64_t)mushin_rng_below(&rng, (uint64_t)tasks);
        }
    }
}

/* ------------------------------------------------ the bootstrap loop -- */

typedef struct {
    const double *scores;
    int64_t runs, tasks;
    int kind;
    const double *params;
    int64_t nparams, size;
    int task_bootstrap;
    int64_t reps;
    uint64_t seed;
    int chunks;
    /* per chunk: resample (runs * tasks), scratch, run and task indices */
    double *work;
    int64_t *indices;
    double *out;
} bootstrap_job;

static void
bootstrap_chunk(void *arg, int chunk)
{
    const bootstrap_job *job = (const bootstrap_job *)arg;
    const int64_t n = job->runs * job->tasks, tasks = job->tasks;
    const int64_t first = job->reps * chunk / job->chunks;
    const int64_t last = job->reps * (chunk + 1) / job->chunks;
    double *resample = job->work + (size_t)chunk * (size_t)(n + mushin_aggregate_scratch(job->runs, tasks));
    double *scratch = resample + n;
    int64_t *run_idx = job->indices + (size_t)chunk * (size_t)(n + tasks);
    int64_t *task_idx = run_idx + n;
    int64_t rep, r, t;
    for (rep = first; rep < last; rep++) {
        mushin_stratified_indices(job->runs, tasks, job->task_bootstrap, job->seed, rep, run_idx,
                                  task_idx);
        for (r = 0; r < job->runs; r++) {
            for (t = 0; t < tasks; t++) {
                const int64_t column = job->task_bootstrap ? task_idx[t] : t;
                resample[r * tasks + t] = job->scores[run_idx[r * tasks + t] * tasks + column];
            }
        }
        mushin_aggregate(resample, job->runs, tasks, job->kind, job->params, job->nparams, scratch,
                         job->out + rep * job->size);
    }
}

static int
chunks_for(int64_t reps, int num_threads)
{
    int64_t chunks = reps / MIN_REPS_PER_THREAD;
    if (chunks > num_threads) chunks = num_threads;
    if (chunks > MUSHIN_MAX_THREADS) chunks = MUSHIN_MAX_THREADS;
    return chunks < 1 ? 1 : (int)chunks;
}

int
mushin_stratified_bootstrap(const double *scores, int64_t runs, int64_t tasks, int kind,
                            const double *params, int64_t nparams, int task_bootstrap,
                            int64_t reps, uint64_t seed, int num_threads, double *out)
{
    bootstrap_job job;
    const int64_t size = mushin_aggregate_size(kind, nparams);
    int64_t n;
    if (runs < 1 || tasks < 1 || reps < 0 || size < 0 || num_threads < 1) {
        return MUSHIN_EINVAL;
    }
    n = runs * tasks;
    job.scores = scores;
    job.runs = runs;
    job.tasks = tasks;
    job.kind = kind;
    job.params = params;
    job.nparams = nparams;
    job.size = size;
    job.task_bootstrap = task_bootstrap != 0;
    job.reps = reps;
    job.seed = seed;
    job.chunks = chunks_for(reps, num_threads);
    job.out = out;
    job.work = (double *)malloc((size_t)job.chunks * (size_t)(n + mushin_aggregate_scratch(runs, tasks)) *
                                sizeof(double));
    job.indices = (int64_t *)malloc((size_t)job.chunks * (size_t)(n + tasks) * sizeof(int64_t));
    if (job.work == NULL || job.indices == NULL) {
        free(job.work);
        free(job.indices);
        return MUSHIN_ENOMEM;
    }
    mushin_parallel_for(job.chunks, bootstrap_chunk, &job);
    free(job.work);
    free(job.indices);
    return MUSHIN_OK;
}

/* ---------------------------------------- probability of improvement -- */

/* P(X > Y) on one task: columns `t` of x and y, row strides `tasks`. */
static double
task_improvement(const double *x, int64_t rx, const double *y, int64_t ry, int64_t tasks,
                 int64_t t)
{
    int64_t i, j;
    double wins = 0.0;
    if (rx == ry) {
        int equal = 1;
        for (i = 0; i < rx && equal; i++) {
            equal = x[i * tasks + t] == y[i * tasks + t];
        }
        if (equal) {
            return 0.5;
        }
    }
    for (i = 0; i < rx; i++) {
        const double xi = x[i * tasks + t];
        for (j = 0; j < ry; j++) {
            const double yj = y[j * tasks + t];
            wins += xi > yj ? 1.0 : (xi == yj ? 0.5 : 0.0);
        }
    }
    return wins / ((double)rx * (double)ry);
}

/* The mean over tasks of task_improvement, summed as numpy.mean does;
 * `per_task` is scratch of `tasks` doubles. */
static double
improvement(const double *x, int64_t rx, const double *y, int64_t ry, int64_t tasks,
            double *per_task)
{
    int64_t t;
    for (t = 0; t < tasks; t++) {
        per_task[t] = task_improvement(x, rx, y, ry, tasks, t);
    }
    return mushin_pairwise_sum(per_task, tasks) / (double)tasks;
}

int
mushin_probability_of_improvement(const double *x, int64_t rx, const double *y, int64_t ry,
                                  int64_t tasks, double *out)
{
    double *per_task;
    if (rx < 1 || ry < 1 || tasks < 1) {
        return MUSHIN_EINVAL;
    }
    per_task = (double *)malloc((size_t)tasks * sizeof(double));
    if (per_task == NULL) {
        return MUSHIN_ENOMEM;
    }
    *out = improvement(x, rx, y, ry, tasks, per_task);
    free(per_task);
    return MUSHIN_OK;
}

typedef struct {
    const double *x, *y;
    int64_t rx, ry, tasks, reps;
    uint64_t seed;
    int chunks;
    double *work; /* per chunk: x and y resamples, per-task scratch */
    double *out;
} improvement_job;

static void
improvement_chunk(void *arg, int chunk)
{
    const improvement_job *job = (const improvement_job *)arg;
    const int64_t tasks = job->tasks, nx = job->rx * tasks, ny = job->ry * tasks;
    const int64_t first = job->reps * chunk / job->chunks;
    const int64_t last = job->reps * (chunk + 1) / job->chunks;
    double *xs = job->work + (size_t)chunk * (size_t)(nx + ny + tasks);
    double *ys = xs + nx, *per_task = ys + ny;
    int64_t rep, i;
    for (rep = first; rep < last; rep++) {
        mushin_rng rng;
        mushin_rng_init(&rng, job->seed, (uint64_t)rep);
        for (i = 0; i < nx; i++) {
            xs[i] = job->x[(int64_t)mushin_rng_below(&rng, (uint64_t)job->rx) * tasks + i % tasks];
        }
        for (i = 0; i < ny; i++) {
            ys[i] = job->y[(int64_t)mushin_rng_below(&rng, (uint64_t)job->ry) * tasks + i % tasks];
        }
        job->out[rep] = improvement(xs, job->rx, ys, job->ry, tasks, per_task);
    }
}

int
mushin_improvement_bootstrap(const double *x, int64_t rx, const double *y, int64_t ry,
                             int64_t tasks, int64_t reps, uint64_t seed, int num_threads,
                             double *out)
{
    improvement_job job;
    if (rx < 1 || ry < 1 || tasks < 1 || reps < 0 || num_threads < 1) {
        return MUSHIN_EINVAL;
    }
    job.x = x;
    job.y = y;
    job.rx = rx;
    job.ry = ry;
    job.tasks = tasks;
    job.reps = reps;
    job.seed = seed;
    job.chunks = chunks_for(reps, num_threads);
    job.out = out;
    job.work = (double *)malloc((size_t)job.chunks * (size_t)((rx + ry + 1) * tasks) * sizeof(double));
    if (job.work == NULL) {
        return MUSHIN_ENOMEM;
    }
    mushin_parallel_for(job.chunks, improvement_chunk, &job);
    free(job.work);
    return MUSHIN_OK;
}
