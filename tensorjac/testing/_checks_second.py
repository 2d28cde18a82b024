"""The second-derivative checkers: ``check_hessian`` (a Hessian rule) and ``check_hvp`` (a Hessian-vector product rule).

The reference, the error model and the report are in :mod:`tensorjac.testing._second_reference`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._hessian import Hessian, contract_vector
from .._numerical_second import hessian_pairs
from ..numerical import FiniteDifferenceError
from ..trace import HessianBlocks
from ._compare import FLOOR_FACTOR, REFERENCE_SAFETY, RETRY_FACTORS, ROUNDING_FACTOR, unravel
from ._report import index_text
from ._second_reference import SecondCheckReport, _call, _compare_block, _Point, _refuse_powerless, _Result
from ._setup import FULL_MODE_MAX_SIZE, RuleError, check_flag

__all__ = ["check_hessian", "check_hvp"]

_EPS64 = float(np.finfo(np.float64).eps)
HVP_MODES = ("auto", "full", "vector")


# ---- check_hessian ---------------------------------------------------------------------------------

_MISSING = object()


def _as_block(s, p, q, item, label):
    """A block the rule gave (for the pair (p, q)) as a float64 array (n_out, n_p, n_q), or a problem string."""
    x, y = s.names[p], s.names[q]
    expected = s.out_shape + s.arrays[p].shape + s.arrays[q].shape
    if item is None:
        return f"the Hessian rule returned None for the block {label}"
    try:
        arr = item.dense() if isinstance(item, Hessian) else np.asarray(item)
    except (MemoryError, ValueError, TypeError) as exc:
        return f"the Hessian rule's block {label} could not be made an array: {type(exc).__name__}: {exc}"
    if arr.dtype.kind not in "fiu":
        return f"the Hessian rule's block {label} has dtype {arr.dtype}; it must hold real numbers"
    if arr.shape != expected:
        swapped = s.out_shape + s.arrays[q].shape + s.arrays[p].shape
        hint = (f" (the layout of the block ({y!r}, {x!r}): transposed?)"
                if p != q and arr.shape == swapped and swapped != expected else "")
        return (f"the Hessian rule's block {label} has shape {arr.shape}, expected {expected} = f's output shape "
                f"{s.out_shape} + the shape of {x!r} {s.arrays[p].shape} + the shape of {y!r} {s.arrays[q].shape}{hint}")
    if arr.dtype.kind == "f":
        s.eps_rule = max(s.eps_rule, float(np.finfo(arr.dtype).eps))
    return arr.astype(np.float64).reshape(s.n_out, s.arrays[p].size, s.arrays[q].size)


def _rule_blocks(s, out, pairs):
    """``{(p, q): [(block or problem, label, transposed)]}`` from what the Hessian rule returned."""
    nm = s.names
    label = lambda p, q: repr((nm[p], nm[q]))  # noqa: E731
    if isinstance(out, Mapping):
        def look(a, b):
            return next((out[k] for k in ((nm[a], nm[b]), (a, b)) if k in out), _MISSING)
        found = {}
        for p, q in pairs:
            items = [(look(p, q), label(p, q), False)] + ([(look(q, p), label(q, p), True)] if p != q else [])
            items = [it for it in items if it[0] is not _MISSING]
            found[p, q] = items or [(f"the Hessian rule's dict has no block {label(p, q)} (nor {label(q, p)}); its "
                                     f"keys are {list(out)}", None, False)]
        return found
    if isinstance(out, HessianBlocks):
        wanted = [nm[p] for p in s.positions]
        if all(n in out.names for n in wanted):
            key = lambda p: nm[p]  # noqa: E731
        elif len(out.names) == len(wanted):
            key = s.positions.index
        else:
            problem = f"the Hessian rule's HessianBlocks has the arguments {list(out.names)}, not the checked {wanted}"
            return {pq: [(problem, None, False)] for pq in pairs}
        return {(p, q): [(out[key(p), key(q)], label(p, q), False)] for p, q in pairs}
    if len(s.positions) != 1:
        problem = (f"the Hessian rule returned a single {type(out).__name__}, but {len(s.positions)} arguments are "
                   "checked: return tensorjac.HessianBlocks (tj.hessian with tuple argnums) or a dict "
                   "{(name, name): block}")
        return {pq: [(problem, None, False)] for pq in pairs}
    p = s.positions[0]
    return {(p, p): [(out, label(p, p), False)]}


def check_hessian(f, hess, *args, argnums=None, reference="auto", kwargs=None, names=None, step=None,
                  raise_on_failure=True) -> SecondCheckReport:
    """Check a Hessian rule ``hess(*args)`` of ``f`` at ``args``, block by block and entry by entry.

    ``hess`` returns the second derivatives in tensorjac's layout, block ``(x, y)`` of shape
    ``f(*args).shape + x.shape + y.shape``: a :class:`~tensorjac.Hessian` or a dense array (one
    argument checked), a :class:`~tensorjac.HessianBlocks`, or a dict ``{(name, name): block}``
    (names or positions; a pair given in one order is enough, both orders are checked when given).
    Every block of every pair of checked arguments is compared entry by entry with the
    reference (see :mod:`tensorjac.testing._second_reference` for the reference and the error model).

    Args:
        f: the function (numpy arrays in, one array out), a registered rule or its name.
        hess: the rule under test, called as ``hess(*args, **kwargs)`` in the arguments' dtype.
        *args: the point, float32 or float64 arrays.
        argnums: positions or names of the arguments to check (default: all).
        reference: ``"auto"`` (``tj.hessian`` when it can differentiate ``f``, else
            ``numerical_hessian``), ``"hessian"`` or ``"numerical"``.
        kwargs: non-array keyword options passed to ``f`` and to the rule.
        names: names of the arguments (default: the rule's, else ``f``'s parameter names).
        step: relative base step of the finite differences (default ``numerical_hessian``'s).
        raise_on_failure: raise ``AssertionError`` when the check fails (the default, for pytest).

    Returns:
        A :class:`SecondCheckReport` (``.ok``; ``report["x", "y"]`` the block's report).

    Raises:
        AssertionError: the rule is wrong (unless ``raise_on_failure=False``); the message names
            the block, the worst entry, the rule's and the reference value and the step.
        ValueError: ``hess`` not callable; bad ``argnums``, ``reference``, ``step``, ``names``,
            ``kwargs`` or flags; ``f`` or the reference not finite at the point; a point where
            the reference cannot resolve any nonzero value of the rule.
        TypeError: arguments that are not real arrays; ``f`` returning ``None``, complex or
            non-numeric values.
        MemoryError: the reference's blocks would exceed the dense budget.
        (With ``reference="hessian"``, what ``tj.hessian`` raises when it cannot differentiate
        ``f``: ``tensorjac.TracingError``, ``tensorjac.NoRuleError``.)

    >>> import numpy as np
    >>> from tensorjac.testing import check_hessian
    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> f = lambda x, y: x @ A @ y + np.sum(x ** 2)
    >>> right = lambda x, y: {("x", "x"): 2 * np.eye(2), ("x", "y"): A, ("y", "y"): np.zeros((2, 2))}
    >>> check_hessian(f, right, np.ones(2), np.ones(2)).ok
    True
    >>> transposed = lambda x, y: {("x", "x"): 2 * np.eye(2), ("x", "y"): A.T, ("y", "y"): np.zeros((2, 2))}
    >>> check_hessian(f, transposed, np.ones(2), np.ones(2))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: check_hessian(<lambda>) FAILED for the block ('x', 'y') ...
      worst entry: d² f / d x[1] d y[0]
    ...
    """
    raise_on_failure = check_flag(raise_on_failure, "raise_on_failure")
    if not callable(hess):
        raise ValueError(f"the Hessian rule under test must be callable, got {type(hess).__name__}")
    s = _Point("hessian", f, args, names, kwargs, reference, argnums, step)
    nm, pos = s.names, s.positions
    pairs = [(p, q) for k, p in enumerate(pos) for q in pos[k:]]
    results = {(p, q): _Result(s, (nm[p], nm[q]), (p, q), (s.arrays[p].shape, s.arrays[q].shape), s.rule_dtype, "full")
               for p, q in pairs}
    try:
        found = _rule_blocks(s, _call(s, hess, "Hessian rule", *s.arrays), pairs)
    except RuleError as err:
        found = {}
        for r in results.values():
            r.fail(str(err), err.exception)
    blocks = {pq: [(it if label is None else _as_block(s, *(pq[::-1] if tr else pq), it, label), label, tr)
                   for it, label, tr in items] for pq, items in found.items()}
    for (p, q), items in blocks.items():
        for block, label, transposed in items:
            if isinstance(block, str):
                results[p, q].fail(block)
                break
            R = block.transpose(0, 2, 1) if transposed else block

            def what(o, i, j, label=label, transposed=transposed):
                entry = (unravel(o, s.out_shape), unravel(i, s.arrays[p].shape), unravel(j, s.arrays[q].shape))
                first, second = (entry[2], entry[1]) if transposed else (entry[1], entry[2])
                return f"entry {index_text(entry[0])} + {index_text(first)} + {index_text(second)} of your block {label}"

            _compare_block(s, results[p, q], p, q, R, what)
    for r in results.values():
        _refuse_powerless(s, r)
    report = SecondCheckReport("hessian", s.label, s.reference_label(), [r.rep for r in results.values()],
                               s.rule_dtype, s.notes)
    return report.assert_ok() if raise_on_failure else report


# ---- check_hvp ---------------------------------------------------------------------------------------


def _hvp_values(s, hvp, vs, check_dtype):
    """``{p: float64 flat array or problem string}`` of ``hvp(tangents, *args)`` for tangents ``vs`` (zeros elsewhere)."""
    nm, sel, n = s.names, s.positions, len(s.arrays)
    tangents = tuple(np.asarray(vs[p], dtype=a.dtype) if p in vs else np.zeros_like(a) for p, a in enumerate(s.arrays))
    out = _call(s, hvp, "hvp", tangents, *s.arrays)
    if isinstance(out, (tuple, list)) and len(out) in (n, len(sel)):
        per = {p: out[p] for p in sel} if len(out) == n else dict(zip(sel, out))
    elif isinstance(out, (tuple, list)):
        expected = f"{n}" if len(sel) == n else f"{n} (one per argument) or {len(sel)} (one per checked argument)"
        raise RuleError(f"the hvp returned {len(out)} array(s), expected {expected}")
    elif len(sel) == 1 and out is not None:
        per = {sel[0]: out}
    else:
        raise RuleError(f"the hvp returned a {type(out).__name__}; it must return a tuple with one array per argument "
                        f"of f ({n}), each shaped like its argument")
    found = {}
    for p, g in per.items():
        arr = None if g is None else np.asarray(g)
        if arr is None or arr.dtype.kind not in "fiu":
            found[p] = f"the hvp returned {'None' if arr is None else f'dtype {arr.dtype}'} for argument {nm[p]!r}"
        elif arr.shape != s.arrays[p].shape:
            found[p] = (f"the hvp returned shape {arr.shape} for argument {nm[p]!r}, expected its shape "
                        f"{s.arrays[p].shape} (H v has the shape of the argument)")
        elif check_dtype and arr.dtype != s.arrays[p].dtype:
            found[p] = (f"the hvp returned dtype {arr.dtype} for argument {nm[p]!r} of dtype {s.arrays[p].dtype} "
                        "(check_dtype=False allows it)")
        else:
            if arr.dtype.kind == "f":
                s.eps_rule = max(s.eps_rule, float(np.finfo(arr.dtype).eps))
            found[p] = arr.astype(np.float64).reshape(-1)
    return found


def _random_tangents(s, rng):
    return {p: np.asarray(rng.standard_normal(s.arrays[p].shape) * np.maximum(np.abs(s.args64[p]), 1.0),
                          dtype=s.arrays[p].dtype) for p in s.positions}


def _hvp_full(s, hvp, results, rng, check_dtype):
    """Every column of the Hessian (one unit tangent per checked entry), then one random tangent."""
    nm, sel = s.names, s.positions
    R = {(p, q): np.zeros((1, s.arrays[p].size, s.arrays[q].size)) for p in sel for q in sel}
    problems = {}
    for q in sel:
        for k in range(s.arrays[q].size):
            e = np.zeros(s.arrays[q].size)
            e[k] = 1
            for p, got in _hvp_values(s, hvp, {q: e.reshape(s.arrays[q].shape)}, check_dtype).items():
                if isinstance(got, str):
                    problems.setdefault(p, got)
                elif p not in problems:
                    R[p, q][0, :, k] = got
    for p in sel:
        if p in problems:
            results[p].fail(problems[p])
            continue
        for q in sel:
            def what(o, i, j, p=p, q=q):
                return (f"entry {index_text(unravel(i, s.arrays[p].shape))} of your hvp's result for {nm[p]!r} at the "
                        f"unit tangent e{index_text(unravel(j, s.arrays[q].shape))} of {nm[q]!r}")
            _compare_block(s, results[p], p, q, R[p, q], what)
    # one random tangent for all checked arguments at once: the rule must be linear in it
    vs = _random_tangents(s, rng)
    got = _hvp_values(s, hvp, vs, check_dtype)
    for p in sel:
        if p in problems:
            continue
        if isinstance(got[p], str):
            results[p].fail(got[p])
            continue
        ref, E, mag = 0.0, 0.0, 0.0
        for q in sel:
            H, Eq, _ = s.block(p, q)
            _, M = s.tolerance(p, q, H, Eq, R[p, q])
            w = vs[q].astype(np.float64).reshape(-1)
            ref, E, mag = ref + H[0] @ w, E + Eq[0] @ np.abs(w), mag + M[0] @ np.abs(w)
        tol = REFERENCE_SAFETY * E + ROUNDING_FACTOR * (s.eps_rule / _EPS64 + 1) * mag
        tol = tol + FLOOR_FACTOR * s.eps_rule / _EPS64 * (mag.max() if mag.size else 0.0)
        _add_vector(s, results[p], p, got[p], ref, tol, mag, REFERENCE_SAFETY * E, primary=False)


def _add_vector(s, result, p, rule, ref, tol, mag, ref_err, primary=True, step=None, probe=None):
    where = "" if probe is None else f" (probe {probe + 1})"
    result.add(
        rule, ref, tol, mag, out_index=lambda k: (), in_index=lambda k: ((s.names[p], unravel(k, s.arrays[p].shape)), None),
        step=step, abs_step=None, primary=primary, ref_err=ref_err,
        compared=lambda k: (f"entry {index_text(unravel(k, s.arrays[p].shape))} of your hvp's result for {s.names[p]!r} "
                            f"at a random tangent v{where}"),
    )


def _directional(s, vs, factor=1.0):
    """``{p: (H v, its error, steps)}`` by finite differences: the mixed block of ``(x_p, t)`` of ``f(x + t v)``."""
    T = len(s.args64)
    point = [np.array(a, dtype=np.float64, order="C") for a in s.args64] + [np.zeros(())]
    v64 = {p: np.asarray(v, dtype=np.float64) for p, v in vs.items()}

    def g(*a):
        return s.call(*[a[i] + a[T] * v64[i] if i in v64 else a[i] for i in range(T)])

    try:
        found = hessian_pairs(g, point, s.names + ("t",), s.ans64, [(p, T) for p in s.positions], s.base * factor, s.f_eps)
    except FiniteDifferenceError as exc:
        raise s.failed_reference(exc) from exc
    return {p: (H.reshape(-1), E.reshape(-1), st.reshape(-1)) for (p, _), (H, E, st) in found.items()}


def _hvp_vector(s, hvp, results, rng, probes, check_dtype):
    """``probes`` random tangents, ``H v`` compared entry by entry (never building ``H``)."""
    g = s._grads if s.traced() else s.grads()
    for probe in range(probes):
        vs = _random_tangents(s, rng)
        got = _hvp_values(s, hvp, vs, check_dtype)
        if s.traced():
            H = s.exact
            ref = {p: sum(contract_vector(H[s.positions.index(p), s.positions.index(q)], None,
                                          vs[q].astype(np.float64)).reshape(-1) for q in s.positions)
                   for p in s.positions}
            refs = [{p: (r, np.zeros_like(r), None) for p, r in ref.items()}]
        else:
            refs = [_directional(s, vs)]
        rms = float(np.sqrt(np.mean(np.concatenate([vs[q].astype(np.float64).reshape(-1) ** 2 for q in s.positions]))))
        for p in s.positions:
            if results[p].rep.problem is not None:
                continue
            if isinstance(got[p], str):
                results[p].fail(got[p])
                continue
            best = None
            for attempt, factor in enumerate((1.0,) + (RETRY_FACTORS if not s.traced() else ())):
                if attempt == len(refs):
                    refs.append(_directional(s, vs, factor))
                if attempt:
                    results[p].steps_used([s.base * factor])
                ref, E, st = refs[attempt][p]
                mag = _EPS64 * (np.abs(ref) + (g[p][0] + abs(float(s.ans64))) * rms)
                tol = REFERENCE_SAFETY * E + ROUNDING_FACTOR * (s.eps_rule / _EPS64 + 1) * mag
                tol = tol + FLOOR_FACTOR * s.eps_rule / _EPS64 * (mag.max() if mag.size else 0.0)
                ratio = np.abs(got[p] - ref) / np.maximum(tol, np.finfo(np.float64).tiny)
                if best is None:
                    best = [ref.copy(), E.copy(), tol, mag, ratio, None if st is None else st.copy()]
                else:
                    take = ratio < best[4]
                    for b, new in zip(best, (ref, E, tol, mag, ratio, st)):
                        b[take] = new[take]
                if np.all(best[4] <= 1):
                    break
            ref, E, tol, mag, _, st = best
            _add_vector(s, results[p], p, got[p], ref, tol, mag, REFERENCE_SAFETY * E,
                        step=None if st is None else (lambda k, st=st: float(st[k])), probe=probe)


def check_hvp(f, hvp, *args, argnums=None, mode="auto", reference="auto", kwargs=None, names=None, step=None,
              seed=0, probes=3, check_dtype=True, raise_on_failure=True) -> SecondCheckReport:
    """Check a Hessian-vector product rule ``hvp(tangents, *args)`` of a scalar ``f`` at ``args``.

    ``tangents`` is a tuple with one array per argument of ``f`` (zeros for the arguments not
    being checked), in the arguments' dtypes; ``hvp`` returns ``H v``: a tuple with one array per
    argument (or per checked argument; a bare array when one argument is checked), each of its
    argument's shape and dtype, ``sum_q d²f / dx_p dx_q . v_q`` (what :func:`tensorjac.hvp` gives).

    ``mode="full"`` calls ``hvp`` with a unit tangent per checked entry and compares every
    entry of every block ``d²f / dx_p dx_q`` (plus one random tangent, compared as ``H v``);
    ``mode="vector"`` compares ``H v`` for ``probes`` random tangents entry by entry, against
    the reference's ``H v`` (``tj.hessian``'s structured blocks contracted with ``v``, or one
    mixed second difference per entry along ``v``: never the whole Hessian).  ``"auto"`` picks
    full when the checked arguments have at most ``FULL_MODE_MAX_SIZE`` entries together.

    Args:
        f: a scalar-valued function (numpy arrays in, a 0-d array out), a registered rule or its name.
        hvp: the rule under test.
        *args: the point, float32 or float64 arrays; the rule runs in their dtype.
        argnums, reference, kwargs, names, step, raise_on_failure: as for :func:`check_hessian`.
        mode: ``"auto"``, ``"full"`` or ``"vector"``.
        seed: seed of the random tangents; ``probes``: their number in vector mode.
        check_dtype: require each result in its argument's dtype.

    Returns:
        A :class:`SecondCheckReport` (``.ok``; ``report["x"]`` the report of x's ``(H v)_x``).

    Raises:
        AssertionError: the rule is wrong (unless ``raise_on_failure=False``); the message names
            the argument, the worst entry (and the tangent's argument in full mode), both values
            and the step.
        ValueError: ``f`` not scalar-valued; ``hvp`` not callable; bad options (as
            :func:`check_hessian`, and ``mode``, ``seed``, ``probes``).
        TypeError: arguments that are not real arrays; ``f`` returning non-numeric values.

    >>> import numpy as np
    >>> from tensorjac.testing import check_hvp
    >>> f = lambda x, y: np.sum(x ** 2 * y)
    >>> def hvp(tangents, x, y):
    ...     tx, ty = tangents
    ...     return 2 * y * tx + 2 * x * ty, 2 * x * tx
    >>> check_hvp(f, hvp, np.array([1.0, 2.0]), np.array([3.0, -1.0])).ok
    True
    >>> def no_cross_term(tangents, x, y):
    ...     tx, ty = tangents
    ...     return 2 * y * tx, 0 * ty
    >>> print(check_hvp(f, no_cross_term, np.array([1.0, 2.0]), np.array([3.0, -1.0]),
    ...                 raise_on_failure=False).message())  # doctest: +ELLIPSIS
    check_hvp(<lambda>) FAILED for the argument 'x' ...
      worst entry: d² f / d x[1] d y[1]
    ...
    """
    raise_on_failure = check_flag(raise_on_failure, "raise_on_failure")
    check_dtype = check_flag(check_dtype, "check_dtype")
    if mode not in HVP_MODES:
        raise ValueError(f"mode must be one of {list(HVP_MODES)}, got {mode!r}")
    if not isinstance(probes, (int, np.integer)) or isinstance(probes, bool) or probes < 1:
        raise ValueError(f"probes must be a positive int, got {probes!r}")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"seed must be an int (or None, a numpy Generator or SeedSequence), got {seed!r}") from exc
    if not callable(hvp):
        raise ValueError(f"the hvp under test must be callable, got {type(hvp).__name__}")
    s = _Point("hvp", f, args, names, kwargs, reference, argnums, step)
    if s.out_shape != ():
        raise ValueError(f"check_hvp needs a scalar-valued f (as tj.hvp does); f returned shape {s.out_shape}: check "
                         "the Hessian-vector product of np.sum(u * f(...)) for a fixed u, or the Hessian with "
                         "check_hessian")
    if mode == "auto":
        mode = "full" if sum(s.arrays[p].size for p in s.positions) <= FULL_MODE_MAX_SIZE else "vector"
    results = {p: _Result(s, s.names[p], p, s.arrays[p].shape, str(s.arrays[p].dtype), mode) for p in s.positions}
    try:
        (_hvp_full(s, hvp, results, rng, check_dtype) if mode == "full"
         else _hvp_vector(s, hvp, results, rng, probes, check_dtype))
    except RuleError as err:
        for r in results.values():
            r.fail(str(err), err.exception)
    for r in results.values():
        _refuse_powerless(s, r)
    report = SecondCheckReport("hvp", s.label, s.reference_label(), [r.rep for r in results.values()],
                               s.rule_dtype, s.notes)
    return report.assert_ok() if raise_on_failure else report
