/*
 * score_common.c -- the shared parts of the probability-metric types; see
 * score_common.h.
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

void
mushin_score_batch_release(mushin_score_batch *b)
{
    mushin_dlpack_release(&b->pv);
    mushin_dlpack_release(&b->tv);
}

int
mushin_score_batch_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                    const char *owner, int64_t num_classes, mushin_score_batch *b)
{
    mushin_dl_text ptext, ttext;
    char method[64];
    memset(b, 0, sizeof(*b));
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "%s.update() takes 2 arguments (probs, target), got %zd", owner, nargs);
        return -1;
    }
    if (mushin_dlpack_acquire_pair(mushin_module_state_of(Py_TYPE(self)), args[0], "probs",
                                   args[1], "target", &b->pv, &b->tv, &ptext, &ttext) < 0) {
        return -1;
    }
    PyOS_snprintf(method, sizeof(method), "%s.update", owner);
    if (mushin_require_host_pair(method, "probs", &b->pv, "target", &b->tv, 1) < 0) {
        goto error;
    }
    if (mushin_dlpack_ftype(b->pv.t, &b->probs.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s.update: probs must be floating-point probabilities (float16, "
                     "bfloat16, float32 or float64), got %s%s",
                     owner, ptext.dtype,
                     (b->pv.t->dtype.code == kDLInt || b->pv.t->dtype.code == kDLUInt)
                         ? "; pass per-class probabilities (e.g. logits.softmax(-1)), "
                           "not class indices" : "");
        goto error;
    }
    if (mushin_dlpack_itype(b->tv.t, &b->labels.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s.update: target must hold integer class indices (int8, int16, "
                     "int32, int64, uint8, uint16, uint32 or bool), got %s",
                     owner, ttext.dtype);
        goto error;
    }
    if (b->pv.t->ndim != 2 || b->pv.t->shape[1] != num_classes) {
        PyErr_Format(PyExc_ValueError,
                     "%s.update: probs must have shape (N, %lld), one row of class "
                     "probabilities per sample, got %s",
                     owner, (long long)num_classes, ptext.shape);
        goto error;
    }
    if (b->tv.t->ndim != 1 || b->tv.t->shape[0] != b->pv.t->shape[0]) {
        PyErr_Format(PyExc_ValueError,
                     "%s.update: target must have shape (%lld,) to match probs %s, got %s",
                     owner, (long long)b->pv.t->shape[0], ptext.shape, ttext.shape);
        goto error;
    }
    b->rows = b->pv.t->shape[0];
    b->probs.data = (const char *)b->pv.t->data + b->pv.t->byte_offset;
    b->probs.row_stride = b->pv.strides[0];
    b->probs.class_stride = b->pv.strides[1];
    b->labels.data = (const char *)b->tv.t->data + b->tv.t->byte_offset;
    b->labels.stride = b->tv.strides[0];
    return 0;
error:
    mushin_score_batch_release(b);
    return -1;
}

/* ValueError describing what mushin_scores_check rejected. */
void
mushin_score_check_error(const char *where, int64_t num_classes, int has_ignore,
                  int64_t ignore_index, const mushin_score_check *check)
{
    char labels_msg[320] = "", probs_msg[400] = "";
    if (check->labels_bad) {
        mushin_bad_labels_text(labels_msg, sizeof(labels_msg), check->labels_bad, num_classes,
                               has_ignore, ignore_index, check->labels_first, "index",
                               check->labels_first_row);
    }
    if (check->probs_bad) {
        char *value = PyOS_double_to_string(check->probs_first, 'r', 0, 0, NULL);
        PyOS_snprintf(probs_msg, sizeof(probs_msg),
                      "probs holds %lld value%s outside [0, 1] or NaN%s (first: %s at "
                      "row %lld, class %lld); pass probabilities (e.g. "
                      "logits.softmax(-1)), not logits",
                      (long long)check->probs_bad, check->probs_bad == 1 ? "" : "s",
                      has_ignore ? " in rows that are not ignored" : "",
                      value != NULL ? value : "?", (long long)check->probs_first_row,
                      (long long)check->probs_first_class);
        PyMem_Free(value);
    }
    PyErr_Format(PyExc_ValueError, "%s: %s%s%s; nothing of this %s was added",
                 where, labels_msg, (check->labels_bad && check->probs_bad) ? "; " : "",
                 probs_msg, strstr(where, ".update") != NULL ? "batch" : "state");
}

/* ------------------------------------------------ CalibrationBins -- */

/* `obj` as an aligned array of `typenum` with `ndim` dimensions, or NULL with
 * an error naming `what`.  Only integer input that converts to `typenum`
 * without loss is taken: floats (even integral ones), bools and wider
 * integer types are refused rather than cast. */
PyObject *
mushin_score_exact_integer_array(PyObject *obj, int typenum, int ndim, const char *what)
{
    PyArrayObject *given = (PyArrayObject *)PyArray_FROM_O(obj);
    PyArrayObject *out;
    PyArray_Descr *want;
    if (given == NULL) {
        return NULL;
    }
    if (!PyArray_ISINTEGER(given) || !PyArray_CanCastSafely(PyArray_TYPE(given), typenum)) {
        want = PyArray_DescrFromType(typenum);
        PyErr_Format(PyExc_TypeError,
                     "merge(): %s must be an array of integers that convert to %S without "
                     "loss, got dtype %S; pass the accumulator's own state (e.g. "
                     "other.%s)", what, (PyObject *)want, (PyObject *)PyArray_DESCR(given), what);
        Py_XDECREF(want);
        Py_DECREF(given);
        return NULL;
    }
    if (PyArray_NDIM(given) != ndim) {
        PyErr_Format(PyExc_ValueError, "merge(): %s must have %d dimension(s), got %d", what,
                     ndim, PyArray_NDIM(given));
        Py_DECREF(given);
        return NULL;
    }
    out = (PyArrayObject *)PyArray_FROMANY((PyObject *)given, typenum, ndim, ndim,
                                           NPY_ARRAY_IN_ARRAY);
    Py_DECREF(given);
    return (PyObject *)out;
}

/* Create the score types, keep them in the state, add them to the module. */
int
mushin_score_add_types(PyObject *module, mushin_module_state *st)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    if (mushin_calibration_add_type(module, st) < 0) {
        return -1;
    }
    return mushin_roc_add_type(module, st);
}
