"""Named server errors: each carries the code sent on ``/jbdiff/error`` so clients can branch on it."""

from __future__ import annotations

from jbdiff.errors import JbdiffError


class ServerError(JbdiffError):
    """Base of errors answered over OSC; ``code`` is the stable, machine-readable name."""

    code = "ServerError"


class BadRequest(ServerError):
    """Wrong argument count or type, an out-of-range value or an unknown key or parameter."""

    code = "BadRequest"


class UnknownAddress(ServerError):
    """The OSC address is not in the route table."""

    code = "UnknownAddress"


class BadPacket(ServerError):
    """The datagram is not valid OSC, or is larger than the configured limit."""

    code = "BadPacket"


class BadPath(ServerError):
    """A file path escapes the configured roots, does not exist, or is not a regular file."""

    code = "BadPath"


class JobNotFound(ServerError):
    """No job with that id is in the journal."""

    code = "JobNotFound"


class JobFinished(ServerError):
    """The job already reached a final state, so it cannot be cancelled."""

    code = "JobFinished"


class QueueFull(ServerError):
    """The queue holds its configured maximum of waiting jobs."""

    code = "QueueFull"


class ModelNotLoaded(ServerError):
    """Every worker failed to load the selected model (checkpoints missing or broken): select another, or fix it and select it again."""

    code = "ModelNotLoaded"


class PresetNotFound(ServerError):
    """No preset file with that name in the presets folder."""

    code = "PresetNotFound"


class ShuttingDown(ServerError):
    """The server is draining and accepts no new jobs."""

    code = "ShuttingDown"


class OutOfMemory(ServerError):
    """The device ran out of memory during a job (that job fails, the server keeps serving)."""

    code = "OutOfMemory"


class DropRejected(ServerError):
    """A file in the drop folder is not usable audio (not audio, corrupt, truncated or too large)."""

    code = "DropRejected"


class DeviceUnavailable(ServerError):
    """No MIDI or audio backend (python-rtmidi, sounddevice/PortAudio), or no such port or device; the rest of the server works."""

    code = "DeviceUnavailable"


class InternalError(ServerError):
    """A bug: the handler raised something unexpected (logged with its traceback)."""

    code = "InternalError"


ERROR_CLASSES: tuple[type[ServerError], ...] = (
    BadRequest, UnknownAddress, BadPacket, BadPath, JobNotFound, JobFinished, QueueFull,
    ModelNotLoaded, PresetNotFound, ShuttingDown, OutOfMemory, DropRejected, DeviceUnavailable, InternalError,
)
