"""Reductions along axes (``axis``, ``keepdims``): sum, and the rules built like it.

A reduction's Jacobian keeps a delta on the axes it keeps and a constant (or a factor of the
input's shape) on the axes it reduces: ``sum`` stores nothing at all.
"""

from __future__ import annotations

import numpy as np

from ._examples import normal
from ._registry import define
from ._structure import LETTERS, linear, normalize_axes

__all__ = ["reduced_letters"]


def reduced_letters(x, axis, keepdims, what):
    """``(input letters, output letters)`` of a reduction of ``x`` over ``axis``.

    With ``keepdims`` the kept size-1 axes get letters of their own (upper case), distinct
    from the reduced input axes.
    """
    axes = normalize_axes(axis, np.ndim(x), what)
    letters = LETTERS[: np.ndim(x)]
    if keepdims:
        out = "".join(c.upper() if ax in axes else c for ax, c in enumerate(letters))
    else:
        out = "".join(c for ax, c in enumerate(letters) if ax not in axes)
    return letters, out


def sum_jac(ans, x, axis=None, keepdims=False):
    letters, out = reduced_letters(x, axis, keepdims, "sum")
    return linear(ans.shape, out, x.shape, letters, dtype=ans.dtype)


def _sum_examples(rng):
    return [
        ((normal(rng, 2, 3),), {}), ((normal(rng, 2, 3),), {"axis": 0}), ((normal(rng, 2, 3, 2),), {"axis": (0, 2)}),
        ((normal(rng, 2, 3),), {"axis": -1, "keepdims": True}), ((normal(rng, 1, 3),), {"axis": 0}),
        ((normal(rng),), {}), ((normal(rng, 0, 3),), {"axis": 0}), ((normal(rng, 2, 0),), {"axis": 1}),
    ]


define("sum", np.sum, sum_jac, argnames=("x",), static=("axis", "keepdims"), builtin=True, examples=_sum_examples)
