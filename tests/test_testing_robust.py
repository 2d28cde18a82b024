"""tensorjac.testing hardening (issue 11): tiny and huge values, float32 in dot mode, bad options."""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
import tensorjac.testing as tt
from tensorjac.rules import logit


def _square_vjp(factor):
    return lambda g, x: factor * 2 * x * g


# ---- Tiny values (case 5) -------------------------------------------------------------------


def _square(x):  # not a registered rule: the reference is finite differences
    return x * x


@pytest.mark.parametrize("x", [1e-150, 1e-20, 3e-9])
def test_a_vjp_50_percent_wrong_at_tiny_values_fails(x):
    """Before, the reference of x**2 at 1e-150 was 0 +- 1.3e-18 (an absolute step of 7.4e-4
    loses x), and a VJP off by 50% passed.  Now the reference resolves 2x."""
    with pytest.raises(AssertionError, match=r"FAILED for argument 'x'") as info:
        tt.check_vjp(_square, _square_vjp(1.5), np.array([x]), reference="numerical")
    assert "rule      (your vjp, float64)" in str(info.value)
    report = tt.check_vjp(_square, _square_vjp(1.5), np.array([x]), reference="numerical", raise_on_failure=False)
    assert report["x"].reference_value == pytest.approx(2 * x, rel=1e-8)
    assert report["x"].worst_ratio > 1e6


@pytest.mark.parametrize("x", [1e-150, 1e-20, 3e-9])
def test_a_right_vjp_at_tiny_values_passes(x):
    report = tt.check_vjp(_square, _square_vjp(1.0), np.array([x, -2 * x]), reference="numerical")
    assert report.ok and report["x"].max_rel_error < 1e-8
    assert tt.check_jvp(_square, lambda t, x: 2 * x * t[0], np.array([x]), reference="numerical").ok


@pytest.mark.parametrize("factor", [1.0, 1.5], ids=["right", "wrong"])
def test_where_f_underflows_the_check_says_it_cannot_judge(factor):
    """x**2 at 5e-293 is 0 at every probe: no finite difference can see 2x = 1e-292, so neither
    a right nor a wrong VJP can be told from 0.  A ValueError says so (not a vacuous pass)."""
    with pytest.raises(ValueError, match=r"outside the range where the check is meaningful for argument 'x'.*off by 50% would pass"):
        tt.check_vjp(_square, _square_vjp(factor), np.array([5e-293]), reference="numerical")


@pytest.mark.parametrize("x", [5e-293, 1e-150])
def test_the_issues_call_never_passes_a_wrong_vjp(x):
    """check_vjp(np.square, 1.5 * 2 x g, [x]): a failure when np.square has a registered (exact)
    Jacobian, else a failure (1e-150) or the ValueError above (5e-293) -- never a pass."""
    with pytest.raises((AssertionError, ValueError)):
        tt.check_vjp(np.square, _square_vjp(1.5), np.array([x]))


def test_tiny_values_with_an_exact_reference_are_checked_to_their_scale():
    """A registered rule's Jacobian has no such limit: the tolerance scales with the values."""
    a, b = np.array([5e-293, 3e-300]), np.array([1.0, 2.0])
    assert tt.check_vjp(np.multiply, lambda g, a, b: (g * b, g * a), a, b).ok
    bad = tt.check_vjp(np.multiply, lambda g, a, b: (g * b, 1.5 * g * a), a, b, raise_on_failure=False)
    assert bad["x1"].ok and not bad["x2"].ok


def test_an_unresolvable_entry_among_resolvable_ones_is_still_checked():
    """Only a check that sees nothing but unresolvable values is refused: here x[1] is checked."""
    x = np.array([5e-293, 0.5])
    assert tt.check_vjp(_square, _square_vjp(1.0), x, reference="numerical").ok
    wrong = tt.check_vjp(_square, _square_vjp(1.5), x, reference="numerical", raise_on_failure=False)
    assert not wrong.ok and wrong["x"].in_index == (1,)


# ---- Values near overflow (case 6) ----------------------------------------------------------


def _exp_jvp(factor=1.0):
    return lambda t, x: factor * np.exp(x) * t[0]


@pytest.mark.parametrize("mode", ["auto", "dot"])
@pytest.mark.parametrize("reference", ["auto", "numerical"])
def test_exp_near_overflow_passes_a_right_jvp_and_fails_a_wrong_one(mode, reference):
    """exp(709.7) = 1.65e308: before, the random tangent (of order 700) overflowed the rule and
    the reference alike and a right rule failed with 'inf vs inf, |diff| = nan'; the magnitude
    |J| + |f| overflowed to inf, so a 10% wrong rule passed."""
    x = np.array([709.7])
    with np.errstate(over="ignore"):
        assert tt.check_jvp(np.exp, _exp_jvp(), x, mode=mode, reference=reference).ok
        bad = tt.check_jvp(np.exp, _exp_jvp(0.9), x, mode=mode, reference=reference, raise_on_failure=False)
    assert not bad.ok and np.isfinite(bad["x"].tolerance) and np.isfinite(bad["x"].rule_value)


@pytest.mark.parametrize("mode", ["auto", "dot"])
def test_vjp_near_overflow_in_float64_and_float32(mode):
    for x, dtype in ((np.array([709.7, 1.0, -700.0]), np.float64), (np.array([88.5, 1.0, -80.0]), np.float32)):
        x = x.astype(dtype)
        with np.errstate(over="ignore"):
            assert tt.check_vjp(np.exp, lambda g, x: g * np.exp(x), x, mode=mode).ok
            bad = tt.check_vjp(np.exp, lambda g, x: g * np.exp(x) * x.dtype.type(0.999), x, mode=mode,
                               raise_on_failure=False)
        assert not bad.ok, dtype


def test_outside_the_range_the_check_raises_value_error():
    with pytest.raises(ValueError, match=r"overflows in float32 at the given point \(it is finite in float64\)"):
        with np.errstate(over="ignore"):
            tt.check_vjp(np.exp, lambda g, x: g * np.exp(x), np.array([100.0], np.float32))
    with pytest.raises(ValueError, match="not finite at the given point"):
        with np.errstate(over="ignore"):
            tt.check_vjp(lambda x: np.exp(x), lambda g, x: g * np.exp(x), np.array([710.0]))
    # log at a subnormal point: f is finite, its Jacobian 1/x is not
    with pytest.raises(ValueError, match=r"reference Jacobian for argument 'x' is not finite"):
        with np.errstate(over="ignore"):
            tt.check_vjp(np.log, lambda g, x: g / x, np.array([1e-310]))
    with pytest.raises(ValueError, match=r"finite-difference reference fails: f is not finite near argument 'x' at index \(0, 1\)"):
        with np.errstate(all="ignore"):
            tt.check_vjp(lambda x: np.log(x), lambda g, x: g / x, np.array([[1.0, 1e-310]]))


# ---- float32 in dot mode (case 7) -----------------------------------------------------------


def _logit_vjp(factor=1.0, float32_only=False):
    def vjp(g, x):
        s = logit(x)
        out = g * s * (1 - s)
        if not float32_only or x.dtype == np.float32:
            out = out * x.dtype.type(factor)
        return out.astype(x.dtype)

    return vjp


LOGIT_CASES = [((10, 10), 1 + 1e-4), ((300, 300), 1 + 1e-3), ((40, 50), 1 + 1e-4)]


@pytest.mark.parametrize("shape, factor", LOGIT_CASES)
@pytest.mark.parametrize("reference", ["auto", "numerical"])
def test_float32_dot_mode_catches_a_scale_error_of_the_formula(shape, factor, reference):
    """Before: off by 1+1e-4 at (10, 10) passed dot mode (ratio 0.68), off by 1+1e-3 at (300, 300)
    too (0.80).  The float32 rule is also run on the float64 point; its <u, J v> is allowed
    float32 relative errors of its terms with random signs (l2), not summed (l1)."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for seed in range(3):
        report = tt.check_vjp(logit, _logit_vjp(factor), x, mode="dot", reference=reference, seed=seed,
                              raise_on_failure=False)
        assert not report.ok and report["x"].worst_ratio > 3, str(report)
        assert "the rule run in float64" in report["x"].compared


def test_float32_dot_mode_accepts_float32_rounded_constants():
    """A formula off by 2 float32 ulps (a float32-rounded constant) is a correct float32 rule."""
    for shape in ((10, 10), (300, 300)):
        x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
        report = tt.check_vjp(logit, _logit_vjp(1 + 2.0**-22), x, mode="dot", probes=5)
        assert report["x"].worst_ratio < 0.2, str(report)


@pytest.mark.parametrize("shape, factor", LOGIT_CASES[:2])
def test_float32_dot_mode_catches_an_error_of_the_float32_path_alone(shape, factor):
    """Wrong only when run in float32: the float32 run, compared term by term with the float64
    run, shows the error at any size (a single <u, J v> would average it out over random signs)."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    report = tt.check_vjp(logit, _logit_vjp(factor, float32_only=True), x, mode="dot", raise_on_failure=False)
    assert not report.ok and report["x"].worst_ratio > 5, str(report)
    assert "float32 rounding only" in report["x"].compared
    # ... and, as before, full mode sees it too
    small = x[:4, :4]
    assert not tt.check_vjp(logit, _logit_vjp(1 + 1e-4, float32_only=True), small, mode="full",
                            raise_on_failure=False).ok


@pytest.mark.parametrize("shape", [(10, 10), (300, 300), (3, 700)])
def test_float32_dot_mode_no_false_alarm(shape):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 6).astype(np.float32)  # saturated entries included
    for reference in ("auto", "numerical"):
        report = tt.check_vjp(logit, _logit_vjp(), x, mode="dot", reference=reference, raise_on_failure=False)
        assert report.ok and report["x"].worst_ratio < 0.3, str(report)
    if x.size > 10_000:
        return
    rule = tj.get_rule("softmax")
    r = tt.check_jacobian(rule.fun, rule.jacobian, x, kwargs={"axis": -1}, reference="numerical", mode="dot")
    assert r.ok and r["x"].worst_ratio < 0.3
    A, B = (rng.standard_normal((shape[0], 30)).astype(np.float32), rng.standard_normal((30, 20)).astype(np.float32))
    assert tt.check_jvp(np.matmul, lambda t, A, B: t[0] @ B + A @ t[1], A, B, mode="dot").ok


def test_float32_rule_that_cannot_run_in_float64_is_checked_in_float32():
    def picky_vjp(g, x):
        if x.dtype != np.float32:
            raise TypeError("float32 only")
        return _logit_vjp()(g, x)

    x = np.random.default_rng(2).standard_normal((30, 30)).astype(np.float32)
    report = tt.check_vjp(logit, picky_vjp, x, mode="dot")
    assert report.ok and "float64" not in report["x"].compared
    with pytest.raises(AssertionError):
        tt.check_vjp(logit, lambda g, x: picky_vjp(g, x) * np.float32(1.1), x, mode="dot")


# ---- Bad options (case 9) -------------------------------------------------------------------


def _exp_vjp(g, x):
    return g * np.exp(x)


@pytest.mark.parametrize(
    "options, error, fragment",
    [
        ({"step": "1e-3"}, ValueError, "step must be a positive finite number"),
        ({"step": True}, ValueError, "step must be a positive finite number"),
        ({"names": "xy"}, ValueError, "names must be a sequence"),
        ({"names": ("a", "b")}, ValueError, "names must give 1 distinct names"),
        ({"names": (3,)}, ValueError, "names must give 1 distinct names"),
        ({"seed": "x"}, ValueError, "seed must be an int"),
        ({"check_dtype": "no"}, ValueError, "check_dtype must be True, False or None"),
        ({"raise_on_failure": 0}, ValueError, "raise_on_failure must be True or False"),
        ({"cotangent_last": "yes"}, ValueError, "cotangent_last must be True or False"),
        ({"argnums": 0.0}, ValueError, "argnums must be ints or argument names"),
        ({"argnums": []}, ValueError, "selects no argument"),
        ({"mode": ["full"]}, ValueError, "mode must be one of"),
        ({"probes": 2.0}, ValueError, "probes must be a positive int"),
    ],
)
def test_bad_options_are_named(options, error, fragment):
    with pytest.raises(error, match=fragment):
        tt.check_vjp(np.exp, _exp_vjp, np.array([0.5]), **options)


@pytest.mark.parametrize(
    "f, error, fragment",
    [
        (lambda x: None, TypeError, "f returned None at the point"),
        (lambda x: x * 1j, TypeError, r"complex values \(dtype complex128\)"),
        (lambda x: np.floor(x).astype(int), TypeError, "dtype int64 at the point; check_vjp needs a floating-point output"),
        (lambda x: "x", TypeError, "str of dtype <U1"),
    ],
)
def test_unusable_functions_are_named(f, error, fragment):
    with pytest.raises(error, match=fragment):
        tt.check_vjp(f, _exp_vjp, np.array([0.5]))


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="argument 'x' is not a rectangular array"):
        tt.check_vjp(np.exp, _exp_vjp, [[1.0], [1.0, 2.0]])
    with pytest.raises(TypeError, match="argument 'x': unsupported dtype complex128"):
        tt.check_vjp(np.exp, _exp_vjp, np.array([1 + 1j]))
    with pytest.raises(ValueError, match="f must be a function"):
        tt.check_vjp(None, _exp_vjp, np.array([0.5]))


def test_size0_and_0d_arguments_are_checked():
    """Size-0 axes: shapes are still checked; 0-d arguments and Python numbers work in both modes."""
    assert tt.check_vjp(np.exp, _exp_vjp, np.ones((2, 0))).ok
    bad_shape = tt.check_vjp(np.exp, lambda g, x: np.zeros(3), np.ones((2, 0)), raise_on_failure=False)
    assert not bad_shape.ok and "shape (3,)" in bad_shape["x"].problem
    assert tt.check_jvp(np.exp, lambda t, x: t[0] * np.exp(x), np.ones(0), mode="dot").ok
    assert tt.check_jacobian(np.exp, lambda x: np.zeros((0, 0)), np.ones(0)).ok
    for mode in ("full", "dot"):
        assert tt.check_vjp(np.exp, _exp_vjp, 0.5, mode=mode).ok
        assert not tt.check_vjp(np.exp, lambda g, x: 2 * _exp_vjp(g, x), np.array(0.5), mode=mode,
                                raise_on_failure=False).ok


def test_exceptions_of_f_at_the_point_say_where():
    with pytest.raises(ZeroDivisionError) as info:
        tt.check_vjp(lambda x: 1 / 0, _exp_vjp, np.array([0.5]))
    notes = getattr(info.value, "__notes__", None)
    if notes is not None:  # Python >= 3.11
        assert any("raised by f at the point given to check_vjp" in n for n in notes)
