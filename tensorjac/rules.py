"""The rule table: one entry per operation, one Jacobian maker per array argument.

A rule is registered as ``register_rule(name, fun, *makers)``.  ``fun`` computes the value
from numpy arrays; ``makers[i]`` is called as ``maker(ans, *args, **kwargs)`` (``ans`` is the
value, passed first so that exp, logit and softmax can reuse it, as in HIPS autograd's
``defvjp``) and returns the structured :class:`~tensorjac.Jacobian` of ``ans`` with respect
to argument ``i``: shape ``ans.shape + args[i].shape``.  Arguments broadcast as in numpy; the
Jacobian with respect to a broadcast argument is taken against its true shape (size-1 and
missing leading axes sum over the axes they were broadcast along).

Conventions:

* ``maximum(x1, x2)`` and ``relu(x)`` split ties evenly: at ``x1 == x2`` each argument gets
  derivative 1/2, and ``relu'(0) = 1/2``.  This is the symmetric (central-difference)
  derivative, and the convention of ``jax.numpy.maximum``.
* ``logit`` is the logistic sigmoid ``1 / (1 + exp(-z))`` of the course notes (which call it
  logit), computed without overflow for any finite ``z``.
* ``softmax(z, axis=-1)`` normalises along ``axis`` (rows, for a matrix).
"""

from __future__ import annotations

import inspect
import string

import numpy as np

from ._validation import as_finite_float_array, select_args
from .blocks import Blocks
from .jacobian import Jacobian

__all__ = [
    "Rule",
    "register_rule",
    "get_rule",
    "rule_names",
    "jacobian",
    "value_and_jacobian",
]


# ---- The registry -------------------------------------------------------------------------


class Rule:
    """A registered operation: its numpy function and one Jacobian maker per array argument.

    Call it to get the value; :meth:`jacobian` and :meth:`value_and_jacobian` give the
    Jacobian blocks with respect to the selected arguments.
    """

    def __init__(self, name, fun, makers, argnames, domain=None):
        self.name, self.fun, self.makers = name, fun, tuple(makers)
        self.argnames, self.domain = tuple(argnames), domain
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
            assert J.shape == expected, f"{self.name}: maker {pos} gave {J.shape}, expected {expected}"
            blocks[names[pos]] = J
        return ans, Blocks(blocks)

    def jacobian(self, *args, argnums=None, names=None, **kwargs) -> Blocks:
        """The :class:`Blocks` of the Jacobian (see :meth:`value_and_jacobian`)."""
        return self.value_and_jacobian(*args, argnums=argnums, names=names, **kwargs)[1]

    def __repr__(self):
        return f"Rule({self.name!r}, args={list(self.argnames)})"


_RULES: dict[str, Rule] = {}


def register_rule(name: str, fun, *makers, argnames=None, domain=None) -> Rule:
    """Register an operation and its Jacobian makers (the analogue of a custom autograd Function).

    Args:
        name: the rule's name; registering a name twice raises ``ValueError``.
        fun: the numpy function, ``fun(*arrays, **kwargs)``.
        *makers: one per array argument, ``maker(ans, *arrays, **kwargs) -> Jacobian``, or
            ``None`` for an argument without a Jacobian.
        argnames: names of the array arguments (default: ``fun``'s first parameters).
        domain: optional ``domain(*arrays)`` raising ``ValueError`` outside the rule's domain.

    >>> import numpy as np, tensorjac as tj
    >>> def cube(x):
    ...     return x ** 3
    >>> rule = tj.register_rule("doc_cube", cube, lambda ans, x: tj.Jacobian.diagonal(3 * x ** 2))
    >>> tj.jacobian("doc_cube", np.array([1.0, 2.0]))["x"].dense()
    array([[ 3.,  0.],
           [ 0., 12.]])
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a rule name must be a non-empty string, got {name!r}")
    if name in _RULES:
        raise ValueError(f"a rule named {name!r} is already registered")
    if not makers:
        raise ValueError(f"rule {name!r} needs one Jacobian maker per array argument")
    if argnames is None:
        params = list(inspect.signature(fun).parameters)
        if len(params) < len(makers):
            raise ValueError(f"rule {name!r}: cannot name {len(makers)} arguments from {fun}; pass argnames=")
        argnames = params[: len(makers)]
    if len(argnames) != len(makers):
        raise ValueError(f"rule {name!r}: {len(argnames)} argnames for {len(makers)} makers")
    rule = Rule(name, fun, makers, argnames, domain)
    _RULES[name] = rule
    return rule


def get_rule(name) -> Rule:
    """The registered :class:`Rule` called ``name`` (a ``Rule`` is returned as is)."""
    if isinstance(name, Rule):
        return name
    if name not in _RULES:
        raise ValueError(f"unknown rule {name!r}; registered rules: {sorted(_RULES)}")
    return _RULES[name]


def rule_names() -> list[str]:
    """Names of all registered rules, in registration order."""
    return list(_RULES)


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


# ---- Structure helpers --------------------------------------------------------------------

_LETTERS = string.ascii_letters


def _linear(out_shape, out_letters, arg_shape, arg_letters, factors=(), dtype=None) -> Jacobian:
    """Jacobian of an output that is linear in one argument, with coefficient the product of ``factors``.

    Letters name axes as in einsum: an argument letter that is also an output letter is a
    delta.  A size-1 argument (or factor) axis whose letter has a larger size elsewhere was
    broadcast: the argument axis gets a letter of its own (so the output axes it was
    broadcast along are summed by any contraction) and the factor axis is squeezed.
    """
    sizes = dict(zip(out_letters, out_shape))
    for shape, letters in [(arg_shape, arg_letters)] + [(np.shape(f), l) for f, l in factors]:
        for size, letter in zip(shape, letters):
            sizes[letter] = max(sizes.get(letter, 1), size)
    spare = iter(c for c in _LETTERS if c not in sizes)
    in_letters = ""
    for size, letter in zip(arg_shape, arg_letters):
        if size == 1 and sizes[letter] != 1:
            letter = next(spare)
            sizes[letter] = 1
        in_letters += letter
    arrays, subs = [], []
    for f, letters in factors:
        keep = [ax for ax, letter in enumerate(letters) if not (f.shape[ax] == 1 and sizes[letter] != 1)]
        arrays.append(np.reshape(f, [f.shape[ax] for ax in keep]))
        subs.append("".join(letters[ax] for ax in keep))
    spec = f"{','.join(subs)}->{out_letters}|{in_letters}"
    # The factors are the rule's arguments (checked finite by Rule._prepare) or values computed
    # from them: no second finiteness pass.
    return Jacobian.from_einsum(spec, *arrays, sizes=sizes, dtype=dtype, check_finite=False)


def _aligned(ndim, out_letters):
    """Letters of an operand broadcast against ``out_letters`` (numpy aligns trailing axes)."""
    return out_letters[len(out_letters) - ndim:]


def _elementwise(ans, x, deriv=None) -> Jacobian:
    """Jacobian of an elementwise map of ``x`` (maybe broadcast to ``ans``) with derivative ``deriv``."""
    out = _LETTERS[: ans.ndim]
    factors = [] if deriv is None else [(np.asarray(deriv, dtype=ans.dtype), _aligned(np.ndim(deriv), out))]
    return _linear(ans.shape, out, x.shape, _aligned(x.ndim, out), factors, dtype=ans.dtype)


def _log_domain(x):
    if np.any(x <= 0):
        raise ValueError(f"log: x must be > 0 everywhere; its minimum is {x.min()} (shape {x.shape})")


# ---- Elementwise --------------------------------------------------------------------------


def logit(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))`` (the notes' "logit"), without overflow."""
    e = np.exp(-np.abs(x))  # <= 1, so nothing overflows for any finite x
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu(x):
    """``maximum(x, 0)``; ``relu'(0) = 1/2`` (ties split evenly, see the module docstring)."""
    return np.maximum(x, 0)


def _tie_split(a, b):
    """Derivative of ``maximum(a, b)`` w.r.t. ``a``: 1 where a > b, 1/2 at ties, 0 elsewhere."""
    return (a > b) + 0.5 * (a == b)


register_rule("exp", np.exp, lambda ans, x: _elementwise(ans, x, ans), argnames=("x",))
register_rule("log", np.log, lambda ans, x: _elementwise(ans, x, 1 / x), argnames=("x",), domain=_log_domain)
register_rule("sin", np.sin, lambda ans, x: _elementwise(ans, x, np.cos(x)), argnames=("x",))
register_rule("cos", np.cos, lambda ans, x: _elementwise(ans, x, -np.sin(x)), argnames=("x",))
register_rule("tanh", np.tanh, lambda ans, x: _elementwise(ans, x, 1 - ans**2), argnames=("x",))
register_rule("logit", logit, lambda ans, x: _elementwise(ans, x, ans * (1 - ans)))
register_rule("relu", relu, lambda ans, x: _elementwise(ans, x, _tie_split(x, 0.0)))

# ---- Binary, broadcasting -----------------------------------------------------------------


def _nonzero_divisor(x1, x2):
    if np.any(x2 == 0):
        raise ValueError(f"divide: the divisor x2 (shape {x2.shape}) has zeros")


register_rule(
    "add", np.add,
    lambda ans, x1, x2: _elementwise(ans, x1),
    lambda ans, x1, x2: _elementwise(ans, x2),
    argnames=("x1", "x2"),
)
register_rule(
    "subtract", np.subtract,
    lambda ans, x1, x2: _elementwise(ans, x1),
    lambda ans, x1, x2: _elementwise(ans, x2, -np.ones((), ans.dtype)),
    argnames=("x1", "x2"),
)
register_rule(
    "multiply", np.multiply,
    lambda ans, x1, x2: _elementwise(ans, x1, x2),
    lambda ans, x1, x2: _elementwise(ans, x2, x1),
    argnames=("x1", "x2"),
)
register_rule(
    "divide", np.divide,
    lambda ans, x1, x2: _elementwise(ans, x1, 1 / x2),
    lambda ans, x1, x2: _elementwise(ans, x2, -ans / x2),
    argnames=("x1", "x2"),
    domain=_nonzero_divisor,
)
register_rule(
    "maximum", np.maximum,
    lambda ans, x1, x2: _elementwise(ans, x1, _tie_split(x1, x2)),
    lambda ans, x1, x2: _elementwise(ans, x2, _tie_split(x2, x1)),
    argnames=("x1", "x2"),
)

# ---- Linear algebra -----------------------------------------------------------------------


def _matmul_letters(a_ndim, b_ndim, ans_ndim):
    """einsum letters (a, b, out) of ``np.matmul`` for operands of these ranks (1-D promoted as numpy does)."""
    if a_ndim == 1 and b_ndim == 1:
        return "i", "i", ""
    batch = _LETTERS[: ans_ndim - (a_ndim > 1) - (b_ndim > 1)]
    row, inner, col = "X", "Y", "Z"
    a = inner if a_ndim == 1 else _aligned(a_ndim - 2, batch) + row + inner
    b = inner if b_ndim == 1 else _aligned(b_ndim - 2, batch) + inner + col
    out = batch + (row if a_ndim > 1 else "") + (col if b_ndim > 1 else "")
    return a, b, out


def matmul_jac_0(ans, x1, x2):
    a, b, out = _matmul_letters(x1.ndim, x2.ndim, ans.ndim)
    return _linear(ans.shape, out, x1.shape, a, [(x2, b)], dtype=ans.dtype)


def matmul_jac_1(ans, x1, x2):
    a, b, out = _matmul_letters(x1.ndim, x2.ndim, ans.ndim)
    return _linear(ans.shape, out, x2.shape, b, [(x1, a)], dtype=ans.dtype)


def _matmul_shapes(x1, x2):
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one axis, got shapes {x1.shape} and {x2.shape}")


register_rule("matmul", np.matmul, matmul_jac_0, matmul_jac_1, argnames=("x1", "x2"), domain=_matmul_shapes)


def affine(X, W, b):
    """``X @ W + b`` with ``b`` broadcast over the rows of ``X`` (``X`` may be a vector)."""
    return X @ W + b


def _affine_shapes(X, W, b):
    if X.ndim not in (1, 2) or W.ndim != 2 or b.ndim != 1 or X.shape[-1] != W.shape[0] or b.shape[0] != W.shape[1]:
        raise ValueError(
            f"affine(X, W, b) needs X of shape (N, d) or (d,), W of shape (d, k) and b of shape (k,); "
            f"got X {X.shape}, W {W.shape}, b {b.shape}"
        )


register_rule(
    "affine", affine,
    lambda ans, X, W, b: matmul_jac_0(ans, X, W),
    lambda ans, X, W, b: matmul_jac_1(ans, X, W),
    lambda ans, X, W, b: _elementwise(ans, b),
    domain=_affine_shapes,
)


# ---- Reductions and normalisations --------------------------------------------------------


def sum_jac(ans, x, axis=None, keepdims=False):
    letters = _LETTERS[: x.ndim]
    axes = range(x.ndim) if axis is None else np.atleast_1d(axis) % max(x.ndim, 1)
    axes = set(int(a) for a in axes)
    out = "".join(c for ax, c in enumerate(letters) if ax not in axes or keepdims)
    if keepdims:  # the kept size-1 axes are not the summed input axes
        out = "".join(c.upper() if ax in axes else c for ax, c in enumerate(letters))
    return _linear(ans.shape, out, x.shape, letters, dtype=ans.dtype)


register_rule("sum", np.sum, sum_jac, argnames=("x",))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, shifted by the maximum so large logits do not overflow."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_jac(ans, x, axis=-1):
    # d s[..b..] / d x[..d..] = delta(rest) * (s_b delta(b, d) - s_b s_d): block-diagonal over the rest.
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis")
    out = _LETTERS[: x.ndim]
    ax = axis % x.ndim
    inn = out[:ax] + "Z" + out[ax + 1:]
    sizes = dict(zip(out, x.shape))
    return Jacobian.from_einsum(f"{out}->{out}|{out}", ans) - Jacobian.from_einsum(f"{out},{inn}->{out}|{inn}", ans, ans, sizes=sizes)


register_rule("softmax", softmax, softmax_jac, argnames=("x",))


def cross_entropy(P, Q):
    """``-sum(P * log(Q))`` over all entries (``Q > 0``)."""
    return -np.sum(P * np.log(Q))


def _cross_entropy_domain(P, Q):
    if P.shape != Q.shape:
        raise ValueError(f"cross_entropy(P, Q) needs P and Q of one shape, got {P.shape} and {Q.shape}")
    if np.any(Q <= 0):
        raise ValueError(f"cross_entropy(P, Q): Q must be > 0 everywhere (min {Q.min()}): log(Q) is undefined")


def _full_factor(factor):
    letters = _LETTERS[: factor.ndim]
    return Jacobian.from_einsum(f"{letters}->|{letters}", factor)


register_rule(
    "cross_entropy", cross_entropy,
    lambda ans, P, Q: _full_factor(-np.log(Q)),
    lambda ans, P, Q: _full_factor(-P / Q),
    domain=_cross_entropy_domain,
)
