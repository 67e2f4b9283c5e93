"""Inside a worker process: one engine at a time on one device, claiming jobs from the shared journal.

Started by :class:`server.worker_process.ProcessWorker` (``spawn``: a fresh interpreter). It
talks to the server over two one-way pipes: commands in (``wake``, ``cancel``, ``live``,
``interrupt``, ``stop``, ``skip``: the models to leave to other workers, see server.failover) and
events out (``engine``: its model loading, ready or failed to load; ``started``, ``progress``,
``finished``). A job for another model than the loaded one swaps the engine first; a model that
cannot load fails that job (or the server hands it to another worker that may load it), and the
process keeps serving. It claims jobs in the journal itself (atomically, beside the other
workers) but never records how a job ended: the server does that from ``finished`` and then
tells clients, so a result the server never heard of is never reported; if this process dies
first, the job is still ``running`` for this worker and the server re-queues it.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from server.config import ServerConfig
from server.engine import Engine, EngineSlot, call_loader, load_engine
from server.journal import JobRecord, Journal
from server.params import LiveValues
from server.queue import CancelToken
from server.worker import render_with

logger = logging.getLogger(__name__)

EXIT_ORPHANED = 3          # the server went away: exit rather than run jobs nobody will record


@dataclass(frozen=True)
class ChildSpec:
    """What one worker process needs (pickled to the child)."""

    name: str
    device: str
    cfg: ServerConfig
    load: Callable[..., Engine] | None       # None: load_engine(cfg, device, model), as the server would
    threads: int                             # torch CPU threads (the cores are shared between workers)
    parent_pid: int
    model: str = ""                          # loaded before the first job (the selection); "": cfg.model
    log_level: int = logging.INFO
    poll_s: float = 1.0                      # look for queued jobs this often even without a wake


@dataclass
class _Running:
    job: JobRecord
    token: CancelToken
    live: LiveValues


def child_main(spec: ChildSpec, commands: Connection, events: Connection) -> None:
    """Entry point of a worker process."""
    # Ctrl-C in a terminal reaches the whole process group: the server decides how its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=spec.log_level, stream=sys.stderr,
                        format=f"%(levelname)s %(name)s [worker {spec.name} pid %(process)d]: %(message)s")
    _Child(spec, commands, events).run()


def _use_device(device: str) -> None:
    """Make ``device`` this process's current CUDA device before anything touches CUDA."""
    if not device.startswith("cuda"):
        return
    import torch

    dev = torch.device(device)
    # An unusable index is left to load_engine, which says which devices exist.
    if dev.index is not None and torch.cuda.is_available() and dev.index < torch.cuda.device_count():
        torch.cuda.set_device(dev)


def _set_threads(threads: int) -> None:
    torch = sys.modules.get("torch")       # an engine that does not use torch does not need it imported
    if torch is not None:
        torch.set_num_threads(threads)


class _Child:
    """The worker process's state: the main thread renders, a listener thread takes commands."""

    def __init__(self, spec: ChildSpec, commands: Connection, events: Connection) -> None:
        self.spec = spec
        self._commands = commands
        self._events = events
        self._lock = threading.Lock()          # guards _stopping, _loaded, _current and the skip state
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._loaded = False
        self._current: _Running | None = None
        self._skip: dict[str, float] = {}      # model -> monotonic time until which other workers take its jobs
        self._pending: set[str] = set()        # models it failed that the server has not answered with a skip set
        self._failures_sent = 0
        self._slot = EngineSlot(self._load, where=spec.device, on_change=self._engine_changed)

    def run(self) -> None:
        threading.Thread(target=self._listen, name="jbdiff-worker-commands", daemon=True).start()
        self._slot.ensure(self.spec.model or self.spec.cfg.model)   # if it cannot load, jobs for others still can
        with self._lock:
            self._loaded = True
        journal = Journal(self.spec.cfg.journal_path)
        try:
            self._serve(journal)
        finally:
            journal.close()

    # ------------------------------------------------------------------ main thread

    def _load(self, model: str) -> Engine:
        spec = self.spec
        _use_device(spec.device)
        engine = call_loader(spec.load or functools.partial(load_engine, spec.cfg), spec.device, model)
        _set_threads(spec.threads)
        return engine

    def _engine_changed(self, slot: EngineSlot) -> None:
        if slot.failed:
            with self._lock:                   # skip it at once; the server's answer says whether to keep skipping
                self._failures_sent += 1
                self._pending.add(slot.failed)
        self._send("engine", slot.state.value, slot.message, slot.model, slot.live_supported, slot.failed)

    def _serve(self, journal: Journal) -> None:
        spec = self.spec
        while True:
            self._wake.clear()
            with self._lock:
                if self._stopping:
                    return
                if os.getppid() != spec.parent_pid:
                    logger.error("the server (pid %d) is gone: exiting", spec.parent_pid)
                    os._exit(EXIT_ORPHANED)
                job = journal.claim(spec.name, skip_models=self._skipped(), default_model=spec.cfg.model)
                if job is not None:
                    running = _Running(job, CancelToken(), LiveValues())
                    self._current = running
            if job is None:
                self._wake.wait(spec.poll_s)
                continue
            self._send("started", job)
            try:
                outcome = render_with(self._slot, job, running.token, default_model=spec.cfg.model,
                                      live=running.live, output_dir=spec.cfg.output_dir, device=spec.device,
                                      progress=self._progress(job.id), progress_hz=spec.cfg.progress_hz)
            finally:
                with self._lock:
                    self._current = None
            self._send("finished", job.id, outcome.state.value, outcome.fields, outcome.load_failed)

    def _skipped(self) -> set[str]:
        """Models whose jobs this worker leaves to others now (call with the lock held)."""
        now = time.monotonic()
        return {model for model, until in self._skip.items() if until > now} | self._pending

    def _progress(self, job_id: str) -> Callable[[str, float], None]:
        return lambda stage, fraction: self._send("progress", job_id, stage, fraction)

    def _send(self, *message: Any) -> None:
        try:
            with self._send_lock:
                self._events.send(message)
        except (OSError, EOFError, ValueError):
            logger.error("the server is gone: exiting")
            os._exit(EXIT_ORPHANED)

    # ------------------------------------------------------------------ listener thread

    def _listen(self) -> None:
        while True:
            try:
                message = self._commands.recv()
            except (EOFError, OSError):
                # The server died (its end of the pipe closed): never run jobs nobody will record.
                logger.error("the server closed the command pipe: exiting")
                os._exit(EXIT_ORPHANED)
            self._command(*message)

    def _command(self, kind: str, *args: Any) -> None:
        with self._lock:
            running = self._current
            if kind == "wake":
                self._wake.set()
            elif kind == "cancel":
                job_id, reason = args
                if running is not None and running.job.id == job_id:
                    running.token.trigger(reason)
            elif kind == "interrupt":
                if running is not None:
                    running.token.trigger("shutdown")
            elif kind == "live":
                if running is not None:
                    running.live.update(args[0])
            elif kind == "skip":
                skipped, seen = args
                now = time.monotonic()
                self._skip = {model: now + float(left) for model, left in skipped.items()}
                if seen >= self._failures_sent:
                    self._pending.clear()       # the server has heard of every failure: its set is whole
                self._wake.set()                # a model may be free to take again
            elif kind == "stop":
                self._stopping = True
                if not self._loaded:
                    os._exit(0)                 # still loading: nothing to finish
                self._wake.set()
            else:
                logger.warning("unknown command %r", kind)
