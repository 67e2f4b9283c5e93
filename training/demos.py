"""Demos written during training: WAV + spectrogram PNG, made with the sampler's own functions.

Level 2 continues the context of real clips window by window from noise (its context follows the
generated audio, as the pipeline's sliding context does). Levels 1 and 0 refine real audio
through the noise pass (chunk encoded at the level above, decoded, re-encoded, then sampled).
Dance Diffusion re-renders a mono clip as stereo and also samples from pure noise.
The WAV holds, per demo item, the parts named in its log line, one after the other.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from jbdiff.audio import SAMPLE_RATE, save_wav
from jbdiff.outputs import save_spectrogram_png
from jbdiff.samplers import get_sigmas_linear, sample_v

log = logging.getLogger(__name__)

GAP = SAMPLE_RATE // 4  # silence between demo items


def demo_clips(dataset, n: int, samples: int) -> np.ndarray:
    """`n` clips [n, channels, samples] from a dataset's files (zero-padded in front if short)."""
    clips = []
    files = len(dataset.files)
    for i in range(n):
        audio = dataset.file_audio(i % files)
        frames = audio.shape[1]
        start = max(0, min(frames - samples, frames // 4))
        clip = audio[:, start:start + samples]
        if clip.shape[1] < samples:
            clip = np.concatenate([np.zeros((audio.shape[0], samples - clip.shape[1]), np.float32), clip], 1)
        clips.append(clip)
    return np.stack(clips).astype(np.float32)


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def write_demo(folder: Path, name: str, items: list[list[np.ndarray]], title: str) -> Path:
    """Concatenate each item's parts (mono [T] or [C, T]) with gaps and write WAV + PNG."""
    parts = []
    for item in items:
        for p in item:
            p = np.asarray(p, dtype=np.float32)
            parts.append(np.broadcast_to(p if p.ndim == 2 else p[None], (2, p.shape[-1])))
        parts.append(np.zeros((2, GAP), np.float32))
    audio = np.clip(np.concatenate(parts, axis=1), -1.0, 1.0)
    folder.mkdir(parents=True, exist_ok=True)
    wav = save_wav(folder / f"{name}.wav", np.ascontiguousarray(audio), SAMPLE_RATE)
    save_spectrogram_png(folder / f"{name}.png", audio, SAMPLE_RATE, title)
    return wav


@torch.no_grad()
def level_demo(module, clips: np.ndarray, *, seconds: float, steps: int, scale: float, seed: int = 0
               ) -> list[list[np.ndarray]]:
    """Demo parts per clip for a level module (uses its EMA U-Net)."""
    dev = module.device
    lvl, cod, unet = module.level, module.codec, module.unet_ema
    hop = module.vqvae.hop_lengths[lvl]
    chunk = module.base_tokens * hop
    ctx_samples = module.context_tokens * hop
    windows = max(1, math.ceil(seconds * SAMPLE_RATE / chunk))
    mono = torch.from_numpy(clips).to(dev).mean(1)  # [n, ctx + windows * chunk]
    n = mono.shape[0]
    sigmas = get_sigmas_linear(steps, device=dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    use_ctx = module.uses_context

    def model_fn_for(ctx: torch.Tensor):
        def model_fn(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            with _autocast(dev):
                if use_ctx:
                    return unet(x, sigma, embedding=ctx, embedding_scale=scale).float()
                return unet(x, sigma).float()
        return model_fn

    def contexts(stream: torch.Tensor, ends: list[int]) -> torch.Tensor:
        lat = cod.encode(lvl, stream)  # [n, C, frames]
        return torch.cat([lat[:, :, e // hop - module.context_tokens:e // hop] for e in ends]).transpose(1, 2)

    if not module.upsampler:
        stream = mono[:, :ctx_samples]
        for _ in range(windows):
            ctx = contexts(stream, [stream.shape[1]])
            noise = torch.randn(n, module.vqvae.emb_width, module.base_tokens, generator=gen, device=dev)
            lat = sample_v(model_fn_for(ctx), noise, sigmas)
            stream = torch.cat([stream, cod.decode(lvl, lat)], dim=1)
        out = stream.float().cpu().numpy()
        return [[out[i, :ctx_samples], out[i, ctx_samples:]] for i in range(n)]
    # Upsampling level: every window of the real clip, batched, refined through the noise pass.
    real = mono[:, ctx_samples:ctx_samples + windows * chunk]
    above = cod.decode(lvl + 1, cod.encode(lvl + 1, real))
    start = cod.encode(lvl, above)  # [n, C, windows * tokens]
    t = module.base_tokens
    starts = torch.cat([start[:, :, w * t:(w + 1) * t] for w in range(windows)])  # [windows * n, C, t]
    ctx = contexts(mono, [ctx_samples + w * chunk for w in range(windows)])
    lat = sample_v(model_fn_for(ctx), starts, sigmas)
    lat = torch.cat(lat.split(n), dim=2)  # back to [n, C, windows * t]
    refined = cod.decode(lvl, lat).float().cpu().numpy()
    real_np, above_np = real.float().cpu().numpy(), above.float().cpu().numpy()
    return [[real_np[i], above_np[i], refined[i]] for i in range(n)]
