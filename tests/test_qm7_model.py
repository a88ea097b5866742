"""PaiNN (minignn.painn): symmetries, batching, corner cases, an edge-loop oracle, checkpoints, errors."""

import pytest
import torch

from minignn.graph import Graph, batch, call_model
from minignn.neighbours import fully_connected, radius_graph
from minignn.painn import PaiNN, PaiNNConfig, PaiNNMessage, load_pretrained, qm7_checkpoint_path, save_pretrained
from minignn.testing import assert_euclidean, random_molecule
from minignn.baselines import CompositionBaseline, Standardizer


def small_model(dtype=torch.float64, **kw):
    torch.manual_seed(0)
    cfg = dict(num_types=5, width=8, layers=2, num_basis=6, cutoff=3.0)
    cfg.update(kw)
    return PaiNN(**cfg).to(dtype)


def molecule(n=7, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pos, onehot, edge_index = random_molecule(n, 5, cutoff=3.0, generator=gen, dtype=dtype)
    return pos, onehot.argmax(1), edge_index


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("basis", ["bessel", "gaussian"])
def test_invariant_under_rotation_reflection_translation_permutation(dtype, basis):
    model = small_model(dtype, basis=basis)
    pos, x, edge_index = molecule(dtype=dtype)
    assert edge_index.shape[1] > 0
    report = assert_euclidean(model, x, pos, edge_index, trials=2,
                              generator=torch.Generator().manual_seed(1))
    assert set(report) == {"rotation", "reflection", "translation", "permutation"}


def test_not_a_constant():
    """The symmetry checks are only meaningful if the energy depends on the geometry and the types."""
    model = small_model().requires_grad_(False)
    pos, x, edge_index = molecule()
    e = model(x, pos, edge_index)
    squeezed = pos.clone()
    squeezed[0] = 0.8 * squeezed[0] + 0.2 * squeezed[1]
    assert abs(float(model(x, squeezed, edge_index) - e)) > 1e-6
    assert abs(float(model((x + 1) % 5, pos, edge_index) - e)) > 1e-6


def test_radius_graph_equals_complete_graph():
    """Every message carries the envelope, so edges beyond the cutoff contribute exactly nothing."""
    model = small_model(cutoff=2.0)
    pos, x, _ = molecule(n=9)
    near, full = radius_graph(pos, 2.0), fully_connected(9)
    assert near.shape[1] < full.shape[1]
    torch.testing.assert_close(model(x, pos, near), model(x, pos, full), rtol=0, atol=1e-12)


def test_batch_of_two_equals_each_molecule():
    model = small_model()
    graphs = []
    for seed, n in ((0, 6), (1, 9)):
        pos, x, edge_index = molecule(n, seed=seed)
        graphs.append(Graph(edge_index=edge_index, x=x, pos=pos))
    both = call_model(model, batch(graphs))  # the Graph enters through the one place that unpacks it
    assert both.shape == (2,)
    singles = torch.cat([model(g.x, g.pos, g.edge_index) for g in graphs])
    torch.testing.assert_close(both, singles, rtol=0, atol=1e-12)


def test_single_atom_and_isolated_atoms():
    model = small_model()
    one = model(torch.tensor([2]), torch.zeros(1, 3, dtype=torch.float64), torch.empty(2, 0, dtype=torch.int64))
    assert one.shape == (1,) and torch.isfinite(one).all()
    # without edges an atom only sees its own type: the energy is a sum of per-type terms
    far = torch.tensor([[0.0, 0, 0], [10.0, 0, 0]], dtype=torch.float64)
    two = model(torch.tensor([2, 2]), far, torch.empty(2, 0, dtype=torch.int64))
    torch.testing.assert_close(two, 2 * one, rtol=0, atol=1e-12)


def test_message_step_against_edge_loop():
    """Delta s_j = sum a_ss, Delta v_j = sum v_i a_vv + a_vs r_ij / d_ij, one edge at a time."""
    torch.manual_seed(0)
    F, K = 4, 3
    msg = PaiNNMessage(F, K).double()
    pos, x, edge_index = molecule(n=5)
    s, v = torch.randn(5, F, dtype=torch.float64), torch.randn(5, 3, F, dtype=torch.float64)
    src, dst = edge_index
    vec = pos[dst] - pos[src]
    unit = vec / vec.norm(dim=1, keepdim=True)
    rbf = torch.randn(edge_index.shape[1], K, dtype=torch.float64)
    ds, dv = msg(s, v, edge_index, unit, rbf)
    ds_ref, dv_ref = torch.zeros_like(s), torch.zeros_like(v)
    for e in range(edge_index.shape[1]):
        i, j = int(src[e]), int(dst[e])
        a = msg.phi(s[i]) * msg.filter(rbf[e])
        ds_ref[j] += a[:F]
        dv_ref[j] += v[i] * a[F:2 * F] + unit[e][:, None] * a[2 * F:]
    torch.testing.assert_close(ds, ds_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(dv, dv_ref, rtol=0, atol=1e-12)


def test_save_and_load_pretrained(tmp_path):
    model = small_model(torch.float32)
    baseline = CompositionBaseline(5).fit(torch.tensor([[1.0, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 1, 1, 0, 0]]),
                                          torch.tensor([1.0, 2.0, 4.0]))
    std = Standardizer(0.5, 2.0)
    path = save_pretrained(tmp_path / "m.pt", model, baseline, std, {"cutoff": 3.0})
    state = torch.load(path, weights_only=True)  # no pickled code
    assert state["config"]["width"] == 8
    again = load_pretrained(path)
    pos, x, edge_index = molecule(dtype=torch.float32)
    g = Graph(edge_index=edge_index, x=x, pos=pos)
    torch.testing.assert_close(again.model(x, pos, edge_index), model(x, pos, edge_index))
    expected = baseline.predict(torch.bincount(x, minlength=5)[None].double()) + 0.5 + 2.0 * model(x, pos, edge_index).double()
    torch.testing.assert_close(again.predict([g]), expected)
    assert again.info == {"cutoff": 3.0}


def test_shipped_qm7_checkpoint():
    path = qm7_checkpoint_path()
    assert path.is_file(), f"the QM7 checkpoint is not shipped at {path}: run python benchmarks/qm7.py"
    assert path.stat().st_size < 5 * 2**20
    pre = load_pretrained()
    assert pre.info["units"] == "kcal/mol" and pre.info["test_mae"] < 5.0
    # methane, roughly: C at the origin, four H at 1.09 Angstrom; atomization energy about -420 kcal/mol
    h = 1.09 / 3**0.5
    pos = torch.tensor([[0, 0, 0], [h, h, h], [-h, -h, h], [-h, h, -h], [h, -h, -h]], dtype=torch.float32)
    x = torch.tensor([1, 0, 0, 0, 0])  # QM7 types: H=0, C=1, N=2, O=3, S=4
    g = Graph(edge_index=radius_graph(pos, pre.info["cutoff"]), x=x, pos=pos)
    energy = float(pre.predict([g]))
    assert -480 < energy < -360


def test_bad_inputs():
    model = small_model()
    pos, x, edge_index = molecule()
    with pytest.raises(ValueError, match="int64 atom types"):
        model(x.double(), pos, edge_index)
    with pytest.raises(ValueError, match="atom types must lie in"):
        model(x + 5, pos, edge_index)
    with pytest.raises(ValueError, match=r"pos must be a floating tensor of shape \[num_nodes, 3\], got torch.float64 \[7, 2\]"):
        model(x, pos[:, :2], edge_index)
    with pytest.raises(ValueError, match="pos must be finite"):
        model(x, torch.full_like(pos, float("nan")), edge_index)
    with pytest.raises(ValueError, match="refers to nodes"):
        model(x, pos, edge_index + 100)
    with pytest.raises(ValueError, match=r"x must hold int64 atom types of shape \[num_nodes=6\], got torch.int64 \[7\]"):
        model(x, pos[:6], edge_index[:, (edge_index < 6).all(0)])
    same = pos.clone()
    same[1] = same[0]
    with pytest.raises(ValueError, match="same position"):
        model(x, same, fully_connected(7))
    with pytest.raises(ValueError, match="basis must be"):
        PaiNN(basis="fourier")
    with pytest.raises(ValueError, match="either a config or keyword"):
        PaiNN(PaiNNConfig(), width=3)


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no PaiNN checkpoint"):
        load_pretrained(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a PaiNN checkpoint"):
        load_pretrained(tmp_path / "other.pt")


def _benchmark_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "qm7.py"
    spec = importlib.util.spec_from_file_location("qm7_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_rewrites_only_its_section(tmp_path):
    bench = _benchmark_module()
    results = tmp_path / "RESULTS.md"
    other = "# Benchmark results\n\n<!-- aggregation:begin -->\nkeep me\n<!-- aggregation:end -->\n"
    results.write_text(other)
    section = "\n".join([bench.BEGIN, "- date: today", "", "| model | test MAE (kcal/mol) | time (s) | epochs | parameters |",
                         "| --- | --- | --- | --- | --- |", "| PaiNN | 1.50 | 3600 | 90 | 150657 |", bench.END])
    bench.write_section(section, results)
    bench.write_section(section.replace("1.50", "1.40"), results)  # replaced in place, not appended twice
    text = results.read_text()
    assert text.startswith(other) and text.count(bench.BEGIN) == 1
    parsed = bench.read_section(results)
    assert parsed["meta"]["date"] == "today" and parsed["rows"][0]["mae"] == 1.40
    (tmp_path / "without.md").write_text(other)
    with pytest.raises(ValueError, match="no qm7 section"):
        bench.read_section(tmp_path / "without.md")


def test_message_block_fast_path_equals_the_base_class_path():
    """PaiNNMessage applies phi per node before gathering; the base class gathers, then applies it per edge."""
    from minignn.mpnn import MessagePassing
    from minignn.painn import PaiNNMessage

    torch.manual_seed(0)
    block = PaiNNMessage(6, 4).double()
    assert isinstance(block, MessagePassing)
    pos, x, edge_index = molecule(dtype=torch.float64)
    s, v = torch.randn(7, 6, dtype=torch.float64), torch.randn(7, 3, 6, dtype=torch.float64)
    vec = pos[edge_index[1]] - pos[edge_index[0]]
    unit, rbf = vec / vec.norm(dim=1, keepdim=True), torch.randn(edge_index.shape[1], 4, dtype=torch.float64)
    fast = block.edge_messages((s, v), edge_index, (unit, rbf))
    plain = MessagePassing.edge_messages(block, (s, v), edge_index, (unit, rbf))
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-13)
    ds, dv = block(s, v, edge_index, unit, rbf)
    assert ds.shape == (7, 6) and dv.shape == (7, 3, 6)
    with pytest.raises(ValueError, match=r"v must be a torch.float64 tensor of shape \[N=7, 3, F=6\]"):
        block(s, v[:, :2], edge_index, unit, rbf)
