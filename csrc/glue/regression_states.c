/*
 * regression_states.c -- CPython types for the regression and retrieval
 * states of csrc/kernels/regression.h and csrc/kernels/retrieval.h:
 *
 *   RegressionMoments   mse, mae, rmse, r2, pearson
 *   RankedPairs         spearman
 *   RetrievalGroups     retrieval_map, ndcg, mrr, precision, recall
 *
 * Every type has the state protocol: update(...), merge(other),
 * state_dict(), load_state_dict(d), compute() -> {name: float}, reset().
 * Arguments are read and checked with the GIL held; the GIL is released
 * only around the kernel, under the object's own lock.  Every failure
 * leaves the state as it was.
 *
 * Inputs are anything NumPy can turn into an array (NumPy arrays, CPU
 * torch tensors); routing through the DLPack consumer comes with the glue
 * split.  The module adds the types with mushin_add_metric_state_types().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>

#include <math.h>
#include <string.h>

#include "kernels/regression.h"
#include "kernels/retrieval.h"

int mushin_add_metric_state_types(PyObject *module);

/* ------------------------------------------------------------ inputs -- */

/* A C-contiguous, aligned copy (or view) of `obj`, with float16 widened
 * exactly to float32.  `kind` is "float" (float16/32/64), "index"
 * (int32/int64) or "relevance" (bool, int32, int64, float16/32/64).
 * Raises TypeError naming `method` and `arg` on any other dtype. */
static PyArrayObject *
as_array(PyObject *obj, const char *method, const char *arg, const char *kind)
{
    PyArrayObject *arr = NULL, *out = NULL;
    int t, ok;
    arr = (PyArrayObject *)PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0,
                                           NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED);
    if (arr == NULL) {
        goto error;
    }
    t = PyArray_TYPE(arr);
    if (strcmp(kind, "index") == 0) {
        ok = t == NPY_INT64 || t == NPY_INT32 || (t == NPY_LONG && sizeof(long) == 8)
             || (t == NPY_LONGLONG);
    }
    else if (strcmp(kind, "relevance") == 0) {
        ok = t == NPY_BOOL || t == NPY_INT32 || t == NPY_INT64 || t == NPY_LONG
             || t == NPY_LONGLONG || t == NPY_HALF || t == NPY_FLOAT || t == NPY_DOUBLE;
    }
    else {
        ok = t == NPY_HALF || t == NPY_FLOAT || t == NPY_DOUBLE;
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError,
                     "%s: `%s` has dtype %R; expected %s", method, arg,
                     (PyObject *)PyArray_DESCR(arr),
                     strcmp(kind, "index") == 0
                         ? "int64 (or int32) query indexes"
                         : (strcmp(kind, "relevance") == 0
                                ? "bool, int32, int64 or float relevances"
                                : "float16, float32 or float64 values"));
        goto error;
    }
    if (t == NPY_HALF) {
        out = (PyArrayObject *)PyArray_Cast(arr, NPY_FLOAT);
        Py_DECREF(arr);
        return out;
    }
    return arr;
error:
    Py_XDECREF(arr);
    return NULL;
}

/* "(3, 1)" for the messages */
static PyObject *
shape_str(PyArrayObject *a)
{
    PyObject *tuple = NULL, *s = NULL;
    int i;
    tuple = PyTuple_New(PyArray_NDIM(a));
    if (tuple == NULL) {
        return NULL;
    }
    for (i = 0; i < PyArray_NDIM(a); i++) {
        PyObject *d = PyLong_FromSsize_t(PyArray_DIM(a, i));
        if (d == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, d);
    }
    s = PyObject_Repr(tuple);
    Py_DECREF(tuple);
    return s;
}

/* preds and target must have one shape; `single_column` also asks for
 * (N,) or (N, 1), the shapes of the regression battery */
static int
check_shapes(PyArrayObject *a, PyArrayObject *b, const char *method,
             const char *an, const char *bn, int single_column)
{
    PyObject *sa = NULL, *sb = NULL;
    int same = PyArray_NDIM(a) == PyArray_NDIM(b), i, rc = -1;
    for (i = 0; same && i < PyArray_NDIM(a); i++) {
        same = PyArray_DIM(a, i) == PyArray_DIM(b, i);
    }
    sa = shape_str(a);
    sb = shape_str(b);
    if (sa == NULL || sb == NULL) {
        goto done;
    }
    if (!same) {
        PyErr_Format(PyExc_ValueError,
                     "%s: `%s` has shape %U but `%s` has shape %U; they must match",
                     method, an, sa, bn, sb);
        goto done;
    }
    if (single_column && !(PyArray_NDIM(a) == 1
                           || (PyArray_NDIM(a) == 2 && PyArray_DIM(a, 1) == 1))) {
        PyErr_Format(PyExc_ValueError,
                     "%s: `%s` and `%s` have shape %U; this state takes one "
                     "output, shape (N,) or (N, 1) (for D outputs, use one "
                     "state per output column)", method, an, bn, sa);
        goto done;
    }
    if (!single_column && PyArray_NDIM(a) == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: `%s` and `%s` are scalars; pass 1-d (or n-d) tensors",
                     method, an, bn);
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(sa);
    Py_XDECREF(sb);
    return rc;
}

static mushin_vec_view
vec_view(PyArrayObject *a)
{
    mushin_vec_view v;
    v.data = PyArray_DATA(a);
    v.type = PyArray_TYPE(a) == NPY_DOUBLE ? MUSHIN_FLOAT64 : MUSHIN_FLOAT32;
    v.stride = PyArray_ITEMSIZE(a);
    return v;
}

static int
status_error(int status, const char *method)
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

/* A 1-d (or 2-d) NumPy array that owns a copy of `n` items at `src`. */
static PyObject *
array_copy(int ndim, npy_intp *dims, int type, const void *src, size_t nbytes)
{
    PyObject *a = PyArray_SimpleNew(ndim, dims, type);
    if (a != NULL && nbytes) {
        memcpy(PyArray_DATA((PyArrayObject *)a), src, nbytes);
    }
    return a;
}

/* d[key] as an array of `type` with `ndim` dims (copied, contiguous), or
 * NULL with a ValueError naming the key. */
static PyArrayObject *
dict_array(PyObject *d, const char *method, const char *key, int type, int ndim)
{
    PyObject *v;
    PyArrayObject *a = NULL;
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
                     PyArray_NDIM(a), type == NPY_INT64 ? "int64" : (type == NPY_FLOAT ? "float32" : "float64"),
                     ndim);
        Py_DECREF(a);
        return NULL;
    }
    {
        PyArrayObject *c = (PyArrayObject *)PyArray_FROMANY((PyObject *)a, type, ndim, ndim,
                                                            NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
                                                                | NPY_ARRAY_FORCECAST);
        Py_DECREF(a);
        return c;
    }
}

/* merge() takes a state dict or another state of the same type, whose
 * state_dict() is then used */
static PyObject *
as_state_dict(PyObject *self, PyObject *other, const char *method)
{
    if (PyDict_Check(other)) {
        Py_INCREF(other);
        return other;
    }
    if (Py_TYPE(other) == Py_TYPE(self)) {
        return PyObject_CallMethod(other, "state_dict", NULL);
    }
    PyErr_Format(PyExc_TypeError,
                 "%s: expected a %s or its state_dict(), got %R",
                 method, Py_TYPE(self)->tp_name, (PyObject *)Py_TYPE(other));
    return NULL;
}

/* ------------------------------------------------------------------ */

/* The kernel that takes one checked (preds, target) batch into a state:
 * mushin_regression_update or mushin_ranked_pairs_append. */
static int report_regression_bad(const mushin_regression_bad *bad, const char *method);

typedef int (*pair_kernel)(void *state, int64_t n, mushin_vec_view preds,
                           mushin_vec_view target, mushin_regression_bad *bad);

static int
moments_kernel(void *state, int64_t n, mushin_vec_view preds, mushin_vec_view target,
               mushin_regression_bad *bad)
{
    return mushin_regression_update((mushin_regression_moments *)state, n, preds, target, bad);
}

static int
pairs_kernel(void *state, int64_t n, mushin_vec_view preds, mushin_vec_view target,
             mushin_regression_bad *bad)
{
    return mushin_ranked_pairs_append((mushin_ranked_pairs *)state, n, preds, target, bad);
}

/* update(preds, target) of both regression states: parse and check with the
 * GIL held, run `kernel` on `state` under `lock` without it, and raise with
 * the state unchanged on a bad batch. */
static PyObject *
pair_batch_update(const char *method, PyThread_type_lock lock, void *state,
                  pair_kernel kernel, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"preds", "target", NULL};
    PyObject *p_obj, *t_obj, *result = NULL;
    PyArrayObject *p = NULL, *t = NULL;
    mushin_regression_bad bad;
    int status;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:update", kwlist, &p_obj, &t_obj)) {
        goto error;
    }
    if ((p = as_array(p_obj, method, "preds", "float")) == NULL
        || (t = as_array(t_obj, method, "target", "float")) == NULL
        || check_shapes(p, t, method, "preds", "target", 1) < 0) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    status = kernel(state, PyArray_SIZE(p), vec_view(p), vec_view(t), &bad);
    PyThread_release_lock(lock);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        report_regression_bad(&bad, method);
        goto error;
    }
    if (status != MUSHIN_OK) {
        status_error(status, method);
        goto error;
    }
    result = Py_NewRef(Py_None);
error:
    Py_XDECREF(p);
    Py_XDECREF(t);
    return result;
}

/* ------------------------------------------------- RegressionMoments -- */

typedef struct {
    PyObject_HEAD
    mushin_regression_moments state;
    PyThread_type_lock lock; /* guards state; taken without the GIL */
} MomentsObject;

static PyObject *
moments_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    MomentsObject *self;
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":RegressionMoments", kwlist)) {
        return NULL;
    }
    self = (MomentsObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    mushin_regression_init(&self->state);
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
moments_dealloc(MomentsObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int
report_regression_bad(const mushin_regression_bad *bad, const char *method)
{
    PyErr_Format(PyExc_ValueError,
                 "%s: `%s` holds %lld non-finite value(s) (first: %R at flat "
                 "position %lld); regression metrics need finite numbers. The "
                 "state is unchanged.",
                 method, bad->which ? "target" : "preds", (long long)bad->count,
                 PyFloat_FromDouble(bad->first), (long long)bad->first_pos);
    return -1;
}

PyDoc_STRVAR(moments_update_doc,
"update(preds, target)\n--\n\n"
"Add a batch of predictions and targets (float16/32/64, shape (N,) or\n"
"(N, 1), finite).  A bad batch raises and leaves the state unchanged.\n\n"
">>> m = RegressionMoments(); m.update(np.array([1.0, 2.0]), np.array([1.5, 2.0]))");

static PyObject *
moments_update(MomentsObject *self, PyObject *args, PyObject *kwds)
{
    return pair_batch_update("RegressionMoments.update", self->lock, &self->state,
                             moments_kernel, args, kwds);
}

/* the state as {"n": int64 (), "extremes": float64 (4,) = min_p, max_p,
 * min_t, max_t, "sums": int64 (6, LIMBS) = S(p), S(t), S(|p-t|), S(pp),
 * S(tt), S(pt) in base-2^32 limbs} */
static PyObject *
moments_to_dict(const mushin_regression_moments *s)
{
    PyObject *d = NULL, *n = NULL, *ext = NULL, *sums = NULL;
    npy_intp d4[1] = {4}, d6[2] = {6, MUSHIN_XSUM_LIMBS};
    const double e[4] = {s->min_p, s->max_p, s->min_t, s->max_t};
    const mushin_xsum *x[6] = {&s->sum_p, &s->sum_t, &s->sum_abs,
                               &s->sum_pp, &s->sum_tt, &s->sum_pt};
    int i;
    d = PyDict_New();
    n = PyArray_SimpleNew(0, NULL, NPY_INT64);
    if (n != NULL) {
        *(int64_t *)PyArray_DATA((PyArrayObject *)n) = s->n;
    }
    ext = array_copy(1, d4, NPY_DOUBLE, e, sizeof e);
    sums = PyArray_SimpleNew(2, d6, NPY_INT64);
    if (d == NULL || n == NULL || ext == NULL || sums == NULL) {
        goto error;
    }
    for (i = 0; i < 6; i++) {
        memcpy((int64_t *)PyArray_DATA((PyArrayObject *)sums) + i * MUSHIN_XSUM_LIMBS,
               x[i]->limb, sizeof x[i]->limb);
    }
    if (PyDict_SetItemString(d, "n", n) < 0 || PyDict_SetItemString(d, "extremes", ext) < 0
        || PyDict_SetItemString(d, "sums", sums) < 0) {
        goto error;
    }
    Py_DECREF(n);
    Py_DECREF(ext);
    Py_DECREF(sums);
    return d;
error:
    Py_XDECREF(d);
    Py_XDECREF(n);
    Py_XDECREF(ext);
    Py_XDECREF(sums);
    return NULL;
}

static int
moments_from_dict(PyObject *d, mushin_regression_moments *s, const char *method)
{
    PyArrayObject *n = NULL, *ext = NULL, *sums = NULL;
    const char *what = NULL;
    const double *e;
    mushin_xsum *x[6] = {&s->sum_p, &s->sum_t, &s->sum_abs,
                         &s->sum_pp, &s->sum_tt, &s->sum_pt};
    int i, rc = -1;
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a dict from state_dict(), got %R",
                     method, (PyObject *)Py_TYPE(d));
        goto done;
    }
    if ((n = dict_array(d, method, "n", NPY_INT64, 0)) == NULL
        || (ext = dict_array(d, method, "extremes", NPY_DOUBLE, 1)) == NULL
        || (sums = dict_array(d, method, "sums", NPY_INT64, 2)) == NULL) {
        goto done;
    }
    if (PyArray_DIM(ext, 0) != 4 || PyArray_DIM(sums, 0) != 6
        || PyArray_DIM(sums, 1) != MUSHIN_XSUM_LIMBS) {
        PyErr_Format(PyExc_ValueError,
                     "%s: state dict entries have the wrong shapes (extremes %zd, "
                     "sums %zd x %zd; expected 4 and 6 x %d)", method,
                     PyArray_DIM(ext, 0), PyArray_DIM(sums, 0),
                     PyArray_NDIM(sums) > 1 ? PyArray_DIM(sums, 1) : 0,
                     MUSHIN_XSUM_LIMBS);
        goto done;
    }
    mushin_regression_init(s);
    s->n = *(const int64_t *)PyArray_DATA(n);
    e = (const double *)PyArray_DATA(ext);
    s->min_p = e[0];
    s->max_p = e[1];
    s->min_t = e[2];
    s->max_t = e[3];
    for (i = 0; i < 6; i++) {
        memcpy(x[i]->limb, (const int64_t *)PyArray_DATA(sums) + i * MUSHIN_XSUM_LIMBS,
               sizeof x[i]->limb);
    }
    if (mushin_regression_check_state(s, &what) != MUSHIN_OK) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the state dict is not one state_dict() could return "
                     "(field %s is inconsistent); the state is unchanged",
                     method, what);
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(n);
    Py_XDECREF(ext);
    Py_XDECREF(sums);
    return rc;
}

static PyObject *
moments_state_dict(MomentsObject *self, PyObject *Py_UNUSED(ignored))
{
    mushin_regression_moments copy;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    copy = self->state;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    return moments_to_dict(&copy);
}

static PyObject *
moments_load_state_dict(MomentsObject *self, PyObject *d)
{
    mushin_regression_moments s;
    if (moments_from_dict(d, &s, "RegressionMoments.load_state_dict") < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    self->state = s;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
moments_merge(MomentsObject *self, PyObject *other)
{
    static const char *method = "RegressionMoments.merge";
    mushin_regression_moments s;
    PyObject *d = NULL, *result = NULL;
    int status;
    if ((d = as_state_dict((PyObject *)self, other, method)) == NULL
        || moments_from_dict(d, &s, method) < 0) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    status = mushin_regression_merge(&self->state, &s);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        status_error(status, method);
        goto error;
    }
    result = Py_NewRef(Py_None);
error:
    Py_XDECREF(d);
    return result;
}

static PyObject *
metrics_dict(const char *const *names, const double *values, int count)
{
    PyObject *d = PyDict_New(), *v = NULL;
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

static PyObject *
moments_compute(MomentsObject *self, PyObject *Py_UNUSED(ignored))
{
    static const char *const names[5] = {"mse", "mae", "rmse", "r2", "pearson"};
    mushin_regression_metrics out;
    double values[5];
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mushin_regression_compute(&self->state, &out);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    values[0] = out.mse;
    values[1] = out.mae;
    values[2] = out.rmse;
    values[3] = out.r2;
    values[4] = out.pearson;
    return metrics_dict(names, values, 5);
}

static PyObject *
moments_reset(MomentsObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mushin_regression_init(&self->state);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
moments_get_n(MomentsObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->state.n);
}

static PyMethodDef moments_methods[] = {
    {"update", (PyCFunction)(void (*)(void))moments_update, METH_VARARGS | METH_KEYWORDS,
     moments_update_doc},
    {"merge", (PyCFunction)moments_merge, METH_O,
     "merge(other)\n--\n\nAdd another RegressionMoments (or its state_dict()); exact."},
    {"state_dict", (PyCFunction)moments_state_dict, METH_NOARGS,
     "state_dict()\n--\n\nThe exact state as a dict of NumPy arrays."},
    {"load_state_dict", (PyCFunction)moments_load_state_dict, METH_O,
     "load_state_dict(d)\n--\n\nReplace the state by a checked state_dict()."},
    {"compute", (PyCFunction)moments_compute, METH_NOARGS,
     "compute()\n--\n\n{'mse', 'mae', 'rmse', 'r2', 'pearson'} as torchmetrics defines them."},
    {"reset", (PyCFunction)moments_reset, METH_NOARGS, "reset()\n--\n\nForget every batch."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef moments_getset[] = {
    {"n", (getter)moments_get_n, NULL, "pairs seen", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(moments_doc,
"RegressionMoments()\n--\n\n"
"Exact, mergeable moments of (pred, target) pairs: mse, mae, rmse, r2 and\n"
"pearson equal to torchmetrics' MeanSquaredError, MeanAbsoluteError,\n"
"MeanSquaredError(squared=False), R2Score and PearsonCorrCoef.  Sums are\n"
"kept as exact integers, so results are bit-identical for any batch split\n"
"or merge order.");

static PyType_Slot moments_slots[] = {
    {Py_tp_new, moments_new},
    {Py_tp_dealloc, moments_dealloc},
    {Py_tp_methods, moments_methods},
    {Py_tp_getset, moments_getset},
    {Py_tp_doc, (void *)moments_doc},
    {0, NULL},
};

static PyType_Spec moments_spec = {
    "mushin._core.RegressionMoments", sizeof(MomentsObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE, moments_slots,
};

/* ------------------------------------------------------- RankedPairs -- */

typedef struct {
    PyObject_HEAD
    mushin_ranked_pairs state;
    PyThread_type_lock lock;
} PairsObject;

static PyObject *
pairs_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PairsObject *self;
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":RankedPairs", kwlist)) {
        return NULL;
    }
    self = (PairsObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    mushin_ranked_pairs_init(&self->state);
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
pairs_dealloc(PairsObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    mushin_ranked_pairs_clear(&self->state);
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
pairs_update(PairsObject *self, PyObject *args, PyObject *kwds)
{
    return pair_batch_update("RankedPairs.update", self->lock, &self->state, pairs_kernel,
                             args, kwds);
}

static PyObject *
pairs_state_dict(PairsObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *d = NULL, *p = NULL, *t = NULL;
    npy_intp dims[1];
    d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    /* allocating with the lock held would need the GIL inside it: take
     * the lock with the GIL, as no kernel holding it waits for the GIL */
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    dims[0] = (npy_intp)self->state.n;
    p = array_copy(1, dims, NPY_FLOAT, self->state.preds, (size_t)self->state.n * sizeof(float));
    t = array_copy(1, dims, NPY_FLOAT, self->state.target, (size_t)self->state.n * sizeof(float));
    PyThread_release_lock(self->lock);
    if (p == NULL || t == NULL || PyDict_SetItemString(d, "preds", p) < 0
        || PyDict_SetItemString(d, "target", t) < 0) {
        Py_CLEAR(d);
    }
    Py_XDECREF(p);
    Py_XDECREF(t);
    return d;
}

/* a new pairs state holding d's pairs, checked */
static int
pairs_from_dict(PyObject *d, mushin_ranked_pairs *s, const char *method)
{
    PyArrayObject *p = NULL, *t = NULL;
    mushin_regression_bad bad;
    int status, rc = -1;
    mushin_ranked_pairs_init(s);
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a dict from state_dict(), got %R",
                     method, (PyObject *)Py_TYPE(d));
        goto done;
    }
    if ((p = dict_array(d, method, "preds", NPY_FLOAT, 1)) == NULL
        || (t = dict_array(d, method, "target", NPY_FLOAT, 1)) == NULL
        || check_shapes(p, t, method, "preds", "target", 1) < 0) {
        goto done;
    }
    status = mushin_ranked_pairs_append(s, PyArray_SIZE(p), vec_view(p), vec_view(t), &bad);
    if (status == MUSHIN_EBADVALUE) {
        report_regression_bad(&bad, method);
        goto done;
    }
    if (status != MUSHIN_OK) {
        status_error(status, method);
        goto done;
    }
    rc = 0;
done:
    if (rc < 0) {
        mushin_ranked_pairs_clear(s);
    }
    Py_XDECREF(p);
    Py_XDECREF(t);
    return rc;
}

static PyObject *
pairs_load_state_dict(PairsObject *self, PyObject *d)
{
    mushin_ranked_pairs s, old;
    if (pairs_from_dict(d, &s, "RankedPairs.load_state_dict") < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    old = self->state;
    self->state = s;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    mushin_ranked_pairs_clear(&old);
    Py_RETURN_NONE;
}

static PyObject *
pairs_merge(PairsObject *self, PyObject *other)
{
    static const char *method = "RankedPairs.merge";
    mushin_ranked_pairs s;
    mushin_regression_bad bad;
    PyObject *d = NULL, *result = NULL;
    int status, have = 0;
    if ((d = as_state_dict((PyObject *)self, other, method)) == NULL
        || pairs_from_dict(d, &s, method) < 0) {
        goto error;
    }
    have = 1;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    {
        const mushin_vec_view vp = {(const char *)s.preds, MUSHIN_FLOAT32, sizeof(float)};
        const mushin_vec_view vt = {(const char *)s.target, MUSHIN_FLOAT32, sizeof(float)};
        status = mushin_ranked_pairs_append(&self->state, s.n, vp, vt, &bad);
    }
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        status_error(status, method);
        goto error;
    }
    result = Py_NewRef(Py_None);
error:
    if (have) {
        mushin_ranked_pairs_clear(&s);
    }
    Py_XDECREF(d);
    return result;
}

static PyObject *
pairs_compute(PairsObject *self, PyObject *Py_UNUSED(ignored))
{
    static const char *const names[1] = {"spearman"};
    double rho;
    int status;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    status = mushin_spearman(&self->state, &rho);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        status_error(status, "RankedPairs.compute");
        return NULL;
    }
    return metrics_dict(names, &rho, 1);
}

static PyObject *
pairs_reset(PairsObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mushin_ranked_pairs_clear(&self->state);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
pairs_get_n(PairsObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->state.n);
}

static PyMethodDef pairs_methods[] = {
    {"update", (PyCFunction)(void (*)(void))pairs_update, METH_VARARGS | METH_KEYWORDS,
     "update(preds, target)\n--\n\nKeep a batch of (pred, target) pairs (finite floats)."},
    {"merge", (PyCFunction)pairs_merge, METH_O,
     "merge(other)\n--\n\nAppend another RankedPairs (or its state_dict())."},
    {"state_dict", (PyCFunction)pairs_state_dict, METH_NOARGS,
     "state_dict()\n--\n\n{'preds', 'target'} as float32 arrays."},
    {"load_state_dict", (PyCFunction)pairs_load_state_dict, METH_O,
     "load_state_dict(d)\n--\n\nReplace the pairs by a checked state_dict()."},
    {"compute", (PyCFunction)pairs_compute, METH_NOARGS,
     "compute()\n--\n\n{'spearman'} as torchmetrics' SpearmanCorrCoef."},
    {"reset", (PyCFunction)pairs_reset, METH_NOARGS, "reset()\n--\n\nForget every pair."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pairs_getset[] = {
    {"n", (getter)pairs_get_n, NULL, "pairs kept", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot pairs_slots[] = {
    {Py_tp_new, pairs_new},
    {Py_tp_dealloc, pairs_dealloc},
    {Py_tp_methods, pairs_methods},
    {Py_tp_getset, pairs_getset},
    {Py_tp_doc, (void *)"RankedPairs()\n--\n\n"
                        "Every (pred, target) pair, kept as float32 like SpearmanCorrCoef,\n"
                        "for Spearman's rank correlation; the\n"
                        "result does not depend on the order pairs arrived in."},
    {0, NULL},
};

static PyType_Spec pairs_spec = {
    "mushin._core.RankedPairs", sizeof(PairsObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE, pairs_slots,
};

/* --------------------------------------------------- RetrievalGroups -- */

typedef struct {
    PyObject_HEAD
    mushin_retrieval_groups state;
    int64_t top_k; /* 0: none */
    PyThread_type_lock lock;
} GroupsObject;

static PyObject *
groups_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    GroupsObject *self;
    static char *kwlist[] = {"top_k", "graded", NULL};
    PyObject *top_k_obj = Py_None;
    int graded = 0;
    long long top_k = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$p:RetrievalGroups", kwlist,
                                     &top_k_obj, &graded)) {
        return NULL;
    }
    if (top_k_obj != Py_None) {
        if (!PyLong_Check(top_k_obj) || PyBool_Check(top_k_obj)) {
            PyErr_Format(PyExc_TypeError,
                         "RetrievalGroups: `top_k` must be a positive int or None, got %R",
                         top_k_obj);
            return NULL;
        }
        top_k = PyLong_AsLongLong(top_k_obj);
        if (top_k == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (top_k <= 0) {
            PyErr_Format(PyExc_ValueError,
                         "RetrievalGroups: `top_k` must be a positive int or None, got %lld",
                         top_k);
            return NULL;
        }
    }
    self = (GroupsObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    mushin_retrieval_init(&self->state, graded);
    self->top_k = top_k;
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
groups_dealloc(GroupsObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    mushin_retrieval_clear(&self->state);
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static mushin_rt_view
rt_view(PyArrayObject *a)
{
    mushin_rt_view v;
    v.data = PyArray_DATA(a);
    v.stride = PyArray_ITEMSIZE(a);
    switch (PyArray_TYPE(a)) {
    case NPY_BOOL:
        v.type = MUSHIN_RT_UINT8;
        break;
    case NPY_FLOAT:
        v.type = MUSHIN_RT_FLOAT32;
        break;
    case NPY_DOUBLE:
        v.type = MUSHIN_RT_FLOAT64;
        break;
    default:
        v.type = PyArray_ITEMSIZE(a) == 8 ? MUSHIN_RT_INT64 : MUSHIN_RT_INT32;
    }
    return v;
}

static int
report_retrieval_bad(const mushin_retrieval_bad *bad, int graded, const char *method)
{
    static const char *what[3] = {
        "negative query index(es); query indexes must be >= 0",
        "non-finite score(s) (or beyond float32's range, where torchmetrics "
        "casts scores); scores must be finite",
        NULL,
    };
    const char *why = bad->which < 2 ? what[bad->which]
                      : (graded ? "non-finite relevance(s); relevances must be finite"
                                : "relevance(s) other than 0 and 1; retrieval_map, mrr, "
                                  "precision and recall need binary relevance "
                                  "(pass graded=True for ndcg alone)");
    static const char *names[3] = {"indexes", "preds", "target"};
    PyObject *first = PyFloat_FromDouble(bad->first);
    if (first == NULL) {
        return -1;
    }
    PyErr_Format(PyExc_ValueError,
                 "%s: `%s` holds %lld %s (first: %R at flat position %lld). "
                 "The state is unchanged.",
                 method, names[bad->which], (long long)bad->count, why, first,
                 (long long)bad->first_pos);
    Py_DECREF(first);
    return -1;
}

PyDoc_STRVAR(groups_update_doc,
"update(preds, target, indexes)\n--\n\n"
"Keep a batch of (query index, score, relevance) triples of one shape:\n"
"float scores, bool/int/float relevance (0 or 1 unless graded), int64\n"
"query indexes >= 0.  A bad batch raises and leaves the state unchanged.");

static PyObject *
groups_update(GroupsObject *self, PyObject *args, PyObject *kwds)
{
    static const char *method = "RetrievalGroups.update";
    static char *kwlist[] = {"preds", "target", "indexes", NULL};
    PyObject *p_obj, *t_obj, *i_obj, *result = NULL;
    PyArrayObject *p = NULL, *t = NULL, *ix = NULL;
    mushin_retrieval_bad bad;
    int status;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:update", kwlist, &p_obj, &t_obj,
                                     &i_obj)) {
        goto error;
    }
    if ((p = as_array(p_obj, method, "preds", "float")) == NULL
        || (t = as_array(t_obj, method, "target", "relevance")) == NULL
        || (ix = as_array(i_obj, method, "indexes", "index")) == NULL
        || check_shapes(p, t, method, "preds", "target", 0) < 0
        || check_shapes(p, ix, method, "preds", "indexes", 0) < 0) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    status = mushin_retrieval_append(&self->state, PyArray_SIZE(p), rt_view(ix), rt_view(p),
                                     rt_view(t), &bad);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        report_retrieval_bad(&bad, self->state.graded, method);
        goto error;
    }
    if (status != MUSHIN_OK) {
        status_error(status, method);
        goto error;
    }
    result = Py_NewRef(Py_None);
error:
    Py_XDECREF(p);
    Py_XDECREF(t);
    Py_XDECREF(ix);
    return result;
}

static PyObject *
groups_state_dict(GroupsObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *d = NULL, *ix = NULL, *p = NULL, *t = NULL, *g = NULL;
    npy_intp dims[1];
    d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    dims[0] = (npy_intp)self->state.n;
    ix = array_copy(1, dims, NPY_INT64, self->state.index, (size_t)self->state.n * 8);
    p = array_copy(1, dims, NPY_FLOAT, self->state.preds, (size_t)self->state.n * 4);
    t = array_copy(1, dims, NPY_DOUBLE, self->state.target, (size_t)self->state.n * 8);
    PyThread_release_lock(self->lock);
    g = PyBool_FromLong(self->state.graded);
    if (ix == NULL || p == NULL || t == NULL || PyDict_SetItemString(d, "indexes", ix) < 0
        || PyDict_SetItemString(d, "preds", p) < 0 || PyDict_SetItemString(d, "target", t) < 0
        || PyDict_SetItemString(d, "graded", g) < 0) {
        Py_CLEAR(d);
    }
    Py_XDECREF(ix);
    Py_XDECREF(p);
    Py_XDECREF(t);
    Py_XDECREF(g);
    return d;
}

/* a new groups state (graded as `graded`) holding d's triples, checked */
static int
groups_from_dict(PyObject *d, mushin_retrieval_groups *s, int graded, const char *method)
{
    PyArrayObject *p = NULL, *t = NULL, *ix = NULL;
    mushin_retrieval_bad bad;
    int status, rc = -1;
    mushin_retrieval_init(s, graded);
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a dict from state_dict(), got %R",
                     method, (PyObject *)Py_TYPE(d));
        goto done;
    }
    if ((ix = dict_array(d, method, "indexes", NPY_INT64, 1)) == NULL
        || (p = dict_array(d, method, "preds", NPY_FLOAT, 1)) == NULL
        || (t = dict_array(d, method, "target", NPY_DOUBLE, 1)) == NULL
        || check_shapes(p, t, method, "preds", "target", 0) < 0
        || check_shapes(p, ix, method, "preds", "indexes", 0) < 0) {
        goto done;
    }
    status = mushin_retrieval_append(s, PyArray_SIZE(p), rt_view(ix), rt_view(p), rt_view(t),
                                     &bad);
    if (status == MUSHIN_EBADVALUE) {
        report_retrieval_bad(&bad, graded, method);
        goto done;
    }
    if (status != MUSHIN_OK) {
        status_error(status, method);
        goto done;
    }
    rc = 0;
done:
    if (rc < 0) {
        mushin_retrieval_clear(s);
    }
    Py_XDECREF(p);
    Py_XDECREF(t);
    Py_XDECREF(ix);
    return rc;
}

static PyObject *
groups_load_state_dict(GroupsObject *self, PyObject *d)
{
    mushin_retrieval_groups s, old;
    if (groups_from_dict(d, &s, self->state.graded, "RetrievalGroups.load_state_dict") < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    old = self->state;
    self->state = s;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    mushin_retrieval_clear(&old);
    Py_RETURN_NONE;
}

static PyObject *
groups_merge(GroupsObject *self, PyObject *other)
{
    static const char *method = "RetrievalGroups.merge";
    mushin_retrieval_groups s;
    PyObject *d = NULL, *result = NULL;
    int status, have = 0;
    if ((d = as_state_dict((PyObject *)self, other, method)) == NULL
        || groups_from_dict(d, &s, self->state.graded, method) < 0) {
        goto error;
    }
    have = 1;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    status = mushin_retrieval_merge(&self->state, &s);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        status_error(status, method);
        goto error;
    }
    result = Py_NewRef(Py_None);
error:
    if (have) {
        mushin_retrieval_clear(&s);
    }
    Py_XDECREF(d);
    return result;
}

static PyObject *
groups_compute(GroupsObject *self, PyObject *Py_UNUSED(ignored))
{
    static const char *const names[5] = {"retrieval_map", "ndcg", "mrr", "precision", "recall"};
    static const char *const graded_names[1] = {"ndcg"};
    mushin_retrieval_metrics out;
    double values[5];
    int status;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    status = mushin_retrieval_compute(&self->state, self->top_k, &out);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        status_error(status, "RetrievalGroups.compute");
        return NULL;
    }
    if (self->state.graded) {
        /* the other four are defined for binary relevance only */
        return metrics_dict(graded_names, &out.ndcg, 1);
    }
    values[0] = out.map;
    values[1] = out.ndcg;
    values[2] = out.mrr;
    values[3] = out.precision;
    values[4] = out.recall;
    return metrics_dict(names, values, 5);
}

static PyObject *
groups_reset(GroupsObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mushin_retrieval_clear(&self->state);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
groups_get_n(GroupsObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(self->state.n);
}

static PyObject *
groups_get_top_k(GroupsObject *self, void *Py_UNUSED(closure))
{
    if (self->top_k == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(self->top_k);
}

static PyObject *
groups_get_graded(GroupsObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->state.graded);
}

static PyMethodDef groups_methods[] = {
    {"update", (PyCFunction)(void (*)(void))groups_update, METH_VARARGS | METH_KEYWORDS,
     groups_update_doc},
    {"merge", (PyCFunction)groups_merge, METH_O,
     "merge(other)\n--\n\nAppend another RetrievalGroups (or its state_dict())."},
    {"state_dict", (PyCFunction)groups_state_dict, METH_NOARGS,
     "state_dict()\n--\n\n{'indexes', 'preds', 'target', 'graded'}."},
    {"load_state_dict", (PyCFunction)groups_load_state_dict, METH_O,
     "load_state_dict(d)\n--\n\nReplace the triples by a checked state_dict()."},
    {"compute", (PyCFunction)groups_compute, METH_NOARGS,
     "compute()\n--\n\n{'retrieval_map', 'ndcg', 'mrr', 'precision', 'recall'} ({'ndcg'} when graded)."},
    {"reset", (PyCFunction)groups_reset, METH_NOARGS, "reset()\n--\n\nForget every triple."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef groups_getset[] = {
    {"n", (getter)groups_get_n, NULL, "triples kept", NULL},
    {"top_k", (getter)groups_get_top_k, NULL, "the cut-off, or None", NULL},
    {"graded", (getter)groups_get_graded, NULL, "whether relevance may be graded", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot groups_slots[] = {
    {Py_tp_new, groups_new},
    {Py_tp_dealloc, groups_dealloc},
    {Py_tp_methods, groups_methods},
    {Py_tp_getset, groups_getset},
    {Py_tp_doc, (void *)"RetrievalGroups(top_k=None, *, graded=False)\n--\n\n"
                        "Every (query, score, relevance) triple; computes torchmetrics'\n"
                        "RetrievalMAP, RetrievalNormalizedDCG, RetrievalMRR,\n"
                        "RetrievalPrecision and RetrievalRecall at one top_k."},
    {0, NULL},
};

static PyType_Spec groups_spec = {
    "mushin._core.RetrievalGroups", sizeof(GroupsObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE, groups_slots,
};

/* ------------------------------------------------------------ module -- */

int
mushin_add_metric_state_types(PyObject *module)
{
    PyType_Spec *specs[3] = {&moments_spec, &pairs_spec, &groups_spec};
    int i;
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    for (i = 0; i < 3; i++) {
        PyObject *type = PyType_FromModuleAndSpec(module, specs[i], NULL);
        if (type == NULL) {
            return -1;
        }
        if (PyModule_AddType(module, (PyTypeObject *)type) < 0) {
            Py_DECREF(type);
            return -1;
        }
        Py_DECREF(type);
    }
    return 0;
}
