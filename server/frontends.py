"""What the hot folder, MIDI input and audio device share: their errors, news to clients, wiring.

None of them has a client that asked, so what they have to say (a rejected drop, a MIDI note
the model could not take) goes to every client registered with ``/jbdiff/hello``, on the same
error address OSC requests use, plus a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from server.errors import ServerError
from server.osc.routes import ERROR_ADDRESS

if TYPE_CHECKING:
    from server.app import Server

logger = logging.getLogger(__name__)

T = TypeVar("T")


def broadcast(server: Server, address: str, args: Sequence[Any]) -> int:
    """Send one message to every registered client; returns how many it went to."""
    transport = server.transport
    if transport is None:
        return 0
    targets = server.clients.registered()
    for to in targets:
        transport.send(address, list(args), to)
    return len(targets)


def broadcast_error(server: Server, address: str, exc: ServerError | str, code: str | None = None) -> None:
    """``/jbdiff/error <address> <message> <code>`` to every registered client, and a log line."""
    message = str(exc)
    code = code or (exc.code if isinstance(exc, ServerError) else "InternalError")
    logger.warning("%s: %s (%s)", address, message, code)
    broadcast(server, ERROR_ADDRESS, [address, message[:800], code])


def find_service(server: Server, cls: type[T]) -> T | None:
    """The running service of this type (route handlers reach the hot folder, MIDI and audio this way)."""
    for service in server.services:
        if isinstance(service, cls):
            return service
    return None


def install_front_ends(server: Server) -> None:
    """Add the hot folder, MIDI input and audio device to a server before ``start()``.

    Each one that cannot run here (no MIDI backend, no sound card) says so once in the log and
    answers its OSC routes with ``DeviceUnavailable``; the server itself runs either way.
    """
    from server.audio_device import AudioDevice
    from server.hotfolder import HotFolder
    from server.midi import MidiInput

    cfg = server.cfg
    if cfg.hotfolder.enabled:
        server.add_service(HotFolder(server))
    if cfg.midi.enabled:
        server.add_service(MidiInput(server))
    server.add_service(AudioDevice(server))
