"""The one request type: every front end (CLI, OSC, MIDI, hot folder) builds a GenerationRequest.

Validation happens once, in :meth:`GenerationRequest.validate`, with errors that name the
field and the allowed range, so each front end can relay them over its own channel.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jbdiff.errors import ConfigError

NOISE_STYLES: tuple[str, ...] = ("random", "constant", "region", "walk")
QUALITIES: tuple[str, ...] = ("standard", "draft")
MAX_SECONDS = 600.0
MAX_SEED = 2**63 - 1


def parse_levels(value: str | int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """``"012"``, ``"2,1"``, ``12`` or ``[2, 1]`` -> levels sorted from 2 down, no repeats."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        chars = [c for c in value.replace(",", "").replace(" ", "")]
        if not chars:
            raise ConfigError("levels: empty (allowed: any of 0, 1, 2, e.g. '012')")
        try:
            items = [int(c) for c in chars]
        except ValueError:
            raise ConfigError(f"levels: {value!r} is not a list of levels (allowed: digits 0, 1, 2)") from None
    else:
        items = list(value)
    for lvl in items:
        if isinstance(lvl, bool) or not isinstance(lvl, int) or lvl not in (0, 1, 2):
            raise ConfigError(f"levels: {lvl!r} is not a level (allowed: 0, 1, 2)")
    if not items:
        raise ConfigError("levels: empty (allowed: any of 0, 1, 2)")
    return tuple(sorted(set(items), reverse=True))


def new_seed() -> int:
    """A fresh seed from the OS, reported with the result so any generation can be repeated."""
    return secrets.randbelow(100_000_000)


@dataclass
class GenerationRequest:
    """Everything one generation needs besides the models; JSON-friendly for the job journal."""

    seconds_length: float | None = 12.0
    init_audio: str | None = None
    init_strength: float = 0.0
    context_audio: str | None = None
    levels: tuple[int, ...] = (2, 1, 0)
    noise_seed: int | None = None
    noise_style: str = "random"
    noise_step_size: float = 0.6
    dd_noise_seed: int | None = None
    dd_noise_style: str = "random"
    dd_noise_step_size: float = 0.4
    token_multiplier: int = 2
    use_dd: bool = True
    update_lowest_context: bool = False
    project_name: str = "JBDiffusion"
    # Per-level overrides of the sampling config (keys 0, 1, 2 and "dd").
    num_steps: dict[Any, int] = field(default_factory=dict)
    embedding_strength: dict[int, float] = field(default_factory=dict)
    quality: str = "standard"

    def validate(self) -> GenerationRequest:
        """Check every field; returns self so callers can chain. Raises ConfigError."""
        self.levels = parse_levels(self.levels)
        if self.init_audio is None:
            if self.seconds_length is None:
                raise ConfigError("seconds_length: required when no init audio is given")
            _number("seconds_length", self.seconds_length, 0.0, MAX_SECONDS, open_low=True)
        elif self.seconds_length is not None:
            _number("seconds_length", self.seconds_length, 0.0, MAX_SECONDS, open_low=True)
        _number("init_strength", self.init_strength, 0.0, 1.0)
        _number("noise_step_size", self.noise_step_size, 0.0, 1.0)
        _number("dd_noise_step_size", self.dd_noise_step_size, 0.0, 1.0)
        _choice("noise_style", self.noise_style, NOISE_STYLES)
        _choice("dd_noise_style", self.dd_noise_style, NOISE_STYLES)
        _choice("quality", self.quality, QUALITIES)
        _integer("token_multiplier", self.token_multiplier, 1, 64)
        for name in ("noise_seed", "dd_noise_seed"):
            value = getattr(self, name)
            if value is not None:
                _integer(name, value, 0, MAX_SEED)
        for name in ("use_dd", "update_lowest_context"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        for name in ("init_audio", "context_audio"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str | Path) or not str(value)):
                raise ConfigError(f"{name}: expected a file path, got {value!r}")
        if not isinstance(self.project_name, str) or not self.project_name or "/" in self.project_name \
                or "\\" in self.project_name or self.project_name.startswith("."):
            raise ConfigError(f"project_name: {self.project_name!r} must be a plain file name (no '/', no leading '.')")
        steps = {}
        for key, value in dict(self.num_steps).items():
            k = _level_or_dd(key, "num_steps")
            steps[k] = _integer(f"num_steps.{k}", value, 1, 10000)
        self.num_steps = steps
        strengths = {}
        for key, value in dict(self.embedding_strength).items():
            k = _level_or_dd(key, "embedding_strength", allow_dd=False)
            strengths[k] = float(_number(f"embedding_strength.{k}", value, 0.0, 50.0))
        self.embedding_strength = strengths
        return self

    def with_seeds(self) -> GenerationRequest:
        """Fill in missing seeds so the result can be reproduced exactly."""
        return dataclasses.replace(
            self,
            noise_seed=self.noise_seed if self.noise_seed is not None else new_seed(),
            dd_noise_seed=self.dd_noise_seed if self.dd_noise_seed is not None else new_seed(),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (levels as a list, override keys as strings)."""
        d = dataclasses.asdict(self)
        d["levels"] = list(self.levels)
        d["num_steps"] = {str(k): v for k, v in self.num_steps.items()}
        d["embedding_strength"] = {str(k): v for k, v in self.embedding_strength.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown request field (allowed: {', '.join(sorted(names))})")
        req = cls(**data)
        return req.validate()


def _level_or_dd(key: Any, name: str, allow_dd: bool = True) -> int | str:
    if allow_dd and key == "dd":
        return "dd"
    try:
        lvl = int(key)
    except (TypeError, ValueError):
        lvl = -1
    if lvl not in (0, 1, 2):
        raise ConfigError(f"{name}.{key}: unknown level (allowed: 0, 1, 2{', dd' if allow_dd else ''})")
    return lvl


def _number(name: str, value: Any, lo: float, hi: float, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    bad = value <= lo if open_low else value < lo
    if bad or value > hi or value != value:
        low = f"> {lo}" if open_low else f"{lo} .."
        raise ConfigError(f"{name}: {value!r} is out of range (allowed: {low} {hi})")
    return value


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if value < lo or value > hi:
        raise ConfigError(f"{name}: {value} is out of range (allowed: {lo} .. {hi})")
    return value


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name}: {value!r} is not allowed (allowed: {', '.join(allowed)})")
    return value
