"""The model for the next jobs: chosen over OSC, checked at the edge, kept in ``<data_dir>/model.json``.

Each job records the selection it was submitted under (the journal's ``model`` column), so
changing it never touches queued jobs. The file keeps the choice across restarts, together
with the configured model it was made against: once the configured model changes (config file
or ``--model``), that new choice wins and the old selection is dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from jbdiff.atomic import write_json_atomic
from jbdiff.errors import JbdiffError
from jbdiff.model_registry import BUNDLE_SUFFIX, CONFIG_SUFFIXES, MODELS, is_model_file
from server.config import ServerConfig
from server.errors import BadPath, BadRequest
from server.paths import resolve_in_roots

logger = logging.getLogger(__name__)

DEFAULT = "default"          # /jbdiff/model/set default: back to the configured model
MAX_MODEL_CHARS = 4096


class ModelSelection:
    """Thread-safe current selection (OSC sets it; OSC, MIDI and the hot folder submit under it)."""

    def __init__(self, cfg: ServerConfig, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.configured = cfg.model
        self.path = cfg.model_selection_path
        self.models_dir = cfg.models_dir
        self.roots = [cfg.models_dir, *cfg.roots]     # relative file names resolve in models_dir first
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._model = self._restore()
        self.changed_at = monotonic()              # a load failure from before this is not held against it

    def get(self) -> str:
        with self._lock:
            return self._model

    def set(self, raw: Any) -> str:
        """Check ``raw``, then make it the selection and save it; returns the model as stored."""
        model = self.check(raw)
        with self._lock:
            write_json_atomic(self.path, {"model": model, "configured": self.configured})
            self._model = model
            self.changed_at = self._monotonic()
        logger.info("model for the next jobs: %s", model)
        return model

    def check(self, raw: Any) -> str:
        """A registry name, ``default``, the configured model, or a bundle/config file inside the roots."""
        if not isinstance(raw, str) or not raw or len(raw) > MAX_MODEL_CHARS or "\x00" in raw:
            raise BadRequest(f"model: {raw!r} is not a model name ({self.allowed()})")
        if raw == DEFAULT:
            return self.configured
        if raw in MODELS or raw == self.configured:
            return raw
        if not is_model_file(raw):
            raise BadRequest(f"model: {raw!r} is not a known model ({self.allowed()})")
        try:
            path = resolve_in_roots(raw, self.roots, "model", expected="a model file")
        except BadPath as exc:
            raise BadPath(f"{exc}; {self.allowed()}") from None
        if not is_model_file(str(path)):
            raise BadPath(f"model: {raw!r} resolves to {path}, which is not a {BUNDLE_SUFFIX} bundle or a "
                          f"{'/'.join(CONFIG_SUFFIXES)} config")
        return str(path)

    def allowed(self) -> str:
        folders = ", ".join(str(r) for r in self.roots)
        return (f"allowed: {', '.join(MODELS)}, {DEFAULT} (the configured model, {self.configured}), or a "
                f"{BUNDLE_SUFFIX} bundle or {'/'.join(CONFIG_SUFFIXES)} config inside {folders}")

    def choices(self) -> list[str]:
        """What a menu offers: the registry's names, then the model files in models_dir by file name."""
        files: list[str] = []
        if self.models_dir.is_dir():
            files = sorted(p.name for p in self.models_dir.iterdir() if p.is_file() and is_model_file(p.name))
        return [*MODELS, *files]

    def _restore(self) -> str:
        """The saved selection, if it was made against today's configured model and is still usable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self.configured
        except (OSError, ValueError) as exc:
            logger.warning("model: cannot read %s (%s); using the configured model %s", self.path, exc,
                           self.configured)
            return self.configured
        if not isinstance(data, dict) or data.get("configured") != self.configured:
            logger.info("model: the configured model is %s now; the selection saved in %s is dropped",
                        self.configured, self.path)
            with contextlib.suppress(OSError):
                self.path.unlink()
            return self.configured
        try:
            model = self.check(data.get("model"))
        except JbdiffError as exc:
            logger.warning("model: the saved selection is not usable any more (%s); using %s", exc, self.configured)
            return self.configured
        if model != self.configured:
            logger.info("model: %s, as selected before the restart (configured: %s)", model, self.configured)
        return model
