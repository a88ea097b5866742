"""Sphinx extension: small fixes to the HTML of every page, found by the browser test.

* Drop repeated ``<script>`` entries.  sphinx-thebe 0.3.1 and sphinx-togglebutton add an inline
  script while the documents are read, which Sphinx 7.4 records twice (once with filename
  ``None``, once with ``""``, so its own de-duplication misses it): every page carried
  ``const THEBE_JS_URL = ...`` twice, and the second copy threw "Identifier 'THEBE_JS_URL' has
  already been declared" in the browser.
"""

from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=900)  # after every extension added its own
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
