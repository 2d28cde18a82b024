"""Hessians with structure, and note 003's second-order chain rule term by term.

1. The Hessian of logistic regression's loss, ``L(w) = sum(softplus(X w) - y * (X w))``, by
   ``tj.hessian`` of the plain numpy loss, against the hand formula ``X^T diag(s (1 - s)) X``:
   tensorjac finds that product by itself (the Jacobian of ``X @ w`` is stored as ``X``, the
   second derivative of the elementwise loss as one vector).
2. Note 003, section 7.1: for ``h = g(f(x))``,

       H_h(x) = J_f(x)^T H_g(f(x)) J_f(x)  +  sum_i (dg/dz_i) H_{f_i}(x)

   ``tj.gauss_newton(J_f, H_g)`` is the first term (the Gauss-Newton matrix), and
   ``tj.curvature_term(grad_g, H_f)`` the second; the script prints both, their sum and
   ``tj.hessian(h)``, and checks that they agree.
3. Note 003's worked example, f(x, y) = (x^2 + y, 2xy), g(u, v) = (u + v, u^2, sin v), at
   (1, 2): the Hessian of each component of g o f against values derived by hand.

Exits with status 1 if a check fails.  Run it with ``python examples/hessian.py``.
"""

from __future__ import annotations

import sys

import numpy as np

import tensorjac as tj


def logistic_regression(N=500, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d))
    y = (rng.random(N) < 0.5).astype(float)
    w = rng.normal(size=d) / np.sqrt(d)

    def loss(w):
        z = X @ w
        return np.sum(tj.softplus(z) - y * z)

    H = tj.hessian(loss)(w)
    s = tj.logit(X @ w)
    hand = X.T @ ((s * (1 - s))[:, None] * X)
    err = float(np.max(np.abs(H.matrix() - hand)) / np.max(np.abs(hand)))
    print(f"1. logistic regression, X {X.shape}: Hessian {H.shape}, stored as {H!r}"[:160])
    print(f"   max relative difference from X^T diag(s(1-s)) X: {err:.1e}")
    return err <= 1e-12


def second_order_chain_rule(seed=1):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(4, 3))

    def f(x):  # inner, R^3 -> R^4
        return np.tanh(A @ x)

    def g(z):  # outer, R^4 -> R
        return np.log(np.sum(np.exp(z)))

    x = rng.normal(size=3)
    z = f(x)
    gn = tj.gauss_newton(tj.jacobian(f)(x), tj.hessian(g)(z)).matrix()
    curvature = tj.curvature_term(tj.grad(g)(z), tj.hessian(f)(x)).matrix()
    total = tj.hessian(lambda x: g(f(x)))(x).matrix()
    print("2. note 003's second-order chain rule for h = g(f(x)), f(x) = tanh(A x), g(z) = log sum exp z")
    print("   Gauss-Newton term J_f^T H_g J_f:\n", gn)
    print("   curvature term sum_i (dg/dz_i) H_{f_i}:\n", curvature)
    print("   their sum:\n", gn + curvature)
    print("   tj.hessian(h):\n", total)
    ok = np.allclose(gn + curvature, total, rtol=1e-12, atol=1e-14)
    print("   the two terms add up to the Hessian" if ok else "   THE TERMS DO NOT ADD UP")
    return ok


def note_003_worked_example():
    def h(x, y):
        u, v = x * x + y, 2 * x * y
        return np.stack([u + v, u * u, np.sin(v)])

    H = tj.hessian(h, argnums=(0, 1))(1.0, 2.0)
    M = np.stack([np.stack([H["x", "x"].dense(), H["x", "y"].dense()], -1),
                  np.stack([H["y", "x"].dense(), H["y", "y"].dense()], -1)], -2)
    s, c = np.sin(4.0), np.cos(4.0)
    by_hand = np.array([[[2, 2], [2, 0]], [[20, 4], [4, 2]], [[-16 * s, 2 * c - 8 * s], [2 * c - 8 * s, -4 * s]]])
    ok = np.allclose(M, by_hand, rtol=1e-12, atol=1e-12)
    print("3. note 003's worked example at (1, 2): the Hessians of the three components of g o f")
    for k, name in enumerate(("u + v", "u^2", "sin v")):
        print(f"   {name:<6} {M[k].tolist()}")
    print("   agree with the values derived by hand" if ok else "   DISAGREE WITH THE VALUES DERIVED BY HAND")
    return ok


def _main() -> int:
    results = [logistic_regression(), second_order_chain_rule(), note_003_worked_example()]
    return 0 if all(results) else 1


def main() -> int:
    with np.printoptions(precision=4, suppress=True):  # printing only: the caller's options stay
        return _main()


if __name__ == "__main__":
    sys.exit(main())
