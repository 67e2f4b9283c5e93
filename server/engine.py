"""Engines: the object a worker calls ``generate(request, progress=, cancel=)`` on, one model at a time.

The server never touches tensors; an engine is the jbdiff Pipeline (or, for tests and
experiments, anything with the same ``generate`` signature made by ``engine_factory``).
:class:`EngineSlot` holds a worker's one engine and swaps it when a job asks for another model.
"""

from __future__ import annotations

import enum
import gc
import importlib
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from jbdiff.errors import CheckpointError, ConfigError, JbdiffError
from server.config import ServerConfig

logger = logging.getLogger(__name__)

DOWNLOAD_HINT = ("the server keeps running; get all the published weights with `jbdiff download jbdiff-v1` "
                 "(see `jbdiff download --list`) and select the model again, or choose another one "
                 "(/jbdiff/model/set demo), or try everything with `jbdiff serve --tiny` (tiny random-weight models)")


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


def load_engine(cfg: ServerConfig, device: str, model: str | None = None) -> Engine:
    """Build the engine for one worker (``model``, else the configured one); CheckpointError: weights missing."""
    model = model or cfg.model
    if cfg.engine_factory:
        module_name, _, attr = cfg.engine_factory.partition(":")
        if not module_name or not attr:
            raise ConfigError(f"engine_factory: {cfg.engine_factory!r} must look like 'package.module:function'")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory(device=device, model=model)
    from jbdiff.model_registry import load_pipeline

    pipe = load_pipeline(model, device=device)
    return with_compile(pipe, cfg.compile)


def with_compile(pipe: Engine, mode: str) -> Engine:
    """Turn on torch.compile (config ``compile``) for a pipeline on the CUDA fast path; the plain
    path (JBDIFF_PLAIN=1) and CPU workers stay as they are, and "off" leaves JBDIFF_COMPILE's choice."""
    options = getattr(pipe, "options", None)
    device = getattr(pipe, "device", None)
    if mode == "off" or options is None or device is None or device.type != "cuda" or not options.fast:
        return pipe
    import dataclasses

    pipe.options = dataclasses.replace(options, compile=mode)
    return pipe


def call_loader(load: Callable[..., Engine], device: str, model: str) -> Engine:
    """``load(device, model=model)``; a loader that takes no ``model`` (a fixed engine) gets the device only."""
    try:
        params = inspect.signature(load).parameters
    except (TypeError, ValueError):
        return load(device, model=model)
    takes_model = "model" in params or any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())
    return load(device, model=model) if takes_model else load(device)


def supports_live(engine: Any) -> bool:
    """Whether ``engine.generate`` takes ``live=`` (values it re-reads while rendering)."""
    try:
        return "live" in inspect.signature(engine.generate).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def release_memory() -> None:
    """Hand cached GPU memory back (after an out-of-memory error, or once an engine is dropped)."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort only
        logger.debug("could not empty the CUDA cache", exc_info=True)


def describe_load_error(exc: BaseException) -> tuple[EngineState, str]:
    """A state and a one-line message for a failed load (the hint when weights are missing)."""
    if isinstance(exc, CheckpointError):
        return EngineState.MISSING, f"model checkpoints are missing: {exc}; {DOWNLOAD_HINT}"
    if isinstance(exc, JbdiffError):
        return EngineState.ERROR, f"model failed to load: {exc}"
    return EngineState.ERROR, f"model failed to load: {type(exc).__name__}: {exc}"


class EngineSlot:
    """One worker's engine: at most one model loaded; a job for another model unloads it, then loads that.

    ``on_change(slot)`` runs at each change of ``state`` (loading, ready, missing, error), so a
    thread worker can copy it for /jbdiff/status and a worker process can send it to the server.
    """

    def __init__(self, load: Callable[[str], Engine], *, where: str = "",
                 on_change: Callable[[EngineSlot], None] | None = None) -> None:
        self._load = load                        # model name -> engine on this worker's device
        self.where = where                       # for log lines: worker and device
        self._on_change = on_change
        self.engine: Engine | None = None
        self.model: str | None = None            # the model loaded now
        self.failed: str | None = None           # the model whose last load failed (None after a success)
        self.live_supported = False
        self.state = EngineState.LOADING
        self.message = "loading the model"

    def ensure(self, model: str) -> Engine | None:
        """The engine for ``model``, loaded now if another (or none) is; None if it cannot load (see message)."""
        if self.engine is not None and self.model == model:
            return self.engine
        self.unload()
        self._set(EngineState.LOADING, f"loading {model}")
        t0 = time.perf_counter()
        try:
            engine = self._load(model)
        except Exception as exc:
            state, message = describe_load_error(exc)
            self.failed = model
            logger.error("%s: model %s: %s", self.where, model, message)
            self._set(state, f"{model}: {message}")
            return None
        self.engine, self.model, self.failed = engine, model, None
        self.live_supported = supports_live(engine)
        logger.info("%s: model %s ready in %.1f s", self.where, model, time.perf_counter() - t0)
        self._set(EngineState.READY, "ready")
        return engine

    def unload(self) -> None:
        """Drop the engine and give its memory back before another one loads (one model per device)."""
        if self.engine is None:
            return
        logger.info("%s: unloading model %s", self.where, self.model)
        self.engine, self.model, self.live_supported = None, None, False
        gc.collect()
        release_memory()

    def _set(self, state: EngineState, message: str) -> None:
        self.state, self.message = state, message
        if state == EngineState.LOADING:
            self.failed = None
        if self._on_change is not None:
            self._on_change(self)
