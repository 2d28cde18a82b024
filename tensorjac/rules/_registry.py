"""The rule registry, keyed by name and by function object (``np.exp`` finds the ``exp`` rule).

A rule is registered as ``register_rule(name, fun, *makers)``.  ``fun`` computes the value
from numpy arrays; ``makers[i]`` is called as ``maker(ans, *args, **kwargs)`` (``ans`` is the
value, passed first so that exp, logit and softmax can reuse it, as in HIPS autograd's
``defvjp``) and returns the structured :class:`~tensorjac.Jacobian` of ``ans`` with respect
to argument ``i``: shape ``ans.shape + args[i].shape``.  Arguments broadcast as in numpy; the
Jacobian with respect to a broadcast argument is taken against its true shape (size-1 and
missing leading axes sum over the axes they were broadcast along).

A rule may declare example inputs (``examples=``, a function of a numpy random generator
returning a list of examples), used by ``tensorjac.testing`` and the test suite to verify it.

**Tracing.**  ``tensorjac.jacobian(f)`` traces ``f`` and finds the rule of each numpy call by
the function object (``np.exp``, ``np.add``, ``np.concatenate``, ...): ``fun`` itself and any
of ``functions=``.  The call's arguments are split into the rule's array arguments and its
static options by :meth:`Rule.bind`: by default the first ``len(makers)`` parameters of the
signature of ``fun`` (or the positional arguments of a ufunc) are the arrays and the options
named in ``static=`` may be given; anything else is refused with a clear error.  A rule may
give its own ``bind(*args, **kwargs) -> (arrays, options)`` instead (``np.einsum``: the
subscripts are an option).  A *variadic* rule (``np.concatenate([x, y, ...])``) has one maker,
called as ``maker(ans, *arrays, argnum=i, **options)`` for each argument.
"""

from __future__ import annotations

import functools
import inspect
import os

import numpy as np

from .._jacobian import Jacobian, protect
from .._validation import IndexingError, as_finite_float_array, select_args
from ..blocks import Blocks

__all__ = ["Rule", "register_rule", "get_rule", "find_rule", "rule_names", "register_composite", "find_composite",
           "wrapped_error"]


class Rule:
    """A registered operation: its numpy function and one Jacobian maker per array argument.

    Call it to get the value; :meth:`jacobian` and :meth:`value_and_jacobian` give the
    Jacobian blocks with respect to the selected arguments.

    Attributes:
        name: the registered name.
        fun: the numpy function computing the value.
        makers: one Jacobian maker per array argument (``None`` where there is none).
        argnames: the names of the array arguments.
        domain: ``domain(*arrays)`` raising ``ValueError`` outside the rule's domain, or None.
        examples: ``examples(rng) -> [example, ...]`` (each a tuple of arrays or a pair
            ``(arrays, kwargs)``), or None.
        builtin: True for the rules that ship with tensorjac.
        functions: further function objects that find this rule when traced.
        static: the names of the options a traced call may pass (``axis``, ``keepdims``, ...).
        variadic: one maker for any number of array arguments (see the module docstring).
        second: the second derivatives, ``{(i, j): maker}`` for ``i <= j`` (a maker returns the
            :class:`~tensorjac.Hessian` block ``d²ans / d arg_i d arg_j``, shape
            ``ans.shape + arg_i.shape + arg_j.shape``; a missing pair is zero), or None when the
            rule has none (``tensorjac.hessian`` then names the rule).  A variadic rule may give a
            function ``second(i, j) -> maker or None`` instead.
        vjp: direct cotangent rules of built-in rules, ``{i: vjp}`` with
            ``vjp(g, ans, *arrays, **options)`` returning ``g`` pulled back through the Jacobian
            block of argument ``i`` (an array of that argument's shape), without building the
            block.  A shortcut of the cached gradient replay (``tj.grad(f, cache=True)``); each is
            tested against its Jacobian maker on the rule's examples.  Empty when there are none
            (then the block is made and contracted).
    """

    def __init__(self, name, fun, makers, argnames, domain=None, examples=None, builtin=False,
                 functions=(), static=(), bind=None, variadic=False, second=None, vjp=None):
        self.name, self.fun, self.makers = name, fun, tuple(makers)
        self.argnames, self.domain = tuple(argnames), domain
        self.examples, self.builtin = examples, builtin
        self.functions, self.static, self.variadic = tuple(functions), tuple(static), bool(variadic)
        self._bind = bind
        self.vjp = _vjp_table(name, vjp, len(self.makers), variadic)
        self.second = second if variadic and callable(second) else _second_table(name, second, len(self.makers))
        self.__doc__ = fun.__doc__

    def bind(self, *args, **kwargs) -> tuple[tuple, dict]:
        """Split a call's arguments into ``(array arguments, static options)`` (see the module docstring)."""
        if self._bind is not None:
            return self._bind(*args, **kwargs)
        n = len(self.argnames)
        positional = _positional(self.fun)
        if positional is None:  # a ufunc: positional arrays only
            if len(args) != n:
                raise TypeError(f"{self.name} takes {n} array argument(s), got {len(args)}")
            options = kwargs
        elif len(args) >= n and len(args) <= len(positional) and not any(k in positional[:n] for k in kwargs):
            # the common case, bound by hand (inspect's bind costs more than many rules)
            options = dict(zip(positional[n:], args[n:]))
            options.update(kwargs)
            args = args[:n]
        else:
            signature = _signature(self.fun)
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{self.name}: {exc}") from None
            names = list(signature.parameters)
            params = bound.arguments
            if any(names[i] not in params for i in range(n)):
                raise TypeError(f"{self.name} needs the array argument(s) {names[:n]}")
            args = tuple(params[names[i]] for i in range(n))
            options = {k: v for k, v in params.items() if k not in names[:n]}
            for name in list(options):
                param = signature.parameters[name]
                if param.kind is param.VAR_KEYWORD:
                    options.update(options.pop(name))
        if options:
            unsupported = [k for k in options if k not in self.static]
            if unsupported:
                allowed = f"; it supports {list(self.static)}" if self.static else ""
                raise TypeError(f"tensorjac's rule {self.name!r} does not support the option(s) {unsupported}{allowed}")
        return tuple(args), options

    def evaluate(self, arrays, options) -> object:
        """``fun(*arrays, **options)``, where numpy's own errors name the rule, the arguments and the options.

        An error the rule's function raises with numpy's words (shapes that do not broadcast, an
        axis out of range, a repeated axis, an index out of bounds) is raised again as the same
        type (an ``IndexError`` as :class:`~tensorjac._validation.IndexingError`, also a
        ``ValueError``) with ``"{name}: "`` and the shapes and options of the call around numpy's
        message.  Errors that already start with the rule's name, tensorjac's own exception
        classes and errors raised by a user's own Python code pass through unchanged.
        """
        try:
            return self.fun(*arrays, **options)
        except (ValueError, TypeError, IndexError) as exc:
            wrapped = wrapped_error(self.name, exc, self.arg_names(len(arrays)), arrays, options)
            if wrapped is None:
                raise
            raise wrapped from None

    def second_maker(self, i: int, j: int):
        """``maker(ans, *arrays, **options)`` of the block ``d²ans / d arg_i d arg_j``, or None when it is zero.

        Raises ``NotImplementedError`` naming the rule when it declares no second derivatives.
        """
        if self.second is None:
            raise NotImplementedError(
                f"rule {self.name!r} has no second derivatives; declare them with second={{(i, j): maker}} "
                "(or second='linear') when registering it"
            )
        if callable(self.second):  # a variadic rule's factory: second(i, j) -> maker or None
            return self.second(i, j)
        if self.variadic or i <= j:
            return self.second.get((i, j) if not self.variadic else (0, 0))
        maker = self.second.get((j, i))
        if maker is None:
            return None
        return lambda *args, **kwargs: maker(*args, **kwargs).T

    def arg_names(self, n: int) -> tuple[str, ...]:
        """Names of ``n`` array arguments (``xs0, xs1, ...`` for a variadic rule)."""
        if self.variadic:
            return tuple(f"{self.argnames[0]}{i}" for i in range(n))
        return self.argnames

    def maker(self, pos: int):
        """The Jacobian maker of array argument ``pos`` (``None`` if it has none)."""
        if self.variadic:
            return functools.partial(self.makers[0], argnum=pos)
        return self.makers[pos]

    def _prepare(self, args):
        if not self.variadic and len(args) != len(self.argnames):
            raise ValueError(
                f"rule {self.name!r} takes {len(self.argnames)} array argument(s) {list(self.argnames)}, "
                f"got {len(args)}"
            )
        names = self.arg_names(len(args))
        weak = [type(a) in (int, float, bool) for a in args]  # Python scalars (np.float64 is strong)
        arrays = [None if w else as_finite_float_array(a, f"{self.name}: argument {n!r}")
                  for a, n, w in zip(args, names, weak)]
        if any(weak):
            # A Python scalar is "weak", as in numpy: it takes the dtype of the array arguments
            # (float32 stays float32), float64 when there are none.
            strong = [a for a in arrays if a is not None]
            dtype = np.result_type(*strong) if strong else np.dtype(np.float64)
            arrays = [as_finite_float_array(np.asarray(a, dtype=dtype), f"{self.name}: argument {n!r}") if w else arr
                      for a, arr, n, w in zip(args, arrays, names, weak)]
        if self.domain is not None:
            self.domain(*arrays)
        return arrays

    def __call__(self, *args, **kwargs) -> np.ndarray:
        return np.asarray(self.evaluate(self._prepare(args), kwargs))

    def value_and_jacobian(self, *args, argnums=None, names=None, **kwargs) -> tuple[np.ndarray, Blocks]:
        """The value and the :class:`Blocks` of its Jacobian w.r.t. the arguments in ``argnums``.

        Args:
            *args: the array arguments.
            argnums: positions or names of the arguments to differentiate (default: all);
                names refer to ``names`` when it is given.
            names: names for the blocks instead of the rule's argument names.
            **kwargs: non-array options of the operation (``axis=...``).
        """
        arrays = self._prepare(args)
        ans = np.asarray(self.evaluate(arrays, kwargs))
        argnames = self.arg_names(len(arrays))
        if names is None:
            names = argnames
        elif len(names) != len(argnames) or len(set(names)) != len(names):
            raise ValueError(f"names must give {len(argnames)} distinct names for {list(argnames)}, got {names}")
        positions = select_args(argnums, tuple(names), f"rule {self.name!r}")
        blocks = {}
        for pos in positions:
            maker = self.maker(pos)
            if maker is None:
                raise NotImplementedError(f"rule {self.name!r} has no Jacobian for argument {argnames[pos]!r}")
            J = maker(ans, *arrays, **kwargs)
            expected = ans.shape + arrays[pos].shape
            if not isinstance(J, Jacobian) or J.out_shape != ans.shape or J.in_shape != arrays[pos].shape:
                got = f"a Jacobian of shape {J.shape}" if isinstance(J, Jacobian) else f"a {type(J).__name__}"
                raise ValueError(
                    f"rule {self.name!r}: the Jacobian maker for argument {argnames[pos]!r} returned {got}; "
                    f"expected a tensorjac.Jacobian with out_shape {ans.shape} (the value's shape) and in_shape "
                    f"{arrays[pos].shape} (the argument's shape), i.e. shape {expected}"
                )
            blocks[names[pos]] = protect(J, (ans, *arrays))  # what J keeps cannot change later
        return ans, Blocks(blocks)

    def jacobian(self, *args, argnums=None, names=None, **kwargs) -> Blocks:
        """The :class:`Blocks` of the Jacobian (see :meth:`value_and_jacobian`)."""
        return self.value_and_jacobian(*args, argnums=argnums, names=names, **kwargs)[1]

    def __repr__(self):
        return f"Rule({self.name!r}, args={list(self.argnames)})"


def _vjp_table(name, vjp, n, variadic):
    """Normalise ``vjp=``: ``{position: vjp}`` (a variadic rule: ``{0: vjp}``, called with ``argnum=i``)."""
    if vjp is None:
        return {}
    if not isinstance(vjp, dict) or not all(isinstance(k, int) and 0 <= k < n and callable(v) for k, v in vjp.items()):
        raise ValueError(f"rule {name!r}: vjp must map argument positions 0..{n - 1} to callables, got {vjp!r}")
    if variadic and set(vjp) != {0}:
        raise ValueError(f"variadic rule {name!r}: vjp is {{0: vjp}}, called with argnum=i")
    return dict(vjp)


_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} ({value.dtype})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def wrapped_error(name, exc, names, arrays, options):
    """The error ``exc`` of a numpy call ``name(*arrays, **options)`` said in tensorjac's words, or
    None to raise it unchanged (see :meth:`Rule.evaluate`)."""
    if not type(exc).__module__.startswith(("builtins", "numpy")):
        return None  # tensorjac's own exception classes (and a user's) pass through
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    text = str(exc).strip()
    if tb is not exc.__traceback__:  # raised below Rule.evaluate, not by the function it called
        origin = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if not origin.startswith((_NUMPY_DIR, _PACKAGE_DIR)):
            return None  # raised by a user's own rule function: theirs to word
        if origin.startswith(_PACKAGE_DIR) and text.startswith(name):
            return None  # tensorjac's own message, naming the rule already
    if text.startswith(f"{name}: "):
        text = text[len(name) + 2:]
    described = ", ".join(
        f"{n} of shape {np.shape(a)}" if hasattr(a, "shape") or isinstance(a, (int, float)) else f"{n} {_short(a)}"
        for n, a in zip(names, arrays)
    )
    if options:
        described += "; options " + ", ".join(f"{k}={_short(v)}" for k, v in options.items())
    message = f"{name}: {text} (called with {described})"
    if isinstance(exc, np.exceptions.AxisError):
        return np.exceptions.AxisError(message)
    if isinstance(exc, IndexError) and not isinstance(exc, ValueError):
        return IndexingError(message)
    return (TypeError if isinstance(exc, TypeError) else ValueError)(message)


def _second_table(name, second, n):
    """Normalise ``second=``: a dict ``{(i, j): maker}``, ``"linear"`` (all zero), a callable (the
    ``(0, 0)`` block of a one-argument rule), or None (no second derivatives declared)."""
    if second is None:
        return None
    if isinstance(second, str):
        if second != "linear":
            raise ValueError(f"rule {name!r}: second must be a dict of makers, a callable or 'linear', got {second!r}")
        return {}
    if callable(second):
        second = {(0, 0): second}
    if not isinstance(second, dict):
        raise ValueError(f"rule {name!r}: second must be a dict {{(i, j): maker}}, got {type(second).__name__}")
    table = {}
    for key, maker in second.items():
        if (not isinstance(key, tuple) or len(key) != 2 or not all(isinstance(k, int) and 0 <= k < n for k in key)
                or key[0] > key[1]):
            raise ValueError(f"rule {name!r}: second-derivative keys are pairs (i, j) with 0 <= i <= j < {n}, got {key!r}")
        if not callable(maker):
            raise ValueError(f"rule {name!r}: the second-derivative maker for {key} must be callable")
        table[key] = maker
    return table


@functools.lru_cache(maxsize=None)
def _signature(fun):
    """``inspect.signature(fun)``, or None for a ufunc or a builtin without one (cached)."""
    if isinstance(fun, np.ufunc):
        return None
    try:
        return inspect.signature(fun)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def _positional(fun):
    """The names of ``fun``'s positional parameters (None for a ufunc or without a signature)."""
    signature = _signature(fun)
    if signature is None:
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(p.name for p in signature.parameters.values() if p.kind in kinds)


_BY_NAME: dict[str, Rule] = {}
_BY_FUNCTION: dict[object, Rule] = {}
_COMPOSITES: dict[object, object] = {}


def register_composite(func, impl) -> None:
    """Trace ``func`` through ``impl``: a Python function of the same arguments written with other
    traceable operations, for functions with several results (``np.split``) or that are best seen
    as a composition.  Its pieces are recorded as equations of their own.

    >>> import numpy as np, tensorjac as tj
    >>> from tensorjac.rules import register_composite
    >>> def halves(x):
    ...     return x[: len(x) // 2], x[len(x) // 2:]
    >>> register_composite(halves, halves)
    """
    if not callable(impl):
        raise ValueError(f"register_composite: impl must be callable, got {type(impl).__name__}")
    _COMPOSITES[func] = impl


def find_composite(func):
    """The implementation registered for ``func`` with :func:`register_composite`, or None."""
    try:
        return _COMPOSITES.get(func)
    except TypeError:
        return None


def _add(rule: Rule, hidden: bool = False, replace: bool = False) -> Rule:
    if not isinstance(rule.name, str) or not rule.name:
        raise ValueError(f"a rule name must be a non-empty string, got {rule.name!r}")
    if not isinstance(replace, bool):
        raise TypeError(f"replace must be True or False, got {replace!r}")
    if not hidden:
        old = _BY_NAME.get(rule.name)
        if old is not None:
            if not replace:
                raise ValueError(
                    f"a rule named {rule.name!r} is already registered; pass replace=True to replace it "
                    "(e.g. when re-running a notebook cell)"
                )
            if old.builtin:
                raise ValueError(f"{rule.name!r} is a built-in rule; register yours under another name")
            # The old rule goes entirely: its functions no longer find it.
            for fun in [f for f, r in _BY_FUNCTION.items() if r is old]:
                del _BY_FUNCTION[fun]
        _BY_NAME[rule.name] = rule
    for fun in (rule.fun, *rule.functions):
        try:
            _BY_FUNCTION.setdefault(fun, rule)
        except TypeError:  # an unhashable callable is found by name only
            pass
    return rule


def define(name, fun, *makers, argnames=None, domain=None, examples=None, builtin=False, functions=(),
           static=(), bind=None, variadic=False, second=None, hidden=False, replace=False, vjp=None) -> Rule:
    """Build and register a :class:`Rule` (see :func:`register_rule`); a ``hidden`` rule is found by
    its functions only (not by name, not in :func:`rule_names`): the rules that ``tj.implicit`` makes."""
    if not callable(fun):
        raise ValueError(f"rule {name!r}: fun must be callable, got {type(fun).__name__}")
    if not makers:
        raise ValueError(f"rule {name!r} needs one Jacobian maker per array argument")
    for pos, maker in enumerate(makers):
        if maker is not None and not callable(maker):
            raise ValueError(f"rule {name!r}: maker {pos} must be callable or None, got {type(maker).__name__}")
    if variadic:
        if len(makers) != 1:
            raise ValueError(f"variadic rule {name!r} takes exactly one maker (called with argnum=i)")
        argnames = tuple(argnames or ("xs",))
        return _add(Rule(name, fun, makers, argnames, domain, examples, builtin, functions, static, bind, True, second,
                         vjp), hidden, replace)
    if argnames is None:
        params = list(inspect.signature(fun).parameters)
        if len(params) < len(makers):
            raise ValueError(f"rule {name!r}: cannot name {len(makers)} arguments from {fun}; pass argnames=")
        argnames = params[: len(makers)]
    if len(argnames) != len(makers):
        raise ValueError(f"rule {name!r}: {len(argnames)} argnames for {len(makers)} makers")
    return _add(Rule(name, fun, makers, argnames, domain, examples, builtin, functions, static, bind, False, second,
                     vjp), hidden, replace)


def register_rule(name: str, fun, *makers, argnames=None, domain=None, examples=None, functions=(), static=(),
                  bind=None, variadic=False, second=None, replace=False) -> Rule:
    """Register an operation and its Jacobian makers (the analogue of a custom autograd Function).

    The rule is found by its name and by ``fun`` itself (``get_rule(fun)``).

    Args:
        name: the rule's name; registering a name twice raises ``ValueError`` unless ``replace=True``.
        fun: the numpy function, ``fun(*arrays, **kwargs)``.
        *makers: one per array argument, ``maker(ans, *arrays, **kwargs) -> Jacobian``, or
            ``None`` for an argument without a Jacobian.
        argnames: names of the array arguments (default: ``fun``'s first parameters).
        domain: optional ``domain(*arrays)`` raising ``ValueError`` outside the rule's domain.
        examples: optional ``examples(rng) -> [example, ...]``: inputs for the verification
            table (each a tuple of arrays, or ``(arrays, kwargs)``).
        functions: further function objects that find this rule when ``f`` is traced.
        static: names of the non-array options a call may pass (``axis``, ...).
        bind: ``bind(*args, **kwargs) -> (arrays, options)`` for an unusual signature.
        variadic: one maker for any number of arrays, called with ``argnum=i``.
        second: second derivatives for ``tensorjac.hessian``: ``{(i, j): maker}`` (``i <= j``; a
            maker returns the ``Hessian`` block of ``ans`` w.r.t. arguments i and j), a callable for
            a one-argument rule, or ``"linear"`` when they are all zero.
        replace: replace a rule of yours registered under ``name`` (re-running a notebook cell):
            the old rule is forgotten, by name and by its functions (built-in rules cannot be replaced).

    >>> import numpy as np, tensorjac as tj
    >>> def cube(x):
    ...     return x ** 3
    >>> rule = tj.register_rule("doc_cube", cube, lambda ans, x: tj.Jacobian.diagonal(3 * x ** 2))
    >>> tj.get_rule("doc_cube").jacobian(np.array([1.0, 2.0]))["x"].dense()
    array([[ 3.,  0.],
           [ 0., 12.]])
    >>> tj.get_rule(cube) is rule
    True
    """
    return define(name, fun, *makers, argnames=argnames, domain=domain, examples=examples, functions=functions,
                  static=static, bind=bind, variadic=variadic, second=second, replace=replace)


def find_rule(key) -> Rule | None:
    """The rule registered under ``key`` (a name, the registered function, or a Rule), or None."""
    if isinstance(key, Rule):
        return key
    if isinstance(key, str):
        return _BY_NAME.get(key)
    try:
        return _BY_FUNCTION.get(key)
    except TypeError:  # unhashable
        return None


def get_rule(key) -> Rule:
    """The registered :class:`Rule` for a name or a registered function (a ``Rule`` is returned as is).

    >>> import numpy as np, tensorjac as tj
    >>> tj.get_rule(np.exp) is tj.get_rule("exp")
    True
    """
    rule = find_rule(key)
    if rule is None:
        if not isinstance(key, str) and not callable(key):
            raise TypeError(f"get_rule takes a rule name or a registered function, got {type(key).__name__}")
        what = repr(key) if isinstance(key, str) else f"for the function {getattr(key, '__name__', type(key).__name__)}"
        raise ValueError(f"unknown rule {what}; registered rules: {sorted(_BY_NAME)}")
    return rule


def rule_names() -> list[str]:
    """Names of all registered rules, in registration order."""
    return list(_BY_NAME)
