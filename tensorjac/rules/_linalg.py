"""Contractions: ``matmul``, ``dot``, ``inner``, ``outer``, ``tensordot`` and ``trace`` (``einsum``
is in ``_linalg_einsum``, ``norm`` in ``_linalg_norm``).

A multilinear map's Jacobian with respect to one operand stores only the other operand(s), with
deltas on the axes they share with the result: ``d(X @ W)/dW = X[a, i] delta[b, j]``.  Each rule
writes its map with einsum letters (:func:`contraction_jac`); nothing of size out x in is built.

* ``matmul``: 1-D operands promoted as numpy does, stacked and broadcast batches.
* ``dot``: a 0-d operand multiplies; 1-D . 1-D is the inner product; N-D . 1-D sums the last
  axis of ``a`` with ``b``; N-D . M-D sums the last axis of ``a`` with the second-to-last of ``b``
  (result axes: ``a``'s others, then ``b``'s others).
* ``inner``: a 0-d operand multiplies; otherwise the last axes are summed.
* ``outer``: both operands are flattened; an N-D operand's Jacobian carries a ``Reshape`` index
  factor (nothing stored) besides the other (flattened) operand.
* ``tensordot``: ``axes`` an int ``N`` (the last ``N`` axes of ``a`` with the first ``N`` of
  ``b``) or a pair of sequences (or ints) of axes; anything else is refused naming ``axes``.
* ``trace``: ``offset``, ``axis1``, ``axis2`` as numpy; the Jacobian is a delta on the other axes
  times the 0/1 selector of the (offset) diagonal, stored as ``Gather`` index factors
  (:func:`diagonal_selector`: O(diagonal length) integers).

Second derivatives: every rule here is bilinear (``trace`` linear), so ``d²/da²`` and ``d²/db²``
are zero and ``d²/da db`` is a constant of deltas (:func:`~tensorjac.rules._structure.bilinear_second`
with the rule's einsum letters): nothing stored, except ``outer`` of an N-D operand, whose
flattening is a ``Reshape`` index factor (nothing stored either).
"""

from __future__ import annotations

import numpy as np

from .._index_factors import Gather, Reshape
from .._hessian import second_structured
from .._jacobian import structured
from ._examples import normal
from ._registry import define
from ._vjp import matmul_vjps
from ._structure import LETTERS, aligned, bilinear_second, linear, normalize_axes, zeros

__all__ = ["matmul_letters", "matmul_jac_0", "matmul_jac_1", "contraction_jac", "diagonal_selector", "tensordot_axes"]

_LOWER, _UPPER = LETTERS[:26], LETTERS[26:]


def contraction_jac(ans, arrays, letters, out, argnum):
    """Jacobian of ``ans = einsum(letters -> out)(*arrays)`` with respect to ``arrays[argnum]``.

    The letters of one operand are distinct; the stored factors are the other operands.

    >>> import numpy as np
    >>> X, W = np.ones((4, 3)), np.ones((3, 2))
    >>> J = contraction_jac(X @ W, (X, W), ("ai", "ib"), "ab", 1)
    >>> J.shape, J.nbytes == X.nbytes
    ((4, 2, 3, 2), True)
    """
    factors = [(a, s) for j, (a, s) in enumerate(zip(arrays, letters)) if j != argnum]
    return linear(ans.shape, out, np.shape(arrays[argnum]), letters[argnum], factors, dtype=ans.dtype)


def diagonal_selector(n1, n2, offset, b, c, spare="Z"):
    """The 0/1 matrix ``D[b, c] = [c == b + offset]`` (``n1 x n2``) as labelled ``Gather`` factors.

    Returns a list of ``(factor, letters)``: one ``Gather`` when every row (or every column)
    has its entry, else two sharing the summed letter ``spare``; an empty diagonal gives None.

    >>> [(f.index.tolist(), s) for f, s in diagonal_selector(2, 3, 1, "b", "c")]
    [([1, 2], 'bc')]
    """
    start1, start2 = max(0, -offset), max(0, offset)
    length = max(0, min(n1 - start1, n2 - start2))
    if length == 0:
        return None
    steps = np.arange(length)
    if length == n1:
        return [(Gather(steps + start2, n2, unique=True), b + c)]
    if length == n2:
        return [(Gather(steps + start1, n1, unique=True), c + b)]
    return [(Gather(steps + start1, n1, unique=True), spare + b), (Gather(steps + start2, n2, unique=True), spare + c)]


# ---- matmul -----------------------------------------------------------------------------------


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


# ---- dot, inner, outer ------------------------------------------------------------------------


def _scalar_letters(a_ndim, b_ndim):
    """A 0-d operand multiplies the other one."""
    letters = _LOWER[: max(a_ndim, b_ndim)]
    return ("", letters, letters) if a_ndim == 0 else (letters, "", letters)


def dot_letters(a_ndim, b_ndim):
    """einsum letters ``(a, b, out)`` of ``np.dot`` for operands of these ranks."""
    if a_ndim == 0 or b_ndim == 0:
        return _scalar_letters(a_ndim, b_ndim)
    a = _LOWER[: a_ndim - 1] + "Z"
    if b_ndim == 1:
        return a, "Z", a[:-1]
    b = _UPPER[: b_ndim - 2] + "Z" + "Y"
    return a, b, a[:-1] + b[:-2] + "Y"


def inner_letters(a_ndim, b_ndim):
    """einsum letters ``(a, b, out)`` of ``np.inner``: the last axes are summed."""
    if a_ndim == 0 or b_ndim == 0:
        return _scalar_letters(a_ndim, b_ndim)
    a, b = _LOWER[: a_ndim - 1] + "Z", _UPPER[: b_ndim - 1] + "Z"
    return a, b, a[:-1] + b[:-1]


def _letters_jac(letters_of, argnum):
    def maker(ans, a, b):
        la, lb, out = letters_of(a.ndim, b.ndim)
        return contraction_jac(ans, (a, b), (la, lb), out, argnum)

    return maker


def _outer_jac(argnum):
    def maker(ans, a, b):
        x, other = (a, b) if argnum == 0 else (b, a)
        mine, theirs = ("Y", "Z") if argnum == 0 else ("Z", "Y")
        flat = other.reshape(-1)
        if x.ndim == 1:
            return linear(ans.shape, "YZ", x.shape, mine, [(flat, theirs)], dtype=ans.dtype)
        letters = _LOWER[: x.ndim]  # x.flat[k] = x[i...]: a Reshape index factor, nothing stored
        return structured(f"{mine}{letters},{theirs}->YZ|{letters}", Reshape((x.size,), x.shape), flat,
                          dtype=ans.dtype)

    return maker


# ---- tensordot --------------------------------------------------------------------------------


def _int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def tensordot_axes(a_shape, b_shape, axes):
    """``(a_axes, b_axes)``: the summed axes of ``np.tensordot(a, b, axes)``, checked and non-negative.

    >>> tensordot_axes((2, 3, 4), (4, 3), ([1, -1], [1, 0]))
    ([1, 2], [1, 0])
    """
    if _int(axes):
        n = int(axes)
        if not 0 <= n <= min(len(a_shape), len(b_shape)):
            raise ValueError(f"tensordot: axes={n} must lie between 0 and the smaller rank, "
                             f"{min(len(a_shape), len(b_shape))} (shapes {a_shape} and {b_shape})")
        pairs = (list(range(len(a_shape) - n, len(a_shape))), list(range(n)))
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise TypeError(f"tensordot: axes must be an int or a pair of sequences of axes, got {axes!r}") from None
        pairs = ([first] if _int(first) else list(first), [second] if _int(second) else list(second))
    if len(pairs[0]) != len(pairs[1]):
        raise ValueError(f"tensordot: axes={axes!r} pairs {len(pairs[0])} axes of a with {len(pairs[1])} of b")
    checked = []
    for side, shape, items in (("a", a_shape, pairs[0]), ("b", b_shape, pairs[1])):
        normalize_axes(tuple(items), len(shape), f"tensordot (axes of {side})")  # ints, in range, no repeat
        checked.append([int(i) % len(shape) for i in items])
    for i, j in zip(*checked):
        if a_shape[i] != b_shape[j]:
            raise ValueError(f"tensordot: axes={axes!r} sums axis {i} of a (size {a_shape[i]}) with axis {j} "
                             f"of b (size {b_shape[j]})")
    return checked[0], checked[1]


def tensordot_letters(a_shape, b_shape, axes):
    a_axes, b_axes = tensordot_axes(a_shape, b_shape, axes)
    la = _LOWER[: len(a_shape)]
    lb = list(_UPPER[: len(b_shape)])
    for i, j in zip(a_axes, b_axes):
        lb[j] = la[i]
    lb = "".join(lb)
    out = "".join(c for i, c in enumerate(la) if i not in a_axes) + "".join(
        c for j, c in enumerate(lb) if j not in b_axes)
    return la, lb, out


def tensordot(a, b, axes=2):
    """``np.tensordot(a, b, axes)`` with ``axes`` checked first (clear errors naming ``axes``).

    >>> tensordot(np.ones((2, 3)), np.ones((3, 4)), 1).shape
    (2, 4)
    """
    a_axes, b_axes = tensordot_axes(np.shape(a), np.shape(b), axes)
    return np.tensordot(a, b, (a_axes, b_axes))


def _tensordot_jac(argnum):
    def maker(ans, a, b, axes=2):
        la, lb, out = tensordot_letters(a.shape, b.shape, axes)
        return contraction_jac(ans, (a, b), (la, lb), out, argnum)

    return maker


# ---- trace ------------------------------------------------------------------------------------


def trace_jac(ans, x, offset=0, axis1=0, axis2=1):
    if not _int(offset) or not _int(axis1) or not _int(axis2):
        raise TypeError(f"trace: offset, axis1 and axis2 must be ints, got {offset!r}, {axis1!r}, {axis2!r}")
    if x.ndim < 2:
        raise ValueError(f"trace needs an array with at least 2 axes, got shape {x.shape}")
    (ax1,), (ax2,) = normalize_axes(axis1, x.ndim, "trace (axis1)"), normalize_axes(axis2, x.ndim, "trace (axis2)")
    if ax1 == ax2:
        raise ValueError(f"trace: axis1 and axis2 must differ, got {axis1} and {axis2}")
    letters = _LOWER[: x.ndim]
    out = "".join(c for i, c in enumerate(letters) if i not in (ax1, ax2))
    selector = diagonal_selector(x.shape[ax1], x.shape[ax2], int(offset), letters[ax1], letters[ax2])
    if selector is None:  # an empty diagonal: the trace is 0 whatever x is
        return zeros(ans, x)
    factors, subs = zip(*selector)
    return structured(f"{','.join(subs)}->{out}|{letters}", *factors, sizes=dict(zip(letters, x.shape)),
                      dtype=ans.dtype)


# ---- Examples and registration ----------------------------------------------------------------


def _matmul_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [
        (n(3), n(3)), (n(2, 3), n(3)), (n(3), n(3, 2)), (n(2, 3), n(3, 2)),
        (n(2, 2, 3), n(3, 2)), (n(3), n(2, 3, 2)), (n(2, 1, 2, 3), n(2, 3, 2)), (n(2, 0), n(0, 3)),
    ]


def _dot_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [
        (n(), n(2, 3)), (n(2, 3), n()), (n(3), n(3)), (n(2, 3), n(3)), (n(2, 2, 3), n(3)), (n(3), n(3, 2)),
        (n(2, 3), n(3, 2)), (n(2, 1, 3), n(2, 3, 2)), (n(1, 3), n(3, 1)), (n(2, 0), n(0, 3)), (n(0, 3), n(3)),
    ]


def _inner_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [(n(), n(3)), (n(3), n(3)), (n(2, 3), n(3)), (n(3), n(2, 3)), (n(2, 3), n(4, 3)), (n(2, 1, 3), n(2, 3)),
            (n(2, 0), n(3, 0)), (n(0, 2), n(2))]


def _outer_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [(n(3), n(2)), (n(2, 3), n(2)), (n(3), n(2, 1, 2)), (n(), n(3)), (n(1), n(1)), (n(0), n(3)),
            (n(2, 0), n(2))]


def _tensordot_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [
        ((n(2, 3, 4), n(3, 4, 2)), {}), ((n(2, 3), n(3, 4)), {"axes": 1}), ((n(2, 3), n(4)), {"axes": 0}),
        ((n(2, 3, 4), n(4, 3, 2)), {"axes": ([1, 2], [1, 0])}), ((n(3, 2), n(3, 4)), {"axes": (0, 0)}),
        ((n(2, 3), n(2, 3)), {"axes": ([-1, 0], [-1, -2])}), ((n(), n(3)), {"axes": 0}),
        ((n(1, 3), n(3, 1)), {"axes": 1}), ((n(2, 0), n(0, 3)), {"axes": 1}),
    ]


def _trace_examples(rng):
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [
        ((n(3, 3),), {}), ((n(2, 4),), {"offset": 1}), ((n(4, 2),), {"offset": -1}), ((n(3, 3),), {"offset": -2}),
        ((n(4, 3),), {"offset": 1}), ((n(3, 4),), {"offset": -1}),
        ((n(2, 3, 3),), {"axis1": 1, "axis2": 2}), ((n(3, 2, 3),), {"axis1": -1, "axis2": 0, "offset": 1}),
        ((n(2, 2),), {"offset": 5}), ((n(1, 1, 2),), {}), ((n(0, 3),), {}), ((n(2, 2, 0),), {}),
    ]


def _matmul_second(ans, x1, x2):
    a, b, out = matmul_letters(x1.ndim, x2.ndim, ans.ndim)
    return bilinear_second(ans, x1, x2, out, a, b)


def _letters_second(letters_of):
    def maker(ans, a, b, **options):
        la, lb, out = letters_of(a, b, **options)
        return bilinear_second(ans, a, b, out, la, lb)

    return maker


def _outer_second(ans, a, b):
    # d² out[Y, Z] / da db = delta(Y, flat a) delta(Z, flat b): Reshape index factors for N-D operands
    letters_a, letters_b = _LOWER[: a.ndim], _UPPER[: b.ndim]
    if a.ndim == 1 and b.ndim == 1:
        return bilinear_second(ans, a, b, "YZ", "Y", "Z")
    factors, subs = [], []
    group_a, group_b = "Y", "Z"
    if a.ndim != 1:
        factors.append(Reshape((a.size,), a.shape))
        subs.append("Y" + letters_a)
        group_a = letters_a
    if b.ndim != 1:
        factors.append(Reshape((b.size,), b.shape))
        subs.append("Z" + letters_b)
        group_b = letters_b
    sizes = {"Y": a.size, "Z": b.size, **dict(zip(letters_a, a.shape)), **dict(zip(letters_b, b.shape))}
    return second_structured(f"{','.join(subs)}->YZ|{group_a}|{group_b}", *factors, sizes=sizes, dtype=ans.dtype)


define("matmul", np.matmul, matmul_jac_0, matmul_jac_1, argnames=("x1", "x2"), domain=_matmul_shapes, builtin=True,
       examples=_matmul_examples, second={(0, 1): _matmul_second}, vjp=matmul_vjps())
define("dot", np.dot, _letters_jac(dot_letters, 0), _letters_jac(dot_letters, 1), argnames=("a", "b"), builtin=True,
       examples=_dot_examples, second={(0, 1): _letters_second(lambda a, b: dot_letters(a.ndim, b.ndim))})
define("inner", np.inner, _letters_jac(inner_letters, 0), _letters_jac(inner_letters, 1), argnames=("a", "b"),
       builtin=True, examples=_inner_examples,
       second={(0, 1): _letters_second(lambda a, b: inner_letters(a.ndim, b.ndim))})
define("outer", np.outer, _outer_jac(0), _outer_jac(1), argnames=("a", "b"), builtin=True, examples=_outer_examples,
       second={(0, 1): _outer_second})
define("tensordot", tensordot, _tensordot_jac(0), _tensordot_jac(1), argnames=("a", "b"), static=("axes",),
       functions=(np.tensordot,), builtin=True, examples=_tensordot_examples,
       second={(0, 1): _letters_second(lambda a, b, axes=2: tensordot_letters(a.shape, b.shape, axes))})
define("trace", np.trace, trace_jac, argnames=("x",), static=("offset", "axis1", "axis2"), builtin=True, second="linear",
       examples=_trace_examples)
