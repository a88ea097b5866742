"""Sphinx extension: "This chapter runs in about N s on 2 CPU cores" under each notebook's title.

The number is measured, never typed: it is the execution time of the notebook in the last
run that executed it, whichever is newer of

* this build's own execution (myst-nb records it when ``execute_notebooks`` is on, as in
  ``make book``), and
* the JSON file ``runtime_note_file`` (default ``_build/runtimes.json``) written by the pytest
  plugin ``nb_runtimes`` when ``make test`` executes every notebook with nbmake (CI then builds
  the book from those outputs with execution off).

A notebook with no measurement gets no note.

The role ``{runtime}`book/qm7``` puts the same measured number anywhere else in the book ("about 95 s"): the
schedules of the teachers' page use it.  The role leaves a placeholder node when the page is read and fills it
in at ``doctree-resolved``, when every document has been read: during ``make book`` the notebooks execute while
they are read, so the measurement of a chapter may not exist yet when the page that quotes it is parsed.  A
chapter never measured reads "not measured yet (run ``make test``)"; a name that is not a notebook of the book
is a warning (an error in CI, which builds with warnings as errors).  A page that uses the role is read again
whenever a notebook it names is read again or ``runtime_note_file`` changes, so its numbers are never older
than the chapters' own notes.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def about(seconds: float) -> int:
    """A round number of seconds: 7, 15, 85, 120."""
    if seconds < 10:
        return max(1, round(seconds))
    if seconds < 100:
        return 5 * round(seconds / 5)
    return 10 * round(seconds / 10)


def measured_runs(app) -> dict:
    path = pathlib.Path(app.srcdir, app.config.runtime_note_file)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text()).get("notebooks", {})
    except ValueError as err:
        logger.warning(f"cannot read {path}: {err}", type="runtime_note")
        return {}


def runtime_of(app, docname: str) -> tuple[float, int] | None:
    """(seconds, cores) of the newest measurement of this notebook, or None."""
    candidates = []  # (timestamp, seconds, cores)
    nb_metadata = getattr(app.env, "nb_metadata", {}) or {}
    exec_data = nb_metadata.get(docname, {}).get("exec_data")
    if exec_data and exec_data.get("succeeded") and exec_data.get("runtime") is not None:
        candidates.append((exec_data.get("mtime", 0.0), exec_data["runtime"], cpu_cores()))
    run = measured_runs(app).get(docname)
    if run and run.get("seconds") is not None:
        try:
            stamp = datetime.datetime.fromisoformat(run["measured_at"]).timestamp()
        except (KeyError, TypeError, ValueError):
            stamp = 0.0
        candidates.append((stamp, float(run["seconds"]), int(run.get("cpu_cores", 0)) or None))
    if not candidates:
        return None
    _, seconds, cores = max(candidates, key=lambda c: c[0])
    return seconds, cores


def add_note(app, doctree, docname) -> None:
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    measured = runtime_of(app, docname)
    if measured is None:
        return
    seconds, cores = measured
    on = f" on {cores} CPU core{'s' if cores != 1 else ''}" if cores else ""
    text = f"This chapter runs in about {about(seconds)} s{on} (measured when the book was last built)."
    note = nodes.paragraph("", "", nodes.emphasis(text, text), classes=["runtime-note"])
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section.children or not isinstance(section[0], nodes.title):
        doctree.insert(0, note)
    else:
        section.insert(1, note)


# -- the role {runtime}`book/qm7` ---------------------------------------------------------------------
class runtime_placeholder(nodes.Inline, nodes.TextElement):
    """Where ``{runtime}`<docname>``` was written; replaced by its text at ``doctree-resolved``."""


def _references(env) -> dict:
    """docname -> the notebooks whose runtime it quotes (kept in the environment, merged across processes)."""
    if not hasattr(env, "runtime_role_references"):
        env.runtime_role_references = {}
    return env.runtime_role_references


def runtime_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{runtime}`book/qm7``` -> "about 95 s", the measured execution time of that notebook."""
    target = text.strip()
    node = runtime_placeholder(rawtext, "", target=target)
    node.source, node.line = inliner.reporter.get_source_and_line(lineno)
    env = getattr(inliner.document.settings, "env", None)
    if env is not None:
        _references(env).setdefault(env.docname, set()).add(target)
        env.note_dependency(env.config.runtime_note_file)  # relative to the source folder: re-read when it changes
    return [node], []


def runtime_text(app, target: str) -> list[nodes.Node] | None:
    """The nodes that replace ``{runtime}`target```, or None when ``target`` is not a notebook of the book."""
    if target not in app.env.found_docs or not str(app.env.doc2path(target)).endswith(".ipynb"):
        return None
    measured = runtime_of(app, target)
    if measured is None:
        return [nodes.Text("not measured yet (run "), nodes.literal("make test", "make test"), nodes.Text(")")]
    return [nodes.Text(f"about {about(measured[0])} s")]


def resolve_runtimes(app, doctree, docname) -> None:
    for node in list(doctree.findall(runtime_placeholder)):
        target = node["target"]
        replacement = runtime_text(app, target)
        if replacement is None:
            known = sorted(d for d in app.env.found_docs if str(app.env.doc2path(d)).endswith(".ipynb"))
            logger.warning(f"runtime role: {target!r} is not a notebook of the book (one of: {', '.join(known)})",
                           location=node, type="runtime_note", subtype="unknown_docname")
            replacement = [nodes.literal(target, target)]
        node.replace_self(replacement)


def reread_quoting_pages(app, env, added, changed, removed) -> list[str]:
    """Pages that quote a notebook read again in this build are read again too (their numbers change with it)."""
    fresh = set(added) | set(changed)
    return sorted(doc for doc, targets in _references(env).items() if targets & fresh or targets & set(removed))


def purge_references(app, env, docname) -> None:
    _references(env).pop(docname, None)


def merge_references(app, env, docnames, other) -> None:
    for docname in docnames:
        if docname in _references(other):
            _references(env)[docname] = _references(other)[docname]


def setup(app):
    app.add_config_value("runtime_note_file", "_build/runtimes.json", "html")
    app.connect("doctree-resolved", add_note)
    app.add_node(runtime_placeholder)
    app.add_role("runtime", runtime_role)
    app.connect("doctree-resolved", resolve_runtimes)
    app.connect("env-get-outdated", reread_quoting_pages)
    app.connect("env-purge-doc", purge_references)
    app.connect("env-merge-info", merge_references)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
