"""Pictures of Jacobians and Hessians: heat maps of the matrix view, or the structure pattern.

``Jacobian.plot()``, ``Blocks.plot()``, ``Hessian.plot()`` and ``HessianBlocks.plot()`` call
:func:`plot_jacobian`, :func:`plot_blocks`, :func:`plot_hessian` and :func:`plot_hessian_blocks`.
matplotlib is an optional dependency (the ``plot`` extra): it is imported when a picture is
drawn, never when tensorjac is imported.

Two kinds of picture:

* ``"values"``: the matrix view ``(prod(out_shape), prod(in_shape))`` as a heat map with a
  diverging colour map centred at 0 (white is 0, red positive, blue negative), ticks labelled
  with multi-indices when the shapes are small, block boundaries labelled with argument names.
* ``"pattern"``: the structure pattern, for a Jacobian too large to draw (more than
  ``max_cells`` rows or columns, or a dense form over the dense budget).  It is computed from
  the factors, never from the dense array: every axis is cut into blocks (at most ``max_cells``
  cells per side in all), and a cell is marked when some entry in it can be nonzero.  Each
  factor's nonzero mask is max-pooled over the blocks of its axes, a Kronecker delta between an
  output and an input axis becomes the block-overlap mask of the two blockings, an index factor
  (gather, reshape) marks the blocks its index map connects, and the term's cells are one
  boolean contraction of these small masks.  The cells are laid out as the matrix view of the
  blocked tensor (row-major over the blocks of each axis), so a delta stays a diagonal and a
  Kronecker product stays a grid of tiles at any resolution.  A marked cell may still be zero
  (values cancelling, or nonzeros of two factors in different entries of one block); an
  unmarked cell is certainly zero.

Nothing here imports the types: the objects are read through ``out_shape``, ``in_shape``,
``_terms``, ``matrix()`` and friends.
"""

from __future__ import annotations

import math

import numpy as np
import opt_einsum as oe

from . import _budget
from ._index_factors import Gather, Reshape

__all__ = ["plot_jacobian", "plot_blocks", "plot_hessian", "plot_hessian_blocks", "structure_pattern",
           "cell_blocks", "require_matplotlib"]

KINDS = ("auto", "values", "pattern")
SUMMED_CELLS = 32  # blocks of a label that is summed over (carried by factors only)
_CHUNK = 1 << 20


def require_matplotlib():
    """``matplotlib.pyplot``, or an ``ImportError`` naming the ``plot`` extra."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt
        from matplotlib import transforms
    except ImportError as exc:
        raise ImportError(
            'drawing Jacobians needs matplotlib, the optional "plot" extra: pip install "tensorjac[plot]" '
            "(or pip install matplotlib)"
        ) from exc
    return matplotlib, plt, transforms


# ---- blockings --------------------------------------------------------------------------------


def cell_blocks(shape, max_cells: int) -> tuple[int, ...]:
    """Block sizes, one per axis of ``shape``, giving at most ``max_cells`` cells in all.

    A shape with at most ``max_cells`` entries keeps every entry (block size 1).  Otherwise the
    axis with the largest blocks is refined (doubled) while the cells fit, so that every axis
    keeps some of its structure.

    >>> cell_blocks((3, 4), 512)
    (1, 1)
    >>> cell_blocks((512, 256), 512)
    (16, 16)
    """
    shape = tuple(int(n) for n in shape)
    if math.prod(shape) <= max_cells:
        return (1,) * len(shape)
    counts = [1] * len(shape)
    frozen = [n <= 1 for n in shape]
    while not all(frozen):
        k = max((k for k in range(len(shape)) if not frozen[k]), key=lambda k: shape[k] / counts[k])
        others = math.prod(counts) // counts[k]
        want = min(shape[k], counts[k] * 2, max_cells // others)
        if want <= counts[k]:
            frozen[k] = True
            continue
        counts[k] = want
        frozen[k] = counts[k] >= shape[k]
    return tuple(-(-n // c) for n, c in zip(shape, counts))


def _counts(shape, blocks) -> tuple[int, ...]:
    return tuple(-(-n // s) for n, s in zip(shape, blocks))


def _pool(mask: np.ndarray, axis: int, block: int) -> np.ndarray:
    """``mask`` with axis ``axis`` max-pooled over blocks of ``block`` entries."""
    if block == 1 or mask.shape[axis] == 0:
        return mask
    return np.logical_or.reduceat(mask, np.arange(0, mask.shape[axis], block), axis=axis)


def _overlap(n: int, s1: int, s2: int) -> np.ndarray:
    """Which blocks of size ``s1`` and of size ``s2`` of ``range(n)`` share an entry (a pooled delta)."""
    c1, c2 = -(-n // s1), -(-n // s2)
    mask = np.zeros((c1, c2), dtype=bool)
    for i in range(c1):
        mask[i, (i * s1) // s2: (min((i + 1) * s1, n) - 1) // s2 + 1] = True
    return mask


def _gather_mask(g: Gather, s_a: int, s_b: int) -> np.ndarray:
    mask = np.zeros((-(-g.index.size // s_a), -(-g.n // s_b)), dtype=bool)
    mask[np.arange(g.index.size) // s_a, g.index // s_b] = True
    return mask


def _reshape_mask(r: Reshape, blocks_out, blocks_in) -> np.ndarray:
    """Cells of a reshape's 0/1 tensor (``flat(k) == flat(i)``) that hold a 1, chunk by chunk."""
    c_out, c_in = _counts(r.out_shape, blocks_out), _counts(r.in_shape, blocks_in)
    mask = np.zeros((math.prod(c_out), math.prod(c_in)), dtype=bool)
    n = math.prod(r.out_shape)

    def coarse(flat, shape, blocks, counts):
        idx = np.unravel_index(flat, shape)
        return np.ravel_multi_index(tuple(i // s for i, s in zip(idx, blocks)), counts) if shape else np.zeros_like(flat)

    for start in range(0, n, _CHUNK):
        flat = np.arange(start, min(n, start + _CHUNK))
        mask[coarse(flat, r.out_shape, blocks_out, c_out), coarse(flat, r.in_shape, blocks_in, c_in)] = True
    return mask.reshape(c_out + c_in)


# ---- the structure pattern --------------------------------------------------------------------


def structure_pattern(terms, shapes, blocks, rows, cols) -> np.ndarray:
    """The boolean cell pattern of a sum of terms, never materialising the tensor.

    Args:
        terms: the labelled-factor terms (:mod:`tensorjac._terms`).
        shapes: the shape of each label group.
        blocks: the block sizes of each group's axes (:func:`cell_blocks`).
        rows, cols: which groups make the rows and the columns of the picture.

    Returns a bool array ``(prod of row cells, prod of column cells)``: True where some entry of
    the cell can be nonzero (see the module docstring).

    >>> import numpy as np, tensorjac as tj
    >>> J = tj.Jacobian.diagonal(np.array([1.0, 0.0, 2.0, 3.0]))
    >>> structure_pattern(J._terms, (J.out_shape, J.in_shape), ((1,), (1,)), [0], [1]).astype(int)
    array([[1, 0, 0, 0],
           [0, 0, 0, 0],
           [0, 0, 1, 0],
           [0, 0, 0, 1]])
    >>> structure_pattern(J._terms, (J.out_shape, J.in_shape), ((2,), (2,)), [0], [1]).astype(int)
    array([[1, 0],
           [0, 1]])
    """
    counts = [_counts(shape, b) for shape, b in zip(shapes, blocks)]
    n_rows = math.prod(c for g in rows for c in counts[g])
    n_cols = math.prod(c for g in cols for c in counts[g])
    result = np.zeros((n_rows, n_cols), dtype=bool)
    for term in terms:
        result |= _term_pattern(term, shapes, blocks, counts, rows, cols).reshape(n_rows, n_cols)
    return result


def _term_pattern(term, shapes, blocks, counts, rows, cols) -> np.ndarray:
    block_of, size_of = {}, {}  # each label's block size and full size
    for group, shape, bl in zip(term.groups, shapes, blocks):
        for lab, n, s in zip(group, shape, bl):
            size_of[lab] = n
            block_of.setdefault(lab, s)  # the first occurrence decides; others get an overlap mask
    for arr, labs in term.factors:
        for lab, n in zip(labs, arr.shape):
            size_of[lab] = n
    for lab, n in size_of.items():
        block_of.setdefault(lab, -(-n // min(n, SUMMED_CELLS)) if n else 1)
    operands, subs = [], []
    for arr, labs in term.factors:
        if isinstance(arr, Gather):
            mask = _gather_mask(arr, block_of[labs[0]], block_of[labs[1]])
        elif isinstance(arr, Reshape):
            k = len(arr.out_shape)
            mask = _reshape_mask(arr, [block_of[lab] for lab in labs[:k]], [block_of[lab] for lab in labs[k:]])
        else:
            mask = np.asarray(arr) != 0
            for axis, lab in enumerate(labs):
                mask = _pool(mask, axis, block_of[lab])
        operands.append(mask)
        subs.append(list(labs))
    out, seen, fresh = [], set(), -1
    for g in list(rows) + list(cols):
        for lab, s in zip(term.groups[g], blocks[g]):
            if lab in seen:  # a delta with an earlier axis: the overlap of the two blockings
                operands.append(_overlap(size_of[lab], block_of[lab], s))
                subs.append([lab, fresh])
                out.append(fresh)
                fresh -= 1
            else:
                seen.add(lab)
                out.append(lab)
    carried = {lab for sub in subs for lab in sub}
    for lab in out:
        if lab not in carried:  # a constant (all-ones) axis
            operands.append(np.ones(-(-size_of[lab] // block_of[lab]), dtype=bool))
            subs.append([lab])
            carried.add(lab)
    shape = tuple(c for g in list(rows) + list(cols) for c in counts[g])
    if not operands:
        return np.ones(shape, dtype=bool)
    symbols = {}
    sym = lambda lab: symbols.setdefault(lab, oe.get_symbol(len(symbols)))  # noqa: E731
    eq = ",".join("".join(sym(lab) for lab in sub) for sub in subs) + "->" + "".join(sym(lab) for lab in out)
    counted = oe.contract(eq, *(m.astype(np.float32) for m in operands), optimize="greedy")
    return np.asarray(counted).reshape(shape) > 0


# ---- drawing ----------------------------------------------------------------------------------


def _check_options(kind, max_cells, ax):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if isinstance(max_cells, bool) or not isinstance(max_cells, (int, np.integer)) or max_cells < 1:
        raise ValueError(f"max_cells must be a positive int, got {max_cells!r}")
    if ax is not None and not hasattr(ax, "imshow"):
        raise ValueError(f"ax must be a matplotlib Axes or None, got a {type(ax).__name__}")


def _choose(kind, n_rows, n_cols, dtype, max_cells, what) -> str:
    small = n_rows <= max_cells and n_cols <= max_cells
    fits = _budget.fits(n_rows * n_cols, np.dtype(dtype).itemsize)
    if kind == "values" and not (small and fits):
        raise ValueError(
            f"kind='values': the {what}'s matrix view is {n_rows} x {n_cols}, over max_cells={max_cells} "
            f"or the dense budget; use kind='pattern' (the default 'auto' does) or a larger max_cells"
        )
    if kind == "auto":
        return "values" if small and fits else "pattern"
    return kind


def _index_label(index) -> str:
    return "[" + ",".join(str(int(i)) for i in index) + "]"


def _ticks(shape, blocks, max_ticks, prefix=""):
    """Tick positions and labels for one side: every cell's first multi-index when there are few
    cells, else the slices of the leading axis."""
    counts = _counts(shape, blocks)
    total = math.prod(counts)
    if total <= max_ticks:
        cells = np.ndindex(*counts) if counts else [()]
        return list(range(total)), [(prefix + _index_label(np.multiply(c, blocks))) if shape or not prefix else prefix
                                    for c in cells]
    if not shape:
        return [], []
    step = max(1, math.ceil(counts[0] / max(1, min(max_ticks, 10))))
    inner = math.prod(counts[1:])
    rest = ",…" if len(shape) > 1 else ""
    firsts = range(0, counts[0], step)
    return [k * inner for k in firsts], [f"{prefix}[{k * blocks[0]}{rest}]" for k in firsts]


def _describe(shape, blocks) -> str:
    text = f"{tuple(shape)}"
    if any(b > 1 for b in blocks):
        text += f", cells of {tuple(blocks)}"
    return text


def _new_axes(ax, n_rows, n_cols):
    _, plt, _ = require_matplotlib()
    if ax is not None:
        return ax
    width = min(9.0, max(3.5, 2.5 + 0.28 * min(n_cols, 30)))
    height = min(8.0, max(3.0, 1.5 + 0.28 * min(n_rows, 30)))
    if n_cols > 30 or n_rows > 30:
        width, height = (7.5, 6.0) if n_rows >= n_cols / 2 else (9.0, 4.5)
    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _image(ax, M, kind, cmap, title):
    """Draw ``M`` (values, or a bool pattern) on ``ax`` with a colour bar for values."""
    aspect = "equal" if max(M.shape) <= 4 * max(1, min(M.shape)) else "auto"
    if kind == "pattern":
        im = ax.imshow(M.astype(np.float32), cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest", aspect=aspect)
    else:
        vmax = float(np.max(np.abs(M))) if M.size else 0.0
        vmax = vmax if vmax > 0 else 1.0
        im = ax.imshow(M, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest", aspect=aspect)
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.09)
    ax.set_title(title, fontsize=10, pad=16)
    return im


def _tile_lines(ax, which, shape, blocks):
    """Faint lines between the slices of the leading axis of a pattern's side (its tiles)."""
    counts = _counts(shape, blocks)
    inner = math.prod(counts[1:])
    if len(counts) < 2 or not 1 < counts[0] <= 64 or inner < 8:  # no tiles, or too thin to show
        return
    for k in range(1, counts[0]):
        line = (ax.axvline if which == "x" else ax.axhline)(k * inner - 0.5, color="#9ab", linewidth=0.4)
        line.set_gid("tile")


def _set_ticks(ax, which, positions, labels):
    small = len(labels) and max(len(s) for s in labels) > 4
    if which == "x":
        ax.set_xticks(positions)
        ax.set_xticklabels(labels, rotation=90 if small else 0, fontsize=7)
    else:
        ax.set_yticks(positions)
        ax.set_yticklabels(labels, fontsize=7)


def _boundaries(ax, which, names, starts, ends, transforms):
    """Lines between consecutive blocks and the blocks' names beside the image."""
    for name, start, end in zip(names, starts, ends):
        if start > 0:
            line = (ax.axvline if which == "x" else ax.axhline)(start - 0.5, color="black", linewidth=1.2)
            line.set_gid("block-boundary")
        center = (start + end - 1) / 2
        if which == "x":
            t = ax.text(center, 1.01, name, transform=transforms.blended_transform_factory(ax.transData, ax.transAxes),
                        ha="center", va="bottom", fontsize=9, fontweight="bold")
        else:
            t = ax.text(1.01, center, name, transform=transforms.blended_transform_factory(ax.transAxes, ax.transData),
                        ha="left", va="center", fontsize=9, fontweight="bold", rotation=270)
        t.set_gid("block-name")


def _pattern_title(what, cells, dense_bytes):
    marked = int(cells.sum())
    return (f"{what}: structure pattern, {marked:,} of {cells.size:,} cells can be nonzero\n"
            f"(computed from the factors; the dense form would need {dense_bytes / 2**30:.3g} GiB)")


def plot_jacobian(J, ax=None, *, kind="auto", max_cells=256, max_ticks=24, cmap="RdBu_r", title=None):
    """Draw a Jacobian's matrix view as a heat map, or its structure pattern (see the module docstring).

    Returns the matplotlib ``Axes``.
    """
    _check_options(kind, max_cells, ax)
    _, _, _ = require_matplotlib()
    out_shape, in_shape = J.out_shape, J.in_shape
    n_rows, n_cols = math.prod(out_shape), math.prod(in_shape)
    kind = _choose(kind, n_rows, n_cols, J.dtype, max_cells, "Jacobian")
    if kind == "values":
        b_out, b_in = (1,) * len(out_shape), (1,) * len(in_shape)
        M = J.matrix()
    else:
        b_out, b_in = cell_blocks(out_shape, max_cells), cell_blocks(in_shape, max_cells)
        M = structure_pattern(J._terms, (out_shape, in_shape), (b_out, b_in), [0], [1])
    ax = _new_axes(ax, *M.shape)
    default = f"Jacobian {tuple(out_shape)} + {tuple(in_shape)}"
    if kind == "pattern" and title is None:
        title = _pattern_title(default, M, J.size * np.dtype(J.dtype).itemsize)
    _image(ax, M, kind, cmap, default if title is None else title)
    _set_ticks(ax, "y", *_ticks(out_shape, b_out, max_ticks))
    _set_ticks(ax, "x", *_ticks(in_shape, b_in, max_ticks))
    if kind == "pattern":
        _tile_lines(ax, "y", out_shape, b_out)
        _tile_lines(ax, "x", in_shape, b_in)
    ax.set_ylabel(f"output {_describe(out_shape, b_out)}", fontsize=8)
    ax.set_xlabel(f"input {_describe(in_shape, b_in)}", fontsize=8)
    return ax


def _share(shapes, max_cells):
    """Cells per argument when several share one side of a picture (proportional, at least a few)."""
    sizes = [math.prod(s) for s in shapes]
    total = max(1, sum(sizes))
    return [max(1, min(n, max(8, int(max_cells * n / total)))) for n in sizes]


def _side(names, shapes, blocks, max_ticks):
    """Starts, ends, tick positions and labels of blocks placed side by side."""
    starts, ends, positions, labels, start = [], [], [], [], 0
    per = max(1, max_ticks // max(1, len(names)))
    for name, shape, bl in zip(names, shapes, blocks):
        width = math.prod(_counts(shape, bl))
        pos, lab = _ticks(shape, bl, per if sum(math.prod(s) for s in shapes) > max_ticks else max_ticks, prefix=name)
        positions += [start + p for p in pos]
        labels += lab
        starts.append(start)
        start += width
        ends.append(start)
    return starts, ends, positions, labels


def plot_blocks(D, ax=None, *, kind="auto", max_cells=256, max_ticks=24, cmap="RdBu_r", title=None):
    """Draw block Jacobians side by side (``D.matrix()``), boundaries labelled with the argument names."""
    _check_options(kind, max_cells, ax)
    _, _, transforms = require_matplotlib()
    names = list(D.names)
    blocks_ = [D[name] for name in names]
    out_shape, in_shapes = D.out_shape, [J.in_shape for J in blocks_]
    n_rows, n_cols = math.prod(out_shape), sum(math.prod(s) for s in in_shapes)
    dtype = np.result_type(*(J.dtype for J in blocks_))
    kind = _choose(kind, n_rows, n_cols, dtype, max_cells, "block Jacobian")
    if kind == "values":
        b_out, b_ins = (1,) * len(out_shape), [(1,) * len(s) for s in in_shapes]
        M, _ = D.matrix()
    else:
        b_out = cell_blocks(out_shape, max_cells)
        b_ins = [cell_blocks(s, c) for s, c in zip(in_shapes, _share(in_shapes, max_cells))]
        M = np.concatenate([structure_pattern(J._terms, (out_shape, J.in_shape), (b_out, b), [0], [1])
                            for J, b in zip(blocks_, b_ins)], axis=1)
    ax = _new_axes(ax, *M.shape)
    default = f"block Jacobian, output {tuple(out_shape)}; blocks " + ", ".join(
        f"{n} {tuple(s)}" for n, s in zip(names, in_shapes))
    if kind == "pattern" and title is None:
        title = _pattern_title("block Jacobian", M, n_rows * n_cols * dtype.itemsize)
    _image(ax, M, kind, cmap, default if title is None else title)
    _set_ticks(ax, "y", *_ticks(out_shape, b_out, max_ticks))
    starts, ends, positions, labels = _side(names, in_shapes, b_ins, max_ticks)
    _set_ticks(ax, "x", positions, labels)
    _boundaries(ax, "x", names, starts, ends, transforms)
    ax.set_ylabel(f"output {_describe(out_shape, b_out)}", fontsize=8)
    ax.set_xlabel("inputs, one block per argument", fontsize=8)
    return ax


def plot_hessian(H, ax=None, *, kind="auto", max_cells=256, max_ticks=24, cmap="RdBu_r", title=None):
    """Draw a Hessian: the ``(prod(in), prod(in2))`` matrix of a scalar output, else one such
    matrix per output entry stacked vertically (boundaries labelled with the output index)."""
    _check_options(kind, max_cells, ax)
    _, _, transforms = require_matplotlib()
    out_shape, (in1, in2) = H.out_shape, H.in_shapes
    n_out, n1, n2 = math.prod(out_shape), math.prod(in1), math.prod(in2)
    kind = _choose(kind, n_out * n1, n2, H.dtype, max_cells, "Hessian")
    if kind == "values":
        b_out, b1, b2 = (1,) * len(out_shape), (1,) * len(in1), (1,) * len(in2)
        M = H.matrix().reshape(n_out * n1, n2)
    else:
        b_out = cell_blocks(out_shape, max(1, max_cells // 16)) if out_shape else ()
        b1 = cell_blocks(in1, max(1, max_cells // math.prod(_counts(out_shape, b_out))))
        b2 = cell_blocks(in2, max_cells)
        M = structure_pattern(H._terms, (out_shape, in1, in2), (b_out, b1, b2), [0, 1], [2])
    ax = _new_axes(ax, *M.shape)
    sym = ", symmetric" if H.symmetric else ""
    default = f"Hessian {tuple(out_shape)} + {tuple(in1)} + {tuple(in2)}{sym}"
    if kind == "pattern" and title is None:
        title = _pattern_title(default, M, H.size * np.dtype(H.dtype).itemsize)
    _image(ax, M, kind, cmap, default if title is None else title)
    _set_ticks(ax, "x", *_ticks(in2, b2, max_ticks))
    rows_per = math.prod(_counts(in1, b1))
    n_out_cells = math.prod(_counts(out_shape, b_out))
    if n_out_cells == 1:
        _set_ticks(ax, "y", *_ticks(in1, b1, max_ticks))
    else:
        cells = list(np.ndindex(*_counts(out_shape, b_out)))
        names = [f"out{_index_label(np.multiply(c, b_out))}" for c in cells]
        starts = [k * rows_per for k in range(len(cells))]
        if len(cells) <= max_ticks:
            _boundaries(ax, "y", names, starts, [s + rows_per for s in starts], transforms)
        _set_ticks(ax, "y", [], [])
    ax.set_ylabel(f"first input {_describe(in1, b1)}" + (f", per output {_describe(out_shape, b_out)}"
                                                         if out_shape else ""), fontsize=8)
    ax.set_xlabel(f"second input {_describe(in2, b2)}", fontsize=8)
    return ax


def plot_hessian_blocks(HB, ax=None, *, kind="auto", max_cells=256, max_ticks=24, cmap="RdBu_r", title=None):
    """Draw the symmetric Hessian of a scalar output over several arguments, blocks labelled by name."""
    _check_options(kind, max_cells, ax)
    _, _, transforms = require_matplotlib()
    if HB.out_shape:
        raise ValueError(f"HessianBlocks.plot draws the Hessian of a scalar output; this one has out_shape "
                         f"{HB.out_shape} (plot one block, H[name1, name2].plot(), instead)")
    names = list(HB.names)
    shapes = [HB[p, p].in_shape for p in names]
    n = sum(math.prod(s) for s in shapes)
    dtype = np.result_type(*(HB[p, q].dtype for p in names for q in names))
    kind = _choose(kind, n, n, dtype, max_cells, "Hessian")
    if kind == "values":
        bl = [(1,) * len(s) for s in shapes]
        M, _ = HB.matrix()
    else:
        bl = [cell_blocks(s, c) for s, c in zip(shapes, _share(shapes, max_cells))]
        M = np.concatenate([
            np.concatenate([structure_pattern(HB[p, q]._terms, ((), shapes[i], shapes[j]), ((), bl[i], bl[j]), [0, 1], [2])
                            for j, q in enumerate(names)], axis=1)
            for i, p in enumerate(names)], axis=0)
    ax = _new_axes(ax, *M.shape)
    default = "Hessian blocks " + ", ".join(f"{p} {tuple(s)}" for p, s in zip(names, shapes))
    if kind == "pattern" and title is None:
        title = _pattern_title("Hessian blocks", M, n * n * dtype.itemsize)
    _image(ax, M, kind, cmap, default if title is None else title)
    starts, ends, positions, labels = _side(names, shapes, bl, max_ticks)
    _set_ticks(ax, "x", positions, labels)
    _set_ticks(ax, "y", positions, labels)
    _boundaries(ax, "x", names, starts, ends, transforms)
    _boundaries(ax, "y", names, starts, ends, transforms)
    return ax
