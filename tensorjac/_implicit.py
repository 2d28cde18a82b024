"""Implicit functions: Jacobians by the implicit function theorem of note 003 (section 7.2).

For ``y(x)`` defined by ``F(x, y) = 0``, ``J_y(x) = -[dF/dy]^{-1} dF/dx``.  tensorjac computes it
by *solving* with ``dF/dy`` (never forming its inverse), chosen from the structure of the traced
``dF/dy``:

* a diagonal ``dF/dy`` (an elementwise ``F``) is a division, and ``dy/dx`` keeps the structure
  of ``dF/dx`` (a diagonal stays a diagonal: ``n = 10^5`` costs ``O(n)``);
* a block-diagonal one (a delta on some axes: row-wise systems) gives batched solves;
* a symmetric positive definite one uses Cholesky (with SciPy installed; ``LU`` otherwise);
* otherwise LU (``numpy.linalg.solve``), or least squares when asked for.

It checks instead of returning garbage: the residual ``max |F(x, y*)|`` must be below ``tol``
(``ValueError`` naming it otherwise), and the condition number of ``dF/dy`` is estimated (exactly
for a diagonal, by ``||A||_1`` times random probes of ``||A^{-1} z||_1 / ||z||_1`` otherwise, a lower
bound): above ``1e8`` a :class:`ConditionWarning` names it, a singular system raises
``ValueError``.  ``return_info=True`` gives the residual, the estimate and the method used.

:func:`implicit` wraps any solver into a traceable ``y(x)`` whose first *and second*
derivatives come from the implicit function theorem, so ``tj.jacobian``, ``grad``, ``vjp``,
``jvp`` and ``hessian`` differentiate through it without differentiating the solver's
iterations.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from . import _terms as T
from ._hessian import Hessian, left, right
from ._jacobian import Jacobian, from_owned_dense, product
from ._validation import as_finite_float_array
from .blocks import Blocks
from .rules import traceable
from .rules._registry import define
from .trace import hessian as _hessian
from .trace import jacobian as _jacobian

__all__ = ["implicit_jacobian", "implicit", "ImplicitInfo", "ConditionWarning"]

#: Above this estimate of cond(dF/dy) a ConditionWarning is issued.
CONDITION_WARN = 1e8
_PROBES = 3


class ConditionWarning(RuntimeWarning):
    """``dF/dy`` is ill-conditioned: the implicit Jacobian may have lost most of its digits."""


@dataclass
class ImplicitInfo:
    """What :func:`implicit_jacobian` checked: ``residual = max |F(x, y*)|``, an estimate of
    ``cond(dF/dy)`` (1-norm), and the solve used (``"diagonal"``, ``"batched"``,
    ``"cholesky"``, ``"lu"``, ``"lstsq"``)."""

    residual: float
    condition: float
    method: str


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _diagonal_values(A: Jacobian):
    """The diagonal of ``A`` as an array of its out_shape, when ``A`` is stored as a diagonal; else None."""
    if A.out_shape != A.in_shape:
        return None
    found = None
    for term in A._terms:
        out_labels, in_labels = term.groups
        if out_labels != in_labels or any(lab not in out_labels for _, labs in term.factors for lab in labs):
            return None
        sizes = T.label_sizes(term, (A.out_shape, A.in_shape))
        part = T.einsum(term.factors, out_labels, sizes, A.dtype)
        found = part if found is None else found + part
    return np.zeros(A.out_shape, A.dtype) if found is None else found


def _batch_structure(A: Jacobian):
    """``(batch axes, row axes, col axes)`` when ``A`` is one term whose deltas tie some output axes
    to input axes (a block-diagonal system); else None."""
    if len(A._terms) != 1 or A.out_shape != A.in_shape:
        return None
    out_labels, in_labels = A._terms[0].groups
    shared = [k for k, lab in enumerate(out_labels) if lab in in_labels]
    if not shared or len(shared) == len(out_labels):
        return None
    if any(in_labels.index(out_labels[k]) != k for k in shared):
        return None  # the deltas permute axes: not a batch of independent blocks in this layout
    rows = [k for k in range(len(out_labels)) if k not in shared]
    return shared, rows


def _condition_estimate(A: np.ndarray, inv_probes: np.ndarray, probes: np.ndarray) -> float:
    norm = np.abs(A).sum(axis=-2).max(axis=-1)  # 1-norm (max column sum), per block
    ratio = np.abs(inv_probes).sum(axis=-2) / np.maximum(np.abs(probes).sum(axis=-2), np.finfo(float).tiny)
    estimate = norm * ratio.max(axis=-1)
    return float(np.max(estimate)) if np.size(estimate) else 1.0


def _solve_dense(A: np.ndarray, B: np.ndarray, least_squares: bool, rng):
    """``(X, condition estimate, method)`` for ``A X = B`` (``A`` of shape ``(..., n, n)``)."""
    n = A.shape[-1]
    probes = rng.standard_normal(A.shape[:-2] + (n, _PROBES))
    if least_squares:
        if A.ndim != 2:
            raise ValueError("least_squares=True solves one system (a block-diagonal dF/dy is solved block by block)")
        X, _, rank, sv = np.linalg.lstsq(A, np.concatenate([B, probes], axis=1), rcond=None)
        # the condition of the part that is solved (the singular values lstsq keeps)
        cond = float(sv[0] / sv[rank - 1]) if rank else math.inf
        return X[:, : B.shape[1]], cond, "lstsq"
    method = "lu"
    rhs = np.concatenate([B, probes], axis=-1)
    try:
        if A.ndim == 2 and np.allclose(A, A.T, rtol=1e-12, atol=0):
            try:
                import scipy.linalg as sla  # optional: numpy has no triangular solve
            except ImportError:
                sla = None
            if sla is not None:
                try:
                    factor = sla.cho_factor(A, check_finite=False)
                    solved, method = sla.cho_solve(factor, rhs, check_finite=False), "cholesky"
                except np.linalg.LinAlgError:
                    solved = None
            else:
                solved = None
            if method != "cholesky":
                solved = np.linalg.solve(A, rhs)
        else:
            solved = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"implicit_jacobian: dF/dy is singular ({exc}); y is not a function of x there. "
                         "Pass least_squares=True for the minimum-norm least-squares derivative") from None
    X, inv = solved[..., : B.shape[-1]], solved[..., B.shape[-1]:]
    if not np.all(np.isfinite(X)):
        raise ValueError("implicit_jacobian: dF/dy is numerically singular (the solve gave non-finite values)")
    return X, _condition_estimate(A, inv, probes), method


def _solve(Fy: Jacobian, Fx: Jacobian, least_squares: bool, rng):
    """``(-Fy^{-1} Fx as a Jacobian, condition estimate, method)``."""
    d = None if least_squares else _diagonal_values(Fy)
    if d is not None:
        if np.any(d == 0):
            bad = tuple(int(i) for i in np.argwhere(d == 0)[0])
            raise ValueError(f"implicit_jacobian: dF/dy is a diagonal with a zero at index {bad}: singular there")
        cond = float(np.max(np.abs(d)) / np.min(np.abs(d))) if d.size else 1.0
        return product(Jacobian.diagonal(-1.0 / d), Fx), cond, "diagonal"
    n, k = math.prod(Fy.out_shape), math.prod(Fx.in_shape)
    if n == 0:  # no equations, no unknowns: the empty derivative
        return Jacobian.zeros(Fy.in_shape, Fx.in_shape, dtype=np.result_type(Fy.dtype, Fx.dtype)), 1.0, "diagonal"
    batch = None if least_squares else _batch_structure(Fy)
    if batch is not None:
        shared, rows = batch
        A = Fy.dense()
        nb = len(Fy.out_shape)
        order = shared + rows
        A = A.transpose(order + [nb + k for k in order])
        bshape = tuple(Fy.out_shape[k] for k in shared)
        m = math.prod(Fy.out_shape[k] for k in rows)
        B = math.prod(bshape)
        A = A.reshape(B, m, B, m)[np.arange(B), :, np.arange(B), :]  # the diagonal blocks
        rhs = Fx.dense().transpose(order + list(range(nb, nb + len(Fx.in_shape))))
        rhs = rhs.reshape(B, m, k)
        X, cond, _ = _solve_dense(A, rhs, False, rng)
        X = -X.reshape(bshape + tuple(Fy.out_shape[k] for k in rows) + Fx.in_shape)
        back = np.argsort(order).tolist() + list(range(nb, nb + len(Fx.in_shape)))
        X = np.ascontiguousarray(X.transpose(back))
        return from_owned_dense(X, Fx.out_shape, Fx.in_shape, X.dtype), cond, "batched"
    A = Fy.matrix()
    rhs = Fx.dense().reshape(n, k)
    X, cond, method = _solve_dense(A, rhs, least_squares, rng)
    X = np.asarray(-X.reshape(Fy.in_shape + Fx.in_shape), order="C")  # (ascontiguousarray makes 0-d 1-d)
    return from_owned_dense(X, Fy.in_shape, Fx.in_shape, X.dtype), cond, method


def _check_condition(cond: float):
    if not np.isfinite(cond):
        raise ValueError("implicit_jacobian: dF/dy is singular (its condition number estimate is infinite)")
    if cond > CONDITION_WARN:
        warnings.warn(
            f"implicit_jacobian: dF/dy is ill-conditioned (condition number estimate {cond:.3g}); the implicit "
            "Jacobian may have lost about log10 of that many digits", ConditionWarning, stacklevel=3,
        )


def implicit_jacobian(F, x, y, argnums=0, *, tol: float = 1e-6, least_squares: bool = False,
                      return_info: bool = False, seed: int = 0):
    """``dy/dx`` for ``y(x)`` defined by ``F(*x, y) = 0``, at a solution ``y``, by the implicit function theorem.

    Args:
        F: ``F(*x, y)``, plain numpy code (traced), with ``F(*x, y).shape == y.shape``.
        x: the arguments (one array, or a tuple of arrays).
        y: a solution: ``max |F(*x, y)| <= tol``, else ``ValueError`` naming the residual.
        argnums: which of ``x`` (an int: a :class:`~tensorjac.Jacobian`; a tuple: :class:`~tensorjac.Blocks`).
        tol: the residual allowed (absolute, ``max |F|``).
        least_squares: solve ``dF/dy`` in the least-squares sense (a non-square or singular system).
        return_info: also return an :class:`ImplicitInfo` (residual, condition estimate, method).

    Raises:
        ValueError: ``y`` is not a solution, ``dF/dy`` is singular, shapes do not fit.

    >>> import numpy as np, tensorjac as tj
    >>> F = lambda c, y: y ** 3 - c        # y = c ** (1/3)
    >>> c = np.array([8.0, 27.0])
    >>> tj.implicit_jacobian(F, c, np.cbrt(c)).dense()   # 1 / (3 y^2)
    array([[0.08333333, 0.        ],
           [0.        , 0.03703704]])
    """
    xs = tuple(as_finite_float_array(a, f"x[{k}]") for k, a in enumerate(_as_tuple(x)))
    y = as_finite_float_array(y, "y")
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    positions = (int(argnums),) if single else tuple(argnums)
    for p in positions:
        if not -len(xs) <= p < len(xs):
            raise ValueError(f"implicit_jacobian: argnums {argnums!r} is out of range for {len(xs)} x argument(s)")
    positions = tuple(p % len(xs) for p in positions)
    residual_value = np.asarray(F(*xs, y))
    if residual_value.shape != y.shape and not least_squares:
        raise ValueError(f"implicit_jacobian: F returned shape {residual_value.shape} but y has shape {y.shape}; "
                         "F(x, y) = 0 must have one equation per unknown (or pass least_squares=True)")
    residual = float(np.max(np.abs(residual_value))) if residual_value.size else 0.0
    if not residual <= tol:
        raise ValueError(f"implicit_jacobian: y is not a solution of F(x, y) = 0: max |F(x, y)| = {residual:.3g} > "
                         f"tol = {tol:g} (solve more accurately, or pass a larger tol)")
    n_x = len(xs)
    Fy = _jacobian(F, argnums=n_x)(*xs, y)
    Fx = _jacobian(F, argnums=positions)(*xs, y)
    rng = np.random.default_rng(seed)
    blocks, conds, method = {}, [], None
    for name, block in Fx.items():
        J, cond, method = _solve(Fy, block, least_squares, rng)
        blocks[name] = J
        conds.append(cond)
    cond = max(conds) if conds else 1.0
    _check_condition(cond)
    result = blocks[next(iter(blocks))] if single else Blocks(blocks)
    if return_info:
        return result, ImplicitInfo(residual, cond, method)
    return result


# ---- the traceable solver node ------------------------------------------------------------------


def _second(F, n, i, j):
    """The second-derivative maker of ``y(x)`` for arguments ``i, j`` (the implicit function theorem twice)."""

    def maker(ans, *xs, **options):
        Ji = implicit_jacobian(F, xs, ans, argnums=i, tol=math.inf)
        Jj = Ji if j == i else implicit_jacobian(F, xs, ans, argnums=j, tol=math.inf)
        H = _hessian(F, argnums=(i, j, n) if i != j else (i, n))(*xs, ans)
        if i == j:
            names = H.names
            xx, xy, yy = H[names[0], names[0]], H[names[0], names[1]], H[names[1], names[1]]
            yx = xy.T
        else:
            names = H.names
            xx, xy, yx, yy = (H[names[0], names[1]], H[names[0], names[2]], H[names[2], names[1]],
                              H[names[2], names[2]])
        M = xx + right(xy, None, Jj) + right(yx, Ji, None) + right(yy, Ji, Jj)
        Fy = _jacobian(F, argnums=n)(*xs, ans)
        return _left_solve(Fy, M)

    return maker


def _left_solve(Fy: Jacobian, M: Hessian) -> Hessian:
    """``-Fy^{-1}`` applied to the output group of ``M``."""
    d = _diagonal_values(Fy)
    if d is not None:
        return left(Jacobian.diagonal(-1.0 / d), M)
    n = math.prod(Fy.out_shape)
    X = np.linalg.solve(Fy.matrix(), M.dense().reshape(n, math.prod(M.in_shapes[0]) * math.prod(M.in_shapes[1])))
    X = np.asarray(-X.reshape(Fy.in_shape + M.in_shapes[0] + M.in_shapes[1]), order="C")
    from ._hessian import second_structured
    letters = "abcdefghijklmnopqrstuvwxyz"
    k = [len(Fy.in_shape), len(M.in_shapes[0]), len(M.in_shapes[1])]
    g = [letters[: k[0]], letters[k[0]: k[0] + k[1]], letters[k[0] + k[1]: sum(k)]]
    return second_structured(f"{''.join(g)}->{g[0]}|{g[1]}|{g[2]}", X, symmetric=M.symmetric)


def implicit(solve, F, *, tol: float = 1e-6):
    """Wrap a solver into a traceable ``y(*x)`` differentiated by the implicit function theorem.

    ``solve(*x)`` returns ``y`` with ``F(*x, y) = 0`` (by Newton, fixed-point iteration,
    ``scipy.optimize.root``, any Python code); ``tj.jacobian``, ``grad``, ``vjp``, ``jvp`` and
    ``hessian`` of functions that call the result differentiate through it with
    ``dy/dx = -[dF/dy]^{-1} dF/dx`` (and its derivative for second order), never through the
    solver's iterations.  The residual is checked (``tol``) every time a derivative is taken.

    >>> import numpy as np, tensorjac as tj
    >>> def newton_cbrt(c):                       # y = c ** (1/3) by Newton's method
    ...     y = np.ones_like(c)
    ...     for _ in range(60):
    ...         y = y - (y ** 3 - c) / (3 * y ** 2)
    ...     return y
    >>> cbrt = tj.implicit(newton_cbrt, lambda c, y: y ** 3 - c)
    >>> float(tj.grad(lambda c: np.sum(cbrt(c)))(np.array([8.0]))[0])   # 1 / (3 * 4)
    0.08333333333333333
    """
    if not callable(solve) or not callable(F):
        raise TypeError("implicit(solve, F): both must be functions")

    def value(*xs):
        return np.asarray(solve(*xs), dtype=np.result_type(*xs, np.float32))

    node = traceable(value)
    node.__name__ = getattr(solve, "__name__", "implicit")

    def maker(ans, *xs, argnum):
        return implicit_jacobian(F, xs, ans, argnums=argnum, tol=tol)

    def second(i, j):
        return lambda ans, *xs: _second(F, len(xs), i, j)(ans, *xs)

    define(f"implicit:{node.__name__}", value, maker, variadic=True, functions=(node,), argnames=("x",),
           bind=_positional_only, second=second, hidden=True)
    return node


def _positional_only(*args, **kwargs):
    if kwargs:
        raise TypeError(f"an implicit function takes its arguments by position, got the keyword(s) {sorted(kwargs)}")
    return args, {}
