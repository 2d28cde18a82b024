"""The Hessian type: second derivatives of ``f : T_n -> T_l`` as a tensor in ``T_{l⊕n⊕n}``.

Its shape is ``out_shape + in_shape + in_shape`` (the layout of ``jax.hessian``); a block of
mixed second derivatives ``d²f / dx dy`` has shape ``out_shape + x.shape + y.shape``.  Like a
:class:`~tensorjac.Jacobian` it is a sum of labelled-factor terms (:mod:`tensorjac._terms`),
here with three label groups (output, first input, second input), so deltas and diagonals stay
factors: the Hessian of ``sum(tanh(X @ W))`` with respect to ``W`` is
``X[a,i] X[a,j] f''(Z)[a,b] δ[b,c]`` and never builds the ``(k, k)`` identity.

The same representation holds the second derivatives of one rule, ``d²z / da db``
(``out | a | b``), which the second-order chain rule of note 003 combines with Jacobians:

    H_{g∘f} = J_f^T H_g J_f + sum_i (dg/dz_i) H_{f_i}

(:func:`left` contracts the output group with a Jacobian or a cotangent, :func:`right` each
input group with a Jacobian).  The invariant is that of :mod:`tensorjac._terms` with three
groups, every term of the Hessian's dtype; :meth:`Hessian.check_invariants` verifies it.
"""

from __future__ import annotations

import math

import numpy as np

from . import _budget, _plans
from . import _terms as T
from ._jacobian import Jacobian
from ._validation import as_finite_float_array, as_float_array, as_shape, float_dtype

__all__ = ["Hessian", "second_structured", "left", "right", "contract_vector"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Hessian:
    """Second derivatives, shape ``out_shape + in_shape + in2_shape`` (``jax.hessian``'s layout).

    ``dense()`` materialises it under the dense budget; ``matrix()`` is the
    ``(prod(in_shape), prod(in2_shape))`` matrix of a scalar output (for a vector output, one
    such matrix per output entry: shape ``(prod(out_shape), prod(in), prod(in2))``).
    ``symmetric`` is True for a block ``d²f / dx²`` (the two input groups are interchangeable).

    >>> import numpy as np, tensorjac as tj
    >>> H = tj.hessian(lambda x: np.sum(x * x * x))(np.array([1.0, 2.0]))
    >>> H.matrix()
    array([[ 6.,  0.],
           [ 0., 12.]])
    """

    __slots__ = ("out_shape", "in_shapes", "dtype", "_terms", "symmetric")
    __array_ufunc__ = None  # ``ndarray * Hessian`` raises TypeError (as for a Jacobian), not an object array

    @classmethod
    def _new(cls, out_shape, in_shapes, terms, dtype, symmetric=False) -> "Hessian":
        """The one constructor path (shapes as tuples, dtype float32/float64)."""
        self = object.__new__(cls)
        self.out_shape, self.in_shapes = tuple(out_shape), (tuple(in_shapes[0]), tuple(in_shapes[1]))
        self._terms, self.dtype, self.symmetric = tuple(terms), np.dtype(dtype), bool(symmetric)
        if T.CHECK_ALL:  # the debug switch (TENSORJAC_CHECK_INVARIANTS)
            self.check_invariants()
        return self

    @classmethod
    def zeros(cls, out_shape, in_shape, in2_shape=None, dtype=np.float64) -> "Hessian":
        """The zero second derivative (no terms, nothing stored); shapes are ints or tuples of
        non-negative ints, ``dtype`` float32 or float64 (as for ``Jacobian.zeros``)."""
        in2_shape = in_shape if in2_shape is None else in2_shape
        shapes = [as_shape(shape, what) for shape, what in
                  ((out_shape, "out_shape"), (in_shape, "in_shape"), (in2_shape, "in2_shape"))]
        return cls._new(shapes[0], shapes[1:], (), float_dtype(dtype), symmetric=shapes[1] == shapes[2])

    def check_invariants(self) -> "Hessian":
        """Verify the representation invariant (see :mod:`tensorjac._terms`); return ``self``."""
        if self.dtype not in _FLOATS:
            raise T.InvariantError(f"Hessian dtype {self.dtype} is not float32 or float64")
        for k, term in enumerate(self._terms):
            T.check(term, self._shapes(), self.dtype, where=f"Hessian term {k}")
        return self

    def _shapes(self):
        return (self.out_shape, *self.in_shapes)

    # -- shapes --
    @property
    def in_shape(self) -> tuple:
        return self.in_shapes[0]

    @property
    def shape(self) -> tuple:
        return self.out_shape + self.in_shapes[0] + self.in_shapes[1]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored factors (compare with ``size * dtype.itemsize`` for dense)."""
        return sum(arr.nbytes for term in self._terms for arr, _ in term.factors)

    # -- materialising --
    def memory(self) -> dict:
        """Bytes, predicted before anything is computed: ``stored`` (the factors), ``dense`` (the
        array :meth:`dense` returns) and ``largest_intermediate`` (the largest array its
        contractions create, from their plans: a dry run)."""
        with _plans.recording() as record:
            for term in self._terms:
                T.einsum(term.factors, term.free(), T.label_sizes(term, self._shapes()), self.dtype)
        itemsize = self.dtype.itemsize
        return {"stored": self.nbytes, "dense": self.size * itemsize, "largest_intermediate": record.largest * itemsize}

    def dense(self, budget: int | None = None) -> np.ndarray:
        """The Hessian as an array of shape ``out_shape + in_shape + in2_shape``.

        Raises ``MemoryError`` naming the bytes of the result and of the largest intermediate
        when either would exceed ``budget`` (default: :func:`tensorjac.get_dense_budget`).
        """
        _budget.check(self.shape, self.dtype, budget, what="a dense Hessian")
        predicted = self.memory()
        if not _budget.fits(predicted["largest_intermediate"], 1, budget):
            limit = _budget.get_dense_budget() if budget is None else budget
            raise MemoryError(
                f"refusing to materialise a dense Hessian of shape {self.shape}: the result needs "
                f"{predicted['dense']:,} bytes but its contraction's largest intermediate "
                f"{predicted['largest_intermediate']:,} bytes, over the budget of {limit:,} bytes"
            )
        result = None
        for term in self._terms:
            part = T.einsum(term.factors, term.free(), T.label_sizes(term, self._shapes()), self.dtype)
            if result is None:
                shares = any(type(arr) is np.ndarray and np.may_share_memory(part, arr) for arr, _ in term.factors)
                result = part.copy() if shares or not part.flags.writeable else part
            else:
                result += part
        if result is None:
            return np.zeros(self.shape, dtype=self.dtype)
        return np.ascontiguousarray(result).reshape(self.shape)

    def matrix(self, budget: int | None = None) -> np.ndarray:
        """``(prod(in), prod(in2))`` for a scalar output, else ``(prod(out), prod(in), prod(in2))``."""
        n1, n2 = math.prod(self.in_shapes[0]), math.prod(self.in_shapes[1])
        dense = self.dense(budget)
        return dense.reshape(n1, n2) if not self.out_shape else dense.reshape(math.prod(self.out_shape), n1, n2)

    def __array__(self, dtype=None, copy=None):
        arr = self.dense()
        return arr if dtype is None else arr.astype(dtype)

    # -- algebra --
    @property
    def T(self) -> "Hessian":
        """The two input groups swapped: ``d²f / dy dx`` from ``d²f / dx dy``."""
        terms = [T.Term(t.factors, (t.groups[0], t.groups[2], t.groups[1])) for t in self._terms]
        return Hessian._new(self.out_shape, self.in_shapes[::-1], terms, self.dtype, self.symmetric)

    def __add__(self, other):
        if not isinstance(other, Hessian):
            return NotImplemented
        if self.out_shape != other.out_shape or self.in_shapes != other.in_shapes:
            raise ValueError(
                f"cannot add Hessians of shapes {self.out_shape}|{self.in_shapes} and {other.out_shape}|{other.in_shapes}"
            )
        dtype = np.result_type(self.dtype, other.dtype)
        terms = _astype(self._terms, dtype) + _astype(other._terms, dtype)
        return Hessian._new(self.out_shape, self.in_shapes, T.merge(terms), dtype, self.symmetric and other.symmetric)

    def __mul__(self, scalar):
        if isinstance(scalar, Hessian) or np.ndim(scalar) != 0:
            return NotImplemented
        terms = T.scaled(self._terms, as_finite_float_array(scalar, "scalar"), self._shapes(), self.dtype)
        return Hessian._new(self.out_shape, self.in_shapes, terms, self.dtype, self.symmetric)

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Hessian):
            return NotImplemented
        return self + (-other)

    def __repr__(self) -> str:
        return (f"Hessian(out_shape={self.out_shape}, in_shapes={self.in_shapes}, dtype={self.dtype}, "
                f"structure={T.structure(self._terms)!r}, stored_bytes={self.nbytes})")

    def plot(self, ax=None, **options):
        """Draw the Hessian with matplotlib (the ``plot`` extra); return the ``Axes``.

        A vector output gives one matrix per output entry, stacked.
        A heat map of the matrix view (diverging colour map centred at 0, multi-index ticks
        for small shapes), or, when it has more than ``max_cells`` (default 256) rows or columns
        or a dense form over the dense budget, its structure pattern computed from the factors
        without materialising it.  Options: ``kind`` (``"auto"``, ``"values"``, ``"pattern"``),
        ``max_cells``, ``max_ticks``, ``cmap``, ``title`` (:mod:`tensorjac._plot`).

        >>> import numpy as np, tensorjac as tj
        >>> ax = tj.hessian(lambda x: np.sum(x ** 3))(np.array([1.0, -1.0])).plot()
        >>> print(ax.images[0].get_array())
        [[ 6.  0.]
         [-0. -6.]]
        """
        from ._plot import plot_hessian
        return plot_hessian(self, ax, **options)

    def _repr_html_(self) -> str:
        from ._display import hessian_html
        return hessian_html(self)


def _astype(terms, dtype) -> list:
    return [
        T.Term(tuple((a if a.dtype is None or a.dtype == dtype else T.freeze(a.astype(dtype)), labs)
                     for a, labs in t.factors), t.groups)
        for t in terms
    ]


def second_structured(spec: str, *factors, sizes=None, dtype=None, symmetric=False) -> Hessian:
    """A one-term Hessian (second-derivative block) from a spec ``"factors->out|in|in2"``.

    For rules: like :func:`tensorjac._jacobian.structured` with three groups.  A letter shared by
    groups is a delta; ``"a->a|a|a"`` with the factor ``f''(x)`` is the second derivative of an
    elementwise function.

    >>> import numpy as np
    >>> second_structured("a->a|a|a", np.array([2.0, 3.0])).dense()[1]
    array([[0., 0.],
           [0., 3.]])
    """
    arrays = [f if T.is_index(f) else as_float_array(f, f"factor {k} of {spec!r}") for k, f in enumerate(factors)]
    template = T.parse_spec(spec, tuple(a.shape for a in arrays), tuple(sorted(sizes.items())) if sizes else (), 3)
    floats = [a for a in arrays if not T.is_index(a)]
    if dtype is None:
        dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    out_shape, in_shape, in2_shape = template[3]
    return Hessian._new(out_shape, (in_shape, in2_shape), (T.build(template, arrays, np.dtype(dtype)),), dtype,
                        symmetric)


def _finish(terms, out_shape, in_shapes, dtype, symmetric) -> Hessian:
    shapes = (out_shape, *in_shapes)
    terms = [T.compact(t, T.label_sizes(t, shapes), dtype) for t in terms]
    return Hessian._new(out_shape, in_shapes, T.merge(terms), dtype, symmetric)


def left(A: Jacobian, H: Hessian) -> Hessian:
    """``c(A, H)``: the output group of ``H`` (``z``) contracted with a Jacobian ``A`` (``l | z``)."""
    if A.in_shape != H.out_shape:
        raise ValueError(f"left: the Jacobian's in_shape {A.in_shape} does not match the Hessian's out_shape {H.out_shape}")
    dtype = np.result_type(A.dtype, H.dtype)
    terms = [T.product(a, 1, h, 0, H.out_shape, dtype) for a in A._terms for h in H._terms]
    return _finish(terms, A.out_shape, H.in_shapes, dtype, H.symmetric)


def right(H: Hessian, J1: Jacobian | None, J2: Jacobian | None) -> Hessian:
    """``H[J1, J2]``: input group 1 of ``H`` contracted with ``J1`` (``a | x``), group 2 with ``J2``.

    ``None`` leaves a group as it is.  The result is symmetric when ``H`` is and ``J1 is J2``.
    """
    dtype = np.result_type(H.dtype, *(J.dtype for J in (J1, J2) if J is not None))
    terms = list(H._terms)
    in_shapes = list(H.in_shapes)
    for group, J in ((1, J1), (2, J2)):
        if J is None:
            continue
        if J.out_shape != in_shapes[group - 1]:
            raise ValueError(f"right: the Jacobian's out_shape {J.out_shape} does not match input group {group} "
                             f"of the Hessian, {in_shapes[group - 1]}")
        terms = [T.product(h, group, j, 0, J.out_shape, dtype) for h in terms for j in J._terms]
        in_shapes[group - 1] = J.in_shape
    symmetric = H.symmetric and J1 is J2
    return _finish(terms, H.out_shape, in_shapes, dtype, symmetric)


def contract_vector(H: Hessian, u: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """``sum u[z] H[z, a, b] v[b]``: an array of the first input group's shape (a Hessian-vector product).

    ``u`` is a cotangent of the output (``None``: the output is a scalar, weighted 1).
    """
    dtype = np.result_type(H.dtype, v.dtype, *(() if u is None else (u.dtype,)))
    result = None
    for term in H._terms:
        sizes = T.label_sizes(term, H._shapes())
        factors = term.factors + ((v, term.groups[2]),)
        if u is not None:
            factors = ((u, term.groups[0]),) + factors
        part = T.einsum(factors, term.groups[1], sizes, dtype)
        result = part if result is None else result + part
    return np.zeros(H.in_shapes[0], dtype=dtype) if result is None else result
