r"""PaiNN: message passing with scalar and vector features (Schütt, Unke, Gastegger 2021).

Every atom :math:`j` carries scalars :math:`s_j \in \mathbb{R}^F` (invariant) and vectors
:math:`\vec v_j \in \mathbb{R}^{3 \times F}` (rotating with the molecule), :math:`\vec v_j^0 = 0`.
For an edge :math:`i > j` (src :math:`i`, dst :math:`j`) let :math:`\vec r_{ij} = r_j - r_i`,
:math:`d_{ij} = |\vec r_{ij}|` and :math:`e(d_{ij})` a radial basis with a smooth cutoff
(:mod:`minignn.radial`).  A block is a message step then an update step.

**Message** (:math:`\circ` = elementwise, :math:`W` linear, :math:`\phi` a two-layer MLP):

$$(a^{ss}_{ij}, a^{vv}_{ij}, a^{vs}_{ij}) = \phi(s_i) \circ W e(d_{ij}), \qquad
\Delta s_j = \sum_{i > j} a^{ss}_{ij}, \qquad
\Delta \vec v_j = \sum_{i > j} \vec v_i \circ a^{vv}_{ij} + a^{vs}_{ij}\, \frac{\vec r_{ij}}{d_{ij}}$$

**Update** (:math:`U, V` linear maps acting on the feature index only, so they commute with rotations):

$$(b^{vv}_j, b^{sv}_j, b^{ss}_j) = \psi\big(s_j, \|V \vec v_j\|\big), \qquad
\Delta \vec v_j = b^{vv}_j \circ U \vec v_j, \qquad
\Delta s_j = b^{sv}_j \circ \langle U \vec v_j, V \vec v_j \rangle + b^{ss}_j$$

**Readout**: :math:`y_g = \sum_{j \in g} \rho(s^L_j)`.

Why it is E(3)-invariant: scalars only ever meet distances, norms and dot products of
vectors; vectors are only ever scaled by scalars, added, or mapped by :math:`U, V` across
features (never across x, y, z).  A rotation or a reflection :math:`Q` therefore maps every
:math:`\vec v_j` to :math:`Q \vec v_j` and leaves every :math:`s_j` unchanged (no cross
product, so mirror images get the same energy).  The vectors let the network see angles
(:math:`\langle \vec r_{ij}, \vec r_{kj} \rangle` appears after one block) at the cost of
an edge-wise model.

Book: chapter qm7, section "A network with scalar and vector features".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from minignn.checkpoint import CHECKPOINT_DIR, load_checkpoint, load_weights, save_checkpoint
from minignn.checks import check_int, check_number
from minignn.invariants import edge_vectors
from minignn.mpnn import MessagePassing, check_features, check_inputs, mlp
from minignn.pooling import global_pool
from minignn.radial import BesselBasis, GaussianBasis

__all__ = ["PaiNNConfig", "PaiNNMessage", "PaiNNUpdate", "PaiNN", "Pretrained", "save_pretrained", "load_pretrained",
           "CHECKPOINT_DIR", "qm7_checkpoint_path", "PRETRAINED_MODELS"]

FORMAT = "minignn.painn/1"
#: The energy models :func:`save_pretrained` and :func:`load_pretrained` handle, by name; each file's ``"format"``
#: is ``minignn.<name>/1`` (a PaiNN file of an older minignn reads as before).
PRETRAINED_MODELS = ("painn", "nequip", "mace")
_FORMATS = {name: f"minignn.{name}/1" for name in PRETRAINED_MODELS}


def _model_classes(name: str) -> tuple[type, type]:
    """``(model class, config class)`` of one of :data:`PRETRAINED_MODELS` (NequIP and MACE imported on use)."""
    if name == "painn":
        return PaiNN, PaiNNConfig
    if name == "nequip":
        from minignn.tfn import NequIP, NequIPConfig

        return NequIP, NequIPConfig
    from minignn.mace import MACE, MACEConfig

    return MACE, MACEConfig


def _model_name(model) -> str:
    """The :data:`PRETRAINED_MODELS` name of ``model``'s class; ValueError naming ``model`` otherwise."""
    for name in PRETRAINED_MODELS:
        if type(model) is _model_classes(name)[0]:
            return name
    raise ValueError(f"model must be a PaiNN, a NequIP or a MACE (one of {list(PRETRAINED_MODELS)}), got "
                     f"{type(model).__name__}")


def _check_model_name(model, argument: str = "model") -> str:
    if not isinstance(model, str) or model not in PRETRAINED_MODELS:
        raise ValueError(f"{argument} must be one of {list(PRETRAINED_MODELS)}, got {model!r}")
    return model


def qm7_checkpoint_path(model: str = "painn") -> Path:
    """Where the shipped QM7 checkpoint of ``model`` (one of :data:`PRETRAINED_MODELS`) lives:
    ``minignn/checkpoints/qm7_<model>.pt`` (inside the package, so it works from a wheel)."""
    return CHECKPOINT_DIR / f"qm7_{_check_model_name(model)}.pt"


@dataclass
class PaiNNConfig:
    """Sizes of a :class:`PaiNN` (plain numbers and strings: stored in checkpoints)."""

    num_types: int = 5  # atom types (QM7: H, C, N, O, S)
    width: int = 64  # F
    layers: int = 3  # message + update blocks
    num_basis: int = 20  # K
    cutoff: float = 5.0  # r_c, Angstrom
    basis: str = "bessel"  # or "gaussian"
    envelope: str = "cosine"  # or "polynomial"

    def __post_init__(self):
        """Checked on creation (a config read from a checkpoint too): sizes are integers, the cutoff a positive number."""
        self.num_types = check_int(self.num_types, "num_types", minimum=1)
        self.width = check_int(self.width, "width", minimum=2)  # the readout's hidden layer has width // 2
        self.layers = check_int(self.layers, "layers")
        self.num_basis = check_int(self.num_basis, "num_basis", minimum=1)
        self.cutoff = check_number(self.cutoff, "cutoff", minimum=0, strict_minimum=True)
        if self.basis not in ("bessel", "gaussian"):
            raise ValueError(f"basis must be 'bessel' or 'gaussian', got {self.basis!r}")
        if self.envelope not in ("cosine", "polynomial"):
            raise ValueError(f"envelope must be 'cosine' or 'polynomial', got {self.envelope!r}")


class PaiNNMessage(MessagePassing):
    r"""The message step: :math:`\Delta s_j, \Delta \vec v_j` from the neighbours :math:`i > j` (see module docstring).

    ``forward(s [N, F], v [N, 3, F], edge_index [2, E], unit [E, 3], rbf [E, K])`` -> ``(ds [N, F], dv [N, 3, F])``.
    ``rbf`` already includes the envelope, so every message vanishes smoothly at the cutoff.

    A :class:`~minignn.mpnn.MessagePassing` on the node state :math:`(s, \vec v)` with edge attributes
    ``(unit, rbf)``: one message ``[E, 4, F]`` per edge (the scalar part and the three vector components,
    aggregated in one scatter), and ``update`` returns the increments.  ``edge_messages`` applies
    :math:`\phi` per node before gathering (same messages, fewer products), tested equal to the plain path.
    """

    def __init__(self, width: int, num_basis: int):
        super().__init__(reduce="sum")
        self.width = width = check_int(width, "width", minimum=1)
        num_basis = check_int(num_basis, "num_basis", minimum=1)
        self.phi = mlp(width, width, 3 * width)
        self.filter = nn.Linear(num_basis, 3 * width, bias=False)  # no bias: W e(d) vanishes at the cutoff

    def forward(self, s, v, edge_index, unit, rbf):
        n = check_inputs(s, edge_index)
        check_features(s, self.width, self.phi[0].weight, "s", "this PaiNNMessage")
        if not isinstance(v, Tensor) or v.shape != (n, 3, self.width) or v.dtype != s.dtype:
            raise ValueError(f"v must be a {s.dtype} tensor of shape [N={n}, 3, F={self.width}], got "
                             f"{getattr(v, 'dtype', type(v).__name__)} {list(getattr(v, 'shape', []))}")
        e, k = edge_index.shape[1], self.filter.in_features
        if not isinstance(unit, Tensor) or not isinstance(rbf, Tensor) or unit.shape != (e, 3) or rbf.shape != (e, k):
            raise ValueError(f"unit must be [E={e}, 3] and rbf [E={e}, K={k}], got {list(getattr(unit, 'shape', []))} "
                             f"and {list(getattr(rbf, 'shape', []))}")
        check_features(rbf, k, self.filter.weight, "rbf", "this PaiNNMessage")
        if unit.dtype != s.dtype:
            raise ValueError(f"unit must have the dtype of s ({s.dtype}), got {unit.dtype}")
        return self.propagate((s, v), edge_index, (unit, rbf))

    def message(self, x_src, x_dst, edge_attr):
        (s_i, v_i), (unit, rbf) = x_src, edge_attr
        return self._combine(self.phi(s_i) * self.filter(rbf), v_i, unit)

    def edge_messages(self, x, edge_index, edge_attr):
        (s, v), (unit, rbf), src = x, edge_attr, edge_index[0]
        return self._combine(self.phi(s)[src] * self.filter(rbf), v[src], unit)  # phi per node, then gathered

    def _combine(self, a, v_i, unit):
        a_ss, a_vv, a_vs = a.split(self.width, dim=-1)  # [E, F] each
        dv = v_i * a_vv.unsqueeze(1) + unit.unsqueeze(-1) * a_vs.unsqueeze(1)  # [E, 3, F]
        return torch.cat([a_ss.unsqueeze(1), dv], dim=1)  # [E, 4, F]: one aggregation

    def update(self, x, aggregated):
        return aggregated[:, 0], aggregated[:, 1:]


class PaiNNUpdate(nn.Module):
    r"""The update step: atom-wise mixing of scalars and vectors (see module docstring).

    ``forward(s [N, F], v [N, 3, F])`` -> ``(ds [N, F], dv [N, 3, F])``.
    """

    def __init__(self, width: int):
        super().__init__()
        self.width = width = check_int(width, "width", minimum=1)
        self.U = nn.Linear(width, width, bias=False)
        self.V = nn.Linear(width, width, bias=False)
        self.psi = mlp(2 * width, width, 3 * width)

    def forward(self, s, v):
        check_features(s, self.width, self.U.weight, "s", "this PaiNNUpdate")
        if not isinstance(v, Tensor) or v.shape != (s.shape[0], 3, self.width) or v.dtype != s.dtype:
            raise ValueError(f"v must be a {s.dtype} tensor of shape [N={s.shape[0]}, 3, F={self.width}], got "
                             f"{getattr(v, 'dtype', type(v).__name__)} {list(getattr(v, 'shape', []))}")
        return self._update(s, v)

    def _update(self, s, v):
        Uv, Vv = self.U(v), self.V(v)  # [N, 3, F]: linear in the feature index only
        norm = torch.sqrt((Vv * Vv).sum(1) + 1e-8)  # [N, F], invariant (eps: finite gradient at 0)
        b_vv, b_sv, b_ss = self.psi(torch.cat([s, norm], dim=-1)).split(self.width, dim=-1)
        return b_sv * (Uv * Vv).sum(1) + b_ss, b_vv.unsqueeze(1) * Uv


class PaiNN(nn.Module):
    r"""PaiNN energy model: :math:`y_g = \sum_{j \in g} \rho(s^L_j)` (see the module docstring).

    Args:
        config: a :class:`PaiNNConfig` (or keyword arguments of it).

    ``forward(x [N] int64 atom types, pos [N, 3], edge_index [2, E], batch [N] | None, num_graphs | None)``
    -> ``[num_graphs]`` (the package's order; a :class:`minignn.graph.Graph` is unpacked by
    :func:`minignn.graph.call_model`).  E(3)-invariant and permutation-invariant.

    Book: chapter qm7, section "A network with scalar and vector features".
    """

    def __init__(self, config: PaiNNConfig | None = None, **kwargs):
        super().__init__()
        if config is not None and kwargs:
            raise ValueError(f"give either a config or keyword arguments, got both (keywords {sorted(kwargs)})")
        if config is not None and not isinstance(config, PaiNNConfig):
            raise ValueError(f"config must be a PaiNNConfig, got {type(config).__name__}")
        self.config = cfg = config or PaiNNConfig(**kwargs)
        self.rbf = (BesselBasis if cfg.basis == "bessel" else GaussianBasis)(cfg.num_basis, cfg.cutoff, cfg.envelope)
        self.embed = nn.Embedding(cfg.num_types, cfg.width)
        self.messages = nn.ModuleList(PaiNNMessage(cfg.width, cfg.num_basis) for _ in range(cfg.layers))
        self.updates = nn.ModuleList(PaiNNUpdate(cfg.width) for _ in range(cfg.layers))
        self.readout = mlp(cfg.width, cfg.width // 2, 1)

    def forward(self, x, pos, edge_index, batch=None, num_graphs=None) -> Tensor:
        weight = self.embed.weight
        if isinstance(pos, Tensor) and (pos.dtype != weight.dtype or pos.device != weight.device):
            raise ValueError(f"pos is {pos.dtype} on {pos.device} but the weights of this PaiNN are {weight.dtype} on "
                             f"{weight.device}; convert one of them (pos.to(...) or model.to(...))")
        vec = edge_vectors(pos, edge_index)  # [E, 3], r_ij = r_j - r_i; checks pos and edge_index
        _check_types(x, pos.shape[0], self.config.num_types)
        d = torch.linalg.vector_norm(vec, dim=-1)  # [E]
        if bool((d == 0).any()):
            raise ValueError("pos: two atoms joined by an edge sit at the same position (distance 0)")
        unit = vec / d.unsqueeze(-1)  # [E, 3]
        rbf = self.rbf(d)  # [E, K], envelope included
        s = self.embed(x)  # [N, F]
        v = s.new_zeros(s.shape[0], 3, s.shape[1])  # [N, 3, F]
        for message, update in zip(self.messages, self.updates):  # inputs validated above
            ds, dv = message.propagate((s, v), edge_index, (unit, rbf))
            s, v = s + ds, v + dv
            ds, dv = update(s, v)  # checks shapes and dtypes only: no synchronisation
            s, v = s + ds, v + dv
        return global_pool(self.readout(s), batch, num_graphs, "sum").squeeze(-1)  # [num_graphs]

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def _check_types(x, num_nodes: int, num_types: int) -> None:
    if not isinstance(x, Tensor) or x.shape != (num_nodes,) or x.dtype != torch.int64:
        got = f"{x.dtype} {list(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must hold int64 atom types of shape [num_nodes={num_nodes}], got {got}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_types):
        raise ValueError(f"atom types must lie in [0, {num_types - 1}], got [{int(x.min())}, {int(x.max())}]")


@dataclass
class Pretrained:
    r"""A trained energy model: :math:`\hat y_g = \text{baseline}_g + \mu + \sigma f_\theta(G_g)`.

    ``model`` (a :class:`PaiNN`, a :class:`minignn.tfn.NequIP` or a :class:`minignn.mace.MACE`, eval mode), ``baseline`` (:class:`minignn.baselines.CompositionBaseline`),
    ``standardizer`` (:class:`minignn.baselines.Standardizer`), ``info`` (cutoff, units, fold, scores, and
    ``info["split"]``: the molecules it was trained, validated and tested on, see :attr:`split`).
    """

    model: nn.Module
    baseline: object
    standardizer: object
    info: dict

    @property
    def split(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(train, val, test)`` int64 indices of the molecules this model was trained, validated and tested on,
        as recorded in its checkpoint (checked against their sha256 and for disjointness)."""
        from minignn.datasets.qm7 import check_split

        if "split" not in self.info:
            raise ValueError("this checkpoint does not record its split (written before splits were recorded); "
                             "re-run benchmarks/qm7.py")
        return check_split(self.info["split"])

    def split_of(self, data) -> tuple[Tensor, Tensor, Tensor]:
        """:attr:`split`, after checking that ``data`` (a :class:`minignn.datasets.QM7`, loaded with the folds the
        checkpoint names: ``load_qm7(folds=info["split"]["folds"])``) reproduces it.  Raises ValueError if not."""
        from minignn.datasets.qm7 import check_split

        self.split  # noqa: B018  (the record exists)
        return check_split(self.info["split"], data)

    def predict(self, graphs, batch_size: int = 256) -> Tensor:
        """Energies of a list of graphs (built with ``cutoff = info["cutoff"]``), ``[len(graphs)]`` float64."""
        from minignn.train import predict

        return predict(self.model, graphs, self.baseline, self.standardizer, batch_size)


def save_pretrained(path, model, baseline, standardizer, info: dict | None = None) -> Path:
    """Write weights (float32), config, baseline and standardiser: small, and ``weights_only``-loadable.

    ``model``: a :class:`PaiNN`, a :class:`minignn.tfn.NequIP` or a :class:`minignn.mace.MACE` (its config dataclass
    is stored as a dict, the file's ``"format"`` names the model); read it back with :func:`load_pretrained`.
    """
    name = _model_name(model)
    for argument, obj in (("baseline", baseline), ("standardizer", standardizer)):
        if not callable(getattr(obj, "state_dict", None)):
            raise ValueError(f"{argument} must have a state_dict() (a CompositionBaseline, a Standardizer), got "
                             f"{type(obj).__name__}")
    if info is not None and not isinstance(info, dict):
        raise ValueError(f"info must be a dict (or None), got {type(info).__name__}")
    state = {"format": _FORMATS[name], "config": asdict(model.config),
             "model": {k: v.detach().to(torch.float32) if v.is_floating_point() else v for k, v in model.state_dict().items()},
             "baseline": baseline.state_dict(), "standardizer": standardizer.state_dict(), "info": dict(info or {})}
    return save_checkpoint(path, state)


def load_pretrained(path=None, model: str | None = None) -> Pretrained:
    """Read a :func:`save_pretrained` file with ``torch.load(weights_only=True)``.

    ``path``: the file; None: the shipped QM7 checkpoint of ``model`` (:func:`qm7_checkpoint_path`; PaiNN's when
    ``model`` is None too).  ``model``: None (whichever of :data:`PRETRAINED_MODELS` the file holds) or the name
    the file must hold.

    Raises:
        FileNotFoundError: no file at ``path``; ValueError: not a PaiNN, NequIP or MACE checkpoint, not the
        ``model`` asked for, or a damaged one.
    """
    from minignn.baselines import CompositionBaseline, Standardizer

    if model is not None:
        _check_model_name(model)
    path = qm7_checkpoint_path(model or "painn") if path is None else Path(path)
    wanted = (model,) if model is not None else PRETRAINED_MODELS
    kinds = {"painn": "PaiNN", "nequip": "NequIP", "mace": "MACE"}
    kind = ", ".join(kinds[m] for m in wanted[:-1]) + (" or " if len(wanted) > 1 else "") + kinds[wanted[-1]]
    state = load_checkpoint(path, format=tuple(_FORMATS[m] for m in wanted), kind=kind,
                            missing_hint=" (the QM7 ones are written by benchmarks/qm7.py --model ...)",
                            keys=("config", "model", "baseline", "standardizer", "info"))
    name = next(m for m in wanted if _FORMATS[m] == state["format"])
    model_class, config_class = _model_classes(name)
    try:
        if not isinstance(state["config"], dict):
            raise TypeError(f"config is a {type(state['config']).__name__}, not a dict")
        net = model_class(config_class(**state["config"]))
        baseline = CompositionBaseline.from_state_dict(state["baseline"])
        if not isinstance(state["standardizer"], dict):
            raise TypeError(f"standardizer is a {type(state['standardizer']).__name__}, not a dict")
        standardizer = Standardizer(**state["standardizer"])
        if not isinstance(state["info"], dict):
            raise TypeError(f"info is a {type(state['info']).__name__}, not a dict")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} is a damaged {kinds[name]} checkpoint: {err}") from err
    load_weights(net, state["model"], path, kinds[name])
    net.eval()
    return Pretrained(net, baseline, standardizer, state["info"])
