"""One reveal.js deck per chapter, from the executed notebooks, readable offline.

    python tools/slides.py                          # _build/slides/<chapter>.html for every chapter of _toc.yml
    python tools/slides.py --out DIR book/graphs.ipynb
    make slides                                     # the same, after `make vendor`

A deck is made from the notebook's cells, with no slide metadata in the notebooks:

* the title slide: the chapter's ``#`` title and its first paragraph;
* one slide per ``##`` section: its first display equation (``$$ ... $$`` or ``{math}``, the MyST
  label dropped), its first figure (a PNG output of one of its code cells, written next to the deck),
  and, when the section has no figure, a short code cell (at most 15 lines; not tagged ``hide-input``,
  ``remove-cell``, ``solution``...; not plumbing: imports, plots, setup) with its printed output (at
  most 10 lines).  A section with none of these shows its first paragraph or its exercises' titles;
* one vertical sub-slide per ``###`` subsection that has an equation, a figure or such a code cell;
* the section's prose as speaker notes (reveal.js ``<aside class="notes">``, key ``S``).

MyST-only syntax ({cite}, {doc}, {eq} roles, directives) becomes plain text.

Which outputs: the notebook's own outputs when it has any (CI: ``make test NBMAKE_FLAGS=--overwrite``
executes every notebook in place), else those of ``_build/jupyter_execute/book/<name>.ipynb`` (what
``make book`` leaves) or of an earlier run, if not older than the notebook, else the notebook is
executed (nbclient, 300 s) into ``<out>/executed/``.

Offline: reveal.js and MathJax come from ``_build/_static_vendor`` (``make vendor``, from the npm
registry, as for the book) and are copied into ``<out>/_assets/``; a deck loads nothing from the network.
"""

from __future__ import annotations

import argparse
import ast
import base64
import html
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "_build" / "_static_vendor"
OUT = ROOT / "_build" / "slides"
EXECUTED = ROOT / "_build" / "jupyter_execute"
# What a deck needs from the vendored copy (relative to VENDOR), copied into <out>/_assets/.
REVEAL_FILES = ("reveal/dist/reveal.js", "reveal/dist/reveal.css", "reveal/dist/reset.css",
                "reveal/dist/theme/white.css", "reveal/plugin/notes/notes.js")
REVEAL_DIRS = ("reveal/dist/theme/fonts",)
MATHJAX_FILE = "mathjax/tex-mml-chtml.js"

HIDDEN_TAGS = {"hide-input", "hide-cell", "remove-cell", "remove-input", "solution", "check"}
NO_OUTPUT_TAGS = {"remove-cell", "remove-output", "hide-output", "solution"}  # a solution's figure gives it away
MAX_CODE_LINES = 15
MAX_OUTPUT_LINES = 10
MAX_NOTES_CHARS = 1500
EXECUTE_TIMEOUT = 300


class SlidesError(RuntimeError):
    """What `make slides` cannot do, said so that the reader knows how to fix it."""


# -- markdown, MyST stripped ----------------------------------------------------------------------
_DISPLAY = re.compile(r"^\$\$(.*?)\$\$[ \t]*(\([\w:.-]+\))?[ \t]*$", re.S | re.M)
_MATH_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{math\}[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)
_DIRECTIVE_OPEN = re.compile(r"^(`{3,}|:{3,})\{([\w:-]+)\}[ \t]*(.*)$")
_FENCE = re.compile(r"^(`{3,}|:{3,})")
_OPTION = re.compile(r"^:[\w-]+:")
_LABEL = re.compile(r"^\([\w:.-]+\)=\s*$")
_ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
_BULLET = re.compile(r"^(?:\*|-|\+|\d+\.)\s+")
_EXERCISE = re.compile(r"^(`{3,}|:{3,})\{(?:admonition|exercise)\}\s*(Exercise\s+\d+.*)$", re.M)


def _role(match: re.Match) -> str:
    name, text = match.group(1), match.group(2)
    explicit = re.match(r"^(.*?)\s*<([^>]*)>$", text, re.S)
    if explicit and explicit.group(1):
        return explicit.group(1)
    target = explicit.group(2) if explicit else text
    if name.startswith("cite"):
        return "[" + ", ".join(key.strip() for key in target.split(",")) + "]"
    if name in ("eq", "numref"):
        return f"({target})"
    if name in ("doc",):
        return target.rsplit("/", 1)[-1]
    return target


def strip_myst(text: str) -> str:
    """Plain markdown: roles to their text, links to their text, labels and directive fences dropped."""
    text = _ROLE.sub(_role, text)
    text = _LINK.sub(r"\1", text)
    lines = []
    for line in text.splitlines():
        if _LABEL.match(line.strip()) or _OPTION.match(line.strip()):
            continue
        opened = _DIRECTIVE_OPEN.match(line.strip())
        if opened:
            if opened.group(3):
                lines.append(f"**{opened.group(3)}**")
            continue
        if _FENCE.match(line.strip()):
            continue
        lines.append(line)
    return "\n".join(lines)


def inline_html(text: str) -> str:
    """One line of markdown to HTML: escaped, `code`, **bold**, *emphasis*, $math$ as \\( \\)."""
    parts = re.split(r"(`[^`]+`|\$[^$\n]+\$)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        elif part.startswith("$") and part.endswith("$") and len(part) > 2:
            out.append(r'<span class="math inline">\(' + html.escape(part[1:-1], quote=False) + r"\)</span>")
        else:
            escaped = html.escape(part, quote=False)
            escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
            escaped = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", escaped)
            out.append(escaped)
    return "".join(out)


def paragraphs(markdown: str) -> list[str]:
    """The prose paragraphs of markdown (headings, display math, tables, code and directives dropped)."""
    text = _MATH_DIRECTIVE.sub("", _DISPLAY.sub("", markdown))
    text = re.sub(r"^(`{3,})[^\n]*\n.*?^\1[ \t]*$", "", text, flags=re.S | re.M)  # code blocks
    text = strip_myst(text)
    result = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(("#", "|", "$$", "<"))]
        joined: list[str] = []  # one line per list item, the item's continuation lines joined to it
        for line in lines:
            if joined and not _BULLET.match(line):
                joined[-1] += " " + line
            else:
                joined.append(line)
        if joined:
            result.append("\n".join(joined) if _BULLET.match(joined[0]) else " ".join(joined))
    return result


def equations(markdown: str) -> list[str]:
    """The display equations of markdown, in order, without their MyST labels."""
    found = [(m.start(), m.group(1)) for m in _DISPLAY.finditer(markdown)]
    found += [(m.start(), m.group(2)) for m in _MATH_DIRECTIVE.finditer(markdown)]
    return [tex.strip() for _, tex in sorted(found) if tex.strip()]


# -- code cells -----------------------------------------------------------------------------------
_PLOTTING = re.compile(r"\b(plt|ax|axes|fig|nx\.draw\w*|py3Dmol|display|sns)\b\.?|\.plot\(|\.imshow\(|\.savefig\(")


def is_plumbing(source: str) -> bool:
    """Imports, plots, setup: code a slide does not show."""
    if not source.strip() or re.search(r"^\s*[%!]", source, re.M):
        return True
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True
    body = tree.body
    if all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body):
        return True
    if _PLOTTING.search(source):
        return True
    # setup: only assignments of literals / constants, or sys/os/warnings configuration
    if all(isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)) for node in body) and \
            all(isinstance(getattr(node, "value", None), ast.Constant) for node in body if not isinstance(node, (ast.Import, ast.ImportFrom))):
        return True
    return bool(re.search(r"\b(warnings\.|torch\.manual_seed|set_num_threads|os\.environ|sys\.path)", source)) and len(body) <= 3


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def printed_output(cell) -> str:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            texts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result",) and "text/plain" in output.get("data", {}):
            texts.append(output["data"]["text/plain"])
    return "".join(texts).rstrip("\n")


def png_output(cell) -> bytes | None:
    if tags(cell) & NO_OUTPUT_TAGS:
        return None
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/png" in data:
            return base64.b64decode(data["image/png"])
    return None


def has_outputs(nb) -> bool:
    return any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


# -- sections -------------------------------------------------------------------------------------
@dataclass
class Section:
    title: str
    level: int
    markdown: list[str] = field(default_factory=list)
    code: list = field(default_factory=list)
    subsections: list["Section"] = field(default_factory=list)


@dataclass
class Chapter:
    name: str
    title: str
    intro: str
    sections: list[Section]


_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*$")


def parse(nb, name: str) -> Chapter:
    """The chapter's title, first paragraph, and its ## sections (with their ### subsections)."""
    title, intro_md, sections = name, [], []
    current: Section | None = None
    top: Section | None = None
    for cell in nb.cells:
        if "remove-cell" in tags(cell):
            continue
        if cell.cell_type == "markdown":
            chunk: list[str] = []
            in_fence = None

            def flush():
                if chunk:
                    (current.markdown if current else intro_md).append("\n".join(chunk))
                    chunk.clear()

            for line in cell.source.splitlines():
                fence = re.match(r"^\s*(`{3,}|:{3,})", line)
                if fence:
                    in_fence = None if in_fence == fence.group(1) else (in_fence or fence.group(1))
                heading = None if in_fence else _HEADING.match(line)
                if heading and not line.startswith("####"):
                    flush()
                    level, text = len(heading.group(1)), heading.group(2)
                    if level == 1:
                        title, current, top = text, None, None
                    elif level == 2:
                        top = current = Section(text, 2)
                        sections.append(top)
                    elif top is not None:
                        current = Section(text, 3)
                        top.subsections.append(current)
                    continue
                chunk.append(line)
            flush()
        elif cell.cell_type == "code" and current is not None:
            current.code.append(cell)
    prose = paragraphs("\n\n".join(intro_md))
    return Chapter(name, strip_myst(title), prose[0] if prose else "", sections)


# -- one slide ------------------------------------------------------------------------------------
def short_code(cells) -> tuple[str, str] | None:
    for cell in cells:
        source = cell.source.strip("\n")
        if tags(cell) & HIDDEN_TAGS or not source or len(source.splitlines()) > MAX_CODE_LINES:
            continue
        if is_plumbing(source):
            continue
        output = printed_output(cell)
        if len(output.splitlines()) > MAX_OUTPUT_LINES:
            output = ""
        return source, output
    return None


def slide_body(section: Section, deck_files: Path, stem: str, images: list, whole: bool) -> tuple[str, bool]:
    """The HTML of a section's slide, and whether it shows anything but text."""
    markdown = "\n\n".join(section.markdown)
    cells = list(section.code)
    if whole:  # a ## section without content of its own borrows from its subsections
        for sub in section.subsections:
            markdown += "\n\n" + "\n\n".join(sub.markdown)
            cells += sub.code
    parts = []
    for tex in equations(markdown)[:1]:
        parts.append('<div class="math display">\\[' + html.escape(tex, quote=False) + "\\]</div>")
    figure = next((png for png in map(png_output, cells) if png), None)
    if figure is not None:
        deck_files.mkdir(parents=True, exist_ok=True)
        file = deck_files / f"{stem}.png"
        file.write_bytes(figure)
        images.append(file)
        alt = html.escape(strip_myst(section.title), quote=True)
        parts.append(f'<img class="figure" src="{deck_files.name}/{file.name}" alt="{alt}">')
    else:
        code = short_code(cells)
        if code:
            parts.append('<pre class="code"><code>' + html.escape(code[0]) + "</code></pre>")
            if code[1]:
                parts.append('<pre class="output"><code>' + html.escape(code[1]) + "</code></pre>")
    rich = bool(parts)
    if not rich:
        exercises = [m.group(2).strip() for m in _EXERCISE.finditer(markdown)]
        prose = paragraphs(markdown)
        items = exercises or bullets(prose[0] if prose else "")
        if items:
            parts.append("<ul>" + "".join(f"<li>{inline_html(shorten(strip_myst(e), 240))}</li>"
                                          for e in items[:6]) + "</ul>")
        elif prose:
            parts.append(f'<p class="lead">{inline_html(shorten(prose[0], 400))}</p>')
    return "\n".join(parts), rich


def bullets(paragraph: str) -> list[str]:
    """The items of a paragraph that is a bullet list (as paragraphs() joins it), else []."""
    if not _BULLET.match(paragraph):
        return []
    return [_BULLET.sub("", item).strip() for item in paragraph.split("\n") if _BULLET.sub("", item).strip()]


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    if cut.count("$") % 2:  # do not cut an inline equation in half
        cut = cut[: cut.rfind("$")].rstrip()
    return cut + " …"


def notes(section: Section) -> str:
    text, out = "", []
    for paragraph in paragraphs("\n\n".join(section.markdown)):
        if len(text) + len(paragraph) > MAX_NOTES_CHARS:
            break
        text += paragraph
        items = bullets(paragraph)
        if items:
            out.append("<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in items) + "</ul>")
        else:
            out.append(f"<p>{inline_html(paragraph)}</p>")
    return f'<aside class="notes">{"".join(out)}</aside>' if out else ""


def slide(section: Section, body: str) -> str:
    return (f"<section>\n<h2>{inline_html(strip_myst(section.title))}</h2>\n{body}\n"
            f"{notes(section)}\n</section>")


# -- the deck -------------------------------------------------------------------------------------
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="stylesheet" href="_assets/reveal/dist/reset.css">
<link rel="stylesheet" href="_assets/reveal/dist/reveal.css">
<link rel="stylesheet" href="_assets/reveal/dist/theme/white.css">
<style>
.reveal h1 {{ font-size: 2.0em; }}
.reveal h2 {{ font-size: 1.3em; }}
.reveal .lead {{ font-size: 0.7em; text-align: left; }}
.reveal ul {{ font-size: 0.7em; }}
.reveal img.figure {{ max-height: 430px; max-width: 90%; margin: 0.3em auto; border: 0; box-shadow: none; }}
.reveal pre {{ width: 95%; font-size: 0.42em; box-shadow: none; margin: 0.3em auto; }}
.reveal pre code {{ max-height: 420px; padding: 0.5em; background: #f6f8fa; color: #24292e; }}
.reveal pre.output code {{ background: #fff; border-left: 4px solid #ccc; }}
.reveal .math.display {{ font-size: 0.8em; }}
.reveal .chapter {{ font-size: 0.5em; color: #757575; }}
/* reveal.js's slide number is white on 40 % black (contrast 2.8 over a white slide); 75 % gives 10 */
.reveal .slide-number {{ background-color: rgba(0, 0, 0, 0.75); }}
</style>
</head>
<body>
<div class="reveal"><div class="slides">
{slides}
</div></div>
<script>
window.MathJax = {{
  tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]]}},
  startup: {{typeset: true}}
}};
</script>
<script src="_assets/{mathjax}" defer></script>
<script src="_assets/reveal/dist/reveal.js"></script>
<script src="_assets/reveal/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({{hash: true, center: true, slideNumber: "c/t", width: 1100, height: 700,
                    plugins: [RevealNotes]}});
// A display equation or a piece of code wider than the slide is set smaller until it fits (measured
// once the slide is shown), down to 40 % (equations) or 60 % (code) of its size.  Code that still
// scrolls (a long output) takes the keyboard focus (tabindex 0), so that it can be scrolled without a mouse.
function fitMath(slide) {{
  if (!slide) return;
  slide.querySelectorAll(".math.display, pre").forEach(el => {{
    const inner = el.querySelector("code") || el;
    if (el.classList.contains("math") && !el.querySelector("mjx-container")) return;
    const base = parseFloat(getComputedStyle(el).fontSize), least = el.tagName === "PRE" ? 60 : 40;
    for (let size = 95; inner.scrollWidth > inner.clientWidth + 1 && size >= least; size -= 5)
      el.style.fontSize = (base * size / 100) + "px";
    if (el.tagName === "PRE" && (inner.scrollWidth > inner.clientWidth + 1 || inner.scrollHeight > inner.clientHeight + 1))
      inner.tabIndex = 0;
  }});
}}
function afterTypeset(fn) {{  // MathJax (deferred) may start after reveal.js
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(fn);
  else window.addEventListener("load", () => afterTypeset(fn), {{once: true}});
}}
Reveal.on("ready", () => afterTypeset(() => fitMath(Reveal.getCurrentSlide())));
Reveal.on("slidechanged", event => afterTypeset(() => fitMath(event.currentSlide)));
</script>
</body>
</html>
"""


def deck_html(chapter: Chapter, out: Path) -> str:
    files = out / f"{chapter.name}_files"
    if files.exists():
        shutil.rmtree(files)
    images: list[Path] = []
    slides = [f'<section class="title">\n<p class="chapter">minignn: message-passing neural networks</p>\n'
              f"<h1>{inline_html(chapter.title)}</h1>\n"
              + (f'<p class="lead">{inline_html(shorten(chapter.intro, 500))}</p>\n' if chapter.intro else "")
              + "</section>"]
    for i, section in enumerate(chapter.sections, start=1):
        subs = []
        for j, sub in enumerate(section.subsections, start=1):
            sub_body, sub_rich = slide_body(sub, files, f"s{i}-{j}", images, whole=False)
            if sub_rich:
                subs.append(slide(sub, sub_body))
        body, rich = slide_body(section, files, f"s{i}", images, whole=False)
        if not rich and section.subsections and not subs:  # nothing below either: the whole section
            body, rich = slide_body(section, files, f"s{i}", images, whole=True)
        if subs:
            slides.append("<section>\n" + slide(section, body) + "\n" + "\n".join(subs) + "\n</section>")
        else:
            slides.append(slide(section, body))
    return PAGE.format(title=html.escape(chapter.title), slides="\n".join(slides), mathjax=MATHJAX_FILE)


# -- notebooks, assets, index ---------------------------------------------------------------------
def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks of _toc.yml, in the book's order (the .md pages are not chapters)."""
    files = re.findall(r"^\s*-?\s*file:\s*(\S+)\s*$", (root / "_toc.yml").read_text(), re.M)
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def executed(notebook: Path, out: Path, executed_dir: Path = EXECUTED):
    """The notebook with outputs: its own, those of `make book`, or executed now (nbclient)."""
    nb = nbformat.read(notebook, as_version=4)
    if has_outputs(nb):
        return nb, f"outputs of {notebook.name}"
    try:
        relative = notebook.resolve().relative_to(ROOT)
    except ValueError:
        relative = Path(notebook.name)
    earlier = out / "executed" / notebook.name  # executed by an earlier run
    for candidate in (executed_dir / relative, executed_dir / notebook.name, earlier):
        # outputs older than the notebook are those of an earlier version of it
        if candidate.is_file() and candidate.stat().st_mtime >= notebook.stat().st_mtime:
            built = nbformat.read(candidate, as_version=4)
            if has_outputs(built):
                return built, f"outputs of {candidate}"
    from nbclient import NotebookClient

    print(f"executing {notebook} (no outputs found; up to {EXECUTE_TIMEOUT} s)", flush=True)
    NotebookClient(nb, timeout=EXECUTE_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    (out / "executed").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / "executed" / notebook.name)
    return nb, f"executed into {out / 'executed' / notebook.name}"


def check_assets(vendor: Path) -> None:
    missing = [name for name in (*REVEAL_FILES, MATHJAX_FILE) if not (vendor / name).is_file()]
    if missing:
        raise SlidesError(
            f"offline assets missing in {vendor}: {', '.join(missing)}. The decks need reveal.js and MathJax "
            "from the npm registry: run `make vendor` (needs npm; it copies reveal.js, MathJax and 3Dmol.js "
            "into _build/_static_vendor), then `make slides` again.")


def copy_assets(vendor: Path, out: Path) -> None:
    """reveal.js and MathJax next to the decks, copied again only when the vendored versions change."""
    assets = out / "_assets"
    stamp_in, stamp_out = vendor / "offline-assets.json", assets / "offline-assets.json"
    wanted = stamp_in.read_text() if stamp_in.is_file() else ""
    if wanted and stamp_out.is_file() and stamp_out.read_text() == wanted and (assets / MATHJAX_FILE).is_file():
        return
    if assets.exists():
        shutil.rmtree(assets)
    for name in REVEAL_FILES:
        (assets / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(vendor / name, assets / name)
    for name in REVEAL_DIRS:
        shutil.copytree(vendor / name, assets / name, dirs_exist_ok=True)
    shutil.copy2(vendor / "reveal" / "LICENSE", assets / "reveal" / "LICENSE") if (vendor / "reveal" / "LICENSE").is_file() else None
    shutil.copytree(vendor / "mathjax", assets / "mathjax")
    if wanted:
        stamp_out.write_text(wanted)


def index_html(decks: list[tuple[str, str]]) -> str:
    items = "\n".join(f'<li><a href="{html.escape(name)}.html">{inline_html(title)}</a></li>' for name, title in decks)
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Slides: message-passing neural networks</title>
<style>body {{ font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.6; }}</style>
</head>
<body>
<h1>Slides, one deck per chapter</h1>
<p>Arrows or space to move, <kbd>S</kbd> for the speaker notes, <kbd>Esc</kbd> for the overview.</p>
<ol>
{items}
</ol>
</body>
</html>
"""


def build(notebooks: list[Path], out: Path = OUT, vendor: Path = VENDOR, executed_dir: Path = EXECUTED) -> list[Path]:
    """Write <out>/<chapter>.html for each notebook, <out>/index.html and <out>/_assets; return the decks."""
    check_assets(vendor)
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(vendor, out)
    decks, written = [], []
    for notebook in notebooks:
        nb, source = executed(Path(notebook), out, executed_dir)
        chapter = parse(nb, Path(notebook).stem)
        path = out / f"{chapter.name}.html"
        path.write_text(deck_html(chapter, out), encoding="utf-8")
        decks.append((chapter.name, chapter.title))
        written.append(path)
        total = 1 + path.read_text(encoding="utf-8").count("<h2>")
        print(f"{path}: {total} slides, {len(chapter.sections)} sections ({source})", flush=True)
    (out / "index.html").write_text(index_html(decks), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter of _toc.yml")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--vendor", type=Path, default=VENDOR, help="where `make vendor` put reveal.js and MathJax")
    parser.add_argument("--executed", type=Path, default=EXECUTED, help="the notebooks `make book` executed")
    args = parser.parse_args(argv)
    try:
        build(args.notebooks or chapters(), args.out, args.vendor, args.executed)
    except SlidesError as err:
        print(f"make slides: {err}", file=sys.stderr)
        return 1
    print(f"The slides are at file://{args.out.resolve()}/index.html (serve the folder, e.g. "
          f"`python -m http.server -d {args.out}`, for the speaker notes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
