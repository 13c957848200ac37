/*
 * state_inputs.h -- what the regression and retrieval state types share
 * (regression_states.c, retrieval_states.c): reading a batch tensor by
 * DLPack as one flat run of elements the kernels take, the shape checks and
 * their messages, the state-dict helpers, and merge(), load_state_dict(),
 * reset(), n and tp_dealloc written once over each type's own kernel
 * state.
 *
 * A batch is read in three steps so that only the copy runs without the
 * GIL: mushin_input_acquire checks device, dtype and shape and allocates
 * any scratch (GIL held); mushin_input_load fills the scratch (GIL
 * released, next to the kernel); mushin_input_release hands the tensor back
 * to its producer (GIL held).  A tensor whose elements lie at one stride in
 * C order (any contiguous tensor, a column of a matrix) is read in place;
 * others, and float16/bfloat16 (widened exactly to float32), are copied.
 */
#ifndef MUSHIN_GLUE_STATE_INPUTS_H
#define MUSHIN_GLUE_STATE_INPUTS_H

#include <Python.h>
#include <pythread.h>

#include "dlpack_consumer.h"
#include "kernels/regression.h"
#include "kernels/retrieval.h"

/* NumPy's API table is per translation unit: module init calls this. */
int mushin_state_inputs_init(void);

/* What a state accepts for one argument. */
typedef enum {
    MUSHIN_INPUT_FLOAT,    /* float16, bfloat16, float32, float64 values */
    MUSHIN_INPUT_INDEX,    /* int32 or int64 query indexes */
    MUSHIN_INPUT_RELEVANCE /* bool, int32, int64 or float relevances */
} mushin_input_kind;

typedef struct {
    dl_view dl;
    const char *name; /* "preds", for messages */
    int64_t n;        /* elements */
    int source;       /* the producer's element type (state_inputs.c) */
    int type;         /* MUSHIN_RT_* the kernels read */
    const char *data; /* the flat run: in place, or the scratch */
    int64_t stride;   /* bytes */
    void *scratch;    /* owned copy, or NULL when read in place */
} mushin_input;

/* Acquire `obj` (any DLPack producer, or what numpy.asarray takes) as the
 * argument `name` of `method`.  Raises TypeError for a dtype `kind` does
 * not take and ValueError for device memory.  On failure `in` is left
 * released.  GIL held. */
int mushin_input_acquire(mushin_module_state *st, PyObject *obj, const char *method,
                         const char *name, mushin_input_kind kind, mushin_input *in);
/* Copy into the scratch, if there is one.  No GIL needed. */
void mushin_input_load(mushin_input *in);
/* Release the tensor and free the scratch; keeps any pending error. */
void mushin_input_release(mushin_input *in);

/* The flat runs as the kernels' views. */
mushin_vec_view mushin_input_vec(const mushin_input *in);
mushin_rt_view mushin_input_rt(const mushin_input *in);

/* A shape, from a DLPack tensor or a NumPy array. */
typedef struct {
    int ndim;
    int64_t dims[MUSHIN_MAX_NDIM];
} mushin_shape;

mushin_shape mushin_shape_of_input(const mushin_input *in);
mushin_shape mushin_shape_of_array(PyObject *array);

/* a and b (the arguments `an` and `bn` of `method`) must have one shape,
 * and not be scalars; `single_column` also asks for (N,) or (N, 1).
 * Returns 0, or -1 with a ValueError. */
int mushin_check_shapes(const mushin_shape *a, const mushin_shape *b, const char *method,
                        const char *an, const char *bn, int single_column);

/* A kernel status other than MUSHIN_OK and MUSHIN_EBADVALUE as an
 * exception; returns -1. */
int mushin_state_status_error(int status, const char *method);

/* A new 1-d NumPy array of `n` items of `type` (`itemsize` bytes each),
 * copied from `src`. */
PyObject *mushin_array_copy_1d(int64_t n, int type, const void *src, size_t itemsize);

/* d[key] as a contiguous array of `type` with `ndim` dims, or NULL with a
 * ValueError naming the key. */
PyObject *mushin_state_dict_array(PyObject *d, const char *method, const char *key, int type,
                                  int ndim);

/* merge()'s argument as a state dict: a dict, or another state of self's
 * type, whose state_dict() is then used.  New reference, or NULL. */
PyObject *mushin_as_state_dict(PyObject *self, PyObject *other, const char *method);

/* {names[i]: values[i]} */
PyObject *mushin_metrics_dict(const char *const *names, const double *values, int count);

/* One column of a state dict: a 1-d array of `type` (NumPy). */
typedef struct {
    const char *key;
    int type;
    size_t itemsize;
} mushin_column;

/* {cols[i].key: a copy of the n elements at src[i]}.  Call with the
 * state's lock held, taken with the GIL (allocating needs the GIL, and no
 * kernel that holds the lock waits for it). */
PyObject *mushin_columns_dict(int64_t n, const mushin_column *cols, const void *const *src,
                              int count);

/* ------------------------------------------------ the state protocol -- */

/* How the methods below reach a state type's kernel state. */
typedef struct {
    const char *name;  /* "RankedPairs", for messages */
    size_t offset;     /* of the kernel state in the object */
    size_t n_offset;   /* of its int64 count of elements kept */
    size_t size;       /* of the kernel state */
    /* A new kernel state at `out` from the dict d, checked, for `self`:
     * 0, or -1 with an error and nothing left to free. */
    int (*from_dict)(PyObject *self, PyObject *d, void *out, const char *method);
    /* Add `other` to `state`, without the GIL: a kernel status. */
    int (*merge)(void *state, void *other);
    /* Empty `state`, without the GIL. */
    void (*reset)(void *state);
    /* Free what a kernel state holds; NULL when it holds nothing. */
    void (*clear)(void *state);
} mushin_state_ops;

/* The start of every object with the state protocol; its kernel state
 * follows, at ops->offset. */
typedef struct {
    PyObject_HEAD
    PyThread_type_lock lock; /* guards the kernel state; taken without the GIL */
    const mushin_state_ops *ops;
} mushin_state_object;

/* merge(other): other (a dict, or an object of self's type) is read and
 * checked aside, then added; on any error the state is unchanged. */
PyObject *mushin_state_merge(PyObject *self, PyObject *other);
/* load_state_dict(d): d read and checked aside, then swapped in. */
PyObject *mushin_state_load(PyObject *self, PyObject *d);
/* reset() */
PyObject *mushin_state_reset(PyObject *self, PyObject *ignored);
/* the getter of n: elements kept */
PyObject *mushin_state_get_n(PyObject *self, void *closure);
/* tp_dealloc */
void mushin_state_dealloc(PyObject *self);

#endif /* MUSHIN_GLUE_STATE_INPUTS_H */
