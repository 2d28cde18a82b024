"""The Jacobian type: structured forms equal their dense() form, matrix view, algebra, budget, dtypes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tensorjac as tj
from tensorjac import Jacobian

# ---- Construction and shapes --------------------------------------------------------------


@pytest.mark.parametrize("shape, out_ndim", [((), 0), ((3,), 0), ((3,), 1), ((2, 3, 4), 1), ((2, 1, 3), 2), ((2, 3), 2)])
def test_dense_constructor_round_trip(rng, shape, out_ndim):
    """Jacobian(array, out_ndim) splits the axes into out_shape + in_shape and gives the array back."""
    A = rng.normal(size=shape)
    J = Jacobian(A, out_ndim)
    assert J.out_shape == shape[:out_ndim] and J.in_shape == shape[out_ndim:]
    assert J.shape == shape and J.ndim == len(shape) and J.size == A.size
    assert J.is_dense
    np.testing.assert_array_equal(J.dense(), A)
    np.testing.assert_array_equal(np.asarray(J), A)


@pytest.mark.parametrize("out_ndim", [-1, 3, 1.0, None])
def test_bad_out_ndim_raises(out_ndim):
    with pytest.raises(ValueError, match="out_ndim"):
        Jacobian(np.ones((2, 2)), out_ndim)


def test_identity_diagonal_zeros_dense(rng):
    """identity = delta, diagonal(d) = d[i] delta[i, j], zeros = 0, all as tensors of shape out + in."""
    np.testing.assert_array_equal(Jacobian.identity((3,)).dense(), np.eye(3))
    I23 = Jacobian.identity((2, 3)).dense()
    assert I23.shape == (2, 3, 2, 3)
    for a, b, c, d in itertools.product(range(2), range(3), range(2), range(3)):
        assert I23[a, b, c, d] == float(a == c and b == d)
    assert Jacobian.identity(()).dense() == 1.0

    d = rng.normal(size=(2, 3))
    D = Jacobian.diagonal(d)
    assert D.shape == (2, 3, 2, 3) and not D.is_dense and D.nbytes == d.nbytes
    np.testing.assert_array_equal(D.dense(), np.einsum("ab,ac,bd->abcd", d, np.eye(2), np.eye(3)))
    np.testing.assert_array_equal(D.matrix(), np.diag(d.ravel()))

    Z = Jacobian.zeros((2,), (3, 1))
    assert Z.shape == (2, 3, 1) and Z.nbytes == 0
    np.testing.assert_array_equal(Z.dense(), np.zeros((2, 3, 1)))


def test_from_einsum_kronecker_of_matmul_wrt_right_factor(rng):
    """d(X@W)/dW [a, b, i, j] = X[a, i] delta[b, j], against the loop of note 001's affine_jacobian."""
    X = rng.normal(size=(4, 3))
    k = 2
    J = Jacobian.from_einsum("ai->ab|ib", X, sizes={"b": k})
    expected = np.zeros((4, k, 3, k))
    for col in range(k):
        expected[:, col, :, col] = X
    assert J.out_shape == (4, k) and J.in_shape == (3, k)
    np.testing.assert_array_equal(J.dense(), expected)
    assert J.nbytes == X.nbytes and not J.is_dense


def test_from_einsum_kronecker_of_matmul_wrt_left_factor(rng):
    """d(X@W)/dX [a, b, i, j] = delta[a, i] W[j, b]."""
    W = rng.normal(size=(3, 2))
    J = Jacobian.from_einsum("jb->ab|aj", W, sizes={"a": 4})
    expected = np.zeros((4, 2, 4, 3))
    for a, b, i, j in itertools.product(range(4), range(2), range(4), range(3)):
        expected[a, b, i, j] = W[j, b] * (a == i)
    np.testing.assert_array_equal(J.dense(), expected)


def test_from_einsum_constant_summed_and_multi_factor(rng):
    """Constant (all-ones) axes, summed letters, several factors, and the softmax two-term form."""
    v = rng.normal(size=3)
    np.testing.assert_array_equal(Jacobian.from_einsum("->a|", sizes={"a": 3}).dense(), np.ones(3))
    np.testing.assert_array_equal(
        Jacobian.from_einsum("a->ab|", v, sizes={"b": 2}).dense(), np.repeat(v[:, None], 2, axis=1)
    )
    X, W = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(Jacobian.from_einsum("ai,ib->a|b", X, W).dense(), X @ W, rtol=1e-14)
    u, w = rng.normal(size=2), rng.normal(size=3)
    np.testing.assert_allclose(
        Jacobian.from_einsum("a,b->ab|ab", u, w).dense(), np.einsum("a,b,ac,bd->abcd", u, w, np.eye(2), np.eye(3))
    )
    # a 0-d factor: the map R -> R, x -> 2.5 x
    assert Jacobian.from_einsum("->|", np.array(2.5)).dense() == 2.5
    # softmax of one row: diag(s) - s s^T
    s = np.array([0.2, 0.3, 0.5])
    J = Jacobian.from_einsum("b->b|b", s) - Jacobian.from_einsum("b,d->b|d", s, s)
    np.testing.assert_allclose(J.dense(), np.diag(s) - np.outer(s, s), rtol=1e-15)


@pytest.mark.parametrize(
    "spec, factors, sizes, fragment",
    [
        ("ai-ab|ib", [np.ones((2, 2))], None, "bad Jacobian spec"),
        ("ai,b->ab|ib", [np.ones((2, 2))], None, "names 2 factor"),
        ("ai->aa|i", [np.ones((2, 2))], None, "repeats a letter"),
        ("ai->a|ii", [np.ones((2, 2))], None, "repeats a letter"),
        ("abc->ab|c", [np.ones((2, 2))], None, "has shape"),
        ("ai,ai->a|i", [np.ones((2, 2)), np.ones((2, 3))], None, "letter 'i'"),
        ("ai->ab|ib", [np.ones((2, 2))], None, "give the sizes"),
    ],
)
def test_from_einsum_errors(spec, factors, sizes, fragment):
    with pytest.raises(ValueError, match=fragment):
        Jacobian.from_einsum(spec, *factors, sizes=sizes)


def test_rule_jacobians_match_explicit_constructions(rng):
    """Rule makers give the structured forms of GUIDE section 2, equal to explicit dense tensors."""
    Z = rng.normal(size=(2, 3))
    s = 1 / (1 + np.exp(-Z))
    J = tj.get_rule("logit").jacobian(Z)["x"]
    expected = np.zeros((2, 3, 2, 3))
    for a, b in itertools.product(range(2), range(3)):
        expected[a, b, a, b] = s[a, b] * (1 - s[a, b])
    np.testing.assert_allclose(J.dense(), expected, rtol=1e-14)

    S = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    J = tj.get_rule("softmax").jacobian(Z)["x"]
    expected = np.einsum("ac,ab,bd->abcd", np.eye(2), S, np.eye(3)) - np.einsum("ac,ab,ad->abcd", np.eye(2), S, S)
    np.testing.assert_allclose(J.dense(), expected, atol=1e-15)

    X, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    blocks = tj.get_rule("matmul").jacobian(X, W)
    np.testing.assert_array_equal(blocks["x1"].dense(), np.einsum("ai,jb->abij", np.eye(4), W))
    np.testing.assert_array_equal(blocks["x2"].dense(), np.einsum("ai,bj->abij", X, np.eye(2)))


# ---- The matrix view ----------------------------------------------------------------------


@pytest.mark.parametrize("out_shape, in_shape", [((), ()), ((3,), ()), ((), (2, 2)), ((2, 3), (4,)), ((1, 2), (3, 1))])
def test_matrix_is_the_row_major_reshape(rng, out_shape, in_shape):
    """matrix()[vec(i), vec(j)] = dense()[i, j] with row-major vec (note 002)."""
    A = rng.normal(size=out_shape + in_shape)
    J = Jacobian(A, len(out_shape))
    M = J.matrix()
    assert M.shape == (int(np.prod(out_shape)), int(np.prod(in_shape)))
    for i in np.ndindex(*out_shape):
        for j in np.ndindex(*in_shape):
            row = np.ravel_multi_index(i, out_shape) if out_shape else 0
            col = np.ravel_multi_index(j, in_shape) if in_shape else 0
            assert M[row, col] == A[i + j]


def test_matrix_of_a_structured_jacobian():
    """The matrix of d(X@W)/dW is kron(X, I_k) (row-major vec of X@W and of W)."""
    X = np.arange(6.0).reshape(2, 3)
    J = tj.get_rule("matmul").jacobian(X, np.ones((3, 4)))["x2"]
    np.testing.assert_array_equal(J.matrix(), np.kron(X, np.eye(4)))


# ---- Algebra ------------------------------------------------------------------------------


def _zoo(rng):
    """Jacobians of one shape (2, 3) -> (2, 3), dense and structured."""
    Z = rng.normal(size=(2, 3))
    return {
        "dense": Jacobian(rng.normal(size=(2, 3, 2, 3)), 2),
        "identity": Jacobian.identity((2, 3)),
        "diagonal": Jacobian.diagonal(rng.normal(size=(2, 3))),
        "zeros": Jacobian.zeros((2, 3), (2, 3)),
        "softmax": tj.get_rule("softmax").jacobian(Z)["x"],
        "softmax0": tj.get_rule("softmax").jacobian(Z, axis=0)["x"],
        "matmul_x1": tj.get_rule("matmul").jacobian(Z, rng.normal(size=(3, 3)))["x1"],
        "row_bcast": Jacobian.from_einsum("b->ab|cb", rng.normal(size=3), sizes={"a": 2, "c": 2}),
    }


def test_transpose_swaps_out_and_in_axes(rng):
    for name, J in _zoo(rng).items():
        T = J.T
        assert T.out_shape == J.in_shape and T.in_shape == J.out_shape
        np.testing.assert_array_equal(T.dense(), np.transpose(J.dense(), (2, 3, 0, 1)), err_msg=name)
        np.testing.assert_array_equal(T.matrix(), J.matrix().T, err_msg=name)
    J = tj.get_rule("matmul").jacobian(rng.normal(size=(4, 3)), rng.normal(size=(3, 2)))["x2"]  # (4,2) <- (3,2)
    np.testing.assert_array_equal(J.transpose().dense(), np.transpose(J.dense(), (2, 3, 0, 1)))
    np.testing.assert_array_equal(J.T.T.dense(), J.dense())


def test_addition_subtraction_scaling_negation_match_dense(rng):
    """Every pair of the zoo: J1 + J2, J1 - J2, 2.5 J1, J1 * -3, -J1 agree with the same ops on dense()."""
    zoo = _zoo(rng)
    for (n1, J1), (n2, J2) in itertools.product(zoo.items(), repeat=2):
        D1, D2 = J1.dense(), J2.dense()
        np.testing.assert_allclose((J1 + J2).dense(), D1 + D2, rtol=1e-14, atol=1e-15, err_msg=f"{n1}+{n2}")
        np.testing.assert_allclose((J1 - J2).dense(), D1 - D2, rtol=1e-14, atol=1e-15, err_msg=f"{n1}-{n2}")
    for name, J in zoo.items():
        D = J.dense()
        np.testing.assert_allclose((2.5 * J).dense(), 2.5 * D, rtol=1e-15, err_msg=name)
        np.testing.assert_allclose((J * -3).dense(), -3 * D, rtol=1e-15, err_msg=name)
        np.testing.assert_allclose((J * np.float64(0.5)).dense(), 0.5 * D, rtol=1e-15, err_msg=name)
        np.testing.assert_array_equal((-J).dense(), -D, err_msg=name)
        np.testing.assert_array_equal((J - J).dense(), np.zeros_like(D), err_msg=name)


def test_sums_of_like_structure_stay_small(rng):
    """diagonal + diagonal is stored as one diagonal, not densified."""
    d1, d2 = rng.normal(size=(20, 30)), rng.normal(size=(20, 30))
    S = Jacobian.diagonal(d1) + Jacobian.diagonal(d2) * 2.0
    assert S.nbytes <= 2 * d1.nbytes
    np.testing.assert_allclose(S.matrix(), np.diag((d1 + 2 * d2).ravel()), rtol=1e-14)


def test_scaling_keeps_dtype_and_rejects_non_scalars():
    J = Jacobian(np.ones((2, 2), dtype=np.float32), 1)
    assert (J * 2.0).dtype == np.float32 and (J * 2.0).dense().dtype == np.float32
    with pytest.raises(TypeError):
        J * np.ones(2)
    with pytest.raises(TypeError):
        J + np.ones((2, 2))
    with pytest.raises(ValueError, match="non-finite"):
        J * np.nan


def test_adding_mismatched_jacobians_names_both_shapes():
    A = Jacobian(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match=r"\(2,\)/\(3,\) and \(3,\)/\(2,\)"):
        A + Jacobian(np.ones((3, 2)), 1)
    # same total shape, different split into out and in
    with pytest.raises(ValueError, match=r"\(2,\)/\(3,\) and \(\)/\(2, 3\)"):
        A + Jacobian(np.ones((2, 3)), 0)
    with pytest.raises(ValueError, match=r"\(2,\)/\(3,\)"):
        A - Jacobian(np.ones((2, 4)), 1)


def test_repr_and_is_dense(rng):
    zoo = _zoo(rng)
    for name, J in zoo.items():
        text = repr(J)
        assert "out_shape=(2, 3)" in text and "in_shape=(2, 3)" in text, text
        assert J.is_dense == (name == "dense"), name
    assert "structure='0'" in repr(zoo["zeros"])
    assert "ab->ab|ab" in repr(zoo["diagonal"])
    assert repr(Jacobian(np.array(1.0), 0)).startswith("Jacobian(out_shape=(), in_shape=()")


# ---- Memory: structure and the dense budget -----------------------------------------------

N, D, K = 512, 784, 256
BIG_SHAPE = (N, K, D, K)
BIG_BYTES = N * K * D * K * 8  # 210,453,397,504 bytes: the dense d(X@W)/dW of the network exercise


@pytest.fixture(scope="module")
def big_dW():
    rng = np.random.default_rng(1)
    X, W = rng.normal(size=(N, D)), rng.normal(size=(D, K))
    return X, tj.get_rule("matmul").jacobian(X, W, argnums=1)["x2"]


def test_structured_dXW_dW_is_small_at_network_size(big_dW):
    """d(X@W)/dW at N=512, d=784, k=256 holds only X (3.2 MB), not 210 GB."""
    X, J = big_dW
    assert J.shape == BIG_SHAPE
    assert J.nbytes <= X.nbytes
    assert J.size * J.dtype.itemsize == BIG_BYTES


def test_dense_refuses_above_budget_naming_shape_and_bytes(big_dW):
    _, J = big_dW
    for materialise in (J.dense, J.matrix):
        with pytest.raises(MemoryError) as info:
            materialise()
        message = str(info.value)
        assert str(BIG_SHAPE) in message and f"{BIG_BYTES:,}" in message, message


def test_dense_budget_setter_getter_and_argument():
    J = Jacobian.diagonal(np.ones(10))  # 10 x 10 float64: 800 bytes dense
    default = tj.get_dense_budget()
    assert default == 1 << 30
    old = tj.set_dense_budget(799)
    try:
        assert old == default and tj.get_dense_budget() == 799
        with pytest.raises(MemoryError, match=r"\(10, 10\).*800 bytes"):
            J.dense()
        np.testing.assert_array_equal(J.dense(budget=800), np.eye(10))  # the argument wins
        tj.set_dense_budget(800)
        np.testing.assert_array_equal(J.dense(), np.eye(10))
        with pytest.raises(MemoryError):
            Jacobian.diagonal(np.ones(2)).dense(budget=31)  # 32 bytes needed
    finally:
        tj.set_dense_budget(None)
    assert tj.get_dense_budget() == default
    for bad in (-1, 1.5, "1GB"):
        with pytest.raises(ValueError, match="budget"):
            tj.set_dense_budget(bad)
    assert tj.get_dense_budget() == default


# ---- Dtypes and finiteness ----------------------------------------------------------------


def test_integer_arrays_are_promoted_and_float32_is_kept():
    assert Jacobian(np.eye(2, dtype=int), 1).dtype == np.float64
    assert Jacobian(np.eye(2, dtype=int), 1).dense().dtype == np.float64
    assert Jacobian.diagonal(np.array([1, 2])).dense().dtype == np.float64
    assert Jacobian(np.eye(2, dtype=np.float32), 1).dense().dtype == np.float32


@pytest.mark.parametrize(
    "bad",
    [np.eye(2, dtype=complex), np.eye(2, dtype=np.float16), np.eye(2).astype(object)],
    ids=["complex", "float16", "object"],
)
def test_unsupported_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match="dtype"):
        Jacobian(bad, 1)
    with pytest.raises(TypeError, match="dtype"):
        Jacobian.diagonal(bad[0])
    with pytest.raises(TypeError, match="dtype"):
        Jacobian.from_einsum("ab->a|b", bad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_arrays_raise(bad):
    A = np.ones((2, 2))
    A[1, 0] = bad
    with pytest.raises(ValueError, match=r"non-finite.*\(1, 0\)"):
        Jacobian(A, 1)
    with pytest.raises(ValueError, match="non-finite"):
        Jacobian.diagonal(A)
    with pytest.raises(ValueError, match="non-finite"):
        Jacobian.from_einsum("ai->ab|ib", A, sizes={"b": 3})


def test_from_einsum_check_finite_option():
    """check_finite=True (the default) rejects nan/inf factors; False skips the pass (for rules)."""
    bad = np.array([1.0, np.nan])
    with pytest.raises(ValueError, match="non-finite"):
        Jacobian.from_einsum("a->a|a", bad)
    J = Jacobian.from_einsum("a->a|a", bad, check_finite=False)
    assert np.isnan(J.dense()[1, 1])
