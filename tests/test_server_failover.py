"""A job is not failed because ONE worker cannot load its model while another may (issue 13).

The rules (server.failover) with a hand-driven clock; the journal's skipping claim and hand-back
on a real SQLite file; then real servers with two workers, threads and processes, whose loader
fails the model on worker w0 only, or on both.
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from jbdiff.errors import CheckpointError
from server.failover import LoadFailures
from server.journal import JobState, Journal
from server.queue import EventKind, JobQueue
from tests.server_helpers import StandInEngine, serving, wait_for

pytestmark = pytest.mark.timeout(120)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _worker_name() -> str:
    """``w0`` / ``w1``: from the worker thread's name, or the worker process's."""
    for name in (threading.current_thread().name, multiprocessing.current_process().name):
        if name.startswith("jbdiff-worker-"):
            return name.removeprefix("jbdiff-worker-")
    return "?"


def failing_loader(device: str, model: str, *, fail_on: tuple[str, ...], bad: str, gate: str = "") -> StandInEngine:
    """Workers in ``fail_on`` cannot load ``bad``; w1's loads wait for the file ``gate`` (if given) to exist."""
    worker = _worker_name()
    if gate and worker == "w1":
        deadline = time.monotonic() + 60
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    if model == bad and worker in fail_on:
        raise CheckpointError(f"no weights for {model} on {worker} (out of memory on its card)")
    return StandInEngine(steps_per_level=1, step_seconds=0.001)


# ---------------------------------------------------------------------------- the rules


def test_a_worker_skips_a_model_it_failed_only_while_another_live_worker_has_not_failed_it():
    clock = Clock()
    f = LoadFailures(retry_after_s=10.0, monotonic=clock)
    changes: list[int] = []
    f.subscribe(lambda: changes.append(1))
    f.set_live("w0", True)
    f.set_live("w1", True)
    f.failed("w0", "m")
    assert f.skipped("w0") == {"m": 10.0} and f.skipped("w1") == {}
    assert f.others_can_try("w0", "m") and not f.others_can_try("w1", "m")     # w1 may; w0 failed it

    clock.t += 4.0
    f.failed("w1", "m")                                    # now every live worker failed it: nobody skips it
    assert f.skipped("w0") == {} and f.skipped("w1") == {}
    assert not f.others_can_try("w0", "m") and not f.others_can_try("w1", "m")

    clock.t += 7.0                                         # w0's failure is 11 s old: it may try again
    assert f.others_can_try("w1", "m") and not f.others_can_try("w0", "m")
    assert f.skipped("w1") == {"m": pytest.approx(3.0)}    # w1's is 7 s old: 3 s to go while w0 may try

    f.loaded("w1", "m")                                    # a successful load clears that worker's failure
    assert f.skipped("w1") == {} and f.others_can_try("w0", "m")
    f.set_live("w0", False)                                # a worker that takes no jobs is no one to hand to
    assert not f.others_can_try("w1", "m")
    assert len(changes) == 6                               # every change is announced (waiting claims look again)


# ---------------------------------------------------------------------------- journal and queue


@pytest.fixture
def q(tmp_path):
    journal = Journal(tmp_path / "jobs.sqlite")
    yield JobQueue(journal)
    journal.close()


def test_a_claim_skips_the_models_it_is_told_to_and_a_job_without_model_is_the_default(q):
    a = q.journal.add("a", "a", {}, model=None)            # an old journal's job: the default model's
    b = q.journal.add("b", "b", {}, model="m")
    c = q.journal.add("c", "c", {}, model="tiny")
    assert q.journal.claim("w0", skip_models={"tiny", "m"}, default_model="demo").id == a.id
    assert q.journal.claim("w0", skip_models={"m"}, default_model="demo").id == c.id
    assert q.journal.claim("w0", skip_models={"m"}, default_model="demo") is None
    assert q.journal.claim("w1", skip_models={"demo"}, default_model="demo").id == b.id


def test_a_handed_back_job_keeps_its_place_and_attempts_and_a_cancel_meanwhile_wins(q):
    events = []
    q.subscribe(events.append)
    first = q.submit("first", {}, model="m")
    second = q.submit("second", {}, model="m")
    claim = q.claim("w0", timeout=1)
    assert claim.job.id == first.id and claim.job.attempts == 1
    back = q.hand_back(claim, "w0 cannot load m")
    assert back.state == JobState.QUEUED and back.attempts == 0 and back.worker is None
    assert events[-1].kind == EventKind.REQUEUED and events[-1].data["reason"] == "w0 cannot load m"
    assert q.hand_back(claim, "again") is None             # not held any more: nothing recorded twice

    again = q.claim("w1", timeout=1)
    assert again.job.id == first.id and again.job.attempts == 1      # oldest first, the attempt not burned
    q.cancel(first.id)                                      # asked while its worker found it cannot load
    assert q.hand_back(again, "w1 cannot load m").state == JobState.CANCELLED
    assert events[-1].kind == EventKind.CANCELLED
    assert q.journal.get(second.id).state == JobState.QUEUED


# ---------------------------------------------------------------------------- real servers


@pytest.fixture
def serve(tmp_path):
    yield from serving(tmp_path)


def _one_worker_cannot_load(serve, tmp_path, mode: str) -> None:
    """w0 fails ``demo``; w1 is held loading until w0 has handed the first job back; all run on w1."""
    gate = tmp_path / "w1-may-load"
    srv, client = serve(loader=functools.partial(failing_loader, fail_on=("w0",), bad="demo", gate=str(gate)),
                        workers=["cpu", "cpu"], worker_mode=mode, ready=False)
    assert srv.worker_mode == mode
    assert srv.workers[0].loaded.wait(60)
    client.request("/jbdiff/model/set", "demo")
    ids = []
    for _ in range(4):
        client.send("/jbdiff/generate", "seconds", 0.1, "steps", 2)
        ids.append(client.expect("/jbdiff/job/accepted")[0])
    assert client.expect("/jbdiff/job/requeued", 30)[0] == ids[0]          # w0 took it, could not load demo
    gate.touch()
    done = {client.expect("/jbdiff/job/done", 60)[0] for _ in ids}
    assert done == set(ids) and not client.events("/jbdiff/job/failed")
    jobs = [srv.journal.get(i) for i in ids]
    assert [(j.state, j.worker, j.attempts, j.model) for j in jobs] == [(JobState.DONE, "w1", 1, "demo")] * 4
    assert len(client.events("/jbdiff/job/requeued")) == 1                  # w0 left the others alone at once
    assert srv.workers[0].load_failure[0] == "demo"


def test_thread_workers_hand_a_job_to_the_worker_that_can_load_its_model(serve, tmp_path):
    _one_worker_cannot_load(serve, tmp_path, "thread")


def test_worker_processes_hand_a_job_to_the_worker_that_can_load_its_model(serve, tmp_path):
    _one_worker_cannot_load(serve, tmp_path, "process")


def test_when_every_worker_fails_the_model_its_jobs_fail_with_the_load_error_and_others_run(serve):
    srv, client = serve(loader=functools.partial(failing_loader, fail_on=("w0", "w1"), bad="demo"),
                        workers=["cpu", "cpu"], worker_mode="thread")
    client.request("/jbdiff/model/set", "demo")
    client.send("/jbdiff/generate", "seconds", 0.1, "steps", 2)
    doomed = client.expect("/jbdiff/job/accepted")[0]
    client.request("/jbdiff/model/set", "tiny")
    client.send("/jbdiff/generate", "seconds", 0.1, "steps", 2)
    fine = client.expect("/jbdiff/job/accepted")[0]
    failed = client.expect("/jbdiff/job/failed", 30)
    assert failed[0] == doomed and "cannot load model demo" in failed[1] and "no weights for demo" in failed[1]
    assert client.expect("/jbdiff/job/done", 30)[0] == fine
    assert len(client.events("/jbdiff/job/requeued", doomed)) == 1         # the first worker handed it on
    assert srv.journal.get(doomed).attempts == 1

    # Both failed it lately: the next job for it is not handed around, it fails at once.
    client.request("/jbdiff/model/set", "demo")
    client.send("/jbdiff/generate", "seconds", 0.1, "steps", 2)
    retry = client.expect("/jbdiff/job/accepted")[0]
    assert client.expect("/jbdiff/job/failed", 30)[0] == retry
    assert not client.events("/jbdiff/job/requeued", retry)
    wait_for(lambda: srv.journal.count(JobState.QUEUED) == 0, 5, "an empty queue")
