"""Structure helpers for rules: linear maps written with einsum letters, elementwise maps, broadcasting.

Rules build their Jacobians here through :func:`tensorjac._jacobian.structured` (no copy, no
finiteness pass; the registry makes the arguments and value that the result keeps read-only).
"""

from __future__ import annotations

import functools
import math
import string

import numpy as np

from .._jacobian import Jacobian, diagonal_of, from_template, structured
from .._terms import parse_spec

__all__ = ["LETTERS", "linear", "aligned", "elementwise", "normalize_axes", "zeros", "gather_flat", "embed_flat",
           "reshaped", "elementwise_second", "bilinear_second"]

LETTERS = string.ascii_letters


def linear(out_shape, out_letters, arg_shape, arg_letters, factors=(), dtype=None) -> Jacobian:
    """Jacobian of an output that is linear in one argument, with coefficient the product of ``factors``.

    Letters name axes as in einsum: an argument letter that is also an output letter is a
    delta.  A size-1 argument (or factor) axis whose letter has a larger size elsewhere was
    broadcast: the argument axis gets a letter of its own (so the output axes it was
    broadcast along are summed by any contraction) and the factor axis is squeezed.  The
    structure is worked out once per shapes and letters and cached.
    """
    arrays = [np.asarray(f) for f, _ in factors]
    key = tuple((a.shape, letters) for a, (_, letters) in zip(arrays, factors))
    template, shapes = _linear_template(tuple(out_shape), out_letters, tuple(arg_shape), arg_letters, key)
    arrays = [a if a.shape == shape else a.reshape(shape) for a, shape in zip(arrays, shapes)]
    return from_template(template, arrays, dtype)


@functools.lru_cache(maxsize=4096)
def _linear_template(out_shape, out_letters, arg_shape, arg_letters, factor_keys):
    sizes = dict(zip(out_letters, out_shape))
    for shape, letters in [(arg_shape, arg_letters)] + list(factor_keys):
        for size, letter in zip(shape, letters):
            known = sizes.get(letter)
            if known is None or (known == 1 and size != 1 and letter not in out_letters):
                sizes[letter] = size  # a size-1 axis broadcasts to the other size (0 included)
    spare = iter(c for c in LETTERS if c not in sizes)
    in_letters = ""
    for size, letter in zip(arg_shape, arg_letters):
        if size == 1 and sizes[letter] != 1:
            letter = next(spare)
            sizes[letter] = 1
        in_letters += letter
    shapes, subs = [], []
    for shape, letters in factor_keys:
        keep = [ax for ax, letter in enumerate(letters) if not (shape[ax] == 1 and sizes[letter] != 1)]
        shapes.append(tuple(shape[ax] for ax in keep))
        subs.append("".join(letters[ax] for ax in keep))
    spec = f"{','.join(subs)}->{out_letters}|{in_letters}"
    return parse_spec(spec, tuple(shapes), tuple(sorted(sizes.items()))), tuple(shapes)


def aligned(ndim, out_letters):
    """Letters of an operand broadcast against ``out_letters`` (numpy aligns trailing axes)."""
    return out_letters[len(out_letters) - ndim:]


def elementwise(ans, x, deriv=None) -> Jacobian:
    """Jacobian of an elementwise map of ``x`` (maybe broadcast to ``ans``) with derivative ``deriv``."""
    if x.shape == ans.shape and (deriv is None or np.shape(deriv) == ans.shape):
        # the commonest case, a plain diagonal (or identity), built without the general machinery
        return diagonal_of(ans.shape, None if deriv is None else np.asarray(deriv, dtype=ans.dtype), ans.dtype)
    out = LETTERS[: ans.ndim]
    factors = [] if deriv is None else [(np.asarray(deriv, dtype=ans.dtype), aligned(np.ndim(deriv), out))]
    return linear(ans.shape, out, x.shape, aligned(x.ndim, out), factors, dtype=ans.dtype)


def normalize_axes(axis, ndim: int, what: str) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple of ints) as sorted non-negative axes of an array of ``ndim`` axes.

    Raises numpy's ``AxisError`` (a ``ValueError``) naming the axis and the rank, or
    ``TypeError`` for a non-integer axis.
    """
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{what}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"{what}: axis {a} is out of bounds for an array of {ndim} dimension(s)")
        a = int(a) % ndim
        if a in axes:
            raise ValueError(f"{what}: axis {a} is repeated in axis={axis!r}")
        axes.append(a)
    return tuple(sorted(axes))


def zeros(ans, x) -> Jacobian:
    """The zero Jacobian of ``ans`` with respect to ``x`` (nothing stored)."""
    return Jacobian.zeros(ans.shape, np.shape(x), dtype=ans.dtype)


def _flat_factors(out_shape, in_shape, gather, out_side_is_a: bool, dtype) -> Jacobian:
    """One term: Reshape(out -> flat) , Gather , Reshape(flat -> in), with the letters wired."""
    from .._index_factors import Reshape

    out_letters = LETTERS[: len(out_shape)]
    in_letters = LETTERS[len(out_shape): len(out_shape) + len(in_shape)]
    p, q = "Y", "Z"  # the flat output and input positions
    a, b = (p, q) if out_side_is_a else (q, p)
    factors, subs = [gather], [a + b]
    factors.insert(0, Reshape(out_shape, (math.prod(out_shape),)))
    subs.insert(0, out_letters + p)
    factors.append(Reshape((math.prod(in_shape),), in_shape))
    subs.append(q + in_letters)
    return structured(f"{','.join(subs)}->{out_letters}|{in_letters}", *factors, dtype=dtype)


def gather_flat(ans, x, flat_index) -> Jacobian:
    """Jacobian of ``ans = x.flat[flat_index]`` (``flat_index`` of ``ans``'s shape): O(ans.size) integers.

    Indexing, ``take``, slices, ``diagonal``, ``flip``, ``roll``, ``tile``, ``repeat``: every
    output entry is one input entry.  Indices may repeat (``repeat``, ``x[[0, 0]]``): the
    contributions add up.
    """
    from .._index_factors import Gather

    flat_index = np.asarray(flat_index)
    if flat_index.shape != ans.shape:
        raise ValueError(f"gather_flat: the index has shape {flat_index.shape}, the result {ans.shape}")
    gather = Gather(flat_index.reshape(-1), x.size)
    return _flat_factors(ans.shape, x.shape, gather, True, ans.dtype)


def embed_flat(ans, x, flat_target) -> Jacobian:
    """Jacobian of an ``ans`` whose entry ``flat_target[i]`` is ``x.flat[i]`` (the others do not depend on ``x``).

    ``concatenate``, ``stack``, ``diag`` of a vector: every input entry lands in one output entry
    (distinct ones).  Stores O(x.size) integers.
    """
    from .._index_factors import Gather

    flat_target = np.asarray(flat_target)
    if flat_target.shape != x.shape:
        raise ValueError(f"embed_flat: the targets have shape {flat_target.shape}, the argument {x.shape}")
    gather = Gather(flat_target.reshape(-1), ans.size)
    return _flat_factors(ans.shape, x.shape, gather, False, ans.dtype)


def reshaped(ans, x) -> Jacobian:
    """Jacobian of ``ans = x.reshape(ans.shape)`` (row-major): nothing stored."""
    from .._index_factors import Reshape

    out_letters = LETTERS[: ans.ndim]
    in_letters = LETTERS[ans.ndim: ans.ndim + x.ndim]
    return structured(f"{out_letters}{in_letters}->{out_letters}|{in_letters}", Reshape(ans.shape, x.shape),
                      dtype=ans.dtype)


def _second(out_shape, out_letters, arg_shapes, arg_letters, factors, dtype, symmetric=False):
    """A second-derivative block (``out | arg_i | arg_j``) with einsum letters, broadcasting as
    :func:`linear` does: a size-1 argument axis against a larger output axis gets a letter of
    its own (the output axes it was broadcast along are then summed by any contraction)."""
    from .._hessian import second_structured

    sizes = dict(zip(out_letters, out_shape))
    used = set(out_letters) | {c for letters in arg_letters for c in letters} | {c for _, l in factors for c in l}
    spare = iter(c for c in LETTERS if c not in used)
    groups = []
    for shape, letters in zip(arg_shapes, arg_letters):
        group = ""
        for size, letter in zip(shape, letters):
            if size == 1 and sizes.get(letter, 1) != 1:
                letter = next(spare)
            sizes.setdefault(letter, size)
            group += letter
        groups.append(group)
    arrays, subs = [], []
    for f, letters in factors:
        f = np.asarray(f)
        keep = [ax for ax, letter in enumerate(letters) if not (f.shape[ax] == 1 and sizes.get(letter, 1) != 1)]
        arrays.append(f.reshape([f.shape[ax] for ax in keep]))
        subs.append("".join(letters[ax] for ax in keep))
    spec = f"{','.join(subs)}->{out_letters}|{groups[0]}|{groups[1]}"
    return second_structured(spec, *arrays, sizes=sizes, dtype=dtype, symmetric=symmetric)


def elementwise_second(ans, xi, xj, deriv2=None):
    """Second derivative ``d²ans / dx_i dx_j`` of an elementwise map (maybe broadcasting), with the
    elementwise values ``deriv2`` (broadcastable to ``ans``; ``None`` for 1): the three-way diagonal.

    >>> import numpy as np
    >>> H = elementwise_second(np.zeros(2), np.zeros(2), np.zeros(2), np.array([2.0, 3.0]))
    >>> H.shape, H.nbytes
    ((2, 2, 2), 16)
    """
    out = LETTERS[: np.ndim(ans)]
    factors = [] if deriv2 is None else [(np.asarray(deriv2, dtype=ans.dtype), aligned(np.ndim(deriv2), out))]
    return _second(np.shape(ans), out, (np.shape(xi), np.shape(xj)),
                   (aligned(np.ndim(xi), out), aligned(np.ndim(xj), out)), factors, ans.dtype, symmetric=xi is xj)


def bilinear_second(ans, xi, xj, out_letters, xi_letters, xj_letters, factors=()):
    """Second derivative ``d²ans / dx_i dx_j`` of a map bilinear in ``(x_i, x_j)`` written with einsum
    letters (``matmul``: ``out 'XZ'``, ``x1 'XY'``, ``x2 'YZ'``): a constant of deltas, times
    ``factors`` (the other operands of an einsum).  Nothing is stored for a plain product."""
    return _second(np.shape(ans), out_letters, (np.shape(xi), np.shape(xj)), (xi_letters, xj_letters),
                   list(factors), ans.dtype)
