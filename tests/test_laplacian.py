"""Laplacians, polynomial and Chebyshev filters, GCN: against networkx, dense formulas, torch_geometric and each other."""

import networkx as nx
import numpy as np
import pytest
import torch
import torch_geometric.nn as pyg  # the GCN oracle (requirements.txt): missing, this file errors instead of skipping

from minignn.laplacian import (
    ChebConv,
    GCNConv,
    Laplacian,
    PolynomialFilter,
    add_remaining_self_loops,
    chebyshev_filter,
    codifferential,
    dense_laplacian,
    differential,
    gcn_norm,
    laplacian_matrix,
    polynomial_filter,
)
from minignn.mpnn import MeanGCNConv, MessagePassing

F64 = dict(dtype=torch.float64)
TOL = 1e-12
NORMS = ["combinatorial", "sym", "rw"]


def nx_graph(n=12, p=0.3, weighted=False, isolated=2, self_loop=False, seed=0, connected=False):
    """A random undirected graph with ``isolated`` extra isolated nodes at the end."""
    G = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=seed) if connected else nx.gnp_random_graph(n, p, seed=seed)
    G.add_nodes_from(range(n, n + isolated))
    rng = np.random.default_rng(seed)
    if weighted:
        for u, v in G.edges:
            G[u][v]["weight"] = float(rng.uniform(0.2, 3.0))
    if self_loop:
        G.add_edge(0, 0, weight=1.5 if weighted else 1.0)
    return G


def to_tensors(G, weighted):
    """edge_index with both directions (a self-loop once) and weights, in the minignn convention."""
    src, dst, w = [], [], []
    for u, v, data in G.edges(data=True):
        for a, b in ((u, v), (v, u)) if u != v else ((u, u),):
            src.append(a); dst.append(b); w.append(data.get("weight", 1.0))
    ei = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    return ei, (torch.tensor(w, **F64) if weighted else None)


def dense_adjacency(ei, n, w=None):
    A = torch.zeros(n, n, **F64)
    A.index_put_((ei[0], ei[1]), torch.ones(ei.shape[1], **F64) if w is None else w, accumulate=True)
    return A


def nx_laplacian(G, normalization, weighted):
    weight = "weight" if weighted else None
    L = torch.tensor(nx.laplacian_matrix(G, nodelist=range(len(G)), weight=weight).toarray(), **F64)
    if normalization == "combinatorial":
        return L
    if normalization == "sym":
        return torch.tensor(nx.normalized_laplacian_matrix(G, nodelist=range(len(G)), weight=weight).toarray(), **F64)
    # networkx's G.degree counts a self-loop twice, its Laplacian's row sums once: use row sums of A
    A = torch.tensor(nx.to_numpy_array(G, nodelist=range(len(G)), weight=weight), **F64)
    deg = A.sum(1)
    inv = torch.where(deg > 0, 1 / deg, torch.zeros_like(deg))
    return inv[:, None] * L  # D^+ L


GRAPHS = [
    dict(weighted=False, isolated=2),
    dict(weighted=True, isolated=2),
    dict(weighted=True, isolated=0, self_loop=True),
    dict(weighted=False, isolated=3, self_loop=True, seed=3),
]


# -- d and d* ----------------------------------------------------------------------
def oriented(ei, w):
    keep = ei[0] <= ei[1]  # each undirected edge once (and self-loops)
    return ei[:, keep], None if w is None else w[keep]


@pytest.mark.parametrize("weighted", [False, True])
def test_codifferential_is_the_adjoint_and_slide_sign_is_minus(weighted):
    ei, w = to_tensors(nx_graph(weighted=weighted), weighted)
    n, E = 14, ei.shape[1]
    x, v = torch.randn(n, 3, **F64), torch.randn(E, 3, **F64)
    assert torch.allclose((differential(x, ei, w) * v).sum(), (x * codifferential(v, ei, n, w)).sum(), atol=TOL)
    # the slide: d*(v)_j = sum_{i > j} v_ij - sum_{j > i} v_ji  (w = 1): loop oracle, equals -d^T
    slide = torch.zeros(n, 3, **F64)
    for e, (i, j) in enumerate(ei.t().tolist()):
        slide[j] += v[e]
        slide[i] -= v[e]
    D = torch.zeros(E, n, **F64)  # matrix of d (w = 1) by its definition d(x)_ij = x_i - x_j
    D[torch.arange(E), ei[0]] += 1
    D[torch.arange(E), ei[1]] -= 1
    assert torch.allclose(slide, -D.t() @ v, atol=TOL)
    assert torch.allclose(codifferential(v, ei, n), D.t() @ v, atol=TOL)
    assert torch.allclose(differential(x, ei), D @ x, atol=TOL)


@pytest.mark.parametrize("case", GRAPHS)
def test_d_star_d_is_the_combinatorial_laplacian_and_psd(case):
    G = nx_graph(**case)
    ei, w = to_tensors(G, case["weighted"])
    n = len(G)
    x = torch.randn(n, 2, **F64)
    L = nx_laplacian(G, "combinatorial", case["weighted"])
    one, w1 = oriented(ei, w)
    assert torch.allclose(codifferential(differential(x, one, w1), one, n, w1), L @ x, atol=TOL)
    # both directions listed: every edge counted twice
    assert torch.allclose(codifferential(differential(x, ei, w), ei, n, w), 2 * L @ x, atol=TOL)
    # orientation does not matter
    flipped = one.flip(0)
    assert torch.allclose(codifferential(differential(x, flipped, w1), flipped, n, w1), L @ x, atol=TOL)
    # PSD: <x, d* d x> = |d x|^2 >= 0, and the spectrum is >= 0
    assert (x * codifferential(differential(x, one, w1), one, n, w1)).sum() >= 0
    assert torch.linalg.eigvalsh(L).min() > -1e-10


# -- the three Laplacians -----------------------------------------------------------
@pytest.mark.parametrize("case", GRAPHS)
@pytest.mark.parametrize("normalization", NORMS)
def test_laplacians_match_networkx_and_dense_formulas(case, normalization):
    G = nx_graph(**case)
    ei, w = to_tensors(G, case["weighted"])
    n = len(G)
    ref = nx_laplacian(G, normalization, case["weighted"])
    op = Laplacian(ei, n, w, normalization)
    x = torch.randn(n, 4, **F64)
    assert torch.allclose(op(x), ref @ x, atol=TOL)
    assert torch.allclose(laplacian_matrix(ei, n, w, normalization).to_dense(), ref, atol=TOL)
    A = dense_adjacency(ei, n, w)
    assert torch.allclose(dense_laplacian(A, normalization), ref, atol=TOL)
    # textbook dense formulas, written out here
    deg = A.sum(1)
    inv = torch.where(deg > 0, 1 / deg, torch.zeros_like(deg))
    Lc = torch.diag(deg) - A
    formula = {"combinatorial": Lc, "sym": inv.sqrt()[:, None] * Lc * inv.sqrt()[None, :],
               "rw": inv[:, None] * Lc}[normalization]
    assert torch.allclose(ref, formula, atol=TOL)
    evals = torch.linalg.eigvals(ref).real
    assert evals.min() > -1e-10 and evals.max() <= op.lambda_max_bound() + 1e-10


def test_random_walk_laplacian_is_x_minus_neighbour_average():
    from minignn.scatter import scatter

    G = nx_graph(isolated=2)
    ei, _ = to_tensors(G, False)
    n = len(G)
    x = torch.randn(n, 3, **F64)
    avg = scatter(x[ei[0]], ei[1], dim_size=n, reduce="mean")
    has = torch.bincount(ei[1], minlength=n) > 0
    got = Laplacian(ei, n, normalization="rw")(x)
    assert torch.allclose(got[has], (x - avg)[has], atol=TOL)
    assert torch.equal(got[~has], torch.zeros_like(got[~has]))  # isolated: no neighbours, L_rw x = 0
    # and it is not d* d: the combinatorial one is deg * (x - average)
    deg = torch.bincount(ei[1], minlength=n).to(x.dtype)[:, None]
    assert torch.allclose(Laplacian(ei, n)(x), deg * (x - avg), atol=TOL)
    assert not torch.allclose(Laplacian(ei, n)(x), got)


def test_sym_and_rw_are_similar():
    G = nx_graph(weighted=True, isolated=0, connected=True)
    ei, w = to_tensors(G, True)
    n = len(G)
    s = dense_adjacency(ei, n, w).sum(1).sqrt()
    Ls = laplacian_matrix(ei, n, w, "sym").to_dense()
    Lr = laplacian_matrix(ei, n, w, "rw").to_dense()
    assert torch.allclose(Lr, (1 / s)[:, None] * Ls * s[None, :], atol=TOL)


def test_directed_graph_uses_incoming_edges():
    ei = torch.tensor([[0, 0, 1, 3], [1, 2, 2, 2]])
    w = torch.tensor([1.0, 2.0, 0.5, 4.0], **F64)
    x = torch.randn(4, 1, **F64)
    got = Laplacian(ei, 4, w)(x)
    loop = torch.zeros(4, 1, **F64)
    for e, (i, j) in enumerate(ei.t().tolist()):
        loop[j] += w[e] * (x[j] - x[i])
    assert torch.allclose(got, loop, atol=TOL)
    assert torch.allclose(dense_laplacian(dense_adjacency(ei, 4, w)) @ x, loop, atol=TOL)


def test_empty_graph_and_float32():
    empty = torch.empty(2, 0, dtype=torch.long)
    for norm in NORMS:
        assert torch.equal(Laplacian(empty, 3, normalization=norm)(torch.ones(3, 2)), torch.zeros(3, 2))
    assert Laplacian(empty, 0)(torch.empty(0, 2)).shape == (0, 2)
    G = nx_graph()
    ei, _ = to_tensors(G, False)
    x = torch.randn(len(G), 3)
    ref = nx_laplacian(G, "sym", False)
    assert torch.allclose(Laplacian(ei, len(G), normalization="sym")(x).double(), ref @ x.double(), atol=1e-5)


def test_ring_spectrum_and_dirichlet_energy():
    n = 16
    ei = torch.tensor(list(nx.cycle_graph(n).to_directed().edges)).t()
    evals, U = torch.linalg.eigh(laplacian_matrix(ei, n).to_dense())
    closed = torch.sort(2 - 2 * torch.cos(2 * torch.pi * torch.arange(n, dtype=torch.float64) / n)).values
    assert torch.allclose(evals, closed, atol=TOL)
    # <x, L x> = |d x|^2 on each undirected edge once (Dirichlet energy), for any x
    x = torch.randn(n, 3, **F64)
    once = ei[:, ei[0] < ei[1]]
    assert torch.allclose((x * Laplacian(ei, n)(x)).sum(), (differential(x, once) ** 2).sum(), atol=TOL)


def test_gcn_operator_spectrum_in_minus_one_one():
    G = nx_graph(weighted=True, isolated=2)
    ei, w = to_tensors(G, True)
    n = len(G)
    new_ei, norm = gcn_norm(ei, n, w)
    A_hat = torch.zeros(n, n, **F64).index_put_((new_ei[1], new_ei[0]), norm, accumulate=True)
    ev = torch.linalg.eigvalsh(A_hat)
    assert ev.min() > -1 and abs(ev.max().item() - 1) < 1e-12


# -- polynomial and Chebyshev filters ---------------------------------------------------
@pytest.mark.parametrize("normalization", NORMS)
def test_polynomial_filter_matches_dense_polynomial(normalization):
    G = nx_graph(weighted=True)
    ei, w = to_tensors(G, True)
    n = len(G)
    op = Laplacian(ei, n, w, normalization)
    Ld = laplacian_matrix(ei, n, w, normalization).to_dense()
    p = [0.5, -1.0, 0.3, 0.2]
    x = torch.randn(n, 2, **F64)
    dense = sum(pk * torch.linalg.matrix_power(Ld, k) for k, pk in enumerate(p)) @ x
    assert torch.allclose(polynomial_filter(x, op, p), dense, atol=1e-10)
    # Chebyshev: T_k via cos(k arccos) on the spectrum of L~ = 2L/lambda - I
    lam = op.lambda_max_bound()
    evals, U = torch.linalg.eigh((Ld + Ld.t()) / 2) if normalization != "rw" else (None, None)
    theta = [0.7, 0.1, -0.4, 0.25]
    if evals is not None:
        t = (2 * evals / lam - 1).clamp(-1, 1)
        spectral = sum(c * torch.cos(k * torch.arccos(t)) for k, c in enumerate(theta))
        assert torch.allclose(chebyshev_filter(x, op, theta, lam), U @ (spectral[:, None] * (U.t() @ x)), atol=1e-10)
    Lt = 2 * Ld / lam - torch.eye(n, **F64)
    T = [torch.eye(n, **F64), Lt, 2 * Lt @ Lt - torch.eye(n, **F64), 4 * Lt @ Lt @ Lt - 3 * Lt]  # closed forms
    assert torch.allclose(chebyshev_filter(x, op, theta, lam), sum(c * Tk for c, Tk in zip(theta, T)) @ x, atol=1e-10)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("normalization", NORMS)
def test_degree_k_reaches_exactly_the_k_hop_neighbourhood(k, normalization):
    n, center = 15, 7
    ei = torch.tensor(list(nx.path_graph(n).to_directed().edges)).t()
    delta = torch.zeros(n, 1, **F64)
    delta[center] = 1.0
    op = Laplacian(ei, n, normalization=normalization)
    coeffs = torch.rand(k + 1, **F64) + 0.1  # generic, p_k != 0
    for out in (polynomial_filter(delta, op, coeffs), chebyshev_filter(delta, op, coeffs)):
        support = set(torch.nonzero(out[:, 0].abs() > 1e-14).flatten().tolist())
        assert support == set(range(center - k, center + k + 1))


def test_filter_coefficients_are_differentiable():
    ei = torch.tensor(list(nx.cycle_graph(6).to_directed().edges)).t()
    coeffs = torch.tensor([1.0, -0.5, 0.2], **F64, requires_grad=True)
    x = torch.randn(6, 2, **F64)
    torch.autograd.gradcheck(lambda c: polynomial_filter(x, Laplacian(ei, 6, normalization="sym"), c), (coeffs,))


# -- GCN -------------------------------------------------------------------------------
def self_looped_adjacency(ei, n, w=None):
    """The dense A~ of GCN, ``[N, N]`` with row = src: A plus a unit loop on each node that lists none."""
    A = dense_adjacency(ei, n, w)
    has_loop = torch.zeros(n, dtype=torch.bool)
    has_loop[ei[0][ei[0] == ei[1]]] = True
    return A + torch.diag((~has_loop).to(A.dtype))


def dense_gcn(x, ei, n, w, W, b):
    A = self_looped_adjacency(ei, n, w).t()  # A~[dst, src]
    deg = A.sum(1)
    d = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    return (d[:, None] * A * d[None, :]) @ x @ W.t() + b


@pytest.mark.parametrize("case", GRAPHS)
def test_gcn_matches_dense_formula_and_polynomial_filter(case):
    G = nx_graph(**case)
    ei, w = to_tensors(G, case["weighted"])
    n = len(G)
    conv = GCNConv(5, 3).double()
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(n, 5, **F64)
    out = conv(x, ei, w)
    assert out.shape == (n, 3)
    assert torch.allclose(out, dense_gcn(x, ei, n, w, conv.linear.weight, conv.bias), atol=TOL)
    # GCN = P(L~_sym) (x W^T) + b with P(lambda) = 1 - lambda, L~ the sym Laplacian of A~
    ei_t, w_t = add_remaining_self_loops(ei, n, w)
    L_tilde = Laplacian(ei_t, n, w_t, "sym")
    assert torch.allclose(out, polynomial_filter(conv.linear(x), L_tilde, [1.0, -1.0]) + conv.bias, atol=TOL)
    # isolated nodes keep their own transformed features
    iso = torch.bincount(ei[1], minlength=n) == 0
    assert iso.any() or not case["isolated"]
    assert torch.allclose(out[iso], conv.linear(x[iso]) + conv.bias, atol=TOL)


def test_self_loop_rule_keeps_existing_loops_and_their_weights():
    """A~ = A + diag(m), m_j = 1 only where no loop (j, j) is listed: never a loop of weight 1 + w."""
    ei = torch.tensor([[0, 1, 1, 2, 2, 4, 4], [1, 0, 1, 2, 2, 4, 3]])  # loops: 1 once, 2 twice, 4 (weight 0)
    w = torch.tensor([1.0, 1.0, 2.5, 0.5, 0.25, 0.0, 3.0], **F64)
    ei_t, w_t = add_remaining_self_loops(ei, 6, w)
    assert torch.equal(ei_t[:, :7], ei) and torch.equal(w_t[:7], w)  # the given edges first, unchanged
    assert torch.equal(ei_t[:, 7:], torch.tensor([[0, 3, 5], [0, 3, 5]]))  # unit loops where none was listed
    assert torch.equal(w_t[7:], torch.ones(3, **F64))
    assert add_remaining_self_loops(ei, 6)[1] is None
    A_t = dense_adjacency(ei_t, 6, w_t)
    assert torch.diag(A_t).tolist() == [1.0, 2.5, 0.75, 1.0, 0.0, 1.0]  # several loops add up; weight 0 kept
    # gcn_norm on it: D^+ (0 on node 4, which only receives its weight-0 loop), no NaN
    new_ei, norm = gcn_norm(ei, 6, w)
    assert torch.equal(new_ei, ei_t) and torch.isfinite(norm).all()
    deg = A_t.sum(0)  # in-degrees of A~
    inv = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    assert torch.allclose(norm, inv[ei_t[0]] * w_t * inv[ei_t[1]], atol=TOL)
    # the old rule (A + I literally) would have given node 1 a loop of weight 3.5
    conv = GCNConv(2, 2, bias=False).double()
    x = torch.randn(6, 2, **F64)
    assert torch.allclose(conv(x, ei, w), dense_gcn(x, ei, 6, w, conv.linear.weight, 0.0), atol=TOL)


def oracle_graphs():
    """Graphs for the torch_geometric comparison: self-loops (with weights), isolated nodes, one directed graph."""
    out = {}
    for name, case in (("weighted, loop, isolated", dict(weighted=True, isolated=2, self_loop=True)),
                       ("unweighted, loop, isolated", dict(weighted=False, isolated=3, self_loop=True, seed=3)),
                       ("weighted, no loop", dict(weighted=True, isolated=1))):
        G = nx_graph(**case)
        out[name] = (*to_tensors(G, case["weighted"]), len(G))
    # a loop on an otherwise isolated node, a loop on a connected one, a directed graph
    ei = torch.tensor([[0, 1, 1, 2, 3, 5, 5, 0], [1, 0, 2, 1, 3, 5, 2, 3]])
    out["directed, loops"] = (ei, torch.rand(8, **F64) + 0.1, 7)
    out["directed, loops, unweighted"] = (ei, None, 7)
    return out


ORACLE = oracle_graphs()


def pyg_gcn_like(conv):
    """A torch_geometric GCNConv holding the weights of ``conv`` (PyG: ``lin.weight`` [F_out, F_in], ``bias``)."""
    theirs = pyg.GCNConv(conv.linear.in_features, conv.linear.out_features).double()
    with torch.no_grad():
        theirs.lin.weight.copy_(conv.linear.weight)
        theirs.bias.copy_(conv.bias)
    return theirs


@pytest.mark.parametrize("name", list(ORACLE))
def test_gcn_matches_torch_geometric(name):
    ei, w, n = ORACLE[name]
    ours = GCNConv(4, 3).double()
    torch.nn.init.normal_(ours.bias)
    theirs = pyg_gcn_like(ours)
    x = torch.randn(n, 4, **F64)
    torch.testing.assert_close(ours(x, ei, w), theirs(x, ei, w), rtol=0, atol=1e-12)
    torch.testing.assert_close(ours(x, ei), theirs(x, ei), rtol=0, atol=1e-12)  # and without the weights


@pytest.mark.parametrize("name", [k for k, (_, w, _) in ORACLE.items() if w is None] + ["weighted, loop, isolated"])
def test_mean_gcn_sym_matches_torch_geometric(name):
    """MeanGCNConv takes no edge weights: compared on the unweighted graph (self-loops and isolated nodes kept)."""
    ei, _, n = ORACLE[name]
    ours = MeanGCNConv(4, 3).double()
    torch.nn.init.normal_(ours.bias)
    theirs = pyg_gcn_like(ours)
    x = torch.randn(n, 4, **F64)
    torch.testing.assert_close(ours(x, ei), theirs(x, ei), rtol=0, atol=1e-12)
    gcn = GCNConv(4, 3).double()
    gcn.load_state_dict(ours.state_dict())  # the same parameters: linear.weight and bias
    torch.testing.assert_close(ours(x, ei), gcn(x, ei), rtol=0, atol=1e-12)


def test_mean_gcn_rw_matches_dense_formula():
    """normalization="rw": x' = D~^-1 A~^T X W + b, a plain average over the closed neighbourhood (loops kept, not doubled)."""
    for ei, _, n in ORACLE.values():
        conv = MeanGCNConv(4, 3, normalization="rw").double()
        torch.nn.init.normal_(conv.bias)
        x = torch.randn(n, 4, **F64)
        A = self_looped_adjacency(ei, n).t()  # A~[dst, src]
        expected = (A / A.sum(1, keepdim=True)) @ x @ conv.linear.weight.t() + conv.bias
        torch.testing.assert_close(conv(x, ei), expected, rtol=0, atol=1e-12)
    # several loops on one node count as several edges, as in GCNConv
    ei = torch.tensor([[0, 1, 1, 1], [1, 0, 1, 1]])
    sym = MeanGCNConv(2, 2).double()
    gcn = GCNConv(2, 2).double()
    sym.load_state_dict(gcn.state_dict())
    x = torch.randn(3, 2, **F64)
    torch.testing.assert_close(sym(x, ei), gcn(x, ei), rtol=0, atol=1e-12)


def test_gcn_fused_path_equals_the_message_passing_base_path():
    """One CSR product A_hat @ (x W^T) = MessagePassing's gather, message, scatter-sum, update."""
    G = nx_graph(weighted=True, isolated=2, self_loop=True)
    ei, w = to_tensors(G, True)
    n = len(G)
    conv = GCNConv(4, 3).double()
    torch.nn.init.normal_(conv.bias)
    assert isinstance(conv, MessagePassing)
    x = torch.randn(n, 4, **F64, requires_grad=True)
    fused, plain = conv(x, ei, w), conv(x, ei, w, fused=False)
    torch.testing.assert_close(fused, plain, rtol=0, atol=1e-12)
    # the base path by hand: MessagePassing.forward on the edges of A~ with edge_attr = norm [E', 1]
    ei_t, norm = gcn_norm(ei, n, w)
    by_hand = MessagePassing.forward(conv, conv.linear(x), ei_t, norm.unsqueeze(1))
    torch.testing.assert_close(fused, by_hand, rtol=0, atol=1e-12)
    g_fused, = torch.autograd.grad(fused.square().sum(), x)
    g_plain, = torch.autograd.grad(plain.square().sum(), x)
    torch.testing.assert_close(g_fused, g_plain, rtol=0, atol=1e-12)


def test_gcn_before_renormalisation_is_first_order_chebyshev():
    G = nx_graph(isolated=0, connected=True)
    ei, _ = to_tensors(G, False)
    n = len(G)
    x = torch.randn(n, 2, **F64)
    theta = 0.8
    A = dense_adjacency(ei, n)
    d = A.sum(1).rsqrt()
    kipf = theta * (torch.eye(n, **F64) + d[:, None] * A * d[None, :]) @ x  # theta (I + D^-1/2 A D^-1/2) x
    cheb = chebyshev_filter(x, Laplacian(ei, n, normalization="sym"), [theta, -theta], lambda_max=2.0)
    assert torch.allclose(cheb, kipf, atol=TOL)


def test_gcn_norm_and_cache():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    new_ei, norm = gcn_norm(ei, 4)
    assert new_ei.shape == (2, 8) and torch.equal(new_ei[:, 4:], torch.arange(4).repeat(2, 1))
    deg = torch.tensor([2.0, 3.0, 2.0, 1.0])  # 1 + in-degree
    assert torch.allclose(norm, 1 / (deg[new_ei[0]] * deg[new_ei[1]]).sqrt())
    conv = GCNConv(2, 2)
    x = torch.randn(4, 2)
    y1 = conv(x, ei)
    assert conv._cache is not None
    plan = conv._cache[3][0]
    assert torch.equal(conv(x, ei), y1) and conv._cache[3][0] is plan  # reused
    ei2 = ei.clone()
    ei2[1, 0] = 3  # a different graph must not hit the cache
    assert not torch.allclose(conv(x, ei2), y1) and conv._cache[3][0] is not plan
    ei2[1, 0] = 1  # nor the same tensor edited in place
    assert torch.equal(conv(x, ei2), y1)
    w = torch.rand(4, requires_grad=True)  # trainable weights: no caching, gradients flow
    conv(x, ei, w).sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


def test_gcn_gradients_and_float32():
    G = nx_graph(n=8, isolated=1)
    ei, _ = to_tensors(G, False)
    conv = GCNConv(3, 2).double()
    x = torch.randn(len(G), 3, **F64, requires_grad=True)
    torch.autograd.gradcheck(lambda t: conv(t, ei), (x,))
    conv32 = GCNConv(3, 2)
    assert conv32(x.detach().float(), ei).dtype == torch.float32


# -- learnable filters ------------------------------------------------------------------
@pytest.mark.parametrize("normalization", NORMS)
def test_polynomial_filter_and_chebconv_modules(normalization):
    G = nx_graph(weighted=True)
    ei, w = to_tensors(G, True)
    n = len(G)
    x = torch.randn(n, 4, **F64)
    Ld = laplacian_matrix(ei, n, w, normalization).to_dense()
    poly = PolynomialFilter(4, 3, degree=2, normalization=normalization).double()
    torch.nn.init.normal_(poly.bias)
    ref = sum(torch.linalg.matrix_power(Ld, k) @ x @ poly.weights[k].weight.t() for k in range(3)) + poly.bias
    assert torch.allclose(poly(x, ei, w), ref, atol=1e-10)
    cheb = ChebConv(4, 3, degree=2, normalization=normalization, lambda_max=3.0).double()
    Lt = 2 * Ld / 3.0 - torch.eye(n, **F64)
    T = [torch.eye(n, **F64), Lt, 2 * Lt @ Lt - torch.eye(n, **F64)]
    ref = sum(T[k] @ x @ cheb.weights[k].weight.t() for k in range(3)) + cheb.bias
    assert torch.allclose(cheb(x, ei, w), ref, atol=1e-10)


# -- errors ------------------------------------------------------------------------------
def test_errors():
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"adjacency must be a square \[N, N\]"):
        dense_laplacian(torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"adjacency must be a square"):
        dense_laplacian(torch.ones(3))
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        Laplacian(torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        Laplacian(ei.float(), 3)
    with pytest.raises(ValueError, match=r"edge_index refers to nodes in \[0, 2\] but the graph has 2 nodes"):
        Laplacian(ei, 2)
    with pytest.raises(ValueError, match=r"edge_weight must be a floating tensor of shape \[E=2\]"):
        Laplacian(ei, 3, torch.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        Laplacian(ei, 3, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="normalization must be one of"):
        Laplacian(ei, 3, normalization="symmetric")
    with pytest.raises(ValueError, match=r"x must be a floating tensor of shape \[num_nodes=3"):
        Laplacian(ei, 3)(torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"v must have shape \[E=2"):
        codifferential(torch.randn(3, 2), ei, 3)
    with pytest.raises(ValueError, match=r"edge_index refers to nodes in \[0, 2\] but the graph has 2 nodes"):
        differential(torch.randn(2, 2), ei)
    with pytest.raises(ValueError, match=r"x must be a floating tensor of shape \[num_nodes, in_dim=5\]"):
        GCNConv(5, 2)(torch.randn(3, 4), ei)
    with pytest.raises(ValueError, match=r"in_dim=5"):
        GCNConv(in_dim=5, out_dim=2)(torch.randn(3, 5).int(), ei)
    with pytest.raises(ValueError, match=r"edge_index refers to nodes in \[0, 2\] but the graph has 2 nodes"):
        GCNConv(4, 2)(torch.randn(2, 4), ei)
    with pytest.raises(ValueError, match="at least one coefficient"):
        polynomial_filter(torch.randn(3, 1), Laplacian(ei, 3), [])
    with pytest.raises(ValueError, match="lambda_max"):
        chebyshev_filter(torch.randn(3, 1), Laplacian(ei, 3), [1.0], lambda_max=0.0)
    with pytest.raises(ValueError, match="degree must be >= 0"):
        PolynomialFilter(2, 2, degree=-1)
    with pytest.raises(ValueError, match="in_dim=2"):
        ChebConv(2, 2, degree=1)(torch.randn(3, 3), ei)
