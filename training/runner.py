"""One place that turns run settings into a Lightning Trainer, fits, and saves the final checkpoint."""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from jbdiff.device import pick_device
from jbdiff.errors import ConfigError
from training.callbacks import LossRecord, RankFingerprint, TimeBudget
from training.checkpoints import checkpoint_name
from training.distributed import make_strategy
from training.settings import RunOptions

log = logging.getLogger(__name__)

# Frozen VQ-VAE and EMA copies are in eval mode on purpose.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")


def accelerator_for(device: str, devices: int = 1) -> str:
    """Lightning accelerator name for a --device value; CUDA asked for but absent is an error."""
    dev = pick_device(device)
    if dev.type == "cuda":
        have = torch.cuda.device_count()
        if devices > have:
            raise ConfigError(f"--devices {devices}: this machine has {have} CUDA device(s)")
        return "gpu"
    return dev.type


def precision_for(precision: str, accelerator: str) -> str:
    """Resolve 'auto' (bf16-mixed on CUDA, else 32) and reject fp16 off CUDA."""
    if precision == "auto":
        if accelerator == "gpu":
            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return "32-true"
    if precision == "16-mixed" and accelerator != "gpu":
        raise ConfigError("--precision 16-mixed needs CUDA; use 32 or bf16-mixed on this device")
    return "32-true" if precision == "32" else precision


def make_loggers(opts: RunOptions, run_name: str) -> list:
    """TensorBoard always (if installed), Weights & Biases when asked."""
    loggers: list = []
    if opts.wandb:
        if importlib.util.find_spec("wandb") is None:
            raise ConfigError("--log-to-wandb true needs the wandb package (pip install wandb), which is not installed")
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(WandbLogger(project=f"jbdiff_{opts.project_name}", name=run_name,
                                   save_dir=str(opts.out_dir)))
    if importlib.util.find_spec("tensorboard") is not None or importlib.util.find_spec("tensorboardX") is not None:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(opts.out_dir), name="logs", default_hp_metric=False))
    else:
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
    return loggers


@dataclass
class FitResult:
    """What a stage run produced."""

    checkpoint: Path | None
    global_step: int
    losses: list[tuple[int, float]]
    seconds: float
    rank: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def mean_loss(self, last: int = 50) -> float | None:
        vals = [v for _, v in self.losses[-last:]]
        return sum(vals) / len(vals) if vals else None


def fit(module: L.LightningModule, loader, opts: RunOptions, *, run_name: str,
        ckpt_path: Path | None = None, callbacks: list | None = None) -> FitResult:
    """Train `module` on `loader` with the run settings; resume from `ckpt_path` if given."""
    opts.validate()
    accelerator = accelerator_for(opts.device, opts.devices)
    precision = precision_for(opts.precision, accelerator)
    if accelerator == "gpu":
        torch.set_float32_matmul_precision("high")
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    record = LossRecord()
    ckpt_cb = ModelCheckpoint(dirpath=str(opts.out_dir), filename=f"{opts.prefix}-step{{step:08d}}",
                              every_n_train_steps=opts.ckpt_every, save_top_k=-1, save_last=False,
                              auto_insert_metric_name=False, save_on_train_epoch_end=False)
    cbs: list = [record, *(callbacks or []), *opts.extra_callbacks, ckpt_cb]
    if opts.max_time:
        cbs.insert(0, TimeBudget(opts.max_time))
    if opts.fingerprints:
        cbs.append(RankFingerprint(opts.out_dir / "fingerprints"))
    strategy = make_strategy(opts.strategy, opts.devices * opts.num_nodes, grad_comm=opts.grad_comm,
                             static_graph=getattr(module, "static_graph", False))
    trainer = L.Trainer(
        accelerator=accelerator, devices=opts.devices, num_nodes=opts.num_nodes, strategy=strategy,
        precision=precision, max_steps=-1 if opts.max_steps is None else opts.max_steps, max_epochs=-1,
        accumulate_grad_batches=opts.accumulate, gradient_clip_val=opts.grad_clip or None,
        callbacks=cbs, logger=make_loggers(opts, run_name) or False, log_every_n_steps=opts.log_every,
        default_root_dir=str(opts.out_dir), enable_progress_bar=opts.progress_bar,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        use_distributed_sampler=False, benchmark=accelerator == "gpu",  # fixed shapes: let cuDNN pick kernels
    )
    t0 = time.monotonic()
    trainer.fit(module, train_dataloaders=loader, ckpt_path=str(ckpt_path) if ckpt_path else None,
                weights_only=True if ckpt_path else None)
    seconds = time.monotonic() - t0
    final = opts.out_dir / checkpoint_name(opts.prefix, trainer.global_step)
    missing = trainer.global_step > 0 and not final.exists()
    if trainer.strategy.broadcast(missing, src=0):
        trainer.save_checkpoint(str(final), weights_only=False)
    if trainer.is_global_zero:
        record.write_csv(opts.out_dir / f"{opts.prefix}-losses.csv")
    trainer.strategy.barrier()
    return FitResult(final if trainer.global_step > 0 else None, trainer.global_step, record.rows,
                     seconds, rank=trainer.global_rank)
