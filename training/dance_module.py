"""The stereo stage's training module: sample-generator's DiffusionUncond, seeded and resumable.

v-objective on stereo chunks; t drawn from a scrambled Sobol sequence and warped by the crash
schedule, as train_uncond.py does; random phase inversion; EMA copy `diffusion_ema` (what the
sampler loads). The checkpoint's state_dict is sample-generator's: ``diffusion.*`` and
``diffusion_ema.*``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jbdiff.config import ModelConfig
from jbdiff.dance.sampling import dd_refine, v_ddim_sample
from jbdiff.dance.schedule import crash_schedule, t_to_alpha_sigma
from training.banks import Bank, int16_to_float
from training.checkpoints import describe
from training.module_base import TrainModule
from training.streams import StreamPosition

DEMO_INIT_STRENGTH = 0.23  # the seed's sampling default for the stereo stage


class DanceModule(TrainModule):
    """Trains a DanceUNet; `diffusion_ema` is used for demos, export and sampling."""

    def __init__(self, *, model_cfg: ModelConfig, net: nn.Module, lr: float = 4e-5, ema_decay: float = 0.995,
                 seed: int = 0, position: StreamPosition | None = None, audio_bank: Bank | None = None) -> None:
        super().__init__(seed=seed, lr=lr, ema_decay=ema_decay, position=position)
        self.model_cfg = model_cfg
        self.diffusion = net
        self.diffusion_ema = copy.deepcopy(net).eval().requires_grad_(False)
        self.audio_bank = audio_bank
        self._sobol: torch.quasirandom.SobolEngine | None = None
        self._sobol_drawn = 0

    def ema_pairs(self):
        return [(self.diffusion, self.diffusion_ema)]

    def on_fit_start(self) -> None:
        if self.audio_bank is not None:
            self.audio_bank.to(self.device)

    def _draw_t(self, n: int) -> torch.Tensor:
        """Scrambled Sobol draws (per rank), re-created and fast-forwarded after a resume."""
        if self._sobol is None:
            self._sobol = torch.quasirandom.SobolEngine(1, scramble=True, seed=self.seed + 7 * self.position.rank)
            if self._sobol_drawn:
                self._sobol.fast_forward(self._sobol_drawn)
        self._sobol_drawn += n
        return self._sobol.draw(n)[:, 0].to(self.device)

    def reals(self, batch) -> torch.Tensor:
        if isinstance(batch, torch.Tensor):
            return int16_to_float(self.audio_bank.window("audio", batch, 0, self.audio_bank.chunk))
        return batch["audio"].float()

    def v_loss(self, net: nn.Module, reals: torch.Tensor, t: torch.Tensor, generator: torch.Generator,
               flip: bool) -> torch.Tensor:
        b = reals.shape[0]
        if flip:  # RandomPhaseInvert
            sign = torch.where(torch.rand(b, generator=generator, device=self.device) < 0.5, -1.0, 1.0)
            reals = reals * sign.view(b, 1, 1)
        alphas, sigmas = t_to_alpha_sigma(t.view(b, 1, 1))
        noise = torch.randn(reals.shape, generator=generator, device=self.device)
        noised = reals * alphas + noise * sigmas
        targets = noise * alphas - reals * sigmas
        return F.mse_loss(net(noised, t).float(), targets)

    def training_step(self, batch, batch_idx):
        gen = self.step_generator()
        reals = self.reals(batch)
        t = crash_schedule(self._draw_t(reals.shape[0]))
        loss = self.v_loss(self.diffusion, reals, t, gen, flip=True)
        self.advance(reals.shape[0])
        self.log("train/loss", loss.detach(), on_step=True, prog_bar=True, batch_size=reals.shape[0])
        return {"loss": loss, "raw_loss": loss.detach()}

    @torch.no_grad()
    def eval_loss(self, batches: list[dict]) -> float:
        """EMA v-loss on fixed chunks at fixed, evenly spread t (crash-warped) and fixed noise."""
        def one(b: dict, gen: torch.Generator):
            reals = b["audio"].to(self.device).float()
            k = reals.shape[0]
            t = crash_schedule(torch.tensor((np.arange(k) + 0.5) / k, dtype=torch.float32, device=self.device))
            return self.v_loss(self.diffusion_ema, reals, t, gen, flip=False), k

        return self.mean_over(batches, one)

    @torch.no_grad()
    def demo(self, clips: np.ndarray, *, steps: int, seed: int = 0) -> list[list[np.ndarray]]:
        """Per clip: the mono input, its stereo re-rendering, and a sample from pure noise."""
        net = self.diffusion_ema
        x = torch.from_numpy(clips).to(self.device).float()
        n, _, length = x.shape  # clips are sample_length long, a length the net accepts
        mono = x.mean(1, keepdim=True)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        noise = torch.randn(n, 2, length, generator=gen, device=self.device)
        half = torch.bfloat16 if self.device.type == "cuda" else None
        refined = dd_refine(net, mono, noise, steps=steps, init_strength=DEMO_INIT_STRENGTH, autocast_dtype=half)
        ts = crash_schedule(torch.linspace(1, 0, steps + 1, device=self.device)[:-1])
        fresh = torch.randn(n, 2, length, generator=gen, device=self.device)
        uncond = v_ddim_sample(net, fresh, ts)
        m, r, u = (t.float().cpu().numpy() for t in (mono, refined, uncond))
        return [[m[i], r[i], u[i]] for i in range(n)]

    def extra_train_state(self) -> dict:
        return {"sobol_drawn": self._sobol_drawn}

    def load_extra_train_state(self, state: dict) -> None:
        self._sobol_drawn = int(state.get("sobol_drawn", 0))
        self._sobol = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        # state_dict is already sample-generator's layout: diffusion.* and diffusion_ema.*
        checkpoint["jbdiff"] = describe("dd", self.model_cfg, ema_decay=self.ema_decay,
                                        weights="diffusion_ema.* (EMA, used for sampling) and diffusion.*")
