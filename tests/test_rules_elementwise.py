"""The elementwise rules (tensorjac/rules/_elementwise.py): structure, kinks, power, domains, dtypes, JAX.

The parametrised table (tests/test_rule_table.py) already checks every declared example of
every rule against finite differences in float64 and float32.  Here: what the table cannot
see — how much a Jacobian stores (every unary chain stays diagonal), the conventions at kinks
and ties, the cases of ``power``, the domain errors, float32 through Python scalars, that the
operators of a traced value reach the rules, bad options, and a JAX cross-check.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac.trace._tracer import Trace, make_input

UNARY = {  # name -> (numpy function, inputs inside the domain and away from kinks)
    "negative": (np.negative, "real"), "positive": (np.positive, "real"), "square": (np.square, "real"),
    "sqrt": (np.sqrt, "pos"), "reciprocal": (np.reciprocal, "away"), "absolute": (np.abs, "away"),
    "sign": (np.sign, "away"), "exp": (np.exp, "real"), "expm1": (np.expm1, "real"),
    "log": (np.log, "pos"), "log1p": (np.log1p, "pos"), "log2": (np.log2, "pos"),
    "log10": (np.log10, "pos"), "sin": (np.sin, "real"), "cos": (np.cos, "real"), "tan": (np.tan, "unit"),
    "arcsin": (np.arcsin, "unit"), "arccos": (np.arccos, "unit"), "arctan": (np.arctan, "real"),
    "sinh": (np.sinh, "real"), "cosh": (np.cosh, "real"), "tanh": (np.tanh, "real"),
    "arcsinh": (np.arcsinh, "real"), "arctanh": (np.arctanh, "unit"),
}


def _draw(rng, kind, *shape):
    if kind == "pos":
        return rng.uniform(0.2, 3.0, shape)
    if kind == "away":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
    if kind == "unit":
        return rng.uniform(-0.9, 0.9, shape)
    return rng.standard_normal(shape)


def _central(f, x, h=1e-6):
    """Elementwise central differences: the diagonal of the Jacobian of an elementwise ``f``."""
    step = h * np.maximum(np.abs(x), 1.0)
    return (f(x + step) - f(x - step)) / (2 * step)


def _diag(J):
    return np.diagonal(J.dense()) if J.ndim == 2 else J.dense()


def _last_rule(f, *values):
    """The names of the rules a traced call of ``f`` records, in order."""
    trace = Trace()
    args = [make_input(trace, v, i, f"x{i}") for i, v in enumerate(values)]
    f(*args)
    return [eq.rule.name for eq in trace.equations if eq.rule is not None]


# ---- Structure: what a Jacobian stores ---------------------------------------------------------


def test_unary_chain_at_ten_thousand_stays_diagonal_and_matches_finite_differences(rng):
    n = 10**4
    x = rng.standard_normal(n)

    def f(x):
        return np.arctan(np.sqrt(np.cosh(x)) ** 3)

    J = tj.jacobian(f)(x)
    assert J.shape == (n, n) and not J.is_dense
    assert J.nbytes <= 3 * n * 8, J  # the dense form would be n * n * 8 = 800 MB
    v = rng.standard_normal(n)
    h = 1e-6
    directional = (f(x + h * v) - f(x - h * v)) / (2 * h)  # J v along a random direction
    np.testing.assert_allclose(J.jvp(v), directional, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(J.vjp(v), directional, rtol=1e-6, atol=1e-8)  # diagonal: J^T = J
    cosh = np.cosh(x)
    exact = 1.5 * np.sqrt(cosh) * np.sinh(x) / (1 + cosh**3)
    np.testing.assert_allclose(J.jvp(np.ones(n)), exact, rtol=1e-12)


def test_every_unary_chain_stays_diagonal(rng):
    """All unary rules composed: still one diagonal of n numbers (nothing dense in between)."""
    n = 2000
    x = rng.uniform(0.1, 0.6, n)

    def f(x):
        y = np.sqrt(np.exp(np.sin(x)))                               # > 0
        y = np.log1p(np.log2(np.log10(np.log(y + 12.0)) + 3.0))     # a chain of logs of positives
        y = np.arcsinh(np.sinh(np.cosh(np.tanh(y))))
        y = np.arctan(np.tan(np.expm1(y) * 0.1))
        y = np.arcsin(np.tanh(y)) + np.arccos(np.tanh(y) / 2) + np.arctanh(np.tanh(y) / 3)
        y = np.reciprocal(np.square(np.positive(np.negative(y))) + 1.0)
        return np.abs(y - 0.3) + np.sign(y - 0.3) + np.cos(y)

    J = tj.jacobian(f)(x)
    assert not J.is_dense and J.nbytes <= 3 * n * 8, J
    np.testing.assert_allclose(J.jvp(np.ones(n)), _central(f, x), rtol=1e-6, atol=1e-9)
    dense_part = J.dense()[:40, :40]
    np.testing.assert_array_equal(dense_part - np.diag(np.diagonal(dense_part)), 0.0)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_each_unary_rule_stores_at_most_one_number_per_entry(name, rng):
    fun, kind = UNARY[name]
    x = _draw(rng, kind, 40, 25)
    J = tj.jacobian(fun)(x)
    assert J.shape == x.shape * 2 and not J.is_dense
    limit = {"positive": 0, "sign": 0, "negative": 8}.get(name, x.nbytes)
    assert J.nbytes <= limit, (name, J)
    assert tj.get_rule(fun).name == name
    rule_J = tj.get_rule(name).jacobian(x)["x"]
    assert rule_J.nbytes <= limit
    flat = J.dense().reshape(x.size, x.size)
    np.testing.assert_array_equal(flat, np.diag(np.diagonal(flat)))  # diagonal
    np.testing.assert_allclose(np.diagonal(flat), _central(fun, x).ravel(), rtol=1e-6, atol=1e-9)


def test_broadcast_binary_rules_store_the_derivative_only(rng):
    n = 3000
    x, s = rng.standard_normal(n), np.array(0.25)
    for fun in (np.minimum, np.maximum, np.logaddexp, np.power):
        a = np.abs(x) + 0.5 if fun is np.power else x
        blocks = tj.jacobian(fun, argnums=(0, 1))(a, s)
        J0, J1 = blocks.values()
        assert J0.shape == (n, n) and J1.shape == (n,)
        assert J0.nbytes <= n * 8 and J1.nbytes <= n * 8, (fun, J0, J1)


def test_where_and_clip_store_at_most_the_result_size(rng):
    n = 3000
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    c = rng.random(n) < 0.5
    Jx, Jy = tj.jacobian(lambda x, y: np.where(c, x, y), argnums=(0, 1))(x, y).values()
    assert Jx.nbytes <= n * 8 and Jy.nbytes <= n * 8
    np.testing.assert_array_equal(_diag(Jx), c)
    np.testing.assert_array_equal(_diag(Jy), ~c)
    # the condition: zero Jacobian, nothing stored
    Jc = tj.get_rule("where").jacobian(c.astype(float), x, y, argnums="condition")["condition"]
    assert Jc.nbytes == 0 and not Jc.dense().any()
    lo, hi = -np.ones(n), np.ones(n)
    for J in tj.jacobian(np.clip, argnums=(0, 1, 2))(x, lo, hi).values():
        assert J.shape == (n, n) and J.nbytes <= n * 8, J
    assert tj.jacobian(lambda x: np.clip(x, None, 0.5))(x).nbytes <= n * 8


# ---- Operators reach the rules -----------------------------------------------------------------


def test_operators_of_a_traced_value_call_the_rules():
    x = np.array([0.5, -1.5, 2.0])
    assert _last_rule(lambda x: -x, x) == ["negative"]
    assert _last_rule(lambda x: x**2, x) == ["power"]
    assert _last_rule(lambda x: 2**x, x) == ["power"]
    assert _last_rule(lambda x: 2.0**x, x) == ["power"]
    assert _last_rule(lambda x: abs(x), x) == ["absolute"]
    assert _last_rule(lambda x: np.fabs(x), x) == ["absolute"]
    assert _last_rule(lambda x: x.clip(0.0, 1.0), x) == ["clip"]
    assert _last_rule(lambda x: np.where(x > 0, x, 0.0), x) == ["where"]
    assert _last_rule(lambda x: np.pow(x, 3), x) == ["power"]
    assert _last_rule(lambda x: np.asin(x / 3), x) == ["divide", "arcsin"]
    J = tj.jacobian(lambda x: -x + x**2 + 2**x + abs(x))(x)
    np.testing.assert_allclose(_diag(J), -1 + 2 * x + 2**x * np.log(2) + np.sign(x), rtol=1e-14)


# ---- Conventions at kinks ----------------------------------------------------------------------


def test_abs_derivative_at_zero_is_zero_the_symmetric_derivative():
    x = np.array([-2.0, 0.0, 3.0, -0.0])
    for f in (np.abs, np.absolute, np.fabs, abs):
        np.testing.assert_array_equal(_diag(tj.jacobian(f)(x)), [-1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(_diag(tj.get_rule("absolute").jacobian(x)["x"]), [-1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(_diag(tj.jacobian(lambda x: np.abs(x))(x)), _central(np.abs, x), atol=1e-9)


def test_sign_has_a_zero_jacobian_storing_nothing():
    x = np.array([-2.0, 0.0, 3.0])
    J = tj.jacobian(np.sign)(x)
    assert J.nbytes == 0 and not J.dense().any()
    g = tj.grad(lambda x: np.sum(np.sign(x) * x))(x)  # d(|x|) through sign * x: the sign, sign' = 0
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def test_minimum_splits_ties_evenly_like_maximum():
    x1 = np.array([1.0, 2.0, -3.0, 0.0])
    x2 = np.array([1.0, 0.0, 5.0, 0.0])
    J1, J2 = tj.jacobian(np.minimum, argnums=(0, 1))(x1, x2).values()
    np.testing.assert_array_equal(_diag(J1), [0.5, 0.0, 1.0, 0.5])
    np.testing.assert_array_equal(_diag(J2), [0.5, 1.0, 0.0, 0.5])
    M1, M2 = tj.jacobian(np.maximum, argnums=(0, 1))(x1, x2).values()
    np.testing.assert_array_equal(_diag(M1), [0.5, 1.0, 0.0, 0.5])
    # a broadcast tie: the 0-d argument collects the halves of every tie it has
    J1, J2 = tj.jacobian(np.minimum, argnums=(0, 1))(np.array([1.0, 1.0, 0.0]), np.array(1.0)).values()
    np.testing.assert_array_equal(_diag(J1), [0.5, 0.5, 1.0])
    np.testing.assert_array_equal(J2.dense(), [0.5, 0.5, 0.0])


def test_clip_derivative_inside_outside_and_ties_at_the_bounds():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    lo, hi = -np.ones(5), np.ones(5)
    Jx, Jlo, Jhi = tj.jacobian(np.clip, argnums=(0, 1, 2))(x, lo, hi).values()
    np.testing.assert_array_equal(_diag(Jx), [0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(_diag(Jlo), [1.0, 0.5, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_diag(Jhi), [0.0, 0.0, 0.0, 0.5, 1.0])
    # the derivatives of each entry add up to 1: clip(x + t, lo + t, hi + t) = clip(x, lo, hi) + t
    np.testing.assert_array_equal(_diag(Jx) + _diag(Jlo) + _diag(Jhi), 1.0)
    # scalar bounds (constants), min=/max= keywords, None bounds, the method
    for f in (lambda x: np.clip(x, -1.0, 1.0), lambda x: np.clip(x, min=-1.0, max=1.0), lambda x: x.clip(-1, 1),
              lambda x: np.clip(x, a_min=-1.0, a_max=1.0)):
        np.testing.assert_array_equal(_diag(tj.jacobian(f)(x)), [0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(_diag(tj.jacobian(lambda x: np.clip(x, None, 1.0))(x)), [1.0, 1.0, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(_diag(tj.jacobian(lambda x: np.clip(x, -1.0, None))(x)), [0.0, 0.5, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(_diag(tj.jacobian(lambda x: np.clip(x, None, None))(x)), 1.0)
    # a broadcast 0-d bound sums the entries it bounds
    Jlo = tj.jacobian(lambda lo: np.clip(x, lo, 1.0))(np.array(-1.0))
    assert Jlo.shape == (5,)
    np.testing.assert_array_equal(Jlo.dense(), [1.0, 0.5, 0.0, 0.0, 0.0])
    # a_min > a_max: numpy gives a_max everywhere, and so does the derivative
    Jx, Jlo, Jhi = tj.jacobian(np.clip, argnums=(0, 1, 2))(x, np.full(5, 2.0), np.full(5, 1.0)).values()
    np.testing.assert_array_equal(_diag(Jhi), 1.0)
    assert not Jx.dense().any() and not Jlo.dense().any()


def test_clip_ties_match_central_differences_per_argument():
    x, lo, hi = np.array([-1.0, 0.3, 1.0]), np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    blocks = tj.get_rule("clip").jacobian(x, lo, hi)
    numeric = tj.numerical_jacobian(np.clip, x, lo, hi, names=("x", "a_min", "a_max"))
    for name in ("x", "a_min", "a_max"):
        np.testing.assert_allclose(blocks[name].dense(), numeric[name].dense(), atol=1e-9)


def test_where_routes_the_derivative_by_the_condition():
    x, y = np.array([1.0, -2.0, 3.0]), np.array(5.0)
    Jx, Jy = tj.jacobian(lambda x, y: np.where(x > 0, x * y, y**2), argnums=(0, 1))(x, y).values()
    np.testing.assert_array_equal(_diag(Jx), [5.0, 0.0, 5.0])
    np.testing.assert_array_equal(Jy.dense(), [1.0, 10.0, 3.0])
    g = tj.grad(lambda x: np.sum(np.where(x > 0, np.sqrt(np.abs(x) + 1), 0.0)))(x)
    np.testing.assert_allclose(g, [0.5 / np.sqrt(2), 0.0, 0.25])


# ---- power -------------------------------------------------------------------------------------


def test_power_with_a_scalar_exponent():
    x = np.array([0.5, 1.5, 3.0])
    for p in (2, 3, 0.5, -1, -2.5, 1, 0):
        J = tj.jacobian(lambda x: x**p)(x)
        assert J.nbytes <= x.nbytes
        np.testing.assert_allclose(_diag(J), p * x ** (p - 1) if p else 0.0, rtol=1e-14)
    J = tj.jacobian(lambda y: 2.0**y)(x)
    np.testing.assert_allclose(_diag(J), 2.0**x * np.log(2.0), rtol=1e-14)


def test_power_with_array_exponent_broadcast_both_ways(rng):
    x, y = rng.uniform(0.3, 2.0, (2, 1, 3)), rng.standard_normal((4, 1))
    Jx, Jy = tj.jacobian(np.power, argnums=(0, 1))(x, y).values()
    assert Jx.shape == (2, 4, 3, 2, 1, 3) and Jy.shape == (2, 4, 3, 4, 1)
    numeric = tj.numerical_jacobian(np.power, x, y, names=("x", "y"))
    np.testing.assert_allclose(Jx.dense(), numeric["x"].dense(), atol=1e-9)
    np.testing.assert_allclose(Jy.dense(), numeric["y"].dense(), atol=1e-9)


def test_power_negative_base_with_integer_exponents():
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    for p, expected in [(2, 2 * x), (3, 3 * x**2), (-1.0, None), (4.0, 4 * x**3), (0, np.zeros(4))]:
        if expected is None:  # x ** -1 at 0 is infinite: only the nonzero entries
            xs = x[x != 0]
            np.testing.assert_allclose(_diag(tj.jacobian(lambda x: x**p)(xs)), -1 / xs**2, rtol=1e-14)
            continue
        np.testing.assert_allclose(_diag(tj.jacobian(lambda x: x**p)(x)), expected, rtol=1e-14)
    # an integer-valued exponent array, with the exponent a constant
    e = np.array([3.0, 2.0, 2.0, 1.0])
    np.testing.assert_allclose(_diag(tj.jacobian(lambda x: np.power(x, e))(x)), e * x ** (e - 1), rtol=1e-14)


def test_power_exponent_derivative_needs_a_positive_base():
    base = np.array([2.0, -3.0])
    with pytest.raises(ValueError, match=r"power: x1 must be > 0 .*exponent x2.*x1\[1\] = -3\.0"):
        tj.jacobian(lambda y: np.power(base, y))(np.array([2.0, 3.0]))
    with pytest.raises(ValueError, match=r"power: x1 must be > 0 .*; x1 = 0\.0"):
        tj.jacobian(lambda y: 0.0**y)(np.array([2.0]))
    with pytest.raises(ValueError, match=r"power: x1 must be > 0.*x1\[1\] = -3\.0"):
        tj.get_rule("power").jacobian(base, np.array([2.0, 3.0]))
    # only when the exponent is differentiated: the base derivative alone is fine
    np.testing.assert_allclose(_diag(tj.jacobian(lambda x: np.power(x, np.array([2.0, 3.0])))(base)), [4.0, 27.0])
    np.testing.assert_allclose(tj.get_rule("power").jacobian(base, np.array([2.0, 3.0]), argnums=0)["x1"].dense(),
                               np.diag([4.0, 27.0]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_power_base_derivative_errors_where_it_is_not_finite():
    with pytest.raises(ValueError, match=r"power: the derivative with respect to the base x1.*x1 = -2\.0, x2 = 0\.5"):
        tj.jacobian(lambda x: x**0.5)(np.array([4.0, -2.0]))
    with pytest.raises(ValueError, match=r"x1 = 0\.0, x2 = 0\.5"):
        tj.jacobian(lambda x: x**0.5)(np.array([4.0, 0.0]))
    # a zero base is fine with the exponents 0 and >= 1
    np.testing.assert_array_equal(_diag(tj.jacobian(lambda x: x**1.5)(np.array([0.0]))), [0.0])
    np.testing.assert_array_equal(_diag(tj.jacobian(lambda x: x**1)(np.array([0.0]))), [1.0])


def test_float_power_is_power_in_float64():
    x = np.array([0.5, 1.5], dtype=np.float32)
    value, J = tj.value_and_jacobian(lambda x: np.float_power(x, 3))(x)
    assert value.dtype == np.float64 == np.float_power(x, 3).dtype and J.dtype == np.float64  # numpy's choice
    np.testing.assert_allclose(_diag(J), 3 * x.astype(np.float64) ** 2, rtol=1e-15)
    Jy = tj.jacobian(lambda y: np.float_power(2.0, y, dtype=np.float64))(np.array([1.0, 2.0]))
    np.testing.assert_allclose(_diag(Jy), [2 * np.log(2), 4 * np.log(2)], rtol=1e-15)
    with pytest.raises(TypeError, match="float_power.*float32"):
        tj.jacobian(lambda x: np.float_power(x, 2, dtype=np.float32))(x)


# ---- Domain errors -----------------------------------------------------------------------------

DOMAIN = [  # (function, rule name, a point with one entry outside, the offending value, what it needs)
    (np.log, "log", [1.0, -1.0], "-1.0", "> 0"),
    (np.log, "log", [1.0, 0.0], "0.0", "> 0"),
    (np.log1p, "log1p", [0.5, -1.0], "-1.0", "> -1"),
    (np.log2, "log2", [2.0, -3.0], "-3.0", "> 0"),
    (np.log10, "log10", [2.0, 0.0], "0.0", "> 0"),
    (np.sqrt, "sqrt", [2.0, 0.0], "0.0", "> 0"),
    (np.sqrt, "sqrt", [2.0, -4.0], "-4.0", "> 0"),
    (np.arcsin, "arcsin", [0.5, 1.0], "1.0", r"in \(-1, 1\)"),
    (np.arccos, "arccos", [0.5, -1.0], "-1.0", r"in \(-1, 1\)"),
    (np.arctanh, "arctanh", [0.5, 1.5], "1.5", r"in \(-1, 1\)"),
    (np.reciprocal, "reciprocal", [2.0, 0.0], "0.0", "non-zero"),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's, from computing the value before the check
@pytest.mark.parametrize("fun, name, point, value, needs", DOMAIN, ids=[f"{d[1]}-{d[3]}" for d in DOMAIN])
def test_domain_errors_name_the_function_argument_and_value(fun, name, point, value, needs):
    x = np.array(point)
    pattern = rf"^{name}: x must be {needs}.*; x\[1\] = {value} \(1 of 2 entries outside"
    with pytest.raises(ValueError, match=pattern):
        tj.jacobian(fun)(x)
    with pytest.raises(ValueError, match=pattern):
        tj.get_rule(name).jacobian(x)
    with pytest.raises(ValueError, match=rf"^{name}: x must be {needs}.*; x = {value} "):
        tj.jacobian(fun)(x[1])  # a 0-d argument: no index


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divide_by_zero_names_the_divisor():
    with pytest.raises(ValueError, match=r"divide: x2 must be non-zero: it is the divisor.*x2\[0, 1\] = 0\.0"):
        tj.jacobian(lambda y: 1.0 / y)(np.array([[1.0, 0.0]]))


# ---- float32 -----------------------------------------------------------------------------------


def test_python_scalars_keep_float32_as_numpy_does(rng):
    x = rng.uniform(0.2, 0.8, 6).astype(np.float32)

    def f(x):
        return (x * 2.0 + 1.0 - x**2 + 2.0**x - 3.0 / x + np.maximum(x, 0.5) + np.minimum(0.5, x)
                + np.clip(x, 0.3, 0.6) + np.where(x > 0.5, x, 1.0) + np.logaddexp(x, 0.1) + abs(-x)
                + np.sqrt(np.reciprocal(x)) + np.arcsin(x) + np.log1p(x) * np.expm1(x))

    assert f(x).dtype == np.float32  # numpy 2: Python scalars do not promote float32
    value, J = tj.value_and_jacobian(f)(x)
    assert value.dtype == np.float32 and J.dtype == np.float32
    np.testing.assert_allclose(value, f(x), rtol=1e-6)
    J64 = tj.jacobian(f)(x.astype(np.float64))
    np.testing.assert_allclose(J.dense(), J64.dense(), rtol=1e-4, atol=1e-5)
    for factor_J in (tj.jacobian(lambda x: np.log2(x))(x), tj.jacobian(lambda x: x**3)(x),
                     tj.jacobian(lambda x: np.clip(x, 0.3, 0.6))(x)):
        assert factor_J.dtype == np.float32 and factor_J.nbytes <= x.nbytes  # float32 factors, not float64


# ---- Bad options -------------------------------------------------------------------------------


def test_clip_and_where_refuse_unsupported_calls_clearly():
    x = np.array([0.5, 2.0])
    with pytest.raises(TypeError, match="out="):
        tj.jacobian(lambda x: np.clip(x, 0, 1, out=np.empty(2)))(x)
    with pytest.raises(TypeError, match=r"'clip' does not support the option\(s\) \['casting'\]"):
        tj.jacobian(lambda x: np.clip(x, 0, 1, casting="unsafe"))(x)
    with pytest.raises(TypeError, match="more than one value for 'a_min'"):
        tj.jacobian(lambda x: np.clip(x, 0, 1, min=0))(x)
    with pytest.raises(TypeError, match=r"np.where\(condition\) with one argument"):
        tj.jacobian(lambda x: np.where(x))(x)
    with pytest.raises(TypeError, match=r"np.where takes \(condition, x, y\)"):
        tj.get_rule("where").bind(x > 0, x)


# ---- JAX cross-check ---------------------------------------------------------------------------


def _composites(xp):
    """The same expressions in numpy and jax.numpy (``xp``)."""
    return [
        lambda x, y: xp.logaddexp(xp.sinh(x), xp.arctan(y) ** 2) * xp.expm1(x / 3) - xp.log1p(xp.abs(y)),
        lambda x, y: xp.where(x > 0, xp.sqrt(xp.abs(x) + 1) ** y, xp.minimum(x, y)) + xp.clip(x, -0.5, y),
        lambda x, y: (xp.log2(xp.cosh(x)) + xp.log10(1 + x**2) + xp.arcsinh(x) * xp.tan(y / 3)
                      - xp.reciprocal(2 + xp.sin(x)) + xp.arccos(xp.tanh(y) / 2) * xp.arcsin(xp.tanh(x) / 3)),
        lambda x, y: xp.arctanh(xp.tanh(x) / 2) + xp.square(-y) + 2.0**x * xp.sign(y) + xp.power(xp.abs(x) + 1, y),
        lambda x, y: xp.clip(x, xp.minimum(y, 0.0), xp.maximum(y, 0.0)) + xp.maximum(x, y) * xp.minimum(x, y),
    ]


@pytest.mark.parametrize("k", range(5))
def test_composites_match_jax(k):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(k)
    x = rng.standard_normal((3, 4))
    y = rng.standard_normal(4)
    if k == 4:
        x[0, :2] = y[:2]  # ties of clip, minimum and maximum: split evenly, as JAX does
        x[1, 2] = 0.0
    f, g = _composites(np)[k], _composites(jnp)[k]
    blocks = tj.jacobian(f, argnums=(0, 1))(x, y)
    jx, jy = jax.jacfwd(g, argnums=(0, 1))(jnp.asarray(x), jnp.asarray(y))
    np.testing.assert_allclose(blocks["x"].dense(), np.asarray(jx), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(blocks["y"].dense(), np.asarray(jy), rtol=1e-12, atol=1e-13)
    # one diagonal of x.size numbers for x; at most two factors of y's broadcast for y
    assert blocks["x"].nbytes == x.nbytes and blocks["y"].nbytes <= 2 * x.nbytes
