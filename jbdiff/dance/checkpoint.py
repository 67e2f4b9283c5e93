"""Load sample-generator (Lightning) or plain Dance Diffusion checkpoints into DanceUNet, strictly."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from jbdiff.checkpoint_io import read_checkpoint
from jbdiff.errors import CheckpointError

log = logging.getLogger(__name__)

EMA_PREFIX = "diffusion_ema."
RAW_PREFIX = "diffusion."
_LIST_AT_MOST = 8


def _read(path: Path, allow_pickle: bool) -> Mapping[str, object]:
    return read_checkpoint(path, what="Dance Diffusion checkpoint", allow_pickle=allow_pickle)


def select_weights(
    checkpoint: Mapping[str, object], use_ema: bool = True
) -> dict[str, torch.Tensor]:
    """The U-Net's own state dict out of a training-module file, or the dict itself if already plain.

    A sample-generator checkpoint stores the module under `state_dict` as `diffusion.*` (the
    trained weights) and `diffusion_ema.*` (their moving average, which sampling uses). Any
    other top-level key is reported as unexpected, so a foreign file is not half-loaded.
    """
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"checkpoint 'state_dict' is a {type(state).__name__}, not a mapping")
    keys = [k for k in state if isinstance(k, str)]
    has_ema = any(k.startswith(EMA_PREFIX) for k in keys)
    has_raw = any(k.startswith(RAW_PREFIX) for k in keys)
    if not (has_ema or has_raw):
        return {k: v for k, v in state.items()}
    prefix = EMA_PREFIX if use_ema else RAW_PREFIX
    if not any(k.startswith(prefix) for k in keys):
        other = "use_ema=False" if use_ema else "use_ema=True"
        raise CheckpointError(
            f"checkpoint has no '{prefix}*' tensors; pass {other} to load the other copy"
        )
    foreign = [k for k in keys if not k.startswith((EMA_PREFIX, RAW_PREFIX))]
    if foreign:
        raise CheckpointError(
            f"checkpoint holds {len(foreign)} tensors outside diffusion/diffusion_ema, "
            f"unexpected: {', '.join(foreign[:_LIST_AT_MOST])}"
        )
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def check_state_dict(model: nn.Module, state: Mapping[str, object]) -> None:
    """Raise CheckpointError listing missing, unexpected and mis-shaped tensors (first few of each)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = []
    for k, want in expected.items():
        got = state.get(k)
        if got is None:
            continue
        got_shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        if got_shape != tuple(want.shape):
            misshaped.append(f"{k} {got_shape} != {tuple(want.shape)}")
    problems = []
    for label, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("mis-shaped", misshaped),
    ):
        if items:
            more = f" (+{len(items) - _LIST_AT_MOST} more)" if len(items) > _LIST_AT_MOST else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_LIST_AT_MOST])}{more}")
    if problems:
        raise CheckpointError(
            f"checkpoint does not match {type(model).__name__}: " + "; ".join(problems)
        )


def load_dance_weights(
    model: nn.Module,
    source: str | os.PathLike | Mapping[str, object],
    use_ema: bool = True,
    *,
    allow_pickle: bool = False,
) -> nn.Module:
    """Load a Dance Diffusion checkpoint (path or dict) into `model` strictly; returns the model.

    Accepts sample-generator's Lightning file (EMA copy by default), a plain state dict, or a
    .safetensors file. Files are read with torch.load(weights_only=True) unless `allow_pickle`.
    """
    if isinstance(source, Mapping):
        checkpoint, name = source, "checkpoint dict"
    else:
        path = Path(source)
        checkpoint, name = _read(path, allow_pickle), str(path)
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"{name} holds a {type(checkpoint).__name__}, not a state dict")
    state = select_weights(checkpoint, use_ema=use_ema)
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    log.info("loaded %d Dance Diffusion tensors from %s (ema=%s)", len(state), name, use_ema)
    return model
