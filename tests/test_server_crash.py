"""The server as a subprocess: kill -9 mid-job, restart, every job completes exactly once; SIGTERM drains."""

from __future__ import annotations

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

from server.journal import JobState, Journal
from tests.server_helpers import OscClient, free_port

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]


def start_server(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "server", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))  # noqa: SIM115


def wait_for_pong(client: OscClient, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}:\n{log.read_text()}"
        client.send("/jbdiff/ping")
        try:
            client.expect("/jbdiff/pong", 0.3)
            return
        except AssertionError:
            continue
    raise AssertionError(f"server did not answer ping within {timeout} s:\n{log.read_text()}")


@pytest.fixture
def setup(tmp_path):
    port = free_port()
    done_checks: list[tuple[str, bool, bool]] = []

    def on_message(address, params):
        if address == "/jbdiff/job/done":       # checked when the message arrives, not later
            wav = Path(params[1])
            done_checks.append((params[0], wav.is_file(), wav.with_suffix(".json").is_file()))

    client = OscClient(("127.0.0.1", port), on_message=on_message)
    config = tmp_path / "server.yaml"
    config.write_text(yaml.safe_dump({
        "port": port, "reply_port": client.port, "data_dir": str(tmp_path / "data"), "model": "tiny",
        "workers": ["cpu"], "progress_hz": 20,                 # model tiny: the real Pipeline.tiny()
    }))
    procs: list[subprocess.Popen] = []
    yield config, client, done_checks, procs, tmp_path / "server.log"
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    client.close()


def test_kill_9_while_the_first_job_runs_then_restart_completes_all_three_exactly_once(setup):
    config, client, done_checks, procs, log = setup
    proc = start_server(config, log)
    procs.append(proc)
    wait_for_pong(client, proc, log)
    ids = []
    for i in range(3):                      # the first job takes a few seconds, the others a fraction of one
        steps = 20 if i == 0 else 2
        client.send("/jbdiff/generate", "seconds", 1.0, "steps", steps, "name", f"take{i}", "noise_seed", i)
        ids.append(client.expect("/jbdiff/job/accepted")[0])
    client.expect("/jbdiff/job/progress", 30, where=lambda p: p[0] == ids[0])
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    data = Path(yaml.safe_load(config.read_text())["data_dir"])
    journal = Journal(data / "jobs.sqlite")
    states = {i: journal.get(i).state for i in ids}
    journal.close()
    assert states[ids[0]] == JobState.RUNNING                       # the stale row the restart must fix
    assert [states[i] for i in ids[1:]] == [JobState.QUEUED] * 2

    proc = start_server(config, log)
    procs.append(proc)
    finished = {client.expect("/jbdiff/job/done", 60)[0] for _ in ids}
    assert finished == set(ids)
    time.sleep(0.3)                                                 # room for a (wrong) duplicate to arrive
    counts = Counter(p[0] for p in client.events("/jbdiff/job/done"))
    assert counts == Counter({i: 1 for i in ids}), counts
    assert all(wav and sidecar for _, wav, sidecar in done_checks), done_checks
    for _, wav_path, _seconds in client.events("/jbdiff/job/done"):
        info = sf.info(wav_path)
        assert info.channels == 2 and info.samplerate == 44100
        assert json.loads(Path(wav_path).with_suffix(".json").read_text())["job_id"] in ids
    assert client.events("/jbdiff/job/requeued") == [[ids[0]]]
    listed = client.request("/jbdiff/jobs")
    assert dict(zip(listed[0::2], listed[1::2], strict=True)) == {i: "done" for i in ids}
    assert len(list((data / "output").glob("*.wav"))) == 3
    assert not list((data / "output").glob(".*.part"))

    proc.send_signal(signal.SIGTERM)                                 # drains and exits 0
    assert proc.wait(30) == 0
    journal = Journal(data / "jobs.sqlite")
    assert journal.get(ids[0]).attempts == 2
    assert all(journal.get(i).state == JobState.DONE for i in ids)
    journal.close()


def test_sigterm_with_on_shutdown_cancel_interrupts_the_job_and_exits_0(setup):
    config, client, _, procs, log = setup
    cfg = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**cfg, "on_shutdown": "cancel"}))
    proc = start_server(config, log)
    procs.append(proc)
    wait_for_pong(client, proc, log)
    client.send("/jbdiff/generate", "seconds", 2.0, "steps", 60)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    client.expect("/jbdiff/job/progress", 30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert client.expect("/jbdiff/job/interrupted", 5) == [job_id]
    journal = Journal(Path(cfg["data_dir"]) / "jobs.sqlite")
    assert journal.get(job_id).state == JobState.INTERRUPTED
    journal.close()


def test_cli_refuses_a_public_bind_without_an_allow_list(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "server", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "allow" in out.stderr and "0.0.0.0" in out.stderr
