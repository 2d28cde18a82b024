"""Note 003, section 7.2: derivatives of implicit functions, J_y(x) = -[dF/dy]^{-1} dF/dx.

Three functions defined implicitly by F(x, y) = 0, each solved numerically and differentiated
with ``tj.implicit`` (the solver's iterations are never differentiated):

1. a deep-equilibrium layer y = tanh(W y + x), solved by fixed-point iteration;
2. ridge regression, theta*(lam) = argmin |A theta - b|^2 + lam |theta|^2, whose optimality
   condition A^T (A theta - b) + lam theta = 0 defines theta(lam);
3. a root of a cubic c0 + c1 y + c2 y^2 + c3 y^3 = 0 as a function of its coefficients.

Each Jacobian is checked against finite differences of the solver itself (relative error at
most 1e-6) and printed in a table; the DEQ layer's Hessian is checked too.  Exits with status 1
if a check fails.  Run it with ``python examples/implicit.py``.
"""

from __future__ import annotations

import sys

import numpy as np

import tensorjac as tj

rng = np.random.default_rng(7)

# ---- 1. a deep-equilibrium layer ------------------------------------------------------------------

n = 6
W = rng.normal(size=(n, n)) * 0.4 / np.sqrt(n)  # a contraction: the fixed point is unique


def deq_solve(x):
    y = np.zeros_like(x)
    for _ in range(500):
        y_next = np.tanh(W @ y + x)
        if np.max(np.abs(y_next - y)) < 1e-15:
            return y_next
        y = y_next
    return y


deq = tj.implicit(deq_solve, lambda x, y: y - np.tanh(W @ y + x))

# ---- 2. ridge regression's solution as a function of lambda ------------------------------------------

A, b = rng.normal(size=(20, 5)), rng.normal(size=20)


def ridge_solve(lam):
    return np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ b)


ridge = tj.implicit(ridge_solve, lambda lam, theta: A.T @ (A @ theta - b) + lam * theta)

# ---- 3. a root of a cubic as a function of its coefficients ------------------------------------------


def cubic_root(c):
    """The real root near 1 of c0 + c1 y + c2 y^2 + c3 y^3 = 0, by Newton's method."""
    y = np.array(1.0)
    for _ in range(100):
        f = c[0] + c[1] * y + c[2] * y**2 + c[3] * y**3
        y = y - f / (c[1] + 2 * c[2] * y + 3 * c[3] * y**2)
    return y


root = tj.implicit(cubic_root, lambda c, y: c[0] + c[1] * y + c[2] * y ** 2 + c[3] * y ** 3)


def rel_error(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def main() -> int:
    cases = [
        ("DEQ layer y = tanh(W y + x)", deq, deq_solve, rng.normal(size=n)),
        ("ridge theta*(lam)", ridge, ridge_solve, np.array(0.7)),
        ("cubic root y(c)", root, cubic_root, np.array([-1.5, 0.3, 0.2, 1.0])),
    ]
    print(f"{'implicit function':<30}{'Jacobian shape':<16}{'rel. error vs FD of the solver':>32}  ok")
    ok = True
    for label, node, solver, x in cases:
        J = tj.jacobian(node)(x).dense()
        reference = tj.numerical_jacobian(solver, x)[0].dense()
        err = rel_error(J, reference)
        ok &= err <= 1e-6
        print(f"{label:<30}{str(J.shape):<16}{err:>32.2e}  {'yes' if err <= 1e-6 else 'NO'}")
    x = cases[0][3]
    H = tj.hessian(lambda x: np.sum(deq(x) * deq(x)))(x).matrix()
    reference = tj.numerical_jacobian(lambda x: tj.grad(lambda x: np.sum(deq(x) * deq(x)))(x), x)[0].dense()
    err = rel_error(H, reference)
    ok &= err <= 1e-6
    print(f"{'Hessian of |DEQ(x)|^2':<30}{str(H.shape):<16}{err:>32.2e}  {'yes' if err <= 1e-6 else 'NO'}")
    _, info = tj.implicit_jacobian(lambda x, y: y - np.tanh(W @ y + x), x, deq_solve(x), return_info=True)
    print(f"\nchecks of the DEQ solve: residual {info.residual:.1e}, cond(dF/dy) ~ {info.condition:.3g}, "
          f"solved by {info.method}")
    print("all implicit Jacobians agree with finite differences of the solvers" if ok else "SOME CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
