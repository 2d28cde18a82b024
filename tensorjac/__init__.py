"""tensorjac: explicit tensor Jacobians, the chain rule as a contraction, and checkers.

A Jacobian of f : T_n -> T_l is an array in T_{l⊕n}: its shape is ``out_shape + in_shape``
(the layout of ``jax.jacfwd``), and its matrix view is ``(prod(out_shape), prod(in_shape))``
with row-major ``vec``.  Size-1 axes are never squeezed; scalars have shape ``()``.
"""

from ._budget import get_dense_budget, set_dense_budget
from ._chains import chain, chain_cost, chain_jvp, chain_vjp, contract
from ._jacobian import Jacobian
from .blocks import Blocks, compose
from .numerical import NumericalBlocks, numerical_jacobian
from .rules import (
    Rule,
    affine,
    cross_entropy,
    get_rule,
    log_softmax,
    logit,
    logsumexp,
    register_rule,
    relu,
    rule_names,
    softmax,
    softplus,
)
from ._hessian import Hessian
from ._implicit import ConditionWarning, ImplicitInfo, implicit, implicit_jacobian
from .trace import (
    HessianBlocks,
    NoRuleError,
    Program,
    TracingError,
    curvature_term,
    gauss_newton,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    make_program,
    value_and_grad,
    value_and_jacobian,
    value_grad_and_hessian,
    vjp,
)
from ._numerical_second import NumericalHessian, numerical_hessian

__version__ = "0.1.0"

__all__ = [
    # function transforms (as in JAX)
    "jacobian",
    "value_and_jacobian",
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "make_program",
    "Program",
    # second derivatives
    "hessian",
    "value_grad_and_hessian",
    "hvp",
    "Hessian",
    "HessianBlocks",
    "gauss_newton",
    "curvature_term",
    # implicit functions
    "implicit_jacobian",
    "implicit",
    "ImplicitInfo",
    "ConditionWarning",
    "TracingError",
    "NoRuleError",
    # tensorjac's own functions, traceable
    "logit",
    "softmax",
    "log_softmax",
    "logsumexp",
    "cross_entropy",
    "affine",
    "relu",
    "softplus",
    # explicit Jacobians and the chain rule
    "Jacobian",
    "contract",
    "chain",
    "chain_vjp",
    "chain_jvp",
    "Blocks",
    "compose",
    # rules
    "register_rule",
    "get_rule",
    "rule_names",
    "Rule",
    "numerical_jacobian",
    "NumericalBlocks",
    "numerical_hessian",
    "NumericalHessian",
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
