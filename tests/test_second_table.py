"""Second-order rules (issue 9): every built-in rule's second derivatives, on every example declared
beside it, against finite differences of its own first-order Jacobian.

``d²ans / dx_i dx_j`` must equal the derivative with respect to ``x_j`` of the Jacobian block with
respect to ``x_i``; a pair a rule leaves out must be zero.  Plus: every built-in rule declares
its second derivatives, and the blocks keep their structure (an elementwise rule stores one
number per entry).
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac.numerical import FiniteDifferenceError
from tensorjac.testing import rule_examples

BUILTIN = [name for name in tj.rule_names() if tj.get_rule(name).builtin]


def _split(example):
    if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict) and isinstance(example[0], (tuple, list)):
        return tuple(example[0]), dict(example[1])
    return tuple(example), {}


def _differentiable(rule, args):
    return [i for i in range(len(args)) if rule.maker(i) is not None]


CASES = [
    pytest.param(name, k, id=f"{name}-{k}")
    for name in BUILTIN
    if tj.get_rule(name).second is not None
    for k in range(len(rule_examples(tj.get_rule(name))))
]


@pytest.mark.parametrize("name, k", CASES)
def test_second_derivatives_are_the_derivatives_of_the_jacobian(name, k):
    rule = tj.get_rule(name)
    args, kwargs = _split(rule_examples(rule)[k])
    args = [np.asarray(a, dtype=np.float64) for a in args]
    ans = np.asarray(rule.fun(*args, **kwargs))
    if ans.size == 0 or any(a.size == 0 for a in args):
        return  # empty blocks: shapes are checked by the first-order table
    for i in _differentiable(rule, args):
        for j in _differentiable(rule, args):
            maker = rule.second_maker(i, j)
            expected_shape = ans.shape + args[i].shape + args[j].shape
            if maker is None:
                got = np.zeros(expected_shape)
            else:
                H = maker(ans, *[a.copy() for a in args], **kwargs)
                assert isinstance(H, tj.Hessian) and H.shape == expected_shape, (name, i, j, getattr(H, "shape", H))
                H.check_invariants()
                got = H.dense()

            def block(xj, i=i, j=j):
                a = [x.copy() for x in args]
                a[j] = np.array(xj, dtype=np.float64)
                return rule.jacobian(*a, argnums=[i], **kwargs)[0].dense()

            try:
                numeric = tj.numerical_jacobian(block, args[j].copy(), names=("x",))
            except FiniteDifferenceError:
                # the Jacobian jumps at this point (a kink of the rule: a tie of max, relu at 0):
                # no second derivative exists there; the rule's other examples are away from kinks
                continue
            gap = np.abs(got - numeric["x"].dense())
            bound = 10 * numeric.errors["x"] + 1e-9 * (1 + np.abs(got))
            assert np.all(gap <= bound), f"{name} example {k} block ({i}, {j}): max gap {gap.max():.3g}"


def test_every_builtin_rule_declares_second_derivatives():
    missing = [name for name in BUILTIN if tj.get_rule(name).second is None]
    assert missing == [], f"built-in rules without second derivatives: {missing}"


def test_elementwise_second_derivatives_store_one_number_per_entry(rng):
    x = rng.uniform(0.3, 2.0, size=1000)
    for name in ("exp", "log", "sin", "tanh", "sqrt", "arctan", "logit", "softplus"):
        rule = tj.get_rule(name)
        ans = np.asarray(rule.fun(x))
        H = rule.second_maker(0, 0)(ans, x)
        assert H.shape == (1000, 1000, 1000) and H.nbytes <= 1000 * 8, (name, H.nbytes)
