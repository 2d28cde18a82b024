"""Combine the printed tables of several runs of ``bench/run_all.py`` into one table of ranges.

    python bench/run_all.py --no-files > run1.txt     # and run2.txt, run3.txt, ...
    python bench/ranges.py run1.txt run2.txt run3.txt

Each cell holding a number becomes ``low-high`` over the runs (the text around the number, a
unit or the name of what a peer ran, is kept from the first run); ``met`` becomes the count of
runs that met the target.  The README's performance table is this script's output.
"""

from __future__ import annotations

import argparse
import re
import sys

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def read_rows(path: str) -> tuple[list[str], dict[str, list[str]]]:
    """(header cells, {workload: cells}) of the results table printed by one run."""
    header, rows = [], {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("| ") or line.startswith("|---"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == "workload":
                header = cells
            else:
                rows[cells[0]] = cells
    if not header:
        raise SystemExit(f"{path}: no results table (expected the output of bench/run_all.py)")
    return header, rows


def _span(values: list[str]) -> str:
    """'1.04x-1.08x' style range of the cells of one column (the first cell's text kept)."""
    numbers = []
    for v in values:
        m = _NUMBER.search(v)
        if m is None:
            return values[0]
        numbers.append((float(m.group()), m))
    lo = min(numbers, key=lambda t: t[0])[1]
    hi = max(numbers, key=lambda t: t[0])[1]
    first = numbers[0][1]
    text = first.string
    if lo.group() == hi.group():
        return text
    return text[: first.start()] + f"{lo.group()}-{hi.group()}" + text[first.end():]


def combine(paths: list[str]) -> str:
    tables = [read_rows(p) for p in paths]
    header = tables[0][0]
    met = header.index("met") if "met" in header else None
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, cells in tables[0][1].items():
        runs = [rows[name] for _, rows in tables if name in rows]
        out = []
        for col in range(len(header)):
            column = [r[col] for r in runs]
            if col == 0:
                out.append(name)
            elif col == met:
                if column[0] in ("-", ""):
                    out.append(column[0])
                else:
                    yes = sum(c == "yes" for c in column)
                    out.append(f"yes ({yes}/{len(runs)})" if yes == len(runs) else f"**no** ({yes}/{len(runs)} met)")
            else:
                out.append(_span(column))
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="saved outputs of bench/run_all.py")
    args = parser.parse_args(argv)
    print(combine(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
