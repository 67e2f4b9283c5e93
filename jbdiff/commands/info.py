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
    parser.add_argument("--model", default=None, help="model to describe (default: the default model, demo)")
    parser.add_argument("--config", default="jbdiff-sample-v1", help="config file or bundled name to describe")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def describe_model(model: str | None) -> dict[str, Any]:
    """Which model sampling would use, why, and whether its weights are here."""
    from jbdiff.model_registry import DEFAULT_MODEL, MODELS

    name = model or DEFAULT_MODEL
    why = "--model given" if model else "the default: no --model given and no published weights needed"
    out: dict[str, Any] = {"model": name, "model_reason": why, "model_description": MODELS.get(name, "a file")}
    if name == "demo":
        from jbdiff.bundle import read_bundle_metadata
        from jbdiff.demo import DEMO_BUNDLE, DEMO_SHA256, MODEL_CARD

        meta = read_bundle_metadata(DEMO_BUNDLE)
        out.update(model_file=str(DEMO_BUNDLE), model_sha256=DEMO_SHA256, model_card=str(MODEL_CARD),
                   model_levels=meta.get("levels"), model_megabytes=round(DEMO_BUNDLE.stat().st_size / 1e6, 2))
    return out


def collect(config: str, device: str, model: str | None = None) -> dict[str, Any]:
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
        "model_config": to_dict(cfg.model),
        "sampling_config": to_dict(cfg.sampling) if cfg.sampling else None,
    }
    out.update(describe_model(model))
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
    info = collect(args.config, args.device, args.model)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    width = 18
    for key in ("jbdiff", "python", "platform", "torch", "numpy", "soundfile", "libsndfile", "soxr",
                "device", "model", "model_reason", "config", "config_dir", "checkpoint_cache"):
        print(f"{key:<{width}} {info[key]}")
    print("checkpoints:")
    for name, row in info["checkpoints"].items():
        print(f"  {name:<{width}} {row['status']:<9} {row['size']}")
    print("get missing ones with: jbdiff download (see jbdiff download --list)")
    return 0
