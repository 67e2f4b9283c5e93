"""Build and load the networks of one hierarchical model: VQ-VAE, level U-Nets, Dance Diffusion.

Factories turn config sections into modules; ``load_models`` fills them from checkpoints;
``LoadedModels`` is what the pipeline holds, with the latent (de)normalisation in one place.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from jbdiff.config import (
    DanceModelConfig,
    LevelModelConfig,
    ModelConfig,
    SamplingConfig,
    VQVAESection,
    load_config,
)
from jbdiff.errors import CheckpointError, ConfigError

logger = logging.getLogger(__name__)

# Longest audio (in samples) pushed through the VQ-VAE in one piece; longer goes through its
# seamless windowed path so memory does not grow with the request length.
VQ_WINDOW_SAMPLES = 44100 * 20


def build_vqvae(section: VQVAESection) -> nn.Module:
    """The VQ-VAE named by ``model.vqvae.preset`` (with ``shape`` overrides for ``custom``)."""
    from jbdiff.vqvae.model import VQVAE
    from jbdiff.vqvae.shapes import PRESETS

    if section.preset == "custom":
        base = PRESETS["jukebox"]
        try:
            shape = dataclasses.replace(base, **section.shape)
        except TypeError as exc:
            raise ConfigError(f"model.vqvae.shape: {exc}") from None
    else:
        if section.shape:
            raise ConfigError("model.vqvae.shape: only allowed with preset: custom")
        shape = PRESETS[section.preset]
    shape.validate()
    return VQVAE(shape)


def build_unet(cfg: LevelModelConfig, embedding_max_length: int) -> nn.Module:
    """One level's U-Net from the seed's YAML fields."""
    from jbdiff.unet import LevelUNet, UNetShape

    fields = {f.name for f in dataclasses.fields(UNetShape)}
    kwargs = {k: v for k, v in dataclasses.asdict(cfg).items() if k in fields}
    kwargs["embedding_max_length"] = embedding_max_length
    shape = UNetShape(**kwargs)
    shape.validate()
    return LevelUNet.from_shape(shape)


def build_dance(cfg: DanceModelConfig) -> nn.Module:
    """The Dance Diffusion stereo U-Net."""
    from jbdiff.dance.model import DanceShape, DanceUNet

    shape = DanceShape(**dataclasses.asdict(cfg))
    shape.validate()
    return DanceUNet.from_shape(shape)


@dataclass
class LoadedModels:
    """The networks of one model plus the configs they were built from."""

    vqvae: nn.Module
    unets: dict[int, nn.Module]
    dance: nn.Module | None
    model_cfg: ModelConfig
    sampling_cfg: SamplingConfig
    name: str = "custom"
    hashes: dict[str, str] = field(default_factory=dict)

    def to(self, device: torch.device) -> LoadedModels:
        """Move every network to ``device`` in inference mode."""
        for module in self.modules():
            module.to(device).eval().requires_grad_(False)
        return self

    def modules(self) -> list[nn.Module]:
        return [self.vqvae, *self.unets.values(), *([self.dance] if self.dance is not None else [])]

    @property
    def hops(self) -> dict[int, int]:
        return {lvl: int(h) for lvl, h in enumerate(self.vqvae.hop_lengths)}

    @property
    def latent_channels(self) -> int:
        return int(self.vqvae.emb_width)

    def encode(self, level: int, audio: torch.Tensor) -> torch.Tensor:
        """Mono audio [B, T] -> codebook-normalised quantised latents [B, C, T/hop]."""
        x = audio.float()
        if x.shape[-1] > VQ_WINDOW_SAMPLES:
            latents = self.vqvae.encode_windowed(level, x)
            _, quantised = self.vqvae.quantise(level, latents)
            return self.vqvae.normalise(level, quantised)
        _, normed = self.vqvae.encode_normalised(level, x)
        return normed

    def decode(self, level: int, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, C, T] (or [C, T]) -> mono audio [B, T*hop] (or [T*hop])."""
        squeeze = latents.dim() == 2
        x = latents[None] if squeeze else latents
        x = x.float()
        if x.shape[-1] * self.hops[level] > VQ_WINDOW_SAMPLES:
            _, quantised = self.vqvae.quantise(level, self.vqvae.denormalise(level, x))
            audio = self.vqvae.decode_windowed(level, quantised)
        else:
            audio = self.vqvae.decode_normalised(level, x, quantise=True)
        audio = audio[:, 0]
        return audio[0] if squeeze else audio


def tiny_models(seed: int = 0) -> LoadedModels:
    """configs/tiny.yaml with seeded random weights (the same weights on every machine)."""
    cfg = load_config("tiny")
    if cfg.sampling is None:
        raise ConfigError("configs/tiny.yaml: has no sampling section")
    return random_models(cfg.model, cfg.sampling, seed=seed, he_init=True, name="tiny")


def random_models(model_cfg: ModelConfig, sampling_cfg: SamplingConfig, *, seed: int = 0, he_init: bool = False,
                  name: str = "random") -> LoadedModels:
    """Every network of a config with seeded random weights (tests, benchmarks, plumbing).

    ``he_init`` redraws the weights so untrained nets respond to their inputs (see ``he_normal_``);
    benchmarks of full-size shapes keep the modules' own init, which only affects values, not speed.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vqvae = build_vqvae(model_cfg.vqvae)
        if he_init:
            he_normal_(vqvae, torch.Generator().manual_seed(seed + 2))
        init_codebooks(vqvae, torch.Generator().manual_seed(seed), calibrate=he_init)
        unets = {lvl: build_unet(c, model_cfg.embedding_max_length(lvl)) for lvl, c in model_cfg.diffusion.items()}
        dance = build_dance(model_cfg.dd)
        if he_init:
            gen = torch.Generator().manual_seed(seed + 1)
            for net in (*unets.values(), dance):
                he_normal_(net, gen)
    return LoadedModels(vqvae, unets, dance, model_cfg, sampling_cfg, name=name, hashes={name: f"seed={seed}"})


def he_normal_(net: nn.Module, generator: torch.Generator) -> None:
    """Redraw every weight matrix He-normal so untrained nets give varied outputs.

    With the modules' default init the untrained v-prediction is almost exactly its input, so the
    predicted clean latents are ~0 and every generation decodes to one code; random weights that
    depend on noise and context let the tiny model exercise (and test) every path.
    """
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=generator) * (2.0 / fan_in) ** 0.5)


def init_codebooks(vqvae: nn.Module, generator: torch.Generator, calibrate: bool = False) -> None:
    """Fill each codebook with encoder outputs of random audio, as Jukebox seeds it from data.

    A codebook unrelated to the encoder's output scale maps every frame to one code, which would
    make context and init audio invisible to an untrained model.
    """
    levels = len(vqvae.hop_lengths)
    audio = torch.randn(1, 44100, generator=generator) * 0.3
    with torch.no_grad():
        latents = vqvae.encode(audio[:, None, :] if audio.dim() == 2 else audio)
        for level in range(levels):
            frames = latents[level][0].transpose(0, 1)  # [T, C]
            k = vqvae.bottleneck.level_blocks[level].k
            pick = torch.randint(0, frames.shape[0], (k.shape[0],), generator=generator)
            k.copy_(frames[pick] + 1e-3 * torch.randn(k.shape, generator=generator))
        # He-normal decoders amplify; scale each output layer so decoded audio sits near 0.1 rms.
        for level in range(levels if calibrate else 0):
            codes = torch.randint(0, vqvae.bottleneck.level_blocks[level].k.shape[0], (1, 64), generator=generator)
            rms = float(vqvae.decode(level, vqvae.codes_to_latents(level, codes)).std())
            out = vqvae.decoders[level].out
            out.weight.mul_(0.1 / max(rms, 1e-8))
            out.bias.mul_(0.1 / max(rms, 1e-8))


def checkpoint_identity(path: Path) -> str:
    """``<file name> sha256:<digest>`` for generation.json (hashed once, then cached beside the file)."""
    from jbdiff.store.verify import file_sha256

    return f"{path.name} sha256:{file_sha256(Path(path))}"


def load_models(model_cfg: ModelConfig, sampling_cfg: SamplingConfig, *, base_dir: str | None = None,
                name: str = "custom") -> LoadedModels:
    """Build every configured network and fill it from the checkpoints the sampling config names."""
    from jbdiff.dance.checkpoint import load_dance_weights
    from jbdiff.level_checkpoint import load_level_unet, split_level_checkpoint
    from jbdiff.store.resolve import resolve_checkpoint
    from jbdiff.vqvae.checkpoint import load_vqvae_weights

    vqvae = build_vqvae(model_cfg.vqvae)
    unets: dict[int, nn.Module] = {}
    hashes: dict[str, str] = {}
    vq_state = None
    for level in sorted(model_cfg.diffusion, reverse=True):
        if level not in sampling_cfg.diffusion or not sampling_cfg.level(level).ckpt_loc:
            logger.info("level %d: no checkpoint configured; the level is not available", level)
            continue
        path = resolve_checkpoint(sampling_cfg.level(level).ckpt_loc, config_dir=base_dir)
        state = _torch_load(path)
        unet_state, level_vq_state = split_level_checkpoint(state)
        unet = build_unet(model_cfg.diffusion[level], model_cfg.embedding_max_length(level))
        load_level_unet(unet, unet_state)
        unets[level] = unet
        hashes[f"level{level}"] = checkpoint_identity(path)
        if vq_state is None and level_vq_state:
            vq_state = level_vq_state
    if sampling_cfg.vqvae_ckpt_loc:
        path = resolve_checkpoint(sampling_cfg.vqvae_ckpt_loc, config_dir=base_dir)
        load_vqvae_weights(vqvae, path)
        hashes["vqvae"] = checkpoint_identity(path)
    elif vq_state is not None:
        load_vqvae_weights(vqvae, vq_state)
    else:
        raise CheckpointError("no VQ-VAE weights: no level checkpoint holds vqvae.* and sampling.vqvae_ckpt_loc is unset")
    dance = None
    dd = sampling_cfg.diffusion.get("dd")
    if dd is not None and dd.ckpt_loc:
        path = resolve_checkpoint(dd.ckpt_loc, config_dir=base_dir)
        dance = build_dance(model_cfg.dd)
        load_dance_weights(dance, path)
        hashes["dd"] = checkpoint_identity(path)
    if not unets:
        raise CheckpointError("no level checkpoint configured (sampling.diffusion.<level>.ckpt_loc)")
    return LoadedModels(vqvae, unets, dance, model_cfg, sampling_cfg, name=name, hashes=hashes)


def _torch_load(path: Path) -> Mapping:
    """Load a checkpoint on the CPU through the one safe reader."""
    from jbdiff.checkpoint_io import read_checkpoint

    return read_checkpoint(path)
