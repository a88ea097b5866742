"""Aggregation plans: sort the edges by destination once, keep the CSR structure.

The edges of a graph fix two sparse matrices that every layer reuses:

* the destination incidence ``B[j, e] = 1 if dst_e = j`` ([num_nodes, E]): for
  materialised messages ``M`` ([E, F]), ``U(M) = B @ M``;
* the weighted adjacency ``A[j, i] = sum of w_e over the edges e = (i -> j)``
  ([num_nodes, num_nodes]): a linear message ``M_ij = w_ij x_i`` gives
  ``U(M) = A @ x`` without ever building the ``[E, F]`` messages.

Both are kept in CSR form: rows are destinations, ``crow[j]:crow[j + 1]`` are the
incoming edges of ``j``.  A CSR row product is a "bag sum" (``embedding_bag``):
``out[j] = sum_k w_k table[col_k]`` over the row, one streaming pass.  The
backward passes are the transposed products: ``B^T`` is the gather ``grad[dst]``
and ``A^T`` is the same product on the edges sorted by source.

Book: chapter scatter, section A reusable aggregation plan.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from minignn.scatter import _scatter_torch, check_index, check_reduce, scatter_unchecked


def bag_sum(table, col, crow, weights=None):
    r"""CSR product $\mathrm{out}_r = \sum_{k=\mathrm{crow}_r}^{\mathrm{crow}_{r+1}-1} w_k\, \mathrm{table}_{\mathrm{col}_k}$.

    Args:
        table: ``[T, K]`` rows to be summed; col: ``[nnz]`` row ids into ``table``;
        crow: ``[R + 1]`` row pointers; weights: ``[nnz]`` or None (all ones).

    Returns:
        ``[R, K]``; empty rows give 0.  No autograd (used inside autograd Functions).
    """
    table = table.contiguous()
    if weights is not None:
        weights = weights.to(table.dtype)
    return F.embedding_bag(col, table, crow, mode="sum", per_sample_weights=weights, include_last_offset=True)


def _crow(sorted_index, num_rows: int):
    counts = torch.bincount(sorted_index, minlength=num_rows)
    crow = torch.zeros(num_rows + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=crow[1:])
    return crow, counts


class _Aggregate(torch.autograd.Function):
    """out = B @ M (sum of the messages at their destination); backward: grad_M = grad[dst]."""

    @staticmethod
    def forward(ctx, messages, plan):
        ctx.plan = plan
        return bag_sum(messages, plan.perm, plan.crow)

    @staticmethod
    def backward(ctx, grad):
        return grad.index_select(0, ctx.plan.dst), None


class _Gather(torch.autograd.Function):
    """out = x[src] ([E, K]); backward: grad_x = B_src @ grad (bag sum over the edges leaving each node)."""

    @staticmethod
    def forward(ctx, x, plan):
        ctx.plan = plan
        return x.index_select(0, plan.src)

    @staticmethod
    def backward(ctx, grad):
        perm_src, crow_src, _ = ctx.plan._by_src()
        return bag_sum(grad, perm_src, crow_src), None


class _Propagate(torch.autograd.Function):
    """out = A @ x with A[dst, src] = w; backward: grad_x = A^T @ grad, grad_w_e = <grad_dst, x_src>."""

    @staticmethod
    def forward(ctx, x, weight, plan):
        ctx.plan = plan
        ctx.save_for_backward(x, weight)
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

    $$U(M)_j = \sum_{i > j} M_{ij} = (B M)_j, \qquad \sum_{i > j} w_{ij}\, x_i = (A x)_j$$

    Build it once per graph or batch with :meth:`from_edge_index`; then
    :meth:`aggregate` reduces materialised messages ``[E, ...]`` (original edge order),
    :meth:`propagate` applies the weighted adjacency to node features ``[num_nodes, ...]``
    and :meth:`gather` returns ``x[src]`` with a sparse-product backward.

    Attributes: ``num_nodes``, ``num_edges``, ``src`` and ``dst`` ([E], original order),
    ``perm`` ([E], edge ids sorted by dst), ``crow`` ([num_nodes + 1]), ``deg`` (in-degrees).

    Book: chapter scatter, section A reusable aggregation plan.
    """

    def __init__(self, dst, src, num_nodes: int):
        self.num_nodes = int(num_nodes)
        self.num_edges = int(dst.numel())
        self.dst, self.src = dst, src
        self.is_sorted = bool((dst[1:] >= dst[:-1]).all()) if self.num_edges > 1 else True
        self.perm = torch.arange(self.num_edges) if self.is_sorted else torch.argsort(dst, stable=True)
        self.crow, self.deg = _crow(dst, self.num_nodes)
        self.src_sorted = None if src is None else (src if self.is_sorted else src.index_select(0, self.perm))
        self._src_structure = None  # edges sorted by source, built on first use

    @classmethod
    def from_edge_index(cls, edge_index, num_nodes):
        """Plan for ``edge_index`` [2, E] (row 0 = src, row 1 = dst) on ``num_nodes`` nodes."""
        if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
            got = tuple(edge_index.shape) if isinstance(edge_index, torch.Tensor) else type(edge_index).__name__
            raise ValueError(f"edge_index must be a tensor of shape [2, E], got {got}")
        if num_nodes is None:
            raise ValueError("num_nodes must be given explicitly (an int), got None")
        src, dst = edge_index
        check_index(src, src.numel(), num_nodes, what="edge_index[0] (src)")
        check_index(dst, dst.numel(), num_nodes, what="edge_index[1] (dst)")
        return cls(dst.long().contiguous(), src.long().contiguous(), num_nodes)

    @classmethod
    def from_index(cls, index, dim_size, check: bool = True):
        """Plan for ``scatter(src, index, dim_size=dim_size)``: :meth:`aggregate` only."""
        if check:
            num = index.numel() if isinstance(index, torch.Tensor) else -1
            dim_size = check_index(index, num, dim_size)
        return cls(index.long().contiguous(), None, dim_size)

    def _by_src(self):
        """(edge ids sorted by src, CSR rows of the sources, dst in that order): the transpose."""
        if self._src_structure is None:
            perm_src = torch.argsort(self.src, stable=True)
            crow_src, _ = _crow(self.src, self.num_nodes)
            self._src_structure = (perm_src, crow_src, self.dst.index_select(0, perm_src))
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

        Returns:
            ``[num_nodes, ...]``.
        """
        check_reduce(reduce)
        if not isinstance(messages, torch.Tensor) or messages.dim() == 0 or messages.shape[0] != self.num_edges:
            got = tuple(messages.shape) if isinstance(messages, torch.Tensor) else type(messages).__name__
            raise ValueError(f"messages must have shape [E={self.num_edges}, ...], got {got}")
        if reduce in ("max", "min") or not self._fast(messages):
            backend = None if reduce in ("max", "min") and self._fast(messages) else "torch"
            return scatter_unchecked(messages, self.dst, 0, self.num_nodes, reduce, backend)
        out = _Aggregate.apply(messages.reshape(self.num_edges, -1), self)
        if reduce == "mean":
            out = out / self.deg.clamp(min=1).to(out.dtype).unsqueeze(1)
        return out.reshape((self.num_nodes,) + tuple(messages.shape[1:]))

    def gather(self, x):
        r"""$x_i$ on every edge $i > j$: ``x[src]`` ([E, ...]), its backward a CSR product.

        Args:
            x: node features ``[num_nodes, ...]``.

        Returns:
            ``[E, ...]`` in the original edge order (equal to ``x[src]``).
        """
        self._check_nodes(x)
        if not self._fast(x):
            return x[self.src]
        return _Gather.apply(x.reshape(self.num_nodes, -1), self).reshape((self.num_edges,) + tuple(x.shape[1:]))

    def propagate(self, x, edge_weight=None, reduce: str = "sum"):
        r"""$\mathrm{out}_j = \bigoplus_{i > j} w_{ij}\, x_i = (A x)_j$ without building ``[E, F]`` messages.

        Args:
            x: node features ``[num_nodes, ...]``.
            edge_weight: ``[E]`` in the original edge order, or None for ``w = 1``.
            reduce: ``"sum"`` or ``"mean"`` (mean divides by the in-degree ``d_j``).

        Returns:
            ``[num_nodes, ...]``; differentiable in ``x`` and ``edge_weight``.
        """
        check_reduce(reduce, ("sum", "mean"))
        self._check_nodes(x)
        if edge_weight is not None and (edge_weight.dim() != 1 or edge_weight.numel() != self.num_edges):
            raise ValueError(f"edge_weight must have shape [E={self.num_edges}], got {tuple(edge_weight.shape)}")
        if not self._fast(x):
            messages = x.index_select(0, self.src)
            if edge_weight is not None:
                messages = messages * edge_weight.view([-1] + [1] * (x.dim() - 1))
            return _scatter_torch(messages, self.dst, 0, self.num_nodes, reduce)
        weight = None if edge_weight is None else edge_weight.to(x.dtype)
        out = _Propagate.apply(x.reshape(self.num_nodes, -1), weight, self)
        if reduce == "mean":
            out = out / self.deg.clamp(min=1).to(out.dtype).unsqueeze(1)
        return out.reshape(x.shape)
