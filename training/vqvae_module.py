"""The VQ-VAE's training module: Jukebox's objective (reconstruction, multispectral, commit) with
EMA codebooks and dead-code restarts, checkpointed so that `load_vqvae_weights` reads it."""

from __future__ import annotations

import numpy as np
import torch

from jbdiff.config import ModelConfig
from jbdiff.vqvae.losses import Bandwidth
from training.banks import Bank, int16_to_float
from training.checkpoints import describe
from training.latents import codec
from training.module_base import TrainModule
from training.streams import StreamPosition


class VQVAEModule(TrainModule):
    """Trains all levels of a VQ-VAE together; codebooks follow their EMA (not the optimizer)."""

    def __init__(self, *, model_cfg: ModelConfig, vqvae: torch.nn.Module, bandwidth: Bandwidth | None = None,
                 lr: float = 3e-4, seed: int = 0, position: StreamPosition | None = None,
                 audio_bank: Bank | None = None) -> None:
        super().__init__(seed=seed, lr=lr, ema_decay=0.0, position=position)
        self.model_cfg = model_cfg
        self.vqvae = vqvae
        self.bandwidth = bandwidth or Bandwidth()
        self.audio_bank = audio_bank
        self._pending_codebooks: list[dict] | None = None

    def trained_parameters(self):
        return list(self.vqvae.parameters())

    def fingerprint_modules(self):
        return {"vqvae": self.vqvae}

    def on_fit_start(self) -> None:
        if self.audio_bank is not None:
            self.audio_bank.to(self.device)
        if self._pending_codebooks is not None:  # after the weights were loaded (which resets EMA state)
            for block, st in zip(self.vqvae.bottleneck.level_blocks, self._pending_codebooks, strict=True):
                block.k_sum.copy_(st["k_sum"].to(block.k_sum))
                block.k_elem.copy_(st["k_elem"].to(block.k_elem))
                block.threshold, block.init = float(st["threshold"]), bool(st["init"])
            self._pending_codebooks = None

    def training_step(self, batch, batch_idx):
        gen = self.step_generator()
        if isinstance(batch, torch.Tensor):
            audio = int16_to_float(self.audio_bank.window("audio", batch, 0, self.audio_bank.chunk))
        else:
            audio = batch["audio"].float()
        out = self.vqvae(audio, self.bandwidth, generator=gen)
        loss = out["loss"]
        self.advance(audio.shape[0])
        self.log_dict({f"train/{k}": out[k] for k in ("loss", "recons_loss", "multispectral_loss", "commit_loss",
                                                       "usage", "entropy")},
                      on_step=True, prog_bar=False, batch_size=audio.shape[0])
        return {"loss": loss, "raw_loss": loss.detach()}

    @torch.no_grad()
    def demo(self, clips: np.ndarray) -> list[list[np.ndarray]]:
        """Per clip: the real audio and its reconstruction through each level."""
        cod = codec(self.vqvae, self.model_cfg)
        x = torch.from_numpy(clips).to(self.device).float().mean(1)
        with torch.autocast(self.device.type, enabled=False):
            recons = [cod.decode(lvl, cod.encode(lvl, x)).float().cpu().numpy() for lvl in range(self.vqvae.levels)]
        real = x.cpu().numpy()
        return [[real[i], *(r[i] for r in recons)] for i in range(x.shape[0])]

    def extra_train_state(self) -> dict:
        return {
            "bandwidth": {"l1": self.bandwidth.l1, "l2": self.bandwidth.l2, "spec": self.bandwidth.spec},
            "codebooks": [{"k_sum": b.k_sum.detach().cpu(), "k_elem": b.k_elem.detach().cpu(),
                           "threshold": float(b.threshold), "init": bool(b.init)}
                          for b in self.vqvae.bottleneck.level_blocks],
        }

    def load_extra_train_state(self, state: dict) -> None:
        if "bandwidth" in state:
            self.bandwidth = Bandwidth(**{k: float(v) for k, v in state["bandwidth"].items()})
        if "codebooks" in state:
            self._pending_codebooks = state["codebooks"]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        # state_dict holds vqvae.* with Jukebox's names: load_vqvae_weights reads it directly.
        checkpoint["jbdiff"] = describe("vqvae", self.model_cfg, hop_lengths=list(self.vqvae.hop_lengths))
