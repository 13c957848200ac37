/*
 * score_common.h -- what the probability-metric types share
 * (calibration_state.c: CalibrationBins, roc_state.c: RocScores): argument
 * parsing (with glue_common.h), acquiring one (probs, target) batch by DLPack with its device,
 * dtype and shape checks, the messages for rejected values, and the
 * integer-array check of merge and load_state_dict.  Both types take
 * (probs, target) as (N, C) floating-point and (N,) integer DLPack tensors
 * in host memory, check every value with the GIL released before touching
 * their state, and share the lock discipline of ConfusionMatrix.  Kernels:
 * csrc/kernels/scores.c.
 */
#ifndef MUSHIN_GLUE_SCORE_COMMON_H
#define MUSHIN_GLUE_SCORE_COMMON_H

#include <Python.h>

#include "dlpack_consumer.h"
#include "scores.h"

/* One (probs, target) batch, acquired and checked for device, dtype and
 * shape; its values are checked later, without the GIL. */
typedef struct {
    dl_view pv;
    dl_view tv;
    mushin_prob_view probs;
    mushin_label_view labels;
    int64_t rows;
} mushin_score_batch;

/* Acquire update()'s (probs, target) for `owner` ("RocScores"); on failure
 * b is left released. */
int mushin_score_batch_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               const char *owner, int64_t num_classes, mushin_score_batch *b);
void mushin_score_batch_release(mushin_score_batch *b);
/* ValueError describing what mushin_scores_check rejected. */
void mushin_score_check_error(const char *where, int64_t num_classes, int has_ignore,
                              int64_t ignore_index, const mushin_score_check *check);
/* `obj` as an aligned NumPy array of integers that convert to `typenum`
 * without loss, with `ndim` dimensions; NULL with an error naming `what`. */
PyObject *mushin_score_exact_integer_array(PyObject *obj, int typenum, int ndim, const char *what);

/* Module init of each type (the state keeps the type). */
int mushin_calibration_add_type(PyObject *module, mushin_module_state *st);
int mushin_roc_add_type(PyObject *module, mushin_module_state *st);

#endif /* MUSHIN_GLUE_SCORE_COMMON_H */
