/*
 * stats_functions.c -- the statistics of kernels/distributions.c, stats.c and
 * kernels/ranktests.c as module functions: Student-t and normal
 * distributions, the two-sample tests, exact rank distributions, effect
 * sizes, confidence intervals and multiple-comparison corrections.  Inputs
 * are converted to float64 arrays with the GIL held; the kernels that loop
 * over them run without it.  The method table closes the file.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "numpy_api.h"

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "module_state.h"
#include "stats_common.h"


/* O& converter: any 1-d sequence of numbers -> contiguous float64 array. */
static int
as_float_vector(PyObject *obj, void *out)
{
    PyArrayObject **dst = (PyArrayObject **)out;
    if (obj == NULL) { /* cleanup call */
        Py_CLEAR(*dst);
        return 1;
    }
    *dst = (PyArrayObject *)PyArray_FROMANY(obj, NPY_DOUBLE, 1, 1,
                                            NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    return *dst == NULL ? 0 : Py_CLEANUP_SUPPORTED;
}

PyDoc_STRVAR(cohens_d_doc,
"cohens_d(a, b, /)\n--\n\n"
"Cohen's d of a - b with the pooled standard deviation.");

static PyObject *
py_cohens_d(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyArrayObject *a = NULL, *b = NULL;
    double d;
    if (!PyArg_ParseTuple(args, "O&O&:cohens_d", as_float_vector, &a, as_float_vector, &b)) {
        return NULL;
    }
    d = mushin_cohens_d((const double *)PyArray_DATA(a), PyArray_SIZE(a),
                        (const double *)PyArray_DATA(b), PyArray_SIZE(b));
    Py_DECREF(a);
    Py_DECREF(b);
    return PyFloat_FromDouble(d);
}

PyDoc_STRVAR(mean_ci_doc,
"mean_ci(x, confidence=0.95, /)\n--\n\n"
"Student-t confidence interval of the mean of x: (mean, low, high).");

static PyObject *
py_mean_ci(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyArrayObject *x = NULL;
    double confidence = 0.95, mean, low, high;
    int status;
    if (!PyArg_ParseTuple(args, "O&|d:mean_ci", as_float_vector, &x, &confidence)) {
        return NULL;
    }
    if (!(confidence > 0.0 && confidence < 1.0)) {
        Py_DECREF(x);
        PyErr_Format(PyExc_ValueError, "confidence must be in (0, 1), got %R",
                     PyTuple_GET_ITEM(args, 1));
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_mean_ci((const double *)PyArray_DATA(x), PyArray_SIZE(x), confidence,
                            &mean, &low, &high);
    Py_END_ALLOW_THREADS
    (void)status;
    Py_DECREF(x);
    return Py_BuildValue("(ddd)", mean, low, high);
}

PyDoc_STRVAR(holm_doc,
"holm(pvalues, /)\n--\n\n"
"Holm step-down adjusted p-values; NaN entries are left out of the family.");

/* Which correction apply_correction runs. */
enum { CORRECTION_HOLM, CORRECTION_BONFERRONI, CORRECTION_FDR_BH };

static PyObject *apply_correction(PyObject *arg, int kind, const char *prefix);

static PyObject *
py_holm(PyObject *Py_UNUSED(module), PyObject *arg)
{
    return apply_correction(arg, CORRECTION_HOLM, "");
}

/* The Student-t helpers f(first, df); a failed conversion of either
 * argument is reported as a TypeError naming it. */
static PyObject *
student_t(PyObject *args, const char *format, const char *func, const char *first,
          double (*kernel)(double, double))
{
    const char *const names[2] = {first, "df"};
    double v[2];
    if (stats_real_args(args, format, func, names, 2, v, 1) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble(kernel(v[0], v[1]));
}

/* What the Student-t helpers do outside their domain, shared by the three
 * docstrings: NaN, as scipy.stats.t does, so that a vectorised caller is not
 * interrupted by one degenerate df. */
#define T_DOMAIN_DOC                                                             \
    "\n\nAccurate to a few ulp for any df > 0 (relative 1e-12 in the tails);\n" \
    "from df = 1e25 on, and for df = inf, the normal distribution (exact\n"      \
    "there in double).  df <= 0 or NaN gives NaN, as scipy.stats.t does."

static PyObject *
py_t_cdf(PyObject *Py_UNUSED(m), PyObject *args)
{
    return student_t(args, "OO:t_cdf", "t_cdf", "t", mushin_t_cdf);
}

static PyObject *
py_t_sf(PyObject *Py_UNUSED(m), PyObject *args)
{
    return student_t(args, "OO:t_sf", "t_sf", "t", mushin_t_sf);
}

static PyObject *
py_t_ppf(PyObject *Py_UNUSED(m), PyObject *args)
{
    return student_t(args, "OO:t_ppf", "t_ppf", "q", mushin_t_ppf);
}

static PyObject *
py_betainc(PyObject *Py_UNUSED(m), PyObject *args)
{
    static const char *const names[3] = {"a", "b", "x"};
    double v[3];
    if (stats_real_args(args, "OOO:betainc", "betainc", names, 3, v, 1) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble(mushin_betainc(v[0], v[1], v[2], 1.0 - v[2]));
}

/* ------------------------------------- statistics: tests and corrections -- */
/*
 * The five two-sample tests, the corrections beyond Holm, the exact rank
 * distributions and the smallest attainable p-values (kernels: csrc/kernels/stats.c
 * and csrc/kernels/ranktests.c).  Arguments are checked here with the GIL held so a
 * kernel never sees a value it would reject.
 */

static const char *const test_names[MUSHIN_NUM_TESTS] = {
    "welch", "ttest_ind", "ttest_rel", "wilcoxon", "mannwhitney"};

static const char *const pvalue_method_names[] = {
    "undefined", "t", "exact", "permutation", "normal", "identical"};

/* O& converter: a test name -> mushin_test_kind. */
static int
as_test_kind(PyObject *obj, void *out)
{
    int kind;
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "test must be a str, got %.200s", Py_TYPE(obj)->tp_name);
        return 0;
    }
    kind = stats_name_index(obj, test_names, MUSHIN_NUM_TESTS);
    if (kind >= 0) {
        *(int *)out = kind;
        return 1;
    }
    PyErr_Format(PyExc_ValueError,
                 "unknown test %R; valid tests: 'mannwhitney', 'ttest_ind', 'ttest_rel', "
                 "'welch', 'wilcoxon'", obj);
    return 0;
}

/* Set ValueError naming the first NaN/inf of x, or return 0 when all finite. */
static int
reject_non_finite(PyArrayObject *x, const char *name)
{
    const double *v = (const double *)PyArray_DATA(x);
    const Py_ssize_t i = stats_first_non_finite(v, PyArray_SIZE(x));
    PyObject *value;
    if (i < 0) {
        return 0;
    }
    value = PyFloat_FromDouble(v[i]);
    if (value != NULL) {
        PyErr_Format(PyExc_ValueError, "%s[%zd] is %R; scores must be finite numbers", name, i,
                     value);
        Py_DECREF(value);
    }
    return -1;
}

PyDoc_STRVAR(two_sample_test_doc,
"two_sample_test(test, a, b, confidence=0.95, /)\n--\n\n"
"Two-sided test of a against b: 'welch', 'ttest_ind', 'ttest_rel',\n"
"'wilcoxon' or 'mannwhitney', each equal to scipy's default call.\n"
"Returns (statistic, pvalue, df, mean_diff, effect_size, ci_low, ci_high,\n"
"pvalue_method); undefined entries are NaN.");

static PyObject *
py_two_sample_test(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyArrayObject *a = NULL, *b = NULL;
    PyObject *result = NULL;
    mushin_test_result r;
    const double *ad, *bd;
    double confidence = 0.95;
    npy_intp na, nb;
    int kind = 0, status;
    if (!PyArg_ParseTuple(args, "O&O&O&|d:two_sample_test", as_test_kind, &kind,
                          as_float_vector, &a, as_float_vector, &b, &confidence)) {
        return NULL;
    }
    na = PyArray_SIZE(a);
    nb = PyArray_SIZE(b);
    if (na == 0 || nb == 0) {
        PyErr_Format(PyExc_ValueError, "%s is empty; every group needs at least one score",
                     na == 0 ? "a" : "b");
        goto error;
    }
    if ((kind == MUSHIN_TEST_TTEST_REL || kind == MUSHIN_TEST_WILCOXON) && na != nb) {
        PyErr_Format(PyExc_ValueError,
                     "%s is a paired test: a and b need one score per seed each, got %zd and %zd",
                     test_names[kind], (Py_ssize_t)na, (Py_ssize_t)nb);
        goto error;
    }
    if (!(confidence > 0.0 && confidence < 1.0)) {
        PyErr_Format(PyExc_ValueError, "confidence must be in (0, 1), got %R",
                     PyTuple_GET_ITEM(args, 3));
        goto error;
    }
    if (reject_non_finite(a, "a") < 0 || reject_non_finite(b, "b") < 0) {
        goto error;
    }
    ad = (const double *)PyArray_DATA(a);
    bd = (const double *)PyArray_DATA(b);
    Py_BEGIN_ALLOW_THREADS
    status = mushin_two_sample_test(kind, ad, na, bd, nb, confidence, &r);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_ENOMEM) {
        PyErr_NoMemory();
        goto error;
    }
    if (status != MUSHIN_OK && status != MUSHIN_EDEGENERATE) {
        PyErr_Format(PyExc_RuntimeError, "two_sample_test: kernel rejected its arguments (%d)",
                     status);
        goto error;
    }
    result = Py_BuildValue("(ddddddds)", r.statistic, r.pvalue, r.df, r.mean_diff,
                           r.effect_size, r.ci_low, r.ci_high,
                           pvalue_method_names[r.pvalue_method]);
error:
    Py_XDECREF(a);
    Py_XDECREF(b);
    return result;
}

/* Shared body of the corrections: p -> adjusted p of the same length.  A
 * p-value outside [0, 1] is refused with `prefix` before the message. */
static PyObject *
apply_correction(PyObject *arg, int kind, const char *prefix)
{
    PyArrayObject *p = NULL;
    PyObject *out = NULL;
    int64_t *order = NULL;
    const double *pd;
    double *od;
    npy_intp n;
    int status;
    if (!as_float_vector(arg, &p)) {
        return NULL;
    }
    n = PyArray_SIZE(p);
    out = PyArray_SimpleNew(1, &n, NPY_DOUBLE);
    if (out == NULL) {
        goto error;
    }
    if (kind != CORRECTION_BONFERRONI) {
        order = (int64_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
        if (order == NULL) {
            PyErr_NoMemory();
            goto error;
        }
    }
    pd = (const double *)PyArray_DATA(p);
    od = (double *)PyArray_DATA((PyArrayObject *)out);
    Py_BEGIN_ALLOW_THREADS
    status = kind == CORRECTION_HOLM         ? mushin_holm(pd, n, od, order)
             : kind == CORRECTION_BONFERRONI ? mushin_bonferroni(pd, n, od)
                                             : mushin_fdr_bh(pd, n, od, order);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        PyErr_Format(PyExc_ValueError, "%sp-values must lie in [0, 1] or be NaN", prefix);
        goto error;
    }
    free(order);
    Py_DECREF(p);
    return out;
error:
    free(order);
    Py_XDECREF(p);
    Py_XDECREF(out);
    return NULL;
}

PyDoc_STRVAR(bonferroni_doc,
"bonferroni(pvalues, /)\n--\n\n"
"Bonferroni-adjusted p-values min(1, m p), m the number of non-NaN entries.");

static PyObject *
py_bonferroni(PyObject *Py_UNUSED(module), PyObject *arg)
{
    return apply_correction(arg, CORRECTION_BONFERRONI, "bonferroni: ");
}

PyDoc_STRVAR(fdr_bh_doc,
"fdr_bh(pvalues, /)\n--\n\n"
"Benjamini-Hochberg adjusted p-values (scipy.stats.false_discovery_control);\n"
"NaN entries are left out of the family.");

static PyObject *
py_fdr_bh(PyObject *Py_UNUSED(module), PyObject *arg)
{
    return apply_correction(arg, CORRECTION_FDR_BH, "fdr_bh: ");
}

PyDoc_STRVAR(cohens_dz_doc,
"cohens_dz(a, b, /)\n--\n\n"
"Cohen's d_z of paired scores: mean(a - b) / sd(a - b).");

static PyObject *
py_cohens_dz(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyArrayObject *a = NULL, *b = NULL;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "O&O&:cohens_dz", as_float_vector, &a, as_float_vector, &b)) {
        return NULL;
    }
    if (PyArray_SIZE(a) != PyArray_SIZE(b)) {
        PyErr_Format(PyExc_ValueError, "cohens_dz needs paired scores, got %zd and %zd values",
                     (Py_ssize_t)PyArray_SIZE(a), (Py_ssize_t)PyArray_SIZE(b));
        goto error;
    }
    result = PyFloat_FromDouble(mushin_cohens_dz((const double *)PyArray_DATA(a),
                                                 (const double *)PyArray_DATA(b),
                                                 PyArray_SIZE(a)));
error:
    Py_XDECREF(a);
    Py_XDECREF(b);
    return result;
}

PyDoc_STRVAR(signed_rank_counts_doc,
"signed_rank_counts(n, /)\n--\n\n"
"Exact null distribution of the Wilcoxon signed-rank statistic for n\n"
"differences: counts of each sum 0 .. n(n+1)/2 out of 2**n sign patterns.\n\n"
"n is capped at 1000 (ValueError beyond): scipy's exact test stops at\n"
"n = 50, and from n ~ 1030 the counts exceed the largest double.");

static PyObject *
py_signed_rank_counts(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_ssize_t n;
    npy_intp size;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "n:signed_rank_counts", &n)) {
        return NULL;
    }
    if (n < 0 || n > MUSHIN_SIGNED_RANK_MAX_N) {
        PyErr_Format(PyExc_ValueError,
                     "signed_rank_counts: n must be in [0, %d], got %zd; beyond that use the "
                     "normal approximation (scipy's exact test stops at n = 50)",
                     MUSHIN_SIGNED_RANK_MAX_N, n);
        return NULL;
    }
    size = (npy_intp)(n * (n + 1) / 2 + 1);
    out = PyArray_SimpleNew(1, &size, NPY_DOUBLE);
    if (out == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    mushin_signed_rank_counts(n, (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    return out;
}

PyDoc_STRVAR(rank_sum_counts_doc,
"rank_sum_counts(n1, n2, kmax=-1, /)\n--\n\n"
"Exact null distribution of the Mann-Whitney U statistic for samples of n1\n"
"and n2: counts of U = 0 .. kmax (default n1 * n2) out of C(n1 + n2, n1).\n\n"
"Capped (ValueError beyond): kmax + 1 <= 2**24 entries,\n"
"min(n1, n2) * (kmax + 1) <= 2**28 steps, and C(n1 + n2, n1) < 2**1000\n"
"so no count overflows a double.  scipy's exact test needs\n"
"min(n1, n2) <= 8, far inside these.");

static PyObject *
py_rank_sum_counts(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_ssize_t n1, n2, kmax = -1;
    npy_intp size;
    PyObject *out;
    int status;
    Py_ssize_t kmax_given_value;
    int kmax_given;
    if (!PyArg_ParseTuple(args, "nn|n:rank_sum_counts", &n1, &n2, &kmax)) {
        return NULL;
    }
    kmax_given = kmax >= 0;
    kmax_given_value = kmax;
    if (n1 < 0 || n2 < 0) {
        PyErr_Format(PyExc_ValueError,
                     "rank_sum_counts: n1 and n2 must be non-negative, got %zd and %zd", n1, n2);
        return NULL;
    }
    if (kmax < 0 || (double)kmax > (double)n1 * (double)n2) {
        /* n1 * n2 as a double: the product of two huge sizes must not wrap
         * before the cap below refuses it */
        const double full = (double)n1 * (double)n2;
        kmax = full > (double)MUSHIN_RANK_SUM_MAX_KMAX ? MUSHIN_RANK_SUM_MAX_KMAX + 1
                                                       : (Py_ssize_t)full;
    }
    if (!mushin_rank_sum_within_caps(n1, n2, kmax)) {
        char kmax_text[48];
        if (kmax_given) {
            PyOS_snprintf(kmax_text, sizeof(kmax_text), "%zd", kmax_given_value);
        }
        else {
            PyOS_snprintf(kmax_text, sizeof(kmax_text), "n1 * n2");
        }
        PyErr_Format(PyExc_ValueError,
                     "rank_sum_counts(%zd, %zd, kmax=%s) is past the caps of the exact "
                     "distribution (kmax + 1 <= 2**24, min(n1, n2) * (kmax + 1) <= 2**28, "
                     "C(n1 + n2, n1) < 2**1000); at these sizes use the normal approximation, "
                     "or ask for fewer counts with kmax",
                     n1, n2, kmax_text);
        return NULL;
    }
    size = (npy_intp)(kmax + 1);
    out = PyArray_SimpleNew(1, &size, NPY_DOUBLE);
    if (out == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_rank_sum_counts(n1, n2, kmax, (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    return stats_output_or_nomemory(out, status);
}

PyDoc_STRVAR(min_pvalue_doc,
"min_pvalue(test, na, nb, /)\n--\n\n"
"Smallest two-sided p-value the test can return with na and nb scores\n"
"(no ties); NaN where the test is undefined at these sizes.");

static PyObject *
py_min_pvalue(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_ssize_t na, nb;
    int kind = 0;
    double p;
    if (!PyArg_ParseTuple(args, "O&nn:min_pvalue", as_test_kind, &kind, &na, &nb)) {
        return NULL;
    }
    if (na < 0 || nb < 0 || (double)na * (double)nb > 1e9) {
        PyErr_Format(PyExc_ValueError,
                     "na and nb must be non-negative with na * nb <= 1e9, got %zd and %zd", na, nb);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    p = mushin_min_pvalue(kind, na, nb);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(p);
}

PyDoc_STRVAR(pairwise_sum_doc,
"pairwise_sum(x, /)\n--\n\n"
"Sum of x in NumPy's pairwise order (equal to numpy.sum bit for bit).");

static PyObject *
py_pairwise_sum(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyArrayObject *x = NULL;
    double s;
    if (!as_float_vector(arg, &x)) {
        return NULL;
    }
    s = mushin_pairwise_sum((const double *)PyArray_DATA(x), PyArray_SIZE(x));
    Py_DECREF(x);
    return PyFloat_FromDouble(s);
}

static PyObject *
py_norm_sf(PyObject *Py_UNUSED(module), PyObject *arg)
{
    const double z = PyFloat_AsDouble(arg);
    if (z == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return PyFloat_FromDouble(mushin_norm_sf(z));
}

static PyObject *
py_norm_ppf(PyObject *Py_UNUSED(module), PyObject *arg)
{
    const double q = PyFloat_AsDouble(arg);
    if (q == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return PyFloat_FromDouble(mushin_norm_ppf(q));
}

static PyMethodDef stats_functions[] = {
    {"cohens_d", py_cohens_d, METH_VARARGS, cohens_d_doc},
    {"mean_ci", py_mean_ci, METH_VARARGS, mean_ci_doc},
    {"holm", py_holm, METH_O, holm_doc},
    {"t_cdf", py_t_cdf, METH_VARARGS, "t_cdf(t, df, /)\n--\n\nStudent-t CDF." T_DOMAIN_DOC},
    {"t_sf", py_t_sf, METH_VARARGS,
     "t_sf(t, df, /)\n--\n\nStudent-t survival function." T_DOMAIN_DOC},
    {"t_ppf", py_t_ppf, METH_VARARGS, "t_ppf(q, df, /)\n--\n\nStudent-t quantile." T_DOMAIN_DOC},
    {"betainc", py_betainc, METH_VARARGS,
     "betainc(a, b, x, /)\n--\n\nRegularized incomplete beta function I_x(a, b).\n\n"
     "Relative accuracy about 1e-12 for any a, b > 0 up to 1e300 (TOMS 708's\n"
     "expansion near the mean when both are large, its continued fraction\n"
     "elsewhere).  a or b <= 0 or NaN, or x outside [0, 1], gives NaN."},
    /* statistics: tests and corrections */
    {"two_sample_test", py_two_sample_test, METH_VARARGS, two_sample_test_doc},
    {"bonferroni", py_bonferroni, METH_O, bonferroni_doc},
    {"fdr_bh", py_fdr_bh, METH_O, fdr_bh_doc},
    {"cohens_dz", py_cohens_dz, METH_VARARGS, cohens_dz_doc},
    {"signed_rank_counts", py_signed_rank_counts, METH_VARARGS, signed_rank_counts_doc},
    {"rank_sum_counts", py_rank_sum_counts, METH_VARARGS, rank_sum_counts_doc},
    {"min_pvalue", py_min_pvalue, METH_VARARGS, min_pvalue_doc},
    {"pairwise_sum", py_pairwise_sum, METH_O, pairwise_sum_doc},
    {"norm_sf", py_norm_sf, METH_O, "norm_sf(z, /)\n--\n\nStandard normal upper tail P(Z > z)."},
    {"norm_ppf", py_norm_ppf, METH_O, "norm_ppf(q, /)\n--\n\nStandard normal quantile."},
    {NULL, NULL, 0, NULL}
};

/* Add the statistics functions to the module (from module init). */
int
mushin_stats_add_functions(PyObject *module)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, stats_functions);
}
