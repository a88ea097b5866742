"""Baselines (minignn.baselines): composition fit against numpy, Coulomb matrices against the formula and the QM7 file,
KRR against closed forms."""

import collections

import numpy as np
import pytest
import torch

from minignn.baselines import (CompositionBaseline, KernelRidge, Standardizer, composition, composition_baseline,
                               coulomb_matrix, fit_kernel_ridge, laplacian_kernel, mean_baseline,
                               sorted_coulomb_features)
from minignn.datasets.molecules import Molecule
from minignn.graph import Graph, batch
from minignn.testing import random_molecule

BOHR = 0.529177210903  # Angstrom per Bohr (CODATA 2018), written out here as an independent oracle


def random_atoms(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pos, _, _ = random_molecule(n, 1, generator=gen)
    z = torch.tensor([1, 6, 7, 8, 16, 6, 1, 1, 8][:n])
    return z, pos


def test_coulomb_matrix_against_formula():
    z, pos = random_atoms()
    C = coulomb_matrix(z, pos)
    n = z.numel()
    for i in range(n):
        for j in range(n):
            zi, zj = float(z[i]), float(z[j])
            expected = 0.5 * zi**2.4 if i == j else zi * zj / (float((pos[i] - pos[j]).norm()) / BOHR)
            assert abs(float(C[i, j]) - expected) <= 1e-12 * abs(expected)


def test_sorted_features_are_permutation_invariant_and_padded():
    z, pos = random_atoms()
    perm = torch.randperm(z.numel())
    a = sorted_coulomb_features([Molecule(z, pos)], size=8)
    b = sorted_coulomb_features([Molecule(z[perm], pos[perm])], size=8)
    assert a.shape == (1, 64)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    M = a.reshape(8, 8)
    assert (M[6:] == 0).all() and (M[:, 6:] == 0).all()
    norms = M[:6].norm(dim=1)
    assert (norms[:-1] >= norms[1:]).all()  # rows by decreasing norm
    raw = coulomb_matrix(z[perm], pos[perm])  # the unsorted matrix does change
    assert not torch.equal(raw, coulomb_matrix(z, pos))


def test_coulomb_matrix_matches_qm7_file():
    from minignn.datasets import load_qm7

    try:
        qm7 = load_qm7(download=False)
    except FileNotFoundError:
        pytest.skip("qm7.mat not available offline")
    for m in (0, 1, 1000, 7164):
        mol = qm7[m]
        n = mol.num_atoms
        C = coulomb_matrix(mol.z, mol.pos)
        X = qm7.coulomb[m, :n, :n].double()  # positions in Bohr in the file, ours converted back
        torch.testing.assert_close(C, X, rtol=1e-4, atol=1e-4)


def test_kernel_ridge_against_closed_form_and_sklearn():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(12, generator=gen, dtype=torch.float64) + 3.0
    xt = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    sigma, lam = 2.0, 1e-3
    K = torch.exp(-(x[:, None] - x[None]).abs().sum(-1) / sigma)
    Kt = torch.exp(-(xt[:, None] - x[None]).abs().sum(-1) / sigma)
    expected = y.mean() + Kt @ torch.linalg.inv(K + lam * torch.eye(12, dtype=torch.float64)) @ (y - y.mean())
    pred = KernelRidge(sigma, lam).fit(x, y).predict(xt)
    torch.testing.assert_close(pred, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(laplacian_kernel(xt, x, sigma), Kt, rtol=1e-12, atol=0)
    sk = pytest.importorskip("sklearn.kernel_ridge")
    ref = sk.KernelRidge(alpha=lam, kernel="laplacian", gamma=1 / sigma).fit(x.numpy(), (y - y.mean()).numpy())
    torch.testing.assert_close(pred, y.mean() + torch.from_numpy(ref.predict(xt.numpy())), rtol=1e-8, atol=1e-8)


def test_fit_kernel_ridge_picks_the_best_pair_and_its_scores_are_right():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(40, 3, generator=gen, dtype=torch.float64)
    y = torch.sin(4 * x).sum(1)
    xv = torch.rand(15, 3, generator=gen, dtype=torch.float64)
    yv = torch.sin(4 * xv).sum(1)
    model, info = fit_kernel_ridge(x, y, xv, yv, sigmas=(0.1, 1.0, 10.0), lams=(1e-8, 1e-2, 10.0))
    assert (info["sigma"], info["lam"]) == min(info["grid"], key=info["grid"].get)
    for (sigma, lam), score in info["grid"].items():  # the eigendecomposition shortcut = a direct solve
        direct = (KernelRidge(sigma, lam).fit(x, y).predict(xv) - yv).abs().mean()
        assert abs(score - float(direct)) < 1e-8
    assert info["val_mae"] < (yv - y.mean()).abs().mean()  # better than the mean


def test_mean_and_composition_baselines():
    y = torch.tensor([1.0, 2.0, 6.0])
    torch.testing.assert_close(mean_baseline(y, 2), torch.full((2,), 3.0, dtype=torch.float64))
    w, b = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64), 7.0
    counts = torch.tensor([[1, 0, 2], [0, 3, 1], [4, 1, 0], [2, 2, 2], [0, 0, 1]], dtype=torch.float64)
    test = torch.tensor([[5, 5, 5], [1, 0, 0]], dtype=torch.float64)
    pred = composition_baseline(counts, counts @ w + b, test)
    torch.testing.assert_close(pred, test @ w + b, rtol=1e-10, atol=1e-10)


def test_bad_inputs():
    z, pos = random_atoms()
    with pytest.raises(ValueError, match=r"pos must have shape \[n=6, 3\]"):
        coulomb_matrix(z, pos[:, :2])
    with pytest.raises(ValueError, match="atomic numbers must be >= 1"):
        coulomb_matrix(z * 0, pos)
    with pytest.raises(ValueError, match="finite"):
        coulomb_matrix(z, pos * float("nan"))
    same = pos.clone()
    same[1] = same[0]
    with pytest.raises(ValueError, match="same position"):
        coulomb_matrix(z, same)
    with pytest.raises(ValueError, match="size=4"):
        sorted_coulomb_features([Molecule(z, pos)], size=4)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        laplacian_kernel(pos, pos, 0.0)
    with pytest.raises(ValueError, match="one target per row"):
        KernelRidge(1.0, 0.1).fit(pos, torch.zeros(3))
    with pytest.raises(ValueError, match="before fit"):
        KernelRidge(1.0, 0.1).predict(pos)
    with pytest.raises(ValueError, match="at least one training target"):
        mean_baseline(torch.zeros(0), 3)


# -- composition, per-type linear baseline, standardisation ---------------------------------------
def typed_graphs(num_graphs, num_types, seed=0):
    """Graphs of 1 to 7 nodes with random integer types in x (no edges: the composition ignores them)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 8, (num_graphs,), generator=gen).tolist()
    return [Graph(edge_index=torch.empty(2, 0, dtype=torch.int64), x=torch.randint(0, num_types, (n,), generator=gen))
            for n in sizes]


def test_composition_matches_a_loop():
    graphs = typed_graphs(5, num_types=4, seed=1)
    counts = composition(batch(graphs), 4)
    for g, row in zip(graphs, counts):
        loop = collections.Counter(g.x.tolist())
        assert row.tolist() == [loop[k] for k in range(4)]
    assert torch.equal(composition(graphs[0], 4), counts[:1])  # a single graph gives [1, K]
    with pytest.raises(ValueError, match=r"node types must lie in \[0, 1\], got \[0, 3\]"):
        composition(Graph(edge_index=torch.empty(2, 0, dtype=torch.int64), x=torch.tensor([0, 3, 1])), 2)
    with pytest.raises(ValueError, match=r"integer node types x \[num_nodes\], got None"):
        composition(Graph(edge_index=torch.empty(2, 0, dtype=torch.int64), num_nodes=2), 3)
    with pytest.raises(ValueError, match=r"got torch.float32 \[3, 4\] \(or use baseline=False\)"):
        composition(Graph(edge_index=torch.empty(2, 0, dtype=torch.int64), x=torch.zeros(3, 4)), 4)


@pytest.mark.parametrize("bias", [True, False])
def test_composition_baseline_recovers_known_weights(bias):
    counts = torch.randint(0, 6, (40, 4), generator=torch.Generator().manual_seed(0)).double()
    w, b = torch.tensor([-3.5, 1.25, 0.5, 7.0], dtype=torch.float64), (2.0 if bias else 0.0)
    fit = CompositionBaseline(4, bias=bias).fit(counts, counts @ w + b)
    torch.testing.assert_close(fit.weight, w, rtol=0, atol=1e-10)
    assert abs(float(fit.intercept) - b) < 1e-10
    torch.testing.assert_close(fit.predict(counts), counts @ w + b, rtol=0, atol=1e-10)
    again = CompositionBaseline.from_state_dict(fit.state_dict())
    assert torch.equal(again.predict(counts), fit.predict(counts))


def test_composition_baseline_matches_numpy_lstsq_on_noisy_targets():
    gen = torch.Generator().manual_seed(1)
    counts = torch.randint(0, 5, (30, 3), generator=gen).double()
    noise = 0.1 * torch.randn(30, generator=gen, dtype=torch.float64)
    y = counts @ torch.tensor([1.0, -2.0, 0.3], dtype=torch.float64) + noise
    A = np.concatenate([counts.numpy(), np.ones((30, 1))], axis=1)
    oracle = np.linalg.lstsq(A, y.numpy(), rcond=None)[0]
    fit = CompositionBaseline(3).fit(counts, y)
    np.testing.assert_allclose(torch.cat([fit.weight, fit.intercept[None]]).numpy(), oracle, atol=1e-12)


def test_composition_baseline_errors():
    with pytest.raises(ValueError, match="before fit"):
        CompositionBaseline(3).predict(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"counts must have shape \[num_graphs, num_types=3\], got \[2, 4\]"):
        CompositionBaseline(3).fit(torch.zeros(2, 4), torch.zeros(2))
    with pytest.raises(ValueError, match="at least one graph"):
        CompositionBaseline(3).fit(torch.zeros(0, 3), torch.zeros(0))
    with pytest.raises(ValueError, match="one target per graph"):
        CompositionBaseline(3).fit(torch.zeros(4, 3), torch.zeros(3))


def test_standardizer_round_trip():
    r = 5.0 + 3.0 * torch.randn(100, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    s = Standardizer().fit(r)
    z = s.transform(r)
    assert abs(float(z.mean())) < 1e-12 and abs(float(z.std(correction=0)) - 1) < 1e-12
    torch.testing.assert_close(s.inverse(z), r, rtol=0, atol=1e-12)
    assert Standardizer(**s.state_dict()).state_dict() == s.state_dict()
    assert Standardizer().fit(torch.full((5,), 2.0)).std == 1.0  # a constant residual: no division by zero
    with pytest.raises(ValueError, match="at least one value"):
        Standardizer().fit(torch.zeros(0))
