import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from minignn.geometry import random_rotation
from minignn.neighbours import fully_connected, radius_graph


# -- oracles: explicit Python loops ------------------------------------------------
def brute_radius(pos, cutoff, batch=None, self_loops=False):
    """Set of (src, dst) by a double loop over all pairs."""
    pos = pos.tolist()
    n = len(pos)
    batch = [0] * n if batch is None else batch.tolist()
    out = set()
    for i in range(n):
        for j in range(n):
            if batch[i] != batch[j]:
                continue
            if i == j:
                if self_loops:
                    out.add((i, j))
                continue
            if np.linalg.norm(np.subtract(pos[j], pos[i])) < cutoff:
                out.add((i, j))
    return out


def brute_periodic(pos, cutoff, cell, batch=None, reach=6):
    """Multiset of (src, dst, n) with |pos_j + n @ cell - pos_i| < cutoff, by enumerating
    every image n in [-reach, reach]^3 (cells[g] per graph if cell is [G, 3, 3])."""
    pos = pos.numpy()
    n = len(pos)
    batch = np.zeros(n, dtype=int) if batch is None else batch.numpy()
    cells = cell.numpy() if cell.dim() == 3 else np.broadcast_to(cell.numpy(), (int(batch.max(initial=0)) + 1, 3, 3))
    images = np.array(list(itertools.product(range(-reach, reach + 1), repeat=3)))
    out = Counter()
    for i in range(n):
        for j in range(n):
            if batch[i] != batch[j]:
                continue
            c = cells[batch[i]]
            d = np.linalg.norm(pos[j] + images @ c - pos[i], axis=1)
            for img in images[d < cutoff]:
                if i == j and not img.any():
                    continue
                assert np.abs(img).max() < reach, "oracle range too small"
                out[(i, j, tuple(int(v) for v in img))] += 1
    return out


def edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def periodic_multiset(edge_index, shift, cell, batch=None):
    """(src, dst, n) of each edge, n = shift @ cell^-1 rounded to integers."""
    src = edge_index[0]
    cells = cell if cell.dim() == 3 else cell.expand(max(1, edge_index.shape[1]), 3, 3)
    c = cells[batch[src]] if cell.dim() == 3 else cells[: src.numel()]
    frac = torch.linalg.solve(c.transpose(1, 2), shift.unsqueeze(-1)).squeeze(-1)  # shift = n @ c
    n = frac.round()
    assert torch.allclose(frac, n, atol=1e-8), "shifts are not lattice vectors"
    return Counter(zip(edge_index[0].tolist(), edge_index[1].tolist(), map(tuple, n.long().tolist())))


# -- open boundary -------------------------------------------------------------
@pytest.mark.parametrize("self_loops", [False, True])
def test_matches_brute_force(self_loops):
    pos = torch.rand(30, 3, dtype=torch.float64) * 3
    ei = radius_graph(pos, 1.2, self_loops=self_loops)
    assert ei.dtype == torch.int64 and ei.shape[0] == 2
    assert len(edge_set(ei)) == ei.shape[1]  # no duplicates
    assert edge_set(ei) == brute_radius(pos, 1.2, self_loops=self_loops)
    assert 0 < ei.shape[1] < 30 * 29  # the test is not trivially empty or complete


def test_batch_matches_brute_force_and_has_no_cross_graph_edges():
    pos = torch.rand(25, 3, dtype=torch.float64) * 2
    batch = torch.randint(0, 4, (25,))  # unsorted graph ids
    ei = radius_graph(pos, 1.0, batch=batch)
    assert edge_set(ei) == brute_radius(pos, 1.0, batch)
    assert bool((batch[ei[0]] == batch[ei[1]]).all())
    assert len(edge_set(radius_graph(pos, 1.0))) > ei.shape[1]  # the batch did remove edges


def test_undirected_sorted_and_shifts_zero():
    pos = torch.rand(20, 3, dtype=torch.float64)
    ei, shift = radius_graph(pos, 0.5, return_shifts=True)
    assert edge_set(ei) == {(d, s) for s, d in edge_set(ei)}
    key = ei[0] * 20 + ei[1]
    assert bool((key[1:] > key[:-1]).all())
    assert shift.shape == (ei.shape[1], 3) and bool((shift == 0).all())


def test_cutoff_boundary_is_strict():
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert radius_graph(pos, 1.0).shape == (2, 0)
    assert edge_set(radius_graph(pos, 1.0 + 1e-9)) == {(0, 1), (1, 0)}
    assert radius_graph(pos, 0.0).shape == (2, 0)


def test_empty_and_single_atom():
    for kwargs in [{}, {"batch": torch.empty(0, dtype=torch.int64)}, {"cell": torch.eye(3)}]:
        ei, shift = radius_graph(torch.empty(0, 3), 1.0, return_shifts=True, **kwargs)
        assert ei.shape == (2, 0) and ei.dtype == torch.int64 and shift.shape == (0, 3)
    one = torch.zeros(1, 3)
    assert radius_graph(one, 5.0).shape == (2, 0)
    assert radius_graph(one, 0.0, self_loops=True).tolist() == [[0], [0]]
    assert fully_connected(1).shape == (2, 0) and fully_connected(0).shape == (2, 0)


def test_float32_smoke_matches_float64():
    pos = torch.rand(40, 3, dtype=torch.float64) * 4
    assert edge_set(radius_graph(pos.float(), 1.3)) == edge_set(radius_graph(pos, 1.3))


# -- invariance ------------------------------------------------------------------
def test_edge_set_invariant_under_rotation_translation_permutation():
    pos = torch.rand(30, 3, dtype=torch.float64) * 3
    batch = torch.randint(0, 3, (30,))
    ref = edge_set(radius_graph(pos, 1.1, batch=batch))
    R = random_rotation(dtype=torch.float64)
    moved = pos @ R.T + torch.tensor([5.0, -2.0, 7.0], dtype=torch.float64)
    assert edge_set(radius_graph(moved, 1.1, batch=batch)) == ref
    perm = torch.randperm(30)  # new node k is old node perm[k]
    ei = radius_graph(pos[perm], 1.1, batch=batch[perm])
    assert edge_set(perm[ei]) == ref


# -- periodic ----------------------------------------------------------------------
SKEWED = torch.tensor([[2.0, 0.0, 0.0], [0.7, 1.8, 0.0], [0.3, -0.4, 2.2]], dtype=torch.float64)
# strongly sheared: lattice planes along a_1 are only 0.19 apart although |a_1| = 1
SHEARED = torch.tensor([[1.0, 0.0, 0.0], [2.5, 0.5, 0.0], [0.3, 0.2, 1.2]], dtype=torch.float64)


@pytest.mark.parametrize(
    "cell, cutoff, spread, reach",
    [(SKEWED, 0.9, 3, 6), (SKEWED, 2.6, 3, 6), (SHEARED, 0.97, 1, 9)],  # cutoff below / above the cell size
)
def test_periodic_matches_image_enumeration(cell, cutoff, spread, reach):
    frac = torch.rand(7, 3, dtype=torch.float64) * spread - (spread - 1) / 2  # spread 3: atoms outside the cell
    pos = frac @ cell
    ei, shift = radius_graph(pos, cutoff, cell=cell, return_shifts=True)
    got = periodic_multiset(ei, shift, cell)
    assert got == brute_periodic(pos, cutoff, cell, reach=reach)
    assert max(got.values()) == 1 and len(got) == ei.shape[1]
    vec = pos[ei[1]] - pos[ei[0]] + shift
    assert bool((vec.norm(dim=1) < cutoff + 1e-12).all())
    if cutoff > 2.2 or cell is SHEARED:  # longer than a lattice vector: atoms see their own images, pairs meet twice
        assert any(s == d for s, d, _ in got)
        assert len({(s, d) for s, d, _ in got}) < len(got)


def test_periodic_undirected_with_opposite_shifts():
    pos = torch.rand(6, 3, dtype=torch.float64) @ SKEWED
    ei, shift = radius_graph(pos, 2.4, cell=SKEWED, return_shifts=True)
    got = periodic_multiset(ei, shift, SKEWED)
    assert got == Counter({(d, s, tuple(-v for v in n)): c for (s, d, n), c in got.items()})


def test_periodic_batch_with_per_graph_cells():
    cells = torch.stack([SKEWED, 1.5 * torch.eye(3, dtype=torch.float64)])
    batch = torch.tensor([0, 1, 0, 1, 1, 0, 0])
    pos = torch.einsum("nk,nkd->nd", torch.rand(7, 3, dtype=torch.float64), cells[batch])
    ei, shift = radius_graph(pos, 1.7, batch=batch, cell=cells, return_shifts=True)
    assert bool((batch[ei[0]] == batch[ei[1]]).all())
    assert periodic_multiset(ei, shift, cells, batch) == brute_periodic(pos, 1.7, cells, batch)


def test_periodic_cutoff_boundary_and_single_atom():
    one = torch.zeros(1, 3, dtype=torch.float64)
    cell = 2.0 * torch.eye(3, dtype=torch.float64)
    assert radius_graph(one, 2.0, cell=cell).shape == (2, 0)  # images exactly at the cutoff
    ei, shift = radius_graph(one, 2.0 + 1e-9, cell=cell, return_shifts=True)
    assert ei.shape == (2, 6) and sorted(map(tuple, shift.tolist())) == sorted(
        map(tuple, (2.0 * torch.cat([torch.eye(3), -torch.eye(3)]).double()).tolist())
    )
    ei, shift = radius_graph(one, 0.5, cell=cell, self_loops=True, return_shifts=True)
    assert ei.tolist() == [[0], [0]] and shift.abs().sum() == 0


def test_periodic_invariant_under_rotation_and_lattice_translation():
    pos = torch.rand(6, 3, dtype=torch.float64) @ SKEWED
    ref = periodic_multiset(*radius_graph(pos, 2.0, cell=SKEWED, return_shifts=True), SKEWED)
    R = random_rotation(dtype=torch.float64)
    ei, shift = radius_graph(pos @ R.T, 2.0, cell=SKEWED @ R.T, return_shifts=True)
    assert periodic_multiset(ei, shift, SKEWED @ R.T) == ref
    # moving atom 0 by a lattice vector changes n on its edges but not the pairs or distances
    moved = pos.clone()
    moved[0] += SKEWED[1]
    ei2, shift2 = radius_graph(moved, 2.0, cell=SKEWED, return_shifts=True)
    assert torch.equal(ei2, ei)

    def lengths(p, e, s):
        d = (p[e[1]] - p[e[0]] + s).norm(dim=1).tolist()
        return sorted(zip(e[0].tolist(), e[1].tolist(), (round(v, 9) for v in d)))

    assert lengths(pos @ R.T, ei, shift) == lengths(moved, ei2, shift2)
    assert periodic_multiset(ei2, shift2, SKEWED) != ref  # atom 0's edges changed image labels


# -- complete graphs -----------------------------------------------------------------
def test_fully_connected_matches_loop():
    counts = [3, 0, 1, 4]
    offsets = np.cumsum([0] + counts[:-1])
    expected = {(o + a, o + b) for o, n in zip(offsets, counts) for a in range(n) for b in range(n) if a != b}
    ei = fully_connected(counts)
    assert edge_set(ei) == expected and ei.shape[1] == sum(n * (n - 1) for n in counts)
    assert fully_connected(torch.tensor(counts), self_loops=True).shape[1] == sum(n * n for n in counts)
    assert torch.equal(fully_connected(5), fully_connected([5]))


def test_fully_connected_from_batch_equals_infinite_cutoff():
    batch = torch.tensor([1, 0, 1, 2, 0, 1])
    pos = torch.rand(6, 3)
    assert torch.equal(fully_connected(batch=batch), radius_graph(pos, 10.0, batch=batch))


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((torch.rand(4, 2), 1.0), {}, r"pos must be a floating tensor of shape \[num_nodes, 3\], got torch.float32 \[4, 2\]"),
        ((torch.rand(3), 1.0), {}, r"pos must be a floating tensor of shape \[num_nodes, 3\], got torch.float32 \[3\]"),
        (([[0.0, 0.0, 0.0]], 1.0), {}, r"pos must be a floating tensor of shape \[num_nodes, 3\], got list"),
        ((torch.zeros(2, 3, dtype=torch.int64), 1.0), {}, r"pos must be a floating tensor of shape \[num_nodes, 3\], got torch.int64"),
        ((torch.tensor([[0.0, 0, 0], [float("nan"), 0, 0]]), 1.0), {}, "pos must be finite"),
        ((torch.rand(4, 3), -1.0), {}, "cutoff must be a finite number >= 0, got -1.0"),
        ((torch.rand(4, 3), float("inf")), {}, "cutoff must be a finite number"),
        ((torch.rand(4, 3), 1.0), {"batch": torch.zeros(3, dtype=torch.int64)}, r"one entry per node \(4\), got 3"),
        ((torch.rand(4, 3), 1.0), {"batch": torch.zeros(4)}, "int64"),
        ((torch.rand(4, 3), 1.0), {"batch": torch.tensor([0, 0, -1, 0])}, "graph ids >= 0"),
        ((torch.rand(4, 3), 1.0), {"cell": torch.eye(2)}, r"cell must have shape \[3, 3\]"),
        ((torch.rand(4, 3), 1.0), {"cell": torch.zeros(3, 3)}, "singular"),
        ((torch.rand(4, 3), 1.0), {"cell": torch.eye(3).repeat(2, 1, 1)}, r"num_graphs=1"),
    ],
)
def test_radius_graph_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        radius_graph(*args, **kwargs)


def test_fully_connected_bad_input():
    with pytest.raises(ValueError, match="exactly one of"):
        fully_connected()
    with pytest.raises(ValueError, match="exactly one of"):
        fully_connected(3, batch=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="node counts must be >= 0"):
        fully_connected([2, -1])
    with pytest.raises(ValueError, match="1-d sequence of ints"):
        fully_connected([2.5])
    with pytest.raises(ValueError, match="int64"):
        fully_connected(batch=torch.zeros(3))
