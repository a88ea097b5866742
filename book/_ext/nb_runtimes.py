"""pytest plugin: record how long each notebook took to execute under nbmake.

Used by ``make test`` (``-p nb_runtimes --nb-runtimes=_build/runtimes.json``): after the
run, the JSON file maps each notebook (path without ``.ipynb``, relative to the rootdir,
e.g. ``book/graphs``) to the measured seconds of its execution and the number of CPU
cores it ran on.  The Sphinx extension ``runtime_note`` turns these numbers into the
"runs in about N s on 2 CPU cores" line at the top of each chapter.  Entries of notebooks
not run this time are kept, so running one notebook updates only its own entry.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib

import pytest


def cpu_cores() -> int:
    """Cores this process may run on (the container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pytest_addoption(parser):
    parser.addoption("--nb-runtimes", metavar="PATH", default=None,
                     help="write the execution time of each nbmake notebook to this JSON file")


def pytest_configure(config):
    config._nb_runtimes = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and report.passed and getattr(item, "nbmake", False):
        path = pathlib.Path(item.filename).resolve()
        try:
            key = path.relative_to(pathlib.Path(str(item.config.rootpath)).resolve())
        except ValueError:
            key = path
        item.config._nb_runtimes[key.with_suffix("").as_posix()] = round(report.duration, 2)


def pytest_sessionfinish(session):
    target = session.config.getoption("--nb-runtimes")
    measured = session.config._nb_runtimes
    if not target or not measured:
        return
    target = pathlib.Path(target)
    data = {}
    if target.exists():
        try:
            data = json.loads(target.read_text())
        except ValueError:
            data = {}
    notebooks = data.get("notebooks", {})
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for name, seconds in measured.items():
        notebooks[name] = {"seconds": seconds, "cpu_cores": cpu_cores(), "measured_at": now, "by": "nbmake"}
    data = {"notebooks": dict(sorted(notebooks.items()))}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1) + "\n")
