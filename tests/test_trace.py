"""Tracing plain numpy functions: the JAX-shaped transforms, structure kept through the trace,
accumulation orders, the printable program and its DOT picture, and every error of the tracer."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tensorjac as tj


def tanh_net(W1, W2):
    return lambda x: np.tanh(W2 @ np.tanh(W1 @ x))


# ---- the transforms, as in JAX -------------------------------------------------------------------


def test_jacobian_of_plain_numpy_code_matches_finite_differences(rng, fd_close):
    W1, W2, x = rng.normal(size=(4, 3)), rng.normal(size=(2, 4)), rng.normal(size=3)
    f = tanh_net(W1, W2)
    J = tj.jacobian(f)(x)
    assert isinstance(J, tj.Jacobian) and J.shape == (2, 3)
    numeric = tj.numerical_jacobian(f, x)
    fd_close(J.dense(), numeric["x"].dense(), numeric.errors["x"], "tanh net")
    h1 = np.tanh(W1 @ x)
    hand = (1 - np.tanh(W2 @ h1) ** 2)[:, None] * W2 @ ((1 - h1**2)[:, None] * W1)
    np.testing.assert_allclose(J.dense(), hand, rtol=1e-12)


def test_tuple_argnums_gives_blocks_named_after_the_parameters(rng):
    def f(weights, bias, x):
        return np.tanh(weights @ x + bias)

    W, b, x = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=2)
    D = tj.jacobian(f, argnums=(0, 1))(W, b, x)
    assert isinstance(D, tj.Blocks) and D.names == ("weights", "bias")
    assert D["weights"].shape == (3, 3, 2) and D[1].shape == (3, 3)
    single = tj.jacobian(f, argnums=2)(W, b, x)
    np.testing.assert_allclose(single.dense(), (1 - np.tanh(W @ x + b) ** 2)[:, None] * W, rtol=1e-12)


def test_value_and_jacobian_grad_vjp_jvp_agree(rng):
    W = rng.normal(size=(3, 4))

    def f(x, y):
        return np.sin(W @ x) * y + np.exp(y)

    x, y = rng.normal(size=4), rng.normal(size=3)
    value, D = tj.value_and_jacobian(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(value, f(x, y))
    u, vx, vy = rng.normal(size=3), rng.normal(size=4), rng.normal(size=3)
    out, pullback = tj.vjp(f, x, y)
    gx, gy = pullback(u)
    np.testing.assert_allclose(gx, u @ D["x"].matrix(), rtol=1e-12)
    np.testing.assert_allclose(gy, u @ D["y"].matrix(), rtol=1e-12)
    out2, tangent = tj.jvp(f, (x, y), (vx, vy))
    np.testing.assert_allclose(tangent, D["x"].matrix() @ vx + D["y"].matrix() @ vy, rtol=1e-12)
    np.testing.assert_allclose(out, value)
    np.testing.assert_allclose(out2, value)
    g = tj.grad(lambda x, y: np.sum(f(x, y) * u), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(g[0], gx, rtol=1e-12)
    np.testing.assert_allclose(g[1], gy, rtol=1e-12)
    v, g0 = tj.value_and_grad(lambda x, y: np.sum(f(x, y) * u))(x, y)
    np.testing.assert_allclose(g0, gx, rtol=1e-12)
    np.testing.assert_allclose(v, np.sum(value * u))


def test_a_value_used_twice_sums_its_paths(rng, fd_close):
    x = rng.normal(size=5)
    f = lambda x: x * x + np.sin(x) * x  # noqa: E731
    J = tj.jacobian(f)(x)
    np.testing.assert_allclose(J.dense(), np.diag(2 * x + np.cos(x) * x + np.sin(x)), rtol=1e-12)
    assert J.nbytes <= 2 * x.nbytes  # still diagonal
    np.testing.assert_allclose(tj.grad(lambda x: np.sum(f(x)))(x), 2 * x + np.cos(x) * x + np.sin(x))


def test_note_003_vector_valued_example():
    def f(x, y):
        return np.stack([x**2 + y, 2 * x * y]) if hasattr(np, "stack") else None

    def g(u, v):
        return np.stack([u + v, u**2, np.sin(v)])

    x, y = 1.0, 2.0
    if tj.rules.find_rule(np.stack) is None or tj.rules.find_rule(np.power) is None:
        pytest.skip("needs the stack and power rules")
    h = lambda x, y: g(*f(x, y))  # noqa: E731
    D = tj.jacobian(h, argnums=(0, 1))(x, y)
    J = np.stack([D["x"].dense(), D["y"].dense()], axis=1)
    np.testing.assert_allclose(J, [[6, 3], [12, 6], [4 * np.cos(4), 2 * np.cos(4)]], rtol=1e-12)


def test_arguments_not_in_argnums_and_captured_arrays_are_constants(rng):
    X, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    J = tj.jacobian(lambda W, X: X @ W)(W, X)
    assert J.nbytes == X.nbytes  # d(X @ W)/dW stores only X
    J2 = tj.jacobian(lambda W: X @ W)(W)
    assert J2.nbytes == X.nbytes
    np.testing.assert_allclose(J.dense(), J2.dense())


def test_output_independent_of_the_input_gives_zeros():
    J = tj.jacobian(lambda x, y: y * 2.0)(np.ones(3), np.ones(2))
    assert J.shape == (2, 3) and not J.dense().any()
    assert not tj.grad(lambda x: 3.0)(np.ones(2)).any()
    I = tj.jacobian(lambda x: x)(np.arange(3.0))
    np.testing.assert_array_equal(I.dense(), np.eye(3))


def test_scalars_and_float32(rng):
    J = tj.jacobian(lambda x: np.sin(x) * 3.0)(0.5)
    assert J.shape == () and np.isclose(float(J.dense()), 3 * np.cos(0.5))
    x32 = rng.normal(size=3).astype(np.float32)
    value, J32 = tj.value_and_jacobian(lambda x: np.tanh(x) * 2.0)(x32)
    assert value.dtype == np.float32 and J32.dtype == np.float32
    assert tj.grad(lambda x: np.sum(np.exp(x)))(x32).dtype == np.float32


def test_grad_leaves_the_callers_arrays_writeable_but_a_returned_jacobian_freezes_what_it_keeps(rng):
    X, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    tj.grad(lambda W: np.sum(np.tanh(X @ W)))(W)
    assert X.flags.writeable and W.flags.writeable
    X += 0.0  # still writeable
    J = tj.jacobian(lambda W: X @ W)(W)
    before = J.dense()
    with pytest.raises(ValueError, match="read-only"):
        X[0, 0] = 7.0
    np.testing.assert_array_equal(J.dense(), before)


# ---- structure kept through the trace --------------------------------------------------------------


def test_elementwise_chain_stays_diagonal_at_n_10_000(rng):
    n = 10_000
    x = rng.normal(size=n)
    J = tj.jacobian(lambda x: np.tanh(np.sin(np.exp(x))))(x)
    assert J.nbytes <= 3 * n * 8
    d = (1 - np.tanh(np.sin(np.exp(x))) ** 2) * np.cos(np.exp(x)) * np.exp(x)
    np.testing.assert_allclose(J.jvp(np.ones(n)), d, rtol=1e-12)


def test_matmul_stores_only_the_other_operand(rng):
    X = rng.normal(size=(50, 20))
    J = tj.jacobian(lambda W: X @ W)(rng.normal(size=(20, 7)))
    assert J.shape == (50, 7, 20, 7) and J.nbytes == X.nbytes


@pytest.mark.parametrize("order", ["forward", "reverse", "optimal"])
def test_orders_agree(rng, order):
    W1, W2, x = rng.normal(size=(6, 5)), rng.normal(size=(3, 6)), rng.normal(size=5)
    f = lambda x: np.tanh(W2 @ (np.sin(W1 @ x) * x[0]))  # noqa: E731  (x is used twice)
    ref = tj.jacobian(f, order="reverse")(x).dense()
    np.testing.assert_allclose(tj.jacobian(f, order=order)(x).dense(), ref, rtol=1e-12)


def test_optimal_is_never_predicted_to_cost_more_than_forward_or_reverse(rng):
    W1, W2 = rng.normal(size=(40, 3)), rng.normal(size=(2, 40))
    programs = [
        (tanh_net(W1, W2), rng.normal(size=3)),
        (lambda x: np.tanh(W1 @ x) * np.sum(x), rng.normal(size=3)),
        (lambda x: W2 @ np.sin(W1 @ x) + W2 @ np.cos(W1 @ x), rng.normal(size=3)),
    ]
    for f, x in programs:
        program = tj.make_program(f)(x)
        forward, reverse, optimal = (program.costs[k][0] for k in ("forward", "reverse", "optimal"))
        assert optimal <= min(forward, reverse)


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, fragment",
    [
        (lambda x: x if x[0] > 0 else -x, "Python control flow"),
        (lambda x: x * float(x[0]), "float()"),
        (lambda x: np.asarray(x) * 2, "converting to a numpy array"),
        (lambda x: x * int(np.sum(x)), "int()"),
        (lambda x: np.sin(x) if np.all(x > 0) else x, "Python control flow"),
    ],
)
def test_conversions_inside_f_say_what_happened_and_what_to_do(f, fragment):
    with pytest.raises(tj.TracingError, match=re.escape(fragment)) as info:
        tj.jacobian(f)(np.ones(3))
    assert "np.where" in str(info.value)


def test_a_function_without_a_rule_names_it_and_shows_how_to_register():
    with pytest.raises(NotImplementedError, match=r"np\.arctan2") as info:
        tj.jacobian(lambda x: np.arctan2(x, 1.0 + x * x))(np.ones(2))
    assert "register_rule" in str(info.value)


def test_writing_into_a_traced_value_is_refused():
    def f(x):
        y = x * 2
        y[0] = 1.0
        return y

    with pytest.raises(tj.TracingError, match="in place"):
        tj.jacobian(f)(np.ones(3))


def test_bad_transform_arguments():
    with pytest.raises(TypeError, match="function to differentiate"):
        tj.jacobian("affine")
    with pytest.raises(TypeError, match="argnums"):
        tj.jacobian(np.sin, argnums="x")(np.ones(2))
    with pytest.raises(ValueError, match="out of range"):
        tj.jacobian(np.sin, argnums=1)(np.ones(2))
    with pytest.raises(ValueError, match="twice"):
        tj.jacobian(lambda x, y: x * y, argnums=(0, 0))(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="unknown order"):
        tj.jacobian(np.sin, order="sideways")
    with pytest.raises(TypeError, match="scalar"):
        tj.grad(np.sin)(np.ones(2))
    with pytest.raises(TypeError, match="returned a tuple"):
        tj.jacobian(lambda x: (x, x))(np.ones(2))
    with pytest.raises(ValueError, match="non-finite"):
        tj.jacobian(np.sin)(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="unsupported dtype complex"):
        tj.jacobian(np.sin)(np.ones(2, complex))
    out, pullback = tj.vjp(np.sin, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\)"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\)"):
        tj.jvp(np.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="tuples"):
        tj.jvp(np.sin, np.ones(3), np.ones(3))


def test_domain_errors_of_rules_reach_the_user():
    with pytest.raises(ValueError, match="log: x must be > 0"):
        tj.jacobian(lambda x: np.log(x - 2.0))(np.ones(2))


# ---- the printable program and its picture ----------------------------------------------------------


def test_program_golden_output():
    G = np.arange(6.0).reshape(2, 3) / 10
    F = np.array([[1.0, -1.0]])
    program = tj.make_program(lambda x: np.cos(F @ np.sin(G @ x)))(np.ones(3))
    assert str(program) == "\n".join([
        "{ lambda A:f64[2,3] B:f64[1,2]; a:f64[3]. let",
        "    b:f64[2] = matmul A a   # db/da: A[a,i]",
        "    c:f64[2] = sin b   # dc/db: diag",
        "    d:f64[1] = matmul B c   # dd/dc: B[a,i]",
        "    e:f64[1] = cos d   # de/dd: diag",
        "  in (e) }",
        "accumulation (order='optimal', chosen: chain)",
        "    1. a,ab,b,bc->ac  (1,) (1, 2) (2,) (2, 3)   flops 16   largest 3",
        "  predicted: forward 21 flops (largest 6), reverse 16 flops (largest 3), optimal 16 flops (largest 3)",
    ])


def test_program_shows_deltas_constants_and_no_identity(rng):
    X = rng.normal(size=(4, 3))
    text = str(tj.make_program(lambda W, b: np.tanh(X @ W + b), argnums=(0, 1))(rng.normal(size=(3, 2)), np.zeros(2)))
    assert "A[a,i] δ[b,j]" in text  # d(X @ W)/dW: X and a delta
    assert "identity" in text and "diag" in text
    assert "iota" not in text and "eye" not in text


def test_dot_has_one_node_per_equation_and_input(rng):
    W = rng.normal(size=(3, 3))
    program = tj.make_program(lambda x: np.sum(np.tanh(W @ x) * x))(rng.normal(size=3))
    dot = program.to_dot()
    assert dot.startswith("digraph program {") and dot.rstrip().endswith("}")
    nodes = re.findall(r"^\s+(\w+) \[label=", dot, flags=re.M)
    assert len(nodes) == len(program.call.trace.equations) + len(program.call.inputs)
    edges = re.findall(r"^\s+(\w+) -> (\w+);", dot, flags=re.M)
    assert ("a", "b") in edges and ("a", "d") in edges  # x feeds W @ x and the product with tanh(W x)
    grads = program.to_dot(cotangent=np.array(1.0))
    assert grads.count("g=") == len(nodes)
    expected = tj.grad(lambda x: np.sum(np.tanh(W @ x) * x))(program.call.inputs[0].value)
    assert np.array2string(expected, precision=4, threshold=6).replace(" ", "") in grads.replace(" ", "").replace("\\", "")


def test_draw_without_graphviz_says_how_to_get_it(rng, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    program = tj.make_program(np.sin)(np.ones(2))
    with pytest.raises(ImportError, match="pip install graphviz"):
        program.draw("out")


# ---- cache=True: trace once per signature, replay with new values -------------------------------------


def test_cache_replays_with_new_values_and_retraces_per_signature(rng):
    calls = []

    def f(W, x):
        calls.append(1)  # runs only when f is traced
        return np.sum(np.tanh(W @ x) * x[0])

    g = tj.grad(f, argnums=(0, 1), cache=True)
    plain = tj.grad(f, argnums=(0, 1))
    for k in range(3):
        W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
        got, want = g(W, x), plain(W, x)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-13)
    assert len(g.cache) == 1  # one signature, one trace
    traced = len(calls)
    g(rng.normal(size=(2, 5)), rng.normal(size=5))  # a new shape: traced again
    assert len(g.cache) == 2 and len(calls) == traced + 1


def test_cache_replays_constant_arguments_with_their_new_values(rng):
    f = lambda w, X: np.sum(np.exp(X @ w))  # noqa: E731
    g = tj.grad(f, cache=True)
    w = rng.normal(size=3)
    for _ in range(3):
        X = rng.normal(size=(5, 3))
        np.testing.assert_allclose(g(w, X), X.T @ np.exp(X @ w), rtol=1e-13)


def test_cache_retraces_when_a_mask_selects_another_number_of_entries():
    f = lambda x: np.sum(x[x > 0] ** 2)  # noqa: E731
    g = tj.grad(f, cache=True)
    np.testing.assert_allclose(g(np.array([1.0, -1.0, 2.0])), [2.0, 0.0, 4.0])
    np.testing.assert_allclose(g(np.array([1.0, 3.0, 2.0])), [2.0, 6.0, 4.0])  # the mask grew: traced anew
    np.testing.assert_allclose(g(np.array([-1.0, 3.0, -2.0])), [0.0, 6.0, 0.0])


def test_cache_mode_traces_undifferentiated_arrays_so_branching_on_them_is_refused():
    def f(x, flag_array):
        return x * 2.0 if flag_array[0] > 0 else x

    assert tj.grad(lambda x, a: np.sum(f(x, a)))(np.ones(2), np.ones(1)) is not None  # plain: a is a constant
    with pytest.raises(tj.TracingError, match="control flow"):
        tj.grad(lambda x, a: np.sum(f(x, a)), cache=True)(np.ones(2), np.ones(1))


def test_cached_jacobian_equals_the_traced_one(rng):
    W1, W2 = rng.normal(size=(6, 5)), rng.normal(size=(3, 6))
    f = tanh_net(W1, W2)
    jac = tj.jacobian(f, cache=True)
    for _ in range(3):
        x = rng.normal(size=5)
        np.testing.assert_allclose(jac(x).dense(), tj.jacobian(f)(x).dense(), rtol=1e-14)


def test_cached_grad_compiles_a_gradient_program_with_direct_rules_and_fallbacks(rng):
    # cumsum and power have no direct cotangent rule: their blocks are made and contracted.
    f = lambda x, W: np.sum(tj.log_softmax(np.cumsum(W @ x ** 3) * 0.1))  # noqa: E731
    g = tj.grad(f, argnums=(0, 1), cache=True)
    g(rng.normal(size=3), rng.normal(size=(4, 3)))
    program = next(iter(g.cache.values())).gradient
    rules = {}
    for rule, *_ in program.forward:
        if rule is not None:
            rules[rule.name] = rule
    assert {"power", "matmul", "cumsum", "multiply", "log_softmax", "sum"} <= set(rules)
    assert not rules["cumsum"].vjp and rules["matmul"].vjp
    for _ in range(3):
        x, W = rng.normal(size=3), rng.normal(size=(4, 3))
        for got, want in zip(g(x, W), tj.grad(f, argnums=(0, 1))(x, W)):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_cached_gradients_are_owned_writeable_and_distinct():
    g = tj.grad(lambda x, y: np.sum(x + y), argnums=(0, 1), cache=True)
    g(np.ones(3), np.ones(3))
    a, b = g(np.zeros(3), np.zeros(3))  # replayed: both are the cotangent of x + y
    assert a is not b and a.flags.writeable and b.flags.writeable and not np.shares_memory(a, b)
    a[0] = 5.0
    np.testing.assert_array_equal(b, np.ones(3))
    s = tj.grad(lambda x: np.sum(x), cache=True)
    s(np.ones((2, 2)))
    out = s(np.ones((2, 2)))  # the cotangent of a sum is a broadcast view inside the replay
    assert out.flags.writeable and out.flags.owndata


def test_cached_grad_keeps_float32_and_checks_domains_and_finiteness_as_tracing_does():
    f = lambda x: np.sum(np.log(x) * np.tanh(x))  # noqa: E731
    g = tj.grad(f, cache=True)
    x32 = np.array([0.5, 2.0], dtype=np.float32)
    g(x32)
    got = g(x32 * 1.5)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, tj.grad(f)(x32 * 1.5), rtol=1e-6)
    with pytest.raises(ValueError, match=r"log: x must be > 0.*x\[0\] = -1.0"):
        g(np.array([-1.0, 2.0], dtype=np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        g(np.array([np.nan, 2.0], dtype=np.float32))


def test_cached_grad_of_a_non_scalar_function_refuses_at_every_call():
    g = tj.grad(lambda x: x * x * 0.5 + x, cache=True)
    for _ in range(3):  # the record is cached, but no gradient program is made for it
        with pytest.raises(TypeError, match=r"needs f to return a scalar \(shape \(\)\), but it returned shape \(1,\)"):
            g(np.array([0.5]))
