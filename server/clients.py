"""Who to answer: the sender's host on the default reply port, or the port it registered with hello."""

from __future__ import annotations

import threading
from collections import OrderedDict

from server.errors import BadRequest

Address = tuple[str, int]


class Clients:
    """Registrations by (host, source port), newest kept when the table is full."""

    def __init__(self, default_reply_port: int, max_clients: int = 64) -> None:
        self.default_reply_port = default_reply_port
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._ports: OrderedDict[Address, int] = OrderedDict()

    def register(self, sender: Address, reply_port: int) -> Address:
        if not 1 <= reply_port <= 65535:
            raise BadRequest(f"reply_port: {reply_port} is out of range (allowed: 1 .. 65535)")
        key = (sender[0], sender[1])
        with self._lock:
            self._ports[key] = reply_port
            self._ports.move_to_end(key)
            while len(self._ports) > self.max_clients:
                self._ports.popitem(last=False)
        return (sender[0], reply_port)

    def unregister(self, sender: Address) -> None:
        with self._lock:
            self._ports.pop((sender[0], sender[1]), None)

    def reply_address(self, sender: Address) -> Address:
        with self._lock:
            port = self._ports.get((sender[0], sender[1]), self.default_reply_port)
        return (sender[0], port)

    def registered(self) -> list[Address]:
        """Reply addresses of every registered client (events of jobs without a client go there)."""
        with self._lock:
            return sorted({(host, port) for (host, _src), port in self._ports.items()})
