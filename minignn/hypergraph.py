r"""Hypergraphs (d-graphs): :math:`G = (G_0, G_1, \dots, G_{d-1})` with features on every level.

A *k-face* is a (k+1)-tuple of vertices: :math:`G_0` holds the vertices, :math:`G_1`
the edges ``(a, b)``, :math:`G_2` triples ``(a, b, c)``, :math:`G_3` quadruples
``(a, b, c, d)``.  In code, level ``k`` is a LongTensor ``[num_faces_k, k + 1]``.

Faces built from the edges of a graph:

* :func:`angle_faces`: directed paths ``a -> b -> c`` (2-faces, they carry the angle at ``b``);
* :func:`torsion_faces`: directed paths ``a -> b -> c -> d`` (3-faces, they carry a torsion);
* :func:`triangle_faces`: 3-cliques ``{a, b, c}`` (2-faces, they carry an area).

Orientation: a path face follows the direction of its edges (row 0 = src, row 1 =
dst, as everywhere in minignn), so a message carried along a face flows towards its
*last* vertex, as a message on an edge flows towards ``dst``.  Paths are *simple*:
no vertex repeats (no U-turn ``a -> b -> a``, no self-loop).  An undirected graph,
stored with both directions, therefore lists every path twice, once per direction;
``faces[faces[:, 0] < faces[:, -1]]`` keeps one of each pair.

The geometry of faces (lengths, angles, areas, torsions, volumes) lives in
:mod:`minignn.invariants` and is re-exported here.

Book: chapter hypergraphs.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from minignn.checks import check_int
from minignn.graph import check_edge_index
from minignn.invariants import (  # re-exported: the geometry of faces
    angles,
    edge_lengths,
    edge_vectors,
    tetrahedron_volumes,
    torsions,
    triangle_areas,
    zmatrix_to_positions,
)

__all__ = [
    "HyperGraph",
    "path_faces",
    "angle_faces",
    "torsion_faces",
    "triangle_faces",
    "edge_lengths",
    "edge_vectors",
    "angles",
    "triangle_areas",
    "torsions",
    "tetrahedron_volumes",
    "zmatrix_to_positions",
]


def _check_num_nodes(num_nodes) -> int:
    try:
        return check_int(num_nodes, "num_nodes")
    except ValueError:
        raise ValueError(f"num_nodes must be a non-negative int, got {num_nodes!r}") from None


def _check_edge_index(edge_index, num_nodes) -> tuple[Tensor, Tensor, int]:
    num_nodes = _check_num_nodes(num_nodes)
    src, dst = check_edge_index(edge_index, num_nodes)
    return src, dst, num_nodes


def path_faces(edge_index: Tensor, num_nodes: int, length: int, return_edges: bool = False):
    r"""Simple directed paths of ``length`` edges: :math:`a_0 \to a_1 \to \dots \to a_{\ell}`.

    $$G_\ell = \{(a_0, \dots, a_\ell) : (a_{m}, a_{m+1}) \in G_1,\ a_m \text{ pairwise distinct}\}$$

    Vectorised, with no Python loop over edges: the out-edges are sorted by ``src``
    once (CSR offsets ``ptr``); a path ending at ``v`` is repeated ``outdeg(v)`` times
    (``repeat_interleave``), the ``r``-th copy takes the out-edge ``ptr[v] + r``, and
    the copies that revisit a vertex are dropped.  Paths come ordered by their first
    edge, then by their next edges (in ``edge_index`` order).  Duplicate edges give
    duplicate paths (one per sequence of edges).

    Args:
        edge_index: ``[2, E]`` (row 0 = src, row 1 = dst).
        num_nodes: number of vertices N.
        length: number of edges in a path, >= 1 (2: angles, 3: torsions).
        return_edges: also return the edge ids along each path.

    Returns:
        faces ``[P, length + 1]`` int64, and if ``return_edges`` the edge ids
        ``[P, length]`` with ``edge_index[:, ids[p, m]] == (faces[p, m], faces[p, m + 1])``.

    Book: chapter hypergraphs, section "Building faces from edges".
    """
    src, dst, num_nodes = _check_edge_index(edge_index, num_nodes)
    if isinstance(length, int) and length < 1:
        raise ValueError(f"length must be >= 1 (number of edges in a path), got {length}")
    length = check_int(length, "length", minimum=1)
    order = torch.argsort(src, stable=True)  # out-edges grouped by src
    outdeg = torch.bincount(src, minlength=num_nodes)
    ptr = torch.cumsum(outdeg, 0) - outdeg  # first sorted position of each src
    ids = torch.arange(src.numel()).masked_select(src != dst).unsqueeze(1)  # [P, 1] edge ids
    faces = torch.stack([src[ids[:, 0]], dst[ids[:, 0]]], dim=1)  # [P, 2]
    for _ in range(int(length) - 1):
        last = faces[:, -1]
        counts = outdeg[last]  # [P]
        owner = torch.repeat_interleave(torch.arange(faces.shape[0]), counts)  # [P']
        rank = torch.arange(owner.numel()) - (torch.cumsum(counts, 0) - counts)[owner]
        edge = order[ptr[last[owner]] + rank]  # [P'] the out-edge taken
        new = dst[edge]
        keep = (faces[owner] != new.unsqueeze(1)).all(dim=1)  # simple paths only
        faces = torch.cat([faces[owner], new.unsqueeze(1)], dim=1)[keep]
        ids = torch.cat([ids[owner], edge.unsqueeze(1)], dim=1)[keep]
    return (faces, ids) if return_edges else faces


def angle_faces(edge_index: Tensor, num_nodes: int, return_edges: bool = False):
    r"""2-faces carrying angles: paths :math:`a \to b \to c` with :math:`a \neq c`.

    $$G_2 = \{(a, b, c) : (a, b) \in G_1,\ (b, c) \in G_1,\ a \neq c\}$$

    The angle of ``(a, b, c)`` sits at the middle vertex ``b``; messages flow towards ``c``.

    Args:
        edge_index: ``[2, E]``; num_nodes: N; return_edges: also return ``[T, 2]`` edge ids
            (the edge ``a -> b``, then the edge ``b -> c``).

    Returns:
        ``[T, 3]`` int64 (and ``[T, 2]`` edge ids).  See :func:`path_faces`.

    Book: chapter hypergraphs, section "Building faces from edges".
    """
    return path_faces(edge_index, num_nodes, 2, return_edges)


def torsion_faces(edge_index: Tensor, num_nodes: int, return_edges: bool = False):
    r"""3-faces carrying torsions: simple paths :math:`a \to b \to c \to d`.

    $$G_3 = \{(a, b, c, d) : (a, b), (b, c), (c, d) \in G_1,\ a, b, c, d \text{ distinct}\}$$

    The torsion of ``(a, b, c, d)`` is the dihedral angle about the central edge ``b -> c``.

    Args:
        edge_index: ``[2, E]``; num_nodes: N; return_edges: also return ``[Q, 3]`` edge ids.

    Returns:
        ``[Q, 4]`` int64 (and ``[Q, 3]`` edge ids).  See :func:`path_faces`.

    Book: chapter hypergraphs, section "Building faces from edges".
    """
    return path_faces(edge_index, num_nodes, 3, return_edges)


def triangle_faces(edge_index: Tensor, num_nodes: int) -> Tensor:
    r"""2-faces as 3-cliques: :math:`\{a, b, c\}` with all three edges present, each once.

    $$K_2 = \{(a, b, c) : a < b < c,\ \{a, b\}, \{b, c\}, \{a, c\} \in G_1\}$$

    Edge directions are ignored (an edge in either direction counts), self-loops and
    duplicates too.  Vectorised: orient every edge from its smaller to its larger end,
    take the paths ``a -> b -> c`` of that acyclic orientation and keep those whose
    closing pair ``(a, c)`` is an edge (found by ``searchsorted`` on sorted keys).

    Args:
        edge_index: ``[2, E]``; num_nodes: N.

    Returns:
        ``[T, 3]`` int64, rows sorted ``a < b < c``, in lexicographic order.

    Book: chapter hypergraphs, section "Building faces from edges".
    """
    src, dst, num_nodes = _check_edge_index(edge_index, num_nodes)
    lo, hi = torch.minimum(src, dst), torch.maximum(src, dst)
    keys = torch.unique((lo * num_nodes + hi)[lo != hi])  # sorted, each undirected edge once
    upper = torch.stack([keys // max(num_nodes, 1), keys % max(num_nodes, 1)])  # a < b
    paths = path_faces(upper, num_nodes, 2)  # a < b < c
    closing = paths[:, 0] * num_nodes + paths[:, 2]
    pos = torch.searchsorted(keys, closing).clamp(max=max(keys.numel() - 1, 0))
    found = keys[pos] == closing if keys.numel() else torch.zeros_like(closing, dtype=torch.bool)
    tri = paths[found]
    for column in (2, 1, 0):  # lexicographic order by three stable sorts: a key a N^2 + b N + c overflows int64
        tri = tri[torch.argsort(tri[:, column], stable=True)]  # from N = 2^21 nodes on
    return tri


class HyperGraph:
    r"""A d-graph :math:`G = (G_0, \dots, G_{d-1})` with features :math:`x \in F(G)` on its levels.

    ``faces[k]`` is :math:`G_k`, a LongTensor ``[n_k, k + 1]`` of vertex tuples;
    ``faces[0]`` is always ``arange(num_nodes)[:, None]``.  ``features[k]`` is
    ``[n_k, F_k]`` (or ``[n_k]``) or absent.  Levels are dicts keyed by ``k`` so that
    ``hg.faces[2]`` really is :math:`G_2`.

    Args:
        num_nodes: N, the vertices are ``0, ..., N - 1``.
        faces: ``{k: [n_k, k + 1]}`` for ``k = 1, ..., d - 1`` (contiguous levels).
        features: ``{k: [n_k, ...]}`` for any level ``k`` present (0 for vertices).

    Raises ``ValueError`` when a face refers to a missing vertex, a level has the
    wrong width, levels skip one, or a feature's length differs from its level's.

    Book: chapter hypergraphs, section "d-graphs in code".
    """

    def __init__(self, num_nodes: int, faces: Mapping[int, Tensor] | None = None,
                 features: Mapping[int, Tensor | None] | None = None):
        num_nodes = _check_num_nodes(num_nodes)
        self.num_nodes = num_nodes
        self.faces: dict[int, Tensor] = {0: torch.arange(num_nodes).unsqueeze(1)}
        faces = dict(faces or {})
        if 0 in faces:
            raise ValueError("faces[0] (the vertices) is implicit: give num_nodes and faces for k >= 1")
        try:
            faces = {check_int(k, "a face level"): f for k, f in faces.items()}
        except ValueError:
            raise ValueError(f"face levels must be ints 1, ..., d - 1, got {list(faces)}") from None
        levels = sorted(faces)
        if levels != list(range(1, len(levels) + 1)):
            raise ValueError(f"face levels must be contiguous 1, ..., d - 1, got {levels}")
        for k in levels:
            f = faces[k]
            if not isinstance(f, Tensor) or f.dtype not in (torch.int64, torch.int32) or f.dim() != 2 or f.shape[1] != k + 1:
                got = f"{f.dtype} {list(f.shape)}" if isinstance(f, Tensor) else type(f).__name__
                raise ValueError(f"faces[{k}] must be an integer tensor of shape [n_{k}, {k + 1}], got {got}")
            if f.numel() and (int(f.min()) < 0 or int(f.max()) >= num_nodes):
                bad = int(((f < 0) | (f >= num_nodes)).any(dim=1).sum())
                raise ValueError(
                    f"faces[{k}] refers to missing vertices: {bad} face(s) hold indices outside "
                    f"[0, {num_nodes - 1}] (num_nodes={num_nodes})"
                )
            self.faces[k] = f.long()
        self.features: dict[int, Tensor] = {}
        for k, x in dict(features or {}).items():
            if x is None:
                continue
            if k not in self.faces:
                raise ValueError(f"features[{k}] given but level {k} has no faces (levels: {sorted(self.faces)})")
            if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[0] != self.faces[k].shape[0]:
                got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"features[{k}] must have shape [n_{k}={self.faces[k].shape[0]}, ...], got {got}")
            self.features[k] = x

    @classmethod
    def from_edge_index(cls, edge_index: Tensor, num_nodes: int, dim: int = 4,
                        features: Mapping[int, Tensor | None] | None = None) -> "HyperGraph":
        r"""The d-graph of paths: :math:`G_1` = edges, :math:`G_2` = :func:`angle_faces`, :math:`G_3` = :func:`torsion_faces`.

        Args:
            edge_index: ``[2, E]``; num_nodes: N; dim: d in 1..4 (number of levels);
            features: as in the constructor (``features[1]`` follows ``edge_index``'s order).

        Book: chapter hypergraphs, section "d-graphs in code".
        """
        if isinstance(dim, bool) or dim not in (1, 2, 3, 4) or isinstance(dim, float):
            raise ValueError(f"dim must be 1, 2, 3 or 4 (levels G_0 .. G_(d-1)), got {dim}")
        dim = int(dim)
        src, dst, _ = _check_edge_index(edge_index, num_nodes)
        faces = {k: path_faces(edge_index, num_nodes, k) for k in range(2, dim)}
        if dim >= 2:
            faces[1] = torch.stack([src, dst], dim=1)
        return cls(int(num_nodes), faces, features)

    @property
    def dim(self) -> int:
        """d, the number of levels :math:`G_0, \\dots, G_{d-1}`."""
        return len(self.faces)

    @property
    def edge_index(self) -> Tensor:
        """:math:`G_1` as ``[2, E]`` (row 0 = src, row 1 = dst); empty if d = 1."""
        return self.faces[1].t() if 1 in self.faces else torch.empty(2, 0, dtype=torch.long)

    def num_faces(self, k: int) -> int:
        """:math:`|G_k|`."""
        return int(self.faces[k].shape[0]) if k in self.faces else 0

    def invariants(self, pos: Tensor) -> dict[int, Tensor]:
        r"""Local Euclidean invariants per level: lengths (k=1), angles (k=2), torsions (k=3).

        Args:
            pos: ``[num_nodes, 3]``.

        Returns:
            ``{k: [n_k]}`` for the levels ``1 <= k <= 3`` present.

        Book: chapter hypergraphs, section "Why angles need 2-faces and torsions 3-faces".
        """
        if not isinstance(pos, Tensor) or pos.shape[:1] != (self.num_nodes,):
            raise ValueError(f"pos must have shape [num_nodes={self.num_nodes}, 3], got {getattr(pos, 'shape', type(pos).__name__)}")
        fns = {1: lambda f: edge_lengths(pos, f.t()), 2: lambda f: angles(pos, f), 3: lambda f: torsions(pos, f)}
        return {k: fns[k](self.faces[k]) for k in sorted(self.faces) if k in fns}

    def __repr__(self) -> str:
        levels = ", ".join(f"G{k}={self.num_faces(k)}" for k in sorted(self.faces))
        feats = ", ".join(f"F{k}={list(x.shape[1:])}" for k, x in sorted(self.features.items()))
        return f"HyperGraph(d={self.dim}, {levels}" + (f", {feats})" if feats else ")")
