r"""Body order: what 2-body features cannot see, made concrete by two point clouds.

$$\{\!\{ d_{ij} : i > j \}\!\}_A = \{\!\{ d_{ij} : i > j \}\!\}_B \ \text{for every atom } j,
\qquad \text{yet} \qquad \{\!\{ \angle_{ijk} \}\!\}_A \ne \{\!\{ \angle_{ijk} \}\!\}_B$$

A feature of atom :math:`j` is *2-body* if it is a sum over the neighbours of a function of one neighbour at a
time, :math:`\sum_{i > j} \phi(r_{ij})`, and a rotation-invariant 2-body feature can only read the distances
:math:`d_{ij}`.  Two environments with the same multisets of neighbour distances therefore get the same invariant
2-body features, and so does every distance-only message-passing network on them when the labelled graphs are
isomorphic.  A 3-body feature (two neighbours at once: an angle, the power spectrum :math:`\sum_m A_{lm}^2` of
:math:`A_{lm} = \sum_i Y_{lm}(\hat r_{ij})`, MACE's product basis with :math:`\nu \ge 2`) tells them apart.

Book: chapter spherical, section "MACE: many-body features".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["distance_degenerate_pair", "neighbour_distances"]


def distance_degenerate_pair(dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor, Tensor, float]:
    r"""Two 4-atom clouds with the same neighbour distances around every atom and different angles.

    Both are a centre (atom 0) with three neighbours at distance 1: in ``pos_a`` the neighbours lie in a plane at
    120° from each other (trigonal, :math:`\sum_i \hat r_{0i} = 0`), in ``pos_b`` along the three axes (90°).
    The cutoff 1.2 keeps only the centre-neighbour bonds (neighbour-neighbour distances are
    :math:`\sqrt 3` and :math:`\sqrt 2`), so both radius graphs are the same star ``edge_index``, every atom
    sees the same multiset of distances (the centre {1, 1, 1}, each neighbour {1}), and the angles at the centre
    differ (120° against 90°).

    Returns:
        ``(pos_a [4, 3], pos_b [4, 3], edge_index [2, 6], cutoff)``, both directions of each bond.

    Book: chapter spherical, section "MACE: many-body features".
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    c, s = math.cos(2 * math.pi / 3), math.sin(2 * math.pi / 3)
    pos_a = torch.tensor([[0.0, 0, 0], [1, 0, 0], [c, s, 0], [c, -s, 0]], dtype=torch.float64)
    pos_b = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    edge_index = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])
    return pos_a.to(dtype), pos_b.to(dtype), edge_index, 1.2


def neighbour_distances(pos: Tensor, edge_index: Tensor) -> list[list[float]]:
    """For each atom j the sorted list of its distances :math:`d_{ij}`, :math:`i > j` (the incoming edges):
    the multisets a 2-body invariant feature can read.

    Book: chapter spherical, section "MACE: many-body features".
    """
    from minignn.invariants import edge_lengths

    d = edge_lengths(pos, edge_index)  # validates pos and edge_index
    out: list[list[float]] = [[] for _ in range(pos.shape[0])]
    for dst, length in zip(edge_index[1].tolist(), d.tolist()):
        out[dst].append(length)
    return [sorted(v) for v in out]
