"""Function transforms, named and shaped as in JAX: ``jacobian``, ``value_and_jacobian``, ``grad``,
``value_and_grad``, ``vjp``, ``jvp``.

Each traces ``f`` on the arguments it is called with (:mod:`tensorjac.trace._tracer`): the
arguments in ``argnums`` are differentiated, the others are constants, and so are arrays
``f`` captures from outside.  ``f`` is traced anew at every call (Python control flow on
non-traced values and closures behave as in plain numpy); what is expensive to decide, the
order in which a Jacobian is accumulated, is cached per structure of the trace, and the
contraction plans per equation and shapes (:mod:`tensorjac._plans`).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from .._jacobian import Jacobian, protect
from .._validation import as_finite_float_array
from ..blocks import Blocks
from ._accumulate import ORDER_CHOICES, Graph, accumulate, pullback, pushforward
from ._compiled import compile_gradient
from ._replay import Replay, Stale, signature_key
from ._tracer import Trace, Traced, TracingError, make_input

__all__ = ["jacobian", "value_and_jacobian", "grad", "value_and_grad", "vjp", "jvp", "trace_function"]


def _param_names(f, n: int) -> tuple[str, ...]:
    """Names of ``f``'s first ``n`` positional parameters (``x0, x1, ...`` where there are none)."""
    try:
        return _cached_param_names(f, n)
    except TypeError:  # an unhashable callable
        return _cached_param_names.__wrapped__(f, n)


@functools.lru_cache(maxsize=256)
def _cached_param_names(f, n: int) -> tuple[str, ...]:
    try:
        params = [
            p for p in inspect.signature(f).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:n]]
    names += [f"x{i}" for i in range(len(names), n)]
    return tuple(names)


def _check_argnums(argnums, n: int, what: str):
    """``(positions, single)`` for an int or a tuple/list of ints, as in JAX."""
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    items = (argnums,) if single else argnums
    if not isinstance(items, (tuple, list)) or not items and not single:
        raise TypeError(f"{what}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    positions = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"{what}: argnums must be ints, got {item!r} in {argnums!r}")
        if not -n <= item < n:
            raise ValueError(f"{what}: argnums {argnums!r} is out of range for a call with {n} positional argument(s)")
        pos = int(item) % n
        if pos in positions:
            raise ValueError(f"{what}: argnums {argnums!r} selects argument {pos} twice")
        positions.append(pos)
    return tuple(positions), single


def _check_callable(f, what):
    if not callable(f):
        raise TypeError(
            f"{what} takes a function to differentiate, got {type(f).__name__}; "
            "for the Jacobian of a registered rule use tj.get_rule(name).jacobian(*args)"
        )


class TracedCall:
    """One traced call of ``f``: the trace, its inputs and output, names for the blocks.

    With ``constants=True`` (cache mode) the array arguments that are not differentiated are
    traced as constants, so that a replay can substitute new ones (:mod:`._replay`).
    """

    def __init__(self, f, args, kwargs, positions, what, constants=False):
        if not args:
            raise TypeError(f"{what}: call the transformed function with the arguments of f")
        self.names = _param_names(f, len(args))
        self.trace = Trace()
        call = list(args)
        self.inputs = []
        for pos in positions:
            traced = make_input(self.trace, args[pos], pos, self.names[pos])
            call[pos] = traced
            self.inputs.append(traced._var)
        if constants:
            for pos, a in enumerate(args):
                if pos not in positions and isinstance(a, (np.ndarray, np.generic)):
                    call[pos] = self.trace.constant_input(np.asarray(a), pos)
        out = f(*call, **kwargs)
        self.value_var = out._var if isinstance(out, Traced) else None
        # Arrays from outside f that a returned Jacobian may keep: the arguments and captured arrays.
        self.external = [a for a in args if isinstance(a, np.ndarray)] + [
            x for eq in self.trace.equations for x in eq.inputs if isinstance(x, np.ndarray)
        ]
        if isinstance(out, Traced):
            if not out._var.dependent:
                self.output, self.value = None, out._var.value
            else:
                self.output, self.value = out._var, out._var.value
        else:
            if isinstance(out, (tuple, list, dict)):
                raise TypeError(
                    f"{what}: f returned a {type(out).__name__}; tensorjac differentiates functions that return "
                    "one array (return the outputs stacked or concatenated, or differentiate each separately)"
                )
            try:
                value = np.asarray(out)
            except TracingError:
                raise
            if value.dtype.kind not in "biuf":
                raise TypeError(f"{what}: f returned {type(out).__name__} of dtype {value.dtype}; expected a real array")
            self.output, self.value = None, value.astype(np.result_type(value.dtype, np.float64) if value.dtype.kind in "biu" else value.dtype)
        if self.value.dtype.kind == "c":
            raise TypeError(f"{what}: f returned a complex array; tensorjac differentiates real-valued functions")
        self.graph = Graph(self.trace, self.output, self.inputs) if self.output is not None else None

    def out_value(self):
        """The output as an array the caller owns."""
        value = self.value
        return value.copy() if any(np.may_share_memory(value, v.value) for v in self.inputs) else value


class ReplayedCall(TracedCall):
    """A call recomputed by a :class:`~tensorjac.trace._replay.Replay` (the same attributes)."""

    def __init__(self, trace, output, value, graph, names, args):  # noqa: D107 - no tracing here
        self.trace, self.names, self.output, self.value, self.graph = trace, names, output, value, graph
        self.inputs = list(trace.inputs)
        self.external = [a for a in args if isinstance(a, np.ndarray)] + [
            x for eq in trace.equations for x in eq.inputs if isinstance(x, np.ndarray)
        ]


_CACHE_SIZE = 64


def _make_call(f, args, kwargs, positions, what, cache, gradient=False):
    """A traced call of ``f``, or with ``cache`` (a dict) a replay of the one recorded for this signature
    (``gradient``: also compile the record into a :class:`GradientProgram` for ``grad``)."""
    if cache is None:
        return TracedCall(f, args, kwargs, positions, what)
    key = signature_key(args, kwargs, positions)
    replay = cache.get(key)
    if replay is not None:
        try:
            call = ReplayedCall(*replay.run(args), replay.names, args)
            call.memo = replay.memo
            return call
        except Stale:
            pass
    call = TracedCall(f, args, kwargs, positions, what, constants=True)
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = Replay(call)
    if gradient:
        cache[key].gradient = compile_gradient(call)
    call.memo = cache[key].memo
    return call


def _blocks_or_single(blocks: dict, single: bool):
    if single:
        return next(iter(blocks.values()))
    return Blocks(blocks)


def _jacobian_blocks(call: TracedCall, order: str, single: bool):
    out_shape, dtype = call.value.shape, call.value.dtype
    if call.output is None:
        found = [None] * len(call.inputs)
    elif any(call.output is v for v in call.inputs):  # f returns one of its arguments
        found = [Jacobian.identity(v.shape, dtype=v.dtype) if call.output is v else None for v in call.inputs]
    else:
        found = accumulate(call.graph, order, getattr(call, "memo", None))
    blocks = {}
    for var, J in zip(call.inputs, found):
        if J is None:
            J = Jacobian.zeros(out_shape, var.shape, dtype=np.result_type(dtype, var.dtype))
        blocks[call.names[var.argnum]] = protect(J, [*call.external, call.value])
    return _blocks_or_single(blocks, single)


def value_and_jacobian(f, argnums=0, *, order: str = "optimal", cache: bool = False):
    """Like :func:`jacobian`, but the transformed function returns ``(f(*args), Jacobian)``.

    >>> import numpy as np, tensorjac as tj
    >>> value, J = tj.value_and_jacobian(np.sin)(np.array([0.0, 1.0]))
    >>> np.round(J.dense(), 6)
    array([[1.      , 0.      ],
           [0.      , 0.540302]])
    """
    _check_callable(f, "value_and_jacobian")
    if order not in ORDER_CHOICES:
        raise ValueError(f"value_and_jacobian: unknown order {order!r}; valid orders are {list(ORDER_CHOICES)}")

    replays = {} if cache else None

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        positions, single = _check_argnums(argnums, len(args), "value_and_jacobian")
        call = _make_call(f, args, kwargs, positions, "value_and_jacobian", replays)
        blocks = _jacobian_blocks(call, order, single)
        return call.out_value(), blocks

    transformed.cache = replays
    return transformed


def jacobian(f, argnums=0, *, order: str = "optimal", cache: bool = False):
    """The Jacobian of ``f`` as a function of the same arguments: a structured :class:`Jacobian`.

    ``f`` is plain numpy code: ``np.`` functions, operators, indexing and array methods, on
    the arguments and on arrays it captures.  The Jacobian has the layout of ``jax.jacfwd``:
    shape ``out_shape + in_shape``; it keeps the structure of every operation (a chain of
    elementwise functions stays diagonal, ``X @ W`` stores only ``X``) and is materialised
    only by ``dense()``.

    Args:
        f: the function; it returns one array.
        argnums: the position of the argument to differentiate (an int: a :class:`Jacobian`),
            or a tuple of positions (:class:`Blocks`, one block per argument, named after
            ``f``'s parameters and addressable by position).  The other arguments are constants.
        order: how the Jacobian is accumulated over the trace: ``"optimal"`` (the cheapest
            predicted order), ``"forward"`` or ``"reverse"``.
        cache: trace ``f`` once per signature (shapes, dtypes, non-array arguments) and replay
            the trace with new values afterwards, as ``jax.jit`` does; see
            :mod:`tensorjac.trace._replay` for what that assumes.  Off by default: ``f`` is
            traced at every call.

    >>> import numpy as np, tensorjac as tj
    >>> W = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> J = tj.jacobian(lambda x: np.tanh(W @ x))(np.zeros(2))
    >>> J.dense()
    array([[1., 2.],
           [3., 4.]])
    >>> D = tj.jacobian(lambda x, y: x * y, argnums=(0, 1))(np.ones(2), np.full(2, 3.0))
    >>> D.names, D["y"].dense()
    (('x', 'y'), array([[1., 0.],
           [0., 1.]]))
    """
    _check_callable(f, "jacobian")
    inner = value_and_jacobian(f, argnums, order=order, cache=cache)

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        return inner(*args, **kwargs)[1]

    transformed.cache = inner.cache
    return transformed


def _scalar_output(call: TracedCall, what: str):
    if call.value.shape != ():
        raise TypeError(
            f"{what} needs f to return a scalar (shape ()), but it returned shape {call.value.shape}; "
            "use tj.jacobian for the full Jacobian or tj.vjp for a vector-Jacobian product"
        )


def value_and_grad(f, argnums=0, *, cache: bool = False):
    """Like :func:`grad`, but the transformed function returns ``(f(*args), gradient)``.

    >>> import numpy as np, tensorjac as tj
    >>> tj.value_and_grad(lambda x: np.sum(x * x))(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """
    _check_callable(f, "value_and_grad")
    replays = {} if cache else None

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        positions, single = _check_argnums(argnums, len(args), "grad")
        if replays:
            replay = replays.get(signature_key(args, kwargs, positions))
            if replay is not None and replay.gradient is not None:
                try:
                    value, grads = replay.gradient.run(args)
                    return value, grads[0] if single else tuple(grads)
                except Stale:  # another shape, or a gradient that is not finite: the general path
                    pass
        call = _make_call(f, args, kwargs, positions, "grad", replays, gradient=True)
        _scalar_output(call, "grad")
        if call.output is None:
            grads = [np.zeros(v.shape, dtype=np.result_type(v.dtype, call.value.dtype)) for v in call.inputs]
        elif any(call.output is v for v in call.inputs):
            grads = [np.ones((), v.dtype) if call.output is v else np.zeros(v.shape, v.dtype) for v in call.inputs]
        else:
            grads = pullback(call.graph, np.ones((), dtype=call.value.dtype))
        return call.out_value(), grads[0] if single else tuple(grads)

    transformed.cache = replays
    return transformed


def grad(f, argnums=0, *, cache: bool = False):
    """The gradient of a scalar-valued ``f``, as a function of the same arguments.

    Returns an array shaped like the argument (a tuple of them for tuple ``argnums``),
    computed by backpropagation over the trace: no Jacobian is built.  ``cache=True`` replays
    the trace recorded for the arguments' signature (see :func:`jacobian`).

    >>> import numpy as np, tensorjac as tj
    >>> tj.grad(lambda W, x: np.sum(np.tanh(W @ x)))(np.zeros((2, 3)), np.ones(3))
    array([[1., 1., 1.],
           [1., 1., 1.]])
    """
    _check_callable(f, "grad")
    inner = value_and_grad(f, argnums, cache=cache)

    @functools.wraps(f)
    def transformed(*args, **kwargs):
        return inner(*args, **kwargs)[1]

    transformed.cache = inner.cache
    return transformed


def vjp(f, *primals):
    """``(f(*primals), pullback)``: ``pullback(cotangent)`` returns one gradient per primal, as in JAX.

    The cotangent has the shape of the output; the gradients are ``c(cotangent, D_i f)``,
    computed by backpropagation over the trace without building the Jacobian.

    >>> import numpy as np, tensorjac as tj
    >>> out, pullback = tj.vjp(lambda x, y: x * y, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> pullback(np.array([1.0, 10.0]))
    (array([ 3., 40.]), array([ 1., 20.]))
    """
    _check_callable(f, "vjp")
    call = TracedCall(f, primals, {}, tuple(range(len(primals))), "vjp")
    out = call.out_value()

    def pullback_fn(cotangent):
        u = as_finite_float_array(cotangent, "cotangent")
        if u.shape != out.shape:
            raise ValueError(f"vjp: the cotangent has shape {u.shape} but f's output has shape {out.shape}")
        if call.output is None:
            return tuple(np.zeros(v.shape, np.result_type(v.dtype, u.dtype)) for v in call.inputs)
        if any(call.output is v for v in call.inputs):
            return tuple(u.copy() if call.output is v else np.zeros(v.shape, v.dtype) for v in call.inputs)
        return tuple(pullback(call.graph, u))

    return out, pullback_fn


def jvp(f, primals, tangents):
    """``(f(*primals), tangent_out)``: the output tangent for the input tangents, as in JAX.

    ``primals`` and ``tangents`` are tuples (or lists) of the same length, each tangent of its
    primal's shape; forward mode over the trace, without building the Jacobian.

    >>> import numpy as np, tensorjac as tj
    >>> tj.jvp(np.sin, (np.array([0.0, np.pi]),), (np.array([1.0, 1.0]),))[1]
    array([ 1., -1.])
    """
    _check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (or lists) of arrays, as in jax.jvp")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    call = TracedCall(f, tuple(primals), {}, tuple(range(len(primals))), "jvp")
    tans = []
    for k, (var, t) in enumerate(zip(call.inputs, tangents)):
        t = as_finite_float_array(t, f"tangent {k}")
        if t.shape != var.shape:
            raise ValueError(f"jvp: tangent {k} has shape {t.shape} but primal {k} has shape {var.shape}")
        tans.append(t)
    out = call.out_value()
    if call.output is None:
        return out, np.zeros(out.shape, dtype=np.result_type(out.dtype, *(t.dtype for t in tans)))
    for var, t in zip(call.inputs, tans):
        if call.output is var:
            return out, t.copy()
    return out, pushforward(call.graph, tans)


def trace_function(f, args, argnums=0, kwargs=None, what="make_program") -> TracedCall:
    """Trace ``f(*args)`` differentiating ``argnums`` (for the printable program)."""
    positions, _ = _check_argnums(argnums, len(args), what)
    return TracedCall(f, tuple(args), dict(kwargs or {}), positions, what)
