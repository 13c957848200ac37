/*
 * numpy_api.h -- NumPy's C API as the glue files include it: no deprecated
 * API, and NumPy 1.22's ABI as the target, so one build runs on every
 * NumPy the package supports.  NumPy's API table is per translation unit:
 * each file that includes this calls PyArray_ImportNumPyAPI() at module
 * init.  Include after Python.h.
 */
#ifndef MUSHIN_GLUE_NUMPY_API_H
#define MUSHIN_GLUE_NUMPY_API_H

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>

#endif /* MUSHIN_GLUE_NUMPY_API_H */
