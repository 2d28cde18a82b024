"""The rule registry, keyed by name and by function object (``np.exp`` finds the ``exp`` rule).

A rule is registered as ``register_rule(name, fun, *makers)``.  ``fun`` computes the value
from numpy arrays; ``makers[i]`` is called as ``maker(ans, *args, **kwargs)`` (``ans`` is the
value, passed first so that exp, logit and softmax can reuse it, as in HIPS autograd's
``defvjp``) and returns the structured :class:`~tensorjac.Jacobian` of ``ans`` with respect
to argument ``i``: shape ``ans.shape + args[i].shape``.  Arguments broadcast as in numpy; the
Jacobian with respect to a broadcast argument is taken against its true shape (size-1 and
missing leading axes sum over the axes they were broadcast along).

A rule may declare example inputs (``examples=``, a function of a numpy random generator
returning a list of examples), used by ``tensorjac.testing`` to verify it.
"""

from __future__ import annotations

import inspect

import numpy as np

from .._jacobian import Jacobian, protect
from .._validation import as_finite_float_array, select_args
from ..blocks import Blocks

__all__ = ["Rule", "register_rule", "get_rule", "find_rule", "rule_names", "jacobian", "value_and_jacobian"]


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
    """

    def __init__(self, name, fun, makers, argnames, domain=None, examples=None, builtin=False):
        self.name, self.fun, self.makers = name, fun, tuple(makers)
        self.argnames, self.domain = tuple(argnames), domain
        self.examples, self.builtin = examples, builtin
        self.__doc__ = fun.__doc__

    def _prepare(self, args):
        if len(args) != len(self.argnames):
            raise ValueError(
                f"rule {self.name!r} takes {len(self.argnames)} array argument(s) {list(self.argnames)}, "
                f"got {len(args)}"
            )
        arrays = [as_finite_float_array(a, f"{self.name}: argument {n!r}") for a, n in zip(args, self.argnames)]
        if self.domain is not None:
            self.domain(*arrays)
        return arrays

    def __call__(self, *args, **kwargs) -> np.ndarray:
        return np.asarray(self.fun(*self._prepare(args), **kwargs))

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
        ans = np.asarray(self.fun(*arrays, **kwargs))
        if names is None:
            names = self.argnames
        elif len(names) != len(self.argnames) or len(set(names)) != len(names):
            raise ValueError(f"names must give {len(self.argnames)} distinct names for {list(self.argnames)}, got {names}")
        positions = select_args(argnums, tuple(names), f"rule {self.name!r}")
        blocks = {}
        for pos in positions:
            maker = self.makers[pos]
            if maker is None:
                raise NotImplementedError(f"rule {self.name!r} has no Jacobian for argument {self.argnames[pos]!r}")
            J = maker(ans, *arrays, **kwargs)
            expected = ans.shape + arrays[pos].shape
            if not isinstance(J, Jacobian) or J.out_shape != ans.shape or J.in_shape != arrays[pos].shape:
                got = f"a Jacobian of shape {J.shape}" if isinstance(J, Jacobian) else f"a {type(J).__name__}"
                raise ValueError(
                    f"rule {self.name!r}: the Jacobian maker for argument {self.argnames[pos]!r} returned {got}; "
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


_BY_NAME: dict[str, Rule] = {}
_BY_FUNCTION: dict[object, Rule] = {}


def _add(rule: Rule) -> Rule:
    if not isinstance(rule.name, str) or not rule.name:
        raise ValueError(f"a rule name must be a non-empty string, got {rule.name!r}")
    if rule.name in _BY_NAME:
        raise ValueError(f"a rule named {rule.name!r} is already registered")
    _BY_NAME[rule.name] = rule
    try:
        _BY_FUNCTION.setdefault(rule.fun, rule)
    except TypeError:  # an unhashable callable is found by name only
        pass
    return rule


def define(name, fun, *makers, argnames=None, domain=None, examples=None, builtin=False) -> Rule:
    """Build and register a :class:`Rule` (see :func:`register_rule`)."""
    if not callable(fun):
        raise ValueError(f"rule {name!r}: fun must be callable, got {type(fun).__name__}")
    if not makers:
        raise ValueError(f"rule {name!r} needs one Jacobian maker per array argument")
    if argnames is None:
        params = list(inspect.signature(fun).parameters)
        if len(params) < len(makers):
            raise ValueError(f"rule {name!r}: cannot name {len(makers)} arguments from {fun}; pass argnames=")
        argnames = params[: len(makers)]
    if len(argnames) != len(makers):
        raise ValueError(f"rule {name!r}: {len(argnames)} argnames for {len(makers)} makers")
    return _add(Rule(name, fun, makers, argnames, domain, examples, builtin))


def register_rule(name: str, fun, *makers, argnames=None, domain=None, examples=None) -> Rule:
    """Register an operation and its Jacobian makers (the analogue of a custom autograd Function).

    The rule is found by its name and by ``fun`` itself (``get_rule(fun)``).

    Args:
        name: the rule's name; registering a name twice raises ``ValueError``.
        fun: the numpy function, ``fun(*arrays, **kwargs)``.
        *makers: one per array argument, ``maker(ans, *arrays, **kwargs) -> Jacobian``, or
            ``None`` for an argument without a Jacobian.
        argnames: names of the array arguments (default: ``fun``'s first parameters).
        domain: optional ``domain(*arrays)`` raising ``ValueError`` outside the rule's domain.
        examples: optional ``examples(rng) -> [example, ...]``: inputs for the verification
            table (each a tuple of arrays, or ``(arrays, kwargs)``).

    >>> import numpy as np, tensorjac as tj
    >>> def cube(x):
    ...     return x ** 3
    >>> rule = tj.register_rule("doc_cube", cube, lambda ans, x: tj.Jacobian.diagonal(3 * x ** 2))
    >>> tj.jacobian("doc_cube", np.array([1.0, 2.0]))["x"].dense()
    array([[ 3.,  0.],
           [ 0., 12.]])
    >>> tj.get_rule(cube) is rule
    True
    """
    return define(name, fun, *makers, argnames=argnames, domain=domain, examples=examples)


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
        raise ValueError(f"unknown rule {key!r}; registered rules: {sorted(_BY_NAME)}")
    return rule


def rule_names() -> list[str]:
    """Names of all registered rules, in registration order."""
    return list(_BY_NAME)


def jacobian(rule, *args, argnums=None, names=None, **kwargs) -> Blocks:
    """The Jacobian blocks of a registered rule at ``args``.

    >>> import numpy as np, tensorjac as tj
    >>> J = tj.jacobian("logit", np.zeros((2, 3)))["x"]
    >>> J.shape, float(J.dense()[0, 0, 0, 0])
    ((2, 3, 2, 3), 0.25)
    """
    return get_rule(rule).jacobian(*args, argnums=argnums, names=names, **kwargs)


def value_and_jacobian(rule, *args, argnums=None, names=None, **kwargs) -> tuple[np.ndarray, Blocks]:
    """The value of a registered rule at ``args`` and its Jacobian blocks."""
    return get_rule(rule).value_and_jacobian(*args, argnums=argnums, names=names, **kwargs)
