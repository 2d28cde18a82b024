"""The package's architecture: one-way imports, small modules, names that cannot be shadowed,
one constructor path, the registry by function object, opt_einsum's helpers in use."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import opt_einsum as oe
import pytest

import tensorjac as tj

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tensorjac"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Every module's imports within the package, function-local imports included."""
    known = {module_name(p) for p in MODULES}
    graph = {}
    for path in MODULES:
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                # ``from . import x`` imports the module x, not the package (unless x is a name in it)
                subs = [f"{base}.{alias.name}" for alias in node.names]
                targets = [t for t in subs if t in known] or [base]
            else:
                continue
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def test_no_import_cycles():
    graph = import_graph()
    # A module may import its own package's __init__ only if that does not lead back to it.
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node)


def test_the_shared_import_checker_reports_no_cycle():
    tool = ROOT.parent / "shared" / "tools" / "check_imports.py"
    if not tool.exists():
        pytest.skip("../shared/tools/check_imports.py is not next to this checkout (test_no_import_cycles checks the same)")
    proc = subprocess.run([sys.executable, str(tool)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "0 cycle(s)" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_small_enough_to_read_in_one_sitting(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def test_importing_a_submodule_always_yields_a_module():
    exported = set(tj.__all__)
    for path in MODULES:
        name = module_name(path)
        if name.endswith("__main__"):
            continue
        leaf = name.rpartition(".")[2]
        assert leaf not in exported or name == "tensorjac.testing", f"module {name} is named like the export {leaf!r}"
        assert isinstance(importlib.import_module(name), types.ModuleType)
        # ``import a.b.c as m`` binds the attribute c of a.b: it must be the module itself.
        parent, _, leaf = name.rpartition(".")
        if parent:
            assert getattr(importlib.import_module(parent), leaf) is sys.modules[name], name


def test_only_the_type_modules_assemble_terms():
    """One constructor path: terms are built in _terms.py, Jacobians and Hessians from terms in their
    type modules _jacobian.py and _hessian.py."""
    for path in MODULES:
        if path.name in ("_terms.py", "_jacobian.py", "_hessian.py"):
            continue
        source = path.read_text(encoding="utf-8")
        for needle in ("Term(", "._new(", "__new__(", "_terms = "):
            assert needle not in source, f"{path.relative_to(ROOT)} uses {needle!r}: only the type modules build terms"


def test_registry_finds_rules_by_name_and_by_function_object():
    for name, fun in [("exp", np.exp), ("log", np.log), ("tanh", np.tanh), ("add", np.add), ("matmul", np.matmul),
                      ("maximum", np.maximum), ("sum", np.sum), ("logit", tj.rules.logit), ("softmax", tj.rules.softmax)]:
        assert tj.get_rule(fun) is tj.get_rule(name)
        assert tj.get_rule(fun).fun is fun or fun in tj.get_rule(fun).functions
    assert tj.rules.find_rule(np.arctan2) is None
    with pytest.raises(ValueError, match="unknown rule"):
        tj.get_rule(np.arctan2)


def test_every_builtin_rule_declares_examples_beside_it():
    for name in tj.rule_names():
        rule = tj.get_rule(name)
        if rule.builtin:
            examples = rule.examples(np.random.default_rng(0))
            assert examples, name


def test_the_interval_path_is_an_opt_einsum_path_function():
    # A chain with diagonals, where opt_einsum's "optimal" is known to build an n^3 outer product.
    n = 60
    eq, shapes = "a,ab,b,bc->ac", [(n,), (n, n), (n,), (n, n)]
    path, info = oe.contract_path(eq, *shapes, shapes=True, optimize="tensorjac-interval")
    plan = tj._plans.plan(eq, tuple(shapes))
    assert info.opt_cost == plan.flops <= oe.contract_path(eq, *shapes, shapes=True, optimize="greedy")[1].opt_cost
    assert info.largest_intermediate <= n * n
    arrays = [np.random.default_rng(0).normal(size=s) for s in shapes]
    np.testing.assert_allclose(oe.contract(eq, *arrays, optimize="tensorjac-interval"), np.einsum(eq, *arrays), rtol=1e-12)


def test_readme_has_the_architecture_section():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Architecture" in text
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    for module in ("_validation", "_plans", "ordering", "_terms", "_jacobian", "_chains", "blocks", "rules", "numerical", "testing"):
        assert module in section, module


def test_ci_runs_the_test_suite():
    assert "pytest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert os.access(ROOT / ".ci" / "run", os.R_OK)
