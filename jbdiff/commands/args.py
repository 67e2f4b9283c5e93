"""Argument types shared by subcommands, so flags parse the same everywhere."""

from __future__ import annotations

import argparse

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


def str2bool(value: str | bool) -> bool:
    """Parse true/false/yes/no/1/0 (the seed's ``type=bool`` made every string True)."""
    if isinstance(value, bool):
        return value
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false, yes/no, 1/0), got {value!r}")


def bool_flag(parser: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    """``--flag`` alone means true; ``--flag false`` also works, as in the seed's CLI."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default, metavar="BOOL", help=help)
