/* Test-only: a NumPy data-memory handler that calls plain malloc, calloc,
 * realloc and free, for the ThreadSanitizer runs (tests/sanitize.sh tsan).
 *
 * NumPy's default handler keeps freed small blocks in a cache of its own and
 * hands them to the next array without free/malloc. Under the GIL that is
 * safe, but TSan, which cannot see the GIL of an uninstrumented CPython,
 * then takes one thread's query or output array for the same memory as
 * another thread's earlier array and reports the engine's accesses to the
 * two as a race. With every block going through the allocator TSan
 * intercepts, a freed block's history ends at free() and a reused block
 * starts fresh, so races on NumPy buffers are checked instead of suppressed.
 *
 * NumPy keeps the handler in a context variable: install() sets it for the
 * calling thread's context only, so tests/conftest.py calls it in the main
 * thread and at the start of every thread the threading module starts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>
#include <stdlib.h>

static void *plain_malloc(void *ctx, size_t size) { (void)ctx; return malloc(size); }
static void *plain_calloc(void *ctx, size_t n, size_t size) { (void)ctx; return calloc(n, size); }
static void *plain_realloc(void *ctx, void *p, size_t size) { (void)ctx; return realloc(p, size); }
static void plain_free(void *ctx, void *p, size_t size) { (void)ctx; (void)size; free(p); }

static PyDataMem_Handler plain_handler = {
    "fanns_plain_malloc", 1, {NULL, plain_malloc, plain_calloc, plain_realloc, plain_free}};

static PyObject *plain_capsule = NULL;

static PyObject *install(PyObject *self, PyObject *unused) {
    (void)self; (void)unused;
    PyObject *old = PyDataMem_SetHandler(plain_capsule);
    if (old == NULL) return NULL;
    Py_DECREF(old);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS,
     "Make NumPy allocate array data with plain malloc/free in the calling thread's context."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "plain_numpy_alloc", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_plain_numpy_alloc(void) {
    import_array();
    plain_capsule = PyCapsule_New(&plain_handler, "mem_handler", NULL);
    if (plain_capsule == NULL) return NULL;
    return PyModule_Create(&module);
}
