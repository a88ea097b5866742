"""The slides (tools/slides.py, `make slides`): a deck built from a tiny pre-executed notebook, with
stand-ins for the vendored reveal.js and MathJax (no network, no kernel, well under a second).  The decks
of the real chapters are opened in a browser by tests/browser/test_slides_browser.py."""

import base64
import html
import importlib.util
import io
import pathlib
import re
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("minignn_tools_slides", ROOT / "tools" / "slides.py")
slides = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
spec.loader.exec_module(slides)

# The smallest valid PNG (1x1 pixel), as a notebook stores it.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5b3d7d90000000049454e44ae426082")).decode()


def tiny_notebook(with_outputs: bool = True):
    v4 = nbformat.v4
    plumbing = v4.new_code_cell("import numpy as np\nSECRET_PLUMBING = 1", metadata={"tags": ["hide-input"]})
    removed = v4.new_code_cell("print('REMOVED_CELL')", metadata={"tags": ["remove-cell"]})
    code = v4.new_code_cell("x = np.arange(3)\nprint(x.sum())")
    plot = v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1])", metadata={"tags": ["hide-input"]})
    if with_outputs:
        code.outputs = [v4.new_output("stream", name="stdout", text="3\n")]
        plot.outputs = [v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    return v4.new_notebook(cells=[
        removed,
        v4.new_markdown_cell("# Tiny chapter\n\nA chapter about **nothing**, see {cite}`someone2020` and $x_i$."),
        plumbing,
        v4.new_markdown_cell("## First section\n\nThe rule of {doc}`graphs`:\n\n"
                             "$$\ny_j = \\sum_{i \\to j} x_i\n$$ (sum-rule)\n\nAs {eq}`sum-rule` says."),
        code,
        v4.new_markdown_cell("## Second section\n\nA picture, drawn by a hidden cell ({ref}`the text <target>`)."),
        plot,
    ])


def fake_vendor(root: pathlib.Path, missing: str | None = None) -> pathlib.Path:
    vendor = root / "vendor"
    for name in (*slides.REVEAL_FILES, slides.MATHJAX_FILE, "reveal/dist/theme/fonts/x/x.css"):
        if name != missing:
            (vendor / name).parent.mkdir(parents=True, exist_ok=True)
            (vendor / name).write_text("/* stand-in */\n")
    (vendor / "offline-assets.json").write_text('{"mathjax": "3.2.2", "3dmol": "2.5.5", "reveal": "5.2.1"}\n')
    return vendor


@pytest.fixture
def deck(tmp_path):
    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_notebook(), notebook)
    out = tmp_path / "slides"
    [path] = slides.build([notebook], out=out, vendor=fake_vendor(tmp_path), executed_dir=tmp_path / "none")
    return path, path.read_text()


def top_slides(page: str) -> list[str]:
    """The horizontal slides of a deck (each possibly a stack of vertical ones)."""
    body = page[page.index('<div class="slides">'):page.index("</div></div>")]
    return re.findall(r"^<section[^>]*>\n.*?^</section>$", body, re.S | re.M)


def test_one_slide_per_section_after_the_title(deck):
    _, page = deck
    found = top_slides(page)
    assert len(found) == 3, found
    assert "<h1>Tiny chapter</h1>" in found[0] and "<strong>nothing</strong>" in found[0]
    assert "<h2>First section</h2>" in found[1] and "<h2>Second section</h2>" in found[2]


def test_equation_without_its_label_and_code_with_output(deck):
    _, page = deck
    first = top_slides(page)[1]
    assert r'<div class="math display">\[y_j = \sum_{i \to j} x_i\]</div>' in first
    assert "(sum-rule)" not in first.split('<aside class="notes">')[0]
    assert "x = np.arange(3)" in first and '<pre class="output"><code>3</code></pre>' in first


def test_figure_written_next_to_the_deck(deck):
    path, page = deck
    second = top_slides(page)[2]
    [src] = re.findall(r'<img class="figure" src="([^"]+)"', second)
    assert (path.parent / src).read_bytes() == base64.b64decode(PNG)


def test_hidden_and_plumbing_cells_and_myst_roles_are_gone(deck):
    _, page = deck
    assert "SECRET_PLUMBING" not in page and "REMOVED_CELL" not in page and "plt.plot" not in page
    assert not re.search(r"\{(cite|doc|eq|ref)[^}]*\}`", page), "a MyST role is left on a slide"
    assert "$$" not in page
    text = html.unescape(page)
    assert "[someone2020]" in text and "the text" in text and r"\(x_i\)" in text


def test_assets_index_and_notes(deck):
    path, page = deck
    out = path.parent
    for name in (*slides.REVEAL_FILES, slides.MATHJAX_FILE):
        assert (out / "_assets" / name).is_file(), name
    for name in ("reveal/dist/reveal.js", "reveal/dist/reveal.css", "reveal/dist/theme/white.css", slides.MATHJAX_FILE):
        assert f'"_assets/{name}"' in page, name
    assert 'href="tiny.html"' in (out / "index.html").read_text()
    assert '<aside class="notes">' in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "a deck must load nothing from the network"


def test_missing_reveal_asset_says_which_and_how_to_get_it(tmp_path):
    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_notebook(), notebook)
    vendor = fake_vendor(tmp_path, missing="reveal/dist/reveal.js")
    with pytest.raises(slides.SlidesError, match=r"reveal/dist/reveal\.js.*make vendor"):
        slides.build([notebook], out=tmp_path / "slides", vendor=vendor, executed_dir=tmp_path / "none")
    stderr = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, stderr
    try:
        code = slides.main(["--out", str(tmp_path / "slides"), "--vendor", str(vendor), str(notebook)])
    finally:
        sys.stderr = sys_stderr
    assert code == 1 and "reveal/dist/reveal.js" in stderr.getvalue() and "make vendor" in stderr.getvalue()


def test_outputs_of_make_book_are_used_when_the_notebook_has_none(tmp_path):
    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_notebook(with_outputs=False), notebook)
    executed = tmp_path / "jupyter_execute"
    executed.mkdir()
    nbformat.write(tiny_notebook(), executed / "tiny.ipynb")
    [path] = slides.build([notebook], out=tmp_path / "slides", vendor=fake_vendor(tmp_path), executed_dir=executed)
    assert '<img class="figure"' in path.read_text()


def test_chapters_are_the_notebooks_of_the_toc():
    names = [path.stem for path in slides.chapters()]
    assert names[:2] == ["graphs", "hypergraphs"] and "intro" not in names and "teachers" not in names
    assert all(path.suffix == ".ipynb" and path.is_file() for path in slides.chapters())


def test_a_section_of_text_only_shows_its_list_or_first_paragraph():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# T\n\nIntro.\n\n## Summary\n\n* one item, $a - b$,\n  continued - with a dash\n* two, see {doc}`mpnn`\n\n"
        "## Exercises\n\n```{admonition} Exercise 1 (quick): a question\nText.\n```\n")])
    chapter = slides.parse(nb, "t")
    summary, exercises = chapter.sections
    body, rich = slides.slide_body(summary, pathlib.Path("unused"), "s1", [], whole=False)
    assert not rich
    assert body == ('<ul><li>one item, <span class="math inline">\\(a - b\\)</span>, continued - with a dash</li>'
                    "<li>two, see mpnn</li></ul>")
    body, _ = slides.slide_body(exercises, pathlib.Path("unused"), "s2", [], whole=False)
    assert body == "<ul><li>Exercise 1 (quick): a question</li></ul>"


def test_outputs_older_than_the_notebook_are_not_used(tmp_path, monkeypatch):
    import os

    notebook = tmp_path / "tiny.ipynb"
    executed = tmp_path / "jupyter_execute"
    executed.mkdir()
    nbformat.write(tiny_notebook(), executed / "tiny.ipynb")
    nbformat.write(tiny_notebook(with_outputs=False), notebook)
    os.utime(executed / "tiny.ipynb", (1_000_000, 1_000_000))  # `make book` ran before the notebook changed
    ran = []
    monkeypatch.setattr("nbclient.NotebookClient.execute", lambda self, **kw: ran.append(self.nb))
    slides.build([notebook], out=tmp_path / "slides", vendor=fake_vendor(tmp_path), executed_dir=executed)
    assert len(ran) == 1 and (tmp_path / "slides" / "executed" / "tiny.ipynb").is_file()
