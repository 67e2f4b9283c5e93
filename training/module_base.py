"""What every stage's LightningModule shares: seeded randomness per step, EMA, resumable counters."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn

from training.ema import ema_decay_at, ema_update
from training.streams import StreamPosition


def step_seed(seed: int, rank: int, micro_batch: int) -> int:
    """A 63-bit seed for one micro-batch of one rank (so a resumed run draws the same numbers)."""
    state = np.random.SeedSequence([seed, rank, micro_batch]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class TrainModule(L.LightningModule):
    """Base class: subclasses define `training_loss`, `ema_pairs` and `frozen_modules`.

    Randomness of micro-batch n on rank r comes from a generator seeded by (seed, r, n) (and the
    global RNG, for dropout, is seeded the same way), so nothing random has to be checkpointed;
    the data position is the shared StreamPosition, saved with the module.
    """

    def __init__(self, *, seed: int = 0, lr: float = 4e-5, ema_decay: float = 0.995,
                 position: StreamPosition | None = None) -> None:
        super().__init__()
        self.seed = int(seed)
        self.lr = float(lr)
        self.ema_decay = float(ema_decay)
        self.position = position or StreamPosition()
        self.micro_batches = 0
        self._generator: torch.Generator | None = None

    # -- to be defined by subclasses -----------------------------------------------------------

    def ema_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(trained, averaged) module pairs."""
        return []

    def frozen_modules(self) -> list[nn.Module]:
        """Modules that always stay in eval mode (frozen VQ-VAE, EMA copies)."""
        return [ema for _, ema in self.ema_pairs()]

    def trained_parameters(self) -> list[nn.Parameter]:
        return [p for m, _ in self.ema_pairs() for p in m.parameters()]

    def fingerprint_modules(self) -> dict[str, nn.Module]:
        out = {}
        for i, (m, e) in enumerate(self.ema_pairs()):
            out[f"model{i}"], out[f"ema{i}"] = m, e
        return out

    def extra_train_state(self) -> dict:
        return {}

    def load_extra_train_state(self, state: dict) -> None:
        pass

    # -- shared machinery ------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        self.position.rank = self.trainer.global_rank
        self.position.world_size = self.trainer.world_size

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.frozen_modules():
            m.eval()
        return self

    def step_generator(self) -> torch.Generator:
        """The generator for this micro-batch (also seeds the global RNG that dropout uses)."""
        seed = step_seed(self.seed, self.position.rank, self.micro_batches)
        if self._generator is None or self._generator.device != self.device:
            self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        torch.manual_seed(seed)
        return self._generator

    def advance(self, batch_size: int) -> None:
        """Count one consumed micro-batch (call once per training_step)."""
        self.micro_batches += 1
        self.position.items_seen += batch_size * self.position.world_size

    @torch.no_grad()
    def mean_over(self, batches: list, loss_fn, seed: int = 1234) -> float:
        """Item-weighted mean of `loss_fn(batch, generator) -> (loss, items)` over fixed batches,
        each with its own fixed generator (so evaluations are comparable across steps)."""
        gen = torch.Generator(device=self.device)
        total, n = 0.0, 0
        for i, batch in enumerate(batches):
            gen.manual_seed(seed + i)
            loss, k = loss_fn(batch, gen)
            total += float(loss) * k
            n += k
        return total / max(n, 1)

    def configure_optimizers(self):
        return torch.optim.Adam(self.trained_parameters(), lr=self.lr)

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        decay = ema_decay_at(self.global_step, self.ema_decay)
        for model, ema in self.ema_pairs():
            ema_update(model, ema, decay)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = {"micro_batches": self.micro_batches, "seed": self.seed, **self.position.state_dict()}
        state.update(self.extra_train_state())
        checkpoint["jbdiff_train"] = state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("jbdiff_train") or {}
        self.micro_batches = int(state.get("micro_batches", 0))
        if "items_seen" in state:
            self.position.load_state_dict(state)
        self.load_extra_train_state(state)
