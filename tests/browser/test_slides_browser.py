"""The slides (``make slides``, tools/slides.py) in a real browser, with no network.

``_build/slides`` (or ``MINIGNN_SLIDES_HTML``) is served on 127.0.0.1; every request to another host
is blocked and reported.  Each deck is opened in Chromium and walked slide by slide (reveal.js's API,
vertical sub-slides included); it asserts:

* no request left the machine, no local request failed, no console error, no page error, no web font
  that failed to load;
* on every slide, every equation (``.math``) was typeset by MathJax (an ``mjx-container``, no
  ``mjx-merror``), and no raw TeX delimiter (``$$``, ``\\[``) or MyST role (``{cite}`...```) is left;
* on every slide, every display equation fits the slide's width, and every ``<img>`` loaded
  (``naturalWidth > 0``) and is shown with a non-zero size.

The index page must link every deck.  A screenshot of each slide goes to
``_build/screenshots/slides/``.  Skipped when the decks are not built (failed under
``MINIGNN_BROWSER_TEST_REQUIRED=1``, as ``make browser-test`` sets).
"""

from __future__ import annotations

import re
import time
from urllib.parse import urljoin

import pytest

from browser_support import RESULTS, SLIDES, OfflinePage, decks, skip_or_fail

TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1280, "height": 800}


DECKS = decks() or [None]  # None: skipped (or failed, when required) with the reason


READY_JS = """async () => {
  if (!window.Reveal) return 'reveal.js is not loaded';
  if (!Reveal.isReady()) await new Promise(r => Reveal.on('ready', r));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return 'MathJax is not loaded';
  await MathJax.startup.promise;
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});  // screenshots of whole slides
  return '';
}"""

COUNT_JS = "() => Reveal.getSlides().length"

GO_JS = """async (i) => {
  const slide = Reveal.getSlides()[i];
  const {h, v} = Reveal.getIndices(slide);
  Reveal.slide(h, v);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [h, v === undefined ? 0 : v];
}"""

SLIDE_JS = """async (i) => {
  const slide = Reveal.getSlides()[i];
  const maths = Array.from(slide.querySelectorAll('.math'));
  const images = Array.from(slide.querySelectorAll('img'));
  const settled = img => img.complete ? Promise.resolve() : new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); });
  await Promise.race([Promise.all(images.map(settled)), new Promise(r => setTimeout(r, 20000))]);
  const visible = slide.cloneNode(true);
  visible.querySelectorAll('aside.notes, mjx-assistive-mml, pre').forEach(n => n.remove());
  return {
    current: slide === Reveal.getCurrentSlide(),
    title: (slide.querySelector('h1, h2') || {textContent: '?'}).textContent.trim().slice(0, 60),
    math: maths.length,
    unrendered: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    errors: Array.from(slide.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error') || e.textContent),
    images: images.length,
    broken: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.currentSrc || img.src),
    wide: Array.from(slide.querySelectorAll('.math.display')).filter(m => m.scrollWidth > m.clientWidth + 1).map(m => m.textContent.slice(0, 60)),
    hidden: images.filter(img => { const b = img.getBoundingClientRect(); return !(b.width > 0 && b.height > 0); }).map(img => img.src),
    text: visible.textContent,
  };
}"""

FONTS_JS = """async () => {
  await document.fonts.ready;
  return Array.from(document.fonts).filter(f => f.status === 'error').map(f => f.family);
}"""

RAW = re.compile(r"\$\$|\\\[|\\\(|\{(?:cite|doc|eq|ref|numref)(?::\w+)?\}`")


def test_index_links_every_deck(slides_url):
    index = (SLIDES / "index.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="([^"]+\.html)"', index))
    assert linked == set(decks()), f"index.html links {sorted(linked)}, the decks are {decks()}"


@pytest.mark.parametrize("deck", DECKS)
def test_deck_in_browser(deck, slides_url, browser, screenshots_dir):
    if deck is None:
        skip_or_fail(f"no deck in {SLIDES} (run `make slides` first)")
    start = time.perf_counter()
    offline = OfflinePage(browser, slides_url, VIEWPORT, TIMEOUT_MS)
    context, page = offline.context, offline.page
    problems: list[str] = []
    shots = screenshots_dir / "slides"
    shots.mkdir(parents=True, exist_ok=True)
    maths = images = count = 0
    try:
        page.goto(urljoin(slides_url, deck), wait_until="load")
        not_ready = page.evaluate(READY_JS)
        if not_ready:
            problems.append(not_ready)
        else:
            count = page.evaluate(COUNT_JS)
            if count < 2:
                problems.append(f"{count} slide(s): expected a title slide and one per section")
            for i in range(count):
                h, v = page.evaluate(GO_JS, i)
                where = f"slide {h}.{v}"
                found = page.evaluate(SLIDE_JS, i)
                where += f" ({found['title']})"
                if not found["current"]:
                    problems.append(f"{where}: reveal.js did not show it")
                maths += found["math"]
                images += found["images"]
                problems += [f"{where}: equation not typeset: {t!r}" for t in found["unrendered"]]
                problems += [f"{where}: MathJax error: {t!r}" for t in found["errors"]]
                problems += [f"{where}: image not loaded: {src}" for src in found["broken"]]
                problems += [f"{where}: image shown with no size: {src}" for src in found["hidden"]]
                problems += [f"{where}: equation wider than the slide: {t!r}" for t in found["wide"]]
                raw = RAW.findall(found["text"])
                if raw:
                    problems.append(f"{where}: raw TeX or MyST left on the slide: {sorted(set(raw))}")
                page.screenshot(path=str(shots / f"{deck.removesuffix('.html')}-{h:02d}-{v:02d}.png"))
            problems += [f"font not loaded: {family}" for family in page.evaluate(FONTS_JS)]
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    problems += offline.problems()
    RESULTS.append({
        "page": f"slides/{deck} ({count} slides)", "time_s": f"{time.perf_counter() - start:.1f}", "math": maths,
        "views_3d": 0, "images": images, "links": "", "nav_out": "", "requests": len(offline.local_requests),
        "runtime": "", "problems": len(problems),
    })
    assert not problems, f"slides/{deck}:\n  " + "\n  ".join(problems)
