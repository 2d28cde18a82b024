"""The chain rule as a contraction: ``c(DF, DG)[i, j] = sum_k DF[i, k] DG[k, j]``."""

from __future__ import annotations

import math

import numpy as np
import opt_einsum as oe

from ._validation import as_finite_float_array
from .jacobian import Jacobian, _compact, _fresh_labels, _label_sizes, _merge_terms, _Term

__all__ = ["contract", "chain", "vjp", "jvp"]


def _is_jacobian(x) -> bool:
    return isinstance(x, Jacobian)


def _contract_arrays(DF, DG, axes):
    """``np.tensordot(DF, DG, axes)`` through opt_einsum (numpy, dask, torch, ... arrays)."""
    f_shape, g_shape = tuple(np.shape(DF)), tuple(np.shape(DG))
    if axes is None:
        fits = [k for k in range(0, min(len(f_shape), len(g_shape)) + 1) if f_shape[len(f_shape) - k:] == g_shape[:k]]
        fits = [k for k in fits if k > 0] or fits
        if len(fits) != 1:
            raise ValueError(
                f"contract: cannot tell how many middle axes to sum for arrays of shapes {f_shape} and "
                f"{g_shape} (candidates {fits}); pass axes=k or wrap them as tensorjac.Jacobian(array, out_ndim)"
            )
        axes = fits[0]
    if not isinstance(axes, (int, np.integer)) or not 0 <= axes <= min(len(f_shape), len(g_shape)):
        raise ValueError(f"contract: axes must be an int between 0 and min(ndim) for shapes {f_shape}, {g_shape}")
    if f_shape[len(f_shape) - axes:] != g_shape[:axes]:
        raise ValueError(
            f"contract: the last {axes} axes of DF {f_shape} do not match the first {axes} axes of DG {g_shape}"
        )
    nf = len(f_shape)
    f_sub = "".join(oe.get_symbol(i) for i in range(nf))
    g_sub = f_sub[nf - axes:] + "".join(oe.get_symbol(nf + i) for i in range(len(g_shape) - axes))
    out = f_sub[: nf - axes] + g_sub[axes:]
    return oe.contract(f"{f_sub},{g_sub}->{out}", DF, DG)


def _as_jacobian(x, out_ndim: int | None, role: str) -> Jacobian:
    if _is_jacobian(x):
        return x
    arr = as_finite_float_array(x, role)
    if out_ndim is None or not 0 <= out_ndim <= arr.ndim:
        raise ValueError(f"contract: {role} array of shape {arr.shape} cannot be split into out and in axes")
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


def contract(DF, DG, axes: int | None = None):
    """The chain rule ``c(DF, DG)[i, j] = sum_k DF[i, k] DG[k, j]`` over all middle indices ``k``.

    ``DF`` is the Jacobian of the outer function (``T_k -> T_l``), ``DG`` of the inner one
    (``T_n -> T_k``); the result is the Jacobian of the composition, ``T_n -> T_l``.  With
    :class:`Jacobian` arguments the structure (deltas, diagonals, factors) is kept and the
    result is a :class:`Jacobian`; ``DF @ DG`` is the same.  With two plain arrays the result is
    ``np.tensordot(DF, DG, axes)`` computed by opt_einsum (dask, torch, ... arrays are
    contracted by their own backend and returned as such); ``axes`` may be omitted when only
    one split fits the shapes.

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
    if _is_jacobian(DF):
        DG = _as_jacobian(DG, len(DF.in_shape), "DG")
    else:
        DF = _as_jacobian(DF, np.ndim(DF) - len(DG.out_shape), "DF")
    if DF.in_shape != DG.out_shape:
        raise ValueError(
            f"contract: DF.in_shape {DF.in_shape} does not match DG.out_shape {DG.out_shape} "
            f"(DF has out_shape {DF.out_shape} + in_shape {DF.in_shape}, "
            f"DG has out_shape {DG.out_shape} + in_shape {DG.in_shape})"
        )
    dtype = np.result_type(DF.dtype, DG.dtype)
    terms = []
    for F in DF._terms:
        for G in DG._terms:
            term = _contract_terms(F, G, DF.in_shape)
            terms.append(_compact(term, _label_sizes(term, DF.out_shape, DG.in_shape), dtype))
    return Jacobian._from_terms(DF.out_shape, DG.in_shape, _merge_terms(terms), dtype)


def chain(*jacobians) -> Jacobian:
    """Contract a chain ``c(J1, c(J2, ... Jn))`` of Jacobians, outermost function first.

    The association is chosen by the outer sizes: a chain whose output is smaller than its
    input is contracted from the left (reverse mode, as backpropagation does), otherwise from
    the right (forward mode).

    >>> import numpy as np, tensorjac as tj
    >>> d = tj.Jacobian.diagonal
    >>> tj.chain(d(np.array([2.0])), d(np.array([3.0])), d(np.array([4.0]))).dense()
    array([[24.]])
    """
    if not jacobians:
        raise ValueError("chain needs at least one Jacobian")
    js = list(jacobians)
    if not all(_is_jacobian(j) for j in js):
        raise ValueError("chain takes tensorjac.Jacobian objects; wrap arrays as Jacobian(array, out_ndim)")
    for pos, (left, right) in enumerate(zip(js, js[1:])):
        if left.in_shape != right.out_shape:
            raise ValueError(
                f"chain: factor {pos} has in_shape {left.in_shape} but factor {pos + 1} has "
                f"out_shape {right.out_shape}"
            )
    if math.prod(js[0].out_shape) <= math.prod(js[-1].in_shape):
        result = js[0]
        for j in js[1:]:
            result = contract(result, j)
    else:
        result = js[-1]
        for j in reversed(js[:-1]):
            result = contract(j, result)
    return result


def vjp(J: Jacobian, cotangent) -> np.ndarray:
    """Vector-Jacobian product ``c(u, J)``: a cotangent of ``J.out_shape`` pulled back to ``J.in_shape``.

    >>> import numpy as np, tensorjac as tj
    >>> tj.vjp(tj.Jacobian.diagonal(np.array([2.0, 3.0])), np.array([1.0, 1.0]))
    array([2., 3.])
    """
    u = as_finite_float_array(cotangent, "cotangent")
    if u.shape != J.out_shape:
        raise ValueError(f"vjp: cotangent has shape {u.shape} but the Jacobian's out_shape is {J.out_shape}")
    return contract(Jacobian(u, 0), J).dense().reshape(J.in_shape)


def jvp(J: Jacobian, tangent) -> np.ndarray:
    """Jacobian-vector product ``c(J, v)``: a tangent of ``J.in_shape`` pushed to ``J.out_shape``.

    >>> import numpy as np, tensorjac as tj
    >>> tj.jvp(tj.Jacobian.diagonal(np.array([2.0, 3.0])), np.array([1.0, 1.0]))
    array([2., 3.])
    """
    v = as_finite_float_array(tangent, "tangent")
    if v.shape != J.in_shape:
        raise ValueError(f"jvp: tangent has shape {v.shape} but the Jacobian's in_shape is {J.in_shape}")
    return contract(J, Jacobian(v, v.ndim)).dense().reshape(J.out_shape)
