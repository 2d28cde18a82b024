"""The Jacobian type: a linear map ``T_n -> T_l`` held as a sum of labelled-factor terms.

The layout convention, stated once:

    A Jacobian of f : T_n -> T_l is an array in T_{l⊕n}: its shape is
    ``out_shape + in_shape`` (the layout of ``jax.jacfwd``), and its matrix view is
    ``(prod(out_shape), prod(in_shape))`` with row-major ``vec``.  Size-1 axes are never
    squeezed; scalars have shape ``()``.

A Jacobian is a sum of two-group terms (:mod:`tensorjac._terms`: output labels, input labels),
whose invariant is written there.  A Jacobian adds its own: every term has the Jacobian's
``out_shape``/``in_shape`` as group shapes and the Jacobian's dtype (float32 or float64).
:meth:`Jacobian.check_invariants` verifies both; with ``TENSORJAC_CHECK_INVARIANTS=1`` every
construction does.  Every Jacobian is made by :meth:`Jacobian._new` (the one constructor path):
nothing outside this module assembles terms.

**No aliasing.**  A Jacobian never changes after construction.  Copying every array a Jacobian
keeps would cost more than some rules themselves (a fresh copy of the network's 3 MiB input
costs 1.6 ms of page faults on a small VM, 20% of a whole gradient), so tensorjac keeps the
arrays it is given and makes them read-only instead, as JAX arrays are immutable: the public
constructors freeze the arrays they are given, and rules freeze their arguments and their value
where a stored factor shares their memory (:func:`protect`).  Writing into such an array then
raises numpy's "assignment destination is read-only"; pass a copy to keep a writeable one.
"""

from __future__ import annotations

import math

import numpy as np

from . import _budget, _plans
from . import _terms as T
from ._validation import as_finite_float_array, as_float_array, as_shape, as_size, float_dtype

__all__ = ["Jacobian", "structured", "from_template", "protect", "from_owned_dense", "diagonal_of", "terms_sum", "matrix_views", "product", "finish", "pull", "push"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float_dtype(dtype) -> np.dtype:
    return float_dtype(dtype)


class Jacobian:
    """A Jacobian of ``f : T_n -> T_l``, an array in ``T_{l⊕n}``.

    Its shape is ``out_shape + in_shape`` (the layout of ``jax.jacfwd``), and its matrix view
    is ``(prod(out_shape), prod(in_shape))`` with row-major ``vec``.  Size-1 axes are never
    squeezed; scalars have shape ``()``.

    Construct one from a dense array and the number of output axes, or with structure through
    :meth:`from_einsum`, :meth:`identity`, :meth:`diagonal` and :meth:`zeros`.  Rules build
    structured Jacobians (diagonal, Kronecker, block-diagonal) that are never materialised
    unless :meth:`dense` is called.  A Jacobian is immutable: it keeps the arrays it is built
    from without copying them and makes them read-only (pass ``array.copy()`` to keep a
    writeable one).

    Args:
        array: the dense Jacobian, shape ``out_shape + in_shape``.
        out_ndim: how many leading axes of ``array`` are output axes.

    >>> import numpy as np, tensorjac as tj
    >>> J = tj.Jacobian(np.arange(6.0).reshape(2, 3), out_ndim=1)
    >>> J.out_shape, J.in_shape, J.shape
    ((2,), (3,), (2, 3))
    >>> tj.Jacobian.diagonal(np.array([1.0, 2.0])).dense()
    array([[1., 0.],
           [0., 2.]])
    """

    # _matrix caches the (prod(out_shape), prod(in_shape)) view of a dense Jacobian (None when
    # structured, False until computed): a chain of three 16x16 Jacobians costs 2.2 us of
    # matrix products, and finding the views anew each time added 1 us (bench/ small_chain).
    __slots__ = ("out_shape", "in_shape", "dtype", "_terms", "_matrix")
    __array_ufunc__ = None  # make ``ndarray @ Jacobian`` defer to Jacobian.__rmatmul__

    def __init__(self, array, out_ndim: int):
        arr = as_finite_float_array(array, "Jacobian array")
        if isinstance(out_ndim, bool) or not isinstance(out_ndim, (int, np.integer)) or not 0 <= out_ndim <= arr.ndim:
            raise ValueError(
                f"out_ndim must be an int between 0 and the array's ndim {arr.ndim} "
                f"(array shape {arr.shape}), got {out_ndim!r}"
            )
        labels = T.fresh_labels(arr.ndim)
        term = T.Term(((T.freeze(arr), labels),), (labels[:out_ndim], labels[out_ndim:]))
        out_shape, in_shape = arr.shape[:out_ndim], arr.shape[out_ndim:]
        matrix = arr if arr.ndim == 2 and out_ndim == 1 else arr.reshape(math.prod(out_shape), math.prod(in_shape))
        self._init(out_shape, in_shape, (term,), arr.dtype, matrix)

    def _init(self, out_shape: tuple, in_shape: tuple, terms: tuple, dtype: np.dtype, matrix=False) -> None:
        self.out_shape, self.in_shape, self._terms, self.dtype, self._matrix = out_shape, in_shape, terms, dtype, matrix
        if T.CHECK_ALL:  # the debug switch (TENSORJAC_CHECK_INVARIANTS)
            self.check_invariants()

    @classmethod
    def _new(cls, out_shape, in_shape, terms, dtype) -> "Jacobian":
        """The one constructor path: a Jacobian from terms (shapes are tuples of ints, dtype a
        float32/float64 ``np.dtype``; checked against the invariant when the debug switch is on)."""
        self = cls.__new__(cls)
        self._init(tuple(out_shape), tuple(in_shape), tuple(terms), np.dtype(dtype))
        return self

    def check_invariants(self) -> "Jacobian":
        """Verify the representation invariant (see :mod:`tensorjac._terms`); return ``self``.

        Raises ``tensorjac._terms.InvariantError`` naming the term and the broken rule.  Run on
        every construction when the environment variable ``TENSORJAC_CHECK_INVARIANTS=1`` is set.

        >>> import numpy as np, tensorjac as tj
        >>> tj.Jacobian.diagonal(np.ones(3)).check_invariants().shape
        (3, 3)
        """
        if self.dtype not in _FLOATS:
            raise T.InvariantError(f"Jacobian dtype {self.dtype} is not float32 or float64")
        for k, term in enumerate(self._terms):
            T.check(term, (self.out_shape, self.in_shape), self.dtype, where=f"Jacobian term {k}")
        return self

    # -- structured constructors ---------------------------------------------------------

    @classmethod
    def from_einsum(
        cls, spec: str, *factors, sizes: dict[str, int] | None = None, dtype=None, check_finite: bool = True
    ) -> "Jacobian":
        """Build a structured Jacobian from an einsum-like spec ``"factors->out|in"``.

        Each factor gets one letter per axis.  A letter that appears among both the output
        and the input letters is a Kronecker delta between those axes; a letter that no
        factor carries is a constant (all-ones) axis whose size comes from ``sizes``; a
        factor letter that is neither output nor input is summed over.  The factors are
        copied.

        Args:
            spec: e.g. ``"ai->ab|ib"`` for ``d(X@W)/dW[a,b,i,j] = X[a,i] delta[b,j]``.
            *factors: the arrays named by the letters before ``->``.
            sizes: sizes of letters that no factor carries.
            dtype: float32 or float64 (default: that of the factors, float64 if there are none).
            check_finite: reject factors with nan or inf (``ValueError``).

        >>> import numpy as np, tensorjac as tj
        >>> X, W = np.ones((4, 3)), np.ones((3, 2))
        >>> J = tj.Jacobian.from_einsum("ai->ab|ib", X, sizes={"b": 2})   # d(X @ W)/dW
        >>> J.shape
        (4, 2, 3, 2)
        """
        J = _from_spec(spec, factors, sizes, dtype, check_finite=check_finite)
        return protect(J, [f for f in factors if isinstance(f, np.ndarray)])

    @classmethod
    def identity(cls, shape, dtype=np.float64) -> "Jacobian":
        """The identity map on ``T_shape`` (a pure delta: nothing is stored).

        ``shape`` is an int or a tuple of non-negative ints (``identity(3)`` is ``identity((3,))``, as
        in numpy); ``dtype`` is float32 or float64 (any other dtype, integers included, raises
        ``TypeError``: a Jacobian's entries are real floats).

        >>> import tensorjac as tj
        >>> tj.Jacobian.identity((2,)).dense()
        array([[1., 0.],
               [0., 1.]])
        """
        shape = as_shape(shape)
        labels = T.fresh_labels(len(shape))
        return cls._new(shape, shape, [T.Term((), (labels, labels))], _float_dtype(dtype))

    @classmethod
    def diagonal(cls, d) -> "Jacobian":
        """The elementwise map ``x -> d * x`` (shape ``d.shape + d.shape``), storing only ``d`` (made read-only).

        >>> import numpy as np, tensorjac as tj
        >>> tj.Jacobian.diagonal(np.array([2.0, 3.0])).matrix()
        array([[2., 0.],
               [0., 3.]])
        """
        arr = as_finite_float_array(d, "diagonal")
        labels = T.fresh_labels(arr.ndim)
        return cls._new(arr.shape, arr.shape, [T.Term(((T.freeze(arr), labels),), (labels, labels))], arr.dtype)

    @classmethod
    def zeros(cls, out_shape, in_shape, dtype=np.float64) -> "Jacobian":
        """The zero map ``T_in -> T_out`` (no terms, nothing stored); shapes and dtype as for :meth:`identity`."""
        return cls._new(as_shape(out_shape, "out_shape"), as_shape(in_shape, "in_shape"), (), _float_dtype(dtype))

    # -- shapes --------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """``out_shape + in_shape``."""
        return self.out_shape + self.in_shape

    @property
    def ndim(self) -> int:
        return len(self.out_shape) + len(self.in_shape)

    @property
    def size(self) -> int:
        """Number of entries of the dense form."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored factors (compare with ``size * dtype.itemsize`` for dense)."""
        return sum(arr.nbytes for term in self._terms for arr, _ in term.factors)

    @property
    def is_dense(self) -> bool:
        """True when stored as one plain array (no delta, constant or multi-term structure)."""
        if len(self._terms) != 1 or len(self._terms[0].factors) != 1:
            return False
        term = self._terms[0]
        arr, labs = term.factors[0]
        free = term.free()
        return type(arr) is np.ndarray and len(set(free)) == len(free) == len(labs) and set(labs) == set(free)

    # -- materialising -------------------------------------------------------------------

    def _shapes(self):
        return (self.out_shape, self.in_shape)

    def dense(self, budget: int | None = None) -> np.ndarray:
        """The Jacobian as a numpy array of shape ``out_shape + in_shape``.

        Raises ``MemoryError`` (naming the shape and bytes) if the array would exceed
        ``budget`` bytes (default: :func:`get_dense_budget`, 1 GiB unless changed).
        """
        _budget.check(self.shape, self.dtype, budget)
        if len(self._terms) == 1:
            # One term: its contraction is the result (no zero-filled array and extra pass),
            # copied when it is a stored factor or a view of one, so the caller owns it.
            term = self._terms[0]
            sizes = T.label_sizes(term, self._shapes())
            part = T.einsum(term.factors, term.free(), sizes, self.dtype)
            if not part.flags.c_contiguous or not part.flags.writeable or any(
                type(arr) is np.ndarray and np.may_share_memory(part, arr) for arr, _ in term.factors
            ):
                part = np.array(part, dtype=self.dtype, order="C", copy=True)
            return part.reshape(self.shape)
        result = np.zeros(self.shape, dtype=self.dtype)
        for term in self._terms:
            sizes = T.label_sizes(term, self._shapes())
            result += T.einsum(term.factors, term.free(), sizes, self.dtype)
        return result

    def matrix(self, budget: int | None = None) -> np.ndarray:
        """The ``(prod(out_shape), prod(in_shape))`` matrix view (row-major ``vec``)."""
        return self.dense(budget).reshape(math.prod(self.out_shape), math.prod(self.in_shape))

    def __array__(self, dtype=None, copy=None):
        arr = self.dense()
        return arr if dtype is None else arr.astype(dtype)

    # -- applying cotangents and tangents ------------------------------------------------

    def vjp(self, cotangent) -> np.ndarray:
        """``c(u, J)``: a cotangent of ``out_shape`` pulled back to ``in_shape`` (a new array).

        >>> import numpy as np, tensorjac as tj
        >>> tj.Jacobian.diagonal(np.array([2.0, 3.0])).vjp(np.array([1.0, 1.0]))
        array([2., 3.])
        """
        u = as_finite_float_array(cotangent, "cotangent")
        if u.shape != self.out_shape:
            raise ValueError(f"vjp: cotangent has shape {u.shape} but the Jacobian's out_shape is {self.out_shape}")
        return _fresh(pull(u, self), u)

    def jvp(self, tangent) -> np.ndarray:
        """``c(J, v)``: a tangent of ``in_shape`` pushed forward to ``out_shape`` (a new array).

        >>> import numpy as np, tensorjac as tj
        >>> tj.Jacobian.diagonal(np.array([2.0, 3.0])).jvp(np.array([1.0, 1.0]))
        array([2., 3.])
        """
        v = as_finite_float_array(tangent, "tangent")
        if v.shape != self.in_shape:
            raise ValueError(f"jvp: tangent has shape {v.shape} but the Jacobian's in_shape is {self.in_shape}")
        return _fresh(push(self, v), v)

    # -- algebra -------------------------------------------------------------------------

    def transpose(self) -> "Jacobian":
        """The adjoint map ``T_l -> T_n``: shape ``in_shape + out_shape``."""
        terms = [T.Term(t.factors, (t.groups[1], t.groups[0])) for t in self._terms]
        return Jacobian._new(self.in_shape, self.out_shape, terms, self.dtype)

    @property
    def T(self) -> "Jacobian":
        return self.transpose()

    def __add__(self, other):
        if not isinstance(other, Jacobian):
            return NotImplemented
        if self.shape != other.shape or self.out_shape != other.out_shape:
            raise ValueError(
                f"cannot add Jacobians with out_shape/in_shape {self.out_shape}/{self.in_shape} "
                f"and {other.out_shape}/{other.in_shape}"
            )
        dtype = np.result_type(self.dtype, other.dtype)
        terms = _astype(self._terms, dtype) + _astype(other._terms, dtype)
        return Jacobian._new(self.out_shape, self.in_shape, T.merge(terms), dtype)

    def __mul__(self, scalar):
        if isinstance(scalar, Jacobian) or np.ndim(scalar) != 0:
            return NotImplemented
        # A Python or numpy scalar is "weak" (as in numpy): the Jacobian keeps its dtype.
        terms = T.scaled(self._terms, as_finite_float_array(scalar, "scalar"), self._shapes(), self.dtype)
        return Jacobian._new(self.out_shape, self.in_shape, terms, self.dtype)

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Jacobian):
            return NotImplemented
        return self + (-other)

    def __matmul__(self, other):
        """``J @ K`` is the chain rule ``c(J, K)``; a plain array ``K`` is split by ``J.in_shape``."""
        if not isinstance(other, Jacobian):
            other = _wrap(other, len(self.in_shape), "DG", self.in_shape)
        return product(self, other)

    def __rmatmul__(self, other):
        if isinstance(other, Jacobian):
            return product(other, self)
        arr = as_finite_float_array(other, "DF")
        return product(_wrap(arr, arr.ndim - len(self.out_shape), "DF", self.out_shape), self)

    def __repr__(self) -> str:
        return (
            f"Jacobian(out_shape={self.out_shape}, in_shape={self.in_shape}, dtype={self.dtype}, "
            f"structure={T.structure(self._terms)!r}, stored_bytes={self.nbytes})"
        )

    def plot(self, ax=None, **options):
        """Draw the Jacobian with matplotlib (the ``plot`` extra); return the ``Axes``.

        A heat map of the matrix view (diverging colour map centred at 0, multi-index ticks
        for small shapes), or, when it has more than ``max_cells`` (default 256) rows or columns
        or a dense form over the dense budget, its structure pattern computed from the factors
        without materialising it.  Options: ``kind`` (``"auto"``, ``"values"``, ``"pattern"``),
        ``max_cells``, ``max_ticks``, ``cmap``, ``title`` (:mod:`tensorjac._plot`).

        >>> import numpy as np, tensorjac as tj
        >>> ax = tj.Jacobian.diagonal(np.array([1.0, -2.0, 3.0])).plot()
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['[0]', '[1]', '[2]']
        """
        from ._plot import plot_jacobian
        return plot_jacobian(self, ax, **options)

    def _repr_html_(self) -> str:
        from ._display import jacobian_html
        return jacobian_html(self)


# ---- Internal constructors (for rules and chains) ---------------------------------------------


def _from_spec(spec, factors, sizes, dtype, *, check_finite) -> Jacobian:
    arrays = []
    for pos, factor in enumerate(factors):
        if T.is_index(factor):
            arrays.append(factor)
            continue
        what = f"factor {pos} of {spec!r}"
        arrays.append(as_finite_float_array(factor, what) if check_finite else as_float_array(factor, what))
    if sizes is not None:
        if not isinstance(sizes, dict) or not all(isinstance(k, str) and len(k) == 1 for k in sizes):
            raise TypeError(f"sizes must be a dict from letters of the spec to sizes, e.g. {{'b': 2}}, got {sizes!r}")
        sizes = {k: as_size(v, f"sizes[{k!r}]") for k, v in sizes.items()}
    template = T.parse_spec(spec, tuple(arr.shape for arr in arrays), tuple(sorted(sizes.items())) if sizes else ())
    return from_template(template, arrays, None if dtype is None else _float_dtype(dtype))


def from_template(template, arrays, dtype=None) -> Jacobian:
    """A one-term Jacobian from a parsed spec (:func:`tensorjac._terms.parse_spec`) and its factors.

    The factors are kept as read-only views (the arrays given keep their own flags) in ``dtype``
    (default: the result type of the float factors).
    """
    if dtype is None:
        floats = [arr for arr in arrays if not T.is_index(arr)]
        dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    out_shape, in_shape = template[3]
    return Jacobian._new(out_shape, in_shape, (T.build(template, arrays, dtype),), dtype)


def structured(spec: str, *factors, sizes=None, dtype=None) -> Jacobian:
    """``Jacobian.from_einsum`` for rules: no finiteness pass over the factors (the rule's
    arguments were checked; values computed from them are the rule's business)."""
    return _from_spec(spec, factors, sizes, dtype, check_finite=False)


def protect(J: Jacobian, arrays) -> Jacobian:
    """Make read-only every one of ``arrays`` that shares memory with a stored factor of ``J``.

    Rules store views of their arguments and value (a reshape, a transpose); freezing the view
    does not stop writes through the caller's array, so the caller's array is frozen too.
    """
    for a in arrays:
        if a.flags.writeable and a.size and any(
            type(arr) is np.ndarray and np.may_share_memory(arr, a) for term in J._terms for arr, _ in term.factors
        ):
            a.flags.writeable = False
    return J


def from_owned_dense(arr: np.ndarray, out_shape: tuple, in_shape: tuple, dtype: np.dtype, matrix=False) -> Jacobian:
    """A dense Jacobian around an array nobody else holds (a fresh product): no copy, no checks.

    Kept lean (chains of small dense Jacobians end here): tuple shapes and an ``np.dtype`` only;
    ``matrix`` is the array's matrix view when the caller has it.
    """
    nout = len(out_shape)
    if nout == 1 and len(in_shape) == 1:
        a, b = T.fresh_label(), T.fresh_label()
        term = _make_term(((arr, (a, b)),), ((a,), (b,)))
    else:
        labels = T.fresh_labels(nout + len(in_shape))
        term = _make_term(((arr, labels),), (labels[:nout], labels[nout:]))
    arr.setflags(write=False)
    if matrix is not False and matrix is not arr:
        matrix.setflags(write=False)
    J = _new_jacobian(Jacobian)
    J.out_shape, J.in_shape, J._terms, J.dtype, J._matrix = out_shape, in_shape, (term,), dtype, matrix
    if T.CHECK_ALL:
        J.check_invariants()
    return J


_make_term = T.make_term
_new_jacobian = object.__new__


def terms_sum(*Js: Jacobian) -> Jacobian:
    """The sum of Jacobians of one shape and dtype as one Jacobian holding all their terms (no merging:
    for rules whose terms differ in structure, e.g. softmax's two)."""
    first = Js[0]
    if any(J.shape != first.shape or J.out_shape != first.out_shape or J.dtype != first.dtype for J in Js):
        raise ValueError("terms_sum: the Jacobians must share out_shape, in_shape and dtype")
    return Jacobian._new(first.out_shape, first.in_shape, sum((J._terms for J in Js), ()), first.dtype)


def diagonal_of(shape: tuple, d, dtype) -> Jacobian:
    """The diagonal Jacobian ``x -> d * x`` on ``T_shape`` (``d`` None: the identity), for rules:
    ``d`` is kept as a read-only view, no checks (a hot path of every elementwise rule)."""
    labels = T.fresh_labels(len(shape))
    factors = () if d is None else ((T.freeze(d.view()), labels),)
    J = _new_jacobian(Jacobian)
    J._init(shape, shape, (T.make_term(factors, (labels, labels)),), np.dtype(dtype))
    return J


def _astype(terms, dtype) -> list:
    return [
        T.Term(tuple((a if a.dtype is None or a.dtype == dtype else T.freeze(a.astype(dtype)), labs)
                     for a, labs in t.factors), t.groups)
        for t in terms
    ]


def _wrap(x, out_ndim: int, role: str, middle_shape: tuple) -> Jacobian:
    """Wrap a plain array operand of ``@`` whose split is fixed by the other operand's
    ``middle_shape`` (DF's in_shape for DG, DG's out_shape for DF)."""
    arr = as_finite_float_array(x, role)
    if not 0 <= out_ndim <= arr.ndim:
        other = "DF.in_shape" if role == "DG" else "DG.out_shape"
        raise ValueError(
            f"contract: the {role} array has shape {arr.shape}, too few axes to hold the middle "
            f"shape {other} {middle_shape}"
        )
    return Jacobian(arr, out_ndim)


# ---- Products ------------------------------------------------------------------------------


def product(DF: Jacobian, DG: Jacobian, compact: bool = True) -> Jacobian:
    """The chain rule ``c(DF, DG)``; ``compact=False`` keeps every term lazy (a chain's product)."""
    if DF.in_shape != DG.out_shape:
        raise ValueError(
            f"contract: DF.in_shape {DF.in_shape} does not match DG.out_shape {DG.out_shape} "
            f"(DF has out_shape {DF.out_shape} + in_shape {DF.in_shape}, "
            f"DG has out_shape {DG.out_shape} + in_shape {DG.in_shape})"
        )
    dtype = np.result_type(DF.dtype, DG.dtype)
    shapes = (DF.out_shape, DG.in_shape)
    terms = []
    for F in DF._terms:
        for G in DG._terms:
            term = T.product(F, 1, G, 0, DF.in_shape, dtype)
            if compact:
                term = T.compact(term, T.label_sizes(term, shapes), dtype)
            terms.append(term)
    return Jacobian._new(DF.out_shape, DG.in_shape, T.merge(terms) if compact else terms, dtype)


def _matrix_view(J: Jacobian):
    """The matrix view of a dense Jacobian (cached in ``J._matrix``), or None when structured."""
    matrix = None
    if len(J._terms) == 1 and len(J._terms[0].factors) == 1 and J.is_dense:
        arr, labs = J._terms[0].factors[0]
        order = J._terms[0].free()
        if labs != order:
            arr = arr.transpose([labs.index(lab) for lab in order])
        matrix = arr.reshape(math.prod(J.out_shape), math.prod(J.in_shape))
    J._matrix = matrix
    return matrix


def matrix_views(js):
    """``(matrices, dims, dtype)`` of a chain of linked dense Jacobians, without copying: matrix
    ``k`` is ``J_k``'s ``(prod(out_shape), prod(in_shape))`` view, ``dims`` the chain's sizes.
    None when a Jacobian is structured or the chain does not link (kept lean: chains of small
    dense Jacobians call it every time)."""
    first = js[0]
    if first.__class__ is not Jacobian:
        return None
    mats, dims = [], []
    dtype = first.dtype
    prev_in = first.out_shape
    for J in js:
        if J.__class__ is not Jacobian or J.out_shape != prev_in:
            return None
        matrix = J._matrix
        if matrix is False:
            matrix = _matrix_view(J)
        if matrix is None:
            return None
        mats.append(matrix)
        dims.append(matrix.shape[0])
        prev_in = J.in_shape
        if J.dtype is not dtype:
            dtype = np.result_type(dtype, J.dtype)
    dims.append(mats[-1].shape[1])
    return mats, tuple(dims), dtype


def finish(J: Jacobian) -> Jacobian:
    """Compact and merge the terms of a lazy product (see :func:`product` with ``compact=False``)."""
    terms = [T.compact(t, T.label_sizes(t, J._shapes()), J.dtype) for t in J._terms]
    return Jacobian._new(J.out_shape, J.in_shape, T.merge(terms), J.dtype)


def pull(u: np.ndarray, J: Jacobian) -> np.ndarray:
    """One backpropagation step: ``c(u, J)`` for a dense cotangent ``u`` of ``J.out_shape``."""
    dtype = np.result_type(u.dtype, J.dtype)
    result = None
    dry = _plans.active_record() is not None
    for term in J._terms:
        part = None if dry else T.pull_elementwise(u, term)
        if part is None:
            sizes = T.label_sizes(term, J._shapes())
            part = T.einsum(((u, term.groups[0]),) + term.factors, term.groups[1], sizes, dtype)
        result = part if result is None else result + part
    if result is None:
        return np.zeros(J.in_shape, dtype=dtype)
    return result if result.dtype == dtype else result.astype(dtype)


def push(J: Jacobian, v: np.ndarray) -> np.ndarray:
    """One forward-mode step: ``c(J, v)`` for a dense tangent ``v`` of ``J.in_shape``."""
    dtype = np.result_type(v.dtype, J.dtype)
    result = None
    for term in J._terms:
        sizes = T.label_sizes(term, J._shapes())
        part = T.einsum(term.factors + ((v, term.groups[1]),), term.groups[0], sizes, dtype)
        result = part if result is None else result + part
    return np.zeros(J.out_shape, dtype=dtype) if result is None else result


def _fresh(result: np.ndarray, given: np.ndarray) -> np.ndarray:
    """``result`` as an array the caller owns: never the input itself (through an identity), and an
    ndarray even when 0-d (a contraction to a scalar gives a numpy scalar)."""
    if not isinstance(result, np.ndarray):
        return np.array(result)
    if np.may_share_memory(result, given) or not result.flags.writeable:
        result = result.copy()
    return result
