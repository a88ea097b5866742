"""minignn.body_order: two clouds that every 2-body feature confuses and 3-body features separate."""

import math

import pytest
import torch

from minignn.body_order import distance_degenerate_pair, neighbour_distances
from minignn.equivariant import HarmonicDescriptor, InvariantMPNN
from minignn.invariants import angles
from minignn.mace import AtomicBasis, ProductBasis
from minignn.neighbours import radius_graph

F64 = torch.float64


def test_same_graph_same_distances_in_every_neighbourhood_different_angles():
    pos_a, pos_b, edge_index, cutoff = distance_degenerate_pair()
    key = lambda ei: sorted(map(tuple, ei.T.tolist()))  # noqa: E731
    assert key(radius_graph(pos_a, cutoff)) == key(radius_graph(pos_b, cutoff)) == key(edge_index)
    da, db = neighbour_distances(pos_a, edge_index), neighbour_distances(pos_b, edge_index)
    assert [len(d) for d in da] == [3, 1, 1, 1]
    assert all(abs(x - y) < 1e-15 and abs(x - 1) < 1e-15 for u, v in zip(da, db) for x, y in zip(u, v))
    faces = torch.tensor([[1, 0, 2], [1, 0, 3], [2, 0, 3]])  # angles at the centre
    assert torch.allclose(angles(pos_a, faces), torch.full((3,), 2 * math.pi / 3, dtype=F64), atol=1e-15)
    assert torch.allclose(angles(pos_b, faces), torch.full((3,), math.pi / 2, dtype=F64), atol=1e-15)


def test_distance_only_networks_confuse_them_and_angles_separate_them():
    pos_a, pos_b, edge_index, _ = distance_degenerate_pair()
    x = torch.ones(4, 1, dtype=F64)
    torch.manual_seed(0)
    blind = InvariantMPNN(1, width=8, layers=3, cutoff=2.0, readout="nodes").double()
    assert (blind(x, pos_a, edge_index) - blind(x, pos_b, edge_index)).abs().max() < 1e-12
    seeing = InvariantMPNN(1, width=8, layers=1, cutoff=2.0, angles=True, readout="nodes").double()
    assert (seeing(x, pos_a, edge_index) - seeing(x, pos_b, edge_index)).abs().max() > 1e-4


def test_power_spectrum_degree_zero_confuses_degree_one_separates():
    pos_a, pos_b, edge_index, _ = distance_degenerate_pair()
    desc = HarmonicDescriptor(l_max=2, num_basis=3, cutoff=2.5)
    Pa, Pb = desc(pos_a, edge_index).view(4, 3, 3), desc(pos_b, edge_index).view(4, 3, 3)  # [N, K, l]
    assert (Pa[..., 0] - Pb[..., 0]).abs().max() < 1e-14  # (sum of radial terms)^2: 2-body
    assert (Pa[0, :, 1] - Pb[0, :, 1]).abs().min() > 1e-2  # |sum of unit vectors|^2: 0 (trigonal) vs 3 (axes)


def test_product_basis_order_one_confuses_order_two_separates():
    pos_a, pos_b, edge_index, _ = distance_degenerate_pair()
    torch.manual_seed(1)
    basis = AtomicBasis("1x0e", "3x0e + 3x1o + 3x2e", l_max=2, cutoff=2.0).double()
    product = ProductBasis("3x0e + 3x1o + 3x2e", 3, "1x0e").double()
    h = torch.ones(4, 1, dtype=F64)
    Ba = product.basis(basis(h, pos_a, edge_index))
    Bb = product.basis(basis(h, pos_b, edge_index))
    first = lambda B, irreps: B[:, irreps.slices()[0]]  # noqa: E731  the 0e block comes first
    assert all(str(irreps[0][1]) == "0e" for irreps in product.irreps_B)
    assert (first(Ba[0], product.irreps_B[0]) - first(Bb[0], product.irreps_B[0])).abs().max() < 1e-14
    assert (first(Ba[1], product.irreps_B[1]) - first(Bb[1], product.irreps_B[1]))[0].abs().max() > 1e-3
    assert (first(Ba[2], product.irreps_B[2]) - first(Bb[2], product.irreps_B[2]))[0].abs().max() > 1e-4


def test_bad_input_raises():
    with pytest.raises(ValueError, match="dtype must be a floating-point torch.dtype"):
        distance_degenerate_pair(torch.int64)
