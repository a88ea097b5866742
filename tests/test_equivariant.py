"""Invariant and equivariant layers: oracles, E(3) symmetry checks, chirality, forces, corner cases."""

import math

import pytest
import torch
from torch import nn

from minignn.equivariant import (
    EGNN,
    CoordinateMPNN,
    EGNNLayer,
    EGNNRegressor,
    GradientForceModel,
    HarmonicDescriptor,
    InvariantLayer,
    InvariantMPNN,
    angle_features,
    edge_invariants,
    torsion_features,
)
from minignn.geometry import random_reflection, random_rotation, rotation_about_axis
from minignn.graph import Graph, batch
from minignn.hypergraph import angle_faces, torsion_faces
from minignn.invariants import angles, edge_lengths, torsions, zmatrix_to_positions
from minignn.neighbours import fully_connected
from minignn.radial import BesselBasis, polynomial_cutoff
from minignn.testing import assert_euclidean, check_euclidean, default_tolerance, random_molecule

F64 = dict(dtype=torch.float64)




def molecule(n=10, seed=0, dtype=torch.float64, cutoff=3.0):
    return random_molecule(n, 4, cutoff=cutoff, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def egnn_with_visible_moves(model):
    """EGNN starts with tiny position updates (gain 1e-3); make them O(1) so the checks see them."""
    for layer in model.modules():
        if isinstance(layer, EGNNLayer):
            nn.init.normal_(layer.phi_x[-1].weight, std=0.5)
    return model


# -- oracles --------------------------------------------------------------------
def test_angle_features_match_cos_sin_of_angles():
    pos, _, ei = molecule()
    faces = angle_faces(ei, pos.shape[0])
    theta = angles(pos, faces)
    assert faces.shape[0] > 10
    assert torch.allclose(angle_features(pos, faces), torch.stack([theta.cos(), theta.sin()], -1), atol=1e-13)


def test_torsion_features_match_weighted_cos_sin_of_torsions():
    pos, _, ei = molecule()
    faces = torsion_faces(ei, pos.shape[0])
    phi = torsions(pos, faces)
    w = angles(pos, faces[:, :3]).sin() * angles(pos, faces[:, 1:]).sin()
    assert faces.shape[0] > 10
    assert torch.allclose(torsion_features(pos, faces), torch.stack([w * phi.cos(), w * phi.sin()], -1), atol=1e-13)
    achiral = torch.stack([w * phi.cos(), w * w * (2 * phi).cos()], -1)
    assert torch.allclose(torsion_features(pos, faces, chiral=False), achiral, atol=1e-13)


def test_torsion_features_fade_out_smoothly_on_collinear_atoms():
    pos = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [2.5, 1, 0.3]], **F64, requires_grad=True)
    t = torsion_features(pos, torch.tensor([[0, 1, 2, 3]]))
    assert t.abs().max() < 1e-15  # a, b, c collinear: no torsion, feature 0 (not NaN)
    t.sum().backward()
    assert torch.isfinite(pos.grad).all()


def test_edge_invariants_match_a_loop_over_faces():
    pos, _, ei = molecule(8, seed=1)
    rbf = BesselBasis(3, 3.0).double()
    K = 3
    got = edge_invariants(pos, ei, rbf, angles=True, torsions=True, chiral=True)
    edges = [tuple(e) for e in ei.t().tolist()]
    d = {e: float((pos[e[1]] - pos[e[0]]).norm()) for e in edges}
    e_ = {k: rbf(torch.tensor([v], **F64))[0] for k, v in d.items()}
    u = {k: float(polynomial_cutoff(torch.tensor(v, **F64), 3.0)) for k, v in d.items()}

    def ang(a, b, c):
        return float(angles(pos, torch.tensor([[a, b, c]])))

    for row, (b, c) in enumerate(edges):
        A = torch.zeros(2, K, **F64)
        T = torch.zeros(2, K, **F64)
        for (a, b2) in edges:
            if b2 != b or a == c:
                continue
            th = ang(a, b, c)
            A += torch.tensor([math.cos(th), math.sin(th)], **F64).unsqueeze(1) * e_[(a, b)] * u[(b, c)]
            for (a0, a2) in edges:
                if a2 != a or a0 in (b, c):
                    continue
                phi = float(torsions(pos, torch.tensor([[a0, a, b, c]])))
                w = math.sin(ang(a0, a, b)) * math.sin(th)
                T += torch.tensor([w * math.cos(phi), w * math.sin(phi)], **F64).unsqueeze(1) \
                    * e_[(a0, a)] * u[(a, b)] * u[(b, c)]
        expect = torch.cat([e_[(b, c)], A.flatten(), T.flatten()])
        assert torch.allclose(got[row], expect, atol=1e-13), (b, c)
    assert got[:, K:].abs().sum() > 0  # the molecule has angles and torsions


def test_invariant_layer_matches_loop():
    pos, x, ei = molecule()
    f = edge_invariants(pos, ei, BesselBasis(4, 3.0).double(), angles=True)
    layer = InvariantLayer(4, f.shape[1], hidden=16).double()
    out = layer(x, ei, f)
    for j in range(x.shape[0]):
        acc = x[j].clone()
        for e, (i, k) in enumerate(ei.t().tolist()):
            if k == j:
                acc += layer.f(torch.cat([x[i], x[j], f[e]])) * (layer.filter.weight @ f[e])
        assert torch.allclose(out[j], acc, atol=1e-13)


@pytest.mark.parametrize("pos_reduce", ["mean", "sum"])
def test_egnn_layer_matches_the_equations(pos_reduce):
    pos, x, ei = molecule()
    layer = egnn_with_visible_moves(EGNNLayer(4, hidden=8, pos_reduce=pos_reduce).double())
    h_new, pos_new = layer(x, pos, ei)
    for j in range(x.shape[0]):
        m_sum, shift, deg = torch.zeros(8, **F64), torch.zeros(3, **F64), 0
        for i, k in ei.t().tolist():
            if k != j:
                continue
            diff = pos[j] - pos[i]
            m = layer.phi_e(torch.cat([x[i], x[j], (diff @ diff).reshape(1)]))
            m_sum += m
            shift += diff / (diff.norm() + 1) * layer.phi_x(m)
            deg += 1
        if pos_reduce == "mean":
            shift = shift / max(deg, 1)
        assert torch.allclose(pos_new[j], pos[j] + shift, atol=1e-13)
        assert torch.allclose(h_new[j], x[j] + layer.phi_h(torch.cat([x[j], m_sum])), atol=1e-13)
    assert (pos_new - pos).abs().max() > 1e-2


def test_egnn_layer_with_edge_attributes_matches_phi_e_on_the_concatenation():
    """The layer applies phi_e's first linear layer per node, then gathers: the messages must equal phi_e
    applied to the concatenated edge rows [h_src, h_dst, |r_dst - r_src|^2, a]."""
    pos, x, ei = molecule()
    attr = torch.randn(ei.shape[1], 3, **F64)
    layer = egnn_with_visible_moves(EGNNLayer(4, edge_dim=3, hidden=8, pos_reduce="sum").double())
    h_new, pos_new = layer(x, pos, ei, attr)
    src, dst = ei
    diff = pos[dst] - pos[src]
    m = layer.phi_e(torch.cat([x[src], x[dst], (diff * diff).sum(-1, keepdim=True), attr], dim=-1))
    m_sum = torch.zeros(x.shape[0], 8, **F64).index_add_(0, dst, m)
    shift = torch.zeros_like(pos).index_add_(0, dst, diff / (diff.norm(dim=-1, keepdim=True) + 1) * layer.phi_x(m))
    assert torch.allclose(h_new, x + layer.phi_h(torch.cat([x, m_sum], dim=-1)), atol=1e-13)
    assert torch.allclose(pos_new, pos + shift, atol=1e-13)
    assert (pos_new - pos).abs().max() > 1e-2


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("edge_dim,pos_reduce,coords_range", [(0, "mean", None), (3, "sum", 15.0)])
def test_egnn_layer_without_autograd_equals_the_plain_path(dtype, edge_dim, pos_reduce, coords_range):
    """Sampling runs the layer under no_grad through scratch buffers reused between calls: same numbers as the
    autograd path, on two graphs of different sizes one after the other (the buffers are resized and reused),
    and a later call does not change an earlier result."""
    layer = egnn_with_visible_moves(EGNNLayer(4, edge_dim=edge_dim, hidden=8, pos_reduce=pos_reduce,
                                              coords_range=coords_range)).to(dtype)
    results = []
    for n, seed in ((7, 0), (11, 1), (5, 2)):
        gen = torch.Generator().manual_seed(seed)
        pos = torch.randn(n, 3, generator=gen, dtype=dtype)
        x = torch.randn(n, 4, generator=gen, dtype=dtype)
        ei = fully_connected(n)
        attr = torch.randn(ei.shape[1], edge_dim, generator=gen, dtype=dtype) if edge_dim else None
        h_plain, pos_plain = layer(x, pos, ei, attr)
        assert h_plain.requires_grad  # the plain path ran with autograd
        with torch.no_grad():
            h_fast, pos_fast = layer(x, pos, ei, attr)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(h_fast, h_plain.detach(), rtol=0, atol=tol)
        torch.testing.assert_close(pos_fast, pos_plain.detach(), rtol=0, atol=tol)
        results.append((h_fast, h_fast.clone()))
    assert all(torch.equal(a, b) for a, b in results)  # outputs never alias the scratch buffers


# -- symmetry: every layer and model, float64 and float32 ----------------------
def _models():
    """name -> (builder(dtype) -> fn(x, pos, edge_index), output kinds, levels).  Models are passed as they are
    (the package's calling convention); the feature functions of positions are closures over their faces."""
    rbf = lambda dt: BesselBasis(4, 3.0).to(dt)  # noqa: E731

    def mpnn(**kw):
        return lambda dt: InvariantMPNN(4, width=8, hidden=16, cutoff=3.0, **kw).to(dt)

    def grad(energy):
        return lambda dt: GradientForceModel(energy.to(dt)).eval()

    return {
        "angle_features": (lambda dt: lambda x, p, e: angle_features(p, angle_faces(e, p.shape[0])), "invariant", "edges"),
        "torsion_features(chiral=False)": (
            lambda dt: lambda x, p, e: torsion_features(p, torsion_faces(e, p.shape[0]), chiral=False), "invariant", "edges"),
        "torsion_features(chiral=True)": (
            lambda dt: lambda x, p, e: torsion_features(p, torsion_faces(e, p.shape[0])).unbind(-1),
            ("invariant", "pseudoscalar"), "edges"),
        "edge_invariants": (lambda dt: (lambda b: lambda x, p, e: edge_invariants(p, e, b, True, True, False))(rbf(dt)),
                            "invariant", "edges"),
        "InvariantLayer": (lambda dt: (lambda lay, b: lambda x, p, e: lay(x, e, edge_invariants(p, e, b, True)))(
            InvariantLayer(4, 12, 16).to(dt), rbf(dt)), "invariant", "nodes"),
        "InvariantMPNN(lengths)": (mpnn(), "invariant", "graph"),
        "InvariantMPNN(angles, nodes)": (mpnn(angles=True, readout="nodes"), "invariant", "nodes"),
        "InvariantMPNN(torsions, chiral=False)": (mpnn(angles=True, torsions=True, chiral=False), "invariant", "graph"),
        "EGNNLayer": (lambda dt: egnn_with_visible_moves(EGNNLayer(4, hidden=16).to(dt)), ("invariant", "position"), "nodes"),
        "EGNN": (lambda dt: egnn_with_visible_moves(EGNN(4, 2, width=8, layers=2).to(dt)),
                 ("invariant", "position"), "nodes"),
        "EGNNRegressor": (lambda dt: EGNNRegressor(4, width=8, layers=2).to(dt), "invariant", "graph"),
        "GradientForceModel(InvariantMPNN)": (
            grad(InvariantMPNN(4, width=8, hidden=16, cutoff=3.0, angles=True, torsions=True, chiral=False)),
            ("invariant", "equivariant"), ("graph", "nodes")),
        "GradientForceModel(EGNNRegressor)": (grad(EGNNRegressor(4, width=8, layers=2)),
                                              ("invariant", "equivariant"), ("graph", "nodes")),
        "HarmonicDescriptor": (lambda dt: (lambda m: lambda x, p, e: m(p, e))(HarmonicDescriptor(3, 3, 3.0).to(dt)),
                               "invariant", "nodes"),
    }


MODELS = _models()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(MODELS))
def test_e3_symmetry(name, dtype):
    # built here, after the seeding fixture, so the weights do not depend on which tests ran before
    build, kinds, levels = _models()[name]
    fn = build(dtype)
    gen = torch.Generator().manual_seed(1)
    for seed in range(2):
        pos, x, ei = molecule(10, seed=seed, dtype=dtype)
        report = assert_euclidean(fn, x, pos, ei, outputs=kinds, levels=levels, trials=2, generator=gen,
                                  tol=default_tolerance(dtype))
        assert set(report) == {"rotation", "reflection", "translation", "permutation"}
    # the check can fail: a random deformation is not a Euclidean motion and changes the output
    out, out2 = fn(x, pos, ei), fn(x, pos + 0.1 * torch.randn(pos.shape, generator=gen, dtype=dtype), ei)
    out, out2 = (out if isinstance(out, tuple) else (out,)), (out2 if isinstance(out2, tuple) else (out2,))
    assert max(float((a - b).detach().abs().max()) for a, b in zip(out, out2)) > 1e-4


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chiral_torsion_model_is_se3_not_e3(dtype):
    pos, x, ei = molecule(10, dtype=dtype)
    chiral = InvariantMPNN(4, width=8, cutoff=3.0, angles=True, torsions=True, chiral=True).to(dtype)
    assert_euclidean(chiral, x, pos, ei, transforms=("rotation", "translation", "permutation"))
    assert check_euclidean(chiral, x, pos, ei, transforms=("reflection",))["reflection"] > 1e-3
    forces = GradientForceModel(chiral).eval()
    assert_euclidean(forces, x, pos, ei, outputs=("invariant", "equivariant"),
                     levels=("graph", "nodes"), transforms=("rotation", "translation"))


def test_naive_coordinate_model_is_not_invariant():
    pos, x, ei = molecule()
    naive = CoordinateMPNN(4).double()
    report = check_euclidean(naive, x, pos, ei, generator=torch.Generator().manual_seed(0))
    assert report["permutation"] < 1e-12  # a sum over atoms
    assert min(report["rotation"], report["reflection"], report["translation"]) > 1e-3


def test_privileged_m_breaks_rotation_invariance_but_keeps_the_z_axis():
    pos, _, ei = molecule()
    full = HarmonicDescriptor(3, 3, 3.0).double()
    m0 = HarmonicDescriptor(3, 3, 3.0, privileged_m=0).double()
    R = random_rotation(torch.Generator().manual_seed(0))
    Rz = rotation_about_axis([0, 0, 1], 0.7)
    rel = lambda a, b: float((a - b).abs().max() / b.abs().max())  # noqa: E731
    assert rel(m0(pos @ R.T, ei), m0(pos, ei)) > 1e-2
    assert rel(m0(pos @ Rz.T, ei), m0(pos, ei)) < 1e-12
    assert rel(full(pos @ R.T, ei), full(pos, ei)) < 1e-12
    assert m0(pos, ei).shape == (10, 3 * 4) and HarmonicDescriptor(3, 3, 3.0, privileged_m=2)(pos, ei).shape == (10, 3 * 2)


@pytest.mark.parametrize("m", [1, 2, -2, 3])
def test_privileged_m_nonzero_is_kept_by_z_rotations_of_pi_over_m_only(m):
    """For m != 0 a rotation by phi about z mixes A_m and A_-m: A_m^2 survives phi = pi / |m| (and its multiples),
    not a generic phi; the pair sum A_m^2 + A_-m^2 survives every phi."""
    pos, _, ei = molecule()
    rel = lambda a, b: float((a - b).abs().max() / b.abs().max())  # noqa: E731
    one, other = HarmonicDescriptor(3, 3, 3.0, privileged_m=m).double(), HarmonicDescriptor(3, 3, 3.0, privileged_m=-m).double()
    for phi, kept in ((math.pi / abs(m), True), (2 * math.pi / abs(m), True), (0.7, False), (math.pi / (2 * abs(m)), False)):
        Rz = rotation_about_axis([0, 0, 1], phi)
        err = rel(one(pos @ Rz.T, ei), one(pos, ei))
        assert (err < 1e-12) if kept else (err > 1e-3), (m, phi, err)
        pair = lambda p: one(p, ei) + other(p, ei)  # noqa: E731
        assert rel(pair(pos @ Rz.T), pair(pos)) < 1e-12


# -- conformers and enantiomers -----------------------------------------------
def butane_backbone(torsion_deg):
    refs = torch.tensor([[-1, -1, -1], [0, -1, -1], [1, 0, -1], [2, 1, 0]])
    lengths = torch.tensor([0.0, 1.54, 1.54, 1.54], **F64)
    theta = torch.full((4,), math.radians(111.0), **F64)
    phi = torch.tensor([0.0, 0.0, 0.0, math.radians(torsion_deg)], **F64)
    return zmatrix_to_positions(refs, lengths, theta, phi)


def test_torsions_separate_conformers_that_lengths_and_angles_cannot():
    bonds = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    x = torch.ones(4, 1, **F64)
    anti, gauche, gauche_minus = butane_backbone(180.0), butane_backbone(60.0), butane_backbone(-60.0)
    assert torch.allclose(edge_lengths(anti, bonds), edge_lengths(gauche, bonds), atol=1e-14)
    for kw in (dict(), dict(angles=True)):
        blind = InvariantMPNN(1, cutoff=5.0, **kw).double()
        assert torch.allclose(blind(x, anti, bonds), blind(x, gauche, bonds), rtol=0, atol=1e-12)
    chiral = InvariantMPNN(1, cutoff=5.0, angles=True, torsions=True).double()
    achiral = InvariantMPNN(1, cutoff=5.0, angles=True, torsions=True, chiral=False).double()
    assert (chiral(x, anti, bonds) - chiral(x, gauche, bonds)).abs() > 1e-4
    assert (achiral(x, anti, bonds) - achiral(x, gauche, bonds)).abs() > 1e-4
    # gauche+ and gauche- are mirror images: only the chiral model tells them apart
    assert (chiral(x, gauche, bonds) - chiral(x, gauche_minus, bonds)).abs() > 1e-4
    assert torch.allclose(achiral(x, gauche, bonds), achiral(x, gauche_minus, bonds), rtol=0, atol=1e-12)


# -- forces as gradients --------------------------------------------------------
def test_gradient_forces_equal_finite_differences():
    pos, x, ei = molecule(6, cutoff=3.5)
    energy_model = InvariantMPNN(4, width=8, cutoff=3.5, angles=True, torsions=True).double()
    model = GradientForceModel(energy_model).eval()
    energy, forces = model(x, pos, ei)
    assert energy.shape == (1,) and forces.shape == (6, 3)
    h = 1e-6
    fd = torch.zeros_like(pos)
    with torch.no_grad():
        for a in range(6):
            for k in range(3):
                step = torch.zeros_like(pos)
                step[a, k] = h
                fd[a, k] = -(energy_model(x, pos + step, ei) - energy_model(x, pos - step, ei)).squeeze() / (2 * h)
    assert float((fd - forces).abs().max() / forces.abs().max()) < 1e-7
    assert forces.abs().max() > 1e-3


def test_gradient_forces_of_a_pair_potential_are_a_sum_over_edge_vectors():
    """E = 1/2 sum_e (d_e - 1)^2 gives F_dst = -(d_e - 1) r_e / d_e and the opposite on src (Klipfel's edge term)."""

    def energy(x, pos, edge_index, batch=None, num_graphs=None):
        return (0.5 * (edge_lengths(pos, edge_index) - 1) ** 2).sum().reshape(1, 1)

    class Pair(nn.Module):
        forward = staticmethod(energy)

    pos, x, ei = molecule(6)
    _, forces = GradientForceModel(Pair()).eval()(x, pos, ei)
    expect = torch.zeros_like(pos)
    for s, d in ei.t().tolist():
        r = pos[d] - pos[s]
        expect[d] -= (r.norm() - 1) * r / r.norm()
        expect[s] += (r.norm() - 1) * r / r.norm()
    assert torch.allclose(forces, expect, atol=1e-13)


def test_gradient_forces_train_through_create_graph():
    pos, x, ei = molecule(6)
    model = GradientForceModel(InvariantMPNN(4, width=8, cutoff=3.0)).double().train()
    energy, forces = model(x, pos, ei)
    assert forces.requires_grad
    forces.pow(2).sum().backward()
    first = model.energy_model.embed.weight.grad
    assert first is not None and first.abs().max() > 0
    energy, forces = model.eval()(x, pos, ei)
    assert not forces.requires_grad and not energy.requires_grad


# -- corner cases -------------------------------------------------------------
def _all_graph_models():
    return {
        "mpnn": InvariantMPNN(4, width=8, cutoff=3.0, angles=True, torsions=True).double(),
        "egnn_reg": EGNNRegressor(4, width=8, layers=2).double(),
        "naive": CoordinateMPNN(4).double(),
    }


def test_single_atom_and_no_edges():
    for n in (1, 3):
        pos, x = torch.randn(n, 3, **F64), torch.eye(4, **F64)[:n]
        ei = torch.empty(2, 0, dtype=torch.long)
        for name, model in _all_graph_models().items():
            assert model(x, pos, ei).shape == (1, 1), name
        mpnn = _all_graph_models()["mpnn"]
        energy, forces = GradientForceModel(mpnn).eval()(x, pos, ei)
        assert torch.equal(forces, torch.zeros_like(pos)) and energy.shape == (1,)
        h, p = EGNN(4, width=8, layers=2).double()(x, pos, ei)
        assert torch.equal(p, pos) and h.shape == (n, 4)
        assert torch.equal(HarmonicDescriptor(2, 3, 3.0).double()(pos, ei), torch.zeros(n, 9, **F64))
        assert edge_invariants(pos, ei, BesselBasis(3, 3.0), True, True).shape == (0, 15)


def test_batch_of_two_equals_each_molecule():
    (pa, xa, ea), (pb, xb, eb) = molecule(7, seed=2), molecule(5, seed=3)
    g = batch([Graph(edge_index=ea, x=xa, pos=pa), Graph(edge_index=eb, x=xb, pos=pb)])
    for name, model in _all_graph_models().items():
        together = model(g.x, g.pos, g.edge_index, batch=g.batch, num_graphs=2)
        apart = torch.cat([model(xa, pa, ea), model(xb, pb, eb)])
        assert torch.allclose(together, apart, atol=1e-13), name
    forces_model = GradientForceModel(_all_graph_models()["mpnn"]).eval()
    e2, f2 = forces_model(g.x, g.pos, g.edge_index, batch=g.batch, num_graphs=2)
    (ea_, fa), (eb_, fb) = forces_model(xa, pa, ea), forces_model(xb, pb, eb)
    assert torch.allclose(e2, torch.cat([ea_, eb_]), atol=1e-13)
    assert torch.allclose(f2, torch.cat([fa, fb]), atol=1e-13)
    egnn = egnn_with_visible_moves(EGNN(4, width=8, layers=2).double())
    h2, p2 = egnn(g.x, g.pos, g.edge_index)
    (ha, qa), (hb, qb) = egnn(xa, pa, ea), egnn(xb, pb, eb)
    assert torch.allclose(h2, torch.cat([ha, hb]), atol=1e-13) and torch.allclose(p2, torch.cat([qa, qb]), atol=1e-13)
    hd = HarmonicDescriptor(2, 3, 3.0).double()
    assert torch.allclose(hd(g.pos, g.edge_index), torch.cat([hd(pa, ea), hd(pb, eb)]), atol=1e-13)


def test_mirror_image_flips_only_the_torsion_sine():
    pos, _, ei = molecule()
    faces = torsion_faces(ei, pos.shape[0])
    Q = random_reflection(torch.Generator().manual_seed(0))
    t, t_mirror = torsion_features(pos, faces), torsion_features(pos @ Q.T, faces)
    assert torch.allclose(t_mirror[:, 0], t[:, 0], atol=1e-13)
    assert torch.allclose(t_mirror[:, 1], -t[:, 1], atol=1e-13)
    assert t[:, 1].abs().max() > 0.1


# -- bad input ------------------------------------------------------------------
def test_bad_inputs():
    pos, x, ei = molecule(5)
    mpnn = InvariantMPNN(4).double()
    with pytest.raises(ValueError, match=r"pos must be a floating tensor of shape \[num_nodes, 3\]"):
        mpnn(x, pos[:, :2], ei)
    with pytest.raises(ValueError, match="pos has 4 rows but the graph has 5 nodes"):
        mpnn(x, pos[:4], ei)
    with pytest.raises(ValueError, match="must share a dtype"):
        mpnn(x, pos.float(), ei)
    with pytest.raises(ValueError, match="pos must be finite"):
        mpnn(x, pos.clone().fill_(float("nan")), ei)
    with pytest.raises(ValueError, match="readout must be one of"):
        InvariantMPNN(4, readout="max")
    with pytest.raises(ValueError, match="basis must be 'bessel' or 'gaussian'"):
        InvariantMPNN(4, basis="sine")
    with pytest.raises(ValueError, match="pos_reduce must be 'mean' or 'sum'"):
        EGNNLayer(4, pos_reduce="max")
    with pytest.raises(ValueError, match=r"expects edge_attr of shape \[E, 2\]"):
        EGNNLayer(4, edge_dim=2).double()(x, pos, ei)
    with pytest.raises(ValueError, match=r"was built without edge features \(edge_dim=0\) but got edge_attr"):
        EGNNLayer(4).double()(x, pos, ei, torch.ones(ei.shape[1], 2, **F64))
    with pytest.raises(ValueError, match="privileged_m must be None or in"):
        HarmonicDescriptor(l_max=2, privileged_m=3)
    with pytest.raises(ValueError, match=r"faces must be an integer tensor of shape \[n, 4\], got torch.int64 \[3, 3\]"):
        torsion_features(pos, torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"faces refers to missing vertices: indices in \[0, 9\] but pos has 5 rows"):
        angle_features(pos, torch.tensor([[0, 1, 9]]))
    with pytest.raises(ValueError, match=r"energy_model must return \[num_graphs, 1\]"):
        GradientForceModel(InvariantMPNN(4, out_dim=2).double())(x, pos, ei)
    with pytest.raises(ValueError, match=r"edge_index must be an int64 tensor of shape \[2, E\]"):
        mpnn(x, pos, ei.t())


@pytest.mark.parametrize("edge_dim", [0, 3])
def test_egnn_fast_messages_equal_the_base_class_path(edge_dim):
    """EGNNLayer.edge_messages (phi_e's first layer per node) = MessagePassing.edge_messages (gather, then the
    formula in ``message``), with autograd, and the layer is a MessagePassing."""
    from minignn.mpnn import MessagePassing

    pos, x, ei = molecule()
    attr = torch.randn(ei.shape[1], edge_dim, **F64) if edge_dim else None
    layer = egnn_with_visible_moves(EGNNLayer(4, edge_dim=edge_dim, hidden=8, coords_range=15.0).double())
    assert isinstance(layer, MessagePassing)
    fast = layer.edge_messages((x, pos), ei, attr)
    plain = MessagePassing.edge_messages(layer, (x, pos), ei, attr)
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    h, p = layer(x, pos, ei, attr)
    h2, p2 = layer.update((x, pos), layer.aggregate(plain, ei[1], x.shape[0]))
    torch.testing.assert_close(h, h2, rtol=0, atol=1e-13)
    torch.testing.assert_close(p, p2, rtol=0, atol=1e-13)
