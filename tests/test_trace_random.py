"""Random programs (hypothesis): 3-8 operations over 1-3 inputs, written once and run with numpy
(traced by tensorjac) and, when installed, with jax.numpy.

For each program: ``tj.jacobian`` against ``numerical_jacobian``; the three accumulation orders
agree; ``grad`` (also cached), ``vjp`` and ``jvp`` agree with the Jacobian; with JAX, ``tj.jacobian`` equals
``jax.jacfwd`` on the same program.
"""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tensorjac as tj  # noqa: E402

SHAPE = (2, 3)
# Operations on values of shape SHAPE (or a scalar for the reductions), keeping inputs in domain.
UNARY = ["sin", "cos", "tanh", "logit", "softplus", "square", "exp_small", "transpose_back", "slice_pad", "sum_b"]
BINARY = ["add", "sub", "mul", "max", "matmul_const", "where"]


def _ops(xp, logit, softplus):
    C = np.linspace(-1.0, 1.0, SHAPE[1] * SHAPE[1]).reshape(SHAPE[1], SHAPE[1])
    return {
        "sin": lambda a: xp.sin(a),
        "cos": lambda a: xp.cos(a),
        "tanh": lambda a: xp.tanh(a),
        "logit": logit,
        "softplus": softplus,
        "square": lambda a: a * a,
        "exp_small": lambda a: xp.exp(0.3 * xp.tanh(a)),
        "transpose_back": lambda a: xp.transpose(xp.transpose(a) * 1.5),
        "slice_pad": lambda a: xp.concatenate([a[:, :1] * 2.0, a[:, 1:]], axis=1),
        "sum_b": lambda a: a + xp.sum(a, axis=1, keepdims=True) * 0.5,
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - 0.5 * b,
        "mul": lambda a, b: a * b,
        "max": lambda a, b: xp.maximum(a, b + 0.3),
        "matmul_const": lambda a, b: a @ C + b,
        "where": lambda a, b: xp.where(a > 0.1, a, b),
    }


@st.composite
def programs(draw):
    n_inputs = draw(st.integers(1, 3))
    n_ops = draw(st.integers(3, 8))
    steps = []
    for k in range(n_ops):
        available = n_inputs + k
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(UNARY)), draw(st.integers(0, available - 1))))
        else:
            steps.append((draw(st.sampled_from(BINARY)), draw(st.integers(0, available - 1)),
                          draw(st.integers(0, available - 1))))
    seed = draw(st.integers(0, 2**16))
    return n_inputs, steps, seed


def run(program, xp, ops, *inputs):
    _, steps, _ = program
    values = list(inputs)
    for name, *refs in steps:
        values.append(ops[name](*(values[r] for r in refs)))
    return values[-1]


def _inputs(program):
    n_inputs, _, seed = program
    rng = np.random.default_rng(seed)
    # Away from the kinks of maximum and where (the symmetric derivative there is a convention).
    return [rng.uniform(0.2, 1.2, SHAPE) * rng.choice([-1.0, 1.0], SHAPE) for _ in range(n_inputs)]


NP_OPS = _ops(np, tj.logit, tj.softplus)


def _kink_free(program, inputs):
    """True when no maximum/where in the program is within 1e-3 of its switch (finite differences
    measure the symmetric derivative there, a convention, not the derivative)."""
    _, steps, _ = program
    values = list(inputs)
    for name, *refs in steps:
        args = [values[r] for r in refs]
        if name == "max" and np.min(np.abs(args[0] - args[1] - 0.3)) < 1e-3:
            return False
        if name == "where" and np.min(np.abs(args[0] - 0.1)) < 1e-3:
            return False
        values.append(NP_OPS[name](*args))
    return True


SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs())
def test_random_programs_against_finite_differences_and_each_other(program):
    inputs = _inputs(program)
    if not _kink_free(program, inputs):
        return
    f = lambda *xs: run(program, np, NP_OPS, *xs)  # noqa: E731
    argnums = tuple(range(len(inputs)))
    blocks = {order: tj.jacobian(f, argnums=argnums, order=order)(*inputs) for order in ("optimal", "forward", "reverse")}
    numeric = tj.numerical_jacobian(f, *inputs)
    for k, name in enumerate(numeric.names):
        dense = blocks["optimal"][k].dense()
        gap = np.abs(dense - numeric[name].dense())
        assert np.all(gap <= 10 * numeric.errors[name] + 1e-10), (program, name, gap.max())
        for order in ("forward", "reverse"):
            np.testing.assert_allclose(blocks[order][k].dense(), dense, rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(program[2])
    out = f(*inputs)
    u = rng.normal(size=out.shape)
    tangents = [rng.normal(size=x.shape) for x in inputs]
    _, pullback = tj.vjp(f, *inputs)
    for k, g in enumerate(pullback(u)):
        np.testing.assert_allclose(g, np.tensordot(u, blocks["optimal"][k].dense(), out.ndim), rtol=1e-10, atol=1e-12)
    _, t_out = tj.jvp(f, tuple(inputs), tuple(tangents))
    expected = sum(np.tensordot(blocks["optimal"][k].dense(), t, t.ndim) for k, t in enumerate(tangents))
    np.testing.assert_allclose(t_out, expected, rtol=1e-10, atol=1e-12)
    loss = lambda *xs: np.sum(f(*xs) * u)  # noqa: E731
    grads = tj.grad(loss, argnums=argnums)(*inputs)
    for g, g2 in zip(grads, pullback(u)):
        np.testing.assert_allclose(g, g2, rtol=1e-10, atol=1e-12)
    # The cached gradient (a compiled replay, direct cotangent rules) at new points, against tracing anew.
    cached = tj.grad(loss, argnums=argnums, cache=True)
    cached(*inputs)
    for scale in (1.0, 0.9):
        moved = [x * scale for x in inputs]
        if not _kink_free(program, moved):
            continue
        for g, g2 in zip(cached(*moved), tj.grad(loss, argnums=argnums)(*moved)):
            np.testing.assert_allclose(g, g2, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(programs())
def test_random_programs_against_jax(program):
    jax = pytest.importorskip("jax", reason="JAX is an optional test dependency")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    jax_ops = _ops(jnp, jax.nn.sigmoid, jax.nn.softplus)
    inputs = _inputs(program)
    if not _kink_free(program, inputs):
        return
    argnums = tuple(range(len(inputs)))
    ours = tj.jacobian(lambda *xs: run(program, np, NP_OPS, *xs), argnums=argnums)(*inputs)
    theirs = jax.jacfwd(lambda *xs: run(program, jnp, jax_ops, *xs), argnums=argnums)(*[jnp.asarray(x) for x in inputs])
    for k in argnums:
        np.testing.assert_allclose(ours[k].dense(), np.asarray(theirs[k]), rtol=1e-10, atol=1e-12)
