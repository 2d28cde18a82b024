"""Elementwise rules: unary functions (a diagonal Jacobian) and broadcasting binary ones.

Each rule is one declaration: :func:`unary` takes the derivative as a function of
``(ans, x)`` (``ans`` first, so ``exp`` reuses its value); :func:`binary` takes one per
argument.  Broadcast arguments get Jacobians against their true shapes
(:func:`tensorjac.rules._structure.elementwise`): nothing but the derivative is stored.

Conventions: ``maximum`` splits ties evenly (each argument gets 1/2 at ``x1 == x2``), the
symmetric derivative that central differences measure and the convention of
``jax.numpy.maximum``.
"""

from __future__ import annotations

import numpy as np

from ._examples import away, binary_examples, normal, positive, unary_examples
from ._registry import define
from ._structure import elementwise

__all__ = ["unary", "binary"]


def unary(name, fun, deriv, examples=None, domain=None, **options):
    """Register an elementwise rule ``fun(x)`` whose derivative is ``deriv(ans, x)``.

    ``deriv`` returns an array broadcastable to ``x`` (the diagonal of the Jacobian), or
    ``None`` for the derivative 1.
    """
    def maker(ans, x):
        return elementwise(ans, x, deriv(ans, x))

    return define(name, fun, maker, argnames=("x",), domain=domain, builtin=True,
                  examples=examples or unary_examples(), **options)


def binary(name, fun, deriv1, deriv2, examples=None, domain=None, **options):
    """Register a broadcasting rule ``fun(x1, x2)``; ``deriv_i(ans, x1, x2)`` is the derivative
    with respect to ``x_i`` (broadcastable to ``ans``; ``None`` for 1)."""
    def maker1(ans, x1, x2):
        return elementwise(ans, x1, deriv1(ans, x1, x2))

    def maker2(ans, x1, x2):
        return elementwise(ans, x2, deriv2(ans, x1, x2))

    return define(name, fun, maker1, maker2, argnames=("x1", "x2"), domain=domain, builtin=True,
                  examples=examples or binary_examples(), **options)


def _tie_split(a, b):
    """Derivative of ``maximum(a, b)`` w.r.t. ``a``: 1 where a > b, 1/2 at ties, 0 elsewhere."""
    return (a > b) + 0.5 * (a == b)


def _log_domain(x):
    if np.any(x <= 0):
        raise ValueError(f"log: x must be > 0 everywhere; its minimum is {x.min()} (shape {x.shape})")


def _nonzero_divisor(x1, x2):
    if np.any(x2 == 0):
        raise ValueError(f"divide: the divisor x2 (shape {x2.shape}) has zeros")


def _maximum_examples(rng):
    a, b = normal(rng, 2, 3), normal(rng, 2, 3)
    b[0, ::2] = a[0, ::2]  # exact ties: each argument gets 1/2
    return [(a, b), (normal(rng, 2, 1), normal(rng, 1, 3)), (normal(rng, 3), normal(rng, 2, 3)),
            (normal(rng), normal(rng, 0))]


# ---- Unary ------------------------------------------------------------------------------------

unary("exp", np.exp, lambda ans, x: ans)
unary("log", np.log, lambda ans, x: 1 / x, domain=_log_domain, examples=unary_examples(positive))
unary("sin", np.sin, lambda ans, x: np.cos(x), examples=unary_examples(normal, scale=2.0))
unary("cos", np.cos, lambda ans, x: -np.sin(x), examples=unary_examples(normal, scale=2.0))
unary("tanh", np.tanh, lambda ans, x: 1 - ans**2, examples=unary_examples(normal, scale=1.5))

# ---- Binary, broadcasting ---------------------------------------------------------------------

binary("add", np.add, lambda ans, x1, x2: None, lambda ans, x1, x2: None)
binary("subtract", np.subtract, lambda ans, x1, x2: None, lambda ans, x1, x2: -np.ones((), ans.dtype))
binary("multiply", np.multiply, lambda ans, x1, x2: x2, lambda ans, x1, x2: x1)
binary("divide", np.divide, lambda ans, x1, x2: 1 / x2, lambda ans, x1, x2: -ans / x2, domain=_nonzero_divisor,
       examples=binary_examples(normal, away))
binary("maximum", np.maximum, lambda ans, x1, x2: _tie_split(x1, x2), lambda ans, x1, x2: _tie_split(x2, x1),
       examples=_maximum_examples)
