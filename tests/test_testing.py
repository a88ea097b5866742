"""Tests of minignn.testing: the symmetry checks must pass symmetric functions and catch broken ones."""

import itertools

import pytest
import torch

from minignn.geometry import random_rotation
from minignn.testing import (
    SymmetryReport,
    assert_euclidean,
    assert_permutation,
    check_euclidean,
    check_permutation,
    default_tolerance,
    permute_nodes,
    random_molecule,
    random_permutation,
    relative_error,
)

TRANSFORMS = ["rotation", "reflection", "translation", "permutation"]


@pytest.fixture
def mol():
    """A random 12-atom molecule in float64: (pos, x, edge_index)."""
    return random_molecule(12, 4, generator=torch.Generator().manual_seed(1))


# ---- functions with known symmetry (written independently of the helpers) ----------
# In the package's order: a model takes (x, pos, edge_index), a function of positions alone takes pos.


def distance_sum(pos):  # invariant
    return torch.cdist(pos, pos).sum()


def x_coordinate_sum(pos):  # not invariant under rotation / translation
    return pos[:, 0].sum()


def pair_forces(pos):  # equivariant vectors [N, 3]
    diff = pos[:, None, :] - pos[None, :, :]
    return (diff * torch.exp(-(diff**2).sum(-1, keepdim=True))).sum(1)


def egnn_like(x, pos, edge_index):
    """A two-layer EGNN-style update (loop-free, via index_add_): (new pos, new node scalars)."""
    src, dst = edge_index
    h = x
    for _ in range(2):
        diff = pos[dst] - pos[src]  # [E, 3]
        d2 = (diff**2).sum(-1, keepdim=True)  # [E, 1]
        m = torch.tanh(h[src] + h[dst] + d2)  # [E, F]
        w = m.sum(-1, keepdim=True) / 10  # [E, 1]
        pos = pos + torch.zeros_like(pos).index_add_(0, dst, w * diff)
        h = h + torch.zeros_like(h).index_add_(0, dst, m)
    return pos, h


def signed_volume(pos):  # pseudoscalar: flips sign under reflections
    a, b, c = (pos[1:4] - pos[:1]).unbind(0)
    return torch.dot(a, torch.linalg.cross(b, c)).reshape(1)


def centroid_cross(pos):  # pseudovector: sum of r_i x r_(i+1) about the centroid
    r = pos - pos.mean(0)
    return torch.linalg.cross(r, r.roll(1, 0)).sum(0)


def neighbour_sum(x, edge_index):  # U(x)_dst = sum over incoming edges of x_src, as a Python loop
    out = torch.zeros_like(x)
    for s, d in edge_index.T.tolist():
        out[d] += x[s]
    return out


# ---- relative error, permutations ------------------------------------------------


def test_relative_error_definition():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])
    assert relative_error(a, b) == pytest.approx(2.0 / 4.0)
    assert relative_error(torch.zeros(3), torch.zeros(3)) == 0.0
    assert relative_error(torch.zeros(0), torch.zeros(0)) == 0.0
    assert relative_error(torch.tensor([float("nan")]), torch.tensor([1.0])) == float("inf")
    assert relative_error(torch.tensor([3, 4]), torch.tensor([3, 5])) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(torch.zeros(2), torch.zeros(3))


def test_default_tolerance():
    assert default_tolerance(torch.float64) == 1e-12
    assert default_tolerance(torch.float32) == 1e-5
    with pytest.raises(ValueError, match="floating-point"):
        default_tolerance(torch.int64)


def test_random_permutation_is_a_reproducible_permutation():
    p = random_permutation(50, torch.Generator().manual_seed(3))
    assert p.dtype == torch.long and sorted(p.tolist()) == list(range(50))
    assert torch.equal(p, random_permutation(50, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match=">= 0"):
        random_permutation(-1)


def test_permute_nodes_new_node_k_is_old_node_perm_k(mol):
    pos, x, edge_index = mol
    perm = random_permutation(12, torch.Generator().manual_seed(0))
    x2, pos2, ei2 = permute_nodes(perm, x, pos, edge_index)
    for k in range(12):
        assert torch.equal(x2[k], x[perm[k]]) and torch.equal(pos2[k], pos[perm[k]])
    # edges keep their order: new edge e joins the images of the old endpoints
    for (s_old, d_old), (s_new, d_new) in zip(edge_index.T.tolist(), ei2.T.tolist()):
        assert (perm[s_new].item(), perm[d_new].item()) == (s_old, d_old)


def test_permute_nodes_returns_the_triple_with_none_kept_in_place(mol):
    """Always (x', pos', edge_index'), in the package's order, with None where the input was None."""
    pos, x, edge_index = mol
    perm = random_permutation(12, torch.Generator().manual_seed(0))
    inv = torch.argsort(perm)  # inv[perm[k]] = k
    expected = (x[perm], pos[perm], inv[edge_index])
    for keep in itertools.product([True, False], repeat=3):
        given = [t if k else None for t, k in zip((x, pos, edge_index), keep)]
        out = permute_nodes(perm, *given)
        assert isinstance(out, tuple) and len(out) == 3, keep
        for got, want, k in zip(out, expected, keep):
            assert (got is None) if not k else torch.equal(got, want), keep
    # by keyword too: the graph without positions keeps the middle slot empty
    x2, pos2, ei2 = permute_nodes(perm, x, edge_index=edge_index)
    assert pos2 is None and torch.equal(x2, x[perm]) and torch.equal(ei2, inv[edge_index])


def test_permute_nodes_errors(mol):
    pos, x, edge_index = mol
    with pytest.raises(ValueError, match="permutation of 0..11"):
        permute_nodes(torch.zeros(12, dtype=torch.long), x, pos, edge_index)
    with pytest.raises(ValueError, match="LongTensor"):
        permute_nodes(torch.arange(12.0), x, pos, edge_index)
    with pytest.raises(ValueError, match="x has 11 rows"):
        permute_nodes(torch.arange(12), x[:11], pos, edge_index)
    with pytest.raises(ValueError, match="pos has 11 rows"):
        permute_nodes(torch.arange(12), x, pos[:11], edge_index)
    with pytest.raises(ValueError, match=r"refers to nodes in \[1, 12\] but the graph has 12 nodes \(indices 0..11\)"):
        permute_nodes(torch.arange(12), x, edge_index=edge_index + 1)
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        permute_nodes(torch.arange(12), x, edge_index=edge_index[0])


# ---- check_permutation -------------------------------------------------------------


def test_check_permutation_passes_equivariant_and_invariant(mol):
    _, x, edge_index = mol
    assert check_permutation(neighbour_sum, x, edge_index=edge_index) < 1e-15
    assert check_permutation(lambda x, ei: neighbour_sum(x, ei).sum(0), x, edge_index=edge_index,
                             output="graph") < 1e-15
    edge_fn = lambda x, ei: x[ei[0]] - 2 * x[ei[1]]  # noqa: E731
    assert check_permutation(edge_fn, x, edge_index=edge_index, output="edges") == 0.0
    both = lambda x, ei: (neighbour_sum(x, ei), x.sum())  # noqa: E731
    assert check_permutation(both, x, edge_index=edge_index, output=("nodes", "graph")) < 1e-15


def test_check_permutation_with_positions(mol):
    pos, x, edge_index = mol
    fn = lambda x, pos, ei: x * (pos[ei[1]] - pos[ei[0]]).norm(dim=1).sum()  # noqa: E731
    assert check_permutation(fn, x, pos, edge_index) < 1e-14
    assert check_permutation(lambda pos: pos.cumsum(0), None, pos) > 0.1


def test_check_permutation_catches_order_dependence(mol):
    _, _, edge_index = mol
    x = torch.randn(12, 4, dtype=torch.float64)  # distinct rows (one-hot types would tie)
    assert check_permutation(lambda x, ei: x.cumsum(0), x, edge_index=edge_index) > 0.1
    assert check_permutation(lambda x, ei: x[0].expand_as(x), x, edge_index=edge_index) > 0.1  # privileged node 0
    # declaring a node output "graph" is caught too
    assert check_permutation(neighbour_sum, x, edge_index=edge_index, output="graph") > 0.1
    identity = torch.arange(12)
    assert check_permutation(lambda x, ei: x.cumsum(0), x, edge_index=edge_index, perm=identity) == 0.0
    with pytest.raises(AssertionError, match="Permutation equivariance fails"):
        assert_permutation(lambda x, ei: x.cumsum(0), x, edge_index=edge_index)
    assert assert_permutation(neighbour_sum, x, edge_index=edge_index) < 1e-12


def test_check_permutation_errors(mol):
    _, x, edge_index = mol
    with pytest.raises(ValueError, match="Tensor or a tuple of Tensors"):
        check_permutation(lambda x, ei: 3.0, x, edge_index=edge_index)
    with pytest.raises(ValueError, match="2 outputs but 3"):
        check_permutation(lambda x, ei: (x, x), x, edge_index=edge_index, output=("nodes",) * 3)
    with pytest.raises(ValueError, match="output level must be one of"):
        check_permutation(neighbour_sum, x, edge_index=edge_index, output="atoms")
    with pytest.raises(ValueError, match=r"node-level output must have shape \[12"):
        check_permutation(lambda x, ei: x.sum(0), x, edge_index=edge_index)
    with pytest.raises(ValueError, match="needs x or pos"):
        check_permutation(neighbour_sum, None, edge_index=edge_index)


# ---- check_euclidean ---------------------------------------------------------------


def test_report_is_a_dict_that_prints_as_a_table(mol):
    pos = mol[0]
    report = check_euclidean(distance_sum, None, pos)
    assert isinstance(report, SymmetryReport) and isinstance(report, dict)
    assert list(report) == TRANSFORMS
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["transformation", "max", "relative", "error"]
    assert [line.split()[0] for line in lines[1:]] == TRANSFORMS
    assert [float(line.split()[1]) for line in lines[1:]] == pytest.approx(list(report.values()), rel=0.06)
    assert repr(report) == text


def test_invariant_passes_and_raw_coordinate_fails(mol):
    pos = mol[0]
    good = check_euclidean(distance_sum, None, pos)
    assert max(good.values()) < 1e-14
    bad = check_euclidean(x_coordinate_sum, None, pos)
    assert bad["rotation"] > 1e-2 and bad["reflection"] > 1e-2 and bad["translation"] > 1e-2
    assert bad["permutation"] < 1e-14  # a sum over nodes does not care about their order
    with pytest.raises(AssertionError, match=r"fails for \['rotation', 'reflection', 'translation'\]"):
        assert_euclidean(x_coordinate_sum, None, pos)


def test_equivariant_and_position_outputs(mol):
    pos, x, edge_index = mol
    assert max(check_euclidean(pair_forces, None, pos, outputs="equivariant").values()) < 1e-14
    wrong = check_euclidean(pair_forces, None, pos, outputs="invariant")
    assert wrong["rotation"] > 1e-2 and wrong["reflection"] > 1e-2 and wrong["translation"] < 1e-14
    report = assert_euclidean(egnn_like, x, pos, edge_index, outputs=("position", "invariant"))
    assert max(report.values()) < 1e-13
    # updated coordinates declared "equivariant" (not translated) fail the translation check
    wrong = check_euclidean(egnn_like, x, pos, edge_index, outputs=("equivariant", "invariant"))
    assert wrong["translation"] > 1e-2 and wrong["rotation"] < 1e-13


def test_pseudo_kinds(mol):
    pos = mol[0]
    report = check_euclidean(signed_volume, None, pos, outputs="pseudoscalar", transforms=TRANSFORMS[:3])
    assert max(report.values()) < 1e-13
    as_scalar = check_euclidean(signed_volume, None, pos, outputs="invariant", transforms=TRANSFORMS[:3])
    assert as_scalar["rotation"] < 1e-13 and as_scalar["reflection"] == pytest.approx(2.0)
    report = check_euclidean(centroid_cross, None, pos, outputs="pseudovector")
    assert max(report["rotation"], report["reflection"], report["translation"]) < 1e-13
    assert report["permutation"] > 0.1  # roll(1) pairs each node with the previous one: order matters
    assert check_euclidean(centroid_cross, None, pos, outputs="equivariant")["reflection"] > 1.0


def test_callable_kind_representation(mol):
    pos = mol[0]
    P = torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=pos.dtype)  # (x, y, z) -> (y, z, x)
    fn = lambda pos: pair_forces(pos) @ P.T  # noqa: E731  components permuted
    report = check_euclidean(fn, None, pos, outputs=lambda Q: P @ Q @ P.T)
    assert max(report.values()) < 1e-14
    assert check_euclidean(fn, None, pos, outputs="equivariant")["rotation"] > 1e-2


def test_float32_smoke(mol):
    pos, x, edge_index = (t.float() if t.is_floating_point() else t for t in mol)
    report = assert_euclidean(egnn_like, x, pos, edge_index, outputs=("position", "invariant"))
    assert max(report.values()) < 1e-5
    assert check_euclidean(x_coordinate_sum, None, pos)["rotation"] > 1e-2


def test_trials_subset_and_reproducibility(mol):
    pos = mol[0]
    one = check_euclidean(x_coordinate_sum, None, pos, generator=torch.Generator().manual_seed(5),
                          transforms=["rotation"])
    assert list(one) == ["rotation"]
    again = check_euclidean(x_coordinate_sum, None, pos, generator=torch.Generator().manual_seed(5),
                            transforms=["rotation"])
    assert one == again
    many = check_euclidean(x_coordinate_sum, None, pos, generator=torch.Generator().manual_seed(5),
                           transforms=["rotation"], trials=5)
    assert many["rotation"] >= one["rotation"]  # the first draw is the same; the max can only grow


def test_graph_level_vector_and_level_guess():
    pos, x, edge_index = random_molecule(3, generator=torch.Generator().manual_seed(0))
    dipole = lambda x, pos, ei: (x[:, :1] * (pos - pos.mean(0))).sum(0)  # noqa: E731  shape [3], N = 3
    assert max(check_euclidean(dipole, x, pos, edge_index, outputs="equivariant").values()) < 1e-14
    # a per-node scalar with num_nodes == num_edges is ambiguous (the graph is passed: fn(pos, edge_index))
    ring = torch.tensor([[0, 1, 2], [1, 2, 0]])
    with pytest.raises(ValueError, match="pass levels="):
        check_euclidean(lambda pos, ei: pos.norm(dim=1), None, pos, ring)
    report = check_euclidean(lambda p, ei: (p - p.mean(0)).norm(dim=1), None, pos, ring, levels="nodes")
    assert max(report.values()) < 1e-14


def test_check_euclidean_errors(mol):
    pos, x, edge_index = mol
    with pytest.raises(ValueError, match=r"shape \[num_nodes, 3\]"):
        check_euclidean(distance_sum, None, pos[:, :2])
    with pytest.raises(ValueError, match="without NaN"):
        check_euclidean(distance_sum, None, torch.full((3, 3), float("nan")))
    with pytest.raises(ValueError, match="x has 5 rows"):
        check_euclidean(egnn_like, x[:5], pos)
    with pytest.raises(ValueError, match="unknown transforms"):
        check_euclidean(distance_sum, None, pos, transforms=["shear"])
    with pytest.raises(ValueError, match="output kind must be one of"):
        check_euclidean(distance_sum, None, pos, outputs="scalar")
    with pytest.raises(ValueError, match="1 outputs but 2 output kinds"):
        check_euclidean(distance_sum, None, pos, outputs=("invariant", "invariant"))
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 3\]"):
        check_euclidean(lambda p: p[:, :2], None, pos, outputs="equivariant")
    with pytest.raises(ValueError, match="int64"):
        check_euclidean(egnn_like, x, pos, edge_index.int())
    with pytest.raises(ValueError, match="trials must be >= 1"):
        check_euclidean(distance_sum, None, pos, trials=0)
    with pytest.raises(ValueError, match="levels must be among"):
        check_euclidean(distance_sum, None, pos, levels="atoms")


def test_random_molecule():
    pos, x, edge_index = random_molecule(20, 5, generator=torch.Generator().manual_seed(2))
    assert pos.shape == (20, 3) and x.shape == (20, 5) and pos.dtype == x.dtype == torch.float64
    assert torch.equal(x.sum(1), torch.ones(20, dtype=torch.float64))  # one-hot
    dist = torch.cdist(pos, pos)
    assert (dist + torch.eye(20) * 10).min() >= 0.7
    expected = {(s, d) for s in range(20) for d in range(20) if s != d and dist[s, d] < 2.5}
    assert set(map(tuple, edge_index.T.tolist())) == expected and edge_index.shape[1] == len(expected)
    assert random_molecule(0)[2].shape == (2, 0)
    with pytest.raises(ValueError, match="could not place"):
        random_molecule(50, min_distance=100.0)


def test_rotated_molecule_has_same_errors_scale(mol):
    """The check does not depend on how the molecule is presented (it is itself invariant)."""
    pos = mol[0]
    R = random_rotation(torch.Generator().manual_seed(9))
    a = check_euclidean(distance_sum, None, pos @ R.T)
    assert max(a.values()) < 1e-14


# ---- the calling convention: fn(x, pos, edge_index), None left out ------------------


def role(t):
    """Which input of the ``mol`` fixture t is (or a transformed copy of), from its dtype and shape."""
    if t.dtype == torch.long:
        return "edge_index"  # [2, E]
    return {(12, 4): "x", (12, 3): "pos"}[tuple(t.shape)]


class Recorder:
    """A function that records every call and returns a graph-level zero (symmetric under everything)."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return torch.zeros((), dtype=torch.float64)


@pytest.mark.parametrize(
    "given", [("x", "pos", "edge_index"), ("pos",), ("pos", "edge_index"), ("x", "edge_index")], ids="-".join
)
def test_checkers_call_fn_in_the_package_order(mol, given):
    """Every checker calls fn(x, pos, edge_index) positionally, in that order, leaving out the None ones."""
    pos, x, edge_index = mol
    names = ("x", "pos", "edge_index")
    args = tuple({"x": x, "pos": pos, "edge_index": edge_index}[n] if n in given else None for n in names)
    kw = dict(zip(names, args))
    checkers = {  # the checker's own arguments, positionally and by keyword
        "check_permutation": lambda f: check_permutation(f, *args, output="graph"),
        "check_permutation(kw)": lambda f: check_permutation(f, **kw, output="graph"),
        "assert_permutation": lambda f: assert_permutation(f, *args, output="graph"),
        "assert_permutation(kw)": lambda f: assert_permutation(f, **kw, output="graph"),
    }
    if "pos" in given:  # the E(3) checks need positions
        checkers.update({
            "check_euclidean": lambda f: check_euclidean(f, *args),
            "check_euclidean(kw)": lambda f: check_euclidean(f, **kw),
            "assert_euclidean": lambda f: assert_euclidean(f, *args),
            "assert_euclidean(kw)": lambda f: assert_euclidean(f, **kw),
        })
    passed = tuple(a for a in args if a is not None)
    for name, check in checkers.items():
        fn = Recorder()
        check(fn)
        assert len(fn.calls) >= 2, name  # the original inputs, then transformed ones
        first, _ = fn.calls[0]
        assert len(first) == len(passed) and all(a is b for a, b in zip(first, passed)), name
        for call_args, call_kwargs in fn.calls:
            assert call_kwargs == {}, name
            assert tuple(role(a) for a in call_args) == given, name  # same order for transformed inputs
