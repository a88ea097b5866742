r"""MACE: many-body features from products of an atomic basis.

$$A_{j,k} = \sum_{i > j} R_{\theta,k}(d_{ij})\, \big(\tilde h_{i,k} \otimes Y(\hat r_{ij})\big), \qquad
B^{(1)}_{j,k} = A_{j,k}, \qquad
B^{(\nu)}_{j,k,L} = \sum_{\text{paths}} w^{(\nu)}_{k,\text{path}}\, \big(B^{(\nu-1)}_{j,k} \otimes A_{j,k}\big)_L$$

$$m_j = \sum_{\nu=1}^{\nu_{\max}} W^{(\nu)} B^{(\nu)}_j, \qquad h'_j = m_j + W_{\text{self}} h_j, \qquad
E = \sum_j \sum_t \rho_t\big(h^{(t)}_{j, 0e}\big)$$

The *atomic basis* :math:`A_j` (:class:`AtomicBasis`) is one sum over the neighbours: a 2-body feature (the atom
and one neighbour at a time), equivariant block by block.  Its products with itself, taken channel by channel
(:math:`k`), are the *product basis*: :math:`B^{(\nu)}` is a polynomial of degree :math:`\nu` in :math:`A`, so it
reads :math:`\nu` neighbours at once, a :math:`(\nu+1)`-body feature, from a single sum over neighbours (the cost
of a 2-body model).  The products are coupled back to irreps with the Clebsch-Gordan coefficients, one degree
after the other (intermediate degrees up to ``l_max``); since the factors are the same vector :math:`A_{j,k}`, only
the symmetric products survive (e.g. :math:`A_1 \times A_1 = 0`), the space MACE's symmetric contraction spans.
The contraction to :math:`L = 0` gives invariants (:math:`\nu = 2`: the power spectrum, angles between pairs of
neighbours; :math:`\nu = 3`: the bispectrum), to :math:`L > 0` equivariant outputs.  :math:`\nu_{\max}` is the
*correlation order* (body order :math:`\nu_{\max} + 1` in one layer).

:class:`MACE` stacks layers (atomic basis, product basis, linear update) and sums a readout of the scalars of
each layer: an E(3)-invariant energy in the package's calling convention, like :class:`minignn.painn.PaiNN`.

Book: chapter spherical, section "MACE: many-body features".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from minignn.checks import check_int, check_number, describe
from minignn.clebsch_gordan import clebsch_gordan
from minignn.geometry import check_pos
from minignn.graph import check_edge_index
from minignn.irreps import Irreps
from minignn.mpnn import mlp
from minignn.pooling import global_pool
from minignn.tensor_product import Linear
from minignn.tfn import TFNConv, check_atom_types, edge_harmonics, hidden_irreps

__all__ = ["AtomicBasis", "ProductBasis", "MACELayer", "MACEConfig", "MACE"]


def _channel_offsets(irreps: Irreps) -> list[int]:
    offsets, start = [], 0
    for _, ir in irreps:
        offsets.append(start)
        start += ir.dim
    return offsets


def _to_channels(x: Tensor, irreps: Irreps) -> Tensor:
    """``[n, irreps.dim]`` (block after block, copies within a block) -> ``[n, k, sum (2l+1)]`` (one row per channel)."""
    k = irreps[0][0]
    blocks = x.split([mul * ir.dim for mul, ir in irreps], dim=-1)
    return torch.cat([b.reshape(x.shape[0], k, ir.dim) for b, (_, ir) in zip(blocks, irreps)], dim=-1)


def _from_channels(x: Tensor, irreps: Irreps) -> Tensor:
    """The inverse of :func:`_to_channels`."""
    n, k = x.shape[0], irreps[0][0]
    blocks = x.split([ir.dim for _, ir in irreps], dim=-1)
    return torch.cat([b.reshape(n, k * ir.dim) for b, (_, ir) in zip(blocks, irreps)], dim=-1)


def _coupling_tensor(prev: Irreps, irreps_A: Irreps, irreps: Irreps, paths) -> Tensor:
    """All the paths of one product level in one float64 tensor ``[P, dim_prev, dim_A, dim_out]`` (per channel)."""
    op, oa, oo = _channel_offsets(prev), _channel_offsets(irreps_A), _channel_offsets(irreps)
    T = torch.zeros(len(paths), sum(ir.dim for _, ir in prev), sum(ir.dim for _, ir in irreps_A),
                    sum(ir.dim for _, ir in irreps), dtype=torch.float64)
    for p, (i1, i2, io, alpha) in enumerate(paths):
        (_, a), (_, b), (_, c) = prev[i1], irreps_A[i2], irreps[io]
        C = clebsch_gordan(a.l, b.l, c.l) * math.sqrt(c.dim) * alpha
        T[p, op[i1]:op[i1] + a.dim, oa[i2]:oa[i2] + b.dim, oo[io]:oo[io] + c.dim] = C
    return T


class AtomicBasis(TFNConv):
    r"""The atomic basis :math:`A_j = \sum_{i > j} R_\theta(d_{ij})\, \big(W h_i \otimes Y(\hat r_{ij})\big)`.

    $$A_{j,k,L} = \frac{1}{\sqrt{\bar n}} W_{\text{out}} \sum_{i > j} R_{\theta}(d_{ij})\,
    \big(h_{i} \otimes Y(\hat r_{ij})\big)_{k, L}$$

    A :class:`minignn.tfn.TFNConv` without self-connection: one sum over neighbours (2-body), every block
    equivariant.  Arguments as ``TFNConv`` (``irreps_in`` of :math:`h`, ``irreps_out`` of :math:`A`, which must
    give every block the same multiplicity, the number of channels :math:`k`).

    ``forward(x [N, irreps_in.dim], pos [N, 3], edge_index [2, E])`` -> ``[N, irreps_out.dim]``.

    Book: chapter spherical, section "MACE: many-body features".
    """

    def __init__(self, irreps_in, irreps_out, l_max: int = 2, num_basis: int = 8, cutoff: float = 5.0,
                 hidden: int = 16, avg_neighbors: float = 1.0):
        super().__init__(irreps_in, irreps_out, l_max, num_basis, cutoff, hidden, avg_neighbors, self_connection=False)


class ProductBasis(nn.Module):
    r"""Symmetric products of the atomic basis up to correlation order :math:`\nu_{\max}`, contracted to irreps.

    $$B^{(1)} = A, \qquad B^{(\nu)}_{k,L} = \sum_{(l, l') \to L} \frac{w^{(\nu)}_{z, k, (l,l',L)}}{\sqrt{n_L}}
    \sqrt{2L+1}\, C^{L} : \big(B^{(\nu-1)}_{k,l} \otimes A_{k,l'}\big), \qquad
    \mathrm{out} = \sum_{\nu} W^{(\nu)} B^{(\nu)}$$

    channel by channel (:math:`k`), intermediate degrees :math:`L \le` ``l_max`` (both parities), :math:`n_L` the
    number of paths into :math:`L`; the weights depend on the atom type :math:`z` when ``num_types`` is given
    (MACE's element-dependent contraction), and :math:`W^{(\nu)}` are :class:`~minignn.tensor_product.Linear`.
    The paths of a level are stored together, one coupling tensor ``[P, dim_prev, dim_A, dim_out]`` per channel
    (computed in float64, cast once per dtype and device), and contracted in one product after the weights are
    folded in.

    Args:
        irreps_A: the irreps of :math:`A`, every block with the same multiplicity :math:`k`.
        correlation: :math:`\nu_{\max} \ge 1`.
        irreps_out: the irreps of the output.
        num_types: None (weights shared by all atoms) or the number of atom types.

    ``forward(A [N, irreps_A.dim], types [N] int64 | None)`` -> ``[N, irreps_out.dim]``; ``basis(A, types)``
    returns the list :math:`[B^{(1)}, \dots, B^{(\nu_{\max})}]` (irreps in ``irreps_B``).

    Book: chapter spherical, section "MACE: many-body features".
    """

    def __init__(self, irreps_A, correlation: int, irreps_out, num_types: int | None = None):
        super().__init__()
        self.irreps_A, self.irreps_out = Irreps(irreps_A), Irreps(irreps_out)
        muls = {mul for mul, _ in self.irreps_A}
        if len(muls) != 1:
            raise ValueError(f"irreps_A must give every block the same multiplicity (the channels k), "
                             f"got {self.irreps_A}")
        self.channels = muls.pop()
        self.correlation = check_int(correlation, "correlation", minimum=1)
        self.num_types = None if num_types is None else check_int(num_types, "num_types", minimum=1)
        self.l_max = self.irreps_A.lmax
        k = self.channels
        self.irreps_B = [self.irreps_A]  # B^(1) = A
        self.paths = [[]]
        self._coupling64: list[Tensor] = [torch.zeros(0)]  # float64 masters, cast once per dtype and device
        self._coupling_cache: dict = {}
        self.weights = nn.ParameterList()
        for _ in range(2, self.correlation + 1):
            prev = self.irreps_B[-1]
            reachable = sorted({ir for _, a in prev for _, b in self.irreps_A for ir in a * b if ir.l <= self.l_max},
                               key=lambda ir: (ir.l, -ir.p))
            irreps = Irreps([(k, ir) for ir in reachable])
            paths = [(i1, i2, io) for i1, (_, a) in enumerate(prev) for i2, (_, b) in enumerate(self.irreps_A)
                     for io, (_, ir) in enumerate(irreps) if ir in a * b]
            fan = {io: sum(1 for *_, o in paths if o == io) for io in range(len(irreps))}
            self.paths.append([(i1, i2, io, 1 / math.sqrt(fan[io])) for i1, i2, io in paths])
            self._coupling64.append(_coupling_tensor(prev, self.irreps_A, irreps, self.paths[-1]))
            self.irreps_B.append(irreps)
            shape = (len(paths), k) if self.num_types is None else (self.num_types, len(paths), k)
            self.weights.append(nn.Parameter(torch.randn(shape)))
        self.linears = nn.ModuleList(Linear(irreps, self.irreps_out) for irreps in self.irreps_B)

    def basis(self, A: Tensor, types: Tensor | None = None) -> list[Tensor]:
        """:math:`[B^{(1)}, \\dots, B^{(\\nu_{\\max})}]`, each ``[N, irreps_B[nu - 1].dim]``."""
        self.irreps_A.check(A, "A")
        if A.dim() != 2:
            raise ValueError(f"A must have shape [N, {self.irreps_A.dim}], got {describe(A)}")
        if self.num_types is not None:
            check_atom_types(types, self.num_types)
            if types.shape[0] != A.shape[0]:
                raise ValueError(f"types must have one entry per row of A ({A.shape[0]}), got {types.shape[0]}")
        elif types is not None:
            raise ValueError("this ProductBasis shares its weights between atom types (num_types=None) but got types; "
                             "build it with num_types to use them")
        return self._basis(A, types)

    def _coupling(self, nu: int, like: Tensor) -> Tensor:
        key = (nu, like.dtype, like.device)
        if key not in self._coupling_cache:
            self._coupling_cache[key] = self._coupling64[nu].to(dtype=like.dtype, device=like.device)
        return self._coupling_cache[key]

    def _basis(self, A: Tensor, types: Tensor | None) -> list[Tensor]:
        a = _to_channels(A, self.irreps_A)  # [n, k, sum (2l+1)]: the channel k first, then its components
        x, out = a, [A]
        for nu in range(1, self.correlation):
            W = self.weights[nu - 1]  # [P, k] or [num_types, P, k]
            T = self._coupling(nu, A)  # [P, dim_prev, dim_A, dim_out]: alpha sqrt(2L+1) C of each path, in place
            xa = (x.unsqueeze(-1) * a.unsqueeze(-2)).flatten(-2)  # [n, k, dim_prev * dim_A]
            T = T.flatten(1, 2)  # [P, dim_prev * dim_A, dim_out]
            if types is None:  # the weights folded into the coupling first: one [k, ij, c] tensor
                x = torch.einsum("nuq,uqc->nuc", xa, torch.einsum("pu,pqc->uqc", W, T))
            else:  # one folded tensor per atom type: every type applied, each atom's own kept (faster on CPU than
                # gathering a [n, k, ij, c] tensor per atom or contracting path by path)
                every = torch.einsum("nuq,tuqc->ntuc", xa, torch.einsum("tpu,pqc->tuqc", W, T))
                x = every[torch.arange(xa.shape[0], device=xa.device), types]
            out.append(_from_channels(x, self.irreps_B[nu]))
        return out

    def forward(self, A: Tensor, types: Tensor | None = None) -> Tensor:
        return self._contract(self.basis(A, types))

    def _contract(self, Bs: list[Tensor]) -> Tensor:
        return sum(linear._forward(B) for linear, B in zip(self.linears, Bs))

    def extra_repr(self) -> str:
        return f"A={self.irreps_A}, correlation={self.correlation}, out={self.irreps_out}, num_types={self.num_types}"


class MACELayer(nn.Module):
    r"""One MACE interaction: atomic basis, product basis, linear update.

    $$A = \mathrm{AtomicBasis}(W_{\text{up}} h), \qquad h' = \mathrm{ProductBasis}(A) + W_{\text{self}}\, h$$

    Args:
        irreps_in, irreps_out: of :math:`h` and :math:`h'`; irreps_A: of the atomic basis (one multiplicity);
        l_max: degree of the edge harmonics; correlation: :math:`\nu_{\max}`; num_types: element-dependent
        product weights (None: shared); num_basis, cutoff, hidden, avg_neighbors: as :class:`minignn.tfn.TFNConv`.

    ``forward(x [N, irreps_in.dim], pos [N, 3], edge_index [2, E], types=None)`` -> ``[N, irreps_out.dim]``.

    Book: chapter spherical, section "MACE: many-body features".
    """

    def __init__(self, irreps_in, irreps_out, irreps_A, l_max: int = 2, correlation: int = 3,
                 num_types: int | None = None, num_basis: int = 8, cutoff: float = 5.0, hidden: int = 16,
                 avg_neighbors: float = 1.0):
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self.up = Linear(self.irreps_in, self.irreps_in)
        self.atomic = AtomicBasis(self.irreps_in, irreps_A, l_max, num_basis, cutoff, hidden, avg_neighbors)
        self.product = ProductBasis(irreps_A, correlation, self.irreps_out, num_types)
        self.skip = Linear(self.irreps_in, self.irreps_out)

    def propagate(self, x: Tensor, edge_index: Tensor, edge_attr, types: Tensor | None = None) -> Tensor:
        """On validated inputs; ``edge_attr = (Y, rbf)`` as :meth:`minignn.tfn.TFNConv.propagate`."""
        A = self.atomic.propagate(self.up._forward(x), edge_index, edge_attr)
        return self.product._contract(self.product._basis(A, types)) + self.skip._forward(x)

    def forward(self, x: Tensor, pos: Tensor, edge_index: Tensor, types: Tensor | None = None) -> Tensor:
        self.irreps_in.check(x, "x")
        if x.dim() != 2:
            raise ValueError(f"x must have shape [N, {self.irreps_in.dim}], got {describe(x)}")
        check_edge_index(edge_index, x.shape[0])
        check_pos(pos, x.shape[0], x.dtype)
        if (self.product.num_types is None) != (types is None):
            raise ValueError("types must be given exactly when the layer was built with num_types "
                             f"(num_types={self.product.num_types}, types {'None' if types is None else 'given'})")
        if types is not None:
            check_atom_types(types, self.product.num_types)
        Y, d = edge_harmonics(pos, edge_index, self.atomic.l_max, validate=False)
        return self.propagate(x, edge_index, (Y, self.atomic.rbf(d)), types)


@dataclass
class MACEConfig:
    """Sizes of a :class:`MACE` (plain numbers: stored in checkpoints)."""

    num_types: int = 5  # atom types (QM7: H, C, N, O, S)
    width: int = 16  # channels k
    l_max: int = 1  # largest degree of the hidden features, of A and of the edge harmonics
    correlation: int = 3  # nu_max: body order nu_max + 1 per layer
    layers: int = 2
    num_basis: int = 8
    cutoff: float = 5.0  # Angstrom
    hidden: int = 16  # radial MLP
    avg_neighbors: float = 10.0

    def __post_init__(self):
        self.num_types = check_int(self.num_types, "num_types", minimum=1)
        self.width = check_int(self.width, "width", minimum=2)
        self.l_max = check_int(self.l_max, "l_max")
        self.correlation = check_int(self.correlation, "correlation", minimum=1)
        self.layers = check_int(self.layers, "layers", minimum=1)
        self.num_basis = check_int(self.num_basis, "num_basis", minimum=1)
        self.cutoff = check_number(self.cutoff, "cutoff", minimum=0, strict_minimum=True)
        self.hidden = check_int(self.hidden, "hidden", minimum=1)
        self.avg_neighbors = check_number(self.avg_neighbors, "avg_neighbors", minimum=0, strict_minimum=True)


class MACE(nn.Module):
    r"""A small MACE energy model (module docstring):

    $$h^{(0)}_j = \mathrm{embed}(z_j), \qquad h^{(t+1)} = \mathrm{MACELayer}(h^{(t)}), \qquad
    y_g = \sum_{j \in g} \Big(\sum_{t < T} w_t^\top h^{(t)}_{j,0e} + \rho\big(h^{(T)}_{j,0e}\big)\Big)$$

    Hidden irreps ``width x 0e + width x 1o + ...`` up to ``l_max`` (:func:`minignn.tfn.hidden_irreps`), atomic
    basis with both parities, element-dependent product weights.  E(3)-invariant and permutation-invariant.

    ``forward(x [N] int64 atom types, pos [N, 3], edge_index [2, E], batch [N] | None, num_graphs | None)``
    -> ``[num_graphs]``.

    Book: chapter spherical, section "MACE: many-body features".
    """

    def __init__(self, config: MACEConfig | None = None, **kwargs):
        super().__init__()
        if config is not None and kwargs:
            raise ValueError(f"give either a config or keyword arguments, got both (keywords {sorted(kwargs)})")
        if config is not None and not isinstance(config, MACEConfig):
            raise ValueError(f"config must be a MACEConfig, got {type(config).__name__}")
        self.config = cfg = config or MACEConfig(**kwargs)
        self.embed = nn.Embedding(cfg.num_types, cfg.width)
        hidden = hidden_irreps(cfg.width, cfg.l_max)
        irreps_A = hidden_irreps(cfg.width, cfg.l_max, pseudo=True)
        irreps = Irreps(f"{cfg.width}x0e")
        self.layers = nn.ModuleList()
        for t in range(cfg.layers):
            out = hidden if t < cfg.layers - 1 else Irreps(f"{cfg.width}x0e")  # the last layer: scalars only
            self.layers.append(MACELayer(irreps, out, irreps_A, cfg.l_max, cfg.correlation, cfg.num_types,
                                         cfg.num_basis, cfg.cutoff, cfg.hidden, cfg.avg_neighbors))
            irreps = out
        self.readouts = nn.ModuleList(nn.Linear(cfg.width, 1, bias=False) for _ in range(cfg.layers - 1))
        self.head = mlp(cfg.width, cfg.width // 2, 1)

    def forward(self, x, pos, edge_index, batch=None, num_graphs=None) -> Tensor:
        n = check_atom_types(x, self.config.num_types)
        check_pos(pos, n, self.embed.weight.dtype)
        check_edge_index(edge_index, n)
        Y, d = edge_harmonics(pos, edge_index, self.config.l_max, validate=False)
        rbf = self.layers[0].atomic.rbf(d)
        h = self.embed(x)  # [N, width]: width x 0e
        energy = h.new_zeros(n, 1)
        width = self.config.width
        for t, layer in enumerate(self.layers):
            h = layer.propagate(h, edge_index, (Y, rbf), x)
            scalars = h[:, :width]  # the first block is width x 0e
            energy = energy + (self.readouts[t](scalars) if t < len(self.readouts) else self.head(scalars))
        return global_pool(energy, batch, num_graphs, "sum").squeeze(-1)  # [num_graphs]

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())
