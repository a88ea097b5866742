"""Tests of minignn.spherical against closed forms, scipy, e3nn and the defining properties."""

import math

import numpy as np
import pytest
import torch

from minignn.geometry import random_reflection, random_rotation, rotation_about_axis
from minignn.spherical import (
    degree_slice,
    estimate_wigner_D,
    estimate_wigner_D_blocks,
    lm_index,
    multipole_moments,
    num_harmonics,
    power_spectrum,
    privileged_component,
    spherical_harmonics,
)
from minignn.testing import assert_euclidean, check_euclidean, random_molecule

PI = math.pi
L_MAX = 4


def unit_vectors(n, seed=0):
    v = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return v / v.norm(dim=1, keepdim=True)


def table(v):
    """Wikipedia's table of real spherical harmonics (unit vectors), typed in by hand, l <= 4."""
    x, y, z = v.unbind(-1)
    s = math.sqrt
    rows = {
        (0, 0): 0.5 * s(1 / PI) * torch.ones_like(x),
        (1, -1): s(3 / (4 * PI)) * y, (1, 0): s(3 / (4 * PI)) * z, (1, 1): s(3 / (4 * PI)) * x,
        (2, -2): 0.5 * s(15 / PI) * x * y,
        (2, -1): 0.5 * s(15 / PI) * y * z,
        (2, 0): 0.25 * s(5 / PI) * (3 * z**2 - 1),
        (2, 1): 0.5 * s(15 / PI) * x * z,
        (2, 2): 0.25 * s(15 / PI) * (x**2 - y**2),
        (3, -3): 0.25 * s(35 / (2 * PI)) * y * (3 * x**2 - y**2),
        (3, -2): 0.5 * s(105 / PI) * x * y * z,
        (3, -1): 0.25 * s(21 / (2 * PI)) * y * (5 * z**2 - 1),
        (3, 0): 0.25 * s(7 / PI) * (5 * z**3 - 3 * z),
        (3, 1): 0.25 * s(21 / (2 * PI)) * x * (5 * z**2 - 1),
        (3, 2): 0.25 * s(105 / PI) * (x**2 - y**2) * z,
        (3, 3): 0.25 * s(35 / (2 * PI)) * x * (x**2 - 3 * y**2),
        (4, -4): 0.75 * s(35 / PI) * x * y * (x**2 - y**2),
        (4, -3): 0.75 * s(35 / (2 * PI)) * y * z * (3 * x**2 - y**2),
        (4, -2): 0.75 * s(5 / PI) * x * y * (7 * z**2 - 1),
        (4, -1): 0.75 * s(5 / (2 * PI)) * y * z * (7 * z**2 - 3),
        (4, 0): 3 / 16 * s(1 / PI) * (35 * z**4 - 30 * z**2 + 3),
        (4, 1): 0.75 * s(5 / (2 * PI)) * x * z * (7 * z**2 - 3),
        (4, 2): 3 / 8 * s(5 / PI) * (x**2 - y**2) * (7 * z**2 - 1),
        (4, 3): 0.75 * s(35 / (2 * PI)) * x * z * (x**2 - 3 * y**2),
        (4, 4): 3 / 16 * s(35 / PI) * (x**2 * (x**2 - 3 * y**2) - y**2 * (3 * x**2 - y**2)),
    }
    return rows


# ---- oracles -----------------------------------------------------------------------


def test_indexing():
    assert num_harmonics(4) == 25
    assert [lm_index(l, m) for l in range(3) for m in range(-l, l + 1)] == list(range(9))
    assert degree_slice(2) == slice(4, 9)
    with pytest.raises(ValueError, match="-l <= m <= l"):
        lm_index(1, 2)


def test_matches_wikipedia_table_up_to_l4():
    v = unit_vectors(100)
    Y = spherical_harmonics(L_MAX, v)
    assert Y.shape == (100, 25)
    for (l, m), expected in table(v).items():
        assert (Y[:, lm_index(l, m)] - expected).abs().max() < 1e-14, (l, m)


def test_matches_scipy_complex_harmonics_up_to_l8():
    special = pytest.importorskip("scipy.special")
    if not hasattr(special, "sph_harm_y"):
        pytest.skip("scipy < 1.15 has no sph_harm_y")
    v = unit_vectors(100, seed=1)
    theta, phi = torch.arccos(v[:, 2]).numpy(), torch.atan2(v[:, 1], v[:, 0]).numpy()
    Y = spherical_harmonics(8, v).numpy()
    for l in range(9):
        for m in range(-l, l + 1):
            c = special.sph_harm_y(l, abs(m), theta, phi)  # complex, with Condon-Shortley phase
            real = c.real if m == 0 else math.sqrt(2) * (-1) ** m * (c.real if m > 0 else c.imag)
            assert np.abs(Y[:, lm_index(l, m)] - real).max() < 1e-13, (l, m)


@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
@pytest.mark.parametrize("normalize", [True, False])
def test_matches_e3nn_with_axes_yzx(normalization, normalize, float64_default):
    o3 = pytest.importorskip("e3nn.o3")
    v = torch.randn(200, 3, dtype=torch.float64) * 1.5
    ours = spherical_harmonics(L_MAX, v, normalize=normalize, normalization=normalization)
    # e3nn's (x, y, z) are our (y, z, x): its y axis is our polar z axis
    theirs = o3.spherical_harmonics(list(range(L_MAX + 1)), v[:, [1, 2, 0]], normalize, normalization)
    assert (ours - theirs).abs().max() / theirs.abs().max() < 1e-14
    # without the permutation they disagree: the axis convention matters
    plain = o3.spherical_harmonics(list(range(L_MAX + 1)), v, normalize, normalization)
    assert (ours - plain).abs().max() / plain.abs().max() > 0.1


def test_wigner_D_matches_e3nn(float64_default):
    o3 = pytest.importorskip("e3nn.o3")
    P = torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]])  # our coordinates -> e3nn's
    g = torch.Generator().manual_seed(0)
    for R in (random_rotation(g), random_reflection(g)):
        for l in range(L_MAX + 1):
            theirs = o3.Irrep(l, (-1) ** l).D_from_matrix(P @ R @ P.T)
            assert (estimate_wigner_D(l, R) - theirs).abs().max() < 1e-12


# ---- defining properties -----------------------------------------------------------


def sphere_quadrature(l_max):
    """Gauss-Legendre in cos(theta) x uniform phi: exact for products of degree <= 2 l_max."""
    t, w = np.polynomial.legendre.leggauss(l_max + 2)
    n_phi = 2 * l_max + 3
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    T, PHI = np.meshgrid(t, phi, indexing="ij")
    s = np.sqrt(1 - T**2)
    v = np.stack([s * np.cos(PHI), s * np.sin(PHI), T], -1).reshape(-1, 3)
    weights = (w[:, None] * np.full(n_phi, 2 * np.pi / n_phi)).reshape(-1)
    return torch.tensor(v), torch.tensor(weights)


def test_orthonormal_on_the_sphere_by_exact_quadrature():
    v, w = sphere_quadrature(6)
    assert abs(float(w.sum()) - 4 * PI) < 1e-13
    Y = spherical_harmonics(6, v)  # [S, 49]
    gram = Y.T @ (w[:, None] * Y)  # integral of Y_lm Y_l'm' dOmega
    assert (gram - torch.eye(49, dtype=torch.float64)).abs().max() < 1e-13


def test_component_and_norm_normalisations():
    v = unit_vectors(50)
    for l in range(L_MAX + 1):
        comp = spherical_harmonics(L_MAX, v, normalization="component")[:, degree_slice(l)]
        norm = spherical_harmonics(L_MAX, v, normalization="norm")[:, degree_slice(l)]
        assert ((comp**2).sum(1) - (2 * l + 1)).abs().max() < 1e-12  # addition theorem
        assert ((norm**2).sum(1) - 1).abs().max() < 1e-13


def monomial_basis(v, l):
    """All monomials x^a y^b z^c with a + b + c = l: [n, (l+1)(l+2)/2]."""
    x, y, z = v.unbind(-1)
    return torch.stack([x**a * y**b * z ** (l - a - b) for a in range(l + 1) for b in range(l + 1 - a)], -1)


def laplacian(fn, v):
    """sum_i d^2 f_k / dv_i^2 for each output column k, by autograd: [n, 3] -> [n, K]."""
    v = v.clone().requires_grad_(True)
    out = fn(v)
    columns = []
    for k in range(out.shape[1]):
        (grad,) = torch.autograd.grad(out[:, k].sum(), v, create_graph=True)
        columns.append(sum(torch.autograd.grad(grad[:, i].sum(), v, retain_graph=True)[0][:, i] for i in range(3)))
    return torch.stack(columns, -1)


def test_solid_harmonics_are_homogeneous_harmonic_polynomials():
    v = torch.randn(60, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    solid = lambda u: spherical_harmonics(L_MAX, u, normalize=False)  # noqa: E731
    Y = solid(v)
    for l in range(L_MAX + 1):
        block = Y[:, degree_slice(l)]
        # a homogeneous polynomial of degree l: least-squares fit by degree-l monomials is exact
        M = monomial_basis(v, l)
        residual = M @ torch.linalg.lstsq(M, block).solution - block
        assert residual.abs().max() / block.abs().max() < 1e-12, l
        # and r^l Y_lm(r / |r|): on the unit sphere it is Y_lm
        assert torch.allclose(block / v.norm(dim=1, keepdim=True) ** l,
                              spherical_harmonics(L_MAX, v)[:, degree_slice(l)], atol=1e-13)
    lap = laplacian(solid, v)
    assert lap.abs().max() / Y.abs().max() < 1e-12
    # the Laplacian check has teeth: |r|^2 Y_00 is a homogeneous polynomial that is not harmonic (Delta = 6 Y_00)
    assert torch.allclose(laplacian(lambda u: (u**2).sum(1, keepdim=True), v), torch.full((60, 1), 6.0,
                          dtype=torch.float64))


def test_rotation_mixes_only_within_each_degree():
    g = torch.Generator().manual_seed(4)
    R = random_rotation(g)
    v = unit_vectors(300, seed=5)
    Y, Y_rot = spherical_harmonics(L_MAX, v), spherical_harmonics(L_MAX, v @ R.T)
    full = torch.linalg.lstsq(Y, Y_rot).solution.T  # Y(R v) = full @ Y(v), all 25 components
    blocks = estimate_wigner_D_blocks(L_MAX, R)
    assert (full - blocks).abs().max() < 1e-12  # the off-diagonal blocks vanish
    assert (Y_rot - Y @ blocks.T).abs().max() < 1e-13  # fresh points, not the fitting ones


@pytest.mark.parametrize("l", range(L_MAX + 1))
def test_wigner_D_is_an_orthogonal_representation(l):
    g = torch.Generator().manual_seed(10 + l)
    R1, R2, Q = random_rotation(g), random_rotation(g), random_reflection(g)
    eye = torch.eye(2 * l + 1, dtype=torch.float64)
    D1, D2 = estimate_wigner_D(l, R1), estimate_wigner_D(l, R2)
    assert (D1 @ D1.T - eye).abs().max() < 1e-13
    assert (estimate_wigner_D(l, R1 @ R2) - D1 @ D2).abs().max() < 1e-13  # D(R1 R2) = D(R1) D(R2)
    assert (estimate_wigner_D(l, torch.eye(3, dtype=torch.float64)) - eye).abs().max() < 1e-13
    assert (estimate_wigner_D(l, -torch.eye(3, dtype=torch.float64)) - (-1) ** l * eye).abs().max() < 1e-13
    DQ = estimate_wigner_D(l, Q)
    assert (DQ @ DQ.T - eye).abs().max() < 1e-13
    assert (estimate_wigner_D(l, Q @ R1) - DQ @ D1).abs().max() < 1e-13


def test_check_euclidean_with_wigner_D_output_kind():
    pos, _, _ = random_molecule(10, generator=torch.Generator().manual_seed(0))
    fn = lambda p: spherical_harmonics(L_MAX, p - p.mean(0))  # noqa: E731  a function of positions alone
    kind = lambda Q: estimate_wigner_D_blocks(L_MAX, Q)  # noqa: E731
    assert_euclidean(fn, None, pos, outputs=kind, tol=1e-12)
    assert check_euclidean(fn, None, pos, outputs="invariant")["rotation"] > 0.1


# ---- gradients, zero vector, dtypes ------------------------------------------------


def test_gradients_are_finite_and_correct():
    v = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda u: spherical_harmonics(3, u), (v,))
    assert torch.autograd.gradcheck(lambda u: spherical_harmonics(3, u, normalize=False), (v,))
    tiny = torch.tensor([[1e-150, 0.0, 0.0], [0.0, 3e-8, -1e-8]], dtype=torch.float64, requires_grad=True)
    spherical_harmonics(L_MAX, tiny).sum().backward()
    assert torch.isfinite(tiny.grad).all()


def test_zero_vector_gives_Y00_and_zeros_without_nan():
    zero = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    Y = spherical_harmonics(L_MAX, zero)
    assert torch.allclose(Y[:, 0], torch.full((2,), 0.5 / math.sqrt(PI), dtype=torch.float64))
    assert torch.equal(Y[:, 1:], torch.zeros(2, 24, dtype=torch.float64))
    Y.sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_float32_and_batch_shapes():
    v = torch.randn(4, 5, 3, dtype=torch.float64)
    Y64 = spherical_harmonics(L_MAX, v)
    Y32 = spherical_harmonics(L_MAX, v.float())
    assert Y32.shape == (4, 5, 25) and Y32.dtype == torch.float32
    assert (Y32.double() - Y64).abs().max() < 1e-5
    assert torch.equal(Y64[2, 3], spherical_harmonics(L_MAX, v[2, 3]))


def test_errors():
    v = torch.randn(5, 3)
    with pytest.raises(ValueError, match="l_max must be an integer >= 0"):
        spherical_harmonics(-1, v)
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 3\]"):
        spherical_harmonics(2, v[:, :2])
    with pytest.raises(ValueError, match="floating point"):
        spherical_harmonics(2, torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="normalization must be one of"):
        spherical_harmonics(2, v, normalization="schmidt")
    with pytest.raises(ValueError, match=r"R must be a \[3, 3\]"):
        estimate_wigner_D(1, torch.eye(2))
    with pytest.raises(ValueError, match="num_samples must be >= 2l\\+1 = 5"):
        estimate_wigner_D(2, torch.eye(3), num_samples=4)
    with pytest.raises(ValueError, match=r"\(l_max\+1\)\^2 = 9 columns"):
        power_spectrum(torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match=r"shape \[\.\.\., num_nodes, 3\]"):
        multipole_moments(torch.zeros(3), 2)
    with pytest.raises(ValueError, match="weights must have shape"):
        multipole_moments(torch.zeros(4, 3), 2, weights=torch.ones(3))


# ---- the slides' warning: a privileged basis breaks equivariance ---------------------


def test_multipole_moments_against_loop():
    pos, x, _ = random_molecule(8, generator=torch.Generator().manual_seed(1))
    w = x[:, 0] + 0.5
    c = pos.mean(0)
    expected = sum(w[i] * spherical_harmonics(3, pos[i] - c, normalize=False) for i in range(8))
    assert (multipole_moments(pos, 3, w) - expected).abs().max() < 1e-13
    # the dipole about the centroid of equal weights vanishes
    assert multipole_moments(pos, 1)[1:4].abs().max() < 1e-13


def test_single_m_component_is_not_invariant_but_power_spectrum_is():
    pos, _, _ = random_molecule(10, generator=torch.Generator().manual_seed(2))
    one_m = lambda p: privileged_component(p, l=2, m=0)  # noqa: E731
    report = check_euclidean(one_m, None, pos)
    assert report["rotation"] > 0.1 and report["translation"] < 1e-13 and report["permutation"] < 1e-13
    # ... it only survives rotations about the privileged z axis
    Rz = rotation_about_axis([0, 0, 1], 0.9)
    assert abs(float(one_m(pos @ Rz.T) - one_m(pos))) < 1e-12
    # the fix: use every m of the degree together (an invariant norm), or keep the whole vector
    spectrum = lambda p: power_spectrum(multipole_moments(p, L_MAX), L_MAX)  # noqa: E731
    assert max(assert_euclidean(spectrum, None, pos).values()) < 1e-12
    moments = lambda p: multipole_moments(p, L_MAX)  # noqa: E731
    assert_euclidean(moments, None, pos, outputs=lambda Q: estimate_wigner_D_blocks(L_MAX, Q))
    # float32 smoke test
    assert max(assert_euclidean(spectrum, None, pos.float()).values()) < 1e-5
