"""Replaying a trace with new values (``cache=True``), as ``jax.jit`` replays a compiled program.

With ``cache=True`` a transform traces ``f`` once per *signature* (the shapes and dtypes of the
array arguments, the values of the other arguments) and then replays the recorded equations
with the new values: each rule's value and Jacobian blocks are recomputed, but ``f``'s Python
code is not run again, no traced value is created, and the accumulation order (and every
contraction plan) is reused.  What the cache assumes, as ``jax.jit`` does:

* ``f`` is a function of its arguments: arrays it reads from elsewhere (closures, globals) are
  read at the first call and replayed as they were then;
* Python control flow in ``f`` depends only on the signature (shapes, dtypes, non-array
  arguments): to make that checkable, array arguments that are not differentiated are traced
  as constants in cache mode, so branching on their values raises ``TracingError`` too.

A replay whose values come out with other shapes than the recorded ones (a boolean mask that
selects another number of entries) traces ``f`` again.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_finite_float_array, as_float_array
from ._accumulate import Graph
from ._tracer import Equation, Ref, Trace, Var, map_nested

__all__ = ["Replay", "signature_key", "Stale"]


class Stale(Exception):
    """The replay's values no longer fit the recorded program (shapes changed): trace again."""


def _key_of(value, arrays_by_identity=False):
    if isinstance(value, (np.ndarray, np.generic)):
        if arrays_by_identity:  # a keyword array is replayed as recorded: only the same object may reuse it
            return ("id", id(value))
        return ("array", value.shape, value.dtype.str)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_key_of(v, arrays_by_identity) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _key_of(v, arrays_by_identity)) for k, v in value.items())))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return ("value", type(value).__name__, value)


def signature_key(args, kwargs, positions):
    """The cache key of a call: positions differentiated, then each argument's kind and shape
    (differentiated scalars count as 0-d arrays), the keyword arguments likewise."""
    parts = []
    for k, a in enumerate(args):
        if k in positions:
            if type(a) is np.ndarray:
                arr = a
            else:
                try:
                    arr = np.asarray(a)
                except (ValueError, TypeError):  # a ragged list: say so, as an uncached call would
                    arr = as_float_array(a, f"argument {k}")
            parts.append(("diff", arr.shape, arr.dtype.str))
        elif isinstance(a, (np.ndarray, np.generic)):
            parts.append(_key_of(a))  # traced as a constant: replayed with its new values
        else:
            parts.append(_key_of(a, arrays_by_identity=True))
    return (positions, tuple(parts), _key_of(kwargs, arrays_by_identity=True))


def _fill(template, env):
    return map_nested(lambda ref: env[ref.var.id].value, template, Ref)


class Replay:
    """A recorded call of ``f`` that can be run again with new values (see the module docstring)."""

    def __init__(self, call):
        trace = call.trace
        self.names = call.names
        self.inputs = [(var.argnum, var.id) for var in trace.inputs]
        self.constants = [(var.argnum, var.id) for var in trace.constants]
        self.equations = list(trace.equations)
        self.output_id = None if call.output is None else call.output.id
        self.constant_output = call.output is None
        self.value_id = call.value_var.id if getattr(call, "value_var", None) is not None else None
        self.static_value = call.value if self.value_id is None and call.output is None else None
        self.memo: dict = {}  # the accumulation order chosen for this program
        self.gradient = None  # a compiled GradientProgram (tensorjac.trace._compiled), set by grad

    def run(self, args):
        """``(trace, output var, value, graph)`` recomputed for new arguments (raises :class:`Stale`)."""
        trace = Trace()
        env: dict[int, Var] = {}
        for argnum, old in self.inputs:
            var = trace.new_var(as_finite_float_array(args[argnum], f"argument {self.names[argnum]!r}"), True, argnum)
            trace.inputs.append(var)
            env[old] = var
        for argnum, old in self.constants:
            var = trace.new_var(np.asarray(args[argnum]), False, argnum)
            trace.constants.append(var)
            env[old] = var
        for eq in self.equations:
            if eq.rule is None:
                args_t, kwargs_t, index = eq.call
                result = eq.func(*_fill(args_t, env), **_fill(kwargs_t, env))
                for k in index:
                    result = result[k]
                value = np.asarray(result)
                if value.shape != eq.out.shape or value.dtype != eq.out.dtype:
                    raise Stale
                out = trace.new_var(value, False)
                inputs = tuple(env[v.id] for v in eq.inputs)
                trace.equations.append(Equation(out, eq.func, None, inputs, eq.options, {}, eq.call))
                env[eq.out.id] = out
                continue
            rule = eq.rule
            options = eq.options if eq.call is None else _fill(eq.call[1], env)  # masks computed in f
            values = [env[x.id].value if type(x) is Var else x for x in eq.inputs]
            if rule.domain is not None:
                rule.domain(*[np.asarray(v) for v in values])
            ans = rule.evaluate(values, options)
            if type(ans) is not np.ndarray:
                ans = np.asarray(ans)
            if ans.shape != eq.out.shape or ans.dtype != eq.out.dtype:
                raise Stale
            arrays_np = [v if type(v) is np.ndarray else np.asarray(v, dtype=ans.dtype) for v in values]
            jacobians = {pos: Trace._jacobian(rule, pos, ans, arrays_np, options) for pos in eq.jacobians}
            out = trace.new_var(ans, True)
            inputs = tuple(env[x.id] if type(x) is Var else x for x in eq.inputs)
            trace.equations.append(Equation(out, eq.func, rule, inputs, options, jacobians, eq.call))
            env[eq.out.id] = out
        output = env[self.output_id] if self.output_id is not None else None
        if output is not None:
            value = output.value
        elif self.value_id is not None:
            value = env[self.value_id].value
        else:
            value = self.static_value
        graph = Graph(trace, output, trace.inputs) if output is not None else None
        return trace, output, value, graph
