"""Sphinx configuration of tensorjac's documentation.

Build (warnings are errors):  python -m sphinx -W --keep-going -b html docs docs/_build/html

The figures of the pages are drawn at build time by ``docs/figures.py`` into ``docs/_generated``
(the benchmark chart too: ``bench/ratios.png``, or drawn from ``bench/results.md`` when it is
missing), so the pictures always show the code of the checkout.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # document this checkout, installed or not
sys.path.insert(0, HERE)
os.environ.setdefault("MPLBACKEND", "Agg")

import tensorjac  # noqa: E402

project = "tensorjac"
author = "the tensorjac developers"
copyright = "the tensorjac developers, MIT license"
release = version = tensorjac.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields: no duplicate descriptions of dataclass fields
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}

html_theme = "furo"
html_title = f"tensorjac {release}"
html_static_path = ["_static"]


def _figures(app):
    import figures

    figures.build_all(os.path.join(HERE, "_generated"))


def setup(app):
    app.connect("builder-inited", _figures)
