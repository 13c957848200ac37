/*
 * confusion_state.c -- ConfusionMatrix: the streaming confusion matrix of
 * segmentation and classification, fed by DLPack (class-index predictions
 * with update(), logits with update_logits()).  Arguments are read and
 * checked with the GIL held; the counting kernels (kernels/confusion.c,
 * kernels/logits.c) run without it, under the object's own lock, into
 * scratch that is merged only when the whole batch was valid.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include "numpy_api.h"

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "dlpack_consumer.h"
#include "glue_common.h"
#include "module_state.h"
#include "confusion_state.h"

/* ---------------------------------------------------- ConfusionMatrix -- */


/* num_threads as given to the constructor or the setter: None or 1 ... 64. */
static int
parse_num_threads(PyObject *value, int *out)
{
    long n;
    if (value == Py_None) {
        *out = 0;
        return 0;
    }
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        PyErr_Format(PyExc_TypeError, "num_threads must be an int or None, got %.200s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    n = PyLong_AsLong(value);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (n < 1 || n > MUSHIN_MAX_THREADS) {
        PyErr_Format(PyExc_ValueError, "num_threads must be between 1 and %d (or None), got %ld",
                     MUSHIN_MAX_THREADS, n);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static PyObject *
ConfusionMatrix_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"num_classes", "ignore_index", "num_threads", NULL};
    long long num_classes;
    PyObject *classes_obj, *ignore = Py_None, *threads = Py_None;
    ConfusionMatrixObject *self;
    int64_t ignore_value;
    int num_threads = 0, has_ignore;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:ConfusionMatrix", kwlist,
                                     &classes_obj, &ignore, &threads)) {
        return NULL;
    }
    /* bool is an int subclass, and NumPy's bool_ has __index__: both would
     * silently build a 0- or 1-class matrix */
    if (PyBool_Check(classes_obj) || PyArray_IsScalar(classes_obj, Bool) ||
        !PyIndex_Check(classes_obj)) {
        PyErr_Format(PyExc_TypeError,
                     "ConfusionMatrix: num_classes must be an int (the number of classes), "
                     "got %.200s", Py_TYPE(classes_obj)->tp_name);
        return NULL;
    }
    num_classes = PyLong_AsLongLong(classes_obj);
    if (num_classes == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        PyErr_Clear();
        num_classes = -1; /* out of range: reported below */
    }
    if (ignore != Py_None && PyArray_IsScalar(ignore, Bool)) {
        /* refused (the parser takes no bool) before num_threads is read */
        (void)mushin_parse_ignore_index(ignore, &has_ignore, &ignore_value);
        return NULL;
    }
    if (parse_num_threads(threads, &num_threads) < 0) {
        return NULL;
    }
    if (num_classes < 1 || num_classes > (1LL << 16)) {
        PyErr_Format(PyExc_ValueError,
                     "ConfusionMatrix: num_classes must be between 1 and 65536, got %R",
                     classes_obj);
        return NULL;
    }
    if (mushin_parse_ignore_index(ignore, &has_ignore, &ignore_value) < 0) {
        return NULL;
    }
    self = (ConfusionMatrixObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->num_classes = num_classes;
    self->has_ignore = has_ignore;
    self->ignore_index = ignore_value;
    self->num_threads = num_threads;
    self->counts = (int64_t *)calloc((size_t)(num_classes * num_classes), sizeof(int64_t));
    if (self->counts == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return mushin_glue_with_lock((PyObject *)self, &self->lock);
}

static void
ConfusionMatrix_dealloc(ConfusionMatrixObject *self)
{
    free(self->counts);
    mushin_glue_dealloc((PyObject *)self, self->lock);
}

PyDoc_STRVAR(merge_doc,
"merge(counts, /)\n--\n\n"
"Add a (num_classes, num_classes) array of non-negative integer counts,\n"
"e.g. another accumulator's ``counts`` or an all-reduced sum.\n\n"
"``counts`` must have an integer dtype (floats, bools and objects are\n"
"refused even when their values are whole: a float count is a sign that\n"
"something upstream averaged or rescaled), every entry must be >= 0, and\n"
"the merged counts -- each cell and their total -- must fit in int64.\n"
"Otherwise ``TypeError``/``ValueError`` and the counts stay as they were.");

/* merge()'s or load_state_dict()'s counts as a C-contiguous int64 (rows,
 * rows) array, or NULL with TypeError/ValueError naming `method`, `counts`
 * and what to do. */
static PyArrayObject *
counts_array(PyObject *arg, int64_t rows, const char *method)
{
    PyArrayObject *given = (PyArrayObject *)PyArray_FROM_O(arg);
    PyArrayObject *out = NULL;
    if (given == NULL) {
        return NULL;
    }
    if (!PyArray_ISINTEGER(given)) {
        PyErr_Format(PyExc_TypeError,
                     "%s: counts must be an array of integers, got dtype %S; pass "
                     "another accumulator's .counts (int64), not normalised or averaged values",
                     method, (PyObject *)PyArray_DESCR(given));
        goto done;
    }
    if (PyArray_NDIM(given) != 2 || PyArray_DIM(given, 0) != rows ||
        PyArray_DIM(given, 1) != rows) {
        char shape[128];
        size_t used = (size_t)PyOS_snprintf(shape, sizeof(shape), "(");
        int i;
        for (i = 0; i < PyArray_NDIM(given) && i < 8 && used < sizeof(shape); i++) {
            used += (size_t)PyOS_snprintf(shape + used, sizeof(shape) - used, i ? ", %lld" : "%lld",
                                          (long long)PyArray_DIM(given, i));
        }
        if (used < sizeof(shape)) {
            PyOS_snprintf(shape + used, sizeof(shape) - used,
                          PyArray_NDIM(given) == 1 ? ",)" : (PyArray_NDIM(given) > 8 ? ", ...)" : ")"));
        }
        PyErr_Format(PyExc_ValueError,
                     "%s: counts (num_classes x num_classes) needs a (%lld, %lld) array, "
                     "got %s", method, (long long)rows, (long long)rows, shape);
        goto done;
    }
    if (PyArray_ISUNSIGNED(given) && PyArray_ITEMSIZE(given) >= 8) {
        /* uint64 above INT64_MAX would wrap to a negative int64 in the cast */
        PyArrayObject *contig = (PyArrayObject *)PyArray_FROMANY(
            (PyObject *)given, NPY_UINT64, 2, 2, NPY_ARRAY_IN_ARRAY);
        npy_intp i, nn;
        const uint64_t *u;
        if (contig == NULL) {
            goto done;
        }
        u = (const uint64_t *)PyArray_DATA(contig);
        nn = PyArray_SIZE(contig);
        for (i = 0; i < nn; i++) {
            if (u[i] > (uint64_t)INT64_MAX) {
                PyErr_Format(PyExc_ValueError,
                             "%s: counts[%lld, %lld] = %llu does not fit in int64; a "
                             "confusion matrix cannot hold that many samples",
                             method, (long long)(i / rows), (long long)(i % rows),
                             (unsigned long long)u[i]);
                Py_DECREF(contig);
                goto done;
            }
        }
        Py_DECREF(contig);
    }
    out = (PyArrayObject *)PyArray_FROMANY((PyObject *)given, NPY_INT64, 2, 2,
                                           NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
done:
    Py_DECREF(given);
    return out;
}

/*
 * Check another state's counts (the same rules for merge and
 * load_state_dict: integers, the right shape, non-negative, every cell and
 * the total in int64) and add them to the matrix, or with `replace` put
 * them in its place.  Returns 0, or -1 with an error naming `method`; on
 * error nothing changes.
 */
static int
cm_take_counts(ConfusionMatrixObject *self, PyObject *counts_obj, int replace,
               const char *method)
{
    const int64_t rows = self->num_classes;
    PyArrayObject *arr;
    const int64_t *data;
    int64_t *scratch = NULL, *into, where = -1, current = 0, total = 0;
    npy_intp nn;
    int status;
    arr = counts_array(counts_obj, rows, method);
    if (arr == NULL) {
        return -1;
    }
    data = (const int64_t *)PyArray_DATA(arr);
    nn = PyArray_SIZE(arr);
    if (replace) {
        /* loaded counts are checked as if merged into zeros */
        scratch = (int64_t *)PyMem_Calloc((size_t)nn, sizeof(int64_t));
        if (scratch == NULL) {
            Py_DECREF(arr);
            PyErr_NoMemory();
            return -1;
        }
    }
    /* check and add under one lock: a concurrent update cannot slip in
     * between the overflow check and the addition */
    Py_BEGIN_ALLOW_THREADS
    mushin_cm_lock(self);
    into = replace ? scratch : self->counts;
    status = mushin_counts_add_checked(into, data, nn, &where, &total);
    if (status == MUSHIN_OK) {
        if (replace) {
            memcpy(self->counts, scratch, (size_t)nn * sizeof(int64_t));
        }
        self->total_bound = total;
    }
    else if (status == MUSHIN_EOVERFLOW && where >= 0) {
        current = into[where];
    }
    mushin_cm_unlock(self);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        PyErr_Format(PyExc_ValueError,
                     "%s: counts must be non-negative, got %lld at flat index %lld "
                     "(counts[%lld, %lld]); nothing was %s", method,
                     (long long)data[where], (long long)where, (long long)(where / rows),
                     (long long)(where % rows), replace ? "loaded" : "added");
    }
    else if (status == MUSHIN_EOVERFLOW && where >= 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: counts[%lld, %lld] = %lld plus the %lld already counted there "
                     "overflows int64; nothing was %s (are these counts corrupted, or "
                     "merged more than once?)", method, (long long)(where / rows),
                     (long long)(where % rows), (long long)data[where], (long long)current,
                     replace ? "loaded" : "added");
    }
    else if (status == MUSHIN_EOVERFLOW) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the total of the %s counts %s int64; nothing was %s%s", method,
                     replace ? "loaded" : "merged", replace ? "overflows" : "would overflow",
                     replace ? "loaded" : "added",
                     replace ? "" : " (are these counts corrupted, or merged more than once?)");
    }
    else if (status != MUSHIN_OK) {
        PyErr_Format(PyExc_SystemError, "%s: counting failed with status %d", method, status);
    }
    PyMem_Free(scratch);
    Py_DECREF(arr);
    return status == MUSHIN_OK ? 0 : -1;
}

static PyObject *
ConfusionMatrix_merge(ConfusionMatrixObject *self, PyObject *arg)
{
    if (cm_take_counts(self, arg, 0, "merge()") < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(state_dict_doc,
"state_dict()\n--\n\n"
"The state as a dict: ``num_classes`` (int) and ``counts`` (a copy of the\n"
"int64 matrix).  Exact; ``load_state_dict`` and ``merge`` take it back.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import ConfusionMatrix\n"
">>> cm = ConfusionMatrix(2)\n"
">>> cm.update(np.array([0, 1, 1]), np.array([0, 0, 1]))\n"
">>> cm.state_dict()['counts'].tolist()\n"
"[[1, 1], [0, 1]]\n");

static PyObject *ConfusionMatrix_get_counts(ConfusionMatrixObject *self, void *closure);

static PyObject *
ConfusionMatrix_state_dict(ConfusionMatrixObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *counts = ConfusionMatrix_get_counts(self, NULL), *out;
    if (counts == NULL) {
        return NULL;
    }
    out = Py_BuildValue("{s:L,s:O}", "num_classes", (long long)self->num_classes,
                        "counts", counts);
    Py_DECREF(counts);
    return out;
}

PyDoc_STRVAR(load_state_dict_doc,
"load_state_dict(state, /)\n--\n\n"
"Replace the counts by those of ``state`` (what ``state_dict()`` returned).\n"
"The same checks as ``merge``: num_classes must match, counts must be a\n"
"(num_classes, num_classes) integer array, non-negative, with a total that\n"
"fits in int64.  On any error the counts stay as they were.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin._core import ConfusionMatrix\n"
">>> a, b = ConfusionMatrix(2), ConfusionMatrix(2)\n"
">>> a.update(np.array([0, 1, 1]), np.array([0, 0, 1]))\n"
">>> b.load_state_dict(a.state_dict())\n"
">>> b.counts.tolist()\n"
"[[1, 1], [0, 1]]\n");

static PyObject *
ConfusionMatrix_load_state_dict(ConfusionMatrixObject *self, PyObject *d)
{
    static const char method[] = "ConfusionMatrix.load_state_dict";
    static const char *const keys[] = {"counts", NULL};
    if (mushin_require_state_dict(d, method) < 0 ||
        mushin_state_dict_classes(d, method, keys, "'num_classes' and 'counts'",
                                  self->num_classes, "matrix") < 0) {
        return NULL;
    }
    if (cm_take_counts(self, PyDict_GetItemString(d, "counts"), 1, method) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(reset_doc, "reset()\n--\n\nSet every count back to zero.");

static PyObject *
ConfusionMatrix_reset(ConfusionMatrixObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    mushin_cm_lock(self);
    memset(self->counts, 0, (size_t)(self->num_classes * self->num_classes) * sizeof(int64_t));
    self->total_bound = 0;
    mushin_cm_unlock(self);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
ConfusionMatrix_get_counts(ConfusionMatrixObject *self, void *Py_UNUSED(closure))
{
    npy_intp dims[2] = {(npy_intp)self->num_classes, (npy_intp)self->num_classes};
    PyObject *out = PyArray_SimpleNew(2, dims, NPY_INT64);
    if (out != NULL) {
        mushin_glue_locked_copy(self->lock, PyArray_DATA((PyArrayObject *)out), self->counts,
                                (size_t)(dims[0] * dims[1]) * sizeof(int64_t));
    }
    return out;
}

static PyObject *
ConfusionMatrix_get_num_classes(ConfusionMatrixObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->num_classes);
}

static PyObject *
ConfusionMatrix_get_num_threads(ConfusionMatrixObject *self, void *Py_UNUSED(closure))
{
    if (self->num_threads == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(self->num_threads);
}

static int
ConfusionMatrix_set_num_threads(ConfusionMatrixObject *self, PyObject *value,
                                void *Py_UNUSED(closure))
{
    int n;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "num_threads cannot be deleted; set it to None");
        return -1;
    }
    if (parse_num_threads(value, &n) < 0) {
        return -1;
    }
    self->num_threads = n;
    return 0;
}

static PyObject *
ConfusionMatrix_get_ignore_index(ConfusionMatrixObject *self, void *Py_UNUSED(closure))
{
    return mushin_ignore_index_object(self->has_ignore, self->ignore_index);
}

static PyObject *
ConfusionMatrix_repr(ConfusionMatrixObject *self)
{
    return mushin_classes_repr("ConfusionMatrix", self->num_classes, self->has_ignore,
                               self->ignore_index);
}

static PyMethodDef ConfusionMatrix_methods[] = {
    {"update", (PyCFunction)(void (*)(void))mushin_cm_update, METH_FASTCALL, mushin_cm_update_doc},
    {"update_logits", (PyCFunction)(void (*)(void))mushin_cm_update_logits,
     METH_VARARGS | METH_KEYWORDS, mushin_cm_update_logits_doc},
    {"merge", (PyCFunction)ConfusionMatrix_merge, METH_O, merge_doc},
    {"state_dict", (PyCFunction)ConfusionMatrix_state_dict, METH_NOARGS, state_dict_doc},
    {"load_state_dict", (PyCFunction)ConfusionMatrix_load_state_dict, METH_O,
     load_state_dict_doc},
    {"reset", (PyCFunction)ConfusionMatrix_reset, METH_NOARGS, reset_doc},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef ConfusionMatrix_getset[] = {
    {"counts", (getter)ConfusionMatrix_get_counts, NULL,
     "A copy of the counts as a (num_classes, num_classes) int64 NumPy array,\n"
     "rows indexed by target class, columns by predicted class.", NULL},
    {"num_classes", (getter)ConfusionMatrix_get_num_classes, NULL, "Number of classes.", NULL},
    {"ignore_index", (getter)ConfusionMatrix_get_ignore_index, NULL,
     "The ignored target value, or None.", NULL},
    {"num_threads", (getter)ConfusionMatrix_get_num_threads,
     (setter)ConfusionMatrix_set_num_threads,
     "Threads one large update may use (1 to 64), or None to follow\n"
     "mushin.get_num_threads().", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

PyDoc_STRVAR(ConfusionMatrix_doc,
"ConfusionMatrix(num_classes, ignore_index=None, num_threads=None)\n--\n\n"
"Streaming int64 confusion matrix, rows = target class, columns = prediction.\n\n"
"``update`` counts class indices, ``update_logits`` the argmax of logits.\n"
"An update large enough to pay for threads (about 2^19 labels, or logit\n"
"values) is split over ``num_threads`` threads, each counting a range into\n"
"its own matrix; ``None`` follows :func:`mushin.get_num_threads`, which is\n"
"``torch.get_num_threads()`` unless :func:`mushin.set_num_threads` was\n"
"called.  Counts never depend on the thread count.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin import ConfusionMatrix\n"
">>> cm = ConfusionMatrix(3, ignore_index=255)\n"
">>> cm.update(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 255]))\n"
">>> cm.counts.tolist()\n"
"[[1, 0, 0], [0, 0, 0], [0, 1, 1]]\n");

static PyType_Slot ConfusionMatrix_slots[] = {
    {Py_tp_new, ConfusionMatrix_new},
    {Py_tp_dealloc, ConfusionMatrix_dealloc},
    {Py_tp_methods, ConfusionMatrix_methods},
    {Py_tp_getset, ConfusionMatrix_getset},
    {Py_tp_repr, ConfusionMatrix_repr},
    {Py_tp_doc, (void *)ConfusionMatrix_doc},
    {0, NULL}
};

static PyType_Spec ConfusionMatrix_spec = {
    .name = "mushin._core.ConfusionMatrix",
    .basicsize = sizeof(ConfusionMatrixObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = ConfusionMatrix_slots,
};

/* ---------------------------------------------------- module functions -- */

PyDoc_STRVAR(confusion_thread_count_doc,
"confusion_thread_count(num_classes, num_elements, work, num_threads, /)\n--\n\n"
"How many threads one update uses: ``num_elements`` positions (labels, or\n"
"pixels for update_logits), ``work`` units of work (num_elements, or\n"
"num_elements * num_classes for update_logits), at most ``num_threads``.\n"
"For tests and benchmarks.");

static PyObject *
py_confusion_thread_count(PyObject *Py_UNUSED(module), PyObject *args)
{
    long long num_classes, num_elements, work;
    int num_threads;
    if (!PyArg_ParseTuple(args, "LLLi:confusion_thread_count", &num_classes, &num_elements,
                          &work, &num_threads)) {
        return NULL;
    }
    if (num_classes < 1 || num_classes > (1LL << 16) || num_elements < 0 || work < 0 ||
        num_threads < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "confusion_thread_count needs 1 <= num_classes <= 65536, "
                        "non-negative sizes and num_threads >= 1");
        return NULL;
    }
    return PyLong_FromLong(mushin_confusion_thread_count(num_classes, num_elements, work,
                                                         num_threads));
}

PyMethodDef mushin_confusion_functions[] = {
    {"confusion_thread_count", py_confusion_thread_count, METH_VARARGS,
     confusion_thread_count_doc},
    {NULL, NULL, 0, NULL}
};

/* Create ConfusionMatrix, keep it in the state, add it to the module. */
int
mushin_confusion_add_type(PyObject *module, mushin_module_state *st)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return mushin_glue_add_type(module, &ConfusionMatrix_spec, &st->confusion_type);
}
