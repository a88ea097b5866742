r"""Invariant and equivariant message passing on molecules in 3D.

The Euclidean group E(3) acts on positions by :math:`r_i \mapsto Q r_i + t`
(``pos @ Q.T + t``, :math:`Q` orthogonal).  A regression model must be
*invariant*, :math:`f(Q r + t) = f(r)`; a model that moves atoms must be
*equivariant*, :math:`r'(Q r + t) = Q\, r'(r) + t`.  SE(3) keeps only
:math:`\det Q = +1` (no mirror images).

The recipe of the book: never feed raw positions to an MLP.  Feed it local
invariants of the faces (order 1 lengths, order 2 angles, order 3 torsions),
and move atoms along their equivariant counterparts (edge vectors, gradients of
angles and torsions).

=================================  ============================  ==========================
object                             output                        symmetry
=================================  ============================  ==========================
:func:`angle_features`             cos, sin of the angle         E(3)-invariant
:func:`torsion_features`           cos, sin of the torsion       SE(3) (``chiral``) or E(3)
:class:`InvariantMPNN`             per node / graph scalars      as its features
:class:`EGNNLayer`, :class:`EGNN`  scalars h and positions       E(3)-equivariant
:class:`GradientForceModel`        energy E and forces -dE/dpos  as its energy
:class:`HarmonicDescriptor`        power spectrum per node       E(3), or broken (``m``)
:class:`CoordinateMPNN`            per graph scalars             permutations only
=================================  ============================  ==========================

Models take ``(x [N, F], pos [N, 3], edge_index [2, E])`` (node features first, as
in :mod:`minignn.mpnn`); feature functions take ``(pos, faces or edge_index)`` as
in :mod:`minignn.invariants`.  Messages flow ``src -> dst``.

Book: chapter equivariance.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor, nn

from minignn.checks import check_bool, check_int, check_number
from minignn.geometry import check_pos
from minignn.hypergraph import angle_faces, torsion_faces
from minignn.invariants import edge_lengths, edge_vectors, face_corners
from minignn.mpnn import MPNN, MessagePassing, MPNNLayer, check_edge_attr, check_features, check_inputs, mlp
from minignn.pooling import global_pool
from minignn.radial import ENVELOPES, BesselBasis, GaussianBasis
from minignn.scatter import scatter
from minignn.spherical import degree_slice, lm_index, spherical_harmonics

__all__ = [
    "angle_features",
    "torsion_features",
    "edge_invariants",
    "InvariantLayer",
    "InvariantMPNN",
    "EGNNLayer",
    "EGNN",
    "EGNNRegressor",
    "GradientForceModel",
    "CoordinateMPNN",
    "HarmonicDescriptor",
]

READOUTS = ("nodes", "sum", "mean")


def _norm(v: Tensor) -> Tensor:
    return torch.linalg.vector_norm(v, dim=-1)


def angle_features(pos: Tensor, faces: Tensor) -> Tensor:
    r"""Cosine and sine of the angle at ``b`` of each 2-face ``(a, b, c)``.

    $$\cos\theta_{abc} = \frac{u \cdot v}{|u|\,|v|}, \qquad
    \sin\theta_{abc} = \frac{|u \times v|}{|u|\,|v|}, \qquad u = r_a - r_b,\ v = r_c - r_b$$

    E(3)-invariant.  ``sin`` is :math:`\ge 0` (a function of ``cos``), with a kink
    at :math:`\theta \in \{0, \pi\}`; ``cos`` is smooth.  A face with an arm of length 0 (``a`` or ``c``
    at the position of ``b``) has no angle: it gives ``(0, 0)``, finite, with finite gradients.

    Args:
        pos: ``[num_nodes, 3]``; faces: ``[T, 3]`` (e.g. :func:`~minignn.hypergraph.angle_faces`).

    Returns:
        ``[T, 2]`` (cos, sin).

    Book: chapter equivariance, section "Invariant features".
    """
    a, b, c = face_corners(pos, faces, 3)
    u, v = a - b, c - b
    den = _norm(u) * _norm(v)
    ok = den > 0  # an arm of length 0: no angle (coincident atoms), 0 instead of 0 / 0
    den = torch.where(ok, den, torch.ones_like(den))
    out = torch.stack([(u * v).sum(-1) / den, _norm(torch.linalg.cross(u, v, dim=-1)) / den], dim=-1)
    return torch.where(ok.unsqueeze(-1), out, torch.zeros_like(out))


def torsion_features(pos: Tensor, faces: Tensor, chiral: bool = True) -> Tensor:
    r"""Torsion features of each 3-face ``(a, b, c, d)``, faded out where the torsion is undefined.

    With :math:`b_1 = r_b - r_a,\ b_2 = r_c - r_b,\ b_3 = r_d - r_c` and
    :math:`w = \sin\theta_b \sin\theta_c` (the two bond angles),

    $$w \cos\varphi = \frac{(b_1 \times b_2) \cdot (b_2 \times b_3)}{|b_1|\,|b_2|^2\,|b_3|}, \qquad
    w \sin\varphi = \frac{|b_2|\; b_1 \cdot (b_2 \times b_3)}{|b_1|\,|b_2|^2\,|b_3|}$$

    with :math:`\varphi` the signed torsion of :func:`minignn.invariants.torsions`.
    Both are polynomials in the bond vectors over powers of bond lengths: smooth, and
    zero when three atoms are collinear, where :math:`\varphi` has no meaning (and zero, not 0 / 0, when a bond
    of the face has length 0: two of its atoms at the same position).

    A mirror flips the sign of :math:`\varphi`.  ``chiral=True`` returns
    :math:`(w\cos\varphi, w\sin\varphi)`: SE(3)-invariant, the sine is a
    pseudoscalar that tells enantiomers apart.  ``chiral=False`` returns the even
    modes :math:`(w\cos\varphi, w^2\cos 2\varphi)`: E(3)-invariant.  (Not
    :math:`|\sin\varphi|`: it carries nothing that :math:`\cos\varphi` does not and
    has a kink at the anti conformation :math:`\varphi = \pi`.)

    Args:
        pos: ``[num_nodes, 3]``; faces: ``[Q, 4]`` (e.g. :func:`~minignn.hypergraph.torsion_faces`);
        chiral: keep the sign of the torsion.

    Returns:
        ``[Q, 2]``.

    Book: chapter equivariance, section "Mirror images".
    """
    a, b, c, d = face_corners(pos, faces, 4)
    b1, b2, b3 = b - a, c - b, d - c
    n2 = torch.linalg.cross(b2, b3, dim=-1)
    l2 = _norm(b2)
    scale = _norm(b1) * l2 * l2 * _norm(b3)
    ok = scale > 0  # a bond of length 0 (coincident atoms): no torsion, 0 instead of 0 / 0
    scale = torch.where(ok, scale, torch.ones_like(scale))
    x = (torch.linalg.cross(b1, b2, dim=-1) * n2).sum(-1) / scale  # w cos(phi)
    y = l2 * (b1 * n2).sum(-1) / scale  # w sin(phi)
    out = torch.stack([x, y] if check_bool(chiral, "chiral") else [x, x * x - y * y], dim=-1)
    return torch.where(ok.unsqueeze(-1), out, torch.zeros_like(out))


def edge_invariants(pos: Tensor, edge_index: Tensor, rbf: nn.Module, angles: bool = False,
                    torsions: bool = False, chiral: bool = True) -> Tensor:
    r"""Invariant features of each edge ``b -> c`` from the faces that end on it.

    $$f_{bc} = \Big[\, e(d_{bc}),\ \ u(d_{bc}) \sum_{a \to b \to c} g_{abc} \otimes e(d_{ab}),\ \
    u(d_{bc}) \sum_{a' \to a \to b \to c} t_{a'abc} \otimes e(d_{a'a})\, u(d_{ab}) \Big]$$

    :math:`e` is the radial basis ``rbf`` (envelope :math:`u` included, 1 without one),
    :math:`g` = :func:`angle_features` (angle at ``b``), :math:`t` = :func:`torsion_features`
    (torsion about ``a -> b``), summed over the 2-faces and 3-faces whose last edge is
    ``b -> c``.  Every column vanishes with its derivative when any edge of its face
    crosses the cutoff, so a radius graph gives smooth features.

    Args:
        pos: ``[num_nodes, 3]``; edge_index: ``[2, E]``; rbf: a basis ``[E] -> [E, K]``
        (:class:`~minignn.radial.BesselBasis` or :class:`~minignn.radial.GaussianBasis`);
        angles, torsions: include the face terms; chiral: see :func:`torsion_features`.

    Returns:
        ``[E, K (1 + 2 angles + 2 torsions)]``.

    Book: chapter equivariance, section "Invariant features".
    """
    if not callable(rbf) or not hasattr(rbf, "cutoff"):
        raise ValueError(f"rbf must be a radial basis module (minignn.radial.BesselBasis or GaussianBasis), got "
                         f"{type(rbf).__name__}")
    angles, torsions = check_bool(angles, "angles"), check_bool(torsions, "torsions")
    d = edge_lengths(pos, edge_index)  # [E], validates pos and edge_index
    n, num_edges = pos.shape[0], edge_index.shape[1]
    e = rbf(d)  # [E, K]
    env = getattr(rbf, "envelope", None)
    if env is not None and env not in ENVELOPES:
        raise ValueError(f"rbf.envelope must be None or one of {tuple(ENVELOPES)}, got {env!r}")
    u = ENVELOPES[env](d, rbf.cutoff) if env is not None else torch.ones_like(d)  # [E]
    feats = [e]
    if angles:
        faces, ids = angle_faces(edge_index, n, return_edges=True)  # [T, 3], edges (a->b, b->c)
        g = angle_features(pos, faces).unsqueeze(-1) * e[ids[:, 0]].unsqueeze(1)  # [T, 2, K]
        feats.append(u.unsqueeze(-1) * scatter(g.flatten(1), ids[:, 1], dim=0, dim_size=num_edges))
    if torsions:
        faces, ids = torsion_faces(edge_index, n, return_edges=True)  # [Q, 4], 3 edges each
        w = (e[ids[:, 0]] * u[ids[:, 1]].unsqueeze(-1)).unsqueeze(1)  # [Q, 1, K]
        t = torsion_features(pos, faces, chiral).unsqueeze(-1) * w  # [Q, 2, K]
        feats.append(u.unsqueeze(-1) * scatter(t.flatten(1), ids[:, 2], dim=0, dim_size=num_edges))
    return torch.cat(feats, dim=-1)


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple, dtype, device) -> Tensor:
    """A buffer of ``shape`` kept between calls (one per name, dtype and device, per thread): its contents are
    garbage, and the next call with the same name overwrites them.  It grows when a larger one is asked for."""
    store = _SCRATCH.__dict__.setdefault("buffers", {})
    key = (name, dtype, str(device))
    numel = math.prod(shape)
    buf = store.get(key)
    if buf is None or buf.numel() < numel:
        buf = store[key] = torch.empty(numel, dtype=dtype, device=device)
    return buf[:numel].view(shape)


def _pool(y: Tensor, readout: str, batch: Tensor | None, num_graphs: int | None) -> Tensor:
    return y if readout == "nodes" else global_pool(y, batch, num_graphs, reduce=readout)


class InvariantLayer(MPNNLayer):
    r"""A continuous-filter MPNN layer (SchNet-like) on invariant edge features :math:`f_{ij}`.

    $$M_{ij} = \phi_\theta(h_i, h_j, f_{ij}) \odot W f_{ij}, \qquad h'_j = h_j + \sum_{i > j} M_{ij}$$

    :math:`W` is linear without bias, so :math:`M_{ij} \to 0` smoothly at the cutoff.

    Args:
        dim: node width; edge_dim: width of :math:`f_{ij}`; hidden: MLP width; reduce: aggregation.

    Shapes: ``h [N, dim]``, ``edge_attr [E, edge_dim]`` -> ``[N, dim]``.

    Book: chapter equivariance, section "An invariant MPNN".
    """

    def __init__(self, dim: int, edge_dim: int, hidden: int = 64, reduce: str = "sum"):
        super().__init__(dim, check_int(edge_dim, "edge_dim", minimum=1), hidden, reduce)
        self.filter = nn.Linear(self.edge_dim, self.dim, bias=False)

    def message(self, x_src, x_dst, edge_attr):
        return super().message(x_src, x_dst, edge_attr) * self.filter(edge_attr)


class InvariantMPNN(nn.Module):
    r"""Invariant MPNN on lengths (and angles, torsions): SchNet / DimeNet-lite.

    $$h^0_j = \mathrm{embed}(x_j), \quad h^{l+1} = \mathrm{InvariantLayer}(h^l, f), \quad
    y_g = \sum_{j \in g} \mathrm{head}(h^L_j)$$

    with :math:`f` = :func:`edge_invariants`.  E(3)-invariant, except with
    ``torsions=True, chiral=True``: SE(3)-invariant, a mirror image gets another output.

    Args:
        in_dim, out_dim: widths of x and of the output; width, layers, hidden: network sizes;
        num_basis, cutoff, basis (``"bessel"`` or ``"gaussian"``), envelope: the radial basis;
        angles, torsions, chiral: which face features (see :func:`edge_invariants`);
        readout: ``"nodes"`` (``[N, out_dim]``), ``"sum"`` or ``"mean"`` (``[num_graphs, out_dim]``).

    ``forward(x [N, in_dim], pos [N, 3], edge_index [2, E], batch [N] | None, num_graphs | None)``.

    Book: chapter equivariance, section "An invariant MPNN".
    """

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 32, layers: int = 3, hidden: int = 64,
                 num_basis: int = 8, cutoff: float = 5.0, basis: str = "bessel", envelope: str | None = "polynomial",
                 angles: bool = False, torsions: bool = False, chiral: bool = True, readout: str = "sum"):
        super().__init__()
        if basis not in ("bessel", "gaussian"):
            raise ValueError(f"basis must be 'bessel' or 'gaussian', got {basis!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        angles, torsions, chiral = check_bool(angles, "angles"), check_bool(torsions, "torsions"), check_bool(chiral, "chiral")
        in_dim, out_dim = check_int(in_dim, "in_dim", minimum=1), check_int(out_dim, "out_dim", minimum=1)
        width, hidden, layers = check_int(width, "width", minimum=1), check_int(hidden, "hidden", minimum=1), check_int(layers, "layers")
        self.angles, self.torsions, self.chiral, self.readout = angles, torsions, chiral, readout
        self.rbf = (BesselBasis if basis == "bessel" else GaussianBasis)(num_basis, cutoff, envelope)
        edge_dim = self.rbf.num_basis * (1 + 2 * angles + 2 * torsions)
        self.embed = nn.Linear(in_dim, width)
        self.layers = nn.ModuleList(InvariantLayer(width, edge_dim, hidden) for _ in range(layers))
        self.head = mlp(width, hidden, out_dim)

    def forward(self, x, pos, edge_index, batch=None, num_graphs=None):
        check_inputs(x, edge_index)
        check_features(x, self.embed.in_features, self.embed.weight, "x", "this InvariantMPNN")
        check_pos(pos, x.shape[0], x.dtype)
        f = edge_invariants(pos, edge_index, self.rbf, self.angles, self.torsions, self.chiral)
        h = self.embed(x)
        for layer in self.layers:  # inputs validated above
            h = layer.propagate(h, edge_index, f)
        return _pool(self.head(h), self.readout, batch, num_graphs)


class EGNNLayer(MessagePassing):
    r"""E(n)-equivariant layer (Satorras et al.), in the package's src -> dst direction.

    $$m_{ij} = \phi_e(h_i, h_j, |r_j - r_i|^2, a_{ij}), \qquad
    h'_j = h_j + \phi_h\Big(h_j, \sum_{i > j} m_{ij}\Big),$$
    $$r'_j = r_j + C \sum_{i > j} \frac{r_j - r_i}{|r_j - r_i| + 1}\ \phi_x(m_{ij})$$

    (the :math:`|r_j - r_i| + 1` normalisation of EDM; :math:`C = 1/\deg(j)` for
    ``pos_reduce="mean"``, 1 for ``"sum"``).  The update of :math:`r_j` is a sum of
    scalar weights times edge vectors: it rotates with the molecule and ignores
    translations, so :math:`h'` is E(3)-invariant and :math:`r'` E(3)-equivariant.
    ``coords_range`` bounds :math:`\phi_x` by ``coords_range * tanh`` (as EDM).

    Args:
        dim: width of h; edge_dim: width of the optional edge attributes :math:`a_{ij}`;
        hidden: MLP width; pos_reduce: ``"mean"`` or ``"sum"``; coords_range: float or None.

    ``forward(h [N, dim], pos [N, 3], edge_index [2, E], edge_attr [E, edge_dim] | None)``
    returns ``(h' [N, dim], pos' [N, 3])``.

    A :class:`~minignn.mpnn.MessagePassing` on the node state :math:`(h, r)`: ``message`` returns the
    pair :math:`(m_{ij},\ (r_j - r_i) \phi_x(m_{ij}) / (|r_j - r_i| + 1))`, aggregated by
    ``("sum", pos_reduce)``, and ``update`` adds both.  ``edge_messages`` computes the same messages
    faster (the first linear layer of :math:`\phi_e` per node, then gathered; without autograd, in two
    reused scratch buffers), tested equal to the plain path.

    Book: chapter equivariance, section "An equivariant MPNN".
    """

    def __init__(self, dim: int, edge_dim: int = 0, hidden: int = 64, pos_reduce: str = "mean",
                 coords_range: float | None = None):
        if pos_reduce not in ("mean", "sum"):
            raise ValueError(f"pos_reduce must be 'mean' or 'sum', got {pos_reduce!r}")
        super().__init__(reduce=("sum", pos_reduce))
        dim, edge_dim, hidden = check_int(dim, "dim", minimum=1), check_int(edge_dim, "edge_dim"), check_int(hidden, "hidden", minimum=1)
        if coords_range is not None:
            coords_range = check_number(coords_range, "coords_range", minimum=0, strict_minimum=True)
        self.dim, self.edge_dim, self.pos_reduce, self.coords_range = dim, edge_dim, pos_reduce, coords_range
        self.phi_e = nn.Sequential(mlp(2 * dim + 1 + edge_dim, hidden, hidden), nn.SiLU())
        self.phi_h = mlp(dim + hidden, hidden, dim)
        self.phi_x = mlp(hidden, hidden, 1)
        nn.init.xavier_uniform_(self.phi_x[-1].weight, gain=0.001)  # start near the identity
        nn.init.zeros_(self.phi_x[-1].bias)

    def forward(self, h, pos, edge_index, edge_attr=None):
        n = check_inputs(h, edge_index, edge_attr)
        check_features(h, self.dim, self.phi_e[0][0].weight, "h", "this layer")
        check_pos(pos, n, h.dtype)
        check_edge_attr(edge_attr, self.edge_dim, "this layer", self.phi_e[0][0].weight)
        return self.propagate((h, pos), edge_index, edge_attr)

    def message(self, x_src, x_dst, edge_attr):
        """The formula, one edge row at a time: ``((h_i, r_i), (h_j, r_j), a_ij) -> (m_ij [E, hidden], [E, 3])``."""
        (h_i, r_i), (h_j, r_j) = x_src, x_dst
        vec = r_j - r_i  # [E, 3]
        dist = _norm(vec).unsqueeze(-1)  # [E, 1]
        m = self.phi_e(torch.cat([h_i, h_j, dist * dist] + ([edge_attr] if self.edge_dim else []), dim=-1))
        return m, vec / (dist + 1.0) * self._weight(m)

    def update(self, x, aggregated):
        (h, pos), (m_sum, shift) = x, aggregated
        return h + self.phi_h(torch.cat([h, m_sum], dim=-1)), pos + shift

    def _weight(self, m: Tensor) -> Tensor:
        w = self.phi_x(m)  # [E, 1]
        return w if self.coords_range is None else self.coords_range * torch.tanh(w)

    def edge_messages(self, x, edge_index, edge_attr):
        """The messages of :meth:`message`, with the first linear layer of phi_e applied per node."""
        h, pos = x
        src, dst = edge_index
        if not torch.is_grad_enabled() and type(self.phi_e[1]) is nn.SiLU:
            return self._messages_without_autograd(h, pos, src, dst, edge_attr)
        vec = edge_vectors(pos, edge_index, validate=False)  # r_dst - r_src, [E, 3]
        dist = _norm(vec).unsqueeze(-1)  # [E, 1]
        m = self.phi_e[1](self.phi_e[0][1:](self._first_edge_layer(h, src, dst, dist * dist, edge_attr)))  # [E, hidden]
        return m, vec / (dist + 1.0) * self._weight(m)

    def _messages_without_autograd(self, h, pos, src, dst, edge_attr):
        r""":meth:`edge_messages` without autograd (sampling): the same operations, but the two ``[E, hidden]``
        intermediates live in scratch buffers reused from call to call (:func:`_scratch`) and are updated in
        place.  A sampler calls the model hundreds of times on the same graph; allocating and freeing those
        buffers at every call made the allocator return them to the operating system and page-fault them back
        in (16.6 million minor faults for 100 molecules, a third of the time).  The returned ``m`` is a scratch
        buffer: valid until the next call."""
        vec = pos.index_select(0, dst) - pos.index_select(0, src)  # r_dst - r_src, [E, 3]
        dist = _norm(vec).unsqueeze(-1)  # [E, 1]
        first, second = self.phi_e[0][0], self.phi_e[0][2]
        dim, hidden, num_edges = h.shape[1], first.out_features, src.numel()
        node = h @ torch.cat([first.weight[:, :dim], first.weight[:, dim : 2 * dim]]).T  # [N, 2 hidden]
        a = _scratch("egnn_a", (num_edges, hidden), h.dtype, h.device)
        b = _scratch("egnn_b", (num_edges, hidden), h.dtype, h.device)
        torch.index_select(node[:, :hidden], 0, src, out=a)  # W_1 h_i
        a.add_(torch.index_select(node[:, hidden:], 0, dst, out=b))  # + W_2 h_j
        a.addmm_(dist * dist, first.weight[:, 2 * dim : 2 * dim + 1].T)  # + w_3 d^2
        if self.edge_dim:
            a.addmm_(edge_attr, first.weight[:, 2 * dim + 1 :].T)  # + W_4 a
        a.add_(first.bias)
        nn.functional.silu(a, inplace=True)
        m = nn.functional.silu(torch.addmm(second.bias, a, second.weight.T, out=b), inplace=True)  # m_ij
        lin1, lin2 = self.phi_x[0], self.phi_x[2]
        nn.functional.silu(torch.addmm(lin1.bias, m, lin1.weight.T, out=a), inplace=True)
        w = torch.addmm(lin2.bias, a, lin2.weight.T)  # [E, 1]
        if self.coords_range is not None:
            w = self.coords_range * torch.tanh(w)
        return m, vec.div_(dist.add_(1.0)).mul_(w)

    def _first_edge_layer(self, h, src, dst, d2, edge_attr):
        r"""The first linear layer of :math:`\phi_e` on ``[h_src, h_dst, d2, a]``, computed as
        :math:`W_1 h_i + W_2 h_j + w_3 d^2 + W_4 a + b`: the two node terms are products of N rows, then
        gathered, instead of one product of E concatenated rows (same weights, same result, ~E/N times fewer
        flops for that layer; E/N = n - 1 on the complete graph of a molecule of n atoms)."""
        first = self.phi_e[0][0]
        dim = h.shape[1]
        node = h @ torch.cat([first.weight[:, :dim], first.weight[:, dim : 2 * dim]]).T  # [N, 2 hidden]: W_1 h, W_2 h
        a_src, a_dst = node.chunk(2, dim=-1)
        rest = d2 @ first.weight[:, 2 * dim : 2 * dim + 1].T
        if self.edge_dim:
            rest = rest + edge_attr @ first.weight[:, 2 * dim + 1 :].T
        return a_src[src] + a_dst[dst] + rest + first.bias


class EGNN(nn.Module):
    r"""A stack of :class:`EGNNLayer`: embed h, update (h, r) ``layers`` times, project h.

    $$(h^0, r^0) = (\mathrm{embed}(x), r), \quad (h^{l+1}, r^{l+1}) = \mathrm{EGNNLayer}(h^l, r^l), \quad
    \mathrm{out} = (\mathrm{proj}(h^L), r^L)$$

    Args:
        in_dim: width of x; out_dim: width of the output h (default ``in_dim``);
        width, layers, hidden: sizes; edge_dim, pos_reduce, coords_range: as :class:`EGNNLayer`.

    ``forward(x [N, in_dim], pos [N, 3], edge_index [2, E], edge_attr | None)`` returns
    ``(h [N, out_dim], pos' [N, 3])``: invariant h, equivariant pos'.  The graphs of a
    batch never exchange messages, so a batch needs no ``batch`` vector.  ``forward`` validates
    its inputs once; :meth:`propagate` (what a model built on top calls) does not.

    Book: chapter equivariance, section "An equivariant MPNN".
    """

    def __init__(self, in_dim: int, out_dim: int | None = None, width: int = 64, layers: int = 4,
                 hidden: int | None = None, edge_dim: int = 0, pos_reduce: str = "mean",
                 coords_range: float | None = None):
        super().__init__()
        in_dim, width, layers = check_int(in_dim, "in_dim", minimum=1), check_int(width, "width", minimum=1), check_int(layers, "layers")
        out_dim = in_dim if out_dim is None else check_int(out_dim, "out_dim", minimum=1)
        hidden = width if hidden is None else check_int(hidden, "hidden", minimum=1)
        self.edge_dim = check_int(edge_dim, "edge_dim")
        self.embed = nn.Linear(in_dim, width)
        self.layers = nn.ModuleList(
            EGNNLayer(width, edge_dim, hidden, pos_reduce, coords_range) for _ in range(layers))
        self.proj = nn.Linear(width, out_dim)

    def forward(self, x, pos, edge_index, edge_attr=None):
        n = check_inputs(x, edge_index, edge_attr)
        check_features(x, self.embed.in_features, self.embed.weight, "x", "this EGNN")
        check_pos(pos, n, x.dtype)
        check_edge_attr(edge_attr, self.edge_dim, "this EGNN", self.embed.weight)
        return self.propagate(x, pos, edge_index, edge_attr)

    def propagate(self, x, pos, edge_index, edge_attr=None, return_messages: bool = False):
        """The layers on validated inputs.  ``return_messages``: also return the last layer's messages
        ``m_ij [E, hidden]`` (for an edge head), as a third output."""
        if return_messages and not self.layers:
            raise ValueError("return_messages needs at least one layer")
        state = (self.embed(x), pos)
        for k, layer in enumerate(self.layers):
            if return_messages and k == len(self.layers) - 1:
                messages = layer.edge_messages(state, edge_index, edge_attr)
                state = layer.update(state, layer.aggregate(messages, edge_index[1], x.shape[0]))
                return self.proj(state[0]), state[1], messages[0]
            state = layer.propagate(state, edge_index, edge_attr)
        return self.proj(state[0]), state[1]


class EGNNRegressor(nn.Module):
    r"""Graph regression with an :class:`EGNN` backbone: :math:`y_g = \sum_{j \in g} \mathrm{head}(h^L_j)`.

    Invariant (the positions it computes are dropped).

    Args:
        in_dim, out_dim: widths of x and of the output; width, layers, hidden: as :class:`EGNN`;
        readout: ``"sum"``, ``"mean"`` or ``"nodes"``.

    ``forward(x [N, in_dim], pos [N, 3], edge_index [2, E], batch | None, num_graphs | None)``
    -> ``[num_graphs, out_dim]`` (``[N, out_dim]`` for ``"nodes"``).

    Book: chapter equivariance, section "Training under rotations".
    """

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 32, layers: int = 3,
                 hidden: int | None = None, readout: str = "sum"):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        self.readout = readout
        self.egnn = EGNN(in_dim, width, width, layers, hidden)
        self.head = mlp(self.egnn.embed.out_features, width if hidden is None else hidden, out_dim)

    def forward(self, x, pos, edge_index, batch=None, num_graphs=None):
        h, _ = self.egnn(x, pos, edge_index)
        return _pool(self.head(h), self.readout, batch, num_graphs)


class GradientForceModel(nn.Module):
    r"""Forces as the gradient of a learned invariant energy (Klipfel et al., conservative models).

    $$E = E_\theta(x, r), \qquad F_j = -\frac{\partial E}{\partial r_j}
    = -\sum_{k} \frac{\partial E}{\partial s_k} \nabla_{r_j} s_k$$

    where :math:`s_k` runs over the invariants the energy reads (lengths, angles,
    torsions).  If :math:`E(Q r + t) = E(r)` then :math:`F(Q r + t) = Q F(r)`: the
    chain rule turns invariants into equivariant vectors (edge directions
    :math:`\nabla d`, and the gradients of angles and torsions).  E(3)-equivariant when
    the energy is E(3)-invariant, SE(3) when it reads chiral torsions.

    Args:
        energy_model: a module (or any callable) ``(x, pos, edge_index, batch, num_graphs) ->
            [num_graphs, 1]``, e.g. :class:`InvariantMPNN` with ``out_dim=1``.

    ``forward(...)`` (same arguments) returns ``(energy [num_graphs], forces [N, 3])``.  The
    gradient keeps its graph (``create_graph``) in training mode or when ``pos`` requires
    grad, so a loss on the forces can be trained.

    Book: chapter equivariance, section "Forces as gradients".
    """

    def __init__(self, energy_model: nn.Module):
        super().__init__()
        if not callable(energy_model):
            raise ValueError(f"energy_model must be a module or a callable (x, pos, edge_index, batch, num_graphs) -> "
                             f"[num_graphs, 1], got {type(energy_model).__name__}")
        self.energy_model = energy_model

    def forward(self, x, pos, edge_index, batch=None, num_graphs=None):
        if not isinstance(pos, Tensor) or not pos.is_floating_point():
            got = pos.dtype if isinstance(pos, Tensor) else type(pos).__name__
            raise ValueError(f"pos must be a floating tensor [num_nodes, 3] (forces are -dE/dpos), got {got}")
        create_graph = self.training or pos.requires_grad
        with torch.enable_grad():
            pos_ = pos if pos.requires_grad else pos.detach().requires_grad_(True)
            energy = self.energy_model(x, pos_, edge_index, batch=batch, num_graphs=num_graphs)
            if energy.dim() != 2 or energy.shape[1] != 1:
                raise ValueError(f"energy_model must return [num_graphs, 1], got {list(energy.shape)}")
            (grad,) = torch.autograd.grad(energy.sum(), pos_, create_graph=create_graph, allow_unused=True)
        forces = torch.zeros_like(pos) if grad is None else -grad
        energy = energy.squeeze(-1)
        return (energy, forces) if create_graph else (energy.detach(), forces.detach())


class CoordinateMPNN(nn.Module):
    r"""The naive baseline: the MPNN of chapter mpnn with raw coordinates glued to the node features.

    $$h^0_j = \mathrm{embed}([x_j, r_j]), \qquad h^{l+1} = \mathrm{MPNNLayer}(h^l), \qquad
    y_g = \mathrm{head}\Big(\sum_{j \in g} h^L_j\Big)$$

    Permutation-invariant, but neither rotation- nor translation-invariant: the same
    molecule presented otherwise gets another output, and any invariance must be
    learnt from data.

    Args:
        in_dim, out_dim: widths of x and of the output; width, layers, hidden: as :class:`~minignn.mpnn.MPNN`.

    ``forward(x [N, in_dim], pos [N, 3], edge_index [2, E], batch | None, num_graphs | None)``
    -> ``[num_graphs, out_dim]``.

    Book: chapter equivariance, section "A naive model".
    """

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 32, layers: int = 2, hidden: int = 64):
        super().__init__()
        self.mpnn = MPNN(in_dim + 3, out_dim, width, layers, hidden=hidden, readout="sum")

    def forward(self, x, pos, edge_index, batch=None, num_graphs=None):
        embed = self.mpnn.embed  # reads [x, pos]: x has 3 columns fewer
        check_features(x, embed.in_features - 3, embed.weight, "x", "this CoordinateMPNN")
        check_pos(pos, x.shape[0], x.dtype)  # edge_index: checked by the MPNN
        return self.mpnn(torch.cat([x, pos], dim=-1), edge_index, batch=batch, num_graphs=num_graphs)


class HarmonicDescriptor(nn.Module):
    r"""Spherical-harmonics environment of each atom and its power spectrum.

    $$A_{j,klm} = \sum_{i > j} e_k(d_{ij})\, Y_{lm}(\hat r_{ij}), \qquad
    P_{j,kl} = \sum_{m=-l}^{l} A_{j,klm}^2$$

    with :math:`\hat r_{ij} = (r_j - r_i)/d_{ij}` and :math:`e_k` a Bessel basis.  A
    rotation mixes the :math:`2l + 1` coefficients of degree :math:`l` by an
    orthogonal :math:`D_l(Q)`, so the sum over m is E(3)-invariant.  With
    ``privileged_m=m`` the layer keeps a single quantum number,
    :math:`P_{j,kl} = A_{j,klm}^2` (degrees :math:`l \ge |m|`), and loses that invariance:
    that is the slides' warning.  Even the rotations about the z axis do not all keep it:
    a rotation by :math:`\varphi` about z mixes the real components m and -m,

    $$A_{m} \mapsto \cos(m\varphi)\, A_{m} - \sin(m\varphi)\, A_{-m}, \qquad
    A_{-m} \mapsto \sin(m\varphi)\, A_{m} + \cos(m\varphi)\, A_{-m} \quad (m > 0),$$

    so :math:`A_m^2` is kept for every :math:`\varphi` only when :math:`m = 0`; for
    :math:`m \ne 0` only by the angles :math:`\varphi \in (\pi / |m|)\,\mathbb{Z}`, while the pair
    sum :math:`A_m^2 + A_{-m}^2` is kept by every rotation about z.

    Args:
        l_max: largest degree; num_basis, cutoff: the radial basis; privileged_m: None or an int.

    ``forward(pos [N, 3], edge_index [2, E])`` -> ``[N, num_basis * (number of degrees)]``.

    Book: chapter equivariance, section "Spherical harmonics".
    """

    def __init__(self, l_max: int = 3, num_basis: int = 4, cutoff: float = 5.0, privileged_m: int | None = None):
        super().__init__()
        l_max = check_int(l_max, "l_max")
        if privileged_m is not None:
            privileged_m = check_int(privileged_m, "privileged_m", minimum=None)
        if privileged_m is not None and not abs(privileged_m) <= l_max:
            raise ValueError(f"privileged_m must be None or in [-l_max, l_max] = [{-l_max}, {l_max}], "
                             f"got {privileged_m}")
        self.l_max, self.privileged_m = l_max, privileged_m
        self.rbf = BesselBasis(num_basis, cutoff)

    def forward(self, pos, edge_index):
        vec = edge_vectors(pos, edge_index)  # [E, 3]
        Y = spherical_harmonics(self.l_max, vec)  # [E, (l_max+1)^2]
        e = self.rbf(_norm(vec))  # [E, K]
        A = scatter((e.unsqueeze(-1) * Y.unsqueeze(1)).flatten(1), edge_index[1], dim=0, dim_size=pos.shape[0])
        A = A.view(pos.shape[0], e.shape[1], Y.shape[1])  # [N, K, (l_max+1)^2]
        m = self.privileged_m
        if m is None:
            P = [A[..., degree_slice(l)].pow(2).sum(-1) for l in range(self.l_max + 1)]
        else:
            P = [A[..., lm_index(l, m)].pow(2) for l in range(abs(m), self.l_max + 1)]
        return torch.stack(P, dim=-1).flatten(1)  # [N, K * degrees]
