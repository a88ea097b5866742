r"""Irreducible representations of O(3): features as blocks of degree l and parity p.

$$D_{l,p}(Q) = p^{\,[\det Q < 0]}\; D_l\big((\det Q)\, Q\big), \qquad
Y_l(R\, r) = D_l(R)\, Y_l(r), \qquad D_l(R) = \exp\Big(\sum_{a} \omega_a G^{(l)}_a\Big)$$

A feature of type :math:`(l, p)` is a vector of :math:`2l + 1` numbers that a rotation :math:`R` mixes by the
Wigner matrix :math:`D_l(R)` (orthogonal) and that the inversion :math:`r \mapsto -r` multiplies by its parity
:math:`p = \pm 1`.  The spherical harmonics :math:`Y_l` of :mod:`minignn.spherical` are of type
:math:`(l, (-1)^l)`: a vector (``1o``, the "o" for odd) is one, a pseudovector (``1e``) is not.

Wigner matrices, computed directly (never fitted):

* the generators :math:`G^{(l)}_a = U\, (i J^{(l)}_a)^{\top} U^\dagger` of the rotations about the axes
  :math:`a = x, y, z`, from the angular-momentum matrices :math:`J^{(l)}_a` of the complex harmonics (Condon-Shortley
  phase) and the change of basis :math:`U` of :func:`change_of_basis` (:math:`Y^{\mathbb R} = U Y^{\mathbb C}`);
* the rotation vector :math:`\omega = \theta\, n` of :math:`R` read from its unit quaternion (a stable formula,
  also near :math:`\theta = \pi`), and :math:`D_l(R) = \exp(\sum_a \omega_a G_a)` (a matrix exponential);
* a reflection :math:`Q` (:math:`\det Q = -1`) is the inversion times the rotation :math:`-Q`, and
  :math:`Y_l(-r) = (-1)^l Y_l(r)`, so :math:`D_l(Q) = (-1)^l D_l(-Q)` for the harmonics.

Ordering (the package's, see :mod:`minignn.spherical`): :math:`m = -l, \dots, l`, degree 1 is :math:`(y, z, x)`.  An
:class:`Irreps` such as ``"8x0e + 4x1o + 2x2e"`` lays out a feature vector as e3nn does: block after block, and in a
block of multiplicity ``mul`` the ``mul`` copies one after the other (``[..., mul, 2l+1]`` flattened).  e3nn's axes
:math:`(x, y, z)` are our :math:`(y, z, x)`: our :math:`D_l(R)` is e3nn's ``D_from_matrix`` of :math:`P R P^\top`,
:math:`P` the permutation :math:`(x, y, z) \mapsto (y, z, x)`, and the basis functions are the same.

Book: chapter spherical, section "Irreducible representations".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from minignn.checks import check_int, describe

__all__ = ["Irrep", "Irreps", "change_of_basis", "so3_generators", "rotation_vector", "wigner_D", "wigner_D_blocks"]


@dataclass(frozen=True, order=True)
class Irrep:
    r"""One irreducible representation :math:`(l, p)` of O(3): degree ``l >= 0``, parity ``p = +1`` ("e") or -1 ("o").

    ``Irrep("1o")`` or ``Irrep(1, -1)``; ``ir.dim == 2l + 1``; ``ir.D(Q)`` is :math:`D_{l,p}(Q)` (module docstring).
    ``ir1 * ir2`` lists the types in :math:`(l_1, p_1) \otimes (l_2, p_2)`: :math:`|l_1 - l_2| \le l \le l_1 + l_2`,
    parity :math:`p_1 p_2` (:func:`minignn.clebsch_gordan.selection_rule`).

    Book: chapter spherical, section "Irreducible representations".
    """

    l: int
    p: int

    def __init__(self, l, p: int | None = None):
        if isinstance(l, Irrep) and p is None:
            l, p = l.l, l.p
        elif isinstance(l, str) and p is None:
            match = re.fullmatch(r"\s*(\d+)([eo])\s*", l)
            if not match:
                raise ValueError(f"an irrep is written like '0e' or '1o' (degree, then e or o), got {l!r}")
            l, p = int(match.group(1)), 1 if match.group(2) == "e" else -1
        l = check_int(l, "l")
        if p not in (1, -1) or isinstance(p, bool):
            raise ValueError(f"parity p must be +1 (even) or -1 (odd), got {describe(p)}")
        object.__setattr__(self, "l", l)
        object.__setattr__(self, "p", int(p))

    @property
    def dim(self) -> int:
        return 2 * self.l + 1

    def __str__(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"

    __repr__ = __str__

    def __mul__(self, other: "Irrep") -> list["Irrep"]:
        other = Irrep(other)
        return [Irrep(l, self.p * other.p) for l in range(abs(self.l - other.l), self.l + other.l + 1)]

    def D(self, Q: Tensor) -> Tensor:
        """:math:`D_{l,p}(Q)` of an orthogonal ``Q [..., 3, 3]``: ``[..., 2l+1, 2l+1]``."""
        Q = _check_orthogonal(Q)
        det = torch.linalg.det(Q)
        sign = torch.where(det < 0, -torch.ones_like(det), torch.ones_like(det))  # det Q
        D = _rotation_D(self.l, Q * sign[..., None, None])
        factor = torch.where(det < 0, torch.full_like(det, float(self.p)), torch.ones_like(det))
        return D * factor[..., None, None]


class Irreps(tuple):
    r"""A direct sum of irreps with multiplicities, written as e3nn writes it: ``Irreps("8x0e + 4x1o + 2x2e")``.

    A tuple of ``(mul, Irrep)``.  A feature vector of these irreps has ``dim = sum mul (2l+1)`` columns, block after
    block; in a block the ``mul`` copies follow each other (view it as ``[..., mul, 2l+1]``).  ``slices()`` gives
    the columns of each block, ``D(Q)`` the block-diagonal :math:`\bigoplus \mathrm{mul} \times D_{l,p}(Q)`.

    Book: chapter spherical, section "Irreducible representations".
    """

    def __new__(cls, irreps=()):
        if isinstance(irreps, Irreps):
            return super().__new__(cls, irreps)
        if isinstance(irreps, Irrep):
            irreps = [(1, irreps)]
        if isinstance(irreps, str):
            items = []
            for term in filter(None, (t.strip() for t in irreps.split("+"))):
                match = re.fullmatch(r"(?:(\d+)\s*x\s*)?(\d+[eo])", term)
                if not match:
                    raise ValueError(f"irreps are written like '8x0e + 4x1o'; cannot read the term {term!r} "
                                     f"of {irreps!r}")
                items.append((int(match.group(1) or 1), Irrep(match.group(2))))
            irreps = items
        out = []
        for item in irreps:
            if isinstance(item, (Irrep, str)):
                item = (1, item)
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ValueError(f"irreps must be a string like '8x0e + 4x1o' or (mul, irrep) pairs, got {item!r}")
            out.append((check_int(item[0], "multiplicity"), Irrep(item[1])))
        return super().__new__(cls, out)

    @property
    def dim(self) -> int:
        return sum(mul * ir.dim for mul, ir in self)

    @property
    def num_irreps(self) -> int:
        return sum(mul for mul, _ in self)

    @property
    def lmax(self) -> int:
        return max((ir.l for _, ir in self), default=0)

    def slices(self) -> list[slice]:
        """The columns of each block, in order."""
        out, start = [], 0
        for mul, ir in self:
            out.append(slice(start, start + mul * ir.dim))
            start += mul * ir.dim
        return out

    def D(self, Q: Tensor) -> Tensor:
        """Block-diagonal :math:`D(Q)` ``[..., dim, dim]`` of an orthogonal ``Q [..., 3, 3]`` (each block ``mul`` times)."""
        Q = _check_orthogonal(Q)
        blocks = [ir.D(Q) for mul, ir in self for _ in range(mul)]
        if not blocks:
            return Q.new_zeros(Q.shape[:-2] + (0, 0))
        if Q.dim() == 2:
            return torch.block_diag(*blocks)
        out = Q.new_zeros(Q.shape[:-2] + (self.dim, self.dim))
        start = 0
        for b in blocks:
            out[..., start:start + b.shape[-1], start:start + b.shape[-1]] = b
            start += b.shape[-1]
        return out

    def check(self, x, name: str = "x") -> None:
        """``x`` must be a floating tensor ``[..., dim]``; a ValueError names ``name`` otherwise."""
        if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[-1] != self.dim or not x.is_floating_point():
            raise ValueError(f"{name} must be a floating tensor of shape [..., {self.dim}] (irreps {self}), "
                             f"got {describe(x)}")

    def __add__(self, other) -> "Irreps":
        return Irreps(tuple(self) + tuple(Irreps(other)))

    def __str__(self) -> str:
        return " + ".join(f"{mul}x{ir}" for mul, ir in self)

    def __repr__(self) -> str:
        return f"Irreps({str(self)!r})"

    @staticmethod
    def spherical_harmonics(l_max: int) -> "Irreps":
        """The irreps of :func:`minignn.spherical.spherical_harmonics`: ``1x0e + 1x1o + 1x2e + ...``."""
        l_max = check_int(l_max, "l_max")
        return Irreps([(1, Irrep(l, (-1) ** l)) for l in range(l_max + 1)])


def _check_orthogonal(Q) -> Tensor:
    if not isinstance(Q, Tensor) or Q.dim() < 2 or Q.shape[-2:] != (3, 3) or not Q.is_floating_point():
        raise ValueError(f"Q must be a floating tensor of shape [..., 3, 3], got {describe(Q)}")
    if not bool(torch.isfinite(Q).all()):
        raise ValueError("Q must be finite, got NaN or inf")
    eye = torch.eye(3, dtype=Q.dtype, device=Q.device)
    err = float((Q @ Q.transpose(-1, -2) - eye).abs().max()) if Q.numel() else 0.0
    tol = 1e-6 if Q.dtype == torch.float64 else 1e-3
    if err > tol:
        raise ValueError(f"Q must be orthogonal (Q Q^T = I), got max |Q Q^T - I| = {err:.1e}")
    return Q


@lru_cache(maxsize=None)
def _change_of_basis(l: int) -> Tensor:
    U = torch.zeros(2 * l + 1, 2 * l + 1, dtype=torch.complex128)
    s = 1 / math.sqrt(2)
    U[l, l] = 1
    for k in range(1, l + 1):
        # Y_{l,k} = ((-1)^k Y^k + Y^{-k}) / sqrt 2,   Y_{l,-k} = i (Y^{-k} - (-1)^k Y^k) / sqrt 2
        U[l + k, l + k], U[l + k, l - k] = (-1) ** k * s, s
        U[l - k, l + k], U[l - k, l - k] = -1j * (-1) ** k * s, 1j * s
    return U


def change_of_basis(l: int) -> Tensor:
    r"""The unitary :math:`U` with :math:`Y^{\mathbb R}_l = U\, Y^{\mathbb C}_l`: complex128 ``[2l+1, 2l+1]``.

    $$Y_{l,k} = \tfrac{1}{\sqrt 2}\big((-1)^k Y_l^{k} + Y_l^{-k}\big), \qquad
    Y_{l,-k} = \tfrac{i}{\sqrt 2}\big(Y_l^{-k} - (-1)^k Y_l^{k}\big), \qquad Y_{l,0} = Y_l^0 \quad (k > 0)$$

    with :math:`Y_l^m` the complex harmonics with the Condon-Shortley phase (scipy's) and :math:`Y_{l,m}` the real
    ones of :mod:`minignn.spherical`; rows real :math:`m`, columns complex :math:`m`, both :math:`-l, \dots, l`.

    Book: chapter spherical, section "Irreducible representations".
    """
    return _change_of_basis(check_int(l, "l")).clone()


@lru_cache(maxsize=None)
def _generators(l: int) -> Tensor:
    m = torch.arange(-l, l + 1, dtype=torch.float64)
    # J_+ |m> = sqrt(l(l+1) - m(m+1)) |m+1>: matrix element [m+1, m]
    Jp = torch.diag(torch.sqrt(l * (l + 1) - m[:-1] * (m[:-1] + 1)), -1).to(torch.complex128)
    Jm = Jp.T.conj()
    J = torch.stack([(Jp + Jm) / 2, (Jp - Jm) / 2j, torch.diag(m).to(torch.complex128)])  # J_x, J_y, J_z
    U = _change_of_basis(l)
    G = U @ (1j * J.transpose(-1, -2)) @ U.conj().T  # d/dt Y(exp(t K_a) r) = G_a Y(r)
    assert float(G.imag.abs().max()) < 1e-12
    return G.real.contiguous()


def so3_generators(l: int) -> Tensor:
    r"""The generators :math:`G_x, G_y, G_z` of the rotations on the real harmonics of degree ``l``: ``[3, 2l+1, 2l+1]``.

    $$\frac{d}{dt} Y_l\big(e^{t K_a} r\big)\Big|_{t=0} = G_a\, Y_l(r), \qquad (K_a)_{bc} = -\varepsilon_{abc}$$

    (:math:`e^{t K_z}` turns by :math:`t` about z).  :math:`G_a = U (i J_a)^\top U^\dagger` with :math:`J_a` the
    angular-momentum matrices and :math:`U` = :func:`change_of_basis`; real and antisymmetric.  For ``l = 1``
    they are :math:`P K_a P^\top` (degree 1 is :math:`(y, z, x)`).

    Book: chapter spherical, section "Irreducible representations".
    """
    return _generators(check_int(l, "l")).clone()


def rotation_vector(R: Tensor) -> Tensor:
    r"""The rotation vector :math:`\omega = \theta n` of rotations ``R [..., 3, 3]``: :math:`R = \exp(\sum_a \omega_a K_a)`.

    Read from the unit quaternion :math:`(w, v)` of :math:`R` (Shepperd's choice of the largest of
    :math:`w^2, v_x^2, v_y^2, v_z^2`, stable for every angle), with :math:`w \ge 0`:
    :math:`\omega = 2 \operatorname{atan2}(|v|, w)\, v / |v|` (and :math:`2v` as :math:`v \to 0`).  Returns ``[..., 3]``.

    Book: chapter spherical, section "Irreducible representations".
    """
    R = _check_orthogonal(R)
    r = R.reshape(-1, 3, 3)
    t = r[:, 0, 0] + r[:, 1, 1] + r[:, 2, 2]
    cand = torch.stack([1 + t, 1 + 2 * r[:, 0, 0] - t, 1 + 2 * r[:, 1, 1] - t, 1 + 2 * r[:, 2, 2] - t], -1)  # 4 q_k^2
    k = cand.argmax(-1)
    big = cand.gather(-1, k[:, None]).squeeze(-1).clamp(min=0).sqrt()  # 2 |q_k|
    # 4 q_k q = the row k of this symmetric table
    w_ = torch.stack([cand[:, 0], r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]], -1)
    x_ = torch.stack([r[:, 2, 1] - r[:, 1, 2], cand[:, 1], r[:, 0, 1] + r[:, 1, 0], r[:, 0, 2] + r[:, 2, 0]], -1)
    y_ = torch.stack([r[:, 0, 2] - r[:, 2, 0], r[:, 0, 1] + r[:, 1, 0], cand[:, 2], r[:, 1, 2] + r[:, 2, 1]], -1)
    z_ = torch.stack([r[:, 1, 0] - r[:, 0, 1], r[:, 0, 2] + r[:, 2, 0], r[:, 1, 2] + r[:, 2, 1], cand[:, 3]], -1)
    table = torch.stack([w_, x_, y_, z_], 1)  # [B, 4, 4]
    q = table.gather(1, k[:, None, None].expand(-1, 1, 4)).squeeze(1) / (2 * big[:, None])  # (w, x, y, z)
    q = q * torch.where(q[:, :1] < 0, -1.0, 1.0).to(q)  # w >= 0: the angle in [0, pi]
    q = q / q.norm(dim=-1, keepdim=True)
    w, v = q[:, 0], q[:, 1:]
    s = v.norm(dim=-1)
    scale = torch.where(s > 1e-12, 2 * torch.atan2(s, w) / torch.where(s > 1e-12, s, torch.ones_like(s)), 2 / w)
    return (v * scale[:, None]).reshape(R.shape[:-2] + (3,))


def _rotation_D(l: int, R: Tensor) -> Tensor:
    omega = rotation_vector(R)
    G = _generators(l).to(R)
    return torch.linalg.matrix_exp(torch.einsum("...a,aij->...ij", omega, G))


def wigner_D(l: int, Q: Tensor) -> Tensor:
    r"""The Wigner matrix of the real harmonics: :math:`Y_l(Q r) = D_l(Q)\, Y_l(r)` for every orthogonal :math:`Q`.

    $$D_l(R) = \exp\Big(\sum_a \omega_a G^{(l)}_a\Big) \ (\det R = 1), \qquad D_l(Q) = (-1)^l D_l(-Q)\ (\det Q = -1)$$

    with :math:`\omega` = :func:`rotation_vector` and :math:`G` = :func:`so3_generators`: computed directly, exact
    to rounding (unlike :func:`minignn.spherical.estimate_wigner_D`, a least-squares fit on sample points).

    Args:
        l: degree (int >= 0).
        Q: ``[..., 3, 3]`` orthogonal (acting on column vectors, ``pos @ Q.T`` on rows).

    Returns:
        ``[..., 2l+1, 2l+1]`` orthogonal, in the dtype of ``Q``.

    Book: chapter spherical, section "Irreducible representations".
    """
    l = check_int(l, "l")
    return Irrep(l, (-1) ** l).D(Q)


def wigner_D_blocks(l_max: int, Q: Tensor) -> Tensor:
    r"""Block-diagonal :math:`\operatorname{diag}(D_0(Q), \dots, D_{l_{\max}}(Q))` acting on all ``(l_max+1)^2``
    harmonics: an output kind for :func:`minignn.testing.check_euclidean` (``outputs=(lambda Q: wigner_D_blocks(2, Q),)``).

    Book: chapter spherical, section "Irreducible representations".
    """
    return Irreps.spherical_harmonics(l_max).D(Q)
