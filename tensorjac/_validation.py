"""Input checks shared by every public function: dtypes, finiteness, argument selection."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SUPPORTED_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class IndexingError(ValueError, IndexError):
    """An index that does not fit the array it indexes, or a bad index argument: numpy raises
    ``IndexError`` for these, tensorjac an error that is both an ``IndexError`` and a ``ValueError``."""


def as_float_array(x, name: str = "argument") -> np.ndarray:
    """Return ``x`` as a float32 or float64 numpy array.

    Booleans and integers are promoted to float64 (as numpy's true division would);
    float32 and float64 are kept.  Complex, float16, object and string arrays raise
    ``TypeError``: tensorjac's rules and finite differences are real-valued.
    """
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # a ragged nested list, an object numpy cannot convert
        raise ValueError(
            f"{name}: cannot be read as an array ({type(x).__name__}: {exc}); give an array or a "
            "nested list of numbers with the same length at every level"
        ) from None
    kind = arr.dtype.kind
    if kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype in SUPPORTED_FLOATS:
        return arr
    if kind in "OUSV" and not isinstance(x, np.ndarray):
        shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:37] + "..."
        raise TypeError(
            f"{name}: unsupported dtype {arr.dtype}: expected a real array (or a number, or a nested list of "
            f"numbers), got {type(x).__name__} {shown}"
        )
    raise TypeError(
        f"{name}: unsupported dtype {arr.dtype}; tensorjac works with float32 and float64 "
        "(booleans and integers are promoted to float64)"
    )


def as_size(size, name: str = "size") -> int:
    """``size`` as a non-negative int: ``TypeError`` for a non-integer, ``ValueError`` for a negative one."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {type(size).__name__} {size!r}")
    if size < 0:
        raise ValueError(f"{name} must be a non-negative int, got {int(size)}")
    return int(size)


def as_shape(shape, name: str = "shape") -> tuple[int, ...]:
    """``shape`` (an int or a sequence of ints, as numpy accepts) as a tuple of non-negative ints.

    Raises ``TypeError`` for anything else (floats included: ``(1.5,)`` is not a shape) and
    ``ValueError`` for a negative size.
    """
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        items = (shape,)
    elif isinstance(shape, (tuple, list)) or (isinstance(shape, np.ndarray) and shape.ndim == 1):
        items = tuple(shape)
    else:
        shown = f" {shape!r}" if isinstance(shape, (str, float, bool, type(None))) else ""
        raise TypeError(f"{name} must be an int or a tuple of ints, got {type(shape).__name__}{shown}")
    for size in items:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"{name} must be an int or a tuple of ints, got {shape!r} (the size {size!r} is not an int)")
        if size < 0:
            raise ValueError(f"{name} {tuple(items)!r} has a negative size {int(size)}")
    return tuple(int(size) for size in items)


def float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``dtype`` as ``np.dtype(float32)`` or ``np.dtype(float64)``; ``TypeError`` for any other
    (integer, boolean, float16, complex, object): a Jacobian's entries are real floats."""
    try:
        found = np.dtype(dtype)
    except TypeError:
        found = None
    if found is None or found not in SUPPORTED_FLOATS:  # (np.dtype(None) is float64: None must not compare)
        raise TypeError(f"{name} must be float32 or float64, got {found if found is not None else dtype!r}")
    return found


def check_finite(x: np.ndarray, name: str = "argument") -> np.ndarray:
    """Raise ``ValueError`` naming the first non-finite entry of ``x``."""
    # The sum is finite whenever every entry is, and costs no temporary array; only when it is
    # not (a nan/inf, or an overflowing sum) are the entries checked one by one.
    if not np.isfinite(np.sum(x)) and not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(
            f"{name} has non-finite values (first at index {where}: {x[where] if x.ndim else x!r}); "
            "Jacobians are only defined at finite points"
        )
    return x


def as_finite_float_array(x, name: str = "argument") -> np.ndarray:
    """``as_float_array`` followed by ``check_finite``."""
    return check_finite(as_float_array(x, name), name)


def select_args(argnums, names: tuple[str, ...], what: str = "function") -> tuple[int, ...]:
    """Resolve ``argnums`` (None, an int, a name, or a sequence of those) to positions.

    Raises ``ValueError`` for out-of-range positions, unknown names and repeats.
    """
    n = len(names)
    if argnums is None:
        return tuple(range(n))
    single = isinstance(argnums, (int, np.integer, str)) or not isinstance(argnums, Iterable)
    items = (argnums,) if single else tuple(argnums)
    positions = []
    for item in items:
        if isinstance(item, str):
            if item not in names:
                raise ValueError(f"{what} has no argument named {item!r}; its arguments are {list(names)}")
            pos = names.index(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -n <= item < n:
                raise ValueError(
                    f"argnum {item} is out of range for {what} with {n} argument(s) {list(names)}"
                )
            pos = int(item) % n
        else:
            raise ValueError(f"argnums must be ints or argument names, got {item!r}")
        if pos in positions:
            raise ValueError(f"argument {names[pos]!r} selected twice in argnums={argnums!r}")
        positions.append(pos)
    if not positions:
        raise ValueError("argnums selects no argument")
    return tuple(positions)
