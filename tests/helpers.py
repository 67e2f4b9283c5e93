"""Small helpers shared by test modules (tests/ is on sys.path under pytest's rootdir import)."""

from __future__ import annotations

import torch


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| in float64: the parity measure used against reference fixtures."""
    return ((a.double() - b.double()).norm() / b.double().norm()).item()
