"""Checkers for Jacobian, VJP and JVP rules that say exactly where a rule is wrong.

Use them from your own test suite::

    from tensorjac.testing import check_vjp

    def test_mul_vjp():
        check_vjp(np.multiply, mul_vjp, a, b)     # raises AssertionError if mul_vjp is wrong

* :func:`check_jacobian` ``(f, jac, *args)`` checks ``jac(*args)``, one Jacobian per argument
  (a :class:`~tensorjac.Blocks`, a sequence, or a single array/Jacobian), each of shape
  ``f(*args).shape + arg.shape``.
* :func:`check_vjp` ``(f, vjp, *args)`` checks ``vjp(cotangent, *args)``, which returns one
  array per argument, each of the argument's true shape (note 002's signature;
  ``cotangent_last=True`` for ``vjp(*args, cotangent)``).
* :func:`check_jvp` ``(f, jvp, *args)`` checks ``jvp(tangents, *args)``, which returns the
  output tangent; ``tangents`` holds one array per argument.

**The reference** is tensorjac's explicit Jacobian: when ``f`` is a registered rule (its
name, the :class:`~tensorjac.Rule`, or the very function registered, e.g. ``np.matmul``) it
is that rule's Jacobian, otherwise :func:`~tensorjac.numerical_jacobian` (central
differences with Richardson extrapolation).  It is always computed in float64 at the same
point, even when the rule under test runs in float32 (float32 values are exact in float64).

**Two strengths.**  ``mode="full"`` compares every entry of every block ``J[out, in]``
(a VJP is called once per output entry with a unit cotangent, a JVP once per input entry),
plus one random cotangent/tangent compared entry by entry; ``mode="dot"`` compares
``<u, J v>`` for random ``u, v`` (``probes`` times), where ``J v`` is one directional
difference along ``v``: a few calls of ``f`` per argument and probe (as for one input entry
of ``numerical_jacobian``), whatever the size.
``mode="auto"`` (the default) picks ``"full"`` when the output and every checked argument
have at most :data:`FULL_MODE_MAX_SIZE` entries.

**The error model.**  An entry passes when ``|rule - reference| <= tolerance`` with::

    tolerance = REFERENCE_SAFETY * E  +  ROUNDING_FACTOR * (eps_rule + eps_64) * M  +  floor

* ``E`` is the reference's own error estimate: :attr:`NumericalBlocks.errors` for finite
  differences (Richardson difference plus rounding of ``f``; the probes' own rounding is
  removed by dividing by their stored distance), plus, for the dot test's directional
  difference along ``v``, the rounding of ``x + t v``; 0 for a registered rule;
* ``eps_rule`` is the machine epsilon of the dtype the rule runs in (float32: 1.2e-7),
  ``eps_64`` that of the float64 reference;
* ``M`` is the magnitude of the values involved: ``|J[i, j]| + |f(x)[i]|`` for an entry (the
  second term only where the derivative is nonzero, i.e. where the reference is above its
  noise or the rule's value is nonzero: formulas such as ``1 - tanh(x)**2``,
  ``s * (1 - s)`` or ``s - s*s`` cancel values of the size of the output, which float32
  rounds at 1e-7 however small the derivative is), and the sums ``sum_i |u_i| M[i, j]``
  (resp. the dot products of magnitudes) for contracted values.  The output term costs
  float32 sensitivity where ``|f(x)|`` is much larger than the derivative: a float32 matmul
  with entries of order 1 and inner size K is checked to about ``2e-6 * K`` relative, but
  with entries of order 1e3 only to about ``2e-3 * K``.  Check float32 rules on inputs of
  order 1 (float64 is not affected: its allowance is 1e-9 times smaller);
* ``floor = 4 * eps_rule * max(M)`` over the block, so that a structural zero computed as
  a difference of equal values is not blamed.

So a float32 rule is held to float32 rounding and a float64 rule to float64 rounding, and the
tolerance grows with the finite-difference error only where that error is large.  Before an
entry is declared wrong, the finite differences are redone for the failing input entries at
the relative steps ``step * 10``, ``step / 10`` and ``step / 100`` (:data:`RETRY_FACTORS`);
an entry passes if it passes at any step, so a correct rule is never blamed for a bad step.
The report gives the step at the worst entry.

**Shapes and dtypes.**  Arguments are checked against their true shapes: a gradient for an
argument of shape ``(1, 4)`` broadcast to ``(3, 4)`` must have shape ``(1, 4)`` (note 002's
``unbroadcast``).  A VJP must return each gradient in its argument's dtype and a JVP the
output's dtype (``check_dtype=False`` to allow others); Jacobians are not dtype-checked.
A wrong shape, a wrong dtype, a wrong number of returned arrays or an exception raised by
the rule gives a failing report naming the argument and the shapes.

**Failures.**  By default (``raise_on_failure=True``) a failing check raises
``AssertionError`` naming the argument, the worst entry ``d out[i] / d arg[j]``, the rule's
value, the reference value, the tolerance and the finite-difference step, so a plain call
in a pytest test is enough.  With ``raise_on_failure=False`` the :class:`CheckReport` is
returned either way; ``report.ok`` tells, ``report.assert_ok()`` raises.

**The verification table.**  ``python -m tensorjac.testing`` (or the ``tensorjac-check``
console script) checks every built-in rule's Jacobian against finite differences in float64
and float32 and prints one row per rule, argument and dtype.  ``python -m tensorjac.testing
my_package.my_rules`` does the same for a module of your own (an import path, or a path to a
``.py`` file), which declares its rules in a list named ``RULES`` of :class:`RuleCase`::

    RULES = [
        RuleCase("mul", np.multiply, vjp=mul_vjp, examples=[(a, b), (a2, b2)]),
        RuleCase("sum", np.sum, vjp=sum_vjp, examples=[((x,), {"axis": 1})]),
    ]

See ``examples/vjp_rules.py`` (note 002's rules) for a complete module.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import rules as _rules_module
from ._validation import as_finite_float_array, select_args
from .contract import jvp as _contract_jvp
from .jacobian import Jacobian
from .numerical import DEFAULT_STEP, _arg_names, numerical_jacobian
from .rules import Rule, get_rule, rule_names

__all__ = [
    "check_jacobian",
    "check_vjp",
    "check_jvp",
    "CheckReport",
    "ArgumentReport",
    "RuleCase",
    "builtin_cases",
    "run_cases",
    "format_table",
    "main",
    "FULL_MODE_MAX_SIZE",
    "ROUNDING_FACTOR",
    "REFERENCE_SAFETY",
    "RETRY_FACTORS",
]

#: ``mode="auto"`` compares full blocks when the output and each checked argument have at most
#: this many entries (finite differences then cost what 64 input entries of numerical_jacobian do).
FULL_MODE_MAX_SIZE = 64
#: Multiplies ``eps * magnitude`` in the rounding part of the tolerance: a few roundings per
#: value, with a safety margin.  A float32 rule is then allowed ~2e-6 relative error; a scale
#: error of 1e-3 or a computation in float16 (~5e-4) is still far outside.
ROUNDING_FACTOR = 16.0
#: Multiplies the reference's error estimate (``NumericalBlocks.errors``), an estimate and not a bound.
REFERENCE_SAFETY = 4.0
#: Relative steps (times ``step``) at which finite differences are redone before an entry fails.
RETRY_FACTORS = (10.0, 0.1, 0.01)
#: Weight of the block-wide floor ``FLOOR_FACTOR * eps_rule * max(M)`` of the tolerance.
FLOOR_FACTOR = 4.0

_EPS64 = float(np.finfo(np.float64).eps)
_REPRESENTATION = 4 * _EPS64  # rounding of the perturbed inputs, relative to |x| / step
_TINY = float(np.finfo(np.float64).tiny)
_MODES = ("auto", "full", "dot")
_REFERENCES = ("auto", "rule", "numerical")


# ---- Reports ------------------------------------------------------------------------------


@dataclass
class ArgumentReport:
    """What the check found for one argument.

    Attributes:
        name: the argument's name; ``position``: its position.
        shape, dtype: its shape and dtype (the rule under test runs in the arguments' dtypes).
        mode: ``"full"`` (entry by entry) or ``"dot"`` (``<u, J v>``).
        ok: whether every compared value was within its tolerance.
        max_abs_error: largest ``|rule - reference|``.
        max_rel_error: largest ``|rule - reference| / max(|reference|, M)`` (``M``: the magnitude
            of the values involved, see the module docstring).
        worst_ratio: largest ``|rule - reference| / tolerance`` (the check passes when <= 1).
        out_index, in_index: the worst entry ``d out[out_index] / d arg[in_index]`` (``None``
            where the dot test does not localise it).
        rule_value, reference_value, tolerance: the values compared there.
        step: the relative finite-difference step of the reference there (``None`` for a
            registered rule's exact Jacobian); ``abs_step``: the absolute step used.
        steps_tried: every relative step the reference was computed with.
        compared: what the rule's value at the worst entry is, in words.
        entries: how many values were compared.
        problem: set when the rule could not be compared (wrong shape or dtype, exception).
    """

    name: str
    position: int
    shape: tuple
    dtype: str
    mode: str
    ok: bool = True
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst_ratio: float = 0.0
    out_index: tuple | None = None
    in_index: tuple | None = None
    rule_value: float | None = None
    reference_value: float | None = None
    tolerance: float | None = None
    step: float | None = None
    abs_step: float | None = None
    steps_tried: tuple = ()
    compared: str = ""
    entries: int = 0
    problem: str | None = None
    exception: BaseException | None = field(default=None, repr=False)


class CheckReport:
    """The result of :func:`check_jacobian`, :func:`check_vjp` or :func:`check_jvp`.

    ``report.ok`` is True when every checked argument passed; ``report["x"]`` (or
    ``report[0]``) is the :class:`ArgumentReport` of an argument; ``str(report)`` is a table;
    :meth:`assert_ok` raises ``AssertionError`` with :meth:`message` on failure.
    """

    def __init__(self, kind, function, reference, arguments, dtype, notes=()):
        self.kind, self.function, self.reference = kind, function, reference
        self.arguments = list(arguments)
        self.dtype = dtype
        self.notes = tuple(notes)

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.arguments)

    @property
    def failures(self) -> list:
        """The :class:`ArgumentReport` of every failing argument."""
        return [a for a in self.arguments if not a.ok]

    def __getitem__(self, key) -> ArgumentReport:
        for a in self.arguments:
            if a.name == key or (isinstance(key, (int, np.integer)) and not isinstance(key, bool) and a.position == key):
                return a
        raise KeyError(f"no checked argument {key!r}; checked: {[a.name for a in self.arguments]}")

    def __iter__(self):
        return iter(self.arguments)

    def __len__(self):
        return len(self.arguments)

    def _title(self):
        return f"check_{self.kind}({self.function})"

    def message(self) -> str:
        """A description of the failures (empty when the check passed)."""
        if self.ok:
            return ""
        lines = []
        for a in self.failures:
            lines.append(
                f"{self._title()} FAILED for argument {a.name!r} (position {a.position}, shape {a.shape}, "
                f"{a.dtype}), mode {a.mode!r}, reference {self.reference}:"
            )
            if a.problem is not None:
                lines.append(f"  {a.problem}")
                continue
            lines.append(f"  worst entry: {_entry_words(a)}")
            lines.append(f"    rule      ({_rule_words(self.kind)}, {a.dtype}): {_fmt(a.rule_value)}")
            lines.append(f"    reference ({_reference_words(self.reference, a)}): {_fmt(a.reference_value)}")
            lines.append(
                f"    |rule - reference| = {_fmt(abs(a.rule_value - a.reference_value))} > tolerance "
                f"{_fmt(a.tolerance)} ({_ratio_words(a.worst_ratio)} the tolerance)"
            )
            lines.append(f"    compared value: {a.compared}")
            lines.append(f"    step: {_step_words(a)}")
            lines.append(
                f"  max abs error {_fmt(a.max_abs_error)}, max rel error {_fmt(a.max_rel_error)} over "
                f"{a.entries} compared value(s)"
            )
        passing = [a for a in self.arguments if a.ok]
        if passing:
            lines.append(
                "other arguments: "
                + ", ".join(f"{a.name!r} ok (max rel error {_fmt(a.max_rel_error)})" for a in passing)
            )
        lines.extend(self.notes)
        return "\n".join(lines)

    def assert_ok(self) -> "CheckReport":
        """Raise ``AssertionError`` with :meth:`message` if the check failed; return ``self`` otherwise."""
        if not self.ok:
            cause = next((a.exception for a in self.failures if a.exception is not None), None)
            raise AssertionError(self.message()) from cause
        return self

    def __str__(self) -> str:
        head = f"{self._title()}: {'ok' if self.ok else 'FAILED'} (reference: {self.reference})"
        rows = [("argument", "shape", "dtype", "mode", "max abs err", "max rel err", "err/tol", "worst entry", "result")]
        for a in self.arguments:
            where = "-" if a.problem else _short_entry(a)
            rows.append((
                a.name, str(a.shape), a.dtype, a.mode, _fmt(a.max_abs_error), _fmt(a.max_rel_error),
                _fmt(a.worst_ratio), where, "ok" if a.ok else "FAIL",
            ))
        text = head + "\n" + _table(rows)
        if not self.ok:
            text += "\n" + self.message()
        return text

    def __repr__(self) -> str:
        args = ", ".join(f"{a.name}={'ok' if a.ok else 'FAIL'}" for a in self.arguments)
        return f"<CheckReport {self._title()} {'ok' if self.ok else 'FAILED'}: {args}>"


def _fmt(x) -> str:
    if x is None:
        return "-"
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"


def _ratio_words(r) -> str:
    return "infinitely many times" if not np.isfinite(r) else f"{float(r):.3g} times"


def _rule_words(kind) -> str:
    return {"vjp": "your vjp", "jvp": "your jvp", "jacobian": "your Jacobian"}[kind]


def _reference_words(reference, a) -> str:
    if a.step is None:
        return f"{reference}, exact, no finite differences"
    return f"{reference}, step {a.step:.3g} relative"


def _step_words(a) -> str:
    if a.step is None:
        return "none: the reference is a registered rule's Jacobian, not finite differences"
    tried = ", ".join(f"{s:.3g}" for s in a.steps_tried)
    absolute = f" (absolute step {a.abs_step:.3g} there)" if a.abs_step is not None else ""
    return f"relative step {a.step:.3g}{absolute}; relative steps tried: {tried}"


def _idx(index) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _entry_words(a) -> str:
    if a.out_index is None and a.in_index is None:
        return "not localised by the dot-product test <u, J v> (run mode='full' on a smaller input to find the entry)"
    out = "out" + _idx(a.out_index) if a.out_index is not None else "out (all entries, contracted with u)"
    inn = a.name + _idx(a.in_index) if a.in_index is not None else f"{a.name} (all entries, contracted with v)"
    return f"d {out} / d {inn}"


def _short_entry(a) -> str:
    if a.entries == 0:
        return "-"
    if a.out_index is None and a.in_index is None:
        return "<u, J v>"
    out = _idx(a.out_index) if a.out_index is not None else "u"
    inn = _idx(a.in_index) if a.in_index is not None else "v"
    return f"{out} / {inn}"


def _table(rows) -> str:
    widths = [max(len(str(r[k])) for r in rows) for k in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# ---- Resolving f, the reference and the rule under test -----------------------------------


class _RuleError(Exception):
    """The rule under test failed as a whole (exception, wrong number of results)."""

    def __init__(self, message, exception=None):
        super().__init__(message)
        self.exception = exception


def _registered_rule_of(f):
    for name in rule_names():
        rule = get_rule(name)
        if rule.fun is f:
            return rule
    return None


def _fun_label(f) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


class _Setup:
    """Everything a check needs: the function, names, arrays in both precisions, the value."""

    def __init__(self, kind, f, args, names, kwargs, reference, argnums, mode, step, probes, check_dtype):
        if not args:
            raise ValueError(f"check_{kind} needs at least one array argument")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {list(_MODES)}, got {mode!r}")
        if reference not in _REFERENCES:
            raise ValueError(f"reference must be one of {list(_REFERENCES)}, got {reference!r}")
        if not isinstance(probes, (int, np.integer)) or isinstance(probes, bool) or probes < 1:
            raise ValueError(f"probes must be a positive int, got {probes!r}")
        base = DEFAULT_STEP if step is None else step
        if not isinstance(base, (int, float, np.floating)) or not (np.isfinite(base) and base > 0):
            raise ValueError(f"step must be a positive finite number, got {step!r}")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise ValueError(f"kwargs must be a dict of non-array options for f, got {type(kwargs).__name__}")
        self.kind, self.kwargs = kind, dict(kwargs or {})
        self.base_step = float(base)
        self.probes = int(probes)
        self.check_dtype = (kind != "jacobian") if check_dtype is None else bool(check_dtype)

        rule = None
        if isinstance(f, str):
            rule = get_rule(f)  # ValueError listing the registered names
            fun, label = rule.fun, rule.name
        elif isinstance(f, Rule):
            rule, fun, label = f, f.fun, f.name
        elif callable(f):
            fun, rule = f, _registered_rule_of(f)
            label = rule.name if rule is not None else _fun_label(f)
        else:
            raise ValueError(f"f must be a function, a registered rule or a rule name, got {type(f).__name__}")
        if isinstance(f, (str, Rule)) and len(args) != len(rule.argnames):
            raise ValueError(
                f"rule {rule.name!r} takes {len(rule.argnames)} array argument(s) {list(rule.argnames)}, got {len(args)}"
            )
        self.fun, self.label, self.rule = fun, label, rule
        if names is None:
            names = rule.argnames if rule is not None and len(rule.argnames) == len(args) else _arg_names(fun, len(args))
        names = tuple(names)
        if len(names) != len(args) or len(set(names)) != len(names):
            raise ValueError(f"names must give {len(args)} distinct names, got {names}")
        self.names = names
        self.positions = select_args(argnums, names, f"check_{kind}: the function")
        if reference == "rule" and rule is None:
            raise ValueError(
                f"reference='rule' needs f to be a registered rule (a name, a Rule, or the registered function); "
                f"{label!r} is not registered"
            )
        self.reference_kind = reference

        self.arrays = [as_finite_float_array(a, f"argument {n!r}") for a, n in zip(args, names)]
        self.args64 = [a.astype(np.float64) for a in self.arrays]
        if rule is not None:
            rule(*self.args64, **self.kwargs)  # the rule's own domain and shape checks (ValueError)
        ans = np.asarray(fun(*self.arrays, **self.kwargs))
        if ans.dtype.kind != "f":
            raise ValueError(f"f returned dtype {ans.dtype}; check_{kind} needs a floating-point output")
        self.ans64 = np.asarray(fun(*self.args64, **self.kwargs), dtype=np.float64)
        if not np.all(np.isfinite(self.ans64)):
            raise ValueError(f"f(*args) is not finite at the given point (shape {self.ans64.shape}): pick another point")
        self.out_shape, self.out_dtype = ans.shape, ans.dtype
        if self.ans64.shape != self.out_shape:
            raise ValueError(f"f returned shape {ans.shape} in {ans.dtype} but {self.ans64.shape} in float64")
        self.eps_rule = max(float(np.finfo(d).eps) for d in [a.dtype for a in self.arrays] + [ans.dtype])
        self.rule_dtype = str(np.result_type(*[a.dtype for a in self.arrays], ans.dtype))
        self.n_out = int(math.prod(self.out_shape))

        sizes = [self.n_out] + [self.arrays[p].size for p in self.positions]
        self.mode = ("full" if max(sizes) <= FULL_MODE_MAX_SIZE else "dot") if mode == "auto" else mode
        self.notes = []
        self.references = {p: self._reference_for(p) for p in self.positions}

    def _reference_for(self, pos):
        if self.reference_kind != "numerical" and self.rule is not None:
            if self.rule.makers[pos] is not None:
                try:
                    return _RuleReference(self, pos)
                except Exception as exc:  # noqa: BLE001 - fall back to finite differences, and say so
                    if self.reference_kind == "rule":
                        raise
                    self.notes.append(
                        f"note: rule {self.rule.name!r} gave no Jacobian for {self.names[pos]!r} "
                        f"({type(exc).__name__}: {exc}); finite differences were used instead"
                    )
            elif self.reference_kind == "rule":
                raise ValueError(f"rule {self.rule.name!r} has no Jacobian for argument {self.names[pos]!r}")
        return _NumericalReference(self, pos)

    def reference_label(self) -> str:
        kinds = {type(r) for r in self.references.values()}
        if kinds == {_RuleReference}:
            return f"rule {self.rule.name!r} Jacobian in float64"
        if kinds == {_NumericalReference}:
            return "numerical_jacobian in float64"
        return "rule Jacobian / numerical_jacobian in float64"


class _NumericalReference:
    """Finite differences in float64 (``numerical_jacobian``), for selected input entries."""

    exact = False

    def __init__(self, setup: _Setup, pos: int):
        self.setup, self.pos = setup, pos
        self.steps = [setup.base_step] + [setup.base_step * r for r in RETRY_FACTORS]

    def _call(self, args):
        return self.setup.fun(*args, **self.setup.kwargs)

    def columns(self, cols, step):
        """Columns ``cols`` (flat input entries) of the Jacobian matrix, their errors and absolute steps."""
        s, pos = self.setup, self.pos
        x = s.args64[pos]
        flat = x.reshape(-1)

        def g(z):
            xx = flat.copy()
            xx[cols] = z
            args = list(s.args64)
            args[pos] = xx.reshape(x.shape)
            return self._call(args)

        nb = numerical_jacobian(g, flat[cols], step=step, names=("z",))
        J = nb["z"].dense().reshape(s.n_out, len(cols))
        E = np.asarray(nb.errors["z"]).reshape(s.n_out, len(cols))
        h = np.asarray(nb.steps["z"]).reshape(-1)
        # (numerical_jacobian divides by the stored distance between its probes, so rounding of
        # x_j +- h adds no error here, unlike in ``directional`` below.)
        return J, E, h

    def directional(self, v, step):
        """``J v`` by one central difference along ``v`` (Richardson), its error and the step in t."""
        s, pos = self.setup, self.pos

        def phi(t):
            args = list(s.args64)
            args[pos] = s.args64[pos] + t * v
            return self._call(args)

        nb = numerical_jacobian(phi, np.zeros(()), step=step, names=("t",))
        Jv = nb["t"].dense().reshape(-1)
        h = float(np.asarray(nb.steps["t"]))
        # x + t v is rounded entry by entry (by up to eps |x_j| / 2, with |x_j| <= |v_j| / |r_j|).
        err = np.asarray(nb.errors["t"]).reshape(-1) + _REPRESENTATION * np.abs(Jv) / h
        return Jv, err, h


class _RuleReference:
    """A registered rule's structured Jacobian, evaluated in float64."""

    exact = True
    steps = [None]

    def __init__(self, setup: _Setup, pos: int):
        self.setup, self.pos = setup, pos
        self.J = setup.rule.jacobian(*setup.args64, argnums=[pos], **setup.kwargs)[0]

    def columns(self, cols, step=None):
        n_in = self.setup.args64[self.pos].size
        J = self.J.dense().astype(np.float64).reshape(self.setup.n_out, n_in)[:, cols]
        return J, np.zeros_like(J), None

    def directional(self, v, step=None):
        Jv = np.asarray(_contract_jvp(self.J, v), dtype=np.float64).reshape(-1)
        return Jv, np.zeros_like(Jv), None


# ---- Calling the rule under test ----------------------------------------------------------


def _shapes(arrays) -> str:
    return ", ".join(str(a.shape) for a in arrays)


class _Subject:
    """The rule under test, called in the working dtype, its results validated per argument."""

    def __init__(self, setup: _Setup, rule, cotangent_last=False, tangents_as_tuple=True):
        if not callable(rule):
            raise ValueError(f"the {setup.kind} under test must be callable, got {type(rule).__name__}")
        if setup.kind == "jvp" and not tangents_as_tuple and len(setup.arrays) != 1:
            raise ValueError(
                f"tangents_as_tuple=False passes a bare tangent array, which needs f of one argument; "
                f"f takes {len(setup.arrays)}"
            )
        self.s, self.rule = setup, rule
        self.cotangent_last, self.tangents_as_tuple = cotangent_last, tangents_as_tuple

    def _call(self, what, called_with, *args):
        """Call the rule under test; an exception it raises becomes a failing report, chained."""
        try:
            return self.rule(*args, **self.s.kwargs)
        except Exception as exc:  # noqa: BLE001 - reported, with the exception chained
            raise _RuleError(f"the {what} raised {type(exc).__name__}: {exc}\n  (called with {called_with})", exc) from exc

    # -- vjp --
    def vjp(self, u):
        """``{pos: array or problem string}``; raises ``_RuleError`` when the call fails as a whole."""
        s = self.s
        args = (*s.arrays, u) if self.cotangent_last else (u, *s.arrays)
        out = self._call("vjp", f"a cotangent of shape {u.shape} {u.dtype} and arguments of shapes {_shapes(s.arrays)}", *args)
        n, sel = len(s.arrays), s.positions
        if isinstance(out, (tuple, list)):
            items = list(out)
            if len(items) == n:
                per = {p: items[p] for p in sel}
            elif len(items) == len(sel):
                per = dict(zip(sel, items))
            else:
                raise _RuleError(
                    f"the vjp returned {len(items)} value(s); expected one per argument ({n}: {list(s.names)})"
                )
        elif len(sel) == 1:
            per = {sel[0]: out}
        else:
            raise _RuleError(
                f"the vjp returned a single {type(out).__name__}; f has {n} arguments {list(s.names)}: "
                "return a tuple with one array per argument"
            )
        return {p: self._validate(per[p], s.arrays[p].shape, s.arrays[p].dtype, p, "vjp") for p in sel}

    # -- jvp --
    def jvp(self, pos, v):
        s = self.s
        tangents = tuple(v if p == pos else np.zeros_like(a) for p, a in enumerate(s.arrays))
        first = tangents if self.tangents_as_tuple else tangents[0]
        out = self._call("jvp", f"tangents of shapes {_shapes(tangents)} and arguments of shapes {_shapes(s.arrays)}",
                         first, *s.arrays)
        if isinstance(out, (tuple, list)) and len(out) == 1:
            out = out[0]
        return self._validate(out, s.out_shape, s.out_dtype, pos, "jvp")

    # -- jacobian --
    def jacobian(self):
        s = self.s
        out = self._call("Jacobian function", f"arguments of shapes {_shapes(s.arrays)}", *s.arrays)
        n, sel = len(s.arrays), s.positions
        if isinstance(out, Mapping):
            keys = list(out.keys())
            if all(s.names[p] in out for p in sel):
                per = {p: out[s.names[p]] for p in sel}
            elif len(keys) == n:
                per = {p: out[keys[p]] for p in sel}
            elif len(keys) == len(sel):
                per = {p: out[k] for p, k in zip(sel, keys)}
            else:
                raise _RuleError(f"the Jacobian function returned blocks {keys}; expected {list(s.names)}")
        elif isinstance(out, (tuple, list)):
            if len(out) == n:
                per = {p: out[p] for p in sel}
            elif len(out) == len(sel):
                per = dict(zip(sel, out))
            else:
                raise _RuleError(f"the Jacobian function returned {len(out)} blocks; expected one per argument ({n})")
        elif len(sel) == 1:
            per = {sel[0]: out}
        else:
            raise _RuleError(
                f"the Jacobian function returned a single {type(out).__name__}; f has {n} arguments: "
                "return Blocks, a dict or a tuple with one Jacobian per argument"
            )
        result = {}
        for p in sel:
            J = per[p]
            expected = s.out_shape + s.arrays[p].shape
            if isinstance(J, Jacobian):
                if J.out_shape != s.out_shape or J.in_shape != s.arrays[p].shape:
                    result[p] = (
                        f"the Jacobian for argument {s.names[p]!r} has out_shape {J.out_shape} and in_shape "
                        f"{J.in_shape}; expected out_shape {s.out_shape} (f's output) and in_shape "
                        f"{s.arrays[p].shape} (the argument's true shape)"
                    )
                    continue
                result[p] = (J, np.asarray(J.dense()), J.dtype)
            else:
                result[p] = self._validate(J, expected, s.out_dtype, p, "Jacobian")
                if not isinstance(result[p], str):
                    result[p] = (result[p], result[p], result[p].dtype)
        return result

    def _validate(self, value, shape, dtype, pos, what):
        s, name = self.s, self.s.names[pos]
        if value is None:
            return f"the {what} returned None for argument {name!r}"
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiub":
            return f"the {what} returned dtype {arr.dtype} for argument {name!r}; expected a real floating dtype"
        if arr.shape != tuple(shape):
            hint = ""
            if what == "vjp":
                if arr.shape == s.out_shape and arr.shape != s.arrays[pos].shape:
                    hint = "; it has f's output shape: did you forget to unbroadcast (sum over the broadcast axes)?"
                elif arr.size != s.arrays[pos].size or arr.ndim != s.arrays[pos].ndim:
                    hint = "; gradients must have the argument's true shape, size-1 axes included"
            where = f"argument {name!r} of shape {s.arrays[pos].shape}"
            if what == "jvp":
                where = f"f's output of shape {s.out_shape} (tangent given for argument {name!r})"
            elif what == "Jacobian":
                where = f"argument {name!r}: expected out_shape + in_shape = {tuple(shape)}"
            return f"the {what} returned shape {arr.shape} for {where}{hint}"
        if s.check_dtype and what != "Jacobian" and arr.dtype != dtype:
            return (
                f"the {what} returned dtype {arr.dtype} for argument {name!r} but expected {np.dtype(dtype)} "
                f"(the {'argument' if what == 'vjp' else 'output'}'s dtype); pass check_dtype=False to allow it"
            )
        return arr


# ---- Comparisons --------------------------------------------------------------------------


def _ratio(diff, tol):
    """``diff / tol`` (the check passes where <= 1); 0 where diff is 0, inf where diff is not finite."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = diff / np.maximum(tol, _TINY)
    r = np.where(diff == 0, 0.0, r)
    return np.where(np.isnan(r), np.inf, r)


def _diff(rule, ref):
    d = np.abs(np.asarray(rule, dtype=np.float64) - ref)
    return np.where(np.isfinite(d), d, np.inf)


def _rel(diff, ref, M):
    """``diff / max(|ref|, M)``; where both are 0 (a structural zero), relative to the largest of the block."""
    den = np.maximum(np.abs(ref), M)
    scale = float(den.max()) if den.size else 0.0
    den = np.where(den > 0, den, scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = diff / den
    r = np.where(diff == 0, 0.0, r)
    return np.where(np.isnan(r), np.inf, r)


class _Result:
    """Accumulates the compared values of one argument and keeps the worst."""

    def __init__(self, setup, pos, ref, mode):
        s = setup
        self.rep = ArgumentReport(
            name=s.names[pos], position=pos, shape=s.arrays[pos].shape, dtype=str(s.arrays[pos].dtype), mode=mode,
            steps_tried=() if ref.exact else (ref.steps[0],),
        )
        self.primary_failed = False

    def fail(self, problem, exception=None):
        if self.rep.problem is None:
            self.rep.problem, self.rep.exception = problem, exception
        self.rep.ok = False

    def steps_used(self, steps):
        if steps and steps[0] is not None:
            self.rep.steps_tried = tuple(sorted(set(self.rep.steps_tried) | set(steps), key=lambda x: -x))

    def add(self, rule, ref, tol, M, out_index, in_index, step, abs_step, compared, primary=True):
        """Add compared values (arrays of one shape); ``out_index(k)``/``in_index(k)`` locate flat entry k.

        Values of a secondary comparison (the random probe of full mode) become the reported
        worst entry only if the primary one (the blocks) passed: a failing Jacobian entry says
        more than a failing contraction.
        """
        rule, ref, tol, M = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (rule, ref, tol, M))
        if rule.size == 0:
            return
        diff = _diff(rule, ref)
        ratio = _ratio(diff, tol)
        rel = _rel(diff, ref, M)
        rep = self.rep
        rep.entries += rule.size
        rep.max_abs_error = max(rep.max_abs_error, float(np.max(diff)))
        rep.max_rel_error = max(rep.max_rel_error, float(np.max(rel)))
        k = int(np.argmax(ratio))
        if primary and ratio[k] > 1:
            self.primary_failed = True
        if rep.rule_value is None or (ratio[k] > rep.worst_ratio and (primary or not self.primary_failed)):
            rep.worst_ratio = float(ratio[k])
            rep.out_index, rep.in_index = out_index(k), in_index(k)
            rep.rule_value, rep.reference_value, rep.tolerance = float(rule[k]), float(ref[k]), float(tol[k])
            st = step(k) if callable(step) else step
            rep.step = None if st is None else float(st)
            ab = abs_step(k) if callable(abs_step) else abs_step
            rep.abs_step = None if ab is None else float(ab)
            rep.compared = compared(k) if callable(compared) else compared
        if ratio[k] > 1:
            rep.ok = False


def _unravel(k, shape):
    return tuple(int(i) for i in np.unravel_index(int(k), shape)) if shape else ()


def _tolerance(J, E, R, ans_abs, eps_rule):
    """Entry tolerances and magnitudes of a Jacobian matrix block (rows: outputs, cols: inputs).

    The output term ``|f(x)[i]|`` of the magnitude applies where the derivative is nonzero:
    where the reference is above its own noise, or where the rule gives a nonzero value (a
    rounded cancellation such as ``s - s*s`` with s one ulp below 1 must not be blamed).
    """
    nonzero = (np.abs(J) > REFERENCE_SAFETY * E) | (np.asarray(R) != 0)
    M = np.abs(J) + nonzero * ans_abs[:, None]
    return REFERENCE_SAFETY * E + ROUNDING_FACTOR * (eps_rule + _EPS64) * M, M


def _full_block(setup, pos, ref, R, result):
    """Compare the rule's matrix ``R`` (n_out x n_in) with the reference, retrying steps on failing columns.

    Returns the composite reference (J, E, M, tol) used, column by column.
    """
    s = setup
    n_in = s.arrays[pos].size
    ans_abs = np.abs(s.ans64).reshape(-1)
    J = np.zeros((s.n_out, n_in))
    E, M, tol = np.zeros_like(J), np.zeros_like(J), np.full_like(J, np.inf)
    col_ratio = np.full(n_in, np.inf)
    col_step = [None] * n_in
    col_h = [None] * n_in
    cols = np.arange(n_in)
    used = []
    for step in ref.steps:
        used.append(step)
        Jc, Ec, hc = ref.columns(cols, step)
        tc, Mc = _tolerance(Jc, Ec, R[:, cols], ans_abs, s.eps_rule)
        rc = _ratio(_diff(R[:, cols], Jc), tc).max(axis=0) if s.n_out else np.zeros(len(cols))
        better = (rc < col_ratio[cols]) | (len(used) == 1)
        for k in np.nonzero(better)[0]:
            c = cols[k]
            J[:, c], E[:, c], M[:, c], tol[:, c] = Jc[:, k], Ec[:, k], Mc[:, k], tc[:, k]
            col_ratio[c] = rc[k]
            col_step[c] = step
            col_h[c] = None if hc is None else hc[k]
        cols = cols[col_ratio[cols] > 1]
        if cols.size == 0:
            break
    floor = FLOOR_FACTOR * s.eps_rule * (M.max() if M.size else 0.0)
    tol = tol + floor
    result.steps_used(used)
    in_shape = s.arrays[pos].shape
    return J, E, M, tol, col_step, col_h, in_shape


def _report_full(setup, pos, result, R, J, tol, M, col_step, col_h):
    s = setup
    n_in = s.arrays[pos].size
    in_shape = s.arrays[pos].shape
    name = s.names[pos]

    def what(k):
        out, inn = _idx(_unravel(k // n_in, s.out_shape)), _idx(_unravel(k % n_in, in_shape))
        if s.kind == "vjp":
            return f"entry {inn} of your vjp's gradient for {name!r}, at the unit cotangent e{out}"
        if s.kind == "jvp":
            return f"entry {out} of your jvp's output, at the unit tangent e{inn} of {name!r}"
        return f"entry {out} + {inn} of your Jacobian block for {name!r}"

    result.add(
        R, J, tol, M,
        out_index=lambda k: _unravel(k // n_in, s.out_shape),
        in_index=lambda k: _unravel(k % n_in, in_shape),
        step=lambda k: col_step[k % n_in],
        abs_step=lambda k: col_h[k % n_in],
        compared=what,
    )


def _probe_tolerance(J, E, M, weights, axis, eps_rule):
    """Tolerance and magnitude of ``J`` contracted with ``weights`` along ``axis`` (0: cotangent, 1: tangent)."""
    w = np.abs(weights)
    if axis == 0:
        Ew, Mw = w @ E, w @ M
    else:
        Ew, Mw = E @ w, M @ w
    tol = REFERENCE_SAFETY * Ew + ROUNDING_FACTOR * (eps_rule + _EPS64) * Mw
    floor = FLOOR_FACTOR * eps_rule * (Mw.max() if Mw.size else 0.0)
    return tol + floor, Mw


def _dot_compare(setup, pos, ref, result, u64, v64, rule_value, rule_magnitude, probe, what):
    """One dot-product probe: ``rule_value`` against ``<u, J v>``, retrying steps on failure."""
    s = setup
    ans_abs = np.abs(s.ans64).reshape(-1)
    u = u64.reshape(-1)
    rms = float(np.sqrt(np.mean(v64.reshape(-1) ** 2))) if v64.size else 0.0
    best = None
    used = []
    for step in ref.steps:
        used.append(step)
        Jv, err, h = ref.directional(v64, step)
        ref_value = float(u @ Jv)
        magnitude = rule_magnitude + float(np.abs(u) @ np.abs(Jv)) + float(np.abs(u) @ ans_abs) * rms
        tol = REFERENCE_SAFETY * float(np.abs(u) @ err) + ROUNDING_FACTOR * (s.eps_rule + _EPS64) * magnitude
        ratio = float(_ratio(_diff(np.array([rule_value]), np.array([ref_value])), np.array([tol]))[0])
        if best is None or ratio < best[0]:
            best = (ratio, ref_value, tol, magnitude, step, h)
        if ratio <= 1:
            break
    result.steps_used(used)
    ratio, ref_value, tol, magnitude, step, h = best
    result.add(
        [rule_value], [ref_value], [tol], [magnitude],
        out_index=lambda k: None, in_index=lambda k: None, step=step,
        abs_step=None if h is None else h * float(np.max(np.abs(v64))) if v64.size else None,
        compared=f"{what} (probe {probe + 1} of {s.probes})",
    )


# ---- The three checks ---------------------------------------------------------------------


def _random_like(rng, shape, dtype, scale=None):
    x = rng.standard_normal(shape)
    if scale is not None:
        x = x * scale
    return np.asarray(x, dtype=dtype)


def _run(kind, f, rule_under_test, args, *, argnums, mode, reference, kwargs, names, step, seed, probes,
         check_dtype, raise_on_failure, cotangent_last=False, tangents_as_tuple=True):
    setup = _Setup(kind, f, args, names, kwargs, reference, argnums, mode, step, probes, check_dtype)
    subject = _Subject(setup, rule_under_test, cotangent_last, tangents_as_tuple)
    results = {p: _Result(setup, p, setup.references[p], setup.mode) for p in setup.positions}
    rng = np.random.default_rng(seed)
    s = setup
    try:
        if any(s.arrays[p].size == 0 for p in s.positions) or s.n_out == 0:
            _check_empty(s, subject, results)
        elif s.mode == "full":
            _check_full(s, subject, results, rng)
        else:
            _check_dot(s, subject, results, rng)
    except _RuleError as err:
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
        J, E, M, tol, col_step, col_h, _ = _full_block(s, p, s.references[p], R[p], results[p])
        _report_full(s, p, results[p], R[p], J, tol, M, col_step, col_h)
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
            tol, Mw = _probe_tolerance(J, E, M, u64, 0, s.eps_rule)
            in_shape = s.arrays[p].shape
            results[p].add(
                np.asarray(g, dtype=np.float64).reshape(-1), u64 @ J, tol, Mw,
                out_index=lambda k: None, in_index=lambda k, sh=in_shape: _unravel(k, sh),
                step=lambda k, cs=col_step: cs[k], abs_step=lambda k, ch=col_h: ch[k],
                compared=lambda k, sh=in_shape, nm=s.names[p]: (
                    f"entry {_idx(_unravel(k, sh))} of your vjp's gradient for {nm!r} at a random cotangent u"
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
            tol, Mw = _probe_tolerance(J, E, M, v64, 1, s.eps_rule)
            steps = [c for c in col_step if c is not None]
            results[p].add(
                np.asarray(h, dtype=np.float64).reshape(-1), J @ v64, tol, Mw,
                out_index=lambda k: _unravel(k, s.out_shape), in_index=lambda k: None,
                step=max(steps) if steps else None, abs_step=None,
                compared=lambda k, nm=s.names[p]: (
                    f"entry {_idx(_unravel(k, s.out_shape))} of your jvp's output at a random tangent v of {nm!r}"
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
                Jv = _contract_jvp(J, vs[p]) if isinstance(J, Jacobian) else np.tensordot(J, vs[p], axes=vs[p].ndim)
                Jv64 = np.asarray(Jv, dtype=np.float64)
                value, magnitude = float(np.sum(u64 * Jv64)), float(np.sum(np.abs(u64 * Jv64)))
                what = "<u, J v> with your Jacobian, for random u, v"
            _dot_compare(s, p, s.references[p], results[p], u64, v64, value, magnitude, probe, what)


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


# ---- Rule modules, the built-in table and the command -------------------------------------


@dataclass
class RuleCase:
    """A rule to verify, with example inputs: one entry of a module's ``RULES`` list.

    Attributes:
        name: the name shown in the table.
        f: the function (or a registered rule or its name).
        examples: a list of examples; each is a tuple of arrays (the arguments), or a pair
            ``(arrays, kwargs)`` when the example needs options such as ``axis``.  They are
            cast to each dtype of the table (float64 and float32).
        vjp, jvp, jac: the rules to check (any of them).  When none is given and ``f`` is a
            registered rule, the rule's own Jacobian is checked against finite differences.
        kwargs: options for every example (merged under each example's own).
        reference: the checker's ``reference`` (``"auto"`` uses the registered rule's
            Jacobian when ``f`` is registered, else finite differences).
        options: further keyword arguments for the checkers (``cotangent_last=True``, ``mode``, ...).

    >>> import numpy as np
    >>> from tensorjac.testing import RuleCase, run_cases
    >>> case = RuleCase("neg", np.negative, vjp=lambda g, x: (-g,), examples=[(np.ones(3),)])
    >>> [(row["argument"], row["dtype"], row["result"]) for row in run_cases([case])]
    [('x', 'float64', 'ok'), ('x', 'float32', 'ok')]
    """

    name: str
    f: object
    examples: Sequence = ()
    vjp: object = None
    jvp: object = None
    jac: object = None
    kwargs: dict | None = None
    reference: str = "auto"
    options: dict = field(default_factory=dict)

    def checks(self):
        """``(kind, checker, rule_under_test, reference)`` for each rule this case checks."""
        found = []
        if self.jac is not None:
            found.append(("jacobian", check_jacobian, self.jac, self.reference))
        if self.vjp is not None:
            found.append(("vjp", check_vjp, self.vjp, self.reference))
        if self.jvp is not None:
            found.append(("jvp", check_jvp, self.jvp, self.reference))
        if not found:
            rule = get_rule(self.f) if isinstance(self.f, (str, Rule)) else _registered_rule_of(self.f)
            if rule is None:
                raise ValueError(f"RuleCase {self.name!r} gives no vjp, jvp or jac, and f is not a registered rule")
            found.append(("jacobian", check_jacobian, rule.jacobian, "numerical"))
        return found

    def example_list(self):
        """The examples as ``(args, kwargs)`` pairs."""
        out = []
        for ex in self.examples:
            if isinstance(ex, tuple) and len(ex) == 2 and isinstance(ex[1], Mapping) and isinstance(ex[0], (tuple, list)):
                args, kw = tuple(ex[0]), dict(ex[1])
            elif isinstance(ex, (tuple, list)):
                args, kw = tuple(ex), {}
            else:
                args, kw = (ex,), {}
            out.append((args, {**(self.kwargs or {}), **kw}))
        return out


def run_cases(cases, dtypes=("float64", "float32"), mode=None, seed=0):
    """Check every :class:`RuleCase` on its examples in each dtype; one row per rule, argument and dtype.

    Each row is a dict with keys ``rule``, ``check``, ``argument``, ``dtype``, ``cases``,
    ``reference``, ``max_rel_error``, ``worst_ratio``, ``result`` (``"ok"`` or ``"FAIL"``) and
    ``messages`` (the failure messages).
    """
    rows = []
    for case in cases:
        examples = case.example_list()
        try:
            checks = case.checks()
        except ValueError as exc:
            rows.append(_error_row(case.name, "-", str(exc)))
            continue
        if not examples:
            rows.append(_error_row(case.name, checks[0][0], "no examples"))
            continue
        for kind, checker, under_test, reference in checks:
            for dtype in dtypes:
                table = {}
                for n, (args, kw) in enumerate(examples):
                    cast = [np.asarray(a, dtype=dtype) for a in args]
                    options = dict(case.options)
                    if mode is not None:
                        options["mode"] = mode
                    try:
                        report = checker(case.f, under_test, *cast, kwargs=kw, reference=reference,
                                         seed=seed + n, raise_on_failure=False, **options)
                    except (ValueError, TypeError) as exc:
                        rows.append(_error_row(case.name, kind, f"example {n}: {type(exc).__name__}: {exc}", dtype))
                        continue
                    for a in report.arguments:
                        row = table.setdefault(a.name, {
                            "rule": case.name, "check": kind, "argument": a.name, "dtype": str(np.dtype(dtype)),
                            "cases": 0, "reference": report.reference, "max_rel_error": 0.0, "worst_ratio": 0.0,
                            "result": "ok", "messages": [],
                        })
                        row["cases"] += 1
                        row["max_rel_error"] = max(row["max_rel_error"], a.max_rel_error)
                        row["worst_ratio"] = max(row["worst_ratio"], a.worst_ratio)
                        if not a.ok:
                            row["result"] = "FAIL"
                            row["messages"].append(f"example {n}:\n{report.message()}")
                rows.extend(table.values())
    return rows


def _error_row(name, kind, message, dtype="-"):
    return {"rule": name, "check": kind, "argument": "-", "dtype": dtype, "cases": 0, "reference": "-",
            "max_rel_error": float("nan"), "worst_ratio": float("nan"), "result": "FAIL", "messages": [message]}


def format_table(rows, title=None) -> str:
    """The verification table of :func:`run_cases` rows, as text."""
    head = ("rule", "check", "argument", "dtype", "cases", "max rel error", "err/tol", "result")
    body = [head] + [
        (r["rule"], r["check"], r["argument"], r["dtype"], str(r["cases"]), _fmt(r["max_rel_error"]),
         _fmt(r["worst_ratio"]), r["result"])
        for r in rows
    ]
    passed = sum(r["result"] == "ok" for r in rows)
    text = _table(body) + f"\n{passed} of {len(rows)} rows pass"
    return (title + "\n" + text) if title else text


def _is_builtin(rule) -> bool:
    """True for the rules registered by tensorjac/rules.py itself (their makers are defined there)."""
    path = os.path.abspath(_rules_module.__file__)
    for maker in rule.makers:
        if maker is None:
            continue
        code = getattr(maker, "__code__", None)
        if code is None or os.path.abspath(code.co_filename) != path:
            return False
    return True


def _builtin_examples():
    """Example inputs of every built-in rule: broadcasting, size-1 axes, ties, stacks (seeded)."""
    rng = np.random.default_rng(20240611)

    def n(*shape, scale=1.0):
        return rng.standard_normal(shape) * scale

    def pos(*shape, lo=0.2, hi=3.0):
        return rng.uniform(lo, hi, shape)

    def away(*shape):
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)

    a = n(2, 3)
    ties = a.copy()
    ties[0, 1] = a[0, 1]
    tie_b = n(2, 3)
    tie_b[0, ::2] = a[0, ::2]  # exact ties: each argument gets 1/2
    relu_x = n(2, 4)
    relu_x[1, 2] = 0.0  # relu'(0) = 1/2
    X = n(4, 3)
    return {
        "exp": [(n(3),), (n(2, 1, 3),), (n(),)],
        "log": [(pos(3),), (pos(2, 1, 3, lo=0.05),)],
        "sin": [(n(3, scale=2),), (n(1, 4, scale=2),)],
        "cos": [(n(3, scale=2),), (n(2, 1, scale=2),)],
        "tanh": [(n(3, scale=1.5),), (n(2, 1, 2, scale=2),)],
        "logit": [(n(4, scale=2),), (n(1, 3, scale=3),)],
        "relu": [(relu_x,), (n(3, 1),)],
        "add": [(n(2, 3), n(3)), (n(2, 1), n(1, 3)), (n(1, 3), n(2, 2, 3))],
        "subtract": [(n(2, 3), n(3)), (n(3, 1), n(1, 2))],
        "multiply": [(n(2, 3), n(3)), (n(2, 1), n(1, 3)), (n(), n(2, 2))],
        "divide": [(n(2, 3), away(3)), (n(2, 1), away(1, 3))],
        "maximum": [(a, tie_b), (n(2, 1), n(1, 3)), (n(3), n(2, 3))],
        "matmul": [
            (n(3), n(3)), (n(2, 3), n(3)), (n(3), n(3, 2)), (n(2, 3), n(3, 2)),
            (n(2, 2, 3), n(3, 2)), (n(3), n(2, 3, 2)), (n(2, 1, 2, 3), n(2, 3, 2)),
        ],
        "affine": [(X, n(3, 2), n(2)), (n(3), n(3, 2), n(2))],
        "sum": [
            ((n(2, 3),), {}), ((n(2, 3),), {"axis": 0}), ((n(2, 3, 2),), {"axis": (0, 2)}),
            ((n(2, 3),), {"axis": -1, "keepdims": True}), ((n(1, 3),), {"axis": 0}),
        ],
        "softmax": [((n(2, 3),), {}), ((n(3, 2),), {"axis": 0}), ((n(4, scale=3),), {})],
        "cross_entropy": [(pos(2, 3, lo=0.0, hi=1.0), pos(2, 3, lo=0.1, hi=1.0))],
    }


def builtin_cases():
    """A :class:`RuleCase` for every built-in rule: its Jacobian against finite differences.

    A built-in rule without example inputs gets a case with no examples, which the table
    reports as failing ("no examples").
    """
    examples = _builtin_examples()
    cases = []
    for name in rule_names():
        rule = get_rule(name)
        if not _is_builtin(rule):
            continue
        cases.append(RuleCase(name, rule, examples=examples.get(name, ()), jac=rule.jacobian, reference="numerical"))
    return cases


def _load_module(spec):
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = os.path.abspath(spec)
        if not os.path.exists(path):
            raise ImportError(f"no file {path}")
        name = os.path.splitext(os.path.basename(path))[0]
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules.setdefault(name, module)
        mod_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def module_cases(module) -> list:
    """The :class:`RuleCase` list ``RULES`` of a module (imported if given by name or path)."""
    if isinstance(module, str):
        module = _load_module(module)
    rules = getattr(module, "RULES", None)
    if rules is None:
        raise ValueError(
            f"module {module.__name__!r} defines no RULES list; declare its rules as "
            "RULES = [tensorjac.testing.RuleCase(name, f, vjp=..., examples=[...]), ...]"
        )
    rules = list(rules)
    bad = [r for r in rules if not isinstance(r, RuleCase)]
    if bad:
        raise ValueError(f"RULES of {module.__name__!r} must hold tensorjac.testing.RuleCase objects, got {bad[0]!r}")
    return rules


def main(argv=None) -> int:
    """Print the verification table of the built-in rules, or of the modules given; return the exit code.

    ``python -m tensorjac.testing [module ...] [--builtins] [--dtype float64,float32] [--mode MODE] [-v]``.
    Exit code 0 when every row passes, 1 when one fails, 2 for a module that cannot be used.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tensorjac.testing",
        description="Verify tensorjac's built-in rules, or the RULES list of your own modules, against "
                    "finite differences / registered rules and print a table.",
    )
    parser.add_argument("modules", nargs="*", help="import paths (pkg.mod) or .py files declaring RULES")
    parser.add_argument("--builtins", action="store_true", help="also check the built-in rules when modules are given")
    parser.add_argument("--dtype", default="float64,float32", help="comma-separated dtypes (default: float64,float32)")
    parser.add_argument("--mode", choices=_MODES, default=None, help="force the check mode (default: each case's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the failure messages")
    ns = parser.parse_args(argv)
    dtypes = tuple(d.strip() for d in ns.dtype.split(",") if d.strip())
    for d in dtypes:
        if np.dtype(d) not in (np.dtype(np.float32), np.dtype(np.float64)):
            parser.error(f"--dtype: only float32 and float64 are supported, got {d}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # so that a console script finds the user's modules too

    sections = []
    if not ns.modules or ns.builtins:
        sections.append(("built-in rules (Jacobian vs finite differences)", builtin_cases()))
    for spec in ns.modules:
        try:
            sections.append((f"module {spec}", module_cases(spec)))
        except (ImportError, ValueError) as exc:
            print(f"error: cannot use {spec!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    status = 0
    for title, cases in sections:
        rows = run_cases(cases, dtypes=dtypes, mode=ns.mode)
        print(format_table(rows, title=f"== {title} =="))
        print()
        if any(r["result"] != "ok" for r in rows):
            status = 1
            for r in rows:
                if r["result"] != "ok" and (ns.verbose or r["argument"] == "-"):
                    for m in r["messages"]:
                        print(m)
                        print()
    return status


if __name__ == "__main__":
    # Run the copy imported as ``tensorjac.testing``, not this ``__main__`` one, so that the
    # RuleCase objects of user modules (which import tensorjac.testing) are recognised.
    from tensorjac.testing import main as _main

    sys.exit(_main())
