"""Reading and writing Jukebox Diffusion level checkpoints (the seed's Lightning layout).

A level checkpoint's `state_dict` holds the one U-Net module under three names (the fork's
DiffusionModel keeps it as `.net`, `.diffusion.net` and `.sampler.net`) plus the Jukebox VQ-VAE
under `vqvae.*`. Inside the U-Net, the time MLP applies one Linear twice, so that Linear is
listed under `blocks.1.blocks.0.0.*` and `blocks.1.blocks.1.0.*`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from jbdiff.checkpoint_io import read_checkpoint as read_file
from jbdiff.errors import CheckpointError

log = logging.getLogger(__name__)

#: Prefixes under which the seed's Lightning module stores the same U-Net, in its saving order.
UNET_ALIASES = ("diffusion.net.", "diffusion.diffusion.net.", "diffusion.sampler.net.")
VQVAE_PREFIX = "vqvae."
#: Pairs of U-Net keys that name one tensor (the twice-applied time-MLP Linear).
TIED_KEYS = (
    ("blocks.1.blocks.0.0.weight", "blocks.1.blocks.1.0.weight"),
    ("blocks.1.blocks.0.0.bias", "blocks.1.blocks.1.0.bias"),
)
_SHOW = 5

StateDict = dict[str, Tensor]


def _listing(title: str, names: list[str]) -> str:
    more = f" (+{len(names) - _SHOW} more)" if len(names) > _SHOW else ""
    return f"{title} [{len(names)}]: {', '.join(names[:_SHOW])}{more}"


def _same(a: Tensor, b: Tensor) -> bool:
    if a is b or a.is_meta or b.is_meta:
        return a.shape == b.shape
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def _state_of(checkpoint: Mapping[str, Any]) -> Mapping[str, Tensor]:
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointError("checkpoint 'state_dict' is not a mapping of tensor names to tensors")
    return state


def _check_tied(unet: Mapping[str, Tensor], where: str) -> None:
    for a, b in TIED_KEYS:
        if a in unet and b in unet and not _same(unet[a], unet[b]):
            raise CheckpointError(
                f"{where}{a} and {where}{b} must hold the same tensor (one Linear applied twice); "
                "they differ"
            )


def split_level_checkpoint(checkpoint: Mapping[str, Any]) -> tuple[StateDict, StateDict]:
    """Split a level checkpoint into (U-Net state, VQ-VAE state), both without their prefixes.

    Accepts the Lightning dict (tensors under 'state_dict') or that state_dict itself. Every
    U-Net alias present must hold the same names and values; it is returned once.
    """
    state = _state_of(checkpoint)
    groups: dict[str, StateDict] = {}
    vqvae: StateDict = {}
    unknown: list[str] = []
    for key, value in state.items():
        alias = next((a for a in UNET_ALIASES if key.startswith(a)), None)
        if alias is not None:
            groups.setdefault(alias, {})[key[len(alias) :]] = value
        elif key.startswith(VQVAE_PREFIX):
            vqvae[key[len(VQVAE_PREFIX) :]] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(
            _listing("level checkpoint holds tensors outside diffusion.*net.* and vqvae.*", unknown)
        )
    if not groups:
        raise CheckpointError(
            f"level checkpoint holds no U-Net tensors (expected keys under {', '.join(UNET_ALIASES)})"
        )
    first_alias, unet = next(iter(groups.items()))
    for alias, other in groups.items():
        if alias == first_alias:
            continue
        only_first = sorted(set(unet) - set(other))
        only_other = sorted(set(other) - set(unet))
        differ = [k for k in unet if k in other and not _same(unet[k], other[k])]
        if only_first or only_other or differ:
            parts = [
                _listing(f"only under {first_alias}", only_first) if only_first else "",
                _listing(f"only under {alias}", only_other) if only_other else "",
                _listing("different values", differ) if differ else "",
            ]
            raise CheckpointError(
                f"U-Net copies {first_alias}* and {alias}* disagree; "
                + "; ".join(p for p in parts if p)
            )
    _check_tied(unet, first_alias)
    return unet, vqvae


def check_state_matches(model: nn.Module, state: Mapping[str, Tensor], what: str = "U-Net") -> None:
    """Raise CheckpointError listing missing, unexpected and mis-shaped tensors, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or misshaped:
        parts = [
            _listing("missing", missing) if missing else "",
            _listing("unexpected", unexpected) if unexpected else "",
            _listing("wrong shape (checkpoint != model)", misshaped) if misshaped else "",
        ]
        raise CheckpointError(
            f"checkpoint does not match this {what}: " + "; ".join(p for p in parts if p)
        )


def read_checkpoint(
    path: str | os.PathLike[str], *, allow_pickle: bool = False
) -> Mapping[str, Any]:
    """Load a level checkpoint (.ckpt/.pt tensors only unless allow_pickle, or .safetensors)."""
    return read_file(path, what="level checkpoint", allow_pickle=allow_pickle)


def load_level_unet(
    model: nn.Module,
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    allow_pickle: bool = False,
) -> StateDict:
    """Load U-Net weights strictly from a level checkpoint (path or dict); return its VQ-VAE state.

    `source` may be a Lightning level checkpoint, its state_dict, or a bare U-Net state_dict.
    Any missing, unexpected or mis-shaped tensor raises CheckpointError naming the first few.
    """
    checkpoint = (
        source
        if isinstance(source, Mapping)
        else read_checkpoint(source, allow_pickle=allow_pickle)
    )
    state = _state_of(checkpoint)
    if any(k.startswith(UNET_ALIASES) or k.startswith(VQVAE_PREFIX) for k in state):
        unet, vqvae = split_level_checkpoint(checkpoint)
    else:
        unet, vqvae = dict(state), {}
        _check_tied(unet, "")
    check_state_matches(model, unet)
    model.load_state_dict(unet, strict=True)
    log.info("loaded %d U-Net tensors (%d VQ-VAE tensors returned)", len(unet), len(vqvae))
    return vqvae


def level_state_dict_for_save(unet: nn.Module, vqvae_state: Mapping[str, Tensor]) -> StateDict:
    """The seed's level-checkpoint state_dict: the U-Net under all three aliases, then vqvae.*.

    The aliases share tensors, so torch.save stores each U-Net tensor once.
    """
    unet_state = unet.state_dict()
    out: StateDict = {}
    for alias in UNET_ALIASES:
        out.update({alias + k: v for k, v in unet_state.items()})
    out.update({VQVAE_PREFIX + k: v for k, v in vqvae_state.items()})
    return out
