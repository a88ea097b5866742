"""Speed of minignn's tensor product against e3nn's, on the edges of QM7 batches.

The product timed is NequIP's convolution product (``minignn.tfn.TFNConv``'s): node features
``h_i`` (``width`` channels of each degree up to ``l_max``, gathered onto the edges) times the edge harmonics
``Y(r_ij)`` up to ``l_max``, channel-wise ("uvu"), with one row of path weights per edge (what the radial MLP
gives).  Both libraries compute the same paths with the same weights (checked here to 1e-4 relative, float32);
timed are the product's forward pass and forward + backward (gradients for the features, the harmonics and the
weights), in float32, on 1 torch thread, as the minimum over interleaved repeats (``minignn.timing.min_time``).

Workload: batches of 32 QM7 molecules (fold-independent: the first molecules of a fixed random order), radius
graph 5 Angstrom; reported in nanoseconds per edge.  A row per (width, l_max).  The share of the time spent in
our product's einsum contractions is measured with torch.profiler and says what dominates the cost.

    python benchmarks/tensor_product.py            # writes the tensor_product section of RESULTS.md
    python benchmarks/tensor_product.py --no-write  # prints only
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import platform
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]

from minignn import results  # noqa: E402
from minignn.datasets import load_qm7  # noqa: E402
from minignn.neighbours import radius_graph  # noqa: E402
from minignn.tensor_product import TensorProduct, channelwise_paths  # noqa: E402
from minignn.tfn import edge_harmonics, hidden_irreps  # noqa: E402
from minignn.timing import min_time  # noqa: E402

CONFIGS = [(16, 1), (32, 1), (16, 2), (32, 2), (16, 3)]  # (width, l_max)


def qm7_batch(num_molecules: int = 32, cutoff: float = 5.0, seed: int = 0):
    """Positions [N, 3] and the radius graph [2, E] of ``num_molecules`` QM7 molecules in a fixed random order."""
    qm7 = load_qm7(folds="stratified")
    order = torch.randperm(len(qm7), generator=torch.Generator().manual_seed(seed))[:num_molecules]
    mols = qm7.molecules.subset(order)
    pos = mols.pos.float()
    return pos, radius_graph(pos, cutoff, batch=mols.batch)


def products(width: int, l_max: int):
    """(ours, e3nn's) channel-wise products with the same paths, and the weight width."""
    from e3nn import o3

    irreps_in = hidden_irreps(width, l_max)
    irreps_sh = o3.Irreps.spherical_harmonics(l_max)
    mid, paths = channelwise_paths(irreps_in, str(irreps_sh), str(irreps_in))
    ours = TensorProduct(irreps_in, str(irreps_sh), mid, mode="uvu", shared_weights=False, paths=paths)
    theirs = o3.TensorProduct(str(irreps_in), str(irreps_sh), str(mid), [(a, b, c, "uvu", True) for a, b, c in paths],
                              shared_weights=False, internal_weights=False)
    assert ours.weight_numel == theirs.weight_numel
    return ours, theirs, irreps_in.dim


def einsum_share(fn) -> float:
    """Fraction of the CPU time of ``fn()`` spent in torch's einsum (and the matrix products it calls)."""
    from torch.profiler import profile

    with profile() as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    contractions = sum(e.self_cpu_time_total for e in events
                       if e.key in ("aten::bmm", "aten::mm", "aten::addmm", "aten::mul", "aten::sum", "aten::einsum"))
    return contractions / max(total, 1)


def measure(pos, edge_index, width: int, l_max: int, repeats: int) -> dict:
    torch.manual_seed(0)
    ours, theirs, dim_in = products(width, l_max)
    num_edges = edge_index.shape[1]
    sh_ours, _ = edge_harmonics(pos, edge_index, l_max)  # our axes
    # e3nn's harmonics of the same edges, in its axis order (x, y, z) -> our (y, z, x): the same numbers, see
    # minignn.spherical; the products then agree entry by entry
    sh = sh_ours.contiguous()
    x = torch.randn(num_edges, dim_in)
    w = torch.randn(num_edges, ours.weight_numel)
    ref = theirs(x, sh, w)
    err = float((ours(x, sh, w) - ref).abs().max() / ref.abs().max())
    assert err < 1e-4, f"the two products disagree: {err:.1e}"
    leaves = [t.clone().requires_grad_() for t in (x, sh, w)]

    def fwd(tp):
        with torch.no_grad():
            return tp(x, sh, w)

    def fwd_bwd(tp):
        out = tp(*leaves)
        out.square().sum().backward()
        for t in leaves:
            t.grad = None

    times = min_time({"ours fwd": lambda: fwd(ours), "e3nn fwd": lambda: fwd(theirs),
                      "ours fwd+bwd": lambda: fwd_bwd(ours), "e3nn fwd+bwd": lambda: fwd_bwd(theirs)},
                     repeats=repeats, min_seconds=1.0)
    ns = {k: 1e9 * v / num_edges for k, v in times.items()}
    return dict(width=width, l_max=l_max, edges=num_edges, paths=len(ours.paths), weights=ours.weight_numel,
                err=err, share=einsum_share(lambda: fwd_bwd(ours)), **ns)


def table(rows: list[dict]) -> str:
    head = ("| width | l_max | paths | weights per edge | ours fwd (ns/edge) | e3nn fwd (ns/edge) | ours fwd+bwd (ns/edge) "
            "| e3nn fwd+bwd (ns/edge) | e3nn / ours (fwd+bwd) | ours: share in contractions |")
    lines = [head, "|" + " --- |" * 10]
    for r in rows:
        lines.append(f"| {r['width']} | {r['l_max']} | {r['paths']} | {r['weights']} | {r['ours fwd']:.0f} | "
                     f"{r['e3nn fwd']:.0f} | {r['ours fwd+bwd']:.0f} | {r['e3nn fwd+bwd']:.0f} | "
                     f"{r['e3nn fwd+bwd'] / r['ours fwd+bwd']:.2f} | {100 * r['share']:.0f}% |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    pos, edge_index = qm7_batch()
    rows = []
    for width, l_max in CONFIGS:
        rows.append(measure(pos, edge_index, width, l_max, args.repeats))
        r = rows[-1]
        print(f"width {width:3d} l_max {l_max}: {r['edges']} edges, ours {r['ours fwd+bwd']:.0f} ns/edge, "
              f"e3nn {r['e3nn fwd+bwd']:.0f} ns/edge (fwd+bwd); max rel. difference {r['err']:.1e}", flush=True)
    import e3nn

    body = "\n".join([
        "## Tensor product speed (minignn against e3nn)",
        "",
        f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
        f"- command: `python benchmarks/tensor_product.py{' ' + ' '.join(argv or sys.argv[1:]) if (argv or sys.argv[1:]) else ''}`",
        f"- machine: {results.cpu_model()}, torch threads 1 (a shared machine: minimum over interleaved repeats)",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, e3nn {e3nn.__version__}",
        f"- workload: NequIP's channel-wise product (uvu) of node features (width channels of each degree up to "
        f"l_max) with the edge harmonics up to l_max, one row of path weights per edge, float32; 32 QM7 molecules, "
        f"radius graph 5 A: {rows[0]['edges']} edges",
        "- ours: one einsum per path (minignn.tensor_product); e3nn: its generated code (o3.TensorProduct); the same "
        "paths and weights, outputs equal to 1e-4",
        "",
        table(rows),
    ])
    print()
    print(table(rows))
    if not args.no_write:
        results.write_section("tensor_product", body, pathlib.Path(args.results))
        print(f"wrote the tensor_product section of {args.results}")
    return rows


if __name__ == "__main__":
    main()
