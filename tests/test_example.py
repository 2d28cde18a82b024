"""The solved exercise runs, prints its tables, and exits 0; its two gradients agree."""

import os
import subprocess
import sys

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
sys.path.insert(0, EXAMPLES)
import nn_backprop  # noqa: E402


def test_example_script_exits_zero_and_prints_tables():
    run = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "nn_backprop.py")], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    for block in ("W", "b", "V", "c"):
        assert f"{block} (compose)" in out and f"{block} (exercise)" in out and f"{block} (tj.grad)" in out
    assert "every block agrees with finite differences" in out
    assert "final accuracy" in out
    accuracy = float(out.split("final accuracy")[1].split("%")[0])
    assert accuracy >= 90.0


def test_exercise_tensorjac_and_backprop_gradients_agree():
    problem = nn_backprop.make_problem(N=7, d=5, k=4, m=3, seed=3)
    X, Y, W, b, V, c = problem
    exercise = dict(zip("WbVc", nn_backprop.nn_loss_gradient_closure(X, Y)([W, b, V, c])))
    structured = nn_backprop.tensorjac_gradient(*problem)
    backprop = nn_backprop.numpy_backprop_gradient(*problem)
    for name in "WbVc":
        np.testing.assert_allclose(exercise[name], backprop[name], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(structured[name], backprop[name], rtol=1e-12, atol=1e-13)


def test_the_checker_in_the_example_catches_a_wrong_gradient(monkeypatch):
    """The exit status depends on the finite-difference check: a wrong rule must flip it."""
    real = nn_backprop.tensorjac_gradient

    def wrong(*args):
        grads = real(*args)
        grads["b"] = grads["b"] * 1.001
        return grads

    monkeypatch.setattr(nn_backprop, "tensorjac_gradient", wrong)
    rows = nn_backprop.check_against_finite_differences(*nn_backprop.make_problem(N=6, d=4, k=3, m=2))
    failing = [row[0] for row in rows if not row[-1]]
    assert failing == ["b (compose)"]

    real_one_line = nn_backprop.one_line_gradient

    def wrong_one_line(*args):
        grads = real_one_line(*args)
        grads["V"] = grads["V"] * 0.999
        return grads

    monkeypatch.setattr(nn_backprop, "one_line_gradient", wrong_one_line)
    rows = nn_backprop.check_against_finite_differences(*nn_backprop.make_problem(N=6, d=4, k=3, m=2))
    assert [row[0] for row in rows if not row[-1]] == ["b (compose)", "V (tj.grad)"]


def test_fixed_draft_helpers():
    """The draft's bugs, fixed: outer product in the softmax Jacobian, elementwise -P/Q, stable logit."""
    Z = np.array([[0.3, -1.2, 2.0]])
    v = nn_backprop.softmax(Z[0])
    D = nn_backprop.Dmatrix_softmax(Z)
    np.testing.assert_allclose(D[0, :, 0, :], np.diag(v) - np.outer(v, v))
    P, Q = np.array([[0.2, 0.8]]), np.array([[0.5, 0.25]])
    np.testing.assert_allclose(nn_backprop.DQcross_entropy(P, Q), [[-0.4, -3.2]])
    with np.errstate(over="raise"):
        s = nn_backprop.logit(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
