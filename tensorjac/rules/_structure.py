"""Structure helpers for rules: linear maps written with einsum letters, elementwise maps, broadcasting.

Rules build their Jacobians here through :func:`tensorjac._jacobian.structured` (no copy, no
finiteness pass; the registry makes the arguments and value that the result keeps read-only).
"""

from __future__ import annotations

import string

import numpy as np

from .._jacobian import Jacobian, structured

__all__ = ["LETTERS", "linear", "aligned", "elementwise"]

LETTERS = string.ascii_letters


def linear(out_shape, out_letters, arg_shape, arg_letters, factors=(), dtype=None) -> Jacobian:
    """Jacobian of an output that is linear in one argument, with coefficient the product of ``factors``.

    Letters name axes as in einsum: an argument letter that is also an output letter is a
    delta.  A size-1 argument (or factor) axis whose letter has a larger size elsewhere was
    broadcast: the argument axis gets a letter of its own (so the output axes it was
    broadcast along are summed by any contraction) and the factor axis is squeezed.
    """
    sizes = dict(zip(out_letters, out_shape))
    for shape, letters in [(arg_shape, arg_letters)] + [(np.shape(f), l) for f, l in factors]:
        for size, letter in zip(shape, letters):
            sizes[letter] = max(sizes.get(letter, 1), size)
    spare = iter(c for c in LETTERS if c not in sizes)
    in_letters = ""
    for size, letter in zip(arg_shape, arg_letters):
        if size == 1 and sizes[letter] != 1:
            letter = next(spare)
            sizes[letter] = 1
        in_letters += letter
    arrays, subs = [], []
    for f, letters in factors:
        keep = [ax for ax, letter in enumerate(letters) if not (f.shape[ax] == 1 and sizes[letter] != 1)]
        arrays.append(np.reshape(f, [f.shape[ax] for ax in keep]))
        subs.append("".join(letters[ax] for ax in keep))
    spec = f"{','.join(subs)}->{out_letters}|{in_letters}"
    return structured(spec, *arrays, sizes=sizes, dtype=dtype)


def aligned(ndim, out_letters):
    """Letters of an operand broadcast against ``out_letters`` (numpy aligns trailing axes)."""
    return out_letters[len(out_letters) - ndim:]


def elementwise(ans, x, deriv=None) -> Jacobian:
    """Jacobian of an elementwise map of ``x`` (maybe broadcast to ``ans``) with derivative ``deriv``."""
    out = LETTERS[: ans.ndim]
    factors = [] if deriv is None else [(np.asarray(deriv, dtype=ans.dtype), aligned(np.ndim(deriv), out))]
    return linear(ans.shape, out, x.shape, aligned(x.ndim, out), factors, dtype=ans.dtype)
