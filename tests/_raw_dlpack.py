"""A DLPack producer that hands over its DLTensor fields verbatim.

Real producers (torch, NumPy) never emit a NULL shape, a negative extent or
an element count that overflows int64; this one does, so the tests can
check that mushin's consumer refuses such a tensor instead of reading
through it.  ``shape=None`` gives a NULL shape pointer, ``data=None`` a NULL
data pointer; ``ndim`` may disagree with ``len(shape)``.  The capsule has no
destructor: the consumer must call the deleter, exactly once
(``deleter_calls``).  Self-contained (only ctypes and NumPy), so the
bad-input catalogue can run this file's source in a fresh namespace.

The DLPack structs here (dlpack.h's layout) are also the ones
tests/test_dlpack.py builds its well-formed producer on.
"""
import ctypes

import numpy as np


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", DELETER),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", DLTensor),
    ]


# a private prototype: ctypes.pythonapi.PyCapsule_New is one shared object
# whose argtypes other tests set to their own destructor type
_raw_capsule_new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)(
    ("PyCapsule_New", ctypes.pythonapi))


class RawProducer:
    def __init__(self, shape, *, ndim=None, strides=None, data="buffer", code=0, bits=64,
                 byte_offset=0, versioned=False):
        self.buffer = np.zeros(64, dtype=np.int64)
        self.ndim = len(shape) if ndim is None else ndim
        self.shape = None if shape is None else (ctypes.c_int64 * max(len(shape), 1))(*shape)
        self.strides = None if strides is None else (ctypes.c_int64 * max(len(strides), 1))(*strides)
        self.data = self.buffer.ctypes.data if data == "buffer" else data
        self.code, self.bits, self.byte_offset = code, bits, byte_offset
        self.versioned = versioned
        self.deleter_calls = 0
        self._deleter = DELETER(self._on_delete)
        self._keep = []

    def _on_delete(self, _managed):
        self.deleter_calls += 1

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        versioned = self.versioned and max_version is not None
        managed = DLManagedTensorVersioned() if versioned else DLManagedTensor()
        if versioned:
            managed.version = DLPackVersion(1, 0)
        t = managed.dl_tensor
        t.data = self.data
        t.device = DLDevice(1, 0)
        t.ndim = self.ndim
        t.dtype = DLDataType(self.code, self.bits, 1)
        null = ctypes.POINTER(ctypes.c_int64)()
        as_ptr = lambda arr: null if arr is None else ctypes.cast(arr, ctypes.POINTER(ctypes.c_int64))
        t.shape = as_ptr(self.shape)
        t.strides = as_ptr(self.strides)
        t.byte_offset = self.byte_offset
        managed.deleter = self._deleter
        self._keep.append(managed)
        name = b"dltensor_versioned" if versioned else b"dltensor"
        return _raw_capsule_new(ctypes.addressof(managed), name, None)

    def __dlpack_device__(self):
        return (1, 0)
