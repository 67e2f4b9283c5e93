"""OSC round-trip latency of the server (ping, generate-accept), idle and while a job renders, and idle CPU.

Runs the server as a subprocess (so client and server do not share a GIL), talks to it over
UDP on loopback and prints a table. Two ways of sending 1,000 messages:

- ``sequential``: one request at a time, each waiting for its reply (the latency a client sees);
- ``burst``: all 1,000 sent back to back, replies collected as they come (includes the time a
  message waits behind the ones before it, so it also shows throughput).

Usage::

    python bench/server.py                       # CPU, tiny models, 1,000 messages
    python bench/server.py --device cuda --model jbdiff-v1
    python bench/server.py --engine burn         # a torch busy-loop engine instead of the pipeline
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ a load-generating engine


class BurnEngine:
    """Keeps the worker busy with torch matmuls (GIL released, like real model code) until cancelled."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.device = "cpu" if device == "auto" and not torch.cuda.is_available() else device
        self.device = "cuda" if self.device == "auto" else self.device

    def generate(self, request: Any, *, progress: Any = None, cancel: Any = None) -> Any:
        from jbdiff.errors import CancelledError

        torch = self.torch
        x = torch.randn(512, 512, device=self.device)
        for step in range(10**9):
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled")
            for _ in range(4):
                x = torch.tanh(x @ x)
            if progress is not None:
                progress("level", 2, step % 100 + 1, 100)
        raise AssertionError("unreachable")


def burn_engine(device: str, model: str) -> BurnEngine:
    return BurnEngine(device)


# ------------------------------------------------------------------ client side


def osc(address: str, *args: Any) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class Client:
    """A UDP socket plus a receiver thread that timestamps every reply."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.replies: list[tuple[float, str, list[Any]]] = []
        self.cond = threading.Condition()
        self.running = True
        threading.Thread(target=self._recv, daemon=True).start()

    def _recv(self) -> None:
        while self.running:
            try:
                data, _ = self.sock.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            t = time.perf_counter()
            msg = OscMessage(data)
            with self.cond:
                self.replies.append((t, msg.address, list(msg.params)))
                self.cond.notify_all()

    def send(self, dgram: bytes) -> float:
        t = time.perf_counter()
        self.sock.sendto(dgram, self.server)
        return t

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0, start: int = 0) -> list:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [r for r in self.replies[start:] if r[1] == address]
                if len(got) >= count or time.monotonic() > deadline:
                    return got
                self.cond.wait(0.05)

    def mark(self) -> int:
        with self.cond:
            return len(self.replies)


def sequential(client: Client, dgram_for: Any, reply: str, n: int) -> tuple[list[float], int]:
    """n round trips, one at a time; returns latencies (ms) and how many got no reply within 1 s."""
    lat, lost = [], 0
    for i in range(n):
        start = client.mark()
        t0 = client.send(dgram_for(i))
        got = client.wait_for(reply, 1, timeout=1.0, start=start)
        if got:
            lat.append((got[0][0] - t0) * 1000)
        else:
            lost += 1
    return lat, lost


def burst(client: Client, dgram_for: Any, reply: str, n: int, key: Any) -> tuple[list[float], int, float]:
    """n messages back to back; latency per message matched by ``key(i)`` (or arrival order)."""
    start = client.mark()
    sent = [client.send(dgram_for(i)) for i in range(n)]
    got = client.wait_for(reply, n, timeout=max(10.0, n / 50), start=start)
    lat = []
    if key is None:
        lat = [(r[0] - sent[i]) * 1000 for i, r in enumerate(got[:n])]
    else:
        by_key = {key(i): sent[i] for i in range(n)}
        lat = [(r[0] - by_key[r[2][1]]) * 1000 for r in got if r[2][1] in by_key]
    span = (got[-1][0] - sent[0]) if got else float("nan")
    return lat, n - len(lat), len(lat) / span if got else 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="worker device: auto, cpu, cuda, cuda:N")
    ap.add_argument("--model", default="tiny", help="model for the pipeline engine (tiny, jbdiff-v1, ...)")
    ap.add_argument("--engine", choices=("pipeline", "burn"), default="pipeline",
                    help="pipeline: the real model renders; burn: a torch busy loop")
    ap.add_argument("--messages", type=int, default=1000, help="messages per measurement")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the background job (pipeline engine)")
    ap.add_argument("--idle-seconds", type=float, default=5.0, help="how long to measure idle CPU")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="jbdiff-bench-server-"))
    port = free_port()
    client = Client(("127.0.0.1", port))
    cfg = {"port": port, "reply_port": client.port, "data_dir": str(tmp / "data"), "model": args.model,
           "workers": [args.device], "max_queue": 10000, "progress_hz": 4}
    if args.engine == "burn":
        cfg["engine_factory"] = "bench.server:burn_engine"
    (tmp / "server.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "server", "--config", str(tmp / "server.yaml")],
                            cwd=ROOT, env=env, stdout=log, stderr=log)
    rows: list[tuple[str, str, int, list[float], int, str]] = []
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start:\n{(tmp / 'server.log').read_text()}")
            start = client.mark()
            client.send(osc("/jbdiff/status"))
            got = client.wait_for("/jbdiff/status", 1, timeout=0.5, start=start)
            if got:
                kv = dict(zip(got[0][2][0::2], got[0][2][1::2], strict=True))
                if kv["model"] == "ready":
                    break
                if kv["model"] in ("missing", "error"):
                    raise SystemExit(f"model did not load: {kv['model_message']}")
            time.sleep(0.2)

        time.sleep(1.0)
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = 100 * (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)

        n = args.messages
        ping = osc("/jbdiff/ping")
        lat, lost = sequential(client, lambda i: ping, "/jbdiff/pong", n)
        rows.append(("ping", "idle", n, lat, lost, "sequential"))
        lat, lost, rate = burst(client, lambda i: ping, "/jbdiff/pong", n, None)
        rows.append(("ping", "idle", n, lat, lost, f"burst, {rate:.0f} msg/s"))

        # One long job renders in the background while the next measurements run.
        start = client.mark()
        client.send(osc("/jbdiff/generate", "seconds", args.seconds, "tag", "background"))
        if not client.wait_for("/jbdiff/job/progress", 1, timeout=120, start=start):
            raise SystemExit("the background job did not start rendering")
        busy_c0, busy_t0 = cpu_seconds(proc.pid), time.monotonic()

        def gen(i: int) -> bytes:
            return osc("/jbdiff/generate", "seconds", 1.0, "tag", f"t{i}")

        lat, lost = sequential(client, lambda i: ping, "/jbdiff/pong", n)
        rows.append(("ping", "job rendering", n, lat, lost, "sequential"))
        lat, lost = sequential(client, gen, "/jbdiff/job/accepted", n)
        rows.append(("generate-accept", "job rendering", n, lat, lost, "sequential"))
        client.send(osc("/jbdiff/cancel", "all"))
        time.sleep(0.5)
        start = client.mark()
        client.send(osc("/jbdiff/generate", "seconds", args.seconds, "tag", "background2"))
        client.wait_for("/jbdiff/job/progress", 1, timeout=120, start=start)
        lat, lost, rate = burst(client, lambda i: osc("/jbdiff/generate", "seconds", 1.0, "tag", f"b{i}"),
                                "/jbdiff/job/accepted", n, key=lambda i: f"b{i}")
        rows.append(("generate-accept", "job rendering", n, lat, lost, f"burst, {rate:.0f} msg/s"))
        busy_cpu = 100 * (cpu_seconds(proc.pid) - busy_c0) / (time.monotonic() - busy_t0)
        client.send(osc("/jbdiff/cancel", "all"))
        time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        client.running = False

    import platform

    print(f"jbdiff server OSC bench: engine={args.engine} model={args.model} device={args.device} "
          f"python={platform.python_version()} cpus={os.cpu_count()}")
    print(f"{'request':<16} {'while':<14} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>5}  mode")
    for name, state, count, lat, lost, mode in rows:
        print(f"{name:<16} {state:<14} {count:>5} {statistics.median(lat) if lat else float('nan'):>8.3f} "
              f"{pct(lat, 99):>8.3f} {max(lat) if lat else float('nan'):>8.3f} {lost:>5}  {mode}")
    print(f"idle CPU of the server process: {idle_cpu:.2f} % of one core over {args.idle_seconds:.0f} s")
    print(f"server CPU while rendering and answering: {busy_cpu:.0f} % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
