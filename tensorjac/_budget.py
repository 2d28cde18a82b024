"""The dense budget: the largest array (in bytes) that tensorjac materialises on request.

Every check of the budget goes through :func:`fits` (a predicate, for code that can fall back
to a factored result) or :func:`check` (which raises ``MemoryError`` naming the shape and the
bytes).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["set_dense_budget", "get_dense_budget", "fits", "check", "check_budget"]

DEFAULT_BUDGET = 1 << 30  # 1 GiB
_budget = DEFAULT_BUDGET


def set_dense_budget(nbytes: int | None) -> int:
    """Set the largest array (in bytes) that ``Jacobian.dense()`` may build; return the old value.

    ``None`` restores the default of 1 GiB.

    >>> import tensorjac as tj
    >>> old = tj.set_dense_budget(10 * 2**30)   # allow 10 GiB
    >>> _ = tj.set_dense_budget(old)
    """
    global _budget
    check_budget(nbytes, "the dense budget")
    old = _budget
    _budget = DEFAULT_BUDGET if nbytes is None else int(nbytes)
    return old


def get_dense_budget() -> int:
    """The current budget of ``Jacobian.dense()`` in bytes."""
    return _budget


def check_budget(budget, name: str = "budget") -> None:
    """Raise ``ValueError`` unless ``budget`` is None or a non-negative int (bytes)."""
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0
    ):
        raise ValueError(f"{name} must be None or a non-negative number of bytes, got {budget!r}")


def fits(entries: int, itemsize: int, budget: int | None = None) -> bool:
    """Whether an array of ``entries`` entries of ``itemsize`` bytes fits the budget."""
    if budget is None:
        return entries * itemsize <= _budget
    check_budget(budget)
    return entries * itemsize <= budget


def check(shape: tuple[int, ...], dtype, budget: int | None = None, what: str = "a dense Jacobian") -> None:
    """Raise ``MemoryError`` naming ``shape`` and the bytes if the array would not fit."""
    itemsize = np.dtype(dtype).itemsize
    entries = math.prod(shape)
    if not fits(entries, itemsize, budget):
        budget = _budget if budget is None else budget
        nbytes = entries * itemsize
        raise MemoryError(
            f"refusing to materialise {what} of shape {tuple(shape)} ({np.dtype(dtype)}): it needs "
            f"{nbytes:,} bytes ({nbytes / 2**30:.3g} GiB), over the budget of {budget:,} bytes. "
            "Contract it with a cotangent or tangent instead (tensorjac.vjp / tensorjac.jvp), or raise "
            "the budget with tensorjac.set_dense_budget(nbytes) or dense(budget=nbytes)."
        )
