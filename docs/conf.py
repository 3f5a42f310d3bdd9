"""Sphinx configuration of restate-trio's documentation site (``nox -s docs`` builds it).

The build is offline: no intersphinx (its inventories are fetched from the web), diagrams are
Graphviz rendered to SVG at build time, and only references into ``restate_trio`` are checked
(``nitpicky``; names of trio, httpx or the standard library stay plain text).
"""

from __future__ import annotations

import sys
from pathlib import Path

import restate_trio

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "restate-trio"
author = "the restate-trio authors"
copyright = "the restate-trio authors"  # noqa: A001 (Sphinx's name)
release = restate_trio.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.graphviz",
    "sphinxcontrib_trio",
    # Ours: every Python code block is tested or marked illustrative; every public name is
    # in the reference.
    "checks",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README.md"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_css_files = ["checks.css"]

# -- checking ------------------------------------------------------------------------------
nitpicky = True
# Only our own names must resolve: without intersphinx, trio's, httpx's or the standard
# library's cannot.
nitpick_ignore_regex = [(r"py:.*", r"(?!restate_trio\b).*")]
# A private type in a public signature (HandlerDefinition.codecs): shown, not linked.
nitpick_ignore = [("py:class", "restate_trio._service.codec_choice.Codecs")]
myst_heading_anchors = 3
# `{.illustrative}` before a fenced block marks it (attrs_block); `:::` fences for directives.
myst_enable_extensions = ["attrs_block", "colon_fence", "deflist"]
suppress_warnings: list[str] = []

# -- reference -----------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_class_signature = "separated"
autodoc_default_options = {"members": True, "show-inheritance": True}
python_use_unqualified_type_names = True
python_maximum_signature_line_length = 88
napoleon_google_docstring = True
napoleon_numpy_docstring = False
highlight_language = "python"

# -- diagrams ------------------------------------------------------------------------------
graphviz_output_format = "svg"
graphviz_dot_args = [
    "-Gbgcolor=white",
    "-Gfontname=sans-serif",
    "-Nfontname=sans-serif",
    "-Efontname=sans-serif",
]

# -- HTML ----------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"restate-trio {release}"
html_show_sourcelink = False
html_copy_source = False
