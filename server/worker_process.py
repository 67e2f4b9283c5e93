"""Worker processes: one per GPU, each with its own engine, all claiming from the one journal.

The server supervises each child from one thread (:class:`ProcessWorker`):

- It spawns the child (``spawn``: a fresh interpreter, so CUDA, cuBLAS and CUDA graphs start
  clean on the child's own device; two worker threads in one process cannot capture CUDA graphs
  side by side, see docs/benchmarks.md).
- It relays the child's events into the queue: ``started`` (the child claimed a job in the
  journal), ``progress`` and ``finished``; ``engine`` (the child's model is loading, ready, or
  failed to load) goes into the worker's status. The server records how a job ended and then tells
  clients, in that order and in one place, exactly as thread workers do. Events travel over a
  pipe rather than through the journal because progress is never journaled (it is news, several
  a second) and a pipe delivers in order at once; its end of file is also the death notice.
- It pushes commands over a second pipe, from its own sender thread so that no OSC handler ever
  waits on a child: ``wake`` (a job was queued), ``cancel``, ``live`` values, ``interrupt``, ``stop``.
- When the child dies (SIGKILL, a crash, the OOM killer) it first takes everything the child
  said before dying, then re-queues the job the journal says the child held (attempts+1; failed
  after max_attempts) and starts a new child after a delay that doubles while it keeps dying.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue as queue_module
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from jbdiff.errors import ConfigError
from server.config import ServerConfig
from server.engine import Engine, EngineState, load_engine, resolve_workers
from server.journal import JobState
from server.queue import CancelToken, EventKind, JobEvent, JobQueue
from server.worker import Outcome, Worker, WorkerBase
from server.worker_child import ChildSpec, child_main

logger = logging.getLogger(__name__)

HEALTHY_S = 60.0          # a child that lived this long (or finished a job) resets the restart delay
KILL_WAIT_S = 5.0         # after killing a child that ignored stop, wait this long for its supervisor


def restart_delay(failures: int, base: float, cap: float) -> float:
    """Seconds before restart number ``failures`` in a row (1, 2, ...): ``base`` doubling up to ``cap``."""
    return min(cap, base * 2.0 ** max(0, failures - 1))


def describe_exit(code: int | None) -> str:
    """How a child ended, for logs, status and the interrupted event."""
    if code is None:
        return "is gone"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


# ---------------------------------------------------------------------------- choosing the workers


def choose_mode(cfg: ServerConfig, devices: list[str], in_process_loader: bool) -> str:
    """``worker_mode`` with ``auto`` decided: processes for several workers, unless handed a loader."""
    if cfg.worker_mode != "auto":
        return cfg.worker_mode
    return "process" if len(devices) > 1 and not in_process_loader else "thread"


def make_workers(cfg: ServerConfig, queue: JobQueue, engine_loader: Callable[..., Engine] | None = None, *,
                 preload: Callable[[], str] | None = None) -> tuple[str, list[Any]]:
    """The server's workers, one per entry of ``cfg.workers``, as threads or processes (see choose_mode).

    ``engine_loader(device[, model=])`` replaces the Pipeline (tests); ``preload()`` names the model
    each worker (and each restarted worker process) loads before its first job: the current selection.
    """
    devices = resolve_workers(cfg.workers)
    mode = choose_mode(cfg, devices, engine_loader is not None)
    preload = preload or (lambda: cfg.model)
    if mode == "thread":
        load = engine_loader or functools.partial(load_engine, cfg)
        return mode, [Worker(f"w{i}", device, queue, load, cfg.output_dir, preload=preload, default_model=cfg.model,
                             progress_hz=cfg.progress_hz)
                      for i, device in enumerate(devices)]
    if engine_loader is not None:
        try:
            pickle.dumps(engine_loader)
        except Exception:  # noqa: BLE001 - lambdas, closures, bound methods of local objects ...
            raise ConfigError("worker_mode: 'process' needs an engine loader the worker processes can import "
                              f"(a module-level function or engine_factory in the config), not {engine_loader!r}"
                              ) from None
    threads = cfg.cpu_threads or max(1, ((os.cpu_count() or 2) - 1) // len(devices))
    return mode, [ProcessWorker(f"w{i}", device, queue, cfg, load=engine_loader, threads=threads, preload=preload)
                  for i, device in enumerate(devices)]


# ---------------------------------------------------------------------------- the supervisor


class RemoteToken(CancelToken):
    """The cancel token of a job that runs in a child: setting it also tells the child."""

    def __init__(self, worker: ProcessWorker, job_id: str) -> None:
        super().__init__()
        self._worker = worker
        self._job_id = job_id

    def trigger(self, reason: str) -> None:
        super().trigger(reason)
        self._worker.send("cancel", self._job_id, self.reason)


class _Outbox:
    """Commands for one child, sent by their own thread; repeated wakes collapse into one."""

    def __init__(self, conn: Connection, name: str) -> None:
        self._conn = conn
        self._queue: queue_module.SimpleQueue[tuple[Any, ...] | None] = queue_module.SimpleQueue()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._thread = threading.Thread(target=self._run, name=f"jbdiff-worker-{name}-commands", daemon=True)
        self._thread.start()

    def put(self, message: tuple[Any, ...]) -> None:
        if message == ("wake",):
            with self._lock:
                if self._wake_pending:
                    return
                self._wake_pending = True
        self._queue.put(message)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(KILL_WAIT_S)

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                break
            if message == ("wake",):
                with self._lock:
                    self._wake_pending = False
            try:
                self._conn.send(message)
            except (OSError, ValueError):
                break                           # the child is gone; its supervisor sees to the rest
        with contextlib.suppress(OSError):
            self._conn.close()


class ProcessWorker(WorkerBase):
    """Supervises one worker process (``worker_mode: process``); the same surface as a thread Worker."""

    mode = "process"

    def __init__(self, name: str, device: str, queue: JobQueue, cfg: ServerConfig, *,
                 load: Callable[..., Engine] | None = None, threads: int = 1,
                 preload: Callable[[], str] | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, device, queue)
        self.cfg = cfg
        self._load = load
        self._threads = threads
        self._preload = preload or (lambda: cfg.model)
        self._monotonic = monotonic
        self.message = "starting the worker process"
        self.pid: int | None = None
        self.restarting = False                  # waiting out the restart delay
        self.starts: deque[float] = deque(maxlen=64)      # when each child was started (monotonic)
        self.exits: deque[int | None] = deque(maxlen=64)  # each child's exit code
        self.delays: deque[float] = deque(maxlen=64)      # each wait before a restart
        self._stop = threading.Event()
        self._alive = False
        self._proc: Any = None
        self._outbox: _Outbox | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_failures: Callable[[], None] | None = None
        self._failures_seen = 0                  # load failures the child reported: echoed with each skip set

    # ------------------------------------------------------------------ the server's side

    @property
    def busy(self) -> bool:
        """Rendering, or (once told to stop) still finishing: the server waits for this to go False."""
        return self.current is not None or (self._stop.is_set() and self._alive)

    def start(self) -> None:
        self._unsubscribe = self.queue.subscribe(self._on_queue_event)
        self._unsubscribe_failures = self.queue.failures.subscribe(self._push_skips)
        self._thread = threading.Thread(target=self._main, name=f"jbdiff-worker-{self.name}", daemon=True)
        self._thread.start()

    def send(self, *message: Any) -> None:
        """Queue a command for the child (dropped if none is running: a new one reads the journal)."""
        outbox = self._outbox
        if outbox is not None:
            outbox.put(message)

    def update_live(self, fields: Mapping[str, Any]) -> None:
        if self.live_supported:
            self.send("live", dict(fields))

    def stop_taking(self) -> None:
        """Claim no more jobs, finish the one running, then exit; no restarts from now on."""
        self._stop.set()
        self.send("stop")

    def interrupt(self) -> None:
        """Cancel whatever the child runs now as a shutdown (the job is interrupted, not cancelled)."""
        self.send("interrupt")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the child and its supervisor to finish; kill a child that will not stop."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            proc = self._proc
            if proc is not None:
                logger.warning("worker %s: process %s did not stop; killing it", self.name, self.pid)
                with contextlib.suppress(Exception):
                    proc.kill()
            self._thread.join(KILL_WAIT_S)
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._unsubscribe_failures is not None:
            self._unsubscribe_failures()
        return not self._thread.is_alive()

    def state_label(self) -> str:
        """loading, ready, missing, error, or restarting while it waits out the restart delay."""
        return "restarting" if self.restarting else self.state.value

    def _push_skips(self) -> None:
        """Tell the child which models to leave to other workers (it claims in the journal itself)."""
        self.send("skip", self.queue.failures.skipped(self.name), self._failures_seen)

    def _on_queue_event(self, event: JobEvent) -> None:
        if event.kind in (EventKind.ACCEPTED, EventKind.REQUEUED):
            self.send("wake")

    # ------------------------------------------------------------------ the supervisor thread

    def _main(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                lived, finished = self._run_child()
            except Exception:  # noqa: BLE001 - e.g. spawning failed: treat it as a crash, retry later
                logger.exception("worker %s: could not run its process", self.name)
                lived, finished = 0.0, 0
            if self._stop.is_set():
                break
            failures = 1 if finished or lived >= HEALTHY_S else failures + 1
            delay = restart_delay(failures, self.cfg.restart_delay_s, self.cfg.restart_delay_max_s)
            self.delays.append(delay)
            how = describe_exit(self.exits[-1] if self.exits else None)
            self.state = EngineState.LOADING
            self.message = f"the worker process {how}; restarting in {delay:.1f} s"
            self.restarting = True
            logger.warning("worker %s (%s): %s", self.name, self.device, self.message)
            if self._stop.wait(delay):
                break
            self.restarting = False
            self.restarts += 1
        self.restarting = False
        if self.load_failure is None:
            self.message = "stopped"

    def _run_child(self) -> tuple[float, int]:
        """Start one child and relay its events until it exits; returns (seconds it lived, jobs finished)."""
        ctx = multiprocessing.get_context("spawn")
        events_in, events_out = ctx.Pipe(duplex=False)
        commands_in, commands_out = ctx.Pipe(duplex=False)
        spec = ChildSpec(self.name, self.device, self.cfg, self._load, self._threads, os.getpid(),
                         model=self._preload(), log_level=logging.getLogger().getEffectiveLevel())
        proc = ctx.Process(target=child_main, args=(spec, commands_in, events_out), daemon=True,
                           name=f"jbdiff-worker-{self.name}")
        self.engine_changed(EngineState.LOADING, "loading the model", None, self.live_supported, None)
        self._failures_seen = 0             # the new child counts its own from zero
        try:
            proc.start()
        except BaseException:
            events_in.close()
            commands_out.close()
            raise
        finally:
            events_out.close()              # only the child holds these ends now: its death closes them
            commands_in.close()
        t0 = self._monotonic()
        self.starts.append(t0)
        self._proc, self.pid, self._alive = proc, proc.pid, True
        self._outbox = _Outbox(commands_out, self.name)
        self.queue.failures.set_live(self.name, True)      # also pushes this child its skip set
        if self._stop.is_set():
            self.send("stop")               # told to stop while it was starting
        jobs_before = self.jobs_run
        logger.info("worker %s: process %d started on %s", self.name, proc.pid, self.device)
        try:
            self._pump(events_in, proc)
        finally:
            proc.join()
            self._outbox.close()
            self._outbox = None
            events_in.close()
            self.exits.append(proc.exitcode)
            self._alive = False
            self._proc = None
            self.pid = None
            self._after_exit(proc.exitcode)
        return self._monotonic() - t0, self.jobs_run - jobs_before

    def _pump(self, events: Connection, proc: Any) -> None:
        """Handle the child's events until it exits, then whatever it sent before it went."""
        while True:
            ready = multiprocessing.connection.wait([events, proc.sentinel])
            if events not in ready:         # exited: its last messages may still be in the pipe
                with contextlib.suppress(EOFError, OSError):
                    while events.poll():
                        self._handle(*events.recv())
                return
            try:
                message = events.recv()
            except (EOFError, OSError):
                return
            self._handle(*message)

    def _handle(self, kind: str, *args: Any) -> None:
        try:
            if kind == "engine":
                state, message, model, live_supported, failed = args
                if failed:
                    self._failures_seen += 1
                self.engine_changed(EngineState(state), str(message), model, bool(live_supported), failed)
            elif kind == "started":
                job = args[0]
                self.current = self.queue.adopt(job, self.name, RemoteToken(self, job.id))
            elif kind == "progress":
                job_id, stage, fraction = args
                claim = self.current
                if claim is not None and claim.job.id == job_id:
                    self.queue.progress(claim, stage, fraction)
            elif kind == "finished":
                job_id, state, fields, load_failed = args
                claim = self.current
                if claim is not None and claim.job.id == job_id:
                    try:
                        self.settle(claim, Outcome(JobState(state), fields, load_failed))
                    finally:
                        self.jobs_run += 1
                        self.current = None
            else:
                logger.warning("worker %s: unknown event %r", self.name, kind)
        except Exception:  # noqa: BLE001 - e.g. the journal failed; keep relaying (the job re-queues later)
            logger.exception("worker %s: handling %s failed", self.name, kind)

    def _after_exit(self, code: int | None) -> None:
        """The child is gone: what it held goes back to the queue (or stays interrupted at shutdown)."""
        self.current = None
        self.model = None                   # its engine went with it
        self.queue.failures.set_live(self.name, False)
        stopping = self._stop.is_set()
        reason = f"worker {self.name} on {self.device} {describe_exit(code)}"
        for job in self.queue.abandon(self.name, reason, requeue=not stopping):
            logger.warning("worker %s: job %s is %s after its process ended", self.name, job.id, job.state.value)
