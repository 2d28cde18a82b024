"""Checkers for Jacobian, VJP and JVP rules that say exactly where a rule is wrong.

Use them from your own test suite::

    from tensorjac.testing import check_vjp

    def test_mul_vjp():
        check_vjp(np.multiply, mul_vjp, a, b)     # raises AssertionError if mul_vjp is wrong

* :func:`check_jacobian` ``(f, jac, *args)`` checks ``jac(*args)``, one Jacobian per argument
  (a :class:`~tensorjac.Blocks`, a sequence, or a single array/Jacobian), each of shape
  ``f(*args).shape + arg.shape``.
* :func:`check_vjp` ``(f, vjp, *args)`` checks ``vjp(cotangent, *args)``, which returns one
  array per argument, each of the argument's true shape (note 002's signature;
  ``cotangent_last=True`` for ``vjp(*args, cotangent)``).
* :func:`check_jvp` ``(f, jvp, *args)`` checks ``jvp(tangents, *args)``, which returns the
  output tangent; ``tangents`` holds one array per argument.

**The reference** is tensorjac's explicit Jacobian: when ``f`` is a registered rule (its
name, the :class:`~tensorjac.Rule`, or the very function registered, e.g. ``np.matmul``) it
is that rule's Jacobian, otherwise :func:`~tensorjac.numerical_jacobian` (central
differences with Richardson extrapolation).  It is always computed in float64 at the same
point, even when the rule under test runs in float32 (float32 values are exact in float64).

**Two strengths.**  ``mode="full"`` compares every entry of every block ``J[out, in]``
(a VJP is called once per output entry with a unit cotangent, a JVP once per input entry),
plus one random cotangent/tangent compared entry by entry; ``mode="dot"`` compares
``<u, J v>`` for random ``u, v`` (``probes`` times), where ``J v`` is one directional
difference along ``v``: a few calls of ``f`` per argument and probe (as for one input entry
of ``numerical_jacobian``), whatever the size.
``mode="auto"`` (the default) picks ``"full"`` when the output and every checked argument
have at most :data:`FULL_MODE_MAX_SIZE` entries.

A float32 rule in dot mode is also run on the float64 point (the same numbers, cast), and
two comparisons replace the single float32 ``<u, J v>`` (whose rounding allowance sums over
all ``n`` terms while an error averages out over their random signs, losing ``sqrt(n)``):
the float64 run's ``<u, J v>`` against the reference, allowed float64 rounding plus float32
relative errors of its terms *with random signs* (``FORMULA_SIGMAS`` standard deviations of
``eps_32 ||terms||_2``: float32-rounded constants are not blamed); and the float32 run against
the float64 run term by term (``sum |vjp32(u) - vjp64(u)| |v|``, within float32 rounding of
the magnitude).  A logistic VJP off by ``1e-4`` is caught at (10, 10) and by ``1e-3`` at
(300, 300) with 5 to 100 times the tolerance, from about ``3e-5`` at any size, whether the
error is in the formula or in the float32 path alone.  A rule that cannot run in float64 is
compared in float32 only.

**The error model.**  An entry passes when ``|rule - reference| <= tolerance`` with::

    tolerance = REFERENCE_SAFETY * E  +  ROUNDING_FACTOR * (eps_rule + eps_64) * M  +  floor

* ``E`` is the reference's own error estimate: :attr:`NumericalBlocks.errors` for finite
  differences (Richardson difference plus rounding of ``f``; the probes' own rounding is
  removed by dividing by their stored distance), plus, for the dot test's directional
  difference along ``v``, the rounding of ``x + t v``; 0 for a registered rule;
* ``eps_rule`` is the machine epsilon of the dtype the rule runs in (float32: 1.2e-7),
  ``eps_64`` that of the float64 reference;
* ``M`` is the magnitude of the values involved: ``|J[i, j]| + |f(x)[i]|`` for an entry (the
  second term only where the derivative is nonzero, i.e. where the reference is above its
  noise or the rule's value is nonzero: formulas such as ``1 - tanh(x)**2``,
  ``s * (1 - s)`` or ``s - s*s`` cancel values of the size of the output, which float32
  rounds at 1e-7 however small the derivative is), and the sums ``sum_i |u_i| M[i, j]``
  (resp. the dot products of magnitudes) for contracted values.  The output term costs
  float32 sensitivity where ``|f(x)|`` is much larger than the derivative: a float32 matmul
  with entries of order 1 and inner size K is checked to about ``2e-6 * K`` relative, but
  with entries of order 1e3 only to about ``2e-3 * K``.  Check float32 rules on inputs of
  order 1 (float64 is not affected: its allowance is 1e-9 times smaller);
* ``floor = 4 * eps_rule * max(M)`` over the block, so that a structural zero computed as
  a difference of equal values is not blamed.

Values near the largest float are handled: magnitudes are computed without overflow, and the
random cotangents/tangents are scaled down by a power of two (exactly) where the contracted
values would overflow the rule's dtype (``exp(709.7)`` times a tangent of order 700).

**Where a check cannot judge, it says so.**  ``ValueError`` when ``f`` (in float64, or in the
rule's float32) or the reference Jacobian is not finite at the point, and when every nonzero
value the rule gives is within the finite-difference reference's own error: ``x**2`` at
``5e-293`` underflows to 0 at every probe, so neither a right nor a 50% wrong VJP can be told
from 0 there.  (At ``1e-150`` the reference resolves ``2e-150`` and the wrong VJP fails.)

So a float32 rule is held to float32 rounding and a float64 rule to float64 rounding, and the
tolerance grows with the finite-difference error only where that error is large.  Before an
entry is declared wrong, the finite differences are redone for the failing input entries at
the relative steps ``step * 10``, ``step / 10`` and ``step / 100`` (:data:`RETRY_FACTORS`);
an entry passes if it passes at any step, so a correct rule is never blamed for a bad step.
The report gives the step at the worst entry.

**Shapes and dtypes.**  Arguments are checked against their true shapes: a gradient for an
argument of shape ``(1, 4)`` broadcast to ``(3, 4)`` must have shape ``(1, 4)`` (note 002's
``unbroadcast``).  A VJP must return each gradient in its argument's dtype and a JVP the
output's dtype (``check_dtype=False`` to allow others); Jacobians are not dtype-checked.
A wrong shape, a wrong dtype, a wrong number of returned arrays or an exception raised by
the rule gives a failing report naming the argument and the shapes.

**Failures.**  By default (``raise_on_failure=True``) a failing check raises
``AssertionError`` naming the argument, the worst entry ``d out[i] / d arg[j]``, the rule's
value, the reference value, the tolerance and the finite-difference step, so a plain call
in a pytest test is enough.  With ``raise_on_failure=False`` the :class:`CheckReport` is
returned either way; ``report.ok`` tells, ``report.assert_ok()`` raises.

**The verification table.**  ``python -m tensorjac.testing`` (or the ``tensorjac-check``
console script) checks every built-in rule's Jacobian against finite differences in float64
and float32 and prints one row per rule, argument and dtype.  ``python -m tensorjac.testing
my_package.my_rules`` does the same for a module of your own (an import path, or a path to a
``.py`` file), which declares its rules in a list named ``RULES`` of :class:`RuleCase`::

    RULES = [
        RuleCase("mul", np.multiply, vjp=mul_vjp, examples=[(a, b), (a2, b2)]),
        RuleCase("sum", np.sum, vjp=sum_vjp, examples=[((x,), {"axis": 1})]),
    ]

See ``examples/vjp_rules.py`` (note 002's rules) for a complete module.
"""

from ._cases import ModuleLoadError, RuleCase, builtin_cases, format_table, module_cases, rule_examples, run_cases
from ._checks import check_jacobian, check_jvp, check_vjp
from ._checks_second import check_hessian, check_hvp
from ._cli import main
from ._compare import FLOOR_FACTOR, FORMULA_SIGMAS, REFERENCE_SAFETY, RETRY_FACTORS, ROUNDING_FACTOR
from ._report import ArgumentReport, CheckReport
from ._setup import FULL_MODE_MAX_SIZE

__all__ = [
    "check_jacobian",
    "check_vjp",
    "check_jvp",
    "check_hessian",
    "check_hvp",
    "CheckReport",
    "ArgumentReport",
    "RuleCase",
    "builtin_cases",
    "run_cases",
    "format_table",
    "module_cases",
    "ModuleLoadError",
    "rule_examples",
    "main",
    "FULL_MODE_MAX_SIZE",
    "ROUNDING_FACTOR",
    "REFERENCE_SAFETY",
    "RETRY_FACTORS",
    "FLOOR_FACTOR",
    "FORMULA_SIGMAS",
]
