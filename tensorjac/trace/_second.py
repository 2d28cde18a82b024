"""Second derivatives over a trace: ``hessian``, ``value_grad_and_hessian``, ``hvp``, and the two
terms of note 003's second-order chain rule as operations on explicit pieces.

**Hessians** propagate, from the differentiated inputs forward, each value's Jacobian ``J_v``
and second derivative ``H_v`` with respect to the inputs: for ``z = op(a_1, ..., a_k)``,

    J_z = sum_i D_i op . J_{a_i}
    H_z = sum_i D_i op . H_{a_i}  +  sum_{i,j} D²_{ij} op [J_{a_i}, J_{a_j}]

the second-order chain rule of note 003 applied equation by equation, with the rules'
structured first and second derivatives (:attr:`tensorjac.Rule.second`).  Deltas and diagonals
stay factors; a product is contracted only when its result is no bigger than its factors
(:func:`tensorjac._terms.compact`), so the Hessian of ``sum(tanh(X @ W))`` in ``W`` is stored as
``sum_a X[a,i] X[a,j] f''[a,b]`` and a delta, and logistic regression's Hessian is one
``X^T D X`` product.

**Hessian-vector products** never build the Hessian: a forward pass pushes the tangent, a
backward pass pulls the cotangent and its directional derivative (Pearlmutter's R-operator),
``R{g_a} += c(R{g_z}, D_i op) + D²_{ij} op [g_z, ., t_{a_j}]``: about two gradients' work.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .. import _budget, _plans
from .._hessian import Hessian, contract_vector, left, right
from .._jacobian import Jacobian, product, pull, push
from .._validation import as_finite_float_array
from ._accumulate import pullback
from ._transforms import TracedCall, _check_argnums, _check_callable, _scalar_output

__all__ = ["hessian", "value_grad_and_hessian", "hvp", "HessianBlocks", "gauss_newton", "curvature_term"]


class HessianBlocks:
    """The Hessian of ``f(x_1, ..., x_p)`` as blocks ``d²f / dx_i dx_j`` (tuple ``argnums``).

    ``H["W", "b"]`` (or ``H[0, 1]``) is a :class:`~tensorjac.Hessian` of shape
    ``out_shape + W.shape + b.shape``; ``H["b", "W"]`` is its transpose.  :meth:`matrix` assembles
    the whole symmetric matrix of a scalar output with the column range of each argument.
    """

    def __init__(self, names, blocks, out_shape):
        self.names, self._blocks, self.out_shape = tuple(names), dict(blocks), tuple(out_shape)

    def _name(self, key):
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"no argument named {key!r}; the arguments are {list(self.names)}")
            return key
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and -len(self.names) <= key < len(self.names):
            return self.names[key]
        raise KeyError(f"Hessian blocks are addressed by a pair of names or positions of {list(self.names)}, got {key!r}")

    def __getitem__(self, key) -> Hessian:
        if not isinstance(key, tuple) or len(key) != 2:
            raise KeyError(f"Hessian blocks are addressed by a pair, e.g. H[{self.names[0]!r}, {self.names[-1]!r}]")
        p, q = (self._name(k) for k in key)
        if (p, q) in self._blocks:
            return self._blocks[p, q]
        return self._blocks[q, p].T

    def __iter__(self):
        return ((p, q) for p in self.names for q in self.names)

    def __len__(self):
        return len(self.names) ** 2

    def matrix(self, budget: int | None = None) -> tuple[np.ndarray, dict[str, slice]]:
        """The symmetric ``(n, n)`` Hessian of a scalar output, all arguments flattened in order,
        and each argument's range of rows and columns."""
        if self.out_shape:
            raise ValueError(f"matrix() assembles the Hessian of a scalar output; this one has shape {self.out_shape}")
        sizes = [math.prod(self[p, p].in_shape) for p in self.names]
        ranges, start = {}, 0
        for name, size in zip(self.names, sizes):
            ranges[name] = slice(start, start + size)
            start += size
        dtype = np.result_type(*(b.dtype for b in self._blocks.values()))
        _budget.check((start, start), dtype, budget, what="a dense Hessian")
        M = np.zeros((start, start), dtype=dtype)
        for p in self.names:
            for q in self.names:
                M[ranges[p], ranges[q]] = self[p, q].matrix(budget)
        return M, ranges

    def __repr__(self):
        return f"HessianBlocks(out_shape={self.out_shape}, arguments={list(self.names)})"

    def plot(self, ax=None, **options):
        """Draw the symmetric Hessian of a scalar output with matplotlib (the ``plot`` extra); return the ``Axes``.

        Block boundaries are lines labelled with the argument names.
        A heat map of the matrix view (diverging colour map centred at 0, multi-index ticks
        for small shapes), or, when it has more than ``max_cells`` (default 256) rows or columns
        or a dense form over the dense budget, its structure pattern computed from the factors
        without materialising it.  Options: ``kind`` (``"auto"``, ``"values"``, ``"pattern"``),
        ``max_cells``, ``max_ticks``, ``cmap``, ``title`` (:mod:`tensorjac._plot`).

        >>> import numpy as np, tensorjac as tj
        >>> H = tj.hessian(lambda x, y: np.sum(x * y), argnums=(0, 1))(np.ones(2), np.ones(2))
        >>> sorted({t.get_text() for t in H.plot().texts})
        ['x', 'y']
        """
        from .._plot import plot_hessian_blocks
        return plot_hessian_blocks(self, ax, **options)

    def _repr_html_(self) -> str:
        from .._display import hessian_blocks_html
        return hessian_blocks_html(self)


# ---- second-order propagation --------------------------------------------------------------


def _d2(eq, i, j):
    """The block ``d² out / d input_i d input_j`` of an equation (None when it is zero)."""
    maker = eq.rule.second_maker(i, j)
    if maker is None:
        return None
    arrays = [x.value if hasattr(x, "dependent") else x for x in eq.inputs]
    return maker(eq.out.value, *arrays, **eq.options)


def _add(a, b):
    return b if a is None else a + b


def _second_blocks(call) -> dict:
    """Every rule's second-derivative blocks the propagation needs, ``{(equation index, i, j): block}``.

    Computed once, outside any dry run: a maker may itself contract (an implicit function's does).
    """
    found = {}
    for k, eq in enumerate(call.graph.equations):
        positions = list(eq.jacobians)
        for i in positions:
            for j in positions:
                found[k, i, j] = _d2(eq, i, j)
    return found


def _needing_jacobians(call, second) -> set:
    """Ids of the values whose Jacobians the propagation needs: the inputs of every equation with a
    nonzero second-derivative block (for its term ``J_i^T D2 J_j``), and the values those are
    computed from.  The others (``y * z`` in ``softplus(z) - y * z``) are never formed: each would
    cost a pass over a Jacobian as big as the Hessian's factors (the logistic loss's ``X``)."""
    need: set[int] = set()
    for k in range(len(call.graph.equations) - 1, -1, -1):
        eq = call.graph.equations[k]
        if eq.out.id in need:
            need.update(eq.inputs[pos].id for pos in eq.jacobians)
        for i in eq.jacobians:
            for j in eq.jacobians:
                if second[k, i, j] is not None:
                    need.update((eq.inputs[i].id, eq.inputs[j].id))
    return need


def _propagate(call, second):
    """``H``: the second derivatives ``{(p, q): Hessian}`` (``p <= q``) of the output with respect to
    the differentiated inputs (``second``: the rules' blocks, from :func:`_second_blocks`), pushed
    forward with the Jacobians of the values that need them (:func:`_needing_jacobians`)."""
    inputs = call.inputs
    need = _needing_jacobians(call, second)
    J = {v.id: {p: Jacobian.identity(v.shape, dtype=v.dtype)} for p, v in enumerate(inputs)}
    H: dict[int, dict] = {v.id: {} for v in inputs}
    for k, eq in enumerate(call.graph.equations):
        positions = [pos for pos in eq.jacobians]
        Jz, Hz = {}, {}
        for pos in positions:
            var, D = eq.inputs[pos], eq.jacobians[pos]
            if eq.out.id in need:
                for p, Jv in J[var.id].items():
                    Jz[p] = _add(Jz.get(p), product(D, Jv))
            for pq, Hv in H[var.id].items():
                Hz[pq] = _add(Hz.get(pq), left(D, Hv))
        for i in positions:
            for j in positions:
                D2 = second[k, i, j]
                if D2 is None:
                    continue
                for p, Ji in J[eq.inputs[i].id].items():
                    for q, Jj in J[eq.inputs[j].id].items():
                        if p <= q:
                            Hz[p, q] = _add(Hz.get((p, q)), right(D2, Ji, Jj))
        if eq.out.id in need:
            J[eq.out.id] = Jz
        H[eq.out.id] = Hz
    return H[call.output.id]


def _predict(call, second, budget):
    """Dry-run the propagation (plans only, no numbers) and refuse when it would not fit the budget."""
    with _plans.recording() as record:
        H = _propagate(call, second)
    itemsize = np.dtype(call.value.dtype).itemsize
    stored = sum(B.nbytes for B in H.values())
    largest = record.largest * itemsize
    limit = _budget.get_dense_budget() if budget is None else budget
    if stored > limit or largest > limit:
        dense = sum(B.size for B in H.values()) * itemsize
        raise MemoryError(
            f"hessian: computing it would store {stored:,} bytes of factors (the dense blocks: {dense:,} bytes) "
            f"and create a largest intermediate of {largest:,} bytes, over the budget of {limit:,} bytes; "
            "use tj.hvp for Hessian-vector products, or raise the budget (tj.set_dense_budget)"
        )


def _small(call, budget) -> bool:
    """True when even the dense Jacobian and Hessian of the largest value of the trace would fit the
    budget: no block the propagation creates can exceed it, and its dry run is skipped."""
    n = sum(v.value.size for v in call.inputs)
    largest = max((eq.out.value.size for eq in call.graph.equations), default=0)
    limit = _budget.get_dense_budget() if budget is None else budget
    return largest * (n + n * n) * np.dtype(call.value.dtype).itemsize <= limit


def _hessian_blocks(call, budget=None, check_memory=True):
    out_shape, dtype = call.value.shape, call.value.dtype
    n = len(call.inputs)
    if call.output is None or any(call.output is v for v in call.inputs):
        H = {}
    else:
        second = _second_blocks(call)
        if check_memory and not _small(call, budget):
            _predict(call, second, budget)
        H = _propagate(call, second)
    blocks = {}
    for p in range(n):
        for q in range(p, n):
            block = H.get((p, q))
            if block is None:
                vp, vq = call.inputs[p], call.inputs[q]
                block = Hessian.zeros(out_shape, vp.shape, vq.shape, dtype=np.result_type(dtype, vp.dtype))
            if p == q:
                block.symmetric = True
            blocks[p, q] = block
    return blocks


def _named(call, blocks, single):
    if single:
        return blocks[0, 0]
    names = [call.names[v.argnum] for v in call.inputs]
    return HessianBlocks(names, {(names[p], names[q]): B for (p, q), B in blocks.items()}, call.value.shape)


def hessian(f, argnums=0, *, budget: int | None = None, check_memory: bool = True):
    """The Hessian of ``f`` as a function of the same arguments: shape ``out_shape + in_shape + in_shape``.

    The layout of ``jax.hessian``; kept structured (deltas and diagonals stay factors) and known
    to be symmetric in its two input groups.  An int ``argnums`` gives a :class:`~tensorjac.Hessian`;
    a tuple gives :class:`HessianBlocks`, one block per pair of arguments (``H["W", "b"]``) that
    :meth:`HessianBlocks.matrix` assembles into one symmetric matrix.

    Memory is known before it is spent: with ``check_memory`` (the default) the propagation is
    first dry-run, and when the factors it would store or the largest intermediate it would
    create exceed ``budget`` bytes (default :func:`tensorjac.get_dense_budget`) a
    ``MemoryError`` names both before anything is computed.

    >>> import numpy as np, tensorjac as tj
    >>> H = tj.hessian(lambda x, y: np.sum(x * x * y), argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> H["x", "x"].matrix()
    array([[6., 0.],
           [0., 8.]])
    >>> H["x", "y"].matrix()
    array([[2., 0.],
           [0., 4.]])
    """
    _check_callable(f, "hessian")

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        positions, single = _check_argnums(argnums, len(args), "hessian")
        call = TracedCall(f, args, kwargs, positions, "hessian")
        blocks = _hessian_blocks(call, budget, check_memory)
        return _named(call, blocks, single)

    return transformed


def value_grad_and_hessian(f, argnums=0):
    """``(value, gradient, Hessian)`` of a scalar ``f`` from one trace (what Newton-type optimisers want).

    >>> import numpy as np, tensorjac as tj
    >>> v, g, H = tj.value_grad_and_hessian(lambda x: np.sum(x * x * x))(np.array([1.0, 2.0]))
    >>> float(v), g, H.matrix()
    (9.0, array([ 3., 12.]), array([[ 6.,  0.],
           [ 0., 12.]]))
    """
    _check_callable(f, "value_grad_and_hessian")

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        positions, single = _check_argnums(argnums, len(args), "value_grad_and_hessian")
        call = TracedCall(f, args, kwargs, positions, "value_grad_and_hessian")
        _scalar_output(call, "value_grad_and_hessian")
        blocks = _hessian_blocks(call)
        if call.output is None:
            grads = [np.zeros(v.shape, dtype=np.result_type(v.dtype, call.value.dtype)) for v in call.inputs]
        elif any(call.output is v for v in call.inputs):
            grads = [np.ones((), v.dtype) if call.output is v else np.zeros(v.shape, v.dtype) for v in call.inputs]
        else:  # backpropagation over the same trace
            grads = pullback(call.graph, np.ones((), dtype=call.value.dtype))
        return call.out_value(), grads[0] if single else tuple(grads), _named(call, blocks, single)

    return transformed


def hvp(f, primals, tangents):
    """``(gradient, Hessian-vector product)`` of a scalar ``f``: ``H v`` without building ``H``.

    ``primals`` and ``tangents`` are tuples (or lists) of arrays, as for :func:`tensorjac.jvp`;
    the result holds one array per primal: ``sum_q d²f / dx_p dx_q . v_q``.  Costs about two
    gradients (a forward pass of the tangent, a backward pass of the cotangent and its
    directional derivative).

    >>> import numpy as np, tensorjac as tj
    >>> g, Hv = tj.hvp(lambda x: np.sum(x * x * x), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    >>> g[0], Hv[0]
    (array([ 3., 12.]), array([6., 0.]))
    """
    _check_callable(f, "hvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("hvp: primals and tangents must be tuples (or lists) of arrays, as in jax.jvp")
    if len(primals) != len(tangents):
        raise ValueError(f"hvp: {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    call = TracedCall(f, tuple(primals), {}, tuple(range(len(primals))), "hvp")
    _scalar_output(call, "hvp")
    tans = []
    for k, (var, t) in enumerate(zip(call.inputs, tangents)):
        t = as_finite_float_array(t, f"tangent {k}")
        if t.shape != var.shape:
            raise ValueError(f"hvp: tangent {k} has shape {t.shape} but primal {k} has shape {var.shape}")
        tans.append(t)
    dtype = call.value.dtype
    zeros = [np.zeros(v.shape, dtype=np.result_type(v.dtype, dtype)) for v in call.inputs]
    if call.output is None:
        return tuple(zeros), tuple(z.copy() for z in zeros)
    if any(call.output is v for v in call.inputs):
        grads = [np.ones((), v.dtype) if call.output is v else z for v, z in zip(call.inputs, zeros)]
        return tuple(grads), tuple(zeros)
    eqs = call.graph.equations
    # forward: the tangent of every value
    tan = {v.id: t for v, t in zip(call.inputs, tans)}
    for eq in eqs:
        out = None
        for pos, D in eq.jacobians.items():
            t = tan.get(eq.inputs[pos].id)
            if t is not None:
                out = _add(out, push(D, t))
        if out is not None:
            tan[eq.out.id] = out
    # backward: the cotangent g and its directional derivative r
    g = {call.output.id: np.ones((), dtype=dtype)}
    r = {}
    for eq in reversed(eqs):
        gz = g.pop(eq.out.id, None)
        if gz is None:
            continue
        rz = r.pop(eq.out.id, None)
        positions = list(eq.jacobians)
        for i in positions:
            a = eq.inputs[i].id
            D = eq.jacobians[i]
            g[a] = _add(g.get(a), pull(gz, D))
            ra = None if rz is None else pull(rz, D)
            for j in positions:
                tj_ = tan.get(eq.inputs[j].id)
                if tj_ is None:
                    continue
                D2 = _d2(eq, i, j)
                if D2 is not None:
                    ra = _add(ra, contract_vector(D2, gz, tj_))
            if ra is not None:
                r[a] = _add(r.get(a), ra)
    grads = tuple(g.get(v.id, z).reshape(v.shape) for v, z in zip(call.inputs, zeros))
    products = tuple(r.get(v.id, z).reshape(v.shape) for v, z in zip(call.inputs, zeros))
    return grads, products


# ---- note 003's two terms on explicit pieces -------------------------------------------------------


def gauss_newton(J: Jacobian, H_outer: Hessian) -> Hessian:
    """The Gauss-Newton term ``J_f^T H_g J_f`` of note 003's second-order chain rule.

    ``J`` is the Jacobian of the inner function ``f`` (``z | x``), ``H_outer`` the Hessian of the
    outer ``g`` at ``f(x)`` (``l | z | z``); the result is ``l | x | x``.  On its own it is the
    Gauss-Newton matrix of a loss ``g(f(x))`` (positive semi-definite when ``g`` is convex).
    """
    if not isinstance(J, Jacobian) or not isinstance(H_outer, Hessian):
        raise TypeError("gauss_newton(J, H): J must be a tensorjac.Jacobian and H a tensorjac.Hessian")
    return right(H_outer, J, J)


def curvature_term(grad_outer, H_inner: Hessian) -> Hessian:
    """The curvature term ``sum_i (dg/dz_i) H_{f_i}`` of note 003's second-order chain rule.

    ``grad_outer`` is the derivative of the outer ``g`` at ``f(x)``: a :class:`Jacobian`
    (``l | z``), or for a scalar ``g`` an array of ``z``'s shape; ``H_inner`` is the Hessian of
    ``f`` (``z | x | x``).  ``gauss_newton(J_f, H_g) + curvature_term(J_g, H_f)`` is the Hessian
    of ``g(f(x))``.
    """
    if not isinstance(H_inner, Hessian):
        raise TypeError("curvature_term(g, H): H must be a tensorjac.Hessian")
    if not isinstance(grad_outer, Jacobian):
        arr = as_finite_float_array(grad_outer, "grad_outer")
        if arr.shape != H_inner.out_shape:
            raise ValueError(f"curvature_term: the gradient has shape {arr.shape}, the Hessian's output "
                             f"{H_inner.out_shape}")
        grad_outer = Jacobian(arr.copy(), 0)
    return left(grad_outer, H_inner)

