"""Jobs per minute of `jbdiff serve` with 1 worker against N workers (one process per GPU) on one queue.

Starts the real server in-process (journal, queue, supervisor) with one worker process per
device (``worker_mode: process``, as the server runs several GPUs), queues the same generations
for each worker count, and times from the first submit to the last ``done``. Model loading and
one warm-up job per worker (CUDA graphs are captured on first use) are not timed.

  python bench/server_workers.py --workers cuda:0 --workers cuda:0,cuda:1 --jobs 8
  python bench/server_workers.py --model tiny --workers cpu --workers cpu,cpu --jobs 4 --seconds 1   # smoke
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.app import Server  # noqa: E402
from server.config import ServerConfig  # noqa: E402
from server.queue import EventKind, JobEvent  # noqa: E402


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def run_once(devices: list[str], args: argparse.Namespace) -> dict:
    """Time ``args.jobs`` generations through a fresh server with one worker per device."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp, model=args.model, workers=devices,
                           worker_mode=args.mode, max_queue=max(32, args.jobs))
        srv = Server(cfg).start()
        lock = threading.Lock()
        finished: list[JobEvent] = []
        all_done = threading.Event()
        want = [len(devices)]

        def on_event(event: JobEvent) -> None:
            if event.kind in (EventKind.DONE, EventKind.FAILED):
                with lock:
                    finished.append(event)
                    if len(finished) >= want[0]:
                        all_done.set()

        srv.queue.subscribe(on_event)
        try:
            wait_until(lambda: all(w.loaded.is_set() for w in srv.workers), args.timeout, "the models to load")
            broken = [w.describe() + f": {w.message}" for w in srv.workers if w.state.value != "ready"]
            if broken:
                raise SystemExit("workers not ready: " + "; ".join(broken))
            base = {"seconds": args.seconds, "levels": args.levels, "noise_seed": 1, "dd_noise_seed": 2}
            for _ in devices:                       # one warm-up job per worker, not timed
                srv.submit(base, source="bench")
            if not all_done.wait(args.timeout):
                raise SystemExit("the warm-up jobs did not finish")
            with lock:
                finished.clear()
                all_done.clear()
                want[0] = args.jobs
            t0 = time.perf_counter()
            for i in range(args.jobs):
                srv.submit({**base, "noise_seed": 100 + i}, source="bench")
            all_done.wait(timeout=args.timeout)
            wall = time.perf_counter() - t0
            with lock:
                events = list(finished)
        finally:
            srv.stop(on_shutdown="cancel", drain_timeout=5)
        ok = [e for e in events if e.kind == EventKind.DONE]
        per_worker = Counter(e.job.worker for e in ok)
        return {"workers": ",".join(devices), "mode": srv.worker_mode, "jobs": args.jobs, "done": len(ok),
                "wall_s": wall, "jobs_per_min": 60.0 * len(ok) / wall if wall > 0 else 0.0,
                "split": " ".join(f"{w}:{n}" for w, n in sorted(per_worker.items()))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="random-v1", help="random-v1 (published shapes, random weights), tiny, ...")
    ap.add_argument("--workers", action="append", required=True, help="comma-separated devices; repeat to compare")
    ap.add_argument("--mode", default="process", choices=("process", "thread", "auto"),
                    help="worker_mode for every run (default process: one process per device)")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each generation")
    ap.add_argument("--levels", default="210")
    ap.add_argument("--timeout", type=float, default=480.0)
    args = ap.parse_args(argv)
    rows = [run_once([d.strip() for d in spec.split(",") if d.strip()], args) for spec in args.workers]
    print(f"{'workers':<18} {'mode':<8} {'done':>7} {'wall s':>8} {'jobs/min':>9}  jobs per worker")
    for row in rows:
        print(f"{row['workers']:<18} {row['mode']:<8} {row['done']:>3}/{row['jobs']:<3} {row['wall_s']:>8.1f} "
              f"{row['jobs_per_min']:>9.2f}  {row['split']}", flush=True)
    if len(rows) > 1 and rows[0]["jobs_per_min"] > 0:
        print(f"speed-up {rows[-1]['jobs_per_min'] / rows[0]['jobs_per_min']:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
