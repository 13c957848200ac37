/*
 * glue_common.c -- the patterns the state objects share; see glue_common.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include <string.h>

#include "glue_common.h"

/* ------------------------------------------------------------- locks -- */

PyObject *
mushin_glue_with_lock(PyObject *self, PyThread_type_lock *lock)
{
    *lock = PyThread_allocate_lock();
    if (*lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return self;
}

void
mushin_glue_dealloc(PyObject *self, PyThread_type_lock lock)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (lock != NULL) {
        PyThread_free_lock(lock);
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

void
mushin_glue_lock(PyThread_type_lock lock)
{
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    Py_END_ALLOW_THREADS
}

void
mushin_glue_locked_copy(PyThread_type_lock lock, void *dst, const void *src, size_t bytes)
{
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    memcpy(dst, src, bytes);
    PyThread_release_lock(lock);
    Py_END_ALLOW_THREADS
}

void
mushin_glue_locked_swap(PyThread_type_lock lock, void *a, void *b, size_t bytes)
{
    unsigned char *x = (unsigned char *)a, *y = (unsigned char *)b, t;
    size_t i;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    for (i = 0; i < bytes; i++) {
        t = x[i];
        x[i] = y[i];
        y[i] = t;
    }
    PyThread_release_lock(lock);
    Py_END_ALLOW_THREADS
}

/* ---------------------------------------------------- status, module -- */

int
mushin_glue_status_error(int status, const char *where, const char *kernel)
{
    if (status == MUSHIN_ENOMEM) {
        PyErr_NoMemory();
    }
    else if (where != NULL) {
        PyErr_Format(PyExc_SystemError, "%s: %s failed with status %d", where, kernel, status);
    }
    else {
        PyErr_Format(PyExc_SystemError, "%s failed with status %d", kernel, status);
    }
    return -1;
}

int
mushin_glue_add_type(PyObject *module, PyType_Spec *spec, PyObject **keep)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
    int status;
    if (type == NULL) {
        return -1;
    }
    status = PyModule_AddType(module, (PyTypeObject *)type);
    if (status == 0 && keep != NULL) {
        *keep = type; /* the state's reference */
        return 0;
    }
    Py_DECREF(type);
    return status;
}

/* -------------------------------------------------------- arguments -- */

int
mushin_parse_ignore_index(PyObject *obj, int *has_ignore, int64_t *ignore_index)
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

int
mushin_parse_num_classes(const char *owner, long long num_classes)
{
    if (num_classes < 1 || num_classes > (1LL << 16)) {
        PyErr_Format(PyExc_ValueError, "%s%snum_classes must be between 1 and 65536, got %lld",
                     owner != NULL ? owner : "", owner != NULL ? ": " : "", num_classes);
        return -1;
    }
    return 0;
}

PyObject *
mushin_ignore_index_object(int has_ignore, int64_t ignore_index)
{
    if (!has_ignore) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(ignore_index);
}

PyObject *
mushin_classes_repr(const char *name, int64_t num_classes, int has_ignore, int64_t ignore_index)
{
    if (has_ignore) {
        return PyUnicode_FromFormat("%s(num_classes=%lld, ignore_index=%lld)", name,
                                    (long long)num_classes, (long long)ignore_index);
    }
    return PyUnicode_FromFormat("%s(num_classes=%lld)", name, (long long)num_classes);
}

/* ------------------------------------------------------- state dicts -- */

int
mushin_require_state_dict(PyObject *d, const char *method)
{
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a dict from state_dict(), got %.200s",
                     method, Py_TYPE(d)->tp_name);
        return -1;
    }
    return 0;
}

int
mushin_state_dict_classes(PyObject *d, const char *method, const char *const *keys,
                          const char *listed, int64_t num_classes, const char *mine)
{
    PyObject *item = PyDict_GetItemString(d, "num_classes");
    long long given;
    int i, missing = item == NULL;
    for (i = 0; keys[i] != NULL && !missing; i++) {
        missing = PyDict_GetItemString(d, keys[i]) == NULL;
    }
    if (missing) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the state dict needs %s entries; pass what state_dict() returned",
                     method, listed);
        return -1;
    }
    given = PyLong_AsLongLong(item);
    if (given == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (given != num_classes) {
        PyErr_Format(PyExc_ValueError, "%s: the state has num_classes=%lld, this %s %lld",
                     method, given, mine, (long long)num_classes);
        return -1;
    }
    return 0;
}

/* -------------------------------------------------- class-index batches -- */

static void
describe(const dl_view *v, mushin_dl_text *out)
{
    mushin_dlpack_dtype_name(v->t->dtype, out->dtype, sizeof(out->dtype));
    mushin_dlpack_format_shape(v->t, out->shape, sizeof(out->shape));
}

int
mushin_dlpack_acquire_pair(mushin_module_state *st, PyObject *a, const char *an, PyObject *b,
                           const char *bn, dl_view *va, dl_view *vb, mushin_dl_text *ta,
                           mushin_dl_text *tb)
{
    memset(vb, 0, sizeof(*vb));
    if (mushin_dlpack_acquire(st, a, an, va) < 0) {
        return -1;
    }
    if (mushin_dlpack_acquire(st, b, bn, vb) < 0) {
        mushin_dlpack_release(va);
        return -1;
    }
    describe(va, ta);
    describe(vb, tb);
    return 0;
}

/* "cuda:0", or "cuda" without the index */
static void
device_text(const DLTensor *t, int with_id, char *buf, size_t len)
{
    if (with_id) {
        PyOS_snprintf(buf, len, "%s:%d", mushin_dlpack_device_name(t->device.device_type),
                      (int)t->device.device_id);
    }
    else {
        PyOS_snprintf(buf, len, "%s", mushin_dlpack_device_name(t->device.device_type));
    }
}

int
mushin_require_host_pair(const char *method, const char *an, const dl_view *va, const char *bn,
                         const dl_view *vb, int with_ids)
{
    char da[48], db[48];
    if (mushin_dlpack_is_host(va->t) && mushin_dlpack_is_host(vb->t)) {
        return 0;
    }
    device_text(va->t, with_ids, da, sizeof(da));
    device_text(vb->t, with_ids, db, sizeof(db));
    PyErr_Format(PyExc_ValueError,
                 "%s reads host memory, but %s is on %s and %s is on %s; move both to the CPU",
                 method, an, da, bn, db);
    return -1;
}

int
mushin_match_index_shapes(const dl_view *p, const dl_view *t, const mushin_dl_text *pt,
                          const mushin_dl_text *tt, int from, int64_t *count)
{
    int i, same = p->t->ndim == t->t->ndim;
    *count = 1;
    for (i = 0; same && i < p->t->ndim; i++) {
        same = p->t->shape[i] == t->t->shape[i];
        if (i >= from) {
            *count *= p->t->shape[i];
        }
    }
    if (!same) {
        PyErr_Format(PyExc_ValueError, "preds shape %s does not match target shape %s",
                     pt->shape, tt->shape);
        return -1;
    }
    return 0;
}

int
mushin_match_logits_target(const dl_view *l, const dl_view *t, int class_dim,
                           const mushin_dl_text *lt, const mushin_dl_text *tt, int from,
                           int64_t *count)
{
    int i, k, same = t->t->ndim == l->t->ndim - 1;
    *count = 1;
    for (i = 0, k = 0; same && i < l->t->ndim; i++) {
        if (i == class_dim) {
            continue;
        }
        same = t->t->shape[k] == l->t->shape[i];
        if (k >= from) {
            *count *= t->t->shape[k];
        }
        k++;
    }
    if (!same) {
        PyErr_Format(PyExc_ValueError,
                     "target shape %s does not match logits shape %s without dim %d",
                     tt->shape, lt->shape, class_dim);
        return -1;
    }
    return 0;
}

void
mushin_bad_labels_text(char *buf, size_t len, int64_t count, int64_t num_classes, int has_ignore,
                       int64_t ignore_index, int64_t first, const char *at, int64_t pos)
{
    char ign[96] = "";
    if (has_ignore) {
        PyOS_snprintf(ign, sizeof(ign), " %s not ignore_index=%lld",
                      count == 1 ? "that is" : "that are", (long long)ignore_index);
    }
    PyOS_snprintf(buf, len, "target holds %lld value%s outside [0, %lld)%s (first: %lld at %s %lld)",
                  (long long)count, count == 1 ? "" : "s", (long long)num_classes, ign,
                  (long long)first, at, (long long)pos);
}

PyObject *
mushin_bad_values_error(int64_t num_classes, int has_ignore, int64_t ignore_index,
                        const mushin_bad_values *bad, const char *unchanged)
{
    char preds_msg[320] = "", target_msg[320] = "";
    if (bad->target_bad) {
        mushin_bad_labels_text(target_msg, sizeof(target_msg), bad->target_bad, num_classes,
                               has_ignore, ignore_index, bad->target_first, "flat index",
                               bad->target_first_pos);
    }
    if (bad->preds_bad) {
        PyOS_snprintf(preds_msg, sizeof(preds_msg),
                      "preds holds %lld value%s outside [0, %lld) "
                      "(first: %lld at flat index %lld)%s",
                      (long long)bad->preds_bad, bad->preds_bad == 1 ? "" : "s",
                      (long long)num_classes, (long long)bad->preds_first,
                      (long long)bad->preds_first_pos,
                      has_ignore ? "; a prediction may equal ignore_index "
                                   "only where the target is ignored" : "");
    }
    PyErr_Format(PyExc_ValueError, "%s%s%s; %s", target_msg,
                 (bad->target_bad && bad->preds_bad) ? "; " : "", preds_msg, unchanged);
    return NULL;
}
