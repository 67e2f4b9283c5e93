"""Seamless windowed encode/decode: each window gets exactly its receptive field of context.

The receptive field is derived from the conv layers themselves, so a window's kept outputs
see the same inputs (real samples or the same zero padding at the signal's ends) as a
one-shot pass: results equal the one-shot ones up to float summation order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def needed_input(layers: Sequence[nn.Module], lo: int, hi: int) -> tuple[int, int]:
    """Input index range [lo', hi'] that output indices [lo, hi] of the layer chain depend on."""
    for layer in reversed(layers):
        (k,), (s,), (p,), (d,) = layer.kernel_size, layer.stride, layer.padding, layer.dilation
        if isinstance(layer, nn.ConvTranspose1d):
            # output i = j*s - p + t*d for t in [0, k): j in [ceil((i+p-d(k-1))/s), floor((i+p)/s)]
            lo, hi = -((-(lo + p - d * (k - 1))) // s), (hi + p) // s
        else:
            lo, hi = lo * s - p, hi * s - p + d * (k - 1)
    return lo, hi


def _out_like(x: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=x.device)


def encode_windowed(encoder: nn.Module, layers: Sequence[nn.Module], audio: torch.Tensor,
                    hop: int, frames_per_window: int) -> torch.Tensor:
    """Run encoder over mono audio [B, 1, T] window by window; returns [B, emb, T // hop]."""
    n_frames = audio.shape[-1] // hop
    device = next(encoder.parameters()).device
    out: torch.Tensor | None = None
    for a in range(0, n_frames, frames_per_window):
        b = min(a + frames_per_window, n_frames)
        lo, hi = needed_input(layers, a, b - 1)
        start = max(0, (lo // hop) * hop)  # keep the stride grid aligned with the one-shot pass
        end = min(audio.shape[-1], hi + 1)
        y = encoder(audio[..., start:end].to(device))
        off = start // hop
        if y.shape[-1] < b - off:
            raise AssertionError(f"window [{start}, {end}) yields {y.shape[-1]} frames < {b - off}")
        if out is None:
            out = _out_like(audio, (audio.shape[0], y.shape[1], n_frames), y.dtype)
        out[..., a:b] = y[..., a - off:b - off].to(out.device)
    assert out is not None
    return out


def decode_windowed(decoder: nn.Module, layers: Sequence[nn.Module], latents: torch.Tensor,
                    hop: int, frames_per_window: int) -> torch.Tensor:
    """Run decoder over latents [B, emb, Tz] window by window; returns [B, C, Tz * hop]."""
    n_frames = latents.shape[-1]
    device = next(decoder.parameters()).device
    out: torch.Tensor | None = None
    for a in range(0, n_frames, frames_per_window):
        b = min(a + frames_per_window, n_frames)
        lo, hi = needed_input(layers, a * hop, b * hop - 1)
        c0, c1 = max(0, lo), min(n_frames, hi + 1)
        y = decoder(latents[..., c0:c1].to(device))
        if out is None:
            out = _out_like(latents, (latents.shape[0], y.shape[1], n_frames * hop), y.dtype)
        out[..., a * hop:b * hop] = y[..., (a - c0) * hop:(b - c0) * hop].to(out.device)
    assert out is not None
    return out
