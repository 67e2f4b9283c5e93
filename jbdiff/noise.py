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


def window_noise(
    style: str,
    num_windows: int,
    shape: Sequence[int],
    step_size: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Noise for ``num_windows`` consecutive windows, shaped ``[num_windows, *shape]`` (float32, CPU)."""
    if style not in NOISE_STYLES:
        raise ConfigError(f"noise_style: {style!r} is not allowed (allowed: {', '.join(NOISE_STYLES)})")
    if not 0.0 <= step_size <= 1.0:
        raise ConfigError(f"noise_step_size: {step_size} is out of range (allowed: 0.0 .. 1.0)")
    if num_windows < 1:
        raise ConfigError(f"num_windows: {num_windows} must be >= 1")
    shape = tuple(int(s) for s in shape)
    if style == "random":
        return torch.randn((num_windows, *shape), generator=generator)
    home = torch.randn(shape, generator=generator)
    if style == "constant":
        return home.expand(num_windows, *shape).clone()
    steps = torch.randn((num_windows - 1, *shape), generator=generator)
    out = torch.empty((num_windows, *shape))
    out[0] = home
    if style == "region":
        keep = math.sqrt(1.0 - step_size**2)
        out[1:] = keep * home + step_size * steps
        return out
    walked = home.clone()
    for k in range(1, num_windows):
        walked += step_size * steps[k - 1]
        out[k] = walked / math.sqrt(1.0 + k * step_size**2)
    return out
