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
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._index_factors import Reshape
from .._jacobian import structured
from ._examples import normal
from ._registry import define
from ._structure import LETTERS, linear, normalize_axes

__all__ = ["reduced_letters", "slice_factor", "others_product", "with_kept_axes", "slice_text"]


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


def slice_text(index, axes, name="x"):
    """``x[0, :, 2]``: the slice of ``x`` reduced over ``axes`` at ``index`` (an index of the kept shape).

    >>> slice_text((1, 0, 2), (1,))
    'x[1, :, 2]'
    """
    if not len(index):
        return name
    return name + "[" + ", ".join(":" if ax in axes else str(int(i)) for ax, i in enumerate(index)) + "]"


def std_jac(ans, x, axis=None, ddof=0, keepdims=False):
    axes, centered, dof = _centered(x, axis, ddof, "std")
    if x.size == 0 or _count(x, axes) == 1:  # std of one entry is identically 0
        return slice_factor(ans, x, axis, keepdims, np.zeros_like(x), "std")
    sd = with_kept_axes(ans, axes, keepdims)
    flat = (np.max(x, axis=axes, keepdims=True) == np.min(x, axis=axes, keepdims=True)) | (sd == 0)
    if np.any(flat):
        where = slice_text(np.argwhere(flat)[0], axes)
        raise ValueError(
            f"std is not differentiable where a slice is constant: the slice {where} (axis={axis!r}) has "
            f"standard deviation 0, where (x - mean) / ((n - ddof) * std) is 0/0 and the one-sided "
            "derivatives differ; differentiate var, or sqrt(var + eps), instead"
        )
    return slice_factor(ans, x, axis, keepdims, centered / (dof * sd), "std")


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
define("sum", np.sum, sum_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_sum_examples)
define("mean", np.mean, mean_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_axis_examples)
define("nansum", np.nansum, nansum_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_axis_examples)
define("nanmean", np.nanmean, nanmean_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", examples=_axis_examples)
define("prod", np.prod, prod_jac, argnames=("x",), static=_AXIS, builtin=True, examples=_prod_examples)
define("max", np.max, max_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", functions=(np.amax,),
       examples=_extreme_examples)
define("min", np.min, min_jac, argnames=("x",), static=_AXIS, builtin=True, second="linear", functions=(np.amin,),
       examples=_extreme_examples)
define("var", np.var, var_jac, argnames=("x",), static=("axis", "ddof", "keepdims"), builtin=True,
       examples=_var_examples)
define("std", np.std, std_jac, argnames=("x",), static=("axis", "ddof", "keepdims"), builtin=True,
       examples=_var_examples)
define("cumsum", np.cumsum, cumsum_jac, argnames=("x",), static=("axis",), builtin=True, second="linear", examples=_cumsum_examples)
