"""Shared pieces of the server tests: an OSC client with a bounded wait, config builders, a stand-in engine."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from jbdiff.errors import CancelledError
from jbdiff.request import GenerationRequest
from server.app import Server
from server.config import ServerConfig, parse_server_config


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def osc_bytes(address: str, *args: Any) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class OscClient:
    """A UDP socket that sends to the server and collects every reply on a background thread.

    ``expect`` takes the oldest not-yet-taken message on an address, whatever arrived in
    between on other addresses, so tests do not depend on the order of unrelated messages.
    """

    def __init__(self, server: tuple[str, int],
                 on_message: Callable[[str, list[Any]], None] | None = None) -> None:
        self.server = server
        self.on_message = on_message
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.log: list[tuple[float, str, list[Any]]] = []
        self._taken: set[int] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._recv, daemon=True)
        self._thread.start()

    def _recv(self) -> None:
        while not self._stop:
            try:
                data, _ = self.sock.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            msg = OscMessage(data)
            if self.on_message is not None:
                self.on_message(msg.address, list(msg.params))
            with self._cond:
                self.log.append((time.monotonic(), msg.address, list(msg.params)))
                self._cond.notify_all()

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(osc_bytes(address, *args), self.server)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def expect(self, address: str, timeout: float = 10.0,
               where: Callable[[list[Any]], bool] | None = None) -> list[Any]:
        """Wait (bounded) for the oldest untaken message on ``address`` (matching ``where``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (_, addr, params) in enumerate(self.log):
                    if i not in self._taken and addr == address and (where is None or where(params)):
                        self._taken.add(i)
                        return params
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(a, p) for _, a, p in self.log[-12:]]
                    raise AssertionError(f"no {address} within {timeout} s; last messages: {seen}")
                self._cond.wait(remaining)

    def request(self, address: str, *args: Any, reply: str | None = None, timeout: float = 10.0) -> list[Any]:
        self.send(address, *args)
        return self.expect(reply or address, timeout)

    def events(self, address: str, job_id: str | None = None) -> list[list[Any]]:
        with self._cond:
            return [p for _, a, p in self.log if a == address and (job_id is None or p[:1] == [job_id])]

    def close(self) -> None:
        self._stop = True
        self._thread.join(1.0)
        self.sock.close()


def status(client: OscClient) -> dict:
    flat = client.request("/jbdiff/status")
    return dict(zip(flat[0::2], flat[1::2], strict=True))


def wait_for(predicate, timeout: float, what: str, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def serving(tmp_path: Path) -> Iterator[Callable[..., tuple[Any, OscClient]]]:
    """Body of a ``serve`` fixture: ``serve(loader=..., **config)`` -> (server, registered client), ready.

    ``loader=None`` loads models as the server does; at the end every server stops (cancelling
    its jobs) and no worker process is left behind.
    """
    started: list[tuple[Server, OscClient]] = []

    def start(loader=None, on_message=None, ready=True, **overrides):
        cfg = make_config(tmp_path, **overrides)
        srv = Server(cfg, engine_loader=loader).start()
        client = OscClient(srv.address, on_message=on_message)
        started.append((srv, client))
        assert client.request("/jbdiff/hello", client.port, reply="/jbdiff/hello/ok")
        if ready:
            for w in srv.workers:
                assert w.loaded.wait(60), w.describe()
        return srv, client

    yield start
    for srv, client in started:
        children = [w.pid for w in srv.workers if w.mode == "process" and w.pid]
        srv.stop(on_shutdown="cancel", drain_timeout=1)
        client.close()
        assert not [pid for pid in children if pid_alive(pid)]          # stop leaves no worker process behind


def make_config(tmp: Path, **overrides: Any) -> ServerConfig:
    data = {"port": 0, "reply_port": 9, "data_dir": str(tmp / "data"), "model": "tiny", "workers": ["cpu"],
            "progress_hz": 30.0, "drain_timeout_s": 10.0}
    data.update(overrides)
    return parse_server_config(data)


@dataclass
class StandInEngine:
    """Development stand-in with the Pipeline's generate signature: a sine per step, cancellable."""

    steps_per_level: int = 4
    step_seconds: float = 0.01
    calls: list[GenerationRequest] = field(default_factory=list)
    fail_with: BaseException | None = None
    gate: threading.Event | None = None

    def generate(self, request: GenerationRequest, *, progress: Any = None, cancel: Any = None) -> Any:
        request = request.validate().with_seeds()
        self.calls.append(request)
        if self.gate is not None:
            self.gate.wait(30)
        stages = [("level", lvl) for lvl in request.levels] + ([("dd", None)] if request.use_dd else [])
        for stage, level in stages:
            for step in range(self.steps_per_level):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("generation cancelled")
                time.sleep(self.step_seconds)
                if progress is not None:
                    progress(stage, level, step + 1, self.steps_per_level)
        if self.fail_with is not None:
            raise self.fail_with
        n = int(round((request.seconds_length or 1.0) * 44100))
        t = np.arange(n, dtype=np.float32) / 44100
        audio = np.stack([0.1 * np.sin(2 * np.pi * 220 * t), 0.1 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
        return _Result(audio, 44100, request, {"total": 0.0}, {"engine": "stand-in"})


@dataclass
class _Result:
    audio: np.ndarray
    sample_rate: int
    request: GenerationRequest
    timings: dict[str, float]
    metadata: dict[str, Any]


_TINY: list[Any] = []


def tiny_pipeline() -> Any:
    """The real ``Pipeline.tiny()`` (random weights), built once per test process."""
    if not _TINY:
        from jbdiff.pipeline import Pipeline

        _TINY.append(Pipeline.tiny(device="cpu", seed=0))
    return _TINY[0]


class OutOfMemoryOnce:
    """The real tiny pipeline, except that its first progress call raises CUDA's out-of-memory error."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.armed = True

    def generate(self, request: GenerationRequest, *, progress: Any = None, cancel: Any = None) -> Any:
        import torch

        def boom(*args: Any) -> None:
            if self.armed:
                self.armed = False
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            if progress is not None:
                progress(*args)

        return self.engine.generate(request, progress=boom, cancel=cancel)
