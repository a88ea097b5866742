"""Sphinx extension: the book's HTML loads MathJax and 3Dmol.js from its own ``_static``.

``make vendor`` (script ``.ci/vendor_assets.sh``) copies MathJax 3 and 3Dmol.js from the npm
registry into ``offline_assets_dir`` (default ``_build/_static_vendor``, git-ignored):

    _build/_static_vendor/mathjax/tex-mml-chtml.js   MathJax 3 (TeX + MathML input, CHTML
                                                     output, with its woff fonts and extensions)
    _build/_static_vendor/3dmol/3Dmol-min.js         3Dmol.js, the version py3Dmol asks for
    _build/_static_vendor/offline-assets.json        {"mathjax": "3.2.2", "3dmol": "2.5.5"}

When the copy is there, this extension adds the folder to ``html_static_path`` (Sphinx copies
it into ``_build/html/_static``), points ``mathjax_path`` at the local MathJax, and rewrites
the CDN address of 3Dmol.js that every py3Dmol view embeds in a notebook output into the
relative address of the local copy.  The HTML then renders with no network, and online
readers get the same files from the book's own site.

When the copy is missing (no npm on a reader's machine), the build warns and keeps the CDN
addresses: the book then needs the network to draw equations and 3D views.
"""

from __future__ import annotations

import json
import pathlib
import re

from sphinx.util import logging

logger = logging.getLogger(__name__)

MATHJAX_FILE = "mathjax/tex-mml-chtml.js"  # same bundle as Sphinx's default CDN address
THREEDMOL_FILE = "3dmol/3Dmol-min.js"
# py3Dmol.view(js=...) default: https://cdn.jsdelivr.net/npm/3dmol@2.5.5/build/3Dmol-min.js
THREEDMOL_CDN = re.compile(r"https?://cdn\.jsdelivr\.net/npm/3dmol@(?P<version>[^/\"']+)/build/3Dmol(?:-min)?\.js")


def vendor_dir(app) -> pathlib.Path:
    return pathlib.Path(app.srcdir, app.config.offline_assets_dir).resolve()


def configure(app, config) -> None:
    vendor = vendor_dir(app)
    missing = [name for name in (MATHJAX_FILE, THREEDMOL_FILE) if not (vendor / name).is_file()]
    if missing:
        app.offline_assets_versions = None
        logger.warning(
            f"offline assets not found ({', '.join(missing)} missing in {vendor}): MathJax and 3Dmol.js "
            "will load from a CDN, so equations and 3D views need the network. `make vendor` (needs npm) "
            "copies them.", type="offline_assets", subtype="missing")
        return
    versions_file = vendor / "offline-assets.json"
    app.offline_assets_versions = json.loads(versions_file.read_text()) if versions_file.is_file() else {}
    config.html_static_path = [*config.html_static_path, str(vendor)]
    config.mathjax_path = MATHJAX_FILE  # relative: Sphinx loads it from _static/
    logger.info(f"offline assets: MathJax {app.offline_assets_versions.get('mathjax', '?')} and "
                f"3Dmol.js {app.offline_assets_versions.get('3dmol', '?')} served from _static")


def rewrite_3dmol(app, pagename, templatename, context, doctree) -> None:
    """Point every py3Dmol view of the page at the local 3Dmol.js instead of the CDN."""
    if app.offline_assets_versions is None or "body" not in context:
        return
    body = context["body"]
    local = context["pathto"]("_static/" + THREEDMOL_FILE, 1)
    vendored = app.offline_assets_versions.get("3dmol")

    def local_url(match: re.Match) -> str:
        if vendored and match["version"] != vendored:
            logger.warning(f"{pagename}: a 3D view asks for 3Dmol.js {match['version']}, the book ships "
                           f"{vendored}; pin 3dmol to py3Dmol's version in the Makefile",
                           type="offline_assets", subtype="version")
        return local

    context["body"] = THREEDMOL_CDN.sub(local_url, body)


def setup(app):
    app.add_config_value("offline_assets_dir", "_build/_static_vendor", "html")
    # after sphinx.ext.mathjax registered mathjax_path; before the HTML builder reads html_static_path
    app.connect("config-inited", configure)
    app.connect("html-page-context", rewrite_3dmol)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
