/*
 * dlpack_consumer.h -- the DLPack consumer of dlpack.c, as the state files
 * use it: acquire a view of any __dlpack__ producer, read its element type
 * as a kernel type, name its device, dtype and shape in error messages,
 * release it (the producer's deleter runs exactly once).
 */
#ifndef MUSHIN_GLUE_DLPACK_CONSUMER_H
#define MUSHIN_GLUE_DLPACK_CONSUMER_H

#include <Python.h>

#include "dlpack/dlpack.h"
#include "mushin_kernels.h"
#include "module_state.h"

/* The DLPack major version this consumer reads (and asks for). */
#define MUSHIN_DLPACK_MAJOR DLPACK_MAJOR_VERSION

/* A borrowed DLPack tensor; `mushin_dlpack_release` calls its deleter once. */
typedef struct {
    PyObject *capsule;
    DLManagedTensor *legacy;
    DLManagedTensorVersioned *versioned;
    DLTensor *t;
    int64_t strides[MUSHIN_MAX_NDIM]; /* bytes */
} dl_view;

/* Fill v from obj (asking obj.__dlpack__, or numpy.asarray(obj) for a
 * non-producer) and check shape, strides, dtype size and pointers, naming
 * `what` in any error.  st may be NULL when its lookup failed (the error is
 * then already set).  On failure v is left released.  Needs the GIL. */
int mushin_dlpack_acquire(mushin_module_state *st, PyObject *obj, const char *what, dl_view *v);
/* Call the producer's deleter once and drop the capsule; keeps any pending
 * exception.  Safe on a released or zeroed view. */
void mushin_dlpack_release(dl_view *v);

/* The kernel element type of t, or -1 if the kernels do not read it. */
int mushin_dlpack_itype(const DLTensor *t, mushin_itype *out);
int mushin_dlpack_ftype(const DLTensor *t, mushin_ftype *out);

/* Names for error messages. */
const char *mushin_dlpack_device_name(int32_t type);
void mushin_dlpack_dtype_name(DLDataType dt, char *buf, size_t len);
void mushin_dlpack_format_shape(const DLTensor *t, char *buf, size_t len);
/* CPU or pinned host memory: what the C kernels may read. */
int mushin_dlpack_is_host(const DLTensor *t);

#endif /* MUSHIN_GLUE_DLPACK_CONSUMER_H */
