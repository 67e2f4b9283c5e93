"""bench/unet.py keeps running: a one-iteration tiny CPU pass prints a complete table row."""

from __future__ import annotations

import runpy
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "unet.py"


def test_bench_tiny_cpu_prints_a_row_per_configuration(capsys) -> None:
    main = runpy.run_path(str(BENCH))["main"]
    args = [
        "--shape",
        "tiny",
        "--device",
        "cpu",
        "--batch",
        "1",
        "2",
        "--warmup",
        "0",
        "--iters",
        "1",
    ]
    assert main(args) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| eager")]
    assert len(rows) == 2 and not any("failed" in r for r in rows)
