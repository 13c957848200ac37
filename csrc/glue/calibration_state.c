/*
 * calibration_state.c -- CalibrationBins as a CPython type: the expected
 * calibration error over fixed confidence bins, an O(n_bins) exact state
 * (csrc/kernels/scores.c).  Shared batch handling: score_common.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include "numpy_api.h"

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "portable_internal.h"
#include "scores.h"
#include "dlpack_consumer.h"
#include "glue_common.h"
#include "module_state.h"
#include "score_common.h"

typedef struct {
    PyObject_HEAD
    int64_t num_classes;
    int has_ignore;
    int64_t ignore_index;
    int64_t n_bins;
    float *boundaries;      /* n_bins + 1 */
    int64_t *count;             /* n_bins + 1 slots (confidence == 1 has its own) */
    uint64_t *confidence_fixed; /* (n_bins + 1) * MUSHIN_FIXED_LIMBS, exact (scores.h) */
    int64_t *correct;           /* n_bins + 1 */
    PyThread_type_lock lock;
} CalibrationBinsObject;

/* boundaries argument: n_bins + 1 float32 values rising strictly from 0 to 1. */
static PyArrayObject *
parse_boundaries(PyObject *obj)
{
    PyArrayObject *arr = (PyArrayObject *)PyArray_FROMANY(
        obj, NPY_FLOAT32, 1, 1, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    const float *b;
    npy_intp n, i;
    if (arr == NULL) {
        return NULL;
    }
    b = (const float *)PyArray_DATA(arr);
    n = PyArray_SIZE(arr);
    if (n < 2 || n > (1 << 20) + 1 || b[0] != 0.0f || b[n - 1] != 1.0f) {
        PyErr_Format(PyExc_ValueError,
                     "boundaries must hold 2 to 1048577 values from 0 to 1, e.g. "
                     "torch.linspace(0, 1, n_bins + 1); got %zd values", (Py_ssize_t)n);
        goto error;
    }
    for (i = 1; i < n; i++) {
        if (!(b[i] > b[i - 1])) {
            PyErr_Format(PyExc_ValueError,
                         "boundaries must rise strictly, but boundaries[%zd] does not "
                         "exceed boundaries[%zd]", (Py_ssize_t)i, (Py_ssize_t)(i - 1));
            goto error;
        }
    }
    return arr;
error:
    Py_DECREF(arr);
    return NULL;
}

static PyObject *
CalibrationBins_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"num_classes", "ignore_index", "n_bins", "boundaries", NULL};
    long long num_classes, n_bins = 15;
    PyObject *ignore = Py_None, *n_bins_obj = Py_None, *boundaries_obj = Py_None;
    PyArrayObject *boundaries = NULL;
    CalibrationBinsObject *self = NULL;
    int has_ignore;
    int64_t ignore_index;
    size_t slots;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|OOO:CalibrationBins", kwlist,
                                     &num_classes, &ignore, &n_bins_obj, &boundaries_obj)) {
        return NULL;
    }
    if (mushin_parse_num_classes(NULL, num_classes) < 0 ||
        mushin_parse_ignore_index(ignore, &has_ignore, &ignore_index) < 0) {
        return NULL;
    }
    if (n_bins_obj != Py_None) {
        if (!PyLong_Check(n_bins_obj) || PyBool_Check(n_bins_obj)) {
            PyErr_Format(PyExc_TypeError, "n_bins must be an int, got %.200s",
                         Py_TYPE(n_bins_obj)->tp_name);
            return NULL;
        }
        n_bins = PyLong_AsLongLong(n_bins_obj);
        if (n_bins == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (n_bins < 1 || n_bins > (1LL << 20)) {
            PyErr_Format(PyExc_ValueError, "n_bins must be between 1 and 1048576, got %lld",
                         n_bins);
            return NULL;
        }
    }
    if (boundaries_obj != Py_None) {
        boundaries = parse_boundaries(boundaries_obj);
        if (boundaries == NULL) {
            return NULL;
        }
        if (n_bins_obj != Py_None && PyArray_SIZE(boundaries) != n_bins + 1) {
            PyErr_Format(PyExc_ValueError,
                         "n_bins=%lld needs %lld boundaries, got %zd", n_bins, n_bins + 1,
                         (Py_ssize_t)PyArray_SIZE(boundaries));
            goto error;
        }
        n_bins = (long long)PyArray_SIZE(boundaries) - 1;
    }
    self = (CalibrationBinsObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        goto error;
    }
    self->num_classes = num_classes;
    self->has_ignore = has_ignore;
    self->ignore_index = ignore_index;
    self->n_bins = n_bins;
    slots = (size_t)n_bins + 1;
    self->boundaries = (float *)malloc(slots * sizeof(float));
    self->count = (int64_t *)calloc(slots, sizeof(int64_t));
    self->confidence_fixed = (uint64_t *)calloc(slots * MUSHIN_FIXED_LIMBS, sizeof(uint64_t));
    self->correct = (int64_t *)calloc(slots, sizeof(int64_t));
    if (self->boundaries == NULL || self->count == NULL || self->confidence_fixed == NULL ||
        self->correct == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    if (boundaries != NULL) {
        memcpy(self->boundaries, PyArray_DATA(boundaries), slots * sizeof(float));
        Py_DECREF(boundaries);
    }
    else {
        mushin_calibration_boundaries(n_bins, self->boundaries);
    }
    return mushin_glue_with_lock((PyObject *)self, &self->lock);
error:
    Py_XDECREF(boundaries);
    Py_XDECREF(self);
    return NULL;
}

static void
CalibrationBins_dealloc(CalibrationBinsObject *self)
{
    free(self->boundaries);
    free(self->count);
    free(self->confidence_fixed);
    free(self->correct);
    mushin_glue_dealloc((PyObject *)self, self->lock);
}

PyDoc_STRVAR(CalibrationBins_update_doc,
"update(probs, target, /)\n--\n\n"
"Add one batch: ``probs`` is ``(N, num_classes)`` floating-point, ``target``\n"
"``(N,)`` integer, both DLPack producers in CPU memory (strides honoured).\n"
"Rows whose target equals ``ignore_index`` are dropped.  A label outside\n"
"``[0, num_classes)`` or a probability outside ``[0, 1]`` (or NaN) raises\n"
"``ValueError`` and leaves the bins as they were.  Runs without the GIL.");

static PyObject *
CalibrationBins_update(CalibrationBinsObject *self, PyObject *const *args,
                       Py_ssize_t nargs)
{
    mushin_score_batch b;
    mushin_score_check check;
    int status;
    if (mushin_score_batch_acquire((PyObject *)self, args, nargs, "CalibrationBins", self->num_classes, &b) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_scores_check(b.rows, self->num_classes, self->has_ignore,
                                 self->ignore_index, b.probs, b.labels, &check);
    if (status == MUSHIN_OK) {
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        status = mushin_calibration_update(b.rows, self->num_classes, self->has_ignore,
                                           self->ignore_index, b.probs, b.labels,
                                           self->boundaries, self->n_bins, self->count,
                                           self->confidence_fixed, self->correct);
        PyThread_release_lock(self->lock);
    }
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        mushin_score_check_error("CalibrationBins.update", self->num_classes, self->has_ignore,
                          self->ignore_index, &check);
        goto error;
    }
    if (status != MUSHIN_OK) {
        mushin_glue_status_error(status, NULL, "calibration kernel");
        goto error;
    }
    mushin_score_batch_release(&b);
    Py_RETURN_NONE;
error:
    mushin_score_batch_release(&b);
    return NULL;
}

PyDoc_STRVAR(CalibrationBins_compute_doc,
"compute()\n--\n\n"
"The expected calibration error (L1 norm) of everything seen so far: the\n"
"row-weighted mean over bins of |accuracy - mean confidence|.  NaN before\n"
"any row was added.");

static PyObject *
CalibrationBins_compute(CalibrationBinsObject *self, PyObject *Py_UNUSED(ignored))
{
    double ece;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    ece = mushin_calibration_error_l1(self->n_bins + 1, self->count, self->confidence_fixed,
                                      self->correct);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(ece);
}

static PyObject *
CalibrationBins_reset(CalibrationBinsObject *self, PyObject *Py_UNUSED(ignored))
{
    const size_t slots = (size_t)self->n_bins + 1;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    memset(self->count, 0, slots * sizeof(int64_t));
    memset(self->confidence_fixed, 0, slots * MUSHIN_FIXED_LIMBS * sizeof(uint64_t));
    memset(self->correct, 0, slots * sizeof(int64_t));
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
CalibrationBins_deepcopy(CalibrationBinsObject *self, PyObject *Py_UNUSED(memo))
{
    const size_t slots = (size_t)self->n_bins + 1;
    PyObject *ignore = NULL;
    CalibrationBinsObject *copy = NULL;
    ignore = mushin_ignore_index_object(self->has_ignore, self->ignore_index);
    if (ignore == NULL) {
        return NULL;
    }
    copy = (CalibrationBinsObject *)PyObject_CallFunction(
        (PyObject *)Py_TYPE(self), "LOL", (long long)self->num_classes, ignore,
        (long long)self->n_bins);
    Py_DECREF(ignore);
    if (copy == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    memcpy(copy->boundaries, self->boundaries, slots * sizeof(float));
    memcpy(copy->count, self->count, slots * sizeof(int64_t));
    memcpy(copy->confidence_fixed, self->confidence_fixed,
           slots * MUSHIN_FIXED_LIMBS * sizeof(uint64_t));
    memcpy(copy->correct, self->correct, slots * sizeof(int64_t));
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    return (PyObject *)copy;
}

/* A fresh 1-d NumPy copy of `n` elements of `src` taken under `lock`. */
static PyObject *
locked_vector_copy(PyThread_type_lock lock, const void *src, npy_intp n, int typenum)
{
    PyObject *out = PyArray_SimpleNew(1, &n, typenum);
    if (out != NULL) {
        mushin_glue_locked_copy(lock, PyArray_DATA((PyArrayObject *)out), src,
                                (size_t)n * (size_t)PyArray_ITEMSIZE((PyArrayObject *)out));
    }
    return out;
}

static PyObject *
CalibrationBins_get_counts(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    return locked_vector_copy(self->lock, self->count, (npy_intp)self->n_bins + 1, NPY_INT64);
}

static PyObject *
CalibrationBins_get_confidence_sums(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    const npy_intp slots = (npy_intp)self->n_bins + 1;
    PyObject *out = PyArray_SimpleNew(1, (npy_intp *)&slots, NPY_DOUBLE);
    double *dst;
    npy_intp b;
    if (out == NULL) {
        return NULL;
    }
    dst = (double *)PyArray_DATA((PyArrayObject *)out);
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    for (b = 0; b < slots; b++) {
        dst[b] = mushin_fixed_to_double(self->confidence_fixed + b * MUSHIN_FIXED_LIMBS);
    }
    PyThread_release_lock(self->lock);
    return out;
}

static PyObject *
CalibrationBins_get_confidence_fixed(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    npy_intp dims[2];
    PyObject *out;
    dims[0] = (npy_intp)self->n_bins + 1;
    dims[1] = MUSHIN_FIXED_LIMBS;
    out = PyArray_SimpleNew(2, dims, NPY_UINT64);
    if (out == NULL) {
        return NULL;
    }
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    memcpy(PyArray_DATA((PyArrayObject *)out), self->confidence_fixed,
           (size_t)dims[0] * MUSHIN_FIXED_LIMBS * sizeof(uint64_t));
    PyThread_release_lock(self->lock);
    return out;
}

static PyObject *
CalibrationBins_get_accuracy_sums(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    return locked_vector_copy(self->lock, self->correct, (npy_intp)self->n_bins + 1,
                              NPY_INT64);
}

static PyObject *
CalibrationBins_get_boundaries(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    return locked_vector_copy(self->lock, self->boundaries, (npy_intp)self->n_bins + 1,
                              NPY_FLOAT32);
}

static PyObject *
CalibrationBins_get_num_samples(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    int64_t total = 0, b;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    for (b = 0; b <= self->n_bins; b++) {
        total += self->count[b];
    }
    PyThread_release_lock(self->lock);
    return PyLong_FromLongLong(total);
}

static PyObject *
CalibrationBins_get_num_classes(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->num_classes);
}

static PyObject *
CalibrationBins_get_n_bins(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->n_bins);
}

static PyObject *
CalibrationBins_get_ignore_index(CalibrationBinsObject *self, void *Py_UNUSED(closure))
{
    return mushin_ignore_index_object(self->has_ignore, self->ignore_index);
}

static PyObject *
CalibrationBins_repr(CalibrationBinsObject *self)
{
    if (self->has_ignore) {
        return PyUnicode_FromFormat("CalibrationBins(num_classes=%lld, ignore_index=%lld, "
                                    "n_bins=%lld)", (long long)self->num_classes,
                                    (long long)self->ignore_index, (long long)self->n_bins);
    }
    return PyUnicode_FromFormat("CalibrationBins(num_classes=%lld, n_bins=%lld)",
                                (long long)self->num_classes, (long long)self->n_bins);
}

/* merge(): adding another process's bins (torch.distributed evaluation).
 * The state of two accumulators over disjoint rows sums to the state over
 * their union, and every part of it is an integer, so merging is exact and
 * its order never matters. */

PyDoc_STRVAR(CalibrationBins_merge_doc,
"merge(counts, confidence_fixed, accuracy_sums, /)\n--\n\n"
"Add the bins of another accumulator with the same boundaries, given as\n"
"its ``counts`` (int64), ``confidence_fixed`` (uint64, exact sums) and\n"
"``accuracy_sums`` (int64), e.g. gathered from the other processes of a\n"
"distributed evaluation.  The state is integer, so merging is exact and\n"
"does not depend on order.  Each array must hold integers (no floats),\n"
"counts must be non-negative, every slot's correct count lie in\n"
"``[0, count]`` and its confidence sum be at most ``count``, and the sums\n"
"must not overflow; otherwise ``TypeError``/``ValueError`` and nothing\n"
"changes.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import CalibrationBins\n"
">>> a, b = CalibrationBins(2, n_bins=2), CalibrationBins(2, n_bins=2)\n"
">>> a.update(np.array([[0.75, 0.25]], dtype=np.float32), np.array([0]))\n"
">>> b.update(np.array([[0.5, 0.5]], dtype=np.float32), np.array([1]))\n"
">>> a.merge(b.counts, b.confidence_fixed, b.accuracy_sums)\n"
">>> a.counts.tolist(), a.compute()\n"
"([0, 2, 0], 0.125)\n");

/*
 * Check the arrays of another CalibrationBins state (the same rules for
 * merge and load_state_dict) and add them to the bins, or with `replace`
 * put them in the bins' place.  Returns 0, or -1 with an error; on error
 * nothing changes.  `method` prefixes the messages ("merge()").
 */
static int
calibration_take_arrays(CalibrationBinsObject *self, PyObject *counts_obj,
                        PyObject *confidence_obj, PyObject *accuracy_obj, int replace,
                        const char *method)
{
    PyArrayObject *counts = NULL, *confidence = NULL, *accuracy = NULL;
    const npy_intp slots = (npy_intp)self->n_bins + 1;
    const int64_t *n, *acc;
    const uint64_t *conf;
    int64_t total = 0, merged_total = 0;
    npy_intp b;
    int overflow = 0;

    counts = (PyArrayObject *)mushin_score_exact_integer_array(counts_obj, NPY_INT64, 1, "counts");
    if (counts == NULL) {
        goto error;
    }
    confidence = (PyArrayObject *)mushin_score_exact_integer_array(confidence_obj, NPY_UINT64, 2, "confidence_fixed");
    if (confidence == NULL) {
        goto error;
    }
    accuracy = (PyArrayObject *)mushin_score_exact_integer_array(accuracy_obj, NPY_INT64, 1, "accuracy_sums");
    if (accuracy == NULL) {
        goto error;
    }
    if (PyArray_DIM(counts, 0) != slots || PyArray_DIM(confidence, 0) != slots ||
        PyArray_DIM(confidence, 1) != MUSHIN_FIXED_LIMBS || PyArray_DIM(accuracy, 0) != slots) {
        PyErr_Format(PyExc_ValueError,
                     "%s needs counts (%zd,), confidence_fixed (%zd, %d) and "
                     "accuracy_sums (%zd,) for n_bins + 1 = %zd slots, got (%zd,), (%zd, %zd) "
                     "and (%zd,)", method, (Py_ssize_t)slots, (Py_ssize_t)slots, MUSHIN_FIXED_LIMBS,
                     (Py_ssize_t)slots, (Py_ssize_t)slots, (Py_ssize_t)PyArray_DIM(counts, 0),
                     (Py_ssize_t)PyArray_DIM(confidence, 0),
                     (Py_ssize_t)PyArray_DIM(confidence, 1), (Py_ssize_t)PyArray_DIM(accuracy, 0));
        goto error;
    }
    n = (const int64_t *)PyArray_DATA(counts);
    conf = (const uint64_t *)PyArray_DATA(confidence);
    acc = (const int64_t *)PyArray_DATA(accuracy);
    for (b = 0; b < slots; b++) {
        uint64_t most[MUSHIN_FIXED_LIMBS] = {0};
        if (n[b] < 0 || acc[b] < 0 || acc[b] > n[b]) {
            PyErr_Format(PyExc_ValueError,
                         "%s: slot %zd holds count %lld and accuracy sum %lld; counts "
                         "must be non-negative and each accuracy sum in [0, count]",
                         method, (Py_ssize_t)b, (long long)n[b], (long long)acc[b]);
            goto error;
        }
        /* every confidence is at most 1, i.e. 2^149 units */
        most[MUSHIN_FIXED_FRAC_BITS / 64] = (uint64_t)n[b] << (MUSHIN_FIXED_FRAC_BITS % 64);
        most[MUSHIN_FIXED_FRAC_BITS / 64 + 1] = (uint64_t)n[b] >> (64 - MUSHIN_FIXED_FRAC_BITS % 64);
        if (mushin_fixed_cmp(conf + b * MUSHIN_FIXED_LIMBS, most) > 0) {
            PyErr_Format(PyExc_ValueError,
                         "%s: slot %zd holds a confidence sum above its count %lld; each "
                         "confidence is at most 1, so confidence_fixed is not a CalibrationBins "
                         "state", method, (Py_ssize_t)b, (long long)n[b]);
            goto error;
        }
    }
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    for (b = 0; b < slots && !overflow; b++) {
        int64_t slot_sum;
        const int64_t here = replace ? 0 : self->count[b];
        overflow = mushin_add_overflow_i64(here, n[b], &slot_sum) ||
                   mushin_add_overflow_i64(total, here, &total) ||
                   mushin_add_overflow_i64(merged_total, slot_sum, &merged_total);
    }
    if (!overflow) {
        if (replace) {
            memset(self->count, 0, (size_t)slots * sizeof(int64_t));
            memset(self->correct, 0, (size_t)slots * sizeof(int64_t));
            memset(self->confidence_fixed, 0,
                   (size_t)slots * MUSHIN_FIXED_LIMBS * sizeof(uint64_t));
        }
        for (b = 0; b < slots; b++) {
            self->count[b] += n[b];
            self->correct[b] += acc[b];
            (void)mushin_fixed_add(self->confidence_fixed + b * MUSHIN_FIXED_LIMBS,
                                   conf + b * MUSHIN_FIXED_LIMBS);
        }
    }
    PyThread_release_lock(self->lock);
    if (overflow) {
        PyErr_Format(PyExc_ValueError,
                     "%s: counts: the %s counts would overflow int64; nothing was %s", method,
                     replace ? "loaded" : "merged", replace ? "loaded" : "added");
        goto error;
    }
    Py_DECREF(counts);
    Py_DECREF(confidence);
    Py_DECREF(accuracy);
    return 0;
error:
    Py_XDECREF(counts);
    Py_XDECREF(confidence);
    Py_XDECREF(accuracy);
    return -1;
}

static PyObject *
CalibrationBins_merge(CalibrationBinsObject *self, PyObject *args)
{
    PyObject *counts_obj, *confidence_obj, *accuracy_obj;
    if (!PyArg_ParseTuple(args, "OOO:merge", &counts_obj, &confidence_obj, &accuracy_obj)) {
        return NULL;
    }
    if (calibration_take_arrays(self, counts_obj, confidence_obj, accuracy_obj, 0,
                                "merge()") < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(CalibrationBins_state_dict_doc,
"state_dict()\n--\n\n"
"The exact state as a dict: ``boundaries`` (float32), ``counts`` (int64),\n"
"``confidence_fixed`` (uint64, exact sums) and ``accuracy_sums`` (int64),\n"
"one entry per slot.  ``load_state_dict`` takes it back.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import CalibrationBins\n"
">>> a = CalibrationBins(2, n_bins=2)\n"
">>> a.update(np.array([[0.75, 0.25]], dtype=np.float32), np.array([0]))\n"
">>> a.state_dict()['counts'].tolist()\n"
"[0, 1, 0]\n");

static PyObject *
CalibrationBins_state_dict(CalibrationBinsObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *boundaries = NULL, *counts = NULL, *confidence = NULL, *accuracy = NULL;
    PyObject *out = NULL;
    const npy_intp slots = (npy_intp)self->n_bins + 1;
    npy_intp dims[2] = {slots, MUSHIN_FIXED_LIMBS};
    boundaries = CalibrationBins_get_boundaries(self, NULL);
    counts = PyArray_SimpleNew(1, dims, NPY_INT64);
    confidence = PyArray_SimpleNew(2, dims, NPY_UINT64);
    accuracy = PyArray_SimpleNew(1, dims, NPY_INT64);
    if (boundaries == NULL || counts == NULL || confidence == NULL || accuracy == NULL) {
        goto done;
    }
    /* the three sums are copied under one lock, so they belong to one state */
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    memcpy(PyArray_DATA((PyArrayObject *)counts), self->count, (size_t)slots * sizeof(int64_t));
    memcpy(PyArray_DATA((PyArrayObject *)confidence), self->confidence_fixed,
           (size_t)slots * MUSHIN_FIXED_LIMBS * sizeof(uint64_t));
    memcpy(PyArray_DATA((PyArrayObject *)accuracy), self->correct,
           (size_t)slots * sizeof(int64_t));
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    out = Py_BuildValue("{s:O,s:O,s:O,s:O}", "boundaries", boundaries, "counts", counts,
                        "confidence_fixed", confidence, "accuracy_sums", accuracy);
done:
    Py_XDECREF(boundaries);
    Py_XDECREF(counts);
    Py_XDECREF(confidence);
    Py_XDECREF(accuracy);
    return out;
}

PyDoc_STRVAR(CalibrationBins_load_state_dict_doc,
"load_state_dict(state, /)\n--\n\n"
"Replace the bins by those of ``state`` (what ``state_dict()`` returned).\n"
"The boundaries must equal this object's bit for bit, and the sums pass\n"
"the checks of ``merge``; on any error nothing changes.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import CalibrationBins\n"
">>> a, b = CalibrationBins(2, n_bins=2), CalibrationBins(2, n_bins=2)\n"
">>> a.update(np.array([[0.75, 0.25]], dtype=np.float32), np.array([0]))\n"
">>> b.load_state_dict(a.state_dict())\n"
">>> b.compute() == a.compute()\n"
"True\n");

static PyObject *
CalibrationBins_load_state_dict(CalibrationBinsObject *self, PyObject *d)
{
    static const char *const keys[] = {"boundaries", "counts", "confidence_fixed",
                                       "accuracy_sums"};
    const char *method = "CalibrationBins.load_state_dict";
    PyArrayObject *given;
    int i, same;
    if (mushin_require_state_dict(d, method) < 0) {
        return NULL;
    }
    for (i = 0; i < 4; i++) {
        if (PyDict_GetItemString(d, keys[i]) == NULL) {
            PyErr_Format(PyExc_ValueError,
                         "%s: the state dict has no '%s' entry; pass what state_dict() returned",
                         method, keys[i]);
            return NULL;
        }
    }
    given = (PyArrayObject *)PyArray_FROMANY(PyDict_GetItemString(d, "boundaries"), NPY_FLOAT32,
                                             1, 1, NPY_ARRAY_IN_ARRAY);
    if (given == NULL) {
        return NULL;
    }
    same = PyArray_DIM(given, 0) == (npy_intp)self->n_bins + 1 &&
           memcmp(PyArray_DATA(given), self->boundaries,
                  (size_t)(self->n_bins + 1) * sizeof(float)) == 0;
    Py_DECREF(given);
    if (!same) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the state's boundaries differ from this object's %lld bins; build "
                     "the CalibrationBins with the same n_bins or boundaries", method,
                     (long long)self->n_bins);
        return NULL;
    }
    if (calibration_take_arrays(self, PyDict_GetItemString(d, "counts"),
                                PyDict_GetItemString(d, "confidence_fixed"),
                                PyDict_GetItemString(d, "accuracy_sums"), 1, method) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef CalibrationBins_methods[] = {
    {"update", (PyCFunction)(void (*)(void))CalibrationBins_update, METH_FASTCALL,
     CalibrationBins_update_doc},
    {"compute", (PyCFunction)CalibrationBins_compute, METH_NOARGS, CalibrationBins_compute_doc},
    {"reset", (PyCFunction)CalibrationBins_reset, METH_NOARGS,
     "reset()\n--\n\nEmpty every bin."},
    {"__deepcopy__", (PyCFunction)CalibrationBins_deepcopy, METH_O,
     "__deepcopy__(memo, /)\n--\n\nAn independent copy, bins included."},
    {"state_dict", (PyCFunction)CalibrationBins_state_dict, METH_NOARGS,
     CalibrationBins_state_dict_doc},
    {"load_state_dict", (PyCFunction)CalibrationBins_load_state_dict, METH_O,
     CalibrationBins_load_state_dict_doc},
    {"merge", (PyCFunction)CalibrationBins_merge, METH_VARARGS, CalibrationBins_merge_doc},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef CalibrationBins_getset[] = {
    {"counts", (getter)CalibrationBins_get_counts, NULL,
     "Rows per slot, int64 (n_bins + 1,); the last slot holds confidence == 1.", NULL},
    {"confidence_sums", (getter)CalibrationBins_get_confidence_sums, NULL,
     "Sum of float32 confidences per slot, float64 (n_bins + 1,), correctly rounded\n"
     "from the exact sum held in ``confidence_fixed``.", NULL},
    {"confidence_fixed", (getter)CalibrationBins_get_confidence_fixed, NULL,
     "The exact confidence sums, uint64 (n_bins + 1, 4): per slot an integer in\n"
     "units of 2**-149, four 64-bit limbs, least significant first.  This is the\n"
     "state merge() takes.", NULL},
    {"accuracy_sums", (getter)CalibrationBins_get_accuracy_sums, NULL,
     "Correct top-1 predictions per slot, int64 (n_bins + 1,).", NULL},
    {"boundaries", (getter)CalibrationBins_get_boundaries, NULL,
     "Bin boundaries, float32 (n_bins + 1,), equal to torch.linspace(0, 1, n_bins + 1).",
     NULL},
    {"num_samples", (getter)CalibrationBins_get_num_samples, NULL,
     "Rows added (ignored rows excluded).", NULL},
    {"num_classes", (getter)CalibrationBins_get_num_classes, NULL, "Number of classes.", NULL},
    {"n_bins", (getter)CalibrationBins_get_n_bins, NULL, "Number of confidence bins.", NULL},
    {"ignore_index", (getter)CalibrationBins_get_ignore_index, NULL,
     "The ignored target value, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

PyDoc_STRVAR(CalibrationBins_doc,
"CalibrationBins(num_classes, ignore_index=None, n_bins=None, boundaries=None)\n--\n\n"
"Streaming expected calibration error, equal to torchmetrics'\n"
"``MulticlassCalibrationError(num_classes, n_bins, norm=\"l1\", ignore_index)``.\n\n"
"Each row's confidence is its largest probability (as float32), its\n"
"prediction the first class holding it; rows are binned as\n"
"``torch.bucketize(confidence, boundaries, right=True) - 1`` does, so a\n"
"confidence of exactly 1 gets a slot of its own.  ``boundaries`` (float32,\n"
"strictly rising from 0 to 1) default to ``n_bins`` (15) equal bins,\n"
"``i / n_bins`` rounded to float32; torch.linspace may round a boundary\n"
"one ulp differently, so pass ``torch.linspace(0, 1, n_bins + 1)`` to bin\n"
"bit-identically with torchmetrics.\n"
"State: three arrays of ``n_bins + 1``.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import CalibrationBins\n"
">>> bins = CalibrationBins(3, n_bins=3)\n"
">>> bins.update(np.array([[0.25, 0.20, 0.55], [0.55, 0.05, 0.40],\n"
"...                       [0.10, 0.30, 0.60], [0.90, 0.05, 0.05]], dtype=np.float32),\n"
"...              np.array([0, 1, 2, 0]))\n"
">>> round(bins.compute(), 4)\n"
"0.2\n");

static PyType_Slot CalibrationBins_slots[] = {
    {Py_tp_new, CalibrationBins_new},
    {Py_tp_dealloc, CalibrationBins_dealloc},
    {Py_tp_methods, CalibrationBins_methods},
    {Py_tp_getset, CalibrationBins_getset},
    {Py_tp_repr, CalibrationBins_repr},
    {Py_tp_doc, (void *)CalibrationBins_doc},
    {0, NULL}
};

static PyType_Spec CalibrationBins_spec = {
    .name = "mushin._core.CalibrationBins",
    .basicsize = sizeof(CalibrationBinsObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = CalibrationBins_slots,
};

int
mushin_calibration_add_type(PyObject *module, mushin_module_state *st)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return mushin_glue_add_type(module, &CalibrationBins_spec, &st->calibration_type);
}
