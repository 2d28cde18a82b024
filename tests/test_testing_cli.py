"""The command ``python -m tensorjac.testing`` run outside the repository (issue 11, case 8)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import tensorjac.testing as tt

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXAMPLE = os.path.join(ROOT, "examples", "vjp_rules.py")


@pytest.fixture
def outside(tmp_path):
    """Run the command from a temporary directory, with this tensorjac (and nothing else of the
    repository, such as ``examples``) importable."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "tensorjac").symlink_to(os.path.join(ROOT, "tensorjac"), target_is_directory=True)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(lib)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "tensorjac.testing", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)

    run.work = work
    return run


def test_a_module_name_not_on_the_path_suggests_the_file_form(outside):
    proc = outside("examples.vjp_rules")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "cannot import module 'examples.vjp_rules': no module named 'examples'" in err
    assert str(outside.work) in err and "path/to/examples/vjp_rules.py" in err
    assert "Traceback" not in err


def test_a_file_path_works_from_anywhere(outside):
    proc = outside(EXAMPLE, "--dtype", "float64")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "== module " in proc.stdout and "matmul" in proc.stdout and "FAIL" not in proc.stdout
    # ... also without the .py suffix, and relative to the current directory
    rel = os.path.relpath(EXAMPLE[:-3], outside.work)
    proc = outside(rel, "--dtype", "float32", "--mode", "dot")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_rules_file_may_import_its_neighbours(outside):
    folder = outside.work / "mine"
    folder.mkdir()
    (folder / "helpers.py").write_text("import numpy as np\n\ndef exp_vjp(g, x):\n    return (g * np.exp(x),)\n")
    (folder / "my_rules.py").write_text(
        "import numpy as np\n"
        "from helpers import exp_vjp\n"
        "from tensorjac.testing import RuleCase\n"
        "RULES = [RuleCase('exp', np.exp, vjp=exp_vjp, examples=[(np.array([0.5, 1.0]),)])]\n"
    )
    proc = outside("mine/my_rules.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exp" in proc.stdout and "2 of 2 rows pass" in proc.stdout
    # and by module name from the folder that contains it
    proc = subprocess.run([sys.executable, "-m", "tensorjac.testing", "my_rules"], cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(outside.work.parent / "lib")},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("import numpy as np\nimport not_a_real_dependency_xyz\n",
         "raised ModuleNotFoundError inside it: No module named 'not_a_real_dependency_xyz'"),
        ("def f(:\n", "raised SyntaxError"),
        ("raise RuntimeError('no GPU here')\n", "raised RuntimeError: no GPU here"),
    ],
    ids=["missing-dependency", "syntax-error", "raises"],
)
def test_a_module_that_fails_to_import_is_named_without_a_traceback(tmp_path, monkeypatch, capsys, content, fragment):
    name = f"broken_{abs(hash(content)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(content)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    assert tt.main([name]) == 2
    err = capsys.readouterr().err
    assert f"importing {name!r} " in err and fragment.split(": ")[0] in err and "Traceback" not in err, err
    assert tt.main([f"{name}.py"]) == 2
    err = capsys.readouterr().err
    assert "executing" in err and "Traceback" not in err, err
    if "dependency" in fragment:
        assert fragment in err or "not_a_real_dependency_xyz" in err


def test_bad_paths_and_dtypes_are_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert tt.main([os.path.join(ROOT, "examples")]) == 2
    assert "is a directory; pass the .py file" in capsys.readouterr().err
    assert tt.main(["no/such/rules.py"]) == 2
    err = capsys.readouterr().err
    assert "no file" in err and str(tmp_path) in err
    with pytest.raises(SystemExit) as info:
        tt.main(["--dtype", "float17"])
    assert info.value.code == 2 and "only float32 and float64 are supported, got 'float17'" in capsys.readouterr().err


def test_module_cases_raises_a_documented_import_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(tt.ModuleLoadError, match="no module named 'nowhere_pkg_xyz'") as info:
        tt.module_cases("nowhere_pkg_xyz.rules")
    assert isinstance(info.value, ImportError)
    # a file whose name is that of an imported module does not replace it
    (tmp_path / "json.py").write_text(
        "from tensorjac.testing import RuleCase\nimport numpy as np\n"
        "RULES = [RuleCase('neg', np.negative, vjp=lambda g, x: (-g,), examples=[(np.ones(2),)])]\n"
    )
    import json

    cases = tt.module_cases(str(tmp_path / "json.py"))
    assert [c.name for c in cases] == ["neg"] and sys.modules["json"] is json
