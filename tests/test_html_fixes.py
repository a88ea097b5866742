"""book/_ext/html_fixes.py: the small fixes to the HTML of every page (the browser tests found the causes)."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "book" / "_ext"))
import html_fixes  # noqa: E402

# what docutils 0.21 writes for a bibliography (sphinxcontrib-bibtex), one entry
CITATIONS = ('<div role="list" class="citation-list">\n<div class="citation" id="id3" role="doc-biblioentry">\n'
             '<span class="label"><span class="fn-bracket">[</span>BR09<span class="fn-bracket">]</span></span>\n'
             '<p>Blum and Reymond. <a class="reference external" href="https://doi.org/x">doi:x</a>.</p>\n</div>\n</div>')


def test_citations_become_list_items():
    fixed = html_fixes.citation_list_items(CITATIONS)
    assert 'role="doc-biblioentry"' not in fixed
    assert '<div class="citation" id="id3" role="listitem">' in fixed
    assert fixed.replace('role="listitem"', 'role="doc-biblioentry"') == CITATIONS  # nothing else changed


def test_the_page_body_is_fixed_and_other_pages_untouched():
    context = {"body": CITATIONS}
    html_fixes.fix_citation_roles(None, "book/bibliography", "page.html", context, None)
    assert 'role="listitem"' in context["body"]
    prose = {"body": "<p>The role doc-biblioentry is deprecated.</p>"}
    html_fixes.fix_citation_roles(None, "book/intro", "page.html", prose, None)
    assert prose["body"] == "<p>The role doc-biblioentry is deprecated.</p>"
    html_fixes.fix_citation_roles(None, "genindex", "genindex.html", {}, None)  # a page with no body
