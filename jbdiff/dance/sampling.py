"""v-DDIM sampling and the seed's Dance Diffusion refinement (mono decode -> stereo audio)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import torch

from jbdiff.config import SAMPLERS
from jbdiff.errors import CancelledError, ConfigError
from jbdiff.samplers import sample_dpmpp_2m_v

from .model import DanceInputError
from .schedule import refine_timesteps, t_to_alpha_sigma

log = logging.getLogger(__name__)

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(x [B, C, T], t [B]) -> v [B, C, T]"""


def _check_cancel(should_cancel: Callable[[], bool] | None, where: str) -> None:
    if should_cancel is not None and should_cancel():
        raise CancelledError(f"Dance Diffusion cancelled {where}")


@torch.no_grad()
def v_ddim_sample(
    model_fn: ModelFn,
    x: torch.Tensor,
    ts: torch.Tensor,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """DDIM over a v-prediction model from x at ts[0] down the descending times ts; returns the last x0 guess.

    Same arithmetic as v-diffusion-pytorch's `sampling.sample`: the final step returns the model's
    denoised prediction at ts[-1] (no extra step to t = 0). eta > 0 adds fresh noise, drawn from
    `generator` (required then). `callback` gets {'x', 'i', 't', 'v', 'pred', 'n'} after each
    model call; `should_cancel()` is polled before each call and True raises CancelledError.
    """
    if ts.ndim != 1 or ts.numel() == 0:
        raise ConfigError(
            f"ts must be a non-empty 1-D tensor of times, got shape {tuple(ts.shape)}"
        )
    if eta < 0:
        raise ConfigError(f"eta must be >= 0, got {eta}")
    if eta > 0 and generator is None:
        raise ConfigError("eta > 0 draws fresh noise: pass a torch.Generator as generator")
    ts = ts.to(x.device)
    ones = x.new_ones([x.shape[0]])
    alphas, sigmas = t_to_alpha_sigma(ts)
    n = len(ts)
    pred = x
    for i in range(n):
        _check_cancel(should_cancel, f"before step {i + 1}/{n}")
        v = model_fn(x, ones * ts[i]).float()
        pred = x * alphas[i] - v * sigmas[i]
        eps = x * sigmas[i] + v * alphas[i]
        if callback is not None:
            callback({"x": x, "i": i, "t": ts[i], "v": v, "pred": pred, "n": n})
        if i < n - 1:
            # eta scales how much of the next step's noise is fresh rather than the predicted eps.
            ddim_sigma = (
                eta
                * (sigmas[i + 1] ** 2 / sigmas[i] ** 2).sqrt()
                * (1 - alphas[i] ** 2 / alphas[i + 1] ** 2).sqrt()
            )
            adjusted_sigma = (sigmas[i + 1] ** 2 - ddim_sigma**2).sqrt()
            x = pred * alphas[i + 1] + eps * adjusted_sigma
            if eta:
                fresh = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = x + fresh * ddim_sigma
    return pred


def to_stereo(audio: torch.Tensor) -> torch.Tensor:
    """[B, C, T] -> [B, 2, T] like sample-generator's Stereo: mono duplicated, channels past 2 dropped."""
    if audio.ndim != 3 or audio.shape[1] < 1:
        raise DanceInputError(f"audio must be [batch, channels, samples], got {tuple(audio.shape)}")
    if audio.shape[1] == 1:
        return audio.expand(-1, 2, -1)
    return audio[:, :2]


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def dd_refine(
    model: ModelFn,
    audio: torch.Tensor,
    noise: torch.Tensor,
    *,
    steps: int,
    init_strength: float,
    callback: Callable[[dict[str, Any]], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    autocast_dtype: torch.dtype | None = None,
    sampler: str = "ddim",
) -> torch.Tensor:
    """Re-render decoded (mono or stereo) audio through Dance Diffusion as stereo [B, 2, T].

    What the seed's DDModel.sample + resample(sampler_type="v-ddim") compute, batched:
    audio is made stereo, the noise level is 1 - init_strength, the time grid is
    crash(linspace(0, 1, steps + 1)) cut to t < noise level, the start is
    audio * alpha + noise * sigma at the largest kept t, and v-DDIM (eta 0) runs down the kept
    grid. Every batch row is an independent window; T must be accepted by the model
    (`model.valid_length(T) == T`), so the caller pads only up to that.

    Where the seed differs (on purpose or by accident):
    - it zero-pads the audio (not the noise) to a multiple of 65,536 samples and crops with
      `[..., :-pad]`, which returns nothing when no padding was needed; here no padding at all;
    - it handles one window (batch 1) only;
    - it runs the model under CUDA fp16 autocast; here the model runs in its own dtype unless
      `autocast_dtype` is given (e.g. torch.bfloat16);
    - `steps` counts grid intervals over the whole [0, 1] range, so only about
      steps * (1 - init_strength) model calls run (the t = 0 entry is never evaluated: the
      last call's x0 prediction is the output), and init_strength = 0 starts one grid step
      below pure noise;
    - when no non-zero grid time lies below the noise level (init_strength near 1) the seed
      fails (empty grid, then an unbound result); here the stereo audio is returned unchanged;
    - it also writes debug WAVs to a fixed path; nothing is written here.

    sampler "dpmpp-2m" (not in the seed) walks the same grid with DPM-Solver++(2M) and ends with
    a step into t = 0, so it makes the same model calls; its first step, and a one-step grid,
    equal v-DDIM's.
    """
    if not 0.0 <= float(init_strength) <= 1.0:
        raise ConfigError(f"init_strength must be in [0, 1], got {init_strength}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler {sampler!r} is not allowed (allowed: {', '.join(SAMPLERS)})")
    stereo = to_stereo(audio)
    if noise.shape != stereo.shape:
        raise DanceInputError(
            f"noise must be [batch, 2, samples] = {tuple(stereo.shape)} to match the audio, "
            f"got {tuple(noise.shape)}"
        )
    valid_length = getattr(model, "valid_length", None)
    if valid_length is not None and valid_length(stereo.shape[2]) != stereo.shape[2]:
        raise DanceInputError(
            f"audio length {stereo.shape[2]} is not accepted by Dance Diffusion; "
            f"pad to {valid_length(stereo.shape[2])}"
        )
    grid = refine_timesteps(steps, 1.0 - float(init_strength), device=audio.device)
    if len(grid) < 2:
        log.info(
            "init_strength %.4f leaves no Dance Diffusion step; returning the input", init_strength
        )
        return stereo.to(noise.dtype).clone()
    alpha, sigma = t_to_alpha_sigma(grid[-1])
    noised = stereo * alpha + noise * sigma

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with _autocast(x.device, autocast_dtype):
            return model(x, t)

    ts = grid.flip(0)[:-1]
    if sampler == "dpmpp-2m":
        return _dpmpp_2m(model_fn, noised, ts, callback, should_cancel)
    return v_ddim_sample(
        model_fn,
        noised,
        ts,
        eta=0.0,
        callback=callback,
        should_cancel=should_cancel,
    )


def _dpmpp_2m(
    model_fn: ModelFn,
    x: torch.Tensor,
    ts: torch.Tensor,
    callback: Callable[[dict[str, Any]], None] | None,
    should_cancel: Callable[[], bool] | None,
) -> torch.Tensor:
    """The levels' DPM-Solver++(2M) over the descending times ts and then t = 0, with dd_refine's callback."""
    times = torch.cat([ts, ts.new_zeros(1)])
    n = len(ts)

    def report(done: int, total: int, x: torch.Tensor) -> None:
        callback({"x": x, "i": done - 1, "t": times[done - 1], "n": n})

    try:
        return sample_dpmpp_2m_v(model_fn, x, times, callback=report if callback else None,
                                 should_cancel=should_cancel)
    except CancelledError as e:
        raise CancelledError(f"Dance Diffusion {e}") from None
