"""The job queue: journal transitions plus wake-ups, cancel tokens and one event per transition.

Events form a closed vocabulary (:class:`EventKind`); listeners (the OSC notifier, tests, later
the hot folder) subscribe and receive them on the thread that made the transition.
"""

from __future__ import annotations

import enum
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.errors import JobFinished, JobNotFound, QueueFull, ShuttingDown
from server.failover import LoadFailures
from server.journal import JobRecord, JobState, Journal

logger = logging.getLogger(__name__)


class EventKind(enum.StrEnum):
    """Everything that can happen to a job, as listeners see it."""

    ACCEPTED = "accepted"
    STARTED = "started"
    PROGRESS = "progress"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    REQUEUED = "requeued"


@dataclass(frozen=True)
class JobEvent:
    """One event: what happened, the job as it is now, and event-specific data."""

    kind: EventKind
    job: JobRecord
    data: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0


Listener = Callable[[JobEvent], None]
FinishedOutput = Callable[[JobRecord], "tuple[str, float] | None"]   # (WAV, seconds) if complete on disk


class CancelToken(threading.Event):
    """The ``cancel`` event handed to the engine, plus why it was set."""

    def __init__(self) -> None:
        super().__init__()
        self.reason = "cancelled"       # "cancelled" (a user asked) or "shutdown" (the server stops)

    def trigger(self, reason: str) -> None:
        if not self.is_set():
            self.reason = reason
        self.set()


@dataclass
class Claim:
    """A job a worker holds: the record at claim time and its cancel token."""

    job: JobRecord
    token: CancelToken
    worker: str


def new_job_id() -> str:
    """Short ids that start with a letter, so Max keeps them as symbols ("j3fa90c1d")."""
    return "j" + secrets.token_hex(4)


class JobQueue:
    """Bounded, journaled FIFO shared by the OSC handlers (submit, cancel) and workers (claim)."""

    def __init__(self, journal: Journal, *, max_queue: int = 32, max_attempts: int = 3,
                 now: Callable[[], float] = time.time, new_id: Callable[[], str] = new_job_id,
                 failures: LoadFailures | None = None) -> None:
        self.journal = journal
        self.failures = failures or LoadFailures()     # which worker failed which model: claims skip those
        self.max_queue = max_queue
        self.max_attempts = max_attempts
        self._now = now
        self._new_id = new_id
        self._cond = threading.Condition()
        self._tokens: dict[str, CancelToken] = {}
        self._listeners: list[Listener] = []
        self._accepting = True
        self._stopping = False
        self._finished_output: FinishedOutput | None = None
        self.failures.subscribe(self._wake_all)          # a skip set may have shrunk: waiting workers look again

    # ------------------------------------------------------------------ events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, kind: EventKind, job: JobRecord, **data: Any) -> None:
        event = JobEvent(kind, job, data, self._now())
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("job event listener failed on %s %s", kind.value, job.id)

    # ------------------------------------------------------------------ producers

    def submit(self, name: str, request: dict[str, Any], *, source: str = "osc",
               reply_to: tuple[str, int] | None = None, tag: str | None = None, model: str | None = None) -> JobRecord:
        """Journal a new queued job and wake a worker; QueueFull / ShuttingDown when it cannot."""
        with self._cond:
            if not self._accepting:
                raise ShuttingDown("the server is shutting down and accepts no new jobs")
            waiting = self.journal.count(JobState.QUEUED)
            if waiting >= self.max_queue:
                raise QueueFull(f"the queue is full ({waiting} jobs waiting, max_queue {self.max_queue}); "
                                "cancel some or wait")
            for _ in range(8):
                try:
                    job = self.journal.add(self._new_id(), name, request, source=source, reply_to=reply_to, tag=tag,
                                           model=model)
                    break
                except sqlite3.IntegrityError:
                    continue
            else:  # pragma: no cover - 8 collisions of 32-bit random ids
                raise RuntimeError("could not allocate a job id")
            self._cond.notify()
        self.emit(EventKind.ACCEPTED, job)
        return job

    def cancel(self, job_id: str) -> JobState:
        """Cancel a queued job now, or ask a running one to stop; returns the state it is in now."""
        with self._cond:
            job = self.journal.get(job_id)
            if job is None:
                raise JobNotFound(f"no job {job_id!r}")
            cancelled = None
            if job.state == JobState.QUEUED:
                cancelled = self.journal.transition(job_id, JobState.CANCELLED, expect=[JobState.QUEUED])
            if cancelled is None:
                job = self.journal.get(job_id) or job
                if job.state != JobState.RUNNING:
                    raise JobFinished(f"job {job_id} is already {job.state.value}")
                self.journal.request_cancel(job_id)
                token = self._tokens.get(job_id)
                if token is not None:
                    token.trigger("cancelled")
                return JobState.RUNNING
        self.emit(EventKind.CANCELLED, cancelled)
        return JobState.CANCELLED

    def cancel_all(self) -> int:
        """Cancel every queued job and ask every running one to stop; returns how many were hit."""
        jobs = self.journal.list([JobState.QUEUED, JobState.RUNNING])
        count = 0
        for job in jobs:
            try:
                self.cancel(job.id)
                count += 1
            except (JobFinished, JobNotFound):
                continue
        return count

    # ------------------------------------------------------------------ workers

    def claim(self, worker: str, timeout: float | None = None, *, default_model: str = "") -> Claim | None:
        """Block until a job is available (or the queue stops / ``timeout`` passes); mark it running.

        Jobs for models ``worker`` failed to load lately wait for another worker (see server.failover);
        ``default_model`` is the model of jobs that name none.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._stopping:
                skipped = self.failures.skipped(worker)
                job = self.journal.claim(worker, skip_models=skipped, default_model=default_model)
                if job is not None:
                    token = CancelToken()
                    self._tokens[job.id] = token
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if skipped:                                # look again once a skipped model may be tried
                    retry = min(skipped.values())
                    remaining = retry if remaining is None else min(remaining, retry)
                self._cond.wait(remaining)
            else:
                return None
        self.emit(EventKind.STARTED, job)
        return Claim(job, token, worker)

    def adopt(self, job: JobRecord, worker: str, token: CancelToken) -> Claim:
        """A job a worker process claimed in the journal: hold its cancel token here, announce it.

        A cancel that arrived between the process's claim and this call found no token; it left
        ``cancel_requested`` in the journal, so it is honoured here.
        """
        with self._cond:
            self._tokens[job.id] = token
            now = self.journal.get(job.id)
            if now is not None and now.cancel_requested:
                token.trigger("cancelled")
        self.emit(EventKind.STARTED, job)
        return Claim(job, token, worker)

    def abandon(self, worker: str, reason: str, *, requeue: bool = True) -> list[JobRecord]:
        """``worker``'s process died: interrupt the jobs it held, then re-queue them (or settle them).

        Each goes ``running -> interrupted`` and then, if ``requeue``, as at startup: done if its
        complete result is on disk, failed after ``max_attempts`` runs, else queued again. A job
        whose cancel had been asked for is cancelled instead. Returns the jobs as they end up.
        """
        events: list[tuple[EventKind, JobRecord, dict[str, Any]]] = []
        with self._cond:
            for job in self.journal.running_for(worker):
                self._tokens.pop(job.id, None)
                if job.cancel_requested:
                    rec = self.journal.transition(job.id, JobState.CANCELLED, expect=[JobState.RUNNING],
                                                  worker=worker)
                    if rec is not None:
                        events.append((EventKind.CANCELLED, rec, {}))
                    continue
                rec = self.journal.transition(job.id, JobState.INTERRUPTED, expect=[JobState.RUNNING],
                                              worker=worker)
                if rec is None:
                    continue
                events.append((EventKind.INTERRUPTED, rec, {"reason": reason}))
                if requeue:
                    settled = self._settle(rec)
                    if settled is not None:
                        events.append((*settled, {}))
            self._cond.notify_all()
        for kind, rec, data in events:
            self.emit(kind, rec, **data)
        return list({rec.id: rec for _, rec, _ in events}.values())     # each job as it ends up

    def hand_back(self, claim: Claim, reason: str) -> JobRecord | None:
        """A worker could not load the job's model but another may: the job is queued again, in its place.

        The claim's attempt does not count. A cancel asked for meanwhile wins: the job is cancelled.
        Returns the job as it ends up, or None if it was settled otherwise meanwhile.
        """
        job_id = claim.job.id
        with self._cond:
            self._tokens.pop(job_id, None)
            now = self.journal.get(job_id)
            if (claim.token.is_set() and claim.token.reason == "cancelled") or (now is not None and now.cancel_requested):
                kind = EventKind.CANCELLED
                job = self.journal.transition(job_id, JobState.CANCELLED, expect=[JobState.RUNNING],
                                              worker=claim.worker)
            else:
                kind = EventKind.REQUEUED
                job = self.journal.hand_back(job_id, claim.worker)
            self._cond.notify_all()
        if job is None:
            logger.warning("job %s: not running for %s any more; not handed back", job_id, claim.worker)
            return None
        if kind == EventKind.REQUEUED:
            logger.info("job %s handed back to the queue: %s", job_id, reason)
            self.emit(kind, job, reason=reason)
        else:
            self.emit(kind, job)
        return job

    def _wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def progress(self, claim: Claim, stage: str, fraction: float) -> None:
        """Report progress (not journaled: it is only news)."""
        self.emit(EventKind.PROGRESS, claim.job, stage=stage, fraction=fraction)

    def finish(self, claim: Claim, state: JobState, **fields: Any) -> JobRecord | None:
        """Record how a claimed job ended (done, failed, cancelled, interrupted): once, or never."""
        with self._cond:
            self._tokens.pop(claim.job.id, None)
            job = self.journal.transition(claim.job.id, state, expect=[JobState.RUNNING], worker=claim.worker,
                                          **fields)
        if job is None:
            logger.warning("job %s: not running for %s any more; %s not recorded", claim.job.id, claim.worker,
                           state.value)
            return None
        kind = {JobState.DONE: EventKind.DONE, JobState.FAILED: EventKind.FAILED,
                JobState.CANCELLED: EventKind.CANCELLED, JobState.INTERRUPTED: EventKind.INTERRUPTED}[state]
        self.emit(kind, job)
        return job

    def running_tokens(self) -> dict[str, CancelToken]:
        with self._cond:
            return dict(self._tokens)

    # ------------------------------------------------------------------ lifecycle

    def recover(self, finished_output: FinishedOutput | None = None) -> None:
        """At startup: running rows are stale (their process is gone): interrupt and re-queue them.

        A job whose complete result is already on disk is marked done instead of run again; one
        interrupted ``max_attempts`` times fails (so a job that crashes the process cannot loop).
        ``finished_output`` is kept for :meth:`abandon` (a worker process that dies later).
        """
        if finished_output is not None:
            self._finished_output = finished_output
        for job in self.journal.list([JobState.RUNNING]):
            rec = self.journal.transition(job.id, JobState.INTERRUPTED, expect=[JobState.RUNNING])
            if rec is not None:
                self.emit(EventKind.INTERRUPTED, rec, reason="the server stopped while this job ran")
        for job in self.journal.list([JobState.INTERRUPTED]):
            settled = self._settle(job)
            if settled is not None:
                self.emit(*settled)
        with self._cond:
            self._cond.notify_all()

    def _settle(self, job: JobRecord) -> tuple[EventKind, JobRecord] | None:
        """An interrupted job: done if its result is on disk, failed after max_attempts, else queued."""
        found = self._finished_output(job) if self._finished_output is not None else None
        if found is not None:
            path, seconds = found
            rec = self.journal.transition(job.id, JobState.DONE, expect=[JobState.INTERRUPTED],
                                          result_path=path, seconds=seconds)
            kind = EventKind.DONE
        elif job.attempts >= self.max_attempts:
            rec = self.journal.transition(
                job.id, JobState.FAILED, expect=[JobState.INTERRUPTED],
                error=f"interrupted {job.attempts} times (the server stopped or crashed, or its worker died, "
                      "during this job)")
            kind = EventKind.FAILED
        else:
            rec = self.journal.transition(job.id, JobState.QUEUED, expect=[JobState.INTERRUPTED])
            kind = EventKind.REQUEUED
        return (kind, rec) if rec is not None else None

    def close(self) -> None:
        """Stop accepting new jobs (queued ones stay journaled for the next start)."""
        with self._cond:
            self._accepting = False

    def stop(self) -> None:
        """Wake every waiting worker and make ``claim`` return None from now on."""
        with self._cond:
            self._accepting = False
            self._stopping = True
            self._cond.notify_all()

    @property
    def accepting(self) -> bool:
        return self._accepting
