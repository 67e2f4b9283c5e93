"""Flags that `jbdiff train` and `jbdiff train-vqvae` share, and their mapping to settings."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from jbdiff.commands.args import bool_flag
from jbdiff.config import load_config
from jbdiff.device import pick_device
from jbdiff.errors import ConfigError
from training.settings import (
    GRAD_COMM,
    PRECISIONS,
    DataSettings,
    DemoSettings,
    RunOptions,
    StageSettings,
)


def _existing_dir(value: str) -> Path:
    p = Path(value)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: no such folder")
    return p


def _existing_path(value: str) -> Path:
    p = Path(value)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file or folder")
    return p


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def add_common_arguments(p: argparse.ArgumentParser, *, config_default: str) -> None:
    """Data, checkpoints, logging, devices and optimisation flags (the seed's names where it has them)."""
    g = p.add_argument_group("data and checkpoints")
    g.add_argument("--train-data", required=True, metavar="DIR", type=_existing_dir,
                   help="folder of audio files (any format libsndfile reads; searched recursively)")
    g.add_argument("--ckpt-save-location", required=True, metavar="DIR", type=Path,
                   help="folder for checkpoints, logs, demos (created if missing)")
    g.add_argument("--config", default=config_default,
                   help=f"model config YAML or bundled name (default {config_default})")
    g.add_argument("--resume-network-pkl", metavar="FILE", type=_existing_path,
                   help="continue from this checkpoint (or the newest in this folder): exactly, for a jbdiff "
                        "training checkpoint; from its weights only, for other files (e.g. the seed's)")
    g.add_argument("--num-workers", type=int, default=default_workers(),
                   help="DataLoader worker processes (seed default 12; here min(8, CPUs))")
    g.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help="decoded-audio (and latent) cache; default <ckpt-save-location>/cache")
    g.add_argument("--seed", type=int, default=0, help="seed of data order, noise and initial weights")
    g = p.add_argument_group("logging and demos")
    bool_flag(g, "--log-to-wandb", False, "log to Weights & Biases (needs `pip install wandb`; default false)")
    g.add_argument("--project-name", default="jbdiff", help="W&B project suffix (jbdiff_<name>)")
    g.add_argument("--ckpt-every", type=int, default=5000, help="optimizer steps between checkpoints")
    g.add_argument("--demo-every", type=int, default=2500, help="optimizer steps between demos (0: none)")
    g.add_argument("--num-demos", type=int, default=4, help="demo items per demo")
    g.add_argument("--demo-seconds", type=float, default=10, help="seconds generated per demo item")
    g.add_argument("--demo-steps", type=int, default=250, help="diffusion steps per demo")
    g.add_argument("--val-every", type=int, default=0,
                   help="optimizer steps between validation losses (0: only when training ends)")
    g.add_argument("--val-items", type=int, default=32, help="validation chunks (fixed) per evaluation")
    g.add_argument("--log-every", type=int, default=10, help="optimizer steps between logged losses")
    bool_flag(g, "--progress-bar", True, "show Lightning's progress bar")
    g.add_argument("--debug-fingerprints", action="store_true", help=argparse.SUPPRESS)
    g = p.add_argument_group("optimisation and devices")
    g.add_argument("--batch-size", type=int, help="examples per device per micro-batch")
    g.add_argument("--lr", type=float, help="Adam learning rate")
    g.add_argument("--accumulate-grad-batches", type=int, help="micro-batches per optimizer step")
    g.add_argument("--grad-clip", type=float, default=0.0, help="clip the gradient norm to this (0: off)")
    g.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (default: never)")
    g.add_argument("--max-time", type=float, metavar="SECONDS",
                   help="stop after this many seconds of training (at an optimizer step)")
    g.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto = bf16-mixed on CUDA (16-mixed without bf16), 32 elsewhere")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (cuda without CUDA is an error)")
    g.add_argument("--devices", type=int, default=1, help="devices (GPUs or CPU processes) per node; >1 runs DDP")
    g.add_argument("--num-nodes", type=int, default=1, help="machines (launch with torchrun or SLURM)")
    g.add_argument("--strategy", default="auto",
                   help="Lightning strategy (auto = ddp when more than one device), e.g. ddp, "
                        "ddp_find_unused_parameters_true")
    g.add_argument("--grad-comm", default="fp32", choices=GRAD_COMM,
                   help="DDP: all-reduce gradients in this precision (bf16 halves the traffic)")


def settings_from_args(args: argparse.Namespace, stage: str, *, batch_size: int, lr: float,
                       accumulate: int) -> StageSettings:
    """Map the parsed flags onto StageSettings (stage-specific defaults passed in)."""
    pick_device(args.device)  # CUDA asked for but absent fails here, before any data or model work
    cfg = load_config(args.config)
    out = Path(args.ckpt_save_location)
    for name in ("batch_size", "accumulate_grad_batches"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: {v} must be >= 1")
    if args.lr is not None and not args.lr > 0:
        raise ConfigError(f"--lr: {args.lr} must be > 0")
    if args.num_workers < 0:
        raise ConfigError(f"--num-workers: {args.num_workers} must be >= 0")
    run = RunOptions(
        out_dir=out, prefix=stage, device=args.device, devices=args.devices, num_nodes=args.num_nodes,
        strategy=args.strategy, grad_comm=args.grad_comm, precision=args.precision, max_steps=args.max_steps,
        max_time=args.max_time,
        accumulate=args.accumulate_grad_batches or accumulate, grad_clip=args.grad_clip,
        ckpt_every=args.ckpt_every, log_every=args.log_every, wandb=args.log_to_wandb,
        project_name=args.project_name, progress_bar=args.progress_bar, fingerprints=args.debug_fingerprints,
    ).validate()
    data = DataSettings(train_data=Path(args.train_data), num_workers=args.num_workers,
                        cache_dir=args.cache_dir or out / "cache", seed=args.seed)
    demo = DemoSettings(every=args.demo_every, num=args.num_demos, seconds=args.demo_seconds,
                        steps=args.demo_steps, embedding_weight=getattr(args, "embedding_weight", 3.66))
    return StageSettings(
        stage=stage, model_cfg=cfg.model, data=data, run=run, batch_size=args.batch_size or batch_size,
        lr=args.lr or lr, seed=args.seed, resume=args.resume_network_pkl, demo=demo,
        val_every=args.val_every, val_items=args.val_items,
    )


def report(result, what: str) -> str:
    """One line for the terminal after a run."""
    loss = result.mean_loss()
    loss_s = f"{loss:.4f}" if loss is not None else "n/a"
    val = result.extra.get("val_loss")
    val_s = f", validation loss {val:.4f}" if val is not None else ""
    return (f"{what}: {result.global_step} optimizer steps in {result.seconds:.0f} s, mean loss of the last 50 "
            f"micro-batches {loss_s}{val_s}; checkpoint {result.checkpoint}")
