"""The chain rule as a contraction: ``c(DF, DG)[i, j] = sum_k DF[i, k] DG[k, j]``."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from . import _plans
from . import jacobian as _jacobian_module
from ._validation import as_finite_float_array
from .jacobian import (
    Jacobian,
    _compact,
    _einsum,
    _fresh_labels,
    _label_sizes,
    _merge_terms,
    _symbol,
    _Term,
    get_dense_budget,
)
from .ordering import (
    ORDERS,
    OrderCost,
    _matrix_chain_costs,
    check_order,
    forward_path,
    matrix_chain_costs,
    reverse_path,
)

__all__ = ["contract", "chain", "vjp", "jvp"]


def _is_jacobian(x) -> bool:
    return isinstance(x, Jacobian)


def _contract_arrays(DF, DG, axes):
    """``np.tensordot(DF, DG, axes)`` through a cached plan (numpy, dask, torch, ... arrays)."""
    if not hasattr(DF, "shape"):
        DF = np.asarray(DF)
    if not hasattr(DG, "shape"):
        DG = np.asarray(DG)
    f_shape, g_shape = tuple(DF.shape), tuple(DG.shape)
    if axes is None:
        fits = [k for k in range(0, min(len(f_shape), len(g_shape)) + 1) if f_shape[len(f_shape) - k:] == g_shape[:k]]
        fits = [k for k in fits if k > 0] or fits
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
    f_sub = "".join(_symbol(i) for i in range(nf))
    g_sub = f_sub[nf - axes:] + "".join(_symbol(nf + i) for i in range(len(g_shape) - axes))
    out = f_sub[: nf - axes] + g_sub[axes:]
    return _plans.plan(f"{f_sub},{g_sub}->{out}", (f_shape, g_shape))(DF, DG)


def _as_jacobian(x, out_ndim: int, role: str, middle_shape: tuple) -> Jacobian:
    """Wrap a plain array operand of ``contract`` whose split is fixed by the other operand's
    ``middle_shape`` (DF's in_shape for DG, DG's out_shape for DF)."""
    arr = as_finite_float_array(x, role)
    if not 0 <= out_ndim <= arr.ndim:
        other = "DF.in_shape" if role == "DG" else "DG.out_shape"
        raise ValueError(
            f"contract: the {role} array has shape {arr.shape}, too few axes to hold the middle "
            f"shape {other} {middle_shape}"
        )
    return Jacobian(arr, out_ndim)


def _contract_terms(F: _Term, G: _Term, in_shape) -> _Term:
    """One term of c(DF, DG): rename G's labels apart, then identify G's outputs with F's inputs."""
    rename = {lab: next(_fresh_labels) for lab in G.labels()}
    for g_out, f_in in zip(G.out_labels, F.in_labels):
        rename[g_out] = f_in
    G = G.relabel(rename)
    factors = F.factors + G.factors
    # A summed label that no factor carries (e.g. sum after broadcast) contributes its size.
    carried = {lab for _, labs in factors for lab in labs}
    free = set(F.out_labels) | set(G.in_labels)
    scale = math.prod(size for lab, size in zip(F.in_labels, in_shape) if lab not in free and lab not in carried)
    if scale != 1:
        factors = factors + ((np.asarray(float(scale)), ()),)
    return _Term(factors, F.out_labels, G.in_labels)


def _product(DF: Jacobian, DG: Jacobian, compact: bool = True) -> Jacobian:
    """c(DF, DG) on Jacobians with matching shapes; ``compact=False`` keeps every term lazy."""
    dtype = np.result_type(DF.dtype, DG.dtype)
    terms = []
    for F in DF._terms:
        for G in DG._terms:
            term = _contract_terms(F, G, DF.in_shape)
            if compact:
                term = _compact(term, _label_sizes(term, DF.out_shape, DG.in_shape), dtype)
            terms.append(term)
    return Jacobian._from_terms(DF.out_shape, DG.in_shape, _merge_terms(terms) if compact else terms, dtype)


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
    if not _is_jacobian(DF) and not _is_jacobian(DG):
        return _contract_arrays(DF, DG, axes)
    if not _is_jacobian(DG):
        DG = _as_jacobian(DG, len(DF.in_shape), "DG", DF.in_shape)
    elif not _is_jacobian(DF):
        DF = _as_jacobian(DF, np.ndim(DF) - len(DG.out_shape), "DF", DG.out_shape)
    if DF.in_shape != DG.out_shape:
        raise ValueError(
            f"contract: DF.in_shape {DF.in_shape} does not match DG.out_shape {DG.out_shape} "
            f"(DF has out_shape {DF.out_shape} + in_shape {DF.in_shape}, "
            f"DG has out_shape {DG.out_shape} + in_shape {DG.in_shape})"
        )
    return _product(DF, DG)


# ---- Chains ---------------------------------------------------------------------------------

# The lazy product of a structured chain has prod(number of terms) terms; above this many the
# chain is contracted step by step instead (merging terms as it goes).
_MAX_LAZY_TERMS = 64


_new_jacobian = functools.partial(Jacobian.__new__, Jacobian)


_tuple_new = tuple.__new__


def _check_links(js, what="chain") -> None:
    for pos, (left, right) in enumerate(zip(js, js[1:])):
        if left.in_shape != right.out_shape:
            raise ValueError(
                f"{what}: factor {pos} has in_shape {left.in_shape} but factor {pos + 1} has "
                f"out_shape {right.out_shape}"
            )


def _last(node) -> int:
    while not isinstance(node, int):
        node = node[1]
    return node


def _run_path(node, leaves, combine):
    """Evaluate a bracketing; ``combine(left, right, link)`` with ``link`` the position of the
    last factor on the left."""
    if isinstance(node, int):
        return leaves[node]
    return combine(_run_path(node[0], leaves, combine), _run_path(node[1], leaves, combine), _last(node[0]))


def _dense_dims(js):
    """The matrix-view sizes of a chain of dense Jacobians, or None if one is structured."""
    for j in js:
        if not j.is_dense:
            return None
    return tuple(math.prod(j.out_shape) for j in js) + (math.prod(js[-1].in_shape),)


def _fits_budget(entries: int, dtype) -> bool:
    return entries * np.dtype(dtype).itemsize <= get_dense_budget()


def _chain_structured(js, order: str):
    """Contract a chain of Jacobians through their terms; returns (result, path used)."""
    n = len(js)
    if order == "optimal":
        if math.prod(len(j._terms) for j in js) <= _MAX_LAZY_TERMS:
            # One lazy product of every factor, then one contraction per term: the path
            # search (tensorjac._plans) sees the whole chain at once.
            result = js[0]
            for j in js[1:]:
                result = _product(result, j, compact=False)
            terms = [
                _compact(t, _label_sizes(t, result.out_shape, result.in_shape), result.dtype) for t in result._terms
            ]
            result = Jacobian._from_terms(result.out_shape, result.in_shape, _merge_terms(terms), result.dtype)
            return result, tuple(range(n))
        order = "reverse" if math.prod(js[0].out_shape) <= math.prod(js[-1].in_shape) else "forward"
    if order == "reverse":
        result = js[0]
        for j in js[1:]:
            result = _product(result, j)
        return result, reverse_path(n)
    result = js[-1]
    for j in reversed(js[:-1]):
        result = _product(j, result)
    return result, forward_path(n)


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
        found = [ks for ks in found if all(k > 0 for k in ks)] or found
        if not found:
            raise ValueError(f"chain: arrays of shapes {shapes} do not link: no split of their axes fits")
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


@functools.lru_cache(maxsize=1024)
def _program(path) -> tuple[tuple[int, int], ...]:
    """A bracketing as a flat list of (left slot, right slot) products; leaves are slots 0..n-1."""
    steps: list[tuple[int, int]] = []
    n = 0

    def count(node):
        nonlocal n
        if isinstance(node, int):
            n = max(n, node + 1)
        else:
            count(node[0])
            count(node[1])

    count(path)

    def emit(node) -> int:
        if isinstance(node, int):
            return node
        left, right = emit(node[0]), emit(node[1])
        steps.append((left, right))
        return n + len(steps) - 1

    emit(path)
    return tuple(steps)


@functools.lru_cache(maxsize=1024)
def _dense_program(dims: tuple[int, ...], order: str):
    """(largest intermediate, steps (left slot, right slot, small product?)) of a dense chain."""
    cost = _matrix_chain_costs(dims)[order]
    steps = _program(cost.path)
    # The (rows, cols) of every slot, to tell small products from big ones.
    shapes = [(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]
    program = []
    for left, right in steps:
        (rows, inner), (_, cols) = shapes[left], shapes[right]
        shapes.append((rows, cols))
        program.append((left, right, rows * inner * cols <= _plans._SMALL_PRODUCT))
    return cost.largest_intermediate, tuple(program)


def _chain_dense(js, order: str):
    """The chain of dense Jacobians by matrix products on their matrix views, bracketed by the
    matrix-chain program; None when a Jacobian is structured or the products would not fit the
    dense budget.  Kept lean: small chains are dominated by this function's own overhead."""
    mats, dims = [], []
    first = js[0]
    if first.__class__ is not Jacobian:
        return None
    dtype = first.dtype
    prev_in = first.out_shape
    for j in js:
        if j.__class__ is not Jacobian:
            return None
        try:
            (term,) = j._terms
            ((arr, labs),) = term.factors
        except ValueError:
            return None
        if j.out_shape != prev_in:
            return None  # reported by the caller's link check
        out_shape, prev_in = j.out_shape, j.in_shape
        if labs != term.out_labels + term.in_labels:
            if not j.is_dense:
                return None
            arr = arr.transpose([labs.index(lab) for lab in term.out_labels + term.in_labels])
        if len(out_shape) == 1 and arr.ndim == 2:
            dims.append(out_shape[0])
        else:
            dims.append(math.prod(out_shape))
            arr = arr.reshape(dims[-1], math.prod(prev_in))
        mats.append(arr)
        if j.dtype is not dtype:
            dtype = np.result_type(dtype, j.dtype)
    dims.append(math.prod(prev_in))
    largest, program = _dense_program(tuple(dims), order)
    if largest * dtype.itemsize > _jacobian_module._DENSE_BUDGET_BYTES:
        return None
    for left, right, small in program:
        # ndarray.dot has the least call overhead; np.matmul is faster for big products.
        mats.append(mats[left].dot(mats[right]) if small else mats[left] @ mats[right])
    out_shape, in_shape = first.out_shape, prev_in
    arr = mats[-1]
    if len(out_shape) != 1 or len(in_shape) != 1:
        arr = arr.reshape(out_shape + in_shape)
    if arr.dtype is not dtype:
        arr = arr.astype(dtype, copy=False)
    result = _new_jacobian()
    result.out_shape, result.in_shape, result.dtype = out_shape, in_shape, dtype
    nout = len(out_shape)
    if nout == 1 and len(in_shape) == 1:
        labels = (next(_fresh_labels), next(_fresh_labels))
    else:
        labels = tuple(itertools.islice(_fresh_labels, nout + len(in_shape)))
    # tuple.__new__ skips the namedtuple constructor's Python-level call
    result._terms = (_tuple_new(_Term, (((arr, labels),), labels[:nout], labels[nout:])),)
    return result


def chain(*jacobians, order: str = "optimal", axes=None):
    """Contract a chain ``c(J1, c(J2, ... Jn))`` of Jacobians, outermost function first.

    Args:
        *jacobians: :class:`Jacobian` objects, ``J1.in_shape == J2.out_shape`` and so on; or
            plain arrays (numpy, dask, torch, ...), contracted as ``np.tensordot`` chains and
            returned as arrays of the same kind.
        order: ``"optimal"`` (default): for dense Jacobians the bracketing of least flops (the
            matrix-chain dynamic program on the matrix views); when any Jacobian is structured,
            the lazy product of all terms, each evaluated by one contraction over all its
            factors, planned as a whole.  ``"forward"``: from the input side (right to left), as forward mode
            does.  ``"reverse"``: from the output side (left to right), as backpropagation
            does.  :func:`tensorjac.chain_cost` predicts the cost of each before running.
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
    if not jacobians:
        raise ValueError("chain needs at least one Jacobian")
    n_jac = sum(_is_jacobian(j) for j in jacobians)
    if n_jac == 0:
        if len(jacobians) == 1:
            return jacobians[0]
        ks = _array_links(jacobians, axes)
        path = matrix_chain_costs(_array_dims(jacobians, ks))[order].path
        return _run_path(path, jacobians, lambda left, right, link: _contract_arrays(left, right, ks[link]))
    if n_jac != len(jacobians):
        raise ValueError(
            "chain takes tensorjac.Jacobian objects or plain arrays, not a mix; wrap the arrays as "
            "Jacobian(array, out_ndim)"
        )
    if axes is not None:
        raise ValueError("chain: axes is for chains of plain arrays; Jacobians know their out and in axes")
    js = jacobians
    if len(js) == 1:
        return js[0]
    _check_links(js)
    return _chain_structured(js, order)[0]


def _chain_costs(jacobians, axes) -> dict[str, OrderCost]:
    """The implementation of :func:`tensorjac.chain_cost` (same routing as :func:`chain`)."""
    if not jacobians:
        raise ValueError("chain_cost needs at least one Jacobian")
    n_jac = sum(_is_jacobian(j) for j in jacobians)
    if n_jac == 0:
        if len(jacobians) == 1:
            return {order: OrderCost(0, 0, 0) for order in ORDERS}
        return matrix_chain_costs(_array_dims(jacobians, _array_links(jacobians, axes)))
    if n_jac != len(jacobians):
        raise ValueError("chain_cost takes tensorjac.Jacobian objects or plain arrays, not a mix")
    if axes is not None:
        raise ValueError("chain_cost: axes is for chains of plain arrays; Jacobians know their out and in axes")
    js = jacobians
    _check_links(js, "chain_cost")
    if len(js) == 1:
        return {order: OrderCost(0, 0, 0) for order in ORDERS}
    dims = _dense_dims(js)
    dense_costs = matrix_chain_costs(dims) if dims is not None else {}
    dtype = np.result_type(*(j.dtype for j in js))
    costs = {}
    for order in ORDERS:
        cost = dense_costs.get(order)
        if cost is not None and _fits_budget(cost.largest_intermediate, dtype):
            costs[order] = cost
            continue
        with _plans.recording() as record:
            _, path = _chain_structured(js, order)
        costs[order] = OrderCost(record.flops, record.largest, path)
    return costs


# ---- Pushing a cotangent or a tangent through a chain ----------------------------------------


def _as_chain(J, what: str) -> list[Jacobian]:
    js = list(J) if isinstance(J, (list, tuple)) else [J]
    if not js:
        raise ValueError(f"{what}: give a Jacobian or a non-empty sequence of Jacobians")
    for pos, j in enumerate(js):
        if not _is_jacobian(j):
            raise ValueError(f"{what}: factor {pos} is a {type(j).__name__}, not a tensorjac.Jacobian")
    _check_links(js, what)
    return js


def _pull(u: np.ndarray, J: Jacobian) -> np.ndarray:
    """One backpropagation step: ``c(u, J)`` for a dense cotangent ``u`` of ``J.out_shape``."""
    dtype = np.result_type(u.dtype, J.dtype)
    result = None
    for term in J._terms:
        sizes = _label_sizes(term, J.out_shape, J.in_shape)
        part = _einsum(((u, term.out_labels),) + term.factors, term.in_labels, sizes, dtype)
        result = part if result is None else result + part
    return np.zeros(J.in_shape, dtype=dtype) if result is None else result


def _push(J: Jacobian, v: np.ndarray) -> np.ndarray:
    """One forward-mode step: ``c(J, v)`` for a dense tangent ``v`` of ``J.in_shape``."""
    dtype = np.result_type(v.dtype, J.dtype)
    result = None
    for term in J._terms:
        sizes = _label_sizes(term, J.out_shape, J.in_shape)
        part = _einsum(term.factors + ((v, term.in_labels),), term.out_labels, sizes, dtype)
        result = part if result is None else result + part
    return np.zeros(J.out_shape, dtype=dtype) if result is None else result


def vjp(J, cotangent) -> np.ndarray:
    """Vector-Jacobian product ``c(u, J)``: a cotangent of ``J.out_shape`` pulled back to ``J.in_shape``.

    ``J`` may be one :class:`Jacobian` or a chain ``[J1, ..., Jn]`` (outermost first): the
    cotangent is then contracted from the left one Jacobian at a time, staying one dense array
    of each intermediate's shape, so the cost is that of backpropagation.

    >>> import numpy as np, tensorjac as tj
    >>> tj.vjp(tj.Jacobian.diagonal(np.array([2.0, 3.0])), np.array([1.0, 1.0]))
    array([2., 3.])
    >>> tj.vjp([tj.Jacobian(np.ones((1, 2)), 1), tj.Jacobian.diagonal(np.array([2.0, 3.0]))], np.ones(1))
    array([2., 3.])
    """
    js = _as_chain(J, "vjp")
    u = as_finite_float_array(cotangent, "cotangent")
    if u.shape != js[0].out_shape:
        raise ValueError(f"vjp: cotangent has shape {u.shape} but the Jacobian's out_shape is {js[0].out_shape}")
    cotangent = u
    for j in js:
        u = _pull(u, j)
    if np.may_share_memory(u, cotangent):  # e.g. through an identity: never return the input itself
        u = u.copy()
    return u.reshape(js[-1].in_shape)


def jvp(J, tangent) -> np.ndarray:
    """Jacobian-vector product ``c(J, v)``: a tangent of ``J.in_shape`` pushed to ``J.out_shape``.

    ``J`` may be one :class:`Jacobian` or a chain ``[J1, ..., Jn]`` (outermost first): the
    tangent is then contracted from the right one Jacobian at a time, as forward mode does.

    >>> import numpy as np, tensorjac as tj
    >>> tj.jvp(tj.Jacobian.diagonal(np.array([2.0, 3.0])), np.array([1.0, 1.0]))
    array([2., 3.])
    """
    js = _as_chain(J, "jvp")
    v = as_finite_float_array(tangent, "tangent")
    if v.shape != js[-1].in_shape:
        raise ValueError(f"jvp: tangent has shape {v.shape} but the Jacobian's in_shape is {js[-1].in_shape}")
    tangent = v
    for j in reversed(js):
        v = _push(j, v)
    if np.may_share_memory(v, tangent):
        v = v.copy()
    return v.reshape(js[0].out_shape)
