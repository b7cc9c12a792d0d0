#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* sum of squares of 0..n-1, in C */
static PyObject *sumsq(PyObject *self, PyObject *args) {
    long long n, i, acc = 0;
    if (!PyArg_ParseTuple(args, "L", &n))
        return NULL;
    for (i = 0; i < n; i++)
        acc += i * i;
    return PyLong_FromLongLong(acc);
}

static PyMethodDef methods[] = {
    {"sumsq", sumsq, METH_VARARGS, "Sum of squares below n."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fastsum", NULL, -1, methods};

PyMODINIT_FUNC PyInit_fastsum(void) { return PyModule_Create(&module); }
