"""``np.einsum(subscripts, *operands)``: the Jacobian with respect to one operand stores the others.

The subscripts are a static option (a custom ``bind``: ``np.einsum("ij,jk->ik", A, B)`` binds
to the operands ``(A, B)`` and ``subscripts="ij,jk->ik"``; the interleaved form
``np.einsum(A, [0, 1], B, [1, 2], [0, 2])`` is converted to subscripts as numpy does).  Both
explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``: the letters seen once, sorted, after the
ellipsis axes) outputs are supported, ``'...'`` broadcasting, size-1 axes broadcast against a
letter's size, and repeated letters inside one operand:

* the Jacobian with respect to operand ``k`` is :func:`~tensorjac.rules._structure.linear` in
  einsum letters: the output letters it shares are deltas, its letters absent from the output
  and from the other operands are constant axes (a sum), and the factors are the *other*
  operands, unchanged (a repeated letter inside one of them becomes its diagonal, a view, and
  a size-1 broadcast axis is squeezed);
* a letter repeated inside operand ``k`` (``'ii->i'``, ``'ii->'``, ``'iij->j'``) reads a
  diagonal: its first axis keeps the letter and every repeat gets a letter of its own tied to
  it by an identity ``Gather`` (O(n) integers; ``diagonal_selector``).

Second derivatives (:func:`einsum_second`): einsum is linear in each operand, so ``d²/d op_i²``
is zero; ``d²/d op_i d op_j`` (``i != j``) stores only the other operands (nothing for two
operands), with the letters of ``op_i`` and ``op_j`` as the two input groups (a repeated letter
inside either is tied by the same identity ``Gather``).

``optimize=`` is accepted (it does not change the result); ``out=``, ``dtype=``, ``order=`` and
``casting=`` are refused.
"""

from __future__ import annotations

import string

import numpy as np

from .._hessian import second_structured
from .._jacobian import structured
from ._examples import normal
from ._linalg import diagonal_selector
from ._registry import define
from ._structure import LETTERS

__all__ = ["einsum", "parse_subscripts", "einsum_examples", "einsum_second"]

# numpy's interleaved form numbers the letters A-Z, then a-z.
_SUBLIST_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def einsum(*operands, subscripts, optimize=False):
    """``np.einsum(subscripts, *operands)``: the rule's calling convention (subscripts as an option).

    >>> einsum(np.ones((2, 3)), np.ones(3), subscripts="ij,j->i")
    array([3., 3.])
    """
    result = np.einsum(subscripts, *operands, optimize=optimize)
    if isinstance(result, np.ndarray) and any(np.may_share_memory(result, op) for op in operands):
        # 'ii->i' is a view of its operand: the value must not change with the operand
        result = result.copy()
    return result


def _sublist(items, where):
    letters = ""
    for item in items:
        if item is Ellipsis:
            letters += "..."
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < 52:
            letters += _SUBLIST_LETTERS[int(item)]
        else:
            raise ValueError(f"einsum: {where} must hold ints in [0, 52) or Ellipsis, got {item!r}")
    return letters


def _bind(*args, **kwargs):
    """``np.einsum`` call -> ``(operands, {"subscripts": ..., "optimize": ...})``."""
    unsupported = [k for k in kwargs if k != "optimize"]
    if unsupported:
        raise TypeError(f"tensorjac's rule 'einsum' does not support the option(s) {unsupported}; it supports "
                        "['optimize'] (the subscripts are the first argument)")
    if not args:
        raise TypeError("einsum needs subscripts and at least one operand")
    if isinstance(args[0], str):
        return tuple(args[1:]), {"subscripts": args[0], **kwargs}
    operands, sublists = args[0::2], args[1::2]
    output = None
    if len(args) % 2:  # a trailing output sublist
        operands, output = operands[:-1], args[-1]
    subs = ",".join(_sublist(s, f"the sublist of operand {i}") for i, s in enumerate(sublists))
    if output is not None:
        subs += "->" + _sublist(output, "the output sublist")
    return tuple(operands), {"subscripts": subs, **kwargs}


def parse_subscripts(subscripts, shapes):
    """``(operand letters, output letters)`` of einsum ``subscripts`` with ellipses and implicit output resolved.

    The axes an ellipsis covers get unused letters, aligned to the right as numpy broadcasts.

    >>> parse_subscripts("...ij,jk", [(5, 2, 3), (3, 4)])
    (['aij', 'jk'], 'aik')
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    text = subscripts.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), {len(shapes)} given")
    bad = set(text) - set(LETTERS) - set(",.->")
    if bad or "->" in rhs or any(t.replace("...", "", 1).count(".") for t in terms + [rhs]):
        raise ValueError(f"einsum: invalid subscripts {subscripts!r}")
    covered = []
    for pos, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        extra = len(shape) - named
        if extra < 0 or ("..." not in term and extra):
            raise ValueError(f"einsum: operand {pos} has {len(shape)} axes but subscripts {term!r}")
        covered.append(extra if "..." in term else 0)
    unused = [c for c in LETTERS if c not in text]
    ellipsis = "".join(unused[: max(covered, default=0)])
    ins = [t.replace("...", ellipsis[len(ellipsis) - n:] if n else "") for t, n in zip(terms, covered)]
    if arrow:
        if "..." not in rhs and any(covered):
            raise ValueError(f"einsum: {subscripts!r} broadcasts '...' axes but its output has no '...'")
        out = rhs.replace("...", ellipsis)
    else:
        letters = "".join(t.replace("...", "") for t in terms)
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ins, out


def _sizes(subscripts, operands, ans):
    """``(operand letters, output letters, size of every letter)`` of an einsum call."""
    ins, out = parse_subscripts(subscripts, [op.shape for op in operands])
    sizes = {}
    for op, letters in zip(operands, ins):
        for c, n in zip(letters, op.shape):
            if sizes.get(c, 1) == 1:  # a size-1 axis broadcasts against the letter's other size
                sizes[c] = n
    if tuple(sizes[c] for c in out) != ans.shape:
        raise ValueError(f"einsum: could not resolve the output of {subscripts!r} (got {out!r} for shape {ans.shape})")
    return ins, out, sizes


def _operand_group(x, mine, sizes, spare, factors):
    """The group letters of a differentiated operand (axes ``mine``): a broadcast size-1 axis gets a
    constant letter of its own; a repeated letter reads a diagonal, tied to its first axis by an
    identity ``Gather`` appended to ``factors``."""
    group, seen = "", set()
    for c, n in zip(mine, x.shape):
        if n == 1 and sizes[c] != 1:  # broadcast: a constant axis of its own
            letter = next(spare)
            sizes[letter] = 1
        elif c in seen:  # a repeated letter reads a diagonal: tie this axis to the first by an identity
            letter = next(spare)
            sizes[letter] = n
            factors += diagonal_selector(n, n, 0, c, letter) or []  # n == 0: nothing to tie
        else:
            letter = c
            seen.add(c)
        group += letter
    return group


def einsum_jac(ans, *operands, argnum, subscripts, optimize=False):
    ins, out, sizes = _sizes(subscripts, operands, ans)
    spare = iter(c for c in LETTERS if c not in sizes)
    factors = []
    in_letters = _operand_group(operands[argnum], ins[argnum], sizes, spare, factors)
    for j, (op, letters) in enumerate(zip(operands, ins)):
        if j != argnum:
            factors.append(_factor(op, letters, sizes))
    arrays, subs = zip(*factors) if factors else ((), ())
    needed = {c: sizes[c] for c in out + in_letters}
    return structured(f"{','.join(subs)}->{out}|{in_letters}", *arrays, sizes=needed, dtype=ans.dtype)


def einsum_second(i, j):
    """The maker of ``d² einsum / d op_i d op_j`` (None when it is zero).

    einsum is linear in each operand (a repeated letter inside one operand reads its diagonal,
    a linear map), so the block is zero for ``i == j`` -- the same array passed twice is two
    operands, whose cross blocks the chain rule adds up.  For ``i != j`` it is the einsum of the
    other operands with the letters of ``op_i`` and ``op_j`` as the two input groups: shared
    letters are deltas, and only the other operands (and O(n) integers for a repeated letter)
    are stored.

    >>> A, x, y = np.ones((2, 3)), np.ones(3), np.ones(4)
    >>> ans = einsum(A, x, y, subscripts="ij,j,k->ik")
    >>> H = einsum_second(1, 2)(ans, A, x, y, subscripts="ij,j,k->ik")
    >>> H.shape, H.nbytes == A.nbytes, einsum_second(0, 0)
    ((2, 4, 3, 4), True, None)
    """
    if i == j:
        return None

    def maker(ans, *operands, subscripts, optimize=False):
        ins, out, sizes = _sizes(subscripts, operands, ans)
        spare = iter(c for c in LETTERS if c not in sizes)
        factors = []
        group_i = _operand_group(operands[i], ins[i], sizes, spare, factors)
        group_j = _operand_group(operands[j], ins[j], sizes, spare, factors)
        for k, (op, letters) in enumerate(zip(operands, ins)):
            if k not in (i, j):
                factors.append(_factor(op, letters, sizes))
        arrays, subs = zip(*factors) if factors else ((), ())
        needed = {c: sizes[c] for c in out + group_i + group_j}
        return second_structured(f"{','.join(subs)}->{out}|{group_i}|{group_j}", *arrays, sizes=needed,
                                 dtype=ans.dtype)

    maker.__name__ = f"einsum_second_{i}_{j}"
    return maker


def _factor(op, letters, sizes):
    """Another operand as a factor: broadcast size-1 axes squeezed, repeated letters to their diagonal."""
    keep = [ax for ax, (c, n) in enumerate(zip(letters, op.shape)) if not (n == 1 and sizes[c] != 1)]
    op = op.reshape([op.shape[ax] for ax in keep])
    letters = "".join(letters[ax] for ax in keep)
    unique = "".join(dict.fromkeys(letters))
    if unique != letters:
        op = np.einsum(f"{letters}->{unique}", op)
    return op, unique


def einsum_examples(rng):
    """Every example of the einsum rule, one operand or several (see the note at the registration)."""
    n = lambda *shape: normal(rng, *shape)  # noqa: E731
    return [
        ((n(3, 3),), {"subscripts": "ii->i"}), ((n(3, 3),), {"subscripts": "ii"}),
        ((n(2, 2, 3),), {"subscripts": "iij->j"}), ((n(3),), {"subscripts": "i->"}),
        ((n(3, 4),), {"subscripts": "i...->..."}), ((n(2, 3),), {"subscripts": "ij->ji"}),
        ((n(2, 3, 3),), {"subscripts": "...jj->...j"}), ((n(),), {"subscripts": ""}),
        ((n(1, 3),), {"subscripts": "ij"}),
        ((n(0, 3),), {"subscripts": "ij->j"}),
        ((n(2, 3), n(3, 4)), {"subscripts": "ij,jk->ik"}), ((n(2, 3), n(3, 4)), {"subscripts": "ij,jk"}),
        ((n(2, 3), n(4, 3)), {"subscripts": "ai,bi->ba"}), ((n(2, 3), n(3, 3)), {"subscripts": "ij,jj->i"}),
        ((n(2, 3, 4), n(4, 2)), {"subscripts": "...ij,...jk->...ik"}),
        ((n(2, 1, 3), n(4, 3)), {"subscripts": "...i,...i"}),
        ((n(2, 3), n(3, 4), n(4, 2)), {"subscripts": "ij,jk,kl->il"}),
        ((n(3), n(3), n(3)), {"subscripts": "i,i,i->"}), ((n(), n(3)), {"subscripts": ",i->i"}),
        ((n(3), n(1)), {"subscripts": "i,i->i"}), ((n(1, 1), n(3)), {"subscripts": "ii,i->i"}),
        ((n(2, 3), n(2, 3)), {"subscripts": "ij,ij->"}), ((n(3), n(2)), {"subscripts": "i,j->ji"}),
        ((n(2, 0), n(0, 3)), {"subscripts": "ij,jk->ik"}),
    ]


def _single_operand_examples(rng):
    return [ex for ex in einsum_examples(rng) if len(ex[0]) == 1]


# The declared examples are the one-operand ones: tensorjac.testing's table (check_jacobian on a
# Rule) expects len(rule.argnames) arguments, which a variadic rule does not have.  The examples
# with several operands are checked by tests/test_rules_reductions.py (finite differences, traced
# calls, float32, JAX).
define("einsum", einsum, einsum_jac, argnames=("operands",), variadic=True, bind=_bind,
       static=("subscripts", "optimize"), functions=(np.einsum,), builtin=True, examples=_single_operand_examples,
       second=einsum_second)
