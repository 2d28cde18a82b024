"""Finite-difference Jacobians: the reference every rule is checked against."""

from __future__ import annotations

import inspect

import numpy as np

from ._validation import as_finite_float_array, check_finite, select_args
from .blocks import Blocks
from ._jacobian import from_owned_dense

__all__ = ["numerical_jacobian", "NumericalBlocks", "DEFAULT_STEP", "arg_names"]

_EPS = np.finfo(np.float64).eps
#: Relative base step.  Richardson extrapolation of central differences has truncation error
#: O(h^4) and rounding error O(eps/h); they balance near h = eps**(1/5) ~ 7e-4.
DEFAULT_STEP = float(_EPS ** 0.2)


class NumericalBlocks(Blocks):
    """:class:`Blocks` of finite-difference Jacobians, with what produced them.

    Attributes:
        value: ``f(*args)`` in float64.
        errors: per block, an estimate of the absolute error of every entry (same shape).
        steps: per block, the step used for every input entry (shape of the argument).
    """

    def __init__(self, blocks, value, errors, steps):
        super().__init__(blocks)
        self.value, self.errors, self.steps = value, errors, steps


def arg_names(f, n: int) -> tuple[str, ...]:
    try:
        params = [
            p.name for p in inspect.signature(f).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):  # builtins and ufuncs may have no signature
        params = []
    return tuple(params[:n]) if len(params) >= n else tuple(f"x{i}" for i in range(n))


def numerical_jacobian(f, *args, argnums=None, step: float | None = None, names=None) -> NumericalBlocks:
    """Jacobian blocks of ``f(*args)`` by central differences with Richardson extrapolation.

    Every argument may be a tensor of any shape; block ``i`` has shape
    ``f(*args).shape + args[i].shape`` (the layout of the analytic rules).  The arguments are
    converted to float64 before ``f`` sees them, whatever their dtype.  Each input entry ``x_j``
    gets its own step ``h_j = step * max(|x_j|, 1)``.  Central differences at ``h_j``,
    ``h_j / 2`` and ``h_j / 4`` give two Richardson extrapolations (error O(h^4)); the finer is
    returned, and their difference plus a rounding term is the error estimate in ``.errors``.
    If ``f`` is not finite at a probed point (a step across a pole or out of a domain) the step
    is shrunk tenfold, up to four times; while the truncation part of the estimate dominates
    (a pole or kink within reach of the step) the step keeps shrinking as long as the estimate
    improves.  ``.steps`` records the step finally used.

    Args:
        f: a function of numpy arrays returning an array (or scalar).
        *args: the point.
        argnums: positions or names of the arguments to differentiate (default: all).
        step: relative base step (default ``DEFAULT_STEP`` ~ 7.4e-4).
        names: block names (default: ``f``'s parameter names, else ``x0, x1, ...``).

    Returns:
        :class:`NumericalBlocks` with ``.value``, ``.errors`` and ``.steps``.

    >>> import numpy as np, tensorjac as tj
    >>> J = tj.numerical_jacobian(lambda x, y: x * y, np.array([1.0, 2.0]), np.array(3.0))
    >>> np.round(J["x"].dense(), 8), np.round(J["y"].dense(), 8)
    (array([[3., 0.],
           [0., 3.]]), array([1., 2.]))
    """
    if not callable(f):
        raise ValueError(f"numerical_jacobian needs a callable, got {type(f).__name__}")
    if not args:
        raise ValueError("numerical_jacobian needs at least one argument")
    base = DEFAULT_STEP if step is None else float(step)
    if not (np.isfinite(base) and base > 0):
        raise ValueError(f"step must be a positive finite number, got {step!r}")
    names = arg_names(f, len(args)) if names is None else tuple(names)
    if len(names) != len(args) or len(set(names)) != len(names):
        raise ValueError(f"names must give {len(args)} distinct names, got {names}")
    # C-contiguous float64 copies, so that reshape(-1) below is a view of what f sees.
    point = [np.array(as_finite_float_array(a, f"argument {n!r}"), dtype=np.float64, order="C") for a, n in zip(args, names)]
    positions = select_args(argnums, names, "the function")

    def evaluate(where: str) -> np.ndarray:
        out = np.asarray(f(*point), dtype=np.float64)
        if out.shape != value.shape:
            raise ValueError(f"f returned shape {out.shape} {where} but {value.shape} at the point")
        return out

    value = check_finite(np.asarray(f(*point), dtype=np.float64), "f(*args)")
    blocks, errors, steps = {}, {}, {}
    for pos in positions:
        x = point[pos].reshape(-1)  # a view (point is C-contiguous): perturbing it perturbs the argument f sees

        def richardson(j, orig, h):
            """Derivative column from central differences at h, h/2, h/4, with an error estimate.

            Richardson extrapolation of the pairs (h, h/2) and (h/2, h/4) gives two O(h^4)
            estimates r1, r2; |r2 - r1| bounds the truncation error of r2 (about |r2 - r1| / 16).
            Rounding adds about eps * |f| / (h/4) per difference quotient.  Returns None if f
            is not finite at a probed point.
            """
            diffs, scale = [], np.zeros(value.size)
            for hh in (h, h / 2, h / 4):
                # Divide by the distance between the probes as stored ((x + h) - (x - h) is not
                # exactly 2h in floating point), so rounding of the inputs adds no error.
                x[j] = orig + hh
                above = x[j]
                up = evaluate(f"at {names[pos]}[{j}] + {hh:g}")
                x[j] = orig - hh
                below = x[j]
                down = evaluate(f"at {names[pos]}[{j}] - {hh:g}")
                x[j] = orig
                diffs.append(((up - down) / (above - below)).reshape(-1))
                scale = np.maximum(scale, np.maximum(np.abs(up), np.abs(down)).reshape(-1))
            if not all(np.all(np.isfinite(d)) for d in diffs):
                return None
            d1, d2, d4 = diffs
            r1, r2 = d2 + (d2 - d1) / 3, d4 + (d4 - d2) / 3
            truncation = np.abs(r2 - r1)
            rounding = 8 * _EPS * scale / h + _EPS * np.abs(r2)
            return r2, truncation + rounding, truncation.max() > rounding.max()

        jac = np.empty((value.size, x.size))
        err = np.empty((value.size, x.size))
        hs = np.empty(x.size)
        for j in range(x.size):
            orig = x[j]
            h = base * max(abs(orig), 1.0)
            # Probing may cross a domain edge; non-finite values are handled below.
            with np.errstate(all="ignore"):
                for _ in range(5):
                    found = richardson(j, orig, h)
                    if found is not None:
                        break
                    h /= 10
                else:
                    index = np.unravel_index(j, point[pos].shape)
                    raise ValueError(
                        f"f is not finite near argument {names[pos]!r} at index {tuple(map(int, index))} "
                        f"even with step {h * 10:g}; is the point on the edge of f's domain?"
                    )
                # While truncation dominates (a step comparable to the distance to a pole or kink,
                # or a rapidly varying f), smaller steps help: shrink while the estimate improves.
                # Rounding error grows as h falls, so this stops by itself; smooth functions at the
                # default step are rounding-dominated and cost nothing extra.
                for _ in range(8):
                    if not found[2]:
                        break
                    smaller = richardson(j, orig, h / 10)
                    if smaller is None or np.max(smaller[1]) >= np.max(found[1]):
                        break
                    found, h = smaller, h / 10
            jac[:, j], err[:, j] = found[0], found[1]
            hs[j] = h
        in_shape = point[pos].shape
        blocks[names[pos]] = from_owned_dense(jac.reshape(value.shape + in_shape), value.shape, in_shape, np.dtype(np.float64))
        errors[names[pos]] = err.reshape(value.shape + in_shape)
        steps[names[pos]] = hs.reshape(in_shape)
    return NumericalBlocks(blocks, value, errors, steps)
