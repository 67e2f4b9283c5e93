"""A worker: loads its engine once, then takes jobs from the queue one at a time until stopped.

:func:`render_job` is the one readable place where a job's outcome is decided, with one
``except`` per outcome (huey's shape): done, cancelled/interrupted, out of memory, bad input, bug.
Thread workers (:class:`Worker`, here) and worker processes (server.worker_process and
server.worker_child) both run jobs through it.
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
from server.engine import Engine, EngineState, describe_load_error, supports_live
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


def _release_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort only
        logger.debug("could not empty the CUDA cache", exc_info=True)


@dataclass(frozen=True)
class Outcome:
    """How one run of a job ended: the state to record and its fields (result_path, seconds, error)."""

    state: JobState
    fields: dict[str, Any] = field(default_factory=dict)


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
        _release_memory()
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
        self.current: Claim | None = None
        self.jobs_run = 0
        self.restarts = 0                        # a thread is never restarted (processes are)
        self.loaded = threading.Event()          # set once the (first) load finished, either way

    def state_label(self) -> str:
        return self.state.value

    def describe(self) -> str:
        """One status line: device, state, current job."""
        job = self.current.job.id if self.current is not None else "idle"
        return f"{self.device} {self.state_label()} {job}"


class Worker(WorkerBase):
    """One thread, one engine, in the server's own process (``worker_mode: thread``).

    The OSC receiver never waits on it. :class:`server.worker_process.ProcessWorker` has the
    same surface (WorkerBase, busy, pid, update_live, stop_taking, interrupt, join).
    """

    mode = "thread"

    def __init__(self, name: str, device: str, queue: JobQueue, load: Callable[[str], Engine], output_dir: Path,
                 *, progress_hz: float = 4.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, device, queue)
        self._load = load
        self.output_dir = output_dir
        self.progress_hz = progress_hz
        self._monotonic = monotonic
        self.engine: Engine | None = None
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
        if not self.load():
            return
        while True:
            claim = self.queue.claim(self.name)
            if claim is None:
                return
            try:
                self.run_job(claim)
            except Exception:  # noqa: BLE001 - e.g. the journal failed; the job re-queues at the next start
                logger.exception("worker %s: recording job %s failed", self.name, claim.job.id)

    def load(self) -> bool:
        """Load the engine once; on failure keep the reason (status and ModelNotLoaded replies show it)."""
        t0 = time.perf_counter()
        try:
            engine = self._load(self.device)
        except Exception as exc:
            self.state, self.message = describe_load_error(exc)
            logger.error("worker %s (%s): %s", self.name, self.device, self.message)
            self.loaded.set()
            return False
        self.engine = engine
        self.live_supported = supports_live(engine)
        self.state, self.message = EngineState.READY, "ready"
        logger.info("worker %s: model ready on %s in %.1f s", self.name, self.device, time.perf_counter() - t0)
        self.loaded.set()
        return True

    # ------------------------------------------------------------------ one job

    def run_job(self, claim: Claim) -> None:
        """Render one claimed job and record exactly one outcome for it."""
        assert self.engine is not None
        self.current = claim
        self.live = LiveValues() if self.live_supported else None
        try:
            outcome = render_job(self.engine, claim.job, claim.token, output_dir=self.output_dir,
                                 device=self.device, live=self.live,
                                 progress=lambda stage, frac: self.queue.progress(claim, stage, frac),
                                 progress_hz=self.progress_hz, monotonic=self._monotonic)
            self.queue.finish(claim, outcome.state, **outcome.fields)
        finally:
            self.jobs_run += 1
            self.current = None
            self.live = None

    def update_live(self, fields: Mapping[str, Any]) -> None:
        """A running-capable parameter changed: the job rendering now re-reads it."""
        live = self.live
        if live is not None:
            live.update(fields)
