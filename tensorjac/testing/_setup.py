"""Resolving what a check needs: the function, the rule under test's names, both precisions, the references."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .._validation import as_finite_float_array, select_args
from ..numerical import DEFAULT_STEP, arg_names, check_names, check_step, real_output
from ..rules import Rule, find_rule, get_rule
from ._reference import NumericalReference, RuleReference

__all__ = ["FULL_MODE_MAX_SIZE", "MODES", "Setup", "RuleError"]

#: ``mode="auto"`` compares full blocks when the output and each checked argument have at most
#: this many entries (finite differences then cost what 64 input entries of numerical_jacobian do).
FULL_MODE_MAX_SIZE = 64
MODES = ("auto", "full", "dot")
_REFERENCES = ("auto", "rule", "numerical")


class RuleError(Exception):
    """The rule under test failed as a whole (exception, wrong number of results)."""

    def __init__(self, message, exception=None):
        super().__init__(message)
        self.exception = exception


def _fun_label(f) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def check_flag(value, name: str, none_ok: bool = False):
    """``value`` as a bool (``None`` kept where allowed), else ``ValueError`` naming the option."""
    if value is None and none_ok:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if none_ok else "True or False"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return bool(value)


def _array(a, name: str) -> np.ndarray:
    try:
        return as_finite_float_array(a, name)
    except ValueError as exc:
        if "inhomogeneous" not in str(exc) and "sequence" not in str(exc):
            raise
        raise TypeError(f"{name} is not a rectangular array of numbers: {exc}") from exc


def _value(fun, arrays, kwargs, kind, where):
    """``f`` at the point (in the given precision), checked to be a real floating-point array."""
    try:
        out = fun(*arrays, **kwargs)
    except Exception as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(f"(raised by f at the point given to check_{kind}, {where})")
        raise
    ans = real_output(out, f"at the point ({where})")
    if ans.dtype.kind != "f":
        raise TypeError(f"f returned dtype {ans.dtype} at the point; check_{kind} needs a floating-point output")
    return ans


class Setup:
    """Everything a check needs: the function, names, arrays in both precisions, the value."""

    def __init__(self, kind, f, args, names, kwargs, reference, argnums, mode, step, probes, check_dtype):
        if not args:
            raise ValueError(f"check_{kind} needs at least one array argument")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if reference not in _REFERENCES:
            raise ValueError(f"reference must be one of {list(_REFERENCES)}, got {reference!r}")
        if not isinstance(probes, (int, np.integer)) or isinstance(probes, bool) or probes < 1:
            raise ValueError(f"probes must be a positive int, got {probes!r}")
        base = DEFAULT_STEP if step is None else check_step(step)
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise ValueError(f"kwargs must be a dict of non-array options for f, got {type(kwargs).__name__}")
        if names is not None:
            names = check_names(names, len(args))  # strings, one per argument (not the letters of "xy")
        self.kind, self.kwargs = kind, dict(kwargs or {})
        self.base_step = float(base)
        self.probes = int(probes)
        check_dtype = check_flag(check_dtype, "check_dtype", none_ok=True)
        self.check_dtype = (kind != "jacobian") if check_dtype is None else check_dtype

        rule = None
        if isinstance(f, str):
            rule = get_rule(f)  # ValueError listing the registered names
            fun, label = rule.fun, rule.name
        elif isinstance(f, Rule):
            rule, fun, label = f, f.fun, f.name
        elif callable(f):
            fun, rule = f, find_rule(f)
            label = rule.name if rule is not None else _fun_label(f)
        else:
            raise ValueError(f"f must be a function, a registered rule or a rule name, got {type(f).__name__}")
        if isinstance(f, (str, Rule)) and not rule.variadic and len(args) != len(rule.argnames):
            raise ValueError(
                f"rule {rule.name!r} takes {len(rule.argnames)} array argument(s) {list(rule.argnames)}, got {len(args)}"
            )
        self.fun, self.label, self.rule = fun, label, rule
        if names is None:
            names = (rule.arg_names(len(args)) if rule is not None and (rule.variadic or len(rule.argnames) == len(args))
                     else arg_names(fun, len(args)))
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

        self.arrays = [_array(a, f"argument {n!r}") for a, n in zip(args, names)]
        self.args64 = [a.astype(np.float64) for a in self.arrays]
        if rule is not None:
            rule(*self.args64, **self.kwargs)  # the rule's own domain and shape checks (ValueError)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ans = _value(fun, self.arrays, self.kwargs, kind, "in the arguments' dtypes")
            self.ans64 = _value(fun, self.args64, self.kwargs, kind, "in float64").astype(np.float64)
        if not np.all(np.isfinite(self.ans64)):
            raise ValueError(
                f"f(*args) is not finite at the given point (shape {self.ans64.shape}): the point is outside the "
                "range where the check is meaningful; pick another point"
            )
        if not np.all(np.isfinite(ans)):
            raise ValueError(
                f"f(*args) overflows in {ans.dtype} at the given point (it is finite in float64): the point is "
                f"outside the range where a {ans.dtype} rule can be checked; pick a smaller point or check in float64"
            )
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
            if self.rule.maker(pos) is not None:
                try:
                    return RuleReference(self, pos)
                except Exception as exc:  # noqa: BLE001 - fall back to finite differences, and say so
                    if self.reference_kind == "rule":
                        raise
                    self.notes.append(
                        f"note: rule {self.rule.name!r} gave no Jacobian for {self.names[pos]!r} "
                        f"({type(exc).__name__}: {exc}); finite differences were used instead"
                    )
            elif self.reference_kind == "rule":
                raise ValueError(f"rule {self.rule.name!r} has no Jacobian for argument {self.names[pos]!r}")
        return NumericalReference(self, pos)

    def reference_label(self) -> str:
        kinds = {type(r) for r in self.references.values()}
        if kinds == {RuleReference}:
            return f"rule {self.rule.name!r} Jacobian in float64"
        if kinds == {NumericalReference}:
            return "numerical_jacobian in float64"
        return "rule Jacobian / numerical_jacobian in float64"


