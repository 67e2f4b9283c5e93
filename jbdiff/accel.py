"""GPU execution helpers for the fast path: torch.compile and CUDA-graph replay of network calls.

A diffusion sampler calls the same network with the same shapes hundreds of times; the level
U-Net launches about 3,500 small kernels per call, so replaying a captured graph removes almost
all of the launch overhead. Graphs are captured lazily per input signature and share one memory
pool, so memory grows with the number of distinct shapes (a handful per request), not steps.
"""

from __future__ import annotations

import itertools
import logging
import threading
import types
from collections.abc import Callable, Hashable

import torch

from jbdiff.config import COMPILE_MODES

logger = logging.getLogger(__name__)

# Captures are rare (once per shape) and CUDA's capture state is easy to upset from another
# thread; one capture at a time in the process, replays run freely.
_CAPTURE_LOCK = threading.Lock()
_CODE_COPIES = itertools.count()


class GraphedCall:
    """Replay ``fn(*tensors)`` from a CUDA graph captured for each distinct input signature.

    ``fn`` must be a pure function of its tensor arguments (static Python values belong in the
    ``key``). The returned tensor is the graph's own output buffer: it is overwritten by the next
    replay of the same signature, so callers must use it before calling again (samplers do).
    Falls back to calling ``fn`` directly on non-CUDA tensors.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], warmup: int = 2, max_graphs: int = 16) -> None:
        self.fn = fn
        self.warmup = warmup
        self.max_graphs = max_graphs
        self._graphs: dict[Hashable, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor]] = {}
        self._pool = None

    def __call__(self, *tensors: torch.Tensor, key: Hashable = None) -> torch.Tensor:
        if not tensors or tensors[0].device.type != "cuda":
            return self.fn(*tensors)
        sig = (key, *((t.shape, t.dtype, t.device) for t in tensors))
        entry = self._graphs.get(sig)
        if entry is None:
            if len(self._graphs) >= self.max_graphs:
                self._graphs.clear()
            entry = self._capture(tensors)
            self._graphs[sig] = entry
        graph, static_in, static_out = entry
        for dst, src in zip(static_in, tensors, strict=True):
            dst.copy_(src)
        with torch.cuda.device(tensors[0].device):
            graph.replay()
        return static_out

    def _capture(self, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor]:
        # On the tensors' own GPU (a worker thread's current device is cuda:0 by default), and
        # thread-local capture so workers on other GPUs may capture at the same time.
        with _CAPTURE_LOCK, torch.cuda.device(tensors[0].device):
            torch.cuda.synchronize()
            static_in = [t.detach().clone() for t in tensors]
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(self.warmup):
                    self.fn(*static_in)
            torch.cuda.current_stream().wait_stream(stream)
            if self._pool is None:
                self._pool = torch.cuda.graph_pool_handle()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
                static_out = self.fn(*static_in)
        logger.debug("captured a CUDA graph for shapes %s", [tuple(t.shape) for t in tensors])
        return graph, static_in, static_out

    def reset(self) -> None:
        """Drop every captured graph (frees their memory pool once nothing else holds it)."""
        self._graphs.clear()
        self._pool = None


def autocast_call(fn: Callable[..., torch.Tensor], dtype: torch.dtype | None) -> Callable[..., torch.Tensor]:
    """``fn`` under CUDA autocast to ``dtype`` (None: as is).

    The autocast weight cache is off, so a graph captured around the call re-reads the weights
    on every replay instead of baking in casts made before capture.
    """
    if dtype is None:
        return fn

    def call(*tensors: torch.Tensor) -> torch.Tensor:
        with torch.autocast(tensors[0].device.type, dtype=dtype, cache_enabled=False):
            return fn(*tensors)

    return call


def graphed(fn: Callable[..., torch.Tensor], autocast_dtype: torch.dtype | None = None) -> GraphedCall:
    """``fn`` (e.g. a network's forward) replayed from CUDA graphs, under optional autocast."""
    return GraphedCall(autocast_call(fn, autocast_dtype))


def own_code(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``fn`` as a new function with its own copy of the code object (same closure and globals).

    Dynamo keeps its compiled variants per code object, and on a second input shape for one code
    object it recompiles with symbolic ("automatic dynamic") shapes. Every network call of the
    pipeline is the same autocast wrapper, so without a copy the second network to compile (and
    every later one) got dynamic-shape kernels: measured on an H100, the stereo stage's call took
    83 ms instead of 54 ms. A copy per compiled call keeps each network's first shapes static.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    n = next(_CODE_COPIES)
    code = fn.__code__.replace(co_name=f"{fn.__code__.co_name}_{n}",
                               co_qualname=f"{fn.__code__.co_qualname}_{n}")
    copy = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def compiled(fn: Callable[..., torch.Tensor], mode: str = "default", backend: str = "inductor", *,
             pdl: bool = False, options: dict[str, object] | None = None) -> Callable[..., torch.Tensor]:
    """``fn`` through torch.compile for inference: fused elementwise, norm and resampling kernels.

    Each compiled call traces its own copy of ``fn``'s code (see own_code), so it compiles with
    static shapes first and turns dynamic only on its own second batch shape.
    The weights stay graph inputs (not frozen into constants), so each bf16 call casts them
    again: 109 small kernels, about 0.46 ms of a 53 ms Dance Diffusion call at batch 21 (H100).
    Freezing (torch._inductor.config.freezing, which only takes effect when set globally, not
    through torch.compile's options) folds those casts, but it made the cold compile of a 30-s
    request take over 9.5 minutes instead of about 6.5, so it stays off. ``backend`` other than
    inductor (e.g. "aot_eager") is for tests: the same tracing without code generation.
    ``pdl`` lets each generated kernel start while the one before it finishes (programmatic
    dependent launch; inductor emits it only for CUDA devices of compute capability 9.0 or newer).
    ``options`` are more inductor settings for this compile only (e.g. realize_opcount_threshold).
    """
    if mode not in COMPILE_MODES or mode == "off":
        raise ValueError(f"compile mode must be one of {COMPILE_MODES[1:]}, got {mode!r}")
    if backend != "inductor":   # options are inductor settings
        return torch.compile(own_code(fn), backend=backend)
    settings: dict[str, object] = dict(options or {})
    if mode == "max-autotune":  # autotuned templates, without inductor's own graphs
        settings.update({"max_autotune": True, "triton.cudagraphs": False})
    if pdl:
        settings["triton.enable_pdl"] = True
    return torch.compile(own_code(fn), backend=backend, options=settings or None)


def weights_version(module: torch.nn.Module) -> int:
    """Changes whenever a parameter is modified in place (``optimizer.step``, ``load_state_dict``):
    graphs replaying cached weights (and the compiled calls wrapped in them) re-build on a change."""
    return sum(p._version for p in module.parameters())
