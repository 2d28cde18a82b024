"""contract and chain on dask arrays: a Jacobian split into chunks, contracted out of core.

dask[array] is in the test extra; the module is skipped where it is not installed.

What is supported: plain dask arrays given to ``contract`` and ``chain`` (with their link
axes); the result is a lazy dask array.  A ``tensorjac.Jacobian`` holds numpy arrays, so
wrapping a dask array in one computes it (out of scope).
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj

da = pytest.importorskip("dask.array")


def test_contract_of_a_chunked_jacobian_is_a_dask_array(rng):
    # DF: T_(4, 3) -> T_(5,) and DG: T_(6,) -> T_(4, 3), each split into several chunks.
    DF, DG = rng.normal(size=(5, 4, 3)), rng.normal(size=(4, 3, 6))
    dDF, dDG = da.from_array(DF, chunks=(2, 2, 3)), da.from_array(DG, chunks=(2, 3, 2))
    assert dDF.npartitions > 1 and dDG.npartitions > 1
    result = tj.contract(dDF, dDG)
    assert isinstance(result, da.Array)
    assert result.shape == (5, 6)
    np.testing.assert_allclose(result.compute(), np.tensordot(DF, DG, 2), rtol=1e-12)
    # A cotangent pulled back through the chunked Jacobian.
    u = rng.normal(size=5)
    pulled = tj.contract(da.from_array(u, chunks=2), dDF, axes=1)
    assert isinstance(pulled, da.Array)
    np.testing.assert_allclose(pulled.compute(), np.tensordot(u, DF, 1), rtol=1e-12)


@pytest.mark.parametrize("order", ["optimal", "forward", "reverse"])
def test_chain_of_chunked_arrays_is_a_dask_array(rng, order):
    shapes = [(6, 2, 3), (2, 3, 8), (8, 4)]
    arrays = [rng.normal(size=s) for s in shapes]
    chunked = [da.from_array(a, chunks=2) for a in arrays]
    result = tj.chain(*chunked, order=order)
    assert isinstance(result, da.Array)
    expected = np.tensordot(np.tensordot(arrays[0], arrays[1], 2), arrays[2], 1)
    np.testing.assert_allclose(result.compute(), expected, rtol=1e-12)
    # The same chain of numpy arrays gives numpy arrays and the same numbers.
    np.testing.assert_allclose(tj.chain(*arrays, order=order), expected, rtol=1e-12)


def test_chain_cost_of_dask_arrays_needs_only_shapes(rng):
    chunked = [da.ones(s, chunks=2) for s in [(100, 3), (3, 100), (100, 2)]]
    costs = tj.chain_cost(*chunked)
    assert costs["optimal"].path == (0, (1, 2))
    assert costs["optimal"].flops == 2 * 3 * 100 * 2 + 2 * 100 * 3 * 2
