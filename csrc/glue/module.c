/*
 * module.c -- mushin._core's module: multi-phase init, the module state
 * (module_state.h), and the few functions about the machine rather than a
 * metric: the instruction-set level and the default thread count.
 *
 * The glue is one file per concern: dlpack.c (the DLPack consumer),
 * confusion_state.c (ConfusionMatrix), calibration_state.c
 * (CalibrationBins) and roc_state.c (RocScores) with their shared
 * score_common.c, regression_states.c (RegressionMoments, RankedPairs) and
 * retrieval_states.c (RetrievalGroups) with their shared state_inputs.c,
 * perimage_state.c (PerImageCounts) with bootstrap_functions.c (the
 * bootstrap over its counts), stats_functions.c and resample_functions.c
 * (the statistics), and glue_common.c (what every state object shares:
 * its lock, statuses as exceptions, type registration, argument parsing).
 * The plain-C kernels they call are in ../kernels/; compiler-specific
 * constructs go through ../kernels/portable_internal.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "mushin_kernels.h"
#include "dlpack_consumer.h"
#include "module_state.h"

/* ------------------------------------------------- instruction sets -- */

PyDoc_STRVAR(isa_level_doc,
"isa_level()\n--\n\n"
"The instruction-set level of the counting loops in use: 0 baseline\n"
"x86-64 (or any other CPU), 1 AVX2, 2 AVX-512.");

static PyObject *
py_isa_level(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(mushin_isa_level());
}

static const char *const isa_names[] = {"baseline", "avx2", "avx512"};

PyDoc_STRVAR(isa_name_doc,
"isa_name()\n--\n\n"
"The instruction-set level in use by name: \"baseline\", \"avx2\" or\n"
"\"avx512\" (see isa_level and the MUSHIN_ISA environment variable).");

static PyObject *
py_isa_name(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(isa_names[mushin_isa_level()]);
}

/*
 * MUSHIN_ISA=baseline|avx2|avx512, read once at import, caps the level so
 * that a test run (or a user chasing a machine-dependent result) can force
 * each kernel path.  A level the CPU lacks is capped to what it has; the
 * level actually used is what isa_level()/isa_name() report.  A typo must
 * not silently run the default path, hence ImportError.
 */
static int
apply_isa_environment(void)
{
    const char *value = getenv("MUSHIN_ISA");
    int i;
    if (value == NULL || value[0] == '\0') {
        return 0;
    }
    for (i = 0; i < 3; i++) {
        if (strcmp(value, isa_names[i]) == 0) {
            mushin_set_isa_cap(i);
            return 0;
        }
    }
    PyErr_Format(PyExc_ImportError,
                 "MUSHIN_ISA=%.100s is not an instruction-set level; use baseline, avx2 "
                 "or avx512, or unset MUSHIN_ISA to use the best this CPU supports",
                 value);
    return -1;
}

PyDoc_STRVAR(set_isa_cap_doc,
"set_isa_cap(cap, /)\n--\n\n"
"Use at most instruction-set level ``cap`` (0, 1 or 2; see isa_level) and\n"
"return the level now in use.  For tests and benchmarks: every level\n"
"counts the same.  Not to be called while an update runs.");

static PyObject *
py_set_isa_cap(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long cap = PyLong_AsLong(arg);
    if (cap == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (cap < 0 || cap > 2) {
        PyErr_Format(PyExc_ValueError, "set_isa_cap needs 0, 1 or 2, got %ld", cap);
        return NULL;
    }
    return PyLong_FromLong(mushin_set_isa_cap((int)cap));
}

/* ------------------------------------------------------------ threads -- */

PyDoc_STRVAR(set_default_threads_doc,
"set_default_threads(default, /)\n--\n\n"
"The thread count of large updates of every ConfusionMatrix whose own\n"
"``num_threads`` is None: an int from 1 to 64, a callable returning one\n"
"(asked at each large update; mushin.threads registers its\n"
"``get_num_threads`` at import), or None for one thread.  Counts never\n"
"depend on it.");

static PyObject *
py_set_default_threads(PyObject *module, PyObject *arg)
{
    mushin_module_state *st = (mushin_module_state *)PyModule_GetState(module);
    if (arg == Py_None) {
        Py_CLEAR(st->default_threads);
        Py_RETURN_NONE;
    }
    if (PyLong_Check(arg) && !PyBool_Check(arg)) {
        long n = PyLong_AsLong(arg);
        if (n == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (n < 1 || n > MUSHIN_MAX_THREADS) {
            PyErr_Format(PyExc_ValueError,
                         "set_default_threads needs 1 to %d threads, a callable or None, "
                         "got %ld", MUSHIN_MAX_THREADS, n);
            return NULL;
        }
    }
    else if (!PyCallable_Check(arg)) {
        PyErr_Format(PyExc_TypeError,
                     "set_default_threads needs an int, a callable returning one, or None; "
                     "got %.200s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    Py_XSETREF(st->default_threads, Py_NewRef(arg));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(get_default_threads_doc,
"get_default_threads()\n--\n\n"
"What set_default_threads() was last given (None before any call).");

static PyObject *
py_get_default_threads(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    mushin_module_state *st = (mushin_module_state *)PyModule_GetState(module);
    if (st->default_threads == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(st->default_threads);
}

/* ------------------------------------------------------------- module -- */

static PyMethodDef core_functions[] = {
    {"isa_level", py_isa_level, METH_NOARGS, isa_level_doc},
    {"isa_name", py_isa_name, METH_NOARGS, isa_name_doc},
    {"set_isa_cap", py_set_isa_cap, METH_O, set_isa_cap_doc},
    {"set_default_threads", py_set_default_threads, METH_O, set_default_threads_doc},
    {"get_default_threads", py_get_default_threads, METH_NOARGS, get_default_threads_doc},
    {NULL, NULL, 0, NULL}
};

/* The objects call_dlpack passes on every call, built once. */
static int
cache_dlpack_arguments(mushin_module_state *st)
{
    PyObject *version = Py_BuildValue("(ii)", MUSHIN_DLPACK_MAJOR, 0);
    int status = -1;
    if (version == NULL) {
        return -1;
    }
    st->str_dlpack = PyUnicode_InternFromString("__dlpack__");
    st->empty_tuple = PyTuple_New(0);
    st->dlpack_kwargs = PyDict_New();
    if (st->str_dlpack != NULL && st->empty_tuple != NULL && st->dlpack_kwargs != NULL &&
        PyDict_SetItemString(st->dlpack_kwargs, "max_version", version) == 0) {
        status = 0;
    }
    Py_DECREF(version);
    return status;
}

static int
core_exec(PyObject *module)
{
    mushin_module_state *st = (mushin_module_state *)PyModule_GetState(module);
    if (mushin_dlpack_init() < 0 || apply_isa_environment() < 0 ||
        cache_dlpack_arguments(st) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "DLPACK_MAJOR_VERSION", MUSHIN_DLPACK_MAJOR) < 0 ||
        mushin_confusion_add_type(module, st) < 0 ||
        PyModule_AddFunctions(module, mushin_confusion_functions) < 0 ||
        mushin_score_add_types(module, st) < 0 ||
        mushin_add_metric_state_types(module) < 0 ||
        mushin_stats_add_functions(module) < 0 ||
        mushin_perimage_add(module) < 0 ||
        mushin_bootstrap_add_functions(module) < 0 ||
        mushin_resample_add_functions(module) < 0) {
        return -1;
    }
    return 0;
}

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    mushin_module_state *st = (mushin_module_state *)PyModule_GetState(module);
    Py_VISIT(st->confusion_type);
    Py_VISIT(st->calibration_type);
    Py_VISIT(st->roc_type);
    Py_VISIT(st->str_dlpack);
    Py_VISIT(st->empty_tuple);
    Py_VISIT(st->dlpack_kwargs);
    Py_VISIT(st->default_threads);
    return 0;
}

static int
core_clear(PyObject *module)
{
    mushin_module_state *st = (mushin_module_state *)PyModule_GetState(module);
    Py_CLEAR(st->confusion_type);
    Py_CLEAR(st->calibration_type);
    Py_CLEAR(st->roc_type);
    Py_CLEAR(st->str_dlpack);
    Py_CLEAR(st->empty_tuple);
    Py_CLEAR(st->dlpack_kwargs);
    Py_CLEAR(st->default_threads);
    return 0;
}

static void
core_free(void *module)
{
    core_clear((PyObject *)module);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL}
};

struct PyModuleDef mushin_core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mushin._core",
    .m_doc = "mushin's C core: DLPack-fed metric states and statistics.",
    .m_size = sizeof(mushin_module_state),
    .m_methods = core_functions,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&mushin_core_module);
}
