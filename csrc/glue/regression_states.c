/*
 * regression_states.c -- CPython types for the regression states of
 * csrc/kernels/regression.h:
 *
 *   RegressionMoments   mse, mae, rmse, r2, pearson
 *   RankedPairs         spearman
 *
 * Both have the state protocol: update(preds, target), merge(other),
 * state_dict(), load_state_dict(d), compute() -> {name: float}, reset().
 * Batches are read by DLPack (state_inputs.c) and checked with the GIL
 * held; the GIL is released around the copy of a strided batch and the
 * kernel, under the object's own lock.  Every failure leaves the state as
 * it was.  The module adds these types and retrieval_states.c's with
 * mushin_add_metric_state_types().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include "numpy_api.h"

#include <stddef.h>
#include <string.h>

#include "kernels/regression.h"
#include "glue_common.h"
#include "module_state.h"
#include "state_inputs.h"

int mushin_add_metric_state_types(PyObject *module);
int mushin_add_retrieval_type(PyObject *module); /* retrieval_states.c */

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

/* update(preds, target) of both regression states: acquire and check with
 * the GIL held, copy (if strided) and run `kernel` on `state` under `lock`
 * without it, and raise with the state unchanged on a bad batch. */
static PyObject *
pair_batch_update(PyObject *self, const char *method, PyThread_type_lock lock, void *state,
                  pair_kernel kernel, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"preds", "target", NULL};
    mushin_module_state *st = mushin_module_state_of(Py_TYPE(self));
    PyObject *p_obj, *t_obj, *result = NULL;
    mushin_input p, t;
    mushin_shape ps, ts;
    mushin_regression_bad bad;
    int status;
    memset(&p, 0, sizeof(p));
    memset(&t, 0, sizeof(t));
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:update", kwlist, &p_obj, &t_obj)) {
        goto error;
    }
    if (mushin_input_acquire(st, p_obj, method, "preds", MUSHIN_INPUT_FLOAT, &p) < 0 ||
        mushin_input_acquire(st, t_obj, method, "target", MUSHIN_INPUT_FLOAT, &t) < 0) {
        goto error;
    }
    ps = mushin_shape_of_input(&p);
    ts = mushin_shape_of_input(&t);
    if (mushin_check_shapes(&ps, &ts, method, "preds", "target", 1) < 0) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    mushin_input_load(&p);
    mushin_input_load(&t);
    PyThread_acquire_lock(lock, WAIT_LOCK);
    status = kernel(state, p.n, mushin_input_vec(&p), mushin_input_vec(&t), &bad);
    PyThread_release_lock(lock);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        report_regression_bad(&bad, method);
        goto error;
    }
    if (status != MUSHIN_OK) {
        mushin_state_status_error(status, method);
        goto error;
    }
    result = Py_NewRef(Py_None);
error:
    mushin_input_release(&p);
    mushin_input_release(&t);
    return result;
}

/* a dict entry's flat float32/float64 run, for the kernels */
static mushin_vec_view
array_vec(PyObject *array)
{
    PyArrayObject *a = (PyArrayObject *)array;
    mushin_vec_view v;
    v.data = PyArray_DATA(a);
    v.type = PyArray_TYPE(a) == NPY_DOUBLE ? MUSHIN_FLOAT64 : MUSHIN_FLOAT32;
    v.stride = PyArray_ITEMSIZE(a);
    return v;
}

/* ------------------------------------------------- RegressionMoments -- */

typedef struct {
    mushin_state_object head; /* the lock guards state */
    mushin_regression_moments state;
} MomentsObject;

/* the state protocol (state_inputs.h): this type's kernel calls */
static int moments_from_dict(PyObject *self, PyObject *d, void *out, const char *method);
static int moments_merge_kernel(void *state, void *other);
static void moments_reset_kernel(void *state);

static const mushin_state_ops moments_ops = {
    "RegressionMoments", offsetof(MomentsObject, state), offsetof(MomentsObject, state.n),
    sizeof(mushin_regression_moments), moments_from_dict, moments_merge_kernel,
    moments_reset_kernel, NULL,
};

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
    self->head.ops = &moments_ops;
    return mushin_glue_with_lock((PyObject *)self, &self->head.lock);
}

static int
report_regression_bad(const mushin_regression_bad *bad, const char *method)
{
    PyObject *first = PyFloat_FromDouble(bad->first);
    if (first == NULL) {
        return -1;
    }
    PyErr_Format(PyExc_ValueError,
                 "%s: `%s` holds %lld non-finite value(s) (first: %R at flat "
                 "position %lld); regression metrics need finite numbers. The "
                 "state is unchanged.",
                 method, bad->which ? "target" : "preds", (long long)bad->count, first,
                 (long long)bad->first_pos);
    Py_DECREF(first);
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
    return pair_batch_update((PyObject *)self, "RegressionMoments.update", self->head.lock,
                             &self->state, moments_kernel, args, kwds);
}

/* the state as {"n": int64 (), "extremes": float64 (4,) = min_p, max_p,
 * min_t, max_t, "sums": int64 (6, LIMBS) = S(p), S(t), S(|p-t|), S(pp),
 * S(tt), S(pt) in base-2^32 limbs} */
static PyObject *
moments_to_dict(const mushin_regression_moments *s)
{
    PyObject *d = NULL, *n = NULL, *ext = NULL, *sums = NULL;
    npy_intp d6[2] = {6, MUSHIN_XSUM_LIMBS};
    const double e[4] = {s->min_p, s->max_p, s->min_t, s->max_t};
    const mushin_xsum *x[6] = {&s->sum_p, &s->sum_t, &s->sum_abs,
                               &s->sum_pp, &s->sum_tt, &s->sum_pt};
    int i;
    d = PyDict_New();
    n = PyArray_SimpleNew(0, NULL, NPY_INT64);
    if (n != NULL) {
        *(int64_t *)PyArray_DATA((PyArrayObject *)n) = s->n;
    }
    ext = mushin_array_copy_1d(4, NPY_DOUBLE, e, sizeof e[0]);
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
moments_from_dict(PyObject *Py_UNUSED(self), PyObject *d, void *out, const char *method)
{
    mushin_regression_moments *s = (mushin_regression_moments *)out;
    PyArrayObject *n = NULL, *ext = NULL, *sums = NULL;
    const char *what = NULL;
    const double *e;
    mushin_xsum *x[6] = {&s->sum_p, &s->sum_t, &s->sum_abs,
                         &s->sum_pp, &s->sum_tt, &s->sum_pt};
    int i, rc = -1;
    n = (PyArrayObject *)mushin_state_dict_array(d, method, "n", NPY_INT64, 0);
    ext = n == NULL ? NULL
                    : (PyArrayObject *)mushin_state_dict_array(d, method, "extremes", NPY_DOUBLE, 1);
    sums = ext == NULL ? NULL
                       : (PyArrayObject *)mushin_state_dict_array(d, method, "sums", NPY_INT64, 2);
    if (sums == NULL) {
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
    mushin_glue_locked_copy(self->head.lock, &copy, &self->state, sizeof copy);
    return moments_to_dict(&copy);
}

static int
moments_merge_kernel(void *state, void *other)
{
    return mushin_regression_merge((mushin_regression_moments *)state,
                                   (const mushin_regression_moments *)other);
}

static void
moments_reset_kernel(void *state)
{
    mushin_regression_init((mushin_regression_moments *)state);
}

static PyObject *
moments_compute(MomentsObject *self, PyObject *Py_UNUSED(ignored))
{
    static const char *const names[5] = {"mse", "mae", "rmse", "r2", "pearson"};
    mushin_regression_metrics out;
    double values[5];
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->head.lock, WAIT_LOCK);
    mushin_regression_compute(&self->state, &out);
    PyThread_release_lock(self->head.lock);
    Py_END_ALLOW_THREADS
    values[0] = out.mse;
    values[1] = out.mae;
    values[2] = out.rmse;
    values[3] = out.r2;
    values[4] = out.pearson;
    return mushin_metrics_dict(names, values, 5);
}

static PyMethodDef moments_methods[] = {
    {"update", (PyCFunction)(void (*)(void))moments_update, METH_VARARGS | METH_KEYWORDS,
     moments_update_doc},
    {"merge", mushin_state_merge, METH_O,
     "merge(other)\n--\n\nAdd another RegressionMoments (or its state_dict()); exact."},
    {"state_dict", (PyCFunction)moments_state_dict, METH_NOARGS,
     "state_dict()\n--\n\nThe exact state as a dict of NumPy arrays."},
    {"load_state_dict", mushin_state_load, METH_O,
     "load_state_dict(d)\n--\n\nReplace the state by a checked state_dict()."},
    {"compute", (PyCFunction)moments_compute, METH_NOARGS,
     "compute()\n--\n\n{'mse', 'mae', 'rmse', 'r2', 'pearson'} as torchmetrics defines them."},
    {"reset", mushin_state_reset, METH_NOARGS, "reset()\n--\n\nForget every batch."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef moments_getset[] = {
    {"n", mushin_state_get_n, NULL, "pairs seen", NULL},
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
    {Py_tp_dealloc, mushin_state_dealloc},
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
    mushin_state_object head;
    mushin_ranked_pairs state;
} PairsObject;

/* the state protocol (state_inputs.h): this type's kernel calls */
static int pairs_from_dict(PyObject *self, PyObject *d, void *out, const char *method);
static int pairs_merge_kernel(void *state, void *other);
static void pairs_clear_kernel(void *state);

static const mushin_state_ops pairs_ops = {
    "RankedPairs", offsetof(PairsObject, state), offsetof(PairsObject, state.n),
    sizeof(mushin_ranked_pairs), pairs_from_dict, pairs_merge_kernel, pairs_clear_kernel,
    pairs_clear_kernel,
};

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
    self->head.ops = &pairs_ops;
    return mushin_glue_with_lock((PyObject *)self, &self->head.lock);
}

static PyObject *
pairs_update(PairsObject *self, PyObject *args, PyObject *kwds)
{
    return pair_batch_update((PyObject *)self, "RankedPairs.update", self->head.lock, &self->state,
                             pairs_kernel, args, kwds);
}

static PyObject *
pairs_state_dict(PairsObject *self, PyObject *Py_UNUSED(ignored))
{
    static const mushin_column cols[2] = {{"preds", NPY_FLOAT, sizeof(float)},
                                          {"target", NPY_FLOAT, sizeof(float)}};
    PyObject *d;
    PyThread_acquire_lock(self->head.lock, WAIT_LOCK);
    {
        const void *src[2] = {self->state.preds, self->state.target};
        d = mushin_columns_dict(self->state.n, cols, src, 2);
    }
    PyThread_release_lock(self->head.lock);
    return d;
}

/* a new pairs state holding d's pairs, checked */
static int
pairs_from_dict(PyObject *Py_UNUSED(self), PyObject *d, void *out, const char *method)
{
    mushin_ranked_pairs *s = (mushin_ranked_pairs *)out;
    PyObject *p = NULL, *t = NULL;
    mushin_shape ps, ts;
    mushin_regression_bad bad;
    int status, rc = -1;
    mushin_ranked_pairs_init(s);
    if ((p = mushin_state_dict_array(d, method, "preds", NPY_FLOAT, 1)) == NULL ||
        (t = mushin_state_dict_array(d, method, "target", NPY_FLOAT, 1)) == NULL) {
        goto done;
    }
    ps = mushin_shape_of_array(p);
    ts = mushin_shape_of_array(t);
    if (mushin_check_shapes(&ps, &ts, method, "preds", "target", 1) < 0) {
        goto done;
    }
    status = mushin_ranked_pairs_append(s, ps.dims[0], array_vec(p), array_vec(t), &bad);
    if (status == MUSHIN_EBADVALUE) {
        report_regression_bad(&bad, method);
        goto done;
    }
    if (status != MUSHIN_OK) {
        mushin_state_status_error(status, method);
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

/* the other state's pairs (checked when it was read) appended */
static int
pairs_merge_kernel(void *state, void *other)
{
    const mushin_ranked_pairs *s = (const mushin_ranked_pairs *)other;
    const mushin_vec_view vp = {(const char *)s->preds, MUSHIN_FLOAT32, sizeof(float)};
    const mushin_vec_view vt = {(const char *)s->target, MUSHIN_FLOAT32, sizeof(float)};
    mushin_regression_bad bad;
    return mushin_ranked_pairs_append((mushin_ranked_pairs *)state, s->n, vp, vt, &bad);
}

static void
pairs_clear_kernel(void *state)
{
    mushin_ranked_pairs_clear((mushin_ranked_pairs *)state);
}

static PyObject *
pairs_compute(PairsObject *self, PyObject *Py_UNUSED(ignored))
{
    static const char *const names[1] = {"spearman"};
    double rho;
    int status;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->head.lock, WAIT_LOCK);
    status = mushin_spearman(&self->state, &rho);
    PyThread_release_lock(self->head.lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        mushin_state_status_error(status, "RankedPairs.compute");
        return NULL;
    }
    return mushin_metrics_dict(names, &rho, 1);
}

static PyMethodDef pairs_methods[] = {
    {"update", (PyCFunction)(void (*)(void))pairs_update, METH_VARARGS | METH_KEYWORDS,
     "update(preds, target)\n--\n\nKeep a batch of (pred, target) pairs (finite floats)."},
    {"merge", mushin_state_merge, METH_O,
     "merge(other)\n--\n\nAppend another RankedPairs (or its state_dict())."},
    {"state_dict", (PyCFunction)pairs_state_dict, METH_NOARGS,
     "state_dict()\n--\n\n{'preds', 'target'} as float32 arrays."},
    {"load_state_dict", mushin_state_load, METH_O,
     "load_state_dict(d)\n--\n\nReplace the pairs by a checked state_dict()."},
    {"compute", (PyCFunction)pairs_compute, METH_NOARGS,
     "compute()\n--\n\n{'spearman'} as torchmetrics' SpearmanCorrCoef."},
    {"reset", mushin_state_reset, METH_NOARGS, "reset()\n--\n\nForget every pair."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pairs_getset[] = {
    {"n", mushin_state_get_n, NULL, "pairs kept", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot pairs_slots[] = {
    {Py_tp_new, pairs_new},
    {Py_tp_dealloc, mushin_state_dealloc},
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

/* ------------------------------------------------------------ module -- */

int
mushin_add_metric_state_types(PyObject *module)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0 || mushin_state_inputs_init() < 0 ||
        mushin_glue_add_type(module, &moments_spec, NULL) < 0 ||
        mushin_glue_add_type(module, &pairs_spec, NULL) < 0) {
        return -1;
    }
    return mushin_add_retrieval_type(module);
}
