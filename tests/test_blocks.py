"""Blocks and the block chain rule of note 001, against finite differences of the composition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tensorjac as tj
from tensorjac import Blocks, Jacobian, compose

rule = tj.get_rule

# ---- Building blocks for phi(V, W, X, Y) = h(f(V, W), g(X, Y)) ------------------------------
#
# Each candidate is (argument shapes, value function, blocks function).  f and g map to (2, 4);
# h maps (F, G), both (2, 4), to a scalar, a vector or a matrix.  Chains inside a candidate
# (softmax(X + Y), logit(V @ W), ...) are themselves assembled with compose, so the block chain
# rule is exercised at two levels.  Arguments of maximum are kept away from ties.


def _logit_matmul_blocks(V, W):
    Z = rule("matmul")(V, W)
    return compose(tj.get_rule("logit").jacobian(Z, names=("Z",)), {"Z": tj.get_rule("matmul").jacobian(V, W, names=("V", "W"))})


F_CANDIDATES = {
    "matmul": ({"V": (2, 3), "W": (3, 4)}, lambda V, W: rule("matmul")(V, W),
               lambda V, W: tj.get_rule("matmul").jacobian(V, W, names=("V", "W"))),
    "multiply": ({"V": (2, 4), "W": (4,)}, lambda V, W: rule("multiply")(V, W),
                 lambda V, W: tj.get_rule("multiply").jacobian(V, W, names=("V", "W"))),
    "affine": ({"V": (2, 3), "W": (3, 4)}, lambda V, W: rule("affine")(V, W, np.linspace(-1, 1, 4)),
               lambda V, W: tj.get_rule("affine").jacobian(V, W, np.linspace(-1, 1, 4), argnums=("V", "W"),
                                        names=("V", "W", "b"))),
    "maximum": ({"V": (2, 4), "W": (1, 4)}, lambda V, W: rule("maximum")(V, W),
                lambda V, W: tj.get_rule("maximum").jacobian(V, W, names=("V", "W"))),
    "logit(matmul)": ({"V": (2, 3), "W": (3, 4)}, lambda V, W: rule("logit")(rule("matmul")(V, W)),
                      _logit_matmul_blocks),
}


def _softmax_add_blocks(X, Y):
    S = rule("add")(X, Y)
    return compose(tj.get_rule("softmax").jacobian(S, names=("S",)), {"S": tj.get_rule("add").jacobian(X, Y, names=("X", "Y"))})


def _tanh_maximum_blocks(X, Y):
    M = rule("maximum")(X, Y)
    return compose(tj.get_rule("tanh").jacobian(M, names=("M",)), {"M": tj.get_rule("maximum").jacobian(X, Y, names=("X", "Y"))})


def _exp_subtract_blocks(X, Y):
    D = rule("subtract")(X, Y)
    return compose(tj.get_rule("exp").jacobian(D, names=("D",)), {"D": tj.get_rule("subtract").jacobian(X, Y, names=("X", "Y"))})


G_CANDIDATES = {
    "softmax(add)": ({"X": (2, 4), "Y": (4,)}, lambda X, Y: rule("softmax")(rule("add")(X, Y)), _softmax_add_blocks),
    "tanh(maximum)": ({"X": (2, 4), "Y": (2, 1)}, lambda X, Y: np.tanh(rule("maximum")(X, Y)), _tanh_maximum_blocks),
    "exp(subtract)": ({"X": (2, 4), "Y": ()}, lambda X, Y: np.exp(rule("subtract")(X, Y)), _exp_subtract_blocks),
    "divide": ({"X": (2, 4), "Y": (2, 4)}, lambda X, Y: rule("divide")(X, Y),
               lambda X, Y: tj.get_rule("divide").jacobian(X, Y, names=("X", "Y"))),
}


def _h_cross_entropy(F, G):
    """cross_entropy(softmax(G), logit(F)): a scalar loss, as in the network of note 001."""
    return rule("cross_entropy")(rule("softmax")(G), rule("logit")(F))


def _h_cross_entropy_blocks(F, G):
    P, Q = rule("softmax")(G), rule("logit")(F)
    return compose(
        tj.get_rule("cross_entropy").jacobian(P, Q),
        {"P": tj.get_rule("softmax").jacobian(G, names=("G",)), "Q": tj.get_rule("logit").jacobian(F, names=("F",))},
    )


def _h_row_sums(F, G):
    """sum(F * G, axis=1): a vector output."""
    return rule("sum")(rule("multiply")(F, G), axis=1)


def _h_row_sums_blocks(F, G):
    M = rule("multiply")(F, G)
    return compose(tj.get_rule("sum").jacobian(M, axis=1, names=("M",)), {"M": tj.get_rule("multiply").jacobian(F, G, names=("F", "G"))})


def _h_gated(F, G):
    """F * tanh(G): a matrix output."""
    return rule("multiply")(F, np.tanh(G))


def _h_gated_blocks(F, G):
    T = rule("tanh")(G)
    return compose(tj.get_rule("multiply").jacobian(F, T, names=("F", "T")), {"T": tj.get_rule("tanh").jacobian(G, names=("G",))})


H_CANDIDATES = {
    "cross_entropy": (_h_cross_entropy, _h_cross_entropy_blocks),
    "row_sums": (_h_row_sums, _h_row_sums_blocks),
    "gated": (_h_gated, _h_gated_blocks),
}


def _draw(rng, shapes, avoid_ties=None):
    """Arguments in [-1.5, 1.5] (a divisor in +-[0.5, 1.5]); redraw while maximum would be near a tie."""
    while True:
        args = {name: rng.uniform(-1.5, 1.5, size=shape) for name, shape in shapes.items()}
        if avoid_ties is None or np.min(np.abs(args[avoid_ties[0]] - args[avoid_ties[1]])) > 0.1:
            return args


COMBOS = list(itertools.product(F_CANDIDATES, G_CANDIDATES, H_CANDIDATES))


@pytest.mark.parametrize("f_name, g_name, h_name", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_block_chain_rule_matches_finite_differences(f_name, g_name, h_name, blocks_match_numeric):
    """D_V phi = c(D_F h, D_V f), D_X phi = c(D_G h, D_X g), ... for phi = h(f(V, W), g(X, Y))."""
    rng = np.random.default_rng(sum(map(ord, f_name + g_name + h_name)))
    f_shapes, f, f_blocks = F_CANDIDATES[f_name]
    g_shapes, g, g_blocks = G_CANDIDATES[g_name]
    h, h_blocks = H_CANDIDATES[h_name]
    VW = _draw(rng, f_shapes, ("V", "W") if f_name == "maximum" else None)
    XY = _draw(rng, g_shapes, ("X", "Y") if g_name == "tanh(maximum)" else None)
    if g_name == "divide":
        XY["Y"] = np.sign(XY["Y"]) * (0.5 + np.abs(XY["Y"]) * 2 / 3)
    V, W, X, Y = VW["V"], VW["W"], XY["X"], XY["Y"]

    def phi(V, W, X, Y):
        return h(f(V, W), g(X, Y))

    F, G = f(V, W), g(X, Y)
    Dh = h_blocks(F, G)
    Df, Dg = f_blocks(V, W), g_blocks(X, Y)
    assert set(Dh.names) == {"F", "G"} and Df.out_shape == F.shape and Dg.out_shape == G.shape
    Dphi = compose(Dh, {"F": Df, "G": Dg})
    assert set(Dphi.names) == {"V", "W", "X", "Y"}
    assert Dphi.out_shape == phi(V, W, X, Y).shape
    blocks_match_numeric(Dphi, tj.numerical_jacobian(phi, V, W, X, Y), f"{f_name}/{g_name}/{h_name}")


def test_compose_is_the_contraction_of_note_001(rng):
    """Each composed block is exactly contract(D_F h, D_V f) (no other term for a variable on one path)."""
    V, W, X, Y = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=4)
    F, G = V @ W, rule("softmax")(X + Y)
    Dh, Df, Dg = _h_cross_entropy_blocks(F, G), tj.get_rule("matmul").jacobian(V, W, names=("V", "W")), _softmax_add_blocks(X, Y)
    Dphi = compose(Dh, {"F": Df, "G": Dg})
    for var, outer, inner in (("V", "F", Df), ("W", "F", Df), ("X", "G", Dg), ("Y", "G", Dg)):
        expected = np.tensordot(Dh[outer].dense(), inner[var].dense(), axes=2)
        np.testing.assert_allclose(Dphi[var].dense(), expected, rtol=1e-13, atol=1e-15)


# ---- A variable that reaches the output along several paths -------------------------------


def test_shared_variable_feeding_two_intermediates(rng, blocks_match_numeric):
    """phi(V, W) = h(f(V, W), g(V)): D_V phi = c(D_F h, D_V f) + c(D_G h, D_V g)."""
    V, W = rng.uniform(-1.5, 1.5, size=(2, 4)), rng.uniform(-1.5, 1.5, size=4)

    def phi(V, W):
        return _h_cross_entropy(V * W, np.tanh(V))

    F, G = V * W, np.tanh(V)
    Df = tj.get_rule("multiply").jacobian(V, W, names=("V", "W"))
    Dg = tj.get_rule("tanh").jacobian(V, names=("V",))
    Dh = _h_cross_entropy_blocks(F, G)
    Dphi = compose(Dh, {"F": Df, "G": Dg})
    assert set(Dphi.names) == {"V", "W"}
    blocks_match_numeric(Dphi, tj.numerical_jacobian(phi, V, W), "shared V")
    # the V block is the sum of both paths, and neither path alone is right
    via_f = tj.contract(Dh["F"], Df["V"]).dense()
    via_g = tj.contract(Dh["G"], Dg["V"]).dense()
    np.testing.assert_allclose(Dphi["V"].dense(), via_f + via_g, rtol=1e-13, atol=1e-15)
    assert not np.allclose(Dphi["V"].dense(), via_f) and not np.allclose(Dphi["V"].dense(), via_g)


def test_shared_variable_with_different_intermediate_shapes(rng, blocks_match_numeric):
    """phi(V, W) = sum(V @ W, axis=1) + sum(exp(V), axis=1), V (2, 3), W (3, 4): a vector output."""
    V, W = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))

    def phi(V, W):
        return np.sum(V @ W, axis=1) + np.sum(np.exp(V), axis=1)

    F, G = V @ W, np.exp(V)
    SF, SG = F.sum(1), G.sum(1)
    Dh = compose(
        tj.get_rule("add").jacobian(SF, SG, names=("SF", "SG")),
        {"SF": tj.get_rule("sum").jacobian(F, axis=1, names=("F",)), "SG": tj.get_rule("sum").jacobian(G, axis=1, names=("G",))},
    )
    Dphi = compose(Dh, {"F": tj.get_rule("matmul").jacobian(V, W, names=("V", "W")), "G": tj.get_rule("exp").jacobian(V, names=("V",))})
    blocks_match_numeric(Dphi, tj.numerical_jacobian(phi, V, W), "sum of two paths")


def test_variable_that_is_both_a_leaf_and_an_intermediate_input(rng, blocks_match_numeric):
    """phi(V, W) = h(f(V, W), V) with h(F, V) = F * sin(V): the leaf block of h and the path add up."""
    V, W = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))

    def phi(V, W):
        return (V * W) * np.sin(V)

    F, S = V * W, np.sin(V)
    Dh = compose(tj.get_rule("multiply").jacobian(F, S, names=("F", "S")), {"S": tj.get_rule("sin").jacobian(V, names=("V",))})
    assert set(Dh.names) == {"F", "V"}
    Dphi = compose(Dh, {"F": tj.get_rule("multiply").jacobian(V, W, names=("V", "W"))})
    blocks_match_numeric(Dphi, tj.numerical_jacobian(phi, V, W), "leaf and path")


def test_deeper_composition_of_compositions(rng, blocks_match_numeric):
    """The one-hidden-layer network loss of note 001, cross_entropy(Y, softmax(logit(X W + b) V + c)),
    assembled layer by layer with compose, against finite differences in (W, b, V, c)."""
    X, W, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    V, c = rng.normal(size=(5, 2)), rng.normal(size=2)
    Y = np.eye(2)[[0, 1, 1]]

    def loss(W, b, V, c):
        H = rule("logit")(rule("affine")(X, W, b))
        return rule("cross_entropy")(Y, rule("softmax")(rule("affine")(H, V, c)))

    A1 = rule("affine")(X, W, b)
    H = rule("logit")(A1)
    A2 = rule("affine")(H, V, c)
    Q = rule("softmax")(A2)
    layer1 = tj.get_rule("affine").jacobian(X, W, b, argnums=("W", "b"))
    hidden = compose(tj.get_rule("logit").jacobian(A1, names=("A1",)), {"A1": layer1})
    layer2 = compose(tj.get_rule("affine").jacobian(H, V, c, names=("H", "V", "c")), {"H": hidden})
    output = compose(tj.get_rule("softmax").jacobian(A2, names=("A2",)), {"A2": layer2})
    D = compose(tj.get_rule("cross_entropy").jacobian(Y, Q, argnums="Q"), {"Q": output})
    assert set(D.names) == {"W", "b", "V", "c"} and D.out_shape == ()
    blocks_match_numeric(D, tj.numerical_jacobian(loss, W, b, V, c), "network loss")


# ---- The matrix view of blocks ------------------------------------------------------------


def test_blocks_matrix_column_ranges_label_the_blocks(rng):
    X, W, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)
    blocks = tj.get_rule("affine").jacobian(X, W, b)
    M, cols = blocks.matrix()
    assert list(cols) == ["X", "W", "b"]
    assert cols == {"X": slice(0, 12), "W": slice(12, 20), "b": slice(20, 22)}
    assert M.shape == (6, 22)
    for name in blocks:
        np.testing.assert_array_equal(M[:, cols[name]], blocks[name].matrix())
    # the same columns as the finite-difference Jacobian of x -> affine(x) in the same argument order
    numeric = tj.numerical_jacobian(lambda X, W, b: X @ W + b, X, W, b)
    Mn, cols_n = numeric.matrix()
    assert cols_n == cols
    err = np.concatenate([numeric.errors[n].reshape(6, -1) for n in ("X", "W", "b")], axis=1)
    assert np.all(np.abs(M - Mn) <= 10 * err + 1e-10)
    # and each column range really is that variable: a perturbation of W moves X @ W + b by M[:, W] dW
    dW = rng.normal(size=W.shape) * 1e-7
    moved = (X @ (W + dW) + b - (X @ W + b)).ravel()
    np.testing.assert_allclose(M[:, cols["W"]] @ dW.ravel(), moved, rtol=1e-6, atol=1e-14)


# ---- Addressing, errors -------------------------------------------------------------------


def test_blocks_by_name_and_position(rng):
    blocks = tj.get_rule("affine").jacobian(rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2))
    assert blocks.names == ("X", "W", "b") and list(blocks) == ["X", "W", "b"] and len(blocks) == 3
    assert blocks["W"] is blocks[1] is blocks[-2] is blocks[np.int64(1)]
    assert blocks["X"].shape == (3, 2, 3, 4) and blocks[2].shape == (3, 2, 2)
    assert blocks.out_shape == (3, 2)
    assert "W" in blocks and "Z" not in blocks and 0 not in blocks and 7 not in blocks
    assert blocks.get("Z") is None
    assert set(blocks.dense()) == {"X", "W", "b"}
    np.testing.assert_array_equal(blocks.dense()["b"], blocks["b"].dense())
    assert "out_shape=(3, 2)" in repr(blocks) and "W: in_shape=(4, 2)" in repr(blocks)


def test_blocks_key_and_index_errors():
    blocks = tj.get_rule("multiply").jacobian(np.ones(2), np.ones(2))
    with pytest.raises(KeyError, match=r"no block named 'z'.*\['x1', 'x2'\]"):
        blocks["z"]
    with pytest.raises(IndexError, match=r"block index 2 out of range for 2 block"):
        blocks[2]
    with pytest.raises(IndexError, match=r"block index -3 out of range"):
        blocks[-3]
    with pytest.raises(KeyError, match="by name or position"):
        blocks[1.0]
    with pytest.raises(KeyError):
        blocks[True]


def test_blocks_construction_errors():
    with pytest.raises(ValueError, match="at least one block"):
        Blocks({})
    with pytest.raises(ValueError, match=r"block 'x' is a ndarray, not a tensorjac.Jacobian"):
        Blocks({"x": np.ones((2, 2))})
    with pytest.raises(ValueError, match=r"one output shape.*\(2,\).*\(3,\)"):
        Blocks({"a": Jacobian(np.ones((2, 2)), 1), "b": Jacobian(np.ones((3, 2)), 1)})


def test_rename_and_names_option():
    blocks = tj.get_rule("multiply").jacobian(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    renamed = blocks.rename({"x1": "u"})
    assert renamed.names == ("u", "x2")
    np.testing.assert_array_equal(renamed["u"].dense(), blocks["x1"].dense())
    with pytest.raises(ValueError, match=r"cannot rename \['nope'\]"):
        blocks.rename({"nope": "u"})
    with pytest.raises(ValueError, match="repeated names"):
        blocks.rename({"x1": "x2"})  # would silently drop a block
    swapped = blocks.rename({"x1": "x2", "x2": "x1"})
    np.testing.assert_array_equal(swapped["x1"].dense(), np.diag([1.0, 2.0]))


def test_adding_blocks_sums_the_same_variable():
    J1, J2, J3 = (Jacobian.diagonal(np.full(2, v)) for v in (1.0, 2.0, 5.0))
    total = Blocks({"a": J1}) + Blocks({"a": J2, "b": J3})
    assert total.names == ("a", "b")
    np.testing.assert_array_equal(total["a"].dense(), 3 * np.eye(2))
    np.testing.assert_array_equal(total["b"].dense(), 5 * np.eye(2))
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        Blocks({"a": J1}) + Blocks({"a": Jacobian.diagonal(np.ones(3))})


def test_compose_errors_name_the_argument_and_both_shapes():
    Dh = tj.get_rule("multiply").jacobian(np.ones((2, 3)), np.ones((2, 3)), names=("F", "G"))
    with pytest.raises(ValueError, match=r"\['H'\] are not arguments.*\['F', 'G'\]"):
        compose(Dh, {"H": tj.get_rule("exp").jacobian(np.ones((2, 3)))})
    with pytest.raises(ValueError, match=r"argument 'F' has shape \(2, 3\).*output shape \(3, 2\)"):
        compose(Dh, {"F": tj.get_rule("exp").jacobian(np.ones((3, 2)))})
