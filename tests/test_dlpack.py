"""The DLPack consumer: versioned and legacy capsules, byte offsets, strides,
devices and dtypes it must refuse, and the deleter called exactly once.

Real producers (torch, NumPy) cover the everyday path.  A producer built with
ctypes covers what they never emit: a non-zero ``byte_offset``, ``strides ==
NULL``, a CUDA device, vector lanes, a newer major version, and a deleter that
counts its calls.
"""
import ctypes
import gc
import importlib.util
import subprocess
import sys
import weakref

import numpy as np
import pytest
import torch

import reference as ref
from _raw_dlpack import DELETER, DLDataType, DLDevice, DLManagedTensor, DLManagedTensorVersioned, DLPackVersion
from mushin import ConfusionMatrix

# ------------------------------------------------------ a ctypes producer --


CAPSULE_DESTRUCTOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, CAPSULE_DESTRUCTOR]
_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype = ctypes.c_char_p
_capsule_name.argtypes = [ctypes.c_void_p]

KDL_INT, KDL_UINT, KDL_FLOAT, KDL_BOOL = 0, 1, 2, 6
KDL_CPU, KDL_CUDA, KDL_CUDA_HOST = 1, 2, 3


class CtypesProducer:
    """A DLPack producer over a NumPy buffer, described by hand.

    Like real producers, a capsule nobody consumed calls the deleter from the
    capsule destructor; a consumer renames it to ``used_...`` and calls the
    deleter itself.  Either way ``deleter_calls`` must end at exactly one per
    capsule handed out.
    """

    def __init__(
        self,
        buffer,
        shape,
        strides=None,
        byte_offset=0,
        *,
        code=None,
        bits=None,
        lanes=1,
        device=(KDL_CPU, 0),
        version=(1, 0),
        legacy_only=False,
        data_override=None,
    ):
        self.buffer = np.ascontiguousarray(buffer)
        self.shape = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        self.ndim = len(shape)
        self.strides = None if strides is None else (ctypes.c_int64 * max(len(strides), 1))(*strides)
        self.byte_offset = byte_offset
        kind = self.buffer.dtype.kind
        self.code = code if code is not None else {"i": KDL_INT, "u": KDL_UINT, "f": KDL_FLOAT, "b": KDL_BOOL}[kind]
        self.bits = bits if bits is not None else self.buffer.dtype.itemsize * 8
        self.lanes = lanes
        self.device = device
        self.version = version
        self.legacy_only = legacy_only
        self.data = self.buffer.ctypes.data if data_override is None else data_override
        self.requests = []
        self.deleter_calls = 0
        self.produced = 0
        self._keep = []
        self._deleter = DELETER(self._on_delete)
        self._destructor = CAPSULE_DESTRUCTOR(self._on_capsule_destroyed)

    def _on_delete(self, _managed):
        self.deleter_calls += 1

    def _on_capsule_destroyed(self, capsule):
        name = _capsule_name(capsule)
        if name in (b"dltensor", b"dltensor_versioned"):
            self.deleter_calls += 1  # never consumed: the producer frees it

    def _fill(self, tensor):
        tensor.data = self.data
        tensor.device = DLDevice(*self.device)
        tensor.ndim = self.ndim
        tensor.dtype = DLDataType(self.code, self.bits, self.lanes)
        tensor.shape = ctypes.cast(self.shape, ctypes.POINTER(ctypes.c_int64))
        tensor.strides = (
            ctypes.cast(self.strides, ctypes.POINTER(ctypes.c_int64))
            if self.strides is not None
            else ctypes.POINTER(ctypes.c_int64)()
        )
        tensor.byte_offset = self.byte_offset

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        self.requests.append(max_version)
        if self.legacy_only and max_version is not None:
            raise TypeError("__dlpack__() got an unexpected keyword argument 'max_version'")
        if max_version is not None and not self.legacy_only:
            managed = DLManagedTensorVersioned()
            managed.version = DLPackVersion(*self.version)
            managed.deleter = self._deleter
            self._fill(managed.dl_tensor)
            name = b"dltensor_versioned"
        else:
            managed = DLManagedTensor()
            managed.deleter = self._deleter
            self._fill(managed.dl_tensor)
            name = b"dltensor"
        self._keep.append(managed)
        self.produced += 1
        return _capsule_new(ctypes.addressof(managed), name, self._destructor)

    def __dlpack_device__(self):
        return self.device


def _contiguous(values, dtype=np.int64, **kwargs):
    arr = np.asarray(values, dtype=dtype)
    return CtypesProducer(arr, arr.shape, None, **kwargs)


# ------------------------------------------------- versioned and legacy --


def test_versioned_capsule_is_requested_first_and_deleted_once():
    preds = _contiguous([0, 1, 2, 2])
    target = _contiguous([0, 2, 2, 1])
    cm = ConfusionMatrix(3)
    cm.update(preds, target)
    assert cm.counts.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    for producer in (preds, target):
        assert producer.requests == [(1, 0)]
        assert producer.produced == 1
        assert producer.deleter_calls == 1


def test_producer_without_max_version_gets_the_legacy_path():
    preds = _contiguous([0, 1, 1], legacy_only=True)
    target = _contiguous([0, 1, 0], legacy_only=True)
    cm = ConfusionMatrix(2)
    cm.update(preds, target)
    assert cm.counts.tolist() == [[1, 1], [0, 1]]
    for producer in (preds, target):
        assert producer.requests == [(1, 0), None]
        assert producer.produced == 1
        assert producer.deleter_calls == 1


def test_legacy_fallback_with_a_torch_capsule():
    class LegacyTorch:
        """A pre-1.0 producer: __dlpack__ takes no max_version."""

        def __init__(self, tensor):
            self.tensor = tensor
            self.calls = []

        def __dlpack__(self, stream=None):
            self.calls.append(stream)
            capsule = self.tensor.__dlpack__()
            assert "dltensor" in repr(capsule) and "versioned" not in repr(capsule)
            return capsule

    preds = LegacyTorch(torch.tensor([[0, 1], [2, 2]]))
    target = LegacyTorch(torch.tensor([[0, 1], [1, 2]], dtype=torch.int16))
    cm = ConfusionMatrix(3)
    cm.update(preds, target)
    assert cm.counts.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    np.testing.assert_array_equal(
        cm.counts, ref.confusion_counts(preds.tensor.numpy(), target.tensor.numpy(), 3)
    )
    # the max_version call raised TypeError inside Python, then the plain call
    assert preds.calls == [None] and target.calls == [None]


def test_type_error_from_both_calls_propagates():
    class Broken:
        def __dlpack__(self, *args, **kwargs):
            raise TypeError("this producer is broken")

    with pytest.raises(TypeError, match="this producer is broken"):
        ConfusionMatrix(2).update(Broken(), np.zeros(1, np.int64))


def test_non_capsule_from_dlpack_is_a_type_error():
    class NotACapsule:
        def __dlpack__(self, **kwargs):
            return 42

    with pytest.raises(TypeError, match="preds: __dlpack__ returned int, not a DLPack capsule"):
        ConfusionMatrix(2).update(NotACapsule(), np.zeros(1, np.int64))


def test_newer_major_version_is_refused_and_deleted():
    preds = _contiguous([0, 1], version=(2, 0))
    target = _contiguous([0, 1])
    cm = ConfusionMatrix(2)
    with pytest.raises(BufferError, match="preds: DLPack version 2.0 is newer than the 1.x"):
        cm.update(preds, target)
    assert preds.deleter_calls == 1
    assert target.produced == 0  # preds failed before target was asked
    assert cm.counts.sum() == 0


# ------------------------------------------------- offsets and strides --


def test_byte_offset_is_honoured():
    # the first 5 elements are garbage the view must skip
    buffer = np.array([99, 99, 99, 99, 99, 0, 1, 2, 1], dtype=np.int64)
    preds = CtypesProducer(buffer, (4,), None, byte_offset=5 * 8)
    target = _contiguous([0, 1, 2, 2])
    cm = ConfusionMatrix(3)
    cm.update(preds, target)
    assert cm.counts.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert preds.deleter_calls == target.deleter_calls == 1


def test_byte_offset_with_strides_and_narrow_dtype():
    # int16 buffer; view = elements 3, 5, 7 of rows starting at byte 6, two rows 10 elements apart
    buffer = np.full(40, 500, dtype=np.int16)
    values = np.array([[0, 1, 2], [2, 1, 0]])
    for r in range(2):
        for c in range(3):
            buffer[3 + 10 * r + 2 * c] = values[r, c]
    preds = CtypesProducer(buffer, (2, 3), (10, 2), byte_offset=3 * 2)
    cm = ConfusionMatrix(3)
    cm.update(preds, torch.tensor(values, dtype=torch.uint8))
    np.testing.assert_array_equal(cm.counts, np.diag([2, 2, 2]))


def test_negative_strides_from_the_last_element():
    buffer = np.array([0, 1, 2, 3, 4, 5], dtype=np.int32)  # viewed reversed as 2x3
    preds = CtypesProducer(buffer, (2, 3), (-3, -1), byte_offset=5 * 4)
    target = np.array([[5, 4, 3], [2, 1, 0]])
    cm = ConfusionMatrix(6)
    cm.update(preds, target)
    np.testing.assert_array_equal(cm.counts, np.eye(6, dtype=np.int64))


def test_null_strides_mean_compact_row_major():
    buffer = np.arange(12, dtype=np.uint8) % 4
    preds = CtypesProducer(buffer, (3, 4), None)
    target = np.arange(12).reshape(3, 4) % 4
    cm = ConfusionMatrix(4)
    cm.update(preds, target)
    np.testing.assert_array_equal(cm.counts, np.diag([3, 3, 3, 3]))


def test_bool_code_is_read_as_zero_or_one():
    preds = CtypesProducer(np.array([True, False, True]), (3,), None, code=KDL_BOOL, bits=8)
    cm = ConfusionMatrix(2)
    cm.update(preds, np.array([1, 0, 0]))
    assert cm.counts.tolist() == [[1, 1], [0, 1]]


# ---------------------------------------------------- refusals, deleted --


def test_cuda_device_is_refused_naming_both_devices():
    preds = _contiguous([0, 1], device=(KDL_CUDA, 1))
    target = _contiguous([0, 1])
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError) as info:
        cm.update(preds, target)
    assert str(info.value) == (
        "ConfusionMatrix.update reads host memory, but preds is on cuda:1 and target is on "
        "cpu:0; move both to the CPU"
    )
    assert preds.deleter_calls == target.deleter_calls == 1
    assert cm.counts.sum() == 0


def test_cuda_pinned_host_memory_is_read():
    preds = _contiguous([1, 1], device=(KDL_CUDA_HOST, 0))
    cm = ConfusionMatrix(2)
    cm.update(preds, np.array([1, 0]))
    assert cm.counts.tolist() == [[0, 1], [0, 1]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_real_cuda_tensor_is_refused():  # pragma: no cover - CPU-only CI
    with pytest.raises(ValueError, match="preds is on cuda:0 and target is on cpu:0"):
        ConfusionMatrix(2).update(torch.zeros(2, dtype=torch.long, device="cuda"), torch.zeros(2, dtype=torch.long))


def test_meta_tensor_export_error_propagates():
    cm = ConfusionMatrix(2)
    with pytest.raises(BufferError, match="meta"):
        cm.update(torch.zeros(2, dtype=torch.long), torch.empty(2, dtype=torch.long, device="meta"))
    assert cm.counts.sum() == 0


def test_vector_lanes_are_refused():
    preds = _contiguous([0, 1], lanes=2)
    with pytest.raises(TypeError, match="preds has vector dtype lanes=2"):
        ConfusionMatrix(2).update(preds, np.zeros(2, np.int64))
    assert preds.deleter_calls == 1


def test_too_many_dimensions_are_refused():
    preds = CtypesProducer(np.zeros(1, np.int64), (1,) * 33, None)
    with pytest.raises(ValueError, match="preds has 33 dimensions; at most 32 are supported"):
        ConfusionMatrix(2).update(preds, np.zeros(1, np.int64))
    assert preds.deleter_calls == 1


def test_thirty_two_dimensions_are_fine():
    preds = CtypesProducer(np.ones(1, np.int64), (1,) * 32, None)
    cm = ConfusionMatrix(2)
    cm.update(preds, np.ones((1,) * 32, np.int64))
    assert cm.counts.tolist() == [[0, 0], [0, 1]]


@pytest.mark.parametrize(
    "make_pair, exc",
    [
        (lambda: (_contiguous([0.5, 1.0], dtype=np.float64), _contiguous([0, 1])), TypeError),
        (lambda: (_contiguous([0, 1, 1]), _contiguous([0, 1])), ValueError),
        (lambda: (_contiguous([0, 7]), _contiguous([0, 1])), ValueError),
        (lambda: (_contiguous([0, 1]), _contiguous([0, 1], bits=128, dtype=np.int64)), TypeError),
    ],
    ids=["float_dtype", "shape_mismatch", "bad_value", "int128"],
)
def test_every_error_path_deletes_each_capsule_once(make_pair, exc):
    preds, target = make_pair()
    cm = ConfusionMatrix(2)
    with pytest.raises(exc):
        cm.update(preds, target)
    gc.collect()
    assert (preds.produced, preds.deleter_calls) == (1, 1)
    assert (target.produced, target.deleter_calls) == (1, 1)
    assert cm.counts.sum() == 0


def test_preds_capsule_deleted_when_target_export_fails():
    class Refuses:
        def __dlpack__(self, **kwargs):
            raise BufferError("cannot export target")

    preds = _contiguous([0, 1])
    with pytest.raises(BufferError, match="cannot export target"):
        ConfusionMatrix(2).update(preds, Refuses())
    assert preds.deleter_calls == 1


def test_unconsumed_capsule_is_deleted_by_its_destructor():
    # the control for the counting above: the producer's own destructor path
    producer = _contiguous([0, 1])
    capsule = producer.__dlpack__(max_version=(1, 0))
    assert producer.deleter_calls == 0
    del capsule
    gc.collect()
    assert producer.deleter_calls == 1


# ------------------------------------------------ real producers, freed --


def test_torch_tensors_are_freed_after_update():
    cm = ConfusionMatrix(5, ignore_index=255)
    preds = torch.randint(0, 5, (64, 64))
    target = torch.randint(0, 5, (64, 64), dtype=torch.uint8)
    alive = [weakref.ref(preds), weakref.ref(target)]
    for _ in range(20):
        cm.update(preds, target)
    del preds, target
    gc.collect()
    assert [w() for w in alive] == [None, None]


def test_torch_tensors_are_freed_after_failed_updates():
    cm = ConfusionMatrix(3)
    preds = torch.tensor([0, 1, 9])
    target = torch.tensor([0.0, 1.0, 2.0])
    alive = [weakref.ref(preds), weakref.ref(target)]
    for bad_target in (target, torch.tensor([0, 1, 2])):
        with pytest.raises((TypeError, ValueError)):
            cm.update(preds, bad_target)
    del preds, target, bad_target
    gc.collect()
    assert [w() for w in alive] == [None, None]


def test_producer_wrapping_torch_releases_the_tensor():
    class Wrapper:
        def __init__(self, tensor):
            self.tensor = tensor

        def __dlpack__(self, **kwargs):
            return self.tensor.__dlpack__(**kwargs)

    tensor = torch.arange(6) % 3
    probe = weakref.ref(tensor)
    wrapper = Wrapper(tensor)
    del tensor
    cm = ConfusionMatrix(3)
    cm.update(wrapper, wrapper)
    del wrapper
    gc.collect()
    assert probe() is None
    assert cm.counts.trace() == 6


def test_numpy_refcount_returns_to_baseline_after_many_updates():
    preds = np.arange(1000) % 7
    target = (np.arange(1000) * 3) % 7
    bad = target.copy()
    bad[10] = 50
    base = (sys.getrefcount(preds), sys.getrefcount(target), sys.getrefcount(bad))
    cm = ConfusionMatrix(7)
    for _ in range(500):
        cm.update(preds, target)
        cm.update(preds[::-1], target[::-1])
        with pytest.raises(ValueError):
            cm.update(preds, bad)
    gc.collect()
    assert (sys.getrefcount(preds), sys.getrefcount(target), sys.getrefcount(bad)) == base
    assert cm.counts.sum() == 1000 * 1000


def test_jax_arrays_are_consumed():
    # the test extra installs JAX where it supports the Python (3.11 and
    # later).  JAX starts threads when imported, and later tests fork worker
    # processes, so it is imported in a child process of its own.
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed (the test extra has it for Python 3.11+)")
    code = (
        "import jax.numpy as jnp\n"
        "from mushin._core import ConfusionMatrix\n"
        "cm = ConfusionMatrix(3)\n"
        "cm.update(jnp.array([0, 1, 2]), jnp.array([0, 1, 1]))\n"
        "print(cm.counts.tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[[1, 0, 0], [0, 1, 1], [0, 0, 0]]"
