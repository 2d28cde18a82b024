"""Reductions and contractions: structure (what each Jacobian stores), conventions at kinks, clear
errors, and values against finite differences and ``jax.jacfwd``.

The rule table (tests/test_rule_table.py) already checks every declared example against finite
differences; here are the properties the table cannot see: stored bytes, tie splitting, zeros in
``prod``, the errors, einsum with several operands (outside the declared examples, see
``_linalg_einsum``), and an independent reference (JAX, in float64).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tensorjac as tj
from tensorjac.rules._linalg_einsum import einsum_examples, parse_subscripts

INTP = np.dtype(np.intp).itemsize


@pytest.fixture
def jax_np():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def numeric(f, *args, argnums=0):
    """The finite-difference Jacobian of ``f`` and its error estimate."""
    names = [f"x{i}" for i in range(len(args))]
    blocks = tj.numerical_jacobian(f, *args, argnums=argnums, names=names)
    return blocks[names[argnums]].dense(), blocks.errors[names[argnums]]


def check_fd(f, *args, argnums=0, fd_close=None):
    args = tuple(np.asarray(a, dtype=np.float64) for a in args)
    J = tj.jacobian(f, argnums=argnums)(*args)
    J.check_invariants()
    dense, errors = numeric(f, *args, argnums=argnums)
    fd_close(J.dense(), dense, errors, getattr(f, "__name__", "f"))
    return J


# ---- Structure: what each Jacobian stores ----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", [{}, {"axis": 0}, {"axis": -1}, {"axis": (0, 2)}, {"axis": 1, "keepdims": True},
                                    {"keepdims": True}])
def test_sum_stores_nothing_and_mean_one_scalar(rng, dtype, kwargs):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    J_sum = tj.jacobian(lambda x: np.sum(x, **kwargs))(x)
    J_mean = tj.jacobian(lambda x: x.mean(**kwargs))(x)
    assert J_sum.nbytes == 0
    assert J_mean.nbytes <= np.dtype(dtype).itemsize
    assert J_sum.dtype == J_mean.dtype == dtype
    n = x.size // np.sum(x, **kwargs).size
    np.testing.assert_allclose(J_mean.dense(), J_sum.dense() / n, rtol=1e-6)


@pytest.mark.parametrize("f", [
    lambda X, W: X @ W,
    lambda X, W: np.dot(X, W),
    lambda X, W: np.einsum("ai,ib->ab", X, W),
    lambda X, W: np.einsum("ai,ib", X, W),
    lambda X, W: np.tensordot(X, W, 1),
    lambda X, W: np.tensordot(X, W, axes=([1], [0])),
], ids=["matmul", "dot", "einsum", "einsum-implicit", "tensordot-1", "tensordot-pairs"])
def test_a_contraction_stores_only_the_other_operand(rng, f):
    X, W = rng.standard_normal((6, 3)), rng.standard_normal((3, 4))
    J_W = tj.jacobian(lambda W: f(X, W))(W)
    J_X = tj.jacobian(lambda X: f(X, W))(X)
    assert J_W.nbytes == X.nbytes and J_X.nbytes == W.nbytes
    np.testing.assert_allclose(J_W.dense(), np.einsum("ai,bj->abij", X, np.eye(4)), atol=1e-12)
    np.testing.assert_allclose(J_X.dense(), np.einsum("ai,jb->abij", np.eye(6), W), atol=1e-12)


def test_the_dot_method_of_a_traced_value_and_inner(rng):
    X, W, V = rng.standard_normal((6, 3)), rng.standard_normal((3, 4)), rng.standard_normal((4, 3))
    assert tj.jacobian(lambda X: X.dot(W))(X).nbytes == W.nbytes
    J = tj.jacobian(lambda V: np.inner(X, V))(V)
    assert J.nbytes == X.nbytes
    np.testing.assert_allclose(J.dense(), np.einsum("ai,bj->abji", X, np.eye(4)), atol=1e-12)


def test_einsum_with_three_operands_stores_the_two_others(rng):
    A, B, C = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    J = tj.jacobian(lambda B: np.einsum("ij,jk,kl->il", A, B, C))(B)
    assert J.nbytes == A.nbytes + C.nbytes
    np.testing.assert_allclose(J.dense(), np.einsum("ij,kl->iljk", A, C), atol=1e-12)


def test_outer_stores_the_other_operand_flattened(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal(4)
    J = tj.jacobian(lambda a: np.outer(a, b))(a)
    assert J.nbytes == b.nbytes
    np.testing.assert_allclose(J.dense().reshape(6, 4, 6), np.einsum("ik,j->ijk", np.eye(6), b))


@pytest.mark.parametrize("f", [
    lambda x: np.prod(x, axis=1), lambda x: np.max(x, axis=0), lambda x: np.min(x), lambda x: np.var(x, axis=1),
    lambda x: np.std(x, axis=-1, ddof=1), lambda x: np.linalg.norm(x, axis=1), lambda x: np.linalg.norm(x, ord=1),
    lambda x: np.linalg.norm(x, ord=np.inf, axis=0), lambda x: np.linalg.norm(x, "fro"),
], ids=["prod", "max", "min", "var", "std", "norm", "norm-1", "norm-inf", "norm-fro"])
def test_other_reductions_store_one_factor_of_the_input_shape(rng, f):
    x = rng.standard_normal((30, 20))
    J = tj.jacobian(f)(x)
    assert J.nbytes == x.nbytes  # a dense Jacobian would have out.size * x.nbytes
    assert J.nbytes < J.size * 8 or np.ndim(f(x)) == 0


def test_cumsum_stores_a_triangle_along_its_axis(rng):
    x = rng.standard_normal((40, 8))
    J = tj.jacobian(lambda x: np.cumsum(x, axis=1))(x)
    assert J.nbytes == 8 * 8 * 8  # one 8 x 8 triangle; dense would be 320 x 320
    np.testing.assert_array_equal(J.dense()[3, :, 3, :], np.tri(8))
    assert np.all(J.dense()[3, :, 4, :] == 0)
    flat = tj.jacobian(lambda x: x.cumsum())(x[:3])  # axis=None: the flattened input, a Reshape factor
    np.testing.assert_array_equal(flat.dense().reshape(24, 24), np.tri(24))


def test_trace_and_einsum_diagonals_store_integers_of_the_diagonal_length(rng):
    n = 50
    x = rng.standard_normal((n, n))
    for f in (np.trace, lambda x: np.einsum("ii", x), lambda x: np.einsum("ii->i", x),
              lambda x: np.trace(x, offset=3)):
        J = tj.jacobian(f)(x)
        assert J.nbytes <= 2 * n * INTP, J
        J.check_invariants()
    np.testing.assert_array_equal(tj.jacobian(np.trace)(x).dense(), np.eye(n))
    np.testing.assert_array_equal(tj.jacobian(lambda x: np.trace(x, offset=3))(x).dense(), np.eye(n, k=3))
    diag = tj.jacobian(lambda x: np.einsum("ii->i", x))(x).dense()
    np.testing.assert_array_equal(diag, np.einsum("ij,ik->ijk", np.eye(n), np.eye(n)))


def test_reductions_stay_structured_in_a_chain(rng):
    x = rng.standard_normal((20, 30))
    J = tj.jacobian(lambda x: np.mean(np.tanh(x), axis=1))(x)
    assert J.nbytes <= x.nbytes + 8  # the tanh derivative and the 1/n scale, not 20 x 600 entries
    np.testing.assert_allclose(J.dense()[2, 2], (1 - np.tanh(x[2]) ** 2) / 30)
    assert np.all(J.dense()[2, 3] == 0)


# ---- Conventions: ties, zeros ----------------------------------------------------------------


def test_max_and_min_split_ties_evenly_among_the_extreme_entries():
    x = np.array([[1.0, 3.0, 3.0, 3.0], [0.0, -2.0, 5.0, -2.0]])
    J = tj.jacobian(lambda x: np.max(x, axis=1))(x).dense()
    np.testing.assert_allclose(J[0, 0], [0, 1 / 3, 1 / 3, 1 / 3])  # a three-way tie: 1/3 each
    np.testing.assert_allclose(J[1, 1], [0, 0, 1, 0])
    assert np.all(J[0, 1] == 0) and np.all(J[1, 0] == 0)  # the delta on the kept axis
    J = tj.jacobian(lambda x: np.min(x, axis=1, keepdims=True))(x).dense()
    np.testing.assert_allclose(J[1, 0, 1], [0, 0.5, 0, 0.5])
    np.testing.assert_allclose(J[0, 0, 0], [1, 0, 0, 0])
    J = tj.jacobian(lambda x: np.amax(x))(np.full((2, 2), 7.0)).dense()
    np.testing.assert_allclose(J, np.full((2, 2), 0.25))  # derivatives of one slice sum to 1


def test_max_two_way_tie_is_the_central_difference(fd_close):
    x = np.array([2.0, -1.0, 2.0, 0.5])
    J = check_fd(lambda x: np.max(x), x, fd_close=fd_close)
    np.testing.assert_allclose(J.dense(), [0.5, 0, 0.5, 0])


def test_max_and_min_tie_splitting_matches_jax(jax_np, rng):
    jax, jnp = jax_np
    x = rng.integers(-2, 3, (3, 5)).astype(float)  # many ties
    for f, g in [(lambda x: np.max(x, axis=1), lambda x: jnp.max(x, axis=1)), (lambda x: np.min(x), jnp.min),
                 (lambda x: np.max(x, axis=0, keepdims=True), lambda x: jnp.max(x, axis=0, keepdims=True))]:
        np.testing.assert_allclose(tj.jacobian(f)(x).dense(), jax.jacfwd(g)(x), atol=1e-15)


@pytest.mark.parametrize("values", [
    [2.0, 0.0, 3.0, 4.0],        # one zero: only it has a nonzero derivative
    [2.0, 0.0, 3.0, 0.0],        # two zeros: every derivative is 0
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 5.0, -1.5, 2.0],
])
def test_prod_with_zeros_is_exact_without_division(values, fd_close):
    x = np.array(values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero anywhere
        J = check_fd(np.prod, x, fd_close=fd_close)
    expected = [np.prod(np.delete(x, i)) for i in range(x.size)]
    np.testing.assert_array_equal(J.dense(), expected)


def test_prod_with_zeros_along_axes(rng, fd_close):
    x = rng.standard_normal((3, 4, 2))
    x[0, 1, 0] = 0.0
    x[1, :2, 1] = 0.0
    x[2, 3, :] = 0.0
    for kwargs in ({"axis": 1}, {"axis": (0, 2)}, {}, {"axis": -1, "keepdims": True}):
        check_fd(lambda x: np.prod(x, **kwargs), x, fd_close=fd_close)
        check_fd(lambda x: x.prod(**kwargs), x, fd_close=fd_close)


def test_std_of_one_entry_slices_is_zero_and_var_matches_ddof(rng, fd_close):
    x = rng.standard_normal((3, 1))
    np.testing.assert_array_equal(tj.jacobian(lambda x: np.std(x, axis=1))(x).dense(), np.zeros((3, 3, 1)))
    y = rng.standard_normal((2, 5))
    for ddof in (0, 1, 2.5):
        check_fd(lambda y: np.var(y, axis=1, ddof=ddof), y, fd_close=fd_close)
        check_fd(lambda y: y.std(ddof=ddof), y, fd_close=fd_close)


def test_norm_conventions_at_kinks():
    x = np.array([0.0, -2.0, 3.0, 0.0])
    np.testing.assert_array_equal(tj.jacobian(lambda x: np.linalg.norm(x, 1))(x).dense(), [0, -1, 1, 0])
    np.testing.assert_array_equal(tj.jacobian(lambda x: np.linalg.norm(x, 1))(np.zeros(3)).dense(), np.zeros(3))
    np.testing.assert_array_equal(tj.jacobian(lambda x: np.linalg.norm(x, np.inf))(np.array([3.0, -3.0, 1.0])).dense(),
                                  [0.5, -0.5, 0])


def test_nansum_and_nanmean_skip_the_nans():
    c = np.array([0.0, np.nan, 1.0, np.nan])
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(tj.jacobian(lambda x: np.nansum(x + c))(x).dense(), [1, 0, 1, 0])
    np.testing.assert_array_equal(tj.jacobian(lambda x: np.nanmean(x + c))(x).dense(), [0.5, 0, 0.5, 0])
    assert tj.jacobian(lambda x: np.nansum(x))(x).nbytes == 0


# ---- Errors ----------------------------------------------------------------------------------


def test_std_at_a_constant_slice_raises_naming_the_slice():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    with pytest.raises(ValueError, match=r"x\[1, :\].*axis=1.*not differentiable|not differentiable.*x\[1, :\]"):
        tj.jacobian(lambda x: np.std(x, axis=1))(x)
    with pytest.raises(ValueError, match=r"x\[:, :\]"):
        tj.jacobian(np.std)(np.full((2, 2), 0.1))  # constant, although numpy's std is not exactly 0
    tj.jacobian(lambda x: np.var(x, axis=1))(x)  # var is fine there


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's, computing the value before the rule refuses
def test_var_and_std_refuse_bad_ddof():
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(ValueError, match="ddof=3"):
        tj.jacobian(lambda x: np.var(x, axis=1, ddof=3))(x)
    with pytest.raises(ValueError, match="ddof"):
        tj.get_rule("std").jacobian(x, axis=0, ddof=2)


@pytest.mark.parametrize("ord, axis", [(None, None), (2, None), (None, 1), ("fro", None), (3, 0), (2, (0, 1))])
def test_norm_at_zero_raises(ord, axis):
    x = np.array([[0.0, 0.0], [1.0, 0.0]]) if axis == 1 else np.zeros((2, 2))
    if axis is None and ord == 2:
        x = np.zeros(3)
    with pytest.raises(ValueError, match="not differentiable"):
        tj.jacobian(lambda x: np.linalg.norm(x, ord=ord, axis=axis))(x)


def test_norm_refuses_unsupported_orders_and_bad_axes():
    x = np.array([1.0, -2.0, 3.0])
    for ord in (0, 0.5, -1, -2):
        with pytest.raises(ValueError, match=f"ord={ord!r} is not supported"):
            tj.jacobian(lambda x: np.linalg.norm(x, ord=ord))(x)
    with pytest.raises(ValueError, match="repeated"):
        tj.jacobian(lambda x: np.linalg.norm(x, 2))(np.eye(3))  # sigma_1 = sigma_2
    with pytest.raises(ValueError, match="rank-deficient"):
        tj.jacobian(lambda x: np.linalg.norm(x, "nuc"))(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dimensions"):  # numpy's own check, before the rule
        tj.get_rule("norm").jacobian(np.ones((2, 2, 2)), axis=(0, 1, 2))
    with pytest.raises(ValueError, match="must name 1 axis"):
        tj.rules._linalg_norm.norm_jac(np.ones(()), np.ones((2, 2, 2)), axis=(0, 1, 2))
    with pytest.raises(np.exceptions.AxisError):
        tj.get_rule("norm").jacobian(np.ones((2, 2)), axis=(0, 2))


def test_contractions_refuse_bad_options_clearly():
    a, b = np.ones((2, 3)), np.ones((3, 4))
    with pytest.raises(ValueError, match="axes=5"):
        tj.jacobian(lambda a: np.tensordot(a, b, 5))(a)
    with pytest.raises(ValueError, match="axes=-1"):
        tj.jacobian(lambda a: np.tensordot(a, b, -1))(a)
    with pytest.raises(TypeError, match="pair of sequences"):
        tj.jacobian(lambda a: np.tensordot(a, b, "x"))(a)
    with pytest.raises(ValueError, match="size 2.*size 3|pairs 1 axes of a with 2"):
        tj.jacobian(lambda a: np.tensordot(a, b, ([0], [0])))(a)
    with pytest.raises(np.exceptions.AxisError):
        tj.jacobian(lambda a: np.tensordot(a, b, ([5], [0])))(a)
    with pytest.raises(ValueError, match="repeated"):
        tj.jacobian(lambda a: np.tensordot(a, np.ones((3, 3)), ([1, 1], [0, 1])))(a)
    with pytest.raises(TypeError, match="does not support the option.*out"):
        tj.jacobian(lambda a: np.einsum("ij,jk", a, b, out=np.empty((2, 4))))(a)
    with pytest.raises(TypeError, match="does not support the option.*initial"):
        tj.jacobian(lambda a: np.max(a, initial=0.0))(a)
    with pytest.raises(TypeError, match="does not support the option.*dtype"):
        tj.jacobian(lambda a: np.trace(a, dtype=np.float32))(a)
    with pytest.raises(ValueError, match="ellipsis"):  # numpy's own check, before the rule
        tj.get_rule("einsum").jacobian(a, subscripts="i.j")
    with pytest.raises(ValueError, match="invalid subscripts"):
        parse_subscripts("i.j", [(2, 3)])
    with pytest.raises(TypeError, match="must be a string"):
        parse_subscripts(["ij"], [(2, 3)])
    with pytest.raises(ValueError, match="operand"):
        tj.get_rule("einsum").jacobian(a, subscripts="ij,jk")
    with pytest.raises(np.exceptions.AxisError):
        tj.get_rule("trace").jacobian(np.ones((2, 2)), axis1=0, axis2=2)
    with pytest.raises(ValueError, match="cannot be the same|must differ"):
        tj.get_rule("trace").jacobian(np.ones((2, 2)), axis1=1, axis2=-1)
    with pytest.raises(TypeError, match="integer"):  # numpy's own check, before the rule
        tj.get_rule("cumsum").jacobian(np.ones((2, 2)), axis=(0,))
    with pytest.raises(TypeError, match="axis must be None or an int"):
        tj.rules._reductions.cumsum_jac(np.ones(4), np.ones((2, 2)), axis=(0,))
    with pytest.raises(np.exceptions.AxisError):
        tj.get_rule("mean").jacobian(np.ones((2, 2)), axis=2)


# ---- einsum: every variant against finite differences, float32, JAX --------------------------

EINSUM = einsum_examples(np.random.default_rng(7))


def _id(example):
    return f"{example[1]['subscripts'] or 'scalar'}-{'x'.join(str(a.shape) for a in example[0])}".replace(" ", "")


@pytest.mark.parametrize("example", EINSUM, ids=_id)
def test_einsum_matches_finite_differences_rule_and_traced(example, fd_close, blocks_match_numeric):
    operands, kwargs = example
    rule = tj.get_rule("einsum")
    positions = tuple(range(len(operands)))
    traced = tj.jacobian(lambda *ops: np.einsum(kwargs["subscripts"], *ops), argnums=positions)(*operands)
    blocks = rule.jacobian(*operands, **kwargs)
    value = np.einsum(kwargs["subscripts"], *operands)
    for pos, J in zip(positions, traced.values()):
        assert J.shape == value.shape + operands[pos].shape == blocks[pos].shape
        J.check_invariants()
    if value.size == 0 or any(op.size == 0 for op in operands):
        return
    numeric_blocks = tj.numerical_jacobian(lambda *ops: rule.fun(*ops, **kwargs), *operands,
                                           names=rule.arg_names(len(operands)))
    blocks_match_numeric(blocks, numeric_blocks, _id(example))
    for name, J in zip(numeric_blocks.names, traced.values()):
        fd_close(J.dense(), numeric_blocks[name].dense(), numeric_blocks.errors[name], _id(example))


@pytest.mark.parametrize("example", EINSUM, ids=_id)
def test_einsum_keeps_float32(example):
    operands, kwargs = example
    ops32 = [op.astype(np.float32) for op in operands]
    value, blocks = tj.value_and_jacobian(lambda *ops: np.einsum(kwargs["subscripts"], *ops),
                                          argnums=tuple(range(len(ops32))))(*ops32)
    reference = tj.get_rule("einsum").jacobian(*[op.astype(np.float64) for op in ops32], **kwargs)
    assert value.dtype == np.float32
    for pos, J in enumerate(blocks.values()):
        assert J.dtype == np.float32 and J.dense().dtype == np.float32
        np.testing.assert_allclose(J.dense(), reference[pos].dense(), rtol=1e-5, atol=1e-5)


# JAX compiles every new shape (~0.3 s each): the variants the finite differences above do not
# already pin down from two sides are cross-checked, one example each.
JAX_EINSUM = ["ii->i", "ii", "iij->j", "ij,jk", "ij,jj->i", "...i,...i", "ij,jk,kl->il", "ii,i->i"]


@pytest.mark.parametrize("example", [ex for ex in EINSUM if ex[1]["subscripts"] in JAX_EINSUM], ids=_id)
def test_einsum_matches_jax(example, jax_np):
    jax, jnp = jax_np
    operands, kwargs = example
    positions = tuple(range(len(operands)))
    ours = tj.jacobian(lambda *ops: np.einsum(kwargs["subscripts"], *ops), argnums=positions)(*operands)
    theirs = jax.jacfwd(lambda *ops: jnp.einsum(kwargs["subscripts"], *ops), argnums=positions)(*operands)
    for J, ref in zip(ours.values(), theirs):
        np.testing.assert_allclose(J.dense(), np.asarray(ref), rtol=1e-12, atol=1e-12)


def test_einsum_interleaved_form_and_optimize(rng):
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    expected = tj.jacobian(lambda B: np.einsum("ij,jk->ik", A, B))(B).dense()
    for f in (lambda B: np.einsum(A, [0, 1], B, [1, 2], [0, 2]), lambda B: np.einsum(A, [0, 1], B, [1, 2]),
              lambda B: np.einsum("ij,jk->ik", A, B, optimize=True), lambda B: np.einsum(A, [..., 1], B, [1, 2])):
        np.testing.assert_allclose(tj.jacobian(f)(B).dense(), expected, atol=1e-12)


def test_einsum_with_the_same_operand_twice(rng, fd_close):
    x = rng.standard_normal((3, 3))
    check_fd(lambda x: np.einsum("ij,jk->ik", x, x), x, fd_close=fd_close)
    check_fd(lambda x: np.einsum("ij,ij", x, x), x, fd_close=fd_close)
    check_fd(lambda x: np.einsum("ii,jj->ij", x, x), x, fd_close=fd_close)


def test_einsum_diagonal_value_does_not_alias_its_operand():
    x = np.arange(9.0).reshape(3, 3)
    d = tj.get_rule("einsum")(x, subscripts="ii->i")
    assert not np.may_share_memory(d, x)


# ---- Everything else against JAX -------------------------------------------------------------


def _cases(jnp, rng):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    v, w = rng.standard_normal(4), rng.standard_normal((2, 3, 4))
    zeros = np.array([[0.0, 2.0, 0.0], [1.5, 0.0, -3.0]])
    return [
        (lambda x: np.prod(x, axis=1), lambda x: jnp.prod(x, axis=1), (zeros,)),
        (lambda x: np.var(x, axis=-1, ddof=1), lambda x: jnp.var(x, axis=-1, ddof=1), (w,)),
        (lambda x: np.std(x, axis=(0, 2)), lambda x: jnp.std(x, axis=(0, 2)), (w,)),
        (np.cumsum, jnp.cumsum, (w,)),
        (lambda x: np.linalg.norm(x, 3), lambda x: jnp.linalg.norm(x, 3), (v,)),
        (lambda x: np.linalg.norm(x, 2), lambda x: jnp.linalg.norm(x, 2), (x,)),
        (lambda x: np.linalg.norm(x, "nuc"), lambda x: jnp.linalg.norm(x, "nuc"), (x,)),
        (np.dot, jnp.dot, (w, y)), (np.inner, jnp.inner, (w, x)),
        (lambda a, b: np.tensordot(a, b, ([2, 1], [0, 1])), lambda a, b: jnp.tensordot(a, b, ([2, 1], [0, 1])),
         (w, x.T)),
        (lambda a: np.trace(a, 1, 2, 0), lambda a: jnp.trace(a, 1, 2, 0), (w,)),
    ]


def test_reductions_and_contractions_match_jax(jax_np, rng):
    jax, jnp = jax_np
    for k, (f, g, args) in enumerate(_cases(jnp, rng)):
        args = tuple(np.asarray(a, dtype=np.float64) for a in args)
        positions = tuple(range(len(args)))
        ours = tj.jacobian(f, argnums=positions)(*args)
        theirs = jax.jacfwd(g, argnums=positions)(*args)
        for J, ref in zip(ours.values(), theirs):
            np.testing.assert_allclose(J.dense(), np.asarray(ref), rtol=1e-10, atol=1e-12, err_msg=f"case {k}")


def test_float32_in_float32_out(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    for f in (np.mean, np.prod, np.max, np.var, np.std, np.cumsum, np.linalg.norm, lambda x: np.linalg.norm(x, 2),
              np.trace, lambda x: np.dot(x, y), lambda x: np.einsum("ij,jk", x, y), lambda x: np.outer(x, y),
              lambda x: np.tensordot(x, y, 1), lambda x: np.inner(x, x)):
        value, J = tj.value_and_jacobian(f)(x)
        assert value.dtype == J.dtype == np.float32, f
        assert all(arr.dtype == np.float32 for term in J._terms for arr, _ in term.factors
                   if isinstance(arr, np.ndarray))
