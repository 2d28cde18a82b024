"""The one parametrised table: every built-in rule on every example declared beside it.

For each example, in float64: the rule's own Jacobian blocks and the Jacobian of the traced
numpy call (``tj.jacobian`` of the very numpy function a user writes) are compared with
finite differences (tolerance from the finite-difference error estimate, conftest.py), and
with each other.  In float32 the traced Jacobian keeps float32.  A second test asserts that
every built-in rule has examples and that, between them, the examples cover 0-d arrays,
size-1 axes, broadcasting and size-0 axes for every rule that accepts them.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac.testing import rule_examples

BUILTIN = [name for name in tj.rule_names() if tj.get_rule(name).builtin]


def _split(example):
    if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict) and isinstance(example[0], (tuple, list)):
        return tuple(example[0]), dict(example[1])
    return tuple(example), {}


CASES = [
    pytest.param(name, k, id=f"{name}-{k}")
    for name in BUILTIN
    for k in range(len(rule_examples(tj.get_rule(name))))
]


def _traced_function(rule):
    """What a user calls, in the examples' calling convention: the rule's function (a numpy function,
    or a wrapper that calls one), or for tensorjac's own functions the public traceable one."""
    return next((f for f in rule.functions if getattr(f, "impl", None) is rule.fun), rule.fun)


def _differentiable(rule, args):
    return tuple(i for i in range(len(args)) if rule.maker(i) is not None)


@pytest.mark.parametrize("name, k", CASES)
def test_rule_and_traced_call_match_finite_differences(name, k, fd_close, blocks_match_numeric):
    rule = tj.get_rule(name)
    args, kwargs = _split(rule_examples(rule)[k])
    args = tuple(np.asarray(a, dtype=np.float64) for a in args)
    positions = _differentiable(rule, args)
    names = rule.arg_names(len(args))
    blocks = rule.jacobian(*args, argnums=positions, **kwargs)
    fun = _traced_function(rule)
    traced = tj.jacobian(lambda *a: fun(*a, **kwargs), argnums=positions)(*args)
    value = rule.fun(*args, **kwargs)
    if np.size(value) == 0 or any(a.size == 0 for a in args):
        # An empty Jacobian: the right shape (out_shape + in_shape, as JAX gives) and nothing else.
        for pos, J in zip(positions, traced.values()):
            expected = np.shape(value) + args[pos].shape
            assert J.shape == blocks[names[pos]].shape == expected
            assert J.dense().shape == blocks[names[pos]].dense().shape == expected
        return
    numeric = tj.numerical_jacobian(lambda *a: rule.fun(*a, **kwargs), *args, argnums=positions, names=names)
    blocks_match_numeric(blocks, numeric, f"{name} example {k} (rule)")
    for pos, J in zip(positions, traced.values()):
        assert J.shape == blocks[names[pos]].shape
        fd_close(J.dense(), numeric[names[pos]].dense(), numeric.errors[names[pos]], f"{name} example {k} (traced)")
        J.check_invariants()


@pytest.mark.parametrize("name, k", CASES)
def test_traced_jacobian_keeps_float32(name, k):
    rule = tj.get_rule(name)
    args, kwargs = _split(rule_examples(rule)[k])
    args = tuple(np.asarray(a, dtype=np.float32) for a in args)
    positions = _differentiable(rule, args)
    fun = _traced_function(rule)
    value, blocks = tj.value_and_jacobian(lambda *a: fun(*a, **kwargs), argnums=positions)(*args)
    expected = np.dtype(kwargs.get("dtype", np.float32))  # astype(dtype) converts on purpose
    assert value.dtype == expected, (name, value.dtype)
    for J in blocks.values():
        assert J.dtype == expected, (name, J.dtype)
        assert np.all(np.isfinite(J.dense()))


def test_every_builtin_rule_has_examples_covering_the_edge_cases():
    missing, no_empty = [], []
    scalars = size1 = broadcast = 0
    for name in BUILTIN:
        examples = [_split(e) for e in rule_examples(tj.get_rule(name))]
        if not examples:
            missing.append(name)
            continue
        shapes = [[np.shape(a) for a in args] for args, _ in examples]
        if not any(0 in s for ex in shapes for s in ex):
            no_empty.append(name)
        scalars += any(s == () for ex in shapes for s in ex)
        size1 += any(1 in s for ex in shapes for s in ex)
        broadcast += any(len(set(ex)) > 1 for ex in shapes if len(ex) > 1)
    assert missing == [], f"built-in rules without examples: {missing}"
    assert no_empty == [], f"built-in rules without an example with a size-0 axis: {no_empty}"
    assert scalars >= 5 and size1 >= 5 and broadcast >= 5, (scalars, size1, broadcast)


VJP_CASES = [
    pytest.param(name, k, id=f"{name}-{k}")
    for name in BUILTIN
    if tj.get_rule(name).vjp
    for k in range(len(rule_examples(tj.get_rule(name))))
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, k", VJP_CASES)
def test_direct_vjp_equals_the_cotangent_pulled_through_the_jacobian(name, k, dtype):
    """A rule's ``vjp`` shortcut (used by the cached gradient replay) is ``g @ J`` of its own
    Jacobian block, for a random cotangent, with the argument's shape and the dtype kept."""
    rule = tj.get_rule(name)
    args, kwargs = _split(rule_examples(rule)[k])
    args = tuple(np.asarray(a, dtype=dtype) for a in args)
    ans = np.asarray(rule.fun(*args, **kwargs))
    g = np.random.default_rng(k).normal(size=ans.shape).astype(ans.dtype)
    for pos, vjp in rule.vjp.items():
        J = rule.maker(pos)(ans, *args, **kwargs)
        want = J.vjp(g)
        got = np.asarray(vjp(g, ans, *args, **kwargs))
        assert got.shape == args[pos].shape, (name, pos, got.shape)
        assert got.dtype == want.dtype, (name, pos, got.dtype, want.dtype)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(want), initial=0))),
                                   err_msg=f"{name} vjp of argument {pos}")


def test_the_common_rules_have_direct_vjps():
    for name in ["add", "subtract", "multiply", "divide", "exp", "tanh", "matmul", "sum", "mean", "logit",
                 "log_softmax", "softmax", "logsumexp", "affine", "relu"]:
        assert tj.get_rule(name).vjp, name
