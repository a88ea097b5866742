"""Radial bases and cutoff envelopes: closed forms, orthonormality, smoothness at the cutoff."""

import math

import pytest
import torch

from minignn.radial import BesselBasis, GaussianBasis, cosine_cutoff, polynomial_cutoff

F64 = dict(dtype=torch.float64)


def derivatives(fn, d0, order=2):
    """Value and the first ``order`` derivatives of a scalar function at d0, by autograd."""
    d = torch.tensor([d0], **F64, requires_grad=True)
    out, y = [], fn(d)
    for _ in range(order + 1):
        out.append(float(y.sum().detach()))
        if len(out) <= order:
            (y,) = torch.autograd.grad(y.sum(), d, create_graph=True)
    return out


# -- envelopes ----------------------------------------------------------------
def test_cosine_cutoff_closed_form_and_zero_outside():
    d = torch.linspace(0, 7, 71, **F64)
    expect = torch.tensor([0.5 * (math.cos(math.pi * v / 5) + 1) if v < 5 else 0.0 for v in d.tolist()], **F64)
    assert torch.allclose(cosine_cutoff(d, 5.0), expect, atol=1e-15)
    assert float(cosine_cutoff(torch.zeros(1, **F64), 5.0)) == 1.0


def test_polynomial_cutoff_closed_form():
    d = torch.linspace(0, 3, 31, **F64)
    for p in (3, 6):
        x = d / 2.0
        poly = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        expect = torch.where(x < 1, poly, torch.zeros_like(x))
        assert torch.allclose(polynomial_cutoff(d, 2.0, p=p), expect, atol=1e-14)


def test_envelopes_are_accurate_in_float32_near_the_cutoff():
    """The factored forms avoid the cancellations of 1 + cos and of the expanded polynomial near r_c."""
    d = torch.linspace(2.0, 2.9999, 300, **F64).float().double()  # inputs exactly representable in float32
    err = (polynomial_cutoff(d.float(), 3.0).double() - polynomial_cutoff(d, 3.0)).abs().max()
    assert err < 3e-7  # the expanded polynomial loses ~4e-6 here
    d = torch.linspace(2.9, 2.99, 100, **F64).float().double()
    rel = ((cosine_cutoff(d.float(), 3.0).double() - cosine_cutoff(d, 3.0)) / cosine_cutoff(d, 3.0)).abs().max()
    assert rel < 1e-4  # (cos + 1) / 2 loses ~3e-4 here


def test_envelopes_are_smooth_at_the_cutoff():
    rc = 3.0
    v, d1, _ = derivatives(lambda d: cosine_cutoff(d, rc), rc - 1e-9)
    assert abs(v) < 1e-15 and abs(d1) < 1e-8  # value and first derivative vanish
    v, d1, d2 = derivatives(lambda d: polynomial_cutoff(d, rc), rc - 1e-9)
    assert abs(v) < 1e-15 and abs(d1) < 1e-12 and abs(d2) < 1e-6  # and the second derivative
    # the derivative is continuous across the cutoff (0 outside)
    assert derivatives(lambda d: polynomial_cutoff(d, rc), rc + 1e-9, order=1) == [0.0, 0.0]
    # and it is really nonzero inside (the test could fail)
    assert abs(derivatives(lambda d: cosine_cutoff(d, rc), rc / 2, order=1)[1]) > 0.1


# -- bases --------------------------------------------------------------------
def test_gaussian_basis_closed_form():
    basis = GaussianBasis(num_basis=5, cutoff=4.0, envelope=None)
    d = torch.rand(20, **F64) * 5
    mu, sigma = [0.0, 1.0, 2.0, 3.0, 4.0], 1.0
    expect = torch.tensor([[math.exp(-((v - m) ** 2) / (2 * sigma**2)) for m in mu] for v in d.tolist()], **F64)
    assert torch.allclose(basis(d), expect, atol=1e-15)
    with_env = GaussianBasis(5, 4.0, envelope="cosine")(d)
    assert torch.allclose(with_env, expect * cosine_cutoff(d, 4.0).unsqueeze(1), atol=1e-15)


def test_bessel_basis_closed_form_and_limit_at_zero():
    rc, K = 5.0, 6
    basis = BesselBasis(K, rc, envelope=None)
    d = torch.rand(30, **F64) * rc + 1e-3
    expect = torch.tensor(
        [[math.sqrt(2 / rc) * math.sin(k * math.pi * v / rc) / v for k in range(1, K + 1)] for v in d.tolist()], **F64)
    assert torch.allclose(basis(d), expect, atol=1e-13)
    zero = torch.zeros(1, **F64, requires_grad=True)
    at0 = basis(zero)
    limit = torch.tensor([math.sqrt(2 / rc) * k * math.pi / rc for k in range(1, K + 1)], **F64)
    assert torch.allclose(at0[0], limit, atol=1e-15)
    assert torch.allclose(basis(torch.full((1,), 1e-7, **F64))[0], limit, atol=1e-10)  # continuous at 0
    at0.sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_bessel_basis_is_orthonormal_in_the_ball():
    """int_0^rc e_k(d) e_l(d) d^2 dd = delta_kl (radial part of the Laplacian's eigenfunctions)."""
    rc, K, n = 2.0, 5, 20001
    d = torch.linspace(0, rc, n, **F64)
    e = BesselBasis(K, rc, envelope=None)(d)  # [n, K]
    w = torch.full((n,), rc / (n - 1), **F64)
    w[0] = w[-1] = w[0] / 2  # trapezoid
    gram = (e * (w * d * d).unsqueeze(1)).T @ e
    assert torch.allclose(gram, torch.eye(K, **F64), atol=1e-6)


@pytest.mark.parametrize("cls", [GaussianBasis, BesselBasis])
@pytest.mark.parametrize("envelope", ["cosine", "polynomial"])
def test_basis_value_and_derivative_vanish_at_cutoff(cls, envelope):
    basis = cls(4, 2.5, envelope=envelope).double()
    d = torch.tensor([2.5 - 1e-9, 2.5, 3.0], **F64, requires_grad=True)
    e = basis(d)
    (grad,) = torch.autograd.grad(e.sum(), d)
    assert e.abs().max() < 1e-12 and grad.abs().max() < 1e-7
    raw = cls(4, 2.5, envelope=None).double()(torch.tensor([2.4], **F64))
    assert raw.abs().max() > 1e-3  # without the envelope the basis is not 0 just inside


def test_float32_buffers_follow_the_input_dtype():
    for basis in (GaussianBasis(3, 2.0), BesselBasis(3, 2.0)):
        assert basis(torch.rand(4)).dtype == torch.float32
        assert basis(torch.rand(4, **F64)).dtype == torch.float64


def test_bad_inputs():
    with pytest.raises(ValueError, match="cutoff must be a finite number > 0"):
        cosine_cutoff(torch.rand(3), 0.0)
    with pytest.raises(ValueError, match="p must be an integer >= 1"):
        polynomial_cutoff(torch.rand(3), 1.0, p=0)
    with pytest.raises(ValueError, match="num_basis must be an integer >= 1"):
        BesselBasis(0, 1.0)
    with pytest.raises(ValueError, match="envelope must be None or one of"):
        GaussianBasis(3, 1.0, envelope="hard")
    with pytest.raises(ValueError, match="floating-point tensor"):
        BesselBasis(3, 1.0)(torch.arange(3))
    with pytest.raises(ValueError, match=r"shape \[E\]"):
        GaussianBasis(3, 1.0)(torch.rand(3, 2))
