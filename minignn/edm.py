r"""EDM: an E(3)-equivariant diffusion model for molecules (Hoogeboom et al. 2022).

A molecule of n atoms is x = (r, h): positions r [n, 3] in Angstrom and atom types h [n, K],
one-hot times s = 0.25 (EDM's scaling: the types are decided late in the reverse process).
The diffusion of minignn.diffusion runs on x, with one change for the positions: the noise is
projected to the zero-centre-of-mass subspace,

    P eps_r = eps_r - (1/n) sum_i eps_r,i,     x_t = sqrt(alpha_bar(t)) x_0 + sqrt(1 - alpha_bar(t)) (P eps_r, eps_h),

so x_t keeps sum_i r_i = 0.  In that subspace an isotropic Gaussian is invariant under rotations
(and no density is invariant under translations, which is why the centre of mass is removed).

The denoiser is the EGNN of chapter equivariance on the complete graph of each molecule, with
h^0 = [h_t, t] and the edge attribute |r_dst - r_src|^2 of x_t:

    (h^L, r^L) = EGNN([h_t, t], r_t),     eps_theta(x_t, t) = (P (r^L - r_t), h^L)

so eps_r rotates with the molecule and eps_h is invariant.  If the denoiser is equivariant and
x_1 ~ N(0, I) (projected), every reverse step commutes with rotations: the distribution of the
generated molecules is rotation invariant.  Generation: n ~ p(n) (the training counts), x_1 ~ N(0, I)
projected, a reverse sampler of minignn.diffusion with ``projection=`` P, then types = argmax h_0.

Packing: the samplers of minignn.diffusion see one tensor x = [r, h] of shape [N, 3 + K] for a
batch of molecules (``batch`` [N] gives the molecule of each atom) and one time per atom.

Book: chapter diffusion, sections "Molecules: the EDM model" and "Generating molecules".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor, nn

from minignn.checkpoint import CHECKPOINT_DIR, load_checkpoint, load_weights, save_checkpoint
from minignn.checks import check_bool, check_int, check_number
from minignn.datasets.atoms import AtomTypes
from minignn.datasets.molecules import MoleculeSet
from minignn.diffusion import (ancestral_sample, denoising_loss, euler_maruyama_sample, get_schedule, probability_flow_sample,
                               q_sample)
from minignn.schedules import check_time
from minignn.equivariant import EGNN
from minignn.geometry import center, check_pos
from minignn.graph import check_edge_index
from minignn.invariants import edge_vectors
from minignn.neighbours import fully_connected
from minignn.radial import GaussianBasis
from minignn.train import init_distributed, lr_factor

__all__ = ["EDMConfig", "EDM", "AtomCountDistribution", "remove_com", "encode", "edm_loss", "sample_molecules",
           "train_edm", "TrainLog", "EDMTrainer", "save_edm", "load_edm", "qm9_checkpoint_path", "SAMPLERS", "PUBLISHED_QM9",
           "PUBLISHED_COMPUTE", "draw_times", "bond_classes"]

FORMAT = "minignn.edm/1"
PARAMETRIZATIONS = ("eps", "x0")
TIME_SAMPLINGS = ("uniform", "low_noise")
NUM_BOND_CLASSES = 4  # no bond, single, double, triple
SIGMA_MIN = 1e-4  # x0 -> eps divides by sigma(t); t = 0 would divide by 0
SAMPLERS = {"ancestral": ancestral_sample, "euler_maruyama": euler_maruyama_sample,
            "probability_flow": probability_flow_sample}

#: QM9 with hydrogens, 10,000 samples: Hoogeboom et al. 2022, QM9 results (percentages; "valid_and_unique" =
#: #distinct valid SMILES / #molecules).  "data" is their evaluation of the QM9 molecules themselves.
PUBLISHED_QM9 = {
    "E-NF": dict(atom_stability=85.0, mol_stability=4.9, validity=40.2, valid_and_unique=39.4),
    "G-SchNet": dict(atom_stability=95.7, mol_stability=68.1, validity=85.5, valid_and_unique=80.3),
    "GDM-aug": dict(atom_stability=97.6, mol_stability=71.6, validity=90.4, valid_and_unique=89.5),
    "EDM": dict(atom_stability=98.7, mol_stability=82.0, validity=91.9, valid_and_unique=90.7),
    "data": dict(atom_stability=99.0, mol_stability=95.2, validity=97.7, valid_and_unique=97.7),
}


#: What each published row cost: the data, the network and the training (their papers; EDM: Hoogeboom et al. 2022,
#: 3000 epochs of all of QM9, about 1.5 million steps of 64 molecules, on one GPU).
PUBLISHED_COMPUTE = {
    "E-NF": "all of QM9, GPU, trained as EDM",
    "G-SchNet": "all of QM9, autoregressive, GPU",
    "GDM-aug": "all of QM9, GPU, trained as EDM",
    "EDM": "all of QM9, 9 x 256 EGNN, ~1.5 million GPU steps",
    "data": "QM9 itself",
}


def qm9_checkpoint_path() -> Path:
    """Where the shipped QM9 checkpoint lives (inside the package; written by benchmarks/qm9_diffusion.py)."""
    return CHECKPOINT_DIR / "qm9_edm.pt"


def remove_com(x: Tensor, batch: Tensor | None = None, num_graphs: int | None = None) -> Tensor:
    """P x: subtract from the position columns x[:, :3] their mean over each molecule; other columns unchanged.

    Args: x: [N, 3 + K] (or [N, 3]); batch: [N] molecule of each atom (None: one molecule).
    Returns: [N, 3 + K] whose positions have zero centre of mass per molecule.
    Book: chapter diffusion, section "Zero centre of mass".
    """
    if x.dim() != 2 or x.shape[1] < 3:
        raise ValueError(f"x must have shape [num_atoms, 3 + K] (positions first), got {tuple(x.shape)}")
    return torch.cat([center(x[:, :3], batch, num_graphs), x[:, 3:]], dim=1)


class AtomCountDistribution:
    """p(n) = #{training molecules with n atoms} / #molecules: how many atoms a generated molecule gets.

    Args: counts: [M] atoms per training molecule (e.g. ``MoleculeSet.num_atoms``), all >= 1.
    ``probs`` [max n + 1]; ``sample(num, generator)`` -> [num] int64.
    Book: chapter diffusion, section "Molecules: the EDM model".
    """

    def __init__(self, counts: Tensor):
        counts = torch.as_tensor(counts)
        if counts.dim() != 1 or counts.numel() == 0 or counts.is_floating_point() or counts.dtype == torch.bool:
            raise ValueError(f"counts must be a non-empty 1-D integer tensor of atoms per molecule, got "
                             f"{counts.dtype} {list(counts.shape)}")
        if int(counts.min()) < 1:
            raise ValueError(f"every molecule needs >= 1 atom, got a count of {int(counts.min())}")
        self.histogram = torch.bincount(counts.long())  # [max n + 1], histogram[n] = #molecules with n atoms

    @classmethod
    def from_histogram(cls, histogram) -> "AtomCountDistribution":
        raw = torch.as_tensor(histogram)
        if raw.is_floating_point() or raw.is_complex() or raw.dtype == torch.bool:
            raise ValueError(f"histogram must hold integer counts of molecules, got {raw.dtype}")
        histogram = raw.to(torch.int64)
        if histogram.dim() != 1 or int(histogram.sum()) < 1 or int(histogram.min()) < 0 or int(histogram[0]) != 0:
            raise ValueError(f"histogram must count molecules of 1, 2, ... atoms (entry 0 zero), got {histogram.tolist()}")
        return cls(torch.repeat_interleave(torch.arange(len(histogram)), histogram))

    @property
    def probs(self) -> Tensor:
        return self.histogram.double() / self.histogram.sum()

    def sample(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        num = check_int(num, "num", minimum=1)
        return torch.multinomial(self.probs, num, replacement=True, generator=generator)

    def __repr__(self) -> str:
        n = self.histogram.nonzero()[:, 0]
        return f"AtomCountDistribution({int(self.histogram.sum())} molecules, {int(n.min())} to {int(n.max())} atoms)"


@dataclass
class EDMConfig:
    """Sizes of an :class:`EDM` (plain numbers and strings: stored in checkpoints)."""

    elements: tuple = (1, 6, 7, 8, 9)  # the atom types' atomic numbers (QM9: H, C, N, O, F)
    width: int = 64
    layers: int = 4
    hidden: int | None = None  # MLP width inside a layer (default: width)
    type_scale: float = 0.25  # s: h = s * one-hot
    coords_range: float = 15.0  # bound of each position update weight (EDM's tanh)
    pos_reduce: str = "sum"  # how a layer sums the edge vectors (EDM: sum)
    schedule: str = "cosine"  # a name in minignn.schedules.SCHEDULES (EDM on QM9 used "polynomial")
    rbf: int = 0  # K Gaussian features of |r_dst - r_src| on [0, rbf_cutoff] beside d^2 (0: d^2 only, as EDM)
    rbf_cutoff: float = 5.0
    parametrization: str = "eps"  # "eps": the EGNN's displacement is eps (EDM); "x0": its output is x_0
    bond_head: bool = False  # also predict each edge's bond order {none, 1, 2, 3} from the last messages


def _check_config(config: EDMConfig) -> None:
    """Every field of an :class:`EDMConfig` (a config read from a checkpoint too): sizes are integers, scales
    positive numbers; the names are checked where they are used (schedule, parametrization, pos_reduce)."""
    check_int(config.width, "width", minimum=1)
    check_int(config.layers, "layers")
    if config.hidden is not None:
        check_int(config.hidden, "hidden", minimum=1)
    check_number(config.type_scale, "type_scale", minimum=0, strict_minimum=True)
    if config.coords_range is not None:
        check_number(config.coords_range, "coords_range", minimum=0, strict_minimum=True)
    check_int(config.rbf, "rbf")
    check_number(config.rbf_cutoff, "rbf_cutoff", minimum=0, strict_minimum=True)
    check_bool(config.bond_head, "bond_head")
    if config.bond_head and check_int(config.layers, "layers") < 1:
        raise ValueError("bond_head=True reads the last layer's messages: layers must be >= 1")
    if isinstance(config.elements, (str, Tensor)) or not hasattr(config.elements, "__iter__"):
        raise ValueError(f"elements must be a sequence of atomic numbers, got {config.elements!r}")


class EDM(nn.Module):
    r"""The EDM denoiser eps_theta(r_t, h_t, t) = (P (r^L - r_t), h^L), (h^L, r^L) = EGNN([h_t, t], r_t), plus p(n).

    ``forward(h [N, K], pos [N, 3], edge_index [2, E] | None, *, t (float, 0-dim or [N]), batch [N] | None)``
    (the package's order: features, positions, graph) returns ``(eps_pos [N, 3], eps_h [N, K])``: eps_pos
    E(3)-equivariant with zero mean per molecule, eps_h invariant.  ``edge_index`` defaults to the complete
    graph of each molecule.

    Args: config: :class:`EDMConfig`; atom_counts: [M] atoms per training molecule (for p(n)).
    Book: chapter diffusion, section "Molecules: the EDM model".
    """

    def __init__(self, config: EDMConfig | None = None, atom_counts: Tensor | AtomCountDistribution | None = None):
        super().__init__()
        if config is not None and not isinstance(config, EDMConfig):
            raise ValueError(f"config must be an EDMConfig, got {type(config).__name__}")
        self.config = config = config or EDMConfig()
        _check_config(config)
        if config.pos_reduce not in ("sum", "mean"):
            raise ValueError(f"pos_reduce must be 'sum' or 'mean', got {config.pos_reduce!r}")
        self.atom_types = AtomTypes(config.elements, "EDM")
        self.num_types = len(self.atom_types)
        self.schedule = get_schedule(config.schedule)
        if atom_counts is None:
            atom_counts = torch.tensor([1])
        self.atom_counts = atom_counts if isinstance(atom_counts, AtomCountDistribution) else AtomCountDistribution(atom_counts)
        if config.parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}, got {config.parametrization!r}")
        self.rbf = GaussianBasis(config.rbf, config.rbf_cutoff, envelope=None) if config.rbf else None
        self.egnn = EGNN(self.num_types + 1, self.num_types, config.width, config.layers, config.hidden,
                         edge_dim=1 + config.rbf, pos_reduce=config.pos_reduce, coords_range=config.coords_range)
        hidden = config.width if config.hidden is None else config.hidden
        self.bond_head = nn.Linear(hidden, NUM_BOND_CLASSES) if config.bond_head else None

    def forward(self, h: Tensor, pos: Tensor, edge_index: Tensor | None = None, *, t, batch: Tensor | None = None):
        """eps_theta(x_t, t) = (eps_pos [N, 3], eps_h [N, K]) for atom types ``h`` and positions ``pos`` at time ``t``."""
        h, pos, edge_index, t, batch, num_graphs = self.check_inputs(h, pos, edge_index, t, batch)
        return self.eps(h, pos, edge_index, t, batch, num_graphs)

    def check_inputs(self, h, pos, edge_index, t, batch):
        """The boundary: validate once, fill in the defaults (``batch``: one molecule; ``edge_index``: the complete
        graph of each molecule; ``t``: one time per atom) and count the molecules."""
        weight = self.egnn.embed.weight
        if isinstance(pos, Tensor) and pos.is_floating_point() and (pos.dtype != weight.dtype or pos.device != weight.device):
            raise ValueError(f"pos is {pos.dtype} on {pos.device} but the weights of this EDM are {weight.dtype} on "
                             f"{weight.device}; convert one of them (pos.to(...), h.to(...) or model.to(...))")
        n = check_pos(pos).shape[0]
        k = self.num_types
        if not isinstance(h, Tensor) or h.shape != (n, k) or h.dtype != pos.dtype or h.device != pos.device:
            got = f"{h.dtype} {list(h.shape)} on {h.device}" if isinstance(h, Tensor) else type(h).__name__
            raise ValueError(f"h must be a {pos.dtype} tensor of shape [num_atoms={n}, K={k}] (scaled one-hot atom "
                             f"types) on {pos.device}, got {got}")
        t = torch.as_tensor(t, dtype=pos.dtype, device=pos.device)
        if t.dim() == 0:
            t = t.expand(n)
        if t.shape != (n,):
            raise ValueError(f"t must be a number or have shape [num_atoms={n}] (one time per atom), got {tuple(t.shape)}")
        check_time(t)
        if batch is None:
            batch = torch.zeros(n, dtype=torch.int64, device=pos.device)
        elif not isinstance(batch, Tensor) or batch.shape != (n,) or batch.dtype != torch.int64:
            got = f"{batch.dtype} {list(batch.shape)}" if isinstance(batch, Tensor) else type(batch).__name__
            raise ValueError(f"batch must be an int64 tensor of shape [{n}], got {got}")
        edge_index = fully_connected(batch=batch) if edge_index is None else check_edge_index(edge_index, n)
        num_graphs = int(batch.max()) + 1 if n else 0
        return h, pos, edge_index, t, batch, num_graphs

    def eps(self, h, pos, edge_index, t, batch, num_graphs):
        """eps_theta on validated inputs (see :meth:`check_inputs`)."""
        out_pos, out_h, _ = self.network(h, pos, edge_index, t, batch, num_graphs)
        if self.config.parametrization == "eps":
            return out_pos, out_h
        # x_0 -> eps: eps = (x_t - alpha x_0) / sigma, positions in the zero centre-of-mass subspace (sigma clamped
        # away from 0: at t = 0 eps is undefined)
        log_ab = self.schedule.log_alpha_bar(t)[:, None]
        alpha, sigma = torch.exp(0.5 * log_ab), torch.sqrt(-torch.expm1(log_ab)).clamp(min=SIGMA_MIN)
        return (center(pos, batch, num_graphs) - alpha * out_pos) / sigma, (h - alpha * out_h) / sigma

    def network(self, h, pos, edge_index, t, batch, num_graphs, return_bonds: bool = False):
        """The raw prediction on validated inputs: ``(pos [N, 3], h [N, K], bond logits [E, 4] or None)``, where
        (pos, h) is eps (``parametrization="eps"``) or x_0 (``"x0"``), positions centred per molecule."""
        d2 = edge_vectors(pos, edge_index, validate=False).square().sum(-1, keepdim=True)  # |r_dst - r_src|^2, [E, 1]
        edge_attr = d2 if self.rbf is None else torch.cat([d2, self.rbf(d2[:, 0].sqrt())], dim=1)
        want_m = return_bonds and self.bond_head is not None
        out = self.egnn.propagate(torch.cat([h, t[:, None]], dim=1), pos, edge_index, edge_attr, return_messages=want_m)
        h_out, pos_out = out[0], out[1]
        shift = pos_out - pos if self.config.parametrization == "eps" else pos_out
        return center(shift, batch, num_graphs), h_out, (self.bond_head(out[2]) if want_m else None)

    def eps_model(self, batch: Tensor, edge_index: Tensor | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        """The packed denoiser ``f(x [N, 3 + K], t [N]) -> [N, 3 + K]`` that minignn.diffusion's samplers and loss call.

        ``batch`` and ``edge_index`` are validated here, once; each call of ``f`` (hundreds per sample) trusts them."""
        n = batch.shape[0] if isinstance(batch, Tensor) else 0
        weight = next(self.parameters())
        placeholder = torch.zeros(n, 3, dtype=weight.dtype, device=weight.device)
        _, _, edge_index, _, batch, num_graphs = self.check_inputs(
            torch.zeros(n, self.num_types, dtype=placeholder.dtype, device=placeholder.device), placeholder, edge_index, 0.0, batch)

        def f(x: Tensor, t: Tensor) -> Tensor:
            eps_pos, eps_h = self.eps(x[:, 3:], x[:, :3], edge_index, t, batch, num_graphs)
            return torch.cat([eps_pos, eps_h], dim=1)

        return f

    def decode(self, x: Tensor, counts: Tensor) -> MoleculeSet:
        """Molecules from packed x [N, 3 + K]: positions x[:, :3] (Angstrom), element argmax x[:, 3:]; counts [M] atoms each."""
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != 3 + self.num_types or not x.is_floating_point():
            raise ValueError(f"x must be a floating tensor of shape [num_atoms, 3 + K = {3 + self.num_types}], got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        raw = torch.as_tensor(counts)
        if raw.dim() != 1 or raw.is_floating_point() or raw.dtype == torch.bool or (raw.numel() and int(raw.min()) < 1):
            raise ValueError(f"counts must be a 1-d integer tensor of atoms per molecule, each >= 1, got {raw.dtype} "
                             f"{raw.tolist() if raw.numel() < 10 else list(raw.shape)}")
        counts = raw.to(torch.int64)
        if int(counts.sum()) != x.shape[0]:
            raise ValueError(f"counts add up to {int(counts.sum())} atoms but x has {x.shape[0]} rows")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x holds NaN or inf: the sampler diverged (fewer steps, or a better trained model?)")
        z = self.atom_types.atomic_numbers(x[:, 3:].argmax(dim=1))
        ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        return MoleculeSet(z=z, pos=x[:, :3].detach().float(), ptr=ptr, y={}, units={}, index=torch.arange(len(counts)),
                           atom_types=self.atom_types, name="EDM samples")


def encode(molecules: MoleculeSet, atom_types: AtomTypes, type_scale: float = 0.25, dtype=None):
    """x_0 of a set of molecules: centred positions [A, 3], h = s * one-hot [A, K], batch [A].

    Book: chapter diffusion, section "Molecules: the EDM model".
    """
    if not isinstance(molecules, MoleculeSet):
        raise ValueError(f"molecules must be a MoleculeSet, got {type(molecules).__name__}")
    if not isinstance(atom_types, AtomTypes):
        raise ValueError(f"atom_types must be an AtomTypes (e.g. minignn.datasets.QM9_TYPES), got {type(atom_types).__name__}")
    type_scale = check_number(type_scale, "type_scale", minimum=0, strict_minimum=True)
    dtype = dtype or torch.get_default_dtype()
    batch = molecules.batch
    pos = center(molecules.pos.to(dtype), batch, len(molecules))
    return pos, type_scale * atom_types.one_hot(molecules.z, dtype), batch


def draw_times(num: int, time_sampling: str = "uniform", generator: torch.Generator | None = None,
               dtype=None) -> Tensor:
    """Training times t [num]: ``"uniform"`` t ~ U(0, 1); ``"low_noise"`` t ~ Beta(1, 2), density 2 (1 - t), drawn as
    t = 1 - sqrt(1 - u): twice the uniform density at t = 0 (where bond lengths are decided), none at t = 1."""
    if time_sampling not in TIME_SAMPLINGS:
        raise ValueError(f"time_sampling must be one of {TIME_SAMPLINGS}, got {time_sampling!r}")
    num = check_int(num, "num")
    u = torch.rand(num, generator=generator, dtype=dtype)
    return u if time_sampling == "uniform" else 1 - torch.sqrt(1 - u)


def edm_loss(model: EDM, pos: Tensor, h: Tensor, batch: Tensor, t: Tensor | None = None, noise: Tensor | None = None,
             generator: torch.Generator | None = None, edge_index: Tensor | None = None,
             time_sampling: str = "uniform", bonds: Tensor | None = None, bond_weight: float = 1.0) -> Tensor:
    """L = mean || eps - eps_theta(x_t, t) ||^2, one t per molecule, eps = (P eps_r, eps_h).

    With ``parametrization="x0"`` the loss is on the clean data instead (EQGAT-diff's weighting):
    L = mean w(t) || x_0 - x0_theta(x_t, t) ||^2, w(t) = clamp(SNR(t), 0.05, 1.5), SNR = alpha_bar / (1 - alpha_bar).
    With a bond head and ``bonds`` [E] (class 0..3 of each edge of ``edge_index``), plus
    ``bond_weight`` times the cross-entropy of the predicted bond orders.

    Args: pos [N, 3] with zero centre of mass per molecule; h [N, K]; batch [N] (molecules 0..M-1);
    t: [M] times (default drawn by :func:`draw_times` with ``time_sampling``); noise: [N, 3 + K] (default drawn,
    then projected).
    Book: chapter diffusion, section "Molecules: the EDM model".
    """
    if not isinstance(model, EDM):
        raise ValueError(f"model must be an EDM, got {type(model).__name__}")
    check_pos(pos)
    if not isinstance(batch, Tensor) or batch.shape != pos.shape[:1] or batch.dtype != torch.int64 or batch.numel() == 0:
        got = f"{batch.dtype} {list(batch.shape)}" if isinstance(batch, Tensor) else type(batch).__name__
        raise ValueError(f"batch must be an int64 tensor [{pos.shape[0]}] of molecule ids (at least one atom), got {got}")
    if not isinstance(h, Tensor) or h.shape != (pos.shape[0], model.num_types) or h.dtype != pos.dtype:
        got = f"{h.dtype} {list(h.shape)}" if isinstance(h, Tensor) else type(h).__name__
        raise ValueError(f"h must be a {pos.dtype} tensor of shape [num_atoms={pos.shape[0]}, K={model.num_types}], got {got}")
    if int(batch.min()) < 0:
        raise ValueError(f"batch must hold molecule ids >= 0, got {int(batch.min())}")
    bond_weight = check_number(bond_weight, "bond_weight", minimum=0)
    num_graphs = int(batch.max()) + 1
    com = center(pos, batch, num_graphs) - pos
    if float(com.abs().max()) > 1e-4 * max(1.0, float(pos.abs().max())):
        raise ValueError("positions must have zero centre of mass per molecule (diffusion lives in that subspace); "
                         "centre them with minignn.geometry.center(pos, batch) or minignn.edm.encode")
    if t is None:
        t = draw_times(num_graphs, time_sampling, generator, pos.dtype)
    elif not isinstance(t, Tensor) or t.shape != (num_graphs,):
        raise ValueError(f"t must have shape [num_molecules={num_graphs}] (one time per molecule), got "
                         f"{tuple(getattr(t, 'shape', ())) if isinstance(t, Tensor) else type(t).__name__}")
    else:
        t = check_time(t)
    if bonds is not None and model.bond_head is None:
        raise ValueError("bonds were given but the model has no bond head (EDMConfig(bond_head=True))")

    def project(e):
        return remove_com(e, batch, num_graphs)

    x0 = torch.cat([pos, h], dim=1)
    if model.config.parametrization == "eps" and bonds is None:
        return denoising_loss(model.eps_model(batch, edge_index), x0, model.schedule, t=t[batch], noise=noise,
                              generator=generator, projection=project)
    if edge_index is None:
        edge_index = fully_connected(batch=batch)
    if noise is None:
        noise = project(torch.randn(x0.shape, generator=generator, dtype=x0.dtype))
    x_t = q_sample(x0, t[batch], model.schedule, noise=noise)
    out_pos, out_h, logits = model.network(x_t[:, 3:], x_t[:, :3], edge_index, t[batch], batch, num_graphs,
                                           return_bonds=bonds is not None)
    out = torch.cat([out_pos, out_h], dim=1)
    if model.config.parametrization == "eps":
        loss = (noise - out).square().mean()
    else:
        log_ab = model.schedule.log_alpha_bar(t)
        snr = torch.exp(log_ab) / (-torch.expm1(log_ab)).clamp(min=1e-12)  # alpha_bar / (1 - alpha_bar)
        loss = (snr.clamp(0.05, 1.5)[batch, None] * (x0 - out).square()).mean()
    if bonds is not None:
        if not isinstance(bonds, Tensor) or bonds.shape != edge_index.shape[1:] or bonds.dtype != torch.int64:
            raise ValueError(f"bonds must hold one class per edge, shape [{edge_index.shape[1]}] and dtype int64, got "
                             f"{getattr(bonds, 'dtype', type(bonds).__name__)} {tuple(getattr(bonds, 'shape', ()))}")
        if bonds.numel() and (int(bonds.min()) < 0 or int(bonds.max()) >= NUM_BOND_CLASSES):
            raise ValueError(f"bonds must hold classes 0 (none), 1, 2 or 3, got [{int(bonds.min())}, {int(bonds.max())}]")
        loss = loss + bond_weight * nn.functional.cross_entropy(logits, bonds)
    return loss


def bond_classes(molecules: MoleculeSet) -> tuple[Tensor, Tensor]:
    """The bond order (0 = none, 1, 2, 3; :func:`minignn.metrics.infer_bonds`) of every ordered atom pair of every
    molecule, flattened: returns ``(table [sum_m n_m^2] uint8, offsets [M])``; pair (a, b) of molecule m (local
    indices) is ``table[offsets[m] + a * n_m + b]``."""
    from minignn.metrics import infer_bonds

    if not isinstance(molecules, MoleculeSet):
        raise ValueError(f"molecules must be a MoleculeSet, got {type(molecules).__name__}")
    counts = molecules.num_atoms
    offsets = torch.cat([counts.new_zeros(1), (counts * counts).cumsum(0)[:-1]])
    table = torch.zeros(int((counts * counts).sum()), dtype=torch.uint8)
    pairs, orders = infer_bonds(molecules.z, molecules.pos, molecules.ptr)
    mol = torch.bucketize(pairs[:, 0].contiguous(), molecules.ptr[1:], right=True)
    a, b = pairs[:, 0] - molecules.ptr[mol], pairs[:, 1] - molecules.ptr[mol]
    n = counts[mol]
    table[offsets[mol] + a * n + b] = orders.to(torch.uint8)
    table[offsets[mol] + b * n + a] = orders.to(torch.uint8)
    return table, offsets


@torch.no_grad()
def sample_molecules(model: EDM, num_molecules: int, generator: torch.Generator | None = None, steps: int = 500,
                     sampler: str = "ancestral", num_atoms: Tensor | None = None, x_init: Tensor | None = None,
                     return_trajectory: bool = False, time_power: float = 1.0):
    """Generate molecules: n ~ p(n) per molecule, x_1 ~ N(0, I) projected by P, reverse sampler with P after each step.

    Args:
        model: an :class:`EDM`; num_molecules: M; generator: for n, x_1 and the sampler's noise (in that order).
        steps: sampler steps; sampler: "ancestral", "euler_maruyama" or "probability_flow" (deterministic).
        time_power: the sampler's grid t_k = (k / steps)^p; 1 is uniform, p > 1 takes more steps at low noise.
        num_atoms: [M] atoms per molecule instead of drawing them; x_init: [N, 3 + K] the noise x_1 itself.
        return_trajectory: also return the states [steps + 1, N, 3 + K] (decode a frame with ``model.decode``).
    Returns: a MoleculeSet (z, pos in Angstrom), and the trajectory and the counts [M] if asked.
    Book: chapter diffusion, section "Generating molecules".
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    if not isinstance(model, EDM):
        raise ValueError(f"model must be an EDM, got {type(model).__name__}")
    num_molecules = check_int(num_molecules, "num_molecules", minimum=1)
    if num_atoms is None:
        counts = model.atom_counts.sample(num_molecules, generator)
    else:
        raw = torch.as_tensor(num_atoms)
        if raw.is_floating_point() or raw.dtype == torch.bool or raw.shape != (num_molecules,) or int(raw.min()) < 1:
            raise ValueError(f"num_atoms must hold num_molecules={num_molecules} integer counts >= 1, got "
                             f"{raw.dtype} {raw.tolist()}")
        counts = raw.to(torch.int64)
    batch = torch.repeat_interleave(torch.arange(num_molecules), counts)
    dtype = next(model.parameters()).dtype
    n, width = int(counts.sum()), 3 + model.num_types
    if x_init is None:
        x_init = torch.randn(n, width, generator=generator, dtype=dtype)
    elif not isinstance(x_init, Tensor) or x_init.shape != (n, width) or x_init.dtype != dtype:
        raise ValueError(f"x_init must have shape [num_atoms={n}, {width}] and dtype {dtype}, got "
                         f"{getattr(x_init, 'dtype', type(x_init).__name__)} {tuple(getattr(x_init, 'shape', ()))}")
    out = SAMPLERS[sampler](model.eps_model(batch, fully_connected(counts)), model.schedule, x_init=x_init, steps=steps,
                            generator=generator, projection=lambda x: remove_com(x, batch, num_molecules),
                            return_trajectory=return_trajectory, time_power=time_power)
    x, trajectory = out if return_trajectory else (out, None)
    molecules = model.decode(x, counts)
    return (molecules, trajectory, counts) if return_trajectory else molecules


class TrainLog(NamedTuple):
    """What :func:`train_edm` did: the loss of every step, wall-clock seconds, and the EMA model (or None)."""

    losses: list
    seconds: float
    ema: nn.Module | None


#: The format of :class:`EDMTrainer` checkpoints (resumable runs; :func:`save_edm` files are the finished models).
TRAIN_STATE_FORMAT = "minignn.edm-train/1"


class _EDMLoss(nn.Module):
    """:func:`edm_loss` of an EDM as a module: DistributedDataParallel arms its gradient all-reduce in ``forward``."""

    def __init__(self, model: EDM):
        super().__init__()
        self.model = model

    def forward(self, pos, h, batch, t, noise, edge_index, bonds, time_sampling, bond_weight):
        return edm_loss(self.model, pos, h, batch, t=t, noise=noise, edge_index=edge_index, time_sampling=time_sampling,
                        bonds=bonds, bond_weight=bond_weight)


class EDMTrainer:
    r"""The training loop of :func:`train_edm` and of ``python -m minignn.train qm9-edm``: one process, or one rank of
    ``torchrun`` (DistributedDataParallel, gloo on CPU, nccl on CUDA).

    Step :math:`s`: the learning rate is ``lr`` times :func:`minignn.train.lr_factor` (warmup over ``warmup_steps``,
    cosine to lr / 100 over :math:`p = \max(s / \text{steps}, t / t_{budget})`); a global batch of ``batch_size``
    molecules is drawn with replacement from ``generator``, then one time per molecule and the noise of every atom
    (in that order, the order in which :func:`edm_loss` draws them); Adam steps on :func:`edm_loss`, the gradient
    clipped to ``clip_grad_norm``; the EMA of the weights follows.

    Under DDP every rank draws the same global batch, times and noise (one generator, seeded alike) and computes
    the loss of its shard, the molecules at positions ``rank, rank + W, ...`` of the batch, weighted by
    :math:`W\, N_r / N` (:math:`N_r` of the batch's :math:`N` atoms are the shard's), so that DDP's average of the
    gradients is the gradient of the loss of the whole batch: a step equals the one-process step on the same
    batch (to rounding).  With a bond head its cross-entropy is weighted by the shard's atoms as well (not its
    edges): close to, not equal to, the one-process step.  The weights, the EMA and the generator stay equal on
    every rank; only rank 0 prints and writes; with a time budget the ranks agree on the elapsed time (the
    largest).  ``state_dict``/``save``/``load`` hold everything a run needs to continue bit-identically
    (weights, EMA, Adam, generator, step, the losses so far, the elapsed time).

    Book: chapter diffusion, section "QM9"; chapter beyond_the_laptop, section "Many processes".
    """

    def __init__(self, model: EDM, molecules: MoleculeSet, steps: int, batch_size: int = 64, lr: float = 1e-3,
                 generator: torch.Generator | None = None, time_budget_s: float | None = None,
                 ema_decay: float | None = 0.999, clip_grad_norm: float | None = 2.0, warmup_steps: int = 100,
                 time_sampling: str = "uniform", bond_weight: float = 1.0, device="cpu", distributed: bool = False):
        if not isinstance(model, EDM):
            raise ValueError(f"model must be an EDM, got {type(model).__name__}")
        if not isinstance(molecules, MoleculeSet) or len(molecules) == 0:
            raise ValueError(f"molecules must be a non-empty MoleculeSet, got {type(molecules).__name__}")
        self.steps = check_int(steps, "steps", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.lr = check_number(lr, "lr", minimum=0, strict_minimum=True)
        if time_budget_s is not None:
            check_number(time_budget_s, "time_budget_s (None: no budget)", minimum=0, strict_minimum=True)
        if ema_decay is not None:
            ema_decay = check_number(ema_decay, "ema_decay (None: no EMA)", minimum=0, maximum=1)
        if clip_grad_norm is not None:  # a negative norm would flip the gradients
            clip_grad_norm = check_number(clip_grad_norm, "clip_grad_norm (None: no clipping)", minimum=0,
                                          strict_minimum=True)
        self.warmup_steps = check_int(warmup_steps, "warmup_steps")
        if time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"time_sampling must be one of {TIME_SAMPLINGS}, got {time_sampling!r}")
        self.bond_weight = check_number(bond_weight, "bond_weight", minimum=0)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator (or None), got {type(generator).__name__}")
        self.rank, self.world_size, self.device = (init_distributed(device) if check_bool(distributed, "distributed")
                                                   else (0, 1, torch.device(device)))
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size (the global batch) must be a multiple of the number of ranks "
                             f"({self.world_size}), got {self.batch_size}")
        self.model, self.molecules, self.generator = model.to(self.device), molecules, generator
        self.time_budget_s, self.clip_grad_norm, self.time_sampling = time_budget_s, clip_grad_norm, time_sampling
        self.dtype = next(model.parameters()).dtype
        self.pos_all, self.h_all, _ = encode(molecules, model.atom_types, model.config.type_scale, self.dtype)
        self.bond_table = bond_classes(molecules) if model.bond_head is not None else None
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        self.ema = None
        if ema_decay is not None:
            self.ema = torch.optim.swa_utils.AveragedModel(
                model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema_decay))
        self.net = _EDMLoss(model)
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
        self.step, self.losses, self.elapsed_s = 0, [], 0.0

    def _agree(self, value: float) -> float:
        """The largest ``value`` over the ranks (every rank must call it)."""
        if self.world_size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t)

    def _batch(self, idx: Tensor):
        """The global batch ``idx`` [B]: this rank's atoms, batch vector, complete graphs, bond classes, times and
        noise (times and noise drawn for the whole batch, then cut)."""
        counts = self.molecules.num_atoms[idx]  # [B] atoms per molecule of the global batch
        B, W = len(idx), self.world_size
        batch = torch.repeat_interleave(torch.arange(B), counts)
        t = draw_times(B, self.time_sampling, self.generator, self.dtype)  # [B], as edm_loss draws it
        noise = remove_com(torch.randn(int(counts.sum()), 3 + self.model.num_types, generator=self.generator,
                                       dtype=self.dtype), batch, B)  # [N, 3 + K], as edm_loss draws it
        if W > 1:  # the shard: molecules rank, rank + W, ... of the batch
            first = counts.cumsum(0) - counts
            mine = torch.arange(self.rank, B, W)
            rows = torch.repeat_interleave(first[mine] - (counts[mine].cumsum(0) - counts[mine]), counts[mine])
            rows = rows + torch.arange(int(counts[mine].sum()))
            idx, t, noise, total = idx[mine], t[mine], noise[rows], int(counts.sum())
            counts = counts[mine]
            batch = torch.repeat_interleave(torch.arange(len(idx)), counts)
        c, ptr = counts, self.molecules.ptr
        atoms = torch.repeat_interleave(ptr[idx] - (c.cumsum(0) - c), c) + torch.arange(int(c.sum()))
        edge_index = fully_connected(c)
        bonds = None
        if self.bond_table is not None:  # the bond class of each edge, looked up in its molecule's n x n table
            table, offsets = self.bond_table
            first = (c.cumsum(0) - c)[batch]  # first atom of each atom's molecule in the batch
            src, dst = edge_index
            mol = batch[src]
            bonds = table[offsets[idx[mol]] + (src - first[src]) * c[mol] + (dst - first[dst])].long()
        weight = W * int(c.sum()) / total if W > 1 else None
        dev = self.device
        return (self.pos_all[atoms].to(dev), self.h_all[atoms].to(dev), batch.to(dev), t.to(dev), noise.to(dev),
                edge_index.to(dev), None if bonds is None else bonds.to(dev)), weight

    def train_step(self, idx: Tensor) -> float:
        """One optimizer step on the global batch ``idx`` (molecule indices, [B]); returns its loss."""
        inputs, weight = self._batch(idx)
        loss = self.net(*inputs, self.time_sampling, self.bond_weight)
        if weight is not None:
            loss = loss * weight  # DDP averages over the ranks: the gradient of the whole batch's loss
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        if weight is None:
            return loss.item()
        total = loss.detach().double().reshape(1)
        dist.all_reduce(total)
        return float(total) / self.world_size

    def run(self, until: int | None = None, log_every: int = 0,
            on_log: Callable[[int, float, EDM], None] | None = None, checkpoint=None, checkpoint_every: int = 0,
            on_step: Callable[[int], None] | None = None) -> TrainLog:
        """Train until step ``until`` (default ``steps``) or the time budget; returns this call's :class:`TrainLog`.

        ``log_every``: print the mean loss every so many steps (rank 0) and call ``on_log(steps_done, seconds,
        model_to_sample)`` (every rank); ``checkpoint``, ``checkpoint_every``: :meth:`save` every so many steps and
        at the end; ``on_step(step)``: called after every step."""
        until = self.steps if until is None else min(self.steps, check_int(until, "until"))
        log_every, checkpoint_every = check_int(log_every, "log_every"), check_int(checkpoint_every, "checkpoint_every")
        if on_log is not None and not callable(on_log):
            raise ValueError(f"on_log must be a function (steps, seconds, model) or None, got {type(on_log).__name__}")
        lr, losses, start, before = self.lr, [], time.perf_counter(), self.elapsed_s
        while self.step < until:
            elapsed = before + time.perf_counter() - start
            if self.time_budget_s is not None:
                elapsed = self._agree(elapsed)
                if elapsed >= self.time_budget_s:
                    break
            factor = lr_factor(self.step, warmup_steps=self.warmup_steps, total_steps=self.steps, elapsed_s=elapsed,
                               budget_s=self.time_budget_s, min_ratio=0.01)
            for group in self.optimizer.param_groups:
                group["lr"] = lr * factor
            idx = torch.randint(len(self.molecules), (self.batch_size,), generator=self.generator)
            losses.append(self.train_step(idx))
            self.losses.append(losses[-1])
            self.step += 1
            if log_every and len(losses) % log_every == 0:
                recent = sum(losses[-log_every:]) / len(losses[-log_every:])
                if self.rank == 0:
                    print(f"step {len(losses):6d}  loss {recent:.4f}  lr {lr * factor:.2e}  "
                          f"{time.perf_counter() - start:7.1f} s", flush=True)
                if on_log is not None:
                    on_log(len(losses), time.perf_counter() - start, self.model if self.ema is None else self.ema.module)
            if checkpoint is not None and checkpoint_every and self.step % checkpoint_every == 0:
                self.elapsed_s = before + time.perf_counter() - start
                self.save(checkpoint)
            if on_step is not None:
                on_step(self.step)
        seconds = time.perf_counter() - start
        self.elapsed_s = before + seconds
        if checkpoint is not None:
            self.save(checkpoint)
        return TrainLog(losses, seconds, None if self.ema is None else self.ema.module)

    def state_dict(self) -> dict:
        """Everything a run needs to continue (``weights_only``-loadable): format ``minignn.edm-train/1``."""
        return {"format": TRAIN_STATE_FORMAT, "config": asdict(self.model.config) | {"elements": list(self.model.config.elements)},
                "atom_count_histogram": self.model.atom_counts.histogram.clone(), "model": self.model.state_dict(),
                "ema": None if self.ema is None else self.ema.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": None if self.generator is None else self.generator.get_state(),
                "torch_rng": torch.get_rng_state(), "step": self.step, "losses": list(self.losses),
                "elapsed_s": self.elapsed_s, "settings": self._settings()}

    def _settings(self) -> dict:
        return {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "num_molecules": len(self.molecules),
                "time_sampling": self.time_sampling, "dtype": str(self.dtype).replace("torch.", "")}

    def save(self, path) -> None:
        """An atomic checkpoint written by rank 0 (the other ranks wait for it)."""
        if self.rank == 0:
            save_checkpoint(path, self.state_dict())
        if self.world_size > 1:
            dist.barrier()

    def load(self, path) -> "EDMTrainer":
        """Continue from a :meth:`save` file, written on any device (tensors are mapped to this trainer's).  A file
        of another run (other settings, other model) raises ValueError naming what differs."""
        state = load_checkpoint(path, map_location=self.device, format=TRAIN_STATE_FORMAT, kind="EDM training",
                                keys=("model", "ema", "optimizer", "generator", "torch_rng", "step", "losses",
                                      "elapsed_s", "settings"))
        ours = self._settings()
        theirs = state["settings"] if isinstance(state["settings"], dict) else {}
        differ = {k: (theirs.get(k), v) for k, v in ours.items() if theirs.get(k) != v}
        if differ:
            raise ValueError(f"{path} is a checkpoint of another run: " + ", ".join(
                f"{k} expected {new!r} (this run), got {old!r} (the checkpoint)" for k, (old, new) in differ.items()))
        load_weights(self.model, state["model"], path, "EDM")
        if (state["ema"] is None) != (self.ema is None):
            raise ValueError(f"{path}: ema expected {'an EMA' if self.ema is not None else 'none'}, got "
                             f"{'none' if state['ema'] is None else 'an EMA'} in the checkpoint")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.generator is not None and state["generator"] is not None:
            self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        self.step, self.losses, self.elapsed_s = int(state["step"]), list(state["losses"]), float(state["elapsed_s"])
        return self


def train_edm(model: EDM, molecules: MoleculeSet, steps: int, batch_size: int = 64, lr: float = 1e-3,
              generator: torch.Generator | None = None, time_budget_s: float | None = None, ema_decay: float | None = 0.999,
              clip_grad_norm: float | None = 2.0, warmup_steps: int = 100, log_every: int = 0,
              time_sampling: str = "uniform", bond_weight: float = 1.0, compile: bool = False,
              on_log: Callable[[int, float, EDM], None] | None = None) -> TrainLog:
    """Minimise :func:`edm_loss` with Adam on random batches of ``molecules`` (one process: :class:`EDMTrainer`).

    Learning rate: linear warmup over ``warmup_steps``, then a cosine from ``lr`` to lr / 100 over the progress
    p = max(step / steps, elapsed / time_budget_s).  Stops after ``steps`` steps or the time budget.
    Reproducible given ``generator`` and the initial weights (unless a time budget cuts it short).
    ``ema_decay``: also keep an exponential moving average of the weights (EDM: 0.999), returned as ``ema``.
    ``compile``: run the EGNN through ``torch.compile`` (dynamic shapes) while training: the same function, with
    its elementwise operations fused into generated kernels (its first steps compile, inside the time budget);
    the model returned is the plain module.
    ``on_log``: called as ``on_log(steps_done, seconds, model_to_sample)`` at every log point (``log_every``; the
    EMA model when there is one), for example to save the weights so far.
    Args: molecules: the training set (positions in Angstrom; centred here); batch_size: molecules per step.
    Returns: a :class:`TrainLog`.
    Book: chapter diffusion, section "QM9".
    """
    log_every = check_int(log_every, "log_every")
    compile = check_bool(compile, "compile")
    if on_log is not None and not callable(on_log):
        raise ValueError(f"on_log must be a function (steps, seconds, model) or None, got {type(on_log).__name__}")
    device = next(model.parameters()).device if isinstance(model, EDM) else "cpu"
    trainer = EDMTrainer(model, molecules, steps, batch_size, lr, generator, time_budget_s, ema_decay, clip_grad_norm,
                         warmup_steps, time_sampling, bond_weight, device=device)
    if compile:  # an instance attribute shadows the method while training; the EMA copy was made above
        model.egnn.propagate = torch.compile(model.egnn.propagate, dynamic=True)
    try:
        return trainer.run(log_every=log_every, on_log=on_log)
    finally:
        if compile:
            del model.egnn.propagate


def save_edm(path, model: EDM, info: dict | None = None) -> Path:
    """Write float32 weights, config and the atom-count histogram (``weights_only``-loadable), atomically."""
    if not isinstance(model, EDM):
        raise ValueError(f"model must be an EDM, got {type(model).__name__}")
    if info is not None and not isinstance(info, dict):
        raise ValueError(f"info must be a dict (or None), got {type(info).__name__}")
    state = {"format": FORMAT, "config": asdict(model.config) | {"elements": list(model.config.elements)},
             "model": {k: v.detach().float() for k, v in model.state_dict().items()},
             "atom_count_histogram": model.atom_counts.histogram.clone(), "info": dict(info or {})}
    return save_checkpoint(path, state)


def load_edm(path=None) -> tuple[EDM, dict]:
    """Read a :func:`save_edm` file; default: the shipped QM9 model.  Returns ``(model in eval mode, info)``.

    Raises: FileNotFoundError (no file: the QM9 one is written by benchmarks/qm9_diffusion.py); ValueError (not an EDM file).
    """
    path = qm9_checkpoint_path() if path is None else Path(path)
    state = load_checkpoint(path, format=FORMAT, kind="EDM",
                            missing_hint=" (the QM9 one is written by `python benchmarks/qm9_diffusion.py`)",
                            keys=("config", "model", "atom_count_histogram", "info"))
    try:
        if not isinstance(state["config"], dict) or "elements" not in state["config"]:
            raise TypeError("its config is not a dict with elements")
        config = EDMConfig(**(state["config"] | {"elements": tuple(state["config"]["elements"])}))
        model = EDM(config, AtomCountDistribution.from_histogram(state["atom_count_histogram"]))
        if not isinstance(state["info"], dict):
            raise TypeError(f"info is a {type(state['info']).__name__}, not a dict")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} is a damaged EDM checkpoint: {err}") from err
    load_weights(model, state["model"], path, "EDM")
    return model.eval(), state["info"]
