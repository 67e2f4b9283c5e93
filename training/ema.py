"""Exponential moving average of network weights (what demos, export and the sampler use)."""

from __future__ import annotations

import torch
from torch import nn


def ema_decay_at(step: int, decay: float) -> float:
    """Decay for optimizer step `step`: warmed up as (1 + step) / (10 + step), capped at `decay`.

    A fixed 0.995 from step 0 would keep the random initial weights in the average for hundreds
    of steps; the warm-up lets short runs (the demo model) export a useful average.
    """
    return min(float(decay), (1.0 + step) / (10.0 + step))


@torch.no_grad()
def ema_update(model: nn.Module, averaged: nn.Module, decay: float) -> None:
    """averaged = decay * averaged + (1 - decay) * model for parameters; buffers are copied.

    The same rule as sample-generator's ema_update; deterministic, so every DDP rank (whose
    model weights are identical) keeps an identical average.
    """
    params = dict(model.named_parameters())
    avg_params = dict(averaged.named_parameters())
    if params.keys() != avg_params.keys():
        raise ValueError("EMA copy does not have the model's parameters")
    own = [avg_params[k] for k in params]
    src = [params[k].detach().to(avg_params[k].dtype) for k in params]
    torch._foreach_lerp_(own, src, 1.0 - decay)
    buffers = dict(model.named_buffers())
    for name, buf in averaged.named_buffers():
        buf.copy_(buffers[name])
