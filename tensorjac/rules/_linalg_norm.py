"""``np.linalg.norm(x, ord, axis, keepdims)``: a reduction whose Jacobian stores one factor of ``x``'s shape.

Supported, as numpy defines them (``axis=None``: the whole array flattened for ``ord=None``,
else a vector norm of a 1-D and a matrix norm of a 2-D ``x``; an int or 1-tuple ``axis``: vector
norms; a 2-tuple: matrix norms, the first axis the rows):

* vector ``ord``: ``None``/``2`` (``x / |x|``), ``1`` (``sign(x)``), ``inf``/``-inf`` (the largest
  / smallest ``|x_i|``), and any real ``p > 1`` (``sign(x) (|x| / |x|_p)^(p-1)``).  ``ord < 1``
  (``0``, ``0.5``, negative: not norms) is refused with a ``ValueError``.
* matrix ``ord``: ``None``/``'fro'`` (``x / |x|_F``), ``1``/``-1`` (largest / smallest column
  sum of ``|x|``), ``inf``/``-inf`` (rows), ``2``/``-2`` (largest / smallest singular value:
  ``u v^T`` of its singular vectors) and ``'nuc'`` (the sum of the singular values: ``U V^T``).

Conventions at kinks:

* A 2-norm, Frobenius norm or ``p > 1`` norm of a zero vector/matrix is not differentiable
  (``x / |x|`` is 0/0): a ``ValueError`` names the slice.
* ``ord=1``: ``abs'(0) = 0`` (the symmetric derivative, as ``abs``), zero entries included;
  ``inf``/``-inf`` and matrix ``1``/``inf``: ties between entries (rows, columns) split evenly,
  as ``max``; both are defined everywhere, so these norms need no error at 0.
* ``2``/``-2``/``'nuc'``: not differentiable where the singular value used is repeated
  (``2``/``-2``) or where a singular value is 0 (``-2``, ``'nuc'``; ``2`` at the zero matrix),
  within a relative tolerance of ``eps * max(m, n)``: a ``ValueError`` names the matrix.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._examples import normal
from ._reductions import slice_factor, slice_text, with_kept_axes
from ._registry import define
from ._structure import normalize_axes

__all__ = ["norm_axes"]

_FRO = ("f", "fro")


def norm_axes(x, ord, axis):
    """``(axes, kind)``: the reduced axes (rows first for a matrix) and ``"flat"``, ``"vector"`` or ``"matrix"``.

    >>> norm_axes(np.ones((2, 3)), 1, None)
    ((0, 1), 'matrix')
    """
    if axis is None:
        if ord is None or (isinstance(ord, str) and ord in _FRO and x.ndim == 2) or (_is(ord, 2) and x.ndim == 1):
            return tuple(range(x.ndim)), "flat"
        axis = tuple(range(x.ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if len(items) not in (1, 2):
        raise ValueError(f"norm: axis={axis!r} must name 1 axis (a vector norm) or 2 (a matrix norm) "
                         f"of an array of {x.ndim} axes")
    normalize_axes(items, x.ndim, "norm")  # ints, in range, distinct
    axes = tuple(int(a) % x.ndim for a in items)
    return axes, ("vector" if len(axes) == 1 else "matrix")


def _is(ord, value):
    return isinstance(ord, numbers.Real) and not isinstance(ord, bool) and ord == value


def _nonzero(x, norm, axes, ord):
    if np.any(norm == 0):
        where = slice_text(np.argwhere(norm == 0)[0], axes)
        raise ValueError(f"norm (ord={ord!r}) is not differentiable at 0: the slice {where} is all zeros, where "
                         "x / |x| is 0/0")


def _split_ties(values, axes, largest):
    """``1/k`` on the ``k`` entries of each slice (over ``axes``) that reach its max (min), 0 elsewhere."""
    best = (np.max if largest else np.min)(values, axis=axes, keepdims=True)
    hit = values == best
    return hit / np.sum(hit, axis=axes, keepdims=True)


def _vector_deriv(x, norm, axes, ord):
    if ord is None or _is(ord, 2):
        _nonzero(x, norm, axes, ord)
        return x / norm
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real) or not (ord >= 1 or ord == -np.inf):
        raise ValueError(f"norm: ord={ord!r} is not supported for vector norms; tensorjac differentiates ord None, "
                         "2, 1, inf, -inf and real ord > 1 (ord < 1 is not a norm)")
    if ord == 1:
        return np.sign(x)
    if np.isinf(ord):
        return np.sign(x) * _split_ties(np.abs(x), axes, ord > 0)
    _nonzero(x, norm, axes, ord)
    return np.sign(x) * (np.abs(x) / norm) ** (ord - 1)


def _matrix_deriv(x, norm, axes, ord):
    rows, cols = axes
    if ord is None or (isinstance(ord, str) and ord in _FRO):
        _nonzero(x, norm, axes, ord)
        return x / norm
    if _is(ord, 1) or _is(ord, -1):  # the largest (smallest) column sum of |x|
        return np.sign(x) * _split_ties(np.sum(np.abs(x), axis=rows, keepdims=True), cols, ord > 0)
    if _is(ord, np.inf) or _is(ord, -np.inf):  # rows
        return np.sign(x) * _split_ties(np.sum(np.abs(x), axis=cols, keepdims=True), rows, ord > 0)
    if _is(ord, 2) or _is(ord, -2) or ord == "nuc":
        return _singular_deriv(x, axes, ord)
    raise ValueError(f"norm: ord={ord!r} is not a matrix norm order (None, 'fro', 'nuc', 1, -1, 2, -2, inf, -inf)")


def _singular_deriv(x, axes, ord):
    moved = np.moveaxis(x, axes, (-2, -1))
    u, s, vt = np.linalg.svd(moved, full_matrices=False)
    m, n = moved.shape[-2:]
    tol = np.finfo(x.dtype).eps * max(m, n) * s[..., :1]
    if ord == "nuc":
        bad, why = s[..., -1:] <= tol, "a singular value is 0 (the matrix is rank-deficient)"
        deriv = u @ vt
    else:
        k = 0 if ord == 2 else -1
        near = s[..., 1:2] if k == 0 else s[..., -2:-1]
        bad = np.abs(s[..., k:k + 1 or None] - near).min(axis=-1, initial=np.inf)[..., None] <= tol
        why = "the singular value it takes is repeated"
        if ord == -2:
            bad, why = bad | (s[..., -1:] <= tol), "the smallest singular value is repeated or 0"
        bad |= s[..., :1] == 0
        deriv = u[..., :, k:k + 1 or None] * vt[..., k:k + 1 or None, :]
    if np.any(bad):
        index = np.argwhere(bad[..., 0])[0]
        where = "x" if moved.ndim == 2 else f"the matrix at batch index {tuple(int(i) for i in index)} of x"
        raise ValueError(f"norm (ord={ord!r}) is not differentiable at {where}: {why}")
    return np.moveaxis(deriv, (-2, -1), axes)


def norm_jac(ans, x, ord=None, axis=None, keepdims=False):
    axes, kind = norm_axes(x, ord, axis)
    if x.size == 0:
        return slice_factor(ans, x, axes, keepdims, np.zeros_like(x), "norm")
    norm = with_kept_axes(ans, tuple(sorted(axes)), keepdims)
    if kind == "flat":
        _nonzero(x, norm, axes, ord)
        deriv = x / norm
    elif kind == "vector":
        deriv = _vector_deriv(x, norm, axes, ord)
    else:
        deriv = _matrix_deriv(x, norm, axes, ord)
    return slice_factor(ans, x, axes, keepdims, deriv, "norm")


def _norm_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    sparse = n(2, 4)
    sparse[0, 1] = sparse[1, 3] = 0.0  # abs'(0) = 0 for ord=1
    ties = np.array([[1.0, -3.0, 3.0], [2.0, 0.5, -4.5]])  # |x| ties in row 0; equal row sums
    return [
        ((n(4),), {}), ((n(2, 3),), {}), ((n(2, 3, 2),), {"axis": -1}), ((n(2, 3),), {"axis": 0, "keepdims": True}),
        ((n(),), {}), ((n(1, 3),), {"ord": "fro"}), ((n(4),), {"ord": 1}), ((sparse,), {"ord": 1, "axis": 1}),
        ((n(4),), {"ord": np.inf}), ((ties,), {"ord": np.inf, "axis": 1}), ((ties,), {"ord": -np.inf, "axis": 1}),
        ((n(3),), {"ord": 3}), ((n(2, 3),), {"ord": 1.5, "axis": (1,)}), ((n(3),), {"ord": 2}),
        ((n(3, 2),), {"ord": 1}), ((n(3, 2),), {"ord": -1}), ((ties,), {"ord": np.inf}), ((n(3, 2),), {"ord": -np.inf}),
        ((n(2, 3, 4),), {"axis": (2, 0), "ord": 1, "keepdims": True}), ((n(3, 2),), {"ord": 2}),
        ((n(2, 3, 2),), {"ord": -2, "axis": (1, 2)}), ((n(3, 3),), {"ord": "nuc"}),
        ((n(0, 3),), {"axis": 1}), ((n(2, 0),), {"axis": 0, "ord": np.inf}),
    ]


define("norm", np.linalg.norm, norm_jac, argnames=("x",), static=("ord", "axis", "keepdims"), builtin=True,
       examples=_norm_examples)
