"""The examples of the tracing, Hessian and implicit issues run, check themselves and say so."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run(name):
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)], capture_output=True, text=True,
                          timeout=300)


def test_chain_rule_example_of_note_000():
    proc = run("chain_rule.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "F0 @ G0" in proc.stdout and "matmul A a" in proc.stdout and "iota" in proc.stdout
    assert "eye" not in proc.stdout.split("The program")[1].split("No line")[0]


def test_hessian_example():
    proc = run("hessian.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in ("X^T diag(s(1-s)) X", "Gauss-Newton term", "curvature term", "add up to the Hessian",
                 "agree with the values derived by hand"):
        assert text in proc.stdout, text


def _load(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(ROOT, "examples", name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_examples_fail_when_their_checks_fail(monkeypatch, capsys):
    """Each example's exit status follows its checks: a wrong derivative flips it to 1."""
    import numpy as np

    import tensorjac as tj

    hessian = _load("hessian.py")
    assert hessian.main() == 0
    real = tj.gauss_newton
    monkeypatch.setattr(tj, "gauss_newton", lambda J, H: real(J, H) * 1.01)
    assert hessian.main() == 1
    monkeypatch.undo()

    chain = _load("chain_rule.py")
    assert chain.main() == 0
    monkeypatch.setattr(chain, "G_proj", chain.G_proj * 1.0)
    real_jacobian = tj.jacobian
    monkeypatch.setattr(tj, "jacobian", lambda f, *a, **k: (lambda x: real_jacobian(f, *a, **k)(x) * 1.001))
    assert chain.main() == 1
    monkeypatch.undo()

    implicit = _load("implicit.py")
    assert implicit.main() == 0
    monkeypatch.setattr(implicit, "deq_solve", lambda x: np.tanh(x))  # a "solver" of another equation
    with pytest.raises(ValueError, match="not a solution"):  # its residual check refuses it
        implicit.main()
    capsys.readouterr()
