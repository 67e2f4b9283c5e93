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


class GroupNorm1(nn.Module):
    """GroupNorm with one group, computed as one flat reduction over C*T so it is parallel on GPU.

    torch's group_norm kernel reduces each (sample, group) row inside a single thread block, which
    for one group over 128 x 65,536 values leaves the GPU idle; `var_mean` over the flattened row
    uses torch's multi-block reduction instead. Statistics and the affine run in fp32 (as
    nn.GroupNorm does under autocast); the result comes back in the input dtype.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        var, mean = torch.var_mean(xf.flatten(1), dim=1, correction=0)
        scale = self.weight.float()[None, :, None] * torch.rsqrt(var + self.eps)[:, None, None]
        centered = xf - mean[:, None, None]
        return torch.addcmul(self.bias.float()[None, :, None], centered, scale).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}"


class ResConvBlock(nn.Module):
    """Two kernel-5 convs with norm and GELU plus a 1x1 skip when the width changes."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, is_last: bool = False) -> None:
        super().__init__()
        # Index positions inside `main` are part of the checkpoint's key names.
        self.main = nn.Sequential(
            nn.Conv1d(c_in, c_mid, 5, padding=2),
            GroupNorm1(c_mid),
            nn.GELU(),
            nn.Conv1d(c_mid, c_out, 5, padding=2),
            nn.Identity() if is_last else GroupNorm1(c_out),
            nn.Identity() if is_last else nn.GELU(),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv1d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.skip(x)


class SelfAttention1d(nn.Module):
    """Pre-norm multi-head self-attention over time, run by scaled_dot_product_attention.

    The 1x1 projections keep sample-generator's Conv1d parameters (shape [out, in, 1]) but are
    applied as linear layers on a [B, T, C] view so q/k/v come out with a contiguous head dim.
    """

    def __init__(self, c_in: int, n_head: int) -> None:
        super().__init__()
        if n_head < 1 or c_in % n_head:
            raise ValueError(f"attention width {c_in} is not divisible into {n_head} heads")
        self.n_head = n_head
        self.norm = GroupNorm1(c_in)
        self.qkv_proj = nn.Conv1d(c_in, c_in * 3, 1)
        self.out_proj = nn.Conv1d(c_in, c_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, s = x.shape
        h = self.norm(x).transpose(1, 2)
        qkv = F.linear(h, self.qkv_proj.weight[:, :, 0], self.qkv_proj.bias)
        # Channel order of the projection is (q|k|v, head, head_dim), as in the reference.
        q, k, v = qkv.view(n, s, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        y = y.transpose(1, 2).reshape(n, s, c)
        y = F.linear(y, self.out_proj.weight[:, :, 0], self.out_proj.bias)
        return x + y.transpose(1, 2)


class Downsample1d(nn.Module):
    """Halves the length with the cubic filter, reflect-padded, as a depthwise strided conv.

    The reference builds a dense [C, C, 8] diagonal weight each call (C times the FLOPs);
    a grouped conv with the same taps computes the same sums.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.tensor(CUBIC_TAPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        pad = self.kernel.shape[0] // 2 - 1
        x = F.pad(x, (pad, pad), mode="reflect")
        weight = self.kernel.to(x.dtype).expand(channels, 1, -1).contiguous()
        return F.conv1d(x, weight, stride=2, groups=channels)


class Upsample1d(nn.Module):
    """Doubles the length with the cubic filter (taps x2), reflect-padded, as a depthwise transposed conv."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.tensor(CUBIC_TAPS) * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        pad = self.kernel.shape[0] // 2 - 1
        x = F.pad(x, ((pad + 1) // 2,) * 2, mode="reflect")
        weight = self.kernel.to(x.dtype).expand(channels, 1, -1).contiguous()
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
