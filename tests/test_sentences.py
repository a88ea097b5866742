"""Sentences of the chapters that must stay true to their outputs, and their citations (issue 19).

The chapters compute the numbers these sentences rely on and assert them when they run (nbmake); these
tests check, without running them, that the wrong sentences are gone, that the cells still print what the
new sentences refer to, and that every citation of the three chapters resolves in references.bib."""

import pathlib
import re

import nbformat
import pytest

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"
CHAPTERS = ("qm7", "mpnn", "scatter")


def cells(stem: str, kind: str) -> str:
    """The sources of one kind of cell of a chapter, whitespace collapsed to single spaces."""
    nb = nbformat.read(BOOK / f"{stem}.ipynb", as_version=4)
    return " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == kind)


def bib_keys() -> set:
    return set(re.findall(r"^@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text(), re.M))


@pytest.mark.parametrize("stem", sorted(p.stem for p in BOOK.glob("*.ipynb")))
def test_every_citation_resolves(stem):
    cited = {key.strip() for group in re.findall(r"\{cite[pt]?\}`([^`]+)`", cells(stem, "markdown"))
             for key in group.split(",")}
    assert cited or stem not in CHAPTERS + ("diffusion", "equivariance", "laplacian"), f"{stem} cites nothing"
    missing = cited - bib_keys()
    assert not missing, f"{stem} cites keys absent from references.bib: {sorted(missing)}"


def test_the_works_a_chapter_names_are_cited():
    """Issue 19: Zachary's karate club, Nichol and Dhariwal's cosine schedule, DimeNet, PaiNN."""
    for stem, text, key in (("laplacian", "Zachary's karate club", "zachary1977karate"),
                            ("diffusion", "Nichol and Dhariwal", "nichol2021improved"),
                            ("equivariance", "(DimeNet", "gasteiger2020dimenet"), ("qm7", "PaiNN", "schutt2021painn")):
        markdown = cells(stem, "markdown")
        assert f"{text} {{cite}}`{key}`" in markdown and key in bib_keys(), (stem, key)


def test_qm7_states_the_sign_of_the_energies_it_prints():
    text = cells("qm7", "markdown")
    assert "**atomization energy**, the energy needed to pull the molecule apart" not in text
    assert "the energy of the molecule minus the energies of its free atoms" in text
    assert "the energy needed to pull the molecule apart into isolated atoms is minus this number" in text
    assert "assert (E < 0).all()" in cells("qm7", "code")


def test_qm7_types_no_training_time_and_prints_its_factor():
    text, code = cells("qm7", "markdown"), cells("qm7", "code")
    assert "couple of minutes" not in text
    assert "epochs in {time.perf_counter() - t0:.0f} s" in code  # the time the prose refers to
    assert "mae(lin, y_test) / small_test_mae" in code  # the factor over the per-atom baseline


def test_qm7_cites_painn_and_has_no_unsourced_rows():
    text, code = cells("qm7", "markdown"), cells("qm7", "code")
    assert "PaiNN {cite}`schutt2021painn`" in text and "schutt2021painn" in bib_keys()
    assert "reported in the literature" not in text and "re-run" not in text
    assert "(re-run)" not in code
    assert "assert measured_painn < min(published.values())" in code  # "below every published row"


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_cell_ends_in_a_viewer_repr(path):
    """A cell ending in a py3Dmol view (show_molecules(...), show_trajectory(...), a helper returning one) also
    prints "<py3Dmol.view at 0x...>" under the viewer: py3Dmol's _repr_html_ displays the view and returns None, so
    Jupyter falls back to the text repr.  Those cells end in .show()."""
    nb = nbformat.read(path, as_version=4)
    ends = [c.source.strip().splitlines()[-1] for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    viewers = ("show_molecules(", "show_molecule(", "show_trajectory(", "animate_trajectory(")
    assert not [e for e in ends if e.startswith(viewers) and not e.endswith(".show()")]


def test_mpnn_prints_the_ratio_and_the_variance_it_compares_with():
    text, code = cells("mpnn", "markdown"), cells("mpnn", "code")
    assert "ten times" not in text
    assert "ratio printed on the last line" in text and "leaves most of that variance unexplained" in text
    assert 'ratio = results["node states only"] / results["edge updates"]' in code
    assert 'assert results["node states only"] > 0.5 * target_var and ratio > 1' in code


def test_scatter_drops_the_internal_targets_and_the_both_halves_claim():
    text, code = cells("scatter", "markdown"), cells("scatter", "code")
    assert "helps both halves" not in text
    assert "target" not in code and ">= 1.5" not in code and "<= 3" not in code
    assert "n/a" not in code  # a missing value is shown as "-"
    assert "all(agg_fb[k] < 1.1 for k in sorted_k)" in code  # "with sorted edges it gains little or nothing"
    assert "all(a > b for a, b in zip(step, step_x_src))" in code  # "its gather gains in all four cases"


# -- every model in a comparison table is cited (issue 19) ---------------------------------------------------------

TABLE_MODELS = {  # model as named in a table -> its paper
    "E-NF": "satorras2021enf", "G-SchNet": "gebauer2019gschnet", "GDM-aug": "hoogeboom2022edm", "EDM": "hoogeboom2022edm",
    "DTNN": "schutt2017dtnn", "PaiNN": "schutt2021painn",
}


def cites_near(text: str, name: str, key: str, reach: int = 80) -> bool:
    """``name`` followed, within ``reach`` characters and before any other citation, by one that includes ``key``."""
    pattern = re.escape(name) + r"[^{]{0,%d}\{cite[pt]?\}`[^`]*\b%s\b" % (reach, re.escape(key))
    return re.search(pattern, text) is not None


def test_every_published_row_of_the_diffusion_tables_is_cited():
    from minignn.edm import PUBLISHED_QM9

    text = cells("diffusion", "markdown")
    models = [name for name in PUBLISHED_QM9 if name != "data"]
    assert set(models) <= set(TABLE_MODELS), f"a new published row needs a citation: {set(models) - set(TABLE_MODELS)}"
    missing = [name for name in models if not cites_near(text, name, TABLE_MODELS[name])]
    assert not missing, f"the diffusion chapter names these table rows without citing them: {missing}"
    assert all(TABLE_MODELS[name] in bib_keys() for name in models)


def test_every_row_of_the_qm7_comparison_is_cited():
    text, code = cells("qm7", "markdown"), cells("qm7", "code")
    rows = [line for c in nbformat.read(BOOK / "qm7.ipynb", as_version=4).cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if line.startswith("| ") and not line.startswith(("| model", "| ---"))]
    assert len(rows) >= 3
    assert all("{cite}" in row for row in rows), [row for row in rows if "{cite}" not in row]
    for name in ("DTNN", "PaiNN"):
        assert cites_near(text, name, TABLE_MODELS[name]), name
    published = re.search(r"published = \{([^}]*)\}", code).group(1)  # the plotted rows: each one a row of the table
    assert re.findall(r'"([^"(]+) \(', published) == ["KRR, CM eigenvalues", "NN, random CM", "DTNN"]


def test_equivariance_shows_that_distances_are_not_enough_for_message_passing():
    """Issue 19: the overstated sentence is gone, and a cell shows a pair that a distance-only MPNN cannot separate."""
    text, code = cells("equivariance", "markdown"), cells("equivariance", "code")
    assert "can tell any two conformers apart, *except* mirror images" not in text
    assert "### Distances are not enough for message passing" in text
    for key in ("pozdnyakov2020incompleteness", "pozdnyakov2022incompleteness", "li2023distance"):
        assert key in text and key in bib_keys()
    assert 'assert separated["lengths"] < 1e-12 < 1e-3 < separated["lengths + angles"]' in code


def test_equivariance_checks_its_twenty_line_egnn_layer_against_minignn():
    """Issue 19, part 3: the chapter writes one EGNN layer in plain PyTorch, compares it with EGNNLayer (both
    reductions, coords_range), prints the difference and asserts it; the figure's terms are the layer's messages."""
    text, code = cells("equivariance", "markdown"), cells("equivariance", "code")
    assert "def egnn_layer(layer, h, pos, edge_index):" in code
    for piece in ("index_add_(0, dst, m)", "vec / (dist + 1) * w", "layer.coords_range * torch.tanh(w)",
                  'layer.pos_reduce == "mean"', "layer.phi_e(", "layer.phi_h(", "layer.phi_x("):
        assert piece in code, piece
    assert '(("mean", None), ("sum", 2.0))' in code
    assert "egnn_layer(layer, x, pos, edge_index), layer(x, pos, edge_index)" in code
    assert "20 lines vs EGNNLayer: max |difference| h {dh:.1e}, positions {dr:.1e}" in code
    assert "assert worst < 1e-12" in code
    assert "Compare, on each line, the largest move of an atom with the two differences" in text
    assert "sketch.message((h_flat[src], p[src]), (h_flat[dst], p[dst]), None)" in code
    assert "assert mean_err < 1e-12 and turn_err < 1e-12 and along_edges < 1e-12" in code
