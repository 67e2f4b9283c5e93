"""Listening-free measures used in training summaries (and the demo model's card)."""

from __future__ import annotations

import torch

from jbdiff.vqvae.losses import stft_magnitude

# (n_fft, hop, window) of the multi-resolution STFT distance.
MR_STFT = ((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512))


def snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Per-item signal-to-noise ratio in dB of `estimate` against `reference` ([N, T])."""
    err = (reference - estimate).pow(2).sum(-1).clamp_min(1e-12)
    return 10 * torch.log10(reference.pow(2).sum(-1).clamp_min(1e-12) / err)


def mr_stft(reference: torch.Tensor, estimate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-item multi-resolution STFT distance: (spectral convergence, log-magnitude L1), each
    averaged over the resolutions; 0 for identical audio, scale-free."""
    sc, mag = [], []
    for n_fft, hop, win in MR_STFT:
        a = stft_magnitude(reference.float(), n_fft, hop, win)
        b = stft_magnitude(estimate.float(), n_fft, hop, win)
        sc.append((a - b).flatten(1).norm(dim=1) / a.flatten(1).norm(dim=1).clamp_min(1e-8))
        mag.append((torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().flatten(1).mean(1))
    return torch.stack(sc).mean(0), torch.stack(mag).mean(0)


@torch.no_grad()
def vqvae_metrics(vqvae: torch.nn.Module, audio: torch.Tensor, *, device: torch.device | str = "cpu",
                  batch: int = 16) -> dict[int, dict[str, float]]:
    """Reconstruction quality per level on mono clips [N, T]: mean SNR (dB) and MR-STFT distances.

    Reconstruction = decode(quantise(encode(x))) at that level, the path the sampler's latents take.
    """
    out: dict[int, dict[str, float]] = {}
    was = vqvae.training
    vqvae.eval()
    for level in range(vqvae.levels):
        snrs, scs, mags = [], [], []
        for i in range(0, audio.shape[0], batch):
            x = audio[i:i + batch].to(device).float()
            with torch.autocast(torch.device(device).type, enabled=False):
                _, normed = vqvae.encode_normalised(level, x)
                y = vqvae.decode_normalised(level, normed)[:, 0]
            ref = x[:, : y.shape[-1]]
            snrs.append(snr_db(ref, y))
            sc, mag = mr_stft(ref, y)
            scs.append(sc)
            mags.append(mag)
        out[level] = {"snr_db": float(torch.cat(snrs).mean()), "stft_sc": float(torch.cat(scs).mean()),
                      "stft_logmag": float(torch.cat(mags).mean())}
    vqvae.train(was)
    return out
