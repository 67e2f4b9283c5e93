"""bench/train.py runs end to end on CPU with --tiny (the GPU numbers come from the same code)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_train_tiny_smoke() -> None:
    res = subprocess.run([sys.executable, "bench/train.py", "--tiny", "--device", "cpu", "--mode", "encode",
                          "--micro-batch", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stderr[-2000:]
    row = [line for line in res.stdout.splitlines() if line.startswith("| 1 |")]
    assert len(row) == 1
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert cells[:4] == ["1", "4", "2", "3"] and float(cells[5]) > 0 and float(cells[6]) > 0
