"""Conversions between the floating dtypes tensorjac differentiates (float32 and float64)."""

from __future__ import annotations

import numpy as np

from ._nn import traceable
from ._registry import define
from ._structure import elementwise

__all__ = ["astype"]


@traceable
def astype(x, dtype):
    """``x.astype(dtype)`` for ``dtype`` float32 or float64 (a traced value's ``astype``): an identity map.

    >>> import numpy as np, tensorjac as tj
    >>> tj.rules.astype(np.ones(2, np.float32), np.float64).dtype
    dtype('float64')
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"astype: tensorjac differentiates float32 and float64, got {dtype}")
    return np.asarray(x).astype(dtype)


define("astype", astype.impl, lambda ans, x, dtype: elementwise(ans, x), argnames=("x",), static=("dtype",),
       functions=(astype,), builtin=True, second="linear",
       examples=lambda rng: [((rng.standard_normal(3),), {"dtype": np.float64}),
                             ((rng.standard_normal((2, 0)),), {"dtype": np.float64})])
