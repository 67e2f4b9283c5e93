"""Worker processes: one journal, several processes claiming from it, supervised by the server.

Real processes throughout: ``spawn`` children, SIGKILL, the real tiny pipeline where the model
matters, UDP on loopback for what clients see.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from jbdiff.errors import CheckpointError, ConfigError
from server.config import parse_server_config
from server.journal import JobState, Journal
from server.worker import Worker
from server.worker_process import ProcessWorker, choose_mode, make_workers, restart_delay
from tests.server_helpers import (
    OscClient,
    StandInEngine,
    free_port,
    pid_alive,
    serving,
    status,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- engines the children load
# Module-level, so a worker process can import them (the spawn context pickles them by name).


class RecordingEngine(StandInEngine):
    """The stand-in with the live hook; the guidance scale it saw at each step goes into the sidecar."""

    def generate(self, request, *, progress=None, cancel=None, live=None):
        seen: list[float | None] = []

        def spy(stage, level, step, total):
            seen.append(live.get("embedding_strength", {}).get(2))
            if progress is not None:
                progress(stage, level, step, total)

        result = super().generate(request, progress=spy, cancel=cancel)
        result.metadata["seen"] = seen
        return result


def recording_engine(device: str, steps: int = 40, step_seconds: float = 0.01) -> RecordingEngine:
    return RecordingEngine(steps_per_level=steps, step_seconds=step_seconds)


def factory(device: str, model: str) -> RecordingEngine:
    """``engine_factory: tests.test_server_workers:factory`` (for a server run as a subprocess)."""
    return RecordingEngine(steps_per_level=400, step_seconds=0.01)


def crash_on_load(device: str) -> None:
    os._exit(7)


class CrashOnGenerate:
    def generate(self, request, *, progress=None, cancel=None):
        os._exit(9)


def crash_on_generate(device: str) -> CrashOnGenerate:
    return CrashOnGenerate()


def missing_weights(device: str) -> None:
    raise CheckpointError("no weights in /nowhere")


def weights_for_tiny_only(device: str, model: str) -> RecordingEngine:
    """Every model but ``tiny`` is missing its checkpoints."""
    if model != "tiny":
        raise CheckpointError(f"no weights for {model} in /nowhere")
    return RecordingEngine(steps_per_level=2, step_seconds=0.001)


# ---------------------------------------------------------------------------- helpers


@pytest.fixture
def serve(tmp_path):
    """``serve(loader=..., **config)`` -> (server, client registered with /jbdiff/hello), ready."""
    yield from serving(tmp_path)


# ---------------------------------------------------------------------------- choosing workers


def test_auto_mode_uses_processes_for_several_workers_and_threads_for_one_or_an_in_process_loader(tmp_path):
    def cfg(**kw):
        return parse_server_config({"data_dir": str(tmp_path), **kw})

    assert choose_mode(cfg(), ["cuda:0", "cuda:1"], in_process_loader=False) == "process"
    assert choose_mode(cfg(), ["cpu"], in_process_loader=False) == "thread"
    assert choose_mode(cfg(), ["cpu", "cpu"], in_process_loader=True) == "thread"
    assert choose_mode(cfg(worker_mode="process"), ["cpu"], in_process_loader=True) == "process"
    assert choose_mode(cfg(worker_mode="thread"), ["cuda:0", "cuda:1"], in_process_loader=False) == "thread"
    journal = Journal(tmp_path / "jobs.sqlite")
    from server.queue import JobQueue

    queue = JobQueue(journal)
    mode, workers = make_workers(cfg(workers=["cpu", "cpu"]), queue)
    assert mode == "process" and all(isinstance(w, ProcessWorker) for w in workers)
    assert [w.name for w in workers] == ["w0", "w1"]
    mode, workers = make_workers(cfg(workers=["cpu"]), queue)
    assert mode == "thread" and isinstance(workers[0], Worker)
    with pytest.raises(ConfigError, match="worker_mode: 'process' needs an engine loader"):
        make_workers(cfg(worker_mode="process"), queue, lambda device: None)
    with pytest.raises(ConfigError, match="restart_delay_max_s"):
        cfg(restart_delay_s=5, restart_delay_max_s=1)
    with pytest.raises(ConfigError, match="worker_mode"):
        cfg(worker_mode="fork")
    journal.close()


def test_restart_delay_doubles_from_the_base_up_to_the_cap():
    delays = [restart_delay(n, 0.5, 6.0) for n in range(1, 7)]
    assert delays == [0.5 * 2 ** (n - 1) for n in range(1, 5)] + [6.0, 6.0]


# ---------------------------------------------------------------------------- the queue's side, in memory


@pytest.fixture
def q(tmp_path):
    from server.queue import JobQueue

    journal = Journal(tmp_path / "jobs.sqlite")
    queue = JobQueue(journal, max_attempts=2)
    events: list[tuple[str, str, str, dict]] = []
    queue.subscribe(lambda e: events.append((e.kind.value, e.job.id, e.job.state.value, e.data)))
    yield queue, events
    journal.close()


def test_abandon_requeues_only_the_dead_workers_job_then_fails_it_after_max_attempts(q):
    queue, events = q
    a, b = queue.submit("a", {}), queue.submit("b", {})
    assert queue.journal.claim("w0").id == a.id and queue.journal.claim("w1").id == b.id
    events.clear()
    assert [j.state for j in queue.abandon("w0", "worker w0 was killed by SIGKILL")] == [JobState.QUEUED]
    assert events == [("interrupted", a.id, "interrupted", {"reason": "worker w0 was killed by SIGKILL"}),
                      ("requeued", a.id, "queued", {})]
    assert queue.journal.get(b.id).state == JobState.RUNNING          # the other worker's job is untouched
    assert queue.journal.claim("w0").id == a.id                       # second run: attempts 2 = max_attempts
    events.clear()
    [failed] = queue.abandon("w0", "worker w0 exited with code 1")
    assert failed.state == JobState.FAILED and "interrupted 2 times" in failed.error
    assert [e[0] for e in events] == ["interrupted", "failed"]
    assert queue.abandon("w0", "again") == []                          # nothing held: nothing happens


def test_abandon_settles_a_finished_result_a_cancel_and_a_shutdown_without_running_again(q, tmp_path):
    queue, events = q
    done, cancelled, stopped = (queue.submit(n, {}) for n in "xyz")
    queue.recover(lambda job: ("/out/x.wav", 1.5) if job.id == done.id else None)
    for worker in ("w0", "w1", "w2"):
        queue.journal.claim(worker)
    queue.journal.request_cancel(cancelled.id)
    events.clear()
    assert queue.abandon("w0", "gone")[0].state == JobState.DONE       # its complete result is on disk
    assert queue.journal.get(done.id).result_path == "/out/x.wav"
    assert queue.abandon("w1", "gone")[0].state == JobState.CANCELLED  # a cancel was asked for: not run again
    assert queue.abandon("w2", "gone", requeue=False)[0].state == JobState.INTERRUPTED   # at shutdown
    assert [e[0] for e in events] == ["interrupted", "done", "cancelled", "interrupted"]


def test_adopt_honours_a_cancel_that_came_before_the_server_heard_of_the_claim(q):
    from server.queue import CancelToken

    queue, events = q
    job = queue.submit("a", {})
    claimed = queue.journal.claim("w0")                    # in a worker process
    assert queue.cancel(job.id) == JobState.RUNNING        # no token here yet: only the journal flag
    token = CancelToken()
    claim = queue.adopt(claimed, "w0", token)
    assert token.is_set() and token.reason == "cancelled" and claim.worker == "w0"
    assert events[-1][:3] == ("started", job.id, "running")
    assert queue.running_tokens() == {job.id: token}
    assert queue.finish(claim, JobState.CANCELLED).state == JobState.CANCELLED
    again = queue.submit("b", {})
    queue.journal.request_cancel(again.id)                 # not running: no flag set
    assert not queue.journal.claim("w0").cancel_requested


# ---------------------------------------------------------------------------- claiming across processes

CLAIMER = """
import sys, time
from pathlib import Path
from server.journal import Journal
path, name, ready, go = sys.argv[1:5]
journal = Journal(path)
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.001)
got = []
while (job := journal.claim(name)) is not None:
    got.append(job.id)
    time.sleep(0.001)       # as a worker does between claims: lets the others in, so claims interleave
print(" ".join(got))
"""


def test_claims_from_several_processes_never_take_the_same_job(tmp_path):
    journal = Journal(tmp_path / "jobs.sqlite")
    ids = [f"j{i:08x}" for i in range(300)]
    for job_id in ids:
        journal.add(job_id, "x", {})
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(journal.path), f"p{i}", str(tmp_path / f"r{i}"),
                               str(go)], stdout=subprocess.PIPE, text=True, env=env) for i in range(4)]
    wait_for(lambda: all((tmp_path / f"r{i}").exists() for i in range(4)), 60, "the claimers to start")
    go.touch()                                  # all four claim at once, as fast as they can
    claimed = {f"p{i}": proc.communicate(timeout=60)[0].split() for i, proc in enumerate(procs)}
    assert all(proc.returncode == 0 for proc in procs)
    every = [job_id for got in claimed.values() for job_id in got]
    assert len(every) == len(set(every)) == len(ids) and set(every) == set(ids)     # each once, none lost
    assert sum(1 for got in claimed.values() if got) >= 2, {k: len(v) for k, v in claimed.items()}
    for name, got in claimed.items():
        for job_id in got:
            job = journal.get(job_id)
            assert (job.state, job.worker, job.attempts) == (JobState.RUNNING, name, 1)
    journal.close()


# ---------------------------------------------------------------------------- the test


def test_sigkill_of_a_worker_process_mid_job_requeues_it_and_every_job_completes_exactly_once(serve):
    done_checks: list[tuple[str, bool, bool]] = []

    def on_message(address, params):
        if address == "/jbdiff/job/done":       # checked when the message arrives, not later
            wav = Path(params[1])
            done_checks.append((params[0], wav.is_file(), wav.with_suffix(".json").is_file()))

    # Two CPU worker processes (worker_mode auto), each loading the real tiny pipeline itself.
    srv, client = serve(workers=["cpu", "cpu"], restart_delay_s=0.1, on_message=on_message)
    assert srv.worker_mode == "process"
    kv = status(client)
    pids = [kv["worker.0.pid"], kv["worker.1.pid"]]
    assert len(set(pids) | {os.getpid()}) == 3 and all(pid_alive(p) for p in pids)
    ids = []
    for i in range(4):                  # the first job takes a few seconds, the others a fraction of one
        client.send("/jbdiff/generate", "seconds", 1.0 if i == 0 else 0.5, "steps", 20 if i == 0 else 2,
                    "name", f"take{i}", "noise_seed", i)
        ids.append(client.expect("/jbdiff/job/accepted")[0])
    client.expect("/jbdiff/job/progress", 30, where=lambda p: p[0] == ids[0])
    kv = status(client)
    victim = next(i for i in range(2) if kv[f"worker.{i}"].endswith(ids[0]))
    old_pid = kv[f"worker.{victim}.pid"]
    os.kill(old_pid, signal.SIGKILL)

    finished = {client.expect("/jbdiff/job/done", 60)[0] for _ in ids}
    assert finished == set(ids)
    time.sleep(0.3)                                                 # room for a (wrong) duplicate to arrive
    assert Counter(p[0] for p in client.events("/jbdiff/job/done")) == Counter({i: 1 for i in ids})
    assert sorted(done_checks) == sorted((i, True, True) for i in ids)      # WAV and sidecar before done
    assert client.events("/jbdiff/job/interrupted") == [[ids[0]]]
    assert client.events("/jbdiff/job/requeued") == [[ids[0]]]
    assert len(client.events("/jbdiff/job/started", ids[0])) == 2            # the killed job ran again
    assert [srv.journal.get(i).attempts for i in ids] == [2, 1, 1, 1]
    assert all(srv.journal.get(i).state == JobState.DONE for i in ids)
    wavs = sorted(srv.cfg.output_dir.glob("*.wav"))
    assert [w.name.split("_")[0] for w in wavs] == sorted(ids)               # one WAV per job
    assert not list(srv.cfg.output_dir.glob(".*.part"))
    for wav in wavs:
        info = sf.info(str(wav))
        assert info.channels == 2 and info.samplerate == 44100
        assert json.loads(wav.with_suffix(".json").read_text())["job_id"] == wav.name.split("_")[0]

    kv = wait_for(lambda: (s := status(client))[f"worker.{victim}"].startswith("cpu ready") and s, 30,
                  "the killed worker to be back")
    assert kv[f"worker.{victim}.restarts"] == 1 and kv[f"worker.{victim}.pid"] not in (0, old_pid)
    assert pid_alive(kv[f"worker.{victim}.pid"]) and not pid_alive(old_pid)
    assert kv[f"worker.{1 - victim}.restarts"] == 0 and kv[f"worker.{1 - victim}.pid"] == pids[1 - victim]


# ---------------------------------------------------------------------------- across the process boundary


def test_a_worker_process_reports_status_takes_live_params_and_cancels(serve):
    srv, client = serve(loader=functools.partial(recording_engine, steps=40), worker_mode="process")
    worker = srv.workers[0]
    kv = status(client)
    assert kv["worker_mode"] == "process" and kv["workers"] == 1 and kv["model"] == "ready"
    assert kv["worker.0"] == "cpu ready idle" and kv["worker.0.restarts"] == 0
    assert kv["worker.0.pid"] == worker.pid != os.getpid() and pid_alive(worker.pid)
    params = client.request("/jbdiff/params")
    assert {params[i]: params[i + 2] for i in range(0, len(params), 3)}["embedding_strength"] == "running"

    # A live parameter reaches the job rendering in the child.
    client.send("/jbdiff/generate", "seconds", 0.1, "levels", "2", "embedding_strength", 1.0)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    client.expect("/jbdiff/job/progress", 10)
    assert status(client)["worker.0"] == f"cpu ready {job_id}"
    client.request("/jbdiff/param/set", "embedding_strength", 7.5)
    wav = client.expect("/jbdiff/job/done", 30)[1]
    seen = json.loads(Path(wav).with_suffix(".json").read_text())["metadata"]["seen"]
    assert seen[0] == 1.0 and seen[-1] == 7.5

    # A cancel reaches it too; the child survives and takes the next job.
    client.send("/jbdiff/generate", "seconds", 0.1)               # four stages of 40 steps: over a second
    slow = client.expect("/jbdiff/job/accepted")[0]
    client.expect("/jbdiff/job/progress", 10, where=lambda p: p[0] == slow)
    assert client.request("/jbdiff/cancel", slow) == [slow, "cancelling"]
    assert client.expect("/jbdiff/job/cancelled", 10) == [slow]
    assert srv.journal.get(slow).state == JobState.CANCELLED
    assert not list(srv.cfg.output_dir.glob(f"{slow}_*"))
    client.send("/jbdiff/generate", "seconds", 0.1, "levels", "2")
    after = client.expect("/jbdiff/job/accepted")[0]
    assert client.expect("/jbdiff/job/done", 30)[0] == after
    assert worker.pid == kv["worker.0.pid"] and worker.restarts == 0

    # Shutdown with on_shutdown cancel interrupts the running job (it runs at the next start).
    last = srv.submit({"seconds": 0.1})
    client.expect("/jbdiff/job/progress", 10, where=lambda p: p[0] == last.id)
    child = worker.pid
    srv.stop(on_shutdown="cancel")
    assert client.expect("/jbdiff/job/interrupted", 10) == [last.id]
    journal = Journal(srv.cfg.journal_path)
    assert journal.get(last.id).state == JobState.INTERRUPTED
    journal.close()
    assert not pid_alive(child) and worker.pid is None


def test_a_worker_process_that_cannot_load_its_model_is_not_restarted(serve):
    srv, client = serve(loader=missing_weights, worker_mode="process")
    child = srv.workers[0].pid
    kv = status(client)
    assert kv["model"] == "missing" and "no weights in /nowhere" in kv["model_message"]
    assert kv["worker.0.restarts"] == 0 and kv["worker.0.pid"] == child and kv["worker.0"] == "cpu missing idle"
    assert kv["worker.0.model"] == ""
    err = client.request("/jbdiff/generate", "seconds", 1.0, reply="/jbdiff/error")
    assert err[2] == "ModelNotLoaded"
    time.sleep(0.5)
    assert srv.workers[0].restarts == 0 and srv.workers[0].pid == child and pid_alive(child)   # kept, not restarted


def test_a_worker_process_whose_model_is_missing_serves_the_next_model_selected(serve):
    srv, client = serve(loader=weights_for_tiny_only, worker_mode="process", model="jbdiff-v1")
    child = srv.workers[0].pid
    assert status(client)["model"] == "missing"
    assert client.request("/jbdiff/generate", "seconds", 0.1, reply="/jbdiff/error")[2] == "ModelNotLoaded"
    assert client.request("/jbdiff/model/set", "tiny") == ["tiny"]
    client.send("/jbdiff/generate", "seconds", 0.1, "levels", "2")
    job_id = client.expect("/jbdiff/job/accepted")[0]
    assert client.expect("/jbdiff/job/done", 30)[0] == job_id
    kv = status(client)
    assert kv["model"] == "ready" and kv["worker.0.model"] == "tiny" and kv["model_name"] == "tiny"
    assert kv["worker.0.pid"] == child and kv["worker.0.restarts"] == 0
    assert srv.journal.get(job_id).model == "tiny"


# ---------------------------------------------------------------------------- crashes


def test_a_crash_loop_backs_off_doubling_up_to_the_cap(serve):
    srv, client = serve(loader=crash_on_load, worker_mode="process", ready=False,
                        restart_delay_s=0.2, restart_delay_max_s=0.5)
    worker = srv.workers[0]
    job = srv.submit({"seconds": 0.1})
    wait_for(lambda: len(worker.starts) >= 4, 60, "four starts")
    starts = list(worker.starts)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert list(worker.delays)[:3] == [0.2, 0.4, 0.5]                  # doubling from 0.2, capped at 0.5
    assert all(gap >= want for gap, want in zip(gaps, [0.2, 0.4, 0.5], strict=False)), gaps   # and waited
    assert list(worker.exits)[:3] == [7, 7, 7] and worker.restarts >= 3
    kv = wait_for(lambda: (s := status(client))["worker.0"].startswith("cpu restarting") and s, 10,
                  "a status during the delay")
    assert kv["model"] == "loading" and "exited with code 7" in kv["model_message"] and kv["worker.0.pid"] == 0
    assert srv.journal.get(job.id).state == JobState.QUEUED          # never claimed, never lost


def test_a_job_that_kills_its_worker_fails_after_max_attempts_and_the_worker_comes_back(serve):
    srv, client = serve(loader=crash_on_generate, worker_mode="process", restart_delay_s=0.1, max_attempts=2)
    worker = srv.workers[0]
    client.send("/jbdiff/generate", "seconds", 0.1)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    failed = client.expect("/jbdiff/job/failed", 60)
    assert failed[0] == job_id and "interrupted 2 times" in failed[1]
    assert client.events("/jbdiff/job/requeued") == [[job_id]]
    assert client.events("/jbdiff/job/interrupted") == [[job_id], [job_id]]
    assert srv.journal.get(job_id).attempts == 2 and list(worker.exits) == [9, 9]
    wait_for(lambda: worker.restarts == 2 and worker.state.value == "ready", 30, "the third process")
    assert list(worker.delays) == [0.1, 0.2]                            # no job finished in between


# ---------------------------------------------------------------------------- the server dies


def test_worker_processes_exit_when_the_server_is_killed(tmp_path):
    port = free_port()
    client = OscClient(("127.0.0.1", port))
    config = tmp_path / "server.yaml"
    config.write_text(yaml.safe_dump({
        "port": port, "reply_port": client.port, "data_dir": str(tmp_path / "data"), "workers": ["cpu", "cpu"],
        "engine_factory": "tests.test_server_workers:factory", "progress_hz": 20,
    }))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = tmp_path / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "server", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))  # noqa: SIM115
    try:
        def ready():
            assert proc.poll() is None, log.read_text()
            client.send("/jbdiff/status")
            try:
                flat = client.expect("/jbdiff/status", 0.5)
            except AssertionError:
                return None
            kv = dict(zip(flat[0::2], flat[1::2], strict=True))
            return kv if kv["model"] == "ready" and kv["worker.1"].startswith("cpu ready") else None

        kv = wait_for(ready, 60, "the server and both workers", step=0.2)
        pids = [kv["worker.0.pid"], kv["worker.1.pid"]]
        client.send("/jbdiff/generate", "seconds", 0.1)               # one child renders, one waits
        client.expect("/jbdiff/job/progress", 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: not any(pid_alive(p) for p in pids), 10, "the orphaned workers to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        client.close()


# ---------------------------------------------------------------------------- the benchmark


def test_the_workers_benchmark_runs_on_cpu(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_server_workers", ROOT / "bench" / "server_workers.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--model", "tiny", "--workers", "cpu,cpu", "--jobs", "2", "--seconds", "0.5",
                       "--levels", "2"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:3] == ["cpu,cpu", "process", "2/2"]
