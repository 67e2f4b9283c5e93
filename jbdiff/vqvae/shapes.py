"""VQ-VAE hyper-parameters, named as in Jukebox's hparams so configs map 1:1."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from jbdiff.errors import ConfigError

LOSS_FNS = ("l1", "l2", "linf", "lmix")


@dataclass(frozen=True)
class VQVAEShape:
    """Architecture and loss settings; defaults are Jukebox's published 5b/1b `vqvae` preset."""

    levels: int = 3
    downs_t: tuple[int, ...] = (3, 2, 2)
    strides_t: tuple[int, ...] = (2, 2, 2)
    emb_width: int = 64
    l_bins: int = 2048
    l_mu: float = 0.99
    commit: float = 0.02
    spectral: float = 0.0
    multispectral: float = 1.0
    multipliers: tuple[int, ...] | None = (2, 1, 1)  # Jukebox: hvqvae_multipliers
    width: int = 32
    depth: int = 4
    m_conv: float = 1.0
    dilation_growth_rate: int = 3
    dilation_cycle: int | None = None
    reverse_decoder_dilation: bool = True  # Jukebox: vqvae_reverse_decoder_dilation
    zero_out: bool = False
    res_scale: bool = False
    # Losses (Jukebox's vqvae preset + audio defaults).
    loss_fn: str = "lmix"
    lmix_l1: float = 0.0
    lmix_l2: float = 1.0
    lmix_linf: float = 0.02
    linf_k: int = 2048
    revival_threshold: float = 1.0
    use_nonrelative_specloss: bool = True
    multispec_loss_n_fft: tuple[int, ...] = (2048, 1024, 512)
    multispec_loss_hop_length: tuple[int, ...] = (240, 120, 50)
    multispec_loss_window_size: tuple[int, ...] = (1200, 600, 240)
    sr: int = 44100
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def level_multipliers(self) -> tuple[int, ...]:
        """Per-level width/depth multipliers (Jukebox uses 1 everywhere when unset)."""
        return tuple(self.multipliers) if self.multipliers is not None else (1,) * self.levels

    @property
    def downsamples(self) -> tuple[int, ...]:
        """Downsampling factor contributed by each level (stride ** down)."""
        return tuple(s**d for s, d in zip(self.strides_t, self.downs_t, strict=True))

    @property
    def hop_lengths(self) -> tuple[int, ...]:
        """Audio samples per latent frame at each level (cumulative product of downsamples)."""
        return tuple(math.prod(self.downsamples[: i + 1]) for i in range(self.levels))

    def replace(self, **changes) -> VQVAEShape:
        """A copy with some fields changed, validated."""
        return replace(self, **changes).validate()

    def validate(self) -> VQVAEShape:
        """Check every field; raise ConfigError naming the first bad one."""
        _positive_int(self, "levels")
        for name in ("downs_t", "strides_t"):
            seq = getattr(self, name)
            if not isinstance(seq, tuple | list) or len(seq) != self.levels:
                raise ConfigError(f"vqvae.{name} must have one entry per level ({self.levels}); got {seq!r}")
            if any(not isinstance(v, int) or v < 1 for v in seq):
                raise ConfigError(f"vqvae.{name} entries must be integers >= 1; got {seq!r}")
        if any(s % 2 for s in self.strides_t):
            raise ConfigError(f"vqvae.strides_t must be even (conv padding is stride//2); got {self.strides_t!r}")
        if self.multipliers is not None:
            m = self.multipliers
            if not isinstance(m, tuple | list) or len(m) != self.levels or any(
                not isinstance(v, int) or v < 1 for v in m
            ):
                raise ConfigError(
                    f"vqvae.multipliers must be None or {self.levels} integers >= 1; got {m!r}"
                )
        for name in ("emb_width", "l_bins", "width", "depth", "dilation_growth_rate", "linf_k", "sr"):
            _positive_int(self, name)
        if self.dilation_cycle is not None:
            _positive_int(self, "dilation_cycle")
        if not (0.0 <= self.l_mu < 1.0):
            raise ConfigError(f"vqvae.l_mu must be in [0, 1); got {self.l_mu!r}")
        if not self.m_conv > 0:
            raise ConfigError(f"vqvae.m_conv must be > 0; got {self.m_conv!r}")
        for name in ("commit", "spectral", "multispectral", "lmix_l1", "lmix_l2", "lmix_linf",
                     "revival_threshold"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or v < 0:
                raise ConfigError(f"vqvae.{name} must be a number >= 0; got {v!r}")
        if self.loss_fn not in LOSS_FNS:
            raise ConfigError(f"vqvae.loss_fn must be one of {LOSS_FNS}; got {self.loss_fn!r}")
        n = len(self.multispec_loss_n_fft)
        for name in ("multispec_loss_n_fft", "multispec_loss_hop_length", "multispec_loss_window_size"):
            seq = getattr(self, name)
            if len(seq) != n or n == 0 or any(not isinstance(v, int) or v < 1 for v in seq):
                raise ConfigError(
                    f"vqvae.{name} must hold {n or 'some'} positive integers, one per STFT resolution; got {seq!r}"
                )
        for n_fft, win in zip(self.multispec_loss_n_fft, self.multispec_loss_window_size, strict=True):
            if win > n_fft:
                raise ConfigError(
                    f"vqvae.multispec_loss_window_size {win} exceeds its n_fft {n_fft}"
                )
        if self.extra:
            raise ConfigError(f"vqvae: unknown fields {sorted(self.extra)}")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> VQVAEShape:
        """Build from a config dict, accepting Jukebox's hparam names too."""
        aliases = {"hvqvae_multipliers": "multipliers",
                   "vqvae_reverse_decoder_dilation": "reverse_decoder_dilation"}
        known = set(cls.__dataclass_fields__) - {"extra"}
        kw, extra = {}, {}
        for key, value in d.items():
            key = aliases.get(key, key)
            if key in known:
                kw[key] = tuple(value) if isinstance(value, list) else value
            else:
                extra[key] = value
        return cls(**kw, extra=extra).validate()


def _positive_int(shape: VQVAEShape, name: str) -> None:
    v = getattr(shape, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"vqvae.{name} must be an integer >= 1; got {v!r}")


PRESETS: dict[str, VQVAEShape] = {
    "jukebox": VQVAEShape(),
    # Same structure and hop lengths (8/32/128), few channels: a CPU forward on 1 s is ~ms.
    "tiny": VQVAEShape(emb_width=16, l_bins=64, width=4, depth=2, linf_k=256),
}
