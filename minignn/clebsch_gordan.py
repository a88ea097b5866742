r"""Clebsch-Gordan coefficients of the real spherical harmonics: how two irreps couple into a third.

$$C^{l_3}_{m_1 m_2 m_3} \ \text{with} \ \sum_{m_1 m_2} C^{l_3}_{m_1 m_2 m_3}\,(D_{l_1}(R) u)_{m_1} (D_{l_2}(R) v)_{m_2}
= \Big(D_{l_3}(R) \sum_{m_1 m_2} C^{l_3}_{m_1 m_2 \cdot}\, u_{m_1} v_{m_2}\Big)_{m_3}$$

for every rotation :math:`R`: :math:`(u \otimes v)_{l_3} = C^{l_3} : (u \otimes v)` is of degree :math:`l_3`.
Equivalently :math:`(D_{l_1} \otimes D_{l_2} \otimes D_{l_3})\, C = C`, a one-dimensional space when the selection
rule :math:`|l_1 - l_2| \le l_3 \le l_1 + l_2` holds, and zero otherwise.  Parities multiply: :math:`p_3 = p_1 p_2`.

Computed in the package from the complex coefficients :math:`\langle l_1 m_1 l_2 m_2 | l_3 m_3 \rangle` (Racah's
formula, exact rational arithmetic) by the change of basis :math:`U` of :func:`minignn.irreps.change_of_basis`:

$$\tilde C = \sum \overline{U_{1}}_{a m_1} \overline{U_{2}}_{b m_2} U_{3, c m_3}
\langle l_1 m_1 l_2 m_2 | l_3 m_3 \rangle = c\, i^{\,l_1 + l_2 - l_3}\, C, \quad c > 0$$

(:math:`\tilde C` is real up to that phase), then normalised: :math:`\sum_{abc} C_{abc}^2 = 1` (e3nn's
normalisation, so :math:`\sum_{ab} C_{abc} C_{abc'} = \delta_{cc'} / (2 l_3 + 1)`).  Sign convention: the phase
:math:`i^{l_1 + l_2 - l_3}` is divided out and nothing else is changed; the result equals
``e3nn.o3.wigner_3j(l1, l2, l3)`` exactly, sign included, for every allowed triple (tested up to degree 4).  The
real bases are the same functions in both packages (e3nn's axes :math:`(x, y, z)` are our :math:`(y, z, x)`), so
no axis map enters the coefficients themselves; it enters the Wigner matrices (:mod:`minignn.irreps`).

Book: chapter spherical, section "Clebsch-Gordan coefficients".
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import torch
from torch import Tensor

from minignn.checks import check_int
from minignn.irreps import Irrep, change_of_basis

__all__ = ["complex_clebsch_gordan", "clebsch_gordan", "cached_clebsch_gordan", "selection_rule", "allowed"]


def _allowed(l1: int, l2: int, l3: int) -> bool:
    return abs(l1 - l2) <= l3 <= l1 + l2


def _f(n: int) -> int:
    return math.factorial(n)


@lru_cache(maxsize=None)
def _cg_complex(l1: int, m1: int, l2: int, m2: int, l3: int, m3: int) -> float:
    if m1 + m2 != m3 or not _allowed(l1, l2, l3) or abs(m1) > l1 or abs(m2) > l2 or abs(m3) > l3:
        return 0.0
    # Racah: prefactor^2 (rational) times a rational alternating sum
    pre = Fraction((2 * l3 + 1) * _f(l3 + l1 - l2) * _f(l3 - l1 + l2) * _f(l1 + l2 - l3), _f(l1 + l2 + l3 + 1))
    pre *= _f(l3 + m3) * _f(l3 - m3) * _f(l1 - m1) * _f(l1 + m1) * _f(l2 - m2) * _f(l2 + m2)
    total = Fraction(0)
    for k in range(0, l1 + l2 - l3 + 1):
        args = (k, l1 + l2 - l3 - k, l1 - m1 - k, l2 + m2 - k, l3 - l2 + m1 + k, l3 - l1 - m2 + k)
        if min(args) < 0:
            continue
        total += Fraction((-1) ** k, math.prod(_f(a) for a in args))
    value = total * total * pre  # exact square of the coefficient
    return math.copysign(math.sqrt(value), total)


def complex_clebsch_gordan(l1: int, l2: int, l3: int) -> Tensor:
    r"""The Condon-Shortley coefficients :math:`\langle l_1 m_1 l_2 m_2 | l_3 m_3 \rangle` as a float64 tensor
    ``[2l1+1, 2l2+1, 2l3+1]`` (index :math:`m + l`), from Racah's formula in exact rational arithmetic:

    $$\langle l_1 m_1 l_2 m_2 | l_3 m_3 \rangle = \delta_{m_3, m_1 + m_2}
    \sqrt{\frac{(2l_3+1)(l_3+l_1-l_2)!(l_3-l_1+l_2)!(l_1+l_2-l_3)!}{(l_1+l_2+l_3+1)!}}
    \sqrt{\textstyle\prod_{i} (l_i+m_i)!(l_i-m_i)!}
    \sum_k \frac{(-1)^k}{k!(l_1+l_2-l_3-k)!(l_1-m_1-k)!(l_2+m_2-k)!(l_3-l_2+m_1+k)!(l_3-l_1-m_2+k)!}$$

    Zero where the selection rule fails.  (sympy's ``CG(l1, m1, l2, m2, l3, m3)`` is the same number.)

    Book: chapter spherical, section "Clebsch-Gordan coefficients".
    """
    l1, l2, l3 = check_int(l1, "l1"), check_int(l2, "l2"), check_int(l3, "l3")
    out = torch.zeros(2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1, dtype=torch.float64)
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            if abs(m1 + m2) <= l3:
                out[m1 + l1, m2 + l2, m1 + m2 + l3] = _cg_complex(l1, m1, l2, m2, l3, m1 + m2)
    return out


@lru_cache(maxsize=None)
def _cg_real(l1: int, l2: int, l3: int) -> Tensor:
    if not _allowed(l1, l2, l3):
        return torch.zeros(2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1, dtype=torch.float64)
    U1, U2, U3 = change_of_basis(l1), change_of_basis(l2), change_of_basis(l3)
    Cc = complex_clebsch_gordan(l1, l2, l3).to(torch.complex128)
    C = torch.einsum("am,bn,ck,mnk->abc", U1.conj(), U2.conj(), U3, Cc)
    C = C * (1j) ** (-(l1 + l2 - l3))  # the phase i^(l1 + l2 - l3) removed: now real
    assert float(C.imag.abs().max()) < 1e-12, (l1, l2, l3)
    C = C.real
    return C / C.norm()


def clebsch_gordan(l1: int, l2: int, l3: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    r"""Real Clebsch-Gordan coefficients :math:`C^{l_3}_{m_1 m_2 m_3}` ``[2l1+1, 2l2+1, 2l3+1]`` (module docstring).

    $$(D_{l_1}(R) \otimes D_{l_2}(R) \otimes D_{l_3}(R))\, C = C, \qquad \sum_{abc} C_{abc}^2 = 1$$

    Zero when :math:`l_3` violates :math:`|l_1 - l_2| \le l_3 \le l_1 + l_2` (no coupling exists).  Sign convention:
    :math:`C = i^{-(l_1 + l_2 - l_3)}\, \overline{U_1} \otimes \overline{U_2} \otimes U_3 : \langle l_1 m_1 l_2 m_2 | l_3 m_3 \rangle`
    normalised, which equals ``e3nn.o3.wigner_3j(l1, l2, l3)`` exactly, for every allowed triple (tested up to
    degree 4): the same coefficients, the same sign.  In particular :math:`C^{0}_{ab0} = \delta_{ab} / \sqrt{2l+1}`
    and :math:`C^{l}_{0bc} = \delta_{bc} / \sqrt{2l+1}`.

    Args:
        l1, l2, l3: degrees (ints >= 0); dtype, device: of the result (computed in float64).

    Book: chapter spherical, section "Clebsch-Gordan coefficients".
    """
    l1, l2, l3 = check_int(l1, "l1"), check_int(l2, "l2"), check_int(l3, "l3")
    return _cg_real(l1, l2, l3).to(dtype=dtype, device=device, copy=True)


@lru_cache(maxsize=None)
def cached_clebsch_gordan(l1: int, l2: int, l3: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """:func:`clebsch_gordan` rounded once from float64 to ``dtype`` on ``device`` and shared: the layers' copy.

    Layers read the coefficients through this cache instead of keeping buffers, so that a layer built in float32 and
    converted with ``.double()`` still gets coefficients exact to float64 (a converted buffer would keep float32's
    rounding).  The tensor is shared: do not modify it.
    """
    l1, l2, l3 = check_int(l1, "l1"), check_int(l2, "l2"), check_int(l3, "l3")  # on a cache miss only
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return _cg_real(l1, l2, l3).to(dtype=dtype, device=device)


def allowed(l1: int, l2: int, l3: int) -> bool:
    r"""The selection rule :math:`|l_1 - l_2| \le l_3 \le l_1 + l_2` (symmetric in the three degrees).

    Book: chapter spherical, section "Clebsch-Gordan coefficients".
    """
    l1, l2, l3 = check_int(l1, "l1"), check_int(l2, "l2"), check_int(l3, "l3")
    return abs(l1 - l2) <= l3 <= l1 + l2


def selection_rule(ir1, ir2) -> list[Irrep]:
    r"""The irreps in :math:`(l_1, p_1) \otimes (l_2, p_2)`: :math:`(l_3, p_1 p_2)` for
    :math:`|l_1 - l_2| \le l_3 \le l_1 + l_2`.  ``selection_rule("1o", "1o") == [0e, 1e, 2e]``: the dot product
    (a scalar), the cross product (a pseudovector, even) and the traceless symmetric part.

    Book: chapter spherical, section "Clebsch-Gordan coefficients".
    """
    return Irrep(ir1) * Irrep(ir2)
