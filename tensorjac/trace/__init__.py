"""Tracing users' numpy functions: the traced value, the trace, accumulation and the transforms.

``_tracer`` records the numpy calls of ``f`` on traced values; ``_accumulate`` turns the trace
into Jacobians (vertex elimination in a chosen order), gradients (backpropagation) and
tangents (forward mode); ``_transforms`` holds the JAX-shaped public functions.
"""

from ._tracer import NoRuleError, Traced, TracingError
from ._program import Program, make_program
from ._second import HessianBlocks, curvature_term, gauss_newton, hessian, hvp, value_grad_and_hessian
from ._transforms import grad, jacobian, jvp, value_and_grad, value_and_jacobian, vjp

__all__ = ["hessian", "value_grad_and_hessian", "hvp", "HessianBlocks", "gauss_newton", "curvature_term",
           "make_program", "Program", "jacobian", "value_and_jacobian", "grad", "value_and_grad", "vjp", "jvp", "Traced", "TracingError",
           "NoRuleError"]
