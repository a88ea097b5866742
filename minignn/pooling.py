r"""Readouts: from node features to one vector per graph.

$$y_g = \bigoplus_{j \,:\, \mathrm{batch}_j = g} x_j$$

with :math:`\bigoplus` a sum, mean or max.  A sum or mean over the nodes of a graph
does not depend on their order, so a permutation-equivariant network followed by
a readout is permutation invariant.

Book: chapter mpnn, section "Readout and permutation symmetry".
"""

from __future__ import annotations

import torch
from torch import Tensor

from minignn.scatter import check_index, check_mean_dtype, check_reduce, scatter_unchecked

__all__ = ["global_pool", "sum_pool", "mean_pool"]


def global_pool(x: Tensor, batch: Tensor | None = None, num_graphs: int | None = None, reduce: str = "sum") -> Tensor:
    r"""Pool node features per graph: :math:`y_g = \bigoplus_{j : \mathrm{batch}_j = g} x_j`.

    Args:
        x: ``[num_nodes, F]``.
        batch: ``[num_nodes]`` int64 graph id of each node, or None for a single graph.
        num_graphs: number of graphs (keeps trailing empty graphs); default ``batch.max() + 1``.
        reduce: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"`` (an empty graph gets 0).

    Returns:
        ``[num_graphs, F]`` (``[1, F]`` when ``batch`` is None).

    Book: chapter mpnn, section "Readout and permutation symmetry".
    """
    if not isinstance(x, Tensor) or x.dim() == 0:
        raise ValueError(f"x must be a tensor of shape [num_nodes, ...], got {getattr(x, 'shape', type(x).__name__)}")
    check_reduce(reduce)
    check_mean_dtype(x, reduce, "x")
    if batch is None:
        batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        num_graphs = 1 if num_graphs is None else num_graphs
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.numel() != x.shape[0]:
        got = list(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        raise ValueError(f"batch must have shape [num_nodes={x.shape[0]}], got {got}")
    num_graphs = check_index(batch, x.shape[0], num_graphs, what="batch", size_name="num_graphs",
                             size_meaning="the number of graphs, which must exceed every graph id in batch")
    return scatter_unchecked(x, batch.long(), 0, num_graphs, reduce)


def sum_pool(x: Tensor, batch: Tensor | None = None, num_graphs: int | None = None) -> Tensor:
    r""":math:`y_g = \sum_{j \in g} x_j`, ``[num_nodes, F]`` -> ``[num_graphs, F]``; see :func:`global_pool`."""
    return global_pool(x, batch, num_graphs, "sum")


def mean_pool(x: Tensor, batch: Tensor | None = None, num_graphs: int | None = None) -> Tensor:
    r""":math:`y_g = \frac{1}{N_g} \sum_{j \in g} x_j`, ``[num_nodes, F]`` -> ``[num_graphs, F]``; see :func:`global_pool`."""
    return global_pool(x, batch, num_graphs, "mean")
