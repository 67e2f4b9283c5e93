"""DanceUNet: parity with sample-generator's DiffusionAttnUnet1D via committed fixtures, shapes, blocks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import rel_error
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from jbdiff.accel import weights_version
from jbdiff.dance import TINY_DANCE, DanceInputError, DanceShape, DanceUNet
from jbdiff.dance.blocks import (
    CUBIC_TAPS,
    STATS_IMPLS,
    Downsample1d,
    GroupNorm1,
    SelfAttention1d,
    Upsample1d,
    from_fast_layout,
    to_fast_layout,
)
from jbdiff.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "dance"
REL_TOL = 1e-5




def fixture_weights(prefix: str) -> dict[str, torch.Tensor]:
    weights = load_file(FIXTURES / "weights.safetensors")
    return {k[len(prefix) :]: v.float() for k, v in weights.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def io() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "io.safetensors")


@pytest.fixture(scope="module")
def tiny() -> DanceUNet:
    meta = json.loads((FIXTURES / "meta.json").read_text())
    assert DanceShape(**meta["unet_shape"]) == TINY_DANCE
    model = DanceUNet.from_shape(TINY_DANCE).eval()
    model.load_state_dict(fixture_weights("unet."), strict=True)
    return model


@pytest.mark.parametrize("resample", ["conv", "taps"])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("impl", ["flat", "torch"])
@pytest.mark.parametrize("case", ["fwd", "fwd48"])
def test_forward_matches_reference_fixture(tiny: DanceUNet, io: dict, case: str, impl: str,
                                           channels_last: bool, resample: str) -> None:
    tiny.set_groupnorm_impl(impl).set_channels_last(channels_last).set_resample_impl(resample)
    try:
        with torch.no_grad():
            v = tiny(io[f"{case}_x"], io[f"{case}_t"])
    finally:
        tiny.set_channels_last(False).set_resample_impl("conv")
    assert v.shape == io[f"{case}_v"].shape
    assert v.is_contiguous()
    assert rel_error(v, io[f"{case}_v"]) < REL_TOL


def test_channels_last_layout_gives_the_same_gradients() -> None:
    torch.manual_seed(3)
    a = DanceUNet.from_shape(TINY_DANCE)
    b = DanceUNet.from_shape(TINY_DANCE).set_channels_last(True)
    b.load_state_dict(a.state_dict())
    assert list(a.state_dict()) == list(b.state_dict())
    x, t = torch.randn(2, 2, 96), torch.rand(2)
    for m in (a, b):
        m(x, t).square().mean().backward()
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert rel_error(pb.grad, pa.grad) < 1e-4, name


def test_channels_last_weight_cache_follows_weight_updates() -> None:
    from jbdiff.dance.blocks import Conv1d, to_fast_layout

    conv = Conv1d(4, 6, 5, padding=2).requires_grad_(False)
    x = torch.randn(1, 4, 32)
    y0 = conv(to_fast_layout(x)).squeeze(2)
    assert rel_error(y0, conv(x)) < 1e-6
    with torch.no_grad():
        conv.weight.mul_(2.0)                       # in place: the cached 4-D weight must not be reused
    assert rel_error(conv(to_fast_layout(x)).squeeze(2), conv(x)) < 1e-6


def test_two_head_attention_matches_reference_fixture(io: dict) -> None:
    attn = SelfAttention1d(64, 2).eval()
    attn.load_state_dict(fixture_weights("attn2."), strict=True)
    with torch.no_grad():
        y = attn(io["attn_x"])
    assert rel_error(y, io["attn_y"]) < REL_TOL


def test_state_dict_layout_matches_reference_fixture(tiny: DanceUNet) -> None:
    ours = {k: tuple(v.shape) for k, v in tiny.state_dict().items()}
    ref = {k: tuple(v.shape) for k, v in fixture_weights("unet.").items()}
    assert ours == ref


def test_resampling_kernels_are_buffers_with_cubic_taps(tiny: DanceUNet) -> None:
    buffers = dict(tiny.named_buffers())
    downs = [v for k, v in buffers.items() if k.endswith("main.0.kernel")]
    ups = [v for k, v in buffers.items() if k.endswith("main.14.kernel")]
    assert len(downs) == len(ups) == TINY_DANCE.depth - 1
    taps = torch.tensor(CUBIC_TAPS)
    assert all(torch.equal(d, taps) for d in downs)
    assert all(torch.equal(u, taps * 2) for u in ups)
    assert abs(sum(CUBIC_TAPS) - 1.0) < 1e-12  # unity DC gain


def dense_diag_weight(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    """The reference's resampling weight: the kernel on the channel diagonal, zeros elsewhere."""
    weight = torch.zeros(channels, channels, kernel.shape[0])
    weight[torch.arange(channels), torch.arange(channels)] = kernel
    return weight


def test_depthwise_downsample_equals_dense_diagonal_conv() -> None:
    x = torch.randn(2, 5, 40)
    down = Downsample1d()
    dense = F.conv1d(F.pad(x, (3, 3), mode="reflect"), dense_diag_weight(down.kernel, 5), stride=2)
    assert torch.allclose(down(x), dense, atol=1e-6)


def test_depthwise_upsample_equals_dense_diagonal_transposed_conv() -> None:
    x = torch.randn(2, 5, 20)
    up = Upsample1d()
    padded = F.pad(x, (2, 2), mode="reflect")
    dense = F.conv_transpose1d(padded, dense_diag_weight(up.kernel, 5), stride=2, padding=7)
    assert up(x).shape == (2, 5, 40)
    assert torch.allclose(up(x), dense, atol=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("length", [24, 40, 41, 1000])
def test_pointwise_taps_resampling_equals_the_depthwise_convs(length: int, channels_last: bool) -> None:
    x = torch.randn(2, 5, length, dtype=torch.float64)
    if channels_last:
        x = to_fast_layout(x)
    for module in (Downsample1d().double(), Upsample1d().double()):
        conv = module(x)
        module.impl = "taps"
        taps = module(x)
        assert taps.shape == conv.shape
        assert taps.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert torch.allclose(taps, conv, atol=1e-12), type(module).__name__


def test_pointwise_taps_keep_bf16_and_sum_in_fp32() -> None:
    x = torch.randn(1, 4, 64)
    for module in (Downsample1d(), Upsample1d()):
        ref = module(x)
        module.impl = "taps"
        out = module(x.bfloat16())
        assert out.dtype == torch.bfloat16
        assert rel_error(out.float(), ref) < 1e-2


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("stats", list(STATS_IMPLS))
def test_every_statistics_formulation_matches_torch_groupnorm(stats: str, channels_last: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    ref = nn.GroupNorm(1, 6).double()
    with torch.no_grad():
        ref.weight.copy_(torch.rand(6, generator=gen) + 0.5)
        ref.bias.copy_(torch.randn(6, generator=gen))
    x = torch.randn(3, 6, 50, generator=gen, dtype=torch.float64) * 2 + 4   # a mean well off zero
    expected = ref(x)
    norm = GroupNorm1(6, impl="flat", stats=stats).double()
    norm.load_state_dict(ref.state_dict())
    got = from_fast_layout(norm(to_fast_layout(x))) if channels_last else norm(x)
    assert rel_error(got, expected) < 1e-6


def test_chunked_statistics_of_long_rows_match_the_whole_row(monkeypatch) -> None:
    import jbdiff.dance.blocks as blocks

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 6, 50, generator=gen, dtype=torch.float64) * 3 + 5
    x[:, :, :25] += 4                      # chunks with different means: the spread term matters
    whole = blocks.group_norm1_stats(x, 1e-5, "flat")
    monkeypatch.setattr(blocks, "CHUNK", 30)
    monkeypatch.setattr(blocks, "CHUNKED_MIN_ROW", 300)
    seen: list[tuple[int, ...]] = []
    real = torch.var_mean
    monkeypatch.setattr(torch, "var_mean", lambda t, **kw: seen.append(tuple(t.shape)) or real(t, **kw))
    chunked = blocks.group_norm1_stats(x, 1e-5, "chunks")
    assert seen == [(3, 10, 30)]           # 300 values per sample: ten chunks of 30
    for got, expected in zip(chunked, whole, strict=True):
        assert torch.allclose(got, expected, rtol=1e-5)
    monkeypatch.setattr(blocks, "CHUNKED_MIN_ROW", 301)
    blocks.group_norm1_stats(x, 1e-5, "chunks")
    assert seen[-1] == (3, 300)            # shorter than the limit: one piece


def test_statistics_rows_are_views_of_both_layouts() -> None:
    from jbdiff.dance.blocks import _sample_rows

    x = torch.randn(2, 4, 16)
    for layout in (x, to_fast_layout(x)):
        rows = _sample_rows(layout)
        assert rows.shape == (2, 64)
        assert rows.data_ptr() == layout.data_ptr() and rows.is_contiguous()   # no copy
        assert torch.allclose(rows.sum(1), x.sum((1, 2)), atol=1e-5)


def test_groupnorm_stats_are_validated() -> None:
    with pytest.raises(ConfigError, match="groupnorm stats"):
        DanceUNet.from_shape(TINY_DANCE).set_groupnorm_stats("welford")
    with pytest.raises(ValueError, match="stats"):
        GroupNorm1(4, stats="welford")


def test_fast_weights_give_the_autocast_result_bit_for_bit() -> None:
    torch.manual_seed(0)
    model = DanceUNet.from_shape(TINY_DANCE).eval().set_channels_last(True)
    x, t = torch.randn(2, 2, 128), torch.rand(2)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        cast_each_call = model(x, t)
        model.set_fast_weights(torch.bfloat16)
        from_buffers = model(x, t)
    assert torch.equal(cast_each_call, from_buffers)
    assert not [k for k in model.state_dict() if "fast" in k]   # checkpoints unchanged


def test_fast_weights_refresh_in_place_and_never_serve_autograd() -> None:
    torch.manual_seed(0)
    model = DanceUNet.from_shape(TINY_DANCE).eval().set_channels_last(True).set_fast_weights(torch.float32)
    conv = model.net[0].main[0]
    x, t = torch.randn(1, 2, 64), torch.rand(1)
    ptr = conv.weight_fast.data_ptr()
    with torch.no_grad():
        conv.weight.mul_(1.5)
    with torch.inference_mode():
        stale = model(x, t)                  # buffers still hold the old weights
    model.set_fast_weights(torch.float32)
    assert conv.weight_fast.data_ptr() == ptr   # refreshed in place: captured graphs stay valid
    with torch.inference_mode():
        fresh = model(x, t)
        model.set_fast_weights(None)
        params = model(x, t)
    assert not torch.allclose(stale, fresh) and torch.allclose(fresh, params, atol=1e-6)
    model.set_fast_weights(torch.float32)   # buffers hold the current weights
    with torch.no_grad():
        conv.weight.mul_(2.0)               # and are stale now
    with_grad = model(x, t)                 # autograd on: the parameters, never the buffers
    model.set_fast_weights(None)
    with torch.inference_mode():
        expected = model(x, t)
    assert torch.allclose(with_grad, expected, atol=1e-6)


def test_resample_impl_is_validated() -> None:
    with pytest.raises(ConfigError, match="resample impl"):
        DanceUNet.from_shape(TINY_DANCE).set_resample_impl("fft")


@pytest.mark.parametrize("impl", ["flat", "torch", "auto"])
@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_groupnorm1_matches_torch_groupnorm(offset: float, impl: str) -> None:
    gen = torch.Generator().manual_seed(0)
    ref = nn.GroupNorm(1, 12)
    ours = GroupNorm1(12, impl=impl)
    with torch.no_grad():
        ref.weight.copy_(torch.randn(12, generator=gen))
        ref.bias.copy_(torch.randn(12, generator=gen))
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 12, 300, generator=gen) * 3 + offset
    assert rel_error(ours(x), ref(x)) < 1e-6


def test_groupnorm1_keeps_bf16_and_normalises_in_fp32() -> None:
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 8, 256, generator=gen) + 3).bfloat16()
    y = GroupNorm1(8, impl="flat")(x)
    assert y.dtype == torch.bfloat16
    expected = nn.GroupNorm(1, 8)(x.float())
    # Statistics in fp32; scale and shift in bf16 round the product and the sum: two bf16 ulps
    # (2 ** -7 relative each) of the largest value at most.
    assert (y.float() - expected).abs().max() <= 2 * 2**-7 * expected.abs().max()


@pytest.mark.parametrize("impl", ["flat", "torch"])
def test_bf16_autocast_forward_stays_close_to_fp32(tiny: DanceUNet, io: dict, impl: str) -> None:
    tiny.set_groupnorm_impl(impl)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        v = tiny(io["fwd_x"], io["fwd_t"])
    assert v.dtype == torch.bfloat16
    assert rel_error(v.float(), io["fwd_v"]) < 0.05


def test_length_rules() -> None:
    model = DanceUNet.from_shape(TINY_DANCE)
    assert model.length_multiple == 2 ** (TINY_DANCE.depth - 1) == 16
    assert model.min_length == 48
    assert [model.valid_length(n) for n in (1, 48, 49, 64, 65)] == [48, 48, 64, 64, 80]
    full = DanceShape()
    assert (full.length_multiple, full.min_length, full.valid_length(65536)) == (8192, 24576, 65536)


@pytest.mark.parametrize("length", [32, 56, 63])
def test_rejects_unaccepted_lengths_naming_the_fix(length: int) -> None:
    model = DanceUNet.from_shape(TINY_DANCE)
    with pytest.raises(DanceInputError, match=f"pad to {model.valid_length(length)}"):
        model(torch.zeros(1, 2, length), torch.zeros(1))


def test_rejects_wrong_channels_and_t_shape() -> None:
    model = DanceUNet.from_shape(TINY_DANCE)
    with pytest.raises(DanceInputError, match="batch, 2, samples"):
        model(torch.zeros(1, 1, 64), torch.zeros(1))
    with pytest.raises(DanceInputError, match="t must be"):
        model(torch.zeros(2, 2, 64), torch.zeros(3))


def test_scalar_t_broadcasts_over_batch(tiny: DanceUNet, io: dict) -> None:
    x = io["fwd_x"]
    with torch.no_grad():
        assert torch.allclose(tiny(x, torch.tensor(0.3)), tiny(x, torch.full((2,), 0.3)))


def test_default_shape_is_the_published_model() -> None:
    shape = DanceShape()
    assert (shape.io_channels, shape.depth, shape.n_attn_layers) == (2, 14, 4)
    assert shape.c_mults == [128, 128, 256, 256] + [512] * 10
    assert shape.attention_levels() == [9, 10, 11, 12, 13, 14]
    shape.validate()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"depth": 1}, "depth"),
        ({"io_channels": 0}, "io_channels"),
        ({"n_attn_layers": -1}, "n_attn_layers"),
        ({"c_mults": [8, 32, 32]}, "c_mults"),
        ({"c_mults": [8, 16, 32, 32, 32]}, r"c_mults\[1\]"),
        ({"c_mults": [8, 32, 32, 32, 100]}, r"c_mults\[4\]"),
        ({"depth": 2.5}, "depth"),
    ],
)
def test_validate_names_the_bad_field(change: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"DanceShape.{field}"):
        replace(TINY_DANCE, **change).validate()


def test_groupnorm_impl_is_validated() -> None:
    with pytest.raises(ConfigError, match="groupnorm impl"):
        DanceUNet.from_shape(TINY_DANCE).set_groupnorm_impl("fast")


def test_reference_initialisation_halves_net_weights() -> None:
    model = DanceUNet.from_shape(TINY_DANCE)
    norm = model.net[0].main[1]
    assert torch.equal(norm.weight, torch.full_like(norm.weight, 0.5))


def test_weights_version_changes_with_in_place_updates() -> None:
    model = DanceUNet.from_shape(TINY_DANCE)
    v0 = weights_version(model)
    assert weights_version(model) == v0
    model.load_state_dict(model.state_dict())        # copies in place: a captured graph must re-capture
    assert weights_version(model) != v0


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kernel,padding,bias", [(5, 2, True), (3, 1, False), (1, 0, False)])
def test_a_conv_as_one_gemm_over_its_taps_equals_the_conv(kernel: int, padding: int, bias: bool,
                                                          batch: int) -> None:
    from jbdiff.dance.blocks import Conv1d, conv_as_gemm

    torch.manual_seed(0)
    conv = Conv1d(6, 4, kernel, padding=padding, bias=bias).double()
    x = to_fast_layout(torch.randn(batch, 6, 11, dtype=torch.float64))
    matrix = conv.weight_4d(torch.float64).permute(0, 2, 3, 1).reshape(4, -1)
    with torch.no_grad():
        expected = conv(x)
        got = conv_as_gemm(x, matrix, conv.bias, kernel, padding)
    assert got.shape == expected.shape == (batch, 4, 1, 11)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(got, expected, atol=1e-12)
    # The zero padding stays inside each sample: the edges match the conv on each sample alone.
    assert torch.allclose(from_fast_layout(got), conv._conv_forward(from_fast_layout(x), conv.weight, conv.bias),
                          atol=1e-12)


def test_small_gemm_covers_only_batch_1_calls_at_the_short_levels_and_keeps_the_result(monkeypatch) -> None:
    import jbdiff.dance.blocks as blocks

    torch.manual_seed(0)
    model = DanceUNet.from_shape(TINY_DANCE).eval().double().set_channels_last(True)
    lengths: list[int] = []
    real = blocks.conv_as_gemm
    monkeypatch.setattr(blocks, "conv_as_gemm", lambda x, *a: lengths.append(x.shape[-1]) or real(x, *a))
    for batch in (1, 2):
        x, t = torch.randn(batch, 2, 2048, dtype=torch.float64), torch.rand(batch, dtype=torch.float64)
        with torch.no_grad():
            expected = model.set_small_gemm(0)(x, t)
            assert not lengths
            got = model.set_small_gemm(256)(x, t)
        assert torch.allclose(got, expected, atol=1e-10)
        if batch == 1:
            assert lengths and max(lengths) == 256 and min(lengths) < 256
            lengths.clear()
        else:
            assert not lengths                   # batched calls keep cuDNN's convs
    with pytest.raises(ValueError, match="small-gemm"):
        model.set_small_gemm(-1)


def test_first_block_with_folded_time_features_equals_the_concatenation() -> None:
    from jbdiff.dance.blocks import ResConvBlock, from_fast_layout

    torch.manual_seed(0)
    block = ResConvBlock(2 + 16, 8, 8).double().eval()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p))          # non-trivial biases and norm affines
    x, const = torch.randn(3, 2, 40, dtype=torch.float64), torch.randn(3, 16, dtype=torch.float64)
    with torch.no_grad():
        expected = block(torch.cat([x, const[:, :, None].expand(-1, -1, 40)], 1))
        got = from_fast_layout(block.forward_folded(x, const))
    assert torch.allclose(got, expected, atol=1e-10)      # the padded ends included


def test_batch_1_tuning_folds_and_aligns_only_batch_1_calls_and_keeps_the_result(monkeypatch) -> None:
    import jbdiff.dance.blocks as blocks

    torch.manual_seed(0)
    model = DanceUNet.from_shape(TINY_DANCE).eval().set_channels_last(True)
    folded: list[int] = []
    real = blocks.ResConvBlock.forward_folded
    monkeypatch.setattr(blocks.ResConvBlock, "forward_folded",
                        lambda self, x, c: folded.append(x.shape[0]) or real(self, x, c))
    for batch in (1, 2):
        x, t = torch.randn(batch, 2, 256), torch.rand(batch)
        with torch.inference_mode():
            expected = model.set_fold_embed(False).set_fast_weights(None)(x, t)
            got = model.set_fold_embed(True).set_fast_weights(torch.float32, align=True)(x, t)
        assert torch.allclose(got, expected, atol=1e-5)
        assert folded == ([1] if batch == 1 else [])      # larger batches keep the concatenation
        folded.clear()
    x, t = torch.randn(2, 2, 256), torch.rand(2)
    with torch.inference_mode():
        model.set_fold_embed(True, max_batch=2).set_fast_weights(torch.float32, align=True, align_max_batch=2)(x, t)
    assert folded == [2]                                   # benchmarks may raise the batch limit
    first, last = model.net[0].main[0], model.net[-1].main[3]
    assert first.weight_fast.shape[1] == 18 and first.weight_fast_aligned.shape[1] == 32
    assert last.weight_fast.shape[0] == 2 and last.weight_fast_aligned.shape[0] == 8
    assert not model.net[0].skip.aligned                   # 1x1 convs keep their widths
