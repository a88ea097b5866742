"""The built pages carry none of the artefacts a reader should never see (issue 19, "No artefacts on the page").

Every HTML page of ``_build/html`` is parsed (no browser needed) and its visible text, the words a reader
sees, outputs of the executed cells included, is searched for:

* raw object reprs, ``<py3Dmol.view at 0x7f...>`` or any ``<... at 0x...>``;
* ``NaN`` or ``nan`` where a number should be (in a table cell or a cell's printed output; the prose and the
  code may name it): a dash says "not reported";
* absolute paths of the machine that built the book (``/root/``, ``/home/``, ``/tmp/``, ``/work/``,
  ``site-packages``, a Windows user folder);
* internal target lines ("target >= 1.5", "targets (the benchmark's own check)").

Runs with the browser test (``make browser-test``, after ``make book`` or ``make book-ci``), which
turns the skip for a missing build into a failure.
"""

from __future__ import annotations

import html.parser
import re

import pytest

from browser_support import HTML, skip_or_fail

PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
               if not p.relative_to(HTML).parts[0].startswith("_")) if HTML.is_dir() else []
CONTENT_PAGES = [p for p in PAGES if p not in ("genindex.html", "search.html")] or [None]

ARTEFACTS = {
    "a raw object repr": re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-fA-F]{6,}>"),
    "NaN where a number should be": re.compile(r"(?<![\w.])(?:NaN|nan)(?![\w(])"),
    "an absolute path of the build machine": re.compile(
        r"(?<![\w.])(?:/root/|/home/\w|/tmp/\w|/work/\w|/Users/\w|[A-Za-z]:\\Users\\)|site-packages"),
    "an internal target line": re.compile(r"\btargets? *(?:≥|>=)\s*\d|targets \(the benchmark"),
}


class VisibleText(html.parser.HTMLParser):
    """The text a reader sees, outside <script>, <style>, <head> and <template>: one ``(text, in_output)`` chunk per
    node, ``in_output`` when it is printed by a cell (myst-nb's ``cell_output``) or sits in a table cell."""

    HIDDEN = {"script", "style", "head", "template", "noscript"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden, self.divs, self.cells, self.chunks = 0, [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "div":
            self.divs.append("cell_output" in (dict(attrs).get("class") or "").split())
        elif tag in ("td", "th"):
            self.cells += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        elif tag == "div" and self.divs:
            self.divs.pop()
        elif tag in ("td", "th") and self.cells:
            self.cells -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.chunks.append((data, any(self.divs) or self.cells > 0))


def visible_text(markup: str) -> list[tuple[str, bool]]:
    parser = VisibleText()
    parser.feed(markup)
    return parser.chunks


def artefacts(chunks) -> list[str]:
    """``kind: the line`` for every artefact in ``chunks`` (a string: all of it printed output).  NaN is an
    artefact only in an output or a table cell: the prose and the code may name it."""
    if isinstance(chunks, str):
        chunks = [(chunks, True)]
    found = []
    for text, in_output in chunks:
        for line in text.splitlines():
            for kind, pattern in ARTEFACTS.items():
                if (in_output or kind != "NaN where a number should be") and pattern.search(line):
                    found.append(f"{kind}: {line.strip()[:160]}")
    return found


@pytest.mark.parametrize("bad, kind", [
    ("<py3Dmol.view at 0x7f3a2c1d9e50>", "a raw object repr"),
    ("<minignn.graph.Graph object at 0x7ffe12345678>", "a raw object repr"),
    ("EDM, live | 91.2 | NaN | 40.0", "NaN where a number should be"),
    ("novelty nan", "NaN where a number should be"),
    ("loaded /root/.cache/minignn/qm7.mat", "an absolute path of the build machine"),
    ("reading /work/shared/data/qm7.mat", "an absolute path of the build machine"),
    ("from .venv/lib/python3.11/site-packages/minignn/checkpoints", "an absolute path of the build machine"),
    ("speedup 1.2 (target ≥ 1.5)", "an internal target line"),
    ("targets (the benchmark's own check): mol_stability 44.9% < 60%", "an internal target line"),
])
def test_each_artefact_is_caught(bad, kind):
    assert [f.split(":")[0] for f in artefacts(f"an ordinary line\n{bad}\nanother one")] == [kind]


@pytest.mark.parametrize("good", [
    "The fold has 1433 molecules; MAE 0.79 kcal/mol", "torch.nan_to_num keeps finite values", "a finance table",
    "minignn/checkpoints/qm9_edm.pt: 713 kB", "python -m torch.distributed.run --nproc_per_node=2",
    "the target is invariant", "0x speedup", "the Nanotube", "https://github.com/minignn/minignn",
])
def test_ordinary_text_passes(good):
    assert artefacts(good) == []


def test_visible_text_leaves_out_scripts_and_styles_and_marks_outputs():
    page = ("<html><head><title>t</title><script>var x = NaN;</script></head><body><p>shown, NaN in prose</p>"
            "<style>.a{}</style><div class=\"cell docutils\"><div class=\"cell_input\"><pre>float('nan')</pre></div>"
            "<div class=\"cell_output docutils\"><pre>also &lt;shown&gt; nan</pre></div></div>"
            "<table><tr><td>NaN</td></tr></table></body></html>")
    chunks = visible_text(page)
    assert chunks == [("shown, NaN in prose", False), ("float('nan')", False), ("also <shown> nan", True), ("NaN", True)]
    assert artefacts(chunks) == ["NaN where a number should be: also <shown> nan", "NaN where a number should be: NaN"]


@pytest.mark.parametrize("page_path", CONTENT_PAGES)
def test_page_has_no_artefacts(page_path):
    if page_path is None:
        skip_or_fail(f"no built book at {HTML} (run `make book` or `make book-ci` first)")
    text = visible_text((HTML / page_path).read_text(encoding="utf-8"))
    found = artefacts(text)
    assert not found, f"{page_path}:\n" + "\n".join(found)
