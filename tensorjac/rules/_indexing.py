"""Indexing rules: ``x[index]`` and the functions that pick, repeat or rearrange entries.

Every output entry of these functions is one input entry, so the Jacobian is a gather
(:func:`~tensorjac.rules._structure.gather_flat`): it stores one integer per output entry
(**O(output size)**), the input position each output entry reads.  The positions are found by
applying the very numpy function to coordinate grids (:func:`~tensorjac.rules._shapes.flat_positions`),
so every option numpy accepts has numpy's meaning:

* ``getitem`` (``x[index]``, ``operator.getitem``): integers (negative too), slices with any
  step, ``Ellipsis``, ``None``/``np.newaxis``, integer arrays and boolean masks, and mixes of
  them.  The index may be computed inside the differentiated function (``x[x > 0]``,
  ``x[np.argmax(x)]``): a traced value without a derivative is used by its numbers.  An index
  that keeps every entry in order (``x[None]``, ``x[..., None]``, ``x[:]``, an integer on a
  size-1 axis) is a reshape instead: nothing stored (:func:`keeps_order`).
* ``take`` (``mode`` too), ``take_along_axis``, ``diagonal``, ``diag`` of a matrix, ``flip``,
  ``fliplr``, ``flipud``, ``rot90``, ``roll``, ``tile``, ``repeat``.

Conventions: an input entry read several times (``x[[0, 0]]``, ``repeat``, ``tile``, a
``take`` with repeated indices) gets the sum of the contributions, in the Jacobian and in
``vjp``/``grad`` (a scatter-add).  ``diag`` and ``diagflat`` of a vector, which *place* the
entries in a matrix of zeros, are embeddings instead (:func:`~tensorjac.rules._structure.embed_flat`):
one integer per input entry (**O(input size)**).
"""

from __future__ import annotations

import inspect
import operator

import numpy as np

from ._examples import normal
from ._registry import define
from ._shapes import binder, flat_positions, fresh, one_axis
from ._structure import embed_flat, gather_flat, reshaped

__all__ = ["getitem", "keeps_order"]


def _gather_jac(fun):
    def maker(ans, x, **options):
        return gather_flat(ans, x, flat_positions(x.shape, lambda grid: fun(grid, **options)))

    return maker


def _gather_rule(name, fun, *, functions, examples, static=()):
    """Register ``fun(x, **options)``, a function whose output entries are each one entry of ``x``.

    Its Jacobian is :func:`~tensorjac.rules._structure.gather_flat` of the positions ``fun``
    picks (found by applying ``fun`` to coordinate grids): O(output size) integers.  The
    numpy function(s) in ``functions`` are called with ``fun``'s signature.
    """
    return define(name, fun, _gather_jac(fun), argnames=(next(iter(inspect.signature(fun).parameters)),), static=static,
                  bind=binder(fun, name), functions=functions, builtin=True, second="linear", examples=examples)


# ---- x[index] -------------------------------------------------------------------------------------


def getitem(x, index):
    """``x[index]`` (the rule behind indexing a traced value).

    >>> import numpy as np
    >>> getitem(np.arange(6.0).reshape(2, 3), (slice(None), [2, 0, 2]))
    array([[2., 0., 2.],
           [5., 3., 5.]])
    """
    return fresh(x[index], x)


def _getitem_call(x, index):
    pass


def _getitem_examples(rng):
    x = normal(rng, 3, 4)
    mask = np.array([[True, False, True, True], [False, False, False, False], [True, True, False, True]])
    return [
        ((x,), {"index": 1}), ((x,), {"index": -1}), ((x,), {"index": (slice(None), slice(None, None, -2))}),
        ((x,), {"index": (Ellipsis, None, slice(1, 3))}), ((x,), {"index": ([0, 2, 0], [1, 1, 3])}),
        ((x,), {"index": mask}), ((x,), {"index": ([2, 0], slice(None), None)}),
        ((x,), {"index": np.array([0, 0, -1])}),
        ((x,), {"index": (np.array([True, False, True]), -2)}),
        ((normal(rng),), {"index": ()}), ((normal(rng),), {"index": None}),
        ((normal(rng, 1, 3),), {"index": (0, Ellipsis)}),
        ((normal(rng, 2, 0),), {"index": (slice(None), slice(None))}), ((x,), {"index": slice(3, 3)}),
        ((normal(rng, 2, 3, 4),), {"index": (slice(None), [0, 2], [1, 3])}),
        ((normal(rng, 2, 3, 4),), {"index": ([1, 0], slice(None), [3, 0])}),
    ]


def keeps_order(index, shape) -> bool:
    """True when ``x[index]`` keeps every entry of an array of ``shape``, in order: full slices, ``...``,
    ``None`` and integers on size-1 axes only.  Such an index is a reshape (nothing stored).

    >>> keeps_order((None, Ellipsis, 0), (2, 1)), keeps_order((slice(None, None, -1),), (2,))
    (True, False)
    """
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if not (i is None or i is Ellipsis or isinstance(i, slice) or
                (isinstance(i, (int, np.integer)) and not isinstance(i, bool))):
            return False
    consumed = [i for i in items if i is not None and i is not Ellipsis]
    if sum(i is Ellipsis for i in items) > 1 or len(consumed) > len(shape):
        return False
    dims = tuple(shape[: len(consumed)])
    if Ellipsis in items:  # the axes before the ellipsis, then the last ones
        before = sum(i is not None for i in items[: items.index(Ellipsis)])
        dims = tuple(shape[:before]) + tuple(shape[len(shape) - (len(consumed) - before):])
    for i, n in zip(consumed, dims):
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if len(range(start, stop, step)) != n or (n > 1 and step != 1):
                return False
        elif n != 1 or not -1 <= i < 1:
            return False
    return True


def _getitem_jac(ans, x, index):
    if keeps_order(index, x.shape):
        return reshaped(ans, x)
    return gather_flat(ans, x, flat_positions(x.shape, lambda grid: grid[index]))


define("getitem", getitem, _getitem_jac, argnames=("x",), static=("index",), bind=binder(_getitem_call, "getitem"),
       functions=(operator.getitem,), builtin=True, second="linear", examples=_getitem_examples)

# ---- Functions that pick entries ----------------------------------------------------------------


def take(a, indices, axis=None, mode="raise"):
    """``np.take(a, indices, axis, mode)`` with ``axis`` checked first."""
    if axis is not None:
        one_axis(axis, np.ndim(a), "take")
    return fresh(np.take(a, indices, axis=axis, mode=mode), a)


def _take_call(a, indices, axis=None, out=None, mode="raise"):
    pass


def _take_binder():
    inner = binder(_take_call, "take")

    def bind(*args, **kwargs):
        arrays, options = inner(*args, **kwargs)
        if options.pop("out", None) is not None:
            raise TypeError("tensorjac's rule 'take' does not support out= (it returns a new array)")
        return arrays, options

    return bind


define("take", take, _gather_jac(take), argnames=("a",), static=("indices", "axis", "mode"), bind=_take_binder(),
       functions=(np.take,), builtin=True, second="linear", examples=lambda rng: [
           ((normal(rng, 5),), {"indices": [4, 0, 0, -1]}), ((normal(rng, 2, 3),), {"indices": [[0, 2], [1, 1]]}),
           ((normal(rng, 2, 3),), {"indices": np.array([2, 0]), "axis": -1}),
           ((normal(rng, 3, 2),), {"indices": 1, "axis": 0}), ((normal(rng, 4),), {"indices": [5, -6], "mode": "wrap"}),
           ((normal(rng, 4),), {"indices": [7, -1], "mode": "clip"}),
           ((normal(rng),), {"indices": [0, 0]}), ((normal(rng, 2, 3),), {"indices": np.zeros(0, int), "axis": 1}),
           ((normal(rng, 2, 0),), {"indices": [1], "axis": 0})])


def take_along_axis(arr, indices, axis=-1):
    """``np.take_along_axis(arr, indices, axis)`` with ``axis`` checked first."""
    if axis is not None:
        one_axis(axis, np.ndim(arr), "take_along_axis")
    return fresh(np.take_along_axis(arr, np.asarray(indices), axis), arr)


_gather_rule("take_along_axis", take_along_axis, functions=(np.take_along_axis,), static=("indices", "axis"),
            examples=lambda rng: [
                ((normal(rng, 3, 4),), {"indices": np.array([[0, 3], [1, 1], [2, 0]]), "axis": 1}),
                ((normal(rng, 3, 2),), {"indices": np.array([[2, 0]]), "axis": 0}),
                ((normal(rng, 2, 3),), {"indices": np.array([1, 5, 0]), "axis": None}),
                ((normal(rng, 2, 0),), {"indices": np.zeros((2, 0), int), "axis": 1})])


def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal`` with the axes checked first."""
    ndim = np.ndim(a)
    if ndim < 2:
        raise ValueError(f"diagonal: needs an array of at least 2 dimensions, got shape {np.shape(a)}")
    if one_axis(axis1, ndim, "diagonal", "axis1") == one_axis(axis2, ndim, "diagonal", "axis2"):
        raise ValueError(f"diagonal: axis1={axis1} and axis2={axis2} name the same axis")
    return fresh(np.diagonal(a, offset, axis1, axis2), a)


_gather_rule("diagonal", diagonal, functions=(np.diagonal,), static=("offset", "axis1", "axis2"),
            examples=lambda rng: [(normal(rng, 3, 3),), ((normal(rng, 3, 4),), {"offset": 1}),
                                  ((normal(rng, 3, 4),), {"offset": -2}),
                                  ((normal(rng, 2, 3, 4),), {"axis1": -1, "axis2": 0}),
                                  ((normal(rng, 2, 2),), {"offset": 5}), ((normal(rng, 0, 3),), {})])


def _diag_check(v, k, what):
    if np.ndim(v) not in (1, 2) and what == "diag":
        raise ValueError(f"diag: the input must be 1-D (a diagonal to place) or 2-D (a matrix), "
                         f"got shape {np.shape(v)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{what}: k must be an int, got {k!r}")


def diag(v, k=0):
    """``np.diag(v, k)``: a matrix with ``v`` on its ``k``-th diagonal (1-D ``v``), or that diagonal (2-D ``v``)."""
    _diag_check(v, k, "diag")
    return fresh(np.diag(v, k), v)


def diagflat(v, k=0):
    """``np.diagflat(v, k)``: the flattened ``v`` placed on the ``k``-th diagonal of a matrix of zeros."""
    _diag_check(v, k, "diagflat")
    return np.diagflat(v, k)  # always a new array


def _diag_jac(ans, v, k=0):
    if v.ndim == 2:  # the diagonal of a matrix: a gather
        return gather_flat(ans, v, flat_positions(v.shape, lambda grid: np.diag(grid, k)))
    return _placed(ans, v, k)


def _placed(ans, v, k=0):
    """``v`` (flattened) placed on the ``k``-th diagonal of ``ans``: an embedding."""
    return embed_flat(ans, v, flat_positions(ans.shape, lambda grid: np.diagonal(grid, k)).reshape(v.shape))


define("diag", diag, _diag_jac, argnames=("v",), static=("k",), bind=binder(diag, "diag"), functions=(np.diag,),
       builtin=True, second="linear", examples=lambda rng: [
           (normal(rng, 3),), ((normal(rng, 2),), {"k": 1}), ((normal(rng, 2),), {"k": -2}), (normal(rng, 3, 3),),
           ((normal(rng, 2, 4),), {"k": 1}), ((normal(rng, 3, 2),), {"k": -1}), (normal(rng, 1),), (normal(rng, 0),),
           (normal(rng, 2, 0),)])
define("diagflat", diagflat, _placed, argnames=("v",), static=("k",), bind=binder(diagflat, "diagflat"),
       functions=(np.diagflat,), builtin=True, second="linear",
       examples=lambda rng: [(normal(rng, 2, 2),), ((normal(rng, 3),), {"k": -1}), (normal(rng),),
                             (normal(rng, 0, 2),)])

# ---- Functions that rearrange or repeat entries -------------------------------------------------


def flip(m, axis=None):
    """``np.flip(m, axis)`` (axis None, an int or a tuple)."""
    return fresh(np.flip(m, axis), m)


def fliplr(m):
    """``np.fliplr(m)``: the columns (axis 1) reversed."""
    if np.ndim(m) < 2:
        raise ValueError(f"fliplr: needs an array of at least 2 dimensions, got shape {np.shape(m)}")
    return fresh(np.fliplr(m), m)


def flipud(m):
    """``np.flipud(m)``: the rows (axis 0) reversed."""
    if np.ndim(m) < 1:
        raise ValueError("flipud: needs an array of at least 1 dimension, got a 0-d array")
    return fresh(np.flipud(m), m)


def rot90(m, k=1, axes=(0, 1)):
    """``np.rot90(m, k, axes)``: ``k`` quarter turns in the plane of ``axes``."""
    return fresh(np.rot90(m, k, axes), m)


def roll(a, shift, axis=None):
    """``np.roll(a, shift, axis)`` (``shift`` and ``axis`` ints or tuples, ``axis=None`` rolls the flattened array)."""
    return fresh(np.roll(a, shift, axis), a)


def tile(A, reps):
    """``np.tile(A, reps)``."""
    return fresh(np.tile(A, reps), A)


def repeat(a, repeats, axis=None):
    """``np.repeat(a, repeats, axis)`` (``repeats`` an int or an array of counts)."""
    if axis is not None:
        one_axis(axis, np.ndim(a), "repeat")
    if np.any(np.asarray(repeats) < 0):
        raise ValueError(f"repeat: repeats must be >= 0, got {repeats!r}")
    return fresh(np.repeat(a, repeats, axis), a)


def _axes_examples(rng, **fixed):
    return [((normal(rng, 2, 3),), {**fixed}), ((normal(rng, 2, 3, 2),), {**fixed, "axis": -1}),
            ((normal(rng, 2, 3, 2),), {**fixed, "axis": (0, 2)}), ((normal(rng, 1, 3),), {**fixed, "axis": 0}),
            ((normal(rng, 0, 3),), {**fixed, "axis": 1})]


_gather_rule("flip", flip, functions=(np.flip,), static=("axis",),
            examples=lambda rng: _axes_examples(rng) + [(normal(rng),)])
_gather_rule("fliplr", fliplr, functions=(np.fliplr,), examples=lambda rng: [
    (normal(rng, 2, 3),), (normal(rng, 2, 3, 2),), (normal(rng, 1, 1),), (normal(rng, 0, 3),)])
_gather_rule("flipud", flipud, functions=(np.flipud,), examples=lambda rng: [
    (normal(rng, 3),), (normal(rng, 3, 2),), (normal(rng, 1, 2),), (normal(rng, 2, 0),)])
_gather_rule("rot90", rot90, functions=(np.rot90,), static=("k", "axes"), examples=lambda rng: [
    (normal(rng, 2, 3),), ((normal(rng, 2, 3),), {"k": 2}), ((normal(rng, 2, 3),), {"k": -1}),
    ((normal(rng, 2, 3, 4),), {"k": 3, "axes": (2, 0)}), ((normal(rng, 1, 3),), {"k": 4}), ((normal(rng, 0, 3),), {})])
_gather_rule("roll", roll, functions=(np.roll,), static=("shift", "axis"), examples=lambda rng: [
    ((normal(rng, 5),), {"shift": 2}), ((normal(rng, 2, 3),), {"shift": -1}),
    ((normal(rng, 2, 3),), {"shift": 4, "axis": 1}), ((normal(rng, 2, 3, 2),), {"shift": (1, -2), "axis": (0, -2)}),
    ((normal(rng, 3, 2),), {"shift": (1, 1), "axis": (0, 0)}), ((normal(rng),), {"shift": 3}),
    ((normal(rng, 1, 3),), {"shift": 1, "axis": 0}), ((normal(rng, 0, 2),), {"shift": 1})])
_gather_rule("tile", tile, functions=(np.tile,), static=("reps",), examples=lambda rng: [
    ((normal(rng, 3),), {"reps": 2}), ((normal(rng, 2, 3),), {"reps": (2, 1)}),
    ((normal(rng, 3),), {"reps": (2, 1, 2)}),
    ((normal(rng),), {"reps": 3}), ((normal(rng, 1, 2),), {"reps": (1, 1)}), ((normal(rng, 2),), {"reps": 0}),
    ((normal(rng, 0, 2),), {"reps": 2})])
_gather_rule("repeat", repeat, functions=(np.repeat,), static=("repeats", "axis"), examples=lambda rng: [
    ((normal(rng, 3),), {"repeats": 2}), ((normal(rng, 2, 3),), {"repeats": [1, 0, 3], "axis": 1}),
    ((normal(rng, 2, 3),), {"repeats": 2, "axis": -2}), ((normal(rng, 2, 2),), {"repeats": [2, 1, 1, 3]}),
    ((normal(rng),), {"repeats": 3}), ((normal(rng, 1, 2),), {"repeats": 1, "axis": 0}),
    ((normal(rng, 0, 2),), {"repeats": 3, "axis": 1})])
