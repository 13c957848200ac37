/*
 * _core.c -- the one file of mushin that includes Python.h.
 *
 * It consumes tensors through DLPack, checks every argument with the GIL
 * held, allocates outputs, releases the GIL only around the plain-C kernels
 * of csrc/, and builds Python results afterwards.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"

/* ------------------------------------------------------------- DLPack -- */
/* The subset of dlpack.h (v1.0) this consumer reads; layout must match. */

typedef struct {
    int32_t device_type;
    int32_t device_id;
} DLDevice;

typedef struct {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
} DLDataType;

typedef struct {
    void *data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape;
    int64_t *strides;
    uint64_t byte_offset;
} DLTensor;

typedef struct DLManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensor *self);
} DLManagedTensor;

typedef struct {
    uint32_t major;
    uint32_t minor;
} DLPackVersion;

typedef struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
} DLManagedTensorVersioned;

enum { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLComplex = 5, kDLBool = 6 };
enum { kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3 };

#define MUSHIN_DLPACK_MAJOR 1

/* A borrowed DLPack tensor; `release_dlpack` calls its deleter once. */
typedef struct {
    PyObject *capsule;
    DLManagedTensor *legacy;
    DLManagedTensorVersioned *versioned;
    DLTensor *t;
    int64_t strides[MUSHIN_MAX_NDIM]; /* bytes */
} dl_view;

static const char *
device_name(int32_t type)
{
    switch (type) {
    case 1: return "cpu";
    case 2: return "cuda";
    case 3: return "cuda_host";
    case 4: return "opencl";
    case 7: return "vulkan";
    case 8: return "metal";
    case 9: return "vpi";
    case 10: return "rocm";
    case 11: return "rocm_host";
    case 12: return "ext_dev";
    case 13: return "cuda_managed";
    case 14: return "oneapi";
    case 15: return "webgpu";
    case 16: return "hexagon";
    case 17: return "maia";
    default: return "unknown";
    }
}

static void
dtype_name(DLDataType dt, char *buf, size_t len)
{
    const char *base;
    switch (dt.code) {
    case kDLInt: base = "int"; break;
    case kDLUInt: base = "uint"; break;
    case kDLFloat: base = "float"; break;
    case kDLBfloat: base = "bfloat"; break;
    case kDLComplex: base = "complex"; break;
    case kDLBool: PyOS_snprintf(buf, len, "bool"); return;
    default: base = "code"; break;
    }
    if (dt.lanes != 1) {
        PyOS_snprintf(buf, len, "%s%ux%u", base, dt.bits, dt.lanes);
    }
    else {
        PyOS_snprintf(buf, len, "%s%u", base, dt.bits);
    }
}

static void
release_dlpack(dl_view *v)
{
    if (v->versioned != NULL) {
        if (v->versioned->deleter != NULL) {
            v->versioned->deleter(v->versioned);
        }
        v->versioned = NULL;
    }
    if (v->legacy != NULL) {
        if (v->legacy->deleter != NULL) {
            v->legacy->deleter(v->legacy);
        }
        v->legacy = NULL;
    }
    Py_CLEAR(v->capsule);
    v->t = NULL;
}

/* Ask obj for a DLPack capsule: versioned first, legacy on TypeError.
 * Objects without __dlpack__ go through numpy.asarray first. */
static PyObject *
call_dlpack(PyObject *obj)
{
    PyObject *method = NULL, *kwargs = NULL, *args = NULL, *version = NULL;
    PyObject *capsule = NULL, *arr = NULL;

    if (!PyObject_HasAttrString(obj, "__dlpack__")) {
        arr = PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0, NPY_ARRAY_DEFAULT);
        if (arr == NULL) {
            return NULL;
        }
        obj = arr;
    }
    method = PyObject_GetAttrString(obj, "__dlpack__");
    if (method == NULL) {
        goto error;
    }
    version = Py_BuildValue("(ii)", MUSHIN_DLPACK_MAJOR, 0);
    kwargs = PyDict_New();
    args = PyTuple_New(0);
    if (version == NULL || kwargs == NULL || args == NULL ||
        PyDict_SetItemString(kwargs, "max_version", version) < 0) {
        goto error;
    }
    capsule = PyObject_Call(method, args, kwargs);
    if (capsule == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
        /* a producer that predates DLPack 1.0 takes no max_version */
        PyErr_Clear();
        capsule = PyObject_CallNoArgs(method);
    }
error:
    Py_XDECREF(method);
    Py_XDECREF(kwargs);
    Py_XDECREF(args);
    Py_XDECREF(version);
    Py_XDECREF(arr);
    return capsule;
}

/* Fill v from obj; on failure sets an exception and leaves v released. */
static int
acquire_dlpack(PyObject *obj, const char *what, dl_view *v)
{
    int i;
    memset(v, 0, sizeof(*v));
    v->capsule = call_dlpack(obj);
    if (v->capsule == NULL) {
        return -1;
    }
    if (PyCapsule_IsValid(v->capsule, "dltensor_versioned")) {
        v->versioned = (DLManagedTensorVersioned *)PyCapsule_GetPointer(
            v->capsule, "dltensor_versioned");
        if (v->versioned == NULL ||
            PyCapsule_SetName(v->capsule, "used_dltensor_versioned") < 0) {
            v->versioned = NULL;
            goto error;
        }
        if (v->versioned->version.major > MUSHIN_DLPACK_MAJOR) {
            PyErr_Format(PyExc_BufferError,
                         "%s: DLPack version %u.%u is newer than the %d.x this "
                         "build of mushin reads",
                         what, v->versioned->version.major,
                         v->versioned->version.minor, MUSHIN_DLPACK_MAJOR);
            goto error;
        }
        v->t = &v->versioned->dl_tensor;
    }
    else if (PyCapsule_IsValid(v->capsule, "dltensor")) {
        v->legacy = (DLManagedTensor *)PyCapsule_GetPointer(v->capsule, "dltensor");
        if (v->legacy == NULL ||
            PyCapsule_SetName(v->capsule, "used_dltensor") < 0) {
            v->legacy = NULL;
            goto error;
        }
        v->t = &v->legacy->dl_tensor;
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "%s: __dlpack__ returned %.200s, not a DLPack capsule",
                     what, Py_TYPE(v->capsule)->tp_name);
        goto error;
    }
    if (v->t->ndim < 0 || v->t->ndim > MUSHIN_MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "%s has %d dimensions; at most %d are supported",
                     what, (int)v->t->ndim, MUSHIN_MAX_NDIM);
        goto error;
    }
    if (v->t->dtype.lanes != 1) {
        PyErr_Format(PyExc_TypeError, "%s has vector dtype lanes=%u; only scalar "
                     "elements are supported", what, v->t->dtype.lanes);
        goto error;
    }
    for (i = 0; i < v->t->ndim; i++) {
        const int64_t bytes = v->t->dtype.bits / 8;
        if (v->t->strides != NULL) {
            v->strides[i] = v->t->strides[i] * bytes;
        }
    }
    if (v->t->strides == NULL) {
        /* compact row-major */
        int64_t s = v->t->dtype.bits / 8;
        for (i = v->t->ndim - 1; i >= 0; i--) {
            v->strides[i] = s;
            s *= v->t->shape[i];
        }
    }
    return 0;
error:
    release_dlpack(v);
    return -1;
}

static int
dl_itype(const DLTensor *t, mushin_itype *out)
{
    if (t->dtype.code == kDLInt) {
        switch (t->dtype.bits) {
        case 8: *out = MUSHIN_INT8; return 0;
        case 16: *out = MUSHIN_INT16; return 0;
        case 32: *out = MUSHIN_INT32; return 0;
        case 64: *out = MUSHIN_INT64; return 0;
        }
    }
    else if (t->dtype.code == kDLUInt) {
        switch (t->dtype.bits) {
        case 8: *out = MUSHIN_UINT8; return 0;
        case 16: *out = MUSHIN_UINT16; return 0;
        case 32: *out = MUSHIN_UINT32; return 0;
        }
    }
    else if (t->dtype.code == kDLBool && t->dtype.bits == 8) {
        *out = MUSHIN_UINT8;
        return 0;
    }
    return -1;
}

static void
format_shape(const DLTensor *t, char *buf, size_t len)
{
    size_t used = 0;
    int i;
    used += (size_t)PyOS_snprintf(buf, len, "(");
    for (i = 0; i < t->ndim && used < len; i++) {
        used += (size_t)PyOS_snprintf(buf + used, len - used, i ? ", %lld" : "%lld",
                                      (long long)t->shape[i]);
    }
    if (used < len) {
        PyOS_snprintf(buf + used, len - used, t->ndim == 1 ? ",)" : ")");
    }
}

static int
is_host_memory(const DLTensor *t)
{
    return t->device.device_type == kDLCPU || t->device.device_type == kDLCUDAHost;
}

/* ---------------------------------------------------- ConfusionMatrix -- */

typedef struct {
    PyObject_HEAD
    int64_t num_classes;
    int has_ignore;
    int64_t ignore_index;
    int64_t *counts;            /* num_classes^2, row = target, col = prediction */
    PyThread_type_lock lock;    /* guards counts; taken without the GIL */
} ConfusionMatrixObject;

static void
cm_lock(ConfusionMatrixObject *self)
{
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
}

static void
cm_unlock(ConfusionMatrixObject *self)
{
    PyThread_release_lock(self->lock);
}

static PyObject *
ConfusionMatrix_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"num_classes", "ignore_index", NULL};
    long long num_classes;
    PyObject *ignore = Py_None;
    ConfusionMatrixObject *self;
    long long ignore_value = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|O:ConfusionMatrix", kwlist,
                                     &num_classes, &ignore)) {
        return NULL;
    }
    if (num_classes < 1 || num_classes > (1LL << 16)) {
        PyErr_Format(PyExc_ValueError,
                     "num_classes must be between 1 and 65536, got %lld", num_classes);
        return NULL;
    }
    if (ignore != Py_None) {
        if (!PyLong_Check(ignore) || PyBool_Check(ignore)) {
            PyErr_Format(PyExc_TypeError, "ignore_index must be an int or None, got %.200s",
                         Py_TYPE(ignore)->tp_name);
            return NULL;
        }
        ignore_value = PyLong_AsLongLong(ignore);
        if (ignore_value == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    self = (ConfusionMatrixObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->num_classes = num_classes;
    self->has_ignore = ignore != Py_None;
    self->ignore_index = ignore_value;
    self->counts = (int64_t *)calloc((size_t)(num_classes * num_classes), sizeof(int64_t));
    self->lock = PyThread_allocate_lock();
    if (self->counts == NULL || self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
ConfusionMatrix_dealloc(ConfusionMatrixObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    free(self->counts);
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
bad_value_error(ConfusionMatrixObject *self, const mushin_bad_values *bad)
{
    char ign[96] = "";
    char preds_msg[320] = "", target_msg[320] = "";
    if (self->has_ignore) {
        PyOS_snprintf(ign, sizeof(ign), " %s not ignore_index=%lld",
                      bad->target_bad == 1 ? "that is" : "that are",
                      (long long)self->ignore_index);
    }
    if (bad->target_bad) {
        PyOS_snprintf(target_msg, sizeof(target_msg),
                      "target holds %lld value%s outside [0, %lld)%s "
                      "(first: %lld at flat index %lld)",
                      (long long)bad->target_bad, bad->target_bad == 1 ? "" : "s",
                      (long long)self->num_classes, ign,
                      (long long)bad->target_first, (long long)bad->target_first_pos);
    }
    if (bad->preds_bad) {
        PyOS_snprintf(preds_msg, sizeof(preds_msg),
                      "preds holds %lld value%s outside [0, %lld) "
                      "(first: %lld at flat index %lld)%s",
                      (long long)bad->preds_bad, bad->preds_bad == 1 ? "" : "s",
                      (long long)self->num_classes, (long long)bad->preds_first,
                      (long long)bad->preds_first_pos,
                      self->has_ignore ? "; a prediction may equal ignore_index "
                                         "only where the target is ignored" : "");
    }
    PyErr_Format(PyExc_ValueError, "%s%s%s; the confusion matrix was not changed",
                 target_msg, (bad->target_bad && bad->preds_bad) ? "; " : "",
                 preds_msg);
    return NULL;
}

PyDoc_STRVAR(update_doc,
"update(preds, target, /)\n--\n\n"
"Count one batch of class-index predictions against labels.\n\n"
"Both arguments are DLPack producers (torch, NumPy, JAX, ...) in CPU memory\n"
"with the same shape and any integer dtype; strides and offsets are honoured.\n"
"Positions whose target equals ``ignore_index`` are skipped.  Any other value\n"
"outside ``[0, num_classes)`` raises ``ValueError`` and leaves the counts as\n"
"they were.  The counting runs without the GIL.");

static PyObject *
ConfusionMatrix_update(ConfusionMatrixObject *self, PyObject *const *args,
                       Py_ssize_t nargs)
{
    dl_view pv, tv;
    mushin_index_view pview, tview;
    mushin_bad_values bad;
    char pdt[32], tdt[32], pshape[256], tshape[256];
    int64_t n = 1, nn = self->num_classes * self->num_classes;
    int64_t *scratch = NULL;
    int status = MUSHIN_OK, i;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "update() takes 2 arguments (preds, target), got %zd",
                     nargs);
        return NULL;
    }
    if (acquire_dlpack(args[0], "preds", &pv) < 0) {
        return NULL;
    }
    if (acquire_dlpack(args[1], "target", &tv) < 0) {
        release_dlpack(&pv);
        return NULL;
    }
    dtype_name(pv.t->dtype, pdt, sizeof(pdt));
    dtype_name(tv.t->dtype, tdt, sizeof(tdt));
    if (!is_host_memory(pv.t) || !is_host_memory(tv.t)) {
        PyErr_Format(PyExc_ValueError,
                     "ConfusionMatrix.update reads host memory, but preds is on %s:%d "
                     "and target is on %s:%d; move both to the CPU",
                     device_name(pv.t->device.device_type), (int)pv.t->device.device_id,
                     device_name(tv.t->device.device_type), (int)tv.t->device.device_id);
        goto error;
    }
    if (dl_itype(pv.t, &pview.type) < 0 || dl_itype(tv.t, &tview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "class indices must have an integer dtype (int8, int16, int32, "
                     "int64, uint8, uint16, uint32 or bool), got preds %s and target %s%s",
                     pdt, tdt,
                     (pv.t->dtype.code == kDLFloat || pv.t->dtype.code == kDLBfloat)
                         ? "; take the argmax of logits or probabilities first" : "");
        goto error;
    }
    format_shape(pv.t, pshape, sizeof(pshape));
    format_shape(tv.t, tshape, sizeof(tshape));
    if (pv.t->ndim != tv.t->ndim) {
        PyErr_Format(PyExc_ValueError, "preds shape %s does not match target shape %s",
                     pshape, tshape);
        goto error;
    }
    for (i = 0; i < pv.t->ndim; i++) {
        if (pv.t->shape[i] != tv.t->shape[i]) {
            PyErr_Format(PyExc_ValueError, "preds shape %s does not match target shape %s",
                         pshape, tshape);
            goto error;
        }
        n *= pv.t->shape[i];
    }
    pview.data = (const char *)pv.t->data + pv.t->byte_offset;
    pview.strides = pv.strides;
    tview.data = (const char *)tv.t->data + tv.t->byte_offset;
    tview.strides = tv.strides;

    if (n >= nn / 4) {
        /* One pass into private scratch, merged only if every value was valid:
         * concurrent updates count in parallel and share only the merge. */
        scratch = (int64_t *)calloc((size_t)nn, sizeof(int64_t));
        if (scratch == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        Py_BEGIN_ALLOW_THREADS
        status = mushin_confusion_count(scratch, self->num_classes, self->has_ignore,
                                        self->ignore_index, pv.t->ndim, pv.t->shape,
                                        pview, tview, &bad);
        if (status == MUSHIN_OK) {
            cm_lock(self);
            mushin_counts_add(self->counts, scratch, nn);
            cm_unlock(self);
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
            cm_lock(self);
            status = mushin_confusion_count(self->counts, self->num_classes,
                                            self->has_ignore, self->ignore_index,
                                            pv.t->ndim, pv.t->shape, pview, tview, &bad);
            cm_unlock(self);
        }
        Py_END_ALLOW_THREADS
    }
    free(scratch);
    if (status == MUSHIN_EBADVALUE) {
        bad_value_error(self, &bad);
        goto error;
    }
    if (status != MUSHIN_OK) {
        PyErr_Format(PyExc_SystemError, "confusion kernel failed with status %d", status);
        goto error;
    }
    release_dlpack(&pv);
    release_dlpack(&tv);
    Py_RETURN_NONE;
error:
    release_dlpack(&pv);
    release_dlpack(&tv);
    return NULL;
}

PyDoc_STRVAR(merge_doc,
"merge(counts, /)\n--\n\n"
"Add a (num_classes, num_classes) array of non-negative int64 counts,\n"
"e.g. another accumulator's ``counts`` or an all-reduced sum.");

static PyObject *
ConfusionMatrix_merge(ConfusionMatrixObject *self, PyObject *arg)
{
    PyArrayObject *arr;
    const int64_t *data;
    npy_intp i, nn;
    arr = (PyArrayObject *)PyArray_FROMANY(arg, NPY_INT64, 2, 2,
                                           NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (arr == NULL) {
        return NULL;
    }
    if (PyArray_DIM(arr, 0) != self->num_classes || PyArray_DIM(arr, 1) != self->num_classes) {
        PyErr_Format(PyExc_ValueError, "merge() needs a (%lld, %lld) array, got (%lld, %lld)",
                     (long long)self->num_classes, (long long)self->num_classes,
                     (long long)PyArray_DIM(arr, 0), (long long)PyArray_DIM(arr, 1));
        Py_DECREF(arr);
        return NULL;
    }
    data = (const int64_t *)PyArray_DATA(arr);
    nn = PyArray_SIZE(arr);
    for (i = 0; i < nn; i++) {
        if (data[i] < 0) {
            PyErr_Format(PyExc_ValueError, "merge() counts must be non-negative, "
                         "got %lld at flat index %lld", (long long)data[i], (long long)i);
            Py_DECREF(arr);
            return NULL;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    cm_lock(self);
    mushin_counts_add(self->counts, data, nn);
    cm_unlock(self);
    Py_END_ALLOW_THREADS
    Py_DECREF(arr);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(reset_doc, "reset()\n--\n\nSet every count back to zero.");

static PyObject *
ConfusionMatrix_reset(ConfusionMatrixObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    cm_lock(self);
    memset(self->counts, 0, (size_t)(self->num_classes * self->num_classes) * sizeof(int64_t));
    cm_unlock(self);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
ConfusionMatrix_get_counts(ConfusionMatrixObject *self, void *Py_UNUSED(closure))
{
    npy_intp dims[2] = {(npy_intp)self->num_classes, (npy_intp)self->num_classes};
    PyObject *out = PyArray_SimpleNew(2, dims, NPY_INT64);
    int64_t *dst;
    if (out == NULL) {
        return NULL;
    }
    dst = (int64_t *)PyArray_DATA((PyArrayObject *)out);
    Py_BEGIN_ALLOW_THREADS
    cm_lock(self);
    memcpy(dst, self->counts, (size_t)(dims[0] * dims[1]) * sizeof(int64_t));
    cm_unlock(self);
    Py_END_ALLOW_THREADS
    return out;
}

static PyObject *
ConfusionMatrix_get_num_classes(ConfusionMatrixObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->num_classes);
}

static PyObject *
ConfusionMatrix_get_ignore_index(ConfusionMatrixObject *self, void *Py_UNUSED(closure))
{
    if (!self->has_ignore) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(self->ignore_index);
}

static PyObject *
ConfusionMatrix_repr(ConfusionMatrixObject *self)
{
    if (self->has_ignore) {
        return PyUnicode_FromFormat("ConfusionMatrix(num_classes=%lld, ignore_index=%lld)",
                                    (long long)self->num_classes,
                                    (long long)self->ignore_index);
    }
    return PyUnicode_FromFormat("ConfusionMatrix(num_classes=%lld)",
                                (long long)self->num_classes);
}

static PyMethodDef ConfusionMatrix_methods[] = {
    {"update", (PyCFunction)(void (*)(void))ConfusionMatrix_update, METH_FASTCALL, update_doc},
    {"merge", (PyCFunction)ConfusionMatrix_merge, METH_O, merge_doc},
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
    {NULL, NULL, NULL, NULL, NULL}
};

PyDoc_STRVAR(ConfusionMatrix_doc,
"ConfusionMatrix(num_classes, ignore_index=None)\n--\n\n"
"Streaming int64 confusion matrix, rows = target class, columns = prediction.\n\n"
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

/* --------------------------------------------------------- statistics -- */

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

PyDoc_STRVAR(welch_ttest_doc,
"welch_ttest(a, b, /)\n--\n\n"
"Welch's two-sided t-test.  Returns (statistic, df, pvalue, mean_diff,\n"
"cohens_d); undefined entries are NaN.");

static PyObject *
py_welch_ttest(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyArrayObject *a = NULL, *b = NULL;
    mushin_ttest_result r;
    const double *ad, *bd;
    int64_t na, nb;
    if (!PyArg_ParseTuple(args, "O&O&:welch_ttest", as_float_vector, &a, as_float_vector, &b)) {
        return NULL;
    }
    ad = (const double *)PyArray_DATA(a);
    bd = (const double *)PyArray_DATA(b);
    na = PyArray_SIZE(a);
    nb = PyArray_SIZE(b);
    Py_BEGIN_ALLOW_THREADS
    mushin_welch_ttest(ad, na, bd, nb, &r);
    Py_END_ALLOW_THREADS
    Py_DECREF(a);
    Py_DECREF(b);
    return Py_BuildValue("(ddddd)", r.statistic, r.df, r.pvalue, r.mean_diff, r.effect_size);
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

static PyObject *
py_holm(PyObject *Py_UNUSED(module), PyObject *arg)
{
    PyArrayObject *p = NULL;
    PyObject *out = NULL;
    int64_t *order = NULL;
    npy_intp n;
    int status;
    if (!as_float_vector(arg, &p)) {
        return NULL;
    }
    n = PyArray_SIZE(p);
    out = PyArray_SimpleNew(1, &n, NPY_DOUBLE);
    order = (int64_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (out == NULL || order == NULL) {
        if (order == NULL) PyErr_NoMemory();
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_holm((const double *)PyArray_DATA(p), n,
                         (double *)PyArray_DATA((PyArrayObject *)out), order);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        PyErr_SetString(PyExc_ValueError, "p-values must lie in [0, 1] or be NaN");
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

#define SCALAR2(pyname, cfunc, doc)                                          \
    static PyObject *pyname(PyObject *Py_UNUSED(m), PyObject *args)          \
    {                                                                        \
        double x, y, r;                                                      \
        if (!PyArg_ParseTuple(args, "dd:" #cfunc, &x, &y)) return NULL;      \
        r = cfunc(x, y);                                                     \
        return PyFloat_FromDouble(r);                                        \
    }

SCALAR2(py_t_cdf, mushin_t_cdf, "")
SCALAR2(py_t_sf, mushin_t_sf, "")
SCALAR2(py_t_ppf, mushin_t_ppf, "")

static PyObject *
py_betainc(PyObject *Py_UNUSED(m), PyObject *args)
{
    double a, b, x;
    if (!PyArg_ParseTuple(args, "ddd:betainc", &a, &b, &x)) {
        return NULL;
    }
    return PyFloat_FromDouble(mushin_betainc(a, b, x, 1.0 - x));
}

static PyMethodDef core_methods[] = {
    {"welch_ttest", py_welch_ttest, METH_VARARGS, welch_ttest_doc},
    {"cohens_d", py_cohens_d, METH_VARARGS, cohens_d_doc},
    {"mean_ci", py_mean_ci, METH_VARARGS, mean_ci_doc},
    {"holm", py_holm, METH_O, holm_doc},
    {"t_cdf", py_t_cdf, METH_VARARGS, "t_cdf(t, df, /)\n--\n\nStudent-t CDF."},
    {"t_sf", py_t_sf, METH_VARARGS, "t_sf(t, df, /)\n--\n\nStudent-t survival function."},
    {"t_ppf", py_t_ppf, METH_VARARGS, "t_ppf(q, df, /)\n--\n\nStudent-t quantile."},
    {"betainc", py_betainc, METH_VARARGS,
     "betainc(a, b, x, /)\n--\n\nRegularized incomplete beta function I_x(a, b)."},
    {NULL, NULL, 0, NULL}
};

/* ------------------------------------------------------------- module -- */

typedef struct {
    PyObject *confusion_type;
} core_state;

static int
core_exec(PyObject *module)
{
    core_state *st = (core_state *)PyModule_GetState(module);
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    st->confusion_type = PyType_FromModuleAndSpec(module, &ConfusionMatrix_spec, NULL);
    if (st->confusion_type == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "ConfusionMatrix", st->confusion_type) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "DLPACK_MAJOR_VERSION", MUSHIN_DLPACK_MAJOR) < 0) {
        return -1;
    }
    return 0;
}

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    core_state *st = (core_state *)PyModule_GetState(module);
    Py_VISIT(st->confusion_type);
    return 0;
}

static int
core_clear(PyObject *module)
{
    core_state *st = (core_state *)PyModule_GetState(module);
    Py_CLEAR(st->confusion_type);
    return 0;
}

static void
core_free(void *module)
{
    core_clear((PyObject *)module);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL}
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mushin._core",
    .m_doc = "mushin's C core: DLPack-fed confusion matrices and statistics.",
    .m_size = sizeof(core_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
