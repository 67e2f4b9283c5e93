"""Behaviour of the VQ-VAE API on the tiny preset: shapes, mixdown, windows, normalisation."""

from __future__ import annotations

import pytest
import torch

from jbdiff.errors import AudioError, AudioTooShort, ConfigError
from jbdiff.vqvae import PRESETS, VQVAE
from jbdiff.vqvae.windowing import needed_input


def _seeded_tiny(seed: int = 0) -> VQVAE:
    """Tiny model with seeded weights and data-initialised codebooks."""
    torch.manual_seed(seed)  # module construction draws default inits from the global RNG
    model = VQVAE(PRESETS["tiny"]).eval()
    g = torch.Generator().manual_seed(seed)
    audio = 0.3 * torch.randn(2, 1, 4000, generator=g)
    with torch.no_grad():
        for level, block in enumerate(model.bottleneck.level_blocks):
            lat = model.encoders[level](audio)
            block.init_k(lat.permute(0, 2, 1).reshape(-1, lat.shape[1]), generator=g)
    return model


@pytest.fixture(scope="module")
def model() -> VQVAE:
    return _seeded_tiny()


def _audio(b: int, c: int, n: int, seed: int = 1) -> torch.Tensor:
    return 0.3 * torch.randn(b, c, n, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n", [128, 1001, 4097])
@torch.no_grad()
def test_encode_decode_shapes_for_odd_lengths(model, n):
    audio = _audio(2, 2, n)
    latents = model.encode(audio)
    for level, hop in enumerate(model.hop_lengths):
        assert latents[level].shape == (2, model.emb_width, n // hop)
        codes, quantised = model.quantise(level, latents[level])
        assert codes.shape == (2, n // hop) and codes.dtype == torch.long
        assert quantised.shape == latents[level].shape
        assert model.decode(level, quantised).shape == (2, 1, (n // hop) * hop)


@torch.no_grad()
def test_encode_levels_subset_in_requested_order(model):
    audio = _audio(1, 1, 1024)
    everything = model.encode(audio)
    some = model.encode(audio, levels=[2, 0])
    assert torch.equal(some[0], everything[2]) and torch.equal(some[1], everything[0])


@torch.no_grad()
def test_stereo_mixdown_is_jukebox_half_half(model):
    audio = _audio(1, 2, 2048)
    mixed = 0.5 * audio[:, 0] + 0.5 * audio[:, 1]
    assert torch.equal(model.to_mono(audio)[:, 0], mixed)
    assert torch.equal(model.encode(audio)[1], model.encode(mixed)[1])  # [B, T] input too
    assert torch.equal(model.encode(mixed.unsqueeze(1))[1], model.encode(mixed)[1])
    four = _audio(1, 4, 2048)
    assert torch.allclose(model.to_mono(four)[:, 0], four.mean(1))


@pytest.mark.parametrize("level", [0, 1, 2])
@torch.no_grad()
def test_windowed_encode_equals_one_shot(model, level):
    audio = _audio(2, 2, 5001, seed=level)
    one_shot = model.encode(audio, [level])[0]
    # 0.02 s windows: several windows, each shorter than the receptive field's context.
    windowed = model.encode_windowed(level, audio, window_seconds=0.02)
    assert windowed.shape == one_shot.shape
    torch.testing.assert_close(windowed, one_shot, rtol=1e-5, atol=1e-6)
    codes_one = model.quantise(level, one_shot)[0]
    assert (model.quantise(level, windowed)[0] == codes_one).float().mean() > 0.999


@pytest.mark.parametrize("level", [0, 1, 2])
@torch.no_grad()
def test_windowed_decode_equals_one_shot(model, level):
    latents = model.encode(_audio(1, 1, 5001, seed=10 + level), [level])[0]
    _, quantised = model.quantise(level, latents)
    one_shot = model.decode(level, quantised)
    windowed = model.decode_windowed(level, quantised, window_seconds=0.02)
    assert windowed.shape == one_shot.shape
    torch.testing.assert_close(windowed, one_shot, rtol=1e-5, atol=1e-6)
    # One window covering everything is the one-shot pass itself.
    torch.testing.assert_close(model.decode_windowed(level, quantised, window_seconds=60), one_shot)


@pytest.mark.parametrize("part", ["encoders", "decoders"])
def test_receptive_field_covers_true_dependencies(model, part):
    """Gradient support of a block of outputs lies inside needed_input's range."""
    level = 1
    net = getattr(model, part)[level]
    hop = model.hop_lengths[level]
    if part == "encoders":
        x = torch.zeros(1, 1, 6000, requires_grad=True)
        a, b = 80, 90  # output frames
        lo, hi = needed_input(net.conv_layers(), a, b - 1)
    else:
        x = torch.zeros(1, model.emb_width, 200, requires_grad=True)
        a, b = 80 * hop, 90 * hop  # output samples
        lo, hi = needed_input(net.conv_layers(), a, b - 1)
    with torch.no_grad():  # random inputs so ReLUs are not all off
        x.copy_(torch.randn(x.shape, generator=torch.Generator().manual_seed(3)))
    net(x)[..., a:b].sum().backward()
    support = x.grad.abs().sum(dim=(0, 1)).nonzero().flatten()
    assert support.numel() > 0
    assert lo <= int(support.min()) and int(support.max()) <= hi
    # And the range is not wildly larger than needed (it is exact up to ReLU zeros).
    assert int(support.min()) - lo < 3 * hop and hi - int(support.max()) < 3 * hop


@torch.no_grad()
def test_normalise_denormalise_inverse_and_statistics(model):
    for level in range(3):
        k = model.bottleneck.level_blocks[level].k
        x = torch.randn(2, model.emb_width, 17, generator=torch.Generator().manual_seed(level))
        torch.testing.assert_close(model.denormalise(level, model.normalise(level, x)), x)
        normed_k = model.normalise(level, k)
        # Unbiased std (torch.std default), as the seed's norm_pre.
        assert abs(float(normed_k.mean())) < 1e-5
        assert abs(float(normed_k.std(unbiased=True)) - 1) < 1e-5
        mean, std = model.codebook_stats(level)
        n = k.numel()
        biased = float(((k - k.mean()) ** 2).sum() / n) ** 0.5
        assert float(std) == pytest.approx(biased * (n / (n - 1)) ** 0.5, rel=1e-5)


@torch.no_grad()
def test_tiny_round_trip_on_cpu(model):
    audio = _audio(1, 2, 4003)
    for level, hop in enumerate(model.hop_lengths):
        codes, normed = model.encode_normalised(level, audio)
        assert codes.shape == (1, 4003 // hop)
        out = model.decode_normalised(level, normed)
        assert out.shape == (1, 1, (4003 // hop) * hop) and torch.isfinite(out).all()
        # Quantising again is a no-op: decoded audio equals decoding the codes directly.
        torch.testing.assert_close(out, model.decode(level, model.codes_to_latents(level, codes)),
                                   rtol=1e-5, atol=1e-6)
        # Without snapping, denormalised latents decode directly.
        direct = model.decode_normalised(level, normed, quantise=False)
        torch.testing.assert_close(direct, out, rtol=1e-5, atol=1e-6)


def test_quantise_passes_straight_through_gradient(model):
    latents = model.encode(_audio(1, 1, 512))[0].detach().requires_grad_(True)
    codes, quantised = model.quantise(0, latents)
    torch.testing.assert_close(quantised.detach(), model.codes_to_latents(0, codes))
    quantised.sum().backward()
    assert torch.equal(latents.grad, torch.ones_like(latents))


def test_bad_inputs_raise_named_errors(model):
    with pytest.raises(AudioTooShort, match="128"):
        model.encode(torch.zeros(1, 100))
    model.encode(torch.zeros(1, 100), levels=[0])  # 12 frames at hop 8 is fine
    with pytest.raises(AudioError, match="shape"):
        model.encode(torch.zeros(100))
    with pytest.raises(AudioError, match="float"):
        model.encode(torch.zeros(1, 1000, dtype=torch.int16))
    with pytest.raises(ConfigError, match="level"):
        model.encode(torch.zeros(1, 1000), levels=[3])
    with pytest.raises(ConfigError, match="latents"):
        model.decode(0, torch.zeros(1, 7, 10))
    with pytest.raises(ConfigError, match=r"\[0, 63\]"):
        model.codes_to_latents(0, torch.full((1, 4), 64))
    with pytest.raises(ConfigError, match="window_seconds"):
        model.encode_windowed(0, torch.zeros(1, 1000), window_seconds=0)
