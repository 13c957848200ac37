/*
 * confusion_state.h -- ConfusionMatrix's object, shared by its two glue
 * files: confusion_state.c (the type, merge, state dicts, module
 * functions) and confusion_update.c (update and update_logits, the paths
 * that count a batch).  Not part of any API.
 */
#ifndef MUSHIN_GLUE_CONFUSION_STATE_H
#define MUSHIN_GLUE_CONFUSION_STATE_H

#include <Python.h>
#include <pythread.h>

#include "mushin_kernels.h"

typedef struct {
    PyObject_HEAD
    int64_t num_classes;
    int has_ignore;
    int64_t ignore_index;
    int64_t *counts;            /* num_classes^2, row = target, col = prediction */
    int64_t total_bound;        /* >= sum(counts): exact after merge/reset, + batch sizes */
    PyThread_type_lock lock;    /* guards counts and total_bound; taken without the GIL */
    int num_threads;            /* 0: the module default (set_default_threads) */
} ConfusionMatrixObject;

static inline void
mushin_cm_lock(ConfusionMatrixObject *self)
{
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
}

static inline void
mushin_cm_unlock(ConfusionMatrixObject *self)
{
    PyThread_release_lock(self->lock);
}

/* An update adds at most n counts.  Refuse one that could carry the total
 * past INT64_MAX -- reachable only after merging counts near 2^63 -- so no
 * cell and no sum a metric takes can wrap.  Call with the lock held. */
static inline int
mushin_cm_reserve(ConfusionMatrixObject *self, int64_t n)
{
    if (self->total_bound > INT64_MAX - n) {
        return MUSHIN_EOVERFLOW;
    }
    self->total_bound += n;
    return MUSHIN_OK;
}

/* Add a batch's valid scratch counts (n positions) to the matrix under its
 * lock: MUSHIN_OK, or MUSHIN_EOVERFLOW with nothing added.  No GIL needed. */
static inline int
mushin_cm_add_batch(ConfusionMatrixObject *self, const int64_t *scratch, int64_t n)
{
    int status;
    mushin_cm_lock(self);
    status = mushin_cm_reserve(self, n);
    if (status == MUSHIN_OK) {
        mushin_counts_add(self->counts, scratch, self->num_classes * self->num_classes);
    }
    mushin_cm_unlock(self);
    return status;
}

/* The threads an update with `work` units may use; 0, or -1 with an error. */
int mushin_cm_thread_budget(ConfusionMatrixObject *self, int64_t work, int *out);

/* update(preds, target) and update_logits(logits, target, ...). */
PyObject *mushin_cm_update(ConfusionMatrixObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mushin_cm_update_logits(ConfusionMatrixObject *self, PyObject *args, PyObject *kwds);
extern const char mushin_cm_update_doc[];
extern const char mushin_cm_update_logits_doc[];

#endif /* MUSHIN_GLUE_CONFUSION_STATE_H */
