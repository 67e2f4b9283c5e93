"""Subcommands whose implementation has not landed yet: they say what they will do and fail."""

from __future__ import annotations

import argparse
import sys

PLANS = {
    "serve": "run the OSC/MIDI server with a crash-safe job queue (issue: server)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Accept anything, so that trying the command shows the plan instead of a usage error."""
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Exit non-zero: nothing was done, and scripts must not think otherwise."""
    plan = PLANS.get(args._command, "this command")
    print(f"jbdiff {args._command}: not implemented yet; it will {plan}.", file=sys.stderr)
    return 3
