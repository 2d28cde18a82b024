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


@pytest.mark.parametrize("name", ["chain_rule.py", "hessian.py", "implicit.py"])
def test_examples_exit_nonzero_when_a_check_fails(name, monkeypatch):
    """The examples' checks can fail: their exit status follows them (not a constant 0)."""
    source = open(os.path.join(ROOT, "examples", name), encoding="utf-8").read()
    assert "return 0 if" in source and "sys.exit(main())" in source
