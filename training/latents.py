"""Latents for level training, computed exactly as the sampler computes them.

Training and sampling must agree on the latent space: both go through ``LoadedModels.encode``
(codebook-normalised quantised latents) and ``LoadedModels.decode``. ``--cache-latents`` stores
the *codes* of each file instead (the quantised latents are codebook rows, so codes hold them
exactly at 2 bytes per frame) and turns them back into normalised latents on the device.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jbdiff.config import ModelConfig, SamplingConfig
from jbdiff.models import VQ_WINDOW_SAMPLES, LoadedModels
from training.banks import Bank

log = logging.getLogger(__name__)


def codec(vqvae: nn.Module, model_cfg: ModelConfig) -> LoadedModels:
    """The sampler's encode/decode around a (frozen) VQ-VAE."""
    return LoadedModels(vqvae, {}, None, model_cfg, SamplingConfig())


@torch.no_grad()
def encode_codes(vqvae: nn.Module, level: int, audio: torch.Tensor) -> torch.Tensor:
    """Codes [B, frames] of audio [B, T] or [B, C, T]: LoadedModels.encode's path, before the lookup."""
    x = audio.float()
    if x.shape[-1] > VQ_WINDOW_SAMPLES:
        latents = vqvae.encode_windowed(level, x)
    else:
        (latents,) = vqvae.encode(x, [level])
    return vqvae.latents_to_codes(level, latents)


def codes_to_normalised(vqvae: nn.Module, level: int, codes: torch.Tensor) -> torch.Tensor:
    """Normalised latents [B, C, T] of codes [B, T] (no host sync: fit for every training step)."""
    block = vqvae.bottleneck.level_blocks[level]
    return vqvae.normalise(level, block.decode(codes.long()))


def state_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state (names and bytes): the identity of a frozen VQ-VAE."""
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def stream_prefix(vqvae: nn.Module, context_samples: int) -> int:
    """Zeros put before each file: the context length rounded up to the largest hop."""
    hop_max = max(vqvae.hop_lengths)
    return math.ceil(context_samples / hop_max) * hop_max


@torch.no_grad()
def level_code_bank(vqvae: nn.Module, model_cfg: ModelConfig, level: int, files: list[np.ndarray], *,
                    shifts: int = 1, seed: int = 0, aug_shift: bool = True,
                    device: torch.device | str = "cpu", cache_file: Path | None = None) -> Bank:
    """Codes of every file at `level` (and of its noise-pass start for upsampling levels).

    Each file is encoded as one stream behind `context` zeros, as the sampler encodes a context
    clip followed by audio; `shifts` > 1 adds copies of each file shifted by a fraction of a
    frame. Arrays: ``x`` (target and context codes) and, for levels below the top, ``noise``
    (codes of the level above's reconstruction re-encoded at this level).
    """
    vq = model_cfg.vqvae
    hop = vqvae.hop_lengths[level]
    hop_max = max(vqvae.hop_lengths)
    upsampler = level + 1 < vqvae.levels
    prefix = stream_prefix(vqvae, vq.context_mult * vq.base_tokens * hop)
    key = _cache_key(vqvae, model_cfg, level, files, shifts)
    if cache_file is not None and cache_file.is_file():
        saved = torch.load(cache_file, map_location="cpu", weights_only=True)
        if saved.get("key") == key:
            log.info("level %d: latent codes from %s", level, cache_file)
            return Bank(saved["arrays"], saved["seg_lo"].numpy(), saved["seg_len"].numpy(), vq.base_tokens,
                        seed=seed, aug_shift=aug_shift)
    t0 = time.monotonic()
    dev = torch.device(device)
    was_device = next(vqvae.parameters()).device
    vqvae.to(dev)
    cod = codec(vqvae, model_cfg)
    xs, ns, seg_lo, seg_len, pos = [], [], [], [], 0
    for audio in files:
        mono = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        mono = mono.mean(0) if mono.dim() == 2 else mono
        for s in range(shifts):
            a = mono[(s * hop) // shifts:]
            n = a.numel()
            total = math.ceil((prefix + n) / hop_max) * hop_max
            stream = torch.zeros(1, total)
            stream[0, prefix:prefix + n] = a
            stream = stream.to(dev)
            with torch.autocast(dev.type, enabled=False):
                x = encode_codes(vqvae, level, stream)[0]
                if upsampler:
                    above = cod.decode(level + 1, cod.encode(level + 1, stream))
                    ns.append(encode_codes(vqvae, level, above)[0].to(torch.int32).cpu())
            xs.append(x.to(torch.int32).cpu())
            seg_lo.append(pos + prefix // hop)
            seg_len.append(n // hop)
            pos += x.numel()
    vqvae.to(was_device)
    dtype = torch.int16 if vqvae.bottleneck.level_blocks[level].l_bins <= 32767 else torch.int32
    arrays = {"x": torch.cat(xs).to(dtype)}
    if upsampler:
        arrays["noise"] = torch.cat(ns).to(dtype)
    log.info("level %d: encoded %d files x %d shifts into %d frames in %.1f s", level, len(files), shifts,
             pos, time.monotonic() - t0)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        torch.save({"key": key, "arrays": arrays, "seg_lo": torch.tensor(seg_lo), "seg_len": torch.tensor(seg_len)},
                   tmp)
        tmp.replace(cache_file)
    return Bank(arrays, seg_lo, seg_len, vq.base_tokens, seed=seed, aug_shift=aug_shift)


def _cache_key(vqvae: nn.Module, model_cfg: ModelConfig, level: int, files: list[np.ndarray], shifts: int) -> str:
    vq = model_cfg.vqvae
    h = hashlib.sha256(state_digest(vqvae).encode())
    h.update(f"{level}/{vq.base_tokens}/{vq.context_mult}/{shifts}".encode())
    for a in files:
        h.update(hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).digest())
    return h.hexdigest()
