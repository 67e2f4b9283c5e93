"""Load VQ-VAE weights from OpenAI's file, a Jukebox Diffusion (Lightning) checkpoint or a state dict.

Files are read with torch.load(weights_only=True): no code in a checkpoint runs. OpenAI's
checkpoints also store their hyper-parameters, which may hold numpy scalars, so numpy's
scalar/dtype constructors (plain data) are allow-listed for that load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import torch
from torch import nn

from jbdiff.checkpoint_io import read_checkpoint as read_file
from jbdiff.errors import CheckpointError

log = logging.getLogger(__name__)

SHOW = 10  # how many names of each kind a mismatch error lists
LIGHTNING_PREFIX = "vqvae."
DDP_PREFIX = "module."


def read_checkpoint(path: str | os.PathLike) -> Mapping:
    """Read a VQ-VAE file (OpenAI's, a Lightning checkpoint, safetensors) into a dict."""
    return read_file(path, what="VQ-VAE checkpoint")


def extract_vqvae_state_dict(obj: Mapping) -> dict[str, torch.Tensor]:
    """Find the VQ-VAE tensors in an OpenAI, Lightning or plain state dict."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint must be a dict; got {type(obj).__name__}")
    if isinstance(obj.get("model"), Mapping):  # OpenAI: {'hps', 'model', 'opt', 'step', ...}
        sd = dict(obj["model"])
    elif isinstance(obj.get("state_dict"), Mapping):  # Lightning: module keys under 'state_dict'
        full = obj["state_dict"]
        sd = {k[len(LIGHTNING_PREFIX):]: v for k, v in full.items() if k.startswith(LIGHTNING_PREFIX)}
        if not sd:
            raise CheckpointError(
                f"Lightning checkpoint has no '{LIGHTNING_PREFIX}*' tensors; "
                f"first keys: {list(full)[:SHOW]}"
            )
    else:
        sd = dict(obj)
    sd = {k[len(DDP_PREFIX):] if k.startswith(DDP_PREFIX) else k: v for k, v in sd.items()}
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"VQ-VAE state dict has non-tensor entries: {bad[:SHOW]}")
    return sd


def _describe(names: list[str], shapes: Mapping[str, torch.Size] | None = None) -> str:
    shown = [f"{n} {tuple(shapes[n])}" if shapes is not None else n for n in names[:SHOW]]
    more = f" (+{len(names) - SHOW} more)" if len(names) > SHOW else ""
    return ", ".join(shown) + more


def check_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor]) -> None:
    """Raise CheckpointError listing missing, unexpected and mis-shaped tensors, if any."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    misshaped = [k for k in own if k in sd and sd[k].shape != own[k].shape]
    if not (missing or unexpected or misshaped):
        return
    parts = [f"VQ-VAE checkpoint does not match the network ({len(own)} tensors expected, "
             f"{len(sd)} given)"]
    if missing:
        parts.append(f"missing {len(missing)}: {_describe(missing, {k: own[k].shape for k in missing})}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)}: {_describe(unexpected, {k: sd[k].shape for k in unexpected})}")
    if misshaped:
        parts.append("mis-shaped {}: {}".format(len(misshaped), ", ".join(
            f"{k} file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}" for k in misshaped[:SHOW]
        ) + (f" (+{len(misshaped) - SHOW} more)" if len(misshaped) > SHOW else "")))
    raise CheckpointError("; ".join(parts))


def load_vqvae_weights(model: nn.Module, source: str | os.PathLike | Mapping) -> nn.Module:
    """Load weights into `model` from a path or dict; all tensors must match, else CheckpointError.

    Accepted: OpenAI's `vqvae.pth.tar` ({'model': state_dict, ...}, fp16 tensors upcast), a
    Lightning checkpoint ({'state_dict': {'vqvae.*': ...}}, other keys ignored), a plain state
    dict, or a .safetensors file of one.
    """
    obj = read_checkpoint(source) if isinstance(source, str | os.PathLike) else source
    sd = extract_vqvae_state_dict(obj)
    check_state_dict(model, sd)
    own = model.state_dict()
    cast = {k: v.to(dtype=own[k].dtype) if v.is_floating_point() else v for k, v in sd.items()}
    model.load_state_dict(cast, strict=True)
    log.info("loaded %d VQ-VAE tensors", len(cast))
    return model
