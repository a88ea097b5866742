"""Sphinx extension: "This chapter runs in about N s on 2 CPU cores" under each notebook's title.

The number is measured, never typed: it is the execution time of the notebook in the last
run that executed it, whichever is newer of

* this build's own execution (myst-nb records it when ``execute_notebooks`` is on, as in
  ``make book``), and
* the JSON file ``runtime_note_file`` (default ``_build/runtimes.json``) written by the pytest
  plugin ``nb_runtimes`` when ``make test`` executes every notebook with nbmake (CI then builds
  the book from those outputs with execution off).

A notebook with no measurement gets no note.
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


def setup(app):
    app.add_config_value("runtime_note_file", "_build/runtimes.json", "html")
    app.connect("doctree-resolved", add_note)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
