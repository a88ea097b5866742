"""Diffusion models: noise the data with a fixed SDE, learn to denoise, sample by running it backwards.

Forward (noising) process, continuous time t in [0, 1] (the VP-SDE, Song et al. 2021):

    dx_t = -1/2 beta(t) x_t dt + sqrt(beta(t)) dW_t
    q(x_t | x_0) = N(sqrt(alpha_bar(t)) x_0, (1 - alpha_bar(t)) I)                  (``q_sample``)

Learned denoiser: eps_theta(x_t, t) predicts the noise eps in x_t = sqrt(alpha_bar) x_0 +
sqrt(1 - alpha_bar) eps (``denoising_loss``); the score of q(x_t) is then

    f_theta(x_t, t) = grad log q(x_t) ~ -eps_theta(x_t, t) / sqrt(1 - alpha_bar(t))     (``score_from_eps``)

Reverse (generating) process, the seed's formula (Euler-Maruyama, dW = sqrt(dt) z, z ~ N(0, I)):

    x_(t-dt) = x_t + 1/2 beta(t) x_t dt + beta(t) f_theta(x_t, t) dt + sqrt(beta(t)) dW_t   (``reverse_sde_step``)

plus DDPM's ancestral sampler (``ancestral_sample``) and the deterministic probability-flow
ODE dx = [-1/2 beta(t) x - 1/2 beta(t) f_theta(x, t)] dt (``probability_flow_sample``).

Shapes: x is any tensor [..., D]; t is a float, a 0-dim tensor, or a tensor [x.shape[0]] (one
time per leading row, e.g. per sample).  A model is a callable ``model(x_t, t) -> [same shape as
x_t]``; samplers pass t as a tensor [x.shape[0]] (0-dim if x is 1-D), all entries equal.

Book: chapter diffusion.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from minignn.checks import check_int, check_number
from minignn.schedules import (  # noqa: F401  (re-exported: the schedules belong to this chapter)
    CosineSchedule,
    DiscreteSchedule,
    LinearSchedule,
    NoiseSchedule,
    PolynomialSchedule,
    check_time,
    get_schedule,
    time_grid,
)

__all__ = [
    "NoiseSchedule", "LinearSchedule", "CosineSchedule", "PolynomialSchedule", "DiscreteSchedule", "get_schedule",
    "PREDICTIONS", "q_sample", "denoising_loss", "score_from_eps", "eps_from_score", "gaussian_score", "empirical_score",
    "reverse_sde_step", "ancestral_sample", "euler_maruyama_sample", "probability_flow_sample",
]

PREDICTIONS = ("eps", "score")
Model = Callable[[Tensor, Tensor], Tensor]


def _per_row(v: Tensor, x: Tensor) -> Tensor:
    """Reshape a time-indexed quantity (0-dim or [x.shape[0]]) to broadcast against x."""
    if v.dim() == 0:
        return v.to(x.dtype)
    if x.dim() < 2 or v.shape != x.shape[:1]:
        raise ValueError(
            f"t must be a scalar or have shape [x.shape[0]] = [{x.shape[0] if x.dim() else ''}] "
            f"for x of shape {tuple(x.shape)}, got shape {tuple(v.shape)}"
        )
    return v.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def _one_time(t) -> Tensor:
    """The common value of t (0-dim), for oracles that handle one time at a time."""
    t = check_time(t).reshape(-1)
    if len(t) == 0 or not torch.all(t == t[0]):
        raise ValueError(f"this score handles one time at a time (all entries of t equal), got {t.tolist()}")
    return t[0]


def _check_output(out, x: Tensor, who: str = "the model") -> Tensor:
    """A denoiser's output must have the shape of its input x_t: broadcasting a [B, 1] or [D] output would train and
    sample something else without a word."""
    if not isinstance(out, Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{who} must return a tensor of the shape of x_t {tuple(x.shape)}, got {got}")
    return out


def _check_model(model) -> None:
    if not callable(model):
        raise ValueError(f"model must be a callable model(x_t, t) -> [shape of x_t], got {type(model).__name__}")


def _check_data(name: str, x) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() == 0:
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a floating tensor [..., D], got {got}")
    return x


def _time_like(x: Tensor, t: float) -> Tensor:
    """The time tensor a sampler passes to the model: [x.shape[0]] (0-dim if x is 1-D), all equal to t."""
    return torch.full(x.shape[:1] if x.dim() > 1 else (), float(t), dtype=x.dtype, device=x.device)


def q_sample(x0: Tensor, t, schedule="linear", noise: Tensor | None = None, generator=None) -> Tensor:
    """x_t = sqrt(alpha_bar(t)) x_0 + sqrt(1 - alpha_bar(t)) eps, eps ~ N(0, I): a sample of q(x_t | x_0).

    Args:
        x0: clean data [..., D].  t: float, 0-dim tensor or [x0.shape[0]], in [0, 1].
        schedule: a ``NoiseSchedule`` or a name ("linear", "cosine", "polynomial").
        noise: eps [same shape as x0] (default: drawn with ``generator``).  For molecules, pass
            noise projected to the zero-centre-of-mass subspace.
    Returns: x_t [same shape as x0].
    Book: chapter diffusion, section "The forward process".
    """
    schedule = get_schedule(schedule)
    t = check_time(t)
    _check_data("x0", x0)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    elif not isinstance(noise, Tensor) or noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got "
                         f"{tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__}")
    log_ab = _per_row(schedule.log_alpha_bar(t), x0)
    return torch.exp(0.5 * log_ab) * x0 + torch.sqrt(-torch.expm1(log_ab)) * noise


def denoising_loss(model: Model, x0: Tensor, schedule="linear", t=None, noise: Tensor | None = None,
                   generator=None, projection: Callable | None = None, reduction: str = "mean") -> Tensor:
    """L = E_(t, x_0, eps) || eps - eps_theta(x_t, t) ||^2 with x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps.

    The noise-prediction loss of Ho et al. (their "simple" loss), t ~ U(0, 1): its minimiser is
    eps_theta(x_t, t) = E[eps | x_t] = -sqrt(1 - alpha_bar(t)) grad log q(x_t).

    Args:
        model: eps_theta, ``model(x_t, t) -> [same shape as x_t]``.  x0: clean data [B, ..., D].
        t: times [B] (or a scalar); default one uniform time per row, drawn with ``generator``.
        noise: eps [same shape as x0]; default drawn with ``generator`` (then ``projection`` applied).
        projection: optional callable applied to the drawn noise (e.g. remove the centre of mass).
        reduction: "mean" (a scalar) or "none" (the squared errors [same shape as x0]).
    Book: chapter diffusion, section "The denoising loss".
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    _check_model(model)
    _check_data("x0", x0)
    if t is None:
        t = torch.rand(x0.shape[:1] if x0.dim() > 1 else (), generator=generator, dtype=x0.dtype, device=x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        if projection is not None:
            noise = projection(noise)
    t = check_time(t)
    x_t = q_sample(x0, t, schedule, noise=noise)
    err = (noise - _check_output(model(x_t, t), x_t)) ** 2
    return err.mean() if reduction == "mean" else err


def score_from_eps(eps_hat: Tensor, t, schedule="linear") -> Tensor:
    """f(x_t, t) = -eps_hat / sqrt(1 - alpha_bar(t)): the score from a noise prediction (t > 0).

    Book: chapter diffusion, section "The denoising loss".
    """
    _check_data("eps_hat", eps_hat)
    return -eps_hat / _per_row(get_schedule(schedule).sigma(check_time(t)), eps_hat)


def eps_from_score(score: Tensor, t, schedule="linear") -> Tensor:
    """eps_hat = -sqrt(1 - alpha_bar(t)) f(x_t, t): the noise prediction from a score."""
    _check_data("score", score)
    return -score * _per_row(get_schedule(schedule).sigma(check_time(t)), score)


def gaussian_score(mean: Tensor, cov: Tensor, schedule="linear") -> Model:
    """The exact score of q(x_t) when x_0 ~ N(mu, Sigma): q(x_t) = N(sqrt(ab) mu, ab Sigma + (1 - ab) I), ab = alpha_bar(t),

        f(x_t, t) = -(ab Sigma + (1 - ab) I)^(-1) (x_t - sqrt(ab) mu).

    Args: mean: mu [D]; cov: Sigma [D, D] (symmetric positive semi-definite).
    Returns: a callable ``score(x_t, t)`` for x_t [..., D] and t as the samplers pass it.
    Book: chapter diffusion, section "Reverse samplers".
    """
    schedule = get_schedule(schedule)
    if not isinstance(mean, Tensor) or not isinstance(cov, Tensor) or mean.dim() != 1 \
            or cov.shape != (mean.shape[0], mean.shape[0]):
        raise ValueError(f"gaussian_score needs mean [D] and cov [D, D], got {tuple(getattr(mean, 'shape', ()))} and "
                         f"{tuple(getattr(cov, 'shape', ()))}")
    if not cov.is_floating_point() or not bool(torch.isfinite(cov).all()) or not torch.allclose(cov, cov.T):
        raise ValueError("cov must be a finite, symmetric floating-point matrix (a covariance)")
    lam, U = torch.linalg.eigh(cov)  # Sigma = U diag(lam) U^T, so the marginal covariance is U diag(ab lam + 1 - ab) U^T
    if float(lam.min()) < -1e-8 * max(1.0, float(lam.abs().max())):
        raise ValueError(f"cov must be positive semi-definite, but it has the eigenvalue {float(lam.min()):g}")

    def score(x: Tensor, t: Tensor) -> Tensor:
        ab = schedule.alpha_bar(_one_time(t)).to(x.dtype)
        centred = x - ab.sqrt() * mean.to(x.dtype)  # [..., D]
        return -((centred @ U.to(x.dtype)) / (ab * lam.to(x.dtype) + 1 - ab)) @ U.T.to(x.dtype)

    return score


def empirical_score(data: Tensor, schedule="linear") -> Model:
    """The exact score of q(x_t) when x_0 is uniform on the n points x^(1..n) of ``data`` (a Gaussian mixture):

        f(x_t, t) = (sum_j w_j sqrt(ab) x^(j) - x_t) / (1 - ab),   w = softmax_j(-|x_t - sqrt(ab) x^(j)|^2 / (2 (1 - ab))).

    Sampling with it reproduces the training points (the ideal denoiser memorises; a network
    generalises because it cannot fit this score exactly).
    Args: data: [n, D].  Returns: a callable ``score(x_t, t)`` for x_t [..., D], t > 0 (all entries equal).
    Book: chapter diffusion, section "Reverse samplers".
    """
    schedule = get_schedule(schedule)
    if not isinstance(data, Tensor) or data.dim() != 2 or len(data) == 0 or not data.is_floating_point():
        raise ValueError(f"empirical_score needs floating data of shape [n, D] with n >= 1, got "
                         f"{tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__}")

    def score(x: Tensor, t: Tensor) -> Tensor:
        ab = schedule.alpha_bar(_one_time(t)).to(x.dtype)
        means = ab.sqrt() * data.to(x.dtype)  # [n, D]
        flat = x.reshape(-1, data.shape[1])  # [m, D]
        dist2 = torch.cdist(flat, means, compute_mode="donot_use_mm_for_euclid_dist") ** 2  # [m, n]
        w = torch.softmax(-dist2 / (2 * (1 - ab)), dim=1)
        return ((w @ means - flat) / (1 - ab)).reshape(x.shape)

    return score


def _score_fn(model: Model, schedule: NoiseSchedule, prediction: str) -> Model:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    _check_model(model)
    if prediction == "score":
        return lambda x, t: _check_output(model(x, t), x)
    return lambda x, t: score_from_eps(_check_output(model(x, t), x), t, schedule)


def _initial(shape, x_init, generator, projection, steps) -> Tensor:
    steps = check_int(steps, "steps", minimum=1)
    if (shape is None) == (x_init is None):
        raise ValueError("pass exactly one of shape (to draw x_1 ~ N(0, I)) and x_init (the initial noise)")
    if x_init is not None:
        _check_data("x_init", x_init)
    else:
        try:
            if isinstance(shape, (str, bytes)):
                raise TypeError
            shape = tuple(check_int(n, "shape") for n in shape)
        except (TypeError, ValueError):
            raise ValueError(f"shape must be a tuple of sizes >= 0 such as (100, 2), got {shape!r}") from None
    x = torch.randn(shape, generator=generator) if x_init is None else x_init
    return projection(x) if projection is not None else x


def _loop(step, x: Tensor, times: Tensor, projection, return_trajectory: bool):
    """Run x <- projection(step(x, t, t_next)) along ``times`` (decreasing from 1 to 0)."""
    trajectory = [x]
    for t, t_next in zip(times[:-1].tolist(), times[1:].tolist()):
        x = step(x, t, t_next)
        if projection is not None:
            x = projection(x)
        if return_trajectory:
            trajectory.append(x)
    return (x, torch.stack(trajectory)) if return_trajectory else x


def reverse_sde_step(x: Tensor, t: float, dt: float, score: Tensor, schedule, z: Tensor) -> Tensor:
    """The seed's reverse step x_(t-dt) = x_t + 1/2 beta(t) x_t dt + beta(t) f dt + sqrt(beta(t)) dW_t.

    Here f = f_theta(x_t, t) is the score and dW_t = sqrt(dt) z with z ~ N(0, I), so the last term
    is sqrt(beta(t) dt) z.  This is Euler-Maruyama for Anderson's reverse SDE
    dx = [-1/2 beta x - beta f] dt + sqrt(beta) dW_bar, run backwards in time.

    Args: x, score, z: [..., D]; t: current time; dt > 0: the step back in time.
    Returns: x_(t-dt) [..., D].
    Book: chapter diffusion, section "Reverse samplers".
    """
    _check_data("x", x)
    for name, v in (("score", score), ("z", z)):
        if not isinstance(v, Tensor) or v.shape != x.shape:
            raise ValueError(f"{name} must have the shape of x {tuple(x.shape)}, got "
                             f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
    t = check_number(t, "t (the current time)", minimum=0, maximum=1)
    dt = check_number(dt, "dt (the step back in time)", minimum=0, strict_minimum=True)  # sqrt(beta dt): dt < 0 is complex
    if dt > t + 1e-12:
        raise ValueError(f"dt must be <= t: the step goes back from t={t:g} to t - dt >= 0, got dt={dt:g}")
    beta = float(get_schedule(schedule).beta(t))
    return x + 0.5 * beta * x * dt + beta * score * dt + (beta * dt) ** 0.5 * z


def euler_maruyama_sample(model: Model, schedule="linear", shape=None, x_init: Tensor | None = None,
                          steps: int = 1000, generator=None, prediction: str = "eps",
                          projection: Callable | None = None, return_trajectory: bool = False,
                          time_power: float = 1.0):
    """Sample by the reverse VP-SDE, ``reverse_sde_step`` on the grid t_n = (n / N)^p, n = N, ..., 0.

    x_1 ~ N(0, I) (drawn first from ``generator`` unless ``x_init`` is given), then at each step
    one z ~ N(0, I) from ``generator``:  x_(t-dt) = x_t + [1/2 beta x_t + beta f(x_t, t)] dt + sqrt(beta dt) z.

    Args:
        model: eps_theta(x_t, t) (``prediction="eps"``, default; f = -eps_theta / sqrt(1 - alpha_bar))
            or the score f(x_t, t) itself (``prediction="score"``).
        shape or x_init: the shape [..., D] of the samples, or the initial noise x_1 itself.
        steps: N >= 1.  projection: callable applied to x_1 and after every step.
        return_trajectory: also return the states [N + 1, ..., D], trajectory[0] = x_1, trajectory[-1] = x_0.
        time_power: p of the grid (``minignn.schedules.time_grid``): 1 is uniform, p > 1 takes more steps at low noise.
    Returns: x_0 [..., D] (and the trajectory).
    Book: chapter diffusion, section "Reverse samplers".
    """
    schedule = get_schedule(schedule)
    score = _score_fn(model, schedule, prediction)
    x = _initial(shape, x_init, generator, projection, steps)

    def step(x, t, t_next):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return reverse_sde_step(x, t, t - t_next, score(x, _time_like(x, t)), schedule, z)

    return _loop(step, x, time_grid(steps, time_power).flip(0), projection, return_trajectory)


def ancestral_sample(model: Model, schedule="linear", shape=None, x_init: Tensor | None = None,
                     steps: int = 1000, generator=None, prediction: str = "eps",
                     projection: Callable | None = None, return_trajectory: bool = False,
                     time_power: float = 1.0):
    """DDPM's ancestral sampler (Ho et al., Algorithm 2) on the chain ``schedule.discretise(steps, power=time_power)``:

        x_(k-1) = 1 / sqrt(alpha_k) (x_k - beta_k / sqrt(1 - alpha_bar_k) eps_theta(x_k, t_k)) + sqrt(beta~_k) z,
        beta~_k = (1 - alpha_bar_(k-1)) / (1 - alpha_bar_k) beta_k   (the variance of q(x_(k-1) | x_k, x_0)),

    for k = T, ..., 1 with t_k = (k / T)^p (p = ``time_power``, 1: uniform); beta~_1 = 0, so the last step adds no
    noise.  The "exact" discretisation makes alpha_bar_k = alpha_bar(t_k), so a model trained in continuous time
    fits, on any grid: the step is then the posterior q(x_(k-1) | x_k, x_0) with x_0 predicted from eps_theta.
    Arguments and returns as ``euler_maruyama_sample``.
    Book: chapter diffusion, section "Reverse samplers".
    """
    schedule = get_schedule(schedule)
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    x = _initial(shape, x_init, generator, projection, steps)
    chain = schedule.discretise(steps, power=time_power)
    betas, alphas, alpha_bars = chain.betas.tolist(), chain.alphas.tolist(), chain.alpha_bars.tolist()
    index = {t: k for k, t in enumerate(chain.t.tolist())}

    _check_model(model)

    def step(x, t, t_next):
        k = index[t]
        out = _check_output(model(x, _time_like(x, t)), x)
        eps = out if prediction == "eps" else -(1 - alpha_bars[k]) ** 0.5 * out
        mean = (x - betas[k] / (1 - alpha_bars[k]) ** 0.5 * eps) / alphas[k] ** 0.5
        var = (1 - alpha_bars[k - 1]) / (1 - alpha_bars[k]) * betas[k]
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return mean + var**0.5 * z if k > 1 else mean

    return _loop(step, x, chain.t.flip(0), projection, return_trajectory)


def probability_flow_sample(model: Model, schedule="linear", shape=None, x_init: Tensor | None = None,
                            steps: int = 100, generator=None, prediction: str = "eps", method: str = "heun",
                            projection: Callable | None = None, return_trajectory: bool = False,
                            time_power: float = 1.0):
    """Integrate the probability-flow ODE dx/dt = v(x, t) = -1/2 beta(t) [x + f(x, t)] from t = 1 to 0.

    Its solutions have the same marginals q(x_t) as the forward SDE, but the map x_1 -> x_0 is
    deterministic (noise enters only through x_1).  ``method="euler"``: x <- x - v(x, t) dt;
    ``method="heun"`` (2nd order): average v at both ends of the step, except on the last step
    (t_next = 0, where an eps-model's score is undefined), which is an Euler step.
    Arguments and returns as ``euler_maruyama_sample``.
    Book: chapter diffusion, section "Probability flow".
    """
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}")
    schedule = get_schedule(schedule)
    score = _score_fn(model, schedule, prediction)
    x = _initial(shape, x_init, generator, projection, steps)

    def velocity(x, t):
        return -0.5 * float(schedule.beta(t)) * (x + score(x, _time_like(x, t)))

    def step(x, t, t_next):
        h = t_next - t  # < 0: we go back in time
        v = velocity(x, t)
        if method == "euler" or t_next == 0:
            return x + h * v
        x_pred = x + h * v
        if projection is not None:
            x_pred = projection(x_pred)
        return x + 0.5 * h * (v + velocity(x_pred, t_next))

    return _loop(step, x, time_grid(steps, time_power).flip(0), projection, return_trajectory)
