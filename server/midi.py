"""MIDI in: notes start generations, controllers turn live parameters, programs load presets, clock sets bpm.

:func:`map_message` is the whole mapping, a pure function from one ``mido.Message`` (plus the
clock state and the time it arrived) to a list of actions. :class:`MidiInput` is the plumbing
around it: it opens the configured input port and a virtual ``jbdiff`` port through mido's
backend (python-rtmidi when installed), and its port callback, :meth:`MidiInput.feed` (raw bytes,
e.g. forwarded over OSC by ``/jbdiff/midi/in``) and the tests all go through
:meth:`MidiInput.handle`, which maps and then applies the actions through ``Server.set_param``,
``Server.submit`` and the presets, as OSC does. Without a backend or a port the server runs
without MIDI and says so once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import mido
from mido.messages.specs import SPEC_BY_STATUS

from jbdiff.errors import JbdiffError
from server.config import MidiConfig, MidiNotes, RangeMap
from server.errors import BadRequest, DeviceUnavailable, PresetNotFound, ServerError
from server.frontends import broadcast_error
from server.params import PARAMS_BY_NAME, parse_pairs

if TYPE_CHECKING:
    from server.app import Server

logger = logging.getLogger(__name__)

MIDI_ADDRESS = "/jbdiff/midi"          # the address in error replies to MIDI-triggered actions
TICKS_PER_BEAT = 24                    # MIDI clock: 24 pulses per quarter note
CLOCK_WINDOW_BEATS = 4                 # tempo is averaged over up to this many beats
MAX_TICK_GAP_S = 0.5                   # a longer gap (slower than 5 bpm) restarts the measurement
BPM_RESOLUTION = 0.1
BPM_DEADBAND = 0.15                    # report a new tempo only when it moved this much (clock jitter)
BPM_RANGE = (20.0, 400.0)


# ---------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class SetParam:
    """Set a live parameter (what ``/jbdiff/param/set`` does)."""

    name: str
    value: Any


@dataclass(frozen=True)
class Generate:
    """Queue a job: ``values`` as ``/jbdiff/generate`` key/value pairs, over a preset's values if named."""

    values: tuple[tuple[str, Any], ...] = ()
    preset: str | None = None


@dataclass(frozen=True)
class LoadPreset:
    """Load a preset by name, or the ``index``-th saved preset in name order (what ``/jbdiff/preset/load`` does)."""

    name: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class CancelAll:
    """Cancel every queued and running job (what ``/jbdiff/cancel all`` does)."""


Action = SetParam | Generate | LoadPreset | CancelAll


@dataclass(frozen=True)
class ClockState:
    """MIDI clock so far: recent tick times, ticks since the last estimate, the tempo last reported."""

    ticks: tuple[float, ...] = ()
    since: int = 0
    bpm: float | None = None
    running: bool = False


# ---------------------------------------------------------------------------- the mapping (pure)


def scale(value: int, target: RangeMap) -> Any:
    """A MIDI value 0 .. 127 as the parameter's value: linear for numbers, even buckets for choices."""
    spec = PARAMS_BY_NAME[target.param]
    value = min(max(int(value), 0), 127)
    if spec.kind == "bool":
        return value >= 64
    if spec.kind == "choice":
        return spec.choices[min(value * len(spec.choices) // 128, len(spec.choices) - 1)]
    assert target.min is not None and target.max is not None
    x = target.min + (target.max - target.min) * value / 127.0
    if spec.kind in ("int", "seed"):
        return int(round(x))
    return x


def map_message(msg: mido.Message, cfg: MidiConfig, clock: ClockState, now: float) -> tuple[list[Action], ClockState]:
    """What one message asks the server to do, and the clock state after it."""
    channel = getattr(msg, "channel", None)
    if cfg.channel is not None and channel is not None and channel != cfg.channel - 1:
        return [], clock
    kind = msg.type
    if kind == "note_on" and msg.velocity > 0:           # velocity 0 is a note-off by convention
        return _note(msg.note, msg.velocity, cfg.notes), clock
    if kind == "control_change":
        target = cfg.cc.get(msg.control)
        return ([SetParam(target.param, scale(msg.value, target))] if target else []), clock
    if kind == "program_change":
        if cfg.programs:
            name = cfg.programs.get(msg.program)
            return ([LoadPreset(name=name)] if name else []), clock
        return [LoadPreset(index=msg.program)], clock
    if kind in ("clock", "start", "continue", "stop"):
        return _clock(kind, cfg, clock, now)
    return [], clock


def _note(note: int, velocity: int, notes: MidiNotes) -> list[Action]:
    if not notes.enabled or not notes.low <= note <= notes.high:
        return []
    values: list[tuple[str, Any]] = []
    if notes.velocity is not None:
        values.append((notes.velocity.param, scale(velocity, notes.velocity)))
    preset = None
    if notes.note_to == "seed":
        values.append(("noise_seed", note + notes.seed_offset))
    elif notes.note_to == "preset":
        preset = notes.presets.get(note)
    if notes.bars is not None:
        values.append(("bars", notes.bars))
    values.append(("tag", f"midi:{note}"))
    return [Generate(tuple(values), preset)]


def _clock(kind: str, cfg: MidiConfig, clock: ClockState, now: float) -> tuple[list[Action], ClockState]:
    if kind == "start":
        actions: list[Action] = [Generate((("tag", "midi:start"),))] if cfg.clock_start == "generate" else []
        return actions, replace(clock, ticks=(), since=0, running=True)
    if kind == "continue":
        return [], replace(clock, ticks=(), since=0, running=True)
    if kind == "stop":
        actions = [CancelAll()] if cfg.clock_stop == "cancel" else []
        return actions, replace(clock, ticks=(), since=0, running=False)
    if not cfg.clock:
        return [], clock
    ticks = clock.ticks
    if ticks and not 0 < now - ticks[-1] <= MAX_TICK_GAP_S:
        ticks = ()                                        # a pause or a clock jump: measure afresh
    ticks = (ticks + (now,))[-(TICKS_PER_BEAT * CLOCK_WINDOW_BEATS + 1):]
    since = clock.since + 1 if len(ticks) > 1 else 0
    state = replace(clock, ticks=ticks, since=since)
    beats = (len(ticks) - 1) // TICKS_PER_BEAT
    if beats < 1 or since < TICKS_PER_BEAT:
        return [], state
    span = ticks[-1] - ticks[-1 - beats * TICKS_PER_BEAT]
    state = replace(state, since=0)
    if span <= 0:
        return [], state
    bpm = round(60.0 * beats / span / BPM_RESOLUTION) * BPM_RESOLUTION
    bpm = round(bpm, 3)
    if not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        return [], state
    if clock.bpm is not None and abs(bpm - clock.bpm) < BPM_DEADBAND:
        return [], state
    return [SetParam("bpm", bpm)], replace(state, bpm=bpm)


def describe(msg: mido.Message) -> str:
    """A short name for a message in log lines and error replies."""
    parts = [msg.type] + [f"{k} {getattr(msg, k)}" for k in ("channel", "note", "velocity", "control", "value",
                                                                "program") if hasattr(msg, k)]
    return " ".join(str(p) for p in parts)


# ---------------------------------------------------------------------------- raw bytes


class ByteStream:
    """Raw MIDI bytes -> messages: mido's parser, plus what it drops from real streams.

    A stream from hardware (or forwarded by a Max device) may use running status (data bytes
    that reuse the last channel status) and may put clock bytes inside another message; mido's
    tokenizer ignores the first and resets on the second, so both are handled here first.
    """

    def __init__(self) -> None:
        self._parser = mido.Parser()
        self._running = 0           # last channel-voice status byte, 0 when none applies
        self._need = 0              # data bytes the message being parsed still needs

    def feed(self, data: bytes | Sequence[int]) -> list[mido.Message]:
        out: list[mido.Message] = []
        for byte in data:
            if not 0 <= byte <= 255:
                raise BadRequest(f"MIDI byte {byte!r} is out of range (allowed: 0 .. 255)")
            if byte >= 0xF8:                                  # realtime: delivered at once, parsing goes on
                if byte in SPEC_BY_STATUS:
                    out.append(mido.Message.from_bytes([byte]))
                continue
            if byte >= 0x80:
                if byte == 0xF0:
                    self._running, self._need = 0, -1         # sysex: data until 0xF7
                elif byte == 0xF7:
                    self._need = 0
                else:
                    self._need = SPEC_BY_STATUS[byte]["length"] - 1 if byte in SPEC_BY_STATUS else 0
                    self._running = byte if byte < 0xF0 else 0
                self._parser.feed_byte(byte)
            else:
                if self._need == 0 and self._running:
                    self._parser.feed_byte(self._running)
                    self._need = SPEC_BY_STATUS[self._running]["length"] - 1
                self._parser.feed_byte(byte)
                if self._need > 0:
                    self._need -= 1
            out.extend(self._parser)
        return out


# ---------------------------------------------------------------------------- ports


def match_port(wanted: str, names: Sequence[str]) -> str:
    """The input named ``wanted``: an exact name, else the one name containing it (case-insensitive)."""
    if wanted in names:
        return wanted
    hits = [n for n in names if wanted.lower() in n.lower()]
    if len(hits) == 1:
        return hits[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    if hits:
        raise DeviceUnavailable(f"MIDI port {wanted!r} matches several inputs ({', '.join(map(repr, hits))}); "
                                "give more of the name")
    raise DeviceUnavailable(f"no MIDI input named {wanted!r} (inputs: {listed})")


@dataclass
class _Status:
    state: str = "off"              # off, unavailable, idle, listening
    message: str = "not started"
    backend: str = ""
    ports: list[str] = field(default_factory=list)


class MidiInput:
    """The MIDI service: ports in, :func:`map_message`, actions applied to the server."""

    def __init__(self, server: Server, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self.cfg = server.cfg.midi
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._clock = ClockState()
        self._bytes = ByteStream()
        self._backend: Any = None
        self._ports: list[Any] = []
        self.status = _Status()
        self.messages = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        notes: list[str] = []
        try:
            self._backend = self._load_backend()
        except DeviceUnavailable as exc:
            self.status = _Status("unavailable", str(exc))
            logger.warning("MIDI: %s; the server runs without MIDI input (OSC /jbdiff/midi/in still works)", exc)
            return
        self.status.backend = self._backend.name
        if self.cfg.virtual_port:
            try:
                self._open(self.cfg.virtual_port, virtual=True)
            except Exception as exc:  # noqa: BLE001 - Windows' MIDI API has no virtual ports; rtmidi says so variously
                notes.append(f"no virtual port {self.cfg.virtual_port!r} ({exc})")
        if self.cfg.port:
            try:
                self.connect(self.cfg.port)
            except DeviceUnavailable as exc:
                notes.append(str(exc))
        if self._ports:
            self.status.state = "listening"
            self.status.message = "listening on " + ", ".join(repr(p.name) for p in self._ports)
            logger.info("MIDI: %s%s", self.status.message, f" ({'; '.join(notes)})" if notes else "")
        else:
            self.status.state = "idle"
            self.status.message = "; ".join(notes) or "no input port configured (midi.port) and no virtual port"
            logger.warning("MIDI: %s; the server runs without MIDI input", self.status.message)

    def stop(self) -> None:
        with self._lock:
            ports, self._ports = self._ports, []
        for port in ports:
            try:
                port.close()
            except Exception:  # noqa: BLE001 - closing a vanished device must not stop the shutdown
                logger.debug("MIDI: closing %r failed", port, exc_info=True)

    def _load_backend(self) -> Any:
        try:
            backend = mido.Backend(self.cfg.backend, load=True)
        except ImportError as exc:
            name = self.cfg.backend or "mido.backends.rtmidi"
            hint = " (pip install python-rtmidi, or 'jukebox-diffusion[midi]')" if "rtmidi" in name else ""
            raise DeviceUnavailable(f"no MIDI backend: {name} cannot be loaded ({exc}){hint}") from None
        except Exception as exc:  # noqa: BLE001 - a backend may fail in its own ways (no ALSA sequencer, ...)
            raise DeviceUnavailable(f"the MIDI backend failed to start ({type(exc).__name__}: {exc})") from None
        return backend

    def port_names(self) -> list[str]:
        """Input ports the backend sees now."""
        if self._backend is None:
            raise DeviceUnavailable(f"MIDI is unavailable: {self.status.message}")
        try:
            return list(self._backend.get_input_names())
        except Exception as exc:  # noqa: BLE001 - backend errors differ per OS
            raise DeviceUnavailable(f"cannot list MIDI inputs ({type(exc).__name__}: {exc})") from None

    def connect(self, wanted: str) -> str:
        """Open the input port matching ``wanted`` (in addition to ports already open); returns its name."""
        name = match_port(wanted, self.port_names())
        if any(p.name == name for p in self._ports):
            return name
        self._open(name, virtual=False)
        self.status.state = "listening"
        self.status.message = "listening on " + ", ".join(repr(p.name) for p in self._ports)
        logger.info("MIDI: listening on %r", name)
        return name

    def _open(self, name: str, *, virtual: bool) -> None:
        try:
            port = self._backend.open_input(name, virtual=virtual, callback=self.on_message)
        except DeviceUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - OSError, rtmidi errors, NotImplementedError
            raise DeviceUnavailable(f"cannot open MIDI input {name!r} ({type(exc).__name__}: {exc})") from None
        with self._lock:
            self._ports.append(port)
        self.status.ports = [p.name for p in self._ports]

    # ------------------------------------------------------------------ messages in

    def on_message(self, msg: mido.Message) -> None:
        """The port callback (runs on the backend's thread): never raises."""
        try:
            self.handle(msg)
        except Exception:  # noqa: BLE001 - a bad message must not kill the backend's thread
            logger.exception("MIDI: handling %s failed", msg)

    def feed(self, data: bytes | Sequence[int]) -> list[Action]:
        """Raw MIDI bytes (running status and split messages allowed) -> the same path as the callback."""
        actions: list[Action] = []
        with self._lock:
            messages = self._bytes.feed(data)
        for msg in messages:
            actions += self.handle(msg)
        return actions

    def handle(self, msg: mido.Message, now: float | None = None) -> list[Action]:
        """Map one message and apply what it asks for; returns the actions (tests look at them)."""
        with self._lock:
            self.messages += 1
            actions, self._clock = map_message(msg, self.cfg, self._clock, self._monotonic() if now is None else now)
        for action in actions:
            try:
                self.apply(action)
            except ServerError as exc:
                broadcast_error(self.server, MIDI_ADDRESS, f"{describe(msg)}: {exc}", code=exc.code)
            except JbdiffError as exc:
                broadcast_error(self.server, MIDI_ADDRESS, f"{describe(msg)}: {exc}", code=BadRequest.code)
        return actions

    @property
    def bpm(self) -> float | None:
        return self._clock.bpm

    # ------------------------------------------------------------------ actions out

    def apply(self, action: Action) -> None:
        """One action through the server's own front-end API (the paths OSC takes)."""
        server = self.server
        if isinstance(action, SetParam):
            server.set_param(action.name, action.value)
        elif isinstance(action, Generate):
            pairs: list[Any] = []
            own = {key for key, _ in action.values}
            if action.preset is not None:
                for key, value in server.presets.load(action.preset).items():
                    if key in own or (key == "seconds" and "bars" in own) or (key == "bars" and "seconds" in own):
                        continue
                    pairs += [key, value]
            for key, value in action.values:
                pairs += [key, value]
            server.submit(parse_pairs(pairs), source="midi")
        elif isinstance(action, LoadPreset):
            name = action.name
            if name is None:
                names = server.presets.names()
                if action.index is None or not 0 <= action.index < len(names):
                    raise PresetNotFound(f"program {action.index}: {len(names)} preset(s) saved "
                                         f"({', '.join(names) or 'none'}); programs count from 0 in name order")
                name = names[action.index]
            server.params.replace_all(server.presets.load(name))
        elif isinstance(action, CancelAll):
            server.queue.cancel_all()

    # ------------------------------------------------------------------ reporting

    def status_items(self) -> list[tuple[str, Any]]:
        return [("state", self.status.state), ("message", self.status.message),
                ("backend", self.status.backend), ("ports", " | ".join(self.status.ports)),
                ("bpm", float(self._clock.bpm or 0.0)), ("messages", self.messages)]
