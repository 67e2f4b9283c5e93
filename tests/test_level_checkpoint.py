"""Level checkpoints: the full-size key/shape manifest, the seed's three-alias layout, strict
loading that names offending tensors, and our own writer producing the same layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jbdiff.errors import CheckpointError
from jbdiff.level_checkpoint import (
    TIED_KEYS,
    UNET_ALIASES,
    level_state_dict_for_save,
    load_level_unet,
    read_checkpoint,
    split_level_checkpoint,
)
from jbdiff.unet import TINY_UNET, LevelUNet, UNetShape

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "unet" / "level_unet_manifest.json").read_text())
VQVAE_MANIFEST = FIXTURES / "vqvae" / "jukebox_vqvae_manifest.json"

# jbdiff-v1 level U-Net with the forked blocks and embedding_max_length 1536 (issue 12).
LEVEL_UNET_PARAMETERS = 127_903_168


def manifest_entries(manifest: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) pairs from a manifest: list of {name, shape}, [name, shape] pairs or a dict."""
    entries = manifest["state_dict"]
    if isinstance(entries, dict):
        return [(k, tuple(v["shape"] if isinstance(v, dict) else v)) for k, v in entries.items()]
    return [
        (e["name"], tuple(e["shape"])) if isinstance(e, dict) else (e[0], tuple(e[1]))
        for e in entries
    ]


def vqvae_entries() -> list[tuple[str, tuple[int, ...]]]:
    """The VQ-VAE part (names without 'vqvae.'), from the vqvae helper's manifest when present."""
    if not VQVAE_MANIFEST.exists():
        return []
    return [
        (n.removeprefix("vqvae."), s)
        for n, s in manifest_entries(json.loads(VQVAE_MANIFEST.read_text()))
    ]


def meta_unet() -> LevelUNet:
    with torch.device("meta"):
        return LevelUNet.from_shape(UNetShape.from_dict(MANIFEST["shape"]))


def meta_state(entries) -> dict[str, torch.Tensor]:
    return {name: torch.empty(shape, device="meta") for name, shape in entries}


def tiny(seed: int = 0) -> LevelUNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LevelUNet.from_shape(TINY_UNET)


def test_full_size_unet_matches_the_manifest_names_shapes_and_counts() -> None:
    model = meta_unet()
    state = model.state_dict()
    ours = [(k, tuple(v.shape)) for k, v in state.items()]
    assert ours == manifest_entries(MANIFEST)
    assert {str(v.dtype).removeprefix("torch.") for v in state.values()} == {
        e["dtype"] for e in MANIFEST["state_dict"]
    }
    params = sum(p.numel() for p in model.parameters())
    assert params == MANIFEST["num_parameters"] == LEVEL_UNET_PARAMETERS
    # The state lists the time-MLP Linear twice, so it holds that Linear's size more elements.
    tied_extra = sum(state[b].numel() for _, b in TIED_KEYS)
    assert (
        sum(v.numel() for v in state.values())
        == MANIFEST["num_state_elements"]
        == params + tied_extra
    )
    assert [tuple(p) for p in MANIFEST["tied"]] == list(TIED_KEYS)
    assert tuple(MANIFEST["aliases"]) == UNET_ALIASES


def test_full_size_lightning_layout_splits_and_loads_strictly() -> None:
    unet_entries, vq_entries = manifest_entries(MANIFEST), vqvae_entries()
    unet_part = meta_state(unet_entries)
    state = {alias + k: v for alias in UNET_ALIASES for k, v in unet_part.items()}
    state.update({"vqvae." + k: v for k, v in meta_state(vq_entries).items()})
    checkpoint = {"epoch": 4938, "global_step": 400000, "state_dict": state}

    unet, vqvae = split_level_checkpoint(checkpoint)
    assert list(unet) == [n for n, _ in unet_entries]
    assert [(k, tuple(v.shape)) for k, v in vqvae.items()] == vq_entries
    model = meta_unet()
    assert list(load_level_unet(model, checkpoint)) == [n for n, _ in vq_entries]
    # Our writer reproduces the same layout, key for key and in order.
    assert list(level_state_dict_for_save(model, vqvae)) == list(state)


def test_tiny_lightning_file_round_trips(tmp_path: Path) -> None:
    source, target = tiny(0), tiny(1)
    vq = {"encoders.0.weight": torch.randn(3, 2)}
    path = tmp_path / "level.ckpt"
    torch.save(
        {
            "epoch": 1,
            "global_step": 10,
            "pytorch-lightning_version": "1.7.0",
            "state_dict": level_state_dict_for_save(source, vq),
        },
        path,
    )
    # The three aliases share storage, so the file holds the U-Net once (plus names and headers).
    one_copy = sum(v.numel() * v.element_size() for v in source.state_dict().values())
    assert path.stat().st_size < 2 * one_copy
    returned = load_level_unet(target, path)
    assert torch.equal(returned["encoders.0.weight"], vq["encoders.0.weight"])
    for (k, a), b in zip(source.state_dict().items(), target.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_bare_unet_state_and_safetensors_load(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source, target = tiny(0), tiny(1)
    assert load_level_unet(target, source.state_dict()) == {}
    path = tmp_path / "unet.safetensors"
    save_file({k: v.clone() for k, v in source.state_dict().items()}, str(path))
    load_level_unet(tiny(2), path)


def lightning_state(model: LevelUNet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in level_state_dict_for_save(model, {}).items()}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.pop("diffusion.sampler.net.blocks.0.weights"),
            r"disagree.*only under diffusion\.net\..*blocks\.0\.weights",
        ),
        (
            lambda s: s["diffusion.diffusion.net.blocks.0.weights"].add_(1),
            r"different values.*blocks\.0\.weights",
        ),
        (lambda s: s.update({"optimizer.step": torch.zeros(1)}), r"outside.*optimizer\.step"),
        (
            lambda s: [s.pop(a + "blocks.0.weights") for a in UNET_ALIASES],
            r"missing \[1\]: blocks\.0\.weights",
        ),
        (
            lambda s: s.update({a + "extra.weight": torch.zeros(1) for a in UNET_ALIASES}),
            r"unexpected \[1\]: extra\.weight",
        ),
        (
            lambda s: s.update({a + "blocks.0.weights": torch.zeros(7) for a in UNET_ALIASES}),
            r"wrong shape.*blocks\.0\.weights \(7,\) != \(128,\)",
        ),
        (
            lambda s: [s[a + "blocks.1.blocks.1.0.bias"].add_(1) for a in UNET_ALIASES],
            r"blocks\.1\.blocks\.0\.0\.bias and .*blocks\.1\.blocks\.1\.0\.bias",
        ),
        (lambda s: [s.pop(k) for k in list(s)], "no U-Net tensors"),
    ],
)
def test_mismatches_name_the_offending_tensors(edit, message) -> None:
    state = lightning_state(tiny())  # cloned, so an edit touches one alias only
    edit(state)
    if not state:
        state = {"vqvae.x": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=message):
        load_level_unet(tiny(), {"state_dict": state})


def test_many_missing_tensors_are_counted_not_all_listed() -> None:
    state = tiny().state_dict()
    kept = dict(list(state.items())[:3])
    with pytest.raises(CheckpointError) as info:
        load_level_unet(tiny(), kept)
    text = str(info.value)
    assert f"missing [{len(state) - 3}]" in text and f"(+{len(state) - 8} more)" in text


def test_unreadable_sources_raise_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "absent.ckpt")
    path = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {}, "hparams": Path("x")}, path)
    with pytest.raises(CheckpointError, match="allow_pickle"):
        read_checkpoint(path)
    assert read_checkpoint(path, allow_pickle=True)["hparams"] == Path("x")
