"""Labelled-factor terms: the representation under every Jacobian (and, later, Hessian).

A *term* is a product of small factor arrays whose axes carry integer labels, together with
*label groups*: one tuple of labels per group of axes of the tensor the term stands for.  A
Jacobian's terms have two groups (output axes, input axes); a Hessian's have three (output,
input, input).  A label shared by two groups is a Kronecker delta between those axes; a group
label that no factor carries is a constant (all-ones) axis; a factor label in no group is
summed over.  So

    d(X @ W)/dW [a, b, i, j] = X[a, i] * delta[b, j]

is one term with the single factor ``X`` labelled ``(a, i)`` and the groups ``(a, b)``,
``(i, b)``: nothing of size ``N*k*d*k`` is ever stored.  A dense array is the one-term,
one-factor, all-labels-distinct case.  Numbers are produced by one contraction over the
factors (:func:`einsum`), planned by :mod:`tensorjac._plans`.

**The invariant of a term**, stated once here and verified by :func:`check` (the type built on
terms, e.g. ``Jacobian``, runs it from ``check_invariants()`` and, with the debug switch on, on
every construction):

1. *Labels are local to a term.*  A label means something only inside its term; two terms (of
   one tensor or of two) may use the same numbers for unrelated axes, so every operation that
   puts the factors of two terms together renames one of them apart first (:func:`product`).
2. *Groups.*  There is one group per axis group of the tensor, and group ``g`` has exactly
   ``len(shape_g)`` labels, all distinct.  A label may appear in several groups (a delta).
3. *One size per label.*  A label has the same size on every factor axis and every group axis
   it labels, and the sizes of a group's labels are the tensor's shape for that group.
4. *Factors.*  Each factor is a numpy ndarray with one distinct label per axis (no repeated
   label: a diagonal inside a factor is written with a group delta instead), of exactly the
   tensor's dtype (float32 or float64), and read-only: a stored factor never changes after
   construction (the arrays a tensor is built from are kept, not copied, and made read-only).
   Or it is an index factor (:mod:`tensorjac._index_factors`: ``Gather``, ``Reshape``), a 0/1
   tensor stored as an index map, with distinct labels too, no dtype, and a read-only index.
5. *Sums are carried.*  A label exists only in a group or on a factor, so an axis that is
   summed is always carried by a factor.  When a contraction sums an axis that no factor
   carries (a sum after a broadcast), :func:`product` folds the axis's size into a scalar
   factor instead of keeping a label with nothing to carry it.

Axis order is free: a factor's axes may come in any order.  Compaction (:func:`compact`)
writes a merged factor's axes in group order, so that materialising reads memory in order;
transposing a tensor swaps its groups and keeps the factors as they are.

Set the environment variable ``TENSORJAC_CHECK_INVARIANTS=1`` (or call
:func:`set_invariant_checks`) to check every term of every tensor as it is constructed.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
from typing import NamedTuple

import numpy as np
import opt_einsum as oe

from . import _plans
from ._index_factors import Gather, IndexFactor, Reshape, eliminate, finish, is_index  # noqa: F401 (re-exported)

__all__ = [
    "Term",
    "InvariantError",
    "fresh_labels",
    "label_sizes",
    "einsum",
    "compact",
    "merge",
    "product",
    "check",
    "parse_spec",
    "build",
    "freeze",
    "set_invariant_checks",
    "invariant_checks",
]

Labels = tuple[int, ...]

_counter = itertools.count()


def fresh_labels(n: int) -> Labels:
    """``n`` labels never used before (labels are plain ints from one counter)."""
    return tuple(itertools.islice(_counter, n))


fresh_label = _counter.__next__  # one new label


class InvariantError(RuntimeError):
    """A term breaks the written invariant: a bug in tensorjac (or in code that built terms by hand)."""


CHECK_ALL = os.environ.get("TENSORJAC_CHECK_INVARIANTS", "") not in ("", "0")


def set_invariant_checks(enabled: bool) -> bool:
    """Turn the check of every constructed tensor on or off; return the previous setting."""
    global CHECK_ALL
    old, CHECK_ALL = CHECK_ALL, bool(enabled)
    return old


def invariant_checks() -> bool:
    """Whether every construction is checked (``TENSORJAC_CHECK_INVARIANTS``)."""
    return CHECK_ALL


def freeze(arr: np.ndarray) -> np.ndarray:
    """Mark an array as read-only and return it."""
    arr.setflags(write=False)
    return arr


class Term(NamedTuple):
    """One product of labelled factors with its label groups (see the module docstring)."""

    factors: tuple[tuple[np.ndarray, Labels], ...]
    groups: tuple[Labels, ...]

    def relabel(self, mapping: dict[int, int]) -> "Term":
        get = mapping.get
        return Term(
            tuple((arr, tuple(get(lab, lab) for lab in labs)) for arr, labs in self.factors),
            tuple(tuple(get(lab, lab) for lab in group) for group in self.groups),
        )

    def labels(self) -> set[int]:
        found = set()
        for group in self.groups:
            found.update(group)
        for _, labs in self.factors:
            found.update(labs)
        return found

    def free(self) -> Labels:
        """The group labels, concatenated in group order (repeats included)."""
        return sum(self.groups, ())


_tuple_new = tuple.__new__


def make_term(factors, groups) -> Term:
    """``Term(factors, groups)`` without the namedtuple's Python-level constructor (a hot path)."""
    return _tuple_new(Term, (factors, groups))


_LETTERS_ONLY = re.compile(r"^[A-Za-z]*$")


@functools.lru_cache(maxsize=4096)
def parse_spec(spec, shapes, sizes, groups: int = 2):
    """The template of a spec ``"factors->group|group|..."`` for factors of these shapes.

    Returns ``(number of labels, label positions of each factor, label positions of each
    group, the shape of each group)``, cached (rules build the same structure at every call).
    ``groups`` is how many groups the spec must have (two for a Jacobian: ``out|in``).
    """
    example = "'ai->ab|ib'" if groups == 2 else "'a->a|a|a'"
    what = "Jacobian spec" if groups == 2 else "spec"
    if not isinstance(spec, str) or "->" not in spec:
        raise ValueError(f"bad {what} {spec!r}: expected 'factor,letters->{'|'.join(['group'] * groups)}', e.g. {example}")
    factor_part, group_part = (re.sub(r"\s", "", part) for part in spec.split("->", 1))
    group_subs = group_part.split("|")
    factor_subs = factor_part.split(",") if (factor_part or shapes) else []
    if len(group_subs) != groups or not all(_LETTERS_ONLY.match(p) for p in group_subs + factor_subs):
        raise ValueError(f"bad {what} {spec!r}: expected letters as 'factor,letters->{'|'.join(['group'] * groups)}', "
                         f"e.g. {example}")
    # "" is no factor, or one 0-d factor: the number of factors given decides.
    if len(factor_subs) != len(shapes):
        raise ValueError(f"spec {spec!r} names {len(factor_subs)} factor(s) but {len(shapes)} were given")
    names = ("output", "input") if groups == 2 else tuple(f"group {g}" for g in range(groups))
    for part, what in zip(group_subs, names):
        if len(set(part)) != len(part):
            raise ValueError(f"spec {spec!r} repeats a letter among the {what} letters {part!r}")
    letter_sizes = dict(sizes)
    for pos, (sub, shape) in enumerate(zip(factor_subs, shapes)):
        if len(shape) != len(sub) or len(set(sub)) != len(sub):
            raise ValueError(
                f"factor {pos} of spec {spec!r} has shape {shape} but letters {sub!r} "
                "(one distinct letter per axis is required)"
            )
        for letter, size in zip(sub, shape):
            if letter_sizes.setdefault(letter, size) != size:
                raise ValueError(
                    f"letter {letter!r} of spec {spec!r} has size {letter_sizes[letter]} and {size} "
                    f"(factor {pos} has shape {shape})"
                )
    missing = [c for c in "".join(group_subs) if c not in letter_sizes]
    if missing:
        raise ValueError(f"spec {spec!r}: give the sizes of letters {missing} with sizes={{...}}")
    index = {c: k for k, c in enumerate(letter_sizes)}
    return (
        len(index),
        tuple(tuple(index[c] for c in sub) for sub in factor_subs),
        tuple(tuple(index[c] for c in sub) for sub in group_subs),
        tuple(tuple(letter_sizes[c] for c in sub) for sub in group_subs),
    )


def build(template, arrays, dtype) -> Term:
    """The term of a parsed spec (:func:`parse_spec`) with these factors, with fresh labels.

    Float factors are kept as read-only views in ``dtype`` (the arrays given keep their own
    flags); index factors as they are.
    """
    n, factor_idx, group_idx, _ = template
    labels = fresh_labels(n)
    factors = []
    for arr, idx in zip(arrays, factor_idx):
        if not isinstance(arr, IndexFactor):
            arr = freeze(arr.view() if arr.dtype == dtype else arr.astype(dtype))
        factors.append((arr, tuple(labels[k] for k in idx)))
    return make_term(tuple(factors), tuple(tuple(labels[k] for k in idx) for idx in group_idx))


def label_sizes(term: Term, shapes) -> dict[int, int]:
    """The size of every label of ``term``, for a tensor with these group shapes."""
    sizes = {}
    for group, shape in zip(term.groups, shapes):
        sizes.update(zip(group, shape))
    for arr, labs in term.factors:
        sizes.update(zip(labs, arr.shape))
    return sizes


# The symbol of the i-th distinct label in an equation (opt_einsum's alphabet).
_SYMBOLS = tuple(oe.get_symbol(i) for i in range(512))


def symbol(i: int) -> str:
    return _SYMBOLS[i] if i < len(_SYMBOLS) else oe.get_symbol(i)


def einsum(factors, output: Labels, sizes: dict[int, int], dtype) -> np.ndarray:
    """Contract labelled factors into an array indexed by ``output``.

    ``output`` may repeat a label (a delta: an identity factor is added) and may name labels
    that no factor carries (constant axes: the result is broadcast along them).  Index factors
    (:mod:`tensorjac._index_factors`) are eliminated first: gathered, scattered or reshaped
    into the dense ones.  The contraction is planned once per (equation, shapes) and the plan is
    reused (:func:`tensorjac._plans.plan`).  During a dry run (``tensorjac.chain_cost``) nothing
    is computed: the planned cost is recorded and a zero-memory placeholder is returned.  The
    result is a new array (or a read-only placeholder), never one of the factors.
    """
    record = _plans.active_record()
    final = output
    out = output
    if len(set(output)) != len(output):  # a delta between two output axes: an identity factor
        factors, sizes, out, seen = list(factors), dict(sizes), [], set()
        for lab in output:
            if lab in seen:
                twin = fresh_label()
                sizes[twin] = sizes[lab]
                factors.append((np.eye(sizes[lab], dtype=dtype), (lab, twin)))
                out.append(twin)
            else:
                out.append(lab)
                seen.add(lab)
    post = ()
    if any(isinstance(arr, IndexFactor) for arr, _ in factors):
        factors, out, post = eliminate(factors, out, dtype, dry=record is not None)
        if record is not None:
            record.add(sum(arr.size for arr, _ in factors), 0, "gather/reshape of index factors")
    symbols: dict[int, str] = {}
    subscripts = []
    for _, labs in factors:
        sub = ""
        for lab in labs:
            sym = symbols.get(lab)
            if sym is None:
                sym = symbols[lab] = symbol(len(symbols))
            sub += sym
        subscripts.append(sub)
    present = [lab for lab in out if lab in symbols]
    if subscripts:
        eq = ",".join(subscripts) + "->" + "".join(symbols[lab] for lab in present)
        planned = _plans.plan(eq, tuple(arr.shape for arr, _ in factors))
        if record is not None:
            record.add(planned.flops, planned.largest, f"{eq}  {' '.join(str(arr.shape) for arr, _ in factors)}")
            return _plans.placeholder([sizes[lab] for lab in final], dtype)
        result = planned(*(arr for arr, _ in factors))
        if type(result) is not np.ndarray or result.dtype != dtype:  # a 0-d product is a numpy scalar
            result = np.asarray(result, dtype=dtype)
    else:
        if record is not None:
            return _plans.placeholder([sizes[lab] for lab in final], dtype)
        result = np.ones((), dtype=dtype)
    if len(present) < len(out):  # broadcast along the constant axes
        shape = [sizes[lab] if lab in symbols else 1 for lab in out]
        result = np.broadcast_to(result.reshape(shape), [sizes[lab] for lab in out]).copy()
    return finish(result, post) if post else result


def compact(term: Term, sizes: dict[int, int], dtype) -> Term:
    """Pre-contract a term's factors into one factor when that factor is no bigger than them.

    This is what keeps chains cheap: a diagonal times a diagonal becomes one diagonal, and a
    dense cotangent pushed through a structured Jacobian becomes one dense array (one
    backpropagation step).  Factors whose free part would be larger than the factors
    themselves (the delta of d(XW)/dW, say) are left alone.  The merged factor's axes follow
    the group order, so that materialising and later contractions read it in memory order.
    """
    factors = term.factors
    if not factors:
        return term
    free = term.free()
    if len(factors) == 1 and all(lab in free for lab in factors[0][1]):
        return term  # one factor and nothing to sum: already compact
    carried, factor_size = set(), 0
    for arr, labs in factors:
        factor_size += arr.size
        carried.update(labs)
    keep, seen = [], set()
    for lab in free:
        if lab in carried and lab not in seen:
            seen.add(lab)
            keep.append(lab)
    if math.prod(sizes[lab] for lab in keep) > max(factor_size, 1):
        return term
    keep = tuple(keep)
    merged = freeze(einsum(factors, keep, sizes, dtype))
    return Term(((merged, keep),), term.groups)


def merge(terms: list[Term]) -> list[Term]:
    """Add up single-factor terms that have the same structure (after canonical relabelling)."""
    if len(terms) <= 1:
        return list(terms)
    record = _plans.active_record()
    merged: dict[tuple, int] = {}
    result: list[Term] = []
    for term in terms:
        if len(term.factors) != 1 or isinstance(term.factors[0][0], IndexFactor):
            result.append(term)
            continue
        arr, labs = term.factors[0]
        canon = {}
        for lab in term.free() + labs:
            canon.setdefault(lab, len(canon))
        order = sorted(range(len(labs)), key=lambda ax: canon[labs[ax]])
        arr = np.transpose(arr, order)
        labs = tuple(labs[ax] for ax in order)
        key = (
            tuple(tuple(canon[lab] for lab in group) for group in term.groups),
            tuple(canon[lab] for lab in labs),
            arr.shape,
        )
        if key in merged:
            pos = merged[key]
            prev_arr, prev_labs = result[pos].factors[0]
            if record is not None:  # dry run: count the addition, keep the placeholder
                record.add(arr.size, arr.size, f"add {arr.shape}")
                continue
            result[pos] = result[pos]._replace(factors=((freeze(np.asarray(prev_arr + arr)), prev_labs),))
        else:
            merged[key] = len(result)
            result.append(term._replace(factors=((arr, labs),)))
    return result


def scalar(value, dtype) -> tuple[np.ndarray, Labels]:
    """A 0-d factor (a read-only scalar of ``dtype``)."""
    return freeze(np.asarray(value, dtype=dtype).copy()), ()


def scaled(terms, value, shapes, dtype) -> list[Term]:
    """The terms of a tensor with these group shapes, times a scalar (each term pre-contracted)."""
    factor = scalar(value, dtype)
    terms = [Term(t.factors + (factor,), t.groups) for t in terms]
    return merge([compact(t, label_sizes(t, shapes), dtype) for t in terms])


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def spec(term: Term) -> str:
    """The einsum-like structure of a term, its labels as letters: ``'ac->ab|cb'``.

    Factors before the arrow, the label groups (output | input | ...) after it; a letter of a
    group that no factor carries is a constant axis, one in two groups a delta.
    """
    letters: dict = {}
    sym = lambda lab: letters.setdefault(lab, _LETTERS[len(letters) % len(_LETTERS)])  # noqa: E731
    groups = "|".join("".join(sym(lab) for lab in group) for group in term.groups)  # lettered first
    return ",".join("".join(sym(lab) for lab in labs) for _, labs in term.factors) + "->" + groups


def structure(terms) -> str:
    """The specs of a sum of terms, ``' + '``-joined (``'0'`` for none)."""
    return " + ".join(spec(t) for t in terms) or "0"


def product(A: Term, a: int, B: Term, b: int, link_shape, dtype) -> Term:
    """The contraction of group ``a`` of ``A`` with group ``b`` of ``B`` (same shape ``link_shape``).

    ``B`` is renamed apart, its group ``b`` identified with ``A``'s group ``a``, and the result
    has ``A``'s groups with group ``a`` replaced by ``B``'s other groups, in order.  For
    Jacobians, ``product(F, 1, G, 0)`` is the chain rule ``c(DF, DG)``: groups (F.out, G.in).
    Factors are cast to ``dtype`` (a no-op when they have it).
    """
    rename = {lab: fresh_label() for lab in B.labels()}
    for b_lab, a_lab in zip(B.groups[b], A.groups[a]):
        rename[b_lab] = a_lab
    B = B.relabel(rename)
    groups = A.groups[:a] + B.groups[:b] + B.groups[b + 1:] + A.groups[a + 1:]
    factors = A.factors + B.factors
    if any(arr.dtype is not None and arr.dtype != dtype for arr, _ in factors):
        factors = tuple(
            (freeze(arr.astype(dtype)) if arr.dtype is not None and arr.dtype != dtype else arr, labs)
            for arr, labs in factors
        )
    # A summed label that no factor carries (e.g. sum after broadcast) contributes its size.
    carried = {lab for _, labs in factors for lab in labs}
    free = set()
    for group in groups:
        free.update(group)
    scale = math.prod(size for lab, size in zip(A.groups[a], link_shape) if lab not in free and lab not in carried)
    if scale != 1:
        factors = factors + (scalar(scale, dtype),)
    return Term(factors, groups)


def pull_elementwise(u, term: Term):
    """``c(u, term)`` without a contraction plan for the commonest term of a backward pass: at most
    one factor carrying exactly the output labels (a diagonal, a broadcast), input labels among
    them in order.  Returns None when the term is not of that kind."""
    out_labels, in_labels = term.groups
    if len(term.factors) > 1:
        return None
    if term.factors:
        arr, labs = term.factors[0]
        if labs != out_labels or type(arr) is not np.ndarray:
            return None
    axes, k = [], 0
    for ax, lab in enumerate(out_labels):
        if k < len(in_labels) and in_labels[k] == lab:
            k += 1
        else:
            axes.append(ax)
    if k != len(in_labels):
        return None
    prod = u * term.factors[0][0] if term.factors else u
    return prod.sum(axis=tuple(axes)) if axes else prod



def check(term: Term, shapes, dtype, where: str = "term") -> None:
    """Raise :class:`InvariantError` naming the broken rule if ``term`` breaks the invariant.

    ``shapes`` are the tensor's group shapes and ``dtype`` its dtype (see the module docstring
    for the rules; rule 1 is a convention for the code that combines terms, and rule 5 holds by
    construction, so rules 2-4 are what can be checked).
    """

    def fail(message):
        raise InvariantError(f"{where}: {message} (groups {term.groups}, factor labels "
                             f"{[labs for _, labs in term.factors]})")

    if not isinstance(term, Term):
        fail(f"is a {type(term).__name__}, not a Term")
    if len(term.groups) != len(shapes):
        fail(f"has {len(term.groups)} label groups for a tensor with {len(shapes)} axis groups")
    sizes: dict[int, int] = {}

    def size_of(lab, size, what):
        if not isinstance(lab, (int, np.integer)) or isinstance(lab, bool):
            fail(f"label {lab!r} of {what} is not an int")
        known = sizes.setdefault(lab, size)
        if known != size:
            fail(f"label {lab} has size {known} and {size} ({what}) [rule 3]")

    for g, (group, shape) in enumerate(zip(term.groups, shapes)):
        if len(group) != len(shape):
            fail(f"group {g} has {len(group)} labels for {len(shape)} axes {tuple(shape)} [rule 2]")
        if len(set(group)) != len(group):
            fail(f"group {g} repeats a label [rule 2]")
        for lab, size in zip(group, shape):
            size_of(lab, size, f"group {g}")
    for k, factor in enumerate(term.factors):
        if not (isinstance(factor, tuple) and len(factor) == 2):
            fail(f"factor {k} is not an (array, labels) pair")
        arr, labs = factor
        index = isinstance(arr, IndexFactor)
        if type(arr) is not np.ndarray and not index:
            fail(f"factor {k} is a {type(arr).__name__}, not a numpy array or an index factor [rule 4]")
        if arr.ndim != len(labs):
            fail(f"factor {k} has shape {arr.shape} but {len(labs)} labels [rule 4]")
        if len(set(labs)) != len(labs):
            fail(f"factor {k} repeats a label [rule 4]")
        if not index and arr.dtype != dtype:
            fail(f"factor {k} has dtype {arr.dtype}, the tensor has {np.dtype(dtype)} [rule 4]")
        stored = arr.index if isinstance(arr, Gather) else None if isinstance(arr, Reshape) else arr
        if stored is not None and stored.flags.writeable:
            fail(f"factor {k} is writeable: stored factors must be read-only [rule 4]")
        for lab, size in zip(labs, arr.shape):
            size_of(lab, size, f"factor {k}")
