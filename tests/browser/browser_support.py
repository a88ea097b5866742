"""What the browser test's conftest and test module share: where the built book is, the
Chromium flags, the skip-or-fail rule, and the table of results printed at the end."""

from __future__ import annotations

import os
import pathlib
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = pathlib.Path(os.environ.get("MINIGNN_BOOK_HTML", ROOT / "_build" / "html")).resolve()
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


def skip_or_fail(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (MINIGNN_BROWSER_TEST_REQUIRED=1)", pytrace=False)
    pytest.skip(reason)
