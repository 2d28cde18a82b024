"""numerical_jacobian: layout, error estimate, steps, float64 evaluation, argument selection, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac.numerical import DEFAULT_STEP


def test_layout_matches_the_analytic_convention(rng, fd_close):
    """f(A) = A @ B: block shape out + in, d f[a,b] / d A[i,j] = delta(a,i) B[j,b]."""
    A, B = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    numeric = tj.numerical_jacobian(lambda A: A @ B, A)
    assert numeric.names == ("A",)
    assert numeric["A"].shape == (2, 4, 2, 3) and numeric["A"].out_shape == (2, 4)
    expected = np.einsum("ai,jb->abij", np.eye(2), B)
    fd_close(expected, numeric["A"].dense(), numeric.errors["A"], "A @ B")
    np.testing.assert_array_equal(numeric.value, A @ B)
    assert numeric.errors["A"].shape == (2, 4, 2, 3) and numeric.steps["A"].shape == (2, 3)


def test_scalar_input_and_output(fd_close):
    """Scalars have shape (): the Jacobian of R -> R is 0-d, of R^3 -> R is (3,)."""
    numeric = tj.numerical_jacobian(lambda x, v: np.sin(x) * np.sum(v**2), np.array(0.3), np.arange(3.0))
    assert numeric["x"].shape == () and numeric["v"].shape == (3,)
    fd_close(np.cos(0.3) * 5.0, numeric["x"].dense(), numeric.errors["x"], "x")
    fd_close(np.sin(0.3) * 2 * np.arange(3.0), numeric["v"].dense(), numeric.errors["v"], "v")


@pytest.mark.parametrize(
    "f, df, x",
    [
        (np.sin, np.cos, np.array([-3.0, -1.2, 0.0, 0.4, 2.5, 7.0, 40.0])),
        (np.exp, np.exp, np.array([[-2.0, 0.0, 1.0], [2.5, 3.0, 0.1]])),
        (np.log, lambda x: 1 / x, np.array([0.05, 0.3, 1.0, 12.0])),
        (np.arctan, lambda x: 1 / (1 + x**2), np.array([-5.0, 0.0, 0.7])),
    ],
    ids=["sin", "exp", "log", "arctan"],
)
def test_error_estimate_bounds_the_true_error(f, df, x):
    """For known derivatives, |numeric - true| <= errors entrywise (no safety factor), and errors are small."""
    numeric = tj.numerical_jacobian(f, x)
    name = numeric.names[0]
    true = np.diag(df(x).ravel()).reshape(x.shape + x.shape)
    gap = np.abs(numeric[name].dense() - true)
    assert np.all(gap <= numeric.errors[name]), np.max(gap - numeric.errors[name])
    # ... and the bound is informative: far below the size of the derivative.
    assert np.all(numeric.errors[name] <= 1e-4 * (1 + np.abs(true)))


def test_error_estimate_of_a_wrong_answer_would_be_caught():
    """The estimate is tight enough to separate a derivative off by 1e-4 from the right one."""
    x = np.array([0.3, 1.1])
    numeric = tj.numerical_jacobian(np.sin, x)
    right, wrong = np.diag(np.cos(x)), np.diag(np.cos(x) + 1e-4)
    err = numeric.errors[numeric.names[0]]
    assert np.all(np.abs(numeric[0].dense() - right) <= 10 * err)
    assert not np.all(np.abs(numeric[0].dense() - wrong) <= 10 * err)


def test_steps_scale_with_the_magnitude_of_each_entry():
    """h_j = step * max(|x_j|, 1): absolute near 0, relative for large entries.

    (Rounded by a few ulps so that x_j + h_j and x_j - h_j are exact floats.)
    """
    x = np.array([0.0, 0.5, -3.0, 100.0, -1e4])
    numeric = tj.numerical_jacobian(lambda x: x**2, x)
    np.testing.assert_allclose(numeric.steps["x"], DEFAULT_STEP * np.maximum(np.abs(x), 1.0), rtol=1e-12)
    np.testing.assert_allclose(numeric["x"].dense(), np.diag(2 * x), rtol=1e-9, atol=1e-9)
    custom = tj.numerical_jacobian(lambda x: x**2, x, step=1e-3)
    np.testing.assert_allclose(custom.steps["x"], 1e-3 * np.maximum(np.abs(x), 1.0), rtol=1e-12)
    exact = (x + numeric.steps["x"]) - (x - numeric.steps["x"])
    np.testing.assert_array_equal(exact, 2 * numeric.steps["x"])


def test_float32_inputs_are_evaluated_in_float64():
    """f sees float64 arrays and the result has float64 accuracy (a float32 evaluation would be ~1e-3 off)."""
    seen = []

    def f(x):
        seen.append(x.dtype)
        return x**3

    x = np.array([0.7, -1.3, 2.1], dtype=np.float32)
    numeric = tj.numerical_jacobian(f, x)
    assert seen and set(seen) == {np.dtype(np.float64)}
    assert numeric["x"].dtype == np.float64 and numeric.value.dtype == np.float64
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(numeric["x"].dense(), np.diag(3 * x64**2), rtol=1e-10)


def test_integer_arguments_are_promoted():
    numeric = tj.numerical_jacobian(lambda x: x * x, np.array([1, 2, 3]))
    np.testing.assert_allclose(numeric["x"].dense(), np.diag([2.0, 4.0, 6.0]), rtol=1e-10)


def test_non_contiguous_arguments():
    """A transposed (Fortran-ordered) or strided argument is perturbed like any other."""
    A = np.arange(1.0, 7.0).reshape(2, 3)
    for arg in (A.T, A[:, ::2], np.asfortranarray(A)):
        numeric = tj.numerical_jacobian(lambda x: x**2, arg)
        expected = np.diag(2 * arg.ravel()).reshape(arg.shape + arg.shape)
        np.testing.assert_allclose(numeric["x"].dense(), expected, rtol=1e-10, atol=1e-12)


def test_the_callers_arguments_are_not_modified():
    x = np.array([1.0, 2.0])
    tj.numerical_jacobian(np.sin, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


# ---- Argument selection -------------------------------------------------------------------


def _f(x, y):
    return x * y**2


def test_argnums_by_position_name_and_negative_index():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    full = tj.numerical_jacobian(_f, x, y)
    assert full.names == ("x", "y")
    for argnums in (1, -1, "y", ("y",), [1]):
        only_y = tj.numerical_jacobian(_f, x, y, argnums=argnums)
        assert only_y.names == ("y",)
        np.testing.assert_array_equal(only_y["y"].dense(), full["y"].dense())
    both = tj.numerical_jacobian(_f, x, y, argnums=("y", 0))
    assert both.names == ("y", "x")
    np.testing.assert_allclose(full["y"].dense(), np.diag(2 * x * y), rtol=1e-10)


def test_names_option_and_default_names():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    named = tj.numerical_jacobian(_f, x, y, names=("p", "q"), argnums="q")
    assert named.names == ("q",)
    np.testing.assert_allclose(named["q"].dense(), np.diag(2 * x * y), rtol=1e-10)
    # without named parameters (a *args function) the blocks are x0, x1, ...
    assert tj.numerical_jacobian(lambda *a: a[0] * a[1], x, y).names == ("x0", "x1")


@pytest.mark.parametrize(
    "argnums, fragment",
    [(2, "out of range"), (-3, "out of range"), ("z", "no argument named 'z'"),
     ((0, "x"), "selected twice"), ((), "selects no argument")],
)
def test_bad_argnums_raise_value_error(argnums, fragment):
    with pytest.raises(ValueError, match=fragment):
        tj.numerical_jacobian(_f, np.ones(2), np.ones(2), argnums=argnums)


def test_bad_names_step_function_and_arguments():
    with pytest.raises(ValueError, match="distinct names"):
        tj.numerical_jacobian(_f, np.ones(2), np.ones(2), names=("a",))
    with pytest.raises(ValueError, match="distinct names"):
        tj.numerical_jacobian(_f, np.ones(2), np.ones(2), names=("a", "a"))
    for step in (0.0, -1e-3, np.nan):
        with pytest.raises(ValueError, match="step"):
            tj.numerical_jacobian(np.sin, np.ones(2), step=step)
    with pytest.raises(ValueError, match="callable"):
        tj.numerical_jacobian(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="at least one argument"):
        tj.numerical_jacobian(np.sin)


# ---- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_arguments_raise(bad):
    with pytest.raises(ValueError, match=r"argument 'y' has non-finite values"):
        tj.numerical_jacobian(_f, np.ones(2), np.array([1.0, bad]))


def test_non_finite_value_at_the_point_raises():
    with pytest.raises(ValueError, match="non-finite"):
        with np.errstate(divide="ignore"):
            tj.numerical_jacobian(np.log, np.array([1.0, 0.0]))


def test_output_shape_changing_with_the_input_raises():
    def unstable(x):
        return x if x[0] == 1.0 else x[:1]

    with pytest.raises(ValueError, match="returned shape"):
        tj.numerical_jacobian(unstable, np.array([1.0, 2.0]))


@pytest.mark.parametrize(
    "bad",
    [np.array([1.0 + 2j]), np.array([1.0], dtype=np.float16), np.array([1.0], dtype=object)],
    ids=["complex", "float16", "object"],
)
def test_unsupported_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match="dtype"):
        tj.numerical_jacobian(np.sin, bad)


# ---- Near a pole --------------------------------------------------------------------------


def test_step_shrinks_near_a_pole_and_stays_accurate(fd_close):
    """log at 1e-5: the default step 7.4e-4 crosses 0; the result is still finite and accurate."""
    x = np.array([1e-5, 2.0])
    with np.errstate(invalid="ignore", divide="ignore"):  # log of the negative probe points
        numeric = tj.numerical_jacobian(lambda x: np.log(x), x)
    J, err = numeric["x"].dense(), numeric.errors["x"]
    assert np.all(np.isfinite(J)) and np.all(np.isfinite(err))
    assert numeric.steps["x"][0] < 1e-5 < DEFAULT_STEP  # shrunk below the distance to the pole
    assert numeric.steps["x"][1] == pytest.approx(DEFAULT_STEP * 2.0, rel=1e-12)  # the other entry keeps its step
    fd_close(np.diag(1 / x), J, err, "log near 0")
    np.testing.assert_allclose(J[0, 0], 1e5, rtol=1e-8)
    np.testing.assert_allclose(J[1, 1], 0.5, rtol=1e-10)


def test_sqrt_at_the_edge_of_its_domain_is_accurate():
    """sqrt at 1e-6: probes below 0 are nan; shrinking recovers 1 / (2 sqrt(x)) = 500."""
    with np.errstate(invalid="ignore"):
        numeric = tj.numerical_jacobian(lambda x: np.sqrt(x), np.array(1e-6))
    np.testing.assert_allclose(numeric["x"].dense(), 500.0, rtol=1e-6)
    assert abs(numeric["x"].dense() - 500.0) <= 10 * numeric.errors["x"]


def test_function_not_finite_even_with_tiny_steps_raises():
    """log at 1e-300: every step that numerical_jacobian tries reaches below zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        with pytest.raises(ValueError, match=r"not finite near argument 'x' at index \(1,\)"):
            tj.numerical_jacobian(lambda x: np.log(x), np.array([1.0, 1e-300]))


def test_step_shrinks_when_it_jumps_over_a_pole():
    """1/x at 1e-4: the default step 7.4e-4 jumps over the pole with both sides finite.

    Only the error estimate can tell: truncation dominates, so the step shrinks until the
    derivative -1/x^2 = -1e8 is found, and the estimate still bounds the error.
    """
    numeric = tj.numerical_jacobian(lambda x: 1 / x, np.array([1e-4]))
    J, err = numeric["x"].dense()[0, 0], numeric.errors["x"][0, 0]
    np.testing.assert_allclose(J, -1e8, rtol=1e-9)
    assert abs(J + 1e8) <= err < 1e-6 * 1e8
    assert numeric.steps["x"][0] < 1e-4
