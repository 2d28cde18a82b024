"""The reference, the error model and the report of ``check_hessian`` and ``check_hvp``.

**The reference** is the explicit Hessian in float64 at the same point: :func:`tensorjac.hessian`
of ``f`` when every operation of ``f`` has second-order rules (``reference="auto"`` tries it and
says in a note when it falls back; ``"hessian"`` insists on it), else
:func:`tensorjac.numerical_hessian` (``"numerical"`` forces it), whose blocks carry an error
estimate.  The rule under test runs in the arguments' dtype (float32 or float64).

**The error model** is that of :mod:`tensorjac.testing`, one derivative up.  An entry
``d² out[o] / dx[i] dy[j]`` passes when ``|rule - reference| <= tolerance`` with::

    tolerance = REFERENCE_SAFETY * E  +  ROUNDING_FACTOR * (eps_rule + eps_64) * M  +  floor

``E`` the reference's error estimate (0 for ``tj.hessian``), ``eps_rule`` the epsilon of the
rule's dtype, ``M = |H| + |df/dx_i| + |df/dy_j| + |f|`` (the last three where the entry is
nonzero: a float32 formula cancels values of the size of ``f`` and its gradient, as
``s * (1 - s) * (1 - 2 s)`` does) and ``floor = FLOOR_FACTOR * eps_rule * max(M)`` over the
block.  A float32 rule is thus held to about ``2e-6`` relative, a float64 rule to float64
rounding plus the finite differences' own error.  Before a numerical reference blames an
entry, the block is recomputed at the relative steps ``step * RETRY_FACTORS``; the entry passes
at any of them.  A check whose every nonzero rule value is within the finite differences'
own error cannot tell a right rule from a wrong one: it raises ``ValueError``.

**Failures** raise ``AssertionError`` (or, with ``raise_on_failure=False``, return a failing
:class:`SecondCheckReport`) naming the block ``('x', 'y')`` (``check_hvp``: the argument and
the tangent's argument), the worst entry ``d² out[o] / d x[i] d y[j]``, the rule's and the
reference's values, the tolerance and the finite-difference step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._numerical_second import default_step, hessian_pairs, numerical_hessian, output_eps
from ..numerical import FiniteDifferenceError, arg_names, check_names, check_step, numerical_jacobian
from ..rules import Rule, find_rule, get_rule
from ..trace import HessianBlocks, hessian, jacobian
from .._validation import select_args
from ._compare import FLOOR_FACTOR, REFERENCE_SAFETY, RETRY_FACTORS, ROUNDING_FACTOR, Result, unravel
from ._report import ArgumentReport, CheckReport, fmt, index_text, table
from ._setup import RuleError, _array, _value

__all__ = ["SecondCheckReport", "REFERENCES"]

_EPS64 = float(np.finfo(np.float64).eps)
REFERENCES = ("auto", "hessian", "numerical")


# ---- The point, the reference and the error model -----------------------------------------------


class _Point:
    """What a check needs: ``f``, names, the point in both precisions, the reference blocks."""

    def __init__(self, kind, f, args, names, kwargs, reference, argnums, step):
        if not args:
            raise ValueError(f"check_{kind} needs at least one array argument")
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {list(REFERENCES)}, got {reference!r}")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise ValueError(f"kwargs must be a dict of non-array options for f, got {type(kwargs).__name__}")
        self.kind, self.kwargs, self.reference_kind = kind, dict(kwargs or {}), reference
        self.step = None if step is None else check_step(step)
        rule = get_rule(f) if isinstance(f, str) else find_rule(f) if isinstance(f, Rule) or callable(f) else None
        if rule is None and not callable(f):
            raise ValueError(f"f must be a function, a registered rule or a rule name, got {type(f).__name__}")
        self.fun = rule.fun if isinstance(f, (str, Rule)) else f
        self.label = rule.name if rule is not None else getattr(f, "__name__", None) or type(f).__name__
        if names is not None:
            names = check_names(names, len(args))
        elif rule is not None and (rule.variadic or len(rule.argnames) == len(args)):
            names = tuple(rule.arg_names(len(args)))
        else:
            names = arg_names(self.fun, len(args))
        self.names = names
        self.positions = select_args(argnums, names, f"check_{kind}: the function")
        self.arrays = [_array(a, f"argument {n!r}") for a, n in zip(args, names)]
        self.args64 = [a.astype(np.float64) for a in self.arrays]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ans = _value(self.fun, self.arrays, self.kwargs, kind, "in the arguments' dtypes")
            ans64 = _value(self.fun, self.args64, self.kwargs, kind, "in float64")
        if not np.all(np.isfinite(ans64)):
            raise ValueError(f"f(*args) is not finite at the given point (shape {ans64.shape}): the point is outside "
                             "the range where the check is meaningful; pick another point")
        if not np.all(np.isfinite(ans)):
            raise ValueError(f"f(*args) overflows in {ans.dtype} at the given point (it is finite in float64); pick a "
                             f"smaller point or check in float64")
        self.f_eps, self.ans64 = output_eps(ans64), ans64.astype(np.float64)
        self.out_shape, self.n_out = ans.shape, ans.size
        self.eps_rule = max(float(np.finfo(d).eps) for d in [a.dtype for a in self.arrays] + [ans.dtype])
        self.rule_dtype = str(np.result_type(*[a.dtype for a in self.arrays], ans.dtype))
        self.base = self.step or default_step(self.f_eps)
        self.notes, self.exact, self._blocks, self._grads = [], None, {}, None

    def call(self, *args):
        return self.fun(*args, **self.kwargs)

    def failed_reference(self, exc):
        return ValueError(f"check_{self.kind}: the finite-difference reference fails: {exc}")

    def traced(self):
        """``tj.hessian`` of ``f`` in float64 (HessianBlocks), or None after noting why it cannot be used."""
        if self.exact is None and self.reference_kind != "numerical":
            try:
                self.exact = hessian(self.fun, argnums=tuple(self.positions))(*self.args64, **self.kwargs)
                grads = jacobian(self.fun, argnums=tuple(self.positions))(*self.args64, **self.kwargs)
                self._grads = {p: np.abs(grads[a].dense()).reshape(self.n_out, -1) for a, p in enumerate(self.positions)}
            except Exception as exc:  # noqa: BLE001 - fall back to finite differences, and say so
                if self.reference_kind == "hessian":
                    raise
                self.exact = False
                self.notes.append(f"note: tj.hessian could not differentiate f ({type(exc).__name__}: {exc}); "
                                  "numerical_hessian was used instead")
        return self.exact if isinstance(self.exact, HessianBlocks) else None

    def grads(self):
        """``|df/dx_p|`` per checked argument, as (n_out, n_p) matrices (magnitudes of the error model)."""
        if self._grads is None:
            try:
                J = numerical_jacobian(self.call, *self.args64, argnums=self.positions, names=self.names)
            except FiniteDifferenceError as exc:
                raise self.failed_reference(exc) from exc
            self._grads = {p: np.abs(J[self.names[p]].dense()).reshape(self.n_out, -1) for p in self.positions}
        return self._grads

    def reference_label(self) -> str:
        return "tj.hessian in float64" if self.exact else "numerical_hessian in float64"

    def block(self, p, q, factor=1.0):
        """The reference block (p, q) as ``(H, E, steps)`` of shapes (n_out, n_p, n_q) and (n_p, n_q) (steps None: exact)."""
        key = (p, q, factor)
        if key not in self._blocks:
            if p != q and (q, p, factor) in self._blocks:
                H, E, st = self._blocks[q, p, factor]
                self._blocks[key] = (H.transpose(0, 2, 1), E.transpose(0, 2, 1), None if st is None else st.T)
            elif self.traced():
                H = self.exact[self.positions.index(p), self.positions.index(q)].dense().astype(np.float64)
                H = H.reshape(self.n_out, self.arrays[p].size, self.arrays[q].size)
                self._blocks[key] = (H, np.zeros_like(H), None)
            else:
                self._numerical(p, q, factor)
        return self._blocks[key]

    def _numerical(self, p, q, factor):
        """Finite differences: every checked block at the base step (once), the block (p, q) alone at others."""
        sizes = {a: self.arrays[a].size for a in self.positions}
        try:
            if factor == 1.0:
                N = numerical_hessian(self.call, *self.args64, argnums=self.positions, step=self.base, names=self.names)
                found = {(a, b): (N[self.names[a], self.names[b]].dense(), N.errors[self.names[a], self.names[b]],
                                  N.steps[self.names[a], self.names[b]]) for a in self.positions for b in self.positions}
            else:
                point = [np.array(a, dtype=np.float64, order="C") for a in self.args64]
                found = hessian_pairs(self.call, point, self.names, self.ans64, [(p, q)], self.base * factor, self.f_eps)
        except FiniteDifferenceError as exc:
            raise self.failed_reference(exc) from exc
        for (a, b), (H, E, st) in found.items():
            shape = (self.n_out, sizes[a], sizes[b])
            self._blocks[a, b, factor] = (H.reshape(shape), E.reshape(shape), st.reshape(shape[1:]))

    def tolerance(self, p, q, H, E, R):
        """Tolerances and magnitudes (``eps_64 M``) of block (p, q) entries (the module docstring's model)."""
        g = self._grads if self.traced() else self.grads()
        nonzero = (np.abs(H) > REFERENCE_SAFETY * E) | (R != 0)
        extra = g[p][:, :, None] + g[q][:, None, :] + np.abs(self.ans64).reshape(-1, 1, 1)
        mag = _EPS64 * (np.abs(H) + nonzero * extra)
        tol = REFERENCE_SAFETY * E + ROUNDING_FACTOR * (self.eps_rule / _EPS64 + 1) * mag
        return tol + FLOOR_FACTOR * self.eps_rule / _EPS64 * (mag.max() if mag.size else 0.0), mag


class _Result(Result):
    """The compared values of one block (check_hessian) or one argument's result (check_hvp)."""

    def __init__(self, s, name, position, shape, dtype, mode):
        self.rep = ArgumentReport(name=name, position=position, shape=shape, dtype=dtype, mode=mode,
                                  steps_tried=() if s.traced() else (s.base,))
        self.primary_failed, self.nonzero, self.unresolved, self.unresolved_example = False, 0, 0, None


def _compare_block(s, result, p, q, R, what):
    """The rule's block ``R`` (n_out, n_p, n_q) against the reference, retrying other steps where it fails.

    ``what(o, i, j)`` words the compared value (flat indices of the output and the two arguments).
    """
    H, E, st = (None if a is None else a.copy() for a in s.block(p, q))  # (the cached blocks stay as they are)
    tol, mag = s.tolerance(p, q, H, E, R)
    ratio = np.abs(R - H) / np.maximum(tol, np.finfo(np.float64).tiny)
    if st is not None:
        steps = np.broadcast_to(st, H.shape).copy()
        for factor in RETRY_FACTORS:
            bad = ~(ratio <= 1)
            if not bad.any():
                break
            H2, E2, st2 = s.block(p, q, factor)
            tol2, mag2 = s.tolerance(p, q, H2, E2, R)
            ratio2 = np.abs(R - H2) / np.maximum(tol2, np.finfo(np.float64).tiny)
            take = bad & (ratio2 < ratio)
            for a, b in ((H, H2), (E, E2), (tol, tol2), (mag, mag2), (ratio, ratio2), (steps, np.broadcast_to(st2, H.shape))):
                a[take] = b[take]
            result.steps_used([s.base * factor])
    else:
        steps = None
    shape = (s.n_out, s.arrays[p].size, s.arrays[q].size)

    def locate(k):
        o, i, j = np.unravel_index(k, shape)
        return int(o), int(i), int(j)

    result.add(
        R, H, tol, mag,
        out_index=lambda k: unravel(locate(k)[0], s.out_shape),
        in_index=lambda k: ((s.names[p], unravel(locate(k)[1], s.arrays[p].shape)),
                            (s.names[q], unravel(locate(k)[2], s.arrays[q].shape))),
        step=None if steps is None else (lambda k: float(steps.reshape(-1)[k])), abs_step=None,
        compared=lambda k: what(*locate(k)), ref_err=REFERENCE_SAFETY * E,
    )


def _refuse_powerless(s, result):
    r = result
    if not r.rep.ok or r.nonzero == 0 or r.unresolved < r.nonzero:
        return
    rule, ref, err, where = r.unresolved_example
    raise ValueError(
        f"check_{s.kind}: the point is outside the range where the check is meaningful for {r.rep.name!r}: every "
        f"nonzero value of the rule (e.g. {fmt(rule)}, {where}) is within the finite-difference reference's own "
        f"error ({fmt(err)}; reference value {fmt(ref)}), so a rule off by 50% would pass too; check at a point "
        "where f's values resolve second derivatives that small, or against tj.hessian (reference='hessian')"
    )


class SecondCheckReport(CheckReport):
    """The result of :func:`check_hessian` (one :class:`ArgumentReport` per block, named by the pair
    ``("x", "y")``: ``report["x", "y"]``, or ``report["y", "x"]``) or :func:`check_hvp` (one per
    argument).  ``in_index`` of the worst entry is ``((x, index in x), (y, index in y))`` (``None``
    in place of the second where a random tangent contracted it)."""

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key):
            for a in self.arguments:
                if a.name in (key, key[::-1]):
                    return a
        return super().__getitem__(key)

    def message(self) -> str:
        if self.ok:
            return ""
        lines = []
        for a in self.failures:
            what = (f"block {a.name!r} (shapes {a.shape[0]} and {a.shape[1]}" if isinstance(a.name, tuple)
                    else f"argument {a.name!r} (shape {a.shape}")
            lines.append(f"{self._title()} FAILED for the {what}, {a.dtype}), mode {a.mode!r}, reference {self.reference}:")
            if a.problem is not None:
                lines.append(f"  {a.problem}")
                continue
            rule = {"hessian": "your Hessian", "hvp": "your hvp"}[self.kind]
            reference = self.reference if a.step is None else f"{self.reference}, step {a.step:.3g} relative"
            lines += [
                f"  worst entry: {_entry_words(a)}",
                f"    rule      ({rule}, {a.dtype}): {fmt(a.rule_value)}",
                f"    reference ({reference}): {fmt(a.reference_value)}",
                f"    |rule - reference| = {fmt(abs(a.rule_value - a.reference_value))} > tolerance {fmt(a.tolerance)} "
                f"({a.worst_ratio:.3g} times the tolerance)",
                f"    compared value: {a.compared}",
                "    step: " + ("none: the reference is tj.hessian, not finite differences" if a.step is None else
                                f"relative step {a.step:.3g}; relative steps tried: "
                                + ", ".join(f"{t:.3g}" for t in a.steps_tried)),
                f"  max abs error {fmt(a.max_abs_error)}, max rel error {fmt(a.max_rel_error)} over {a.entries} "
                "compared value(s)",
            ]
        passing = [f"{a.name!r} ok (max rel error {fmt(a.max_rel_error)})" for a in self.arguments if a.ok]
        if passing:
            lines.append("others: " + ", ".join(passing))
        return "\n".join(lines + list(self.notes))

    def __str__(self) -> str:
        rows = [("block" if self.kind == "hessian" else "argument", "shape", "dtype", "mode", "max abs err",
                 "max rel err", "err/tol", "worst entry", "result")]
        for a in self.arguments:
            rows.append((str(a.name), str(a.shape), a.dtype, a.mode, fmt(a.max_abs_error), fmt(a.max_rel_error),
                         fmt(a.worst_ratio), "-" if a.problem or not a.entries else _entry_words(a, short=True),
                         "ok" if a.ok else "FAIL"))
        text = f"{self._title()}: {'ok' if self.ok else 'FAILED'} (reference: {self.reference})\n" + table(rows)
        return text if self.ok else text + "\n" + self.message()


def _entry_words(a, short=False) -> str:
    (x, i), second = a.in_index
    out = f" out{index_text(a.out_index)}" if a.out_index else " f"
    if second is None:
        head = f"(H v)[{x}{index_text(i)}]"
        return head if short else f"{head} = sum over all z of d²{out} / d {x}{index_text(i)} dz . v[z], at a random v"
    y, j = second
    return f"d²{out} / d {x}{index_text(i)} d {y}{index_text(j)}"


def _call(s, rule, what, *args):
    try:
        return rule(*args, **s.kwargs)
    except Exception as exc:  # noqa: BLE001 - reported, with the exception chained
        shapes = ", ".join(f"{np.shape(a)}" for a in args)
        raise RuleError(f"the {what} raised {type(exc).__name__}: {exc}\n  (called with arguments of shapes {shapes})",
                        exc) from exc
