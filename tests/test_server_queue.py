"""Journal and queue stepped in memory: exact event lists, conditional transitions, recovery."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from server.errors import JobFinished, JobNotFound, QueueFull, ShuttingDown
from server.journal import TRANSITIONS, JobState, Journal, JournalError
from server.queue import EventKind, JobQueue


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def q(tmp_path):
    ids = (f"j{i:08x}" for i in itertools.count(1))
    journal = Journal(tmp_path / "jobs.sqlite", now=Clock())
    queue = JobQueue(journal, max_queue=3, max_attempts=2, now=Clock(), new_id=lambda: next(ids))
    events: list[tuple[str, str, str]] = []
    queue.subscribe(lambda e: events.append((e.kind.value, e.job.id, e.job.state.value)))
    yield queue, events
    journal.close()


def test_a_job_walks_queued_running_done_with_one_event_per_transition(q):
    queue, events = q
    job = queue.submit("a", {"seconds_length": 1.0})
    claim = queue.claim("w0", timeout=0)
    assert claim is not None and claim.job.id == job.id and claim.job.state == JobState.RUNNING
    queue.progress(claim, "level2", 0.5)
    done = queue.finish(claim, JobState.DONE, result_path="/x.wav", seconds=1.0)
    assert done.state == JobState.DONE and done.result_path == "/x.wav" and done.finished_at is not None
    assert events == [("accepted", job.id, "queued"), ("started", job.id, "running"),
                      ("progress", job.id, "running"), ("done", job.id, "done")]


def test_finish_happens_once_and_only_for_the_claiming_worker(q):
    queue, events = q
    queue.submit("a", {})
    claim = queue.claim("w0", timeout=0)
    assert queue.finish(claim, JobState.DONE, result_path="/x", seconds=1.0) is not None
    assert queue.finish(claim, JobState.DONE, result_path="/x", seconds=1.0) is None
    assert queue.finish(claim, JobState.FAILED, error="late") is None
    assert [e[0] for e in events].count("done") == 1
    assert [e[0] for e in events].count("failed") == 0


def test_fifo_order_and_empty_claim_returns_none(q):
    queue, _ = q
    ids = [queue.submit(n, {}).id for n in "abc"]
    claimed = [queue.claim("w0", timeout=0).job.id for _ in ids]
    assert claimed == ids
    assert queue.claim("w0", timeout=0) is None


def test_queue_is_bounded_and_closes(q):
    queue, _ = q
    for n in "abc":
        queue.submit(n, {})
    with pytest.raises(QueueFull, match="max_queue 3"):
        queue.submit("d", {})
    queue.claim("w0", timeout=0)          # running jobs do not count against the bound
    queue.submit("d", {})
    queue.close()
    with pytest.raises(ShuttingDown):
        queue.submit("e", {})


def test_cancel_queued_is_immediate_running_sets_token_finished_is_an_error(q):
    queue, events = q
    a = queue.submit("a", {})
    b = queue.submit("b", {})
    claim = queue.claim("w0", timeout=0)
    assert claim.job.id == a.id
    assert queue.cancel(b.id) == JobState.CANCELLED
    assert queue.journal.get(b.id).state == JobState.CANCELLED
    assert queue.cancel(a.id) == JobState.RUNNING
    assert claim.token.is_set() and claim.token.reason == "cancelled"
    assert queue.journal.get(a.id).cancel_requested
    queue.finish(claim, JobState.CANCELLED)
    with pytest.raises(JobFinished, match="already cancelled"):
        queue.cancel(a.id)
    with pytest.raises(JobNotFound):
        queue.cancel("jnothere")
    assert ("cancelled", b.id, "cancelled") in events and ("cancelled", a.id, "cancelled") in events


def test_cancel_all_hits_queued_and_running(q):
    queue, _ = q
    for n in "abc":
        queue.submit(n, {})
    claim = queue.claim("w0", timeout=0)
    assert queue.cancel_all() == 3
    assert claim.token.is_set()
    assert queue.journal.count(JobState.QUEUED) == 0


def test_recover_requeues_stale_running_and_keeps_finished(q, tmp_path):
    queue, events = q
    a = queue.submit("a", {})
    b = queue.submit("b", {})
    queue.claim("w0", timeout=0)                      # a is running when the process "dies"
    events.clear()
    queue.recover(lambda job: None)
    assert events == [("interrupted", a.id, "interrupted"), ("requeued", a.id, "queued")]
    assert queue.journal.get(a.id).state == JobState.QUEUED
    assert queue.journal.get(b.id).state == JobState.QUEUED
    # a keeps its place at the head of the queue (journal order), and its attempt count
    claim = queue.claim("w1", timeout=0)
    assert claim.job.id == a.id and claim.job.attempts == 2


def test_recover_marks_done_when_the_result_is_on_disk_and_fails_after_max_attempts(q):
    queue, events = q
    a = queue.submit("a", {})
    queue.claim("w0", timeout=0)
    queue.recover(lambda job: ("/out/a.wav", 2.0))
    assert queue.journal.get(a.id).state == JobState.DONE
    assert queue.journal.get(a.id).result_path == "/out/a.wav"
    b = queue.submit("b", {})
    for _ in range(2):                                 # max_attempts=2 interrupted runs
        queue.claim("w0", timeout=0)
        events.clear()
        queue.recover(lambda job: None)
    assert queue.journal.get(b.id).state == JobState.FAILED
    assert "interrupted 2 times" in queue.journal.get(b.id).error
    assert events[-1] == ("failed", b.id, "failed")


def test_stop_wakes_a_waiting_worker(q):
    import threading

    queue, _ = q
    got = []
    t = threading.Thread(target=lambda: got.append(queue.claim("w0")))
    t.start()
    queue.stop()
    t.join(5)
    assert not t.is_alive() and got == [None]


def test_state_machine_rejects_transitions_it_does_not_allow(q):
    queue, _ = q
    job = queue.submit("a", {})
    with pytest.raises(JournalError, match="done -> queued"):
        queue.journal.transition(job.id, JobState.QUEUED, expect=[JobState.DONE])
    for state in JobState:
        assert state in TRANSITIONS
    assert all(not TRANSITIONS[s] for s in JobState if s.final)


def test_journal_is_wal_and_rejects_unknown_states(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    with pytest.raises(sqlite3.IntegrityError):
        with journal.transaction() as db:
            db.execute("INSERT INTO jobs (id, name, state, request, source, created_at) "
                       "VALUES ('x', 'x', 'bogus', '{}', 'osc', 0)")
    journal.close()


def test_events_vocabulary_is_closed():
    assert {k.value for k in EventKind} == {"accepted", "started", "progress", "done", "failed", "cancelled",
                                             "interrupted", "requeued"}
