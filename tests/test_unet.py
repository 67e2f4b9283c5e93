"""Level U-Net: shape validation, input checks, CFG arithmetic and batching (tiny, CPU)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from jbdiff.errors import ConfigError
from jbdiff.unet import TINY_UNET, LevelUNet, UNetInputError, UNetShape

MANIFEST = Path(__file__).parent / "fixtures" / "unet" / "level_unet_manifest.json"


def tiny(seed: int = 0, **changes: object) -> LevelUNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LevelUNet.from_shape(replace(TINY_UNET, **changes)).eval()


def inputs(b: int = 2, t: int = 32, length: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, TINY_UNET.in_channels, t, generator=g)
    sigmas = torch.rand(b, generator=g)
    emb = torch.randn(b, length, TINY_UNET.embedding_features, generator=g)
    return x, sigmas, emb


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    return bool((a - b).abs().max() <= tol * b.abs().max())


def test_default_shape_is_the_seed_level_model() -> None:
    reference = json.loads(MANIFEST.read_text())["shape"]
    assert UNetShape.from_dict(reference) == UNetShape()
    assert {k: v for k, v in asdict(UNetShape()).items() if k != "modulation_features"} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in reference.items()
    }


def test_shape_accepts_yaml_lists_and_tiny_keeps_the_structure() -> None:
    shape = UNetShape(channels=[64] * 9)
    assert shape.channels == (64,) * 9 and hash(shape)
    assert TINY_UNET.validate() is TINY_UNET
    assert TINY_UNET.use_embedding_cfg and TINY_UNET.resnet_dilation_factor == 3
    assert (
        max(TINY_UNET.items) == 3 and any(TINY_UNET.attentions) and any(TINY_UNET.cross_attentions)
    )


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"factors": (1, 2)}, "factors"),
        ({"channels": (8, 12, 16, 32)}, "channels[1]"),
        ({"items": (1, -1, 2, 1)}, "items[1]"),
        ({"attention_heads": 0}, "attention_heads"),
        ({"resnet_dropout_rate": 1.5}, "resnet_dropout_rate"),
        ({"embedding_max_length": 0}, "embedding_max_length"),
        ({"use_embedding_cfg": "yes"}, "use_embedding_cfg"),
        ({"resnet_dilation_factor": 0}, "resnet_dilation_factor"),
    ],
)
def test_validate_names_the_bad_field_and_range(changes: dict, field_name: str) -> None:
    with pytest.raises(ConfigError, match=field_name.replace("[", r"\[").replace("]", r"\]")):
        replace(TINY_UNET, **changes).validate()
    with pytest.raises(ConfigError):
        LevelUNet.from_shape(replace(TINY_UNET, **changes))


def test_unknown_argument_is_named() -> None:
    with pytest.raises(ConfigError, match="resnet_groups"):
        LevelUNet(**asdict(TINY_UNET), resnet_groups=4)


@pytest.mark.parametrize("t", [4, 8, 20, 36])
def test_forward_any_multiple_of_the_downsample_factor(t: int) -> None:
    model = tiny()
    x, sigmas, emb = inputs(t=t)
    with torch.no_grad():
        out = model(x, sigmas, embedding=emb, embedding_scale=2.0)
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("x_shape", "emb_shape", "message"),
    [
        ((2, 4, 30), (2, 12, 8), "multiple of 4"),
        ((2, 5, 32), (2, 12, 8), r"\[batch, 4, time\]"),
        ((2, 4, 32), (2, 17, 8), "embedding_max_length"),
        ((2, 4, 32), (2, 12, 6), r"\[2, length, 8\]"),
        ((2, 4, 32), (3, 12, 8), r"\[2, length, 8\]"),
    ],
)
def test_bad_inputs_raise_named_errors(x_shape, emb_shape, message) -> None:
    model = tiny()
    with pytest.raises(UNetInputError, match=message):
        model(torch.zeros(x_shape), torch.zeros(x_shape[0]), embedding=torch.zeros(emb_shape))


def test_time_mlp_linear_is_one_tensor_under_two_names() -> None:
    model = tiny()
    state = model.state_dict()
    a, b = state["blocks.1.blocks.0.0.weight"], state["blocks.1.blocks.1.0.weight"]
    assert a.data_ptr() == b.data_ptr()
    unique = sum(p.numel() for p in model.parameters())
    assert sum(v.numel() for v in state.values()) == unique + a.numel() + a.shape[0]


@torch.no_grad()
def test_cfg_scale_one_equals_the_unguided_output() -> None:
    model = tiny()
    x, sigmas, emb = inputs()
    unguided = model(x, sigmas, embedding=emb)
    assert torch.equal(model(x, sigmas, embedding=emb, embedding_scale=1.0), unguided)
    # The batched guidance path at scale 0 gives the null branch; scale 1 of the mix is cond.
    uncond = model(x, sigmas, embedding=emb, embedding_scale=0.0)
    null_only = model(x, sigmas, embedding=emb, embedding_mask_proba=1.0)
    assert close(uncond, null_only)
    assert not close(uncond, unguided, tol=1e-4)
    mixed = model(x, sigmas, embedding=emb, embedding_scale=1.0 + 1e-3)
    assert close(mixed, unguided + 1e-3 * (unguided - uncond))


@torch.no_grad()
def test_batched_cfg_equals_two_separate_forwards() -> None:
    model = tiny()
    x, sigmas, emb = inputs()
    null = model.null_embedding.weight[: emb.shape[1]].expand_as(emb)
    cond = model(x, sigmas, embedding=emb)
    uncond = model(x, sigmas, embedding=null)
    guided = model(x, sigmas, embedding=emb, embedding_scale=3.0)
    assert close(guided, uncond + (cond - uncond) * 3.0)


@torch.no_grad()
def test_no_embedding_means_the_full_null_context() -> None:
    model = tiny()
    x, sigmas, _ = inputs()
    null = model.null_embedding.weight.expand(2, -1, -1)
    assert torch.equal(model(x, sigmas), model(x, sigmas, embedding=null))
    assert torch.equal(model(x, sigmas, embedding_scale=5.0), model(x, sigmas))


def test_without_cfg_a_cross_attending_net_needs_an_embedding() -> None:
    model = tiny(use_embedding_cfg=False)
    assert model.null_embedding is None
    assert not any(k.startswith("blocks.2.blocks.0.") for k in model.state_dict())
    x, sigmas, emb = inputs()
    assert model(x, sigmas, embedding=emb).shape == x.shape
    with pytest.raises(UNetInputError, match="needs an embedding"):
        model(x, sigmas)


@torch.no_grad()
def test_context_dropout_follows_the_generator() -> None:
    model = tiny()
    x, sigmas, emb = inputs(b=8)

    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return model(x, sigmas, embedding=emb, embedding_mask_proba=0.5, generator=g)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))
    with pytest.raises(ConfigError, match="embedding_mask_proba"):
        model(x, sigmas, embedding=emb, embedding_mask_proba=1.5)
    with pytest.raises(ConfigError, match="embedding_mask_proba"):
        model(x, sigmas, embedding_mask_proba=-0.1)


@torch.no_grad()
def test_one_sigma_broadcasts_over_the_batch() -> None:
    model = tiny()
    x, _, emb = inputs()
    full = model(x, torch.full((2,), 0.3), embedding=emb)
    assert torch.equal(model(x, torch.tensor(0.3), embedding=emb), full)
    assert torch.equal(model(x, 0.3, embedding=emb), full)
    with pytest.raises(UNetInputError, match="sigmas"):
        model(x, torch.zeros(3), embedding=emb)


@torch.no_grad()
def test_bf16_autocast_stays_close_to_fp32() -> None:
    model = tiny()
    x, sigmas, emb = inputs()
    ref = model(x, sigmas, embedding=emb, embedding_scale=2.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x, sigmas, embedding=emb, embedding_scale=2.0)
    assert low.shape == ref.shape
    assert float((low.float() - ref).norm() / ref.norm()) < 5e-2


def test_dropout_only_in_training() -> None:
    model = tiny(resnet_dropout_rate=0.5)
    x, sigmas, emb = inputs()
    with torch.no_grad():
        assert torch.equal(model(x, sigmas, embedding=emb), model(x, sigmas, embedding=emb))
        model.train()
        assert not torch.equal(model(x, sigmas, embedding=emb), model(x, sigmas, embedding=emb))
