"""Regression tests of issue 11 (hardening): every case of the issue and every unclear error the fuzz
test (tests/test_fuzz.py) found, each with the right result or a clear error.

A clear error (``_fuzz_support.check_clear``) is of a documented type, raised by tensorjac (never
from inside numpy or opt_einsum), and its message names the argument, shape, axis or value at
fault; :func:`clear` checks that and the words the message must contain.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import tensorjac as tj
import tensorjac.testing as tjt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fuzz_support import check_clear  # noqa: E402

G = tj.get_rule


def clear(exc_type, call, *fragments):
    """Run ``call``; it must raise a clear ``exc_type`` whose message contains every fragment."""
    with pytest.raises(exc_type) as info:
        call()
    check_clear("test", info.value)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"
    return info.value


def shapes_of(blocks):
    return {name: J.shape for name, J in blocks.items()}


# ---- Size-0 axes (JAX returns the empty Jacobians) -------------------------------------------------


def test_size0_rule_jacobians():
    assert shapes_of(G("sum").jacobian(np.ones((0, 3)))) == {"x": (0, 3)}
    assert shapes_of(G("sum").jacobian(np.ones((0, 3)), axis=0)) == {"x": (3, 0, 3)}
    np.testing.assert_array_equal(G("sum").jacobian(np.ones((0, 3)), axis=0)["x"].dense(), np.zeros((3, 0, 3)))
    assert shapes_of(G("sum").jacobian(np.ones((2, 0)), axis=1, keepdims=True)) == {"x": (2, 1, 2, 0)}
    assert shapes_of(G("matmul").jacobian(np.ones((2, 0)), np.ones((0, 3)))) == {"x1": (2, 3, 2, 0), "x2": (2, 3, 0, 3)}
    assert shapes_of(G("matmul").jacobian(np.ones(0), np.ones(0))) == {"x1": (0,), "x2": (0,)}
    assert shapes_of(G("multiply").jacobian(np.ones((1, 1)), np.ones((0, 1)))) == {"x1": (0, 1, 1, 1),
                                                                                  "x2": (0, 1, 0, 1)}
    assert shapes_of(G("add").jacobian(np.ones(1), np.ones(0))) == {"x1": (0, 1), "x2": (0, 0)}
    J = G("softmax").jacobian(np.ones((2, 0)))["x"]
    assert J.shape == (2, 0, 2, 0) and J.dense().shape == (2, 0, 2, 0)


def test_size0_chains():
    A, B = tj.Jacobian(np.ones((2, 0)), 1), tj.Jacobian(np.ones((0, 3)), 1)
    np.testing.assert_array_equal(tj.contract(A, B).dense(), np.zeros((2, 3)))
    np.testing.assert_array_equal(tj.contract(np.ones((2, 0)), np.ones((0, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(tj.chain(A, B, tj.Jacobian.diagonal(np.ones(3))).dense(), np.zeros((2, 3)))
    np.testing.assert_array_equal(tj.chain(tj.Jacobian.diagonal(np.ones(0)), tj.Jacobian(np.ones((0, 3)), 1)).dense(),
                                  np.zeros((0, 3)))
    np.testing.assert_array_equal(tj.chain_vjp([A, B], np.ones(2)), np.zeros(3))
    np.testing.assert_array_equal(tj.chain_jvp([A, B], np.ones(3)), np.zeros(2))
    costs = tj.chain_cost(tj.Jacobian.diagonal(np.ones(0)), tj.Jacobian(np.ones((0, 3)), 1))
    assert all(c.flops == 0 for c in costs.values())
    D = tj.compose(G("multiply").jacobian(np.ones(0), np.ones(0), names=("F", "G")), {"F": G("exp").jacobian(np.ones(0))})
    assert shapes_of(D) == {"x": (0, 0), "G": (0, 0)}


def test_size0_through_tracing():
    x = np.ones((0, 3))
    assert tj.jacobian(lambda x: np.sum(np.tanh(x), axis=0))(x).dense().shape == (3, 0, 3)
    assert tj.jacobian(lambda x: np.tanh(x) @ np.ones((0, 2)))(np.ones(0)).dense().shape == (2, 0)
    assert tj.grad(lambda x: np.sum(x ** 2))(x).shape == (0, 3)
    out, pullback = tj.vjp(np.exp, x)
    assert pullback(np.ones((0, 3)))[0].shape == (0, 3)
    assert tj.jvp(np.exp, (x,), (x,))[1].shape == (0, 3)
    assert tj.hessian(lambda x: np.sum(x ** 3))(x).dense().shape == (0, 3, 0, 3)


def test_size0_implicit_jacobian():
    """Found by the fuzz test: an empty system raised numpy's 'cannot reshape array of size 0'."""
    x = np.ones(0)
    assert tj.implicit_jacobian(lambda x, y: y - np.tanh(x), x, np.tanh(x)).shape == (0, 0)
    assert tj.implicit_jacobian(lambda x, y: y - np.tanh(x), x, np.tanh(x), least_squares=True).shape == (0, 0)
    node = tj.implicit(np.tanh, lambda x, y: y - np.tanh(x))
    assert tj.hessian(lambda v: np.sum(node(v)))(x).dense().shape == (0, 0)


def test_0d_implicit_least_squares():
    """Found by the fuzz test: a 0-d solve broke the Jacobian's invariant (np.ascontiguousarray made it 1-d)."""
    x = np.array(0.5)
    J = tj.implicit_jacobian(lambda x, y: y - np.tanh(x), x, np.tanh(x), least_squares=True)
    assert J.shape == () and J.dense() == pytest.approx(1 - np.tanh(0.5) ** 2)
    node = tj.implicit(np.cbrt, lambda c, y: y ** 3 - c)
    assert tj.hessian(lambda c: node(c) * 1.0)(np.array(8.0)).dense() == pytest.approx(-2 / 9 * 8 ** (-5 / 3))


# ---- Messages that were numpy's, not tensorjac's ---------------------------------------------------


@pytest.mark.parametrize("axis, error", [(None, TypeError), ((0, 1), TypeError), (5, ValueError), (1.0, TypeError)])
def test_softmax_bad_axis(axis, error):
    clear(error, lambda: G("softmax").jacobian(np.ones((2, 3)), axis=axis), "softmax", "axis")
    clear(error, lambda: tj.softmax(np.ones((2, 3)), axis=axis), "softmax", "axis")
    clear(error, lambda: tj.jacobian(lambda x: tj.softmax(x, axis=axis))(np.ones((2, 3))), "softmax", "axis")


def test_sum_bad_axis():
    clear(ValueError, lambda: G("sum").jacobian(np.ones((2, 3)), axis=(0, 0)), "sum", "axis=(0, 0)", "(2, 3)")
    clear(TypeError, lambda: G("sum").jacobian(np.ones((2, 3)), axis=1.0), "sum", "axis=1.0")
    clear(ValueError, lambda: tj.jacobian(lambda x: np.sum(x, axis=(0, 0)))(np.ones((2, 3))), "sum", "axis=(0, 0)")


def test_logsumexp_bad_axis_and_keepdims():
    """Found by the fuzz test: tj.logsumexp's own axis errors came from inside numpy."""
    clear(ValueError, lambda: tj.logsumexp(np.ones((2, 3)), axis=(0, 0)), "logsumexp", "repeated")
    clear(ValueError, lambda: tj.logsumexp(np.ones((2, 3)), axis=5), "logsumexp", "axis 5")
    clear(TypeError, lambda: tj.logsumexp(np.ones((2, 3)), keepdims="yes"), "logsumexp", "keepdims")


def test_rule_shape_mismatch_names_both_shapes():
    clear(ValueError, lambda: G("add").jacobian(np.ones(2), np.ones(3)), "add", "(2,)", "(3,)")
    clear(ValueError, lambda: G("matmul").jacobian(np.ones((2, 3)), np.ones((2, 3))), "matmul", "x1 of shape (2, 3)",
          "x2 of shape (2, 3)")
    clear(ValueError, lambda: tj.jacobian(lambda x, y: x + y, (0, 1))(np.ones(2), np.ones(3)), "add", "(2,)", "(3,)")
    clear(ValueError, lambda: tj.jacobian(lambda x: x @ np.ones((2, 3)))(np.ones((2, 3))), "matmul", "(2, 3)")


def test_traced_constant_call_names_the_function():
    """Found by the fuzz test: a comparison of mismatched traced values gave numpy's bare message."""
    clear(ValueError, lambda: tj.grad(lambda a, b: np.sum(np.where(a > b, a, b)), (0, 1))(np.ones(0), np.ones(2)),
          "np.greater", "(0,)", "(2,)")


def test_traced_index_out_of_range_is_an_index_and_a_value_error():
    """Found by the fuzz test: x[5] on a traced value raised numpy's IndexError (not a documented type)."""
    exc = clear(IndexError, lambda: tj.jacobian(lambda x: x[5])(np.ones(3)), "getitem", "index 5", "(3,)")
    assert isinstance(exc, ValueError)


def test_traced_operand_of_a_wrong_type():
    """Found by the fuzz test: x * 'abc' gave numpy's UFuncTypeError."""
    clear(TypeError, lambda: tj.value_and_jacobian(lambda x, y: x * y)(np.ones(2), "abc"), "multiply", "'abc'")


def test_compose_refuses_what_is_not_blocks():
    B = G("exp").jacobian(np.ones(2))
    J = tj.Jacobian(np.ones((2, 2)), 1)
    clear(TypeError, lambda: tj.compose(J, {}), "compose", "outer", "Jacobian")
    clear(TypeError, lambda: tj.compose({"x": J}, {}), "compose", "outer", "dict")
    clear(TypeError, lambda: tj.compose(np.ones((2, 2)), {}), "compose", "outer", "ndarray")
    clear(TypeError, lambda: tj.compose(B, {"x": J}), "compose", "inner['x']", "Jacobian")
    clear(TypeError, lambda: tj.compose(B, {"x": np.ones((2, 2))}), "compose", "inner['x']", "ndarray")
    clear(TypeError, lambda: tj.compose(B, None), "compose", "inner", "NoneType")


def test_contract_of_blocks():
    B = G("exp").jacobian(np.ones(2))
    clear(TypeError, lambda: tj.contract(B, B), "contract", "DF", "Blocks")
    clear(TypeError, lambda: tj.contract(tj.Jacobian.identity(2), B), "DG", "Blocks")


def test_blocks_construction_and_rename():
    """Found by the fuzz test: Blocks(None) and rename(None) gave "'NoneType' object is not iterable"."""
    clear(TypeError, lambda: tj.Blocks(None), "Blocks", "mapping", "NoneType")
    clear(TypeError, lambda: tj.Blocks({3: tj.Jacobian.identity(2)}), "names must be strings", "3")
    B = tj.Blocks({"x": tj.Jacobian.identity(2)})
    clear(TypeError, lambda: B.rename(None), "rename", "NoneType")


def test_identity_and_zeros_shapes():
    assert tj.Jacobian.identity(3).shape == tj.Jacobian.identity((3,)).shape == (3, 3)
    np.testing.assert_array_equal(tj.Jacobian.identity(3).dense(), np.eye(3))
    assert tj.Jacobian.zeros(2, 3).shape == (2, 3)
    assert tj.Jacobian.zeros(np.int64(2), [3, 1]).shape == (2, 3, 1)
    clear(ValueError, lambda: tj.Jacobian.identity((-2,)), "shape", "-2")
    clear(ValueError, lambda: tj.Jacobian.zeros((-1,), (2,)), "out_shape", "-1")
    clear(TypeError, lambda: tj.Jacobian.zeros((2,), (1.5,)), "in_shape", "1.5")
    clear(TypeError, lambda: tj.Jacobian.identity(2.0), "shape", "float")
    clear(TypeError, lambda: tj.Jacobian.identity(tj.Jacobian.identity(2)), "shape", "Jacobian")
    assert tj.Hessian.zeros(2, 3).shape == (2, 3, 3)
    clear(TypeError, lambda: tj.Hessian.zeros((), (1.5,)), "in_shape", "1.5")
    clear(ValueError, lambda: tj.Hessian.zeros((-1,), (2,)), "out_shape", "-1")


@pytest.mark.parametrize("dtype", [complex, object, np.float16, np.int64, "x"])
def test_identity_and_zeros_refuse_other_dtypes(dtype):
    clear(TypeError, lambda: tj.Jacobian.identity((2,), dtype=dtype), "dtype must be float32 or float64")
    clear(TypeError, lambda: tj.Jacobian.zeros((2,), (2,), dtype=dtype), "dtype must be float32 or float64")
    clear(TypeError, lambda: tj.Hessian.zeros((), (2,), dtype=dtype), "dtype must be float32 or float64")
    assert tj.Jacobian.identity((2,), dtype=np.float32).dtype == np.float32


def test_from_einsum_sizes_are_checked():
    """Found by the fuzz test: sizes='b' gave "'str' object has no attribute 'items'"."""
    X = np.ones((2, 3))
    clear(TypeError, lambda: tj.Jacobian.from_einsum("ai->ab|ib", X, sizes="b"), "sizes", "dict")
    clear(ValueError, lambda: tj.Jacobian.from_einsum("ai->ab|ib", X, sizes={"b": -1}), "sizes['b']", "-1")
    clear(TypeError, lambda: tj.Jacobian.from_einsum("ai->ab|ib", X, sizes={"b": 2.5}), "sizes['b']", "2.5")
    assert tj.Jacobian.from_einsum("ai->ab|ib", X, sizes={"b": 0}).shape == (2, 0, 3, 0)


def test_dense_budget_argument_is_checked():
    """Found by the fuzz test: dense(budget='a') compared a str with an int inside tensorjac."""
    J = tj.Jacobian.identity(2)
    clear(ValueError, lambda: J.dense(budget="a"), "budget", "'a'")
    clear(ValueError, lambda: J.dense(budget=-5), "budget", "-5")
    clear(ValueError, lambda: tj.hessian(lambda x: np.sum(x ** 3))(np.ones(2)).dense(budget=2.5), "budget", "2.5")
    clear(ValueError, lambda: tj.set_dense_budget("1"), "dense budget", "'1'")


def test_ragged_lists_name_the_argument():
    clear(ValueError, lambda: G("exp").jacobian([[1.0], [1.0, 2.0]]), "exp: argument 'x'", "cannot be read as an array")
    clear(ValueError, lambda: tj.jacobian(np.tanh)([[1.0], [1.0, 2.0]]), "argument 'x'", "cannot be read as an array")
    clear(ValueError, lambda: tj.jacobian(np.tanh, cache=True)([[1.0], [1.0, 2.0]]), "argument 0", "cannot be read")
    clear(ValueError, lambda: [[1.0], [1.0, 2.0]] @ tj.Jacobian.identity(2), "DF", "cannot be read as an array")


def test_get_rule_of_a_non_name():
    """Found by the fuzz test: get_rule(Jacobian) printed the Jacobian's einsum structure."""
    clear(TypeError, lambda: tj.get_rule(tj.Jacobian.identity(2)), "get_rule", "Jacobian")
    clear(ValueError, lambda: tj.get_rule(np.arctan2), "unknown rule", "arctan2")
    clear(ValueError, lambda: tj.get_rule("nope"), "unknown rule 'nope'")


@pytest.mark.parametrize("name, args", [
    ("logit", (None,)), ("relu", ("abc",)), ("softplus", ({"a": 1},)), ("softmax", ([[1.0], [1.0, 2.0]],)),
    ("affine", (np.ones(3), np.ones((2, 3)), np.ones(3))), ("affine", (None, np.ones((2, 3)), np.ones(3))),
    ("cross_entropy", (None, np.ones(2))), ("cross_entropy", (np.ones(2), np.ones(3))),
])
def test_own_functions_check_plain_arrays(name, args):
    """Found by the fuzz test: tj.logit(None) gave "bad operand type for abs(): 'NoneType'"."""
    exc = clear((TypeError, ValueError), lambda: getattr(tj, name)(*args), name)
    assert "got" in str(exc) or "cannot be read as an array" in str(exc)


def test_cross_entropy_with_a_tiny_q():
    P, Q = np.array([0.0, 1.0]), np.array([1e-310, 1.0])
    D = G("cross_entropy").jacobian(P, Q)
    np.testing.assert_array_equal(D["Q"].dense(), [0.0, -1.0])  # -P / Q
    np.testing.assert_allclose(D["P"].dense(), [-np.log(1e-310), 0.0])
    # the second derivative P / Q^2 is 0 where P = 0 (it was 0 / 0 = nan: Q * Q underflows)
    np.testing.assert_array_equal(tj.hessian(lambda q: tj.cross_entropy(P, q))(Q).dense(), [[0.0, 0.0], [0.0, 1.0]])
    # where -P / Q overflows: a clear error pointing to the stable form
    clear(ValueError, lambda: G("cross_entropy").jacobian(P[::-1], Q), "-P/Q", "index (0,)", "log_softmax")
    clear(ValueError, lambda: tj.hessian(lambda p, q: tj.cross_entropy(p, q), (0, 1))(P, Q), "-1/Q", "log_softmax")


def test_softmax_then_cross_entropy_points_to_log_softmax_and_the_stable_path_matches_jax():
    Z, Y = np.array([0.0, -800.0, 0.0]), np.array([0.0, 1.0, 0.0])
    clear(ValueError, lambda: tj.grad(lambda z: tj.cross_entropy(Y, tj.softmax(z)))(Z), "Q must be > 0", "Q[1]",
          "tj.log_softmax(Z)")
    loss, g = tj.value_and_grad(lambda z: -np.sum(Y * tj.log_softmax(z)))(Z)
    assert loss == 800.6931471805599  # jax.value_and_grad gives 800.6931471805599, [0.5, -1.0, 0.5]
    np.testing.assert_array_equal(g, [0.5, -1.0, 0.5])
    np.testing.assert_array_equal(tj.grad(lambda z: -np.sum(Y * tj.log_softmax(z)))(Z), [0.5, -1.0, 0.5])


@pytest.mark.filterwarnings("ignore:overflow encountered")  # numpy's own value of the norm of 1e200 entries
def test_norm_of_tiny_and_huge_vectors():
    """Found while fuzzing: numpy's norm underflows to 0 below 1e-160 and overflows above 1e154;
    x / |x| was then called 'all zeros' (tiny) or silently 0 (huge)."""
    np.testing.assert_array_equal(tj.jacobian(np.linalg.norm)(np.array([1e-310, 0.0])).dense(), [1.0, 0.0])
    np.testing.assert_allclose(tj.jacobian(np.linalg.norm)(np.array([1e200, 1e200])).dense(), [0.5 ** 0.5] * 2)
    np.testing.assert_allclose(tj.jacobian(np.linalg.norm)(np.array([1e-200, 1e-200])).dense(), [0.5 ** 0.5] * 2)
    H = tj.hessian(lambda x: np.linalg.norm(x))(np.array([1e200, 1e200])).dense()
    np.testing.assert_allclose(H, np.array([[1, -1], [-1, 1]]) / (2 * 2 ** 0.5 * 1e200))
    clear(ValueError, lambda: tj.hessian(lambda x: np.linalg.norm(x))(np.array([1e-310, 0.0])), "overflows", "1e-310")
    clear(ValueError, lambda: tj.jacobian(np.linalg.norm)(np.zeros(2)), "all zeros")


def test_register_rule_errors_and_replace():
    def double(x):
        return 2 * x

    rule = tj.register_rule("errors_double", double, lambda ans, x: tj.Jacobian.identity((3,)))
    try:
        clear(ValueError, lambda: rule.jacobian(np.ones(2)), "errors_double", "(3, 3)", "(2, 2)")
        clear(ValueError, lambda: tj.register_rule("errors_double", double, lambda ans, x: None), "already registered",
              "replace=True")
        clear(ValueError, lambda: tj.register_rule("errors_nc", double, 5), "maker 0 must be callable")
        clear(TypeError, lambda: tj.register_rule("errors_double", double, lambda a, x: None, replace="yes"), "replace")
        clear(ValueError, lambda: tj.register_rule("exp", double, lambda a, x: None, replace=True), "built-in")

        def double2(x):  # the cell re-run: a new function object
            return 2 * x

        new = tj.register_rule("errors_double", double2, lambda ans, x: tj.Jacobian.diagonal(np.full(x.shape, 2.0)),
                               replace=True)
        assert tj.get_rule("errors_double") is new and tj.get_rule(double2) is new
        clear(ValueError, lambda: tj.get_rule(double), "unknown rule")  # the old rule is gone, by function too
        np.testing.assert_array_equal(new.jacobian(np.ones(2))["x"].dense(), 2 * np.eye(2))
        np.testing.assert_array_equal(tj.jacobian(lambda x: double2(x))(np.ones(2)).dense(), 2 * np.eye(2))
    finally:
        from tensorjac.rules import _registry
        for name in ("errors_double", "errors_nc"):
            old = _registry._BY_NAME.pop(name, None)
            for fun in [f for f, r in _registry._BY_FUNCTION.items() if r is old]:
                del _registry._BY_FUNCTION[fun]


# ---- Silent or wrong results ---------------------------------------------------------------------


def test_contract_and_chain_refuse_arrays_that_do_not_link():
    clear(ValueError, lambda: tj.contract(np.ones((2, 3)), np.ones((4, 5))), "(2, 3)", "(4, 5)", "axes=0")
    clear(ValueError, lambda: tj.chain(np.ones((2, 3)), np.ones((4, 5))), "(2, 3)", "(4, 5)", "axes=0")
    np.testing.assert_array_equal(tj.contract(np.ones((2, 3)), np.ones((4, 5)), axes=0), np.ones((2, 3, 4, 5)))
    assert tj.contract(np.array(2.0), np.array(3.0)) == 6.0  # a 0-d operand: the scalar middle
    np.testing.assert_array_equal(tj.chain(np.ones(2), np.array(3.0), axes=0), [3.0, 3.0])


def test_contract_of_plain_arrays_checks_them_as_everything_else():
    clear(ValueError, lambda: tj.contract(np.full((2, 3), np.nan), np.ones((3, 5))), "DF", "non-finite", "(0, 0)")
    clear(TypeError, lambda: tj.contract(np.ones((2, 3)) * 1j, np.ones((3, 5))), "DF", "complex128")
    clear(TypeError, lambda: tj.chain(np.ones((2, 3)), np.ones((3, 5), dtype=np.float16)), "factor 1", "float16")
    clear(ValueError, lambda: tj.chain(np.ones((2, 3)), np.full((3, 5), np.inf)), "factor 1", "non-finite")
    assert tj.contract(np.ones((2, 3), dtype=int), np.ones(3, dtype=int)).dtype == np.float64


def test_chain_with_a_junk_factor_names_its_position():
    J = tj.Jacobian.identity(2)
    clear(TypeError, lambda: tj.chain(J, None, J), "chain", "factor 1", "NoneType")
    clear(TypeError, lambda: tj.chain_cost(J, "x"), "chain_cost", "factor 1", "str")


def test_python_scalar_keeps_float32_as_numpy_does():
    x = np.ones(2, np.float32)
    D = G("multiply").jacobian(x, 2.0)
    assert D["x1"].dtype == D["x2"].dtype == np.float32
    assert G("multiply")(x, 2.0).dtype == np.float32
    assert tj.jacobian(lambda v: v * 2.0)(x).dtype == np.float32
    assert tj.jacobian(lambda v: np.multiply(v, 2.0))(x).dtype == np.float32
    # a numpy float64 scalar is not weak (NEP 50): the result is float64, as numpy's x * np.float64(2)
    assert G("multiply").jacobian(x, np.float64(2.0))["x1"].dtype == (x * np.float64(2.0)).dtype == np.float64


def test_vjp_and_jvp_of_0d_results_are_arrays():
    J = tj.Jacobian(np.array(2.0), 0)
    results = [tj.chain_vjp(J, np.array(1.0)), tj.chain_jvp(J, np.array(1.0)), J.vjp(1.0), J.jvp(1.0),
               tj.chain_vjp([J, J], 1.0), tj.chain_jvp([J, J], 1.0)]
    assert all(type(r) is np.ndarray and r.shape == () for r in results), [type(r) for r in results]
    assert [float(r) for r in results] == [2.0, 2.0, 2.0, 2.0, 4.0, 4.0]


def test_blocks_matrix_checks_the_assembled_matrix_against_the_budget():
    B = tj.Blocks({f"x{i}": tj.Jacobian.zeros((300,), (300,)) for i in range(8)})  # 0.69 MiB a block, 5.5 together
    old = tj.set_dense_budget(1 << 20)
    try:
        clear(MemoryError, B.matrix, "(300, 2400)", "5,760,000 bytes")
    finally:
        tj.set_dense_budget(old)
    M, columns = B.matrix()
    assert M.shape == (300, 2400) and columns["x7"] == slice(2100, 2400)


# ---- Found by the fuzz test elsewhere --------------------------------------------------------------


def test_program_to_dot_checks_the_cotangent():
    program = tj.make_program(np.tanh)(np.ones(2))
    clear(ValueError, lambda: program.to_dot(cotangent=np.ones(3)), "cotangent", "(3,)", "(2,)")
    clear(ValueError, lambda: program.to_dot(cotangent=[[1.0], [1.0, 2.0]]), "cotangent", "cannot be read")
    assert "g=" in program.to_dot(cotangent=np.ones(2))


def test_testing_helpers_check_their_arguments():
    clear(TypeError, lambda: tjt.RuleCase("c", np.tanh, examples="x"), "examples", "str")
    clear(TypeError, lambda: tjt.RuleCase("c", np.tanh, vjp=3), "vjp", "int")
    clear(TypeError, lambda: tjt.run_cases(None), "run_cases", "NoneType")
    clear(TypeError, lambda: tjt.run_cases([3]), "run_cases", "3")
    clear(TypeError, lambda: tjt.run_cases([], dtypes=("float16",)), "float16")
    clear(TypeError, lambda: tjt.format_table(None), "format_table")
    clear(ValueError, lambda: tjt.format_table([{"rule": "a"}]), "format_table", "'check'")
    clear(TypeError, lambda: tjt.format_table([], title=3), "title")
    clear(TypeError, lambda: tjt.module_cases(None), "module_cases", "NoneType")
    clear(TypeError, lambda: tjt.rule_examples(None), "get_rule", "NoneType")
    clear(TypeError, lambda: tjt.main("x"), "main", "'x'")
    by_name, by_rule = tjt.rule_examples("exp"), tjt.rule_examples(G("exp"))
    assert len(by_name) == len(by_rule) > 0
    np.testing.assert_array_equal(by_name[0][0], by_rule[0][0])
    # an example whose arguments cannot be cast is a failing row, not a crash
    rows = tjt.run_cases([tjt.RuleCase("c", np.tanh, examples=[("x",)], jac=lambda x: tj.jacobian(np.tanh)(x))],
                         dtypes=("float64",))
    assert rows[0]["result"] == "FAIL" and "cannot be cast to float64" in rows[0]["messages"][0]
