"""tensorjac's own functions: ``logit`` (the sigmoid of the notes), ``relu``, ``softplus``, ``affine``,
``softmax``, ``log_softmax``, ``logsumexp``, ``cross_entropy``.

They are ordinary functions of numpy arrays, and traceable: called on a value that tensorjac
is differentiating they dispatch to the tracer (through the same protocol numpy uses,
``__array_function__``), which records one equation with the rule's structured Jacobian
(softmax: two factored terms, block-diagonal over the other axes) instead of the primitive
operations inside.

Conventions: ``logit`` is the logistic sigmoid ``1 / (1 + exp(-z))`` of the course notes (which
call it logit), computed without overflow for any finite ``z``; ``relu'(0) = 1/2`` (ties split
evenly, as ``maximum``); ``softmax``/``log_softmax``/``logsumexp`` shift by the maximum, so
logits of any finite size are safe.
"""

from __future__ import annotations

import functools

import numpy as np

from .._jacobian import structured, terms_sum
from .._validation import as_float_array
from ._examples import normal, positive, unary_examples
from ._linalg import matmul_jac_0, matmul_jac_1
from ._reductions import reduced_letters
from ._registry import define
from .._hessian import second_structured
from ._linalg import matmul_letters
from ._structure import LETTERS, bilinear_second, elementwise, elementwise_second, linear, normalize_axes
from ._vjp import matmul_vjps, unary_vjp, unbroadcast

__all__ = ["logit", "relu", "softplus", "affine", "softmax", "log_softmax", "logsumexp", "cross_entropy", "traceable"]


def _traced_argument(args, kwargs):
    for a in (*args, *kwargs.values()):
        if getattr(a, "_is_tensorjac_traced", False):
            return a
        if isinstance(a, (list, tuple)):
            for item in a:
                if getattr(item, "_is_tensorjac_traced", False):
                    return item
    return None


def traceable(impl):
    """Make a numpy function ``impl`` dispatch to tensorjac's tracer when given a traced value.

    The returned function computes ``impl`` on plain arrays; on a traced value it hands the
    call to the value's ``__array_function__`` (NEP 18), so the tracer records it as one
    equation of the rule registered for the returned function.
    """
    @functools.wraps(impl)
    def function(*args, **kwargs):
        traced = _traced_argument(args, kwargs)
        if traced is not None:
            return traced.__array_function__(function, (type(traced),), args, kwargs)
        return impl(*args, **kwargs)

    function.impl = impl
    return function


def _rule(name, public, *makers, **options):
    """Register ``public`` (a :func:`traceable` function) with the rule computing ``public.impl``."""
    return define(name, public.impl, *makers, functions=(public,), builtin=True, **options)


def _float(x, what):
    """``x`` as a float array (the plain-array path of tensorjac's own functions; checked as every
    entry point checks arrays, float arrays as they are)."""
    return x if type(x) is np.ndarray and x.dtype.kind == "f" else as_float_array(x, what)


# ---- Elementwise ------------------------------------------------------------------------------


@traceable
def logit(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))`` (the notes' "logit"), without overflow.

    >>> import numpy as np, tensorjac as tj
    >>> tj.logit(np.array([-800.0, 0.0, 800.0]))
    array([0. , 0.5, 1. ])
    """
    x = _float(x, "logit: x")
    e = np.exp(-np.abs(x))  # <= 1, so nothing overflows for any finite x
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


@traceable
def relu(x):
    """``maximum(x, 0)``; ``relu'(0) = 1/2`` (ties split evenly, as ``maximum``)."""
    return np.maximum(_float(x, "relu: x"), 0)


@traceable
def softplus(x):
    """``log(1 + exp(x))`` without overflow; its derivative is ``logit(x)``."""
    x = _float(x, "softplus: x")
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def _relu_examples(rng):
    x = normal(rng, 2, 4)
    x[1, 2] = 0.0  # relu'(0) = 1/2
    return [(x,), (normal(rng, 3, 1),), (normal(rng),), (normal(rng, 0),)]


_rule("logit", logit, lambda ans, x: elementwise(ans, x, ans * (1 - ans)), argnames=("x",),
      examples=unary_examples(normal, scale=2.5), vjp={0: unary_vjp(lambda ans, x: ans * (1 - ans))},
      second=lambda ans, x: elementwise_second(ans, x, x, ans * (1 - ans) * (1 - 2 * ans)))
_rule("relu", relu, lambda ans, x: elementwise(ans, x, (x > 0) + 0.5 * (x == 0)), argnames=("x",),
      examples=_relu_examples, second="linear", vjp={0: unary_vjp(lambda ans, x: (x > 0) + 0.5 * (x == 0))})  # piecewise linear: relu'' = 0 away from the kink
_rule("softplus", softplus, lambda ans, x: elementwise(ans, x, logit.impl(x)), argnames=("x",),
      examples=unary_examples(normal, scale=3.0), vjp={0: unary_vjp(lambda ans, x: logit.impl(x))},
      second=lambda ans, x: elementwise_second(ans, x, x, _dlogit(x)))

def _dlogit(x):
    s = logit.impl(x)
    return s * (1 - s)


# ---- Affine -----------------------------------------------------------------------------------


@traceable
def affine(X, W, b):
    """``X @ W + b`` with ``b`` broadcast over the rows of ``X`` (``X`` may be a vector)."""
    X, W, b = _float(X, "affine: X"), _float(W, "affine: W"), _float(b, "affine: b")
    _affine_shapes(X, W, b)
    return X @ W + b


_MATMUL_VJPS = matmul_vjps()


def _affine_shapes(X, W, b):
    if X.ndim not in (1, 2) or W.ndim != 2 or b.ndim != 1 or X.shape[-1] != W.shape[0] or b.shape[0] != W.shape[1]:
        raise ValueError(
            f"affine(X, W, b) needs X of shape (N, d) or (d,), W of shape (d, k) and b of shape (k,); "
            f"got X {X.shape}, W {W.shape}, b {b.shape}"
        )


def _affine_letters(X, W, ans):
    a, b, out = matmul_letters(X.ndim, W.ndim, ans.ndim)
    return out, a, b


_rule(
    "affine", affine,
    lambda ans, X, W, b: matmul_jac_0(ans, X, W),
    lambda ans, X, W, b: matmul_jac_1(ans, X, W),
    lambda ans, X, W, b: elementwise(ans, b),
    argnames=("X", "W", "b"), domain=_affine_shapes,
    vjp={0: lambda g, ans, X, W, b: _MATMUL_VJPS[0](g, ans, X, W), 1: lambda g, ans, X, W, b: _MATMUL_VJPS[1](g, ans, X, W),
         2: lambda g, ans, X, W, b: unbroadcast(g, b.shape)},
    second={(0, 1): lambda ans, X, W, b: bilinear_second(ans, X, W, *_affine_letters(X, W, ans))},
    examples=lambda rng: [(normal(rng, 4, 3), normal(rng, 3, 2), normal(rng, 2)),
                          (normal(rng, 3), normal(rng, 3, 2), normal(rng, 2)),
                          (normal(rng, 0, 3), normal(rng, 3, 2), normal(rng, 2))],
)

# ---- Normalisations ---------------------------------------------------------------------------


def _axis_of(x, axis, what):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    if x.ndim == 0:
        raise ValueError(f"{what} needs an array with at least one axis, got a 0-d array")
    if not -x.ndim <= axis < x.ndim:
        raise np.exceptions.AxisError(f"{what}: axis {axis} is out of bounds for an array of {x.ndim} dimension(s)")
    return int(axis) % x.ndim


def _shifted_exp(x, axis):
    """``exp(x - max)`` and the max along ``axis`` (kept); 0 where the axis has size 0."""
    m = np.max(x, axis=axis, keepdims=True) if x.shape[axis] else np.zeros((), x.dtype)
    return np.exp(x - m), m


@traceable
def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, shifted by the maximum so large logits do not overflow.

    >>> import numpy as np, tensorjac as tj
    >>> tj.softmax(np.array([0.0, 1000.0]))
    array([0., 1.])
    """
    x = _float(x, "softmax: x")
    ax = _axis_of(x, axis, "softmax")
    e, _ = _shifted_exp(x, ax)
    return e / np.sum(e, axis=ax, keepdims=True)


@traceable
def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis)``: the log of ``softmax``, stable for logits of any size.

    >>> import numpy as np, tensorjac as tj
    >>> tj.log_softmax(np.array([0.0, -800.0, 0.0])).round(4).tolist()
    [-0.6931, -800.6931, -0.6931]
    """
    x = _float(x, "log_softmax: x")
    ax = _axis_of(x, axis, "log_softmax")
    e, m = _shifted_exp(x, ax)
    return x - m - np.log(np.sum(e, axis=ax, keepdims=True))


@traceable
def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))``, shifted by the maximum (the derivative is ``softmax`` over ``axis``)."""
    x = as_float_array(x, "logsumexp: x")
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"logsumexp: keepdims must be True or False, got {keepdims!r}")
    axis = None if axis is None else normalize_axes(axis, x.ndim, "logsumexp")
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def _softmax_terms(ans, x, axis, what):
    """``delta(rest) (delta(b, d) S_b - S_b S_d)`` pieces: the letters of x and of the input, the sizes."""
    out = LETTERS[: x.ndim]
    ax = _axis_of(x, axis, what)
    inn = out[:ax] + "Z" + out[ax + 1:]
    return out, inn, dict(zip(out, x.shape))


def softmax_jac(ans, x, axis=-1):
    # d s[..b..] / d x[..d..] = delta(rest) * (s_b delta(b, d) - s_b s_d): block-diagonal over the rest.
    out, inn, sizes = _softmax_terms(ans, x, axis, "softmax")
    return terms_sum(structured(f"{out}->{out}|{out}", ans), structured(f"{out},{inn}->{out}|{inn}", ans, -ans, sizes=sizes))


def log_softmax_jac(ans, x, axis=-1):
    # d l[..b..] / d x[..d..] = delta(rest) * (delta(b, d) - s_d)
    out, inn, sizes = _softmax_terms(ans, x, axis, "log_softmax")
    return terms_sum(structured(f"->{out}|{out}", sizes=sizes, dtype=ans.dtype),
                     structured(f"{inn}->{out}|{inn}", -np.exp(ans), sizes=sizes))


def logsumexp_jac(ans, x, axis=None, keepdims=False):
    letters, out = reduced_letters(x, axis, keepdims, "logsumexp")
    axes = None if axis is None else axis
    s = softmax_of(x, axes)
    return linear(ans.shape, out, x.shape, letters, [(s, letters)], dtype=ans.dtype)


def softmax_second(ans, x, axis=-1):
    # d² s_b / dx_d dx_e = s_b δbd δbe - s_b s_e δbd - s_b s_d δbe - s_b s_d δde + 2 s_b s_d s_e
    # (with a delta across all three groups on the other axes).
    out, d, sizes = _softmax_terms(ans, x, axis, "softmax")
    e = d.replace("Z", "Y")
    sizes = {**sizes, "Z": sizes[out[d.index("Z")]], "Y": sizes[out[d.index("Z")]]}
    s = ans
    return (second_structured(f"{out}->{out}|{out}|{out}", s)
            + second_structured(f"{out},{e}->{out}|{out}|{e}", s, -s, sizes=sizes)
            + second_structured(f"{out},{d}->{out}|{d}|{out}", s, -s, sizes=sizes)
            + second_structured(f"{out},{d}->{out}|{d}|{d}", s, -s, sizes=sizes)
            + second_structured(f"{out},{d},{e}->{out}|{d}|{e}", s, s, 2 * s, sizes=sizes))


def log_softmax_second(ans, x, axis=-1):
    # d² l_b / dx_d dx_e = -s_d δde + s_d s_e (the same for every b)
    out, d, sizes = _softmax_terms(ans, x, axis, "log_softmax")
    e = d.replace("Z", "Y")
    sizes = {**sizes, "Z": sizes[out[d.index("Z")]], "Y": sizes[out[d.index("Z")]]}
    s = np.exp(ans)
    return (second_structured(f"{d}->{out}|{d}|{d}", -s, sizes=sizes)
            + second_structured(f"{d},{e}->{out}|{d}|{e}", s, s, sizes=sizes))


def logsumexp_second(ans, x, axis=None, keepdims=False):
    # d² lse / dx_d dx_e = s_d δde - s_d s_e over the reduced axes (a delta on the kept ones)
    letters, out = reduced_letters(x, axis, keepdims, "logsumexp")
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    fresh = iter(c for c in "ZYXWVUTSRQPONM" if c not in letters + out)
    renamed = "".join(next(fresh) if ax in axes else c for ax, c in enumerate(letters))
    sizes = dict(zip(letters, x.shape))
    sizes.update({r: sizes[c] for r, c in zip(renamed, letters)})
    sizes.update({c: 1 for c in out if c not in sizes})
    s = softmax_of(x, None if axis is None else axis)
    return (second_structured(f"{letters}->{out}|{letters}|{letters}", s, sizes=sizes)
            + second_structured(f"{letters},{renamed}->{out}|{letters}|{renamed}", s, -s, sizes=sizes))


def softmax_of(x, axis):
    """``softmax`` over several axes at once (``None``: all of them)."""
    if x.size == 0:
        return np.zeros_like(x)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def _axis_examples(rng):
    return [((normal(rng, 2, 3),), {}), ((normal(rng, 3, 2),), {"axis": 0}), ((normal(rng, 4, scale=3),), {}),
            ((normal(rng, 2, 1, 3),), {"axis": 1}), ((normal(rng, 0, 3),), {})]


def _softmax_vjp(g, ans, x, axis=-1):
    return ans * (g - np.sum(g * ans, axis=axis, keepdims=True))


def _log_softmax_vjp(g, ans, x, axis=-1):
    return g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True)


def _logsumexp_vjp(g, ans, x, axis=None, keepdims=False):
    if not keepdims:
        g = np.expand_dims(g, normalize_axes(axis, x.ndim, "logsumexp"))
    return g * softmax_of(x, axis)


_rule("softmax", softmax, softmax_jac, argnames=("x",), static=("axis",), examples=_axis_examples,
      second=softmax_second, vjp={0: _softmax_vjp})
_rule("log_softmax", log_softmax, log_softmax_jac, argnames=("x",), static=("axis",), examples=_axis_examples,
      second=log_softmax_second, vjp={0: _log_softmax_vjp})
_rule("logsumexp", logsumexp, logsumexp_jac, argnames=("x",), static=("axis", "keepdims"), second=logsumexp_second,
      vjp={0: _logsumexp_vjp},
      examples=lambda rng: [
    ((normal(rng, 2, 3),), {}), ((normal(rng, 2, 3),), {"axis": 1}), ((normal(rng, 2, 3, 2),), {"axis": (0, 2)}),
    ((normal(rng, 2, 3),), {"axis": 0, "keepdims": True}), ((normal(rng),), {}), ((normal(rng, 2, 0),), {"axis": 0}),
])

# ---- Losses -----------------------------------------------------------------------------------


@traceable
def cross_entropy(P, Q):
    """``-sum(P * log(Q))`` over all entries (``Q > 0``).

    For probabilities that come from logits, ``-sum(P * log_softmax(Z))`` is the stable form.
    """
    P, Q = _float(P, "cross_entropy: P"), _float(Q, "cross_entropy: Q")
    _same_shapes(P, Q)
    return -np.sum(P * np.log(Q))


def _same_shapes(P, Q):
    if P.shape != Q.shape:
        raise ValueError(f"cross_entropy(P, Q) needs P and Q of one shape, got {P.shape} and {Q.shape}")


def _cross_entropy_domain(P, Q):
    _same_shapes(P, Q)
    if np.any(Q <= 0):
        bad = tuple(int(i) for i in np.argwhere(Q <= 0)[0])
        raise ValueError(
            f"cross_entropy(P, Q): Q must be > 0 everywhere (Q{list(bad)} = {Q[bad]}): log(Q) is undefined. "
            "When Q = softmax(Z), an entry underflows to 0 once its logit is about 745 below the largest: "
            "compute the loss from the logits with the stable -np.sum(P * tj.log_softmax(Z)) instead"
        )


def _finite_derivative(factor, what):
    if not np.all(np.isfinite(factor)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(factor))[0])
        raise ValueError(
            f"cross_entropy: the derivative {what} is not finite at index {bad} (Q is too close to 0 there); "
            "compute the loss from logits with -sum(P * log_softmax(Z)) instead"
        )
    return factor


def _full_factor(factor, what):
    factor = _finite_derivative(factor, what)
    letters = LETTERS[: factor.ndim]
    return structured(f"{letters}->|{letters}", factor)


def _ce_second(d, what):
    d = _finite_derivative(d, what)
    letters = LETTERS[: d.ndim]
    return second_structured(f"{letters}->|{letters}|{letters}", d)


def _quiet_divide(a, b):
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return a / b


def _ce_examples(rng):
    return [(positive(rng, 2, 3, lo=0.0, hi=1.0), positive(rng, 2, 3, lo=0.1, hi=1.0)),
            (positive(rng, 4, lo=0.0, hi=1.0), positive(rng, 4, lo=0.1, hi=1.0)),
            (positive(rng, 0, 2), positive(rng, 0, 2))]


_rule(
    "cross_entropy", cross_entropy,
    lambda ans, P, Q: _full_factor(-np.log(Q), "-log(Q)"),
    lambda ans, P, Q: _full_factor(_quiet_divide(-P, Q), "-P/Q"),
    argnames=("P", "Q"), domain=_cross_entropy_domain, examples=_ce_examples,
    # P / Q / Q, not P / (Q * Q): Q * Q underflows to 0 for Q < 1.5e-154 (0 / 0 where P = 0)
    second={(0, 1): lambda ans, P, Q: _ce_second(_quiet_divide(-1.0, Q), "-1/Q"),
            (1, 1): lambda ans, P, Q: _ce_second(_quiet_divide(_quiet_divide(P, Q), Q), "P/Q^2")},
)
