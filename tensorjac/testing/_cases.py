"""Rule modules and the built-in table: ``RuleCase``, ``run_cases``, ``format_table``, ``builtin_cases``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validation import float_dtype
from ..rules import Rule, find_rule, get_rule, rule_names
from ._checks import check_jacobian, check_jvp, check_vjp
from ._report import fmt, table

__all__ = ["RuleCase", "run_cases", "format_table", "builtin_cases", "module_cases", "rule_examples", "ModuleLoadError"]


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

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"RuleCase: name must be a string, got {self.name!r}")
        if isinstance(self.examples, (str, bytes)) or not isinstance(self.examples, Sequence):
            raise TypeError(f"RuleCase {self.name!r}: examples must be a list of examples, got {type(self.examples).__name__}")
        if self.kwargs is not None and not isinstance(self.kwargs, Mapping):
            raise TypeError(f"RuleCase {self.name!r}: kwargs must be a dict of options, got {type(self.kwargs).__name__}")
        if not isinstance(self.options, Mapping):
            raise TypeError(f"RuleCase {self.name!r}: options must be a dict, got {type(self.options).__name__}")
        for what in ("vjp", "jvp", "jac"):
            rule = getattr(self, what)
            if rule is not None and not callable(rule):
                raise TypeError(f"RuleCase {self.name!r}: {what} must be a function, got {type(rule).__name__}")

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
            rule = get_rule(self.f) if isinstance(self.f, (str, Rule)) else find_rule(self.f)
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
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    if not isinstance(dtypes, Sequence) or not dtypes:
        raise ValueError(f"run_cases: dtypes must be a non-empty sequence of float32/float64, got {dtypes!r}")
    dtypes = tuple(float_dtype(d, "run_cases: each of dtypes") for d in dtypes)
    if isinstance(cases, (RuleCase, str)) or not isinstance(cases, Sequence):
        raise TypeError(f"run_cases takes a list of tensorjac.testing.RuleCase, got {type(cases).__name__}")
    for case in cases:
        if not isinstance(case, RuleCase):
            raise TypeError(f"run_cases takes a list of tensorjac.testing.RuleCase, got an item {case!r}")
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
                    try:
                        cast = [np.asarray(a, dtype=dtype) for a in args]
                    except (ValueError, TypeError) as exc:
                        rows.append(_error_row(case.name, kind, f"example {n}: its arguments cannot be cast to "
                                                                f"{np.dtype(dtype)}: {exc}", dtype))
                        continue
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


_ROW_KEYS = ("rule", "check", "argument", "dtype", "cases", "max_rel_error", "worst_ratio", "result")


def format_table(rows, title=None) -> str:
    """The verification table of :func:`run_cases` rows, as text."""
    if not isinstance(rows, Sequence) or isinstance(rows, str) or not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(f"format_table takes the list of row dicts that run_cases returns, got {rows!r:.60}")
    for r in rows:
        missing = [k for k in _ROW_KEYS if k not in r]
        if missing:
            raise ValueError(f"format_table: a row lacks the keys {missing} (rows come from run_cases)")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"format_table: title must be a string, got {title!r}")
    head = ("rule", "check", "argument", "dtype", "cases", "max rel error", "err/tol", "result")
    body = [head] + [
        (r["rule"], r["check"], r["argument"], r["dtype"], str(r["cases"]), fmt(r["max_rel_error"]),
         fmt(r["worst_ratio"]), r["result"])
        for r in rows
    ]
    passed = sum(r["result"] == "ok" for r in rows)
    text = table(body) + f"\n{passed} of {len(rows)} rows pass"
    return (title + "\n" + text) if title else text


def rule_examples(rule) -> list:
    """The example inputs a rule declares (``Rule.examples``), drawn from a generator seeded by its name.

    ``rule`` is a :class:`~tensorjac.Rule`, a rule name or a registered function."""
    rule = get_rule(rule)
    if rule.examples is None:
        return []
    return list(rule.examples(np.random.default_rng(zlib.crc32(rule.name.encode()))))


def builtin_cases():
    """A :class:`RuleCase` for every built-in rule: its Jacobian against finite differences.

    The examples are those declared beside each rule (``Rule.examples``).  A built-in rule
    without examples gets a case with no examples, which the table reports as failing
    ("no examples").
    """
    cases = []
    for name in rule_names():
        rule = get_rule(name)
        if rule.builtin:
            cases.append(RuleCase(name, rule, examples=rule_examples(rule), jac=rule.jacobian, reference="numerical"))
    return cases


class ModuleLoadError(ImportError):
    """A rule module given by name or path could not be loaded; the message says why and what to do."""


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec or os.path.isfile(spec)


def _load_file(spec: str):
    path = os.path.abspath(spec)
    if not os.path.exists(path) and os.path.isfile(path + ".py"):
        path += ".py"
    if os.path.isdir(path):
        raise ModuleLoadError(f"{path} is a directory; pass the .py file that declares RULES")
    if not os.path.isfile(path):
        raise ModuleLoadError(f"no file {path} (relative paths start from the current directory, {os.getcwd()})")
    name = os.path.splitext(os.path.basename(path))[0]
    if getattr(sys.modules.get(name), "__file__", path) != path:
        name = f"tensorjac_check_{name}"  # do not shadow an imported module of the same name
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # as `python file.py` does: the module may import its neighbours
    mod_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ModuleLoadError(f"executing {path} raised {type(exc).__name__}: {exc}") from exc
    return module


def _load_module(spec: str):
    """A module of rules by import path (``pkg.rules``) or by file path (``path/to/rules.py``)."""
    if _is_path(spec):
        return _load_file(spec)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if spec != missing and not spec.startswith(missing + "."):
            raise ModuleLoadError(f"importing {spec!r} raised ModuleNotFoundError inside it: {exc}") from exc
        guess = os.path.join(*spec.split(".")) + ".py"
        raise ModuleLoadError(
            f"cannot import module {spec!r}: no module named {missing!r} on the import path (which includes the "
            f"current directory, {os.getcwd()}). Run the command from the directory that contains {missing!r}, "
            f"or pass the module's file instead, e.g. path/to/{guess}"
        ) from exc
    except Exception as exc:
        raise ModuleLoadError(f"importing {spec!r} raised {type(exc).__name__}: {exc}") from exc


def module_cases(module) -> list:
    """The :class:`RuleCase` list ``RULES`` of a module (imported if given by name or path).

    Raises:
        ModuleLoadError: (an ``ImportError``) the module cannot be imported or executed; the
            message names the module and, for a name not on the import path, suggests the path form.
        ValueError: the module has no ``RULES`` list of :class:`RuleCase`.
    """
    if isinstance(module, str):
        module = _load_module(module)
    elif not isinstance(module, types.ModuleType):
        raise TypeError(f"module_cases takes a module, an import path or a .py file path, got {type(module).__name__}")
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


