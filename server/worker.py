"""A worker: loads the selected model, then takes jobs from the queue one at a time until stopped.

Each job names the model it was submitted under; :func:`render_with` swaps the worker's one
engine when that differs from the loaded one. :func:`render_job` is the one readable place where
a job's outcome is decided, with one ``except`` per outcome (huey's shape): done,
cancelled/interrupted, out of memory, bad input, bug. Thread workers (:class:`Worker`, here) and
worker processes (server.worker_process and server.worker_child) both run jobs through them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jbdiff.errors import CancelledError, JbdiffError
from jbdiff.request import GenerationRequest
from server.engine import Engine, EngineSlot, EngineState, call_loader, release_memory
from server.journal import JobRecord, JobState
from server.outputs import write_result
from server.params import LiveValues, live_fields
from server.progress import ProgressReporter
from server.queue import CancelToken, Claim, JobQueue

logger = logging.getLogger(__name__)

OOM_REASON = ("out of memory on {device} while rendering: try fewer seconds, fewer levels, token_multiplier 1 "
              "or quality draft (the server keeps serving)")


def _oom_types() -> tuple[type[BaseException], ...]:
    try:
        import torch

        return (torch.cuda.OutOfMemoryError, MemoryError)
    except ImportError:  # pragma: no cover - torch is a dependency
        return (MemoryError,)


@dataclass(frozen=True)
class Outcome:
    """How one run of a job ended: the state to record and its fields (result_path, seconds, error).

    ``load_failed`` names the job's model when the worker could not load it (the job may go to another worker).
    """

    state: JobState
    fields: dict[str, Any] = field(default_factory=dict)
    load_failed: str | None = None


def render_job(engine: Engine, job: JobRecord, token: CancelToken, *, output_dir: Path, device: str,
               progress: Callable[[str, float], None], live: LiveValues | None = None,
               progress_hz: float = 4.0, monotonic: Callable[[], float] = time.monotonic) -> Outcome:
    """Render one claimed job, write its result (WAV, then sidecar) and decide its one outcome.

    ``live`` (for engines that take ``live=``) is seeded with the request's running-capable
    values, then whoever holds it may update it while the job renders.
    """
    t_start = time.perf_counter()
    try:
        request = GenerationRequest.from_dict(job.request)
        reporter = ProgressReporter(request.levels, request.use_dd, progress, hz=progress_hz, now=monotonic)
        kwargs: dict[str, Any] = {"progress": reporter, "cancel": token}
        if live is not None:
            live.update(live_fields(request))
            kwargs["live"] = live
        result = engine.generate(request, **kwargs)
        if token.is_set():
            raise CancelledError("cancelled while the result was being finished")
        t_render = time.perf_counter()
        wav, seconds = write_result(output_dir, job, result, {
            "queue_wait": max(0.0, (job.started_at or 0.0) - job.created_at),
            "render": t_render - t_start,
        })
    except CancelledError:
        return Outcome(JobState.INTERRUPTED if token.reason == "shutdown" else JobState.CANCELLED)
    except _oom_types():
        release_memory()
        logger.warning("job %s: out of memory on %s", job.id, device)
        return Outcome(JobState.FAILED, {"error": OOM_REASON.format(device=device)})
    except JbdiffError as exc:
        logger.info("job %s failed: %s", job.id, exc)
        return Outcome(JobState.FAILED, {"error": str(exc)})
    except OSError as exc:
        logger.error("job %s: cannot write its result: %s", job.id, exc)
        return Outcome(JobState.FAILED, {"error": f"cannot write the result: {exc}"})
    except Exception as exc:
        logger.exception("job %s: unexpected error", job.id)
        return Outcome(JobState.FAILED, {"error": f"internal error: {type(exc).__name__}: {exc}"})
    logger.info("job %s done in %.2f s: %s", job.id, time.perf_counter() - t_start, wav)
    return Outcome(JobState.DONE, {"result_path": str(wav), "seconds": seconds})


def render_with(slot: EngineSlot, job: JobRecord, token: CancelToken, *, default_model: str,
                live: LiveValues | None, **render: Any) -> Outcome:
    """Load the job's model if the slot holds another (or none), then render; one that cannot load fails the job.

    ``default_model`` stands in for jobs journaled before jobs named their model.
    """
    model = job.model or default_model
    engine = slot.ensure(model)
    if engine is None:
        return Outcome(JobState.FAILED, {"error": f"cannot load model {slot.message}"}, load_failed=model)
    return render_job(engine, job, token, live=live if slot.live_supported else None, **render)


class WorkerBase:
    """What the server reads from any worker, thread or process: its state, current job and counters."""

    mode = "?"

    def __init__(self, name: str, device: str, queue: JobQueue) -> None:
        self.name = name
        self.device = device
        self.queue = queue
        self.state = EngineState.LOADING
        self.message = "loading the model"
        self.live_supported = False
        self.model: str | None = None            # the model loaded now
        self.load_failure: tuple[str, float] | None = None    # (model, monotonic time) of a failed load
        self.current: Claim | None = None
        self.jobs_run = 0
        self.restarts = 0                        # a thread is never restarted (processes are)
        self.loaded = threading.Event()          # set once the (first) load finished, either way

    def state_label(self) -> str:
        return self.state.value

    def engine_changed(self, state: EngineState, message: str, model: str | None, live_supported: bool,
                       failed: str | None) -> None:
        """The worker's engine slot moved (loading, ready, missing, error): what status and submit read."""
        self.state, self.message, self.model, self.live_supported = state, message, model, live_supported
        self.load_failure = (failed, time.monotonic()) if failed else None
        if failed:
            self.queue.failures.failed(self.name, failed)
        elif state == EngineState.READY and model:
            self.queue.failures.loaded(self.name, model)
        if state != EngineState.LOADING:
            self.loaded.set()

    def settle(self, claim: Claim, outcome: Outcome) -> None:
        """Record a job's outcome; one whose model this worker cannot load goes back if another worker may."""
        model = outcome.load_failed
        if model is not None and self.queue.failures.others_can_try(self.name, model):
            self.queue.hand_back(claim, f"worker {self.name} ({self.device}) cannot load model {model}; "
                                        "another worker takes the job")
            return
        self.queue.finish(claim, outcome.state, **outcome.fields)

    def describe(self) -> str:
        """One status line: device, state, current job."""
        job = self.current.job.id if self.current is not None else "idle"
        return f"{self.device} {self.state_label()} {job}"


class Worker(WorkerBase):
    """One thread, one engine at a time, in the server's own process (``worker_mode: thread``).

    The OSC receiver never waits on it. :class:`server.worker_process.ProcessWorker` has the
    same surface (WorkerBase, busy, pid, update_live, stop_taking, interrupt, join).
    """

    mode = "thread"

    def __init__(self, name: str, device: str, queue: JobQueue, load: Callable[..., Engine], output_dir: Path,
                 *, preload: Callable[[], str], default_model: str, progress_hz: float = 4.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, device, queue)
        self.slot = EngineSlot(lambda model: call_loader(load, device, model), where=f"worker {name} ({device})",
                               on_change=lambda s: self.engine_changed(s.state, s.message, s.model,
                                                                       s.live_supported, s.failed))
        self._preload = preload                  # the model to load at start: the current selection
        self.default_model = default_model
        self.output_dir = output_dir
        self.progress_hz = progress_hz
        self._monotonic = monotonic
        self.live: LiveValues | None = None
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return os.getpid()

    @property
    def busy(self) -> bool:
        return self.current is not None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.queue.failures.set_live(self.name, True)
        self._thread = threading.Thread(target=self._main, name=f"jbdiff-worker-{self.name}", daemon=True)
        self._thread.start()

    def stop_taking(self) -> None:
        """Nothing to do: ``queue.stop()`` already makes ``claim`` return None."""

    def interrupt(self) -> None:
        """Nothing to do: the server triggers the running job's token itself."""

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _main(self) -> None:
        self.load()                 # a model that cannot load leaves the worker up: another may be selected
        while True:
            claim = self.queue.claim(self.name, default_model=self.default_model)
            if claim is None:
                self.queue.failures.set_live(self.name, False)
                return
            try:
                self.run_job(claim)
            except Exception:  # noqa: BLE001 - e.g. the journal failed; the job re-queues at the next start
                logger.exception("worker %s: recording job %s failed", self.name, claim.job.id)

    def load(self) -> bool:
        """Load the current selection now (status and ModelNotLoaded replies show why, if it cannot)."""
        return self.slot.ensure(self._preload()) is not None

    # ------------------------------------------------------------------ one job

    def run_job(self, claim: Claim) -> None:
        """Render one claimed job (with the model it names) and record exactly one outcome for it."""
        self.current = claim
        self.live = LiveValues()
        try:
            outcome = render_with(self.slot, claim.job, claim.token, default_model=self.default_model,
                                  live=self.live, output_dir=self.output_dir, device=self.device,
                                  progress=lambda stage, frac: self.queue.progress(claim, stage, frac),
                                  progress_hz=self.progress_hz, monotonic=self._monotonic)
            self.settle(claim, outcome)
        finally:
            self.jobs_run += 1
            self.current = None
            self.live = None

    def update_live(self, fields: Mapping[str, Any]) -> None:
        """A running-capable parameter changed: the job rendering now re-reads it."""
        live = self.live
        if live is not None:
            live.update(fields)
