"""Settings of a training run as plain dataclasses (no Lightning import, so CLIs load fast)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jbdiff.config import ModelConfig
from jbdiff.errors import ConfigError

PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")
GRAD_COMM = ("fp32", "bf16")  # DDP gradient all-reduce precisions


@dataclass
class RunOptions:
    """Settings every stage shares (devices, precision, length, checkpoints, logging)."""

    out_dir: Path
    prefix: str                      # checkpoint file prefix: level2, dd, vqvae
    device: str = "auto"             # auto | cpu | cuda | mps
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    grad_comm: str = "fp32"          # DDP gradient all-reduce precision: fp32 | bf16
    precision: str = "auto"
    max_steps: int | None = None
    max_time: float | None = None    # seconds of training, then stop at the next optimizer step
    accumulate: int = 1
    grad_clip: float = 0.0
    ckpt_every: int = 5000
    log_every: int = 10
    wandb: bool = False
    project_name: str = "jbdiff"
    progress_bar: bool = True
    fingerprints: bool = False       # write per-rank weight hashes at the end (DDP tests)
    extra_callbacks: list[Any] = field(default_factory=list)

    def validate(self) -> RunOptions:
        for name in ("devices", "num_nodes", "accumulate", "ckpt_every", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"--{name.replace('_', '-')}: {v!r} must be an integer >= 1")
        if self.max_steps is not None and self.max_steps < 0:
            raise ConfigError(f"--max-steps: {self.max_steps} must be >= 0")
        if self.max_time is not None and self.max_time <= 0:
            raise ConfigError(f"--max-time: {self.max_time} must be > 0 seconds")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision: {self.precision!r} is not allowed (allowed: {', '.join(PRECISIONS)})")
        if self.grad_comm not in GRAD_COMM:
            raise ConfigError(f"--grad-comm: {self.grad_comm!r} is not allowed (allowed: {', '.join(GRAD_COMM)})")
        if self.grad_clip < 0:
            raise ConfigError(f"--grad-clip: {self.grad_clip} must be >= 0")
        return self

    def replace(self, **changes: Any) -> RunOptions:
        return dataclasses.replace(self, **changes)


@dataclass
class DataSettings:
    """Where the music is and how it is read."""

    train_data: Path
    num_workers: int = 4
    cache_dir: Path | None = None     # decoded-audio cache (int16 memory maps); None = in memory
    val_fraction: float = 0.2
    seed: int = 0
    aug_shift: bool = True


@dataclass
class DemoSettings:
    """The seed's demo flags."""

    every: int = 2500
    num: int = 4
    seconds: float = 10.0
    steps: int = 250
    embedding_weight: float = 3.66


@dataclass
class StageSettings:
    """One stage's job: model, data, optimisation, and the shared run options."""

    stage: str                         # level | dd | vqvae
    model_cfg: ModelConfig
    data: DataSettings
    run: RunOptions
    level: int = 2
    batch_size: int = 32
    lr: float = 4e-5
    ema_decay: float = 0.995
    seed: int = 0
    vqvae_path: Path | None = None     # level: VQ-VAE weights; vqvae: weights to fine-tune from
    resume: Path | None = None         # checkpoint file or folder (exact resume or warm start)
    init_weights: Path | None = None   # warm start from weights only (any compatible checkpoint)
    cache_latents: bool = False        # level: train from pre-encoded codes on the device
    cache_shifts: int = 1
    cache_audio: bool = False          # dd / vqvae: keep the training audio on the device
    sample_length: int = 65536         # dd / vqvae: training chunk in samples
    demo: DemoSettings = field(default_factory=DemoSettings)
    val_every: int = 0                 # steps between validation losses (0: only at the end)
    val_items: int = 32
    embedding_mask_proba: float = 0.1


def is_subprocess_rank() -> bool:
    """True in a DDP child process that Lightning launched (LOCAL_RANK > 0)."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0
