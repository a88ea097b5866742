"""Sphinx extension: small fixes to the HTML of every page, found by the browser test.

* Drop repeated ``<script>`` entries.  sphinx-thebe 0.3.1 and sphinx-togglebutton add an inline
  script while the documents are read, which Sphinx 7.4 records twice (once with filename
  ``None``, once with ``""``, so its own de-duplication misses it): every page carried
  ``const THEBE_JS_URL = ...`` twice, and the second copy threw "Identifier 'THEBE_JS_URL' has
  already been declared" in the browser.
* Give the entries of a bibliography the role ``listitem`` instead of ``doc-biblioentry``.  Docutils
  writes its citation list as ``<div role="list">`` of ``<div role="doc-biblioentry">``, a role that
  WAI-ARIA (DPUB-ARIA 1.1) deprecated: axe-core's test then finds a list whose children are no list
  items (rule aria-required-children, impact critical, on the bibliography page).
"""

from __future__ import annotations

import re

DEPRECATED_ROLE = re.compile(r'(<div class="citation"[^>]*\srole=")doc-biblioentry(")')


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # the copies differ only in filename None (builder) against "" (registry), both meaning inline
        key = (str(getattr(script, "filename", script) or ""), getattr(script, "priority", None),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def citation_list_items(html: str) -> str:
    """The HTML with each citation's deprecated role doc-biblioentry replaced by listitem."""
    return DEPRECATED_ROLE.sub(r"\1listitem\2", html)


def fix_citation_roles(app, pagename, templatename, context, doctree) -> None:
    if "doc-biblioentry" in context.get("body", ""):
        context["body"] = citation_list_items(context["body"])


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=900)  # after every extension added its own
    app.connect("html-page-context", fix_citation_roles)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
