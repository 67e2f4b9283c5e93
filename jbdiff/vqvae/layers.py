"""Encoder/decoder conv stacks; attribute names follow Jukebox so state_dict keys match."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn


class ResConv1DBlock(nn.Module):
    """Pre-activation residual unit: relu, dilated 3-tap conv, relu, 1x1 conv."""

    def __init__(self, n_in: int, n_state: int, dilation: int = 1, zero_out: bool = False,
                 res_scale: float = 1.0) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(n_in, n_state, 3, 1, dilation, dilation),
            nn.ReLU(),
            nn.Conv1d(n_state, n_in, 1, 1, 0),
        )
        if zero_out:
            nn.init.zeros_(self.model[3].weight)
            nn.init.zeros_(self.model[3].bias)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.model(x)


class Resnet1D(nn.Module):
    """Stack of residual units whose dilation grows geometrically (optionally cycling)."""

    def __init__(self, n_in: int, n_depth: int, m_conv: float = 1.0, dilation_growth_rate: int = 1,
                 dilation_cycle: int | None = None, zero_out: bool = False,
                 res_scale: bool = False, reverse_dilation: bool = False) -> None:
        super().__init__()
        scale = 1.0 / math.sqrt(n_depth) if res_scale else 1.0
        blocks = []
        for d in range(n_depth):
            exponent = d if dilation_cycle is None else d % dilation_cycle
            blocks.append(ResConv1DBlock(n_in, int(m_conv * n_in), dilation_growth_rate**exponent,
                                         zero_out, scale))
        if reverse_dilation:
            blocks.reverse()
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _resnet(width: int, depth: int, m_conv: float, dilation_growth_rate: int,
            dilation_cycle: int | None, zero_out: bool, res_scale: bool,
            reverse_dilation: bool = False) -> Resnet1D:
    return Resnet1D(width, depth, m_conv, dilation_growth_rate, dilation_cycle, zero_out,
                    res_scale, reverse_dilation)


class EncoderConvBlock(nn.Module):
    """One level's downsampler: `down_t` x (strided conv + resnet), then a 3-tap projection."""

    def __init__(self, in_width: int, out_width: int, down_t: int, stride_t: int, width: int,
                 depth: int, m_conv: float, dilation_growth_rate: int = 1,
                 dilation_cycle: int | None = None, zero_out: bool = False,
                 res_scale: bool = False) -> None:
        super().__init__()
        kernel, pad = stride_t * 2, stride_t // 2
        blocks: list[nn.Module] = []
        for i in range(down_t):
            blocks.append(nn.Sequential(
                nn.Conv1d(in_width if i == 0 else width, width, kernel, stride_t, pad),
                _resnet(width, depth, m_conv, dilation_growth_rate, dilation_cycle, zero_out,
                        res_scale),
            ))
        if down_t > 0:
            blocks.append(nn.Conv1d(width, out_width, 3, 1, 1))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class DecoderConvBlock(nn.Module):
    """One level's upsampler: 3-tap projection, then `down_t` x (resnet + transposed conv)."""

    def __init__(self, out_width: int, emb_width: int, down_t: int, stride_t: int, width: int,
                 depth: int, m_conv: float, dilation_growth_rate: int = 1,
                 dilation_cycle: int | None = None, zero_out: bool = False,
                 res_scale: bool = False, reverse_decoder_dilation: bool = False) -> None:
        super().__init__()
        kernel, pad = stride_t * 2, stride_t // 2
        blocks: list[nn.Module] = []
        if down_t > 0:
            blocks.append(nn.Conv1d(emb_width, width, 3, 1, 1))
        for i in range(down_t):
            blocks.append(nn.Sequential(
                _resnet(width, depth, m_conv, dilation_growth_rate, dilation_cycle, zero_out,
                        res_scale, reverse_decoder_dilation),
                nn.ConvTranspose1d(width, out_width if i == down_t - 1 else width, kernel,
                                   stride_t, pad),
            ))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _conv_layers(modules: Iterator[nn.Module]) -> list[nn.Module]:
    return [m for m in modules if isinstance(m, nn.Conv1d | nn.ConvTranspose1d)]


class Encoder(nn.Module):
    """Audio -> latents of one level: the level blocks 0..level applied in sequence."""

    def __init__(self, in_channels: int, emb_width: int, downs_t: Sequence[int],
                 strides_t: Sequence[int], **block_kwargs) -> None:
        super().__init__()
        self.level_blocks = nn.ModuleList(
            EncoderConvBlock(in_channels if i == 0 else emb_width, emb_width, down_t, stride_t,
                             **block_kwargs)
            for i, (down_t, stride_t) in enumerate(zip(downs_t, strides_t, strict=True))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.level_blocks:
            x = block(x)
        return x

    def conv_layers(self) -> list[nn.Module]:
        """Convolutions in the order the forward pass applies them (for receptive fields)."""
        return _conv_layers(self.modules())


class Decoder(nn.Module):
    """Latents of one level -> audio: level blocks applied from the top down, then `out`."""

    def __init__(self, out_channels: int, emb_width: int, downs_t: Sequence[int],
                 strides_t: Sequence[int], **block_kwargs) -> None:
        super().__init__()
        self.level_blocks = nn.ModuleList(
            DecoderConvBlock(emb_width, emb_width, down_t, stride_t, **block_kwargs)
            for down_t, stride_t in zip(downs_t, strides_t, strict=True)
        )
        self.out = nn.Conv1d(emb_width, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in reversed(self.level_blocks):
            x = block(x)
        return self.out(x)

    def conv_layers(self) -> list[nn.Module]:
        """Convolutions in the order the forward pass applies them (for receptive fields)."""
        layers = []
        for block in reversed(self.level_blocks):
            layers += _conv_layers(block.modules())
        return layers + [self.out]
