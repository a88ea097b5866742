r"""QM7: 7165 small organic molecules (H, C, N, O, S; up to 23 atoms) and their atomization energies.

The canonical file ``qm7.mat`` (Rupp et al. 2012, http://quantum-machine.org/data/qm7.mat) holds

====  ===================  ==================================================================
key   shape                meaning
====  ===================  ==================================================================
X     ``[7165, 23, 23]``   Coulomb matrices, :math:`0.5 Z_i^{2.4}` and :math:`Z_i Z_j / r_{ij}` (Bohr)
T     ``[1, 7165]``        PBE0 atomization energies, **kcal/mol**
Z     ``[7165, 23]``       nuclear charges, zero padded: the atoms are the entries with ``Z > 0``
R     ``[7165, 23, 3]``    positions in **Bohr**, zero padded
P     ``[5, 1433]``        the five cross-validation folds of Montavon et al. 2012 (optional here)
====  ===================  ==================================================================

:func:`load_qm7` looks for the file in ``path``, then ``$MINIGNN_DATA``, then the user
cache (:func:`minignn.datasets.cache.cache_dir`), and only then downloads it with pooch
into the cache (pooch writes to a temporary file and renames it: never a half file).
The canonical file's sha256 is not pinned (copies in circulation differ), so the file
is validated by content instead: keys, shapes, 7165 molecules, elements in
{1, 6, 7, 8, 16}, finite positions and energies.

On load positions are converted Bohr -> Angstrom (:func:`minignn.units.bohr_to_angstrom`,
the only place this happens); energies stay in kcal/mol.

Folds: the caller chooses them with ``folds=``:

* ``"stratified"``: :func:`stratified_folds`, deterministic folds stratified by energy
  (``folds_source = "stratified by energy, seed 0"``).  They depend on the energies ``T`` only,
  so every copy of the file gives the same folds: the shipped checkpoints use them.
* ``"file"``: the published folds ``P`` of Montavon et al. (``folds_source = "file P"``); a
  ValueError if the file has no ``P`` (the offline copy of CI has none).
* ``"auto"`` (default): ``"file"`` when the file has ``P``, else ``"stratified"``.

``QM7.folds_rule`` says which rule was used; :meth:`QM7.split_record` describes a split in a form a
checkpoint stores, and :func:`check_split` compares such a record with a loaded data set.

Terms of use: Copyright Rupp, Tkatchenko, Müller, von Lilienfeld; cite Blum & Reymond,
JACS 131:8732 (2009) and Rupp et al., PRL 108:058301 (2012).

Book: chapter qm7, section "The data".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from minignn.checks import check_int, check_number
from minignn.datasets.cache import cache_dir, data_dir, downloads_allowed, downloads_forbidden_by_environment
from minignn.datasets.atoms import QM7_TYPES
from minignn.datasets.molecules import Molecule, MoleculeSet, molecules_to_graphs
from minignn.graph import Graph
from minignn.units import bohr_to_angstrom

__all__ = ["QM7", "QM7_URL", "QM7_MOLECULES", "FOLD_RULES", "find_qm7", "read_qm7", "load_qm7", "stratified_folds",
           "qm7_split", "indices_sha256", "check_split"]

QM7_URL = "http://quantum-machine.org/data/qm7.mat"
QM7_MOLECULES = 7165
FOLD_RULES = ("auto", "file", "stratified")
_log = logging.getLogger("minignn.datasets")


def _how_to_place() -> str:
    return (f"To place it by hand: on a machine with internet download {QM7_URL} and copy it to "
            f"{cache_dir(create=False) / 'qm7.mat'}, or put it in a folder and set MINIGNN_DATA to that folder, "
            "or pass path='/some/folder/qm7.mat'.")


def _download(directory: Path) -> Path:
    """Fetch qm7.mat into ``directory`` with pooch (temporary file + rename). Tests replace this."""
    import pooch

    return Path(pooch.retrieve(QM7_URL, known_hash=None, fname="qm7.mat", path=directory, progressbar=False))


def find_qm7(path: str | Path | None = None, download: bool | None = None) -> Path:
    """Path of ``qm7.mat``: ``path``, else ``$MINIGNN_DATA/qm7.mat``, else the cache, else a download.

    Args:
        path: a file or a folder holding ``qm7.mat``; when given, nothing else is tried.
        download: False forbids downloading; None or True allow it, unless ``$MINIGNN_NO_DOWNLOAD=1``, which
            forbids every download (:func:`minignn.datasets.cache.downloads_allowed`).

    Raises:
        FileNotFoundError: saying where it looked and how to place the file by hand.
    """
    allowed = downloads_allowed(download)  # checks download and $MINIGNN_NO_DOWNLOAD first, whatever is found
    if path is not None:
        p = Path(path).expanduser()
        p = p / "qm7.mat" if p.is_dir() else p
        if not p.is_file():
            raise FileNotFoundError(f"no QM7 file at {p}. " + _how_to_place())
        return p
    folders = [d for d in (data_dir(), cache_dir(create=False)) if d is not None]  # $MINIGNN_DATA, then the cache
    candidates = [d / "qm7.mat" for d in folders]
    for p in candidates:
        if p.is_file():
            return p
    where = ", ".join(str(p) for p in candidates)
    if not allowed:
        why = ("MINIGNN_NO_DOWNLOAD is set, which forbids every download, download=True included"
               if downloads_forbidden_by_environment() else "download=False")
        raise FileNotFoundError(f"qm7.mat not found (looked at {where}) and downloads are disabled ({why}). "
                                + _how_to_place())
    try:
        return _download(cache_dir())
    except Exception as err:  # offline, proxy, server down: all end in the same advice
        raise FileNotFoundError(f"qm7.mat not found (looked at {where}) and downloading {QM7_URL} failed "
                                f"({type(err).__name__}: {err}). " + _how_to_place()) from err


def stratified_folds(energies: Tensor, num_folds: int = 5, seed: int = 0) -> Tensor:
    r"""Deterministic folds stratified by energy.

    Sort the molecules by energy (stable sort, ties kept in file order); cut the sorted
    list into consecutive blocks of ``num_folds``; give each block the fold ids
    ``rng.permutation(num_folds)`` (the first ones for a last, shorter block), with
    ``rng = numpy.random.default_rng(seed)`` drawn block after block.  Every fold thus
    holds one molecule of each energy block: the folds have the same energy distribution
    and sizes that differ by at most one (7165 = 5 x 1433 exactly).

    Args:
        energies: ``[M]``.

    Returns:
        ``[M]`` int64 fold id of each molecule, in ``0..num_folds-1``.

    Book: chapter qm7, section "Cross-validation folds".
    """
    e = np.asarray(torch.as_tensor(energies, dtype=torch.float64))
    if e.ndim != 1 or not np.isfinite(e).all():
        raise ValueError(f"energies must be a finite 1-d array, got shape {list(e.shape)}")
    if isinstance(num_folds, int) and not isinstance(num_folds, bool) and num_folds < 1:
        raise ValueError(f"num_folds must be >= 1, got {num_folds}")
    num_folds, seed = check_int(num_folds, "num_folds", minimum=1), check_int(seed, "seed")
    order = np.argsort(e, kind="stable")
    rng = np.random.default_rng(seed)
    folds = np.empty(e.size, dtype=np.int64)
    for start in range(0, e.size, num_folds):
        block = order[start : start + num_folds]
        folds[block] = rng.permutation(num_folds)[: block.size]
    return torch.from_numpy(folds)


def qm7_split(folds: Tensor, energies: Tensor, fold: int, val_fraction: float = 0.1) -> tuple[Tensor, Tensor, Tensor]:
    r"""Train, validation and test indices for cross-validation fold ``fold``.

    Test = the molecules of fold ``fold``.  Validation = a deterministic, energy-stratified
    ``val_fraction`` of the other folds: rank them by energy (stable), cut into blocks of
    ``step = round(1 / val_fraction)`` (10 for 0.1) and take the middle element
    (position ``step // 2``) of each block.  Train = the rest.

    Returns:
        ``(train, val, test)``, sorted int64 index tensors, disjoint, covering all molecules.

    Book: chapter qm7, section "Cross-validation folds".
    """
    raw = torch.as_tensor(folds)
    if raw.dim() != 1 or raw.is_floating_point() or raw.dtype == torch.bool:
        raise ValueError(f"folds must be a 1-d integer tensor of fold ids, got {raw.dtype} {list(raw.shape)}")
    folds = raw.to(torch.int64)
    energies = torch.as_tensor(energies)
    if energies.shape != folds.shape:
        raise ValueError(f"energies must have one entry per molecule, shape {list(folds.shape)}, got {list(energies.shape)}")
    num_folds = int(folds.max()) + 1 if folds.numel() else 0
    try:
        fold = check_int(fold, "fold", minimum=0, maximum=num_folds - 1)
    except ValueError:
        raise ValueError(f"fold must be an int in [0, {num_folds - 1}], got {fold!r}") from None
    try:
        fraction = check_number(val_fraction, "val_fraction", minimum=0, maximum=1)
    except ValueError:
        fraction = float("nan")  # not a number: reported below
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction!r}")
    val_fraction = fraction
    test = (folds == fold).nonzero()[:, 0]
    pool = (folds != fold).nonzero()[:, 0]
    if val_fraction == 0.0:
        return pool, pool[:0], test
    step = max(1, round(1.0 / val_fraction))
    ranked = pool[torch.argsort(energies[pool], stable=True)]
    val = ranked[step // 2 :: step].sort().values
    train = pool[~torch.isin(pool, val)]
    if train.numel() == 0 and pool.numel() > 0:
        raise ValueError(f"val_fraction={val_fraction} takes every one of the {pool.numel()} molecules outside fold "
                         f"{fold} for validation (one in round(1 / {val_fraction}) = {step}) and leaves none to train on; "
                         "use a val_fraction below 2/3, e.g. 0.1")
    return train, val, test


def indices_sha256(indices) -> str:
    """The sha256 (hex) of a set of molecule indices: sorted, as little-endian int64 bytes."""
    import hashlib

    raw = torch.as_tensor(indices)
    if raw.is_floating_point() or raw.is_complex() or raw.dtype == torch.bool:
        raise ValueError(f"indices must be integers (molecule indices), got {raw.dtype}")
    arr = np.sort(np.asarray(raw.to(torch.int64).cpu()).reshape(-1)).astype("<i8")
    return hashlib.sha256(arr.tobytes()).hexdigest()


def check_split(record: dict, qm7: QM7 | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Check a stored split (:meth:`QM7.split_record`) and return its ``(train, val, test)`` indices.

    Checks that the three index sets match their hashes and are pairwise disjoint; with ``qm7``, also that
    they cover its molecules and that ``qm7`` (loaded with the same ``folds`` rule and seed) reproduces them.
    Raises ValueError naming what disagrees.
    """
    if not isinstance(record, dict):
        raise ValueError(f"record must be the dict of QM7.split_record, got {type(record).__name__}")
    missing = [k for k in ("folds", "fold", "val_fraction", "train", "val", "test", "test_sha256") if k not in record]
    if missing:
        raise ValueError(f"the split record lacks {missing}: written before splits were recorded? Re-run the benchmark")
    parts = [torch.as_tensor(record[k], dtype=torch.int64) for k in ("train", "val", "test")]
    for name, idx in zip(("train", "val", "test"), parts):
        want = record.get(f"{name}_sha256")
        if want is not None and indices_sha256(idx) != want:
            raise ValueError(f"the stored {name} indices do not match their sha256 {want[:12]}...: the record is corrupt")
    train, val, test = parts
    for (a, name_a), (b, name_b) in (((train, "train"), (val, "val")), ((train, "train"), (test, "test")),
                                     ((val, "val"), (test, "test"))):
        common = np.intersect1d(a.numpy(), b.numpy())
        if common.size:
            raise ValueError(f"the {name_a} and {name_b} sets share {common.size} molecules (first: {int(common[0])})")
    if qm7 is not None:
        if qm7.folds_rule != record["folds"] or qm7.folds_seed != record.get("seed"):
            raise ValueError(f"the split uses folds={record['folds']!r} (seed {record.get('seed')}) but the data set was "
                             f"loaded with folds={qm7.folds_rule!r} (seed {qm7.folds_seed}); "
                             f"load it with load_qm7(folds={record['folds']!r})")
        now = qm7.split(int(record["fold"]), float(record["val_fraction"]))
        for name, a, b in zip(("train", "val", "test"), parts, now):
            if not torch.equal(a.sort().values, b.sort().values):
                raise ValueError(f"the stored {name} indices differ from those of {qm7.folds_source}, fold "
                                 f"{record['fold']} of {qm7.path}")
    return train, val, test


def _folds_from_p(P: np.ndarray, num_molecules: int, bad) -> tuple[Tensor, str]:
    P = np.asarray(P)
    if P.ndim != 2 or P.size != num_molecules or not np.all(P == np.round(P)):
        raise bad(f"P must be an integer [num_folds, M / num_folds] array covering M={num_molecules} molecules, "
                  f"got shape {list(P.shape)}")
    P = P.astype(np.int64)
    flat = np.sort(P.reshape(-1))
    for base in (0, 1):  # the canonical P is 0-based; accept a 1-based copy too
        if np.array_equal(flat, np.arange(base, num_molecules + base)):
            folds = np.empty(num_molecules, dtype=np.int64)
            for k, row in enumerate(P):
                folds[row - base] = k
            return torch.from_numpy(folds), "file P" if base == 0 else "file P (1-based)"
    raise bad("P must hold every molecule index exactly once")


@dataclass(frozen=True, repr=False)
class QM7:
    """The QM7 data set as loaded by :func:`load_qm7`.

    Attributes:
        molecules: :class:`MoleculeSet`, positions in Angstrom, ``y["energy"]`` in kcal/mol.
        energies: ``[7165]`` float64 atomization energies, kcal/mol (the file's ``T``).
        coulomb: ``[7165, 23, 23]`` the file's Coulomb matrices ``X`` (distances in Bohr).
        folds: ``[7165]`` int64 fold id in 0..4; folds_source: ``"file P"`` or ``"stratified by energy, seed 0"``.
        path: the file read.
        folds_rule: ``"file"`` or ``"stratified"`` (what ``folds="auto"`` resolved to);
        folds_seed: the seed of the stratified folds (None for the file's).
        has_file_folds: whether the file carries the published folds ``P`` (whichever folds were chosen).
    """

    molecules: MoleculeSet
    energies: Tensor
    coulomb: Tensor
    folds: Tensor
    folds_source: str
    path: Path
    folds_rule: str = "stratified"
    folds_seed: int | None = 0
    has_file_folds: bool = False

    def __len__(self) -> int:
        return len(self.molecules)

    def __getitem__(self, m: int) -> Molecule:
        return self.molecules[m]

    def __repr__(self) -> str:
        return (f"QM7({len(self)} molecules, energies in kcal/mol, positions in Angstrom, "
                f"folds: {self.folds_source}, file: {self.path})")

    def split(self, fold: int, val_fraction: float = 0.1) -> tuple[Tensor, Tensor, Tensor]:
        """``(train, val, test)`` indices for ``fold``; see :func:`qm7_split`."""
        return qm7_split(self.folds, self.energies, fold, val_fraction)

    def split_record(self, fold: int, val_fraction: float = 0.1) -> dict:
        """The split of ``fold`` as a checkpoint stores it: the fold rule and seed, the fold, the validation
        fraction, the indices (int32 tensors, small in a checkpoint) and the sha256 of each index set
        (:func:`indices_sha256`).  Read it back with :func:`check_split`."""
        parts = dict(zip(("train", "val", "test"), self.split(fold, val_fraction)))
        return {"folds": self.folds_rule, "seed": self.folds_seed, "folds_source": self.folds_source, "fold": fold,
                "val_fraction": val_fraction, **{k: v.to(torch.int32) for k, v in parts.items()},
                **{f"{k}_sha256": indices_sha256(v) for k, v in parts.items()}}

    def graphs(self, cutoff: float | None = None, indices: Tensor | None = None) -> list[Graph]:
        """Graphs with ``y`` = energy (kcal/mol); see :func:`molecules_to_graphs` (cutoff in Angstrom)."""
        mols = self.molecules if indices is None else self.molecules.subset(indices)
        return molecules_to_graphs(mols, cutoff=cutoff, target="energy")


def read_qm7(path: str | Path, num_molecules: int | None = QM7_MOLECULES, seed: int = 0, folds: str = "auto") -> QM7:
    """Read and validate one ``qm7.mat`` (no search, no download).

    Args:
        path: the file.
        num_molecules: the expected count (None accepts any, for small test files).
        seed: the seed of :func:`stratified_folds`.
        folds: ``"stratified"``, ``"file"`` (the file's ``P``) or ``"auto"`` (``P`` if present); see the module docstring.

    Raises:
        ValueError: the file is empty, unreadable, or its keys, shapes, elements or values are wrong;
        ``folds="file"`` for a file without ``P``.
    """
    import scipy.io

    if folds not in FOLD_RULES:
        raise ValueError(f"folds must be one of {FOLD_RULES}, got {folds!r}")
    if num_molecules is not None:
        num_molecules = check_int(num_molecules, "num_molecules (None: any)", minimum=1)
    seed = check_int(seed, "seed")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no QM7 file at {path}. " + _how_to_place())

    def bad(what: str) -> ValueError:
        return ValueError(f"{path} is not a valid QM7 file: {what}. Expected the MATLAB file {QM7_URL} "
                          "(keys X, T, Z, R, optionally P); delete or replace this file. " + _how_to_place())

    if path.stat().st_size == 0:
        raise bad("the file is empty (0 bytes)")
    try:
        d = scipy.io.loadmat(path)
    except Exception as err:
        raise bad(f"it cannot be read as a MATLAB file ({type(err).__name__}: {err})") from err
    missing = [k for k in "XTZR" if k not in d]
    if missing:
        raise bad(f"missing keys {missing} (found {sorted(k for k in d if not k.startswith('__'))})")
    X, T, Z, R = (np.asarray(d[k]) for k in "XTZR")
    if Z.ndim != 2:
        raise bad(f"Z must have shape [M, max_atoms], got {list(Z.shape)}")
    M, A = Z.shape
    if num_molecules is not None and M != num_molecules:
        raise bad(f"expected {num_molecules} molecules, got {M} (Z has shape {list(Z.shape)})")
    for key, arr, shape in (("R", R, (M, A, 3)), ("X", X, (M, A, A))):
        if arr.shape != shape:
            raise bad(f"{key} must have shape {list(shape)}, got {list(arr.shape)}")
    if T.size != M or T.ndim > 2 or (T.ndim == 2 and 1 not in T.shape):
        raise bad(f"T must have shape [1, {M}], got {list(T.shape)}")
    if not np.all(Z == np.round(Z)) or (Z < 0).any():
        raise bad("Z must hold non-negative integer nuclear charges")
    mask = Z > 0  # the atoms; the rest is padding
    empty = np.flatnonzero(mask.sum(1) == 0)
    if empty.size:
        raise bad(f"molecule {empty[0]} has no atoms (all of its Z are 0)")
    try:
        QM7_TYPES.check(torch.from_numpy(Z[mask].astype(np.int64)))
    except ValueError as err:
        raise bad(str(err)) from None
    bad_pos = np.flatnonzero(~(np.isfinite(R).all(axis=2) | ~mask).all(axis=1))  # padding may hold anything
    if bad_pos.size:
        raise bad(f"{bad_pos.size} molecule(s) have NaN or infinite positions R, first: molecule {bad_pos[0]}")
    energies = torch.from_numpy(T.reshape(-1).astype(np.float64))
    if not bool(torch.isfinite(energies).all()):
        raise bad("T holds NaN or infinite energies")
    pairs = mask[:, :, None] & mask[:, None, :]  # entries of X between real atoms (the padding may hold anything)
    bad_x = np.flatnonzero(~(np.isfinite(X) | ~pairs).all(axis=(1, 2)))
    if bad_x.size:
        raise bad(f"{bad_x.size} molecule(s) have NaN or infinite Coulomb matrices X, first: molecule {bad_x[0]}")

    counts = torch.from_numpy(mask.sum(1).astype(np.int64))
    try:
        molecules = MoleculeSet(
            z=torch.from_numpy(Z[mask].astype(np.int64)),
            pos=bohr_to_angstrom(torch.from_numpy(R[mask])),  # [A, 3]: Bohr -> Angstrom, here and only here
            ptr=torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]),
            y={"energy": energies}, units={"energy": "kcal/mol"},
            index=torch.arange(M), atom_types=QM7_TYPES, name="QM7",
        )
    except ValueError as err:  # coincident atoms: name the file
        raise bad(str(err)) from None
    has_p = "P" in d
    if folds == "file" and not has_p:
        raise ValueError(f"folds='file' asks for the published folds P, but {path} has no P (keys "
                         f"{sorted(k for k in d if not k.startswith('__'))}); use folds='stratified' (deterministic folds "
                         "from the energies) or folds='auto'")
    rule = ("file" if has_p else "stratified") if folds == "auto" else folds
    if has_p:
        file_folds, file_source = _folds_from_p(d["P"], M, bad)  # validated even when not used
    if rule == "file":
        fold_ids, source, fold_seed = file_folds, file_source, None
    else:
        fold_ids, source, fold_seed = stratified_folds(energies, 5, seed), f"stratified by energy, seed {seed}", seed
    _log.info("QM7: %d molecules from %s, folds: %s", M, path, source)
    return QM7(molecules=molecules, energies=energies, coulomb=torch.from_numpy(X), folds=fold_ids,
               folds_source=source, path=path, folds_rule=rule, folds_seed=fold_seed, has_file_folds=has_p)


def load_qm7(path: str | Path | None = None, *, download: bool | None = None,
             num_molecules: int | None = QM7_MOLECULES, folds: str = "auto") -> QM7:
    """Find (:func:`find_qm7`, possibly downloading), read and validate QM7 (:func:`read_qm7`).

    ``folds``: ``"stratified"`` (the same on every copy of the file; the shipped checkpoints use them), ``"file"``
    (the published ``P``; an error if the file lacks it) or ``"auto"`` (``P`` when present).

    Book: chapter qm7, section "The data".
    """
    if folds not in FOLD_RULES:
        raise ValueError(f"folds must be one of {FOLD_RULES}, got {folds!r}")
    return read_qm7(find_qm7(path, download), num_molecules=num_molecules, folds=folds)
