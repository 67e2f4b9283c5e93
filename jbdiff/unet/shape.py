"""The level U-Net's shape: the seed's YAML keys as one validated dataclass."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from jbdiff.errors import ConfigError

#: GroupNorm groups in every resnet conv block (the fork's UNetV0 default, which the seed keeps).
RESNET_GROUPS = 8

_LEVEL_FIELDS = ("channels", "factors", "items", "attentions", "cross_attentions")


@dataclass(frozen=True)
class UNetShape:
    """Arguments of the fork's UNetV0 as the seed's jbdiff-v1.yaml spells them (level-2 defaults).

    `modulation_features` is not in the seed's YAML (the seed runs the fork's default, 1024); it
    is a field so tiny test shapes can shrink the time-conditioning width too.
    """

    in_channels: int = 64
    channels: tuple[int, ...] = (64, 128, 128, 256, 256, 512, 512, 1024, 1024)
    factors: tuple[int, ...] = (1, 2, 1, 2, 1, 2, 1, 2, 1)
    items: tuple[int, ...] = (1, 3, 3, 3, 3, 3, 3, 3, 1)
    attentions: tuple[int, ...] = (0, 0, 0, 0, 1, 0, 1, 0, 0)
    cross_attentions: tuple[int, ...] = (0, 1, 0, 1, 0, 1, 0, 1, 1)
    attention_heads: int = 8
    attention_features: int = 64
    embedding_features: int = 64
    embedding_max_length: int = 1536
    use_embedding_cfg: bool = True
    resnet_dilation_factor: int = 3
    resnet_dropout_rate: float = 0.05
    modulation_features: int = field(default=1024)

    def __post_init__(self) -> None:
        # YAML gives lists; keep the dataclass hashable and immutable.
        for name in _LEVEL_FIELDS:
            value = getattr(self, name)
            if isinstance(value, Sequence) and not isinstance(value, str | bytes):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UNetShape:
        """Build from a config mapping, naming any key that is not a U-Net argument."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown U-Net argument(s) {unknown}; allowed: {sorted(known)}")
        return cls(**values)

    @property
    def num_layers(self) -> int:
        return len(self.channels)

    @property
    def downsample_factor(self) -> int:
        """Input length must be a multiple of this (product of the per-level factors)."""
        return math.prod(self.factors)

    def validate(self) -> UNetShape:
        """Raise ConfigError naming the first bad field and its allowed range; return self."""
        _check_int("in_channels", self.in_channels, 1)
        for name in _LEVEL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) == 0:
                raise ConfigError(f"U-Net field {name!r} must be a non-empty list of integers")
        n = len(self.channels)
        for name in _LEVEL_FIELDS[1:]:
            if len(getattr(self, name)) != n:
                raise ConfigError(
                    f"U-Net field {name!r} has {len(getattr(self, name))} entries; "
                    f"it needs one per level ({n}, the length of 'channels')"
                )
        for i, c in enumerate(self.channels):
            _check_int(f"channels[{i}]", c, 1)
            if c % RESNET_GROUPS:
                raise ConfigError(
                    f"U-Net field 'channels[{i}]' = {c} must be a multiple of "
                    f"{RESNET_GROUPS} (resnet GroupNorm groups)"
                )
        for name, low in (("factors", 1), ("items", 0), ("attentions", 0), ("cross_attentions", 0)):
            for i, v in enumerate(getattr(self, name)):
                _check_int(f"{name}[{i}]", v, low)
        _check_int("attention_heads", self.attention_heads, 1)
        _check_int("attention_features", self.attention_features, 1)
        _check_int("embedding_features", self.embedding_features, 1)
        _check_int("embedding_max_length", self.embedding_max_length, 1)
        _check_int("resnet_dilation_factor", self.resnet_dilation_factor, 1)
        _check_int("modulation_features", self.modulation_features, 1)
        if not isinstance(self.use_embedding_cfg, bool):
            raise ConfigError("U-Net field 'use_embedding_cfg' must be true or false")
        rate = self.resnet_dropout_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
            raise ConfigError(
                f"U-Net field 'resnet_dropout_rate' = {rate!r} must be a number in [0, 1)"
            )
        return self


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"U-Net field {name!r} = {value!r} must be an integer >= {low}")


#: Same structure as the level model (down/up factors, dilation 1-3-9, self and cross attention,
#: classifier-free guidance), small enough for a CPU forward in milliseconds.
TINY_UNET = UNetShape(
    in_channels=4,
    channels=(8, 16, 16, 32),
    factors=(1, 2, 1, 2),
    items=(1, 3, 2, 1),
    attentions=(0, 0, 1, 0),
    cross_attentions=(0, 1, 0, 1),
    attention_heads=2,
    attention_features=8,
    embedding_features=8,
    embedding_max_length=16,
    use_embedding_cfg=True,
    resnet_dilation_factor=3,
    resnet_dropout_rate=0.0,
    modulation_features=16,
)
