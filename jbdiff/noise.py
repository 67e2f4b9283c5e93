"""Per-window starting noise with the seed's four styles, from one seeded generator each.

``random``   every window draws fresh noise.
``constant`` every window reuses the first window's noise.
``region``   each window is the home noise nudged by an independent step: home*sqrt(1-s^2) + s*e_k.
``walk``     a cumulative random walk from home, rescaled to unit variance each window:
             (home + s * sum_{j<=k} e_j) / sqrt(1 + k s^2). Neighbouring windows stay close and the
             walk drifts further from home over time.
All styles give unit-variance Gaussian noise per window; step size 0 makes region/walk constant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from jbdiff.errors import ConfigError
from jbdiff.request import NOISE_STYLES


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator: CPU draws are identical on every machine, so seeds reproduce anywhere."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    return gen


class NoiseStream:
    """Window noise drawn one window at a time, so a step size may change between windows
    (live parameter changes reach windows not yet started). Same seed and same step sizes give
    the same noise whether drawn here or through :func:`window_noise`."""

    def __init__(self, style: str, shape: Sequence[int], generator: torch.Generator) -> None:
        if style not in NOISE_STYLES:
            raise ConfigError(f"noise_style: {style!r} is not allowed (allowed: {', '.join(NOISE_STYLES)})")
        self.style = style
        self.shape = tuple(int(s) for s in shape)
        self.generator = generator
        self.home: torch.Tensor | None = None
        self.walked: torch.Tensor | None = None
        self.walk_var = 1.0
        self.index = 0

    def next(self, step_size: float) -> torch.Tensor:
        """The next window's noise (unit variance), moved from home by ``step_size``."""
        if not 0.0 <= step_size <= 1.0:
            raise ConfigError(f"noise_step_size: {step_size} is out of range (allowed: 0.0 .. 1.0)")
        self.index += 1
        if self.style == "random":
            return torch.randn(self.shape, generator=self.generator)
        if self.home is None:
            self.home = torch.randn(self.shape, generator=self.generator)
            self.walked = self.home.clone()
            return self.home.clone()
        if self.style == "constant":
            return self.home.clone()
        step = torch.randn(self.shape, generator=self.generator)
        if self.style == "region":
            return math.sqrt(1.0 - step_size**2) * self.home + step_size * step
        self.walked += step_size * step
        self.walk_var += step_size**2
        return self.walked / math.sqrt(self.walk_var)

    def take(self, count: int, step_size: float) -> torch.Tensor:
        """``count`` windows stacked as ``[count, *shape]``."""
        return torch.stack([self.next(step_size) for _ in range(count)])


def window_noise(
    style: str,
    num_windows: int,
    shape: Sequence[int],
    step_size: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Noise for ``num_windows`` consecutive windows, shaped ``[num_windows, *shape]`` (float32, CPU)."""
    if num_windows < 1:
        raise ConfigError(f"num_windows: {num_windows} must be >= 1")
    return NoiseStream(style, shape, generator).take(num_windows, step_size)
