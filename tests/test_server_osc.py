"""The server over real UDP on loopback: a python-osc client talks to an in-process server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from server.app import Server
from server.config import parse_server_config
from server.journal import JobState
from server.progress import ProgressReporter
from server.transport import AllowList
from tests.server_helpers import (
    OscClient,
    OutOfMemoryOnce,
    StandInEngine,
    make_config,
    osc_bytes,
    tiny_pipeline,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def serve(tmp_path):
    """``serve(engine=..., **config)`` -> (server, client registered with /jbdiff/hello)."""
    started: list[tuple[Server, OscClient]] = []

    def start(engine=None, loader=None, **overrides):
        """Default: the real tiny pipeline; ``loader="real"``: the server's own model loading."""
        engine = engine if engine is not None else tiny_pipeline()
        cfg = make_config(tmp_path, **overrides)
        if loader == "real":
            loader = None
        else:
            loader = loader or (lambda device: engine)
        srv = Server(cfg, engine_loader=loader).start()
        client = OscClient(srv.address)
        started.append((srv, client))
        assert client.request("/jbdiff/hello", client.port, reply="/jbdiff/hello/ok")
        for w in srv.workers:
            assert w.loaded.wait(30)
        return srv, client

    yield start
    for srv, client in started:
        srv.stop(on_shutdown="cancel")
        client.close()


def read_wav(path: str) -> tuple[np.ndarray, int]:
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    return data.T, sr


def test_ping_answers_on_the_registered_port_and_the_default_reply_port(serve):
    srv, client = serve()
    assert client.request("/jbdiff/ping", reply="/jbdiff/pong") == ["0.1.0"]
    other = OscClient(srv.address)           # not registered: replies go to the configured reply port
    srv.clients.default_reply_port = other.port
    try:
        other.send("/jbdiff/ping")
        assert other.expect("/jbdiff/pong", 5) == ["0.1.0"]
        client.request("/jbdiff/bye", reply="/jbdiff/bye/ok")
        client.send("/jbdiff/ping")
        assert other.expect("/jbdiff/pong", 5) == ["0.1.0"]
    finally:
        other.close()


def test_generate_runs_to_done_with_a_stereo_wav_and_sidecar(serve):
    srv, client = serve()
    client.send("/jbdiff/generate", "seconds", 0.5, "noise_seed", 11, "steps", 2, "name", "my take", "tag", "r1")
    job_id, tag = client.expect("/jbdiff/job/accepted")
    assert tag == "r1" and job_id.startswith("j")
    assert client.expect("/jbdiff/job/started") == [job_id]
    done_id, wav, seconds = client.expect("/jbdiff/job/done", 30)
    assert done_id == job_id and Path(wav).is_absolute()
    assert Path(wav).name == f"{job_id}_my_take.wav"
    audio, sr = read_wav(wav)
    assert sr == 44100 and audio.shape[0] == 2 and audio.shape[1] == round(0.5 * 44100)
    assert seconds == pytest.approx(0.5, abs=1e-3) and np.isfinite(audio).all()
    assert np.abs(audio).max() > 0                                       # the tiny models make noise, not silence
    sidecar = json.loads(Path(wav).with_suffix(".json").read_text())
    assert sidecar["job_id"] == job_id and sidecar["seeds"]["noise_seed"] == 11
    assert sidecar["metadata"]["request"]["noise_seed"] == 11            # the pipeline's own record
    assert isinstance(sidecar["seeds"]["dd_noise_seed"], int)            # filled in at accept time
    assert sidecar["request"]["num_steps"] == {"2": 2, "1": 2, "0": 2, "dd": 2}
    assert sidecar["timings"]["render"] > 0
    assert client.request("/jbdiff/jobs") == [job_id, "done"]
    assert client.request("/jbdiff/job/get", job_id)[:5] == [job_id, "done", "my take", wav,
                                                               pytest.approx(0.5, abs=1e-3)]


def test_progress_arrives_in_order_and_before_done(serve):
    srv, client = serve()
    client.send("/jbdiff/generate", "seconds", 2.0, "levels", "21", "steps", 10)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    client.expect("/jbdiff/job/done", 30)
    names = [a for _, a, p in client.log if p[:1] == [job_id]]
    progress = client.events("/jbdiff/job/progress", job_id)
    assert len(progress) >= 3
    fractions = [p[2] for p in progress]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] <= 1.0
    stages = [p[1] for p in progress]
    order = ["level2", "level1", "dd"]
    assert [order.index(s) for s in stages] == sorted(order.index(s) for s in stages)
    assert names.index("/jbdiff/job/done") > max(i for i, a in enumerate(names) if a == "/jbdiff/job/progress")


def test_progress_reporter_is_rate_limited_and_monotone():
    sent: list[tuple[str, float]] = []
    clock = iter([0.0, 0.1, 0.2, 0.26, 0.3, 0.6, 0.61])
    rep = ProgressReporter([2, 1], True, lambda s, f: sent.append((s, f)), hz=4.0, now=lambda: next(clock))
    rep("level", 2, 1, 2)       # t=0    sent
    rep("level", 2, 2, 2)       # t=0.1  too soon
    rep("level", 1, 1, 2)       # t=0.2  too soon
    rep("level", 1, 1, 4)       # t=0.26 sent; a restarted window count does not move it back
    rep("dd", None, 1, 2)       # t=0.3  too soon
    rep("dd", None, 2, 2)       # t=0.6  sent
    rep("done", None, 1, 1)     # t=0.61 too soon
    assert sent == [("level2", 1 / 6), ("level1", 0.5), ("dd", 1.0)]


def test_cancel_queued_and_running_jobs(serve):
    srv, client = serve()
    client.send("/jbdiff/generate", "seconds", 2.0, "steps", 60)       # several seconds on 2 CPU cores
    first = client.expect("/jbdiff/job/accepted")[0]
    client.send("/jbdiff/generate", "seconds", 2.0, "steps", 60)
    second = client.expect("/jbdiff/job/accepted")[0]
    client.expect("/jbdiff/job/progress", 10, where=lambda p: p[0] == first)
    assert client.request("/jbdiff/cancel", second) == [second, "cancelled"]
    assert client.expect("/jbdiff/job/cancelled", 5) == [second]
    t0 = time.monotonic()
    assert client.request("/jbdiff/cancel", first) == [first, "cancelling"]
    assert client.expect("/jbdiff/job/cancelled", 10) == [first]
    assert time.monotonic() - t0 < 2.0                      # within a step, not after seconds of rendering
    assert client.events("/jbdiff/job/done") == []
    assert list(srv.cfg.output_dir.glob("*.wav")) == []
    assert srv.journal.get(first).state == JobState.CANCELLED
    err = client.request("/jbdiff/cancel", first, reply="/jbdiff/error")
    assert err[0] == "/jbdiff/cancel" and err[2] == "JobFinished"
    client.send("/jbdiff/generate", "seconds", 0.1, "steps", 2)     # the server keeps working after cancels
    third = client.expect("/jbdiff/job/accepted")[0]
    assert client.expect("/jbdiff/job/done", 30)[0] == third


def test_cancel_all(serve):
    srv, client = serve()
    ids = []
    for _ in range(3):
        client.send("/jbdiff/generate", "seconds", 2.0, "steps", 60)
        ids.append(client.expect("/jbdiff/job/accepted")[0])
    client.expect("/jbdiff/job/started", 10)
    assert client.request("/jbdiff/cancel", "all") == ["all", 3]
    got = {client.expect("/jbdiff/job/cancelled", 10)[0] for _ in ids}
    assert got == set(ids)


def test_params_set_get_list_and_presets(serve):
    srv, client = serve()
    assert client.request("/jbdiff/param/set", "seconds", 0.25) == ["seconds", 0.25]
    assert client.request("/jbdiff/param/get", "seconds") == ["seconds", 0.25]
    assert client.request("/jbdiff/param/set", "levels", 21) == ["levels", "21"]
    assert client.request("/jbdiff/param/set", "noise_seed", 5) == ["noise_seed", 5]
    params = client.request("/jbdiff/params")
    table = {params[i]: (params[i + 1], params[i + 2]) for i in range(0, len(params), 3)}
    assert table["seconds"] == (0.25, "next") and table["levels"] == ("21", "next")
    assert table["embedding_strength"] == ("default", "running")  # the real pipeline reads it live
    names = client.request("/jbdiff/param/list")
    assert names[:2] == ["seconds", "bars"] and "steps_dd" in names
    client.send("/jbdiff/generate", "steps", 2)                   # the job takes the live values
    client.expect("/jbdiff/job/accepted")
    _, wav, seconds = client.expect("/jbdiff/job/done", 30)
    sidecar = json.loads(Path(wav).with_suffix(".json").read_text())
    assert seconds == pytest.approx(0.25, abs=1e-3)
    assert sidecar["request"]["levels"] == [2, 1] and sidecar["request"]["noise_seed"] == 5
    saved = client.request("/jbdiff/preset/save", "groove")
    assert saved[0] == "groove" and Path(saved[1]).exists()
    client.request("/jbdiff/param/set", "seconds", 3.0)
    client.request("/jbdiff/param/set", "noise_seed", "random")
    assert client.request("/jbdiff/preset/list") == ["groove"]
    assert client.request("/jbdiff/preset/load", "groove") == ["groove"]
    assert client.request("/jbdiff/param/get", "seconds") == ["seconds", 0.25]
    assert client.request("/jbdiff/param/get", "noise_seed") == ["noise_seed", 5]
    assert client.request("/jbdiff/param/set", "seconds", "default") == ["seconds", 12.0]


BAD_MESSAGES = [
    (("/jbdiff/nope",), "/jbdiff/nope", "UnknownAddress"),
    (("/jbdiff/param/get",), "/jbdiff/param/get", "BadRequest"),                  # missing argument
    (("/jbdiff/ping", 1, 2), "/jbdiff/ping", "BadRequest"),                       # extra arguments
    (("/jbdiff/hello", "abc"), "/jbdiff/hello", "BadRequest"),                    # wrong type
    (("/jbdiff/hello", 70000), "/jbdiff/hello", "BadRequest"),                    # out of range
    (("/jbdiff/generate", "seconds"), "/jbdiff/generate", "BadRequest"),          # odd pairs
    (("/jbdiff/generate", "seconds", 9999.0), "/jbdiff/generate", "BadRequest"),  # out of range
    (("/jbdiff/generate", "colour", 1), "/jbdiff/generate", "BadRequest"),        # unknown key
    (("/jbdiff/generate", "context", "../../etc/passwd"), "/jbdiff/generate", "BadPath"),
    (("/jbdiff/generate", "init", "/etc/passwd"), "/jbdiff/generate", "BadPath"),
    (("/jbdiff/generate", "context", "missing.wav"), "/jbdiff/generate", "BadPath"),
    (("/jbdiff/param/set", "bogus", 1), "/jbdiff/param/set", "BadRequest"),       # unknown parameter
    (("/jbdiff/param/set", "init_strength", 3.0), "/jbdiff/param/set", "BadRequest"),
    (("/jbdiff/param/get", 5), "/jbdiff/param/get", "BadRequest"),
    (("/jbdiff/preset/load", "nope"), "/jbdiff/preset/load", "PresetNotFound"),
    (("/jbdiff/preset/save", "../escape"), "/jbdiff/preset/save", "BadRequest"),
    (("/jbdiff/cancel", "jdeadbeef"), "/jbdiff/cancel", "JobNotFound"),
    (("/jbdiff/job/get", "jdeadbeef"), "/jbdiff/job/get", "JobNotFound"),
]


def test_every_kind_of_bad_message_gets_an_error_and_the_server_keeps_answering(serve, tmp_path):
    srv, client = serve(max_packet_bytes=512)
    for message, address, code in BAD_MESSAGES:
        client.send(*message)
        err = client.expect("/jbdiff/error", 5)
        assert err[0] == address and err[2] == code, (message, err)
        assert isinstance(err[1], str) and err[1]
    raw = [
        (b"hello, not osc", "BadPacket"),
        (b"/jbdiff/ping\x00\x00\x00\x00,i\x00\x00\x00", "BadPacket"),             # int argument cut off
        (b"/jbdiff/ping\x00\x00\x00\x00\xff\xfe\x00\x00", "BadPacket"),          # type tags not utf-8
        (b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x07abc", "BadPacket"),
        (osc_bytes("/jbdiff/generate", "name", "x" * 600), "BadPacket"),         # over max_packet_bytes
        (b"", "BadPacket"),
    ]
    for data, code in raw:
        client.send_raw(data)
        err = client.expect("/jbdiff/error", 5)
        assert err[0] == "?" and err[2] == code, (data[:40], err)
    assert client.request("/jbdiff/ping", reply="/jbdiff/pong") == ["0.1.0"]


def test_queue_full_is_an_error_reply(serve):
    gate = threading.Event()
    srv, client = serve(engine=StandInEngine(gate=gate), max_queue=1)
    try:
        client.send("/jbdiff/generate", "seconds", 0.1)
        client.expect("/jbdiff/job/started", 10)                 # held at the gate, not queued
        client.send("/jbdiff/generate", "seconds", 0.1)
        client.expect("/jbdiff/job/accepted")
        client.send("/jbdiff/generate", "seconds", 0.1)
        err = client.expect("/jbdiff/error")
        assert err[0] == "/jbdiff/generate" and err[2] == "QueueFull"
    finally:
        gate.set()


def test_bundles_are_unpacked(serve):
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    srv, client = serve()
    b = OscBundleBuilder(IMMEDIATELY)
    b.add_content(OscMessageBuilder("/jbdiff/ping").build())
    b.add_content(OscMessageBuilder("/jbdiff/param/list").build())
    client.send_raw(b.build().dgram)
    client.expect("/jbdiff/pong")
    client.expect("/jbdiff/param/list")


def test_out_of_memory_fails_that_job_and_the_server_keeps_serving(serve):
    srv, client = serve(engine=OutOfMemoryOnce(tiny_pipeline()))      # raised from inside the real pipeline
    client.send("/jbdiff/generate", "seconds", 0.1, "steps", 2)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    failed = client.expect("/jbdiff/job/failed", 30)
    assert failed[0] == job_id and "out of memory" in failed[1]
    assert srv.journal.get(job_id).state == JobState.FAILED
    assert list(srv.cfg.output_dir.glob("*.wav")) == []
    client.send("/jbdiff/generate", "seconds", 0.1, "steps", 2)
    assert client.expect("/jbdiff/job/done", 30)


def test_missing_checkpoints_keep_the_server_up_and_generate_says_model_not_loaded(serve, tmp_path, monkeypatch):
    monkeypatch.setenv("JBDIFF_HOME", str(tmp_path / "empty-cache"))     # the real loader finds no weights
    srv, client = serve(loader="real", model="jbdiff-v1")
    status = client.request("/jbdiff/status")
    kv = dict(zip(status[0::2], status[1::2], strict=True))
    assert kv["model"] == "missing" and "jbdiff download" in kv["model_message"]
    err = client.request("/jbdiff/generate", "seconds", 1.0, reply="/jbdiff/error")
    assert err[0] == "/jbdiff/generate" and err[2] == "ModelNotLoaded" and "jbdiff download" in err[1]
    assert client.request("/jbdiff/ping", reply="/jbdiff/pong")


class LiveEngine(StandInEngine):
    """A stand-in that supports the live hook: it records the guidance scale it sees at each step."""

    seen: list

    def generate(self, request, *, progress=None, cancel=None, live=None):
        self.seen = []

        def spy(stage, level, step, total):
            self.seen.append(live.get("embedding_strength", {}).get(2))
            if progress is not None:
                progress(stage, level, step, total)

        return super().generate(request, progress=spy, cancel=cancel)


def test_running_params_reach_the_running_job_through_the_live_hook(serve):
    engine = LiveEngine(steps_per_level=60, step_seconds=0.01)
    srv, client = serve(engine=engine)
    params = client.request("/jbdiff/params")
    scope = {params[i]: params[i + 2] for i in range(0, len(params), 3)}
    assert scope["embedding_strength"] == "running" and scope["seconds"] == "next"
    client.send("/jbdiff/generate", "seconds", 0.1, "levels", "2", "embedding_strength", 1.0)
    client.expect("/jbdiff/job/progress", 10)
    client.request("/jbdiff/param/set", "embedding_strength", 7.5)
    client.expect("/jbdiff/job/done", 30)
    assert engine.seen[0] == 1.0 and engine.seen[-1] == 7.5


def test_jobs_without_a_client_are_announced_to_registered_clients(serve):
    srv, client = serve()
    job = srv.submit({"seconds": 0.1, "steps": 2}, source="hotfolder")
    assert job.source == "hotfolder" and job.reply_to is None
    assert client.expect("/jbdiff/job/accepted") == [job.id, ""]
    assert client.expect("/jbdiff/job/done", 30)[0] == job.id


def test_stop_finishes_or_interrupts_the_running_job_and_a_restart_completes_it(tmp_path):
    cfg = make_config(tmp_path)
    engine = StandInEngine(steps_per_level=300, step_seconds=0.01)
    srv = Server(cfg, engine_loader=lambda d: engine).start()
    job = srv.submit({"seconds": 0.1})
    queued = srv.submit({"seconds": 0.1})
    deadline = time.monotonic() + 10
    while srv.journal.get(job.id).state != JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.stop(on_shutdown="cancel")
    from server.journal import Journal

    journal = Journal(cfg.journal_path)
    assert journal.get(job.id).state == JobState.INTERRUPTED
    assert journal.get(queued.id).state == JobState.QUEUED
    journal.close()
    engine.steps_per_level = 2
    srv2 = Server(cfg, engine_loader=lambda d: engine).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and srv2.journal.count(JobState.DONE) < 2:
            time.sleep(0.02)
        assert srv2.journal.get(job.id).state == JobState.DONE
        assert srv2.journal.get(queued.id).state == JobState.DONE
    finally:
        srv2.stop(on_shutdown="finish")
    srv3 = Server(cfg, engine_loader=lambda d: engine).start()     # finish mode: the job completes first
    try:
        third = srv3.submit({"seconds": 0.1})
        deadline = time.monotonic() + 10
        while srv3.journal.get(third.id).state == JobState.QUEUED and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        srv3.stop(on_shutdown="finish")
    journal = Journal(cfg.journal_path)
    assert journal.get(third.id).state == JobState.DONE
    journal.close()


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path):
    from jbdiff.errors import ConfigError

    cfg = make_config(tmp_path)
    srv = Server(cfg, engine_loader=lambda d: StandInEngine()).start()
    try:
        with pytest.raises(ConfigError, match="in use by another jbdiff server"):
            Server(cfg, engine_loader=lambda d: StandInEngine())
    finally:
        srv.stop()


def test_binding_beyond_loopback_needs_an_allow_list():
    from jbdiff.errors import ConfigError

    with pytest.raises(ConfigError, match="allow"):
        parse_server_config({"host": "0.0.0.0"})
    cfg = parse_server_config({"host": "0.0.0.0", "allow": ["192.168.1.0/24", "10.0.0.7"]})
    allowed = AllowList(cfg.allowed_networks())
    assert allowed("127.0.0.1") and allowed("192.168.1.44") and allowed("10.0.0.7")
    assert not allowed("10.0.0.8") and not allowed("8.8.8.8") and not allowed("not-an-ip")
    with pytest.raises(ConfigError, match="allow\\[0\\]"):
        parse_server_config({"host": "0.0.0.0", "allow": ["nonsense"]})


def test_two_workers_share_one_journal_and_run_each_job_once(serve):
    from jbdiff.pipeline import Pipeline

    srv, client = serve(loader=lambda device: Pipeline.tiny(device="cpu", seed=0), workers=["cpu", "cpu"])
    assert [w.name for w in srv.workers] == ["w0", "w1"]
    ids = []
    for _ in range(4):
        client.send("/jbdiff/generate", "seconds", 0.5, "steps", 3)
        ids.append(client.expect("/jbdiff/job/accepted")[0])
    done = [client.expect("/jbdiff/job/done", 60)[0] for _ in ids]
    assert sorted(done) == sorted(ids)
    workers = {srv.journal.get(i).worker for i in ids}
    assert workers <= {"w0", "w1"} and all(srv.journal.get(i).attempts == 1 for i in ids)
    status = client.request("/jbdiff/status")
    kv = dict(zip(status[0::2], status[1::2], strict=True))
    assert kv["workers"] == 2 and kv["worker.1"].startswith("cpu ready")


def test_progress_reporter_sends_compiling_at_once():
    sent: list[tuple[str, float]] = []
    clock = iter([0.0, 0.05, 0.1])
    rep = ProgressReporter([2], True, lambda s, f: sent.append((s, f)), hz=4.0, now=lambda: next(clock))
    rep("level", 2, 1, 4)        # t=0    sent
    rep("compiling", None, 0, 1)  # t=0.05 sent anyway: minutes without steps may follow
    rep("dd", None, 1, 4)        # t=0.1  too soon
    assert sent == [("level2", 1 / 8), ("compiling", 1 / 8)]
