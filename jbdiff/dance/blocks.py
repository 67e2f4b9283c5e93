"""Building blocks of Dance Diffusion's 1-D U-Net, laid out so state_dict names match sample-generator."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

# Taps of the cubic resampling filter (Keys, a = -0.5, evaluated at half-sample offsets); sums to 1.
CUBIC_TAPS = (
    -0.01171875,
    -0.03515625,
    0.11328125,
    0.43359375,
    0.43359375,
    0.11328125,
    -0.03515625,
    -0.01171875,
)


GROUPNORM_IMPLS = ("auto", "flat", "torch")


STATS_IMPLS = ("dims", "flat", "sums", "twopass", "chunks")

CHUNK = 16384
"""Values per partial statistic in the "chunks" GroupNorm statistics."""

CHUNKED_MIN_ROW = 131072
"""The "chunks" statistics reduce rows shorter than this in one piece (one kernel, which inductor
can fuse with the normalisation when its split_reductions is off) and longer ones in CHUNK pieces."""


def _sample_rows(x: torch.Tensor) -> torch.Tensor:
    """[B, ...] -> [B, N] over each sample's values, a view for contiguous and channels-last 4-D memory."""
    if x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        x = x.permute(0, 2, 3, 1)   # channels-last memory: this order is contiguous
    return x.reshape(x.shape[0], -1)


def group_norm1_stats(x: torch.Tensor, eps: float, impl: str = "flat") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample mean and 1 / sqrt(var + eps) over all but the batch dim, both fp32 [B].

    impl picks the formulation (the same numbers within fp32 rounding); they compile to different
    reduction kernels, which bench/groupnorm.py times: "dims" reduces the 4-D shape, "flat" one
    contiguous row per sample, "sums" sum and sum of squares in one pass, "twopass" the mean and
    then the squared deviations, "chunks" long rows as equal chunks whose statistics are then
    combined (an explicit split, so that inductor's own split can be off for the short rows).
    """
    if impl == "dims":
        var, mean = torch.var_mean(x, dim=tuple(range(1, x.ndim)), correction=0)
        var, mean = var.float(), mean.float()
    elif impl == "flat":
        rows = _sample_rows(x)
        # Compiled, the upcast fuses into the reduction's loads; eager it would copy the whole
        # activation to fp32, so there torch's reduction accumulates in fp32 and returns x's dtype.
        rows = rows.float() if torch.compiler.is_compiling() else rows
        var, mean = torch.var_mean(rows, dim=1, correction=0)
        var, mean = var.float(), mean.float()
    elif impl == "sums":
        rows = _sample_rows(x).float()
        mean = rows.mean(1)
        var = (rows.square().mean(1) - mean.square()).clamp_min(0)
    elif impl == "chunks":
        rows = _sample_rows(x).float()
        b, n = rows.shape
        if n < CHUNKED_MIN_ROW or n % CHUNK:
            var, mean = torch.var_mean(rows, dim=1, correction=0)
        else:   # equal chunks: the row's variance is the chunks' mean variance plus their means' spread
            part_var, part_mean = torch.var_mean(rows.view(b, n // CHUNK, CHUNK), dim=2, correction=0)
            mean = part_mean.mean(1)
            var = part_var.mean(1) + (part_mean - mean[:, None]).square().mean(1)
    elif impl == "twopass":
        rows = _sample_rows(x).float()
        mean = rows.mean(1)
        var = (rows - mean[:, None]).square().mean(1)
    else:
        raise ValueError(f"stats impl must be one of {STATS_IMPLS}, got {impl!r}")
    return mean, torch.rsqrt(var + eps)


def flat_group_norm1(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, stats: str = "flat"
) -> torch.Tensor:
    """GroupNorm with one group as a flat reduction over all but the batch dim plus one fused scale-and-shift.

    torch's CUDA group_norm reduces each (sample, group) row inside one thread block, which for
    one group over 128 x 65,536 values leaves the GPU idle; a reduction over the whole row uses
    torch's multi-block reduction instead, on any memory layout (also the 4-D channels-last one
    of DanceUNet's fast layout). The reduction accumulates in fp32 whatever the input dtype; mean
    and affine fold into one per-(sample, channel) scale and shift applied in the input dtype, so
    an fp32 input gets fp32 arithmetic throughout and a bf16 input costs one read and one write.
    ``stats`` picks how the statistics are formulated (see group_norm1_stats).
    """
    mean, rstd = group_norm1_stats(x, eps, stats)
    bcast = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
    scale = weight.float()[None, :] * rstd[:, None]
    shift = bias.float()[None, :] - mean[:, None] * scale
    return torch.addcmul(shift.to(x.dtype).view(bcast), x, scale.to(x.dtype).view(bcast))


class GroupNorm1(nn.Module):
    """nn.GroupNorm(1, C) with the fastest statistics per device; parameters named as nn.GroupNorm's.

    impl "auto" uses flat_group_norm1 off CPU (the GPU fix) and torch's kernel on CPU, where
    torch's group_norm is fast and its var_mean is not; "flat" and "torch" force one of them.
    ``stats`` is flat_group_norm1's formulation of the statistics.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, impl: str = "auto", stats: str = "flat") -> None:
        super().__init__()
        if impl not in GROUPNORM_IMPLS:
            raise ValueError(f"impl must be one of {GROUPNORM_IMPLS}, got {impl!r}")
        if stats not in STATS_IMPLS:
            raise ValueError(f"stats must be one of {STATS_IMPLS}, got {stats!r}")
        self.num_channels = num_channels
        self.eps = eps
        self.impl = impl
        self.stats = stats
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "flat" or (self.impl == "auto" and x.device.type != "cpu"):
            return flat_group_norm1(x, self.weight, self.bias, self.eps, self.stats)
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, impl={self.impl}, stats={self.stats}"


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a layer computes in: autocast's when it is on for x's device, else x's own."""
    return torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype


def keep_buffer(module: nn.Module, name: str, value: torch.Tensor) -> None:
    """Store ``value`` as a non-persistent buffer of ``module`` (not in the state_dict), copied into
    the existing one when shape, dtype, strides and device match, so a CUDA graph captured on it
    keeps reading the right memory."""
    old = module._buffers.get(name)
    if (old is not None and old.shape == value.shape and old.dtype == value.dtype
            and old.stride() == value.stride() and old.device == value.device):
        old.copy_(value)
    else:
        module.register_buffer(name, value, persistent=False)


ALIGN_IN = 32
"""Fast weights of convs wider than one tap pad their input channels to a multiple of this."""

ALIGN_OUT = 8
"""... and their output channels to a multiple of this (zero weights, the extra outputs dropped)."""


def aligned(n: int, multiple: int) -> int:
    """``n`` rounded up to a multiple of ``multiple``."""
    return -(-n // multiple) * multiple


class Conv1d(nn.Conv1d):
    """nn.Conv1d (same parameters) that also takes DanceUNet's fast layout: [B, C, 1, T] channels-last.

    torch turns every conv1d into an NCHW conv2d, so cuDNN transposes to NHWC and back around
    each call; on the 4-D channels-last layout the conv runs as cuDNN's NHWC conv2d directly.
    Outside autograd the 4-D weight (in the autocast dtype) is cached per weight version.
    ``set_fast`` keeps that weight and the bias as buffers instead, which a compiled graph reads
    as they are (traced, the cached path casts the fp32 weight again on every call).
    """

    _cache: tuple[tuple, torch.Tensor] | None = None
    fast_weights = False
    aligned = False    # calls of at most align_max_batch read zero-padded fast weights (see set_fast)
    align_max_batch = 1
    gemm_max_len = 0   # fast layout, batch 1: lengths up to this run as one batched GEMM (see conv_as_gemm)

    @staticmethod
    def _as_4d(w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """[out, in, k] weight -> [out, in, 1, k] channels-last in ``dtype`` (what the NHWC conv reads)."""
        return w.unsqueeze(2).to(dtype=dtype, memory_format=torch.channels_last)

    def weight_4d(self, dtype: torch.dtype) -> torch.Tensor:
        w = self.weight
        # Under torch.compile the cast is traced instead (inductor runs it as one small kernel per call).
        if torch.compiler.is_compiling() or (torch.is_grad_enabled() and w.requires_grad):
            return self._as_4d(w, dtype)
        key = (w._version, w.data_ptr(), w.device, dtype)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._as_4d(w.detach(), dtype))
        return self._cache[1]

    def set_fast(self, dtype: torch.dtype | None, align: bool = False, align_max_batch: int = 1) -> None:
        """Refresh the 4-D weight and bias buffers in ``dtype`` from the parameters and use them
        outside autograd (None: back to the parameters; the buffers stay for graphs that hold them).

        ``align`` also keeps a copy of a multi-tap conv's weight with its channels zero-padded to
        ALIGN_IN / ALIGN_OUT, which calls of at most ``align_max_batch`` use: cuDNN's NHWC kernels for odd widths (Dance
        Diffusion's first conv reads 18 channels, its last writes 2) took two to three times as
        long at 65,536 samples as for the padded ones on an H100 (docs/benchmarks.md, session 10).
        """
        if dtype is not None:
            c_out, c_in, k = self.weight.shape
            align = align and k > 1 and self.groups == 1
            pad_in = aligned(c_in, ALIGN_IN) - c_in if align else 0
            pad_out = aligned(c_out, ALIGN_OUT) - c_out if align else 0
            with torch.no_grad():
                keep_buffer(self, "weight_fast", self._as_4d(self.weight, dtype))
                if self.bias is not None:
                    keep_buffer(self, "bias_fast", self.bias.to(dtype))
                if pad_in or pad_out:
                    w = F.pad(self.weight, (0, 0, 0, pad_in, 0, pad_out))
                    keep_buffer(self, "weight_fast_aligned", self._as_4d(w, dtype))
                    if self.bias is not None:
                        keep_buffer(self, "bias_fast_aligned", F.pad(self.bias, (0, pad_out)).to(dtype))
            self.aligned = bool(pad_in or pad_out)
            self.align_max_batch = int(align_max_batch)
        self.fast_weights = dtype is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            return super().forward(x)
        dtype = compute_dtype(x)
        fast = self.fast_weights and not torch.is_grad_enabled() and self.weight_fast.dtype == dtype
        if fast and self.aligned and x.shape[0] <= self.align_max_batch:   # zero channels in, extra outputs dropped
            weight = self.weight_fast_aligned
            bias = None if self.bias is None else self.bias_fast_aligned
            x = F.pad(x, (0, 0, 0, 0, 0, weight.shape[1] - x.shape[1]))
            return self._fast_conv(x, weight, bias)[:, :self.out_channels]
        bias = None if self.bias is None else (self.bias_fast if fast else self.bias.to(dtype))
        weight = self.weight_fast if fast else self.weight_4d(dtype)
        return self._fast_conv(x, weight, bias)

    def _fast_conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        dtype = weight.dtype
        if (x.shape[-1] <= self.gemm_max_len and x.shape[0] == 1 and self.stride[0] == 1
                and self.dilation[0] == 1 and self.groups == 1):
            # [out, in, 1, k] channels-last is [out, 1, k, in] in memory: a free [out, k * in] view.
            matrix = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)
            return conv_as_gemm(x.to(dtype), matrix, bias, self.kernel_size[0], self.padding[0])
        return F.conv2d(x.to(dtype), weight, bias, (1, self.stride[0]), (0, self.padding[0]),
                        (1, self.dilation[0]), self.groups)

    def _apply(self, fn, recurse=True):  # .to()/.cuda() invalidate the cached weight
        self._cache = None
        return super()._apply(fn, recurse)


def conv_as_gemm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, kernel: int, padding: int
) -> torch.Tensor:
    """A stride-1 conv on the fast layout as one batched GEMM over its taps, for short lengths.

    Every tap multiplies the same [B * T, in] rows (the memory as it lies, broadcast over the taps,
    no copy) by its [in, out] slice of the tap-major [out, kernel * in] weight; the conv is then
    the taps' products shifted by their offsets and summed, which a compiled graph fuses into the
    consumer. At batch 1 the kernel-fold batch gives the deep levels' few hundred rows enough
    thread blocks (cuDNN's implicit GEMM runs them on a few dozen) and needs neither a padded copy
    nor an unfold. Each tap's product is rounded to the compute dtype before the sum (cuDNN rounds
    only the sum): the same size of error as the bf16 activations around it.
    """
    b, c, _, t = x.shape
    out = weight.shape[0]
    rows = x.permute(0, 2, 3, 1).reshape(1, b * t, c)       # the memory as it lies: [1, B*T, C]
    taps = weight.view(out, kernel, c).permute(1, 2, 0)       # [kernel, in, out], no copy
    prod = torch.bmm(rows.expand(kernel, b * t, c), taps).view(kernel, b, t, out)
    if kernel == 1 and padding == 0:
        y = prod[0]
    else:
        # y[t] = sum_k prod[k, t + k - padding], zero outside the sample (the conv's zero padding)
        right = kernel - 1 - padding
        prod = F.pad(prod, (0, 0, padding, right))
        y = sum(prod[k, :, k:k + t] for k in range(kernel))
    if bias is not None:
        y = y + bias
    return y.view(b, 1, t, out).permute(0, 3, 1, 2)           # [B, out, 1, T] channels-last


def to_fast_layout(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T] -> [B, C, 1, T] in channels-last memory (time-major, channels contiguous)."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def from_fast_layout(x: torch.Tensor) -> torch.Tensor:
    """[B, C, 1, T] channels-last -> contiguous [B, C, T]."""
    return x.squeeze(2).contiguous()


def reflect_pad_time(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect-pad the last (time) dim by `pad` each side; on 4-D inputs keeps channels-last memory."""
    if x.ndim == 3:
        return F.pad(x, (pad, pad), mode="reflect")
    left = x[..., 1:pad + 1].flip(-1)
    right = x[..., -pad - 1:-1].flip(-1)
    return torch.cat([left, x, right], dim=-1)


class ResConvBlock(nn.Module):
    """Two kernel-5 convs with norm and GELU plus a 1x1 skip when the width changes."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, is_last: bool = False) -> None:
        super().__init__()
        # Index positions inside `main` are part of the checkpoint's key names.
        self.main = nn.Sequential(
            Conv1d(c_in, c_mid, 5, padding=2),
            GroupNorm1(c_mid),
            nn.GELU(),
            Conv1d(c_mid, c_out, 5, padding=2),
            nn.Identity() if is_last else GroupNorm1(c_out),
            nn.Identity() if is_last else nn.GELU(),
        )
        self.skip = nn.Identity() if c_in == c_out else Conv1d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.skip(x)

    def forward_folded(self, x: torch.Tensor, const: torch.Tensor) -> torch.Tensor:
        """forward(cat([x, const expanded over time])) without the concatenation, on the fast layout.

        x [B, n, T] are the time-varying input channels, const [B, m] the channels that are the same
        at every sample (Dance Diffusion's 16 time features beside 2 audio channels). The first conv
        and the 1x1 skip over the constant channels reduce to per-sample vectors (the conv's taps
        that fall into the zero padding excepted), and over the few audio channels to a handful of
        shifted products: pointwise work that a compiled graph fuses into the norm after it, where
        cuDNN ran an 18-channel conv at a third of its usual speed. Returns [B, C, 1, T] channels-last.
        """
        conv = self.main[0]
        if not isinstance(self.skip, Conv1d) or conv.stride[0] != 1 or conv.dilation[0] != 1 or conv.groups != 1:
            return self.forward(to_fast_layout(torch.cat([x, const[:, :, None].expand(-1, -1, x.shape[2])], 1)))
        dtype = compute_dtype(x)
        work = torch.promote_types(x.dtype, torch.float32)     # at least fp32 for the sums
        x, const = x.to(work), const.to(work)
        n, t = x.shape[1], x.shape[2]
        w = conv.weight.to(work)                                   # [out, n + m, k]
        k, pad = w.shape[2], conv.padding[0]
        xp = F.pad(x, (pad, k - 1 - pad))
        y = conv.bias.to(work)[None, :, None] if conv.bias is not None else torch.zeros((), device=x.device)
        for tap in range(k):
            for c in range(n):
                y = y + w[None, :, c, tap, None] * xp[:, None, c, tap:tap + t]
        per_tap = (w[None, :, n:, :] * const[:, None, :, None]).sum(2)         # [B, out, k]
        pos = torch.arange(t, device=x.device)
        for tap in range(k):   # a tap reaching into the padding adds nothing at that sample
            inside = ((pos + tap - pad >= 0) & (pos + tap - pad < t)).to(work)
            y = y + per_tap[:, :, tap, None] * inside
        sw = self.skip.weight.to(work)[:, :, 0]                                 # [out, n + m]
        skip = (sw[None, :, n:] * const[:, None, :]).sum(2)[:, :, None]        # [B, out, 1]
        for c in range(n):
            skip = skip + sw[None, :, c, None] * x[:, None, c]
        return self.main[1:](to_fast_layout(y.to(dtype))) + to_fast_layout(skip.to(dtype))


class SelfAttention1d(nn.Module):
    """Pre-norm multi-head self-attention over time, run by scaled_dot_product_attention.

    The 1x1 projections keep sample-generator's Conv1d parameters (shape [out, in, 1]) but are
    applied as linear layers on a [B, T, C] view so q/k/v come out with a contiguous head dim.
    ``set_fast`` keeps their 2-D weights and biases in the compute dtype as buffers (see Conv1d).
    """

    fast_weights = False

    def __init__(self, c_in: int, n_head: int) -> None:
        super().__init__()
        if n_head < 1 or c_in % n_head:
            raise ValueError(f"attention width {c_in} is not divisible into {n_head} heads")
        self.n_head = n_head
        self.norm = GroupNorm1(c_in)
        self.qkv_proj = nn.Conv1d(c_in, c_in * 3, 1)
        self.out_proj = nn.Conv1d(c_in, c_in, 1)

    def set_fast(self, dtype: torch.dtype | None) -> None:
        """Refresh the projections' buffers in ``dtype`` and use them outside autograd (None: stop)."""
        if dtype is not None:
            with torch.no_grad():
                for name, conv in (("qkv", self.qkv_proj), ("out", self.out_proj)):
                    keep_buffer(self, f"{name}_weight_fast", conv.weight[:, :, 0].to(dtype).contiguous())
                    keep_buffer(self, f"{name}_bias_fast", conv.bias.to(dtype))
        self.fast_weights = dtype is not None

    def _project(self, name: str, conv: nn.Conv1d, h: torch.Tensor) -> torch.Tensor:
        weight = self._buffers.get(f"{name}_weight_fast") if self.fast_weights else None
        if weight is not None and not torch.is_grad_enabled() and weight.dtype == compute_dtype(h):
            return F.linear(h.to(weight.dtype), weight, self._buffers[f"{name}_bias_fast"])
        return F.linear(h, conv.weight[:, :, 0], conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, s = x.shape[0], x.shape[1], x.shape[-1]
        h = self.norm(x)
        h = (h.squeeze(2) if h.ndim == 4 else h).transpose(1, 2)   # [B, T, C]; free on the fast layout
        qkv = self._project("qkv", self.qkv_proj, h)
        # Channel order of the projection is (q|k|v, head, head_dim), as in the reference.
        q, k, v = qkv.view(n, s, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        y = y.transpose(1, 2).reshape(n, s, c)
        y = self._project("out", self.out_proj, y).transpose(1, 2)
        return x + (y.unsqueeze(2) if x.ndim == 4 else y)


RESAMPLE_IMPLS = ("conv", "taps")


def downsample_taps(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Cubic halving as a weighted sum of strided slices of the reflect-padded input (fp32 sums).

    The same sums as Downsample1d's depthwise strided conv, written as pointwise arithmetic so
    that torch.compile fuses padding, filter and the following ops into one memory pass instead
    of calling cuDNN's depthwise kernel; eager, it is slower than the conv.
    """
    taps = kernel.shape[0]
    pad = taps // 2 - 1
    xp = reflect_pad_time(x, pad)
    n = (xp.shape[-1] - taps) // 2 + 1
    acc = torch.promote_types(x.dtype, torch.float32)
    w = kernel.to(acc)
    out = sum(xp[..., k:k + 2 * n - 1:2].to(acc) * w[k] for k in range(taps))
    return out.to(x.dtype)


def upsample_taps(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Cubic doubling as two weighted sums of shifted slices (even and odd outputs), interleaved.

    The same sums as Upsample1d's depthwise transposed conv (stride 2, padding 2 * pad + 1 after
    a reflect pad of (pad + 1) // 2), in pointwise form for torch.compile to fuse.
    """
    taps = kernel.shape[0]
    pad = taps // 2 - 1
    crop = 2 * pad + 1
    xp = reflect_pad_time(x, (pad + 1) // 2)
    n = (xp.shape[-1] - 1) * 2 - 2 * crop + taps   # the transposed conv's output length
    half = n // 2
    acc = torch.promote_types(x.dtype, torch.float32)
    w = kernel.to(acc)
    # On the fast layout work on the [B, 1, T, C] view of its memory, so the interleave of even and
    # odd outputs writes memory in order (compiled, a channels-first stack wrote it transposed).
    fast = x.ndim == 4
    rows = xp.permute(0, 2, 3, 1) if fast else xp
    tdim = 2 if fast else rows.ndim - 1
    phases = []
    for r in (0, 1):
        # Output j = 2m + r gathers input i = m + (r + crop - k) / 2 for the taps k of matching parity.
        terms = [(k, (r + crop - k) // 2) for k in range(taps) if (r + crop - k) % 2 == 0]
        phases.append(sum(rows.narrow(tdim, o, half).to(acc) * w[k] for k, o in terms))
    out = torch.stack(phases, dim=tdim + 1).flatten(tdim, tdim + 1).to(x.dtype)
    return out.permute(0, 3, 1, 2) if fast else out


class Downsample1d(nn.Module):
    """Halves the length with the cubic filter, reflect-padded, as a depthwise strided conv.

    The reference builds a dense [C, C, 8] diagonal weight each call (C times the FLOPs);
    a grouped conv with the same taps computes the same sums. impl "taps" computes them as
    pointwise arithmetic instead (see downsample_taps), for compiled graphs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.tensor(CUBIC_TAPS))
        self.impl = "conv"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "taps":
            return downsample_taps(x, self.kernel)
        channels = x.shape[1]
        pad = self.kernel.shape[0] // 2 - 1
        x = reflect_pad_time(x, pad)
        weight = self.kernel.to(x.dtype).expand(channels, 1, -1).contiguous()
        if x.ndim == 4:
            return F.conv2d(x, to_fast_layout(weight), stride=(1, 2), groups=channels)
        return F.conv1d(x, weight, stride=2, groups=channels)


class Upsample1d(nn.Module):
    """Doubles the length with the cubic filter (taps x2), reflect-padded, as a depthwise transposed conv.

    impl "taps" computes the same sums as pointwise arithmetic (see upsample_taps).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.tensor(CUBIC_TAPS) * 2)
        self.impl = "conv"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "taps":
            return upsample_taps(x, self.kernel)
        channels = x.shape[1]
        pad = self.kernel.shape[0] // 2 - 1
        x = reflect_pad_time(x, (pad + 1) // 2)
        weight = self.kernel.to(x.dtype).expand(channels, 1, -1).contiguous()
        if x.ndim == 4:
            return F.conv_transpose2d(x, to_fast_layout(weight), stride=(1, 2), padding=(0, pad * 2 + 1),
                                      groups=channels)
        return F.conv_transpose1d(x, weight, stride=2, padding=pad * 2 + 1, groups=channels)


class SkipBlock(nn.Module):
    """One U-Net level: its layers run on the input, whose copy is concatenated after them."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.main(x), x], dim=1)


class FourierFeatures(nn.Module):
    """Random Fourier features of the diffusion time t (a [B, 1] input), cos then sin."""

    def __init__(self, in_features: int, out_features: int, std: float = 1.0) -> None:
        super().__init__()
        if out_features % 2:
            raise ValueError(f"out_features must be even, got {out_features}")
        self.weight = nn.Parameter(torch.randn(out_features // 2, in_features) * std)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        # Broadcast multiply-sum, not a matmul: autocast would run a matmul in bf16 and round the
        # phases by ~0.1 rad. With one input feature this is bitwise the reference's t @ W.T.
        f = ((2 * math.pi * t.float())[:, None, :] * self.weight.float()[None]).sum(-1)
        return torch.cat([f.cos(), f.sin()], dim=-1)
