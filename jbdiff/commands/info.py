"""``jbdiff info``: what is installed, what will run where, and which weights are present."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

from jbdiff import __version__
from jbdiff.config import CONFIG_DIR, load_config, to_dict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``jbdiff info``."""
    parser.add_argument("--config", default="jbdiff-sample-v1", help="config file or bundled name to describe")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def collect(config: str, device: str) -> dict[str, Any]:
    """Everything ``info`` reports, as plain data (also used by the server's /jbdiff/status)."""
    import numpy
    import soundfile
    import soxr
    import torch

    from jbdiff.device import describe_device, pick_device

    dev = pick_device(device)
    cfg = load_config(config)
    out: dict[str, Any] = {
        "jbdiff": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "soundfile": soundfile.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
        "soxr": soxr.__version__,
        "device": describe_device(dev),
        "cuda_available": torch.cuda.is_available(),
        "config": cfg.source,
        "config_dir": str(CONFIG_DIR),
        "model": to_dict(cfg.model),
        "sampling": to_dict(cfg.sampling) if cfg.sampling else None,
    }
    out.update(_checkpoints())
    return out


def _checkpoints() -> dict[str, Any]:
    """Cache location and the status of each published checkpoint (no hashing: sidecars only)."""
    from jbdiff.store import cache_dir, store_rows

    return {
        "checkpoint_cache": str(cache_dir()),
        "checkpoints": {r.name: {"status": r.status, "size": r.size, "path": str(r.path)} for r in store_rows()},
    }


def run(args: argparse.Namespace) -> int:
    """Print the report."""
    info = collect(args.config, args.device)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    width = 18
    for key in ("jbdiff", "python", "platform", "torch", "numpy", "soundfile", "libsndfile", "soxr",
                "device", "config", "config_dir", "checkpoint_cache"):
        print(f"{key:<{width}} {info[key]}")
    print("checkpoints:")
    for name, row in info["checkpoints"].items():
        print(f"  {name:<{width}} {row['status']:<9} {row['size']}")
    print("get missing ones with: jbdiff download (see jbdiff download --list)")
    return 0
