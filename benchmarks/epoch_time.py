"""Benchmark: how long a step and an epoch of the book's two trainings take on this machine, and what the published
EDM training (about 3000 epochs of all of QM9) would take at that speed.

    python benchmarks/epoch_time.py              # a few minutes; writes the epoch_time section of RESULTS.md
    python benchmarks/epoch_time.py --no-write   # prints only
    python benchmarks/epoch_time.py --device cuda   # on a GPU (the section then says which)

Measured with the code of the commands (``python -m minignn.train qm7`` / ``qm9-edm``, one process, their default
models and global batches, eager PyTorch): QM7/PaiNN, one whole epoch of fold 0's training set (every step timed)
plus its validation; QM9/EDM, ``--steps`` steps (after two untimed ones) on the ``heavy8`` subset and on all of QM9,
and a few steps of EDM's own network size (EGNN width 256, 9 layers).  An EDM epoch is ceil(M / 64) steps.
Seconds per step are medians.  On a CPU each step is timed twice: by the process's CPU time (one thread: what the
step costs one core, however busy the machine) and by the wall clock (what it took here, with the other work);
the epochs and the extrapolation use the CPU time.  On a GPU only the wall clock counts.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from minignn import results
from minignn.datasets import load_qm7, load_qm9
from minignn.edm import EDM, EDMConfig, EDMTrainer
from minignn.painn import PaiNN, PaiNNConfig
from minignn.train import Trainer, TrainConfig
from minignn.trainings import qm9_subset

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PUBLISHED_EPOCHS = 3000


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def qm7_epoch(device: str) -> dict:
    """One epoch of `python -m minignn.train qm7` (default PaiNN, batch 32, fold 0), each step timed; then validation."""
    qm7 = load_qm7(folds="stratified")
    train, val, _ = qm7.split(0)
    graphs = qm7.graphs(cutoff=5.0)
    pick = lambda idx: [graphs[i] for i in idx.tolist()]  # noqa: E731
    torch.manual_seed(0)
    model = PaiNN(PaiNNConfig(num_types=len(qm7.molecules.atom_types)))
    trainer = Trainer(model, pick(train), pick(val), TrainConfig(max_epochs=1, batch_size=32, weight_decay=0.0, loss="l1",
                      patience=None, num_types=len(qm7.molecules.atom_types), eval_batch_size=512, device=device,
                      progress=False))
    trainer.net.train()
    wall, cpu = [], []
    for batch in trainer.loader:
        t0, c0 = time.perf_counter(), time.process_time()
        trainer._train_step(batch)
        sync(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    seconds = wall if torch.device(device).type == "cuda" else cpu
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.evaluate(trainer.val_data)
    val_s = time.perf_counter() - t0 if torch.device(device).type == "cuda" else time.process_time() - c0
    return dict(training="QM7, PaiNN (`qm7`)", data=f"QM7 fold 0 training set, {len(train)} molecules",
                model=f"PaiNN width 64, 3 blocks ({sum(p.numel() for p in model.parameters())} parameters)", batch=32,
                steps_per_epoch=len(seconds), s_per_step=statistics.median(seconds), wall_s=statistics.median(wall),
                epoch_s=sum(seconds) + val_s, note=f"whole epoch timed, validation ({len(val)} molecules) {val_s:.1f} s")


def edm_steps(molecules, width: int, layers: int, steps: int, device: str, batch: int = 64) -> tuple[float, float, int]:
    """Median seconds (CPU time, or wall clock on a GPU; then wall clock) of ``steps`` EDM training steps (after two
    untimed ones), and the parameter count."""
    torch.manual_seed(0)
    model = EDM(EDMConfig(width=width, layers=layers), molecules.num_atoms)
    trainer = EDMTrainer(model, molecules, steps + 2, batch, generator=torch.Generator().manual_seed(0),
                         ema_decay=0.999, time_sampling="low_noise", device=device)
    marks = []

    def mark(step: int) -> None:
        sync(device)
        marks.append((time.process_time(), time.perf_counter()))

    trainer.run(on_step=mark)
    cpu, wall = (statistics.median(b[k] - a[k] for a, b in zip(marks[1:], marks[2:])) for k in (0, 1))
    return wall if torch.device(device).type == "cuda" else cpu, wall, sum(p.numel() for p in model.parameters())


def edm_rows(steps: int, big_steps: int, device: str) -> list[dict]:
    qm9 = load_qm9().molecules
    rows = []
    for subset, width, layers, n in (("heavy8", 64, 6, steps), ("all", 64, 6, steps), ("all", 256, 9, big_steps)):
        molecules, text = qm9_subset(qm9, subset)
        s, wall, params = edm_steps(molecules, width, layers, n, device)
        per_epoch = math.ceil(len(molecules) / 64)
        own = width == 64
        rows.append(dict(training="QM9, EDM (`qm9-edm`)" if own else "QM9, EDM at the published size",
                         data=f"{text} (`--subset {subset}`), {len(molecules)} molecules",
                         model=f"EGNN width {width}, {layers} layers ({params} parameters)", batch=64,
                         steps_per_epoch=per_epoch, s_per_step=s, wall_s=wall, epoch_s=per_epoch * s,
                         note=f"median of {n} steps" + ("" if own else "; the published EDM's network (9 x 256)")))
    return rows


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days" if seconds < 2 * 365 * 86400 else f"{seconds / (365.25 * 86400):.1f} years"


def section(rows: list[dict], device_text: str, command: str, load: str, gpu: bool) -> str:
    clock = "s per step" if gpu else "s per step (CPU time)"
    table = [f"| training | data | model | global batch | steps per epoch | {clock} | s per step (wall clock) | one epoch | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    table += [f"| {r['training']} | {r['data']} | {r['model']} | {r['batch']} | {r['steps_per_epoch']} | "
              f"{r['s_per_step']:.3f} | {r['wall_s']:.3f} | {duration(r['epoch_s'])} | {r['note']} |" for r in rows]
    published = [r for r in rows if r["data"].startswith("all QM9")]
    lines = [f"- published EDM training, {PUBLISHED_EPOCHS} epochs of all of QM9 ({PUBLISHED_EPOCHS} x "
             f"{r['steps_per_epoch']} steps of 64 molecules) at this speed with {r['model'].split(' (')[0]}: "
             f"{duration(PUBLISHED_EPOCHS * r['epoch_s'])}" for r in published]
    qm7 = rows[0]
    return "\n".join([
        "## Epoch times of the book's trainings (one process)",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- command: `{command}`",
        f"- machine: {device_text}; 1-minute load average {load}",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}",
        "- GPU: " + ("the GPU above; times are wall clock" if gpu else "none was available; every figure here is from "
                     "one core of the CPU above, and no GPU figure has been measured"),
        *([] if gpu else ["- clock: the epochs and the extrapolations below use each step's CPU time (one thread: what "
                          "it costs one core); the wall clock, with the machine's other work, is in the table"]),
        f"- QM7 epoch: {duration(qm7['epoch_s'])} ({qm7['steps_per_epoch']} steps of {qm7['s_per_step']:.3f} s and the "
        "validation)",
        *lines,
        "",
        *table,
    ])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    p.add_argument("--steps", type=int, default=12, help="timed EDM steps of the book's model")
    p.add_argument("--big-steps", type=int, default=3, help="timed EDM steps at the published size")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--results", default=str(RESULTS))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = " ".join(["python benchmarks/epoch_time.py"] + [shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])])
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch.cuda.is_available() is False on this machine")
        device_text = f"GPU {torch.cuda.get_device_name()}, host {results.cpu_model()}"
    else:
        device_text = (f"{results.cpu_model()}, {os.cpu_count()} logical cores (shared with other jobs), torch threads "
                       f"{torch.get_num_threads()}")
    load_start = os.getloadavg()[0]
    rows = [qm7_epoch(args.device)]
    print(rows[-1], flush=True)
    rows += edm_rows(args.steps, args.big_steps, args.device)
    load = f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    text = section(rows, device_text, command, load, gpu=args.device == "cuda")
    print(text)
    if not args.no_write:
        results.write_section("epoch_time", text, args.results)
        print(f"wrote the epoch_time section of {args.results}")
    return {"rows": rows, "text": text}


if __name__ == "__main__":
    main()
