/*
 * roc_state.c -- RocScores as a CPython type: exact one-vs-rest AUROC from
 * every kept score (csrc/kernels/scores.c).  Shared batch handling:
 * score_common.c.
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
    mushin_score_store store;
    PyThread_type_lock lock;
} RocScoresObject;

static PyObject *
RocScores_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"num_classes", "ignore_index", NULL};
    long long num_classes;
    PyObject *ignore = Py_None;
    RocScoresObject *self;
    int has_ignore;
    int64_t ignore_index;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|O:RocScores", kwlist, &num_classes,
                                     &ignore)) {
        return NULL;
    }
    if (mushin_parse_num_classes(NULL, num_classes) < 0 ||
        mushin_parse_ignore_index(ignore, &has_ignore, &ignore_index) < 0) {
        return NULL;
    }
    self = (RocScoresObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->num_classes = num_classes;
    self->has_ignore = has_ignore;
    self->ignore_index = ignore_index;
    mushin_score_store_init(&self->store, num_classes);
    return mushin_glue_with_lock((PyObject *)self, &self->lock);
}

static void
RocScores_dealloc(RocScoresObject *self)
{
    mushin_score_store_clear(&self->store);
    mushin_glue_dealloc((PyObject *)self, self->lock);
}

/* Keep a checked batch of `rows` rows, `kept` of them not ignored: widen
 * the store for float64 input, make room, append.  No GIL needed. */
static int
store_batch(mushin_score_store *store, int64_t rows, int64_t kept, int has_ignore,
            int64_t ignore_index, mushin_prob_view probs, mushin_label_view labels)
{
    int status = MUSHIN_OK;
    if (probs.type == MUSHIN_FLOAT64 && kept > 0) {
        status = mushin_score_store_widen(store);
    }
    if (status == MUSHIN_OK) {
        status = mushin_score_store_reserve(store, kept);
    }
    if (status == MUSHIN_OK) {
        status = mushin_score_store_append(store, rows, has_ignore, ignore_index, probs, labels);
    }
    return status;
}

PyDoc_STRVAR(RocScores_update_doc,
"update(probs, target, /)\n--\n\n"
"Keep one batch: ``probs`` is ``(N, num_classes)`` floating-point, ``target``\n"
"``(N,)`` integer, both DLPack producers in CPU memory (strides honoured).\n"
"Rows whose target equals ``ignore_index`` are dropped.  A label outside\n"
"``[0, num_classes)`` or a probability outside ``[0, 1]`` (or NaN) raises\n"
"``ValueError`` and keeps nothing of the batch.  Runs without the GIL.");

static PyObject *
RocScores_update(RocScoresObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    mushin_score_batch b;
    mushin_score_check check;
    int status;
    if (mushin_score_batch_acquire((PyObject *)self, args, nargs, "RocScores", self->num_classes, &b) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_scores_check(b.rows, self->num_classes, self->has_ignore,
                                 self->ignore_index, b.probs, b.labels, &check);
    if (status == MUSHIN_OK) {
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        status = store_batch(&self->store, b.rows, check.kept, self->has_ignore,
                             self->ignore_index, b.probs, b.labels);
        PyThread_release_lock(self->lock);
    }
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        mushin_score_check_error("RocScores.update", self->num_classes, self->has_ignore,
                          self->ignore_index, &check);
        goto error;
    }
    if (status == MUSHIN_ENOMEM) {
        PyErr_Format(PyExc_MemoryError,
                     "RocScores.update: no memory to keep %lld more rows of %lld scores",
                     (long long)check.kept, (long long)self->num_classes);
        goto error;
    }
    if (status != MUSHIN_OK) {
        mushin_glue_status_error(status, NULL, "score store");
        goto error;
    }
    mushin_score_batch_release(&b);
    Py_RETURN_NONE;
error:
    mushin_score_batch_release(&b);
    return NULL;
}

/* AUROC of every class into a new (C,) array; *macro gets their mean. */
static PyObject *
roc_scores_auroc(RocScoresObject *self, double *macro)
{
    npy_intp n = (npy_intp)self->num_classes;
    PyObject *per_class = PyArray_SimpleNew(1, &n, NPY_DOUBLE);
    double *dst;
    int status;
    if (per_class == NULL) {
        return NULL;
    }
    dst = (double *)PyArray_DATA((PyArrayObject *)per_class);
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    status = mushin_auroc(&self->store, dst, macro);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_ENOMEM) {
        PyErr_Format(PyExc_MemoryError, "RocScores: no memory to rank %lld rows",
                     (long long)self->store.rows);
        goto error;
    }
    if (status != MUSHIN_OK) {
        mushin_glue_status_error(status, NULL, "AUROC kernel");
        goto error;
    }
    return per_class;
error:
    Py_DECREF(per_class);
    return NULL;
}

PyDoc_STRVAR(RocScores_compute_doc,
"compute()\n--\n\n"
"Macro one-vs-rest AUROC over every class; NaN before any row was kept.");

static PyObject *
RocScores_compute(RocScoresObject *self, PyObject *Py_UNUSED(ignored))
{
    double macro;
    PyObject *per_class = roc_scores_auroc(self, &macro);
    if (per_class == NULL) {
        return NULL;
    }
    Py_DECREF(per_class);
    return PyFloat_FromDouble(macro);
}

PyDoc_STRVAR(RocScores_per_class_doc,
"per_class()\n--\n\n"
"One-vs-rest AUROC of every class, float64 (num_classes,); 0 for a class\n"
"without positives or without negatives.");

static PyObject *
RocScores_per_class(RocScoresObject *self, PyObject *Py_UNUSED(ignored))
{
    double macro;
    return roc_scores_auroc(self, &macro);
}

static PyObject *
RocScores_reset(RocScoresObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mushin_score_store_clear(&self->store);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
RocScores_deepcopy(RocScoresObject *self, PyObject *Py_UNUSED(memo))
{
    PyObject *ignore;
    RocScoresObject *copy;
    int status;
    ignore = mushin_ignore_index_object(self->has_ignore, self->ignore_index);
    if (ignore == NULL) {
        return NULL;
    }
    copy = (RocScoresObject *)PyObject_CallFunction((PyObject *)Py_TYPE(self), "LO",
                                                    (long long)self->num_classes, ignore);
    Py_DECREF(ignore);
    if (copy == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    status = mushin_score_store_copy(&copy->store, &self->store);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        Py_DECREF(copy);
        return PyErr_NoMemory();
    }
    return (PyObject *)copy;
}

/* --------------------------------------------- RocScores: state protocol -- */

PyDoc_STRVAR(RocScores_state_dict_doc,
"state_dict()\n--\n\n"
"The kept rows as a dict: ``num_classes`` (int), ``scores`` (``(N,\n"
"num_classes)`` float32, or float64 once float64 input was kept) and\n"
"``labels`` (``(N,)`` int32), in the order they were kept.  Exact: loading\n"
"or merging it gives the same AUROC bit for bit.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import RocScores\n"
">>> a = RocScores(2)\n"
">>> a.update(np.array([[0.75, 0.25], [0.5, 0.5]], dtype=np.float32), np.array([0, 1]))\n"
">>> d = a.state_dict()\n"
">>> d['scores'].shape, d['labels'].tolist()\n"
"((2, 2), [0, 1])\n");

static PyObject *
RocScores_state_dict(RocScoresObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *scores = NULL, *labels = NULL, *out = NULL;
    npy_intp dims[2];
    int wide;
    /* rows and width can change between sizing and copying only under the
     * lock, so size, allocate (needs the GIL) and copy in a retry loop */
    for (;;) {
        mushin_glue_lock(self->lock);
        dims[0] = (npy_intp)self->store.rows;
        wide = self->store.wide;
        PyThread_release_lock(self->lock);
        dims[1] = (npy_intp)self->num_classes;
        scores = PyArray_SimpleNew(2, dims, wide ? NPY_DOUBLE : NPY_FLOAT);
        labels = PyArray_SimpleNew(1, dims, NPY_INT32);
        if (scores == NULL || labels == NULL) {
            goto error;
        }
        mushin_glue_lock(self->lock);
        if ((npy_intp)self->store.rows == dims[0] && self->store.wide == wide) {
            mushin_score_store_export(&self->store, PyArray_DATA((PyArrayObject *)scores),
                                      (int32_t *)PyArray_DATA((PyArrayObject *)labels));
            PyThread_release_lock(self->lock);
            break;
        }
        PyThread_release_lock(self->lock);
        Py_CLEAR(scores);
        Py_CLEAR(labels);
    }
    out = Py_BuildValue("{s:L,s:O,s:O}", "num_classes", (long long)self->num_classes,
                        "scores", scores, "labels", labels);
error:
    Py_XDECREF(scores);
    Py_XDECREF(labels);
    return out;
}

/*
 * Read a RocScores state dict into a new store (all or nothing): the
 * num_classes must match, scores must be a (N, C) float32 or float64 array
 * of values in [0, 1] and labels (N,) integers in [0, C).  `base`, if not
 * NULL, is copied first, so the result is base's rows followed by d's.
 * Returns 0, or -1 with an error naming `method`.
 */
static int
roc_store_from_state(RocScoresObject *self, PyObject *d, const mushin_score_store *base,
                     const char *method, mushin_score_store *out)
{
    static const char *const keys[] = {"scores", "labels", NULL};
    PyArrayObject *scores = NULL, *labels = NULL;
    mushin_prob_view pv;
    mushin_label_view lv;
    mushin_score_check check;
    int status = MUSHIN_OK, rc = -1, type;
    int64_t rows;

    mushin_score_store_init(out, self->num_classes);
    if (mushin_require_state_dict(d, method) < 0 ||
        mushin_state_dict_classes(d, method, keys, "'num_classes', 'scores' and 'labels'",
                                  self->num_classes, "RocScores") < 0) {
        return -1;
    }
    scores = (PyArrayObject *)PyArray_FROM_O(PyDict_GetItemString(d, "scores"));
    if (scores == NULL) {
        goto done;
    }
    type = PyArray_TYPE(scores);
    if ((type != NPY_FLOAT && type != NPY_DOUBLE) || PyArray_NDIM(scores) != 2 ||
        PyArray_DIM(scores, 1) != (npy_intp)self->num_classes) {
        PyErr_Format(PyExc_ValueError,
                     "%s: 'scores' must be a (N, %lld) float32 or float64 array, got dtype %S "
                     "with %d dimension(s)", method, (long long)self->num_classes,
                     (PyObject *)PyArray_DESCR(scores), PyArray_NDIM(scores));
        goto done;
    }
    Py_SETREF(scores, (PyArrayObject *)PyArray_FROMANY((PyObject *)scores, type, 2, 2,
                                                       NPY_ARRAY_IN_ARRAY));
    if (scores == NULL) {
        goto done;
    }
    labels = (PyArrayObject *)mushin_score_exact_integer_array(PyDict_GetItemString(d, "labels"), NPY_INT64, 1, "labels");
    if (labels == NULL) {
        goto done;
    }
    rows = (int64_t)PyArray_DIM(scores, 0);
    if ((int64_t)PyArray_DIM(labels, 0) != rows) {
        PyErr_Format(PyExc_ValueError, "%s: 'scores' has %lld rows but 'labels' %lld", method,
                     (long long)rows, (long long)PyArray_DIM(labels, 0));
        goto done;
    }
    pv.data = PyArray_DATA(scores);
    pv.type = type == NPY_DOUBLE ? MUSHIN_FLOAT64 : MUSHIN_FLOAT32;
    pv.row_stride = (int64_t)PyArray_STRIDE(scores, 0);
    pv.class_stride = (int64_t)PyArray_STRIDE(scores, 1);
    lv.data = PyArray_DATA(labels);
    lv.type = MUSHIN_INT64;
    lv.stride = (int64_t)PyArray_STRIDE(labels, 0);
    Py_BEGIN_ALLOW_THREADS
    status = mushin_scores_check(rows, self->num_classes, 0, 0, pv, lv, &check);
    if (status == MUSHIN_OK && base != NULL) {
        status = mushin_score_store_copy(out, base);
    }
    if (status == MUSHIN_OK) {
        status = store_batch(out, rows, rows, 0, 0, pv, lv);
    }
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        mushin_score_check_error(method, self->num_classes, 0, 0, &check);
        goto done;
    }
    if (status != MUSHIN_OK) {
        mushin_glue_status_error(status, method, "score store");
        goto done;
    }
    rc = 0;
done:
    if (rc < 0) {
        mushin_score_store_clear(out);
    }
    Py_XDECREF(scores);
    Py_XDECREF(labels);
    return rc;
}

PyDoc_STRVAR(RocScores_load_state_dict_doc,
"load_state_dict(state, /)\n--\n\n"
"Replace the kept rows by those of ``state`` (what ``state_dict()``\n"
"returned).  Every value is checked first (num_classes, shapes, dtypes,\n"
"scores in [0, 1], labels in [0, num_classes)); on any error nothing\n"
"changes.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import RocScores\n"
">>> a, b = RocScores(2), RocScores(2)\n"
">>> a.update(np.array([[0.75, 0.25], [0.5, 0.5]], dtype=np.float32), np.array([0, 1]))\n"
">>> b.load_state_dict(a.state_dict())\n"
">>> b.compute() == a.compute()\n"
"True\n");

static PyObject *
RocScores_load_state_dict(RocScoresObject *self, PyObject *d)
{
    mushin_score_store fresh;
    if (roc_store_from_state(self, d, NULL, "RocScores.load_state_dict", &fresh) < 0) {
        return NULL;
    }
    mushin_glue_locked_swap(self->lock, &self->store, &fresh, sizeof fresh);
    mushin_score_store_clear(&fresh); /* the old rows */
    Py_RETURN_NONE;
}

PyDoc_STRVAR(RocScores_merge_doc,
"merge(other, /)\n--\n\n"
"Keep the rows of ``other`` too: another RocScores with the same\n"
"num_classes, or its ``state_dict()`` (e.g. gathered from the other\n"
"processes of a distributed evaluation).  AUROC depends only on the set\n"
"of kept rows, so merging is exact and its order does not matter.  On any\n"
"error nothing changes.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import RocScores\n"
">>> a, b = RocScores(2), RocScores(2)\n"
">>> a.update(np.array([[0.75, 0.25]], dtype=np.float32), np.array([0]))\n"
">>> b.update(np.array([[0.5, 0.5]], dtype=np.float32), np.array([1]))\n"
">>> a.merge(b)\n"
">>> a.num_samples, a.compute()\n"
"(2, 1.0)\n");

static PyObject *
RocScores_merge(RocScoresObject *self, PyObject *other)
{
    mushin_score_store merged, base;
    PyObject *d;
    int status;
    if (Py_IS_TYPE(other, Py_TYPE(self))) {
        d = RocScores_state_dict((RocScoresObject *)other, NULL);
    }
    else {
        d = Py_NewRef(other);
    }
    if (d == NULL) {
        return NULL;
    }
    /* a snapshot of this object's rows to build on, so the lock is not held
     * while the other state is checked */
    mushin_score_store_init(&base, self->num_classes);
    mushin_glue_lock(self->lock);
    status = mushin_score_store_copy(&base, &self->store);
    PyThread_release_lock(self->lock);
    if (status != MUSHIN_OK) {
        Py_DECREF(d);
        return PyErr_NoMemory();
    }
    status = roc_store_from_state(self, d, &base, "RocScores.merge", &merged);
    Py_DECREF(d);
    mushin_score_store_clear(&base);
    if (status < 0) {
        return NULL;
    }
    mushin_glue_locked_swap(self->lock, &self->store, &merged, sizeof merged);
    mushin_score_store_clear(&merged); /* the old rows */
    Py_RETURN_NONE;
}

static PyObject *
RocScores_get_num_samples(RocScoresObject *self, void *Py_UNUSED(closure))
{
    int64_t rows;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    rows = self->store.rows;
    PyThread_release_lock(self->lock);
    return PyLong_FromLongLong(rows);
}

static PyObject *
RocScores_get_nbytes(RocScoresObject *self, void *Py_UNUSED(closure))
{
    int64_t bytes;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    bytes = mushin_score_store_nbytes(&self->store);
    PyThread_release_lock(self->lock);
    return PyLong_FromLongLong(bytes);
}

static PyObject *
RocScores_get_score_dtype(RocScoresObject *self, void *Py_UNUSED(closure))
{
    int wide;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    wide = self->store.wide;
    PyThread_release_lock(self->lock);
    return PyUnicode_FromString(wide ? "float64" : "float32");
}

static PyObject *
RocScores_get_num_classes(RocScoresObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->num_classes);
}

static PyObject *
RocScores_get_ignore_index(RocScoresObject *self, void *Py_UNUSED(closure))
{
    return mushin_ignore_index_object(self->has_ignore, self->ignore_index);
}

static PyObject *
RocScores_repr(RocScoresObject *self)
{
    return mushin_classes_repr("RocScores", self->num_classes, self->has_ignore,
                               self->ignore_index);
}

static PyMethodDef RocScores_methods[] = {
    {"update", (PyCFunction)(void (*)(void))RocScores_update, METH_FASTCALL,
     RocScores_update_doc},
    {"compute", (PyCFunction)RocScores_compute, METH_NOARGS, RocScores_compute_doc},
    {"per_class", (PyCFunction)RocScores_per_class, METH_NOARGS, RocScores_per_class_doc},
    {"reset", (PyCFunction)RocScores_reset, METH_NOARGS,
     "reset()\n--\n\nForget every kept row and free its memory."},
    {"__deepcopy__", (PyCFunction)RocScores_deepcopy, METH_O,
     "__deepcopy__(memo, /)\n--\n\nAn independent copy, kept rows included."},
    {"state_dict", (PyCFunction)RocScores_state_dict, METH_NOARGS, RocScores_state_dict_doc},
    {"load_state_dict", (PyCFunction)RocScores_load_state_dict, METH_O,
     RocScores_load_state_dict_doc},
    {"merge", (PyCFunction)RocScores_merge, METH_O, RocScores_merge_doc},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef RocScores_getset[] = {
    {"num_samples", (getter)RocScores_get_num_samples, NULL,
     "Rows kept (ignored rows excluded).", NULL},
    {"nbytes", (getter)RocScores_get_nbytes, NULL,
     "Bytes allocated for kept rows: about num_samples * (num_classes * 4 + 4),\n"
     "8 bytes per score once float64 input was seen, plus one partly filled block.",
     NULL},
    {"score_dtype", (getter)RocScores_get_score_dtype, NULL,
     "'float32', or 'float64' once a float64 batch was kept.", NULL},
    {"num_classes", (getter)RocScores_get_num_classes, NULL, "Number of classes.", NULL},
    {"ignore_index", (getter)RocScores_get_ignore_index, NULL,
     "The ignored target value, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

PyDoc_STRVAR(RocScores_doc,
"RocScores(num_classes, ignore_index=None)\n--\n\n"
"Exact one-vs-rest AUROC, equal to torchmetrics'\n"
"``MulticlassAUROC(num_classes, average=\"macro\", thresholds=None, ignore_index)``.\n\n"
"Every kept row's scores are stored (float32, or float64 after a float64\n"
"batch): ``num_samples * (num_classes + 1) * 4`` bytes.  Ties count half;\n"
"a class without positives or without negatives scores 0 and still counts\n"
"in the macro mean, as in torchmetrics.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import RocScores\n"
">>> roc = RocScores(2)\n"
">>> roc.update(np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5], [0.3, 0.7]]),\n"
"...            np.array([0, 1, 0, 1]))\n"
">>> roc.compute()\n"
"1.0\n");

static PyType_Slot RocScores_slots[] = {
    {Py_tp_new, RocScores_new},
    {Py_tp_dealloc, RocScores_dealloc},
    {Py_tp_methods, RocScores_methods},
    {Py_tp_getset, RocScores_getset},
    {Py_tp_repr, RocScores_repr},
    {Py_tp_doc, (void *)RocScores_doc},
    {0, NULL}
};

static PyType_Spec RocScores_spec = {
    .name = "mushin._core.RocScores",
    .basicsize = sizeof(RocScoresObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = RocScores_slots,
};

int
mushin_roc_add_type(PyObject *module, mushin_module_state *st)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return mushin_glue_add_type(module, &RocScores_spec, &st->roc_type);
}
