r"""Message passing on hypergraphs through the nerve of the containment order.

Faces of a hypergraph are ordered by inclusion of their vertex sets: :math:`a > b`
when the face :math:`a` strictly contains the face :math:`b` (a triangle contains its
edges and vertices, an edge its two vertices).  The *nerve* collects the chains

$$N_k G = \{a_0 > a_1 > \dots > a_k\}, \qquad N_1 G = \{a > b\}.$$

Messages live on :math:`N_1 G` and the update is a divergence on the nerve:

$$M_{a > b} = f_\theta(x_a, x_b), \qquad
U(M)_b = \sum_{a > b} M_{a > b} - \sum_{b > c} M_{b > c}.$$

In code, faces of all levels get one global id (vertices first, then edges, then
triangles, ...), and :math:`N_1 G` is a directed graph on the faces with
``edge_index = [a; b]``: row 0 (src) the larger face, row 1 (dst) the smaller one,
so messages flow *down* the order and each face also pays back what it sends.

Book: chapter mpnn, section "Message passing on hypergraphs".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from minignn.checks import check_int
from minignn.graph import check_edge_index
from minignn.hypergraph import HyperGraph, triangle_faces
from minignn.mpnn import MessagePassing, check_features, check_inputs, mlp
from minignn.pooling import global_pool
from minignn.scatter import scatter_unchecked

__all__ = ["Nerve", "clique_complex", "nerve", "nerve_update", "NerveLayer", "NerveNetwork"]


@dataclass(frozen=True)
class Nerve:
    r"""The nerve of a hypergraph: its faces with global ids and the chains :math:`N_1 G`.

    Attributes:
        faces: ``faces[k]`` ``[n_k, k + 1]`` int64, the k-faces as sorted vertex tuples.
        offsets: ``(0, n_0, n_0 + n_1, ...)``; level-k faces have ids ``offsets[k] .. offsets[k+1] - 1``.
        edge_index: ``[2, C]`` the pairs :math:`a > b` of :math:`N_1 G` (row 0 = a, row 1 = b),
            sorted by ``(a, b)``.

    Book: chapter mpnn, section "Message passing on hypergraphs".
    """

    faces: tuple[Tensor, ...]
    offsets: tuple[int, ...]
    edge_index: Tensor

    @property
    def num_faces(self) -> int:
        """Total number of faces, all levels."""
        return self.offsets[-1]

    @property
    def level(self) -> Tensor:
        """``[num_faces]`` int64, the level k of each face (0 vertex, 1 edge, 2 triangle, ...)."""
        sizes = torch.tensor([f.shape[0] for f in self.faces])
        return torch.repeat_interleave(torch.arange(len(self.faces)), sizes)

    def chains(self, k: int = 1) -> Tensor:
        r""":math:`N_k G`: ``[C_k, k + 1]`` global ids with :math:`a_0 > a_1 > \dots > a_k`.

        ``chains(0)`` lists the faces, ``chains(1)`` is ``edge_index.T``; longer chains
        extend shorter ones by a pair :math:`a_{k-1} > a_k` of :math:`N_1 G`.
        """
        if isinstance(k, int) and k < 0:
            raise ValueError(f"chain length k must be >= 0, got {k}")
        k = check_int(k, "k")
        out = torch.arange(self.num_faces).unsqueeze(1)
        a, b = self.edge_index
        outdeg = torch.bincount(a, minlength=self.num_faces)
        ptr = torch.cumsum(outdeg, 0) - outdeg  # pairs are sorted by a
        for _ in range(k):
            last = out[:, -1]
            owner = torch.repeat_interleave(torch.arange(out.shape[0]), outdeg[last])
            rank = torch.arange(owner.numel()) - (torch.cumsum(outdeg[last], 0) - outdeg[last])[owner]
            out = torch.cat([out[owner], b[ptr[last[owner]] + rank].unsqueeze(1)], dim=1)
        return out

    def face_batch(self, batch: Tensor) -> Tensor:
        """``[num_faces]`` graph id of each face, from the vertices' ``batch [n_0]``."""
        if not isinstance(batch, Tensor) or batch.dtype != torch.int64 or batch.shape != (self.faces[0].shape[0],):
            raise ValueError(f"batch must be an int64 tensor of shape [n_0={self.faces[0].shape[0]}], got "
                             f"{getattr(batch, 'dtype', type(batch).__name__)} {list(getattr(batch, 'shape', []))}")
        vertex_of = torch.full((int(self.faces[0].max()) + 1 if self.faces[0].numel() else 0,), -1, dtype=torch.long)
        vertex_of[self.faces[0][:, 0]] = torch.arange(self.faces[0].shape[0])
        return torch.cat([batch[vertex_of[f[:, 0]]] for f in self.faces])

    def __repr__(self) -> str:
        levels = ", ".join(f"G{k}={f.shape[0]}" for k, f in enumerate(self.faces))
        return f"Nerve({levels}, N1={self.edge_index.shape[1]})"


def clique_complex(edge_index: Tensor, num_nodes: int, max_level: int = 2) -> HyperGraph:
    r"""The clique complex of a graph up to triangles: vertices, undirected edges, 3-cliques.

    $$G_0 = \{i\}, \quad G_1 = \{\{i, j\} : i \sim j\}, \quad G_2 = \{\{i, j, k\} : i \sim j \sim k \sim i\}$$

    ``max_level`` is the highest face dimension kept: 1 gives the graph itself (a
    2-graph in the book's count of levels :math:`G_0, G_1`), 2 adds the triangles from
    :func:`minignn.hypergraph.triangle_faces` (a 3-graph).  Faces are sorted vertex
    tuples, each vertex set once.

    Args:
        edge_index: ``[2, E]`` (either or both directions; self-loops ignored); num_nodes: N.
        max_level: 1 or 2.

    Returns:
        a :class:`~minignn.hypergraph.HyperGraph` with ``faces[1]`` ``[E_u, 2]`` and, for
        ``max_level = 2``, ``faces[2]`` ``[T, 3]`` (both in lexicographic order).

    Book: chapter mpnn, section "Message passing on hypergraphs".
    """
    if max_level not in (1, 2):
        raise ValueError(f"max_level must be 1 (a graph) or 2 (with triangles), got {max_level}")
    tri = triangle_faces(edge_index, num_nodes)  # validates edge_index and num_nodes
    lo, hi = edge_index.min(0).values, edge_index.max(0).values
    edges = torch.unique(torch.stack([lo, hi], 1)[lo != hi], dim=0).reshape(-1, 2)
    faces = {1: edges} if max_level == 1 else {1: edges, 2: tri}
    return HyperGraph(int(num_nodes), faces)


def _as_levels(faces) -> list[Tensor]:
    if isinstance(faces, HyperGraph):
        faces = faces.faces
    if isinstance(faces, Mapping):
        if sorted(faces) != list(range(len(faces))):
            raise ValueError(f"face levels must be 0, 1, ..., d, got {sorted(faces)}")
        faces = [faces[k] for k in range(len(faces))]
    faces = list(faces)
    if not faces:
        raise ValueError("nerve needs at least the vertices faces[0] of shape [N, 1]")
    for k, f in enumerate(faces):
        if not isinstance(f, Tensor) or f.dtype not in (torch.int64, torch.int32) or f.dim() != 2 or f.shape[1] != k + 1:
            got = f"{f.dtype} {list(f.shape)}" if isinstance(f, Tensor) else type(f).__name__
            raise ValueError(f"faces[{k}] must be an integer tensor of shape [n_{k}, {k + 1}], got {got}")
    return [f.long() for f in faces]


def _lookup(table: Tensor, queries: Tensor) -> Tensor:
    """Row index of each query row in ``table`` (rows unique), or -1 if absent."""
    both = torch.cat([table, queries])
    _, inv = torch.unique(both, dim=0, return_inverse=True)
    slot = torch.full((both.shape[0],), -1, dtype=torch.long)
    slot[inv[: table.shape[0]]] = torch.arange(table.shape[0])
    return slot[inv[table.shape[0]:]]


def nerve(faces: HyperGraph | Sequence[Tensor] | Mapping[int, Tensor]) -> Nerve:
    r"""The nerve of the inclusion order of faces: global ids and :math:`N_1 G = \{a > b\}`.

    $$a > b \iff \mathrm{vertices}(b) \subsetneq \mathrm{vertices}(a)$$

    for faces present in the hypergraph (a face's sub-faces that are not listed are
    simply not in the order).  Vectorised: each sub-tuple of a k-face (columns
    ``itertools.combinations``) is looked up among the faces of lower levels.

    Args:
        faces: a :class:`~minignn.hypergraph.HyperGraph`, or per level k a LongTensor
            ``[n_k, k + 1]`` (list or dict), ``faces[0]`` being the vertices ``[N, 1]``.
            Vertex order inside a face does not matter (faces are sets).

    Returns:
        :class:`Nerve` with faces sorted inside each row, and ``edge_index [2, C]``.

    Raises:
        ValueError: wrong shapes, a face with a repeated vertex, a face listed twice,
        a face whose vertices are not among ``faces[0]``.

    Book: chapter mpnn, section "Message passing on hypergraphs".
    """
    levels = [f.sort(dim=1).values for f in _as_levels(faces)]
    for k, f in enumerate(levels):
        if k and f.numel() and bool((f[:, 1:] == f[:, :-1]).any()):
            row = int((f[:, 1:] == f[:, :-1]).any(1).nonzero()[0])
            raise ValueError(f"faces[{k}] has a face with a repeated vertex: row {row} = {f[row].tolist()}")
        if torch.unique(f, dim=0).shape[0] != f.shape[0]:
            raise ValueError(
                f"faces[{k}] lists the same vertex set twice; a nerve needs each face once "
                "(e.g. keep one direction of each edge, see clique_complex)"
            )
    sizes = [f.shape[0] for f in levels]
    offsets = tuple(itertools.accumulate([0] + sizes))
    pairs = []
    for k in range(1, len(levels)):
        for m in range(k):
            for cols in itertools.combinations(range(k + 1), m + 1):
                sub = _lookup(levels[m], levels[k][:, list(cols)])
                if m == 0 and bool((sub < 0).any()):
                    row = int((sub < 0).nonzero()[0])
                    raise ValueError(
                        f"faces[{k}] refers to missing vertices: face {levels[k][row].tolist()} has vertex "
                        f"{int(levels[k][row, cols[0]])}, which is not in faces[0] ({sizes[0]} vertices)"
                    )
                found = sub >= 0
                a = torch.arange(sizes[k])[found] + offsets[k]
                pairs.append(torch.stack([a, sub[found] + offsets[m]]))
    ei = torch.cat(pairs, dim=1) if pairs else torch.empty(2, 0, dtype=torch.long)
    ei = ei[:, torch.argsort(ei[0] * max(offsets[-1], 1) + ei[1])]
    return Nerve(tuple(levels), offsets, ei)


def nerve_update(messages: Tensor, edge_index: Tensor, num_faces: int) -> Tensor:
    r"""The divergence on the nerve: :math:`U(M)_b = \sum_{a > b} M_{a > b} - \sum_{b > c} M_{b > c}`.

    Each message is added to the smaller face and subtracted from the larger one, so
    :math:`\sum_b U(M)_b = 0`.  Two scatters: one at ``b = edge_index[1]``, one at ``a = edge_index[0]``.

    Args:
        messages: ``[C, F]`` one per pair of :math:`N_1 G`.
        edge_index: ``[2, C]`` pairs ``(a, b)`` with :math:`a > b` (``Nerve.edge_index``).
        num_faces: number of faces.

    Returns:
        ``[num_faces, F]``.

    Book: chapter mpnn, section "Message passing on hypergraphs".
    """
    num_faces = check_int(num_faces, "num_faces")
    check_edge_index(edge_index, num_faces)
    if not isinstance(messages, Tensor) or messages.dim() == 0 or messages.shape[0] != edge_index.shape[1]:
        got = list(messages.shape) if isinstance(messages, Tensor) else type(messages).__name__
        raise ValueError(f"messages must have shape [C={edge_index.shape[1]}, F], got {got}")
    return _divergence(messages, edge_index, num_faces)


def _divergence(messages: Tensor, edge_index: Tensor, num_faces: int) -> Tensor:
    """:func:`nerve_update` on validated inputs."""
    a, b = edge_index
    return scatter_unchecked(messages, b, 0, num_faces, "sum") - scatter_unchecked(messages, a, 0, num_faces, "sum")


class NerveLayer(MessagePassing):
    r"""Message passing on the nerve, with a residual update.

    $$M_{a > b} = f_\theta(x_a, x_b), \qquad x'_b = x_b + \sum_{a > b} M_{a > b} - \sum_{b > c} M_{b > c}$$

    A :class:`~minignn.mpnn.MessagePassing` on the directed graph :math:`N_1 G` whose
    aggregation is :func:`nerve_update` instead of a plain scatter at ``dst``.

    Args:
        width: feature width of every face (levels are embedded to this width first);
        hidden: hidden width of :math:`f_\theta`.

    ``forward(x [num_faces, width], edge_index [2, C])`` -> ``[num_faces, width]``.

    Book: chapter mpnn, section "Message passing on hypergraphs".
    """

    def __init__(self, width: int, hidden: int = 64):
        super().__init__(reduce="sum")
        self.width = check_int(width, "width", minimum=1)
        self.f = mlp(2 * self.width, check_int(hidden, "hidden", minimum=1), self.width)

    def message(self, x_src, x_dst, edge_attr):
        return self.f(torch.cat([x_src, x_dst], dim=-1))

    def update(self, x, aggregated):
        return x + aggregated

    def propagate(self, x, edge_index, edge_attr=None, plan=None):
        """message (the base's gather and ``message``), then the two-sided :func:`nerve_update` in place of a
        scatter at ``dst`` (it needs both ends of each pair), then ``update``."""
        return self.update(x, _divergence(self.edge_messages(x, edge_index, None), edge_index, x.shape[0]))

    def forward(self, x, edge_index, edge_attr=None, plan=None):
        """``x [num_faces, width]``, ``edge_index [2, C]`` (``Nerve.edge_index``).  The nerve layer has no edge
        features and aggregates with two scatters: ``edge_attr`` and ``plan`` are rejected, not ignored."""
        if edge_attr is not None:
            raise ValueError("NerveLayer takes no edge_attr (its messages read the two faces only); got one")
        if plan is not None:
            raise ValueError("NerveLayer aggregates with two scatters (nerve_update) and takes no plan; got one")
        check_inputs(x, edge_index)
        check_features(x, self.width, self.f[0].weight, "x", "this NerveLayer")
        return self.propagate(x, edge_index)


class _Constant(nn.Module):
    """Embedding of a featureless level: a learned vector c_k, ``[n_k, 0]`` -> ``[n_k, width]``."""

    def __init__(self, width: int):
        super().__init__()
        self.c = nn.Parameter(torch.randn(width))

    def forward(self, x: Tensor) -> Tensor:
        return self.c.expand(x.shape[0], -1)


class NerveNetwork(nn.Module):
    r"""Embed each level to a common width, iterate :class:`NerveLayer`, read out.

    $$h^0_a = W_{k(a)} x_a + c_{k(a)}, \quad h^{l+1} = h^l + U(M^l), \quad
    y_v = \mathrm{head}(h^L_v) \ \text{or}\ y_g = \mathrm{head}\Big(\textstyle\sum_{a \in g} h^L_a\Big)$$

    Levels carry features of different widths :math:`F_k` (vertex types, edge lengths,
    triangle areas...), so each level k has its own linear embedding into ``width``
    (a level without features, :math:`F_k = 0`, gets a learned constant vector :math:`c_k`,
    which also tells the levels apart).

    Args:
        in_dims: ``(F_0, F_1, ..., F_d)`` the feature width of each level (0 allowed).
        out_dim: output width; width: face width; layers: number of layers; hidden: MLP width.
        readout: ``"nodes"`` (per vertex, the 0-faces), ``"sum"`` or ``"mean"`` (per graph, over all faces).

    ``forward(features, nerve, batch=None, num_graphs=None)`` with ``features[k]`` ``[n_k, F_k]``
    returns ``[n_0, out_dim]`` or ``[num_graphs, out_dim]``.

    Book: chapter mpnn, section "Learning with triangles".
    """

    def __init__(self, in_dims: Sequence[int], out_dim: int, width: int = 32, layers: int = 2,
                 hidden: int = 64, readout: str = "nodes"):
        super().__init__()
        if readout not in ("nodes", "sum", "mean"):
            raise ValueError(f"readout must be 'nodes', 'sum' or 'mean', got {readout!r}")
        if isinstance(in_dims, (str, Tensor)) or not hasattr(in_dims, "__len__") or len(in_dims) == 0:
            raise ValueError(f"in_dims must be a non-empty sequence of feature widths (F_0, ..., F_d), got {in_dims!r}")
        in_dims = tuple(check_int(f, f"in_dims[{k}]") for k, f in enumerate(in_dims))
        out_dim, width, layers = check_int(out_dim, "out_dim", minimum=1), check_int(width, "width", minimum=1), check_int(layers, "layers")
        self.readout, self.in_dims = readout, in_dims
        self.embed = nn.ModuleList(nn.Linear(f, width) if f else _Constant(width) for f in self.in_dims)
        self.layers = nn.ModuleList(NerveLayer(width, hidden) for _ in range(layers))
        self.head = mlp(width, hidden, out_dim)

    def forward(self, features: Sequence[Tensor], nerve: Nerve, batch: Tensor | None = None,
                num_graphs: int | None = None) -> Tensor:
        if not isinstance(nerve, Nerve):
            raise ValueError(f"nerve must be a minignn.nerve.Nerve (from minignn.nerve.nerve), got {type(nerve).__name__}")
        if len(features) != len(self.in_dims) or len(nerve.faces) != len(self.in_dims):
            raise ValueError(f"expected {len(self.in_dims)} levels of features and faces, got "
                             f"{len(features)} feature tensors and a nerve with {len(nerve.faces)} levels")
        for k, (x, f) in enumerate(zip(features, nerve.faces)):
            if not isinstance(x, Tensor) or x.dim() != 2 or x.shape != (f.shape[0], self.in_dims[k]):
                raise ValueError(f"features[{k}] must have shape [n_{k}={f.shape[0]}, {self.in_dims[k]}], "
                                 f"got {list(getattr(x, 'shape', [])) if isinstance(x, Tensor) else type(x).__name__}")
            if self.in_dims[k]:  # a featureless level (width 0) gets a learned constant: no weights to match
                check_features(x, self.in_dims[k], self.embed[k].weight, f"features[{k}]", "this NerveNetwork")
        h = torch.cat([emb(x) for emb, x in zip(self.embed, features)])
        check_edge_index(nerve.edge_index, h.shape[0])
        for layer in self.layers:  # inputs validated above
            h = layer.propagate(h, nerve.edge_index)
        if self.readout == "nodes":
            return self.head(h[: nerve.offsets[1]])
        fb = None if batch is None else nerve.face_batch(batch)
        return self.head(global_pool(h, fb, num_graphs, reduce=self.readout))
