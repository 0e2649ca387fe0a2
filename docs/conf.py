"""Sphinx configuration for swapkit's documentation site.

Build it (CI does, with warnings as errors):

    python -m pip install -e '.[docs]'
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages are the Markdown files of docs/, read by MyST-Parser, so the same files read well on
GitHub.  The API reference (docs/reference/) is generated from the docstrings by autodoc, with
napoleon for Google-style ``Args:`` / ``Returns:`` sections.

Docstrings are written Markdown-ish: `single backticks` name code (a class, a setting, an
expression), as on the Markdown pages.  In reStructuredText, single backticks are the
"default role", so ``default_role = "py:obj"`` reads them as cross-references: a name that is
documented (`SwapClient`, `errors.OutcomeUnknown`) becomes a link, and anything else
(`client.job(job_id)`, `max_cost_usd`) is shown as code without a warning, because nitpicky
mode stays off.  That keeps the docstrings as they are, rather than converting every one in an
``autodoc-process-docstring`` hook (which would have to guess at Markdown inside RST) or moving
to MyST docstrings with sphinx-autodoc2 (which has no napoleon).

The generated tables on the pages (the provider matrix, the error tree, the CLI help, the
policy table) are written into the Markdown files by ``python docs/_generate.py`` and checked
by tests/test_docs.py, so the site and GitHub show the same, current tables.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "src"))  # document the checkout, installed or not

from sphinx.ext import napoleon  # noqa: E402

import swapkit  # noqa: E402

project = "swapkit"
author = "the swapkit authors"
copyright = "the swapkit authors"
version = release = swapkit.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# -- MyST: GitHub-flavoured pages --------------------------------------------------------------
# Anchors as GitHub makes them, so `routing.md#4-the-failover-policy` works in both places.
myst_heading_anchors = 4

# -- autodoc -----------------------------------------------------------------------------------
default_role = "py:obj"  # `name` in a docstring: a link when documented, else code (see above)
nitpicky = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# The framework integrations import their framework; the site does not need them installed.
autodoc_mock_imports = ["django", "flask", "starlette", "opentelemetry", "prometheus_client"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
python_use_unqualified_type_names = True
python_maximum_signature_line_length = 88  # a longer signature gets one parameter a line

# -- HTML --------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"swapkit {release}"

# -- pages written by others later --------------------------------------------------------------
#: Pages index.md lists that may not exist yet: each is left out of the toctree until its file
#: is there, so adding the file is all it takes to publish it.
OPTIONAL_PAGES = ("testing", "reference/provider", "reference/testing")


def _drop_missing_pages(app: Any, docname: str, source: list[str]) -> None:
    if docname != root_doc:
        return
    missing = {page for page in OPTIONAL_PAGES if not (DOCS / f"{page}.md").exists()}
    lines = source[0].splitlines(keepends=True)
    source[0] = "".join(line for line in lines if line.strip() not in missing)


def _napoleon_except_attributes(app: Any, what: Any, *args: Any) -> None:
    """Napoleon for functions, classes and modules only.

    For an attribute or a property, napoleon reads ``text: more`` on the first line as
    ``type: description``, which turns prose such as "The item's key (None: unknown)" or
    "`scheme://host`" into a bogus type.  swapkit's attribute docstrings are prose, and their
    types come from the annotations.
    """
    if what not in {"attribute", "data", "property"}:
        napoleon._process_docstring(app, what, *args)


def _plain_annotation(text: str) -> str:
    """``Annotated[X, <pydantic metadata>]`` as ``X``, and ``~pkg.mod.Name`` as ``Name``.

    autodoc prints a pydantic field's constraints and, inside some generics, the ``~`` it
    uses for "show the short name" literally; the reader needs neither in a signature.
    """
    while (start := text.find("Annotated[")) != -1:
        depth, first_end, index = 0, None, start + len("Annotated[")
        for index in range(start + len("Annotated["), len(text)):
            char = text[index]
            if char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0 and first_end is None:
                first_end = index
        inner = text[start + len("Annotated[") : first_end or index]
        text = text[:start] + inner + text[index + 1 :]
    return re.sub(r"~(?:\w+\.)*(\w+)", r"\1", text)


def _plain_signature(
    app: Any,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    returns: str | None,
) -> tuple[str | None, str | None]:
    return (
        signature and _plain_annotation(signature),
        returns and _plain_annotation(returns),
    )


def setup(app: Any) -> None:
    app.connect("autodoc-process-signature", _plain_signature)
    app.connect("source-read", _drop_missing_pages)
    for listener in list(app.events.listeners["autodoc-process-docstring"]):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _napoleon_except_attributes)
