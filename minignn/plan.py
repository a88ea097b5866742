"""Aggregation plans: sort the edges by destination once, keep the CSR structure.

The edges of a graph fix two sparse matrices that every layer reuses:

* the destination incidence ``B[j, e] = 1 if dst_e = j`` ([num_nodes, E]): for
  materialised messages ``M`` ([E, F]), ``U(M) = B @ M``;
* the transposed weighted adjacency ``A^T`` with ``A[i, j] = sum of w_e over the
  edges e = (i -> j)`` (row = src, as :func:`minignn.graph.to_dense`): a linear message
  ``M_ij = w_ij x_i`` gives ``U(M) = A^T @ x`` without ever building the ``[E, F]`` messages.

Both are kept in CSR form with one row per destination: ``crow[j]:crow[j + 1]`` are
the incoming edges of ``j``.  A CSR row product is a "bag sum" (``embedding_bag``):
``out[j] = sum_k w_k table[col_k]`` over the row, one streaming pass.  The
backward passes are the transposed products: ``B^T`` is the gather ``grad[dst]``
and ``A`` is the same product on the edges sorted by source.

The CSR kernels themselves (:func:`~minignn.scatter.csr_rows`, :func:`~minignn.scatter.bag_sum`,
:func:`~minignn.scatter.segment_sum`) live in :mod:`minignn.scatter`, whose ``"csr"`` backend
uses them; this module builds on them and the dependency goes one way (scatter never imports plan).

Book: chapter scatter, section "A reusable aggregation plan".
"""

from __future__ import annotations

import torch

from minignn.checks import check_int
from minignn.scatter import bag_sum, check_index, check_mean_dtype, check_reduce, csr_rows, index_dtype
from minignn.scatter import is_sorted as is_sorted_index
from minignn.scatter import scatter_unchecked, segment_sum

__all__ = ["AggregationPlan"]


class _Gather(torch.autograd.Function):
    """out = x[src] or x[dst] ([E, K]); backward: grad_x = B_side @ grad (bag sum over each node's edges)."""

    @staticmethod
    def forward(ctx, x, plan, side):
        ctx.plan, ctx.side = plan, side
        return x.index_select(0, plan._src_idx if side == "src" else plan._dst_idx)

    @staticmethod
    def backward(ctx, grad):
        perm, crow = ctx.plan._by_src()[:2] if ctx.side == "src" else (ctx.plan.perm, ctx.plan.crow)
        return bag_sum(grad, perm, crow), None, None


class _Propagate(torch.autograd.Function):
    """out = A^T @ x (out[dst] += w x[src]); backward: grad_x = A @ grad, grad_w_e = <grad_dst, x_src>."""

    @staticmethod
    def forward(ctx, x, weight, plan):
        ctx.plan = plan
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight)  # x only for grad_w
        w_sorted = None if weight is None else weight.index_select(0, plan.perm)
        return bag_sum(x, plan.src_sorted, plan.crow, w_sorted)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        plan = ctx.plan
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            perm_src, crow_src, dst_by_src = plan._by_src()
            w_t = None if weight is None else weight.index_select(0, perm_src)
            grad_x = bag_sum(grad, dst_by_src, crow_src, w_t)
        if ctx.needs_input_grad[1]:
            grad_w = torch.empty_like(weight)
            step = max(1, 2**20 // max(1, x.shape[1]))  # chunks of ~4 MB rows: no [E, F] temporary
            for start in range(0, plan.num_edges, step):
                e = slice(start, start + step)
                dots = (grad.index_select(0, plan.dst[e]) * x.index_select(0, plan.src[e])).sum(1)
                grad_w[e] = dots
        return grad_x, grad_w, None


class AggregationPlan:
    r"""Destination-sorted CSR structure of a graph, reused by every aggregation.

    $$U(M)_j = \sum_{i > j} M_{ij} = (B M)_j, \qquad \sum_{i > j} w_{ij}\, x_i = (A^T x)_j$$

    Build it once per graph or batch with :meth:`from_edge_index`; then
    :meth:`aggregate` reduces materialised messages ``[E, ...]`` (original edge order),
    :meth:`propagate` applies the weighted adjacency to node features ``[num_nodes, ...]``
    and :meth:`gather` returns ``x[src]`` with a sparse-product backward.

    Attributes: ``num_nodes``, ``num_edges``, ``src`` and ``dst`` ([E], original order),
    ``perm`` ([E], edge ids sorted by dst), ``crow`` ([num_nodes + 1], row pointers),
    ``src_sorted`` ([E]) -- all three of ``index_dtype`` (int32 when it fits) --, ``deg``
    ([num_nodes], in-degrees) and ``is_sorted`` (edges already sorted by dst).

    Book: chapter scatter, section "A reusable aggregation plan".
    """

    def __init__(self, dst, src, num_nodes: int, is_sorted=None):
        self.num_nodes = int(num_nodes)
        self.num_edges = int(dst.numel())
        self.dst, self.src = dst, src
        # CSR indices in int32 when they fit: half the index bytes per edge
        self.index_dtype = index_dtype(max(self.num_edges, self.num_nodes))
        self.is_sorted = is_sorted_index(dst) if is_sorted is None else bool(is_sorted)
        self.perm, self.crow, self.deg = csr_rows(dst, self.num_nodes, self.is_sorted)
        self.src_sorted = None if src is None else src.index_select(0, self.perm).to(self.index_dtype)
        # gathers x[src], grad[dst] read half the index bytes with int32
        self._dst_idx = dst.to(self.index_dtype)
        self._src_idx = None if src is None else src.to(self.index_dtype)
        self._src_structure = None  # edges sorted by source, built on first use

    @classmethod
    def from_edge_index(cls, edge_index, num_nodes):
        """Plan for ``edge_index`` [2, E] (row 0 = src, row 1 = dst) on ``num_nodes`` nodes."""
        if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
            got = tuple(edge_index.shape) if isinstance(edge_index, torch.Tensor) else type(edge_index).__name__
            raise ValueError(f"edge_index must be a tensor of shape [2, E], got {got}")
        if num_nodes is None:
            raise ValueError("num_nodes must be given explicitly (an int), got None")
        num_nodes = check_int(num_nodes, "num_nodes")
        src, dst = edge_index
        check_index(src, src.numel(), num_nodes, what="edge_index[0] (src)", size_name="num_nodes")
        check_index(dst, dst.numel(), num_nodes, what="edge_index[1] (dst)", size_name="num_nodes")
        return cls(dst.long().contiguous(), src.long().contiguous(), num_nodes)

    @classmethod
    def from_index(cls, index, dim_size, check: bool = True, is_sorted=None):
        """Plan for ``scatter(src, index, dim_size=dim_size)``: :meth:`aggregate` only."""
        if check:
            num = index.numel() if isinstance(index, torch.Tensor) else -1
            dim_size = check_index(index, num, dim_size)
        else:
            dim_size = check_int(dim_size, "dim_size")
        return cls(index.long().contiguous(), None, dim_size, is_sorted)

    def _by_src(self):
        """(edge ids sorted by src, CSR rows of the sources, dst in that order): the transpose."""
        if self._src_structure is None:
            perm_src, crow_src, _ = csr_rows(self.src, self.num_nodes)
            self._src_structure = (perm_src, crow_src, self.dst.index_select(0, perm_src).to(self.index_dtype))
        return self._src_structure

    def _fast(self, t):
        return self.num_edges > 0 and self.num_nodes > 0 and t.dtype.is_floating_point

    def _check_nodes(self, x, name="x"):
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] != self.num_nodes:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape [num_nodes={self.num_nodes}, ...], got {got}")
        if self.src is None:
            raise ValueError("this plan has no sources: build it with AggregationPlan.from_edge_index")

    def aggregate(self, messages, reduce: str = "sum"):
        r"""$U(M)_j = \bigoplus_{e:\, \mathrm{dst}_e = j} M_e$ for messages in the ORIGINAL edge order.

        Args:
            messages: ``[E, ...]`` (any trailing feature dimensions).
            reduce: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``; a node without incoming edge gets 0.
                ``"mean"`` needs floating-point messages (a ValueError otherwise, as in
                :func:`minignn.scatter.scatter`).

        Returns:
            ``[num_nodes, ...]``.
        """
        check_reduce(reduce)
        if not isinstance(messages, torch.Tensor) or messages.dim() == 0 or messages.shape[0] != self.num_edges:
            got = tuple(messages.shape) if isinstance(messages, torch.Tensor) else type(messages).__name__
            raise ValueError(f"messages must have shape [E={self.num_edges}, ...], got {got}")
        check_mean_dtype(messages, reduce, "messages")
        if reduce in ("max", "min") or not self._fast(messages):
            return scatter_unchecked(messages, self.dst, 0, self.num_nodes, reduce, "torch")
        out = segment_sum(messages.reshape(self.num_edges, -1), self.perm, self.crow, self._dst_idx)
        if reduce == "mean":
            out = out / self.deg.clamp(min=1).to(out.dtype).unsqueeze(1)
        return out.reshape((self.num_nodes,) + tuple(messages.shape[1:]))

    def gather(self, x, side: str = "src"):
        r"""$x_i$ (``side="src"``) or $x_j$ (``side="dst"``) on every edge $i > j$, with a CSR backward.

        Equal to ``x[src]`` or ``x[dst]``; its backward sums the gradients of each node's
        edges with one bag sum (the transposed product) instead of a scattered ``index_add``.

        Args:
            x: node features ``[num_nodes, ...]``.
            side: ``"src"`` or ``"dst"``.

        Returns:
            ``[E, ...]`` in the original edge order.
        """
        if side not in ("src", "dst"):
            raise ValueError(f"side must be 'src' or 'dst', got {side!r}")
        self._check_nodes(x)
        if not self._fast(x):
            return x[self.src if side == "src" else self.dst]
        out = _Gather.apply(x.reshape(self.num_nodes, -1), self, side)
        return out.reshape((self.num_edges,) + tuple(x.shape[1:]))

    def propagate(self, x, edge_weight=None, reduce: str = "sum"):
        r"""$\mathrm{out}_j = \bigoplus_{i > j} w_{ij}\, x_i = (A^T x)_j$ without building ``[E, F]`` messages.

        Args:
            x: node features ``[num_nodes, ...]``.
            edge_weight: ``[E]`` in the original edge order, or None for ``w = 1``.
            reduce: ``"sum"`` or ``"mean"`` (mean divides by the in-degree ``d_j``; it needs a
                floating-point ``x``).

        Returns:
            ``[num_nodes, ...]``; differentiable in ``x`` and ``edge_weight``.
        """
        check_reduce(reduce, ("sum", "mean"))
        self._check_nodes(x)
        check_mean_dtype(x, reduce, "x")
        if edge_weight is not None and (not isinstance(edge_weight, torch.Tensor) or edge_weight.dim() != 1
                                        or edge_weight.numel() != self.num_edges):
            got = tuple(edge_weight.shape) if isinstance(edge_weight, torch.Tensor) else type(edge_weight).__name__
            raise ValueError(f"edge_weight must have shape [E={self.num_edges}], got {got}")
        if not self._fast(x):
            messages = x.index_select(0, self.src)
            if edge_weight is not None:
                messages = messages * edge_weight.view([-1] + [1] * (x.dim() - 1))
            return scatter_unchecked(messages, self.dst, 0, self.num_nodes, reduce, "torch")
        weight = None if edge_weight is None else edge_weight.to(x.dtype)
        out = _Propagate.apply(x.reshape(self.num_nodes, -1), weight, self)
        if reduce == "mean":
            out = out / self.deg.clamp(min=1).to(out.dtype).unsqueeze(1)
        return out.reshape(x.shape)
