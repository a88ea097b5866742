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

from minignn.scatter import scatter

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
    if batch is None:
        batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        num_graphs = 1 if num_graphs is None else num_graphs
    if batch.dim() != 1 or batch.numel() != x.shape[0]:
        raise ValueError(f"batch must have shape [num_nodes={x.shape[0]}], got {list(batch.shape)}")
    return scatter(x, batch, dim=0, dim_size=num_graphs, reduce=reduce)


def sum_pool(x: Tensor, batch: Tensor | None = None, num_graphs: int | None = None) -> Tensor:
    r""":math:`y_g = \sum_{j \in g} x_j`, ``[num_nodes, F]`` -> ``[num_graphs, F]``; see :func:`global_pool`."""
    return global_pool(x, batch, num_graphs, "sum")


def mean_pool(x: Tensor, batch: Tensor | None = None, num_graphs: int | None = None) -> Tensor:
    r""":math:`y_g = \frac{1}{N_g} \sum_{j \in g} x_j`, ``[num_nodes, F]`` -> ``[num_graphs, F]``; see :func:`global_pool`."""
    return global_pool(x, batch, num_graphs, "mean")
