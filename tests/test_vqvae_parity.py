"""Our VQ-VAE against reference outputs of openai/jukebox's VQVAE built with the TINY shape.

Fixture made once by /work/harness/vqvae/make_tiny_fixture.py (reference code stays outside
the repo): seeded reference weights, an odd-length stereo clip, and the reference's encoder
latents, codes, quantised latents, seed-style normalised latents, decoded audio, training
losses and the codebooks after one EMA step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from jbdiff.vqvae import PRESETS, VQVAE, Bandwidth, load_vqvae_weights

FIX = Path(__file__).parent / "fixtures" / "vqvae"
WEIGHTS = FIX / "tiny_weights.safetensors"
REFERENCE = FIX / "tiny_reference.safetensors"
RTOL = 1e-5


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    return load_file(str(REFERENCE))


@pytest.fixture(scope="module")
def meta() -> dict[str, str]:
    with safe_open(str(REFERENCE), "pt") as f:
        return f.metadata()


@pytest.fixture()
def model() -> VQVAE:
    return load_vqvae_weights(VQVAE(PRESETS["tiny"]).eval(), WEIGHTS)


def test_fixture_was_made_with_the_tiny_shape(meta):
    tiny = PRESETS["tiny"]
    overrides = json.loads(meta["overrides"])
    for key, ours in [("emb_width", tiny.emb_width), ("l_bins", tiny.l_bins), ("width", tiny.width),
                      ("depth", tiny.depth), ("hvqvae_multipliers", list(tiny.multipliers)),
                      ("downs_t", list(tiny.downs_t)), ("strides_t", list(tiny.strides_t))]:
        assert overrides[key] == ours, key


@torch.no_grad()
def test_encoder_matches_reference(model, ref):
    latents = model.encode(ref["audio"])
    for level in range(3):
        assert latents[level].shape == ref[f"latents_l{level}"].shape
        assert rel(latents[level], ref[f"latents_l{level}"]) < RTOL


@torch.no_grad()
def test_quantiser_matches_reference(model, ref):
    for level in range(3):
        codes, quantised = model.quantise(level, ref[f"latents_l{level}"])
        assert torch.equal(codes, ref[f"codes_l{level}"])
        assert rel(quantised, ref[f"quantised_l{level}"]) < RTOL
        assert torch.equal(model.latents_to_codes(level, ref[f"latents_l{level}"]), codes)
        assert torch.equal(model.codes_to_latents(level, codes), quantised)


@torch.no_grad()
def test_decoder_matches_reference(model, ref):
    for level in range(3):
        audio = model.decode(level, ref[f"quantised_l{level}"])
        assert audio.shape == ref[f"decoded_l{level}"].shape
        assert rel(audio, ref[f"decoded_l{level}"]) < RTOL


@torch.no_grad()
def test_seed_style_normalised_round_trip_matches_reference(model, ref):
    for level in range(3):
        codes, normed = model.encode_normalised(level, ref["audio"])
        assert torch.equal(codes, ref[f"codes_l{level}"])
        assert rel(normed, ref[f"normalised_l{level}"]) < RTOL
        audio = model.decode_normalised(level, ref[f"normalised_l{level}"])
        assert rel(audio, ref[f"postprocessed_l{level}"]) < RTOL


def test_training_losses_match_reference(model, ref, meta):
    n = int(meta["train_samples"])
    bw = Bandwidth(**json.loads(meta["bandwidth"]))
    audio = ref["audio"][..., :n]
    with torch.no_grad():
        out = model.training_losses(audio, bandwidth=bw)
    for key in ("loss", "recons_loss", "multispectral_loss", "commit_loss"):
        assert rel(out[key], ref[f"eval_{key}"][0]) < RTOL, key

    # One train-mode step: EMA update + dead-code restart, same random draws as the reference.
    model.train()
    model.restore_codebooks(sample_length=n)
    out = model.training_losses(audio, bandwidth=bw,
                                generator=torch.Generator().manual_seed(int(meta["generator_seed"])))
    assert rel(out["loss"].detach(), ref["train_loss"][0]) < RTOL
    for level, block in enumerate(model.bottleneck.level_blocks):
        assert rel(block.k, ref[f"k_after_step_l{level}"]) < RTOL
        assert rel(block.k_elem, ref[f"k_elem_after_step_l{level}"]) < RTOL
    # The top level sees fewer tokens than codebook entries, so some entries were restarted.
    assert float(model.bottleneck.level_blocks[2].k_elem.min()) < 1.0
