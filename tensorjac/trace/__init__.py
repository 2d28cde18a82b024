"""Tracing users' numpy functions: the traced value, the trace, accumulation and the transforms.

``_tracer`` records the numpy calls of ``f`` on traced values; ``_accumulate`` turns the trace
into Jacobians (vertex elimination in a chosen order), gradients (backpropagation) and
tangents (forward mode); ``_transforms`` holds the JAX-shaped public functions.
"""

from ._tracer import NoRuleError, Traced, TracingError
from ._program import Program, make_program
from ._transforms import grad, jacobian, jvp, value_and_grad, value_and_jacobian, vjp

__all__ = ["make_program", "Program", "jacobian", "value_and_jacobian", "grad", "value_and_grad", "vjp", "jvp", "Traced", "TracingError",
           "NoRuleError"]
