"""The level U-Net's training module: the seed's JBDiffusion.training_step, with EMA and exact resume.

One step: the frozen VQ-VAE turns the chunk into codebook-normalised quantised latents x and its
context into latents [B, L, C]; level 2 learns to denoise Gaussian noise, levels 1 and 0 learn
the noise pass (the start point is the chunk encoded at the level above, decoded, and re-encoded
here); the context is replaced by the learned null embedding with probability 0.1.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from jbdiff.config import ModelConfig
from jbdiff.diffusion import VDiffusion
from jbdiff.level_checkpoint import level_state_dict_for_save, split_level_checkpoint
from training.banks import Bank
from training.checkpoints import describe
from training.latents import codec, codes_to_normalised
from training.module_base import TrainModule
from training.streams import StreamPosition

log = logging.getLogger(__name__)

CONTEXT_DROP = 0.1  # the seed's embedding_mask_proba


class LevelDiffusionModule(TrainModule):
    """Trains one level's U-Net; `unet_ema` is what checkpoints, demos and export carry."""

    # Every U-Net parameter is used in every step the same way (the context dropout is a mask, not
    # a branch), so DDP may treat the graph as static (training/distributed.py).
    static_graph = True

    def __init__(self, *, level: int, model_cfg: ModelConfig, vqvae: nn.Module, unet: nn.Module,
                 lr: float = 4e-5, ema_decay: float = 0.995, seed: int = 0,
                 position: StreamPosition | None = None, code_bank: Bank | None = None,
                 embedding_mask_proba: float = CONTEXT_DROP) -> None:
        super().__init__(seed=seed, lr=lr, ema_decay=ema_decay, position=position)
        self.level = int(level)
        self.model_cfg = model_cfg
        self.vqvae = vqvae.eval().requires_grad_(False)
        self.unet = unet
        self.unet_ema = copy.deepcopy(unet).eval().requires_grad_(False)
        self.diffusion = VDiffusion()
        self.codec = codec(self.vqvae, model_cfg)
        self.upsampler = self.level + 1 < self.vqvae.levels
        self.base_tokens = model_cfg.vqvae.base_tokens
        self.context_tokens = model_cfg.vqvae.context_mult * model_cfg.vqvae.base_tokens
        self.code_bank = code_bank
        self.embedding_mask_proba = float(embedding_mask_proba)
        self.uses_context = bool(getattr(unet, "needs_embedding", True))

    def ema_pairs(self):
        return [(self.unet, self.unet_ema)]

    def frozen_modules(self):
        return [self.vqvae, self.unet_ema]

    def on_fit_start(self) -> None:
        if self.code_bank is not None:
            self.code_bank.to(self.device)

    # -- latents ---------------------------------------------------------------------------------

    @torch.no_grad()
    def batch_latents(self, batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(x [B, C, T], noise-pass start [B, C, T] or None, context [B, L, C]) in float32."""
        with torch.autocast(self.device.type, enabled=False):
            if isinstance(batch, torch.Tensor):
                return self._bank_latents(batch)
            return self.audio_latents(batch["audio"], batch["context"])

    def audio_latents(self, audio: torch.Tensor, context: torch.Tensor):
        """The seed's batch_preprocess on audio chunks [B, C, T] and their context audio."""
        lvl, cod = self.level, self.codec
        x = cod.encode(lvl, audio)
        ctx = cod.encode(lvl, context).transpose(1, 2)
        noise = None
        if self.upsampler:
            above = cod.decode(lvl + 1, cod.encode(lvl + 1, audio))
            noise = cod.encode(lvl, above)
        return x, noise, ctx

    def _bank_latents(self, starts: torch.Tensor):
        bank, lvl, t, c = self.code_bank, self.level, self.base_tokens, self.context_tokens
        x = codes_to_normalised(self.vqvae, lvl, bank.window("x", starts, 0, t))
        ctx = codes_to_normalised(self.vqvae, lvl, bank.window("x", starts, -c, c)).transpose(1, 2)
        noise = None
        if self.upsampler:
            noise = codes_to_normalised(self.vqvae, lvl, bank.window("noise", starts, 0, t))
        return x, noise, ctx

    # -- training --------------------------------------------------------------------------------

    def loss(self, net: nn.Module, x, noise, ctx, generator: torch.Generator, mask_proba: float) -> torch.Tensor:
        return self.diffusion.loss(net, x, noise=noise, embedding=ctx if self.uses_context else None,
                                   embedding_mask_proba=mask_proba if self.uses_context else 0.0,
                                   generator=generator)

    def training_step(self, batch, batch_idx):
        gen = self.step_generator()
        x, noise, ctx = self.batch_latents(batch)
        loss = self.loss(self.unet, x, noise, ctx, gen, self.embedding_mask_proba)
        self.advance(x.shape[0])
        self.log("train/loss", loss.detach(), on_step=True, prog_bar=True, batch_size=x.shape[0])
        return {"loss": loss, "raw_loss": loss.detach()}

    @torch.no_grad()
    def eval_loss(self, batches: list[dict]) -> float:
        """Mean v-loss of the EMA net on fixed batches, with fixed sigmas and noise (context kept)."""
        def one(b: dict, gen: torch.Generator):
            x, noise, ctx = self.audio_latents(b["audio"].to(self.device), b["context"].to(self.device))
            with torch.autocast(self.device.type, enabled=False):
                return self.loss(self.unet_ema, x, noise, ctx, gen, 0.0), x.shape[0]

        return self.mean_over(batches, one)

    # -- checkpoints -----------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        # The seed's layout: EMA U-Net under diffusion.net / diffusion.diffusion.net /
        # diffusion.sampler.net (what the sampler reads), frozen VQ-VAE under vqvae.
        checkpoint["state_dict"] = level_state_dict_for_save(self.unet_ema, self.vqvae.state_dict())
        checkpoint["jbdiff_train"]["unet"] = self.unet.state_dict()
        checkpoint["jbdiff"] = describe("level", self.model_cfg, level=self.level, ema_decay=self.ema_decay,
                                        weights="EMA U-Net in state_dict; trained (non-EMA) U-Net in "
                                                "jbdiff_train.unet")

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        checkpoint["state_dict"] = module_state_from_level_checkpoint(checkpoint)


def module_state_from_level_checkpoint(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The module's own state_dict (unet, unet_ema, vqvae) from a seed-layout level checkpoint.

    Files without our non-EMA copy (the seed's) start both nets from the stored weights.
    """
    ema, vq = split_level_checkpoint(checkpoint)
    raw = (checkpoint.get("jbdiff_train") or {}).get("unet") or ema
    out = {f"unet.{k}": v for k, v in raw.items()}
    out.update({f"unet_ema.{k}": v for k, v in ema.items()})
    out.update({f"vqvae.{k}": v for k, v in vq.items()})
    return out

