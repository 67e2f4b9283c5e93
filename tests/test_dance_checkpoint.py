"""Checkpoint layout of the published Dance Diffusion model and loading sample-generator files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from jbdiff.dance import TINY_DANCE, DanceShape, DanceUNet, load_dance_weights
from jbdiff.errors import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures" / "dance"
PUBLISHED_PARAMS = 221_389_322  # per copy, from the issue; re-derived below


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((FIXTURES / "dd_checkpoint_manifest.json").read_text())


@pytest.fixture(scope="module")
def full_layout() -> dict[str, tuple[tuple[int, ...], str]]:
    """Names, shapes and kinds of the full-size model, built on the meta device (no memory, fast)."""
    with torch.device("meta"):
        model = DanceUNet()
    params = {n for n, _ in model.named_parameters()}
    return {
        k: (tuple(v.shape), "parameter" if k in params else "buffer")
        for k, v in model.state_dict().items()
    }


def derived_param_count(shape: DanceShape) -> int:
    """Parameter count from the architecture's arithmetic, independent of the module code."""

    def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
        return c_in * c_out * k + (c_out if bias else 0)

    def res(c_in: int, c_mid: int, c_out: int, last: bool = False) -> int:
        n = conv(c_in, c_mid, 5) + 2 * c_mid + conv(c_mid, c_out, 5)
        n += 0 if last else 2 * c_out
        return n + (0 if c_in == c_out else conv(c_in, c_out, 1, bias=False))

    def attn(c: int) -> int:
        return 2 * c + conv(c, 3 * c, 1) + conv(c, c, 1)

    cm, depth = shape.c_mults, shape.depth
    total = 16 // 2  # Fourier time features: 8 frequencies of one input
    c = cm[0]
    total += res(shape.io_channels + 16, c, c) + 2 * res(c, c, c)
    total += res(2 * c, c, c) + res(c, c, c) + res(c, c, shape.io_channels, last=True)
    for i in range(2, depth + 1):
        c, c_prev = cm[i - 1], cm[i - 2]
        total += res(c_prev, c, c) + 2 * res(c, c, c)
        total += res(c if i == depth else 2 * c, c, c) + res(c, c, c) + res(c, c, c_prev)
        if i in shape.attention_levels():
            total += 5 * attn(c) + attn(c_prev)
    return total


def test_parameter_count_of_published_model(manifest: dict, full_layout: dict) -> None:
    assert derived_param_count(DanceShape()) == PUBLISHED_PARAMS
    assert manifest["parameters_per_copy"] == {
        "diffusion": PUBLISHED_PARAMS,
        "diffusion_ema": PUBLISHED_PARAMS,
    }
    ours = sum(
        torch.Size(shape).numel() for shape, kind in full_layout.values() if kind == "parameter"
    )
    assert ours == PUBLISHED_PARAMS


def test_derived_count_matches_tiny_model() -> None:
    model = DanceUNet.from_shape(TINY_DANCE)
    assert sum(p.numel() for p in model.parameters()) == derived_param_count(TINY_DANCE)


@pytest.mark.parametrize("prefix", ["diffusion.", "diffusion_ema."])
def test_full_model_matches_checkpoint_manifest(
    manifest: dict, full_layout: dict, prefix: str
) -> None:
    rows = [r for r in manifest["tensors"] if r[0].startswith(prefix)]
    expected = {name[len(prefix) :]: (tuple(shape), kind) for name, shape, kind in rows}
    assert full_layout == expected
    assert list(full_layout) == [name[len(prefix) :] for name, _, _ in rows]  # same order
    kernels = [k for k, (_, kind) in expected.items() if kind == "buffer"]
    assert len(kernels) == 2 * (DanceShape().depth - 1)
    assert all(k.endswith(".kernel") for k in kernels)


def test_manifest_holds_only_the_two_copies(manifest: dict) -> None:
    names = [r[0] for r in manifest["tensors"]]
    assert all(n.startswith(("diffusion.", "diffusion_ema.")) for n in names)
    n_raw = sum(n.startswith("diffusion.") for n in names)
    assert n_raw * 2 == len(names)


def tiny_weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)  # module init draws from the global RNG; only in test setup
    return DanceUNet.from_shape(TINY_DANCE).state_dict()


def lightning_checkpoint(raw: dict, ema: dict) -> dict:
    """What sample-generator's ModelCheckpoint writes: module state plus trainer bookkeeping."""
    state = {f"diffusion.{k}": v for k, v in raw.items()}
    state.update({f"diffusion_ema.{k}": v for k, v in ema.items()})
    return {
        "epoch": 3,
        "global_step": 1000,
        "pytorch-lightning_version": "1.7.7",
        "state_dict": state,
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 4e-5, "params": [0]}]}],
        "lr_schedulers": [],
    }


def assert_loaded(model: DanceUNet, weights: dict) -> None:
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k


@pytest.mark.parametrize("use_ema", [True, False])
def test_sample_generator_file_loads_the_chosen_copy(tmp_path: Path, use_ema: bool) -> None:
    raw, ema = tiny_weights(1), tiny_weights(2)
    path = tmp_path / "dd.ckpt"
    torch.save(lightning_checkpoint(raw, ema), path)
    model = DanceUNet.from_shape(TINY_DANCE)
    assert load_dance_weights(model, path, use_ema=use_ema) is model
    assert_loaded(model, ema if use_ema else raw)


def test_plain_state_dict_and_safetensors_load(tmp_path: Path) -> None:
    weights = tiny_weights(3)
    model = DanceUNet.from_shape(TINY_DANCE)
    load_dance_weights(model, weights)
    assert_loaded(model, weights)
    save_file(weights, tmp_path / "dd.safetensors")
    other = DanceUNet.from_shape(TINY_DANCE)
    load_dance_weights(other, tmp_path / "dd.safetensors")
    assert_loaded(other, load_file(tmp_path / "dd.safetensors"))


def test_mismatch_lists_offending_tensors() -> None:
    weights = tiny_weights(4)
    del weights["net.0.main.0.bias"]
    weights["net.9.extra"] = torch.zeros(1)
    weights["net.1.main.3.weight"] = torch.zeros(8, 8, 3)
    model = DanceUNet.from_shape(TINY_DANCE)
    with pytest.raises(CheckpointError) as err:
        load_dance_weights(model, lightning_checkpoint(weights, weights))
    message = str(err.value)
    assert "1 missing: net.0.main.0.bias" in message
    assert "1 unexpected: net.9.extra" in message
    assert "net.1.main.3.weight (8, 8, 3) != (8, 8, 5)" in message


def test_full_size_checkpoint_does_not_fit_tiny_model() -> None:
    with torch.device("meta"):
        full = DanceUNet().state_dict()
    with pytest.raises(CheckpointError, match=r"mis-shaped: .*\(\+\d+ more\)"):
        load_dance_weights(DanceUNet.from_shape(TINY_DANCE), full)


def test_missing_copy_and_foreign_keys_are_reported(tmp_path: Path) -> None:
    weights = tiny_weights(5)
    raw_only = {"state_dict": {f"diffusion.{k}": v for k, v in weights.items()}}
    with pytest.raises(CheckpointError, match="no 'diffusion_ema.\\*' tensors"):
        load_dance_weights(DanceUNet.from_shape(TINY_DANCE), raw_only)
    load_dance_weights(DanceUNet.from_shape(TINY_DANCE), raw_only, use_ema=False)
    foreign = lightning_checkpoint(weights, weights)
    foreign["state_dict"]["vqvae.encoder.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected: vqvae.encoder.weight"):
        load_dance_weights(DanceUNet.from_shape(TINY_DANCE), foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_dance_weights(DanceUNet.from_shape(TINY_DANCE), tmp_path / "absent.ckpt")


def test_pickled_objects_need_explicit_trust(tmp_path: Path) -> None:
    ema = tiny_weights(7)
    ckpt = lightning_checkpoint(tiny_weights(6), ema)
    ckpt["hyper_parameters"] = argparse.Namespace(sample_size=65536)  # as old Lightning saved args
    path = tmp_path / "pickled.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="allow_pickle"):
        load_dance_weights(DanceUNet.from_shape(TINY_DANCE), path)
    model = load_dance_weights(DanceUNet.from_shape(TINY_DANCE), path, allow_pickle=True)
    assert_loaded(model, ema)
