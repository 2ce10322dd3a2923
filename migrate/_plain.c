/* migrate._plain: rows.read_values' common case in one pass of C.
 *
 * The regexes in rows.py define "plain"; this scanner accepts exactly the same VALUES lists and
 * answers -1 for everything else, which then takes the regex path (a differential fuzz test in
 * tests/migrate/test_classify_rows.py holds the two to the same answers). On the reference dump
 * it replaces ~5 s of client CPU per 650 MB with ~0.6 s, and runs without the GIL, so the
 * connections keep sending meanwhile.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define IS_DIGIT(c) ((unsigned char)((c) - '0') < 10)

/* Past one value (string, NULL or decimal number) at p, or NULL when there is none. */
static const unsigned char *
value_end(const unsigned char *p, const unsigned char *end)
{
    if (*p == '\'') {
        for (p++;; p += 2) {
            while (p < end && *p != '\'' && *p != '\\')
                p++;
            if (p == end)
                return NULL;
            if (*p == '\'')
                return p + 1;
            /* \% and \_ keep their backslash in SQL, \N is NULL to LOAD DATA: not plain. */
            if (p + 1 == end || p[1] == '%' || p[1] == '_' || p[1] == 'N')
                return NULL;
        }
    }
    if (*p == 'N')
        return end - p >= 4 && memcmp(p, "NULL", 4) == 0 ? p + 4 : NULL;
    if (*p == '-')
        p++;
    const unsigned char *digits = p;
    while (p < end && IS_DIGIT(*p))
        p++;
    int whole = p > digits;
    if (p < end && *p == '.') {
        const unsigned char *fraction = ++p;
        while (p < end && IS_DIGIT(*p))
            p++;
        whole |= p > fraction;
    }
    if (!whole)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const unsigned char *exponent = p;
        while (p < end && IS_DIGIT(*p))
            p++;
        if (p == exponent)
            return NULL;
    }
    return p;
}

/* Rows in [p, end) when it is nothing but plain row tuples, else -1. */
static Py_ssize_t
plain_rows(const unsigned char *p, const unsigned char *end)
{
    Py_ssize_t rows = 0;
    for (;;) {
        if (p == end || *p != '(')
            return -1;
        for (p++;; p++) {
            if (p == end || (p = value_end(p, end)) == NULL || p == end)
                return -1;
            if (*p == ')')
                break;
            if (*p != ',')
                return -1;
        }
        rows++;
        if (++p == end)
            return rows;
        if (*p++ != ',')
            return -1;
        /* one-row-per-line VALUES: ",\n", or ",\r\n" in a dump with Windows line endings */
        if (p < end && *p == '\r' && p + 1 < end && p[1] == '\n')
            p += 2;
        else if (p < end && *p == '\n')
            p++;
    }
}

static PyObject *
rows(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end, found;
    if (!PyArg_ParseTuple(args, "y*nn:rows", &view, &start, &end))
        return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start and end must lie within the buffer, in order");
        return NULL;
    }
    const unsigned char *base = view.buf;
    Py_BEGIN_ALLOW_THREADS
    found = plain_rows(base + start, base + end);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(found);
}

static PyMethodDef methods[] = {
    {"rows", rows, METH_VARARGS,
     "rows(buffer, start, end) -> int\n\n"
     "Rows of the VALUES list in buffer[start:end] when every row is plain (rows._PLAIN over the\n"
     "text with rows._STRING cut out), else -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_plain", NULL, 0, methods};

PyMODINIT_FUNC
PyInit__plain(void)
{
    return PyModule_Create(&module);
}
