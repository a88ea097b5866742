import networkx as nx
import pytest
import torch

from minignn.graph import (
    Graph,
    add_self_loops,
    batch,
    coalesce,
    degree,
    from_dense,
    from_networkx,
    remove_self_loops,
    to_dense,
    to_networkx,
    to_undirected,
    unbatch,
)


def random_graph(n, e, f=4, with_pos=True, with_attr=True):
    ei = torch.randint(0, max(n, 1), (2, e)) if n else torch.empty(2, 0, dtype=torch.int64)
    return Graph(
        edge_index=ei,
        x=torch.randn(n, f),
        edge_attr=torch.randn(e, 2) if with_attr else None,
        pos=torch.randn(n, 3) if with_pos else None,
        y=torch.randn(()),
    )


# -- construction and validation ---------------------------------------------
def test_fields_and_views():
    g = Graph(edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]), x=torch.randn(4, 2), pos=torch.randn(4, 3))
    assert g.num_nodes == 4 and g.num_edges == 3 and g.num_graphs == 1
    assert g.src.tolist() == [0, 1, 2] and g.dst.tolist() == [1, 2, 0]


def test_num_nodes_keeps_trailing_isolated_nodes():
    g = Graph(edge_index=torch.tensor([[0], [1]]), num_nodes=5)
    assert g.num_nodes == 5
    assert degree(g.dst, g.num_nodes).tolist() == [0, 1, 0, 0, 0]


def test_corner_cases_construct(corner_graphs):
    assert corner_graphs["empty"].num_nodes == 0 and corner_graphs["empty"].num_edges == 0
    assert corner_graphs["single"].num_nodes == 1
    assert corner_graphs["isolated"].num_nodes == 5
    assert corner_graphs["self_loop"].num_edges == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(edge_index=torch.tensor([[0, 1], [1, 0]], dtype=torch.int32), num_nodes=2), "int64"),
        (dict(edge_index=torch.tensor([0, 1]), num_nodes=2), r"shape \[2, E\]"),
        (dict(edge_index=torch.zeros(3, 2, dtype=torch.int64), num_nodes=2), r"shape \[2, E\]"),
        (dict(edge_index=[[0], [1]], num_nodes=2), r"edge_index must be an int64 tensor of shape \[2, E\], got list"),
        (dict(edge_index=torch.tensor([[0], [5]]), num_nodes=3), r"refers to nodes in \[0, 5\] but the graph has 3 nodes \(indices 0..2\)"),
        (dict(edge_index=torch.tensor([[-1], [0]]), num_nodes=3), r"refers to nodes in \[-1, 0\] but the graph has 3 nodes"),
        (dict(edge_index=torch.tensor([[0], [1]])), "num_nodes is required"),
        (dict(edge_index=torch.tensor([[0], [1]]), x=torch.randn(3, 2), num_nodes=4), "3 rows but the graph has num_nodes=4"),
        (dict(edge_index=torch.tensor([[0], [1]]), x=torch.randn(3, 2), pos=torch.randn(2, 3)), "2 rows"),
        (dict(edge_index=torch.tensor([[0], [1]]), pos=torch.randn(3, 2)), r"pos must have shape \[num_nodes, 3\]"),
        (dict(edge_index=torch.tensor([[0], [1]]), x=torch.randn(2, 1), edge_attr=torch.randn(2, 1)), "E=1 edges"),
        (dict(edge_index=torch.tensor([[0], [1]]), x=torch.tensor([[0.0], [float("nan")]])), "x must be finite"),
        (dict(edge_index=torch.tensor([[0], [1]]), pos=torch.tensor([[0.0, 0, 0], [float("inf"), 0, 0]])), "pos must be finite"),
        (dict(edge_index=torch.tensor([[0], [1]]), x=torch.randn(2, 1), edge_attr=torch.tensor([float("nan")])), "edge_attr must be finite"),
    ],
)
def test_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Graph(**kwargs)


def test_replace_validates_again():
    g = Graph(edge_index=torch.tensor([[0], [1]]), num_nodes=2)
    with pytest.raises(ValueError, match="refers to nodes in"):
        g.replace(edge_index=torch.tensor([[0], [2]]))


# -- batching ---------------------------------------------------------------
def _neighbour_sum(g: Graph) -> torch.Tensor:
    """A message-passing step written with a Python loop: the oracle for batching."""
    out = torch.zeros_like(g.x)
    for s, d in g.edge_index.t().tolist():
        out[d] += g.x[s] * g.pos[s, 0]
    return out


def test_batch_offsets_and_counts():
    a, b = random_graph(3, 4), random_graph(2, 1)
    bt = batch([a, b])
    assert bt.num_graphs == 2 and bt.num_nodes == 5 and bt.num_edges == 5
    assert bt.batch.tolist() == [0, 0, 0, 1, 1]
    assert bt.num_nodes_per_graph.tolist() == [3, 2] and bt.num_edges_per_graph.tolist() == [4, 1]
    assert torch.equal(bt.edge_index[:, 4:], b.edge_index + 3)
    assert bt.y.shape == (2,)


def test_function_on_batch_equals_function_per_graph():
    graphs = [random_graph(n, e) for n, e in [(4, 7), (1, 0), (6, 12), (3, 3)]]
    bt = batch(graphs)
    per_graph = torch.cat([_neighbour_sum(g) for g in graphs])
    assert torch.allclose(_neighbour_sum(bt), per_graph)


def test_unbatch_inverts_batch(corner_graphs):
    graphs = [random_graph(3, 4), random_graph(0, 0), random_graph(5, 2)]
    back = unbatch(batch(graphs))
    assert len(back) == 3
    for g, h in zip(graphs, back):
        for name in ("edge_index", "x", "edge_attr", "pos", "y"):
            assert torch.equal(getattr(g, name), getattr(h, name)), name
        assert g.num_nodes == h.num_nodes


def test_batch_bad_input():
    with pytest.raises(ValueError, match="at least one graph"):
        batch([])
    a, b = random_graph(2, 1), random_graph(2, 1, with_pos=False)
    with pytest.raises(ValueError, match="'pos' is set on some graphs"):
        batch([a, b])
    with pytest.raises(ValueError, match="single graphs"):
        batch([batch([a])])
    with pytest.raises(ValueError, match="made by batch"):
        unbatch(a)


# -- helpers ----------------------------------------------------------------
def test_to_undirected_matches_networkx():
    ei = torch.randint(0, 8, (2, 15))
    und, _ = to_undirected(ei, 8)
    G = nx.DiGraph(); G.add_nodes_from(range(8)); G.add_edges_from(ei.t().tolist())
    expected = sorted(set(G.to_undirected().to_directed().edges()))
    assert sorted(map(tuple, und.t().tolist())) == expected
    assert len(set(map(tuple, und.t().tolist()))) == und.shape[1]  # no duplicates


def test_to_undirected_carries_attributes():
    ei = torch.tensor([[0, 1], [1, 2]])
    und, attr = to_undirected(ei, 3, torch.tensor([10.0, 20.0]))
    got = {tuple(e): a for e, a in zip(und.t().tolist(), attr.tolist())}
    assert got == {(0, 1): 10.0, (1, 0): 10.0, (1, 2): 20.0, (2, 1): 20.0}


def test_self_loops(self_loop):
    ei, attr = add_self_loops(self_loop.edge_index, 3, torch.ones(4) * 2, fill_value=5.0)
    loops = ei[:, ei[0] == ei[1]]
    assert sorted(loops[0].tolist()) == [0, 1, 2]  # exactly one loop per node
    assert attr[-3:].tolist() == [5.0, 5.0, 5.0] and attr.shape[0] == ei.shape[1] == 6
    no_loops, _ = remove_self_loops(self_loop.edge_index)
    assert bool((no_loops[0] != no_loops[1]).all()) and no_loops.shape[1] == 3


def test_degree_matches_networkx():
    G = nx.gnm_random_graph(12, 30, seed=1, directed=True)
    g = from_networkx(G)
    assert degree(g.dst, g.num_nodes).tolist() == [G.in_degree(v) for v in range(12)]
    assert degree(g.src, g.num_nodes).tolist() == [G.out_degree(v) for v in range(12)]
    with pytest.raises(ValueError, match="outside"):
        degree(torch.tensor([0, 12]), 12)


def test_networkx_round_trip_with_attributes():
    G = nx.Graph()
    G.add_node("a", feat=[1.0, 2.0], xyz=(0.0, 0.0, 0.0))
    G.add_node("b", feat=[3.0, 4.0], xyz=(1.0, 0.0, 0.0))
    G.add_node("c", feat=[5.0, 6.0], xyz=(0.0, 1.0, 0.0))
    G.add_edge("a", "b", w=0.5)
    G.add_edge("b", "c", w=2.0)
    g = from_networkx(G, node_attrs=["feat"], edge_attrs=["w"], pos_attr="xyz")
    assert g.num_nodes == 3 and g.num_edges == 4  # both directions
    assert g.x.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert g.pos[1].tolist() == [1, 0, 0]
    weights = {tuple(e): w for e, w in zip(g.edge_index.t().tolist(), g.edge_attr[:, 0].tolist())}
    assert weights == {(0, 1): 0.5, (1, 0): 0.5, (1, 2): 2.0, (2, 1): 2.0}
    H = to_networkx(g)
    assert nx.is_isomorphic(H.to_undirected(), nx.convert_node_labels_to_integers(G))
    assert H.nodes[2]["x"] == [5.0, 6.0]
    with pytest.raises(ValueError, match="lack the attribute 'missing'"):
        from_networkx(G, node_attrs=["missing"])


def test_dense_round_trip():
    A = (torch.rand(6, 6) < 0.4).float() * torch.rand(6, 6)
    g = from_dense(A)
    assert torch.equal(to_dense(g.edge_index, 6, g.edge_attr), A)
    with pytest.raises(ValueError, match="square"):
        from_dense(torch.zeros(3, 4))


def test_coalesce_removes_duplicates():
    ei = torch.tensor([[1, 0, 1, 1], [2, 1, 2, 0]])
    out, attr = coalesce(ei, 3, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert out.t().tolist() == [[0, 1], [1, 0], [1, 2]] and attr.tolist() == [2.0, 4.0, 1.0]


def test_to_device_keeps_values():
    g = random_graph(3, 2)
    h = g.to("cpu")
    assert torch.equal(g.x, h.x) and torch.equal(g.edge_index, h.edge_index) and h.num_nodes == 3


def test_batch_counts_must_agree():
    bt = batch([random_graph(3, 2), random_graph(2, 1)])
    with pytest.raises(ValueError, match="add up to 5 nodes and 4 edges"):
        bt.replace(num_edges_per_graph=torch.tensor([2, 2]))
    with pytest.raises(ValueError, match="together"):
        bt.replace(batch=None)


def test_to_dense_rejects_weights_of_wrong_shape():
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"shape \[E\] = \[2\]"):
        to_dense(ei, 3, torch.ones(2, 1))
