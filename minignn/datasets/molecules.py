r"""Molecules and their graphs: a compact molecule set, radius or complete graphs.

A molecule is a set of atoms :math:`G_0 = \{0, \dots, n-1\}` with atomic numbers
:math:`z_i` and positions :math:`\mathrm{pos}_i \in \mathbb{R}^3` in **Angstrom**
(every loader converts to Angstrom on load; see :mod:`minignn.units`).  Its graph is
either complete, :math:`G_1 = \{(i, j) : i \neq j\}`, or a radius graph,
:math:`G_1 = \{(i, j) : i \neq j,\ |\mathrm{pos}_j - \mathrm{pos}_i| < r_c\}`, always
within one molecule (:mod:`minignn.neighbours`).

The node feature is the *atom type* :math:`x_i = t(z_i) \in \{0, \dots, K-1\}`, the
position of :math:`z_i` in the data set's sorted alphabet of elements
(:class:`minignn.datasets.atoms.AtomTypes`), ready for an embedding ``torch.nn.Embedding(K, F)``.

Design: a data set is a :class:`MoleculeSet`, all atoms of all molecules in flat
arrays (``z`` ``[A]``, ``pos`` ``[A, 3]``) cut by ``ptr`` ``[M + 1]`` (molecule ``m``
owns atoms ``ptr[m]:ptr[m+1]``), plus per-molecule targets ``y[name]`` ``[M]`` with
their ``units[name]``.  Indexing it gives a :class:`Molecule`; :func:`to_graph` and
:func:`molecules_to_graphs` give :class:`minignn.graph.Graph` objects, which
:func:`minignn.graph.batch` batches.

Book: chapter qm7, section "The data".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from minignn.checks import check_int
from minignn.datasets.atoms import AtomTypes, element_symbol
from minignn.graph import Graph
from minignn.neighbours import fully_connected, radius_graph

__all__ = ["Molecule", "MoleculeSet", "to_graph", "molecules_to_graphs", "find_coincident_atoms"]


def find_coincident_atoms(pos: Tensor, ptr: Tensor | None = None) -> tuple[int, int, int] | None:
    r"""The first pair of atoms of one molecule at the very same position, or None.

    $$\exists\, m,\ a < b \in G_m:\ \mathrm{pos}_a = \mathrm{pos}_b$$

    Two atoms at one position have no distance to divide by: angles, torsions, Coulomb matrices and unit vectors
    become NaN, and bond inference sees a triple bond.  Vectorised: each atom is projected on a fixed direction,
    :math:`v = x + c_1 y + c_2 z` (coincident atoms get equal :math:`v`), the :math:`v` of each molecule are sorted
    (molecules of equal size together), and only a molecule with two equal neighbours in that order is compared
    atom by atom.  About 0.2 s for the 2.4 million atoms of QM9.

    Args:
        pos: ``[A, 3]`` finite positions; ptr: ``[M + 1]`` molecule boundaries (None: one molecule).

    Returns:
        ``(m, a, b)``: the first such molecule ``m`` and its local atom indices ``a < b``; None when no atoms coincide.
    """
    ptr = torch.tensor([0, pos.shape[0]], device=pos.device) if ptr is None else ptr
    counts = ptr.diff()
    p = pos.double()
    v = p[:, 0] + 0.7548776662466927 * p[:, 1] + 0.5698402909980532 * p[:, 2]  # elementwise: same atoms, same v
    suspects = []
    for n in sorted(set(counts.tolist()) - {0, 1}):
        mols = (counts == n).nonzero()[:, 0]
        s = v[ptr[mols][:, None] + torch.arange(n, device=pos.device)].sort(dim=1).values  # [m, n]
        suspects.append(mols[(s[:, 1:] == s[:, :-1]).any(dim=1)])
    for m in sorted(torch.cat(suspects).tolist()) if suspects else []:
        block = pos[int(ptr[m]):int(ptr[m + 1])]  # [n, 3]
        n = block.shape[0]
        same = (block[:, None, :] == block[None, :, :]).all(-1) & ~torch.eye(n, dtype=torch.bool, device=pos.device)
        if bool(same.any()):
            a, b = same.nonzero()[0].tolist()
            return m, a, b
    return None


@dataclass(frozen=True)
class Molecule:
    """One molecule: ``z`` ``[n]`` int64, ``pos`` ``[n, 3]`` in Angstrom, targets ``y`` (name -> float,
    units given by its data set), ``smiles`` or None, ``index`` in the original data set."""

    z: Tensor
    pos: Tensor
    y: dict = field(default_factory=dict)
    smiles: str | None = None
    index: int = -1

    @property
    def num_atoms(self) -> int:
        return int(self.z.numel())

    @property
    def formula(self) -> str:
        """Hill formula (C first, then H, then alphabetical), e.g. ``CH4``."""
        counts: dict[str, int] = {}
        for zi in self.z.tolist():
            counts[element_symbol(zi)] = counts.get(element_symbol(zi), 0) + 1
        order = [s for s in ("C", "H") if s in counts and "C" in counts] + sorted(
            s for s in counts if not ("C" in counts and s in ("C", "H")))
        return "".join(s + (str(counts[s]) if counts[s] > 1 else "") for s in order)


@dataclass(frozen=True)
class MoleculeSet:
    r"""Many molecules in flat arrays: molecule ``m`` owns atoms ``ptr[m]:ptr[m+1]``.

    Args:
        z: ``[A]`` int64 atomic numbers; pos: ``[A, 3]`` positions in Angstrom.
        ptr: ``[M + 1]`` int64, ``ptr[0] = 0``, nondecreasing, ``ptr[M] = A``.
        y: target name -> ``[M]`` tensor; units: target name -> unit string.
        index: ``[M]`` int64 index of each molecule in the original data set.
        smiles: ``M`` SMILES strings or None.
        atom_types: the data set's :class:`AtomTypes`; every ``z`` must be in it.

    Construction checks all of this, and raises ``ValueError`` for an empty
    molecule, NaN or infinite positions, or an unknown element.
    ``len``, iteration and ``ms[m]`` (a :class:`Molecule`) work as for a list;
    ``ms.subset(indices)`` keeps some molecules.

    Book: chapter qm7, section "The data".
    """

    z: Tensor
    pos: Tensor
    ptr: Tensor
    y: dict
    units: dict
    index: Tensor
    atom_types: AtomTypes
    smiles: list | None = None
    name: str = ""

    def __post_init__(self) -> None:
        z, pos, ptr = self.z, self.pos, self.ptr
        for name in ("z", "pos", "ptr", "index"):
            if not isinstance(getattr(self, name), Tensor):
                raise ValueError(f"{name} must be a tensor, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.atom_types, AtomTypes):
            raise ValueError(f"atom_types must be an AtomTypes, got {type(self.atom_types).__name__}")
        if not isinstance(self.y, dict) or not isinstance(self.units, dict):
            raise ValueError(f"y and units must be dicts (target name -> [M] tensor, target name -> unit), got "
                             f"{type(self.y).__name__} and {type(self.units).__name__}")
        if z.dtype != torch.int64 or z.dim() != 1:
            raise ValueError(f"z must be an int64 tensor [A], got {z.dtype} {list(z.shape)}")
        if pos.shape != (z.numel(), 3) or not pos.is_floating_point():
            raise ValueError(f"pos must be a float tensor [A={z.numel()}, 3], got {pos.dtype} {list(pos.shape)}")
        if (ptr.dtype != torch.int64 or ptr.dim() != 1 or ptr.numel() < 1
                or int(ptr[0]) != 0 or int(ptr[-1]) != z.numel()):
            raise ValueError(f"ptr must be int64 [M + 1] from 0 to A={z.numel()}, got {ptr.dtype} {list(ptr.shape)}")
        counts = ptr.diff()
        m = counts.numel()
        if m and int(counts.min()) <= 0:
            k = int((counts <= 0).nonzero()[0])
            raise ValueError(f"molecule {k} (index {int(self.index[k])}) has no atoms; every molecule needs >= 1 atom")
        finite = torch.isfinite(pos).all(dim=1)
        if not bool(finite.all()):
            mol = torch.searchsorted(ptr, (~finite).nonzero()[:, 0], right=True) - 1
            k = int(mol[0])
            raise ValueError(f"{int(mol.unique().numel())} molecule(s) have NaN or infinite positions, "
                             f"first: molecule {k} (index {int(self.index[k])})")
        self.atom_types.check(z)
        clash = find_coincident_atoms(pos, ptr)
        if clash is not None:
            k, a, b = clash
            raise ValueError(f"molecule {k} (index {int(self.index[k]) if self.index.shape == (m,) else k}) has two atoms "
                             f"at the same position (atoms {a} and {b} at {pos[int(ptr[k]) + a].tolist()}); coincident "
                             "atoms have no distance, angle or bond: fix or drop that molecule")
        if self.index.shape != (m,):
            raise ValueError(f"index must have shape [M={m}], got {list(self.index.shape)}")
        for key, v in self.y.items():
            if not isinstance(v, Tensor) or v.shape[:1] != (m,):
                raise ValueError(f"target {key!r} must be a tensor [M={m}, ...], got {getattr(v, 'shape', type(v))}")
            if key not in self.units:
                raise ValueError(f"target {key!r} has no unit in units")
        if self.smiles is not None and len(self.smiles) != m:
            raise ValueError(f"smiles must hold M={m} strings, got {len(self.smiles)}")

    def __len__(self) -> int:
        return self.ptr.numel() - 1

    @property
    def num_atoms(self) -> Tensor:
        """Atoms per molecule, ``[M]``."""
        return self.ptr.diff()

    @property
    def batch(self) -> Tensor:
        """Molecule of each atom, ``[A]`` (the ``batch`` vector of the whole set)."""
        return torch.repeat_interleave(torch.arange(len(self)), self.num_atoms)

    def __getitem__(self, m: int) -> Molecule:
        try:
            m = check_int(m, "m", minimum=None)  # an int, a NumPy integer or a 0-d integer tensor
        except ValueError:
            raise ValueError(f"index a MoleculeSet with an int (use .subset(indices) for many), got {type(m).__name__}") from None
        if not -len(self) <= m < len(self):
            raise IndexError(f"molecule {m} out of range for {len(self)} molecules")
        m %= len(self)
        a, b = int(self.ptr[m]), int(self.ptr[m + 1])
        return Molecule(
            z=self.z[a:b], pos=self.pos[a:b], y={k: float(v[m]) for k, v in self.y.items() if v.dim() == 1},
            smiles=None if self.smiles is None else self.smiles[m], index=int(self.index[m]),
        )

    def __iter__(self):
        return (self[m] for m in range(len(self)))

    def subset(self, indices: Tensor | Sequence[int]) -> "MoleculeSet":
        """The molecules ``indices`` (in that order), as a new set."""
        raw = torch.as_tensor(indices)
        if raw.numel() and (raw.is_floating_point() or raw.is_complex() or raw.dtype == torch.bool):
            raise ValueError(f"indices must be integers (molecule numbers), got {raw.dtype}")
        idx = raw.to(torch.int64).reshape(-1)
        if idx.numel() and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise ValueError(f"indices must lie in [0, {len(self) - 1}], got [{int(idx.min())}, {int(idx.max())}]")
        idx = idx % max(len(self), 1)
        counts = self.num_atoms[idx]
        atom = torch.repeat_interleave(self.ptr[idx], counts) + (
            torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts))
        return MoleculeSet(
            z=self.z[atom], pos=self.pos[atom], ptr=torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]),
            y={k: v[idx] for k, v in self.y.items()}, units=dict(self.units), index=self.index[idx],
            atom_types=self.atom_types, smiles=None if self.smiles is None else [self.smiles[i] for i in idx.tolist()],
            name=self.name,
        )


def _target(y, m: int, target) -> Tensor | None:
    if target is None:
        return None
    if isinstance(target, str):
        if target not in y:
            raise ValueError(f"unknown target {target!r}; available: {sorted(y)}")
        return torch.as_tensor(y[target][m] if isinstance(y[target], Tensor) else y[target],
                               dtype=torch.get_default_dtype())
    return torch.as_tensor(target[m], dtype=torch.get_default_dtype())


def to_graph(mol: Molecule, atom_types: AtomTypes, cutoff: float | None = None, target: str | None = None) -> Graph:
    r"""The graph of one molecule: :math:`x_i = t(z_i)`, positions in Angstrom, radius or complete edges.

    $$G_1 = \{(i, j) : i \neq j,\ |\mathrm{pos}_j - \mathrm{pos}_i| < r_c\}
    \quad\text{(or all } i \neq j \text{ when } r_c = \text{None)}$$

    Args:
        mol: a :class:`Molecule` (``z`` ``[n]``, ``pos`` ``[n, 3]`` in Angstrom).
        atom_types: the alphabet giving :math:`t(z)`.
        cutoff: :math:`r_c` in Angstrom, or None for the complete graph.
        target: name of ``mol.y`` to put in ``Graph.y`` (a 0-d tensor), or None.

    Returns:
        ``Graph`` with ``x`` ``[n]`` int64 atom types, ``pos`` ``[n, 3]``, ``edge_index`` ``[2, E]``.

    Book: chapter qm7, section "The data".
    """
    if not isinstance(mol, Molecule):
        raise ValueError(f"mol must be a Molecule, got {type(mol).__name__}")
    if not isinstance(atom_types, AtomTypes):
        raise ValueError(f"atom_types must be an AtomTypes (e.g. minignn.datasets.QM9_TYPES), got {type(atom_types).__name__}")
    x = atom_types.index(mol.z)
    if not isinstance(mol.pos, Tensor) or mol.pos.shape != (mol.num_atoms, 3):
        raise ValueError(f"the molecule's pos must have shape [n={mol.num_atoms}, 3], got "
                         f"{list(getattr(mol.pos, 'shape', [])) if isinstance(mol.pos, Tensor) else type(mol.pos).__name__}")
    pos = mol.pos.to(torch.get_default_dtype()) if not mol.pos.is_floating_point() else mol.pos
    clash = find_coincident_atoms(pos)
    if clash is not None:
        raise ValueError(f"the molecule has two atoms at the same position (atoms {clash[1]} and {clash[2]}); "
                         "coincident atoms have no distance, angle or bond")
    edge_index = fully_connected(mol.num_atoms) if cutoff is None else radius_graph(pos, cutoff)
    return Graph(edge_index=edge_index, x=x, pos=pos, y=_target(mol.y, 0, target) if target else None)


def molecules_to_graphs(
    molecules: MoleculeSet | Sequence[Molecule],
    atom_types: AtomTypes | None = None,
    cutoff: float | None = None,
    target: str | Tensor | None = None,
    chunk: int = 8192,
) -> list[Graph]:
    r"""One :func:`to_graph` per molecule; batch the result with :func:`minignn.graph.batch`.

    For a :class:`MoleculeSet` the radius edges are computed ``chunk`` molecules at a
    time (one :func:`minignn.neighbours.radius_graph` call with a ``batch`` vector) and
    cut per molecule; complete graphs reuse one :func:`minignn.neighbours.fully_connected`
    per molecule size (molecules of equal size share that ``edge_index`` tensor: do not
    modify it in place).  The graphs equal those of :func:`to_graph`.

    Args:
        molecules: a :class:`MoleculeSet` or a sequence of :class:`Molecule`.
        atom_types: defaults to ``molecules.atom_types`` for a set (required otherwise).
        cutoff: radius :math:`r_c` in Angstrom, or None for complete graphs.
        target: a name of ``y``, or a tensor ``[M]`` of per-molecule targets, or None.

    Returns:
        a list of ``M`` graphs.

    Book: chapter qm7, section "The data".
    """
    if not isinstance(molecules, MoleculeSet):
        if isinstance(molecules, (str, Tensor)) or not hasattr(molecules, "__iter__"):
            raise ValueError(f"molecules must be a MoleculeSet or a sequence of Molecule, got {type(molecules).__name__}")
        chunk = check_int(chunk, "chunk", minimum=1)
        if atom_types is None:
            raise ValueError("atom_types is required for a sequence of Molecule (a MoleculeSet carries its own)")
        if target is not None and not isinstance(target, str):
            return [to_graph(m, atom_types, cutoff).replace(y=_target(None, k, target))
                    for k, m in enumerate(molecules)]
        return [to_graph(m, atom_types, cutoff, target) for m in molecules]
    chunk = check_int(chunk, "chunk", minimum=1)
    atom_types = atom_types or molecules.atom_types
    if not isinstance(atom_types, AtomTypes):
        raise ValueError(f"atom_types must be an AtomTypes, got {type(atom_types).__name__}")
    if isinstance(target, Tensor) and target.shape[:1] != (len(molecules),):
        raise ValueError(f"target must have shape [M={len(molecules)}], got {list(target.shape)}")
    x_all = atom_types.index(molecules.z)  # [A]
    ptr = molecules.ptr.tolist()
    if cutoff is None:  # a complete graph depends only on n: one fully_connected(n) per size, shared
        complete = {n: fully_connected(n) for n in set(molecules.num_atoms.tolist())}
        edge_lists = [complete[ptr[m + 1] - ptr[m]] for m in range(len(molecules))]
    else:
        edge_lists = []
        for c0 in range(0, len(molecules), chunk):
            c1 = min(c0 + chunk, len(molecules))
            counts = molecules.num_atoms[c0:c1]
            batch = torch.repeat_interleave(torch.arange(c1 - c0), counts)  # [atoms of the chunk]
            edge_index = radius_graph(molecules.pos[ptr[c0]:ptr[c1]], cutoff, batch=batch)  # sorted by src
            e_counts = torch.bincount(batch[edge_index[0]], minlength=c1 - c0).tolist()
            for k, ei in enumerate(torch.split(edge_index, e_counts, dim=1)):
                edge_lists.append(ei - (ptr[c0 + k] - ptr[c0]))  # chunk numbering -> molecule numbering
    return [Graph(edge_index=ei, x=x_all[ptr[m]:ptr[m + 1]], pos=molecules.pos[ptr[m]:ptr[m + 1]],
                  y=_target(molecules.y, m, target)) for m, ei in enumerate(edge_lists)]
