"""What the browser test's conftest and test modules share: where the built book and the slides
are, the list of their pages, the Chromium flags, the skip-or-fail rule, a local HTTP server, and the
table of results printed at the end."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import pathlib
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = pathlib.Path(os.environ.get("MINIGNN_BOOK_HTML", ROOT / "_build" / "html")).resolve()
# The decks of `make slides` (tools/slides.py), opened by test_slides_browser.py.
SLIDES = pathlib.Path(os.environ.get("MINIGNN_SLIDES_HTML", ROOT / "_build" / "slides")).resolve()
SCREENSHOTS = pathlib.Path(os.environ.get("MINIGNN_SCREENSHOTS", HTML.parent / "screenshots")).resolve()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium as root in a container, with no network but loopback: no sandbox, no GPU
# (WebGL through SwiftShader, in software), and none of Chromium's own background connections.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
REQUIRED = os.environ.get("MINIGNN_BROWSER_TEST_REQUIRED") == "1"
RESULTS: list[dict] = []  # one row per page, filled by the test, printed at the end
START = time.perf_counter()


def book_pages() -> list[str]:
    """Every HTML page of the built book (not the templates under _static/ or other _ folders)."""
    if not HTML.is_dir():
        return []
    pages = []
    for path in HTML.rglob("*.html"):
        parts = path.relative_to(HTML).parts
        if not any(part.startswith(("_", ".")) for part in parts):
            pages.append(path.relative_to(HTML).as_posix())
    return sorted(pages)


def decks() -> list[str]:
    """Every deck of the built slides (``<chapter>.html``, not the index)."""
    if not SLIDES.is_dir():
        return []
    return sorted(p.name for p in SLIDES.glob("*.html") if p.name != "index.html")


def skip_or_fail(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (MINIGNN_BROWSER_TEST_REQUIRED=1)", pytrace=False)
    pytest.skip(reason)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (http.server's name)
        pass


@contextlib.contextmanager
def serve(directory: pathlib.Path, name: str = "server"):
    """Serve a folder on 127.0.0.1 and a free port; yields its base URL (ending with /)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class OfflinePage:
    """A page in a fresh browser context where only requests under ``base_url`` go through: the others are
    blocked and recorded (``outside``), as are the local requests (``local_requests``), the failed local ones
    (``failed``: network errors, status >= 400) and the console and uncaught page errors (``console_errors``)."""

    def __init__(self, browser, base_url: str, viewport: dict, timeout_ms: int):
        self.base_url = base_url
        self.outside, self.failed, self.console_errors, self.local_requests = [], [], [], []
        self.context = browser.new_context(viewport=viewport, service_workers="block")
        self.context.set_default_timeout(timeout_ms)
        self.context.route("**/*", self._route)
        self.page = page = self.context.new_page()
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}") if r.url.startswith(base_url) else None)
        page.on("response", lambda r: self.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None)
        page.on("console", lambda m: self.console_errors.append(f"{m.text} ({m.location.get('url', '')})")
                if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base_url):
            self.local_requests.append(url)
            route.continue_()
        else:
            self.outside.append(url)
            route.abort("blockedbyclient")

    def problems(self) -> list[str]:
        """The recorded requests to other hosts, failed requests and console errors, one line each."""
        return ([f"request to another host (blocked): {u}" for u in self.outside]
                + [f"failed request: {f}" for f in self.failed]
                + [f"console error: {e}" for e in self.console_errors])
