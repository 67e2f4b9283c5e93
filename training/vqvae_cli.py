"""``jbdiff train-vqvae``: train a VQ-VAE of your own shape (``model.vqvae`` of a config) on your music.

The result loads with ``jbdiff.vqvae.checkpoint.load_vqvae_weights`` and is what
``jbdiff train --vqvae FILE`` takes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from jbdiff.commands.args import bool_flag
from training.cli_common import _existing_path, add_common_arguments, report, settings_from_args
from training.settings import is_subprocess_rank

if TYPE_CHECKING:
    from training.runner import FitResult

EXAMPLES = """examples:
  # a small VQ-VAE (preset custom, shape from the config) on your library, for 20k steps
  jbdiff train-vqvae --config configs/demo.yaml --train-data ./wavs --ckpt-save-location ./vq --max-steps 20000

  # fine-tune OpenAI's Jukebox VQ-VAE on your music
  jbdiff train-vqvae --config jbdiff-v1 --init-from vqvae.pth.tar --train-data ./wavs --ckpt-save-location ./vq
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `jbdiff train-vqvae`."""
    p.epilog = EXAMPLES
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_common_arguments(p, config_default="jbdiff-v1")
    g = p.add_argument_group("VQ-VAE")
    g.add_argument("--sample-length", type=int, default=65536,
                   help="training chunk in samples (a multiple of the largest hop, 128)")
    g.add_argument("--init-from", type=_existing_path, metavar="FILE",
                   help="fine-tune these weights (OpenAI's vqvae.pth.tar, a level or train-vqvae checkpoint)")
    bool_flag(g, "--cache-audio", False, "keep the training audio in device memory")


def settings_from(args: argparse.Namespace):
    s = settings_from_args(args, "vqvae", batch_size=16, lr=3e-4, accumulate=1)
    s.sample_length = args.sample_length
    s.vqvae_path = Path(args.init_from) if args.init_from else None
    s.cache_audio = args.cache_audio
    return s


def train(args: argparse.Namespace) -> FitResult:
    from training.stages import train_vqvae

    return train_vqvae(settings_from(args))


def run(args: argparse.Namespace) -> int:
    """Entry point of `jbdiff train-vqvae`."""
    result = train(args)
    if not is_subprocess_rank() and result.rank == 0:
        print(report(result, "vqvae"))
    return 0
