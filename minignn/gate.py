r"""Nonlinearities on irreps features: which keep equivariance and which break it.

$$\text{gate:}\quad (s, g, V) \mapsto \big(\phi(s),\ \sigma(g_u)\, V_u\big), \qquad
\text{norm:}\quad V_u \mapsto \sigma(|V_u|)\, V_u, \qquad
\text{per component:}\quad V_{u,m} \mapsto \phi(V_{u,m})$$

A rotation mixes the :math:`2l+1` components of a block :math:`V_u` of degree :math:`l > 0`, so a function applied
to each component separately does not commute with it (the slides' warning, made concrete: the error is of order
one).  What commutes with :math:`D_l(Q)` is a multiplication of the whole block by an invariant: a gate
:math:`\sigma(g_u)` computed from a separate scalar (NequIP, e3nn's ``Gate``) or a function of the block's norm
:math:`|V_u|` (e3nn's ``NormActivation``).  Scalars (:math:`l = 0`) may go through any function if even
(``0e``); an odd scalar (``0o``, a pseudoscalar) changes sign under a reflection, so it needs an odd function
(``tanh``) to keep its parity.

Book: chapter spherical, section "Nonlinearities".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minignn.irreps import Irreps

__all__ = ["Gate", "NormActivation", "componentwise_activation"]


def _scalar_act(x: Tensor, p: int) -> Tensor:
    return F.silu(x) if p == 1 else torch.tanh(x)  # odd function for pseudoscalars


class Gate(nn.Module):
    r"""Gated nonlinearity: scalars through :math:`\phi`, each other block times the sigmoid of its own gate.

    $$\big(s,\ g,\ V\big) \mapsto \big(\phi(s),\ \sigma(g_u)\, V_u\big), \qquad
    \phi = \mathrm{SiLU}\ (\texttt{0e}),\ \tanh\ (\texttt{0o})$$

    Args:
        irreps_out: the irreps of the result (e.g. ``"16x0e + 8x1o + 4x2e"``).

    The input has the irreps ``gate.irreps_in = irreps_out + "Gx0e"``: the features laid out as ``irreps_out``,
    then one even scalar gate per channel of every block with ``l > 0`` (``G`` of them, in order).

    ``forward(x [..., irreps_in.dim])`` -> ``[..., irreps_out.dim]``.  Equivariant, reflections included.

    Book: chapter spherical, section "Nonlinearities".
    """

    def __init__(self, irreps_out):
        super().__init__()
        self.irreps_out = Irreps(irreps_out)
        self.num_gates = sum(mul for mul, ir in self.irreps_out if ir.l > 0)
        self.irreps_in = self.irreps_out + Irreps(f"{self.num_gates}x0e" if self.num_gates else "")

    def forward(self, x: Tensor) -> Tensor:
        self.irreps_in.check(x, "x")
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        dim = self.irreps_out.dim
        gates = torch.sigmoid(x[..., dim:])
        out, g = [], 0
        for (mul, ir), sl in zip(self.irreps_out, self.irreps_out.slices()):
            block = x[..., sl]
            if ir.l == 0:
                out.append(_scalar_act(block, ir.p))
            else:
                v = block.reshape(block.shape[:-1] + (mul, ir.dim))
                out.append((v * gates[..., g:g + mul, None]).reshape(block.shape))
                g += mul
        return torch.cat(out, dim=-1) if out else x[..., :0]

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}"


class NormActivation(nn.Module):
    r"""Norm nonlinearity: each block scaled by a function of its own norm.

    $$V_u \mapsto \sigma\big(|V_u| + b_u\big)\, V_u \quad (l > 0), \qquad s \mapsto \phi(s) \quad (l = 0)$$

    with a learned bias :math:`b_u` per channel.  :math:`|D_l(Q) V_u| = |V_u|` (orthogonal :math:`D`), so the
    factor is invariant and the map equivariant.

    ``forward(x [..., dim])`` -> ``[..., dim]`` (same irreps).

    Book: chapter spherical, section "Nonlinearities".
    """

    def __init__(self, irreps):
        super().__init__()
        self.irreps = Irreps(irreps)
        self.bias = nn.Parameter(torch.zeros(sum(mul for mul, ir in self.irreps if ir.l > 0)))

    def forward(self, x: Tensor) -> Tensor:
        self.irreps.check(x, "x")
        out, g = [], 0
        for (mul, ir), sl in zip(self.irreps, self.irreps.slices()):
            block = x[..., sl]
            if ir.l == 0:
                out.append(_scalar_act(block, ir.p))
            else:
                v = block.reshape(block.shape[:-1] + (mul, ir.dim))
                norm = torch.sqrt((v * v).sum(-1) + 1e-12)  # finite gradient at 0
                out.append((v * torch.sigmoid(norm + self.bias[g:g + mul])[..., None]).reshape(block.shape))
                g += mul
        return torch.cat(out, dim=-1) if out else x

    def extra_repr(self) -> str:
        return str(self.irreps)


def componentwise_activation(x: Tensor, irreps, act=F.silu) -> Tensor:
    r"""The slides' warning: a nonlinearity applied to every component, :math:`V_{u,m} \mapsto \phi(V_{u,m})`.

    Harmless on even scalars; on a block of degree :math:`l > 0` it does not commute with :math:`D_l(Q)`, so a
    model that uses it is not equivariant (tests measure an error of order one, against ~1e-16 for :class:`Gate`
    and :class:`NormActivation`).  Kept only to show that.

    Args:
        x: ``[..., irreps.dim]``; irreps: its irreps; act: the function (default SiLU).

    Book: chapter spherical, section "Nonlinearities".
    """
    Irreps(irreps).check(x, "x")
    return act(x)
