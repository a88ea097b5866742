"""The built book in a real browser (Debian's Chromium driven by Playwright), with no network.

Every HTML page of ``_build/html`` is served on 127.0.0.1 and opened; any request to another
host is blocked and reported.  For each page it asserts:

* no request left the machine (plain navigation links, never fetched, are only counted),
  no local request failed (status >= 400 or network error), no console error, no page error,
  no web font that failed to load;
* every equation (``.math``) was typeset by MathJax (an ``mjx-container``, no ``mjx-merror``);
* every 3Dmol.js view has a canvas of non-zero size, fits in its output area, and its picture is not blank;
* every ``<img>`` loaded (``naturalWidth > 0``);
* every internal link resolves: the target file exists and so does its ``#anchor``;
* every chapter made from a notebook says how long it runs ("runs in about N s on 2 CPU cores",
  from the measured execution time, see book/_ext/runtime_note.py).

A full-page screenshot of each page goes to ``_build/screenshots/``, and a summary table (with
the time of each page and of the whole run) is printed at the end and saved beside them.
Run with ``make browser-test`` after ``make book`` or ``make book-ci``.
"""

from __future__ import annotations

import functools
import html.parser
import io
import pathlib
import re
import time
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from browser_support import HTML, RESULTS, OfflinePage, book_pages, skip_or_fail

TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1440, "height": 900}  # wide enough for both sidebars
BLANK_LEVEL = 247  # grey level from which a pixel counts as the white background (0-255)
MIN_DRAWN = 0.005  # a 3D view must colour at least 0.5 % of its pixels
RUNTIME_NOTE = re.compile(r"runs in about (\d+) s on (\d+) CPU cores?")


PAGES = book_pages() or [None]  # None: skipped (or failed, when required) with the reason


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            match = re.search(r"url=(.+)", attrs.get("content") or "", re.I)
            self.refresh = match.group(1).strip(" '\"") if match else None


@functools.lru_cache(maxsize=None)
def parse_page(path: pathlib.Path) -> _Anchors:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def local_file(url: str, base: str) -> pathlib.Path:
    """The file under _build/html that a URL of the local server points at."""
    path = unquote(urlsplit(url).path)[len(urlsplit(base).path):]
    target = HTML / path
    if path == "" or path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target


def check_links(hrefs: list[str], page_url: str, base: str, live_ids: set[str]) -> tuple[list[str], int, int]:
    """(problems, internal links checked, links to other sites)."""
    problems, internal, outside = [], 0, 0
    current = local_file(page_url, base)
    for href in hrefs:
        url = urljoin(page_url, href)
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):  # mailto:, javascript:, ...
            continue
        if not url.startswith(base):
            outside += 1
            continue
        internal += 1
        target = local_file(url, base)
        if not target.is_file():
            problems.append(f"broken link {href!r}: no file {target.relative_to(HTML)}")
            continue
        fragment = unquote(urlsplit(url).fragment)
        if not fragment or target.suffix != ".html":
            continue
        ids = parse_page(target).ids | (live_ids if target == current else set())
        if fragment not in ids:
            problems.append(f"broken link {href!r}: no anchor #{fragment} in {target.relative_to(HTML)}")
    return problems, internal, outside


MATH_JS = """async () => {
  const maths = Array.from(document.querySelectorAll('.math'));
  if (!maths.length) return {count: 0, unrendered: [], errors: []};
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise))
    return {count: maths.length, unrendered: ['MathJax is not loaded'], errors: []};
  await MathJax.startup.promise;
  return {
    count: maths.length,
    unrendered: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error') || e.textContent),
  };
}"""

IMAGES_JS = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  const settled = img => img.complete ? Promise.resolve() : new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); });
  await Promise.race([Promise.all(images.map(settled)), new Promise(r => setTimeout(r, 20000))]);
  return {count: images.length, broken: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.currentSrc || img.src)};
}"""

FONTS_JS = """async () => {
  await document.fonts.ready;
  return Array.from(document.fonts).filter(f => f.status === 'error').map(f => f.family);
}"""

VIEWERS_JS = """() => Array.from(document.querySelectorAll('div[id^="3dmolviewer_"]')).map(div => {
  // the nearest ancestor that clips or scrolls (a cell's output area): the part of the view beyond it is hidden
  let box = null;
  for (let p = div.parentElement; p && !box; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') box = p.getBoundingClientRect();
  }
  const r = div.getBoundingClientRect();
  return {
    id: div.id,
    canvases: Array.from(div.querySelectorAll('canvas')).map(c => [c.width, c.height, c.clientWidth, c.clientHeight]),
    warning: !!div.querySelector('[id^="3dmolwarning_"]'),
    width: r.width,
    hidden: box ? Math.max(0, r.right - box.right, box.left - r.left) : 0,
  };
})"""

VIEWERS_READY_JS = """() => Array.from(document.querySelectorAll('div[id^="3dmolviewer_"]')).every(d => d.querySelector('canvas'))"""


def drawn_fraction(png: bytes) -> float:
    """Share of pixels of a screenshot that are not (near) white."""
    from PIL import Image

    histogram = Image.open(io.BytesIO(png)).convert("L").histogram()  # 256 grey levels
    return sum(histogram[:BLANK_LEVEL]) / max(1, sum(histogram))


def check_viewers(page) -> tuple[list[str], int]:
    problems = []
    viewers = page.evaluate(VIEWERS_JS)
    if not viewers:
        return problems, 0
    try:
        page.wait_for_function(VIEWERS_READY_JS, timeout=30_000)
    except Exception:  # playwright's TimeoutError
        problems.append("3Dmol.js views without a canvas after 30 s (3Dmol.js not loaded?)")
    for viewer in page.evaluate(VIEWERS_JS):
        name = f"3D view {viewer['id']}"
        if viewer["warning"]:
            problems.append(f"{name}: py3Dmol's '3Dmol.js failed to load' warning is shown")
        if not viewer["canvases"]:
            problems.append(f"{name}: no canvas")
            continue
        if viewer["hidden"] > 1:  # a view wider than the column: the reader sees part of it, or must scroll
            problems.append(f"{name}: {viewer['hidden']:.0f} of its {viewer['width']:.0f} px are cut off by the output "
                            f"area (make the view narrower)")
        for width, height, client_width, client_height in viewer["canvases"]:
            if min(width, height, client_width, client_height) <= 0:
                problems.append(f"{name}: a canvas of size {width}x{height} (shown {client_width}x{client_height})")
        element = page.locator(f"[id=\"{viewer['id']}\"]")
        fraction = 0.0
        for _ in range(10):  # 3Dmol.js draws on an animation frame after the model loads
            fraction = drawn_fraction(element.screenshot())
            if fraction >= MIN_DRAWN:
                break
            page.wait_for_timeout(300)
        if fraction < MIN_DRAWN:
            problems.append(f"{name}: blank picture ({fraction:.2%} of pixels drawn)")
    return problems, len(viewers)


@pytest.mark.parametrize("page_path", PAGES)
def test_page_in_browser(page_path, book_url, browser, screenshots_dir):
    if page_path is None:
        skip_or_fail(f"no HTML page in {HTML}")
    start = time.perf_counter()
    url = urljoin(book_url, page_path)
    offline = OfflinePage(browser, book_url, VIEWPORT, TIMEOUT_MS)
    context, page = offline.context, offline.page
    problems: list[str] = []
    try:
        page.goto(url, wait_until="load")
        redirect = parse_page(HTML / page_path).refresh
        if redirect:  # index.html sends the reader to the first page
            page.wait_for_url(urljoin(url, redirect), wait_until="load")
        page.wait_for_load_state("networkidle")
        math = page.evaluate(MATH_JS)
        problems += [f"equation not typeset: {text!r}" for text in math["unrendered"]]
        problems += [f"MathJax error: {text!r}" for text in math["errors"]]
        viewer_problems, views = check_viewers(page)
        problems += viewer_problems
        images = page.evaluate(IMAGES_JS)
        problems += [f"image not loaded: {src}" for src in images["broken"]]
        problems += [f"font not loaded: {family}" for family in page.evaluate(FONTS_JS)]
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
        live_ids = set(page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)"))
        link_problems, internal, nav_out = check_links(hrefs, page.url, book_url, live_ids)
        problems += link_problems
        notes = page.eval_on_selector_all(".runtime-note", "notes => notes.map(n => n.textContent)")
        runtime = ""
        if (HTML / "_sources" / page_path).with_suffix(".ipynb").is_file():  # a chapter made from a notebook
            found = [m for m in map(RUNTIME_NOTE.search, notes) if m]
            if len(notes) != 1 or not found:
                problems.append(f"expected one runtime note 'runs in about N s on C CPU cores', got {notes}")
            else:
                runtime = f"{found[0][1]} s"
        shot = screenshots_dir / (page_path.replace("/", "__").removesuffix(".html") + ".png")
        page.screenshot(path=str(shot), full_page=True)
        page.wait_for_load_state("networkidle")  # anything the screenshot's scrolling asked for
    finally:
        context.close()
    problems += offline.problems()
    RESULTS.append({
        "page": page_path, "time_s": f"{time.perf_counter() - start:.1f}", "math": math["count"],
        "views_3d": views, "images": images["count"], "links": internal, "nav_out": nav_out,
        "requests": len(offline.local_requests), "runtime": runtime, "problems": len(problems),
    })
    assert not problems, f"{page_path}:\n  " + "\n  ".join(problems)
