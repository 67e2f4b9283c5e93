"""Packets in, replies out: decode, look the address up in the tables, check arguments, answer.

Nothing a client sends can raise out of :meth:`Dispatcher.handle_packet`: every failure becomes
a ``/jbdiff/error <address> <message> <code>`` reply (and a log line for bugs).
"""

from __future__ import annotations

import importlib
import logging
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pythonosc.osc_message import OscMessage
from pythonosc.parsing import osc_types

from jbdiff.errors import JbdiffError
from server.errors import BadPacket, BadRequest, InternalError, ServerError, UnknownAddress
from server.osc.routes import ERROR_ADDRESS, Call, Reply, Route, check_args

if TYPE_CHECKING:
    from server.app import Server

logger = logging.getLogger(__name__)

# One module per domain.
ROUTE_MODULES: tuple[str, ...] = ("server.osc.api", "server.osc.job", "server.osc.params", "server.osc.model",
                                  "server.osc.hotfolder", "server.osc.midi", "server.osc.audio")
BUNDLE_PREFIX = b"#bundle\x00"
MAX_BUNDLE_DEPTH = 4
MAX_BUNDLE_MESSAGES = 64
MAX_ERROR_CHARS = 800
SUPPORTED_TYPE_TAGS = frozenset("ihfdsbrmtTFN[]")
UNPARSED = "?"          # the address in error replies to packets that could not be parsed

Send = Callable[[str, Sequence[Any], tuple[str, int]], None]


def all_routes(modules: Sequence[str] = ROUTE_MODULES) -> tuple[Route, ...]:
    """Every domain's ROUTES, in order; an address defined twice is a bug caught at import."""
    routes: list[Route] = []
    seen: set[str] = set()
    for name in modules:
        for route in importlib.import_module(name).ROUTES:
            if route.address in seen:
                raise ValueError(f"OSC address {route.address} is defined twice")
            seen.add(route.address)
            routes.append(route)
    return tuple(routes)


def decode_packet(data: bytes) -> list[tuple[str, list[Any]]]:
    """A datagram -> (address, arguments) for each message in it (bundles flattened, time tags ignored)."""
    out: list[tuple[str, list[Any]]] = []
    _decode(data, 0, out)
    return out


def _decode(data: bytes, depth: int, out: list[tuple[str, list[Any]]]) -> None:
    if not data:
        raise BadPacket("empty packet")
    if data.startswith(BUNDLE_PREFIX):
        if depth >= MAX_BUNDLE_DEPTH:
            raise BadPacket(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
        index = len(BUNDLE_PREFIX) + 8                      # skip the time tag
        if len(data) < index:
            raise BadPacket("truncated bundle header")
        while index < len(data):
            if index + 4 > len(data):
                raise BadPacket("truncated bundle element size")
            (size,) = struct.unpack(">i", data[index:index + 4])
            index += 4
            if size <= 0 or size % 4 or index + size > len(data):
                raise BadPacket(f"bad bundle element size {size}")
            _decode(data[index:index + size], depth + 1, out)
            index += size
            if len(out) > MAX_BUNDLE_MESSAGES:
                raise BadPacket(f"more than {MAX_BUNDLE_MESSAGES} messages in one bundle")
        return
    if data[:1] != b"/":
        raise BadPacket("not an OSC message (an address starts with '/', a bundle with '#bundle')")
    try:
        _check_type_tags(data)
        msg = OscMessage(data)
        address, params = msg.address, list(msg.params)
    except BadPacket:
        raise
    except Exception as exc:  # noqa: BLE001 - python-osc raises ParseError, UnicodeDecodeError, IndexError ...
        raise BadPacket(f"malformed OSC message ({type(exc).__name__}: {exc})") from None
    if not isinstance(address, str) or not address.startswith("/"):
        raise BadPacket("malformed OSC address")
    out.append((address, params))


def _check_type_tags(data: bytes) -> None:
    """Refuse type tags python-osc would skip with a log line each (a flood of them is log spam)."""
    _, index = osc_types.get_string(data, 0)
    if index >= len(data):
        return
    tags, _ = osc_types.get_string(data, index)
    unknown = set(tags[1:]) - SUPPORTED_TYPE_TAGS if tags.startswith(",") else set()
    if unknown:
        raise BadPacket(f"unsupported OSC type tag(s) {''.join(sorted(unknown))!r} "
                        f"(supported: {''.join(sorted(SUPPORTED_TYPE_TAGS))})")


class Dispatcher:
    """Looks addresses up in the route table; the only place that turns exceptions into replies."""

    def __init__(self, server: Server, routes: Sequence[Route], send: Send) -> None:
        self.server = server
        self.routes = {r.address: r for r in routes}
        self._send = send

    def handle_packet(self, data: bytes, sender: tuple[str, int]) -> None:
        """Handle one datagram; never raises."""
        try:
            messages = decode_packet(data)
        except ServerError as exc:
            self.reply_error(sender, UNPARSED, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the receiver
            logger.exception("decoding a packet from %s failed", sender)
            self.reply_error(sender, UNPARSED, InternalError(f"cannot decode packet ({type(exc).__name__})"))
            return
        for address, params in messages:
            self.handle_message(address, params, sender)

    def handle_message(self, address: str, params: list[Any], sender: tuple[str, int]) -> None:
        """Run the route for one message and send what it answers (or the error)."""
        try:
            route = self.routes.get(address)
            if route is None:
                raise UnknownAddress(f"unknown address {address} (send /jbdiff/api/describe for the list)")
            args = check_args(route, params)
            replies = route.handler(Call(self.server, sender, address), *args) or []
        except ServerError as exc:
            self.reply_error(sender, address, exc)
            return
        except JbdiffError as exc:
            self.reply_error(sender, address, BadRequest(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - one bad handler must not take the server down
            logger.exception("handler for %s failed", address)
            self.reply_error(sender, address, InternalError(f"{type(exc).__name__}: {exc}"))
            return
        for reply in replies:
            self.send_reply(sender, reply)

    def send_reply(self, sender: tuple[str, int], reply: Reply) -> None:
        to = reply.to or self.server.clients.reply_address(sender)
        self._send(reply.address, list(reply.args), to)

    def reply_error(self, sender: tuple[str, int], address: str, exc: ServerError) -> None:
        message = str(exc)
        if len(message) > MAX_ERROR_CHARS:
            message = message[:MAX_ERROR_CHARS] + "..."
        logger.info("rejected %s from %s: %s %s", address[:200], sender[0], exc.code, message)
        self.send_reply(sender, Reply(ERROR_ADDRESS, [address[:200], message, exc.code]))
