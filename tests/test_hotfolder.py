"""The drop folder with a real watchdog observer on a temp folder, and a registered OSC client on loopback."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jbdiff.errors import ConfigError
from server.app import Server
from server.config import parse_server_config
from server.frontends import install_front_ends
from server.hotfolder import (
    DROP_ADDRESS,
    DropLog,
    HotFolder,
    NameKind,
    Verdict,
    classify_name,
    drop_tag,
    header_shortfall,
    probe_audio,
)
from server.journal import JobState
from tests.server_helpers import OscClient, make_config, tiny_pipeline

pytestmark = pytest.mark.timeout(60)

STABLE_S = 0.3
FAST = {"stable_s": STABLE_S, "poll_s": 0.03, "incomplete_timeout_s": 1.0}


def wav_bytes(seconds: float = 0.3, sr: int = 44100, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    n = int(seconds * sr)
    t = np.arange(n) / sr
    audio = np.stack([0.2 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], axis=1)
    buf = io.BytesIO()
    sf.write(buf, audio.astype(np.float32), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def write_slowly(path: Path, data: bytes, chunks: int, gap: float) -> float:
    """Write ``data`` in ``chunks`` pieces with ``gap`` seconds between them; returns when it was complete."""
    step = -(-len(data) // chunks)
    with open(path, "wb") as fh:
        for i in range(0, len(data), step):
            fh.write(data[i:i + step])
            fh.flush()
            os.fsync(fh.fileno())
            if i + step < len(data):
                time.sleep(gap)
    return time.monotonic()


@pytest.fixture
def serve(tmp_path):
    """``serve(**hotfolder)`` -> (server, registered client); the real tiny pipeline renders."""
    started: list[tuple[Server, OscClient]] = []

    def start(data: Path | None = None, **hot):
        cfg = make_config(data or tmp_path, hotfolder={**FAST, **hot}, midi={"enabled": False})
        srv = Server(cfg, engine_loader=lambda device: tiny_pipeline())
        install_front_ends(srv)
        srv.start()
        client = OscClient(srv.address)
        started.append((srv, client))
        assert client.request("/jbdiff/hello", client.port, reply="/jbdiff/hello/ok")
        client.request("/jbdiff/param/set", "steps", 2)
        client.request("/jbdiff/param/set", "seconds", 0.3)
        return srv, client

    yield start
    for srv, client in started:
        srv.stop(on_shutdown="cancel")
        client.close()


def hotfolder_jobs(srv: Server) -> list:
    return [j for j in srv.journal.list() if j.source == "hotfolder"]


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not met within {timeout} s")


# ---------------------------------------------------------------------------- files, no server


def test_names_sort_into_audio_temp_and_other():
    for name in ("clip.wav", "Clip.AIF", "take 3.flac", "x.mp3", "bounce.ogg"):
        assert classify_name(name) == NameKind.AUDIO, name
    for name in ("clip.wav.asd", ".clip.wav", "clip.wav.part", "x.tmp", "~$x.wav", "x.wav~", ".DS_Store",
                 "dl.crdownload"):
        assert classify_name(name) == NameKind.TEMP, name
    for name in ("notes.txt", "song.als", "image.png", "noext"):
        assert classify_name(name) == NameKind.OTHER, name


def test_probe_tells_complete_from_still_arriving_from_not_audio(tmp_path):
    data = wav_bytes(0.2)
    whole = tmp_path / "whole.wav"
    whole.write_bytes(data)
    probe = probe_audio(whole)
    assert probe.verdict == Verdict.COMPLETE and probe.frames == int(0.2 * 44100) and probe.channels == 2
    half = tmp_path / "half.wav"
    half.write_bytes(data[: len(data) // 2])            # libsndfile alone would open this as a shorter file
    assert header_shortfall(data[:12], len(data) // 2) is not None
    assert probe_audio(half).verdict == Verdict.INCOMPLETE
    placeholder = tmp_path / "streaming.wav"              # a streaming writer's header before it is finalised
    placeholder.write_bytes(data[:4] + b"\x00\x00\x00\x00" + data[8:])
    assert "no length yet" in probe_audio(placeholder).reason
    aiff = tmp_path / "x.aiff"
    aiff_data = wav_bytes(0.1, fmt="AIFF")
    aiff.write_bytes(aiff_data[:-100])
    assert probe_audio(aiff).verdict == Verdict.INCOMPLETE
    aiff.write_bytes(aiff_data)
    assert probe_audio(aiff).verdict == Verdict.COMPLETE
    flac = tmp_path / "x.flac"
    flac.write_bytes(wav_bytes(0.5, fmt="FLAC", subtype="PCM_16"))
    assert probe_audio(flac).verdict == Verdict.COMPLETE
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    assert probe_audio(garbage).verdict == Verdict.CORRUPT
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full((100, 1), np.nan, np.float32), 44100, subtype="FLOAT")
    assert probe_audio(nan).verdict == Verdict.CORRUPT
    empty_audio = tmp_path / "empty.wav"
    sf.write(empty_audio, np.zeros((0, 2), np.float32), 44100)
    assert probe_audio(empty_audio).verdict == Verdict.CORRUPT


def test_bad_hotfolder_settings_name_the_key():
    with pytest.raises(ConfigError, match="hotfolder.context_dir"):
        parse_server_config({"hotfolder": {"context_dir": "../outside"}})
    with pytest.raises(ConfigError, match="two separate folders"):
        parse_server_config({"hotfolder": {"context_dir": "clips", "init_dir": "clips/init"}})
    with pytest.raises(ConfigError, match="hotfolder.stable_s"):
        parse_server_config({"hotfolder": {"stable_s": -1}})
    with pytest.raises(ConfigError, match="hotfolder.observer"):
        parse_server_config({"hotfolder": {"observer": "magic"}})


# ---------------------------------------------------------------------------- drops on a running server


@pytest.mark.parametrize("gap", [STABLE_S / 3, STABLE_S * 1.7], ids=["pauses-shorter-than-stable_s",
                                                                     "pauses-longer-than-stable_s"])
def test_a_wav_written_slowly_is_used_exactly_once_after_it_is_complete(serve, gap):
    srv, client = serve()
    target = srv.cfg.init_path / "slow take.wav"
    data = wav_bytes(0.3)
    complete_at = write_slowly(target, data, chunks=5, gap=gap)
    kind, path, job_id = client.expect(DROP_ADDRESS, 10)
    announced_at = next(t for t, a, p in client.log if a == DROP_ADDRESS)
    assert announced_at >= complete_at + STABLE_S * 0.9           # not before the file was whole and settled
    assert (kind, path) == ("init", str(target)) and job_id
    assert client.expect("/jbdiff/job/accepted") == [job_id, drop_tag(1)]
    done_id, wav, seconds = client.expect("/jbdiff/job/done", 30)
    assert done_id == job_id and Path(wav).parent == srv.cfg.output_dir
    assert Path(wav).name == f"{job_id}_slow_take.wav"                # named after the dropped clip
    assert seconds == pytest.approx(0.3, abs=0.01)                    # a variation as long as its init clip
    assert srv.journal.get(job_id).request["init_audio"] == str(target)
    time.sleep(STABLE_S * 3)                                          # closes, re-stats, rescans: nothing more
    assert [j.id for j in hotfolder_jobs(srv)] == [job_id]
    assert client.events(DROP_ADDRESS) == [["init", str(target), job_id]]
    assert client.events("/jbdiff/error") == []


def test_temp_files_are_ignored_and_non_audio_or_corrupt_files_are_rejected_over_osc(serve):
    srv, client = serve(incomplete_timeout_s=0.6)
    init = srv.cfg.init_path
    for name in ("take.wav.asd", ".hidden.wav", "take.wav.part", "x.tmp"):
        (init / name).write_bytes(wav_bytes(0.1))
    (init / "notes.txt").write_text("not audio")
    (init / "broken.wav").write_bytes(b"RIFF" + (40).to_bytes(4, "little") + b"WAVE" + b"\x07" * 40)
    (init / "noise.flac").write_bytes(np.random.default_rng(1).bytes(3000))
    truncated = wav_bytes(0.2)
    (init / "truncated.wav").write_bytes(truncated[: len(truncated) // 3])     # never completed
    errors = {}
    for _ in range(4):
        address, message, code = client.expect("/jbdiff/error", 10)
        assert address == DROP_ADDRESS and code == "DropRejected"
        errors[message.split(" ", 1)[0]] = message
    assert set(errors) == {"notes.txt", "broken.wav", "noise.flac", "truncated.wav"}
    assert "not an audio file" in errors["notes.txt"] and "cannot be decoded" in errors["broken.wav"]
    assert "truncated" in errors["truncated.wav"] and "promises" in errors["truncated.wav"]
    assert hotfolder_jobs(srv) == []
    states = {Path(d.path).name: d.state for d in srv.services[0].log.recent(20)}
    assert states == dict.fromkeys(errors, "rejected")                  # temp files never got a row
    time.sleep(STABLE_S * 2)
    assert len(client.events("/jbdiff/error")) == 4                     # each rejected once, not on every poll
    drops = client.request("/jbdiff/hotfolder/drops")
    assert len(drops) == 4 * 5 and set(drops[2::5]) == {"rejected"}
    assert client.request("/jbdiff/ping", reply="/jbdiff/pong")         # and the server keeps serving


def test_moves_into_the_folder_count_as_drops(serve, tmp_path):
    srv, client = serve()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    data = wav_bytes(0.2)
    (outside / "moved.wav").write_bytes(data)
    shutil.move(str(outside / "moved.wav"), srv.cfg.init_path / "moved.wav")            # from outside
    first = client.expect(DROP_ADDRESS, 10)
    assert first[:2] == ["init", str(srv.cfg.init_path / "moved.wav")]
    used = (srv.cfg.init_path / "moved.wav").stat()
    (outside / "moved.wav").write_bytes(data)                              # the same clip dropped again:
    os.utime(outside / "moved.wav", ns=(used.st_atime_ns, used.st_mtime_ns))   # same name, bytes and date
    shutil.move(str(outside / "moved.wav"), srv.cfg.init_path / "moved.wav")
    again = client.expect(DROP_ADDRESS, 10)
    assert again[:2] == first[:2] and again[2] != first[2]                # a new drop, a new job
    partial = srv.cfg.init_path / "copy.wav.part"                                         # a copy tool's temp name
    partial.write_bytes(wav_bytes(0.2))
    time.sleep(STABLE_S * 1.5)
    assert len(client.events(DROP_ADDRESS)) == 2                                          # the temp name is ignored
    os.replace(partial, srv.cfg.init_path / "copy.wav")
    second = client.expect(DROP_ADDRESS, 10)
    assert second[:2] == ["init", str(srv.cfg.init_path / "copy.wav")]
    os.replace(srv.cfg.init_path / "copy.wav", srv.cfg.context_path / "copy.wav")       # init -> context
    third = client.expect(DROP_ADDRESS, 10)
    assert third == ["context", str(srv.cfg.context_path / "copy.wav"), ""]
    assert client.request("/jbdiff/param/get", "context") == ["context", str(srv.cfg.context_path / "copy.wav")]
    assert len(hotfolder_jobs(srv)) == 3


def test_a_context_drop_sets_the_context_and_auto_generate_renders_with_it(serve):
    srv, client = serve(auto_generate=True)
    clip = srv.cfg.context_path / "groove.wav"
    clip.write_bytes(wav_bytes(0.3))
    kind, path, job_id = client.expect(DROP_ADDRESS, 10)
    assert (kind, path) == ("context", str(clip)) and job_id
    assert client.request("/jbdiff/param/get", "context") == ["context", str(clip)]
    done = client.expect("/jbdiff/job/done", 30)
    assert done[0] == job_id
    request = srv.journal.get(job_id).request
    assert request["context_audio"] == str(clip) and request["init_audio"] is None
    assert request["seconds_length"] == pytest.approx(0.3)                 # the live parameters apply
    status = client.request("/jbdiff/hotfolder/status")
    kv = dict(zip(status[0::2], status[1::2], strict=True))
    assert kv["context_dir"] == str(srv.cfg.context_path) and kv["watching"] == 1 and kv["auto_generate"] == 1


def test_a_restart_neither_repeats_nor_forgets_drops(serve, tmp_path):
    srv, client = serve()
    (srv.cfg.init_path / "a.wav").write_bytes(wav_bytes(0.2))
    (srv.cfg.context_path / "ctx.wav").write_bytes(wav_bytes(0.2))
    got = {client.expect(DROP_ADDRESS, 10)[0] for _ in range(2)}
    assert got == {"init", "context"}
    first_job = hotfolder_jobs(srv)[0].id
    wait_for(lambda: srv.journal.get(first_job).state.final, 30, "the first drop's job to finish")
    cfg = srv.cfg
    srv.stop()
    (cfg.init_path / "b.wav").write_bytes(wav_bytes(0.2))           # dropped while the server is down
    srv2, client2 = serve()
    new = client2.expect(DROP_ADDRESS, 10)
    assert new[:2] == ["init", str(cfg.init_path / "b.wav")]
    assert srv2.params.get("context") == str(cfg.context_path / "ctx.wav")     # the context is not forgotten
    time.sleep(STABLE_S * 3)
    jobs = hotfolder_jobs(srv2)
    assert len(jobs) == 2 and [j.request["init_audio"] for j in jobs] == [str(cfg.init_path / "a.wav"),
                                                                         str(cfg.init_path / "b.wav")]
    assert len(client2.events(DROP_ADDRESS)) == 1                   # a.wav and ctx.wav were not used again


def test_drops_a_crash_interrupted_are_finished_once_at_the_next_start(tmp_path):
    cfg = make_config(tmp_path, hotfolder=FAST, midi={"enabled": False})
    queued = cfg.init_path / "queued.wav"
    lost = cfg.init_path / "lost.wav"
    srv = Server(cfg, engine_loader=lambda device: tiny_pipeline())
    for path in (queued, lost):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wav_bytes(0.2))
    log = DropLog(srv.journal)
    # The crash came after queued.wav's job was journaled, and before lost.wav's was.
    a = log.begin(queued, "init", queued.stat().st_size, queued.stat().st_mtime_ns)
    b = log.begin(lost, "init", lost.stat().st_size, lost.stat().st_mtime_ns)
    job = srv.submit({"init": str(queued), "steps": 2, "tag": drop_tag(a.seq)}, source="hotfolder")
    srv.add_service(HotFolder(srv))
    srv.start()
    try:
        wait_for(lambda: len(hotfolder_jobs(srv)) == 2, 10, "the lost drop to be queued")
        time.sleep(STABLE_S * 3)
        jobs = hotfolder_jobs(srv)
        assert len(jobs) == 2 and jobs[0].id == job.id
        assert jobs[1].tag == drop_tag(b.seq) and jobs[1].request["init_audio"] == str(lost)
        rows = {d.seq: d for d in log.recent(10)}
        assert rows[a.seq].state == "done" and rows[a.seq].job_id == job.id
        assert rows[b.seq].state == "done" and rows[b.seq].job_id == jobs[1].id
        assert len(rows) == 2
        wait_for(lambda: all(srv.journal.get(j.id).state == JobState.DONE for j in jobs), 30, "both jobs done")
    finally:
        srv.stop(on_shutdown="cancel")


def test_the_polling_observer_works_too(serve):
    srv, client = serve(observer="polling")
    status = client.request("/jbdiff/hotfolder/status")
    assert "PollingObserver" in status
    (srv.cfg.init_path / "polled.wav").write_bytes(wav_bytes(0.2))
    assert client.expect(DROP_ADDRESS, 10)[:2] == ["init", str(srv.cfg.init_path / "polled.wav")]


def test_the_watcher_thread_sleeps_when_nothing_arrives(serve):
    srv, client = serve()
    folder = next(s for s in srv.services if isinstance(s, HotFolder))
    threads = [t for t in threading.enumerate() if t.name == "jbdiff-hotfolder"]
    assert len(threads) == 1 and folder.pending() == []
    checks = []
    original = folder._check
    folder._check = lambda *a: checks.append(a) or original(*a)        # type: ignore[method-assign]
    time.sleep(0.3)
    assert checks == []                                                  # no polling while idle
