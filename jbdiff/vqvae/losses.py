"""Jukebox VQ-VAE reconstruction losses (time-domain and STFT), pure functions on [B, T] audio."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from jbdiff.errors import ConfigError

# Jukebox's single-resolution STFT (DefaultSTFTValues): n_fft 2048, hop 256, window 6 * hop.
DEFAULT_STFT = (2048, 256, 1536)


@dataclass(frozen=True)
class Bandwidth:
    """Dataset loudness statistics that normalise the losses (Jukebox's hps.bandwidth)."""

    l1: float = 1.0
    l2: float = 1.0
    spec: float = 1.0


def _mono(x: torch.Tensor) -> torch.Tensor:
    """[B, T] stays; [B, C, T] is averaged over channels (Jukebox's `squeeze`)."""
    if x.dim() == 3:
        x = x.mean(dim=1)
    if x.dim() != 2:
        raise ValueError(f"expected audio [B, T] or [B, C, T]; got shape {tuple(x.shape)}")
    return x.float()


def stft_magnitude(x: torch.Tensor, n_fft: int, hop_length: int, window_size: int) -> torch.Tensor:
    """|STFT| of [B, T] audio with a Hann window of window_size (centred, reflect-padded)."""
    window = torch.hann_window(window_size, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length, win_length=window_size, window=window,
                      return_complex=True)
    return spec.abs()


def _batch_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm per batch item."""
    return x.reshape(x.shape[0], -1).pow(2).sum(dim=-1).sqrt()


def spectral_loss(x_in: torch.Tensor, x_out: torch.Tensor,
                  stft: tuple[int, int, int] = DEFAULT_STFT) -> torch.Tensor:
    """Per-item L2 distance between magnitude spectrograms (unnormalised)."""
    return _batch_norm(stft_magnitude(_mono(x_in), *stft) - stft_magnitude(_mono(x_out), *stft))


def multispectral_loss(x_in: torch.Tensor, x_out: torch.Tensor, n_fft: Sequence[int],
                       hop_length: Sequence[int], window_size: Sequence[int]) -> torch.Tensor:
    """Per-item spectral loss averaged over several STFT resolutions."""
    if not (len(n_fft) == len(hop_length) == len(window_size)) or not n_fft:
        raise ConfigError("multispectral loss needs equally many n_fft, hop_length, window_size")
    a, b = _mono(x_in), _mono(x_out)
    losses = [_batch_norm(stft_magnitude(a, n, h, w) - stft_magnitude(b, n, h, w))
              for n, h, w in zip(n_fft, hop_length, window_size, strict=True)]
    return sum(losses) / len(losses)


def spectral_convergence(x_in: torch.Tensor, x_out: torch.Tensor, epsilon: float = 2e-3,
                         stft: tuple[int, int, int] = DEFAULT_STFT) -> torch.Tensor:
    """Per-item relative spectral error; items quieter than epsilon count as 0."""
    spec_in = stft_magnitude(_mono(x_in), *stft)
    spec_out = stft_magnitude(_mono(x_out), *stft)
    gt = _batch_norm(spec_in)
    residual = _batch_norm(spec_in - spec_out)
    return residual * (gt > epsilon).float() / gt.clamp(min=epsilon)


def reconstruction_loss(kind: str, target: torch.Tensor, pred: torch.Tensor, bandwidth: Bandwidth,
                        *, linf_k: int = 2048, lmix_l1: float = 0.0, lmix_l2: float = 0.0,
                        lmix_linf: float = 0.0) -> torch.Tensor:
    """Time-domain loss normalised by the data's bandwidth: l1, l2, linf (top-k) or lmix."""
    if kind == "l1":
        return torch.mean(torch.abs(pred - target)) / bandwidth.l1
    if kind == "l2":
        return torch.mean((pred - target) ** 2) / bandwidth.l2
    if kind == "linf":
        residual = ((pred - target) ** 2).reshape(target.shape[0], -1)
        # Jukebox requires >= linf_k samples per item; shorter clips use all of them.
        values, _ = torch.topk(residual, min(linf_k, residual.shape[1]), dim=1)
        return torch.mean(values) / bandwidth.l2
    if kind == "lmix":
        loss = target.new_zeros(())
        for weight, sub in ((lmix_l1, "l1"), (lmix_l2, "l2"), (lmix_linf, "linf")):
            if weight:
                loss = loss + weight * reconstruction_loss(sub, target, pred, bandwidth, linf_k=linf_k)
        return loss
    raise ConfigError(f"loss_fn must be one of l1, l2, linf, lmix; got {kind!r}")


@torch.no_grad()
def estimate_bandwidth(clips: Iterable[torch.Tensor], stft: tuple[int, int, int] = DEFAULT_STFT
                       ) -> Bandwidth:
    """Bandwidth of a dataset from clips [T] or [C, T], computed like Jukebox's calculate_bandwidth."""
    n = total = total_sq = l1 = 0.0
    spec_total, spec_items = 0.0, 0
    for clip in clips:
        clip = clip.double()
        if clip.dim() == 1:
            clip = clip.unsqueeze(0)
        n += clip.numel()
        total += clip.sum().item()
        total_sq += clip.pow(2).sum().item()
        l1 += clip.abs().sum().item()
        spec_total += torch.linalg.norm(stft_magnitude(clip.mean(0, keepdim=True), *stft)).item()
        spec_items += 1
    if n == 0:
        raise ConfigError("estimate_bandwidth needs at least one non-empty clip")
    mean = total / n
    return Bandwidth(l1=l1 / n, l2=total_sq / n - mean**2, spec=spec_total / spec_items)
