"""The hierarchical generation pipeline: one object that the CLI, the server and training demos call.

Order of work for one request (see docs/pipeline.md for the reasoning):

1. The first (highest) level tiles the padded timeline with windows of ``token_multiplier *
   base_tokens`` frames and denoises them from seeded noise (or from the init audio); all its
   windows run as one batch unless ``update_lowest_context`` makes each window depend on the
   previous one.
2. Each following level re-encodes the level above's decoded audio and refines it (the fork's
   "noise pass": that encoding is both the start point and the noise), all sub-windows batched.
   Its context for a window is the audio just before the window: the context clip followed by the
   level above's rendering of the music generated so far.
3. Dance Diffusion turns the finest level's mono audio into stereo in long overlapping windows,
   batched, joined by crossfades.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from jbdiff import __version__
from jbdiff.accel import GraphedCall, autocast_call, compiled, weights_version
from jbdiff.audio import SAMPLE_RATE, join_segments, load_audio, pad_or_crop
from jbdiff.config import COMPILE_MODES, ModelConfig, SamplingConfig, to_dict
from jbdiff.errors import CancelledError, ConfigError, JbdiffError
from jbdiff.models import LoadedModels
from jbdiff.noise import NoiseStream, make_generator
from jbdiff.request import GenerationRequest
from jbdiff.windows import (
    GenerationPlan,
    LevelPlan,
    balanced_batches,
    plan_dance_windows,
    plan_generation,
)

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, "int | None", int, int], None]


class LiveValues(Protocol):
    """Values a caller may change while a generation runs (the server's live parameters)."""

    def get(self, key: str, default: Any = None) -> Any: ...


DEFAULT_CUDA_COMPILE = "off"
"""torch.compile mode of the CUDA fast path unless JBDIFF_COMPILE says otherwise."""


DD_RESAMPLE = ("auto", "conv", "taps")

DD_GEMM_MAX_LEN = 1024
"""Compiled batch-1 stereo calls run the convs of levels up to this many samples as tap GEMMs."""


@dataclass
class PipelineOptions:
    """Execution choices that change speed, never the algorithm."""

    bf16: bool = False            # bf16 autocast for the networks (fast path; default on CUDA)
    cuda_graphs: bool = False     # replay captured CUDA graphs of the networks (default on CUDA)
    channels_last: bool = False   # stereo stage on the [B, C, 1, T] channels-last layout (default on CUDA)
    compile: str = "off"          # torch.compile the networks: off | default | max-autotune (see accel.compiled)
    compile_backend: str = "inductor"  # tests trace with "aot_eager" (no code generation)
    dd_resample: str = "auto"     # stereo stage's cubic resampling: conv | taps | auto (taps when compiled)
    dd_fast_weights: bool | None = None  # stereo stage's bf16 weights kept as buffers; None: when compiled
    level_batch: int = 128        # windows per level U-Net call (each doubled for guidance)
    dd_batch: int = 8             # stereo-stage windows per call
    dd_window: int = 65536        # longest stereo-stage window in samples (its training length)

    @classmethod
    def for_device(cls, device: torch.device) -> PipelineOptions:
        """The fast path on CUDA (unless JBDIFF_PLAIN=1 asks for the plain one), the plain fp32 path elsewhere."""
        if device.type == "cuda":
            fast = os.environ.get("JBDIFF_PLAIN", "").strip().lower() not in ("1", "true", "yes")
            mode = os.environ.get("JBDIFF_COMPILE", DEFAULT_CUDA_COMPILE).strip().lower() or "off"
            if mode not in COMPILE_MODES:
                raise ConfigError(f"JBDIFF_COMPILE: {mode!r} is not one of {', '.join(COMPILE_MODES)}")
            # dd_batch 24: a 30-s request's 21 stereo windows in one call (measured faster than 3 x 7).
            return cls(bf16=fast, cuda_graphs=fast, channels_last=fast, compile=mode if fast else "off",
                       level_batch=32, dd_batch=24)
        return cls(level_batch=32, dd_batch=4)

    def plain(self) -> PipelineOptions:
        """The same batching without any speed-up: fp32, eager, uncompiled, default layouts (for debugging)."""
        return dataclasses.replace(self, bf16=False, cuda_graphs=False, channels_last=False, compile="off",
                                   dd_resample="auto", dd_fast_weights=False)

    def validate(self) -> PipelineOptions:
        """Raise ConfigError naming a field outside its allowed values."""
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"compile: {self.compile!r} is not one of {', '.join(COMPILE_MODES)}")
        if self.dd_resample not in DD_RESAMPLE:
            raise ConfigError(f"dd_resample: {self.dd_resample!r} is not one of {', '.join(DD_RESAMPLE)}")
        for name in ("level_batch", "dd_batch", "dd_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: {value!r} must be a positive integer")
        if self.dd_fast_weights not in (None, True, False):
            raise ConfigError(f"dd_fast_weights: {self.dd_fast_weights!r} must be true, false or null (auto)")
        return self

    @property
    def fast(self) -> bool:
        """Whether any speed-up is on (recorded in generation.json)."""
        return (self.bf16 or self.cuda_graphs or self.channels_last or self.compile != "off" or self.dd_taps
                or self.dd_weights_as_buffers)

    @property
    def dd_taps(self) -> bool:
        """Whether the stereo stage resamples with pointwise taps: they pay only when inductor fuses
        them (compiled; measured 10 % off a compiled call), while eager runs cuDNN's convs faster."""
        return self.dd_resample == "taps" or (self.dd_resample == "auto" and self.compile != "off")

    @property
    def dd_gemm_max_len(self) -> int:
        """Levels up to this length run their convs as one batched GEMM over the taps in batch-1
        stereo calls (blocks.conv_as_gemm): when compiled, where inductor fuses the taps' sum
        (measured on an H100: 5.38 -> 5.2 ms per batch-1 call); 0 otherwise."""
        return DD_GEMM_MAX_LEN if self.compile != "off" else 0

    @property
    def dd_weights_as_buffers(self) -> bool:
        """Whether the stereo stage reads bf16 weight buffers: asked for, or by default when compiled,
        where the traced graph would otherwise cast every weight on every call (measured on an H100:
        6.41 -> 5.57 ms per batch-1 call)."""
        return self.compile != "off" if self.dd_fast_weights is None else bool(self.dd_fast_weights)


@dataclass
class GenerationResult:
    """Stereo audio plus everything needed to reproduce or inspect it."""

    audio: np.ndarray                       # float32 [2, samples]
    sample_rate: int
    level_audio: dict[int, np.ndarray]      # each level's decoded mono audio [1, samples]
    request: GenerationRequest              # with seeds filled in
    timings: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    """Models loaded once; ``generate`` runs one request at a time (not thread-safe)."""

    def __init__(self, models: LoadedModels, device: torch.device | str = "cpu",
                 options: PipelineOptions | None = None) -> None:
        self.device = torch.device(device)
        self.models = models.to(self.device)
        self.options = options or PipelineOptions.for_device(self.device)
        self._lock = threading.Lock()
        self._calls: dict[tuple, Callable[..., torch.Tensor]] = {}
        self._compiled_shapes: set[tuple] = set()   # call shapes already compiled (see _Run.announce_compile)

    @property
    def options(self) -> PipelineOptions:
        """How the networks execute; checked whenever it is set (callers swap it between requests)."""
        return self._options

    @options.setter
    def options(self, options: PipelineOptions) -> None:
        self._options = options.validate()

    def network_call(self, name: str, fn: Callable[..., torch.Tensor], key: Hashable,
                     module: torch.nn.Module | None = None, *, pdl: bool = False) -> Callable[..., torch.Tensor]:
        """``fn`` under the configured precision, compiled and replayed from CUDA graphs when enabled.

        Calls are keyed on ``module``'s weights version: CUDA graphs replay the weights (and the
        channels-last Dance layout's cached ones) they captured, so weights changed in place build
        a new call. ``pdl`` goes to accel.compiled when compiling.
        """
        opts = self.options
        on_cuda = self.device.type == "cuda"
        dtype = torch.bfloat16 if opts.bf16 and on_cuda else None
        graphs = opts.cuda_graphs and on_cuda
        if opts.compile == "off" and not graphs:
            return autocast_call(fn, dtype)
        if module is not None:
            key = (key, weights_version(module))
        # Keyed by every option too: options may change between requests (bench, debugging).
        cache_key = (name, key, dtype, graphs, opts.compile, opts.compile_backend, pdl)
        runner = self._calls.get(cache_key)
        if runner is None:
            call = autocast_call(fn, dtype)
            if opts.compile != "off":
                call = compiled(call, opts.compile, backend=opts.compile_backend, pdl=pdl)
            runner = self._calls[cache_key] = GraphedCall(call) if graphs else call
        return runner

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_config(cls, model_cfg: ModelConfig, sampling_cfg: SamplingConfig, device: str | torch.device = "auto",
                    *, options: PipelineOptions | None = None, base_dir: str | None = None,
                    name: str = "custom") -> Pipeline:
        """Load the checkpoints named by the sampling config (``ckpt_loc`` per level and dd)."""
        from jbdiff.device import pick_device
        from jbdiff.models import load_models

        dev = pick_device(str(device)) if not isinstance(device, torch.device) else device
        models = load_models(model_cfg, sampling_cfg, base_dir=base_dir, name=name)
        return cls(models, dev, options)

    @classmethod
    def tiny(cls, device: str | torch.device = "cpu", seed: int = 0, options: PipelineOptions | None = None) -> Pipeline:
        """Tiny random-weight models (configs/tiny.yaml): every code path, no checkpoints needed."""
        from jbdiff.models import tiny_models

        return cls(tiny_models(seed), torch.device(device), options)

    # ------------------------------------------------------------------ generation

    def generate(self, request: GenerationRequest, *, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, live: LiveValues | None = None) -> GenerationResult:
        """Run one request end to end; raises CancelledError if ``cancel`` is set meanwhile.

        ``live`` (anything with ``.get(key, default)``) is re-read while rendering: the guidance
        scale (``embedding_strength``: {level: scale}) at every step, and ``noise_step_size`` /
        ``dd_noise_step_size`` before noise is drawn for windows not yet started.
        """
        with self._lock, torch.inference_mode():
            return _Run(self, request, progress, cancel, live).run()


class _Run:
    """State of one generation (kept off the Pipeline so a pipeline can be reused)."""

    def __init__(self, pipe: Pipeline, request: GenerationRequest, progress: ProgressFn | None,
                 cancel: threading.Event | None, live: LiveValues | None = None) -> None:
        self.pipe = pipe
        self.models = pipe.models
        self.device = pipe.device
        self.opts = pipe.options
        self.req = request.validate().with_seeds()
        self.progress = progress or (lambda *a: None)
        self.cancel = cancel
        self.live = live
        self.timings: dict[str, float] = {}
        self.model_cfg = self.models.model_cfg
        self.sampling_cfg = self.models.sampling_cfg

    # -- helpers

    def check_cancel(self) -> None:
        """Cooperative cancellation point, called between and inside diffusion steps."""
        if self.cancel is not None and self.cancel.is_set():
            raise CancelledError("generation cancelled")

    def announce_compile(self, level: int | None, *signature: Hashable) -> None:
        """Report a "compiling" stage before a network call whose shapes were not compiled yet:
        torch.compile's first call takes minutes with no step to report."""
        if self.opts.compile == "off":
            return
        key = (self.opts.compile, level, *signature)
        if key not in self.pipe._compiled_shapes:
            self.pipe._compiled_shapes.add(key)
            self.progress("compiling", level, 0, 1)

    def should_cancel(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    @contextlib.contextmanager
    def timed(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    def num_steps(self, level: int | str) -> int:
        if level in self.req.num_steps:
            return self.req.num_steps[level]
        cfg = self.sampling_cfg.dd if level == "dd" else self.sampling_cfg.level(level)
        steps = cfg.num_steps
        if self.req.quality == "draft":
            steps = max(1, math.ceil(steps / 4))
        return steps

    def embedding_strength(self, level: int) -> float:
        """The guidance scale now: a live value if one is set, else the request's, else the config's."""
        if self.live is not None:
            live = self.live.get("embedding_strength") or {}
            for key in (level, str(level)):
                if key in live:
                    return float(live[key])
        if level in self.req.embedding_strength:
            return self.req.embedding_strength[level]
        return self.sampling_cfg.level(level).embedding_strength

    def step_size(self, name: str) -> float:
        """``noise_step_size`` or ``dd_noise_step_size``, live if set (checked to 0..1)."""
        value = getattr(self.req, name)
        if self.live is not None:
            value = self.live.get(name, value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name}: {value!r} is out of range (allowed: 0.0 .. 1.0)")
        return float(value)

    # -- the run

    def run(self) -> GenerationResult:
        req = self.req
        t_start = time.perf_counter()
        self.check_models()
        init = context = None
        with self.timed("load"):
            if req.init_audio is not None:
                init = torch.from_numpy(load_audio(req.init_audio, channels=1, min_samples=1)[0])
            if req.context_audio is not None:
                context = torch.from_numpy(load_audio(req.context_audio, channels=1, min_samples=1)[0])
        total = init.numel() if init is not None else round(req.seconds_length * SAMPLE_RATE)
        vq = self.model_cfg.vqvae
        plan = plan_generation(req.levels, total, vq.base_tokens, req.token_multiplier, vq.context_mult,
                               hops=self.models.hops)
        self.plan = plan
        self.context_clip = context
        level_audio: dict[int, np.ndarray] = {}
        timeline: torch.Tensor | None = None
        for i, lp in enumerate(plan.levels):
            self.check_cancel()
            with self.timed(f"level{lp.level}"):
                if i == 0:
                    timeline = self.first_level(lp, plan, init)
                else:
                    timeline = self.refine_level(lp, timeline)
            level_audio[lp.level] = timeline[:total].float().cpu().numpy()[None]
        finest = timeline[:total]
        if req.use_dd:
            with self.timed("dd"):
                stereo = self.dance(finest)
        else:
            stereo = finest.unsqueeze(0).expand(2, -1)
        audio = stereo.float().cpu().numpy().astype(np.float32)
        if not np.isfinite(audio).all():
            raise JbdiffError("generation produced NaN/inf samples (check the model weights)")
        self.timings["total"] = time.perf_counter() - t_start
        self.progress("done", None, 1, 1)
        return GenerationResult(audio=np.ascontiguousarray(audio), sample_rate=SAMPLE_RATE,
                                level_audio=level_audio, request=req, timings=dict(self.timings),
                                metadata=self.metadata(plan))

    def check_models(self) -> None:
        for lvl in self.req.levels:
            if lvl not in self.models.unets:
                have = ", ".join(str(k) for k in sorted(self.models.unets, reverse=True)) or "none"
                raise ConfigError(f"levels: level {lvl} has no model loaded (loaded: {have})")
            self.sampling_cfg.level(lvl)
        if self.req.use_dd and self.models.dance is None:
            raise ConfigError("use_dd: no Dance Diffusion model is loaded (set use_dd false)")

    # -- latents

    def encode(self, level: int, audio: torch.Tensor) -> torch.Tensor:
        """Mono audio [B, T] -> normalised quantised latents [B, C, T/hop]."""
        return self.models.encode(level, audio.to(self.device))

    def decode(self, level: int, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, C, T] -> mono audio [B, T*hop] (quantised first, as the seed does)."""
        return self.models.decode(level, latents)

    def context_stream(self, lp: LevelPlan, rendered: torch.Tensor | None) -> torch.Tensor:
        """Context clip (its last context window, zero-padded in front) followed by ``rendered``."""
        need = lp.context_samples
        clip = self.context_clip
        if clip is None:
            prefix = torch.zeros(need)
        else:
            prefix = pad_front(clip[-need:], need)
        prefix = prefix.to(self.device)
        if rendered is None:
            return prefix
        return torch.cat([prefix, rendered.to(prefix.dtype)])

    def contexts_for(self, lp: LevelPlan, rendered: torch.Tensor | None, starts: list[int]) -> torch.Tensor:
        """Context latents [n, context_tokens, C] for windows starting at ``starts`` (samples)."""
        stream = self.context_stream(lp, rendered)
        lat = self.encode(lp.level, stream[None])[0]  # [C, tokens]
        out = []
        for s in starts:
            end = (lp.context_samples + s) // lp.hop
            out.append(lat[:, end - lp.context_tokens:end])
        return torch.stack(out).transpose(1, 2).contiguous()

    # -- levels

    def first_level(self, lp: LevelPlan, plan: GenerationPlan, init: torch.Tensor | None) -> torch.Tensor:
        """Denoise the first level from seeded noise (or the init audio) and decode it."""
        req = self.req
        channels = self.models.latent_channels
        stream = NoiseStream(req.noise_style, (channels, lp.window_tokens), make_generator(req.noise_seed))
        init_lat = None
        strength = 0.0
        if init is not None:
            padded = pad_or_crop(init.numpy(), plan.padded_samples)
            init_lat = self.to_windows(self.encode(lp.level, torch.from_numpy(padded)[None])[0], lp)
            strength = req.init_strength
        steps = self.num_steps(lp.level)
        starts = [k * lp.window_samples for k in range(lp.num_windows)]
        if not req.update_lowest_context:
            noise = stream.take(lp.num_windows, self.step_size("noise_step_size")).to(self.device)
            ctx = self.contexts_for(lp, None, [0]).expand(lp.num_windows, -1, -1)
            lat = self.sample_level(lp.level, noise, init_lat, strength, ctx, steps, sequential_total=1, index=0)
            return self.decode(lp.level, self.from_windows(lat))
        # Sliding context: each window is conditioned on the music generated before it.
        rendered: torch.Tensor | None = None
        windows = []
        for k, start in enumerate(starts):
            ctx = self.contexts_for(lp, rendered, [start])
            noise = stream.next(self.step_size("noise_step_size"))[None].to(self.device)
            lat = self.sample_level(lp.level, noise, None if init_lat is None else init_lat[k:k + 1],
                                    strength, ctx, steps, sequential_total=lp.num_windows, index=k)
            windows.append(lat)
            if k + 1 < len(starts):
                rendered = self.decode(lp.level, self.from_windows(torch.cat(windows)))
        # The result is decoded in one piece, like the batched path, so both agree on window edges.
        return self.decode(lp.level, self.from_windows(torch.cat(windows)))

    def refine_level(self, lp: LevelPlan, above: torch.Tensor) -> torch.Tensor:
        """Refine the level above's audio at this level; its encoding is start point and noise."""
        lat = self.to_windows(self.encode(lp.level, above[None])[0], lp)
        starts = [k * lp.window_samples for k in range(lp.num_windows)]
        ctx = self.contexts_for(lp, above, starts)
        strength = self.sampling_cfg.level(lp.level).init_strength
        out = self.sample_level(lp.level, lat, lat, strength, ctx, self.num_steps(lp.level),
                                sequential_total=1, index=0)
        return self.decode(lp.level, self.from_windows(out))

    def to_windows(self, lat: torch.Tensor, lp: LevelPlan) -> torch.Tensor:
        """[C, n*tokens] -> [n, C, tokens]."""
        c = lat.shape[0]
        return lat[:, : lp.num_windows * lp.window_tokens].reshape(c, lp.num_windows, lp.window_tokens).transpose(0, 1)

    @staticmethod
    def from_windows(lat: torch.Tensor) -> torch.Tensor:
        """[n, C, tokens] -> [C, n*tokens]."""
        n, c, t = lat.shape
        return lat.transpose(0, 1).reshape(c, n * t)

    def sample_level(self, level: int, noise: torch.Tensor, init: torch.Tensor | None, strength: float,
                     ctx: torch.Tensor, steps: int, *, sequential_total: int, index: int) -> torch.Tensor:
        """Run the level's sampler over a batch of windows (chunked by ``level_batch``)."""
        from jbdiff.samplers import get_sigmas_linear, sample_dpmpp_2m_v, sample_v

        # Draft: a quarter of the steps (see num_steps) with a second-order sampler, which keeps
        # the result much closer to the standard one than the same few DDIM steps would.
        second_order = self.req.quality == "draft" or self.sampling_cfg.level(level).sampler == "dpmpp-2m"
        sampler = sample_dpmpp_2m_v if second_order else sample_v

        unet = self.models.unets[level]
        sigmas = get_sigmas_linear(steps, device=self.device)
        chunks = balanced_batches(noise.shape[0], self.opts.level_batch)
        n_chunks = len(chunks)
        outs = []
        single = self.pipe.network_call(
            f"level{level}", lambda x, s, e: unet(x, s, embedding=e), key="single", module=unet)
        guided = getattr(unet, "null_embedding", None) is not None
        pair = self.pipe.network_call(
            f"level{level}", lambda x, s, e: unet.guidance_branches(x, s, e), key="pair",
            module=unet) if guided else None
        for ci, part in enumerate(chunks):
            c0, c1 = part.start, part.stop
            emb = ctx[c0:c1].contiguous()

            def model_fn(x: torch.Tensor, sigma: torch.Tensor, emb: torch.Tensor = emb) -> torch.Tensor:
                scale = self.embedding_strength(level)  # re-read every step: live guidance
                if pair is None or scale == 1.0:
                    return single(x, sigma, emb).float()
                cond, uncond = pair(x, sigma, emb).float().chunk(2)
                return uncond + (cond - uncond) * scale

            def callback(step: int, total: int, _x: torch.Tensor, ci: int = ci) -> None:
                # ``total`` is the walked part of the schedule (fewer steps when starting from an init).
                done = (index * n_chunks + ci) * total + step
                self.progress("level", level, done, total * n_chunks * sequential_total)

            self.announce_compile(level, id(unet), tuple(noise[c0:c1].shape), tuple(emb.shape))
            outs.append(sampler(model_fn, noise[c0:c1], sigmas,
                                 init=None if init is None else init[c0:c1], init_strength=strength,
                                 callback=callback, should_cancel=self.should_cancel))
        return torch.cat(outs)

    # -- stereo stage

    @property
    def dd_channels_last(self) -> bool:
        """The stereo stage runs on the channels-last layout (a CUDA-only speed-up)."""
        return self.opts.channels_last and self.device.type == "cuda"

    @property
    def dd_fast_weights(self) -> bool:
        """The stereo stage reads bf16 weight buffers: asked for, and on the bf16 channels-last path."""
        return self.opts.dd_weights_as_buffers and self.opts.bf16 and self.dd_channels_last

    @property
    def dd_gemm_max_len(self) -> int:
        """Batch-1 stereo convs as tap GEMMs up to this level length: the option, on the channels-last path."""
        return self.opts.dd_gemm_max_len if self.dd_channels_last else 0

    @property
    def dd_batch1_tuning(self) -> bool:
        """Compiled channels-last batch-1 stereo calls fold the time features out of the first block,
        read channel-aligned copies of the first and last convs and launch dependent kernels early
        (H100: 5.28 -> 4.77 ms per call; at batch 21 the fold and the aligned convs cost 6 %, so
        larger batches keep the plain compiled call; docs/benchmarks.md, sessions 10 and 11)."""
        return self.dd_channels_last and self.opts.compile != "off"

    def dance(self, mono: torch.Tensor) -> torch.Tensor:
        """Mono [T] -> stereo [2, T] through Dance Diffusion in overlapping batched windows."""
        from jbdiff.dance.sampling import dd_refine

        cfg = self.sampling_cfg.dd
        model = self.models.dance
        total = mono.numel()
        win = plan_dance_windows(total, self.opts.dd_window, cfg.xfade_samples, model.length_multiple,
                                 model.min_length)
        padded = torch.zeros(win.padded_samples, device=mono.device, dtype=torch.float32)
        padded[:total] = mono.float()
        chunks = torch.stack([padded[s:s + win.length] for s in win.starts])[:, None]  # [n, 1, L]
        stream = NoiseStream(self.req.dd_noise_style, (2, win.length), make_generator(self.req.dd_noise_seed))
        steps = self.num_steps("dd")
        batches = balanced_batches(chunks.shape[0], self.opts.dd_batch)
        channels_last = self.dd_channels_last
        model.set_channels_last(channels_last).set_resample_impl("taps" if self.opts.dd_taps else "conv")
        # bf16 weight buffers, refreshed in place from the parameters on every request.
        tuned = self.dd_batch1_tuning   # the model applies fold and aligned weights to batch-1 calls only
        model.set_fast_weights(torch.bfloat16 if self.dd_fast_weights else None, align=tuned)
        model.set_small_gemm(self.dd_gemm_max_len).set_fold_embed(tuned)
        pdl = tuned and max((rows.stop - rows.start for rows in batches), default=0) == 1
        key = (channels_last, self.opts.dd_taps, self.dd_fast_weights, self.dd_gemm_max_len, tuned)
        net = self.pipe.network_call("dd", lambda x, t: model(x, t), key=key, module=model, pdl=pdl)
        outs = []
        for bi, rows in enumerate(batches):
            def callback(info: dict, bi: int = bi) -> None:
                n = int(info["n"])  # model calls after the init-strength cut of the schedule
                self.progress("dd", None, bi * n + int(info["i"]) + 1, n * len(batches))

            part = chunks[rows.start:rows.stop]
            noise = stream.take(part.shape[0], self.step_size("dd_noise_step_size")).to(self.device)
            self.announce_compile(None, id(model), tuple(part.shape))
            out = dd_refine(net, part, noise, steps=steps, init_strength=cfg.init_strength,
                            callback=callback, should_cancel=self.should_cancel, sampler=cfg.sampler)
            outs.append(out.float())
        stereo = torch.cat(outs).cpu().numpy()
        joined = join_segments(list(stereo), win.overlap, cfg.xfade_style)
        return torch.from_numpy(np.ascontiguousarray(joined[:, :total]))

    # -- record

    def metadata(self, plan: GenerationPlan) -> dict[str, Any]:
        return {
            "jbdiff_version": __version__,
            "torch_version": torch.__version__,
            "device": str(self.device),
            "fast_path": {"bf16": self.opts.bf16 and self.device.type == "cuda",
                          "cuda_graphs": self.opts.cuda_graphs and self.device.type == "cuda",
                          "channels_last": self.dd_channels_last,
                          "dd_taps": self.opts.dd_taps,
                          "dd_fast_weights": self.dd_fast_weights,
                          "dd_gemm_max_len": self.dd_gemm_max_len,
                          "dd_batch1_tuning": self.dd_batch1_tuning,
                          "compile": self.opts.compile},
            "model": self.models.name,
            "checkpoints": dict(self.models.hashes),
            "request": self.req.to_dict(),
            "sample_rate": SAMPLE_RATE,
            "samples": plan.total_samples,
            "seconds": plan.total_samples / SAMPLE_RATE,
            "num_steps": {str(lp.level): self.num_steps(lp.level) for lp in plan.levels}
            | ({"dd": self.num_steps("dd")} if self.req.use_dd else {}),
            "embedding_strength": {str(lp.level): self.embedding_strength(lp.level) for lp in plan.levels},
            "windows": {str(lp.level): lp.num_windows for lp in plan.levels},
            "model_config": to_dict(self.model_cfg),
            "sampling_config": to_dict(self.sampling_cfg),
            "timings": dict(self.timings),
        }


def pad_front(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad at the start to ``length`` (context before a song's start is silence)."""
    if x.numel() >= length:
        return x[-length:]
    return torch.cat([torch.zeros(length - x.numel(), dtype=x.dtype), x])
