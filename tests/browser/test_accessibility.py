"""Accessibility of the built book and the slides: axe-core in Chromium, with no network (issue 19).

Every HTML page of ``_build/html`` (the pages test_book_browser.py opens) and every deck of
``_build/slides`` is served on 127.0.0.1 and opened offline; once MathJax has typeset the page, axe-core
(the ``axe.min.js`` bundled by the PyPI package axe-playwright-python, injected into the page: nothing is
downloaded) runs its WCAG 2.x A/AA and best-practice rules.  The test asserts that no element violates a
rule with the impact "serious" or "critical"; the message names, for each violation, the page, the rule,
its impact, its help text and the first elements (CSS selectors), so that the cause can be found and
fixed in the book's sources (_config.yml, book/_static, book/_ext, tools/slides.py).

Colour contrast is checked on two elements of each combination of text colour, size, weight and background
(see SAMPLES below): the thousands of highlighted code tokens of a chapter share a few dozen, and checking
every one took 25 s a page.  A deck shows one slide at a time (reveal.js hides the others), so axe runs
on the deck as presented (the title slide, reveal.js's controls and slide number), then on the deck in
reveal.js's scroll view, where every slide is laid out at once.

Run with ``make browser-test`` after ``make book`` (or ``make book-ci``) and ``make slides``.
"""

from __future__ import annotations

import pathlib
import re
import time
from urllib.parse import urljoin

import pytest

from browser_support import HTML, OfflinePage, book_pages, decks, skip_or_fail

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the browser fixture skips (or fails) with the reason
    PlaywrightTimeout = TimeoutError

TIMEOUT_MS = 60_000
BOOK_VIEWPORT = {"width": 1440, "height": 900}
SLIDES_VIEWPORT = {"width": 1280, "height": 800}
IMPACTS = ("serious", "critical")  # what fails the test; "moderate" and "minor" are only counted
SHOWN_TARGETS = 5  # elements named per violation in the failure message

# Violations that are an artefact of the test, not of the book: {rule id: [(CSS selector, why)]}.  A node
# of that rule matching the selector is ignored; every other rule still runs on that element.
FALSE_POSITIVES: dict[str, list[tuple[str, str]]] = {}

REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="[^"]*url=([^"]+)"', re.I)


def redirects(page_path: str) -> bool:
    """index.html only sends the reader on (a meta refresh); the page it names is checked on its own."""
    return bool(REFRESH.search((HTML / page_path).read_text(encoding="utf-8", errors="replace")[:2000]))


PAGES = [p for p in book_pages() if not redirects(p)] or [None]  # None: skipped (or failed, when required)
DECKS = decks() or [None]

# axe.run on `context` (a CSS selector, or null for the whole document), returning only what the message
# needs.  `elementRef` lets the known false positives be matched on the element itself.  Colour contrast,
# by far the slowest rule (a chapter has thousands of highlighted code tokens: 25 s for one page), is
# checked on SAMPLES elements of each combination of text colour, font size, font weight, opacity and
# background (that of the nearest ancestor with one), a few dozen per page: they are marked, and the rule's
# selector is narrowed to them (axe.configure), so that a single axe.run does every rule.
SAMPLES = 2
AXE_JS = """async ({context, ignore, samples}) => {
  const root = context ? document.querySelector(context) : document;
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.backgroundImage !== 'none' || !/^(transparent|rgba\\(.*, 0\\))$/.test(style.backgroundColor))
        return `${style.backgroundColor} ${style.backgroundImage.slice(0, 80)}`;
    }
    return 'none';
  };
  // the elements with text of their own, longest text first within a combination: axe leaves one
  // character ("1", "/") undecided, so such a sample would check nothing
  const texts = new Map(), groups = new Map();
  const walker = document.createTreeWalker(context ? root : document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode())
    if (n.data.trim() && n.parentElement) texts.set(n.parentElement, (texts.get(n.parentElement) || 0) + n.data.trim().length);
  for (const [el, length] of texts) {
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const style = getComputedStyle(el);
    const key = [style.color, style.fontSize, style.fontWeight, style.opacity, background(el)].join('|');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push([Math.min(length, 2), el]);
  }
  document.querySelectorAll('[data-axe-sample]').forEach(el => el.removeAttribute('data-axe-sample'));
  for (const group of groups.values())
    group.sort((a, b) => b[0] - a[0]).slice(0, samples).forEach(([, el]) => el.setAttribute('data-axe-sample', ''));
  axe.configure({rules: [{id: 'color-contrast', selector: '[data-axe-sample]'}]});
  const results = await axe.run(root, {resultTypes: ['violations'], elementRef: true});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes
      .filter(n => !(ignore[v.id] || []).some(selector => n.element && n.element.matches(selector)))
      .map(n => ({impact: n.impact || v.impact,
                  target: n.target.map(t => [].concat(t).join(' >>> ')).join(' | ').replace(/\\[data-axe-sample=""\\]/g, ''),
                  summary: (n.failureSummary || '').split('\\n').slice(1, 2).join('').trim().slice(0, 160)})),
  })).filter(v => v.nodes.length);
}"""

MATHJAX_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
}"""

DECK_READY_JS = """async () => {
  if (!window.Reveal) return 'reveal.js is not loaded';
  if (!Reveal.isReady()) await new Promise(r => Reveal.on('ready', r));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});
  return '';
}"""

# reveal.js's scroll view (?view=scroll) lays every slide out, one under the other: one axe run sees them
# all.  The deck's own fitMath (tools/slides.py), which runs when a slide is shown, is run on each first.
FIT_ALL_JS = """async () => {
  if (typeof fitMath === 'function') Reveal.getSlides().forEach(slide => fitMath(slide));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return Reveal.getSlides().length;
}"""


@pytest.fixture(scope="session")
def axe_script() -> pathlib.Path:
    """axe.min.js as shipped inside the axe-playwright-python wheel (installed by ``make browser-test``)."""
    try:
        import axe_playwright_python
    except ImportError:
        skip_or_fail("axe-playwright-python is not installed (`make browser-test` installs it)")
    path = pathlib.Path(axe_playwright_python.__file__).with_name("axe.min.js")
    if not path.is_file():
        skip_or_fail(f"axe-playwright-python ships no {path.name} at {path}")
    return path



def run_axe(page, axe_script: pathlib.Path, context: str | None = None) -> list[dict]:
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(axe_script))
    ignore = {rule: [selector for selector, _ in entries] for rule, entries in FALSE_POSITIVES.items()}
    return page.evaluate(AXE_JS, {"context": context, "ignore": ignore, "samples": SAMPLES})


def report(where: str, violations: list[dict]) -> tuple[list[str], int]:
    """(one line per violation of impact serious or critical, the number of elements of the others)."""
    lines, minor = [], 0
    for v in violations:
        nodes = [n for n in v["nodes"] if n["impact"] in IMPACTS]
        minor += len(v["nodes"]) - len(nodes)
        if not nodes:
            continue
        impact = "critical" if any(n["impact"] == "critical" for n in nodes) else "serious"
        targets = "; ".join(n["target"] for n in nodes[:SHOWN_TARGETS])
        more = f" and {len(nodes) - SHOWN_TARGETS} more" if len(nodes) > SHOWN_TARGETS else ""
        lines.append(f"{where}: {v['id']} ({impact}, {len(nodes)} element(s)): {v['help']}\n"
                     f"      at {targets}{more}\n      {nodes[0]['summary']}")
    return lines, minor


@pytest.mark.parametrize("page_path", PAGES)
def test_page_accessibility(page_path, book_url, browser, axe_script):
    if page_path is None:
        skip_or_fail(f"no HTML page in {HTML}")
    start = time.perf_counter()
    offline = OfflinePage(browser, book_url, BOOK_VIEWPORT, TIMEOUT_MS)
    try:
        offline.page.goto(urljoin(book_url, page_path), wait_until="load")
        try:  # axe needs the DOM, not every request settled (3D views can keep the network busy)
            offline.page.wait_for_load_state("networkidle", timeout=15_000)
        except PlaywrightTimeout:
            pass
        offline.page.evaluate(MATHJAX_JS)
        problems, minor = report(page_path, run_axe(offline.page, axe_script))
    finally:
        offline.context.close()
    print(f"{page_path}: axe in {time.perf_counter() - start:.1f} s, {minor} moderate or minor element(s)")
    assert not problems, (f"{len(problems)} accessibility violation(s) of impact {' or '.join(IMPACTS)}:\n  "
                          + "\n  ".join(problems))


@pytest.mark.parametrize("deck", DECKS)
def test_deck_accessibility(deck, slides_url, browser, axe_script):
    if deck is None:
        skip_or_fail("no deck to check (run `make slides` first)")
    start = time.perf_counter()
    offline = OfflinePage(browser, slides_url, SLIDES_VIEWPORT, TIMEOUT_MS)
    page = offline.page
    try:
        page.goto(urljoin(slides_url, deck), wait_until="load")
        not_ready = page.evaluate(DECK_READY_JS)
        assert not not_ready, f"slides/{deck}: {not_ready}"
        problems, minor = report(f"slides/{deck}", run_axe(page, axe_script))  # the title slide, the controls
        page.goto(urljoin(slides_url, deck) + "?view=scroll", wait_until="load")
        not_ready = page.evaluate(DECK_READY_JS)
        assert not not_ready, f"slides/{deck}?view=scroll: {not_ready}"
        count = page.evaluate(FIT_ALL_JS)
        found, more = report(f"slides/{deck} (all {count} slides, scroll view)", run_axe(page, axe_script))
        problems += found
        minor += more
    finally:
        offline.context.close()
    print(f"slides/{deck}: axe in {time.perf_counter() - start:.1f} s, {minor} moderate or minor element(s)")
    assert not problems, (f"{len(problems)} accessibility violation(s) of impact {' or '.join(IMPACTS)}:\n  "
                          + "\n  ".join(problems))
