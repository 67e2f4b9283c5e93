"""Dance Diffusion's noise schedule as pure functions of the diffusion time t in [0, 1]."""

from __future__ import annotations

import math

import torch

from jbdiff.errors import ConfigError


def t_to_alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scales of the clean signal (alpha) and of the noise (sigma) at time t: cos/sin of t*pi/2."""
    return torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)


def alpha_sigma_to_t(alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Inverse of t_to_alpha_sigma (for alpha, sigma >= 0)."""
    return torch.atan2(sigma, alpha) / math.pi * 2


def crash_schedule(t: torch.Tensor) -> torch.Tensor:
    """Warp a uniform t grid so sigma = sin(t*pi/2)**2: more steps at low noise, where audio detail forms."""
    sigma = torch.sin(t * math.pi / 2) ** 2
    alpha = (1 - sigma**2) ** 0.5
    return alpha_sigma_to_t(alpha, sigma)


def refine_timesteps(
    steps: int, noise_level: float, device: torch.device | str | None = None
) -> torch.Tensor:
    """The seed's img2img grid: crash(linspace(0, 1, steps + 1)) kept where t < noise_level, ascending.

    Its last entry is where sampling starts; its first is always t = 0, which the sampler skips.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"steps must be an integer >= 1, got {steps!r}")
    grid = crash_schedule(torch.linspace(0, 1, steps + 1, device=device))
    return grid[grid < noise_level]
