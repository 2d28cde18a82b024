"""Accumulating the Jacobian of a trace, and pushing cotangents and tangents through it.

The trace is a graph: its dependent values are vertices and every recorded Jacobian block is
an edge (an equation that uses one value twice, ``x * x``, has one edge: the blocks are
summed; a value used by several equations has several out-edges, whose paths are summed).

* :func:`pullback` pushes a cotangent from the output back to the inputs, one
  ``Jacobian.vjp``-like contraction per edge, in reverse order: backpropagation, never
  building a Jacobian.  :func:`pushforward` pushes tangents from the inputs (forward mode).
* :func:`accumulate` builds the explicit Jacobian by *vertex elimination*: eliminating an
  intermediate vertex ``v`` replaces every path ``p -> v -> s`` by the edge
  ``E[s, p] += E[s, v] @ E[v, p]`` (structured products, :func:`tensorjac._jacobian.product`).
  Eliminating in the order of the trace is forward mode; in the reverse order, reverse mode;
  ``"optimal"`` predicts the cost of each candidate order by a dry run of the very products it
  would make (:func:`tensorjac._plans.recording`) and runs the cheapest: forward, reverse,
  a greedy order that eliminates the cheapest vertex first (Markowitz's rule with predicted
  flops), and, for a trace that is a chain, the lazy product of the whole chain planned as one
  contraction (``tensorjac.chain(order="optimal")``).  So its predicted flops are never above
  the smaller of forward and reverse.  The choice is cached per structure of the trace.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import _jacobian as JM
from .. import _plans
from .._chains import _chain_structured
from .._jacobian import Jacobian

__all__ = ["Graph", "pullback", "pullback_all", "pushforward", "accumulate", "ORDER_CHOICES", "elimination_costs"]

ORDER_CHOICES = ("optimal", "forward", "reverse")


class Graph:
    """The part of a trace that matters for ``output``: equations on a path from an input to it."""

    def __init__(self, trace, output, inputs):
        self.trace, self.output, self.inputs = trace, output, list(inputs)
        needed = {output.id}
        eqs = []
        for eq in reversed(trace.equations):
            if eq.out.id in needed and eq.jacobians:
                eqs.append(eq)
                needed.update(var.id for var, _ in eq.edges())
        self.equations = eqs[::-1]

    def edges(self) -> dict:
        """``{(dst id, src id): Jacobian}`` of every edge."""
        return {(eq.out.id, var.id): J for eq in self.equations for var, J in eq.edges()}

    def is_chain(self) -> bool:
        """True when the graph is one path from the only input to the output."""
        if len(self.inputs) != 1 or not self.equations:
            return False
        prev = self.inputs[0].id
        for eq in self.equations:
            edges = eq.edges()
            if len(edges) != 1 or edges[0][0].id != prev:
                return False
            prev = eq.out.id
        return prev == self.output.id

    def signature(self) -> tuple:
        """The structure of the graph (rules, shapes, block structures), a cache key for its order."""
        index = {v.id: k for k, v in enumerate(self.inputs)}
        for k, eq in enumerate(self.equations):
            index[eq.out.id] = len(self.inputs) + k
        return tuple(
            (eq.name, eq.out.shape, tuple((index.get(var.id), _structure(J)) for var, J in eq.edges()))
            for eq in self.equations
        ) + (tuple(v.shape for v in self.inputs), index.get(self.output.id))


def _structure(J: Jacobian) -> tuple:
    """The structure of a Jacobian block, cheaply: shapes, dtype, and each term's label pattern
    (labels numbered by first appearance) with its factors' shapes."""
    terms = []
    for term in J._terms:
        canon: dict = {}
        groups = tuple(tuple(canon.setdefault(lab, len(canon)) for lab in g) for g in term.groups)
        factors = tuple((tuple(canon.setdefault(lab, len(canon)) for lab in labs), arr.shape)
                        for arr, labs in term.factors)
        terms.append((groups, factors))
    return (J.out_shape, J.in_shape, J.dtype.char, tuple(terms))


# ---- Cotangents and tangents ------------------------------------------------------------------


def _backprop(graph: Graph, cotangent: np.ndarray, keep: bool) -> dict:
    ct = {graph.output.id: cotangent}
    done = {}
    for eq in reversed(graph.equations):
        g = ct.pop(eq.out.id, None)
        if g is None:
            continue
        if keep:
            done[eq.out.id] = g
        for var, J in eq.edges():
            part = JM.pull(g, J)
            ct[var.id] = part if var.id not in ct else ct[var.id] + part
    ct.update(done)
    return ct


def pullback_all(graph: Graph, cotangent: np.ndarray) -> dict:
    """``{var id: gradient}`` of every value on a path to the output (for pictures)."""
    return _backprop(graph, cotangent, keep=True)


def pullback(graph: Graph, cotangent: np.ndarray) -> list[np.ndarray]:
    """The gradient of ``<cotangent, output>`` with respect to each input (backpropagation)."""
    ct = _backprop(graph, cotangent, keep=False)
    grads = []
    for var in graph.inputs:
        g = ct.get(var.id)
        if g is None:
            g = np.zeros(var.shape, dtype=np.result_type(var.dtype, cotangent.dtype))
        elif np.may_share_memory(g, cotangent):
            g = g.copy()
        grads.append(g.reshape(var.shape))
    return grads


def pushforward(graph: Graph, tangents) -> np.ndarray:
    """The output tangent for the input tangents (forward mode)."""
    tan = {var.id: t for var, t in zip(graph.inputs, tangents)}
    for eq in graph.equations:
        out = None
        for var, J in eq.edges():
            t = tan.get(var.id)
            if t is None:
                continue
            part = JM.push(J, t)
            out = part if out is None else out + part
        if out is not None:
            tan[eq.out.id] = out
    result = tan.get(graph.output.id)
    dtype = np.result_type(graph.output.dtype, *(t.dtype for t in tangents))
    if result is None:
        return np.zeros(graph.output.shape, dtype=dtype)
    if any(np.may_share_memory(result, t) for t in tangents):
        result = result.copy()
    return result.reshape(graph.output.shape)


# ---- Vertex elimination -------------------------------------------------------------------------


class _Elimination:
    """The edges of a graph while its vertices are eliminated one by one."""

    def __init__(self, graph: Graph):
        self.E = graph.edges()
        self.preds: dict[int, set] = {}
        self.succs: dict[int, set] = {}
        for dst, src in self.E:
            self.preds.setdefault(dst, set()).add(src)
            self.succs.setdefault(src, set()).add(dst)

    def products(self, v):
        """The ``(s, p)`` pairs whose edges eliminating ``v`` multiplies."""
        return [(s, p) for s in sorted(self.succs.get(v, ())) for p in sorted(self.preds.get(v, ()))]

    def eliminate(self, v) -> None:
        E = self.E
        for s, p in self.products(v):
            prod = JM.product(E[(s, v)], E[(v, p)])
            E[(s, p)] = E[(s, p)] + prod if (s, p) in E else prod
            self.preds[s].add(p)
            self.succs[p].add(s)
        for s in self.succs.pop(v, ()):
            del E[(s, v)]
            self.preds[s].discard(v)
        for p in self.preds.pop(v, ()):
            del E[(v, p)]
            self.succs[p].discard(v)


def _eliminate(graph: Graph, order) -> dict:
    """Eliminate the intermediates of ``graph`` in ``order`` (vertex ids); return the remaining edges."""
    state = _Elimination(graph)
    for v in order:
        state.eliminate(v)
    return state.E


def _intermediates(graph: Graph) -> list[int]:
    keep = {graph.output.id} | {v.id for v in graph.inputs}
    return [eq.out.id for eq in graph.equations if eq.out.id not in keep]


def _greedy_order(graph: Graph) -> list[int]:
    """Markowitz's rule with predicted flops: repeatedly eliminate the vertex whose products cost least."""
    state = _Elimination(graph)
    remaining = _intermediates(graph)
    order = []
    with _plans.recording():  # every product below is a dry run: structure and cost only
        while remaining:
            best = None
            for v in remaining:
                with _plans.recording() as record:
                    for s, p in state.products(v):
                        JM.product(state.E[(s, v)], state.E[(v, p)])
                if best is None or record.flops < best[0]:
                    best = (record.flops, v)
            order.append(best[1])
            remaining.remove(best[1])
            state.eliminate(best[1])
    return order


def _orders(graph: Graph) -> dict:
    """Candidate elimination orders by name (``"chain"`` runs the chain machinery instead)."""
    inter = _intermediates(graph)
    found = {"forward": inter, "reverse": inter[::-1]}
    if len(inter) > 1:
        found["greedy"] = _greedy_order(graph)
    if graph.is_chain() and len(graph.equations) > 1:
        found["chain"] = None
    return found


def _chain_factors(graph: Graph) -> list:
    return [eq.edges()[0][1] for eq in reversed(graph.equations)]


def _run(graph: Graph, name: str, order) -> list:
    """The Jacobian block of the output with respect to each input, by one candidate order."""
    if name == "chain":
        return [_chain_structured(_chain_factors(graph), "optimal")[0]]
    E = _eliminate(graph, order)
    return [E.get((graph.output.id, var.id)) for var in graph.inputs]


def elimination_costs(graph: Graph) -> dict:
    """``{name: (flops, largest intermediate, order)}`` of every candidate, by dry runs."""
    costs = {}
    for name, order in _orders(graph).items():
        with _plans.recording() as record:
            _run(graph, name, order)
        costs[name] = (record.flops, record.largest, order)
    return costs


_CHOICES: "OrderedDict[tuple, tuple]" = OrderedDict()
_CHOICES_MAX = 512


def choose(graph: Graph, order: str, memo: dict | None = None):
    """``(name, elimination order)`` to run for ``order`` (``"optimal"``: the cheapest, cached per
    structure of the graph; ``memo``, a replay's own cache, skips even computing the structure)."""
    if order == "forward" or order == "reverse":
        inter = _intermediates(graph)
        return order, inter if order == "forward" else inter[::-1]
    if memo is not None and "optimal" in memo:
        name, positions = memo["optimal"]
        ids = [eq.out.id for eq in graph.equations]
        return name, None if positions is None else [ids[k] for k in positions]
    key = graph.signature()
    found = _CHOICES.get(key)
    if found is not None and memo is not None:
        memo["optimal"] = found
    if found is not None:
        _CHOICES.move_to_end(key)
        name, positions = found
        ids = [eq.out.id for eq in graph.equations]
        return name, None if positions is None else [ids[k] for k in positions]
    costs = elimination_costs(graph)
    name = min(costs, key=lambda n: (costs[n][0], costs[n][1], _PREFERENCE.index(n)))
    chosen = costs[name][2]
    ids = [eq.out.id for eq in graph.equations]
    _CHOICES[key] = (name, None if chosen is None else [ids.index(v) for v in chosen])
    if memo is not None:
        memo["optimal"] = _CHOICES[key]
    if len(_CHOICES) > _CHOICES_MAX:
        _CHOICES.popitem(last=False)
    return name, chosen


_PREFERENCE = ("chain", "reverse", "forward", "greedy")


def accumulate(graph: Graph, order: str = "optimal", memo: dict | None = None) -> list:
    """The Jacobian block of the output with respect to each input (``None`` where it is zero)."""
    if order not in ORDER_CHOICES:
        raise ValueError(f"unknown order {order!r}; valid orders are {list(ORDER_CHOICES)}")
    name, chosen = choose(graph, order, memo)
    return _run(graph, name, chosen)
