"""examples/vjp_rules.py: note 002's VJP rules pass tensorjac.testing on random cases, float64 and float32.

Each ``test_no_false_alarm_*`` item is one note-002 rule on one random case (size-1 axes,
broadcasting, stacks of matrices, sum axes, ties for maximum) in one dtype.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tensorjac as tj
import tensorjac.testing as tt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _testing_cases as cases  # noqa: E402
from examples import vjp_rules  # noqa: E402  (cases put the repository root on sys.path)

DTYPES = ("float64", "float32")
N_RULE_REFERENCE = 140  # 20 per rule, checked against the registered rule's Jacobian
N_NUMERICAL_REFERENCE = 70  # 10 per rule, against finite differences
N_BIG = 28  # 4 per rule, 100 to ~1000 entries: dot-product mode


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(N_RULE_REFERENCE))
def test_no_false_alarm_note002(i, dtype):
    report = cases.check_note002(i, dtype)
    assert report.ok, f"case {i} {cases.note002_case(i)[0]} {dtype}:\n{report}"
    assert "rule" in report.reference


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(N_NUMERICAL_REFERENCE))
def test_no_false_alarm_note002_numerical(i, dtype):
    report = cases.check_note002(i, dtype, reference="numerical")
    assert report.ok, f"case {i} {cases.note002_case(i)[0]} {dtype} (finite differences):\n{report}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(N_BIG))
def test_no_false_alarm_note002_large_dot(i, dtype):
    report = cases.check_note002(i, dtype, big=True, reference="numerical" if i % 2 else "auto")
    assert report.ok, f"case {i} {cases.note002_case(i, big=True)[0]} {dtype} (large):\n{report}"
    assert {a.mode for a in report.arguments} == {"dot"}


def test_random_cases_cover_all_four_matmul_cases_stacks_and_ties():
    kinds = set()
    ties = 0
    for i in range(N_RULE_REFERENCE):
        name, f, vjp, args, kwargs = cases.note002_case(i)
        if name == "matmul":
            a, b = args
            kinds.add((min(a.ndim, 3), min(b.ndim, 3)))
        if name == "maximum":
            a, b = np.broadcast_arrays(*args)
            ties += int(np.sum(a == b))
    assert {(1, 1), (2, 1), (1, 2), (2, 2)} <= kinds and any(k[0] == 3 or k[1] == 3 for k in kinds)
    assert ties >= 10
    names = {cases.note002_case(i)[0] for i in range(N_RULE_REFERENCE)}
    assert names == set(cases.NOTE002)


def test_every_rule_of_the_module_is_in_RULES_and_passes_in_process():
    listed = {case.vjp for case in vjp_rules.RULES}
    defined = {getattr(vjp_rules, n) for n in dir(vjp_rules) if n.endswith("_vjp")}
    assert defined == listed
    rows = tt.run_cases(vjp_rules.RULES)
    assert rows and all(r["result"] == "ok" for r in rows), tt.format_table(rows)


def test_maximum_ties_are_split_evenly_unlike_note002():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 0.0, 5.0])
    ga, gb = vjp_rules.maximum_vjp(np.ones(3), a, b)
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0, 1.0])
    ties = tt.check_vjp(np.maximum, cases._note002_maximum_vjp, a, b, raise_on_failure=False)
    assert not ties.ok and ties["x1"].in_index == (0,) and ties["x1"].reference_value == 0.5
    assert ties["x1"].rule_value == 0.0 and ties["x2"].rule_value == 1.0


def test_matmul_vjp_handles_note002s_failing_cases():
    rng = np.random.default_rng(0)
    for A, B in [(rng.standard_normal((2, 3)), rng.standard_normal(3)), (rng.standard_normal(3), rng.standard_normal((2, 3, 2)))]:
        tt.check_vjp(np.matmul, vjp_rules.matmul_vjp, A, B)
        tt.check_vjp(np.matmul, vjp_rules.matmul_vjp, A, B, reference="numerical")


def test_unbroadcast_restores_true_shapes():
    g = np.ones((2, 3, 4))
    assert vjp_rules.unbroadcast(np.zeros((3, 1)), g).shape == (3, 1)
    assert vjp_rules.unbroadcast(np.zeros((1, 3, 4)), g).shape == (1, 3, 4)
    assert vjp_rules.unbroadcast(np.zeros(()), g).shape == ()
    np.testing.assert_array_equal(vjp_rules.unbroadcast(np.zeros((1, 4)), g), np.full((1, 4), 6.0))


def test_example_runs_as_a_script():
    proc = subprocess.run(
        [sys.executable, os.path.join(cases.ROOT, "examples", "vjp_rules.py")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matmul" in proc.stdout and "FAIL" not in proc.stdout


def test_registered_reference_rules_are_the_numpy_functions_of_the_example():
    for name, (f, _) in cases.NOTE002.items():
        rule = tj.rules.find_rule(f)
        assert rule is not None, name
        assert rule.fun is f and tj.get_rule(rule.name) is rule
