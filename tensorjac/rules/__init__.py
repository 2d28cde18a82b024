"""The rule table: one entry per operation, one Jacobian maker per array argument.

``tensorjac.rules._registry`` holds the registry (by name and by function object),
``tensorjac.rules._structure`` the structure helpers, ``tensorjac.rules._builtin`` the
built-in table, each rule with its example inputs beside it.
"""

from . import _builtin  # noqa: F401  (registers the built-in rules)
from ._builtin import affine, cross_entropy, logit, relu, softmax
from ._registry import Rule, find_rule, get_rule, jacobian, register_rule, rule_names, value_and_jacobian

__all__ = [
    "Rule",
    "register_rule",
    "get_rule",
    "find_rule",
    "rule_names",
    "jacobian",
    "value_and_jacobian",
    "affine",
    "cross_entropy",
    "logit",
    "relu",
    "softmax",
]
