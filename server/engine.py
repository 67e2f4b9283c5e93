"""Engines: the object a worker calls ``generate(request, progress=, cancel=)`` on, loaded once.

The server never touches tensors; an engine is the jbdiff Pipeline (or, for tests and
experiments, anything with the same ``generate`` signature made by ``engine_factory``).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import logging
from typing import Any, Protocol

from jbdiff.errors import CheckpointError, ConfigError, JbdiffError
from server.config import ServerConfig

logger = logging.getLogger(__name__)

DOWNLOAD_HINT = ("the server keeps running without a model; get all the published weights with "
                 "`jbdiff download jbdiff-v1` (see `jbdiff download --list`) and restart it, or try everything "
                 "now with `jbdiff serve --tiny` (tiny random-weight models)")


class Engine(Protocol):
    """What a worker needs from a model: one blocking call per job."""

    def generate(self, request: Any, *, progress: Any = None, cancel: Any = None) -> Any: ...


class EngineState(enum.StrEnum):
    """Where a worker's model stands (reported by /jbdiff/status)."""

    LOADING = "loading"
    READY = "ready"
    MISSING = "missing"      # checkpoints not present: run `jbdiff download`
    ERROR = "error"          # failed to load for another reason (see the log)


def resolve_workers(entries: list[str]) -> list[str]:
    """``[auto]`` -> one worker per visible CUDA GPU (else one on the best device); else as listed."""
    if entries == ["auto"]:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i}" for i in range(count)] if count > 1 else ["auto"]
    return list(entries)


def load_engine(cfg: ServerConfig, device: str) -> Engine:
    """Build the engine for one worker; raises CheckpointError when weights are missing."""
    if cfg.engine_factory:
        module_name, _, attr = cfg.engine_factory.partition(":")
        if not module_name or not attr:
            raise ConfigError(f"engine_factory: {cfg.engine_factory!r} must look like 'package.module:function'")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory(device=device, model=cfg.model)
    from jbdiff.model_registry import load_pipeline

    return load_pipeline(cfg.model, device=device)


def supports_live(engine: Any) -> bool:
    """Whether ``engine.generate`` takes ``live=`` (values it re-reads while rendering)."""
    try:
        return "live" in inspect.signature(engine.generate).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def describe_load_error(exc: BaseException) -> tuple[EngineState, str]:
    """A state and a one-line message for a failed load (the hint when weights are missing)."""
    if isinstance(exc, CheckpointError):
        return EngineState.MISSING, f"model checkpoints are missing: {exc}; {DOWNLOAD_HINT}"
    if isinstance(exc, JbdiffError):
        return EngineState.ERROR, f"model failed to load: {exc}"
    return EngineState.ERROR, f"model failed to load: {type(exc).__name__}: {exc}"
