"""``/jbdiff/preview``, ``/jbdiff/record_context`` and ``/jbdiff/audio/devices``: the server's own sound card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.audio_device import AudioDevice
from server.errors import BadRequest, DeviceUnavailable
from server.frontends import find_service
from server.osc.routes import ERROR_ADDRESS, Arg, Call, Message, Reply, Route


def _audio(call: Call) -> AudioDevice:
    audio = find_service(call.server, AudioDevice)
    if audio is None:
        raise DeviceUnavailable("audio: the audio device service is not running")
    return audio


def preview(call: Call, job_id: str) -> list[Reply]:
    seconds = _audio(call).preview(job_id)
    return [Reply("/jbdiff/preview", [job_id, float(seconds)])]


def preview_stop(call: Call) -> list[Reply]:
    _audio(call).stop_preview()
    return [Reply("/jbdiff/preview/stop", [])]


def record_context(call: Call, seconds: float, device: Any = None) -> list[Reply]:
    if device is not None and (isinstance(device, bool) or not isinstance(device, str | int)):
        raise BadRequest(f"device: expected a device name or index, got {device!r}")
    server = call.server
    to = server.clients.reply_address(call.sender)

    def done(path: Path | None, error: Exception | None) -> None:
        if server.transport is None:
            return
        if path is not None:
            server.transport.send("/jbdiff/record_context/done", [str(path)], to)
        else:
            code = getattr(error, "code", DeviceUnavailable.code)
            server.transport.send(ERROR_ADDRESS, ["/jbdiff/record_context", str(error), code], to)

    path = _audio(call).record(float(seconds), device, done)
    return [Reply("/jbdiff/record_context/started", [str(path), float(seconds)])]


def devices(call: Call) -> list[Reply]:
    flat: list[Any] = []
    for index, name, inputs, outputs in _audio(call).devices():
        flat += [index, name, inputs, outputs]
    return [Reply("/jbdiff/audio/devices", flat)]


ROUTES: tuple[Route, ...] = (
    Route("/jbdiff/preview", preview,
          "Play a finished job's WAV on the server's output device (audio.output_device). Needs sounddevice "
          "and PortAudio (the `audio` extra); without them: DeviceUnavailable.",
          args=(Arg("job_id", "string", "a done job"),),
          replies=("/jbdiff/preview <job_id> <seconds>",)),
    Route("/jbdiff/preview/stop", preview_stop, "Stop the preview that is playing.",
          replies=("/jbdiff/preview/stop",)),
    Route("/jbdiff/record_context", record_context,
          "Record a context clip from an input device into the drop folder's context/ (the hot folder then "
          "makes it the context, as if it had been dropped there).",
          args=(Arg("seconds", "float", "length, > 0 .. audio.record_max_s (default 120)"),
                Arg("device", "any", "input device name (or part of it) or index; default audio.input_device",
                    optional=True)),
          replies=("/jbdiff/record_context/started <path> <seconds>",
                   "then /jbdiff/record_context/done <path>, or /jbdiff/error /jbdiff/record_context ...")),
    Route("/jbdiff/audio/devices", devices, "The sound devices PortAudio sees, with their channel counts.",
          replies=("/jbdiff/audio/devices <index> <name> <inputs> <outputs> ...",)),
)


# Messages this domain sends on its own (documented beside the job events).
NEWS: dict[str, Message] = {
    "recorded": Message("/jbdiff/record_context/done", (Arg("path", "string", "the recorded clip in context/"),),
                        "A /jbdiff/record_context recording is complete (sent to the client that asked)."),
}
