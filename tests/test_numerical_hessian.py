"""numerical_hessian: layout, known Hessians, the error estimate as a bound, symmetry, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac._numerical_second import HESSIAN_STEP


def assert_bounded(numeric, errors, true, what=""):
    """|numeric - true| <= errors entrywise (no safety factor), with the worst entry in the message."""
    numeric, errors, true = (np.asarray(a, dtype=np.float64) for a in (numeric, errors, true))
    assert numeric.shape == errors.shape == true.shape, (what, numeric.shape, errors.shape, true.shape)
    gap = np.abs(numeric - true)
    if not np.all(gap <= errors):
        k = np.unravel_index(np.argmax(gap - errors), gap.shape) if gap.ndim else ()
        raise AssertionError(f"{what}: at {k} numeric {numeric[k]!r}, true {true[k]!r}, |diff| {gap[k]:.3g} > "
                             f"estimate {errors[k]:.3g}")


def diag_hessian(d2):
    """The Hessian of sum(f(x)) (an elementwise f with second derivative d2): diagonal."""
    flat = np.ravel(d2)
    return np.diag(flat).reshape(np.shape(d2) * 2)


# ---- layout -------------------------------------------------------------------------------------


def test_layout_blocks_names_and_transposes(rng):
    """f(A, B) = A @ B: block (A, B) has shape out + A.shape + B.shape, d²f[a,b]/dA[i,j]dB[k,l] = δai δjk δbl."""
    A, B = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    H = tj.numerical_hessian(lambda A, B: A @ B, A, B)
    assert isinstance(H, tj.NumericalHessian) and isinstance(H, tj.HessianBlocks)
    assert H.names == ("A", "B") and H.out_shape == (2, 4)
    assert H["A", "B"].shape == (2, 4, 2, 3, 3, 4) and H["B", "A"].shape == (2, 4, 3, 4, 2, 3)
    expected = np.einsum("ai,jk,bl->abijkl", np.eye(2), np.eye(3), np.eye(4))
    assert_bounded(H["A", "B"].dense(), H.errors["A", "B"], expected, "A, B")
    assert_bounded(H["A", "A"].dense(), H.errors["A", "A"], np.zeros((2, 4, 2, 3, 2, 3)), "A, A")
    np.testing.assert_array_equal(H["B", "A"].dense(), np.moveaxis(H["A", "B"].dense(), (4, 5), (2, 3)))
    np.testing.assert_array_equal(H.errors["B", "A"], np.moveaxis(H.errors["A", "B"], (4, 5), (2, 3)))
    assert H.steps["A", "B"].shape == (2, 3, 3, 4) and H.steps["B", "A"].shape == (3, 4, 2, 3)
    np.testing.assert_array_equal(H.value, A @ B)
    assert H["A", "A"].symmetric and not H["A", "B"].symmetric
    # positions address the blocks too, and the errors of every ordered pair are there
    np.testing.assert_array_equal(H[1, 0].dense(), H["B", "A"].dense())
    assert set(H.errors) == set(H.steps) == {("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")}


def test_scalar_output_matrix_is_exactly_symmetric(rng):
    x, y = rng.normal(size=3), rng.normal(size=2)
    f = lambda x, y: np.sum(np.tanh(np.outer(x, y)) ** 2) + np.sum(x ** 3) * y[0]  # noqa: E731
    H = tj.numerical_hessian(f, x, y)
    M, ranges = H.matrix()
    assert M.shape == (5, 5) and ranges == {"x": slice(0, 3), "y": slice(3, 5)}
    np.testing.assert_array_equal(M, M.T)  # exactly: each unordered pair is computed once
    np.testing.assert_array_equal(H.errors["x", "x"], H.errors["x", "x"].T)
    exact = tj.hessian(f, argnums=(0, 1))(x, y)
    for p in "xy":
        for q in "xy":
            assert_bounded(H[p, q].dense(), H.errors[p, q], exact[p, q].dense(), f"{p}, {q}")


# ---- known Hessians: the estimate bounds the real error --------------------------------------


@pytest.mark.parametrize(
    "f, d2, x",
    [
        (lambda x: x ** 3, lambda x: 6 * x, np.array([-3.0, -0.2, 0.0, 1.0, 7.5])),
        (lambda x: x ** 4 - 2 * x ** 2, lambda x: 12 * x ** 2 - 4, np.array([[-1.5, 0.3], [2.0, 3.0]])),
        (np.exp, np.exp, np.array([-2.0, 0.0, 1.0, 4.0])),
        (np.log, lambda x: -1 / x ** 2, np.array([1e-6, 1e-3, 0.01, 0.3, 12.0])),  # near the pole at 0
        (np.sin, lambda x: -np.sin(x), np.array([-3.0, 0.4, 2.5, 40.0])),
        (np.sin, lambda x: -np.sin(x), np.array([1e3, 1e5, 1e7, -3e4])),  # steps far below the relative ones
        (np.arctan, lambda x: -2 * x / (1 + x ** 2) ** 2, np.array([-5.0, 0.0, 0.7])),
        (lambda x: 1 / x, lambda x: 2 / x ** 3, np.array([-2.0, 0.01, 50.0])),
    ],
    ids=["cube", "quartic", "exp", "log-near-pole", "sin", "sin-large", "arctan", "reciprocal"],
)
def test_estimate_bounds_the_error_of_known_diagonal_hessians(f, d2, x):
    H = tj.numerical_hessian(lambda x: np.sum(f(x)), x)
    true = diag_hessian(d2(x))
    assert_bounded(H["x", "x"].dense(), H.errors["x", "x"], true, "H")
    # ... and the bound is informative: far below the size of the entries (a zero mixed entry
    # d²f / dx_i dx_j: below that of the diagonal entries beside it)
    d = np.abs(np.ravel(d2(x)))
    size = (1 + np.sqrt(np.outer(d, d))).reshape(true.shape)
    assert np.all(H.errors["x", "x"] <= 1e-6 * size)


def test_sin_at_very_large_arguments_is_bounded_or_refused():
    """The steps go down to sin's scale (a step of 1e10 at 1e12 sees D ~ 1e-20 +- 1e-20: no estimate)."""
    x = np.array([1e9, 1e12])
    H = tj.numerical_hessian(lambda x: np.sum(np.sin(x)), x)
    assert_bounded(H["x", "x"].dense(), H.errors["x", "x"], np.diag(-np.sin(x)), "sin at 1e9, 1e12")
    assert np.all(np.diag(H.errors["x", "x"]) < 1e-5)
    with pytest.raises(tj.numerical.FiniteDifferenceError, match=r"x\[\] = 1e\+15 .*do not converge down to the "
                                                                 r"relative step .*resolution of the arguments"):
        tj.numerical_hessian(np.sin, np.array(1e15))


def test_vector_output_and_mixed_blocks_of_a_product(rng):
    """f(x, y) = x[:, None] * y**2 (broadcast to (3, 4)): d²f[a,b]/dx_i dy_j = 2 y_b δai δbj."""
    x, y = rng.normal(size=3), rng.normal(size=4)
    H = tj.numerical_hessian(lambda x, y: x[:, None] * y ** 2, x, y)
    mixed = np.einsum("ai,bj,b->abij", np.eye(3), np.eye(4), 2 * y)
    yy = np.einsum("a,bj,bk->abjk", 2 * x, np.eye(4), np.eye(4))
    assert_bounded(H["x", "y"].dense(), H.errors["x", "y"], mixed, "x, y")
    assert_bounded(H["y", "y"].dense(), H.errors["y", "y"], yy, "y, y")
    assert_bounded(H["x", "x"].dense(), H.errors["x", "x"], np.zeros((3, 4, 3, 3)), "x, x")


def test_mixed_entry_of_exp_sin_known_in_closed_form():
    """f(a, b) = exp(a b) + sin(a + 2b): every entry, at a point of order 1 and one of order 3."""
    f = lambda a, b: np.exp(a * b) + np.sin(a + 2 * b)  # noqa: E731
    for a, b in [(0.7, -1.3), (3.0, 2.5)]:
        e, s = np.exp(a * b), np.sin(a + 2 * b)
        true = {("a", "a"): b * b * e - s, ("a", "b"): e + a * b * e - 2 * s, ("b", "b"): a * a * e - 4 * s}
        H = tj.numerical_hessian(f, np.array(a), np.array(b))
        for key, value in true.items():
            assert H[key].shape == ()
            assert_bounded(H[key].dense(), H.errors[key], value, str(key))
            assert H.errors[key] <= 1e-8 * (1 + abs(value))


@pytest.mark.parametrize("seed", range(8))
def test_estimate_bounds_the_error_against_tj_hessian_on_random_functions(seed):
    """Seeded random points of functions with known (traced) Hessians, vector outputs and broadcasting
    included, and the ill-conditioned log(x*x + y) near 1 that needs the measured noise."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(3, 4))
    cases = [
        (lambda x, y: np.sum(np.tanh(A @ x + y)), (rng.normal(size=4), rng.normal(size=3))),
        (lambda x, y: tj.softmax(x * y), (rng.normal(size=(2, 3)), rng.normal(size=3))),
        (lambda X, W: tj.logsumexp(X @ W), (rng.normal(size=(3, 2)), rng.normal(size=2))),
        (lambda X, W: np.sum((X @ W) ** 2), (rng.normal(size=(2, 3)), rng.normal(size=(3, 2)))),
        (lambda x, y: np.log(x * x + y), (rng.normal(size=3), rng.random(size=3) + 0.1)),
        (lambda x, y: np.exp(np.sin(x) * y), (rng.normal(size=3), rng.normal(size=(2, 1)))),
    ]
    for k, (f, args) in enumerate(cases):
        H = tj.numerical_hessian(f, *args)
        exact = tj.hessian(f, argnums=(0, 1))(*args)
        for p in H.names:
            for q in H.names:
                true = exact[p, q].dense()
                assert_bounded(H[p, q].dense(), H.errors[p, q], true, f"case {k} block {p}, {q}")
                assert np.all(H.errors[p, q] <= 1e-6 * (1 + np.max(np.abs(true))))


def test_the_estimate_tells_a_wrong_hessian_from_the_right_one():
    x = np.array([0.3, 1.1])
    H = tj.numerical_hessian(lambda x: np.sum(np.sin(x)), x)
    right, wrong = np.diag(-np.sin(x)), np.diag(-np.sin(x) * (1 + 1e-5))
    err = H.errors["x", "x"]
    assert np.all(np.abs(H["x", "x"].dense() - right) <= err)
    assert not np.all(np.abs(H["x", "x"].dense() - wrong) <= 10 * err)


def test_matrix_argument_against_tj_hessian(rng):
    X = rng.normal(size=(4, 3))
    f = lambda W: np.sum(np.tanh(X @ W))  # noqa: E731
    W = rng.normal(size=(3, 2)) / 2
    H = tj.numerical_hessian(f, W)
    assert H["W", "W"].shape == (3, 2, 3, 2)
    assert_bounded(H["W", "W"].dense(), H.errors["W", "W"], tj.hessian(f)(W).dense(), "W")


# ---- shapes and dtypes ---------------------------------------------------------------------------


def test_size_zero_and_zero_d_arguments():
    H = tj.numerical_hessian(lambda x, y: np.sum(x ** 2) * y ** 3, np.zeros((0, 3)), np.array(2.0))
    assert H["x", "x"].shape == (0, 3, 0, 3) and H["x", "y"].shape == (0, 3)
    assert H.errors["x", "y"].shape == (0, 3) and H.steps["y", "x"].shape == (0, 3)
    assert H["y", "y"].shape == () and H["y", "y"].dense() == 0.0  # sum over no entries: f = 0
    H = tj.numerical_hessian(lambda x: x ** 3, np.array(2.0))
    assert H["x", "x"].shape == () and H.errors["x", "x"].shape == ()
    assert_bounded(H["x", "x"].dense(), H.errors["x", "x"], 12.0, "x**3 at 2")
    # a zero-size output
    H = tj.numerical_hessian(lambda x: x[:0] ** 2, np.ones(3))
    assert H["x", "x"].shape == (0, 3, 3)


def test_float32_arguments_are_evaluated_in_float64():
    seen = []
    x32 = np.array([0.5, -1.25, 2.0], dtype=np.float32)

    def f(x):
        seen.append(x.dtype)
        return np.sum(np.exp(x) * x)

    H = tj.numerical_hessian(f, x32)
    assert set(seen) == {np.dtype(np.float64)}
    assert H["x", "x"].dtype == np.float64 and H.errors["x", "x"].dtype == np.float64
    x = x32.astype(np.float64)
    true = np.diag(np.exp(x) * (x + 2))
    assert_bounded(H["x", "x"].dense(), H.errors["x", "x"], true, "float32 point")
    assert np.all(H.errors["x", "x"] <= 1e-8 * (1 + np.abs(true)))  # float64 accuracy, not float32's


def test_a_float32_output_gets_float32_steps_and_errors():
    """f rounding to float32: larger steps and an estimate that still bounds the error."""
    H = tj.numerical_hessian(lambda x: (x ** 3).astype(np.float32), np.array([1.0, 2.0]))
    assert_bounded(H["x", "x"].dense(), H.errors["x", "x"], np.einsum("a,ab,ac->abc", [6.0, 12.0], np.eye(2), np.eye(2)),
                   "float32 output")
    assert H.steps["x", "x"][0, 0] > 10 * HESSIAN_STEP


def test_an_f_computing_in_float32_behind_a_float64_result_gets_an_honest_estimate():
    """float32 steps in f's values (D would read 0 +- 1e-10 once the steps are small): float32 rounding assumed."""
    x = np.array([0.3, -1.2, 2.0])
    H = tj.numerical_hessian(lambda x: np.float64(np.sum(np.exp(x.astype(np.float32)))), x)
    assert_bounded(H["x", "x"].dense(), H.errors["x", "x"], np.diag(np.exp(x)), "float32 inside")
    assert np.all(np.diag(H.errors["x", "x"]) > 1e-4)


def test_argnums_names_and_the_callers_arguments():
    x, y = np.array([1.0, 2.0]), np.array(3.0)
    keep = (x.copy(), y.copy())
    H = tj.numerical_hessian(lambda x, y: np.sum(x ** 2) * y, x, y, argnums="y")
    assert H.names == ("y",)
    assert_bounded(H["y", "y"].dense(), H.errors["y", "y"], 0.0, "linear in y")
    H = tj.numerical_hessian(lambda x, y: np.sum(x ** 2) * y, x, y, argnums=(1, 0), names=("u", "v"))
    assert H.names == ("v", "u")
    assert_bounded(H["u", "v"].dense(), H.errors["u", "v"], 2 * x, "mixed")
    H = tj.numerical_hessian(lambda *a: a[0] * a[1], np.array(1.0), np.array(2.0))
    assert H.names == ("x0", "x1")
    np.testing.assert_array_equal(x, keep[0])
    np.testing.assert_array_equal(y, keep[1])


def test_steps_shrink_where_the_function_varies_fast():
    H = tj.numerical_hessian(lambda x: np.sum(np.sin(x)), np.array([1.0, 1e5]))
    steps = H.steps["x", "x"]
    assert steps[0, 0] == pytest.approx(HESSIAN_STEP)
    assert steps[1, 1] * 1e5 < 1.0  # an absolute step below sin's scale, far below 0.018 * 1e5


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [0, -1e-3, float("nan"), float("inf"), "0.01", True])
def test_bad_step(step):
    with pytest.raises(ValueError, match="step must be a positive finite number"):
        tj.numerical_hessian(np.sin, np.ones(2), step=step)


def test_bad_function_arguments_and_options():
    with pytest.raises(ValueError, match="needs a callable f, got int"):
        tj.numerical_hessian(3, np.ones(2))
    with pytest.raises(ValueError, match="at least one argument"):
        tj.numerical_hessian(np.sin)
    with pytest.raises(ValueError, match="names must give 2 distinct names"):
        tj.numerical_hessian(lambda x, y: x * y, 1.0, 2.0, names=("a", "a"))
    with pytest.raises(ValueError, match="no argument named 'z'"):
        tj.numerical_hessian(lambda x, y: x * y, 1.0, 2.0, argnums="z")
    with pytest.raises(ValueError, match="budget must be a non-negative number of bytes"):
        tj.numerical_hessian(np.sin, np.ones(2), budget=-1)
    with pytest.raises(ValueError, match=r"argument 'x' has non-finite values \(first at index \(1,\)"):
        tj.numerical_hessian(np.sin, np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="argument 'x': unsupported dtype complex128"):
        tj.numerical_hessian(np.sin, np.ones(2, dtype=complex))
    with pytest.raises(ValueError, match=r"f\(\*args\) is not finite at the point"), np.errstate(divide="ignore"):
        tj.numerical_hessian(np.log, np.array([1.0, 0.0]))


def test_bad_outputs_of_f():
    with pytest.raises(TypeError, match="f returned complex values"):
        tj.numerical_hessian(lambda x: x * 1j, np.ones(2))
    with pytest.raises(TypeError, match=r"f returned None at the point.*missing `return`"):
        tj.numerical_hessian(lambda x: None, np.ones(2))
    with pytest.raises(TypeError, match="f returned None at x\\[1\\] \\+ "):
        tj.numerical_hessian(lambda x: None if x[1] != 2.0 else np.sum(x), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"f returned shape \(3,\) at x\[0\] .*expected \(2,\)"):
        tj.numerical_hessian(lambda x: np.append(x, 1.0) if x[0] != 1.0 else x, np.array([1.0, 2.0]))


def test_memory_budget_is_checked_before_probing():
    calls = []

    def f(x):
        calls.append(1)
        return np.sin(x)

    with pytest.raises(MemoryError, match=r"numerical_hessian would build dense float64 blocks of shapes "
                                          r"\{\('x', 'x'\): \(100, 100, 100\)\}.*over the dense budget of 1,000,000"):
        tj.numerical_hessian(f, np.ones(100), budget=1_000_000)
    assert len(calls) == 1  # only f at the point, for its output shape
    old = tj.set_dense_budget(10_000)
    try:
        with pytest.raises(MemoryError, match="check_hvp"):
            tj.numerical_hessian(f, np.ones(30))
    finally:
        tj.set_dense_budget(old)


def test_kinks_and_jumps_are_refused_naming_the_entry():
    with pytest.raises(tj.numerical.FiniteDifferenceError, match=r"diagonal entry at x\[1\] = 0 .*kink") as info:
        tj.numerical_hessian(lambda x: np.sum(np.abs(x)), np.array([1.0, 0.0]))
    assert info.value.name == "x" and info.value.index == ((1,),)
    with pytest.raises(tj.numerical.FiniteDifferenceError, match=r"x\[0\] = 0 .*f jumps there"):
        tj.numerical_hessian(lambda x: np.sum(np.where(x > 0, 1.0, 0.0) + x ** 2), np.array([0.0]))
    with pytest.raises(ValueError, match="not finite near the point"):  # FiniteDifferenceError is a ValueError
        tj.numerical_hessian(lambda x: np.sum(np.sqrt(x)), np.array([0.0, 1.0]))
