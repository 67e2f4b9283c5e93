"""Loading weights: OpenAI's file layout, Lightning checkpoints, plain dicts, and mismatches."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from jbdiff.errors import CheckpointError
from jbdiff.vqvae import PRESETS, VQVAE, load_vqvae_weights


def _source_state() -> dict[str, torch.Tensor]:
    """A tiny model's weights with non-default values (so a load is observable)."""
    torch.manual_seed(5)
    model = VQVAE(PRESETS["tiny"])
    with torch.no_grad():
        for block in model.bottleneck.level_blocks:
            block.k.normal_(generator=torch.Generator().manual_seed(6))
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return _source_state()


def _fresh() -> VQVAE:
    torch.manual_seed(99)
    return VQVAE(PRESETS["tiny"])


def _assert_loaded(model: VQVAE, state: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    own = model.state_dict()
    assert own.keys() == state.keys()
    for key, value in state.items():
        assert own[key].dtype == torch.float32
        torch.testing.assert_close(own[key], value.float(), atol=atol, rtol=0)


def test_plain_state_dict_and_module_prefix(state):
    _assert_loaded(load_vqvae_weights(_fresh(), state), state)
    ddp = {f"module.{k}": v for k, v in state.items()}
    _assert_loaded(load_vqvae_weights(_fresh(), ddp), state)


def test_lightning_checkpoint_from_file(tmp_path, state):
    ckpt = {
        "epoch": 3, "global_step": 1200, "pytorch-lightning_version": "2.1.0",
        "state_dict": {**{f"vqvae.{k}": v for k, v in state.items()},
                       "diffusion.net.weight": torch.zeros(3, 3),
                       "diffusion_ema.net.weight": torch.zeros(3, 3)},
        "optimizer_states": [], "lr_schedulers": [],
    }
    path = tmp_path / "epoch=3-step=1200.ckpt"
    torch.save(ckpt, path)
    _assert_loaded(load_vqvae_weights(_fresh(), path), state)


def test_lightning_checkpoint_without_vqvae_keys_is_an_error(tmp_path):
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {"diffusion.w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match=r"no 'vqvae\.\*' tensors.*diffusion\.w"):
        load_vqvae_weights(_fresh(), path)


def test_openai_style_file_with_fp16_tensors_and_numpy_hparams(tmp_path, state):
    """OpenAI's vqvae.pth.tar: {'hps', 'model', 'opt', 'step'}; old torch pickle format."""
    half = {k: v.half() for k, v in state.items()}
    ckpt = {
        "hps": {"levels": 3, "downs_t": (3, 2, 2), "restore_vqvae": "",
                "bandwidth": {"l1": np.float64(0.04), "l2": np.float64(0.003), "spec": np.float64(35.0)},
                "sample_length": np.int64(393216)},
        "model": half, "opt": None, "step": 123,
    }
    path = tmp_path / "vqvae.pth.tar"
    buf = io.BytesIO()
    torch.save(ckpt, buf, _use_new_zipfile_serialization=False)
    # The 2020 file was pickled under numpy 1, whose scalars live in numpy.core.multiarray.
    path.write_bytes(buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert b"numpy.core.multiarray" in path.read_bytes()
    model = load_vqvae_weights(_fresh(), path)
    _assert_loaded(model, {k: v.float() for k, v in half.items()})
    # fp16 rounding only: within half precision of the original weights.
    k = model.bottleneck.level_blocks[0].k
    torch.testing.assert_close(k, state["bottleneck.level_blocks.0.k"], atol=4e-3, rtol=1e-3)


def test_safetensors_file(tmp_path, state):
    path = tmp_path / "vqvae.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    _assert_loaded(load_vqvae_weights(_fresh(), path), state)


def test_mismatch_lists_missing_unexpected_and_misshaped(state):
    bad = dict(state)
    del bad["decoders.2.out.bias"]
    del bad["bottleneck.level_blocks.1.k"]
    bad["encoders.9.extra.weight"] = torch.zeros(2, 2)
    bad["encoders.0.level_blocks.0.model.0.0.weight"] = torch.zeros(5, 1, 4)
    model = _fresh()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_vqvae_weights(model, bad)
    msg = str(info.value)
    assert "missing 2" in msg and "decoders.2.out.bias (1,)" in msg
    assert "bottleneck.level_blocks.1.k (64, 16)" in msg
    assert "unexpected 1: encoders.9.extra.weight (2, 2)" in msg
    assert "mis-shaped 1: encoders.0.level_blocks.0.model.0.0.weight file (5, 1, 4) vs model (8, 1, 4)" in msg
    # Nothing was loaded: no silent partial load.
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_full_preset_file_does_not_load_into_tiny(state):
    with pytest.raises(CheckpointError, match="mis-shaped"):
        load_vqvae_weights(VQVAE.from_preset("tiny"), VQVAE.from_preset("jukebox").state_dict())


def test_unreadable_inputs(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_vqvae_weights(_fresh(), tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_vqvae_weights(_fresh(), junk)
    with pytest.raises(CheckpointError, match="non-tensor"):
        load_vqvae_weights(_fresh(), {"a": 1})


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_objects_are_refused(tmp_path, state):
    path = tmp_path / "evil.pth"
    torch.save({"model": state, "extra": _Evil()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_vqvae_weights(_fresh(), path)


def test_loaded_codebooks_are_marked_trained(state):
    model = load_vqvae_weights(_fresh(), state)
    for block in model.bottleneck.level_blocks:
        assert block.init  # training will not re-initialise them from data
        torch.testing.assert_close(block.k_sum, block.k)
        assert torch.equal(block.k_elem, torch.ones_like(block.k_elem))
