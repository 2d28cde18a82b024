"""The chain rule as a contraction: ``contract``, ``chain``, ``chain_cost``, and pushing
cotangents and tangents through chains.

``c(DF, DG)[i, j] = sum_k DF[i, k] DG[k, j]`` over multi-indices.  ``chain`` and ``chain_cost``
share one routing (:func:`_route`): plain arrays (tensordot chains, bracketed by the
matrix-chain program), dense Jacobians (matrix products on their matrix views) and structured
Jacobians (one lazy product, or step by step).  The cost of every order comes from
:mod:`tensorjac.ordering` (dense chains) or from a dry run of the very contractions ``chain``
performs (structured chains, through :func:`tensorjac._plans.recording`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import _budget, _plans
from . import _jacobian as JM
from . import _terms as T
from ._jacobian import Jacobian
from ._validation import as_finite_float_array
from .ordering import (
    ORDERS,
    OrderCost,
    _matrix_chain_costs,
    bracketing_steps,
    check_order,
    forward_path,
    matrix_chain_costs,
    reverse_path,
)

__all__ = ["contract", "chain", "chain_cost", "chain_vjp", "chain_jvp"]


def check_links(js, what="chain") -> None:
    """Raise ``ValueError`` naming both shapes where ``js[k].in_shape != js[k + 1].out_shape``."""
    for pos, (left, right) in enumerate(zip(js, js[1:])):
        if left.in_shape != right.out_shape:
            raise ValueError(
                f"{what}: factor {pos} has in_shape {left.in_shape} but factor {pos + 1} has "
                f"out_shape {right.out_shape}"
            )


# ---- Plain arrays ----------------------------------------------------------------------------


def _plain_array(x, name: str):
    """A plain operand of ``contract``/``chain``: a numpy array (or what converts to one) is checked
    as every entry point checks arrays (float32/float64, integers and booleans promoted, finite);
    another backend's array (dask, torch, ...) is kept as it is, its dtype checked when numpy knows it
    (its values are not read: a dask array would be computed)."""
    if isinstance(x, np.ndarray) or not (hasattr(x, "shape") and hasattr(x, "dtype")):
        return as_finite_float_array(x, name)
    try:
        dtype = np.dtype(x.dtype)
    except TypeError:
        return x
    if dtype.kind not in "biuf" or dtype == np.float16:
        raise TypeError(f"{name}: unsupported dtype {dtype}; tensorjac works with float32 and float64")
    return x


def _contract_arrays(DF, DG, axes):
    """``np.tensordot(DF, DG, axes)`` through a cached plan (numpy, dask, torch, ... arrays)."""
    DF, DG = _plain_array(DF, "contract: DF"), _plain_array(DG, "contract: DG")
    f_shape, g_shape = tuple(DF.shape), tuple(DG.shape)
    if axes is None:
        fits = [k for k in range(0, min(len(f_shape), len(g_shape)) + 1) if f_shape[len(f_shape) - k:] == g_shape[:k]]
        # k = 0 (an outer product) only links a 0-d array: two arrays with axes and no shared
        # middle axes are a mistake far more often than an outer product (pass axes=0 for that).
        fits = [k for k in fits if k > 0 or not f_shape or not g_shape]
        if not fits:
            raise ValueError(
                f"contract: the arrays of shapes {f_shape} and {g_shape} do not link: no trailing axes of DF "
                "equal the leading axes of DG; pass axes=0 for their outer product (a scalar middle)"
            )
        if len(fits) != 1:
            raise ValueError(
                f"contract: cannot tell how many middle axes to sum for arrays of shapes {f_shape} and "
                f"{g_shape} (candidates {fits}); pass axes=k or wrap them as tensorjac.Jacobian(array, out_ndim)"
            )
        axes = fits[0]
    if isinstance(axes, bool) or not isinstance(axes, (int, np.integer)) or not 0 <= axes <= min(len(f_shape), len(g_shape)):
        raise ValueError(f"contract: axes must be an int between 0 and min(ndim) for shapes {f_shape}, {g_shape}")
    if f_shape[len(f_shape) - axes:] != g_shape[:axes]:
        raise ValueError(
            f"contract: the last {axes} axes of DF {f_shape} do not match the first {axes} axes of DG {g_shape}"
        )
    nf = len(f_shape)
    f_sub = "".join(T.symbol(i) for i in range(nf))
    g_sub = f_sub[nf - axes:] + "".join(T.symbol(nf + i) for i in range(len(g_shape) - axes))
    out = f_sub[: nf - axes] + g_sub[axes:]
    return _plans.plan(f"{f_sub},{g_sub}->{out}", (f_shape, g_shape))(DF, DG)


def _array_links(arrays, axes) -> list[int]:
    """How many axes link each pair of neighbouring plain arrays of a chain."""
    shapes = [tuple(np.shape(a)) for a in arrays]
    ndims = [len(s) for s in shapes]
    n = len(arrays)

    def consistent(ks):
        if len(ks) != n - 1 or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0 for k in ks):
            return False
        if ks[0] > ndims[0] or ks[-1] > ndims[-1]:
            return False
        if any(ndims[i] != ks[i - 1] + ks[i] for i in range(1, n - 1)):
            return False
        return all(shapes[i][ndims[i] - ks[i]:] == shapes[i + 1][: ks[i]] for i in range(n - 1))

    if axes is None:
        found = []
        for k0 in range(ndims[0] + 1):
            ks = [k0]
            for i in range(1, n - 1):
                ks.append(ndims[i] - ks[-1])
            if consistent(ks):
                found.append(ks)
        # as in contract: a link of no axes only next to a 0-d array
        found = [ks for ks in found if all(k > 0 or not ndims[i] or not ndims[i + 1] for i, k in enumerate(ks))]
        positive = [ks for ks in found if all(k > 0 for k in ks)]
        found = positive or found
        if not found:
            raise ValueError(
                f"chain: arrays of shapes {shapes} do not link: no split of their axes fits (each link needs "
                "trailing axes of one array equal to leading axes of the next); pass axes=0 for a scalar link"
            )
        if len(found) != 1:
            raise ValueError(
                f"chain: cannot tell how many axes link arrays of shapes {shapes} (candidates {found}); "
                "pass axes=k (or one k per link), or wrap them as tensorjac.Jacobian(array, out_ndim)"
            )
        return found[0]
    ks = [axes] * (n - 1) if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool) else list(axes)
    if not consistent(ks):
        raise ValueError(
            f"chain: axes={axes!r} does not fit arrays of shapes {shapes}: each link needs the last k axes of "
            "one array equal to the first k axes of the next, and a middle array has exactly the axes of its "
            "two links"
        )
    return [int(k) for k in ks]


def _array_dims(arrays, ks) -> tuple[int, ...]:
    shapes = [tuple(np.shape(a)) for a in arrays]
    first = shapes[0]
    dims = [math.prod(first[: len(first) - ks[0]])]
    dims += [math.prod(shapes[i][len(shapes[i]) - ks[i]:]) for i in range(len(ks))]
    dims.append(math.prod(shapes[-1][ks[-1]:]))
    return tuple(dims)


def _run_bracketing(path, leaves, combine):
    """Evaluate a bracketing; ``combine(left, right, link)`` with ``link`` the position of the
    last factor on the left (the link between it and the next factor)."""
    n = len(leaves)
    slots = list(leaves)
    last = list(range(n))  # the last factor position covered by each slot
    for left, right in bracketing_steps(path):
        slots.append(combine(slots[left], slots[right], last[left]))
        last.append(last[right])
    return slots[-1]


# ---- contract --------------------------------------------------------------------------------


def contract(DF, DG, axes: int | None = None):
    """The chain rule ``c(DF, DG)[i, j] = sum_k DF[i, k] DG[k, j]`` over all middle indices ``k``.

    ``DF`` is the Jacobian of the outer function (``T_k -> T_l``), ``DG`` of the inner one
    (``T_n -> T_k``); the result is the Jacobian of the composition, ``T_n -> T_l``.  With
    :class:`Jacobian` arguments the structure (deltas, diagonals, factors) is kept and the
    result is a :class:`Jacobian`; ``DF @ DG`` is the same.  With two plain arrays the result is
    ``np.tensordot(DF, DG, axes)``, planned once per shapes and reused; dask, torch, jax, ...
    arrays are contracted by their own backend (through opt_einsum) and returned as such, so a
    dask array too big for memory is contracted chunk by chunk.  ``axes`` may be omitted when
    only one split fits the shapes.  (A :class:`Jacobian` holds numpy arrays: wrapping a dask
    array in one computes it.)

    Raises:
        ValueError: ``DF.in_shape != DG.out_shape`` (both shapes are named).

    >>> import numpy as np, tensorjac as tj
    >>> DF = tj.Jacobian(np.array([[1.0, 2.0]]), out_ndim=1)      # T_(2) -> T_(1)
    >>> DG = tj.Jacobian.diagonal(np.array([3.0, 4.0]))          # T_(2) -> T_(2)
    >>> tj.contract(DF, DG).dense()
    array([[3., 8.]])
    """
    if isinstance(DF, Jacobian):
        return DF @ DG
    if isinstance(DG, Jacobian):
        return DF @ DG  # Jacobian.__rmatmul__ (Jacobian sets __array_ufunc__ = None)
    return _contract_arrays(DF, DG, axes)


# ---- Chains ----------------------------------------------------------------------------------

# The lazy product of a structured chain has prod(number of terms) terms; above this many the
# chain is contracted step by step instead (merging terms as it goes).
_MAX_LAZY_TERMS = 64


@functools.lru_cache(maxsize=1024)
def _dense_program(dims: tuple[int, ...], order: str):
    """(largest intermediate, steps (left slot, right slot, small product?)) of a dense chain."""
    cost = _matrix_chain_costs(dims)[order]
    shapes = [(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]  # (rows, cols) of every slot
    program = []
    for left, right in bracketing_steps(cost.path):
        (rows, inner), (_, cols) = shapes[left], shapes[right]
        shapes.append((rows, cols))
        program.append((left, right, rows * inner * cols <= _plans._SMALL_PRODUCT))
    return cost.largest_intermediate, tuple(program)


def _chain_dense(js, order: str):
    """The chain of dense Jacobians by matrix products on their matrix views, bracketed by the
    matrix-chain program; None when a Jacobian is structured or the products would not fit the
    dense budget.  Kept lean: small chains are dominated by this function's own overhead."""
    found = JM.matrix_views(js)
    if found is None:
        return None
    mats, dims, dtype = found
    largest, program = _dense_program(dims, order)
    if not _budget.fits(largest, dtype.itemsize):
        return None
    for left, right, small in program:
        # ndarray.dot has the least call overhead; np.matmul is faster for big products.
        mats.append(mats[left].dot(mats[right]) if small else mats[left] @ mats[right])
    out_shape, in_shape = js[0].out_shape, js[-1].in_shape
    matrix = arr = mats[-1]
    if arr.dtype != dtype:
        matrix = arr = arr.astype(dtype)
    if len(out_shape) != 1 or len(in_shape) != 1:
        arr = arr.reshape(out_shape + in_shape)
    return JM.from_owned_dense(arr, out_shape, in_shape, dtype, matrix)


def _chain_structured(js, order: str):
    """Contract a chain of Jacobians through their terms; returns (result, path used)."""
    n = len(js)
    if order == "optimal":
        if math.prod(len(j._terms) for j in js) <= _MAX_LAZY_TERMS:
            # One lazy product of every factor, then one contraction per term: the path
            # search (tensorjac._plans) sees the whole chain at once.
            result = js[0]
            for j in js[1:]:
                result = JM.product(result, j, compact=False)
            return JM.finish(result), tuple(range(n))
        order = "reverse" if math.prod(js[0].out_shape) <= math.prod(js[-1].in_shape) else "forward"
    if order == "reverse":
        result = js[0]
        for j in js[1:]:
            result = JM.product(result, j)
        return result, reverse_path(n)
    result = js[-1]
    for j in reversed(js[:-1]):
        result = JM.product(j, result)
    return result, forward_path(n)


def _route(items, axes, what):
    """Validate a chain and tell its kind: ``("one", None, items)``, ``("arrays", ks, arrays)`` (the
    arrays checked) or ``("jacobians", None, items)``."""
    if not items:
        raise ValueError(f"{what} needs at least one Jacobian")
    n_jac = sum(isinstance(j, Jacobian) for j in items)
    if n_jac == 0:
        items = tuple(_plain_array(a, f"{what}: factor {pos}") for pos, a in enumerate(items))
        if len(items) == 1:
            return "one", None, items
        return "arrays", _array_links(items, axes), items
    for pos, j in enumerate(items):
        if not isinstance(j, Jacobian) and not hasattr(j, "shape") and not isinstance(j, (list, tuple)):
            raise TypeError(f"{what}: factor {pos} is a {type(j).__name__}, not a tensorjac.Jacobian or an array")
    if n_jac != len(items):
        raise ValueError(
            f"{what} takes tensorjac.Jacobian objects or plain arrays, not a mix; wrap the arrays as "
            "Jacobian(array, out_ndim)"
        )
    if axes is not None:
        raise ValueError(f"{what}: axes is for chains of plain arrays; Jacobians know their out and in axes")
    check_links(items, what)
    return ("one" if len(items) == 1 else "jacobians"), None, items


def chain(*jacobians, order: str = "optimal", axes=None):
    """Contract a chain ``c(J1, c(J2, ... Jn))`` of Jacobians, outermost function first.

    Args:
        *jacobians: :class:`Jacobian` objects, ``J1.in_shape == J2.out_shape`` and so on; or
            plain arrays (numpy, dask, torch, ...), contracted as ``np.tensordot`` chains and
            returned as arrays of the same kind.
        order: ``"optimal"`` (default): for dense Jacobians the bracketing of least flops (the
            matrix-chain dynamic program on the matrix views); when any Jacobian is structured,
            the lazy product of all terms, each evaluated by one contraction over all its
            factors, planned as a whole.  ``"forward"``: from the input side (right to left), as
            forward mode does.  ``"reverse"``: from the output side (left to right), as
            backpropagation does.  :func:`tensorjac.chain_cost` predicts the cost of each
            before running.
        axes: for plain arrays only: how many axes link neighbours (an int for every link, or
            one per link); inferred when the shapes allow only one split.

    Dense products whose result would exceed the dense budget
    (:func:`tensorjac.get_dense_budget`) are left factored instead of being evaluated.

    >>> import numpy as np, tensorjac as tj
    >>> d = tj.Jacobian.diagonal
    >>> tj.chain(d(np.array([2.0])), d(np.array([3.0])), d(np.array([4.0]))).dense()
    array([[24.]])
    >>> A, B, C = np.ones((2, 3)), np.ones((3, 4)), np.ones((4, 5))
    >>> tj.chain(A, B, C, order="reverse")            # plain arrays: one axis per link
    array([[12., 12., 12., 12., 12.],
           [12., 12., 12., 12., 12.]])
    """
    if len(jacobians) > 1 and axes is None and order in ORDERS:
        result = _chain_dense(jacobians, order)  # the fast path: dense Jacobians, matrix products
        if result is not None:
            return result
    check_order(order)
    kind, ks, jacobians = _route(jacobians, axes, "chain")
    if kind == "one":
        return jacobians[0]
    if kind == "arrays":
        path = matrix_chain_costs(_array_dims(jacobians, ks))[order].path
        return _run_bracketing(path, jacobians, lambda left, right, link: _contract_arrays(left, right, ks[link]))
    return _chain_structured(jacobians, order)[0]


def chain_cost(*jacobians, axes=None) -> dict[str, OrderCost]:
    """The predicted cost of each order of ``tensorjac.chain(*jacobians)``, before running it.

    For dense Jacobians (and plain arrays) the costs come from the matrix views alone; for
    structured ones, ``chain`` is dry-run: its contractions are planned (the plans are cached
    and reused by the real run) but nothing is computed.  A product that ``chain`` leaves
    factored (its dense form would be bigger than its factors) costs nothing until
    ``dense()`` is called, and is counted as such.

    Args:
        *jacobians: as for ``tensorjac.chain``: :class:`~tensorjac.Jacobian` objects, or plain
            arrays with ``axes``.
        axes: for plain arrays, as for ``tensorjac.chain``.

    Returns:
        ``{"optimal": OrderCost, "forward": OrderCost, "reverse": OrderCost}``.

    >>> import numpy as np, tensorjac as tj
    >>> A, B, C = (tj.Jacobian(np.ones(s), 1) for s in [(2, 3), (3, 4), (4, 5)])
    >>> costs = tj.chain_cost(A, B, C)
    >>> costs["optimal"]
    OrderCost(flops=128, largest_intermediate=10, path=((0, 1), 2))
    >>> costs["forward"].flops, costs["reverse"].flops
    (180, 128)
    """
    kind, ks, jacobians = _route(jacobians, axes, "chain_cost")
    if kind == "one":
        return {order: OrderCost(0, 0, 0) for order in ORDERS}
    if kind == "arrays":
        return matrix_chain_costs(_array_dims(jacobians, ks))
    found = JM.matrix_views(jacobians)
    dense_costs = matrix_chain_costs(found[1]) if found is not None else {}
    dtype = np.result_type(*(j.dtype for j in jacobians))
    costs = {}
    for order in ORDERS:
        cost = dense_costs.get(order)
        if cost is not None and _budget.fits(cost.largest_intermediate, dtype.itemsize):
            costs[order] = cost
            continue
        with _plans.recording() as record:
            _, path = _chain_structured(jacobians, order)
        costs[order] = OrderCost(record.flops, record.largest, path)
    return costs


# ---- Pushing a cotangent or a tangent through a chain ----------------------------------------


def _as_chain(J, what: str) -> list[Jacobian]:
    js = list(J) if isinstance(J, (list, tuple)) else [J]
    if not js:
        raise ValueError(f"{what}: give a Jacobian or a non-empty sequence of Jacobians")
    for pos, j in enumerate(js):
        if not isinstance(j, Jacobian):
            raise ValueError(f"{what}: factor {pos} is a {type(j).__name__}, not a tensorjac.Jacobian")
    check_links(js, what)
    return js


def chain_vjp(J, cotangent) -> np.ndarray:
    """Vector-Jacobian product ``c(u, J)``: a cotangent of ``J.out_shape`` pulled back to ``J.in_shape``.

    ``J`` may be one :class:`Jacobian` or a chain ``[J1, ..., Jn]`` (outermost first): the
    cotangent is then contracted from the left one Jacobian at a time, staying one dense array
    of each intermediate's shape, so the cost is that of backpropagation.

    >>> import numpy as np, tensorjac as tj
    >>> tj.chain_vjp(tj.Jacobian.diagonal(np.array([2.0, 3.0])), np.array([1.0, 1.0]))
    array([2., 3.])
    >>> tj.chain_vjp([tj.Jacobian(np.ones((1, 2)), 1), tj.Jacobian.diagonal(np.array([2.0, 3.0]))], np.ones(1))
    array([2., 3.])
    """
    js = _as_chain(J, "chain_vjp")
    u = as_finite_float_array(cotangent, "cotangent")
    if u.shape != js[0].out_shape:
        raise ValueError(f"chain_vjp: cotangent has shape {u.shape} but the Jacobian's out_shape is {js[0].out_shape}")
    given = u
    for j in js:
        u = JM.pull(u, j)
    return np.asarray(JM._fresh(u, given).reshape(js[-1].in_shape))


def chain_jvp(J, tangent) -> np.ndarray:
    """Jacobian-vector product ``c(J, v)``: a tangent of ``J.in_shape`` pushed to ``J.out_shape``.

    ``J`` may be one :class:`Jacobian` or a chain ``[J1, ..., Jn]`` (outermost first): the
    tangent is then contracted from the right one Jacobian at a time, as forward mode does.

    >>> import numpy as np, tensorjac as tj
    >>> tj.chain_jvp(tj.Jacobian.diagonal(np.array([2.0, 3.0])), np.array([1.0, 1.0]))
    array([2., 3.])
    """
    js = _as_chain(J, "chain_jvp")
    v = as_finite_float_array(tangent, "tangent")
    if v.shape != js[-1].in_shape:
        raise ValueError(f"chain_jvp: tangent has shape {v.shape} but the Jacobian's in_shape is {js[-1].in_shape}")
    given = v
    for j in reversed(js):
        v = JM.push(j, v)
    return np.asarray(JM._fresh(v, given).reshape(js[0].out_shape))
