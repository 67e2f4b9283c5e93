"""Building blocks of the level U-Net, nested so their state_dict names match the forked a-unet.

The attribute names (`block`, `blocks.N`) reproduce the fork's wrapper modules (Select, Packed,
Sequential, functional Module) so a published checkpoint loads without renaming; the forward
methods are our own and avoid the fork's per-item reshapes. "Channel" items take [B, C, T],
"token" items take [B, T, C]; a level transposes only where the layout changes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jbdiff.unet.shape import RESNET_GROUPS


class Cond(NamedTuple):
    """What every item may read besides x: SiLU of the time features, and the cross context."""

    features_silu: Tensor
    embedding: Tensor | None


class Holder(nn.Module):
    """Parameter container whose only job is to give children the fork's `blocks.N` names."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(modules)


class Select(nn.Module):
    """Parameter container giving a child the fork's `block` name (its Select wrapper)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.block = module


class ConvBlock(nn.Sequential):
    """GroupNorm -> SiLU -> Dropout -> Conv1d (the fork's resnet conv block, indices 0..3)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float
    ) -> None:
        super().__init__(
            nn.GroupNorm(RESNET_GROUPS, in_channels),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Conv1d(
                in_channels,
                out_channels,
                kernel_size,
                padding=(kernel_size - 1) // 2 * dilation,
                dilation=dilation,
            ),
        )
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        h = F.silu(self[0](x))
        if self.training and self.dropout > 0.0:
            h = F.dropout(h, self.dropout, training=True)
        return self[3](h)


class ResnetItem(nn.Module):
    """Dilated kernel-3 conv block then kernel-1 conv block, plus identity skip."""

    tokens = False

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        convs = Holder(
            ConvBlock(channels, channels, 3, dilation, dropout),
            ConvBlock(channels, channels, 1, 1, dropout),
        )
        self.block = Holder(convs, nn.Identity())

    def forward(self, x: Tensor, cond: Cond) -> Tensor:
        first, second = self.block.blocks[0].blocks
        return x + second(first(x))


class ModulationItem(nn.Module):
    """LayerNorm over channels, then time-dependent scale and shift (no residual, as the fork)."""

    tokens = True

    def __init__(self, channels: int, modulation_features: int) -> None:
        super().__init__()
        to_scale_shift = nn.Sequential(nn.SiLU(), nn.Linear(modulation_features, channels * 2))
        norm = nn.LayerNorm(channels, elementwise_affine=False, eps=1e-6)
        self.blocks = nn.ModuleList([Select(Holder(to_scale_shift, norm))])
        self.channels = channels

    def forward(self, x: Tensor, cond: Cond) -> Tensor:
        linear = self.blocks[0].block.blocks[0][1]
        scale, shift = linear(cond.features_silu).unsqueeze(1).chunk(2, dim=-1)
        normed = F.layer_norm(x, (self.channels,), eps=1e-6)
        return torch.addcmul(shift, normed, scale + 1.0)


class Attention(nn.Module):
    """Pre-norm multi-head attention with residual; keys/values from `context` when given."""

    def __init__(
        self, features: int, head_features: int, num_heads: int, context_features: int | None
    ) -> None:
        super().__init__()
        mid = head_features * num_heads
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(features)
        self.norm_context = nn.LayerNorm(context_features or features)
        self.to_q = nn.Linear(features, mid, bias=False)
        self.to_kv = nn.Linear(context_features or features, mid * 2, bias=False)
        self.attention = Holder(nn.Linear(mid, features, bias=False))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        context = x if context is None else context
        h = self.num_heads
        q = self.to_q(self.norm(x)).unflatten(-1, (h, -1)).transpose(1, 2)
        k, v = self.to_kv(self.norm_context(context)).chunk(2, dim=-1)
        k = k.unflatten(-1, (h, -1)).transpose(1, 2)
        v = v.unflatten(-1, (h, -1)).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).flatten(2)
        return x + self.attention.blocks[0](out)


class AttentionItem(nn.Module):
    """Self-attention over time steps, or cross-attention to the context embedding."""

    tokens = True

    def __init__(
        self,
        channels: int,
        head_features: int,
        num_heads: int,
        context_features: int | None = None,
    ) -> None:
        super().__init__()
        self.cross = context_features is not None
        attention = Attention(channels, head_features, num_heads, context_features)
        self.blocks = nn.ModuleList([Select(attention)])

    def forward(self, x: Tensor, cond: Cond) -> Tensor:
        return self.blocks[0].block(x, cond.embedding if self.cross else None)


class DownsampleItem(nn.Module):
    """Strided conv with kernel = stride = factor (kernel 1 when the factor is 1)."""

    tokens = False

    def __init__(self, in_channels: int, out_channels: int, factor: int) -> None:
        super().__init__()
        self.block = nn.Conv1d(in_channels, out_channels, factor, stride=factor)

    def forward(self, x: Tensor, cond: Cond) -> Tensor:
        return self.block(x)


class UpsampleItem(nn.Module):
    """Nearest-neighbour upsampling by `factor`, then a kernel-3 conv."""

    tokens = False

    def __init__(self, in_channels: int, out_channels: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.block = nn.Sequential(
            nn.Upsample(scale_factor=factor, mode="nearest"),
            nn.Conv1d(in_channels, out_channels, 3, padding=1),
        )

    def forward(self, x: Tensor, cond: Cond) -> Tensor:
        if self.factor > 1:
            x = F.interpolate(x, scale_factor=self.factor, mode="nearest")
        return self.block[1](x)


class SkipModulate(nn.Module):
    """Merges the level's input back: skip + scale(time) * y."""

    def __init__(self, channels: int, modulation_features: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [nn.Sequential(nn.SiLU(), nn.Linear(modulation_features, channels))]
        )

    def forward(self, skip: Tensor, y: Tensor, cond: Cond) -> Tensor:
        scale = self.blocks[0][1](cond.features_silu).unsqueeze(-1)
        return torch.addcmul(skip, y, scale)


class Level(nn.Module):
    """One U-Net depth: downsample, items, the deeper level, items, upsample, modulated skip."""

    tokens = False

    def __init__(self, items: list[nn.Module], out_channels: int, modulation_features: int) -> None:
        super().__init__()
        self.block = Holder(*items)
        self.skip = SkipModulate(out_channels, modulation_features)

    def forward(self, x: Tensor, cond: Cond) -> Tensor:
        h = x
        tokens = False
        for item in self.block.blocks:
            if item.tokens != tokens:
                h = h.transpose(1, 2).contiguous()
                tokens = item.tokens
            h = item(h, cond)
        return self.skip(x, h, cond)


class UNetRoot(nn.Module):
    """Holds the outermost level as `net` (the fork's XUNet wrapper)."""

    def __init__(self, net: Level) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, cond: Cond) -> Tensor:
        return self.net(x, cond)
