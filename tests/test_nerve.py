"""minignn.nerve: the nerve against brute-force set inclusion, the update against a dense reference."""

import itertools

import networkx as nx
import pytest
import torch

from minignn.graph import Graph, batch, from_networkx
from minignn.hypergraph import HyperGraph
from minignn.laplacian import codifferential
from minignn.mpnn import MPNN, MessagePassing
from minignn.nerve import NerveLayer, NerveNetwork, clique_complex, nerve, nerve_update
from minignn.testing import assert_permutation

D = torch.float64


def example_edges():
    """A square 0-1-2-3 with diagonal 0-2 (triangles 012 and 023), a pendant edge 3-4, vertex 5 alone."""
    und = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (3, 4)]
    return torch.tensor(und + [(b, a) for a, b in und]).t(), 6


def face_sets(nv):
    return [frozenset(row.tolist()) for f in nv.faces for row in f]


def brute_force_chains(sets, k):
    """All (a_0, ..., a_k) with sets[a_0] > sets[a_1] > ... (strict inclusion), by enumeration."""
    out = []
    for chain in itertools.product(range(len(sets)), repeat=k + 1):
        if all(sets[chain[m + 1]] < sets[chain[m]] for m in range(k)):
            out.append(chain)
    return sorted(out)


def dense_update(layer, x, sets):
    """U(M)_b = sum_a M[a, b] - sum_c M[b, c] with M[a, b] = f(x_a, x_b) if a > b (dense, [n, n, F])."""
    n = len(sets)
    M = torch.zeros(n, n, x.shape[1], dtype=x.dtype)
    for a, b in itertools.product(range(n), repeat=2):
        if sets[b] < sets[a]:
            M[a, b] = layer.f(torch.cat([x[a], x[b]]))
    return M.sum(0) - M.sum(1)


# -- faces and chains ---------------------------------------------------------------
def test_clique_complex_against_networkx():
    G = nx.gnp_random_graph(12, 0.4, seed=1)
    g = from_networkx(G)
    hg = clique_complex(g.edge_index, 12)
    assert hg.faces[1].tolist() == sorted(sorted(e) for e in G.edges)
    assert hg.faces[2].shape[0] == sum(nx.triangles(G).values()) // 3
    for a, b, c in hg.faces[2].tolist():
        assert a < b < c and G.has_edge(a, b) and G.has_edge(b, c) and G.has_edge(a, c)
    assert 2 not in clique_complex(g.edge_index, 12, max_level=1).faces


@pytest.mark.parametrize("k", [1, 2])
def test_chains_are_strictly_decreasing_and_complete(k):
    edge_index, n = example_edges()
    nv = nerve(clique_complex(edge_index, n))
    sets, level = face_sets(nv), nv.level
    chains = nv.chains(k)
    for chain in chains.tolist():
        for m in range(k):
            assert sets[chain[m + 1]] < sets[chain[m]]  # strict inclusion
            assert level[chain[m + 1]] < level[chain[m]]
    assert sorted(map(tuple, chains.tolist())) == brute_force_chains(sets, k)


def test_counts_of_a_2_graph():
    """Each triangle gives 3 (> edge) + 3 (> vertex) pairs and 6 chains t > e > v; each edge 2 pairs."""
    edge_index, n = example_edges()
    nv = nerve(clique_complex(edge_index, n))
    E, T = nv.faces[1].shape[0], nv.faces[2].shape[0]
    assert (n, E, T) == (6, 6, 2)
    assert nv.edge_index.shape[1] == 2 * E + 6 * T
    assert nv.chains(2).shape == (6 * T, 3)
    assert nv.chains(3).shape == (0, 4)
    assert nv.chains(0).squeeze(1).tolist() == list(range(nv.num_faces))


def test_faces_are_sets_and_hypergraph_input():
    """Vertex order inside a face does not matter; a HyperGraph, a list and a dict give the same nerve."""
    edge_index, n = example_edges()
    hg = clique_complex(edge_index, n)
    shuffled = [hg.faces[0], hg.faces[1].flip(1), hg.faces[2][:, [2, 0, 1]]]
    a, b, c = nerve(hg), nerve(shuffled), nerve(dict(enumerate(shuffled)))
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_index, c.edge_index)
    assert all(torch.equal(f, g) for f, g in zip(a.faces, b.faces))


def test_non_closed_hypergraph_uses_the_faces_present():
    """A triangle whose edges are not listed is above its vertices only."""
    faces = [torch.arange(3).unsqueeze(1), torch.empty(0, 2, dtype=torch.long), torch.tensor([[0, 1, 2]])]
    nv = nerve(faces)
    assert nv.edge_index.tolist() == [[3, 3, 3], [0, 1, 2]]


# -- the update ----------------------------------------------------------------------
def test_nerve_layer_equals_dense_reference():
    edge_index, n = example_edges()
    nv = nerve(clique_complex(edge_index, n))
    layer = NerveLayer(4, hidden=6).double()
    x = torch.randn(nv.num_faces, 4, dtype=D)
    expected = x + dense_update(layer, x, face_sets(nv))
    torch.testing.assert_close(layer(x, nv.edge_index), expected, rtol=0, atol=1e-12)


def test_update_is_the_slide_codifferential_and_conserves_the_total():
    """U = inflow - outflow on the nerve graph = -codifferential (laplacian's d* is net outflow); sum_b U_b = 0."""
    edge_index, n = example_edges()
    nv = nerve(clique_complex(edge_index, n))
    M = torch.randn(nv.edge_index.shape[1], 3, dtype=D)
    U = nerve_update(M, nv.edge_index, nv.num_faces)
    torch.testing.assert_close(U, -codifferential(M, nv.edge_index, nv.num_faces), rtol=0, atol=1e-12)
    torch.testing.assert_close(U.sum(0), torch.zeros(3, dtype=D), rtol=0, atol=1e-12)
    for b in range(nv.num_faces):  # loop oracle
        a_, b_ = nv.edge_index.tolist()
        expect = sum((M[e] for e in range(M.shape[0]) if b_[e] == b), torch.zeros(3, dtype=D)) \
            - sum((M[e] for e in range(M.shape[0]) if a_[e] == b), torch.zeros(3, dtype=D))
        torch.testing.assert_close(U[b], expect, rtol=0, atol=1e-12)


class _EdgeToDst(MessagePassing):
    """Ordinary message passing on G with M_ij = f(x_ij, x_j): what vertices see in a nerve layer."""

    def __init__(self, f):
        super().__init__("sum")
        self.f = f

    def message(self, x_src, x_dst, edge_attr):
        return self.f(torch.cat([edge_attr, x_dst], dim=-1))

    def update(self, x, aggregated):
        return x + aggregated


def test_graph_reduces_to_message_passing():
    """A graph (faces of dimension <= 1): N_1 G = {e > i, e > j}; vertices get x_j + sum_{i > j} M_ij with M_ij = f(x_ij, x_j),
    edges get x_ij - (M_ij + M_ji): the sender pays.  Two layers = an MPNN layer with edge updates."""
    G = nx.gnp_random_graph(8, 0.45, seed=4)
    g = from_networkx(G)
    hg = clique_complex(g.edge_index, 8, max_level=1)
    nv = nerve(hg)
    E = hg.faces[1].shape[0]
    assert nv.edge_index.shape[1] == 2 * E
    assert sorted(nv.edge_index.t().tolist()) == sorted([8 + e, v] for e, uv in enumerate(hg.faces[1].tolist()) for v in uv)

    layer = NerveLayer(3, hidden=5).double()
    x = torch.randn(nv.num_faces, 3, dtype=D)
    out = layer(x, nv.edge_index)
    x_v, x_e = x[:8], x[8:]
    # the undirected edge of each directed edge (i -> j) of g
    lookup = {tuple(uv): e for e, uv in enumerate(hg.faces[1].tolist())}
    und = torch.tensor([lookup[tuple(sorted(ij))] for ij in g.edge_index.t().tolist()])
    mp = _EdgeToDst(layer.f)
    torch.testing.assert_close(out[:8], mp(x_v, g.edge_index, x_e[und]), rtol=0, atol=1e-12)
    src, dst = g.edge_index
    M = layer.f(torch.cat([x_e[und], x_v[dst]], dim=-1))  # M_ij, one per directed edge
    paid = torch.zeros(E, 3, dtype=D).index_add(0, und, M)  # M_ij + M_ji
    torch.testing.assert_close(out[8:], x_e - paid, rtol=0, atol=1e-12)


# -- networks, symmetry, batches --------------------------------------------------------
def _nerve_model(net):
    def fn(x, edge_index):
        nv = nerve(clique_complex(edge_index, x.shape[0]))
        feats = [x] + [torch.zeros(f.shape[0], 0, dtype=x.dtype) for f in nv.faces[1:]]
        return net(feats, nv)
    return fn


def test_nerve_network_permutation_equivariance():
    G = nx.gnp_random_graph(9, 0.5, seed=2)
    edge_index = from_networkx(G).edge_index
    x = torch.randn(9, 2, dtype=D)
    net = NerveNetwork([2, 0, 0], 3, width=8, layers=2, hidden=8).double()
    assert_permutation(_nerve_model(net), x, edge_index=edge_index, output="nodes")
    pooled = NerveNetwork([2, 0, 0], 3, width=8, layers=2, hidden=8, readout="sum").double()
    assert_permutation(_nerve_model(pooled), x, edge_index=edge_index, output="graph")


def test_nerve_network_batch_of_two_equals_per_graph():
    gs = [Graph(edge_index=from_networkx(nx.gnp_random_graph(n, 0.6, seed=n)).edge_index, x=torch.randn(n, 2, dtype=D))
          for n in (5, 6)]
    b = batch(gs)
    for readout in ("nodes", "sum", "mean"):
        net = NerveNetwork([2, 0, 0], 2, width=8, layers=2, hidden=8, readout=readout).double()
        nv = nerve(clique_complex(b.edge_index, b.num_nodes))
        feats = [b.x] + [torch.zeros(f.shape[0], 0, dtype=D) for f in nv.faces[1:]]
        out = net(feats, nv, batch=b.batch, num_graphs=2)
        torch.testing.assert_close(out, torch.cat([_nerve_model(net)(g.x, g.edge_index) for g in gs]), rtol=0, atol=1e-12)


def test_nerve_separates_what_message_passing_cannot():
    """Two triangles vs a hexagon: 2-regular, so any MPNN gives the same node outputs; the nerve does not."""
    two_triangles = from_networkx(nx.union(nx.cycle_graph(3), nx.cycle_graph(range(3, 6)))).edge_index
    hexagon = from_networkx(nx.cycle_graph(6)).edge_index
    x = torch.ones(6, 1, dtype=D)
    mp = MPNN(1, 1, width=8, layers=3, hidden=8).double()
    torch.testing.assert_close(mp(x, two_triangles), mp(x, hexagon), rtol=0, atol=1e-12)
    net = NerveNetwork([1, 0, 0], 1, width=8, layers=2, hidden=8).double()
    diff = (_nerve_model(net)(x, two_triangles) - _nerve_model(net)(x, hexagon)).abs().min()
    assert diff > 1e-6


def test_corner_cases():
    empty = nerve(clique_complex(torch.empty(2, 0, dtype=torch.long), 0))
    assert empty.num_faces == 0 and empty.edge_index.shape == (2, 0)
    lonely = nerve(clique_complex(torch.empty(2, 0, dtype=torch.long), 3))
    layer = NerveLayer(2, hidden=3).double()
    x = torch.randn(3, 2, dtype=D)
    torch.testing.assert_close(layer(x, lonely.edge_index), x)  # nothing to exchange
    loop = nerve(clique_complex(torch.tensor([[0, 0, 1], [0, 1, 0]]), 2))  # self-loop ignored
    assert loop.faces[1].tolist() == [[0, 1]] and loop.faces[2].shape == (0, 3)


# -- errors -----------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    V = torch.arange(5).unsqueeze(1)
    with pytest.raises(ValueError, match="faces\\[2\\] refers to missing vertices: face \\[0, 1, 7\\] has vertex 7"):
        nerve([V, torch.tensor([[0, 1]]), torch.tensor([[0, 1, 7]])])
    with pytest.raises(ValueError, match="missing vertices"):
        nerve([V, torch.tensor([[0, 9]])])
    with pytest.raises(ValueError, match="repeated vertex: row 1 = \\[2, 2\\]"):
        nerve([V, torch.tensor([[0, 1], [2, 2]])])
    with pytest.raises(ValueError, match="lists the same vertex set twice"):
        nerve([V, torch.tensor([[0, 1], [1, 0]])])
    with pytest.raises(ValueError, match="lists the same vertex set twice"):  # both directions of an edge
        nerve(HyperGraph.from_edge_index(torch.tensor([[0, 1], [1, 0]]), 2, dim=2))
    with pytest.raises(ValueError, match=r"faces\[1\] must be an integer tensor of shape \[n_1, 2\]"):
        nerve([V, torch.tensor([[0, 1, 2]])])
    with pytest.raises(ValueError, match="at least the vertices"):
        nerve([])
    with pytest.raises(ValueError, match="face levels must be 0, 1, ..., d"):
        nerve({0: V, 2: torch.tensor([[0, 1, 2]])})
    with pytest.raises(ValueError, match="max_level must be 1"):
        clique_complex(torch.tensor([[0], [1]]), 2, max_level=3)
    with pytest.raises(ValueError, match=r"refers to nodes in \[0, 5\] but the graph has 2 nodes"):
        clique_complex(torch.tensor([[0], [5]]), 2)
    nv = nerve(clique_complex(*example_edges()))
    with pytest.raises(ValueError, match=r"messages must have shape \[C=24, F\]"):
        nerve_update(torch.zeros(3, 2), nv.edge_index, nv.num_faces)
    with pytest.raises(ValueError, match=r"refers to nodes in \[0, 13\] but the graph has 3 nodes"):
        NerveLayer(2)(torch.zeros(3, 2), nv.edge_index)
    net = NerveNetwork([1, 0, 0], 1, width=4)
    with pytest.raises(ValueError, match=r"features\[0\] must have shape \[n_0=6, 1\], got \[6, 2\]"):
        net([torch.zeros(6, 2), torch.zeros(6, 0), torch.zeros(2, 0)], nv)
    with pytest.raises(ValueError, match="expected 3 levels"):
        net([torch.zeros(6, 1)], nv)
    with pytest.raises(ValueError, match="readout must be"):
        NerveNetwork([1], 1, readout="edges")
    with pytest.raises(ValueError, match=r"batch must be an int64 tensor of shape \[n_0=6\]"):
        nv.face_batch(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="chain length"):
        nv.chains(-1)


def test_nerve_network_is_embed_layers_head():
    """h^0_a = W_k x_a (+ b_k) or c_k per level, h^{l+1} = h^l + U(M^l), y_v = head(h^L_v), y_g = head(sum_a h^L_a)."""
    edge_index, n = example_edges()
    nv = nerve(clique_complex(edge_index, n))
    feats = [torch.randn(6, 2, dtype=D), torch.randn(6, 1, dtype=D), torch.zeros(2, 0, dtype=D)]
    for readout in ("nodes", "sum"):
        net = NerveNetwork([2, 1, 0], 3, width=4, layers=2, hidden=5, readout=readout).double()
        h = torch.cat([feats[0] @ net.embed[0].weight.T + net.embed[0].bias,
                       feats[1] @ net.embed[1].weight.T + net.embed[1].bias,
                       net.embed[2].c.expand(2, 4)])
        sets = face_sets(nv)
        for layer in net.layers:
            h = h + dense_update(layer, h, sets)
        expected = net.head(h[:6]) if readout == "nodes" else net.head(h.sum(0, keepdim=True))
        torch.testing.assert_close(net(feats, nv), expected, rtol=0, atol=1e-12)


def test_nerve_layer_rejects_what_it_cannot_use_and_is_a_message_passing_layer():
    """The nerve layer has no edge features and aggregates with two scatters: an edge_attr or a plan given to it
    is an error, not silently dropped."""
    from minignn.mpnn import MessagePassing
    from minignn.plan import AggregationPlan

    layer = NerveLayer(4, hidden=8).double()
    assert isinstance(layer, MessagePassing)
    nv = nerve(clique_complex(torch.tensor([[0, 1, 0], [1, 2, 2]]), 3))
    h = torch.randn(nv.offsets[-1], 4, dtype=D)
    out = layer(h, nv.edge_index)
    a, b = nv.edge_index
    m = layer.f(torch.cat([h[a], h[b]], dim=-1))  # the formula: + at the smaller face b, - at the larger face a
    expected = h + torch.zeros_like(h).index_add_(0, b, m) - torch.zeros_like(h).index_add_(0, a, m)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="NerveLayer takes no edge_attr"):
        layer(h, nv.edge_index, torch.randn(nv.edge_index.shape[1], 2, dtype=D))
    with pytest.raises(ValueError, match="NerveLayer aggregates with two scatters .* and takes no plan"):
        layer(h, nv.edge_index, plan=AggregationPlan.from_edge_index(nv.edge_index, h.shape[0]))
