"""Tests of minignn.train: loader, learning-rate schedule, training loop, checkpoints of a run, DDP."""

import dataclasses
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from minignn.baselines import CompositionBaseline, composition
from minignn.checkpoint import load_checkpoint
from minignn.graph import Graph, batch
from minignn.train import (
    GraphLoader, History, TrainConfig, Trainer, TypeMPNN, evaluate, lr_factor, main, predict, synthetic_graphs,
)


class DropoutModel(nn.Module):
    """A small TypeMPNN with dropout on the embedding (so resuming must restore the RNG state)."""

    def __init__(self, p=0.2):
        super().__init__()
        self.net, self.drop = TypeMPNN(3, width=8, layers=1, hidden=16), nn.Dropout(p)

    def forward(self, x, edge_index, batch=None, num_graphs=None):
        h = self.drop(self.net.embed(x))
        return self.net.mpnn(h, edge_index, batch=batch, num_graphs=num_graphs).reshape(-1)


def small_model(seed=0):
    torch.manual_seed(seed)
    return DropoutModel().double()


def config(**kw):
    base = dict(max_epochs=4, batch_size=8, lr=3e-3, progress=False, patience=None, warmup_epochs=0.5)
    return TrainConfig(**{**base, **kw})


def close(a, b, atol):
    """Equal shapes and max |a - b| <= atol (torch.testing's first call costs seconds of imports)."""
    return a.shape == b.shape and float((a - b).abs().max()) <= atol


def params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# -- loader and schedule ------------------------------------------------------------------------
def tagged(n):
    """Graphs whose y is their index, to see which graphs a batch holds."""
    return [Graph(edge_index=torch.empty(2, 0, dtype=torch.int64), x=torch.zeros(1, dtype=torch.int64),
                  y=torch.tensor(float(i))) for i in range(n)]


def test_loader_visits_every_graph_once_and_is_deterministic():
    graphs = tagged(10)
    loader = GraphLoader(graphs, 4, shuffle=True, seed=3)
    assert len(loader) == 3 == len(list(loader))
    first = torch.cat([b.y for b in loader])
    assert sorted(first.tolist()) == list(range(10))
    assert torch.equal(first, torch.cat([b.y for b in GraphLoader(graphs, 4, shuffle=True, seed=3)]))
    loader.set_epoch(1)
    assert not torch.equal(first, torch.cat([b.y for b in loader]))  # a new order every epoch
    assert [b.num_graphs for b in GraphLoader(graphs, 4, drop_last=True)] == [4, 4]


def test_loader_shards_are_disjoint_equal_parts_of_the_global_batch():
    graphs = tagged(11)  # global batches of 4, 4 and 3 (trimmed to 2 for two ranks)
    single = [b.y for b in GraphLoader(graphs, 4, shuffle=True, seed=5)]
    shards = [[b.y for b in GraphLoader(graphs, 4, shuffle=True, seed=5, rank=r, world_size=2)] for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 3
    for k, (a, b) in enumerate(zip(*shards)):
        assert a.numel() == b.numel() and not set(a.tolist()) & set(b.tolist())
        assert set(a.tolist()) | set(b.tolist()) <= set(single[k].tolist())
        assert k == 2 or set(a.tolist()) | set(b.tolist()) == set(single[k].tolist())


def test_loader_errors():
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        GraphLoader(tagged(3), 0)
    with pytest.raises(ValueError, match="empty dataset"):
        GraphLoader([], 2)
    with pytest.raises(ValueError, match=r"multiple of the number of ranks \(2\)"):
        GraphLoader(tagged(3), 3, world_size=2)


def old_cosine_schedule(step, warmup_steps, total_steps, min_ratio=0.0):
    """The Trainer's schedule before lr_factor (warmup, then a cosine over the remaining steps): the oracle."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    p = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p))


def old_time_cosine(step, elapsed_s, budget_s, warmup_steps, min_ratio=0.01):
    """benchmarks/qm7.py's time_cosine factor before lr_factor (warmup times a cosine of elapsed / budget)."""
    p = min(1.0, elapsed_s / budget_s)
    return min(1.0, (step + 1) / warmup_steps) * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def edm_factor(step, steps, elapsed, time_budget_s, warmup_steps):
    """The factor minignn.edm.train_edm computed inline (step and time progress, floor 0.01)."""
    p = max(step / steps, elapsed / time_budget_s if time_budget_s else 0.0)
    return min(1.0, (step + 1) / max(1, warmup_steps)) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def test_lr_factor_warms_up_then_decays_to_the_floor():
    f = [lr_factor(s, warmup_steps=4, total_steps=20, min_ratio=0.1, decay_start=4) for s in range(25)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(f[4:], f[5:])) and abs(f[12] - (0.1 + 0.9 * 0.5)) < 1e-12
    assert f[20] == f[24] == pytest.approx(0.1)


@pytest.mark.parametrize("warmup, total, rho", [(0, 1, 0.0), (0, 17, 0.01), (4, 20, 0.1), (7, 7, 0.3), (9, 5, 0.01),
                                                (1, 300, 0.0), (60, 1000, 0.05)])
def test_lr_factor_is_the_trainer_schedule_of_before(warmup, total, rho):
    for step in range(total + warmup + 3):  # past the end: the floor
        assert lr_factor(step, warmup_steps=warmup, total_steps=total, min_ratio=rho, decay_start=warmup) \
            == old_cosine_schedule(step, warmup, total, rho), step


def test_the_trainer_steps_the_old_schedule():
    t = Trainer(small_model(), synthetic_graphs(16), config=config(max_epochs=5, warmup_epochs=1.0, min_lr_ratio=0.05))
    warmup, total = len(t.loader), 5 * len(t.loader)
    factor = t.scheduler.lr_lambdas[0]
    steps = range(total + 2)
    assert [factor(s) for s in steps] == [old_cosine_schedule(s, warmup, total, 0.05) for s in steps]


@pytest.mark.parametrize("warmup", [1, 3, 50])
def test_lr_factor_of_elapsed_time_is_the_benchmark_schedule_of_before(warmup):
    for step in range(0, 80, 7):
        for elapsed in (0.0, 0.3, 12.5, 59.9, 60.0, 75.0):
            assert lr_factor(step, warmup_steps=warmup, elapsed_s=elapsed, budget_s=60.0, min_ratio=0.01) \
                == old_time_cosine(step, elapsed, 60.0, warmup), (step, elapsed)


def test_lr_factor_matches_the_edm_formula():
    for warmup in (0, 1, 10, 100):
        for steps in (1, 30, 1000):
            for budget in (None, 5.0, 3600.0):
                for step in sorted({0, 1, 5, 9, 10, 11, 29, 99, 100, 500, steps - 1}):
                    for elapsed in (0.0, 0.01, 2.5, 4.99, 1800.0):
                        expected = edm_factor(step, steps, elapsed, budget, warmup)
                        got = lr_factor(step, warmup_steps=warmup, total_steps=steps, elapsed_s=elapsed,
                                        budget_s=budget, min_ratio=0.01)
                        assert got == expected, (warmup, steps, budget, step, elapsed)


def test_lr_factor_mixed_progress_takes_the_further_of_steps_and_time():
    by_steps = lr_factor(30, total_steps=100)
    by_time = lr_factor(30, elapsed_s=60.0, budget_s=100.0)
    assert lr_factor(30, total_steps=100, elapsed_s=60.0, budget_s=100.0) == by_time < by_steps
    assert lr_factor(80, total_steps=100, elapsed_s=10.0, budget_s=100.0) == lr_factor(80, total_steps=100)
    assert lr_factor(3, total_steps=100, elapsed_s=500.0, min_ratio=0.2) == lr_factor(3, total_steps=100, min_ratio=0.2)


def test_lr_factor_errors():
    with pytest.raises(ValueError, match="needs total_steps or budget_s"):
        lr_factor(0, warmup_steps=3)
    with pytest.raises(ValueError, match="budget_s was given without elapsed_s"):
        lr_factor(0, budget_s=10.0)
    with pytest.raises(ValueError, match=r"min_ratio must lie in \[0, 1\], got 1.5"):
        lr_factor(0, total_steps=10, min_ratio=1.5)
    with pytest.raises(ValueError, match="total_steps must be >= 1, got 0"):
        lr_factor(0, total_steps=0)
    with pytest.raises(ValueError, match="budget_s must be > 0 seconds, got 0"):
        lr_factor(0, elapsed_s=1.0, budget_s=0)


def test_the_qm7_benchmark_schedule_is_lr_factor_of_elapsed_time():
    """benchmarks/qm7.py trains through minignn.trainings.fit_qm7, whose time_cosine is the schedule of before; a run
    that continues an earlier one (offsets) takes up the schedule where it stopped."""
    from minignn.trainings import time_cosine

    clock = [100.0]
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    scheduler = time_cosine(opt, budget_s=50.0, warmup_steps=3, clock=lambda: clock[0])  # lr of step 0, elapsed 0
    for step, elapsed in enumerate([0.0, 1.0, 10.0, 25.0, 49.0, 50.0, 80.0]):
        if step:
            clock[0] = 100.0 + elapsed
            opt.step()
            scheduler.step()
        assert opt.param_groups[0]["lr"] == 2.0 * old_time_cosine(step, elapsed, 50.0, 3), step
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    time_cosine(opt, budget_s=50.0, warmup_steps=3, clock=lambda: clock[0], offset_s=10.0, offset_steps=1)
    assert opt.param_groups[0]["lr"] == 2.0 * old_time_cosine(1, 10.0, 50.0, 3)


# -- training -------------------------------------------------------------------------------------
def test_predict_adds_back_baseline_and_scale():
    graphs = synthetic_graphs(20)
    t = Trainer(lambda_model(lambda num_graphs, x: torch.ones(num_graphs, dtype=torch.float64)), graphs, config=config())
    counts = composition(batch(graphs), 3)
    y = torch.stack([g.y for g in graphs])
    base = CompositionBaseline(3).fit(counts, y).predict(counts)  # oracle: f = 1 gives baseline + mu + sigma
    oracle = base + (y - base).mean() + (y - base).std(correction=0)
    assert close(t.predict(graphs), oracle, 1e-10)
    mae = float((oracle - y).abs().mean())
    assert abs(t.evaluate(graphs)["mae"] - mae) < 1e-10
    assert abs(evaluate(t.model, graphs, t.baseline, t.standardizer)["mae"] - mae) < 1e-10
    assert torch.equal(predict(t.model, graphs), torch.ones(20, dtype=torch.float64))  # no baseline, no scale


def test_training_reduces_the_loss_and_beats_the_baseline():
    graphs = synthetic_graphs(96)
    torch.manual_seed(0)
    t = Trainer(TypeMPNN(3, width=32, layers=2, hidden=64).double(), graphs[16:], graphs[:16],
                config(max_epochs=12, lr=1e-2))
    h = t.fit()
    assert len(h) == 12 and h.stop_reason == "max_epochs"
    assert h.train_loss[-1] < 0.05 * h.train_loss[0]
    y = torch.stack([g.y for g in graphs[:16]])
    counts = composition(batch(graphs[:16]), 3)
    base = t.baseline.predict(counts) + t.standardizer.mean
    assert h.val_mae[-1] < 0.2 * float((base - y).abs().mean())
    assert h.lr[-1] == pytest.approx(1e-2 * 0.01)  # the cosine ends at min_lr_ratio * lr


def test_early_stopping_stops_and_restores_the_best_weights():
    graphs = synthetic_graphs(48)
    train = graphs[:32]
    # the same graphs with the residual pair term negated: learning it makes validation worse
    t0 = Trainer(small_model(), train, config=config())
    resid = torch.stack([g.y for g in train]) - t0.baseline.predict(composition(batch(train), 3))
    val = [g.replace(y=g.y - 2 * r) for g, r in zip(train[:16], resid[:16])]
    t = Trainer(small_model(), train, val, config(max_epochs=50, patience=2, lr=1e-2))
    h = t.fit()
    assert h.stop_reason == "early_stopping" and len(h) == h.best_epoch + 2 < 50
    assert min(h.val_mae) == h.val_mae[h.best_epoch - 1]
    assert abs(t.evaluate(val)["mae"] - h.val_mae[h.best_epoch - 1]) < 1e-12  # the best weights are back


def test_time_budget_stops_cleanly_mid_epoch():
    graphs = synthetic_graphs(40)
    t = Trainer(small_model(), graphs[8:], graphs[:8], config(max_epochs=10, max_time_s=1e-9))
    h = t.fit()
    assert h.stop_reason == "time_budget" and len(h) == 1 and t.step == 1 < len(t.loader)
    assert np.isfinite(h.val_mae[0])


def test_resume_reproduces_the_same_curve(tmp_path):
    graphs = synthetic_graphs(40)
    train, val = graphs[8:], graphs[:8]
    straight = Trainer(small_model(), train, val, config(restore_best=False))
    h4 = straight.fit()
    first = Trainer(small_model(), train, val, config(restore_best=False))
    assert first.fit(epochs=2).stop_reason == "paused"
    first.save(tmp_path / "ck.pt")
    torch.manual_seed(123)  # a different RNG state: the checkpoint must restore it
    resumed = Trainer(small_model(seed=7), train, val, config(restore_best=False)).load(tmp_path / "ck.pt")
    h = resumed.fit()
    strip = lambda hist: {k: v for k, v in dataclasses.asdict(hist).items() if k != "time_s"}  # noqa: E731
    assert strip(h) == strip(h4) and len(h) == 4
    assert torch.equal(params(resumed.model), params(straight.model))


def test_checkpoint_after_every_epoch_loads_with_weights_only(tmp_path):
    path = tmp_path / "sub" / "run.pt"
    graphs = synthetic_graphs(24)
    t = Trainer(small_model(), graphs[8:], graphs[:8], config(max_epochs=2, checkpoint_path=str(path)))
    t.fit()
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 2 and len(raw["history"]["epoch"]) == 2
    state = load_checkpoint(path)
    assert torch.equal(state["baseline"]["weight"], t.baseline.weight) and state["config"]["max_epochs"] == 2
    assert os.listdir(path.parent) == ["run.pt"]  # no temporary files left
    done = Trainer(small_model(), graphs[8:], graphs[:8], config(max_epochs=2)).load(path)
    assert len(done.fit()) == 2 and done.step == t.step  # a finished run does not train further
    more = Trainer(small_model(), graphs[8:], graphs[:8], config(max_epochs=3)).load(path)
    assert len(more.fit()) == 3  # unless max_epochs grows


def test_corrupt_and_foreign_checkpoints_are_rejected(tmp_path):
    graphs = synthetic_graphs(16)
    t = Trainer(small_model(), graphs, config=config())
    t.save(tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or half-written"):
        load_checkpoint(tmp_path / "half.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a minignn.train checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_trainer_errors():
    graphs = synthetic_graphs(8)
    with pytest.raises(ValueError, match="train_data is empty"):
        Trainer(small_model(), [], config=config())
    with pytest.raises(ValueError, match="val_data is empty"):
        Trainer(small_model(), graphs, [], config=config())
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        config(batch_size=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        config(loss="huber")
    with pytest.raises(ValueError, match="scalar target y"):
        Trainer(small_model(), [g.replace(y=None) for g in graphs], config=config())
    with pytest.raises(ValueError, match=r"the model must return \[num_graphs=8\] \(or \[num_graphs, 1\]\) for a batch"):
        Trainer(lambda_model(lambda num_graphs, x: torch.zeros(num_graphs, 2)), graphs, config=config()).fit()


def lambda_model(fn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, x, edge_index, batch=None, num_graphs=None):  # the package's calling convention
            return fn(num_graphs, x) + self.w

    return M()


def test_history_plot_and_cli_single_process(capsys):
    import matplotlib
    matplotlib.use("Agg")
    h = main(["--num-graphs", "40", "--epochs", "2", "--batch-size", "16"])  # with tqdm bars
    assert isinstance(h, History) and len(h) == 2
    assert "world_size=1" in capsys.readouterr().out
    axes = h.plot()
    assert [ax.get_xlabel() for ax in axes] == ["epoch", "epoch"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="torch.cuda.is_available\\(\\) is False"):
        Trainer(small_model(), synthetic_graphs(4), config=config(device="cuda"))


# -- DistributedDataParallel ----------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_gloo_ranks_match_a_single_process_on_the_global_batch(tmp_path):
    args = ["--num-graphs", "30", "--batch-size", "8", "--epochs", "2", "--dtype", "float64", "--lr", "1e-2",
            "--patience", "0", "--no-restore-best", "--no-progress"]  # 24 train graphs: 3 global batches of 8
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", "-m", "minignn.train", *args, "--weights-out", str(tmp_path / "w{rank}.pt")]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "world_size=2" in run.stdout
    w0, w1 = (load_weights(tmp_path / f"w{r}.pt") for r in (0, 1))
    main([*args, "--weights-out", str(tmp_path / "single.pt")])
    single = load_weights(tmp_path / "single.pt")
    assert torch.equal(w0, w1)  # the replicas never drift apart
    assert w0.dtype == torch.float64 and (w0 - single).abs().max() < 1e-12
    torch.manual_seed(0)
    assert (single - params(TypeMPNN(3).double())).abs().max() > 1e-3  # it did train (main seeds 0, then builds)


def load_weights(path):
    return torch.cat([v.reshape(-1) for v in torch.load(path, weights_only=True).values()])
