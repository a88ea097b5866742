r"""Tensor field networks: the TFN / NequIP convolution on irreps features, and a NequIP-like energy model.

$$h'_j = W_{\text{self}}\, h_j + W_{\text{out}}\, \frac{1}{\sqrt{\bar n}} \sum_{i > j}
R_\theta(d_{ij}) \big(h_i \otimes Y(\hat r_{ij})\big), \qquad \hat r_{ij} = \frac{r_j - r_i}{d_{ij}}$$

The message of the edge :math:`i > j` (``src = i``, ``dst = j``, :math:`r_{ij} = r_j - r_i` as in
:func:`minignn.invariants.edge_vectors`) is the channel-wise tensor product (``"uvu"``,
:func:`minignn.tensor_product.channelwise_paths`) of the sender's features :math:`h_i` with the spherical harmonics
of the edge direction, one weight per channel and path computed from the distance by a radial MLP
:math:`R_\theta` (no biases: the Bessel basis and its envelope vanish at the cutoff, and so does every message).
Messages are summed at :math:`j` by :class:`minignn.mpnn.MessagePassing` (divided by :math:`\sqrt{\bar n}`, a fixed
typical number of neighbours), mixed by an equivariant :class:`~minignn.tensor_product.Linear`, and added to a
linear self-connection.  :math:`Y(\hat r)` is equivariant, :math:`R_\theta(d)` invariant and the product intertwines,
so every output block transforms by its own :math:`D_{l,p}(Q)`, reflections included.

:class:`NequIP` stacks such convolutions with :class:`minignn.gate.Gate` nonlinearities between them and sums a
readout of the final scalars: an E(3)-invariant energy ``forward(x, pos, edge_index, batch=None, num_graphs=None)``,
as :class:`minignn.painn.PaiNN`.

Book: chapter spherical, section "Tensor field networks and NequIP".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from minignn.checks import check_bool, check_int, check_number
from minignn.gate import Gate
from minignn.geometry import check_pos
from minignn.graph import check_edge_index
from minignn.invariants import edge_vectors
from minignn.irreps import Irreps
from minignn.mpnn import MessagePassing, check_inputs, mlp
from minignn.pooling import global_pool
from minignn.radial import BesselBasis
from minignn.spherical import spherical_harmonics
from minignn.tensor_product import Linear, TensorProduct, channelwise_paths

__all__ = ["edge_harmonics", "radial_mlp", "hidden_irreps", "check_atom_types", "TFNConv", "NequIPConfig", "NequIP"]


def edge_harmonics(pos: Tensor, edge_index: Tensor, l_max: int, *, validate: bool = True) -> tuple[Tensor, Tensor]:
    r"""Edge directions as harmonics and edge lengths: :math:`Y(\hat r_{ij})` ``[E, (l_max+1)^2]`` and
    :math:`d_{ij}` ``[E]``, with :math:`r_{ij} = r_j - r_i` (src to dst).

    ``validate`` checks ``pos`` and ``edge_index`` (a model that validated them once passes False).  Two atoms joined
    by an edge at the same position have no direction: a ``ValueError`` says so.  Harmonics in the ``"component"``
    normalisation (:math:`Y_0 = 1`, :math:`\sum_m Y_{lm}^2 = 2l + 1`), as NequIP and MACE use.

    Book: chapter spherical, section "Tensor field networks and NequIP".
    """
    l_max = check_int(l_max, "l_max")
    vec = edge_vectors(pos, edge_index, validate=check_bool(validate, "validate"))  # [E, 3]
    d = torch.linalg.vector_norm(vec, dim=-1)  # [E]
    if d.numel() and bool((d == 0).any()):
        raise ValueError("pos: two atoms joined by an edge sit at the same position (distance 0, no direction)")
    return spherical_harmonics(l_max, vec, normalization="component"), d


class _NormalizedSiLU(nn.Module):
    """SiLU scaled to unit second moment on N(0, 1) inputs (e3nn's ``normalize2mom``): signals keep their size."""

    def forward(self, x: Tensor) -> Tensor:
        return 1.6791767923989418 * torch.nn.functional.silu(x)


def radial_mlp(num_basis: int, hidden: int, out: int) -> nn.Sequential:
    r""":math:`R_\theta(d) = W_2\, \widetilde{\mathrm{SiLU}}(W_1 e(d))` without biases: 0 wherever the basis :math:`e(d)` is
    0 (beyond the cutoff), so messages vanish smoothly there.  Weights drawn from :math:`N(0, 1/\text{fan-in})` and the
    SiLU scaled to unit second moment, so unit-size inputs give unit-size weights (as e3nn's ``FullyConnectedNet``)."""
    num_basis, hidden = check_int(num_basis, "num_basis", minimum=1), check_int(hidden, "hidden", minimum=1)
    out = check_int(out, "out", minimum=1)
    net = nn.Sequential(nn.Linear(num_basis, hidden, bias=False), _NormalizedSiLU(), nn.Linear(hidden, out, bias=False))
    for layer in (net[0], net[2]):
        nn.init.normal_(layer.weight, std=layer.in_features ** -0.5)
    return net


def hidden_irreps(width: int, l_max: int, pseudo: bool = False) -> Irreps:
    """``width`` channels of each degree ``0..l_max`` with the parity of the harmonics (``0e + 1o + 2e ...``), and with
    ``pseudo`` the other parity too (``0o + 1e + 2o ...``): e.g. ``hidden_irreps(8, 1) == Irreps("8x0e + 8x1o")``."""
    width, l_max, pseudo = check_int(width, "width", minimum=1), check_int(l_max, "l_max"), check_bool(pseudo, "pseudo")
    items = []
    for l in range(l_max + 1):
        items.append((width, f"{l}{'e' if l % 2 == 0 else 'o'}"))
        if pseudo:
            items.append((width, f"{l}{'o' if l % 2 == 0 else 'e'}"))
    return Irreps(items)


class TFNConv(MessagePassing):
    r"""The TFN / NequIP convolution (module docstring):

    $$h'_j = W_{\text{self}}\, h_j + W_{\text{out}} \frac{1}{\sqrt{\bar n}} \sum_{i > j} R_\theta(d_{ij})\,
    \big(h_i \otimes Y(\hat r_{ij})\big)$$

    Args:
        irreps_in, irreps_out: :class:`~minignn.irreps.Irreps` of :math:`h` and :math:`h'`.
        l_max: largest degree of the edge harmonics :math:`Y`.
        num_basis, cutoff: the Bessel basis of the distances (polynomial envelope).
        hidden: width of the radial MLP.
        avg_neighbors: :math:`\bar n`, the typical number of neighbours (a fixed normalisation).
        self_connection: add :math:`W_{\text{self}} h_j` (False: the aggregated messages only, MACE's atomic basis).

    ``forward(x [N, irreps_in.dim], pos [N, 3], edge_index [2, E])`` -> ``[N, irreps_out.dim]``.  A model that
    validated its inputs calls ``propagate(x, edge_index, (Y, rbf))`` with ``Y, d = edge_harmonics(...)``,
    ``rbf = conv.rbf(d)``.

    Book: chapter spherical, section "Tensor field networks and NequIP".
    """

    def __init__(self, irreps_in, irreps_out, l_max: int = 2, num_basis: int = 8, cutoff: float = 5.0,
                 hidden: int = 16, avg_neighbors: float = 1.0, self_connection: bool = True):
        super().__init__(reduce="sum")
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self.l_max = check_int(l_max, "l_max")
        self.irreps_sh = Irreps.spherical_harmonics(self.l_max)
        self.avg_neighbors = check_number(avg_neighbors, "avg_neighbors", minimum=0, strict_minimum=True)
        mid, paths = channelwise_paths(self.irreps_in, self.irreps_sh, self.irreps_out)
        self.tp = TensorProduct(self.irreps_in, self.irreps_sh, mid, mode="uvu", shared_weights=False, paths=paths)
        self.rbf = BesselBasis(num_basis, cutoff, "polynomial")
        self.radial = radial_mlp(self.rbf.num_basis, check_int(hidden, "hidden", minimum=1), self.tp.weight_numel)
        self.linear = Linear(mid, self.irreps_out)
        self.skip = Linear(self.irreps_in, self.irreps_out) if check_bool(self_connection, "self_connection") else None

    def message(self, x_src, x_dst, edge_attr):
        Y, rbf = edge_attr
        return self.tp._forward(x_src, Y, self.radial(rbf))  # [E, mid.dim]

    def update(self, x, aggregated):
        out = self.linear._forward(aggregated / self.avg_neighbors ** 0.5)
        return out if self.skip is None else out + self.skip._forward(x)

    def forward(self, x: Tensor, pos: Tensor, edge_index: Tensor) -> Tensor:
        n = check_inputs(x, edge_index)
        self.irreps_in.check(x, "x")
        if x.dtype != self.radial[0].weight.dtype:
            raise ValueError(f"x has dtype {x.dtype} but the weights of this TFNConv are "
                             f"{self.radial[0].weight.dtype}; convert one of them")
        check_pos(pos, n, x.dtype)
        Y, d = edge_harmonics(pos, edge_index, self.l_max, validate=False)
        return self.propagate(x, edge_index, (Y, self.rbf(d)))

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}, l_max={self.l_max}, avg_neighbors={self.avg_neighbors}"


@dataclass
class NequIPConfig:
    """Sizes of a :class:`NequIP` (plain numbers: stored in checkpoints)."""

    num_types: int = 5  # atom types (QM7: H, C, N, O, S)
    width: int = 16  # channels per irrep
    l_max: int = 1  # largest degree of the features and of the edge harmonics
    layers: int = 3  # convolutions
    num_basis: int = 8  # Bessel functions
    cutoff: float = 5.0  # Angstrom
    hidden: int = 16  # radial MLP
    avg_neighbors: float = 10.0  # normalisation of the sum over neighbours
    pseudo: bool = False  # also carry the other parity (0o, 1e, ...)

    def __post_init__(self):
        self.num_types = check_int(self.num_types, "num_types", minimum=1)
        self.width = check_int(self.width, "width", minimum=2)
        self.l_max = check_int(self.l_max, "l_max")
        self.layers = check_int(self.layers, "layers", minimum=1)
        self.num_basis = check_int(self.num_basis, "num_basis", minimum=1)
        self.cutoff = check_number(self.cutoff, "cutoff", minimum=0, strict_minimum=True)
        self.hidden = check_int(self.hidden, "hidden", minimum=1)
        self.avg_neighbors = check_number(self.avg_neighbors, "avg_neighbors", minimum=0, strict_minimum=True)
        self.pseudo = check_bool(self.pseudo, "pseudo")


class NequIP(nn.Module):
    r"""A NequIP-like energy model: :math:`y_g = \sum_{j \in g} \rho\big(h^{(L)}_{j, 0e}\big)`.

    $$h^{(0)}_j = \mathrm{embed}(z_j) \ (\text{scalars}), \qquad
    h^{(t+1)} = \mathrm{Gate}\big(\mathrm{TFNConv}(h^{(t)})\big)$$

    with the hidden irreps :func:`hidden_irreps` (``width`` channels of each degree up to ``l_max``).  E(3)-invariant
    and permutation-invariant; the package's calling convention.

    ``forward(x [N] int64 atom types, pos [N, 3], edge_index [2, E], batch [N] | None, num_graphs | None)``
    -> ``[num_graphs]``.

    Book: chapter spherical, section "Tensor field networks and NequIP".
    """

    def __init__(self, config: NequIPConfig | None = None, **kwargs):
        super().__init__()
        if config is not None and kwargs:
            raise ValueError(f"give either a config or keyword arguments, got both (keywords {sorted(kwargs)})")
        if config is not None and not isinstance(config, NequIPConfig):
            raise ValueError(f"config must be a NequIPConfig, got {type(config).__name__}")
        self.config = cfg = config or NequIPConfig(**kwargs)
        self.embed = nn.Embedding(cfg.num_types, cfg.width)
        hidden = hidden_irreps(cfg.width, cfg.l_max, cfg.pseudo)
        irreps = Irreps(f"{cfg.width}x0e")
        self.convs, self.gates = nn.ModuleList(), nn.ModuleList()
        for _ in range(cfg.layers):
            gate = Gate(hidden)
            self.convs.append(TFNConv(irreps, gate.irreps_in, cfg.l_max, cfg.num_basis, cfg.cutoff, cfg.hidden,
                                      cfg.avg_neighbors))
            self.gates.append(gate)
            irreps = hidden
        self.readout = mlp(cfg.width, cfg.width // 2, 1)

    def forward(self, x, pos, edge_index, batch=None, num_graphs=None) -> Tensor:
        weight = self.embed.weight
        n = check_atom_types(x, self.config.num_types)
        check_pos(pos, n, weight.dtype)
        check_edge_index(edge_index, n)
        Y, d = edge_harmonics(pos, edge_index, self.config.l_max, validate=False)
        rbf = self.convs[0].rbf(d)  # the same basis in every layer
        h = self.embed(x)  # [N, width], width x 0e
        for conv, gate in zip(self.convs, self.gates):
            h = gate._forward(conv.propagate(h, edge_index, (Y, rbf)))
        scalars = h[:, : self.config.width]  # the first block: width x 0e
        return global_pool(self.readout(scalars), batch, num_graphs, "sum").squeeze(-1)  # [num_graphs]

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def check_atom_types(x, num_types: int) -> int:
    """Atom types ``x [N]`` int64 in ``[0, num_types - 1]``, as the energy models read them; returns N.

    Raises ``ValueError`` naming ``x`` (or the atom types), what was expected and what was got.
    """
    num_types = check_int(num_types, "num_types", minimum=1)
    if not isinstance(x, Tensor) or x.dim() != 1 or x.dtype != torch.int64:
        got = f"{x.dtype} {list(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must hold int64 atom types of shape [num_nodes], got {got}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_types):
        raise ValueError(f"atom types must lie in [0, {num_types - 1}], got [{int(x.min())}, {int(x.max())}]")
    return x.shape[0]
