"""Property-based fuzzing of every public name of ``tensorjac`` and ``tensorjac.testing``.

Each public name has a driver that draws (hypothesis, derandomized) valid and invalid input:
shapes with size-0 axes, dtypes float32/float64/int/bool/complex/object/float16, nan and inf,
subnormal values, wrong names and argnums, wrong types (None, strings, lists, dicts, Jacobians
where arrays are expected, ...), and for the functions that take a function ``f`` a small family
of plain numpy functions (elementwise, matmul with a constant, reductions, indexing) and broken
ones (returning None, a tuple, a complex array, branching on a traced value, raising).

Every outcome is judged by ``_fuzz_support.attempt``: a result must be finite where the input
was (the true values are), and an error must be clear (a documented type, raised by tensorjac or
by the user's own function, never from inside numpy or opt_einsum, without raw library messages
or internal einsum letters).  The counts of outcomes by class are printed at the end (``-s``).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tensorjac as tj  # noqa: E402
import tensorjac.testing as tjt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fuzz_support import (  # noqa: E402
    BINARY, FLOATS, OUTCOMES, SMOOTH, arrays, array_or_junk, attempt, expect_finite, format_outcomes, functions,
    good, junk_values, mostly_valid, shape_of, shapes,
)

G = tj.get_rule


# ---- Drawing Jacobians and chains ---------------------------------------------------------------


def jacobian_of(kind, out_shape, in_shape, seed, dtype="float64"):
    """A Jacobian ``out_shape | in_shape`` built one of several ways (structured where the shapes allow)."""
    if kind == "diagonal" and out_shape == in_shape:
        return tj.Jacobian.diagonal(good(out_shape, seed, dtype))
    if kind == "identity" and out_shape == in_shape:
        return tj.Jacobian.identity(in_shape, dtype=dtype)
    if kind == "zeros":
        return tj.Jacobian.zeros(out_shape, in_shape, dtype=dtype)
    if kind == "traced" and out_shape == in_shape:
        return tj.jacobian(lambda x: np.tanh(x) * 2.0)(good(in_shape, seed, dtype))
    return tj.Jacobian(good(out_shape + in_shape, seed, dtype), len(out_shape))


KINDS = ("dense", "diagonal", "identity", "zeros", "traced")


@st.composite
def jacobians(draw, out_shape=None, in_shape=None):
    out_shape = draw(shapes(max_dims=2)) if out_shape is None else out_shape
    in_shape = draw(shapes(max_dims=2)) if in_shape is None else in_shape
    return jacobian_of(draw(st.sampled_from(KINDS)), out_shape, in_shape, draw(st.integers(0, 99)),
                       draw(st.sampled_from(FLOATS)))


@st.composite
def chains(draw, min_size=1, max_size=4):
    """A list of Jacobians (or plain arrays) that link, sometimes broken by a wrong shape or a junk item."""
    n = draw(st.integers(min_size, max_size))
    links = [draw(shapes(max_dims=2)) for _ in range(n + 1)]
    if draw(st.booleans()):  # many links the same shape: diagonals, identities, traced elementwise maps
        links = [links[0]] * (n + 1)
    plain = draw(st.integers(0, 5)) == 0
    items = []
    for k in range(n):
        if plain:
            items.append(good(links[k] + links[k + 1], k))
        else:
            items.append(draw(jacobians(links[k], links[k + 1])))
    mutation = draw(st.sampled_from(["none"] * 4 + ["shape", "junk", "mix"]))
    if mutation == "shape":
        k = draw(st.integers(0, n - 1))
        items[k] = draw(jacobians(links[k], draw(shapes(max_dims=2))))
    elif mutation == "junk":
        items[draw(st.integers(0, n - 1))] = draw(junk_values())
    elif mutation == "mix":
        k = draw(st.integers(0, n - 1))
        items[k] = items[k].dense() if isinstance(items[k], tj.Jacobian) else tj.Jacobian(items[k], len(links[k]))
    return items


def blocks_of(draw, out_shape, names):
    return tj.Blocks({name: draw(jacobians(out_shape)) for name in names})


# ---- Drivers: one per public name -----------------------------------------------------------------


def d_jacobian(data):
    f = data.draw(functions("unary"))
    x = data.draw(mostly_valid())
    argnums = data.draw(st.sampled_from([0, 0, 0, (0,), 1, -1, "x", None, (0, 0), 1.5, ()]))
    order = data.draw(st.sampled_from(["optimal", "forward", "reverse", "sideways", None]))
    cache = data.draw(st.booleans())
    ok, J = attempt("jacobian", lambda: tj.jacobian(f, argnums, order=order, cache=cache)(x),
                    finite=expect_finite(f, (x,)))
    if ok and isinstance(J, tj.Jacobian):
        attempt("jacobian", lambda: J.dense(), finite=expect_finite(f, (x,)))


def d_value_and_jacobian(data):
    f = data.draw(functions("binary"))
    x = data.draw(mostly_valid())
    y = data.draw(st.one_of(mostly_valid(shape_of(x)), mostly_valid()))
    argnums = data.draw(st.sampled_from([0, 1, (0, 1), (0, 1), (1,), (0, 2), "y"]))
    attempt("value_and_jacobian", lambda: tj.value_and_jacobian(f, argnums)(x, y),
            finite=expect_finite(f, (x, y)))


def d_grad(data):
    f = data.draw(functions("scalar"))
    x = data.draw(mostly_valid())
    cache = data.draw(st.booleans())
    g = tj.grad(f, data.draw(st.sampled_from([0, 0, 1, (0,)])), cache=cache)
    attempt("grad", lambda: g(x), finite=expect_finite(f, (x,)))
    if cache:  # a second call replays the compiled gradient (or traces again for a new signature)
        x2 = data.draw(st.one_of(mostly_valid(shape_of(x)), mostly_valid(shape_of(x)), mostly_valid()))
        attempt("grad", lambda: g(x2), finite=expect_finite(f, (x2,)))


def d_value_and_grad(data):
    f = data.draw(functions("binary"))
    x = data.draw(mostly_valid())
    y = data.draw(st.one_of(mostly_valid(shape_of(x)), mostly_valid()))
    cache = data.draw(st.booleans())
    vg = tj.value_and_grad(lambda a, b: np.sum(f(a, b)), (0, 1), cache=cache)
    attempt("value_and_grad", lambda: vg(x, y), finite=expect_finite(f, (x, y)))
    if cache:
        x2, y2 = data.draw(mostly_valid(shape_of(x))), data.draw(mostly_valid(shape_of(y)))
        attempt("value_and_grad", lambda: vg(x2, y2), finite=expect_finite(f, (x2, y2)))


def d_vjp(data):
    f = data.draw(functions("unary"))
    x = data.draw(mostly_valid())
    ok, res = attempt("vjp", lambda: tj.vjp(f, x), finite=expect_finite(f, (x,)))
    if ok:
        out, pullback = res
        u = data.draw(st.one_of(mostly_valid(np.shape(out)), mostly_valid(np.shape(out)), array_or_junk()))
        attempt("vjp", lambda: pullback(u), finite=expect_finite(f, (x,), u))


def d_jvp(data):
    f = data.draw(functions("unary"))
    x = data.draw(mostly_valid())
    t = data.draw(st.one_of(mostly_valid(shape_of(x)), mostly_valid(shape_of(x)), array_or_junk()))
    wrap = data.draw(st.sampled_from(["tuple", "tuple", "tuple", "list", "bare", "pair"]))
    primals, tangents = {"tuple": ((x,), (t,)), "list": ([x], [t]), "bare": (x, t), "pair": ((x, x), (t,))}[wrap]
    attempt("jvp", lambda: tj.jvp(f, primals, tangents), finite=expect_finite(f, (x,), t))


def d_make_program(data):
    f = data.draw(functions("unary"))
    x = data.draw(mostly_valid())
    ok, program = attempt("make_program", lambda: tj.make_program(f, order=data.draw(
        st.sampled_from(["optimal", "forward", "bogus"])))(x), finite=expect_finite(f, (x,)))
    if ok:
        attempt("make_program", lambda: str(program))


def d_Program(data):
    f = data.draw(st.sampled_from(SMOOTH))
    x = data.draw(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=2))
    ok, program = attempt("Program", lambda: tj.make_program(f)(x), x)
    if not ok:
        return
    assert isinstance(program, tj.Program)
    cot = data.draw(st.one_of(st.none(), arrays(shape=program_out_shape(f, x)), array_or_junk()))
    rankdir = data.draw(st.sampled_from(["LR", "TB", "XY", None]))
    attempt("Program", lambda: program.to_dot(cotangent=cot, rankdir=rankdir), cot)
    attempt("Program", lambda: program.draw(cotangent=cot), cot, allow=(ImportError,))
    attempt("Program", lambda: (program.lines(), repr(program), program.costs))


def program_out_shape(f, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.shape(f(x))


def d_hessian(data):
    f = data.draw(functions("scalar"))
    x = data.draw(mostly_valid())
    budget = data.draw(st.sampled_from([None, None, 0, 10**9, -1, "big"]))
    ok, H = attempt("hessian", lambda: tj.hessian(f, budget=budget)(x), finite=expect_finite(f, (x,)))
    if ok:
        attempt("hessian", lambda: H.dense(), finite=expect_finite(f, (x,)))


def d_value_grad_and_hessian(data):
    f = data.draw(functions("binary"))
    x = data.draw(mostly_valid())
    y = data.draw(st.one_of(mostly_valid(shape_of(x)), mostly_valid()))
    attempt("value_grad_and_hessian", lambda: tj.value_grad_and_hessian(lambda a, b: np.sum(f(a, b)), (0, 1))(x, y),
            finite=expect_finite(f, (x, y)))


def d_hvp(data):
    f = data.draw(functions("scalar"))
    x = data.draw(mostly_valid())
    t = data.draw(st.one_of(mostly_valid(shape_of(x)), mostly_valid(shape_of(x)), array_or_junk()))
    primals, tangents = data.draw(st.sampled_from([((x,), (t,)), ((x,), (t,)), ([x], [t]), (x, t), ((x,), ())]))
    attempt("hvp", lambda: tj.hvp(f, primals, tangents), finite=expect_finite(f, (x,), t))


def d_Hessian(data):
    f = data.draw(st.sampled_from(SMOOTH))
    x = data.draw(arrays(dtypes=FLOATS, kinds=("normal", "zero"), max_dims=2))
    ok, H = attempt("Hessian", lambda: tj.hessian(f)(x), x)
    if not ok:
        H = tj.Hessian.zeros((), (2,))
    other = data.draw(st.one_of(st.just(H), junk_values(), st.just(tj.Hessian.zeros((), (3,)))))
    scalar = data.draw(st.sampled_from([2.0, -1, np.float32(0.5), np.nan, "x", np.ones(2)]))
    attempt("Hessian", lambda: (H + other).dense(), x)
    attempt("Hessian", lambda: (H - other).dense(), x)
    attempt("Hessian", lambda: (H * scalar).dense(), x, scalar)
    attempt("Hessian", lambda: (H.matrix(), H.T.dense(), (-H).dense(), H.memory(), repr(H)), x)
    attempt("Hessian", lambda: H.dense(budget=data.draw(st.sampled_from([0, 8, -3, "a", None]))), x)
    out, i1, i2 = (data.draw(st.one_of(shapes(max_dims=2), junk_values(), st.integers(-2, 3))) for _ in range(3))
    attempt("Hessian", lambda: tj.Hessian.zeros(out, i1, i2, dtype=data.draw(st.sampled_from(
        ["float64", "float32", "complex128", object, "int64", "float16"]))).dense())


def d_HessianBlocks(data):
    f = data.draw(st.sampled_from(BINARY))
    x = data.draw(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=2))
    y = data.draw(st.one_of(arrays(shape=x.shape, dtypes=FLOATS, kinds=("normal",)), arrays(dtypes=FLOATS)))
    ok, H = attempt("HessianBlocks", lambda: tj.hessian(lambda a, b: np.sum(f(a, b)), (0, 1))(x, y),
            finite=expect_finite(f, (x, y)))
    if ok:
        assert isinstance(H, tj.HessianBlocks)
        key = data.draw(st.sampled_from([("a", "b"), ("b", "a"), (0, 1), ("a", "z"), "a", 5, (0, 1, 2)]))
        attempt("HessianBlocks", lambda: H[key].dense(), x, y, allow=(KeyError,))  # a mapping's lookup error
        attempt("HessianBlocks", lambda: (H.matrix(), list(H), len(H), repr(H)), x, y)


def d_gauss_newton(data):
    z, x = data.draw(shapes(max_dims=2)), data.draw(shapes(max_dims=2))
    J = data.draw(st.one_of(jacobians(z, x), jacobians(), junk_values()))
    H = data.draw(st.sampled_from([tj.Hessian.zeros((), z), tj.Hessian.zeros((), (7,)), tj.Jacobian.identity(z), None]))
    if data.draw(st.booleans()):
        ok, Hg = attempt("gauss_newton", lambda: tj.hessian(lambda v: np.sum(np.tanh(v) ** 2))(good(z)))
        H = Hg if ok else H
    attempt("gauss_newton", lambda: tj.gauss_newton(J, H).dense())


def d_curvature_term(data):
    z, x = data.draw(shapes(max_dims=2)), data.draw(shapes(max_dims=2))
    ok, H = attempt("curvature_term", lambda: tj.hessian(lambda v: np.tanh(v) * 1.0)(good(x)))
    H = H if ok else tj.Hessian.zeros(z, x)
    g = data.draw(st.one_of(arrays(shape=H.out_shape), jacobians(out_shape=(), in_shape=H.out_shape), array_or_junk()))
    attempt("curvature_term", lambda: tj.curvature_term(g, data.draw(st.sampled_from([H, H, None, g]))).dense(), g)


# -- implicit functions


def _F_tanh(x, y):
    return y - np.tanh(x)


def _F_linear(x, y):
    return _A(np.shape(y)[-1] if np.ndim(y) else 1) @ y - x if np.ndim(y) == 1 else y - x


def _A(n):
    return np.eye(n) * 2.0 + 0.1


def _F_cube(x, y):
    return y ** 3 - x


def _F_summed(x, y):  # a residual of the wrong shape (one number for all of y)
    return np.sum(y - np.tanh(x))


def _F_outer(x, y):  # dF/dy singular where x = 0
    return x * y - x * np.tanh(x)


IMPLICIT = [(_F_tanh, np.tanh), (_F_cube, np.cbrt), (_F_linear, lambda x: np.linalg.solve(_A(x.shape[-1]), x)
                                                    if np.ndim(x) == 1 else x),
            (_F_summed, np.tanh), (_F_outer, np.tanh)]


def d_implicit_jacobian(data):
    F, solve = data.draw(st.sampled_from(IMPLICIT))
    x = data.draw(st.one_of(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=1), array_or_junk()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            y = solve(x)
        except Exception:  # noqa: BLE001 - the junk x: any y
            y = x
    y = data.draw(st.sampled_from([y, y, y, np.zeros(3), "y", None, np.nan]))
    options = data.draw(st.sampled_from([{}, {"return_info": True}, {"least_squares": True}, {"tol": -1.0},
                                         {"argnums": 1}, {"argnums": (0,)}, {"tol": "a"}]))
    ok, res = attempt("implicit_jacobian", lambda: tj.implicit_jacobian(F, x, y, **options), x)
    if ok and options.get("return_info"):
        J, info = res
        assert isinstance(info, tj.ImplicitInfo) and info.method and info.residual >= 0


def d_implicit(data):
    F, solve = data.draw(st.sampled_from(IMPLICIT))
    solve = data.draw(st.sampled_from([solve, solve, lambda x: x * 0.0, lambda x: None, "solve"]))
    F = data.draw(st.sampled_from([F, F, F, 3]))
    x = data.draw(st.one_of(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=1), array_or_junk()))
    ok, node = attempt("implicit", lambda: tj.implicit(solve, F))
    if ok:
        attempt("implicit", lambda: tj.jacobian(node)(x), x)
        attempt("implicit", lambda: tj.hessian(lambda v: np.sum(node(v)))(x), x)


def d_ImplicitInfo(data):
    x = data.draw(arrays(shape=(data.draw(st.integers(0, 3)),), dtypes=FLOATS, kinds=("normal",)))
    ok, res = attempt("ImplicitInfo", lambda: tj.implicit_jacobian(_F_tanh, x, np.tanh(x), return_info=True), x)
    assert ok and isinstance(res[1], tj.ImplicitInfo), res


def d_ConditionWarning(data):
    eps = data.draw(st.sampled_from([1e-30, 1e-12, 0.5]))
    A = np.array([[1.0, 1.0], [1.0, 1.0 + eps]])
    x = np.array([1.0, 2.0])
    y = np.linalg.lstsq(A, x, rcond=None)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ok, _ = attempt("ConditionWarning", lambda: tj.implicit_jacobian(lambda x, y: A @ y - x, x, y, tol=1e3), x,
                        quiet=False)
    if ok and eps == 1e-12:
        assert any(issubclass(w.category, tj.ConditionWarning) for w in caught)
    assert issubclass(tj.ConditionWarning, Warning)


def d_TracingError(data):
    f = data.draw(st.sampled_from([lambda x: float(x), lambda x: x if x > 0 else -x, lambda x: np.asarray(x) * 2]))
    ok, exc = attempt("TracingError", lambda: tj.jacobian(f)(np.array(1.0)))
    assert not ok and isinstance(exc, tj.TracingError) and isinstance(exc, TypeError)


def d_NoRuleError(data):
    fn = data.draw(st.sampled_from([np.arctan2, np.hypot]))
    ok, exc = attempt("NoRuleError", lambda: tj.jacobian(lambda x: fn(x, 1.5))(np.ones(2)))
    assert not ok and isinstance(exc, tj.NoRuleError) and isinstance(exc, NotImplementedError)


# -- tensorjac's own functions (plain functions of arrays; traced as one rule each)


def _nn_driver(name, arity, options):
    def driver(data):
        fn = getattr(tj, name)
        args = [data.draw(array_or_junk()) for _ in range(arity)]
        if name == "affine" and data.draw(st.booleans()):
            n, k, m = (data.draw(st.integers(0, 3)) for _ in range(3))
            args = [good((n, k)), good((k, m), 1), good((m,), 2)]
        if name == "cross_entropy" and data.draw(st.booleans()):
            q = np.abs(data.draw(arrays(dtypes=FLOATS, kinds=("normal", "tiny")))) + data.draw(
                st.sampled_from([0.0, 1e-310, 0.5]))
            args = [np.abs(good(q.shape)), q]
        kw = data.draw(st.sampled_from(options))
        with np.errstate(all="ignore"):
            attempt(name, lambda: fn(*args, **kw), *args, finite=False)
        attempt(name, lambda: tj.jacobian(lambda *a: fn(*a, **kw), tuple(range(arity)))(*args), *args)
        attempt(name, lambda: G(name).jacobian(*args, **kw), *args)
    return driver


AXES = [{}, {"axis": 0}, {"axis": -1}, {"axis": None}, {"axis": (0, 1)}, {"axis": 5}, {"axis": 1.0}, {"axis": "a"}]
NN = {
    "logit": (1, [{}]), "relu": (1, [{}]), "softplus": (1, [{}]), "affine": (3, [{}]),
    "softmax": (1, AXES), "log_softmax": (1, AXES),
    "logsumexp": (1, AXES + [{"keepdims": True}, {"axis": (0, 0)}, {"keepdims": "yes"}]),
    "cross_entropy": (2, [{}]),
}


# -- explicit Jacobians and the chain rule


def d_Jacobian(data):
    arr = data.draw(array_or_junk())
    out_ndim = data.draw(st.sampled_from([0, 1, 2, 3, -1, 1.0, None, True]))
    attempt("Jacobian", lambda: tj.Jacobian(arr, out_ndim).dense(), arr)
    shape = data.draw(st.one_of(shapes(), st.integers(-2, 4), junk_values(), st.just((2, -1)), st.just((1.5,))))
    shape2 = data.draw(st.one_of(shapes(), st.integers(-2, 4), junk_values(), st.just((2.0,))))
    dtype = data.draw(st.sampled_from([np.float64, np.float32, complex, object, np.float16, np.int64, "f8", "x"]))
    attempt("Jacobian", lambda: tj.Jacobian.identity(shape, dtype=dtype).dense())
    attempt("Jacobian", lambda: tj.Jacobian.zeros(shape, shape2, dtype=dtype).dense())
    attempt("Jacobian", lambda: tj.Jacobian.diagonal(arr).dense(), arr)
    spec = data.draw(st.sampled_from(["ai->ab|ib", "a->a|a", "ab->a|b", "a->|a", "->|", "a,a->a|a", "ai->ab|i",
                                      "ab->ba|", "A->A|A", "a->a", 3, None, "ai->ab|ib|c"]))
    factor = data.draw(array_or_junk())
    sizes = data.draw(st.sampled_from([None, {"b": 2}, {"b": -1}, {"b": 2.5}, {"z": 1}, "b", {"b": 0}]))
    attempt("Jacobian", lambda: tj.Jacobian.from_einsum(spec, factor, sizes=sizes).dense(), factor, internal_ok=True)
    # methods
    J = data.draw(jacobians())
    u = data.draw(st.one_of(arrays(shape=J.out_shape), array_or_junk()))
    v = data.draw(st.one_of(arrays(shape=J.in_shape), array_or_junk()))
    attempt("Jacobian", lambda: J.vjp(u), u)
    attempt("Jacobian", lambda: J.jvp(v), v)
    other = data.draw(st.one_of(jacobians(J.out_shape, J.in_shape), jacobians(J.in_shape), array_or_junk()))
    scalar = data.draw(st.sampled_from([2.0, -1, np.float32(0.5), np.nan, "x", np.ones(2), None]))
    attempt("Jacobian", lambda: (J + other).dense(), other)
    attempt("Jacobian", lambda: (J - other).dense(), other)
    attempt("Jacobian", lambda: (J @ other).dense(), other)
    attempt("Jacobian", lambda: (other @ J), other)
    attempt("Jacobian", lambda: (J * scalar).dense(), scalar)
    attempt("Jacobian", lambda: (J.T.dense(), J.matrix(), np.asarray(J), repr(J), J.nbytes, J.is_dense,
                                 J.check_invariants()))
    attempt("Jacobian", lambda: J.dense(budget=data.draw(st.sampled_from([0, 16, -5, 2.5, "a", None]))))


def _check_0d(result):
    if isinstance(result, np.ndarray) or not hasattr(result, "shape"):
        return
    raise AssertionError(f"a 0-d result must be an ndarray, got {type(result).__name__}")


def d_contract(data):
    items = data.draw(chains(min_size=2, max_size=2))
    axes = data.draw(st.sampled_from([None, None, None, 0, 1, 2, -1, 1.5, "a"]))
    ok, result = attempt("contract", lambda: tj.contract(*items, axes=axes), *items)
    if ok and isinstance(result, tj.Jacobian):
        attempt("contract", lambda: result.dense(), *items)


def d_chain(data):
    items = data.draw(chains())
    order = data.draw(st.sampled_from(["optimal", "forward", "reverse", "optimal", "nope"]))
    ok, result = attempt("chain", lambda: tj.chain(*items, order=order), *items)
    if ok and isinstance(result, tj.Jacobian):
        attempt("chain", lambda: result.dense(), *items)


def d_chain_cost(data):
    items = data.draw(chains())
    ok, costs = attempt("chain_cost", lambda: tj.chain_cost(*items), *items)
    if ok:
        assert set(costs) == {"optimal", "forward", "reverse"}
        assert all(c.flops >= 0 and c.largest_intermediate >= 0 for c in costs.values())


def d_chain_vjp(data):
    items = data.draw(chains())
    first = items[0]
    u = data.draw(st.one_of(mostly_valid(first.out_shape if isinstance(first, tj.Jacobian) else None),
                            array_or_junk()))
    chain = data.draw(st.sampled_from([items, tuple(items), items[0]]))
    ok, r = attempt("chain_vjp", lambda: tj.chain_vjp(chain, u), u, *items)
    if ok:
        _check_0d(r)


def d_chain_jvp(data):
    items = data.draw(chains())
    last = items[-1]
    v = data.draw(st.one_of(mostly_valid(last.in_shape if isinstance(last, tj.Jacobian) else None),
                            array_or_junk()))
    ok, r = attempt("chain_jvp", lambda: tj.chain_jvp(items, v), v, *items)
    if ok:
        _check_0d(r)


def d_Blocks(data):
    out = data.draw(shapes(max_dims=2))
    names = data.draw(st.sampled_from([("x",), ("x", "y"), ("W", "b", "c")]))
    content = data.draw(st.sampled_from(["good", "good", "junk", "mixed", "empty"]))
    if content == "good":
        mapping = {n: data.draw(jacobians(out)) for n in names}
    elif content == "junk":
        mapping = {n: data.draw(junk_values()) for n in names}
    elif content == "mixed":
        mapping = {n: data.draw(jacobians()) for n in names}
    else:
        mapping = {}
    ok, B = attempt("Blocks", lambda: tj.Blocks(mapping))
    if not ok:
        B = tj.Blocks({n: data.draw(jacobians(out)) for n in names})
    key = data.draw(st.sampled_from(["x", "y", "W", 0, 1, -1, 9, None, 1.0, ("x",)]))
    attempt("Blocks", lambda: B[key], allow=(KeyError, IndexError))  # a Mapping's own lookup errors
    other = data.draw(st.one_of(st.just(B), junk_values(), st.builds(lambda: tj.Blocks({"q": tj.Jacobian.zeros(out, (1,))}))))
    attempt("Blocks", lambda: (B + other).dense())
    mapping2 = data.draw(st.sampled_from([{"x": "z"}, {"nope": "z"}, {"x": "y"}, {}, "x", None]))
    attempt("Blocks", lambda: B.rename(mapping2))
    attempt("Blocks", lambda: B.matrix(budget=data.draw(st.sampled_from([None, 0, 64, -1, "a"]))))
    attempt("Blocks", lambda: (B.dense(), repr(B), B.names, len(B), "x" in B, 0 in B, list(B)))


def d_compose(data):
    z = data.draw(shapes(max_dims=2))
    out = data.draw(shapes(max_dims=2))
    outer = data.draw(st.one_of(st.builds(lambda: None), junk_values()) | st.just("blocks"))
    if isinstance(outer, str) and outer == "blocks" or data.draw(st.booleans()):
        outer = tj.Blocks({"F": data.draw(jacobians(out, z)), "c": data.draw(jacobians(out))})
    inner_value = data.draw(st.sampled_from(["blocks", "blocks", "jacobian", "array", "junk", "wrong"]))
    if inner_value == "blocks":
        inner = {"F": tj.Blocks({"x": data.draw(jacobians(z)), "c": data.draw(jacobians(z))})}
    elif inner_value == "wrong":
        inner = {"F": tj.Blocks({"x": data.draw(jacobians())})}
    elif inner_value == "jacobian":
        inner = {"F": data.draw(jacobians(z))}
    elif inner_value == "array":
        inner = {"F": good(z + (2,))}
    else:
        inner = data.draw(junk_values())
    attempt("compose", lambda: tj.compose(outer, inner).dense())


def d_register_rule(data):
    name = data.draw(st.sampled_from(["fuzz_rule_a", "fuzz_rule_b"] * 3 + ["", 3, None, "exp"]))
    maker = data.draw(st.sampled_from([
        lambda ans, x: tj.Jacobian.diagonal(np.full(x.shape, 2.0, x.dtype))] * 4 + [
        lambda ans, x: tj.Jacobian.identity((7,)), lambda ans, x: None, lambda ans, x: np.eye(x.size), 5, None,
        "maker"]))
    fun = data.draw(st.sampled_from([lambda x: 2 * x] * 4 + [np.negative, "fun", None]))
    replace = data.draw(st.sampled_from([True, True, False, "yes"]))
    x = data.draw(mostly_valid())  # drawn first: whether the registration succeeds depends on the registry's state
    ok, rule = attempt("register_rule", lambda: tj.register_rule(name, fun, maker, replace=replace))
    if ok:
        assert tj.get_rule(name) is rule
        attempt("register_rule", lambda: rule.jacobian(x), x)
        attempt("register_rule", lambda: tj.jacobian(lambda v: rule.fun(v) if callable(rule.fun) else v)(x), x)


def d_get_rule(data):
    key = data.draw(st.one_of(st.sampled_from(tj.rule_names()), st.sampled_from(
        ["nope", "", None, 3, np.exp, np.arctan2, print, [1], {"a": 1}])))
    attempt("get_rule", lambda: tj.get_rule(key))


def d_rule_names(data):
    ok, names = attempt("rule_names", tj.rule_names)
    assert ok and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _mutate_args(data, args):
    args = list(args)
    what = data.draw(st.sampled_from(["none"] * 3 + ["dtype", "shape", "junk", "drop", "extra", "nan", "empty"]))
    if not args:
        return args
    k = data.draw(st.integers(0, len(args) - 1))
    if what == "dtype":
        args[k] = np.asarray(args[k]).astype(data.draw(st.sampled_from(["float32", "int64", "bool", "complex128",
                                                                       "object", "float16"])))
    elif what == "shape":
        args[k] = data.draw(arrays(dtypes=FLOATS, kinds=("normal",)))
    elif what == "junk":
        args[k] = data.draw(junk_values())
    elif what == "drop":
        args.pop(k)
    elif what == "extra":
        args.append(good((2,)))
    elif what == "nan":
        a = np.array(args[k], dtype=float)
        if a.size:
            a.flat[0] = np.nan
        args[k] = a
    elif what == "empty":
        a = np.asarray(args[k])
        args[k] = np.zeros((0,) + a.shape[1:]) if a.ndim else np.zeros(0)
    return args


def d_Rule(data):
    name = data.draw(st.sampled_from(tj.rule_names()))
    rule = tj.get_rule(name)
    examples = tjt.rule_examples(rule) or [((good((2,)),), {})]
    example = data.draw(st.sampled_from(examples))
    args, kwargs = tjt.RuleCase(name, rule, examples=[example]).example_list()[0]
    args = _mutate_args(data, args)
    kwargs = dict(kwargs)
    if data.draw(st.integers(0, 3)) == 0:
        kwargs[data.draw(st.sampled_from(["axis", "keepdims", "bogus", "ord"]))] = data.draw(
            st.sampled_from([0, 1, -1, 7, (0, 0), None, 1.5, "a", True]))
    argnums = data.draw(st.sampled_from([None, None, 0, 1, "x", -1, 5, (0, 0)]))
    finite = finite_all(args)
    with np.errstate(all="ignore"):
        attempt("Rule", lambda: rule.jacobian(*args, argnums=argnums, **kwargs), *args)
        attempt("Rule", lambda: rule(*args, **kwargs), *args, finite=False)
        attempt("Rule", lambda: rule.bind(*args, **kwargs), finite=False)
    if finite and not kwargs and data.draw(st.booleans()):
        attempt("Rule", lambda: tj.jacobian(lambda *a: rule.fun(*a), tuple(range(len(args))))(*args), *args)


def finite_all(args):
    from _fuzz_support import finite_inputs
    return finite_inputs(*args)


def d_numerical_jacobian(data):
    f = data.draw(st.one_of(functions("unary"), functions("unary"), st.just(lambda x: None),
                            st.sampled_from([None, "f", 3])))
    x = data.draw(mostly_valid())
    options = data.draw(st.sampled_from([{}, {}, {}, {}, {"step": 1e-3}, {"step": -1.0}, {"step": "a"}, {"argnums": 1},
                                         {"vectorized": True}, {"vectorized": -2}, {"names": ("a", "b")},
                                         {"budget": 0}]))
    ok, N = attempt("numerical_jacobian", lambda: tj.numerical_jacobian(f, x, **options),
                    finite=callable(f) and expect_finite(f, (x,)))
    if ok:
        assert isinstance(N, tj.NumericalBlocks)


def d_NumericalBlocks(data):
    f = data.draw(st.sampled_from(BINARY))
    x = data.draw(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=2))
    y = data.draw(st.one_of(st.just(x * 0.5 + 0.1), arrays(dtypes=FLOATS, kinds=("normal",), max_dims=2)))
    ok, N = attempt("NumericalBlocks", lambda: tj.numerical_jacobian(f, x, y), x, y)
    if ok:
        assert set(N.errors) == set(N.names) == set(N.steps)
        attempt("NumericalBlocks", lambda: (N.value, N.errors, N.steps, N.matrix()), x, y)


def d_numerical_hessian(data):
    f = data.draw(st.one_of(functions("scalar"), functions("unary"), st.just(lambda x: None),
                            st.sampled_from([None, "f", 3])))
    x = data.draw(st.one_of(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=1), mostly_valid()))
    options = data.draw(st.sampled_from([{}, {}, {}, {"step": 1e-3}, {"step": -1.0}, {"step": "a"}, {"argnums": 1},
                                         {"names": ("a", "b")}, {"budget": 0}, {"budget": -1}]))
    ok, H = attempt("numerical_hessian", lambda: tj.numerical_hessian(f, x, **options),
                    finite=callable(f) and expect_finite(f, (x,)))
    if ok:
        assert isinstance(H, tj.NumericalHessian)


def d_NumericalHessian(data):
    f = data.draw(st.sampled_from(BINARY))
    x = data.draw(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=1))
    y = data.draw(st.one_of(st.just(x * 0.5 + 0.1), arrays(dtypes=FLOATS, kinds=("normal",), max_dims=1)))
    ok, H = attempt("NumericalHessian", lambda: tj.numerical_hessian(f, x, y), x, y)
    if ok:
        key = data.draw(st.sampled_from([("x", "y"), ("y", "x"), ("x", "x"), ("x", "nope"), "x", 3]))
        attempt("NumericalHessian", lambda: (H.value, H.errors, H.steps, H.matrix(), H[key]), x, y,
                allow=(KeyError,))


def d_set_dense_budget(data):
    value = data.draw(st.sampled_from([None, 0, 1, 2**20, -1, 1.5, "1", True, np.int64(5)]))
    ok, old = attempt("set_dense_budget", lambda: tj.set_dense_budget(value))
    if ok:
        tj.set_dense_budget(old if old != tj.get_dense_budget() or value is None else old)
    tj.set_dense_budget(None)


def d_get_dense_budget(data):
    ok, value = attempt("get_dense_budget", tj.get_dense_budget)
    assert ok and value == 2**30


def d_testing(data):
    ok, module = attempt("testing", lambda: tj.testing)
    assert ok and module is tjt


# ---- tensorjac.testing ------------------------------------------------------------------------------


def _right_vjp(g, x):
    return (g * (1 - np.tanh(x) ** 2),)


def _wrong_vjp(g, x):
    return (g * 2.0,)


def _checker_driver(kind):
    checker = {"jacobian": tjt.check_jacobian, "vjp": tjt.check_vjp, "jvp": tjt.check_jvp}[kind]

    def driver(data):
        f = data.draw(st.sampled_from([np.tanh, "tanh", f_tanh_user, None, "nope", G("tanh")]))
        right = {"jacobian": lambda x: tj.jacobian(np.tanh)(x), "vjp": _right_vjp,
                 "jvp": lambda t, x: t[0] * (1 - np.tanh(x) ** 2)}[kind]
        rule = data.draw(st.sampled_from([right, right, lambda *a: None, lambda *a: "x", lambda *a: 1 / 0, 3,
                                          _wrong_vjp if kind == "vjp" else (lambda *a: np.ones(7))]))
        x = data.draw(st.one_of(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=2), array_or_junk()))
        options = data.draw(st.sampled_from([{}, {}, {"mode": "dot"}, {"mode": "bogus"}, {"reference": "numerical"},
                                             {"reference": "x"}, {"argnums": 3}, {"probes": 0}, {"step": -1},
                                             {"names": ("a", "b")}, {"seed": "s"}, {"kwargs": {"axis": 0}}]))
        ok, report = attempt(f"check_{kind}", lambda: checker(f, rule, x, raise_on_failure=False, **options), x,
                             finite=False)
        if ok:
            assert isinstance(report, tjt.CheckReport)
    return driver


def _loss_tanh(x):
    return np.sum(np.tanh(x) ** 2)


def _second_checker_driver(kind):
    checker = {"hessian": tjt.check_hessian, "hvp": tjt.check_hvp}[kind]

    def driver(data):
        f = data.draw(st.sampled_from([_loss_tanh, _loss_tanh, "tanh", None, "nope", 3]))
        if kind == "hessian":
            right = lambda x: tj.hessian(_loss_tanh)(x)  # noqa: E731
            wrong = lambda x: 2 * tj.hessian(_loss_tanh)(x).dense()  # noqa: E731
        else:
            right = lambda v, x: tj.hvp(_loss_tanh, (x,), v)[1]  # noqa: E731
            wrong = lambda v, x: tuple(2 * t for t in tj.hvp(_loss_tanh, (x,), v)[1])  # noqa: E731
        rule = data.draw(st.sampled_from([right, right, wrong, lambda *a: None, lambda *a: "x", lambda *a: 1 / 0, 3,
                                          lambda *a: np.ones(7)]))
        x = data.draw(st.one_of(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=1), array_or_junk()))
        options = data.draw(st.sampled_from([{}, {}, {"reference": "numerical"}, {"reference": "x"}, {"argnums": 3},
                                             {"step": -1}, {"names": ("a", "b")}, {"kwargs": {"axis": 0}}]
                                            + ([{"mode": "vector"}, {"mode": "full"}, {"mode": "bogus"}, {"probes": 0},
                                                {"seed": "s"}] if kind == "hvp" else [])))
        ok, report = attempt(f"check_{kind}", lambda: checker(f, rule, x, raise_on_failure=False, **options), x,
                             finite=False)
        if ok:
            assert report.ok in (True, False)
    return driver


def f_tanh_user(x):
    return np.tanh(x)


def d_CheckReport(data):
    x = data.draw(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=2))
    vjp = data.draw(st.sampled_from([_right_vjp, _wrong_vjp]))
    ok, report = attempt("CheckReport", lambda: tjt.check_vjp(np.tanh, vjp, x, raise_on_failure=False), x, finite=False)
    if not ok:
        return
    attempt("CheckReport", lambda: (report.message(), str(report), repr(report), report.failures, len(report),
                                    list(report)), finite=False)
    key = data.draw(st.sampled_from(["x", 0, "nope", 5, None]))
    attempt("CheckReport", lambda: report[key], allow=(KeyError, IndexError), finite=False)
    # assert_ok's documented purpose is the AssertionError of a failing check
    attempt("CheckReport", report.assert_ok, assertion_ok=not report.ok, finite=False)


def d_ArgumentReport(data):
    x = data.draw(arrays(dtypes=FLOATS, kinds=("normal",), max_dims=2))
    ok, report = attempt("ArgumentReport", lambda: tjt.check_vjp(np.tanh, _right_vjp, x, raise_on_failure=False), x,
                         finite=False)
    if ok:
        for a in report:
            assert isinstance(a, tjt.ArgumentReport) and a.ok and a.shape == x.shape


def d_RuleCase(data):
    f = data.draw(st.sampled_from([np.tanh, "tanh", "nope", None, f_tanh_user]))
    examples = data.draw(st.sampled_from([[(good((2,)),)], [], [((good((2,)),), {"axis": 0})], None, "x",
                                          [(good((0,)),)]]))
    vjp = data.draw(st.sampled_from([None, _right_vjp, _wrong_vjp, 3]))
    ok, case = attempt("RuleCase", lambda: tjt.RuleCase("fuzz", f, examples=examples, vjp=vjp))
    if ok:
        attempt("RuleCase", lambda: tjt.run_cases([case], dtypes=("float64",)), finite=False)


def d_builtin_cases(data):
    ok, cases = attempt("builtin_cases", tjt.builtin_cases, finite=False)
    assert ok and {c.name for c in cases} == {n for n in tj.rule_names() if tj.get_rule(n).builtin}


def d_run_cases(data):
    cases = tjt.builtin_cases()
    pick = data.draw(st.sampled_from(["exp", "tanh", "sum", "add", "softmax"]))
    chosen = data.draw(st.sampled_from([[c for c in cases if c.name == pick], [None], "x", [], [3]]))
    dtypes = data.draw(st.sampled_from([("float64",), ("float16",), ("complex128",), "float64", (), ("x",)]))
    mode = data.draw(st.sampled_from([None, "dot", "full", "bogus"]))
    ok, rows = attempt("run_cases", lambda: tjt.run_cases(chosen, dtypes=dtypes, mode=mode), finite=False)
    if ok:
        attempt("format_table", lambda: tjt.format_table(rows), finite=False)


def d_format_table(data):
    rows = data.draw(st.sampled_from([[], None, "x", [{}], [{"rule": "a"}], [3]]))
    attempt("format_table", lambda: tjt.format_table(rows, title=data.draw(st.sampled_from([None, "t", 3]))),
            finite=False)


def d_module_cases(data):
    spec = data.draw(st.sampled_from(["examples.vjp_rules", "no.such.module", "/no/such/file.py", "", None, 3,
                                      "numpy", "tensorjac"]))
    attempt("module_cases", lambda: tjt.module_cases(spec), allow=(tjt.ModuleLoadError,), finite=False)


def d_ModuleLoadError(data):
    ok, exc = attempt("ModuleLoadError", lambda: tjt.module_cases("no.such.module_" + str(data.draw(st.integers(0, 9)))),
                      allow=(tjt.ModuleLoadError,), finite=False)
    assert not ok and isinstance(exc, tjt.ModuleLoadError) and isinstance(exc, ImportError)


def d_rule_examples(data):
    rule = data.draw(st.one_of(st.sampled_from(tj.rule_names()).map(tj.get_rule), junk_values()))
    attempt("rule_examples", lambda: tjt.rule_examples(rule), finite=False)


def d_main(data):
    argv = data.draw(st.sampled_from([["--dtype", "float16"], ["--mode", "bogus"], ["no.such.module"],
                                      ["/no/such/file.py"], ["--bogus"], ["--dtype", ","], "x", [3]]))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        ok, code = attempt("main", lambda: tjt.main(argv), allow=(SystemExit,), finite=False)
    if ok:
        assert code in (0, 1, 2)


def _constant_driver(name):
    def driver(data):
        value = getattr(tjt, name)
        ok, _ = attempt(name, lambda: value, finite=False)
        numbers = value if isinstance(value, tuple) else (value,)
        assert ok and all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in numbers)
    return driver


DRIVERS = {
    "jacobian": d_jacobian, "value_and_jacobian": d_value_and_jacobian, "grad": d_grad,
    "value_and_grad": d_value_and_grad, "vjp": d_vjp, "jvp": d_jvp, "make_program": d_make_program,
    "Program": d_Program, "hessian": d_hessian, "value_grad_and_hessian": d_value_grad_and_hessian, "hvp": d_hvp,
    "Hessian": d_Hessian, "HessianBlocks": d_HessianBlocks, "gauss_newton": d_gauss_newton,
    "curvature_term": d_curvature_term, "implicit_jacobian": d_implicit_jacobian, "implicit": d_implicit,
    "ImplicitInfo": d_ImplicitInfo, "ConditionWarning": d_ConditionWarning, "TracingError": d_TracingError,
    "NoRuleError": d_NoRuleError, **{name: _nn_driver(name, *spec) for name, spec in NN.items()},
    "Jacobian": d_Jacobian, "contract": d_contract, "chain": d_chain, "chain_vjp": d_chain_vjp,
    "chain_jvp": d_chain_jvp, "Blocks": d_Blocks, "compose": d_compose, "register_rule": d_register_rule,
    "get_rule": d_get_rule, "rule_names": d_rule_names, "Rule": d_Rule, "numerical_jacobian": d_numerical_jacobian,
    "NumericalBlocks": d_NumericalBlocks, "numerical_hessian": d_numerical_hessian,
    "NumericalHessian": d_NumericalHessian, "set_dense_budget": d_set_dense_budget,
    "get_dense_budget": d_get_dense_budget, "chain_cost": d_chain_cost, "testing": d_testing,
}
TESTING_DRIVERS = {
    "check_jacobian": _checker_driver("jacobian"), "check_vjp": _checker_driver("vjp"),
    "check_jvp": _checker_driver("jvp"), "check_hessian": _second_checker_driver("hessian"),
    "check_hvp": _second_checker_driver("hvp"), "CheckReport": d_CheckReport, "ArgumentReport": d_ArgumentReport,
    "RuleCase": d_RuleCase, "builtin_cases": d_builtin_cases, "run_cases": d_run_cases,
    "format_table": d_format_table, "module_cases": d_module_cases, "ModuleLoadError": d_ModuleLoadError,
    "rule_examples": d_rule_examples, "main": d_main,
    **{name: _constant_driver(name) for name in
       ("FULL_MODE_MAX_SIZE", "ROUNDING_FACTOR", "REFERENCE_SAFETY", "RETRY_FACTORS", "FLOOR_FACTOR", "FORMULA_SIGMAS")},
}
# Examples per driver: the slow ones (finite differences, the checkers, the rule table) get fewer.
EXAMPLES = {"numerical_jacobian": 50, "NumericalBlocks": 30, "numerical_hessian": 30, "NumericalHessian": 20,
            "check_hessian": 20, "check_hvp": 20, "check_jacobian": 30, "check_vjp": 30, "check_jvp": 30,
            "CheckReport": 20, "ArgumentReport": 10, "RuleCase": 20, "run_cases": 20, "builtin_cases": 4,
            "main": 16, "module_cases": 16, "ModuleLoadError": 6, "get_dense_budget": 4, "testing": 4,
            "rule_names": 4, "ImplicitInfo": 20, "ConditionWarning": 12, "TracingError": 10, "NoRuleError": 10,
            "Rule": 500, "Jacobian": 240, "chain": 200, "contract": 200, "jacobian": 240}
DEFAULT_EXAMPLES = 100
# TENSORJAC_FUZZ_SCALE=10 runs ten times as many examples per driver (a deeper search than the suite's).
SCALE = float(os.environ.get("TENSORJAC_FUZZ_SCALE", "1"))


def test_every_public_name_has_a_driver():
    """A new public name without a fuzz driver fails here."""
    assert set(DRIVERS) == set(tj.__all__), (set(tj.__all__) ^ set(DRIVERS))
    assert set(TESTING_DRIVERS) == set(tjt.__all__), (set(tjt.__all__) ^ set(TESTING_DRIVERS))


ALL_DRIVERS = {**{f"tensorjac.{k}": v for k, v in DRIVERS.items()},
               **{f"tensorjac.testing.{k}": v for k, v in TESTING_DRIVERS.items()}}


@pytest.fixture(scope="module", autouse=True)
def _print_outcomes():
    yield
    print("\n== fuzz outcomes by class ==\n" + format_outcomes())
    registry = tj.rules._registry
    for name in ("fuzz_rule_a", "fuzz_rule_b"):  # the rules register_rule's driver made
        rule = registry._BY_NAME.pop(name, None)
        for fun in [f for f, r in registry._BY_FUNCTION.items() if r is rule]:
            del registry._BY_FUNCTION[fun]
    tj.set_dense_budget(None)


@pytest.mark.parametrize("public", sorted(ALL_DRIVERS))
def test_fuzz(public):
    driver = ALL_DRIVERS[public]
    short = public.rsplit(".", 1)[1]

    @settings(max_examples=max(1, int(SCALE * EXAMPLES.get(short, DEFAULT_EXAMPLES))), derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(data=st.data())
    def run(data):
        driver(data)

    before = sum(n for (name, _), n in OUTCOMES.items())
    run()
    assert sum(n for (name, _), n in OUTCOMES.items()) > before, f"{public}: the driver called nothing"
