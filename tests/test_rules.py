"""The rule table: every block of every rule against finite differences, conventions, errors."""

from __future__ import annotations

import uuid
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest

import tensorjac as tj

# ---- The case table -----------------------------------------------------------------------
#
# Each case names a rule, the shapes of its array arguments, its keyword options and the range
# each argument is drawn from (autograd's ``lims``):
#   REAL  uniform in [-2, 2]
#   POS   uniform in [0.2, 2]             (log, the Q of cross_entropy)
#   AWAY  |x| in [0.5, 2], random sign    (divisors; relu away from its kink)
# maximum draws REAL arguments and redraws until no pair of broadcast entries is within 0.1
# of a tie (the finite-difference step is below 2e-3 there); ties have their own test below.

REAL, POS, AWAY = "real", "pos", "away"


@dataclass(frozen=True)
class Case:
    rule: str
    shapes: tuple
    dists: tuple
    kwargs: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        shapes = "x".join(str(s).replace(" ", "") for s in self.shapes)
        opts = "".join(f"-{k}={v}".replace(" ", "") for k, v in self.kwargs.items())
        return f"{self.rule}-{shapes}{opts}"


def _draw(rng, shape, dist):
    if dist == REAL:
        return rng.uniform(-2.0, 2.0, size=shape)
    if dist == POS:
        return rng.uniform(0.2, 2.0, size=shape)
    if dist == AWAY:
        return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    raise AssertionError(dist)


def sample(case: Case) -> list[np.ndarray]:
    """The arguments of a case, from a generator seeded by the case id (order-independent)."""
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    while True:
        args = [_draw(rng, shape, dist) for shape, dist in zip(case.shapes, case.dists)]
        if case.rule != "maximum" or np.min(np.abs(args[0] - args[1]), initial=np.inf) > 0.1:
            return args


ELEMENTWISE = {"exp": REAL, "log": POS, "sin": REAL, "cos": REAL, "tanh": REAL, "logit": REAL, "relu": AWAY}
SCALAR_TO_TENSOR_SHAPES = [(), (4,), (2, 3), (1, 3, 1)]  # scalar, vector, matrix, size-1 axes

BINARY = {"add": (REAL, REAL), "subtract": (REAL, REAL), "multiply": (REAL, REAL),
          "divide": (REAL, AWAY), "maximum": (REAL, REAL)}
BINARY_SHAPES = [
    ((), ()),                # scalars
    ((4,), (4,)),            # vectors
    ((2, 3), (2, 3)),        # matrices
    ((), (2, 3)),            # scalar broadcast against a matrix
    ((2, 3), ()),
    ((3, 1), (2, 1, 4)),     # size-1 axes and a missing leading axis on both sides
    ((1,), (3,)),            # a size-1 vector broadcast
    ((2, 1), (1, 3)),        # outer-product broadcast
    ((1, 1), (1, 1)),        # all axes of size 1, no broadcast
]

MATMUL_SHAPES = [
    ((3,), (3,)),                  # 1-D . 1-D -> scalar
    ((3,), (3, 4)),                # 1-D . 2-D
    ((3,), (2, 3, 4)),             # 1-D . stacked
    ((2, 3), (3,)),                # 2-D . 1-D
    ((2, 2, 3), (3,)),             # stacked . 1-D
    ((2, 3), (3, 4)),              # 2-D . 2-D
    ((1, 3), (3, 1)),              # size-1 rows and columns
    ((2, 3, 4), (4, 2)),           # stacked . 2-D
    ((2, 1, 3, 4), (5, 4, 2)),     # broadcast batches
    ((1, 2, 3), (2, 3, 2)),        # size-1 batch axis broadcast
]

SUM_CASES = [
    ((), {}),
    ((5,), {}),
    ((5,), {"axis": 0}),
    ((2, 3, 4), {}),
    ((2, 3, 4), {"axis": 0}),
    ((2, 3, 4), {"axis": -1}),
    ((2, 3, 4), {"axis": (0, 2)}),
    ((2, 3, 4), {"axis": (-1, 0)}),
    ((2, 3, 4), {"axis": 1, "keepdims": True}),
    ((2, 3, 4), {"axis": (0, -1), "keepdims": True}),
    ((2, 3), {"keepdims": True}),
    ((1, 3), {"axis": 0}),
]

SOFTMAX_CASES = [
    ((5,), {}),
    ((2, 4), {}),
    ((2, 4), {"axis": 0}),
    ((2, 3, 4), {"axis": 1}),
    ((2, 3, 4), {"axis": -3}),
    ((3, 1), {"axis": -1}),   # a size-1 softmax axis: constant output, zero Jacobian
    ((1, 4), {}),
]

AFFINE_SHAPES = [
    ((3, 4), (4, 2), (2,)),   # X matrix
    ((4,), (4, 2), (2,)),     # X vector
    ((1, 4), (4, 1), (1,)),   # size-1 axes
]

CROSS_ENTROPY_SHAPES = [(), (4,), (2, 3), (1, 3)]

CASES = (
    [Case(r, (s,), (d,)) for r, d in ELEMENTWISE.items() for s in SCALAR_TO_TENSOR_SHAPES]
    + [Case(r, s, d) for r, d in BINARY.items() for s in BINARY_SHAPES]
    + [Case("matmul", s, (REAL, REAL)) for s in MATMUL_SHAPES]
    + [Case("sum", (s,), (REAL,), kw) for s, kw in SUM_CASES]
    + [Case("softmax", (s,), (REAL,), kw) for s, kw in SOFTMAX_CASES]
    + [Case("affine", s, (REAL, REAL, REAL)) for s in AFFINE_SHAPES]
    + [Case("cross_entropy", (s, s), (REAL, POS)) for s in CROSS_ENTROPY_SHAPES]
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_blocks_match_finite_differences(case, blocks_match_numeric):
    """Every block D_{x_i} rule(x_1, ..., x_p), shape ans.shape + x_i.shape, equals central differences."""
    rule = tj.get_rule(case.rule)
    args = sample(case)
    ans, blocks = tj.get_rule(case.rule).value_and_jacobian(*args, **case.kwargs)
    numeric = tj.numerical_jacobian(lambda *a: rule(*a, **case.kwargs), *args, names=rule.argnames)
    assert blocks.names == rule.argnames
    np.testing.assert_allclose(ans, numeric.value, rtol=1e-15, atol=0)
    for name, arg in zip(rule.argnames, args):
        assert blocks[name].out_shape == ans.shape and blocks[name].in_shape == arg.shape
    blocks_match_numeric(blocks, numeric, case.id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_float32_arguments_give_float32_blocks(case):
    """float32 in, float32 out: the value and every block (structured ones with no stored
    factor, such as add or sum, included) keep the arguments' dtype, and agree with float64."""
    args64 = sample(case)
    args32 = [a.astype(np.float32) for a in args64]
    ans32, blocks32 = tj.get_rule(case.rule).value_and_jacobian(*args32, **case.kwargs)
    blocks64 = tj.get_rule(case.rule).jacobian(*[a.astype(np.float32).astype(np.float64) for a in args64], **case.kwargs)
    assert ans32.dtype == np.float32
    for name in blocks32:
        dense = blocks32[name].dense()
        assert blocks32[name].dtype == np.float32 and dense.dtype == np.float32, name
        np.testing.assert_allclose(dense, blocks64[name].dense(), rtol=2e-5, atol=2e-5 * np.abs(dense).max(initial=1))


def test_every_registered_rule_has_a_case():
    """The table above, with the examples declared beside the rules (tests/test_rule_table.py), covers
    the whole registry (rules registered by tests/doctests excepted)."""
    registered = {name for name in tj.rule_names() if not name.startswith(("doc_", "test_"))}
    covered = {case.rule for case in CASES} | {
        name for name in registered if tj.get_rule(name).builtin and tj.get_rule(name).examples is not None
    }
    assert registered - covered == set(), f"rules without a test case: {sorted(registered - covered)}"
    assert covered - registered == set(), f"cases for unregistered rules: {sorted(covered - registered)}"


def test_case_table_respects_valid_ranges():
    """The sampled inputs really lie in each rule's domain and away from kinks."""
    for case in CASES:
        args = sample(case)
        if case.rule in ("log",):
            assert np.all(args[0] >= 0.2)
        if case.rule == "cross_entropy":
            assert np.all(args[1] >= 0.2)
        if case.rule == "divide":
            assert np.all(np.abs(args[1]) >= 0.5)
        if case.rule == "relu":
            assert np.all(np.abs(args[0]) >= 0.5)
        if case.rule == "maximum":
            assert np.all(np.abs(args[0] - args[1]) > 0.1)


# ---- Conventions --------------------------------------------------------------------------


def test_maximum_tie_splits_evenly_like_central_differences():
    """d max(x1, x2)/dx1 is 1 where x1 > x2, 1/2 at a tie, 0 where x1 < x2; same for x2."""
    x1 = np.array([1.0, 2.0, -3.0, 0.0])
    x2 = np.array([1.0, 0.0, 5.0, 0.0])
    blocks = tj.get_rule("maximum").jacobian(x1, x2)
    np.testing.assert_array_equal(blocks["x1"].dense(), np.diag([0.5, 1.0, 0.0, 0.5]))
    np.testing.assert_array_equal(blocks["x2"].dense(), np.diag([0.5, 0.0, 1.0, 0.5]))
    numeric = tj.numerical_jacobian(np.maximum, x1, x2, names=("x1", "x2"))
    for name in ("x1", "x2"):
        np.testing.assert_allclose(blocks[name].dense(), numeric[name].dense(), atol=1e-12)


def test_maximum_of_an_argument_with_itself():
    """maximum(x, x): each argument gets 1/2, so the total derivative of x -> max(x, x) = x is 1."""
    x = np.array([[0.3, -1.2], [2.0, 0.0]])
    blocks = tj.get_rule("maximum").jacobian(x, x)
    half_identity = 0.5 * np.eye(4).reshape(2, 2, 2, 2)
    np.testing.assert_array_equal(blocks["x1"].dense(), half_identity)
    np.testing.assert_array_equal(blocks["x2"].dense(), half_identity)
    np.testing.assert_array_equal((blocks["x1"] + blocks["x2"]).dense(), np.eye(4).reshape(2, 2, 2, 2))


def test_relu_derivative_at_zero_is_one_half_like_central_differences():
    x = np.array([0.0, 1.5, -0.7])
    J = tj.get_rule("relu").jacobian(x)["x"].dense()
    np.testing.assert_array_equal(J, np.diag([0.5, 1.0, 0.0]))
    numeric = tj.numerical_jacobian(lambda v: np.maximum(v, 0.0), x)["v"].dense()
    np.testing.assert_allclose(J, numeric, atol=1e-12)


def test_maximum_tie_under_broadcasting():
    """A scalar x2 tied with one entry of x1 gets 1/2 from that entry only."""
    x1 = np.array([1.0, 3.0, -2.0])
    x2 = np.array(1.0)
    blocks = tj.get_rule("maximum").jacobian(x1, x2)
    np.testing.assert_array_equal(blocks["x1"].dense(), np.diag([0.5, 1.0, 0.0]))
    np.testing.assert_array_equal(blocks["x2"].dense(), [0.5, 0.0, 1.0])


def test_logit_and_softmax_are_stable_for_large_inputs():
    """No overflow/invalid warnings for |z| up to 1e3, and the values and Jacobians stay exact limits."""
    z = np.array([[-1e3, 0.0, 1e3], [1e3, 1e3 - 1.0, -1e3]])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        s = tj.get_rule("logit")(z)
        Js = tj.get_rule("logit").jacobian(z)["x"].dense()
        p = tj.get_rule("softmax")(z)
        Jp = tj.get_rule("softmax").jacobian(z)["x"].dense()
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0], [1.0, 1.0, 0.0]], atol=1e-300)
    assert Js[0, 1, 0, 1] == 0.25 and Js[0, 0, 0, 0] == 0.0 and Js[0, 2, 0, 2] == 0.0
    e = 1 / (1 + np.exp(-1.0))  # softmax of (1e3, 1e3 - 1) in the second row
    np.testing.assert_allclose(p, [[0.0, 0.0, 1.0], [e, 1 - e, 0.0]], atol=1e-15)
    assert np.all(np.isfinite(Jp))
    np.testing.assert_allclose(Jp[1, 0, 1, 0], e * (1 - e), rtol=1e-12)


def test_rule_values_match_numpy():
    """The registered functions compute what their names say."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0.5, 2.0, (2, 3))
    P, W, b = rng.uniform(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    rule = tj.get_rule
    np.testing.assert_allclose(rule("logit")(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(rule("softmax")(x), np.exp(x) / np.exp(x).sum(-1, keepdims=True))
    np.testing.assert_allclose(rule("softmax")(x, axis=0), np.exp(x) / np.exp(x).sum(0, keepdims=True))
    np.testing.assert_allclose(rule("cross_entropy")(P, y), -np.sum(P * np.log(y)))
    np.testing.assert_allclose(rule("affine")(x, W, b), x @ W + b)
    np.testing.assert_allclose(rule("relu")(x - 1.0), np.maximum(x - 1.0, 0))
    np.testing.assert_allclose(rule("sum")(x, axis=1, keepdims=True), x.sum(1, keepdims=True))


def test_elementwise_jacobians_are_structured_not_dense():
    """Elementwise rules store only a diagonal; d(X@W)/dW stores X (GUIDE section 2)."""
    Z = np.ones((20, 30))
    J = tj.get_rule("logit").jacobian(Z)["x"]
    assert not J.is_dense and J.nbytes <= Z.nbytes
    X, W = np.ones((20, 30)), np.ones((30, 10))
    JW = tj.get_rule("matmul").jacobian(X, W)["x2"]
    assert not JW.is_dense and JW.nbytes <= X.nbytes
    Js = tj.get_rule("softmax").jacobian(Z)["x"]  # s_b delta(b, d) - s_b s_d, row-block-diagonal
    assert not Js.is_dense and Js.nbytes <= 4 * Z.nbytes < Js.size * 8 // 100


# ---- Argument selection -------------------------------------------------------------------


def test_argnums_by_position_and_name_and_names_option():
    x1, x2 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    full = tj.get_rule("multiply").jacobian(x1, x2)
    by_pos = tj.get_rule("multiply").jacobian(x1, x2, argnums=1)
    by_neg = tj.get_rule("multiply").jacobian(x1, x2, argnums=-1)
    by_name = tj.get_rule("multiply").jacobian(x1, x2, argnums="x2")
    for blocks in (by_pos, by_neg, by_name):
        assert blocks.names == ("x2",)
        np.testing.assert_array_equal(blocks["x2"].dense(), full["x2"].dense())
    reordered = tj.get_rule("multiply").jacobian(x1, x2, argnums=("x2", 0))
    assert reordered.names == ("x2", "x1")
    renamed = tj.get_rule("multiply").jacobian(x1, x2, names=("u", "v"))
    assert renamed.names == ("u", "v")
    np.testing.assert_array_equal(renamed["u"].dense(), np.diag(x2))


@pytest.mark.parametrize(
    "argnums, fragment",
    [(2, "out of range"), (-3, "out of range"), ("x3", "no argument named 'x3'"),
     ((0, 0), "selected twice"), ((), "selects no argument"), (1.5, "ints or argument names")],
)
def test_bad_argnums_raise_value_error(argnums, fragment):
    x = np.ones(2)
    with pytest.raises(ValueError, match=fragment):
        tj.get_rule("multiply").jacobian(x, x, argnums=argnums)


def test_wrong_number_of_arguments_and_bad_names():
    with pytest.raises(ValueError, match="takes 2 array argument"):
        tj.get_rule("add").jacobian(np.ones(2))
    with pytest.raises(ValueError, match="distinct names"):
        tj.get_rule("add").jacobian(np.ones(2), np.ones(2), names=("a", "a"))


# ---- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rule", ["exp", "add", "softmax", "cross_entropy"])
def test_non_finite_arguments_raise(rule, bad):
    x = np.array([0.5, bad, 1.0])
    args = [x] if tj.get_rule(rule).argnames == ("x",) else [x, np.array([0.5, 0.5, 0.5])]
    with pytest.raises(ValueError, match="non-finite"):
        tj.get_rule(rule).jacobian(*args)
    with pytest.raises(ValueError, match="non-finite"):
        tj.get_rule(rule)(*args)


def test_integer_and_boolean_arguments_are_promoted_to_float64():
    ans, blocks = tj.get_rule("multiply").value_and_jacobian(np.array([1, 2]), np.array([True, False]))
    assert ans.dtype == np.float64
    assert blocks["x1"].dtype == np.float64 and blocks["x2"].dtype == np.float64
    np.testing.assert_array_equal(blocks["x2"].dense(), np.diag([1.0, 2.0]))
    assert tj.get_rule("divide")(np.array([1]), np.array([2])).dtype == np.float64


@pytest.mark.parametrize(
    "bad",
    [np.array([1.0 + 1j]), np.array([1.0], dtype=np.float16), np.array([1.0], dtype=object), np.array(["a"])],
    ids=["complex", "float16", "object", "str"],
)
def test_unsupported_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match="dtype"):
        tj.get_rule("exp").jacobian(bad)


@pytest.mark.parametrize("x", [np.array([1.0, 0.0]), np.array([[-1.0, 2.0]])])
def test_log_of_non_positive_raises(x):
    with pytest.raises(ValueError, match="log"):
        tj.get_rule("log").jacobian(x)


def test_cross_entropy_domain_errors():
    P = np.array([0.2, 0.8])
    for Q in (np.array([0.5, 0.0]), np.array([0.5, -0.1])):
        with pytest.raises(ValueError, match="Q must be > 0"):
            tj.get_rule("cross_entropy").jacobian(P, Q)
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        tj.get_rule("cross_entropy").jacobian(P, np.ones(3))


def test_divide_by_zero_raises():
    with pytest.raises(ValueError, match="divisor"):
        tj.get_rule("divide").jacobian(np.ones(2), np.array([1.0, 0.0]))


@pytest.mark.parametrize(
    "shapes",
    [((3, 4), (5, 2), (2,)),      # inner sizes differ
     ((3, 4), (4, 2), (3,)),      # b does not match the columns of W
     ((3, 4), (4,), (2,)),        # W a vector
     ((2, 3, 4), (4, 2), (2,)),   # X of rank 3
     ((3, 4), (4, 2), (1, 2))],   # b a matrix
)
def test_affine_with_wrong_shapes_raises(shapes):
    args = [np.ones(s) for s in shapes]
    with pytest.raises(ValueError, match="affine"):
        tj.get_rule("affine").jacobian(*args)


def test_matmul_of_a_scalar_raises():
    with pytest.raises(ValueError, match="at least one axis"):
        tj.get_rule("matmul").jacobian(np.array(2.0), np.ones(3))


# ---- The registry -------------------------------------------------------------------------


def _fresh(name):
    """A rule name no other test (or a rerun) has registered; ignored by the coverage test."""
    return f"test_{name}_{uuid.uuid4().hex[:8]}"


def test_user_rule_round_trip(blocks_match_numeric):
    """A user-registered rule works like a built-in one and agrees with finite differences."""
    name = _fresh("cube_times")

    def cube_times(x, y):
        return x**3 * y

    rule = tj.register_rule(
        name, cube_times,
        lambda ans, x, y: tj.Jacobian.diagonal(3 * x**2 * y),
        lambda ans, x, y: tj.Jacobian.diagonal(x**3),
    )
    assert name in tj.rule_names() and tj.get_rule(name) is rule and tj.get_rule(rule) is rule
    assert rule.argnames == ("x", "y")
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.5, 2.0, -0.5])
    numeric = tj.numerical_jacobian(cube_times, x, y)
    blocks_match_numeric(tj.get_rule(name).jacobian(x, y), numeric, name)


def test_registering_a_name_twice_raises():
    name = _fresh("twice")
    tj.register_rule(name, np.negative, lambda ans, x: tj.Jacobian.diagonal(-np.ones_like(x)), argnames=("x",))
    with pytest.raises(ValueError, match="already registered"):
        tj.register_rule(name, np.negative, lambda ans, x: tj.Jacobian.diagonal(-np.ones_like(x)), argnames=("x",))
    with pytest.raises(ValueError, match="already registered"):
        tj.register_rule("exp", np.exp, lambda ans, x: tj.Jacobian.diagonal(ans), argnames=("x",))


def test_unknown_rule_lists_the_registered_names():
    with pytest.raises(ValueError, match=r"unknown rule 'no_such_rule'.*'exp'"):
        tj.get_rule("no_such_rule")
    with pytest.raises(ValueError, match="unknown rule"):
        tj.get_rule("no_such_rule").jacobian(np.ones(2))


def test_registration_argument_errors():
    with pytest.raises(ValueError, match="one Jacobian maker"):
        tj.register_rule(_fresh("nomakers"), np.exp)
    with pytest.raises(ValueError, match="argnames"):
        tj.register_rule(_fresh("argnames"), np.add, None, None, argnames=("x",))
    with pytest.raises(ValueError, match="non-empty string"):
        tj.register_rule("", np.exp, None)


def test_missing_maker_raises_not_implemented_naming_the_argument():
    name = _fresh("half")

    def scaled(x, k):
        return x * k

    tj.register_rule(name, scaled, lambda ans, x, k: tj.Jacobian.diagonal(np.broadcast_to(k, x.shape)), None)
    x, k = np.array([1.0, 2.0]), np.array([3.0, 3.0])
    np.testing.assert_array_equal(tj.get_rule(name).jacobian(x, k, argnums="x")["x"].dense(), np.diag([3.0, 3.0]))
    with pytest.raises(NotImplementedError, match=rf"{name}.*argument 'k'"):
        tj.get_rule(name).jacobian(x, k)
