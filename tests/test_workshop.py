"""Exercises and workshop notebooks (tools/workshop.py): the convention in every chapter, the workshop
version of each chapter, and, by executing each chapter, that every stub fails its check and every
solution passes it.  The convention is written at the top of tools/workshop.py."""

import importlib.util
import re
import pathlib
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("minignn_tools_workshop", ROOT / "tools" / "workshop.py")
workshop = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
spec.loader.exec_module(workshop)

# Chapters still being written when the exercise convention came in.  Their structure test is an expected
# failure until they are converted; empty this list then.
IN_PROGRESS: set[str] = set()


def params():
    marks = lambda p: [pytest.mark.xfail(strict=False, reason=f"{p.stem}: still being written, exercises not converted")] \
        if p.stem in IN_PROGRESS else []  # noqa: E731
    return [pytest.param(p, id=p.stem, marks=marks(p)) for p in workshop.chapters(unlisted=True)]


def read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", params())
def test_chapter_follows_the_exercise_convention(path):
    problems = workshop.problems(read(path))
    assert not problems, f"{path.name} breaks the exercise convention:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", params())
def test_workshop_notebook_has_stubs_and_the_same_checks(path):
    nb = read(path)
    pairs = [pair for e in workshop.exercises(nb) for pair in e.pairs]
    assert pairs, f"{path.name} has no solution + check cells"
    ws = workshop.workshop_notebook(nb, path.stem)
    sources = [c.source for c in ws.cells]
    for solution, check in pairs:
        stub = workshop.stub_source(nb.cells[solution])
        assert stub.startswith(workshop.STUB_NOTE)
        position = sources.index(stub)  # the stub replaces the solution, the check follows it unchanged
        assert ws.cells[position].metadata["tags"] == ["stub"] and "minignn" not in ws.cells[position].metadata
        assert sources[position + 1] == nb.cells[check].source and "check" in ws.cells[position + 1].metadata["tags"]
        assert nb.cells[solution].source not in sources
    assert not any(workshop.is_solution(c) for c in ws.cells)
    assert not any("{admonition} Answer" in c.source for c in ws.cells if c.cell_type == "markdown")
    assert all(c.outputs == [] and c.execution_count is None for c in ws.cells if c.cell_type == "code")
    assert ws.cells[0].source == nb.cells[0].source  # the Colab setup cell stays first
    nbformat.validate(ws)


def test_build_writes_one_notebook_per_chapter(tmp_path):
    chapters = workshop.chapters()
    written = workshop.build(tmp_path / "workshop", chapters)
    assert [p.name for p in written] == [p.name for p in chapters]
    assert all(p.parent == tmp_path / "workshop" for p in written)
    assert set(p.name for p in (tmp_path / "workshop").iterdir()) == {p.name for p in chapters} | {"README.md"}


def test_problems_catch_a_broken_exercise_section():
    """The structure check has teeth: each way of breaking the convention is reported."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

    def ex(n, kind):
        return f"```{{admonition}} Exercise {n} ({kind}): something\n:class: tip\nText.\n```"

    def notebook(*cells):
        return nbformat.v4.new_notebook(cells=list(cells))

    def tagged(source, tags, **meta):
        cell = code(source)
        cell.metadata["tags"] = tags
        cell.metadata.update(meta)
        return cell

    good = [md("## Exercises\n\n" + ex(1, "quick") + "\n\n" + ex(2, "coding")),
            tagged("f = lambda: 1", ["solution", "hide-cell"], minignn={"stub": "f = lambda: 0"}),
            tagged("assert f() == 1", ["check"]),
            md(ex(3, "open"))]
    assert workshop.problems(notebook(*good)) == []

    def problems_of(cells):
        return " | ".join(workshop.problems(notebook(*cells)))

    assert 'no "## Exercises" section' in problems_of([md(good[0].source.replace("## Exercises", ""))] + good[1:])
    assert "no open exercise" in problems_of(good[:3])
    assert "at least three exercises" in problems_of(good[:3])
    assert "has no solution + check cells" in problems_of([good[0], good[3]])
    assert "lacks the tags ['hide-cell']" in problems_of([good[0], tagged("f = 1", ["solution"]), good[2], good[3]])
    assert "holds asserts" in problems_of([good[0], tagged("assert 1", ["solution", "hide-cell"]), good[2], good[3]])
    assert "check cell 2 holds no assert" in problems_of([good[0], good[1], tagged("print(f())", ["check"]), good[3]])
    assert "must be visible" in problems_of([good[0], good[1], tagged("assert f()", ["check", "hide-cell"]), good[3]])
    assert "numbered 1, 2, ..." in problems_of([good[0], good[1], good[2], md(ex(5, "open"))])
    assert "not valid Python" in problems_of([good[0], tagged("f = 1", ["solution", "hide-cell"],
                                                              minignn={"stub": "def f(:"}), good[2], good[3]])
    assert "must end with its Exercises section" in problems_of(good + [md("## Summary")])
    assert "must read" in problems_of(good + [md("```{admonition} Exercise 4: untyped\nText.\n```")])
    # the stub: from the metadata, or the default one; always under the note
    assert workshop.stub_source(good[1]) == workshop.STUB_NOTE + "\nf = lambda: 0"
    assert workshop.stub_source(code("x = 1")) == workshop.STUB_NOTE + "\n" + workshop.DEFAULT_STUB


@pytest.mark.parametrize("path", params())
def test_every_stub_fails_and_every_solution_passes(path):
    """Executes the chapter once (one kernel): at each exercise stub -> check must raise, solution -> check must pass."""
    problems = [p for p in workshop.problems(read(path)) if "solution cell" in p or "check cell" in p or "coding" in p]
    if problems and path.stem in IN_PROGRESS:
        pytest.xfail(f"{path.stem} is not converted yet: {problems[0]}")
    results = workshop.check(path, timeout=600, log=lambda *a: None)
    assert results, f"{path.name} has no exercise to check"
    bad = [str(r) for r in results if not r.ok]
    assert not bad, f"{path.name}:\n  " + "\n  ".join(bad)


# -- MyST -> plain Markdown (the workshop notebooks run in plain JupyterLab and Colab) ---------------------------
def context(**kwargs):
    return workshop.MystContext(**kwargs)


def test_admonitions_become_a_bold_title_and_a_blockquote():
    source = "\n".join([
        "Before.",
        "````{admonition} Exercise 2 (coding): nested fences",
        ":class: tip",
        "",
        "Outer text.",
        "",
        "```{note}",
        "Inner note.",
        "```",
        "",
        "```python",
        "x = {'a': 1}",
        "```",
        "````",
        "After.",
        ":::{admonition} A colon fence",
        ":class: dropdown",
        "Body of the colon fence.",
        ":::",
        "```{warning} Careful",
        "```",
    ])
    out = workshop.to_markdown(source, context())
    assert out.splitlines()[0] == "Before."
    assert "**Exercise 2 (coding): nested fences**\n\n> Outer text.\n>\n> **Note**\n>\n> > Inner note.\n" in out
    assert "> ```python\n> x = {'a': 1}\n> ```" in out  # a code fence inside: quoted, untouched
    assert "\nAfter.\n" in out
    assert "**A colon fence**\n\n> Body of the colon fence." in out
    assert "**Warning**\n\n> Careful" in out  # {note}, {warning}...: the argument is the first line of the body
    assert ":class:" not in out and "{" not in out.replace("{'a': 1}", "")
    assert workshop.myst_leftovers(out) == []
    # a YAML block of options, and a code fence outside any directive, are handled too
    yaml = workshop.to_markdown("```{admonition} T\n---\nclass: tip\n---\nBody.\n```", context())
    assert yaml == "\n**T**\n\n> Body.\n"
    fence = "```python\ns = '{eq}`x`'\n```"
    assert workshop.to_markdown(fence, context()) == fence


def test_equations_are_numbered_per_page_in_order_and_references_read_the_number():
    cells = ["Text.\n\n$$\na = 1\n$$ (first)\n\nSee {eq}`second` and {eq}`first`.",
             "$$b = 2$$ (second)\n\n$$c = 3$$\n\n$$d = 4$$ (third)"]
    numbers = workshop.number_equations(cells, prefix="2.")
    assert numbers == {"first": "2.1", "second": "2.2", "third": "2.3"}  # the unlabelled equation has no number
    ctx = context(equations=numbers)
    first, second = (workshop.to_markdown(c, ctx) for c in cells)
    assert "$$\na = 1\n\\tag{2.1}\n$$" in first and "See (2.2) and (2.1)." in first
    assert "$$b = 2 \\tag{2.2} $$" in second and "$$c = 3$$" in second and "$$d = 4 \\tag{2.3} $$" in second
    assert workshop.myst_leftovers(first + second) == []
    assert workshop.to_markdown("{eq}`nowhere`", ctx) == "(nowhere)"  # an unknown label: the label itself
    # inside an admonition (a blockquote) display math is written on one line: no "> " inside the TeX
    quoted = workshop.to_markdown("```{admonition} T\n$$\nx\n+ y\n$$ (sum)\n```", context(equations={"sum": "1.4"}))
    assert "> $$x + y \\tag{1.4}$$" in quoted
    # chapters are numbered as the book prints them: across the numbered parts of _toc.yml
    numbers = workshop.chapter_numbers()
    assert numbers["graphs"] == 1 and numbers["diffusion"] == 9 and "conventions" not in numbers


def test_citations_read_author_and_year(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("""
@article{one2020, author = {M{\\"u}ller, Klaus}, title = {One}, year = {2020}}
@article{two2021, author = {Kipf, Thomas N. and Welling, Max}, title = {Two}, year = {2021}}
@article{three2022, author = {von Lilienfeld, O. Anatole and Rupp, Matthias and Smith, Ann}, title = {Three},
         year = {2022}}
""")
    ctx = context(citations=workshop.bibliography(bib))
    assert workshop.to_markdown("as shown {cite}`one2020`.", ctx) == "as shown (Müller 2020)."
    assert workshop.to_markdown("{cite:p}`two2021, three2022`", ctx) == \
        "(Kipf and Welling 2021; von Lilienfeld et al. 2022)"  # 2 authors; 3 or more: et al.
    assert workshop.to_markdown("{cite:t}`one2020` shows", ctx) == "Müller (2020) shows"
    with pytest.raises(ValueError, match="nosuchkey"):
        workshop.to_markdown("{cite}`one2020,nosuchkey`", ctx)
    book = workshop.bibliography(ROOT / "book" / "references.bib")
    assert workshop.to_markdown("{cite}`gilmer2017mpnn`", context(citations=book)) == "(Gilmer et al. 2017)"
    assert book["gasteiger2020dimenet"] == ("Gasteiger et al.", "2020")
    assert book["geiger2022e3nn"] == ("Geiger and Smidt", "2022") and book["drautz2019ace"] == ("Drautz", "2019")


def test_doc_links_refs_and_targets():
    ctx = workshop.myst_context(read(ROOT / "book" / "scatter.ipynb"), "scatter")
    assert workshop.to_markdown("see {doc}`graphs`", ctx) == "see [Graphs](graphs.ipynb)"
    assert workshop.to_markdown("{doc}`this chapter <mpnn>`", ctx) == "[this chapter](mpnn.ipynb)"
    conventions = workshop.to_markdown("{doc}`conventions`", ctx)  # a .md page: the file in the repository
    assert conventions.startswith("[Conventions](https://") and conventions.endswith("/book/conventions.md)")
    assert workshop.to_markdown("(memory-picture)=\n## The memory picture\n\nIn {ref}`memory-picture`.", ctx) == \
        "## The memory picture\n\nIn *The memory picture*."
    assert workshop.to_markdown("{ref}`that section <memory-picture>`", ctx) == "that section"
    assert workshop.to_markdown("{math}`x^2`", ctx) == "$x^2$"
    for source, name in [("{doc}`nowhere`", "nowhere"), ("{glue}`x`", "{glue}"), ("{ref}`nowhere`", "nowhere"),
                         ("```{figure} a.png\n```", "{figure}"), (":::\nno directive\n:::", "without a {directive}")]:
        with pytest.raises(ValueError, match=name):
            workshop.to_markdown(source, ctx)


def test_myst_leftovers_catch_myst_only_syntax():
    for source in ["```{admonition} T", ":::{note}", "````{glue} x", "see {eq}`a`", "{cite:p}`k`", "$$ (label)",
                   "$$x$$ (label)", "(target)=", ":class: tip", "> :class: tip", "a {admonition} b"]:
        assert workshop.myst_leftovers(source), source
    assert workshop.myst_leftovers("**Exercise 1 (quick): x**\n\n> $a = \\{1\\}$, `d = {}`, (3.1)") == []


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The workshop notebooks of every chapter, built once (the book's notebooks must not change)."""
    before = {p: p.read_bytes() for p in (ROOT / "book").glob("*.ipynb")}
    out = tmp_path_factory.mktemp("workshop")
    written = workshop.build(out, workshop.chapters())
    assert {p: p.read_bytes() for p in (ROOT / "book").glob("*.ipynb")} == before
    return {p.stem: read(p) for p in written}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in workshop.chapters()])
def test_workshop_markdown_is_plain(path, built):
    """No MyST-only syntax survives in a workshop notebook; every admonition and exercise title does."""
    nb, ws = read(path), built[path.stem]
    assert any(workshop.myst_leftovers(source) for source in workshop._markdown_of(nb))  # the grep has teeth
    markdown = [c.source for c in ws.cells if c.cell_type == "markdown"]
    left = {i: workshop.myst_leftovers(source) for i, source in enumerate(markdown)}
    assert not any(left.values()), f"{path.name}: MyST-only syntax left: {[v for v in left.values() if v]}"
    text = "\n".join(markdown)
    ctx = workshop.myst_context(nb, path.stem)
    titles = [t for source in workshop._markdown_of(nb) for t in workshop._titles(source) if t != "Answer"]
    assert titles
    for title in titles:
        assert f"**{workshop.to_markdown(title, ctx)}**" in text, f"{path.name}: the title {title!r} is lost"
    for e in workshop.exercises(nb):
        assert f"**Exercise {e.number} ({e.kind})" in text and e.title in text
    assert "Answer" not in "\n".join(re.findall(r"^\*\*.*\*\*$", text, re.M))
    # the code cells are the book's, but for the stubs
    code = [c.source for c in nb.cells if c.cell_type == "code" and not workshop.is_solution(c)]
    assert [c.source for c in ws.cells if c.cell_type == "code" and "stub" not in c.metadata.get("tags", [])] == code
