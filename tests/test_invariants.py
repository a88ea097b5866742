"""Lengths, angles, areas, torsions, volumes: closed forms, independent formulas, symmetries."""

import math

import pytest
import torch

from minignn.hypergraph import angle_faces, torsion_faces, triangle_faces
from minignn.invariants import (
    angles,
    edge_lengths,
    edge_vectors,
    tetrahedron_volumes,
    torsions,
    triangle_areas,
    zmatrix_to_positions,
)

F64 = dict(dtype=torch.float64)
TOL = 1e-12


def random_orthogonal(det=1.0):
    q, r = torch.linalg.qr(torch.randn(3, 3, **F64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) * det < 0:
        q[:, 0] = -q[:, 0]
    return q


def random_molecule(n=12, seed=0):
    """Random positions and a random connected-ish undirected bond graph (a chain plus extra bonds)."""
    g = torch.Generator().manual_seed(seed)
    pos = 2.0 * torch.randn(n, 3, generator=g, **F64)
    chain = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
    extra = torch.randint(0, n, (2, n), generator=g)
    ei = torch.cat([chain, extra[:, extra[0] != extra[1]]], dim=1)
    return pos, torch.cat([ei, ei.flip(0)], dim=1)


def newman_torsion(pos, faces):
    """Independent oracle: signed angle, about the axis b -> c, from the projection of a - b to that of d - c."""
    out = []
    for a, b, c, d in faces.tolist():
        n = pos[c] - pos[b]
        n = n / n.norm()
        u = (pos[a] - pos[b]) - ((pos[a] - pos[b]) @ n) * n
        w = (pos[d] - pos[c]) - ((pos[d] - pos[c]) @ n) * n
        out.append(math.atan2(float(n @ torch.linalg.cross(u, w)), float(u @ w)))
    return torch.tensor(out, **F64)


def rodrigues(axis, angle):
    k = axis / axis.norm()
    K = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], **F64)
    return torch.eye(3, **F64) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


# -- closed forms -----------------------------------------------------------
def test_lengths_and_vectors_closed_form():
    pos = torch.tensor([[0, 0, 0], [3, 4, 0], [3, 4, 12]], **F64)
    ei = torch.tensor([[0, 1, 0], [1, 2, 2]])
    assert torch.allclose(edge_lengths(pos, ei), torch.tensor([5.0, 12.0, 13.0], **F64), atol=TOL)
    assert torch.equal(edge_vectors(pos, ei)[0], pos[1] - pos[0])  # from src to dst


def test_equilateral_triangle():
    s = 1.7
    pos = torch.tensor([[0, 0, 0], [s, 0, 0], [s / 2, s * math.sqrt(3) / 2, 0]], **F64)
    tri = torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    assert torch.allclose(angles(pos, tri), torch.full((3,), math.pi / 3, **F64), atol=TOL)
    assert torch.allclose(triangle_areas(pos, tri), torch.full((3,), math.sqrt(3) / 4 * s**2, **F64), atol=TOL)


def test_right_flat_and_zero_angles():
    pos = torch.tensor([[1, 0, 0], [0, 0, 0], [0, 2, 0], [-3, 0, 0], [5, 0, 0]], **F64)
    got = angles(pos, torch.tensor([[0, 1, 2], [0, 1, 3], [0, 1, 4]]))
    assert torch.allclose(got, torch.tensor([math.pi / 2, math.pi, 0.0], **F64), atol=TOL)


def test_regular_tetrahedron_volume():
    pos = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], **F64)  # edge 2 sqrt(2)
    a = 2 * math.sqrt(2)
    vol = tetrahedron_volumes(pos, torch.tensor([[0, 1, 2, 3], [0, 2, 1, 3]]))
    assert torch.allclose(vol.abs(), torch.full((2,), a**3 / (6 * math.sqrt(2)), **F64), atol=TOL)
    assert vol[0] == -vol[1]  # odd permutation flips the sign
    assert torch.equal(tetrahedron_volumes(pos, torch.tensor([[0, 1, 2, 3]]), signed=False), vol[:1].abs())
    unit = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], **F64)  # right-handed frame
    assert torch.allclose(tetrahedron_volumes(unit, torch.tensor([[0, 1, 2, 3]])), torch.tensor([1 / 6], **F64))


@pytest.mark.parametrize("phi_deg", [-179.0, -120.0, -60.0, -1.0, 0.0, 30.0, 60.0, 90.0, 150.0, 180.0])
def test_torsion_closed_form_iupac(phi_deg):
    # axis b -> c along +z; a on +x; d turned by +phi about +z (clockwise seen from b looking at c)
    phi = math.radians(phi_deg)
    pos = torch.tensor([[1, 0, 0], [0, 0, 0], [0, 0, 1.5], [math.cos(phi), math.sin(phi), 1.5]], **F64)
    got = torsions(pos, torch.tensor([[0, 1, 2, 3]]))
    assert torch.allclose(got, torch.tensor([phi], **F64), atol=TOL)
    assert torch.allclose(torsions(pos, torch.tensor([[3, 2, 1, 0]])), got, atol=TOL)  # read backwards


def test_torsion_range_is_half_open_at_minus_pi():
    pos = torch.tensor([[1, 0, 0], [0, 0, 0], [0, 0, 1], [-1, 0, 1]], **F64)
    for sign in (1.0, -1.0):  # +0.0 and -0.0 in the y component both give +pi
        p = pos.clone()
        p[3, 1] = sign * 0.0
        assert torsions(p, torch.tensor([[0, 1, 2, 3]])).item() == math.pi
    pos, ei = random_molecule(30)
    t = torsions(pos, torsion_faces(ei, 30))
    assert bool((t > -math.pi).all() and (t <= math.pi).all())


# -- independent formulas on random molecules ----------------------------------
def test_angles_law_of_cosines_and_heron():
    pos, ei = random_molecule(15)
    tri = angle_faces(ei, 15)
    a, b, c = (pos[tri[:, m]] for m in range(3))
    la, lc, lb = (b - a).norm(dim=1), (c - b).norm(dim=1), (c - a).norm(dim=1)
    cos = (la**2 + lc**2 - lb**2) / (2 * la * lc)
    assert torch.allclose(torch.cos(angles(pos, tri)), cos, atol=1e-12)
    s = (la + lb + lc) / 2
    heron = torch.sqrt((s * (s - la) * (s - lb) * (s - lc)).clamp(min=0))
    assert torch.allclose(triangle_areas(pos, tri), heron, atol=1e-9)
    # area = 1/2 |ba| |bc| sin(angle at b)
    assert torch.allclose(triangle_areas(pos, tri), 0.5 * la * lc * torch.sin(angles(pos, tri)), atol=1e-12)


def test_torsions_match_newman_projection_and_volume_identity():
    pos, ei = random_molecule(14)
    q = torsion_faces(ei, 14)
    phi = torsions(pos, q)
    assert torch.allclose(phi, newman_torsion(pos, q), atol=1e-12)
    # 6 V |b2| = |b1 x b2| |b2 x b3| sin(phi), so V and phi share their sign
    a, b, c, d = (pos[q[:, m]] for m in range(4))
    b1, b2, b3 = b - a, c - b, d - c
    lhs = 6 * tetrahedron_volumes(pos, q) * b2.norm(dim=1)
    rhs = torch.linalg.cross(b1, b2).norm(dim=1) * torch.linalg.cross(b2, b3).norm(dim=1) * torch.sin(phi)
    assert torch.allclose(lhs, rhs, atol=1e-10)


def test_torsion_follows_a_rotation_of_the_back_atom_about_the_axis():
    pos, ei = random_molecule(10)
    q = torsion_faces(ei, 10)[:1]
    a, b, c, d = q[0].tolist()
    phi0 = torsions(pos, q).item()
    for alpha in (0.3, 1.0, -2.0):
        R = rodrigues(pos[c] - pos[b], alpha)
        p = pos.clone()
        p[d] = (pos[d] - pos[c]) @ R.T + pos[c]
        expected = math.remainder(phi0 + alpha, 2 * math.pi)
        assert abs(torsions(p, q).item() - expected) < 1e-12


def test_torsions_agree_with_rdkit():
    pytest.importorskip("rdkit")
    from rdkit import Chem
    from rdkit.Chem import AllChem, rdMolTransforms

    mol = Chem.AddHs(Chem.MolFromSmiles("CC(O)CCN"))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    conf = mol.GetConformer()
    pos = torch.tensor(conf.GetPositions(), **F64)
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    ei = torch.tensor(bonds).t()
    ei = torch.cat([ei, ei.flip(0)], dim=1)
    q = torsion_faces(ei, mol.GetNumAtoms())
    ref = torch.tensor([rdMolTransforms.GetDihedralRad(conf, *f) for f in q.tolist()], **F64)
    assert q.shape[0] > 20
    assert torch.allclose(torsions(pos, q), ref, atol=1e-10)
    t = angle_faces(ei, mol.GetNumAtoms())
    ref = torch.tensor([rdMolTransforms.GetAngleRad(conf, *f) for f in t.tolist()], **F64)
    assert torch.allclose(angles(pos, t), ref, atol=1e-10)


# -- symmetries -----------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_invariance_under_rotations_translations_and_reflections(seed):
    pos, ei = random_molecule(16, seed=seed)
    t2, t3, k2 = angle_faces(ei, 16), torsion_faces(ei, 16), triangle_faces(ei, 16)

    def all_invariants(p):
        return (edge_lengths(p, ei), angles(p, t2), triangle_areas(p, k2), torsions(p, t3),
                tetrahedron_volumes(p, t3))

    ref = all_invariants(pos)
    shift = torch.randn(3, **F64)
    rot = all_invariants(pos @ random_orthogonal(+1).T + shift)
    for r, g in zip(ref, rot):
        assert torch.allclose(r, g, atol=1e-10)
    refl = all_invariants(pos @ random_orthogonal(-1).T + shift)
    for r, g, sign in zip(ref, refl, (1, 1, 1, -1, -1)):  # torsions and signed volumes flip
        assert torch.allclose(sign * r, g, atol=1e-10)


def test_float32_smoke():
    pos, ei = random_molecule(12)
    p32 = pos.float()
    q = torsion_faces(ei, 12)
    assert torsions(p32, q).dtype == torch.float32
    assert torch.allclose(torsions(p32, q).double(), torsions(pos, q), atol=1e-4)
    assert torch.allclose(angles(p32, angle_faces(ei, 12)).double(), angles(pos, angle_faces(ei, 12)), atol=1e-5)


def test_gradients_flow():
    pos, ei = random_molecule(8)
    pos.requires_grad_(True)
    q = torsion_faces(ei, 8)
    torch.autograd.gradcheck(lambda p: torsions(p, q), (pos,))
    torch.autograd.gradcheck(lambda p: angles(p, angle_faces(ei, 8)), (pos,))


# -- Z-matrix -------------------------------------------------------------------------
def test_zmatrix_round_trip():
    n = 12
    g = torch.Generator().manual_seed(3)
    refs = torch.full((n, 3), -1)
    for k in range(1, n):  # random earlier references, distinct
        refs[k, : min(k, 3)] = torch.randperm(k, generator=g)[: min(k, 3)]
    lengths = 1.0 + torch.rand(n, generator=g, **F64)
    ang = 0.3 + 2.5 * torch.rand(n, generator=g, **F64)
    tor = math.pi * (2 * torch.rand(n, generator=g, **F64) - 1)
    pos = zmatrix_to_positions(refs, lengths, ang, tor)
    k = torch.arange(1, n)
    assert torch.allclose((pos[k] - pos[refs[k, 0]]).norm(dim=1), lengths[1:], atol=TOL)
    k = torch.arange(2, n)
    assert torch.allclose(angles(pos, torch.stack([k, refs[k, 0], refs[k, 1]], 1)), ang[2:], atol=1e-10)
    k = torch.arange(3, n)
    assert torch.allclose(torsions(pos, torch.stack([k, refs[k, 0], refs[k, 1], refs[k, 2]], 1)), tor[3:], atol=1e-10)
    assert torch.allclose(pos[:2, 1:], torch.zeros(2, 2, **F64)) and pos[2, 2] == 0  # standard frame


# -- errors ---------------------------------------------------------------------------
def test_errors():
    pos = torch.randn(4, 3, **F64)
    with pytest.raises(ValueError, match=r"pos must be a floating tensor of shape \[num_nodes, 3\]"):
        angles(torch.randn(4, 2), torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"pos must be a floating tensor"):
        angles(torch.ones(4, 3, dtype=torch.long), torch.tensor([[0, 1, 2]]))
    bad = pos.clone(); bad[1, 0] = float("nan")
    with pytest.raises(ValueError, match="must be finite"):
        edge_lengths(bad, torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="missing vertices"):
        torsions(pos, torch.tensor([[0, 1, 2, 4]]))
    with pytest.raises(ValueError, match=r"edge_index refers to nodes in \[0, 7\] but the graph has 4 nodes"):
        edge_lengths(pos, torch.tensor([[0], [7]]))
    with pytest.raises(ValueError, match=r"shape \[n, 4\]"):
        tetrahedron_volumes(pos, torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"shape \[n, 3\]"):
        triangle_areas(pos, torch.tensor([[0.0, 1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        edge_lengths(pos, torch.tensor([0, 1]))
    refs = torch.tensor([[-1, -1, -1], [0, -1, -1], [1, 1, -1]])
    with pytest.raises(ValueError, match="distinct earlier atoms"):
        zmatrix_to_positions(refs, torch.ones(3, **F64), torch.ones(3, **F64), torch.ones(3, **F64))
    with pytest.raises(ValueError, match=r"angles must have shape \[N=3\]"):
        zmatrix_to_positions(refs, torch.ones(3, **F64), torch.ones(2, **F64), torch.ones(3, **F64))
