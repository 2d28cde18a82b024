"""Note 000: the chain rule for h(x) = f(g(x)), and what the Jacobian program looks like.

Note 000 takes g : R^5 -> R^3, g(x) = sin(G x), and f : R^3 -> R^1, f(u) = cos(F u), and checks
with ``jax.jacfwd`` that the Jacobian of the composition is the product of the Jacobians,
H0 = F0 @ G0.  This script does the same with tensorjac on plain numpy code, then prints the
program tensorjac accumulates.

Note 000 also prints ``jax.make_jaxpr(jax.jacfwd(h))``: forward mode there starts from the
identity matrix of the input, so JAX's program builds a 5 x 5 identity (``iota``, ``eq``,
``convert_element_type``) and multiplies it by G (``dot_general a i``) before anything else.
tensorjac's program has no such line: the Jacobian of ``G @ x`` is stored as G itself, the
Jacobian of ``sin`` as a diagonal, and the accumulation is one contraction over the factors
``cos'``, F, ``sin'``, G in the cheapest order, with no identity anywhere.

Run it with ``python examples/chain_rule.py``.
"""

from __future__ import annotations

import sys

import numpy as np

import tensorjac as tj

N, M = 5, 3
rng = np.random.default_rng(314)
G_proj = rng.normal(size=(M, N))
F_proj = rng.normal(size=(1, M))
x0 = rng.normal(size=N)


def g(x):
    return np.sin(G_proj @ x)


def f(u):
    return np.cos(F_proj @ u)


def h(x):
    return f(g(x))


def _main() -> int:
    H0 = tj.jacobian(h)(x0)  # the Jacobian of the composition, shape (1, 5)
    F0 = tj.jacobian(f)(g(x0))  # (1, 3)
    G0 = tj.jacobian(g)(x0)  # (3, 5)
    product = F0 @ G0  # the chain rule as a contraction: c(F0, G0)
    print("H0 = jacobian(h)(x0):             ", H0.dense())
    print("F0 @ G0 = c(jacobian(f), jacobian(g)):", product.dense())
    reference = tj.numerical_jacobian(h, x0)["x"].dense()
    error = float(np.max(np.abs(H0.dense() - reference)))
    print(f"max |H0 - finite differences| = {error:.1e}")
    ok = np.allclose(H0.dense(), product.dense(), rtol=1e-12, atol=0) and error < 1e-8
    print("\nThe program of jacobian(h) (compare with jax.make_jaxpr(jax.jacfwd(h)) in note 000):")
    print(tj.make_program(h)(x0))
    print("\nNo line builds an identity: JAX's forward mode starts from a 5 x 5 identity made with iota;")
    print("here d b/d a is G itself (A[a,i]) and d c/d b a diagonal, contracted once in the cheapest order.")
    return 0 if ok else 1


def main() -> int:
    with np.printoptions(precision=6, suppress=True):  # printing only: the caller's options stay
        return _main()


if __name__ == "__main__":
    sys.exit(main())
