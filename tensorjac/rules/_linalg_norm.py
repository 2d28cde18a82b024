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

Second derivatives (:func:`~tensorjac.rules._reductions.slice_second`: deltas on the kept axes,
O(slice) numbers within a slice):

* 2-norm / Frobenius (``N = |x|``, ``u = x / N``): ``(I - u u^T) / N``: the per-slice ``1/N``
  and ``u``.  A zero slice raises the first derivative's ``ValueError``.
* real ``p > 1`` (``g = dN/dx``): ``(p - 1) / N ((|x| / N)^(p-2) delta_ij - g_i g_j)``: one
  diagonal of ``x``'s shape, ``g`` and the per-slice ``(p - 1) / N``.  For ``1 < p < 2`` it is
  infinite at a zero entry: a ``ValueError`` names the entry.
* vector ``1``, ``inf``, ``-inf`` and matrix ``1``, ``-1``, ``inf``, ``-inf``: piecewise linear,
  zero (away from the kinks; nothing stored).
* matrix ``2``/``-2`` (``sigma_k`` the singular value taken, ``a_jk = u_j^T E v_k``; for
  ``m >= n``, else the same on the transpose): ``d² sigma_k [E, E] = sum_{j != k} (sigma_k
  (a_jk² + a_kj²) + 2 sigma_j a_jk a_kj) / (sigma_k² - sigma_j²) + |(I - U U^T) E v_k|² / sigma_k``
  (second-order perturbation of the eigenvalues of ``[[0, A], [A^T, 0]]``), defined where
  ``sigma_k`` is simple (the first derivative's error otherwise).  ``'nuc'``: ``1/2 sum_{j,k}
  (a_jk - a_kj)² / (sigma_j + sigma_k) + sum_k |(I - U U^T) E v_k|² / sigma_k``, defined where
  no singular value is 0 (repeated ones are fine).  Stored: the thin ``U``, ``V`` and O(r) (for
  ``'nuc'`` O(r²)) coefficients per matrix, never the ``(mn)²`` block.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._examples import normal
from .._hessian import second_structured
from ._reductions import second_letters, slice_factor, slice_second, slice_text, with_kept_axes, zero_second
from ._registry import define
from ._structure import LETTERS, normalize_axes

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


def _unit(x, axes, ord):
    """``(x / |x|, |x|)`` of the 2-norm (Frobenius) over each slice, from ``x`` scaled by its largest
    entry: numpy's norm underflows to 0 for entries of 1e-160 and below and overflows to inf above
    1e154, where ``x / |x|`` is still a unit vector."""
    scale = np.max(np.abs(x), axis=axes, keepdims=True)
    _nonzero(x, scale, axes, ord)
    y = x / scale
    r = np.sqrt(np.sum(y * y, axis=axes, keepdims=True))
    with np.errstate(over="ignore"):
        return y / r, scale * r


def _split_ties(values, axes, largest):
    """``1/k`` on the ``k`` entries of each slice (over ``axes``) that reach its max (min), 0 elsewhere."""
    best = (np.max if largest else np.min)(values, axis=axes, keepdims=True)
    hit = values == best
    return hit / np.sum(hit, axis=axes, keepdims=True)


def _vector_deriv(x, norm, axes, ord):
    if ord is None or _is(ord, 2):
        return _unit(x, axes, ord)[0]
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
        return _unit(x, axes, ord)[0]
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
        deriv = _unit(x, axes, ord)[0]
    elif kind == "vector":
        deriv = _vector_deriv(x, norm, axes, ord)
    else:
        deriv = _matrix_deriv(x, norm, axes, ord)
    return slice_factor(ans, x, axes, keepdims, deriv, "norm")


# ---- second derivatives ---------------------------------------------------------------------------


def norm_second(ans, x, ord=None, axis=None, keepdims=False):
    axes, kind = norm_axes(x, ord, axis)
    if x.size == 0:
        return zero_second(ans, x)
    norm = with_kept_axes(ans, tuple(sorted(axes)), keepdims)
    two = kind == "flat" or (kind == "vector" and (ord is None or _is(ord, 2))) or (
        kind == "matrix" and (ord is None or (isinstance(ord, str) and ord in _FRO)))
    if two:  # (I - u u^T) / N
        u, norm = _unit(x, axes, ord)
        with np.errstate(divide="ignore", over="ignore"):
            inv = 1 / norm
        if not np.all(np.isfinite(inv)):
            where = slice_text(np.argwhere(~np.isfinite(inv))[0], axes)
            raise ValueError(f"norm (ord={ord!r}): the second derivative (I - u u^T) / |x| overflows at the slice "
                             f"{where}, whose norm is {float(norm[~np.isfinite(inv)][0]):.3g}")
        return slice_second(ans, x, axes, keepdims, "norm", diagonal=inv, pairs=[(u, u, -inv)])
    if kind == "vector":
        g = _vector_deriv(x, norm, axes, ord)  # checks ord and the zero vector
        if ord == 1 or np.isinf(ord):  # piecewise linear
            return zero_second(ans, x)
        return _p_norm_second(ans, x, norm, g, axes, keepdims, ord)
    _matrix_deriv(x, norm, axes, ord)  # checks ord, and repeated or zero singular values
    if _is(ord, 2) or _is(ord, -2) or ord == "nuc":
        return _singular_second(ans, x, axes, keepdims, ord)
    return zero_second(ans, x)  # 1, -1, inf, -inf: piecewise linear


def _p_norm_second(ans, x, norm, g, axes, keepdims, p):
    # d² N / dx_i dx_j = (p - 1) / N ((|x_i| / N)^(p-2) delta_ij - g_i g_j)
    if p < 2 and np.any(x == 0):
        where = tuple(int(i) for i in np.argwhere(x == 0)[0])
        raise ValueError(f"norm (ord={p!r}) has no second derivative where an entry is 0: x{list(where)} is 0, "
                         f"where |x|^(ord - 2) is infinite (ord < 2)")
    scale = (p - 1) / norm
    return slice_second(ans, x, axes, keepdims, "norm", diagonal=scale * (np.abs(x) / norm) ** (p - 2),
                        pairs=[(g, g, -scale)])


def _singular_second(ans, x, axes, keepdims, ord):
    """``d²`` of ``sigma_max`` (ord 2), ``sigma_min`` (-2) or the sum of all singular values (``'nuc'``)."""
    rows, cols = axes
    _, letters, renamed, out, sizes = second_letters(x, axes, keepdims, "norm")
    moved = np.moveaxis(x, axes, (-2, -1))
    U, s, Vt = np.linalg.svd(moved, full_matrices=False)
    left, right = U, np.swapaxes(Vt, -1, -2)  # (batch, m, r), (batch, n, r)
    row, col = letters[rows], letters[cols]
    if moved.shape[-2] < moved.shape[-1]:  # work on the transpose, whose left vectors are V
        left, right, row, col = right, left, col, row
    tall = left.shape[-2] > left.shape[-1]  # I - U U^T is not 0
    batch = "".join(c for ax, c in enumerate(letters) if ax not in axes)
    Row, Col = renamed[letters.index(row)], renamed[letters.index(col)]
    used = set(letters + renamed + out)
    J, K = [c for c in LETTERS if c not in used][:2]
    dtype = ans.dtype
    terms = []

    def term(spec_factors, group2, *arrays):
        needed = {c: sizes[c] for c in out + letters + group2}
        terms.append(second_structured(f"{spec_factors}->{out}|{letters}|{group2}", *arrays, sizes=needed,
                                       dtype=dtype, symmetric=True))

    L, R = batch + row + J, batch + col + J
    L2, R2 = batch + Row + J, batch + Col + J
    delta2 = renamed.replace(Row, row)  # the second group with a delta on the rows (I in I - U U^T)
    if ord == "nuc":
        Lk, Rk, L2k, R2k = (a.replace(J, K) for a in (L, R, L2, R2))
        W = 1 / (s[..., :, None] + s[..., None, :])  # 1 / (sigma_j + sigma_k)
        term(f"{batch}{J}{K},{L},{Rk},{L2},{R2k}", renamed, W, left, right, left, right)
        term(f"{batch}{J}{K},{L},{Rk},{L2k},{R2}", renamed, -W, left, right, left, right)
        if tall:  # sum_k |(I - U U^T) E v_k|² / sigma_k
            inv = 1 / s
            term(f"{batch}{K},{Rk},{R2k}", delta2, inv, right, right)
            term(f"{batch}{K},{Rk},{R2k},{L},{L2}", renamed, -inv, right, right, left, left)
    else:
        k = 0 if ord == 2 else s.shape[-1] - 1
        sk = s[..., k:k + 1]
        gap = sk * sk - s * s
        gap[..., k] = 1
        c = sk / gap
        d = s / gap  # 2 sigma_j / (sigma_k² - sigma_j²), halved for the two symmetric halves
        c[..., k] = d[..., k] = 0
        uk, vk = left[..., :, k], right[..., :, k]
        ck = c - 1 / sk if tall else c  # the projection's U U^T part joins the first sum
        term(f"{batch}{J},{L},{L2},{batch + col},{batch + Col}", renamed, ck, left, left, vk, vk)
        if tall:
            term(f"{batch},{batch + col},{batch + Col}", delta2, 1 / sk[..., 0], vk, vk)
        term(f"{batch}{J},{batch + row},{batch + Row},{R},{R2}", renamed, c, uk, uk, right, right)
        term(f"{batch}{J},{L},{batch + col},{batch + Row},{R2}", renamed, d, left, vk, uk, right)
        term(f"{batch}{J},{batch + row},{R},{L2},{batch + Col}", renamed, d, uk, right, left, vk)
    H = zero_second(ans, x)
    for t in terms:
        H = H + t
    return H


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
        # wide matrices (the SVD's second derivatives on the transpose), a tall 'nuc', reversed axes
        ((n(2, 3),), {"ord": 2}), ((n(2, 4),), {"ord": -2}), ((n(4, 2),), {"ord": "nuc"}),
        ((n(2, 3),), {"ord": "nuc", "axis": (1, 0)}), ((n(3, 2, 2),), {"ord": 2, "axis": (2, 0), "keepdims": True}),
        ((sparse,), {"ord": 3, "axis": -1}), ((n(2, 3),), {"ord": 2.5, "axis": 0, "keepdims": True}),
    ]


define("norm", np.linalg.norm, norm_jac, argnames=("x",), static=("ord", "axis", "keepdims"), builtin=True,
       second=norm_second, examples=_norm_examples)
