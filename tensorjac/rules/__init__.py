"""The rule table: one entry per operation, one Jacobian maker per array argument.

``_registry`` holds the registry (by name and by function object) and the calling
conventions; ``_structure`` the helpers that write structured Jacobians (linear maps with
einsum letters, elementwise maps, gathers, reshapes); the table itself is split by kind,
each rule declared with its example inputs beside it: ``_elementwise``, ``_reductions``,
``_linalg``, ``_shapes`` (shapes and indexing) and ``_nn`` (tensorjac's own functions).
"""

from . import _elementwise, _indexing, _linalg, _linalg_einsum, _linalg_norm, _reductions, _shapes  # noqa: F401
from ._dtypes import astype
from ._nn import affine, cross_entropy, log_softmax, logit, logsumexp, relu, softmax, softplus, traceable
from ._registry import Rule, find_composite, find_rule, get_rule, register_composite, register_rule, rule_names

__all__ = [
    "Rule",
    "register_rule",
    "get_rule",
    "find_rule",
    "rule_names",
    "register_composite",
    "find_composite",
    "traceable",
    "astype",
    "affine",
    "cross_entropy",
    "log_softmax",
    "logit",
    "logsumexp",
    "relu",
    "softmax",
    "softplus",
]
