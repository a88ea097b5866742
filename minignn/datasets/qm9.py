r"""QM9: 130,831 molecules of up to 9 heavy atoms (C, N, O, F) with 3D geometries and 15 properties.

Source: the PyPI package ``qm9pack`` (MIT, by the QM9 authors), which ships the data of
Ramakrishnan et al., Sci. Data 1:140022 (2014) as CSV files ``data/qm9_part{1,2,3}.csv``:
positions in **Angstrom**, energies in **Hartree** (B3LYP/6-31G(2df,p)).  The files are
found with :func:`importlib.util.find_spec`, *without* importing ``qm9pack`` (its
``__init__`` needs ``pkg_resources``).

The first :func:`load_qm9` parses the CSV files (vectorised, a few seconds) into one
cache file ``qm9-<hash>.pt`` in :func:`minignn.datasets.cache.cache_dir` (written
atomically); later loads read that file (well under 2 s).  The cache holds a format
version and the size and mtime of each CSV file: a change of either rebuilds it.

Targets (``QM9.molecules.y``, units in ``.units``; the names of Gilmer et al. 2017):

======  ===========================  ============
name    CSV column                   unit
======  ===========================  ============
A B C   RotA/B/C_GHz                 GHz
mu      Dipole_debye                 D
alpha   Polarizability_bohr3         Bohr^3
homo    HOMO_au                      Hartree
lumo    LUMO_au                      Hartree
gap     HOMO_LUMO_gap_au             Hartree
r2      R2_bohr2                     Bohr^2
zpve    ZPVE_au                      Hartree
U0 U    InternalEnergy_0K/298K_au    Hartree
H G     Enthalphy/GibbsFreeEnergy    Hartree
Cv      Heatcapacity_Cv_cal_mol_K    cal/(mol K)
======  ===========================  ============

Atomization energies ``U0_atom``, ``U_atom``, ``H_atom``, ``G_atom`` (Hartree):

$$E^\mathrm{atom} = E - \sum_{i \in G_0} E^\mathrm{ref}(z_i)$$

with the free-atom energies :data:`ATOMREF` of the QM9 "atomref" table (same level of
theory; figshare doi:10.6084/m9.figshare.1057643, file ``atomref.txt``).  qm9pack does not
ship this table.  They are negative (a molecule is bound); :meth:`QM9.atomization_energy`
gives them in eV (default) or kcal/mol via :mod:`minignn.units`.

Book: chapter diffusion, section "QM9".
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from minignn.checkpoint import atomic_write
from minignn.checks import check_bool, check_int
from minignn.datasets.cache import cache_dir
from minignn.datasets.atoms import QM9_TYPES, SYMBOLS
from minignn.datasets.molecules import Molecule, MoleculeSet, molecules_to_graphs
from minignn.graph import Graph
from minignn.scatter import scatter
from minignn.units import convert

__all__ = ["QM9", "QM9_MOLECULES", "TARGETS", "ATOMREF", "qm9pack_data_dir", "parse_qm9_csv", "load_qm9"]

QM9_MOLECULES = 130_831
FORMAT_VERSION = 1
_log = logging.getLogger("minignn.datasets")

#: target name -> (qm9pack CSV column, unit)
TARGETS = {
    "A": ("RotA_GHz", "GHz"), "B": ("RotB_GHz", "GHz"), "C": ("RotC_GHz", "GHz"),
    "mu": ("Dipole_debye", "D"), "alpha": ("Polarizability_bohr3", "Bohr^3"),
    "homo": ("HOMO_au", "Hartree"), "lumo": ("LUMO_au", "Hartree"), "gap": ("HOMO_LUMO_gap_au", "Hartree"),
    "r2": ("R2_bohr2", "Bohr^2"), "zpve": ("ZPVE_au", "Hartree"),
    "U0": ("InternalEnergy_0K_au", "Hartree"), "U": ("InternalEnergy_298K_au", "Hartree"),
    "H": ("Enthalphy_298K_au", "Hartree"), "G": ("GibbsFreeEnergy_298K_au", "Hartree"),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", "cal/(mol K)"),
}
#: Free-atom energies in Hartree, B3LYP/6-31G(2df,p), from the QM9 atomref table (Ramakrishnan et al. 2014).
ATOMREF = {
    "U0": {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730},
    "U": {1: -0.498857, 6: -37.845355, 7: -54.582445, 8: -75.063163, 9: -99.717314},
    "H": {1: -0.497912, 6: -37.844411, 7: -54.581501, 8: -75.062219, 9: -99.716370},
    "G": {1: -0.510927, 6: -37.861317, 7: -54.598897, 8: -75.079532, 9: -99.733544},
}
_COLUMNS = ["Index", "SMILES", "N_atoms", "Elements", "XYZ_Ang"] + [c for c, _ in TARGETS.values()]


def qm9pack_data_dir() -> Path:
    """The ``data`` folder of the installed qm9pack, found without importing qm9pack."""
    spec = importlib.util.find_spec("qm9pack")  # a top-level spec: qm9pack/__init__.py is not run
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("QM9 needs the PyPI package qm9pack (MIT, by the QM9 authors), which is not "
                                "installed: run `pip install qm9pack==1.0.3` (no other download is needed)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _csv_files(folder: Path) -> list[Path]:
    files = sorted(Path(folder).glob("qm9_part*.csv"))
    if not files:
        raise FileNotFoundError(f"no qm9_part*.csv files in {folder}; reinstall qm9pack (`pip install "
                                "--force-reinstall qm9pack==1.0.3`) or pass data_dir= a folder holding them")
    return files


def _read_csv(path: Path):
    import pandas as pd

    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); expected a qm9pack CSV with columns {_COLUMNS}")
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path} is not a qm9pack CSV: missing columns {missing}")
    return pd.read_csv(path, usecols=_COLUMNS)


def _numbers(strings, path_hint: str) -> np.ndarray:
    """Parse "[[x,y,z],[x,y,z]]" strings into one flat float64 array."""
    text = ",".join(strings).translate(str.maketrans("", "", "[] \"'"))
    try:
        return np.array(text.split(",") if text else [], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path_hint}: XYZ_Ang holds a value that is not a number ({err})") from None


def parse_qm9_csv(files: list[Path], num_molecules: int | None = QM9_MOLECULES) -> dict:
    """Parse qm9pack's CSV files into the cache payload (flat tensors; see :func:`load_qm9`).

    Raises ValueError for an empty file, missing columns, atom counts that disagree with
    ``N_atoms``, an unknown element, a non-numeric coordinate, or the wrong number of molecules.
    """
    import pandas as pd

    where = ", ".join(str(f) for f in files)
    df = pd.concat([_read_csv(f) for f in files], ignore_index=True).sort_values("Index", kind="stable")
    m = len(df)
    if num_molecules is not None and m != num_molecules:
        raise ValueError(f"expected {num_molecules} QM9 molecules, got {m} in {where}")
    duplicated = df["Index"][df["Index"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{where}: duplicate molecule indices, e.g. {int(duplicated.iloc[0])}")
    for col in ("Elements", "XYZ_Ang", "SMILES"):
        df[col] = df[col].fillna("").astype(str)
    n = df["N_atoms"].to_numpy(np.int64)
    n_el = df["Elements"].str.count(",").to_numpy(np.int64) + 1
    n_xyz = df["XYZ_Ang"].str.count(",").to_numpy(np.int64) + 1
    wrong = np.flatnonzero((n < 1) | (n_el != n) | (n_xyz != 3 * n))
    if wrong.size:
        k = wrong[0]
        raise ValueError(f"molecule index {int(df['Index'].iloc[k])}: N_atoms={n[k]} but {n_el[k]} elements and "
                         f"{n_xyz[k]} coordinates (expected N_atoms >= 1, N_atoms elements, 3 N_atoms coordinates)")
    symbols = np.array(",".join(df["Elements"]).translate(str.maketrans("", "", "[] \"'")).split(",") if m else [])
    names, inverse = np.unique(symbols, return_inverse=True)
    unknown = [str(s) for s in names if s not in SYMBOLS[1:]]
    if unknown:
        raise ValueError(f"{where}: unknown element symbol(s) {unknown}")
    z = torch.tensor([SYMBOLS.index(s) for s in names], dtype=torch.int64)[torch.from_numpy(inverse.reshape(-1))]
    try:
        QM9_TYPES.check(z)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    pos = torch.from_numpy(_numbers(df["XYZ_Ang"], where).reshape(-1, 3).astype(np.float32))
    finite = torch.isfinite(pos).all(dim=1)
    if not bool(finite.all()):
        k = int(np.searchsorted(np.cumsum(n), int((~finite).nonzero()[0]), side="right"))
        raise ValueError(f"molecule index {int(df['Index'].iloc[k])} has NaN or infinite positions in {where}")
    targets = torch.from_numpy(df[[c for c, _ in TARGETS.values()]].to_numpy(np.float64, copy=True))
    bad = (~torch.isfinite(targets)).any(dim=1).nonzero()[:, 0]
    if bad.numel():
        raise ValueError(f"molecule index {int(df['Index'].iloc[int(bad[0])])} has a missing or non-finite target "
                         f"({len(bad)} molecule(s) in all) in {where}")
    return {
        "format": FORMAT_VERSION,
        "z": z.to(torch.uint8), "pos": pos,
        "ptr": torch.from_numpy(np.concatenate([[0], np.cumsum(n)]).astype(np.int64)),
        "index": torch.from_numpy(df["Index"].to_numpy(np.int64, copy=True)),
        "targets": targets, "target_names": list(TARGETS), "units": [u for _, u in TARGETS.values()],
        "smiles": "\n".join(df["SMILES"].astype(str)),
    }


def _fingerprint(files: list[Path]) -> str:
    return json.dumps([[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files])


@dataclass(frozen=True, repr=False)
class QM9:
    """QM9 as loaded by :func:`load_qm9`.

    Attributes:
        molecules: :class:`MoleculeSet`, positions in Angstrom, targets ``y`` in the units ``units`` (table above).
        source: the folder of CSV files; cache_file: the cache read or written (None with ``cache=False``).
    """

    molecules: MoleculeSet
    source: Path
    cache_file: Path | None

    def __len__(self) -> int:
        return len(self.molecules)

    def __getitem__(self, m: int) -> Molecule:
        return self.molecules[m]

    def __repr__(self) -> str:
        return f"QM9({len(self)} molecules, positions in Angstrom, energies in Hartree, source: {self.source})"

    def target(self, name: str, unit: str | None = None) -> Tensor:
        """Target ``name`` ``[M]`` (float64), converted to ``unit`` if given (lengths/energies)."""
        if name not in self.molecules.y:
            raise ValueError(f"unknown QM9 target {name!r}; available: {list(self.molecules.y)}")
        v = self.molecules.y[name]
        return v if unit is None else convert(v, self.molecules.units[name], unit)

    def atomization_energy(self, unit: str = "eV") -> Tensor:
        r""":math:`U_0 - \sum_i E^\mathrm{ref}_{U_0}(z_i)`, ``[M]``, in ``unit`` (eV, kcal/mol or Hartree)."""
        return self.target("U0_atom", unit)

    def graphs(self, cutoff: float | None = None, target: str = "U0_atom", unit: str | None = "eV",
               indices: Tensor | None = None) -> list[Graph]:
        """Graphs with ``y`` = ``target`` in ``unit``; cutoff in Angstrom (None: complete graphs)."""
        molecules = self.molecules if indices is None else self.molecules.subset(indices)  # checks the indices
        y = self.target(target, unit)
        y = y if indices is None else y[torch.as_tensor(indices, dtype=torch.int64).reshape(-1)]
        return molecules_to_graphs(molecules, cutoff=cutoff, target=y)


def _valid_payload(p, fingerprint: str) -> bool:
    """Is ``p`` a cache payload of this format, for these CSV files, with every entry of the right kind and shape?"""
    if not isinstance(p, dict) or p.get("format") != FORMAT_VERSION or p.get("source") != fingerprint:
        return False
    tensors = {"z": 1, "pos": 2, "ptr": 1, "index": 1, "targets": 2}
    if not all(isinstance(p.get(k), Tensor) and p[k].dim() == d for k, d in tensors.items()):
        return False
    names, units, smiles = p.get("target_names"), p.get("units"), p.get("smiles")
    if not (isinstance(names, list) and isinstance(units, list) and isinstance(smiles, str)):
        return False
    ptr, m = p["ptr"], p["ptr"].numel() - 1
    return (m >= 0 and p["z"].numel() == p["pos"].shape[0] and p["pos"].shape[1:] == (3,) and ptr.dtype == torch.int64
            and int(ptr[0]) == 0 and int(ptr[-1]) == p["z"].numel() and p["index"].shape == (m,)
            and p["targets"].shape == (m, len(TARGETS)) and names == list(TARGETS) and len(units) == len(names))


def _from_payload(p: dict, source: Path, cache_file: Path | None) -> QM9:
    z, ptr = p["z"].long(), p["ptr"]
    m = ptr.numel() - 1
    y = {name: p["targets"][:, k] for k, name in enumerate(p["target_names"])}
    units = dict(zip(p["target_names"], p["units"]))
    mol_of_atom = torch.repeat_interleave(torch.arange(m), ptr.diff())
    table = torch.zeros(max(QM9_TYPES.elements) + 1, len(ATOMREF), dtype=torch.float64)  # [z, energy kind]
    for k, ref in enumerate(ATOMREF.values()):
        table[list(ref), k] = torch.tensor(list(ref.values()), dtype=torch.float64)
    free_atoms = scatter(table[z], mol_of_atom, dim=0, dim_size=m, reduce="sum")  # sum_i E_ref(z_i), [M, 4]
    for k, name in enumerate(ATOMREF):
        y[f"{name}_atom"] = y[name] - free_atoms[:, k]
        units[f"{name}_atom"] = "Hartree"
    molecules = MoleculeSet(z=z, pos=p["pos"], ptr=ptr, y=y, units=units, index=p["index"], atom_types=QM9_TYPES,
                            smiles=p["smiles"].split("\n") if m else [], name="QM9")
    return QM9(molecules=molecules, source=source, cache_file=cache_file)


def load_qm9(data_dir: str | Path | None = None, *, rebuild: bool = False, cache: bool = True,
             num_molecules: int | None = QM9_MOLECULES) -> QM9:
    """Load QM9 from its cache, parsing qm9pack's CSV files first when the cache is missing or stale.

    Args:
        data_dir: folder of ``qm9_part*.csv`` files; default: qm9pack's (:func:`qm9pack_data_dir`).
        rebuild: parse again even if the cache is valid.
        cache: False skips reading and writing the cache.
        num_molecules: the expected count (None accepts any, for small test files).

    Book: chapter diffusion, section "QM9".
    """
    if num_molecules is not None:
        num_molecules = check_int(num_molecules, "num_molecules (None: any)", minimum=1)
    rebuild, cache = check_bool(rebuild, "rebuild"), check_bool(cache, "cache")
    source = Path(data_dir) if data_dir is not None else qm9pack_data_dir()
    if not source.is_dir():
        raise FileNotFoundError(f"data_dir {source} is not a folder; pass a folder holding qm9_part*.csv files")
    files = _csv_files(source)
    fingerprint = _fingerprint(files)
    tag = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    path = cache_dir() / f"qm9-{tag}.pt" if cache else None
    payload = None
    if path is not None and path.is_file() and not rebuild:
        try:
            payload = torch.load(path, weights_only=True)
        except Exception as err:  # truncated or foreign file: rebuild it
            _log.warning("QM9 cache %s unreadable (%s); rebuilding", path, err)
        if payload is not None and not _valid_payload(payload, fingerprint):  # stale, or malformed: rebuild it
            if isinstance(payload, dict) and payload.get("format") == FORMAT_VERSION and payload.get("source") == fingerprint:
                _log.warning("QM9 cache %s is malformed; rebuilding", path)
            payload = None
    if payload is None:
        payload = parse_qm9_csv(files, num_molecules) | {"source": fingerprint}
        if path is not None:
            atomic_write(path, lambda tmp: torch.save(payload, tmp))
            _log.info("QM9: parsed %s into %s", source, path)
    m = payload["ptr"].numel() - 1
    if num_molecules is not None and m != num_molecules:
        raise ValueError(f"expected {num_molecules} QM9 molecules, the cache {path} holds {m}; pass rebuild=True")
    try:
        return _from_payload(payload, source, path)
    except ValueError as err:  # e.g. two atoms of one molecule at the same position: name the files
        raise ValueError(f"QM9 from {source}: {err}") from None
