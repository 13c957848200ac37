/*
 * module_state.h -- what the glue files of mushin._core share: the module
 * state (the types and the objects built once at init), the module
 * definition that leads back to it, and each file's entry for module init.
 *
 * Nothing lives in C globals: every object the glue reuses hangs off the
 * state of the module it was created by, so subinterpreters and a reload
 * each get their own (CPython's Modules/_bisectmodule.c does the same).
 */
#ifndef MUSHIN_GLUE_MODULE_STATE_H
#define MUSHIN_GLUE_MODULE_STATE_H

#include <Python.h>

typedef struct {
    PyObject *confusion_type;   /* ConfusionMatrix */
    PyObject *calibration_type; /* CalibrationBins */
    PyObject *roc_type;         /* RocScores */
    PyObject *str_dlpack;       /* "__dlpack__" */
    PyObject *empty_tuple;      /* () */
    PyObject *dlpack_kwargs;    /* {"max_version": (DLPACK major, 0)} */
    /* What a ConfusionMatrix with num_threads=None uses for a large update:
     * NULL (one thread), an int, or a callable returning one.  Set from
     * Python (mushin.threads) with set_default_threads(). */
    PyObject *default_threads;
} mushin_module_state;

extern struct PyModuleDef mushin_core_module;

/* The state of the module that created `type` (one of mushin._core's
 * types); NULL with an exception set if `type` is not one of them. */
static inline mushin_module_state *
mushin_module_state_of(PyTypeObject *type)
{
    PyObject *module = PyType_GetModuleByDef(type, &mushin_core_module);
    return module == NULL ? NULL : (mushin_module_state *)PyModule_GetState(module);
}

/* Module init, one per glue file; each returns 0, or -1 with an error set. */
int mushin_dlpack_init(void);
int mushin_confusion_add_type(PyObject *module, mushin_module_state *st);
int mushin_score_add_types(PyObject *module, mushin_module_state *st); /* score_common.c */
int mushin_stats_add_functions(PyObject *module);
int mushin_resample_add_functions(PyObject *module); /* resample_functions.c */
int mushin_add_metric_state_types(PyObject *module); /* regression_states.c, retrieval_states.c */
int mushin_perimage_add(PyObject *module);          /* perimage_state.c */
int mushin_bootstrap_add_functions(PyObject *module); /* bootstrap_functions.c */

/* The module-level functions of confusion_state.c (confusion_thread_count). */
extern PyMethodDef mushin_confusion_functions[];

#endif /* MUSHIN_GLUE_MODULE_STATE_H */
