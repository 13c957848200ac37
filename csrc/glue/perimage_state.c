/*
 * perimage_state.c -- PerImageCounts: per-image, per-class TP/FP/FN of a
 * segmentation evaluation, fed by DLPack.  Arguments are read and checked
 * with the GIL held; kernels/perimage.c runs without it, into scratch that
 * is appended only when the whole batch was valid.  The bootstrap over
 * such counts is in bootstrap_functions.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include "numpy_api.h"

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "perimage.h"
#include "dlpack_consumer.h"
#include "glue_common.h"
#include "module_state.h"

typedef struct {
    PyObject_HEAD
    int64_t num_classes;
    int has_ignore;
    int64_t ignore_index;
    int wide;                 /* 1: int64 counts, 0: int32 */
    int64_t max_bytes;        /* the memory budget of the counts */
    int64_t num_images;
    int64_t capacity;         /* images the buffer holds */
    void *data;               /* [image][class][3], int64 or int32 */
    PyThread_type_lock lock;  /* guards num_images, capacity, data */
} PerImageObject;

#define PI_ROW(self) ((self)->num_classes * 3)
#define PI_ITEM(self) ((int64_t)((self)->wide ? sizeof(int64_t) : sizeof(int32_t)))

static PyObject *
perimage_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"num_classes", "ignore_index", "dtype", "max_bytes", NULL};
    long long num_classes, max_bytes = 1LL << 30;
    PyObject *ignore = Py_None;
    const char *dtype = "int64";
    PerImageObject *self;
    int64_t ignore_value;
    int has_ignore;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|OsL:PerImageCounts", kwlist, &num_classes,
                                     &ignore, &dtype, &max_bytes)) {
        return NULL;
    }
    if (mushin_parse_num_classes("PerImageCounts", num_classes) < 0 ||
        mushin_parse_ignore_index(ignore, &has_ignore, &ignore_value) < 0) {
        return NULL;
    }
    if (strcmp(dtype, "int64") != 0 && strcmp(dtype, "int32") != 0) {
        PyErr_Format(PyExc_ValueError, "PerImageCounts: dtype must be 'int64' or 'int32', got '%s'",
                     dtype);
        return NULL;
    }
    if (max_bytes < 0) {
        PyErr_Format(PyExc_ValueError, "PerImageCounts: max_bytes must be >= 0, got %lld",
                     max_bytes);
        return NULL;
    }
    self = (PerImageObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->num_classes = num_classes;
    self->has_ignore = has_ignore;
    self->ignore_index = ignore_value;
    self->wide = strcmp(dtype, "int64") == 0;
    self->max_bytes = max_bytes;
    return mushin_glue_with_lock((PyObject *)self, &self->lock);
}

static void
perimage_dealloc(PerImageObject *self)
{
    free(self->data);
    mushin_glue_dealloc((PyObject *)self, self->lock);
}

/* Refuse (ValueError) a total of `images` images past the memory budget. */
static int
check_budget(PerImageObject *self, int64_t images, const char *what)
{
    const double need = (double)images * (double)PI_ROW(self) * (double)PI_ITEM(self);
    char message[640];
    if (need <= (double)self->max_bytes) {
        return 0;
    }
    /* PyErr_Format has no %f */
    PyOS_snprintf(message, sizeof(message),
                  "%s: per-image counts of %lld images x %lld classes x 3 (TP, FP, FN) as %s "
                  "would take %.0f bytes (%.1f MiB), past the budget max_bytes=%lld (%.1f MiB); nothing was "
                  "added.  Raise the budget (compare(..., per_image_max_bytes=...) or "
                  "PerImageCounts(max_bytes=...))%s",
                  what, (long long)images, (long long)self->num_classes,
                  self->wide ? "int64" : "int32", need, need / 1048576.0, (long long)self->max_bytes,
                  (double)self->max_bytes / 1048576.0,
                  self->wide ? ", or keep them as int32 (per_image='int32', half the memory)" : "");
    PyErr_SetString(PyExc_ValueError, message);
    return -1;
}

/* Append n images of int64 counts (already checked); call with the lock held. */
static int
append_rows(PerImageObject *self, const int64_t *rows, int64_t n)
{
    const int64_t row = PI_ROW(self), need = self->num_images + n;
    int64_t k;
    if (n == 0) {
        return MUSHIN_OK; /* nothing to copy; data may still be NULL (memcpy must not see it) */
    }
    if (need > self->capacity) {
        int64_t cap = self->capacity < 16 ? 16 : self->capacity;
        void *grown;
        while (cap < need) {
            cap *= 2;
        }
        grown = realloc(self->data, (size_t)(cap * row * PI_ITEM(self)));
        if (grown == NULL) {
            return MUSHIN_ENOMEM;
        }
        self->data = grown;
        self->capacity = cap;
    }
    if (self->wide) {
        memcpy((int64_t *)self->data + self->num_images * row, rows,
               (size_t)(n * row) * sizeof(int64_t));
    }
    else {
        int32_t *dst = (int32_t *)self->data + self->num_images * row;
        for (k = 0; k < n * row; k++) {
            dst[k] = (int32_t)rows[k];
        }
    }
    self->num_images = need;
    return MUSHIN_OK;
}

/* Images of `pixels` pixels must fit the counts' dtype, and the `n_img`
 * images of a batch the budget.  0, or -1 with a ValueError naming `what`. */
static int
check_batch(PerImageObject *self, int64_t n_img, int64_t pixels, const char *what)
{
    int64_t current;
    if (!self->wide && pixels > INT32_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "%s: images of %lld pixels could overflow int32 counts; build "
                     "PerImageCounts with dtype='int64'", what, (long long)pixels);
        return -1;
    }
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    current = self->num_images;
    PyThread_release_lock(self->lock);
    return check_budget(self, current + n_img, what);
}

/* After a counting kernel, GIL released: append its n_img rows of scratch
 * under the lock if the batch was valid; returns the status. */
static int
append_batch(PerImageObject *self, int status, const int64_t *scratch, int64_t n_img)
{
    if (status == MUSHIN_OK) {
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        status = append_rows(self, scratch, n_img);
        PyThread_release_lock(self->lock);
    }
    return status;
}

/* The error of a counting status other than MUSHIN_OK; returns -1. */
static int
count_status_error(PerImageObject *self, int status, const mushin_bad_values *bad,
                   const char *kernel)
{
    if (status == MUSHIN_EBADVALUE) {
        mushin_bad_values_error(self->num_classes, self->has_ignore, self->ignore_index, bad,
                                "the per-image counts were not changed");
        return -1;
    }
    return mushin_glue_status_error(status, NULL, kernel);
}

PyDoc_STRVAR(perimage_update_doc,
"update(preds, target, /)\n--\n\n"
"Count one batch of class-index predictions against labels, one image per\n"
"entry of dimension 0, appended after the images already counted.\n\n"
"Both arguments are DLPack producers in CPU memory with the same shape\n"
"(N, ...) and any integer dtype.  The rules of ConfusionMatrix.update hold\n"
"(ignore_index, bad values); a bad batch, or one past the memory budget,\n"
"raises ValueError and adds nothing.  The counting runs without the GIL.");

static PyObject *
perimage_update(PerImageObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    dl_view pv, tv;
    mushin_index_view pview, tview;
    mushin_bad_values bad;
    mushin_dl_text ptext, ttext;
    int64_t n_img, pixels, *scratch = NULL;
    int status = MUSHIN_OK;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "update() takes 2 arguments (preds, target), got %zd", nargs);
        return NULL;
    }
    if (mushin_dlpack_acquire_pair(mushin_module_state_of(Py_TYPE(self)), args[0], "preds",
                                   args[1], "target", &pv, &tv, &ptext, &ttext) < 0) {
        return NULL;
    }
    if (mushin_require_host_pair("PerImageCounts.update", "preds", &pv, "target", &tv, 0) < 0) {
        goto error;
    }
    if (mushin_dlpack_itype(pv.t, &pview.type) < 0 || mushin_dlpack_itype(tv.t, &tview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "class indices must have an integer dtype (int8, int16, int32, int64, uint8, "
                     "uint16, uint32 or bool), got preds %s and target %s", ptext.dtype,
                     ttext.dtype);
        goto error;
    }
    if (pv.t->ndim != tv.t->ndim || pv.t->ndim < 1) {
        PyErr_Format(PyExc_ValueError,
                     "preds shape %s does not match target shape %s (per-image counts need "
                     "(N, ...) with one image per entry of dim 0)", ptext.shape, ttext.shape);
        goto error;
    }
    if (mushin_match_index_shapes(&pv, &tv, &ptext, &ttext, 1, &pixels) < 0) {
        goto error;
    }
    n_img = pv.t->shape[0];
    if (check_batch(self, n_img, pixels, "update()") < 0) {
        goto error;
    }
    scratch = (int64_t *)malloc((size_t)(n_img > 0 ? n_img * PI_ROW(self) : 1) * sizeof(int64_t));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    pview.data = (const char *)pv.t->data + pv.t->byte_offset;
    pview.strides = pv.strides;
    tview.data = (const char *)tv.t->data + tv.t->byte_offset;
    tview.strides = tv.strides;
    Py_BEGIN_ALLOW_THREADS
    status = mushin_perimage_count(scratch, self->num_classes, self->has_ignore,
                                   self->ignore_index, pv.t->ndim, pv.t->shape, pview, tview, &bad);
    status = append_batch(self, status, scratch, n_img);
    Py_END_ALLOW_THREADS
    free(scratch);
    if (status != MUSHIN_OK) {
        count_status_error(self, status, &bad, "per-image kernel");
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

PyDoc_STRVAR(perimage_update_logits_doc,
"update_logits(logits, target, /, class_dim=1)\n--\n\n"
"Count the argmax of ``logits`` over ``class_dim`` per image (dimension 0),\n"
"as ConfusionMatrix.update_logits does for the whole batch, in one pass and\n"
"without the GIL; returns that batch's (C, C) int64 confusion matrix, so\n"
"the caller can merge it into a ConfusionMatrix instead of reading the\n"
"logits twice.  ``class_dim`` must not be 0; at most 4096 classes.  A bad\n"
"label (or the memory budget) raises ValueError and adds nothing.");

static PyObject *
perimage_update_logits(PerImageObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"", "", "class_dim", NULL};
    PyObject *logits_obj, *target_obj, *batch = NULL;
    int class_dim = 1, status = MUSHIN_OK;
    dl_view lv, tv;
    mushin_float_view lview;
    mushin_index_view tview;
    mushin_bad_values bad;
    mushin_dl_text ltext, ttext;
    int64_t n_img, pixels, *scratch = NULL;
    npy_intp dims[2];

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|i:update_logits", kwlist, &logits_obj,
                                     &target_obj, &class_dim)) {
        return NULL;
    }
    if (mushin_dlpack_acquire_pair(mushin_module_state_of(Py_TYPE(self)), logits_obj, "logits",
                                   target_obj, "target", &lv, &tv, &ltext,
                                   &ttext) < 0) {
        return NULL;
    }
    if (mushin_require_host_pair("PerImageCounts.update_logits", "logits", &lv, "target", &tv,
                                 0) < 0) {
        goto error;
    }
    if (mushin_dlpack_ftype(lv.t, &lview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "logits must have dtype float16, bfloat16, float32 or float64, got %s",
                     ltext.dtype);
        goto error;
    }
    if (mushin_dlpack_itype(tv.t, &tview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "target must hold integer class indices (int8, int16, int32, int64, uint8, "
                     "uint16, uint32 or bool), got %s", ttext.dtype);
        goto error;
    }
    if (lv.t->ndim < 2 || class_dim < -lv.t->ndim || class_dim >= lv.t->ndim) {
        PyErr_Format(PyExc_ValueError,
                     "class_dim=%d is out of range for logits of shape %s (per-image logits are "
                     "(N, C, ...) with images in dim 0)", class_dim, ltext.shape);
        goto error;
    }
    if (class_dim < 0) {
        class_dim += lv.t->ndim;
    }
    if (class_dim == 0) {
        PyErr_Format(PyExc_ValueError,
                     "class_dim=0 is the image dimension of per-image counts; logits of shape %s "
                     "need their classes in another dim", ltext.shape);
        goto error;
    }
    if (lv.t->shape[class_dim] != self->num_classes) {
        PyErr_Format(PyExc_ValueError, "logits of shape %s have %lld classes in dim %d, but "
                     "num_classes=%lld", ltext.shape, (long long)lv.t->shape[class_dim], class_dim,
                     (long long)self->num_classes);
        goto error;
    }
    if (self->num_classes > MUSHIN_PI_MAX_FUSED_CLASSES) {
        PyErr_Format(PyExc_ValueError, "update_logits keeps a per-image matrix and takes at most "
                     "%d classes; pass the argmax to update()", MUSHIN_PI_MAX_FUSED_CLASSES);
        goto error;
    }
    if (mushin_match_logits_target(&lv, &tv, class_dim, &ltext, &ttext, 1, &pixels) < 0) {
        goto error;
    }
    n_img = lv.t->shape[0];
    if (check_batch(self, n_img, pixels, "update_logits()") < 0) {
        goto error;
    }
    dims[0] = dims[1] = (npy_intp)self->num_classes;
    batch = PyArray_ZEROS(2, dims, NPY_INT64, 0);
    scratch = (int64_t *)malloc((size_t)(n_img > 0 ? n_img * PI_ROW(self) : 1) * sizeof(int64_t));
    if (batch == NULL || scratch == NULL) {
        if (batch != NULL) {
            PyErr_NoMemory();
        }
        goto error;
    }
    lview.data = (const char *)lv.t->data + lv.t->byte_offset;
    lview.strides = lv.strides;
    tview.data = (const char *)tv.t->data + tv.t->byte_offset;
    tview.strides = tv.strides;
    Py_BEGIN_ALLOW_THREADS
    status = mushin_perimage_count_logits(scratch, (int64_t *)PyArray_DATA((PyArrayObject *)batch),
                                          self->num_classes, self->has_ignore, self->ignore_index,
                                          lv.t->ndim, lv.t->shape, class_dim, lview, tview, &bad);
    status = append_batch(self, status, scratch, n_img);
    Py_END_ALLOW_THREADS
    free(scratch);
    scratch = NULL;
    if (status != MUSHIN_OK) {
        count_status_error(self, status, &bad, "per-image logits kernel");
        goto error;
    }
    mushin_dlpack_release(&lv);
    mushin_dlpack_release(&tv);
    return batch;
error:
    free(scratch);
    Py_XDECREF(batch);
    mushin_dlpack_release(&lv);
    mushin_dlpack_release(&tv);
    return NULL;
}

/* The counts as a new (N, C, 3) array of the state's dtype; call with the lock held. */
static PyObject *
counts_array(PerImageObject *self)
{
    npy_intp dims[3] = {(npy_intp)self->num_images, (npy_intp)self->num_classes, 3};
    PyObject *out = PyArray_SimpleNew(3, dims, self->wide ? NPY_INT64 : NPY_INT32);
    if (out != NULL && self->num_images > 0) {
        memcpy(PyArray_DATA((PyArrayObject *)out), self->data,
               (size_t)(self->num_images * PI_ROW(self) * PI_ITEM(self)));
    }
    return out;
}

/* merge()/load_state_dict()'s counts: a checked C-contiguous int64 (n, C, 3) array. */
static PyArrayObject *
checked_counts(PerImageObject *self, PyObject *obj, const char *what)
{
    PyArrayObject *given, *out;
    const int64_t *v;
    npy_intp k, n;
    if (obj == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: the state dict has no 'counts'", what);
        return NULL;
    }
    given = (PyArrayObject *)PyArray_FROM_O(obj);
    if (given == NULL) {
        return NULL;
    }
    if (!PyArray_ISINTEGER(given)) {
        PyErr_Format(PyExc_TypeError, "%s: counts must be an array of integers, got dtype %S",
                     what, (PyObject *)PyArray_DESCR(given));
        Py_DECREF(given);
        return NULL;
    }
    if (PyArray_NDIM(given) != 3 || PyArray_DIM(given, 1) != self->num_classes ||
        PyArray_DIM(given, 2) != 3) {
        PyErr_Format(PyExc_ValueError,
                     "%s: counts must have shape (images, %lld, 3) (TP, FP, FN per class), got "
                     "%d dimension(s)%s", what, (long long)self->num_classes,
                     PyArray_NDIM(given),
                     PyArray_NDIM(given) == 3 ? " of another shape" : "");
        Py_DECREF(given);
        return NULL;
    }
    if (PyArray_ISUNSIGNED(given) && PyArray_ITEMSIZE(given) >= 8) {
        /* uint64 past INT64_MAX would wrap when cast: check before */
        PyObject *big = PyArray_SIZE(given) > 0 ? PyArray_Max(given, NPY_RAVEL_AXIS, NULL) : NULL;
        PyObject *big_int = big != NULL ? PyNumber_Long(big) : NULL;
        int too_big = big_int != NULL &&
                      PyLong_AsUnsignedLongLong(big_int) > (unsigned long long)INT64_MAX;
        Py_XDECREF(big);
        Py_XDECREF(big_int);
        if (PyErr_Occurred() || too_big) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s: counts hold a value past int64; nothing was changed",
                         what);
            Py_DECREF(given);
            return NULL;
        }
    }
    out = (PyArrayObject *)PyArray_FROMANY((PyObject *)given, NPY_INT64, 3, 3,
                                           NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                           NPY_ARRAY_FORCECAST);
    Py_DECREF(given);
    if (out == NULL) {
        return NULL;
    }
    v = (const int64_t *)PyArray_DATA(out);
    n = PyArray_SIZE(out);
    for (k = 0; k < n; k++) {
        if (v[k] < 0 || (!self->wide && v[k] > INT32_MAX)) {
            PyErr_Format(PyExc_ValueError,
                         "%s: counts[%lld, %lld, %lld] = %lld is %s; nothing was changed", what,
                         (long long)(k / PI_ROW(self)), (long long)(k / 3 % self->num_classes),
                         (long long)(k % 3), (long long)v[k],
                         v[k] < 0 ? "negative" : "past int32 (this state keeps int32 counts)");
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* The counts of a PerImageCounts, or the 'counts' of a state dict (checked). */
static PyArrayObject *
incoming_counts(PerImageObject *self, PyObject *arg, const char *what)
{
    PyObject *obj;
    if (Py_TYPE(arg) == Py_TYPE(self)) {
        PerImageObject *other = (PerImageObject *)arg;
        PyObject *arr;
        if (other->num_classes != self->num_classes) {
            PyErr_Format(PyExc_ValueError, "%s: the other PerImageCounts has %lld classes, this "
                         "one %lld", what, (long long)other->num_classes,
                         (long long)self->num_classes);
            return NULL;
        }
        if (other == self) {
            arr = counts_array(other);
        }
        else {
            PyThread_acquire_lock(other->lock, WAIT_LOCK);
            arr = counts_array(other);
            PyThread_release_lock(other->lock);
        }
        if (arr == NULL) {
            return NULL;
        }
        obj = arr;
        {
            PyArrayObject *out = checked_counts(self, obj, what);
            Py_DECREF(arr);
            return out;
        }
    }
    if (!PyDict_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s takes a PerImageCounts or its state_dict(), got %.200s",
                     what, Py_TYPE(arg)->tp_name);
        return NULL;
    }
    obj = PyDict_GetItemString(arg, "num_classes");
    if (obj != NULL) {
        long long c = PyLong_AsLongLong(obj);
        if (c == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (c != self->num_classes) {
            PyErr_Format(PyExc_ValueError, "%s: the state dict has num_classes=%lld, this state %lld",
                         what, c, (long long)self->num_classes);
            return NULL;
        }
    }
    return checked_counts(self, PyDict_GetItemString(arg, "counts"), what);
}

/* Append the checked counts `arr` (its reference is taken) after the
 * images already counted, or with `replace` in their place; within the
 * budget, all or nothing.  `what` names the method in messages. */
static PyObject *
take_counts(PerImageObject *self, PyArrayObject *arr, int replace, const char *what)
{
    const int64_t n = (int64_t)PyArray_DIM(arr, 0);
    int64_t old_images;
    int status = MUSHIN_ENOMEM;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    old_images = self->num_images;
    if (check_budget(self, (replace ? 0 : old_images) + n, what) == 0) {
        self->num_images = replace ? 0 : old_images;
        status = append_rows(self, (const int64_t *)PyArray_DATA(arr), n);
        if (status != MUSHIN_OK) {
            self->num_images = old_images;
            PyErr_NoMemory();
        }
    }
    PyThread_release_lock(self->lock);
    Py_DECREF(arr);
    if (status != MUSHIN_OK) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
perimage_merge(PerImageObject *self, PyObject *arg)
{
    PyArrayObject *arr = incoming_counts(self, arg, "merge()");
    return arr == NULL ? NULL : take_counts(self, arr, 0, "merge()");
}

static PyObject *
perimage_load_state_dict(PerImageObject *self, PyObject *arg)
{
    PyArrayObject *arr;
    if (!PyDict_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "load_state_dict() takes a dict (a state_dict()), got %.200s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    arr = incoming_counts(self, arg, "load_state_dict()");
    return arr == NULL ? NULL : take_counts(self, arr, 1, "load_state_dict()");
}

static PyObject *
perimage_state_dict(PerImageObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *arr, *d;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    arr = counts_array(self);
    PyThread_release_lock(self->lock);
    if (arr == NULL) {
        return NULL;
    }
    d = Py_BuildValue("{s:L,s:N}", "num_classes", (long long)self->num_classes, "counts", arr);
    return d;
}

static PyObject *
perimage_reset(PerImageObject *self, PyObject *Py_UNUSED(ignored))
{
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    self->num_images = 0;
    PyThread_release_lock(self->lock);
    Py_RETURN_NONE;
}

static PyObject *
perimage_get_counts(PerImageObject *self, void *Py_UNUSED(closure))
{
    PyObject *arr;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    arr = counts_array(self);
    PyThread_release_lock(self->lock);
    return arr;
}

static PyObject *
perimage_get_num_images(PerImageObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->num_images);
}

static PyObject *
perimage_get_num_classes(PerImageObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->num_classes);
}

static PyObject *
perimage_get_ignore_index(PerImageObject *self, void *Py_UNUSED(closure))
{
    return mushin_ignore_index_object(self->has_ignore, self->ignore_index);
}

static PyObject *
perimage_get_dtype(PerImageObject *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(self->wide ? "int64" : "int32");
}

static PyObject *
perimage_get_max_bytes(PerImageObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->max_bytes);
}

static PyObject *
perimage_get_nbytes(PerImageObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->num_images * PI_ROW(self) * PI_ITEM(self));
}

static PyMethodDef perimage_methods[] = {
    {"update", (PyCFunction)(void (*)(void))perimage_update, METH_FASTCALL, perimage_update_doc},
    {"update_logits", (PyCFunction)(void (*)(void))perimage_update_logits,
     METH_VARARGS | METH_KEYWORDS, perimage_update_logits_doc},
    {"merge", (PyCFunction)perimage_merge, METH_O,
     "merge(other, /)\n--\n\nAppend the images of another PerImageCounts (or of its\n"
     "state_dict()) after these: merging ranks in rank order keeps one order."},
    {"state_dict", (PyCFunction)perimage_state_dict, METH_NOARGS,
     "state_dict()\n--\n\n{'num_classes': C, 'counts': (N, C, 3) array of TP, FP, FN}."},
    {"load_state_dict", (PyCFunction)perimage_load_state_dict, METH_O,
     "load_state_dict(d, /)\n--\n\nReplace the counts by a checked state_dict()."},
    {"reset", (PyCFunction)perimage_reset, METH_NOARGS, "reset()\n--\n\nForget every image."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef perimage_getset[] = {
    {"counts", (getter)perimage_get_counts, NULL, "(N, C, 3) copy: TP, FP, FN per image and class", NULL},
    {"num_images", (getter)perimage_get_num_images, NULL, "images counted", NULL},
    {"num_classes", (getter)perimage_get_num_classes, NULL, "classes", NULL},
    {"ignore_index", (getter)perimage_get_ignore_index, NULL, "the ignored label, or None", NULL},
    {"dtype", (getter)perimage_get_dtype, NULL, "'int64' or 'int32'", NULL},
    {"max_bytes", (getter)perimage_get_max_bytes, NULL, "the memory budget of the counts", NULL},
    {"nbytes", (getter)perimage_get_nbytes, NULL, "bytes the counts take", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(perimage_doc,
"PerImageCounts(num_classes, ignore_index=None, dtype='int64', max_bytes=2**30)\n--\n\n"
"Per-image, per-class true positives, false positives and false negatives\n"
"of a segmentation evaluation: N images x C classes x 3 counts, image i\n"
"being the i-th entry of dimension 0 over the batches in order.  Summed\n"
"over images they are the diagonal, column and row sums of the confusion\n"
"matrix, so every segmentation metric can be recomputed on any subset or\n"
"resample of images.  Refuses (ValueError) to grow past ``max_bytes``.");

static PyType_Slot perimage_slots[] = {
    {Py_tp_new, perimage_new},
    {Py_tp_dealloc, perimage_dealloc},
    {Py_tp_methods, perimage_methods},
    {Py_tp_getset, perimage_getset},
    {Py_tp_doc, (void *)perimage_doc},
    {0, NULL},
};

static PyType_Spec perimage_spec = {
    "mushin._core.PerImageCounts", sizeof(PerImageObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE, perimage_slots,
};

int
mushin_perimage_add(PyObject *module)
{
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return mushin_glue_add_type(module, &perimage_spec, NULL);
}
