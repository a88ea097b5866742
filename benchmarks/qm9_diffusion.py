"""Benchmark: EDM (an E(3)-equivariant diffusion model) on QM9, trained on CPU under a wall-clock budget.

    python benchmarks/qm9_diffusion.py                     # 120 min of training, 1000 samples; writes RESULTS.md + checkpoint
    python benchmarks/qm9_diffusion.py --subset all        # all of QM9 instead of the default subset
    python benchmarks/qm9_diffusion.py --quick             # smoke test, ~1-2 min; prints only (add --write to write)
    python benchmarks/qm9_diffusion.py --no-write          # full run that writes nothing
    python benchmarks/qm9_diffusion.py --skip-training     # sample and evaluate the saved checkpoint again

Protocol.  Data: the QM9 molecules of ``--subset``: ``heavy8`` (default) keeps the 21,800 molecules with at most
8 heavy atoms (C, N, O, F; hydrogens explicit, 16.1 atoms on average); ``heavyK`` keeps at most K heavy atoms;
``all`` keeps all 130,831 molecules of qm9pack.  All of them are training data (a generative model has no test
set; novelty is measured against them).  Model: :class:`minignn.edm.EDM` (``--width``, ``--layers``) trained by
:func:`minignn.edm.train_edm` (Adam, batch ``--batch-size``, warmup then a cosine of the elapsed time over the
budget, EMA of the weights ``--ema``; training times skewed to low noise, ``--time-sampling low_noise``, and the
network run through ``torch.compile``, ``--compile``: the two changes the ablations kept, see ``--ablation``).  Generation: ``--num-samples`` molecules with the EMA weights, the
``--sampler`` of :mod:`minignn.diffusion` with ``--sample-steps`` steps, in chunks of 100 (the first chunk's
time is the "100 molecules" figure).  Metrics (:func:`minignn.metrics.evaluate_molecules`): atom and molecule
stability, RDKit validity, uniqueness, novelty against the training SMILES (same bond-inference pipeline);
the reference row evaluates 1000 random training molecules the same way.  The published rows (full QM9,
10,000 samples, GPU training) are the QM9 results of Hoogeboom et al. 2022 (:data:`minignn.edm.PUBLISHED_QM9`).

Wall clock: the budget covers training only; sampling 1000 molecules (500 steps each) and the evaluation add
about 10 minutes on 2 idle cores (~0.1 s of CPU per sampler step for 100 molecules with the default model).
The weights are saved as soon as training ends, so ``--skip-training`` can redo the rest.

Outputs: a table on stdout; the ``qm9_diffusion`` section of ``benchmarks/RESULTS.md`` (between
``<!-- qm9_diffusion:begin -->`` and ``<!-- qm9_diffusion:end -->``, rewritten atomically, other sections
untouched); the checkpoint ``minignn/checkpoints/qm9_edm.pt`` (float32 EMA weights, config, p(n), metrics;
read it with :func:`minignn.edm.load_edm`).

Threads: ``--threads auto`` (default) times 8 training steps with one thread and with torch's default and keeps
the faster: on a 2-core machine shared with other jobs, two OpenMP threads were measured ~50x slower than one
for this model (each of the many small operations waits for a descheduled thread).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import re
import shlex
import sys
import time

import torch

from minignn import results
from minignn.datasets import load_qm9
from minignn.edm import EDM, PUBLISHED_COMPUTE, PUBLISHED_QM9, EDMConfig, load_edm, qm9_checkpoint_path, sample_molecules, save_edm, train_edm
from minignn.metrics import dataset_smiles, evaluate_molecules, reference_row
from minignn.schedules import SCHEDULES

RESULTS = pathlib.Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- qm9_diffusion:begin -->", "<!-- qm9_diffusion:end -->"
TARGETS = {"atom_stability": 0.96, "mol_stability": 0.60, "validity": 0.85, "uniqueness": 0.90}  # issue 15
METRICS = ("atom_stability", "mol_stability", "validity", "uniqueness", "valid_and_unique", "novelty",
           "charged_mol_stability", "xyz_validity")
HEADERS = ("atom stab. (%)", "mol. stab. (%)", "validity (%)", "uniqueness (%)", "valid & unique (%)", "novelty (%)",
           "mol. stab., charges allowed (%)", "validity, RDKit's bonds (%)")


def log(*args) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}]", *args, flush=True)




def select_subset(molecules, subset: str):
    """The molecules of ``subset`` ("all" or "heavyK": at most K heavy atoms) and a description."""
    if subset == "all":
        return molecules, "all of QM9"
    match = re.fullmatch(r"heavy([1-9])", subset)
    if not match:
        raise ValueError(f"--subset must be 'all' or 'heavyK' with K in 1..9 (at most K heavy atoms), got {subset!r}")
    k = int(match.group(1))
    heavy = torch.zeros(len(molecules), dtype=torch.int64).index_add_(0, molecules.batch, (molecules.z > 1).long())
    return molecules.subset((heavy <= k).nonzero()[:, 0]), f"QM9 molecules with at most {k} heavy atoms"


def choose_threads(threads: str, model, molecules, batch_size: int) -> int:
    """Set torch's thread count: an integer, or "auto" (time 8 training steps of a copy of the model with
    1 thread and with torch's default; keep the faster)."""
    if threads != "auto":
        torch.set_num_threads(int(threads))
        return int(threads)
    import copy

    seconds = {}
    for n in sorted({1, torch.get_num_threads()}, reverse=True):
        torch.set_num_threads(n)
        seconds[n] = train_edm(copy.deepcopy(model), molecules, steps=8, batch_size=batch_size, ema_decay=None,
                               generator=torch.Generator().manual_seed(0)).seconds
    best = min(seconds, key=seconds.get)
    torch.set_num_threads(best)
    log("threads: " + ", ".join(f"{n}: {t:.1f} s for 8 steps" for n, t in seconds.items()) + f"; using {best}")
    return best


def sample_in_chunks(model, num: int, steps: int, sampler: str, seed: int, chunk: int = 100, time_power: float = 1.0):
    """``num`` molecules in chunks of ``chunk``; returns (list of (z, pos), seconds per chunk)."""
    generator = torch.Generator().manual_seed(seed)
    molecules, times = [], []
    for start in range(0, num, chunk):
        t0 = time.perf_counter()
        out = sample_molecules(model, min(chunk, num - start), generator, steps=steps, sampler=sampler,
                               time_power=time_power)
        times.append(time.perf_counter() - t0)
        molecules += [(m.z, m.pos) for m in out]
        log(f"sampled {len(molecules)}/{num} molecules ({times[-1]:.1f} s for the last {min(chunk, num - start)})")
    return molecules, times


def display_path(path: pathlib.Path) -> str:
    """``path`` relative to the repository when inside it (``minignn/checkpoints/qm9_edm.pt``), else as given."""
    try:
        return str(path.resolve().relative_to(RESULTS.parent.parent))
    except ValueError:
        return str(path)


def pct(v) -> str:
    return "-" if v is None or v != v else f"{100 * v:.1f}"


NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def earlier_runs(record) -> list:
    """The runs before the last one, oldest first, each ``{steps, train_s, command}`` counting its own steps only.

    ``record`` is a checkpoint's ``continued_from``: a dict (the record of one earlier run, whose own
    ``continued_from`` may hold the runs before it, with cumulative steps and seconds) or None."""
    runs = []
    while record:
        runs.append(dict(steps=record["steps"], train_s=record["train_s"], command=record["command"]))
        record = record.get("continued_from")
    runs.reverse()
    for k in range(len(runs) - 1, 0, -1):  # cumulative counts -> each run's own
        runs[k]["steps"] -= runs[k - 1]["steps"]
        runs[k]["train_s"] -= runs[k - 1]["train_s"]
    return runs


def runs_text(r: dict) -> str:
    """How the training was done: " (budget B min)" for one run, else "; in N runs: A steps (x min) by `cmd`, then ..."."""
    runs = earlier_runs(r.get("continued_from"))
    if not runs:
        return f" (budget {r['budget_min']:g} min)"
    last = dict(steps=r["steps"] - sum(run["steps"] for run in runs),
                train_s=60 * r["train_min"] - sum(run["train_s"] for run in runs))
    parts = [f"{run['steps']} {'steps' if k == 0 else 'more steps'} ({run['train_s'] / 60:.1f} min) by `{run['command']}`"
             for k, run in enumerate(runs)]
    parts.append(f"{last['steps']} more steps ({last['train_s'] / 60:.1f} min, budget {r['budget_min']:g} min) by the "
                 f"command above")
    return f"; in {NUMBER_WORDS.get(len(runs) + 1, len(runs) + 1)} runs: " + ", then ".join(parts)


def section(r: dict) -> str:
    rows = [(f"QM9 reference ({r['reference_size']} random training molecules)", "the data", r["reference"]),
            (f"EDM, this package ({r['num_samples']} samples)",
             f"{r['subset_text']}, {r['train_min']:.0f} min on 1 CPU core, {r['steps']} steps", r["metrics"])]
    rows += [(f"{name}, published (10,000 samples)" if name != "data" else "QM9 itself, as evaluated by EDM (published)",
              PUBLISHED_COMPUTE[name], {k: v / 100 for k, v in row.items()})
             for name, row in PUBLISHED_QM9.items() if name in ("EDM", "GDM-aug", "G-SchNet", "data")]
    table = ["| model | compute | " + " | ".join(HEADERS) + " |", "|" + " --- |" * (len(HEADERS) + 2)]
    table += ["| " + " | ".join([name, compute] + [pct(row.get(k)) for k in METRICS]) + " |" for name, compute, row in rows]
    met = [f"{k} {pct(r['metrics'][k])}% {'>=' if r['metrics'][k] >= v else '<'} {100 * v:.0f}%" for k, v in TARGETS.items()]
    met.append(f"100 molecules in {r['time_100']:.1f} s {'<' if r['time_100'] < 60 else '>='} 60 s")
    return "\n".join([
        BEGIN,
        "## QM9 generation (EDM, CPU budget)",
        "",
        f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
        f"- command: `{r['command']}`",
        *([f"- sampled and evaluated again by: `{r['evaluated_by']}`"] if r.get("evaluated_by") else []),
        f"- machine: {results.cpu_model()}, {os.cpu_count()} logical cores (shared with other jobs), torch threads "
        f"{torch.get_num_threads()}; 1-minute load average {r['load']}",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}",
        f"- data: {r['subset_text']} (`--subset {r['subset']}`): {r['num_train']} molecules, "
        f"{r['mean_atoms']:.1f} atoms on average, all used for training",
        f"- model: {r['config_text']}, {r['params']} parameters",
        f"- training: {r['train_min']:.1f} min, {r['steps']} steps of "
        f"{r['batch_size']} molecules ({r['epochs']:.1f} epochs), loss of the last 500 steps {r['final_loss']:.4f}"
        + runs_text(r),
        f"- sampling: {r['sampler']} sampler, {r['sample_steps']} steps"
        + (f" on the grid t_k = (k / {r['sample_steps']})^{r['time_power']:g}" if r.get("time_power", 1) != 1 else "")
        + f", EMA weights; {r['sec_per_mol']:.3f} s per "
        f"molecule; 100 molecules in {r['time_100']:.1f} s",
        f"- targets: {'; '.join(met)}",
        f"- checkpoint: `{r['checkpoint_name']}` ({r['checkpoint_kb']:.0f} kB)",
        "",
        *table,
        "",
        END,
    ])


ABLATION_COLUMNS = ["change", "flags", "steps", "train min", "ms per step", "final loss", "atom stab. (%)",
                    "mol. stab. (%)", "validity (%)", "uniqueness (%)", "samples"]


def write_ablation_row(args, r: dict, model, info: dict, path: pathlib.Path) -> None:
    """One row of the ablation table (section ``qm9_diffusion_ablations``); rows of other runs are kept.
    The flags are read from the model and its training record (``info``), so a re-evaluation states them right."""
    c = model.config
    flags = " ".join(f"{k} {v}" for k, v in (("--rbf", c.rbf), ("--parametrization", c.parametrization),
                                             ("--bond-head", info.get("bond_weight", args.bond_head)),
                                             ("--time-sampling", info.get("time_sampling", args.time_sampling)),
                                             ("--width", c.width), ("--layers", c.layers),
                                             ("--sample-steps", args.sample_steps)))
    flags += f" --time-power {args.time_power:g}" if args.time_power != 1 else ""
    flags += f" --schedule {c.schedule}" if c.schedule != "cosine" else ""
    if info.get("budget_min") and "--steps" not in info.get("command", "--steps"):  # trained for a time, not steps
        flags += f" --budget-min {info['budget_min']:g}"
    flags += " --compile" if info.get("compile") else ""
    preamble = "\n".join([
        "## QM9 generation: ablations (EDM, short CPU runs)",
        "",
        "- protocol: each row trains from the same seed for a fixed number of steps (the learning-rate schedule "
        "follows the steps, so a row does not depend on the machine's load), or, where its flags say `--budget-min`, "
        "for that many minutes of wall-clock time (its steps then depend on the load), then samples `samples` molecules "
        "with the EMA weights and evaluates them with minignn.metrics; `ms per step` is wall-clock time on a shared "
        "machine (compare the costs of changes with an idle-machine timing); `final loss` is the mean of the last 500 steps "
        "and compares only rows with the same loss (`--parametrization`, `--time-sampling`, `--bond-head`)",
        f"- machine: {results.cpu_model()}, {os.cpu_count()} logical cores (shared with other jobs), 1 torch thread per run",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}",
        f"- command: `python benchmarks/qm9_diffusion.py --ablation LABEL --steps N --num-samples 500 [flags]`",
        f"- last row written: {datetime.datetime.now():%Y-%m-%d %H:%M}",
    ])
    row = {"change": args.ablation, "flags": f"`{flags}`", "steps": r["steps"], "train min": f"{r['train_min']:.1f}",
           "ms per step": f"{1000 * 60 * r['train_min'] / max(r['steps'], 1):.0f}", "final loss": f"{r['final_loss']:.4f}",
           "atom stab. (%)": pct(r["metrics"]["atom_stability"]), "mol. stab. (%)": pct(r["metrics"]["mol_stability"]),
           "validity (%)": pct(r["metrics"]["validity"]), "uniqueness (%)": pct(r["metrics"]["uniqueness"]),
           "samples": r["num_samples"]}
    results.upsert_row("qm9_diffusion_ablations", preamble, ABLATION_COLUMNS, row, key="change", path=path)


def partial_path(ckpt: pathlib.Path) -> pathlib.Path:
    """Where a run saves its weights so far (``qm9_edm.partial.pt`` beside ``qm9_edm.pt``; git-ignored)."""
    return ckpt.with_name(ckpt.stem + ".partial.pt")


def continue_from(path: pathlib.Path, config: EDMConfig, subset: str):
    """The EDM saved at ``path`` and its record, to train further; its configuration must be ``config``'s
    (the flags' defaults) and its training set ``subset``."""
    model, info = load_edm(path)
    differ = [f"{k} {getattr(model.config, k)!r} (flags: {getattr(config, k)!r})"
              for k in ("width", "layers", "rbf", "parametrization", "bond_head", "schedule")
              if getattr(model.config, k) != getattr(config, k)]
    if differ:
        raise SystemExit(f"--init-from {path}: its model differs from the flags: {', '.join(differ)}")
    if info.get("subset") != subset:
        raise SystemExit(f"--init-from {path}: trained on --subset {info.get('subset')!r}, not {subset!r}")
    if "steps" not in info or "train_s" not in info:
        raise SystemExit(f"--init-from {path}: its record has no steps/train_s")
    return model, info


def write_section(text: str, path: pathlib.Path = RESULTS) -> None:
    """Replace the qm9_diffusion section of ``path`` (or append it), atomically; the rest is left untouched."""
    results.write_section("qm9_diffusion", text.replace(BEGIN, "").replace(END, ""), path)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="subsets: 'heavy8' = at most 8 heavy atoms (21,800 molecules), 'heavyK' likewise, 'all'")
    p.add_argument("--budget-min", type=float, default=120.0, help="wall-clock training budget in minutes")
    p.add_argument("--subset", default="heavy8", help="'all' or 'heavyK': molecules with at most K heavy atoms")
    p.add_argument("--quick", action="store_true", help="smoke test (~1-2 min: tiny model, 0.5 min of training, "
                   "50 samples); writes nothing unless --write")
    p.add_argument("--write", action="store_true", help="with --quick: still write RESULTS.md and the checkpoint")
    p.add_argument("--no-write", action="store_true", help="write neither RESULTS.md nor the checkpoint")
    p.add_argument("--skip-training", action="store_true", help="load --checkpoint and only sample and evaluate")
    p.add_argument("--checkpoint", default=None, help="default: minignn/checkpoints/qm9_edm.pt")
    p.add_argument("--results", default=str(RESULTS), help="the shared results file (only this section is rewritten)")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the weights used for sampling")
    p.add_argument("--num-samples", type=int, default=1000)
    p.add_argument("--sample-steps", type=int, default=250, help="sampler steps (250: the ablation on the shipped weights measured the same stability as 500, in half the time)")
    p.add_argument("--sampler", default="ancestral", choices=["ancestral", "euler_maruyama", "probability_flow"])
    p.add_argument("--time-power", type=float, default=2.0, help="the sampler's time grid t_k = (k / steps)^p: 1 "
                   "uniform, p > 1 more steps at low noise, where bond orders are decided (2: measured better than 1 "
                   "and as good as 3, see the ablations)")
    p.add_argument("--threads", default="auto", help="torch threads, or 'auto': time a few training steps with 1 thread "
                   "and with torch's default and keep the faster (on a shared machine two threads can be far slower)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="stop after this many training steps (default: the budget "
                   "alone); with --steps the learning-rate schedule follows the steps, so a run does not depend on the "
                   "machine's load")
    p.add_argument("--rbf", type=int, default=0, help="Gaussian distance features per edge beside d^2 (0: none, as EDM)")
    p.add_argument("--parametrization", default="eps", choices=["eps", "x0"],
                   help="what the EGNN predicts: the noise (EDM) or the clean molecule (loss weighted by clamp(SNR, 0.05, 1.5))")
    p.add_argument("--schedule", default="cosine", choices=sorted(SCHEDULES),
                   help="the noise schedule (cosine: Nichol & Dhariwal's; polynomial: EDM's polynomial_2, precision 1e-5)")
    p.add_argument("--bond-head", type=float, default=0.0, help="weight of an auxiliary bond-order loss (0: no bond head)")
    p.add_argument("--time-sampling", default="low_noise", choices=["uniform", "low_noise"],
                   help="training times: Beta(1, 2), twice as many low-noise steps (default, measured better), or U(0, 1) "
                        "(EDM)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                   help="train through torch.compile (default; the EGNN's elementwise operations fused, about 1.5x more "
                        "steps in the same time on a CPU; compiling counts in the budget); --no-compile for eager")
    p.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                   help="continue training the EDM saved in CHECKPOINT (its configuration; --width, --layers, --rbf, "
                        "--parametrization and --bond-head must agree or be left out); the record adds its steps and minutes")
    p.add_argument("--ablation", default=None, metavar="LABEL",
                   help="an ablation run: write one row (LABEL, steps, loss, stability and validity) into the "
                        "qm9_diffusion_ablations section of --results instead of the main section and the checkpoint "
                        "(with --skip-training: evaluate --checkpoint again)")
    args = p.parse_args(argv)
    if args.quick:  # small everything, unless set explicitly
        given = set(argv if argv is not None else sys.argv[1:])
        for flag, value in (("--budget-min", 0.5), ("--subset", "heavy6"), ("--width", 32), ("--layers", 2),
                            ("--num-samples", 50), ("--sample-steps", 100), ("--batch-size", 32)):
            if flag not in given:
                setattr(args, flag[2:].replace("-", "_"), value)
        if not {"--compile", "--no-compile"} & given:
            args.compile = False  # compiling takes longer than the whole smoke test
    write = (not args.quick or args.write) and not args.no_write and not args.ablation
    torch.manual_seed(args.seed)
    command = "python benchmarks/qm9_diffusion.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    ckpt = pathlib.Path(args.checkpoint) if args.checkpoint else qm9_checkpoint_path()

    qm9 = load_qm9()
    train, subset_text = select_subset(qm9.molecules, args.subset)
    log(f"{subset_text}: {len(train)} molecules, {train.num_atoms.double().mean():.1f} atoms on average")
    load_start = os.getloadavg()[0]
    if args.skip_training:
        model, info = load_edm(ckpt)
        choose_threads(args.threads, model, train, args.batch_size)
        steps, train_s, final_loss = info["steps"], info["train_s"], info["final_loss"]
        log(f"loaded {ckpt} ({info.get('command', '?')})")
    else:
        config = EDMConfig(width=args.width, layers=args.layers, rbf=args.rbf, parametrization=args.parametrization,
                           bond_head=args.bond_head > 0, schedule=args.schedule)
        model, earlier = EDM(config, train.num_atoms), None
        if args.init_from:
            model, earlier = continue_from(pathlib.Path(args.init_from), config, args.subset)
            config = model.config
            log(f"continuing {args.init_from}: {earlier['steps']} steps, {earlier['train_s'] / 60:.1f} min "
                f"({earlier.get('command', '?')})")
        choose_threads(args.threads, model, train, args.batch_size)
        log(f"EDM {config}: {sum(q.numel() for q in model.parameters())} parameters; budget {args.budget_min:g} min, "
            f"torch threads {torch.get_num_threads()}")
        partial = partial_path(ckpt)
        saves = write or (args.ablation and not args.no_write)

        def save_so_far(done: int, seconds: float, weights) -> None:
            """Every log point: the weights so far, so that a crash loses minutes, not the run (--init-from it)."""
            before = earlier or {"steps": 0, "train_s": 0.0}
            save_edm(partial, weights, dict(steps=before["steps"] + done, train_s=before["train_s"] + seconds,
                                            subset=args.subset, command=command, partial=True,
                                            time_sampling=args.time_sampling, lr=args.lr))

        result = train_edm(model, train, steps=args.steps or 10**9, batch_size=args.batch_size, lr=args.lr,
                           generator=torch.Generator().manual_seed(args.seed), time_budget_s=60 * args.budget_min,
                           ema_decay=args.ema, log_every=20 if args.quick else 1000,
                           time_sampling=args.time_sampling, bond_weight=args.bond_head or 1.0, compile=args.compile,
                           on_log=save_so_far if saves else None)
        steps, train_s = len(result.losses), result.seconds
        final_loss = sum(result.losses[-500:]) / len(result.losses[-500:])
        if earlier is not None:  # the record counts all the training this model had
            steps, train_s = steps + earlier["steps"], train_s + earlier["train_s"]
        if result.ema is not None:
            model = result.ema
        model.eval()
        info = dict(steps=steps, train_s=train_s, final_loss=final_loss, subset=args.subset, command=command,
                    batch_size=args.batch_size, lr=args.lr, ema=args.ema, budget_min=args.budget_min,
                    time_sampling=args.time_sampling, bond_weight=args.bond_head, compile=args.compile)
        if earlier is not None:
            info["continued_from"] = {k: earlier.get(k) for k in ("steps", "train_s", "command", "time_sampling", "lr",
                                                                  "continued_from") if k in earlier}
        if write:  # save the weights now: a crash while sampling must not lose two hours of training
            save_edm(ckpt, model, info)
            log(f"saved {ckpt}")
            partial.unlink(missing_ok=True)  # the weights so far: superseded
    load_end = os.getloadavg()[0]
    params = sum(q.numel() for q in model.parameters())
    log(f"trained {steps} steps in {train_s / 60:.1f} min; loss of the last 500 steps {final_loss:.4f}")

    samples, times = sample_in_chunks(model, args.num_samples, args.sample_steps, args.sampler, args.seed + 1,
                                      time_power=args.time_power)
    log("training SMILES (bond inference + RDKit on every training molecule) ...")
    known = dataset_smiles(train)
    metrics = evaluate_molecules(samples, known)
    reference_size = min(1000, len(train))
    reference = reference_row(train, num=reference_size, seed=args.seed)
    r = dict(command=info.get("command", command) if args.skip_training else command,
             evaluated_by=command if args.skip_training else None, subset=args.subset, subset_text=subset_text, num_train=len(train),
             mean_atoms=float(train.num_atoms.double().mean()), params=params,
             budget_min=info.get("budget_min", args.budget_min) if args.skip_training else args.budget_min,
             train_min=train_s / 60, steps=steps, batch_size=args.batch_size,
             epochs=steps * args.batch_size / len(train), final_loss=final_loss, sampler=args.sampler,
             sample_steps=args.sample_steps, time_power=args.time_power, sec_per_mol=sum(times) / args.num_samples,
             time_100=times[0] * 100 / min(100, args.num_samples), num_samples=args.num_samples,
             continued_from=info.get("continued_from"), metrics=metrics, reference=reference, reference_size=reference_size, checkpoint_name=display_path(ckpt),
             checkpoint_kb=0.0, load=(f"{load_start:.1f} when this evaluation started (the training ran before)"
                                     if args.skip_training else
                                     f"{load_start:.1f} at the start, {load_end:.1f} at the end of training"),
             config_text=f"EGNN width {model.config.width}, {model.config.layers} layers, complete graphs, "
                         f"{model.config.schedule} schedule, types scaled by {model.config.type_scale}")
    print()
    print(f"{'':<28}" + "".join(f"{k:>18}" for k in METRICS))
    for name, row in (("QM9 reference", reference), ("EDM (this package)", metrics)):
        print(f"{name:<28}" + "".join(f"{pct(row.get(k)):>18}" for k in METRICS))
    print(f"sampling: {r['sec_per_mol']:.3f} s per molecule, 100 molecules in {r['time_100']:.1f} s; {params} parameters")
    if args.ablation and not args.no_write:
        write_ablation_row(args, r, model, info, pathlib.Path(args.results))
        if not args.skip_training:
            save_edm(ckpt, model, info)  # kept for a later --skip-training evaluation
            partial_path(ckpt).unlink(missing_ok=True)
        log(f"wrote the row {args.ablation!r} of the qm9_diffusion_ablations section of {args.results}"
            + ("" if args.skip_training else f" and {ckpt}"))
    if write:
        info |= {k: metrics[k] for k in METRICS} | {"sampler": args.sampler, "sample_steps": args.sample_steps,
                                                    "time_power": args.time_power,
                                                    "sec_per_mol": r["sec_per_mol"], "num_samples": args.num_samples}
        save_edm(ckpt, model, info)
        r["checkpoint_kb"] = ckpt.stat().st_size / 1024
        load_edm(ckpt)  # reloads with weights_only=True
        write_section(section(r), pathlib.Path(args.results))
        log(f"wrote {ckpt} ({r['checkpoint_kb']:.0f} kB) and the qm9_diffusion section of {args.results}")
    elif not (args.ablation and not args.no_write):  # an ablation run wrote its row above
        log("nothing written (--quick without --write, or --no-write)")
    return r


if __name__ == "__main__":
    main()
