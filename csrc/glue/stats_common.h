/*
 * stats_common.h -- what the statistics wrappers share
 * (stats_functions.c, resample_functions.c): looking a name up in a kind
 * table, reading real-number arguments, finding the first non-finite
 * score, and returning a kernel's output array or its out-of-memory error.
 * Static inline and free of NumPy API calls, so each file keeps its own
 * NumPy API table; the messages stay with the callers, which each word
 * their own.
 */
#ifndef MUSHIN_GLUE_STATS_COMMON_H
#define MUSHIN_GLUE_STATS_COMMON_H

#include <Python.h>

#include <math.h>

#include "mushin_kernels.h"

/* The index of str `obj` in names[0 .. count), or -1 (no error set) when
 * it is not there or not a str. */
static inline int
stats_name_index(PyObject *obj, const char *const *names, int count)
{
    int i;
    if (!PyUnicode_Check(obj)) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        if (PyUnicode_CompareWithASCIIString(obj, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* A real-number argument `name` of `func`, refused with a TypeError naming
 * both (PyArg_ParseTuple's "d" names neither in 3.11).  When the number
 * check passes but the conversion fails, the conversion's own error stands,
 * or, with `conversion_as_type_error`, becomes that same TypeError. */
static inline int
stats_real_arg(PyObject *obj, const char *func, const char *name, double *out,
               int conversion_as_type_error)
{
    if (!PyComplex_Check(obj) && PyNumber_Check(obj)) {
        *out = PyFloat_AsDouble(obj);
        if (!(*out == -1.0 && PyErr_Occurred())) {
            return 0;
        }
        if (!conversion_as_type_error) {
            return -1;
        }
        PyErr_Clear();
    }
    PyErr_Format(PyExc_TypeError, "%s(): %s must be a real number, got %.200s", func, name,
                 Py_TYPE(obj)->tp_name);
    return -1;
}

/* Up to three real-number arguments: `args` parsed with `format` (one "O"
 * per argument, ":func" at the end, so a wrong count is reported as
 * PyArg_ParseTuple words it), then each read by stats_real_arg into out[i]
 * under names[i], the first refused one reported. */
static inline int
stats_real_args(PyObject *args, const char *format, const char *func, const char *const *names,
                int count, double *out, int conversion_as_type_error)
{
    PyObject *obj[3] = {NULL, NULL, NULL};
    int i;
    if (!PyArg_ParseTuple(args, format, &obj[0], &obj[1], &obj[2])) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        if (stats_real_arg(obj[i], func, names[i], &out[i], conversion_as_type_error) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The position of the first NaN or infinity of v[0 .. n), or -1. */
static inline Py_ssize_t
stats_first_non_finite(const double *v, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            return i;
        }
    }
    return -1;
}

/* A kernel's output array `out` when it returned MUSHIN_OK; otherwise
 * `out` is released and MemoryError set (the only failure left once the
 * arguments were checked). */
static inline PyObject *
stats_output_or_nomemory(PyObject *out, int status)
{
    if (status != MUSHIN_OK) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    return out;
}

#endif /* MUSHIN_GLUE_STATS_COMMON_H */
