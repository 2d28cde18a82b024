"""Note 002's vector-Jacobian products (VJPs), written out and verified with tensorjac.testing.

A VJP rule for ``f(a, b)`` takes the cotangent ``dldf`` (the gradient of some scalar loss
``l`` with respect to ``f``'s output, of ``f``'s output shape) and the arguments, and returns
``dl/da`` and ``dl/db``, each of the shape of its argument:

    dl/da[j] = sum_i dldf[i] * J_a[i, j]          (J_a = d f / d a, tensorjac's layout)

The signature ``rule_vjp(dldf, *args)`` is the one of note 002.

Broadcasting: when numpy broadcasts ``a`` of shape (1, 4) against ``b`` of shape (3, 4), it
uses each entry of ``a`` three times, so ``dl/da`` is the *sum* of the three contributions
(note 002's "broadcast = creating copies; the gradient of a copy is summed").  That is
``unbroadcast``: sum the gradient over the axes the argument was broadcast along, so that it
gets back the argument's true shape, size-1 axes included.

Verify the rules with the checker shipped in tensorjac:

    python -m tensorjac.testing examples.vjp_rules       # the verification table

or, in a test, ``tensorjac.testing.check_vjp(np.matmul, matmul_vjp, A, B)``.  The ``RULES``
list at the bottom tells the command which rules to check, on which example inputs.
"""

from __future__ import annotations

import numpy as np

from tensorjac.testing import RuleCase

# ---- Broadcasting -------------------------------------------------------------------------


def unbroadcast(target, g):
    """Sum ``g`` (shaped like the broadcast result) down to the shape of ``target``.

    numpy aligns shapes on the right: missing leading axes and size-1 axes of ``target`` were
    stretched.  Both are summed, the size-1 axes with ``keepdims`` so that they stay.
    """
    while g.ndim > target.ndim:  # leading axes that target does not have at all
        g = g.sum(axis=0)
    for axis, size in enumerate(target.shape):
        if size == 1 and g.shape[axis] != 1:  # a size-1 axis stretched to g.shape[axis]
            g = g.sum(axis=axis, keepdims=True)
    return g


# ---- Elementwise, two arguments -----------------------------------------------------------


def add_vjp(dldf, a, b):
    """f = a + b: df/da and df/db are identities, so the cotangent passes straight through."""
    return unbroadcast(a, dldf), unbroadcast(b, dldf)


def mul_vjp(dldf, a, b):
    """f = a * b (elementwise): df/da = diag(b), df/db = diag(a)."""
    return unbroadcast(a, dldf * b), unbroadcast(b, dldf * a)


def maximum_vjp(dldf, a, b):
    """f = maximum(a, b): the cotangent goes to the larger argument; ties are split 1/2 - 1/2.

    Convention: tensorjac splits ties evenly (see the docstring of tensorjac.rules._builtin), which is
    the symmetric derivative and what a central finite difference measures:
    (max(a + h, b) - max(a - h, b)) / 2h = 1/2 at a == b.  Note 002's ``maximum_vjp`` instead
    sends the whole cotangent to ``b`` at a tie (``np.where(a > b, 1, 0)`` for a,
    ``np.where(a > b, 0, 1)`` for b).  Both are valid subgradients of a kinked function, but
    only the even split agrees with the reference, so the checker reports note 002's version
    as wrong at the tied entries.  Note 002's version also turns float32 into float64
    (multiplying by an int64 array); casting the masks to ``dldf.dtype`` keeps the dtype.
    """
    a_wins = (a > b).astype(dldf.dtype)
    tie = (a == b).astype(dldf.dtype)
    return unbroadcast(a, dldf * (a_wins + 0.5 * tie)), unbroadcast(b, dldf * (1 - a_wins - 0.5 * tie))


# ---- Matrix products ----------------------------------------------------------------------


def matmul_vjp(dldF, A, B):
    """F = A @ B in the four cases of np.matmul, stacks of matrices included.

    Case 4, matrix @ matrix (A: (..., m, n), B: (..., n, p), F: (..., m, p)); note 002 derives

        dl/dA = dldF @ B^T            dl/dB = A^T @ dldF

    with ^T swapping the last two axes.  Stacks are broadcast like any numpy operands, so the
    results are unbroadcast to the shapes of A and B.

    The other cases reduce to case 4, as numpy does: a 1-D A of shape (n,) is the 1 x n
    matrix A[None, :] (case 3, vector @ matrix), a 1-D B of shape (n,) is the n x 1 matrix
    B[:, None] (case 2, matrix @ vector), and both 1-D is the dot product (case 1, F a
    scalar).  numpy then removes the axis it added from F, so dldF lacks that axis too: put
    it back, apply case 4, and drop the added axis from the gradient again.

    (Note 002's version handles cases 2 and 3 with ``G[:, np.newaxis]``/``G[np.newaxis, :]``,
    which is right only without stacks, and in case 2 it returns dl/dB of shape (1,) instead
    of (n,) because unbroadcast sums the (n, 1) product over its first axis.  The checker
    reports both.)
    """
    A2 = A[np.newaxis, :] if A.ndim == 1 else A  # (..., m, n), m = 1 for a vector A
    B2 = B[:, np.newaxis] if B.ndim == 1 else B  # (..., n, p), p = 1 for a vector B
    G = dldF
    if B.ndim == 1:
        G = G[..., np.newaxis]  # the column axis numpy removed from F: (..., m, 1)
    if A.ndim == 1:
        G = G[..., np.newaxis, :]  # the row axis numpy removed from F: (..., 1, p)
    dA = G @ np.swapaxes(B2, -1, -2)  # (..., m, n)
    dB = np.swapaxes(A2, -1, -2) @ G  # (..., n, p)
    if A.ndim == 1:
        dA = dA[..., 0, :]  # drop the added row axis: (..., n)
    if B.ndim == 1:
        dB = dB[..., :, 0]  # drop the added column axis: (..., n)
    return unbroadcast(A, dA), unbroadcast(B, dB)


# ---- Elementwise, one argument ------------------------------------------------------------


def exp_vjp(dldf, x):
    """f = exp(x): df/dx = diag(exp(x))."""
    return (unbroadcast(x, dldf * np.exp(x)),)


def log_vjp(dldf, x):
    """f = log(x), x > 0: df/dx = diag(1 / x)."""
    return (unbroadcast(x, dldf / x),)


# ---- Reductions ---------------------------------------------------------------------------


def sum_vjp(dldf, x, axis=None, keepdims=False):
    """f = x.sum(axis): every x[j] summed into f[i] gets dldf[i] back.

    Without keepdims the summed axes are missing from dldf: put them back as size-1 axes
    (``np.expand_dims`` accepts a tuple of axes, negative ones included), then broadcast to
    x's shape.  With ``axis=None`` dldf is a scalar and broadcasts as it is.
    """
    if axis is not None and not keepdims:
        dldf = np.expand_dims(dldf, axis)
    return (np.broadcast_to(dldf, x.shape).copy(),)


# ---- What the checker runs ----------------------------------------------------------------
# One RuleCase per rule: the numpy function, the VJP, and example arguments.  The examples are
# cast to float64 and to float32 by the command; every one of them is checked against the
# Jacobian of the registered tensorjac rule for that numpy function (np.add is tensorjac's
# "add", ...), itself verified against finite differences by ``python -m tensorjac.testing``.

_rng = np.random.default_rng(2)


def _n(*shape):
    return _rng.standard_normal(shape)


def _pos(*shape):
    return _rng.uniform(0.1, 3.0, shape)


def _ties():
    a, b = _n(2, 3), _n(2, 3)
    b[0, :] = a[0, :]  # exact ties in the first row
    return a, b


RULES = [
    RuleCase("add", np.add, vjp=add_vjp, examples=[
        (_n(2, 3), _n(2, 3)), (_n(2, 3), _n(3)), (_n(3, 1), _n(1, 4)), (_n(1, 1), _n(2, 2, 3)), (_n(), _n(3)),
    ]),
    RuleCase("mul", np.multiply, vjp=mul_vjp, examples=[
        (_n(2, 3), _n(2, 3)), (_n(2, 3), _n(3)), (_n(3, 1), _n(1, 4)), (_n(2, 1, 3), _n(4, 1)),
    ]),
    RuleCase("matmul", np.matmul, vjp=matmul_vjp, examples=[
        (_n(3), _n(3)),  # case 1: vector @ vector
        (_n(2, 3), _n(3)),  # case 2: matrix @ vector
        (_n(3), _n(3, 2)),  # case 3: vector @ matrix
        (_n(2, 3), _n(3, 4)),  # case 4: matrix @ matrix
        (_n(2, 2, 3), _n(3, 2)),  # a stack of matrices @ a matrix
        (_n(2, 1, 2, 3), _n(3, 3, 1)),  # broadcast stacks, size-1 axes
        (_n(2, 2, 3), _n(3)),  # a stack @ a vector
        (_n(3), _n(2, 3, 2)),  # a vector @ a stack
    ]),
    RuleCase("exp", np.exp, vjp=exp_vjp, examples=[(_n(3),), (_n(2, 1, 3),), (_n(),)]),
    RuleCase("log", np.log, vjp=log_vjp, examples=[(_pos(3),), (_pos(2, 1, 3),)]),
    RuleCase("sum", np.sum, vjp=sum_vjp, examples=[
        (_n(2, 3),),
        ((_n(2, 3),), {"axis": 0}),
        ((_n(2, 3, 2),), {"axis": -1}),
        ((_n(2, 3, 2),), {"axis": (0, 2)}),
        ((_n(2, 3),), {"axis": 1, "keepdims": True}),
        ((_n(1, 3),), {"axis": 0}),
    ]),
    RuleCase("maximum", np.maximum, vjp=maximum_vjp, examples=[
        _ties(), (_n(2, 1), _n(1, 3)), (_n(3), _n(2, 3)),
    ]),
]


if __name__ == "__main__":
    import sys

    from tensorjac.testing import main

    sys.exit(main([__file__]))
