"""Noise schedules beta(t) of diffusion models, in continuous and in discrete time.

Continuous time t in [0, 1] (the VP-SDE of Song et al. 2021):

    dx_t = -1/2 beta(t) x_t dt + sqrt(beta(t)) dW_t
    q(x_t | x_0) = N(sqrt(alpha_bar(t)) x_0, (1 - alpha_bar(t)) I),   alpha_bar(t) = exp(-int_0^t beta(s) ds)

Discrete time k = 0, ..., T (DDPM, Ho et al. 2020), on the grid t_k = k / T, dt = 1 / T:

    x_k = sqrt(alpha_k) x_(k-1) + sqrt(beta_k) eps,   alpha_k = 1 - beta_k,   alpha_bar_k = alpha_1 ... alpha_k

The correspondence between the two views is beta_k ~ beta(t_k) dt.  ``discretise(T)``
offers two rules:

* ``"exact"`` (default): beta_k = 1 - alpha_bar(t_k) / alpha_bar(t_(k-1)), so that
  alpha_bar_k = alpha_bar(t_k) exactly, and beta_k = beta(t_k) dt + O(dt^2);
* ``"euler"``: beta_k = beta(t_k) dt (clipped at 0.999), so that
  alpha_bar_k = alpha_bar(t_k) + O(dt).  For the linear schedule with its defaults and
  T = 1000 this is Ho et al.'s schedule beta_k from 1e-4 to 0.02.

Book: chapter diffusion, section "Noise schedules".
"""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import torch
from torch import Tensor

from minignn.checks import check_int, check_number

__all__ = [
    "SCHEDULES",
    "RULES",
    "NoiseSchedule",
    "LinearSchedule",
    "CosineSchedule",
    "PolynomialSchedule",
    "DiscreteSchedule",
    "get_schedule",
    "check_time",
    "time_grid",
]

RULES = ("exact", "euler")
EULER_BETA_CLIP = 0.999  # Nichol & Dhariwal's clip for beta_k


def check_time(t) -> Tensor:
    """Return ``t`` as a floating tensor (float64 for Python numbers) after checking that it lies in [0, 1]."""
    if not isinstance(t, Tensor):
        if isinstance(t, (str, bytes, bool)) or t is None:
            raise ValueError(f"diffusion time t must be a number or a tensor in [0, 1], got {t!r}")
        try:
            t = torch.as_tensor(t, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"diffusion time t must be a number or a tensor in [0, 1], got {type(t).__name__}") from None
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"diffusion time t must be real numbers in [0, 1], got a {t.dtype} tensor")
    if not t.dtype.is_floating_point:
        t = t.to(torch.get_default_dtype())
    if t.numel() > 0 and (torch.isnan(t).any() or t.min() < 0 or t.max() > 1):
        raise ValueError(
            f"diffusion time t must lie in [0, 1] (0 = data, 1 = noise), got min {t.min().item():g}, "
            f"max {t.max().item():g}"
        )
    return t


def time_grid(num_steps: int, power: float = 1.0) -> Tensor:
    """The grid t_k = (k / T)^p, k = 0, ..., T (float64, shape [T + 1]); p = 1 is the uniform grid k / T.

    A sampler runs it backwards, from t_T = 1 to t_0 = 0; p > 1 spends more of its T steps at low noise, where the
    last details of a sample (for a molecule: its bond lengths) are decided.
    """
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    power = check_number(power, "power (of the time grid t_k = (k / T)^p)", minimum=0, strict_minimum=True)
    t = torch.linspace(0, 1, num_steps + 1, dtype=torch.float64)
    return t if power == 1 else t**power


class DiscreteSchedule(NamedTuple):
    """A schedule on a grid t_0 = 0 < t_1 < ... < t_T = 1 (``time_grid``), indexed by k (entry 0 is the clean data).

    Fields (all float64, shape [T + 1]): ``t`` (t_k), ``betas`` (beta_k, beta_0 = 0),
    ``alphas`` (alpha_k = 1 - beta_k), ``alpha_bars`` (alpha_bar_k, alpha_bar_0 = 1).
    """

    t: Tensor
    betas: Tensor
    alphas: Tensor
    alpha_bars: Tensor

    @property
    def num_steps(self) -> int:
        return len(self.t) - 1


class NoiseSchedule:
    """Base class: a subclass defines ``beta(t)`` and ``log_alpha_bar(t) = -int_0^t beta(s) ds``."""

    name = "base"

    def beta(self, t) -> Tensor:
        raise NotImplementedError

    def log_alpha_bar(self, t) -> Tensor:
        raise NotImplementedError

    def alpha_bar(self, t) -> Tensor:
        """alpha_bar(t) = exp(-int_0^t beta(s) ds): the signal fraction of q(x_t | x_0).

        Args: t: float or tensor of any shape, values in [0, 1].  Returns: tensor, same shape as t.
        """
        return torch.exp(self.log_alpha_bar(t))

    def sigma(self, t) -> Tensor:
        """sigma(t) = sqrt(1 - alpha_bar(t)): the noise standard deviation of q(x_t | x_0).

        Computed as sqrt(|expm1(log alpha_bar)|), exact near t = 0 (log alpha_bar <= 0; the absolute value turns
        the -0.0 of t = 0 into 0.0, so sigma(0) prints as 0.00, not -0.00)."""
        return torch.sqrt(torch.expm1(self.log_alpha_bar(t)).abs())

    def discretise(self, num_steps: int, rule: str = "exact", power: float = 1.0) -> DiscreteSchedule:
        """The DDPM chain with T = ``num_steps`` steps: beta_k ~ beta(t_k) (t_k - t_(k-1)), t_k = (k / T)^p.

        ``rule="exact"``: beta_k = 1 - alpha_bar(t_k) / alpha_bar(t_(k-1)), so alpha_bar_k = alpha_bar(t_k).
        ``rule="euler"``: beta_k = min(beta(t_k) (t_k - t_(k-1)), 0.999), so alpha_bar_k = alpha_bar(t_k) + O(1 / T).
        ``power``: p = 1 (default) is the uniform grid t_k = k / T; p > 1 puts more of the steps at low noise
        (p = 2: a quarter of them below t = 1/16).

        Returns: a ``DiscreteSchedule`` of float64 tensors of shape [T + 1].
        Book: chapter diffusion, section "Discrete and continuous time".
        """
        num_steps = check_int(num_steps, "num_steps", minimum=1)
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        t = time_grid(num_steps, power)
        if rule == "exact":
            log_ab = self.log_alpha_bar(t)
            betas = -torch.expm1(log_ab[1:] - log_ab[:-1])  # 1 - alpha_bar_k / alpha_bar_(k-1)
        else:
            dt = 1 / num_steps if power == 1 else torch.diff(t)
            betas = (self.beta(t[1:]) * dt).clamp(max=EULER_BETA_CLIP)
        betas = torch.cat([betas.new_zeros(1), betas])
        alphas = 1 - betas
        return DiscreteSchedule(t, betas, alphas, torch.cumprod(alphas, 0))

    def __repr__(self) -> str:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in names)
        return f"{type(self).__name__}({args})"


class LinearSchedule(NoiseSchedule):
    """beta(t) = beta_min + t (beta_max - beta_min);  -log alpha_bar(t) = beta_min t + (beta_max - beta_min) t^2 / 2.

    The VP-SDE of Song et al. (2021); with the defaults, alpha_bar(1) = exp(-10.05) = 4.3e-5.
    Book: chapter diffusion, section "Noise schedules".
    """

    name = "linear"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        beta_min = check_number(beta_min, "beta_min", minimum=0)
        beta_max = check_number(beta_max, "beta_max", minimum=0)
        if not 0 <= beta_min <= beta_max:
            raise ValueError(f"LinearSchedule needs 0 <= beta_min <= beta_max, got beta_min={beta_min}, beta_max={beta_max}")
        self.beta_min, self.beta_max = beta_min, beta_max

    def beta(self, t) -> Tensor:
        t = check_time(t)
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha_bar(self, t) -> Tensor:
        t = check_time(t)
        return -(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)


class CosineSchedule(NoiseSchedule):
    """alpha_bar(t) = f(t) / f(0), f(t) = cos^2(u(t)), u(t) = (t + s) / (1 + s) pi / 2  (Nichol & Dhariwal 2021).

    Then beta(t) = -d/dt log alpha_bar(t) = pi / (1 + s) tan(u(t)), which diverges at t = 1
    (alpha_bar(1) = 0).  As Nichol & Dhariwal clip beta_k <= 0.999, we clip beta(t) at
    ``max_beta``: after the time t_c where beta reaches max_beta, beta(t) = max_beta and
    log alpha_bar(t) = log alpha_bar(t_c) - max_beta (t - t_c).  So alpha_bar(t) = exp(-int_0^t beta)
    holds everywhere, every sampler step stays finite, and with the defaults alpha_bar(1) = 1.3e-4.

    Book: chapter diffusion, section "Noise schedules".
    """

    name = "cosine"

    def __init__(self, s: float = 0.008, max_beta: float = 100.0):
        if isinstance(s, (int, float)) and not isinstance(s, bool) and not s >= 0:
            raise ValueError(f"CosineSchedule needs an offset s >= 0, got s={s}")
        s = check_number(s, "s (CosineSchedule's offset)", minimum=0)
        if isinstance(max_beta, (str, bool)) or max_beta is None:
            raise ValueError(f"CosineSchedule needs a finite max_beta > beta(0), got max_beta={max_beta!r}")
        self.s, self.max_beta = s, float(max_beta)
        if not (math.isfinite(self.max_beta) and self.max_beta > self._raw_beta(0.0)):
            raise ValueError(
                f"CosineSchedule needs a finite max_beta > beta(0) = {self._raw_beta(0.0):.4g}, got max_beta={max_beta}"
            )
        # clip time: pi / (1 + s) tan(u(t_c)) = max_beta
        u_c = math.atan(self.max_beta * (1 + self.s) / math.pi)
        self.t_clip = u_c * 2 * (1 + self.s) / math.pi - self.s

    def _u(self, t):
        return (t + self.s) / (1 + self.s) * (math.pi / 2)

    def _raw_beta(self, t: float) -> float:
        return math.pi / (1 + self.s) * math.tan(self._u(t))

    def beta(self, t) -> Tensor:
        t = check_time(t)
        return (math.pi / (1 + self.s) * torch.tan(self._u(t.clamp(max=self.t_clip)))).clamp(max=self.max_beta)

    def log_alpha_bar(self, t) -> Tensor:
        t = check_time(t)
        # f(0) in t's own dtype, so that log alpha_bar(0) is exactly 0 (a float64 log f(0) against a float32
        # cos gave log alpha_bar(0) = 1e-8 and sigma(0) = 2e-4); the clamp keeps log alpha_bar <= 0 (beta >= 0)
        # against rounding, so that sigma(0) = 0 and never sqrt(-1e-20) = nan.
        log_f0 = 2 * torch.log(torch.cos(self._u(torch.zeros((), dtype=t.dtype))))
        before = 2 * torch.log(torch.cos(self._u(t.clamp(max=self.t_clip)))) - log_f0
        return (before - self.max_beta * (t - self.t_clip).clamp(min=0)).clamp(max=0.0)


class PolynomialSchedule(NoiseSchedule):
    """alpha_bar(t) = ((1 - 2 s) (1 - t^p)^2 + s) / (1 - s)  (EDM's "polynomial_p" schedule, Hoogeboom et al. 2022).

    With u = t^p and c = (1 - 2 s) / (1 - s) this is alpha_bar(t) = 1 - c u (2 - u), so that
    log alpha_bar(t) = log1p(-c u (2 - u)) and beta(t) = -d/dt log alpha_bar(t) = 2 c p t^(p - 1) (1 - u) / alpha_bar(t).
    EDM trains on QM9 with p = 2 and the precision s = 1e-5 (the defaults): near the data the noise grows like
    sigma(t) ~ sqrt(2 c) t^(p / 2), for p = 2 sigma(t) ~ sqrt(2) t, and alpha_bar(1) = s / (1 - s) = 1.0e-5 leaves
    almost no signal.  ``power`` >= 1 (beta(0) is finite), ``precision`` s in (0, 0.25].

    EDM writes alpha_bar = (1 - 2 s) (1 - t^p)^2 + s on the grid k / T and clips each step's ratio at 0.001 (which
    touches only the last step, where (1 - t^p)^2 reaches 0).  Dividing by 1 - s makes alpha_bar(0) = 1 exactly, as
    every schedule here has it (sigma(0) = 0: the sampler ends on the data, not 0.003 A away from it); elsewhere the
    two differ by the factor 1 - s = 0.99999.  beta(1) = 0 and beta is finite everywhere (for p >= 1), but it peaks
    near t = 1 (about 630 at t = 0.998 with the defaults), so use the ``"exact"`` discretisation there.

    Book: chapter diffusion, section "Noise schedules".
    """

    name = "polynomial"

    def __init__(self, power: float = 2.0, precision: float = 1e-5):
        self.power = check_number(power, "power (PolynomialSchedule's exponent p)", minimum=1)
        self.precision = check_number(precision, "precision (PolynomialSchedule's s, alpha_bar(1) = s / (1 - s))",
                                      minimum=0, maximum=0.25, strict_minimum=True)
        self._c = (1 - 2 * self.precision) / (1 - self.precision)

    def alpha_bar(self, t) -> Tensor:
        t = check_time(t)
        u = t**self.power
        return 1 - self._c * u * (2 - u)

    def log_alpha_bar(self, t) -> Tensor:
        t = check_time(t)
        u = t**self.power
        return torch.log1p(-self._c * u * (2 - u))

    def beta(self, t) -> Tensor:
        t = check_time(t)
        u = t**self.power
        return 2 * self._c * self.power * t ** (self.power - 1) * (1 - u) / (1 - self._c * u * (2 - u))


SCHEDULES = {"linear": LinearSchedule, "cosine": CosineSchedule, "polynomial": PolynomialSchedule}


def get_schedule(schedule="linear", **kwargs) -> NoiseSchedule:
    """A ``NoiseSchedule`` from a name in ``SCHEDULES`` (keyword arguments go to its class), or itself."""
    if isinstance(schedule, NoiseSchedule):
        if kwargs:
            raise ValueError(f"got a NoiseSchedule instance and extra arguments {sorted(kwargs)}; pass one or the other")
        return schedule
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"unknown noise schedule {schedule!r}; expected one of {sorted(SCHEDULES)} or a NoiseSchedule")
    return SCHEDULES[schedule](**kwargs)
