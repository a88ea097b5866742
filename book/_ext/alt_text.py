"""Sphinx extension: every figure of a notebook page has alt text that says what it shows.

myst-nb renders a matplotlib output as an ``<img>`` whose alt text comes from the code cell's metadata::

    {"mystnb": {"image": {"alt": "Two panels: ... against ...; the ... falls as ..."}}}

Without it the image has no ``alt`` at all, and a screen reader says the file name (a hash) or nothing.  At
``doctree-resolved`` (after myst-nb chose the image among each output's mime types) this extension emits a
warning of type ``alt_text``, subtype ``missing``, for every image of a notebook page whose alt text is absent,
empty, or looks like a file name, with the document, the line and the notebook cell.  CI builds the book with
warnings as errors (``make book-ci``): a new figure without alt text fails the build.

The 3D views of molecules (py3Dmol) are HTML and JavaScript, not images: this check does not see them.
"""

from __future__ import annotations

import os
import re

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

# "fig.png", "_build/jupyter_execute/3f2a...9c.png", a bare sha256: what a missing alt text falls back to
FILE_NAME = re.compile(r"^[\w./\\-]*\.(png|jpe?g|gif|svg|pdf|webp|bmp|tiff?)$|^[0-9a-f]{32,}$", re.IGNORECASE)


def alt_problem(node: nodes.image) -> str | None:
    """Why the alt text of an image node is not alt text (None when it is)."""
    alt = node.get("alt")
    if alt is None:
        return "has no alt text"
    alt = str(alt).strip()
    if not alt:
        return "has an empty alt text"
    uri = str(node.get("uri", ""))
    if FILE_NAME.match(alt) or (uri and alt in {uri, os.path.basename(uri), os.path.splitext(os.path.basename(uri))[0]}):
        return f"has a file name as alt text ({alt!r})"
    return None


def notebook_cell(node: nodes.Node) -> int | None:
    """The index (from 0, in the .ipynb) of the notebook cell an output node belongs to."""
    while node is not None:
        if isinstance(node, nodes.container) and node.get("nb_element") == "cell_code":
            return node.get("cell_index")
        node = node.parent
    return None


def is_notebook_page(app, doctree: nodes.document, docname: str) -> bool:
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        return True
    # text notebooks (MyST Markdown with a kernelspec) hold code cells too
    return any(n.get("nb_element") == "cell_code" for n in doctree.findall(nodes.container))


def check_alt_text(app, doctree: nodes.document, docname: str) -> None:
    if not is_notebook_page(app, doctree, docname):
        return
    for image in doctree.findall(nodes.image):
        problem = alt_problem(image)
        if problem is None:
            continue
        cell = notebook_cell(image)
        where = f"the output of cell {cell}" if cell is not None else "an image"
        how = ('add {"mystnb": {"image": {"alt": "what the figure shows"}}} to the metadata of that code cell'
               if cell is not None else "write the alt text in the image's markup")
        logger.warning(f"figure without alt text: {where} of {docname} {problem}; {how}",
                       type="alt_text", subtype="missing", location=(docname, image.line))


def setup(app):
    app.connect("doctree-resolved", check_alt_text)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
