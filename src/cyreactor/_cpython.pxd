# CPython C-API declarations that Cython's own cpython/*.pxd do not ship.
# Used as _cpython.NAME.


cdef extern from "Python.h":
    # Context variables (PEP 567): a callback runs inside the context that
    # was current when it was scheduled, as asyncio.Handle does.
    object PyContext_CopyCurrent()
    int PyContext_Enter(object ctx) except -1
    int PyContext_Exit(object ctx) except -1

    bint PyCoro_CheckExact(object obj)

    # A class statement makes a heap type; a Cython cdef class is static.
    unsigned long Py_TPFLAGS_HEAPTYPE
    bint PyType_HasFeature(type t, unsigned long feature)
