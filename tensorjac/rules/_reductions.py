"""Reductions along axes (``axis``, ``keepdims``): sum, mean, nansum, nanmean, prod, max, min, var, std,
and cumsum.

A reduction's Jacobian keeps a delta on the axes it keeps and a constant (or a factor of the
input's shape) on the axes it reduces:

* ``sum`` stores nothing, ``mean`` one scalar (``1/n``); ``nansum``/``nanmean`` the same when
  there is no nan, else a factor of the input's shape (0 at the nans, which do not count);
* ``prod``, ``max``, ``min``, ``var``, ``std`` one factor of the input's shape: the derivative of
  each result entry with respect to each entry of its slice (the delta on the kept axes says
  that an entry only moves the result of its own slice);
* ``cumsum`` a lower-triangular ``n x n`` factor along its axis and deltas on the others; with
  ``axis=None`` it works on the flattened input (a ``Reshape`` index factor, nothing stored).

Conventions:

* ``prod``: the derivative with respect to an entry is the product of the *other* entries of its
  slice, computed from prefix and suffix products without any division, so it is exact with one
  zero (the zero's derivative is the product of the rest, the others get 0) and with several
  zeros (all derivatives 0).
* ``max``/``min``: ties split evenly among the entries that reach the extreme (each of ``k``
  tied entries gets ``1/k``), the package's convention for ``maximum``.  The derivatives of a
  slice sum to 1, as ``max(x + t) = max(x) + t`` requires, and this is JAX's convention; for
  two tied entries it is also the symmetric (central-difference) derivative.
* ``var``/``std`` (``ddof`` as in numpy): ``d var/dx = 2 (x - mean) / (n - ddof)`` and
  ``d std/dx = (x - mean) / ((n - ddof) std)``.  ``ddof >= n`` is refused (no degrees of
  freedom left: numpy's value is inf or nan).  ``std`` is not differentiable where a slice of
  two or more entries is constant (``std = 0``: the formula is 0/0 and the one-sided
  derivatives differ): a ``ValueError`` names the slice and the axis.  A slice of a single
  entry has ``std`` identically 0, so its derivative there is 0.

Second derivatives (:func:`slice_second`: the kept axes are deltas across the three groups, and
within a slice of ``n`` entries a block stores at most O(n) numbers, never the ``n x n`` block
unless a fallback below needs it):

* ``sum``, ``mean``, ``nansum``, ``nanmean``, ``cumsum`` are linear; ``max``/``min`` are
  piecewise linear (with the tie convention above): all zero.
* ``prod``: ``d²P / dx_i dx_j`` is the product of the slice without entries ``i`` and ``j``
  (``i != j``), 0 on the diagonal.  Stored as ``m n^T + n m^T - diag(2 m n)`` with two vectors
  of the input's shape, chosen by the number ``z`` of zeros in the slice so that nothing
  divides by zero: ``z = 0``: ``m = g / 2`` (``g`` the product of the others, from prefix and
  suffix products) and ``n = 1/x``; ``z = 1``: ``m = g`` (non-zero only at the zero) and
  ``n = 1/x`` elsewhere (1 at the zero); ``z = 2``: ``m = Q/2`` at the two zeros (``Q`` the
  product of the non-zero entries) and ``n`` the 0/1 indicator of the zeros; ``z >= 3``: zero.
  When a reciprocal overflows or a product under/overflows (subnormal or huge entries), the
  exact ``n x n`` block of every slice is stored instead (each entry a product without division).
* ``var``: ``2 (delta_ij - 1/n) / (n - ddof)``: two scalars.
* ``std``: ``d²std = d²var / (2 std) - dvar dvar^T / (4 std^3) = (delta_ij - 1/n) / ((n - ddof)
  std) - u_i u_j / std`` with ``u = d std / dx``: per-slice scalars and ``u``; a constant slice
  raises the same ``ValueError`` as the first derivative, a one-entry slice gives 0.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._hessian import Hessian, second_structured
from .._index_factors import Reshape
from .._jacobian import structured
from ._examples import normal
from ._registry import define
from ._vjp import reduction_vjp
from ._structure import LETTERS, linear, normalize_axes

__all__ = ["reduced_letters", "slice_factor", "others_product", "with_kept_axes", "slice_text", "second_letters",
           "slice_second", "zero_second"]


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


def slice_factor(ans, x, axis, keepdims, deriv, what):
    """Jacobian of a reduction whose derivative with respect to ``x`` (within each slice) is ``deriv``.

    ``deriv`` has the shape of ``x``: entry ``i`` is the derivative of the result of ``i``'s
    slice with respect to ``x[i]``.  It is the one stored factor; the kept axes are deltas.

    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> J = slice_factor(x.sum(axis=1), x, 1, False, 2 * x, "demo")
    >>> J.dense()[0]
    array([[2., 4.],
           [0., 0.]])
    """
    letters, out = reduced_letters(x, axis, keepdims, what)
    deriv = np.asarray(deriv, dtype=ans.dtype)
    return linear(ans.shape, out, x.shape, letters, [(deriv, letters)], dtype=ans.dtype)


def with_kept_axes(ans, axes, keepdims):
    """The result with its reduced axes kept (size 1), to broadcast against the input.

    >>> with_kept_axes(np.zeros(3), (0, 2), False).shape
    (1, 3, 1)
    """
    return ans if keepdims else np.expand_dims(ans, axes)


def _count(x, axes) -> int:
    return math.prod(x.shape[a] for a in axes)


# ---- second derivatives of reductions ---------------------------------------------------------


def second_letters(x, axis, keepdims, what):
    """Letters of a reduction's second derivative: ``(axes, letters, renamed, out, sizes)``.

    ``letters`` name ``x``'s axes in the first input group; ``renamed`` in the second, with the
    reduced axes renamed (the kept axes stay shared: deltas across the three groups); ``out``
    the result's letters (:func:`reduced_letters`); ``sizes`` the size of every letter.

    >>> second_letters(np.zeros((2, 3)), 1, False, "demo")[1:4]
    ('ab', 'aZ', 'a')
    """
    axes = normalize_axes(axis, np.ndim(x), what)
    letters, out = reduced_letters(x, axis, keepdims, what)
    fresh = iter(c for c in LETTERS[::-1] if c not in letters + out)
    renamed = "".join(next(fresh) if ax in axes else c for ax, c in enumerate(letters))
    sizes = dict(zip(letters, np.shape(x)))
    sizes.update(zip(renamed, np.shape(x)))
    sizes.update({c: 1 for c in out if c not in sizes})
    return axes, letters, renamed, out, sizes


def zero_second(ans, x) -> Hessian:
    """The zero second derivative ``d²ans / dx²`` (nothing stored)."""
    return Hessian.zeros(np.shape(ans), np.shape(x), dtype=ans.dtype)


def _labelled(arr, letters, shape, dtype):
    """``arr`` (0-d, or broadcastable to ``shape`` with as many axes) with its broadcast size-1 axes squeezed."""
    arr = np.asarray(arr, dtype=dtype)
    if arr.ndim == 0:
        return arr, ""
    keep = [ax for ax in range(arr.ndim) if not (arr.shape[ax] == 1 and shape[ax] != 1)]
    return arr.reshape([arr.shape[ax] for ax in keep]), "".join(letters[ax] for ax in keep)


def slice_second(ans, x, axis, keepdims, what, diagonal=None, constant=None, pairs=()) -> Hessian:
    """Second derivative ``d²ans / dx²`` of a reduction of ``x`` over ``axis``: within each slice,

        ``H[i, j] = diagonal[i] delta(i, j) + constant + sum over (f, g, c) in pairs of f[i] g[j] c``

    and zero between entries of different slices (the kept axes are deltas across the three
    groups).  Each array is 0-d or has ``x.ndim`` axes broadcastable to ``x``: ``diagonal``, ``f``
    and ``g`` are of ``x``'s shape (or per slice), ``constant`` and ``c`` per slice (size 1 on the
    reduced axes, as with ``keepdims``); None leaves a part out.  Only these arrays are stored.

    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> H = slice_second(x.sum(axis=1), x, 1, False, "demo", diagonal=np.asarray(2.0), constant=np.asarray(-1.0))
    >>> H.dense()[0, 0, 0], H.nbytes
    (array([[ 1., -1.],
           [ 0.,  0.]]), 16)
    """
    axes, letters, renamed, out, sizes = second_letters(x, axis, keepdims, what)
    if x.size == 0:
        return zero_second(ans, x)
    dtype, shape = ans.dtype, x.shape

    def term(groups2, *parts):
        arrays, subs = [], []
        for arr, names in parts:
            arr, sub = _labelled(arr, names, shape, dtype)
            arrays.append(arr)
            subs.append(sub)
        needed = {c: sizes[c] for c in out + letters + groups2}
        return second_structured(f"{','.join(subs)}->{out}|{letters}|{groups2}", *arrays, sizes=needed, dtype=dtype,
                                 symmetric=True)

    H = zero_second(ans, x)
    if diagonal is not None:
        H = H + term(letters, (diagonal, letters))
    if constant is not None:
        H = H + term(renamed, (constant, letters))
    for f, g, c in pairs:
        parts = [(f, letters), (g, renamed)] + ([] if c is None else [(c, letters)])
        H = H + term(renamed, *parts)
    return H


# ---- sum, mean --------------------------------------------------------------------------------


def sum_jac(ans, x, axis=None, keepdims=False):
    letters, out = reduced_letters(x, axis, keepdims, "sum")
    return linear(ans.shape, out, x.shape, letters, dtype=ans.dtype)


def mean_jac(ans, x, axis=None, keepdims=False):
    letters, out = reduced_letters(x, axis, keepdims, "mean")
    n = _count(x, normalize_axes(axis, x.ndim, "mean"))
    scale = np.asarray(1 / max(n, 1), dtype=ans.dtype)  # n == 0: the input is empty, so is the Jacobian
    return linear(ans.shape, out, x.shape, letters, [(scale, "")], dtype=ans.dtype)


def nansum_jac(ans, x, axis=None, keepdims=False):
    missing = np.isnan(x)
    if not missing.any():  # as sum: nothing stored
        return sum_jac(ans, x, axis, keepdims)
    return slice_factor(ans, x, axis, keepdims, ~missing, "nansum")


def nanmean_jac(ans, x, axis=None, keepdims=False):
    present = ~np.isnan(x)
    if present.all():  # as mean: one scalar
        return mean_jac(ans, x, axis, keepdims)
    axes = normalize_axes(axis, x.ndim, "nanmean")
    count = np.maximum(np.sum(present, axis=axes, keepdims=True), 1)  # an all-nan slice: derivative 0
    return slice_factor(ans, x, axis, keepdims, present / count, "nanmean")


# ---- prod -------------------------------------------------------------------------------------


def others_product(x, axes):
    """For each entry of ``x``, the product of the other entries of its slice over ``axes``.

    Prefix and suffix products, no division: exact when the slice has zeros.

    >>> others_product(np.array([2.0, 0.0, 3.0, 4.0]), (0,)).tolist()
    [0.0, 24.0, 0.0, 0.0]
    """
    n = _count(x, axes)
    if n == 0 or x.size == 0:
        return np.zeros_like(x)
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[: len(rest)] + (n,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=x.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.transpose((before * after).reshape(moved.shape), np.argsort(rest + list(axes)))


def prod_jac(ans, x, axis=None, keepdims=False):
    axes = normalize_axes(axis, x.ndim, "prod")
    return slice_factor(ans, x, axis, keepdims, others_product(x, axes), "prod")


def pair_products(x, axes):
    """For each slice of ``x`` over ``axes``, the ``n x n`` products of the slice without entries
    ``i`` and ``j`` (``i != j``), 0 on the diagonal: shape ``kept + reduced + reduced``.

    Every entry is a product (prefix and suffix products of the slice with entry ``i`` set to 1),
    never a quotient.

    >>> pair_products(np.array([2.0, 0.0, 3.0]), (0,)).tolist()
    [[0.0, 3.0, 0.0], [3.0, 0.0, 2.0], [0.0, 2.0, 0.0]]
    """
    rest = [a for a in range(x.ndim) if a not in axes]
    kept, reduced = [x.shape[a] for a in rest], [x.shape[a] for a in axes]
    n = math.prod(reduced)
    flat = np.transpose(x, rest + list(axes)).reshape(kept + [n])
    rows = np.repeat(flat[..., None, :], n, axis=-2)  # rows[..., i, :]: the slice with entry i set to 1
    diag = np.arange(n)
    rows[..., diag, diag] = 1
    with np.errstate(over="ignore"):  # the products of all but one entry may overflow: they are set to 0 below
        pairs = others_product(rows, (rows.ndim - 1,))
    pairs[..., diag, diag] = 0
    return pairs.reshape(kept + reduced + reduced)


def prod_second(ans, x, axis=None, keepdims=False):
    axes, letters, renamed, out, sizes = second_letters(x, axis, keepdims, "prod")
    if x.size == 0 or _count(x, axes) < 2:  # a slice of one entry: prod is the entry itself, linear
        return zero_second(ans, x)
    zero = x == 0
    count = np.sum(zero, axis=axes, keepdims=True)  # zeros per slice
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        g = others_product(x, axes)
        w = np.where(zero, 1, x).astype(ans.dtype)
        rest = others_product(w, axes)  # at a zero: the product of the non-zero entries
        m = np.select([count == 0, count == 1, count == 2], [g / 2, g, rest * zero / 2], 0).astype(ans.dtype)
        n = np.where(count == 2, zero, 1 / w).astype(ans.dtype)
    needed = (count == 0) | ((count <= 2) & zero)  # where m must be non-zero (it is, unless under/overflow)
    if np.all(np.isfinite(m)) and np.all(np.isfinite(n)) and not np.any(needed & (m == 0)):
        return slice_second(ans, x, axis, keepdims, "prod", diagonal=-2 * m * n, pairs=[(m, n, None), (n, m, None)])
    # subnormal or huge entries: the exact n x n block of every slice, each entry a product
    kept = "".join(c for ax, c in enumerate(letters) if ax not in axes)
    red1 = "".join(letters[ax] for ax in axes)
    red2 = "".join(renamed[ax] for ax in axes)
    block = pair_products(x, axes).astype(ans.dtype, copy=False)
    needed_sizes = {c: sizes[c] for c in out + letters + renamed}
    return second_structured(f"{kept}{red1}{red2}->{out}|{letters}|{renamed}", block, sizes=needed_sizes,
                             dtype=ans.dtype, symmetric=True)


# ---- max, min ---------------------------------------------------------------------------------


def _extreme_jac(what):
    def maker(ans, x, axis=None, keepdims=False):
        axes = normalize_axes(axis, x.ndim, what)
        hit = x == with_kept_axes(ans, axes, keepdims)
        count = np.sum(hit, axis=axes, keepdims=True)
        deriv = np.divide(hit, np.maximum(count, 1), dtype=ans.dtype)  # ties share the derivative evenly
        return slice_factor(ans, x, axis, keepdims, deriv, what)

    maker.__name__ = f"{what}_jac"
    return maker


max_jac, min_jac = _extreme_jac("max"), _extreme_jac("min")

# ---- var, std ---------------------------------------------------------------------------------


def _centered(x, axis, ddof, what):
    """``(axes, x - mean, n - ddof)`` after checking ``ddof``."""
    if isinstance(ddof, bool) or not isinstance(ddof, numbers.Real):
        raise TypeError(f"{what}: ddof must be a real number, got {ddof!r}")
    axes = normalize_axes(axis, x.ndim, what)
    n = _count(x, axes)
    if x.size and n - ddof <= 0:
        raise ValueError(
            f"{what}: ddof={ddof} leaves n - ddof = {n - ddof} <= 0 degrees of freedom for slices of {n} "
            f"entries (axis={axis!r}); the value is inf or nan there"
        )
    if x.size == 0:
        return axes, np.zeros_like(x), 1
    return axes, x - np.mean(x, axis=axes, keepdims=True), n - ddof


def var_jac(ans, x, axis=None, ddof=0, keepdims=False):
    _, centered, dof = _centered(x, axis, ddof, "var")
    return slice_factor(ans, x, axis, keepdims, centered * (2 / dof), "var")


def var_second(ans, x, axis=None, ddof=0, keepdims=False):
    # d² var / dx_i dx_j = 2 (delta_ij - 1/n) / (n - ddof) within a slice: two scalars
    axes, _, dof = _centered(x, axis, ddof, "var")
    if x.size == 0:
        return zero_second(ans, x)
    n = _count(x, axes)
    return slice_second(ans, x, axis, keepdims, "var", diagonal=np.asarray(2 / dof),
                        constant=np.asarray(-2 / (n * dof)))


def slice_text(index, axes, name="x"):
    """``x[0, :, 2]``: the slice of ``x`` reduced over ``axes`` at ``index`` (an index of the kept shape).

    >>> slice_text((1, 0, 2), (1,))
    'x[1, :, 2]'
    """
    if not len(index):
        return name
    return name + "[" + ", ".join(":" if ax in axes else str(int(i)) for ax, i in enumerate(index)) + "]"


def _std_of(ans, x, axes, axis, keepdims):
    """The standard deviation per slice (kept axes), after refusing a constant slice."""
    sd = with_kept_axes(ans, axes, keepdims)
    flat = (np.max(x, axis=axes, keepdims=True) == np.min(x, axis=axes, keepdims=True)) | (sd == 0)
    if np.any(flat):
        where = slice_text(np.argwhere(flat)[0], axes)
        raise ValueError(
            f"std is not differentiable where a slice is constant: the slice {where} (axis={axis!r}) has "
            f"standard deviation 0, where (x - mean) / ((n - ddof) * std) is 0/0 and the one-sided "
            "derivatives differ; differentiate var, or sqrt(var + eps), instead"
        )
    return sd


def std_jac(ans, x, axis=None, ddof=0, keepdims=False):
    axes, centered, dof = _centered(x, axis, ddof, "std")
    if x.size == 0 or _count(x, axes) == 1:  # std of one entry is identically 0
        return slice_factor(ans, x, axis, keepdims, np.zeros_like(x), "std")
    sd = _std_of(ans, x, axes, axis, keepdims)
    return slice_factor(ans, x, axis, keepdims, centered / (dof * sd), "std")


def std_second(ans, x, axis=None, ddof=0, keepdims=False):
    # d² std = d² var / (2 std) - dvar dvar^T / (4 std^3) = (delta_ij - 1/n) / (dof std) - u_i u_j / std
    # with u = d std / dx = (x - mean) / (dof std)
    axes, centered, dof = _centered(x, axis, ddof, "std")
    n = _count(x, axes)
    if x.size == 0 or n == 1:  # std of one entry is identically 0
        return zero_second(ans, x)
    sd = _std_of(ans, x, axes, axis, keepdims)
    inv = 1 / (dof * sd)
    u = centered * inv
    return slice_second(ans, x, axis, keepdims, "std", diagonal=inv, constant=-inv / n, pairs=[(u, u, -1 / sd)])


# ---- cumsum -----------------------------------------------------------------------------------


def cumsum_jac(ans, x, axis=None):
    """``cumsum[k] = sum_{j <= k} x[j]`` along ``axis``: a lower-triangular factor (``axis=None``: flattened)."""
    if axis is None and x.ndim != 1:
        n = x.size
        letters = LETTERS[: x.ndim]
        tri = np.tri(n, dtype=ans.dtype)
        return structured(f"YZ,Z{letters}->Y|{letters}", tri, Reshape((n,), x.shape), dtype=ans.dtype)
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, (int, np.integer))):
        raise TypeError(f"cumsum: axis must be None or an int, got {axis!r}")
    (ax,) = normalize_axes(0 if axis is None else axis, x.ndim, "cumsum")
    letters = LETTERS[: x.ndim]
    out = letters[:ax] + "Z" + letters[ax + 1:]
    tri = np.tri(x.shape[ax], dtype=ans.dtype)
    return linear(ans.shape, out, x.shape, letters, [(tri, "Z" + letters[ax])], dtype=ans.dtype)


# ---- Examples and registration ----------------------------------------------------------------


def _axis_examples(rng, draw=normal):
    return [
        ((draw(rng, 2, 3),), {}), ((draw(rng, 2, 3),), {"axis": 0}), ((draw(rng, 2, 3, 2),), {"axis": (0, 2)}),
        ((draw(rng, 2, 3),), {"axis": -1, "keepdims": True}), ((draw(rng, 1, 3),), {"axis": 0}),
        ((draw(rng),), {}), ((draw(rng, 2, 3, 2),), {"axis": (-1, 0), "keepdims": True}),
        ((draw(rng, 2, 3),), {"keepdims": True}), ((draw(rng, 0, 3),), {"axis": 1}),
    ]


def _sum_examples(rng):
    return _axis_examples(rng) + [((normal(rng, 0, 3),), {"axis": 0}), ((normal(rng, 2, 0),), {"axis": 1})]


def _prod_examples(rng):
    one_zero = normal(rng, 3, 4)
    one_zero[1, 2] = 0.0
    zeros = normal(rng, 2, 5)
    zeros[0, [1, 3]] = 0.0  # two zeros in the first row: every derivative of that row is 0
    zeros[1, 4] = 0.0
    return _axis_examples(rng) + [
        ((one_zero,), {"axis": 1}), ((one_zero,), {}), ((zeros,), {"axis": -1}), ((zeros,), {"axis": 0}),
        ((np.zeros((2, 2)),), {"axis": 1}),
        ((np.array([[0.0, 2.0, 0.0, -1.5, 0.0], [0.0, 0.5, 1.5, 0.0, 2.0]]),), {"axis": 1}),  # three zeros, two
    ]


def _extreme_examples(rng):
    ties = normal(rng, 3, 4)
    ties[0, [0, 2]] = 5.0  # a tie for the maximum in row 0, column 1 of a pair of rows
    ties[1, [1, 3]] = -5.0  # a tie for the minimum in row 1
    wide = np.array([[1.0, 3.0, 3.0, 2.0], [-1.0, -1.0, 0.0, 4.0]])
    return _axis_examples(rng) + [((ties,), {"axis": 1}), ((ties,), {}), ((wide,), {"axis": 1, "keepdims": True})]


def _var_examples(rng):
    return _axis_examples(rng)[:5] + [
        ((normal(rng, 2, 4),), {"axis": 1, "ddof": 1}), ((normal(rng, 3, 2, 2),), {"axis": (1, 2), "ddof": 2}),
        ((normal(rng, 4),), {"ddof": 1, "keepdims": True}), ((normal(rng, 3, 1),), {"axis": 1}),
        ((normal(rng, 0, 3),), {"axis": 1}), ((normal(rng, 2, 3),), {"axis": (-1,), "keepdims": True}),
    ]


def _cumsum_examples(rng):
    return [
        ((normal(rng, 4),), {}), ((normal(rng, 2, 3),), {"axis": 0}), ((normal(rng, 2, 3),), {"axis": -1}),
        ((normal(rng, 2, 3, 2),), {}), ((normal(rng),), {}), ((normal(rng, 2, 1),), {"axis": 1}),
        ((normal(rng, 0, 3),), {"axis": 1}), ((normal(rng, 2, 0),), {}),
    ]


_AXIS = ("axis", "keepdims")
define("sum", np.sum, sum_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_sum_examples,
       vjp={0: reduction_vjp()})
define("mean", np.mean, mean_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_axis_examples,
       vjp={0: reduction_vjp(lambda x, axes: 1 / max(_count(x, axes), 1))})
define("nansum", np.nansum, nansum_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_axis_examples)
define("nanmean", np.nanmean, nanmean_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_axis_examples)
define("prod", np.prod, prod_jac, argnames=("x",), static=_AXIS, builtin=True, second=prod_second,
       examples=_prod_examples)
define("max", np.max, max_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", functions=(np.amax,),
       examples=_extreme_examples)
define("min", np.min, min_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", functions=(np.amin,),
       examples=_extreme_examples)
define("var", np.var, var_jac, argnames=("x",), static=("axis", "ddof", "keepdims"), builtin=True,
       second=var_second, examples=_var_examples)
define("std", np.std, std_jac, argnames=("x",), static=("axis", "ddof", "keepdims"), builtin=True,
       second=std_second, examples=_var_examples)
define("cumsum", np.cumsum, cumsum_jac, argnames=("x",), static=("axis",), builtin=True, second="linear", examples=_cumsum_examples)
