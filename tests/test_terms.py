"""Labelled-factor terms (tensorjac._terms): any number of label groups, the written invariant, no aliasing."""

from __future__ import annotations

import numpy as np
import pytest

import tensorjac as tj
from tensorjac import _jacobian as JM
from tensorjac import _terms as T


def frozen(arr):
    return T.freeze(np.array(arr, dtype=np.float64))


def jac_term(J):
    (term,) = J._terms
    return term


# ---- Three label groups: a Hessian-shaped term --------------------------------------------------


def test_three_group_elementwise_second_derivative_contracts_with_a_jacobian_on_each_input_group(rng):
    # H[i, j, k] = f''(x)[i] delta[i, j] delta[i, k]: the second derivative of an elementwise map.
    n, p, q, m = 4, 3, 5, 2
    d2 = rng.normal(size=n)
    (a,) = T.fresh_labels(1)
    H = T.Term(((frozen(d2), (a,)),), ((a,), (a,), (a,)))
    T.check(H, ((n,), (n,), (n,)), np.float64)
    H_dense = T.einsum(H.factors, H.free(), T.label_sizes(H, ((n,), (n,), (n,))), np.float64)
    np.testing.assert_array_equal(H_dense, np.einsum("i,ij,ik->ijk", d2, np.eye(n), np.eye(n)))

    A, B, G = rng.normal(size=(n, p)), rng.normal(size=(n, q)), rng.normal(size=(m, n))
    JA, JB, JG = (jac_term(tj.Jacobian(M, 1)) for M in (A, B, G))

    # Input group 1 with A (n <- p), then input group 2 with B (n <- q): groups (n | p | q).
    HA = T.product(H, 1, JA, 0, (n,), np.float64)
    assert [len(g) for g in HA.groups] == [1, 1, 1]
    HAB = T.product(HA, 2, JB, 0, (n,), np.float64)
    shapes = ((n,), (p,), (q,))
    T.check(HAB, shapes, np.float64)
    got = T.einsum(HAB.factors, HAB.free(), T.label_sizes(HAB, shapes), np.float64)
    np.testing.assert_allclose(got, np.einsum("ijk,jx,ky->ixy", H_dense, A, B), rtol=1e-13)

    # The output group from the left with G (m <- n): groups (m | p | q).
    GHAB = T.product(JG, 1, HAB, 0, (n,), np.float64)
    shapes = ((m,), (p,), (q,))
    T.check(GHAB, shapes, np.float64)
    sizes = T.label_sizes(GHAB, shapes)
    got = T.einsum(GHAB.factors, GHAB.free(), sizes, np.float64)
    np.testing.assert_allclose(got, np.einsum("mi,ijk,jx,ky->mxy", G, H_dense, A, B), rtol=1e-13)

    # Compaction writes one factor in group order and keeps the numbers; merge adds like terms.
    compact = T.compact(GHAB, sizes, np.float64)
    assert len(compact.factors) == 1 and compact.factors[0][1] == compact.free()
    T.check(compact, shapes, np.float64)
    (merged,) = T.merge([compact, compact])
    np.testing.assert_allclose(merged.factors[0][0], 2 * got, rtol=1e-13)


def test_three_group_product_keeps_the_delta_between_input_groups(rng):
    # Contracting an input group with a delta Jacobian (identity) keeps H diagonal: nothing is built.
    n = 1000
    (a,) = T.fresh_labels(1)
    H = T.Term(((frozen(rng.normal(size=n)), (a,)),), ((a,), (a,), (a,)))
    I = jac_term(tj.Jacobian.identity((n,)))
    HI = T.product(H, 1, I, 0, (n,), np.float64)
    assert sum(arr.size for arr, _ in HI.factors) == n  # still one vector of n numbers
    assert HI.groups[0] == HI.groups[1] == HI.groups[2]


# ---- The invariant is checked -----------------------------------------------------------------


def good_term():
    a, b = T.fresh_labels(2)
    return T.Term(((frozen(np.ones((2, 3))), (a, b)),), ((a,), (b,)))


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda t: T.Term(t.factors, (t.groups[0], t.groups[1] + t.groups[1])), "2 labels for 1 axes"),
        (lambda t: T.Term((), ((t.groups[0][0],), (t.groups[1][0], t.groups[1][0]))), "2 labels for 1 axes"),
        (lambda t: T.Term(t.factors, (t.groups[0],)), "1 label groups"),
        (lambda t: T.Term(((frozen(np.ones((2, 4))), t.factors[0][1]),), t.groups), "has size 3 and 4"),
        (lambda t: T.Term(((frozen(np.ones((2, 3))), (t.groups[0][0], t.groups[0][0])),), t.groups), "repeats a label [rule 4]"),
        (lambda t: T.Term(((np.ones((2, 3)), t.factors[0][1]),), t.groups), "writeable"),
        (lambda t: T.Term(((T.freeze(np.ones((2, 3), np.float32)), t.factors[0][1]),), t.groups), "dtype float32"),
        (lambda t: T.Term(((frozen(np.ones(2)), t.factors[0][1]),), t.groups), "2 labels [rule 4]"),
        (lambda t: T.Term(((np.float64(1.0), ()),), t.groups), "not a numpy array"),
    ],
)
def test_check_invariants_names_the_broken_rule(mutate, fragment):
    bad = mutate(good_term())
    # Construction runs the check when the debug switch is on (it is, for the whole test suite).
    assert T.invariant_checks()
    with pytest.raises(T.InvariantError, match=__import__("re").escape(fragment)):
        JM.Jacobian._new((2,), (3,), [bad], np.float64)
    # With the switch off the broken Jacobian is built, and check_invariants() still finds it.
    old = T.set_invariant_checks(False)
    try:
        J = JM.Jacobian._new((2,), (3,), [bad], np.float64)
    finally:
        T.set_invariant_checks(old)
    with pytest.raises(T.InvariantError, match=__import__("re").escape(fragment)):
        J.check_invariants()


def test_every_constructor_and_operation_keeps_the_invariant(rng):
    x = rng.normal(size=(2, 3))
    built = [
        tj.Jacobian(x, 1),
        tj.Jacobian(x.astype(np.float32), 2),
        tj.Jacobian.identity((2, 3)),
        tj.Jacobian.diagonal(x),
        tj.Jacobian.zeros((2,), (3,)),
        tj.Jacobian.from_einsum("ai->ab|ib", x, sizes={"b": 4}),
        *tj.get_rule("softmax").jacobian(x).values(),
        *tj.get_rule("affine").jacobian(x, rng.normal(size=(3, 4)), rng.normal(size=4)).values(),
        *tj.get_rule("sum").jacobian(x, axis=0).values(),
    ]
    f32 = tj.Jacobian(rng.normal(size=(3, 3)).astype(np.float32), 1)
    built += [built[3] * 2.0, -built[3], built[3] + built[3], built[3].T, built[2].T @ built[2] @ built[3],
              f32 + tj.Jacobian.identity((3,)), f32 @ tj.Jacobian.diagonal(np.ones(3)),
              tj.chain(built[0], tj.Jacobian(rng.normal(size=(3, 5)), 1)),
              tj.chain(built[3], built[2], built[3], order="reverse")]
    for J in built:
        J.check_invariants()


# ---- No aliasing --------------------------------------------------------------------------------


def test_a_jacobian_does_not_change_when_the_callers_arrays_do(rng):
    # The arrays a Jacobian keeps are made read-only (not copied): writing into them raises.
    a = np.ones((2, 2))
    J = tj.Jacobian(a, 1)
    with pytest.raises(ValueError, match="read-only"):
        a[0, 0] = 5
    np.testing.assert_array_equal(J.dense(), np.ones((2, 2)))

    d = np.arange(3.0)
    D = tj.Jacobian.diagonal(d)
    e = np.arange(3.0)
    E = tj.Jacobian.from_einsum("a->a|a", e)
    for arr in (d, e):
        with pytest.raises(ValueError, match="read-only"):
            arr[:] = -1
    np.testing.assert_array_equal(D.dense(), np.diag([0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(E.dense(), np.diag([0.0, 1.0, 2.0]))

    # A rule keeps a view of X (d(X @ W)/dW = X delta): X itself becomes read-only.
    X, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    DW = tj.get_rule("affine").jacobian(X, W, b, argnums="W")["W"]
    before = DW.dense()
    with pytest.raises(ValueError, match="read-only"):
        X[:] = 0
    with pytest.raises(ValueError, match="read-only"):
        X += 1
    np.testing.assert_array_equal(DW.dense(), before)
    # Arrays the Jacobian does not keep stay writeable (d(X @ W)/dW keeps X, not W or b).
    assert W.flags.writeable and b.flags.writeable
    W[:] = 0


def test_a_copy_stays_writeable_and_integer_input_is_converted_not_frozen(rng):
    X = rng.normal(size=(4, 3))
    tj.get_rule("affine").jacobian(X.copy(), rng.normal(size=(3, 2)), np.zeros(2))
    X[:] = 0  # the caller's own array was not the one kept
    n = np.arange(3)
    J = tj.Jacobian.diagonal(n)  # promoted to float64: the kept array is the converted copy
    n[0] = 7
    np.testing.assert_array_equal(J.dense(), np.diag([0.0, 1.0, 2.0]))


def test_a_rules_value_kept_by_its_jacobian_is_read_only(rng):
    x = rng.normal(size=3)
    for rule in ("exp", "softmax", "tanh"):
        value, blocks = tj.get_rule(rule).value_and_jacobian(x)
        before = blocks["x"].dense()
        kept = any(np.may_share_memory(value, arr) for t in blocks["x"]._terms for arr, _ in t.factors)
        if kept:  # exp and softmax keep their value in the Jacobian: it is frozen
            with pytest.raises(ValueError, match="read-only"):
                value += 100.0
        else:  # tanh keeps 1 - value**2, a new array: the value stays writeable
            value += 100.0
        np.testing.assert_array_equal(blocks["x"].dense(), before)


def test_stored_factors_are_read_only(rng):
    X, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    blocks = tj.get_rule("affine").jacobian(X, W, b)
    for J in [*blocks.values(), tj.chain(tj.Jacobian.diagonal(np.ones(3)), tj.Jacobian(np.ones((3, 3)), 1))]:
        for term in J._terms:
            for arr, _ in term.factors:
                assert not arr.flags.writeable


def test_a_group_that_repeats_a_label_is_caught():
    a, b = T.fresh_labels(2)
    with pytest.raises(T.InvariantError, match=r"group 0 repeats a label \[rule 2\]"):
        T.check(T.Term((), ((a, a), (b,))), ((2, 2), (3,)), np.float64)
