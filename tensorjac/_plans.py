"""Contraction plans, planned once per (equation, shapes) and reused.

``plan(eq, shapes)`` is an LRU-cached :class:`Plan`: a pairwise contraction path for ``eq`` with
operands of these shapes (the cheapest of opt_einsum's ``greedy``, the interval dynamic
program over neighbouring operands, registered with opt_einsum as the path function
``"tensorjac-interval"``, and, for few operands, opt_einsum's ``dp``), its cost (flops counted
by ``opt_einsum.helpers.flop_count``) and a compiled executor.  On numpy arrays the executor runs each
pairwise step with precomputed transposes and reshapes around one matrix product (or a
broadcast multiply, or ``np.einsum`` for the rare step that is neither), so a small contraction
costs a few numpy calls, not a path search.  Other arrays (dask, torch, jax, ...) go through
opt_einsum's ``contract_expression`` on the same path, which dispatches to their own backend
and returns arrays of the same kind.

A *cost recorder* (:func:`recording`) turns the contractions of :mod:`tensorjac._terms` into
a dry run: they record the planned cost and return a zero-memory placeholder of the right
shape instead of computing.  ``tensorjac.chain_cost`` predicts the cost of a structured chain
this way, through the very code that ``chain`` runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math

import numpy as np
import opt_einsum as oe

from .ordering import bracketing_steps, optimal_bracketing

# ---- Cost recording (dry runs) --------------------------------------------------------------


class CostRecord:
    """Flops and largest intermediate (entries) of the contractions seen during a dry run.

    ``steps`` lists each contraction as ``(what, flops, largest)``: its einsum equation with
    operand shapes, or a word for other work (``"add"``, ``"gather"``).
    """

    __slots__ = ("flops", "largest", "steps")

    def __init__(self):
        self.flops = 0
        self.largest = 0
        self.steps = []

    def add(self, flops: int, largest: int, what: str = "") -> None:
        self.flops += int(flops)
        self.largest = max(self.largest, int(largest))
        self.steps.append((what, int(flops), int(largest)))


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
# Broadcast products with at least this many entries are written into an intermediate operand.
_IN_PLACE_MIN_SIZE = 1 << 12
# Matrix products up to this many multiply-adds use ndarray.dot (see _compile_binary).
_SMALL_PRODUCT = 1 << 16


def _einsum_step(einsum_str: str):
    """``np.einsum`` on a step whose letters may be beyond ASCII (opt_einsum symbols past 52)."""
    eq = oe.parser.convert_to_valid_einsum_chars(einsum_str)
    return lambda *ops: np.einsum(eq, *ops)


def _presum(letters: str, keep: set[str]):
    """(axes to sum, letters left) for the letters of one operand that nobody else needs."""
    axes = tuple(ax for ax, c in enumerate(letters) if c not in keep)
    return axes, "".join(c for c in letters if c in keep)


def _compile_unary(inp: str, out: str):
    if len(set(inp)) != len(inp):
        return _einsum_step(f"{inp}->{out}")
    axes, left = _presum(inp, set(out))
    perm = tuple(left.index(c) for c in out)
    identity = perm == tuple(range(len(perm)))

    def unary(a):
        if axes:
            a = a.sum(axis=axes)
        return a if identity else a.transpose(perm)

    return unary


def _compile_binary(a_in: str, b_in: str, out: str, sizes: dict[str, int], owned=(False, False)):
    """One pairwise step as transposes/reshapes around np.matmul (or a broadcast multiply).

    ``owned`` tells which operands are intermediates of the plan (not the caller's arrays):
    a broadcast product may then be written into one of them in place.
    """
    if len(set(a_in)) != len(a_in) or len(set(b_in)) != len(b_in) or len(set(out)) != len(out):
        return _einsum_step(f"{a_in},{b_in}->{out}")
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
        out_shape = tuple(sizes[c] for c in out)
        # A fresh big array costs page faults (about 1 ms per MiB on a small VM): write the
        # product into an intermediate operand that already has the output's shape and order.
        into = None
        if math.prod(out_shape) >= _IN_PLACE_MIN_SIZE:
            for pos, (axes, perm, shape) in enumerate(((a_axes, a_perm, a_shape), (b_axes, b_perm, b_shape))):
                if owned[pos] and not axes and perm is None and shape == out_shape:
                    into = pos
                    break

        def product(a, b):
            if a_axes:
                a = a.sum(axis=a_axes)
            if b_axes:
                b = b.sum(axis=b_axes)
            if a_perm is not None:
                a = a.transpose(a_perm)
            if b_perm is not None:
                b = b.transpose(b_perm)
            a, b = a.reshape(a_shape), b.reshape(b_shape)
            if into is not None:
                target = a if into == 0 else b
                if target.flags.writeable and target.dtype == np.result_type(a, b):
                    return np.multiply(a, b, out=target)
            return np.multiply(a, b)

        return product

    if batch and size(a_free) * size(summed) * size(b_free) < _BATCHED_GEMM_MIN_WORK:
        return _einsum_step(f"{a_in},{b_in}->{out}")

    # C[batch, a_free, b_free] = A[batch, a_free, summed] B[batch, summed, b_free]; when the
    # output wants b_free before a_free, compute C^T = B^T A^T instead of transposing C.
    swap = out == batch + b_free + a_free and out != batch + a_free + b_free
    l_let, l_free, r_let, r_free = (b_let, b_free, a_let, a_free) if swap else (a_let, a_free, b_let, b_free)
    nb, nl, nk, nr = size(batch), size(l_free), size(summed), size(r_free)
    l_perm = tuple(l_let.index(c) for c in batch + l_free + summed)
    r_perm = tuple(r_let.index(c) for c in batch + summed + r_free)
    l_shape = (nb, nl, nk) if batch else (nl, nk)
    r_shape = (nb, nk, nr) if batch else (nk, nr)
    mid = batch + l_free + r_free
    mid_shape = tuple(sizes[c] for c in mid)
    out_perm = tuple(mid.index(c) for c in out)
    l_perm = None if l_perm == tuple(range(len(l_perm))) else l_perm
    r_perm = None if r_perm == tuple(range(len(r_perm))) else r_perm
    out_perm = None if out_perm == tuple(range(len(out_perm))) else out_perm
    # Reshapes are needed only where a group is empty or has several letters.
    one_each = lambda *groups: all(len(g) == 1 for g in groups)  # noqa: E731
    batch_group = (batch,) if batch else ()
    l_shape = None if one_each(*batch_group, l_free, summed) else l_shape
    r_shape = None if one_each(*batch_group, summed, r_free) else r_shape
    mid_shape = None if one_each(*batch_group, l_free, r_free) else mid_shape

    # ndarray.dot has the least call overhead for small matrix products; np.matmul is as fast
    # or faster (up to 25% at 2048x8x2048) for big ones and handles the batched case.
    small = not batch and nl * nk * nr <= _SMALL_PRODUCT

    def gemm(a, b):
        if a_axes:
            a = a.sum(axis=a_axes)
        if b_axes:
            b = b.sum(axis=b_axes)
        if swap:
            a, b = b, a
        if l_perm is not None:
            a = a.transpose(l_perm)
        if r_perm is not None:
            b = b.transpose(r_perm)
        if l_shape is not None:
            a = a.reshape(l_shape)
        if r_shape is not None:
            b = b.reshape(r_shape)
        result = a.dot(b) if small else np.matmul(a, b)
        if mid_shape is not None:
            result = result.reshape(mid_shape)
        return result if out_perm is None else result.transpose(out_perm)

    return gemm


def _compile_steps(n_inputs: int, steps, sizes: dict[str, int]):
    """Compile simulated steps ``(inds, argument letters, result letters)`` into callables.

    Tracks which operands are intermediates the plan owns (fresh arrays, never a view of a
    caller's operand) so that broadcast products may be written into them.
    """
    live = [False] * n_inputs  # owned?
    compiled = []
    for inds, args, result in steps:
        flags = tuple(live.pop(i) for i in inds)
        if len(args) == 2:
            step = _compile_binary(args[0], args[1], result, sizes, owned=flags)
        else:
            step = _compile_step(",".join(args) + "->" + result, sizes)
        compiled.append((inds, step))
        # A one-operand step that only transposes (or takes a diagonal) returns a view.
        live.append(len(args) >= 2 or (len(set(args[0])) == len(args[0]) and set(args[0]) != set(result)))
    return compiled


def _compile_step(einsum_str: str, sizes: dict[str, int]):
    inputs, out = einsum_str.split("->")
    parts = inputs.split(",")
    if len(parts) == 1:
        return _compile_unary(parts[0], out)
    if len(parts) == 2:
        return _compile_binary(parts[0], parts[1], out, sizes)
    return _einsum_step(einsum_str)


# ---- Path search --------------------------------------------------------------------------------

# opt_einsum's "optimal" (and so "auto" for up to 4 operands) can return a costly path when an
# index is shared by more than two operands (dgasmith/opt_einsum#167) -- exactly what a
# diagonal in a chain produces: "a,ab,b,bc->ac" gets a 10^9-entry outer product for n = 1000.
# So the path is the cheapest of: the interval dynamic program below (the matrix-chain program
# generalised to labelled factors: it only merges neighbours, which is what a chain needs),
# opt_einsum's "greedy", and its "dp" for few operands.
_DP_MAX_OPERANDS = 6
_INTERVAL_MAX_OPERANDS = 24


def interval_path(inputs, output, size_dict, memory_limit=None):
    """opt_einsum path function ``"tensorjac-interval"``: the cheapest bracketing of neighbours.

    The matrix-chain dynamic program (:func:`tensorjac.ordering.optimal_bracketing`)
    generalised to labelled factors: merging operands ``i..s`` with ``s+1..j`` costs the size
    of the union of the letters they still need (twice if a letter is summed), as
    ``opt_einsum.helpers.flop_count`` counts it.  With more than 24 operands (the program is
    cubic) it returns opt_einsum's ``greedy`` path.  ``memory_limit`` is ignored.
    """
    n = len(inputs)
    if n > _INTERVAL_MAX_OPERANDS:
        return oe.paths.greedy(inputs, output, size_dict, memory_limit)
    if n < 2:
        return [tuple(range(n))]
    sets = [frozenset(sub) for sub in inputs]
    out = frozenset(output)
    # prefix[i]: letters of operands 0..i-1; suffix[j]: letters of operands j..n-1.
    prefix, suffix = [frozenset()], [frozenset()] * (n + 1)
    for sub in sets:
        prefix.append(prefix[-1] | sub)
    for j in range(n - 1, -1, -1):
        suffix[j] = suffix[j + 1] | sets[j]
    # kept[i, j]: the letters of operands i..j still needed outside them (or in the output).
    kept = {}
    for i in range(n):
        inside = frozenset()
        for j in range(i, n):
            inside |= sets[j]
            kept[i, j] = inside & (out | prefix[i] | suffix[j + 1])
    size_of: dict[frozenset, int] = {}

    def size(letters):
        found = size_of.get(letters)
        if found is None:
            found = size_of[letters] = oe.helpers.compute_size_by_dict(letters, size_dict)
        return found

    def merge(i, s, j):
        union, result = kept[i, s] | kept[s + 1, j], kept[i, j]
        return oe.helpers.flop_count(union, len(union) > len(result), 2, size_dict), size(result)

    _, _, bracketing = optimal_bracketing(n, merge)
    return oe.paths.ssa_to_linear(bracketing_steps(bracketing))


INTERVAL_PATH = "tensorjac-interval"
try:
    oe.paths.register_path_fn(INTERVAL_PATH, interval_path)
except KeyError:  # registered already (this module was reloaded)
    pass


def _simulate(inputs: list[str], output: str, sizes: dict[str, int], path):
    """Walk a path as opt_einsum does: (flops, largest intermediate, steps).

    Flops and sizes are counted as opt_einsum counts them (``helpers.flop_count``: the size of
    the union of the indices times (terms - 1, at least 1, plus 1 if an index is summed)).
    Each step is ``(positions popped, their letters, the result's letters)``; an
    intermediate's letters follow the order of the final output, then their first appearance,
    so that products write their result in place of transposing it.
    """
    rank = {c: i for i, c in enumerate(output)}
    live = list(inputs)
    flops = largest = 0
    steps = []
    for num, pair in enumerate(path):
        inds = tuple(sorted(pair, reverse=True))
        args = [live.pop(i) for i in inds]
        joined = "".join(args)
        union = set(joined)
        if num == len(path) - 1:
            result = output
        else:
            needed = set(output).union(*live)
            order = {c: joined.index(c) for c in union}
            result = "".join(sorted((c for c in union if c in needed), key=lambda c: (rank.get(c, len(rank)), order[c])))
        summed = len(union) > len(set(result))
        flops += oe.helpers.flop_count(union, summed, len(args), sizes)
        largest = max(largest, oe.helpers.compute_size_by_dict(result, sizes))
        steps.append((inds, args, result))
        live.append(result)
    return flops, largest, steps


def _best_path(inputs: list[str], output: str, sizes: dict[str, int]):
    """(path, flops, largest, steps) of least flops, then smallest largest intermediate."""
    n = len(inputs)
    if n <= 2:
        candidates = [[tuple(range(n))]]
    else:
        sets, out = [frozenset(sub) for sub in inputs], frozenset(output)
        finders = ["greedy"]
        if n <= _INTERVAL_MAX_OPERANDS:
            finders.append(INTERVAL_PATH)
        if n <= _DP_MAX_OPERANDS:
            finders.append("dp")
        candidates = [oe.paths.get_path_fn(name)(sets, out, sizes) for name in finders]
    best = None
    for path in candidates:
        path = [tuple(step) for step in path]
        flops, largest, steps = _simulate(inputs, output, sizes, path)
        if best is None or (flops, largest) < best[1:3]:
            best = (path, flops, largest, steps)
    return best


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
        subs = inputs.split(",")
        self.path, self.flops, self.largest, steps = _best_path(subs, out, sizes)
        self._steps = _compile_steps(len(subs), steps, sizes)
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
