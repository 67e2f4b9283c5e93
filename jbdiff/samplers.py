"""Samplers for v-predicting models: small pure functions over `model_fn(x, sigma_batch) -> v`.

Sigmas run from 1 (pure noise) down to 0 (clean) on the quarter-circle schedule
alpha = cos(sigma * pi / 2), beta = sin(sigma * pi / 2). A schedule holds num_steps + 1 values,
the last being the end point (k-diffusion's convention).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from jbdiff.diffusion import alpha_beta
from jbdiff.errors import CancelledError, ConfigError

ModelFn = Callable[[Tensor, Tensor], Tensor]
Callback = Callable[[int, int, Tensor], None]
ShouldCancel = Callable[[], bool]


def get_sigmas_linear(num_steps: int, device: torch.device | str | None = None) -> Tensor:
    """The fork's VSampler schedule: num_steps + 1 sigmas evenly spaced from 1 to 0."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ConfigError(f"num_steps = {num_steps!r} must be an integer >= 1")
    return torch.linspace(1.0, 0.0, num_steps + 1, device=device)


def init_start_index(num_steps: int, init_strength: float) -> int:
    """Index of the schedule where sampling from an init starts: int(init_strength * num_steps).

    The seed truncates the product; a product a hair below an integer only because of binary
    floating point (0.29 * 100 = 28.999999999999996) is rounded to that integer here (a seed
    quirk we fix; the seed's published settings give the same index either way).
    """
    if isinstance(init_strength, bool) or not 0.0 <= init_strength <= 1.0:
        raise ConfigError(f"init_strength = {init_strength!r} must be a number in [0, 1]")
    return math.floor(init_strength * num_steps + 1e-9)


def v_step(
    x: Tensor, v: Tensor, alpha: Tensor, beta: Tensor, alpha_next: Tensor, beta_next: Tensor
) -> Tensor:
    """Deterministic (DDIM, eta = 0) step: split x into predicted clean part and noise, re-mix."""
    x_pred = alpha * x - beta * v
    noise_pred = beta * x + alpha * v
    return alpha_next * x_pred + beta_next * noise_pred


def _start(
    noise: Tensor, sigmas: Tensor, init: Tensor | None, init_strength: float
) -> tuple[Tensor, Tensor]:
    """Starting point and the part of the schedule still to walk."""
    if sigmas.ndim != 1 or sigmas.numel() < 1:
        raise ConfigError(f"sigmas must be a 1-D schedule; got shape {tuple(sigmas.shape)}")
    if init is None:
        return noise, sigmas
    if init.shape != noise.shape:
        raise ConfigError(
            f"init has shape {tuple(init.shape)}; it must match the noise {tuple(noise.shape)}"
        )
    sigmas = sigmas[init_start_index(sigmas.numel() - 1, init_strength) :]
    alpha, beta = alpha_beta(sigmas[:1])
    return alpha * init + beta * noise, sigmas


def _check_cancel(should_cancel: ShouldCancel | None, step: int, total: int) -> None:
    if should_cancel is not None and should_cancel():
        raise CancelledError(f"sampling cancelled before step {step + 1} of {total}")


@torch.no_grad()
def sample_v(
    model_fn: ModelFn,
    noise: Tensor,
    sigmas: Tensor,
    *,
    init: Tensor | None = None,
    init_strength: float = 0.0,
    callback: Callback | None = None,
    should_cancel: ShouldCancel | None = None,
) -> Tensor:
    """The fork's VSampler (DDIM in v-form), optionally starting part-way from `init`.

    Without `init` this is VSampler.forward: x starts AT `noise` and walks every sigma
    (`init_strength` is ignored, as in the seed). With `init` it is the seed's
    JBDiffusion.sample init path: start at index int(init_strength * num_steps) of the schedule,
    x = alpha * init + beta * noise there, and walk the rest; init_strength = 1 returns `init`.
    Fixed seed bug: the seed builds its per-item sigmas for batch size 1 only; here the step
    weights broadcast over any batch. `callback(done, total, x)` runs after each step;
    `should_cancel()` is asked before each model call and raises CancelledError.
    """
    x, sigmas = _start(noise, sigmas, init, init_strength)
    alphas, betas = alpha_beta(sigmas)
    total = sigmas.numel() - 1
    b = x.shape[0]
    for i in range(total):
        _check_cancel(should_cancel, i, total)
        v = model_fn(x, sigmas[i].expand(b))
        x = v_step(x, v, alphas[i], betas[i], alphas[i + 1], betas[i + 1])
        if callback is not None:
            callback(i + 1, total, x)
    return x


@torch.no_grad()
def sample_dpmpp_2m_v(
    model_fn: ModelFn,
    noise: Tensor,
    sigmas: Tensor,
    *,
    init: Tensor | None = None,
    init_strength: float = 0.0,
    callback: Callback | None = None,
    should_cancel: ShouldCancel | None = None,
) -> Tensor:
    """DPM-Solver++(2M) on the v-model's clean-data prediction: second order, same model calls.

    Works in log-SNR lambda = log(alpha / beta); the step into sigma = 0 returns the (2nd-order
    extrapolated) clean prediction. Start, init and callbacks behave as in `sample_v`.
    """
    x, sigmas = _start(noise, sigmas, init, init_strength)
    alphas, betas = alpha_beta(sigmas.double())
    total = sigmas.numel() - 1
    b = x.shape[0]
    prev_denoised: Tensor | None = None
    h_prev = 0.0
    for i in range(total):
        _check_cancel(should_cancel, i, total)
        a, s = float(alphas[i]), float(betas[i])
        a_next, s_next = float(alphas[i + 1]), float(betas[i + 1])
        v = model_fn(x, sigmas[i].expand(b))
        denoised = a * x - s * v
        if s_next == 0.0:
            x = denoised
        else:
            h = math.log(a_next / s_next) - math.log(a / s)
            if prev_denoised is None or h_prev == 0.0:
                d = denoised
            else:
                r = h_prev / h
                d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * prev_denoised
            x = (s_next / s) * x - a_next * math.expm1(-h) * d
            h_prev = h
        prev_denoised = denoised
        if callback is not None:
            callback(i + 1, total, x)
    return x
