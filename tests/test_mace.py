"""minignn.mace: atomic basis, product basis (vs e3nn, closed forms, symmetry), the MACE model."""

import pytest
import torch

from minignn.body_order import distance_degenerate_pair
from minignn.geometry import random_reflection, random_rotation, random_translation
from minignn.graph import Graph, batch as batch_graphs
from minignn.irreps import Irreps
from minignn.mace import MACE, AtomicBasis, MACEConfig, MACELayer, ProductBasis
from minignn.neighbours import radius_graph
from minignn.testing import assert_euclidean, assert_permutation, check_euclidean, random_molecule

F64 = torch.float64
A_IRREPS = Irreps("3x0e + 3x0o + 3x1o + 3x1e + 3x2e")


@pytest.mark.parametrize("dtype, tol", [(F64, 1e-12), (torch.float32, 1e-5)])
def test_every_product_basis_block_is_equivariant(dtype, tol):
    pb = ProductBasis(A_IRREPS, 3, "2x0e + 2x0o + 2x1o + 2x1e + 2x2e + 2x2o", num_types=2).to(dtype)
    g = torch.Generator().manual_seed(0)
    A = torch.randn(5, A_IRREPS.dim, dtype=dtype, generator=g)
    types = torch.tensor([0, 1, 1, 0, 1])
    Bs, out = pb.basis(A, types), pb(A, types)
    for Q in (random_rotation(g, dtype), random_reflection(g, dtype)):
        Bq = pb.basis(A @ A_IRREPS.D(Q).T, types)
        for irreps, B, b in zip(pb.irreps_B, Bs, Bq):
            expected = B @ irreps.D(Q).T
            for sl in irreps.slices():
                assert (b[:, sl] - expected[:, sl]).abs().max() <= tol * max(float(expected.detach().abs().max()), 1.0)
        expected = out @ pb.irreps_out.D(Q).T
        assert (pb(A @ A_IRREPS.D(Q).T, types) - expected).abs().max() <= tol * expected.abs().max()


def test_product_basis_equals_a_chain_of_e3nn_uuu_products(float64_default):
    """B^(nu) = TP_uuu(B^(nu-1), A) with e3nn's TensorProduct, the same weights, level after level."""
    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    pb = ProductBasis(A_IRREPS, 3, "2x0e")
    A = torch.randn(4, A_IRREPS.dim)
    Bs = pb.basis(A)
    for nu in (2, 3):
        prev, irreps, paths = pb.irreps_B[nu - 2], pb.irreps_B[nu - 1], pb.paths[nu - 1]
        instructions = [(i1, i2, io, "uuu", True) for i1, i2, io, _ in paths]
        tp = o3.TensorProduct(str(prev), str(A_IRREPS), str(irreps), instructions, internal_weights=True)
        with torch.no_grad():
            tp.weight.copy_(pb.weights[nu - 2].reshape(-1))
        expected = tp(Bs[nu - 2], A)
        assert (Bs[nu - 1] - expected).abs().max() < 1e-12 * expected.abs().max()


def test_second_order_scalar_is_the_power_spectrum_and_self_cross_product_vanishes():
    """With unit weights, B^(2)_0e = (A_0^2 + |A_1|^2 / sqrt 3) / sqrt 2 (two paths), and A_1 x A_1 = 0."""
    pb = ProductBasis("1x0e + 1x1o", 2, "1x0e").double()
    with torch.no_grad():
        pb.weights[0].fill_(1.0)
    A = torch.randn(6, 4, dtype=F64)
    B2 = pb.basis(A)[1]
    assert pb.irreps_B[1] == Irreps("1x0e + 1x1e + 1x1o")
    expected = (A[:, 0] ** 2 + (A[:, 1:] ** 2).sum(-1) / 3 ** 0.5) / 2 ** 0.5
    assert (B2[:, 0] - expected).abs().max() < 1e-14
    assert B2[:, 1:4].abs().max() < 1e-15  # (A_1 x A_1)_1e: the antisymmetric product of a vector with itself
    assert B2[:, 4:7].abs().max() > 0.1  # (A_0 A_1)_1o does not vanish


def test_body_order_one_layer_correlation_one_confuses_the_pair_two_separates():
    pos_a, pos_b, edge_index, cutoff = distance_degenerate_pair()  # the star graph of the cutoff 1.2
    types = torch.zeros(4, dtype=torch.int64)
    for correlation, same in ((1, True), (2, False), (3, False)):
        torch.manual_seed(correlation)  # radial basis up to 2.0: the messages of the bonds are not damped
        model = MACE(num_types=1, width=4, l_max=1, correlation=correlation, layers=1, cutoff=2.0,
                     avg_neighbors=3.0).double()
        ea, eb = model(types, pos_a, edge_index), model(types, pos_b, edge_index)
        if same:
            assert (ea - eb).abs().max() < 1e-12
        else:
            assert (ea - eb).abs().max() > 1e-5 * ea.abs().max(), correlation


def test_mace_layer_every_block_equivariant_with_vector_inputs():
    g = torch.Generator().manual_seed(2)
    pos, _, edge_index = random_molecule(7, 2, cutoff=3.0, generator=g)
    irreps_in, irreps_out = Irreps("3x0e + 3x1o"), Irreps("2x0e + 2x1o + 2x1e + 2x2e")
    layer = MACELayer(irreps_in, irreps_out, "3x0e + 3x0o + 3x1o + 3x1e", l_max=1, correlation=3, cutoff=3.0).double()
    x = torch.randn(7, irreps_in.dim, dtype=F64, generator=g)
    out = layer(x, pos, edge_index)
    for Q in (random_rotation(g), random_reflection(g)):
        moved = layer(x @ irreps_in.D(Q).T, pos @ Q.T + random_translation(g), edge_index)
        assert (moved - out @ irreps_out.D(Q).T).abs().max() < 1e-12 * out.abs().max()


def test_atomic_basis_is_a_sum_over_neighbours():
    """A_j depends on the neighbours of j only through a sum: a graph with the edges of j split in two gives the sum."""
    g = torch.Generator().manual_seed(3)
    pos, _, edge_index = random_molecule(6, 2, cutoff=3.0, generator=g)
    basis = AtomicBasis("2x0e", "2x0e + 2x1o + 2x2e", l_max=2, cutoff=3.0).double()
    x = torch.randn(6, 2, dtype=F64, generator=g)
    half = edge_index.shape[1] // 2
    total = basis(x, pos, edge_index)
    parts = basis(x, pos, edge_index[:, :half]) + basis(x, pos, edge_index[:, half:])
    assert (total - parts).abs().max() < 1e-13


def test_mace_invariant_permutation_float32_float64():
    g = torch.Generator().manual_seed(4)
    pos, _, edge_index = random_molecule(8, 2, cutoff=3.0, generator=g)
    types = torch.randint(0, 3, (8,), generator=g)
    model = MACE(num_types=3, width=4, l_max=2, correlation=3, layers=2, cutoff=3.0).double()
    assert_euclidean(model, types, pos, edge_index, outputs="invariant", generator=g)
    assert_permutation(model, types, pos, edge_index, output="graph", generator=g)
    model32 = MACE(num_types=3, width=4, l_max=1, correlation=2, layers=2, cutoff=3.0)
    assert max(check_euclidean(model32, types, pos.float(), edge_index, generator=g).values()) < 1e-5


def test_mace_batch_equals_one_by_one_with_an_isolated_atom():
    g = torch.Generator().manual_seed(5)
    graphs = []
    for n in (6, 1, 4):
        pos = torch.randn(n, 3, dtype=F64, generator=g) * 1.3
        graphs.append(Graph(x=torch.randint(0, 2, (n,), generator=g), pos=pos, edge_index=radius_graph(pos, 3.0)))
    model = MACE(num_types=2, width=4, l_max=1, correlation=2, layers=2, cutoff=3.0).double()
    both = batch_graphs(graphs)
    energies = model(both.x, both.pos, both.edge_index, batch=both.batch, num_graphs=3)
    single = torch.stack([model(gr.x, gr.pos, gr.edge_index)[0] for gr in graphs])
    assert (energies - single).abs().max() < 1e-12


def test_mace_trains_a_little(train_briefly):
    g = torch.Generator().manual_seed(6)
    pos, _, edge_index = random_molecule(6, 2, cutoff=3.0, generator=g)
    types = torch.randint(0, 2, (6,), generator=g)
    model = MACE(num_types=2, width=4, l_max=1, correlation=2, layers=1, cutoff=3.0).double()
    losses = train_briefly(model, (types, pos, edge_index))
    assert losses[-1] < 0.5 * losses[0]


def test_bad_input_raises():
    with pytest.raises(ValueError, match="irreps_A must give every block the same multiplicity"):
        ProductBasis("2x0e + 3x1o", 2, "1x0e")
    with pytest.raises(ValueError, match="correlation must be an integer >= 1"):
        ProductBasis("2x0e", 0, "1x0e")
    pb = ProductBasis("2x0e + 2x1o", 2, "1x0e", num_types=2)
    with pytest.raises(ValueError, match="x must hold int64 atom types"):
        pb(torch.zeros(3, 8), None)
    with pytest.raises(ValueError, match="shares its weights between atom types"):
        ProductBasis("2x0e", 2, "1x0e")(torch.zeros(3, 2), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"A must be a floating tensor of shape \[\.\.\., 8\]"):
        pb(torch.zeros(3, 7), torch.zeros(3, dtype=torch.int64))
    model = MACE(num_types=2, width=4, l_max=1, correlation=2, layers=1).double()
    pos, edge_index = torch.randn(3, 3, dtype=F64), torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"atom types must lie in \[0, 1\]"):
        model(torch.tensor([0, 1, 2]), pos, edge_index)
    with pytest.raises(ValueError, match="same position"):
        model(torch.tensor([0, 1, 1]), torch.zeros(3, 3, dtype=F64), edge_index)
    with pytest.raises(ValueError, match="correlation must be an integer >= 1"):
        MACEConfig(correlation=0)
    layer = MACELayer("2x0e", "2x0e", "2x0e + 2x1o", l_max=1, num_types=2).double()
    with pytest.raises(ValueError, match="types must be given exactly when"):
        layer(torch.zeros(3, 2, dtype=F64), pos, edge_index)


def test_forces_are_equivariant_and_the_trainer_runs_mace():
    """F = -dE/dpos turns with the molecule (E invariant); call_model and the Trainer work as for PaiNN."""
    from minignn.graph import call_model
    from minignn.train import TrainConfig, Trainer

    g = torch.Generator().manual_seed(7)
    pos, _, edge_index = random_molecule(6, 2, cutoff=3.0, generator=g)
    types = torch.randint(0, 2, (6,), generator=g)
    model = MACE(num_types=2, width=4, l_max=1, correlation=3, layers=2, cutoff=3.0).double()

    def forces(x, p, e):
        p = p.detach().requires_grad_(True)
        return -torch.autograd.grad(model(x, p, e).sum(), p)[0]

    assert_euclidean(forces, types, pos, edge_index, outputs="equivariant", generator=g)
    graphs = []
    for _ in range(8):
        p = torch.randn(5, 3, generator=g) * 1.2
        graphs.append(Graph(x=torch.randint(0, 2, (5,), generator=g), pos=p, edge_index=radius_graph(p, 3.0),
                            y=torch.tensor(float(p.norm(dim=-1).sum()), dtype=F64)))
    model32 = MACE(num_types=2, width=4, l_max=1, correlation=2, layers=1, cutoff=3.0)
    both = batch_graphs(graphs[:2])
    assert torch.equal(call_model(model32, both), model32(both.x, both.pos, both.edge_index, batch=both.batch,
                                                          num_graphs=2))
    history = Trainer(model32, graphs[:6], graphs[6:], TrainConfig(max_epochs=2, batch_size=3, progress=False)).fit()
    assert len(history.train_loss) == 2 and all(torch.isfinite(torch.tensor(history.val_mae)))


def test_gradcheck_product_basis_float64():
    pb = ProductBasis("2x0e + 2x1o", 3, "1x0e + 1x1o", num_types=2).double()
    A = torch.randn(3, 8, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: pb(a, torch.tensor([0, 1, 0])), (A,))


def test_models_validate_edge_index_and_pos_once(validation_calls):
    """NequIP and MACE check edge_index and pos at their entry; their layers (propagate) trust them."""
    from minignn import invariants, mace as mace_module, tfn
    from minignn.tfn import NequIP

    calls = validation_calls(tfn, mace_module, invariants)
    g = torch.Generator().manual_seed(8)
    pos, _, edge_index = random_molecule(6, 2, cutoff=3.0, generator=g)
    types = torch.randint(0, 2, (6,), generator=g)
    for model in (NequIP(num_types=2, width=4, l_max=1, layers=3, cutoff=3.0).double(),
                  MACE(num_types=2, width=4, l_max=1, correlation=2, layers=3, cutoff=3.0).double()):
        calls.update(edge_index=0, pos=0)
        model(types, pos, edge_index)
        assert calls == {"edge_index": 1, "pos": 1}, (type(model).__name__, calls)
