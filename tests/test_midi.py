"""MIDI: the pure mapping, raw-byte parsing, and the port callback path on a running server, without hardware."""

from __future__ import annotations

import logging
import sys
import types

import mido
import pytest

from jbdiff.errors import ConfigError
from jbdiff.request import GenerationRequest
from server.app import Server
from server.config import MidiConfig, parse_server_config
from server.errors import BadRequest
from server.frontends import install_front_ends
from server.midi import (
    BPM_DEADBAND,
    TICKS_PER_BEAT,
    ByteStream,
    CancelAll,
    ClockState,
    Generate,
    LoadPreset,
    MidiInput,
    SetParam,
    map_message,
    match_port,
)
from server.params import PARAMS_BY_NAME
from tests.server_helpers import OscClient, make_config, tiny_pipeline

pytestmark = pytest.mark.timeout(60)

NOISE_STYLES = PARAMS_BY_NAME["noise_style"].choices


def midi_cfg(**data) -> MidiConfig:
    return parse_server_config({"midi": data}).midi


def run(cfg: MidiConfig, *messages: mido.Message, clock: ClockState | None = None, now: float = 0.0):
    actions: list = []
    clock = clock or ClockState()
    for msg in messages:
        got, clock = map_message(msg, cfg, clock, now)
        actions += got
    return actions, clock


def ticks(cfg: MidiConfig, clock: ClockState, bpm: float, beats: int, start: float):
    """MIDI clock at ``bpm`` for ``beats`` beats: (actions, clock, time after the last tick)."""
    interval = 60.0 / bpm / TICKS_PER_BEAT
    actions: list = []
    t = start
    for _ in range(beats * TICKS_PER_BEAT):
        got, clock = map_message(mido.Message("clock"), cfg, clock, t)
        actions += got
        t += interval
    return actions, clock, t


# ---------------------------------------------------------------------------- the pure mapping


def test_note_on_generates_with_velocity_onto_a_param_and_the_note_as_seed():
    cfg = midi_cfg(notes={"velocity": {"param": "init_strength", "min": 0.2, "max": 0.8}, "seed_offset": 1000})
    actions, _ = run(cfg, mido.Message("note_on", note=60, velocity=127), mido.Message("note_on", note=61, velocity=0))
    assert actions == [Generate((("init_strength", 0.8), ("noise_seed", 1060), ("tag", "midi:60")))]
    (soft,), _ = run(cfg, mido.Message("note_on", note=62, velocity=1))
    assert dict(soft.values)["init_strength"] == pytest.approx(0.2 + 0.6 / 127)
    assert run(cfg, mido.Message("note_off", note=60))[0] == []


def test_notes_outside_the_range_or_channel_are_ignored_and_presets_and_bars_apply():
    cfg = midi_cfg(channel=2, notes={"low": 36, "high": 39, "velocity": None, "note_to": "preset",
                                     "presets": {36: "kick", "38": "snare"}, "bars": 2})
    assert run(cfg, mido.Message("note_on", note=35, velocity=90, channel=1))[0] == []
    assert run(cfg, mido.Message("note_on", note=36, velocity=90, channel=0))[0] == []      # channel 1, not 2
    (kick,), _ = run(cfg, mido.Message("note_on", note=36, velocity=90, channel=1))
    assert kick == Generate((("bars", 2.0), ("tag", "midi:36")), preset="kick")
    (unmapped,), _ = run(cfg, mido.Message("note_on", note=37, velocity=90, channel=1))
    assert unmapped.preset is None                      # an unmapped note renders with the live parameters
    assert run(midi_cfg(notes={"enabled": False}), mido.Message("note_on", note=60, velocity=9))[0] == []


def test_cc_scales_into_the_parameter_range_by_its_kind():
    cfg = midi_cfg(cc={20: {"param": "init_strength", "min": 0.2, "max": 0.8},
                       21: {"param": "token_multiplier", "min": 1, "max": 4},
                       22: {"param": "noise_style"}, 23: {"param": "use_dd"},
                       24: {"param": "embedding_strength", "min": 10, "max": 0}})    # reversed ranges work
    def cc(control, value):
        (action,), _ = run(cfg, mido.Message("control_change", control=control, value=value))
        assert isinstance(action, SetParam)
        return action.name, action.value

    assert cc(20, 0) == ("init_strength", 0.2) and cc(20, 127) == ("init_strength", 0.8)
    assert cc(20, 64)[1] == pytest.approx(0.2 + 0.6 * 64 / 127)
    assert [cc(21, v)[1] for v in (0, 42, 43, 127)] == [round(1 + 3 * v / 127) for v in (0, 42, 43, 127)]
    n = len(NOISE_STYLES)
    for value in (0, 31, 32, 95, 96, 127):
        assert cc(22, value) == ("noise_style", NOISE_STYLES[value * n // 128])
    assert [cc(23, v)[1] for v in (0, 63, 64, 127)] == [False, False, True, True]
    assert cc(24, 127) == ("embedding_strength", 0.0)
    assert run(cfg, mido.Message("control_change", control=99, value=5))[0] == []          # unmapped


def test_program_change_loads_a_mapped_preset_or_the_nth_saved_one():
    assert run(midi_cfg(programs={3: "ambient"}), mido.Message("program_change", program=3))[0] == \
        [LoadPreset(name="ambient")]
    assert run(midi_cfg(programs={3: "ambient"}), mido.Message("program_change", program=4))[0] == []
    assert run(midi_cfg(), mido.Message("program_change", program=4))[0] == [LoadPreset(index=4)]


@pytest.mark.parametrize("bpm", [60.0, 120.0, 174.0])
def test_clock_ticks_become_bpm_once_per_beat_at_most(bpm):
    cfg = midi_cfg()
    actions, clock, _ = ticks(cfg, ClockState(), bpm, 4, start=100.0)
    assert actions and actions[0] == SetParam("bpm", pytest.approx(bpm, abs=0.05))
    assert len(actions) <= 4 and clock.bpm == pytest.approx(bpm, abs=0.05)


def test_clock_follows_a_tempo_change_ignores_jitter_and_restarts_after_a_gap():
    cfg = midi_cfg()
    actions, clock, t = ticks(cfg, ClockState(), 120.0, 2, start=0.0)
    assert [a.value for a in actions] == [pytest.approx(120.0)]
    jitter, clock, t = ticks(cfg, clock, 120.0 * (1 + 0.5 * BPM_DEADBAND / 120.0), 4, start=t)
    assert jitter == []                                   # less than the deadband: not reported again
    changed, clock, t = ticks(cfg, clock, 90.0, 6, start=t)
    assert changed and changed[-1].value == pytest.approx(90.0)
    assert all(90.0 - 0.05 <= a.value <= 120.0 for a in changed)
    # A pause longer than MAX_TICK_GAP_S (transport stopped without a stop message) restarts the measure.
    after_gap, clock, _ = ticks(cfg, clock, 140.0, 2, start=t + 5.0)
    assert [a.value for a in after_gap] == [pytest.approx(140.0)]
    off = midi_cfg(clock=False)
    assert ticks(off, ClockState(), 120.0, 3, start=0.0)[0] == []


def test_start_and_stop_reset_the_clock_and_can_generate_or_cancel():
    cfg = midi_cfg(clock_start="generate", clock_stop="cancel")
    _, clock, _ = ticks(cfg, ClockState(), 100.0, 1, start=0.0)
    actions, clock = run(cfg, mido.Message("start"), clock=clock)
    assert actions == [Generate((("tag", "midi:start"),))] and clock.running and clock.ticks == ()
    actions, clock = run(cfg, mido.Message("stop"), clock=clock)
    assert actions == [CancelAll()] and not clock.running
    assert run(midi_cfg(), mido.Message("start"), mido.Message("stop"))[0] == []


def test_bad_midi_settings_name_the_key():
    with pytest.raises(ConfigError, match=r"midi\.cc\.200"):
        midi_cfg(cc={200: {"param": "seconds", "min": 1, "max": 2}})
    with pytest.raises(ConfigError, match=r"midi\.cc\.7\.param"):
        midi_cfg(cc={7: {"param": "context"}})
    with pytest.raises(ConfigError, match="needs min and max"):
        midi_cfg(cc={7: {"param": "seconds"}})
    with pytest.raises(ConfigError, match=r"midi\.channel"):
        midi_cfg(channel=17)
    with pytest.raises(ConfigError, match=r"midi\.notes\.presets\.x"):
        midi_cfg(notes={"presets": {"x": "a"}})


# ---------------------------------------------------------------------------- raw bytes


def test_raw_bytes_parse_like_mido_including_split_messages():
    messages = [mido.Message("note_on", channel=3, note=64, velocity=90), mido.Message("control_change", control=7,
                value=100), mido.Message("program_change", program=12), mido.Message("clock"),
                mido.Message("pitchwheel", pitch=-200), mido.Message("sysex", data=(1, 2, 3)),
                mido.Message("start"), mido.Message("note_off", note=64)]
    raw = b"".join(bytes(m.bytes()) for m in messages)
    assert ByteStream().feed(raw) == mido.parse_all(raw) == messages
    stream = ByteStream()
    got = []
    for i in range(len(raw)):                                 # one byte at a time
        got += stream.feed(raw[i:i + 1])
    assert got == messages


def test_raw_bytes_with_running_status_and_clock_inside_a_message():
    stream = ByteStream()
    assert stream.feed([0x90, 60, 100, 62, 0, 64, 80]) == [
        mido.Message("note_on", note=60, velocity=100), mido.Message("note_on", note=62, velocity=0),
        mido.Message("note_on", note=64, velocity=80)]
    assert stream.feed([0xB1, 1, 0xF8, 64]) == [mido.Message("clock"),
                                                mido.Message("control_change", channel=1, control=1, value=64)]
    assert stream.feed([0xF0, 1, 0xF7, 5]) == [mido.Message("sysex", data=(1,))]     # no running status after sysex
    with pytest.raises(BadRequest, match="0 .. 255"):
        stream.feed([300])


def test_match_port_takes_an_exact_name_or_a_unique_part():
    names = ["Launchkey MIDI 20:0", "Launchkey DAW 20:1", "IAC Bus 1"]
    assert match_port("IAC Bus 1", names) == "IAC Bus 1"
    assert match_port("daw", names) == "Launchkey DAW 20:1"
    with pytest.raises(Exception, match="matches several"):
        match_port("launchkey", names)
    with pytest.raises(Exception, match="no MIDI input named 'Push'"):
        match_port("Push", names)


# ---------------------------------------------------------------------------- on a running server


class FakeInput(mido.ports.BaseInput):
    """A mido input port that a test plays into: ``push(bytes)`` calls the callback like rtmidi's thread does."""

    devices = ["Fake Keys 1", "Other Synth"]
    opened: list[FakeInput] = []

    def _open(self, virtual=False, callback=None, **kwargs):
        if not virtual and self.name not in self.devices:
            raise OSError(f"unknown port {self.name!r}")
        self.virtual = virtual
        self.callback = callback
        FakeInput.opened.append(self)

    def push(self, data: bytes) -> None:
        for msg in mido.parse_all(data):
            self.callback(msg)


@pytest.fixture
def fake_backend(monkeypatch):
    module = types.ModuleType("jbdiff_test_midi_backend")
    module.Input = FakeInput
    module.get_devices = lambda **kw: [{"name": n, "is_input": True, "is_output": False} for n in FakeInput.devices]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    FakeInput.opened = []
    return module.__name__


@pytest.fixture
def serve(tmp_path):
    started: list[tuple[Server, OscClient]] = []

    def start(**midi):
        cfg = make_config(tmp_path, midi=midi, hotfolder={"enabled": False})
        srv = Server(cfg, engine_loader=lambda device: tiny_pipeline())
        install_front_ends(srv)
        srv.start()
        client = OscClient(srv.address)
        started.append((srv, client))
        assert client.request("/jbdiff/hello", client.port, reply="/jbdiff/hello/ok")
        srv.set_param("steps", 2)
        srv.set_param("seconds", 0.2)
        midi_input = next(s for s in srv.services if isinstance(s, MidiInput))
        return srv, client, midi_input

    yield start
    for srv, client in started:
        srv.stop(on_shutdown="cancel")
        client.close()


def request_of(srv: Server, job_id: str) -> GenerationRequest:
    return GenerationRequest.from_dict(srv.journal.get(job_id).request)


def test_port_callback_drives_params_jobs_and_presets(serve, fake_backend):
    srv, client, midi = serve(backend=fake_backend, port="fake keys",
                              notes={"velocity": {"param": "embedding_strength", "min": 1.0, "max": 6.0}},
                              cc={74: {"param": "init_strength", "min": 0.0, "max": 0.5}})
    assert sorted((p.name, p.virtual) for p in FakeInput.opened) == [("Fake Keys 1", False), ("jbdiff", True)]
    status = client.request("/jbdiff/midi/status")
    kv = dict(zip(status[0::2], status[1::2], strict=True))
    assert kv["state"] == "listening" and "Fake Keys 1" in kv["ports"] and kv["backend"] == fake_backend
    keys = next(p for p in FakeInput.opened if not p.virtual)
    keys.push(bytes([0xB0, 74, 127]))                                      # CC 74 -> init_strength 0.5
    assert srv.params.get("init_strength") == pytest.approx(0.5)
    keys.push(bytes([0x90, 48, 127]))                                      # note 48, full velocity
    job_id, tag = client.expect("/jbdiff/job/accepted")
    assert tag == "midi:48" and srv.journal.get(job_id).source == "midi"
    req = request_of(srv, job_id)
    assert req.noise_seed == 48 and set(req.embedding_strength.values()) == {6.0} and req.init_strength == 0.5
    assert srv.params.get("embedding_strength") is None                    # velocity is that job's, not live
    srv.presets.save("slow", {"seconds": 0.4, "noise_style": "walk"})
    srv.presets.save("zippy", {"seconds": 0.1})
    keys.push(bytes([0xC0, 1]))                                            # program 1 -> "zippy" (name order)
    assert srv.params.get("seconds") == 0.1 and srv.params.get("init_strength") == 0.0   # loaded like OSC does
    keys.push(bytes([0xC0, 7]))                                            # no 8th preset: an error, no crash
    address, message, code = client.expect("/jbdiff/error")
    assert (address, code) == ("/jbdiff/midi", "PresetNotFound") and "program_change" in message
    virtual = next(p for p in FakeInput.opened if p.virtual)               # the virtual port takes the same path
    virtual.push(bytes([0x90, 50, 64]))
    assert client.expect("/jbdiff/job/accepted")[1] == "midi:50"
    assert client.request("/jbdiff/midi/ports") == FakeInput.devices
    assert client.request("/jbdiff/midi/connect", "other") == ["Other Synth"]
    err = client.request("/jbdiff/midi/connect", "nothing", reply="/jbdiff/error")
    assert err[2] == "DeviceUnavailable" and "Fake Keys 1" in err[1]
    client.expect("/jbdiff/job/done", 30)


def test_note_presets_and_clock_bars_through_the_handle_path(serve, fake_backend):
    srv, client, midi = serve(backend=fake_backend, virtual_port=None,
                              notes={"note_to": "preset", "presets": {36: "wide"}, "bars": 2, "velocity": None})
    srv.presets.save("wide", {"seconds": 3.0, "noise_style": "walk", "noise_seed": 77})
    t = 10.0
    for _ in range(2 * TICKS_PER_BEAT):                                    # two beats of clock at 150 bpm
        midi.handle(mido.Message("clock"), now=t)
        t += 60.0 / 150.0 / TICKS_PER_BEAT
    assert srv.params.get("bpm") == pytest.approx(150.0) and midi.bpm == pytest.approx(150.0)
    midi.handle(mido.Message("note_on", note=36, velocity=100))
    job_id = client.expect("/jbdiff/job/accepted")[0]
    req = request_of(srv, job_id)
    assert req.seconds_length == pytest.approx(2 * 4 * 60.0 / 150.0)      # bars beat the preset's seconds
    assert req.noise_style == "walk" and req.noise_seed == 77
    assert srv.params.get("noise_style") == "random"                      # the preset applied to that job only
    midi.handle(mido.Message("note_on", note=37, velocity=100))           # unmapped: live params
    req = request_of(srv, client.expect("/jbdiff/job/accepted")[0])
    assert req.noise_style == "random" and req.seconds_length == pytest.approx(3.2)
    status = client.request("/jbdiff/midi/status")
    assert status[status.index("bpm") + 1] == pytest.approx(150.0)
    assert status[status.index("state") + 1] == "idle"                     # no port asked for, no virtual port


def test_midi_bytes_over_osc_work_without_a_midi_backend(serve, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "rtmidi", None)                      # as on this machine: no python-rtmidi
    monkeypatch.delitem(sys.modules, "mido.backends.rtmidi", raising=False)
    caplog.set_level(logging.INFO, logger="server.midi")
    srv, client, midi = serve(cc={7: {"param": "init_strength", "min": 0.0, "max": 1.0}})
    status = client.request("/jbdiff/midi/status")
    kv = dict(zip(status[0::2], status[1::2], strict=True))
    assert kv["state"] == "unavailable" and "python-rtmidi" in kv["message"]
    assert client.request("/jbdiff/midi/in", 0xB0, 7, 127) == [1]
    assert srv.params.get("init_strength") == 1.0
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder("/jbdiff/midi/in")
    b.add_arg(bytes([0x90, 40, 100]), OscMessageBuilder.ARG_TYPE_BLOB)
    client.send_raw(b.build().dgram)
    assert client.expect("/jbdiff/midi/in") == [1]
    assert client.expect("/jbdiff/job/accepted")[1] == "midi:40"
    err = client.request("/jbdiff/midi/ports", reply="/jbdiff/error")
    assert err[2] == "DeviceUnavailable"
    err = client.request("/jbdiff/midi/in", "x", reply="/jbdiff/error")
    assert err[2] == "BadRequest"
    client.request("/jbdiff/midi/status")
    said = [r for r in caplog.records if r.name == "server.midi" and "without MIDI" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING                          # said once
