"""Scatter: the aggregation U(M)_j = sum over incoming edges i > j of M_ij.

``scatter(src, index)`` is the loop ``for x, i in zip(src, index): out[i] += x``.
It is also a sparse matrix product: ``out = B @ src`` where ``B[j, e] = 1`` if
``index[e] == j`` (the destination incidence matrix); :func:`segment_sum` is that
product in CSR form (the ``"csr"`` backend), which :mod:`minignn.plan` builds on.

Dependencies go one way: ``minignn.plan`` imports this module, never the reverse.

Book: chapter scatter, section "The loop, scatter and the matrix".
"""

from __future__ import annotations

import functools
import os

import torch
import torch.nn.functional as F

from minignn.checks import check_int

REDUCES = ("sum", "mean", "max", "min")
BACKENDS = ("torch", "torch_scatter", "csr")


@functools.lru_cache(maxsize=1)
def _import_torch_scatter():
    try:
        import torch_scatter
    except Exception:  # ImportError, or a wheel built against another torch
        return None
    return torch_scatter


def has_torch_scatter() -> bool:
    """True if ``torch_scatter`` is importable and not disabled.

    Setting the environment variable ``MINIGNN_NO_TORCH_SCATTER=1`` makes
    minignn behave as if torch_scatter were not installed.
    """
    if os.environ.get("MINIGNN_NO_TORCH_SCATTER", "") not in ("", "0"):
        return False
    return _import_torch_scatter() is not None


def check_index(index, num_items: int, dim_size, what: str = "index", size_name: str = "dim_size",
                size_meaning: str = "the number of nodes") -> int:
    """Validate an integer index of length ``num_items``; return ``dim_size`` (an int, default ``index.max() + 1``).

    ``what`` names the index and ``size_name`` the size in the messages (a wrapper passes its own names, e.g.
    ``what="batch", size_name="num_graphs", size_meaning="the number of graphs"``).
    """
    if not isinstance(index, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(index).__name__}")
    if index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == torch.bool:
        raise ValueError(f"{what} must have an integer dtype (torch.long), got {index.dtype}")
    if index.dim() != 1:
        raise ValueError(f"{what} must be 1-D of shape [E], got shape {tuple(index.shape)}")
    if index.numel() != num_items:
        raise ValueError(
            f"{what} has {index.numel()} entries but src has {num_items} along dim; "
            "they must have the same length"
        )
    if index.numel() > 0:
        lo, hi = torch.aminmax(index)
        lo, hi = int(lo), int(hi)
    else:
        lo, hi = 0, -1
    dim_size = hi + 1 if dim_size is None else check_int(dim_size, size_name, minimum=None)
    if dim_size < 0:
        raise ValueError(f"{size_name} must be >= 0, got {dim_size}")
    if lo < 0:
        raise ValueError(f"{what} must be non-negative, got min {what} = {lo}")
    if hi >= dim_size:
        raise ValueError(
            f"{what} must be < {size_name} = {dim_size}, got max {what} = {hi}; "
            f"pass a larger {size_name} ({size_meaning})"
        )
    return dim_size


def check_reduce(reduce: str, allowed=REDUCES) -> None:
    """Raise a ValueError unless ``reduce`` is one of ``allowed``."""
    if reduce not in allowed:
        raise ValueError(f"reduce must be one of {allowed}, got {reduce!r}")


def check_mean_dtype(src, reduce: str, what: str = "src") -> None:
    """``reduce="mean"`` needs a floating-point (or complex) ``src``: reject integer and bool tensors.

    The mean of integers is not an integer, and the backends disagree on what to return
    (torch_scatter floors it in the integer dtype, ``index_add`` then a division gives a
    float), so no backend accepts it.  ``what`` names the argument in the message.
    """
    if reduce == "mean" and not (src.dtype.is_floating_point or src.dtype.is_complex):
        raise ValueError(
            f"reduce='mean' needs {what} of a floating-point dtype, got {what}.dtype = {src.dtype} (the mean "
            f"of integers is not an integer); convert it first, e.g. {what}.float() or {what}.double(), "
            "or use reduce='sum' and divide by the counts yourself"
        )


def _broadcast_shape(ndim: int, dim: int):
    return [-1 if d == dim else 1 for d in range(ndim)]


def _scatter_torch(src, index, dim, dim_size, reduce):
    shape = list(src.shape)
    shape[dim] = dim_size
    if reduce in ("sum", "mean"):
        out = src.new_zeros(shape).index_add(dim, index, src)
        if reduce == "mean":
            count = torch.bincount(index, minlength=dim_size).clamp_(min=1)
            out = out / count.to(src.dtype).view(_broadcast_shape(src.dim(), dim))
        return out
    expanded = index.view(_broadcast_shape(src.dim(), dim)).expand_as(src)
    op = "amax" if reduce == "max" else "amin"
    return src.new_zeros(shape).scatter_reduce(dim, expanded, src, op, include_self=False)


def _scatter_torch_scatter(src, index, dim, dim_size, reduce):
    ts = _import_torch_scatter()
    return ts.scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)


def is_sorted(index) -> bool:
    """True if ``index`` is non-decreasing (e.g. ``dst`` of destination-sorted edges, ``batch``)."""
    if not isinstance(index, torch.Tensor) or index.dim() != 1:
        got = f"shape {list(index.shape)}" if isinstance(index, torch.Tensor) else type(index).__name__
        raise ValueError(f"index must be a 1-d tensor, got {got}")
    return index.numel() < 2 or bool((index[1:] >= index[:-1]).all())


# -- the CSR form of B: one streaming pass per row -------------------------------------------
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


def index_dtype(num: int) -> torch.dtype:
    """int32 when ``num`` (entries or rows) fits, else int64: CSR indices read half the bytes in int32."""
    num = check_int(num, "num")
    return torch.int32 if num < 2**31 - 1 else torch.long


def csr_rows(index, num_rows: int, sorted_index=None):
    r"""The CSR structure of $B_{je} = [\mathrm{index}_e = j]$: ``(perm, crow, counts)``.

    Args:
        index: ``[E]`` int64 row of each entry, values in ``[0, num_rows)`` (not checked).
        num_rows: R; sorted_index: True if ``index`` is known to be non-decreasing (None: test it).

    Returns:
        ``perm`` ``[E]`` the entries sorted by row (stable), ``crow`` ``[R + 1]`` row pointers
        (``perm[crow[j]:crow[j + 1]]`` are the entries of row ``j``), both of
        :func:`index_dtype`, and ``counts`` ``[R]`` (int64).
    """
    dtype = index_dtype(max(index.numel(), num_rows))
    if sorted_index is None:
        sorted_index = is_sorted(index)
    perm = torch.arange(index.numel()) if sorted_index else torch.argsort(index, stable=True)
    counts = torch.bincount(index, minlength=num_rows)
    crow = torch.zeros(num_rows + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=crow[1:])
    return perm.to(dtype), crow.to(dtype), counts


class _SegmentSum(torch.autograd.Function):
    """out = B @ src (bag sum over each row's entries); backward: grad_src = grad[index]."""

    @staticmethod
    def forward(ctx, src, perm, crow, index):
        ctx.save_for_backward(index)
        return bag_sum(src, perm, crow)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        return grad.index_select(0, index), None, None, None


def segment_sum(src, perm, crow, index):
    r"""$\mathrm{out}_j = \sum_{e :\, \mathrm{index}_e = j} \mathrm{src}_e = (B\,\mathrm{src})_j$ from the CSR structure of :func:`csr_rows`.

    Args:
        src: ``[E, K]`` floating point; perm, crow: from ``csr_rows(index, R)``;
        index: ``[E]`` (int32 or int64), for the backward ``grad[index]``.

    Returns:
        ``[R, K]``, differentiable in ``src`` (twice: the backward is a gather).
    """
    return _SegmentSum.apply(src, perm, crow, index)


def _scatter_csr(src, index, dim, dim_size, reduce, index_sorted=None):
    moved = src.movedim(dim, 0)
    if not moved.dtype.is_floating_point or moved.shape[0] == 0 or dim_size == 0:
        return _scatter_torch(src, index, dim, dim_size, reduce)  # bag sums need floats and rows
    perm, crow, counts = csr_rows(index, dim_size, index_sorted)
    out = segment_sum(moved.reshape(moved.shape[0], -1), perm, crow, index)
    if reduce == "mean":
        out = out / counts.clamp(min=1).to(out.dtype).unsqueeze(1)
    return out.reshape((dim_size,) + tuple(moved.shape[1:])).movedim(0, dim)


_BACKEND_FN = {"torch": _scatter_torch, "torch_scatter": _scatter_torch_scatter, "csr": _scatter_csr}


def choose_backend(reduce: str, backend=None, src=None, index=None) -> str:
    """The backend used for ``reduce``: ``backend`` if given, else the fastest available.

    Default: for a sum or mean, ``"csr"`` (one streaming pass) over a sorted index of
    floats, else ``"torch_scatter"`` when installed, else ``"torch"``; for max and min,
    ``"torch"`` (``scatter_reduce`` is about 10x faster than torch_scatter's scatter_max on CPU).
    Inside ``torch.compile``, ``"torch"`` always: the compiler can fuse it with its neighbours, and the
    data-dependent choice (is the index sorted?) would break the graph.
    """
    if backend is None:
        if reduce in ("max", "min") or torch.compiler.is_compiling():
            return "torch"
        if src is not None and src.dtype.is_floating_point and index is not None and is_sorted(index):
            return "csr"
        return "torch_scatter" if has_torch_scatter() else "torch"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be None or one of {BACKENDS}, got {backend!r}")
    if backend == "torch_scatter" and not has_torch_scatter():
        raise ValueError(
            "backend='torch_scatter' requested but torch_scatter is not importable "
            "(or MINIGNN_NO_TORCH_SCATTER is set); use backend=None or 'torch'"
        )
    if backend == "csr" and reduce not in ("sum", "mean"):
        raise ValueError(f"backend='csr' supports reduce 'sum' and 'mean' only, got {reduce!r}")
    return backend


def scatter_unchecked(src, index, dim, dim_size, reduce, backend=None):
    """:func:`scatter` without input validation (``index`` already checked, ``dim >= 0``)."""
    name = choose_backend(reduce, backend, src, index)
    if name == "csr" and backend is None:  # chosen because the index is sorted: do not check again
        return _scatter_csr(src, index, dim, dim_size, reduce, index_sorted=True)
    return _BACKEND_FN[name](src, index, dim, dim_size, reduce)


def scatter(src, index, dim: int = 0, dim_size=None, reduce: str = "sum", backend=None):
    r"""Reduce the slices of ``src`` that share an index: ``out[index[e]] (+)= src[e]``.

    $$\mathrm{out}_j = \bigoplus_{e \,:\, \mathrm{index}_e = j} \mathrm{src}_e,
    \qquad U(M)_j = \sum_{i > j} M_{ij}$$

    with $\bigoplus$ a sum, mean, max or min; a destination with no entry gets 0.

    Args:
        src: tensor with ``src.shape[dim] == E``, e.g. messages ``[E, F]`` or ``[E, F1, F2]``.
        index: integer tensor ``[E]`` with values in ``[0, dim_size)`` (e.g. ``dst``).
        dim: dimension of ``src`` that is reduced.
        dim_size: size of the output along ``dim`` (the number of nodes); give it
            explicitly to keep trailing isolated nodes. Default ``index.max() + 1``.
        reduce: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``.  ``"mean"`` needs a floating-point
            ``src`` (an integer or bool ``src`` raises a ValueError on every backend: convert it first);
            integer sums, maxima and minima are exact and the same on every backend.
        backend: ``None`` (the fastest available, see :func:`choose_backend`), ``"torch"``,
            ``"torch_scatter"`` or ``"csr"`` (sum and mean only).

    Returns:
        ``src.shape`` with ``dim`` replaced by ``dim_size``, e.g. ``[num_nodes, F]``.

    Book: chapter scatter, section "The loop, scatter and the matrix".
    """
    if not isinstance(src, torch.Tensor):
        raise ValueError(f"src must be a torch.Tensor, got {type(src).__name__}")
    if src.dim() == 0:
        raise ValueError("src must have at least one dimension, got a 0-d tensor")
    dim = check_int(dim, "dim", minimum=None)
    if not -src.dim() <= dim < src.dim():
        raise ValueError(f"dim must be in [{-src.dim()}, {src.dim()}) for src of shape "
                         f"{tuple(src.shape)}, got {dim}")
    dim = dim % src.dim()
    check_reduce(reduce)
    check_mean_dtype(src, reduce)
    dim_size = check_index(index, src.shape[dim], dim_size)
    return scatter_unchecked(src, index.long(), dim, dim_size, reduce, backend)


def scatter_softmax(src, index, dim_size=None):
    r"""Softmax over the entries that share an index: attention weights over incoming edges.

    $$\alpha_e = \frac{\exp(s_e - m_j)}{\sum_{e' :\, \mathrm{index}_{e'} = j} \exp(s_{e'} - m_j)},
    \qquad j = \mathrm{index}_e,\quad m_j = \max_{e' :\, \mathrm{index}_{e'} = j} s_{e'}$$

    a scatter-max (for stability; it does not change the result) and a scatter-sum.

    Args:
        src: scores ``[E, ...]`` (e.g. one per edge and head).
        index: ``[E]`` (e.g. ``dst``); dim_size: number of nodes.

    Returns:
        ``[E, ...]``, non-negative, summing to 1 over the entries of each index.

    Book: chapter scatter, section "Softmax over incoming edges".
    """
    if not isinstance(src, torch.Tensor) or not src.dtype.is_floating_point or src.dim() == 0:
        raise ValueError(f"src must be a floating-point tensor [E, ...], got {getattr(src, 'dtype', type(src))}")
    dim_size = check_index(index, src.shape[0], dim_size)
    index = index.long()
    m = scatter_unchecked(src.detach(), index, 0, dim_size, "max")
    z = (src - m.index_select(0, index)).exp()
    return z / scatter_unchecked(z, index, 0, dim_size, "sum").index_select(0, index)


__all__ = ["scatter", "scatter_softmax", "has_torch_scatter", "choose_backend", "check_index", "check_reduce",
           "check_mean_dtype", "is_sorted", "bag_sum", "csr_rows", "segment_sum", "index_dtype", "scatter_unchecked",
           "REDUCES", "BACKENDS"]
