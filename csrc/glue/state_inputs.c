/*
 * state_inputs.c -- batch tensors by DLPack, shapes and state-dict helpers
 * for the regression and retrieval states; see state_inputs.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "numpy_api.h"

#include <string.h>

#include "kernels/dtype_load.h"
#include "glue_common.h"
#include "state_inputs.h"

int
mushin_state_inputs_init(void)
{
    return PyArray_ImportNumPyAPI();
}

/* the producer's element types the states take */
enum { SRC_F16, SRC_BF16, SRC_F32, SRC_F64, SRC_I32, SRC_I64, SRC_BOOL };

/* The source type of t if `kind` takes it, else -1. */
static int
source_type(const DLTensor *t, mushin_input_kind kind)
{
    const DLDataType dt = t->dtype;
    const int floats = kind == MUSHIN_INPUT_FLOAT || kind == MUSHIN_INPUT_RELEVANCE;
    const int ints = kind == MUSHIN_INPUT_INDEX || kind == MUSHIN_INPUT_RELEVANCE;
    if (dt.lanes != 1) {
        return -1;
    }
    if (floats && dt.code == kDLFloat) {
        return dt.bits == 16 ? SRC_F16 : dt.bits == 32 ? SRC_F32 : dt.bits == 64 ? SRC_F64 : -1;
    }
    if (floats && dt.code == kDLBfloat && dt.bits == 16) {
        return SRC_BF16;
    }
    if (ints && dt.code == kDLInt) {
        return dt.bits == 32 ? SRC_I32 : dt.bits == 64 ? SRC_I64 : -1;
    }
    if (kind == MUSHIN_INPUT_RELEVANCE && dt.code == kDLBool && dt.bits == 8) {
        return SRC_BOOL;
    }
    return -1;
}

static int
kernel_type(int source)
{
    switch (source) {
    case SRC_F64: return MUSHIN_RT_FLOAT64;
    case SRC_I32: return MUSHIN_RT_INT32;
    case SRC_I64: return MUSHIN_RT_INT64;
    case SRC_BOOL: return MUSHIN_RT_UINT8;
    default: return MUSHIN_RT_FLOAT32; /* float16 and bfloat16 widen exactly */
    }
}

static const char *
kind_wants(mushin_input_kind kind)
{
    switch (kind) {
    case MUSHIN_INPUT_INDEX: return "int64 (or int32) query indexes";
    case MUSHIN_INPUT_RELEVANCE: return "bool, int32, int64 or float relevances";
    default: return "float16, float32 or float64 values (or bfloat16)";
    }
}

/* The one stride that walks t's elements in C order, if there is one. */
static int
single_stride(const DLTensor *t, const int64_t *strides, int64_t itemsize, int64_t *out)
{
    int64_t next = 0;
    int d, have = 0;
    *out = itemsize;
    for (d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 1) {
            continue;
        }
        if (have && strides[d] != next) {
            return 0;
        }
        if (!have) {
            *out = strides[d];
            have = 1;
        }
        /* bounded: dlpack.c checked that the tensor's span fits */
        next = strides[d] * t->shape[d];
    }
    return 1;
}

int
mushin_input_acquire(mushin_module_state *st, PyObject *obj, const char *method,
                     const char *name, mushin_input_kind kind, mushin_input *in)
{
    char dtype[32];
    int64_t itemsize, out_size, stride;
    int d;
    memset(in, 0, sizeof(*in));
    in->name = name;
    if (mushin_dlpack_acquire(st, obj, name, &in->dl) < 0) {
        return -1;
    }
    if (!mushin_dlpack_is_host(in->dl.t)) {
        PyErr_Format(PyExc_ValueError, "%s reads host memory, but `%s` is on %s:%d; move it to "
                     "the CPU", method, name, mushin_dlpack_device_name(in->dl.t->device.device_type),
                     (int)in->dl.t->device.device_id);
        goto error;
    }
    in->source = source_type(in->dl.t, kind);
    if (in->source < 0) {
        mushin_dlpack_dtype_name(in->dl.t->dtype, dtype, sizeof(dtype));
        PyErr_Format(PyExc_TypeError, "%s: `%s` has dtype %s; expected %s", method, name, dtype,
                     kind_wants(kind));
        goto error;
    }
    in->type = kernel_type(in->source);
    in->n = 1;
    for (d = 0; d < in->dl.t->ndim; d++) {
        in->n *= in->dl.t->shape[d]; /* bounded by dlpack.c */
    }
    itemsize = in->dl.t->dtype.bits / 8;
    in->data = (const char *)in->dl.t->data + in->dl.t->byte_offset;
    if (in->n == 0) {
        in->stride = itemsize;
        return 0;
    }
    if (in->source != SRC_F16 && in->source != SRC_BF16 &&
        single_stride(in->dl.t, in->dl.strides, itemsize, &stride)) {
        in->stride = stride;
        return 0;
    }
    out_size = in->type == MUSHIN_RT_FLOAT32 ? 4 : itemsize;
    in->scratch = PyMem_RawMalloc((size_t)(in->n * out_size));
    if (in->scratch == NULL) {
        PyErr_Format(PyExc_MemoryError, "%s: no memory for a copy of `%s` (%lld elements)",
                     method, name, (long long)in->n);
        goto error;
    }
    in->stride = out_size;
    return 0;
error:
    mushin_input_release(in);
    return -1;
}

static void
store_element(const char *src, int source, char *dst)
{
    float f;
    switch (source) {
    case SRC_F16:
    case SRC_BF16:
        f = mushin_load_float32(src, source == SRC_F16 ? MUSHIN_FLOAT16 : MUSHIN_BFLOAT16);
        memcpy(dst, &f, sizeof f);
        break;
    case SRC_F64:
    case SRC_I64:
        memcpy(dst, src, 8);
        break;
    case SRC_BOOL:
        *dst = *src; /* as read in place: the kernel judges the byte */
        break;
    default:
        memcpy(dst, src, 4);
    }
}

void
mushin_input_load(mushin_input *in)
{
    const DLTensor *t = in->dl.t;
    const char *base = (const char *)t->data + t->byte_offset;
    char *dst = (char *)in->scratch;
    int64_t index[MUSHIN_MAX_NDIM] = {0}, offset = 0, i;
    int d;
    if (in->scratch == NULL) {
        return;
    }
    for (i = 0; i < in->n; i++, dst += in->stride) {
        store_element(base + offset, in->source, dst);
        /* the next C-order position: carry from the last dimension */
        for (d = t->ndim - 1; d >= 0; d--) {
            if (++index[d] < t->shape[d]) {
                offset += in->dl.strides[d];
                break;
            }
            offset -= (index[d] - 1) * in->dl.strides[d];
            index[d] = 0;
        }
    }
    in->data = (const char *)in->scratch;
}

void
mushin_input_release(mushin_input *in)
{
    mushin_dlpack_release(&in->dl);
    PyMem_RawFree(in->scratch);
    in->scratch = NULL;
}

mushin_vec_view
mushin_input_vec(const mushin_input *in)
{
    mushin_vec_view v;
    v.data = in->data;
    v.type = in->type == MUSHIN_RT_FLOAT64 ? MUSHIN_FLOAT64 : MUSHIN_FLOAT32;
    v.stride = in->stride;
    return v;
}

mushin_rt_view
mushin_input_rt(const mushin_input *in)
{
    mushin_rt_view v;
    v.data = in->data;
    v.type = in->type;
    v.stride = in->stride;
    return v;
}

/* ------------------------------------------------------------ shapes -- */

mushin_shape
mushin_shape_of_input(const mushin_input *in)
{
    mushin_shape s;
    int d;
    s.ndim = in->dl.t->ndim;
    for (d = 0; d < s.ndim; d++) {
        s.dims[d] = in->dl.t->shape[d];
    }
    return s;
}

mushin_shape
mushin_shape_of_array(PyObject *array)
{
    PyArrayObject *a = (PyArrayObject *)array;
    mushin_shape s;
    int d;
    s.ndim = PyArray_NDIM(a) < MUSHIN_MAX_NDIM ? PyArray_NDIM(a) : MUSHIN_MAX_NDIM;
    for (d = 0; d < s.ndim; d++) {
        s.dims[d] = (int64_t)PyArray_DIM(a, d);
    }
    return s;
}

/* "(3, 1)", as Python writes a shape tuple */
static void
format_shape(const mushin_shape *s, char *buf, size_t len)
{
    size_t used = (size_t)PyOS_snprintf(buf, len, "(");
    int d;
    for (d = 0; d < s->ndim && used < len; d++) {
        used += (size_t)PyOS_snprintf(buf + used, len - used, d ? ", %lld" : "%lld",
                                      (long long)s->dims[d]);
    }
    if (used < len) {
        PyOS_snprintf(buf + used, len - used, s->ndim == 1 ? ",)" : ")");
    }
}

int
mushin_check_shapes(const mushin_shape *a, const mushin_shape *b, const char *method,
                    const char *an, const char *bn, int single_column)
{
    char sa[256], sb[256];
    int same = a->ndim == b->ndim, d;
    for (d = 0; same && d < a->ndim; d++) {
        same = a->dims[d] == b->dims[d];
    }
    format_shape(a, sa, sizeof(sa));
    format_shape(b, sb, sizeof(sb));
    if (!same) {
        PyErr_Format(PyExc_ValueError, "%s: `%s` has shape %s but `%s` has shape %s; they must "
                     "match", method, an, sa, bn, sb);
        return -1;
    }
    if (single_column && !(a->ndim == 1 || (a->ndim == 2 && a->dims[1] == 1))) {
        PyErr_Format(PyExc_ValueError,
                     "%s: `%s` and `%s` have shape %s; this state takes one output, shape (N,) "
                     "or (N, 1) (for D outputs, use one state per output column)",
                     method, an, bn, sa);
        return -1;
    }
    if (!single_column && a->ndim == 0) {
        PyErr_Format(PyExc_ValueError, "%s: `%s` and `%s` are scalars; pass 1-d (or n-d) tensors",
                     method, an, bn);
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------- state dicts -- */

int
mushin_state_status_error(int status, const char *method)
{
    if (status == MUSHIN_ENOMEM) {
        PyErr_Format(PyExc_MemoryError, "%s: out of memory; the state is unchanged", method);
    }
    else if (status == MUSHIN_EOVERFLOW) {
        PyErr_Format(PyExc_OverflowError,
                     "%s: the state would hold more elements than it can count; "
                     "the state is unchanged", method);
    }
    else {
        PyErr_Format(PyExc_SystemError, "%s: kernel status %d", method, status);
    }
    return -1;
}

PyObject *
mushin_array_copy_1d(int64_t n, int type, const void *src, size_t itemsize)
{
    npy_intp dims[1];
    PyObject *a;
    dims[0] = (npy_intp)n;
    a = PyArray_SimpleNew(1, dims, type);
    if (a != NULL && n > 0) {
        memcpy(PyArray_DATA((PyArrayObject *)a), src, (size_t)n * itemsize);
    }
    return a;
}

PyObject *
mushin_state_dict_array(PyObject *d, const char *method, const char *key, int type, int ndim)
{
    PyObject *v;
    PyArrayObject *a = NULL, *c;
    v = PyDict_GetItemString(d, key); /* borrowed */
    if (v == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the state dict has no '%s' entry; pass what state_dict() returned",
                     method, key);
        return NULL;
    }
    a = (PyArrayObject *)PyArray_FROMANY(v, NPY_NOTYPE, 0, 0, 0);
    if (a == NULL) {
        return NULL;
    }
    if (PyArray_NDIM(a) != ndim || !PyArray_CanCastSafely(PyArray_TYPE(a), type)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: state dict entry '%s' has dtype %R and %d dimension(s); "
                     "expected %s with %d", method, key, (PyObject *)PyArray_DESCR(a),
                     PyArray_NDIM(a),
                     type == NPY_INT64 ? "int64" : (type == NPY_FLOAT ? "float32" : "float64"),
                     ndim);
        Py_DECREF(a);
        return NULL;
    }
    c = (PyArrayObject *)PyArray_FROMANY((PyObject *)a, type, ndim, ndim,
                                         NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                             NPY_ARRAY_FORCECAST);
    Py_DECREF(a);
    return (PyObject *)c;
}

PyObject *
mushin_as_state_dict(PyObject *self, PyObject *other, const char *method)
{
    if (PyDict_Check(other)) {
        return Py_NewRef(other);
    }
    if (Py_TYPE(other) == Py_TYPE(self)) {
        return PyObject_CallMethod(other, "state_dict", NULL);
    }
    PyErr_Format(PyExc_TypeError, "%s: expected a %s or its state_dict(), got %R", method,
                 Py_TYPE(self)->tp_name, (PyObject *)Py_TYPE(other));
    return NULL;
}

PyObject *
mushin_metrics_dict(const char *const *names, const double *values, int count)
{
    PyObject *d = PyDict_New(), *v;
    int i;
    if (d == NULL) {
        return NULL;
    }
    for (i = 0; i < count; i++) {
        v = PyFloat_FromDouble(values[i]);
        if (v == NULL || PyDict_SetItemString(d, names[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

PyObject *
mushin_columns_dict(int64_t n, const mushin_column *cols, const void *const *src, int count)
{
    PyObject *d = PyDict_New(), *a;
    int i;
    for (i = 0; d != NULL && i < count; i++) {
        a = mushin_array_copy_1d(n, cols[i].type, src[i], cols[i].itemsize);
        if (a == NULL || PyDict_SetItemString(d, cols[i].key, a) < 0) {
            Py_CLEAR(d);
        }
        Py_XDECREF(a);
    }
    return d;
}

/* ------------------------------------------------ the state protocol -- */

/* room for any protocol state read aside */
typedef union {
    mushin_regression_moments moments;
    mushin_ranked_pairs pairs;
    mushin_retrieval_groups groups;
} any_state;

#define STATE_OF(self) ((void *)((char *)(self) + ((mushin_state_object *)(self))->ops->offset))

PyObject *
mushin_state_merge(PyObject *self, PyObject *other)
{
    const mushin_state_object *o = (const mushin_state_object *)self;
    const mushin_state_ops *ops = o->ops;
    void *state = STATE_OF(self);
    char method[96];
    any_state aside;
    PyObject *d;
    int status, rc;
    PyOS_snprintf(method, sizeof(method), "%s.merge", ops->name);
    d = mushin_as_state_dict(self, other, method);
    if (d == NULL) {
        return NULL;
    }
    rc = ops->from_dict(self, d, &aside, method);
    Py_DECREF(d);
    if (rc < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(o->lock, WAIT_LOCK);
    status = ops->merge(state, &aside);
    PyThread_release_lock(o->lock);
    Py_END_ALLOW_THREADS
    if (ops->clear != NULL) {
        ops->clear(&aside);
    }
    if (status != MUSHIN_OK) {
        mushin_state_status_error(status, method);
        return NULL;
    }
    Py_RETURN_NONE;
}

PyObject *
mushin_state_load(PyObject *self, PyObject *d)
{
    const mushin_state_object *o = (const mushin_state_object *)self;
    const mushin_state_ops *ops = o->ops;
    char method[96];
    any_state aside;
    PyOS_snprintf(method, sizeof(method), "%s.load_state_dict", ops->name);
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a dict from state_dict(), got %R", method,
                     (PyObject *)Py_TYPE(d));
        return NULL;
    }
    if (ops->from_dict(self, d, &aside, method) < 0) {
        return NULL;
    }
    mushin_glue_locked_swap(o->lock, STATE_OF(self), &aside, ops->size);
    if (ops->clear != NULL) {
        ops->clear(&aside); /* the old state */
    }
    Py_RETURN_NONE;
}

PyObject *
mushin_state_reset(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    const mushin_state_object *o = (const mushin_state_object *)self;
    void *state = STATE_OF(self);
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(o->lock, WAIT_LOCK);
    o->ops->reset(state);
    PyThread_release_lock(o->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyObject *
mushin_state_get_n(PyObject *self, void *Py_UNUSED(closure))
{
    const mushin_state_object *o = (const mushin_state_object *)self;
    int64_t n;
    memcpy(&n, (const char *)self + o->ops->n_offset, sizeof n);
    return PyLong_FromLongLong(n);
}

void
mushin_state_dealloc(PyObject *self)
{
    const mushin_state_object *o = (const mushin_state_object *)self;
    if (o->ops != NULL && o->ops->clear != NULL) {
        o->ops->clear(STATE_OF(self));
    }
    mushin_glue_dealloc(self, o->lock);
}
