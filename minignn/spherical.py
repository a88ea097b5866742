"""Real spherical harmonics Y_lm, as polynomials of Cartesian coordinates.

Conventions (stated once here, repeated in the Conventions chapter):

* Axes: z is the polar axis, as in physics and on Wikipedia's table of real
  spherical harmonics; the m = 0 harmonic of degree l depends on z only.
* Ordering: degree-major, m = -l, ..., +l within each degree, so Y_lm sits at
  index ``lm_index(l, m) = l^2 + l + m`` and degree l fills ``degree_slice(l)``.
  Degree 1 is therefore ordered (y, z, x).
* Real harmonics without extra sign factors (Wikipedia's table), for m > 0

      r^l Y_lm  = N_lm sqrt(2) Q_l^m(z, r^2) Re (x + i y)^m
      r^l Y_l-m = N_lm sqrt(2) Q_l^m(z, r^2) Im (x + i y)^m        r^l Y_l0 = N_l0 Q_l^0(z, r^2)

  with N_lm = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!) and Q_l^m the polynomial
  r^(l-m) P_l^m(z/r) / sin(theta)^m (P_l^m the associated Legendre function,
  no Condon-Shortley phase), from Q_m^m = (2m-1)!!, Q_(m+1)^m = (2m+1) z Q_m^m,
  (l-m) Q_l^m = (2l-1) z Q_(l-1)^m - (l+m-1) r^2 Q_(l-2)^m.
* Normalisation (default ``"integral"``): orthonormal on the unit sphere,
  integral of Y_lm Y_l'm' dOmega = delta_ll' delta_mm'.  ``"component"`` multiplies
  by sqrt(4 pi) (sum_m Y_lm^2 = 2l+1 on the sphere), ``"norm"`` by sqrt(4 pi/(2l+1))
  (sum_m Y_lm^2 = 1), the same names as e3nn.
* e3nn: ``e3nn.o3.spherical_harmonics(l, v[..., [1, 2, 0]], normalize, normalization)``
  equals ours of ``v``: e3nn's axes (x, y, z) are our (y, z, x), so its y axis is
  our polar z axis (tested in tests/test_spherical.py).

A rotation R mixes the 2l+1 harmonics of degree l among themselves:
Y_l(R r) = D_l(R) Y_l(r) with D_l(R) orthogonal (``estimate_wigner_D``).  Keeping a
single m (a privileged axis) breaks that symmetry; ``privileged_component`` shows it.

Book: chapter equivariance, section "Spherical harmonics".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from minignn.checks import check_int

__all__ = [
    "NORMALIZATIONS",
    "num_harmonics",
    "lm_index",
    "degree_slice",
    "spherical_harmonics",
    "estimate_wigner_D",
    "estimate_wigner_D_blocks",
    "multipole_moments",
    "power_spectrum",
    "privileged_component",
]

NORMALIZATIONS = ("integral", "component", "norm")


def num_harmonics(l_max: int) -> int:
    """Number of Y_lm with l <= l_max: (l_max + 1)^2."""
    return (_check_l(l_max) + 1) ** 2


def lm_index(l: int, m: int) -> int:
    """Position of Y_lm in the output of ``spherical_harmonics``: l^2 + l + m."""
    l, m = check_int(l, "l", minimum=None), check_int(m, "m", minimum=None)
    if not (l >= 0 and -l <= m <= l):
        raise ValueError(f"need l >= 0 and -l <= m <= l, got l={l}, m={m}")
    return l * l + l + m


def degree_slice(l: int) -> slice:
    """The 2l+1 columns of degree l: ``slice(l^2, (l+1)^2)``."""
    l = check_int(l, "l")
    return slice(l * l, (l + 1) ** 2)


def _check_l(l_max, name: str = "l_max") -> int:
    return check_int(l_max, name)


def spherical_harmonics(
    l_max: int, vectors: Tensor, normalize: bool = True, normalization: str = "integral"
) -> Tensor:
    """Real spherical harmonics Y_lm(r / |r|) for l = 0..l_max, m = -l..l (see module docstring).

    With ``normalize=False`` the solid harmonics r^l Y_lm(r / |r|) are returned instead:
    homogeneous polynomials of degree l in (x, y, z) with zero Laplacian.  With
    ``normalize=True`` the zero vector gives Y_00 and zeros (finite gradients everywhere).

    Args:
        l_max: largest degree (any int >= 0; accurate to ~1e-13 in float64 up to l_max ~ 15).
        vectors: ``[..., 3]`` Cartesian vectors (x, y, z), floating point.
        normalize: evaluate on the unit sphere (True) or return solid harmonics (False).
        normalization: "integral" (orthonormal on the sphere), "component" or "norm".

    Returns:
        ``[..., (l_max+1)^2]``, column ``lm_index(l, m)`` holds Y_lm.

    Book: chapter equivariance, section "Spherical harmonics".
    """
    l_max = _check_l(l_max)
    if not isinstance(vectors, Tensor) or vectors.shape[-1:] != (3,):
        raise ValueError(f"vectors must be a Tensor of shape [..., 3], got {getattr(vectors, 'shape', vectors)}")
    if not vectors.is_floating_point():
        raise ValueError(f"vectors must be floating point, got {vectors.dtype}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if normalize:
        r2 = (vectors * vectors).sum(-1, keepdim=True)
        vectors = vectors / torch.where(r2 > 0, r2, torch.ones_like(r2)).sqrt()  # 0 stays 0, no NaN
    x, y, z = vectors.unbind(-1)
    r2 = x * x + y * y + z * z

    # A_m + i B_m = (x + i y)^m, homogeneous of degree m.
    A, B = [torch.ones_like(x)], [torch.zeros_like(x)]
    for m in range(1, l_max + 1):
        a, b = A[-1], B[-1]
        A.append(x * a - y * b)
        B.append(x * b + y * a)

    # Q[l][m] = Q_l^m(z, r^2), homogeneous of degree l - m (recurrence in l at fixed m).
    Q = [[None] * (l_max + 1) for _ in range(l_max + 1)]
    for m in range(l_max + 1):
        Q[m][m] = torch.full_like(x, float(math.prod(range(1, 2 * m, 2))))  # (2m-1)!!
        if m + 1 <= l_max:
            Q[m + 1][m] = (2 * m + 1) * z * Q[m][m]
        for l in range(m + 2, l_max + 1):
            Q[l][m] = ((2 * l - 1) * z * Q[l - 1][m] - (l + m - 1) * r2 * Q[l - 2][m]) / (l - m)

    columns = []
    for l in range(l_max + 1):
        scale = {"integral": 1.0, "component": math.sqrt(4 * math.pi),
                 "norm": math.sqrt(4 * math.pi / (2 * l + 1))}[normalization]
        for m in range(-l, l + 1):
            k = abs(m)
            N = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - k) / math.factorial(l + k))
            if m == 0:
                columns.append(scale * N * Q[l][0])
            else:
                columns.append(scale * N * math.sqrt(2) * Q[l][k] * (A[k] if m > 0 else B[k]))
    return torch.stack(columns, dim=-1)


def _fibonacci_sphere(n: int, dtype: torch.dtype) -> Tensor:
    """n deterministic, well spread unit vectors (golden-angle spiral): [n, 3]."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * k / n
    phi = math.pi * (3 - math.sqrt(5)) * k
    s = (1 - z * z).sqrt()
    return torch.stack([s * phi.cos(), s * phi.sin(), z], dim=-1).to(dtype)


def estimate_wigner_D(l: int, R: Tensor, num_samples: int | None = None) -> Tensor:
    """The matrix D_l(R) with Y_l(R r) = D_l(R) Y_l(r), found by least squares.

    Stack Y_l at sample points r_s ([S, 2l+1]) and at the rotated points R r_s, then
    solve  Y_l(R r_s) = D_l(R) Y_l(r_s)  for D_l in the least-squares sense.  For
    an orthogonal R (rotation or reflection) D_l(R) is orthogonal, D_l(R1 R2) =
    D_l(R1) D_l(R2), and the residual is zero up to rounding.

    Args:
        l: degree (int >= 0).
        R: ``[3, 3]`` orthogonal matrix acting on column vectors (``pos @ R.T`` on rows).
        num_samples: number of sample points (default 4 (2l+1) + 16, deterministic).

    Returns:
        ``[2l+1, 2l+1]`` in the dtype of ``R``.

    Book: chapter equivariance, section "Spherical harmonics".
    """
    l = _check_l(l, "l")
    if not isinstance(R, Tensor) or R.shape != (3, 3) or not R.is_floating_point() or not bool(torch.isfinite(R).all()):
        raise ValueError(f"R must be a [3, 3] finite floating-point Tensor, got {getattr(R, 'shape', R)}")
    n = 4 * (2 * l + 1) + 16 if num_samples is None else check_int(num_samples, "num_samples")
    if n < 2 * l + 1:
        raise ValueError(f"num_samples must be >= 2l+1 = {2 * l + 1}, got {n}")
    r = _fibonacci_sphere(n, R.dtype).to(R.device)
    Y = spherical_harmonics(l, r)[:, degree_slice(l)]  # [S, 2l+1]
    Y_rot = spherical_harmonics(l, r @ R.T)[:, degree_slice(l)]  # rows: Y_l(R r_s)^T = Y_l(r_s)^T D^T
    return torch.linalg.lstsq(Y, Y_rot).solution.T


def estimate_wigner_D_blocks(l_max: int, R: Tensor) -> Tensor:
    """Block-diagonal D(R) = diag(D_0(R), ..., D_lmax(R)) acting on all (l_max+1)^2 harmonics.

    Handy as an output kind of ``minignn.testing.check_euclidean``; a function of positions
    alone is checked with ``x=None`` and called as ``f(pos)``::

        check_euclidean(lambda pos: spherical_harmonics(l_max, pos - pos.mean(0)), None, pos,
                        outputs=(lambda Q: estimate_wigner_D_blocks(l_max, Q),))

    Returns:
        ``[(l_max+1)^2, (l_max+1)^2]``.
    """
    l_max = _check_l(l_max)
    return torch.block_diag(*[estimate_wigner_D(l, R) for l in range(l_max + 1)])


def multipole_moments(pos: Tensor, l_max: int, weights: Tensor | None = None) -> Tensor:
    """Multipole moments of a point cloud about its centroid:

        A_lm = sum_i w_i |r_i - c|^l Y_lm(r_i - c),     c = (1/N) sum_i r_i

    (solid harmonics, so atoms at the centroid are fine).  Under r -> Q r + t the
    vector A_l = (A_l,-l .. A_l,l) becomes D_l(Q) A_l: equivariant, not invariant.

    Args:
        pos: ``[..., num_nodes, 3]``.
        l_max: largest degree.
        weights: ``[..., num_nodes]`` (e.g. charges) or None for w_i = 1.

    Returns:
        ``[..., (l_max+1)^2]``.

    Book: chapter equivariance, section "Spherical harmonics".
    """
    if not isinstance(pos, Tensor) or pos.dim() < 2 or pos.shape[-1] != 3 or not pos.is_floating_point():
        got = f"{pos.dtype} {tuple(pos.shape)}" if isinstance(pos, Tensor) else type(pos).__name__
        raise ValueError(f"pos must be a floating tensor of shape [..., num_nodes, 3], got {got}")
    Y = spherical_harmonics(l_max, pos - pos.mean(dim=-2, keepdim=True), normalize=False)
    if weights is not None:
        if not isinstance(weights, Tensor) or weights.shape != pos.shape[:-1]:
            raise ValueError(f"weights must have shape {tuple(pos.shape[:-1])}, got "
                             f"{tuple(getattr(weights, 'shape', ())) if isinstance(weights, Tensor) else type(weights).__name__}")
        Y = Y * weights.unsqueeze(-1)
    return Y.sum(dim=-2)


def power_spectrum(coefficients: Tensor, l_max: int) -> Tensor:
    """Rotation-invariant energy per degree: P_l = sum_{m=-l..l} A_lm^2.

    Invariant under rotations and reflections because D_l(Q) is orthogonal.

    Args:
        coefficients: ``[..., (l_max+1)^2]`` (e.g. ``multipole_moments``).
        l_max: largest degree.

    Returns:
        ``[..., l_max+1]``.

    Book: chapter equivariance, section "Spherical harmonics".
    """
    l_max = _check_l(l_max)
    if not isinstance(coefficients, Tensor) or coefficients.dim() == 0 or coefficients.shape[-1] != num_harmonics(l_max):
        got = coefficients.shape[-1] if isinstance(coefficients, Tensor) and coefficients.dim() else type(coefficients).__name__
        raise ValueError(
            f"coefficients must have (l_max+1)^2 = {num_harmonics(l_max)} columns, got {got}"
        )
    return torch.stack([coefficients[..., degree_slice(l)].pow(2).sum(-1) for l in range(l_max + 1)], dim=-1)


def privileged_component(pos: Tensor, l: int = 2, m: int = 0) -> Tensor:
    """The slides' warning made concrete: one quantum number m of the moments, A_lm.

    A "model" that keeps only A_l0 (the z axis is privileged) is invariant under
    rotations about z but not under general rotations: ``check_euclidean(privileged_component,
    None, pos)`` (which calls ``privileged_component(pos)``) reports an O(1) rotation error,
    whereas ``power_spectrum`` (all m together) is invariant to machine precision.

    Args:
        pos: ``[..., num_nodes, 3]``.
        l, m: the single harmonic kept (default: the zz quadrupole, l = 2, m = 0).

    Returns:
        ``[...]``, the scalar A_lm.

    Book: chapter equivariance, section "Spherical harmonics".
    """
    return multipole_moments(pos, l)[..., lm_index(l, m)]
