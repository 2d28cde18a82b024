"""Jupyter summaries (tensorjac._display): ``_repr_html_`` gives shapes, structure and bytes, escaped."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import numpy as np

import tensorjac as tj
from tensorjac._display import human_bytes

rng = np.random.default_rng(0)


class _Checker(HTMLParser):
    """Collects the text and checks that every opened tag is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"</{tag}> closes nothing"

    def handle_data(self, data):
        self.text.append(data)


def text_of(markup: str) -> str:
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert not checker.stack, f"unclosed tags {checker.stack}"
    return " ".join(checker.text)


def test_jacobian_summary_has_shapes_structure_and_bytes():
    X = rng.normal(size=(512, 784))
    J = tj.jacobian(lambda W: X @ W)(np.zeros((784, 256)))
    text = text_of(J._repr_html_())
    assert "tensorjac.Jacobian" in text
    assert "(512, 256)" in text and "(784, 256)" in text and "131,072 x 200,704" in text
    assert "ac->ab|cb   (ac: (512, 784))" in text  # X[a,c] delta[b,b]: one stored factor, X
    assert "3.06 MiB stored / 196 GiB dense" in text
    assert "->" not in J._repr_html_().replace("-&gt;", "")  # escaped


def test_blocks_summary_has_one_row_per_argument():
    W, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    D = tj.jacobian(lambda W, b, x: np.tanh(W @ x + b), argnums=(0, 1))(W, b, np.ones(4))
    text = text_of(D._repr_html_())
    assert "tensorjac.Blocks (2 blocks)" in text and "out_shape (3,)" in text
    assert "W: (3, 4)" in text and "b: (3,)" in text
    dense = sum(D[n].size * 8 for n in D.names)
    assert f"/ {human_bytes(dense)} dense" in text


def test_hessian_and_hessian_blocks_summaries():
    H = tj.hessian(lambda x: np.sum(np.tanh(x) ** 2))(rng.normal(size=5))
    text = text_of(H._repr_html_())
    assert "tensorjac.Hessian" in text and "(5,)" in text and "symmetric" in text
    assert f"{human_bytes(H.nbytes)} stored / {human_bytes(25 * 8)} dense" in text
    HB = tj.hessian(lambda x, y: np.sum(x * y), argnums=(0, 1))(np.ones(2), np.ones(2))
    text = text_of(HB._repr_html_())
    assert "tensorjac.HessianBlocks" in text and "d²/dx dy" in text and "d²/dy dy" in text


def test_program_summary_has_the_program_shapes_and_costs():
    G = rng.normal(size=(3, 5))
    P = tj.make_program(lambda x: np.cos(np.sin(G @ x)))(rng.normal(size=5))
    markup = P._repr_html_()
    text = text_of(markup)
    assert "tensorjac.Program" in text and "a: (5,)" in text and "d: (3,)" in text
    assert "equations 3" in re.sub(r"\s+", " ", text)
    assert html.escape(str(P)) in markup  # the printed program, escaped
    for order in ("forward", "reverse", "optimal"):
        flops = P.costs[order][0]
        assert f"{order} cost {flops:,} flops" in re.sub(r"\s+", " ", text)


def test_human_bytes():
    assert human_bytes(512 * 256 * 784 * 256 * 8) == "196 GiB"
    assert human_bytes(1023) == "1023 B" and human_bytes(3 * 2**20) == "3 MiB"
