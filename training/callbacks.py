"""Lightning callbacks shared by the training stages: time budget, loss record, demos, validation."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import lightning as L
import torch

log = logging.getLogger(__name__)


def _at_step_boundary(trainer: L.Trainer, batch_idx: int) -> bool:
    """True when this micro-batch ended an accumulation window (an optimizer step just ran)."""
    return (batch_idx + 1) % trainer.accumulate_grad_batches == 0


class TimeBudget(L.Callback):
    """Stop after `seconds` of training (counted from the first batch), at an optimizer step.

    Unlike Lightning's Timer, the budget is not carried over in checkpoints: a resumed run gets
    its own budget. Every rank takes rank 0's decision, so DDP stops together.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.start: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.start is None or not _at_step_boundary(trainer, batch_idx):
            return
        stop = time.monotonic() - self.start >= self.seconds
        stop = trainer.strategy.broadcast(stop, src=0)
        if stop:
            trainer.should_stop = True


class LossRecord(L.Callback):
    """Per-micro-batch training loss on rank 0, fetched from the device in bulk (no per-step sync)."""

    def __init__(self, flush_every: int = 200) -> None:
        self.flush_every = flush_every
        self.rows: list[tuple[int, float]] = []
        self._pending: list[tuple[int, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not trainer.is_global_zero:
            return
        if not isinstance(outputs, dict):
            return
        loss = outputs.get("raw_loss", outputs.get("loss"))
        if loss is None:
            return
        self._pending.append((trainer.global_step, loss.detach()))
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        values = torch.stack([t.float() for _, t in self._pending]).cpu().tolist()
        self.rows += [(s, v) for (s, _), v in zip(self._pending, values, strict=True)]
        self._pending = []

    def on_train_end(self, trainer, pl_module) -> None:
        self.flush()

    def write_csv(self, path: Path) -> None:
        self.flush()
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["step,loss"] + [f"{s},{v:.6g}" for s, v in self.rows]
        path.write_text("\n".join(lines) + "\n")


class Periodic(L.Callback):
    """Run `fn(trainer, module, step)` on rank 0 every `every` optimizer steps (0 = never),
    and also when training starts / ends if `at_start` / `at_end` (once per step)."""

    def __init__(self, every: int, fn, *, name: str, at_start: bool = False, at_end: bool = False) -> None:
        self.every = int(every)
        self.fn = fn
        self.name = name
        self.at_start = at_start
        self.at_end = at_end
        self.last = -1

    def _run(self, trainer, pl_module) -> None:
        step = trainer.global_step
        self.last = step
        if not trainer.is_global_zero:
            return
        t0 = time.monotonic()
        was_training = pl_module.training
        try:
            self.fn(trainer, pl_module, step)
        finally:
            pl_module.train(was_training)
        log.info("%s at step %d took %.1f s", self.name, step, time.monotonic() - t0)

    def on_train_start(self, trainer, pl_module) -> None:
        if self.at_start:
            self._run(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every <= 0 or step == self.last or step % self.every or not _at_step_boundary(trainer, batch_idx):
            return
        self._run(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.at_end and trainer.global_step != self.last:
            self._run(trainer, pl_module)


class RankFingerprint(L.Callback):
    """Write each rank's weight hashes (at the start and end of training), global step, data
    position and a short digest of every batch it trained on (for DDP consistency tests)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.out: dict = {}
        self.batches: list[str] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.out = {"rank": trainer.global_rank, "world_size": trainer.world_size,
                    "start_step": trainer.global_step}
        for name, module in pl_module.fingerprint_modules().items():
            self.out[f"start_{name}"] = state_sha256(module.state_dict())

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        t = batch if isinstance(batch, torch.Tensor) else batch["audio"]
        self.batches.append(hashlib.sha256(t.detach().float().cpu().numpy().tobytes()).hexdigest()[:16])

    def on_train_end(self, trainer, pl_module) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        out = dict(self.out, global_step=trainer.global_step, items_seen=pl_module.position.items_seen,
                   batches=self.batches)
        for name, module in pl_module.fingerprint_modules().items():
            out[name] = state_sha256(module.state_dict())
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(out))


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """Hash of a state dict's names and values (float32 bytes, CPU)."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
