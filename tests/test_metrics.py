"""Tests of minignn.metrics and minignn.bond_tables: bonds from distances, stability, validity, novelty.

Oracles: molecules built from ideal geometries whose bonds are known from chemistry, a plain
Python double loop over atom pairs with the published tables, RDKit's canonical SMILES of the
known molecules, and symmetry (rotation, translation, atom permutation).
"""

import importlib.util
import math

import pytest
import torch

from minignn import bond_tables, metrics
from minignn.datasets.atoms import SYMBOLS
from minignn.geometry import random_reflection, random_rotation

H, C, N, O, F = 1, 6, 7, 8, 9


def _tetrahedron(r):
    return [[s * r / math.sqrt(3) for s in v] for v in ([1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1])]


def ethylene():
    a = math.radians(180 - 121.5)  # H-C=C angle 121.5 degrees
    hx, hy = 0.665 + 1.09 * math.cos(a), 1.09 * math.sin(a)
    return [C, C, H, H, H, H], [[0.665, 0, 0], [-0.665, 0, 0], [hx, hy, 0], [hx, -hy, 0], [-hx, hy, 0], [-hx, -hy, 0]]


def water():
    a = math.radians(104.5 / 2)
    x, y = 0.96 * math.sin(a), 0.96 * math.cos(a)
    return [O, H, H], [[0, 0, 0], [x, y, 0], [-x, y, 0]]


# name -> (z, pos in Angstrom, bonds {(a, b): order} known from chemistry, SMILES)
MOLECULES = {
    "methane": ([C, H, H, H, H], [[0, 0, 0]] + _tetrahedron(1.09), {(0, 1): 1, (0, 2): 1, (0, 3): 1, (0, 4): 1}, "C"),
    "ethylene": (*ethylene(), {(0, 1): 2, (0, 2): 1, (0, 3): 1, (1, 4): 1, (1, 5): 1}, "C=C"),
    "acetylene": ([C, C, H, H], [[0.6, 0, 0], [-0.6, 0, 0], [1.66, 0, 0], [-1.66, 0, 0]],
                  {(0, 1): 3, (0, 2): 1, (1, 3): 1}, "C#C"),
    "water": (*water(), {(0, 1): 1, (0, 2): 1}, "O"),
    "HCN": ([H, C, N], [[-1.065, 0, 0], [0, 0, 0], [1.156, 0, 0]], {(0, 1): 1, (1, 2): 3}, "C#N"),
    # r(C=O) = 1.162 A sits just above the C#O threshold 1.13 + 0.03 = 1.16 A of the tables
    "CO2": ([C, O, O], [[0, 0, 0], [1.162, 0, 0], [-1.162, 0, 0]], {(0, 1): 2, (0, 2): 2}, "O=C=O"),
}


def mol(name, dtype=torch.float64):
    z, pos = MOLECULES[name][:2]
    return torch.tensor(z), torch.tensor(pos, dtype=dtype)


def bond_dict(bonds):
    pairs, orders = bonds
    return {tuple(p): k for p, k in zip(pairs.tolist(), orders.tolist())}


def ch5():
    """A pentavalent carbon: CH5 as a trigonal bipyramid, all C-H 1.09 A."""
    eq = [[1.09 * math.cos(t), 1.09 * math.sin(t), 0] for t in (0, 2 * math.pi / 3, 4 * math.pi / 3)]
    pos = torch.tensor([[0, 0, 0]] + eq + [[0, 0, 1.09], [0, 0, -1.09]], dtype=torch.float64)
    return torch.tensor([C] + [H] * 5), pos


def loop_bonds(z, pos):
    """Oracle: a double loop over pairs, orders straight from the tables (in pm, as published)."""
    out = {}
    for a in range(len(z)):
        for b in range(a + 1, len(z)):
            key = tuple(sorted((SYMBOLS[z[a]], SYMBOLS[z[b]])))
            d = 100 * math.dist(pos[a], pos[b])
            order = 0
            for k, (table, margin) in enumerate(zip((bond_tables.SINGLE, bond_tables.DOUBLE, bond_tables.TRIPLE),
                                                    bond_tables.MARGINS_PM)):
                if key in table and d < table[key] + margin and order == k:
                    order = k + 1
            if order:
                out[(a, b)] = order
    return out


# == tables ===================================================================================

def test_tables_are_symmetric_and_ordered():
    t = bond_tables.bond_length_tables()
    assert torch.equal(t, t.transpose(1, 2))
    qm9 = [H, C, N, O, F]
    assert torch.isfinite(t[0][qm9][:, qm9]).all()  # every QM9 pair has a single-bond length
    for k in (1, 2):  # a bond of higher order is shorter
        both = torch.isfinite(t[k])
        assert (t[k][both] < t[k - 1][both]).all()
    allowed = bond_tables.valence_table()
    assert allowed[C].nonzero().flatten().tolist() == [4] and not allowed[:, -1].any()
    assert bond_tables.supported_elements()[:5] == (1, 5, 6, 7, 8)


# == bonds and stability of known molecules ==================================================

@pytest.mark.parametrize("name", list(MOLECULES))
def test_known_molecules(name):
    z, pos = mol(name)
    bonds = metrics.infer_bonds(z, pos)
    assert bond_dict(bonds) == MOLECULES[name][2]
    assert metrics.atom_stability(z, bonds).all()
    assert metrics.molecule_stability(z, bonds).tolist() == [True]
    # float32 positions (the default dtype) give the same bonds
    assert bond_dict(metrics.infer_bonds(z, pos.float())) == MOLECULES[name][2]


def test_broken_molecules_are_unstable():
    z, pos = mol("methane")
    bonds = metrics.infer_bonds(z[:4], pos[:4])  # a carbon missing a hydrogen
    assert metrics.valences(z[:4], bonds).tolist() == [3, 1, 1, 1]
    assert metrics.atom_stability(z[:4], bonds).tolist() == [False, True, True, True]
    assert metrics.molecule_stability(z[:4], bonds).tolist() == [False]
    z3, pos3 = torch.tensor([H, H, H]), torch.tensor([[0.0, 0, 0], [0.74, 0, 0], [1.48, 0, 0]])  # H with 2 neighbours
    assert metrics.atom_stability(z3, metrics.infer_bonds(z3, pos3)).tolist() == [True, False, True]
    z5, pos5 = ch5()
    assert metrics.valences(z5, metrics.infer_bonds(z5, pos5))[0] == 5
    assert not metrics.atom_stability(z5, metrics.infer_bonds(z5, pos5))[0]
    single = metrics.infer_bonds(torch.tensor([C]), torch.zeros(1, 3))
    assert single[0].shape == (0, 2) and not metrics.atom_stability(torch.tensor([C]), single)[0]


def test_vectorised_bonds_match_a_python_loop():
    g = torch.Generator().manual_seed(0)
    for n in (2, 5, 12):
        for _ in range(20):  # crowded random molecules: many bonds of every order
            z = torch.tensor([H, C, N, O, F, 16, 17])[torch.randint(0, 7, (n,), generator=g)]
            pos = torch.rand(n, 3, generator=g, dtype=torch.float64) * 2.5
            assert bond_dict(metrics.infer_bonds(z, pos)) == loop_bonds(z.tolist(), pos.tolist())


def test_batch_equals_molecule_by_molecule():
    names = ["ethylene", "water", "HCN", "methane"]
    z = torch.cat([mol(n)[0] for n in names])
    pos = torch.cat([mol(n)[1] for n in names])
    ptr = torch.tensor([0] + [len(MOLECULES[n][0]) for n in names]).cumsum(0)
    pairs, orders = metrics.infer_bonds(z, pos, ptr)
    expected = {(a + int(ptr[m]), b + int(ptr[m])): k
                for m, n in enumerate(names) for (a, b), k in MOLECULES[n][2].items()}
    assert bond_dict((pairs, orders)) == expected
    assert pairs.tolist() == sorted(pairs.tolist())
    assert metrics.molecule_stability(z, (pairs, orders), ptr).tolist() == [True] * 4


def test_bond_lengths():
    z, pos = mol("ethylene")
    lengths = metrics.bond_lengths(z, pos, metrics.infer_bonds(z, pos))
    assert list(lengths) == ["C-H", "C=C"]
    assert lengths["C=C"].shape == (1,) and float((lengths["C=C"] - 1.33).abs().max()) < 1e-12
    assert lengths["C-H"].shape == (4,) and float((lengths["C-H"] - 1.09).abs().max()) < 1e-12
    (zh, ph), (zw, pw) = mol("HCN"), mol("water")  # two molecules, flat atoms and batched bonds
    z2, pos2 = torch.cat([zh, zw]), torch.cat([ph, pw + 5])
    lengths = metrics.bond_lengths(z2, pos2, metrics.infer_bonds(z2, pos2, torch.tensor([0, 3, 6])))
    assert list(lengths) == ["C-H", "O-H", "C#N"]
    assert [round(float(v), 6) for v in torch.cat(list(lengths.values()))] == [1.065, 0.96, 0.96, 1.156]


# == RDKit: validity, uniqueness, novelty =====================================================

def test_validity_and_smiles():
    Chem = pytest.importorskip("rdkit.Chem")
    for name, (z, pos, _, smiles) in MOLECULES.items():
        rd = metrics.to_rdkit(torch.tensor(z), torch.tensor(pos))
        assert metrics.mol_to_smiles(rd) == Chem.MolToSmiles(Chem.MolFromSmiles(smiles)), name
        assert rd.GetConformer().GetAtomPosition(0).x == pytest.approx(pos[0][0])
    z, pos = mol("ethylene")
    no_conformer = metrics.to_rdkit(z, bonds=metrics.infer_bonds(z, pos))
    assert no_conformer.GetNumConformers() == 0 and no_conformer.GetNumBonds() == 5
    assert metrics.mol_to_smiles(no_conformer) == "C=C"
    z5, pos5 = ch5()
    assert metrics.mol_to_smiles(metrics.to_rdkit(z5, pos5)) is None  # pentavalent carbon: sanitisation fails
    z, pos = mol("methane")
    assert metrics.mol_to_smiles(metrics.to_rdkit(z[:4], pos[:4])) == "C"  # CH3: RDKit adds an implicit H
    # two fragments: the SMILES is that of the larger one
    zw, pw = mol("water")
    assert metrics.molecule_smiles([(torch.cat([zw, z]), torch.cat([pw, pos + 10]))]) == ["C"]


def test_evaluate_uniqueness_and_novelty():
    pytest.importorskip("rdkit")
    z, pos = mol("methane")
    R = random_rotation(torch.Generator().manual_seed(1))
    batch = [mol("methane"), (z, pos @ R.T), mol("water"), mol("ethylene"), ch5()]
    training = metrics.dataset_smiles([mol("methane"), mol("water")])
    assert training == {"C", "O"}
    r = metrics.evaluate_molecules(batch, training_smiles=training)
    assert (r["num_valid"], r["num_unique"], r["num_novel"]) == (4, 3, 1)
    assert r["validity"] == 4 / 5 and r["uniqueness"] == 3 / 4 and r["novelty"] == 1 / 3
    assert r["valid_and_unique"] == 3 / 5 and r["connectivity"] == 4 / 5
    assert r["num_atoms"] == 5 + 5 + 3 + 6 + 6 and r["num_stable_atoms"] == 5 + 5 + 3 + 6 + 5
    assert r["stable"].tolist() == [True, True, True, True, False] and r["mol_stability"] == 4 / 5
    assert r["smiles"] == ["C", "C", "O", "C=C", None]
    assert metrics.evaluate_molecules(batch)["num_novel"] is None
    none = metrics.evaluate_molecules([ch5()])
    assert none["validity"] == 0 and math.isnan(none["uniqueness"]) and math.isnan(none["novelty"])
    fast = metrics.evaluate_molecules(batch, rdkit=False)
    assert "validity" not in fast and fast["atom_stability"] == r["atom_stability"]


def test_invariance_under_rotation_reflection_translation_permutation():
    pytest.importorskip("rdkit")
    g = torch.Generator().manual_seed(0)
    names = list(MOLECULES) + ["broken"]
    mols = [mol(n) for n in MOLECULES] + [ch5()]
    moved = []
    for z, pos in mols:
        perm = torch.randperm(len(z), generator=g)
        R = random_rotation(g) if len(moved) % 2 else random_reflection(g)
        t = torch.randn(3, generator=g, dtype=torch.float64) * 5
        moved.append((z[perm], pos[perm] @ R.T + t))
        before, after = bond_dict(metrics.infer_bonds(z, pos)), bond_dict(metrics.infer_bonds(*moved[-1]))
        inverse = torch.argsort(perm).tolist()  # new index of each old atom
        assert {tuple(sorted((inverse[a], inverse[b]))): k for (a, b), k in before.items()} == after
    r0, r1 = metrics.evaluate_molecules(mols), metrics.evaluate_molecules(moved)
    for key in ("atom_stability", "mol_stability", "validity", "uniqueness", "smiles", "num_stable_atoms"):
        assert r0[key] == r1[key], (key, names)


def _molecule_set(smiles, mols):
    from minignn.datasets import QM9_TYPES, MoleculeSet

    return MoleculeSet(z=torch.cat([z for z, _ in mols]), pos=torch.cat([p for _, p in mols]).float(),
                       ptr=torch.tensor([0] + [len(z) for z, _ in mols]).cumsum(0), y={}, units={},
                       index=torch.arange(len(mols)), atom_types=QM9_TYPES, smiles=smiles)


def test_dataset_smiles_stored():
    pytest.importorskip("rdkit")
    ms = _molecule_set(["[H]C([H])([H])[H]", "C=C"], [mol("methane"), mol("ethylene")])
    assert metrics.dataset_smiles(ms, "stored") == metrics.dataset_smiles(ms) == {"C", "C=C"}
    as_list = metrics.evaluate_molecules(list(ms), rdkit=False)  # a list of Molecules
    assert as_list["stable"].tolist() == metrics.evaluate_molecules(ms, rdkit=False)["stable"].tolist() == [True, True]
    row = metrics.reference_row(ms, indices=[1])
    assert row["num_molecules"] == 1 and row["smiles"] == ["C=C"] and math.isnan(row["novelty"])
    assert metrics.reference_row(ms, num=2, rdkit=False)["mol_stability"] == 1.0


# == real data =================================================================================

@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="qm9pack (QM9) is not installed")
def test_qm9_first_1000_molecules():
    from minignn.datasets import load_qm9

    ms = load_qm9().molecules.subset(torch.arange(1000))
    r = metrics.evaluate_molecules(ms, rdkit=importlib.util.find_spec("rdkit") is not None)
    assert r["atom_stability"] > 0.97 and r["mol_stability"] > 0.85
    if "validity" in r:
        assert r["validity"] > 0.9 and r["uniqueness"] > 0.95
    pairs, orders = metrics.infer_bonds(ms.z, ms.pos, ms.ptr)
    for m in range(0, 1000, 10):  # the batched path against the loop oracle, molecule by molecule
        a, b = int(ms.ptr[m]), int(ms.ptr[m + 1])
        inside = (pairs[:, 0] >= a) & (pairs[:, 0] < b)
        got = {(p - a, q - a): k for (p, q), k in zip(pairs[inside].tolist(), orders[inside].tolist())}
        assert got == loop_bonds(ms.z[a:b].tolist(), ms.pos[a:b].tolist()), m


# == bad input =================================================================================

def test_bad_input():
    z, pos = mol("water")
    with pytest.raises(ValueError, match=r"pos must be a float tensor \[n=3, 3\]"):
        metrics.infer_bonds(z, pos[:, :2])
    with pytest.raises(ValueError, match=r"element 2 \(He\) of molecule 0 has no bond-length table"):
        metrics.infer_bonds(torch.tensor([2, 1, 1]), pos)
    with pytest.raises(ValueError, match=r"element 0 \(\?\)"):
        metrics.atom_stability(torch.tensor([0]), (torch.empty(0, 2), torch.empty(0)))
    with pytest.raises(ValueError, match="molecule 1 has NaN"):
        metrics.evaluate_molecules([(z, pos), (z, pos * float("nan"))], rdkit=False)
    with pytest.raises(ValueError, match="z must be an integer tensor"):
        metrics.infer_bonds(z.double(), pos)
    with pytest.raises(ValueError, match="non-empty list"):
        metrics.evaluate_molecules([])
    with pytest.raises(ValueError, match="molecule 1 has no atoms"):
        metrics.evaluate_molecules([(z, pos), (z[:0], pos[:0])], rdkit=False)
    with pytest.raises(ValueError, match=r"molecule 0: expected z \[n\] and pos \[n, 3\]"):
        metrics.evaluate_molecules([(z, pos[:, :2])])
    with pytest.raises(ValueError, match="must be a \\(z, pos\\) pair"):
        metrics.evaluate_molecules([(z, pos, pos)])
    with pytest.raises(ValueError, match=r"bonds must be pairs \[B, 2\]"):
        metrics.valences(z, (torch.tensor([0, 1]), torch.tensor([1])))
    with pytest.raises(ValueError, match=r"bond atoms must lie in \[0, 2\]"):
        metrics.valences(z, (torch.tensor([[0, 3]]), torch.tensor([1])))
    with pytest.raises(ValueError, match="needs pos to infer bonds"):
        metrics.to_rdkit(z)
    with pytest.raises(ValueError, match=r"ptr must be \[M \+ 1\] from 0 to n=3"):
        metrics.molecule_stability(z, metrics.infer_bonds(z, pos), ptr=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="training_smiles must be a collection"):
        metrics.evaluate_molecules([(z, pos)], training_smiles="O")
    with pytest.raises(ValueError, match=r"num must be in \[1, 1\]"):
        metrics.reference_row(_molecule_set(["O"], [(z, pos)]), num=2)
    with pytest.raises(ValueError, match="source must be 'inferred' or 'stored'"):
        metrics.dataset_smiles([(z, pos)], source="qm9")
