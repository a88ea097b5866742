r"""The graph Laplacian, its polynomials, and GCN as a first-order polynomial filter.

Differential and codifferential (``s_e = sqrt(w_e)``, ``w_e >= 0`` the edge weight):

$$d(x)_{ij} = s_{ij}(x_i - x_j), \qquad
d^*(v)_j = \sum_{j > k} s_{jk} v_{jk} - \sum_{i > j} s_{ij} v_{ij}$$

Sign convention: :math:`d^*` is the adjoint :math:`d^\top` (net *outflow* at ``j``), so
:math:`L = d^* d` is positive semi-definite.  The slide writes
:math:`d^*(v)_j = \sum_{i>j} v_{ij} - \sum_{j>i} v_{ji}` (inflow minus outflow), which is
:math:`-d^\top`: with it, :math:`d^* d = -L` would be negative semi-definite.
Weights: ``d`` carries :math:`\sqrt{w}`, so that :math:`d^* d = D - A` has the graph
weights :math:`w` (the slide's :math:`w_{ij}` in ``d`` is :math:`\sqrt{w_{ij}}` here).

Which edges: :math:`d^* d` counts every listed edge once.  The Laplacian operator below
follows the message-passing convention (an undirected graph lists both directions)
and reads ``A[dst, src] = w``:

$$(L x)_j = \sum_{i > j} w_{ij} (x_j - x_i), \qquad L = D - A,\quad D_{jj} = \sum_{i > j} w_{ij}$$

so for an undirected graph :math:`L = d^* d` where ``d`` uses each edge *once* (in
either orientation); passing both directions to ``d`` gives :math:`d^* d = 2L`.
Normalised forms use the pseudo-inverse :math:`D^+` (0 on isolated nodes, as networkx):

$$L^{\mathrm{sym}} = D^{+1/2} L D^{+1/2}, \qquad L^{\mathrm{rw}} = D^{+} L,\quad
(L^{\mathrm{rw}} x)_j = x_j - \tfrac{1}{D_{jj}} \sum_{i > j} w_{ij} x_i$$

The slide's "x_j minus the average over neighbours" is :math:`L^{\mathrm{rw}}`, not :math:`d^* d`.

Book: chapter laplacian.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from minignn.checks import check_bool, check_int, check_number
from minignn.graph import add_remaining_self_loops, check_edge_index  # the first re-exported: GCN's self-loop rule
from minignn.mpnn import MessagePassing, check_features
from minignn.plan import AggregationPlan
from minignn.scatter import scatter

__all__ = [
    "differential",
    "codifferential",
    "Laplacian",
    "laplacian_matrix",
    "dense_laplacian",
    "polynomial_filter",
    "chebyshev_filter",
    "add_remaining_self_loops",
    "gcn_norm",
    "GCNConv",
    "PolynomialFilter",
    "ChebConv",
]

NORMALIZATIONS = ("combinatorial", "sym", "rw")


def _check_graph(edge_index, num_nodes, edge_weight) -> tuple[Tensor, Tensor, int, Tensor | None]:
    num_nodes = _check_num_nodes(num_nodes)
    check_edge_index(edge_index, num_nodes)
    if edge_weight is not None:
        if not isinstance(edge_weight, Tensor) or edge_weight.shape != (edge_index.shape[1],) \
                or not edge_weight.is_floating_point():
            got = f"{edge_weight.dtype} {list(edge_weight.shape)}" if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
            raise ValueError(f"edge_weight must be a floating tensor of shape [E={edge_index.shape[1]}], got {got}")
        if not bool(torch.isfinite(edge_weight).all()) or bool((edge_weight < 0).any()):
            raise ValueError("edge_weight must be finite and non-negative (w_e >= 0)")
    src, dst = edge_index
    return src, dst, num_nodes, edge_weight


def _check_num_nodes(num_nodes) -> int:
    try:
        return check_int(num_nodes, "num_nodes")
    except ValueError:
        raise ValueError(f"num_nodes must be a non-negative int, got {num_nodes!r}") from None


def _check_x(x, num_nodes: int, name: str = "x") -> None:
    if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[0] != num_nodes or not x.is_floating_point():
        got = f"{x.dtype} {list(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a floating tensor of shape [num_nodes={num_nodes}, ...], got {got}")


def _check_input(x, width: int, name: str = "in_dim", like: Tensor | None = None) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != width or not x.is_floating_point():
        got = f"{x.dtype} {list(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating tensor of shape [num_nodes, {name}={width}], got {got}")
    if like is not None:
        check_features(x, width, like, "x", "this layer")  # dtype and device of the weights


def _col(t: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-row vector ``[n]`` to broadcast against ``like`` ``[n, ...]``."""
    return t.to(like.dtype).view([-1] + [1] * (like.dim() - 1))


def differential(x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    r"""The differential :math:`d : F(G_0) \to F(G_1)`, :math:`d(x)_{ij} = \sqrt{w_{ij}}\,(x_i - x_j)`.

    Args:
        x: ``[num_nodes, ...]``; edge_index: ``[2, E]`` (``i`` = src, ``j`` = dst);
        edge_weight: ``[E]`` graph weights :math:`w \ge 0` (default 1); ``d`` carries their square roots.

    Returns:
        ``[E, ...]``.

    Book: chapter laplacian, section "The differential and its adjoint".
    """
    if not isinstance(x, Tensor) or x.dim() == 0:
        raise ValueError(f"x must be a tensor of shape [num_nodes, ...], got {type(x).__name__}")
    src, dst, _, w = _check_graph(edge_index, x.shape[0], edge_weight)
    dx = x[src] - x[dst]
    return dx if w is None else _col(w.sqrt(), dx) * dx


def codifferential(v: Tensor, edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None) -> Tensor:
    r"""The codifferential :math:`d^* = d^\top : F(G_1) \to F(G_0)` (net outflow).

    $$d^*(v)_j = \sum_{j > k} \sqrt{w_{jk}}\, v_{jk} - \sum_{i > j} \sqrt{w_{ij}}\, v_{ij}$$

    The slide's :math:`\sum_{i>j} v_{ij} - \sum_{j>i} v_{ji}` is ``-codifferential(v, ...)``.

    Args:
        v: ``[E, ...]`` edge features; edge_index: ``[2, E]``; num_nodes: N; edge_weight: ``[E]``.

    Returns:
        ``[num_nodes, ...]``.

    Book: chapter laplacian, section "The differential and its adjoint".
    """
    src, dst, num_nodes, w = _check_graph(edge_index, num_nodes, edge_weight)
    if not isinstance(v, Tensor) or v.dim() == 0 or v.shape[0] != src.numel():
        got = list(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"v must have shape [E={src.numel()}, ...], got {got}")
    if w is not None:
        v = _col(w.sqrt(), v) * v
    return scatter(v, src, dim_size=num_nodes) - scatter(v, dst, dim_size=num_nodes)


class Laplacian:
    r"""The Laplacian as a sparse operator ``x -> L x`` (no dense ``[N, N]`` matrix).

    $$(L x)_j = D_{jj} x_j - \sum_{i > j} w_{ij} x_i, \quad
    L^{\mathrm{sym}} x = D^{+1/2} L (D^{+1/2} x), \quad L^{\mathrm{rw}} x = D^{+} L x$$

    The sum is ``AggregationPlan.propagate`` (a CSR product), built once here.

    Args:
        edge_index: ``[2, E]``, both directions for an undirected graph;
        num_nodes: N; edge_weight: ``[E]`` (default 1), non-negative;
        normalization: ``"combinatorial"``, ``"sym"`` or ``"rw"``.

    Attributes:
        deg: ``[N]`` weighted in-degrees :math:`D_{jj}` (self-loops count once, and cancel in L).

    Book: chapter laplacian, section "Three Laplacians".
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                 normalization: str = "combinatorial"):
        src, dst, num_nodes, w = _check_graph(edge_index, num_nodes, edge_weight)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        self.num_nodes, self.normalization, self.edge_weight = num_nodes, normalization, w
        self.edge_index = torch.stack([src, dst])
        self.plan = AggregationPlan.from_edge_index(self.edge_index, num_nodes)
        ones = torch.ones(src.numel(), dtype=torch.float64)
        self.deg = scatter(ones if w is None else w.double(), dst, dim_size=num_nodes)
        inv = torch.where(self.deg > 0, 1.0 / self.deg, torch.zeros_like(self.deg))
        self.scale = {"combinatorial": None, "sym": inv.sqrt(), "rw": inv}[normalization]  # D^{+a}

    def _combinatorial(self, x: Tensor) -> Tensor:
        return _col(self.deg, x) * x - self.plan.propagate(x, self.edge_weight)

    def __call__(self, x: Tensor) -> Tensor:
        """``L x`` for ``x`` ``[num_nodes, ...]``, same shape out."""
        _check_x(x, self.num_nodes)
        if self.normalization == "combinatorial":
            return self._combinatorial(x)
        if self.normalization == "sym":
            s = _col(self.scale, x)
            return s * self._combinatorial(s * x)
        return _col(self.scale, x) * self._combinatorial(x)

    def lambda_max_bound(self) -> float:
        r"""An upper bound on the spectrum: 2 for ``sym``/``rw``; :math:`2 \max_j D_{jj}` (Gershgorin) otherwise."""
        if self.normalization != "combinatorial":
            return 2.0
        return 2.0 * float(self.deg.max()) if self.num_nodes else 0.0

    def matrix(self) -> Tensor:
        """The same operator as a sparse COO matrix ``[N, N]`` (see :func:`laplacian_matrix`)."""
        return laplacian_matrix(self.edge_index, self.num_nodes, self.edge_weight, self.normalization)


def laplacian_matrix(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                     normalization: str = "combinatorial") -> Tensor:
    r"""Sparse COO ``[N, N]`` float64 matrix of :class:`Laplacian`: :math:`L_{jj} \mathrel{+}= D_{jj}`, :math:`L_{ji} \mathrel{-}= w_{ij}`, then scaled.

    Rows are destinations: ``(L @ x)[j]`` is :math:`(L x)_j`.

    Book: chapter laplacian, section "Three Laplacians".
    """
    op = Laplacian(edge_index, num_nodes, edge_weight, normalization)
    src, dst = op.edge_index
    w = torch.ones(src.numel(), dtype=torch.float64) if op.edge_weight is None else op.edge_weight.double()
    nodes = torch.arange(num_nodes)
    rows, cols = torch.cat([nodes, dst]), torch.cat([nodes, src])
    vals = torch.cat([op.deg, -w])
    if normalization == "sym":
        vals = vals * op.scale[rows] * op.scale[cols]
    elif normalization == "rw":
        vals = vals * op.scale[rows]
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (num_nodes, num_nodes),
                                   check_invariants=False).coalesce()


def dense_laplacian(adjacency: Tensor, normalization: str = "combinatorial") -> Tensor:
    r"""Dense formula, for small graphs: :math:`L = D - A^\top`, :math:`D = \operatorname{diag}(A^\top \mathbf 1)`.

    ``adjacency[i, j]`` is the weight of the edge ``i -> j`` (row = src, as networkx and
    :func:`minignn.graph.to_dense`); for a symmetric A this is the usual :math:`D - A`.
    Normalised forms as :class:`Laplacian` (pseudo-inverse degrees).

    Args:
        adjacency: ``[N, N]`` non-negative; normalization: ``"combinatorial"``, ``"sym"``, ``"rw"``.

    Returns:
        ``[N, N]``.

    Book: chapter laplacian, section "Three Laplacians".
    """
    if not isinstance(adjacency, Tensor) or adjacency.dim() != 2 or adjacency.shape[0] != adjacency.shape[1]:
        got = list(adjacency.shape) if isinstance(adjacency, Tensor) else type(adjacency).__name__
        raise ValueError(f"adjacency must be a square [N, N] tensor, got shape {got}")
    if adjacency.dtype == torch.bool or adjacency.is_complex():
        raise ValueError(f"adjacency must hold real, non-negative weights, got {adjacency.dtype}")
    if not bool(torch.isfinite(adjacency).all()) or bool((adjacency < 0).any()):
        raise ValueError("adjacency must hold finite, non-negative weights, got negative, NaN or infinite entries")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    A = adjacency.t()  # A[dst, src]
    deg = A.sum(dim=1)
    L = torch.diag(deg) - A
    inv = torch.where(deg > 0, 1.0 / deg, torch.zeros_like(deg))
    if normalization == "sym":
        return inv.sqrt()[:, None] * L * inv.sqrt()[None, :]
    return inv[:, None] * L if normalization == "rw" else L


def polynomial_filter(x: Tensor, L: Callable[[Tensor], Tensor], coeffs: Sequence[float] | Tensor) -> Tensor:
    r"""A polynomial filter :math:`P(L)\,x = \sum_{k=0}^{K} p_k L^k x`, by Horner's rule (K sparse products).

    Locality: :math:`(L^k x)_j` only depends on nodes at most ``k`` hops from ``j``.

    Args:
        x: ``[num_nodes, ...]``; L: a linear operator such as :class:`Laplacian`;
        coeffs: ``[K + 1]`` (:math:`p_0, \dots, p_K`), floats or a tensor (may require grad).

    Returns:
        ``[num_nodes, ...]``.

    Book: chapter laplacian, section "Polynomial filters are local".
    """
    if not callable(L):
        raise ValueError(f"L must be a linear operator x -> L x (e.g. a minignn.laplacian.Laplacian), got {type(L).__name__}")
    if len(coeffs) == 0:
        raise ValueError("coeffs must hold at least one coefficient p_0")
    out = coeffs[-1] * x
    for p in reversed(list(coeffs[:-1])):
        out = L(out) + p * x
    return out


def chebyshev_filter(x: Tensor, L: Callable[[Tensor], Tensor], coeffs: Sequence[float] | Tensor,
                     lambda_max: float = 2.0) -> Tensor:
    r"""A Chebyshev filter :math:`\sum_{k=0}^{K} \theta_k T_k(\tilde L)\,x`, :math:`\tilde L = 2L/\lambda_{\max} - I`.

    $$T_0 \tilde x = x,\quad T_1 \tilde x = \tilde L x,\quad
    T_k \tilde x = 2 \tilde L\, T_{k-1}\tilde x - T_{k-2} \tilde x$$

    Args:
        x: ``[num_nodes, ...]``; L: linear operator; coeffs: ``[K + 1]``;
        lambda_max: bound on the spectrum of L (2 for ``sym``; see :meth:`Laplacian.lambda_max_bound`).

    Returns:
        ``[num_nodes, ...]``.

    Book: chapter laplacian, section "Chebyshev filters".
    """
    if not callable(L):
        raise ValueError(f"L must be a linear operator x -> L x (e.g. a minignn.laplacian.Laplacian), got {type(L).__name__}")
    if len(coeffs) == 0:
        raise ValueError("coeffs must hold at least one coefficient theta_0")
    if not isinstance(lambda_max, (int, float, Tensor)) or isinstance(lambda_max, bool) or not lambda_max > 0 \
            or not math.isfinite(float(lambda_max)):
        raise ValueError(f"lambda_max must be > 0, got {lambda_max}")
    terms = _chebyshev_terms(x, L, len(coeffs) - 1, lambda_max)
    return sum(c * t for c, t in zip(coeffs, terms))


def _chebyshev_terms(x, L, degree, lambda_max):
    def L_tilde(y):
        return (2.0 / lambda_max) * L(y) - y

    terms = [x]
    if degree >= 1:
        terms.append(L_tilde(x))
    for _ in range(2, degree + 1):
        terms.append(2 * L_tilde(terms[-1]) - terms[-2])
    return terms


def gcn_norm(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
             dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    r"""Kipf & Welling's renormalised adjacency :math:`\hat A = \tilde D^{-1/2} \tilde A \tilde D^{-1/2}` as weighted edges.

    $$\hat A_{ji} = \frac{\tilde w_{ij}}{\sqrt{\tilde d_i \tilde d_j}},\qquad
    \tilde d_j = \sum_{i > j} \tilde w_{ij}$$

    with :math:`\tilde A = A + \operatorname{diag}(m)` from :func:`add_remaining_self_loops`:
    existing self-loops keep their weights, every node without one gets a unit loop (so
    :math:`\tilde A = A + I` on a graph without loops).  :math:`\tilde D^{-1/2}` is a
    pseudo-inverse (0 where :math:`\tilde d_j = 0`, e.g. a node that only receives a loop of weight 0).

    Args:
        edge_index: ``[2, E]`` (both directions if undirected); num_nodes: N; edge_weight: ``[E]``;
        dtype: of ``norm`` (default: edge_weight's, else the default dtype); computed in float64.

    Returns:
        ``(edge_index [2, E + N_0], norm [E + N_0])``, the added loops last (``N_0`` nodes had no
        loop).  ``propagate(x, norm)`` on that edge_index is :math:`\hat A x`.

    Book: chapter laplacian, section "GCN is a first-order filter".
    """
    _check_graph(edge_index, num_nodes, edge_weight)  # non-negative finite weights, as the Laplacian's
    ei, w = add_remaining_self_loops(edge_index, num_nodes, edge_weight)
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
        raise ValueError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
    dtype = dtype or (torch.get_default_dtype() if w is None else w.dtype)
    w = torch.ones(ei.shape[1], dtype=torch.float64, device=ei.device) if w is None else w.double()
    deg = scatter(w, ei[1], dim_size=int(num_nodes))
    inv_sqrt = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    return ei, (inv_sqrt[ei[0]] * w * inv_sqrt[ei[1]]).to(dtype)


class GCNConv(MessagePassing):
    r"""Graph convolution (Kipf & Welling): :math:`x' = \hat A\, x W^\top + b = (I - \tilde L^{\mathrm{sym}})\, x W^\top + b`.

    $$x'_j = \sum_{i > j} \frac{\tilde w_{ij}}{\sqrt{\tilde d_i \tilde d_j}}\, W x_i + b, \qquad
    \tilde A = A + \operatorname{diag}(m)$$

    Self-loops (:func:`add_remaining_self_loops`, torch_geometric's rule): a loop already in
    ``edge_index`` is kept with its weight; every node without one gets a loop of weight 1.
    :math:`\hat A` from :func:`gcn_norm`; :math:`\tilde L^{\mathrm{sym}}` is the symmetric
    Laplacian of :math:`\tilde A`, so GCN is the polynomial filter :math:`P(\lambda) = 1 - \lambda`
    applied to ``x W^T``.

    As message passing (:class:`minignn.mpnn.MessagePassing`) on the edges of :math:`\tilde A`:
    ``message = norm_ij * (W x)_i``, ``aggregate`` = sum, ``update = aggregated + b``.  The
    default path fuses message and aggregate into one CSR product ``A_hat @ (x W^T)``
    (``AggregationPlan.propagate``); the plan and :math:`\hat A` are cached while the same
    ``edge_index`` (and untrained weights) come back.  ``fused=False`` runs the base class's
    gather, message, scatter and update instead (same numbers, for checking).

    Args:
        in_dim, out_dim: F_in, F_out; bias: add ``b`` after propagation.

    Shapes: ``forward(x [N, F_in], edge_index [2, E], edge_weight [E], fused=True)`` -> ``[N, F_out]``.
    ``.linear`` is ``nn.Linear(F_in, F_out, bias=False)``, applied before propagation.

    Book: chapter laplacian, section "GCN is a first-order filter".
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True):
        super().__init__(reduce="sum")
        in_dim, out_dim = check_int(in_dim, "in_dim", minimum=1), check_int(out_dim, "out_dim", minimum=1)
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        nn.init.xavier_uniform_(self.linear.weight)
        self.bias = nn.Parameter(torch.zeros(out_dim)) if check_bool(bias, "bias") else None
        self._cache = None

    def normalized_plan(self, edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                        dtype: torch.dtype | None = None) -> tuple[AggregationPlan, Tensor]:
        """``(plan, norm)`` for ``A_hat`` (see :func:`gcn_norm`), reused while the same tensors come back.

        ``plan`` is built on the self-looped edge_index of :func:`add_remaining_self_loops`
        (``plan.src``, ``plan.dst``); ``norm`` ``[E + N_0]`` holds the entries of ``A_hat``.
        """
        versions = (getattr(edge_index, "_version", None), getattr(edge_weight, "_version", None), num_nodes, dtype)
        c = self._cache
        if c is not None and c[0] is edge_index and c[1] is edge_weight and c[2] == versions:
            return c[3]
        ei, norm = gcn_norm(edge_index, num_nodes, edge_weight, dtype)
        value = (AggregationPlan.from_edge_index(ei, num_nodes), norm)
        if edge_weight is None or not edge_weight.requires_grad:
            self._cache = (edge_index, edge_weight, versions, value)
        return value

    def message(self, x_src: Tensor, x_dst: Tensor, edge_attr: Tensor | None) -> Tensor:
        r""":math:`\hat A_{ji}\, (W x)_i`: ``x_src [E', F_out]`` times ``edge_attr = norm [E', 1]``."""
        return edge_attr * x_src

    def update(self, x: Tensor, aggregated: Tensor) -> Tensor:
        """``aggregated + b``."""
        return aggregated if self.bias is None else aggregated + self.bias

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None,
                fused: bool = True) -> Tensor:
        r"""``x [N, in_dim]``, ``edge_index [2, E]``, ``edge_weight [E]`` or None -> ``[N, out_dim]``.

        ``fused=False``: :meth:`MessagePassing.forward` on the edges of :math:`\tilde A`
        (gather, :meth:`message`, scatter-sum, :meth:`update`) instead of one CSR product.
        """
        _check_input(x, self.linear.in_features, "in_dim", self.linear.weight)
        plan, norm = self.normalized_plan(edge_index, x.shape[0], edge_weight, x.dtype)
        h = self.linear(x)  # W x_i once per node, [N, F_out]
        if not fused:  # the base class: gather h[src], message, scatter-sum at dst, update
            return super().forward(h, torch.stack([plan.src, plan.dst]), norm.unsqueeze(1))
        return self.update(h, plan.propagate(h, norm))  # message + aggregate as one CSR product


class _SpectralConv(nn.Module):
    def __init__(self, in_dim, out_dim, degree, normalization, bias):
        super().__init__()
        if isinstance(degree, int) and degree < 0:
            raise ValueError(f"degree must be >= 0, got {degree}")
        degree = check_int(degree, "degree")
        in_dim, out_dim = check_int(in_dim, "in_dim", minimum=1), check_int(out_dim, "out_dim", minimum=1)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        bias = check_bool(bias, "bias")
        self.in_dim, self.degree, self.normalization = in_dim, degree, normalization
        self.weights = nn.ModuleList(nn.Linear(in_dim, out_dim, bias=False) for _ in range(self.degree + 1))
        self.bias = nn.Parameter(torch.zeros(out_dim)) if bias else None

    def terms(self, x, L):
        raise NotImplementedError

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        _check_input(x, self.in_dim, like=self.weights[0].weight)
        L = Laplacian(edge_index, x.shape[0], edge_weight, self.normalization)
        out = sum(W(t) for W, t in zip(self.weights, self.terms(x, L)))
        return out if self.bias is None else out + self.bias


class PolynomialFilter(_SpectralConv):
    r"""Learnable polynomial filter: :math:`x' = \sum_{k=0}^{K} (L^k x)\, W_k^\top + b`.

    Args:
        in_dim, out_dim: F_in, F_out; degree: K (reaches the K-hop neighbourhood);
        normalization: which Laplacian (default ``"sym"``); bias: add ``b``.

    Shapes: ``forward(x [N, F_in], edge_index [2, E], edge_weight [E])`` -> ``[N, F_out]``;
    ``.weights[k]`` is ``nn.Linear(F_in, F_out, bias=False)`` for :math:`W_k`.

    Book: chapter laplacian, section "Polynomial filters are local".
    """

    def __init__(self, in_dim: int, out_dim: int, degree: int, normalization: str = "sym",
                 bias: bool = True):
        super().__init__(in_dim, out_dim, degree, normalization, bias)

    def terms(self, x, L):
        out = [x]
        for _ in range(self.degree):
            out.append(L(out[-1]))
        return out


class ChebConv(_SpectralConv):
    r"""Chebyshev convolution (Defferrard et al.): :math:`x' = \sum_{k=0}^{K} T_k(\tilde L)\,x\, W_k^\top + b`.

    :math:`\tilde L = 2L/\lambda_{\max} - I` (see :func:`chebyshev_filter`).  ``degree`` is K,
    so there are K + 1 terms (PyG's ``ChebConv(K=K + 1)``).

    Args:
        in_dim, out_dim: F_in, F_out; degree: K; normalization: default ``"sym"``;
        lambda_max: spectrum bound (2 for ``sym``/``rw``); bias: add ``b``.

    Shapes: ``forward(x [N, F_in], edge_index [2, E], edge_weight [E])`` -> ``[N, F_out]``.

    Book: chapter laplacian, section "Chebyshev filters".
    """

    def __init__(self, in_dim: int, out_dim: int, degree: int, normalization: str = "sym",
                 lambda_max: float = 2.0, bias: bool = True):
        super().__init__(in_dim, out_dim, degree, normalization, bias)
        self.lambda_max = check_number(lambda_max, "lambda_max", minimum=0, strict_minimum=True)

    def terms(self, x, L):
        return _chebyshev_terms(x, L, self.degree, self.lambda_max)
