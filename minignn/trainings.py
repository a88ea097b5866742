r"""The book's two real trainings as commands: one CPU, one GPU, or N processes under ``torchrun``.

    python -m minignn.train qm7 --epochs 100 --device cuda          # PaiNN on QM7 (chapter qm7)
    python -m minignn.train qm9-edm --subset all --epochs 3000       # EDM on QM9 (chapter diffusion)
    torchrun --nproc_per_node=4 -m minignn.train qm9-edm --device cuda --subset all --epochs 3000

``benchmarks/qm7.py`` trains through :func:`fit_qm7` and ``benchmarks/qm9_diffusion.py`` through
:func:`minignn.edm.train_edm`, which is :class:`minignn.edm.EDMTrainer`: one training path per model, whether it
runs in a benchmark, on a laptop or on a cluster.

**Scaling out.**  Under ``torchrun --nproc_per_node=N`` every process is a rank of one
DistributedDataParallel job (gloo on CPU, nccl on CUDA, :func:`minignn.train.init_distributed`).  The global
batch ``--batch-size`` :math:`B` is split over the :math:`W` ranks: each rank computes the loss of a disjoint
shard of :math:`B / W` molecules of every global batch, DDP averages the gradients, and the step is the
one-process step on the global batch.  Only rank 0 prints and writes; the validation MAE (QM7: early
stopping, best weights) and the EMA of the weights (EDM) are the same on every rank.

**Resuming.**  ``--checkpoint PATH`` is written atomically (QM7: after every epoch; EDM: every
``--checkpoint-every`` steps, default one epoch); ``--resume`` continues from it.  With ``--epochs`` (the learning
rate follows the steps) a run killed at any point (``kill -9``) and resumed ends with the same weights as an
uninterrupted one, bit for bit: the shuffling (QM7) depends only on the seed and the epoch, and the generator that
draws the EDM's batches, times and noise is in the checkpoint.  With ``--budget-min`` the learning rate follows
the elapsed time (a busy machine gives other weights), and a resumed run continues the clock of the checkpoint.
Checkpoints hold tensors only and are mapped to the device of the run that reads them: a GPU run resumes on a
CPU and the other way round.

Book: chapter beyond_the_laptop, section "Many processes".
"""

from __future__ import annotations

import argparse
import math
import re
import time
from pathlib import Path

import torch

from minignn.checkpoint import save_checkpoint
from minignn.checks import check_number
from minignn.train import History, Trainer, TrainConfig, lr_factor

__all__ = ["time_cosine", "fit_qm7", "qm9_subset", "qm7_main", "qm9_edm_main", "COMMANDS"]


def time_cosine(optimizer, budget_s: float, warmup_steps: int, min_ratio: float = 0.01, *, clock=time.perf_counter,
                agree=None, offset_s: float = 0.0, offset_steps: int = 0):
    """LambdaLR: :func:`minignn.train.lr_factor` of the step (linear warmup) and of the elapsed time over ``budget_s``.

    ``clock``: the seconds counter; ``agree(elapsed) -> elapsed``: makes the ranks of a DDP job agree on the elapsed
    time (every rank calls it at every step); ``offset_s``, ``offset_steps``: time and steps of an earlier run that
    this one continues."""
    start = clock()

    def factor(step: int) -> float:
        elapsed_s = offset_s + clock() - start
        if agree is not None:
            elapsed_s = agree(elapsed_s)
        return lr_factor(step + offset_steps, warmup_steps=warmup_steps, elapsed_s=elapsed_s, budget_s=budget_s,
                         min_ratio=min_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit_qm7(trainer: Trainer, budget_s: float | None = None, log=None, warmup_epochs: float = 2.0) -> History:
    """Train ``trainer`` one epoch per :meth:`~minignn.train.Trainer.fit` call, logging each (``log(text)``, rank 0).

    With ``budget_s`` the learning rate follows the elapsed wall-clock time (:func:`time_cosine`, warmup over
    ``warmup_epochs`` epochs; ``benchmarks/qm7.py``'s schedule) and the run stops when the budget is spent; without,
    the trainer's own step schedule runs to ``max_epochs``.  A trainer that was resumed continues its steps and its
    clock (the epochs' seconds in its history).  Returns the history."""
    if not isinstance(trainer, Trainer):
        raise ValueError(f"trainer expected a minignn.train.Trainer, got {type(trainer).__name__}")
    if budget_s is not None:
        budget_s = check_number(budget_s, "budget_s (None: train to max_epochs)", minimum=0, strict_minimum=True)
    warmup_epochs = check_number(warmup_epochs, "warmup_epochs", minimum=0)
    if log is not None and not callable(log):
        raise ValueError(f"log expected a function log(text) or None, got {type(log).__name__}")
    h = trainer.history
    if budget_s is not None:
        before = float(sum(h.time_s))
        agree = (lambda e: trainer._all_reduce(e, torch.distributed.ReduceOp.MAX)) if trainer.world_size > 1 else None
        trainer.scheduler = time_cosine(trainer.optimizer, budget_s, warmup_steps=round(warmup_epochs * len(trainer.loader)),
                                        agree=agree, offset_s=before, offset_steps=trainer.step)
        t0 = time.perf_counter() - before
    while True:
        if budget_s is not None:
            trainer.config.max_time_s = max(1.0, budget_s - (time.perf_counter() - t0))
        h = trainer.fit(epochs=1)
        if log is not None and trainer.rank == 0 and len(h):
            log(f"epoch {h.epoch[-1]:4d}  train loss {h.train_loss[-1]:.4f}  val MAE {h.val_mae[-1]:7.3f}  "
                f"lr {h.lr[-1]:.2e}  {h.time_s[-1]:.1f} s")
        spent = budget_s is not None and trainer._all_reduce(float(time.perf_counter() - t0 >= budget_s),
                                                             torch.distributed.ReduceOp.MAX) > 0  # every rank agrees
        if h.stop_reason != "paused" or spent:
            if spent and h.stop_reason == "paused":  # the budget ran out between two epochs
                h.stop_reason = "time_budget"
            return h


def _limit(indices: torch.Tensor, limit: int | None) -> torch.Tensor:
    """The entries of ``indices`` below ``limit`` (None: all): a split of the first ``limit`` molecules."""
    return indices if limit is None else indices[indices < limit]


def qm9_subset(molecules, subset: str):
    """The molecules of ``subset`` (``"all"``, or ``"heavyK"``: at most K heavy atoms, K in 1..9) and a description;
    the rule of ``benchmarks/qm9_diffusion.py``."""
    if subset == "all":
        return molecules, "all QM9 molecules"
    match = re.fullmatch(r"heavy([1-9])", str(subset))
    if match is None:
        raise ValueError(f"--subset expected 'all' or 'heavyK' with K in 1..9 (at most K heavy atoms), got {subset!r}")
    k = int(match.group(1))
    heavy = torch.zeros(len(molecules), dtype=torch.int64).index_add_(0, molecules.batch, (molecules.z > 1).long())
    return molecules.subset((heavy <= k).nonzero()[:, 0]), f"QM9 molecules with at most {k} heavy atoms"


def _common(p: argparse.ArgumentParser, batch_size: int) -> None:
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="under torchrun with cuda: rank r on cuda:LOCAL_RANK")
    p.add_argument("--epochs", type=int, default=None, help="epochs to train (the learning rate follows the steps)")
    p.add_argument("--budget-min", type=float, default=None,
                   help="wall-clock budget in minutes; the learning rate then follows the elapsed time (qm9-edm with "
                        "--epochs: the further of the steps and the time)")
    p.add_argument("--batch-size", type=int, default=batch_size, help="the global batch, split over the ranks")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N molecules (smoke runs)")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="resumable state, written during the run")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if the file exists")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=None, help="torch threads per process (default: torch's)")
    p.add_argument("--weights-out", default=None, help="the final weights; '{rank}' in the name: one file per rank")
    p.add_argument("--hold-after-steps", type=int, default=None, help=argparse.SUPPRESS)  # tests: wait to be killed


def _check_common(args) -> None:
    """The flags every command shares, checked before any data is read: ValueError naming the flag."""
    for flag in ("epochs", "batch_size", "limit", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} expected an integer >= 1, got {value}")
    if args.budget_min is not None and not (args.budget_min > 0 and math.isfinite(args.budget_min)):
        raise ValueError(f"--budget-min expected a number of minutes > 0, got {args.budget_min}")
    if args.resume and not args.checkpoint:
        raise ValueError("--resume expected --checkpoint PATH (the file to continue from), got no --checkpoint")
    if args.threads:
        torch.set_num_threads(args.threads)


def _hold(step: int, args) -> None:
    if args.hold_after_steps is not None and step == args.hold_after_steps:
        print(f"holding after step {step}", flush=True)
        time.sleep(600)


def _finish(owns_group: bool) -> None:
    if owns_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def qm7_main(argv=None) -> dict:
    """``python -m minignn.train qm7 --help``: PaiNN on QM7 atomization energies (benchmarks/qm7.py's model and
    training), on one process or as one rank of ``torchrun``."""
    from minignn.datasets import load_qm7
    from minignn.painn import PaiNN, PaiNNConfig, save_pretrained

    p = argparse.ArgumentParser(prog="python -m minignn.train qm7", description="PaiNN on QM7 atomization energies "
                                "(benchmarks/qm7.py's model and training), on one process or as one rank of torchrun.")
    _common(p, batch_size=32)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--folds", choices=["stratified", "file", "auto"], default="stratified")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--num-basis", type=int, default=20)
    p.add_argument("--cutoff", type=float, default=5.0)
    p.add_argument("--loss", choices=["l1", "mse"], default="l1")
    p.add_argument("--patience", type=int, default=0, help="epochs without a better validation MAE before stopping (0: never)")
    p.add_argument("--out", default=None, help="the best weights as a load_pretrained file (rank 0)")
    args = p.parse_args(argv)
    _check_common(args)
    owns_group = not torch.distributed.is_initialized()
    budget_s = 60 * args.budget_min if args.budget_min is not None else None
    if args.epochs is None and budget_s is None:
        budget_s = 3600.0  # benchmarks/qm7.py's default
    torch.manual_seed(args.seed)
    qm7 = load_qm7(folds=args.folds)
    n = len(qm7) if args.limit is None else min(args.limit, len(qm7))
    train, val, test = (_limit(i, n) for i in qm7.split(args.fold))
    if len(val) == 0 or len(train) == 0:
        raise ValueError(f"--limit expected enough molecules for a training and a validation set, got {args.limit} "
                         f"(train {len(train)}, validation {len(val)})")
    dtype = getattr(torch, args.dtype)
    graphs = qm7.graphs(cutoff=args.cutoff, indices=torch.arange(n))
    if dtype != torch.float32:
        graphs = [g.replace(pos=g.pos.to(dtype)) for g in graphs]
    pick = lambda idx: [graphs[i] for i in idx.tolist()]  # noqa: E731
    num_types = len(qm7.molecules.atom_types)
    model = PaiNN(PaiNNConfig(num_types=num_types, width=args.width, layers=args.layers, num_basis=args.num_basis,
                              cutoff=args.cutoff)).to(dtype)
    cfg = TrainConfig(max_epochs=args.epochs or 100_000, batch_size=args.batch_size, lr=args.lr, weight_decay=0.0,
                      loss=args.loss, patience=args.patience or None, max_time_s=budget_s, num_types=num_types,
                      eval_batch_size=512, seed=args.seed, device=args.device, progress=False,
                      checkpoint_path=args.checkpoint, warmup_epochs=2.0)
    trainer = Trainer(model, pick(train), pick(val), cfg)
    if args.resume and Path(args.checkpoint).exists():
        trainer.load(args.checkpoint)
    if args.hold_after_steps is not None:
        step = trainer._train_step

        def held(batch):
            loss = step(batch)
            _hold(trainer.step, args)
            return loss

        trainer._train_step = held
    say = trainer.rank == 0
    if say:
        print(f"qm7: {len(train)} train, {len(val)} validation, {len(test)} test molecules (fold {args.fold}"
              f"{'' if args.limit is None else f', first {n}'}); PaiNN {sum(q.numel() for q in model.parameters())} "
              f"parameters; world_size={trainer.world_size} device={trainer.device}", flush=True)
    t0 = time.perf_counter()
    h = fit_qm7(trainer, budget_s, log=lambda text: print(text, flush=True))
    seconds = time.perf_counter() - t0
    if trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    scores = trainer.evaluate(pick(test)) if len(test) else {"mae": math.nan, "rmse": math.nan}
    if args.weights_out and ("{rank}" in args.weights_out or trainer.rank == 0):
        save_checkpoint(args.weights_out.format(rank=trainer.rank), {k: v.cpu() for k, v in model.state_dict().items()})
    if say and args.out:
        save_pretrained(args.out, model, trainer.baseline, trainer.standardizer,
                        {"dataset": "QM7", "units": "kcal/mol", "cutoff": args.cutoff, "fold": args.fold,
                         "test_mae": scores["mae"], "epochs": len(h), "command": "python -m minignn.train qm7"})
    steps = trainer.step
    result = {"epochs": len(h), "steps": steps, "seconds": seconds, "stop_reason": h.stop_reason,
              "val_mae": trainer.best_val, "test_mae": scores["mae"], "world_size": trainer.world_size}
    if say:
        print(f"qm7: world_size={trainer.world_size} device={trainer.device}: {len(h)} epochs ({steps} steps) in "
              f"{seconds:.1f} s, stopped by {h.stop_reason}; best validation MAE {trainer.best_val:.3f} kcal/mol at "
              f"epoch {h.best_epoch}, test MAE {scores['mae']:.3f} kcal/mol", flush=True)
    _finish(owns_group)
    return result


def qm9_edm_main(argv=None) -> dict:
    """``python -m minignn.train qm9-edm --help``: the EDM diffusion model on QM9 (benchmarks/qm9_diffusion.py's model
    and training), on one process or as one rank of ``torchrun``.  An epoch is ceil(M / B) steps of B molecules
    drawn at random (M molecules in the subset)."""
    from minignn.datasets import load_qm9
    from minignn.edm import EDM, EDMConfig, EDMTrainer, save_edm

    p = argparse.ArgumentParser(prog="python -m minignn.train qm9-edm", description="The EDM diffusion model on QM9 "
                                "(benchmarks/qm9_diffusion.py's model and training), on one process or as one rank of "
                                "torchrun.  An epoch is ceil(M / B) steps of B molecules drawn at random from the M of "
                                "the subset.")
    _common(p, batch_size=64)
    p.add_argument("--subset", default="heavy8", help="'all' or 'heavyK': molecules with at most K heavy atoms")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the weights (0: none)")
    p.add_argument("--time-sampling", choices=["uniform", "low_noise"], default="low_noise")
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints (default: one epoch)")
    p.add_argument("--log-every", type=int, default=None, help="steps between printed losses (default: one epoch)")
    p.add_argument("--out", default=None, help="the EMA weights as a load_edm file (rank 0)")
    args = p.parse_args(argv)
    _check_common(args)
    for flag in ("checkpoint_every", "log_every"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} expected an integer >= 1, got {getattr(args, flag)}")
    owns_group = not torch.distributed.is_initialized()
    molecules, text = qm9_subset(load_qm9().molecules, args.subset)
    if args.limit is not None:
        molecules = molecules.subset(torch.arange(min(args.limit, len(molecules))))
        text += f", the first {len(molecules)}"
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    model = EDM(EDMConfig(width=args.width, layers=args.layers), molecules.num_atoms).to(dtype)
    per_epoch = math.ceil(len(molecules) / args.batch_size)
    budget_s = 60 * args.budget_min if args.budget_min is not None else None
    if args.epochs is None and budget_s is None:
        budget_s = 7200.0  # benchmarks/qm9_diffusion.py's default
    steps = args.epochs * per_epoch if args.epochs is not None else 10**9
    trainer = EDMTrainer(model, molecules, steps, args.batch_size, args.lr, torch.Generator().manual_seed(args.seed),
                         budget_s, args.ema or None, warmup_steps=args.warmup_steps, time_sampling=args.time_sampling,
                         device=args.device, distributed=True)
    if args.resume and Path(args.checkpoint).exists():
        trainer.load(args.checkpoint)
    say = trainer.rank == 0
    if say:
        print(f"qm9-edm: {text}: {len(molecules)} molecules, {per_epoch} steps of {args.batch_size} per epoch; EDM "
              f"{sum(q.numel() for q in model.parameters())} parameters; world_size={trainer.world_size} "
              f"device={trainer.device}{f'; resumed at step {trainer.step}' if trainer.step else ''}", flush=True)
    log = trainer.run(log_every=args.log_every or per_epoch, checkpoint=args.checkpoint,
                      checkpoint_every=args.checkpoint_every or per_epoch, on_step=lambda s: _hold(s, args))
    final = trainer.ema.module if trainer.ema is not None else model
    if args.weights_out and ("{rank}" in args.weights_out or trainer.rank == 0):
        save_checkpoint(args.weights_out.format(rank=trainer.rank),
                        {f"{part}.{k}": v.cpu() for part, m in (("model", model), ("ema", final))
                         for k, v in m.state_dict().items()})
    if say and args.out:
        save_edm(args.out, final.cpu() if trainer.device.type != "cpu" else final,
                 {"steps": trainer.step, "train_s": trainer.elapsed_s, "subset": args.subset,
                  "command": "python -m minignn.train qm9-edm"})
    recent = trainer.losses[-per_epoch:]
    result = {"steps": trainer.step, "epochs": trainer.step / per_epoch, "seconds": log.seconds,
              "loss": sum(recent) / max(1, len(recent)), "world_size": trainer.world_size}
    if say:
        print(f"qm9-edm: world_size={trainer.world_size} device={trainer.device}: {trainer.step} steps "
              f"({result['epochs']:.2f} epochs), {log.seconds:.1f} s this run ({trainer.elapsed_s:.1f} s in all); "
              f"loss of the last epoch {result['loss']:.4f}", flush=True)
    _finish(owns_group)
    return result


#: The commands of ``python -m minignn.train`` besides ``--dataset synthetic``.
COMMANDS = {"qm7": qm7_main, "qm9-edm": qm9_edm_main}
