"""The three public checkers: ``check_vjp``, ``check_jvp``, ``check_jacobian``, in full and dot-product modes."""

from __future__ import annotations

import numpy as np

from .._jacobian import Jacobian
from ._compare import Result, dot_compare, full_block, probe_tolerance, report_full, unravel
from ._report import CheckReport, index_text
from ._setup import RuleError, Setup
from ._subject import Subject

__all__ = ["check_vjp", "check_jvp", "check_jacobian"]


def _random_like(rng, shape, dtype, scale=None):
    x = rng.standard_normal(shape)
    if scale is not None:
        x = x * scale
    return np.asarray(x, dtype=dtype)


def _run(kind, f, rule_under_test, args, *, argnums, mode, reference, kwargs, names, step, seed, probes,
         check_dtype, raise_on_failure, cotangent_last=False, tangents_as_tuple=True):
    setup = Setup(kind, f, args, names, kwargs, reference, argnums, mode, step, probes, check_dtype)
    subject = Subject(setup, rule_under_test, cotangent_last, tangents_as_tuple)
    results = {p: Result(setup, p, setup.references[p], setup.mode) for p in setup.positions}
    rng = np.random.default_rng(seed)
    s = setup
    try:
        if any(s.arrays[p].size == 0 for p in s.positions) or s.n_out == 0:
            _check_empty(s, subject, results)
        elif s.mode == "full":
            _check_full(s, subject, results, rng)
        else:
            _check_dot(s, subject, results, rng)
    except RuleError as err:
        for r in results.values():
            r.fail(str(err), err.exception)
    report = CheckReport(kind, s.label, s.reference_label(), [results[p].rep for p in s.positions], s.rule_dtype, s.notes)
    if raise_on_failure:
        report.assert_ok()
    return report


def _check_empty(s, subject, results):
    """Zero-size output or argument: nothing to compare, but the shapes are still checked."""
    if s.kind == "vjp":
        got = subject.vjp(np.zeros(s.out_shape, dtype=s.out_dtype))
        for p, g in got.items():
            if isinstance(g, str):
                results[p].fail(g)
    elif s.kind == "jvp":
        for p in s.positions:
            h = subject.jvp(p, np.zeros_like(s.arrays[p]))
            if isinstance(h, str):
                results[p].fail(h)
    else:
        for p, item in subject.jacobian().items():
            if isinstance(item, str):
                results[p].fail(item)


def _check_full(s, subject, results, rng):
    n_out = s.n_out
    R, problems = {}, {}
    if s.kind == "vjp":
        for p in s.positions:
            R[p] = np.zeros((n_out, s.arrays[p].size))
        for i in range(n_out):
            e = np.zeros(n_out, dtype=s.out_dtype)
            e[i] = 1
            got = subject.vjp(e.reshape(s.out_shape))
            for p, g in got.items():
                if p in problems:
                    continue
                if isinstance(g, str):
                    problems[p] = g
                else:
                    R[p][i] = np.asarray(g, dtype=np.float64).reshape(-1)
    elif s.kind == "jvp":
        for p in s.positions:
            n_in = s.arrays[p].size
            R[p] = np.zeros((n_out, n_in))
            for j in range(n_in):
                e = np.zeros(n_in, dtype=s.arrays[p].dtype)
                e[j] = 1
                h = subject.jvp(p, e.reshape(s.arrays[p].shape))
                if isinstance(h, str):
                    problems[p] = h
                    break
                R[p][:, j] = np.asarray(h, dtype=np.float64).reshape(-1)
    else:
        for p, item in subject.jacobian().items():
            if isinstance(item, str):
                problems[p] = item
            else:
                R[p] = np.asarray(item[1], dtype=np.float64).reshape(n_out, -1)
                s.eps_rule = max(s.eps_rule, float(np.finfo(item[2]).eps) if np.dtype(item[2]).kind == "f" else 0.0)

    composite = {}
    for p in s.positions:
        if p in problems:
            results[p].fail(problems[p])
            continue
        J, E, M, tol, col_step, col_h, _ = full_block(s, p, s.references[p], R[p], results[p])
        report_full(s, p, results[p], R[p], J, tol, M, col_step, col_h)
        composite[p] = (J, E, M, col_step, col_h)

    # One random cotangent / tangent, compared entry by entry: catches a rule that is not linear
    # in its cotangent, and exercises the rounding of realistic sums.
    if s.kind == "vjp" and composite:
        u = _random_like(rng, s.out_shape, s.out_dtype)
        got = subject.vjp(u)
        u64 = u.astype(np.float64).reshape(-1)
        for p, (J, E, M, col_step, col_h) in composite.items():
            g = got[p]
            if isinstance(g, str):
                results[p].fail(g)
                continue
            tol, Mw = probe_tolerance(J, E, M, u64, 0, s.eps_rule)
            in_shape = s.arrays[p].shape
            results[p].add(
                np.asarray(g, dtype=np.float64).reshape(-1), u64 @ J, tol, Mw,
                out_index=lambda k: None, in_index=lambda k, sh=in_shape: unravel(k, sh),
                step=lambda k, cs=col_step: cs[k], abs_step=lambda k, ch=col_h: ch[k],
                compared=lambda k, sh=in_shape, nm=s.names[p]: (
                    f"entry {index_text(unravel(k, sh))} of your vjp's gradient for {nm!r} at a random cotangent u"
                ),
                primary=False,
            )
    elif s.kind == "jvp" and composite:
        for p, (J, E, M, col_step, col_h) in composite.items():
            scale = np.maximum(np.abs(s.args64[p]), 1.0)
            v = _random_like(rng, s.arrays[p].shape, s.arrays[p].dtype, scale)
            h = subject.jvp(p, v)
            if isinstance(h, str):
                results[p].fail(h)
                continue
            v64 = v.astype(np.float64).reshape(-1)
            tol, Mw = probe_tolerance(J, E, M, v64, 1, s.eps_rule)
            steps = [c for c in col_step if c is not None]
            results[p].add(
                np.asarray(h, dtype=np.float64).reshape(-1), J @ v64, tol, Mw,
                out_index=lambda k: unravel(k, s.out_shape), in_index=lambda k: None,
                step=max(steps) if steps else None, abs_step=None,
                compared=lambda k, nm=s.names[p]: (
                    f"entry {index_text(unravel(k, s.out_shape))} of your jvp's output at a random tangent v of {nm!r}"
                ),
                primary=False,
            )


def _check_dot(s, subject, results, rng):
    if s.kind == "jacobian":
        blocks = subject.jacobian()
        for p, item in blocks.items():
            if isinstance(item, str):
                results[p].fail(item)
            elif np.dtype(item[2]).kind == "f":
                s.eps_rule = max(s.eps_rule, float(np.finfo(item[2]).eps))
    for probe in range(s.probes):
        u = _random_like(rng, s.out_shape, s.out_dtype)
        u64 = u.astype(np.float64)
        vs = {
            p: _random_like(rng, s.arrays[p].shape, s.arrays[p].dtype, np.maximum(np.abs(s.args64[p]), 1.0))
            for p in s.positions
        }
        grads = subject.vjp(u) if s.kind == "vjp" else None
        for p in s.positions:
            if results[p].rep.problem is not None:
                continue
            v64 = vs[p].astype(np.float64)
            if s.kind == "vjp":
                g = grads[p]
                if isinstance(g, str):
                    results[p].fail(g)
                    continue
                g64 = np.asarray(g, dtype=np.float64)
                value, magnitude = float(np.sum(g64 * v64)), float(np.sum(np.abs(g64 * v64)))
                what = "<vjp(u), v> for random u, v"
            elif s.kind == "jvp":
                h = subject.jvp(p, vs[p])
                if isinstance(h, str):
                    results[p].fail(h)
                    continue
                h64 = np.asarray(h, dtype=np.float64)
                value, magnitude = float(np.sum(u64 * h64)), float(np.sum(np.abs(u64 * h64)))
                what = "<u, jvp(v)> for random u, v"
            else:
                J = blocks[p][0]
                Jv = J.jvp(vs[p]) if isinstance(J, Jacobian) else np.tensordot(J, vs[p], axes=vs[p].ndim)
                Jv64 = np.asarray(Jv, dtype=np.float64)
                value, magnitude = float(np.sum(u64 * Jv64)), float(np.sum(np.abs(u64 * Jv64)))
                what = "<u, J v> with your Jacobian, for random u, v"
            dot_compare(s, p, s.references[p], results[p], u64, v64, value, magnitude, probe, what)


def _with_common_args(fun):
    """Fill the ``{common_args}`` placeholder of a checker's docstring (shared Args/Returns/Raises)."""
    fun.__doc__ = fun.__doc__.replace("{common_args}", _COMMON_ARGS.strip("\n"))
    return fun


_COMMON_ARGS = """
        argnums: positions or names of the arguments to check (default: all).
        mode: ``"full"`` (every entry), ``"dot"`` (``<u, J v>`` with random u, v) or ``"auto"``
            (full when the output and each checked argument have <= FULL_MODE_MAX_SIZE entries).
        reference: ``"auto"`` (the registered rule's Jacobian when ``f`` is a registered rule,
            else finite differences), ``"rule"`` or ``"numerical"``.
        kwargs: non-array keyword options passed to ``f`` and to the rule (e.g. ``{"axis": 1}``).
        names: names of the arguments (default: the rule's, else ``f``'s parameter names).
        step: relative base step of the finite differences (default ``DEFAULT_STEP``).
        seed: seed of the random cotangents and tangents.
        probes: number of random ``(u, v)`` pairs in dot mode.
        check_dtype: require results in the argument's (vjp) or output's (jvp) dtype.
        raise_on_failure: raise ``AssertionError`` when the check fails (the default, for pytest);
            with False the report is returned either way.

    Returns:
        A :class:`CheckReport` (``.ok``, one :class:`ArgumentReport` per checked argument).

    Raises:
        AssertionError: the rule is wrong (unless ``raise_on_failure=False``); the message names
            the argument, the worst entry, the rule's and the reference value and the step.
        ValueError: bad ``argnums``, ``mode``, ``reference``, ``probes`` or ``step``, or ``f``
            cannot be evaluated at the point.
"""


@_with_common_args
def check_vjp(f, vjp, *args, argnums=None, mode="auto", reference="auto", kwargs=None, names=None, step=None,
              seed=0, probes=3, check_dtype=None, raise_on_failure=True, cotangent_last=False) -> CheckReport:
    """Check a vector-Jacobian product rule ``vjp(cotangent, *args)`` of ``f`` at ``args``.

    ``vjp`` returns one array per argument of ``f`` (a tuple or list; a single array when one
    argument is checked), each with its argument's true shape and dtype: the gradient of
    ``sum(cotangent * f(*args))``.  This is the signature of note 002's ``*_vjp`` functions;
    with ``cotangent_last=True`` it is called as ``vjp(*args, cotangent)``.

    Args:
        f: the function (numpy arrays in, one array out), a registered rule or its name.
        vjp: the rule under test.
        *args: the point, float32 or float64 arrays; the rule runs in their dtype.
        cotangent_last: call ``vjp(*args, cotangent)`` instead of ``vjp(cotangent, *args)``.
{common_args}

    >>> import numpy as np
    >>> from tensorjac.testing import check_vjp
    >>> def mul_vjp(g, a, b):
    ...     return g * b, g * a
    >>> a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    >>> check_vjp(np.multiply, mul_vjp, a, b).ok
    True
    >>> def swapped_vjp(g, a, b):
    ...     return g * a, g * b
    >>> check_vjp(np.multiply, swapped_vjp, a, b)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: check_vjp(multiply) FAILED for argument 'x1' (position 0, shape (2,), float64)...
    """
    return _run("vjp", f, vjp, args, argnums=argnums, mode=mode, reference=reference, kwargs=kwargs, names=names,
                step=step, seed=seed, probes=probes, check_dtype=check_dtype, raise_on_failure=raise_on_failure,
                cotangent_last=cotangent_last)


@_with_common_args
def check_jvp(f, jvp, *args, argnums=None, mode="auto", reference="auto", kwargs=None, names=None, step=None,
              seed=0, probes=3, check_dtype=None, raise_on_failure=True, tangents_as_tuple=True) -> CheckReport:
    """Check a Jacobian-vector product rule ``jvp(tangents, *args)`` of ``f`` at ``args``.

    ``tangents`` is a tuple with one array per argument of ``f`` (zeros for the arguments not
    being perturbed); ``jvp`` returns the output tangent, of ``f``'s output shape and dtype.
    With ``tangents_as_tuple=False`` (one-argument ``f`` only) it gets the bare array.

    Args:
        f: the function (numpy arrays in, one array out), a registered rule or its name.
        jvp: the rule under test.
        *args: the point, float32 or float64 arrays; the rule runs in their dtype.
        tangents_as_tuple: pass the tangents as a tuple (default) or, for one argument, as the array.
{common_args}

    >>> import numpy as np
    >>> from tensorjac.testing import check_jvp
    >>> def exp_jvp(tangents, x):
    ...     (t,) = tangents
    ...     return t * np.exp(x)
    >>> check_jvp(np.exp, exp_jvp, np.array([0.5, -1.0])).ok
    True
    """
    return _run("jvp", f, jvp, args, argnums=argnums, mode=mode, reference=reference, kwargs=kwargs, names=names,
                step=step, seed=seed, probes=probes, check_dtype=check_dtype, raise_on_failure=raise_on_failure,
                tangents_as_tuple=tangents_as_tuple)


@_with_common_args
def check_jacobian(f, jac, *args, argnums=None, mode="auto", reference="auto", kwargs=None, names=None, step=None,
                   seed=0, probes=3, check_dtype=None, raise_on_failure=True) -> CheckReport:
    """Check a Jacobian rule ``jac(*args)`` of ``f`` at ``args``.

    ``jac`` returns the Jacobian blocks, one per argument, each of shape
    ``f(*args).shape + arg.shape`` (tensorjac's layout): a :class:`~tensorjac.Blocks`, a dict
    by argument name, a tuple/list, or a single :class:`~tensorjac.Jacobian` or array when
    one argument is checked.  To check a registered rule's own Jacobian against finite
    differences, pass ``rule.jacobian`` and ``reference="numerical"``.

    Args:
        f: the function (numpy arrays in, one array out), a registered rule or its name.
        jac: the rule under test.
        *args: the point, float32 or float64 arrays; the rule runs in their dtype.
{common_args}

    >>> import numpy as np, tensorjac as tj
    >>> from tensorjac.testing import check_jacobian
    >>> rule = tj.get_rule("tanh")
    >>> x = np.array([[0.5, -2.0]], dtype=np.float32)
    >>> report = check_jacobian(rule.fun, rule.jacobian, x, reference="numerical")
    >>> report.ok, report["x"].dtype, report["x"].mode
    (True, 'float32', 'full')
    """
    return _run("jacobian", f, jac, args, argnums=argnums, mode=mode, reference=reference, kwargs=kwargs,
                names=names, step=step, seed=seed, probes=probes, check_dtype=check_dtype,
                raise_on_failure=raise_on_failure)


