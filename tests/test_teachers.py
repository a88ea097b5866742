"""The teachers' page (book/teachers.md, issue 19): in the appendix, schedules built from the measured runtimes of
every chapter, sections that exist, a note for every open exercise, and a cheat sheet whose names and calls are
those of the package."""

import importlib
import inspect
import pathlib
import re

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "teachers.md"
TEXT = PAGE.read_text()
SECTIONS = ("Before the day", "A one-day workshop", "A two-day workshop", "A short session",
            "Instructor notes for the open exercises", "Cheat sheet")
# How the page names each chapter in the headings of its notes.
CHAPTER_NAMES = {"graphs": "Graphs", "hypergraphs": "Hypergraphs", "laplacian": "Laplacian", "mpnn": "MPNN",
                 "scatter": "Scatter", "equivariance": "Equivariance",
                 "spherical": "Spherical harmonics", "qm7": "QM7", "diffusion": "Diffusion"}


def section(title: str) -> str:
    """The text of the '## title' section, up to the next '## ' heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.M | re.S)
    assert match, f"book/teachers.md has no section {title!r}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The cells of every row of the pipe tables in ``text`` (header and separator rows left out)."""
    rows = []
    for block in re.findall(r"(?:^\|.*\|\n)+", text, re.M):
        lines = block.splitlines()
        rows += [[cell.strip() for cell in line.strip()[1:-1].split("|")] for line in lines[2:]]  # no cell holds a |
    return rows


def chapters() -> list[str]:
    """The chapter notebooks of _toc.yml, as docnames (book/graphs, ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part.get("chapters", [])]
    return [f for f in files if (ROOT / f"{f}.ipynb").is_file()]


def headings(docname: str) -> list[str]:
    nb = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return [m.strip() for m in re.findall(r"^#{1,4}\s+(.+)$", text, re.M)]


def resolve(dotted: str):
    """The object named ``minignn.a.b.C`` (a module, or an attribute of the longest importable module prefix)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


# -- the page in the book -------------------------------------------------------------------------------------
def test_the_page_is_in_the_appendix_after_the_conventions():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (appendix,) = [part for part in toc["parts"] if part.get("caption") == "Appendix"]
    files = [c["file"] for c in appendix["chapters"]]
    assert files.index("book/teachers") == files.index("book/conventions") + 1
    assert TEXT.startswith("# For teachers\n")


def test_the_page_has_its_sections_in_order():
    found = re.findall(r"^## (.+)$", TEXT, re.M)
    assert [s for s in found if s in SECTIONS] == list(SECTIONS), found


def test_before_the_day_says_how_to_run_the_setup_check():
    text = section("Before the day")
    for needed in ("make check-setup", "python -m minignn.doctor", "minignn[book]", "MISSING", "optional",
                   "MINIGNN_DATA", "Colab", "make workshop"):
        assert needed in text, needed
    assert "check-setup:" in (ROOT / "Makefile").read_text()
    assert 'Book: chapter teachers, section "Before the day".' in (ROOT / "minignn" / "doctor.py").read_text()


# -- schedules ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("title", ["A one-day workshop", "A two-day workshop"])
def test_every_chapter_is_scheduled_with_its_measured_runtime(title):
    """Every chapter of the toc has a slot, and its runtime comes from the role, never from a number typed here."""
    rows = table_rows(section(title))
    assert rows and all(len(row) == 5 for row in rows), [row for row in rows if len(row) != 5]
    quoted = [re.fullmatch(r"\{runtime\}`([^`]+)`", row[4]) for row in rows if row[4]]
    assert all(m or row[4] == "run with the first half" for m, row in zip(quoted, [r for r in rows if r[4]])), \
        [row[4] for row in rows]
    quoted = [m.group(1) for m in quoted if m]
    assert sorted(set(quoted)) == sorted(chapters()), "a chapter of the toc has no slot, or a slot names no chapter"
    for row in rows:  # the row of a chapter quotes that chapter's runtime
        chapter = re.match(r"\{doc\}`([^`]+)`", row[1])
        runtime = re.fullmatch(r"\{runtime\}`([^`]+)`", row[4])
        if chapter and runtime:
            assert runtime.group(1) == f"book/{chapter.group(1)}", row
    assert not re.search(r"\d\s*(s|min|seconds|minutes)\b", " ".join(row[4] for row in rows))


def test_every_runtime_role_names_a_chapter_of_the_book():
    named = set(re.findall(r"\{runtime\}`([^`]+)`", TEXT))
    assert named and named <= set(chapters()), named - set(chapters())


def _time(clock: str) -> int:
    hours, minutes = clock.split(":")
    return 60 * int(hours) + int(minutes)


@pytest.mark.parametrize("title", ["A one-day workshop", "A two-day workshop", "A short session"])
def test_time_slots_follow_each_other_without_gaps(title):
    slots = [re.fullmatch(r"(\d+:\d\d)–(\d+:\d\d)", row[0]) for row in table_rows(section(title))]
    assert all(slots), [row[0] for row in table_rows(section(title))]
    days = [[]]
    for start, end in (map(_time, m.groups()) for m in slots):
        if days[-1] and start < days[-1][-1][1]:
            days.append([])  # a new table: the next day
        days[-1].append((start, end))
    for day in days:
        assert all(start < end for start, end in day)
        assert all(a[1] == b[0] for a, b in zip(day, day[1:])), day


@pytest.mark.parametrize("title", ["A one-day workshop", "A two-day workshop"])
def test_the_sections_a_schedule_names_exist(title):
    """'A; B' or 'A to B' name headings of the chapter (a name may be the start of a longer heading)."""
    missing = []
    for row in table_rows(section(title)):
        chapter = re.match(r"\{doc\}`([^`]+)`", row[1])
        if not chapter or row[2].startswith("all"):
            continue
        names = headings(f"book/{chapter.group(1)}")
        for item in row[2].split("; "):
            item = re.sub(r"\s*\([^)]*\)$", "", item)
            parts = [item] if any(h.startswith(item) for h in names) else item.split(" to ")
            missing += [f"{chapter.group(1)}: {p!r}" for p in parts if not any(h.startswith(p) for h in names)]
    assert not missing, missing


# -- open exercises -------------------------------------------------------------------------------------------
def open_exercises() -> list[tuple[str, str, str]]:
    """(chapter, number, title) of every exercise marked (open) in the chapters of the toc."""
    found = []
    for docname in chapters():
        nb = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for number, title in re.findall(r"^[`:]{3,}\{(?:admonition|exercise)\}\s*Exercise (\d+) \(open\):\s*(.+)$",
                                         text, re.M):
            found.append((docname.split("/")[-1], number, title.strip()))
    return found


def test_every_open_exercise_has_an_instructor_note():
    exercises = open_exercises()
    assert len(exercises) >= len(chapters())
    notes = re.findall(r"^### (.+)$", section("Instructor notes for the open exercises"), re.M)
    expected = [f"{CHAPTER_NAMES[chapter]}, exercise {number}: {title}" for chapter, number, title in exercises]
    assert notes == expected  # one note per open exercise, in the book's order, titled as in the chapter


def test_every_note_says_what_a_good_answer_is_the_pitfalls_and_the_discussion():
    notes = re.split(r"^### ", section("Instructor notes for the open exercises"), flags=re.M)[1:]
    for note in notes:
        title = note.splitlines()[0]
        assert "```{admonition} Instructor notes\n:class: dropdown\n" in note, title
        for part in ("**A good answer", "**Pitfalls.**", "**Discussion.**"):
            assert part in note, f"{title}: no {part}"


# -- cheat sheet ----------------------------------------------------------------------------------------------
def test_every_minignn_name_on_the_page_exists():
    names = set(re.findall(r"\bminignn(?:\.[A-Za-z_]\w*)+", TEXT))
    assert len(names) > 30
    missing = []
    for name in sorted(names):
        try:
            resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"book/teachers.md names what minignn does not have: {missing}"


def test_every_name_of_the_api_table_exists_in_its_module():
    rows = [row for row in table_rows(section("Cheat sheet")) if len(row) == 3 and row[1].startswith("`minignn.")]
    assert {row[0] for row in rows} >= set(CHAPTER_NAMES.values())
    missing = []
    for chapter, module, names in rows:
        module = importlib.import_module(module.strip("`"))
        for name in re.findall(r"`([A-Za-z_][\w.]*)`", names):
            try:
                resolve(f"{module.__name__}.{name}")
            except AttributeError:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, missing


def _arguments(call: str) -> tuple[list[str], list[str]]:
    """('model(x, pos, edge_index, batch=batch)') -> (['x', 'pos', 'edge_index'], ['batch'])."""
    inside = call[call.index("(") + 1:call.rindex(")")]
    pieces = [p.strip() for p in re.split(r",\s*(?![^()]*\))", inside) if p.strip()]
    positional = [p for p in pieces if "=" not in p]
    keywords = [p.split("=")[0] for p in pieces if "=" in p]
    assert pieces[:len(positional)] == positional, f"{call}: keywords before positional arguments"
    return positional, keywords


def test_the_calls_of_the_cheat_sheet_are_the_package_signatures():
    """Features, then positions, then edge_index, then keywords: as printed, and as the code has it."""
    rows = [row for row in table_rows(section("Cheat sheet")) if len(row) == 2 and row[0].startswith("`minignn.")]
    assert len(rows) >= 8
    for name, call in rows:
        target = resolve(name.strip("`"))
        call = re.match(r"`([^`]+)`", call).group(1)
        if call.startswith("model("):
            params = list(inspect.signature(target.forward).parameters)[1:]  # without self
        else:
            assert call.startswith(f"{target.__name__}("), (name, call)
            params = list(inspect.signature(target).parameters)
        positional, keywords = _arguments(call)
        assert params[:len(positional)] == positional, f"{name}: called as {call}, defined as {params}"
        assert set(keywords) <= set(params), f"{name}: {set(keywords) - set(params)} are not arguments"
