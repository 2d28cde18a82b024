"""Shape and indexing rules (tensorjac/rules/_shapes.py, _indexing.py) through the tracer.

Each function below is written once for a namespace ``xp`` and run with numpy (traced by
tensorjac) and, when JAX is installed, with ``jax.numpy`` (``jax.jacfwd`` in float64).  The
Jacobians are compared with finite differences, with JAX, across the three accumulation orders,
and through grad/vjp/jvp (the scatter paths); the stored sizes prove the structure.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest

import tensorjac as tj

RNG = np.random.default_rng(7)
X2 = RNG.standard_normal((4, 5))
X3 = RNG.standard_normal((3, 4, 5))
X1 = RNG.standard_normal(6)
MASK2 = X2 > 0.2
INTP = np.dtype(np.intp).itemsize


def _copying(f):
    # numerical_jacobian perturbs its argument in place: a function returning a view of it (x[1:])
    # would change under it, so the reference copies what f returns.
    return lambda *a: np.array(f(*a), dtype=np.float64, copy=True)


def assert_matches_fd(f, x, J, fd_close, what):
    if J.size == 0:  # numerical_jacobian needs a non-empty output; an empty Jacobian only has a shape
        assert J.shape == np.shape(f(x)) + x.shape and J.dense().shape == J.shape
        return
    numeric = tj.numerical_jacobian(_copying(f), x, names=("x",))
    assert J.shape == numeric["x"].shape, (what, J.shape, numeric["x"].shape)
    fd_close(J.dense(), numeric["x"].dense(), numeric.errors["x"], what)
    J.check_invariants()


@pytest.fixture(scope="module")
def jax_jacobian():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def jacobian(fxp, x):
        # jit: one compilation per function (eager jacfwd compiles every primitive, 5x slower here)
        return np.asarray(jax.jit(jax.jacfwd(lambda a: fxp(jnp, a)))(jnp.asarray(x, dtype=jnp.float64)))

    return jacobian


# ---- Every index kind, and every shape function ---------------------------------------------------

# (id, f(xp, x), x): the same code for numpy and jax.numpy.
CASES = [
    ("int", lambda xp, x: x[2], X2),
    ("negative-int", lambda xp, x: x[-1, -2], X2),
    ("slice-steps", lambda xp, x: x[1:4:2, ::3], X2),
    ("slice-negative-steps", lambda xp, x: x[::-1, 3:0:-2], X2),
    ("slice-out-of-range", lambda xp, x: x[2:10, -9:2], X2),
    ("ellipsis", lambda xp, x: x[..., 1], X3),
    ("ellipsis-middle", lambda xp, x: x[1, ..., ::2], X3),
    ("newaxis", lambda xp, x: x[None, 1:3, None], X2),
    ("int-array-repeated", lambda xp, x: x[np.array([0, 0, 3, -1, 0])], X2),
    ("int-array-2d", lambda xp, x: x[np.array([[0, 1], [1, 0]])], X1),
    ("int-arrays-paired", lambda xp, x: x[np.array([0, 2, 2]), np.array([1, 1, 4])], X2),
    ("int-arrays-broadcast", lambda xp, x: x[np.array([[0], [3]]), np.array([1, 1, 4])], X2),
    ("bool-mask-full", lambda xp, x: x[MASK2], X2),
    ("bool-mask-axis0", lambda xp, x: x[np.array([True, False, True, True])], X2),
    ("bool-mask-and-int", lambda xp, x: x[np.array([True, False, True]), 2], X3),
    ("mix-slice-array-step", lambda xp, x: x[1:, np.array([0, 2, 0]), ::-2], X3),
    ("mix-arrays-split-by-slice", lambda xp, x: x[np.array([0, 2]), :, np.array([4, 0])], X3),
    ("mix-ellipsis-newaxis-array", lambda xp, x: x[..., None, np.array([1, 1])], X3),
    ("mix-int-mask", lambda xp, x: x[1, MASK2], X3),
    ("empty-slice", lambda xp, x: x[2:2], X2),
    ("reshape-T-ravel", lambda xp, x: x.reshape(10, 2).T.ravel(), X2),
    ("reshape-minus-one", lambda xp, x: xp.reshape(x, (2, -1, 5)), X3),
    ("reshape-F", lambda xp, x: xp.reshape(x, (5, 2, 2), order="F"), X2),
    ("ravel-F", lambda xp, x: xp.ravel(x, order="F"), X3),
    ("flatten", lambda xp, x: x.flatten(), X3),
    ("transpose-axes", lambda xp, x: xp.transpose(x, (1, 2, 0)), X3),
    ("transpose-method", lambda xp, x: x.transpose(2, 0, 1), X3),
    ("swapaxes", lambda xp, x: xp.swapaxes(x, 0, -1), X3),
    ("moveaxis", lambda xp, x: xp.moveaxis(x, (0, 1), (-1, 0)), X3),
    ("squeeze", lambda xp, x: xp.squeeze(x[:, 1:2, None], axis=(1, 2)), X2),
    ("expand_dims", lambda xp, x: xp.expand_dims(x, (0, -1)), X2),
    ("broadcast_to", lambda xp, x: xp.broadcast_to(x[:, None, 1:3], (4, 3, 2)), X2),
    ("concatenate", lambda xp, x: xp.concatenate([x[1:], x[:2] * 2.0, x], axis=0), X2),
    ("concatenate-axis-none", lambda xp, x: xp.concatenate([x, x[0]], axis=None), X2),
    ("stack", lambda xp, x: xp.stack([x, xp.exp(x), x[::-1]], axis=1), X2),
    ("hstack-1d", lambda xp, x: xp.hstack([x, x[:2]]), X1),
    ("hstack-2d", lambda xp, x: xp.hstack([x, x[:, :2]]), X2),
    ("vstack-1d", lambda xp, x: xp.vstack([x, x[::-1]]), X1),
    ("vstack-2d", lambda xp, x: xp.vstack([x, x[:1]]), X2),
    ("split", lambda xp, x: xp.concatenate([p * (k + 1.0) for k, p in enumerate(xp.split(x, 3, axis=-1)[::-1])]), X1),
    ("split-indices", lambda xp, x: xp.concatenate([p * 2.0 for p in xp.split(x, [1, 3], axis=0)][::-1]), X2),
    ("array_split", lambda xp, x: xp.concatenate([p[::-1] for p in xp.array_split(x, 4)]), X1),
    ("hsplit", lambda xp, x: xp.hsplit(x, 5)[3] * xp.hsplit(x, 5)[1], X2),
    ("vsplit", lambda xp, x: xp.vsplit(x, 2)[1] - xp.vsplit(x, 2)[0], X2),
    ("take", lambda xp, x: xp.take(x, np.array([[3, 0], [0, 0]])), X2),
    ("take-axis", lambda xp, x: xp.take(x, np.array([4, 1, 1]), axis=-1), X3),
    ("take_along_axis", lambda xp, x: xp.take_along_axis(x, np.argsort(X2, axis=1), axis=1), X2),
    ("diagonal", lambda xp, x: xp.diagonal(x, 1), X2),
    ("diagonal-axes", lambda xp, x: xp.diagonal(x, -1, 2, 1), X3),
    ("diag-of-matrix", lambda xp, x: xp.diag(x, -2), X2),
    ("diag-of-vector", lambda xp, x: xp.diag(x, 1), X1),
    ("diagflat", lambda xp, x: xp.diagflat(x[:2], -1), X2),
    ("flip-none", lambda xp, x: xp.flip(x), X3),
    ("flip-int", lambda xp, x: xp.flip(x, -1), X3),
    ("flip-tuple", lambda xp, x: xp.flip(x, (0, 2)), X3),
    ("fliplr", lambda xp, x: xp.fliplr(x), X2),
    ("flipud", lambda xp, x: xp.flipud(x), X2),
    ("rot90", lambda xp, x: xp.rot90(x, 3, axes=(2, 0)), X3),
    ("roll-none", lambda xp, x: xp.roll(x, 7), X2),
    ("roll-axis", lambda xp, x: xp.roll(x, -1, axis=1), X2),
    ("roll-tuples", lambda xp, x: xp.roll(x, (1, -2), axis=(0, 2)), X3),
    ("tile", lambda xp, x: xp.tile(x, (2, 1, 2)), X2),
    ("repeat-int-none", lambda xp, x: xp.repeat(x, 2), X2),
    ("repeat-array-axis", lambda xp, x: xp.repeat(x, np.array([2, 0, 1, 3, 1]), axis=1), X2),
]


@pytest.mark.parametrize("fxp, x", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_against_finite_differences_and_jax(fxp, x, fd_close, jax_jacobian):
    f = lambda a: fxp(np, a)  # noqa: E731
    J = tj.jacobian(f)(x)
    np.testing.assert_array_equal(tj.value_and_jacobian(f)(x)[0], f(x))
    assert_matches_fd(f, x, J, fd_close, "traced")
    np.testing.assert_allclose(J.dense(), jax_jacobian(fxp, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fxp, x", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_float32_in_float32_out(fxp, x):
    f = lambda a: fxp(np, a)  # noqa: E731
    x32 = x.astype(np.float32)
    value, J = tj.value_and_jacobian(f)(x32)
    assert value.dtype == np.float32 and J.dtype == np.float32 and J.dense().dtype == np.float32
    np.testing.assert_allclose(J.dense(), tj.jacobian(f)(x32.astype(np.float64)).dense(), rtol=1e-6, atol=1e-6)


def test_plain_python_lists_and_numpy_scalars_as_indices(fd_close):
    for f in (lambda x: x[[0, 0, 2]], lambda x: x[[1, 3], [4, 0]], lambda x: x[np.int64(1), [True] * 5],
              lambda x: x[(slice(None), [0, 1])], lambda x: operator.getitem(x, (Ellipsis, 0))):
        assert_matches_fd(f, X2, tj.jacobian(f)(X2), fd_close, "list index")
    # negative indices and the out-of-range modes of take
    for f in (lambda x: np.take(x, [-1, -6, 0]), lambda x: np.take(x, [7, -9], mode="wrap"),
              lambda x: np.take(x, [7, -9], mode="clip")):
        assert_matches_fd(f, X1, tj.jacobian(f)(X1), fd_close, "take")


# ---- Indices, masks and counts computed inside f ------------------------------------------------------


INSIDE = [
    # (f with the index computed from the traced x, the same with the index computed beforehand)
    (lambda x: x[x > 0.2], lambda x: x[MASK2]),
    (lambda x: np.exp(x)[x < 0.0] * 2.0, lambda x: np.exp(x)[X2 < 0.0] * 2.0),
    (lambda x: x.ravel()[np.argmax(x)] * x, lambda x: x.ravel()[np.argmax(X2)] * x),
    (lambda x: x[np.argmax(x, axis=0), np.arange(5)], lambda x: x[np.argmax(X2, axis=0), np.arange(5)]),
    (lambda x: np.take(x, np.argsort(x, axis=None)), lambda x: np.take(x, np.argsort(X2, axis=None))),
    (lambda x: np.take_along_axis(x, np.argsort(x, axis=1), axis=1),
     lambda x: np.take_along_axis(x, np.argsort(X2, axis=1), axis=1)),
    (lambda x: np.repeat(x.ravel(), (x > 0).ravel()), lambda x: np.repeat(x.ravel(), (X2 > 0).ravel())),
    (lambda x: np.roll(x, np.argmax(x[0]), axis=1), lambda x: np.roll(x, np.argmax(X2[0]), axis=1)),
    (lambda x: x[np.nonzero(x > 0)], lambda x: x[np.nonzero(X2 > 0)]),
    (lambda x: x[(x[:, 0] > 0, slice(None))], lambda x: x[X2[:, 0] > 0, :]),
]


@pytest.mark.parametrize("k", range(len(INSIDE)))
def test_masks_and_indices_computed_inside_f(k, fd_close):
    inside, outside = INSIDE[k]
    value, J = tj.value_and_jacobian(inside)(X2)
    np.testing.assert_array_equal(value, outside(X2))
    np.testing.assert_array_equal(J.dense(), tj.jacobian(outside)(X2).dense())
    assert_matches_fd(outside, X2, J, fd_close, f"inside {k}")
    assert J.nbytes <= 16 * (value.size + X2.size)  # never a dense out x in block


def test_an_option_that_depends_on_the_differentiated_input_is_refused():
    with pytest.raises(TypeError, match="'indices' is a value of dtype float64 that depends on the differentiated"):
        tj.jacobian(lambda x: np.take(x, x))(X1)
    with pytest.raises(TypeError, match="'index'.*depends on the differentiated"):
        tj.jacobian(lambda x: x[x])(X1)


# ---- Structure: what is stored ----------------------------------------------------------------------


def test_reshape_transpose_ravel_stores_nothing_in_every_order(fd_close):
    x = np.arange(12.0)
    f = lambda x: x.reshape(3, 4).T.ravel()  # noqa: E731
    dense = None
    for order in ("forward", "reverse", "optimal"):
        J = tj.jacobian(f, order=order)(x)
        assert J.nbytes == 0, (order, J)
        assert_matches_fd(f, x, J, fd_close, order)
        np.testing.assert_array_equal(J.dense(), np.eye(12)[f(np.arange(12)).astype(int)])
        if dense is not None:
            np.testing.assert_array_equal(J.dense(), dense)
        dense = J.dense()


NOTHING_STORED = [
    lambda x: np.reshape(x, (5, 2, 2)), lambda x: np.reshape(x, (5, 4), order="F"), lambda x: x.ravel(),
    lambda x: np.ravel(x, order="F"), lambda x: x.flatten(), lambda x: x.T, lambda x: np.transpose(x, (1, 0)),
    lambda x: np.swapaxes(x, 0, 1), lambda x: x.mT, lambda x: np.moveaxis(x, 0, -1), lambda x: np.rollaxis(x, 1),
    lambda x: np.squeeze(x[None, :, None], axis=(0, 2)), lambda x: np.squeeze(x.reshape(1, 4, 1, 5)),
    lambda x: np.expand_dims(x, (0, 3)), lambda x: np.broadcast_to(x, (3, 4, 5)),
    lambda x: np.broadcast_to(x.reshape(4, 1, 5), (4, 6, 5)),
    lambda x: np.atleast_3d(x), lambda x: np.broadcast_arrays(x, np.ones((2, 1, 1)))[0],
    lambda x: x.reshape(2, 10).T.reshape(4, 5).T.ravel(),
    # indexing that keeps every entry in order is a reshape
    lambda x: x[None], lambda x: x[..., None], lambda x: x[:, None, :], lambda x: x[:], lambda x: x[...],
    lambda x: x[None, ..., None][0, :, -9:, 0], lambda x: x.reshape(1, 20)[0], lambda x: np.split(x, 1)[0],
]


@pytest.mark.parametrize("k", range(len(NOTHING_STORED)))
def test_shape_functions_store_nothing(k, fd_close):
    f = NOTHING_STORED[k]
    J = tj.jacobian(f)(X2)
    assert J.nbytes == 0, J
    assert_matches_fd(f, X2, J, fd_close, f"shape function {k}")


GATHERS = [  # each output entry is one input entry: at most one integer per output entry
    lambda x: x[1:, ::-2], lambda x: x[2], lambda x: x[..., None, 3], lambda x: x[[0, 0, 1]], lambda x: x[MASK2],
    lambda x: x[np.array([[0], [2]]), [1, 3, 3]], lambda x: np.take(x, [5, 5, 19]), lambda x: np.diagonal(x, 1),
    lambda x: np.diag(x), lambda x: np.flip(x, 0), lambda x: np.roll(x, 3, axis=None), lambda x: np.tile(x, 3),
    lambda x: np.repeat(x, 3, axis=0), lambda x: np.rot90(x), lambda x: np.fliplr(x),
    lambda x: np.split(x, 5, axis=1)[2], lambda x: np.array_split(x, 3)[0],
]


@pytest.mark.parametrize("k", range(len(GATHERS)))
def test_indexing_stores_at_most_one_integer_per_output_entry(k, fd_close):
    f = GATHERS[k]
    value, J = tj.value_and_jacobian(f)(X2)
    assert 0 < J.nbytes <= INTP * value.size, (J, value.shape)
    assert J.nbytes < value.size * X2.size * 8 / 2  # far below the dense block
    assert_matches_fd(f, X2, J, fd_close, f"gather {k}")


def test_a_slice_of_a_large_array_stores_its_output_positions_only(fd_close):
    x = np.zeros((100, 1000))
    J = tj.jacobian(lambda x: x[5:8, ::100])(x)
    assert J.nbytes == INTP * 30 and J.shape == (3, 10, 100, 1000)
    np.testing.assert_array_equal(J.vjp(np.ones((3, 10))).nonzero()[1], np.tile(np.arange(0, 1000, 100), 3))
    small = X2.copy()
    assert_matches_fd(lambda x: x[1:3, ::2], small, tj.jacobian(lambda x: x[1:3, ::2])(small), fd_close, "slice")


EMBEDS = [  # each input entry lands in one output entry: at most one integer per input entry
    lambda x: np.concatenate([x, np.zeros((2, 5))]), lambda x: np.stack([np.ones((4, 5)), x], axis=-1),
    lambda x: np.hstack([np.ones((4, 1)), x]), lambda x: np.vstack([x[0], np.ones(5)]),
    lambda x: np.diag(x[0]), lambda x: np.diagflat(x[:2, :2], 1), lambda x: np.concatenate([x, np.ones(3)], axis=None),
]


@pytest.mark.parametrize("k", range(len(EMBEDS)))
def test_joining_stores_at_most_one_integer_per_input_entry(k, fd_close):
    f = EMBEDS[k]
    J = tj.jacobian(f)(X2)
    assert J.nbytes <= INTP * X2.size, J
    assert_matches_fd(f, X2, J, fd_close, f"embed {k}")


def test_rule_level_jacobians_of_joining_store_one_integer_per_argument_entry():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 3))
    blocks = tj.get_rule("concatenate").jacobian(a, b, axis=0)
    assert blocks["arrays0"].nbytes == INTP * a.size and blocks["arrays1"].nbytes == INTP * b.size
    np.testing.assert_array_equal(blocks["arrays1"].dense().reshape(18, 12), np.eye(18)[6:].T)
    blocks = tj.get_rule(np.stack).jacobian(a, a, axis=1)
    assert blocks["arrays1"].nbytes == INTP * a.size


def test_repeated_indices_add_up_in_the_jacobian_and_the_gradient():
    x = np.array([1.0, 2.0, 3.0])
    J = tj.jacobian(lambda x: np.sum(x[[0, 0, 2, 0]]))(x)
    np.testing.assert_array_equal(J.dense(), [3.0, 0.0, 1.0])
    np.testing.assert_array_equal(tj.grad(lambda x: np.sum(x[[0, 0, 2, 0]] * x[[1, 1, 1, 1]]))(x), [6.0, 6.0, 2.0])
    np.testing.assert_array_equal(tj.grad(lambda x: np.sum(np.repeat(x, [0, 2, 3]) * np.tile(x, 3)[2:7]))(x),
                                  [5.0, 7.0, 11.0])


# ---- Chains, the three accumulation orders, grad / vjp / jvp ---------------------------------------------

W = RNG.standard_normal((6, 3))

CHAINS = [
    ("softmax-of-reshaped-slice", lambda x: tj.softmax(x[1:3, ::-1].reshape(-1)),
     lambda jnp, jax, x: jax.nn.softmax(x[1:3, ::-1].reshape(-1))),
    ("matmul-of-transposed-gather", lambda x: np.tanh(x[:, [0, 2, 4, 4, 1, 0]] @ W).T.ravel(),
     lambda jnp, jax, x: jnp.tanh(x[:, np.array([0, 2, 4, 4, 1, 0])] @ W).T.ravel()),
    ("concatenate-of-elementwise", lambda x: np.concatenate([np.exp(x[:2]), np.sin(x[2:]) * x[::-1][2:]], axis=1),
     lambda jnp, jax, x: jnp.concatenate([jnp.exp(x[:2]), jnp.sin(x[2:]) * x[::-1][2:]], axis=1)),
    ("stack-split-sum",
     lambda x: np.sum(np.stack(np.split(x, 5, axis=1)) * np.roll(x, 1, axis=0).T[:, :, None], axis=0),
     lambda jnp, jax, x: jnp.sum(jnp.stack(jnp.split(x, 5, axis=1)) * jnp.roll(x, 1, axis=0).T[:, :, None], axis=0)),
    ("log-softmax-of-masked-tile",
     lambda x: tj.log_softmax(np.tile(x[MASK2], 2) * np.repeat(x[0], 2)[: 2 * MASK2.sum()]),
     lambda jnp, jax, x: jax.nn.log_softmax(jnp.tile(x[MASK2], 2) * jnp.repeat(x[0], 2)[: 2 * MASK2.sum()])),
    ("diag-matmul-diagonal",
     lambda x: np.diagonal(np.diag(x[0]) @ x.T[:5, :] @ np.diag(x[:, 1]), 0) + np.sum(x.T, axis=0),
     lambda jnp, jax, x: jnp.diagonal(jnp.diag(x[0]) @ x.T[:5, :] @ jnp.diag(x[:, 1]), 0) + jnp.sum(x.T, axis=0)),
]


@pytest.mark.parametrize("f, fjax", [c[1:] for c in CHAINS], ids=[c[0] for c in CHAINS])
def test_chains_in_every_order_against_finite_differences(f, fjax, fd_close):
    dense = {}
    for order in ("forward", "reverse", "optimal"):
        J = tj.jacobian(f, order=order)(X2)
        assert_matches_fd(f, X2, J, fd_close, order)
        dense[order] = J.dense()
    np.testing.assert_allclose(dense["forward"], dense["reverse"], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dense["optimal"], dense["reverse"], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("f, fjax", [c[1:] for c in CHAINS], ids=[c[0] for c in CHAINS])
def test_chains_against_jax(f, fjax, jax_jacobian):
    import jax

    np.testing.assert_allclose(tj.jacobian(f)(X2).dense(), jax_jacobian(lambda jnp, x: fjax(jnp, jax, x), X2),
                               rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("f, fjax", [c[1:] for c in CHAINS], ids=[c[0] for c in CHAINS])
def test_grad_vjp_jvp_follow_the_dense_jacobian(f, fjax):
    D = tj.jacobian(f)(X2).dense()
    out_shape = f(X2).shape
    u = RNG.standard_normal(out_shape)
    t = RNG.standard_normal(X2.shape)
    axes = (tuple(range(len(out_shape))), tuple(range(len(out_shape))))
    (g,) = tj.vjp(f, X2)[1](u)
    np.testing.assert_allclose(g, np.tensordot(u, D, axes), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(tj.jvp(f, (X2,), (t,))[1], np.tensordot(D, t, X2.ndim), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(tj.grad(lambda x: np.sum(f(x) * u))(X2), np.tensordot(u, D, axes),
                               rtol=1e-11, atol=1e-12)


def test_vjp_and_jvp_through_indexing_and_joining_of_two_arguments():
    x, y = RNG.standard_normal((3, 2)), RNG.standard_normal(4)

    def f(x, y):
        return np.concatenate([x[[0, 0, 2]].ravel(), y[::-1], np.stack([x[:, 1], y[1:]]).ravel()])

    blocks = tj.jacobian(f, argnums=(0, 1))(x, y)
    Dx, Dy = blocks["x"].dense(), blocks["y"].dense()
    u = RNG.standard_normal(f(x, y).shape)
    gx, gy = tj.vjp(f, x, y)[1](u)
    np.testing.assert_allclose(gx, np.tensordot(u, Dx, 1))
    np.testing.assert_allclose(gy, np.tensordot(u, Dy, 1))
    tx, ty = RNG.standard_normal(x.shape), RNG.standard_normal(y.shape)
    np.testing.assert_allclose(tj.jvp(f, (x, y), (tx, ty))[1], np.tensordot(Dx, tx, 2) + Dy @ ty)
    assert Dx.sum() == 6 + 3 and Dy.sum() == 4 + 3  # x[0] read twice: the entries add


# ---- Options: order='A', and clear errors ---------------------------------------------------------------


def test_order_A_follows_the_memory_layout_as_numpy_does(fd_close):
    f = lambda x: np.reshape(x.T, (2, 10), order="A")  # noqa: E731  (x.T is Fortran-contiguous)
    J = tj.jacobian(f)(X2)
    assert J.nbytes == 0
    np.testing.assert_array_equal(J.dense(), tj.jacobian(lambda x: np.reshape(x.T, (2, 10), order="F"))(X2).dense())
    assert_matches_fd(f, X2, J, fd_close, "order A")
    g = lambda x: np.ravel(x, order="A")  # noqa: E731  (C-contiguous: C order)
    np.testing.assert_array_equal(tj.jacobian(g)(X2).dense().reshape(20, 20), np.eye(20))


ERRORS = [
    (lambda x: np.reshape(x, (3, 7)), ValueError, r"reshape: cannot reshape an array of shape \(4, 5\)"),
    (lambda x: np.reshape(x, (-1, -1)), ValueError, "cannot reshape"),
    (lambda x: x.reshape(20, order="K"), ValueError, "order='K' is not supported"),
    (lambda x: np.ravel(x, order="K"), ValueError, "order='K' is not supported"),
    (lambda x: np.reshape(x, (2.0, 10)), TypeError, "shape must be an int or a tuple of ints"),
    (lambda x: np.transpose(x, (0, 0)), ValueError, "transpose: axes=.* repeats an axis"),
    (lambda x: np.transpose(x, (1, 0, 2)), np.exceptions.AxisError, "transpose: axes=2 is out of bounds"),
    (lambda x: x.transpose(0), ValueError, "must name each of the 2 axes"),
    (lambda x: np.swapaxes(x, 0, 2), np.exceptions.AxisError, "swapaxes: axis2=2 is out of bounds"),
    (lambda x: np.moveaxis(x, (0, 1), 0), ValueError, "moveaxis: source=.* same length"),
    (lambda x: np.moveaxis(x, 0, 3), np.exceptions.AxisError, "moveaxis: destination=3"),
    (lambda x: np.rollaxis(x, 0, 4), np.exceptions.AxisError, "rollaxis: start=4"),
    (lambda x: np.squeeze(x, axis=1), ValueError, r"squeeze: cannot squeeze axis 1 of an array of shape \(4, 5\)"),
    (lambda x: np.squeeze(x, axis=2), np.exceptions.AxisError, "squeeze: axis 2 is out of bounds"),
    (lambda x: np.expand_dims(x, 3), np.exceptions.AxisError, "expand_dims: axis 3 is out of bounds"),
    (lambda x: np.expand_dims(x, (0, 0)), ValueError, "expand_dims: axis 0 is repeated"),
    (lambda x: np.broadcast_to(x, (5, 4)), ValueError, r"broadcast_to: cannot broadcast an array of shape \(4, 5\)"),
    (lambda x: np.concatenate([x, x], axis=2), np.exceptions.AxisError, "concatenate: axis=2 is out of bounds"),
    (lambda x: np.concatenate([x[0, 0], x[0, 1]]), ValueError, "0-d arrays cannot be concatenated"),
    (lambda x: np.concatenate([x, x], out=np.empty((8, 5))), TypeError, "'concatenate' does not support out="),
    (lambda x: np.stack([x, x], dtype=np.float32), TypeError, "'stack' does not support dtype="),
    (lambda x: np.stack([x, x], axis=-4), np.exceptions.AxisError, "stack: axis=-4"),
    (lambda x: np.hstack([x, x], axis=0), TypeError, "unexpected keyword argument 'axis'"),
    (lambda x: np.split(x, 3, axis=1), ValueError, "split: an axis of length 5 does not split into 3 equal sections"),
    (lambda x: np.array_split(x, 0), ValueError, "number of sections must be larger than 0"),
    (lambda x: np.split(x, 2, axis=-3), np.exceptions.AxisError, "split: axis=-3"),
    (lambda x: np.vsplit(x[0], 1), ValueError, "vsplit only works on arrays of 2 or more dimensions"),
    (lambda x: np.take(x, [0], axis=2), np.exceptions.AxisError, "take: axis=2"),
    (lambda x: np.take(x, [0], out=np.empty(1)), TypeError, "'take' does not support out="),
    (lambda x: np.diagonal(x[0]), ValueError, "diagonal: needs an array of at least 2 dimensions"),
    (lambda x: np.diagonal(x, 0, 1, -1), ValueError, "axis1=1 and axis2=-1 name the same axis"),
    (lambda x: np.diag(x[None]), ValueError, "diag: the input must be 1-D"),
    (lambda x: np.fliplr(x[0]), ValueError, "fliplr: needs an array of at least 2 dimensions"),
    (lambda x: np.repeat(x, [1, -1, 1, 1], axis=0), ValueError, "repeat: repeats must be >= 0"),
    (lambda x: np.repeat(x, 2, axis=-3), np.exceptions.AxisError, "repeat: axis=-3"),
    (lambda x: np.take(x, [0], mode="wrong"), ValueError, None),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_bad_options_raise_clear_errors(k):
    f, kind, message = ERRORS[k]
    with pytest.raises(kind, match=message):
        tj.jacobian(f)(X2)


def test_rule_level_calls_check_their_options_too():
    with pytest.raises(ValueError, match="squeeze: cannot squeeze axis 0"):
        tj.get_rule("squeeze").jacobian(X2, axis=0)
    with pytest.raises(ValueError, match="order='K'"):
        tj.get_rule(np.reshape).jacobian(X2, shape=20, order="K")
    with pytest.raises(np.exceptions.AxisError, match="stack: axis=3"):
        tj.get_rule(np.stack).jacobian(X2, X2, axis=3)


def test_the_rules_are_found_by_the_numpy_function_objects():
    for name, fun in [("reshape", np.reshape), ("ravel", np.ravel), ("transpose", np.transpose),
                      ("swapaxes", np.swapaxes), ("moveaxis", np.moveaxis), ("squeeze", np.squeeze),
                      ("expand_dims", np.expand_dims),
                      ("broadcast_to", np.broadcast_to), ("concatenate", np.concatenate), ("stack", np.stack),
                      ("hstack", np.hstack), ("vstack", np.vstack), ("getitem", operator.getitem), ("take", np.take),
                      ("diagonal", np.diagonal), ("diag", np.diag), ("flip", np.flip), ("roll", np.roll),
                      ("tile", np.tile), ("repeat", np.repeat)]:
        assert tj.get_rule(fun) is tj.get_rule(name), name
    for fun in (np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit):
        assert tj.rules.find_composite(fun) is not None
