"""Replay Dance Diffusion forwards as captured CUDA graphs: eager DD is bound by ~1,000 kernel launches."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    x: torch.Tensor
    t: torch.Tensor
    out: torch.Tensor


class CudaGraphModel:
    """Callable (x, t) -> v that captures one CUDA graph per input shape/dtype and replays it.

    Off CUDA it simply runs the model (under `autocast_dtype` if given). Outputs are cloned
    out of the graph's static buffer, so a caller may keep them across calls. Graphs share
    one memory pool; a new window length or batch size costs one capture (warm-up included).
    """

    def __init__(
        self, model: nn.Module, *, autocast_dtype: torch.dtype | None = None, warmup: int = 2
    ) -> None:
        self.model = model
        self.autocast_dtype = autocast_dtype
        self.warmup = warmup
        self._graphs: dict[tuple, _Captured] = {}
        self._pool = None

    def valid_length(self, n: int) -> int:
        """The wrapped model's smallest accepted length >= n (so dd_refine can check inputs)."""
        return self.model.valid_length(n)

    def _eager(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.autocast_dtype is None:
            ctx = contextlib.nullcontext()
        else:
            # The autocast weight cache must be off while capturing (its casts would be baked in).
            ctx = torch.autocast(x.device.type, dtype=self.autocast_dtype, cache_enabled=False)
        with ctx:
            return self.model(x, t)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if x.device.type != "cuda":
            return self._eager(x, t)
        key = (tuple(x.shape), x.dtype, x.device, t.dtype)
        entry = self._graphs.get(key)
        if entry is None:
            entry = self._graphs[key] = self._capture(x, t)
        entry.x.copy_(x)
        entry.t.copy_(t)
        entry.graph.replay()
        return entry.out.clone()

    def _capture(self, x: torch.Tensor, t: torch.Tensor) -> _Captured:
        log.info("capturing a Dance Diffusion CUDA graph for x %s %s", tuple(x.shape), x.dtype)
        static_x, static_t = x.clone(), t.clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self._eager(static_x, static_t)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            out = self._eager(static_x, static_t)
        if self._pool is None:
            self._pool = graph.pool()
        return _Captured(graph, static_x, static_t, out)
