"""The v-objective of the level U-Nets (the fork's VDiffusion, with its noise pass)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from jbdiff.errors import ConfigError

#: A v-predicting network: net(x_noisy, sigmas, *, embedding, embedding_mask_proba, generator).
VNet = Callable[..., Tensor]


def alpha_beta(sigmas: Tensor) -> tuple[Tensor, Tensor]:
    """Signal and noise weights on the quarter circle: cos and sin of sigma * pi / 2."""
    angle = sigmas * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def _randn(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else like.device
    out = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return out.to(like.device)


@dataclass(frozen=True)
class VDiffusion:
    """Owns the training loss; sigmas are drawn uniformly in [sigma_min, sigma_max) per item.

    Noise pass (the fork's `noise=` argument): the given tensor replaces the Gaussian noise
    entirely, so x_noisy = alpha * x + beta * noise and v_target = alpha * noise - beta * x. The
    seed's level 1 and 0 upsamplers pass the current level's encoding of the lower level's
    reconstruction, so at sigma = 1 the network starts from that reconstruction, not from noise.
    """

    sigma_min: float = 0.0
    sigma_max: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sigma_min < self.sigma_max <= 1.0:
            raise ConfigError(
                f"VDiffusion sigma range [{self.sigma_min}, {self.sigma_max}) must satisfy "
                "0 <= sigma_min < sigma_max <= 1"
            )

    def sample_sigmas(
        self, batch: int, device: torch.device, generator: torch.Generator | None = None
    ) -> Tensor:
        """Uniform sigmas [batch] (drawn before any noise, as the fork does)."""
        gen_device = generator.device if generator is not None else device
        u = torch.rand(batch, generator=generator, device=gen_device).to(device)
        return (self.sigma_max - self.sigma_min) * u + self.sigma_min

    def loss(
        self,
        net: VNet,
        x: Tensor,
        *,
        noise: Tensor | None = None,
        embedding: Tensor | None = None,
        embedding_mask_proba: float = 0.0,
        generator: torch.Generator | None = None,
        sigmas: Tensor | None = None,
    ) -> Tensor:
        """Mean squared error between predicted and true v for clean latents `x` [B, C, T].

        Randomness comes only from `generator`, in the fork's order: sigmas, then Gaussian noise
        (skipped when `noise` is given), then the network's context dropout.
        """
        b = x.shape[0]
        if sigmas is None:
            sigmas = self.sample_sigmas(b, x.device, generator)
        elif sigmas.shape != (b,):
            raise ConfigError(f"sigmas have shape {tuple(sigmas.shape)}; expected [{b}]")
        if noise is None:
            noise = _randn(x.shape, x, generator)
        elif noise.shape != x.shape:
            raise ConfigError(
                f"noise has shape {tuple(noise.shape)}; it must match x {tuple(x.shape)}"
            )
        alpha, beta = alpha_beta(sigmas.view(b, *([1] * (x.ndim - 1))))
        x_noisy = alpha * x + beta * noise
        v_target = alpha * noise - beta * x
        v_pred = net(
            x_noisy,
            sigmas,
            embedding=embedding,
            embedding_mask_proba=embedding_mask_proba,
            generator=generator,
        )
        return F.mse_loss(v_pred.float(), v_target.float())
