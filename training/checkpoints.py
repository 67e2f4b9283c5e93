"""Training checkpoints: what they hold besides Lightning's state, how to find and read them.

Every checkpoint written by ``jbdiff train`` / ``train-vqvae`` is a Lightning checkpoint whose
``state_dict`` has the layout the sampler (and the seed) reads, plus two entries of our own:

- ``jbdiff``: a small description (kind, level, model config, format) so a file says what it is;
- ``jbdiff_train``: state that is not part of that layout but needed for an exact resume
  (the non-EMA weights, counters, codebook EMA accumulators).

All of it is tensors and plain Python data, so ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jbdiff import __version__
from jbdiff.config import ModelConfig, parse_model, to_dict
from jbdiff.errors import CheckpointError

log = logging.getLogger(__name__)

FORMAT = 1
KINDS = ("level", "dd", "vqvae")
_STEP_RE = re.compile(r"step(\d+)\.ckpt$")


def checkpoint_name(prefix: str, step: int) -> str:
    """``<prefix>-step<8 digits>.ckpt`` (plain characters, so files travel through any copy tool)."""
    return f"{prefix}-step{step:08d}.ckpt"


def describe(kind: str, model_cfg: ModelConfig, **extra: Any) -> dict[str, Any]:
    """The ``jbdiff`` entry of a checkpoint."""
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    return {"format": FORMAT, "kind": kind, "jbdiff_version": __version__,
            "model_config": to_dict(model_cfg), **extra}


def read(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU without running code from it (weights_only)."""
    from jbdiff.vqvae.checkpoint import read_checkpoint

    obj = read_checkpoint(Path(path))
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: not a checkpoint dictionary")
    return dict(obj)


def info(checkpoint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``jbdiff`` entry, or None for a file not written by this trainer (seed, OpenAI, ...)."""
    meta = checkpoint.get("jbdiff")
    return dict(meta) if isinstance(meta, Mapping) else None


def model_config_of(checkpoint: Mapping[str, Any]) -> ModelConfig | None:
    """The model config stored in a checkpoint, if any."""
    meta = info(checkpoint)
    if meta is None or "model_config" not in meta:
        return None
    return parse_model(meta["model_config"], "checkpoint jbdiff.model_config")


def check_kind(checkpoint: Mapping[str, Any], path: Path, kind: str, level: int | None = None) -> bool:
    """True if the file is our own checkpoint of this kind (and level); raise if it is ours but another."""
    meta = info(checkpoint)
    if meta is None:
        return False
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path} is a jbdiff '{meta.get('kind')}' checkpoint, not a '{kind}' one")
    if level is not None and meta.get("level") != level:
        raise CheckpointError(f"{path} is a level-{meta.get('level')} checkpoint; this run trains level {level}")
    return True


def resumable(checkpoint: Mapping[str, Any]) -> bool:
    """Whether the file holds the full training state (optimizer, loops), not only weights."""
    return info(checkpoint) is not None and "optimizer_states" in checkpoint and "loops" in checkpoint


def latest(path: str | Path) -> Path:
    """A checkpoint file itself, or the highest-step ``*step<N>.ckpt`` in a folder."""
    p = Path(path)
    if p.is_file():
        return p
    if not p.is_dir():
        raise CheckpointError(f"checkpoint {p} does not exist")
    found = [(int(m.group(1)), f) for f in p.glob("*.ckpt") if (m := _STEP_RE.search(f.name))]
    if not found:
        raise CheckpointError(f"no '*-step<N>.ckpt' checkpoint in folder {p}")
    return max(found)[1]
