r"""Graphs with features: :math:`G = (G_0, G_1)` and :math:`x \in F(G)`.

A graph is a set of vertices :math:`G_0 = \{0, \dots, N-1\}` and a set of
directed edges :math:`G_1 \subseteq G_0 \times G_0`.  Features map vertices to
:math:`F_0` (``x[i]``) and edges to :math:`F_1` (``edge_attr[e]``).

Edge direction, stated once for the whole package:
``edge_index`` is a ``[2, E]`` int64 tensor, row 0 holds the **source** and row 1
the **destination** of each edge, and a message flows ``src -> dst``.  In the
book's notation the edge ``(i, j)`` carries the message :math:`M_{ij}` from
``i = src`` to ``j = dst``.  An undirected graph stores both directions.

Batching follows jraph and PyG: the graphs of a batch become one graph whose
node and edge arrays are concatenated, with edge indices offset by the number
of nodes before them; a ``batch`` vector ``[N]`` says which graph each node
belongs to.  The blocks never touch, so any message-passing layer applied to
the batch gives the same result as applied graph by graph.

Book: chapter graphs.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

import torch
from torch import Tensor

from minignn.checks import check_bool, check_int, check_number

__all__ = [
    "Graph",
    "batch",
    "unbatch",
    "to_undirected",
    "add_self_loops",
    "add_remaining_self_loops",
    "remove_self_loops",
    "degree",
    "from_networkx",
    "to_networkx",
    "from_dense",
    "to_dense",
    "coalesce",
    "check_edge_index",
    "call_model",
]


def _check_finite(name: str, t: Tensor) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).any(dim=-1).sum()) if t.dim() > 1 else int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} must be finite, but {bad} row(s) hold NaN or inf")


@dataclass(frozen=True)
class Graph:
    r"""A graph with node, edge and graph features; possibly a batch of graphs.

    Args:
        edge_index: ``[2, E]`` int64, ``edge_index[0]`` = src, ``edge_index[1]`` = dst.
        x: node features :math:`x_i \in F_0`, ``[num_nodes, F]`` (or ``[num_nodes]``), optional.
        edge_attr: edge features :math:`x_{ij} \in F_1`, ``[E, F_e]`` (or ``[E]``), optional.
        pos: node positions, ``[num_nodes, 3]`` (row vectors), optional.
        y: graph-level target, any tensor shape, optional; :func:`batch` stacks it to ``[num_graphs, ...]``.
        num_nodes: number of vertices; required when neither ``x`` nor ``pos`` is given,
            and kept explicitly so that isolated nodes (even trailing ones) survive.
        batch: ``[num_nodes]`` int64 graph id of each node (set by :func:`batch`).
        num_nodes_per_graph, num_edges_per_graph: ``[num_graphs]`` int64 counts (set by :func:`batch`).

    Construction validates shapes, dtypes, index ranges and finiteness and raises
    ``ValueError`` saying what was expected.

    Book: chapter graphs, section "Graphs in code".
    """

    edge_index: Tensor
    x: Tensor | None = None
    edge_attr: Tensor | None = None
    pos: Tensor | None = None
    y: Any = None
    num_nodes: int | None = None
    batch: Tensor | None = None
    num_nodes_per_graph: Tensor | None = None
    num_edges_per_graph: Tensor | None = None

    def __post_init__(self) -> None:
        ei = check_edge_index(self.edge_index)
        n = self.num_nodes
        if n is not None:
            n = check_int(n, "num_nodes", minimum=None)
            if n < 0:
                raise ValueError(f"num_nodes must be >= 0, got {n}")
        for name in ("x", "pos"):
            t = getattr(self, name)
            if t is None:
                continue
            if not isinstance(t, Tensor) or t.dim() == 0:
                raise ValueError(f"{name} must be a tensor of shape [num_nodes, ...]")
            if n is None:
                n = t.shape[0]
            elif t.shape[0] != n:
                raise ValueError(f"{name} has {t.shape[0]} rows but the graph has num_nodes={n}")
        if n is None:
            raise ValueError("num_nodes is required when neither x nor pos is given")
        object.__setattr__(self, "num_nodes", n)
        check_edge_index(ei, n)
        if self.pos is not None and (self.pos.dim() != 2 or self.pos.shape[1] != 3):
            raise ValueError(f"pos must have shape [num_nodes, 3], got {list(self.pos.shape)}")
        if self.edge_attr is not None:
            if not isinstance(self.edge_attr, Tensor) or self.edge_attr.dim() == 0 or self.edge_attr.shape[0] != ei.shape[1]:
                got = list(self.edge_attr.shape) if isinstance(self.edge_attr, Tensor) else type(self.edge_attr).__name__
                raise ValueError(f"edge_attr must have shape [E, ...] with E={ei.shape[1]} edges, got {got}")
        for name in ("x", "pos", "edge_attr"):
            t = getattr(self, name)
            if t is not None:
                _check_finite(name, t)
        if self.batch is not None:
            if not isinstance(self.batch, Tensor) or self.batch.dtype != torch.int64 or self.batch.shape != (n,):
                got = f"{self.batch.dtype} {list(self.batch.shape)}" if isinstance(self.batch, Tensor) else type(self.batch).__name__
                raise ValueError(f"batch must be an int64 tensor of shape [{n}], got {got}")
        counts = (self.num_nodes_per_graph, self.num_edges_per_graph)
        if any(c is not None for c in counts):
            if any(c is None for c in counts) or self.batch is None:
                raise ValueError("a batch needs batch, num_nodes_per_graph and num_edges_per_graph together")
            for name, c in zip(("num_nodes_per_graph", "num_edges_per_graph"), counts):
                if not isinstance(c, Tensor) or c.dtype != torch.int64 or c.dim() != 1 or c.shape != counts[0].shape \
                        or (c.numel() and int(c.min()) < 0):
                    got = f"{c.dtype} {c.tolist() if c.numel() < 10 else list(c.shape)}" if isinstance(c, Tensor) else type(c).__name__
                    raise ValueError(f"{name} must be a 1-d int64 tensor of counts >= 0, one per graph, got {got}")
            if int(counts[0].sum()) != n or int(counts[1].sum()) != ei.shape[1]:
                raise ValueError(
                    f"per-graph counts add up to {int(counts[0].sum())} nodes and {int(counts[1].sum())} edges, "
                    f"but the batch has {n} nodes and {ei.shape[1]} edges"
                )

    # -- views -------------------------------------------------------------
    @property
    def src(self) -> Tensor:
        """Source node of each edge, ``[E]``."""
        return self.edge_index[0]

    @property
    def dst(self) -> Tensor:
        """Destination node of each edge, ``[E]``."""
        return self.edge_index[1]

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def num_graphs(self) -> int:
        return 1 if self.num_nodes_per_graph is None else int(self.num_nodes_per_graph.numel())

    def replace(self, **changes: Any) -> "Graph":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to(self, device: torch.device | str) -> "Graph":
        """Move every tensor field to ``device``."""
        moved = {f.name: (v.to(device) if isinstance(v := getattr(self, f.name), Tensor) else v) for f in fields(self)}
        return Graph(**moved)

    def __repr__(self) -> str:
        parts = [f"num_nodes={self.num_nodes}", f"num_edges={self.num_edges}"]
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "edge_index" and isinstance(v, Tensor):
                parts.append(f"{f.name}={list(v.shape)}")
        if self.num_nodes_per_graph is not None:
            parts.append(f"num_graphs={self.num_graphs}")
        return f"Graph({', '.join(parts)})"


def _cat_optional(name: str, graphs: Sequence[Graph]) -> Tensor | None:
    values = [getattr(g, name) for g in graphs]
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"cannot batch: field '{name}' is set on some graphs and missing on others")
    return torch.cat(values, dim=0)


def batch(graphs: Sequence[Graph]) -> Graph:
    r"""Concatenate graphs into one block-diagonal graph.

    Node and edge arrays are concatenated; the edges of graph :math:`g` are
    offset by :math:`\sum_{h < g} N_h`.  Graph-level ``y`` is stacked to ``[num_graphs, ...]``.

    Args:
        graphs: a non-empty sequence of single graphs.

    Returns:
        one ``Graph`` with ``batch`` ``[sum N_g]`` and per-graph counts ``[num_graphs]``.

    Book: chapter graphs, section "Batching".
    """
    graphs = list(graphs)
    if not graphs:
        raise ValueError("batch() needs at least one graph, got an empty sequence")
    wrong = [k for k, g in enumerate(graphs) if not isinstance(g, Graph)]
    if wrong:
        raise ValueError(f"batch() takes minignn.graph.Graph objects; graphs[{wrong[0]}] is a "
                         f"{type(graphs[wrong[0]]).__name__}")
    if any(g.num_nodes_per_graph is not None for g in graphs):
        raise ValueError("batch() takes single graphs; unbatch a batch first")
    counts = torch.tensor([g.num_nodes for g in graphs], dtype=torch.int64)
    ecounts = torch.tensor([g.num_edges for g in graphs], dtype=torch.int64)
    offsets = torch.cumsum(counts, 0) - counts
    edge_index = torch.cat([g.edge_index + off for g, off in zip(graphs, offsets.tolist())], dim=1)
    ys = [g.y for g in graphs]
    if all(y is None for y in ys):
        y = None
    elif all(isinstance(y, Tensor) for y in ys) and all(y.shape == ys[0].shape for y in ys):
        y = torch.stack(ys)
    else:
        raise ValueError("cannot batch y: it must be None on every graph or a tensor of one shape on every graph")
    return Graph(
        edge_index=edge_index,
        x=_cat_optional("x", graphs),
        edge_attr=_cat_optional("edge_attr", graphs),
        pos=_cat_optional("pos", graphs),
        y=y,
        num_nodes=int(counts.sum()),
        batch=torch.repeat_interleave(torch.arange(len(graphs)), counts),
        num_nodes_per_graph=counts,
        num_edges_per_graph=ecounts,
    )


def unbatch(g: Graph) -> list[Graph]:
    """Split a batch made by :func:`batch` back into its graphs (the inverse of :func:`batch`).

    Book: chapter graphs, section "Batching".
    """
    if not isinstance(g, Graph):
        raise ValueError(f"g must be a minignn.graph.Graph made by batch() (unbatch takes a batch), got {type(g).__name__}")
    if g.num_nodes_per_graph is None or g.num_edges_per_graph is None:
        raise ValueError("unbatch() needs a batch made by batch(): num_nodes_per_graph is missing")
    n_counts = g.num_nodes_per_graph.tolist()
    e_counts = g.num_edges_per_graph.tolist()
    out, n0, e0 = [], 0, 0
    for k, (n, e) in enumerate(zip(n_counts, e_counts)):
        def cut(t: Tensor | None, a: int, b: int) -> Tensor | None:
            return None if t is None else t[a:b]

        y = None if g.y is None else g.y[k]
        out.append(
            Graph(
                edge_index=g.edge_index[:, e0 : e0 + e] - n0,
                x=cut(g.x, n0, n0 + n),
                edge_attr=cut(g.edge_attr, e0, e0 + e),
                pos=cut(g.pos, n0, n0 + n),
                y=y,
                num_nodes=n,
            )
        )
        n0, e0 = n0 + n, e0 + e
    return out


# -- helpers on edge_index -------------------------------------------------
def check_edge_index(edge_index, num_nodes: int | None = None) -> Tensor:
    r"""The one validator of an ``edge_index``: an int64 tensor ``[2, E]`` with entries in ``[0, num_nodes)``.

    $$0 \le \mathrm{src}_e,\ \mathrm{dst}_e < N \quad \text{for every edge } e$$

    Public entry points (models, graph functions) call it once; the layers a validated model
    calls trust their input (the range check reads the tensor back to the host, which costs a
    synchronisation on a GPU).

    Args:
        edge_index: the tensor to check.  num_nodes: N (None: only the type and shape are checked).
    Returns:
        ``edge_index`` itself.
    Raises:
        ValueError: naming what was expected and what was got.

    Book: chapter graphs, section "Graphs in code".
    """
    if not isinstance(edge_index, Tensor) or edge_index.dtype != torch.int64 or edge_index.dim() != 2 \
            or edge_index.shape[0] != 2:
        got = f"{edge_index.dtype} {list(edge_index.shape)}" if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise ValueError(f"edge_index must be an int64 tensor of shape [2, E], got {got}")
    if num_nodes is not None:
        num_nodes = check_int(num_nodes, "num_nodes")
    if num_nodes is not None and edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"edge_index refers to nodes in [{lo}, {hi}] but the graph has {num_nodes} nodes "
                             f"(indices 0..{num_nodes - 1})")
    return edge_index


def _check_edge_rows(name: str, t, num_edges: int) -> None:
    if t is not None and (not isinstance(t, Tensor) or t.dim() == 0 or t.shape[0] != num_edges):
        got = list(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must have one row per edge, shape [E={num_edges}, ...], got {got}")


def coalesce(edge_index: Tensor, num_nodes: int, edge_attr: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Sort edges by (src, dst) and drop duplicates (keeping the first edge's attribute).

    The sort key ``src * N + dst`` fits int64 while :math:`N^2 < 2^{62}`; beyond (``N`` past about 2^31 nodes)
    the edges are sorted by ``dst``, then stably by ``src``, so distinct edges are never merged.
    """
    check_edge_index(edge_index, num_nodes)
    num_nodes = check_int(num_nodes, "num_nodes")
    _check_edge_rows("edge_attr", edge_attr, edge_index.shape[1])
    src, dst = edge_index
    if num_nodes * num_nodes < 2**62:
        key_sorted, order = torch.sort(src * max(num_nodes, 1) + dst, stable=True)
        new = key_sorted[1:] != key_sorted[:-1]
    else:  # src * N + dst would overflow int64: two stable sorts, no key
        order = torch.argsort(dst, stable=True)
        order = order[torch.argsort(src[order], stable=True)]
        s, d = src[order], dst[order]
        new = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
    keep = torch.ones(order.numel(), dtype=torch.bool, device=order.device)
    keep[1:] = new
    order = order[keep]
    return edge_index[:, order], None if edge_attr is None else edge_attr[order]


def to_undirected(edge_index: Tensor, num_nodes: int, edge_attr: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    r"""Add the reverse of every edge, :math:`G_1 \cup \{(j, i) : (i, j) \in G_1\}`, without duplicates.

    Edges come out sorted by (src, dst); a reverse edge copies its edge's attribute.

    Args:
        edge_index: ``[2, E]``; num_nodes: N; edge_attr: ``[E, ...]`` or None.

    Returns:
        ``(edge_index [2, E'], edge_attr [E', ...] or None)``.

    Book: chapter graphs, section "Directed and undirected".
    """
    check_edge_index(edge_index, num_nodes)
    _check_edge_rows("edge_attr", edge_attr, edge_index.shape[1])
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    attr = None if edge_attr is None else torch.cat([edge_attr, edge_attr], dim=0)
    return coalesce(both, num_nodes, attr)


def remove_self_loops(edge_index: Tensor, edge_attr: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Drop the edges ``(i, i)``; returns ``(edge_index, edge_attr)``."""
    check_edge_index(edge_index)
    _check_edge_rows("edge_attr", edge_attr, edge_index.shape[1])
    keep = edge_index[0] != edge_index[1]
    return edge_index[:, keep], None if edge_attr is None else edge_attr[keep]


def add_self_loops(
    edge_index: Tensor, num_nodes: int, edge_attr: Tensor | None = None, fill_value: float = 1.0
) -> tuple[Tensor, Tensor | None]:
    r"""Replace any self-loops by exactly one loop :math:`(i, i)` per node, appended after the other edges.

    New loops get ``edge_attr = fill_value``.  Returns ``(edge_index [2, E' + N], edge_attr)``.

    Book: chapter laplacian, section "GCN is a first-order filter".
    """
    check_edge_index(edge_index, num_nodes)
    num_nodes = check_int(num_nodes, "num_nodes")
    fill_value = check_number(fill_value, "fill_value")
    edge_index, edge_attr = remove_self_loops(edge_index, edge_attr)
    loops = torch.arange(num_nodes, device=edge_index.device).repeat(2, 1)
    if edge_attr is not None:
        fill = edge_attr.new_full((num_nodes, *edge_attr.shape[1:]), fill_value)
        edge_attr = torch.cat([edge_attr, fill], dim=0)
    return torch.cat([edge_index, loops], dim=1), edge_attr


def add_remaining_self_loops(edge_index: Tensor, num_nodes: int,
                             edge_weight: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    r"""The self-loop rule of GCN: keep the loops that are there, add a unit loop where there is none.

    $$\tilde A = A + \operatorname{diag}(m), \qquad
    m_j = \begin{cases} 1 & \text{no edge } (j, j) \text{ is listed} \\ 0 & \text{otherwise} \end{cases}$$

    An existing loop keeps its weight (even 0); a node with several loops keeps them all
    (their weights add up in :math:`\tilde A`).  This is torch_geometric's
    ``add_remaining_self_loops`` (which, for several loops on one node, keeps only one).

    Args:
        edge_index: ``[2, E]``; num_nodes: N; edge_weight: ``[E]`` or None (all 1).

    Returns:
        ``(edge_index [2, E + N_0], edge_weight [E + N_0] or None)``: the given edges first, in
        their order, then one loop ``(j, j)`` of weight 1 for each of the ``N_0`` nodes without
        one, in node order.

    Book: chapter laplacian, section "GCN is a first-order filter".
    """
    src, dst = check_edge_index(edge_index, num_nodes)
    num_nodes = check_int(num_nodes, "num_nodes")
    w = edge_weight
    if w is not None and (not isinstance(w, Tensor) or w.shape != (src.numel(),) or not w.is_floating_point()):
        got = f"{w.dtype} {list(w.shape)}" if isinstance(w, Tensor) else type(w).__name__
        raise ValueError(f"edge_weight must be a floating tensor of shape [E={src.numel()}], got {got}")
    has_loop = torch.zeros(num_nodes, dtype=torch.bool, device=src.device)
    has_loop[src[src == dst]] = True
    missing = torch.nonzero(~has_loop).flatten()
    ei = torch.stack([torch.cat([src, missing]), torch.cat([dst, missing])])
    return ei, None if w is None else torch.cat([w, w.new_ones(missing.numel())])


def degree(index: Tensor, num_nodes: int, edge_weight: Tensor | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""Weighted degree :math:`\deg(j) = \sum_{e : \mathrm{index}_e = j} w_e`, ``[num_nodes]``.

    Pass ``edge_index[1]`` for in-degrees (messages received), ``edge_index[0]`` for out-degrees.
    """
    if not isinstance(index, Tensor) or index.dtype != torch.int64 or index.dim() != 1:
        raise ValueError("index must be a 1-d int64 tensor, e.g. edge_index[1]")
    num_nodes = check_int(num_nodes, "num_nodes")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
        raise ValueError(f"index holds values outside [0, {num_nodes - 1}]")
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}")
    if edge_weight is not None and (not isinstance(edge_weight, Tensor) or edge_weight.shape != index.shape):
        got = list(edge_weight.shape) if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
        raise ValueError(f"edge_weight must have shape [E] = [{index.numel()}] (one weight per entry of index), got {got}")
    w = torch.ones(index.numel(), dtype=dtype, device=index.device) if edge_weight is None else edge_weight.to(dtype)
    return torch.zeros(num_nodes, dtype=dtype, device=index.device).index_add_(0, index, w)


# -- conversions -----------------------------------------------------------
def _stack_attrs(items: list[dict], keys: list[str]) -> Tensor | None:
    if not keys or not items:
        return None
    cols = []
    for k in keys:
        vals = [d[k] for d in items]
        t = torch.as_tensor([torch.as_tensor(v).tolist() for v in vals], dtype=torch.get_default_dtype())
        cols.append(t.reshape(len(items), -1))
    return torch.cat(cols, dim=1)


def from_networkx(G, node_attrs: Sequence[str] = (), edge_attrs: Sequence[str] = (), pos_attr: str | None = None) -> Graph:
    """Build a :class:`Graph` from a networkx graph.

    Nodes are numbered in ``G.nodes`` order.  An undirected ``nx.Graph`` gives both
    directions of every edge; a ``DiGraph`` keeps its directions.  The listed node
    attributes are concatenated into ``x`` ``[N, F]``, edge attributes into
    ``edge_attr`` ``[E, F_e]``; ``pos_attr`` names a 3-vector node attribute.

    Book: chapter graphs, section "Graphs in code".
    """
    if not all(hasattr(G, a) for a in ("nodes", "edges", "is_directed")):
        raise ValueError(f"G must be a networkx graph (nx.Graph or nx.DiGraph), got {type(G).__name__}")
    nodes = list(G.nodes)
    idx = {v: k for k, v in enumerate(nodes)}
    src, dst, eattr = [], [], []
    for u, v, data in G.edges(data=True):
        src.append(idx[u]); dst.append(idx[v]); eattr.append(data)
        if not G.is_directed() and u != v:
            src.append(idx[v]); dst.append(idx[u]); eattr.append(data)
    for name, where, keys in (("node", [G.nodes[v] for v in nodes], node_attrs), ("edge", eattr, edge_attrs)):
        for k in keys:
            missing = sum(k not in d for d in where)
            if missing:
                raise ValueError(f"{missing} {name}(s) lack the attribute '{k}'")
    edge_index = torch.tensor([src, dst], dtype=torch.int64).reshape(2, -1)
    pos = None
    if pos_attr is not None:
        pos = torch.as_tensor([list(G.nodes[v][pos_attr]) for v in nodes], dtype=torch.get_default_dtype()).reshape(-1, 3)
    return Graph(
        edge_index=edge_index,
        x=_stack_attrs([G.nodes[v] for v in nodes], list(node_attrs)),
        edge_attr=_stack_attrs(eattr, list(edge_attrs)),
        pos=pos,
        num_nodes=len(nodes),
    )


def to_networkx(g: Graph, directed: bool = True):
    """Convert to ``nx.DiGraph`` (or ``nx.Graph`` with ``directed=False``), nodes ``0..N-1``.

    Node attributes ``x`` and ``pos`` and edge attribute ``edge_attr`` are copied as lists.
    """
    import networkx as nx

    if not isinstance(g, Graph):
        raise ValueError(f"g must be a minignn.graph.Graph (to_networkx converts one), got {type(g).__name__}")
    G = nx.DiGraph() if check_bool(directed, "directed") else nx.Graph()
    for i in range(g.num_nodes):
        attrs = {}
        if g.x is not None:
            attrs["x"] = g.x[i].tolist()
        if g.pos is not None:
            attrs["pos"] = g.pos[i].tolist()
        G.add_node(i, **attrs)
    for e, (u, v) in enumerate(g.edge_index.t().tolist()):
        G.add_edge(u, v, **({"edge_attr": g.edge_attr[e].tolist()} if g.edge_attr is not None else {}))
    return G


def from_dense(adjacency: Tensor, x: Tensor | None = None) -> Graph:
    r"""Graph of the nonzero entries of a square adjacency matrix: edge ``(i, j)`` iff :math:`A_{ij} \neq 0`.

    The entries become a 1-d ``edge_attr`` (edge weights).  Args: adjacency ``[N, N]``, x ``[N, F]``.
    """
    if not isinstance(adjacency, Tensor) or adjacency.dim() != 2 or adjacency.shape[0] != adjacency.shape[1]:
        got = list(adjacency.shape) if isinstance(adjacency, Tensor) else type(adjacency).__name__
        raise ValueError(f"adjacency must be a square [N, N] tensor, got {got}")
    if adjacency.is_floating_point() and not bool(torch.isfinite(adjacency).all()):
        raise ValueError("adjacency must be finite: NaN or inf entries are not edge weights")
    src, dst = torch.nonzero(adjacency, as_tuple=True)
    return Graph(edge_index=torch.stack([src, dst]), x=x, edge_attr=adjacency[src, dst], num_nodes=adjacency.shape[0])


def to_dense(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None) -> Tensor:
    r"""Dense adjacency :math:`A_{ij} = \sum_{e = (i, j)} w_e`, ``[N, N]`` (row = src, column = dst)."""
    check_edge_index(edge_index, num_nodes)
    num_nodes = check_int(num_nodes, "num_nodes")
    if edge_weight is not None and (not isinstance(edge_weight, Tensor) or tuple(edge_weight.shape) != (edge_index.shape[1],)):
        got = list(edge_weight.shape) if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
        raise ValueError(f"edge_weight must have shape [E] = [{edge_index.shape[1]}], got {got}")
    w = torch.ones(edge_index.shape[1]) if edge_weight is None else edge_weight
    A = torch.zeros(num_nodes, num_nodes, dtype=w.dtype, device=edge_index.device)
    return A.index_put_((edge_index[0], edge_index[1]), w, accumulate=True)


@functools.lru_cache(maxsize=None)
def _forward_parameters(cls) -> frozenset:
    return frozenset(inspect.signature(cls.forward).parameters)


def call_model(model, g: Graph):
    r"""Run ``model`` on a :class:`Graph` (or a batch of graphs): the one place where a Graph meets a model.

    Models take tensors in the package's order: node features, then positions if the model reads
    them, then ``edge_index``; ``edge_attr``, ``batch`` and ``num_graphs`` by keyword.  This unpacks ``g``
    accordingly:

    * ``model(g.x, g.pos, g.edge_index, batch=g.batch, num_graphs=g.num_graphs)`` when the model's
      ``forward`` has a ``pos`` argument (PaiNN, EGNN, InvariantMPNN, ...);
    * ``model(g.x, g.edge_index, edge_attr=g.edge_attr, batch=..., num_graphs=...)`` otherwise
      (MPNN), passing ``edge_attr`` only when the graph has one.

    :class:`minignn.train.Trainer` calls every model through this function.
    Book: chapter graphs, section "Batching".
    """
    if not isinstance(g, Graph):
        raise ValueError(f"call_model needs a minignn.graph.Graph as g, got {type(g).__name__}")
    params = _forward_parameters(type(getattr(model, "module", model)))  # through a DistributedDataParallel wrapper
    kwargs = {k: v for k, v in (("batch", g.batch), ("num_graphs", g.num_graphs)) if k in params}
    if "pos" in params:
        if g.pos is None:
            raise ValueError(f"{type(model).__name__} reads positions but the graph has no pos")
        return model(g.x, g.pos, g.edge_index, **kwargs)
    if g.edge_attr is not None and "edge_attr" in params:
        kwargs["edge_attr"] = g.edge_attr
    return model(g.x, g.edge_index, **kwargs)
