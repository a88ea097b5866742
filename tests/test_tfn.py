"""minignn.tfn: the TFN / NequIP convolution (every block equivariant, reflections included) and the NequIP model."""

import pytest
import torch

from minignn.geometry import random_reflection, random_rotation, random_translation
from minignn.graph import Graph, batch as batch_graphs
from minignn.irreps import Irreps
from minignn.neighbours import radius_graph
from minignn.spherical import spherical_harmonics
from minignn.testing import assert_euclidean, assert_permutation, check_euclidean, random_molecule
from minignn.tfn import NequIP, NequIPConfig, TFNConv, edge_harmonics, hidden_irreps
from minignn.tensor_product import TensorProduct

F64 = torch.float64
IN = Irreps("4x0e + 2x0o + 2x1o + 2x1e + 1x2e")
OUT = Irreps("3x0e + 2x0o + 2x1o + 2x1e + 2x2e + 1x2o")


def molecule(n=8, dtype=F64, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos, _, edge_index = random_molecule(n, 3, cutoff=3.0, generator=g, dtype=dtype)
    return pos, edge_index, g


@pytest.mark.parametrize("dtype, tol", [(F64, 1e-12), (torch.float32, 1e-5)])
def test_every_output_block_of_the_convolution_is_equivariant(dtype, tol):
    """h'(Q r + t, D(Q) h) = D(Q) h'(r, h) block by block, for rotations, reflections, the inversion."""
    pos, edge_index, g = molecule(dtype=dtype)
    conv = TFNConv(IN, OUT, l_max=2, cutoff=3.0).to(dtype)
    x = torch.randn(pos.shape[0], IN.dim, dtype=dtype, generator=g)
    out = conv(x, pos, edge_index)
    assert all(out[:, sl].abs().max() > 1e-3 for sl in OUT.slices())  # no block is trivially zero
    for Q in (random_rotation(g, dtype), random_reflection(g, dtype), -torch.eye(3, dtype=dtype)):
        t = random_translation(g, dtype)
        moved = conv(x @ IN.D(Q).T, pos @ Q.T + t, edge_index)
        expected = out @ OUT.D(Q).T
        for sl in OUT.slices():
            assert (moved[:, sl] - expected[:, sl]).abs().max() <= tol * expected.abs().max()
    inverted = conv(x @ IN.D(-torch.eye(3, dtype=dtype)).T, -pos, edge_index)
    for (mul, ir), sl in zip(OUT, OUT.slices()):  # odd parity flips sign, even does not
        assert (inverted[:, sl] - ir.p * out[:, sl]).abs().max() <= tol * out.abs().max()


def test_scalar_input_checked_with_minignn_testing():
    """With scalar inputs (not moved by a motion) the package's checker applies as is: fn(x, pos, edge_index)."""
    pos, edge_index, g = molecule()
    conv = TFNConv("3x0e", OUT, l_max=2, cutoff=3.0).double()
    x = torch.randn(pos.shape[0], 3, dtype=F64, generator=g)
    report = assert_euclidean(conv, x, pos, edge_index, outputs=(OUT.D,), levels=("nodes",), generator=g)
    assert set(report) == {"rotation", "reflection", "translation", "permutation"}


def test_convolution_equals_a_loop_over_edges():
    """h'_j = skip(h_j) + linear(sum over i > j of R(d_ij) (h_i x Y(r_ij)) / sqrt(n)) with r_ij = r_j - r_i."""
    pos, edge_index, g = molecule(6)
    conv = TFNConv(IN, OUT, l_max=2, cutoff=3.0, avg_neighbors=3.0).double()
    x = torch.randn(pos.shape[0], IN.dim, dtype=F64, generator=g)
    expected = conv.skip(x)
    summed = torch.zeros(pos.shape[0], conv.tp.irreps_out.dim, dtype=F64)
    for i, j in edge_index.T.tolist():
        r = pos[j] - pos[i]
        Y = spherical_harmonics(2, r[None], normalization="component")
        w = conv.radial(conv.rbf(r.norm()[None]))
        summed[j] += conv.tp(x[i][None], Y, w)[0]
    expected = expected + conv.linear(summed / 3.0 ** 0.5)
    assert (conv(x, pos, edge_index) - expected).abs().max() < 1e-12


def test_messages_vanish_at_the_cutoff_and_an_isolated_atom_keeps_its_self_connection():
    conv = TFNConv("2x0e + 1x1o", "2x0e + 1x1o", l_max=1, cutoff=2.0).double()
    x = torch.randn(3, 5, dtype=F64)
    pos = torch.tensor([[0.0, 0, 0], [2.0, 0, 0], [10.0, 0, 0]], dtype=F64)  # 0 - 1 exactly at the cutoff
    edge_index = torch.tensor([[0, 1], [1, 0]])
    out = conv(x, pos, edge_index)
    assert (out - conv.skip(x)).abs().max() < 1e-15
    alone = conv(x[2:], pos[2:], torch.zeros(2, 0, dtype=torch.int64))
    assert torch.equal(alone, out[2:])


def test_nequip_is_invariant_permutation_invariant_float32_and_float64():
    pos, edge_index, g = molecule(9)
    types = torch.randint(0, 3, (9,), generator=g)
    model = NequIP(num_types=3, width=6, l_max=2, layers=2, cutoff=3.0, pseudo=True).double()
    assert_euclidean(model, types, pos, edge_index, outputs="invariant", generator=g)
    assert_permutation(model, types, pos, edge_index, output="graph", generator=g)
    model32 = NequIP(num_types=3, width=6, l_max=1, layers=2, cutoff=3.0)
    report = check_euclidean(model32, types, pos.float(), edge_index, generator=g)
    assert max(report.values()) < 1e-5


def test_nequip_batch_of_two_equals_one_by_one_and_isolated_atom():
    g = torch.Generator().manual_seed(1)
    graphs = []
    for n in (5, 1, 7):  # the middle "molecule" is a single atom: no edge
        pos = torch.randn(n, 3, dtype=F64, generator=g) * 1.3
        graphs.append(Graph(x=torch.randint(0, 2, (n,), generator=g), pos=pos, edge_index=radius_graph(pos, 3.0)))
    model = NequIP(num_types=2, width=4, l_max=1, layers=2, cutoff=3.0).double()
    both = batch_graphs(graphs)
    energies = model(both.x, both.pos, both.edge_index, batch=both.batch, num_graphs=3)
    single = torch.stack([model(gr.x, gr.pos, gr.edge_index)[0] for gr in graphs])
    assert energies.shape == (3,) and (energies - single).abs().max() < 1e-12


def test_nequip_trains_a_little(train_briefly):
    """A few Adam steps lower the loss on a toy target (the parameters receive gradients)."""
    pos, edge_index, g = molecule(6)
    types = torch.randint(0, 2, (6,), generator=g)
    model = NequIP(num_types=2, width=4, l_max=1, layers=1, cutoff=3.0).double()
    losses = train_briefly(model, (types, pos, edge_index))
    assert losses[-1] < 0.5 * losses[0]


def test_hidden_irreps_and_edge_harmonics():
    assert hidden_irreps(8, 2) == Irreps("8x0e + 8x1o + 8x2e")
    assert hidden_irreps(2, 1, pseudo=True) == Irreps("2x0e + 2x0o + 2x1o + 2x1e")
    pos = torch.tensor([[0.0, 0, 0], [0, 0, 2.0]], dtype=F64)
    Y, d = edge_harmonics(pos, torch.tensor([[0], [1]]), 1)
    assert torch.equal(d, torch.tensor([2.0], dtype=F64))
    assert torch.allclose(Y, torch.tensor([[1.0, 0, 3 ** 0.5, 0]], dtype=F64))  # component: (y, z, x) sqrt 3


@pytest.mark.parametrize("bad, match", [
    (lambda m, x, p, e: m(x.float(), p, e), "x must hold int64 atom types"),
    (lambda m, x, p, e: m(x + 5, p, e), r"atom types must lie in \[0, 2\]"),
    (lambda m, x, p, e: m(x, p[:3], e), "pos has 3 rows but the graph has 4 nodes"),
    (lambda m, x, p, e: m(x, p.float(), e), "must share a dtype"),
    (lambda m, x, p, e: m(x, torch.zeros_like(p), e), "same position"),
    (lambda m, x, p, e: m(x, p, e + 10), "edge_index"),
])
def test_nequip_bad_input_raises(bad, match):
    model = NequIP(num_types=3, width=4, l_max=1, layers=1).double()
    x, pos = torch.tensor([0, 1, 2, 1]), torch.randn(4, 3, dtype=F64)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    with pytest.raises(ValueError, match=match):
        bad(model, x, pos, edge_index)


def test_conv_and_config_bad_input_raises():
    conv = TFNConv("2x0e", "2x0e + 1x1o").double()
    pos, edge_index = torch.randn(3, 3, dtype=F64), torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"x must be a floating tensor of shape \[\.\.\., 2\]"):
        conv(torch.zeros(3, 3, dtype=F64), pos, edge_index)
    with pytest.raises(ValueError, match="x has dtype torch.float32 but the weights"):
        conv(torch.zeros(3, 2), pos, edge_index)
    with pytest.raises(ValueError, match="avg_neighbors must be a finite number > 0"):
        TFNConv("2x0e", "2x0e", avg_neighbors=0)
    with pytest.raises(ValueError, match="give either a config or keyword arguments"):
        NequIP(NequIPConfig(), width=3)
    with pytest.raises(ValueError, match="layers must be an integer >= 1"):
        NequIPConfig(layers=0)


def test_call_model_and_the_trainer_run_nequip():
    """The package's Trainer reaches the model through call_model, like PaiNN."""
    from minignn.graph import call_model
    from minignn.train import TrainConfig, Trainer

    g = torch.Generator().manual_seed(7)
    graphs = []
    for _ in range(8):
        pos = torch.randn(5, 3, generator=g) * 1.2
        graphs.append(Graph(x=torch.randint(0, 3, (5,), generator=g), pos=pos, edge_index=radius_graph(pos, 3.0),
                            y=torch.tensor(float(pos.norm(dim=-1).sum()), dtype=F64)))
    model = NequIP(num_types=3, width=4, l_max=1, layers=1, cutoff=3.0)
    both = batch_graphs(graphs[:2])
    assert torch.equal(call_model(model, both), model(both.x, both.pos, both.edge_index, batch=both.batch, num_graphs=2))
    history = Trainer(model, graphs[:6], graphs[6:], TrainConfig(max_epochs=2, batch_size=3, progress=False)).fit()
    assert len(history.train_loss) == 2 and all(torch.isfinite(torch.tensor(history.val_mae)))
