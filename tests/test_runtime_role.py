"""The role {runtime}`book/qm7` of book/_ext/runtime_note.py: a chapter's measured execution time, quoted on another
page (the teachers' schedules), never typed by hand.

Each test builds a tiny Sphinx project in a temporary folder (myst-nb, execution off): two notebooks, one Markdown
page quoting them, and a fake ``_build/runtimes.json`` as ``make test`` writes it."""

import datetime
import io
import json
import pathlib
import re
import sys

import nbformat
import pytest

sphinx_application = pytest.importorskip("sphinx.application")
pytest.importorskip("myst_nb")
from sphinx.errors import SphinxError  # noqa: E402
from sphinx.util.docutils import docutils_namespace  # noqa: E402

EXT = pathlib.Path(__file__).resolve().parents[1] / "book" / "_ext"
sys.path.insert(0, str(EXT))
import runtime_note  # noqa: E402  (book/_ext is not a package)

CONF = f"""
import sys
sys.path.insert(0, {str(EXT)!r})
extensions = ["myst_nb", "runtime_note"]
nb_execution_mode = "off"
exclude_patterns = ["_build"]
runtime_note_file = "_build/runtimes.json"
"""


def notebook(title: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nText."), nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def write_runtimes(src: pathlib.Path, seconds: dict) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    runs = {name: {"seconds": s, "cpu_cores": 2, "measured_at": now, "by": "nbmake"} for name, s in seconds.items()}
    (src / "_build").mkdir(exist_ok=True)
    (src / "_build" / "runtimes.json").write_text(json.dumps({"notebooks": runs}))


def project(tmp_path: pathlib.Path, page: str) -> pathlib.Path:
    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    (src / "conf.py").write_text(CONF)
    (src / "index.md").write_text("# Index\n\n```{toctree}\nbook/qm7\nbook/graphs\nbook/teachers\n```\n")
    (src / "book" / "qm7.ipynb").write_text(notebook("QM7"))
    (src / "book" / "graphs.ipynb").write_text(notebook("Graphs"))
    (src / "book" / "teachers.md").write_text(page)
    return src


def build(src: pathlib.Path, warningiserror: bool = False, fresh: bool = True, status: io.StringIO | None = None):
    """(the text of book/teachers.html without tags, the warnings); ``status`` receives Sphinx's progress output."""
    out, doctrees = src / "_build" / "html", src / "_build" / "doctrees"
    warnings, status = io.StringIO(), status if status is not None else io.StringIO()
    with docutils_namespace():  # each build registers its nodes and roles anew, as sphinx-build would
        app = sphinx_application.Sphinx(str(src), str(src), str(out), str(doctrees), "html", status=status,
                                        warning=warnings, freshenv=fresh, warningiserror=warningiserror)
        app.build()
    html = (out / "book" / "teachers.html").read_text()
    body = html.split('role="main"', 1)[-1]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body))
    return text, warnings.getvalue()


SCHEDULE = """# For teachers

| time | chapter | notebook runs in |
| --- | --- | --- |
| 9:00 | QM7 | {runtime}`book/qm7` |
| 10:00 | Graphs | {runtime}`book/graphs` |

The QM7 chapter runs in {runtime}`book/qm7` on the machine that built the book.
"""


def test_about_rounds_as_the_chapter_notes_do():
    assert [runtime_note.about(s) for s in (0.2, 8.9, 9.89, 18.08, 93.87, 230.41)] == [1, 9, 10, 20, 95, 230]


def test_the_role_renders_the_measured_time_and_says_what_is_not_measured(tmp_path):
    src = project(tmp_path, SCHEDULE)
    write_runtimes(src, {"book/qm7": 93.87})
    text, warnings = build(src)
    assert "runtime role" not in warnings and "WARNING" not in warnings, warnings
    assert "| 9:00" not in text  # the table is a table
    assert text.count("about 95 s") == 2  # in the table and in the sentence
    assert "Graphs not measured yet (run make test)" in text
    assert "{runtime}" not in text and "book/qm7" not in text


def test_without_any_measurement_every_chapter_reads_not_measured(tmp_path):
    src = project(tmp_path, SCHEDULE)
    text, warnings = build(src, warningiserror=True)  # no runtimes.json: no warning either
    assert text.count("not measured yet (run make test)") == 3
    assert "about" not in text


def test_a_new_measurement_reaches_the_page_without_a_fresh_build(tmp_path):
    """The page is read again when runtimes.json changes, though its own source did not."""
    src = project(tmp_path, SCHEDULE)
    write_runtimes(src, {"book/qm7": 93.87})
    assert "about 95 s" in build(src)[0]
    write_runtimes(src, {"book/qm7": 93.87, "book/graphs": 9.89})
    text, _ = build(src, fresh=False)
    assert "Graphs about 10 s" in text and "not measured" not in text


def test_a_page_is_read_again_with_the_notebooks_it_quotes(tmp_path):
    """A notebook read again in a build may have been executed again (make book): the page quoting it follows."""
    src = project(tmp_path, SCHEDULE)
    write_runtimes(src, {"book/qm7": 93.87})
    build(src)
    notebook_file = src / "book" / "graphs.ipynb"
    notebook_file.write_text(notebook("Graphs, again"))
    status = io.StringIO()
    build(src, fresh=False, status=status)
    read = re.findall(r"reading sources\.\.\. \[\s*\d+%\] (\S+)", re.sub(r"\x1b\[[0-9;]*m", "", status.getvalue()))
    assert sorted(read) == ["book/graphs", "book/teachers"], status.getvalue()


@pytest.mark.parametrize("target", ["book/qm77", "book/teachers", "qm7"])
def test_a_name_that_is_not_a_notebook_is_a_warning_naming_it(tmp_path, target):
    src = project(tmp_path, SCHEDULE + f"\nAnd {{runtime}}`{target}`.\n")
    write_runtimes(src, {"book/qm7": 93.87})
    _, warnings = build(src)
    lines = [line for line in warnings.splitlines() if "runtime role" in line]
    assert len(lines) == 1, warnings
    assert f"'{target}' is not a notebook of the book" in lines[0] and "book/graphs, book/qm7" in lines[0]
    assert "teachers.md:10: WARNING" in lines[0]  # where the role was written
    with pytest.raises(SphinxError, match=re.escape(target)):  # the book builds with warnings as errors
        build(src, warningiserror=True)
