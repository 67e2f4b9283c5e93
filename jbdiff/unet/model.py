"""The level U-Net (the fork's UNetV0 with time conditioning and classifier-free guidance)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jbdiff.errors import ConfigError, JbdiffError
from jbdiff.unet.blocks import (
    AttentionItem,
    Cond,
    DownsampleItem,
    Holder,
    Level,
    ModulationItem,
    ResnetItem,
    UNetRoot,
    UpsampleItem,
)
from jbdiff.unet.shape import UNetShape

#: Width of the Fourier time features (the fork's NumberEmbedder default).
TIME_FOURIER_DIM = 256


class UNetInputError(JbdiffError, ValueError):
    """A tensor handed to the U-Net has the wrong shape (the message names it and the rule)."""


class TimeEmbedding(nn.Module):
    """Learned-frequency Fourier features of sigma, then a Linear (the fork's NumberEmbedder)."""

    def __init__(self, features: int, dim: int = TIME_FOURIER_DIM) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))
        self.to_out = nn.Linear(dim + 1, features)

    def forward(self, sigmas: Tensor) -> Tensor:
        x = sigmas.unsqueeze(-1)
        freqs = x * self.weights.unsqueeze(0) * 2 * math.pi
        return self.to_out(torch.cat((x, freqs.sin(), freqs.cos()), dim=-1))


class TimeMLP(nn.Module):
    """Linear+GELU applied twice with ONE shared Linear (the fork repeats the same module).

    The state_dict therefore lists that Linear under `blocks.0.0.*` and `blocks.1.0.*`.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        layer = nn.Sequential(nn.Linear(features, features), nn.GELU())
        self.blocks = nn.ModuleList([layer, layer])

    def forward(self, x: Tensor) -> Tensor:
        layer = self.blocks[0]
        return layer(layer(x))


class LevelUNet(nn.Module):
    """v-predicting U-Net over VQ-VAE latents [B, C, T], cross-attending to context latents.

    Keyword arguments are the fields of `UNetShape` (the seed's YAML keys). The state_dict names
    and shapes equal the forked UNetV0's, so published level checkpoints load directly.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        shape = UNetShape.from_dict(kwargs).validate()
        self.shape = shape
        m = shape.modulation_features
        root = UNetRoot(_build_level(shape, 0, shape.in_channels))
        modules: list[nn.Module] = [TimeEmbedding(m), TimeMLP(m)]
        if shape.use_embedding_cfg:
            null = Holder(nn.Embedding(shape.embedding_max_length, shape.embedding_features))
            modules.append(Holder(null, root))
        else:
            modules.append(root)
        self.blocks = nn.ModuleList(modules)

    @classmethod
    def from_shape(cls, shape: UNetShape) -> LevelUNet:
        return cls(**asdict(shape))

    @property
    def root(self) -> UNetRoot:
        last = self.blocks[2]
        return last.blocks[1] if self.shape.use_embedding_cfg else last

    @property
    def null_embedding(self) -> nn.Embedding | None:
        """Learned stand-in for the context when it is dropped (classifier-free guidance)."""
        return self.blocks[2].blocks[0].blocks[0] if self.shape.use_embedding_cfg else None

    @property
    def needs_embedding(self) -> bool:
        return any(c > 0 for c in self.shape.cross_attentions)

    def time_features(self, sigmas: Tensor) -> Tensor:
        """Time conditioning vector [B, modulation_features] (GELU, then the shared MLP twice)."""
        embedder = self.blocks[0]
        return self.blocks[1](F.gelu(embedder(sigmas.to(embedder.weights.dtype))))

    def forward(
        self,
        x: Tensor,
        sigmas: Tensor,
        *,
        embedding: Tensor | None = None,
        embedding_mask_proba: float = 0.0,
        embedding_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Predict v for noisy latents `x` at noise levels `sigmas` ([B], or one value for all).

        With CFG, `embedding_mask_proba` replaces each item's context by the learned null
        embedding with that probability (training), and `embedding_scale` != 1 runs the
        conditional and null branches as ONE batch of 2B and mixes them
        uncond + (cond - uncond) * scale. `embedding=None` means unconditional (null context).
        """
        b = self._check_x(x)
        sigmas = self._check_sigmas(sigmas, b, x.device)
        if not 0.0 <= embedding_mask_proba <= 1.0:
            raise ConfigError(f"embedding_mask_proba = {embedding_mask_proba!r} must be in [0, 1]")
        null = self.null_embedding
        if null is None or embedding is None:
            return self._run(x, sigmas, self._prepare_embedding(embedding, b))
        embedding = self._prepare_embedding(embedding, b)
        null_context = null.weight[: embedding.shape[1]].to(embedding.dtype)
        null_context = null_context.unsqueeze(0).expand_as(embedding)
        if embedding_mask_proba > 0.0:
            embedding = _mask_embedding(embedding, null_context, embedding_mask_proba, generator)
        if embedding_scale == 1.0:
            return self._run(x, sigmas, embedding)
        both = self._run(
            torch.cat((x, x)), torch.cat((sigmas, sigmas)), torch.cat((embedding, null_context))
        )
        cond, uncond = both.chunk(2)
        return uncond + (cond - uncond) * embedding_scale

    def _run(self, x: Tensor, sigmas: Tensor, embedding: Tensor | None) -> Tensor:
        features = self.time_features(sigmas)
        return self.root(x, Cond(F.silu(features), embedding))

    def _check_x(self, x: Tensor) -> int:
        s = self.shape
        if x.ndim != 3 or x.shape[1] != s.in_channels:
            raise UNetInputError(
                f"U-Net input x has shape {tuple(x.shape)}; expected [batch, {s.in_channels}, time]"
            )
        if x.shape[2] == 0 or x.shape[2] % s.downsample_factor:
            raise UNetInputError(
                f"U-Net input length {x.shape[2]} must be a positive multiple of "
                f"{s.downsample_factor} (the product of 'factors')"
            )
        return x.shape[0]

    @staticmethod
    def _check_sigmas(sigmas: Tensor | float, b: int, device: torch.device) -> Tensor:
        sigmas = torch.as_tensor(sigmas, device=device, dtype=torch.float32)
        if sigmas.ndim == 0 or sigmas.shape == (1,):
            return sigmas.reshape(1).expand(b)
        if sigmas.shape != (b,):
            raise UNetInputError(
                f"U-Net sigmas have shape {tuple(sigmas.shape)}; expected [{b}] or a single value"
            )
        return sigmas

    def _prepare_embedding(self, embedding: Tensor | None, b: int) -> Tensor | None:
        s = self.shape
        if embedding is None:
            null = self.null_embedding
            if null is None:
                if self.needs_embedding:
                    raise UNetInputError(
                        "this U-Net cross-attends (cross_attentions > 0) without CFG, so it needs "
                        "an embedding [batch, length, embedding_features]"
                    )
                return None
            return null.weight.unsqueeze(0).expand(b, -1, -1)
        if (
            embedding.ndim != 3
            or embedding.shape[0] != b
            or embedding.shape[2] != s.embedding_features
        ):
            raise UNetInputError(
                f"U-Net embedding has shape {tuple(embedding.shape)}; expected "
                f"[{b}, length, {s.embedding_features}]"
            )
        if not 1 <= embedding.shape[1] <= s.embedding_max_length:
            raise UNetInputError(
                f"U-Net embedding length {embedding.shape[1]} must be in "
                f"[1, {s.embedding_max_length}] (embedding_max_length)"
            )
        return embedding


def _mask_embedding(
    embedding: Tensor, null: Tensor, proba: float, generator: torch.Generator | None
) -> Tensor:
    """Replace each batch item's context by the null context with probability `proba`."""
    b = embedding.shape[0]
    device = generator.device if generator is not None else embedding.device
    drop = torch.rand(b, generator=generator, device=device).to(embedding.device) < proba
    return torch.where(drop.view(b, 1, 1), null, embedding)


def _item_list(shape: UNetShape, i: int) -> list[nn.Module]:
    """One side (down or up) of level i: resnet k gets dilation factor**k, k = 0, 1, 2, ..."""
    c = shape.channels[i]
    items: list[nn.Module] = []
    for k in range(shape.items[i]):
        dilation = shape.resnet_dilation_factor**k
        items.append(ResnetItem(c, dilation, shape.resnet_dropout_rate))
        items.append(ModulationItem(c, shape.modulation_features))
        for _ in range(shape.attentions[i]):
            items.append(AttentionItem(c, shape.attention_features, shape.attention_heads))
        for _ in range(shape.cross_attentions[i]):
            items.append(
                AttentionItem(
                    c, shape.attention_features, shape.attention_heads, shape.embedding_features
                )
            )
    return items


def _build_level(shape: UNetShape, i: int, in_channels: int) -> Level:
    c, f = shape.channels[i], shape.factors[i]
    items: list[nn.Module] = [DownsampleItem(in_channels, c, f), *_item_list(shape, i)]
    if i + 1 < shape.num_layers:
        items.append(_build_level(shape, i + 1, c))
    items += [*_item_list(shape, i), UpsampleItem(c, in_channels, f)]
    return Level(items, in_channels, shape.modulation_features)
