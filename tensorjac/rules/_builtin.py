"""The built-in rules, each with its example inputs beside it.

Conventions:

* ``maximum(x1, x2)`` and ``relu(x)`` split ties evenly: at ``x1 == x2`` each argument gets
  derivative 1/2, and ``relu'(0) = 1/2``.  This is the symmetric (central-difference)
  derivative, and the convention of ``jax.numpy.maximum``.
* ``logit`` is the logistic sigmoid ``1 / (1 + exp(-z))`` of the course notes (which call it
  logit), computed without overflow for any finite ``z``.
* ``softmax(z, axis=-1)`` normalises along ``axis`` (rows, for a matrix).

Examples are functions of a numpy random generator returning a list of examples (a tuple of
arrays, or ``(arrays, kwargs)``): broadcasting, size-1 axes, ties, stacks.
"""

from __future__ import annotations

import numpy as np

from .._jacobian import Jacobian, structured
from ._registry import define
from ._structure import LETTERS, aligned, elementwise, linear

__all__ = ["logit", "relu", "affine", "softmax", "cross_entropy"]


def _rule(name, fun, *makers, **options):
    return define(name, fun, *makers, builtin=True, **options)


# ---- Example inputs ---------------------------------------------------------------------------


def _normal(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def _positive(rng, *shape, lo=0.2, hi=3.0):
    return rng.uniform(lo, hi, shape)


def _away(rng, *shape):
    """Values away from zero (divisors)."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def _unary_examples(scale=1.0):
    return lambda rng: [(_normal(rng, 3, scale=scale),), (_normal(rng, 2, 1, 3, scale=scale),), (_normal(rng),)]


def _binary_examples(rng, second=_normal):
    return [(_normal(rng, 2, 3), second(rng, 3)), (_normal(rng, 2, 1), second(rng, 1, 3)),
            (_normal(rng, 1, 3), second(rng, 2, 2, 3))]


# ---- Elementwise ------------------------------------------------------------------------------


def logit(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))`` (the notes' "logit"), without overflow."""
    e = np.exp(-np.abs(x))  # <= 1, so nothing overflows for any finite x
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu(x):
    """``maximum(x, 0)``; ``relu'(0) = 1/2`` (ties split evenly, see the module docstring)."""
    return np.maximum(x, 0)


def _tie_split(a, b):
    """Derivative of ``maximum(a, b)`` w.r.t. ``a``: 1 where a > b, 1/2 at ties, 0 elsewhere."""
    return (a > b) + 0.5 * (a == b)


def _log_domain(x):
    if np.any(x <= 0):
        raise ValueError(f"log: x must be > 0 everywhere; its minimum is {x.min()} (shape {x.shape})")


def _relu_examples(rng):
    x = _normal(rng, 2, 4)
    x[1, 2] = 0.0  # relu'(0) = 1/2
    return [(x,), (_normal(rng, 3, 1),)]


_rule("exp", np.exp, lambda ans, x: elementwise(ans, x, ans), argnames=("x",), examples=_unary_examples())
_rule("log", np.log, lambda ans, x: elementwise(ans, x, 1 / x), argnames=("x",), domain=_log_domain,
      examples=lambda rng: [(_positive(rng, 3),), (_positive(rng, 2, 1, 3, lo=0.05),)])
_rule("sin", np.sin, lambda ans, x: elementwise(ans, x, np.cos(x)), argnames=("x",), examples=_unary_examples(2.0))
_rule("cos", np.cos, lambda ans, x: elementwise(ans, x, -np.sin(x)), argnames=("x",), examples=_unary_examples(2.0))
_rule("tanh", np.tanh, lambda ans, x: elementwise(ans, x, 1 - ans**2), argnames=("x",), examples=_unary_examples(1.5))
_rule("logit", logit, lambda ans, x: elementwise(ans, x, ans * (1 - ans)), examples=_unary_examples(2.5))
_rule("relu", relu, lambda ans, x: elementwise(ans, x, _tie_split(x, 0.0)), examples=_relu_examples)

# ---- Binary, broadcasting ---------------------------------------------------------------------


def _nonzero_divisor(x1, x2):
    if np.any(x2 == 0):
        raise ValueError(f"divide: the divisor x2 (shape {x2.shape}) has zeros")


def _maximum_examples(rng):
    a, b = _normal(rng, 2, 3), _normal(rng, 2, 3)
    b[0, ::2] = a[0, ::2]  # exact ties: each argument gets 1/2
    return [(a, b), (_normal(rng, 2, 1), _normal(rng, 1, 3)), (_normal(rng, 3), _normal(rng, 2, 3))]


_rule(
    "add", np.add,
    lambda ans, x1, x2: elementwise(ans, x1),
    lambda ans, x1, x2: elementwise(ans, x2),
    argnames=("x1", "x2"), examples=_binary_examples,
)
_rule(
    "subtract", np.subtract,
    lambda ans, x1, x2: elementwise(ans, x1),
    lambda ans, x1, x2: elementwise(ans, x2, -np.ones((), ans.dtype)),
    argnames=("x1", "x2"), examples=_binary_examples,
)
_rule(
    "multiply", np.multiply,
    lambda ans, x1, x2: elementwise(ans, x1, x2),
    lambda ans, x1, x2: elementwise(ans, x2, x1),
    argnames=("x1", "x2"),
    examples=lambda rng: _binary_examples(rng) + [(_normal(rng), _normal(rng, 2, 2))],
)
_rule(
    "divide", np.divide,
    lambda ans, x1, x2: elementwise(ans, x1, 1 / x2),
    lambda ans, x1, x2: elementwise(ans, x2, -ans / x2),
    argnames=("x1", "x2"), domain=_nonzero_divisor,
    examples=lambda rng: _binary_examples(rng, second=_away),
)
_rule(
    "maximum", np.maximum,
    lambda ans, x1, x2: elementwise(ans, x1, _tie_split(x1, x2)),
    lambda ans, x1, x2: elementwise(ans, x2, _tie_split(x2, x1)),
    argnames=("x1", "x2"), examples=_maximum_examples,
)

# ---- Linear algebra ---------------------------------------------------------------------------


def _matmul_letters(a_ndim, b_ndim, ans_ndim):
    """einsum letters (a, b, out) of ``np.matmul`` for operands of these ranks (1-D promoted as numpy does)."""
    if a_ndim == 1 and b_ndim == 1:
        return "i", "i", ""
    batch = LETTERS[: ans_ndim - (a_ndim > 1) - (b_ndim > 1)]
    row, inner, col = "X", "Y", "Z"
    a = inner if a_ndim == 1 else aligned(a_ndim - 2, batch) + row + inner
    b = inner if b_ndim == 1 else aligned(b_ndim - 2, batch) + inner + col
    out = batch + (row if a_ndim > 1 else "") + (col if b_ndim > 1 else "")
    return a, b, out


def matmul_jac_0(ans, x1, x2):
    a, b, out = _matmul_letters(x1.ndim, x2.ndim, ans.ndim)
    return linear(ans.shape, out, x1.shape, a, [(x2, b)], dtype=ans.dtype)


def matmul_jac_1(ans, x1, x2):
    a, b, out = _matmul_letters(x1.ndim, x2.ndim, ans.ndim)
    return linear(ans.shape, out, x2.shape, b, [(x1, a)], dtype=ans.dtype)


def _matmul_shapes(x1, x2):
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one axis, got shapes {x1.shape} and {x2.shape}")


def _matmul_examples(rng):
    n = lambda *shape: _normal(rng, *shape)  # noqa: E731
    return [
        (n(3), n(3)), (n(2, 3), n(3)), (n(3), n(3, 2)), (n(2, 3), n(3, 2)),
        (n(2, 2, 3), n(3, 2)), (n(3), n(2, 3, 2)), (n(2, 1, 2, 3), n(2, 3, 2)),
    ]


_rule("matmul", np.matmul, matmul_jac_0, matmul_jac_1, argnames=("x1", "x2"), domain=_matmul_shapes,
      examples=_matmul_examples)


def affine(X, W, b):
    """``X @ W + b`` with ``b`` broadcast over the rows of ``X`` (``X`` may be a vector)."""
    return X @ W + b


def _affine_shapes(X, W, b):
    if X.ndim not in (1, 2) or W.ndim != 2 or b.ndim != 1 or X.shape[-1] != W.shape[0] or b.shape[0] != W.shape[1]:
        raise ValueError(
            f"affine(X, W, b) needs X of shape (N, d) or (d,), W of shape (d, k) and b of shape (k,); "
            f"got X {X.shape}, W {W.shape}, b {b.shape}"
        )


_rule(
    "affine", affine,
    lambda ans, X, W, b: matmul_jac_0(ans, X, W),
    lambda ans, X, W, b: matmul_jac_1(ans, X, W),
    lambda ans, X, W, b: elementwise(ans, b),
    domain=_affine_shapes,
    examples=lambda rng: [(_normal(rng, 4, 3), _normal(rng, 3, 2), _normal(rng, 2)),
                          (_normal(rng, 3), _normal(rng, 3, 2), _normal(rng, 2))],
)


# ---- Reductions and normalisations ------------------------------------------------------------


def sum_jac(ans, x, axis=None, keepdims=False):
    letters = LETTERS[: x.ndim]
    axes = range(x.ndim) if axis is None else np.atleast_1d(axis) % max(x.ndim, 1)
    axes = set(int(a) for a in axes)
    out = "".join(c for ax, c in enumerate(letters) if ax not in axes or keepdims)
    if keepdims:  # the kept size-1 axes are not the summed input axes
        out = "".join(c.upper() if ax in axes else c for ax, c in enumerate(letters))
    return linear(ans.shape, out, x.shape, letters, dtype=ans.dtype)


_rule("sum", np.sum, sum_jac, argnames=("x",), examples=lambda rng: [
    ((_normal(rng, 2, 3),), {}), ((_normal(rng, 2, 3),), {"axis": 0}), ((_normal(rng, 2, 3, 2),), {"axis": (0, 2)}),
    ((_normal(rng, 2, 3),), {"axis": -1, "keepdims": True}), ((_normal(rng, 1, 3),), {"axis": 0}),
])


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, shifted by the maximum so large logits do not overflow."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_jac(ans, x, axis=-1):
    # d s[..b..] / d x[..d..] = delta(rest) * (s_b delta(b, d) - s_b s_d): block-diagonal over the rest.
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis")
    out = LETTERS[: x.ndim]
    ax = axis % x.ndim
    inn = out[:ax] + "Z" + out[ax + 1:]
    sizes = dict(zip(out, x.shape))
    return structured(f"{out}->{out}|{out}", ans) - structured(f"{out},{inn}->{out}|{inn}", ans, ans, sizes=sizes)


_rule("softmax", softmax, softmax_jac, argnames=("x",), examples=lambda rng: [
    ((_normal(rng, 2, 3),), {}), ((_normal(rng, 3, 2),), {"axis": 0}), ((_normal(rng, 4, scale=3),), {}),
])


def cross_entropy(P, Q):
    """``-sum(P * log(Q))`` over all entries (``Q > 0``)."""
    return -np.sum(P * np.log(Q))


def _cross_entropy_domain(P, Q):
    if P.shape != Q.shape:
        raise ValueError(f"cross_entropy(P, Q) needs P and Q of one shape, got {P.shape} and {Q.shape}")
    if np.any(Q <= 0):
        raise ValueError(f"cross_entropy(P, Q): Q must be > 0 everywhere (min {Q.min()}): log(Q) is undefined")


def _full_factor(factor) -> Jacobian:
    letters = LETTERS[: factor.ndim]
    return structured(f"{letters}->|{letters}", factor)


_rule(
    "cross_entropy", cross_entropy,
    lambda ans, P, Q: _full_factor(-np.log(Q)),
    lambda ans, P, Q: _full_factor(-P / Q),
    domain=_cross_entropy_domain,
    examples=lambda rng: [(_positive(rng, 2, 3, lo=0.0, hi=1.0), _positive(rng, 2, 3, lo=0.1, hi=1.0))],
)
