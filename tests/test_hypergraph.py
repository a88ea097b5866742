"""Face builders and the HyperGraph container, against brute-force enumeration and networkx."""

import itertools

import networkx as nx
import pytest
import torch

from minignn.hypergraph import (
    HyperGraph,
    angle_faces,
    path_faces,
    torsion_faces,
    triangle_faces,
)


def random_edge_index(num_nodes, num_edges, undirected, self_loops=False, duplicates=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    if not self_loops:
        ei = ei[:, ei[0] != ei[1]]
    if undirected:
        ei = torch.cat([ei, ei.flip(0)], dim=1)
    if duplicates:
        ei = torch.cat([ei, ei[:, :3]], dim=1)
    return ei


def brute_force_paths(edge_index, length):
    """All sequences of edges e_1, ..., e_length that chain and visit distinct vertices (Python loops)."""
    edges = edge_index.t().tolist()
    out = []
    for ids in itertools.product(range(len(edges)), repeat=length):
        chain = [edges[e] for e in ids]
        if any(chain[m][1] != chain[m + 1][0] for m in range(length - 1)):
            continue
        verts = [chain[0][0]] + [e[1] for e in chain]
        if len(set(verts)) == len(verts):
            out.append((tuple(verts), tuple(ids)))
    return sorted(out)


CASES = [
    dict(num_nodes=7, num_edges=12, undirected=True),
    dict(num_nodes=8, num_edges=14, undirected=False),
    dict(num_nodes=6, num_edges=10, undirected=True, self_loops=True),
    dict(num_nodes=6, num_edges=9, undirected=False, self_loops=True, duplicates=True),
    dict(num_nodes=10, num_edges=6, undirected=True),  # sparse: isolated nodes
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("length", [1, 2, 3])
def test_path_faces_match_brute_force(case, length):
    for seed in range(3):
        ei = random_edge_index(seed=seed, **case)
        faces, ids = path_faces(ei, case["num_nodes"], length, return_edges=True)
        assert faces.shape[1] == length + 1 and ids.shape[1] == length and faces.dtype == torch.int64
        got = sorted(zip(map(tuple, faces.tolist()), map(tuple, ids.tolist())))
        assert got == brute_force_paths(ei, length)


def test_edge_ids_follow_the_face_orientation():
    ei = random_edge_index(9, 20, undirected=True)
    faces, ids = torsion_faces(ei, 9, return_edges=True)
    for m in range(3):  # edge m of the face goes faces[:, m] -> faces[:, m + 1]
        assert torch.equal(ei[:, ids[:, m]], faces[:, m:m + 2].t())


def test_angle_and_torsion_faces_are_paths_of_length_2_and_3():
    ei = random_edge_index(8, 16, undirected=True)
    assert torch.equal(angle_faces(ei, 8), path_faces(ei, 8, 2))
    assert torch.equal(torsion_faces(ei, 8), path_faces(ei, 8, 3))


def test_no_u_turns_and_distinct_vertices():
    ei = random_edge_index(8, 20, undirected=True, self_loops=True)
    t = angle_faces(ei, 8)
    assert bool((t[:, 0] != t[:, 2]).all()) and bool((t[:, 0] != t[:, 1]).all())
    q = torsion_faces(ei, 8)
    for a, b in itertools.combinations(range(4), 2):
        assert bool((q[:, a] != q[:, b]).all())


@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_path_graph_counts(n):
    ei = torch.tensor(list(nx.path_graph(n).to_directed().edges)).t().reshape(2, -1)
    assert angle_faces(ei, n).shape == (2 * max(n - 2, 0), 3)
    assert torsion_faces(ei, n).shape == (2 * max(n - 3, 0), 4)
    # undirected: every path appears in both directions; first < last keeps one of each
    t = angle_faces(ei, n)
    assert sorted(map(tuple, t.tolist())) == sorted(map(tuple, t.flip(1).tolist()))
    assert (t[:, 0] < t[:, -1]).sum() == max(n - 2, 0)


def test_directed_paths_follow_edges():
    ei = torch.tensor([[0, 1, 2], [1, 2, 3]])  # 0 -> 1 -> 2 -> 3 only
    assert angle_faces(ei, 4).tolist() == [[0, 1, 2], [1, 2, 3]]
    assert torsion_faces(ei, 4).tolist() == [[0, 1, 2, 3]]


@pytest.mark.parametrize("case", CASES)
def test_triangle_faces_match_brute_force_and_networkx(case):
    for seed in range(3):
        ei = random_edge_index(seed=seed, **case)
        n = case["num_nodes"]
        tri = triangle_faces(ei, n)
        pairs = {frozenset(e) for e in ei.t().tolist() if e[0] != e[1]}
        brute = [t for t in itertools.combinations(range(n), 3)
                 if all(frozenset(p) in pairs for p in itertools.combinations(t, 2))]
        assert tri.tolist() == [list(t) for t in brute]
        G = nx.Graph(); G.add_nodes_from(range(n)); G.add_edges_from(ei.t().tolist())
        G.remove_edges_from(nx.selfloop_edges(G))
        cliques = sorted(tuple(sorted(c)) for c in nx.enumerate_all_cliques(G) if len(c) == 3)
        assert [tuple(t) for t in tri.tolist()] == cliques


def test_complete_graph_triangles():
    G = nx.complete_graph(6)
    ei = torch.tensor(list(G.to_directed().edges)).t()
    assert triangle_faces(ei, 6).shape == (20, 3)  # C(6, 3)
    assert angle_faces(ei, 6).shape == (6 * 5 * 4, 3)  # ordered triples of distinct vertices


@pytest.mark.parametrize("num_nodes", [0, 1, 5])
def test_empty_graphs(num_nodes):
    ei = torch.empty(2, 0, dtype=torch.long)
    assert angle_faces(ei, num_nodes).shape == (0, 3)
    f, ids = torsion_faces(ei, num_nodes, return_edges=True)
    assert f.shape == (0, 4) and ids.shape == (0, 3)
    assert triangle_faces(ei, num_nodes).shape == (0, 3)
    hg = HyperGraph.from_edge_index(ei, num_nodes)
    assert hg.dim == 4 and hg.num_faces(0) == num_nodes and hg.num_faces(3) == 0


def test_self_loops_only_give_no_faces():
    ei = torch.tensor([[0, 1], [0, 1]])
    assert path_faces(ei, 2, 1).shape == (0, 2)
    assert angle_faces(ei, 2).shape == (0, 3) and triangle_faces(ei, 2).shape == (0, 3)


def test_face_builder_errors():
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        angle_faces(torch.zeros(3, 4, dtype=torch.long), 5)
    with pytest.raises(ValueError, match=r"edge_index must be an int64 tensor of shape \[2, E\], got torch.float32"):
        angle_faces(torch.zeros(2, 4), 5)
    with pytest.raises(ValueError, match=r"refers to nodes in \[0, 5\] but the graph has 5 nodes"):
        torsion_faces(torch.tensor([[0, 1], [1, 5]]), 5)
    with pytest.raises(ValueError, match=r"refers to nodes in \[-1, 2\]"):
        triangle_faces(torch.tensor([[-1, 1], [1, 2]]), 5)
    with pytest.raises(ValueError, match="length must be >= 1"):
        path_faces(torch.tensor([[0], [1]]), 2, 0)
    with pytest.raises(ValueError, match="num_nodes"):
        angle_faces(torch.tensor([[0], [1]]), None)


# -- HyperGraph -------------------------------------------------------------
def test_hypergraph_from_edge_index_levels_and_features():
    ei = random_edge_index(7, 12, undirected=True)
    x = torch.randn(7, 4)
    e = torch.randn(ei.shape[1], 2)
    hg = HyperGraph.from_edge_index(ei, 7, dim=4, features={0: x, 1: e})
    assert hg.dim == 4
    assert torch.equal(hg.faces[0], torch.arange(7).unsqueeze(1))
    assert torch.equal(hg.edge_index, ei)
    assert torch.equal(hg.faces[2], angle_faces(ei, 7))
    assert torch.equal(hg.faces[3], torsion_faces(ei, 7))
    assert hg.features[0] is x and hg.features[1] is e
    assert hg.num_faces(5) == 0 and "G3=" in repr(hg)
    assert HyperGraph.from_edge_index(ei, 7, dim=2).dim == 2
    assert HyperGraph.from_edge_index(ei, 7, dim=1).edge_index.shape == (2, 0)


def test_hypergraph_invariants_levels():
    ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
    pos = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 1]], dtype=torch.float64)
    inv = HyperGraph.from_edge_index(ei, 4).invariants(pos)
    assert torch.allclose(inv[1], torch.ones(3, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(inv[2], torch.full((2,), torch.pi / 2, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(inv[3], torch.tensor([torch.pi / 2], dtype=torch.float64), atol=1e-15)


def test_hypergraph_errors():
    good = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="missing vertices"):
        HyperGraph(3, {1: good, 2: torch.tensor([[0, 1, 3]])})
    with pytest.raises(ValueError, match="missing vertices"):
        HyperGraph(3, {1: torch.tensor([[0, -1]])})
    with pytest.raises(ValueError, match=r"shape \[n_2, 3\]"):
        HyperGraph(3, {1: good, 2: torch.tensor([[0, 1]])})
    with pytest.raises(ValueError, match=r"shape \[n_1, 2\]"):
        HyperGraph(3, {1: torch.tensor([[0.0, 1.0]])})
    with pytest.raises(ValueError, match="contiguous"):
        HyperGraph(3, {1: good, 3: torch.tensor([[0, 1, 2, 0]])})
    with pytest.raises(ValueError, match="implicit"):
        HyperGraph(3, {0: torch.arange(3).unsqueeze(1)})
    with pytest.raises(ValueError, match=r"features\[1\] must have shape \[n_1=2"):
        HyperGraph(3, {1: good}, {1: torch.randn(3, 2)})
    with pytest.raises(ValueError, match=r"features\[0\] must have shape \[n_0=3"):
        HyperGraph(3, {1: good}, {0: torch.randn(4)})
    with pytest.raises(ValueError, match="level 2 has no faces"):
        HyperGraph(3, {1: good}, {2: torch.randn(1)})
    with pytest.raises(ValueError, match="non-negative int"):
        HyperGraph(-1)
    with pytest.raises(ValueError, match="dim must be"):
        HyperGraph.from_edge_index(good, 3, dim=5)
