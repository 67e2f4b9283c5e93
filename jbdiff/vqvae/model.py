"""Jukebox's hierarchical VQ-VAE with the tensor layout of openai/jukebox's VQVAE.

One encoder and one decoder per level (level L downsamples by hop_lengths[L]); a shared
Bottleneck holds one codebook per level. Audio is mono 44.1 kHz, [B, 1, T] inside.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
from torch import nn

from jbdiff.errors import AudioError, AudioTooShort, ConfigError
from jbdiff.vqvae import windowing
from jbdiff.vqvae.bottleneck import Bottleneck, BottleneckBlock
from jbdiff.vqvae.layers import Decoder, Encoder
from jbdiff.vqvae.losses import (
    Bandwidth,
    multispectral_loss,
    reconstruction_loss,
    spectral_convergence,
    spectral_loss,
)
from jbdiff.vqvae.shapes import PRESETS, VQVAEShape

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SECONDS = 20.0


class VQVAE(nn.Module):
    """Audio <-> per-level latents and codes; state_dict keys match Jukebox's VQVAE."""

    def __init__(self, shape: VQVAEShape | None = None) -> None:
        super().__init__()
        shape = (shape or VQVAEShape()).validate()
        self.shape = shape
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in range(shape.levels):
            mult = shape.level_multipliers[level]
            block_kwargs = dict(
                width=shape.width * mult, depth=shape.depth * mult, m_conv=shape.m_conv,
                dilation_growth_rate=shape.dilation_growth_rate,
                dilation_cycle=shape.dilation_cycle, zero_out=shape.zero_out,
                res_scale=shape.res_scale,
            )
            downs, strides = shape.downs_t[: level + 1], shape.strides_t[: level + 1]
            self.encoders.append(Encoder(1, shape.emb_width, downs, strides, **block_kwargs))
            self.decoders.append(Decoder(1, shape.emb_width, downs, strides, **block_kwargs,
                                         reverse_decoder_dilation=shape.reverse_decoder_dilation))
        self.bottleneck = Bottleneck(shape.l_bins, shape.emb_width, shape.l_mu, shape.levels)

    @classmethod
    def from_preset(cls, name: str) -> VQVAE:
        """Build a named shape ('jukebox' = the published 5b/1b VQ-VAE, 'tiny' for tests)."""
        if name not in PRESETS:
            raise ConfigError(f"unknown VQ-VAE preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(PRESETS[name])

    # -- shapes ----------------------------------------------------------------------------

    @property
    def levels(self) -> int:
        return self.shape.levels

    @property
    def hop_lengths(self) -> tuple[int, ...]:
        """Audio samples per latent frame for each level: (8, 32, 128) for Jukebox."""
        return self.shape.hop_lengths

    @property
    def emb_width(self) -> int:
        return self.shape.emb_width

    def _check_level(self, level: int) -> int:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < self.levels:
            raise ConfigError(f"level must be an integer in [0, {self.levels - 1}]; got {level!r}")
        return level

    def _block(self, level: int) -> BottleneckBlock:
        return self.bottleneck.level_blocks[self._check_level(level)]

    def _dtype(self) -> torch.dtype:
        return self.encoders[0].level_blocks[0].model[0][0].weight.dtype

    def _check_latents(self, level: int, x: torch.Tensor) -> torch.Tensor:
        self._check_level(level)
        if x.dim() != 3 or x.shape[1] != self.emb_width or x.shape[-1] < 1:
            raise ConfigError(f"latents must be [B, {self.emb_width}, T>=1]; got {tuple(x.shape)}")
        return x

    # -- audio -----------------------------------------------------------------------------

    def to_mono(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, T] or [B, C, T] float audio -> [B, 1, T] in the model's dtype.

        Stereo becomes 0.5 * left + 0.5 * right, as Jukebox's audio_preprocess (no aug_blend)
        does for the Jukebox Diffusion seed; more channels are averaged.
        """
        if audio.dim() == 2:
            audio = audio.unsqueeze(1)
        if audio.dim() != 3 or audio.shape[1] < 1:
            raise AudioError(f"audio must be [B, T] or [B, C, T]; got shape {tuple(audio.shape)}")
        if audio.is_complex() or not audio.is_floating_point():
            raise AudioError(f"audio must be a float tensor in [-1, 1]; got {audio.dtype}")
        if audio.shape[1] == 2:
            audio = 0.5 * audio[:, 0:1] + 0.5 * audio[:, 1:2]
        elif audio.shape[1] > 2:
            audio = audio.mean(dim=1, keepdim=True)
        return audio.to(self._dtype())

    def _check_length(self, audio: torch.Tensor, levels: Iterable[int]) -> None:
        need = max(self.hop_lengths[lvl] for lvl in levels)
        if audio.shape[-1] < need:
            raise AudioTooShort(
                f"audio has {audio.shape[-1]} samples; encoding needs at least {need} (one frame)"
            )

    # -- encode / quantise / decode --------------------------------------------------------

    def encode(self, audio: torch.Tensor, levels: Iterable[int] | None = None) -> list[torch.Tensor]:
        """Continuous (pre-quantisation) latents [B, emb, T // hop] for each requested level."""
        levels = list(range(self.levels)) if levels is None else [self._check_level(lv) for lv in levels]
        x = self.to_mono(audio)
        self._check_length(x, levels)
        return [self.encoders[lv](x) for lv in levels]

    def quantise(self, level: int, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest-codebook codes [B, T'] and their vectors [B, emb, T'].

        With gradients on, the vectors carry a straight-through gradient to `latents`.
        """
        block = self._block(level)
        codes = block.encode(self._check_latents(level, latents))
        quantised = block.decode(codes)
        if torch.is_grad_enabled() and latents.requires_grad:
            quantised = latents + (quantised - latents).detach()
        return codes, quantised

    def latents_to_codes(self, level: int, latents: torch.Tensor) -> torch.Tensor:
        """Codes [B, T'] of the nearest codebook entries."""
        return self._block(level).encode(self._check_latents(level, latents))

    def codes_to_latents(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors [B, emb, T'] for codes [B, T']."""
        block = self._block(level)
        if codes.dim() != 2 or codes.dtype not in (torch.int64, torch.int32):
            raise ConfigError(f"codes must be an integer tensor [B, T]; got {codes.dtype} {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= block.l_bins):
            raise ConfigError(f"codes must lie in [0, {block.l_bins - 1}]")
        return block.decode(codes.long())

    def decode(self, level: int, quantised: torch.Tensor) -> torch.Tensor:
        """Audio [B, 1, T' * hop] from (quantised) latents [B, emb, T'] of one level."""
        x = self._check_latents(level, quantised).to(self._dtype())
        return self.decoders[level](x)

    # -- Jukebox Diffusion's latent normalisation ------------------------------------------

    def codebook_stats(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and unbiased std over all entries of the level's codebook (as the seed's norm_pre)."""
        k = self._block(level).k.detach()
        return k.mean(), k.std()

    def normalise(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """Standardise latents with the codebook's statistics (diffusion works on these)."""
        mean, std = self.codebook_stats(level)
        return (x - mean) / std

    def denormalise(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """Inverse of normalise."""
        mean, std = self.codebook_stats(level)
        return x * std + mean

    def encode_normalised(self, level: int, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio -> (codes, normalised quantised latents), as the seed's batch_preprocess."""
        (latents,) = self.encode(audio, [level])
        codes, quantised = self.quantise(level, latents)
        return codes, self.normalise(level, quantised)

    def decode_normalised(self, level: int, x: torch.Tensor, quantise: bool = True) -> torch.Tensor:
        """Normalised latents -> audio [B, 1, T], snapping to the codebook first unless asked not
        to (the seed's batch_postprocess)."""
        x = self.denormalise(level, x)
        if quantise:
            _, x = self.quantise(level, x)
        return self.decode(level, x)

    # -- long audio ------------------------------------------------------------------------

    def _frames_per_window(self, level: int, window_seconds: float) -> int:
        if not window_seconds > 0:
            raise ConfigError(f"window_seconds must be > 0; got {window_seconds!r}")
        return max(1, round(window_seconds * self.shape.sr / self.hop_lengths[level]))

    def encode_windowed(self, level: int, audio: torch.Tensor,
                        window_seconds: float = DEFAULT_WINDOW_SECONDS) -> torch.Tensor:
        """encode(audio, [level])[0] computed window by window (same result, bounded memory).

        `audio` may stay on the CPU while the model is on the GPU; windows are moved over.
        """
        self._check_level(level)
        x = self.to_mono(audio)
        self._check_length(x, [level])
        enc = self.encoders[level]
        return windowing.encode_windowed(enc, enc.conv_layers(), x, self.hop_lengths[level],
                                         self._frames_per_window(level, window_seconds))

    def decode_windowed(self, level: int, quantised: torch.Tensor,
                        window_seconds: float = DEFAULT_WINDOW_SECONDS) -> torch.Tensor:
        """decode(level, quantised) computed window by window (same result, bounded memory)."""
        x = self._check_latents(level, quantised).to(self._dtype())
        dec = self.decoders[level]
        return windowing.decode_windowed(dec, dec.conv_layers(), x, self.hop_lengths[level],
                                         self._frames_per_window(level, window_seconds))

    # -- training --------------------------------------------------------------------------

    @torch.no_grad()
    def restore_codebooks(self, sample_length: int, world_size: int = 1) -> None:
        """Reset EMA statistics before fine-tuning loaded weights, as Jukebox's make_vqvae does."""
        for level, block in enumerate(self.bottleneck.level_blocks):
            num_tokens = (sample_length // self.hop_lengths[level]) * world_size
            block.restore_k(num_tokens=num_tokens, threshold=self.shape.revival_threshold)

    def training_losses(self, audio: torch.Tensor, bandwidth: Bandwidth | None = None,
                        generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Jukebox's VQ-VAE objective on a batch; 'loss' is the one to backpropagate.

        Codebooks are EMA-updated when the module is in train mode (and initialised from the
        first batch if they were never loaded or trained). `bandwidth` should be the dataset's
        statistics (losses.estimate_bandwidth); None means 1.0 for each.
        """
        s = self.shape
        bw = bandwidth or Bandwidth()
        x = self.to_mono(audio)
        self._check_length(x, range(self.levels))
        target = x.float()
        metrics: dict[str, torch.Tensor] = {}
        zero = target.new_zeros(())
        recons_total, spec_total, multispec_total, commit_total = zero, zero, zero, zero
        quant_metrics: list[dict[str, torch.Tensor]] = []
        outputs = []
        for level in range(self.levels):
            latents = self.encoders[level](x)
            block = self.bottleneck.level_blocks[level]
            _, quantised, commit, qm = block(latents, update_k=self.training, generator=generator)
            if not self.training:
                quantised = quantised.detach()
            commit_total = commit_total + commit
            quant_metrics.append(qm)
            outputs.append(self.decoders[level](quantised))
        for level in reversed(range(self.levels)):
            out = outputs[level].float()
            # Jukebox's sample length is a multiple of the top hop; crop any ragged tail.
            tgt = target[..., : out.shape[-1]]
            recons = reconstruction_loss(s.loss_fn, tgt, out, bw, linf_k=s.linf_k,
                                         lmix_l1=s.lmix_l1, lmix_l2=s.lmix_l2, lmix_linf=s.lmix_linf)
            if s.use_nonrelative_specloss:
                spec = spectral_loss(tgt, out).mean() / bw.spec
            else:
                spec = spectral_convergence(tgt, out).mean()
            multispec = multispectral_loss(tgt, out, s.multispec_loss_n_fft, s.multispec_loss_hop_length,
                                           s.multispec_loss_window_size).mean() / bw.spec
            metrics[f"recons_loss_l{level + 1}"] = recons
            metrics[f"spectral_loss_l{level + 1}"] = spec
            metrics[f"multispectral_loss_l{level + 1}"] = multispec
            recons_total = recons_total + recons
            spec_total = spec_total + spec
            multispec_total = multispec_total + multispec
        loss = recons_total + s.spectral * spec_total + s.multispectral * multispec_total \
            + s.commit * commit_total
        with torch.no_grad():
            out0 = outputs[0].float()
            tgt0 = target[..., : out0.shape[-1]]
            metrics["spectral_convergence"] = spectral_convergence(tgt0, out0).mean()
            for kind in ("l2", "l1", "linf"):
                metrics[f"{kind}_loss"] = reconstruction_loss(kind, tgt0, out0, bw, linf_k=s.linf_k)
        for key in quant_metrics[0]:
            metrics[key] = torch.stack([m[key].float() for m in quant_metrics]).mean()
        metrics = {k: v.detach() for k, v in metrics.items()}
        metrics.update(recons_loss=recons_total.detach(), spectral_loss=spec_total.detach(),
                       multispectral_loss=multispec_total.detach(), commit_loss=commit_total.detach(),
                       loss=loss)
        return metrics

    def forward(self, audio: torch.Tensor, bandwidth: Bandwidth | None = None,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Training step entry point (so DDP wrappers see a forward): see training_losses."""
        return self.training_losses(audio, bandwidth, generator)
