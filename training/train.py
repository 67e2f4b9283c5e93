"""``python -m training.train``: the same command as ``jbdiff train`` (the seed ran ``python train.py``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jbdiff.cli import main as jbdiff_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run `jbdiff train` with these arguments (default: the process's own)."""
    return jbdiff_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
