"""Direct cotangent rules (VJPs) of the commonest built-in rules, for the cached gradient replay.

``tj.grad(f, cache=True)`` replays a recorded trace as a straight line of numpy calls: the
forward values, then one cotangent rule per edge, backwards.  Making each structured Jacobian
block and contracting the cotangent with it costs about 10 us of Python per edge, which at
the teaching sizes of the notes (N=8, d=4) is most of the time (``bench/tracing.py``).  A
rule may therefore declare ``vjp={i: vjp}``: ``vjp(g, ans, *arrays, **options)`` is ``g``
pulled back through the block of argument ``i``, computed directly (the ``defvjp`` of HIPS
autograd).  Each is tested against its rule's Jacobian maker on the rule's examples
(``tests/test_rule_table.py``), so the replay gives the same gradient as the Jacobian.  Rules
without one fall back to making the block and contracting it.

Conventions: ``g`` has the shape of ``ans``; the result has the shape of the argument (a
broadcast argument gets the sum over the axes it was broadcast along, :func:`unbroadcast`),
and may be a view of ``g`` or a read-only broadcast (the replay copies what it returns).
"""

from __future__ import annotations

import numpy as np

from ._structure import normalize_axes

__all__ = ["unbroadcast", "unary_vjp", "binary_vjps", "reduction_vjp", "matmul_vjps"]


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """``g`` (of a broadcast shape) summed back to ``shape``: over the leading axes ``shape`` lacks
    and over its size-1 axes.

    >>> unbroadcast(np.ones((2, 3)), (1, 3))
    array([[2., 2., 2.]])
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape) if n == 1 and g.shape[lead + k] != 1)
    return np.add.reduce(g, axis=axes).reshape(shape) if axes else g.reshape(shape)


def _in(d, dtype):
    """A derivative in the result's dtype (as the Jacobian makers store it: float32 stays float32)."""
    return d if getattr(d, "dtype", None) == dtype else np.asarray(d, dtype=dtype)


def unary_vjp(deriv):
    """The cotangent rule of an elementwise ``fun(x)`` with derivative ``deriv(ans, x)`` (None: 1)."""
    def vjp(g, ans, x):
        d = deriv(ans, x)
        return g if d is None else g * _in(d, ans.dtype)

    return vjp


def binary_vjps(deriv1, deriv2):
    """The cotangent rules of a broadcasting ``fun(x1, x2)`` with derivatives ``deriv_i(ans, x1, x2)``."""
    def make(deriv, pos):
        def vjp(g, ans, x1, x2):
            d = deriv(ans, x1, x2)
            part = g if d is None else g * _in(d, ans.dtype)  # g has the shape of ans, so has part
            return unbroadcast(part, (x1, x2)[pos].shape)

        return vjp

    return {0: make(deriv1, 0), 1: make(deriv2, 1)}


def reduction_vjp(scale=None):
    """The cotangent rule of ``sum`` (``scale(x, axes)``: a factor such as ``1 / count`` for ``mean``)."""
    def vjp(g, ans, x, axis=None, keepdims=False):
        axes = normalize_axes(axis, x.ndim, "sum")
        if not keepdims:
            g = np.expand_dims(g, axes)
        if scale is not None:
            g = g * scale(x, axes)
        return np.broadcast_to(g, x.shape)

    return vjp


def matmul_vjps():
    """The cotangent rules of ``matmul(a, b)`` (1-d operands and broadcast batch axes included)."""
    def expanded(g, a, b):
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        return g

    def vjp_a(g, ans, a, b):
        b2 = b[:, None] if b.ndim == 1 else b
        r = np.matmul(expanded(g, a, b), np.swapaxes(b2, -1, -2))
        if a.ndim == 1:
            r = r[..., 0, :]
        return unbroadcast(r, a.shape)

    def vjp_b(g, ans, a, b):
        a2 = a[None, :] if a.ndim == 1 else a
        r = np.matmul(np.swapaxes(a2, -1, -2), expanded(g, a, b))
        if b.ndim == 1:
            r = r[..., 0]
        return unbroadcast(r, b.shape)

    return {0: vjp_a, 1: vjp_b}
