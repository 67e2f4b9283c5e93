"""``/jbdiff/midi/*``: MIDI input state, ports, and MIDI bytes forwarded over OSC."""

from __future__ import annotations

from typing import Any

from server.errors import BadRequest
from server.frontends import find_service
from server.midi import MIDI_ADDRESS, MidiInput
from server.osc.routes import Arg, Call, Reply, Route

MAX_BYTES = 1024


def _midi(call: Call) -> MidiInput:
    midi = find_service(call.server, MidiInput)
    if midi is None:
        raise BadRequest("MIDI is off (midi.enabled in configs/server.yaml)")
    return midi


def status(call: Call) -> list[Reply]:
    flat: list[Any] = []
    for key, value in _midi(call).status_items():
        flat += [key, value]
    return [Reply("/jbdiff/midi/status", flat)]


def ports(call: Call) -> list[Reply]:
    return [Reply("/jbdiff/midi/ports", _midi(call).port_names())]


def connect(call: Call, port: str) -> list[Reply]:
    return [Reply("/jbdiff/midi/connect", [_midi(call).connect(port)])]


def midi_in(call: Call, *data: Any) -> list[Reply]:
    if len(data) == 1 and isinstance(data[0], bytes | bytearray):
        raw = bytes(data[0])
    elif data and all(isinstance(b, int) and not isinstance(b, bool) for b in data):
        raw = list(data)
    else:
        raise BadRequest("expected MIDI bytes as ints 0 .. 255 or as one blob")
    if len(raw) > MAX_BYTES:
        raise BadRequest(f"at most {MAX_BYTES} MIDI bytes per message (got {len(raw)})")
    actions = _midi(call).feed(raw)
    return [Reply("/jbdiff/midi/in", [len(actions)])]


ROUTES: tuple[Route, ...] = (
    Route("/jbdiff/midi/status", status,
          "MIDI input: state (listening|idle|unavailable), message (why not, e.g. no python-rtmidi), backend, "
          "ports (open inputs, ' | '-separated), bpm (from MIDI clock; 0: none yet), messages (received). "
          f"Actions MIDI could not carry out are reported as `/jbdiff/error {MIDI_ADDRESS} <message> <code>` "
          "to registered clients.",
          replies=("/jbdiff/midi/status <key> <value> ...",)),
    Route("/jbdiff/midi/ports", ports, "MIDI input ports the backend sees now (DeviceUnavailable without a backend).",
          replies=("/jbdiff/midi/ports <name> ...",)),
    Route("/jbdiff/midi/connect", connect,
          "Open another MIDI input now: an exact port name or a unique part of one (e.g. a controller plugged "
          "in after the server started).",
          args=(Arg("port", "string", "port name or part of it"),),
          replies=("/jbdiff/midi/connect <port name>",)),
    Route("/jbdiff/midi/in", midi_in,
          "MIDI bytes forwarded over OSC (e.g. by the Max device from its track), mapped exactly like the MIDI "
          "port: works without a MIDI backend. Running status and clock bytes inside messages are understood.",
          rest=Arg("byte", "int", "MIDI bytes 0 .. 255 (e.g. 144 60 100), or a single blob"),
          replies=("/jbdiff/midi/in <actions taken>",)),
)
