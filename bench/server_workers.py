"""Jobs per minute of `jbdiff serve` with 1 worker against N workers (one per GPU) on one queue.

Starts the real server in-process (journal, queue, workers), queues the same generations for
each worker count, and times from the first accept to the last ``done``.

  python bench/server_workers.py --workers cuda:0 --workers cuda:0,cuda:1 --jobs 8
  python bench/server_workers.py --model tiny --workers cpu --workers cpu,cpu --jobs 4 --seconds 1   # smoke
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.app import Server  # noqa: E402
from server.config import ServerConfig  # noqa: E402


def run_once(devices: list[str], args: argparse.Namespace) -> dict:
    """Time ``args.jobs`` generations through a fresh server with one worker per device."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp, model=args.model, workers=devices,
                           max_queue=max(32, args.jobs))
        srv = Server(cfg).start()
        done = threading.Event()
        finished: list[str] = []

        def on_event(event) -> None:
            if getattr(event, "kind", None) in ("done", "failed"):
                finished.append(f"{event.kind}")
                if len(finished) >= args.jobs:
                    done.set()

        srv.queue.subscribe(on_event)
        try:
            # Wait until every worker has its model loaded (loading is not part of the job rate).
            deadline = time.time() + 600
            while any(w.state.value != "ready" for w in srv.workers) and time.time() < deadline:
                time.sleep(0.5)
            warm = {"seconds": args.seconds, "levels": args.levels, "noise_seed": 1, "dd_noise_seed": 2}
            # One warm-up job per worker (CUDA graphs are captured on first use), not timed.
            for _ in devices:
                srv.submit(warm, source="bench")
            while len(finished) < len(devices):
                time.sleep(0.1)
            finished.clear()
            t0 = time.perf_counter()
            for i in range(args.jobs):
                srv.submit({**warm, "noise_seed": 100 + i}, source="bench")
            done.wait(timeout=args.timeout)
            wall = time.perf_counter() - t0
        finally:
            srv.stop(on_shutdown="cancel", drain_timeout=5)
        ok = sum(1 for f in finished if f == "done")
        return {"workers": ",".join(devices), "jobs": args.jobs, "done": ok, "wall_s": wall,
                "jobs_per_min": 60.0 * ok / wall if wall > 0 else 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="random-v1", help="random-v1 (published shapes, random weights), tiny, ...")
    ap.add_argument("--workers", action="append", required=True, help="comma-separated devices; repeat to compare")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each generation")
    ap.add_argument("--levels", default="210")
    ap.add_argument("--timeout", type=float, default=480.0)
    args = ap.parse_args(argv)
    rows = []
    for spec in args.workers:
        row = run_once([d.strip() for d in spec.split(",") if d.strip()], args)
        rows.append(row)
        print(f"workers {row['workers']:<16} {row['done']}/{row['jobs']} done in {row['wall_s']:.1f} s: "
              f"{row['jobs_per_min']:.2f} jobs/min", flush=True)
    if len(rows) > 1 and rows[0]["jobs_per_min"] > 0:
        print(f"speed-up {rows[-1]['jobs_per_min'] / rows[0]['jobs_per_min']:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
