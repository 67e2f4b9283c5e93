"""Which worker failed to load which model: so a job goes to a worker that can load its model.

With several workers, one may fail a model that another loads (out of memory on its card, a
device it cannot use). A job for that model that lands on the failing worker is handed back to
the queue rather than failed while another live worker has not failed the model lately, and the
failing worker stops claiming that model's jobs for ``retry_after_s`` (or until it loads the model
after all). Once every live worker has failed it, nobody skips it: its jobs are claimed and fail
with the load error, as with one worker, so no job waits forever.

One :class:`LoadFailures` lives on the :class:`server.queue.JobQueue` that all workers share;
worker processes get their skip sets pushed over their command pipe (``skip``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 60.0      # a worker that failed a model tries it again after this long (the cause may pass)

Listener = Callable[[], None]


class LoadFailures:
    """Recent load failures per (worker, model) and which workers are live; thread-safe."""

    def __init__(self, *, retry_after_s: float = RETRY_AFTER_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.retry_after_s = retry_after_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failed: dict[str, dict[str, float]] = {}     # worker -> model -> when it last failed
        self._live: set[str] = set()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener()`` after every change (a skip set may have changed); returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ what workers report

    def set_live(self, worker: str, live: bool) -> None:
        """``worker`` takes jobs now (a thread that started, a process that runs) or no more."""
        with self._lock:
            if live:
                self._live.add(worker)
            else:
                self._live.discard(worker)
        self._changed()

    def failed(self, worker: str, model: str) -> None:
        """``worker`` could not load ``model`` just now."""
        with self._lock:
            self._failed.setdefault(worker, {})[model] = self._monotonic()
        self._changed()

    def loaded(self, worker: str, model: str) -> None:
        """``worker`` loaded ``model``: whatever it failed before no longer counts."""
        with self._lock:
            if self._failed.get(worker, {}).pop(model, None) is None:
                return
        self._changed()

    # ------------------------------------------------------------------ what claims and outcomes ask

    def others_can_try(self, worker: str, model: str) -> bool:
        """Whether a live worker other than ``worker`` has not failed ``model`` lately (hand the job back)."""
        with self._lock:
            return self._others_free(worker, model, self._monotonic())

    def skipped(self, worker: str) -> dict[str, float]:
        """The models ``worker`` should not claim now, each with the seconds until it may try again."""
        with self._lock:
            now = self._monotonic()
            out: dict[str, float] = {}
            for model, at in self._failed.get(worker, {}).items():
                left = at + self.retry_after_s - now
                if left > 0 and self._others_free(worker, model, now):
                    out[model] = left
            return out

    def _others_free(self, worker: str, model: str, now: float) -> bool:
        return any(not self._recent(other, model, now) for other in self._live if other != worker)

    def _recent(self, worker: str, model: str, now: float) -> bool:
        at = self._failed.get(worker, {}).get(model)
        return at is not None and now - at < self.retry_after_s

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                logger.exception("load-failure listener failed")
