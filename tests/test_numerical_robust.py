"""numerical_jacobian hardening (issue 11): what f returns, large and tiny arguments, overflow,
memory, the batched calling convention, and clear errors for bad arguments."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import tensorjac as tj
from tensorjac import numerical


def _counted(f):
    @functools.wraps(f)
    def g(*args):
        g.calls += 1
        g.rows.append(np.shape(args[0])[:1])
        return f(*args)

    g.calls, g.rows = 0, []
    return g


# ---- What f returns (cases 1 and 3) ---------------------------------------------------------


@pytest.mark.parametrize(
    "f, fragment",
    [
        (lambda x: None, r"f returned None at the point.*missing `return`"),
        (lambda x: x * 1j, r"complex values \(dtype complex128\) at the point"),
        (lambda x: (x * 1j).astype(np.complex64), r"dtype complex64"),
        (lambda x: np.array([x, "a"], dtype=object), r"dtype object"),
        (lambda x: "abc", r"str of dtype <U3"),
        (lambda x: [x, 1.0], r"list that is not a rectangular array"),
    ],
    ids=["none", "complex128", "complex64", "object", "str", "ragged"],
)
def test_unusable_outputs_raise_type_error_naming_them(f, fragment):
    with pytest.raises(TypeError, match=fragment):
        tj.numerical_jacobian(f, np.ones(2))


def test_an_output_that_turns_complex_at_a_probe_is_named_there():
    """Real at the point, complex one step away: the error names the probe, not 'nan'."""

    def f(x):
        return x if x[0] == 1.0 else x * 1j

    with pytest.raises(TypeError, match=r"complex values \(dtype complex128\) at x\[0\] \+ 0\.00074"):
        tj.numerical_jacobian(f, np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="returned None at x"):
        tj.numerical_jacobian(lambda x: x if x[0] == 1.0 else None, np.array([1.0, 2.0]))


def test_integer_and_boolean_outputs_are_real_and_constant():
    """A step function's derivative is 0 away from its jumps (not a TypeError, not nan)."""
    x = np.array([0.3, 1.7])
    for f in (lambda x: np.floor(x).astype(np.int64), lambda x: x > 1):
        numeric = tj.numerical_jacobian(f, x)
        np.testing.assert_array_equal(numeric["x"].dense(), np.zeros((2, 2)))
        assert numeric.value.dtype == np.float64


def test_float32_outputs_get_a_float32_step_and_an_honest_error():
    """An f computing in float32 has rounding 1e-7: the step is float32's eps**(1/5) and the
    error estimate covers the float32 rounding (a float64 model would claim 1e-12)."""
    x = np.array([0.5, 1.0, 2.0])
    numeric = tj.numerical_jacobian(lambda x: np.sin(x.astype(np.float32)), x)
    J, err = np.diag(numeric["x"].dense()), np.diag(numeric.errors["x"])
    np.testing.assert_allclose(numeric.steps["x"], np.finfo(np.float32).eps ** 0.2 * np.maximum(x, 1), rtol=1e-6)
    assert np.all(np.abs(J - np.cos(x)) <= err) and np.all(err < 1e-4)
    assert np.any(np.abs(J - np.cos(x)) > 1e-9)  # the float32 rounding is really there


# ---- Large arguments (case 2) ---------------------------------------------------------------


@pytest.mark.parametrize("x", [1e5, 1e7, 7.5e4, 123456.789, 3e6, -4.2e6, 2.5e8, 1e9, 1e10])
def test_sin_at_large_arguments_is_right_to_its_error(x):
    """Before: at 1e5 the relative step 74 gave +0.0187 (true -0.9994) with error 1.3e-4, at 1e7
    -1.3e-4 (true -0.907) with error 2.1e-4.  Now the steps shrink until the differences
    converge: the value is right to the reported error, and that error is small."""
    numeric = tj.numerical_jacobian(np.sin, np.array(x))
    J, err = float(numeric["x"].dense()), float(numeric.errors["x"])
    assert abs(J - np.cos(x)) <= err
    assert err <= 1e-10
    assert float(numeric.steps["x"]) < 2 * np.pi  # below the function's scale, far below 7.4e-4 * |x|


def test_large_arguments_of_periodic_functions_at_random():
    """Sixty points log-uniform in [1e2, 1e10], three periodic functions: never a wrong value
    within its claimed error (with steps halving, a periodic f aliased every window into a
    smooth-looking but wrong one at half of such points).  (The reference derivatives are
    exact in float64: no argument is scaled by a factor that rounds, unlike cos(3 x).)"""
    rng = np.random.default_rng(11)
    x = 10 ** rng.uniform(2, 10, 60) * rng.choice([-1, 1], 60)
    for f, df in [
        (np.sin, np.cos),
        (lambda x: np.sin(x) * np.cos(x), lambda x: np.cos(2 * x)),
        (lambda x: np.exp(np.sin(x)), lambda x: np.cos(x) * np.exp(np.sin(x))),
    ]:
        numeric = tj.numerical_jacobian(f, x)
        J, err = np.diag(numeric["x"].dense()), np.diag(numeric.errors["x"])
        assert np.all(np.abs(J - df(x)) <= err), np.max(np.abs(J - df(x)) / err)
        assert np.all(err <= 1e-6 * np.maximum(np.abs(df(x)), 1.0))


def test_arguments_beyond_the_resolution_of_float64_raise():
    """sin at 1e15: float64 spacing there is 0.125, too coarse to resolve a period of 2 pi."""
    with pytest.raises(ValueError, match=r"do not converge for argument 'x' at index \(1,\) \(x = 1e\+15\)"):
        tj.numerical_jacobian(np.sin, np.array([1.0, 1e15]))


# ---- Tiny arguments and overflow (the numerical side of cases 5 and 6) ------------------------


@pytest.mark.parametrize("x", [1e-150, 1e-100, 1e-20])
def test_tiny_arguments_are_resolved_with_a_relative_step(x):
    """x**2 at 1e-150: the absolute step 7.4e-4 loses x entirely (x + h == h) and gives 0 +- 1e-18;
    the relative step 7.4e-4 * x resolves 2x to 10 digits."""
    numeric = tj.numerical_jacobian(lambda x: x**2, np.array([x, 0.5]))
    J, err = np.diag(numeric["x"].dense()), np.diag(numeric.errors["x"])
    assert abs(J[0] - 2 * x) <= err[0] <= 1e-10 * 2 * x
    assert numeric.steps["x"][0] == pytest.approx(numerical.DEFAULT_STEP * x, rel=1e-12)
    assert numeric.steps["x"][1] == pytest.approx(numerical.DEFAULT_STEP, rel=1e-12)  # not refined
    np.testing.assert_allclose(J[1], 1.0, rtol=1e-12)
    # the refinement stays per output: the other output (x[1]**2, unchanged) keeps the absolute
    # step's rounding error (at the relative step it would be 2 eps 0.25 / 1e-154)
    assert numeric.errors["x"][1, 0] <= 1e-11


def test_underflowing_values_get_an_honest_error():
    """x**2 at 5e-293 underflows to 0 near x: no step can see 2x = 1e-292; the error says so."""
    numeric = tj.numerical_jacobian(lambda x: x**2, np.array(5e-293))
    J, err = float(numeric["x"].dense()), float(numeric.errors["x"])
    assert abs(J - 1e-292) <= err


def test_probes_beyond_overflow_shrink_the_step():
    """exp(709.7) = 1.65e308 is finite; exp(709.7 + 0.53) is not.  The derivative is still exact
    to 1e-11, and so is its error estimate."""
    x = np.array([709.7, -745.0, 1.0])
    with np.errstate(over="ignore"):
        numeric = tj.numerical_jacobian(np.exp, x)
    J, err = np.diag(numeric["x"].dense()), np.diag(numeric.errors["x"])
    assert np.all(np.isfinite(J)) and np.all(np.abs(J - np.exp(x)) <= err)
    assert err[0] <= 1e-11 * np.exp(709.7)
    assert numeric.steps["x"][0] < 0.05 < numerical.DEFAULT_STEP * 709.7


# ---- Memory (case 4) ------------------------------------------------------------------------


def test_a_jacobian_over_the_dense_budget_is_refused_before_probing():
    """40000 inputs and outputs: 2 x 12.8 GB.  Refused after one call of f, naming shape and bytes."""
    f = _counted(lambda x: x)
    with pytest.raises(MemoryError) as info:
        tj.numerical_jacobian(f, np.zeros(40000))
    message = str(info.value)
    assert "'x': (40000, 40000)" in message and "25,600,000,000 bytes" in message
    assert "dense budget of 1,073,741,824 bytes" in message and "mode='dot'" in message
    assert f.calls == 1


def test_the_budget_counts_every_block_and_its_error_estimate():
    x, y = np.ones(10), np.ones(20)
    f = lambda x, y: x.sum() * y  # noqa: E731  output (20,): blocks (20, 10) and (20, 20)
    need = 2 * 8 * (20 * 10 + 20 * 20)
    tj.numerical_jacobian(f, x, y, budget=need)
    with pytest.raises(MemoryError, match=r"'x': \(20, 10\), 'y': \(20, 20\)"):
        tj.numerical_jacobian(f, x, y, budget=need - 1)
    tj.numerical_jacobian(f, x, y, budget=need - 1, argnums="y")  # one block fits
    old = tj.set_dense_budget(need - 1)
    try:
        with pytest.raises(MemoryError, match=f"{need:,} bytes"):
            tj.numerical_jacobian(f, x, y)
    finally:
        tj.set_dense_budget(old)
    for bad in (-1, 1.5, "big", True):
        with pytest.raises(ValueError, match="budget"):
            tj.numerical_jacobian(f, x, y, budget=bad)


# ---- The batched calling convention (case 4) --------------------------------------------------


def _points():
    rng = np.random.default_rng(4)
    return np.concatenate([rng.standard_normal(12), [1e5, 1e7, 1e-150, 0.0, 2e-5]])


@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.sin(x) * x,
        lambda x: np.log(np.abs(x) + 1e-3),
        lambda x: np.cumsum(np.sin(x), axis=-1),
        lambda x: np.maximum(x, 0.2),
    ],
    ids=["sin", "log", "cumsum", "kink"],
)
def test_vectorized_gives_the_same_jacobian_errors_and_steps(f):
    """Per probe or in batches, the same differences: identical blocks, errors and steps, in
    far fewer calls."""
    x = _points()
    one, batched, small = _counted(f), _counted(f), _counted(f)
    A = tj.numerical_jacobian(one, x)
    B = tj.numerical_jacobian(batched, x, vectorized=True)
    C = tj.numerical_jacobian(small, x, vectorized=5)
    for other in (B, C):
        np.testing.assert_array_equal(other["x"].dense(), A["x"].dense())
        np.testing.assert_array_equal(other.errors["x"], A.errors["x"])
        np.testing.assert_array_equal(other.steps["x"], A.steps["x"])
        np.testing.assert_array_equal(other.value, A.value)
    assert one.calls >= 1 + 8 * x.size
    assert batched.calls <= 40 and batched.rows[0] == (1,)  # the value: a batch of one point
    assert max(r[0] for r in small.rows) <= 5 + 1  # at most 5 probes plus the point itself


def test_vectorized_with_several_arguments_and_shapes():
    """Every argument gets the leading batch axis; the unperturbed ones are read-only views."""
    rng = np.random.default_rng(5)
    A, B, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), np.array(0.7)
    seen = []

    def f(A, B, c):  # batched: A (k, 2, 3), B (k, 3, 4), c (k,)
        seen.append((A.shape, B.shape, c.shape, A.flags.writeable, B.flags.writeable))
        return np.tanh(A @ B) * c[:, None, None]

    numeric = tj.numerical_jacobian(f, A, B, c, vectorized=True, argnums=("A", "c"))
    plain = tj.numerical_jacobian(lambda A, B, c: np.tanh(A @ B) * c, A, B, c, argnums=("A", "c"))
    for name in ("A", "c"):
        assert numeric[name].shape == plain[name].shape
        np.testing.assert_allclose(numeric[name].dense(), plain[name].dense(), rtol=1e-9, atol=1e-12)
    k = seen[1][0][0]
    assert seen[0][:3] == ((1, 2, 3), (1, 3, 4), (1,))
    assert seen[1][:3] == ((k, 2, 3), (k, 3, 4), (k,)) and seen[1][3] and not seen[1][4]


def test_vectorized_convention_broken_is_a_clear_error():
    # no batch axis in the result
    with pytest.raises(ValueError, match=r"vectorized=True: .*returned shape \(\); it must return a leading batch axis"):
        tj.numerical_jacobian(lambda x: np.sum(x), np.ones(3), vectorized=True)
    # rows mixed up by the batch (a sum over the batch axis too): row 0 no longer is f at the point
    with pytest.raises(ValueError, match=r"row 0 of f's result for a batch of \d+ points .* differs"):
        tj.numerical_jacobian(lambda x: x * x.sum(), np.ones(3), vectorized=True)
    # broadcasting a batched scalar against a batched vector: numpy's error, with where it happened
    with pytest.raises(ValueError, match="could not be broadcast") as info:
        tj.numerical_jacobian(lambda x, y: x * y, np.array(2.0), np.ones(3), vectorized=True)
    assert any("vectorized=True on a batch of" in n for n in getattr(info.value, "__notes__", ["vectorized=True on a batch of"]))
    for bad in (0, -2, 1.5, "yes", None):
        with pytest.raises(ValueError, match="vectorized must be False, True or a positive int"):
            tj.numerical_jacobian(np.sin, np.ones(2), vectorized=bad)


# ---- Bad arguments (case 9) -----------------------------------------------------------------


@pytest.mark.parametrize("step", ["1e-3", True, np.array([1e-3, 1e-3]), [1e-3], float("inf"), -0.0])
def test_bad_steps_name_the_step(step):
    with pytest.raises(ValueError, match="step must be a positive finite number"):
        tj.numerical_jacobian(np.sin, np.ones(2), step=step)


@pytest.mark.parametrize("names", ["xy", 3, [1], ("a", ""), ("a", "b", "c"), ("a", "a")])
def test_bad_names_name_the_names(names):
    with pytest.raises(ValueError, match="names must"):
        tj.numerical_jacobian(lambda x, y: x * y, np.ones(2), np.ones(2), names=names)


@pytest.mark.parametrize("argnums", [1.0, True, [], [0, 1.5], object()])
def test_bad_argnums_name_the_argnums(argnums):
    with pytest.raises(ValueError, match="argnum"):
        tj.numerical_jacobian(lambda x, y: x * y, np.ones(2), np.ones(2), argnums=argnums)


@pytest.mark.parametrize(
    "arg, error, fragment",
    [
        ([[1.0], [1.0, 2.0]], TypeError, "argument 'x' is not a rectangular array"),
        ("abc", TypeError, "argument 'x': unsupported dtype <U3"),
        (None, TypeError, "argument 'x': unsupported dtype object"),
        (np.array([1.0, np.nan]), ValueError, "argument 'x' has non-finite values"),
    ],
)
def test_bad_arguments_are_named(arg, error, fragment):
    with pytest.raises(error, match=fragment):
        tj.numerical_jacobian(lambda x: x, arg)


def test_size0_arguments_and_outputs_give_empty_blocks():
    """Size-0 axes are valid: empty blocks of the right shapes, and f is not probed for nothing."""
    f = _counted(lambda x, y: np.sum(x) * y[:0])
    numeric = tj.numerical_jacobian(f, np.ones((0, 3)), np.ones(2))
    assert numeric["x"].shape == (0, 0, 3) and numeric["y"].shape == (0, 2)
    assert numeric.errors["x"].shape == (0, 0, 3) and numeric.steps["x"].shape == (0, 3)
    out0 = tj.numerical_jacobian(lambda x: x[:0] * 2, np.ones(3))
    assert out0["x"].shape == (0, 3) and out0.errors["x"].shape == (0, 3)
    empty_in = tj.numerical_jacobian(np.sin, np.ones((2, 0)))
    assert empty_in["x"].shape == (2, 0, 2, 0)
    assert tj.numerical_jacobian(np.sin, np.ones((2, 0)), vectorized=True)["x"].shape == (2, 0, 2, 0)


def test_0d_arguments_and_python_numbers():
    numeric = tj.numerical_jacobian(lambda x, y: x * y**2, 3.0, np.array(2))
    assert numeric["x"].shape == () and numeric["y"].shape == ()
    np.testing.assert_allclose(float(numeric["x"].dense()), 4.0, rtol=1e-12)
    np.testing.assert_allclose(float(numeric["y"].dense()), 12.0, rtol=1e-10)


def test_exceptions_of_f_say_where_f_was_called():
    def f(x):
        if x[1] != 2.0:
            raise KeyError("boom")
        return x

    with pytest.raises(KeyError) as info:
        tj.numerical_jacobian(f, np.array([1.0, 2.0]))
    notes = getattr(info.value, "__notes__", None)
    if notes is not None:  # Python >= 3.11
        assert any("raised by f at x[1] + 0.00148" in n for n in notes)
    with pytest.raises(ZeroDivisionError) as info:
        tj.numerical_jacobian(lambda x: 1 / 0, np.ones(2))
    if getattr(info.value, "__notes__", None) is not None:
        assert any("at the point given to numerical_jacobian" in n for n in info.value.__notes__)


def test_vectorized_agrees_with_scipy_differentiate_jacobian():
    """The same Jacobian as scipy's batched differentiator; the conventions differ only in where
    the batch axis goes (scipy: trailing, tensorjac: leading, as numpy broadcasting prepends)."""
    differentiate = pytest.importorskip("scipy.differentiate")
    x = np.array([0.3, -1.2, 2.0])

    def f_scipy(x):  # x of shape (3, ...) -> (2, ...)
        return np.stack([np.sin(x[0]) * x[1], np.exp(x[2]) - x[0] ** 2])

    ours_f = _counted(lambda x: np.stack([np.sin(x[..., 0]) * x[..., 1], np.exp(x[..., 2]) - x[..., 0] ** 2], axis=-1))
    scipy_result = differentiate.jacobian(f_scipy, x)
    ours = tj.numerical_jacobian(ours_f, x, vectorized=True)
    J = ours[0].dense()
    np.testing.assert_allclose(J, scipy_result.df, rtol=1e-9, atol=1e-10)
    exact = np.array([[np.cos(0.3) * -1.2, np.sin(0.3), 0.0], [-0.6, 0.0, np.exp(2.0)]])
    assert np.all(np.abs(J - exact) <= ours.errors[ours.names[0]])
    assert ours_f.calls <= 6


# ---- Kinks and jumps ------------------------------------------------------------------------


def test_a_jump_at_the_point_raises_instead_of_returning_1_over_2h():
    """A step function at its jump: the central differences grow like 1 / step.  Before, the
    value 1 / (2h) came back with an error estimate of the same size; now a clear error."""
    f = lambda x: (x > 0).astype(float) + 0.5 * (x == 0)  # noqa: E731
    with pytest.raises(tj.numerical.FiniteDifferenceError, match=r"f jumps at argument 'x' index \(1,\) \(x = 0\)"):
        tj.numerical_jacobian(f, np.array([0.5, 0.0]))
    np.testing.assert_array_equal(tj.numerical_jacobian(f, np.array([0.5, -0.25]))["x"].dense(), np.zeros((2, 2)))


def test_kinks_near_and_at_the_point():
    """|x| at 0 gives the symmetric derivative 0 (relu: 1/2, the rules' convention at ties); a kink
    1e-12 away is passed by shrinking the step; one 1e-30 away (lost in x +- 7.4e-4) by the
    relative step."""
    x = np.array([0.0, 1e-12, -3.0, 1e-30])
    numeric = tj.numerical_jacobian(np.abs, x)
    J, err = np.diag(numeric["x"].dense()), np.diag(numeric.errors["x"])
    np.testing.assert_array_equal(J, [0.0, 1.0, -1.0, 1.0])
    assert np.all(err < 1e-11)
    assert numeric.steps["x"][1] < 1e-12 and numeric.steps["x"][3] < 1e-30
    relu = tj.numerical_jacobian(lambda x: np.maximum(x, 0.0), np.array([0.0, 2.0]))
    np.testing.assert_array_equal(np.diag(relu["x"].dense()), [0.5, 1.0])
