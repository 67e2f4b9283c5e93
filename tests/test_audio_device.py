"""Preview and context recording: a clear OSC error without sounddevice/PortAudio, and the real path with a stand-in card."""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from server.app import Server
from server.audio_device import AudioDevice, load_sounddevice
from server.errors import DeviceUnavailable
from server.frontends import install_front_ends
from server.hotfolder import DROP_ADDRESS, HotFolder
from tests.server_helpers import OscClient, make_config, tiny_pipeline

pytestmark = pytest.mark.timeout(60)


class FakeSoundDevice:
    """sounddevice's surface that the server uses: play/stop, query_devices, InputStream (a 1-channel mic)."""

    DEVICES = [{"name": "Fake Mic", "max_input_channels": 1, "max_output_channels": 0},
               {"name": "Fake Speakers", "max_input_channels": 0, "max_output_channels": 2}]

    def __init__(self) -> None:
        self.played: list[tuple[np.ndarray, int, object]] = []
        self.stops = 0
        fake = self

        class InputStream:
            def __init__(self, samplerate, channels, device, dtype):
                fake.query_devices(device, "input")
                self.rate, self.channels, self.pos = samplerate, channels, 0
                self.closed = False

            def start(self):
                pass

            def read(self, frames):
                n = np.arange(self.pos, self.pos + frames)
                self.pos += frames
                return np.repeat(fake.signal(n, self.rate)[:, None], self.channels, axis=1), False

            def stop(self):
                pass

            def close(self):
                self.closed = True

        self.InputStream = InputStream

    @staticmethod
    def signal(n: np.ndarray, rate: int) -> np.ndarray:
        return (0.25 * np.sin(2 * np.pi * 440 * n / rate)).astype(np.float32)

    def play(self, data, samplerate, device=None):
        self.played.append((np.array(data), samplerate, device))

    def stop(self):
        self.stops += 1

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return list(self.DEVICES)
        key = "max_input_channels" if kind == "input" else "max_output_channels"
        for i, d in enumerate(self.DEVICES):
            if d[key] and (device is None or device == i or (isinstance(device, str) and device.lower() in
                                                               d["name"].lower())):
                return d
        raise ValueError(f"No {kind} device matching {device!r}")


def start_server(tmp_path: Path, add_services, **overrides) -> tuple[Server, OscClient]:
    cfg = make_config(tmp_path, hotfolder={"stable_s": 0.2, "poll_s": 0.03}, **overrides)
    srv = Server(cfg, engine_loader=lambda device: tiny_pipeline())
    add_services(srv)
    srv.start()
    client = OscClient(srv.address)
    assert client.request("/jbdiff/hello", client.port, reply="/jbdiff/hello/ok")
    return srv, client


def finished_job(client: OscClient) -> str:
    client.send("/jbdiff/generate", "seconds", 0.2, "steps", 2)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    assert client.expect("/jbdiff/job/done", 30)[0] == job_id
    return job_id


class _NoPortAudio(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import sounddevice`` fail the way it does when the PortAudio library is missing."""

    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "sounddevice" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise OSError("PortAudio library not found")


def test_load_sounddevice_explains_a_missing_package_or_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(DeviceUnavailable, match=r"sounddevice is not installed \(pip install"):
        load_sounddevice()
    monkeypatch.delitem(sys.modules, "sounddevice")
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(DeviceUnavailable, match="PortAudio library cannot be loaded"):
        load_sounddevice()


def test_the_server_runs_without_a_midi_backend_or_an_audio_device(tmp_path, monkeypatch, caplog):
    for missing in ("sounddevice", "rtmidi"):                  # as on this machine, whatever is installed
        monkeypatch.setitem(sys.modules, missing, None)
    monkeypatch.delitem(sys.modules, "mido.backends.rtmidi", raising=False)
    caplog.set_level(logging.INFO)
    srv, client = start_server(tmp_path, install_front_ends)            # the configured defaults
    try:
        assert client.request("/jbdiff/ping", reply="/jbdiff/pong")
        job_id = finished_job(client)
        for message in (("/jbdiff/preview", job_id), ("/jbdiff/record_context", 2.0),
                        ("/jbdiff/record_context", 1.0, "Mic"), ("/jbdiff/audio/devices",),
                        ("/jbdiff/preview/stop",)):
            address, text, code = client.request(*message, reply="/jbdiff/error")
            assert (address, code) == (message[0], "DeviceUnavailable") and "sounddevice" in text, message
        assert list(srv.cfg.context_path.iterdir()) == []              # a failed recording leaves nothing
        midi = client.request("/jbdiff/midi/status")
        assert midi[midi.index("state") + 1] == "unavailable"
        (srv.cfg.init_path / "still.wav").write_bytes(Path(srv.journal.get(job_id).result_path).read_bytes())
        assert client.expect(DROP_ADDRESS, 10)[0] == "init"            # the hot folder works regardless
        assert client.expect("/jbdiff/job/done", 30)
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert sum("without MIDI" in m for m in said) == 1             # MIDI says so once, at start
        assert sum("sounddevice is not installed" in m for m in said) == 1   # audio once, at first use
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        srv.stop(on_shutdown="cancel")
        client.close()


def test_preview_plays_a_finished_result_on_the_output_device(tmp_path):
    fake = FakeSoundDevice()
    srv, client = start_server(tmp_path, lambda s: s.add_service(AudioDevice(s, backend=lambda: fake)),
                               audio={"output_device": "Speakers"})
    try:
        job_id = finished_job(client)
        reply = client.request("/jbdiff/preview", job_id)
        assert reply == [job_id, pytest.approx(0.2, abs=1e-3)]
        (data, rate, device), = fake.played
        expected, sr = sf.read(srv.journal.get(job_id).result_path, dtype="float32", always_2d=True)
        assert rate == sr == 44100 and device == "Speakers" and np.array_equal(data, expected)
        assert client.request("/jbdiff/preview/stop") == [] and fake.stops == 1
        err = client.request("/jbdiff/preview", "jnothere", reply="/jbdiff/error")
        assert err[2] == "JobNotFound"
        devices = client.request("/jbdiff/audio/devices")
        assert devices == [0, "Fake Mic", 1, 0, 1, "Fake Speakers", 0, 2]
    finally:
        srv.stop(on_shutdown="cancel")
        client.close()


def test_record_context_writes_a_clip_that_becomes_the_context(tmp_path):
    fake = FakeSoundDevice()

    def services(s: Server) -> None:
        s.add_service(HotFolder(s))
        s.add_service(AudioDevice(s, backend=lambda: fake))

    srv, client = start_server(tmp_path, services, audio={"record_max_s": 5.0})
    try:
        path, seconds = client.request("/jbdiff/record_context", 0.25, "mic",
                                       reply="/jbdiff/record_context/started")
        assert Path(path).parent == srv.cfg.context_path and seconds == 0.25
        assert client.expect("/jbdiff/record_context/done", 10) == [path]
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        n = round(0.25 * 44100)
        assert rate == 44100 and audio.shape == (n, 1)                  # the mic has one channel
        np.testing.assert_allclose(audio[:, 0], fake.signal(np.arange(n), 44100), atol=2 / 2**23)   # 24-bit
        assert client.expect(DROP_ADDRESS, 10) == ["context", path, ""]  # the hot folder took it
        assert client.request("/jbdiff/param/get", "context") == ["context", path]
        for bad, code in (((0.0,), "BadRequest"), ((9.0,), "BadRequest"), ((1.0, "Theremin"), "DeviceUnavailable"),
                          ((1.0, 2.5), "BadRequest")):
            err = client.request("/jbdiff/record_context", *bad, reply="/jbdiff/error")
            assert err[0] == "/jbdiff/record_context" and err[2] == code, (bad, err)
        assert "record_max_s" in client.events("/jbdiff/error")[1][1]
    finally:
        srv.stop(on_shutdown="cancel")
        client.close()
