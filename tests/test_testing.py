"""tensorjac.testing: no false alarms, every planted bug caught, clear reports, the command, the README example.

Counts (run ``python -m pytest tests/test_testing.py tests/test_vjp_rules.py -q``): every
``test_no_false_alarm_*`` item is one correct rule on one random case in one dtype, every
``test_planted_bug_*`` item one wrong rule in one dtype and mode.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import tensorjac as tj
import tensorjac.testing as tt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _testing_cases as cases  # noqa: E402

ROOT = cases.ROOT
DTYPES = ("float64", "float32")

# ---- (a) zero false alarms: correct built-in rules on random cases -------------------------

N_BUILTIN_FULL = 10 * len(cases.BUILTIN)  # 10 per built-in rule (auto mode: full blocks at these sizes)
N_BUILTIN_DOT = 2 * len(cases.BUILTIN)  # 2 per built-in rule, forced dot-product mode


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(N_BUILTIN_FULL))
def test_no_false_alarm_builtin(i, dtype):
    report = cases.check_builtin(i, dtype)
    assert report.ok, f"case {i} {cases.builtin_case(i)[0]} {dtype}:\n{report}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(N_BUILTIN_DOT))
def test_no_false_alarm_builtin_dot(i, dtype):
    report = cases.check_builtin(i, dtype, mode="dot", seed=i)
    assert report.ok, f"case {i} {cases.builtin_case(i)[0]} {dtype} (dot):\n{report}"
    assert {a.mode for a in report.arguments} == {"dot"}


def test_random_cases_cover_every_builtin_rule_with_size1_axes_and_broadcasting():
    names = [cases.builtin_case(i)[0] for i in range(N_BUILTIN_FULL)]
    builtin = [n for n in tj.rule_names() if tj.get_rule(n).builtin]
    assert set(builtin) <= set(names), f"built-in rules without random cases: {set(builtin) - set(names)}"
    shapes = [np.shape(a) for i in range(N_BUILTIN_FULL) for a in cases.builtin_case(i)[1]]
    assert any(1 in s for s in shapes) and any(s == () for s in shapes)
    broadcast = 0
    for i in range(N_BUILTIN_FULL):
        name, args, _ = cases.builtin_case(i)
        if name in cases.BINARY and np.shape(args[0]) != np.shape(args[1]):
            broadcast += 1
    assert broadcast >= 20
    ties = 0
    for i in range(N_BUILTIN_FULL):
        name, args, _ = cases.builtin_case(i)
        if name == "maximum":
            a, b = np.broadcast_arrays(*args)
            ties += int(np.sum(a == b))
    assert ties >= 10


def test_every_builtin_rule_has_command_examples():
    builtin = [n for n in tj.rule_names() if tj.get_rule(n).builtin]
    assert builtin, "no built-in rules found"
    assert [n for n in builtin if not tt.rule_examples(tj.get_rule(n))] == []
    # the examples are declared beside each rule, and the command's cases use exactly those
    table = {case.name: case for case in tt.builtin_cases()}
    assert sorted(table) == sorted(builtin)
    for name in builtin:
        assert len(table[name].examples) == len(tt.rule_examples(tj.get_rule(name)))


def test_user_rules_are_not_builtin_and_are_found_by_function():
    def cube(x):
        return x**3

    rule = tj.register_rule(f"user_cube_{id(cube)}", cube, lambda ans, x: tj.Jacobian.diagonal(3 * x**2))
    assert not rule.builtin and tj.get_rule(cube) is rule
    assert rule.name not in {case.name for case in tt.builtin_cases()}


def test_float32_rule_is_checked_in_float32_against_a_float64_reference():
    rule = tj.get_rule("tanh")
    x = np.array([0.3, 2.5, -4.0], dtype=np.float32)
    report = tt.check_jacobian(rule.fun, rule.jacobian, x, reference="numerical")
    assert report.ok and report["x"].dtype == "float32"
    # The float32 rule really is less accurate than float64: the checker saw float32-sized errors
    # (and accepted them), and a float64 run of the same rule is far more accurate.
    r64 = tt.check_jacobian(rule.fun, rule.jacobian, x.astype(np.float64), reference="numerical")
    assert report["x"].max_abs_error > 1e-9 > r64["x"].max_abs_error


def test_saturated_float32_cancellations_are_not_blamed():
    # 1 - tanh(x)**2, s * (1 - s) and s - s*s computed in float32 at large inputs: the result is
    # rounded at 1e-7 of the output while the derivative is tiny.
    for name, x, kw in [
        ("tanh", np.array([-9.0, 5.5, 12.0, 0.1], np.float32), {}),
        ("logit", np.array([14.0, -16.5, 20.0, 0.5], np.float32), {}),
        ("softmax", np.array([[-10.8, 17.5, -43.2], [30.0, 15.0, 29.0]], np.float32), {"axis": -1}),
    ]:
        rule = tj.get_rule(name)
        for mode in ("full", "dot"):
            report = tt.check_jacobian(rule.fun, rule.jacobian, x, kwargs=kw, reference="numerical", mode=mode)
            assert report.ok, str(report)


# ---- (b) every planted bug caught, with the right argument named --------------------------

BUGS = cases.planted_bugs()
BUG_PARAMS = [
    pytest.param(bug, dtype, mode, id=f"{bug[0]}-{dtype}-{mode}")
    for bug in BUGS
    for dtype in cases.bug_dtypes(bug)
    for mode in ("auto", "dot")
]


def test_there_are_at_least_12_planted_bugs():
    assert len(BUGS) >= 12
    assert len(BUG_PARAMS) >= 24


@pytest.mark.parametrize("bug, dtype, mode", BUG_PARAMS)
def test_planted_bug_is_caught(bug, dtype, mode):
    name, kind, f, wrong, args, kwargs, expected = bug
    report = cases.run_bug(bug, dtype, mode)
    assert not report.ok, f"{name} ({dtype}, {mode}) passed:\n{report}"
    assert {a.name for a in report.failures} == expected, str(report)
    # The same check in pytest style raises, and the message names each wrong argument.
    with pytest.raises(AssertionError) as info:
        cases.run_bug(bug, dtype, mode, raise_on_failure=True)
    message = str(info.value)
    for arg in expected:
        assert f"FAILED for argument {arg!r}" in message
    for arg in {a.name for a in report.arguments} - expected:
        assert f"FAILED for argument {arg!r}" not in message and f"{arg!r} ok" in message
    for a in report.failures:
        if a.problem is None:  # a value comparison: the worst entry, both values, the step
            assert "worst entry" in message and "rule      (your" in message and "reference (" in message
            assert "step:" in message and "tolerance" in message
            assert tt._report.fmt(a.rule_value) in message and tt._report.fmt(a.reference_value) in message


def test_failure_message_names_index_values_and_step_with_finite_differences():
    def matmul_vjp_no_transpose(G, A, B):
        return G @ B, A.T @ G  # should be G @ B.T

    A = np.arange(6.0).reshape(3, 2) / 7
    B = np.array([[1.0, 2.0], [3.0, 5.0]])
    with pytest.raises(AssertionError) as info:
        tt.check_vjp(lambda a, b: a @ b, matmul_vjp_no_transpose, A, B)  # not registered: finite differences
    msg = str(info.value)
    report = tt.check_vjp(lambda a, b: a @ b, matmul_vjp_no_transpose, A, B, raise_on_failure=False)
    bad = report["a"]
    assert not bad.ok and report["b"].ok
    assert bad.mode == "full" and bad.step is not None and bad.abs_step is not None
    assert "FAILED for argument 'a'" in msg and "'b' ok" in msg
    assert f"d out{list(bad.out_index)} / d a{list(bad.in_index)}".replace(" ", "") in msg.replace(" ", "")
    assert "numerical_jacobian in float64" in msg and "relative step" in msg and "absolute step" in msg
    # The reported values are those of the rule and of the reference at that entry.
    G = np.zeros((3, 2))
    G[bad.out_index] = 1
    assert bad.rule_value == pytest.approx((G @ B)[bad.in_index])
    assert bad.reference_value == pytest.approx((G @ B.T)[bad.in_index], abs=1e-9)


# ---- Steps, the reference, broadcasting, shapes -------------------------------------------


def test_a_bad_step_does_not_blame_a_correct_rule():
    # f has slope 1 within tau of the point and 1 + 3e-3 beyond (a jump at distance tau), with
    # tau below every step of numerical_jacobian's default window (h, h/e, h/e**2, h/e**3): all
    # its probes see a straight line of slope 1.003, so the default-step reference is
    # confidently wrong.  The derivative at the point is 1; the checker retries smaller steps.
    x0 = np.array([0.3, -0.7])
    tau = tj.numerical.DEFAULT_STEP / tj.numerical.RATIO**3 / 2

    def f(x):
        return x + 3e-3 * np.where(np.abs(x - x0) > tau, x - x0, 0.0)

    def jac(x):
        return tj.Jacobian.diagonal(np.ones_like(x))

    x = x0.copy()
    naive = tj.numerical_jacobian(f, x)
    gap = np.abs(naive["x"].dense() - jac(x).dense())
    assert np.any(gap > 100 * naive.errors["x"] + 1e-12), "the default step should be fooled"
    report = tt.check_jacobian(f, jac, x)
    assert report.ok, str(report)
    assert report["x"].step is not None and report["x"].step < tj.numerical.DEFAULT_STEP
    assert len(report["x"].steps_tried) > 1
    # A rule wrong at every step is still reported, after all the retries.  (A rule that happens
    # to equal the fooled default-step reference, here 1.003, would pass: a reference can only
    # blame what it can see.)
    wrong = lambda x: jac(x) * 1.01  # noqa: E731
    bad = tt.check_jacobian(f, wrong, x, raise_on_failure=False)
    assert not bad.ok and len(bad["x"].steps_tried) == 1 + len(tt.RETRY_FACTORS)


def test_reference_is_the_registered_rule_for_registered_functions():
    def add_vjp(g, a, b):
        return g, g

    a, b = np.ones(3), np.ones(3)
    for f in (np.add, "add", tj.get_rule("add")):
        report = tt.check_vjp(f, add_vjp, a, b)
        assert "rule 'add'" in report.reference and report["x1"].step is None
    report = tt.check_vjp(lambda x, y: x + y, add_vjp, a, b)
    assert "numerical_jacobian" in report.reference and report["x"].step is not None
    report = tt.check_vjp(np.add, add_vjp, a, b, reference="numerical")
    assert "numerical_jacobian" in report.reference
    with pytest.raises(ValueError, match="registered"):
        tt.check_vjp(lambda x, y: x + y, add_vjp, a, b, reference="rule")


def test_broadcast_arguments_are_checked_against_their_true_shapes():
    def mul_vjp(g, a, b):
        return cases._u(a, g * b), cases._u(b, g * a)

    a, b = np.random.default_rng(0).standard_normal((2, 3, 1)), np.random.default_rng(1).standard_normal((1, 4))
    report = tt.check_vjp(np.multiply, mul_vjp, a, b)
    assert report["x1"].shape == (2, 3, 1) and report["x2"].shape == (1, 4)
    assert report["x1"].entries >= 24 * 6  # every entry of the (2, 3, 4) x (2, 3, 1) block

    def squeezed(g, a, b):  # drops the size-1 axis of b: shape (4,) instead of (1, 4)
        ga, gb = mul_vjp(g, a, b)
        return ga, gb.reshape(-1)

    report = tt.check_vjp(np.multiply, squeezed, a, b, raise_on_failure=False)
    assert not report["x2"].ok and report["x1"].ok
    assert "shape (4,)" in report["x2"].problem and "(1, 4)" in report["x2"].problem

    def leading_kept(g, a, b):  # returns b's gradient with the leading batch axis still there
        return cases._u(a, g * b), (g * a).sum(axis=(1,), keepdims=True)

    report = tt.check_vjp(np.multiply, leading_kept, a, b, raise_on_failure=False)
    assert not report["x2"].ok and "shape (2, 1, 4)" in report["x2"].problem


def test_dot_mode_is_chosen_for_large_inputs_and_stays_cheap():
    rule = tj.get_rule("matmul")
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((40, 30)), rng.standard_normal((30, 20))
    calls = []

    def f(a, b):
        calls.append(1)
        return a @ b

    report = tt.check_jacobian(f, rule.jacobian, A, B)
    assert report.ok and {a.mode for a in report.arguments} == {"dot"}
    # 3 probes x 2 arguments x one directional difference each (6 calls) + the value.
    assert len(calls) <= 3 * 2 * 6 * (1 + len(tt.RETRY_FACTORS)) + 2
    assert tt.check_jacobian(f, rule.jacobian, A[:3, :2], B[:2, :2]).arguments[0].mode == "full"
    assert tt.check_jacobian(f, rule.jacobian, A[:3, :2], B[:2, :2], mode="dot").arguments[0].mode == "dot"


# ---- The report and the calling conventions -----------------------------------------------


def test_report_object():
    def exp_vjp(g, x):
        return (g * np.exp(x),)

    x = np.linspace(-1, 1, 6).reshape(2, 3)
    report = tt.check_vjp(np.exp, exp_vjp, x)
    assert report.ok and len(report) == 1 and report[0] is report["x"]
    a = report["x"]
    assert a.dtype == "float64" and a.shape == (2, 3) and a.mode == "full"
    assert a.max_abs_error >= 0 and a.max_rel_error < 1e-12 and a.worst_ratio <= 1
    assert a.out_index is not None and a.in_index is not None and a.tolerance > 0
    text = str(report)
    assert "max rel err" in text and "ok" in text and "check_vjp(exp)" in text
    assert repr(report).startswith("<CheckReport check_vjp(exp) ok")
    assert report.assert_ok() is report and report.message() == ""
    with pytest.raises(KeyError):
        report["y"]

    wrong = tt.check_vjp(np.exp, lambda g, x: (2 * g * np.exp(x),), x, raise_on_failure=False)
    assert not wrong.ok and wrong.failures == [wrong["x"]]
    with pytest.raises(AssertionError, match="argument 'x'"):
        wrong.assert_ok()
    assert "FAIL" in str(wrong)


def test_vjp_calling_conventions():
    def mul_vjp_last(a, b, dldf):  # note 002's g_vjp(arg1, arg2, dl_dg)
        return dldf * b, dldf * a

    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    assert tt.check_vjp(np.multiply, mul_vjp_last, a, b, cotangent_last=True).ok
    # one array for a one-argument function, or for the one argument selected by argnums
    assert tt.check_vjp(np.exp, lambda g, x: g * np.exp(x), a).ok
    assert tt.check_vjp(np.multiply, lambda g, x, y: g * x, a, b, argnums=1).ok
    assert tt.check_vjp(np.multiply, lambda g, x, y: g * x, a, b, argnums="x2").ok
    # a tuple with one gradient per selected argument
    assert tt.check_vjp(np.multiply, lambda g, x, y: (g * x,), a, b, argnums=[1]).ok
    # kwargs reach both f and the rule
    report = tt.check_vjp(np.sum, lambda g, x, axis: (np.repeat(g[:, None], 3, axis=1),), np.ones((2, 3)),
                          kwargs={"axis": 1})
    assert report.ok
    # names
    report = tt.check_vjp(np.multiply, lambda g, x, y: (g * y, g * x), a, b, names=("u", "w"))
    assert [r.name for r in report] == ["u", "w"]


def test_jvp_and_jacobian_calling_conventions():
    a, b = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[3.0], [-1.0]])

    def matmul_jvp(tangents, A, B):
        dA, dB = tangents
        return dA @ B + A @ dB

    assert tt.check_jvp(np.matmul, matmul_jvp, a, b).ok
    assert tt.check_jvp(np.exp, lambda t, x: t * np.exp(x), a, tangents_as_tuple=False).ok
    # Jacobians: Blocks, a dict, a tuple, a dense array
    assert tt.check_jacobian(np.matmul, tj.get_rule("matmul").jacobian, a, b).ok
    dense = tj.get_rule("matmul").jacobian(a, b).dense()
    assert tt.check_jacobian(np.matmul, lambda A, B: dense, a, b).ok
    assert tt.check_jacobian(np.matmul, lambda A, B: (dense["x1"], dense["x2"]), a, b).ok
    assert tt.check_jacobian(np.matmul, lambda A, B: dense["x2"], a, b, argnums=1).ok
    assert tt.check_jacobian(np.exp, lambda x: np.diag(np.exp(x)), np.array([0.1, 0.2])).ok


# ---- Bad input ----------------------------------------------------------------------------


def _mul_vjp(g, a, b):
    return g * b, g * a


def test_bad_options_raise_value_error():
    a = np.ones(2)
    with pytest.raises(ValueError, match="out of range"):
        tt.check_vjp(np.multiply, _mul_vjp, a, a, argnums=2)
    with pytest.raises(ValueError, match="no argument named 'z'"):
        tt.check_vjp(np.multiply, _mul_vjp, a, a, argnums="z")
    with pytest.raises(ValueError, match="selected twice"):
        tt.check_vjp(np.multiply, _mul_vjp, a, a, argnums=[0, 0])
    with pytest.raises(ValueError, match="mode must be one of"):
        tt.check_vjp(np.multiply, _mul_vjp, a, a, mode="fast")
    with pytest.raises(ValueError, match="reference must be one of"):
        tt.check_vjp(np.multiply, _mul_vjp, a, a, reference="jax")
    with pytest.raises(ValueError, match="probes"):
        tt.check_vjp(np.multiply, _mul_vjp, a, a, probes=0)
    with pytest.raises(ValueError, match="step"):
        tt.check_vjp(np.multiply, _mul_vjp, a, a, step=-1.0)
    with pytest.raises(ValueError, match="unknown rule"):
        tt.check_vjp("no_such_rule", _mul_vjp, a, a)
    with pytest.raises(ValueError, match="takes 2 array argument"):
        tt.check_vjp("multiply", _mul_vjp, a)
    with pytest.raises(ValueError, match="tangents_as_tuple=False"):
        tt.check_jvp(np.multiply, lambda t, x, y: t, a, a, tangents_as_tuple=False)
    with pytest.raises(ValueError, match="callable"):
        tt.check_vjp(np.multiply, "not a function", a, a)
    with pytest.raises(ValueError, match="at least one"):
        tt.check_vjp(np.exp, _mul_vjp)
    with pytest.raises(ValueError, match="x must be > 0"):
        tt.check_vjp(np.log, lambda g, x: g / x, np.array([-1.0, 2.0]))


def test_wrong_results_give_failing_reports_not_crashes():
    a, b = np.ones((2, 3)), np.ones(3)

    def run(vjp, **kw):
        return tt.check_vjp(np.multiply, vjp, a, b, raise_on_failure=False, **kw)

    r = run(lambda g, x, y: (g * y,))  # one array for two arguments
    assert not r.ok and all("returned 1 value" in x.problem for x in r)
    r = run(lambda g, x, y: g * y)  # a single array for two arguments
    assert not r.ok and "single ndarray" in r["x1"].problem
    r = run(lambda g, x, y: (g * y, None))
    assert r["x1"].ok and "None" in r["x2"].problem
    r = run(lambda g, x, y: (g * y, (g * x).sum(0).astype(np.float32)))
    assert r["x1"].ok and "dtype float32" in r["x2"].problem
    # Without the dtype check a float32 result is still held to float64 accuracy: it fails on values.
    r = run(lambda g, x, y: (g * y, (g * x).sum(0).astype(np.float32) * np.float32(1.1)), check_dtype=False)
    assert r["x1"].ok and not r["x2"].ok and r["x2"].problem is None
    # float32 arguments, a float64 gradient: a dtype failure, unless check_dtype=False.
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    upcast = lambda g, x, y: (g * y, (g * x).sum(0).astype(np.float64))  # noqa: E731
    r = tt.check_vjp(np.multiply, upcast, a32, b32, raise_on_failure=False)
    assert "dtype float64" in r["x2"].problem and "float32" in r["x2"].problem
    assert tt.check_vjp(np.multiply, upcast, a32, b32, check_dtype=False).ok
    r = run(lambda g, x, y: (g * y, g * x))  # forgot to unbroadcast
    assert "shape (2, 3)" in r["x2"].problem and "unbroadcast" in r["x2"].problem

    def boom(g, x, y):
        raise IndexError("deep inside numpy")

    r = run(boom)
    assert all("raised IndexError: deep inside numpy" in x.problem for x in r)
    with pytest.raises(AssertionError, match="raised IndexError") as info:
        tt.check_vjp(np.multiply, boom, a, b)
    assert isinstance(info.value.__cause__, IndexError)

    r = tt.check_jvp(np.multiply, lambda t, x, y: (t[0] * y)[0], a, b, raise_on_failure=False)
    assert "jvp returned shape (3,)" in r["x1"].problem and "(2, 3)" in r["x1"].problem
    r = tt.check_jacobian(np.multiply, lambda x, y: np.zeros((2, 3, 3)), a, b, raise_on_failure=False)
    assert "single ndarray" in r["x1"].problem
    r = tt.check_jacobian(np.multiply, lambda x, y: (np.zeros((2, 3, 2, 3)), np.zeros((2, 3, 2))), a, b,
                          raise_on_failure=False)
    assert "expected out_shape + in_shape = (2, 3, 3)" in r["x2"].problem

    r = tt.check_vjp(np.exp, lambda g, x: (g * np.nan,), b, raise_on_failure=False)
    assert not r.ok and np.isnan(r["x"].rule_value)


# ---- (c) the command ----------------------------------------------------------------------


def _run_command(*args):
    return subprocess.run(
        [sys.executable, "-m", "tensorjac.testing", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def _table_rows(output):
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 8 and parts[3] in DTYPES:
            rows[(parts[0], parts[2], parts[3])] = parts[7]
    return rows


def test_command_builtin_table_lists_every_rule_and_passes():
    proc = _run_command()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _table_rows(proc.stdout)
    for name in tj.rule_names():
        rule = tj.get_rule(name)
        if not rule.builtin:
            continue
        counts = {len(args) for args, _ in tt.RuleCase(name, rule, examples=tt.rule_examples(rule)).example_list()}
        for arg in sorted({a for n in counts for a in rule.arg_names(n)}):
            for dtype in DTYPES:
                assert rows.get((name, arg, dtype)) == "ok", f"{name} {arg} {dtype} missing or failing:\n{proc.stdout}"
    assert "FAIL" not in proc.stdout and "RuntimeWarning" not in proc.stderr


def test_command_on_the_note002_module_lists_every_rule_and_passes():
    from examples import vjp_rules

    proc = _run_command("examples.vjp_rules")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _table_rows(proc.stdout)
    for case in vjp_rules.RULES:
        for dtype in DTYPES:
            assert any(k[0] == case.name and k[2] == dtype and v == "ok" for k, v in rows.items()), case.name
    assert {k[0] for k in rows} == {c.name for c in vjp_rules.RULES}
    assert "FAIL" not in proc.stdout


def test_main_reports_failures_and_bad_modules(tmp_path, capsys):
    module = tmp_path / "my_wrong_rules.py"
    module.write_text(
        "import numpy as np\n"
        "from tensorjac.testing import RuleCase\n"
        "def exp_vjp(g, x):\n"
        "    return (-g * np.exp(x),)\n"
        "RULES = [RuleCase('exp', np.exp, vjp=exp_vjp, examples=[(np.array([0.5, 1.0]),)])]\n"
    )
    assert tt.main([str(module), "-v"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "FAILED for argument 'x'" in out
    empty = tmp_path / "no_rules.py"
    empty.write_text("x = 1\n")
    assert tt.main([str(empty)]) == 2
    assert "defines no RULES" in capsys.readouterr().err
    assert tt.main(["examples/vjp_rules.py", "--dtype", "float32", "--mode", "dot"]) == 0
    assert "float64" not in capsys.readouterr().out


# ---- (d) the README example ---------------------------------------------------------------

README_SECTION = '''\
## Verifying your own VJP rule

`tensorjac.testing` checks a rule you wrote against tensorjac's explicit Jacobian: the
registered rule's Jacobian when `f` is a registered operation (`np.multiply` is tensorjac's
`"multiply"`), finite differences in float64 otherwise. Your rule runs in the dtype of the
arguments, and float32 is held to float32 rounding. Small Jacobians are compared entry by
entry, large ones through `<u, J v>` for random `u`, `v`. A wrong rule raises
`AssertionError` naming the argument, the worst entry, your value, the reference value and
the finite-difference step, so a plain call inside a pytest test is enough:

```python
import numpy as np
from tensorjac.testing import check_vjp


def unbroadcast(target, g):  # note 002: sum over the axes target was broadcast along
    while g.ndim > target.ndim:
        g = g.sum(axis=0)
    for axis, size in enumerate(target.shape):
        if size == 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def mul_vjp(dldf, a, b):  # f = a * b; returns one gradient per argument, in its shape
    return unbroadcast(a, dldf * b), unbroadcast(b, dldf * a)


def test_mul_vjp():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 1)), rng.normal(size=(4,))  # broadcast to (3, 4)
    check_vjp(np.multiply, mul_vjp, a, b)  # float64
    check_vjp(np.multiply, mul_vjp, a.astype(np.float32), b.astype(np.float32))  # float32


test_mul_vjp()

# Forgetting to unbroadcast b is reported (not a crash inside numpy):
report = check_vjp(np.multiply, lambda g, a, b: (unbroadcast(a, g * b), g * a),
                   np.ones((3, 1)), np.ones(4), raise_on_failure=False)
assert not report.ok and report["x2"].problem.startswith("the vjp returned shape (3, 4)")
```

`python -m tensorjac.testing` prints the verification table of the built-in rules;
`python -m tensorjac.testing examples.vjp_rules` does the same for note 002's rules, declared
as a `RULES` list of `tensorjac.testing.RuleCase` (see `examples/vjp_rules.py`).
'''


def _python_block(text):
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_example_runs():
    namespace = {}
    exec(compile(_python_block(README_SECTION), "README: Verifying your own VJP rule", "exec"), namespace)
    assert not namespace["report"].ok
    # The example's rule, broken, is caught by the same calls.
    namespace["mul_vjp"] = lambda dldf, a, b: (namespace["unbroadcast"](a, dldf * a), namespace["unbroadcast"](b, dldf * a))
    with pytest.raises(AssertionError, match="argument 'x1'"):
        namespace["test_mul_vjp"]()


def test_readme_section_matches_once_pasted():
    path = os.path.join(ROOT, "README.md")
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if "## Verifying your own VJP rule" not in text:
        pytest.skip("README.md has no 'Verifying your own VJP rule' section yet")
    section = text.split("## Verifying your own VJP rule", 1)[1].split("\n## ", 1)[0]
    assert _python_block(section) == _python_block(README_SECTION)


# ---- Docstrings ---------------------------------------------------------------------------


def test_doctests_of_tensorjac_testing():
    import importlib
    import pkgutil

    attempted = failed = 0
    for info in pkgutil.iter_modules(tt.__path__):
        if info.name == "__main__":
            continue
        result = doctest.testmod(importlib.import_module(f"tensorjac.testing.{info.name}"), optionflags=doctest.ELLIPSIS)
        attempted, failed = attempted + result.attempted, failed + result.failed
    assert attempted >= 5 and failed == 0


def test_lazy_submodule():
    proc = subprocess.run(
        [sys.executable, "-c", "import tensorjac as tj, sys; assert 'tensorjac.testing' not in sys.modules; "
                               "print(tj.testing.check_vjp.__name__)"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "check_vjp", proc.stderr
