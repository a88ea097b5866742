r"""Tensor products of irreps with learned path weights, and the equivariant linear layer.

$$z^{(l_3)}_{w} = \sum_{\text{paths}\ (l_1, l_2) \to l_3} \alpha_{\text{path}} \sum_{u, v} W^{\text{path}}_{uvw}
\sum_{m_1 m_2} \sqrt{2 l_3 + 1}\; C^{l_3}_{m_1 m_2 \cdot}\; x^{(l_1)}_{u, m_1}\, y^{(l_2)}_{v, m_2}$$

Every path couples a block of ``x`` (degree :math:`l_1`, parity :math:`p_1`, channels :math:`u`) with a block of
``y`` into an output block :math:`(l_3, p_1 p_2)` allowed by the selection rule
(:func:`minignn.clebsch_gordan.selection_rule`), through the real Clebsch-Gordan coefficients :math:`C`.  Each
term is equivariant (:math:`C` intertwines :math:`D_{l_1} \otimes D_{l_2}` with :math:`D_{l_3}`), so any learned
weights :math:`W` keep the layer equivariant, reflections included (parities multiply).

Two ways to connect the channels, named as in e3nn:

* ``"uvw"`` (fully connected): :math:`W^{\text{path}}` of shape ``[mul1, mul2, mul_out]``;
* ``"uvu"`` (channel-wise, NequIP's convolution): the output keeps the channels of ``x``,
  :math:`z_{u} = \sum_v W_{uv}\, (x_u \otimes y_v)`, :math:`W` of shape ``[mul1, mul2]``.

Normalisation (e3nn's defaults ``irrep_normalization="component"``, ``path_normalization="element"``): the
coefficients are :math:`\sqrt{2l_3+1}\, C` and :math:`\alpha_{\text{path}} = 1 / \sqrt{\sum_{\text{paths into the same
output block}} n}`, :math:`n` = ``mul1 * mul2`` ("uvw") or ``mul2`` ("uvu"), so unit-variance inputs and weights give
unit-variance outputs.  With the same weights the layer equals ``e3nn.o3.FullyConnectedTensorProduct`` and
``e3nn.o3.TensorProduct`` (tested); e3nn is the oracle, never a dependency.

The weights are shared (a parameter of the layer) or given per row (``shared_weights=False``: ``forward(x, y,
weight)`` with ``weight [..., weight_numel]``, e.g. computed from an edge length by a radial MLP).

Book: chapter spherical, section "Tensor products".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from minignn.checks import check_bool, describe
from minignn.clebsch_gordan import cached_clebsch_gordan
from minignn.irreps import Irreps

__all__ = ["TensorProduct", "channelwise_paths", "Linear"]

MODES = ("uvw", "uvu")


class TensorProduct(nn.Module):
    r"""Tensor product :math:`x \otimes y \to z` of two irreps features with learned path weights (module docstring).

    $$z^{(l_3)}_w = \sum_{\text{paths}} \alpha \sum_{uv} W_{uvw}\,
    \sqrt{2l_3+1}\, C^{l_3} : (x^{(l_1)}_u \otimes y^{(l_2)}_v)$$

    Args:
        irreps_in1, irreps_in2, irreps_out: :class:`~minignn.irreps.Irreps` (or strings like ``"4x0e + 2x1o"``).
        mode: ``"uvw"`` (fully connected) or ``"uvu"`` (channel-wise: each output block used by a path must have
            the multiplicity of its ``x`` block).
        shared_weights: True: the weights are a parameter; False: ``forward`` takes ``weight [..., weight_numel]``.
        paths: ``(i1, i2, i_out)`` block indices; default every ``(i1, i2, i_out)`` with ``irreps_out[i_out]`` in
            ``irreps_in1[i1] * irreps_in2[i2]`` (for ``"uvu"``: and of the multiplicity of ``irreps_in1[i1]``), in
            that nested order (e3nn's ``FullyConnectedTensorProduct``).  :func:`channelwise_paths` builds NequIP's.

    The weights of each path are flattened one after the other, in the order of ``paths``.  An output block no
    path reaches is zero.

    ``forward(x [..., dim1], y [..., dim2], weight=None)`` -> ``[..., dim_out]``.

    Book: chapter spherical, section "Tensor products".
    """

    def __init__(self, irreps_in1, irreps_in2, irreps_out, mode: str = "uvw", shared_weights: bool = True,
                 paths: list | None = None):
        super().__init__()
        self.irreps_in1, self.irreps_in2, self.irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode, self.shared_weights = mode, check_bool(shared_weights, "shared_weights")
        if paths is None:  # every allowed path ("uvu": those whose output keeps the multiplicity of x)
            paths = [(i1, i2, io) for i1, (mul1, ir1) in enumerate(self.irreps_in1)
                     for i2, (_, ir2) in enumerate(self.irreps_in2)
                     for io, (mulo, iro) in enumerate(self.irreps_out)
                     if iro in ir1 * ir2 and (mode == "uvw" or mulo == mul1)]
        checked = []
        for path in paths:
            if not (isinstance(path, (tuple, list)) and len(path) == 3 and all(isinstance(i, int) for i in path)
                    and 0 <= path[0] < len(self.irreps_in1) and 0 <= path[1] < len(self.irreps_in2)
                    and 0 <= path[2] < len(self.irreps_out)):
                raise ValueError(f"paths must be (i1, i2, i_out) block indices of irreps_in1, irreps_in2 and "
                                 f"irreps_out, got {path!r}")
            i1, i2, io = path
            (mul1, ir1), (mul2, ir2), (mulo, iro) = self.irreps_in1[i1], self.irreps_in2[i2], self.irreps_out[io]
            if iro not in ir1 * ir2:
                raise ValueError(f"path {tuple(path)}: {iro} is not in {ir1} x {ir2} = {ir1 * ir2} (selection rule)")
            if mode == "uvu" and mulo != mul1:
                raise ValueError(f"mode 'uvu' keeps the channels of x: output block {io} ({mulo}x{iro}) "
                                 f"must have the multiplicity of x's block {i1} ({mul1}x{ir1})")
            checked.append((i1, i2, io, (mul1, mul2, mulo) if mode == "uvw" else (mul1, mul2)))
        paths = checked
        fan = {}
        for i1, i2, io, shape in paths:
            fan[io] = fan.get(io, 0) + (shape[0] * shape[1] if mode == "uvw" else shape[1])
        self.paths = [(i1, i2, io, shape, 1 / math.sqrt(fan[io]) if fan[io] else 0.0)
                      for i1, i2, io, shape in paths]
        self.weight_numel = sum(math.prod(shape) for *_, shape, _ in self.paths)
        if self.shared_weights:
            self.weight = nn.Parameter(torch.randn(self.weight_numel))
        else:
            self.register_parameter("weight", None)

    def _cg(self, i1: int, i2: int, io: int, like: Tensor) -> Tensor:
        l1, l2, l3 = self.irreps_in1[i1][1].l, self.irreps_in2[i2][1].l, self.irreps_out[io][1].l
        return cached_clebsch_gordan(l1, l2, l3, like.dtype, like.device)  # float64-exact, cached per dtype

    def forward(self, x: Tensor, y: Tensor, weight: Tensor | None = None) -> Tensor:
        self.irreps_in1.check(x, "x")
        self.irreps_in2.check(y, "y")
        if x.shape[:-1] != y.shape[:-1]:
            raise ValueError(f"x and y must have the same leading shape, got {list(x.shape)} and {list(y.shape)}")
        if self.shared_weights and weight is not None:
            raise ValueError("this TensorProduct has its own weights (shared_weights=True); build it with "
                             "shared_weights=False to pass weight")
        expected = x.shape[:-1] + (self.weight_numel,)
        if not self.shared_weights and (not isinstance(weight, Tensor) or weight.shape != expected):
            raise ValueError(f"weight must have shape {list(x.shape[:-1]) + [self.weight_numel]} (one row of "
                             f"weight_numel = {self.weight_numel} per row of x), got {describe(weight)}")
        return self._forward(x, y, weight)

    def _forward(self, x: Tensor, y: Tensor, weight: Tensor | None) -> Tensor:
        lead = x.shape[:-1]
        x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
        n = x.shape[0]
        w = self.weight if self.shared_weights else weight.reshape(n, self.weight_numel)
        so = self.irreps_out.slices()
        xs = x.split([mul * ir.dim for mul, ir in self.irreps_in1], dim=-1)  # one split: one gradient copy back
        ys = y.split([mul * ir.dim for mul, ir in self.irreps_in2], dim=-1)
        blocks: list[Tensor | None] = [None] * len(self.irreps_out)
        start = 0
        for i1, i2, io, shape, alpha in self.paths:
            (mul1, ir1), (mul2, ir2) = self.irreps_in1[i1], self.irreps_in2[i2]
            size = math.prod(shape)
            W = (w[start:start + size] if self.shared_weights else w[:, start:start + size]) * alpha
            start += size
            x1 = xs[i1].reshape(n, mul1, ir1.dim)  # [n, u, i]
            x2 = ys[i2].reshape(n, mul2, ir2.dim)  # [n, v, j]
            C = self._cg(i1, i2, io, x) * math.sqrt(self.irreps_out[io][1].dim)  # [i, j, k]
            W = W.reshape(shape) if self.shared_weights else W.reshape((n,) + shape)
            w_idx = ("" if self.shared_weights else "n") + ("uvw" if self.mode == "uvw" else "uv")
            out_idx = "nwk" if self.mode == "uvw" else "nuk"
            # one contraction; torch picks its order (opt_einsum), never forming [n, u, v, i, j]
            out = torch.einsum(f"nui,nvj,ijk,{w_idx}->{out_idx}", x1, x2, C, W)
            blocks[io] = out if blocks[io] is None else blocks[io] + out
        out = _assemble(blocks, so, x)
        return out.reshape(lead + (self.irreps_out.dim,))

    def extra_repr(self) -> str:
        return (f"{self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out}, mode={self.mode!r}, "
                f"{len(self.paths)} paths, weight_numel={self.weight_numel}")


def _assemble(blocks: list, slices: list, like: Tensor) -> Tensor:
    """The output blocks ``[n, mul, 2l+1]`` (None: no path reached it, zeros) side by side: ``[n, dim]``."""
    n = like.shape[0]
    flat = [b.reshape(n, sl.stop - sl.start) if b is not None else like.new_zeros(n, sl.stop - sl.start)
            for b, sl in zip(blocks, slices)]
    return torch.cat(flat, dim=-1) if flat else like.new_zeros(n, 0)


def channelwise_paths(irreps_in1, irreps_in2, irreps_filter=None) -> tuple[Irreps, list[tuple[int, int, int]]]:
    r"""NequIP's ``"uvu"`` product: every allowed :math:`(l_1, p_1) \otimes (l_2, p_2) \to (l_3, p_3)` gets its own
    output block of the multiplicity of ``irreps_in1[i1]``.

    Args:
        irreps_in1, irreps_in2: the two inputs (node features, edge harmonics).
        irreps_filter: keep only the output irreps listed here (multiplicities ignored), e.g. to cap the degree.

    Returns:
        ``(irreps_out, paths)`` for ``TensorProduct(irreps_in1, irreps_in2, irreps_out, mode="uvu", paths=paths)``.

    Book: chapter spherical, section "Tensor products".
    """
    irreps_in1, irreps_in2 = Irreps(irreps_in1), Irreps(irreps_in2)
    keep = None if irreps_filter is None else {ir for _, ir in Irreps(irreps_filter)}
    items, paths = [], []
    for i1, (mul1, ir1) in enumerate(irreps_in1):
        for i2, (_, ir2) in enumerate(irreps_in2):
            for ir in ir1 * ir2:
                if keep is None or ir in keep:
                    paths.append((i1, i2, len(items)))
                    items.append((mul1, ir))
    return Irreps(items), paths


class Linear(nn.Module):
    r"""Equivariant linear map: mixes the channels of equal irreps, never the components m.

    $$z^{(l, p)}_{w} = \frac{1}{\sqrt{\sum \mathrm{mul}_{\text{in}}}} \sum_{\text{blocks } (l, p) \text{ of } x}
    \sum_u W_{uw}\, x^{(l, p)}_{u}$$

    (the sum under the root runs over the input blocks of the same irrep).  A matrix acting on the channel index
    commutes with :math:`D_{l,p}(Q)`, which acts on the component index, so the map is equivariant.  An output
    irrep absent from the input is zero.  Equals ``e3nn.o3.Linear`` with the same weights (tested).

    Args:
        irreps_in, irreps_out: :class:`~minignn.irreps.Irreps`.

    ``forward(x [..., dim_in])`` -> ``[..., dim_out]``.

    Book: chapter spherical, section "Tensor products".
    """

    def __init__(self, irreps_in, irreps_out):
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self.paths = [(i, o) for i, (_, ir_i) in enumerate(self.irreps_in)
                      for o, (_, ir_o) in enumerate(self.irreps_out) if ir_i == ir_o]
        fan = {o: sum(self.irreps_in[i][0] for i, oo in self.paths if oo == o) for _, o in self.paths}
        self.alphas = [1 / math.sqrt(fan[o]) if fan[o] else 0.0 for _, o in self.paths]
        self.weight_numel = sum(self.irreps_in[i][0] * self.irreps_out[o][0] for i, o in self.paths)
        self.weight = nn.Parameter(torch.randn(self.weight_numel))

    def forward(self, x: Tensor) -> Tensor:
        self.irreps_in.check(x, "x")
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        n = x.shape[0]
        so = self.irreps_out.slices()
        xs = x.split([mul * ir.dim for mul, ir in self.irreps_in], dim=-1)
        blocks: list[Tensor | None] = [None] * len(self.irreps_out)
        start = 0
        for (i, o), alpha in zip(self.paths, self.alphas):
            (mul_i, ir), mul_o = self.irreps_in[i], self.irreps_out[o][0]
            W = self.weight[start:start + mul_i * mul_o].reshape(mul_i, mul_o) * alpha
            start += mul_i * mul_o
            out = torch.einsum("nui,uw->nwi", xs[i].reshape(n, mul_i, ir.dim), W)
            blocks[o] = out if blocks[o] is None else blocks[o] + out
        out = _assemble(blocks, so, x)
        return out.reshape(lead + (self.irreps_out.dim,))

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}, weight_numel={self.weight_numel}"
