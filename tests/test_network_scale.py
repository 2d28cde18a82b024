"""Issue 2, item 8: the note-001 network gradient at N=512, d=784, k=256, m=10 through the
block chain rule, without ever materialising a 4-D Jacobian (d(XW)/dW alone is 196 GiB)."""

import os
import sys
import tracemalloc

import numpy as np
import pytest

import tensorjac as tj

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from nn_backprop import make_problem, numpy_backprop_gradient, tensorjac_gradient  # noqa: E402

from tensorjac import _terms  # noqa: E402  (where every contraction of factors happens)


@pytest.fixture
def small_dense_budget():
    old = tj.set_dense_budget(50 * 2**20)  # any dense Jacobian above 50 MiB raises MemoryError
    yield
    tj.set_dense_budget(old)


def test_full_size_gradient_matches_backprop_without_dense_jacobians(monkeypatch, small_dense_budget):
    problem = make_problem(N=512, d=784, k=256, m=10)
    X, Y, W, b, V, c = problem

    # Record every array tensorjac evaluates from factors (compaction, dense(), vjp).
    evaluated = []
    real_einsum = _terms.einsum

    def recording_einsum(factors, output, sizes, dtype):
        result = real_einsum(factors, output, sizes, dtype)
        evaluated.append(result.shape)
        return result

    monkeypatch.setattr(_terms, "einsum", recording_einsum)

    tracemalloc.start()
    grads = tensorjac_gradient(*problem)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    reference = numpy_backprop_gradient(*problem)
    for name in ("W", "b", "V", "c"):
        assert grads[name].shape == reference[name].shape
        rel = np.abs(grads[name] - reference[name]).max() / np.abs(reference[name]).max()
        assert rel < 1e-10, (name, rel)
    assert peak < 500 * 2**20, f"peak memory {peak / 2**20:.1f} MiB"
    assert evaluated, "the gradient was not computed through tensorjac's contractions"
    # Nothing evaluated is bigger than the largest input array (X: N*d entries), and no
    # evaluated array has the 4 axes of a dense layer Jacobian.
    assert max(np.prod(shape) for shape in evaluated) <= X.size
    assert all(len(shape) < 4 for shape in evaluated), evaluated


def test_layer_jacobians_stay_factored():
    X, Y, W, b, V, c = make_problem(N=512, d=784, k=256, m=10)
    D = tj.get_rule("affine").jacobian(X, W, b, argnums=("W", "b"))
    assert D["W"].shape == (512, 256, 784, 256)
    assert D["W"].nbytes == X.nbytes  # only X is stored: the delta over the output columns is implicit
    assert D["b"].nbytes == 0  # a delta and a broadcast: nothing stored
    with pytest.raises(MemoryError, match=r"\(512, 256, 784, 256\).*210,453,397,504 bytes"):
        D["W"].dense()
