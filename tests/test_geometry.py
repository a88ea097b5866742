"""Tests of minignn.geometry: Haar-random rotations, reflections, translations, centring."""

import math

import pytest
import torch

from minignn.geometry import (
    apply_transform,
    center,
    random_reflection,
    random_rotation,
    random_translation,
    rotation_about_axis,
)
from minignn.testing import check_euclidean, random_molecule

EYE = torch.eye(3, dtype=torch.float64)


def rotation_angle_cdf(theta):
    """Haar measure on SO(3): the rotation angle has density (1 - cos t) / pi on [0, pi]."""
    return (theta - torch.sin(theta)) / math.pi


def rotation_angles(R):
    """Angle of each rotation from tr R = 1 + 2 cos(angle): [n, 3, 3] -> [n]."""
    trace = R.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.arccos(((trace - 1) / 2).clamp(-1, 1))


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov distance sup |F_empirical - F| (samples 1-D)."""
    x, _ = torch.sort(samples)
    n = x.numel()
    F = cdf(x)
    upper = torch.arange(1, n + 1, dtype=x.dtype) / n - F
    lower = F - torch.arange(0, n, dtype=x.dtype) / n
    return float(torch.maximum(upper, lower).max())


def test_rotation_is_special_orthogonal():
    R = random_rotation(torch.Generator().manual_seed(0), num=500)
    assert R.shape == (500, 3, 3) and R.dtype == torch.float64
    assert (R @ R.transpose(1, 2) - EYE).abs().max() < 1e-14
    assert (torch.linalg.det(R) - 1).abs().max() < 1e-14
    single = random_rotation(dtype=torch.float32)
    assert single.shape == (3, 3) and single.dtype == torch.float32


def test_rotation_is_reproducible_with_a_generator():
    a = random_rotation(torch.Generator().manual_seed(4))
    b = random_rotation(torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, random_rotation(torch.Generator().manual_seed(5)))


def test_rotation_is_haar_uniform():
    n = 20000
    R = random_rotation(torch.Generator().manual_seed(1), num=n)
    # E[R] = 0 and E[R_ab^2] = 1/3 under Haar; each entry has std 1/sqrt(3 n) ~ 0.004
    assert R.mean(0).abs().max() < 0.02
    assert ((R**2).mean(0) - 1 / 3).abs().max() < 0.02
    # distribution of the rotation angle: KS distance below the 1e-3 critical value 1.95 / sqrt(n)
    assert ks_statistic(rotation_angles(R), rotation_angle_cdf) < 1.95 / math.sqrt(n)


def test_uniform_euler_angles_are_not_haar():
    """The uniformity test has teeth: naive uniform Euler angles fail it."""
    n = 2000
    g = torch.Generator().manual_seed(2)
    a, b, c = (torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi for _ in range(3))
    Rz = lambda t: torch.stack([rotation_about_axis([0, 0, 1], float(s)) for s in t])  # noqa: E731
    Rx = lambda t: torch.stack([rotation_about_axis([1, 0, 0], float(s)) for s in t])  # noqa: E731
    R = Rz(a) @ Rx(b) @ Rz(c)
    assert ks_statistic(rotation_angles(R), rotation_angle_cdf) > 1.95 / math.sqrt(n)


def test_reflection_is_improper_and_uniform_on_its_coset():
    Q = random_reflection(torch.Generator().manual_seed(3), num=20000)
    assert (Q @ Q.transpose(1, 2) - EYE).abs().max() < 1e-14
    assert (torch.linalg.det(Q) + 1).abs().max() < 1e-14
    assert Q.mean(0).abs().max() < 0.02
    # -Q is a Haar rotation (inversion -I is central), so its angle follows the Haar law
    assert ks_statistic(rotation_angles(-Q), rotation_angle_cdf) < 1.95 / math.sqrt(20000)


def test_translation():
    t = random_translation(torch.Generator().manual_seed(0), scale=10.0)
    assert t.shape == (3,) and t.dtype == torch.float64
    many = torch.stack([random_translation(scale=2.0) for _ in range(4000)])
    assert (many.std(0) - 2.0).abs().max() < 0.15 and many.mean(0).abs().max() < 0.15


def test_rotation_about_axis_against_rodrigues_by_hand():
    R = rotation_about_axis([0, 0, 1], math.pi / 2)
    assert torch.allclose(torch.tensor([1.0, 0, 0], dtype=torch.float64) @ R.T,
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-15)
    # oracle: scipy's rotation vector
    Rotation = pytest.importorskip("scipy.spatial.transform").Rotation
    axis, angle = [1.0, -2.0, 0.5], 0.7
    n = torch.tensor(axis, dtype=torch.float64) / torch.tensor(axis, dtype=torch.float64).norm()
    expected = torch.tensor(Rotation.from_rotvec((n * angle).numpy()).as_matrix())
    assert (rotation_about_axis(axis, angle) - expected).abs().max() < 1e-14
    with pytest.raises(ValueError, match="not all zero"):
        rotation_about_axis([0, 0, 0], 1.0)
    with pytest.raises(ValueError, match="axis must be 3 finite numbers"):
        rotation_about_axis([1, 0], 1.0)


def test_apply_transform_is_row_vector_convention():
    pos = torch.randn(5, 3, dtype=torch.float64)
    R, t = random_rotation(), random_translation()
    expected = torch.stack([R @ r + t for r in pos])  # r_i -> R r_i + t, one node at a time
    assert (apply_transform(pos, R, t) - expected).abs().max() < 1e-14
    assert torch.equal(apply_transform(pos), pos)
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 3\]"):
        apply_transform(pos[:, :2], R)


def test_center_single_graph_and_batch():
    pos = torch.randn(7, 3, dtype=torch.float64)
    c = center(pos)
    assert c.mean(0).abs().max() < 1e-15 and torch.allclose(pos - c, pos.mean(0).expand(7, 3))
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    cb = center(pos, batch)
    assert torch.allclose(cb[:3], center(pos[:3]), atol=1e-15)  # batched == per graph
    assert torch.allclose(cb[3:], center(pos[3:]), atol=1e-15)
    # an empty trailing graph and a one-node graph
    cb = center(pos[:4], torch.tensor([0, 0, 0, 1]), num_graphs=3)
    assert torch.equal(cb[3], torch.zeros(3, dtype=torch.float64))
    assert center(torch.zeros(0, 3)).shape == (0, 3)


def test_center_is_e3_equivariant_not_translated():
    pos, _, _ = random_molecule(10, generator=torch.Generator().manual_seed(0))
    report = check_euclidean(center, None, pos, outputs="equivariant")  # called as center(pos)
    assert max(report.values()) < 1e-13
    assert check_euclidean(center, None, pos, outputs="position")["translation"] > 0.1


def test_center_errors():
    with pytest.raises(ValueError, match=r"shape \[num_nodes, 3\]"):
        center(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"batch must have shape \[4\]"):
        center(torch.zeros(4, 3), torch.zeros(3, dtype=torch.long))
