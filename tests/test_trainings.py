"""Tests of minignn.trainings: `python -m minignn.train qm7` and `... qm9-edm` on one process, on two gloo ranks
(torchrun), and resumed after a real `kill -9`; tiny models on the first 64 molecules, float64."""

import os
import signal
import socket
import subprocess
import sys

import pytest
import torch

from minignn.checkpoint import load_checkpoint
from minignn.edm import TRAIN_STATE_FORMAT
from minignn.train import main

QM7 = ["qm7", "--limit", "64", "--batch-size", "8", "--width", "8", "--layers", "1", "--num-basis", "4",
       "--dtype", "float64", "--lr", "3e-3"]  # 48 training molecules: 6 global batches of 8 per epoch
EDM = ["qm9-edm", "--limit", "64", "--batch-size", "8", "--width", "8", "--layers", "2", "--dtype", "float64",
       "--lr", "1e-2", "--warmup-steps", "2", "--ema", "0.9"]  # 8 steps of 8 molecules per epoch


def environment():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", "-m", "minignn.train", *args]
    run = subprocess.run(cmd, env=environment(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def weights(path):
    return {k: v for k, v in torch.load(path, weights_only=True).items()}


def flat(state):
    return torch.cat([v.reshape(-1).double() for v in state.values()])


@pytest.mark.parametrize("args", [QM7 + ["--epochs", "2"], EDM + ["--epochs", "2"]], ids=["qm7", "qm9-edm"])
def test_two_gloo_ranks_end_with_equal_weights_that_match_one_process(tmp_path, args):
    """Each rank computes a shard of every global batch; DDP averages: both ranks hold the same weights (and EMA),
    which are those of one process on the same global batches, to float64 rounding."""
    out = torchrun([*args, "--weights-out", str(tmp_path / "rank{rank}.pt")])
    assert "world_size=2" in out and out.count(f"{args[0]}: world_size=2") == 1  # rank 0 alone prints the summary
    result = main([*args, "--weights-out", str(tmp_path / "single.pt")])
    assert result["world_size"] == 1
    r0, r1, single = (weights(tmp_path / f"{name}.pt") for name in ("rank0", "rank1", "single"))
    assert r0.keys() == single.keys() and all(v.dtype == torch.float64 for v in r0.values())
    assert all(torch.equal(r0[k], r1[k]) for k in r0)  # the replicas never drift apart
    assert float((flat(r0) - flat(single)).abs().max()) < 1e-10
    if args[0] == "qm9-edm":
        assert any(k.startswith("ema.") for k in r0)  # the EMA weights are compared too
        ema, raw = (flat({k: v for k, v in r0.items() if k.startswith(p)}) for p in ("ema.", "model."))
        assert ema.shape == raw.shape and not torch.equal(ema, raw)  # an average, not a copy


@pytest.mark.parametrize("args", [QM7, EDM], ids=["qm7", "qm9-edm"])
def test_with_a_time_budget_the_ranks_agree_on_the_clock(tmp_path, args):
    """With --budget-min the learning rate follows the elapsed time and the run stops when it is spent: the ranks
    take the largest of their clocks, so they keep equal weights and stop at the same step."""
    out = torchrun([*args, "--budget-min", "0.04", "--weights-out", str(tmp_path / "rank{rank}.pt")])
    r0, r1 = (weights(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    assert "time_budget" in out or args[0] == "qm9-edm"


def run_until_held(args, step):
    """Start a one-process run that holds after optimizer step ``step``, then kill it with SIGKILL (kill -9)."""
    cmd = [sys.executable, "-m", "minignn.train", *args, "--hold-after-steps", str(step)]
    proc = subprocess.Popen(cmd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith(f"holding after step {step}"):
                break
        else:
            pytest.fail(f"the run ended before step {step}: {proc.stderr.read()[-3000:]}")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_qm7_killed_mid_epoch_and_resumed_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    args = [*QM7, "--epochs", "3"]
    killed = tmp_path / "killed.pt"
    run_until_held([*args, "--checkpoint", str(killed)], step=9)  # mid-epoch 2: steps 7-9 are lost
    state = load_checkpoint(killed)
    assert state["epoch"] == 1 and state["step"] == 6
    resumed = main([*args, "--checkpoint", str(killed), "--resume"])
    assert resumed["epochs"] == 3 and resumed["steps"] == 18
    whole = tmp_path / "whole.pt"
    main([*args, "--checkpoint", str(whole)])
    a, b = load_checkpoint(killed), load_checkpoint(whole)
    assert a["step"] == b["step"] == 18 and all(v.dtype == torch.float64 for v in a["model"].values() if v.is_floating_point())
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["early_stopping"]["best_state"][k], b["early_stopping"]["best_state"][k])
               for k in a["model"])
    assert a["history"]["val_mae"] == b["history"]["val_mae"] and a["history"]["train_loss"] == b["history"]["train_loss"]


def test_qm9_edm_killed_mid_epoch_and_resumed_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    args = [*EDM, "--epochs", "2", "--checkpoint-every", "3"]
    killed = tmp_path / "killed.pt"
    run_until_held([*args, "--checkpoint", str(killed)], step=7)  # mid-epoch 1 (8 steps): step 7 is lost
    state = load_checkpoint(killed, format=TRAIN_STATE_FORMAT)
    assert state["step"] == 6 and len(state["losses"]) == 6
    resumed = main([*args, "--checkpoint", str(killed), "--resume"])
    assert resumed["steps"] == 16
    whole = tmp_path / "whole.pt"
    main([*args, "--checkpoint", str(whole)])
    a, b = (load_checkpoint(p, format=TRAIN_STATE_FORMAT) for p in (killed, whole))
    assert a["step"] == b["step"] == 16 and a["losses"] == b["losses"]
    for key in ("model", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert torch.equal(a["generator"], b["generator"])


def test_smoke_runs_of_both_commands_with_the_default_models_take_seconds():
    qm7 = main(["qm7", "--limit", "64", "--epochs", "1"])
    edm = main(["qm9-edm", "--limit", "64", "--epochs", "1"])
    assert qm7["epochs"] == 1 and qm7["steps"] == 2 and qm7["test_mae"] == qm7["test_mae"]  # 48 molecules, batch 32
    assert edm["steps"] == 1 and torch.isfinite(torch.tensor(edm["loss"]))
    assert qm7["seconds"] < 60 and edm["seconds"] < 60


@pytest.mark.parametrize("args, match", [
    (["qm7", "--limit", "0", "--epochs", "1"], "--limit expected an integer >= 1, got 0"),
    (["qm9-edm", "--batch-size", "0", "--epochs", "1"], "--batch-size expected an integer >= 1, got 0"),
    (["qm9-edm", "--epochs", "1", "--subset", "heavy12"], r"--subset expected 'all' or 'heavyK' with K in 1..9 .*got 'heavy12'"),
    (["qm7", "--epochs", "1", "--resume"], "--resume expected --checkpoint PATH"),
    (["qm9-edm", "--epochs", "1", "--budget-min", "-1"], "--budget-min expected a number of minutes > 0, got -1"),
    (["qm9-edm", "--limit", "8", "--epochs", "1", "--checkpoint-every", "0"], "--checkpoint-every expected an integer >= 1"),
])
def test_bad_flags_name_the_flag_what_was_expected_and_what_came(args, match):
    with pytest.raises(ValueError, match=match):
        main(args)


def test_resuming_from_the_checkpoint_of_another_run_is_refused(tmp_path):
    ck = tmp_path / "run.pt"
    main([*EDM, "--epochs", "1", "--checkpoint", str(ck)])
    with pytest.raises(ValueError, match=r"another run: .*batch_size expected 4 \(this run\), got 8 \(the checkpoint\)"):
        main([*EDM, "--batch-size", "4", "--epochs", "1", "--checkpoint", str(ck), "--resume"])
    with pytest.raises(SystemExit, match="command expected one of"):
        main(["qm8"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_checkpoint_trained_on_a_gpu_resumes_on_a_cpu_and_back(tmp_path):
    for first, then in (("cuda", "cpu"), ("cpu", "cuda")):
        ck, q = tmp_path / f"edm-{first}.pt", tmp_path / f"qm7-{first}.pt"
        main([*EDM, "--epochs", "1", "--device", first, "--checkpoint", str(ck)])
        assert main([*EDM, "--epochs", "1", "--device", then, "--checkpoint", str(ck), "--resume"])["steps"] == 8
        main([*QM7, "--epochs", "1", "--device", first, "--checkpoint", str(q)])
        assert main([*QM7, "--epochs", "2", "--device", then, "--checkpoint", str(q), "--resume"])["steps"] == 12
