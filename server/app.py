"""The server: composes journal, queue, workers, parameters and the OSC transport; starts and drains them.

Public hooks for other front ends (hot folder, MIDI; issue 7): :meth:`Server.submit` (the same
path OSC's ``/jbdiff/generate`` takes; every job gets the model selected now, ``server.selection``),
:meth:`Server.set_param`, ``server.queue.subscribe``
for job events, :meth:`Server.add_service` for anything with ``start()``/``stop()``, and
``server.journal.transaction()`` for their own tables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from jbdiff import __version__
from jbdiff.errors import ConfigError
from server.clients import Clients
from server.config import ServerConfig
from server.engine import Engine, EngineState
from server.errors import JobNotFound, ModelNotLoaded
from server.journal import FINAL_STATES, JobRecord, JobState, Journal
from server.model_select import ModelSelection
from server.osc.dispatch import Dispatcher, all_routes
from server.osc.job import event_message
from server.outputs import finished_output
from server.params import PARAMS_BY_NAME, ParamStore, request_fields, spec_for
from server.presets import Presets
from server.queue import JobEvent, JobQueue
from server.transport import AllowList, UdpTransport
from server.worker_process import make_workers

logger = logging.getLogger(__name__)

DRAIN_POLL_S = 0.05
CANCEL_GRACE_S = 30.0          # after cancelling at shutdown, how long a job may take to notice


class Service(Protocol):
    """Something that runs beside the OSC receiver (hot folder watcher, MIDI input)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class DataDirLock:
    """One server per data dir: two would both think they own the journal's running jobs."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "server.lock"
        self._fh = open(self.path, "a+")  # noqa: SIM115 - held for the server's lifetime
        try:
            import fcntl

            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no advisory lock, the port bind still guards
            return
        except OSError:
            self._fh.close()
            raise ConfigError(f"data_dir: {folder} is in use by another jbdiff server "
                              "(stop it, or give this one its own --data-dir)") from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"{os.getpid()}\n")
        self._fh.flush()

    def release(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._fh.close()


class Server:
    """One long-running server; ``start()`` returns once it listens, ``stop()`` drains and persists."""

    def __init__(self, cfg: ServerConfig, *, engine_loader: Callable[..., Engine] | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.now = now
        for folder in (cfg.data_path, cfg.output_dir, cfg.presets_dir, cfg.drop_path, cfg.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = DataDirLock(cfg.data_path)
        self.journal = Journal(cfg.journal_path, now=now)
        self.selection = ModelSelection(cfg)
        self.queue = JobQueue(self.journal, max_queue=cfg.max_queue, max_attempts=cfg.max_attempts, now=now)
        self.params = ParamStore(cfg.roots)
        self.presets = Presets(cfg.presets_dir)
        self.clients = Clients(cfg.reply_port, cfg.max_clients)
        self.routes = all_routes()
        # One per entry of cfg.workers: threads here, or one process each (server.worker_process).
        try:
            self.worker_mode, self.workers = make_workers(cfg, self.queue, engine_loader, preload=self.selection.get)
        except BaseException:
            self.journal.close()
            self._lock.release()
            raise
        self.services: list[Service] = []
        self.transport: UdpTransport | None = None
        self.dispatcher: Dispatcher | None = None
        self.started_at = now()
        self._signals = 0
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Server:
        cfg = self.cfg
        try:
            self.transport = UdpTransport(cfg.host, cfg.port, self._on_packet, max_packet=cfg.max_packet_bytes,
                                          allowed=AllowList(cfg.allowed_networks()), on_oversize=self._on_oversize)
        except OSError as exc:
            self.journal.close()
            self._lock.release()
            self._stopped = True
            raise ConfigError(f"port: cannot listen on {cfg.host}:{cfg.port} ({exc}); is another server "
                              "running? choose another with --port") from None
        self.dispatcher = Dispatcher(self, self.routes, self.transport.send)
        self.queue.subscribe(self._notify)
        self.queue.recover(lambda job: finished_output(cfg.output_dir, job))
        for worker in self.workers:
            worker.start()
        for service in self.services:
            service.start()
        self.transport.start()
        host, port = self.transport.address
        logger.info("jbdiff %s listening for OSC on %s:%d (replies to port %d); data in %s; model %s on %s (%s)",
                    __version__, host, port, cfg.reply_port, cfg.data_path, self.selection.get(),
                    ", ".join(w.device for w in self.workers), f"worker_mode {self.worker_mode}")
        return self

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None, "start() first"
        return self.transport.address

    def add_service(self, service: Service) -> None:
        """Run ``service`` beside the receiver: started by ``start()``, stopped first by ``stop()``."""
        self.services.append(service)

    def stop(self, on_shutdown: str | None = None, drain_timeout: float | None = None) -> None:
        """Stop accepting, finish or cancel the running job, persist, close. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        mode = on_shutdown or self.cfg.on_shutdown
        timeout = self.cfg.drain_timeout_s if drain_timeout is None else drain_timeout
        if self.transport is not None:
            self.transport.stop_receiving()
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:  # noqa: BLE001 - keep draining whatever a service does
                logger.exception("stopping %r failed", service)
        self.queue.stop()                 # no new jobs, and workers take no more from the queue
        for worker in self.workers:
            worker.stop_taking()          # worker processes: the same, told over their pipe
        if mode == "cancel":
            self._cancel_running()
        elif self._running():
            if any(w.current is not None for w in self.workers):
                logger.info("waiting up to %.0f s for the running job to finish (on_shutdown: finish)", timeout)
            if not self._wait_idle(timeout):
                logger.warning("drain timeout: cancelling the running job; it runs again at the next start")
                self._cancel_running()
        if self._running() and not self._wait_idle(CANCEL_GRACE_S):
            logger.error("a job ignored cancellation; exiting anyway (it is re-queued at the next start)")
        for worker in self.workers:
            worker.join(5.0)
        if self.transport is not None:
            self.transport.close()
        self.journal.close()
        self._lock.release()
        logger.info("jbdiff server stopped")

    def _running(self) -> bool:
        return any(w.busy for w in self.workers)

    def _cancel_running(self) -> None:
        for token in self.queue.running_tokens().values():
            token.trigger("shutdown")
        for worker in self.workers:
            worker.interrupt()            # a job a worker process claimed that the server has not heard of yet

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._running():
            if self._signals >= 2:            # a second Ctrl-C: stop waiting for the job
                self._cancel_running()
            if time.monotonic() >= deadline:
                return False
            time.sleep(DRAIN_POLL_S)
        return True

    def serve_forever(self) -> int:
        """Run until SIGINT/SIGTERM (handlers only set a flag), then drain; returns the exit code."""
        def on_signal(signum: int, frame: Any) -> None:
            self._signals += 1

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._signals == 0:
                time.sleep(0.5)
            logger.info("signal received: stopping (on_shutdown: %s)", self.cfg.on_shutdown)
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    # ------------------------------------------------------------------ packets and events

    def _on_packet(self, data: bytes, sender: tuple[str, int]) -> None:
        assert self.dispatcher is not None
        self.dispatcher.handle_packet(data, sender)

    def _on_oversize(self, size: int, sender: tuple[str, int]) -> None:
        from server.errors import BadPacket

        assert self.dispatcher is not None
        self.dispatcher.reply_error(sender, "?", BadPacket(
            f"packet of {size}+ bytes is larger than max_packet_bytes ({self.cfg.max_packet_bytes})"))

    def _notify(self, event: JobEvent) -> None:
        """Job events go to the client that asked, or to every registered client if none did."""
        if self.transport is None:
            return
        address, args = event_message(event)
        targets = [event.job.reply_to] if event.job.reply_to else self.clients.registered()
        for to in targets:
            self.transport.send(address, args, to)

    # ------------------------------------------------------------------ the front-end API

    def model_state(self) -> tuple[EngineState, str]:
        """Ready if any worker is; loading if any still loads; else why none could load."""
        for wanted in (EngineState.READY, EngineState.LOADING):
            for w in self.workers:
                if w.state == wanted:
                    return w.state, w.message
        return self.workers[0].state, self.workers[0].message

    def submit(self, values: Mapping[str, Any], *, source: str = "osc", sender: tuple[str, int] | None = None,
               reply_to: tuple[str, int] | None = None) -> JobRecord:
        """Queue a job from coerced key values (see server.params.parse_pairs) under the selected model; seeds fixed now."""
        model = self.selection.get()
        reason = self.unloadable(model)
        if reason is not None:
            raise ModelNotLoaded(reason)
        values = dict(values)
        tag = values.pop("tag", None)
        request = self.params.request(values).with_seeds()
        if reply_to is None and sender is not None:
            reply_to = self.clients.reply_address(sender)
        return self.queue.submit(request.project_name, request.to_dict(), source=source, reply_to=reply_to, tag=tag,
                                 model=model)

    def unloadable(self, model: str) -> str | None:
        """Why ``model`` cannot render, if every worker failed to load it since it was last selected; else None.

        Selecting it again (/jbdiff/model/set) lets the next job try once more (e.g. after a download).
        """
        since = self.selection.changed_at
        failed = [w for w in self.workers
                  if w.load_failure is not None and w.load_failure[0] == model and w.load_failure[1] >= since]
        if not failed or len(failed) < len(self.workers):
            return None
        return failed[0].message

    def set_param(self, name: Any, value: Any) -> Any:
        """Set a live parameter; running-capable ones also reach jobs that are rendering now."""
        stored = self.params.set(name, value)
        if spec_for(name).running:
            fields = request_fields([{name: stored}])
            for worker in self.workers:
                worker.update_live(fields)
        return stored

    def param_scope(self, name: str) -> str:
        """``running`` if a change reaches the rendering job, else ``next``."""
        spec = PARAMS_BY_NAME[name]
        return "running" if spec.running and any(w.live_supported for w in self.workers) else "next"

    def get_job(self, job_id: str) -> JobRecord:
        job = self.journal.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    def job_summary(self) -> list[JobRecord]:
        """Queued and running jobs (oldest first), then the newest finished ones."""
        active = self.journal.list([JobState.QUEUED, JobState.RUNNING])
        recent = self.journal.list(FINAL_STATES, limit=self.cfg.recent_jobs, newest_first=True)
        return active + recent

    def status_items(self) -> list[tuple[str, Any]]:
        state, message = self.model_state()
        items: list[tuple[str, Any]] = [
            ("version", __version__),
            ("model", state.value),
            ("model_message", message),
            ("model_name", self.selection.get()),
            ("queued", self.journal.count(JobState.QUEUED)),
            ("running", " ".join(w.current.job.id for w in self.workers if w.current is not None)),
            ("workers", len(self.workers)),
            ("worker_mode", self.worker_mode),
        ]
        for i, w in enumerate(self.workers):
            items += [(f"worker.{i}", w.describe()), (f"worker.{i}.pid", w.pid or 0),
                      (f"worker.{i}.restarts", w.restarts), (f"worker.{i}.model", w.model or "")]
        items += [
            ("accepting", int(self.queue.accepting)),
            ("uptime_s", round(self.now() - self.started_at, 3)),
            ("data_dir", str(self.cfg.data_path)),
            ("output_dir", str(self.cfg.output_dir)),
        ]
        return items

