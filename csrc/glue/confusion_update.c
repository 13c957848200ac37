/*
 * confusion_update.c -- ConfusionMatrix.update and update_logits: acquire
 * the batch by DLPack and check it with the GIL held, then count it without
 * the GIL (kernels/confusion.c, kernels/logits.c), under the object's lock,
 * into scratch that is merged only when the whole batch was valid.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "dlpack_consumer.h"
#include "glue_common.h"
#include "module_state.h"
#include "confusion_state.h"

/*
 * The threads an update with `work` units may use: the matrix's own
 * num_threads, else the module's default (set_default_threads: an int, or
 * a callable -- mushin.threads.get_num_threads, which follows
 * torch.get_num_threads() unless mushin.set_num_threads was called).  The
 * default is consulted only when the work is large enough to use a second
 * thread, so small updates never call back into Python.
 */
int
mushin_cm_thread_budget(ConfusionMatrixObject *self, int64_t work, int *out)
{
    mushin_module_state *st;
    PyObject *value;
    long n;
    *out = 1;
    if (self->num_threads > 0) {
        *out = self->num_threads;
        return 0;
    }
    if (work < 2 * MUSHIN_MIN_WORK_PER_THREAD) {
        return 0;
    }
    st = mushin_module_state_of(Py_TYPE(self));
    if (st == NULL) {
        return -1;
    }
    if (st->default_threads == NULL) {
        return 0;
    }
    if (PyCallable_Check(st->default_threads)) {
        value = PyObject_CallNoArgs(st->default_threads);
        if (value == NULL) {
            return -1;
        }
    }
    else {
        value = Py_NewRef(st->default_threads);
    }
    n = PyLong_AsLong(value);
    Py_DECREF(value);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = n < 1 ? 1 : (n > MUSHIN_MAX_THREADS ? MUSHIN_MAX_THREADS : (int)n);
    return 0;
}

/* The error of a counting status other than MUSHIN_OK, raised for
 * `method`; returns 0 for MUSHIN_OK, else -1. */
static int
count_status_error(ConfusionMatrixObject *self, int status, const mushin_bad_values *bad,
                   const char *method, const char *kernel)
{
    if (status == MUSHIN_OK) {
        return 0;
    }
    if (status == MUSHIN_EBADVALUE) {
        mushin_bad_values_error(self->num_classes, self->has_ignore, self->ignore_index, bad,
                                "the confusion matrix was not changed");
    }
    else if (status == MUSHIN_EOVERFLOW) {
        PyErr_Format(PyExc_ValueError,
                     "%s: adding this batch could carry the int64 counts past 2**63 - 1; "
                     "nothing was added (the matrix already holds close to 2**63 samples: "
                     "were corrupted counts merged?)", method);
    }
    else {
        mushin_glue_status_error(status, NULL, kernel);
    }
    return -1;
}

const char mushin_cm_update_doc[] = PyDoc_STR(
"update(preds, target, /)\n--\n\n"
"Count one batch of class-index predictions against labels.\n\n"
"Both arguments are DLPack producers (torch, NumPy, JAX, ...) in CPU memory\n"
"with the same shape and any integer dtype; strides and offsets are honoured.\n"
"Positions whose target equals ``ignore_index`` are skipped.  Any other value\n"
"outside ``[0, num_classes)`` raises ``ValueError`` and leaves the counts as\n"
"they were.  The counting runs without the GIL.");

PyObject *
mushin_cm_update(ConfusionMatrixObject *self, PyObject *const *args,
                       Py_ssize_t nargs)
{
    dl_view pv, tv;
    mushin_index_view pview, tview;
    mushin_bad_values bad;
    mushin_dl_text ptext, ttext;
    int64_t n, nn = self->num_classes * self->num_classes;
    int64_t *scratch = NULL;
    int status = MUSHIN_OK, num_threads = 1;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "update() takes 2 arguments (preds, target), got %zd",
                     nargs);
        return NULL;
    }
    if (mushin_dlpack_acquire_pair(mushin_module_state_of(Py_TYPE(self)), args[0], "preds",
                                   args[1], "target", &pv, &tv, &ptext, &ttext) < 0) {
        return NULL;
    }
    if (mushin_require_host_pair("ConfusionMatrix.update", "preds", &pv, "target", &tv, 1) < 0) {
        goto error;
    }
    if (mushin_dlpack_itype(pv.t, &pview.type) < 0 || mushin_dlpack_itype(tv.t, &tview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "class indices must have an integer dtype (int8, int16, int32, "
                     "int64, uint8, uint16, uint32 or bool), got preds %s and target %s%s",
                     ptext.dtype, ttext.dtype,
                     (pv.t->dtype.code == kDLFloat || pv.t->dtype.code == kDLBfloat)
                         ? "; take the argmax of logits or probabilities first" : "");
        goto error;
    }
    if (mushin_match_index_shapes(&pv, &tv, &ptext, &ttext, 0, &n) < 0) {
        goto error;
    }
    pview.data = (const char *)pv.t->data + pv.t->byte_offset;
    pview.strides = pv.strides;
    tview.data = (const char *)tv.t->data + tv.t->byte_offset;
    tview.strides = tv.strides;

    if (n >= nn / 4) {
        /* One pass into private scratch, merged only if every value was valid:
         * concurrent updates count in parallel and share only the merge. */
        if (mushin_cm_thread_budget(self, n, &num_threads) < 0) {
            goto error;
        }
        scratch = (int64_t *)calloc((size_t)nn, sizeof(int64_t));
        if (scratch == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        Py_BEGIN_ALLOW_THREADS
        status = mushin_confusion_count_threads(scratch, self->num_classes, self->has_ignore,
                                                self->ignore_index, pv.t->ndim, pv.t->shape,
                                                pview, tview, num_threads, &bad);
        if (status == MUSHIN_OK) {
            status = mushin_cm_add_batch(self, scratch, n);
        }
        Py_END_ALLOW_THREADS
    }
    else {
        /* A batch much smaller than the matrix: check first, then count in
         * place, rather than zero and merge a large scratch matrix. */
        Py_BEGIN_ALLOW_THREADS
        status = mushin_confusion_validate(self->num_classes, self->has_ignore,
                                           self->ignore_index, pv.t->ndim, pv.t->shape,
                                           pview, tview, &bad);
        if (status == MUSHIN_OK) {
            mushin_cm_lock(self);
            status = mushin_cm_reserve(self, n);
            if (status == MUSHIN_OK) {
                status = mushin_confusion_count(self->counts, self->num_classes,
                                                self->has_ignore, self->ignore_index,
                                                pv.t->ndim, pv.t->shape, pview, tview,
                                                &bad);
            }
            mushin_cm_unlock(self);
        }
        Py_END_ALLOW_THREADS
    }
    free(scratch);
    if (count_status_error(self, status, &bad, "update()", "confusion kernel") < 0) {
        goto error;
    }
    mushin_dlpack_release(&pv);
    mushin_dlpack_release(&tv);
    Py_RETURN_NONE;
error:
    mushin_dlpack_release(&pv);
    mushin_dlpack_release(&tv);
    return NULL;
}

/* update_logits(): the fused path (csrc/kernels/logits.c). */

const char mushin_cm_update_logits_doc[] = PyDoc_STR(
"update_logits(logits, target, /, class_dim=1)\n--\n\n"
"Count the argmax of ``logits`` over ``class_dim`` against ``target``.\n\n"
"The same counts as ``update(logits.argmax(class_dim), target)`` -- the\n"
"argmax is ``torch.argmax``'s: the first maximum wins ties, NaN counts as\n"
"the largest value and the first NaN wins -- in one pass over the logits,\n"
"without the GIL and without building the prediction tensor.\n\n"
"``logits`` is a float16, bfloat16, float32 or float64 DLPack producer in\n"
"CPU memory with ``num_classes`` entries in dimension ``class_dim`` (e.g.\n"
"``(N, C, H, W)`` with ``class_dim=1``, channels-last ``(N, H, W, C)``\n"
"with ``class_dim=-1``; any strides).  ``target`` holds integer labels of\n"
"the logits' shape without ``class_dim``.  ``ignore_index`` and invalid\n"
"labels are handled as by ``update``: a label outside ``[0, num_classes)``\n"
"that is not ignored raises ``ValueError`` and leaves the counts as they\n"
"were.  Large batches are split over ``num_threads`` threads.\n\n"
"Examples\n--------\n"
">>> import numpy as np\n"
">>> from mushin import ConfusionMatrix\n"
">>> cm = ConfusionMatrix(3, ignore_index=255)\n"
">>> logits = np.array([[[0.1, 2.0], [0.5, 0.5]],\n"
"...                    [[0.9, 1.0], [0.2, 0.1]],\n"
"...                    [[0.3, 0.0], [0.4, 9.0]]], dtype=np.float32)[None]\n"
">>> cm.update_logits(logits, np.array([[[1, 0], [0, 255]]]))\n"
">>> cm.counts.tolist()\n"
"[[2, 0, 0], [0, 1, 0], [0, 0, 0]]\n");

PyObject *
mushin_cm_update_logits(ConfusionMatrixObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"", "", "class_dim", NULL};
    PyObject *logits_obj, *target_obj;
    int class_dim = 1, num_threads = 1, status = MUSHIN_OK;
    dl_view lv, tv;
    mushin_float_view lview;
    mushin_index_view tview;
    mushin_bad_values bad;
    mushin_dl_text ltext, ttext;
    int64_t n, nn = self->num_classes * self->num_classes;
    int64_t *scratch = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|i:update_logits", kwlist, &logits_obj,
                                     &target_obj, &class_dim)) {
        return NULL;
    }
    if (mushin_dlpack_acquire_pair(mushin_module_state_of(Py_TYPE(self)), logits_obj, "logits",
                                   target_obj, "target", &lv, &tv, &ltext,
                                   &ttext) < 0) {
        return NULL;
    }
    if (mushin_require_host_pair("ConfusionMatrix.update_logits", "logits", &lv, "target", &tv,
                                 1) < 0) {
        goto error;
    }
    if (mushin_dlpack_ftype(lv.t, &lview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "logits must have dtype float16, bfloat16, float32 or float64, got %s%s",
                     ltext.dtype, (lv.t->dtype.code == kDLInt || lv.t->dtype.code == kDLUInt)
                              ? "; class indices go to update()" : "");
        goto error;
    }
    if (mushin_dlpack_itype(tv.t, &tview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "target must hold integer class indices (int8, int16, int32, int64, "
                     "uint8, uint16, uint32 or bool), got %s", ttext.dtype);
        goto error;
    }
    if (lv.t->ndim < 1 || class_dim < -lv.t->ndim || class_dim >= lv.t->ndim) {
        PyErr_Format(PyExc_ValueError,
                     "class_dim=%d is out of range for logits of shape %s", class_dim,
                     ltext.shape);
        goto error;
    }
    if (class_dim < 0) {
        class_dim += lv.t->ndim;
    }
    if (lv.t->shape[class_dim] != self->num_classes) {
        PyErr_Format(PyExc_ValueError,
                     "logits of shape %s have %lld classes in dim %d, but num_classes=%lld",
                     ltext.shape, (long long)lv.t->shape[class_dim], class_dim,
                     (long long)self->num_classes);
        goto error;
    }
    if (mushin_match_logits_target(&lv, &tv, class_dim, &ltext, &ttext, 0, &n) < 0) {
        goto error;
    }
    lview.data = (const char *)lv.t->data + lv.t->byte_offset;
    lview.strides = lv.strides;
    tview.data = (const char *)tv.t->data + tv.t->byte_offset;
    tview.strides = tv.strides;

    if (n >= nn / 4) {
        /* private scratch merged on success, as in update() */
        if (mushin_cm_thread_budget(self, n * self->num_classes, &num_threads) < 0) {
            goto error;
        }
        scratch = (int64_t *)calloc((size_t)nn, sizeof(int64_t));
        if (scratch == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        Py_BEGIN_ALLOW_THREADS
        status = mushin_confusion_count_logits(scratch, self->num_classes, self->has_ignore,
                                               self->ignore_index, lv.t->ndim, lv.t->shape,
                                               class_dim, lview, tview, num_threads, &bad);
        if (status == MUSHIN_OK) {
            status = mushin_cm_add_batch(self, scratch, n);
        }
        Py_END_ALLOW_THREADS
    }
    else {
        /* few pixels, a large matrix: check the labels, then count in place */
        Py_BEGIN_ALLOW_THREADS
        status = mushin_confusion_validate_target(self->num_classes, self->has_ignore,
                                                  self->ignore_index, tv.t->ndim, tv.t->shape,
                                                  tview, &bad);
        if (status == MUSHIN_OK) {
            mushin_cm_lock(self);
            status = mushin_cm_reserve(self, n);
            if (status == MUSHIN_OK) {
                status = mushin_confusion_count_logits(self->counts, self->num_classes,
                                                       self->has_ignore, self->ignore_index,
                                                       lv.t->ndim, lv.t->shape, class_dim,
                                                       lview, tview, 1, &bad);
            }
            mushin_cm_unlock(self);
        }
        Py_END_ALLOW_THREADS
    }
    free(scratch);
    if (count_status_error(self, status, &bad, "update_logits()", "fused logits kernel") < 0) {
        goto error;
    }
    mushin_dlpack_release(&lv);
    mushin_dlpack_release(&tv);
    Py_RETURN_NONE;
error:
    mushin_dlpack_release(&lv);
    mushin_dlpack_release(&tv);
    return NULL;
}
