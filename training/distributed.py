"""The Lightning strategy for a run: plain single-device, or DDP tuned for our U-Nets' fixed graphs."""

from __future__ import annotations

from typing import Any

from jbdiff.errors import ConfigError
from training.settings import GRAD_COMM


def make_strategy(name: str, world: int, *, grad_comm: str = "fp32", static_graph: bool = False) -> Any:
    """Lightning `strategy=` value for `name` ('auto', 'ddp' or any Lightning name) on `world` processes.

    'auto' and 'ddp' with more than one process give a DDPStrategy whose gradients are views of
    the all-reduce buckets (no copy per step); ``static_graph`` (for modules that declare it:
    every parameter used in every step the same way) lets the reducer skip its per-step search. ``grad_comm='bf16'`` casts gradients to bf16 for the
    all-reduce (half the traffic, bf16 precision). Other names go to Lightning unchanged.
    """
    if grad_comm not in GRAD_COMM:
        raise ConfigError(f"--grad-comm: {grad_comm!r} is not allowed (allowed: {', '.join(GRAD_COMM)})")
    if name not in ("auto", "ddp"):
        if grad_comm != "fp32":
            raise ConfigError(f"--grad-comm {grad_comm} works with --strategy auto or ddp, not {name!r}")
        return name
    if world <= 1:
        if grad_comm != "fp32":
            raise ConfigError("--grad-comm bf16 needs more than one process (--devices/--num-nodes)")
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    kwargs: dict[str, Any] = {"gradient_as_bucket_view": True, "static_graph": static_graph}
    if grad_comm == "bf16":
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        kwargs["ddp_comm_hook"] = default_hooks.bf16_compress_hook
    return DDPStrategy(**kwargs)
