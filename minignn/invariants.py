r"""Local Euclidean invariants of faces: lengths, angles and areas, torsions and volumes.

Positions are row vectors ``pos`` ``[num_nodes, 3]``; a face is a row of vertex ids
(see :mod:`minignn.hypergraph`).  Each level of a d-graph carries its invariants:

=====  ==================  ============================================
level  face                invariants under rotations and translations
=====  ==================  ============================================
1      ``(a, b)``           length :math:`|r_b - r_a|`
2      ``(a, b, c)``        angle at ``b``, triangle area
3      ``(a, b, c, d)``     torsion about ``b -> c``, tetrahedron volume
=====  ==================  ============================================

Lengths, angles and areas are also invariant under reflections; the torsion and
the signed volume change sign (they tell a molecule from its mirror image).
Angles and torsions use ``atan2`` (accurate near 0 and pi, unlike ``acos``).

Book: chapter hypergraphs, section "Geometry on faces".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from minignn.checks import check_int
from minignn.geometry import check_pos
from minignn.graph import check_edge_index

__all__ = [
    "edge_vectors",
    "edge_lengths",
    "angles",
    "triangle_areas",
    "torsions",
    "tetrahedron_volumes",
    "zmatrix_to_positions",
    "face_corners",
]


def _check_faces(faces, width: int, num_nodes: int, name: str = "faces") -> Tensor:
    if not isinstance(faces, Tensor) or faces.dtype not in (torch.int64, torch.int32) or faces.dim() != 2 \
            or faces.shape[1] != width:
        got = f"{faces.dtype} {list(faces.shape)}" if isinstance(faces, Tensor) else type(faces).__name__
        raise ValueError(f"{name} must be an integer tensor of shape [n, {width}], got {got}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num_nodes):
        raise ValueError(
            f"{name} refers to missing vertices: indices in [{int(faces.min())}, {int(faces.max())}] "
            f"but pos has {num_nodes} rows"
        )
    return faces.long()


def face_corners(pos: Tensor, faces: Tensor, width: int, name: str = "faces") -> list[Tensor]:
    """The ``width`` corner positions ``[n, 3]`` of each face ``[n, width]``, after checking ``pos`` and ``faces``."""
    check_pos(pos)
    faces = _check_faces(faces, check_int(width, "width", minimum=1), pos.shape[0], name)
    return [pos[faces[:, m]] for m in range(width)]


def edge_vectors(pos: Tensor, edge_index: Tensor, *, validate: bool = True) -> Tensor:
    r"""Edge vectors :math:`r_{ab} = r_b - r_a` (from src to dst), ``[E, 3]``.

    Args:
        pos: ``[num_nodes, 3]``; edge_index: ``[2, E]`` (row 0 = src, row 1 = dst).
        validate: check ``pos`` and ``edge_index`` (:func:`~minignn.geometry.check_pos`,
            :func:`~minignn.graph.check_edge_index`); a model that validated them once passes False.

    Book: chapter hypergraphs, section "Geometry on faces".
    """
    if validate:
        check_pos(pos)
        check_edge_index(edge_index, pos.shape[0])
    src, dst = edge_index
    return pos[dst] - pos[src]


def edge_lengths(pos: Tensor, edge_index: Tensor) -> Tensor:
    r"""Lengths on 1-faces: :math:`\ell_{ab} = |r_b - r_a|`, ``[E]``.

    Args:
        pos: ``[num_nodes, 3]``; edge_index: ``[2, E]``.

    Book: chapter hypergraphs, section "Geometry on faces".
    """
    return torch.linalg.vector_norm(edge_vectors(pos, edge_index), dim=-1)


def angles(pos: Tensor, faces: Tensor) -> Tensor:
    r"""Angles on 2-faces: the angle at the middle vertex ``b`` of ``(a, b, c)``, in :math:`[0, \pi]`.

    $$\theta_{abc} = \operatorname{atan2}\big(|u \times v|,\ u \cdot v\big),
    \qquad u = r_a - r_b,\ v = r_c - r_b$$

    Args:
        pos: ``[num_nodes, 3]``; faces: ``[T, 3]``.

    Returns:
        ``[T]`` in radians.

    Book: chapter hypergraphs, section "Geometry on faces".
    """
    a, b, c = face_corners(pos, faces, 3)
    u, v = a - b, c - b
    return torch.atan2(torch.linalg.vector_norm(torch.cross(u, v, dim=-1), dim=-1), (u * v).sum(-1))


def triangle_areas(pos: Tensor, faces: Tensor) -> Tensor:
    r"""Areas on 2-faces: :math:`A_{abc} = \tfrac12 |(r_b - r_a) \times (r_c - r_a)|`, ``[T]``.

    Args:
        pos: ``[num_nodes, 3]``; faces: ``[T, 3]``.

    Book: chapter hypergraphs, section "Geometry on faces".
    """
    a, b, c = face_corners(pos, faces, 3)
    return 0.5 * torch.linalg.vector_norm(torch.cross(b - a, c - a, dim=-1), dim=-1)


def torsions(pos: Tensor, faces: Tensor) -> Tensor:
    r"""Torsion (dihedral) angles on 3-faces ``(a, b, c, d)``, signed, in :math:`(-\pi, \pi]`.

    $$\varphi_{abcd} = \operatorname{atan2}\big(|b_2|\, b_1 \cdot (b_2 \times b_3),\
    (b_1 \times b_2) \cdot (b_2 \times b_3)\big),
    \quad b_1 = r_b - r_a,\ b_2 = r_c - r_b,\ b_3 = r_d - r_c$$

    IUPAC sign convention: looking along ``b -> c`` (Newman projection, ``b`` in
    front), :math:`\varphi > 0` when the front bond ``b-a`` must turn *clockwise*
    by less than 180 degrees to eclipse the back bond ``c-d``.  Anti is
    :math:`\pi`, gauche is :math:`\pm\pi/3`.  The torsion is the same read backwards,
    :math:`\varphi_{dcba} = \varphi_{abcd}`, and changes sign under a reflection.
    Degenerate faces (``a, b, c`` or ``b, c, d`` collinear) give 0.

    Args:
        pos: ``[num_nodes, 3]``; faces: ``[Q, 4]``.

    Returns:
        ``[Q]`` in radians.

    Book: chapter hypergraphs, section "Geometry on faces".
    """
    a, b, c, d = face_corners(pos, faces, 4)
    b1, b2, b3 = b - a, c - b, d - c
    n2 = torch.cross(b2, b3, dim=-1)
    y = torch.linalg.vector_norm(b2, dim=-1) * (b1 * n2).sum(-1)
    x = (torch.cross(b1, b2, dim=-1) * n2).sum(-1)
    phi = torch.atan2(y, x)
    return torch.where(phi <= -math.pi, phi + 2 * math.pi, phi)  # atan2(-0., -1) = -pi -> pi


def tetrahedron_volumes(pos: Tensor, faces: Tensor, signed: bool = True) -> Tensor:
    r"""Volumes on 3-faces: :math:`V_{abcd} = \tfrac16 \det[r_b - r_a,\ r_c - r_a,\ r_d - r_a]`.

    Signed by default: :math:`V > 0` when ``(r_b - r_a, r_c - r_a, r_d - r_a)`` is a
    right-handed frame.  For a chain :math:`6V = b_1 \cdot (b_2 \times b_3)` has the
    sign of its torsion (:func:`torsions`); ``signed=False`` gives :math:`|V|`.

    Args:
        pos: ``[num_nodes, 3]``; faces: ``[Q, 4]``; signed: keep the orientation sign.

    Returns:
        ``[Q]``.

    Book: chapter hypergraphs, section "Geometry on faces".
    """
    a, b, c, d = face_corners(pos, faces, 4)
    vol = (torch.cross(b - a, c - a, dim=-1) * (d - a)).sum(-1) / 6.0
    return vol if signed else vol.abs()


def zmatrix_to_positions(refs: Tensor, lengths: Tensor, angles: Tensor, torsions: Tensor) -> Tensor:
    r"""Positions from internal coordinates (a Z-matrix), by the NeRF construction.

    Atom ``n`` is placed so that, with ``(p, q, s) = refs[n]`` (earlier atoms),
    :math:`|r_n - r_p| = \ell_n`, the angle ``(n, p, q)`` is :math:`\theta_n` and the
    torsion ``(n, p, q, s)`` is :math:`\varphi_n` (IUPAC sign, as :func:`torsions`):

    $$r_n = r_p + \ell_n\big(-\cos\theta_n\, e_1 + \sin\theta_n \cos\varphi_n\, e_2
    + \sin\theta_n \sin\varphi_n\, e_3\big)$$

    where :math:`e_1` is the unit vector from ``q`` to ``p``,
    :math:`e_3 \propto (r_q - r_s) \times e_1` and :math:`e_2 = e_3 \times e_1`.
    Atom 0 sits at the origin, atom 1 on the +x axis, atom 2 in the xy plane
    (their unused references and values are ignored: write -1 and 0).

    Args:
        refs: ``[N, 3]`` int, ``refs[n] < n`` where used.
        lengths, angles, torsions: ``[N]`` (angles in radians).

    Returns:
        ``[N, 3]`` in the dtype of ``lengths``.

    Book: chapter hypergraphs, section "Why angles need 2-faces and torsions 3-faces".
    """
    if not isinstance(refs, Tensor) or refs.dim() != 2 or refs.shape[1] != 3 or refs.is_floating_point() \
            or refs.dtype == torch.bool:
        got = f"{refs.dtype} {list(refs.shape)}" if isinstance(refs, Tensor) else type(refs).__name__
        raise ValueError(f"refs must be an integer tensor of shape [N, 3], got {got}")
    n_atoms = refs.shape[0]
    for name, t in (("lengths", lengths), ("angles", angles), ("torsions", torsions)):
        if not isinstance(t, Tensor) or t.shape != (n_atoms,):
            raise ValueError(f"{name} must have shape [N={n_atoms}], got {getattr(t, 'shape', t)}")
        if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be a finite floating-point tensor, got {t.dtype}"
                             f"{' with NaN or inf' if t.is_floating_point() else ''}")
    if n_atoms > 1 and not bool((lengths[1:] > 0).all()):
        k = 1 + int((~(lengths[1:] > 0)).nonzero()[0])
        raise ValueError(f"lengths must be > 0 (atom {k} would sit on its reference atom), got lengths[{k}] = "
                         f"{float(lengths[k]):g}")
    for n in range(n_atoms):
        used = refs[n, : min(n, 3)]
        if bool(((used < 0) | (used >= n)).any()) or len(set(used.tolist())) < used.numel():
            raise ValueError(f"refs[{n}] must name {min(n, 3)} distinct earlier atoms (< {n}), got {used.tolist()}")
    pos = lengths.new_zeros(n_atoms, 3)
    for n in range(1, n_atoms):  # sequential: each atom needs the earlier ones
        p = pos[refs[n, 0]]
        q = pos[refs[n, 1]] if n >= 2 else p - lengths.new_tensor([1.0, 0.0, 0.0])
        s = pos[refs[n, 2]] if n >= 3 else q + lengths.new_tensor([0.0, 1.0, 0.0])
        e1 = (p - q) / torch.linalg.vector_norm(p - q)
        e3 = torch.cross(q - s, e1, dim=-1)
        norm3 = torch.linalg.vector_norm(e3)
        tol = 100 * torch.finfo(lengths.dtype).eps  # sin(pi) is 1e-16 in float64, -9e-8 in float32
        if not float(norm3) > tol * max(1.0, float(torch.linalg.vector_norm(q - s))):
            raise ValueError(f"refs[{n}] = {refs[n].tolist()}: the reference atoms of atom {n} are collinear (an angle "
                             f"of 0 or pi earlier), so the torsion that places atom {n} is undefined; choose other references")
        e3 = e3 / norm3
        e2 = torch.cross(e3, e1, dim=-1)
        t, phi = angles[n], (torsions[n] if n >= 3 else torsions.new_zeros(()))
        step = -torch.cos(t) * e1 + torch.sin(t) * torch.cos(phi) * e2 + torch.sin(t) * torch.sin(phi) * e3
        pos[n] = p + lengths[n] * step if n >= 2 else p + lengths[n] * e1
    return pos
