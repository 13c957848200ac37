/*
 * resample_functions.c -- kernels/resample.c and kernels/ranking.c as
 * module functions: rliable's aggregates and their stratified bootstrap,
 * Friedman with the Nemenyi and Conover post-hoc tests, the chi-square,
 * studentized-range and noncentral t distributions, and test power.
 * Arguments are read and checked with the GIL held, outputs allocated, and
 * the kernels run without it.  The method table closes the file.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "numpy_api.h"

#include <math.h>
#include <stdlib.h>

#include "mushin_kernels.h"
#include "resample.h"
#include "module_state.h"
#include "stats_common.h"

static const char *const aggregate_names[MUSHIN_NUM_AGGREGATES] = {
    "mean", "median", "iqm", "optimality_gap", "score_profile", "average_profile"};

/* O& converter: an aggregate name -> mushin_aggregate_kind. */
static int
as_aggregate_kind(PyObject *obj, void *out)
{
    const int kind = stats_name_index(obj, aggregate_names, MUSHIN_NUM_AGGREGATES);
    if (kind >= 0) {
        *(int *)out = kind;
        return 1;
    }
    PyErr_Format(PyExc_ValueError,
                 "unknown aggregate %R; valid aggregates: 'average_profile', 'iqm', 'mean', "
                 "'median', 'optimality_gap', 'score_profile'", obj);
    return 0;
}

/* Read `obj` as a contiguous float64 array of `ndim` dimensions, every
 * value finite and (for matrices) at least one row and column; the error
 * names `name` and the first offending position. */
static PyArrayObject *
finite_array(PyObject *obj, int ndim, const char *name)
{
    PyArrayObject *arr = (PyArrayObject *)PyArray_FROMANY(obj, NPY_DOUBLE, ndim, ndim,
                                                          NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_ssize_t i;
    if (arr == NULL) {
        return NULL;
    }
    if (ndim == 2 && (PyArray_DIM(arr, 0) < 1 || PyArray_DIM(arr, 1) < 1)) {
        PyErr_Format(PyExc_ValueError, "%s has shape (%zd, %zd); it needs at least one row and "
                     "one column", name, (Py_ssize_t)PyArray_DIM(arr, 0),
                     (Py_ssize_t)PyArray_DIM(arr, 1));
        Py_DECREF(arr);
        return NULL;
    }
    i = stats_first_non_finite((const double *)PyArray_DATA(arr), PyArray_SIZE(arr));
    if (i >= 0) {
        const char *what = isnan(((const double *)PyArray_DATA(arr))[i]) ? "NaN" : "inf";
        if (ndim == 2) {
            const npy_intp cols = PyArray_DIM(arr, 1);
            PyErr_Format(PyExc_ValueError, "%s[%zd, %zd] is %s; scores must be finite numbers",
                         name, (Py_ssize_t)(i / cols), (Py_ssize_t)(i % cols), what);
        }
        else {
            PyErr_Format(PyExc_ValueError, "%s[%zd] is %s; it must be finite", name, i, what);
        }
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

static int
check_threads(int num_threads)
{
    if (num_threads < 1 || num_threads > MUSHIN_MAX_THREADS) {
        PyErr_Format(PyExc_ValueError, "num_threads must be 1 to %d, got %d", MUSHIN_MAX_THREADS,
                     num_threads);
        return -1;
    }
    return 0;
}

/* params as a 1-d finite float64 array whose length fits the aggregate. */
static PyArrayObject *
aggregate_params(PyObject *obj, int kind, int64_t *size)
{
    PyArrayObject *params = finite_array(obj, 1, "params");
    if (params == NULL) {
        return NULL;
    }
    *size = mushin_aggregate_size(kind, PyArray_SIZE(params));
    if (*size < 0) {
        PyErr_Format(PyExc_ValueError,
                     "aggregate %s takes %s, got %zd parameter(s)", aggregate_names[kind],
                     kind == MUSHIN_AGG_OPTIMALITY_GAP ? "one parameter (gamma)"
                     : kind >= MUSHIN_AGG_SCORE_PROFILE ? "at least one threshold"
                                                          : "no parameters",
                     (Py_ssize_t)PyArray_SIZE(params));
        Py_DECREF(params);
        return NULL;
    }
    return params;
}

PyDoc_STRVAR(aggregate_doc,
"aggregate(scores, kind, params=(), /)\n--\n\n"
"rliable's aggregate `kind` of a (runs, tasks) score matrix: 'mean',\n"
"'median' (of the per-task means), 'iqm' (25% trimmed mean of every\n"
"score), 'optimality_gap' (params = (gamma,)), 'score_profile' and\n"
"'average_profile' (params = thresholds).  Returns a float64 array.");

static PyObject *
py_aggregate(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *scores_obj, *params_obj = NULL, *empty = NULL, *out = NULL;
    PyArrayObject *scores = NULL, *params = NULL;
    double *scratch = NULL;
    int kind = 0, status;
    int64_t size, runs, tasks;
    npy_intp dims[1];
    if (!PyArg_ParseTuple(args, "OO&|O:aggregate", &scores_obj, as_aggregate_kind, &kind,
                          &params_obj)) {
        return NULL;
    }
    scores = finite_array(scores_obj, 2, "scores");
    if (scores == NULL) {
        return NULL;
    }
    if (params_obj == NULL) {
        params_obj = empty = PyTuple_New(0);
        if (empty == NULL) {
            goto error;
        }
    }
    params = aggregate_params(params_obj, kind, &size);
    Py_XDECREF(empty);
    if (params == NULL) {
        goto error;
    }
    runs = PyArray_DIM(scores, 0);
    tasks = PyArray_DIM(scores, 1);
    dims[0] = (npy_intp)size;
    out = PyArray_SimpleNew(1, dims, NPY_DOUBLE);
    scratch = (double *)malloc((size_t)mushin_aggregate_scratch(runs, tasks) * sizeof(double));
    if (out == NULL || scratch == NULL) {
        if (scratch == NULL) PyErr_NoMemory();
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_aggregate((const double *)PyArray_DATA(scores), runs, tasks, kind,
                              (const double *)PyArray_DATA(params), PyArray_SIZE(params), scratch,
                              (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    (void)status;
    free(scratch);
    Py_DECREF(scores);
    Py_DECREF(params);
    return out;
error:
    free(scratch);
    Py_XDECREF(scores);
    Py_XDECREF(params);
    Py_XDECREF(out);
    return NULL;
}

PyDoc_STRVAR(stratified_bootstrap_doc,
"stratified_bootstrap(scores, kind, params, reps, seed, task_bootstrap=False, num_threads=1, /)\n--\n\n"
"`reps` stratified bootstrap resamples of aggregate(scores, kind, params):\n"
"runs resampled within each task (and the tasks too with task_bootstrap);\n"
"resample b is built from RNG stream b of `seed`, see stratified_indices.\n"
"Returns a (reps, size) float64 array, the same for any num_threads.");

static PyObject *
py_stratified_bootstrap(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *scores_obj, *params_obj, *out = NULL;
    PyArrayObject *scores = NULL, *params = NULL;
    unsigned long long seed;
    Py_ssize_t reps;
    int kind = 0, task_bootstrap = 0, num_threads = 1, status;
    int64_t size;
    npy_intp dims[2];
    if (!PyArg_ParseTuple(args, "OO&OnK|pi:stratified_bootstrap", &scores_obj, as_aggregate_kind,
                          &kind, &params_obj, &reps, &seed, &task_bootstrap, &num_threads)) {
        return NULL;
    }
    if (reps < 0 || check_threads(num_threads) < 0) {
        if (reps < 0) PyErr_Format(PyExc_ValueError, "reps must be >= 0, got %zd", reps);
        return NULL;
    }
    scores = finite_array(scores_obj, 2, "scores");
    if (scores == NULL) {
        return NULL;
    }
    params = aggregate_params(params_obj, kind, &size);
    if (params == NULL) {
        goto error;
    }
    dims[0] = (npy_intp)reps;
    dims[1] = (npy_intp)size;
    out = PyArray_SimpleNew(2, dims, NPY_DOUBLE);
    if (out == NULL) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_stratified_bootstrap((const double *)PyArray_DATA(scores), PyArray_DIM(scores, 0),
                                         PyArray_DIM(scores, 1), kind,
                                         (const double *)PyArray_DATA(params), PyArray_SIZE(params),
                                         task_bootstrap, reps, (uint64_t)seed, num_threads,
                                         (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        PyErr_NoMemory();
        goto error;
    }
    Py_DECREF(scores);
    Py_DECREF(params);
    return out;
error:
    Py_XDECREF(scores);
    Py_XDECREF(params);
    Py_XDECREF(out);
    return NULL;
}

PyDoc_STRVAR(stratified_indices_doc,
"stratified_indices(runs, tasks, seed, rep, task_bootstrap=False, /)\n--\n\n"
"The indices of stratified bootstrap resample `rep`: a (runs, tasks) int64\n"
"array whose column t lists the runs drawn for task t, and the (tasks,)\n"
"array of the tasks drawn (None without task_bootstrap).  Resample `rep`\n"
"of the data is scores[run_idx, task_idx] (task_idx = arange(tasks)\n"
"without task_bootstrap).");

static PyObject *
py_stratified_indices(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_ssize_t runs, tasks, rep;
    unsigned long long seed;
    int task_bootstrap = 0;
    PyObject *run_idx = NULL, *task_idx = NULL;
    npy_intp dims[2];
    if (!PyArg_ParseTuple(args, "nnKn|p:stratified_indices", &runs, &tasks, &seed, &rep,
                          &task_bootstrap)) {
        return NULL;
    }
    if (runs < 1 || tasks < 1 || rep < 0 || (double)runs * (double)tasks > 1e9) {
        PyErr_Format(PyExc_ValueError,
                     "stratified_indices needs runs >= 1, tasks >= 1 (runs * tasks <= 1e9) and "
                     "rep >= 0, got %zd, %zd and %zd", runs, tasks, rep);
        return NULL;
    }
    dims[0] = runs;
    dims[1] = tasks;
    run_idx = PyArray_SimpleNew(2, dims, NPY_INT64);
    task_idx = task_bootstrap ? PyArray_SimpleNew(1, &dims[1], NPY_INT64) : Py_NewRef(Py_None);
    if (run_idx == NULL || task_idx == NULL) {
        Py_XDECREF(run_idx);
        Py_XDECREF(task_idx);
        return NULL;
    }
    mushin_stratified_indices(runs, tasks, task_bootstrap, (uint64_t)seed, rep,
                              (int64_t *)PyArray_DATA((PyArrayObject *)run_idx),
                              task_bootstrap ? (int64_t *)PyArray_DATA((PyArrayObject *)task_idx)
                                             : NULL);
    return Py_BuildValue("(NN)", run_idx, task_idx);
}

/* x and y: (runs, tasks) score matrices with the same number of tasks. */
static int
read_pair(PyObject *xo, PyObject *yo, PyArrayObject **x, PyArrayObject **y)
{
    *x = finite_array(xo, 2, "x");
    if (*x == NULL) {
        return -1;
    }
    *y = finite_array(yo, 2, "y");
    if (*y == NULL) {
        Py_CLEAR(*x);
        return -1;
    }
    if (PyArray_DIM(*x, 1) != PyArray_DIM(*y, 1)) {
        PyErr_Format(PyExc_ValueError, "x and y need the same tasks (columns), got %zd and %zd",
                     (Py_ssize_t)PyArray_DIM(*x, 1), (Py_ssize_t)PyArray_DIM(*y, 1));
        Py_CLEAR(*x);
        Py_CLEAR(*y);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(probability_of_improvement_doc,
"probability_of_improvement(x, y, /)\n--\n\n"
"P(X > Y) averaged over tasks, ties counting one half (rliable's\n"
"probability_of_improvement); x is (runs_x, tasks), y (runs_y, tasks).");

static PyObject *
py_probability_of_improvement(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *xo, *yo;
    PyArrayObject *x, *y;
    double p = NAN;
    int status;
    if (!PyArg_ParseTuple(args, "OO:probability_of_improvement", &xo, &yo) ||
        read_pair(xo, yo, &x, &y) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_probability_of_improvement((const double *)PyArray_DATA(x), PyArray_DIM(x, 0),
                                               (const double *)PyArray_DATA(y), PyArray_DIM(y, 0),
                                               PyArray_DIM(x, 1), &p);
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    Py_DECREF(y);
    if (status != MUSHIN_OK) {
        return PyErr_NoMemory();
    }
    return PyFloat_FromDouble(p);
}

PyDoc_STRVAR(improvement_bootstrap_doc,
"improvement_bootstrap(x, y, reps, seed, num_threads=1, /)\n--\n\n"
"`reps` resamples of probability_of_improvement(x, y), the runs of x and\n"
"of y resampled independently within each task; resample b from RNG\n"
"stream b (x's indices row by row, then y's).  The same for any\n"
"num_threads.");

static PyObject *
py_improvement_bootstrap(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *xo, *yo, *out;
    PyArrayObject *x, *y;
    Py_ssize_t reps;
    unsigned long long seed;
    int num_threads = 1, status;
    npy_intp dims[1];
    if (!PyArg_ParseTuple(args, "OOnK|i:improvement_bootstrap", &xo, &yo, &reps, &seed,
                          &num_threads)) {
        return NULL;
    }
    if (reps < 0) {
        PyErr_Format(PyExc_ValueError, "reps must be >= 0, got %zd", reps);
        return NULL;
    }
    if (check_threads(num_threads) < 0 || read_pair(xo, yo, &x, &y) < 0) {
        return NULL;
    }
    dims[0] = reps;
    out = PyArray_SimpleNew(1, dims, NPY_DOUBLE);
    if (out == NULL) {
        Py_DECREF(x);
        Py_DECREF(y);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_improvement_bootstrap((const double *)PyArray_DATA(x), PyArray_DIM(x, 0),
                                          (const double *)PyArray_DATA(y), PyArray_DIM(y, 0),
                                          PyArray_DIM(x, 1), reps, (uint64_t)seed, num_threads,
                                          (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    Py_DECREF(y);
    return stats_output_or_nomemory(out, status);
}

/* ------------------------------------------------- many methods, ranks -- */

PyDoc_STRVAR(rank_rows_doc,
"rank_rows(x, /)\n--\n\n"
"Ranks 1..k within each row of a (blocks, k) matrix, ties given their\n"
"average rank (scipy.stats.rankdata(x, axis=1)).");

static PyObject *
py_rank_rows(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyArrayObject *x = finite_array(arg, 2, "x");
    PyObject *out;
    int status;
    if (x == NULL) {
        return NULL;
    }
    out = PyArray_SimpleNew(2, PyArray_DIMS(x), NPY_DOUBLE);
    if (out == NULL) {
        Py_DECREF(x);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_rank_rows((const double *)PyArray_DATA(x), PyArray_DIM(x, 0), PyArray_DIM(x, 1),
                              (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    return stats_output_or_nomemory(out, status);
}

PyDoc_STRVAR(friedman_doc,
"friedman(x, /)\n--\n\n"
"Friedman's test of the k >= 3 columns (methods) of a (blocks, k) matrix,\n"
"equal to scipy.stats.friedmanchisquare(*x.T).  Returns (statistic,\n"
"pvalue, df, mean_ranks); statistic and p are NaN when every block is\n"
"one tie.");

static PyObject *
py_friedman(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyArrayObject *x = finite_array(arg, 2, "x");
    PyObject *ranks;
    mushin_friedman_result r;
    npy_intp k;
    int status;
    if (x == NULL) {
        return NULL;
    }
    k = PyArray_DIM(x, 1);
    if (k < 3) {
        PyErr_Format(PyExc_ValueError, "Friedman's test needs at least 3 methods (columns), got %zd",
                     (Py_ssize_t)k);
        Py_DECREF(x);
        return NULL;
    }
    ranks = PyArray_SimpleNew(1, &k, NPY_DOUBLE);
    if (ranks == NULL) {
        Py_DECREF(x);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_friedman((const double *)PyArray_DATA(x), PyArray_DIM(x, 0), k,
                             (double *)PyArray_DATA((PyArrayObject *)ranks), &r);
    Py_END_ALLOW_THREADS
    Py_DECREF(x);
    if (status == MUSHIN_ENOMEM || status == MUSHIN_EINVAL) {
        Py_DECREF(ranks);
        return status == MUSHIN_ENOMEM ? PyErr_NoMemory() : NULL;
    }
    return Py_BuildValue("(dddN)", r.statistic, r.pvalue, r.df, ranks);
}

PyDoc_STRVAR(friedman_posthoc_doc,
"friedman_posthoc(x, test, /)\n--\n\n"
"Pairwise post-hoc tests of the k >= 2 columns of a (blocks, k) matrix:\n"
"'nemenyi' (scikit-posthocs posthoc_nemenyi_friedman) or 'conover'\n"
"(posthoc_conover_friedman, unadjusted t).  Returns (statistic, pvalue),\n"
"two (k, k) symmetric arrays.");

/* Indexed by mushin_posthoc_kind. */
static const char *const posthoc_names[] = {"nemenyi", "conover"};

static PyObject *
py_friedman_posthoc(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *xo, *test, *stat = NULL, *p = NULL;
    PyArrayObject *x;
    npy_intp dims[2];
    int kind, status;
    if (!PyArg_ParseTuple(args, "OU:friedman_posthoc", &xo, &test)) {
        return NULL;
    }
    kind = stats_name_index(test, posthoc_names, 2);
    if (kind < 0) {
        PyErr_Format(PyExc_ValueError, "unknown post-hoc test %R; valid: 'conover', 'nemenyi'", test);
        return NULL;
    }
    x = finite_array(xo, 2, "x");
    if (x == NULL) {
        return NULL;
    }
    if (PyArray_DIM(x, 1) < 2) {
        PyErr_SetString(PyExc_ValueError, "post-hoc tests need at least 2 methods (columns)");
        Py_DECREF(x);
        return NULL;
    }
    dims[0] = dims[1] = PyArray_DIM(x, 1);
    stat = PyArray_SimpleNew(2, dims, NPY_DOUBLE);
    p = PyArray_SimpleNew(2, dims, NPY_DOUBLE);
    if (stat == NULL || p == NULL) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_friedman_posthoc((const double *)PyArray_DATA(x), PyArray_DIM(x, 0),
                                     PyArray_DIM(x, 1), kind,
                                     (double *)PyArray_DATA((PyArrayObject *)stat),
                                     (double *)PyArray_DATA((PyArrayObject *)p));
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        PyErr_NoMemory();
        goto error;
    }
    Py_DECREF(x);
    return Py_BuildValue("(NN)", stat, p);
error:
    Py_DECREF(x);
    Py_XDECREF(stat);
    Py_XDECREF(p);
    return NULL;
}

/* ---------------------------------------------------- distributions -- */

/* A real-number argument of the distribution helpers; a failed conversion
 * keeps its own error. */
static int
real_arg(PyObject *obj, const char *func, const char *name, double *out)
{
    return stats_real_arg(obj, func, name, out, 0);
}

static PyObject *
py_chi2_sf(PyObject *Py_UNUSED(m), PyObject *args)
{
    static const char *const names[2] = {"x", "df"};
    double v[2];
    if (stats_real_args(args, "OO:chi2_sf", "chi2_sf", names, 2, v, 0) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble(mushin_chi2_sf(v[0], v[1]));
}

static PyObject *
py_studentized_range_sf(PyObject *Py_UNUSED(m), PyObject *args)
{
    PyObject *a;
    Py_ssize_t k;
    double q;
    if (!PyArg_ParseTuple(args, "On:studentized_range_sf", &a, &k) ||
        real_arg(a, "studentized_range_sf", "q", &q) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble(mushin_studentized_range_sf(q, k));
}

static PyObject *
py_studentized_range_isf(PyObject *Py_UNUSED(m), PyObject *args)
{
    PyObject *a;
    Py_ssize_t k;
    double p, q;
    if (!PyArg_ParseTuple(args, "On:studentized_range_isf", &a, &k) ||
        real_arg(a, "studentized_range_isf", "p", &p) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    q = mushin_studentized_range_isf(p, k);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(q);
}

static PyObject *
py_nct_cdf(PyObject *Py_UNUSED(m), PyObject *args)
{
    static const char *const names[3] = {"t", "df", "nc"};
    double v[3], p;
    if (stats_real_args(args, "OOO:nct_cdf", "nct_cdf", names, 3, v, 0) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    p = mushin_nct_cdf(v[0], v[1], v[2]);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(p);
}

static PyObject *
py_t_test_power(PyObject *Py_UNUSED(m), PyObject *args)
{
    static const char *const names[3] = {"df", "nc", "alpha"};
    double v[3], p;
    if (stats_real_args(args, "OOO:t_test_power", "t_test_power", names, 3, v, 0) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    p = mushin_t_test_power(v[0], v[1], v[2]);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(p);
}

PyDoc_STRVAR(rank_test_power_doc,
"rank_test_power(test, n, shift, sd_a, sd_b, alpha, sims, seed, num_threads=1, /)\n--\n\n"
"Power of the two-sided rank test 'wilcoxon' (n paired differences\n"
"shift + sd_a z) or 'mannwhitney' (n scores shift + sd_a z against n\n"
"scores sd_b z'), z standard normal, by `sims` simulations; simulation s\n"
"from RNG stream s of `seed`.  The same for any num_threads.");

/* The tests rank_test_power simulates, and their mushin_test_kind. */
static const char *const rank_test_names[] = {"wilcoxon", "mannwhitney"};
static const int rank_test_kinds[] = {MUSHIN_TEST_WILCOXON, MUSHIN_TEST_MANNWHITNEY};

static PyObject *
py_rank_test_power(PyObject *Py_UNUSED(m), PyObject *args)
{
    PyObject *test;
    Py_ssize_t n, sims;
    double shift, sd_a, sd_b, alpha, power = NAN;
    unsigned long long seed;
    int num_threads = 1, kind, status;
    if (!PyArg_ParseTuple(args, "Undddd" "nK|i:rank_test_power", &test, &n, &shift, &sd_a, &sd_b,
                          &alpha, &sims, &seed, &num_threads)) {
        return NULL;
    }
    kind = stats_name_index(test, rank_test_names, 2);
    if (kind < 0) {
        PyErr_Format(PyExc_ValueError, "rank_test_power simulates 'wilcoxon' or 'mannwhitney', "
                     "got %R", test);
        return NULL;
    }
    kind = rank_test_kinds[kind];
    if (check_threads(num_threads) < 0) {
        return NULL;
    }
    if (n < 1 || n > 100000 || sims < 1 || sims > 100000000 || !(alpha > 0.0 && alpha < 1.0) ||
        !isfinite(shift) || !(sd_a >= 0.0 && sd_b >= 0.0) || isinf(sd_a) || isinf(sd_b)) {
        PyErr_Format(PyExc_ValueError,
                     "rank_test_power needs 1 <= n <= 100000, 1 <= sims <= 1e8, alpha in (0, 1), "
                     "a finite shift and finite sd_a, sd_b >= 0");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_rank_test_power(kind, n, shift, sd_a, sd_b, alpha, sims, (uint64_t)seed,
                                    num_threads, &power);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        return PyErr_NoMemory();
    }
    return PyFloat_FromDouble(power);
}

static PyMethodDef resample_functions[] = {
    {"aggregate", py_aggregate, METH_VARARGS, aggregate_doc},
    {"stratified_bootstrap", py_stratified_bootstrap, METH_VARARGS, stratified_bootstrap_doc},
    {"stratified_indices", py_stratified_indices, METH_VARARGS, stratified_indices_doc},
    {"probability_of_improvement", py_probability_of_improvement, METH_VARARGS,
     probability_of_improvement_doc},
    {"improvement_bootstrap", py_improvement_bootstrap, METH_VARARGS, improvement_bootstrap_doc},
    {"rank_rows", py_rank_rows, METH_O, rank_rows_doc},
    {"friedman", py_friedman, METH_O, friedman_doc},
    {"friedman_posthoc", py_friedman_posthoc, METH_VARARGS, friedman_posthoc_doc},
    {"chi2_sf", py_chi2_sf, METH_VARARGS,
     "chi2_sf(x, df, /)\n--\n\nUpper tail of the chi-square distribution; NaN for df <= 0."},
    {"studentized_range_sf", py_studentized_range_sf, METH_VARARGS,
     "studentized_range_sf(q, k, /)\n--\n\nP(range of k standard normals > q) (infinite df),\n"
     "computed as a tail; NaN for k < 2."},
    {"studentized_range_isf", py_studentized_range_isf, METH_VARARGS,
     "studentized_range_isf(p, k, /)\n--\n\nThe q with studentized_range_sf(q, k) = p."},
    {"nct_cdf", py_nct_cdf, METH_VARARGS,
     "nct_cdf(t, df, nc, /)\n--\n\nNoncentral t distribution function; NaN for df <= 0."},
    {"t_test_power", py_t_test_power, METH_VARARGS,
     "t_test_power(df, nc, alpha, /)\n--\n\nPower of a two-sided t-test whose statistic is\n"
     "noncentral t(df, nc)."},
    {"rank_test_power", py_rank_test_power, METH_VARARGS, rank_test_power_doc},
    {NULL, NULL, 0, NULL}
};

/* Add the resampling and ranking functions to the module (from module init). */
int
mushin_resample_add_functions(PyObject *module)
{
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, resample_functions);
}
