r"""Message-passing neural networks: messages on edges, updates on nodes.

$$M_{ij} = f_\theta(x_i, x_j, x_{ij}), \qquad U(x, M)_j = x_j + \sum_{i > j} M_{ij}$$

A layer is the composite ``U o M``: F(G) -> F(G); a network iterates layers.  In
code every layer runs the same three stages of :class:`MessagePassing`:

1. gather the endpoint features ``x_src = x[src]``, ``x_dst = x[dst]`` ([E, F]);
2. ``message(x_src, x_dst, edge_attr)`` -> ``M`` [E, F'] (the book's ``M``);
3. ``aggregate(M, dst, num_nodes)`` -> [num_nodes, F'] with :func:`minignn.scatter.scatter`
   (or a shared :class:`minignn.plan.AggregationPlan`), then ``update(x, aggregated)``.

Edges follow the package convention: ``src, dst = edge_index``, a message flows
``src -> dst`` and is aggregated at ``dst`` (``i = src``, ``j = dst`` in the formulas).

Book: chapter mpnn.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from minignn.checks import check_bool, check_int
from minignn.graph import add_remaining_self_loops, check_edge_index, degree
from minignn.pooling import global_pool
from minignn.scatter import REDUCES, scatter, scatter_unchecked

__all__ = [
    "check_inputs",
    "check_features",
    "check_edge_attr",
    "check_plan",
    "gather",
    "mlp",
    "MessagePassing",
    "MPNNLayer",
    "EdgeUpdateLayer",
    "MeanGCNConv",
    "MPNN",
]


def check_inputs(x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> int:
    """Validate ``x [num_nodes, F]``, ``edge_index [2, E]`` (:func:`minignn.graph.check_edge_index`) and
    ``edge_attr [E, F_e]``; return num_nodes.  Called once by a public entry point (a model, or a layer
    called on its own); the layers a validated model runs do not validate again.

    Raises ``ValueError`` naming what was expected and what was got.
    """
    if not isinstance(x, Tensor) or x.dim() != 2:
        got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape [num_nodes, F], got {got}")
    check_edge_index(edge_index, x.shape[0])
    if edge_attr is not None and (not isinstance(edge_attr, Tensor) or edge_attr.dim() != 2
                                  or edge_attr.shape[0] != edge_index.shape[1]):
        got = list(edge_attr.shape) if isinstance(edge_attr, Tensor) else type(edge_attr).__name__
        raise ValueError(f"edge_attr must have shape [E={edge_index.shape[1]}, F_e], got {got}")
    return x.shape[0]


def check_features(x, width: int, like: Tensor, name: str = "x", who: str = "this model") -> None:
    """Node (or edge) features ``x [N, width]`` that a model's first weight ``like`` can read: the model's input width,
    a floating-point dtype equal to the weights' and the same device.  A model calls it once, at its entry, so that
    a wrong width or dtype is named here rather than by torch's ``mat1 and mat2 shapes cannot be multiplied``.

    Raises ``ValueError`` naming ``name``, what was expected and what was got.
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != width:
        got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must have shape [num_rows, {width}] ({who} was built for width {width}), got {got}")
    if x.dtype != like.dtype:
        raise ValueError(f"{name} has dtype {x.dtype} but the weights of {who} are {like.dtype}; convert one of them "
                         f"({name}.to({like.dtype}) or model.to({x.dtype}))")
    if x.device != like.device:
        raise ValueError(f"{name} is on device {x.device} but the weights of {who} are on {like.device}; "
                         f"move one of them ({name}.to({str(like.device)!r}) or model.to({str(x.device)!r}))")


def mlp(*sizes: int, act: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """A multilayer perceptron ``Linear -> act -> ... -> Linear`` through the given widths."""
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output width, got {sizes}")
    sizes = tuple(check_int(w, f"mlp width {k}", minimum=1) for k, w in enumerate(sizes))
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([act()] if k < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def check_edge_attr(edge_attr, edge_dim: int, who: str, like: Tensor | None = None) -> None:
    """A layer built for ``edge_dim`` edge features needs ``edge_attr [E, edge_dim]``; one built without them
    (``edge_dim=0``) rejects an ``edge_attr`` rather than ignore it.  With ``like`` (a weight of the layer) the dtype
    and device of ``edge_attr`` must be those of the weights (:func:`check_features`)."""
    if edge_dim and edge_attr is None:
        raise ValueError(f"{who} expects edge_attr of shape [E, {edge_dim}], got None")
    if not edge_dim and edge_attr is not None:
        raise ValueError(f"{who} was built without edge features (edge_dim=0) but got edge_attr; "
                         "build it with edge_dim=F_e to use them")
    if edge_dim and isinstance(edge_attr, Tensor) and (edge_attr.dim() != 2 or edge_attr.shape[1] != edge_dim):
        raise ValueError(f"{who} expects edge_attr of shape [E, {edge_dim}], got {list(edge_attr.shape)}")
    if edge_dim and like is not None:
        check_features(edge_attr, edge_dim, like, "edge_attr", who)


def _rows(x) -> int:
    """The number of nodes of a node state: a tensor ``[N, ...]`` or a tuple of them."""
    return (x[0] if isinstance(x, tuple) else x).shape[0]


def gather(x, index: Tensor):
    """``x[index]`` for a node state ``x``: a tensor, or a tuple of tensors indexed alike."""
    return tuple(t[index] for t in x) if isinstance(x, tuple) else x[index]


def check_plan(plan, edge_index: Tensor, num_nodes: int) -> None:
    """An :class:`~minignn.plan.AggregationPlan` must have been built on this ``edge_index`` (checked once, at the
    boundary, like the inputs)."""
    if plan is None:
        return
    if not all(hasattr(plan, a) for a in ("num_nodes", "num_edges", "dst", "aggregate")):
        raise ValueError(f"plan must be a minignn.plan.AggregationPlan (or None), got {type(plan).__name__}")
    dst = edge_index[1]
    if plan.num_nodes != num_nodes or plan.num_edges != dst.numel() or not torch.equal(plan.dst, dst):
        raise ValueError(
            f"plan was built for another graph ({plan.num_nodes} nodes, {plan.num_edges} edges) than "
            f"the one given ({num_nodes} nodes, {dst.numel()} edges); build it with "
            "AggregationPlan.from_edge_index(edge_index, num_nodes) on this edge_index"
        )


class MessagePassing(nn.Module):
    r"""Base layer: gather -> message -> aggregate -> update.

    $$x'_j = \mathrm{update}\Big(x_j,\ \bigoplus_{i > j} \mathrm{message}(x_i, x_j, x_{ij})\Big)$$

    with :math:`\bigoplus` = ``reduce`` (sum, mean, max or min; a node without
    incoming edge receives 0).  Subclasses override ``message`` and ``update``; the
    defaults are ``message = x_i`` and ``update = aggregated``, i.e. :math:`x'_j = \bigoplus_{i>j} x_i`.

    Every layer of the package that passes messages derives from this class.  The hooks that
    the book's layers need, and no more:

    * the node state ``x`` may be a tuple of tensors (EGNN's :math:`(h, r)`, PaiNN's :math:`(s, \vec v)`):
      ``message`` then receives tuples ``x_src`` and ``x_dst``, and ``update`` the tuple ``x``;
    * ``message`` may return a tuple (several messages per edge, e.g. a scalar and a vector), aggregated
      one by one, each with its own reduction when ``reduce`` is a tuple;
    * ``edge_messages`` (gather, then ``message``) may be replaced by a faster computation of the same
      messages (EGNN computes part of its first layer per node), tested equal to this class's;
    * ``aggregate`` may be replaced (the nerve's two-sided divergence).

    ``forward`` is the public entry: it validates its inputs once, then calls ``propagate``.  A model
    that has validated its inputs calls ``layer.propagate`` directly (no second validation: on a GPU
    each check of an index range waits for the device).

    Args:
        reduce: the aggregation :math:`\bigoplus` used by ``aggregate`` (a tuple: one per message).

    Book: chapter mpnn, section "Three stages: message, aggregate, update".
    """

    def __init__(self, reduce: str | tuple = "sum"):
        super().__init__()
        for r in reduce if isinstance(reduce, tuple) else (reduce,):
            if r not in REDUCES:
                raise ValueError(f"reduce must be one of {REDUCES}, got {r!r}")
        self.reduce = reduce

    def message(self, x_src, x_dst, edge_attr):
        """:math:`M_{ij}` from ``x_src [E, F]``, ``x_dst [E, F]``, ``edge_attr [E, F_e]`` -> ``[E, F']``."""
        return x_src

    def edge_messages(self, x, edge_index: Tensor, edge_attr):
        """The messages of all edges: gather the node states at both ends, then ``message``."""
        src, dst = edge_index
        return self.message(gather(x, src), gather(x, dst), edge_attr)

    def aggregate(self, messages, dst: Tensor, num_nodes: int, plan=None):
        r""":math:`\bigoplus_{i > j} M_{ij}`: ``[E, F']`` -> ``[num_nodes, F']`` via scatter or ``plan``
        (a tuple of messages gives a tuple).

        ``plan`` is an :class:`~minignn.plan.AggregationPlan` built once for this
        ``edge_index`` and shared by the layers of a network (same result, faster).
        """
        if isinstance(messages, tuple):
            reduces = self.reduce if isinstance(self.reduce, tuple) else (self.reduce,) * len(messages)
            return tuple(self._aggregate(m, dst, num_nodes, plan, r) for m, r in zip(messages, reduces))
        return self._aggregate(messages, dst, num_nodes, plan, self.reduce)

    @staticmethod
    def _aggregate(messages: Tensor, dst: Tensor, num_nodes: int, plan, reduce: str) -> Tensor:
        if plan is None:
            return scatter_unchecked(messages, dst, 0, num_nodes, reduce)
        return plan.aggregate(messages, reduce=reduce)

    def update(self, x, aggregated):
        """New node features from ``x [num_nodes, F]`` and ``aggregated [num_nodes, F']``."""
        return aggregated

    def propagate(self, x, edge_index: Tensor, edge_attr=None, plan=None):
        """message -> aggregate -> update on inputs already validated (see ``forward``)."""
        messages = self.edge_messages(x, edge_index, edge_attr)
        return self.update(x, self.aggregate(messages, edge_index[1], _rows(x), plan=plan))

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None, plan=None) -> Tensor:
        """Args: ``x [num_nodes, F]``, ``edge_index [2, E]``, ``edge_attr [E, F_e]`` or None,
        ``plan`` an optional AggregationPlan of ``edge_index``.  Returns ``[num_nodes, F']``."""
        num_nodes = check_inputs(x, edge_index, edge_attr)
        check_plan(plan, edge_index, num_nodes)
        return self.propagate(x, edge_index, edge_attr, plan)


class MPNNLayer(MessagePassing):
    r"""The MPNN layer of the book: an MLP message and a residual sum update.

    $$M_{ij} = f_\theta(x_i, x_j, x_{ij}), \qquad x'_j = x_j + \sum_{i > j} M_{ij}$$

    :math:`f_\theta` is an MLP on the concatenation ``[x_i, x_j, x_ij]``.

    Args:
        dim: node feature width F (kept by the residual update).
        edge_dim: edge feature width F_e (0 for graphs without edge features).
        hidden: hidden width of :math:`f_\theta`.
        reduce: aggregation (``"sum"`` in the book's formula).

    Shapes: ``x [num_nodes, dim]``, ``edge_attr [E, edge_dim]`` -> ``[num_nodes, dim]``.

    Book: chapter mpnn, section "The MPNN layer".
    """

    def __init__(self, dim: int, edge_dim: int = 0, hidden: int = 64, reduce: str = "sum"):
        super().__init__(reduce)
        dim, edge_dim = check_int(dim, "dim", minimum=1), check_int(edge_dim, "edge_dim")
        self.dim, self.edge_dim = dim, edge_dim
        self.f = mlp(2 * dim + edge_dim, check_int(hidden, "hidden", minimum=1), dim)

    def message(self, x_src, x_dst, edge_attr):
        parts = [x_src, x_dst] + ([edge_attr] if self.edge_dim else [])
        return self.f(torch.cat(parts, dim=-1))

    def update(self, x, aggregated):
        return x + aggregated

    def forward(self, x, edge_index, edge_attr=None, plan=None):
        num_nodes = check_inputs(x, edge_index, edge_attr)
        check_features(x, self.dim, self.f[0].weight, "x", "this layer")
        check_edge_attr(edge_attr, self.edge_dim, "this layer", self.f[0].weight)
        check_plan(plan, edge_index, num_nodes)
        return self.propagate(x, edge_index, edge_attr, plan)


class EdgeUpdateLayer(MPNNLayer):
    r"""An MPNN layer that also updates the edge features.

    $$x'_{ij} = x_{ij} + g_\theta(x_i, x_j, x_{ij}), \qquad
    M_{ij} = f_\theta(x_i, x_j, x'_{ij}), \qquad x'_j = x_j + \sum_{i > j} M_{ij}$$

    Args:
        dim: node feature width F; edge_dim: edge feature width F_e (>= 1);
        hidden: hidden width of :math:`f_\theta` and :math:`g_\theta`; reduce: aggregation.

    ``forward(x [num_nodes, dim], edge_index [2, E], edge_attr [E, edge_dim])`` returns the
    pair ``(x' [num_nodes, dim], edge_attr' [E, edge_dim])``.

    Book: chapter mpnn, section "Updating the edges".
    """

    def __init__(self, dim: int, edge_dim: int, hidden: int = 64, reduce: str = "sum"):
        if isinstance(edge_dim, int) and not isinstance(edge_dim, bool) and edge_dim < 1:
            raise ValueError(f"EdgeUpdateLayer needs edge features: edge_dim must be >= 1, got {edge_dim}")
        edge_dim = check_int(edge_dim, "edge_dim", minimum=1)
        super().__init__(dim, edge_dim, hidden, reduce)
        self.g = mlp(2 * dim + edge_dim, hidden, edge_dim)

    def propagate(self, x, edge_index, edge_attr=None, plan=None):
        src, dst = edge_index
        edge_attr = edge_attr + self.g(torch.cat([x[src], x[dst], edge_attr], dim=-1))
        return super().propagate(x, edge_index, edge_attr, plan), edge_attr

    def forward(self, x, edge_index, edge_attr=None, plan=None):
        num_nodes = check_inputs(x, edge_index, edge_attr)
        check_features(x, self.dim, self.f[0].weight, "x", "EdgeUpdateLayer")
        check_edge_attr(edge_attr, self.edge_dim, "EdgeUpdateLayer", self.f[0].weight)
        check_plan(plan, edge_index, num_nodes)
        return self.propagate(x, edge_index, edge_attr, plan)


class MeanGCNConv(MessagePassing):
    r"""Graph convolution as message passing: linear messages, mean aggregation.

    $$x'_j = \frac{1}{\tilde d_j} \sum_{i > j} M_{ij} + b, \qquad
    M_{ij} = \sqrt{\tilde d_j / \tilde d_i}\; W x_i \quad (\text{"sym"}), \qquad
    M_{ij} = W x_i \quad (\text{"rw"})$$

    over the edges :math:`i > j` of :math:`\tilde A = A + \operatorname{diag}(m)`,
    :math:`m_j = 1` if node ``j`` has no self-loop and 0 if it has one: the self-loop rule of
    torch_geometric and of :class:`minignn.laplacian.GCNConv` (loops already in ``edge_index``
    are kept, a unit loop is added to every node without one; :math:`\tilde A = A + I` on a
    graph without loops).  :math:`\tilde d_j` is the number of edges ``j`` receives in
    :math:`\tilde A` (at least 1), by which the mean divides, so

    $$x'_j = \sum_{i > j} \frac{W x_i}{\sqrt{\tilde d_i \tilde d_j}} + b
    = \big(\tilde D^{-1/2} \tilde A^\top \tilde D^{-1/2} X W\big)_j + b \quad (\text{"sym"})$$

    which is exactly the GCN layer (Kipf and Welling), and
    :math:`\tilde D^{-1} \tilde A^\top X W + b` for ``"rw"`` (the random-walk
    renormalisation: a plain average over the closed neighbourhood).  A plain mean
    of :math:`W x_i` is therefore *not* GCN; the weights :math:`\sqrt{\tilde d_j/\tilde d_i}`
    turn the random-walk average into the symmetric one.

    Args:
        in_dim, out_dim: widths of ``W`` (``self.linear``, no bias).
        bias: add a learned ``b`` after aggregation (as GCN does).
        normalization: ``"sym"`` (GCN) or ``"rw"``.

    ``forward(x [N, in_dim], edge_index [2, E]) -> [N, out_dim]``, no edge weights;
    undirected graphs with both directions.  A ``plan`` must be built on
    ``MeanGCNConv.self_looped(edge_index, N)`` (the edges of :math:`\tilde A`).

    Book: chapter mpnn, section "Graph convolution is message passing".
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, normalization: str = "sym"):
        super().__init__(reduce="mean")
        if normalization not in ("sym", "rw"):
            raise ValueError(f"normalization must be 'sym' or 'rw', got {normalization!r}")
        self.normalization = normalization
        in_dim, out_dim = check_int(in_dim, "in_dim", minimum=1), check_int(out_dim, "out_dim", minimum=1)
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim)) if check_bool(bias, "bias") else None

    @staticmethod
    def self_looped(edge_index: Tensor, num_nodes: int) -> Tensor:
        r"""The edges of :math:`\tilde A`: ``edge_index`` as given, then a loop ``(j, j)`` for each node without one
        (:func:`minignn.graph.add_remaining_self_loops`).  ``[2, E]`` -> ``[2, E + N_0]``."""
        return add_remaining_self_loops(edge_index, num_nodes)[0]

    def message(self, x_src, x_dst, edge_attr):
        return x_src if edge_attr is None else edge_attr * x_src  # edge_attr = sqrt(d_j / d_i), [E, 1]

    def update(self, x, aggregated):
        return aggregated if self.bias is None else aggregated + self.bias

    def forward(self, x, edge_index, edge_attr=None, plan=None):
        if edge_attr is not None:
            raise ValueError("MeanGCNConv takes no edge_attr (its edge weights are computed from degrees)")
        num_nodes = check_inputs(x, edge_index)
        check_features(x, self.linear.in_features, self.linear.weight, "x", "MeanGCNConv")
        loops = self.self_looped(edge_index, num_nodes)
        h = self.linear(x)  # W x_i once per node, [N, out_dim]
        weight = None
        if self.normalization == "sym":
            deg = degree(loops[1], num_nodes, dtype=h.dtype)  # d~_j: edges received in A~, >= 1
            src, dst = loops
            weight = (deg[dst] / deg[src]).sqrt().unsqueeze(1)  # [E + N_0, 1]
        return super().forward(h, loops, weight, plan=plan)


class MPNN(nn.Module):
    r"""A network of MPNN layers: embed, iterate :math:`UM`, read out per node or per graph.

    $$h^{0} = \mathrm{embed}(x), \quad h^{l+1} = (U M)(h^{l}), \quad
    y_j = \mathrm{head}(h^L_j) \ \text{or}\ y_g = \mathrm{head}\Big(\textstyle\sum_{j \in g} h^L_j\Big)$$

    With ``edge_update=True`` the layers are :class:`EdgeUpdateLayer` and edge
    features are carried along (``edge_dim`` >= 1; pass constant ones if the graph
    has none).  All layers share one :class:`~minignn.plan.AggregationPlan` when given.

    Args:
        in_dim, edge_dim, out_dim: widths of x, edge_attr (0 if none) and the output.
        width: node width; layers: number of message-passing layers; hidden: MLP width.
        edge_update: use :class:`EdgeUpdateLayer` (edge states of width ``width``).
        readout: ``"nodes"`` (per node), ``"edges"`` (per edge, from ``[h_i, h_j, x_ij]``),
            ``"sum"`` or ``"mean"`` (per graph, pooled with ``batch``).

    ``forward(x [N, in_dim], edge_index [2, E], edge_attr [E, edge_dim] | None,
    batch [N] | None, num_graphs | None)`` -> ``[N, out_dim]``, ``[E, out_dim]`` or ``[num_graphs, out_dim]``.

    Book: chapter mpnn, section "Readout and permutation symmetry".
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 32, layers: int = 3, edge_dim: int = 0,
                 hidden: int = 64, edge_update: bool = False, readout: str = "nodes"):
        super().__init__()
        if readout not in ("nodes", "edges", "sum", "mean"):
            raise ValueError(f"readout must be 'nodes', 'edges', 'sum' or 'mean', got {readout!r}")
        in_dim, out_dim = check_int(in_dim, "in_dim", minimum=1), check_int(out_dim, "out_dim", minimum=1)
        width, hidden = check_int(width, "width", minimum=1), check_int(hidden, "hidden", minimum=1)
        layers, edge_dim = check_int(layers, "layers"), check_int(edge_dim, "edge_dim")
        edge_update = check_bool(edge_update, "edge_update")
        self.readout, self.edge_update, self.edge_dim = readout, edge_update, edge_dim
        self.embed = nn.Linear(in_dim, width)
        if edge_update:
            if edge_dim < 1:
                raise ValueError("edge_update=True needs edge features: set edge_dim >= 1")
            self.embed_edge = nn.Linear(edge_dim, width)
            self.layers = nn.ModuleList(EdgeUpdateLayer(width, width, hidden) for _ in range(layers))
        else:
            self.layers = nn.ModuleList(MPNNLayer(width, edge_dim, hidden) for _ in range(layers))
        head_in = (2 * width + (width if edge_update else edge_dim)) if readout == "edges" else width
        self.head = mlp(head_in, hidden, out_dim)

    def forward(self, x, edge_index, edge_attr=None, batch=None, num_graphs=None, plan=None):
        num_nodes = check_inputs(x, edge_index, edge_attr)
        check_features(x, self.embed.in_features, self.embed.weight, "x", "this MPNN")
        check_edge_attr(edge_attr, self.edge_dim, "this MPNN", self.embed.weight)
        check_plan(plan, edge_index, num_nodes)
        h = self.embed(x)
        e = self.embed_edge(edge_attr) if self.edge_update else edge_attr
        for layer in self.layers:  # inputs validated above: the layers run unchecked
            if self.edge_update:
                h, e = layer.propagate(h, edge_index, e, plan=plan)
            else:
                h = layer.propagate(h, edge_index, e, plan=plan)
        if self.readout == "nodes":
            return self.head(h)
        if self.readout == "edges":
            src, dst = edge_index
            parts = [h[src], h[dst]] + ([e] if e is not None else [])
            return self.head(torch.cat(parts, dim=-1))
        return self.head(global_pool(h, batch, num_graphs, reduce=self.readout))
