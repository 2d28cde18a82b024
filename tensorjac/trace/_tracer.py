"""Tracing plain numpy code: values that record every numpy call made on them.

A :class:`Traced` value stands for an array inside ``f`` while tensorjac traces it.  It
implements NumPy's dispatch protocols (``__array_ufunc__``, NEP 13; ``__array_function__``,
NEP 18), the operators and the common array methods, so a user's function written with
``np.`` calls works unchanged.  Every call is computed at once on the numbers (the value is
known, as in HIPS autograd) and recorded as an :class:`Equation` of the :class:`Trace`:
the rule that computed it (found in the registry by the function object: ``np.exp`` finds
``exp``), its inputs and options, and the structured Jacobian block of the result with respect
to every input that depends on the differentiated arguments.

Values come in two kinds.  A *dependent* value depends on the differentiated arguments and
carries Jacobians.  A *constant* value is computed from dependent ones without a derivative
(comparisons, ``argmax``, ``floor``, masks): it is still traced so that Python control flow
on it (``if x > 0:``) raises a clear error instead of silently freezing one branch into the
derivative.  Arrays captured from outside ``f`` and arguments not differentiated are plain
constants.
"""

from __future__ import annotations

import itertools
import operator

import numpy as np

from .._validation import as_finite_float_array
from ..rules import find_composite, find_rule
from ..rules._registry import wrapped_error
from ..rules import astype as _astype

__all__ = ["Traced", "Trace", "Var", "Equation", "Ref", "TracingError", "NoRuleError", "is_traced"]


class TracingError(TypeError):
    """An operation on a traced value that cannot be traced (``float(x)``, ``if x > 0:``, ...)."""


class NoRuleError(NotImplementedError):
    """A numpy function without a tensorjac rule was called on a value being differentiated."""


class Var:
    """A value of the trace: its shape, dtype, numbers, and whether it depends on the inputs."""

    __slots__ = ("id", "shape", "dtype", "value", "dependent", "name", "argnum")

    def __init__(self, id_, value, dependent, argnum=None):
        self.id, self.value, self.dependent, self.argnum = id_, value, dependent, argnum
        self.shape, self.dtype = value.shape, value.dtype
        self.name = None

    def __repr__(self):
        return f"Var({self.id}, {self.shape}, {'dependent' if self.dependent else 'constant'})"


class Equation:
    """One recorded call: ``out = rule(*inputs, **options)`` and the Jacobian blocks of ``out``.

    ``inputs`` holds a :class:`Var` for every traced argument and the plain array otherwise;
    ``jacobians[i]`` is the block of ``out`` with respect to input ``i`` (only for dependent
    inputs).  ``func`` is the function that was called (the rule's, or a numpy function on
    constants only, then ``rule`` is None).
    """

    __slots__ = ("out", "func", "rule", "inputs", "options", "jacobians", "call", "_edges")

    def __init__(self, out, func, rule, inputs, options, jacobians, call=None):
        self.out, self.func, self.rule = out, func, rule
        self.inputs, self.options, self.jacobians = inputs, options, jacobians
        self.call = call  # a constant equation: (args, kwargs, index) with Ref(var) for traced values
        self._edges = None

    @property
    def name(self) -> str:
        if self.rule is not None:
            return self.rule.name
        return getattr(self.func, "__name__", type(self.func).__name__)

    def edges(self):
        """``(input Var, Jacobian)`` per dependent input, blocks of a repeated input summed (computed once)."""
        if self._edges is None:
            found: dict[int, list] = {}
            for pos, J in self.jacobians.items():
                var = self.inputs[pos]
                if var.id in found:
                    found[var.id][1] = found[var.id][1] + J
                else:
                    found[var.id] = [var, J]
            self._edges = [tuple(pair) for pair in found.values()]
        return self._edges


def _fun_name(func) -> str:
    module = getattr(func, "__module__", None) or ""
    name = getattr(func, "__name__", None) or type(func).__name__
    if isinstance(func, np.ufunc) or module.startswith("numpy"):
        return f"np.{name}"
    return f"{module}.{name}" if module else name


class Trace:
    """The record of one traced call of ``f``: its variables and equations, in order."""

    def __init__(self):
        self.vars: list[Var] = []
        self.equations: list[Equation] = []
        self.inputs: list[Var] = []
        self.constants: list[Var] = []
        self._ids = itertools.count()

    # -- creating values -------------------------------------------------------------------

    def new_var(self, value, dependent, argnum=None) -> Var:
        var = Var(next(self._ids), value, dependent, argnum)
        self.vars.append(var)
        return var

    def input(self, value, argnum) -> "Traced":
        var = self.new_var(value, True, argnum)
        self.inputs.append(var)
        return Traced(self, var)

    def constant_input(self, value, argnum) -> "Traced":
        """An argument that is not differentiated, traced as a constant (for replays)."""
        var = self.new_var(value, False, argnum)
        self.constants.append(var)
        return Traced(self, var)

    # -- recording calls -------------------------------------------------------------------

    def unwrap(self, x):
        """The numbers of a traced value (of this trace); other objects as they are."""
        if isinstance(x, Traced):
            if x._trace is not self:
                raise TracingError(
                    "a value traced by another tensorjac transform reached this one; nesting tensorjac "
                    "transforms (jacobian of a function that calls jacobian/grad) is not supported"
                )
            return x._var.value
        return x

    def apply(self, func, args, kwargs):
        """Record ``func(*args, **kwargs)`` and return its traced result."""
        flat = _flatten_traced(args, kwargs)
        dependent = False
        for v in flat:
            if v._trace is not self:
                self.unwrap(v)
            dependent = dependent or v._var.dependent
        if not dependent or func in CONSTANT_FUNCTIONS:
            return self._apply_constant(func, args, kwargs, flat)
        rule = find_rule(func)
        if rule is None:
            composite = find_composite(func)
            if composite is not None:
                return composite(*args, **kwargs)
            raise NoRuleError(
                f"tensorjac has no rule for {_fun_name(func)}, called on a value being differentiated. "
                f"Register one with tensorjac.register_rule(name, {_fun_name(func)}, maker, ...): each maker "
                "returns the Jacobian of the result with respect to one array argument, e.g. "
                f"tj.register_rule('my_fun', {_fun_name(func)}, lambda ans, x: tj.Jacobian.diagonal(...))"
            )
        arrays, options = rule.bind(*args, **kwargs)
        template = None
        if options:
            options, template = self._options(rule, options)
        values = [a._var.value if type(a) is Traced else a for a in arrays]
        if rule.domain is not None:
            rule.domain(*[np.asarray(v) for v in values])
        ans = rule.evaluate(values, options)
        if type(ans) is not np.ndarray:
            ans = np.asarray(ans)
        if ans.dtype.kind != "f":
            raise TracingError(f"{rule.name} returned dtype {ans.dtype} from traced inputs; expected floating point")
        # Makers get arrays: Python scalars (kept weak for numpy's promotion above) become 0-d arrays.
        arrays_np = [v if type(v) is np.ndarray else np.asarray(v, dtype=ans.dtype) for v in values]
        inputs, jacobians = [], {}
        for pos, a in enumerate(arrays):
            if type(a) is not Traced:
                inputs.append(arrays_np[pos])
                continue
            var = a._var
            inputs.append(var)
            if var.dependent:
                jacobians[pos] = self._jacobian(rule, pos, ans, arrays_np, options)
        out = self.new_var(ans, True)
        call = None if template is None else (None, template, ())  # options computed in f: replayed
        self.equations.append(Equation(out, func, rule, tuple(inputs), options, jacobians, call))
        return Traced(self, out)

    def _options(self, rule, options):
        """The options with constant traced values (a mask from ``x > 0``) replaced by their numbers,
        and, when there were any, a template with ``Ref`` in their places (for replays); else None."""
        found, template = {}, None
        for k, o in options.items():
            leaves = [v for v in _leaves(o) if isinstance(v, Traced)]
            if any(v._var.dependent for v in leaves):
                raise TracingError(
                    f"{rule.name}: the option {k!r} depends on the differentiated inputs; tensorjac differentiates "
                    f"array arguments only and needs {k!r} as a constant (a number, an index, a mask)"
                )
            found[k] = _map_traced(self.unwrap, o) if leaves else o
            if leaves:
                template = dict(options) if template is None else template
                template[k] = _map_traced(lambda t: Ref(t._var), o)
        if template is not None:
            template = {k: template.get(k, found[k]) for k in found}
        return found, template

    @staticmethod
    def _jacobian(rule, pos, ans, arrays_np, options):
        maker = rule.maker(pos)
        if maker is None:
            names = rule.arg_names(len(arrays_np))
            raise TracingError(
                f"{rule.name} is not differentiable with respect to its argument {names[pos]!r}, "
                "which depends on the differentiated inputs here"
            )
        J = maker(ans, *arrays_np, **options)
        if J.out_shape != ans.shape or J.in_shape != arrays_np[pos].shape:
            raise ValueError(
                f"rule {rule.name!r}: the Jacobian maker for argument {pos} returned shape {J.shape}, "
                f"expected {ans.shape + arrays_np[pos].shape}"
            )
        return J

    def _apply_constant(self, func, args, kwargs, flat):
        """A call without a derivative: computed as numpy computes it; its result is a constant."""
        values, options = _map_traced(self.unwrap, args), _map_traced(self.unwrap, kwargs)
        try:
            result = func(*values, **options)
        except (ValueError, TypeError, IndexError) as exc:
            wrapped = wrapped_error(_fun_name(func), exc, [f"argument {k}" for k in range(len(values))], values, options)
            if wrapped is None:
                raise
            raise wrapped from None
        inputs = tuple(v._var for v in flat)
        to_ref = lambda t: Ref(t._var)  # noqa: E731
        call = (_map_traced(to_ref, args), _map_traced(to_ref, kwargs))
        return _wrap_constants(self, func, result, inputs, kwargs, call)


def _leaves(x):
    if isinstance(x, (list, tuple)):
        for item in x:
            yield from _leaves(item)
    elif isinstance(x, dict):
        for item in x.values():
            yield from _leaves(item)
    else:
        yield x


def _flatten_traced(args, kwargs):
    found = []
    for group in (args, kwargs.values()) if kwargs else (args,):
        for a in group:
            if type(a) is Traced:
                found.append(a)
            elif isinstance(a, (list, tuple, dict)):
                found.extend(x for x in _leaves(a) if type(x) is Traced)
    return found


def map_nested(fn, x, leaf):
    """``x`` with ``fn`` applied to every ``leaf`` instance inside its lists, tuples and dicts.

    The one walk over call arguments: traced values to arrays or to :class:`Ref` (here), and
    recorded references back to values (``_replay``, ``_compiled``).
    """
    if isinstance(x, leaf):
        return fn(x)
    if isinstance(x, list):
        return [map_nested(fn, item, leaf) for item in x]
    if isinstance(x, tuple):
        return tuple(map_nested(fn, item, leaf) for item in x)
    if isinstance(x, dict):
        return {k: map_nested(fn, v, leaf) for k, v in x.items()}
    return x


def _map_traced(fn, x):
    return map_nested(fn, x, Traced)


class Ref:
    """A traced value's place in a recorded call (the arguments of a constant equation)."""

    __slots__ = ("var",)

    def __init__(self, var):
        self.var = var


def _wrap_constants(trace, func, result, inputs, options, call, index=()):
    if isinstance(result, (tuple, list)):
        return type(result)(_wrap_constants(trace, func, r, inputs, options, call, index + (k,))
                            for k, r in enumerate(result))
    if isinstance(result, (np.ndarray, np.generic)) and func not in METADATA_FUNCTIONS:
        var = trace.new_var(np.asarray(result), False)
        trace.equations.append(Equation(var, func, None, inputs, options, {}, call + (index,)))
        return Traced(trace, var)
    return result


#: Functions whose results have no derivative: called on traced values they give constants.
CONSTANT_FUNCTIONS = frozenset([
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    np.isfinite, np.isnan, np.isinf, np.signbit, np.floor, np.ceil, np.trunc, np.rint, np.round, np.around,
    np.floor_divide, np.mod, np.remainder, np.fmod,
    np.argmax, np.argmin, np.argsort, np.argwhere, np.nonzero, np.flatnonzero, np.count_nonzero, np.any, np.all,
    np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.array_equal, np.allclose, np.isclose,
    np.shape, np.ndim, np.size, np.result_type, np.searchsorted, np.unique,
])
#: Of those, the ones that return Python metadata (shapes, sizes, flags), never traced.
METADATA_FUNCTIONS = frozenset([np.shape, np.ndim, np.size, np.result_type])


def is_traced(x) -> bool:
    return isinstance(x, Traced)


# ---- The traced value ------------------------------------------------------------------------

_CONVERSION_HELP = (
    "Inside a function that tensorjac differentiates, arrays are traced values: their numbers "
    "are known, but turning them into Python objects would cut the derivative (and Python "
    "branches would freeze one path into it). Use numpy functions on them instead: "
    "np.where(x > 0, a, b) instead of if/else, np.maximum/np.clip instead of max/min, "
    "x.shape for sizes. To use a value only as a constant, pass it as an argument that is "
    "not differentiated (not in argnums)."
)


def _refuse(what):
    def method(self, *args, **kwargs):
        raise TracingError(f"{what} on a traced value of shape {self.shape}. {_CONVERSION_HELP}")

    return method


def _ufunc(ufunc, reflected=False):
    if reflected:
        return lambda self, other: ufunc(other, self)
    return lambda self, other: ufunc(self, other)


class Traced:
    """An array being traced by tensorjac (see the module docstring).

    It supports numpy functions, operators, indexing and the common array methods; turning it
    into a Python number or a plain array (``float(x)``, ``if x:``, ``np.asarray(x)``) raises
    :class:`TracingError` saying what to do instead.
    """

    __slots__ = ("_trace", "_var")
    __array_priority__ = 1000  # win over ndarray in mixed binary operations
    _is_tensorjac_traced = True  # tensorjac's own functions (tensorjac.rules.traceable) dispatch on it

    def __init__(self, trace, var):
        self._trace, self._var = trace, var

    # -- numpy protocols --
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            raise NoRuleError(
                f"np.{ufunc.__name__}.{method} on a traced value is not supported; use the numpy function "
                f"(np.sum, np.cumsum, ...) instead"
            )
        if kwargs.get("out") is not None:
            raise TracingError(f"np.{ufunc.__name__}(..., out=...) writes into an array; tensorjac traces "
                               "functions that return new arrays (drop out=)")
        return self._trace.apply(ufunc, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return self._trace.apply(func, args, kwargs)

    __array__ = _refuse("converting to a numpy array (np.asarray, np.array)")
    __bool__ = _refuse("Python control flow (if, while, and/or, bool())")
    __float__ = _refuse("float()")
    __int__ = _refuse("int()")
    __complex__ = _refuse("complex()")
    __index__ = _refuse("using it as an index or size (operator.index)")
    tolist = _refuse("tolist()")
    item = _refuse("item()")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d traced value")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced value")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self):
        return id(self)

    # -- attributes --
    @property
    def shape(self):
        return self._var.shape

    @property
    def dtype(self):
        return self._var.dtype

    @property
    def ndim(self):
        return len(self._var.shape)

    @property
    def size(self):
        return int(np.prod(self._var.shape))

    @property
    def T(self):
        return np.transpose(self)

    @property
    def mT(self):
        return np.swapaxes(self, -1, -2)

    def __repr__(self):
        kind = "dependent" if self._var.dependent else "constant"
        return f"Traced({kind}, shape={self.shape}, dtype={self.dtype})"

    # -- operators --
    __add__, __radd__ = _ufunc(np.add), _ufunc(np.add, True)
    __sub__, __rsub__ = _ufunc(np.subtract), _ufunc(np.subtract, True)
    __mul__, __rmul__ = _ufunc(np.multiply), _ufunc(np.multiply, True)
    __truediv__, __rtruediv__ = _ufunc(np.divide), _ufunc(np.divide, True)
    __pow__, __rpow__ = _ufunc(np.power), _ufunc(np.power, True)
    __matmul__, __rmatmul__ = _ufunc(np.matmul), _ufunc(np.matmul, True)
    __lt__, __le__ = _ufunc(np.less), _ufunc(np.less_equal)
    __gt__, __ge__ = _ufunc(np.greater), _ufunc(np.greater_equal)
    __eq__, __ne__ = _ufunc(np.equal), _ufunc(np.not_equal)
    __and__, __or__, __xor__ = _ufunc(np.logical_and), _ufunc(np.logical_or), _ufunc(np.logical_xor)
    __floordiv__, __mod__ = _ufunc(np.floor_divide), _ufunc(np.mod)

    def __neg__(self):
        return np.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return np.abs(self)

    def __invert__(self):
        return np.logical_not(self)

    def __getitem__(self, index):
        return self._trace.apply(operator.getitem, (self, index), {})

    def __setitem__(self, index, value):
        raise TracingError(
            "assignment into a traced value (x[i] = v) changes an array in place, which tensorjac cannot "
            "differentiate; build a new array instead (np.where, np.concatenate, x.at-style updates via "
            "np.where(mask, v, x))"
        )

    # -- methods (the numpy functions of the same names) --
    def sum(self, axis=None, keepdims=False):
        return np.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return np.mean(self, axis=axis, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        return np.prod(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return np.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return np.min(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return np.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return np.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def cumsum(self, axis=None):
        return np.cumsum(self, axis=axis)

    def argmax(self, axis=None):
        return np.argmax(self, axis=axis)

    def argmin(self, axis=None):
        return np.argmin(self, axis=axis)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return np.reshape(self, shape, order=order)

    def ravel(self, order="C"):
        return np.ravel(self, order=order)

    def flatten(self, order="C"):
        return np.ravel(self, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            axes = axes[0]
        return np.transpose(self, axes or None)

    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis=axis)

    def dot(self, other):
        return np.dot(self, other)

    def clip(self, min=None, max=None):
        return np.clip(self, min, max)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return np.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1):
        return np.trace(self, offset, axis1, axis2)

    def take(self, indices, axis=None):
        return np.take(self, indices, axis=axis)

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis=axis)

    def copy(self):
        return self

    def astype(self, dtype, copy=True):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind == "f" and dtype.itemsize >= 4:
            return _astype(self, dtype)
        raise TracingError(f"astype({dtype}) on a traced value: tensorjac differentiates float32/float64 only")


def make_input(trace: Trace, value, argnum: int, name: str) -> Traced:
    """A differentiated argument: checked once here (float32/float64, finite), then traced."""
    return trace.input(as_finite_float_array(value, f"argument {name!r}"), argnum)
