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
telling the participant to replace it), the check cells kept, the answers of the quick exercises removed, no
outputs, and its markdown in plain Markdown that JupyterLab and Colab render (to_markdown: admonitions become a
bold title and a blockquote, equations keep the book's numbers, citations read "(Gilmer et al. 2017)", {doc}
links point to the chapter notebooks).  ``--check`` runs each chapter in one kernel, cell after cell, and at
each solution cell runs stub -> check (the check must raise) then solution -> check (the check must pass), so
the solution's definitions are the ones the rest of the chapter sees.

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


# -- MyST to plain Markdown -----------------------------------------------------------------------
# JupyterLab and Colab render CommonMark with $...$ math, not MyST: the markdown cells of a workshop notebook are
# converted.  Admonitions become a bold title and a blockquote, equation labels become the book's numbers
# (\tag{4.2}, and "(4.2)" where the text refers to them), citations "(Author Year)", {doc} links to the chapter's
# notebook.  A role or directive this script does not know is an error naming it, and build() refuses to write
# a notebook where MyST-only syntax is left (myst_leftovers).

# Directives rendered as a bold title and a blockquote: name -> title when the directive takes no title argument
# (None: the argument is the title).
ADMONITIONS = {
    "admonition": None, "exercise": None, "solution": None, "dropdown": None, "topic": None, "sidebar": None,
    "margin": None, "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error", "seealso": "See also",
}
CODE_DIRECTIVES = ("code-block", "code", "sourcecode", "code-cell")
AMSMATH = ("equation", "multline", "gather", "align", "alignat", "flalign")  # numbered when not starred

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_DIRECTIVE_INFO = re.compile(r"^\s*\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*?)\s*$")
_OPTION = re.compile(r"^\s*:(?P<key>[\w-]+):(?:\s+(?P<value>.*))?\s*$")
# display math with its optional label (MyST dollarmath), or a numbered amsmath environment opening a line
_DISPLAY_MATH = re.compile(r"\$\$(?P<body>.+?)\$\$(?:[ \t]*\((?P<label>[^()\s]+)\))?"
                           r"|^[ \t]*\\begin\{(?P<ams>" + "|".join(AMSMATH) + r")\}", re.S | re.M)
_ROLE = re.compile(r"\{(?P<name>[\w:.-]+)\}`(?P<content>[^`]*)`")
_TARGET = re.compile(r"^[ \t]*\((?P<label>[^()\s]+)\)=[ \t]*$")
_EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)  # {doc}`text <target>`

# What JupyterLab and Colab would show as is: a directive, a role, an equation label, a target, a directive option.
MYST_ONLY = re.compile(r"""
      \{admonition\}
    | (?:`{3,}|~{3,}|:{3,})[ \t]*\{[\w:.-]+\}      # a directive: ```{name} or :::{name}
    | \{[\w:.-]+\}`                                # a role: {name}`...`
    | \$\$[ \t]*\([^()\s]+\)                       # an equation label: $$ (label)
    | ^[ \t>]*\([^()\s]+\)=[ \t]*$                 # a target: (label)=
    | ^[ \t>]*:[\w-]+:(?:[ \t]|$)                  # a directive option: :class: tip
    """, re.X | re.M)


def myst_leftovers(markdown: str) -> list[str]:
    """The lines of ``markdown`` that still hold MyST-only syntax (an empty list: none)."""
    return sorted({markdown[markdown.rfind("\n", 0, m.start()) + 1:].split("\n", 1)[0].strip()
                   for m in MYST_ONLY.finditer(markdown)})


@dataclass
class MystContext:
    """What the conversion of a chapter's markdown needs to know about the book.

    ``equations``: label -> number as the book prints it ("4.2"); ``citations``: bibtex key -> (authors, year);
    ``documents``: page name -> (title, link); ``targets``: label of a ``(label)=`` target -> the heading under it.
    With ``collect``, labelled equations get the next number (``prefix`` + count) as they are met and references
    are not resolved: the first pass over a chapter, which numbers its equations as MyST does (per page, in order).
    """
    equations: dict[str, str] = field(default_factory=dict)
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)
    documents: dict[str, tuple[str, str]] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    where: str = "markdown"  # named in errors
    prefix: str = ""
    collect: bool = False
    count: int = 0

    def number(self, label: str | None) -> str:
        """The number of a labelled equation (or of a numbered amsmath environment: label None)."""
        if self.collect:
            self.count += 1
            n = f"{self.prefix}{self.count}"
            if label is not None:
                self.equations.setdefault(label, n)
            return n
        return self.equations.get(label, "") if label is not None else ""

    def equation(self, label: str) -> str:
        if self.collect:
            return ""
        if label not in self.equations:
            print(f"warning: {self.where}: unknown equation label {label!r}", file=sys.stderr)
            return f"({label})"
        return f"({self.equations[label]})"

    def cite(self, role: str, keys: str) -> str:
        if self.collect:
            return ""
        refs = []
        for key in (k.strip() for k in keys.split(",") if k.strip()):
            if key not in self.citations:
                raise ValueError(f"{self.where}: unknown citation key {key!r} (not in book/references.bib)")
            refs.append(self.citations[key])
        kind = role.partition(":")[2].rstrip("s") or "p"
        if kind == "t":
            return ", ".join(f"{authors} ({year})" for authors, year in refs)
        if kind == "author":
            return ", ".join(authors for authors, _ in refs)
        if kind == "year":
            return ", ".join(year for _, year in refs)
        return "(" + "; ".join(f"{authors} {year}" for authors, year in refs) + ")"

    def doc(self, content: str) -> str:
        if self.collect:
            return ""
        m = _EXPLICIT.match(content)
        text, name = (m.group("text"), m.group("target")) if m else (None, content)
        name = name.strip().removeprefix("/").removeprefix("book/").removesuffix(".md").removesuffix(".ipynb")
        if name not in self.documents:
            raise ValueError(f"{self.where}: {{doc}} to an unknown page {name!r}")
        title, link = self.documents[name]
        return f"[{text or title}]({link})"

    def ref(self, content: str) -> str:
        if self.collect:
            return ""
        m = _EXPLICIT.match(content)
        if m:
            return m.group("text").replace("%s", "").strip()
        if content not in self.targets:
            raise ValueError(f"{self.where}: {{ref}} to an unknown target {content!r}")
        return f"*{self.targets[content]}*"


def _role(m: re.Match, ctx: MystContext) -> str:
    name, content = m.group("name"), m.group("content")
    if name == "eq":
        return ctx.equation(content.strip())
    if name == "cite" or name.startswith("cite:"):
        return ctx.cite(name, content)
    if name == "doc":
        return ctx.doc(content)
    if name in ("ref", "numref", "any"):
        return ctx.ref(content.strip())
    if name == "math":
        return f"${content}$"
    if name in ("code", "literal", "samp", "file", "kbd", "command", "program", "envvar", "option"):
        return f"`{content}`"
    if name in ("sub", "sup"):
        return f"<{name}>{content}</{name}>"
    if name in ("abbr", "term", "dfn", "guilabel", "menuselection"):
        m = _EXPLICIT.match(content) if name == "term" else None
        return m.group("text") if m else re.sub(r"\s*\([^()]*\)$", "", content)
    raise ValueError(f"{ctx.where}: the role {{{name}}} is not converted to plain Markdown (tools/workshop.py)")


def _math(m: re.Match, ctx: MystContext, one_line: bool) -> str:
    if m.group("ams"):  # an amsmath environment: numbered by MyST, left to MathJax
        ctx.number(None)
        return m.group(0)
    body, label = m.group("body"), m.group("label")
    if label is not None:
        n = ctx.number(label)
        if n and "\\tag" not in body:
            body = body.rstrip(" \t") + ("\\tag{%s}\n" % n if body.endswith("\n") else " \\tag{%s} " % n)
    if one_line:  # inside a blockquote: "> " prefixes must not land inside the math
        body = " ".join(line.strip() for line in body.splitlines() if line.strip())
    return f"$${body}$$"


def _inline(text: str, ctx: MystContext, one_line: bool) -> str:
    """Markdown outside code fences: math labels, roles, targets and comments."""
    maths: list[str] = []

    def protect(m):
        maths.append(_math(m, ctx, one_line))
        return f"\x00{len(maths) - 1}\x00"

    text = _DISPLAY_MATH.sub(protect, text)
    lines = [line for line in text.split("\n")
             if not _TARGET.match(line) and not line.startswith("%") and line.strip() != "+++"]
    text = _ROLE.sub(lambda m: _role(m, ctx), "\n".join(lines))
    return re.sub("\x00(\\d+)\x00", lambda m: maths[int(m.group(1))], text)


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's options (``:key: value`` lines, or a ``---`` YAML block) and the rest of its body."""
    options: dict[str, str] = {}
    if body and body[0].strip() == "---" and "---" in (b.strip() for b in body[1:]):
        end = [b.strip() for b in body[1:]].index("---") + 1
        for line in body[1:end]:
            key, _, value = line.partition(":")
            options[key.strip()] = value.strip()
        return options, body[end + 1:]
    k = 0
    while k < len(body) and (m := _OPTION.match(body[k])):
        options[m.group("key")] = m.group("value") or ""
        k += 1
    return options, body[k:]


def _directive(name: str, arg: str, body: list[str], ctx: MystContext, one_line: bool) -> str:
    options, body = _options(body)
    while body and not body[0].strip():
        body = body[1:]
    if name in ADMONITIONS:
        title = arg if ADMONITIONS[name] is None else ADMONITIONS[name]
        if ADMONITIONS[name] is not None and arg:  # {note} Text: the argument is the first line of the body
            body = [arg] + body
        title = _inline(title or name.capitalize(), ctx, True).strip()
        inner = re.sub(r"\n{3,}", "\n\n", to_markdown("\n".join(body), ctx, one_line=True)).strip("\n")
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in inner.split("\n")) if inner else ""
        return f"**{title}**" + (f"\n\n{quoted}" if quoted else "")
    if name in CODE_DIRECTIVES:
        language = arg or options.get("language", "")
        return "\n".join([f"```{language}"] + body + ["```"])
    if name == "math":
        source = "\n".join(body).strip("\n")
        label = options.get("label")
        return _math(_DISPLAY_MATH.match(f"$$\n{source}\n$$" + (f" ({label})" if label else "")), ctx, one_line)
    raise ValueError(f"{ctx.where}: the directive {{{name}}} is not converted to plain Markdown (tools/workshop.py)")


def to_markdown(text: str, ctx: MystContext, one_line: bool = False) -> str:
    """MyST markdown -> Markdown that JupyterLab and Colab render (code fences are left as they are).

    ``one_line`` writes display math on one line (the body of a blockquote)."""
    lines, out, plain = text.split("\n"), [], []

    def flush():
        if plain:
            out.append(_inline("\n".join(plain), ctx, one_line))
            plain.clear()

    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            plain.append(lines[i])
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{%d,}[ \t]*$" % len(fence))
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:j]]
        d = _DIRECTIVE_INFO.match(m.group("info"))
        flush()
        if d:
            block = _directive(d.group("name"), d.group("arg"), body, ctx, one_line)
            out.append("\n" + "\n".join(indent + line if line else line for line in block.split("\n")) + "\n")
        elif fence[0] == ":":
            raise ValueError(f"{ctx.where}: a ::: fence without a {{directive}}: {lines[i].strip()!r}")
        else:  # a code fence: as it is
            out.append("\n".join(lines[i:j + 1]))
        i = j + 1
    flush()
    return "\n".join(out)


def _latex_to_text(value: str) -> str:
    import latexcodec  # noqa: F401  (registers the "latex" codec; sphinxcontrib-bibtex brings it)

    return value.encode("utf-8").decode("latex").replace("{", "").replace("}", "")


def bibliography(path: Path) -> dict[str, tuple[str, str]]:
    """bibtex key -> ("Gilmer et al.", "2017") from a .bib file: the first author's last name (with its "von"
    part), "and" the second's for two authors, "et al." for more."""
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_latex_to_text(" ".join(p.prelast_names + p.last_names)) for p in people]
        authors = (names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2
                   else f"{names[0]} et al." if names else key)
        out[key] = (authors, entry.fields.get("year", "n.d."))
    return out


def _title(path: Path) -> str:
    """The ``#`` title of a notebook or a .md page (its name if it has none)."""
    if path.suffix == ".ipynb":
        sources = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    else:
        sources = [path.read_text()]
    for source in sources:
        m = re.search(r"^#[ \t]+(.+?)[ \t]*$", source, re.M)
        if m:
            return m.group(1)
    return path.stem


def chapter_numbers(root: Path = ROOT) -> dict[str, int]:
    """page name -> its number in the book: the pages of the parts marked ``numbered`` in _toc.yml, counted on
    across parts (what the book prints: Graphs is 1, Diffusion 9)."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    numbers: dict[str, int] = {}
    for part in toc.get("parts") or []:
        if part.get("numbered"):
            for chapter in part.get("chapters") or []:
                if "file" in chapter:
                    numbers[Path(chapter["file"]).name] = len(numbers) + 1
    return numbers


def _markdown_of(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def number_equations(markdowns: list[str], prefix: str = "", where: str = "markdown") -> dict[str, str]:
    """label -> number of the labelled equations of one page, in order ("4.1", "4.2", ... with prefix "4.")."""
    ctx = MystContext(where=where, prefix=prefix, collect=True)
    for source in markdowns:
        to_markdown(source, ctx)
    return ctx.equations


def _book(root: Path) -> MystContext:
    """What every chapter's conversion shares: the bibliography, the pages, the targets, every equation's number."""
    root = Path(root).resolve()
    if root not in _BOOK:
        config = (root / "_config.yml").read_text() if (root / "_config.yml").is_file() else ""
        repo = re.search(r"^\s+url:\s*(\S+)", config, re.M)
        branch = re.search(r"^\s+branch:\s*(\S+)", config, re.M)
        numbers = chapter_numbers(root)
        ctx = MystContext(citations=bibliography(root / "book" / "references.bib"))
        for path in sorted((root / "book").glob("*.md")) + sorted((root / "book").glob("*.ipynb")):
            if path.name.endswith(".nbmake.ipynb"):
                continue
            if path.suffix == ".ipynb":
                link = path.name
                sources = _markdown_of(nbformat.read(path, as_version=4))
                prefix = f"{numbers[path.stem]}." if path.stem in numbers else ""
                for label, n in number_equations(sources, prefix, path.name).items():
                    ctx.equations.setdefault(label, n)
            else:  # a page of the book that is no notebook: the file in the repository
                link = (f"{repo.group(1).rstrip('/')}/blob/{branch.group(1) if branch else 'main'}/book/{path.name}"
                        if repo else f"../book/{path.name}")
                sources = [path.read_text()]
            ctx.documents[path.stem] = (_title(path), link)
            for source in sources:
                lines = source.splitlines()
                for k, line in enumerate(lines[:-1]):
                    if (t := _TARGET.match(line)) and (h := re.match(r"^#+[ \t]+(.+?)[ \t]*$", lines[k + 1])):
                        ctx.targets[t.group("label")] = h.group(1)
        _BOOK[root] = ctx
    return _BOOK[root]


_BOOK: dict[Path, MystContext] = {}


def myst_context(nb, name: str | None = None, root: Path = ROOT) -> MystContext:
    """The conversion context of one chapter: the book's, with this chapter's equations numbered first."""
    book = _book(root)
    number = chapter_numbers(root).get(name) if name else None
    where = f"{name}.ipynb" if name else "notebook"
    own = number_equations(_markdown_of(nb), f"{number}." if number else "", where)
    return MystContext(equations={**book.equations, **own}, citations=book.citations, documents=book.documents,
                       targets=book.targets, where=where)


# -- the workshop notebook ------------------------------------------------------------------------
def stub_source(cell) -> str:
    """What a participant sees instead of a solution cell: the note, then the stub."""
    stub = cell.get("metadata", {}).get("minignn", {}).get("stub") or DEFAULT_STUB
    return f"{STUB_NOTE}\n{stub.strip()}"


_ANSWER = re.compile(r"^(?P<fence>`{3,}|:{3,})\{admonition\}\s*Answer\b.*?^(?P=fence)\s*$\n?", re.M | re.S)


def workshop_notebook(nb, chapter: str, name: str | None = None, root: Path = ROOT):
    """The workshop version of a chapter notebook (a new notebook; ``nb`` is not changed).

    ``name`` is the notebook's name in the book (``graphs``): its equations take the chapter's number ("1.3").
    The markdown cells are converted from MyST to plain Markdown (to_markdown)."""
    context = myst_context(nb, name, root)
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if is_solution(cell):
                cell.source = stub_source(cell)
                cell.metadata["tags"] = [t for t in tags(cell) if t not in SOLUTION_TAGS] + ["stub"]
                cell.metadata.pop("minignn", None)
        elif cell.cell_type == "markdown":
            source = to_markdown(_ANSWER.sub("", cell.source), context)
            cell.source = re.sub(r"\n{3,}", "\n\n", source).strip("\n")
    note = nbformat.v4.new_markdown_cell(
        f"**Workshop version of the chapter *{chapter}*.**  Run the cells from top to bottom.  At each coding "
        "exercise the solution is replaced by a stub: write your solution in that cell, then run the check cell "
        "after it; it fails until your answer is right.  The solutions and the answers are in the book.")
    out.cells.insert(1, note)
    out.cells = [c for c in out.cells if not (c.cell_type == "markdown" and not c.source.strip())]
    return out


def build(out_dir: Path, notebooks: list[Path], root: Path = ROOT) -> list[Path]:
    """Write ``out_dir/<name>.ipynb`` for each chapter notebook; warn about chapters that break the convention.

    Raises ValueError where MyST-only syntax would be left in a workshop notebook (a role or a directive that
    to_markdown does not convert, an unknown citation key)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for problem in problems(nb):
            print(f"warning: {path.name}: {problem}", file=sys.stderr)
        title = next((re.sub(r"^#\s+", "", c.source.splitlines()[0]) for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)
        target = out_dir / path.name
        ws = workshop_notebook(nb, title, path.stem, root)
        left = [line for c in ws.cells if c.cell_type == "markdown" for line in myst_leftovers(c.source)]
        if left:
            raise ValueError(f"{path.name}: MyST-only syntax left in the workshop notebook: {left}")
        nbformat.write(ws, target)
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
