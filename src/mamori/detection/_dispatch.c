/*
 * mamori.detection._dispatch: the loop of Engine.feed, compiled.
 *
 * dispatch(batch, by_type, on_response, other, response_type, kind_index) -> None
 *
 * For each observation of the list `batch`, in order: an answer (type `response_type`) goes to the handlers
 * `on_response[obs[kind_index]]`, anything else to `by_type[type(obs)]`, or to `other` when its type is not there;
 * each handler is called with the observation. Exactly what Engine.feed's Python loop does (the reference, used
 * where this is not built); an exception from a handler stops the loop and propagates.
 *
 * docs/design-notes.md, "analyze: the pcap walker".
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int call_all(PyObject *handlers, PyObject *obs) {
    if (!PyList_Check(handlers)) {
        PyErr_SetString(PyExc_TypeError, "dispatch: handlers must be a list");
        return -1;
    }
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(handlers); j++) { /* a handler may change the list: as Python does */
        PyObject *handler = PyList_GET_ITEM(handlers, j);
        Py_INCREF(handler);
        PyObject *r = PyObject_CallOneArg(handler, obs);
        Py_DECREF(handler);
        if (r == NULL) return -1;
        Py_DECREF(r);
    }
    return 0;
}

static PyObject *dispatch(PyObject *module, PyObject *args) {
    PyObject *batch, *by_type, *on_response, *other, *response_type;
    Py_ssize_t kind_index;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!O!OOn", &PyList_Type, &batch, &PyDict_Type, &by_type, &PyDict_Type, &on_response,
                          &other, &response_type, &kind_index))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
        PyObject *obs = PyList_GET_ITEM(batch, i);
        Py_INCREF(obs);
        PyObject *handlers;
        if ((PyObject *)Py_TYPE(obs) == response_type) {
            if (PyTuple_GET_SIZE(obs) <= kind_index) {
                Py_DECREF(obs);
                PyErr_SetString(PyExc_TypeError, "dispatch: an answer without its kind");
                return NULL;
            }
            handlers = PyDict_GetItemWithError(on_response, PyTuple_GET_ITEM(obs, kind_index));
        } else {
            handlers = PyDict_GetItemWithError(by_type, (PyObject *)Py_TYPE(obs));
            if (handlers == NULL && !PyErr_Occurred()) handlers = other;
        }
        int failed = 0;
        if (handlers != NULL) {
            Py_INCREF(handlers);
            failed = call_all(handlers, obs);
            Py_DECREF(handlers);
        } else if (PyErr_Occurred()) {
            failed = 1;
        }
        Py_DECREF(obs);
        if (failed) return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"dispatch", (PyCFunction)dispatch, METH_VARARGS,
     "dispatch(batch, by_type, on_response, other, response_type, kind_index): Engine.feed's loop"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_dispatch", "Engine.feed's loop, compiled.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__dispatch(void) { return PyModule_Create(&module); }
