"""The documentation: every code block of every page runs, the API reference covers the public
names, the figures and the benchmark chart are drawn, and the build command is the README's.

Each page's ```python blocks run in order in one namespace, from the repository root (as a
reader would run them), with matplotlib's Agg backend; the blocks carry their own assertions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tensorjac as tj

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not {"_build", "_generated"} & set(p.relative_to(DOCS).parts))
CHAPTERS = ["chain_rule", "blocks", "backprop", "vjp_rules", "forward_reverse", "hessians", "implicit"]
DOCS_COMMAND = "python3 -m sphinx -W --keep-going -b html docs docs/_build/html"


def python_blocks(page: Path):
    """``(first line number, code)`` of every ```python block of a page."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def test_the_pages_are_there():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    expected = {"index.md", "getting_started.md", "pictures.md", "benchmarks.md"} | {f"tutorial/{c}.md" for c in CHAPTERS}
    assert expected <= names
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for chapter in CHAPTERS:
        assert f"tutorial/{chapter}" in index, chapter


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_code_blocks_run(page, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # pages may put examples/ on the path
    namespace = {"__name__": f"docs_{page.stem}"}
    budget = tj.get_dense_budget()
    try:
        with np.printoptions():  # pages may change print options; the caller's stay
            for line, code in python_blocks(page):
                exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)
    finally:
        plt.close("all")
        assert tj.get_dense_budget() == budget, f"{page.name} left the dense budget changed"
        tj.set_dense_budget(budget)


def test_every_tutorial_chapter_has_code_and_follows_its_note():
    expected = {
        "chain_rule": ["Exercise 1", "Exercise 2", "Exercise 4", "4 * np.cos(4)", "tj.contract", "tj.chain("],
        "blocks": ["tj.compose", "Blocks", ".plot()"],
        "backprop": ["nn_loss_gradient_closure", "tj.chain_vjp", "check_against_finite_differences", "--plot"],
        "vjp_rules": ["Bug 1", "Bug 2", "check_vjp", "check_jvp", "unbroadcast"],
        "forward_reverse": ["tj.chain_cost", ".costs", 'order="forward"'],
        "hessians": ["tj.hessian", "tj.gauss_newton", "tj.curvature_term", "tj.hvp"],
        "implicit": ["tj.implicit_jacobian", "tj.implicit(", "ConditionWarning"],
    }
    for chapter, needles in expected.items():
        page = DOCS / "tutorial" / f"{chapter}.md"
        code = "\n".join(code for _, code in python_blocks(page))
        assert len(python_blocks(page)) >= 3, chapter
        text = page.read_text(encoding="utf-8")
        for needle in needles:
            assert needle in text, (chapter, needle)
        assert "assert" in code, f"{chapter}: its code checks nothing"


def test_the_api_reference_covers_every_public_name():
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. auto(?:function|class|exception|data):: (\w+)", api, re.M))
    import tensorjac.testing as tt

    missing = [name for name in tj.__all__ if name != "testing" and name not in documented]
    assert not missing, f"tensorjac names missing from docs/api.rst: {missing}"
    missing = [name for name in tt.__all__ if name not in documented]
    assert not missing, f"tensorjac.testing names missing from docs/api.rst: {missing}"
    assert ".. automodule:: tensorjac.testing" in api


def test_the_readme_names_the_docs_command_and_ci_runs_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert DOCS_COMMAND in readme
    assert 'pip install -e ".[docs]"' in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert DOCS_COMMAND in ci and ".[docs]" in ci
    assert ci.index("pytest") < ci.index("sphinx")  # the docs build comes after the tests
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^docs = \[.*"sphinx', pyproject, re.M) and re.search(r'^plot = \["matplotlib', pyproject, re.M)


def test_the_readme_picture_is_committed_and_small():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    picture = ROOT / "docs" / "_static" / "network_blocks.png"
    assert "docs/_static/network_blocks.png" in readme and "python docs/figures.py --readme" in readme
    assert picture.read_bytes()[:4] == b"\x89PNG" and picture.stat().st_size < 100_000


def _figures():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    sys.path.insert(0, str(DOCS))
    try:
        import figures
    finally:
        sys.path.remove(str(DOCS))
    return figures


def test_the_figures_script_draws_every_figure(tmp_path):
    figures = _figures()
    written = figures.build_all(str(tmp_path))
    names = sorted(os.path.basename(p) for p in written if p.endswith(".png"))
    assert names == sorted([*figures.FIGURES, "loss_curve.png", "ratios.png"])
    for path in written:
        if path.endswith(".png"):
            assert Path(path).read_bytes()[:4] == b"\x89PNG", path
    results = (tmp_path / "results.md").read_text(encoding="utf-8")  # the benchmark page's table, * escaped
    assert "(d2\\*W2) @ (d1\\*W1)" in results and not results.startswith("# ")
    # every picture a page shows is one of them
    shown = set()
    for page in PAGES:
        shown |= set(re.findall(r"_generated/([\w.]+\.png)", page.read_text(encoding="utf-8")))
    assert shown and shown <= set(names)


def test_the_benchmark_chart_is_drawn_from_results_md_when_the_png_is_missing(tmp_path, monkeypatch):
    figures = _figures()
    text = (ROOT / "bench" / "results.md").read_text(encoding="utf-8")
    rows = figures.parse_results(text)
    with_ratios = [r for r in rows if figures._ratio(r["tensorjac"]) is not None]
    fig = figures.chart_from_results(text)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == len(with_ratios) >= 4
    bars = [p.get_width() for p in ax.containers[0]]  # the tensorjac series
    assert bars == [figures._ratio(r["tensorjac"]) for r in with_ratios]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_legend().get_texts()][0] == "tensorjac"
    assert figures._ratio("375x faster") is None and figures._ratio("1.77x (jax.jit(grad))") == 1.77
    monkeypatch.setattr(figures, "ROOT", str(tmp_path))  # no bench/ratios.png there: drawn from results.md
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "results.md").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    path = figures.benchmark_chart(str(out))
    assert Path(path).read_bytes()[:4] == b"\x89PNG"


def test_the_docs_build_warning_free(tmp_path):
    for module in ("sphinx", "myst_parser", "furo"):
        pytest.importorskip(module)
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs",
                           str(tmp_path / "html")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (tmp_path / "html" / "tutorial" / "chain_rule.html").read_text(encoding="utf-8")
    assert "Exercise 4" in html and "note003_chain.png" in html
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    for name in ("tensorjac.jacobian", "tensorjac.testing.check_vjp", "tensorjac.Jacobian.plot"):
        assert f'id="{name}"' in api, name
