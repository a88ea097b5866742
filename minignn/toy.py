"""A 2D toy problem for diffusion models: two moons, a small MLP denoiser, and its training loop.

The denoiser learns eps_theta(x_t, t) by minimising ``minignn.diffusion.denoising_loss``; any sampler
of ``minignn.diffusion`` then turns noise into points on the moons.  Trains in seconds on a CPU.

Book: chapter diffusion, section "A toy example".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from minignn.checks import check_int, check_number
from minignn.diffusion import denoising_loss
from minignn.schedules import check_time

__all__ = ["TIME_EMBEDDINGS", "two_moons", "ToyDenoiser", "train_denoiser", "mean_nearest_distance"]

TIME_EMBEDDINGS = ("sinusoidal", "linear")


def two_moons(n: int, generator: torch.Generator | None = None, noise: float = 0.05) -> Tensor:
    """n points on two interleaved half circles, centred at the origin, plus N(0, noise^2) jitter.

    Upper moon (cos a, sin a), lower moon (1 - cos a, 1/2 - sin a), a ~ U(0, pi), then shifted
    by -(1/2, 1/4) (the same geometry as scikit-learn's ``make_moons``, random angles).
    Returns: [n, 2] in the default dtype; the first ceil(n / 2) rows are the upper moon.
    """
    try:
        n = check_int(n, "n", minimum=1)
    except ValueError:
        raise ValueError(f"two_moons needs an integer number of points n >= 1, got {n!r}") from None
    noise = check_number(noise, "noise", minimum=0)
    angle = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    upper = torch.arange(n) < (n + 1) // 2
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([x - 0.5, y - 0.25], dim=1)
    points = points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return points.to(torch.get_default_dtype())


class ToyDenoiser(nn.Module):
    """eps_theta(x_t, t) = MLP([x_t, e(t)]): three hidden layers of width ``hidden`` with SiLU.

    Time embedding e(t): ``"sinusoidal"``, e(t) = (sin(w_1 t), ..., sin(w_K t), cos(w_1 t), ..., cos(w_K t))
    with K = ``num_frequencies`` frequencies w_k spaced geometrically from 1 to 1000 (the Transformer
    embedding of the DDPM step 1000 t); ``"linear"``, e(t) = t.

    Args of forward: x_t [B, ..., dim]; t [B] or 0-dim, in [0, 1].  Returns: eps_hat [B, ..., dim].
    """

    def __init__(self, dim: int = 2, hidden: int = 128, time_embedding: str = "sinusoidal", num_frequencies: int = 16):
        super().__init__()
        if time_embedding not in TIME_EMBEDDINGS:
            raise ValueError(f"time_embedding must be one of {TIME_EMBEDDINGS}, got {time_embedding!r}")
        dim, hidden = check_int(dim, "dim", minimum=1), check_int(hidden, "hidden", minimum=1)
        num_frequencies = check_int(num_frequencies, "num_frequencies", minimum=1)
        self.dim, self.time_embedding = dim, time_embedding
        self.register_buffer("frequencies", torch.logspace(0, 3, num_frequencies), persistent=False)
        embed_dim = 2 * num_frequencies if time_embedding == "sinusoidal" else 1
        self.net = nn.Sequential(
            nn.Linear(dim + embed_dim, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, dim),
        )

    def embed(self, t: Tensor) -> Tensor:
        """e(t): [*t.shape, E]."""
        t = t[..., None].to(self.frequencies.dtype)
        if self.time_embedding == "linear":
            return t
        angles = t * self.frequencies  # [*t.shape, K]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"ToyDenoiser expects x of shape [..., {self.dim}], got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        weight = self.net[0].weight
        if x.dtype != weight.dtype or x.device != weight.device:
            raise ValueError(f"x is {x.dtype} on {x.device} but the weights of this ToyDenoiser are {weight.dtype} on "
                             f"{weight.device}; convert one of them (x.to(...) or model.to(...))")
        t = check_time(t)  # t in [0, 1]: the embedding was only ever trained there
        if not (t.dim() == 0 or (t.dim() == 1 and x.dim() >= 2 and t.shape[0] == x.shape[0])):
            raise ValueError(f"t must be a number or have shape [x.shape[0]] = [{x.shape[0]}] (one time per row), got "
                             f"shape {tuple(t.shape)}")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        emb = self.embed(t).to(x.dtype)  # [B, E] or [E]
        if t.dim() == 1:
            emb = emb.reshape(t.shape[0], *([1] * (x.dim() - 2)), -1)
        emb = emb.expand(*x.shape[:-1], emb.shape[-1])
        return self.net(torch.cat([x, emb], dim=-1))


def train_denoiser(model: nn.Module, data: Tensor, schedule="linear", steps: int = 500, batch_size: int = 256,
                   lr: float = 2e-3, generator: torch.Generator | None = None) -> list[float]:
    """Minimise ``denoising_loss`` with Adam on random mini-batches of ``data`` [n, ..., D].

    Returns: the loss of every step (a list of ``steps`` floats).  Reproducible given ``generator``
    and the model's initial weights.
    """
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_number(lr, "lr", minimum=0, strict_minimum=True)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(data, Tensor) or data.dim() < 2 or len(data) == 0 or not data.is_floating_point():
        raise ValueError(f"data must be a non-empty floating tensor [n, ..., D], got "
                         f"{tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        batch = data[torch.randint(len(data), (batch_size,), generator=generator)]
        loss = denoising_loss(model, batch, schedule, generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def mean_nearest_distance(samples: Tensor, data: Tensor) -> float:
    """(1 / m) sum_i min_j || samples_i - data_j ||: how close samples [m, D] land to data [n, D]."""
    for name, t in (("samples", samples), ("data", data)):
        if not isinstance(t, Tensor) or t.dim() != 2 or len(t) == 0 or not t.is_floating_point():
            raise ValueError(f"{name} must be a non-empty floating tensor [n, D], got "
                             f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
    if samples.shape[1] != data.shape[1]:
        raise ValueError(f"samples and data must have the same width D, got {samples.shape[1]} and {data.shape[1]}")
    return torch.cdist(samples.to(data.dtype), data).min(dim=1).values.mean().item()
