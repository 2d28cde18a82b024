"""tensorjac: explicit tensor Jacobians, the chain rule as a contraction, and checkers.

A Jacobian of f : T_n -> T_l is an array in T_{l⊕n}: its shape is ``out_shape + in_shape``
(the layout of ``jax.jacfwd``), and its matrix view is ``(prod(out_shape), prod(in_shape))``
with row-major ``vec``.  Size-1 axes are never squeezed; scalars have shape ``()``.
"""

from ._budget import get_dense_budget, set_dense_budget
from ._chains import chain, chain_cost, contract, jvp, vjp
from ._jacobian import Jacobian
from .blocks import Blocks, compose
from .numerical import NumericalBlocks, numerical_jacobian
from .rules import Rule, get_rule, jacobian, register_rule, rule_names, value_and_jacobian

__version__ = "0.1.0"

__all__ = [
    "Jacobian",
    "contract",
    "chain",
    "vjp",
    "jvp",
    "Blocks",
    "compose",
    "jacobian",
    "value_and_jacobian",
    "register_rule",
    "get_rule",
    "rule_names",
    "Rule",
    "numerical_jacobian",
    "NumericalBlocks",
    "set_dense_budget",
    "get_dense_budget",
    "chain_cost",
    "testing",
]


def __getattr__(name):
    # ``tensorjac.testing`` (the checkers) is imported on first use rather than above, so that
    # ``python -m tensorjac.testing`` does not find it already imported (runpy warns about that).
    if name == "testing":
        import importlib

        return importlib.import_module(".testing", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
