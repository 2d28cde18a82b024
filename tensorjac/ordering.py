"""The pure cost model of contraction orders: one bracketing dynamic program, shared.

A chain ``J_1, ..., J_n`` (outermost function first) has the matrix views
``d_0 x d_1, d_1 x d_2, ..., d_{n-1} x d_n``.  Three orders are offered:

* ``"forward"``: from the input side, ``c(J_1, c(J_2, ... c(J_{n-1}, J_n)))`` (forward mode);
* ``"reverse"``: from the output side, ``c(c(c(J_1, J_2), ...), J_n)`` (reverse mode,
  backpropagation);
* ``"optimal"``: for dense Jacobians, the bracketing of least cost found by the matrix-chain
  dynamic program; when any Jacobian is structured (deltas, diagonals, several terms), the
  lazy product of all of them, each term evaluated by one contraction over all its factors.
  That contraction's path is the cheapest of the same dynamic program generalised to
  labelled factors (merging neighbours), opt_einsum's ``greedy`` and, for up to 6 factors,
  its ``dp`` (opt_einsum's ``optimal`` is not used: with a label shared by three factors,
  as a diagonal makes, it can return a path with an ``n^3`` outer product).

Costs are counted as opt_einsum counts them: multiplying an ``m x k`` by a ``k x n`` matrix
costs ``2 m k n`` flops (a multiply and an add per term; note 002 counts ``m n (2k - 1)``,
which differs only by the first addition of each sum).  The *largest intermediate* is the
number of entries of the largest array any step creates, the final result included.

This module computes costs from sizes alone and imports nothing else of tensorjac: the
bracketing program :func:`optimal_bracketing` serves both the matrix chains here and the
labelled-factor contractions of ``tensorjac._plans``.  ``tensorjac.chain_cost`` reports, for
each order, the cost of exactly the contractions ``tensorjac.chain`` performs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "ORDERS",
    "OrderCost",
    "check_order",
    "forward_path",
    "reverse_path",
    "optimal_bracketing",
    "bracketing_steps",
    "matrix_chain_costs",
]

ORDERS = ("optimal", "forward", "reverse")

class OrderCost(NamedTuple):
    """The predicted cost of one order of a chain.

    Attributes:
        flops: floating-point operations of all contractions (``2 m k n`` per matrix product).
        largest_intermediate: entries of the largest array created, the result included.
        path: the bracketing as nested pairs of factor positions, e.g. ``((0, (1, 2)), 3)``;
            a flat tuple ``(0, 1, ..., n-1)`` means one contraction over all factors.
    """

    flops: int
    largest_intermediate: int
    path: tuple | int


def check_order(order) -> str:
    """Return ``order`` if it names an order, else raise ``ValueError`` listing the valid ones."""
    if order not in ORDERS:
        raise ValueError(f"unknown chain order {order!r}; valid orders are {list(ORDERS)}")
    return order


def forward_path(n: int):
    """``(0, (1, (2, ... (n-2, n-1))))``: contract from the input side."""
    path = n - 1
    for pos in range(n - 2, -1, -1):
        path = (pos, path)
    return path


def reverse_path(n: int):
    """``((((0, 1), 2), ...), n-1)``: contract from the output side."""
    path = 0
    for pos in range(1, n):
        path = (path, pos)
    return path


def optimal_bracketing(n: int, merge: Callable[[int, int, int], tuple[int, int]]):
    """The interval dynamic program over ``n`` operands in a row: ``(flops, largest, bracketing)``.

    ``merge(i, s, j)`` gives ``(flops, entries)`` of combining the results of operands
    ``i..s`` and ``s+1..j`` (its cost, and the size of the result).  Only neighbours are
    merged, which is what a chain needs.  Least flops wins; ties go to the smaller largest
    intermediate, then to the first split found (the most input-side one).

    >>> dims = (2, 3, 4, 5)   # matrices 2x3, 3x4, 4x5
    >>> optimal_bracketing(3, lambda i, s, j: (2 * dims[i] * dims[s + 1] * dims[j + 1], dims[i] * dims[j + 1]))
    (128, 10, ((0, 1), 2))
    """
    best: dict[tuple[int, int], tuple[int, int, object]] = {(i, i): (0, 0, i) for i in range(n)}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            choice = None
            for s in range(i, j):
                f1, l1, p1 = best[i, s]
                f2, l2, p2 = best[s + 1, j]
                flops, entries = merge(i, s, j)
                cand = (f1 + f2 + flops, max(l1, l2, entries), (p1, p2))
                if choice is None or cand[:2] < choice[:2]:
                    choice = cand
            best[i, j] = choice
    return best[0, n - 1]


@functools.lru_cache(maxsize=1024)
def bracketing_steps(path) -> tuple[tuple[int, int], ...]:
    """A bracketing as a flat list of ``(left slot, right slot)`` products, in evaluation order.

    Leaves are slots ``0..n-1``; the k-th product is stored in slot ``n + k`` (opt_einsum's
    "static single assignment" form: ``opt_einsum.paths.ssa_to_linear`` turns it into an
    opt_einsum path).

    >>> bracketing_steps(((0, 1), 2))
    ((0, 1), (3, 2))
    """
    leaves = []

    def collect(node):
        if isinstance(node, int):
            leaves.append(node)
        else:
            collect(node[0])
            collect(node[1])

    collect(path)
    n = max(leaves) + 1
    steps: list[tuple[int, int]] = []

    def emit(node) -> int:
        if isinstance(node, int):
            return node
        left, right = emit(node[0]), emit(node[1])
        steps.append((left, right))
        return n + len(steps) - 1

    emit(path)
    return tuple(steps)


def _matrix_merge(dims):
    return lambda i, s, j: (2 * dims[i] * dims[s + 1] * dims[j + 1], dims[i] * dims[j + 1])


def _bracketing_cost(dims: tuple[int, ...], path) -> tuple[int, int]:
    """(flops, largest intermediate) of evaluating ``path`` on matrices ``d_i x d_{i+1}``."""
    merge = _matrix_merge(dims)

    def walk(node):  # -> (first, last, flops, largest)
        if isinstance(node, int):
            return node, node, 0, 0
        left, right = walk(node[0]), walk(node[1])
        flops, entries = merge(left[0], left[1], right[1])
        return left[0], right[1], left[2] + right[2] + flops, max(left[3], right[3], entries)

    _, _, flops, largest = walk(path)
    return flops, largest


@functools.lru_cache(maxsize=1024)
def _matrix_chain_costs(dims: tuple[int, ...]) -> dict[str, OrderCost]:
    n = len(dims) - 1
    costs = {"optimal": OrderCost(*optimal_bracketing(n, _matrix_merge(dims)))}
    for name, path in (("forward", forward_path(n)), ("reverse", reverse_path(n))):
        costs[name] = OrderCost(*_bracketing_cost(dims, path), path)
    return costs


def matrix_chain_costs(dims) -> dict[str, OrderCost]:
    """Predicted cost of each order for a chain of dense matrices ``d_0 x d_1, d_1 x d_2, ...``.

    Only the sizes are needed: no array is built.  Results are cached per ``dims``.

    Args:
        dims: ``(d_0, ..., d_n)`` for ``n`` matrices; matrix ``i`` is ``d_i x d_{i+1}``.

    >>> from tensorjac.ordering import matrix_chain_costs
    >>> costs = matrix_chain_costs((2, 3, 4, 5))
    >>> costs["forward"], costs["reverse"].flops, costs["optimal"].path
    (OrderCost(flops=180, largest_intermediate=15, path=(0, (1, 2))), 128, ((0, 1), 2))
    """
    dims = tuple(int(d) for d in dims)
    if len(dims) < 2 or any(d < 0 for d in dims):
        raise ValueError(f"dims must hold at least two non-negative sizes, got {dims}")
    return dict(_matrix_chain_costs(dims))
