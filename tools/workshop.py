"""Workshop notebooks from the book's chapters, and the check that every exercise stub fails and every solution passes.

    python tools/workshop.py                     # write workshop/<chapter>.ipynb for every chapter of _toc.yml
    python tools/workshop.py --out DIR book/graphs.ipynb
    python tools/workshop.py --check             # execute each chapter: stub + check must fail, solution + check must pass
    python tools/workshop.py --list              # the exercises of each chapter, and what breaks the convention

The exercise convention (the Exercises section that ends every chapter):

* Each exercise is a MyST admonition (or a sphinx-exercise ``{exercise}`` directive) in a markdown cell, titled
  ``Exercise <n> (<kind>): <title>`` with ``<kind>`` one of ``quick``, ``coding``, ``open``.  A chapter has at
  least three, with at least one of each kind.  A quick exercise may carry its answer in a
  ``{admonition} Answer`` with ``:class: dropdown``.
* A coding exercise is the last exercise of its markdown cell and is followed by one or more pairs of code cells:
  a SOLUTION cell tagged ``solution`` and ``hide-cell`` (collapsed in the HTML), then a CHECK cell tagged
  ``check`` (visible) holding the asserts.  Another exercise may have such pairs too.
* The solution cell keeps its stub in its metadata, ``{"minignn": {"stub": "<source>"}}``: typically the
  signature and docstring with ``raise NotImplementedError(...)``, or the variables set to a placeholder.
  Without it the stub is ``raise NotImplementedError("Exercise: write your solution here")``.

The workshop notebook of a chapter is the chapter with every solution cell replaced by its stub (under a note
telling the participant to replace it), the check cells kept, the answers of the quick exercises removed, and
no outputs.  ``--check`` runs each chapter in one kernel, cell after cell, and at each solution cell runs
stub -> check (the check must raise) then solution -> check (the check must pass), so the solution's
definitions are the ones the rest of the chapter sees.

This script lives in ``tools/``, not in the ``minignn`` package: it builds and checks the book (it needs
nbclient, a Jupyter kernel and the repository's ``_toc.yml``), which a user of the package never needs.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("quick", "coding", "open")
SOLUTION_TAGS = ("solution", "hide-cell")
CHECK_TAG = "check"
HIDING_TAGS = ("hide-cell", "hide-input", "remove-cell", "remove-input")
DEFAULT_STUB = 'raise NotImplementedError("Exercise: write your solution here")'
STUB_NOTE = "# Exercise: replace this stub with your solution, then run the check below"

_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\{(admonition|exercise)\}\s*(.*?)\s*$")
_TITLE = re.compile(r"^Exercise\s+(\d+)\s*\((\w+)\)\s*:?\s*(.*)$", re.IGNORECASE)
_EXERCISES_HEADING = re.compile(r"^##\s+Exercises\s*$", re.MULTILINE)
_SECTION_HEADING = re.compile(r"^##\s+\S", re.MULTILINE)


# -- the chapters ---------------------------------------------------------------------------------
def chapters(root: Path = ROOT, unlisted: bool = False) -> list[Path]:
    """The chapter notebooks of ``_toc.yml``, in the book's order (pages that are .md files are skipped).

    With ``unlisted``, the other notebooks of ``book/`` follow (tests use it: a chapter cannot escape them by
    missing from the toc).
    """
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                entries.append(item["file"])
            walk(item.get("sections"))
            walk(item.get("chapters"))

    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    listed = [root / f"{e}.ipynb" for e in entries if (root / f"{e}.ipynb").is_file()]
    if not unlisted:
        return listed
    return listed + sorted(p for p in (root / "book").glob("*.ipynb")
                           if p not in listed and not p.name.endswith(".nbmake.ipynb"))


# -- the exercises of a notebook ------------------------------------------------------------------
@dataclass
class Exercise:
    number: int
    kind: str
    title: str
    cell: int  # index of its markdown cell
    last_in_cell: bool = False
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (solution cell, check cell) indices

    def __str__(self) -> str:
        return f"Exercise {self.number} ({self.kind}): {self.title}"


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_solution(cell) -> bool:
    return cell.cell_type == "code" and "solution" in tags(cell)


def is_check(cell) -> bool:
    return cell.cell_type == "code" and CHECK_TAG in tags(cell)


def _titles(markdown: str) -> list[str]:
    return [m.group(3) for m in map(_DIRECTIVE.match, markdown.splitlines()) if m]


def exercises(nb) -> list[Exercise]:
    """Every ``Exercise <n> (<kind>)`` admonition of the notebook, with the solution/check pairs that follow it."""
    found: list[Exercise] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        here = []
        for title in _titles(cell.source):
            m = _TITLE.match(title)
            if m:
                here.append(Exercise(int(m.group(1)), m.group(2).lower(), m.group(3), index))
        if not here:
            continue
        here[-1].last_in_cell = True
        k = index + 1
        while k + 1 < len(nb.cells) and is_solution(nb.cells[k]) and is_check(nb.cells[k + 1]):
            here[-1].pairs.append((k, k + 1))
            k += 2
        found += here
    return found


def _has_assert(source: str) -> bool:
    """An ``assert`` statement, or a call of a function named ``assert...`` (e.g. minignn.testing.assert_euclidean)."""
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            if name.startswith("assert"):
                return True
    return False


def _strip_magics(source: str) -> str:
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def problems(nb) -> list[str]:
    """What in this notebook breaks the exercise convention (an empty list: nothing)."""
    out = []
    cells = nb.cells
    md = [(i, c) for i, c in enumerate(cells) if c.cell_type == "markdown"]
    heading = [i for i, c in md if _EXERCISES_HEADING.search(c.source)]
    exs = exercises(nb)
    if not heading:
        out.append('no "## Exercises" section')
    else:
        start = heading[-1]
        later = [i for i, c in md if i > start and _SECTION_HEADING.search(c.source)]
        if later:
            out.append(f'the chapter must end with its Exercises section, but cell {later[0]} opens another "##" section')
        early = [str(e) for e in exs if e.cell < start]
        if early:
            out.append(f"exercises before the Exercises section: {early}")
    bad_titles = [t for i, c in md for t in _titles(c.source)
                  if t.lower().startswith("exercise") and not _TITLE.match(t)]
    if bad_titles:
        out.append(f'exercise titles must read "Exercise <n> (quick|coding|open): <title>", got {bad_titles}')
    unknown = [str(e) for e in exs if e.kind not in KINDS]
    if unknown:
        out.append(f"exercise kinds must be one of {KINDS}: {unknown}")
    if len(exs) < 3:
        out.append(f"at least three exercises needed, found {len(exs)}")
    for kind in KINDS:
        if not any(e.kind == kind for e in exs):
            out.append(f"no {kind} exercise")
    numbers = [e.number for e in exs]
    if numbers != list(range(1, len(exs) + 1)):
        out.append(f"exercises must be numbered 1, 2, ... in order, got {numbers}")
    for e in exs:
        if e.kind == "coding" and not e.pairs:
            where = "it is not the last exercise of its cell" if not e.last_in_cell else \
                "the next cells must be a solution cell (tags solution, hide-cell) and a check cell (tag check)"
            out.append(f"{e} has no solution + check cells: {where}")
    paired = {k for e in exs for pair in e.pairs for k in pair}
    for i, cell in enumerate(cells):
        if is_solution(cell):
            missing = [t for t in SOLUTION_TAGS if t not in tags(cell)]
            if missing:
                out.append(f"solution cell {i} lacks the tags {missing}")
            if i not in paired:
                out.append(f"solution cell {i} is not directly after an exercise's markdown cell (or a previous "
                           "solution + check pair) or is not followed by a check cell (tag check)")
            if _has_assert(cell.source):
                out.append(f"solution cell {i} holds asserts: move them into the check cell after it")
            stub = cell.get("metadata", {}).get("minignn", {}).get("stub")
            if stub is not None:
                try:
                    compile(_strip_magics(stub), f"<stub of cell {i}>", "exec")
                except SyntaxError as err:
                    out.append(f"the stub of solution cell {i} is not valid Python: {err}")
        if is_check(cell):
            if "solution" in tags(cell) or any(t in tags(cell) for t in HIDING_TAGS):
                out.append(f"check cell {i} must be visible and not a solution (tags {tags(cell)})")
            if not _has_assert(cell.source):
                out.append(f"check cell {i} holds no assert (nor a call of an assert_... function)")
            if i not in paired:
                out.append(f"check cell {i} does not follow a solution cell")
    return out


# -- the workshop notebook ------------------------------------------------------------------------
def stub_source(cell) -> str:
    """What a participant sees instead of a solution cell: the note, then the stub."""
    stub = cell.get("metadata", {}).get("minignn", {}).get("stub") or DEFAULT_STUB
    return f"{STUB_NOTE}\n{stub.strip()}"


_ANSWER = re.compile(r"^(?P<fence>`{3,}|:{3,})\{admonition\}\s*Answer\b.*?^(?P=fence)\s*$\n?", re.M | re.S)


def workshop_notebook(nb, chapter: str):
    """The workshop version of a chapter notebook (a new notebook; ``nb`` is not changed)."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if is_solution(cell):
                cell.source = stub_source(cell)
                cell.metadata["tags"] = [t for t in tags(cell) if t not in SOLUTION_TAGS] + ["stub"]
                cell.metadata.pop("minignn", None)
        elif cell.cell_type == "markdown":
            cell.source = re.sub(r"\n{3,}", "\n\n", _ANSWER.sub("", cell.source)).strip("\n")
    note = nbformat.v4.new_markdown_cell(
        f"**Workshop version of the chapter *{chapter}*.**  Run the cells from top to bottom.  At each coding "
        "exercise the solution is replaced by a stub: write your solution in that cell, then run the check cell "
        "after it; it fails until your answer is right.  The solutions and the answers are in the book.")
    out.cells.insert(1, note)
    out.cells = [c for c in out.cells if not (c.cell_type == "markdown" and not c.source.strip())]
    return out


def build(out_dir: Path, notebooks: list[Path]) -> list[Path]:
    """Write ``out_dir/<name>.ipynb`` for each chapter notebook; warn about chapters that break the convention."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for problem in problems(nb):
            print(f"warning: {path.name}: {problem}", file=sys.stderr)
        title = next((re.sub(r"^#\s+", "", c.source.splitlines()[0]) for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)
        target = out_dir / path.name
        nbformat.write(workshop_notebook(nb, title), target)
        written.append(target)
    (out_dir / "README.md").write_text(
        "# Workshop notebooks\n\nGenerated by `make workshop` (`python tools/workshop.py`) from the book's chapters: "
        "each coding exercise's solution is replaced by a stub, and the check cell after it tells you whether your "
        "answer is right.  Do not edit these files in the repository: they are rewritten.\n\n"
        + "".join(f"- `{p.name}`\n" for p in written))
    return written


# -- the check ------------------------------------------------------------------------------------
class ExecutionFailed(RuntimeError):
    """A cell of the chapter (not an exercise's stub or check) raised."""


@dataclass
class Result:
    exercise: str
    solution_cell: int
    stub_error: str | None  # the error of the check cell after the stub (None: the check passed, which is wrong)
    solution_error: str | None  # the error of the check cell after the solution (None: passed, as it must)

    @property
    def ok(self) -> bool:
        return self.stub_error is not None and self.solution_error is None

    def __str__(self) -> str:
        stub = f"check fails ({self.stub_error})" if self.stub_error else "CHECK PASSES (it must fail)"
        sol = "check passes" if self.solution_error is None else f"CHECK FAILS ({self.solution_error})"
        return f"{self.exercise} [cell {self.solution_cell}]: stub -> {stub}; solution -> {sol}"


def _error(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename')}: {value[0][:120]}" if value else str(output.get("ename"))
    return None


def check(path: Path, timeout: int = 600, kernel_name: str = "python3", log=print) -> list[Result]:
    """Run the chapter in one kernel; at each solution cell run stub -> check, then solution -> check.

    Raises ValueError if the solution/check cells break the convention and ExecutionFailed if a cell of the
    chapter itself (or a solution cell) raises.  Returns one Result per solution cell.
    """
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    pairing = [p for p in problems(nb) if "solution cell" in p or "check cell" in p]
    if pairing:
        raise ValueError(f"{path.name}: cannot check the exercises: " + "; ".join(pairing))
    owner = {s: (str(e), c) for e in exercises(nb) for s, c in e.pairs}
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    client.reset_execution_trackers()
    results: list[Result] = []

    def run(cell, index):
        cell = copy.deepcopy(cell)
        client.execute_cell(cell, index)
        return _error(cell)

    start = time.perf_counter()
    with client.setup_kernel():
        index = 0
        while index < len(nb.cells):
            cell = nb.cells[index]
            if cell.cell_type != "code":
                index += 1
                continue
            if index in owner:
                name, check_index = owner[index]
                check_cell = nb.cells[check_index]
                run(nbformat.v4.new_code_cell(stub_source(cell)), index)  # a stub may raise by itself
                stub_error = run(check_cell, check_index)
                error = run(cell, index)
                if error:
                    raise ExecutionFailed(f"{path.name}: the solution cell {index} of {name} raised {error}")
                result = Result(name, index, stub_error, run(check_cell, check_index))
                log(f"  {path.name}: {result}")
                results.append(result)
                index = check_index + 1
                continue
            error = run(cell, index)
            if error:
                raise ExecutionFailed(f"{path.name}: cell {index} raised {error}\n{cell.source[:300]}")
            index += 1
    log(f"  {path.name}: {len(results)} solution cells checked in {time.perf_counter() - start:.0f} s")
    return results


# -- command line ---------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapter notebooks (default: those of _toc.yml)")
    parser.add_argument("--out", type=Path, default=ROOT / "workshop", help="output folder (default: workshop/)")
    parser.add_argument("--check", action="store_true", help="execute: every stub must fail, every solution pass")
    parser.add_argument("--list", action="store_true", help="list the exercises and the convention's problems")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (with --check)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or chapters()
    if args.list:
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            print(path.name)
            for e in exercises(nb):
                print(f"  {e}" + (f"  solution/check cells {e.pairs}" if e.pairs else ""))
            for problem in problems(nb):
                print(f"  PROBLEM: {problem}")
        return 0
    if args.check:
        failed = []
        for path in notebooks:
            print(f"checking {path.name}")
            try:
                failed += [f"{path.name}: {r}" for r in check(path, timeout=args.timeout) if not r.ok]
            except (ValueError, ExecutionFailed) as err:
                failed.append(str(err))
        for line in failed:
            print(f"FAILED {line}", file=sys.stderr)
        return 1 if failed else 0
    for target in build(args.out, notebooks):
        print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
