"""Numerical symmetry checks: node permutation, rotation, reflection, translation.

A function f is *equivariant* under a transformation g if f(g . input) = g . f(input),
and *invariant* if f(g . input) = f(input).  Each check below draws a random g,
evaluates both sides and reports the

    relative error  = max |a - b| / max(max |b|, tiny)            (relative_error)

where b is the expected output and ``tiny`` is the smallest positive normal
number of the dtype.  Tolerances (``default_tolerance``): 1e-12 in float64,
1e-5 in float32.

Node relabelling (``permute_nodes``): *new node k is old node perm[k]*, so
``x_new = x[perm]``, ``pos_new = pos[perm]`` and every index i in ``edge_index``
becomes ``inv[i]`` with ``inv[perm[k]] = k``.  Edges keep their order, so edge
features and edge-level outputs need no permutation.

Every checker calls the function it checks in the package's order, ``fn(x, pos, edge_index)``,
leaving out the arguments that are None (:func:`call`), so a model is passed as it is.

Quick use in a notebook::

    print(check_euclidean(model, x, pos, edge_index))            # a table of errors
    assert_euclidean(model, x, pos, edge_index, outputs=("invariant", "equivariant"))
    check_permutation(mpnn, x, edge_index=edge_index)

Book: chapter equivariance, section "Checking symmetries numerically".
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from minignn.checks import check_int, check_number
from minignn.geometry import random_reflection, random_rotation, random_translation
from minignn.graph import check_edge_index

__all__ = [
    "relative_error",
    "default_tolerance",
    "random_permutation",
    "permute_nodes",
    "check_permutation",
    "check_euclidean",
    "assert_permutation",
    "assert_euclidean",
    "SymmetryReport",
    "random_molecule",
    "call",
]

TRANSFORMS = ("rotation", "reflection", "translation", "permutation")
KINDS = ("invariant", "equivariant", "position", "pseudoscalar", "pseudovector")
LEVELS = ("nodes", "graph", "edges")


class SymmetryReport(dict):
    """A ``dict`` {transformation: max relative error} that prints as a small table."""

    def __repr__(self) -> str:
        width = max([len("transformation")] + [len(k) for k in self])
        lines = [f"{'transformation':<{width}}  max relative error"]
        lines += [f"{k:<{width}}  {v:.1e}" for k, v in self.items()]
        return "\n".join(lines)

    __str__ = __repr__


def default_tolerance(dtype: torch.dtype) -> float:
    """Largest acceptable relative error: 1e-12 (float64), 1e-5 (float32), 1e-2 (half types)."""
    if dtype == torch.float64:
        return 1e-12
    if dtype == torch.float32:
        return 1e-5
    if dtype in (torch.float16, torch.bfloat16):
        return 1e-2
    raise ValueError(f"no default tolerance for dtype {dtype}; expected a floating-point dtype")


def relative_error(actual: Tensor, expected: Tensor) -> float:
    """max |actual - expected| / max(max |expected|, tiny); 0.0 for empty tensors.

    Args:
        actual, expected: tensors of the same shape.

    Returns:
        A Python float (``inf`` if ``actual`` has NaN while ``expected`` has not).
    """
    if not isinstance(actual, Tensor) or not isinstance(expected, Tensor):
        raise ValueError(f"actual and expected must be tensors, got {type(actual).__name__} and {type(expected).__name__}")
    if actual.shape != expected.shape:
        raise ValueError(
            f"output shapes differ: {tuple(actual.shape)} vs {tuple(expected.shape)}; "
            "the function must return the same shapes for transformed inputs"
        )
    if expected.numel() == 0:
        return 0.0
    a, b = actual.detach(), expected.detach()
    if not (a.is_floating_point() or a.is_complex()):
        a, b = a.double(), b.double()
    diff = (a - b).abs()
    if torch.isnan(diff).any():
        return float("inf") if not torch.isnan(b).all() else float("nan")
    tiny = torch.finfo(b.dtype if b.is_floating_point() else torch.float64).tiny
    return float(diff.max() / max(float(b.abs().max()), tiny))


def random_permutation(n: int, generator: torch.Generator | None = None) -> Tensor:
    """A uniformly random permutation of 0..n-1 (LongTensor ``[n]``)."""
    if isinstance(n, int) and n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return torch.randperm(check_int(n, "n"), generator=generator)


def random_molecule(
    num_nodes: int = 10,
    num_features: int = 4,
    *,
    cutoff: float = 2.5,
    min_distance: float = 0.7,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor, Tensor]:
    """A random molecule-like point cloud with its radius graph, for symmetry tests.

    Atoms are drawn one by one from N(0, s^2 I_3), s = 0.7 num_nodes^(1/3), and redrawn
    while closer than ``min_distance`` to an earlier atom; node features are one-hot
    atom types; edges join every ordered pair (src, dst), src != dst, with
    |r_src - r_dst| < cutoff (both directions, sorted by src then dst).

    Returns:
        ``(pos [num_nodes, 3], x [num_nodes, num_features], edge_index [2, E])``.

    Book: chapter equivariance, section "Checking symmetries numerically".
    """
    if isinstance(num_nodes, int) and isinstance(num_features, int) and (num_nodes < 0 or num_features < 1):
        raise ValueError(f"need num_nodes >= 0 and num_features >= 1, got {num_nodes}, {num_features}")
    num_nodes, num_features = check_int(num_nodes, "num_nodes"), check_int(num_features, "num_features", minimum=1)
    cutoff = check_number(cutoff, "cutoff", minimum=0)
    min_distance = check_number(min_distance, "min_distance", minimum=0)
    spread = 0.7 * max(num_nodes, 1) ** (1 / 3)
    points: list[Tensor] = []
    for _ in range(num_nodes):
        for _attempt in range(1000):
            p = torch.randn(3, generator=generator, dtype=torch.float64) * spread
            if all(float((p - q).norm()) >= min_distance for q in points):
                break
        else:
            raise ValueError(f"could not place {num_nodes} atoms {min_distance} apart; lower min_distance")
        points.append(p)
    pos = torch.stack(points) if points else torch.zeros(0, 3, dtype=torch.float64)
    types = torch.randint(num_features, (num_nodes,), generator=generator)
    x = torch.nn.functional.one_hot(types, num_features).to(dtype)
    close = (torch.cdist(pos, pos) < cutoff) & ~torch.eye(num_nodes, dtype=torch.bool)
    edge_index = close.nonzero().T.contiguous()  # [2, E], row-major: sorted by src, then dst
    return pos.to(dtype), x, edge_index


def _check_edge_index(edge_index: Tensor | None, num_nodes: int) -> None:
    if edge_index is not None:
        check_edge_index(edge_index, num_nodes)


def permute_nodes(perm: Tensor, x: Tensor | None, pos: Tensor | None = None, edge_index: Tensor | None = None):
    """Relabel nodes so that new node k is old node perm[k].

        x'_k = x_{perm[k]},   pos'_k = pos_{perm[k]},   (src, dst) -> (inv[src], inv[dst])

    with ``inv`` the inverse permutation.  Edges keep their order.

    Args (the package's order, see :func:`call`):
        perm: LongTensor ``[num_nodes]``, a permutation of 0..num_nodes-1.
        x: ``[num_nodes, ...]`` or None.  pos: ``[num_nodes, 3]`` or None.  edge_index: ``[2, E]`` or None.

    Returns:
        ``(x', pos', edge_index')``, None where the input was None.

    Book: chapter equivariance, section "Checking symmetries numerically".
    """
    if not isinstance(perm, Tensor):
        raise ValueError(f"perm must be a 1-D LongTensor, got {type(perm).__name__}")
    n = perm.numel()
    if perm.dim() != 1 or perm.dtype != torch.long:
        raise ValueError(f"perm must be a 1-D LongTensor, got shape {tuple(perm.shape)}, {perm.dtype}")
    if not torch.equal(torch.sort(perm).values, torch.arange(n, device=perm.device)):
        raise ValueError(f"perm must be a permutation of 0..{n - 1}, got {perm.tolist()[:10]}...")
    for name, t in (("x", x), ("pos", pos)):
        if t is not None and (not isinstance(t, Tensor) or t.dim() == 0):
            raise ValueError(f"{name} must be a tensor [num_nodes, ...] or None, got {type(t).__name__}")
        if t is not None and t.shape[0] != n:
            raise ValueError(f"{name} has {t.shape[0]} rows but perm has {n} entries")
    _check_edge_index(edge_index, n)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n, device=perm.device)
    return (None if x is None else x[perm], None if pos is None else pos[perm],
            None if edge_index is None else inv[edge_index])


def call(fn: Callable, x: Tensor | None, pos: Tensor | None, edge_index: Tensor | None):
    """The package's calling convention: ``fn(x, pos, edge_index)``, leaving out the arguments that are None.

    Every model takes node features first, then positions (if it reads them), then the graph, then
    optional arguments by keyword: ``MPNN(x, edge_index)``, ``EGNN(x, pos, edge_index)``,
    ``PaiNN(x, pos, edge_index)``, ``EDM(h, pos, edge_index, t=...)``; a function of positions alone
    takes ``pos`` first (``spherical_harmonics``-like features: ``fn(pos)`` or ``fn(pos, edge_index)``).  The
    checkers call the function they check this way, so a model is passed as it is, with no adapter.

    Book: chapter equivariance, section "Checking symmetries numerically".
    """
    if not callable(fn):
        raise ValueError(f"fn must be a callable fn(x, pos, edge_index), got {type(fn).__name__}")
    return fn(*(a for a in (x, pos, edge_index) if a is not None))


def _as_tuple(out) -> tuple[Tensor, ...]:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise ValueError(f"fn must return a Tensor or a tuple of Tensors; output {k} is {type(o).__name__}")
    return tuple(outs)


def _per_output(spec, n_out: int, name: str) -> tuple:
    specs = (spec,) if isinstance(spec, str) or callable(spec) else tuple(spec)
    if len(specs) == 1:
        specs = specs * n_out
    if len(specs) != n_out:
        raise ValueError(f"fn returned {n_out} outputs but {len(specs)} {name} were given: {specs}")
    return specs


def _permute_output(o: Tensor, level: str, perm: Tensor, num_nodes: int) -> Tensor:
    if level not in LEVELS:
        raise ValueError(f"output level must be one of {LEVELS}, got {level!r}")
    if level != "nodes":
        return o  # graph-level outputs are invariant; edges keep their order
    if o.dim() == 0 or o.shape[0] != num_nodes:
        raise ValueError(f"a node-level output must have shape [{num_nodes}, ...], got {tuple(o.shape)}")
    return o[perm]


def check_permutation(
    fn: Callable,
    x: Tensor | None,
    pos: Tensor | None = None,
    edge_index: Tensor | None = None,
    *,
    output: str | Sequence[str] = "nodes",
    perm: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> float:
    """Max relative error of  fn(P . inputs)  vs  P . fn(inputs)  for a node relabelling P.

    ``fn`` is called as ``fn(x, pos, edge_index)``, leaving out the arguments that are None
    (:func:`call`): ``check_permutation(mpnn, x, edge_index=edge_index)`` calls ``mpnn(x, edge_index)``.
    It returns a Tensor or a tuple of Tensors.  Each output is
    ``"nodes"`` (rows follow the nodes: permuted), ``"graph"`` (must not change)
    or ``"edges"`` (edges keep their order under ``permute_nodes``: must not change).

    Args:
        fn: the function to check.
        x: ``[num_nodes, F]`` (or None if ``pos`` is given).
        pos: ``[num_nodes, 3]`` or None.
        edge_index: ``[2, E]`` or None.
        output: one level for all outputs, or one per output.
        perm: the permutation (default: random, see ``random_permutation``).
        generator: optional ``torch.Generator`` for the random permutation.

    Returns:
        The maximum relative error over all outputs (a float; ~1e-16 when equivariant).

    Book: chapter equivariance, section "Checking symmetries numerically".
    """
    if not callable(fn):
        raise ValueError(f"fn must be the callable to check, got {type(fn).__name__}")
    ref = x if x is not None else pos
    if ref is None:
        raise ValueError("check_permutation needs x or pos to know the number of nodes")
    if not isinstance(ref, Tensor) or ref.dim() == 0:
        raise ValueError(f"x (or pos) must be a tensor [num_nodes, ...], got {type(ref).__name__}")
    n = ref.shape[0]
    perm = random_permutation(n, generator) if perm is None else perm
    outs = _as_tuple(call(fn, x, pos, edge_index))
    outs_p = _as_tuple(call(fn, *permute_nodes(perm, x, pos, edge_index)))
    levels = _per_output(output, len(outs), "output levels")
    return max(
        [relative_error(op, _permute_output(o, lv, perm, n)) for o, op, lv in zip(outs, outs_p, levels)],
        default=0.0,
    )


def _expected(o: Tensor, kind, Q: Tensor | None, t: Tensor | None) -> Tensor:
    """How an output of a given kind transforms under r -> Q r + t."""
    if callable(kind):  # a representation: out -> out @ D(Q).T, translation invariant
        return o if Q is None else o @ kind(Q).to(o).T
    if kind not in KINDS:
        raise ValueError(f"output kind must be one of {KINDS} or a callable Q -> D(Q), got {kind!r}")
    det = 1.0 if Q is None else float(torch.linalg.det(Q.double()))
    if kind == "invariant":
        return o
    if kind == "pseudoscalar":
        return o * det
    if o.shape[-1:] != (3,):
        raise ValueError(f"a {kind!r} output must have shape [..., 3], got {tuple(o.shape)}")
    out = o if Q is None else o @ Q.to(o).T
    if kind == "pseudovector":
        return out * det
    if kind == "position" and t is not None:
        out = out + t.to(o)
    return out


def _guess_level(o: Tensor, kind, n: int, num_edges: int | None) -> str:
    vector = kind in ("equivariant", "position", "pseudovector")
    if o.dim() == 0 or o.shape[0] != n or (vector and o.dim() == 1):
        return "graph"
    if num_edges == n:
        raise ValueError(
            f"cannot tell whether an output of shape {tuple(o.shape)} is per node or per edge "
            f"(num_nodes = num_edges = {n}); pass levels=('nodes',) or levels=('edges',)"
        )
    return "nodes"


def check_euclidean(
    fn: Callable,
    x: Tensor | None,
    pos: Tensor,
    edge_index: Tensor | None = None,
    *,
    outputs: Sequence = ("invariant",),
    levels: Sequence[str] | str | None = None,
    transforms: Sequence[str] = TRANSFORMS,
    trials: int = 1,
    generator: torch.Generator | None = None,
) -> SymmetryReport:
    """Max relative error of fn under random E(3) motions and node relabellings.

    For r_i -> Q r_i + t (Q a rotation or a reflection) the expected outputs are

        "invariant"     s -> s                    (energies, distances, node scalars)
        "equivariant"   v -> Q v                  ([..., 3], e.g. forces; not translated)
        "position"      r -> Q r + t              ([..., 3], e.g. updated coordinates)
        "pseudoscalar"  s -> det(Q) s             (signed volumes, torsion angles)
        "pseudovector"  v -> det(Q) Q v           (cross products)
        callable D      f -> D(Q) f               (f [..., d], e.g. spherical harmonics of
                                                  degree l with D = estimate_wigner_D)

    ``fn`` is called as ``fn(x, pos, edge_index)``, leaving out the arguments that are None (:func:`call`):
    ``check_euclidean(model, x, pos, edge_index)`` calls ``model(x, pos, edge_index)``, and
    ``check_euclidean(f, None, pos)`` calls ``f(pos)``.  It returns a Tensor or a tuple.

    Args:
        fn: the function to check.
        x: ``[num_nodes, F]`` node features or None (not transformed, only permuted).
        pos: ``[num_nodes, 3]``, no NaN.
        edge_index: ``[2, E]`` or None.
        outputs: one kind per output (or a single kind for all).
        levels: "nodes", "graph" or "edges" per output; by default an output whose first
            dimension is num_nodes is per node, anything else is per graph / per edge.
        transforms: a subset of ("rotation", "reflection", "translation", "permutation").
        trials: number of random draws per transformation (the maximum is reported).
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        ``SymmetryReport`` (a dict) {transformation: max relative error}.

    Book: chapter equivariance, section "Checking symmetries numerically".
    """
    if not callable(fn):
        raise ValueError(f"fn must be the callable to check, got {type(fn).__name__}")
    if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must be a Tensor of shape [num_nodes, 3], got {getattr(pos, 'shape', pos)}")
    if not pos.is_floating_point() or not bool(torch.isfinite(pos).all()):
        raise ValueError("pos must be a floating-point tensor without NaN (or inf)")
    n = pos.shape[0]
    if x is not None and (not isinstance(x, Tensor) or x.dim() == 0 or x.shape[0] != n):
        raise ValueError(f"x has {x.shape[0] if isinstance(x, Tensor) and x.dim() else type(x).__name__} rows but "
                         f"pos has {n}")
    _check_edge_index(edge_index, n)
    bad = [t for t in transforms if t not in TRANSFORMS]
    if bad:
        raise ValueError(f"unknown transforms {bad}; choose from {TRANSFORMS}")
    if isinstance(trials, int) and trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    trials = check_int(trials, "trials", minimum=1)
    if isinstance(transforms, str):
        raise ValueError(f"transforms must be a sequence of names from {TRANSFORMS}, got the string {transforms!r}")

    outs = _as_tuple(call(fn, x, pos, edge_index))
    kinds = _per_output(outputs, len(outs), "output kinds")
    for k in kinds:
        _expected(torch.zeros(3, dtype=pos.dtype), k, None, None)  # validates the kind early
    num_edges = None if edge_index is None else edge_index.shape[1]
    lv = _per_output(levels, len(outs), "levels") if levels is not None else None
    lv = lv or tuple(_guess_level(o, k, n, num_edges) for o, k in zip(outs, kinds))
    if any(level not in LEVELS for level in lv):
        raise ValueError(f"levels must be among {LEVELS}, got {lv}")

    scale = max(float(pos.detach().abs().max()) if n else 0.0, 1.0)
    kw = dict(generator=generator, dtype=pos.dtype, device=pos.device)
    report = SymmetryReport()
    for name in transforms:
        err = 0.0
        for _ in range(trials):
            Q = t = None
            if name == "permutation":
                perm = random_permutation(n, generator).to(pos.device)
                x2, pos2, ei2 = permute_nodes(perm, x, pos, edge_index)
                new = _as_tuple(call(fn, x2, pos2, ei2))
                expect = [_permute_output(o, lvl, perm, n) for o, lvl in zip(outs, lv)]
            else:
                if name == "rotation":
                    Q = random_rotation(**kw)
                elif name == "reflection":
                    Q = random_reflection(**kw)
                else:
                    t = random_translation(**kw, scale=scale)
                pos2 = pos if Q is None else pos @ Q.T
                pos2 = pos2 if t is None else pos2 + t
                new = _as_tuple(call(fn, x, pos2, edge_index))
                expect = [_expected(o, k, Q, t) for o, k in zip(outs, kinds)]
            if len(new) != len(outs):
                raise ValueError(f"fn returned {len(outs)} outputs, then {len(new)} for transformed inputs")
            err = max([err] + [relative_error(a, b) for a, b in zip(new, expect)])
        report[name] = err
    return report


def _raise_if_large(report: SymmetryReport, tol: float, what: str) -> None:
    failed = [k for k, v in report.items() if not v <= tol]  # `not <=` also catches NaN
    if failed:
        raise AssertionError(f"{what} fails for {failed} (tolerance {tol:.0e}):\n{report}")


def assert_euclidean(
    fn: Callable,
    x: Tensor | None,
    pos: Tensor,
    edge_index: Tensor | None = None,
    *,
    tol: float | None = None,
    **kwargs,
) -> SymmetryReport:
    """``check_euclidean`` that raises AssertionError (with the table) if an error exceeds ``tol``.

    ``tol`` defaults to ``default_tolerance(pos.dtype)``; other keywords go to ``check_euclidean``.
    Returns the report when every error is within tolerance.
    """
    report = check_euclidean(fn, x, pos, edge_index, **kwargs)
    _raise_if_large(report, default_tolerance(pos.dtype) if tol is None else tol, "E(3) symmetry")
    return report


def assert_permutation(
    fn: Callable,
    x: Tensor | None,
    pos: Tensor | None = None,
    edge_index: Tensor | None = None,
    *,
    tol: float | None = None,
    **kwargs,
) -> float:
    """``check_permutation`` that raises AssertionError if the error exceeds ``tol``.

    ``tol`` defaults to ``default_tolerance`` of the dtype of ``pos`` (or of ``x`` if
    floating point, else of the default dtype).
    Returns the error when it is within tolerance.
    """
    err = check_permutation(fn, x, pos, edge_index, **kwargs)
    if tol is None:
        floats = [t for t in (pos, x) if t is not None and t.is_floating_point()]
        tol = default_tolerance(floats[0].dtype if floats else torch.get_default_dtype())
    _raise_if_large(SymmetryReport(permutation=err), tol, "Permutation equivariance")
    return err
