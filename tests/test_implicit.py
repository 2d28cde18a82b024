"""Implicit functions (issue 10): dy/dx = -[dF/dy]^{-1} dF/dx by solving, with the structure of dF/dy,
checks of the residual and the conditioning, and a traceable solver node with first and second
derivatives."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tensorjac as tj

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def newton_cbrt(c):
    y = np.ones_like(c)
    for _ in range(80):
        y = y - (y**3 - c) / (3 * y**2)
    return y


cbrt = tj.implicit(newton_cbrt, lambda c, y: y ** 3 - c)


def test_implicit_jacobian_of_a_diagonal_system_is_a_division():
    c = np.array([8.0, 27.0, 0.5])
    J, info = tj.implicit_jacobian(lambda c, y: y ** 3 - c, c, np.cbrt(c), return_info=True)
    np.testing.assert_allclose(J.dense(), np.diag(1 / (3 * np.cbrt(c) ** 2)), rtol=1e-14)
    assert info.method == "diagonal" and info.residual < 1e-12
    assert info.condition == pytest.approx(np.max(np.cbrt(c) ** 2) / np.min(np.cbrt(c) ** 2))


def test_a_diagonal_system_at_n_100_000_never_builds_an_n_by_n_array(rng):
    n = 100_000
    c = rng.uniform(1.0, 2.0, size=n)
    import tracemalloc

    tracemalloc.start()
    J = tj.implicit_jacobian(lambda c, y: y ** 3 - c, c, np.cbrt(c))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert J.nbytes <= 2 * n * 8 and peak < 100 * n * 8  # nowhere near n * n * 8 = 80 GB
    np.testing.assert_allclose(J.jvp(np.ones(n)), 1 / (3 * np.cbrt(c) ** 2), rtol=1e-13)


def test_dense_system_against_finite_differences_of_the_solver(rng):
    A, b = rng.normal(size=(15, 4)), rng.normal(size=15)

    def ridge(lam):
        return np.linalg.solve(A.T @ A + lam * np.eye(4), A.T @ b)

    F = lambda lam, theta: A.T @ (A @ theta - b) + lam * theta  # noqa: E731
    lam = np.array(0.3)
    J, info = tj.implicit_jacobian(F, lam, ridge(lam), return_info=True)
    reference = tj.numerical_jacobian(ridge, lam)["lam"].dense()
    np.testing.assert_allclose(J.dense(), reference, rtol=1e-8)
    assert info.method in ("cholesky", "lu")  # A^T A + lam I is symmetric positive definite
    np.testing.assert_allclose(J.dense(), -np.linalg.solve(A.T @ A + lam * np.eye(4), ridge(lam)), rtol=1e-12)


def test_block_diagonal_systems_are_solved_block_by_block(rng):
    M = rng.normal(size=(3, 3)) + 3 * np.eye(3)

    def F(X, Y):  # each row of Y solves Y_a @ M = X_a
        return Y @ M - X

    X = rng.normal(size=(5, 3))
    Y = np.linalg.solve(M.T, X.T).T
    J, info = tj.implicit_jacobian(F, X, Y, return_info=True)
    assert info.method == "batched"
    np.testing.assert_allclose(J.dense(), np.einsum("ac,db->abcd", np.eye(5), np.linalg.inv(M)), atol=1e-12)


def test_several_x_arguments_give_blocks(rng):
    def F(a, b, y):
        return y * y * a - b

    a, b = rng.uniform(1, 2, size=3), rng.uniform(1, 2, size=3)
    y = np.sqrt(b / a)
    D = tj.implicit_jacobian(F, (a, b), y, argnums=(0, 1))
    np.testing.assert_allclose(D[0].dense(), np.diag(-y / (2 * a)), rtol=1e-12)
    np.testing.assert_allclose(D[1].dense(), np.diag(1 / (2 * a * y)), rtol=1e-12)


def test_the_solver_node_differentiates_through_any_solver(rng):
    c = rng.uniform(1.0, 9.0, size=4)
    d1 = 1 / (3 * np.cbrt(c) ** 2)
    np.testing.assert_allclose(tj.jacobian(cbrt)(c).dense(), np.diag(d1), rtol=1e-12)
    np.testing.assert_allclose(tj.grad(lambda c: np.sum(cbrt(c)))(c), d1, rtol=1e-12)
    v, u = rng.normal(size=4), rng.normal(size=4)
    np.testing.assert_allclose(tj.jvp(cbrt, (c,), (v,))[1], d1 * v, rtol=1e-12)  # forward
    np.testing.assert_allclose(tj.vjp(cbrt, c)[1](u)[0], d1 * u, rtol=1e-12)  # reverse
    H = tj.hessian(lambda c: np.sum(cbrt(c)))(c)
    np.testing.assert_allclose(H.matrix(), np.diag(-2 / 9 * c ** (-5 / 3)), rtol=1e-10)


def test_deep_equilibrium_layer_first_and_second_order(rng):
    n = 5
    W = rng.normal(size=(n, n)) * 0.3 / np.sqrt(n)

    def solve(x):
        y = np.zeros(n)
        for _ in range(300):
            y = np.tanh(W @ y + x)
        return y

    layer = tj.implicit(solve, lambda x, y: y - np.tanh(W @ y + x))
    x = rng.normal(size=n)
    J = tj.jacobian(layer)(x).dense()
    reference = tj.numerical_jacobian(solve, x)["x"].dense()
    np.testing.assert_allclose(J, reference, rtol=1e-7, atol=1e-9)
    forward = np.stack([tj.jvp(layer, (x,), (e,))[1] for e in np.eye(n)], axis=1)
    reverse = np.stack([tj.vjp(layer, x)[1](e)[0] for e in np.eye(n)])
    np.testing.assert_allclose(forward, J, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(reverse, J, rtol=1e-12, atol=1e-14)
    loss = lambda x: np.sum(layer(x) * layer(x))  # noqa: E731
    H = tj.hessian(loss)(x).matrix()
    H_fd = tj.numerical_jacobian(tj.grad(loss), x)["x"].dense()
    np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_a_point_that_is_not_a_solution_is_refused_naming_the_residual():
    with pytest.raises(ValueError, match=r"max \|F\(x, y\)\| = 0\.5 > tol"):
        tj.implicit_jacobian(lambda c, y: y - c, np.ones(2), np.array([1.0, 1.5]))
    J = tj.implicit_jacobian(lambda c, y: y - c, np.ones(2), np.array([1.0, 1.5]), tol=1.0)
    np.testing.assert_allclose(J.dense(), np.eye(2))


def test_singular_and_ill_conditioned_systems():
    with pytest.raises(ValueError, match="zero at index"):
        tj.implicit_jacobian(lambda c, y: y * y - c, np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    A = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="singular"):
        tj.implicit_jacobian(lambda c, y: A @ y - c, np.array([2.0, 2.0]), np.array([1.0, 1.0]))
    J = tj.implicit_jacobian(lambda c, y: A @ y - c, np.array([2.0, 2.0]), np.array([1.0, 1.0]), least_squares=True)
    np.testing.assert_allclose(J.dense(), np.linalg.pinv(A), atol=1e-12)
    B = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-10]])
    with pytest.warns(tj.ConditionWarning, match="condition number estimate"):
        tj.implicit_jacobian(lambda c, y: B @ y - c, B @ np.ones(2), np.ones(2))


def test_bad_shapes_and_arguments():
    with pytest.raises(ValueError, match="one equation per unknown"):
        tj.implicit_jacobian(lambda c, y: np.sum(y) - c, np.array(1.0), np.ones(2))
    with pytest.raises(ValueError, match="out of range"):
        tj.implicit_jacobian(lambda c, y: y - c, np.ones(2), np.ones(2), argnums=3)
    with pytest.raises(TypeError, match="both must be functions"):
        tj.implicit(newton_cbrt, "F")
    with pytest.raises(ValueError, match="non-finite"):
        tj.implicit_jacobian(lambda c, y: y - c, np.array([np.nan]), np.ones(1))


def test_the_example_runs_and_checks_against_finite_differences():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "implicit.py")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all implicit Jacobians agree" in proc.stdout
    for label in ("DEQ layer", "ridge", "cubic root", "Hessian"):
        assert label in proc.stdout
