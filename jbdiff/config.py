"""Typed configs for models and sampling; the one place where defaults and allowed ranges live.

The seed's YAML files (``jbdiff-v1.yaml``, ``jbdiff-sample-v1.yaml``) load unchanged.
Every value is checked once, here, and a bad one raises :class:`ConfigError` naming its YAML
path and the allowed range.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jbdiff.errors import ConfigError


def _config_dir() -> Path:
    """Bundled YAML: inside the wheel (``jbdiff/configs``) or the checkout's ``configs/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parent / "configs"):
        if candidate.is_dir():
            return candidate
    return here.parent / "configs"


CONFIG_DIR = _config_dir()

COMPILE_MODES = ("off", "default", "max-autotune")
"""Values of PipelineOptions.compile / JBDIFF_COMPILE / --compile: no compiler, inductor, inductor
with autotuned kernels (here, not in jbdiff.accel, so the CLI parses without importing torch)."""
LEVELS: tuple[int, ...] = (2, 1, 0)
SAMPLERS = ("ddim", "dpmpp-2m")
HOP_LENGTHS: dict[int, int] = {0: 8, 1: 32, 2: 128}


def rng(lo: float | None, hi: float | None) -> dict[str, Any]:
    """Field metadata for an inclusive numeric range (None = unbounded)."""
    return {"range": (lo, hi)}


def choice(*values: Any) -> dict[str, Any]:
    """Field metadata for a closed set of values."""
    return {"choices": values}


# ----------------------------------------------------------------------------- model


@dataclass
class VQVAESection:
    """``model.vqvae``: data/window settings of the seed plus which VQ-VAE shape to build."""

    batch_size: int = field(default=32, metadata=rng(1, 4096))
    aug_shift: bool = True
    base_tokens: int = field(default=768, metadata=rng(1, 1 << 16))
    context_mult: int = field(default=2, metadata=rng(1, 64))
    preset: str = field(default="jukebox", metadata=choice("jukebox", "tiny", "custom"))
    # Only for preset "custom": overrides of the VQ-VAE shape fields (validated by the model).
    shape: dict[str, Any] = field(default_factory=dict)


@dataclass
class LevelModelConfig:
    """``model.diffusion.<level>``: the seed's UNetV0 arguments for one level."""

    net_t: str = field(default="audio_diffusion_pytorch.UNetV0", metadata=choice("audio_diffusion_pytorch.UNetV0"))
    diffusion_t: str = field(
        default="audio_diffusion_pytorch.VDiffusion", metadata=choice("audio_diffusion_pytorch.VDiffusion")
    )
    sampler_t: str = field(
        default="audio_diffusion_pytorch.VSampler", metadata=choice("audio_diffusion_pytorch.VSampler")
    )
    in_channels: int = field(default=64, metadata=rng(1, 4096))
    channels: list[int] = field(default_factory=lambda: [64, 128, 128, 256, 256, 512, 512, 1024, 1024])
    factors: list[int] = field(default_factory=lambda: [1, 2, 1, 2, 1, 2, 1, 2, 1])
    items: list[int] = field(default_factory=lambda: [1, 3, 3, 3, 3, 3, 3, 3, 1])
    attentions: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 1, 0, 1, 0, 0])
    cross_attentions: list[int] = field(default_factory=lambda: [0, 1, 0, 1, 0, 1, 0, 1, 1])
    attention_heads: int = field(default=8, metadata=rng(1, 256))
    attention_features: int = field(default=64, metadata=rng(1, 4096))
    embedding_features: int = field(default=64, metadata=rng(1, 4096))
    use_embedding_cfg: bool = True
    # None means context_mult * base_tokens, as the seed computes it.
    embedding_max_length: int | None = field(default=None, metadata=rng(1, 1 << 20))
    resnet_dilation_factor: int = field(default=3, metadata=rng(1, 16))
    resnet_dropout_rate: float = field(default=0.0, metadata=rng(0.0, 0.99))
    # Not in the seed's YAML (its UNetV0 default); small models shrink it.
    modulation_features: int = field(default=1024, metadata=rng(1, 1 << 16))

    def validate(self, path: str) -> None:
        """The network's own shape rules (jbdiff.unet.UNetShape), reported with the YAML path."""
        from jbdiff.unet.shape import UNetShape

        fields = {f.name for f in dataclasses.fields(UNetShape)}
        values = {k: v for k, v in dataclasses.asdict(self).items() if k in fields and v is not None}
        try:
            UNetShape(**values).validate()
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


@dataclass
class DanceModelConfig:
    """``model.dd``: shape of the Dance Diffusion stereo U-Net (defaults: the published one)."""

    io_channels: int = field(default=2, metadata=rng(1, 8))
    depth: int = field(default=14, metadata=rng(2, 24))
    n_attn_layers: int = field(default=4, metadata=rng(0, 24))
    c_mults: list[int] = field(default_factory=lambda: [128, 128, 256, 256] + [512] * 10)

    def validate(self, path: str) -> None:
        """The channel list must cover every depth level."""
        if len(self.c_mults) < self.depth:
            raise ConfigError(f"{path}.c_mults: needs at least depth={self.depth} entries (has {len(self.c_mults)})")


@dataclass
class ModelConfig:
    """``model``: the whole hierarchical model's shape."""

    vqvae: VQVAESection = field(default_factory=VQVAESection)
    diffusion: dict[int, LevelModelConfig] = field(
        default_factory=lambda: {lvl: LevelModelConfig() for lvl in LEVELS}
    )
    dd: DanceModelConfig = field(default_factory=DanceModelConfig)

    def validate(self, path: str) -> None:
        """Levels are 0, 1, 2 only."""
        for lvl in self.diffusion:
            if lvl not in LEVELS:
                raise ConfigError(f"{path}.diffusion.{lvl}: unknown level (allowed: 0, 1, 2)")

    def embedding_max_length(self, level: int) -> int:
        """The cross-attention context length: explicit, or context_mult * base_tokens."""
        explicit = self.diffusion[level].embedding_max_length
        return explicit if explicit is not None else self.vqvae.context_mult * self.vqvae.base_tokens


# -------------------------------------------------------------------------- sampling


@dataclass
class LevelSamplingConfig:
    """``sampling.diffusion.<level>``: steps, guidance, init strength and sampler for one level."""

    num_steps: int = field(default=50, metadata=rng(1, 10000))
    embedding_strength: float = field(default=1.0, metadata=rng(0.0, 50.0))
    init_strength: float = field(default=0.0, metadata=rng(0.0, 1.0))
    ckpt_loc: str | None = None
    # Not in the seed's YAML: "ddim" is its VSampler; "dpmpp-2m" (DPM-Solver++(2M)) is second order
    # at the same cost per step. The draft preset uses dpmpp-2m at every level.
    sampler: str = field(default="ddim", metadata=choice(*SAMPLERS))


@dataclass
class DanceSamplingConfig:
    """``sampling.diffusion.dd``: the stereo stage's steps, strength and crossfade."""

    num_steps: int = field(default=150, metadata=rng(1, 10000))
    init_strength: float = field(default=0.23, metadata=rng(0.0, 1.0))
    ckpt_loc: str | None = None
    xfade_samples: int = field(default=1536, metadata=rng(0, 1 << 20))
    xfade_style: str = field(default="constant-power", metadata=choice("linear", "constant-power"))
    # Not in the seed's YAML: "ddim" is its v-DDIM; "dpmpp-2m" walks the same grid second order.
    sampler: str = field(default="ddim", metadata=choice(*SAMPLERS))


@dataclass
class SamplingConfig:
    """``sampling``: per-level sampling settings (keys 0, 1, 2 and dd, as in the seed)."""

    diffusion: dict[int | str, Any] = field(default_factory=dict)
    vqvae_ckpt_loc: str | None = None

    def level(self, level: int) -> LevelSamplingConfig:
        """Settings for one level; a level absent from the YAML cannot be sampled."""
        try:
            return self.diffusion[level]
        except KeyError:
            raise ConfigError(f"sampling.diffusion.{level}: missing (this level is not configured)") from None

    @property
    def dd(self) -> DanceSamplingConfig:
        """Settings of the Dance Diffusion stage (defaults when the YAML has none)."""
        return self.diffusion.get("dd") or DanceSamplingConfig()


@dataclass
class JbdiffConfig:
    """A whole YAML file: ``model`` and, for sampling files, ``sampling``."""

    model: ModelConfig
    sampling: SamplingConfig | None
    source: str = "<dict>"


# ----------------------------------------------------------------------- the loader


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, path: str, meta: Mapping[str, Any]) -> Any:
    """Turn a YAML value into ``tp``, or raise naming the path; no silent casts between kinds."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(value, non_none[0], path, meta)
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return build(tp, value, path)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list of {_type_name(item_tp)}, got {value!r}")
        return [_coerce(v, item_tp, f"{path}[{i}]", {}) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        value = int(value)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
    _check_meta(value, path, meta)
    return value


def _check_meta(value: Any, path: str, meta: Mapping[str, Any]) -> None:
    if "range" in meta and value is not None:
        lo, hi = meta["range"]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            lo_s = "-inf" if lo is None else lo
            hi_s = "inf" if hi is None else hi
            raise ConfigError(f"{path}: {value!r} is out of range (allowed: {lo_s} .. {hi_s})")
    if "choices" in meta and value is not None and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ConfigError(f"{path}: {value!r} is not allowed (allowed: {allowed})")


def build(cls: type, data: Mapping[str, Any], path: str) -> Any:
    """Build dataclass ``cls`` from a mapping: unknown keys rejected, each value checked."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            allowed = ", ".join(fields)
            raise ConfigError(f"{path}.{key}: unknown key (allowed: {allowed})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{path}.{name}", f.metadata)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(path)
    return obj


def _level_key(key: Any, path: str, allow_dd: bool) -> int | str:
    if allow_dd and key == "dd":
        return "dd"
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, int) and not isinstance(key, bool) and key in LEVELS:
        return key
    allowed = "0, 1, 2" + (", dd" if allow_dd else "")
    raise ConfigError(f"{path}.{key}: unknown level (allowed: {allowed})")


def _parse_levels(raw: Mapping[Any, Any], path: str, *, allow_dd: bool) -> dict[Any, Any]:
    """Per-level sections: model levels (LevelModelConfig) or sampling levels and dd."""
    out: dict[Any, Any] = {}
    for key, value in raw.items():
        lvl = _level_key(key, path, allow_dd=allow_dd)
        if not allow_dd:
            cls: type = LevelModelConfig
        else:
            cls = DanceSamplingConfig if lvl == "dd" else LevelSamplingConfig
        out[lvl] = _coerce(value or {}, cls, f"{path}.{lvl}", {})
    return out


def parse_model(data: Mapping[str, Any], path: str = "model") -> ModelConfig:
    """Validate a ``model`` mapping (the seed's layout, plus our optional keys)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping")
    data = dict(data)
    diffusion_raw = data.pop("diffusion", None)
    cfg = build(ModelConfig, data, path)
    if diffusion_raw is not None:
        if not isinstance(diffusion_raw, Mapping) or not diffusion_raw:
            raise ConfigError(f"{path}.diffusion: expected a mapping of levels (0, 1, 2)")
        cfg.diffusion = _parse_levels(diffusion_raw, f"{path}.diffusion", allow_dd=False)
    return cfg


def parse_sampling(data: Mapping[str, Any], path: str = "sampling") -> SamplingConfig:
    """Validate a ``sampling`` mapping: ``diffusion`` with keys 0, 1, 2 and dd."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping")
    data = dict(data)
    diffusion_raw = data.pop("diffusion", {}) or {}
    cfg = build(SamplingConfig, data, path)
    if not isinstance(diffusion_raw, Mapping):
        raise ConfigError(f"{path}.diffusion: expected a mapping of levels (0, 1, 2, dd)")
    cfg.diffusion = _parse_levels(diffusion_raw, f"{path}.diffusion", allow_dd=True)
    return cfg


def parse_config(data: Mapping[str, Any], source: str = "<dict>") -> JbdiffConfig:
    """Validate a whole file's mapping (top-level keys ``model`` and optional ``sampling``)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level")
    for key in data:
        if key not in ("model", "sampling"):
            raise ConfigError(f"{source}: {key}: unknown top-level key (allowed: model, sampling)")
    model = parse_model(data.get("model") or {}, "model")
    sampling = parse_sampling(data["sampling"], "sampling") if "sampling" in data else None
    return JbdiffConfig(model=model, sampling=sampling, source=source)


def read_yaml(path: str | Path) -> Any:
    """Read YAML with an error that names the file (and line, where YAML gives one)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from exc


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path, or the name of a bundled config (``jbdiff-v1``, ``tiny``, ...)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    for candidate in (CONFIG_DIR / f"{name_or_path}.yaml", CONFIG_DIR / str(name_or_path)):
        if candidate.exists():
            return candidate
    bundled = ", ".join(sorted(c.stem for c in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"{name_or_path}: no such config file or bundled config (bundled: {bundled})")


def merged(base: Any, over: Any) -> Any:
    """``over`` laid on ``base``: mappings merge key by key (recursively), anything else replaces."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = merged(base[key], value) if key in base else value
        return out
    return over


def read_config_data(path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """A config file's mapping with its ``extends:`` base (a bundled name or a path, relative to
    the file) merged under it, so a variant names only what it changes."""
    data = read_yaml(path)
    if not isinstance(data, Mapping) or "extends" not in data:
        return data
    data = dict(data)
    base_name = data.pop("extends")
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{path}: extends: must name a config (a bundled name or a path), got {base_name!r}")
    local = path.parent / base_name
    base_path = (local if local.is_file() else resolve_config_path(base_name)).resolve()
    seen = (*seen, path.resolve())
    if base_path in seen:
        chain = " -> ".join(str(p) for p in (*seen, base_path))
        raise ConfigError(f"{path}: extends: a config cannot extend itself ({chain})")
    return merged(read_config_data(base_path, seen), data)


def load_config(source: str | Path | Mapping[str, Any]) -> JbdiffConfig:
    """Load a config file (or bundled name, or an already-parsed mapping); see read_config_data
    for ``extends:``."""
    if isinstance(source, Mapping):
        return parse_config(source)
    path = resolve_config_path(source)
    data = read_config_data(path)
    try:
        return parse_config(data, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_model_config(source: str | Path | Mapping[str, Any]) -> ModelConfig:
    """Only the ``model`` part of a file (works for both seed files)."""
    return load_config(source).model


def load_sampling_config(source: str | Path | Mapping[str, Any]) -> SamplingConfig:
    """Only the ``sampling`` part; a file without one is an error naming the file."""
    cfg = load_config(source)
    if cfg.sampling is None:
        raise ConfigError(f"{cfg.source}: has no 'sampling' section (is this a model-only config?)")
    return cfg.sampling


def to_dict(obj: Any) -> Any:
    """Plain-data view of a config (for generation.json and checkpoints)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj
