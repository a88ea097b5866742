"""minignn.clebsch_gordan: real coefficients, by their defining identities, sympy and e3nn."""

import pytest
import torch

from minignn.clebsch_gordan import allowed, clebsch_gordan, complex_clebsch_gordan, selection_rule
from minignn.geometry import random_reflection, random_rotation
from minignn.irreps import Irrep, so3_generators, wigner_D

F64 = torch.float64
L = 4
TRIPLES = [(l1, l2, l3) for l1 in range(L + 1) for l2 in range(L + 1) for l3 in range(abs(l1 - l2), l1 + l2 + 1)]


def test_equivariance_D_tensor_D_tensor_D_fixes_C():
    """(D_l1 x D_l2 x D_l3) C = C for rotations, at 1e-12; for a reflection it gives (-1)^(l1+l2+l3) C."""
    g = torch.Generator().manual_seed(0)
    R, Q = random_rotation(g), random_reflection(g)
    for l1, l2, l3 in TRIPLES:
        C = clebsch_gordan(l1, l2, l3)
        turned = torch.einsum("abc,ai,bj,ck->ijk", C, wigner_D(l1, R), wigner_D(l2, R), wigner_D(l3, R))
        assert (turned - C).abs().max() < 1e-12, (l1, l2, l3)
        mirrored = torch.einsum("abc,ai,bj,ck->ijk", C, wigner_D(l1, Q), wigner_D(l2, Q), wigner_D(l3, Q))
        assert (mirrored - (-1) ** (l1 + l2 + l3) * C).abs().max() < 1e-12


def test_is_the_null_space_of_the_generators():
    """The invariants of l1 x l2 x l3 are the null space of sum_k G_a^(k): one dimension, spanned by C."""
    for l1, l2, l3 in [(1, 1, 2), (2, 1, 2), (2, 2, 3), (3, 2, 4), (1, 1, 3), (2, 0, 1)]:
        G1, G2, G3 = so3_generators(l1), so3_generators(l2), so3_generators(l3)
        I1, I2, I3 = (torch.eye(2 * l + 1, dtype=F64) for l in (l1, l2, l3))
        A = torch.cat([torch.kron(torch.kron(G1[a], I2), I3) + torch.kron(torch.kron(I1, G2[a]), I3)
                       + torch.kron(torch.kron(I1, I2), G3[a]) for a in range(3)])
        s = torch.linalg.svdvals(A)
        null = int((s < 1e-10).sum()) + (A.shape[1] - s.numel())
        assert null == (1 if allowed(l1, l2, l3) else 0), (l1, l2, l3)
        C = clebsch_gordan(l1, l2, l3).reshape(-1)
        assert (A @ C).abs().max() < 1e-12


def test_normalisation_and_orthogonality():
    """sum C^2 = 1; sum_ab C_abc C_abc' = delta_cc' / (2 l3 + 1); different l3 are orthogonal; completeness."""
    for l1, l2, l3 in TRIPLES:
        C = clebsch_gordan(l1, l2, l3)
        assert abs(float((C * C).sum()) - 1) < 1e-14
        gram = torch.einsum("abc,abd->cd", C, C)
        assert (gram - torch.eye(2 * l3 + 1, dtype=F64) / (2 * l3 + 1)).abs().max() < 1e-14
    for l1, l2 in [(1, 1), (2, 1), (2, 2), (3, 2)]:
        blocks = [clebsch_gordan(l1, l2, l3) * (2 * l3 + 1) ** 0.5 for l3 in range(abs(l1 - l2), l1 + l2 + 1)]
        M = torch.cat([b.reshape((2 * l1 + 1) * (2 * l2 + 1), -1) for b in blocks], dim=1)  # square
        assert M.shape[0] == M.shape[1]
        assert (M.T @ M - torch.eye(M.shape[0], dtype=F64)).abs().max() < 1e-13  # orthogonal change of basis


def test_selection_rules_and_parity():
    for l1 in range(L + 1):
        for l2 in range(L + 1):
            for l3 in range(2 * L + 2):
                C = clebsch_gordan(l1, l2, l3)
                assert C.shape == (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
                assert bool(C.abs().max() > 0.01) == (abs(l1 - l2) <= l3 <= l1 + l2) == allowed(l1, l2, l3)
    assert selection_rule("1o", "1o") == [Irrep("0e"), Irrep("1e"), Irrep("2e")]
    assert selection_rule("1o", "2e") == [Irrep("1o"), Irrep("2o"), Irrep("3o")]
    assert selection_rule("1e", "1o") == [Irrep("0o"), Irrep("1o"), Irrep("2o")]


def test_small_degrees_are_dot_identity_and_cross_product():
    """C^0_{ab0} = delta_ab / sqrt(2l+1), C^l_{0bc} = delta_bc / sqrt(2l+1), and 1 x 1 -> 1 is the cross product."""
    for l in range(L + 1):
        eye = torch.eye(2 * l + 1, dtype=F64) / (2 * l + 1) ** 0.5
        assert (clebsch_gordan(l, l, 0)[:, :, 0] - eye).abs().max() < 1e-15
        assert (clebsch_gordan(0, l, l)[0] - eye).abs().max() < 1e-15
        assert (clebsch_gordan(l, 0, l)[:, 0] - eye).abs().max() < 1e-15
    g = torch.Generator().manual_seed(1)
    u, v = torch.randn(3, dtype=F64, generator=g), torch.randn(3, dtype=F64, generator=g)
    perm = [1, 2, 0]  # degree 1 is (y, z, x)
    w = torch.einsum("abc,a,b->c", clebsch_gordan(1, 1, 1), u[perm], v[perm])
    cross = torch.linalg.cross(u, v)[perm]
    ratio = w / cross
    assert (ratio - ratio[0]).abs().max() < 1e-14 and abs(abs(float(ratio[0])) - 6 ** -0.5) < 1e-14


def test_complex_coefficients_match_sympy():
    import sympy.physics.quantum.cg as sympy_cg  # sympy comes with torch
    for l1, l2, l3 in [(1, 1, 2), (2, 1, 1), (2, 2, 2), (3, 2, 4), (4, 3, 2)]:
        C = complex_clebsch_gordan(l1, l2, l3)
        for m1 in range(-l1, l1 + 1):
            for m2 in range(-l2, l2 + 1):
                m3 = m1 + m2
                if abs(m3) <= l3:
                    expected = float(sympy_cg.CG(l1, m1, l2, m2, l3, m3).doit())
                    assert abs(float(C[m1 + l1, m2 + l2, m3 + l3]) - expected) < 1e-14


def test_equals_e3nn_wigner_3j_same_sign():
    """Same coefficients and the same sign as e3nn.o3.wigner_3j (the real bases are the same functions)."""
    from e3nn import o3  # a test dependency (pyproject: test): never skipped
    for l1, l2, l3 in TRIPLES:
        theirs = o3.wigner_3j(l1, l2, l3, dtype=F64)
        assert (clebsch_gordan(l1, l2, l3) - theirs).abs().max() < 1e-12, (l1, l2, l3)


def test_dtype_and_bad_input():
    assert clebsch_gordan(1, 1, 2, dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError, match="l3 must be an integer >= 0"):
        clebsch_gordan(1, 1, -1)
    with pytest.raises(ValueError, match="l1 must be an integer"):
        clebsch_gordan(1.0, 1, 1)
    with pytest.raises(ValueError, match="an irrep is written like"):
        selection_rule("1", "1o")
