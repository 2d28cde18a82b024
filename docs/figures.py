"""The figures of the documentation and of the README, drawn with tensorjac's own ``plot()``.

    python docs/figures.py [OUTDIR]     # every figure of the docs (default: docs/_generated)
    python docs/figures.py --readme     # the README's picture, docs/_static/network_blocks.png

The docs build (``docs/conf.py``) calls :func:`build_all` before reading the pages, so the
pictures always show the code of the checkout.  The benchmark chart is ``bench/ratios.png``
(written by ``python bench/run_all.py``), or, when that file is missing, drawn here from the
table of ``bench/results.md`` (:func:`chart_from_results`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tensorjac as tj  # noqa: E402

README_FIGURE = os.path.join(HERE, "_static", "network_blocks.png")


def network_blocks():
    """The block Jacobian of note 001's network output (class probabilities) in W, b, V, c."""
    import nn_backprop

    X, Y, W, b, V, c = nn_backprop.make_problem(N=6, d=4, k=3, m=2)

    def probabilities(W, b, V, c):
        return tj.softmax(tj.logit(X @ W + b) @ V + c)

    D = tj.jacobian(probabilities, argnums=(0, 1, 2, 3))(W, b, V, c)
    ax = D.plot(title="d softmax(logit(X W + b) V + c) / d(W, b, V, c), N=6, d=4, k=3, m=2")
    ax.figure.set_size_inches(9, 4.2)
    return ax.figure


def note003_chain():
    """Note 003's worked example: J_g(3, 4), J_f(1, 2) and their contraction, side by side."""
    Jf = tj.Jacobian(np.array([[2.0, 1.0], [4.0, 2.0]]), out_ndim=1)
    Jg = tj.Jacobian(np.array([[1.0, 1.0], [6.0, 0.0], [0.0, np.cos(4.0)]]), out_ndim=1)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), layout="constrained")
    Jg.plot(axes[0], title="J_g(3, 4)")
    Jf.plot(axes[1], title="J_f(1, 2)")
    (Jg @ Jf).plot(axes[2], title="c(J_g, J_f) = J_{g∘f}(1, 2)")
    return fig


def xw_pattern():
    """The structure pattern of the 196 GiB d(X @ W)/dW of the network's first layer."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 784))
    J = tj.jacobian(lambda W: X @ W)(np.zeros((784, 256)))
    return J.plot().figure


def softmax_jacobian():
    """The block-diagonal Jacobian of a row-wise softmax."""
    rng = np.random.default_rng(1)
    J = tj.jacobian(tj.softmax)(rng.normal(size=(3, 4)))
    return J.plot(title="d softmax(Z) / dZ, Z of shape (3, 4): one block per row").figure


def hessian_blocks():
    """The Hessian of a small logistic-regression loss in (w, b), blocks labelled."""
    rng = np.random.default_rng(2)
    A, labels = rng.normal(size=(40, 4)), (rng.random(40) < 0.5).astype(float)

    def loss(w, b):
        z = A @ w + b
        return np.sum(tj.softplus(z) - labels * z)

    H = tj.hessian(loss, argnums=(0, 1))(rng.normal(size=4) / 4, np.array(0.1))
    return H.plot(title="Hessian of a logistic loss in (w, b)").figure


def loss_curve(path):
    """The training loss of the solved exercise, as ``examples/nn_backprop.py --plot PATH`` saves it."""
    import nn_backprop

    X, Y, _ = nn_backprop.make_rings()
    _, history, _ = nn_backprop.train(X, Y, report_every=1)
    nn_backprop.save_loss_curve(history, path)
    return path


FIGURES = {
    "network_blocks.png": network_blocks,
    "note003_chain.png": note003_chain,
    "xw_pattern.png": xw_pattern,
    "softmax_jacobian.png": softmax_jacobian,
    "hessian_blocks.png": hessian_blocks,
}


# ---- the benchmark chart ------------------------------------------------------------------------


def parse_results(text: str) -> list[dict]:
    """The rows of the markdown table of ``bench/results.md`` as dicts (header names as keys)."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(lines) < 3:
        raise ValueError("bench/results.md has no table")
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


def _ratio(cell: str):
    """``'1.22x'`` or ``'1.77x (jax.jit(grad))'`` -> 1.22 / 1.77; anything else (``-``, ``375x faster``) -> None."""
    match = re.match(r"^([0-9.]+(?:e[+-]?[0-9]+)?)x(\s*\(.*\))?$", cell)
    return float(match.group(1)) if match else None


def chart_from_results(text: str):
    """A bar chart of the time ratios of ``bench/results.md`` (log scale, 1 = the reference)."""
    rows = [row for row in parse_results(text) if _ratio(row.get("tensorjac", "")) is not None]
    series = ["tensorjac", "JAX", "PyTorch", "autograd"]
    fig, ax = plt.subplots(figsize=(11, 1.2 + 1.1 * len(rows)), layout="constrained")
    height = 0.8 / len(series)
    for k, name in enumerate(series):
        ys, xs = [], []
        for i, row in enumerate(rows):
            value = _ratio(row.get(name, "-"))
            if value is not None:
                ys.append(i + (k - (len(series) - 1) / 2) * height)
                xs.append(value)
        ax.barh(ys, xs, height=height, label=name)
        for y, x in zip(ys, xs):
            ax.text(x, y, f" {x:.3g}x", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.margins(x=0.15)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([textwrap.fill(f"{r['workload']} (vs {r['reference']})", 48) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time / reference time (log scale; < 1 is faster than the reference)")
    ax.set_title("tensorjac and peers (from bench/results.md)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def benchmark_chart(outdir: str) -> str:
    """``bench/ratios.png`` copied into ``outdir``, or drawn from ``bench/results.md`` if missing."""
    target = os.path.join(outdir, "ratios.png")
    source = os.path.join(ROOT, "bench", "ratios.png")
    if os.path.exists(source):
        shutil.copyfile(source, target)
    else:
        with open(os.path.join(ROOT, "bench", "results.md"), encoding="utf-8") as fh:
            fig = chart_from_results(fh.read())
        fig.savefig(target, dpi=100)
        plt.close(fig)
    return target


def results_page(outdir: str) -> str:
    """``bench/results.md`` for the benchmarks page: ``*`` escaped (``(d2*W2) @ (d1*W1)`` is a formula,
    not emphasis), the title dropped (the page has its own)."""
    with open(os.path.join(ROOT, "bench", "results.md"), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    target = os.path.join(outdir, "results.md")
    with open(target, "w", encoding="utf-8") as fh:
        fh.write("\n".join(line.replace("*", "\\*") for line in lines) + "\n")
    return target


def build_all(outdir: str) -> list[str]:
    """Write every figure into ``outdir``; return the paths."""
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name, make in FIGURES.items():
        fig = make()
        path = os.path.join(outdir, name)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    written.append(loss_curve(os.path.join(outdir, "loss_curve.png")))
    written.append(benchmark_chart(outdir))
    written.append(results_page(outdir))
    return written


def main(argv) -> int:
    if argv[:1] == ["--readme"]:
        fig = network_blocks()
        fig.savefig(README_FIGURE, dpi=80, bbox_inches="tight")
        print(f"wrote {os.path.relpath(README_FIGURE)}")
        return 0
    outdir = argv[0] if argv else os.path.join(HERE, "_generated")
    for path in build_all(outdir):
        print(f"wrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
