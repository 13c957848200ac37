/*
 * resample.h -- aggregates over runs and tasks with stratified bootstrap
 * intervals, rank tests for many methods, and the power of the tests.
 *
 * Three families, all plain C over doubles:
 *   - rliable's aggregates (Agarwal et al., "Deep reinforcement learning at
 *     the edge of the statistical precipice", NeurIPS 2021): mean, median,
 *     interquartile mean, optimality gap, performance profiles and the
 *     probability of improvement of a (runs x tasks) score matrix, and their
 *     stratified bootstrap (runs resampled within each task; optionally the
 *     tasks too).  Resample b draws from stream b of csrc/kernels/rng_internal.h
 *     whatever the thread that runs it, so the resamples -- and every
 *     interval built from them -- are the same bit for bit for any thread
 *     count.
 *   - Friedman's omnibus test over (blocks x methods) scores and the
 *     Nemenyi and Conover post-hoc tests, with the chi-square and
 *     studentized-range (infinite df) distributions they need.
 *   - the noncentral t distribution, the power of the t-tests, and the power
 *     of the rank tests by simulation (simulation s on stream s).
 *
 * Score matrices are row-major, runs (or blocks) by tasks (or methods).
 * Status codes are mushin_kernels.h's.
 */
#ifndef MUSHIN_RESAMPLE_H
#define MUSHIN_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Aggregates of a (runs x tasks) matrix.  The profiles take `nparams`
 * thresholds tau and give one value per threshold; the optimality gap takes
 * one parameter, gamma; the others none. */
typedef enum {
    MUSHIN_AGG_MEAN = 0,            /* mean over tasks of the per-task mean over runs */
    MUSHIN_AGG_MEDIAN = 1,          /* median over tasks of the per-task means */
    MUSHIN_AGG_IQM = 2,             /* 25% trimmed mean of every score (scipy.stats.trim_mean) */
    MUSHIN_AGG_OPTIMALITY_GAP = 3,  /* gamma - mean(min(score, gamma)) */
    MUSHIN_AGG_SCORE_PROFILE = 4,   /* fraction of all scores > tau, per tau */
    MUSHIN_AGG_AVERAGE_PROFILE = 5  /* fraction of per-task means > tau, per tau */
} mushin_aggregate_kind;

#define MUSHIN_NUM_AGGREGATES 6

/* How many values aggregate `kind` returns with `nparams` parameters, or -1
 * for a bad kind or a parameter count the kind does not take. */
int64_t mushin_aggregate_size(int kind, int64_t nparams);

/* Doubles of scratch mushin_aggregate needs for a (runs x tasks) matrix. */
int64_t mushin_aggregate_scratch(int64_t runs, int64_t tasks);

/* The aggregate of `scores` into out[0 .. size - 1].  runs, tasks >= 1.
 * `scratch` holds mushin_aggregate_scratch(runs, tasks) doubles.  Returns
 * MUSHIN_OK or MUSHIN_EINVAL (nothing written). */
int mushin_aggregate(const double *scores, int64_t runs, int64_t tasks, int kind,
                     const double *params, int64_t nparams, double *scratch,
                     double *out);

/* The indices of stratified bootstrap resample `rep` of a (runs x tasks)
 * matrix: run_idx[r * tasks + t] in [0, runs) is the run that fills cell
 * (r, t) of column t; with task_bootstrap, task_idx[t] in [0, tasks) is the
 * task column t is taken from (else task_idx may be NULL).  The draws come
 * from stream `rep` of generator `seed`: the run indices row by row, then
 * the task indices. */
void mushin_stratified_indices(int64_t runs, int64_t tasks, int task_bootstrap,
                               uint64_t seed, int64_t rep, int64_t *run_idx,
                               int64_t *task_idx);

/* `reps` stratified bootstrap resamples of aggregate `kind`:
 * out[rep * size + i], size = mushin_aggregate_size(kind, nparams).
 * Resample rep is mushin_stratified_indices(..., seed, rep, ...) applied to
 * `scores`.  Split over up to num_threads threads; the output does not
 * depend on num_threads.  Returns MUSHIN_OK, MUSHIN_EINVAL or MUSHIN_ENOMEM
 * (nothing written). */
int mushin_stratified_bootstrap(const double *scores, int64_t runs, int64_t tasks,
                                int kind, const double *params, int64_t nparams,
                                int task_bootstrap, int64_t reps, uint64_t seed,
                                int num_threads, double *out);

/* P(X > Y) averaged over tasks: per task, U / (rx ry) with U the
 * Mann-Whitney count of pairs x > y plus half the ties, and 0.5 where the
 * two columns are equal element by element (rliable's
 * probability_of_improvement).  x is (rx x tasks), y (ry x tasks). */
int mushin_probability_of_improvement(const double *x, int64_t rx, const double *y,
                                      int64_t ry, int64_t tasks, double *out);

/* `reps` resamples of the probability of improvement, x and y resampled
 * independently within each task (rliable's StratifiedIndependentBootstrap):
 * resample rep draws x's run indices (rx x tasks, row by row) and then y's
 * from stream rep.  out has reps entries. */
int mushin_improvement_bootstrap(const double *x, int64_t rx, const double *y,
                                 int64_t ry, int64_t tasks, int64_t reps,
                                 uint64_t seed, int num_threads, double *out);

/* ------------------------------------------------- many methods, ranks -- */

/* Upper tail of the chi-square distribution with df > 0 degrees of
 * freedom (the regularized upper incomplete gamma Q(df/2, x/2)); relative
 * accuracy about 1e-13.  NaN for df <= 0 or NaN input. */
double mushin_chi2_sf(double x, double df);

/* Upper tail of the studentized range of k >= 2 standard normals
 * (infinite degrees of freedom), computed as a tail (not 1 - cdf), so
 * small p-values keep their relative accuracy (about 1e-10).  NaN for
 * k < 2 or NaN q. */
double mushin_studentized_range_sf(double q, int64_t k);

/* The q with mushin_studentized_range_sf(q, k) = p, p in (0, 1). */
double mushin_studentized_range_isf(double p, int64_t k);

/* Ranks 1..k within each block (row) of a (blocks x k) matrix, ties given
 * their average rank (scipy.stats.rankdata(method="average") per row).
 * Returns MUSHIN_OK or MUSHIN_ENOMEM. */
int mushin_rank_rows(const double *x, int64_t blocks, int64_t k, double *ranks);

typedef struct {
    double statistic; /* Friedman's chi-square, tie-corrected */
    double pvalue;    /* chi-square with k - 1 df, upper tail */
    double df;
} mushin_friedman_result;

/* Friedman's test of k >= 3 methods over `blocks` >= 1 blocks, equal to
 * scipy.stats.friedmanchisquare; mean_ranks (k) receives each method's mean
 * rank (1 = smallest value).  When every block is all ties the statistic
 * is 0/0: MUSHIN_EDEGENERATE with NaN statistic and p.  Returns MUSHIN_OK,
 * MUSHIN_EDEGENERATE, MUSHIN_EINVAL or MUSHIN_ENOMEM. */
int mushin_friedman(const double *x, int64_t blocks, int64_t k, double *mean_ranks,
                    mushin_friedman_result *out);

typedef enum {
    MUSHIN_POSTHOC_NEMENYI = 0, /* scikit-posthocs posthoc_nemenyi_friedman */
    MUSHIN_POSTHOC_CONOVER = 1  /* scikit-posthocs posthoc_conover_friedman (t, unadjusted) */
} mushin_posthoc_kind;

/* Pairwise post-hoc tests after Friedman, k x k symmetric matrices of the
 * statistic (|q| for Nemenyi, |t| for Conover) and the p-value, with 1 on
 * the diagonal of p and 0 on that of the statistic.  Conover's statistic
 * follows IEEE arithmetic where scikit-posthocs' does: when every block
 * ranks the methods the same way its variance term B is 0 and the
 * statistic of two different methods is inf (p = 0); when every block is
 * all ties, or there is one block, it is NaN.  Returns
 * MUSHIN_OK, MUSHIN_EINVAL (k < 2, blocks < 1 or a bad kind) or
 * MUSHIN_ENOMEM. */
int mushin_friedman_posthoc(const double *x, int64_t blocks, int64_t k, int kind,
                            double *statistic, double *pvalue);

/* ------------------------------------------------------------ power ---- */

/* Noncentral t distribution function with df > 0 and noncentrality nc
 * (Lenth's AS 243 series over incomplete beta functions); absolute
 * accuracy about 1e-14 for |nc| <= 1414, beyond that a normal
 * approximation (about 1e-3 near t ~ nc).  NaN for df <= 0 or NaN input. */
double mushin_nct_cdf(double t, double df, double nc);

/* Power of a two-sided t-test at level alpha whose statistic is noncentral
 * t with df degrees of freedom and noncentrality nc:
 * P(T > c) + P(T < -c), c the 1 - alpha/2 quantile of the central t. */
double mushin_t_test_power(double df, double nc, double alpha);

/* Power of a two-sided rank test at level alpha, by simulation: `sims`
 * data sets of normal scores, simulation s from stream s of `seed`.
 * kind MUSHIN_TEST_WILCOXON: n paired differences shift + sd_a * z;
 * kind MUSHIN_TEST_MANNWHITNEY: n scores shift + sd_a * z against n
 * scores sd_b * z'.  *power = (number of p < alpha) / sims; the count does
 * not depend on num_threads.  Returns MUSHIN_OK, MUSHIN_EINVAL or
 * MUSHIN_ENOMEM. */
int mushin_rank_test_power(int kind, int64_t n, double shift, double sd_a, double sd_b,
                           double alpha, int64_t sims, uint64_t seed, int num_threads,
                           double *power);

#ifdef __cplusplus
}
#endif

#endif /* MUSHIN_RESAMPLE_H */
