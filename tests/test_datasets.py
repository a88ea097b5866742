"""minignn.datasets (QM7, QM9, molecules -> graphs) and minignn.viewer.

Small files are written by the tests themselves; the real data are tested when present
(QM7 via $MINIGNN_DATA, QM9 via the installed qm9pack).  Nothing is ever downloaded:
an autouse fixture replaces the downloader by a function that fails the test.
"""

from __future__ import annotations

import csv
import itertools
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from minignn import units
from minignn.datasets import cache, qm7, qm9
from minignn.datasets import (
    QM7_TYPES, QM9_TYPES, AtomTypes, MoleculeSet, load_qm7, load_qm9, molecules_to_graphs,
    qm7_split, read_qm7, stratified_folds, to_graph,
)
from minignn.graph import batch, unbatch

REAL_DATA = os.environ.get("MINIGNN_DATA")  # read before the fixtures below clear it

# -- three small molecules, positions in Angstrom ------------------------------------------------
T = 0.6291  # methane: C-H = T * sqrt(3) = 1.0896 A
METHANE = ([6, 1, 1, 1, 1], [[0, 0, 0], [T, T, T], [-T, -T, T], [-T, T, -T], [T, -T, -T]])
WATER = ([8, 1, 1], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]])
H2S = ([16, 1, 1], [[0, 0, 0.1030], [0, 0.9616, -0.8239], [0, -0.9616, -0.8239]])
HF = ([9, 1], [[0, 0, 0], [0, 0, 0.9168]])


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Empty cache in tmp, no $MINIGNN_DATA, and a downloader that fails the test if called."""
    monkeypatch.setenv("MINIGNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGNN_DATA", raising=False)
    monkeypatch.delenv("MINIGNN_NO_DOWNLOAD", raising=False)

    def forbidden(directory):
        raise AssertionError(f"a test tried to download into {directory}")

    monkeypatch.setattr(qm7, "_download", forbidden)


def molecule_set(mols=(METHANE, WATER, H2S), types=QM7_TYPES, energies=None) -> MoleculeSet:
    z = torch.tensor([a for m in mols for a in m[0]])
    pos = torch.tensor([p for m in mols for p in m[1]], dtype=torch.float64)
    counts = torch.tensor([len(m[0]) for m in mols])
    e = torch.arange(len(mols), dtype=torch.float64) if energies is None else torch.as_tensor(energies)
    return MoleculeSet(z=z, pos=pos, ptr=torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]),
                       y={"energy": e}, units={"energy": "kcal/mol"}, index=torch.arange(len(mols)), atom_types=types)


# == atom types =================================================================================
def test_atom_types_are_contiguous_over_the_sorted_alphabet():
    assert QM7_TYPES.index(torch.tensor([1, 6, 7, 8, 16, 6])).tolist() == [0, 1, 2, 3, 4, 1]
    assert QM9_TYPES.index(torch.tensor([9, 1])).tolist() == [4, 0]
    z = torch.tensor([16, 1, 8, 8])
    assert torch.equal(QM7_TYPES.atomic_numbers(QM7_TYPES.index(z)), z)
    one_hot = QM7_TYPES.one_hot(z)
    assert one_hot.shape == (4, 5) and torch.equal(one_hot.argmax(1), QM7_TYPES.index(z))
    assert QM7_TYPES.symbols == ["H", "C", "N", "O", "S"] and len(QM9_TYPES) == 5


def test_unknown_element_is_named():
    with pytest.raises(ValueError, match=r"element 17 \(Cl\) is not in the QM7 alphabet \[1, 6, 7, 8, 16\]"):
        QM7_TYPES.index(torch.tensor([6, 17, 1]))
    with pytest.raises(ValueError, match=r"element 16 \(S\) is not in the QM9 alphabet \[1, 6, 7, 8, 9\]"):
        QM9_TYPES.index(torch.tensor([16]))
    with pytest.raises(ValueError, match=r"element 0 \(\?\) .*\(unknown elements: \[0, 2000\]\)"):
        QM7_TYPES.check(torch.tensor([0, 2000]))
    with pytest.raises(ValueError, match="distinct atomic numbers"):
        AtomTypes([1, 1])
    with pytest.raises(ValueError, match=r"atom types must lie in \[0, 4\]"):
        QM7_TYPES.atomic_numbers(torch.tensor([5]))


# == molecules and graphs =======================================================================
def test_molecule_set_indexing_subset_and_formula():
    ms = molecule_set()
    assert len(ms) == 3 and ms.num_atoms.tolist() == [5, 3, 3]
    assert [m.formula for m in ms] == ["CH4", "H2O", "H2S"]
    assert ms[-1].z.tolist() == H2S[0] and torch.allclose(ms[-1].pos, torch.tensor(H2S[1], dtype=torch.float64))
    sub = ms.subset([2, 0])
    for k, m in zip([2, 0], sub):  # oracle: the molecules themselves
        assert torch.equal(m.z, ms[k].z) and torch.equal(m.pos, ms[k].pos) and m.y == ms[k].y
    assert torch.equal(ms.batch, torch.tensor([0] * 5 + [1] * 3 + [2] * 3))
    with pytest.raises(IndexError):
        ms[3]


def test_molecule_set_bad_input():
    good = molecule_set()
    pos = good.pos.clone()
    pos[6, 1] = float("nan")  # an atom of the water molecule
    with pytest.raises(ValueError, match=r"1 molecule\(s\) have NaN or infinite positions, first: molecule 1"):
        MoleculeSet(good.z, pos, good.ptr, good.y, good.units, good.index, QM7_TYPES)
    with pytest.raises(ValueError, match="molecule 1 .* has no atoms"):
        MoleculeSet(good.z, good.pos, torch.tensor([0, 5, 5, 11]), good.y, good.units, good.index, QM7_TYPES)
    with pytest.raises(ValueError, match=r"element 16 \(S\) is not in the QM9 alphabet"):
        molecule_set(types=QM9_TYPES)
    with pytest.raises(ValueError, match="has no unit"):
        MoleculeSet(good.z, good.pos, good.ptr, good.y, {}, good.index, QM7_TYPES)


def brute_force_edges(pos, cutoff):
    """Oracle: every ordered pair (src, dst), src != dst, closer than the cutoff (or all pairs)."""
    n = pos.shape[0]
    return sorted((s, d) for s, d in itertools.product(range(n), range(n))
                  if s != d and (cutoff is None or float((pos[d] - pos[s]).norm()) < cutoff))


@pytest.mark.parametrize("cutoff", [None, 1.2, 1.6, 0.5])
def test_to_graph_against_brute_force(cutoff):
    for mol in molecule_set():
        g = to_graph(mol, QM7_TYPES, cutoff=cutoff, target="energy")
        assert sorted(map(tuple, g.edge_index.t().tolist())) == brute_force_edges(mol.pos, cutoff)
        assert torch.equal(g.x, QM7_TYPES.index(mol.z)) and torch.equal(g.pos, mol.pos)
        assert float(g.y) == mol.y["energy"]


@pytest.mark.parametrize("cutoff", [None, 1.2])
def test_molecules_to_graphs_matches_per_molecule_graphs_and_batches(cutoff):
    ms = molecule_set()
    graphs = molecules_to_graphs(ms, cutoff=cutoff, target="energy", chunk=2)  # chunks split the set
    one_by_one = [to_graph(m, QM7_TYPES, cutoff, "energy") for m in ms]
    for g, h in zip(graphs, one_by_one, strict=True):
        assert torch.equal(g.edge_index, h.edge_index) and torch.equal(g.x, h.x) and torch.equal(g.y, h.y)
    b = batch(graphs)  # the Foundation batching: blocks never touch
    assert b.num_graphs == 3 and torch.equal(b.x, QM7_TYPES.index(ms.z)) and torch.equal(b.batch, ms.batch)
    assert torch.equal(b.batch[b.edge_index[0]], b.batch[b.edge_index[1]])
    for g, h in zip(unbatch(b), graphs):
        assert torch.equal(g.edge_index, h.edge_index)
    # a tensor target and a plain list of Molecule give the same graphs
    y = torch.tensor([10.0, 20.0, 30.0])
    from_list = molecules_to_graphs(list(ms), QM7_TYPES, cutoff=cutoff, target=y)
    assert [float(g.y) for g in from_list] == [10.0, 20.0, 30.0]
    assert all(torch.equal(g.edge_index, h.edge_index) for g, h in zip(from_list, graphs))


def test_molecules_to_graphs_errors():
    ms = molecule_set()
    with pytest.raises(ValueError, match="atom_types is required"):
        molecules_to_graphs(list(ms))
    with pytest.raises(ValueError, match="unknown target 'U0'"):
        molecules_to_graphs(ms, target="U0")
    with pytest.raises(ValueError, match=r"target must have shape \[M=3\]"):
        molecules_to_graphs(ms, target=torch.zeros(2))


# == QM7 ========================================================================================
def coulomb_matrix(z, pos_bohr):
    """The QM7 definition: 0.5 Z^2.4 on the diagonal, Z_i Z_j / r_ij (Bohr) off it."""
    z = np.asarray(z, dtype=np.float64)
    r = np.linalg.norm(pos_bohr[:, None] - pos_bohr[None], axis=-1)
    with np.errstate(divide="ignore"):
        c = np.outer(z, z) / r
    np.fill_diagonal(c, 0.5 * z**2.4)
    return c


def write_qm7(path, mols=(METHANE, WATER, H2S), energies=(-417.96, -230.5, -180.25), drop=(), pad=5, **override):
    """A qm7.mat-like file: Z, R (Bohr) and X zero padded to ``pad`` atoms, T [1, M] in kcal/mol (first M energies)."""
    import scipy.io

    m = len(mols)
    Z, R, X = np.zeros((m, pad), np.float32), np.zeros((m, pad, 3), np.float32), np.zeros((m, pad, pad), np.float32)
    for k, (z, pos) in enumerate(mols):
        n = len(z)
        Z[k, :n] = z
        R[k, :n] = np.asarray(pos) / units.BOHR_IN_ANGSTROM
        X[k, :n, :n] = coulomb_matrix(z, R[k, :n].astype(np.float64))
    d = {"X": X, "T": np.asarray(energies[:m], np.float32)[None], "Z": Z, "R": R, **override}
    scipy.io.savemat(path, {k: v for k, v in d.items() if k not in drop})
    return path


def test_read_tiny_qm7_converts_bohr_to_angstrom_and_trims_padding(tmp_path):
    data = read_qm7(write_qm7(tmp_path / "qm7.mat"), num_molecules=None)
    assert len(data) == 3 and data.molecules.units == {"energy": "kcal/mol"}
    for mol, (z, pos) in zip(data.molecules, (METHANE, WATER, H2S)):
        assert mol.z.tolist() == z  # padding (Z = 0) dropped
        assert torch.allclose(mol.pos.double(), torch.tensor(pos, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(data.energies, torch.tensor([-417.96, -230.5, -180.25], dtype=torch.float64), atol=1e-4)
    assert data.folds_source == "stratified by energy, seed 0" and data.folds.shape == (3,)
    assert data.coulomb.shape == (3, 5, 5)
    graphs = data.graphs(cutoff=1.5)
    assert [g.num_nodes for g in graphs] == [5, 3, 3] and int(graphs[2].x[0]) == 4  # S has type 4
    assert "folds: stratified by energy, seed 0" in repr(data)


def test_qm7_padding_rows_are_ignored_even_if_garbage(tmp_path):
    path = write_qm7(tmp_path / "qm7.mat")
    import scipy.io

    d = scipy.io.loadmat(path)
    d["R"][1, 3:] = np.nan  # padding of water: not atoms, so not checked
    scipy.io.savemat(path, {k: d[k] for k in "XTZR"})
    assert read_qm7(path, num_molecules=None).molecules.num_atoms.tolist() == [5, 3, 3]


@pytest.mark.parametrize("base", [0, 1])
def test_qm7_uses_the_folds_of_the_file(tmp_path, base):
    P = np.array([[2], [0], [1]]) + base  # fold k holds molecule P[k]
    data = read_qm7(write_qm7(tmp_path / "qm7.mat", P=P), num_molecules=None)
    assert data.folds.tolist() == [1, 2, 0]
    assert data.folds_source == ("file P" if base == 0 else "file P (1-based)")


def test_qm7_bad_files(tmp_path):
    cases = {
        "empty": (lambda p: p.write_bytes(b""), r"is not a valid QM7 file: the file is empty"),
        "garbage": (lambda p: p.write_bytes(b"not a mat file at all" * 10), "cannot be read as a MATLAB file"),
        "no_R": (lambda p: write_qm7(p, drop=("R",)), r"missing keys \['R'\]"),
        "bad_R": (lambda p: write_qm7(p, R=np.zeros((3, 5, 2))), r"R must have shape \[3, 5, 3\], got \[3, 5, 2\]"),
        "bad_T": (lambda p: write_qm7(p, T=np.zeros((1, 4))), r"T must have shape \[1, 3\]"),
        "chlorine": (lambda p: write_qm7(p, mols=(METHANE, ([17, 1], [[0, 0, 0], [0, 0, 1.27]])), energies=(1, 2)),
                     r"element 17 \(Cl\) is not in the QM7 alphabet \[1, 6, 7, 8, 16\]"),
        "nan": (lambda p: write_qm7(p, mols=(METHANE, ([8, 1, 1], [[0, 0, 0], [0, 0, float("nan")], [0, 1, 0]]))),
                r"1 molecule\(s\) have NaN or infinite positions R, first: molecule 1"),
        "no_atoms": (lambda p: write_qm7(p, mols=(METHANE, ([], np.zeros((0, 3))))), "molecule 1 has no atoms"),
        "bad_P": (lambda p: write_qm7(p, P=np.array([[0], [0], [1]])), "P must hold every molecule index exactly once"),
    }
    for name, (write, message) in cases.items():
        path = tmp_path / f"{name}.mat"
        write(path)
        with pytest.raises(ValueError, match=message) as info:
            read_qm7(path, num_molecules=None)
        assert qm7.QM7_URL in str(info.value) and "MINIGNN_DATA" in str(info.value)  # says how to fix it
    with pytest.raises(ValueError, match="expected 7165 molecules, got 3"):
        read_qm7(write_qm7(tmp_path / "small.mat"))


def test_qm7_search_order_data_then_cache(tmp_path, monkeypatch):
    data_dir, cache_dir = tmp_path / "data", cache.cache_dir()
    data_dir.mkdir()
    write_qm7(cache_dir / "qm7.mat")
    assert load_qm7(num_molecules=None).path == cache_dir / "qm7.mat"
    write_qm7(data_dir / "qm7.mat", mols=(WATER,), energies=(-1.0,))
    monkeypatch.setenv("MINIGNN_DATA", str(data_dir))
    assert len(load_qm7(num_molecules=None)) == 1  # $MINIGNN_DATA first
    assert len(load_qm7(cache_dir, num_molecules=None)) == 3  # an explicit folder wins
    with pytest.raises(FileNotFoundError, match="no QM7 file at .*nowhere.mat"):
        load_qm7(tmp_path / "nowhere.mat")


def test_qm7_missing_file_without_download_says_how_to_place_it(monkeypatch):
    where = str(cache.cache_dir(create=False) / "qm7.mat")
    with pytest.raises(FileNotFoundError, match="downloads are disabled") as info:
        load_qm7(download=False)
    assert qm7.QM7_URL in str(info.value) and where in str(info.value) and "MINIGNN_DATA" in str(info.value)
    monkeypatch.setenv("MINIGNN_NO_DOWNLOAD", "1")
    with pytest.raises(FileNotFoundError, match="downloads are disabled"):
        load_qm7()


def test_qm7_failed_download_says_how_to_place_it(monkeypatch):
    def offline(directory):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(qm7, "_download", offline)
    message = r"downloading http://quantum-machine.org/data/qm7.mat failed \(ConnectionError: Name or service"
    with pytest.raises(FileNotFoundError, match=message + r" not known\)\. To place it by hand"):
        load_qm7()


def test_qm7_download_goes_to_the_cache(monkeypatch):
    calls = []

    def fake_download(directory):  # stands in for pooch.retrieve
        calls.append(directory)
        return write_qm7(Path(directory) / "qm7.mat")

    monkeypatch.setattr(qm7, "_download", fake_download)
    data = load_qm7(num_molecules=None)
    assert calls == [cache.cache_dir()] and data.path == cache.cache_dir() / "qm7.mat"
    load_qm7(num_molecules=None)  # now found in the cache: no second download
    assert len(calls) == 1


def test_the_cache_writes_through_the_one_atomic_writer(tmp_path):
    from minignn.checkpoint import atomic_write  # tested there: failures leave the old file, mode 0644

    assert cache.atomic_write is atomic_write
    target = tmp_path / "file.bin"
    target.write_text("old")

    def failing(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.atomic_write(target, failing)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]
    cache.atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


# == folds and splits ===========================================================================
@pytest.mark.parametrize("m", [7165, 23])
def test_stratified_folds_one_molecule_of_each_energy_block_per_fold(m):
    energies = torch.randn(m, dtype=torch.float64) * 200 - 1500
    folds = stratified_folds(energies)
    order = torch.argsort(energies, stable=True)
    for start in range(0, m, 5):  # oracle: the rule read directly off the sorted energies
        block = folds[order[start:start + 5]].tolist()
        assert sorted(block) == sorted(set(block)) and len(block) == min(5, m - start)
    sizes = torch.bincount(folds, minlength=5)
    assert int(sizes.max() - sizes.min()) <= 1
    assert torch.equal(folds, stratified_folds(energies))  # deterministic
    assert not torch.equal(folds, stratified_folds(energies, seed=1))
    if m > 1000:  # same energy distribution in every fold
        means = torch.stack([energies[folds == k].mean() for k in range(5)])
        assert float(means.max() - means.min()) < 0.01 * float(energies.std())


def test_qm7_split_partitions_and_is_stratified():
    energies = torch.randn(1000, dtype=torch.float64)
    folds = stratified_folds(energies)
    for k in range(5):
        train, val, test = qm7_split(folds, energies, k)
        assert torch.equal(test, (folds == k).nonzero()[:, 0])
        every = torch.cat([train, val, test]).sort().values
        assert torch.equal(every, torch.arange(1000))  # disjoint and complete
        assert not bool((folds[val] == k).any()) and abs(len(val) - 80) <= 1  # 10% of the 800 others
        assert float(energies[val].mean() - energies[train].mean()) == pytest.approx(0, abs=0.1)
        assert all(torch.equal(a, b) for a, b in zip((train, val, test), qm7_split(folds, energies, k)))
    assert len(qm7_split(folds, energies, 0, val_fraction=0.0)[1]) == 0
    with pytest.raises(ValueError, match=r"fold must be an int in \[0, 4\], got 5"):
        qm7_split(folds, energies, 5)
    with pytest.raises(ValueError, match=r"val_fraction must lie in \[0, 1\)"):
        qm7_split(folds, energies, 0, val_fraction=1.0)


# == QM7, the real file (skipped without $MINIGNN_DATA) =========================================
needs_qm7 = pytest.mark.skipif(not REAL_DATA or not (Path(REAL_DATA) / "qm7.mat").is_file(),
                               reason="set MINIGNN_DATA to a folder holding qm7.mat (CI: ../shared/data)")


@pytest.fixture(scope="module")
def real_qm7():
    return read_qm7(Path(REAL_DATA) / "qm7.mat")


@needs_qm7
def test_real_qm7_contents(real_qm7):
    data = real_qm7
    assert len(data) == 7165 and set(data.molecules.z.unique().tolist()) == {1, 6, 7, 8, 16}
    assert data.energies.mean() == pytest.approx(-1538.04, abs=0.01)  # README of the shared copy
    assert data.energies.std(correction=0) == pytest.approx(223.92, abs=0.01)
    assert data.folds_source in ("file P", "stratified by energy, seed 0")
    assert torch.bincount(data.folds).tolist() == [1433] * 5
    assert int(data.molecules.num_atoms.max()) == 23


@needs_qm7
def test_real_qm7_positions_are_angstrom(real_qm7):
    # Oracle 1: the file's own Coulomb matrices, built from distances in Bohr.
    for k in [0, 1, 500, 4000, 7164]:
        mol = real_qm7[k]
        pos_bohr = units.angstrom_to_bohr(mol.pos.double()).numpy()
        n = mol.num_atoms
        assert np.allclose(coulomb_matrix(mol.z.numpy(), pos_bohr), real_qm7.coulomb[k, :n, :n].numpy(), rtol=1e-4)
    # Oracle 2: chemistry. Molecule 0 is methane, C-H = 1.09 A.
    methane = real_qm7[0]
    assert methane.formula == "CH4"
    assert torch.allclose((methane.pos[1:] - methane.pos[0]).norm(dim=1), torch.tensor(1.09), atol=0.01)


@needs_qm7
def test_real_qm7_graphs(real_qm7):
    some = torch.tensor([0, 17, 3000, 7164])
    graphs = real_qm7.graphs(cutoff=2.0, indices=some)
    for g, k in zip(graphs, some.tolist()):
        assert sorted(map(tuple, g.edge_index.t().tolist())) == brute_force_edges(real_qm7[k].pos, 2.0)
        assert float(g.y) == pytest.approx(float(real_qm7.energies[k]))
    sulfur = int((real_qm7.molecules.z == 16).nonzero()[0])
    mol = int(torch.searchsorted(real_qm7.molecules.ptr, torch.tensor(sulfur), right=True)) - 1
    assert 4 in real_qm7.graphs(indices=[mol])[0].x.tolist()  # S gets its own embedding row


# == QM9 from small CSV files mimicking qm9pack =================================================
HEADER = ("XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,Harmonic_Freq_cmi,"
          "RotA_GHz,RotB_GHz,RotC_GHz,Dipole_debye,Polarizability_bohr3,HOMO_au,LUMO_au,HOMO_LUMO_gap_au,R2_bohr2,"
          "ZPVE_au,InternalEnergy_0K_au,InternalEnergy_298K_au,Enthalphy_298K_au,GibbsFreeEnergy_298K_au,"
          "Heatcapacity_Cv_cal_mol_K").split(",")
SYMBOL = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F", 17: "Cl"}
# the free-atom U0 energies (Hartree) of the QM9 atomref table, figshare doi:10.6084/m9.figshare.1057643
PAPER_ATOMREF_U0 = {"H": -0.500273, "C": -37.846772, "N": -54.583861, "O": -75.064579, "F": -99.718730}


def qm9_row(index, smiles, mol, u0, elements=None, xyz=None):
    z, pos = mol
    symbols = [SYMBOL[a] for a in z]
    return {
        "XYZ_file": f"dsgdb9nsd_{index:06d}.xyz", "Index": index, "SMILES": smiles, "InChi": "InChI=1S/x",
        "N_atoms": len(z), "Stoichiometry": "[0,0,0,0,0]",
        "Elements": elements or "[" + ",".join(f"'{s}'" for s in symbols) + "]",
        "XYZ_Ang": xyz or "[" + ",".join("[" + ",".join(repr(float(c)) for c in p) + "]" for p in pos) + "]",
        "Mulliken_pop": "[" + ",".join("0.1" for _ in z) + "]", "Harmonic_Freq_cmi": "[1000.0]",
        "RotA_GHz": 157.7, "RotB_GHz": 157.7, "RotC_GHz": 157.7, "Dipole_debye": 1.5, "Polarizability_bohr3": 13.2,
        "HOMO_au": -0.39, "LUMO_au": 0.12, "HOMO_LUMO_gap_au": 0.51, "R2_bohr2": 35.4, "ZPVE_au": 0.045,
        "InternalEnergy_0K_au": u0, "InternalEnergy_298K_au": u0 + 0.003, "Enthalphy_298K_au": u0 + 0.004,
        "GibbsFreeEnergy_298K_au": u0 - 0.02, "Heatcapacity_Cv_cal_mol_K": 6.5,
    }


def write_qm9_csv(path, rows, header=HEADER):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)  # qm9pack quotes strings, not numbers
        writer.writerow(header)
        writer.writerows([[row[c] for c in header] for row in rows])
    return path


def tiny_qm9(folder, part2=None):
    folder.mkdir(exist_ok=True)
    write_qm9_csv(folder / "qm9_part1.csv", [qm9_row(1, "C", METHANE, -40.47893), qm9_row(3, "O", WATER, -76.404702)])
    write_qm9_csv(folder / "qm9_part2.csv", part2 or [qm9_row(6, "F", HF, -100.44)])
    return folder


def test_tiny_qm9_parse(tmp_path):
    data = load_qm9(tiny_qm9(tmp_path / "qm9"), num_molecules=None)
    assert len(data) == 3 and data.molecules.index.tolist() == [1, 3, 6] and data.molecules.smiles == ["C", "O", "F"]
    for mol, (z, pos) in zip(data.molecules, (METHANE, WATER, HF)):
        assert mol.z.tolist() == z and torch.allclose(mol.pos, torch.tensor(pos, dtype=torch.float32))
    assert data.molecules.units["U0"] == "Hartree" and data.molecules.units["Cv"] == "cal/(mol K)"
    assert data.target("U0").tolist() == [-40.47893, -76.404702, -100.44]
    # atomization energy: U0 minus the free atoms, by hand from the paper's table
    expected = [u0 - sum(PAPER_ATOMREF_U0[SYMBOL[a]] for a in z)
                for u0, (z, _) in zip([-40.47893, -76.404702, -100.44], (METHANE, WATER, HF))]
    expected = torch.tensor(expected, dtype=torch.float64)
    assert torch.allclose(data.atomization_energy("hartree"), expected, atol=1e-12)
    assert torch.allclose(data.atomization_energy("eV"), expected * 27.211386245988)  # CODATA 2018
    assert torch.allclose(data.atomization_energy("kcal/mol"), expected * 627.5094740631)
    graphs = data.graphs(cutoff=1.5)
    assert [g.num_edges for g in graphs] == [8, 4, 2]  # C-H (1.09 A) and O-H, H-F bonds; H...H (1.78 A) too far
    assert float(graphs[0].y) == pytest.approx(float(expected[0]) * 27.2113862)  # default: eV
    assert graphs[2].x.tolist() == [4, 0]  # F, H


def test_qm9_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    folder = tiny_qm9(tmp_path / "qm9")
    first = load_qm9(folder, num_molecules=None)
    assert first.cache_file.is_file() and first.cache_file.parent == cache.cache_dir()
    assert [p.name for p in cache.cache_dir().iterdir()] == [first.cache_file.name]  # no temporary left behind

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again although the cache is valid")

    real_parse = qm9.parse_qm9_csv
    monkeypatch.setattr(qm9, "parse_qm9_csv", no_parse)
    again = load_qm9(folder, num_molecules=None)
    assert torch.equal(again.molecules.pos, first.molecules.pos) and again.molecules.smiles == first.molecules.smiles
    calls = []
    monkeypatch.setattr(qm9, "parse_qm9_csv", lambda *a, **k: calls.append(1) or real_parse(*a, **k))
    monkeypatch.setattr(qm9, "FORMAT_VERSION", qm9.FORMAT_VERSION + 1)  # a new format: rebuild
    load_qm9(folder, num_molecules=None)
    write_qm9_csv(folder / "qm9_part2.csv", [qm9_row(6, "F", HF, -100.5)])  # the source changed: rebuild
    assert float(load_qm9(folder, num_molecules=None).target("U0")[2]) == -100.5
    first.cache_file.write_bytes(b"truncated")  # an unreadable cache: rebuild
    assert len(load_qm9(folder, num_molecules=None)) == 3
    assert len(calls) == 3


def test_qm9_bad_files(tmp_path):
    cases = {
        "empty": (lambda p: p.write_bytes(b""), r"qm9_part2.csv is empty"),
        "no_column": (lambda p: write_qm9_csv(p, [qm9_row(6, "F", HF, -1)], HEADER[:-1]),
                      r"missing columns \['Heatcapacity_Cv_cal_mol_K'\]"),
        "chlorine": (lambda p: write_qm9_csv(p, [qm9_row(6, "Cl", ([17, 1], HF[1]), -1)]),
                     r"element 17 \(Cl\) is not in the QM9 alphabet \[1, 6, 7, 8, 9\]"),
        "unknown_symbol": (lambda p: write_qm9_csv(p, [qm9_row(6, "F", HF, -1, elements="['Xx','H']")]),
                           r"unknown element symbol\(s\) \['Xx'\]"),
        "nan": (lambda p: write_qm9_csv(p, [qm9_row(6, "F", HF, -1, xyz="[[0,0,0],[0,0,nan]]")]),
                "molecule index 6 has NaN or infinite positions"),
        "text": (lambda p: write_qm9_csv(p, [qm9_row(6, "F", HF, -1, xyz="[[0,0,0],[0,0,abc]]")]),
                 "XYZ_Ang holds a value that is not a number"),
        "target": (lambda p: write_qm9_csv(p, [qm9_row(6, "F", HF, float("nan"))]),
                   "molecule index 6 has a missing or non-finite target"),
        "count": (lambda p: write_qm9_csv(p, [qm9_row(6, "F", HF, -1, elements="['F']")]),
                  r"molecule index 6: N_atoms=2 but 1 elements and 6 coordinates"),
    }
    for name, (write, message) in cases.items():
        folder = tiny_qm9(tmp_path / name)
        write(folder / "qm9_part2.csv")
        with pytest.raises(ValueError, match=message):
            load_qm9(folder, num_molecules=None)
    assert list(cache.cache_dir().glob("*")) == []  # nothing bad was cached
    with pytest.raises(ValueError, match="expected 130831 QM9 molecules, got 3"):
        load_qm9(tiny_qm9(tmp_path / "ok"))
    with pytest.raises(FileNotFoundError, match="no qm9_part.*csv files"):
        load_qm9(tmp_path)


def test_qm9pack_is_found_without_importing_it():
    pytest.importorskip("pandas")
    if qm9_spec() is None:
        pytest.skip("qm9pack is not installed")
    sys.modules.pop("qm9pack", None)
    folder = qm9.qm9pack_data_dir()
    assert "qm9pack" not in sys.modules  # its __init__ (which needs pkg_resources) did not run
    assert [p.name for p in qm9._csv_files(folder)] == ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]


def qm9_spec():
    import importlib.util

    return importlib.util.find_spec("qm9pack")


# == QM9, the real data (qm9pack; the first run parses it into the user cache, ~5-15 s) ==========
needs_qm9 = pytest.mark.skipif(qm9_spec() is None or os.environ.get("MINIGNN_SKIP_QM9") == "1",
                               reason="qm9pack is not installed (or MINIGNN_SKIP_QM9=1)")


@pytest.fixture(scope="module")
def real_qm9():
    return load_qm9()  # module scope: runs before the function fixtures, so with the real user cache


@needs_qm9
def test_real_qm9_contents(real_qm9):
    assert len(real_qm9) == 130_831
    methane = real_qm9[0]
    assert methane.index == 1 and methane.smiles == "C" and methane.formula == "CH4" and methane.num_atoms == 5
    assert torch.allclose((methane.pos[1:] - methane.pos[0]).norm(dim=1), torch.tensor(1.09), atol=0.01)  # Angstrom
    assert set(real_qm9.molecules.z.unique().tolist()) == {1, 6, 7, 8, 9}
    assert int(real_qm9.molecules.num_atoms.max()) == 29


@needs_qm9
def test_real_qm9_atomization_energies(real_qm9):
    e = real_qm9.atomization_energy("eV")
    assert bool((e < 0).all()) and -120 < float(e.min()) and float(e.max()) < -5
    # B3LYP atomization energy of methane (with zero-point energy) vs experiment, D0 = 392.5 kcal/mol
    assert -float(real_qm9.atomization_energy("kcal/mol")[0]) == pytest.approx(392.5, rel=0.02)
    # per heavy atom the binding is a few eV: a unit slip (Hartree vs eV) would be off by 27x
    heavy = scatter_count_heavy(real_qm9)
    assert 3 < float((-e / heavy).median()) < 12


def scatter_count_heavy(data):
    heavy = (data.molecules.z > 1).double()
    return torch.zeros(len(data), dtype=torch.float64).index_add_(0, data.molecules.batch, heavy)


@needs_qm9
def test_real_qm9_bonds_are_in_angstrom(real_qm9):
    sample = real_qm9.molecules.subset(torch.randperm(len(real_qm9))[:300])
    for mol in sample:
        d = torch.cdist(mol.pos.double(), mol.pos.double()) + 1e3 * torch.eye(mol.num_atoms, dtype=torch.float64)
        assert 0.9 < float(d.min()) < 1.6  # the shortest bond (X-H, C=C, ...) in Angstrom


# == viewer =====================================================================================
def parse_xyz(text):
    lines = text.strip("\n").split("\n")
    n = int(lines[0])
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == n
    return [r[0] for r in rows], torch.tensor([[float(v) for v in r[1:]] for r in rows], dtype=torch.float64)


def test_to_xyz_round_trip():
    from minignn.viewer import to_xyz

    symbols, pos = parse_xyz(to_xyz(torch.tensor(H2S[0]), torch.tensor(H2S[1]), comment="H2S"))
    assert symbols == ["S", "H", "H"] and torch.allclose(pos, torch.tensor(H2S[1], dtype=torch.float64), atol=1e-6)
    with pytest.raises(ValueError, match=r"pos must have shape \[n=3, 3\]"):
        to_xyz(torch.tensor([1, 1, 1]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="pos must be finite"):
        to_xyz(torch.tensor([1]), torch.tensor([[0.0, float("nan"), 0.0]]))


def test_show_molecule_and_grid():
    pytest.importorskip("py3Dmol")
    from minignn.viewer import show_molecule, show_molecules, to_xyz

    ms = molecule_set()
    view = show_molecule(ms[0])
    xyz = to_xyz(ms[0].z, ms[0].pos)
    assert xyz.replace("\n", "\\n") in view.startjs and "Jmol" in view.startjs
    assert show_molecule(ms[0].z, ms[0].pos).startjs.count("addModel") == 1
    graphs = molecules_to_graphs(ms, cutoff=1.5)
    from_graph = show_molecule(graphs[2], atom_types=QM7_TYPES)  # atom types mapped back to S, H, H
    assert to_xyz(ms[2].z, ms[2].pos).replace("\n", "\\n") in from_graph.startjs
    grid = show_molecule(batch(graphs), atom_types=QM7_TYPES)  # a batch: one cell per molecule
    assert grid.viewergrid == (1, 3) and grid.startjs.count(".addModel(") == 3
    assert show_molecules(list(ms), grid=(2, 2)).viewergrid == (2, 2)
    with pytest.raises(ValueError, match="pass atom_types="):
        show_molecule(graphs[0])
    with pytest.raises(ValueError, match="a 1x2 grid has 2 cells for 3 molecules"):
        show_molecules(list(ms), grid=(1, 2))


def test_show_trajectory_animates_the_frames_in_order():
    pytest.importorskip("py3Dmol")
    from minignn.viewer import show_trajectory, to_xyz

    z = torch.tensor(H2S[0])
    pos = torch.tensor(H2S[1], dtype=torch.float64)
    frames = [(z, pos * s) for s in (3.0, 2.0, 1.0)]
    view = show_trajectory(frames, labels=["t = 1", "t = 0.5", "t = 0"], interval_ms=80)
    movie = "".join(to_xyz(zz, pp, f"t = {t}") for (zz, pp), t in zip(frames, ("1", "0.5", "0")))
    assert ".addModelsAsFrames(" in view.startjs and movie.replace("\n", "\\n") in view.startjs
    assert '"interval": 80' in view.startjs and '"loop": "forward"' in view.startjs and "Jmol" in view.startjs
    changing = show_trajectory([(torch.tensor([6, 1, 1]), pos), (z, pos)])  # elements may change, counts may not
    assert changing.startjs.count("\\n3\\n") >= 1
    with pytest.raises(ValueError, match=r"the same number of atoms, got sizes \[2, 3\]"):
        show_trajectory([(z, pos), (z[:2], pos[:2])])
    with pytest.raises(ValueError, match="at least one frame"):
        show_trajectory([])
    with pytest.raises(ValueError, match=r"one text per frame \(3\), got 1"):
        show_trajectory(frames, labels=["only one"])
