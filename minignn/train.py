r"""Training a graph regressor: composition baseline, standardised residual, AdamW.

$$\hat y_g = \underbrace{b + \sum_{j \in g} w_{t_j}}_{\text{baseline}} + \mu + \sigma\, f_\theta(G_g)$$

The baseline is a least-squares fit of the target on the composition of each graph (how
many nodes of each type :math:`t_j` it has); :math:`\mu, \sigma` standardise the residual it
leaves on the training set; the model learns :math:`z_g = (y_g - \text{baseline}_g - \mu) / \sigma`
with AdamW, a cosine learning rate after a linear warmup (:func:`lr_factor`, stepped per optimizer step),
gradient clipping, and early stopping on the validation MAE in target units.

**Model interface**: the package's calling convention, ``model(x, pos, edge_index, batch=, num_graphs=)``
(or ``model(x, edge_index, ...)`` for a model without positions), called on each batch through
:func:`minignn.graph.call_model`, returns ``[num_graphs]`` (or ``[num_graphs, 1]``): the standardised
residual :math:`f_\theta`; :class:`Trainer` adds back baseline, :math:`\mu` and :math:`\sigma`.

**Scaling out**: under ``torchrun --nproc_per_node=N`` (which sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) the process group starts (gloo on CPU, nccl on CUDA), the model is wrapped in
``DistributedDataParallel`` and each rank takes an equal, disjoint shard of every global batch.
DDP averages the gradients over ranks, so a step equals a single-process step on the global
batch.  Only rank 0 prints and writes checkpoints.  Command line (same under torchrun):
``python -m minignn.train --dataset synthetic --epochs 3 --device cpu``; the book's two trainings,
``python -m minignn.train qm7 ...`` and ``python -m minignn.train qm9-edm ...``, are :mod:`minignn.trainings`.

Book: chapter qm7, section "A network with scalar and vector features".
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from minignn.baselines import CompositionBaseline, Standardizer, composition
from minignn.checkpoint import TRAIN_FORMAT, load_checkpoint, load_weights, save_checkpoint
from minignn.checks import check_bool, check_int, check_number
from minignn.graph import Graph, batch as batch_graphs, call_model, to_undirected
from minignn.mpnn import MPNN

try:  # progress bars are optional; notebook bars need ipywidgets (tqdm.auto warns without it)
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
except ImportError:
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None

__all__ = ["GraphLoader", "lr_factor", "TrainConfig", "History", "Trainer", "predict", "evaluate", "init_distributed",
           "synthetic_graphs", "TypeMPNN", "main"]

LOSSES = {"mse": nn.functional.mse_loss, "l1": nn.functional.l1_loss}


class GraphLoader:
    r"""Batches of graphs (merged by :func:`minignn.graph.batch`), deterministic.

    With ``shuffle`` the order of epoch ``e`` is ``randperm(n)`` drawn from ``seed + e`` (see
    ``set_epoch``).  Under DDP every rank draws the same order, cuts it into the same global
    batches of ``batch_size`` graphs and takes every ``world_size``-th graph of each (rank r:
    positions r, r + W, ...): disjoint shards of equal size ``batch_size / W``.  A last, smaller
    global batch is dropped with ``drop_last``, else trimmed to a multiple of W (W = 1: kept whole).
    """

    def __init__(self, graphs, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1):
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        world_size = check_int(world_size, "world_size", minimum=1)
        rank = check_int(rank, "rank", maximum=world_size - 1)
        seed = check_int(seed, "seed", minimum=None)
        shuffle, drop_last = check_bool(shuffle, "shuffle"), check_bool(drop_last, "drop_last")
        if not hasattr(graphs, "__len__") or not hasattr(graphs, "__getitem__"):
            raise ValueError(f"graphs must be a sized, indexable dataset of Graphs (e.g. a list), got {type(graphs).__name__}")
        if batch_size % world_size:
            raise ValueError(f"the global batch_size ({batch_size}) must be a multiple of the number of ranks ({world_size})")
        if len(graphs) == 0:
            raise ValueError("GraphLoader needs at least one graph, got an empty dataset")
        self.graphs, self.batch_size, self.shuffle, self.seed = graphs, batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size, self.epoch = drop_last, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = check_int(epoch, "epoch")

    def __len__(self) -> int:
        full, rest = divmod(len(self.graphs), self.batch_size)
        return full + int(not self.drop_last and rest >= self.world_size)

    def __iter__(self):
        n, B, W = len(self.graphs), self.batch_size, self.world_size
        order = list(range(n))
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        for k in range(len(self)):
            idx = order[k * B : (k + 1) * B]
            idx = idx[: len(idx) - len(idx) % W]  # the global batch, a multiple of W
            yield batch_graphs([self.graphs[i] for i in idx[self.rank :: W]])


def lr_factor(step: int, *, warmup_steps: int = 0, total_steps: int | None = None, elapsed_s: float | None = None,
              budget_s: float | None = None, min_ratio: float = 0.0, decay_start: int = 0) -> float:
    r"""The learning-rate factor at optimizer step :math:`s` (0-based): a linear warmup times a cosine of the progress,

    $$\lambda(s) = \min\Big(1, \frac{s + 1}{s_w}\Big)\Big(\rho + (1 - \rho)\,\tfrac12\big(1 + \cos \pi \min(p, 1)\big)\Big)$$

    $$p = \max\Big(\frac{\max(0, s - s_0)}{s_{tot} - s_0},\ \frac{t}{t_{budget}}\Big)$$

    over whichever of step progress (``total_steps`` :math:`s_{tot}`) and time progress (``elapsed_s`` :math:`t`
    of ``budget_s`` :math:`t_{budget}`) are given (at least one).  ``warmup_steps`` :math:`s_w` (0: none);
    ``min_ratio`` :math:`\rho`, the floor the cosine ends at; ``decay_start`` :math:`s_0`, the step where the
    cosine starts: 0 (warmup and decay overlap, as in :func:`minignn.edm.train_edm`) or :math:`s_w`
    (decay after the warmup, as in :class:`Trainer`).  ``elapsed_s`` is ignored without ``budget_s``.
    Multiply the base learning rate by it, e.g. in ``torch.optim.lr_scheduler.LambdaLR``.

    Book: chapter qm7, section "A network with scalar and vector features".
    """
    if total_steps is None and budget_s is None:
        raise ValueError("lr_factor needs total_steps or budget_s (or both) to measure the progress p")
    try:
        min_ratio = check_number(min_ratio, "min_ratio", minimum=0, maximum=1)
    except ValueError:
        raise ValueError(f"min_ratio must lie in [0, 1], got {min_ratio}") from None
    step, warmup_steps = check_int(step, "step"), check_int(warmup_steps, "warmup_steps")
    decay_start = check_int(decay_start, "decay_start")
    p = 0.0
    if total_steps is not None:
        if isinstance(total_steps, int) and total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        total_steps = check_int(total_steps, "total_steps", minimum=1)
        p = max(0, step - decay_start) / max(1, total_steps - decay_start)
    if budget_s is not None:
        try:
            budget_s = check_number(budget_s, "budget_s", minimum=0, strict_minimum=True)
        except ValueError:
            raise ValueError(f"budget_s must be > 0 seconds, got {budget_s}") from None
        if elapsed_s is None:
            raise ValueError("budget_s was given without elapsed_s: pass the seconds spent so far")
        p = max(p, check_number(elapsed_s, "elapsed_s", minimum=0) / budget_s)
    warmup = min(1.0, (step + 1) / max(1, warmup_steps))
    return warmup * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


@dataclass
class TrainConfig:
    """Settings of :class:`Trainer`: plain numbers and strings, stored in every checkpoint."""

    max_epochs: int = 100
    batch_size: int = 32  # the global batch: summed over ranks under DDP
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_epochs: float = 1.0  # linear warmup, then cosine decay to min_lr_ratio * lr at max_epochs
    min_lr_ratio: float = 0.01
    clip_grad_norm: float | None = 10.0
    loss: str = "mse"  # "mse" or "l1", on the standardised residual
    patience: int | None = 20  # epochs without a better validation MAE before stopping; None: never
    restore_best: bool = True  # when training ends, load the weights of the best validation epoch
    max_time_s: float | None = None  # wall-clock budget of one fit() call, checked after every step
    baseline: bool = True  # fit the composition baseline (needs integer node types in x)
    num_types: int | None = None  # default: 1 + the largest type in the training graphs
    eval_batch_size: int = 256
    seed: int = 0  # shuffling: the order of epoch e is drawn from seed + e
    device: str = "cpu"
    progress: bool = True  # tqdm bars on rank 0
    checkpoint_path: str | None = None  # written after every epoch (rank 0, atomically)

    def __post_init__(self):
        """Every setting is checked here, so that a wrong one fails at once and not as a diverging or silent run."""
        for name in ("max_epochs", "batch_size", "eval_batch_size"):
            setattr(self, name, check_int(getattr(self, name), name, minimum=1))
        self.lr = check_number(self.lr, "lr", minimum=0, strict_minimum=True)
        self.weight_decay = check_number(self.weight_decay, "weight_decay", minimum=0)
        self.warmup_epochs = check_number(self.warmup_epochs, "warmup_epochs", minimum=0)
        self.min_lr_ratio = check_number(self.min_lr_ratio, "min_lr_ratio", minimum=0, maximum=1)
        if self.clip_grad_norm is not None:  # a negative norm would flip the gradients
            self.clip_grad_norm = check_number(self.clip_grad_norm, "clip_grad_norm (None: no clipping)", minimum=0,
                                               strict_minimum=True)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.patience is not None:  # -1 would stop after one epoch, 0 would never stop
            self.patience = check_int(self.patience, "patience (None: never stop early)", minimum=1)
        for name in ("restore_best", "baseline", "progress"):
            setattr(self, name, check_bool(getattr(self, name), name))
        if self.max_time_s is not None:
            self.max_time_s = check_number(self.max_time_s, "max_time_s (None: no budget)", minimum=0,
                                           strict_minimum=True)
        if self.num_types is not None:
            self.num_types = check_int(self.num_types, "num_types (None: from the data)", minimum=1)
        self.seed = check_int(self.seed, "seed", minimum=None)
        try:
            kind = torch.device(self.device).type if isinstance(self.device, (str, torch.device)) else None
        except RuntimeError:
            kind = None
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        self.device = str(self.device)
        if self.checkpoint_path is not None:
            if not isinstance(self.checkpoint_path, (str, os.PathLike)) or not str(self.checkpoint_path):
                raise ValueError(f"checkpoint_path must be None or a file path, got {self.checkpoint_path!r}")
            self.checkpoint_path = os.fspath(self.checkpoint_path)  # a plain string: checkpoints store the config


@dataclass
class History:
    """Per-epoch records (lists, one entry per epoch) and why training stopped."""

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)  # mean loss on the standardised residual
    val_mae: list = field(default_factory=list)  # in target units (nan without validation data)
    val_rmse: list = field(default_factory=list)
    lr: list = field(default_factory=list)  # learning rate at the end of the epoch
    time_s: list = field(default_factory=list)  # wall-clock seconds of the epoch
    best_epoch: int = 0
    stop_reason: str = ""  # "max_epochs", "early_stopping", "time_budget" or "paused" (fit(epochs=k) done)

    def __len__(self) -> int:
        return len(self.epoch)

    def plot(self, axes=None):
        """Train loss and validation MAE against the epoch, log scale; returns the two axes."""
        import matplotlib.pyplot as plt

        axes = plt.subplots(1, 2, figsize=(9, 3.5))[1] if axes is None else axes
        for ax, values, name in zip(axes, (self.train_loss, self.val_mae), ("train loss (standardised)", "validation MAE")):
            ax.plot(self.epoch, values, marker=".")
            ax.set(xlabel="epoch", ylabel=name, yscale="log", title=name)
        return axes


def _progress(iterable, enabled: bool, **kwargs):
    return tqdm(iterable, **kwargs) if enabled and tqdm is not None else iterable


def _forward(model: nn.Module, batch: Graph) -> Tensor:
    out = call_model(model, batch)
    if not isinstance(out, Tensor) or out.shape not in ((batch.num_graphs,), (batch.num_graphs, 1)):
        got = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"the model must return [num_graphs={batch.num_graphs}] (or [num_graphs, 1]) for a batch, got {got}")
    return out.reshape(-1)


def _targets(batch: Graph) -> Tensor:
    if not isinstance(batch.y, Tensor) or batch.y.numel() != batch.num_graphs:
        raise ValueError(f"every graph needs a scalar target y; the batch has y={getattr(batch.y, 'shape', batch.y)}")
    y = batch.y.reshape(-1).double()
    if not bool(torch.isfinite(y).all()):  # one NaN makes every loss and MAE NaN: the best weights are never kept
        raise ValueError(f"every graph needs a finite target y; {int((~torch.isfinite(y)).sum())} graph(s) of the "
                         f"batch have y = NaN or inf: drop them or fix the data")
    return y


def _check_graphs(data, name: str) -> None:
    """Graphs with a finite scalar target each (checked once, before training)."""
    for k in range(len(data)):
        g = data[k]
        if not isinstance(g, Graph):
            raise ValueError(f"{name}[{k}] must be a minignn.graph.Graph, got {type(g).__name__}")
        if not isinstance(g.y, Tensor) or g.y.numel() != 1:
            raise ValueError(f"every graph needs a scalar target y; {name}[{k}] has y={getattr(g.y, 'shape', g.y)}")
        if not bool(torch.isfinite(g.y).all()):
            raise ValueError(f"every graph needs a finite target y; {name}[{k}] has y = {float(g.y)}: drop it or fix "
                             "the data")


def _offset(batch: Graph, baseline: CompositionBaseline | None) -> Tensor:
    """The baseline of every graph of the batch, ``[num_graphs]`` float64 (0 without baseline)."""
    if baseline is None:
        return torch.zeros(batch.num_graphs, dtype=torch.float64, device=batch.edge_index.device)
    return baseline.predict(composition(batch, baseline.num_types))


@torch.no_grad()
def predict(model, data, baseline=None, standardizer=None, batch_size: int = 256, device="cpu", targets: bool = False):
    r""":math:`\hat y_g = \text{baseline}_g + \mu + \sigma f_\theta(G_g)` for every graph, ``[len(data)]`` float64.

    With ``targets=True`` returns the pair ``(y_hat, y)``.  The model runs in eval mode (then is restored)."""
    standardizer, was_training, out = standardizer or Standardizer(), model.training, []
    model.eval()
    try:
        for batch in GraphLoader(data, batch_size):
            batch = batch.to(device)
            y_hat = _offset(batch, baseline) + standardizer.inverse(_forward(model, batch).double())
            out.append((y_hat, _targets(batch)) if targets else (y_hat,))
    finally:
        model.train(was_training)
    columns = [torch.cat(column) for column in zip(*out)]
    return tuple(columns) if targets else columns[0]


def evaluate(model, data, baseline=None, standardizer=None, batch_size: int = 256, device="cpu",
             distributed: bool = False) -> dict:
    r"""``{"mae": mean |y_hat - y|, "rmse": sqrt(mean (y_hat - y)^2)}`` in target units.

    With ``distributed`` (every rank must call it) each rank evaluates a shard and the sums are all-reduced."""
    if len(data) == 0:
        raise ValueError("data is empty: evaluate needs at least one graph")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    shard = [data[i] for i in range(rank, len(data), world)]
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # sum |e|, sum e^2, count
    if shard:
        y_hat, y = predict(model, shard, baseline, standardizer, batch_size, device, targets=True)
        sums += torch.stack([(y_hat - y).abs().sum(), (y_hat - y).square().sum(), sums.new_tensor(len(y))])
    if distributed:
        dist.all_reduce(sums)
    return {"mae": float(sums[0] / sums[2]), "rmse": float((sums[1] / sums[2]).sqrt())}


def _rng_state() -> dict:
    py, npy = random.getstate(), np.random.get_state()
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": [py[0], list(py[1]), py[2]], "numpy": [npy[0], torch.from_numpy(npy[1].astype(np.int64)), *npy[2:]]}


def _set_rng_state(s: dict) -> None:
    """Restore :func:`_rng_state`; the states are CPU tensors wherever the checkpoint was mapped (a GPU run resumes
    on a CPU and the other way round; CUDA states are restored only where CUDA is)."""
    torch.set_rng_state(s["torch"].cpu())
    if s["cuda"] and torch.cuda.is_available() and len(s["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([state.cpu() for state in s["cuda"]])
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))
    name, keys, *rest = s["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), *rest))


def init_distributed(device: str = "cpu") -> tuple[int, int, torch.device]:
    """Join the torchrun process group when launched by torchrun; returns ``(rank, world_size, device)``.

    Backend nccl on CUDA (each rank on ``cuda:LOCAL_RANK``), gloo on CPU; ``(0, 1, device)`` without torchrun."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch.cuda.is_available() is False; use device 'cpu'")
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not dist.is_initialized():
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


class Trainer:
    """Fit ``model`` (``call_model(model, batch) -> [num_graphs]``, the standardised residual) to graphs with a scalar ``y``.

    On construction: fits the :class:`CompositionBaseline` and the :class:`Standardizer` on ``train_data``
    (a list of graphs or any sized, indexable dataset), builds the :class:`GraphLoader`, AdamW and the
    :func:`lr_factor` schedule, and wraps the model in DDP under torchrun.  ``fit()`` trains;
    ``save(path)`` and ``load(path)`` checkpoint and resume: the continuation is bit-identical, since
    the shuffling depends only on seed and epoch and the RNG states are stored.
    """

    def __init__(self, model: nn.Module, train_data, val_data=None, config: TrainConfig | None = None):
        if config is not None and not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig (or None), got {type(config).__name__}")
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.config = cfg = config or TrainConfig()
        if len(train_data) == 0:
            raise ValueError("train_data is empty: the Trainer needs at least one graph")
        if val_data is not None and len(val_data) == 0:
            raise ValueError("val_data is empty: pass None to train without validation")
        _check_graphs(train_data, "train_data")
        if val_data is not None:
            _check_graphs(val_data, "val_data")
        self.rank, self.world_size, self.device = init_distributed(cfg.device)
        self.model, self.train_data, self.val_data = model.to(self.device), train_data, val_data
        residual, self.baseline = torch.cat([_targets(g) for g in train_data]), None
        if cfg.baseline:
            largest = (int(g.x.max()) for g in train_data if g.x is not None and g.x.numel())
            num_types = cfg.num_types or 1 + max(largest, default=0)
            counts = torch.cat([composition(g, num_types) for g in train_data])
            self.baseline = CompositionBaseline(num_types).fit(counts, residual)
            residual = residual - self.baseline.predict(counts)
        self.standardizer = Standardizer().fit(residual)
        self.loader = GraphLoader(train_data, cfg.batch_size, True, cfg.seed, False, self.rank, self.world_size)
        if len(self.loader) == 0:
            raise ValueError(f"{len(train_data)} training graphs are too few for {self.world_size} ranks")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        warmup, total = round(cfg.warmup_epochs * len(self.loader)), cfg.max_epochs * len(self.loader)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(
            step, warmup_steps=warmup, total_steps=total, min_ratio=cfg.min_lr_ratio, decay_start=warmup))
        self.net = self.model  # what the training step calls: the model, or its DDP wrapper
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.history, self.epoch, self.step = History(), 0, 0
        self.best_val, self.bad_epochs, self.best_state = math.inf, 0, None

    def _all_reduce(self, value: float, op=None) -> float:
        if self.world_size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
        return float(t)

    def _train_step(self, batch: Graph) -> float:
        batch = batch.to(self.device)
        z = self.standardizer.transform(_targets(batch) - _offset(batch, self.baseline))  # [G] standardised residual
        pred = _forward(self.net, batch)
        loss = LOSSES[self.config.loss](pred, z.to(pred.dtype))  # mean over this rank's (equal) shard
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over ranks: the gradient of the global-batch mean
        if self.config.clip_grad_norm:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return loss.item()

    def fit(self, epochs: int | None = None) -> History:
        """Train up to ``epochs`` more epochs (default: until ``config.max_epochs``); returns the history.

        Stops after ``patience`` epochs without a better validation MAE, or when ``max_time_s`` is spent
        (mid-epoch; that epoch is still validated and recorded).  Unless paused by ``epochs``, the best
        weights are restored at the end (``restore_best``)."""
        if epochs is not None:
            epochs = check_int(epochs, "epochs (None: until max_epochs)", minimum=1)
        cfg, h, start = self.config, self.history, time.perf_counter()
        done = h.stop_reason == "early_stopping" or self.epoch >= cfg.max_epochs
        reason = h.stop_reason if done else None
        last = cfg.max_epochs if epochs is None else min(cfg.max_epochs, self.epoch + epochs)
        show = cfg.progress and self.rank == 0
        bar = _progress(range(self.epoch, self.epoch if done else last), show, desc="epochs")
        for _ in bar:
            t0, losses, out_of_time = time.perf_counter(), [], False
            self.loader.set_epoch(self.epoch)
            self.net.train()
            for batch in _progress(self.loader, show, desc=f"epoch {self.epoch + 1}", leave=False):
                losses.append(self._train_step(batch))
                if cfg.max_time_s is not None:  # every rank must agree to stop
                    out_of_time = self._all_reduce(time.perf_counter() - start > cfg.max_time_s, dist.ReduceOp.MAX) > 0
                    if out_of_time:
                        break
            self.epoch += 1
            val = {"mae": math.nan, "rmse": math.nan}
            if self.val_data is not None:
                val = self.evaluate(self.val_data)
            row = {"epoch": self.epoch, "train_loss": self._all_reduce(sum(losses) / len(losses)) / self.world_size,
                   "val_mae": val["mae"], "val_rmse": val["rmse"], "lr": self.scheduler.get_last_lr()[0],
                   "time_s": time.perf_counter() - t0}
            for key, value in row.items():
                getattr(h, key).append(value)
            if val["mae"] < self.best_val:
                self.best_val, self.bad_epochs, h.best_epoch = val["mae"], 0, self.epoch
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                self.bad_epochs += 1
            if out_of_time:
                reason = "time_budget"
            elif cfg.patience and self.val_data is not None and self.bad_epochs >= cfg.patience:
                reason = "early_stopping"
            elif self.epoch >= cfg.max_epochs:
                reason = "max_epochs"
            elif self.epoch >= last:
                reason = "paused"
            h.stop_reason = reason or ""
            if cfg.checkpoint_path:
                self.save(cfg.checkpoint_path)
            if show and tqdm is not None:
                bar.set_postfix(loss=f"{row['train_loss']:.3g}", val_mae=f"{val['mae']:.4g}")
            if reason:
                break
        if reason != "paused" and cfg.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return h

    def predict(self, data) -> Tensor:
        """Predictions in target units, ``[len(data)]`` float64 (see :func:`predict`)."""
        return predict(self.model, data, self.baseline, self.standardizer, self.config.eval_batch_size, self.device)

    def evaluate(self, data) -> dict:
        """``{"mae", "rmse"}`` in target units (see :func:`evaluate`; under DDP every rank must call it)."""
        return evaluate(self.model, data, self.baseline, self.standardizer, self.config.eval_batch_size, self.device,
                        distributed=self.world_size > 1)

    def state_dict(self) -> dict:
        """Everything needed to resume: only tensors, dicts, lists, numbers and strings (``weights_only``-safe).

        Format ``minignn.train/1``, read back by :func:`minignn.checkpoint.load_checkpoint`."""
        return {"format": TRAIN_FORMAT, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": self.epoch, "step": self.step,
                "history": asdict(self.history), "config": asdict(self.config), "rng": _rng_state(),
                "baseline": None if self.baseline is None else self.baseline.state_dict(),
                "standardizer": self.standardizer.state_dict(),
                "early_stopping": {"best_val": self.best_val, "bad_epochs": self.bad_epochs, "best_state": self.best_state}}

    def load_state_dict(self, state: dict) -> "Trainer":
        """Restore a :meth:`state_dict` (and the global RNG states; the current ``config`` is kept)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step, self.history = state["epoch"], state["step"], History(**state["history"])
        self.baseline = None if state["baseline"] is None else CompositionBaseline.from_state_dict(state["baseline"])
        self.standardizer = Standardizer(**state["standardizer"])
        es = state["early_stopping"]
        self.best_val, self.bad_epochs, self.best_state = es["best_val"], es["bad_epochs"], es["best_state"]
        _set_rng_state(state["rng"])
        return self

    def save(self, path) -> None:
        """An atomic checkpoint (:func:`minignn.checkpoint.save_checkpoint`), written by rank 0; the other ranks wait."""
        if self.rank == 0:
            save_checkpoint(path, self.state_dict())
        if self.world_size > 1:
            dist.barrier()

    def load(self, path) -> "Trainer":
        """Resume from a :meth:`save` file; a file that lacks entries or whose weights do not fit the model (or hold
        NaN) raises ValueError naming it."""
        state = load_checkpoint(path, map_location=self.device, keys=("model", "optimizer", "scheduler", "epoch",
                                "step", "history", "rng", "baseline", "standardizer", "early_stopping"))
        load_weights(self.model, state["model"], path, "model")
        try:
            return self.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{path}: cannot resume from this checkpoint ({type(err).__name__}: {err})") from err


def synthetic_graphs(num_graphs: int, num_types: int = 3, seed: int = 0) -> list[Graph]:
    r"""Typed rings of 3 to 8 nodes with :math:`y_g = \sum_{j \in g} w_{t_j} + \sum_{(i, j) \in G_1} a_{t_i} a_{t_j}`.

    ``x`` ``[n]`` int64 types, both directions of every ring edge, ``y`` 0-d float64; ``w`` and ``a``
    are drawn from ``seed``.  The baseline learns ``w``; the model must learn the pair term."""
    num_graphs, num_types = check_int(num_graphs, "num_graphs"), check_int(num_types, "num_types", minimum=1)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", minimum=None))
    w, a = 2 * torch.randn(num_types, generator=gen, dtype=torch.float64), torch.randn(num_types, generator=gen, dtype=torch.float64)
    graphs = []
    for _ in range(num_graphs):
        n = int(torch.randint(3, 9, (1,), generator=gen))
        t = torch.randint(0, num_types, (n,), generator=gen)
        edge_index, _ = to_undirected(torch.stack([torch.arange(n), (torch.arange(n) + 1) % n]), n)
        src, dst = edge_index
        graphs.append(Graph(edge_index=edge_index, x=t, y=w[t].sum() + (a[t[src]] * a[t[dst]]).sum()))
    return graphs


class TypeMPNN(nn.Module):
    """``Embedding(num_types) -> MPNN (sum readout) -> [num_graphs]``: the example model of the command line."""

    def __init__(self, num_types: int, width: int = 32, layers: int = 2, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(check_int(num_types, "num_types", minimum=1), check_int(width, "width", minimum=1))
        self.mpnn = MPNN(width, 1, width=width, layers=layers, hidden=hidden, readout="sum")

    def forward(self, x, edge_index, batch=None, num_graphs=None) -> Tensor:
        n = self.embed.num_embeddings
        if not isinstance(x, Tensor) or x.dim() != 1 or x.dtype != torch.int64:
            got = f"{x.dtype} {list(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must hold int64 node types of shape [num_nodes], got {got}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= n):
            raise ValueError(f"node types must lie in [0, {n - 1}] (num_types={n}), got [{int(x.min())}, {int(x.max())}]")
        return self.mpnn(self.embed(x), edge_index, batch=batch, num_graphs=num_graphs).reshape(-1)


def main(argv=None):
    """``python -m minignn.train --help``; runs unchanged under ``torchrun --nproc_per_node=N -m minignn.train``.

    ``python -m minignn.train qm7 ...`` and ``python -m minignn.train qm9-edm ...`` train the book's two models
    (:mod:`minignn.trainings`, which returns a dict of the run); otherwise the synthetic example (returns its
    :class:`History`)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        from minignn.trainings import COMMANDS

        if argv[0] not in COMMANDS:
            raise SystemExit(f"python -m minignn.train: command expected one of {sorted(COMMANDS)} (or options of the "
                             f"synthetic example, --help), got {argv[0]!r}")
        return COMMANDS[argv[0]](argv[1:])
    p = argparse.ArgumentParser(prog="python -m minignn.train", description="Train an MPNN (one process or torchrun); "
                                "the book's trainings: `python -m minignn.train qm7 --help`, `... qm9-edm --help`.")
    p.add_argument("--dataset", choices=["synthetic"], default="synthetic")
    p.add_argument("--num-graphs", type=int, default=512)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32, help="global batch, split over the ranks")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--loss", choices=sorted(LOSSES), default="mse")
    p.add_argument("--patience", type=int, default=20, help="0: no early stopping")
    p.add_argument("--no-restore-best", action="store_true", help="keep the last weights")
    p.add_argument("--max-time-s", type=float, default=None)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="written after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--weights-out", default=None, help="final weights; '{rank}' in the name: one file per rank")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    owns_group = not dist.is_initialized()
    torch.manual_seed(args.seed)
    graphs = synthetic_graphs(args.num_graphs, seed=args.seed)
    n_val = max(1, len(graphs) // 5)
    model = TypeMPNN(num_types=3).to(getattr(torch, args.dtype))
    config = TrainConfig(max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, loss=args.loss,
                         patience=args.patience or None, restore_best=not args.no_restore_best, max_time_s=args.max_time_s,
                         seed=args.seed, device=args.device, progress=not args.no_progress, checkpoint_path=args.checkpoint)
    trainer = Trainer(model, graphs[n_val:], graphs[:n_val], config)
    if args.resume and args.checkpoint and Path(args.checkpoint).exists():
        trainer.load(args.checkpoint)
    h = trainer.fit()
    if args.weights_out and ("{rank}" in args.weights_out or trainer.rank == 0):
        save_checkpoint(args.weights_out.format(rank=trainer.rank), trainer.model.state_dict())
    if trainer.rank == 0:
        print(f"world_size={trainer.world_size} device={trainer.device}: {len(h)} epochs, stopped by {h.stop_reason}, "
              f"best val MAE {h.val_mae[h.best_epoch - 1]:.4g} at epoch {h.best_epoch}")
    if owns_group and dist.is_initialized():
        dist.destroy_process_group()
    return h


if __name__ == "__main__":
    main()
