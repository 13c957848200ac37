/*
 * dlpack.c -- the DLPack consumer: turns any producer of __dlpack__ (torch,
 * NumPy, JAX, ...) into a checked DLTensor view the kernels may read.
 *
 * As NumPy's from_dlpack does: ask for a versioned capsule (max_version
 * (1, 0)) and retry without keywords on TypeError, check the capsule name,
 * the major version, lanes, element size and every extent before anything
 * reads through the producer's pointers, and call the deleter exactly once.
 * The structs are the official dlpack.h, vendored in glue/dlpack/.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "numpy_api.h"

#include <string.h>

#include "dlpack_consumer.h"
#include "portable_internal.h"

/* NumPy's API table is per translation unit: filled by mushin_dlpack_init. */
int
mushin_dlpack_init(void)
{
    return PyArray_ImportNumPyAPI();
}

const char *
mushin_dlpack_device_name(int32_t type)
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

void
mushin_dlpack_dtype_name(DLDataType dt, char *buf, size_t len)
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

void
mushin_dlpack_release(dl_view *v)
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
 * Objects without __dlpack__ go through numpy.asarray first.  The method
 * name, the empty argument tuple and the {"max_version": (1, 0)} keywords
 * are built once, at module init, and kept in the module state. */
static PyObject *
call_dlpack(mushin_module_state *st, PyObject *obj)
{
    PyObject *method = NULL, *capsule = NULL, *arr = NULL;

    if (!PyObject_HasAttr(obj, st->str_dlpack)) {
        arr = PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0, NPY_ARRAY_DEFAULT);
        if (arr == NULL) {
            return NULL;
        }
        obj = arr;
    }
    method = PyObject_GetAttr(obj, st->str_dlpack);
    if (method == NULL) {
        goto error;
    }
    capsule = PyObject_Call(method, st->empty_tuple, st->dlpack_kwargs);
    if (capsule == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
        /* a producer that predates DLPack 1.0 takes no max_version */
        PyErr_Clear();
        capsule = PyObject_CallNoArgs(method);
    }
error:
    Py_XDECREF(method);
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
        if (!empty && mushin_mul_overflow_i64(elements, t->shape[i], &elements)) {
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
            (mushin_mul_overflow_i64(abs_stride, itemsize, &abs_stride) ||
             mushin_mul_overflow_i64(abs_stride, t->shape[i] - 1, &extent) ||
             mushin_add_overflow_i64(span, extent, &span) ||
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
        (mushin_mul_overflow_i64(elements, itemsize, &span) ||
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

int
mushin_dlpack_acquire(mushin_module_state *st, PyObject *obj, const char *what, dl_view *v)
{
    int i;
    memset(v, 0, sizeof(*v));
    if (st == NULL) {
        return -1; /* the caller's lookup of the module state set the error */
    }
    v->capsule = call_dlpack(st, obj);
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
    mushin_dlpack_release(v);
    return -1;
}

int
mushin_dlpack_itype(const DLTensor *t, mushin_itype *out)
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

int
mushin_dlpack_ftype(const DLTensor *t, mushin_ftype *out)
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

void
mushin_dlpack_format_shape(const DLTensor *t, char *buf, size_t len)
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

int
mushin_dlpack_is_host(const DLTensor *t)
{
    return t->device.device_type == kDLCPU || t->device.device_type == kDLCUDAHost;
}
