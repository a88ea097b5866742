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
    with pytest.raises(FileNotFoundError, match="no PaiNN, NequIP or MACE checkpoint at .*missing.pt"):
        load_pretrained(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a PaiNN, NequIP or MACE checkpoint"):
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


# -- NequIP and MACE through the same save_pretrained / load_pretrained (issue 17) ------------------------------
def small_equivariant(name, dtype=torch.float32):
    from minignn.mace import MACE
    from minignn.tfn import NequIP

    torch.manual_seed(0)
    if name == "nequip":
        return NequIP(num_types=5, width=4, l_max=1, layers=2, num_basis=4, cutoff=3.0, hidden=8).to(dtype)
    return MACE(num_types=5, width=4, l_max=1, correlation=2, layers=2, num_basis=4, cutoff=3.0, hidden=8).to(dtype)


@pytest.mark.parametrize("name", ["nequip", "mace"])
def test_save_and_load_pretrained_nequip_and_mace(tmp_path, name):
    model = small_equivariant(name).eval()
    baseline = CompositionBaseline(5).fit(torch.tensor([[1.0, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 1, 1, 0, 0]]),
                                          torch.tensor([1.0, 2.0, 4.0]))
    path = save_pretrained(tmp_path / "m.pt", model, baseline, Standardizer(0.5, 2.0), {"cutoff": 3.0})
    state = torch.load(path, weights_only=True)  # no pickled code
    assert state["format"] == f"minignn.{name}/1" and state["config"]["width"] == 4
    assert all(v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point())
    for again in (load_pretrained(path), load_pretrained(path, model=name)):
        assert type(again.model) is type(model) and again.model.config == model.config and not again.model.training
        graphs = [Graph(edge_index=e, x=x, pos=p) for p, x, e in (molecule(seed=s, dtype=torch.float32) for s in (0, 1))]
        expected = torch.cat([model(g.x, g.pos, g.edge_index) for g in graphs])
        torch.testing.assert_close(again.model(graphs[0].x, graphs[0].pos, graphs[0].edge_index), expected[:1],
                                   rtol=0, atol=0)
        counts = torch.stack([torch.bincount(g.x, minlength=5) for g in graphs]).double()
        torch.testing.assert_close(again.predict(graphs), baseline.predict(counts) + 0.5 + 2.0 * expected.double(),
                                   rtol=0, atol=1e-9)
        assert again.info == {"cutoff": 3.0}
    with pytest.raises(ValueError, match=rf"is not a PaiNN checkpoint: expected format 'minignn.painn/1', "
                                         rf"got 'minignn.{name}/1'"):
        load_pretrained(path, model="painn")


def test_pretrained_bad_inputs_name_the_argument(tmp_path):
    model = small_equivariant("nequip")
    base, std = CompositionBaseline(5), Standardizer()
    with pytest.raises(ValueError, match=r"model must be a PaiNN, a NequIP or a MACE .* got Linear"):
        save_pretrained(tmp_path / "m.pt", torch.nn.Linear(2, 1), base, std)
    with pytest.raises(ValueError, match=r"baseline must have a state_dict\(\)"):
        save_pretrained(tmp_path / "m.pt", model, object(), std)
    with pytest.raises(ValueError, match=r"standardizer must have a state_dict\(\)"):
        save_pretrained(tmp_path / "m.pt", model, base, 1.0)
    with pytest.raises(ValueError, match=r"info must be a dict \(or None\), got list"):
        save_pretrained(tmp_path / "m.pt", model, base, std, [1])
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(ValueError, match=r"model must be one of \['painn', 'nequip', 'mace'\], got 'schnet'"):
        load_pretrained(tmp_path / "m.pt", model="schnet")
    with pytest.raises(ValueError, match=r"model must be one of \['painn', 'nequip', 'mace'\], got 3"):
        qm7_checkpoint_path(3)
    assert qm7_checkpoint_path() == qm7_checkpoint_path("painn") and qm7_checkpoint_path("mace").name == "qm7_mace.pt"
    with pytest.raises(FileNotFoundError, match="no MACE checkpoint at .*missing.pt"):
        load_pretrained(tmp_path / "missing.pt", model="mace")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"not a PaiNN, NequIP or MACE checkpoint: expected format one of "
                                         r"'minignn.painn/1', 'minignn.nequip/1', 'minignn.mace/1', got 'something else'"):
        load_pretrained(tmp_path / "other.pt")
    # a config that does not describe the weights: the file and the argument are named
    path = save_pretrained(tmp_path / "m.pt", model, base.fit(torch.eye(5), torch.ones(5)), std)
    state = torch.load(path, weights_only=True)
    state["config"]["width"] = 6
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"m.pt does not fit the NequIP its config describes|m.pt: weight .* has shape"):
        load_pretrained(path)
    state["config"]["l_max"] = -1
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"m.pt is a damaged NequIP checkpoint: l_max"):
        load_pretrained(path)


#: The equivariant model shipped for QM7 (benchmarks/qm7.py --model nequip; RESULTS.md section qm7_nequip).
SHIPPED = "nequip"


@pytest.fixture(scope="module")
def shipped_equivariant():
    """The shipped NequIP, QM7 loaded with the folds its checkpoint names, and its test molecules (checked split)."""
    from minignn.datasets import load_qm7

    pre = load_pretrained(model=SHIPPED)
    qm7 = load_qm7(folds=pre.info["split"]["folds"])
    return pre, qm7, pre.split_of(qm7)[2]


def test_shipped_equivariant_checkpoint_scores_its_record(shipped_equivariant):
    from minignn.results import read_section

    pre, qm7, test = shipped_equivariant
    path = qm7_checkpoint_path(SHIPPED)
    assert path.is_file() and path.stat().st_size < 5 * 2**20
    assert type(pre.model).__name__ == "NequIP" and not pre.model.training
    info = pre.info
    assert (info["dataset"], info["units"], info["fold"]) == ("QM7", "kcal/mol", 0) and len(test) == 1433
    assert info["split"]["folds"] == "stratified" and info["command"].startswith("python benchmarks/qm7.py --model nequip")
    graphs = qm7.graphs(cutoff=info["cutoff"], indices=test)
    mae = float((pre.predict(graphs) - qm7.energies[test]).abs().mean())
    assert mae == pytest.approx(info["test_mae"], abs=1e-4)
    assert f"test MAE {info['test_mae']:.2f} kcal/mol" in read_section(f"qm7_{SHIPPED}")  # the figure the chapter quotes
    bench = _benchmark_module()
    painn = bench.read_section()["rows"][-1]  # the qm7 section's PaiNN row, copied beside the NequIP row
    assert painn["model"].startswith("PaiNN") and painn["mae"] == pytest.approx(load_pretrained().info["test_mae"], abs=0.005)
    rows = bench.read_section(name=f"qm7_{SHIPPED}")["rows"]
    assert rows[0] == dict(painn, model=painn["model"] + " (section qm7)")
    assert rows[1]["model"].startswith("NequIP") and rows[1]["mae"] == pytest.approx(info["test_mae"], abs=0.005)
    assert rows[1]["params"] == str(sum(p.numel() for p in pre.model.parameters()))


def _orthogonal(gen, reflect=False):
    q, r = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=gen))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.det(q) < 0) != reflect:
        q = q * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.det(q) == pytest.approx(-1.0 if reflect else 1.0)
    return q


def test_shipped_equivariant_predictions_are_invariant(shipped_equivariant):
    """Rotations, a reflection, a translation and a permutation of the atoms of 12 test molecules: float64 energies
    agree to 1e-9 kcal/mol; the float32 predictions of ``predict`` to 1e-2 kcal/mol (energies of -500 to -2000)."""
    import copy

    pre, qm7, test = shipped_equivariant
    cutoff = pre.info["cutoff"]
    model64 = copy.deepcopy(pre.model).double().requires_grad_(False)
    scale = float(pre.standardizer.std)
    gen = torch.Generator().manual_seed(0)
    graphs = qm7.graphs(cutoff=cutoff, indices=test[torch.randperm(len(test), generator=gen)[:12]])

    def energy(x, pos):
        return float(model64(x, pos, radius_graph(pos, cutoff))) * scale  # kcal/mol, without the composition terms

    moved32 = []
    for g in graphs:
        x, pos = g.x, g.pos.double()
        e = energy(x, pos)
        perm = torch.randperm(len(x), generator=gen)
        q_rot, q_ref = _orthogonal(gen), _orthogonal(gen, reflect=True)
        shift = torch.randn(3, dtype=torch.float64, generator=gen)
        for name, (x2, pos2) in {"rotation": (x, pos @ q_rot.T), "reflection": (x, pos @ q_ref.T),
                                 "mirror x -> -x": (x, pos * torch.tensor([-1.0, 1, 1], dtype=torch.float64)),
                                 "translation": (x, pos + shift), "permutation": (x[perm], pos[perm]),
                                 "all at once": (x[perm], pos[perm] @ q_ref.T + shift)}.items():
            assert abs(energy(x2, pos2) - e) < 1e-9, name
        squeezed = pos.clone()
        squeezed[0] = squeezed[0] + 0.1 * (squeezed[1] - squeezed[0])  # a real change of geometry: not a constant
        assert abs(energy(x, squeezed) - e) > 0.1
        p2 = (pos[perm] @ q_ref.T + shift).float()
        moved32.append(Graph(edge_index=radius_graph(p2, cutoff), x=x[perm], pos=p2))
    torch.testing.assert_close(pre.predict(moved32), pre.predict(graphs), rtol=0, atol=1e-2)
