"""The three public checkers: ``check_vjp``, ``check_jvp``, ``check_jacobian``, in full and dot-product modes."""

from __future__ import annotations

import numpy as np

from .._jacobian import Jacobian
from ._compare import (
    FORMULA_SIGMAS, ROUNDING_FACTOR, Result, dot_compare, dot_self, full_block, pow2_scale, probe_tolerance,
    report_full, unravel,
)
from ._report import CheckReport, fmt, index_text
from ._setup import RuleError, Setup, check_flag
from ._subject import Subject

_EPS64 = float(np.finfo(np.float64).eps)
#: Tries at ever smaller scales of the random vectors when a value of the dot test overflows.
SCALE_TRIES = 4

__all__ = ["check_vjp", "check_jvp", "check_jacobian"]


def _random_like(rng, shape, dtype, scale=None):
    x = rng.standard_normal(shape)
    if scale is not None:
        x = x * scale
    return np.asarray(x, dtype=dtype)


def _run(kind, f, rule_under_test, args, *, argnums, mode, reference, kwargs, names, step, seed, probes,
         check_dtype, raise_on_failure, cotangent_last=False, tangents_as_tuple=True):
    raise_on_failure = check_flag(raise_on_failure, "raise_on_failure")
    cotangent_last = check_flag(cotangent_last, "cotangent_last")
    tangents_as_tuple = check_flag(tangents_as_tuple, "tangents_as_tuple")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"seed must be an int (or None, a numpy Generator or SeedSequence), got {seed!r}") from exc
    setup = Setup(kind, f, args, names, kwargs, reference, argnums, mode, step, probes, check_dtype)
    subject = Subject(setup, rule_under_test, cotangent_last, tangents_as_tuple)
    results = {p: Result(setup, p, setup.references[p], setup.mode) for p in setup.positions}
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
    for p in s.positions:
        _refuse_powerless(s, p, results[p])
    report = CheckReport(kind, s.label, s.reference_label(), [results[p].rep for p in s.positions], s.rule_dtype, s.notes)
    if raise_on_failure:
        report.assert_ok()
    return report


def _refuse_powerless(s, pos, result):
    """A passing check whose every nonzero rule value the reference cannot tell from zero has no power: raise."""
    r = result
    if not r.rep.ok or r.nonzero == 0 or r.unresolved < r.nonzero:
        return
    rule, ref, err, where = r.unresolved_example
    raise ValueError(
        f"check_{s.kind}: the point is outside the range where the check is meaningful for argument "
        f"{s.names[pos]!r}: every nonzero value of the rule (e.g. {fmt(rule)}, {where}) is within the "
        f"finite-difference reference's own error ({fmt(err)}; reference value {fmt(ref)}), so a rule off by 50% "
        "would pass too.  f's values near the point do not resolve derivatives that small (they underflow or "
        "round away); check at a point where they do, or against a registered rule's Jacobian"
    )


def _limit(s) -> float:
    """The largest magnitude the rule's values should reach: its dtype's largest float, with headroom."""
    return float(np.finfo(np.dtype(s.rule_dtype)).max) * 2.0**-16


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
        report_full(s, p, results[p], R[p], J, E, tol, M, col_step, col_h)
        composite[p] = (J, E, M, col_step, col_h)

    # One random cotangent / tangent, compared entry by entry: catches a rule that is not linear
    # in its cotangent, and exercises the rounding of realistic sums.  It is scaled by a power of
    # two where the contracted values would overflow (exp(709.7) times a tangent of order 700).
    if s.kind == "vjp" and composite:
        u = _random_like(rng, s.out_shape, s.out_dtype)
        bound = max(float(np.max(np.abs(u.reshape(-1)) @ M, initial=0.0)) for _, _, M, _, _ in composite.values())
        u = (u * pow2_scale(bound / _EPS64, _limit(s))).astype(s.out_dtype)
        got = subject.vjp(u)
        u64 = u.astype(np.float64).reshape(-1)
        for p, (J, E, M, col_step, col_h) in composite.items():
            g = got[p]
            if isinstance(g, str):
                results[p].fail(g)
                continue
            tol, Mw, ref_err = probe_tolerance(J, E, M, u64, 0, s.eps_rule)
            in_shape = s.arrays[p].shape
            results[p].add(
                np.asarray(g, dtype=np.float64).reshape(-1), u64 @ J, tol, Mw,
                out_index=lambda k: None, in_index=lambda k, sh=in_shape: unravel(k, sh),
                step=lambda k, cs=col_step: cs[k], abs_step=lambda k, ch=col_h: ch[k],
                compared=lambda k, sh=in_shape, nm=s.names[p]: (
                    f"entry {index_text(unravel(k, sh))} of your vjp's gradient for {nm!r} at a random cotangent u"
                ),
                primary=False, ref_err=ref_err,
            )
    elif s.kind == "jvp" and composite:
        for p, (J, E, M, col_step, col_h) in composite.items():
            v = _random_like(rng, s.arrays[p].shape, s.arrays[p].dtype, np.maximum(np.abs(s.args64[p]), 1.0))
            bound = float(np.max(M @ np.abs(v.reshape(-1)), initial=0.0))
            v = (v * pow2_scale(bound / _EPS64, _limit(s))).astype(s.arrays[p].dtype)
            h = subject.jvp(p, v)
            if isinstance(h, str):
                results[p].fail(h)
                continue
            v64 = v.astype(np.float64).reshape(-1)
            tol, Mw, ref_err = probe_tolerance(J, E, M, v64, 1, s.eps_rule)
            steps = [c for c in col_step if c is not None]
            results[p].add(
                np.asarray(h, dtype=np.float64).reshape(-1), J @ v64, tol, Mw,
                out_index=lambda k: unravel(k, s.out_shape), in_index=lambda k: None,
                step=max(steps) if steps else None, abs_step=None,
                compared=lambda k, nm=s.names[p]: (
                    f"entry {index_text(unravel(k, s.out_shape))} of your jvp's output at a random tangent v of {nm!r}"
                ),
                primary=False, ref_err=ref_err,
            )


def _check_dot(s, subject, results, rng):
    blocks = blocks64 = None
    if s.kind == "jacobian":
        blocks = subject.jacobian(dense=False)
        for p, item in blocks.items():
            if isinstance(item, str):
                results[p].fail(item)
            elif np.dtype(item[2]).kind == "f":
                s.eps_rule = max(s.eps_rule, float(np.finfo(item[2]).eps))
        if s.eps_rule > _EPS64:
            blocks64 = _quietly(lambda: subject.jacobian(in64=True, dense=False))
    # f's values near the largest float: scale the random vectors down (by a power of two) from the start.
    start = pow2_scale(float(np.max(np.abs(s.ans64), initial=0.0)), _limit(s) * 2.0**-32)
    shrink = 2.0**-24 if s.eps_rule > _EPS64 else 2.0**-60
    for probe in range(s.probes):
        u = _random_like(rng, s.out_shape, s.out_dtype)
        vs = {
            p: _random_like(rng, s.arrays[p].shape, s.arrays[p].dtype, np.maximum(np.abs(s.args64[p]), 1.0))
            for p in s.positions
        }
        scale = start
        for attempt in range(SCALE_TRIES):
            if _dot_probe(s, subject, results, blocks, blocks64, u, vs, scale, probe, last=attempt == SCALE_TRIES - 1):
                break
            scale *= shrink


def _quietly(call):
    """The rule's results on the float64 point, or None if it cannot give them (then only float32 is compared)."""
    try:
        return call()
    except RuleError:
        return None


def _dot_values(s, subject, blocks, u, vs, scale, in64):
    """``{pos: (<u, J v>, its magnitude, its terms)}`` of the rule under test (``u`` or ``v`` scaled), or problem strings.

    The terms are ``vjp(u) * v`` (vjp) or ``u * jvp(v)`` (jvp, Jacobian), entry by entry.
    """
    dtype = np.float64 if in64 else None
    out = {}
    if s.kind == "vjp":
        us = (u * scale).astype(dtype or u.dtype)
        grads = subject.vjp(us, in64=in64)
    for p in s.positions:
        v64 = vs[p].astype(np.float64)
        if s.kind == "vjp":
            g = grads[p]
            if isinstance(g, str):
                out[p] = g
                continue
            terms = np.asarray(g, dtype=np.float64) * v64
            out[p] = (float(np.sum(terms)), float(np.sum(np.abs(terms))), terms)
            continue
        vsc = (vs[p] * scale).astype(dtype or vs[p].dtype)
        if s.kind == "jvp":
            h = subject.jvp(p, vsc, in64=in64)
            if isinstance(h, str):
                out[p] = h
                continue
        else:
            if blocks is None or isinstance(blocks.get(p), str):
                out[p] = "no Jacobian"
                continue
            J = blocks[p][0]
            h = J.jvp(vsc) if isinstance(J, Jacobian) else np.tensordot(J, vsc, axes=vsc.ndim)
        terms = u.astype(np.float64) * np.asarray(h, dtype=np.float64)
        out[p] = (float(np.sum(terms)), float(np.sum(np.abs(terms))), terms)
    return out


_WHAT = {
    "vjp": "<vjp(u), v> for random u, v",
    "jvp": "<u, jvp(v)> for random u, v",
    "jacobian": "<u, J v> with your Jacobian, for random u, v",
}


def _dot_probe(s, subject, results, blocks, blocks64, u, vs, scale, probe, last):
    """One pair (u, v) at one scale; False (nothing recorded) if a value overflowed and a smaller scale may help."""
    with np.errstate(over="ignore", invalid="ignore"):
        values = _dot_values(s, subject, blocks, u, vs, scale, in64=False)
        aux = None
        if s.eps_rule > _EPS64 and (s.kind != "jacobian" or blocks64 is not None):
            aux = _quietly(lambda: _dot_values(s, subject, blocks64, u, vs, scale, in64=True))
    finite = all(isinstance(v, str) or bool(np.isfinite(v[0]) and np.isfinite(v[1])) for v in values.values())
    if not finite and not last:
        return False
    u64 = u.astype(np.float64)
    what = _WHAT[s.kind]
    for p in s.positions:
        if results[p].rep.problem is not None:
            continue
        if isinstance(values[p], str):
            results[p].fail(values[p])
            continue
        value, magnitude, terms = values[p]
        v64 = vs[p].astype(np.float64)
        pair = None if aux is None or isinstance(aux.get(p), str) else aux[p]
        if pair is not None and np.isfinite(pair[0]) and np.isfinite(pair[1]):
            # A float32 rule, also run on the float64 point: its formula is held to the reference
            # within float32 relative errors of its terms, summed with random signs (an l2 norm, not
            # the l1 sum that loses sqrt(n)); and its float32 run, term by term, to float32 rounding of
            # its float64 run (absolute differences: no random signs to average a float32-only error away).
            allowance = FORMULA_SIGMAS * ROUNDING_FACTOR * s.eps_rule * float(np.sqrt(np.sum(pair[2] ** 2)))
            checked = dot_compare(s, p, s.references[p], results[p], u64, v64, pair[0], pair[1], probe,
                                  what + " (the rule run in float64)", scale, eps_rule=_EPS64,
                                  rule_words=f"your {s.kind} run on the float64 point", allowance=allowance)
            if checked:
                dot_self(s, results[p], u64, v64, terms, magnitude, pair[2], pair[1], probe, scale)
        else:
            checked = dot_compare(s, p, s.references[p], results[p], u64, v64, value, magnitude, probe, what, scale)
        if not checked:
            if not last:
                return False
            raise ValueError(
                f"check_{s.kind}: the reference <u, J v> for argument {s.names[p]!r} is not finite even with the "
                f"random vectors scaled by {scale:.3g}: the point is outside the range where the check is meaningful"
            )
    return True


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
        ValueError: bad ``argnums``, ``mode``, ``reference``, ``probes``, ``step``, ``names``,
            ``seed`` or flags; ``f`` or the reference not finite at the point; a point where the
            reference cannot resolve any nonzero value of the rule (the check would be vacuous).
        TypeError: arguments that are not real arrays; ``f`` returning ``None``, complex,
            integer or non-numeric values.
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


