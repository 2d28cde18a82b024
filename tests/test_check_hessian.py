"""check_hessian and check_hvp: no false alarms, every planted bug caught with a report naming the
block and the entry, the accepted forms of a rule, the choice of reference, clear errors.

Every ``test_no_false_alarm_*`` item runs correct rules (tensorjac's own, and hand-written ones) on
one seeded random case in one dtype against both references; every ``test_planted_*`` item one
wrong rule in float64 and float32 against both references.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac.testing import check_hessian, check_hvp

DTYPES = (np.float64, np.float32)
REFERENCES = ("auto", "numerical")


def random_cases(seed, dtype):
    """(name, f, args): elementwise, matmul, softmax, logsumexp, products and sums of several arguments,
    broadcasting; constants in the arguments' dtype, so that a float32 rule computes in float32."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4, 3)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, size=2)]
    cases = [
        ("tanh", lambda x: np.tanh(x), (rng.normal(size=(2, 3)),)),
        ("exp*sin", lambda x: np.sum(np.exp(x) * np.sin(x)), (rng.normal(size=4),)),
        ("log(x*x+y)", lambda x, y: np.log(x * x + y), (rng.normal(size=3), rng.random(size=3) + 0.5)),
        ("tanh(XW+b)", lambda W, b: np.sum(np.tanh(X @ W + b)), (rng.normal(size=(3, 2)), rng.normal(size=2))),
        ("matmul", lambda A, B: A @ B, (rng.normal(size=(2, 3)), rng.normal(size=(3, 2)))),
        ("softmax", lambda z: tj.softmax(z), (rng.normal(size=(2, 3)) * 2,)),
        ("logsumexp", lambda x, W: tj.logsumexp(x @ W), (rng.normal(size=(2, 3)), rng.normal(size=(3, 2)))),
        ("cross_entropy", lambda z: tj.cross_entropy(Y, tj.softmax(z)), (rng.normal(size=(2, 3)),)),
        ("x*y*z", lambda x, y, z: np.sum(x * y * z), (rng.normal(size=(3, 1)), rng.normal(size=4), rng.normal(size=(1, 4)))),
        ("x*y+z**2", lambda x, y, z: x[:, None] * y + z ** 2, (rng.normal(size=3), rng.normal(size=2), rng.normal(size=(1, 2)))),
        ("x/y", lambda x, y: np.sum(x / y) + np.sum(y ** 3), (rng.normal(size=3), rng.random(size=3) + 0.5)),
    ]
    return [(name, f, tuple(np.asarray(a, dtype=dtype) for a in args)) for name, f, args in cases]


def tj_hessian_rule(f, n):
    return lambda *args: tj.hessian(f, argnums=tuple(range(n)))(*args)


def tj_hvp_rule(f):
    return lambda tangents, *args: tj.hvp(f, args, tangents)[1]


def _float32_only(scale):
    """A factor that is 1 in float64 and ``scale`` in float32: a bug in the float32 path only."""
    return lambda a: scale if np.asarray(a).dtype == np.float32 else 1.0


# ---- (a) no false alarms --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("seed", range(4))
def test_no_false_alarm_on_random_cases(seed, dtype):
    for name, f, args in random_cases(seed, dtype):
        scalar = np.ndim(f(*args)) == 0
        for reference in REFERENCES:
            report = check_hessian(f, tj_hessian_rule(f, len(args)), *args, reference=reference, raise_on_failure=False)
            assert report.ok, f"{name} seed {seed} {reference}:\n{report}"
            assert report.dtype == np.dtype(dtype).name
            if scalar:
                for mode in ("full", "vector"):
                    report = check_hvp(f, tj_hvp_rule(f), *args, reference=reference, mode=mode, raise_on_failure=False)
                    assert report.ok, f"{name} seed {seed} {reference} {mode}:\n{report}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_no_false_alarm_hand_written_logistic_rules(dtype):
    """Hand-written Hessian and hvp of logistic regression (X^T diag(s(1-s)) X), sums over 60 rows."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 20)).astype(dtype)
    labels = (rng.random(60) < 0.5).astype(dtype)
    w = (rng.normal(size=20) / 3).astype(dtype)

    def loss(w):
        z = X @ w
        return np.sum(tj.softplus(z) - labels * z)

    def hess(w):
        s = tj.logit(X @ w)
        return X.T @ ((s * (1 - s))[:, None] * X)

    def hvp(tangents, w):
        (v,) = tangents
        s = tj.logit(X @ w)
        return (X.T @ (s * (1 - s) * (X @ v)),)

    for reference in REFERENCES:
        assert check_hessian(loss, hess, w, reference=reference).ok
        report = check_hvp(loss, hvp, w, reference=reference)
        assert report.ok and report["w"].mode == "full"  # 20 entries: auto compares every entry
        assert check_hvp(loss, hvp, w, reference=reference, mode="vector").ok


# ---- (b) planted bugs ---------------------------------------------------------------------------------

A = np.array([[1.0, 2.0, 0.5], [-1.0, 0.3, 2.0], [0.7, -0.4, 1.5]])


def quadratic(x):
    return x @ A.astype(x.dtype) @ x + np.sum(x ** 2)


def x_y_squared(x, y):
    return np.sum(x * y ** 2)


def bilinear(x, y):
    return x @ A.astype(x.dtype) @ y + np.sum(np.sin(x))


def tanh_layer(W, x):
    return np.sum(np.tanh(W @ x))


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_planted_factor_two_missing_on_the_diagonal(dtype, reference):
    x = np.array([0.5, -1.0, 2.0], dtype=dtype)
    wrong = lambda x: A + A.T + np.eye(3)  # noqa: E731   (d²/dx² sum(x**2) is 2 I)
    report = check_hessian(quadratic, wrong, x, reference=reference, raise_on_failure=False)
    block = report["x", "x"]
    assert not report.ok and not block.ok
    (name1, i), (name2, j) = block.in_index
    assert name1 == name2 == "x" and i == j  # a diagonal entry
    assert abs(block.reference_value - block.rule_value - 1.0) < 1e-3
    with pytest.raises(AssertionError, match=r"block \('x', 'x'\)[\s\S]*worst entry: d² f / d x\[(\d)\] d x\[\1\]"):
        report.assert_ok()
    wrong_hvp = lambda t, x: (((A + A.T) @ t[0] + t[0]).astype(x.dtype),)  # noqa: E731
    for mode in ("vector", "full"):
        report = check_hvp(quadratic, wrong_hvp, x, reference=reference, mode=mode, raise_on_failure=False)
        assert not report.ok and report["x"].problem is None, mode
    (_, i), (_, j) = report["x"].in_index
    assert i == j and f"worst entry: d² f / d x[{i[0]}] d x[{i[0]}]" in report.message()


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_planted_dropped_cross_term(dtype, reference):
    x, y = np.array([1.0, 2.0, -0.5], dtype=dtype), np.array([3.0, -1.0, 0.25], dtype=dtype)

    def dropped(x, y):  # d²/dx dy of sum(x * y**2) is diag(2 y): dropped
        return {("x", "x"): np.zeros((3, 3)), ("x", "y"): np.zeros((3, 3)), ("y", "y"): np.diag(2 * x)}

    report = check_hessian(x_y_squared, dropped, x, y, reference=reference, raise_on_failure=False)
    assert [a.name for a in report.failures] == [("x", "y")]
    assert report["x", "x"].ok and report["y", "y"].ok
    (nx, i), (ny, j) = report["x", "y"].in_index
    assert (nx, ny) == ("x", "y") and i == j == (0,)  # the largest |2 y_j| (3.0)
    assert report["x", "y"].reference_value == pytest.approx(6.0, rel=1e-6) and report["x", "y"].rule_value == 0
    assert report["y", "x"] is report["x", "y"]

    def dropped_hvp(tangents, x, y):  # (H v)_x = 2 y t_y and (H v)_y = 2 y t_x + 2 x t_y, cross terms dropped
        tx, ty = tangents
        return 0 * tx, 2 * x * ty

    for mode in ("full", "vector"):
        report = check_hvp(x_y_squared, dropped_hvp, x, y, reference=reference, mode=mode, raise_on_failure=False)
        assert not report["x"].ok and not report["y"].ok, mode
    message = check_hvp(x_y_squared, dropped_hvp, x, y, reference=reference, mode="full", raise_on_failure=False).message()
    assert "FAILED for the argument 'x'" in message and "worst entry: d² f / d x[0] d y[0]" in message
    assert "at the unit tangent e[0] of 'y'" in message


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_planted_transposed_block(dtype, reference):
    # a square block transposed: A.T for d²/dx dy of x @ A @ y
    x, y = np.array([0.5, 1.0, -1.0], dtype=dtype), np.array([2.0, 0.1, -0.3], dtype=dtype)
    good = tj_hessian_rule(bilinear, 2)(x.astype(float), y.astype(float))
    rule = lambda x, y: {("x", "x"): good["x", "x"], ("x", "y"): A.T, ("y", "y"): np.zeros((3, 3))}  # noqa: E731
    report = check_hessian(bilinear, rule, x, y, reference=reference, raise_on_failure=False)
    assert [a.name for a in report.failures] == [("x", "y")]
    (_, i), (_, j) = report["x", "y"].in_index
    assert i != j and report["x", "y"].rule_value == A[j[0], i[0]]
    wrong_hvp = lambda t, x, y: (good["x", "x"].dense() @ t[0] + A.T @ t[1], A @ t[0])  # noqa: E731
    report = check_hvp(bilinear, lambda t, x, y: tuple(v.astype(x.dtype) for v in wrong_hvp(t, x, y)), x, y,
                       reference=reference, raise_on_failure=False)
    assert not report["x"].ok and not report["y"].ok
    # a rectangular block in the layout of the other order: a shape problem that says so
    W, v = np.ones((2, 3), dtype=dtype) / 2, np.array([0.1, -0.2, 0.3], dtype=dtype)

    def swapped(W, x):
        H = tj.hessian(tanh_layer, argnums=(0, 1))(W, x)
        return {("W", "W"): H["W", "W"], ("W", "x"): H["x", "W"].dense(), ("x", "x"): H["x", "x"]}

    report = check_hessian(tanh_layer, swapped, W, v, reference=reference, raise_on_failure=False)
    assert [a.name for a in report.failures] == [("W", "x")]
    assert report["W", "x"].problem == (
        "the Hessian rule's block ('W', 'x') has shape (3, 2, 3), expected (2, 3, 3) = f's output shape () + the "
        "shape of 'W' (2, 3) + the shape of 'x' (3,) (the layout of the block ('x', 'W'): transposed?)")


@pytest.mark.parametrize("reference", REFERENCES)
def test_planted_float32_only_scale_error(reference):
    rng = np.random.default_rng(3)
    W, x = rng.normal(size=(3, 4)) / 2, rng.normal(size=4)
    scale = _float32_only(np.float32(1 + 1e-3))

    def hess(W, x):
        H = tj.hessian(tanh_layer, argnums=(0, 1))(W, x)
        return {k: H[k].dense() * scale(W) for k in [("W", "W"), ("W", "x"), ("x", "x")]}

    def hvp(tangents, W, x):
        return tuple(h * scale(W) for h in tj.hvp(tanh_layer, (W, x), tangents)[1])

    assert check_hessian(tanh_layer, hess, W, x, reference=reference).ok  # float64: right
    assert check_hvp(tanh_layer, hvp, W, x, reference=reference).ok
    W32, x32 = W.astype(np.float32), x.astype(np.float32)
    report = check_hessian(tanh_layer, hess, W32, x32, reference=reference, raise_on_failure=False)
    assert not report.ok and min(a.worst_ratio for a in report.arguments) > 10  # every block, far outside
    block = report.failures[0]
    assert abs(block.rule_value / block.reference_value - 1 - 1e-3) < 2e-4
    for mode in ("full", "vector"):
        report = check_hvp(tanh_layer, hvp, W32, x32, reference=reference, mode=mode, raise_on_failure=False)
        assert not report.ok and all(a.worst_ratio > 5 for a in report.arguments), (mode, report)


# ---- (c) messages and reports -------------------------------------------------------------------------


def test_failure_message_names_block_entry_values_and_step():
    x = np.array([0.5, -1.0, 2.0])
    wrong = lambda x: A + A.T + np.eye(3)  # noqa: E731
    with pytest.raises(AssertionError) as info:
        check_hessian(quadratic, wrong, x, reference="numerical")
    text = str(info.value)
    assert text.startswith("check_hessian(quadratic) FAILED for the block ('x', 'x') (shapes (3,) and (3,), float64), "
                           "mode 'full', reference numerical_hessian in float64:")
    for fragment in ("worst entry: d² f / d x[", "rule      (your Hessian, float64): ", "reference (numerical_hessian in "
                     "float64, step ", "> tolerance", "compared value: entry [] + [", "of your block ('x', 'x')",
                     "step: relative step ", "relative steps tried: "):
        assert fragment in text, fragment
    with pytest.raises(AssertionError, match=r"step: none: the reference is tj.hessian, not finite differences"):
        check_hessian(quadratic, wrong, x)
    report = check_hessian(quadratic, wrong, x, raise_on_failure=False)
    assert "block" in str(report).splitlines()[1] and "FAIL" in str(report)
    assert repr(report).startswith("<CheckReport check_hessian(quadratic) FAILED")


def test_vector_outputs_size_zero_and_zero_d_arguments():
    x = np.array([0.3, -1.2])
    H = tj.hessian(np.tanh)(x)
    assert check_hessian(np.tanh, lambda x: H.dense(), x).ok  # a dense (2, 2, 2) array for one argument
    wrong = H.dense().copy()
    wrong[1, 1, 1] *= 2
    report = check_hessian(np.tanh, lambda x: wrong, x, raise_on_failure=False)
    assert report["x", "x"].out_index == (1,) and report["x", "x"].in_index == (("x", (1,)), ("x", (1,)))
    assert "worst entry: d² out[1] / d x[1] d x[1]" in report.message()
    f = lambda a, b: a * np.sum(b ** 2)  # noqa: E731
    assert check_hessian(f, lambda a, b: {("a", "a"): 0.0, ("a", "b"): np.zeros(0), ("b", "b"): np.zeros((0, 0))},
                         np.array(2.0), np.zeros(0)).ok
    assert check_hvp(f, lambda t, a, b: (np.zeros(()), np.zeros(0)), np.array(2.0), np.zeros(0)).ok


# ---- (d) the forms a rule may return -----------------------------------------------------------------


def test_accepted_forms_of_a_hessian_rule():
    x, y = np.array([1.0, 2.0, -0.5]), np.array([3.0, -1.0, 0.25])
    H = tj.hessian(x_y_squared, argnums=(0, 1))(x, y)
    dense = {k: H[k].dense() for k in [("x", "x"), ("x", "y"), ("y", "y")]}
    assert check_hessian(x_y_squared, lambda x, y: H, x, y).ok  # HessianBlocks by name
    renamed = lambda x, y: tj.hessian(lambda a, b: x_y_squared(a, b), argnums=(0, 1))(x, y)  # noqa: E731
    assert check_hessian(x_y_squared, renamed, x, y).ok  # HessianBlocks by position (other names)
    assert check_hessian(x_y_squared, lambda x, y: dense, x, y).ok
    by_position = {(0, 0): dense["x", "x"], (1, 0): dense["x", "y"].T, (1, 1): dense["y", "y"]}
    assert check_hessian(x_y_squared, lambda x, y: by_position, x, y).ok  # positions, the other order
    assert check_hessian(x_y_squared, lambda x, y: H["y", "y"], x, y, argnums="y").ok  # one argument: a Hessian
    # both orders given: both are checked, and a wrong transpose is caught
    both = {**dense, ("y", "x"): dense["x", "y"].T * 1.5}
    report = check_hessian(x_y_squared, lambda x, y: both, x, y, raise_on_failure=False)
    assert not report["x", "y"].ok and "of your block ('y', 'x')" in report["x", "y"].compared


def test_rules_returning_the_wrong_thing_give_failing_reports():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    report = check_hessian(x_y_squared, lambda x, y: np.zeros((2, 2)), x, y, raise_on_failure=False)
    assert report["x", "x"].problem.startswith("the Hessian rule returned a single ndarray, but 2 arguments are checked")
    report = check_hessian(x_y_squared, lambda x, y: {("x", "x"): np.zeros((2, 2))}, x, y, raise_on_failure=False)
    assert report["x", "y"].problem.startswith("the Hessian rule's dict has no block ('x', 'y') (nor ('y', 'x'))")

    def raises(x, y):
        raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="the Hessian rule raised RuntimeError: boom") as info:
        check_hessian(x_y_squared, raises, x, y)
    assert isinstance(info.value.__cause__, RuntimeError)
    report = check_hvp(x_y_squared, lambda t, x, y: (t[0],), x, y, raise_on_failure=False)
    assert report["x"].problem == report["y"].problem == "the hvp returned 1 array(s), expected 2"
    report = check_hvp(x_y_squared, lambda t, x, y: (t[0][:1], t[1]), x, y, raise_on_failure=False)
    assert report["x"].problem == ("the hvp returned shape (1,) for argument 'x', expected its shape (2,) (H v has the "
                                   "shape of the argument)")
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    as64 = lambda t, x, y: tuple(np.asarray(h, dtype=np.float64) for h in tj.hvp(x_y_squared, (x, y), t)[1])  # noqa: E731
    report = check_hvp(x_y_squared, as64, x32, y32, raise_on_failure=False)
    assert report["x"].problem.startswith("the hvp returned dtype float64 for argument 'x' of dtype float32")
    assert check_hvp(x_y_squared, as64, x32, y32, check_dtype=False).ok


# ---- (e) the reference ------------------------------------------------------------------------------


def test_reference_auto_uses_tj_hessian_and_falls_back_with_a_note():
    x = np.array([0.5, -1.0, 2.0])
    right = lambda x: tj.hessian(quadratic)(x)  # noqa: E731
    report = check_hessian(quadratic, right, x)
    assert report.reference == "tj.hessian in float64" and report["x", "x"].step is None and not report.notes

    def opaque(x):  # Python floats: not traceable, so tj.hessian cannot differentiate it
        return sum(float(v) ** 3 for v in x)

    report = check_hessian(opaque, lambda x: np.diag(6 * x), x)
    assert report.reference == "numerical_hessian in float64" and report["x", "x"].step is not None
    assert report.notes and report.notes[0].startswith("note: tj.hessian could not differentiate f (TracingError")
    with pytest.raises(tj.TracingError):
        check_hessian(opaque, lambda x: np.diag(6 * x), x, reference="hessian")
    assert check_hessian(quadratic, right, x, reference="numerical").reference == "numerical_hessian in float64"


def test_a_point_where_the_reference_resolves_nothing_is_refused():
    """f = x**3 + 1e15: the finite differences drown the second derivative (6e-3) in f's rounding."""
    with pytest.raises(ValueError, match="outside the range where the check is meaningful for \\('x', 'x'\\)"):
        check_hessian(lambda x: np.sum(x ** 3) + 1e15, lambda x: np.diag(6 * x), np.array([1e-3, 2e-3]),
                      reference="numerical")


# ---- (f) bad arguments ------------------------------------------------------------------------------


def test_bad_arguments_raise_clear_errors():
    x = np.array([1.0, 2.0])
    good = lambda x: np.diag(6 * x)  # noqa: E731
    cube = lambda x: np.sum(x ** 3)  # noqa: E731
    with pytest.raises(ValueError, match="the Hessian rule under test must be callable, got int"):
        check_hessian(cube, 3, x)
    with pytest.raises(ValueError, match=r"reference must be one of \['auto', 'hessian', 'numerical'\], got 'rule'"):
        check_hessian(cube, good, x, reference="rule")
    with pytest.raises(ValueError, match="at least one array argument"):
        check_hessian(cube, good)
    with pytest.raises(ValueError, match="argnum 3 is out of range"):
        check_hessian(cube, good, x, argnums=3)
    with pytest.raises(ValueError, match="step must be a positive finite number, got -1"):
        check_hessian(cube, good, x, step=-1)
    with pytest.raises(ValueError, match="kwargs must be a dict"):
        check_hessian(cube, good, x, kwargs=[1])
    with pytest.raises(ValueError, match="raise_on_failure must be True or False, got 'yes'"):
        check_hessian(cube, good, x, raise_on_failure="yes")
    with pytest.raises(ValueError, match=r"f\(\*args\) is not finite at the given point"), np.errstate(divide="ignore"):
        check_hessian(lambda x: np.sum(np.log(x)), good, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="argument 'x': unsupported dtype complex128"):
        check_hessian(cube, good, x.astype(complex))
    with pytest.raises(ValueError, match=r"check_hvp needs a scalar-valued f \(as tj.hvp does\); f returned shape \(2,\)"):
        check_hvp(np.tanh, lambda t, x: t, x)
    with pytest.raises(ValueError, match=r"mode must be one of \['auto', 'full', 'vector'\], got 'dot'"):
        check_hvp(cube, lambda t, x: t, x, mode="dot")
    with pytest.raises(ValueError, match="probes must be a positive int, got 0"):
        check_hvp(cube, lambda t, x: t, x, probes=0)
    with pytest.raises(ValueError, match="seed must be an int"):
        check_hvp(cube, lambda t, x: t, x, seed="a")
    with pytest.raises(ValueError, match="the hvp under test must be callable, got NoneType"):
        check_hvp(cube, None, x)
    with pytest.raises(ValueError, match="check_dtype must be True or False"):
        check_hvp(cube, lambda t, x: t, x, check_dtype=None)


def test_the_reference_refuses_above_the_dense_budget():
    x = np.ones(40)
    old = tj.set_dense_budget(20_000)  # the (40, 40) block and its errors need 38,400 bytes
    try:
        with pytest.raises(MemoryError, match="numerical_hessian would build dense float64 blocks"):
            check_hessian(lambda x: np.sum(x ** 3), lambda x: np.diag(6 * x), x, reference="numerical")
    finally:
        tj.set_dense_budget(old)


def test_kwargs_and_argnums_reach_f_and_the_rule():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    f = lambda x, y, power=2: np.sum(x * y ** power)  # noqa: E731
    rule = lambda x, y, power=2: np.diag(power * (power - 1) * x * y ** (power - 2))  # noqa: E731
    assert check_hessian(f, rule, x, y, argnums="y", kwargs={"power": 3}).ok
    report = check_hessian(f, rule, x, y, argnums="y", kwargs={"power": 3}, reference="numerical")
    assert [a.name for a in report.arguments] == [("y", "y")]
    with pytest.raises(AssertionError):
        check_hessian(f, lambda x, y, power=2: rule(x, y, 2), x, y, argnums="y", kwargs={"power": 3})
