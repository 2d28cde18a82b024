"""Elementwise rules: unary functions (a diagonal Jacobian) and broadcasting binary ones.

Each rule is one declaration: :func:`unary` takes the derivative as a function of
``(ans, x)`` (``ans`` first, so ``exp`` reuses its value); :func:`binary` takes one per
argument.  Broadcast arguments get Jacobians against their true shapes
(:func:`tensorjac.rules._structure.elementwise`): nothing but the derivative is stored, one
number per entry of the result at most (``negative`` stores one number, ``positive`` and
``sign`` nothing), so a chain of unary functions stays diagonal.  Derivatives are computed in
the dtype of the result (float32 stays float32).

Conventions at kinks: the symmetric (central-difference) derivative.

* ``maximum`` and ``minimum`` split ties evenly: each argument gets 1/2 at ``x1 == x2`` (as
  ``jax.numpy`` does).
* ``abs'(0) = 0`` (``np.abs``, ``abs(x)`` and ``np.fabs``; JAX gives 1 there).
* ``sign`` has the zero Jacobian everywhere, nothing stored (its symmetric derivative at the
  jump is not finite; zero is what JAX gives).

Domains.  Where the derivative is infinite or the function is not real, a traced call (and
the rule) raises ``ValueError`` naming the function, the argument, the first offending entry
and its value: ``log``, ``log2``, ``log10`` and ``sqrt`` need ``x > 0`` (``sqrt(0)`` is fine
but ``sqrt'(0)`` is infinite, so ``sqrt`` is refused at 0 rather than returning ``inf``),
``log1p`` needs ``x > -1``, ``arcsin``, ``arccos`` and ``arctanh`` need ``-1 < x < 1``,
``reciprocal`` needs ``x != 0`` and ``divide`` a non-zero divisor.  ``logaddexp`` is computed
stably: its derivatives ``exp(x_i - ans)`` never exceed 1.

``power(x1, x2)`` (``x ** 2``, ``2.0 ** x`` and ``x ** y`` on traced values call it):

* with respect to the base, ``x2 * x1 ** (x2 - 1)`` (0 where ``x2 == 0``: ``x ** 0`` is
  constant).  A negative base with an integer-valued exponent is fine (``(-2.0) ** 3``); where
  the derivative is not finite (a negative base with a fractional exponent, a zero base with
  an exponent below 1 other than 0) the maker raises ``ValueError`` naming both values.
* with respect to the exponent, ``x1 ** x2 * log(x1)``, which needs ``x1 > 0``.  The check is
  made only when the exponent is differentiated (inside its maker), so ``x ** 3`` with a
  negative ``x`` and a constant exponent is fine; otherwise ``ValueError`` names ``x1`` and its
  first non-positive entry.

``float_power`` has the same derivatives; as in numpy its result is float64 (also for float32
arguments): the one elementwise rule that turns float32 into float64, because numpy's
``float_power`` does.  It accepts ``dtype=np.float64`` only.

``clip(x, a_min, a_max)`` is ``minimum(maximum(x, a_min), a_max)`` (numpy's definition, also
when ``a_min > a_max``) and is differentiated as that composition: with ``a_min < a_max`` the
derivative is 1 with respect to ``x`` strictly inside ``(a_min, a_max)``, 1 with respect to
the bound that is active outside, and at a tie ``x == a_min`` (or ``x == a_max``) it is split
evenly: 1/2 to ``x`` and 1/2 to that bound, the symmetric derivative that central differences
measure and ``jax.numpy.clip``'s convention.  Array bounds are differentiable arguments;
``None`` bounds (``np.clip(x, 0, None)``) are absent (the rule gets a placeholder and the
option ``no_min=True`` / ``no_max=True``; the placeholder's Jacobian is zero).

``where(condition, x, y)``: the derivative is ``condition`` with respect to ``x`` and ``not
condition`` with respect to ``y`` (both broadcast).  The result depends on ``condition`` only
through ``condition != 0``, a piecewise constant: its Jacobian is zero (nothing stored), the
symmetric derivative everywhere, as for ``sign``.  A condition built by a comparison
(``x > 0``) is a constant of the trace anyway.
"""

from __future__ import annotations

import math

import numpy as np

from ._examples import away, binary_examples, normal, positive, unary_examples
from ._registry import define
from ._structure import elementwise, elementwise_second, zeros
from ._vjp import binary_vjps, unary_vjp

__all__ = ["unary", "binary", "require", "tie_split"]


def unary(name, fun, deriv, second, examples=None, domain=None, **options):
    """Register an elementwise rule ``fun(x)`` whose derivative is ``deriv(ans, x)``.

    ``deriv`` returns an array broadcastable to ``x`` (the diagonal of the Jacobian), or
    ``None`` for the derivative 1; ``second(ans, x)`` the second derivative (the three-way
    diagonal of the Hessian), or ``"linear"`` when it is zero.
    """
    def maker(ans, x):
        return elementwise(ans, x, deriv(ans, x))

    if second != "linear":
        second = _unary_second(second)
    return define(name, fun, maker, argnames=("x",), domain=domain, builtin=True, second=second,
                  examples=examples or unary_examples(), vjp={0: unary_vjp(deriv)}, **options)


def _unary_second(d2):
    return lambda ans, x: elementwise_second(ans, x, x, d2(ans, x))


def binary(name, fun, deriv1, deriv2, second, examples=None, domain=None, **options):
    """Register a broadcasting rule ``fun(x1, x2)``; ``deriv_i(ans, x1, x2)`` is the derivative
    with respect to ``x_i`` (broadcastable to ``ans``; ``None`` for 1).  ``second`` maps the pairs
    ``(0, 0)``, ``(0, 1)``, ``(1, 1)`` to ``d2(ans, x1, x2)`` (elementwise second derivatives,
    ``None`` for 1; a missing pair is zero), or is ``"linear"``."""
    def maker1(ans, x1, x2):
        return elementwise(ans, x1, deriv1(ans, x1, x2))

    def maker2(ans, x1, x2):
        return elementwise(ans, x2, deriv2(ans, x1, x2))

    if second != "linear":
        second = {key: _binary_second(key, d2) for key, d2 in second.items()}
    return define(name, fun, maker1, maker2, argnames=("x1", "x2"), domain=domain, builtin=True, second=second,
                  examples=examples or binary_examples(), vjp=binary_vjps(deriv1, deriv2), **options)


def _binary_second(key, d2):
    def maker(ans, x1, x2, **options):
        args = (x1, x2)
        return elementwise_second(ans, args[key[0]], args[key[1]], d2(ans, x1, x2))

    return maker


def tie_split(a, b, dtype):
    """Derivative of ``maximum(a, b)`` w.r.t. ``a``: 1 where a > b, 1/2 at ties, 0 elsewhere.

    Computed in ``dtype`` (no float64 temporary for float32 work), of the broadcast shape.

    >>> import numpy as np
    >>> tie_split(np.array([1.0, 2.0, 3.0]), 2.0, np.float32)
    array([0. , 0.5, 1. ], dtype=float32)
    """
    d = np.asarray(np.greater(a, b)).astype(dtype)
    d[np.equal(a, b)] = 0.5
    return d


def require(name, argname, x, ok, requirement):
    """Raise ``ValueError`` naming ``name``, ``argname`` and the first entry of ``x`` where ``ok`` is False.

    >>> import numpy as np
    >>> require("log", "x", np.array([1.0, -2.0]), np.array([True, False]), "> 0")
    Traceback (most recent call last):
    ...
    ValueError: log: x must be > 0; x[1] = -2.0 (1 of 2 entries outside; x has shape (2,))
    """
    ok = np.broadcast_to(ok, np.shape(x))
    if ok.all():
        return
    bad = ~ok
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
    where = f"{argname}[{', '.join(map(str, index))}]" if index else argname
    raise ValueError(
        f"{name}: {argname} must be {requirement}; {where} = {float(np.asarray(x)[index])!r} "
        f"({np.count_nonzero(bad)} of {ok.size} entries outside; {argname} has shape {np.shape(x)})"
    )


def _domain(name, ok, requirement):
    """A unary rule's domain check: ``ok(x)`` (a boolean array) must hold everywhere."""
    def check(x):
        require(name, "x", x, ok(x), requirement)

    return check


def _nonzero_divisor(x1, x2):
    require("divide", "x2", x2, x2 != 0, "non-zero: it is the divisor (the derivatives are 1/x2 and -x1/x2**2)")


def _tie_examples(rng):
    a, b = normal(rng, 2, 3), normal(rng, 2, 3)
    b[0, ::2] = a[0, ::2]  # exact ties: each argument gets 1/2
    return [(a, b), (normal(rng, 2, 1), normal(rng, 1, 3)), (normal(rng, 3), normal(rng, 2, 3)),
            (normal(rng), normal(rng, 0))]


def _inside(rng, *shape, bound=0.9):
    """Values in ``(-bound, bound)``: inside the domain of ``arcsin``, ``arccos`` and ``arctanh``."""
    return rng.uniform(-bound, bound, shape)


def _above_minus_one(rng, *shape):
    return rng.uniform(-0.8, 3.0, shape)


def _abs_examples(rng):
    x = away(rng, 2, 3)
    x[1, 1] = 0.0  # abs'(0) = 0, the symmetric derivative
    return [(x,), (away(rng, 2, 1, 3),), (away(rng),), (away(rng, 0, 2),)]


def _logaddexp_examples(rng):
    a, b = normal(rng, 2, 3, scale=30.0), normal(rng, 2, 3, scale=30.0)
    b[0, 0] = a[0, 0]
    return [(a, b), *binary_examples()(rng)]


# ---- Unary ------------------------------------------------------------------------------------

unary("exp", np.exp, lambda ans, x: ans, lambda ans, x: ans)
unary("expm1", np.expm1, lambda ans, x: ans + 1, lambda ans, x: ans + 1)
unary("log", np.log, lambda ans, x: 1 / x, lambda ans, x: -1 / (x * x), domain=_domain("log", lambda x: x > 0, "> 0 (the derivative is 1/x)"),
      examples=unary_examples(positive))
unary("log1p", np.log1p, lambda ans, x: 1 / (1 + x), lambda ans, x: -1 / ((1 + x) * (1 + x)),
      domain=_domain("log1p", lambda x: x > -1, "> -1 (the derivative is 1/(1 + x))"),
      examples=unary_examples(_above_minus_one))
unary("log2", np.log2, lambda ans, x: 1 / (x * math.log(2)), lambda ans, x: -1 / (x * x * math.log(2)),
      domain=_domain("log2", lambda x: x > 0, "> 0 (the derivative is 1/(x log 2))"),
      examples=unary_examples(positive))
unary("log10", np.log10, lambda ans, x: 1 / (x * math.log(10)), lambda ans, x: -1 / (x * x * math.log(10)),
      domain=_domain("log10", lambda x: x > 0, "> 0 (the derivative is 1/(x log 10))"),
      examples=unary_examples(positive))
unary("sqrt", np.sqrt, lambda ans, x: 0.5 / ans, lambda ans, x: -0.25 / (ans * ans * ans),
      domain=_domain("sqrt", lambda x: x > 0, "> 0 (the derivative 1/(2 sqrt(x)) is infinite at 0)"),
      examples=unary_examples(positive))
unary("square", np.square, lambda ans, x: 2 * x, lambda ans, x: np.full((), 2.0, ans.dtype))
unary("reciprocal", np.reciprocal, lambda ans, x: -(ans * ans), lambda ans, x: 2 * ans * ans * ans,
      domain=_domain("reciprocal", lambda x: x != 0, "non-zero (the derivative is -1/x**2)"),
      examples=unary_examples(away))
unary("negative", np.negative, lambda ans, x: -np.ones((), ans.dtype), "linear")
unary("positive", np.positive, lambda ans, x: None, "linear")
unary("absolute", np.absolute, lambda ans, x: np.sign(x), "linear", functions=(np.fabs,), examples=_abs_examples)
define("sign", np.sign, lambda ans, x: zeros(ans, x), argnames=("x",), builtin=True, second="linear",
       examples=unary_examples(away))

unary("sin", np.sin, lambda ans, x: np.cos(x), lambda ans, x: -ans, examples=unary_examples(normal, scale=2.0))
unary("cos", np.cos, lambda ans, x: -np.sin(x), lambda ans, x: -ans, examples=unary_examples(normal, scale=2.0))
unary("tan", np.tan, lambda ans, x: 1 + ans * ans, lambda ans, x: 2 * ans * (1 + ans * ans), examples=unary_examples(_inside, bound=1.2))
unary("arcsin", np.arcsin, lambda ans, x: 1 / np.sqrt((1 - x) * (1 + x)), lambda ans, x: x / ((1 - x) * (1 + x)) ** 1.5,
      domain=_domain("arcsin", lambda x: np.abs(x) < 1, "in (-1, 1) (the derivative is 1/sqrt(1 - x**2))"),
      examples=unary_examples(_inside))
unary("arccos", np.arccos, lambda ans, x: -1 / np.sqrt((1 - x) * (1 + x)), lambda ans, x: -x / ((1 - x) * (1 + x)) ** 1.5,
      domain=_domain("arccos", lambda x: np.abs(x) < 1, "in (-1, 1) (the derivative is -1/sqrt(1 - x**2))"),
      examples=unary_examples(_inside))
unary("arctan", np.arctan, lambda ans, x: 1 / (1 + x * x), lambda ans, x: -2 * x / ((1 + x * x) * (1 + x * x)), examples=unary_examples(normal, scale=2.0))

unary("sinh", np.sinh, lambda ans, x: np.cosh(x), lambda ans, x: ans, examples=unary_examples(normal, scale=2.0))
unary("cosh", np.cosh, lambda ans, x: np.sinh(x), lambda ans, x: ans, examples=unary_examples(normal, scale=2.0))
unary("tanh", np.tanh, lambda ans, x: 1 - ans**2, lambda ans, x: -2 * ans * (1 - ans * ans), examples=unary_examples(normal, scale=1.5))
unary("arcsinh", np.arcsinh, lambda ans, x: 1 / np.hypot(1, x), lambda ans, x: -x / np.hypot(1, x) ** 3, examples=unary_examples(normal, scale=3.0))
unary("arctanh", np.arctanh, lambda ans, x: 1 / ((1 - x) * (1 + x)), lambda ans, x: 2 * x / ((1 - x) * (1 + x)) ** 2,
      domain=_domain("arctanh", lambda x: np.abs(x) < 1, "in (-1, 1) (the derivative is 1/(1 - x**2))"),
      examples=unary_examples(_inside))

# ---- Binary, broadcasting ---------------------------------------------------------------------

binary("add", np.add, lambda ans, x1, x2: None, lambda ans, x1, x2: None, "linear")
binary("subtract", np.subtract, lambda ans, x1, x2: None, lambda ans, x1, x2: -np.ones((), ans.dtype), "linear")
binary("multiply", np.multiply, lambda ans, x1, x2: x2, lambda ans, x1, x2: x1, {(0, 1): lambda ans, x1, x2: None})
binary("divide", np.divide, lambda ans, x1, x2: 1 / x2, lambda ans, x1, x2: -ans / x2,
       {(0, 1): lambda ans, x1, x2: -1 / (x2 * x2), (1, 1): lambda ans, x1, x2: 2 * ans / (x2 * x2)},
       domain=_nonzero_divisor,
       examples=binary_examples(normal, away))
binary("maximum", np.maximum, lambda ans, x1, x2: tie_split(x1, x2, ans.dtype),
       lambda ans, x1, x2: tie_split(x2, x1, ans.dtype), "linear", examples=_tie_examples)
binary("minimum", np.minimum, lambda ans, x1, x2: tie_split(x2, x1, ans.dtype),
       lambda ans, x1, x2: tie_split(x1, x2, ans.dtype), "linear", examples=_tie_examples)
binary("logaddexp", np.logaddexp, lambda ans, x1, x2: np.exp(x1 - ans), lambda ans, x1, x2: np.exp(x2 - ans),
       {(0, 0): lambda ans, x1, x2: _pq(ans, x1, x2), (0, 1): lambda ans, x1, x2: -_pq(ans, x1, x2),
        (1, 1): lambda ans, x1, x2: _pq(ans, x1, x2)},
       examples=_logaddexp_examples)

def _pq(ans, x1, x2):
    """``p (1 - p)`` with ``p = exp(x1 - ans)``: the second derivatives of ``logaddexp`` are ``±p q``."""
    return np.exp(x1 - ans) * np.exp(x2 - ans)


# ---- power ------------------------------------------------------------------------------------


def _power_makers(name):
    """The Jacobian makers of ``name(x1, x2)`` (``power`` or ``float_power``) w.r.t. ``x1`` and ``x2``."""

    def base(ans, x1, x2, **options):
        x1, x2 = np.asarray(x1, ans.dtype), np.asarray(x2, ans.dtype)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d = x2 * np.power(x1, x2 - 1)
        constant = x2 == 0
        if constant.any():
            d = np.where(constant, 0, d)  # x ** 0 = 1 for every x, 0 ** 0 included
        finite = np.isfinite(d)
        if not finite.all():
            index = tuple(int(i) for i in np.argwhere(~finite)[0])
            b1, b2 = np.broadcast_arrays(x1, x2)
            raise ValueError(
                f"{name}: the derivative with respect to the base x1, x2 * x1 ** (x2 - 1), is not finite at "
                f"x1 = {float(b1[index])!r}, x2 = {float(b2[index])!r} (index {index} of the result, shape "
                f"{d.shape}): a negative base needs an integer exponent, a zero base an exponent of 0 or >= 1"
            )
        return elementwise(ans, x1, d)

    def exponent(ans, x1, x2, **options):
        require(name, "x1", x1, x1 > 0,
                f"> 0 to differentiate {name} with respect to the exponent x2 (the derivative is x1 ** x2 * log(x1))")
        return elementwise(ans, x2, ans * np.log(np.asarray(x1, ans.dtype)))

    return base, exponent


def _power_second(name):
    """The second derivatives of ``name(x1, x2)``: ``{(0, 0), (0, 1), (1, 1)}`` makers."""

    def base_base(ans, x1, x2, **options):
        x1, x2 = np.asarray(x1, ans.dtype), np.asarray(x2, ans.dtype)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d = x2 * (x2 - 1) * np.power(x1, x2 - 2)
        d = np.where((x2 == 0) | (x2 == 1), 0, d)  # x ** 0 and x ** 1 have no curvature
        require(name, "x1", np.broadcast_to(x1, d.shape), np.isfinite(d),
                "such that x2 (x2 - 1) x1 ** (x2 - 2), the second derivative in the base, is finite")
        return elementwise_second(ans, x1, x1, d)

    def base_exponent(ans, x1, x2, **options):
        require(name, "x1", x1, x1 > 0, f"> 0 to differentiate {name} twice, in the base and the exponent")
        x1, x2 = np.asarray(x1, ans.dtype), np.asarray(x2, ans.dtype)
        return elementwise_second(ans, x1, x2, np.power(x1, x2 - 1) * (1 + x2 * np.log(x1)))

    def exponent_exponent(ans, x1, x2, **options):
        require(name, "x1", x1, x1 > 0, f"> 0 to differentiate {name} twice in the exponent")
        log = np.log(np.asarray(x1, ans.dtype))
        return elementwise_second(ans, x2, x2, ans * log * log)

    return {(0, 0): base_base, (0, 1): base_exponent, (1, 1): exponent_exponent}


def float_power(x1, x2, dtype=None):
    """``np.float_power(x1, x2)``: ``x1 ** x2`` computed in float64 (numpy's function)."""
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise TypeError(f"float_power: numpy computes it in float64; dtype={np.dtype(dtype)} is not supported")
    return np.float_power(x1, x2, dtype=dtype)


def _power_examples(rng):
    return [*binary_examples(positive, normal)(rng), (positive(rng, 4), np.array(2.0)),
            (np.array(2.0), normal(rng, 3))]


define("power", np.power, *_power_makers("power"), argnames=("x1", "x2"), builtin=True, examples=_power_examples,
       second=_power_second("power"))
define("float_power", float_power, *_power_makers("float_power"), argnames=("x1", "x2"), static=("dtype",),
       functions=(np.float_power,), builtin=True, second=_power_second("float_power"),
       examples=lambda rng: [((a, b), {"dtype": np.float64}) for a, b in _power_examples(rng)])

# ---- clip -------------------------------------------------------------------------------------


def clip(x, a_min, a_max, *, no_min=False, no_max=False):
    """``np.clip(x, a_min, a_max)``; ``no_min`` / ``no_max`` stand for a ``None`` bound (the
    corresponding array argument is then a placeholder and ignored)."""
    return np.clip(x, None if no_min else a_min, None if no_max else a_max)


_CLIP_PARAMS = ("a", "a_min", "a_max", "out")


def _clip_bind(*args, **kwargs):
    """``np.clip(a, a_min, a_max)`` (or ``min=``/``max=``) as the arrays ``(a, a_min, a_max)``; a ``None``
    bound becomes the placeholder ``0.0`` and the option ``no_min``/``no_max``."""
    if len(args) > len(_CLIP_PARAMS):
        raise TypeError(f"clip takes at most {len(_CLIP_PARAMS)} positional arguments, got {len(args)}")
    params = dict(zip(_CLIP_PARAMS, args))
    for key, name in [(k, k) for k in _CLIP_PARAMS] + [("min", "a_min"), ("max", "a_max")]:
        if key in kwargs:
            if name in params:
                raise TypeError(f"clip: got more than one value for {name!r} (as {key!r})")
            params[name] = kwargs.pop(key)
    if kwargs:
        raise TypeError(f"tensorjac's rule 'clip' does not support the option(s) {sorted(kwargs)}")
    if params.get("out") is not None:
        raise TypeError("np.clip(..., out=...) writes into an array; tensorjac traces functions that return new "
                        "arrays (drop out=)")
    if "a" not in params:
        raise TypeError("clip needs the array argument 'a'")
    options = {}
    bounds = []
    for name, flag in (("a_min", "no_min"), ("a_max", "no_max")):
        bound = params.get(name)
        if bound is None:
            options[flag] = True
            bound = 0.0
        bounds.append(bound)
    return (params["a"], *bounds), options


def _clip_x(ans, x, a_min, a_max, no_min=False, no_max=False):
    # d min(max(x, a_min), a_max) / dx: the factor of the minimum is taken at max(x, a_min), which is
    # x wherever the factor of the maximum is not 0.
    dt = ans.dtype
    d = None if no_min else tie_split(x, a_min, dt)
    if not no_max:
        d_max = tie_split(a_max, x, dt)
        d = d_max if d is None else d * d_max
    return elementwise(ans, x, d)


def _clip_min(ans, x, a_min, a_max, no_min=False, no_max=False):
    # as for x: max(x, a_min) is a_min wherever the factor of the maximum is not 0
    if no_min:
        return zeros(ans, a_min)
    dt = ans.dtype
    d = tie_split(a_min, x, dt)
    if not no_max:
        d = d * tie_split(a_max, a_min, dt)
    return elementwise(ans, a_min, d)


def _clip_max(ans, x, a_min, a_max, no_min=False, no_max=False):
    if no_max:
        return zeros(ans, a_max)
    m = x if no_min else np.maximum(x, a_min)
    return elementwise(ans, a_max, tie_split(m, a_max, ans.dtype))


def _clip_examples(rng):
    x = normal(rng, 2, 4, scale=2.0)
    lo, hi = -np.ones((2, 4)), np.ones((2, 4))
    x[0, 0], x[1, 1] = -1.0, 1.0  # ties with a bound: split evenly
    return [
        (x, lo, hi),
        (normal(rng, 2, 3, scale=2.0), np.array(-0.5), normal(rng, 3) ** 2 + 0.5),  # broadcast bounds
        (normal(rng, 3, 1, scale=2.0), normal(rng, 1, 2) - 1.0, np.array(1.0)),
        (normal(rng, scale=2.0), np.array(0.0), np.array(1.0)),
        ((normal(rng, 2, 3, scale=2.0), np.array(0.0), np.array(1.0)), {"no_max": True}),
        ((normal(rng, 2, 3, scale=2.0), np.array(0.0), np.array(0.5)), {"no_min": True}),
        (normal(rng, 0, 3), np.array(-0.5), np.array(0.5)),
    ]


define("clip", clip, _clip_x, _clip_min, _clip_max, argnames=("x", "a_min", "a_max"), static=("no_min", "no_max"),
       functions=(np.clip,), bind=_clip_bind, builtin=True, examples=_clip_examples,
       second="linear")  # piecewise linear: no curvature away from the bounds

# ---- where ------------------------------------------------------------------------------------


def _where_bind(*args, **kwargs):
    if kwargs:
        raise TypeError(f"np.where takes positional arguments only, got the keyword(s) {sorted(kwargs)}")
    if len(args) == 1:
        raise TypeError("np.where(condition) with one argument returns indices (np.nonzero(condition)), which have "
                        "no derivative; tensorjac differentiates np.where(condition, x, y)")
    if len(args) != 3:
        raise TypeError(f"np.where takes (condition, x, y), got {len(args)} arguments")
    return tuple(args), {}


def _where_examples(rng):
    def cond(*shape):
        return (rng.random(shape) < 0.5).astype(float)

    return [(cond(2, 3), normal(rng, 2, 3), normal(rng, 2, 3)), (cond(3), normal(rng, 2, 3), normal(rng)),
            (cond(2, 1), normal(rng, 1, 3), normal(rng, 3)), (cond(), normal(rng, 2), normal(rng, 1)),
            (cond(0, 3), normal(rng, 3), normal(rng, 0, 1))]


define("where", np.where, lambda ans, condition, x, y: zeros(ans, condition),
       lambda ans, condition, x, y: elementwise(ans, x, np.asarray(condition) != 0),
       lambda ans, condition, x, y: elementwise(ans, y, np.asarray(condition) == 0),
       argnames=("condition", "x", "y"), bind=_where_bind, builtin=True, examples=_where_examples,
       second="linear")
