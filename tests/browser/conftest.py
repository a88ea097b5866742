"""Fixtures of the browser test: the built book served on 127.0.0.1, and Debian's Chromium driven
by Playwright.  Everything skips (with the reason) when the book is not built, Playwright is not
installed or Chromium is missing, unless MINIGNN_BROWSER_TEST_REQUIRED=1 (``make browser-test``,
CI), which turns each such skip into a failure."""

from __future__ import annotations

import functools
import http.server
import os
import threading
import time

import pytest

from browser_support import CHROMIUM, CHROMIUM_ARGS, HTML, RESULTS, SCREENSHOTS, SLIDES, START, serve, skip_or_fail


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (http.server's name)
        pass


@pytest.fixture(scope="session")
def book_url():
    """Base URL of ``_build/html`` served by Python's http.server on 127.0.0.1 and a free port."""
    if not (HTML / "index.html").is_file():
        skip_or_fail(f"no built book at {HTML} (run `make book` or `make book-ci` first)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def slides_url():
    """Base URL of the decks of ``make slides`` (``_build/slides``) served on 127.0.0.1."""
    if not (SLIDES / "index.html").is_file():
        skip_or_fail(f"no slides at {SLIDES} (run `make slides` first)")
    with serve(SLIDES, "slides-server") as url:
        yield url


@pytest.fixture()
def browser():
    """A fresh Chromium for every page.  With one browser for the whole session, the diffusion page (three
    WebGL views, one animated, in software rendering) never reached network idle after earlier pages, while
    alone it loads in 9 s; a fresh browser per page costs about a second."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright's Python package is not installed (`make browser-test` installs it)")
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    columns = [("page", "page"), ("time_s", "s"), ("math", "math"), ("views_3d", "3D"), ("images", "img"),
               ("links", "links"), ("nav_out", "ext.links"), ("requests", "requests"), ("runtime", "runs in"), ("problems", "problems")]
    rows = [[str(r.get(key, "")) for key, _ in columns] for r in sorted(RESULTS, key=lambda r: r["page"])]
    widths = [max(len(head), *(len(row[i]) for row in rows)) for i, (_, head) in enumerate(columns)]
    line = "  ".join(head.ljust(w) for (_, head), w in zip(columns, widths))
    lines = [line, "-" * len(line)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    total = time.perf_counter() - START
    lines.append(f"{len(RESULTS)} pages checked in {total:.1f} s (server, browser start and screenshots "
                 f"included); screenshots in {SCREENSHOTS}")
    terminalreporter.section("book in the browser")
    for text in lines:
        terminalreporter.write_line(text)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "summary.txt").write_text("\n".join(lines) + "\n")
