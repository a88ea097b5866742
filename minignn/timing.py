"""Timing aggregations: the helpers behind ``benchmarks/aggregation.py`` and the live sweep of the scatter chapter.

The time of an aggregation :math:`U(M)_j = \\sum_{i > j} M_{ij}` is quoted in nanoseconds per edge,

$$\\text{ns per edge} = 10^9\\, t / E,$$

and compared with the memory bound :math:`t \\geq (4F + 8) E / \\text{bandwidth}` (one float32 message row and one
int64 index per edge).  On a machine whose cores are shared, a single timing is mostly noise; the minimum over
interleaved repeats (:func:`min_time`) is the figure that is stable from run to run.

* :func:`min_time`: minimum wall time of each callable over interleaved rounds;
* :func:`copy_bandwidth`: bytes read + written per second by a large ``copy_``;
* :func:`random_graph`: uniformly random edges, for workloads;
* :func:`aggregation_sweep`: aggregation alone on random graphs of growing size (the chapter's live plot);
* :func:`read_aggregation_results`: the table that ``python benchmarks/aggregation.py`` wrote in ``RESULTS.md``
  (through :mod:`minignn.results`, so it works from a checkout and from an installed wheel).

Book: chapter scatter, section "How fast is it?".
"""

from __future__ import annotations

import pathlib
from time import perf_counter
from typing import Callable

import torch

from minignn import results
from minignn.checks import check_int, check_number
from minignn.plan import AggregationPlan
from minignn.scatter import has_torch_scatter, scatter

__all__ = ["min_time", "copy_bandwidth", "random_graph", "aggregation_sweep", "read_aggregation_results"]


def min_time(fns: dict[str, Callable[[], object]], repeats: int, min_seconds: float = 0.0,
             max_rounds: int = 300) -> dict[str, float]:
    """Minimum wall time in seconds of each callable over interleaved rounds, after one warm-up call each.

    Every callable runs at least ``repeats`` times, and keeps running (up to ``max_rounds``) until it has spent
    ``min_seconds`` in total: fast calls get many samples, which on a machine whose cores are shared gives the
    minimum a chance to catch an undisturbed run.  Interleaving (a, b, c, a, b, c, ...) spreads a disturbance
    over all callables instead of one.

    Returns ``{name: seconds}`` with the keys of ``fns``.
    """
    if not isinstance(fns, dict):
        raise ValueError(f"fns must be a dict {{name: callable}}, got {type(fns).__name__}")
    try:
        repeats = check_int(repeats, "repeats", minimum=1)
    except ValueError:
        raise ValueError(f"repeats must be a positive integer (calls per callable), got {repeats!r}") from None
    try:
        max_rounds = check_int(max_rounds, "max_rounds", minimum=repeats)
    except ValueError:
        raise ValueError(f"max_rounds must be an integer >= repeats = {repeats}, got {max_rounds!r}") from None
    try:
        min_seconds = check_number(min_seconds, "min_seconds", minimum=0)
    except ValueError:
        raise ValueError(f"min_seconds must be >= 0, got {min_seconds!r}") from None
    for name, fn in fns.items():
        if not callable(fn):
            raise ValueError(f"fns[{name!r}] must be a callable without arguments, got {type(fn).__name__}")
        fn()
    best = {name: float("inf") for name in fns}
    spent = {name: 0.0 for name in fns}
    for round_ in range(max_rounds):
        todo = [name for name in fns if round_ < repeats or spent[name] < min_seconds]
        if not todo:
            break
        for name in todo:
            start = perf_counter()
            fns[name]()
            elapsed = perf_counter() - start
            best[name] = min(best[name], elapsed)
            spent[name] += elapsed
    return best


def copy_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Bytes read + written per second by ``b.copy_(a)`` on two preallocated float32 buffers of ``nbytes`` each.

    Use a size well beyond the last-level cache (the default, 256 MiB) to measure main memory.
    """
    if isinstance(nbytes, int) and not isinstance(nbytes, bool) and nbytes < 4:
        raise ValueError(f"nbytes must be at least 4 (one float32), got {nbytes}")
    nbytes = check_int(nbytes, "nbytes", minimum=4)
    a = torch.rand(nbytes // 4)
    b = torch.empty_like(a)
    best = min_time({"copy": lambda: b.copy_(a)}, repeats)["copy"]
    return 2 * 4 * (nbytes // 4) / best


def random_graph(num_nodes: int = 100_000, num_edges: int = 1_000_000,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """``(edge_index [2, num_edges], num_nodes)``: sources and destinations drawn uniformly and independently.

    Self-loops and repeated edges occur (as in a random multigraph); both are valid inputs of every aggregation.
    """
    if isinstance(num_nodes, int) and isinstance(num_edges, int) and (num_nodes < 1 or num_edges < 0):
        raise ValueError(f"a random graph needs num_nodes >= 1 and num_edges >= 0, got {num_nodes} and {num_edges}")
    num_nodes, num_edges = check_int(num_nodes, "num_nodes", minimum=1), check_int(num_edges, "num_edges")
    return torch.randint(0, num_nodes, (2, num_edges), generator=generator), num_nodes


def aggregation_sweep(edge_counts=(10_000, 30_000, 100_000, 300_000), num_features: int = 64, repeats: int = 5,
                      avg_degree: int = 10, threads: int | None = None, seed: int = 0) -> list[dict]:
    """Aggregation alone (forward) on random graphs of growing size, in ns per edge.

    For each E in ``edge_counts``: a :func:`random_graph` with ``E // avg_degree`` vertices, messages
    [E, ``num_features``], and the minimum time (:func:`min_time`) of ``torch (index_add)``, ``plan (random order)``,
    ``plan (sorted)`` (the same edges sorted by destination) and, if installed, ``torch_scatter``.
    ``threads`` sets torch's thread count during the measurement (restored afterwards).

    Returns rows ``{"E": int, "method": str, "ns_per_edge": float}``, graph by graph.
    """
    given = edge_counts
    try:
        edge_counts = [check_int(e, "edge_counts", minimum=1) for e in edge_counts]
    except (TypeError, ValueError):
        edge_counts = []
    if not edge_counts:
        raise ValueError(f"edge_counts must be a non-empty sequence of positive edge counts, got {given!r}")
    if isinstance(num_features, int) and isinstance(avg_degree, int) and (num_features < 1 or avg_degree < 1):
        raise ValueError(f"num_features and avg_degree must be >= 1, got {num_features} and {avg_degree}")
    num_features, avg_degree = check_int(num_features, "num_features", minimum=1), check_int(avg_degree, "avg_degree", minimum=1)
    repeats = check_int(repeats, "repeats", minimum=1)
    if threads is not None:
        threads = check_int(threads, "threads", minimum=1)
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(seed)
        rows = []
        for num_edges in map(int, edge_counts):
            edge_index, num_nodes = random_graph(max(1, num_edges // avg_degree), num_edges, generator)
            dst = edge_index[1]
            messages = torch.randn(num_edges, num_features, generator=generator)
            plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
            order = torch.argsort(dst, stable=True)
            sorted_plan = AggregationPlan.from_edge_index(edge_index[:, order], num_nodes)
            sorted_messages = messages[order]
            fns = {"torch (index_add)": lambda: scatter(messages, dst, dim_size=num_nodes, backend="torch"),
                   "plan (random order)": lambda: plan.aggregate(messages),
                   "plan (sorted)": lambda: sorted_plan.aggregate(sorted_messages)}
            if has_torch_scatter():
                import torch_scatter

                fns["torch_scatter"] = lambda: torch_scatter.scatter(messages, dst, 0, dim_size=num_nodes)
            for name, sec in min_time(fns, repeats).items():
                rows.append(dict(E=num_edges, method=name, ns_per_edge=1e9 * sec / num_edges))
        return rows
    finally:
        torch.set_num_threads(previous)


def read_aggregation_results(path: pathlib.Path | str | None = None) -> tuple[dict, list[dict]]:
    """The ``aggregation`` section of ``RESULTS.md`` (default: :func:`minignn.results.results_path`), parsed.

    Returns ``(meta, rows)``: ``meta`` has the section's fields (``date``, ``command``, ``machine``, ``versions``,
    ``copy bandwidth``, ...) and ``bandwidth`` in bytes per second; each row is a dict with ``workload``, ``order``,
    ``kind``, ``method``, ``ns_per_edge``, ``x_bound`` and ``speedup`` (None where the table cell is empty).
    """
    body = results.read_section("aggregation", path)
    meta = results.section_fields(body)
    if "copy bandwidth" not in meta:
        raise ValueError("the aggregation section has no '- copy bandwidth: ... GB/s' line; "
                         "rewrite it with `python benchmarks/aggregation.py`")
    meta["bandwidth"] = float(meta["copy bandwidth"].split("GB/s")[0]) * 1e9
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] in ("qm9", "random"):
            rows.append(dict(workload=cells[0], order=cells[1], kind=cells[2], method=cells[3],
                             ns_per_edge=float(cells[4]), x_bound=float(cells[5]) if cells[5] else None,
                             speedup=float(cells[6]) if cells[6] else None))
    if not rows:
        raise ValueError("the aggregation section has no table rows; rewrite it with `python benchmarks/aggregation.py`")
    return meta, rows
