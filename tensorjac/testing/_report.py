"""Reports of the checkers: what was compared, the worst entry, and the words of a failure."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ArgumentReport", "CheckReport", "fmt", "table"]


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
        compared: what the rule's value at the worst entry is, in words; ``rule_words`` and
            ``reference_words`` name the two values compared when they are not the rule in the
            argument's dtype and the reference (dot mode's float64 run of a float32 rule).
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
    rule_words: str | None = None
    reference_words: str | None = None
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
            rule_words = a.rule_words or f"{_rule_words(self.kind)}, {a.dtype}"
            lines.append(f"    rule      ({rule_words}): {fmt(a.rule_value)}")
            lines.append(f"    reference ({a.reference_words or _reference_words(self.reference, a)}): {fmt(a.reference_value)}")
            lines.append(
                f"    |rule - reference| = {fmt(abs(a.rule_value - a.reference_value))} > tolerance "
                f"{fmt(a.tolerance)} ({_ratio_words(a.worst_ratio)} the tolerance)"
            )
            lines.append(f"    compared value: {a.compared}")
            lines.append(f"    step: {_step_words(a)}")
            lines.append(
                f"  max abs error {fmt(a.max_abs_error)}, max rel error {fmt(a.max_rel_error)} over "
                f"{a.entries} compared value(s)"
            )
        passing = [a for a in self.arguments if a.ok]
        if passing:
            lines.append(
                "other arguments: "
                + ", ".join(f"{a.name!r} ok (max rel error {fmt(a.max_rel_error)})" for a in passing)
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
                a.name, str(a.shape), a.dtype, a.mode, fmt(a.max_abs_error), fmt(a.max_rel_error),
                fmt(a.worst_ratio), where, "ok" if a.ok else "FAIL",
            ))
        text = head + "\n" + table(rows)
        if not self.ok:
            text += "\n" + self.message()
        return text

    def __repr__(self) -> str:
        args = ", ".join(f"{a.name}={'ok' if a.ok else 'FAIL'}" for a in self.arguments)
        return f"<CheckReport {self._title()} {'ok' if self.ok else 'FAILED'}: {args}>"


def fmt(x) -> str:
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


def index_text(index) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _entry_words(a) -> str:
    if a.out_index is None and a.in_index is None:
        return "not localised by the dot-product test <u, J v> (run mode='full' on a smaller input to find the entry)"
    out = "out" + index_text(a.out_index) if a.out_index is not None else "out (all entries, contracted with u)"
    inn = a.name + index_text(a.in_index) if a.in_index is not None else f"{a.name} (all entries, contracted with v)"
    return f"d {out} / d {inn}"


def _short_entry(a) -> str:
    if a.entries == 0:
        return "-"
    if a.out_index is None and a.in_index is None:
        return "<u, J v>"
    out = index_text(a.out_index) if a.out_index is not None else "u"
    inn = index_text(a.in_index) if a.in_index is not None else "v"
    return f"{out} / {inn}"


def table(rows) -> str:
    widths = [max(len(str(r[k])) for r in rows) for k in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


