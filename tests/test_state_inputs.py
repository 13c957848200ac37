"""RegressionMoments, RankedPairs and RetrievalGroups read their batches by
DLPack (csrc/glue/state_inputs.c), not through a NumPy conversion.

A tensor whose elements lie at one stride is read in place; any other
layout, and float16/bfloat16, is copied (widened exactly to float32) with
the GIL released.  Every layout must give the state a contiguous copy of
the same values gives, bit for bit (that path is checked against
torchmetrics in test_regression_states.py and test_retrieval_states.py),
and the values torchmetrics computes from the same strided tensors.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchmetrics
from hypothesis import given, settings
from hypothesis import strategies as st

from _raw_dlpack import RawProducer
from mushin import _core

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


def _state_equal(a, b):
    da, db = a.state_dict(), b.state_dict()
    assert da.keys() == db.keys()
    for k in da:
        np.testing.assert_array_equal(np.asarray(da[k]), np.asarray(db[k]), err_msg=k)


def _layouts(matrix: np.ndarray):
    """(name, view, the same values in C order) for strided views of a 2-d array."""
    t = torch.from_numpy(matrix)
    return [
        ("numpy column", matrix[:, 1], np.ascontiguousarray(matrix[:, 1])),
        ("numpy column 2-d", matrix[:, 1:2], np.ascontiguousarray(matrix[:, 1:2])),
        ("numpy every other row", matrix[::2, 0], np.ascontiguousarray(matrix[::2, 0])),
        ("numpy reversed", matrix[::-1, 2], np.ascontiguousarray(matrix[::-1, 2])),
        ("numpy broadcast", np.broadcast_to(matrix[0, :1], (matrix.shape[0],)),
         np.full(matrix.shape[0], matrix[0, 0])),
        ("torch column", t[:, 1], np.ascontiguousarray(matrix[:, 1])),
        ("torch transposed 2-d", t.T[1:2].T, np.ascontiguousarray(matrix[:, 1:2])),
    ]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(finite, finite, finite, finite), min_size=2, max_size=40))
def test_regression_states_read_any_layout_as_its_contiguous_copy(rows):
    preds = np.array(rows, dtype=np.float64)
    target = preds[:, ::-1].copy() * 0.5 + 1.0
    for (name, p, p_flat), (_, t, t_flat) in zip(_layouts(preds), _layouts(target)):
        for kind in ("RegressionMoments", "RankedPairs"):
            strided, contiguous = getattr(_core, kind)(), getattr(_core, kind)()
            strided.update(p, t)
            contiguous.update(p_flat, t_flat)
            _state_equal(strided, contiguous)
            np.testing.assert_equal(strided.compute(), contiguous.compute(), err_msg=f"{kind} {name}")


def test_strided_torch_tensors_match_torchmetrics():
    g = torch.Generator().manual_seed(3)
    preds = torch.randn(200, 3, generator=g, dtype=torch.float64)
    target = torch.randn(200, 3, generator=g, dtype=torch.float64)
    p, t = preds[:, 2], target.T[0]  # stride 3 and a transposed row
    assert not p.is_contiguous() and not t.is_contiguous()
    m = _core.RegressionMoments()
    m.update(p, t)
    got = m.compute()
    want = {
        "mse": torchmetrics.MeanSquaredError()(p, t),
        "mae": torchmetrics.MeanAbsoluteError()(p, t),
        "r2": torchmetrics.R2Score()(p, t),
        "pearson": torchmetrics.PearsonCorrCoef()(p, t),
    }
    for k, v in want.items():
        assert got[k] == pytest.approx(float(v), rel=1e-6, abs=1e-9), k
    s = _core.RankedPairs()
    s.update(p, t)
    assert s.compute()["spearman"] == pytest.approx(float(torchmetrics.SpearmanCorrCoef()(p, t)), abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("contiguous", [True, False])
def test_half_precision_is_widened_exactly(dtype, contiguous):
    g = torch.Generator().manual_seed(5)
    wide_p = torch.randn(64, 2, generator=g) * 100
    wide_t = torch.randn(64, 2, generator=g) * 100
    p, t = wide_p.to(dtype), wide_t.to(dtype)
    if contiguous:
        p, t = p[:, 0].contiguous(), t[:, 0].contiguous()
    else:
        p, t = p[:, 0], t[:, 0]
    # torch's own widening is the oracle: float16/bfloat16 -> float32 is exact
    for kind in ("RegressionMoments", "RankedPairs"):
        half, widened = getattr(_core, kind)(), getattr(_core, kind)()
        half.update(p, t)
        widened.update(p.float(), t.float())
        _state_equal(half, widened)


def _contiguous(x):
    """The same values in a fresh C-order array (float16 widened by torch)."""
    if isinstance(x, torch.Tensor):
        x = (x.float() if x.dtype == torch.float16 else x).numpy()
    return np.ascontiguousarray(x)


def test_retrieval_groups_read_any_layout():
    rng = np.random.default_rng(7)
    scores = rng.random((60, 3))
    relevance = rng.integers(0, 2, (60, 3))
    queries = rng.integers(0, 5, (60, 3))
    cases = [
        (scores[:, 1], relevance[:, 1].astype(bool), queries[:, 1]),
        (scores[::-1, 0], relevance[::-1, 0], queries[::-1, 0].astype(np.int32)),
        (torch.from_numpy(scores).T[2], torch.from_numpy(relevance).T[2].bool(),
         torch.from_numpy(queries).T[2]),
        (torch.from_numpy(scores)[:, :2], torch.from_numpy(relevance)[:, :2].to(torch.float16),
         torch.from_numpy(queries)[:, :2]),
        # a permuted 3-d view: no single stride walks it in C order
        (torch.from_numpy(scores).reshape(12, 5, 3).permute(2, 0, 1),
         torch.from_numpy(relevance).reshape(12, 5, 3).permute(2, 0, 1),
         torch.from_numpy(queries).reshape(12, 5, 3).permute(2, 0, 1)[:, :, :]),
    ]
    for p, t, ix in cases:
        strided, contiguous = _core.RetrievalGroups(top_k=2), _core.RetrievalGroups(top_k=2)
        strided.update(p, t, ix)
        flat = [_contiguous(x) for x in (p, t, ix)]
        contiguous.update(*flat)
        _state_equal(strided, contiguous)
        p_t, t_t, ix_t = (torch.from_numpy(x) for x in flat)
        want = torchmetrics.retrieval.RetrievalMAP(top_k=2)(p_t.flatten(), t_t.flatten().long(),
                                                           indexes=ix_t.flatten().long())
        assert strided.compute()["retrieval_map"] == pytest.approx(float(want), abs=1e-6)


def test_a_producer_without_numpy_is_read_by_dlpack():
    # float64 (code 2), 4 elements at a stride of 2 elements
    values = np.array([1.5, -2.0, 3.25, 8.0])
    preds = RawProducer((4,), strides=(2,), code=2, bits=64)
    preds.buffer.view(np.float64)[0:8:2] = values
    target = RawProducer((4,), code=2, bits=64)
    target.buffer.view(np.float64)[:4] = values[::-1]
    m = _core.RegressionMoments()
    m.update(preds, target)
    ref = _core.RegressionMoments()
    ref.update(values, values[::-1].copy())
    _state_equal(m, ref)
    assert preds.deleter_calls == 1 and target.deleter_calls == 1


@pytest.mark.parametrize("make, match", [
    (lambda: (torch.ones(3, dtype=torch.int32), torch.ones(3)), r"`preds` has dtype int32; expected float16"),
    (lambda: (torch.ones(3), torch.ones(3, dtype=torch.complex64)), r"`target` has dtype complex64"),
])
def test_dtypes_are_named_as_dlpack_reports_them(make, match):
    m = _core.RegressionMoments()
    with pytest.raises(TypeError, match=match):
        m.update(*make())
    assert m.n == 0


def test_bool_indexes_are_refused_and_the_state_kept():
    g = _core.RetrievalGroups()
    g.update(np.array([0.5]), np.array([1]), np.array([0]))
    before = g.state_dict()
    with pytest.raises(TypeError, match=r"`indexes` has dtype bool; expected int64"):
        g.update(np.array([0.5]), np.array([1]), np.array([True]))
    _state_equal_dict = {k: np.asarray(v).tolist() for k, v in g.state_dict().items()}
    assert _state_equal_dict == {k: np.asarray(v).tolist() for k, v in before.items()}
