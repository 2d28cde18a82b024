"""Block Jacobians of functions of several arguments, and the block chain rule of note 001."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from . import _budget
from ._jacobian import Jacobian

__all__ = ["Blocks", "compose"]


class Blocks(Mapping):
    """The Jacobian of ``f(x_1, ..., x_p)`` as one block per argument, ``D_{x_i} f``.

    Every block shares the output shape: block ``name`` has shape ``out_shape + x.shape``.
    Blocks are addressed by name (``blocks["W"]``) or by position (``blocks[0]``); iteration
    yields names, in argument order.

    >>> import numpy as np, tensorjac as tj
    >>> X, W, b = np.ones((4, 3)), np.ones((3, 2)), np.zeros(2)
    >>> J = tj.get_rule("affine").jacobian(X, W, b)
    >>> J.names, J["W"].shape, J[2].shape
    (('X', 'W', 'b'), (4, 2, 3, 2), (4, 2, 2))
    """

    __array_ufunc__ = None  # ``ndarray + Blocks`` raises TypeError (not an object array of sums)

    def __init__(self, blocks: Mapping[str, Jacobian]):
        if not isinstance(blocks, Mapping):
            raise TypeError(
                f"Blocks takes a mapping from argument names to tensorjac.Jacobian objects, got {type(blocks).__name__}"
            )
        self._blocks = dict(blocks)
        if not self._blocks:
            raise ValueError("Blocks needs at least one block")
        for name, J in self._blocks.items():
            if not isinstance(name, str):
                raise TypeError(f"block names must be strings (argument names), got {name!r}")
            if not isinstance(J, Jacobian):
                raise ValueError(f"block {name!r} is a {type(J).__name__}, not a tensorjac.Jacobian")
        shapes = {name: J.out_shape for name, J in self._blocks.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"all blocks must share one output shape, got {shapes}")
        self.out_shape = next(iter(shapes.values()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._blocks)

    def __getitem__(self, key) -> Jacobian:
        if isinstance(key, str):
            if key not in self._blocks:
                raise KeyError(f"no block named {key!r}; the blocks are {list(self._blocks)}")
            return self._blocks[key]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            n = len(self._blocks)
            if not -n <= key < n:
                raise IndexError(f"block index {key} out of range for {n} block(s) {list(self._blocks)}")
            return self._blocks[self.names[key]]
        raise KeyError(f"blocks are addressed by name or position, got {key!r}")

    def __contains__(self, key) -> bool:
        """Membership is by name, like iteration (``0 in blocks`` is False, never an IndexError)."""
        return isinstance(key, str) and key in self._blocks

    def __iter__(self):
        return iter(self._blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    def __add__(self, other: "Blocks") -> "Blocks":
        """Sum of two block Jacobians of the same output: blocks of the same variable add up."""
        if not isinstance(other, Blocks):
            return NotImplemented
        if self.out_shape != other.out_shape:
            raise ValueError(f"cannot add Blocks with out_shape {self.out_shape} and {other.out_shape}")
        result = dict(self._blocks)
        for name, J in other.items():
            result[name] = result[name] + J if name in result else J
        return Blocks(result)

    def rename(self, mapping: Mapping[str, str]) -> "Blocks":
        """Blocks with some variables renamed, e.g. ``{"W": "V", "b": "c"}``."""
        if not isinstance(mapping, Mapping):
            raise TypeError(f"rename takes a mapping from old to new names, got {type(mapping).__name__}")
        unknown = set(mapping) - set(self._blocks)
        if unknown:
            raise ValueError(f"cannot rename {sorted(unknown)}: the blocks are {list(self._blocks)}")
        renamed = [mapping.get(name, name) for name in self._blocks]
        if len(set(renamed)) != len(renamed):
            raise ValueError(f"renaming {list(self._blocks)} by {dict(mapping)} gives repeated names {renamed}")
        return Blocks(dict(zip(renamed, self._blocks.values())))

    def dense(self, budget: int | None = None) -> dict[str, np.ndarray]:
        """Every block as a dense array, by name."""
        return {name: J.dense(budget) for name, J in self._blocks.items()}

    def matrix(self, budget: int | None = None) -> tuple[np.ndarray, dict[str, slice]]:
        """All blocks side by side as one ``(prod(out_shape), sum of prod(in_shape))`` matrix.

        Returns the matrix and the column range of each block, by name.

        >>> import numpy as np, tensorjac as tj
        >>> M, cols = tj.get_rule("multiply").jacobian(np.array([1.0, 2.0]), np.array([3.0, 4.0])).matrix()
        >>> M
        array([[3., 0., 1., 0.],
               [0., 4., 0., 2.]])
        >>> cols
        {'x1': slice(0, 2, None), 'x2': slice(2, 4, None)}
        """
        columns, start = {}, 0
        for name, J in self._blocks.items():
            width = math.prod(J.in_shape)
            columns[name] = slice(start, start + width)
            start += width
        # The budget holds for the assembled matrix, not block by block.
        dtype = np.result_type(*(J.dtype for J in self._blocks.values()))
        rows = math.prod(self.out_shape)
        _budget.check((rows, start), dtype, budget, what="the matrix of the blocks")
        M = np.empty((rows, start), dtype=dtype)
        for name, J in self._blocks.items():
            M[:, columns[name]] = J.matrix(budget)
        return M, columns

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: in_shape={J.in_shape}" for name, J in self._blocks.items())
        return f"Blocks(out_shape={self.out_shape}, {{{inner}}})"

    def plot(self, ax=None, **options):
        """Draw the blocks side by side with matplotlib (the ``plot`` extra); return the ``Axes``.

        Block boundaries are lines labelled with the argument names.
        A heat map of the matrix view (diverging colour map centred at 0, multi-index ticks
        for small shapes), or, when it has more than ``max_cells`` (default 256) rows or columns
        or a dense form over the dense budget, its structure pattern computed from the factors
        without materialising it.  Options: ``kind`` (``"auto"``, ``"values"``, ``"pattern"``),
        ``max_cells``, ``max_ticks``, ``cmap``, ``title`` (:mod:`tensorjac._plot`).

        >>> import numpy as np, tensorjac as tj
        >>> D = tj.get_rule("multiply").jacobian(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
        >>> [t.get_text() for t in D.plot().texts]     # the block names above the boundaries
        ['x1', 'x2']
        """
        from ._plot import plot_blocks
        return plot_blocks(self, ax, **options)

    def _repr_html_(self) -> str:
        from ._display import blocks_html
        return blocks_html(self)


def compose(outer: Blocks, inner: Mapping[str, Blocks]) -> Blocks:
    """The block chain rule: blocks of ``h(..., f(...), ...)`` from the blocks of ``h`` and ``f``.

    ``outer`` holds the blocks of ``h`` with respect to its arguments; ``inner`` maps the names
    of the arguments of ``h`` that are themselves functions to their blocks.  For
    ``phi(V, W, X, Y) = h(F, G)`` with ``F = f(V, W)`` and ``G = g(X, Y)``::

        compose(Dh, {"F": Df, "G": Dg})   # D_V phi = c(D_F h, D_V f), D_W phi = ..., ...

    Arguments of ``h`` not in ``inner`` are leaf variables whose blocks are kept.  When one
    variable reaches the output along several paths (it feeds several intermediates, or is
    also a leaf of ``h``), the contributions of all paths are summed.

    Raises:
        TypeError: ``outer`` is not a :class:`Blocks`, or ``inner`` not a mapping of names to ``Blocks``.
        ValueError: a name in ``inner`` is not an argument of ``h``, or an inner output shape
            differs from the matching input shape of ``h``.
    """
    if not isinstance(outer, Blocks):
        raise TypeError(
            f"compose: outer must be the tensorjac.Blocks of the outer function (one Jacobian per argument), "
            f"got {type(outer).__name__}; wrap a single Jacobian as tj.Blocks({{'name': J}})"
        )
    if not isinstance(inner, Mapping):
        raise TypeError(f"compose: inner must map argument names of the outer function to Blocks, got {type(inner).__name__}")
    for name, blocks in inner.items():
        if not isinstance(blocks, Blocks):
            raise TypeError(
                f"compose: inner[{name!r}] must be the tensorjac.Blocks of the function feeding {name!r}, got "
                f"{type(blocks).__name__}; wrap a single Jacobian as tj.Blocks({{'x': J}})"
            )
    unknown = [name for name in inner if name not in outer]
    if unknown:
        raise ValueError(f"compose: {unknown} are not arguments of the outer function; its blocks are {list(outer)}")
    result: dict[str, Jacobian] = {}

    def add(name, J):
        result[name] = result[name] + J if name in result else J

    for name, D_outer in outer.items():
        if name not in inner:
            add(name, D_outer)
            continue
        if inner[name].out_shape != D_outer.in_shape:
            raise ValueError(
                f"compose: the outer function's argument {name!r} has shape {D_outer.in_shape} but the "
                f"inner function feeding it has output shape {inner[name].out_shape}"
            )
        for var, D_inner in inner[name].items():
            add(var, D_outer @ D_inner)
    return Blocks(result)
