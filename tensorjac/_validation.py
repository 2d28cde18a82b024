"""Input checks shared by every public function: dtypes, finiteness, argument selection."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SUPPORTED_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(x, name: str = "argument") -> np.ndarray:
    """Return ``x`` as a float32 or float64 numpy array.

    Booleans and integers are promoted to float64 (as numpy's true division would);
    float32 and float64 are kept.  Complex, float16, object and string arrays raise
    ``TypeError``: tensorjac's rules and finite differences are real-valued.
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype in SUPPORTED_FLOATS:
        return arr
    raise TypeError(
        f"{name}: unsupported dtype {arr.dtype}; tensorjac works with float32 and float64 "
        "(booleans and integers are promoted to float64)"
    )


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
