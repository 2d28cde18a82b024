"""Hessians (issue 9): tj.hessian against finite differences and hand-derived values, symmetry,
structure kept, the two terms of note 003's second-order chain rule, Hessian-vector products,
value/gradient/Hessian from one trace, and memory known before it is spent."""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj


def numeric_hessian(f, x, eps=1e-4):
    """Central differences of the gradient (independent of tensorjac's rules)."""
    x = np.asarray(x, dtype=np.float64)
    g = tj.grad(f)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        cols.append((g(x + e.reshape(x.shape)) - g(x - e.reshape(x.shape))).reshape(-1) / (2 * eps))
    return np.stack(cols, axis=1)


def test_hessian_of_a_cubic_and_its_layout():
    H = tj.hessian(lambda x: np.sum(x * x * x))(np.array([1.0, 2.0, -1.0]))
    assert isinstance(H, tj.Hessian) and H.shape == (3, 3) and H.symmetric
    np.testing.assert_allclose(H.matrix(), np.diag([6.0, 12.0, -6.0]))
    assert H.nbytes <= 3 * 8  # a three-way diagonal: one vector


def test_vector_output_layout_is_out_in_in(rng):
    x = rng.normal(size=3)
    H = tj.hessian(lambda x: np.sin(x) * x[0])(x)
    assert H.shape == (3, 3, 3)
    for i in range(3):
        expected = numeric_hessian(lambda x: (np.sin(x) * x[0])[i], x)
        np.testing.assert_allclose(H.dense()[i], expected, atol=1e-7)


def test_logistic_regression_hessian_is_one_XtDX_product(rng):
    X, y = rng.normal(size=(200, 30)), (rng.random(200) < 0.5).astype(float)

    def loss(w):
        z = X @ w
        return np.sum(tj.softplus(z) - y * z)

    w = rng.normal(size=30) / 10
    H = tj.hessian(loss)(w)
    s = 1 / (1 + np.exp(-(X @ w)))
    np.testing.assert_allclose(H.matrix(), X.T @ ((s * (1 - s))[:, None] * X), rtol=1e-10)
    np.testing.assert_allclose(H.matrix(), numeric_hessian(loss, w), atol=1e-6)


def test_sum_tanh_XW_keeps_the_delta_and_stores_a_twentieth(rng):
    X, W = rng.normal(size=(200, 10)), rng.normal(size=(10, 20)) / 3
    f = lambda W: np.sum(np.tanh(X @ W))  # noqa: E731
    H = tj.hessian(f)(W)
    assert H.shape == (10, 20, 10, 20)
    assert H.nbytes * 20 <= H.size * 8  # at most 1/20 of the dense Hessian's entries
    Z = X @ W
    d2 = -2 * np.tanh(Z) * (1 - np.tanh(Z) ** 2)
    expected = np.einsum("ai,aj,ab,bc->ibjc", X, X, d2, np.eye(20))
    np.testing.assert_allclose(H.dense(), expected, rtol=1e-10, atol=1e-12)


def test_tuple_argnums_blocks_and_the_assembled_symmetric_matrix(rng):
    A = rng.normal(size=(4, 3))

    def f(x, y):
        return np.sum(np.tanh(A @ x) * y) + np.sum(y * y * y)

    x, y = rng.normal(size=3), rng.normal(size=4)
    H = tj.hessian(f, argnums=(0, 1))(x, y)
    assert isinstance(H, tj.HessianBlocks) and H.names == ("x", "y")
    assert H["x", "y"].shape == (3, 4) and H["y", "x"].shape == (4, 3)
    np.testing.assert_allclose(H["y", "x"].dense(), H["x", "y"].dense().T)
    M, ranges = H.matrix()
    assert M.shape == (7, 7) and ranges == {"x": slice(0, 3), "y": slice(3, 7)}
    np.testing.assert_allclose(M, M.T, atol=1e-12)
    joint = lambda v: f(v[:3], v[3:])  # noqa: E731
    np.testing.assert_allclose(M, numeric_hessian(joint, np.concatenate([x, y])), atol=1e-6)
    np.testing.assert_allclose(H[0, 1].dense(), H["x", "y"].dense())


def test_note_003_second_order_example_by_hand():
    # f(x, y) = (x^2 + y, 2xy), g(u, v) = (u + v, u^2, sin v) at (1, 2): u = 3, v = 4.
    def h(x, y):
        u, v = x * x + y, 2 * x * y
        return np.stack([u + v, u * u, np.sin(v)])

    if tj.rules.find_rule(np.stack) is None:
        pytest.skip("needs the stack rule")
    H = tj.hessian(h, argnums=(0, 1))(1.0, 2.0)
    M = np.stack([np.stack([H["x", "x"].dense(), H["x", "y"].dense()], -1),
                  np.stack([H["y", "x"].dense(), H["y", "y"].dense()], -1)], -2)
    # h1 = x^2 + y + 2xy:                  [[2 + 0, 2], [2, 0]]      -> [[2, 2], [2, 0]]
    # h2 = (x^2 + y)^2:  d2/dx2 = 12x^2 + 4y = 20, d2/dxdy = 4x = 4, d2/dy2 = 2
    # h3 = sin(2xy): d2/dx2 = -4y^2 sin(4) = -16 sin 4, d2/dxdy = 2 cos 4 - 4xy sin 4 = 2 cos 4 - 8 sin 4,
    #                d2/dy2 = -4x^2 sin 4 = -4 sin 4
    s, c = np.sin(4.0), np.cos(4.0)
    expected = np.array([[[2, 2], [2, 0]], [[20, 4], [4, 2]], [[-16 * s, 2 * c - 8 * s], [2 * c - 8 * s, -4 * s]]])
    np.testing.assert_allclose(M, expected, rtol=1e-12, atol=1e-12)


def test_gauss_newton_and_curvature_terms_add_up_to_the_hessian(rng):
    A = rng.normal(size=(4, 3))

    def f(x):  # inner: R^3 -> R^4
        return np.tanh(A @ x)

    def g(z):  # outer: R^4 -> R
        return np.sum(z * z * z)

    x = rng.normal(size=3)
    z = f(x)
    Jf, Hf = tj.jacobian(f)(x), tj.hessian(f)(x)
    Hg, dg = tj.hessian(g)(z), tj.grad(g)(z)
    gn = tj.gauss_newton(Jf, Hg)
    curv = tj.curvature_term(dg, Hf)
    total = tj.hessian(lambda x: g(f(x)))(x)
    np.testing.assert_allclose((gn + curv).matrix(), total.matrix(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gn.matrix(), Jf.matrix().T @ Hg.matrix() @ Jf.matrix(), rtol=1e-12)
    assert not np.allclose(curv.matrix(), 0)


def test_hvp_matches_the_hessian_and_never_builds_it(rng):
    A = rng.normal(size=(5, 4))
    f = lambda x, y: np.sum(tj.softplus(A @ x) * y) + np.sum(x * x * x)  # noqa: E731
    x, y, v, w = rng.normal(size=4), rng.normal(size=5), rng.normal(size=4), rng.normal(size=5)
    grads, products = tj.hvp(f, (x, y), (v, w))
    M, r = tj.hessian(f, argnums=(0, 1))(x, y).matrix()
    vw = np.concatenate([v, w])
    np.testing.assert_allclose(np.concatenate(products), M @ vw, rtol=1e-10, atol=1e-12)
    g = tj.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(grads[0], g[0])
    np.testing.assert_allclose(grads[1], g[1])


def test_value_grad_and_hessian_from_one_trace(rng):
    A = rng.normal(size=(3, 3))
    f = lambda x: np.sum(np.tanh(A @ x) * np.tanh(A @ x))  # noqa: E731
    x = rng.normal(size=3)
    v, g, H = tj.value_grad_and_hessian(f)(x)
    np.testing.assert_allclose(v, f(x))
    np.testing.assert_allclose(g, tj.grad(f)(x), rtol=1e-12)
    np.testing.assert_allclose(H.matrix(), tj.hessian(f)(x).matrix(), rtol=1e-12)


def test_errors():
    with pytest.raises(TypeError, match="scalar"):
        tj.hvp(np.sin, (np.ones(2),), (np.ones(2),))
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        tj.hvp(lambda x: np.sum(x), (np.ones(2),), (np.ones(3),))

    @tj.rules.traceable
    def cube(x):
        return np.asarray(x) ** 3

    tj.register_rule(f"test_cube_no_second_{id(cube)}", cube.impl, lambda ans, x: tj.Jacobian.diagonal(3 * x**2),
                     functions=(cube,))
    np.testing.assert_allclose(tj.jacobian(cube)(np.ones(2)).dense(), 3 * np.eye(2))  # first order works
    with pytest.raises(NotImplementedError, match="no second derivatives"):
        tj.hessian(lambda x: np.sum(cube(x)))(np.ones(2))


def test_dense_refuses_above_the_budget_naming_the_bytes(rng):
    X = rng.normal(size=(50, 40))
    H = tj.hessian(lambda W: np.sum(np.tanh(X @ W)))(rng.normal(size=(40, 30)))
    old = tj.set_dense_budget(1000)
    try:
        with pytest.raises(MemoryError, match=r"dense Hessian of shape \(40, 30, 40, 30\).*11,520,000 bytes"):
            H.dense()
    finally:
        tj.set_dense_budget(old)


def test_memory_is_predicted_before_it_is_spent(rng):
    X = rng.normal(size=(300, 200))
    W = rng.normal(size=(200, 150)) / 20
    f = lambda W: np.sum(np.tanh(X @ W))  # noqa: E731
    with pytest.raises(MemoryError, match=r"largest intermediate of [\d,]+ bytes.*over the budget of 100,000 bytes"):
        tj.hessian(f, budget=100_000)(W)
    H = tj.hessian(f)(rng.normal(size=(200, 3)) / 20)
    predicted = H.memory()
    assert predicted["dense"] == H.size * 8 and predicted["stored"] == H.nbytes
    assert predicted["largest_intermediate"] >= predicted["dense"]  # the delta is broadcast at the end
    needed = max(predicted["dense"], predicted["largest_intermediate"])
    assert H.dense(budget=needed).shape == H.shape  # exactly what was predicted suffices
    with pytest.raises(MemoryError, match=r"Hessian of shape \(200, 3, 200, 3\)"):
        H.dense(budget=needed - 8)
