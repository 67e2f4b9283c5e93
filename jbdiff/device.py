"""Pick the torch device once, at the edge, with an error that says what is missing."""

from __future__ import annotations

import torch

from jbdiff.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(requested: str | None = "auto") -> torch.device:
    """``auto`` prefers CUDA, then Apple MPS, then CPU; an explicit accelerator must exist."""
    req = (requested or "auto").lower()
    kind = req.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise ConfigError(f"device: {requested!r} is not allowed (allowed: auto, cpu, cuda, cuda:N, mps)")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {requested!r} requested but CUDA is not available on this machine")
        dev = torch.device(req)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device: {requested!r} out of range (this machine has {torch.cuda.device_count()} CUDA devices)"
            )
        return dev
    if kind == "mps" and not _mps_available():
        raise ConfigError("device: 'mps' requested but Apple MPS is not available on this machine")
    return torch.device(req)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def describe_device(device: torch.device) -> str:
    """Human-readable name for logs and ``jbdiff info``."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return f"cuda:{idx} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
