"""The Jacobian type: a linear map ``T_n -> T_l`` held as (a sum of) factored tensors.

The layout convention, stated once:

    A Jacobian of f : T_n -> T_l is an array in T_{l⊕n}: its shape is
    ``out_shape + in_shape`` (the layout of ``jax.jacfwd``), and its matrix view is
    ``(prod(out_shape), prod(in_shape))`` with row-major ``vec``.  Size-1 axes are never
    squeezed; scalars have shape ``()``.

Internally a Jacobian is a sum of *terms*.  A term is a product of small factor arrays whose
axes carry integer labels, plus the labels of the output axes and of the input axes.  An
output label equal to an input label is a Kronecker delta between those two axes; an output
or input label that no factor carries is a constant (all-ones) axis.  So

    d(X @ W)/dW [a, b, i, j] = X[a, i] * delta[b, j]

is one term with the single factor ``X`` labelled ``(a, i)``, output labels ``(a, b)`` and
input labels ``(i, b)``: nothing of size ``N*k*d*k`` is ever stored.  A dense array is the
one-term, one-factor, all-labels-distinct case, so dense and structured Jacobians share one
code path.  Numbers are produced by ``opt_einsum.contract`` over the factors, which picks
the contraction order.
"""

from __future__ import annotations

import itertools
import math
import re
import string
from typing import NamedTuple

import numpy as np
import opt_einsum as oe

from . import _plans
from ._validation import as_finite_float_array, as_float_array

__all__ = ["Jacobian", "set_dense_budget", "get_dense_budget"]

# ---- Dense budget -------------------------------------------------------------------------

_DENSE_BUDGET_BYTES = 1 << 30  # 1 GiB


def set_dense_budget(nbytes: int | None) -> int:
    """Set the largest array (in bytes) that ``Jacobian.dense()`` may build; return the old value.

    ``None`` restores the default of 1 GiB.

    >>> import tensorjac as tj
    >>> old = tj.set_dense_budget(10 * 2**30)   # allow 10 GiB
    >>> _ = tj.set_dense_budget(old)
    """
    global _DENSE_BUDGET_BYTES
    if nbytes is not None and (not isinstance(nbytes, (int, np.integer)) or nbytes < 0):
        raise ValueError(f"the dense budget must be a non-negative number of bytes, got {nbytes!r}")
    old = _DENSE_BUDGET_BYTES
    _DENSE_BUDGET_BYTES = (1 << 30) if nbytes is None else int(nbytes)
    return old


def get_dense_budget() -> int:
    """The current budget of ``Jacobian.dense()`` in bytes."""
    return _DENSE_BUDGET_BYTES


def _check_budget(shape: tuple[int, ...], dtype, budget: int | None) -> None:
    budget = _DENSE_BUDGET_BYTES if budget is None else budget
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > budget:
        raise MemoryError(
            f"refusing to materialise a dense Jacobian of shape {shape} ({np.dtype(dtype)}): it needs "
            f"{nbytes:,} bytes ({nbytes / 2**30:.3g} GiB), over the budget of {budget:,} bytes. "
            "Contract it with a cotangent or tangent instead (tensorjac.vjp / tensorjac.jvp), or raise "
            "the budget with tensorjac.set_dense_budget(nbytes) or dense(budget=nbytes)."
        )


# ---- Terms --------------------------------------------------------------------------------

_fresh_labels = itertools.count()

Labels = tuple[int, ...]


class _Term(NamedTuple):
    """One product of labelled factors.  Invariants (kept by every constructor):

    * ``out_labels`` are distinct, ``in_labels`` are distinct;
    * every label is in ``out_labels``/``in_labels`` or carried by at least one factor
      (a summed label that no factor carries is folded into a scalar factor instead).
    """

    factors: tuple[tuple[np.ndarray, Labels], ...]
    out_labels: Labels
    in_labels: Labels

    def relabel(self, mapping: dict[int, int]) -> "_Term":
        get = lambda lab: mapping.get(lab, lab)  # noqa: E731
        return _Term(
            tuple((arr, tuple(map(get, labs))) for arr, labs in self.factors),
            tuple(map(get, self.out_labels)),
            tuple(map(get, self.in_labels)),
        )

    def labels(self) -> set[int]:
        found = set(self.out_labels) | set(self.in_labels)
        for _, labs in self.factors:
            found.update(labs)
        return found


def _label_sizes(term: _Term, out_shape, in_shape) -> dict[int, int]:
    sizes = dict(zip(term.out_labels, out_shape))
    sizes.update(zip(term.in_labels, in_shape))
    for arr, labs in term.factors:
        sizes.update(zip(labs, arr.shape))
    return sizes


# The symbol of the i-th distinct label in an equation (opt_einsum's alphabet).
_SYMBOLS = tuple(oe.get_symbol(i) for i in range(512))


def _symbol(i: int) -> str:
    return _SYMBOLS[i] if i < len(_SYMBOLS) else oe.get_symbol(i)


def _einsum(factors, output: Labels, sizes: dict[int, int], dtype) -> np.ndarray:
    """Contract labelled factors into an array indexed by ``output``.

    ``output`` may repeat a label (a delta: an identity factor is added) and may name labels
    that no factor carries (constant axes: the result is broadcast along them).  The
    contraction is planned once per (equation, shapes) and the plan is reused
    (:func:`tensorjac._plans.plan`).  During a dry run (``tensorjac.chain_cost``) nothing is
    computed: the planned cost is recorded and a zero-memory placeholder is returned.
    """
    out = output
    if len(set(output)) != len(output):  # a delta between two output axes: an identity factor
        factors, sizes, out, seen = list(factors), dict(sizes), [], set()
        for lab in output:
            if lab in seen:
                twin = next(_fresh_labels)
                sizes[twin] = sizes[lab]
                factors.append((np.eye(sizes[lab], dtype=dtype), (lab, twin)))
                out.append(twin)
            else:
                out.append(lab)
                seen.add(lab)
    symbols: dict[int, str] = {}
    subscripts = []
    for _, labs in factors:
        sub = ""
        for lab in labs:
            sym = symbols.get(lab)
            if sym is None:
                sym = symbols[lab] = _symbol(len(symbols))
            sub += sym
        subscripts.append(sub)
    present = [lab for lab in out if lab in symbols]
    record = _plans.active_record()
    if subscripts:
        eq = ",".join(subscripts) + "->" + "".join(symbols[lab] for lab in present)
        planned = _plans.plan(eq, tuple(arr.shape for arr, _ in factors))
        if record is not None:
            record.add(planned.flops, planned.largest)
            return _plans.placeholder([sizes[lab] for lab in out], dtype)
        result = planned(*(arr for arr, _ in factors))
        if result.dtype != dtype:
            result = result.astype(dtype)
    else:
        if record is not None:
            return _plans.placeholder([sizes[lab] for lab in out], dtype)
        result = np.ones((), dtype=dtype)
    if len(present) < len(out):  # broadcast along the constant axes
        shape = [sizes[lab] if lab in symbols else 1 for lab in out]
        result = np.broadcast_to(result.reshape(shape), [sizes[lab] for lab in out]).copy()
    return result


def _compact(term: _Term, sizes: dict[int, int], dtype) -> _Term:
    """Pre-contract a term's factors into one factor when that factor is no bigger than them.

    This is what keeps chains cheap: a diagonal times a diagonal becomes one diagonal, and a
    dense cotangent pushed through a structured Jacobian becomes one dense array (one
    backpropagation step).  Factors whose free part would be larger than the factors
    themselves (the delta of d(XW)/dW, say) are left alone.
    """
    factors = term.factors
    if len(factors) == 1:
        labs = factors[0][1]
        if all(lab in term.out_labels or lab in term.in_labels for lab in labs):
            return term  # one factor and nothing to sum: already compact
    carried, factor_size = set(), 0
    for arr, labs in factors:
        factor_size += arr.size
        carried.update(labs)
    if not factors:
        return term
    # The merged factor's axes follow the Jacobian's own order (out, then in), so that dense()
    # and later contractions read it in memory order.
    keep, seen = [], set()
    for lab in term.out_labels + term.in_labels:
        if lab in carried and lab not in seen:
            seen.add(lab)
            keep.append(lab)
    if math.prod(sizes[lab] for lab in keep) > max(factor_size, 1):
        return term
    keep = tuple(keep)
    merged = _einsum(factors, keep, sizes, dtype)
    return _Term(((merged, keep),), term.out_labels, term.in_labels)


def _merge_terms(terms: list[_Term]) -> list[_Term]:
    """Add up single-factor terms that have the same structure (after canonical relabelling)."""
    if len(terms) <= 1:
        return list(terms)
    record = _plans.active_record()
    merged: dict[tuple, int] = {}
    result: list[_Term] = []
    for term in terms:
        if len(term.factors) != 1:
            result.append(term)
            continue
        arr, labs = term.factors[0]
        canon = {}
        for lab in term.out_labels + term.in_labels + labs:
            canon.setdefault(lab, len(canon))
        order = sorted(range(len(labs)), key=lambda ax: canon[labs[ax]])
        arr = np.transpose(arr, order)
        labs = tuple(labs[ax] for ax in order)
        key = (
            tuple(canon[lab] for lab in term.out_labels),
            tuple(canon[lab] for lab in term.in_labels),
            tuple(canon[lab] for lab in labs),
            arr.shape,
        )
        if key in merged:
            pos = merged[key]
            prev_arr, prev_labs = result[pos].factors[0]
            if record is not None:  # dry run: count the addition, keep the placeholder
                record.add(arr.size, arr.size)
                continue
            result[pos] = result[pos]._replace(factors=((prev_arr + arr, prev_labs),))
        else:
            merged[key] = len(result)
            result.append(term._replace(factors=((arr, labs),)))
    return result


# ---- The Jacobian type --------------------------------------------------------------------

_SPEC = re.compile(r"^\s*([A-Za-z,\s]*)->\s*([A-Za-z\s]*)\|\s*([A-Za-z\s]*)$")


class Jacobian:
    """A Jacobian of ``f : T_n -> T_l``, an array in ``T_{l⊕n}``.

    Its shape is ``out_shape + in_shape`` (the layout of ``jax.jacfwd``), and its matrix view
    is ``(prod(out_shape), prod(in_shape))`` with row-major ``vec``.  Size-1 axes are never
    squeezed; scalars have shape ``()``.

    Construct one from a dense array and the number of output axes, or with structure through
    :meth:`from_einsum`, :meth:`identity`, :meth:`diagonal` and :meth:`zeros`.  Rules build
    structured Jacobians (diagonal, Kronecker, block-diagonal) that are never materialised
    unless :meth:`dense` is called.

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

    __slots__ = ("out_shape", "in_shape", "dtype", "_terms")
    __array_ufunc__ = None  # make ``ndarray @ Jacobian`` defer to Jacobian.__rmatmul__

    def __init__(self, array, out_ndim: int):
        arr = as_finite_float_array(array, "Jacobian array")
        if not isinstance(out_ndim, (int, np.integer)) or not 0 <= out_ndim <= arr.ndim:
            raise ValueError(
                f"out_ndim must be an int between 0 and the array's ndim {arr.ndim} "
                f"(array shape {arr.shape}), got {out_ndim!r}"
            )
        labels = tuple(next(_fresh_labels) for _ in range(arr.ndim))
        self._set(
            arr.shape[:out_ndim],
            arr.shape[out_ndim:],
            (_Term(((arr, labels),), labels[:out_ndim], labels[out_ndim:]),),
            arr.dtype,
        )

    def _set(self, out_shape, in_shape, terms, dtype):
        self.out_shape = tuple(int(s) for s in out_shape)
        self.in_shape = tuple(int(s) for s in in_shape)
        self.dtype = np.dtype(dtype)
        self._terms = tuple(terms)

    @classmethod
    def _from_terms(cls, out_shape, in_shape, terms, dtype) -> "Jacobian":
        self = cls.__new__(cls)
        self._set(out_shape, in_shape, terms, dtype)
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
        factor letter that is neither output nor input is summed over.

        Args:
            spec: e.g. ``"ai->ab|ib"`` for ``d(X@W)/dW[a,b,i,j] = X[a,i] delta[b,j]``.
            *factors: the arrays named by the letters before ``->``.
            sizes: sizes of letters that no factor carries.
            dtype: float32 or float64 (default: that of the factors, float64 if there are none).
            check_finite: reject factors with nan or inf (``ValueError``).  Rules pass False
                for factors built from arguments they have already checked (as scipy.linalg's
                ``check_finite``): the check is a full pass over each factor.

        >>> import numpy as np, tensorjac as tj
        >>> X, W = np.ones((4, 3)), np.ones((3, 2))
        >>> J = tj.Jacobian.from_einsum("ai->ab|ib", X, sizes={"b": 2})   # d(X @ W)/dW
        >>> J.shape
        (4, 2, 3, 2)
        """
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(f"bad Jacobian spec {spec!r}: expected 'factor,letters->out|in', e.g. 'ai->ab|ib'")
        factor_part, out_part, in_part = (re.sub(r"\s", "", part) for part in match.groups())
        # "" is no factor, or one 0-d factor: the number of factors given decides.
        factor_subs = factor_part.split(",") if (factor_part or factors) else []
        if len(factor_subs) != len(factors):
            raise ValueError(f"spec {spec!r} names {len(factor_subs)} factor(s) but {len(factors)} were given")
        for part, what in ((out_part, "output"), (in_part, "input")):
            if len(set(part)) != len(part):
                raise ValueError(f"spec {spec!r} repeats a letter among the {what} letters {part!r}")
        letter_sizes = dict(sizes or {})
        arrays = []
        for pos, (sub, factor) in enumerate(zip(factor_subs, factors)):
            what = f"factor {pos} of {spec!r}"
            arr = as_finite_float_array(factor, what) if check_finite else as_float_array(factor, what)
            if arr.ndim != len(sub) or len(set(sub)) != len(sub):
                raise ValueError(
                    f"factor {pos} of spec {spec!r} has shape {arr.shape} but letters {sub!r} "
                    "(one distinct letter per axis is required)"
                )
            for letter, size in zip(sub, arr.shape):
                if letter_sizes.setdefault(letter, size) != size:
                    raise ValueError(
                        f"letter {letter!r} of spec {spec!r} has size {letter_sizes[letter]} and {size} "
                        f"(factor {pos} has shape {arr.shape})"
                    )
            arrays.append(arr)
        missing = [c for c in out_part + in_part if c not in letter_sizes]
        if missing:
            raise ValueError(f"spec {spec!r}: give the sizes of letters {missing} with sizes={{...}}")
        labels = {c: next(_fresh_labels) for c in letter_sizes}
        if dtype is None:
            dtype = np.result_type(*arrays) if arrays else np.float64
        elif np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        term = _Term(
            tuple((arr, tuple(labels[c] for c in sub)) for arr, sub in zip(arrays, factor_subs)),
            tuple(labels[c] for c in out_part),
            tuple(labels[c] for c in in_part),
        )
        return cls._from_terms(
            [letter_sizes[c] for c in out_part], [letter_sizes[c] for c in in_part], [term], dtype
        )

    @classmethod
    def identity(cls, shape, dtype=np.float64) -> "Jacobian":
        """The identity map on ``T_shape`` (a pure delta: nothing is stored).

        >>> import tensorjac as tj
        >>> tj.Jacobian.identity((2,)).dense()
        array([[1., 0.],
               [0., 1.]])
        """
        shape = tuple(int(s) for s in shape)
        labels = tuple(next(_fresh_labels) for _ in shape)
        return cls._from_terms(shape, shape, [_Term((), labels, labels)], dtype)

    @classmethod
    def diagonal(cls, d) -> "Jacobian":
        """The elementwise map ``x -> d * x`` (shape ``d.shape + d.shape``), storing only ``d``.

        >>> import numpy as np, tensorjac as tj
        >>> tj.Jacobian.diagonal(np.array([2.0, 3.0])).matrix()
        array([[2., 0.],
               [0., 3.]])
        """
        arr = as_finite_float_array(d, "diagonal")
        labels = tuple(next(_fresh_labels) for _ in arr.shape)
        return cls._from_terms(arr.shape, arr.shape, [_Term(((arr, labels),), labels, labels)], arr.dtype)

    @classmethod
    def zeros(cls, out_shape, in_shape, dtype=np.float64) -> "Jacobian":
        """The zero map ``T_in -> T_out`` (no terms, nothing stored)."""
        return cls._from_terms(out_shape, in_shape, (), dtype)

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
        labs = term.factors[0][1]
        free = term.out_labels + term.in_labels
        return len(set(free)) == len(free) == len(labs) and set(labs) == set(free)

    # -- materialising -------------------------------------------------------------------

    def dense(self, budget: int | None = None) -> np.ndarray:
        """The Jacobian as a numpy array of shape ``out_shape + in_shape``.

        Raises ``MemoryError`` (naming the shape and bytes) if the array would exceed
        ``budget`` bytes (default: :func:`get_dense_budget`, 1 GiB unless changed).
        """
        _check_budget(self.shape, self.dtype, budget)
        if len(self._terms) == 1:
            # One term: its contraction is the result (no zero-filled array and extra pass),
            # copied when it is a stored factor or a view of one, so the caller owns it.
            term = self._terms[0]
            sizes = _label_sizes(term, self.out_shape, self.in_shape)
            part = _einsum(term.factors, term.out_labels + term.in_labels, sizes, self.dtype)
            if not part.flags.c_contiguous or not part.flags.writeable or any(
                np.may_share_memory(part, arr) for arr, _ in term.factors
            ):
                part = np.array(part, dtype=self.dtype, order="C", copy=True)
            return part.reshape(self.shape)
        result = np.zeros(self.shape, dtype=self.dtype)
        for term in self._terms:
            sizes = _label_sizes(term, self.out_shape, self.in_shape)
            result += _einsum(term.factors, term.out_labels + term.in_labels, sizes, self.dtype)
        return result

    def matrix(self, budget: int | None = None) -> np.ndarray:
        """The ``(prod(out_shape), prod(in_shape))`` matrix view (row-major ``vec``)."""
        return self.dense(budget).reshape(math.prod(self.out_shape), math.prod(self.in_shape))

    def __array__(self, dtype=None, copy=None):
        arr = self.dense()
        return arr if dtype is None else arr.astype(dtype)

    # -- algebra -------------------------------------------------------------------------

    def transpose(self) -> "Jacobian":
        """The adjoint map ``T_l -> T_n``: shape ``in_shape + out_shape``."""
        terms = [_Term(t.factors, t.in_labels, t.out_labels) for t in self._terms]
        return Jacobian._from_terms(self.in_shape, self.out_shape, terms, self.dtype)

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
        terms = _merge_terms(list(self._terms) + list(other._terms))
        return Jacobian._from_terms(self.out_shape, self.in_shape, terms, np.result_type(self.dtype, other.dtype))

    def __mul__(self, scalar):
        if isinstance(scalar, Jacobian) or np.ndim(scalar) != 0:
            return NotImplemented
        # A Python or numpy scalar is "weak" (as in numpy): the Jacobian keeps its dtype.
        factor = np.asarray(as_finite_float_array(scalar, "scalar"), dtype=self.dtype)
        terms = [t._replace(factors=t.factors + ((factor, ()),)) for t in self._terms]
        terms = [_compact(t, _label_sizes(t, self.out_shape, self.in_shape), self.dtype) for t in terms]
        return Jacobian._from_terms(self.out_shape, self.in_shape, _merge_terms(terms), self.dtype)

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Jacobian):
            return NotImplemented
        return self + (-other)

    def __matmul__(self, other):
        from .contract import contract

        return contract(self, other)

    def __rmatmul__(self, other):
        from .contract import contract

        return contract(other, self)

    def __repr__(self) -> str:
        letters = {}
        sym = lambda lab: letters.setdefault(lab, string.ascii_letters[len(letters) % 52])  # noqa: E731
        parts = []
        for term in self._terms:
            out = "".join(sym(lab) for lab in term.out_labels)
            inn = "".join(sym(lab) for lab in term.in_labels)
            facs = ",".join("".join(sym(lab) for lab in labs) for _, labs in term.factors)
            parts.append(f"{facs}->{out}|{inn}")
            letters.clear()
        structure = " + ".join(parts) if parts else "0"
        return (
            f"Jacobian(out_shape={self.out_shape}, in_shape={self.in_shape}, dtype={self.dtype}, "
            f"structure={structure!r}, stored_bytes={self.nbytes})"
        )
