"""Pictures of Jacobians (tensorjac._plot): heat maps, block boundaries, structure patterns, headless.

Figures are drawn with matplotlib's Agg backend and inspected as objects: the image data, the
colour limits, the tick labels, the title, the boundary lines and the block names.
"""

from __future__ import annotations

import io
import math
import sys
import tracemalloc

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import tensorjac as tj  # noqa: E402
from tensorjac import _plot  # noqa: E402

rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def image(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def ticks(ax, which):
    labels = ax.get_xticklabels() if which == "x" else ax.get_yticklabels()
    return [t.get_text() for t in labels]


def boundaries(ax, which):
    """Positions of the block-boundary lines (vertical for "x", horizontal for "y")."""
    found = []
    for line in ax.lines:
        if line.get_gid() != "block-boundary":
            continue
        xs, ys = line.get_xdata(), line.get_ydata()
        if which == "x" and xs[0] == xs[1]:
            found.append(float(xs[0]))
        if which == "y" and ys[0] == ys[1]:
            found.append(float(ys[0]))
    return sorted(found)


def names(ax):
    return [t.get_text() for t in ax.texts if t.get_gid() == "block-name"]


# ---- heat maps of values ----------------------------------------------------------------------


def test_jacobian_heat_map_is_the_matrix_view_with_a_centred_diverging_map_and_multi_index_ticks():
    A = rng.normal(size=(2, 3, 2))
    J = tj.jacobian(lambda x: np.tanh(A @ x))(rng.normal(size=2))  # out (2, 3), in (2,)
    ax = J.plot()
    np.testing.assert_allclose(image(ax), J.matrix())
    vmin, vmax = ax.images[0].get_clim()
    assert vmin == -vmax == -np.abs(J.matrix()).max()  # centred at 0
    assert ax.images[0].get_cmap().name == "RdBu_r"  # diverging
    assert ticks(ax, "y") == ["[0,0]", "[0,1]", "[0,2]", "[1,0]", "[1,1]", "[1,2]"]
    assert ticks(ax, "x") == ["[0]", "[1]"]
    assert "(2, 3)" in ax.get_title() and "(2,)" in ax.get_title()
    assert ax.get_ylabel().startswith("output (2, 3)") and ax.get_xlabel().startswith("input (2,)")
    assert len(ax.figure.axes) == 2  # the image and its colour bar
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")  # rendered headless
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_a_scalar_output_and_an_all_zero_jacobian_draw():
    J = tj.jacobian(lambda x: np.sum(x * x))(np.array([1.0, -2.0]))
    ax = J.plot()
    np.testing.assert_allclose(image(ax), [[2.0, -4.0]])
    assert ticks(ax, "y") == ["[]"]
    ax = tj.Jacobian.zeros((2,), (3,)).plot()
    assert not image(ax).any() and ax.images[0].get_clim() == (-1.0, 1.0)


def test_larger_shapes_get_ticks_on_the_leading_axis_only():
    J = tj.Jacobian.diagonal(rng.normal(size=(10, 30)))
    ax = J.plot(max_ticks=24, max_cells=300)
    assert "structure" not in ax.get_title()
    assert ticks(ax, "y") == [f"[{k},…]" for k in range(10)]
    assert list(ax.get_yticks()) == [30 * k for k in range(10)]  # slice k of the leading axis starts at row 30 k
    ax = J.plot(max_ticks=24, max_cells=256)  # 300 rows: a pattern of cells of (2, 1) entries, 150 rows
    assert image(ax).shape == (150, 150) and "cells of (2, 1)" in ax.get_ylabel()
    assert ticks(ax, "y") == ["[0,…]", "[2,…]", "[4,…]", "[6,…]", "[8,…]"]
    assert list(ax.get_yticks()) == [0, 30, 60, 90, 120]


def test_plot_draws_on_a_given_axes_and_takes_a_title():
    fig, axes = plt.subplots(1, 2)
    ax = tj.Jacobian.identity((3,)).plot(axes[1], title="identity")
    assert ax is axes[1] and ax.get_title() == "identity"
    np.testing.assert_array_equal(image(ax), np.eye(3))


def test_blocks_are_drawn_side_by_side_with_named_boundaries():
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    D = tj.jacobian(lambda W, x: np.tanh(W @ x), argnums=(0, 1))(W, x)
    ax = D.plot()
    M, columns = D.matrix()
    np.testing.assert_allclose(image(ax), M)
    assert boundaries(ax, "x") == [columns["x"].start - 0.5] == [11.5]
    assert names(ax) == ["W", "x"]
    centres = [t.get_position()[0] for t in ax.texts if t.get_gid() == "block-name"]
    assert centres == [5.5, 13.5]
    assert ticks(ax, "x")[:2] == ["W[0,0]", "W[0,1]"] and ticks(ax, "x")[-1] == "x[3]"


def test_hessian_heat_map_and_a_vector_output_stacked_by_output_entry():
    H = tj.hessian(lambda x: np.sum(np.sin(x) * x[0]))(np.array([0.3, -0.7, 1.1]))
    ax = H.plot()
    np.testing.assert_allclose(image(ax), H.matrix())
    assert "symmetric" in ax.get_title()
    assert ticks(ax, "x") == ["[0]", "[1]", "[2]"] == ticks(ax, "y")
    Hv = tj.hessian(lambda x: np.tanh(x) * 2)(np.array([0.1, 0.2, 0.3]))
    ax = Hv.plot()
    np.testing.assert_allclose(image(ax), Hv.dense().reshape(9, 3))
    assert boundaries(ax, "y") == [2.5, 5.5]
    assert names(ax) == ["out[0]", "out[1]", "out[2]"]


def test_hessian_blocks_have_boundaries_and_names_on_both_sides():
    f = lambda x, y: np.sum(np.tanh(x[:, None] * y) ** 2)  # noqa: E731
    H = tj.hessian(f, argnums=(0, 1))(rng.normal(size=2), rng.normal(size=3))
    ax = H.plot()
    M, ranges = H.matrix()
    np.testing.assert_allclose(image(ax), M)
    assert boundaries(ax, "x") == boundaries(ax, "y") == [1.5]
    assert names(ax) == ["x", "y", "x", "y"]


# ---- structure patterns -----------------------------------------------------------------------


def pooled(mask, row_shape, row_blocks, col_shape, col_blocks):
    """The reference pattern: the dense nonzero mask max-pooled over the blocks of every axis."""
    t = mask.reshape(tuple(row_shape) + tuple(col_shape))
    for axis, block in enumerate(tuple(row_blocks) + tuple(col_blocks)):
        t = _plot._pool(t, axis, block)
    return t.reshape(math.prod(t.shape[: len(row_shape)]), -1)


X34 = rng.normal(size=(3, 4))
FUNCTIONS = {
    "diagonal": (lambda x: np.exp(x), (4, 6)),
    "matmul": (lambda W: X34 @ W, (4, 5)),
    "slice": (lambda x: x[::2, 1:], (6, 5)),
    "reshape-transpose": (lambda x: x.reshape(3, 8).T, (4, 6)),
    "softmax": (lambda x: tj.softmax(x), (3, 7)),
    "sum-broadcast": (lambda x: x.sum(axis=0) + x, (4, 5)),
    "gather": (lambda x: x[np.array([2, 0, 2, 3])], (5, 3)),
    "concatenate": (lambda x: np.concatenate([x, np.roll(x, 1, axis=1)], axis=0), (3, 4)),
    "constant axis": (lambda x: np.broadcast_to(x, (3,) + x.shape), (2, 3)),
}


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("cells", [10_000, 24, 6])
def test_the_pattern_from_the_factors_covers_the_dense_nonzeros_block_by_block(name, cells):
    f, shape = FUNCTIONS[name]
    J = tj.jacobian(f)(rng.normal(size=shape))
    b_out, b_in = _plot.cell_blocks(J.out_shape, cells), _plot.cell_blocks(J.in_shape, cells)
    pattern = _plot.structure_pattern(J._terms, (J.out_shape, J.in_shape), (b_out, b_in), [0], [1])
    reference = pooled(J.dense() != 0, J.out_shape, b_out, J.in_shape, b_in)
    assert pattern.shape == reference.shape
    assert not (reference & ~pattern).any(), "a nonzero cell is missing from the pattern"
    if cells == 10_000:  # one entry per cell: the pattern is exact for generic values
        np.testing.assert_array_equal(pattern, reference)


def test_kind_pattern_draws_the_pattern_of_a_small_jacobian():
    J = tj.jacobian(lambda x: x[1:] * 2.0)(np.ones(4))
    ax = J.plot(kind="pattern")
    np.testing.assert_array_equal(image(ax), (J.matrix() != 0).astype(float))
    assert "structure pattern" in ax.get_title() and ax.images[0].get_cmap().name == "Greys"


def test_the_196_GiB_jacobian_is_drawn_as_its_pattern_without_exceeding_the_dense_budget():
    X = rng.normal(size=(512, 784))
    J = tj.jacobian(lambda W: X @ W)(np.zeros((784, 256)))  # 512*256*784*256 doubles: 196 GiB
    budget = 16 << 20
    old = tj.set_dense_budget(budget)
    try:
        with pytest.raises(MemoryError):
            J.dense()
        tracemalloc.start()
        try:
            ax = J.plot()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        tj.set_dense_budget(old)
    assert peak < budget, f"drawing the pattern allocated {peak:,} bytes"
    cells = image(ax)
    b_out, b_in = _plot.cell_blocks((512, 256), 256), _plot.cell_blocks((784, 256), 256)
    c_out, c_in = [-(-n // b) for n, b in zip((512, 256), b_out)], [-(-n // b) for n, b in zip((784, 256), b_in)]
    assert cells.shape == (math.prod(c_out), math.prod(c_in)) and max(cells.shape) <= 256
    # X[a,i] delta[b,j]: a grid of (a-block, i-block) tiles, each the pooled delta between b and j.
    delta = _plot._overlap(256, b_out[1], b_in[1])
    np.testing.assert_array_equal(cells.astype(bool), np.kron(np.ones((c_out[0], c_in[0]), bool), delta))
    assert "structure pattern" in ax.get_title() and "196 GiB" in ax.get_title()
    assert "cells of" in ax.get_xlabel() and "cells of" in ax.get_ylabel()
    assert [line.get_gid() for line in ax.lines].count("tile") == (c_out[0] - 1) + (c_in[0] - 1)


def test_a_jacobian_over_the_dense_budget_is_drawn_as_a_pattern_even_when_small():
    J = tj.jacobian(lambda x: np.sin(x))(rng.normal(size=20))
    old = tj.set_dense_budget(1000)  # 20 x 20 doubles = 3200 bytes
    try:
        ax = J.plot()
    finally:
        tj.set_dense_budget(old)
    assert "structure pattern" in ax.get_title()
    np.testing.assert_array_equal(image(ax), np.eye(20))


def test_block_and_hessian_patterns_cover_the_dense_nonzeros():
    W, x = rng.normal(size=(30, 40)), rng.normal(size=40)
    D = tj.jacobian(lambda W, x: np.tanh(W @ x), argnums=(0, 1))(W, x)
    ax = D.plot(kind="pattern", max_cells=64)
    cells = image(ax).astype(bool)
    widths = [math.prod(_plot._counts(D[n].in_shape, b)) for n, b in zip(D.names, [
        _plot.cell_blocks(s, c) for s, c in zip([(30, 40), (40,)], _plot._share([(30, 40), (40,)], 64))])]
    assert cells.shape[1] == sum(widths) and boundaries(ax, "x") == [widths[0] - 0.5]
    assert names(ax) == ["W", "x"]
    H = tj.hessian(lambda x: np.sum(tj.softmax(x.reshape(4, 5)) ** 2))(rng.normal(size=20))
    ax = H.plot(kind="pattern", max_cells=10)
    b = _plot.cell_blocks((20,), 10)
    reference = pooled(H.matrix() != 0, (20,), b, (20,), b)
    assert not (reference & ~image(ax).astype(bool)).any()
    HB = tj.hessian(lambda x, y: np.sum(x * y[:, None]), argnums=(0, 1))(np.ones((3, 2)), np.ones(3))
    ax = HB.plot(kind="pattern")
    np.testing.assert_array_equal(image(ax).astype(bool), HB.matrix()[0] != 0)


# ---- options and errors -----------------------------------------------------------------------


def test_bad_options_name_the_argument():
    J = tj.Jacobian.identity((3,))
    with pytest.raises(ValueError, match="kind"):
        J.plot(kind="heat")
    with pytest.raises(ValueError, match="max_cells"):
        J.plot(max_cells=0)
    with pytest.raises(ValueError, match="ax must be"):
        J.plot(ax="left")
    with pytest.raises(ValueError, match="kind='values'"):
        tj.Jacobian.identity((300,)).plot(kind="values")
    H = tj.hessian(lambda x, y: x * y, argnums=(0, 1))(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="scalar output"):
        H.plot()


def test_a_missing_matplotlib_raises_an_import_error_naming_the_plot_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    J = tj.Jacobian.identity((2,))
    with pytest.raises(ImportError, match=r'pip install "tensorjac\[plot\]"'):
        J.plot()
    W = np.ones((2, 2))
    for obj in (tj.jacobian(lambda W, x: W @ x, argnums=(0, 1))(W, np.ones(2)), tj.hessian(lambda x: np.sum(x ** 3))(np.ones(2))):
        with pytest.raises(ImportError, match="plot"):
            obj.plot()


def test_importing_tensorjac_does_not_import_matplotlib():
    import subprocess

    code = "import sys, tensorjac; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_solved_exercise_saves_its_loss_curve_and_prints_the_same(tmp_path):
    import os
    import subprocess

    script = os.path.join(os.path.dirname(__file__), "..", "examples", "nn_backprop.py")
    plain = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120)
    path = tmp_path / "loss.png"
    plotted = subprocess.run([sys.executable, script, "--plot", str(path)], capture_output=True, text=True, timeout=120)
    assert plain.returncode == plotted.returncode == 0, plotted.stdout + plotted.stderr
    assert plotted.stdout == plain.stdout + f"  loss curve saved to {path}\n"
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 5000
    curve = plt.imread(str(path))
    assert curve.shape[0] > 200 and curve.shape[1] > 400
