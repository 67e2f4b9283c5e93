"""Read checkpoint files safely: one reader for every network's loader.

``.safetensors`` files hold tensors only. Torch pickles (``.ckpt``, ``.pt``, ``.pth.tar``) are
read with ``weights_only=True``, allowing numpy's scalar and dtype constructors (OpenAI's VQ-VAE
file pickles numpy hyper-parameters), so a file can never run code while loading unless the
caller passes ``allow_pickle=True`` for a file it trusts.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from jbdiff.errors import CheckpointError


def _numpy_safe_globals() -> list:
    """numpy's pickle constructors for scalars/dtypes, under both numpy 1 and 2 names."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    scalar = core.multiarray.scalar
    entries: list = [np.dtype, scalar, (scalar, "numpy.core.multiarray.scalar"),
                     (scalar, "numpy._core.multiarray.scalar")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        entries += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return entries


def read_checkpoint(path: str | os.PathLike[str], *, what: str = "checkpoint",
                    allow_pickle: bool = False) -> Mapping[str, Any]:
    """Load a checkpoint file on the CPU (memory-mapped where the format allows)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a bad file
            raise CheckpointError(f"cannot read {what} {path}: {exc}") from exc
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            try:
                return torch.load(path, map_location="cpu", weights_only=not allow_pickle, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
                # Legacy (non-zip) torch.save files cannot be memory-mapped.
                return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds Python objects besides tensors and plain data, so it was not loaded "
            f"(weights only); re-save its state dict, or pass allow_pickle=True for a file you trust ({exc})"
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"cannot read {what} {path}: {exc}") from exc
