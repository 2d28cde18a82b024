"""Contraction plans, planned once per (equation, shapes) and reused.

``plan(eq, shapes)`` is an LRU-cached :class:`Plan`: the opt_einsum path of ``eq`` for operands
of these shapes, its cost (flops counted as opt_einsum counts them) and a compiled executor.
On numpy arrays the executor runs each pairwise step with precomputed transposes and reshapes
around one ``np.matmul`` (or a broadcast multiply, or ``np.einsum`` for the rare step that is
neither), so a small contraction costs a few numpy calls, not a path search.  Other arrays
(dask, torch, jax, ...) go through opt_einsum's ``contract_expression`` with the same path,
which dispatches to their own backend and returns arrays of the same kind.

A *cost recorder* (:func:`recording`) turns the contractions of :mod:`tensorjac.jacobian` into
a dry run: they record the planned cost and return a zero-memory placeholder of the right
shape instead of computing.  ``tensorjac.chain_cost`` predicts the cost of a structured chain
this way, through the very code that ``chain`` runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import string

import numpy as np
import opt_einsum as oe

# ---- Cost recording (dry runs) --------------------------------------------------------------


class CostRecord:
    """Flops and largest intermediate (entries) of the contractions seen during a dry run."""

    __slots__ = ("flops", "largest")

    def __init__(self):
        self.flops = 0
        self.largest = 0

    def add(self, flops: int, largest: int) -> None:
        self.flops += int(flops)
        self.largest = max(self.largest, int(largest))


_RECORD: contextvars.ContextVar = contextvars.ContextVar("tensorjac_cost_record", default=None)


def active_record() -> CostRecord | None:
    """The recorder of the dry run in progress, or None when contractions really compute."""
    return _RECORD.get()


@contextlib.contextmanager
def recording():
    """Dry-run context: contractions record their cost and return placeholders."""
    record = CostRecord()
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


def placeholder(shape, dtype) -> np.ndarray:
    """A read-only array of ``shape`` that takes no memory (all strides 0)."""
    return np.broadcast_to(np.zeros((), dtype=dtype), tuple(shape))


# ---- Compiled steps for numpy arrays -------------------------------------------------------

# Batched products whose matrices are smaller than this go to np.einsum (a loop of tiny GEMMs
# in np.matmul is slower than einsum's inner loop); bigger ones to np.matmul (BLAS).
_BATCHED_GEMM_MIN_WORK = 4096


def _ascii_einsum(einsum_str: str):
    """``np.einsum`` on a step whose letters may be beyond ASCII (opt_einsum symbols past 52)."""
    letters = sorted(set(einsum_str) - set(",->"))
    if all(c in string.ascii_letters for c in letters):
        eq = einsum_str
    else:
        table = str.maketrans({c: string.ascii_letters[i] for i, c in enumerate(letters)})
        eq = einsum_str.translate(table)
    return lambda *ops: np.einsum(eq, *ops)


def _presum(letters: str, keep: set[str]):
    """(axes to sum, letters left) for the letters of one operand that nobody else needs."""
    axes = tuple(ax for ax, c in enumerate(letters) if c not in keep)
    return axes, "".join(c for c in letters if c in keep)


def _compile_unary(inp: str, out: str):
    if len(set(inp)) != len(inp):
        return _ascii_einsum(f"{inp}->{out}")
    axes, left = _presum(inp, set(out))
    perm = tuple(left.index(c) for c in out)
    identity = perm == tuple(range(len(perm)))

    def unary(a):
        if axes:
            a = a.sum(axis=axes)
        return a if identity else a.transpose(perm)

    return unary


def _compile_binary(a_in: str, b_in: str, out: str, sizes: dict[str, int]):
    """One pairwise step as transposes/reshapes around np.matmul (or a broadcast multiply)."""
    if len(set(a_in)) != len(a_in) or len(set(b_in)) != len(b_in) or len(set(out)) != len(out):
        return _ascii_einsum(f"{a_in},{b_in}->{out}")
    a_axes, a_let = _presum(a_in, set(b_in) | set(out))
    b_axes, b_let = _presum(b_in, set(a_let) | set(out))
    batch = "".join(c for c in a_let if c in b_let and c in out)
    summed = "".join(c for c in a_let if c in b_let and c not in out)
    a_free = "".join(c for c in a_let if c not in b_let)
    b_free = "".join(c for c in b_let if c not in a_let)
    size = lambda letters: math.prod(sizes[c] for c in letters)  # noqa: E731

    if not summed:
        # No sum: a broadcast product.  Align both operands to ``out`` with size-1 axes.
        def aligned(letters):
            order = [c for c in out if c in letters]
            perm = tuple(letters.index(c) for c in order)
            shape = tuple(sizes[c] if c in letters else 1 for c in out)
            return (None if perm == tuple(range(len(perm))) else perm), shape

        a_perm, a_shape = aligned(a_let)
        b_perm, b_shape = aligned(b_let)

        def product(a, b):
            if a_axes:
                a = a.sum(axis=a_axes)
            if b_axes:
                b = b.sum(axis=b_axes)
            if a_perm is not None:
                a = a.transpose(a_perm)
            if b_perm is not None:
                b = b.transpose(b_perm)
            return np.multiply(a.reshape(a_shape), b.reshape(b_shape))

        return product

    if batch and size(a_free) * size(summed) * size(b_free) < _BATCHED_GEMM_MIN_WORK:
        return _ascii_einsum(f"{a_in},{b_in}->{out}")

    nb, nl, nk, nr = size(batch), size(a_free), size(summed), size(b_free)
    a_perm = tuple(a_let.index(c) for c in batch + a_free + summed)
    b_perm = tuple(b_let.index(c) for c in batch + summed + b_free)
    a_shape = (nb, nl, nk) if batch else (nl, nk)
    b_shape = (nb, nk, nr) if batch else (nk, nr)
    mid = batch + a_free + b_free
    mid_shape = tuple(sizes[c] for c in mid)
    out_perm = tuple(mid.index(c) for c in out)
    a_perm = None if a_perm == tuple(range(len(a_perm))) else a_perm
    b_perm = None if b_perm == tuple(range(len(b_perm))) else b_perm
    out_perm = None if out_perm == tuple(range(len(out_perm))) else out_perm
    # Reshapes are needed only where a group is empty or has several letters.
    one_each = lambda *groups: all(len(g) == 1 for g in groups)  # noqa: E731
    a_shape = None if one_each(*((batch,) if batch else ()), a_free, summed) else a_shape
    b_shape = None if one_each(*((batch,) if batch else ()), summed, b_free) else b_shape
    mid_shape = None if one_each(*((batch,) if batch else ()), a_free, b_free) else mid_shape

    def gemm(a, b):
        if a_axes:
            a = a.sum(axis=a_axes)
        if b_axes:
            b = b.sum(axis=b_axes)
        if a_perm is not None:
            a = a.transpose(a_perm)
        if b_perm is not None:
            b = b.transpose(b_perm)
        if a_shape is not None:
            a = a.reshape(a_shape)
        if b_shape is not None:
            b = b.reshape(b_shape)
        result = np.matmul(a, b)
        if mid_shape is not None:
            result = result.reshape(mid_shape)
        return result if out_perm is None else result.transpose(out_perm)

    return gemm


def _compile_step(einsum_str: str, sizes: dict[str, int]):
    inputs, out = einsum_str.split("->")
    parts = inputs.split(",")
    if len(parts) == 1:
        return _compile_unary(parts[0], out)
    if len(parts) == 2:
        return _compile_binary(parts[0], parts[1], out, sizes)
    return _ascii_einsum(einsum_str)


# ---- Plans -----------------------------------------------------------------------------------


class Plan:
    """A planned contraction: path, cost, and executors for numpy and for other backends."""

    __slots__ = ("eq", "shapes", "path", "flops", "largest", "out_shape", "_steps", "_expression")

    def __init__(self, eq: str, shapes: tuple[tuple[int, ...], ...]):
        self.eq, self.shapes = eq, shapes
        inputs, out = eq.split("->")
        sizes = {}
        for letters, shape in zip(inputs.split(","), shapes):
            sizes.update(zip(letters, shape))
        self.out_shape = tuple(sizes[c] for c in out)
        path, info = oe.contract_path(eq, *shapes, shapes=True)
        self.path, self.flops, self.largest = path, int(info.opt_cost), int(info.largest_intermediate)
        self._steps = [
            (tuple(inds), _compile_step(einsum_str, sizes)) for inds, _, einsum_str, _, _ in info.contraction_list
        ]
        self._expression = None

    def expression(self):
        """The opt_einsum ``ContractExpression`` on the same path (built on first use)."""
        if self._expression is None:
            self._expression = oe.contract_expression(self.eq, *self.shapes, optimize=self.path)
        return self._expression

    def __call__(self, *arrays):
        for arr in arrays:
            if type(arr) is not np.ndarray:
                return self.expression()(*arrays)
        if len(self._steps) == 1:
            inds, step = self._steps[0]
            if len(inds) == 2:  # opt_einsum pops (1, 0): the step takes the operands reversed
                return step(arrays[inds[0]], arrays[inds[1]])
            return step(*arrays)
        operands = list(arrays)
        for inds, step in self._steps:
            args = [operands.pop(i) for i in inds]
            operands.append(step(*args))
        return operands[0]

    def __repr__(self):
        return f"Plan({self.eq!r}, shapes={self.shapes}, flops={self.flops}, largest={self.largest})"


@functools.lru_cache(maxsize=2048)
def plan(eq: str, shapes: tuple[tuple[int, ...], ...]) -> Plan:
    """The cached :class:`Plan` of ``eq`` for operands of these shapes (LRU, 2048 entries)."""
    return Plan(eq, shapes)
