"""Support for tests/test_fuzz.py: the judge of one call, input strategies, and the user functions.

**The judge.**  :func:`attempt` runs one call of a public function and classifies what happens:

* a result: it must be finite wherever the inputs were finite (every input drawn here has a
  finite true result: the function family below is smooth and bounded on the values drawn);
* an exception: it must be *clear*:
    - not an ``AssertionError`` (unless the driver says the call documents one),
    - of a documented type (``ValueError``, ``TypeError``, ``MemoryError``,
      ``NotImplementedError``, or tensorjac's subclasses of them; a driver may allow more, e.g.
      ``ImportError`` for ``Program.draw`` without graphviz, ``SystemExit`` for the command line),
    - raised from a tensorjac frame, or from the user's own function (any frame of the test
      files): the innermost frame of ``exc.__traceback__`` is never inside numpy, opt_einsum or
      another library,
    - with a message that does not start with a raw numpy/Python message (a numpy error passed on
      through a tensorjac frame without saying which argument or option is at fault), and never
      names internal einsum letters or spec strings.

Each outcome is counted by ``(public name, class)``; test_fuzz prints the counts.
"""

from __future__ import annotations

import collections
import os
import re
import traceback
import warnings

import numpy as np
from hypothesis import strategies as st

import tensorjac as tj

PACKAGE_DIR = os.path.dirname(os.path.abspath(tj.__file__)) + os.sep
TESTS_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
DOCUMENTED = (ValueError, TypeError, MemoryError, NotImplementedError)

OUTCOMES: collections.Counter = collections.Counter()

# Messages of numpy, opt_einsum or Python itself, unclear when they reach the user unexplained
# (checked at the start of the message: a tensorjac message may quote one after naming the culprit).
RAW_MESSAGES = (
    "operands could not be broadcast", "duplicate value in 'axis'",
    "setting an array element with a sequence", "data type must provide an itemsize", "could not convert",
    "No contraction found", "einstein sum subscript", "invalid subscript", "too many subscripts",
    "size of label", "operand has more dimensions", "axis ", "tuple index out of range", "list index out of range",
    "index ", "'float' object", "'NoneType' object", "'str' object", "'dict' object", "'list' object", "'int' object",
    "'tuple' object", "'Jacobian' object", "'Blocks' object", "unsupported operand type", "can't multiply sequence",
    "object of type", "unhashable type", "cannot reshape array", "shapes ", "Cannot cast", "ufunc ",
    "only integer scalar arrays", "only integers, slices", "iteration over a 0-d array", "not enough values to unpack",
    "too many values to unpack", "math domain error", "float division by zero", "division by zero",
    "maximum recursion depth", "len() of unsized object", "zero-size array to reduction operation",
    "The truth value of an array", "bad operand type", "Unsupported dtype", "Input operand",
)
# Raw messages anywhere in the text, unless tensorjac said around them what was called on what.
RAW_ANYWHERE = ("gufunc signature", "did not contain a loop", "inhomogeneous shape", "could not be broadcast",
                "bad operand type", "unsupported operand type", "object is not iterable", "has no attribute")
CONTEXT = ("(called with ", "cannot be read as an array")
# Internal einsum letters or specs (tensorjac's own specs carry '|' between output and input letters).
INTERNAL = re.compile(r"letter '|spec '|'[A-Za-z,]*->[A-Za-z]*\|")


class UnclearError(AssertionError):
    """What the fuzz test reports (never raised by tensorjac)."""


def innermost_frame(tb):
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


def _frames(tb):
    while tb is not None:
        yield os.path.abspath(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next


def raised_by_user(exc) -> bool:
    """The innermost frame that is tensorjac's or the user's is the user's: the user's own code
    raised it, or called a library (numpy on plain arrays) that did."""
    owner = None
    for filename in _frames(exc.__traceback__):
        if filename.startswith(PACKAGE_DIR):
            owner = "tensorjac"
        elif filename.startswith(TESTS_DIR):
            owner = "user"
    return owner == "user"


def _describe(exc) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def check_clear(name: str, exc: BaseException, allow=(), assertion_ok: bool = False, internal_ok: bool = False) -> None:
    """Raise :class:`UnclearError` unless ``exc`` is a clear error of public function ``name``."""
    message = str(exc)
    if isinstance(exc, AssertionError) and not assertion_ok:
        raise UnclearError(f"{name}: raised AssertionError\n{_describe(exc)}")
    if isinstance(exc, SystemExit) and SystemExit in allow:
        return  # a command line's exit status (argparse's usage errors exit with 2)
    frame = innermost_frame(exc.__traceback__)
    filename = os.path.abspath(frame.f_code.co_filename)
    if raised_by_user(exc):
        return  # raised by the user's own function (or numpy called by it): passed on as it is
    if not isinstance(exc, DOCUMENTED + tuple(allow)) and not (assertion_ok and isinstance(exc, AssertionError)):
        raise UnclearError(f"{name}: raised {type(exc).__name__}, not a documented type\n{_describe(exc)}")
    if not filename.startswith(PACKAGE_DIR):
        raise UnclearError(f"{name}: the error was raised inside {filename}, not by tensorjac\n{_describe(exc)}")
    if (message.startswith(RAW_MESSAGES) or not message.strip()
            or any(raw in message for raw in RAW_ANYWHERE) and not any(c in message for c in CONTEXT)):
        raise UnclearError(f"{name}: a raw library message reached the user: {message!r}\n{_describe(exc)}")
    if INTERNAL.search(message) and not internal_ok:  # (internal_ok: the user wrote the spec quoted)
        raise UnclearError(f"{name}: the message names internal einsum letters or specs: {message!r}\n{_describe(exc)}")


def _leaves(obj, depth=0):
    """The numeric arrays in a result (Jacobians and Hessians densified when small)."""
    if depth > 4:
        return
    if isinstance(obj, (tj.Jacobian, tj.Hessian)):
        if obj.size <= 4096:
            yield obj.dense()
    elif isinstance(obj, tj.HessianBlocks):
        for key in obj:
            yield from _leaves(obj[key], depth + 1)
    elif isinstance(obj, tj.Blocks):
        for key in obj:
            yield from _leaves(obj[key], depth + 1)
        if isinstance(obj, tj.NumericalBlocks):
            yield from _leaves(obj.value, depth + 1)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v, depth + 1)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            yield from _leaves(v, depth + 1)
    elif isinstance(obj, (np.ndarray, np.generic, float, int)) and not isinstance(obj, bool):
        arr = np.asarray(obj)
        if arr.dtype.kind in "fc":
            yield arr


def finite_inputs(*objs) -> bool:
    """True when every numeric array among ``objs`` (nested) is finite (complex: both parts)."""
    for obj in objs:
        if getattr(obj, "nonfinite", False):  # a user function whose own values are not finite
            return False
        for arr in _leaves(obj):
            if not np.all(np.isfinite(arr)):
                return False
    return True


def expect_finite(f, args, *others) -> bool:
    """Whether the results of a transform of ``f`` at ``args`` must be finite: the inputs (``args``
    and ``others``) are finite and so is ``f``'s own value in plain numpy (the mean over an empty
    axis is nan: no derivative of it has to be finite)."""
    if not finite_inputs(f, *args, *others):
        return False
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = f(*args)
        return finite_inputs(value)
    except Exception:  # noqa: BLE001 - f fails on these arguments: tensorjac must raise too
        return True


def check_finite_result(name: str, result) -> None:
    for arr in _leaves(result):
        if not np.all(np.isfinite(arr)):
            raise UnclearError(f"{name}: a non-finite result from finite input: {arr!r}")


def attempt(name: str, call, *inputs, allow=(), assertion_ok=False, internal_ok=False, finite=None, record=True,
            quiet=True):
    """Run ``call()``; classify and count the outcome; return ``(ok, result or exception)``.

    ``finite``: whether the result must be finite (default: when ``inputs`` are all finite).
    """
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            result = call()
    except UnclearError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - classified below
        check_clear(name, exc, allow, assertion_ok, internal_ok)
        if record:
            OUTCOMES[(name, f"clear {type(exc).__name__}")] += 1
        return False, exc
    if finite is None:
        finite = finite_inputs(*inputs)
    if finite:
        check_finite_result(name, result)
    if record:
        OUTCOMES[(name, "valid result")] += 1
    return True, result


def format_outcomes() -> str:
    by_name = collections.defaultdict(dict)
    for (name, kind), count in OUTCOMES.items():
        by_name[name][kind] = count
    totals = collections.Counter()
    for (_, kind), count in OUTCOMES.items():
        totals[kind] += count
    lines = [f"{'public name':28s} outcomes"]
    for name in sorted(by_name):
        parts = ", ".join(f"{kind} {count}" for kind, count in sorted(by_name[name].items()))
        lines.append(f"{name:28s} {parts}")
    lines.append("totals: " + ", ".join(f"{kind} {count}" for kind, count in sorted(totals.items())))
    return "\n".join(lines)


# ---- Inputs -----------------------------------------------------------------------------------

FLOATS = ("float64", "float32")
BAD_DTYPES = ("complex128", "object", "float16")
ALL_DTYPES = FLOATS * 4 + ("int64", "bool") + BAD_DTYPES
KINDS = ("normal",) * 8 + ("tiny", "zero", "nan", "inf")


def shapes(min_dims=0, max_dims=3, max_side=3):
    return st.lists(st.integers(0, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def make_array(shape, dtype="float64", kind="normal", seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=shape)
    if kind == "tiny":
        x = x * 1e-310
    elif kind == "zero":
        x = np.zeros(shape)
    elif kind in ("nan", "inf") and x.size:
        x.flat[rng.integers(x.size)] = np.nan if kind == "nan" else -np.inf
    if dtype in ("int64", "bool"):
        x = (x > 0) if dtype == "bool" else np.round(x)
    if dtype == "complex128":
        x = x + 0.5j
    with np.errstate(invalid="ignore"):
        return np.asarray(x).astype(dtype)


@st.composite
def arrays(draw, shape=None, dtypes=ALL_DTYPES, kinds=KINDS, max_dims=3):
    """A numpy array of a drawn (or given) shape, dtype and kind of values."""
    if shape is None:
        shape = draw(shapes(max_dims=max_dims))
    return make_array(shape, draw(st.sampled_from(dtypes)), draw(st.sampled_from(kinds)), draw(st.integers(0, 2**16)))


def valid_arrays(shape=None, max_dims=3):
    """Arrays a differentiating function must accept: float32/float64 (and integers, promoted), finite."""
    return arrays(shape=shape, dtypes=FLOATS * 3 + ("int64",), kinds=("normal",) * 6 + ("tiny", "zero"),
                  max_dims=max_dims)


def mostly_valid(shape=None):
    """Valid arrays three times in four, anything (bad dtypes, nan, junk) otherwise."""
    return st.one_of([valid_arrays(shape=shape)] * 3 + [array_or_junk(shape)])


def shape_of(x):
    """The shape of ``x`` when it has one (None for junk such as a ragged list)."""
    try:
        return np.shape(x) if isinstance(x, np.ndarray) else None
    except ValueError:
        return None


def good(shape, seed=0, dtype="float64"):
    return make_array(shape, dtype, "normal", seed)


JUNK = (None, "abc", [1.0, 2.0], [[1.0], [1.0, 2.0]], {"a": 1.0}, 3, 2.5, True, (1.0, 2.0), b"xy",
        np.array(["a", "b"]), object(), 1 + 2j, float("nan"))


def junk_values():
    return st.sampled_from(JUNK + (tj.Jacobian.identity((2,)), tj.Blocks({"x": tj.Jacobian.identity((2,))})))


def array_or_junk(shape=None, junk_weight=1):
    return st.one_of([arrays(shape=shape)] * 4 + [junk_values()] * junk_weight)


# ---- The user's functions -----------------------------------------------------------------------


def _const(n, m=2):
    return np.linspace(-1.0, 1.0, n * m).reshape(n, m) if n * m else np.zeros((n, m))


def f_tanh(x):
    return np.tanh(x)


def f_poly(x):
    return x * x * 0.5 + x


def f_exp_sin(x):
    return np.exp(np.sin(x))


def f_logit(x):
    return tj.logit(x) * tj.softplus(x)


def f_matmul(x):
    return x @ _const(x.shape[-1])


def f_sum(x):
    return np.sum(x * x)


def f_mean0(x):
    return np.mean(np.cos(x), axis=0)


def f_max(x):
    return np.max(x, axis=-1)


def f_softmax(x):
    return tj.softmax(x)


def f_log_softmax_loss(x):
    return -np.sum(tj.log_softmax(x)[..., :1])


def f_logsumexp(x):
    return tj.logsumexp(x)


def f_slice(x):
    return x[..., :2] * 2.0


def f_first(x):
    return x[0]


def f_reverse(x):
    return x.reshape(-1)[::-1]


def f_concat(x):
    return np.concatenate([x, np.tanh(x)], axis=-1)


def f_norm(x):
    return np.linalg.norm(x)


def f_prod(x):
    return np.prod(x, axis=-1)


def f_var(x):
    return np.var(x)


def f_where(x):
    return np.where(x > 0, x, 0.1 * x)


def f_cumsum(x):
    return np.cumsum(x)


def f_abs_sqrt(x):
    return np.sqrt(1.0 + x * x) + np.abs(x)


def f_const(x):
    return np.ones(3)


def f_identity(x):
    return x


def f_transpose(x):
    return np.sin(x).T


def f_none(x):
    return None


def f_tuple(x):
    return (x, x)


def f_string(x):
    return "abc"


def f_raises(x):
    raise ZeroDivisionError("the user's own error")


def f_float(x):
    return float(x) * x


def f_branch(x):
    return x if x > 0 else -x


def f_complex(x):
    return x * 1j


def f_int(x):
    return x.astype(int)


def f_no_rule(x):
    return np.arctan2(x, 1.0 + x * x)


def f_nan(x):
    return x * np.nan


f_nan.nonfinite = True


SMOOTH = [f_tanh, f_poly, f_exp_sin, f_logit, f_matmul, f_sum, f_mean0, f_max, f_softmax, f_log_softmax_loss,
          f_logsumexp, f_slice, f_first, f_reverse, f_concat, f_norm, f_prod, f_var, f_where, f_cumsum, f_abs_sqrt,
          f_const, f_identity, f_transpose]
BROKEN = [f_none, f_tuple, f_string, f_raises, f_float, f_branch, f_complex, f_int, f_no_rule, f_nan]
SCALAR = [f_sum, f_log_softmax_loss, f_logsumexp, f_norm, f_var]


def g_mul(x, y):
    return x * y


def g_matmul(x, y):
    return x @ y


def g_add_tanh(x, y):
    return np.tanh(x) + y


def g_max(x, y):
    return np.maximum(x, y)


def g_stack(x, y):
    return np.stack([x, y])


def g_loss(x, y):
    return tj.cross_entropy(tj.softmax(x), tj.softmax(y))


def g_where(x, y):
    return np.where(x > y, x * y, x + y)


BINARY = [g_mul, g_matmul, g_add_tanh, g_max, g_stack, g_loss, g_where]


def functions(kind="unary"):
    """A user function: mostly smooth ones, sometimes broken ones (``kind`` "unary", "scalar" or "binary")."""
    if kind == "scalar":
        return st.one_of(st.sampled_from(SCALAR), st.sampled_from(SMOOTH), st.sampled_from(BROKEN))
    if kind == "binary":
        return st.one_of([st.sampled_from(BINARY)] * 3 + [st.sampled_from(BROKEN)])
    return st.one_of([st.sampled_from(SMOOTH)] * 3 + [st.sampled_from(BROKEN)])
