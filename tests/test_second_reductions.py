"""Second derivatives of the contractions (dot, inner, outer, tensordot, einsum) and of the reductions
prod, var, std and norm: the structure of the blocks (stored sizes), tj.hessian against JAX and
against finite differences of tj.grad, prod with zeros, var/std with ddof, and the errors.

The rule-level check against finite differences of each rule's own Jacobian, on the examples
declared beside the rules, is tests/test_second_table.py; the einsum examples with several
operands are not declared there (the table takes one operand), so they are checked here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tensorjac as tj
from tensorjac.rules._linalg_einsum import einsum_examples
from tensorjac.rules._reductions import pair_products


def numeric_hessian(f, x, eps=1e-5):
    """Central differences of tj.grad (the first-order machinery only), as a matrix."""
    x = np.asarray(x, dtype=np.float64)
    g = tj.grad(f)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        cols.append((g(x + e.reshape(x.shape)) - g(x - e.reshape(x.shape))).reshape(-1) / (2 * eps))
    return np.stack(cols, axis=1)


def second_block(name, i, j, *args, **options):
    rule = tj.get_rule(name)
    args = [np.asarray(a) for a in args]
    ans = np.asarray(rule.fun(*args, **options))
    maker = rule.second_maker(i, j)
    return None if maker is None else maker(ans, *args, **options)


def brute_prod_hessian(x):
    """d² prod(x) / dx_i dx_j of a vector: the product without entries i and j, 0 on the diagonal."""
    n = x.size
    H = np.zeros((n, n))
    for i, j in itertools.product(range(n), range(n)):
        if i != j:
            H[i, j] = np.prod(np.delete(x, [i, j]))
    return H


# ---- structure: stored sizes -----------------------------------------------------------------------


def test_bilinear_contractions_store_nothing(rng):
    A, x, y = rng.normal(size=(30, 20)), rng.normal(size=20), rng.normal(size=30)
    cases = [
        ("dot", (A, x), {}), ("dot", (y, A), {}), ("dot", (A, A.T), {}), ("dot", (np.float64(2.0), A), {}),
        ("inner", (A, x), {}), ("inner", (A, A), {}), ("outer", (x, y), {}), ("outer", (A, y), {}),
        ("outer", (x, rng.normal(size=(2, 3, 4))), {}), ("tensordot", (A, A), {"axes": ([0], [0])}),
        ("tensordot", (rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 3, 5))), {"axes": ([1, 2], [1, 0])}),
    ]
    for name, args, options in cases:
        H = second_block(name, 0, 1, *args, **options)
        ans = np.asarray(tj.get_rule(name).fun(*args, **options))
        assert H.shape == ans.shape + np.shape(args[0]) + np.shape(args[1]), name
        assert H.nbytes == 0, (name, H)
        for k in (0, 1):  # linear in each operand
            assert second_block(name, k, k, *args, **options) is None, name
    # through tj.hessian too: the block of np.dot(A, x) in (A, x) stores nothing
    H = tj.hessian(lambda A, x: np.dot(A, x), argnums=(0, 1))(A, x)
    assert H["A", "x"].nbytes == 0 and H["A", "A"].nbytes == 0 and H["x", "x"].nbytes == 0
    np.testing.assert_array_equal(H["A", "x"].dense(), np.einsum("ai,jb->aijb", np.eye(30), np.eye(20)))


def test_einsum_cross_blocks_store_only_the_other_operands(rng):
    A, x, y = rng.normal(size=(30, 20)), rng.normal(size=20), rng.normal(size=10)
    subs = "ij,j,k->ik"
    H = second_block("einsum", 1, 2, A, x, y, subscripts=subs)
    assert H.shape == (30, 10, 20, 10) and H.nbytes == A.nbytes  # only A; the k axes are a delta
    np.testing.assert_array_equal(H.dense(), np.einsum("ij,kl->ikjl", A, np.eye(10)))
    assert second_block("einsum", 0, 2, A, x, y, subscripts=subs).nbytes == x.nbytes
    assert second_block("einsum", 0, 1, A, x, y, subscripts=subs).nbytes == y.nbytes
    assert second_block("einsum", 2, 1, A, x, y, subscripts=subs).nbytes == A.nbytes  # i > j asked directly
    for k in range(3):
        assert second_block("einsum", k, k, A, x, y, subscripts=subs) is None
    assert second_block("einsum", 0, 1, A, A, subscripts="ij,ij->").nbytes == 0  # two operands: deltas only
    # a repeated letter reads a diagonal: O(n) integers, never an n x n x n block
    n = 200
    M, v = rng.normal(size=(n, n)), rng.normal(size=n)
    H = second_block("einsum", 0, 1, M, v, subscripts="ii,i->i")
    assert H.shape == (n, n, n, n) and H.nbytes <= 2 * n * 8


def test_reduction_blocks_store_at_most_the_slices(rng):
    x = rng.normal(size=(60, 50))
    # var: two scalars, whatever the size
    assert second_block("var", 0, 0, x, axis=1, ddof=1).nbytes == 16
    assert second_block("var", 0, 0, x).nbytes == 16
    # std: per-slice scalars and d std / dx
    assert second_block("std", 0, 0, x, axis=1).nbytes <= 2 * x.nbytes + 3 * 60 * 8
    # prod: two vectors of x's shape (and their product on the diagonal), not 50 x 50 per slice
    x_prod = rng.uniform(0.5, 1.5, size=(60, 50))
    x_prod[0, 3] = x_prod[1, [2, 7]] = x_prod[2, [1, 4, 9]] = 0.0
    H = second_block("prod", 0, 0, x_prod, axis=1)
    assert H.nbytes <= 5 * x_prod.nbytes < 60 * 50 * 50 * 8
    # norms: 2-norm and Frobenius keep 1/N and u; p-norms a diagonal more; piecewise linear ones nothing
    assert second_block("norm", 0, 0, x, axis=1).nbytes <= 2 * x.nbytes + 2 * 60 * 8
    assert second_block("norm", 0, 0, x).nbytes <= 2 * x.nbytes + 16
    assert second_block("norm", 0, 0, x, ord=3, axis=0).nbytes <= 3 * x.nbytes + 2 * 50 * 8
    for ord in (1, np.inf, -np.inf):
        assert second_block("norm", 0, 0, x, ord=ord, axis=1).nbytes == 0
    for ord in (1, -1, np.inf, -np.inf):
        H = second_block("norm", 0, 0, x, ord=ord)
        assert H.nbytes == 0 and H.shape == (60, 50, 60, 50)
    # the SVD ones: U, V and coefficients, far below the (m n)² dense block
    for ord in (2, -2, "nuc"):
        H = second_block("norm", 0, 0, x[:30, :20], ord=ord)
        assert H.shape == (30, 20, 30, 20) and H.nbytes <= 16 * 600 * 8 < H.size * 8 // 30, (ord, H.nbytes)


def test_second_blocks_keep_float32(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    y = rng.normal(size=4).astype(np.float32)
    cases = [("dot", 0, 1, (x, y), {}), ("inner", 0, 1, (x, y), {}), ("outer", 0, 1, (x, y), {}),
             ("tensordot", 0, 1, (x, x), {"axes": ([0], [0])}), ("einsum", 0, 1, (x, y), {"subscripts": "ij,j->i"}),
             ("prod", 0, 0, (x,), {"axis": 1}), ("var", 0, 0, (x,), {"ddof": 1}), ("std", 0, 0, (x,), {"axis": 0}),
             ("norm", 0, 0, (x,), {}), ("norm", 0, 0, (x,), {"ord": 3, "axis": 1}), ("norm", 0, 0, (x,), {"ord": 2}),
             ("norm", 0, 0, (x,), {"ord": "nuc"})]
    for name, i, j, args, options in cases:
        H = second_block(name, i, j, *args, **options)
        assert H.dtype == np.float32, name
        H.check_invariants()
        assert all(a.dtype == np.float32 for t in H._terms for a, _ in t.factors if type(a) is np.ndarray), name


# ---- einsum with several operands against finite differences of its Jacobian --------------------------


def _einsum_cases():
    rng = np.random.default_rng(7)
    n = lambda *shape: rng.normal(size=shape)  # noqa: E731
    return [ex for ex in einsum_examples(rng) if len(ex[0]) > 1] + [
        ((n(3, 3), n(3)), {"subscripts": "ii,i->i"}), ((n(2, 2, 3), n(3, 3)), {"subscripts": "iij,jj->ij"}),
        ((n(3), n(3), n(3, 3)), {"subscripts": "i,j,ij->"}),
        ((n(1, 3), n(2, 1), n(2, 3)), {"subscripts": "ij,ij,ij->j"}),
        ((n(2, 3), n(4, 2, 3)), {"subscripts": "...i,k...i->...k"}),
    ]


EINSUM_CASES = _einsum_cases()


@pytest.mark.parametrize("k", range(len(EINSUM_CASES)))
def test_einsum_second_derivatives_are_the_derivatives_of_its_jacobian(k):
    args, options = EINSUM_CASES[k]
    rule = tj.get_rule("einsum")
    ans = np.asarray(rule.fun(*args, **options))
    if ans.size == 0 or any(a.size == 0 for a in args):
        for i, j in itertools.product(range(len(args)), repeat=2):
            maker = rule.second_maker(i, j)
            if maker is not None:
                assert maker(ans, *args, **options).shape == ans.shape + args[i].shape + args[j].shape
        return
    for i, j in itertools.product(range(len(args)), repeat=2):
        maker = rule.second_maker(i, j)
        expected = ans.shape + args[i].shape + args[j].shape
        got = np.zeros(expected) if maker is None else maker(ans, *args, **options).check_invariants().dense()
        assert got.shape == expected

        def block(xj, i=i, j=j):
            a = [np.array(x) for x in args]
            a[j] = np.array(xj)
            return rule.jacobian(*a, argnums=[i], **options)[0].dense()

        numeric = tj.numerical_jacobian(block, np.array(args[j]), names=("x",))
        gap = np.abs(got - numeric["x"].dense())
        assert np.all(gap <= 10 * numeric.errors["x"] + 1e-9), (options, i, j, gap.max())


def test_einsum_of_one_value_twice_adds_both_cross_blocks(rng):
    A, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    H = tj.hessian(lambda x: np.einsum("i,ij,j->", x, A, x))(x)
    np.testing.assert_allclose(H.matrix(), A + A.T, rtol=1e-13)
    H = tj.hessian(lambda x: np.einsum("i,i,i->", x, x, x))(x)
    np.testing.assert_allclose(H.matrix(), np.diag(6 * x), rtol=1e-13)


# ---- prod with zeros -----------------------------------------------------------------------------------


@pytest.mark.parametrize("zeros", [(), (2,), (1, 4), (0, 2, 5), (0, 1, 2, 3, 4, 5)])
def test_prod_second_derivative_is_exact_with_zeros(rng, zeros):
    x = rng.uniform(0.5, 2.0, size=6) * rng.choice([-1.0, 1.0], size=6)
    x[list(zeros)] = 0.0
    with np.errstate(all="raise"):  # no division by zero, no inf * 0
        H = second_block("prod", 0, 0, x)
        dense = H.dense()
    np.testing.assert_allclose(dense, brute_prod_hessian(x), rtol=1e-14, atol=0)
    if len(zeros) == 2:  # only the pair of zeros: the product of the four others
        expected = np.prod(np.delete(x, list(zeros)))
        assert dense[zeros[0], zeros[1]] == dense[zeros[1], zeros[0]] == pytest.approx(expected, rel=1e-14)
        assert np.count_nonzero(dense) == 2
    np.testing.assert_allclose(tj.hessian(np.prod)(x).matrix(), brute_prod_hessian(x), rtol=1e-14, atol=0)


def test_prod_second_derivative_per_slice_with_axes_and_keepdims(rng):
    x = rng.uniform(0.5, 1.5, size=(3, 4, 2))
    x[0, 1, 0] = x[2, 0, 1] = x[2, 3, 1] = 0.0
    for axis, keepdims in [(1, False), ((0, 2), True), (-1, False), (None, False)]:
        out_shape = np.prod(x, axis=axis, keepdims=keepdims).shape
        H = second_block("prod", 0, 0, x, axis=axis, keepdims=keepdims)
        assert H.shape == out_shape + x.shape + x.shape
        w = rng.normal(size=out_shape)
        f = lambda x: np.sum(np.prod(x, axis=axis, keepdims=keepdims) * w)  # noqa: E731
        np.testing.assert_allclose(tj.hessian(f)(x).matrix(), numeric_hessian(f, x), atol=1e-7)
        # entries of different slices do not interact: H[o, i, j] = 0 unless i and j are in slice o
        axes = tuple(range(3)) if axis is None else tuple(sorted(np.atleast_1d(axis) % 3))
        kept = [a for a in range(3) if a not in axes]
        dense = H.dense().reshape(int(np.prod(out_shape)), x.size, x.size)
        slice_of = np.ravel_multi_index([np.indices(x.shape)[a].ravel() for a in kept], [x.shape[a] for a in kept]) \
            if kept else np.zeros(x.size, dtype=int)
        for o in range(dense.shape[0]):
            mask = np.outer(slice_of == o, slice_of == o)
            assert not dense[o][~mask].any()


def test_prod_falls_back_to_exact_pair_products_for_extreme_entries():
    # 1/x overflows (a subnormal entry), or the product of the others overflows while the pairs do not
    for x in (np.array([1e-310, 2.0, 3.0, -0.5]), np.array([1e200, 1e-300, 1e200]),
              np.array([[1e-200, 1e-200, 1e-200], [1.0, 2.0, 3.0]])):
        with np.errstate(divide="raise", invalid="raise"):  # no division by zero, no inf * 0
            H = second_block("prod", 0, 0, x, axis=-1)
        assert H.nbytes == x.size * x.shape[-1] * 8  # the n x n block of each slice
        expected = pair_products(x, (x.ndim - 1,))
        got = H.dense()
        if x.ndim == 1:
            np.testing.assert_allclose(got, brute_prod_hessian(x), rtol=1e-13)
        else:
            for r in range(x.shape[0]):
                np.testing.assert_allclose(got[r, r, :, r, :], expected[r], rtol=1e-13)
                np.testing.assert_allclose(got[r, r, :, r, :], brute_prod_hessian(x[r]), rtol=1e-13)
        assert np.all(np.isfinite(got))


def test_pair_products_of_a_matrix_slice():
    x = np.array([[2.0, 0.0], [3.0, 5.0]])
    got = pair_products(x, (0, 1))
    np.testing.assert_allclose(got.reshape(4, 4), brute_prod_hessian(x.ravel()))


# ---- var and std -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("axis, ddof, keepdims", [(None, 0, False), (1, 1, False), (0, 2, True), ((0, 2), 1.5, False),
                                                  (-1, 0, True)])
def test_var_std_hessians_against_finite_differences_and_by_hand(rng, fn, axis, ddof, keepdims):
    x = rng.normal(size=(4, 3, 5))
    red = getattr(np, fn)
    w = rng.normal(size=red(x, axis=axis, ddof=ddof, keepdims=keepdims).shape)
    f = lambda x: np.sum(red(x, axis=axis, ddof=ddof, keepdims=keepdims) * w)  # noqa: E731
    H = tj.hessian(f)(x)
    np.testing.assert_allclose(H.matrix(), numeric_hessian(f, x), atol=1e-7)
    if fn == "var" and axis is None:  # 2 (I - 1/n) / (n - ddof)
        n = x.size
        np.testing.assert_allclose(H.matrix(), 2 * float(w) * (np.eye(n) - 1 / n) / (n - ddof), rtol=1e-12)


def test_std_hessian_by_hand(rng):
    x = rng.normal(size=6)
    ddof = 1
    s = np.std(x, ddof=ddof)
    c, dof = x - x.mean(), x.size - ddof
    dvar = 2 * c / dof
    d2var = 2 * (np.eye(6) - 1 / 6) / dof
    expected = d2var / (2 * s) - np.outer(dvar, dvar) / (4 * s**3)
    np.testing.assert_allclose(tj.hessian(lambda x: np.std(x, ddof=ddof))(x).matrix(), expected, rtol=1e-12)


def test_std_of_one_entry_slices_has_zero_second_derivative(rng):
    x = rng.normal(size=(3, 1))
    H = second_block("std", 0, 0, x, axis=1)
    assert H.nbytes == 0 and not H.dense().any()


def test_var_std_errors():
    x = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match=r"std is not differentiable where a slice is constant: the slice x\[0, :\]"):
        second_block("std", 0, 0, x, axis=1)
    with pytest.raises(ValueError, match="slice is constant"):
        tj.hessian(lambda x: np.sum(np.std(x, axis=1)))(x)
    # the same message as the first derivative
    with pytest.raises(ValueError) as second:
        second_block("std", 0, 0, x, axis=1)
    with pytest.raises(ValueError) as first:
        tj.get_rule("std").jacobian(x, axis=1)
    assert str(second.value) == str(first.value)
    for name in ("var", "std"):
        with pytest.raises(ValueError, match="ddof=3 leaves n - ddof = 0"):  # (numpy's value is inf: call the maker)
            tj.get_rule(name).second_maker(0, 0)(np.zeros(2), np.arange(6.0).reshape(2, 3), axis=1, ddof=3)
        with pytest.raises(TypeError, match="ddof must be a real number"):
            second_block(name, 0, 0, np.arange(6.0), ddof=True)
        with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
            second_block(name, 0, 0, np.arange(6.0).reshape(2, 3), axis=2)


# ---- norm ------------------------------------------------------------------------------------------------


def test_two_norm_hessian_is_I_minus_uu_over_norm(rng):
    x = rng.normal(size=5)
    N = np.linalg.norm(x)
    u = x / N
    H = tj.hessian(np.linalg.norm)(x)
    np.testing.assert_allclose(H.matrix(), (np.eye(5) - np.outer(u, u)) / N, rtol=1e-12)
    X = rng.normal(size=(3, 4))
    H = tj.hessian(lambda X: np.linalg.norm(X, "fro"))(X)
    u = X.ravel() / np.linalg.norm(X)
    np.testing.assert_allclose(H.matrix(), (np.eye(12) - np.outer(u, u)) / np.linalg.norm(X), rtol=1e-12)


@pytest.mark.parametrize("options", [{}, {"axis": 1}, {"ord": 3, "axis": 0}, {"ord": 1.5, "axis": 1, "keepdims": True},
                                     {"ord": 1, "axis": 1}, {"ord": np.inf, "axis": 0}, {"ord": 2}, {"ord": -2},
                                     {"ord": "nuc"}, {"ord": 1}, {"ord": -np.inf}, {"ord": "fro"},
                                     {"ord": 2, "axis": (1, 0)}])
def test_norm_hessians_against_finite_differences(rng, options):
    x = rng.normal(size=(3, 4))
    w = rng.normal(size=np.linalg.norm(x, **options).shape)
    f = lambda x: np.sum(np.linalg.norm(x, **options) * w)  # noqa: E731
    np.testing.assert_allclose(tj.hessian(f)(x).matrix(), numeric_hessian(f, x), atol=2e-7)


def test_norm_errors():
    with pytest.raises(ValueError, match="not differentiable at 0"):
        second_block("norm", 0, 0, np.zeros(3))
    with pytest.raises(ValueError, match=r"norm \(ord=1.5\) has no second derivative where an entry is 0: x\[1\]"):
        second_block("norm", 0, 0, np.array([1.0, 0.0, 2.0]), ord=1.5)
    with pytest.raises(ValueError, match="no second derivative where an entry is 0"):
        tj.hessian(lambda x: np.linalg.norm(x, 1.5))(np.array([1.0, 0.0, 2.0]))
    # p >= 2 is twice differentiable at a zero entry
    H = second_block("norm", 0, 0, np.array([1.0, 0.0, 2.0]), ord=3)
    assert np.all(np.isfinite(H.dense()))
    with pytest.raises(ValueError, match="singular value it takes is repeated"):
        second_block("norm", 0, 0, np.eye(3), ord=2)
    with pytest.raises(ValueError, match="rank-deficient"):
        second_block("norm", 0, 0, np.array([[1.0, 2.0], [2.0, 4.0]]), ord="nuc")
    with pytest.raises(ValueError, match="ord=0.5 is not supported"):
        second_block("norm", 0, 0, np.ones(3), ord=0.5)
    with pytest.raises(ValueError, match="not a matrix norm order"):  # numpy refuses it too: call the maker
        tj.get_rule("norm").second_maker(0, 0)(np.float64(1.0), np.ones((2, 2)), ord=3)


def test_nuclear_norm_is_twice_differentiable_at_repeated_nonzero_singular_values(rng):
    Q1, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    Q2, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    X = Q1[:, :3] @ np.diag([2.0, 2.0, 1.0]) @ Q2.T  # sigma = 2, 2, 1
    f = lambda X: np.linalg.norm(X, "nuc")  # noqa: E731
    with pytest.raises(ValueError, match="repeated"):
        second_block("norm", 0, 0, X, ord=2)
    np.testing.assert_allclose(tj.hessian(f)(X).matrix(), numeric_hessian(f, X, eps=1e-5), atol=1e-6)


# ---- tj.hessian against JAX ------------------------------------------------------------------------------


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _contractions(xp, B):
    def f(A, x, y, z, T, M):
        return (xp.sum(xp.sin(xp.dot(A, x))) + xp.sum(xp.tanh(xp.dot(A, B * x[:, None])))
                + xp.sum(xp.exp(xp.inner(A.T, y) / 3)) + xp.sum(xp.sin(xp.outer(x, y)) ** 2)
                + xp.sum(xp.cos(xp.tensordot(T, A, axes=([1, 2], [0, 1]))))
                + xp.sum(xp.tanh(xp.einsum("ij,j,k->ik", A, x, z)))
                + xp.sum(xp.sin(xp.einsum("ij,j,j->i", A, x, x)))
                + xp.sum(xp.einsum("ii,i->i", M, y) ** 3) + xp.sum(xp.dot(y, A) * xp.inner(z, T[:, 0, :].T)))

    return f


def test_hessians_of_contractions_match_jax(rng):
    jax, jnp = _jax()
    B = rng.normal(size=(4, 2))
    args = (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3), rng.normal(size=2),
            rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 3)))
    n = len(args)
    H = tj.hessian(_contractions(np, B), argnums=tuple(range(n)))(*args)
    Hj = jax.jit(jax.hessian(_contractions(jnp, B), argnums=tuple(range(n))))(*args)
    for p, q in itertools.product(range(n), repeat=2):
        np.testing.assert_allclose(H[p, q].dense(), np.asarray(Hj[p][q]), rtol=1e-10, atol=1e-12, err_msg=f"{p}, {q}")


def _reductions(xp, w, shift):
    def f(x):
        y = x + shift  # the norms away from their kinks (JAX's abs'(0) is 1, tensorjac's 0)
        return (xp.sum(xp.prod(x, axis=0) * w) + xp.sum(xp.prod(x[:2], axis=1, keepdims=True) ** 2)
                + xp.sum(xp.var(x, axis=0, ddof=1) * w) + xp.sum(xp.std(x, axis=1, ddof=1, keepdims=True) ** 3)
                + xp.std(x) + xp.sum(xp.sin(xp.linalg.norm(y, axis=0))) + xp.sum(xp.linalg.norm(y, ord=3, axis=1) ** 2)
                + xp.sin(xp.linalg.norm(y, "fro")) + xp.sin(xp.linalg.norm(y, 2)) + xp.cos(xp.linalg.norm(y, -2))
                + xp.sin(xp.linalg.norm(y, "nuc")) + xp.sin(xp.linalg.norm(y.T, "nuc"))
                + xp.sum(xp.sin(xp.linalg.norm(y, 1, axis=1))) + xp.sin(xp.linalg.norm(y, xp.inf)))

    return f


@pytest.mark.parametrize("zeros", [False, True])
def test_hessians_of_reductions_match_jax(rng, zeros):
    jax, jnp = _jax()
    x, w = rng.normal(size=(3, 4)), rng.normal(size=4)
    if zeros:  # prod over columns and over the first two rows with one, two and three zeros per slice
        x[0, 1] = x[1, [0, 3]] = x[2, [0, 1, 2]] = 0.0
    shift = np.where(x == 0, 0.5, 0.0)
    H = tj.hessian(_reductions(np, w, shift))(x)
    expected = np.asarray(jax.jit(jax.hessian(_reductions(jnp, w, shift)))(jnp.asarray(x)))
    np.testing.assert_allclose(H.dense(), expected, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(H.matrix(), numeric_hessian(_reductions(np, w, shift), x), rtol=1e-6, atol=1e-6)


def test_hvp_through_these_rules_matches_the_hessian(rng):
    A = rng.normal(size=(3, 4))

    def f(x):
        y = np.einsum("ij,j->i", A, x)
        return np.prod(y) + np.std(x, ddof=1) + np.linalg.norm(A * x, "nuc") + np.linalg.norm(x, 3)

    x, v = rng.normal(size=4), rng.normal(size=4)
    H = tj.hessian(f)(x).matrix()
    _, (Hv,) = tj.hvp(f, (x,), (v,))
    np.testing.assert_allclose(Hv, H @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H, numeric_hessian(f, x), atol=1e-6)

