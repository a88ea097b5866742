"""Exercises and workshop notebooks (tools/workshop.py): the convention in every chapter, the workshop
version of each chapter, and, by executing each chapter, that every stub fails its check and every
solution passes it.  The convention is written at the top of tools/workshop.py."""

import importlib.util
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
