"""Run every benchmark workload (issues 4, 8, 9 and 10) and print the table of ratios.

    python bench/run_all.py [--threads N] [--repeats R] [--only NAME ...]

Each workload is timed for tensorjac, its named reference and each installed peer (JAX with
jit, PyTorch, HIPS autograd), in float64, with the same thread count everywhere (BLAS/OpenMP
variables and ``torch.set_num_threads``), as medians of interleaved rounds.  Figures are
ratios to the reference (``time / reference time``: below 1 is faster than the reference).
Peers that are not installed are skipped with a note.

Writes ``bench/results.md`` (the table, the date and the machine) and ``bench/ratios.png``
(a chart of the ratios; skipped with a note when matplotlib is not installed).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))  # run from a checkout without installing

import _harness  # noqa: E402  (must come before numpy: it pins the BLAS threads)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Run tensorjac's benchmark suite.")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every library (default: all cores)")
    parser.add_argument("--repeats", type=int, default=31, help="interleaved rounds per workload (fewer if slow)")
    parser.add_argument("--only", nargs="*", help="run only these workloads")
    parser.add_argument("--no-files", action="store_true", help="print only; do not write results.md / ratios.png")
    return parser.parse_args(argv)


def machine_info(np, peers) -> list[str]:
    uname = platform.uname()
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = "?"
    try:
        config = np.show_config(mode="dicts")
        info = config["Build Dependencies"]["blas"]
        blas = f"{info.get('name', '?')} {info.get('version', '')}".strip()
    except Exception:
        pass
    import opt_einsum

    import tensorjac

    versions = {"python": platform.python_version(), "numpy": np.__version__, "opt_einsum": opt_einsum.__version__,
                "tensorjac": tensorjac.__version__, **peers.versions()}
    return [
        f"uname: {' '.join([uname.system, uname.node, uname.release, uname.version, uname.machine])}",
        f"CPU: {cpu}, {os.cpu_count()} logical CPUs",
        f"BLAS: {blas}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]


def format_table(rows) -> list[str]:
    from workloads import PEER_COLUMNS

    header = ["workload", "reference", "ref. time", "tensorjac", "target", "met", *PEER_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        ref_time = "-" if row.reference_time is None else _fmt_time(row.reference_time)
        value = f"{row.value:.3g}{row.unit}" if row.unit != " ms" else f"{row.value:.3f} ms"
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        peers = [f"{row.peers[c][1]:.3g}x ({row.peers[c][0]})" if c in row.peers else "-" for c in PEER_COLUMNS]
        lines.append("| " + " | ".join([row.workload, row.reference, ref_time, value, row.target, met, *peers]) + " |")
    return lines


def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} us"


def write_chart(rows, path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart written (pip install matplotlib)"
    from workloads import PEER_COLUMNS

    rows = [r for r in rows if r.chart]
    series = ["tensorjac", *PEER_COLUMNS]
    fig, ax = plt.subplots(figsize=(12, 1.2 + 1.3 * len(rows)))
    height = 0.8 / len(series)
    for k, name in enumerate(series):
        ys, xs = [], []
        for i, row in enumerate(rows):
            value = row.value if name == "tensorjac" else row.peers.get(name, (None, None))[1]
            if value is not None:
                ys.append(i + (k - (len(series) - 1) / 2) * height)
                xs.append(value)
        bars = ax.barh(ys, xs, height=height, label=name)
        for y, x in zip(ys, xs):
            ax.text(x, y, f" {x:.3g}x", va="center", fontsize=7)
        del bars
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.margins(x=0.15)
    ax.set_yticks(range(len(rows)))
    labels = [textwrap.fill(f"{r.workload} (vs {r.reference}; target {r.target})", 48) for r in rows]
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time / reference time (log scale; < 1 is faster than the reference)")
    ax.set_title("tensorjac and peers, float64, same thread count, medians")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"chart written to {os.path.relpath(path)}"


def main(argv=None) -> int:
    args = parse_args(argv)
    _harness.pin_threads(args.threads)
    import numpy as np

    peers = _harness.Peers(args.threads)
    import second_order
    import tracing
    import workloads

    everything = {**workloads.WORKLOADS, **tracing.WORKLOADS, **second_order.WORKLOADS}
    names = args.only or list(everything)
    unknown = [n for n in names if n not in everything]
    if unknown:
        print(f"unknown workloads {unknown}; choose from {list(everything)}", file=sys.stderr)
        return 2
    started = datetime.datetime.now().astimezone()
    rows = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(everything[name](peers, args.repeats))

    machine = machine_info(np, peers)
    table = format_table(rows)
    notes = []
    for row in rows:
        notes.extend(f"{row.workload}: {n}" for n in row.notes)
    out = [
        f"tensorjac benchmarks, {started:%Y-%m-%d %H:%M %Z}; float64; {args.threads} thread(s) for every library",
        *machine,
        "",
        *table,
        "",
        "Ratios are time / reference time (medians); peer cells name what was run.",
        *[f"- {n}" for n in notes],
        *[f"- note: {n}" for n in peers.notes],
    ]
    print("\n".join(out))
    if not args.no_files:
        md = ["# tensorjac benchmark results", "", "Command: `python bench/run_all.py`", "",
              f"Date: {started:%Y-%m-%d %H:%M %Z}", "", "Machine:", "", *[f"- {m}" for m in machine],
              f"- threads: {args.threads} for every library (BLAS/OpenMP variables, torch.set_num_threads)", "",
              *table, "", "Ratios are time / reference time (medians of interleaved rounds); below 1 is faster.", "",
              *[f"- {n}" for n in notes], *[f"- note: {n}" for n in peers.notes], ""]
        with open(os.path.join(HERE, "results.md"), "w") as f:
            f.write("\n".join(md))
        print(f"\ntable written to {os.path.relpath(os.path.join(HERE, 'results.md'))}")
        print(write_chart(rows, os.path.join(HERE, "ratios.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
