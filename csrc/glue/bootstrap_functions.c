/*
 * bootstrap_functions.c -- the module functions bootstrap_counts and
 * bootstrap_indices: the two-level bootstrap of a segmentation metric over
 * the per-image counts PerImageCounts keeps (perimage_state.c), and the
 * indices each resample draws.  Arguments are read and checked with the
 * GIL held; kernels/bootstrap.c runs without it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "numpy_api.h"

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "perimage.h"
#include "glue_common.h"
#include "module_state.h"

static const char *const metric_names[] = {"miou", "dice", "pixel_acc", "precision", "recall"};

static int
parse_metric(const char *name, mushin_count_metric *out)
{
    int i;
    for (i = 0; i < 5; i++) {
        if (strcmp(name, metric_names[i]) == 0) {
            *out = (mushin_count_metric)i;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError,
                 "metric '%s' cannot be recomputed from per-image counts; use one of 'miou', "
                 "'dice', 'pixel_acc', 'precision', 'recall'", name);
    return -1;
}

/* seeds_per_method as a new int64 array of positive counts. */
static PyArrayObject *
seed_counts(PyObject *obj)
{
    PyArrayObject *arr = (PyArrayObject *)PyArray_FROMANY(obj, NPY_INT64, 1, 1,
                                                          NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED);
    npy_intp k;
    if (arr == NULL) {
        return NULL;
    }
    if (PyArray_DIM(arr, 0) < 1) {
        PyErr_SetString(PyExc_ValueError, "seeds_per_method must name at least one method");
        Py_DECREF(arr);
        return NULL;
    }
    for (k = 0; k < PyArray_DIM(arr, 0); k++) {
        const int64_t s = ((const int64_t *)PyArray_DATA(arr))[k];
        if (s < 1 || s > (1 << 20)) {
            PyErr_Format(PyExc_ValueError,
                         "seeds_per_method[%lld] = %lld; every method needs 1 to 2**20 seeds",
                         (long long)k, (long long)s);
            Py_DECREF(arr);
            return NULL;
        }
    }
    return arr;
}

static int
parse_seed(PyObject *obj, uint64_t *out)
{
    unsigned long long v;
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "seed must be an int in [0, 2**64), got %.200s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "seed must be an int in [0, 2**64), got %R", obj);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

PyDoc_STRVAR(bootstrap_counts_doc,
"bootstrap_counts(counts, seeds_per_method, metric, n, resample_images, resample_seeds, seed, "
"excluded_class=-1, num_threads=1)\n--\n\n"
"The two-level bootstrap of a dataset-level metric over per-image counts.\n\n"
"``counts``: (models, images, classes, 3) integers (TP, FP, FN), the\n"
"seeds of method 0 first; ``seeds_per_method``: how many models each\n"
"method has.  Resample b draws (stream b of generator ``seed``) images with\n"
"replacement, shared by every model, then seeds with replacement within\n"
"each method (see bootstrap_indices); each model's metric is computed\n"
"from its counts summed over the drawn images, and a method's value is the\n"
"mean over its drawn seeds.  Returns an (n, methods) float64 array; the\n"
"same for any num_threads.  Runs without the GIL.");

static PyObject *
py_bootstrap_counts(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"counts", "seeds_per_method", "metric", "n", "resample_images",
                             "resample_seeds", "seed", "excluded_class", "num_threads", NULL};
    PyObject *counts_obj, *spm_obj, *seed_obj, *out = NULL;
    PyArrayObject *counts = NULL, *spm = NULL;
    const char *metric_name;
    long long n, excluded = -1, models = 0;
    int resample_images, resample_seeds, num_threads = 1, status, k;
    mushin_count_metric metric;
    uint64_t seed;
    npy_intp dims[2];

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOsLppO|Li:bootstrap_counts", kwlist,
                                     &counts_obj, &spm_obj, &metric_name, &n, &resample_images,
                                     &resample_seeds, &seed_obj, &excluded, &num_threads)) {
        return NULL;
    }
    if (parse_metric(metric_name, &metric) < 0 || parse_seed(seed_obj, &seed) < 0) {
        return NULL;
    }
    if (n < 1 || n > (1LL << 31)) {
        PyErr_Format(PyExc_ValueError, "n must be between 1 and 2**31 resamples, got %lld", n);
        return NULL;
    }
    if (num_threads < 1 || num_threads > MUSHIN_MAX_THREADS) {
        PyErr_Format(PyExc_ValueError, "num_threads must be between 1 and %d, got %d",
                     MUSHIN_MAX_THREADS, num_threads);
        return NULL;
    }
    spm = seed_counts(spm_obj);
    if (spm == NULL) {
        return NULL;
    }
    {
        PyArrayObject *given = (PyArrayObject *)PyArray_FROM_O(counts_obj);
        if (given == NULL) {
            goto error;
        }
        if (!PyArray_ISINTEGER(given) || PyArray_NDIM(given) != 4 || PyArray_DIM(given, 3) != 3) {
            PyErr_SetString(PyExc_ValueError,
                            "counts must be an integer array of shape (models, images, classes, 3)");
            Py_DECREF(given);
            goto error;
        }
        counts = (PyArrayObject *)PyArray_FROMANY((PyObject *)given, NPY_INT64, 4, 4,
                                                  NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                                  NPY_ARRAY_FORCECAST);
        Py_DECREF(given);
        if (counts == NULL) {
            goto error;
        }
    }
    for (k = 0; k < PyArray_DIM(spm, 0); k++) {
        models += ((const int64_t *)PyArray_DATA(spm))[k];
    }
    if (PyArray_DIM(counts, 0) != models) {
        PyErr_Format(PyExc_ValueError,
                     "counts holds %lld models but seeds_per_method adds up to %lld",
                     (long long)PyArray_DIM(counts, 0), models);
        goto error;
    }
    if (PyArray_DIM(counts, 1) < 1 || PyArray_DIM(counts, 2) < 1) {
        PyErr_SetString(PyExc_ValueError, "counts must hold at least one image and one class");
        goto error;
    }
    dims[0] = (npy_intp)n;
    dims[1] = PyArray_DIM(spm, 0);
    out = PyArray_SimpleNew(2, dims, NPY_FLOAT64);
    if (out == NULL) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_bootstrap_counts((const int64_t *)PyArray_DATA(counts), (int64_t)dims[1],
                                     (const int64_t *)PyArray_DATA(spm),
                                     (int64_t)PyArray_DIM(counts, 1), (int64_t)PyArray_DIM(counts, 2),
                                     metric, (int64_t)excluded, resample_images, resample_seeds,
                                     seed, (int64_t)n, num_threads,
                                     (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EINVAL) {
        PyErr_SetString(PyExc_ValueError, "counts must be non-negative (TP, FP, FN per image and class)");
        goto error;
    }
    if (status == MUSHIN_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError,
                        "counts too large: a resample's sums could overflow int64");
        goto error;
    }
    if (status != MUSHIN_OK) {
        mushin_glue_status_error(status, NULL, "bootstrap kernel");
        goto error;
    }
    Py_DECREF(counts);
    Py_DECREF(spm);
    return out;
error:
    Py_XDECREF(out);
    Py_XDECREF(counts);
    Py_XDECREF(spm);
    return NULL;
}

PyDoc_STRVAR(bootstrap_indices_doc,
"bootstrap_indices(seed, resample, num_images, seeds_per_method, resample_images, "
"resample_seeds)\n--\n\n"
"The indices bootstrap_counts draws for resample ``resample``: (images,\n"
"seeds), images an int64 array of num_images image indices (None without\n"
"resample_images) and seeds a list with one int64 array of seed indices\n"
"per method (None without resample_seeds).");

static PyObject *
py_bootstrap_indices(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seed", "resample", "num_images", "seeds_per_method",
                             "resample_images", "resample_seeds", NULL};
    PyObject *seed_obj, *spm_obj, *images = NULL, *seeds_list = NULL, *result;
    PyArrayObject *spm;
    long long resample, num_images;
    int resample_images, resample_seeds;
    uint64_t seed;
    int64_t total = 0, *seed_buf = NULL, at = 0;
    npy_intp k, dims[1];

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OLLOpp:bootstrap_indices", kwlist, &seed_obj,
                                     &resample, &num_images, &spm_obj, &resample_images,
                                     &resample_seeds)) {
        return NULL;
    }
    if (parse_seed(seed_obj, &seed) < 0) {
        return NULL;
    }
    if (resample < 0 || num_images < 1 || num_images > INT32_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "bootstrap_indices needs resample >= 0 and 1 <= num_images < 2**31, got "
                     "resample=%lld, num_images=%lld", resample, num_images);
        return NULL;
    }
    spm = seed_counts(spm_obj);
    if (spm == NULL) {
        return NULL;
    }
    for (k = 0; k < PyArray_DIM(spm, 0); k++) {
        total += ((const int64_t *)PyArray_DATA(spm))[k];
    }
    dims[0] = (npy_intp)num_images;
    images = PyArray_SimpleNew(1, dims, NPY_INT64);
    seed_buf = (int64_t *)malloc((size_t)total * sizeof(int64_t));
    if (images == NULL || seed_buf == NULL) {
        Py_XDECREF(images);
        free(seed_buf);
        Py_DECREF(spm);
        return PyErr_NoMemory();
    }
    mushin_bootstrap_draw(seed, (uint64_t)resample, (int64_t)num_images, PyArray_DIM(spm, 0),
                          (const int64_t *)PyArray_DATA(spm), resample_images, resample_seeds,
                          (int64_t *)PyArray_DATA((PyArrayObject *)images), seed_buf);
    if (!resample_images) {
        Py_SETREF(images, Py_NewRef(Py_None));
    }
    if (resample_seeds) {
        seeds_list = PyList_New(PyArray_DIM(spm, 0));
        for (k = 0; seeds_list != NULL && k < PyArray_DIM(spm, 0); k++) {
            npy_intp d[1] = {(npy_intp)((const int64_t *)PyArray_DATA(spm))[k]};
            PyObject *a = PyArray_SimpleNew(1, d, NPY_INT64);
            if (a == NULL) {
                Py_CLEAR(seeds_list);
                break;
            }
            memcpy(PyArray_DATA((PyArrayObject *)a), seed_buf + at, (size_t)d[0] * sizeof(int64_t));
            at += d[0];
            PyList_SET_ITEM(seeds_list, k, a);
        }
    }
    else {
        seeds_list = Py_NewRef(Py_None);
    }
    free(seed_buf);
    Py_DECREF(spm);
    if (seeds_list == NULL) {
        Py_DECREF(images);
        return NULL;
    }
    result = PyTuple_Pack(2, images, seeds_list);
    Py_DECREF(images);
    Py_DECREF(seeds_list);
    return result;
}

PyDoc_STRVAR(count_metric_doc,
"count_metric(counts, metric, excluded_class=-1, /)\n--\n\n"
"The metric of every (classes, 3) table of TP, FP, FN in `counts`\n"
"(..., classes, 3), as a float64 array of shape counts.shape[:-2], by the\n"
"rules the bootstrap recomputes with (csrc/kernels/perimage.h).\n"
"excluded_class: the class the Jaccard index leaves out, or -1.");

static PyObject *
py_count_metric(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj, *out;
    PyArrayObject *counts;
    const char *name;
    long long excluded = -1;
    mushin_count_metric metric;
    int64_t rows = 1, num_classes;
    int status, d, k;
    if (!PyArg_ParseTuple(args, "Os|L:count_metric", &obj, &name, &excluded)) {
        return NULL;
    }
    if (parse_metric(name, &metric) < 0) {
        return NULL;
    }
    counts = (PyArrayObject *)PyArray_FROMANY(obj, NPY_DOUBLE, 2, NPY_MAXDIMS,
                                              NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (counts == NULL) {
        return NULL;
    }
    d = PyArray_NDIM(counts);
    num_classes = PyArray_DIM(counts, d - 2);
    if (PyArray_DIM(counts, d - 1) != 3 || num_classes < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "count_metric: counts must have shape (..., classes, 3) with classes >= 1");
        Py_DECREF(counts);
        return NULL;
    }
    for (k = 0; k < d - 2; k++) {
        rows *= PyArray_DIM(counts, k);
    }
    out = PyArray_SimpleNew(d - 2, PyArray_DIMS(counts), NPY_DOUBLE);
    if (out == NULL) {
        Py_DECREF(counts);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_count_metric_rows((const double *)PyArray_DATA(counts), rows, num_classes,
                                      metric, (int64_t)excluded,
                                      (double *)PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    Py_DECREF(counts);
    if (status == MUSHIN_EBADVALUE) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError,
                        "count_metric: counts must be finite and not negative");
        return NULL;
    }
    if (status != MUSHIN_OK) {
        Py_DECREF(out);
        mushin_glue_status_error(status, NULL, "count_metric");
        return NULL;
    }
    return out;
}

static PyMethodDef bootstrap_functions[] = {
    {"bootstrap_counts", (PyCFunction)(void (*)(void))py_bootstrap_counts,
     METH_VARARGS | METH_KEYWORDS, bootstrap_counts_doc},
    {"bootstrap_indices", (PyCFunction)(void (*)(void))py_bootstrap_indices,
     METH_VARARGS | METH_KEYWORDS, bootstrap_indices_doc},
    {"count_metric", (PyCFunction)py_count_metric, METH_VARARGS, count_metric_doc},
    {NULL, NULL, 0, NULL},
};

int
mushin_bootstrap_add_functions(PyObject *module)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, bootstrap_functions);
}
