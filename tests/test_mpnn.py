"""minignn.mpnn and minignn.pooling against Python loops, dense formulas and GCNConv."""

import networkx as nx
import pytest
import torch

from minignn.graph import Graph, batch, from_networkx, to_dense
from minignn.laplacian import GCNConv
from minignn.mpnn import MPNN, EdgeUpdateLayer, MeanGCNConv, MessagePassing, MPNNLayer, check_inputs, mlp
from minignn.plan import AggregationPlan
from minignn.pooling import global_pool, mean_pool, sum_pool
from minignn.testing import assert_permutation, check_permutation, random_permutation

D = torch.float64


def random_graph(n=7, p=0.5, seed=0):
    g = from_networkx(nx.gnp_random_graph(n, p, seed=seed))
    return g.edge_index, n


def loop_mpnn_layer(layer, x, edge_index, edge_attr=None):
    """x_j + sum over edges (i -> j) of f(x_i, x_j, x_ij), one edge at a time."""
    out = x.clone()
    for e, (i, j) in enumerate(edge_index.t().tolist()):
        parts = [x[i], x[j]] + ([edge_attr[e]] if edge_attr is not None else [])
        out[j] = out[j] + layer.f(torch.cat(parts))
    return out


# -- the base class -----------------------------------------------------------------
def test_base_class_is_the_adjacency_product():
    """Default message x_i, sum aggregation: x'_j = sum_{i > j} x_i = (A^T x)_j with A[src, dst]."""
    edge_index, n = random_graph()
    x = torch.randn(n, 3, dtype=D)
    A = to_dense(edge_index, n, torch.ones(edge_index.shape[1], dtype=D))
    torch.testing.assert_close(MessagePassing()(x, edge_index), A.T @ x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_base_class_reduce_against_loop(reduce):
    edge_index = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 1, 1, 3]])
    x = torch.randn(6, 2, dtype=D)  # nodes 0, 4, 5 receive nothing
    out = MessagePassing(reduce)(x, edge_index)
    ops = {"sum": lambda t: t.sum(0), "mean": lambda t: t.mean(0), "max": lambda t: t.max(0).values,
           "min": lambda t: t.min(0).values}
    for j in range(6):
        incoming = [x[i] for i, d in edge_index.t().tolist() if d == j]
        expected = ops[reduce](torch.stack(incoming)) if incoming else torch.zeros(2, dtype=D)
        torch.testing.assert_close(out[j], expected, rtol=0, atol=1e-14)


def test_plan_gives_the_same_result_and_is_checked():
    edge_index, n = random_graph(9, 0.4)
    layer = MPNNLayer(4, hidden=8).double()
    x = torch.randn(n, 4, dtype=D)
    plan = AggregationPlan.from_edge_index(edge_index, n)
    torch.testing.assert_close(layer(x, edge_index, plan=plan), layer(x, edge_index), rtol=0, atol=1e-12)
    other = AggregationPlan.from_edge_index(edge_index.flip(0), n)
    with pytest.raises(ValueError, match="plan was built for another graph"):
        layer(x, edge_index, plan=other)


# -- MPNN layer and edge updates --------------------------------------------------------
def test_mpnn_layer_against_loop():
    """x'_j = x_j + sum_{i > j} f_theta(x_i, x_j, x_ij)."""
    edge_index, n = random_graph(8, 0.4)
    x = torch.randn(n, 3, dtype=D)
    e = torch.randn(edge_index.shape[1], 2, dtype=D)
    layer = MPNNLayer(3, edge_dim=2, hidden=5).double()
    torch.testing.assert_close(layer(x, edge_index, e), loop_mpnn_layer(layer, x, edge_index, e), rtol=0, atol=1e-12)
    nodes_only = MPNNLayer(3, hidden=5).double()
    torch.testing.assert_close(nodes_only(x, edge_index), loop_mpnn_layer(nodes_only, x, edge_index), rtol=0, atol=1e-12)


def test_edge_update_layer_against_loop():
    """x'_ij = x_ij + g(x_i, x_j, x_ij); x'_j = x_j + sum_{i > j} f(x_i, x_j, x'_ij)."""
    edge_index, n = random_graph(8, 0.4)
    x = torch.randn(n, 3, dtype=D)
    e = torch.randn(edge_index.shape[1], 2, dtype=D)
    layer = EdgeUpdateLayer(3, 2, hidden=5).double()
    x_new, e_new = layer(x, edge_index, e)
    e_loop = torch.stack([e[k] + layer.g(torch.cat([x[i], x[j], e[k]])) for k, (i, j) in enumerate(edge_index.t().tolist())])
    torch.testing.assert_close(e_new, e_loop, rtol=0, atol=1e-12)
    torch.testing.assert_close(x_new, loop_mpnn_layer(layer, x, edge_index, e_loop), rtol=0, atol=1e-12)


def test_gradcheck_mpnn_layer():
    edge_index, n = random_graph(5, 0.6)
    layer = MPNNLayer(2, edge_dim=1, hidden=3).double()
    x = torch.randn(n, 2, dtype=D, requires_grad=True)
    e = torch.randn(edge_index.shape[1], 1, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: layer(a, edge_index, b), (x, e))


# -- graph convolution as message passing --------------------------------------------
def dense_filters(edge_index, n):
    A = to_dense(edge_index, n, torch.ones(edge_index.shape[1], dtype=D))
    A_tilde = A + torch.eye(n, dtype=D)
    d = A_tilde.sum(0)  # in-degrees + 1
    return torch.diag(d.rsqrt()) @ A_tilde.T @ torch.diag(d.rsqrt()), torch.diag(1 / d) @ A_tilde.T


def test_mean_gcn_sym_equals_gcnconv_exactly():
    """Mean of sqrt(d_j / d_i) W x_i over N(j) + {j} = D^-1/2 (A + I) D^-1/2 X W: GCNConv, weights copied."""
    edge_index, n = random_graph(10, 0.35, seed=3)
    x = torch.randn(n, 4, dtype=D)
    gcn = GCNConv(4, 3).double()
    torch.nn.init.normal_(gcn.bias)
    mp = MeanGCNConv(4, 3).double()
    mp.load_state_dict(gcn.state_dict())
    torch.testing.assert_close(mp(x, edge_index), gcn(x, edge_index), rtol=0, atol=1e-12)
    sym, _ = dense_filters(edge_index, n)
    torch.testing.assert_close(mp(x, edge_index), sym @ x @ gcn.linear.weight.T + gcn.bias, rtol=0, atol=1e-12)


def test_mean_gcn_rw_is_the_random_walk_filter_not_gcn():
    """A plain mean of W x_i is D^-1 (A + I) X W: equal to GCN only on regular graphs."""
    edge_index, n = random_graph(10, 0.35, seed=3)
    x = torch.randn(n, 4, dtype=D)
    rw = MeanGCNConv(4, 3, bias=False, normalization="rw").double()
    sym, walk = dense_filters(edge_index, n)
    W = rw.linear.weight.T
    torch.testing.assert_close(rw(x, edge_index), walk @ x @ W, rtol=0, atol=1e-12)
    assert (rw(x, edge_index) - sym @ x @ W).abs().max() > 1e-3  # degrees differ: not GCN
    ring = from_networkx(nx.cycle_graph(6)).edge_index  # 2-regular: the two coincide
    gcn = GCNConv(4, 3, bias=False).double()
    rw.load_state_dict(gcn.state_dict())
    x6 = torch.randn(6, 4, dtype=D)
    torch.testing.assert_close(rw(x6, ring), gcn(x6, ring), rtol=0, atol=1e-12)


def test_mean_gcn_plan_on_self_looped_graph():
    from minignn.graph import add_self_loops

    edge_index, n = random_graph(6, 0.5)
    conv = MeanGCNConv(2, 2).double()
    x = torch.randn(n, 2, dtype=D)
    plan = AggregationPlan.from_edge_index(add_self_loops(edge_index, n)[0], n)
    torch.testing.assert_close(conv(x, edge_index, plan=plan), conv(x, edge_index), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="plan was built for another graph"):
        conv(x, edge_index, plan=AggregationPlan.from_edge_index(edge_index, n))


# -- permutation symmetry, batches, corner cases ----------------------------------------
def test_permutation_equivariance_and_invariance():
    edge_index, n = random_graph(9, 0.4)
    x = torch.randn(n, 3, dtype=D)
    layer = MPNNLayer(3, hidden=8).double()
    assert_permutation(layer, x, edge_index=edge_index)
    conv = MeanGCNConv(3, 2).double()
    assert_permutation(conv, x, edge_index=edge_index)
    net = MPNN(3, 2, width=8, layers=2, hidden=8, readout="sum").double()
    assert_permutation(net, x, edge_index=edge_index, output="graph")
    nodes = MPNN(3, 2, width=8, layers=2, hidden=8).double()
    assert_permutation(nodes, x, edge_index=edge_index, output="nodes")
    # edge features keep the edge order under permute_nodes, so they can be closed over
    e = torch.randn(edge_index.shape[1], 2, dtype=D)
    upd = EdgeUpdateLayer(3, 2, hidden=8).double()
    assert_permutation(lambda x, ei: upd(x, ei, e), x, edge_index=edge_index, output=("nodes", "edges"))


def test_a_non_equivariant_function_is_caught():
    edge_index, n = random_graph(9, 0.4)
    x = torch.randn(n, 3, dtype=D)
    leaky = lambda x, ei: MessagePassing()(x, ei) + torch.arange(n, dtype=D).unsqueeze(1)  # noqa: E731
    assert check_permutation(leaky, x, edge_index=edge_index, perm=torch.roll(torch.arange(n), 1)) > 1e-3


def test_float32_smoke():
    edge_index, n = random_graph(9, 0.4)
    x = torch.randn(n, 3)
    net = MPNN(3, 1, width=8, layers=2, hidden=8, readout="mean")
    assert_permutation(net, x, edge_index=edge_index, output="graph")


def test_batch_of_two_equals_per_graph():
    g1 = Graph(edge_index=random_graph(5, 0.6, seed=1)[0], x=torch.randn(5, 3, dtype=D))
    g2 = Graph(edge_index=random_graph(4, 0.7, seed=2)[0], x=torch.randn(4, 3, dtype=D))
    b = batch([g1, g2])
    for readout in ("nodes", "sum", "mean"):
        net = MPNN(3, 2, width=8, layers=2, hidden=8, readout=readout).double()
        out = net(b.x, b.edge_index, batch=b.batch, num_graphs=2)
        parts = [net(g.x, g.edge_index) for g in (g1, g2)]
        torch.testing.assert_close(out, torch.cat(parts), rtol=0, atol=1e-12)


def test_corner_cases(corner_graphs):
    for name, g in corner_graphs.items():
        x = g.x.double()
        layer = MPNNLayer(3, hidden=4).double()
        out = layer(x, g.edge_index)
        assert out.shape == x.shape, name
        receives = torch.zeros(g.num_nodes, dtype=torch.bool)
        receives[g.edge_index[1]] = True
        torch.testing.assert_close(out[~receives], x[~receives])  # no message: residual only
        torch.testing.assert_close(out, loop_mpnn_layer(layer, x, g.edge_index), rtol=0, atol=1e-12)
        net = MPNN(3, 2, width=4, layers=2, hidden=4, readout="sum").double()
        assert net(x, g.edge_index).shape == (1, 2)
    conv = MeanGCNConv(3, 2).double()
    assert conv(torch.empty(0, 3, dtype=D), torch.empty(2, 0, dtype=torch.long)).shape == (0, 2)


def test_edge_readout_shape_and_edge_update_network():
    edge_index, n = random_graph(6, 0.5)
    e = torch.rand(edge_index.shape[1], 1)
    for upd in (False, True):
        net = MPNN(1, 1, width=8, layers=2, edge_dim=1, edge_update=upd, readout="edges")
        assert net(torch.ones(n, 1), edge_index, e).shape == (edge_index.shape[1], 1)


# -- pooling ------------------------------------------------------------------------
def test_pooling_against_loop_and_trailing_empty_graph():
    x = torch.randn(5, 2, dtype=D)
    b = torch.tensor([0, 0, 1, 1, 1])
    s = sum_pool(x, b, num_graphs=3)
    torch.testing.assert_close(s, torch.stack([x[:2].sum(0), x[2:].sum(0), torch.zeros(2, dtype=D)]))
    torch.testing.assert_close(mean_pool(x, b), torch.stack([x[:2].mean(0), x[2:].mean(0)]))
    torch.testing.assert_close(global_pool(x), x.sum(0, keepdim=True))
    with pytest.raises(ValueError, match=r"batch must have shape \[num_nodes=5\]"):
        global_pool(x, torch.tensor([0, 1]))


# -- errors ---------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    ei = torch.tensor([[0, 1], [1, 2]])
    x = torch.randn(3, 4)
    layer = MPNNLayer(4, edge_dim=2, hidden=4)
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \[num_nodes, F\]"):
        layer(torch.randn(3), ei)
    with pytest.raises(ValueError, match=r"edge_index must be an int64 tensor of shape \[2, E\]"):
        layer(x, torch.tensor([[0, 1], [1, 2], [2, 0]]), torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"edge_index must be an int64 tensor of shape \[2, E\], got torch.int32"):
        layer(x, ei.int(), torch.randn(2, 2))
    with pytest.raises(ValueError, match="but the graph has 2 nodes"):
        layer(x[:2], ei, torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"edge_attr must have shape \[E=2, F_e\]"):
        layer(x, ei, torch.randn(3, 2))
    with pytest.raises(ValueError, match="expects edge_attr"):
        layer(x, ei)
    with pytest.raises(ValueError, match="reduce must be one of"):
        MessagePassing("median")
    with pytest.raises(ValueError, match="edge_dim must be >= 1"):
        EdgeUpdateLayer(4, 0)
    with pytest.raises(ValueError, match="expects edge_attr"):
        EdgeUpdateLayer(4, 2)(x, ei)
    with pytest.raises(ValueError, match="takes no edge_attr"):
        MeanGCNConv(4, 2)(x, ei, torch.randn(2, 1))
    with pytest.raises(ValueError, match="normalization must be"):
        MeanGCNConv(4, 2, normalization="combinatorial")
    with pytest.raises(ValueError, match="readout must be"):
        MPNN(4, 1, readout="max")
    with pytest.raises(ValueError, match="edge_update=True needs edge features"):
        MPNN(4, 1, edge_update=True)
    with pytest.raises(ValueError, match="at least an input and an output"):
        mlp(3)
    assert check_inputs(x, ei) == 3
    assert random_permutation(3).sort().values.tolist() == [0, 1, 2]


def test_mpnn_network_is_embed_layers_head():
    """h^0 = embed(x), h^{l+1} = (UM)(h^l), y = head(h^L) or head(sum_j h^L_j)."""
    edge_index, n = random_graph(7, 0.5)
    x = torch.randn(n, 3, dtype=D)
    e = torch.randn(edge_index.shape[1], 2, dtype=D)
    for readout in ("nodes", "sum", "edges"):
        net = MPNN(3, 2, width=8, layers=2, edge_dim=2, hidden=8, readout=readout).double()
        h = net.embed(x)
        for layer in net.layers:
            h = loop_mpnn_layer(layer, h, edge_index, e)
        src, dst = edge_index
        expected = {"nodes": lambda: net.head(h), "sum": lambda: net.head(h.sum(0, keepdim=True)),
                    "edges": lambda: net.head(torch.cat([h[src], h[dst], e], dim=1))}[readout]()
        torch.testing.assert_close(net(x, edge_index, e), expected, rtol=0, atol=1e-12)
