"""Shape rules: reshapes, axis permutations, size-1 axes, broadcasting, joining and splitting.

Every rule here moves entries without changing them, so its Jacobian is a 0/1 tensor, and
none is ever stored densely:

* ``reshape``, ``ravel`` (and ``flatten``): one :class:`~tensorjac._index_factors.Reshape`
  index factor (:func:`~tensorjac.rules._structure.reshaped`): **nothing stored**.
  ``order="F"`` reads both shapes backwards (the same factor on reversed letters);
  ``order="A"`` is ``"F"`` for a Fortran-contiguous (and not C-contiguous) array, as in numpy;
  ``ravel(order="K")`` (memory order) is refused.
* ``transpose`` (``permute_dims``, ``x.T``), ``swapaxes`` (``x.mT``), ``moveaxis``,
  ``rollaxis``: a delta between permuted letters; ``squeeze`` and ``expand_dims``: a size-1
  axis carried by no factor (a constant axis); ``broadcast_to``: the broadcast axes summed by
  any contraction.  All through :func:`~tensorjac.rules._structure.linear`: **nothing stored**.
* ``concatenate`` (``concat``, also ``axis=None``), ``stack``, ``hstack``, ``vstack``,
  ``dstack``, ``column_stack``: each argument lands in a slab of the result,
  :func:`~tensorjac.rules._structure.embed_flat` with the slab's positions: **O(argument
  size) integers**.  1-D and 0-d arguments are promoted as numpy promotes them
  (``atleast_1d``/``atleast_2d``/``atleast_3d``, columns for ``column_stack``).
* ``split``, ``array_split``, ``hsplit``, ``vsplit``, ``dsplit`` have several results: they are
  traced through slicing (:func:`~tensorjac.rules.register_composite`), one gather per piece;
  ``broadcast_arrays``, ``atleast_1d/2d/3d`` and ``matrix_transpose`` likewise through the rules
  above.

Options may be computed inside the differentiated function (``x[x > 0]``, ``np.take(x,
np.argsort(x))``): a traced value without a derivative (a comparison, ``argsort``) arrives
at a rule's ``bind`` as a constant traced value and is replaced by its numbers
(:func:`constant_option`); one that depends on the differentiated inputs is refused.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from .._index_factors import Reshape
from .._jacobian import structured
from ._examples import normal
from ._registry import define, register_composite
from ._structure import LETTERS, elementwise, embed_flat, linear, normalize_axes, reshaped

__all__ = ["flat_positions", "fresh", "constant_option", "binder", "one_axis"]


# ---- Helpers shared with _indexing --------------------------------------------------------------


def flat_positions(shape, select) -> np.ndarray:
    """The row-major flat positions, in an array of ``shape``, of the entries ``select`` picks.

    ``select`` is any numpy function that rearranges entries (indexing, ``take``, ``flip``,
    ``tile``, ...); it is applied to one broadcast (zero-memory) grid of coordinates per axis,
    so the work and memory are O(size of the selection) per axis, never O(prod(shape)).

    Args:
        shape: the shape of the array ``select`` is applied to.
        select: a function of one array returning the selected entries.

    Returns:
        An integer array of the shape of ``select``'s result.

    >>> flat_positions((2, 3), lambda a: a[:, ::-2])
    array([[2, 0],
           [5, 3]])
    """
    shape = tuple(int(s) for s in shape)
    total = np.array(select(np.broadcast_to(np.zeros((), np.intp), shape)), dtype=np.intp)
    stride = 1
    for k in reversed(range(len(shape))):
        if shape[k] > 1:
            grid = np.arange(shape[k], dtype=np.intp).reshape((shape[k],) + (1,) * (len(shape) - k - 1))
            total += stride * np.asarray(select(np.broadcast_to(grid, shape)), dtype=np.intp)
        stride *= shape[k]
    return total


def fresh(result, a):
    """``result``, copied if it is a view of the argument ``a``.

    numpy's reshapes, transposes and basic slices return views; finite differences perturb an
    argument in place between two calls, so a view would change under them.  A traced value
    (the rule called inside a traced function) is returned as it is.

    >>> x = np.ones(3)
    >>> fresh(x[1:], x).base is None
    True
    """
    if isinstance(result, np.ndarray) and isinstance(a, np.ndarray) and np.may_share_memory(result, a):
        return result.copy(order="K")  # the layout kept: order='A' reads it
    return result


def constant_option(value, rule: str, option: str):
    """``value`` with every constant traced value in it replaced by its numbers (lists, tuples kept).

    A mask or index computed inside the differentiated function (``x > 0``, ``np.argsort(x)``)
    is a traced value without a derivative; a rule's option needs its numbers.  A value that
    depends on the differentiated inputs cannot be an option: ``TypeError`` naming it.

    >>> constant_option([1, (2, None)], "getitem", "index")
    [1, (2, None)]
    """
    if getattr(value, "_is_tensorjac_traced", False):
        var = value._var
        if var.dependent:
            raise TypeError(
                f"{rule}: the option {option!r} is a value of dtype {var.dtype} that depends on the differentiated "
                "inputs; tensorjac differentiates array arguments only, an index, mask, shift or count must be "
                "computed without a derivative (comparisons, argmax, argsort, ...) or passed as a plain array"
            )
        return var.value
    if isinstance(value, (list, tuple)):
        return type(value)(constant_option(v, rule, option) for v in value)
    return value


def traced_option(value, rule: str, option: str):
    """``value`` as it is, after refusing a traced value that depends on the differentiated inputs;
    a constant traced value is left to the tracer, which uses its numbers and replays it."""
    for leaf in (value if isinstance(value, (list, tuple)) else (value,)):
        if getattr(leaf, "_is_tensorjac_traced", False):
            constant_option(leaf, rule, option)  # raises for a dependent value
        elif isinstance(leaf, (list, tuple)):
            traced_option(leaf, rule, option)
    return value


def binder(call, name: str, n: int = 1):
    """A ``bind`` for a rule whose call signature is ``call``'s: the first ``n`` parameters are arrays,
    the others options (constant traced values replaced by their numbers, :func:`constant_option`).

    >>> def squeeze(a, axis=None): ...
    >>> binder(squeeze, "squeeze")("x", 1)
    (('x',), {'axis': 1})
    """
    signature = inspect.signature(call)
    params = list(signature.parameters)

    def bind(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"tensorjac's rule {name!r}: {exc} (it takes {name}{signature})") from None
        arrays = tuple(bound.arguments[p] for p in params[:n])
        options = {k: traced_option(v, name, k) for k, v in bound.arguments.items() if k not in params[:n]}
        return arrays, options

    return bind


def one_axis(axis, ndim: int, what: str, option: str = "axis") -> int:
    """``axis`` (one int) as a non-negative axis of an array of ``ndim`` axes, or a clear error naming ``option``.

    >>> one_axis(-1, 3, "swapaxes", "axis2")
    2
    >>> one_axis(3, 3, "swapaxes", "axis2")
    Traceback (most recent call last):
    numpy.exceptions.AxisError: swapaxes: axis2=3 is out of bounds for an array of 3 dimension(s)
    """
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: {option} must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"{what}: {option}={axis} is out of bounds for an array of {ndim} dimension(s)")
    return int(axis) % ndim


def _axes_in_order(axes, ndim, what, option):
    items = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
    found = tuple(one_axis(a, ndim, what, option) for a in items)
    if len(set(found)) != len(found):
        raise ValueError(f"{what}: {option}={axes!r} repeats an axis")
    return found


def _rule(name, fun, *makers, call=None, n=1, **options):
    return define(name, fun, *makers, bind=binder(call or fun, name, n), builtin=True, second="linear", **options)


# ---- Reshapes -------------------------------------------------------------------------------------


def _order(order, x, what, allowed=("C", "F", "A")):
    if order not in allowed:
        raise ValueError(f"{what}: order={order!r} is not supported; tensorjac supports order in {list(allowed)}")
    if order == "A":
        return "F" if x.flags.f_contiguous and not x.flags.c_contiguous else "C"
    return order


def reshape(a, shape, order="C", copy=None):
    """``np.reshape(a, shape, order)`` with the shape and order checked first."""
    items = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in items):
        raise TypeError(f"reshape: shape must be an int or a tuple of ints, got {shape!r}")
    if order not in ("C", "F", "A"):
        raise ValueError(f"reshape: order={order!r} is not supported; tensorjac supports order 'C', 'F' and 'A'")
    known = math.prod(s for s in items if s != -1)
    size = math.prod(np.shape(a))
    bad = sum(s == -1 for s in items) > 1 or any(s < -1 for s in items)
    if bad or (size != known if -1 not in items else (known == 0 or size % known)):
        raise ValueError(f"reshape: cannot reshape an array of shape {np.shape(a)} (size {size}) into shape {shape!r}")
    return fresh(np.reshape(a, items, order=order), a)


def ravel(a, order="C"):
    """``np.ravel(a, order)`` for order ``'C'``, ``'F'`` or ``'A'`` (``'K'``, memory order, is refused)."""
    if order not in ("C", "F", "A"):
        raise ValueError(f"ravel: order={order!r} is not supported; tensorjac supports order 'C', 'F' and 'A'")
    return fresh(np.ravel(a, order=order), a)


def _reshape_jac(ans, x, order):
    if _order(order, x, "reshape") == "C":
        return reshaped(ans, x)
    out, inn = LETTERS[: ans.ndim], LETTERS[ans.ndim: ans.ndim + x.ndim]
    return structured(f"{out[::-1]}{inn[::-1]}->{out}|{inn}", Reshape(ans.shape[::-1], x.shape[::-1]),
                      dtype=ans.dtype)


def _reshape_examples(rng):
    return [
        ((normal(rng, 2, 3),), {"shape": (3, 2)}), ((normal(rng, 2, 3, 2),), {"shape": (-1, 4)}),
        ((normal(rng, 2, 3),), {"shape": (3, 2), "order": "F"}), ((normal(rng, 4),), {"shape": (1, 2, 2, 1)}),
        ((normal(rng),), {"shape": (1, 1)}), ((normal(rng, 1),), {"shape": ()}),
        ((normal(rng, 2, 3),), {"shape": 6, "order": "A"}), ((normal(rng, 0, 3),), {"shape": (3, -1, 2)}),
    ]


_rule("reshape", reshape, lambda ans, x, shape, order="C", copy=None: _reshape_jac(ans, x, order),
      argnames=("a",), static=("shape", "order", "copy"), functions=(np.reshape,), examples=_reshape_examples)
_rule("ravel", ravel, lambda ans, x, order="C": _reshape_jac(ans, x, order), argnames=("a",), static=("order",),
      functions=(np.ravel,), examples=lambda rng: [
          (normal(rng, 2, 3),), ((normal(rng, 2, 1, 3),), {"order": "F"}), (normal(rng),), (normal(rng, 2, 0),),
          ((normal(rng, 3, 2),), {"order": "A"})])

# ---- Axis permutations, size-1 axes, broadcasting ------------------------------------------------


def _permuted(ans, x, perm):
    letters = LETTERS[: x.ndim]
    return linear(ans.shape, "".join(letters[p] for p in perm), x.shape, letters, dtype=ans.dtype)


def _transpose_perm(ndim, axes):
    if axes is None:
        return tuple(range(ndim))[::-1]
    perm = _axes_in_order(axes, ndim, "transpose", "axes") if ndim else tuple(axes)
    if len(perm) != ndim:
        raise ValueError(f"transpose: axes={axes!r} must name each of the {ndim} axes once")
    return perm


def transpose(a, axes=None):
    """``np.transpose(a, axes)`` with ``axes`` (None or a permutation) checked first."""
    return fresh(np.transpose(a, _transpose_perm(np.ndim(a), axes)), a)


def swapaxes(a, axis1, axis2):
    """``np.swapaxes(a, axis1, axis2)`` with the axes checked first."""
    _swap_perm(np.ndim(a), axis1, axis2)
    return fresh(np.swapaxes(a, axis1, axis2), a)


def _swap_perm(ndim, axis1, axis2):
    perm = list(range(ndim))
    i, j = one_axis(axis1, ndim, "swapaxes", "axis1"), one_axis(axis2, ndim, "swapaxes", "axis2")
    perm[i], perm[j] = j, i
    return perm


def _moveaxis_perm(ndim, source, destination):
    src = _axes_in_order(source, ndim, "moveaxis", "source")
    dst = _axes_in_order(destination, ndim, "moveaxis", "destination")
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source={source!r} and destination={destination!r} must have the same length")
    order = [n for n in range(ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return order


def moveaxis(a, source, destination):
    """``np.moveaxis(a, source, destination)`` with the axes checked first."""
    _moveaxis_perm(np.ndim(a), source, destination)
    return fresh(np.moveaxis(a, source, destination), a)


def _rollaxis_perm(ndim, axis, start):
    axis = one_axis(axis, ndim, "rollaxis", "axis")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not -ndim <= start <= ndim:
        raise np.exceptions.AxisError(f"rollaxis: start={start!r} must be an int in [{-ndim}, {ndim}]")
    start = int(start) + ndim if start < 0 else int(start)
    order = list(range(ndim))
    if axis < start:
        start -= 1
    if axis != start:
        order.remove(axis)
        order.insert(start, axis)
    return order


def rollaxis(a, axis, start=0):
    """``np.rollaxis(a, axis, start)`` with the axes checked first."""
    _rollaxis_perm(np.ndim(a), axis, start)
    return fresh(np.rollaxis(a, axis, start), a)


def squeeze(a, axis=None):
    """``np.squeeze(a, axis)``; squeezing an axis whose size is not 1 names it."""
    shape = np.shape(a)
    axes = _squeezed(shape, axis)
    bad = [k for k in axes if shape[k] != 1]
    if bad:
        raise ValueError(f"squeeze: cannot squeeze axis {bad[0]} of an array of shape {shape}: its size is "
                         f"{shape[bad[0]]}, not 1")
    return fresh(np.squeeze(a, axis=axes), a)


def _squeezed(shape, axis):
    if axis is None:
        return tuple(k for k, s in enumerate(shape) if s == 1)
    return normalize_axes(axis, len(shape), "squeeze")


def _squeeze_jac(ans, x, axis=None):
    axes = _squeezed(x.shape, axis)
    letters = LETTERS[: x.ndim]
    return linear(ans.shape, "".join(c for k, c in enumerate(letters) if k not in axes), x.shape, letters,
                  dtype=ans.dtype)


def expand_dims(a, axis):
    """``np.expand_dims(a, axis)`` with ``axis`` (an int or a tuple) checked against the result's rank."""
    normalize_axes(axis, np.ndim(a) + (len(axis) if isinstance(axis, (tuple, list)) else 1), "expand_dims")
    return fresh(np.expand_dims(a, axis), a)


def _expand_dims_jac(ans, x, axis):
    new = normalize_axes(axis, ans.ndim, "expand_dims")
    letters, spare = iter(LETTERS[: x.ndim]), iter(LETTERS[x.ndim:])
    out = "".join(next(spare) if k in new else next(letters) for k in range(ans.ndim))
    return linear(ans.shape, out, x.shape, LETTERS[: x.ndim], dtype=ans.dtype)


def broadcast_to(array, shape, subok=False):
    """``np.broadcast_to(array, shape)`` with the shapes checked first."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    have = np.shape(array)
    if len(have) > len(shape) or any(h not in (1, s) for h, s in zip(have[::-1], shape[::-1])):
        raise ValueError(f"broadcast_to: cannot broadcast an array of shape {have} to shape {shape}")
    return fresh(np.broadcast_to(array, shape), array)


def _perm_examples(rng, **options):
    return [((normal(rng, 2, 3, 4),), options), ((normal(rng, 1, 3, 2),), options), ((normal(rng, 2, 0, 3),), options)]


_rule("transpose", transpose, lambda ans, x, axes=None: _permuted(ans, x, _transpose_perm(x.ndim, axes)),
      argnames=("a",), static=("axes",),
      functions=tuple(f for f in (np.transpose, getattr(np, "permute_dims", None)) if f is not None),
      examples=lambda rng: _perm_examples(rng) + _perm_examples(rng, axes=(1, -1, 0)) + [(normal(rng),)])
_rule("swapaxes", swapaxes, lambda ans, x, axis1, axis2: _permuted(ans, x, _swap_perm(x.ndim, axis1, axis2)),
      argnames=("a",), static=("axis1", "axis2"), functions=(np.swapaxes,),
      examples=lambda rng: _perm_examples(rng, axis1=0, axis2=-1) + [((normal(rng, 3),), {"axis1": 0, "axis2": 0})])
_rule("moveaxis", moveaxis, lambda ans, x, source, destination: _permuted(ans, x, _moveaxis_perm(x.ndim, source,
                                                                                                   destination)),
      argnames=("a",), static=("source", "destination"), functions=(np.moveaxis,),
      examples=lambda rng: _perm_examples(rng, source=0, destination=-1) + _perm_examples(rng, source=(2, 0),
                                                                                          destination=(0, 1)))
_rule("rollaxis", rollaxis, lambda ans, x, axis, start=0: _permuted(ans, x, _rollaxis_perm(x.ndim, axis, start)),
      argnames=("a",), static=("axis", "start"), functions=(np.rollaxis,),
      examples=lambda rng: _perm_examples(rng, axis=2, start=0) + _perm_examples(rng, axis=0, start=3))
_rule("squeeze", squeeze, _squeeze_jac, argnames=("a",), static=("axis",), functions=(np.squeeze,),
      examples=lambda rng: [(normal(rng, 1, 3, 1),), ((normal(rng, 1, 3, 1),), {"axis": -1}),
                            ((normal(rng, 1, 2, 1, 1),), {"axis": (0, 3)}), (normal(rng),), (normal(rng, 1, 0),)])
_rule("expand_dims", expand_dims, _expand_dims_jac, argnames=("a",), static=("axis",), functions=(np.expand_dims,),
      examples=lambda rng: [((normal(rng, 2, 3),), {"axis": 0}), ((normal(rng, 2, 3),), {"axis": -1}),
                            ((normal(rng, 2, 3),), {"axis": (0, 2, -1)}), ((normal(rng),), {"axis": 0}),
                            ((normal(rng, 0, 2),), {"axis": 1})])
_rule("broadcast_to", broadcast_to, lambda ans, x, shape, subok=False: elementwise(ans, x), argnames=("array",),
      static=("shape", "subok"), functions=(np.broadcast_to,),
      examples=lambda rng: [((normal(rng, 3),), {"shape": (2, 3)}), ((normal(rng, 2, 1),), {"shape": (2, 2, 3)}),
                            ((normal(rng),), {"shape": (2,)}), ((normal(rng, 1, 3),), {"shape": (0, 3)}),
                            ((normal(rng, 2, 3),), {"shape": (2, 3)}), ((normal(rng, 0, 1),), {"shape": (2, 0, 3)})])

# ---- Joining --------------------------------------------------------------------------------------

_PROMOTE = {  # the shape numpy gives an argument before joining (size-1 axes only: the flat order is kept)
    "hstack": lambda s: s or (1,),
    "vstack": lambda s: {0: (1, 1), 1: (1,) + s}.get(len(s), s),
    "dstack": lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s), s),
    "column_stack": lambda s: {0: (1, 1), 1: s + (1,)}.get(len(s), s),
}


def _layout(kind, shapes, axis):
    """``(the arguments' shapes as joined, the joining axis)`` of a joining function of ``kind``."""
    if not shapes:
        raise ValueError(f"{kind}: needs at least one array to join")
    if kind == "concatenate" and axis is None:
        return [(math.prod(s),) for s in shapes], 0
    if kind == "stack":
        ax = one_axis(axis, len(shapes[0]) + 1, "stack")
        return [s[:ax] + (1,) + s[ax:] for s in shapes], ax
    if kind == "concatenate":
        if any(len(s) == 0 for s in shapes):
            raise ValueError("concatenate: 0-d arrays cannot be concatenated (use np.stack, or axis=None)")
        return list(shapes), one_axis(axis, len(shapes[0]), "concatenate")
    promoted = [_PROMOTE[kind](tuple(s)) for s in shapes]
    return promoted, {"hstack": 0 if len(promoted[0]) == 1 else 1, "vstack": 0, "dstack": 2, "column_stack": 1}[kind]


def _joiner(kind, join):
    def fun(*arrays, **options):
        _layout(kind, [np.shape(a) for a in arrays], options.get("axis", 0))
        return join(list(arrays), **options)

    fun.__name__ = fun.__qualname__ = kind
    fun.__doc__ = f"``np.{kind}`` of the arrays given as separate arguments (the rule's calling convention)."
    return fun


def _join_jac(kind):
    def maker(ans, *arrays, argnum, axis=0):
        shapes, ax = _layout(kind, [a.shape for a in arrays], axis)
        start = sum(s[ax] for s in shapes[:argnum])
        piece = (slice(None),) * ax + (slice(start, start + shapes[argnum][ax]),)
        targets = flat_positions(ans.shape, lambda g: g[piece])
        return embed_flat(ans, arrays[argnum], targets.reshape(arrays[argnum].shape))

    return maker


def _join_binder(kind, with_axis):
    def call(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
        pass

    def call_tup(tup, *, dtype=None, casting="same_kind"):
        pass

    signature = inspect.signature(call if with_axis else call_tup)

    def bind(*args, **kwargs):
        try:
            params = dict(signature.bind(*args, **kwargs).arguments)
        except TypeError as exc:
            raise TypeError(f"tensorjac's rule {kind!r}: {exc}") from None
        for option, default in (("out", None), ("dtype", None), ("casting", "same_kind")):
            value = params.pop(option, default)
            if value is not default and (default is None or value != default):
                raise TypeError(f"tensorjac's rule {kind!r} does not support {option}={value!r}")
        seq = params.pop("arrays" if with_axis else "tup")
        if getattr(seq, "_is_tensorjac_traced", False):
            seq = list(seq)  # a traced array is joined as the sequence of its rows, as numpy does
        if not isinstance(seq, (list, tuple)):
            raise TypeError(f"{kind}: expected a sequence (list or tuple) of arrays, got {type(seq).__name__}")
        return tuple(seq), {k: traced_option(v, kind, k) for k, v in params.items()}

    return bind


def _join_rule(kind, join, functions, examples, with_axis=True):
    define(kind, _joiner(kind, join), _join_jac(kind), argnames=("arrays",), variadic=True,
           static=("axis",) if with_axis else (), bind=_join_binder(kind, with_axis),
           functions=tuple(f for f in functions if f is not None), builtin=True, second="linear", examples=examples)


def _join_examples(*cases):
    def examples(rng):
        return [(tuple(normal(rng, *s) for s in shapes), dict(options)) for shapes, options in cases]

    return examples


_join_rule("concatenate", np.concatenate, (np.concatenate, getattr(np, "concat", None)), _join_examples(
    (((2, 3), (2, 1), (2, 2)), {"axis": 1}), (((3,), (2,)), {}), (((2, 2), (1, 2)), {"axis": -2}),
    (((2, 3), (3,)), {"axis": None}), (((), (2,)), {"axis": None}), (((0, 3), (2, 3)), {}), (((4,),), {})))
_join_rule("stack", np.stack, (np.stack,), _join_examples(
    (((2, 3), (2, 3)), {}), (((2, 3), (2, 3), (2, 3)), {"axis": -1}), (((), ()), {}), (((1, 2), (1, 2)), {"axis": 1}),
    (((0, 2), (0, 2)), {"axis": 1})))
_join_rule("hstack", np.hstack, (np.hstack,), _join_examples(
    (((3,), (2,)), {}), (((2, 1), (2, 3)), {}), (((), (2,)), {}), (((0,), (2,)), {})), with_axis=False)
_join_rule("vstack", np.vstack, (np.vstack, getattr(np, "row_stack", None)), _join_examples(
    (((3,), (3,)), {}), (((1, 3), (2, 3)), {}), (((), ()), {}), (((0, 3), (3,)), {})), with_axis=False)
_join_rule("dstack", np.dstack, (np.dstack,), _join_examples(
    (((2, 3), (2, 3)), {}), (((3,), (3,)), {}), (((), ()), {}), (((2, 2, 1), (2, 2, 3)), {}), (((2, 0), (2, 0)), {})),
    with_axis=False)
_join_rule("column_stack", np.column_stack, (np.column_stack,), _join_examples(
    (((3,), (3, 2)), {}), (((), ()), {}), (((0,), (0, 2)), {})), with_axis=False)

# ---- Several results: traced through the rules above -----------------------------------------------


def _pieces(ary, indices_or_sections, axis, what, equal):
    """The pieces of ``np.split``/``np.array_split`` as slices of ``ary`` (numpy's own bounds)."""
    indices_or_sections = constant_option(indices_or_sections, what, "indices_or_sections")
    ax = one_axis(axis, len(np.shape(ary)), what)
    n = np.shape(ary)[ax]
    if np.ndim(indices_or_sections) == 0:
        if isinstance(indices_or_sections, bool) or not isinstance(indices_or_sections, (int, np.integer)):
            raise TypeError(f"{what}: indices_or_sections must be an int or a sequence of ints, got "
                            f"{indices_or_sections!r}")
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{what}: the number of sections must be larger than 0, got {sections}")
        if equal and n % sections:
            raise ValueError(f"{what}: an axis of length {n} does not split into {sections} equal sections "
                             "(np.array_split allows unequal ones)")
        each, extra = divmod(n, sections)
        bounds = np.cumsum([0] + [each + 1] * extra + [each] * (sections - extra)).tolist()
    else:
        bounds = [0, *(int(i) for i in np.asarray(indices_or_sections).reshape(-1)), n]
    return [ary[(slice(None),) * ax + (slice(lo, hi),)] for lo, hi in zip(bounds[:-1], bounds[1:])]


def split(ary, indices_or_sections, axis=0):
    """``np.split`` traced as slices of ``ary`` (one gather per piece)."""
    return _pieces(ary, indices_or_sections, axis, "split", equal=True)


def array_split(ary, indices_or_sections, axis=0):
    """``np.array_split`` traced as slices of ``ary``."""
    return _pieces(ary, indices_or_sections, axis, "array_split", equal=False)


def _split_along(what, min_ndim, axis_of):
    def impl(ary, indices_or_sections):
        if len(np.shape(ary)) < min_ndim:
            raise ValueError(f"{what} only works on arrays of {min_ndim} or more dimensions, got shape {np.shape(ary)}")
        return _pieces(ary, indices_or_sections, axis_of(len(np.shape(ary))), what, equal=True)

    return impl


def _atleast(k):
    def impl(*arys):
        promote = {1: _PROMOTE["hstack"], 2: _PROMOTE["vstack"], 3: _PROMOTE["dstack"]}[k]
        found = tuple(a if len(np.shape(a)) >= k else np.reshape(a, promote(tuple(np.shape(a)))) for a in arys)
        return found[0] if len(found) == 1 else found

    return impl


def _broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    return tuple(np.broadcast_to(a, shape) for a in args)


def _matrix_transpose(x):
    if len(np.shape(x)) < 2:
        raise ValueError(f"matrix_transpose: the array must have at least 2 dimensions, got shape {np.shape(x)}")
    return fresh(np.swapaxes(x, -1, -2), x)


register_composite(np.split, split)
register_composite(np.array_split, array_split)
register_composite(np.hsplit, _split_along("hsplit", 1, lambda ndim: 1 if ndim > 1 else 0))
register_composite(np.vsplit, _split_along("vsplit", 2, lambda ndim: 0))
register_composite(np.dsplit, _split_along("dsplit", 3, lambda ndim: 2))
register_composite(np.atleast_1d, _atleast(1))
register_composite(np.atleast_2d, _atleast(2))
register_composite(np.atleast_3d, _atleast(3))
register_composite(np.broadcast_arrays, _broadcast_arrays)
if hasattr(np, "matrix_transpose"):
    register_composite(np.matrix_transpose, _matrix_transpose)
