"""contract / chain / vjp / jvp against np.tensordot, on dense and structured Jacobians; note 003."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tensorjac as tj
from tensorjac import Jacobian

# ---- Dense inputs -------------------------------------------------------------------------


def _shape(rng, ndim):
    return tuple(int(s) for s in rng.integers(1, 4, size=ndim))


@pytest.mark.parametrize("l, k, n", list(itertools.product(range(3), repeat=3)))
def test_contract_of_dense_jacobians_is_tensordot(l, k, n):
    """c(DF, DG)[i, j] = sum_k DF[i, k] DG[k, j] for out/middle/in ranks 0..2 (k = 0: outer product)."""
    rng = np.random.default_rng(100 * l + 10 * k + n)
    out, mid, inn = _shape(rng, l), _shape(rng, k), _shape(rng, n)
    A, B = rng.normal(size=out + mid), rng.normal(size=mid + inn)
    expected = np.tensordot(A, B, axes=k)
    C = tj.contract(Jacobian(A, l), Jacobian(B, k))
    assert isinstance(C, Jacobian) and C.out_shape == out and C.in_shape == inn
    np.testing.assert_allclose(C.dense(), expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose((Jacobian(A, l) @ Jacobian(B, k)).dense(), expected, rtol=1e-13, atol=1e-14)
    # Jacobian @ ndarray: the array's leading axes are DF's in_shape
    np.testing.assert_allclose(tj.contract(Jacobian(A, l), B).dense(), expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose((Jacobian(A, l) @ B).dense(), expected, rtol=1e-13, atol=1e-14)
    # ndarray @ Jacobian: the array's trailing axes are DG's out_shape
    np.testing.assert_allclose(tj.contract(A, Jacobian(B, k)).dense(), expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose((A @ Jacobian(B, k)).dense(), expected, rtol=1e-13, atol=1e-14)
    # two arrays with an explicit number of middle axes
    np.testing.assert_allclose(tj.contract(A, B, axes=k), expected, rtol=1e-13, atol=1e-14)


def test_contract_of_two_arrays_infers_an_unambiguous_split(rng):
    A, B = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 4, 5))
    np.testing.assert_allclose(tj.contract(A, B), np.tensordot(A, B, 2), rtol=1e-13)
    u, v = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(tj.contract(u, v), u @ v, rtol=1e-13)
    assert tj.contract(np.array(2.0), np.array(3.0)) == 6.0  # scalar shapes: axes=0


def test_contract_of_two_arrays_ambiguous_or_mismatched_axes():
    A, B = np.ones((2, 2)), np.ones((2, 2))  # one or two middle axes both fit
    with pytest.raises(ValueError, match=r"cannot tell.*\(2, 2\) and \(2, 2\).*\[1, 2\]"):
        tj.contract(A, B)
    np.testing.assert_array_equal(tj.contract(A, B, axes=2), np.tensordot(A, B, 2))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 3\)"):
        tj.contract(np.ones((2, 3)), np.ones((2, 3)), axes=1)
    with pytest.raises(ValueError, match="axes must be an int"):
        tj.contract(A, B, axes=3)


def test_contract_mismatch_names_both_shapes():
    DF, DG = Jacobian(np.ones((2, 3)), 1), Jacobian(np.ones((4, 2)), 1)
    with pytest.raises(ValueError, match=r"DF.in_shape \(3,\) does not match DG.out_shape \(4,\)"):
        tj.contract(DF, DG)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        DF @ DG
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        tj.contract(DF, np.ones((4, 5)))  # array of the wrong size on the middle axis
    with pytest.raises(ValueError, match=r"\(5,\).*\(4,\)"):
        tj.contract(np.ones((2, 5)), DG)  # the array's trailing axis is DF's in_shape


@pytest.mark.parametrize("side", ["DG array", "DF array"])
def test_contract_with_an_array_of_too_few_axes_names_both_shapes(side):
    """A 1-D array cannot hold the (2, 3) middle axes of the other operand: the error should name both."""
    if side == "DG array":
        left, right = Jacobian(np.ones((4, 2, 3)), 1), np.ones(3)
    else:
        left, right = np.ones(3), Jacobian(np.ones((2, 3, 4)), 2)
    with pytest.raises(ValueError) as info:
        tj.contract(left, right)
    assert "(2, 3)" in str(info.value) and "(3,)" in str(info.value), str(info.value)


# ---- Structured Jacobians -----------------------------------------------------------------


def _structured_zoo():
    """Named Jacobians from constructors and rule makers; shapes among (), (3,), (1, 3), (2, 3)."""
    rng = np.random.default_rng(2024)
    Z, Z2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    r, s = rng.normal(size=3), rng.normal(size=())
    X2, W33 = rng.normal(size=(2, 2)), rng.normal(size=(3, 3))
    zoo = {
        "dense:23<-23": Jacobian(rng.normal(size=(2, 3, 2, 3)), 2),
        "dense:3<-23": Jacobian(rng.normal(size=(3, 2, 3)), 1),
        "dense:23<-3": Jacobian(rng.normal(size=(2, 3, 3)), 2),
        "dense:<-23": Jacobian(rng.normal(size=(2, 3)), 0),
        "dense:23<-": Jacobian(rng.normal(size=(2, 3)), 2),
        "dense:13<-23": Jacobian(rng.normal(size=(1, 3, 2, 3)), 2),
        "dense:<-": Jacobian(np.array(1.7), 0),
        "identity:23": Jacobian.identity((2, 3)),
        "identity:3": Jacobian.identity((3,)),
        "diagonal:23": Jacobian.diagonal(rng.normal(size=(2, 3))),
        "diagonal:3": Jacobian.diagonal(r),
        "zeros:23<-3": Jacobian.zeros((2, 3), (3,)),
        "logit:23": tj.get_rule("logit").jacobian(Z)["x"],
        "relu:23": tj.get_rule("relu").jacobian(Z)["x"],
        "softmax:23": tj.get_rule("softmax").jacobian(Z)["x"],
        "softmax_axis0:23": tj.get_rule("softmax").jacobian(Z2, axis=0)["x"],
        "softmax:3": tj.get_rule("softmax").jacobian(r)["x"],
        "matmul_dX:23<-23": tj.get_rule("matmul").jacobian(Z, W33)["x1"],
        "matmul_dW:23<-23": tj.get_rule("matmul").jacobian(X2, Z)["x2"],  # d(X@W)/dW = X[a,i] delta[b,j]
        "vecmat_dx:3<-3": tj.get_rule("matmul").jacobian(r, W33)["x1"],
        "dot_dx:<-3": tj.get_rule("matmul").jacobian(r, r[::-1].copy())["x1"],
        "add_row:23<-3": tj.get_rule("add").jacobian(Z, r)["x2"],
        "add_row:23<-13": tj.get_rule("add").jacobian(Z, r[None, :])["x2"],
        "add_scalar:23<-": tj.get_rule("add").jacobian(Z, s)["x2"],
        "mul_scalar:23<-": tj.get_rule("multiply").jacobian(Z, s)["x2"],
        "mul_scalar:23<-23": tj.get_rule("multiply").jacobian(Z, s)["x1"],
        "max_row:23<-13": tj.get_rule("maximum").jacobian(Z, r[None, :])["x2"],
        "sum_all:<-23": tj.get_rule("sum").jacobian(Z)["x"],
        "sum_axis0:3<-23": tj.get_rule("sum").jacobian(Z, axis=0)["x"],
        "sum_keep0:13<-23": tj.get_rule("sum").jacobian(Z, axis=0, keepdims=True)["x"],
        "sum_vec:<-3": tj.get_rule("sum").jacobian(r)["x"],
        "cross_entropy_dQ:<-23": tj.get_rule("cross_entropy").jacobian(Z, np.exp(Z2))["Q"],
        "affine_db:23<-3": tj.get_rule("affine").jacobian(Z, W33, r)["b"],
        "affine_vec_db:3<-3": tj.get_rule("affine").jacobian(r, W33, r)["b"],
    }
    zoo["T(add_row):3<-23"] = zoo["add_row:23<-3"].T
    zoo["T(sum_all):23<-"] = zoo["sum_all:<-23"].T
    zoo["T(add_scalar):<-23"] = zoo["add_scalar:23<-"].T
    zoo["T(softmax):23"] = zoo["softmax:23"].T
    zoo["diag+softmax:23"] = zoo["diagonal:23"] + zoo["softmax:23"]
    zoo["2softmax-identity:23"] = 2 * zoo["softmax:23"] - zoo["identity:23"]
    zoo["sum0@softmax:3<-23"] = zoo["sum_axis0:3<-23"] @ zoo["softmax:23"]
    return zoo


ZOO = _structured_zoo()
PAIRS = [(f, g) for f, g in itertools.product(ZOO, repeat=2) if ZOO[f].in_shape == ZOO[g].out_shape]


@pytest.mark.parametrize("f, g", PAIRS, ids=[f"{f}@{g}" for f, g in PAIRS])
def test_contract_of_structured_jacobians_is_tensordot_of_dense(f, g):
    """contract keeps structure, but its numbers are those of tensordot of the dense forms."""
    DF, DG = ZOO[f], ZOO[g]
    C = tj.contract(DF, DG)
    assert C.out_shape == DF.out_shape and C.in_shape == DG.in_shape
    expected = np.tensordot(DF.dense(), DG.dense(), axes=len(DF.in_shape))
    np.testing.assert_allclose(C.dense(), expected, rtol=1e-12, atol=1e-13)
    # mixing a structured operand with a dense array works the same way
    np.testing.assert_allclose((DF @ DG.dense()).dense(), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose((DF.dense() @ DG).dense(), expected, rtol=1e-12, atol=1e-13)


def test_diagonal_times_diagonal_stays_diagonal(rng):
    d1, d2 = rng.normal(size=(30, 40)), rng.normal(size=(30, 40))
    C = tj.contract(Jacobian.diagonal(d1), Jacobian.diagonal(d2))
    assert C.nbytes <= d1.nbytes
    np.testing.assert_allclose(C.matrix(), np.diag((d1 * d2).ravel()), rtol=1e-14)


def test_logit_diagonal_composed_with_dXW_dW(rng):
    """D logit(XW) / dW [a,b,i,j] = s'(XW)[a,b] X[a,i] delta[b,j], never densified on the way."""
    X, W = rng.normal(size=(5, 4)), rng.normal(size=(4, 3))
    Z = X @ W
    s = 1 / (1 + np.exp(-Z))
    C = tj.contract(tj.get_rule("logit").jacobian(Z)["x"], tj.get_rule("matmul").jacobian(X, W)["x2"])
    expected = np.einsum("ab,ai,bj->abij", s * (1 - s), X, np.eye(3))
    np.testing.assert_allclose(C.dense(), expected, rtol=1e-13, atol=1e-15)
    assert C.nbytes <= (Z.size + X.size) * 8 + 64  # the factors, not the 5*3*4*3 tensor


def test_softmax_two_term_jacobian_composed(rng):
    """A cotangent through softmax rows: u^T (diag(s) - s s^T) per row, and softmax @ softmax."""
    Z = rng.normal(size=(2, 4))
    J = tj.get_rule("softmax").jacobian(Z)["x"]
    S = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    u = rng.normal(size=(2, 4))
    expected = S * u - S * np.sum(S * u, axis=1, keepdims=True)
    np.testing.assert_allclose(tj.chain_vjp(J, u), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose((J @ J).dense(), np.tensordot(J.dense(), J.dense(), 2), rtol=1e-13, atol=1e-15)


def test_sum_after_broadcast_counts_the_broadcast_size(rng):
    """sum(x + s) over a (2, 3) array w.r.t. the scalar s is 6: the summed delta-free label needs its size."""
    Z, s = rng.normal(size=(2, 3)), np.array(0.4)
    C = tj.contract(tj.get_rule("sum").jacobian(Z)["x"], tj.get_rule("add").jacobian(Z, s)["x2"])
    assert C.shape == () and C.dense() == 6.0
    # sum over axis 0 after adding a row: each entry of the row is used twice
    C = tj.contract(tj.get_rule("sum").jacobian(Z, axis=0)["x"], tj.get_rule("add").jacobian(Z, np.ones(3))["x2"])
    np.testing.assert_array_equal(C.dense(), 2 * np.eye(3))
    # a constant output axis contracted with a constant input axis
    ones_out = Jacobian.from_einsum("->a|", sizes={"a": 5})
    ones_in = Jacobian.from_einsum("->|a", sizes={"a": 5})
    assert tj.contract(ones_in, ones_out).dense() == 5.0


# ---- chain --------------------------------------------------------------------------------


def _nested_tensordot(js):
    result = js[-1].dense()
    for J in reversed(js[:-1]):
        result = np.tensordot(J.dense(), result, axes=len(J.in_shape))
    return result


@pytest.mark.parametrize("seed", range(12))
def test_chain_of_dense_jacobians_is_nested_tensordot(seed):
    """chain(J1, ..., Jn) = J1 . (J2 . (... Jn)) for random shapes, lengths 1..5 (either association)."""
    rng = np.random.default_rng(seed)
    length = int(rng.integers(1, 6))
    shapes = [_shape(rng, int(rng.integers(0, 3))) for _ in range(length + 1)]
    js = [Jacobian(rng.normal(size=shapes[i] + shapes[i + 1]), len(shapes[i])) for i in range(length)]
    C = tj.chain(*js)
    assert C.out_shape == shapes[0] and C.in_shape == shapes[-1]
    np.testing.assert_allclose(C.dense(), _nested_tensordot(js), rtol=1e-12, atol=1e-13)


def _structured_chains():
    chains, rng = [], np.random.default_rng(5)
    for _ in range(40):
        names = [str(rng.choice(list(ZOO)))]
        for _ in range(int(rng.integers(1, 4))):
            fits = [g for g in ZOO if ZOO[g].out_shape == ZOO[names[-1]].in_shape]
            names.append(str(rng.choice(fits)))
        chains.append(names)
    return chains


@pytest.mark.parametrize("names", _structured_chains(), ids=lambda ns: "@".join(n.split(":")[0] for n in ns))
def test_chain_of_structured_jacobians_is_nested_tensordot(names):
    js = [ZOO[n] for n in names]
    np.testing.assert_allclose(tj.chain(*js).dense(), _nested_tensordot(js), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("structured", [False, True])
def test_chain_in_both_directions(rng, structured):
    """A chain narrowing to one output (reverse mode pays) and one widening from one input
    (forward mode pays) both equal the nested tensordot, and are transposes of each other."""
    J1 = Jacobian(rng.normal(size=(1, 4)), 1)
    J2 = Jacobian.diagonal(rng.normal(size=4)) if structured else Jacobian(rng.normal(size=(4, 4)), 1)
    J3 = tj.get_rule("matmul").jacobian(rng.normal(size=(4, 5)), rng.normal(size=5))["x2"] if structured else (
        Jacobian(rng.normal(size=(4, 5)), 1))
    narrowing = tj.chain(J1, J2, J3)  # 1 output, 5 inputs
    widening = tj.chain(J3.T, J2.T, J1.T)  # 5 outputs, 1 input
    np.testing.assert_allclose(narrowing.dense(), _nested_tensordot([J1, J2, J3]), rtol=1e-13)
    np.testing.assert_allclose(widening.dense(), _nested_tensordot([J3.T, J2.T, J1.T]), rtol=1e-13)
    np.testing.assert_allclose(widening.dense(), narrowing.dense().T, rtol=1e-13)


def test_chain_errors():
    J23, J34 = Jacobian(np.ones((2, 3)), 1), Jacobian(np.ones((3, 4)), 1)
    with pytest.raises(ValueError, match=r"factor 1 has in_shape \(4,\) but factor 2 has out_shape \(2,\)"):
        tj.chain(J23, J34, J23)
    with pytest.raises(ValueError, match="at least one"):
        tj.chain()
    with pytest.raises(ValueError, match="Jacobian objects"):
        tj.chain(J23, np.ones((3, 4)))
    np.testing.assert_array_equal(tj.chain(J23).dense(), np.ones((2, 3)))


# ---- vjp / jvp ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ZOO))
def test_vjp_and_jvp_are_tensordot_with_the_cotangent_and_tangent(name):
    J = ZOO[name]
    rng = np.random.default_rng(len(name))
    u, v = rng.normal(size=J.out_shape), rng.normal(size=J.in_shape)
    D = J.dense()
    pulled = tj.chain_vjp(J, u)
    pushed = tj.chain_jvp(J, v)
    assert pulled.shape == J.in_shape and pushed.shape == J.out_shape
    np.testing.assert_allclose(pulled, np.tensordot(u, D, axes=u.ndim), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(pushed, np.tensordot(D, v, axes=v.ndim), rtol=1e-12, atol=1e-13)


def test_vjp_jvp_mismatch_names_both_shapes():
    J = Jacobian(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match=r"cotangent has shape \(3,\).*out_shape is \(2,\)"):
        tj.chain_vjp(J, np.ones(3))
    with pytest.raises(ValueError, match=r"tangent has shape \(2,\).*in_shape is \(3,\)"):
        tj.chain_jvp(J, np.ones(2))
    with pytest.raises(ValueError, match="non-finite"):
        tj.chain_vjp(J, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="non-finite"):
        tj.chain_jvp(J, np.array([np.inf, 1.0, 1.0]))


# ---- Note 003's worked example ------------------------------------------------------------


def _f(x, y):
    return np.array([x**2 + y, 2 * x * y])


def _g(u, v):
    return np.array([u + v, u**2, np.sin(v)])


NOTE_003 = np.array([[6.0, 3.0], [12.0, 6.0], [4 * np.cos(4.0), 2 * np.cos(4.0)]])


def test_note_003_with_hand_written_jacobians():
    """J_{g o f}(1, 2) = J_g(f(1, 2)) J_f(1, 2) = [[6, 3], [12, 6], [4 cos 4, 2 cos 4]]."""
    x, y = 1.0, 2.0
    u, v = _f(x, y)
    assert (u, v) == (3.0, 4.0)
    Jf = np.array([[2 * x, 1.0], [2 * y, 2 * x]])
    Jg = np.array([[1.0, 1.0], [2 * u, 0.0], [0.0, np.cos(v)]])
    C = tj.contract(Jacobian(Jg, 1), Jacobian(Jf, 1))
    assert C.out_shape == (3,) and C.in_shape == (2,)
    np.testing.assert_allclose(C.dense(), NOTE_003, rtol=1e-15)
    np.testing.assert_allclose(tj.contract(Jg, Jf), NOTE_003, rtol=1e-15)  # plain arrays, axes inferred
    np.testing.assert_allclose(tj.chain(Jacobian(Jg, 1), Jacobian(Jf, 1)).matrix(), NOTE_003, rtol=1e-15)


def test_note_003_with_finite_differences(fd_close):
    """The same matrix by central differences of the composition, as one (2,)-input and as two scalars."""
    numeric = tj.numerical_jacobian(lambda p: _g(*_f(p[0], p[1])), np.array([1.0, 2.0]))
    fd_close(NOTE_003, numeric["p"].dense(), numeric.errors["p"], "g o f")
    blocks = tj.numerical_jacobian(lambda x, y: _g(*_f(x, y)), np.array(1.0), np.array(2.0))
    assert blocks["x"].shape == (3,) and blocks["y"].shape == (3,)
    M, cols = blocks.matrix()
    assert cols == {"x": slice(0, 1), "y": slice(1, 2)}
    fd_close(NOTE_003, M, np.stack([blocks.errors["x"], blocks.errors["y"]], axis=1), "g o f by blocks")
