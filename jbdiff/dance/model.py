"""Dance Diffusion's U-Net (sample-generator's DiffusionAttnUnet1D) with the same checkpoint layout."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from jbdiff.errors import ConfigError, JbdiffError

from .blocks import (
    GROUPNORM_IMPLS,
    RESAMPLE_IMPLS,
    STATS_IMPLS,
    Conv1d,
    Downsample1d,
    FourierFeatures,
    GroupNorm1,
    ResConvBlock,
    SelfAttention1d,
    SkipBlock,
    Upsample1d,
    aligned,
    from_fast_layout,
    to_fast_layout,
)

TIME_FEATURES = 16
"""Width of the Fourier time embedding concatenated to the input channels."""

ATTN_HEAD_WIDTH = 32
"""Attention layers use width // 32 heads, so attention levels need at least 32 channels."""


class DanceInputError(JbdiffError, ValueError):
    """A tensor given to Dance Diffusion has the wrong rank, channel count or length."""


def _default_c_mults() -> list[int]:
    return [128, 128, 256, 256] + [512] * 10


@dataclass
class DanceShape:
    """Hyper-parameters of DiffusionAttnUnet1D; defaults are the published Jukebox Diffusion DD model."""

    io_channels: int = 2
    depth: int = 14
    n_attn_layers: int = 4
    c_mults: list[int] = field(default_factory=_default_c_mults)

    def attention_levels(self) -> list[int]:
        """Levels (1 = outermost) whose layers include self-attention, as the reference decides."""
        if self.n_attn_layers <= 0:
            return []
        # Reference quirk: levels depth-n-1 .. depth get attention, i.e. n + 2 levels (6 for n=4).
        first = self.depth - self.n_attn_layers - 1
        return [i for i in range(2, self.depth + 1) if i >= first]

    def validate(self) -> DanceShape:
        """Raise ConfigError naming the first field the network cannot be built from."""
        for name in ("io_channels", "depth", "n_attn_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"DanceShape.{name} must be an integer, got {value!r}")
        if self.io_channels < 1:
            raise ConfigError(f"DanceShape.io_channels must be >= 1, got {self.io_channels}")
        if self.depth < 2:
            raise ConfigError(
                f"DanceShape.depth must be >= 2 (the U-Net needs one skip level), got {self.depth}"
            )
        if self.n_attn_layers < 0:
            raise ConfigError(f"DanceShape.n_attn_layers must be >= 0, got {self.n_attn_layers}")
        if not isinstance(self.c_mults, list | tuple) or len(self.c_mults) < self.depth:
            raise ConfigError(
                f"DanceShape.c_mults must be a list of at least depth={self.depth} channel counts, "
                f"got {self.c_mults!r}"
            )
        for k, c in enumerate(self.c_mults):
            if not isinstance(c, int) or isinstance(c, bool) or c < 1:
                raise ConfigError(f"DanceShape.c_mults[{k}] must be a positive integer, got {c!r}")
        for level in self.attention_levels():
            # Level i attends at width c_mults[i-1] and, in its last layer, at c_mults[i-2].
            for k in (level - 1, level - 2):
                c = self.c_mults[k]
                heads = c // ATTN_HEAD_WIDTH
                if heads < 1 or c % heads:
                    raise ConfigError(
                        f"DanceShape.c_mults[{k}] = {c} is used by self-attention at level {level}, "
                        f"which needs >= {ATTN_HEAD_WIDTH} channels divisible into "
                        f"c // {ATTN_HEAD_WIDTH} heads"
                    )
        return self

    @property
    def length_multiple(self) -> int:
        """Total downsampling factor: input lengths must be multiples of it."""
        return 2 ** (self.depth - 1)

    @property
    def min_length(self) -> int:
        """Shortest input: the innermost reflect padding (2 samples) needs >= 3 samples there."""
        return 3 * self.length_multiple

    def valid_length(self, n: int) -> int:
        """Smallest length >= n that the network accepts (what a caller pads to)."""
        m = self.length_multiple
        return max(self.min_length, aligned(n, m))


TINY_DANCE = DanceShape(io_channels=2, depth=5, n_attn_layers=1, c_mults=[8, 32, 32, 32, 32])
"""Same structure at toy size for tests: levels 3-5 attend, level 2 does not; length multiple 16."""


class DanceUNet(nn.Module):
    """v-prediction U-Net over stereo audio: forward(x [B, C, T], t [B]) -> v [B, C, T].

    Module nesting mirrors DiffusionAttnUnet1D (net.<i>.main.<j>...), so sample-generator
    checkpoints load by name; the arithmetic differs only where it is faster (flat GroupNorm
    statistics, depthwise resampling, fused attention).
    """

    def __init__(
        self,
        io_channels: int = 2,
        depth: int = 14,
        n_attn_layers: int = 4,
        c_mults: list[int] | None = None,
    ) -> None:
        super().__init__()
        c_mults = list(c_mults) if c_mults is not None else _default_c_mults()
        self.shape = DanceShape(io_channels, depth, n_attn_layers, c_mults).validate()
        self.timestep_embed = FourierFeatures(1, TIME_FEATURES)
        self.net = self._build(self.shape)
        self.channels_last = False  # the fast layout: see set_channels_last
        self.fold_embed = False     # see set_fold_embed
        self.fold_max_batch = 1
        with torch.no_grad():  # the reference halves its initial weights (not the time features)
            for param in self.net.parameters():
                param.mul_(0.5)

    @classmethod
    def from_shape(cls, shape: DanceShape) -> DanceUNet:
        """Build from a DanceShape (e.g. TINY_DANCE)."""
        return cls(**asdict(shape))

    @staticmethod
    def _build(shape: DanceShape) -> nn.Sequential:
        attn = set(shape.attention_levels())
        cm = shape.c_mults

        def maybe_attn(level: int, c: int) -> nn.Module:
            return SelfAttention1d(c, c // ATTN_HEAD_WIDTH) if level in attn else nn.Identity()

        inner: nn.Module = nn.Identity()
        for i in range(shape.depth, 1, -1):  # innermost level first
            c, c_prev = cm[i - 1], cm[i - 2]
            inner = SkipBlock(
                Downsample1d(),
                ResConvBlock(c_prev, c, c),
                maybe_attn(i, c),
                ResConvBlock(c, c, c),
                maybe_attn(i, c),
                ResConvBlock(c, c, c),
                maybe_attn(i, c),
                inner,
                ResConvBlock(c if i == shape.depth else 2 * c, c, c),
                maybe_attn(i, c),
                ResConvBlock(c, c, c),
                maybe_attn(i, c),
                ResConvBlock(c, c, c_prev),
                maybe_attn(i, c_prev),
                Upsample1d(),
            )
        c = cm[0]
        return nn.Sequential(
            ResConvBlock(shape.io_channels + TIME_FEATURES, c, c),
            ResConvBlock(c, c, c),
            ResConvBlock(c, c, c),
            inner,
            ResConvBlock(2 * c, c, c),
            ResConvBlock(c, c, c),
            ResConvBlock(c, c, shape.io_channels, is_last=True),
        )

    def _set_everywhere(self, kinds: tuple[type, ...], attr: str, value: str, allowed: tuple[str, ...],
                        what: str) -> DanceUNet:
        if value not in allowed:
            raise ConfigError(f"{what} must be one of {allowed}, got {value!r}")
        for module in self.modules():
            if isinstance(module, kinds):
                setattr(module, attr, value)
        return self

    def set_groupnorm_impl(self, impl: str) -> DanceUNet:
        """Choose the GroupNorm kernel ("auto", "flat", "torch") everywhere, e.g. to compare them."""
        return self._set_everywhere((GroupNorm1,), "impl", impl, GROUPNORM_IMPLS, "groupnorm impl")

    def set_groupnorm_stats(self, impl: str) -> DanceUNet:
        """Choose how the flat GroupNorm formulates its statistics (blocks.group_norm1_stats) everywhere."""
        return self._set_everywhere((GroupNorm1,), "stats", impl, STATS_IMPLS, "groupnorm stats")

    def set_resample_impl(self, impl: str) -> DanceUNet:
        """Choose how the cubic resampling runs: "conv" (cuDNN depthwise) or "taps" (pointwise, for compiled graphs)."""
        return self._set_everywhere((Downsample1d, Upsample1d), "impl", impl, RESAMPLE_IMPLS, "resample impl")

    def set_fast_weights(self, dtype: torch.dtype | None, align: bool = False, align_max_batch: int = 1) -> DanceUNet:
        """Keep the convs' and attention projections' weights in ``dtype`` (and the convs' in the
        fast layout) as non-persistent buffers, refreshed in place from the parameters now, and use
        them outside autograd; None goes back to the parameters. For compiled calls, which would
        otherwise cast every weight on every call. Call again after the weights change. ``align``
        adds zero-padded copies of the first and last convs' odd channel counts for calls of at
        most ``align_max_batch`` (Conv1d.set_fast)."""
        for module in self.modules():
            if isinstance(module, Conv1d):
                module.set_fast(dtype, align, align_max_batch)
            elif isinstance(module, SelfAttention1d):
                module.set_fast(dtype)
        return self

    def set_fold_embed(self, on: bool = True, max_batch: int = 1) -> DanceUNet:
        """On the fast layout, let the first block of batch-1 calls read the audio and the time
        features apart (blocks.ResConvBlock.forward_folded) instead of their 18-channel
        concatenation. The same maths as pointwise terms: for compiled calls, whose graph fuses them
        (eager it is slower); at batch 21 the compiled call with it, the aligned channels and early
        launches was 6 % slower on an H100, so larger batches keep the concatenation (``max_batch``
        raises that limit for benchmarks)."""
        self.fold_embed = bool(on)
        self.fold_max_batch = int(max_batch)
        return self

    def set_small_gemm(self, max_len: int) -> DanceUNet:
        """On the fast layout, run the convs of levels no longer than ``max_len`` in batch-1 calls as
        one batched GEMM over the taps each (blocks.conv_as_gemm; 0 = never). The same sums in
        another order; the compiled pipeline turns it on (PipelineOptions.dd_gemm_max_len)."""
        if not isinstance(max_len, int) or max_len < 0:
            raise ValueError(f"small-gemm length must be an integer >= 0, got {max_len!r}")
        for module in self.modules():
            if isinstance(module, Conv1d):
                module.gemm_max_len = max_len
        return self

    def set_channels_last(self, on: bool = True) -> DanceUNet:
        """Run inside on [B, C, 1, T] channels-last tensors (cuDNN's NHWC convs, no per-conv transposes).

        Same parameters and the same maths; inputs and outputs stay [B, C, T]. The GPU fast path
        turns it on. The convs cache their 4-D weights (checked per call in eager mode; a CUDA
        graph replays the cache, see jbdiff.accel.weights_version).
        """
        self.channels_last = bool(on)
        return self

    @property
    def length_multiple(self) -> int:
        """Input lengths must be multiples of this (2 ** (depth - 1); 8192 for the published model)."""
        return self.shape.length_multiple

    @property
    def min_length(self) -> int:
        """Shortest accepted input (3 * length_multiple; 24,576 for the published model)."""
        return self.shape.min_length

    def valid_length(self, n: int) -> int:
        """Smallest accepted length >= n."""
        return self.shape.valid_length(n)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise DanceInputError unless x is [B, io_channels, T] with an accepted T."""
        if x.ndim != 3 or x.shape[1] != self.shape.io_channels:
            raise DanceInputError(
                f"Dance Diffusion input must be [batch, {self.shape.io_channels}, samples], "
                f"got {tuple(x.shape)}"
            )
        n = x.shape[2]
        if n % self.length_multiple or n < self.min_length:
            raise DanceInputError(
                f"Dance Diffusion input length {n} is not accepted: it must be a multiple of "
                f"{self.length_multiple} and >= {self.min_length}; pad to {self.valid_length(n)}"
            )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise DanceInputError(
                f"t must be a scalar or [batch={x.shape[0]}], got {tuple(t.shape)}"
            )
        embed = self.timestep_embed(t[:, None])
        if self.channels_last and self.fold_embed and x.shape[0] <= self.fold_max_batch:
            return from_fast_layout(self.net[1:](self.net[0].forward_folded(x, embed.to(x.dtype))))
        embed = embed[:, :, None].expand(-1, -1, x.shape[2]).to(x.dtype)
        h = torch.cat([x, embed], dim=1)
        if self.channels_last:
            return from_fast_layout(self.net(to_fast_layout(h)))
        return self.net(h)
