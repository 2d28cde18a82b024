"""Compact HTML summaries for Jupyter: ``_repr_html_`` of Jacobians, Blocks, Hessians and programs.

Each summary gives the shapes, the structure of every term (einsum-like letters: a letter shared
by the output and an input group is a Kronecker delta, ``ai->ab|ib`` is ``X[a,i] δ[b,j]``) and
the bytes stored against the bytes of the dense form.  Nothing is materialised.  The objects
are read through their attributes (``out_shape``, ``in_shape``, ``_terms``, ``nbytes``, ...):
this module imports none of the types.
"""

from __future__ import annotations

import html
import math

import numpy as np

from . import _terms as T
from ._index_factors import Gather, Reshape

__all__ = ["jacobian_html", "blocks_html", "hessian_html", "hessian_blocks_html", "program_html", "human_bytes",
           "term_spec"]

_STYLE = ("border-collapse:collapse;font-family:monospace;font-size:12px;text-align:left")
_CELL = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:left"


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``.

    >>> human_bytes(0), human_bytes(1536), human_bytes(210453397504)
    ('0 B', '1.5 KiB', '196 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def term_spec(term) -> str:
    """A term in einsum-like letters, with what each factor is.

    >>> import numpy as np, tensorjac as tj
    >>> J = tj.Jacobian.from_einsum("ai->ab|ib", np.ones((4, 3)), sizes={"b": 2})
    >>> term_spec(J._terms[0])
    'ac->ab|cb   (ac: (4, 3))'
    """
    spec = T.spec(term)
    subs = spec.split("->")[0].split(",")
    what = []
    for (arr, _), sub in zip(term.factors, subs):
        if isinstance(arr, Gather):
            what.append(f"{sub}: gather of {arr.index.size}")
        elif isinstance(arr, Reshape):
            what.append(f"{sub}: reshape")
        elif arr.ndim == 0:
            what.append(f"scalar {float(arr):.4g}")
        else:
            what.append(f"{sub}: {arr.shape}")
    return spec + (f"   ({'; '.join(what)})" if what else "   (nothing stored)")


def _structure(terms) -> str:
    return "<br>".join(html.escape(term_spec(t)) for t in terms) or "0 (no terms)"


def _rows(pairs) -> str:
    return "".join(f"<tr><th style='{_CELL}'>{html.escape(k)}</th><td style='{_CELL}'>{v}</td></tr>" for k, v in pairs)


def _table(title: str, pairs, extra: str = "") -> str:
    return (f"<div class='tensorjac-summary'><b>{html.escape(title)}</b>"
            f"<table style='{_STYLE}'>{_rows(pairs)}</table>{extra}</div>")


def _bytes_row(stored: int, dense: int):
    ratio = f" ({dense / stored:,.0f}x smaller)" if stored and dense > stored else ""
    return ("stored / dense bytes", html.escape(f"{human_bytes(stored)} stored / {human_bytes(dense)} dense{ratio}"))


def _dense_bytes(obj) -> int:
    return math.prod(obj.shape) * np.dtype(obj.dtype).itemsize


def jacobian_html(J) -> str:
    """The HTML summary of a ``Jacobian``.

    >>> import numpy as np, tensorjac as tj
    >>> text = jacobian_html(tj.Jacobian.diagonal(np.ones(3)))
    >>> "(3,)" in text and "24 B stored / 72 B dense" in text
    True
    """
    rows, cols = math.prod(J.out_shape), math.prod(J.in_shape)
    return _table("tensorjac.Jacobian", [
        ("out_shape", html.escape(str(J.out_shape))),
        ("in_shape", html.escape(str(J.in_shape))),
        ("shape", html.escape(f"{J.shape}, matrix view {rows:,} x {cols:,}, {J.dtype}")),
        ("structure", _structure(J._terms)),
        _bytes_row(J.nbytes, _dense_bytes(J)),
    ])


def blocks_html(D) -> str:
    """The HTML summary of ``Blocks``: one row per argument."""
    header = "".join(f"<th style='{_CELL}'>{h}</th>" for h in ("block", "in_shape", "structure", "stored", "dense"))
    body, stored, dense = "", 0, 0
    for name in D.names:
        J = D[name]
        stored += J.nbytes
        dense += _dense_bytes(J)
        cells = (html.escape(name), html.escape(str(J.in_shape)), _structure(J._terms),
                 human_bytes(J.nbytes), human_bytes(_dense_bytes(J)))
        body += "<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>"
    blocks = f"<table style='{_STYLE}'><tr>{header}</tr>{body}</table>"
    return _table(f"tensorjac.Blocks ({len(D.names)} blocks)", [
        ("out_shape", html.escape(str(D.out_shape))),
        ("blocks", html.escape(", ".join(f"{n}: {D[n].in_shape}" for n in D.names))),
        _bytes_row(stored, dense),
    ], blocks)


def hessian_html(H) -> str:
    """The HTML summary of a ``Hessian``."""
    return _table("tensorjac.Hessian", [
        ("out_shape", html.escape(str(H.out_shape))),
        ("in_shapes", html.escape(str(H.in_shapes))),
        ("shape", html.escape(f"{H.shape}, {H.dtype}" + (", symmetric" if H.symmetric else ""))),
        ("structure", _structure(H._terms)),
        _bytes_row(H.nbytes, _dense_bytes(H)),
    ])


def hessian_blocks_html(HB) -> str:
    """The HTML summary of ``HessianBlocks``: one row per pair of arguments."""
    header = "".join(f"<th style='{_CELL}'>{h}</th>" for h in ("block", "shape", "structure", "stored", "dense"))
    body, stored, dense = "", 0, 0
    for i, p in enumerate(HB.names):
        for q in HB.names[i:]:
            H = HB[p, q]
            stored += H.nbytes
            dense += _dense_bytes(H)
            cells = (html.escape(f"d²/d{p} d{q}"), html.escape(str(H.shape)), _structure(H._terms),
                     human_bytes(H.nbytes), human_bytes(_dense_bytes(H)))
            body += "<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>"
    pairs = f"<table style='{_STYLE}'><tr>{header}</tr>{body}</table>"
    return _table("tensorjac.HessianBlocks", [
        ("out_shape", html.escape(str(HB.out_shape))),
        ("arguments", html.escape(", ".join(HB.names))),
        _bytes_row(stored, dense),
    ], pairs)


def program_html(P) -> str:
    """The HTML summary of a printable program: its text, the bytes of its Jacobian blocks, the costs."""
    stored = dense = blocks = 0
    for eq in P.call.trace.equations:
        for J in eq.jacobians.values():
            blocks += 1
            stored += J.nbytes
            dense += _dense_bytes(J)
    inputs = ", ".join(f"{v.name}: {tuple(v.shape)}" for v in P.call.inputs)
    out = P.call.output
    pairs = [
        ("inputs", html.escape(inputs or "-")),
        ("output", html.escape(f"{out.name}: {tuple(out.shape)}" if out is not None else "a constant")),
        ("equations", str(len(P.call.trace.equations))),
        ("Jacobian blocks", html.escape(f"{blocks}; {human_bytes(stored)} stored / {human_bytes(dense)} dense")),
    ]
    if P.costs:
        pairs.append(("order", html.escape(f"{P.order!r}, chosen: {P.chosen}")))
    for name, (flops, largest) in P.costs.items():
        pairs.append((f"{name} cost", html.escape(f"{flops:,} flops, largest intermediate {largest:,}")))
    text = f"<pre style='font-size:12px'>{html.escape(str(P))}</pre>"
    return _table("tensorjac.Program", pairs, text)
