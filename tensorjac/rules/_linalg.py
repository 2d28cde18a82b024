"""Contractions: ``matmul`` in every ndim case (1-D operands promoted as numpy does, stacked and
broadcast batches), and the rules built like it.

A bilinear map's Jacobian with respect to one operand stores only the other operand, with
deltas on the axes they share with the result: ``d(X @ W)/dW = X[a, i] delta[b, j]``.
"""

from __future__ import annotations

import numpy as np

from ._examples import normal
from ._registry import define
from ._structure import LETTERS, aligned, linear

__all__ = ["matmul_letters", "matmul_jac_0", "matmul_jac_1"]


def matmul_letters(a_ndim, b_ndim, ans_ndim):
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
    a, b, out = matmul_letters(x1.ndim, x2.ndim, ans.ndim)
    return linear(ans.shape, out, x1.shape, a, [(x2, b)], dtype=ans.dtype)


def matmul_jac_1(ans, x1, x2):
    a, b, out = matmul_letters(x1.ndim, x2.ndim, ans.ndim)
    return linear(ans.shape, out, x2.shape, b, [(x1, a)], dtype=ans.dtype)


def _matmul_shapes(x1, x2):
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one axis, got shapes {x1.shape} and {x2.shape}")


def _matmul_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [
        (n(3), n(3)), (n(2, 3), n(3)), (n(3), n(3, 2)), (n(2, 3), n(3, 2)),
        (n(2, 2, 3), n(3, 2)), (n(3), n(2, 3, 2)), (n(2, 1, 2, 3), n(2, 3, 2)), (n(2, 0), n(0, 3)),
    ]


define("matmul", np.matmul, matmul_jac_0, matmul_jac_1, argnames=("x1", "x2"), domain=_matmul_shapes, builtin=True,
       examples=_matmul_examples)
