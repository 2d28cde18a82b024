"""Shared helpers for the core test suite, and the invariant checks switched on for every test.

The finite-difference tolerance used everywhere is derived from the estimate that
``numerical_jacobian`` returns with every block (``NumericalBlocks.errors``: Richardson
difference plus a rounding term), not chosen by hand:

    |analytic - numeric| <= FD_SAFETY * errors + FD_ATOL

``FD_SAFETY`` covers the estimate being a heuristic (it is checked to be an actual bound in
test_numerical.py); ``FD_ATOL`` only absorbs the last bits of float64 rounding.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

# Every Jacobian built anywhere in the test suite (subprocesses included) checks the written
# representation invariant as it is constructed (tensorjac._terms).
os.environ["TENSORJAC_CHECK_INVARIANTS"] = "1"
from tensorjac import _terms  # noqa: E402

_terms.set_invariant_checks(True)

FD_SAFETY = 10.0
FD_ATOL = 1e-10


def assert_fd_close(analytic, numeric, errors, what=""):
    """Assert ``|analytic - numeric| <= FD_SAFETY * errors + FD_ATOL`` entrywise, with a useful message."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    assert analytic.shape == numeric.shape == errors.shape, (
        f"{what}: shapes differ: analytic {analytic.shape}, numeric {numeric.shape}, errors {errors.shape}"
    )
    gap = np.abs(analytic - numeric)
    bound = FD_SAFETY * errors + FD_ATOL
    if not np.all(gap <= bound):
        worst = np.unravel_index(np.argmax(gap - bound), gap.shape) if gap.ndim else ()
        raise AssertionError(
            f"{what}: analytic and finite-difference Jacobians disagree at index {worst}: "
            f"analytic {analytic[worst]!r}, numeric {numeric[worst]!r}, |diff| {gap[worst]:.3g} > "
            f"bound {bound[worst]:.3g} (error estimate {errors[worst]:.3g})"
        )


def assert_blocks_match_numeric(blocks, numeric, what=""):
    """Every block of ``blocks`` (a tensorjac.Blocks) against the same-named block of ``numeric``."""
    assert set(blocks.names) == set(numeric.names), f"{what}: blocks {blocks.names} vs {numeric.names}"
    for name in blocks.names:
        assert blocks[name].shape == numeric[name].shape, (
            f"{what}: block {name!r} has shape {blocks[name].shape}, numeric {numeric[name].shape}"
        )
        assert_fd_close(blocks[name].dense(), numeric[name].dense(), numeric.errors[name], f"{what} block {name!r}")


@pytest.fixture
def fd_close():
    """The finite-difference comparison ``assert_fd_close(analytic, numeric, errors, what)``."""
    return assert_fd_close


@pytest.fixture
def blocks_match_numeric():
    """``assert_blocks_match_numeric(blocks, numeric_blocks, what)`` for whole Blocks."""
    return assert_blocks_match_numeric


@pytest.fixture
def rng():
    """A seeded generator: every test that draws numbers is reproducible."""
    return np.random.default_rng(20240521)
