"""UDP in and out: one socket, one receiver thread that sleeps in ``select`` (no polling when idle)."""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

logger = logging.getLogger(__name__)

Address = tuple[str, int]
RECV_BUFFER_BYTES = 4 << 20          # a burst of a thousand messages fits in the kernel buffer
MAX_LOGGED_REFUSALS = 256


def build_message(address: str, args: Sequence[Any]) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class AllowList:
    """Loopback always; other client addresses only if an allowed network contains them."""

    def __init__(self, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.networks = list(networks)
        self._refused: set[str] = set()

    def __call__(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if getattr(ip, "ipv4_mapped", None) is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback or any(ip in net for net in self.networks if net.version == ip.version):
            return True
        if host not in self._refused and len(self._refused) < MAX_LOGGED_REFUSALS:
            self._refused.add(host)
            logger.warning("ignoring OSC from %s: not in the allow list (configs/server.yaml: allow)", host)
        return False


class UdpTransport:
    """Bind, receive on a thread, hand each datagram to ``on_packet``; ``send`` is thread-safe."""

    def __init__(self, host: str, port: int, on_packet: Callable[[bytes, Address], None], *,
                 max_packet: int = 8192, allowed: Callable[[str], bool] = lambda host: True,
                 on_oversize: Callable[[int, Address], None] | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)
        except OSError:  # pragma: no cover - some systems cap it; the default still works
            pass
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self._on_packet = on_packet
        self._on_oversize = on_oversize
        self._allowed = allowed
        self.max_packet = max_packet
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.packets = 0

    @property
    def address(self) -> Address:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def send(self, address: str, args: Sequence[Any], to: Address) -> None:
        try:
            dgram = build_message(address, args)
        except Exception:  # noqa: BLE001 - a reply that cannot be built is a bug; log, keep serving
            logger.exception("cannot build OSC reply %s %r", address, list(args)[:8])
            return
        try:
            self.sock.sendto(dgram, to)
        except OSError as exc:
            logger.debug("cannot send %s to %s: %s", address, to, exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="jbdiff-osc-receiver", daemon=True)
        self._thread.start()

    def stop_receiving(self, timeout: float = 5.0) -> None:
        """Stop reading packets (the socket stays open so late job events can still be sent)."""
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.stop_receiving()
        for s in (self.sock, self._wake_r, self._wake_w):
            s.close()

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    self._drain()
        finally:
            sel.close()

    def _drain(self) -> None:
        """Read every datagram that is waiting (a burst is handled without going back to select)."""
        while not self._stopping:
            try:
                data, sender = self.sock.recvfrom(self.max_packet + 1)
            except (BlockingIOError, InterruptedError):
                return
            except (ConnectionResetError, ConnectionRefusedError):
                continue            # an ICMP error from an earlier send; nothing to read
            except OSError as exc:
                if self._stopping:
                    return
                logger.error("receiving failed: %s", exc)
                return
            sender = (sender[0], sender[1])
            self.packets += 1
            if not self._allowed(sender[0]):
                continue
            if len(data) > self.max_packet:
                if self._on_oversize is not None:
                    self._on_oversize(len(data), sender)
                continue
            try:
                self._on_packet(data, sender)
            except Exception:  # noqa: BLE001 - the receiver thread must survive anything
                logger.exception("packet handler failed")
