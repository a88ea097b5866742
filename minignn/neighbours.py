r"""Neighbour graphs of point clouds: radius graphs (open or periodic) and complete graphs.

A molecule or a crystal comes as positions, not as edges.  The usual way to make
a graph of it is the *radius graph*: an edge ``(i, j)`` (src ``i``, dst ``j``) for
every ordered pair of distinct atoms closer than a cutoff ``r_c``,

    G_1 = {(i, j) : i != j, |pos_j - pos_i| < r_c}.

In a periodic crystal (lattice vectors ``a_1, a_2, a_3``, the rows of ``cell``)
atom ``j`` also sits at every image ``pos_j + n @ cell``, ``n`` in Z^3, and the
edge test becomes ``|pos_j + n @ cell - pos_i| < r_c`` for some ``n``.  One pair
``(i, j)`` may then be joined through several images (and an atom to its own
images), so each edge carries its *shift* ``s = n @ cell`` and the edge vector is
``pos[dst] - pos[src] + shift``.

Both relations are symmetric, so the graphs are undirected: both directions of
every edge are present (with opposite shifts).  Nodes of different graphs of a
batch (different ``batch`` ids) are never joined.

Complexity: dense distance blocks per graph, time and memory
``O(K * sum_g N_g^2)`` with ``N_g`` the atoms of graph ``g`` and ``K`` the
number of periodic images tried (``K = 1`` without a cell).  Fine for molecules
and small unit cells; large systems want a cell list, which this module skips.

Book: chapter graphs, section "Atoms in a periodic crystal".
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from minignn.checks import check_bool, check_int
from minignn.geometry import check_pos

__all__ = ["radius_graph", "fully_connected"]


# -- validation ----------------------------------------------------------------
def _check_batch(batch, num_nodes: int, device=None) -> Tensor:
    if batch is None:
        return torch.zeros(num_nodes, dtype=torch.int64, device=device)
    if not isinstance(batch, Tensor) or batch.dtype != torch.int64 or batch.dim() != 1:
        got = f"{batch.dtype} {list(batch.shape)}" if isinstance(batch, Tensor) else type(batch).__name__
        raise ValueError(f"batch must be a 1-d int64 tensor of graph ids, got {got}")
    if batch.numel() != num_nodes:
        raise ValueError(f"batch must have one entry per node ({num_nodes}), got {batch.numel()} entries")
    if batch.numel() and int(batch.min()) < 0:
        raise ValueError(f"batch must hold graph ids >= 0, got min {int(batch.min())}")
    return batch


def _check_cell(cell, num_graphs: int, dtype: torch.dtype) -> Tensor:
    """Return per-graph cells ``[num_graphs, 3, 3]``."""
    if not isinstance(cell, Tensor):
        raise ValueError(f"cell must be a torch.Tensor of shape [3, 3] or [num_graphs, 3, 3], got {type(cell).__name__}")
    if cell.shape != (3, 3) and (cell.dim() != 3 or cell.shape[1:] != (3, 3) or cell.shape[0] != num_graphs):
        raise ValueError(f"cell must have shape [3, 3] or [num_graphs={num_graphs}, 3, 3], got {list(cell.shape)}")
    if not cell.is_floating_point() or not bool(torch.isfinite(cell).all()):
        raise ValueError(f"cell must be a finite floating-point tensor, got {cell.dtype}")
    if cell.numel() and bool((torch.linalg.det(cell.to(torch.float64)).abs() < 1e-12).any()):
        raise ValueError("cell must hold three linearly independent lattice vectors (rows); got a singular cell")
    return cell.to(dtype).expand(num_graphs, 3, 3)


# -- all ordered pairs within each graph ---------------------------------------
def _intra_graph_pairs(batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """All ordered pairs (src, dst), self-pairs included, of nodes with equal ``batch`` id.

    Returns ``(src [P], dst [P], graph [P])`` with ``P = sum_g N_g^2``.
    """
    perm = torch.argsort(batch, stable=True)  # nodes grouped by graph, in input order
    counts = torch.bincount(batch) if batch.numel() else batch.new_zeros(0)
    starts = torch.cumsum(counts, 0) - counts
    squares = counts * counts
    graph = torch.repeat_interleave(torch.arange(counts.numel(), device=batch.device), squares)  # [P]
    local = torch.arange(int(squares.sum()), device=batch.device) - torch.repeat_interleave(torch.cumsum(squares, 0) - squares, squares)
    n = counts[graph]
    src = perm[starts[graph] + torch.div(local, n, rounding_mode="floor")]
    dst = perm[starts[graph] + local % n]
    return src, dst, graph


def _sort_edges(src: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    """Stable order of the edges by (src, dst)."""
    return torch.argsort(src * max(num_nodes, 1) + dst, stable=True)


def radius_graph(
    pos: Tensor,
    cutoff: float,
    batch: Tensor | None = None,
    cell: Tensor | None = None,
    self_loops: bool = False,
    return_shifts: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Edges between points closer than ``cutoff``, within each graph, optionally periodic.

    $$G_1 = \{(i, j) : |\mathrm{pos}_j + n\,\mathrm{cell} - \mathrm{pos}_i| < r_c,\ \mathrm{batch}_i = \mathrm{batch}_j\}$$

    with :math:`n = 0` without a cell and :math:`n \in \mathbb{Z}^3` with one.
    Edge ``e`` goes from ``src = edge_index[0, e]`` to ``dst = edge_index[1, e]``;
    its vector is ``pos[dst] - pos[src] + shift[e]``.  Edges come sorted by
    (src, dst); the graph is undirected (both directions present).

    Periodic images: with reciprocal vectors :math:`b_k` (columns of
    ``cell^{-1}``) the lattice planes along :math:`a_k` are :math:`1/|b_k|` apart,
    so after wrapping positions into the cell it suffices to try
    :math:`|n_k| \le \lfloor r_c |b_k| \rfloor + 1`.  Positions need not be wrapped.

    Args:
        pos: ``[num_nodes, 3]`` positions (row vectors).
        cutoff: :math:`r_c \ge 0`; the test is strict (a pair at exactly ``cutoff`` is not an edge).
        batch: ``[num_nodes]`` int64 graph id of each node, or None (one graph).
        cell: ``[3, 3]`` lattice vectors as rows (shared by all graphs) or
            ``[num_graphs, 3, 3]`` (``num_graphs = batch.max() + 1``), or None (no periodicity).
        self_loops: add ``(i, i)`` with zero shift for every node, whatever the cutoff.
            An atom's edges to its own *other* images (nonzero shift) are always kept.
        return_shifts: also return the Cartesian shifts ``[E, 3]`` (``n @ cell``; zeros without a cell).

    Returns:
        ``edge_index`` ``[2, E]`` int64, and ``shift`` ``[E, 3]`` if ``return_shifts``.

    Complexity: ``O(K * sum_g N_g^2)`` time and memory, ``K`` = number of images tried.

    Book: chapter graphs, sections "Atoms in caffeine" and "Atoms in a periodic crystal".
    """
    check_pos(pos)
    if isinstance(cutoff, Tensor) and cutoff.numel() == 1 and cutoff.dtype != torch.bool:
        cutoff = float(cutoff)
    if isinstance(cutoff, (bool, np.bool_)) or not isinstance(cutoff, numbers.Real) or not math.isfinite(cutoff) \
            or cutoff < 0:
        raise ValueError(f"cutoff must be a finite number >= 0, got {cutoff!r}")
    self_loops, return_shifts = check_bool(self_loops, "self_loops"), check_bool(return_shifts, "return_shifts")
    num_nodes = pos.shape[0]
    batch = _check_batch(batch, num_nodes, pos.device)
    src, dst, graph = _intra_graph_pairs(batch)  # [P] each
    num_graphs = int(batch.max()) + 1 if num_nodes else 0

    if cell is None:
        n_images = torch.zeros(1, 3, dtype=torch.int64, device=pos.device)  # [K=1, 3]
        shifts = pos.new_zeros(src.numel(), 1, 3)  # [P, K, 3]
        wrap = pos.new_zeros(num_nodes, 3)
    else:
        cells = _check_cell(cell, num_graphs, pos.dtype)  # [num_graphs, 3, 3]
        cells64 = cells.to(torch.float64)
        inv = torch.linalg.inv(cells64)  # frac = pos @ inv
        # wrap: pos = wrapped + floor(frac) @ cell, wrapped in the cell
        floor = torch.floor(torch.einsum("nd,ndk->nk", pos.to(torch.float64), inv[batch]))  # [N, 3]
        wrap = torch.einsum("nk,nkd->nd", floor, cells64[batch]).to(pos.dtype)  # [N, 3]
        plane_gap_inv = inv.norm(dim=1) if num_graphs else inv.new_zeros(1, 3)  # |b_k|, [G, 3]
        reach = (torch.floor(cutoff * plane_gap_inv).amax(dim=0) + 1).to(torch.int64)  # [3]
        axes = [torch.arange(-int(r), int(r) + 1) for r in reach]
        n_images = torch.cartesian_prod(*axes).reshape(-1, 3).to(pos.device)  # [K, 3]
        shifts = torch.einsum("kc,pcd->pkd", n_images.to(pos.dtype), cells[graph])  # [P, K, 3]

    wrapped = pos - wrap
    diff = (wrapped[dst] - wrapped[src]).unsqueeze(1) + shifts  # [P, K, 3]
    is_loop = (src == dst).unsqueeze(1) & (n_images == 0).all(dim=1).unsqueeze(0)  # (i, i) with n = 0, [P, K]
    close = diff.norm(dim=-1) < cutoff  # [P, K]
    close = (close | is_loop) if self_loops else (close & ~is_loop)
    pair, image = close.nonzero(as_tuple=True)
    src, dst = src[pair], dst[pair]
    shift = shifts[pair, image] - wrap[dst] + wrap[src]  # shift for the unwrapped positions, [E, 3]
    order = _sort_edges(src, dst, num_nodes)
    edge_index = torch.stack([src[order], dst[order]])
    shift = shift[order]
    return (edge_index, shift) if return_shifts else edge_index


def fully_connected(
    num_nodes: int | Sequence[int] | Tensor | None = None,
    *,
    batch: Tensor | None = None,
    self_loops: bool = False,
) -> Tensor:
    r"""The complete graph on each graph's nodes: every ordered pair ``(i, j)``, ``i != j``.

    $$G_1 = \{(i, j) \in G_0 \times G_0 : i \neq j,\ \mathrm{batch}_i = \mathrm{batch}_j\}$$

    A graph of ``N`` nodes gets ``N (N - 1)`` edges (``N^2`` with ``self_loops``).
    Give exactly one of ``num_nodes`` and ``batch``.

    Args:
        num_nodes: ``N`` (one graph) or the node counts of the graphs of a batch,
            ``[num_graphs]`` (nodes numbered graph after graph, as :func:`minignn.graph.batch` does).
        batch: ``[num_nodes]`` int64 graph id of each node (need not be sorted).
        self_loops: also include ``(i, i)``.

    Returns:
        ``edge_index`` ``[2, E]`` int64, sorted by (src, dst).

    Book: chapter graphs, section "Batching".
    """
    if (num_nodes is None) == (batch is None):
        raise ValueError("fully_connected needs exactly one of num_nodes (int or per-graph counts) and batch")
    self_loops = check_bool(self_loops, "self_loops")
    if batch is None:
        if isinstance(num_nodes, (bool, np.bool_)):
            raise ValueError(f"num_nodes must be an int or a sequence of ints, got {num_nodes!r}")
        if isinstance(num_nodes, numbers.Integral) or (isinstance(num_nodes, Tensor) and num_nodes.dim() == 0):
            num_nodes = [check_int(num_nodes, "num_nodes", minimum=None)]
        try:
            counts = torch.as_tensor(num_nodes)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"num_nodes must be an int or a 1-d sequence of ints, got {num_nodes!r}") from None
        if counts.dim() != 1 or counts.dtype.is_floating_point or counts.dtype == torch.bool or counts.is_complex():
            raise ValueError(f"num_nodes must be an int or a 1-d sequence of ints, got {num_nodes!r}")
        if counts.numel() and int(counts.min()) < 0:
            raise ValueError(f"num_nodes: node counts must be >= 0, got {counts.tolist()}")
        batch = torch.repeat_interleave(torch.arange(counts.numel()), counts.to(torch.int64))
    else:
        batch = _check_batch(batch, batch.numel() if isinstance(batch, Tensor) else -1)
    src, dst, _ = _intra_graph_pairs(batch)
    if not self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
    order = _sort_edges(src, dst, batch.numel())
    return torch.stack([src[order], dst[order]])
