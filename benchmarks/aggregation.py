"""Benchmark: scatter and sparse aggregation backends, in ns per edge.

    python benchmarks/aggregation.py            # full run (a few minutes), writes benchmarks/RESULTS.md
    python benchmarks/aggregation.py --quick    # small graphs, seconds, prints only

Workloads (each in random and in destination-sorted edge order):
  (a) qm9: a QM9-like batch, 128 molecules of 9 to 27 atoms (about 18), fully connected
      within each, F = 128;
  (b) random: 100k nodes, 1M uniformly random edges, F = 64.
Measurements (minimum over interleaved repeats: the machine's cores may be shared):
  * aggregation alone: messages [E, F] given, out[dst] += M_e, forward only;
  * aggregation forward + backward;
  * one message-passing step, forward + backward: gather x[src], a linear message, aggregate,
    loss.backward(); for the fast path the linear message is the CSR product A @ (x W).
The bandwidth bound of an aggregation is (4F + 8) bytes per edge (one float32 message row and
one int64 index) divided by the measured copy bandwidth (bytes read + written per second).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import sys
import warnings

import torch

from minignn import results
from minignn.plan import AggregationPlan
from minignn.scatter import has_torch_scatter, scatter
from minignn.timing import copy_bandwidth, min_time, random_graph

RESULTS = pathlib.Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- aggregation:begin -->", "<!-- aggregation:end -->"


# -- workloads --------------------------------------------------------------------------
def qm9_like(num_molecules: int = 128, min_atoms: int = 9, max_atoms: int = 27, seed: int = 0):
    """Batch of fully connected molecules (no self-loops) of min..max atoms (mean 18 by default).

    Returns ``(edge_index [2, sum n (n - 1)], num_nodes)``; edges are grouped by molecule.
    """
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.randint(min_atoms, max_atoms + 1, (num_molecules,), generator=generator).tolist()
    blocks, offset = [], 0
    for n in sizes:
        a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        keep = a != b
        blocks.append(torch.stack([a[keep], b[keep]]) + offset)  # sorted by src within a molecule
        offset += n
    return torch.cat(blocks, dim=1), offset


def in_order(edge_index, order: str):
    """Edges shuffled ("random") or sorted by destination ("sorted")."""
    if order == "random":
        return edge_index[:, torch.randperm(edge_index.shape[1])]
    return edge_index[:, torch.argsort(edge_index[1] * edge_index.shape[1] + edge_index[0])]


# -- the measured functions -------------------------------------------------------------
def aggregation_methods(edge_index, num_nodes, plan):
    """name -> function(messages) for every aggregation backend."""
    dst = edge_index[1]
    methods = {}
    if has_torch_scatter():
        import torch_scatter

        methods["torch_scatter"] = lambda m: torch_scatter.scatter(m, dst, 0, dim_size=num_nodes)
    methods["minignn torch (index_add)"] = lambda m: scatter(m, dst, dim_size=num_nodes, backend="torch")
    methods["minignn scatter csr (plan per call)"] = lambda m: scatter(m, dst, dim_size=num_nodes, backend="csr")
    methods["minignn scatter default"] = lambda m: scatter(m, dst, dim_size=num_nodes)
    methods["minignn plan.aggregate (default)"] = lambda m: plan.aggregate(m)
    return methods


def step_methods(edge_index, num_nodes, plan):
    """name -> function(x, weight) computing one message-passing step's output [N, F].

    The message is linear, M_ij = W x_i: h = x W on the nodes, then the gather h[src].
    """
    src, dst = edge_index
    methods = {}
    if has_torch_scatter():
        import torch_scatter

        methods["gather + torch_scatter"] = lambda x, w: torch_scatter.scatter(
            (x @ w).index_select(0, src), dst, 0, dim_size=num_nodes)
    methods["gather + minignn torch"] = lambda x, w: scatter(
        (x @ w).index_select(0, src), dst, dim_size=num_nodes, backend="torch")
    methods["gather + plan.aggregate"] = lambda x, w: plan.aggregate((x @ w).index_select(0, src))
    methods["plan.gather + plan.aggregate (general MPNN)"] = lambda x, w: plan.aggregate(plan.gather(x @ w))
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        adjacency = torch.sparse_coo_tensor(edge_index.flip(0), torch.ones(edge_index.shape[1]),
                                            (num_nodes, num_nodes)).coalesce().to_sparse_csr()
    methods["torch.sparse CSR A @ (x W)"] = lambda x, w: adjacency @ (x @ w)
    methods["plan.propagate(x W) (linear message)"] = lambda x, w: plan.propagate(x @ w)
    return methods


def run_workload(workload: str, edge_index, num_nodes: int, num_features: int, order: str, repeats: int,
                 min_seconds: float = 1.0):
    edge_index = in_order(edge_index, order)
    num_edges = edge_index.shape[1]
    plan = AggregationPlan.from_edge_index(edge_index, num_nodes)
    build = min_time({"build": lambda: AggregationPlan.from_edge_index(edge_index, num_nodes)}, 3)["build"]
    rows = [dict(workload=workload, order=order, E=num_edges, F=num_features, kind="plan build",
                 method="AggregationPlan.from_edge_index", seconds=build)]
    messages = torch.randn(num_edges, num_features)
    existing = torch.empty_like(messages)
    memory = {"fill a fresh [E, F] array": lambda: torch.empty(num_edges, num_features).fill_(1.0),
              "fill an existing [E, F] array": lambda: existing.fill_(1.0)}
    for name, sec in min_time(memory, repeats, min_seconds).items():
        rows.append(dict(workload=workload, order=order, E=num_edges, F=num_features, kind="memory reference",
                         method=name, seconds=sec))
    del existing
    fwd = {k: (lambda f=f: f(messages)) for k, f in aggregation_methods(edge_index, num_nodes, plan).items()}
    for name, sec in min_time(fwd, repeats, min_seconds).items():
        rows.append(dict(workload=workload, order=order, E=num_edges, F=num_features, kind="aggregate fwd",
                         method=name, seconds=sec))
    del fwd
    leaf = messages.requires_grad_()
    probe = torch.randn(num_nodes, num_features)

    def fwd_bwd(f):
        leaf.grad = None
        (f(leaf) * probe).sum().backward()

    both = {k: (lambda f=f: fwd_bwd(f)) for k, f in aggregation_methods(edge_index, num_nodes, plan).items()}
    for name, sec in min_time(both, repeats, min_seconds).items():
        rows.append(dict(workload=workload, order=order, E=num_edges, F=num_features, kind="aggregate fwd+bwd",
                         method=name, seconds=sec))
    del both, leaf, messages
    x = torch.randn(num_nodes, num_features, requires_grad=True)
    weight = torch.randn(num_features, num_features, requires_grad=True)

    def step(f):
        x.grad = weight.grad = None
        (f(x, weight) * probe).sum().backward()

    steps = {k: (lambda f=f: step(f)) for k, f in step_methods(edge_index, num_nodes, plan).items()}
    for name, sec in min_time(steps, repeats, min_seconds).items():
        rows.append(dict(workload=workload, order=order, E=num_edges, F=num_features, kind="step fwd+bwd",
                         method=name, seconds=sec))
    return rows


# -- report -----------------------------------------------------------------------------
def annotate(rows, bandwidth: float):
    """Add ns/edge, the ratio to the bandwidth bound and the speedup over the torch_scatter baseline."""
    baseline = {}
    for r in rows:
        r["ns_per_edge"] = 1e9 * r["seconds"] / max(r["E"], 1)
        r["bound_ns"] = 1e9 * (4 * r["F"] + 8) / bandwidth
        if r["method"] in ("torch_scatter", "gather + torch_scatter"):
            baseline[(r["workload"], r["order"], r["kind"])] = r["ns_per_edge"]
    for r in rows:
        base = baseline.get((r["workload"], r["order"], r["kind"]))
        r["speedup"] = base / r["ns_per_edge"] if base else None
    return rows


def table(rows) -> str:
    lines = ["| workload | order | measurement | method | ns/edge | x bound | speedup vs torch_scatter |",
             "| --- | --- | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        bound = f"{r['ns_per_edge'] / r['bound_ns']:.1f}" if r["kind"] == "aggregate fwd" else ""
        speed = f"{r['speedup']:.2f}" if r["speedup"] else ""
        lines.append(f"| {r['workload']} | {r['order']} | {r['kind']} | {r['method']} | "
                     f"{r['ns_per_edge']:.1f} | {bound} | {speed} |")
    return "\n".join(lines)


def machine_line(bandwidth: float) -> str:
    try:
        import torch_scatter

        ts = torch_scatter.__version__ + ("" if has_torch_scatter() else " (disabled)")
    except Exception:
        ts = "not installed"
    return (f"- machine: {results.cpu_model()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}\n"
            f"- versions: python {platform.python_version()}, torch {torch.__version__}, torch_scatter {ts}\n"
            f"- copy bandwidth: {bandwidth / 1e9:.1f} GB/s (bytes read + written, measured)")


def section(rows, bandwidth: float, command: str, load=(float("nan"), float("nan"))) -> str:
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return "\n".join([
        BEGIN,
        "## Aggregation (scatter vs CSR)",
        "",
        f"- date: {date}", f"- command: `{command}`", machine_line(bandwidth),
        f"- load average (1 min) before / after: {load[0]:.1f} / {load[1]:.1f}",
        "- method: minimum over interleaved repeats (the cores may be shared); "
        "x bound = time / ((4F + 8) bytes per edge / copy bandwidth)",
        "",
        table(rows),
        "",
        END,
    ])


def write_section(text: str, path: pathlib.Path = RESULTS) -> None:
    """Replace the aggregation section of ``path`` (or append it), atomically; the rest is left untouched."""
    results.write_section("aggregation", text.replace(BEGIN, "").replace(END, ""), path)


def workloads(quick: bool):
    if quick:
        return [("qm9", *qm9_like(16), 128), ("random", *random_graph(10_000, 100_000), 64)]
    return [("qm9", *qm9_like(128), 128), ("random", *random_graph(100_000, 1_000_000), 64)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small graphs, few repeats, do not write RESULTS.md")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 10, quick 5)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="keep repeating fast calls until each ran this long (default 1, quick 0.2)")
    parser.add_argument("--only", choices=["qm9", "random"], default=None, help="run one workload only")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    repeats = args.repeats or (5 if args.quick else 10)
    min_seconds = args.min_seconds if args.min_seconds is not None else (0.2 if args.quick else 1.0)
    torch.manual_seed(0)
    bandwidth = copy_bandwidth(64 * 2**20 if args.quick else 256 * 2**20)
    rows = []
    for name, edge_index, num_nodes, num_features in workloads(args.quick):
        for order in ("random", "sorted"):
            if args.only and name != args.only:
                continue
            rows += run_workload(name, edge_index, num_nodes, num_features, order, repeats, min_seconds)
            print(f"  done {name} {order}", file=sys.stderr, flush=True)
    annotate(rows, bandwidth)
    command = "python benchmarks/aggregation.py" + " ".join([""] + (argv if argv is not None else sys.argv[1:]))
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = section(rows, bandwidth, command, (load_before, load_after))
    print(text)
    if not (args.quick or args.no_write):
        write_section(text)
        print(f"wrote {RESULTS}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
