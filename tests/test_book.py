"""The book's structure: every page in the toc exists, every page is in the toc, and notebooks are
committed clean (no outputs), start with the Colab setup cell and import minignn."""

import json
import pathlib
import re

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SETUP_CELL_MARK = '"google.colab" in sys.modules'


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def resolve(entry: str) -> pathlib.Path:
    matches = [ROOT / f"{entry}{ext}" for ext in (".ipynb", ".md") if (ROOT / f"{entry}{ext}").exists()]
    assert len(matches) == 1, f"toc entry {entry!r} must name exactly one .ipynb or .md file, found {matches}"
    return matches[0]


def notebooks() -> list[pathlib.Path]:
    return [p for p in (resolve(f) for f in toc_files()) if p.suffix == ".ipynb"]


def test_every_toc_entry_exists():
    for entry in toc_files():
        resolve(entry)


def test_every_page_is_in_the_toc():
    listed = {resolve(f) for f in toc_files()}
    pages = {p for p in BOOK.rglob("*") if p.suffix in {".md", ".ipynb"} and ".ipynb_checkpoints" not in p.parts and not p.name.endswith(".nbmake.ipynb")}
    assert pages - listed == set(), f"pages not in _toc.yml: {sorted(str(p) for p in pages - listed)}"


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_clean(nb):
    """No outputs and no execution counts (CI executes notebooks in place only after this test ran)."""
    cells = json.loads(nb.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{nb.name}: cells {dirty} carry outputs or execution counts; strip them before committing"


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_notebook_starts_with_setup_cell_and_imports_minignn(nb):
    cells = json.loads(nb.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert code and SETUP_CELL_MARK in code[0], f"{nb.name}: the first code cell must be the Colab setup cell"
    assert '"minignn[book] @ git+' in code[0], f"{nb.name}: the setup cell must install minignn with the [book] extra"
    assert any(re.search(r"^\s*(import minignn|from minignn)", src, re.M) for src in code), f"{nb.name} imports nothing from minignn"


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_setup_cell_is_first_and_hidden_from_the_page(nb):
    """In Colab the install runs first; in the HTML the page opens with its title (the setup cell is removed there)."""
    cells = json.loads(nb.read_text())["cells"]
    assert cells[0]["cell_type"] == "code" and SETUP_CELL_MARK in "".join(cells[0]["source"]), \
        f"{nb.name}: the first cell must be the Colab setup cell"
    assert "remove-cell" in cells[0]["metadata"].get("tags", []), \
        f"{nb.name}: tag the setup cell 'remove-cell', or it renders above the chapter's title"
    assert cells[1]["cell_type"] == "markdown" and "".join(cells[1]["source"]).startswith("# "), \
        f"{nb.name}: the cell after the setup cell must be the markdown cell with the chapter's '# ' title"


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_notebook_runs_on_one_torch_thread(nb):
    """The import cell (the first code cell after setup) sets one torch thread.  The chapters' tensors are small: with
    two threads, the laplacian chapter took 92.7 s instead of 7.9 s while another job used the second core."""
    cells = json.loads(nb.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert len(code) > 1 and re.search(r"^torch\.set_num_threads\(1\)", code[1], re.M), \
        f"{nb.name}: the import cell (the code cell after the setup cell) must call torch.set_num_threads(1)"


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_notebook_has_no_machine_specific_paths(nb):
    src = nb.read_text()
    assert not re.search(r"(/tmp/|/root/|/home/|/Users/|/work/)", src), f"{nb.name} holds an absolute path"


# -- "Book:" back-links in the package ------------------------------------------------------------------------
BOOK_REF = re.compile(r'chapters? ([a-z0-9]+)(?:(?:, | and )([a-z0-9]+))*(?:, sections? ("[^"]+")(?: and ("[^"]+"))?)?')


def _headings(stem: str) -> set:
    path = ROOT / "book" / (f"{stem}.ipynb" if (ROOT / "book" / f"{stem}.ipynb").is_file() else f"{stem}.md")
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text()
    return {m.group(1).strip() for m in re.finditer(r"^#{1,4}\s+(.+)$", text, re.M)}


def book_lines():
    for path in sorted((ROOT / "minignn").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip().startswith("Book:"):
                yield f"{path.relative_to(ROOT)}:{number}", line.strip()


def test_every_book_line_names_a_chapter_and_sections_that_exist():
    """Docstrings end with ``Book: chapter <file>, section "<heading>".`` (or ``sections "A" and "B"``, several
    references separated by ``;``, or ``chapters a and b``): one format, and every heading exists in the book."""
    lines = list(book_lines())
    assert len(lines) > 100
    fmt = re.compile(r'^Book: (chapter [a-z0-9_]+(, sections? "[^"]+"( and "[^"]+")?)?|chapters [a-z0-9_]+(, [a-z0-9_]+)*'
                     r' and [a-z0-9_]+( \([^)]*\))?)(; chapter [a-z0-9_]+(, sections? "[^"]+"( and "[^"]+")?)?)*\.$')
    bad = [f"{where}: {line}" for where, line in lines if not fmt.match(line)]
    assert not bad, "Book: lines in another format:\n" + "\n".join(bad)
    missing = []
    for where, line in lines:
        for ref in line[len("Book: "):].rstrip(".").split("; "):
            chapters = re.findall(r"\b([a-z0-9_]+)(?=,|$| and| \()", ref.split(", section")[0].replace("chapters ", "").replace("chapter ", ""))
            for stem in chapters:
                if not ((ROOT / "book" / f"{stem}.ipynb").is_file() or (ROOT / "book" / f"{stem}.md").is_file()):
                    missing.append(f"{where}: no chapter {stem!r}")
            for section in re.findall(r'"([^"]+)"', ref):
                if section not in _headings(chapters[0]):
                    missing.append(f"{where}: chapter {chapters[0]} has no section {section!r}")
    assert not missing, "\n".join(missing)
