"""``jbdiff train``: the seed's train.py flags, plus config, devices, precision and exact resume.

``--stage level`` (default) trains one level's U-Net (``--jb-level 2`` first, then 1, then 0);
``--stage dd`` trains the Dance Diffusion stereo stage of the config's ``model.dd`` shape.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from jbdiff.commands.args import bool_flag
from jbdiff.errors import ConfigError
from training.cli_common import _existing_path, add_common_arguments, report, settings_from_args
from training.settings import is_subprocess_rank

if TYPE_CHECKING:
    from training.runner import FitResult

log = logging.getLogger(__name__)

EXAMPLES = """examples:
  # train the top level on your music library (the seed's first command), with the published VQ-VAE
  jbdiff train --train-data ./wavs --jb-level 2 --ckpt-save-location ./ckpts --vqvae vqvae.pth.tar

  # resume the middle level exactly where it stopped, on two GPUs
  jbdiff train --train-data ./wavs --jb-level 1 --ckpt-save-location ./ckpts --resume-network-pkl ./ckpts \\
      --devices 2

  # a small model of your own: VQ-VAE from `jbdiff train-vqvae`, latents pre-encoded once
  jbdiff train --config configs/demo.yaml --vqvae ./vq/vqvae-step00010000.ckpt --jb-level 2 \\
      --train-data ./wavs --ckpt-save-location ./l2 --cache-latents true

  # the stereo stage (Dance Diffusion)
  jbdiff train --stage dd --config configs/demo.yaml --train-data ./wavs --ckpt-save-location ./dd
"""

STAGE_DEFAULTS = {
    # batch size (None: the config's model.vqvae.batch_size, as the seed), lr, accumulation
    "level": (None, 4e-5, 4),
    "dd": (8, 4e-5, 4),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `jbdiff train` (see docs/training.md)."""
    p.epilog = EXAMPLES
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--stage", default="level", choices=("level", "dd"),
                   help="level: a level U-Net (default); dd: the Dance Diffusion stereo stage")
    p.add_argument("--jb-level", type=int, choices=(0, 1, 2),
                   help="which level to train (start with 2, then 1, then 0); required for --stage level")
    p.add_argument("--vqvae", type=_existing_path, metavar="FILE",
                   help="VQ-VAE weights: OpenAI's vqvae.pth.tar, a jbdiff level checkpoint or a train-vqvae "
                        "checkpoint (not needed when resuming, or with a tiny-preset config)")
    add_common_arguments(p, config_default="jbdiff-v1")
    g = p.add_argument_group("model step")
    g.add_argument("--ema-decay", type=float, default=0.995, help="EMA decay of the exported weights")
    g.add_argument("--embedding-weight", type=float, default=3.66, help="guidance scale of the level demos")
    g.add_argument("--init-weights", type=_existing_path, metavar="FILE",
                   help="start from these weights (level or DD checkpoint) with a fresh optimizer and step 0")
    bool_flag(g, "--cache-latents", False,
              "pre-encode every training file's latents once and train from them on the device (levels)")
    g.add_argument("--cache-shifts", type=int, default=1,
                   help="with --cache-latents: copies of each file shifted by a fraction of a frame")
    bool_flag(g, "--cache-audio", False, "keep the training audio in device memory (--stage dd)")
    g.add_argument("--sample-length", type=int, default=65536,
                   help="--stage dd: training chunk in samples (sample-generator's 65536)")


def settings_from(args: argparse.Namespace):
    """StageSettings of a parsed `jbdiff train` command line."""
    if args.stage == "level" and args.jb_level is None:
        raise ConfigError("--jb-level: required with --stage level (choose 2, then 1, then 0)")
    if args.ema_decay is not None and not 0.0 <= args.ema_decay < 1.0:
        raise ConfigError(f"--ema-decay: {args.ema_decay} must be in [0, 1)")
    if args.cache_shifts < 1:
        raise ConfigError(f"--cache-shifts: {args.cache_shifts} must be >= 1")
    bs, lr, acc = STAGE_DEFAULTS[args.stage]
    s = settings_from_args(args, "dd" if args.stage == "dd" else "level", batch_size=bs or 0, lr=lr, accumulate=acc)
    if bs is None and args.batch_size is None:
        s.batch_size = s.model_cfg.vqvae.batch_size
    s.level = args.jb_level if args.jb_level is not None else 2
    s.vqvae_path = Path(args.vqvae) if args.vqvae else None
    s.ema_decay = args.ema_decay
    s.init_weights = args.init_weights
    s.cache_latents = args.cache_latents
    s.cache_shifts = args.cache_shifts
    s.cache_audio = args.cache_audio
    s.sample_length = args.sample_length
    return s


def train(args: argparse.Namespace) -> FitResult:
    """Run the training the flags describe; returns the run's result (rank 0's losses)."""
    from training.stages import train_dance, train_level

    s = settings_from(args)
    return train_dance(s) if args.stage == "dd" else train_level(s)


def run(args: argparse.Namespace) -> int:
    """Entry point of `jbdiff train`."""
    result = train(args)
    if not is_subprocess_rank() and result.rank == 0:
        what = "dd" if args.stage == "dd" else f"level {args.jb_level}"
        print(report(result, what))
    return 0
