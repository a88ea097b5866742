"""Bad inputs of the data sets, files, checkpoints and chemistry (the table; run by tests/test_bad_input.py).

File cases get their own folder (pytest's ``tmp_path``, passed to a ``call`` that takes one argument) and point
``$MINIGNN_CACHE`` there, so that no cache outside it is read or written.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import numpy as np
import torch

from bad_input_support import bad, environment, good, with_env
from minignn import bond_tables, checkpoint, doctor, edm, metrics, painn, train, viewer
from minignn.baselines import CompositionBaseline, Standardizer
from minignn.datasets import (QM7, QM9, QM9_TYPES, AtomTypes, Molecule, MoleculeSet, check_split, element_symbol,
                              find_qm7, indices_sha256, load_qm7, load_qm9, molecules_to_graphs, qm7_split, read_qm7,
                              stratified_folds, to_graph)
from minignn.datasets import cache
from minignn.datasets.molecules import find_coincident_atoms
from minignn.datasets.qm9 import _COLUMNS, parse_qm9_csv, qm9pack_data_dir
from minignn.graph import Graph
from minignn.units import BOHR_IN_ANGSTROM

L = torch.long
NAN = float("nan")
T = 0.6291
METHANE = ([6, 1, 1, 1, 1], [[0, 0, 0], [T, T, T], [-T, -T, T], [-T, T, -T], [T, -T, -T]])
WATER = ([8, 1, 1], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]])
CLASH = ([8, 1, 1], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, 0.7572, -0.4692]])  # two hydrogens in one place
SYMBOL = {1: "H", 6: "C", 8: "O"}


def molecule_set(mols=(METHANE, WATER)):
    z = torch.tensor([a for zs, _ in mols for a in zs])
    pos = torch.tensor([p for _, ps in mols for p in ps], dtype=torch.float32)
    ptr = torch.tensor([0] + [len(zs) for zs, _ in mols]).cumsum(0)
    return MoleculeSet(z=z, pos=pos, ptr=ptr, y={"e": torch.arange(len(mols), dtype=torch.float64)},
                       units={"e": "eV"}, index=torch.arange(len(mols)), atom_types=QM9_TYPES)


def flat(mols):
    z = torch.tensor([a for zs, _ in mols for a in zs])
    return z, torch.tensor([p for _, ps in mols for p in ps], dtype=torch.float64)


def write_qm7(path, mols=(METHANE, WATER), X=None):
    """A small qm7.mat: Z, R in Bohr, X (finite unless given), T."""
    import scipy.io

    pad = max(len(z) for z, _ in mols)
    Z, R = np.zeros((len(mols), pad)), np.zeros((len(mols), pad, 3))
    for k, (z, pos) in enumerate(mols):
        Z[k, : len(z)], R[k, : len(z)] = z, np.asarray(pos) / BOHR_IN_ANGSTROM
    X = np.ones((len(mols), pad, pad)) if X is None else X
    scipy.io.savemat(path, {"X": X, "T": -np.arange(1.0, len(mols) + 1)[None], "Z": Z, "R": R})
    return path


def write_qm9(folder, mols=(METHANE, WATER)):
    """One qm9_part1.csv with the columns the parser reads."""
    folder.mkdir(exist_ok=True)
    with open(folder / "qm9_part1.csv", "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(_COLUMNS)
        for k, (z, pos) in enumerate(mols):
            row = {"Index": k + 1, "SMILES": "C", "N_atoms": len(z),
                   "Elements": "[" + ",".join(f"'{SYMBOL[a]}'" for a in z) + "]",
                   "XYZ_Ang": "[" + ",".join("[" + ",".join(repr(float(c)) for c in p) + "]" for p in pos) + "]"}
            w.writerow([row.get(c, 1.0) for c in _COLUMNS])
    return folder


def in_cache(tmp, call):
    """``call()`` with ``$MINIGNN_CACHE`` in ``tmp`` and neither ``$MINIGNN_DATA`` nor ``$MINIGNN_NO_DOWNLOAD``."""
    with environment(MINIGNN_CACHE=str(tmp / "cache"), MINIGNN_DATA=None, MINIGNN_NO_DOWNLOAD=None):
        return call()


def qm7_of(tmp):
    return read_qm7(write_qm7(tmp / "qm7.mat"), num_molecules=None)


def qm9_of(tmp):
    return in_cache(tmp, lambda: load_qm9(write_qm9(tmp / "qm9"), num_molecules=None))


def malformed_qm9_cache(tmp):
    """A cache file with the right tag and fingerprint but a list where a tensor must be: rebuilt, not an error."""
    folder = write_qm9(tmp / "qm9")
    first = qm9_of(tmp)
    payload = torch.load(first.cache_file, weights_only=True)
    payload["pos"] = payload["pos"].tolist()
    torch.save(payload, first.cache_file)
    second = qm9_of(tmp)
    garbage = ["not", "a", "dict"]
    torch.save(garbage, first.cache_file)  # a list: no .get
    third = qm9_of(tmp)
    return folder, second, third


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def stale_files_removed(tmp):
    """A killed writer's temporary files (its pid gone; or an old one without a pid) are removed by the next write."""
    target = tmp / "ck.pt"
    dead = tmp / f".ck.pt.{dead_pid()}.abcd1234.tmp"
    old = tmp / ".ck.pt.oldstyle1.tmp"
    mine = tmp / f".ck.pt.{os.getpid()}.xyz98765.tmp"  # a write of this process, in flight: kept
    for p in (dead, old, mine):
        p.write_bytes(b"half")
    os.utime(old, (time.time() - 2 * checkpoint.STALE_AFTER_S,) * 2)
    checkpoint.save_checkpoint(target, {"format": "x"})
    return sorted(p.name for p in tmp.iterdir()) == sorted([target.name, mine.name])


def painn_file(tmp, change):
    """A PaiNN checkpoint whose state ``change(state)`` damaged; returns its path."""
    model = painn.PaiNN(num_types=2, width=4, layers=1, num_basis=3)
    base = CompositionBaseline(2).fit(torch.ones(2, 2), torch.ones(2))
    path = painn.save_pretrained(tmp / "painn.pt", model, base, Standardizer(), {"cutoff": 5.0})
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)
    return path


def edm_file(tmp, change):
    model = edm.EDM(edm.EDMConfig(width=8, layers=1), torch.tensor([3, 5]))
    path = edm.save_edm(tmp / "edm.pt", model)
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)
    return path


def first_weight(state):
    return state["model"][next(iter(state["model"]))]


def trainer_file(tmp, change):
    graphs = [Graph(edge_index=torch.tensor([[0, 1], [1, 0]]), x=torch.tensor([0, 1]), y=torch.tensor(1.0))] * 2
    make = lambda: train.Trainer(train.TypeMPNN(2, width=4, layers=1, hidden=4), graphs,  # noqa: E731
                                 config=train.TrainConfig(max_epochs=1, batch_size=2, progress=False))
    first = make()
    first.save(tmp / "run.pt")
    state = torch.load(tmp / "run.pt", weights_only=True)
    change(state)
    torch.save(state, tmp / "run.pt")
    return make().load(tmp / "run.pt")


BONDS = (torch.tensor([[0, 1]]), torch.tensor([1]))

def _doctor_qm7_with(tmp, content: bytes):
    """doctor.check_qm7 with a qm7.mat of ``content`` in $MINIGNN_DATA and an empty cache."""
    (tmp / "data").mkdir()
    (tmp / "data" / "qm7.mat").write_bytes(content)
    with environment(MINIGNN_DATA=str(tmp / "data"), MINIGNN_CACHE=str(tmp / "cache"), MINIGNN_NO_DOWNLOAD="1"):
        return doctor.check_qm7()


def _doctor_broken_checkpoint(tmp):
    """doctor.check_checkpoints with the shipped PaiNN weights and a truncated EDM file."""
    broken = tmp / "qm9_edm.pt"
    broken.write_bytes(edm.qm9_checkpoint_path().read_bytes()[:1000])
    return doctor.check_checkpoints(edm_path=broken)


CASES = [
    # -- minignn.datasets.atoms --------------------------------------------------------------------------------------
    bad(AtomTypes, "dtype", "element", lambda: AtomTypes([1.5, 6])),  # was truncated to 1
    bad(AtomTypes, "range", "elements", lambda: AtomTypes([1, 6, 999]), "1..118"),  # an EDM checkpoint could say 999
    bad(AtomTypes, "range", "elements", lambda: AtomTypes([6, 6])),
    bad(AtomTypes, "dtype", "z (atomic numbers)", lambda: QM9_TYPES.index(torch.tensor([6.7, 1.0]))),  # was carbon
    bad(AtomTypes, "range", "element 17", lambda: QM9_TYPES.index(torch.tensor([17]))),
    bad(AtomTypes, "range", "atom types", lambda: QM9_TYPES.atomic_numbers(torch.tensor([5]))),
    bad(AtomTypes, "dtype", "types", lambda: QM9_TYPES.atomic_numbers(torch.tensor([1.5]))),
    bad(element_symbol, "size", "z", lambda: element_symbol(6.5)),
    good(element_symbol, "valid", lambda: (element_symbol(np.int64(17)), element_symbol(200)), lambda r: r == ("Cl", "?")),
    # -- minignn.datasets.cache --------------------------------------------------------------------------------------
    good(cache.downloads_allowed, "file", with_env(lambda: cache.downloads_allowed(True), MINIGNN_NO_DOWNLOAD="1"),
         lambda r: r is False),  # the environment forbids every download: was overridden by download=True
    bad(cache.downloads_allowed, "dtype", "download", lambda: cache.downloads_allowed("false")),  # was read as True
    bad(cache.downloads_allowed, "file", "MINIGNN_NO_DOWNLOAD", with_env(cache.downloads_allowed, MINIGNN_NO_DOWNLOAD="ture")),
    bad(cache.downloads_forbidden_by_environment, "file", "MINIGNN_NO_DOWNLOAD",
        with_env(cache.downloads_forbidden_by_environment, MINIGNN_NO_DOWNLOAD="maybe")),
    good(cache.cache_dir, "file", lambda tmp: in_cache(tmp, cache.cache_dir), lambda r: r.is_dir() and r.name == "cache"),
    good(cache.data_dir, "file", with_env(cache.data_dir, MINIGNN_DATA=""), lambda r: r is None),
    bad(cache.atomic_write, "option", "write", lambda tmp: cache.atomic_write(tmp / "f.txt", "text")),
    # -- minignn.datasets.molecules ----------------------------------------------------------------------------------
    bad(MoleculeSet, "coincident", "same position", lambda: molecule_set((METHANE, CLASH)), "molecule 1"),  # was accepted
    bad(MoleculeSet, "dtype", "z", lambda: MoleculeSet(torch.tensor([6.0]), torch.zeros(1, 3), torch.tensor([0, 1]), {}, {},
                                                       torch.arange(1), QM9_TYPES)),
    bad(MoleculeSet, "nan", "NaN", lambda: molecule_set(((METHANE[0], [[NAN, 0, 0]] + METHANE[1][1:]),))),
    bad(MoleculeSet, "dtype", "atom_types", lambda: MoleculeSet(torch.tensor([6]), torch.zeros(1, 3), torch.tensor([0, 1]),
                                                                {}, {}, torch.arange(1), [1, 6])),
    bad(MoleculeSet, "range", "indices", lambda: molecule_set().subset([5])),
    bad(MoleculeSet, "size", "indices", lambda: molecule_set().subset([0.5])),  # was molecule 0
    good(MoleculeSet, "valid", lambda: molecule_set()[np.int64(1)].formula, lambda r: r == "H2O"),
    good(Molecule, "valid", lambda: Molecule(torch.tensor(METHANE[0]), torch.tensor(METHANE[1])).formula,
         lambda r: r == "CH4"),
    bad(to_graph, "coincident", "same position", lambda: to_graph(Molecule(torch.tensor(CLASH[0]), torch.tensor(CLASH[1])),
                                                                  QM9_TYPES)),
    bad(to_graph, "dtype", "atom_types", lambda: to_graph(molecule_set()[0], "QM9")),
    bad(to_graph, "dtype", "mol", lambda: to_graph(flat([METHANE]), QM9_TYPES)),
    bad(molecules_to_graphs, "size", "chunk", lambda: molecules_to_graphs(molecule_set(), cutoff=2.0, chunk=-1)),  # was []
    bad(molecules_to_graphs, "size", "chunk", lambda: molecules_to_graphs(molecule_set(), cutoff=2.0, chunk=2.5)),
    bad(molecules_to_graphs, "shape", "target", lambda: molecules_to_graphs(molecule_set(), target=torch.ones(3))),
    good(molecules_to_graphs, "empty", lambda: molecules_to_graphs(molecule_set().subset([]), cutoff=2.0), lambda r: r == []),
    good(find_coincident_atoms, "coincident", lambda: find_coincident_atoms(flat([METHANE, CLASH])[1],
                                                                            torch.tensor([0, 5, 8])),
         lambda r: r == (1, 1, 2)),
    good(find_coincident_atoms, "coincident", lambda: find_coincident_atoms(torch.tensor([[0.0, 0, 0], [-0.0, 0, 0]])),
         lambda r: r == (0, 0, 1)),  # -0.0 is the same position as 0.0
    # -- minignn.datasets.qm7 ----------------------------------------------------------------------------------------
    bad(read_qm7, "nan", "Coulomb matrices X", lambda tmp: read_qm7(
        write_qm7(tmp / "q.mat", X=np.full((2, 5, 5), np.nan)), num_molecules=None)),  # was accepted
    bad(read_qm7, "coincident", "same position", lambda tmp: read_qm7(write_qm7(tmp / "q.mat", (METHANE, CLASH)),
                                                                      num_molecules=None), "q.mat"),
    bad(read_qm7, "file", "no QM7 file", lambda tmp: read_qm7(tmp / "missing.mat"), exc=FileNotFoundError),
    bad(read_qm7, "size", "num_molecules", lambda tmp: read_qm7(write_qm7(tmp / "q.mat"), num_molecules=2.5)),
    bad(load_qm7, "option", "folds", lambda: load_qm7(folds="published")),
    bad(find_qm7, "dtype", "download", lambda tmp: in_cache(tmp, lambda: find_qm7(download="false"))),
    bad(find_qm7, "file", "MINIGNN_NO_DOWNLOAD", lambda tmp: in_cache(
        tmp, with_env(lambda: find_qm7(download=True), MINIGNN_NO_DOWNLOAD="1")), "download=True", exc=FileNotFoundError),
    bad(stratified_folds, "size", "num_folds", lambda: stratified_folds(torch.arange(5.0), num_folds=0)),
    bad(stratified_folds, "nan", "energies", lambda: stratified_folds(torch.tensor([1.0, NAN]))),
    bad(qm7_split, "range", "val_fraction", lambda: qm7_split(torch.tensor([0, 1, 1, 1]), torch.arange(4.0), 0, 0.9),
        "none to train on"),  # was an empty training set
    bad(qm7_split, "range", "fold", lambda: qm7_split(torch.tensor([0, 1]), torch.arange(2.0), 2)),
    good(qm7_split, "valid", lambda: qm7_split(torch.tensor([0, 1, 1]), torch.arange(3.0), np.int64(1), 0.0),
         lambda r: r[2].tolist() == [1, 2] and r[0].tolist() == [0]),
    bad(check_split, "dtype", "record", lambda: check_split([1, 2, 3])),
    bad(check_split, "empty", "split record lacks", lambda: check_split({"folds": "stratified"})),
    bad(indices_sha256, "dtype", "indices", lambda: indices_sha256(torch.tensor([1.5, 2.0]))),
    good(indices_sha256, "valid", lambda: indices_sha256(np.array([2, 1])) == indices_sha256(torch.tensor([1, 2])),
         lambda r: r is True),
    bad(QM7, "range", "fold", lambda tmp: qm7_of(tmp).split(7)),
    bad(QM7, "range", "val_fraction", lambda tmp: qm7_of(tmp).split(0, val_fraction=1.0)),
    # -- minignn.datasets.qm9 ----------------------------------------------------------------------------------------
    good(load_qm9, "file", malformed_qm9_cache,  # was AttributeError; now rebuilt
         lambda r: len(r[1]) == 2 and len(r[2]) == 2 and r[2].cache_file.is_file()),
    bad(load_qm9, "coincident", "same position", lambda tmp: in_cache(
        tmp, lambda: load_qm9(write_qm9(tmp / "qm9", (METHANE, CLASH)), num_molecules=None)), "qm9"),
    bad(load_qm9, "file", "data_dir", lambda tmp: load_qm9(tmp / "nowhere", num_molecules=None), exc=FileNotFoundError),
    bad(load_qm9, "size", "num_molecules", lambda tmp: load_qm9(write_qm9(tmp / "qm9"), num_molecules=2.5)),
    bad(parse_qm9_csv, "empty", "is empty", lambda tmp: (tmp / "qm9_part1.csv").write_text("") == 0 and
        parse_qm9_csv([tmp / "qm9_part1.csv"], None)),
    good(qm9pack_data_dir, "file", qm9pack_data_dir, lambda r: r.name == "data"),
    bad(QM9, "option", "target", lambda tmp: qm9_of(tmp).target("U1")),
    bad(QM9, "option", "unit", lambda tmp: qm9_of(tmp).target("U0", "kJ")),
    good(QM9, "valid", lambda tmp: qm9_of(tmp).graphs(cutoff=np.float32(2.0), indices=np.array([1])),
         lambda r: len(r) == 1 and r[0].num_nodes == 3),
    # -- minignn.checkpoint ------------------------------------------------------------------------------------------
    good(checkpoint.remove_stale_temporary_files, "file", stale_files_removed, lambda r: r is True),
    good(checkpoint.atomic_write, "file", lambda tmp: checkpoint.atomic_write(tmp / "a" / "b.txt",
                                                                             lambda p: p.write_text("x")).read_text(),
         lambda r: r == "x"),
    bad(checkpoint.save_checkpoint, "dtype", "state", lambda tmp: checkpoint.save_checkpoint(tmp / "c.pt", [1, 2])),
    bad(checkpoint.load_checkpoint, "file", "no checkpoint", lambda tmp: checkpoint.load_checkpoint(tmp / "c.pt"),
        exc=FileNotFoundError),
    bad(checkpoint.load_checkpoint, "file", "cannot read checkpoint",
        lambda tmp: (tmp / "c.pt").write_bytes(b"junk") and checkpoint.load_checkpoint(tmp / "c.pt")),
    bad(checkpoint.load_checkpoint, "file", "it lacks ['model']", lambda tmp: checkpoint.save_checkpoint(
        tmp / "c.pt", {"format": checkpoint.TRAIN_FORMAT}) and checkpoint.load_checkpoint(tmp / "c.pt", keys=("model",))),
    bad(checkpoint.load_weights, "nan", "NaN", lambda tmp: checkpoint.load_weights(
        torch.nn.Linear(2, 1), {"weight": torch.full((1, 2), NAN), "bias": torch.zeros(1)}, tmp / "w.pt"), "w.pt"),
    bad(checkpoint.load_weights, "shape", "weight", lambda tmp: checkpoint.load_weights(
        torch.nn.Linear(2, 1), {"weight": torch.zeros(1, 3), "bias": torch.zeros(1)}, tmp / "w.pt"), "w.pt"),
    bad(checkpoint.load_weights, "file", "missing weights", lambda tmp: checkpoint.load_weights(
        torch.nn.Linear(2, 1), {"weight": torch.zeros(1, 2)}, tmp / "w.pt"), "w.pt"),
    bad(checkpoint.load_weights, "dtype", "weights", lambda tmp: checkpoint.load_weights(torch.nn.Linear(2, 1), [1], "w.pt")),
    # -- checkpoints of the models: each error names the file ----------------------------------------------------------
    bad(painn.load_pretrained, "nan", "NaN", lambda tmp: painn.load_pretrained(
        painn_file(tmp, lambda s: first_weight(s).fill_(NAN))), "painn.pt"),  # was loaded
    bad(painn.load_pretrained, "range", "std", lambda tmp: painn.load_pretrained(
        painn_file(tmp, lambda s: s["standardizer"].update(std=0.0))), "painn.pt"),  # was loaded
    bad(painn.load_pretrained, "file", "lacks ['baseline']", lambda tmp: painn.load_pretrained(
        painn_file(tmp, lambda s: s.pop("baseline"))), "painn.pt"),  # was KeyError
    bad(painn.load_pretrained, "shape", "shape", lambda tmp: painn.load_pretrained(
        painn_file(tmp, lambda s: s["config"].update(width=6))), "painn.pt"),  # was torch's size mismatch
    bad(painn.load_pretrained, "file", "unexpected", lambda tmp: painn.load_pretrained(
        painn_file(tmp, lambda s: s["config"].update(colour="blue"))), "painn.pt"),
    bad(edm.load_edm, "range", "elements", lambda tmp: edm.load_edm(
        edm_file(tmp, lambda s: s["config"].update(elements=[1, 6, 7, 8, 999]))), "edm.pt"),  # was accepted
    bad(edm.load_edm, "nan", "NaN", lambda tmp: edm.load_edm(edm_file(tmp, lambda s: first_weight(s).fill_(NAN))),
        "edm.pt"),
    bad(edm.load_edm, "file", "lacks ['atom_count_histogram']", lambda tmp: edm.load_edm(
        edm_file(tmp, lambda s: s.pop("atom_count_histogram"))), "edm.pt"),
    bad(edm.load_edm, "dtype", "histogram", lambda tmp: edm.load_edm(
        edm_file(tmp, lambda s: s.update(atom_count_histogram=torch.tensor([0.0, 0.5])))), "edm.pt"),
    bad(train.Trainer, "file", "lacks ['optimizer']", lambda tmp: trainer_file(tmp, lambda s: s.pop("optimizer")), "run.pt"),
    bad(train.Trainer, "nan", "NaN", lambda tmp: trainer_file(tmp, lambda s: first_weight(s).fill_(NAN)), "run.pt"),
    # -- minignn.metrics ---------------------------------------------------------------------------------------------
    bad(metrics.infer_bonds, "coincident", "same position", lambda: metrics.infer_bonds(torch.tensor([6, 6]), torch.zeros(2, 3))),
    bad(metrics.infer_bonds, "dtype", "z", lambda: metrics.infer_bonds(torch.tensor([6.0, 1.0]), torch.ones(2, 3))),
    bad(metrics.infer_bonds, "range", "ptr", lambda: metrics.infer_bonds(*flat([METHANE]), ptr=torch.tensor([0, 3]))),
    bad(metrics.infer_bonds, "range", "element 3", lambda: metrics.infer_bonds(torch.tensor([3]), torch.zeros(1, 3))),
    bad(metrics.valences, "range", "bond orders", lambda: metrics.valences(torch.tensor([6, 6]), (BONDS[0], torch.tensor([-2])))),
    bad(metrics.valences, "range", "bond orders", lambda: metrics.valences(torch.tensor([6, 6]), (BONDS[0], torch.tensor([7])))),
    bad(metrics.valences, "range", "bond", lambda: metrics.valences(torch.tensor([6, 6]), (torch.tensor([[1, 1]]), BONDS[1])),
        "to itself"),
    bad(metrics.valences, "range", "bonds", lambda: metrics.valences(
        torch.tensor([6, 6]), (torch.tensor([[0, 1], [1, 0]]), torch.tensor([1, 1]))), "twice"),
    bad(metrics.valences, "dtype", "pairs", lambda: metrics.valences(torch.tensor([6, 6]), (BONDS[0].float(), BONDS[1]))),
    bad(metrics.atom_stability, "dtype", "z", lambda: metrics.atom_stability(torch.tensor([6.5, 6.0]), BONDS)),
    bad(metrics.molecule_stability, "dtype", "ptr", lambda: metrics.molecule_stability(torch.tensor([6, 6]), BONDS,
                                                                                       torch.tensor([0.0, 2.0]))),
    bad(metrics.molecule_stability, "range", "ptr", lambda: metrics.molecule_stability(torch.tensor([6, 6]), BONDS,
                                                                                       torch.tensor([0, 1]))),
    bad(metrics.bond_lengths, "shape", "bonds", lambda: metrics.bond_lengths(*flat([WATER]), (torch.tensor([0, 1]), BONDS[1]))),
    bad(metrics.to_rdkit, "range", "z", lambda: metrics.to_rdkit(torch.tensor([0, 6]), bonds=BONDS)),  # was accepted
    bad(metrics.to_rdkit, "range", "z", lambda: metrics.to_rdkit(torch.tensor([200, 6]), bonds=BONDS)),  # was accepted
    bad(metrics.to_rdkit, "empty", "needs pos", lambda: metrics.to_rdkit(torch.tensor([6]))),
    bad(metrics.mol_to_smiles, "dtype", "mol", lambda: metrics.mol_to_smiles("CCO")),
    good(metrics.mol_to_smiles, "valid", lambda: metrics.mol_to_smiles(metrics.to_rdkit(*flat([METHANE]))), lambda r: r == "C"),
    bad(metrics.molecule_smiles, "empty", "molecules", lambda: metrics.molecule_smiles([])),
    bad(metrics.dataset_smiles, "option", "source", lambda: metrics.dataset_smiles([flat([WATER])], source="pubchem")),
    bad(metrics.evaluate_molecules, "coincident", "same position", lambda: metrics.evaluate_molecules([flat([CLASH])],
                                                                                                    rdkit=False)),
    bad(metrics.evaluate_molecules, "dtype", "rdkit", lambda: metrics.evaluate_molecules([flat([WATER])], rdkit="no")),
    bad(metrics.evaluate_molecules, "dtype", "training_smiles", lambda: metrics.evaluate_molecules([flat([WATER])],
                                                                                                  "O", xyz=False)),
    bad(metrics.reference_row, "range", "num", lambda: metrics.reference_row(molecule_set(), num=0, rdkit=False)),
    good(metrics.reference_row, "valid", lambda: metrics.reference_row(molecule_set(), num=np.int64(1), rdkit=False),
         lambda r: r["num_molecules"] == 1),
    bad(metrics.charged_atom_options, "range", "bond orders", lambda: metrics.charged_atom_options(
        torch.tensor([6, 6]), (BONDS[0], torch.tensor([4])))),
    bad(metrics.charged_molecule_stability, "range", "ptr", lambda: metrics.charged_molecule_stability(
        torch.tensor([6, 6]), BONDS, torch.tensor([0, 2, 2]))),
    bad(metrics.determine_bonds, "size", "max_iterations", lambda: metrics.determine_bonds(*flat([WATER]), max_iterations=0)),
    bad(metrics.determine_bonds, "coincident", "same position", lambda: metrics.determine_bonds(*flat([CLASH]))),
    bad(metrics.xyz_validity, "size", "max_iterations", lambda: metrics.xyz_validity([flat([WATER])], max_iterations=2.5)),
    bad(metrics.failure_modes, "empty", "molecules", lambda: metrics.failure_modes([])),
    good(metrics.failure_modes, "valid", lambda: metrics.failure_modes(molecule_set())["num_unstable_molecules"],
         lambda r: r == 0),
    # -- minignn.bond_tables -----------------------------------------------------------------------------------------
    bad(bond_tables.bond_length_tables, "dtype", "dtype", lambda: bond_tables.bond_length_tables(torch.int64)),
    good(bond_tables.valence_table, "valid", bond_tables.valence_table, lambda r: r.dtype == torch.bool and r[6, 4]),
    good(bond_tables.charged_valence_table, "valid", bond_tables.charged_valence_table,
         lambda r: r.shape[0] == 3 and bool(r[2, 7, 4])),  # N+ of valence 4
    good(bond_tables.supported_elements, "valid", bond_tables.supported_elements, lambda r: {1, 6, 7, 8, 9} <= set(r)),
    # -- minignn.viewer ----------------------------------------------------------------------------------------------
    bad(viewer.to_xyz, "dtype", "z", lambda: viewer.to_xyz(torch.tensor([6.7]), torch.zeros(1, 3))),  # was carbon
    bad(viewer.to_xyz, "nan", "pos", lambda: viewer.to_xyz(torch.tensor([6]), torch.full((1, 3), NAN))),
    bad(viewer.to_xyz, "range", "z", lambda: viewer.to_xyz(torch.tensor([0]), torch.zeros(1, 3))),
    good(viewer.to_xyz, "valid", lambda: viewer.to_xyz(np.array([8, 1, 1]), np.asarray(WATER[1])),
         lambda r: r.splitlines()[0] == "3" and r.splitlines()[2].startswith("O ")),
    bad(viewer.show_molecule, "empty", "atom_types", lambda: viewer.show_molecule(to_graph(molecule_set()[1], QM9_TYPES))),
    bad(viewer.show_molecule, "size", "width", lambda: viewer.show_molecule(*flat([WATER]), width=0)),
    bad(viewer.show_molecules, "range", "grid", lambda: viewer.show_molecules([flat([WATER])] * 2, grid=(1, 1))),
    bad(viewer.show_molecules, "empty", "at least one molecule", lambda: viewer.show_molecules([])),
    bad(viewer.show_trajectory, "shape", "same number of atoms", lambda: viewer.show_trajectory([flat([WATER]),
                                                                                                flat([METHANE])])),
    bad(viewer.show_trajectory, "range", "interval_ms", lambda: viewer.show_trajectory([flat([WATER])], interval_ms=0)),
    # the setup check (python -m minignn.doctor)
    bad(doctor.check_import, "dtype", "module", lambda: doctor.check_import(3)),
    bad(doctor.check_import, "option", "required", lambda: doctor.check_import("math", required="yes")),
    bad(doctor.check_python, "shape", "minimum", lambda: doctor.check_python((3,))),
    bad(doctor.Check, "option", "status", lambda: doctor.Check("torch", "fine", "2.13")),
    bad(doctor.report, "empty", "checks", lambda: doctor.report([])),
    bad(doctor.run_checks, "shape", "packages", lambda: doctor.run_checks([("torch", "torch")])),
    bad(doctor.main, "option", "run", lambda: doctor.main([], run=3)),
    good(doctor.check_qm7, "file", lambda tmp: _doctor_qm7_with(tmp, b"not a mat file"),
         lambda c: c.failed and "not a readable .mat file" in c.detail),
    good(doctor.check_qm9, "file", lambda tmp: doctor.check_qm9(tmp),
         lambda c: c.failed and "no qm9_part*.csv files" in c.detail),
    good(doctor.check_checkpoints, "file", lambda tmp: _doctor_broken_checkpoint(tmp),
         lambda checks: [c.status for c in checks] == ["ok", "missing"] and "reinstall minignn" in checks[1].fix),
]

