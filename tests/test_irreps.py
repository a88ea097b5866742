"""minignn.irreps: Wigner matrices computed directly, checked by their defining identities and against e3nn."""

import math

import pytest
import torch

from minignn.geometry import random_reflection, random_rotation, rotation_about_axis
from minignn.irreps import (
    Irrep,
    Irreps,
    change_of_basis,
    rotation_vector,
    so3_generators,
    wigner_D,
    wigner_D_blocks,
)
from minignn.spherical import degree_slice, estimate_wigner_D, spherical_harmonics

F64 = torch.float64
L_MAX = 6
P = torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=F64)  # our coordinates -> e3nn's


def special_matrices():
    """Rotations by pi (the hard case of a rotation vector), the identity, the inversion, mirrors."""
    d = lambda *v: torch.diag(torch.tensor(v, dtype=F64))  # noqa: E731
    return [torch.eye(3, dtype=F64), -torch.eye(3, dtype=F64), d(-1, -1, 1), d(1, -1, -1), d(-1, 1, -1), d(1, 1, -1),
            rotation_about_axis([1.0, 1.0, 0.0], math.pi), rotation_about_axis([1.0, 2.0, 3.0], math.pi - 1e-9),
            rotation_about_axis([0.0, 0.0, 1.0], 1e-9)]


def test_harmonics_transform_by_D_for_rotations_reflections_and_special_cases():
    """Y(Q r) = D(Q) Y(r) at 1e-12, l = 0..6, random and special orthogonal matrices."""
    g = torch.Generator().manual_seed(0)
    r = torch.randn(100, 3, dtype=F64, generator=g)
    mats = [random_rotation(g) for _ in range(3)] + [random_reflection(g) for _ in range(3)] + special_matrices()
    for Q in mats:
        Y, YQ = spherical_harmonics(L_MAX, r), spherical_harmonics(L_MAX, r @ Q.T)
        for l in range(L_MAX + 1):
            D = wigner_D(l, Q)
            assert (YQ[:, degree_slice(l)] - Y[:, degree_slice(l)] @ D.T).abs().max() < 1e-12, (l, Q)
        assert (YQ - Y @ wigner_D_blocks(L_MAX, Q).T).abs().max() < 1e-12


def test_D_is_a_homomorphism_and_orthogonal():
    """D(Q1 Q2) = D(Q1) D(Q2), D(Q)^T D(Q) = I, D(Q^T) = D(Q)^T, in float64 at 1e-12."""
    g = torch.Generator().manual_seed(1)
    mats = [random_rotation(g), random_reflection(g), random_rotation(g), random_reflection(g)] + special_matrices()
    for Q1 in mats:
        for Q2 in mats[:4]:
            for l in range(L_MAX + 1):
                D1, D2, D12 = wigner_D(l, Q1), wigner_D(l, Q2), wigner_D(l, Q1 @ Q2)
                assert (D12 - D1 @ D2).abs().max() < 1e-12
                assert (D1.T @ D1 - torch.eye(2 * l + 1, dtype=F64)).abs().max() < 1e-12
                assert (wigner_D(l, Q1.T) - D1.T).abs().max() < 1e-12


def test_inversion_is_minus_one_to_the_l_and_parity_of_an_irrep():
    """D_l(-I) = (-1)^l I for the harmonics; an irrep (l, p) gets p under any reflection."""
    minus = -torch.eye(3, dtype=F64)
    for l in range(L_MAX + 1):
        assert torch.equal(wigner_D(l, minus), (-1) ** l * torch.eye(2 * l + 1, dtype=F64))
        for p in (1, -1):
            assert torch.equal(Irrep(l, p).D(minus), p * torch.eye(2 * l + 1, dtype=F64))
    Q = random_reflection(torch.Generator().manual_seed(2))
    assert (Irrep("1e").D(Q) + Irrep("1o").D(Q)).abs().max() < 1e-15  # a pseudovector: -Q v
    assert (Irrep("1o").D(Q) - P @ Q @ P.T).abs().max() < 1e-14  # degree 1 is (y, z, x)


def test_batched_D_equals_one_by_one():
    Q = torch.cat([random_rotation(torch.Generator().manual_seed(3), num=4),
                   random_reflection(torch.Generator().manual_seed(4), num=3)])
    for l in (0, 1, 3):
        D = wigner_D(l, Q)
        assert D.shape == (7, 2 * l + 1, 2 * l + 1)
        assert all((D[k] - wigner_D(l, Q[k])).abs().max() < 1e-14 for k in range(7))
    irreps = Irreps("2x0e + 1x1o + 2x2e")
    assert (irreps.D(Q)[5] - irreps.D(Q[5])).abs().max() < 1e-14


def test_D_matches_e3nn_through_the_axis_map_and_the_old_estimate(float64_default):
    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    g = torch.Generator().manual_seed(5)
    for Q in (random_rotation(g), random_reflection(g), rotation_about_axis([0.0, 1.0, 0.0], math.pi)):
        for l in range(L_MAX + 1):
            theirs = o3.Irrep(l, (-1) ** l).D_from_matrix(P @ Q @ P.T)
            assert (wigner_D(l, Q) - theirs).abs().max() < 1e-12
            assert (wigner_D(l, Q) - estimate_wigner_D(l, Q)).abs().max() < 1e-11
        ours = Irreps("3x0e + 2x0o + 2x1o + 1x1e + 1x2e + 2x3o")
        theirs = o3.Irreps("3x0e + 2x0o + 2x1o + 1x1e + 1x2e + 2x3o").D_from_matrix(P @ Q @ P.T)
        assert (ours.D(Q) - theirs).abs().max() < 1e-12


def test_generators_are_the_derivative_of_D_and_degree_one_is_yzx():
    """G_a = d/dt D(exp(t K_a)) at t = 0 (central difference) and G^(1)_a = P K_a P^T."""
    K = torch.zeros(3, 3, 3, dtype=F64)
    for a, b, c, s in [(0, 1, 2, -1), (0, 2, 1, 1), (1, 0, 2, 1), (1, 2, 0, -1), (2, 0, 1, -1), (2, 1, 0, 1)]:
        K[a, b, c] = s
    assert torch.allclose(torch.linalg.matrix_exp(0.5 * K[2]), rotation_about_axis([0.0, 0.0, 1.0], 0.5))
    assert (so3_generators(1) - P @ K @ P.T).abs().max() < 1e-15
    h = 1e-5
    for l in (2, 3):
        G = so3_generators(l)
        assert (G + G.transpose(-1, -2)).abs().max() < 1e-15
        for a in range(3):
            fd = (wigner_D(l, torch.linalg.matrix_exp(h * K[a])) - wigner_D(l, torch.linalg.matrix_exp(-h * K[a]))) / (2 * h)
            assert (fd - G[a]).abs().max() < 1e-8


def test_change_of_basis_is_unitary_and_maps_scipy_harmonics_to_ours():
    import scipy.special as scipy_special
    g = torch.Generator().manual_seed(6)
    v = torch.randn(40, 3, dtype=F64, generator=g)
    v = v / v.norm(dim=-1, keepdim=True)
    theta, phi = torch.arccos(v[:, 2]), torch.atan2(v[:, 1], v[:, 0])
    for l in range(5):
        U = change_of_basis(l)
        assert (U @ U.conj().T - torch.eye(2 * l + 1, dtype=torch.complex128)).abs().max() < 1e-15
        m = torch.arange(-l, l + 1)
        sph = getattr(scipy_special, "sph_harm_y", None)
        if sph is not None:
            Yc = torch.as_tensor(sph(l, m.numpy()[None, :], theta.numpy()[:, None], phi.numpy()[:, None]))
        else:  # older scipy: sph_harm(m, l, azimuth, polar)
            Yc = torch.as_tensor(scipy_special.sph_harm(m.numpy()[None, :], l, phi.numpy()[:, None], theta.numpy()[:, None]))
        real = Yc @ U.T  # Y_real = U Y_complex for each point
        assert real.imag.abs().max() < 1e-13
        assert (real.real - spherical_harmonics(l, v)[:, degree_slice(l)]).abs().max() < 1e-13


def test_rotation_vector_round_trips():
    g = torch.Generator().manual_seed(7)
    for _ in range(5):
        w = torch.randn(3, dtype=F64, generator=g)
        w = w / w.norm() * float(torch.rand(1, generator=g, dtype=F64)) * math.pi
        K = torch.tensor([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]], dtype=F64)
        assert (rotation_vector(torch.linalg.matrix_exp(K)) - w).abs().max() < 1e-13
    assert rotation_vector(torch.eye(3, dtype=F64)).abs().max() == 0
    w = rotation_vector(rotation_about_axis([0.0, 0.0, 1.0], math.pi))
    assert (w.abs() - torch.tensor([0, 0, math.pi], dtype=F64)).abs().max() < 1e-15


def test_irreps_parse_dim_slices_and_float32():
    irreps = Irreps("8x0e + 4x1o + 2x2e")
    assert str(irreps) == "8x0e + 4x1o + 2x2e" and irreps.dim == 8 + 12 + 10 and irreps.num_irreps == 14
    assert irreps.slices() == [slice(0, 8), slice(8, 20), slice(20, 30)] and irreps.lmax == 2
    assert Irrep("2o") == Irrep(2, -1) and Irrep("1o") * Irrep("1o") == [Irrep("0e"), Irrep("1e"), Irrep("2e")]
    assert Irreps.spherical_harmonics(2) == Irreps("0e + 1o + 2e") and str(Irreps("0e+1o")) == "1x0e + 1x1o"
    Q = random_rotation(torch.Generator().manual_seed(8), dtype=torch.float32)
    D = irreps.D(Q)
    assert D.dtype == torch.float32 and (D @ D.T - torch.eye(30)).abs().max() < 1e-5


@pytest.mark.parametrize("bad, match", [
    (lambda: Irrep("1x"), "an irrep is written like"),
    (lambda: Irrep(1, 0), "parity p must be"),
    (lambda: Irrep(-1, 1), "l must be an integer >= 0"),
    (lambda: Irreps("8y0e"), "cannot read the term '8y0e'"),
    (lambda: wigner_D(1, torch.ones(3, 3, dtype=F64)), r"Q must be orthogonal"),
    (lambda: wigner_D(1, torch.eye(2, dtype=F64)), r"Q must be a floating tensor of shape \[..., 3, 3\]"),
    (lambda: wigner_D(1.5, torch.eye(3, dtype=F64)), "l must be an integer"),
    (lambda: Irreps("2x1o").check(torch.zeros(3, 5), "h"), r"h must be a floating tensor of shape \[..., 6\]"),
])
def test_bad_input_raises(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
