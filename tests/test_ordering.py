"""Chain ordering, the cost model, plan reuse and structure kept through chains (issue 4).

Tests check results, chosen orders and predicted flop counts, never timings.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac import _plans
from tensorjac.ordering import ORDERS, OrderCost, matrix_chain_costs

# ---- helpers ----------------------------------------------------------------------------------


def dense_chain(rng, dims):
    """Dense Jacobians J_i of matrix view d_i x d_{i+1} (1-D out and in shapes)."""
    return [tj.Jacobian(rng.normal(size=(dims[i], dims[i + 1])), out_ndim=1) for i in range(len(dims) - 1)]


def reference(js):
    """The dense composition by np.tensordot, left to right."""
    result = js[0].dense()
    for j in js[1:]:
        result = np.tensordot(result, j.dense(), axes=len(j.out_shape))
    return result


def bracketings(i, j):
    """Every full bracketing of factors i..j."""
    if i == j:
        yield i
        return
    for s in range(i, j):
        for left in bracketings(i, s):
            for right in bracketings(s + 1, j):
                yield (left, right)


def bracketing_cost(dims, path):
    """(flops, largest) of a bracketing, counted independently of tensorjac.ordering."""
    if isinstance(path, int):
        return 0, 0, path, path
    f1, l1, a, b = bracketing_cost(dims, path[0])
    f2, l2, c, d = bracketing_cost(dims, path[1])
    rows, inner, cols = dims[a], dims[b + 1], dims[d + 1]
    return f1 + f2 + 2 * rows * inner * cols, max(l1, l2, rows * cols), a, d


# ---- the cost model: hand-computed numbers ----------------------------------------------------


def test_matrix_chain_costs_hand_computed():
    # A 2x3, B 3x4, C 4x5.  forward: B C (2*3*4*5 = 120 flops, 3x5), then A (BC) (2*2*3*5 = 60).
    # reverse: A B (2*2*3*4 = 48, 2x4), then (AB) C (2*2*4*5 = 80).
    costs = matrix_chain_costs((2, 3, 4, 5))
    assert costs["forward"] == OrderCost(180, 15, (0, (1, 2)))
    assert costs["reverse"] == OrderCost(128, 10, ((0, 1), 2))
    assert costs["optimal"] == OrderCost(128, 10, ((0, 1), 2))


def test_matrix_chain_costs_textbook_example():
    # A 10x100, B 100x5, C 5x50: (AB)C = 2*(10*100*5 + 10*5*50) = 15000, A(BC) = 2*(100*5*50 + 10*100*50).
    costs = matrix_chain_costs((10, 100, 5, 50))
    assert costs["reverse"].flops == 15000
    assert costs["forward"].flops == 150000
    assert costs["optimal"] == costs["reverse"]


def test_gradient_chain_costs_hand_computed():
    # A cotangent 1x3 in front of 3x4 and 4x5: reverse is backpropagation.
    costs = matrix_chain_costs((1, 3, 4, 5))
    assert costs["reverse"] == OrderCost(2 * 1 * 3 * 4 + 2 * 1 * 4 * 5, 5, ((0, 1), 2))
    assert costs["forward"] == OrderCost(2 * 3 * 4 * 5 + 2 * 1 * 3 * 5, 15, (0, (1, 2)))
    assert costs["optimal"].path == ((0, 1), 2)


def test_single_matrix_costs_nothing():
    assert matrix_chain_costs((3, 4))["optimal"] == OrderCost(0, 0, 0)


@pytest.mark.parametrize("seed", range(12))
def test_dynamic_program_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    dims = tuple(int(d) for d in rng.integers(1, 40, size=n + 1))
    costs = matrix_chain_costs(dims)
    best = min(bracketing_cost(dims, path)[0] for path in bracketings(0, n - 1))
    assert costs["optimal"].flops == best
    flops, largest, _, _ = bracketing_cost(dims, costs["optimal"].path)
    assert (flops, largest) == (costs["optimal"].flops, costs["optimal"].largest_intermediate)
    for order in ("forward", "reverse"):
        assert costs[order][:2] == bracketing_cost(dims, costs[order].path)[:2]
        assert costs["optimal"].flops <= costs[order].flops


def test_hourglass_picks_the_dynamic_programming_bracketing():
    # Widths 2048-8-2048-8-2048: the arrays (2048 x 8 and 8 x 2048) are small; nothing is run.
    rng = np.random.default_rng(0)
    dims = (2048, 8, 2048, 8, 2048)
    js = dense_chain(rng, dims)
    costs = tj.chain_cost(*js)
    best = min(bracketing_cost(dims, path)[0] for path in bracketings(0, 3))
    assert costs["optimal"].flops == best == 2 * 8 * 2048 * 8 + 2 * 8 * 8 * 2048 + 2 * 2048 * 8 * 2048
    assert costs["optimal"].path == (0, ((1, 2), 3))
    # Pure forward and pure reverse both build a 2048 x 2048 intermediate and pay 3 big products.
    assert costs["forward"].flops == costs["reverse"].flops == 3 * 2 * 2048 * 8 * 2048
    assert costs["optimal"].flops < min(costs["forward"].flops, costs["reverse"].flops)
    assert costs == matrix_chain_costs(dims)


def test_chain_cost_of_plain_arrays_uses_the_link_axes():
    A, B, C = np.ones((2, 3, 4)), np.ones((4, 5)), np.ones((5, 6, 2))
    # Matrix views: 6 x 4, 4 x 5, 5 x 12.
    assert tj.chain_cost(A, B, C) == matrix_chain_costs((6, 4, 5, 12))


def test_chain_cost_of_structured_chain_hand_computed():
    # Three diagonals of size 5: two elementwise products of 5 entries in every order.
    ds = [tj.Jacobian.diagonal(np.arange(1.0, 6.0) + k) for k in range(3)]
    costs = tj.chain_cost(*ds)
    assert costs["optimal"] == OrderCost(10, 5, (0, 1, 2))
    assert costs["forward"] == OrderCost(10, 5, (0, (1, 2)))
    assert costs["reverse"] == OrderCost(10, 5, ((0, 1), 2))


def test_chain_cost_of_structured_chain_hand_computed_tanh_network():
    # d2 W2 d1 W1 as one contraction "a,ab,b,bc->ac": scale two n x n factors by the diagonals
    # (n^2 flops each), then one n x n x n product (2 n^3).  opt_einsum's "optimal" path for this
    # equation builds an n^3 outer product instead (dgasmith/opt_einsum#167): not used.
    rng = np.random.default_rng(1)
    n = 7
    W1, W2, d1, d2 = rng.normal(size=(n, n)), rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n)
    js = [tj.Jacobian.diagonal(d2), tj.Jacobian(W2, 1), tj.Jacobian.diagonal(d1), tj.Jacobian(W1, 1)]
    costs = tj.chain_cost(*js)
    assert costs["optimal"] == OrderCost(2 * n**3 + 2 * n**2, n * n, (0, 1, 2, 3))
    expected = (d2[:, None] * W2) @ (d1[:, None] * W1)
    for order in ORDERS:
        np.testing.assert_allclose(tj.chain(*js, order=order).dense(), expected, rtol=1e-12)


def test_chain_cost_dry_run_computes_nothing_and_matches_the_run():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4))
    J_softmax = tj.get_rule("softmax").jacobian(x)["x"]
    J_tanh = tj.get_rule("tanh").jacobian(x)["x"]
    J_dense = tj.Jacobian(rng.normal(size=(3, 4, 3, 4)), out_ndim=2)
    js = [J_softmax, J_tanh, J_dense]
    costs = tj.chain_cost(*js)
    for order in ORDERS:
        with _plans.recording() as record:
            tj.chain(*js, order=order)
        assert (record.flops, record.largest) == costs[order][:2]
        assert costs[order].flops > 0


def test_chain_cost_validates_like_chain():
    A = tj.Jacobian(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="in_shape"):
        tj.chain_cost(A, A)
    with pytest.raises(ValueError, match="not a mix"):
        tj.chain_cost(A, np.ones((3, 2)))
    with pytest.raises(ValueError, match="at least one"):
        tj.chain_cost()
    assert tj.chain_cost(A)["optimal"] == OrderCost(0, 0, 0)


# ---- chain: orders give equal results ---------------------------------------------------------


def test_unknown_order_lists_the_valid_ones():
    A = tj.Jacobian(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="'optimal', 'forward', 'reverse'"):
        tj.chain(A, A, order="sideways")


@pytest.mark.parametrize("dims", [(3, 5, 2, 7, 4), (1, 6, 6, 6), (6, 6, 6, 1), (4, 2, 9, 2, 4), (5, 5)])
def test_dense_orders_agree(rng, dims):
    js = dense_chain(rng, dims)
    ref = reference(js)
    for order in ORDERS:
        result = tj.chain(*js, order=order)
        assert result.shape == ref.shape
        np.testing.assert_allclose(result.dense(), ref, rtol=1e-12, atol=1e-12)


def test_dense_chain_with_tensor_shapes_and_transposed_factors(rng):
    A = tj.Jacobian(rng.normal(size=(2, 3, 4)), out_ndim=1)  # (2,) <- (3, 4)
    B = tj.Jacobian(rng.normal(size=(5, 3, 4)), out_ndim=1).T  # (3, 4) <- (5,)
    C = tj.Jacobian(rng.normal(size=(5, 2, 2)), out_ndim=1)  # (5,) <- (2, 2)
    assert B.is_dense
    ref = reference([A, B, C])
    for order in ORDERS:
        result = tj.chain(A, B, C, order=order)
        assert (result.out_shape, result.in_shape) == ((2,), (2, 2))
        np.testing.assert_allclose(result.dense(), ref, rtol=1e-12, atol=1e-12)


def test_mixed_precision_chain_promotes(rng):
    A = tj.Jacobian(rng.normal(size=(3, 4)).astype(np.float32), 1)
    B = tj.Jacobian(rng.normal(size=(4, 2)), 1)
    for order in ORDERS:
        assert tj.chain(A, B, order=order).dtype == np.float64


def _structured_chain(rng):
    """softmax o affine(., V) o tanh o affine(., W): structured blocks of a small network."""
    X, W, V = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(5, 2))
    A, D1 = tj.get_rule("matmul").value_and_jacobian(X, W, argnums="x1")
    H, D2 = tj.get_rule("tanh").value_and_jacobian(A)
    Z, D3 = tj.get_rule("matmul").value_and_jacobian(H, V, argnums="x1")
    _, D4 = tj.get_rule("softmax").value_and_jacobian(Z)
    return [D4["x"], D3["x1"], D2["x"], D1["x1"]]


def test_structured_orders_agree(rng):
    js = _structured_chain(rng)
    ref = reference(js)
    for order in ORDERS:
        np.testing.assert_allclose(tj.chain(*js, order=order).dense(), ref, rtol=1e-12, atol=1e-13)


def test_structured_chain_with_cotangent_in_front(rng):
    js = _structured_chain(rng)
    u = tj.Jacobian(rng.normal(size=js[0].out_shape), out_ndim=0)
    ref = reference([u] + js)
    for order in ORDERS:
        result = tj.chain(u, *js, order=order)
        assert result.out_shape == () and result.in_shape == js[-1].in_shape
        np.testing.assert_allclose(result.dense(), ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(tj.chain_vjp(js, u.dense()), ref, rtol=1e-12, atol=1e-13)


def test_many_multi_term_factors_fall_back_to_step_by_step(rng):
    # Seven softmax Jacobians (2 terms each) would make 128 lazy terms: chain goes step by step.
    x = rng.normal(size=4)
    js = [tj.get_rule("softmax").jacobian(x + k)["x"] for k in range(7)]
    ref = reference(js)
    costs = tj.chain_cost(*js)
    assert costs["optimal"].path in (costs["forward"].path, costs["reverse"].path)
    np.testing.assert_allclose(tj.chain(*js).dense(), ref, rtol=1e-12, atol=1e-15)


def test_dense_products_over_the_budget_stay_factored(rng):
    js = dense_chain(rng, (64, 2, 64))  # the 64 x 64 product would be 32 KiB
    old = tj.set_dense_budget(4096)
    try:
        result = tj.chain(*js)
        assert not result.is_dense  # left as the low-rank pair of factors
        costs = tj.chain_cost(*js)
        assert costs["optimal"].flops == 0  # nothing was contracted
    finally:
        tj.set_dense_budget(old)
    np.testing.assert_allclose(result.dense(), reference(js), rtol=1e-12)


def test_chain_of_one_returns_it():
    A = tj.Jacobian(np.ones((2, 3)), 1)
    assert tj.chain(A) is A


def test_chain_checks_links():
    A = tj.Jacobian(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match=r"factor 0 has in_shape \(3,\) but factor 1 has out_shape \(2,\)"):
        tj.chain(A, A)
    with pytest.raises(ValueError, match="not a mix"):
        tj.chain(A, np.ones((3, 2)))
    with pytest.raises(ValueError, match="axes is for chains of plain arrays"):
        tj.chain(A, tj.Jacobian(np.ones((3, 2)), 1), axes=1)


# ---- chains of plain arrays ---------------------------------------------------------------------


def test_plain_array_chain_infers_the_links(rng):
    A, B, C = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(5, 6, 2))
    ref = np.tensordot(np.tensordot(A, B, 1), C, 1)
    for order in ORDERS:
        result = tj.chain(A, B, C, order=order)
        assert isinstance(result, np.ndarray)
        np.testing.assert_allclose(result, ref, rtol=1e-12)


def test_plain_array_chain_with_explicit_axes(rng):
    A, B, C = rng.normal(size=(3, 3)), rng.normal(size=(3, 3, 3, 3)), rng.normal(size=(3, 3, 3))
    with pytest.raises(ValueError, match="cannot tell"):
        tj.chain(A, B, C)  # links of 1 and 3 axes, or of 2 and 2, both fit
    ref = np.tensordot(np.tensordot(A, B, 1), C, 3)
    np.testing.assert_allclose(tj.chain(A, B, C, axes=[1, 3]), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="does not fit"):
        tj.chain(A, B, C, axes=1)


# ---- plans are reused ----------------------------------------------------------------------------


def test_plan_cache_is_hit_on_the_second_contraction(rng):
    _plans.plan.cache_clear()
    X, W = rng.normal(size=(5, 4)), rng.normal(size=(4, 3))
    J1 = tj.get_rule("matmul").jacobian(X, W)["x2"]
    J2 = tj.Jacobian(rng.normal(size=(2, 5, 3)), out_ndim=1)
    tj.contract(J2, J1)
    first = _plans.plan.cache_info()
    assert first.misses >= 1
    # Same shapes, new numbers: planned once, reused.
    J1b = tj.get_rule("matmul").jacobian(rng.normal(size=(5, 4)), W)["x2"]
    J2b = tj.Jacobian(rng.normal(size=(2, 5, 3)), out_ndim=1)
    result = tj.contract(J2b, J1b)
    second = _plans.plan.cache_info()
    assert second.misses == first.misses
    assert second.hits > first.hits
    np.testing.assert_allclose(result.dense(), np.tensordot(J2b.dense(), J1b.dense(), 2), rtol=1e-12)


def test_plan_cache_is_shared_by_plain_array_contractions(rng):
    _plans.plan.cache_clear()
    tj.contract(rng.normal(size=(6, 7)), rng.normal(size=(7, 8)))
    misses = _plans.plan.cache_info().misses
    tj.contract(rng.normal(size=(6, 7)), rng.normal(size=(7, 8)))
    info = _plans.plan.cache_info()
    assert info.misses == misses and info.hits >= 1


def test_dense_chain_orders_are_planned_once():
    from tensorjac._chains import _dense_program

    _dense_program.cache_clear()
    rng = np.random.default_rng(3)
    js = dense_chain(rng, (4, 3, 5, 2))
    tj.chain(*js)
    tj.chain(*dense_chain(rng, (4, 3, 5, 2)))
    info = _dense_program.cache_info()
    assert (info.misses, info.hits) == (1, 1)


@pytest.mark.parametrize(
    "eq, shapes",
    [
        ("ab,bc->ac", [(3, 4), (4, 5)]),
        ("ab,bc->ca", [(3, 4), (4, 5)]),
        ("abc,acd->abd", [(20, 17, 16), (20, 16, 18)]),  # batched matmul path
        ("ab,ab->a", [(6, 5), (6, 5)]),
        ("a,b->ab", [(3,), (4,)]),
        ("ab,c->c", [(2, 3), (4,)]),  # a sum over an operand's own axes
        ("aa->a", [(3, 3)]),
        ("ab->ba", [(3, 2)]),
        (",ab->ab", [(), (2, 3)]),
        ("ab,bc,cd,d->a", [(2, 3), (3, 4), (4, 5), (5,)]),
        ("abc,cb,ad->db", [(2, 3, 4), (4, 3), (2, 5)]),
    ],
)
def test_compiled_plans_equal_einsum(rng, eq, shapes):
    arrays = [rng.normal(size=s) for s in shapes]
    planned = _plans.plan(eq, tuple(tuple(s) for s in shapes))
    np.testing.assert_allclose(planned(*arrays), np.einsum(eq, *arrays), rtol=1e-12, atol=1e-12)
    # Non-contiguous operands too.
    strided = [np.asfortranarray(a) for a in arrays]
    np.testing.assert_allclose(planned(*strided), np.einsum(eq, *arrays), rtol=1e-12, atol=1e-12)


# ---- structure kept end to end -----------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_chain_of_elementwise_jacobians_stays_diagonal(rng, order):
    x = rng.normal(size=(4, 3))
    e, De = tj.get_rule("exp").value_and_jacobian(x)
    s, Ds = tj.get_rule("sin").value_and_jacobian(e)
    _, Dt = tj.get_rule("tanh").value_and_jacobian(s)
    J = tj.chain(Dt["x"], Ds["x"], De["x"], order=order)
    assert repr(J).count("->ab|ab") == 1 and "+" not in repr(J)  # one diagonal term
    assert J.nbytes == x.size * 8  # one number per entry of x, not x.size**2
    expected = (1 - np.tanh(s) ** 2) * np.cos(e) * e
    np.testing.assert_allclose(np.einsum("abab->ab", J.dense()), expected, rtol=1e-13)
    np.testing.assert_allclose(J.dense(), reference([Dt["x"], Ds["x"], De["x"]]), rtol=1e-13)


def test_softmax_of_affine_keeps_its_factored_form(rng):
    X, W, b = rng.normal(size=(6, 5)), rng.normal(size=(5, 4)), rng.normal(size=4)
    Z, D_affine = tj.get_rule("affine").value_and_jacobian(X, W, b)
    _, D_softmax = tj.get_rule("softmax").value_and_jacobian(Z)
    for block in ("X", "W", "b"):
        J = tj.contract(D_softmax["x"], D_affine[block])
        if block != "b":  # d/db is (N, k, k): small either way
            assert J.nbytes < J.size * 8 / 3, (block, repr(J))
        ref = np.tensordot(D_softmax["x"].dense(), D_affine[block].dense(), 2)
        np.testing.assert_allclose(J.dense(), ref, rtol=1e-12, atol=1e-14)


def test_affine_chain_keeps_deltas(rng):
    # d(tanh(X W))/dW: a diagonal times X (x) I -- no N*k*d*k array is ever stored.
    X, W = rng.normal(size=(30, 20)), rng.normal(size=(20, 10))
    A, D1 = tj.get_rule("matmul").value_and_jacobian(X, W, argnums="x2")
    _, D2 = tj.get_rule("tanh").value_and_jacobian(A)
    for order in ORDERS:
        J = tj.chain(D2["x"], D1["x2"], order=order)
        assert J.nbytes <= (X.size + A.size) * 8
        assert J.size == 30 * 10 * 20 * 10


def test_vjp_and_jvp_through_a_chain_never_build_a_dense_jacobian(rng):
    # Every Jacobian here is bigger than the budget when dense; the cotangent/tangent never are.
    X, W, V = rng.normal(size=(40, 30)), rng.normal(size=(30, 20)), rng.normal(size=(20, 10))
    A, D1 = tj.get_rule("matmul").value_and_jacobian(X, W, argnums="x2")
    H, D2 = tj.get_rule("logit").value_and_jacobian(A)
    Z, D3 = tj.get_rule("matmul").value_and_jacobian(H, V, argnums="x1")
    js = [D3["x1"], D2["x"], D1["x2"]]
    u, v = rng.normal(size=Z.shape), rng.normal(size=W.shape)
    # Reference by hand: backpropagation and forward mode.
    g_A = (u @ V.T) * H * (1 - H)
    grad_W = X.T @ g_A
    tangent_out = ((X @ v) * H * (1 - H)) @ V
    old = tj.set_dense_budget(64 * 1024)
    try:
        np.testing.assert_allclose(tj.chain_vjp(js, u), grad_W, rtol=1e-12)
        np.testing.assert_allclose(tj.chain_jvp(js, v), tangent_out, rtol=1e-12)
        with pytest.raises(MemoryError):
            D1["x2"].dense()
    finally:
        tj.set_dense_budget(old)


def test_vjp_through_a_chain_is_one_step_per_jacobian(rng):
    # The cotangent stays dense and small: each step contracts it with one Jacobian's factors.
    X, W = rng.normal(size=(8, 6)), rng.normal(size=(6, 4))
    A, D1 = tj.get_rule("matmul").value_and_jacobian(X, W, argnums="x2")
    _, D2 = tj.get_rule("exp").value_and_jacobian(A)
    u = rng.normal(size=A.shape)
    with _plans.recording() as record:
        tj.chain_vjp([D2["x"], D1["x2"]], u)
    # exp: u * e^A (32 flops); matmul: X^T (u e^A) is a 6x8 by 8x4 product (2*6*8*4 flops).
    assert record.flops == A.size + 2 * 6 * 8 * 4


def test_vjp_jvp_check_the_chain():
    A = tj.Jacobian(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="in_shape"):
        tj.chain_vjp([A, A], np.ones(2))
    with pytest.raises(ValueError, match="not a tensorjac.Jacobian"):
        tj.chain_jvp([A, np.ones((3, 3))], np.ones(3))
    with pytest.raises(ValueError, match="cotangent has shape"):
        tj.chain_vjp([A], np.ones(3))
    with pytest.raises(ValueError, match="non-empty"):
        tj.chain_vjp([], np.ones(3))


def test_vjp_of_zero_and_multi_term_jacobians(rng):
    Z = tj.Jacobian.zeros((2,), (3,))
    np.testing.assert_array_equal(tj.chain_vjp(Z, np.ones(2)), np.zeros(3))
    np.testing.assert_array_equal(tj.chain_jvp(Z, np.ones(3)), np.zeros(2))
    x = rng.normal(size=(2, 3))
    S = tj.get_rule("softmax").jacobian(x)["x"]
    u = rng.normal(size=x.shape)
    np.testing.assert_allclose(tj.chain_vjp(S, u), np.tensordot(u, S.dense(), 2), rtol=1e-12)
    np.testing.assert_allclose(tj.chain_jvp(S, u), np.tensordot(S.dense(), u, 2), rtol=1e-12)


def test_chain_cost_is_exported():
    assert "chain_cost" in tj.__all__ and tj.chain_cost is tj._chains.chain_cost


def test_plans_never_write_into_the_callers_arrays(rng):
    # Big enough for the in-place product of intermediates; the inputs must stay untouched.
    cases = [
        ("ab,cb,ac->ac", [(64, 3), (80, 3), (64, 80)]),
        ("ba,ab,ab->ab", [(70, 60), (60, 70), (60, 70)]),  # a transposed view is not owned
        ("abc,ab->ab", [(60, 70, 2), (60, 70)]),
    ]
    for eq, shapes in cases:
        arrays = [rng.normal(size=s) for s in shapes]
        copies = [a.copy() for a in arrays]
        planned = _plans.plan(eq, tuple(shapes))
        for _ in range(2):
            np.testing.assert_allclose(planned(*arrays), np.einsum(eq, *copies), rtol=1e-12, atol=1e-12)
        for a, c in zip(arrays, copies):
            np.testing.assert_array_equal(a, c)


def test_vjp_jvp_return_new_arrays():
    u = np.arange(3.0)
    for fn in (tj.chain_vjp, tj.chain_jvp):
        out = fn([tj.Jacobian.identity((3,)), tj.Jacobian.identity((3,))], u)
        np.testing.assert_array_equal(out, u)
        assert not np.shares_memory(out, u)


def test_plan_costs_are_opt_einsums_count_and_never_worse_than_greedy():
    import opt_einsum as oe

    rng = np.random.default_rng(5)
    letters = "abcdefg"
    for _ in range(200):
        sizes = {c: int(rng.choice([1, 2, 3, 5, 7])) for c in letters}
        ops = ["".join(dict.fromkeys(rng.choice(list(letters), size=int(rng.integers(0, 4))))) for _ in range(int(rng.integers(1, 7)))]
        present = sorted(set("".join(ops)))
        out = "".join(rng.permutation(present)[: int(rng.integers(0, len(present) + 1))])
        eq = ",".join(ops) + "->" + out
        shapes = tuple(tuple(sizes[c] for c in op) for op in ops)
        planned = _plans.plan(eq, shapes)
        _, info = oe.contract_path(eq, *shapes, shapes=True, optimize=planned.path)
        assert (planned.flops, planned.largest) == (info.opt_cost, info.largest_intermediate), eq
        _, greedy = oe.contract_path(eq, *shapes, shapes=True, optimize="greedy")
        assert planned.flops <= greedy.opt_cost, eq


def test_dense_returns_an_array_the_caller_owns(rng):
    W = rng.normal(size=(3, 4))
    cases = [
        tj.Jacobian(W, 1),  # one stored factor, returned as is by the contraction
        tj.Jacobian(W, 1).T,  # a transposed view of it
        tj.Jacobian.diagonal(np.arange(1.0, 4.0)),  # a delta: a fresh array
        tj.chain(tj.Jacobian.diagonal(np.arange(1.0, 4.0)), tj.Jacobian(W, 1)),  # a fresh product
        tj.Jacobian.from_einsum("a->ab|b", np.arange(3.0), sizes={"b": 2}),  # broadcast constant axis
    ]
    for J in cases:
        stored = [arr.copy() for term in J._terms for arr, _ in term.factors]
        D = J.dense()
        assert D.flags.c_contiguous and D.flags.writeable and D.shape == J.shape and D.dtype == J.dtype
        expected = D.copy()
        D += 1.0  # writing into the result must not change the Jacobian
        np.testing.assert_array_equal(J.dense(), expected)
        for arr, before in zip((arr for term in J._terms for arr, _ in term.factors), stored):
            np.testing.assert_array_equal(arr, before)
