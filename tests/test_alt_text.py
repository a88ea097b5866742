"""Every figure of the book has alt text that says what it shows (issue 19, part 5).

myst-nb gives the ``<img>`` of a matplotlib output the alt text of the code cell's metadata
``{"mystnb": {"image": {"alt": "..."}}}``; without it the image has none, and a screen reader reads a file name.

* The extension book/_ext/alt_text.py turns a figure without alt text into a warning naming the document and the
  cell (an error in CI, which builds with warnings as errors): tested on a tiny Sphinx project in a temporary
  folder (myst-nb, execution off, a notebook with a ready-made PNG output).
* A static check over the chapters: every code cell that draws a matplotlib figure carries alt text of its own,
  long enough to describe the figure, and no other cell carries any.  The 3D views of molecules (py3Dmol) are
  HTML, not images: they are not concerned.
"""

import ast
import base64
import importlib.util
import io
import json
import pathlib
import re
import struct
import sys
import zlib

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXT = ROOT / "book" / "_ext"
sys.path.insert(0, str(EXT))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_book import notebooks  # noqa: E402  (the chapters of _toc.yml)

MIN_ALT = 40  # characters: "Loss against step." says too little to replace a figure


# --- which cells draw a figure ------------------------------------------------------------------------------

PLT_NOT_DRAWING = {"Circle", "cm", "close", "rc", "rcParams", "style", "get_cmap", "ioff", "ion", "Normalize"}
DRAW_METHODS = {"plot", "hist", "imshow", "scatter", "spy", "bar", "barh", "semilogx", "semilogy", "loglog",
                "plot_surface", "matshow", "pcolormesh", "contour", "contourf", "errorbar", "fill_between",
                "axhline", "axvline", "add_subplot", "subplots", "figure", "savefig", "text", "annotate"}
NOT_PLOT_ROOTS = {"torch", "np", "numpy", "math", "pd", "F", "nn"}  # torch.scatter, np.histogram...: no figure


def _parse(source: str) -> ast.Module:
    # IPython magics and shell lines (%matplotlib, !pip) are not Python: a `pass` keeps indentation and lines
    return ast.parse("\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in source.splitlines()))


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _calls_when_run(tree: ast.Module):
    """The calls a cell makes when it runs: not those in the body of a def or class (they run when called)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _is_plt_call(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "plt" and node.func.attr not in PLT_NOT_DRAWING)


def _draws(call: ast.Call, helpers: set) -> bool:
    f = call.func
    if isinstance(f, ast.Name):  # a function of the notebook that makes its own figure: plot_trajectory(...)
        return f.id in helpers
    if not isinstance(f, ast.Attribute):
        return False
    if _is_plt_call(call):  # plt.subplots, plt.plot, plt.show...
        return True
    root = _root(f.value)
    if root == "nx":  # nx.draw_networkx...
        return f.attr.startswith("draw")
    # ax.plot, axes[0].hist, fig.add_subplot, history.plot() (minignn.train.History.plot)
    return f.attr in DRAW_METHODS and root not in NOT_PLOT_ROOTS


def drawing_cells(cells: list) -> list[int]:
    """Indices of the code cells that draw a matplotlib figure when they run: a call on plt, a plotting method
    (ax.plot, ax.hist, ax.imshow, history.plot()...), a networkx drawing, or a function defined in an earlier
    cell that makes its own figure (plot_trajectory, plot_bond_lengths).  Defining such a function draws nothing;
    py3Dmol's view.show() is HTML, not a figure."""
    helpers, found = set(), []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        tree = _parse("".join(cell["source"]))
        helpers |= {node.name for node in ast.walk(tree)
                    if isinstance(node, ast.FunctionDef) and any(_is_plt_call(n) for n in ast.walk(node))}
        if any(_draws(call, helpers) for call in _calls_when_run(tree)):
            found.append(i)
    return found


def code(*sources: str) -> list:
    return [{"cell_type": "code", "source": s, "metadata": {}} for s in sources]


@pytest.mark.parametrize("sources, expected", [
    (["fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()"], [0]),
    (["import matplotlib.pyplot as plt\n%matplotlib inline", "x = torch.scatter(a, 0, i, b)"], []),
    (["def plot_it(v):\n    plt.plot(v)\n    plt.show()", "print(1)", "plot_it([1, 2])"], [2]),
    (["axes = history.plot()\naxes[1].set_ylabel('MAE')"], [0]),
    (["view = py3Dmol.view(width=400)\nview.show()", "show_molecules(ms).show()"], []),
    (["nx.draw_networkx(G, pos, ax=ax)"], [0]),
    (["if 'google.colab' in sys.modules:\n    !pip install minignn\nout = scatter(m, dst)"], []),
])
def test_drawing_cells_finds_the_cells_that_make_a_figure(sources, expected):
    assert drawing_cells(code(*sources)) == expected


# --- the chapters ------------------------------------------------------------------------------------------

def alt_of(cell: dict):
    return cell["metadata"].get("mystnb", {}).get("image", {}).get("alt")


def chapter_alts() -> dict:
    """{(notebook name, cell index): alt text or None} for every cell that draws, over the whole book."""
    alts = {}
    for nb in notebooks():
        cells = json.loads(nb.read_text())["cells"]
        alts.update({(nb.name, i): alt_of(cells[i]) for i in drawing_cells(cells)})
    return alts


def test_the_book_has_figures():
    assert len(chapter_alts()) >= 30  # the detection still finds them (42 when this test was written)


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_every_figure_has_alt_text_that_describes_it(nb):
    cells = json.loads(nb.read_text())["cells"]
    for i in drawing_cells(cells):
        alt = alt_of(cells[i])
        where = f'{nb.name}, cell {i} (add {{"mystnb": {{"image": {{"alt": "..."}}}}}} to its metadata)'
        assert isinstance(alt, str) and alt.strip(), f"{where}: a figure without alt text"
        assert len(alt.strip()) >= MIN_ALT, f"{where}: alt text {alt!r} too short to say what the figure shows"
        assert not re.search(r"\.(png|jpe?g|svg|pdf)\b", alt, re.I), f"{where}: alt text {alt!r} is a file name"
        assert not re.match(r"(?i)\s*(a |the )?(figure|plot|image|chart)\.?\s*$", alt), f"{where}: {alt!r} says nothing"


def test_no_two_figures_share_an_alt_text():
    seen = {}
    for where, alt in chapter_alts().items():
        if alt:
            key = " ".join(alt.lower().split())
            assert key not in seen, f"{where} and {seen[key]} have the same alt text: say what each figure shows"
            seen[key] = where


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_alt_text_only_on_cells_that_draw(nb):
    """A cell that stopped drawing (or an alt pasted on the wrong cell) leaves stale text behind."""
    cells = json.loads(nb.read_text())["cells"]
    drawing = set(drawing_cells(cells))
    stray = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and alt_of(c) is not None and i not in drawing]
    assert not stray, f"{nb.name}: cells {stray} have alt text but draw no figure"


def test_the_book_registers_the_extension():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"].get("alt_text") == "book/_ext"
    assert (EXT / "alt_text.py").is_file()


# --- the extension, on a tiny Sphinx project -----------------------------------------------------------------

needs_sphinx = pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("sphinx", "myst_nb")),
                                  reason="the book's packages (sphinx, myst-nb) are not installed")

CONF = f"""
import sys
sys.path.insert(0, {str(EXT)!r})
extensions = ["myst_nb", "alt_text"]
nb_execution_mode = "off"
exclude_patterns = ["_build"]
"""
ALT = "A line rising from 1 on the left to 2 on the right."


def png() -> bytes:
    """A 1 x 1 PNG, as a matplotlib output would be (only bigger)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")


def figure_cell(source: str, alt=None) -> nbformat.NotebookNode:
    output = nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png()).decode(),
                                                          "text/plain": "<Figure size 640x480 with 1 Axes>"})
    metadata = {} if alt is None else {"mystnb": {"image": {"alt": alt}}}
    return nbformat.v4.new_code_cell(source, outputs=[output], metadata=metadata)


def project(tmp_path: pathlib.Path, cells: list, conf_extra: str = "") -> pathlib.Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(CONF + conf_extra)
    (src / "index.md").write_text("# Index\n\n```{toctree}\nfigures\n```\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Figures\n\nText.")] + cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (src / "figures.ipynb").write_text(nbformat.writes(nb))
    return src


def build(src: pathlib.Path, warningiserror: bool = False):
    """(the <img> tags of figures.html, the warnings)."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    out, doctrees = src / "_build" / "html", src / "_build" / "doctrees"
    warnings = io.StringIO()
    with docutils_namespace():  # each build registers its nodes and roles anew, as sphinx-build would
        app = Sphinx(str(src), str(src), str(out), str(doctrees), "html", status=io.StringIO(), warning=warnings,
                     freshenv=True, warningiserror=warningiserror)
        app.build()
    return re.findall(r"<img\b[^>]*>", (out / "figures.html").read_text()), re.sub(r"\x1b\[[0-9;]*m", "", warnings.getvalue())


@needs_sphinx
def test_a_figure_with_alt_text_gets_it_and_no_warning(tmp_path):
    src = project(tmp_path, [figure_cell("plt.plot([1, 2])", alt=ALT)])
    images, warnings = build(src, warningiserror=True)
    assert len(images) == 1 and f'alt="{ALT}"' in images[0], images
    assert "alt text" not in warnings, warnings


@needs_sphinx
def test_a_figure_without_alt_text_is_a_warning_naming_the_page_and_the_cell(tmp_path):
    src = project(tmp_path, [figure_cell("plt.plot([1, 2])", alt=ALT), nbformat.v4.new_markdown_cell("More."),
                             figure_cell("plt.plot([2, 1])")])
    images, warnings = build(src)
    assert f'alt="{ALT}"' in images[0] and ALT not in images[1]
    lines = [line for line in warnings.splitlines() if "alt text" in line]
    assert len(lines) == 1, warnings
    assert "figures.ipynb" in lines[0] and "WARNING" in lines[0] and "cell 3 of figures" in lines[0]
    assert '"mystnb": {"image": {"alt"' in lines[0]  # says how to fix it
    from sphinx.errors import SphinxError

    with pytest.raises(SphinxError, match="alt text"):  # CI builds with warnings as errors
        build(src, warningiserror=True)


@needs_sphinx
@pytest.mark.parametrize("alt, problem", [("", "empty alt text"), ("   ", "empty alt text"),
                                          ("figure_1.png", "file name"), ("_images/3f2a9c.png", "file name")])
def test_an_empty_or_file_name_alt_text_is_a_warning(tmp_path, alt, problem):
    src = project(tmp_path, [figure_cell("plt.plot([1, 2])", alt=alt)])
    _, warnings = build(src)
    lines = [line for line in warnings.splitlines() if "alt text" in line]
    assert len(lines) == 1 and problem in lines[0] and "cell 1 of figures" in lines[0], warnings


@needs_sphinx
def test_the_warning_has_its_own_type_and_subtype(tmp_path):
    """type alt_text, subtype missing: a project could silence it (this book does not)."""
    src = project(tmp_path, [figure_cell("plt.plot([2, 1])")], conf_extra='suppress_warnings = ["alt_text.missing"]\n')
    _, warnings = build(src, warningiserror=True)
    assert "alt text" not in warnings


@needs_sphinx
def test_alt_problem_on_image_nodes():
    from docutils import nodes

    import alt_text  # book/_ext is not a package
    assert alt_text.alt_problem(nodes.image(uri="_images/ab12.png", alt=ALT)) is None
    assert "no alt text" in alt_text.alt_problem(nodes.image(uri="_images/ab12.png"))
    assert "file name" in alt_text.alt_problem(nodes.image(uri="_images/ab12.png", alt="ab12"))
    assert "file name" in alt_text.alt_problem(nodes.image(uri="x.png", alt="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
