"""The cached gradient: a recorded call of ``f`` replayed as a straight line of numpy calls.

``tj.grad(f, cache=True)`` (and ``value_and_grad``) records ``f`` once per signature
(:mod:`._replay`) and compiles the record into a :class:`GradientProgram`: the forward
equations, each a rule's numpy function on slots of a flat list of values, then the backward
steps, each the rule's direct cotangent rule (``Rule.vjp``, :mod:`tensorjac.rules._vjp`) or,
for a rule without one, its structured Jacobian block made and contracted with the cotangent.
No traced value, ``Var``, ``Equation`` or ``Jacobian`` object is created for the rules that
have a direct rule, which is what makes small problems fast (the N=8 network of note 001).

Every check of a traced call is kept: the inputs are checked finite, each rule's domain is
checked, a value of another shape or dtype than recorded makes the caller trace ``f`` again
(:class:`~tensorjac.trace._replay.Stale`), and a gradient that is not finite sends the call
down the general path, which names the rule at fault.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _jacobian as JM
from .._validation import as_finite_float_array
from ._replay import Stale
from ._tracer import Ref, Trace, Var, map_nested

__all__ = ["GradientProgram", "compile_gradient"]


class _Slot:
    """A value's place in the program's flat list (in a recorded call's arguments)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _to_slots(template, slot):
    return map_nested(lambda ref: _Slot(slot[ref.var.id]), template, Ref)


def _fill(template, env):
    return map_nested(lambda s: env[s.index], template, _Slot)


def _fallback_vjp(rule, pos):
    """Make the block of argument ``pos`` and contract the cotangent with it."""
    def vjp(g, ans, *arrays, **options):
        return JM.pull(g, Trace._jacobian(rule, pos, ans, list(arrays), options))

    return vjp


def compile_gradient(call):
    """A :class:`GradientProgram` for a recorded call, or None where the general path is needed
    (an output that is not a scalar, that is constant or that is one of the inputs)."""
    if call.output is None or call.value.shape != () or any(call.output is v for v in call.inputs):
        return None
    return GradientProgram(call)


class GradientProgram:
    """The gradient of a recorded scalar-valued call, replayable with new values (module docstring)."""

    def __init__(self, call):
        trace, graph = call.trace, call.graph
        slot: dict[int, int] = {}
        for var in trace.vars:
            slot[var.id] = len(slot)
        self.size = len(slot)
        self.names = call.names
        self.inputs = [(var.argnum, slot[var.id], var.shape, var.dtype) for var in trace.inputs]
        self.constants = [(var.argnum, slot[var.id]) for var in trace.constants]
        on_path = {id(eq) for eq in graph.equations}
        self.forward = []
        saved_at = {}
        for eq in trace.equations:
            out, shape, dtype = slot[eq.out.id], eq.out.shape, eq.out.dtype
            if eq.rule is None:  # a constant computed in f (a mask, an index)
                args_t, kwargs_t, index = eq.call
                ins = (_to_slots(args_t, slot), _to_slots(kwargs_t, slot), index)
                self.forward.append((None, eq.func, ins, None, False, out, shape, dtype, -1))
                continue
            slots = tuple(slot[x.id] if type(x) is Var else -1 for x in eq.inputs)
            consts = tuple(None if type(x) is Var else x for x in eq.inputs)
            # the arrays the Jacobian makers and cotangent rules get: a constant scalar in the result's dtype
            arrays = tuple(None if type(x) is Var or type(x) is np.ndarray else np.asarray(x, dtype=dtype)
                           for x in eq.inputs)
            if not any(a is not None for a in arrays):
                arrays = None
            fill = eq.call is not None  # options computed in f: filled in at every run
            options = _to_slots(eq.call[1], slot) if fill else eq.options
            save = -1
            if id(eq) in on_path:
                save = saved_at[id(eq)] = len(saved_at)
            self.forward.append((eq.rule, eq.rule.fun, (slots, consts, arrays), options, fill, out, shape, dtype, save))
        self.saved = len(saved_at)
        self.backward = []
        for eq in reversed(graph.equations):
            edges = tuple((pos, slot[eq.inputs[pos].id], eq.rule.vjp.get(pos) or _fallback_vjp(eq.rule, pos))
                          for pos in eq.jacobians)
            self.backward.append((slot[eq.out.id], saved_at[id(eq)], edges))
        self.output = slot[call.output.id]
        self.value_dtype = call.value.dtype

    def run(self, args):
        """``(value, [gradient per input])`` for new arguments; raises :class:`Stale` when the
        values no longer fit the record, or when a gradient is not finite (the general path then
        names the rule at fault)."""
        env = [None] * self.size
        for argnum, s, shape, dtype in self.inputs:
            value = as_finite_float_array(args[argnum], f"argument {self.names[argnum]!r}")
            if value.shape != shape or value.dtype != dtype:
                raise Stale
            env[s] = value
        for argnum, s in self.constants:
            env[s] = np.asarray(args[argnum])
        saved = [None] * self.saved
        for rule, fun, ins, options, fill, out, shape, dtype, save in self.forward:
            if rule is None:  # a constant (a mask, an index): computed as numpy computes it
                args_t, kwargs_t, index = ins
                result = fun(*_fill(args_t, env), **_fill(kwargs_t, env))
                for k in index:
                    result = result[k]
                value = np.asarray(result)
            else:
                slots, consts, arrays = ins
                values = [env[s] if s >= 0 else c for s, c in zip(slots, consts)]
                if fill:
                    options = _fill(options, env)
                arrays_np = values if arrays is None else [v if a is None else a for v, a in zip(values, arrays)]
                if rule.domain is not None:
                    rule.domain(*arrays_np)
                value = rule.evaluate(values, options)  # numpy's errors in the rule's words
                if type(value) is not np.ndarray:
                    value = np.asarray(value)
                values = arrays_np
                if save >= 0:
                    saved[save] = (value, values, options)
            if value.shape != shape or value.dtype != dtype:
                raise Stale
            env[out] = value
        ct = {self.output: np.ones((), dtype=self.value_dtype)}
        for out, save, edges in self.backward:
            g = ct.pop(out, None)
            if g is None:
                continue
            ans, values, options = saved[save]
            for pos, s, vjp in edges:
                part = vjp(g, ans, *values, **options)
                ct[s] = part if s not in ct else ct[s] + part
        grads, seen = [], set()
        for argnum, s, shape, dtype in self.inputs:
            g = ct.get(s)
            if g is None:
                g = np.zeros(shape, dtype=np.result_type(dtype, self.value_dtype))
            else:
                if not math.isfinite(g.sum()):
                    raise Stale  # the general path raises the error that names the rule
                if g.shape != shape:
                    g = g.reshape(shape)
                if g.base is not None or not g.flags.writeable or id(g) in seen:
                    g = g.copy()  # a view of a cotangent or of a value: the caller owns what it gets
            seen.add(id(g))
            grads.append(g)
        value = env[self.output]
        if value.base is not None and any(np.may_share_memory(value, env[s]) for _, s, _, _ in self.inputs):
            value = value.copy()
        return value, grads
