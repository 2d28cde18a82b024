"""Seeded random cases for the tensorjac.testing false-alarm suite (used by test_testing.py).

``builtin_case(i)`` and ``note002_case(i)`` return a description of one random case: which
rule, the arguments (shapes with size-1 axes, broadcasting, stacks; values in the rule's
domain, ties for maximum and relu), options and the check mode.  The same index always
gives the same case.
"""

from __future__ import annotations

import os
import sys
import zlib

import numpy as np

import tensorjac as tj

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from examples import vjp_rules  # noqa: E402

UNARY = ["exp", "log", "sin", "cos", "tanh", "logit", "relu"]
BINARY = ["add", "subtract", "multiply", "divide", "maximum"]
OTHER = ["matmul", "affine", "sum", "softmax", "cross_entropy"]
# The rules above have hand-written random generators; every other built-in rule draws its
# cases from the examples declared beside it (tensorjac.testing.rule_examples), reseeded.
BUILTIN = UNARY + BINARY + OTHER + sorted(
    name for name in tj.rule_names() if tj.get_rule(name).builtin and name not in UNARY + BINARY + OTHER
)


def _shape(rng, max_ndim=3, max_size=4):
    ndim = int(rng.integers(0, max_ndim + 1))
    return tuple(int(rng.choice([1, 1, 2, 3, max_size])) for _ in range(ndim))


def _broadcast_pair(rng, max_ndim=3, max_size=4):
    """Two shapes that broadcast: leading axes dropped and axes set to 1 at random."""
    full = _shape(rng, max_ndim, max_size)
    shapes = []
    for _ in range(2):
        drop = int(rng.integers(0, len(full) + 1)) if rng.random() < 0.4 else 0
        s = [1 if rng.random() < 0.3 else d for d in full[drop:]]
        shapes.append(tuple(s))
    return shapes


def _values(rng, shape, kind):
    if kind == "positive":
        return np.exp(rng.uniform(np.log(0.05), np.log(5.0), shape))
    if kind == "away":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 3.0, shape)
    if kind == "grid":  # values on a grid of 1/2: exact ties and exact zeros
        return rng.integers(-3, 4, shape) / 2.0
    if kind == "ties":  # three values only: about a third of the pairs tie
        return rng.integers(-1, 2, shape) / 2.0
    scale = float(rng.choice([0.3, 1.0, 2.5]))
    return rng.standard_normal(shape) * scale


def _matmul_shapes(rng, max_batch=2):
    m, n, p = (int(rng.integers(1, 4)) for _ in range(3))
    case = int(rng.integers(0, 4))
    batch = tuple(int(rng.integers(1, max_batch + 1)) for _ in range(int(rng.integers(0, 3))))
    batch_b = tuple(1 if rng.random() < 0.3 else d for d in batch[int(rng.integers(0, len(batch) + 1)):])
    if case == 0:
        return (n,), (n,)
    if case == 1:
        return batch + (m, n), (n,)
    if case == 2:
        return (n,), batch_b + (n, p)
    return batch + (m, n), batch_b + (n, p)


def builtin_case(i):
    """A random case for a built-in rule: ``(rule_name, args, kwargs)`` in float64."""
    name = BUILTIN[i % len(BUILTIN)]
    # seeded by the rule and the round, so a rule's cases do not change when rules are added
    rng = np.random.default_rng([zlib.crc32(name.encode()), i // len(BUILTIN)])
    kwargs = {}
    if name in UNARY:
        shape = _shape(rng)
        if name == "log":
            args = (_values(rng, shape, "positive"),)
        elif name == "relu":
            args = (_values(rng, shape, "grid" if rng.random() < 0.5 else "normal"),)
        elif name in ("tanh", "logit"):
            args = (rng.standard_normal(shape) * float(rng.choice([1.0, 3.0, 6.0])),)
        else:
            args = (_values(rng, shape, "normal"),)
    elif name in BINARY:
        s1, s2 = _broadcast_pair(rng)
        if name == "maximum":  # values on a coarse grid: about a third of the pairs tie
            args = (_values(rng, s1, "ties"), _values(rng, s2, "ties"))
        elif name == "divide":
            args = (_values(rng, s1, "normal"), _values(rng, s2, "away"))
        else:
            args = (_values(rng, s1, "normal"), _values(rng, s2, "normal"))
    elif name == "matmul":
        sa, sb = _matmul_shapes(rng)
        args = (_values(rng, sa, "normal"), _values(rng, sb, "normal"))
    elif name == "affine":
        N, d, k = (int(rng.integers(1, 4)) for _ in range(3))
        X = rng.standard_normal((N, d) if rng.random() < 0.7 else (d,))
        args = (X, rng.standard_normal((d, k)), rng.standard_normal(k))
    elif name == "sum":
        shape = _shape(rng)
        kwargs = _sum_kwargs(rng, len(shape))
        args = (_values(rng, shape, "normal"),)
    elif name == "softmax":
        shape = _shape(rng, max_ndim=3)
        shape = shape if shape else (3,)
        kwargs = {"axis": int(rng.integers(-len(shape), len(shape)))}
        args = (rng.standard_normal(shape) * float(rng.choice([1.0, 3.0, 8.0])),)
    elif name == "cross_entropy":
        shape = _shape(rng)
        args = (rng.uniform(0.0, 1.0, shape), rng.uniform(0.05, 1.0, shape))
    else:  # a rule's own declared examples, drawn with this case's generator
        rule = tj.get_rule(name)
        examples = list(rule.examples(rng))
        example = examples[int(rng.integers(0, len(examples)))]
        if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict):
            args, kwargs = tuple(example[0]), dict(example[1])
        else:
            args = tuple(example)
    return name, args, kwargs


def _sum_kwargs(rng, ndim):
    choice = rng.random()
    if ndim == 0 or choice < 0.25:
        kw = {}
    elif choice < 0.6:
        kw = {"axis": int(rng.integers(-ndim, ndim))}
    else:
        axes = [a for a in range(ndim) if rng.random() < 0.5] or [0]
        kw = {"axis": tuple(a - ndim if rng.random() < 0.3 else a for a in axes)}
    if ndim and rng.random() < 0.3:
        kw["keepdims"] = True
    return kw


NOTE002 = {
    "add": (np.add, vjp_rules.add_vjp),
    "mul": (np.multiply, vjp_rules.mul_vjp),
    "matmul": (np.matmul, vjp_rules.matmul_vjp),
    "exp": (np.exp, vjp_rules.exp_vjp),
    "log": (np.log, vjp_rules.log_vjp),
    "sum": (np.sum, vjp_rules.sum_vjp),
    "maximum": (np.maximum, vjp_rules.maximum_vjp),
}


def note002_case(i, big=False):
    """A random case for a note-002 VJP rule: ``(name, f, vjp, args, kwargs)`` in float64.

    ``big=True`` gives inputs of 100 to ~1000 entries, for the dot-product mode.
    """
    rng = np.random.default_rng(5000 + i + (100000 if big else 0))
    names = list(NOTE002)
    name = names[i % len(names)]
    f, vjp = NOTE002[name]
    size = 12 if big else 4
    kwargs = {}
    if name in ("add", "mul", "maximum"):
        s1, s2 = _broadcast_pair(rng, max_ndim=3, max_size=size)
        if big:
            s1 = (size, size, 3)
            s2 = [(size, size, 3), (3,), (size, 1, 3), (1, size, 1)][int(rng.integers(0, 4))]
        kind = "ties" if (name == "maximum" and rng.random() < 0.6) else "normal"
        args = (_values(rng, s1, kind), _values(rng, s2, kind))
    elif name == "matmul":
        sa, sb = _matmul_shapes(rng)
        if big:
            sa, sb = (3, 20, 15), (15, 10) if rng.random() < 0.5 else (15,)
        args = (_values(rng, sa, "normal"), _values(rng, sb, "normal"))
    elif name in ("exp", "log"):
        shape = _shape(rng, max_size=size)
        if big:
            shape = (size, size, 3)
        args = (_values(rng, shape, "positive" if name == "log" else "normal"),)
    else:  # sum
        shape = _shape(rng, max_size=size)
        if big:
            shape = (size, size, 3)
        kwargs = _sum_kwargs(rng, len(shape))
        args = (_values(rng, shape, "normal"),)
    return name, f, vjp, args, kwargs


def cast(args, dtype):
    return tuple(np.asarray(a, dtype=dtype) for a in args)


def check_builtin(i, dtype, mode="auto", seed=0):
    name, args, kwargs = builtin_case(i)
    rule = tj.get_rule(name)
    return tj.testing.check_jacobian(
        rule.fun, rule.jacobian, *cast(args, dtype), kwargs=kwargs, reference="numerical", mode=mode,
        seed=seed, raise_on_failure=False,
    )


def check_note002(i, dtype, reference="auto", mode="auto", big=False, seed=0):
    name, f, vjp, args, kwargs = note002_case(i, big=big)
    return tj.testing.check_vjp(
        f, vjp, *cast(args, dtype), kwargs=kwargs, reference=reference, mode=mode, seed=seed,
        raise_on_failure=False,
    )


# ---- Planted bugs -------------------------------------------------------------------------
# Each is (id, kind, f, wrong rule, args (float64), kwargs, the arguments it gets wrong,
# dtypes it applies to).  They are deliberately wrong versions of the note-002 rules (and a
# JVP, a Jacobian and softmax), each reported as failing for exactly those arguments.

_u = vjp_rules.unbroadcast


def _leading_only(target, g):
    """unbroadcast that forgets the size-1 axes (sums the missing leading axes only)."""
    while g.ndim > target.ndim:
        g = g.sum(axis=0)
    return g


def _note002_matmul_vjp(dldF, A, B):
    """note 002's matmul_vjp, verbatim: wrong for matrix @ vector and for stacks with a 1-D operand."""
    G = dldF
    if G.ndim == 0:
        return _u(A, G * B), _u(B, G * A)
    if A.ndim >= 2 and B.ndim >= 2:
        dldA = G @ B.swapaxes(-2, -1)
        dldb = A.swapaxes(-2, -1) @ G
    if A.ndim == 1:
        A_ = A[np.newaxis, :]
        G_ = G[np.newaxis, :]
        dldA = G @ B.swapaxes(-2, -1)
        dldb = A_.swapaxes(-2, -1) @ G_
    elif B.ndim == 1:
        B_ = B[:, np.newaxis]
        G_ = G[:, np.newaxis]
        dldA = G_ @ B_.swapaxes(-2, -1)
        dldb = A.swapaxes(-2, -1) @ G_
    return _u(A, dldA), _u(B, dldb)


def _note002_maximum_vjp(dldf, a, b):
    """note 002's maximum_vjp, verbatim: ties go entirely to b (and int masks upcast float32)."""
    dlda = dldf * np.where(a > b, 1, 0)
    dldb = dldf * np.where(a > b, 0, 1)
    return _u(a, dlda), _u(b, dldb)


def _softmax_vjp_no_sum(g, x, axis=-1):
    s = tj.rules.softmax(x, axis=axis)
    return (s * g,)  # missing "- s * sum(g * s, axis)"


def _matmul_jac_transposed(A, B):
    """Blocks of A @ B (square B) whose dB has the roles of i and j swapped: A[a, j] delta[b, i]."""
    right = tj.get_rule("matmul").jacobian(A, B)
    m, n = A.shape
    J = np.zeros((m, n, n, n), dtype=A.dtype)
    for b in range(n):
        J[:, b, b, :] = A
    return right["x1"], tj.Jacobian(J, 2)


def _ties(rng, shape):
    a = rng.integers(-2, 3, shape) / 2.0
    b = rng.integers(-2, 3, shape) / 2.0
    b.flat[::2] = a.flat[::2]
    return a, b


def planted_bugs():
    rng = np.random.default_rng(77)
    n = rng.standard_normal
    sq = n((3, 3))
    bugs = [
        ("matmul: missing transpose of B in dA", "vjp", np.matmul,
         lambda G, A, B: (_u(A, G @ B), _u(B, np.swapaxes(A, -1, -2) @ G)), (n((3, 2)), n((2, 2))), {}, {"x1"}),
        ("matmul: missing transpose of A in dB", "vjp", np.matmul,
         lambda G, A, B: (_u(A, G @ np.swapaxes(B, -1, -2)), _u(B, A @ G)), (n((2, 2)), n((2, 3))), {}, {"x2"}),
        ("add: missing unbroadcast of b", "vjp", np.add,
         lambda g, a, b: (_u(a, g), g), (n((3, 4)), n((1, 4))), {}, {"x2"}),
        ("mul: unbroadcast forgets size-1 axes", "vjp", np.multiply,
         lambda g, a, b: (_leading_only(a, g * b), _u(b, g * a)), (n((3, 1)), n(4)), {}, {"x1"}),
        ("sum: gradient spread along the wrong axis", "vjp", np.sum,
         lambda g, x, axis=None: (np.broadcast_to(np.expand_dims(g, 0), x.shape).copy(),), (sq,), {"axis": 1}, {"x"}),
        ("sum: keepdims ignored", "vjp", np.sum,
         lambda g, x, axis=None, keepdims=False: (np.broadcast_to(np.expand_dims(g, axis), x.shape).copy(),),
         (n((2, 3)),), {"axis": 1, "keepdims": True}, {"x"}),
        ("log: sign error", "vjp", np.log, lambda g, x: (-g / x,), (rng.uniform(0.5, 2, (2, 3)),), {}, {"x"}),
        ("exp: scale off by 1e-3", "vjp", np.exp, lambda g, x: (g * np.exp(x) * (1 + 1e-3),), (n((2, 3)),), {}, {"x"}),
        ("maximum: note 002's ties (all to b)", "vjp", np.maximum, _note002_maximum_vjp, _ties(rng, (2, 3)), {},
         {"x1", "x2"}),
        ("maximum: ties all to a, b right", "vjp", np.maximum,
         lambda g, a, b: (_u(a, g * (a >= b)), _u(b, g * ((b > a) + 0.5 * (a == b)).astype(g.dtype))),
         _ties(rng, (2, 3)), {},
         {"x1"}),
        ("mul: derivative of the wrong argument", "vjp", np.multiply,
         lambda g, a, b: (_u(a, g * a), _u(b, g * a)), (n((2, 3)), n((2, 3))), {}, {"x1"}),
        ("exp: computed in float16", "vjp", np.exp,
         lambda g, x: ((g.astype(np.float16) * np.exp(x.astype(np.float16))).astype(g.dtype),), (n((2, 3)),), {},
         {"x"}),
        ("exp: result truncated to 3 decimals", "vjp", np.exp,
         lambda g, x: (np.round(g * np.exp(x), 3),), (n((2, 3)) * 2,), {}, {"x"}),
        ("exp: always rounded to float32 (float64 only)", "vjp", np.exp,
         lambda g, x: ((g * np.exp(x)).astype(np.float32).astype(g.dtype),), (n((2, 3)),), {}, {"x"}),
        ("matmul: note 002's matrix @ vector (dB of shape (1,))", "vjp", np.matmul, _note002_matmul_vjp,
         (n((2, 3)), n(3)), {}, {"x2"}),
        ("matmul: note 002's vector @ stack (raises)", "vjp", np.matmul, _note002_matmul_vjp,
         (n(3), n((2, 3, 2))), {}, {"x1", "x2"}),
        ("softmax: vjp missing the normalisation term", "vjp", tj.rules.softmax, _softmax_vjp_no_sum,
         (n((2, 3)),), {}, {"x"}),
        ("matmul jvp: product rule missing A @ dB", "jvp", np.matmul,
         lambda t, A, B: t[0] @ B, (n((2, 3)), n((3, 2))), {}, {"x2"}),
        ("exp jvp: sign error", "jvp", np.exp, lambda t, x: -t[0] * np.exp(x), (n(4),), {}, {"x"}),
        ("matmul Jacobian: dB with i and j swapped", "jacobian", np.matmul,
         _matmul_jac_transposed, (sq, n((3, 3))), {}, {"x2"}),
    ]
    return bugs


def bug_dtypes(bug):
    """float64 and float32, except for a rule that is only wrong in float64."""
    return ("float64",) if "float64 only" in bug[0] else ("float64", "float32")


def run_bug(bug, dtype, mode="auto", raise_on_failure=False):
    name, kind, f, wrong, args, kwargs, expected = bug
    checker = {"vjp": tj.testing.check_vjp, "jvp": tj.testing.check_jvp, "jacobian": tj.testing.check_jacobian}[kind]
    return checker(f, wrong, *cast(args, dtype), kwargs=kwargs, mode=mode, raise_on_failure=raise_on_failure)
