"""The job journal: one SQLite (WAL) row per job, a closed set of states, conditional transitions.

Every transition is one ``UPDATE ... WHERE state IN (...)``, so a job can reach a final state only
once, and only from the state the caller saw. A claim marks the row ``running`` (it is never
deleted), so after ``kill -9`` :meth:`Journal.recover` finds it and queues it again.
"""

from __future__ import annotations

import contextlib
import enum
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class JobState(enum.StrEnum):
    """The closed set of job states (values are what the journal and OSC replies carry)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"   # the server stopped or died while the job ran; re-queued at startup

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})

# Which state may follow which; anything else is a bug and raises.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    # running -> queued: a worker that could not load the job's model hands it back (Journal.hand_back).
    JobState.RUNNING: frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED,
                                 JobState.QUEUED}),
    JobState.INTERRUPTED: frozenset({JobState.QUEUED, JobState.FAILED, JobState.DONE}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s.value) for s in JobState)})),
    request TEXT NOT NULL,
    source TEXT NOT NULL,
    reply_host TEXT,
    reply_port INTEGER,
    tag TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    result_path TEXT,
    seconds REAL,
    error TEXT,
    model TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = ("seq", "id", "name", "state", "request", "source", "reply_host", "reply_port", "tag", "attempts",
            "worker", "cancel_requested", "created_at", "started_at", "finished_at", "result_path", "seconds",
            "error", "model")
# Nullable columns added after schema 1 shipped: a journal from before gets them in place (NULL in old rows).
_ADDED_COLUMNS = {"model": "TEXT"}


class JournalError(RuntimeError):
    """The journal file is unusable (wrong schema version, or a transition the state machine forbids)."""


@dataclass(frozen=True)
class JobRecord:
    """One row of the journal, as plain data."""

    id: str
    name: str
    state: JobState
    request: dict[str, Any]
    source: str = "osc"
    reply_host: str | None = None
    reply_port: int | None = None
    tag: str | None = None
    attempts: int = 0
    worker: str | None = None
    cancel_requested: bool = False
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    result_path: str | None = None
    seconds: float | None = None
    error: str | None = None
    model: str | None = None      # the model selected when it was submitted; None (older journals): the configured one
    seq: int = field(default=0, compare=False)

    @property
    def reply_to(self) -> tuple[str, int] | None:
        if self.reply_host is None or self.reply_port is None:
            return None
        return (self.reply_host, self.reply_port)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        d = {k: row[k] for k in _COLUMNS}
        d["state"] = JobState(d["state"])
        d["request"] = json.loads(d["request"])
        d["cancel_requested"] = bool(d["cancel_requested"])
        return cls(**d)


class Journal:
    """Thread-safe access to the jobs table (one connection, one lock, short transactions)."""

    def __init__(self, path: str | Path, *, now: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._now = now
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a process crash loses nothing; only an OS crash may lose the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) != SCHEMA_VERSION:
                raise JournalError(f"{self.path}: journal schema {row['value']} is not {SCHEMA_VERSION}; "
                                   "move the file away to start a fresh journal")
            have = {r["name"] for r in db.execute("PRAGMA table_info(jobs)").fetchall()}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: other services (hot folder) may keep their tables here too."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ writes

    def add(self, job_id: str, name: str, request: dict[str, Any], *, source: str = "osc",
            reply_to: tuple[str, int] | None = None, tag: str | None = None, model: str | None = None) -> JobRecord:
        """Insert a new queued job (raises sqlite3.IntegrityError if the id exists)."""
        host, port = reply_to if reply_to else (None, None)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO jobs (id, name, state, request, source, reply_host, reply_port, tag, created_at, model) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, name, JobState.QUEUED.value, json.dumps(request, sort_keys=True), source, host, port,
                 tag, self._now(), model),
            )
            return self._get(db, job_id)

    def claim(self, worker: str, *, skip_models: Collection[str] = (), default_model: str = "") -> JobRecord | None:
        """Mark the oldest queued job running for ``worker`` and return it (None: none it may take).

        Jobs for ``skip_models`` (models this worker failed to load lately; a job without a model
        is ``default_model``'s) are left for other workers. Safe across processes (one worker
        process per GPU, each with its own connection):
        ``BEGIN IMMEDIATE`` takes SQLite's write lock before the read, so no other connection can
        claim between the SELECT and the UPDATE, and the UPDATE is still conditional on the row
        being queued, so a claim never takes a job someone else holds.
        """
        sql = "SELECT id FROM jobs WHERE state=?"
        args: list[Any] = [JobState.QUEUED.value]
        if skip_models:
            skip = sorted(skip_models)
            sql += f" AND COALESCE(model, ?) NOT IN ({', '.join('?' for _ in skip)})"
            args += [default_model, *skip]
        with self.transaction() as db:
            row = db.execute(sql + " ORDER BY seq LIMIT 1", args).fetchone()
            if row is None:
                return None
            cur = db.execute("UPDATE jobs SET state=?, worker=?, started_at=?, attempts=attempts+1, "
                             "cancel_requested=0 WHERE id=? AND state=?",
                             (JobState.RUNNING.value, worker, self._now(), row["id"], JobState.QUEUED.value))
            if cur.rowcount != 1:  # pragma: no cover - impossible under the write lock; never double-claim
                return None
            return self._get(db, row["id"])

    def hand_back(self, job_id: str, worker: str) -> JobRecord | None:
        """``worker`` gives a job it holds back, unrun: queued again in its old place, the claim's attempt undone.

        None if ``worker`` does not hold it running any more (it was settled meanwhile).
        """
        with self.transaction() as db:
            cur = db.execute("UPDATE jobs SET state=?, worker=NULL, started_at=NULL, attempts=MAX(0, attempts-1) "
                             "WHERE id=? AND state=? AND worker=?",
                             (JobState.QUEUED.value, job_id, JobState.RUNNING.value, worker))
            if cur.rowcount != 1:
                return None
            return self._get(db, job_id)

    def transition(self, job_id: str, to: JobState, *, expect: Iterable[JobState],
                   worker: str | None = None, **fields: Any) -> JobRecord | None:
        """Move ``job_id`` to ``to`` if it is in one of ``expect`` (and, if given, held by ``worker``).

        Returns the updated record, or None when the row was not in an expected state: the caller
        lost a race (e.g. a cancel), and must not report the transition.
        """
        expect = tuple(expect)
        for src in expect:
            if to not in TRANSITIONS[src]:
                raise JournalError(f"transition {src.value} -> {to.value} is not allowed")
        allowed = {"result_path", "seconds", "error", "worker", "started_at"}
        bad = set(fields) - allowed
        if bad:
            raise JournalError(f"cannot set {sorted(bad)} in a transition")
        sets = ["state=?"] + [f"{k}=?" for k in fields]
        args: list[Any] = [to.value, *fields.values()]
        if to.final:
            sets.append("finished_at=?")
            args.append(self._now())
        where = f"id=? AND state IN ({', '.join('?' for _ in expect)})"
        args += [job_id, *(s.value for s in expect)]
        if worker is not None:
            where += " AND worker=?"
            args.append(worker)
        with self.transaction() as db:
            cur = db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE {where}", args)
            if cur.rowcount != 1:
                return None
            return self._get(db, job_id)

    def request_cancel(self, job_id: str) -> JobRecord | None:
        """Flag a running job for cancellation (a worker in another process can poll it)."""
        with self.transaction() as db:
            db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=? AND state=?", (job_id, JobState.RUNNING.value))
            return self._get(db, job_id)

    # ------------------------------------------------------------------ reads

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._get(self._db, job_id)

    def list(self, states: Iterable[JobState] | None = None, *, limit: int | None = None,
             newest_first: bool = False) -> list[JobRecord]:
        sql = "SELECT * FROM jobs"
        args: list[Any] = []
        if states is not None:
            states = tuple(states)
            sql += f" WHERE state IN ({', '.join('?' for _ in states)})"
            args += [s.value for s in states]
        sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._lock:
            return [JobRecord.from_row(r) for r in self._db.execute(sql, args).fetchall()]

    def running_for(self, worker: str) -> list[JobRecord]:
        """The jobs ``worker`` holds (after its process died: what must be re-queued)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE state=? AND worker=? ORDER BY seq",
                                    (JobState.RUNNING.value, worker)).fetchall()
            return [JobRecord.from_row(r) for r in rows]

    def count(self, state: JobState) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM jobs WHERE state=?", (state.value,)).fetchone()[0])

    @staticmethod
    def _get(db: sqlite3.Connection, job_id: str) -> JobRecord | None:
        row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return JobRecord.from_row(row) if row is not None else None
