"""The Conventions page (book/conventions.md): every statement names the tests behind it and those tests exist;
and the tests of the statements that no other test file covers."""

import ast
import importlib.util
import pathlib
import random
import re
import sys

import networkx as nx
import nbformat
import numpy as np
import pytest
import torch

from minignn import units
from minignn.geometry import apply_transform, random_reflection, random_rotation
from minignn.graph import Graph, degree, from_networkx, to_dense, to_undirected
from minignn.scatter import scatter
from minignn.spherical import degree_slice, estimate_wigner_D, spherical_harmonics

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "conventions.md"
F64 = torch.float64
REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+(?:::\w+)?)`")
TESTS_LINE = re.compile(r"^Tests?: (`tests/[\w/]+\.py::\w+(?:::\w+)?`)(, `tests/[\w/]+\.py::\w+(?:::\w+)?`)*$")
TOPICS = ["Edges", "Calling models", "Scatter", "Laplacian", "Units", "QM7", "QM9", "Spherical harmonics", "Rotations",
          "Irreps: ordering", "Irreps: parity", "Clebsch-Gordan", "Random seeds"]


def sections():
    """``{heading: [lines]}`` for each ``##`` section of the page (the introduction above them is not a statement)."""
    out, current = {}, None
    for line in PAGE.read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


# -- the page ------------------------------------------------------------------------------------
def test_page_covers_every_convention():
    headings = list(sections())
    missing = [t for t in TOPICS if not any(t.lower() in h.lower() for h in headings)]
    assert not missing, f"book/conventions.md has no section on {missing}"


def prose_paragraphs(lines):
    """The paragraphs of a block of lines, tables (``|`` rows) and display math left out."""
    paragraphs = "\n".join(lines).strip().split("\n\n")
    return [p for p in paragraphs if p.strip() and not p.lstrip().startswith(("|", "$$"))]


def test_every_statement_is_followed_by_its_tests():
    """Each section is a sequence of statements (one paragraph each, maybe with a table), each closed by a line
    ``Tests: `tests/x.py::test_y`, ...``."""
    for heading, lines in sections().items():
        block, closed = [], 0
        for line in lines:
            if line.startswith(("Test:", "Tests:")):
                assert TESTS_LINE.match(line), f"{heading!r}: malformed line {line!r}"
                statements = prose_paragraphs(block)
                assert len(statements) == 1, (f"{heading!r}: each statement (one paragraph) needs its own Tests "
                                              f"line, found {len(statements)} paragraphs before {line[:80]!r}")
                block, closed = [], closed + 1
            else:
                block.append(line)
        assert closed, f"section {heading!r} names no test"
        assert not any(s.strip() for s in block), \
            f"section {heading!r} ends with a statement that names no test: {' '.join(block).strip()[:200]!r}"


def defined_tests(path):
    """Names of the test functions of a file: ``test_x`` and ``TestClass::test_x``."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{f.name}" for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return {n for n in names if n.split("::")[-1].startswith("test")}


def test_every_named_test_exists():
    refs = REF.findall(PAGE.read_text())
    assert len(refs) >= len(TOPICS)
    files = {f: defined_tests(ROOT / f) if (ROOT / f).is_file() else set() for f in {f for f, _ in refs}}
    missing = [f"{f}::{name}" for f, name in refs if name not in files[f]]
    assert not missing, f"book/conventions.md names tests that do not exist: {missing}"


def test_page_states_the_package_constants():
    text = PAGE.read_text()
    for value in (units.BOHR_IN_ANGSTROM, units.HARTREE_IN_EV, units.HARTREE_IN_KCAL_PER_MOL):
        assert f"`{value!r}`" in text, value
    assert f"`{units.EV_IN_KCAL_PER_MOL:.11f}`" in text


def test_qm9_table_is_the_package_table():
    from minignn.datasets.qm9 import TARGETS

    table = {}
    for line in sections()["QM9: fields"]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            names, columns = re.findall(r"`(\w+)`", cells[0]), re.findall(r"`(\w+)`", cells[1])
            assert len(names) == len(columns), line
            table.update({n: (c, cells[2]) for n, c in zip(names, columns)})
    assert table == TARGETS


# -- statements no other test file covers ---------------------------------------------------------
def test_a_message_flows_from_src_to_dst():
    edge_index = torch.tensor([[0, 1, 3], [1, 2, 2]])  # 0 -> 1 -> 2 <- 3, and node 4 isolated
    src, dst = edge_index
    n = 5
    x = torch.eye(n, dtype=F64)  # one-hot features: row j of the result says who sent to j
    received = scatter(x[src], dst, dim_size=n)
    expected = torch.zeros(n, n, dtype=F64)
    expected[1, 0] = expected[2, 1] = expected[2, 3] = 1
    assert torch.equal(received, expected)
    g = Graph(edge_index=edge_index, num_nodes=n)
    assert torch.equal(g.src, src) and torch.equal(g.dst, dst)
    # dense adjacency: row = src, column = dst, and what j receives is (A^T x)_j
    A = to_dense(edge_index, n, torch.ones(3, dtype=F64))
    assert A[0, 1] == 1 and A[1, 0] == 0 and torch.equal(A.T @ x, received)
    assert degree(dst, n).tolist() == [0, 1, 2, 0, 0] and degree(src, n).tolist() == [1, 1, 0, 1, 0]
    # networkx: the edge u -> v of a DiGraph is src = u, dst = v
    G = nx.DiGraph([(0, 1), (1, 2), (3, 2)])
    G.add_node(4)
    assert torch.equal(from_networkx(G).edge_index, edge_index)
    # the base layer of message passing: x'_j = sum over i > j of x_i
    from minignn.mpnn import MessagePassing

    assert torch.equal(MessagePassing()(x, edge_index), received)
    # an undirected graph with m edges stores 2m columns, one per direction
    both, _ = to_undirected(edge_index, n)
    assert both.shape[1] == 2 * 3
    assert set(map(tuple, both.t().tolist())) == {(0, 1), (1, 0), (1, 2), (2, 1), (3, 2), (2, 3)}


def test_scatter_is_the_incidence_matrix_product():
    src = torch.randn(12, 3, dtype=F64)
    index = torch.randint(0, 4, (12,))  # rows 4 and 5 receive nothing
    B = torch.zeros(6, 12, dtype=F64)
    B[index, torch.arange(12)] = 1.0  # B[j, e] = 1 if index[e] == j
    assert torch.allclose(scatter(src, index, dim_size=6), B @ src, rtol=0, atol=1e-12)
    count = B.sum(1, keepdim=True)
    assert torch.allclose(scatter(src, index, dim_size=6, reduce="mean"), (B @ src) / count.clamp(min=1),
                          rtol=0, atol=1e-12)
    empty = count[:, 0] == 0
    assert bool(empty.any())
    for reduce in ("sum", "mean", "max", "min"):
        assert torch.equal(scatter(src, index, dim_size=6, reduce=reduce)[empty], torch.zeros(int(empty.sum()), 3, dtype=F64))


def test_rotation_acts_on_row_vectors_and_harmonics_alike():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(30, 3, dtype=F64, generator=g)
    P = torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=F64)  # (x, y, z) -> (y, z, x)
    for R in (random_rotation(g), random_reflection(g)):
        moved = apply_transform(pos, R)
        assert torch.allclose(moved, pos @ R.T, rtol=0, atol=1e-14)
        assert torch.allclose(moved[0], R @ pos[0], rtol=0, atol=1e-14)  # r -> R r for each node
        Y, Y_moved = spherical_harmonics(3, pos), spherical_harmonics(3, moved)
        assert torch.allclose(estimate_wigner_D(1, R), P @ R @ P.T, rtol=0, atol=1e-12)  # degree 1 is (y, z, x)
        for l in range(4):
            D = estimate_wigner_D(l, R)
            assert torch.allclose(Y_moved[:, degree_slice(l)], Y[:, degree_slice(l)] @ D.T, rtol=0, atol=1e-12), l
        # the column-vector reading pos @ R (i.e. R^T r) is a different motion
        assert not torch.allclose(pos @ R, moved, atol=1e-3)


def test_irreps_are_laid_out_block_by_block_and_copy_by_copy():
    from minignn.irreps import Irrep, Irreps

    irreps = Irreps("2x0e + 2x1o + 1x2e")
    assert irreps.slices() == [slice(0, 2), slice(2, 8), slice(8, 13)] and irreps.dim == 13
    g = torch.Generator().manual_seed(0)
    Q = random_rotation(g)
    x = torch.randn(5, 13, dtype=F64, generator=g)
    moved = x @ irreps.D(Q).T
    assert torch.equal(moved[:, :2], x[:, :2])  # scalars do not move
    for copy in range(2):  # copy u of the vectors: columns 2 + 3u .. 2 + 3u + 2, each rotated on its own
        cols = slice(2 + 3 * copy, 5 + 3 * copy)
        assert torch.allclose(moved[:, cols], x[:, cols] @ Irrep("1o").D(Q).T, rtol=0, atol=1e-14)
    P = torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=F64)
    v = torch.randn(4, 3, dtype=F64, generator=g)  # a vector stored as (y, z, x): the harmonics of degree 1
    assert torch.allclose(spherical_harmonics(1, v, normalize=False, normalization="norm")[:, 1:], v[:, [1, 2, 0]],
                          rtol=0, atol=1e-15)
    assert torch.allclose(Irrep("1o").D(Q), P @ Q @ P.T, rtol=0, atol=1e-14)
    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)  # e3nn builds its constants in the default dtype
    try:
        theirs = o3.Irreps("2x0e + 2x1o + 1x2e").D_from_matrix(P @ Q @ P.T)
    finally:
        torch.set_default_dtype(old)
    assert torch.allclose(irreps.D(Q), theirs, rtol=0, atol=1e-12)


def test_parity_is_the_sign_under_the_inversion():
    from minignn.clebsch_gordan import clebsch_gordan
    from minignn.irreps import Irrep, wigner_D

    minus = -torch.eye(3, dtype=F64)
    for l in range(4):
        assert torch.equal(Irrep(l, 1).D(minus), torch.eye(2 * l + 1, dtype=F64))
        assert torch.equal(Irrep(l, -1).D(minus), -torch.eye(2 * l + 1, dtype=F64))
        assert torch.equal(wigner_D(l, minus), (-1) ** l * torch.eye(2 * l + 1, dtype=F64))  # harmonics: (l, (-1)^l)
    g = torch.Generator().manual_seed(1)
    Q = random_reflection(g)
    u, v = torch.randn(3, dtype=F64, generator=g), torch.randn(3, dtype=F64, generator=g)
    cross = lambda a, b: torch.einsum("abc,a,b->c", clebsch_gordan(1, 1, 1), a[[1, 2, 0]], b[[1, 2, 0]])  # noqa: E731
    assert torch.allclose(cross(Q @ u, Q @ v), Irrep("1e").D(Q) @ cross(u, v), rtol=0, atol=1e-14)  # a pseudovector
    assert torch.allclose(Irrep("1e").D(Q), -Irrep("1o").D(Q), rtol=0, atol=1e-15)  # det(Q) Q v
    assert Irrep("1o") * Irrep("1o") == [Irrep("0e"), Irrep("1e"), Irrep("2e")]  # parities multiply


def test_clebsch_gordan_normalisation_and_sign_are_e3nns():
    from minignn.clebsch_gordan import clebsch_gordan
    from minignn.tensor_product import TensorProduct

    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    for l1, l2, l3 in [(1, 1, 0), (1, 1, 1), (1, 1, 2), (2, 1, 2), (2, 2, 2), (3, 2, 1)]:
        C = clebsch_gordan(l1, l2, l3)
        assert abs(float((C * C).sum()) - 1) < 1e-14
        assert torch.allclose(C, o3.wigner_3j(l1, l2, l3, dtype=F64), rtol=0, atol=1e-12)  # same sign
    for l in range(4):
        assert torch.allclose(clebsch_gordan(l, l, 0)[..., 0], torch.eye(2 * l + 1, dtype=F64) / (2 * l + 1) ** 0.5,
                              rtol=0, atol=1e-15)
    assert not clebsch_gordan(1, 1, 3).any()  # |l1 - l2| <= l3 <= l1 + l2
    tp = TensorProduct("1x1o", "1x1o", "1x0e").double()
    with torch.no_grad():
        tp.weight.fill_(1.0)
    u, v = torch.randn(5, 3, dtype=F64), torch.randn(5, 3, dtype=F64)
    assert torch.allclose(tp(u, v)[:, 0], (u * v).sum(-1) / 3 ** 0.5, rtol=0, atol=1e-14)


@pytest.mark.parametrize("run", [1, 2])
def test_every_test_starts_from_seed_zero(run):
    """The autouse fixture of tests/conftest.py: each test (here the same one twice) sees the same numbers."""
    assert random.random() == random.Random(0).random()
    assert np.random.rand() == np.random.RandomState(0).rand()
    assert torch.equal(torch.randn(5), torch.randn(5, generator=torch.Generator().manual_seed(0)))


def chapter_notebooks():
    spec = importlib.util.spec_from_file_location("minignn_tools_workshop", ROOT / "tools" / "workshop.py")
    workshop = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(workshop)
    return workshop.chapters(unlisted=True)


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_every_chapter_seeds_torch_first(path):
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert len(code) > 1 and re.search(r"^torch\.manual_seed\(0\)", code[1], re.M), \
        f"{path.name}: the first code cell after the setup cell must call torch.manual_seed(0)"


def test_every_qm7_number_uses_fold_0_of_the_stratified_folds():
    from minignn.painn import load_pretrained

    info = load_pretrained().info
    assert info["dataset"] == "QM7" and info["units"] == "kcal/mol" and info["fold"] == 0
    assert info["folds_source"] == "stratified by energy, seed 0"
    assert (info["split"]["folds"], info["split"]["seed"], info["split"]["fold"]) == ("stratified", 0, 0)
    benchmark = ROOT / "benchmarks" / "qm7.py"
    if benchmark.is_file():  # its defaults, read from its command line definition
        defaults = {node.args[0].value: kw.value.value for node in ast.walk(ast.parse(benchmark.read_text()))
                    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    for kw in node.keywords if kw.arg == "default" and isinstance(kw.value, ast.Constant)}
        assert defaults["--fold"] == 0 and defaults["--folds"] == "stratified"
    from minignn.results import read_section

    assert "folds: stratified by energy, seed 0" in read_section("qm7")
    chapter = nbformat.read(ROOT / "book" / "qm7.ipynb", as_version=4)
    code = "\n".join(c.source for c in chapter.cells if c.cell_type == "code")
    loads = re.findall(r"load_qm7\(([^)]*)\)", code)
    assert loads and loads[0] == 'folds="stratified"', loads  # the data every number of the chapter uses
    assert all("folds=" in args for args in loads)  # no load relies on what the file happens to contain
    assert "qm7.split(0)" in code and "pre.split_of(qm7)" in code


# -- one calling convention -----------------------------------------------------------------------------
ROLES = {"x": 0, "h": 0, "s": 0, "v": 0, "features": 0, "pos": 1, "edge_index": 2, "nerve": 2}


def public_modules():
    import pkgutil

    import minignn

    for info in pkgutil.iter_modules(minignn.__path__):
        yield importlib.import_module(f"minignn.{info.name}")


def public_models():
    """Every public nn.Module of minignn (a name in a module's ``__all__``) whose forward reads a graph or positions."""
    import inspect

    seen = {}
    for module in public_modules():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, torch.nn.Module) and obj.__module__ == module.__name__:
                params = list(inspect.signature(obj.forward).parameters)[1:]
                if {"pos", "edge_index", "nerve"} & set(params):
                    seen[f"{module.__name__}.{name}"] = params
    return seen


def test_every_model_takes_features_then_positions_then_the_graph():
    models = public_models()
    assert {"minignn.mpnn.MPNN", "minignn.equivariant.EGNN", "minignn.painn.PaiNN", "minignn.edm.EDM",
            "minignn.laplacian.GCNConv", "minignn.nerve.NerveLayer"} <= set(models)
    for name, params in models.items():
        head = [p for p in params if p in ROLES]
        assert params[: len(head)] == head, f"{name}{tuple(params)}: features, pos and edge_index must come first"
        roles = [ROLES[p] for p in head]
        assert roles == sorted(roles), f"{name}{tuple(params)}: the order is features, pos, edge_index"


def test_checkers_take_and_pass_features_positions_graph():
    import inspect

    from minignn import testing

    for name in ("check_euclidean", "assert_euclidean", "check_permutation", "assert_permutation"):
        params = list(inspect.signature(getattr(testing, name)).parameters)
        assert params[:4] == ["fn", "x", "pos", "edge_index"], (name, params)
    pos, x, ei = testing.random_molecule(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    seen = []
    testing.check_euclidean(lambda *a: seen.append(tuple(t.shape for t in a)) or a[1].sum(), x, pos, ei)
    assert set(seen) == {(tuple(x.shape), tuple(pos.shape), tuple(ei.shape))}


def test_no_chapter_reorders_arguments_for_a_checker():
    """No chapter wraps a model in a lambda that only permutes its arguments (``lambda p, x, e: m(x, p, e)``)."""
    reorder = re.compile(r"lambda\s+(\w+)\s*,\s*(\w+)\s*(?:,\s*(\w+)\s*)?:\s*\w+(?:\.\w+)*\(([^()]*)\)")
    offenders = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        for m in reorder.finditer(code):
            params = [g for g in m.groups()[:3] if g]
            args = [a.strip() for a in m.group(4).split(",") if a.strip()]
            if sorted(args) == sorted(params) and args != params:
                offenders.append(f"{path.name}: {m.group(0)}")
    assert not offenders, offenders


def test_call_model_is_the_one_place_a_graph_meets_a_model():
    from minignn.graph import Graph, batch, call_model
    from minignn.painn import PaiNN
    from minignn.train import TypeMPNN

    pos = torch.tensor([[0.0, 0, 0], [1.1, 0, 0], [0, 1.2, 0]], dtype=torch.float64)
    g = Graph(edge_index=torch.tensor([[0, 1, 0, 2], [1, 0, 2, 0]]), x=torch.tensor([0, 1, 1]), pos=pos)
    two = batch([g, g])
    painn = PaiNN(num_types=2, width=4, layers=1, num_basis=3, cutoff=3.0).double()
    torch.testing.assert_close(call_model(painn, two), painn(two.x, two.pos, two.edge_index, batch=two.batch,
                                                              num_graphs=2), rtol=0, atol=0)
    mpnn = TypeMPNN(2, width=4, layers=1, hidden=4)
    torch.testing.assert_close(call_model(mpnn, two), mpnn(two.x, two.edge_index, batch=two.batch, num_graphs=2))
    with pytest.raises((ValueError, AttributeError, TypeError)):
        painn(two)  # a model does not take a Graph itself
    with pytest.raises(ValueError, match="reads positions but the graph has no pos"):
        call_model(painn, g.replace(pos=None))


def test_layers_run_by_a_validated_model_do_not_validate_again(validation_calls):
    """A model checks edge_index and pos once; its layers (``propagate``) trust them."""
    from minignn import equivariant, mpnn as mpnn_module
    from minignn.edm import EDM, EDMConfig
    from minignn.neighbours import fully_connected

    calls = validation_calls(mpnn_module, equivariant, importlib.import_module("minignn.edm"))
    x, pos, ei = torch.randn(5, 3), torch.randn(5, 3), fully_connected(5)
    net = equivariant.EGNN(3, width=4, layers=4)
    net(x, pos, ei)
    assert calls == {"edge_index": 1, "pos": 1}, calls
    calls.update(edge_index=0, pos=0)
    mp = mpnn_module.MPNN(3, 2, width=4, layers=3, hidden=4)
    mp(x, ei)
    assert calls["edge_index"] == 1, calls
    calls.update(edge_index=0, pos=0)
    edm = EDM(EDMConfig(width=4, layers=3), torch.tensor([5]))
    f = edm.eps_model(torch.zeros(5, dtype=torch.int64), ei)
    checked = dict(calls)
    for t in (0.9, 0.5, 0.1):  # a sampler's calls: no validation at all
        f(torch.randn(5, 8), torch.full((5,), t))
    assert calls == checked and checked["edge_index"] == 1, calls
