"""Tests of minignn.edm: symmetry of the denoiser, the zero-centre-of-mass subspace, the samplers, p(n), training.

Oracles: minignn.testing's E(3) checks (float64 1e-12, float32 1e-5), the closed form of q(x_t | x_0) for the
loss, per-molecule evaluation for batches, exact binomial frequencies for p(n), and a rotated copy of the
initial noise for the deterministic sampler.  Statistical checks allow NSIGMA = 5 standard errors (seeds fixed).
"""

import functools
import math

import pytest
import torch
from torch import nn

from minignn.datasets import QM9_TYPES, MoleculeSet
from minignn.diffusion import ancestral_sample
from minignn.edm import (
    PUBLISHED_COMPUTE,
    PUBLISHED_QM9,
    SAMPLERS,
    EDM,
    AtomCountDistribution,
    EDMConfig,
    edm_loss,
    encode,
    load_edm,
    remove_com,
    sample_molecules,
    save_edm,
    train_edm,
)
from minignn.equivariant import EGNNLayer
from minignn.geometry import random_reflection, random_rotation
from minignn.neighbours import fully_connected
from minignn.testing import check_euclidean, default_tolerance, random_molecule

F64 = torch.float64
NSIGMA = 5




def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def small_model(dtype=torch.float32, counts=(3, 4, 5), visible=True, seed=0, **kw):
    """A tiny EDM; ``visible`` makes the position updates O(1) (the default init moves atoms by ~1e-3)."""
    torch.manual_seed(seed)
    model = EDM(EDMConfig(width=16, layers=2, **kw), torch.as_tensor(counts)).to(dtype)
    if visible:
        for layer in model.modules():
            if isinstance(layer, EGNNLayer):
                nn.init.normal_(layer.phi_x[-1].weight, std=0.3)
    return model


def tiny_molecules() -> MoleculeSet:
    """CH4, H2O, NH3 and HF with textbook geometries (Angstrom), not centred."""
    a, s = 0.629, math.sqrt(3) / 2
    mols = [
        ([6, 1, 1, 1, 1], [[0, 0, 0], [a, a, a], [-a, -a, a], [-a, a, -a], [a, -a, -a]]),
        ([8, 1, 1], [[1, 1, 1], [1.757, 1.586, 1], [0.243, 1.586, 1]]),
        ([7, 1, 1, 1], [[0, 0, 0], [0.94, 0, -0.37], [-0.47, 0.94 * s, -0.37], [-0.47, -0.94 * s, -0.37]]),
        ([9, 1], [[0, 0, 2], [0.92, 0, 2]]),
    ]
    z = torch.tensor([zi for m in mols for zi in m[0]])
    pos = torch.tensor([p for m in mols for p in m[1]], dtype=torch.float32)
    ptr = torch.tensor([0] + [len(m[0]) for m in mols]).cumsum(0)
    return MoleculeSet(z=z, pos=pos, ptr=ptr, y={}, units={}, index=torch.arange(len(mols)), atom_types=QM9_TYPES)


def com(pos, batch, m):
    return torch.zeros(m, 3, dtype=pos.dtype).index_add_(0, batch, pos) / torch.bincount(batch, minlength=m)[:, None]


# -- the denoiser: E(3) symmetry, batching, corner cases ----------------------------------------------------

@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_denoiser_is_equivariant_in_positions_and_invariant_in_types(dtype):
    model = small_model(dtype)
    pos, x, _ = random_molecule(9, 5, generator=gen(1), dtype=dtype)
    edge_index = fully_connected(9)

    h = 0.25 * x
    eps_pos, eps_h = model(h, pos, edge_index, t=0.4)
    assert eps_pos.abs().max() > 0.1 and eps_h.abs().max() > 0.1  # the check sees real outputs
    report = check_euclidean(functools.partial(model, t=0.4), h, pos, edge_index, outputs=("equivariant", "invariant"),
                             trials=2, generator=gen(2))
    assert set(report) == {"rotation", "reflection", "translation", "permutation"}
    assert max(report.values()) <= default_tolerance(dtype), report


def test_a_non_equivariant_denoiser_fails_the_same_check():
    """The check can fail: feed raw coordinates to the type channel (what a naive MLP would do)."""
    model = small_model(F64)
    pos, x, _ = random_molecule(9, 5, generator=gen(1), dtype=F64)

    def fn(x, pos, edge_index):
        return model(0.25 * x + 0.1 * pos[:, :1], pos, edge_index, t=0.4)

    report = check_euclidean(fn, x, pos, fully_connected(9), outputs=("equivariant", "invariant"), generator=gen(2))
    assert report["rotation"] > 1e-3


def test_position_output_has_zero_mean_and_ignores_translations():
    model = small_model(F64)
    pos, x, _ = random_molecule(7, 5, generator=gen(3), dtype=F64)
    eps_pos, eps_h = model(0.25 * x, pos, t=torch.tensor(0.7, dtype=F64))
    assert eps_pos.mean(0).abs().max() < 1e-15
    eps_pos2, eps_h2 = model(0.25 * x, pos + torch.tensor([5.0, -3.0, 2.0], dtype=F64), t=0.7)
    assert (eps_pos2 - eps_pos).abs().max() < 1e-12 and (eps_h2 - eps_h).abs().max() < 1e-12


def test_batch_equals_molecule_by_molecule():
    model = small_model(F64)
    (p1, x1, _), (p2, x2, _) = random_molecule(5, 5, generator=gen(4), dtype=F64), random_molecule(7, 5, generator=gen(5), dtype=F64)
    batch = torch.tensor([0] * 5 + [1] * 7)
    t = torch.tensor([0.2] * 5 + [0.9] * 7, dtype=F64)
    eps_pos, eps_h = model(0.25 * torch.cat([x1, x2]), torch.cat([p1, p2]), t=t, batch=batch)
    for sl, p, x, tt in ((slice(0, 5), p1, x1, 0.2), (slice(5, 12), p2, x2, 0.9)):
        one_pos, one_h = model(0.25 * x, p, t=tt)
        assert (eps_pos[sl] - one_pos).abs().max() < 1e-12 and (eps_h[sl] - one_h).abs().max() < 1e-12


def test_single_atom_molecule_has_no_edges_and_zero_position_noise():
    model = small_model(F64)
    eps_pos, eps_h = model(torch.eye(5, dtype=F64)[:1] * 0.25, torch.randn(1, 3, dtype=F64), t=0.5)
    assert torch.equal(eps_pos, torch.zeros(1, 3, dtype=F64)) and torch.isfinite(eps_h).all()


# -- the zero centre-of-mass subspace ------------------------------------------------------------------------

def test_encode_centres_and_decode_inverts_it():
    mols = tiny_molecules()
    model = small_model(F64)
    pos, h, batch = encode(mols, model.atom_types, 0.25, F64)
    assert com(pos, batch, 4).abs().max() < 1e-15
    assert torch.equal(h.argmax(1), QM9_TYPES.index(mols.z)) and torch.allclose(h.sum(1), torch.full((14,), 0.25, dtype=F64))
    back = model.decode(torch.cat([pos, h], 1), mols.num_atoms)
    assert torch.equal(back.z, mols.z) and torch.equal(back.ptr, mols.ptr)
    torch.testing.assert_close(back.pos.double(), pos.float().double())


def test_q_sample_with_projected_noise_stays_in_the_subspace():
    from minignn.diffusion import q_sample

    mols = tiny_molecules()
    pos, h, batch = encode(mols, QM9_TYPES, 0.25, F64)
    noise = remove_com(torch.randn(14, 8, dtype=F64), batch)
    t = torch.tensor([0.1, 0.5, 0.9, 1.0], dtype=F64)[batch]
    x_t = q_sample(torch.cat([pos, h], 1), t, "cosine", noise=noise)
    assert com(x_t[:, :3], batch, 4).abs().max() < 1e-15
    x_bad = q_sample(torch.cat([pos, h], 1), t, "cosine", noise=torch.randn(14, 8, dtype=F64))  # unprojected noise
    assert com(x_bad[:, :3], batch, 4).abs().max() > 0.05


def test_loss_draws_zero_com_noise_and_matches_the_closed_form():
    mols = tiny_molecules()
    model = small_model(F64)
    pos, h, batch = encode(mols, model.atom_types, 0.25, F64)
    seen = []
    eps = model.eps  # what the loss calls, on validated inputs
    model.eps = lambda h_, p, *a: (seen.append(p), eps(h_, p, *a))[1]
    edm_loss(model, pos, h, batch, generator=gen(6))
    assert com(seen[0], batch, 4).abs().max() < 1e-14  # x_t lies in the subspace
    # closed form with given t and noise
    t = torch.tensor([0.05, 0.3, 0.6, 0.95], dtype=F64)
    noise = remove_com(torch.randn(14, 8, dtype=F64, generator=gen(7)), batch)
    ab = model.schedule.alpha_bar(t)[batch][:, None]
    x_t = ab.sqrt() * torch.cat([pos, h], 1) + (1 - ab).sqrt() * noise
    eps_pos, eps_h = model(x_t[:, 3:], x_t[:, :3], t=t[batch], batch=batch)
    expected = (noise - torch.cat([eps_pos, eps_h], 1)).square().mean()
    assert abs(edm_loss(model, pos, h, batch, t=t, noise=noise).detach().item() - expected.item()) < 1e-14


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_step_keeps_zero_com(sampler):
    """Even a denoiser whose position output has a mean (here: a constant drift) is projected back."""
    model = small_model(F64)
    eps = model.eps  # what the samplers call, on validated inputs
    model.eps = lambda *a: (lambda out: (out[0] + 0.7, out[1]))(eps(*a))
    mols, traj, counts = sample_molecules(model, 6, gen(8), steps=12, sampler=sampler, return_trajectory=True)
    batch = torch.repeat_interleave(torch.arange(6), counts)
    assert traj.shape == (13, int(counts.sum()), 8)
    assert max(float(com(frame[:, :3], batch, 6).abs().max()) for frame in traj) < 1e-13
    # control: the same sampler without the projection drifts away from the subspace
    free = ancestral_sample(model.eps_model(batch), model.schedule, x_init=remove_com(traj[0], batch), steps=12, generator=gen(9))
    assert com(free[:, :3], batch, 6).abs().max() > 0.1


# -- rotation invariance of the generated distribution --------------------------------------------------------

@pytest.mark.parametrize("transform", ["rotation", "reflection"])
def test_rotated_seed_gives_rotated_samples(transform):
    model = small_model(F64)
    counts = torch.tensor([4, 5, 3])
    x1 = remove_com(torch.randn(12, 8, dtype=F64, generator=gen(10)), torch.repeat_interleave(torch.arange(3), counts))
    Q = (random_rotation if transform == "rotation" else random_reflection)(gen(11), F64)
    kw = dict(num_atoms=counts, steps=30, sampler="probability_flow", return_trajectory=True)
    a, ta, _ = sample_molecules(model, 3, x_init=x1, **kw)
    b, tb, _ = sample_molecules(model, 3, x_init=torch.cat([x1[:, :3] @ Q.T, x1[:, 3:]], 1), **kw)
    assert torch.equal(a.z, b.z)
    assert (tb[-1, :, :3] - ta[-1, :, :3] @ Q.T).abs().max() < 1e-10 * max(1.0, float(ta[-1].abs().max()))
    assert (tb[-1, :, 3:] - ta[-1, :, 3:]).abs().max() < 1e-10
    assert float((ta[-1, :, :3] - x1[:, :3]).abs().max()) > 0.1  # the sampler did move the atoms


def test_samples_are_centred_so_their_mean_is_the_origin():
    model = small_model()
    mols = sample_molecules(model, 40, gen(12), steps=20)
    assert mols.pos.mean(0).abs().max() < 1e-5
    assert com(mols.pos, mols.batch, 40).abs().max() < 1e-5


def gyration_anisotropy(mols):
    """Mean over molecules of S = (1/n) sum_i r_i r_i^T minus its isotropic part, and the standard errors."""
    S = torch.zeros(len(mols), 3, 3, dtype=F64).index_add_(
        0, mols.batch, mols.pos.double()[:, :, None] * mols.pos.double()[:, None, :]) / mols.num_atoms.double()[:, None, None]
    mean = S.mean(0)
    dev = mean - torch.eye(3, dtype=F64) * torch.diagonal(mean).mean()
    return dev, S.std(0) / math.sqrt(len(mols))


def test_stochastic_sampler_output_is_rotation_invariant_in_distribution():
    """The second moment E[r r^T] of generated atoms is isotropic (up to NSIGMA standard errors)
    for the equivariant denoiser, and clearly not for a denoiser that prefers the x axis."""
    model = small_model()
    dev, se = gyration_anisotropy(sample_molecules(model, 400, gen(13), steps=20))
    assert torch.all(dev.abs() <= NSIGMA * se), (dev, se)
    eps = model.eps  # what the sampler calls, on validated inputs
    axis = torch.tensor([1.0, 0.0, 0.0])
    model.eps = lambda h, p, *a: (lambda out: (out[0] + 2.0 * p * axis, out[1]))(eps(h, p, *a))
    dev, se = gyration_anisotropy(sample_molecules(model, 400, gen(13), steps=20))
    assert (dev.abs() / se).max() > 4 * NSIGMA


# -- p(n) ---------------------------------------------------------------------------------------------------

def test_atom_count_distribution_is_the_training_histogram():
    counts = torch.tensor([3, 5, 5, 9, 5, 3, 9, 9, 9, 12])
    dist = AtomCountDistribution(counts)
    expected = torch.zeros(13, dtype=F64)
    for n in counts.tolist():
        expected[n] += 0.1
    torch.testing.assert_close(dist.probs, expected, rtol=0, atol=1e-15)
    draws = dist.sample(20000, gen(14))
    freq = torch.bincount(draws, minlength=13).double() / 20000
    se = (expected * (1 - expected) / 20000).sqrt()
    assert torch.all((freq - expected).abs() <= NSIGMA * se + 1e-12)
    assert set(draws.unique().tolist()) == {3, 5, 9, 12}
    back = AtomCountDistribution.from_histogram(dist.histogram)
    assert torch.equal(back.histogram, dist.histogram)


def test_sampled_molecules_take_their_sizes_from_p_of_n():
    mols = tiny_molecules()
    model = EDM(EDMConfig(width=8, layers=1), mols.num_atoms)
    out = sample_molecules(model, 200, gen(15), steps=2)
    sizes = torch.bincount(out.num_atoms, minlength=6).double() / 200
    p = model.atom_counts.probs
    assert set(out.num_atoms.unique().tolist()) <= {2, 3, 4, 5}
    assert torch.all((sizes - p).abs() <= NSIGMA * (p * (1 - p) / 200).sqrt() + 1e-12)


# -- training ---------------------------------------------------------------------------------------------

def test_tiny_overfit_loss_goes_down_and_is_reproducible():
    """Four molecules, 200 steps.  Measured (three seeds): mean loss of the first 50 steps 0.57-0.65, of the
    last 50 0.20-0.24 (ratio 0.36-0.38); the threshold is a ratio of 0.5."""
    mols = tiny_molecules()
    model = small_model(visible=False, counts=mols.num_atoms)
    log = train_edm(model, mols, steps=200, batch_size=8, lr=3e-3, generator=gen(16), ema_decay=0.9, warmup_steps=20)
    assert len(log.losses) == 200 and log.ema is not None
    first, last = sum(log.losses[:50]) / 50, sum(log.losses[-50:]) / 50
    assert last < 0.5 * first, (first, last)
    assert any((a - b).abs().max() > 0 for a, b in zip(log.ema.parameters(), model.parameters()))  # EMA lags
    runs = [train_edm(small_model(visible=False, counts=mols.num_atoms), mols, steps=20, batch_size=8, lr=3e-3,
                      generator=gen(16), ema_decay=0.9, warmup_steps=20).losses for _ in range(2)]
    assert runs[0] == runs[1]


def test_train_edm_reports_each_log_point_with_the_weights_so_far(capsys):
    """on_log(steps, seconds, model) at every log point, with the EMA model (what a checkpoint saves); the last
    call sees the EMA weights that train_edm returns.  A non-function is refused."""
    mols = tiny_molecules()
    model = small_model(visible=False, counts=mols.num_atoms)
    calls = []
    log = train_edm(model, mols, steps=6, batch_size=4, generator=gen(3), ema_decay=0.9, log_every=2,
                    on_log=lambda done, seconds, m: calls.append((done, seconds, [p.detach().clone() for p in m.parameters()])))
    assert [c[0] for c in calls] == [2, 4, 6] and all(b[1] >= a[1] >= 0 for a, b in zip(calls, calls[1:]))
    assert all(torch.equal(a, b) for a, b in zip(calls[-1][2], log.ema.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(calls[0][2], log.ema.parameters()))  # weights of their own step
    assert capsys.readouterr().out.count("step ") == 3
    with pytest.raises(ValueError, match="on_log must be a function .* got int"):
        train_edm(model, mols, steps=1, on_log=3)


def test_checkpoint_round_trip(tmp_path):
    model = small_model(counts=(2, 3, 3, 7))
    path = save_edm(tmp_path / "edm.pt", model, {"note": "test"})
    loaded, info = load_edm(path)
    assert info == {"note": "test"} and not loaded.training
    assert torch.equal(loaded.atom_counts.histogram, model.atom_counts.histogram)
    pos, x, _ = random_molecule(6, 5, generator=gen(17), dtype=torch.float32)
    for a, b in zip(model(0.25 * x, pos, t=0.5), loaded(0.25 * x, pos, t=0.5)):
        assert torch.equal(a, b)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an EDM checkpoint"):
        load_edm(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no EDM checkpoint"):
        load_edm(tmp_path / "missing.pt")


def test_edm_with_its_polynomial_schedule_trains_samples_and_round_trips(tmp_path):
    """EDMConfig(schedule="polynomial"): the model's alpha_bar is EDM's, the loss is finite and falls on a tiny set, the
    samples keep zero centre of mass through the sharp beta near t = 1, and a checkpoint brings the schedule back."""
    model = small_model(schedule="polynomial")
    assert model.schedule.name == "polynomial" and abs(float(model.schedule.alpha_bar(0.5)) - 0.5625) < 1e-5
    mols = tiny_molecules()
    log = train_edm(model, mols, steps=60, batch_size=4, lr=3e-3, generator=gen(30), ema_decay=None)
    assert all(math.isfinite(v) for v in log.losses)
    assert sum(log.losses[-10:]) < sum(log.losses[:10])
    samples, traj, counts = sample_molecules(model, 5, gen(31), steps=40, return_trajectory=True)
    batch = torch.repeat_interleave(torch.arange(5), counts)
    assert torch.isfinite(traj).all() and max(float(com(f[:, :3], batch, 5).abs().max()) for f in traj) < 1e-5
    loaded, _ = load_edm(save_edm(tmp_path / "edm.pt", model))
    assert loaded.config.schedule == "polynomial"
    t = torch.linspace(0, 1, 11)
    assert torch.equal(loaded.schedule.alpha_bar(t), model.schedule.alpha_bar(t))


# -- bad input ---------------------------------------------------------------------------------------------

def _bad_calls():
    model = small_model()
    mols = tiny_molecules()
    pos, h, batch = encode(mols, QM9_TYPES)
    p5, h5 = torch.randn(5, 3), torch.eye(5)[:5] * 0.25
    return [
        (lambda: AtomCountDistribution(torch.tensor([], dtype=torch.int64)), "non-empty 1-D integer"),
        (lambda: AtomCountDistribution(torch.tensor([3, 0])), "needs >= 1 atom"),
        (lambda: AtomCountDistribution(torch.tensor([3.0, 4.0])), "integer tensor"),
        (lambda: AtomCountDistribution(torch.tensor([3])).sample(0), "num must be an integer >= 1"),
        (lambda: AtomCountDistribution.from_histogram([1, 2]), "entry 0 zero"),
        (lambda: EDM(EDMConfig(pos_reduce="max")), "pos_reduce"),
        (lambda: model(h5[:, :4], p5, t=0.5), r"h must be a torch.float32 tensor of shape \[num_atoms=5, K=5\]"),
        (lambda: model(h5, p5[:, :2], t=0.5), r"pos must be a floating tensor of shape \[num_nodes, 3\]"),
        (lambda: model(h5, p5, t=torch.rand(4)), "one time per atom"),
        (lambda: model(h5, p5, t=1.5), r"diffusion time t must lie in \[0, 1\]"),
        (lambda: model(h5, p5, t=0.5, batch=torch.zeros(5, dtype=torch.int32)), "batch must be an int64"),
        (lambda: model(h5, p5, torch.tensor([[0], [5]]), t=0.5), r"edge_index refers to nodes in \[0, 5\]"),
        (lambda: edm_loss(model, pos + 1.0, h, batch), "zero centre of mass"),
        (lambda: edm_loss(model, pos, h, batch, t=torch.rand(14)), "one time per molecule"),
        (lambda: edm_loss(model, pos, h, batch[:-1]), r"batch must be an int64 tensor \[14\]"),
        (lambda: sample_molecules(model, 2, sampler="heun"), "sampler must be one of"),
        (lambda: sample_molecules(model, 0), "num_molecules must be an integer >= 1"),
        (lambda: sample_molecules(model, 2, num_atoms=torch.tensor([3])), "num_atoms must hold"),
        (lambda: sample_molecules(model, 2, num_atoms=torch.tensor([3, 0])), "num_atoms must hold"),
        (lambda: sample_molecules(model, 1, num_atoms=torch.tensor([3]), x_init=torch.randn(4, 8)), "x_init must have shape"),
        (lambda: sample_molecules(model, 1, steps=0), "steps must be an integer >= 1"),
        (lambda: model.decode(torch.randn(5, 7), torch.tensor([5])), r"3 \+ K = 8"),
        (lambda: model.decode(torch.randn(5, 8), torch.tensor([4])), "counts add up to 4"),
        (lambda: model.decode(torch.full((2, 8), float("nan")), torch.tensor([2])), "NaN"),
        (lambda: remove_com(torch.randn(4, 2)), "positions first"),
        (lambda: train_edm(model, mols, steps=0), "steps must be an integer >= 1"),
    ]


@pytest.mark.parametrize("k", range(26))
def test_bad_input_raises_value_error(k):
    calls = _bad_calls()
    assert len(calls) == 26
    call, match = calls[k]
    with pytest.raises(ValueError, match=match):
        call()


def _diffusion_benchmark():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("qm9_diffusion_benchmark",
                                                  Path(__file__).resolve().parents[1] / "benchmarks" / "qm9_diffusion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_record_is_the_table_the_chapter_reads(tmp_path):
    """The section that benchmarks/qm9_diffusion.py writes parses back (results.section_table) into the numbers it got,
    with the published rows and the targets line right; only that section of RESULTS.md is rewritten."""
    from minignn import results

    bench = _diffusion_benchmark()
    metrics = dict(atom_stability=0.912, mol_stability=0.3, validity=0.6, uniqueness=0.95, valid_and_unique=0.57,
                   novelty=0.4, charged_mol_stability=0.35, xyz_validity=0.65)
    reference = dict(atom_stability=0.99, mol_stability=0.95, validity=0.97, uniqueness=1.0, valid_and_unique=0.97,
                     novelty=float("nan"), charged_mol_stability=0.96, xyz_validity=0.98)
    r = dict(command="python benchmarks/qm9_diffusion.py", subset="heavy8", subset_text="at most 8 heavy atoms",
             num_train=21800, mean_atoms=16.1, params=117513, budget_min=120, train_min=120.0, steps=50000,
             batch_size=64, epochs=146.8, final_loss=0.1, sampler="ancestral", sample_steps=500, sec_per_mol=0.4,
             time_100=41.0, num_samples=1000, metrics=metrics, reference=reference, reference_size=1000,
             checkpoint_name="minignn/checkpoints/qm9_edm.pt", checkpoint_kb=480.0, load="0.1, 1.0", config_text="EGNN")
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n<!-- qm7:begin -->\nkeep me\n<!-- qm7:end -->\n")
    bench.write_section(bench.section(r), path)
    body = results.read_section("qm9_diffusion", path)
    assert results.read_section("qm7", path) == "keep me"
    rows = {row["model"]: row for row in results.section_table(body)}
    ours = rows["EDM, this package (1000 samples)"]
    assert ours["atom stab. (%)"] == "91.2" and ours["mol. stab. (%)"] == "30.0" and ours["novelty (%)"] == "40.0"
    assert ours["mol. stab., charges allowed (%)"] == "35.0" and ours["validity, RDKit's bonds (%)"] == "65.0"
    assert ours["compute"] == "at most 8 heavy atoms, 120 min on 1 CPU core, 50000 steps"
    assert rows["QM9 reference (1000 random training molecules)"]["novelty (%)"] == "-"
    published = rows["EDM, published (10,000 samples)"]
    assert float(published["atom stab. (%)"]) == PUBLISHED_QM9["EDM"]["atom_stability"]
    assert published["compute"] == PUBLISHED_COMPUTE["EDM"] and published["validity, RDKit's bonds (%)"] == "-"
    fields = results.section_fields(body)
    assert fields["targets"].startswith("atom_stability 91.2% < 96%; mol_stability 30.0% < 60%; validity 60.0% < 85%; "
                                        "uniqueness 95.0% >= 90%")
    assert fields["targets"].endswith("100 molecules in 41.0 s < 60 s")
    assert fields["sampling"].startswith("ancestral sampler, 500 steps, EMA weights")
    fields = results.section_fields(bench.section(r | dict(time_power=2.0)).split("\n", 1)[1].rsplit("\n", 1)[0])
    assert fields["sampling"].startswith("ancestral sampler, 500 steps on the grid t_k = (k / 500)^2, EMA weights")


def test_benchmark_ablation_row_states_the_sampler_grid(tmp_path):
    """An ablation row's flags are read from the model, its record and the sampler options; a power grid is listed."""
    from argparse import Namespace

    from minignn import results

    bench = _diffusion_benchmark()
    model = small_model(torch.float32)
    metrics = dict(atom_stability=0.951, mol_stability=0.533, validity=0.78, uniqueness=0.99)
    r = dict(steps=77160, train_min=320.0, final_loss=0.1614, metrics=metrics, num_samples=1000)
    path = tmp_path / "RESULTS.md"
    for label, power in (("grid", 2.0), ("uniform", 1.0)):
        args = Namespace(ablation=label, bond_head=0.0, time_sampling="low_noise", sample_steps=250, time_power=power)
        bench.write_ablation_row(args, r, model, dict(compile=True), path)
    rows = {row["change"]: row for row in results.section_table(results.read_section("qm9_diffusion_ablations", path))}
    assert rows["grid"]["flags"].endswith("--sample-steps 250 --time-power 2 --compile`")
    assert "--time-power" not in rows["uniform"]["flags"]
    assert rows["grid"]["mol. stab. (%)"] == "53.3" and rows["grid"]["ms per step"] == "249"
    # a run for a wall-clock budget (no --steps in its command) says so; a schedule other than cosine is listed
    polynomial = EDM(EDMConfig(**{**model.config.__dict__, "schedule": "polynomial"}))
    args = Namespace(ablation="budget", bond_head=0.0, time_sampling="low_noise", sample_steps=250, time_power=2.0)
    for label, command in (("budget", "python benchmarks/qm9_diffusion.py --threads 1"),
                           ("steps", "python benchmarks/qm9_diffusion.py --steps 6000")):
        info = dict(compile=True, budget_min=120.0, command=command)
        bench.write_ablation_row(Namespace(**{**vars(args), "ablation": label}), r, polynomial, info, path)
    rows = {row["change"]: row for row in results.section_table(results.read_section("qm9_diffusion_ablations", path))}
    assert rows["budget"]["flags"].endswith("--time-power 2 --schedule polynomial --budget-min 120 --compile`")
    assert rows["steps"]["flags"].endswith("--time-power 2 --schedule polynomial --compile`")
    assert "--schedule" not in rows["grid"]["flags"] and "--budget-min" not in rows["grid"]["flags"]


def test_benchmark_continues_a_saved_model_only_with_its_configuration(tmp_path):
    """--init-from: the saved model comes back with its weights; a different configuration or subset is refused,
    naming what differs; the record of a continued run states both runs and counts all their steps."""
    from minignn import results

    bench = _diffusion_benchmark()
    model = small_model(torch.float32)
    path = tmp_path / "edm.pt"
    save_edm(path, model, dict(steps=100, train_s=60.0, subset="heavy8", command="python benchmarks/qm9_diffusion.py"))
    same = EDMConfig(**{**model.config.__dict__})
    loaded, info = bench.continue_from(path, same, "heavy8")
    assert info["steps"] == 100
    for a, b in zip(loaded.parameters(), model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(SystemExit, match=r"differs from the flags: width 16 \(flags: 32\)"):
        bench.continue_from(path, EDMConfig(**{**model.config.__dict__, "width": 32}), "heavy8")
    with pytest.raises(SystemExit, match=r"differs from the flags: schedule 'cosine' \(flags: 'polynomial'\)"):
        bench.continue_from(path, EDMConfig(**{**model.config.__dict__, "schedule": "polynomial"}), "heavy8")
    with pytest.raises(SystemExit, match="trained on --subset 'heavy8', not 'heavy6'"):
        bench.continue_from(path, same, "heavy6")
    metrics = dict(atom_stability=0.9, mol_stability=0.3, validity=0.6, uniqueness=0.95, valid_and_unique=0.57,
                   novelty=0.4, charged_mol_stability=0.35, xyz_validity=0.65)
    r = dict(command="python benchmarks/qm9_diffusion.py --init-from X", subset="heavy8", subset_text="at most 8 heavy atoms",
             num_train=21800, mean_atoms=16.1, params=1, budget_min=100, train_min=161.0, steps=150, batch_size=64,
             epochs=1.0, final_loss=0.1, sampler="ancestral", sample_steps=500, sec_per_mol=0.4, time_100=41.0,
             num_samples=1000, metrics=metrics, reference=metrics, reference_size=1000, checkpoint_name="x.pt",
             checkpoint_kb=1.0, load="0, 0", config_text="EGNN",
             continued_from=dict(steps=100, train_s=60.0, command="python benchmarks/qm9_diffusion.py"))
    fields = results.section_fields(bench.section(r).split("\n", 1)[1].rsplit("\n", 1)[0])
    assert fields["training"].startswith("161.0 min, 150 steps of 64 molecules")
    assert "in two runs: 100 steps (1.0 min) by `python benchmarks/qm9_diffusion.py`, then 50 more steps (160.0 min, " \
           "budget 100 min)" in fields["training"]
    # a third run: the checkpoint's record nests the runs before it, with cumulative steps and seconds
    r["continued_from"] = dict(steps=150, train_s=161.0 * 60, command="python benchmarks/qm9_diffusion.py --init-from X",
                               continued_from=r["continued_from"])
    r |= dict(steps=230, train_min=261.0)
    fields = results.section_fields(bench.section(r).split("\n", 1)[1].rsplit("\n", 1)[0])
    assert fields["training"].endswith(
        "in three runs: 100 steps (1.0 min) by `python benchmarks/qm9_diffusion.py`, then 50 more steps (160.0 min) by "
        "`python benchmarks/qm9_diffusion.py --init-from X`, then 80 more steps (100.0 min, budget 100 min) by the "
        "command above")
    assert bench.earlier_runs(None) == []


# -- the options measured by the QM9 ablations (distance features, x0, bond head, low-noise times) -------------

@pytest.mark.parametrize("options", [dict(rbf=8), dict(parametrization="x0"), dict(bond_head=True),
                                     dict(rbf=8, parametrization="x0", bond_head=True)])
def test_every_option_keeps_the_denoiser_equivariant(options):
    model = small_model(F64, **options)
    pos, x, _ = random_molecule(9, 5, generator=gen(1), dtype=F64)
    report = check_euclidean(functools.partial(model, t=0.3), 0.25 * x, pos, fully_connected(9),
                             outputs=("equivariant", "invariant"), trials=2, generator=gen(2))
    assert max(report.values()) <= 1e-12, report


def test_x0_parametrization_converts_to_eps_by_the_forward_formula():
    """eps = (x_t - alpha x0_theta) / sigma, and the loss is clamp(SNR, 0.05, 1.5) ||x0 - x0_theta||^2 (EQGAT-diff)."""
    model = small_model(F64, parametrization="x0")
    mols = tiny_molecules()
    pos, h, batch = encode(mols, model.atom_types, 0.25, F64)
    t = torch.tensor([0.01, 0.3, 0.6, 0.95], dtype=F64)
    noise = remove_com(torch.randn(14, 8, dtype=F64, generator=gen(7)), batch)
    ab = model.schedule.alpha_bar(t)[batch][:, None]
    x0 = torch.cat([pos, h], 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    x0_pos, x0_h, _ = model.network(x_t[:, 3:], x_t[:, :3], fully_connected(mols.num_atoms), t[batch], batch, 4)
    eps_pos, eps_h = model(x_t[:, 3:], x_t[:, :3], t=t[batch], batch=batch)
    torch.testing.assert_close(torch.cat([eps_pos, eps_h], 1),
                               (x_t - ab.sqrt() * torch.cat([x0_pos, x0_h], 1)) / (1 - ab).sqrt(), rtol=0, atol=1e-12)
    snr = (ab / (1 - ab)).clamp(0.05, 1.5)
    expected = (snr * (x0 - torch.cat([x0_pos, x0_h], 1)).square()).mean()
    assert abs(edm_loss(model, pos, h, batch, t=t, noise=noise).item() - expected.item()) < 1e-12


def test_bond_classes_are_the_inferred_bonds_of_every_pair():
    """The bond head's targets: the orders of minignn.metrics.infer_bonds, for every ordered pair (a loop oracle)."""
    from minignn.edm import bond_classes
    from minignn.metrics import infer_bonds

    mols = tiny_molecules()
    table, offsets = bond_classes(mols)
    pairs, orders = infer_bonds(mols.z, mols.pos, mols.ptr)
    bonded = {(int(a), int(b)): int(o) for (a, b), o in zip(pairs, orders)}
    assert len(bonded) == 4 + 2 + 3 + 1  # C-H x4, O-H x2, N-H x3, F-H
    for m in range(len(mols)):
        start, n = int(mols.ptr[m]), int(mols.num_atoms[m])
        for a in range(n):
            for b in range(n):
                key = (min(start + a, start + b), max(start + a, start + b))
                assert int(table[offsets[m] + a * n + b]) == (bonded.get(key, 0) if a != b else 0)


def test_bond_loss_is_the_cross_entropy_of_the_edge_classes():
    model = small_model(F64, bond_head=True)
    mols = tiny_molecules()
    pos, h, batch = encode(mols, model.atom_types, 0.25, F64)
    ei = fully_connected(mols.num_atoms)
    t = torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=F64)
    noise = remove_com(torch.randn(14, 8, dtype=F64, generator=gen(3)), batch)
    bonds = torch.randint(0, 4, (ei.shape[1],), generator=gen(4))
    plain = edm_loss(model, pos, h, batch, t=t, noise=noise, edge_index=ei)
    with_bonds = edm_loss(model, pos, h, batch, t=t, noise=noise, edge_index=ei, bonds=bonds, bond_weight=0.5)
    ab = model.schedule.alpha_bar(t)[batch][:, None]
    x_t = ab.sqrt() * torch.cat([pos, h], 1) + (1 - ab).sqrt() * noise
    *_, logits = model.network(x_t[:, 3:], x_t[:, :3], ei, t[batch], batch, 4, return_bonds=True)
    ce = -torch.log_softmax(logits, -1)[torch.arange(len(bonds)), bonds].mean()
    assert abs((with_bonds - plain).item() - 0.5 * ce.item()) < 1e-12
    with pytest.raises(ValueError, match="no bond head"):
        edm_loss(small_model(F64), pos, h, batch, bonds=bonds, edge_index=ei)
    with pytest.raises(ValueError, match=r"one class per edge, shape \[.*\]"):
        edm_loss(model, pos, h, batch, bonds=bonds[:-1], edge_index=ei)


def test_low_noise_times_follow_beta_1_2():
    """t = 1 - sqrt(1 - u): density 2 (1 - t), mean 1/3, P(t < 0.1) = 0.19 (against 0.1 uniform)."""
    from minignn.edm import draw_times

    t = draw_times(200_000, "low_noise", gen(5), F64)
    assert 0 <= float(t.min()) and float(t.max()) <= 1
    assert abs(float(t.mean()) - 1 / 3) < 3e-3
    assert abs(float((t < 0.1).double().mean()) - 0.19) < 3e-3
    u = draw_times(200_000, "uniform", gen(5), F64)
    assert abs(float(u.mean()) - 0.5) < 3e-3
    with pytest.raises(ValueError, match="time_sampling must be one of"):
        draw_times(3, "beta")


def test_training_with_every_option_runs_and_lowers_the_loss():
    mols = tiny_molecules()
    model = small_model(visible=False, counts=mols.num_atoms, rbf=8, parametrization="x0", bond_head=True)
    log = train_edm(model, mols, steps=40, batch_size=4, lr=3e-3, generator=gen(6), time_sampling="low_noise",
                    ema_decay=None)
    assert all(math.isfinite(v) for v in log.losses)
    assert sum(log.losses[-10:]) < sum(log.losses[:10])


def test_compiled_training_takes_the_same_steps_and_returns_the_plain_module():
    """train_edm(compile=True) runs the EGNN through torch.compile: the same losses (to float32 rounding of fused
    kernels) and the same weights, and the model it returns calls the plain method again."""
    mols = tiny_molecules()
    runs = []
    for compile in (False, True):
        model = small_model(visible=False, counts=mols.num_atoms, seed=3)
        log = train_edm(model, mols, steps=6, batch_size=4, lr=3e-3, generator=gen(12), ema_decay=None, compile=compile)
        runs.append((log.losses, model))
    (plain, m1), (compiled, m2) = runs
    assert max(abs(a - b) for a, b in zip(plain, compiled)) < 1e-4
    for a, b in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert "propagate" not in vars(m2.egnn)  # the compiled function is gone once training returns
