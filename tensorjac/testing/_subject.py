"""The rule under test: its calling conventions (vjp, jvp, Jacobian), its results validated per argument."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._jacobian import Jacobian
from ._setup import RuleError

__all__ = ["Subject"]


def _shapes(arrays) -> str:
    return ", ".join(str(a.shape) for a in arrays)


class Subject:
    """The rule under test, called in the working dtype, its results validated per argument."""

    def __init__(self, setup: Setup, rule, cotangent_last=False, tangents_as_tuple=True):
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
            raise RuleError(f"the {what} raised {type(exc).__name__}: {exc}\n  (called with {called_with})", exc) from exc

    def _arrays(self, in64):
        """The arguments the rule is called with: the point in the working dtype, or in float64."""
        return self.s.args64 if in64 else self.s.arrays

    # -- vjp --
    def vjp(self, u, in64=False):
        """``{pos: array or problem string}``; raises ``RuleError`` when the call fails as a whole.

        ``in64=True`` calls the rule on the float64 point (results expected in float64).
        """
        s = self.s
        arrays = self._arrays(in64)
        args = (*arrays, u) if self.cotangent_last else (u, *arrays)
        out = self._call("vjp", f"a cotangent of shape {u.shape} {u.dtype} and arguments of shapes {_shapes(arrays)}", *args)
        n, sel = len(s.arrays), s.positions
        if isinstance(out, (tuple, list)):
            items = list(out)
            if len(items) == n:
                per = {p: items[p] for p in sel}
            elif len(items) == len(sel):
                per = dict(zip(sel, items))
            else:
                raise RuleError(
                    f"the vjp returned {len(items)} value(s); expected one per argument ({n}: {list(s.names)})"
                )
        elif len(sel) == 1:
            per = {sel[0]: out}
        else:
            raise RuleError(
                f"the vjp returned a single {type(out).__name__}; f has {n} arguments {list(s.names)}: "
                "return a tuple with one array per argument"
            )
        return {p: self._validate(per[p], arrays[p].shape, arrays[p].dtype, p, "vjp") for p in sel}

    # -- jvp --
    def jvp(self, pos, v, in64=False):
        s = self.s
        arrays = self._arrays(in64)
        tangents = tuple(v if p == pos else np.zeros_like(a) for p, a in enumerate(arrays))
        first = tangents if self.tangents_as_tuple else tangents[0]
        out = self._call("jvp", f"tangents of shapes {_shapes(tangents)} and arguments of shapes {_shapes(arrays)}",
                         first, *arrays)
        if isinstance(out, (tuple, list)) and len(out) == 1:
            out = out[0]
        return self._validate(out, s.out_shape, np.float64 if in64 else s.out_dtype, pos, "jvp")

    # -- jacobian --
    def jacobian(self, in64=False, dense=True):
        """``{pos: (J, dense array or None, dtype) or problem string}`` (dense only when asked: dot mode
        contracts a structured Jacobian without building it)."""
        s = self.s
        arrays = self._arrays(in64)
        out = self._call("Jacobian function", f"arguments of shapes {_shapes(arrays)}", *arrays)
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
                raise RuleError(f"the Jacobian function returned blocks {keys}; expected {list(s.names)}")
        elif isinstance(out, (tuple, list)):
            if len(out) == n:
                per = {p: out[p] for p in sel}
            elif len(out) == len(sel):
                per = dict(zip(sel, out))
            else:
                raise RuleError(f"the Jacobian function returned {len(out)} blocks; expected one per argument ({n})")
        elif len(sel) == 1:
            per = {sel[0]: out}
        else:
            raise RuleError(
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
                result[p] = (J, np.asarray(J.dense()) if dense else None, J.dtype)
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


