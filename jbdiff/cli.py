"""The ``jbdiff`` command: one parser, subcommands looked up by name from a table.

This module is the composition root: the only place in ``jbdiff`` that names ``server`` and
``training`` modules, and only as strings, imported when their subcommand is parsed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from jbdiff import __version__
from jbdiff.errors import ConfigError, JbdiffError

logger = logging.getLogger("jbdiff")


@dataclass(frozen=True)
class Command:
    """A subcommand: its module exposes ``add_arguments(parser)`` and ``run(args) -> int``."""

    name: str
    module: str
    help: str
    description: str = ""


COMMANDS: tuple[Command, ...] = (
    Command("sample", "jbdiff.commands.sample", "generate audio from the command line",
            "Generate music with Jukebox Diffusion: levels 2-1-0 and the Dance Diffusion stereo stage."),
    Command("serve", "server.cli", "run the OSC/MIDI server for the DAW",
            "Long-running server: OSC and MIDI in, a crash-safe job queue, stereo WAVs out."),
    Command("train", "training.cli", "train a level model (or the stereo stage) on your own music",
            "Train a Jukebox Diffusion level U-Net (2, 1 or 0), or with --stage dd the Dance Diffusion "
            "stereo stage, on a folder of audio files."),
    Command("train-vqvae", "training.vqvae_cli", "train a VQ-VAE of your own",
            "Train a VQ-VAE (codebook EMA, dead-code restarts, spectral losses) on your own music."),
    Command("download", "jbdiff.store.cli", "fetch published checkpoints into the cache",
            "Download and verify the published Jukebox Diffusion and Jukebox VQ-VAE checkpoints."),
    Command("data", "training.data.cli", "build the demo training set from free music",
            "Build the demo model's training data from free music that Debian ships."),
    Command("info", "jbdiff.commands.info", "versions, device, config and checkpoints",
            "Print versions, the compute device, the config in use and which checkpoints are present."),
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser; every subcommand's own flags come from its module."""
    parser = argparse.ArgumentParser(
        prog="jbdiff",
        description="Jukebox Diffusion for musicians: sample, serve to your DAW, train.",
    )
    parser.add_argument("--version", action="version", version=f"jbdiff {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for cmd in COMMANDS:
        p = sub.add_parser(
            cmd.name, help=cmd.help, description=cmd.description or cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module = importlib.import_module(cmd.module)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _command=cmd.name)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    """Log to stderr; the level follows -v/-q."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    try:
        return int(args._run(args) or 0)
    except ConfigError as exc:
        print(f"jbdiff {args._command}: error: {exc}", file=sys.stderr)
        return 2
    except JbdiffError as exc:
        print(f"jbdiff {args._command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"jbdiff {args._command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
