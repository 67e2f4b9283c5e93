"""The full `jukebox` preset must have OpenAI Jukebox's exact state_dict (names, shapes, dtypes).

The manifest was generated once from openai/jukebox's make_vqvae(setup_hparams('vqvae')) by
/work/harness/vqvae/make_manifest.py. Total parameter count: 1,485,763 (plus 3 x 2048 x 64
codebook buffers = 1,878,979 state elements); both are asserted from the manifest, not typed in.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from jbdiff.errors import ConfigError
from jbdiff.vqvae import PRESETS, VQVAE, VQVAEShape

MANIFEST = Path(__file__).parent / "fixtures" / "vqvae" / "jukebox_vqvae_manifest.json"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


@pytest.fixture(scope="module")
def full_model() -> VQVAE:
    return VQVAE.from_preset("jukebox")


def test_state_dict_matches_reference_manifest(manifest, full_model):
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch."))
            for k, v in full_model.state_dict().items()]
    ref = [(e["name"], e["shape"], e["dtype"]) for e in manifest["state_dict"]]
    assert ours == ref  # same names, same order, same shapes and dtypes


def test_parameter_count_matches_reference(manifest, full_model):
    n_params = sum(p.numel() for p in full_model.parameters())
    assert n_params == manifest["num_parameters"]
    from_entries = sum(math.prod(e["shape"]) for e in manifest["state_dict"])
    assert sum(v.numel() for v in full_model.state_dict().values()) == from_entries
    assert from_entries == manifest["num_state_elements"]
    # Only the codebooks are buffers, as in Jukebox.
    buffers = [e for e in manifest["state_dict"] if e["name"].startswith("bottleneck.")]
    assert [e["name"] for e in buffers] == [f"bottleneck.level_blocks.{i}.k" for i in range(3)]
    assert n_params == from_entries - sum(math.prod(e["shape"]) for e in buffers)


def test_default_shape_is_the_published_preset(manifest):
    hp = manifest["hparams"]
    s = VQVAEShape()
    assert PRESETS["jukebox"] == s
    for ours, theirs in [("levels", "levels"), ("downs_t", "downs_t"), ("strides_t", "strides_t"),
                         ("emb_width", "emb_width"), ("l_bins", "l_bins"), ("l_mu", "l_mu"),
                         ("commit", "commit"), ("spectral", "spectral"),
                         ("multispectral", "multispectral"), ("multipliers", "hvqvae_multipliers"),
                         ("width", "width"), ("depth", "depth"), ("m_conv", "m_conv"),
                         ("dilation_growth_rate", "dilation_growth_rate"),
                         ("dilation_cycle", "dilation_cycle"),
                         ("reverse_decoder_dilation", "vqvae_reverse_decoder_dilation"),
                         ("loss_fn", "loss_fn"), ("lmix_l1", "lmix_l1"), ("lmix_l2", "lmix_l2"),
                         ("lmix_linf", "lmix_linf"), ("linf_k", "linf_k"),
                         ("revival_threshold", "revival_threshold"), ("sr", "sr"),
                         ("multispec_loss_n_fft", "multispec_loss_n_fft"),
                         ("multispec_loss_hop_length", "multispec_loss_hop_length"),
                         ("multispec_loss_window_size", "multispec_loss_window_size"),
                         ("use_nonrelative_specloss", "use_nonrelative_specloss")]:
        value = getattr(s, ours)
        expected = hp[theirs]
        assert (list(value) if isinstance(value, tuple) else value) == expected, ours


def test_hop_lengths_and_tiny_preset_structure(full_model):
    tiny = VQVAE.from_preset("tiny")
    assert full_model.hop_lengths == (8, 32, 128)
    assert tiny.hop_lengths == (8, 32, 128)
    assert tiny.shape.levels == 3 and tiny.emb_width < full_model.emb_width
    # Same module tree as the full model, only thinner and with fewer residual units.
    assert set(tiny.state_dict()) <= set(full_model.state_dict())
    assert sum(p.numel() for p in tiny.parameters()) < 50_000


def test_from_dict_accepts_jukebox_names_and_rejects_unknown():
    s = VQVAEShape.from_dict({"hvqvae_multipliers": [1, 1, 1], "vqvae_reverse_decoder_dilation": False})
    assert s.multipliers == (1, 1, 1) and s.reverse_decoder_dilation is False
    with pytest.raises(ConfigError, match="unknown fields"):
        VQVAEShape.from_dict({"widht": 3})


@pytest.mark.parametrize("changes, field", [
    ({"levels": 0}, "levels"),
    ({"downs_t": (3, 2)}, "downs_t"),
    ({"strides_t": (3, 2, 2)}, "strides_t"),
    ({"multipliers": (2, 1)}, "multipliers"),
    ({"emb_width": -1}, "emb_width"),
    ({"l_mu": 1.0}, "l_mu"),
    ({"loss_fn": "l3"}, "loss_fn"),
    ({"multispec_loss_hop_length": (240, 120)}, "multispec_loss_hop_length"),
    ({"dilation_cycle": 0}, "dilation_cycle"),
    ({"commit": -0.1}, "commit"),
])
def test_validate_names_the_bad_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        VQVAEShape(**changes).validate()
    with pytest.raises(ConfigError, match=field):
        VQVAE(VQVAEShape(**changes))


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="jukebox"):
        VQVAE.from_preset("huge")


def test_codebook_is_only_persistent_buffer(full_model):
    block = full_model.bottleneck.level_blocks[0]
    names = {n for n, _ in block.named_buffers()}
    assert names == {"k", "k_sum", "k_elem"}
    assert set(block.state_dict()) == {"k"}
    assert block.k.dtype == torch.float32
