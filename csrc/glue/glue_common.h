/*
 * glue_common.h -- what every state object of mushin._core does the same
 * way, written once: the lock's life (allocated in tp_new, freed in
 * tp_dealloc) and the short copies and swaps made under it, the exception
 * of a kernel status, adding a type to the module, the constructor
 * arguments num_classes and ignore_index, the first checks of a state
 * dict, and the checks and messages of class-index batches
 * (ConfusionMatrix, PerImageCounts).  Not part of any API.
 */
#ifndef MUSHIN_GLUE_GLUE_COMMON_H
#define MUSHIN_GLUE_GLUE_COMMON_H

#include <Python.h>
#include <pythread.h>

#include "dlpack_consumer.h"
#include "mushin_kernels.h"

/* ------------------------------------------------------------- locks -- */

/* Give `self`, fresh from tp_alloc, its lock in *lock.  Returns self, or
 * NULL with a MemoryError after dropping self (its tp_dealloc must accept
 * a NULL lock, as mushin_glue_dealloc does). */
PyObject *mushin_glue_with_lock(PyObject *self, PyThread_type_lock *lock);
/* The end of every tp_dealloc: free `lock` (if any), the object, and the
 * reference the object holds to its heap type. */
void mushin_glue_dealloc(PyObject *self, PyThread_type_lock lock);
/* Take `lock` without holding the GIL while waiting: an update may hold it
 * for a whole batch with the GIL released.  Returns with the GIL held. */
void mushin_glue_lock(PyThread_type_lock lock);
/* memcpy(dst, src, bytes) under `lock`, the GIL released. */
void mushin_glue_locked_copy(PyThread_type_lock lock, void *dst, const void *src, size_t bytes);
/* Exchange the `bytes` at a and b under `lock`, the GIL released: a state
 * built aside goes in, the old one comes out to be freed. */
void mushin_glue_locked_swap(PyThread_type_lock lock, void *a, void *b, size_t bytes);

/* ---------------------------------------------------- status, module -- */

/* The exception of a kernel status that the caller has no message of its
 * own for: MUSHIN_ENOMEM as MemoryError, anything else as SystemError
 * "[where: ]kernel failed with status N".  Returns -1. */
int mushin_glue_status_error(int status, const char *where, const char *kernel);

/* Create the type of `spec` for `module` and add it under its name; with
 * `keep`, the module state keeps a reference in *keep.  0, or -1. */
int mushin_glue_add_type(PyObject *module, PyType_Spec *spec, PyObject **keep);

/* -------------------------------------------------------- arguments -- */

/* ignore_index: None or an int (not a bool); 0, or -1 with an error. */
int mushin_parse_ignore_index(PyObject *obj, int *has_ignore, int64_t *ignore_index);
/* num_classes in [1, 65536]; 0, or -1 with a ValueError that `owner`
 * ("PerImageCounts"), if not NULL, begins. */
int mushin_parse_num_classes(const char *owner, long long num_classes);
/* ignore_index as Python sees it: None or an int. */
PyObject *mushin_ignore_index_object(int has_ignore, int64_t ignore_index);
/* "Name(num_classes=C)" or "Name(num_classes=C, ignore_index=I)". */
PyObject *mushin_classes_repr(const char *name, int64_t num_classes, int has_ignore,
                              int64_t ignore_index);

/* ------------------------------------------------------- state dicts -- */

/* d must be a dict: 0, or -1 with "`method`: expected a dict from
 * state_dict(), got <type name>". */
int mushin_require_state_dict(PyObject *d, const char *method);
/* d (a dict) must hold every key of the NULL-terminated `keys` (listed in
 * the message as `listed`) and a 'num_classes' equal to `num_classes`
 * (`mine` names the object in the message: "matrix", "RocScores"). */
int mushin_state_dict_classes(PyObject *d, const char *method, const char *const *keys,
                              const char *listed, int64_t num_classes, const char *mine);

/* -------------------------------------------------- class-index batches -- */

/* A tensor's dtype and shape as the messages write them. */
typedef struct {
    char dtype[32];
    char shape[256];
} mushin_dl_text;

/* Acquire two arguments (an, bn name them) as one batch and describe
 * them in *ta, *tb; on failure both views are left released.  GIL held. */
int mushin_dlpack_acquire_pair(mushin_module_state *st, PyObject *a, const char *an,
                               PyObject *b, const char *bn, dl_view *va, dl_view *vb,
                               mushin_dl_text *ta, mushin_dl_text *tb);
/* Both tensors of `method`'s batch must be in host memory: 0, or -1 with a
 * ValueError naming their devices (with the device index if `with_ids`). */
int mushin_require_host_pair(const char *method, const char *an, const dl_view *va,
                             const char *bn, const dl_view *vb, int with_ids);

/* target (t) must have the shape of preds (p): 0, or -1 with "preds shape
 * P does not match target shape T".  *count gets the product of p's
 * extents from dimension `from` on. */
int mushin_match_index_shapes(const dl_view *p, const dl_view *t, const mushin_dl_text *pt,
                              const mushin_dl_text *tt, int from, int64_t *count);
/* target (t) must have the shape of logits (l) without `class_dim` (>= 0):
 * 0, or -1 with a ValueError.  *count gets the product of t's extents from
 * dimension `from` on. */
int mushin_match_logits_target(const dl_view *l, const dl_view *t, int class_dim,
                               const mushin_dl_text *lt, const mushin_dl_text *tt, int from,
                               int64_t *count);

/* "target holds N value(s) outside [0, C)[ that is not ignore_index=I]
 * (first: F at <at> P)" into buf: the labels half of every bad-batch
 * message (`at`: "index", "flat index"). */
void mushin_bad_labels_text(char *buf, size_t len, int64_t count, int64_t num_classes,
                            int has_ignore, int64_t ignore_index, int64_t first, const char *at,
                            int64_t pos);

/* The ValueError of a class-index batch that holds bad values (labels or
 * predictions outside [0, num_classes)); `unchanged` ends it ("the
 * confusion matrix was not changed").  Returns NULL. */
PyObject *mushin_bad_values_error(int64_t num_classes, int has_ignore, int64_t ignore_index,
                                  const mushin_bad_values *bad, const char *unchanged);

#endif /* MUSHIN_GLUE_GLUE_COMMON_H */
