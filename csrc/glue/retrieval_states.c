/*
 * retrieval_states.c -- the CPython type RetrievalGroups over
 * csrc/kernels/retrieval.h: every (query, score, relevance) triple, for
 * retrieval_map, ndcg, mrr, precision and recall at one top_k.
 *
 * The state protocol as in regression_states.c: update(preds, target,
 * indexes) reads its batch by DLPack (state_inputs.c) with the GIL held,
 * copies a strided batch and runs the kernel without it, under the
 * object's own lock; every failure leaves the state as it was.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include "numpy_api.h"

#include <stddef.h>
#include <string.h>

#include "kernels/retrieval.h"
#include "glue_common.h"
#include "module_state.h"
#include "state_inputs.h"

int mushin_add_retrieval_type(PyObject *module);

/* --------------------------------------------------- RetrievalGroups -- */

typedef struct {
    mushin_state_object head;
    mushin_retrieval_groups state;
    int64_t top_k; /* 0: none */
} GroupsObject;

/* the state protocol (state_inputs.h): this type's kernel calls */
static int groups_from_dict(PyObject *self, PyObject *d, void *out, const char *method);
static int groups_merge_kernel(void *state, void *other);
static void groups_clear_kernel(void *state);

static const mushin_state_ops groups_ops = {
    "RetrievalGroups", offsetof(GroupsObject, state), offsetof(GroupsObject, state.n),
    sizeof(mushin_retrieval_groups), groups_from_dict, groups_merge_kernel, groups_clear_kernel,
    groups_clear_kernel,
};

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
    self->head.ops = &groups_ops;
    return mushin_glue_with_lock((PyObject *)self, &self->head.lock);
}

/* a state dict entry (int64, float32 or float64, contiguous) as a view */
static mushin_rt_view
array_rt(PyObject *array)
{
    PyArrayObject *a = (PyArrayObject *)array;
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
    mushin_module_state *st = mushin_module_state_of(Py_TYPE(self));
    PyObject *p_obj, *t_obj, *i_obj, *result = NULL;
    mushin_input p, t, ix;
    mushin_shape ps, ts, is;
    mushin_retrieval_bad bad;
    int status;
    memset(&p, 0, sizeof(p));
    memset(&t, 0, sizeof(t));
    memset(&ix, 0, sizeof(ix));
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:update", kwlist, &p_obj, &t_obj,
                                     &i_obj)) {
        goto error;
    }
    if (mushin_input_acquire(st, p_obj, method, "preds", MUSHIN_INPUT_FLOAT, &p) < 0 ||
        mushin_input_acquire(st, t_obj, method, "target", MUSHIN_INPUT_RELEVANCE, &t) < 0 ||
        mushin_input_acquire(st, i_obj, method, "indexes", MUSHIN_INPUT_INDEX, &ix) < 0) {
        goto error;
    }
    ps = mushin_shape_of_input(&p);
    ts = mushin_shape_of_input(&t);
    is = mushin_shape_of_input(&ix);
    if (mushin_check_shapes(&ps, &ts, method, "preds", "target", 0) < 0 ||
        mushin_check_shapes(&ps, &is, method, "preds", "indexes", 0) < 0) {
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    mushin_input_load(&p);
    mushin_input_load(&t);
    mushin_input_load(&ix);
    PyThread_acquire_lock(self->head.lock, WAIT_LOCK);
    status = mushin_retrieval_append(&self->state, p.n, mushin_input_rt(&ix), mushin_input_rt(&p),
                                     mushin_input_rt(&t), &bad);
    PyThread_release_lock(self->head.lock);
    Py_END_ALLOW_THREADS
    if (status == MUSHIN_EBADVALUE) {
        report_retrieval_bad(&bad, self->state.graded, method);
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
    mushin_input_release(&ix);
    return result;
}

static PyObject *
groups_state_dict(GroupsObject *self, PyObject *Py_UNUSED(ignored))
{
    static const mushin_column cols[3] = {{"indexes", NPY_INT64, sizeof(int64_t)},
                                          {"preds", NPY_FLOAT, sizeof(float)},
                                          {"target", NPY_DOUBLE, sizeof(double)}};
    PyObject *d;
    PyThread_acquire_lock(self->head.lock, WAIT_LOCK);
    {
        const void *src[3] = {self->state.index, self->state.preds, self->state.target};
        d = mushin_columns_dict(self->state.n, cols, src, 3);
    }
    PyThread_release_lock(self->head.lock);
    if (d != NULL && PyDict_SetItemString(d, "graded", self->state.graded ? Py_True : Py_False) < 0) {
        Py_CLEAR(d);
    }
    return d;
}

/* a new groups state (graded as self's) holding d's triples, checked */
static int
groups_from_dict(PyObject *self, PyObject *d, void *out, const char *method)
{
    mushin_retrieval_groups *s = (mushin_retrieval_groups *)out;
    const int graded = ((GroupsObject *)self)->state.graded;
    PyObject *p = NULL, *t = NULL, *ix = NULL;
    mushin_shape ps, ts, is;
    mushin_retrieval_bad bad;
    int status, rc = -1;
    mushin_retrieval_init(s, graded);
    if ((ix = mushin_state_dict_array(d, method, "indexes", NPY_INT64, 1)) == NULL ||
        (p = mushin_state_dict_array(d, method, "preds", NPY_FLOAT, 1)) == NULL ||
        (t = mushin_state_dict_array(d, method, "target", NPY_DOUBLE, 1)) == NULL) {
        goto done;
    }
    ps = mushin_shape_of_array(p);
    ts = mushin_shape_of_array(t);
    is = mushin_shape_of_array(ix);
    if (mushin_check_shapes(&ps, &ts, method, "preds", "target", 0) < 0 ||
        mushin_check_shapes(&ps, &is, method, "preds", "indexes", 0) < 0) {
        goto done;
    }
    status = mushin_retrieval_append(s, ps.dims[0], array_rt(ix), array_rt(p), array_rt(t), &bad);
    if (status == MUSHIN_EBADVALUE) {
        report_retrieval_bad(&bad, graded, method);
        goto done;
    }
    if (status != MUSHIN_OK) {
        mushin_state_status_error(status, method);
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

static int
groups_merge_kernel(void *state, void *other)
{
    return mushin_retrieval_merge((mushin_retrieval_groups *)state,
                                  (const mushin_retrieval_groups *)other);
}

static void
groups_clear_kernel(void *state)
{
    mushin_retrieval_clear((mushin_retrieval_groups *)state);
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
    PyThread_acquire_lock(self->head.lock, WAIT_LOCK);
    status = mushin_retrieval_compute(&self->state, self->top_k, &out);
    PyThread_release_lock(self->head.lock);
    Py_END_ALLOW_THREADS
    if (status != MUSHIN_OK) {
        mushin_state_status_error(status, "RetrievalGroups.compute");
        return NULL;
    }
    if (self->state.graded) {
        /* the other four are defined for binary relevance only */
        return mushin_metrics_dict(graded_names, &out.ndcg, 1);
    }
    values[0] = out.map;
    values[1] = out.ndcg;
    values[2] = out.mrr;
    values[3] = out.precision;
    values[4] = out.recall;
    return mushin_metrics_dict(names, values, 5);
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
    {"merge", mushin_state_merge, METH_O,
     "merge(other)\n--\n\nAppend another RetrievalGroups (or its state_dict())."},
    {"state_dict", (PyCFunction)groups_state_dict, METH_NOARGS,
     "state_dict()\n--\n\n{'indexes', 'preds', 'target', 'graded'}."},
    {"load_state_dict", mushin_state_load, METH_O,
     "load_state_dict(d)\n--\n\nReplace the triples by a checked state_dict()."},
    {"compute", (PyCFunction)groups_compute, METH_NOARGS,
     "compute()\n--\n\n{'retrieval_map', 'ndcg', 'mrr', 'precision', 'recall'} ({'ndcg'} when graded)."},
    {"reset", mushin_state_reset, METH_NOARGS, "reset()\n--\n\nForget every triple."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef groups_getset[] = {
    {"n", mushin_state_get_n, NULL, "triples kept", NULL},
    {"top_k", (getter)groups_get_top_k, NULL, "the cut-off, or None", NULL},
    {"graded", (getter)groups_get_graded, NULL, "whether relevance may be graded", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot groups_slots[] = {
    {Py_tp_new, groups_new},
    {Py_tp_dealloc, mushin_state_dealloc},
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
mushin_add_retrieval_type(PyObject *module)
{
    /* NumPy's API table is per translation unit */
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    return mushin_glue_add_type(module, &groups_spec, NULL);
}
