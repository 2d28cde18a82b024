"""The command ``python -m tensorjac.testing`` (and ``tensorjac-check``): the verification table."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from ._cases import ModuleLoadError, builtin_cases, format_table, module_cases, run_cases
from ._setup import MODES

__all__ = ["main"]


def main(argv=None) -> int:
    """Print the verification table of the built-in rules, or of the modules given; return the exit code.

    ``python -m tensorjac.testing [module ...] [--builtins] [--dtype float64,float32] [--mode MODE] [-v]``.
    A module is an import path (``examples.vjp_rules``, found from the current directory) or the
    path of a ``.py`` file (``path/to/examples/vjp_rules.py``, from anywhere; its folder goes on
    the import path so that it can import its neighbours).  Exit code 0 when every row passes,
    1 when one fails, 2 for a module that cannot be used (with a message saying why, and for a
    name that cannot be imported, suggesting the path form).
    """
    if argv is not None and (isinstance(argv, str) or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"main takes a list of command-line arguments (strings) or None, got {argv!r}")
    parser = argparse.ArgumentParser(
        prog="python -m tensorjac.testing",
        description="Verify tensorjac's built-in rules, or the RULES list of your own modules, against "
                    "finite differences / registered rules and print a table.",
    )
    parser.add_argument("modules", nargs="*", help="import paths (pkg.mod, found from the current directory) or "
                                                  "paths of .py files declaring RULES")
    parser.add_argument("--builtins", action="store_true", help="also check the built-in rules when modules are given")
    parser.add_argument("--dtype", default="float64,float32", help="comma-separated dtypes (default: float64,float32)")
    parser.add_argument("--mode", choices=MODES, default=None, help="force the check mode (default: each case's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the failure messages")
    ns = parser.parse_args(argv)
    dtypes = tuple(d.strip() for d in ns.dtype.split(",") if d.strip())
    for d in dtypes:
        try:
            ok = np.dtype(d) in (np.dtype(np.float32), np.dtype(np.float64))
        except TypeError:
            ok = False
        if not ok:
            parser.error(f"--dtype: only float32 and float64 are supported, got {d!r}")
    if not dtypes:
        parser.error("--dtype: give at least one of float32, float64")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # so that a console script finds the user's modules too

    sections = []
    if not ns.modules or ns.builtins:
        sections.append(("built-in rules (Jacobian vs finite differences)", builtin_cases()))
    for spec in ns.modules:
        try:
            sections.append((f"module {spec}", module_cases(spec)))
        except ModuleLoadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except (ImportError, ValueError) as exc:
            print(f"error: cannot use {spec!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    status = 0
    for title, cases in sections:
        rows = run_cases(cases, dtypes=dtypes, mode=ns.mode)
        print(format_table(rows, title=f"== {title} =="))
        print()
        if any(r["result"] != "ok" for r in rows):
            status = 1
            for r in rows:
                if r["result"] != "ok" and (ns.verbose or r["argument"] == "-"):
                    for m in r["messages"]:
                        print(m)
                        print()
    return status

