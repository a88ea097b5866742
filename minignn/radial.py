r"""Radial bases with a smooth cutoff: distances as feature vectors.

An MLP fed a raw distance :math:`d` learns slowly; a fixed basis of smooth
functions :math:`e_k(d)`, :math:`k = 1, \dots, K`, expands it into a vector the
network can combine linearly.  Two classic bases:

* Gaussians (SchNet): :math:`e_k(d) = \exp\big(-(d - \mu_k)^2 / 2\sigma^2\big)`,
  centres :math:`\mu_k` evenly spaced on :math:`[0, r_c]`, width :math:`\sigma = r_c / (K - 1)`.
* Bessel functions (DimeNet): :math:`e_k(d) = \sqrt{2 / r_c}\, \sin(k \pi d / r_c) / d`,
  the radial eigenfunctions of the Laplacian in a ball of radius :math:`r_c`.

A radius graph gains and loses edges as atoms cross the cutoff :math:`r_c`.  For
the energy (and its gradient, the forces) to stay continuous, every edge must
enter and leave with value *and derivative* zero, so each basis is multiplied by
an envelope :math:`u(d)` with :math:`u(r_c) = u'(r_c) = 0`:

* cosine: :math:`u(d) = \tfrac12 (\cos(\pi d / r_c) + 1)` (value and first derivative vanish);
* polynomial (:math:`x = d / r_c`, :math:`p = 6`), value, first and second derivative vanish:
  :math:`u(x) = 1 - \tfrac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \tfrac{p(p+1)}{2} x^{p+2}`.

Both are 0 for :math:`d \ge r_c`.

Book: chapter equivariance, section "Invariant features".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from minignn.checks import check_int, check_number

__all__ = ["cosine_cutoff", "polynomial_cutoff", "ENVELOPES", "GaussianBasis", "BesselBasis"]


def _check_cutoff(cutoff) -> float:
    return check_number(cutoff, "cutoff", minimum=0, strict_minimum=True)


def _check_distances(d) -> None:
    """Floating, and every distance >= 0 (not NaN): a NaN distance must not come out of a cutoff as 0."""
    if not isinstance(d, Tensor) or not d.is_floating_point():
        got = d.dtype if isinstance(d, Tensor) else type(d).__name__
        raise ValueError(f"distances must be a floating-point tensor of shape [E], got {got}")
    if d.numel() and not bool((d >= 0).all()):  # NaN fails d >= 0 too
        bad = d[~(d >= 0)]
        raise ValueError(f"distances must be >= 0 and not NaN, got {int(bad.numel())} bad value(s), "
                         f"e.g. {float(bad[0]):g}")


def cosine_cutoff(d: Tensor, cutoff: float) -> Tensor:
    r"""Cosine envelope :math:`u(d) = \tfrac12 (\cos(\pi d / r_c) + 1) = \cos^2(\pi d / 2 r_c)`, 0 beyond :math:`r_c`.

    :math:`u(0) = 1`, :math:`u(r_c) = u'(r_c) = 0` (the second derivative jumps).

    Args:
        d: distances, any shape (e.g. ``[E]``); cutoff: :math:`r_c > 0`.

    Returns:
        the shape of ``d``.

    Book: chapter equivariance, section "Invariant features".
    """
    _check_distances(d)
    cutoff = _check_cutoff(cutoff)
    inside = d < cutoff
    u = torch.cos(0.5 * math.pi * torch.where(inside, d, torch.zeros_like(d)) / cutoff) ** 2  # = (cos + 1) / 2
    return torch.where(inside, u, torch.zeros_like(d))


def polynomial_cutoff(d: Tensor, cutoff: float, p: int = 6) -> Tensor:
    r"""Polynomial envelope of DimeNet / NequIP, :math:`x = d / r_c`:

    $$u(x) = 1 - \frac{(p+1)(p+2)}{2} x^p + p(p+2)\, x^{p+1} - \frac{p(p+1)}{2} x^{p+2}
    \quad (x < 1), \qquad u = 0 \ (x \ge 1)$$

    :math:`u(0) = 1` and :math:`u, u', u''` vanish at :math:`x = 1`.  Evaluated in the
    factored form :math:`u(x) = (1 - x)^3 \sum_{k<p} \binom{k+2}{2} x^k` (the same
    polynomial), accurate near the cutoff.

    Args:
        d: distances, any shape; cutoff: :math:`r_c > 0`; p: degree, an int >= 1.

    Returns:
        the shape of ``d``.

    Book: chapter equivariance, section "Invariant features".
    """
    _check_distances(d)
    cutoff = _check_cutoff(cutoff)
    p = check_int(p, "p", minimum=1)
    x = d / cutoff
    inside = x < 1
    x = torch.where(inside, x, torch.zeros_like(x))  # keeps the gradient finite outside
    # u = (1 - x)^3 sum_{k<p} C(k+2, 2) x^k: the same polynomial, its triple root at x = 1
    # made explicit, which avoids the cancellation of the expanded form near the cutoff.
    series = torch.zeros_like(x)
    for k in reversed(range(p)):
        series = series * x + (k + 1) * (k + 2) / 2
    u = (1 - x) ** 3 * series
    return torch.where(inside, u, torch.zeros_like(u))


ENVELOPES = {"polynomial": polynomial_cutoff, "cosine": cosine_cutoff}


class _Basis(nn.Module):
    def __init__(self, num_basis: int, cutoff: float, envelope: str | None):
        super().__init__()
        num_basis = check_int(num_basis, "num_basis", minimum=1)
        if envelope is not None and envelope not in ENVELOPES:
            raise ValueError(f"envelope must be None or one of {tuple(ENVELOPES)}, got {envelope!r}")
        self.num_basis, self.cutoff, self.envelope = num_basis, _check_cutoff(cutoff), envelope

    def basis(self, d: Tensor) -> Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, d: Tensor) -> Tensor:
        """``d [E]`` -> ``[E, num_basis]``, each column multiplied by the envelope."""
        _check_distances(d)
        if d.dim() != 1:
            raise ValueError(f"distances must have shape [E], got {list(d.shape)}")
        e = self.basis(d)
        if self.envelope is not None:
            e = e * ENVELOPES[self.envelope](d, self.cutoff).unsqueeze(-1)
        return e

    def extra_repr(self) -> str:
        return f"num_basis={self.num_basis}, cutoff={self.cutoff}, envelope={self.envelope!r}"


class GaussianBasis(_Basis):
    r"""Gaussians on evenly spaced centres (SchNet), times an envelope :math:`u`:

    $$e_k(d) = u(d)\, \exp\Big(-\frac{(d - \mu_k)^2}{2 \sigma^2}\Big), \qquad
    \mu_k = \frac{(k - 1)\, r_c}{K - 1}, \quad \sigma = \frac{r_c}{K - 1}$$

    (:math:`\mu_1 = 0`, :math:`\sigma = r_c` when :math:`K = 1`).

    Args:
        num_basis: K; cutoff: :math:`r_c`; envelope: ``"polynomial"``, ``"cosine"`` or None.

    Shapes: ``d [E]`` -> ``[E, K]``.

    Book: chapter equivariance, section "Invariant features".
    """

    def __init__(self, num_basis: int = 16, cutoff: float = 5.0, envelope: str | None = "polynomial"):
        super().__init__(num_basis, cutoff, envelope)
        step = self.cutoff / max(num_basis - 1, 1)
        centers = torch.linspace(0.0, self.cutoff, num_basis, dtype=torch.float64)  # [0.] when K = 1
        self.register_buffer("centers", centers)
        self.width = step

    def basis(self, d: Tensor) -> Tensor:
        mu = self.centers.to(d.dtype)
        return torch.exp(-((d.unsqueeze(-1) - mu) ** 2) / (2 * self.width**2))


class BesselBasis(_Basis):
    r"""Spherical Bessel functions of order 0 (DimeNet), times an envelope :math:`u`:

    $$e_k(d) = u(d) \sqrt{\frac{2}{r_c}}\ \frac{\sin(k \pi d / r_c)}{d}, \qquad k = 1, \dots, K$$

    with the limit :math:`\sqrt{2 / r_c}\, k\pi / r_c` at :math:`d = 0`.  Each
    :math:`e_k` is already 0 at :math:`r_c`; the envelope also kills its derivative.

    Args:
        num_basis: K; cutoff: :math:`r_c`; envelope: ``"polynomial"``, ``"cosine"`` or None.

    Shapes: ``d [E]`` -> ``[E, K]``.

    Book: chapter equivariance, section "Invariant features".
    """

    def __init__(self, num_basis: int = 8, cutoff: float = 5.0, envelope: str | None = "polynomial"):
        super().__init__(num_basis, cutoff, envelope)
        self.register_buffer("frequencies", math.pi / self.cutoff * torch.arange(1, num_basis + 1, dtype=torch.float64))

    def basis(self, d: Tensor) -> Tensor:
        w = self.frequencies.to(d.dtype)  # [K]
        norm = math.sqrt(2.0 / self.cutoff)
        positive = (d > 0).unsqueeze(-1)
        d_safe = torch.where(d > 0, d, torch.ones_like(d)).unsqueeze(-1)  # no 0/0, finite gradients
        return norm * torch.where(positive, torch.sin(w * d_safe) / d_safe, w.expand(*d.shape, -1))
