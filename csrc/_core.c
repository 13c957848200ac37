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
#include "scores.h"

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
    /* Deleters and capsule destructors may run Python code (a NumPy owner's
     * refcount reaching zero, a producer written with ctypes); an error this
     * call is about to raise must not be visible to, or cleared by, them. */
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *pending = PyErr_GetRaisedException();
#else
    PyObject *pending_type, *pending_value, *pending_tb;
    PyErr_Fetch(&pending_type, &pending_value, &pending_tb);
#endif
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
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(pending);
#else
    PyErr_Restore(pending_type, pending_value, pending_tb);
#endif
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

/*
 * A producer's DLTensor is foreign memory that the kernels will index with
 * shape x strides, so it is checked before anything reads through it: a
 * NULL shape, negative extents, element counts or byte extents that do not
 * fit in int64 (or the address space), and NULL data with elements would
 * each make a kernel read out of bounds.  Sets BufferError naming `what`.
 */
static int
check_dltensor(const DLTensor *t, const char *what)
{
    int64_t elements = 1, span = 0, itemsize;
    uint64_t below = 0, above = 0; /* bytes reached before / after the first element */
    int i, empty = 0;
    if (t->ndim < 0 || t->ndim > MUSHIN_MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "%s has %d dimensions; at most %d are supported",
                     what, (int)t->ndim, MUSHIN_MAX_NDIM);
        return -1;
    }
    if (t->dtype.lanes != 1) {
        PyErr_Format(PyExc_TypeError, "%s has vector dtype lanes=%u; only scalar "
                     "elements are supported", what, t->dtype.lanes);
        return -1;
    }
    if (t->dtype.bits == 0 || t->dtype.bits % 8 != 0) {
        PyErr_Format(PyExc_BufferError,
                     "%s: the DLPack producer reports %u-bit elements; only whole bytes "
                     "are supported", what, (unsigned)t->dtype.bits);
        return -1;
    }
    itemsize = t->dtype.bits / 8;
    if (t->ndim > 0 && t->shape == NULL) {
        PyErr_Format(PyExc_BufferError,
                     "%s: the DLPack producer's tensor has %d dimensions but a NULL shape "
                     "pointer; the producer is broken (pass a NumPy array or torch tensor "
                     "instead)", what, (int)t->ndim);
        return -1;
    }
    for (i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) {
            PyErr_Format(PyExc_BufferError,
                         "%s: the DLPack producer's tensor has a negative extent %lld in "
                         "dimension %d", what, (long long)t->shape[i], i);
            return -1;
        }
        if (t->shape[i] == 0) {
            empty = 1;
        }
    }
    for (i = 0; i < t->ndim; i++) {
        int64_t stride = t->strides != NULL ? t->strides[i] : 1, extent, abs_stride;
        if (!empty && __builtin_mul_overflow(elements, t->shape[i], &elements)) {
            PyErr_Format(PyExc_BufferError,
                         "%s: the DLPack producer's tensor has more elements than fit in "
                         "int64 (overflow at dimension %d of extent %lld)",
                         what, i, (long long)t->shape[i]);
            return -1;
        }
        if (stride == INT64_MIN) {
            stride = INT64_MAX; /* caught as an overflow just below */
        }
        abs_stride = stride < 0 ? -stride : stride;
        /* the furthest element from the start, in bytes; the kernels add
         * such offsets to the data pointer, so they must stay far from any
         * int64 / size_t overflow */
        if (t->shape[i] > 0 &&
            (__builtin_mul_overflow(abs_stride, itemsize, &abs_stride) ||
             __builtin_mul_overflow(abs_stride, t->shape[i] - 1, &extent) ||
             __builtin_add_overflow(span, extent, &span) ||
             (uint64_t)span > (uint64_t)(SIZE_MAX / 2))) {
            PyErr_Format(PyExc_BufferError,
                         "%s: the DLPack producer's tensor spans more bytes than fit in "
                         "the address space (shape and strides overflow at dimension %d)",
                         what, i);
            return -1;
        }
    }
    if (empty) {
        elements = 0;
    }
    else if (t->strides != NULL) {
        /* span bounds each sum below, so none of them overflows */
        for (i = 0; i < t->ndim; i++) {
            const uint64_t reach = (uint64_t)(t->strides[i] < 0 ? -t->strides[i] : t->strides[i]) *
                                   (uint64_t)itemsize * (uint64_t)(t->shape[i] - 1);
            if (t->strides[i] < 0) below += reach; else above += reach;
        }
    }
    if (t->strides == NULL && !empty &&
        (__builtin_mul_overflow(elements, itemsize, &span) ||
         (uint64_t)span > (uint64_t)(SIZE_MAX / 2))) {
        PyErr_Format(PyExc_BufferError,
                     "%s: the DLPack producer's tensor holds %lld elements of %lld bytes, "
                     "more than fit in the address space", what, (long long)elements,
                     (long long)itemsize);
        return -1;
    }
    if (t->byte_offset > (uint64_t)(SIZE_MAX / 2)) {
        PyErr_Format(PyExc_BufferError,
                     "%s: the DLPack producer's byte_offset %llu is beyond the address space",
                     what, (unsigned long long)t->byte_offset);
        return -1;
    }
    if (elements > 0 && t->data != NULL) {
        /* the addresses the kernels form, data + byte_offset +- reach, must
         * not wrap around the address space */
        const uint64_t start = (uint64_t)(uintptr_t)t->data;
        const uint64_t extent = t->strides == NULL ? (uint64_t)(elements * itemsize) : above;
        if (start > UINT64_MAX - t->byte_offset || start + t->byte_offset < below ||
            start + t->byte_offset > UINT64_MAX - extent) {
            PyErr_Format(PyExc_BufferError,
                         "%s: the DLPack producer's data pointer, byte_offset %llu and strides "
                         "reach outside the address space", what,
                         (unsigned long long)t->byte_offset);
            return -1;
        }
    }
    if (t->data == NULL && elements > 0) {
        PyErr_Format(PyExc_BufferError,
                     "%s: the DLPack producer's tensor has %lld elements but a NULL data "
                     "pointer", what, (long long)elements);
        return -1;
    }
    return 0;
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
    if (check_dltensor(v->t, what) < 0) {
        goto error;
    }
    {
        const int64_t bytes = v->t->dtype.bits / 8;
        if (v->t->strides != NULL) {
            /* check_dltensor proved every |stride| * itemsize fits */
            for (i = 0; i < v->t->ndim; i++) {
                v->strides[i] = v->t->strides[i] * bytes;
            }
        }
        else {
            /* compact row-major; products bounded by check_dltensor */
            int64_t s = bytes;
            for (i = v->t->ndim - 1; i >= 0; i--) {
                v->strides[i] = s;
                if (v->t->shape[i] > 0) {
                    s *= v->t->shape[i];
                }
            }
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

static int
dl_ftype(const DLTensor *t, mushin_ftype *out)
{
    if (t->dtype.code == kDLFloat) {
        switch (t->dtype.bits) {
        case 16: *out = MUSHIN_FLOAT16; return 0;
        case 32: *out = MUSHIN_FLOAT32; return 0;
        case 64: *out = MUSHIN_FLOAT64; return 0;
        }
    }
    else if (t->dtype.code == kDLBfloat && t->dtype.bits == 16) {
        *out = MUSHIN_BFLOAT16;
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
    int64_t total_bound;        /* >= sum(counts): exact after merge/reset, + batch sizes */
    PyThread_type_lock lock;    /* guards counts and total_bound; taken without the GIL */
    int num_threads;            /* 0: follow mushin.threads.get_num_threads() */
} ConfusionMatrixObject;

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

/*
 * The threads an update with `work` units may use: the matrix's own
 * num_threads, else mushin.threads.get_num_threads() (which follows
 * torch.get_num_threads() unless mushin.set_num_threads was called).  That
 * is asked only when the work is large enough to use a second thread, so
 * small updates never call back into Python.
 */
static int
cm_thread_budget(ConfusionMatrixObject *self, int64_t work, int *out)
{
    PyObject *module, *value;
    long n;
    *out = 1;
    if (self->num_threads > 0) {
        *out = self->num_threads;
        return 0;
    }
    if (work < 2 * MUSHIN_MIN_WORK_PER_THREAD) {
        return 0;
    }
    module = PyImport_ImportModule("mushin.threads");
    if (module == NULL) {
        return -1;
    }
    value = PyObject_CallMethod(module, "get_num_threads", NULL);
    Py_DECREF(module);
    if (value == NULL) {
        return -1;
    }
    n = PyLong_AsLong(value);
    Py_DECREF(value);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = n < 1 ? 1 : (n > MUSHIN_MAX_THREADS ? MUSHIN_MAX_THREADS : (int)n);
    return 0;
}

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

/* An update adds at most n counts.  Refuse one that could carry the total
 * past INT64_MAX -- reachable only after merging counts near 2^63 -- so no
 * cell and no sum a metric takes can wrap.  Call with the lock held. */
static int
cm_reserve(ConfusionMatrixObject *self, int64_t n)
{
    if (self->total_bound > INT64_MAX - n) {
        return MUSHIN_EOVERFLOW;
    }
    self->total_bound += n;
    return MUSHIN_OK;
}

static PyObject *
ConfusionMatrix_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"num_classes", "ignore_index", "num_threads", NULL};
    long long num_classes;
    PyObject *classes_obj, *ignore = Py_None, *threads = Py_None;
    ConfusionMatrixObject *self;
    long long ignore_value = 0;
    int num_threads = 0;

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
        PyErr_Format(PyExc_TypeError, "ignore_index must be an int or None, got %.200s",
                     Py_TYPE(ignore)->tp_name);
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
    self->num_threads = num_threads;
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
    int status = MUSHIN_OK, i, num_threads = 1;

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
        if (cm_thread_budget(self, n, &num_threads) < 0) {
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
            cm_lock(self);
            status = cm_reserve(self, n);
            if (status == MUSHIN_OK) {
                mushin_counts_add(self->counts, scratch, nn);
            }
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
            status = cm_reserve(self, n);
            if (status == MUSHIN_OK) {
                status = mushin_confusion_count(self->counts, self->num_classes,
                                            self->has_ignore, self->ignore_index,
                                                pv.t->ndim, pv.t->shape, pview, tview,
                                                &bad);
            }
            cm_unlock(self);
        }
        Py_END_ALLOW_THREADS
    }
    free(scratch);
    if (status == MUSHIN_EBADVALUE) {
        bad_value_error(self, &bad);
        goto error;
    }
    if (status == MUSHIN_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError,
                        "update(): adding this batch could carry the int64 counts past 2**63 - 1; "
                        "nothing was added (the matrix already holds close to 2**63 samples: "
                        "were corrupted counts merged?)");
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

/* update_logits(): the fused path (csrc/logits.c). */

PyDoc_STRVAR(update_logits_doc,
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

static PyObject *
ConfusionMatrix_update_logits(ConfusionMatrixObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"", "", "class_dim", NULL};
    PyObject *logits_obj, *target_obj;
    int class_dim = 1, num_threads = 1, status = MUSHIN_OK, i, k;
    dl_view lv, tv;
    mushin_float_view lview;
    mushin_index_view tview;
    mushin_bad_values bad;
    char ldt[32], tdt[32], lshape[256], tshape[256];
    int64_t n = 1, nn = self->num_classes * self->num_classes;
    int64_t *scratch = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|i:update_logits", kwlist, &logits_obj,
                                     &target_obj, &class_dim)) {
        return NULL;
    }
    if (acquire_dlpack(logits_obj, "logits", &lv) < 0) {
        return NULL;
    }
    if (acquire_dlpack(target_obj, "target", &tv) < 0) {
        release_dlpack(&lv);
        return NULL;
    }
    dtype_name(lv.t->dtype, ldt, sizeof(ldt));
    dtype_name(tv.t->dtype, tdt, sizeof(tdt));
    format_shape(lv.t, lshape, sizeof(lshape));
    format_shape(tv.t, tshape, sizeof(tshape));
    if (!is_host_memory(lv.t) || !is_host_memory(tv.t)) {
        PyErr_Format(PyExc_ValueError,
                     "ConfusionMatrix.update_logits reads host memory, but logits is on "
                     "%s:%d and target is on %s:%d; move both to the CPU",
                     device_name(lv.t->device.device_type), (int)lv.t->device.device_id,
                     device_name(tv.t->device.device_type), (int)tv.t->device.device_id);
        goto error;
    }
    if (dl_ftype(lv.t, &lview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "logits must have dtype float16, bfloat16, float32 or float64, got %s%s",
                     ldt, (lv.t->dtype.code == kDLInt || lv.t->dtype.code == kDLUInt)
                              ? "; class indices go to update()" : "");
        goto error;
    }
    if (dl_itype(tv.t, &tview.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "target must hold integer class indices (int8, int16, int32, int64, "
                     "uint8, uint16, uint32 or bool), got %s", tdt);
        goto error;
    }
    if (lv.t->ndim < 1 || class_dim < -lv.t->ndim || class_dim >= lv.t->ndim) {
        PyErr_Format(PyExc_ValueError,
                     "class_dim=%d is out of range for logits of shape %s", class_dim, lshape);
        goto error;
    }
    if (class_dim < 0) {
        class_dim += lv.t->ndim;
    }
    if (lv.t->shape[class_dim] != self->num_classes) {
        PyErr_Format(PyExc_ValueError,
                     "logits of shape %s have %lld classes in dim %d, but num_classes=%lld",
                     lshape, (long long)lv.t->shape[class_dim], class_dim,
                     (long long)self->num_classes);
        goto error;
    }
    if (tv.t->ndim != lv.t->ndim - 1) {
        PyErr_Format(PyExc_ValueError,
                     "target shape %s does not match logits shape %s without dim %d",
                     tshape, lshape, class_dim);
        goto error;
    }
    for (i = 0, k = 0; i < lv.t->ndim; i++) {
        if (i == class_dim) {
            continue;
        }
        if (tv.t->shape[k] != lv.t->shape[i]) {
            PyErr_Format(PyExc_ValueError,
                         "target shape %s does not match logits shape %s without dim %d",
                         tshape, lshape, class_dim);
            goto error;
        }
        n *= tv.t->shape[k];
        k++;
    }
    lview.data = (const char *)lv.t->data + lv.t->byte_offset;
    lview.strides = lv.strides;
    tview.data = (const char *)tv.t->data + tv.t->byte_offset;
    tview.strides = tv.strides;

    if (n >= nn / 4) {
        /* private scratch merged on success, as in update() */
        if (cm_thread_budget(self, n * self->num_classes, &num_threads) < 0) {
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
            cm_lock(self);
            status = cm_reserve(self, n);
            if (status == MUSHIN_OK) {
                mushin_counts_add(self->counts, scratch, nn);
            }
            cm_unlock(self);
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
            cm_lock(self);
            status = cm_reserve(self, n);
            if (status == MUSHIN_OK) {
                status = mushin_confusion_count_logits(self->counts, self->num_classes,
                                                       self->has_ignore, self->ignore_index,
                                                       lv.t->ndim, lv.t->shape, class_dim,
                                                       lview, tview, 1, &bad);
            }
            cm_unlock(self);
        }
        Py_END_ALLOW_THREADS
    }
    free(scratch);
    if (status == MUSHIN_EBADVALUE) {
        bad_value_error(self, &bad);
        goto error;
    }
    if (status == MUSHIN_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError,
                        "update_logits(): adding this batch could carry the int64 counts past "
                        "2**63 - 1; nothing was added (the matrix already holds close to 2**63 "
                        "samples: were corrupted counts merged?)");
        goto error;
    }
    if (status != MUSHIN_OK) {
        PyErr_Format(PyExc_SystemError, "fused logits kernel failed with status %d", status);
        goto error;
    }
    release_dlpack(&lv);
    release_dlpack(&tv);
    Py_RETURN_NONE;
error:
    release_dlpack(&lv);
    release_dlpack(&tv);
    return NULL;
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

/* merge()'s argument as a C-contiguous int64 (rows, rows) array, or NULL
 * with TypeError/ValueError naming `counts` and what to do. */
static PyArrayObject *
merge_counts_array(PyObject *arg, int64_t rows)
{
    PyArrayObject *given = (PyArrayObject *)PyArray_FROM_O(arg);
    PyArrayObject *out = NULL;
    if (given == NULL) {
        return NULL;
    }
    if (!PyArray_ISINTEGER(given)) {
        PyErr_Format(PyExc_TypeError,
                     "merge(): counts must be an array of integers, got dtype %S; pass "
                     "another accumulator's .counts (int64), not normalised or averaged values",
                     (PyObject *)PyArray_DESCR(given));
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
                     "merge(): counts (num_classes x num_classes) needs a (%lld, %lld) array, "
                     "got %s", (long long)rows, (long long)rows, shape);
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
                             "merge(): counts[%lld, %lld] = %llu does not fit in int64; a "
                             "confusion matrix cannot hold that many samples",
                             (long long)(i / rows), (long long)(i % rows),
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

static PyObject *
ConfusionMatrix_merge(ConfusionMatrixObject *self, PyObject *arg)
{
    PyArrayObject *arr;
    const int64_t *data;
    int64_t where = -1, current = 0, total = 0;
    npy_intp nn;
    int status;
    arr = merge_counts_array(arg, self->num_classes);
    if (arr == NULL) {
        return NULL;
    }
    data = (const int64_t *)PyArray_DATA(arr);
    nn = PyArray_SIZE(arr);
    /* check and add under one lock: a concurrent update cannot slip in
     * between the overflow check and the addition */
    Py_BEGIN_ALLOW_THREADS
    cm_lock(self);
    status = mushin_counts_add_checked(self->counts, data, nn, &where, &total);
    if (status == MUSHIN_OK) {
        self->total_bound = total;
    }
    else if (status == MUSHIN_EOVERFLOW && where >= 0) {
        current = self->counts[where];
    }
    cm_unlock(self);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        PyErr_Format(PyExc_ValueError,
                     "merge(): counts must be non-negative, got %lld at flat index %lld "
                     "(counts[%lld, %lld]); nothing was added",
                     (long long)data[where], (long long)where,
                     (long long)(where / self->num_classes), (long long)(where % self->num_classes));
    }
    else if (status == MUSHIN_EOVERFLOW && where >= 0) {
        PyErr_Format(PyExc_ValueError,
                     "merge(): counts[%lld, %lld] = %lld plus the %lld already counted there "
                     "overflows int64; nothing was added (are these counts corrupted, or "
                     "merged more than once?)",
                     (long long)(where / self->num_classes), (long long)(where % self->num_classes),
                     (long long)data[where], (long long)current);
    }
    else if (status == MUSHIN_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError,
                        "merge(): the total of the merged counts would overflow int64; nothing "
                        "was added (are these counts corrupted, or merged more than once?)");
    }
    Py_DECREF(arr);
    if (status != MUSHIN_OK) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(reset_doc, "reset()\n--\n\nSet every count back to zero.");

static PyObject *
ConfusionMatrix_reset(ConfusionMatrixObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    cm_lock(self);
    memset(self->counts, 0, (size_t)(self->num_classes * self->num_classes) * sizeof(int64_t));
    self->total_bound = 0;
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
    {"update_logits", (PyCFunction)(void (*)(void))ConfusionMatrix_update_logits,
     METH_VARARGS | METH_KEYWORDS, update_logits_doc},
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

PyDoc_STRVAR(isa_level_doc,
"isa_level()\n--\n\n"
"The instruction-set level of the counting loops in use: 0 baseline\n"
"x86-64 (or any other CPU), 1 AVX2, 2 AVX-512.");

static PyObject *
py_isa_level(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(mushin_isa_level());
}

static const char *const isa_names[] = {"baseline", "avx2", "avx512"};

PyDoc_STRVAR(isa_name_doc,
"isa_name()\n--\n\n"
"The instruction-set level in use by name: \"baseline\", \"avx2\" or\n"
"\"avx512\" (see isa_level and the MUSHIN_ISA environment variable).");

static PyObject *
py_isa_name(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(isa_names[mushin_isa_level()]);
}

/*
 * MUSHIN_ISA=baseline|avx2|avx512, read once at import, caps the level so
 * that a test run (or a user chasing a machine-dependent result) can force
 * each kernel path.  A level the CPU lacks is capped to what it has; the
 * level actually used is what isa_level()/isa_name() report.  A typo must
 * not silently run the default path, hence ImportError.
 */
static int
apply_isa_environment(void)
{
    const char *value = getenv("MUSHIN_ISA");
    int i;
    if (value == NULL || value[0] == '\0') {
        return 0;
    }
    for (i = 0; i < 3; i++) {
        if (strcmp(value, isa_names[i]) == 0) {
            mushin_set_isa_cap(i);
            return 0;
        }
    }
    PyErr_Format(PyExc_ImportError,
                 "MUSHIN_ISA=%.100s is not an instruction-set level; use baseline, avx2 "
                 "or avx512, or unset MUSHIN_ISA to use the best this CPU supports",
                 value);
    return -1;
}

PyDoc_STRVAR(set_isa_cap_doc,
"set_isa_cap(cap, /)\n--\n\n"
"Use at most instruction-set level ``cap`` (0, 1 or 2; see isa_level) and\n"
"return the level now in use.  For tests and benchmarks: every level\n"
"counts the same.  Not to be called while an update runs.");

static PyObject *
py_set_isa_cap(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long cap = PyLong_AsLong(arg);
    if (cap == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (cap < 0 || cap > 2) {
        PyErr_Format(PyExc_ValueError, "set_isa_cap needs 0, 1 or 2, got %ld", cap);
        return NULL;
    }
    return PyLong_FromLong(mushin_set_isa_cap((int)cap));
}

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

/* A real-number argument of the scalar helpers, refused with a message that
 * names the function and the argument (PyArg_ParseTuple's "d" names
 * neither in 3.11). */
static int
parse_real(PyObject *obj, const char *func, const char *name, double *out)
{
    if (PyComplex_Check(obj) || !(PyFloat_Check(obj) || PyLong_Check(obj) ||
                                  PyNumber_Check(obj))) {
        PyErr_Format(PyExc_TypeError, "%s(): %s must be a real number, got %.200s", func, name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = PyFloat_AsDouble(obj);
    if (*out == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s(): %s must be a real number, got %.200s", func, name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

#define SCALAR2(pyname, cfunc, fname, name1)                                        \
    static PyObject *pyname(PyObject *Py_UNUSED(m), PyObject *args)                 \
    {                                                                               \
        PyObject *o1, *o2;                                                          \
        double x, y;                                                                \
        if (!PyArg_ParseTuple(args, "OO:" fname, &o1, &o2) ||                       \
            parse_real(o1, fname, name1, &x) < 0 || parse_real(o2, fname, "df", &y) < 0) { \
            return NULL;                                                            \
        }                                                                           \
        return PyFloat_FromDouble(cfunc(x, y));                                     \
    }

/* What the Student-t helpers do outside their domain, shared by the three
 * docstrings: NaN, as scipy.stats.t does, so that a vectorised caller is not
 * interrupted by one degenerate df. */
#define T_DOMAIN_DOC                                                             \
    "\n\nAccurate to a few ulp for any df > 0 (relative 1e-12 in the tails);\n" \
    "from df = 1e25 on, and for df = inf, the normal distribution (exact\n"      \
    "there in double).  df <= 0 or NaN gives NaN, as scipy.stats.t does."

SCALAR2(py_t_cdf, mushin_t_cdf, "t_cdf", "t")
SCALAR2(py_t_sf, mushin_t_sf, "t_sf", "t")
SCALAR2(py_t_ppf, mushin_t_ppf, "t_ppf", "q")

static PyObject *
py_betainc(PyObject *Py_UNUSED(m), PyObject *args)
{
    PyObject *oa, *ob, *ox;
    double a, b, x;
    if (!PyArg_ParseTuple(args, "OOO:betainc", &oa, &ob, &ox) ||
        parse_real(oa, "betainc", "a", &a) < 0 || parse_real(ob, "betainc", "b", &b) < 0 ||
        parse_real(ox, "betainc", "x", &x) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble(mushin_betainc(a, b, x, 1.0 - x));
}

/* ------------------------------------- statistics: tests and corrections -- */
/*
 * The five two-sample tests, the corrections beyond Holm, the exact rank
 * distributions and the smallest attainable p-values (kernels: csrc/stats.c
 * and csrc/ranktests.c).  Arguments are checked here with the GIL held so a
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
    int i;
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "test must be a str, got %.200s", Py_TYPE(obj)->tp_name);
        return 0;
    }
    for (i = 0; i < MUSHIN_NUM_TESTS; i++) {
        if (PyUnicode_CompareWithASCIIString(obj, test_names[i]) == 0) {
            *(int *)out = i;
            return 1;
        }
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
    npy_intp i, n = PyArray_SIZE(x);
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            PyObject *value = PyFloat_FromDouble(v[i]);
            if (value != NULL) {
                PyErr_Format(PyExc_ValueError, "%s[%zd] is %R; scores must be finite numbers",
                             name, (Py_ssize_t)i, value);
                Py_DECREF(value);
            }
            return -1;
        }
    }
    return 0;
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

/* Shared body of the corrections: p -> adjusted p of the same length. */
static PyObject *
apply_correction(PyObject *arg, int with_order, const char *name)
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
    if (with_order) {
        order = (int64_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
        if (order == NULL) {
            PyErr_NoMemory();
            goto error;
        }
    }
    pd = (const double *)PyArray_DATA(p);
    od = (double *)PyArray_DATA((PyArrayObject *)out);
    Py_BEGIN_ALLOW_THREADS
    status = with_order ? mushin_fdr_bh(pd, n, od, order) : mushin_bonferroni(pd, n, od);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        PyErr_Format(PyExc_ValueError, "%s: p-values must lie in [0, 1] or be NaN", name);
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
    return apply_correction(arg, 0, "bonferroni");
}

PyDoc_STRVAR(fdr_bh_doc,
"fdr_bh(pvalues, /)\n--\n\n"
"Benjamini-Hochberg adjusted p-values (scipy.stats.false_discovery_control);\n"
"NaN entries are left out of the family.");

static PyObject *
py_fdr_bh(PyObject *Py_UNUSED(module), PyObject *arg)
{
    return apply_correction(arg, 1, "fdr_bh");
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
    if (status != MUSHIN_OK) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    return out;
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

static PyMethodDef core_methods[] = {
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
    /* ConfusionMatrix threads and instruction sets */
    {"confusion_thread_count", py_confusion_thread_count, METH_VARARGS,
     confusion_thread_count_doc},
    {"isa_level", py_isa_level, METH_NOARGS, isa_level_doc},
    {"isa_name", py_isa_name, METH_NOARGS, isa_name_doc},
    {"set_isa_cap", py_set_isa_cap, METH_O, set_isa_cap_doc},
    {NULL, NULL, 0, NULL}
};

/* ------------------------------------------------------------- scores -- */
/*
 * The probability metrics of classification: CalibrationBins (ECE over
 * fixed confidence bins, O(n_bins) state) and RocScores (exact AUROC from
 * every kept score).  Both take (probs, target) as (N, C) floating-point and
 * (N,) integer DLPack tensors in host memory, check every value with the
 * GIL released before touching their state, and share the lock discipline
 * of ConfusionMatrix.  Kernels: csrc/scores.c.
 */

/* ignore_index argument: None or an int (not a bool). */
static int
parse_ignore_index(PyObject *obj, int *has_ignore, int64_t *ignore_index)
{
    long long value;
    *has_ignore = 0;
    *ignore_index = 0;
    if (obj == Py_None) {
        return 0;
    }
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "ignore_index must be an int or None, got %.200s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    value = PyLong_AsLongLong(obj);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    *has_ignore = 1;
    *ignore_index = value;
    return 0;
}

static int
parse_num_classes(long long num_classes)
{
    if (num_classes < 1 || num_classes > (1LL << 16)) {
        PyErr_Format(PyExc_ValueError,
                     "num_classes must be between 1 and 65536, got %lld", num_classes);
        return -1;
    }
    return 0;
}

/* One (probs, target) batch, acquired and checked for device, dtype and
 * shape; its values are checked later, without the GIL. */
typedef struct {
    dl_view pv;
    dl_view tv;
    mushin_prob_view probs;
    mushin_label_view labels;
    int64_t rows;
} score_batch;

static void
release_score_batch(score_batch *b)
{
    release_dlpack(&b->pv);
    release_dlpack(&b->tv);
}

static int
acquire_score_batch(PyObject *const *args, Py_ssize_t nargs, const char *owner,
                    int64_t num_classes, score_batch *b)
{
    char pdt[32], tdt[32], pshape[256], tshape[256];
    memset(b, 0, sizeof(*b));
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "%s.update() takes 2 arguments (probs, target), got %zd", owner, nargs);
        return -1;
    }
    if (acquire_dlpack(args[0], "probs", &b->pv) < 0) {
        return -1;
    }
    if (acquire_dlpack(args[1], "target", &b->tv) < 0) {
        release_dlpack(&b->pv);
        return -1;
    }
    dtype_name(b->pv.t->dtype, pdt, sizeof(pdt));
    dtype_name(b->tv.t->dtype, tdt, sizeof(tdt));
    format_shape(b->pv.t, pshape, sizeof(pshape));
    format_shape(b->tv.t, tshape, sizeof(tshape));
    if (!is_host_memory(b->pv.t) || !is_host_memory(b->tv.t)) {
        PyErr_Format(PyExc_ValueError,
                     "%s.update reads host memory, but probs is on %s:%d and target is "
                     "on %s:%d; move both to the CPU",
                     owner, device_name(b->pv.t->device.device_type),
                     (int)b->pv.t->device.device_id,
                     device_name(b->tv.t->device.device_type), (int)b->tv.t->device.device_id);
        goto error;
    }
    if (dl_ftype(b->pv.t, &b->probs.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s.update: probs must be floating-point probabilities (float16, "
                     "bfloat16, float32 or float64), got %s%s",
                     owner, pdt,
                     (b->pv.t->dtype.code == kDLInt || b->pv.t->dtype.code == kDLUInt)
                         ? "; pass per-class probabilities (e.g. logits.softmax(-1)), "
                           "not class indices" : "");
        goto error;
    }
    if (dl_itype(b->tv.t, &b->labels.type) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s.update: target must hold integer class indices (int8, int16, "
                     "int32, int64, uint8, uint16, uint32 or bool), got %s",
                     owner, tdt);
        goto error;
    }
    if (b->pv.t->ndim != 2 || b->pv.t->shape[1] != num_classes) {
        PyErr_Format(PyExc_ValueError,
                     "%s.update: probs must have shape (N, %lld), one row of class "
                     "probabilities per sample, got %s",
                     owner, (long long)num_classes, pshape);
        goto error;
    }
    if (b->tv.t->ndim != 1 || b->tv.t->shape[0] != b->pv.t->shape[0]) {
        PyErr_Format(PyExc_ValueError,
                     "%s.update: target must have shape (%lld,) to match probs %s, got %s",
                     owner, (long long)b->pv.t->shape[0], pshape, tshape);
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
    release_score_batch(b);
    return -1;
}

/* ValueError describing what mushin_scores_check rejected. */
static void
score_check_error(const char *owner, int64_t num_classes, int has_ignore,
                  int64_t ignore_index, const mushin_score_check *check)
{
    char ign[96] = "", labels_msg[320] = "", probs_msg[400] = "";
    if (check->labels_bad) {
        if (has_ignore) {
            PyOS_snprintf(ign, sizeof(ign), " %s not ignore_index=%lld",
                          check->labels_bad == 1 ? "that is" : "that are",
                          (long long)ignore_index);
        }
        PyOS_snprintf(labels_msg, sizeof(labels_msg),
                      "target holds %lld value%s outside [0, %lld)%s (first: %lld at "
                      "index %lld)",
                      (long long)check->labels_bad, check->labels_bad == 1 ? "" : "s",
                      (long long)num_classes, ign, (long long)check->labels_first,
                      (long long)check->labels_first_row);
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
    PyErr_Format(PyExc_ValueError, "%s.update: %s%s%s; nothing of this batch was added",
                 owner, labels_msg, (check->labels_bad && check->probs_bad) ? "; " : "",
                 probs_msg);
}

static PyObject *
ignore_index_object(int has_ignore, int64_t ignore_index)
{
    if (!has_ignore) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(ignore_index);
}

/* ------------------------------------------------ CalibrationBins -- */

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
    if (parse_num_classes(num_classes) < 0 ||
        parse_ignore_index(ignore, &has_ignore, &ignore_index) < 0) {
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
    self->lock = PyThread_allocate_lock();
    if (self->boundaries == NULL || self->count == NULL || self->confidence_fixed == NULL ||
        self->correct == NULL || self->lock == NULL) {
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
    return (PyObject *)self;
error:
    Py_XDECREF(boundaries);
    Py_XDECREF(self);
    return NULL;
}

static void
CalibrationBins_dealloc(CalibrationBinsObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    free(self->boundaries);
    free(self->count);
    free(self->confidence_fixed);
    free(self->correct);
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
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
    score_batch b;
    mushin_score_check check;
    int status;
    if (acquire_score_batch(args, nargs, "CalibrationBins", self->num_classes, &b) < 0) {
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
        score_check_error("CalibrationBins", self->num_classes, self->has_ignore,
                          self->ignore_index, &check);
        goto error;
    }
    if (status != MUSHIN_OK) {
        PyErr_Format(PyExc_SystemError, "calibration kernel failed with status %d", status);
        goto error;
    }
    release_score_batch(&b);
    Py_RETURN_NONE;
error:
    release_score_batch(&b);
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
    ignore = ignore_index_object(self->has_ignore, self->ignore_index);
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
    void *dst;
    size_t bytes;
    if (out == NULL) {
        return NULL;
    }
    dst = PyArray_DATA((PyArrayObject *)out);
    bytes = (size_t)n * (size_t)PyArray_ITEMSIZE((PyArrayObject *)out);
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    memcpy(dst, src, bytes);
    PyThread_release_lock(lock);
    Py_END_ALLOW_THREADS
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
    return ignore_index_object(self->has_ignore, self->ignore_index);
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

/* `obj` as an aligned array of `typenum` with `ndim` dimensions, or NULL with
 * an error naming `what`.  Only integer input that converts to `typenum`
 * without loss is taken: floats (even integral ones), bools and wider
 * integer types are refused rather than cast. */
static PyArrayObject *
exact_integer_array(PyObject *obj, int typenum, int ndim, const char *what)
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
    return out;
}

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

static PyObject *
CalibrationBins_merge(CalibrationBinsObject *self, PyObject *args)
{
    PyObject *counts_obj, *confidence_obj, *accuracy_obj;
    PyArrayObject *counts = NULL, *confidence = NULL, *accuracy = NULL;
    const npy_intp slots = (npy_intp)self->n_bins + 1;
    const int64_t *n, *acc;
    const uint64_t *conf;
    int64_t total = 0, merged_total = 0;
    npy_intp b;
    int overflow = 0;

    if (!PyArg_ParseTuple(args, "OOO:merge", &counts_obj, &confidence_obj, &accuracy_obj)) {
        return NULL;
    }
    counts = exact_integer_array(counts_obj, NPY_INT64, 1, "counts");
    if (counts == NULL) {
        goto error;
    }
    confidence = exact_integer_array(confidence_obj, NPY_UINT64, 2, "confidence_fixed");
    if (confidence == NULL) {
        goto error;
    }
    accuracy = exact_integer_array(accuracy_obj, NPY_INT64, 1, "accuracy_sums");
    if (accuracy == NULL) {
        goto error;
    }
    if (PyArray_DIM(counts, 0) != slots || PyArray_DIM(confidence, 0) != slots ||
        PyArray_DIM(confidence, 1) != MUSHIN_FIXED_LIMBS || PyArray_DIM(accuracy, 0) != slots) {
        PyErr_Format(PyExc_ValueError,
                     "merge() needs counts (%zd,), confidence_fixed (%zd, %d) and "
                     "accuracy_sums (%zd,) for n_bins + 1 = %zd slots, got (%zd,), (%zd, %zd) "
                     "and (%zd,)", (Py_ssize_t)slots, (Py_ssize_t)slots, MUSHIN_FIXED_LIMBS,
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
                         "merge(): slot %zd holds count %lld and accuracy sum %lld; counts "
                         "must be non-negative and each accuracy sum in [0, count]",
                         (Py_ssize_t)b, (long long)n[b], (long long)acc[b]);
            goto error;
        }
        /* every confidence is at most 1, i.e. 2^149 units */
        most[MUSHIN_FIXED_FRAC_BITS / 64] = (uint64_t)n[b] << (MUSHIN_FIXED_FRAC_BITS % 64);
        most[MUSHIN_FIXED_FRAC_BITS / 64 + 1] = (uint64_t)n[b] >> (64 - MUSHIN_FIXED_FRAC_BITS % 64);
        if (mushin_fixed_cmp(conf + b * MUSHIN_FIXED_LIMBS, most) > 0) {
            PyErr_Format(PyExc_ValueError,
                         "merge(): slot %zd holds a confidence sum above its count %lld; each "
                         "confidence is at most 1, so confidence_fixed is not a CalibrationBins "
                         "state", (Py_ssize_t)b, (long long)n[b]);
            goto error;
        }
    }
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    for (b = 0; b < slots && !overflow; b++) {
        int64_t slot_sum;
        overflow = __builtin_add_overflow(self->count[b], n[b], &slot_sum) ||
                   __builtin_add_overflow(total, self->count[b], &total) ||
                   __builtin_add_overflow(merged_total, slot_sum, &merged_total);
    }
    if (!overflow) {
        for (b = 0; b < slots; b++) {
            self->count[b] += n[b];
            self->correct[b] += acc[b];
            (void)mushin_fixed_add(self->confidence_fixed + b * MUSHIN_FIXED_LIMBS,
                                   conf + b * MUSHIN_FIXED_LIMBS);
        }
    }
    PyThread_release_lock(self->lock);
    if (overflow) {
        PyErr_SetString(PyExc_ValueError,
                        "merge(): counts: the merged counts would overflow int64; nothing was "
                        "added");
        goto error;
    }
    Py_DECREF(counts);
    Py_DECREF(confidence);
    Py_DECREF(accuracy);
    Py_RETURN_NONE;
error:
    Py_XDECREF(counts);
    Py_XDECREF(confidence);
    Py_XDECREF(accuracy);
    return NULL;
}

static PyMethodDef CalibrationBins_methods[] = {
    {"update", (PyCFunction)(void (*)(void))CalibrationBins_update, METH_FASTCALL,
     CalibrationBins_update_doc},
    {"compute", (PyCFunction)CalibrationBins_compute, METH_NOARGS, CalibrationBins_compute_doc},
    {"reset", (PyCFunction)CalibrationBins_reset, METH_NOARGS,
     "reset()\n--\n\nEmpty every bin."},
    {"__deepcopy__", (PyCFunction)CalibrationBins_deepcopy, METH_O,
     "__deepcopy__(memo, /)\n--\n\nAn independent copy, bins included."},
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

/* ------------------------------------------------------- RocScores -- */

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
    if (parse_num_classes(num_classes) < 0 ||
        parse_ignore_index(ignore, &has_ignore, &ignore_index) < 0) {
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
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
RocScores_dealloc(RocScoresObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    mushin_score_store_clear(&self->store);
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
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
    score_batch b;
    mushin_score_check check;
    int status;
    if (acquire_score_batch(args, nargs, "RocScores", self->num_classes, &b) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = mushin_scores_check(b.rows, self->num_classes, self->has_ignore,
                                 self->ignore_index, b.probs, b.labels, &check);
    if (status == MUSHIN_OK) {
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        if (b.probs.type == MUSHIN_FLOAT64 && check.kept > 0) {
            status = mushin_score_store_widen(&self->store);
        }
        if (status == MUSHIN_OK) {
            status = mushin_score_store_reserve(&self->store, check.kept);
        }
        if (status == MUSHIN_OK) {
            status = mushin_score_store_append(&self->store, b.rows, self->has_ignore,
                                               self->ignore_index, b.probs, b.labels);
        }
        PyThread_release_lock(self->lock);
    }
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        score_check_error("RocScores", self->num_classes, self->has_ignore,
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
        PyErr_Format(PyExc_SystemError, "score store failed with status %d", status);
        goto error;
    }
    release_score_batch(&b);
    Py_RETURN_NONE;
error:
    release_score_batch(&b);
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
        PyErr_Format(PyExc_SystemError, "AUROC kernel failed with status %d", status);
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
    ignore = ignore_index_object(self->has_ignore, self->ignore_index);
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
    return ignore_index_object(self->has_ignore, self->ignore_index);
}

static PyObject *
RocScores_repr(RocScoresObject *self)
{
    if (self->has_ignore) {
        return PyUnicode_FromFormat("RocScores(num_classes=%lld, ignore_index=%lld)",
                                    (long long)self->num_classes,
                                    (long long)self->ignore_index);
    }
    return PyUnicode_FromFormat("RocScores(num_classes=%lld)", (long long)self->num_classes);
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

/* Create the score types and add them to the module (from core_exec). */
static int
scores_add_types(PyObject *module)
{
    PyObject *calibration = NULL, *roc = NULL;
    int status = -1;
    calibration = PyType_FromModuleAndSpec(module, &CalibrationBins_spec, NULL);
    roc = PyType_FromModuleAndSpec(module, &RocScores_spec, NULL);
    if (calibration == NULL || roc == NULL ||
        PyModule_AddObjectRef(module, "CalibrationBins", calibration) < 0 ||
        PyModule_AddObjectRef(module, "RocScores", roc) < 0) {
        goto done;
    }
    status = 0;
done:
    Py_XDECREF(calibration);
    Py_XDECREF(roc);
    return status;
}

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
    if (apply_isa_environment() < 0) {
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
    if (scores_add_types(module) < 0) {
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
