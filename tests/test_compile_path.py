"""The torch.compile option of the fast path, traced on CPU (aot_eager: dynamo and AOT autograd
without code generation), so CI checks the same graphs the GPU compiles."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import torch

from jbdiff.accel import compiled, weights_version
from jbdiff.dance import TINY_DANCE, DanceUNet
from jbdiff.errors import ConfigError
from jbdiff.pipeline import Pipeline, PipelineOptions
from jbdiff.request import GenerationRequest


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("dd_resample", ["conv", "auto"])
def test_compiled_pipeline_renders_what_the_plain_path_renders(dd_resample: str) -> None:
    pipe = Pipeline.tiny("cpu", seed=0)
    req = GenerationRequest(seconds_length=1.0, noise_seed=1, dd_noise_seed=2,
                            num_steps={2: 2, 1: 2, 0: 1, "dd": 2})
    plain = pipe.generate(req)
    pipe.options = dataclasses.replace(pipe.options, compile="default", compile_backend="aot_eager",
                                       dd_resample=dd_resample)
    fast = pipe.generate(req)
    assert fast.metadata["fast_path"]["compile"] == "default"
    assert fast.metadata["fast_path"]["dd_taps"] is (dd_resample == "auto")   # auto: taps when compiled
    assert np.allclose(plain.audio, fast.audio, atol=1e-5)
    for level, audio in plain.level_audio.items():
        assert np.allclose(audio, fast.level_audio[level], atol=1e-5)


@pytest.mark.parametrize("resample,gemm,batch", [("conv", 0, 2), ("taps", 0, 2), ("taps", 1024, 1)])
def test_compiled_channels_last_dance_matches_eager(resample: str, gemm: int, batch: int) -> None:
    torch.manual_seed(0)
    model = DanceUNet.from_shape(TINY_DANCE).eval().set_channels_last(True)
    x, t = torch.randn(batch, 2, 128), torch.rand(batch)
    with torch.inference_mode():
        reference = model(x, t)
    model.set_resample_impl(resample).set_small_gemm(gemm)  # gemm: the compiled pipeline's batch-1 convs
    fn = compiled(lambda a, b: model(a, b), backend="aot_eager")
    with torch.inference_mode():
        expected = model(x, t)
        got = fn(x, t)
    assert torch.allclose(expected, got, atol=1e-6)
    assert torch.allclose(reference, got, atol=1e-5)


def test_compiled_calls_are_rebuilt_when_weights_change_in_place() -> None:
    pipe = Pipeline.tiny("cpu", seed=0, options=PipelineOptions(compile="default", compile_backend="aot_eager"))
    model = pipe.models.dance
    first = pipe.network_call("dd", lambda x, t: model(x, t), key="k", module=model)
    assert pipe.network_call("dd", lambda x, t: model(x, t), key="k", module=model) is first
    before = weights_version(model)
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    assert weights_version(model) != before
    assert pipe.network_call("dd", lambda x, t: model(x, t), key="k", module=model) is not first


def test_options_reject_unknown_compile_modes_and_empty_batches() -> None:
    with pytest.raises(ConfigError, match="compile: 'fast'"):
        PipelineOptions(compile="fast").validate()
    with pytest.raises(ConfigError, match="dd_batch"):
        PipelineOptions(dd_batch=0).validate()
    with pytest.raises(ConfigError, match="compile"):
        Pipeline.tiny("cpu", options=PipelineOptions(compile="turbo"))
    with pytest.raises(ValueError, match="compile mode"):
        compiled(lambda x: x, mode="off")


def test_cuda_default_reads_jbdiff_compile(monkeypatch) -> None:
    cuda = torch.device("cuda")
    assert PipelineOptions.for_device(cuda).compile == "off"
    assert not PipelineOptions.for_device(cuda).dd_taps   # pointwise resampling only pays compiled
    monkeypatch.setenv("JBDIFF_COMPILE", "max-autotune")
    assert PipelineOptions.for_device(cuda).compile == "max-autotune"
    assert PipelineOptions.for_device(cuda).dd_taps
    assert not PipelineOptions.for_device(cuda).plain().dd_taps
    # `jbdiff sample --compile` and the server's `compile:` key replace only the mode: taps follow.
    assert dataclasses.replace(PipelineOptions(), compile="default").dd_taps
    assert not PipelineOptions(dd_resample="conv", compile="default").dd_taps
    assert PipelineOptions(dd_resample="taps").dd_taps
    with pytest.raises(ConfigError, match="dd_resample: 'fft'"):
        PipelineOptions(dd_resample="fft").validate()
    assert not PipelineOptions(dd_fast_weights=True).plain().dd_weights_as_buffers
    # bf16 weight buffers by default exactly when compiled; asking either way wins.
    assert PipelineOptions(compile="default").dd_weights_as_buffers
    assert not PipelineOptions().dd_weights_as_buffers
    assert not PipelineOptions(compile="default", dd_fast_weights=False).dd_weights_as_buffers
    assert PipelineOptions(dd_fast_weights=True).dd_weights_as_buffers
    with pytest.raises(ConfigError, match="dd_fast_weights"):
        PipelineOptions(dd_fast_weights="yes").validate()
    # Batch-1 stereo convs of the deep levels run as tap GEMMs only where inductor fuses their sum.
    assert PipelineOptions(compile="default").dd_gemm_max_len == 1024
    assert PipelineOptions().dd_gemm_max_len == 0
    assert PipelineOptions.for_device(cuda).plain().dd_gemm_max_len == 0
    assert PipelineOptions.for_device(torch.device("cpu")).compile == "off"
    monkeypatch.setenv("JBDIFF_PLAIN", "1")
    assert not PipelineOptions.for_device(cuda).fast
    monkeypatch.setenv("JBDIFF_COMPILE", "bogus")
    with pytest.raises(ConfigError, match="JBDIFF_COMPILE"):
        PipelineOptions.for_device(cuda)


def test_inductor_frozen_weights_stay_per_network_when_networks_share_code() -> None:
    """The pipeline compiles one lambda per level; the three level nets share its code object.
    With inductor's frozen weights each network must still run its own weights (and a second
    batch size must not fall back to the first network's constants)."""

    def make_call(net: torch.nn.Module):
        return compiled(lambda x: net(x))  # one code object for every net, as in sample_level

    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4)).eval()
            for _ in range(2)]
    calls = [make_call(n) for n in nets]
    with torch.inference_mode():
        for batch in (3, 5):
            x = torch.randn(batch, 8)
            for net, call in zip(nets, calls, strict=True):
                assert torch.allclose(call(x), net(x), atol=1e-5)


def test_a_compiled_pipeline_announces_compiling_once_per_new_shape() -> None:
    pipe = Pipeline.tiny("cpu", seed=0, options=PipelineOptions(compile="default", compile_backend="aot_eager"))
    req = GenerationRequest(seconds_length=1.0, levels="21", noise_seed=1, dd_noise_seed=2,
                            num_steps={2: 1, 1: 1, "dd": 1})
    calls: list[tuple] = []

    def stages() -> list[tuple]:
        return [c[:2] for c in calls if c[0] == "compiling"]

    pipe.generate(req, progress=lambda *a: calls.append(a))
    # each level's U-Net and the stereo stage, before their first step
    assert stages() == [("compiling", 2), ("compiling", 1), ("compiling", None)]
    first_step = next(i for i, c in enumerate(calls) if c[0] == "level")
    assert calls.index(("compiling", 2, 0, 1)) < first_step
    calls.clear()
    pipe.generate(req, progress=lambda *a: calls.append(a))
    assert stages() == []   # same shapes: nothing to compile
    pipe.options = PipelineOptions()
    pipe.generate(req, progress=lambda *a: calls.append(a))
    assert stages() == []   # not compiled: never announced


def test_server_config_compile_key(tmp_path) -> None:
    from server.config import load_server_config

    bare = tmp_path / "bare.yaml"
    bare.write_text("compile: off\n")           # YAML reads this as false
    assert load_server_config(bare).compile == "off"
    on = tmp_path / "on.yaml"
    on.write_text("compile: default\n")
    assert load_server_config(on).compile == "default"
    assert load_server_config().compile == "off"  # the bundled configs/server.yaml
    bad = tmp_path / "bad.yaml"
    bad.write_text("compile: turbo\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: server.compile: 'turbo' is not allowed.*max-autotune"):
        load_server_config(bad)


def test_server_compile_applies_only_to_the_cuda_fast_path() -> None:
    from types import SimpleNamespace

    from server.engine import with_compile

    cpu = Pipeline.tiny("cpu")
    assert with_compile(cpu, "default").options.compile == "off"
    fast = SimpleNamespace(options=PipelineOptions(bf16=True, cuda_graphs=True), device=torch.device("cuda"))
    assert with_compile(fast, "default").options.compile == "default"
    plain = SimpleNamespace(options=PipelineOptions(), device=torch.device("cuda"))   # JBDIFF_PLAIN=1
    assert with_compile(plain, "max-autotune").options.compile == "off"
    env_on = SimpleNamespace(options=PipelineOptions(bf16=True, compile="default"), device=torch.device("cuda"))
    assert with_compile(env_on, "off").options.compile == "default"   # config off leaves JBDIFF_COMPILE's choice


def test_inductor_compile_reads_the_weights_on_every_call() -> None:
    """Weights are graph inputs, not frozen constants (freezing doubled the GPU compile time; see
    accel.compiled): an in-place update is seen by the same compiled call."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU()).eval().requires_grad_(False)
    call = compiled(lambda x: net(x))
    x = torch.randn(4, 8)
    with torch.inference_mode():
        before = call(x)
        with torch.no_grad():
            net[0].weight.mul_(2.0)
        after = call(x)
    assert not torch.allclose(after, before)
    with torch.inference_mode():
        assert torch.allclose(after, net(x), atol=1e-6)


def test_each_compiled_call_starts_with_static_shapes() -> None:
    """Two networks through one shared wrapper (as the pipeline's autocast call): the second must
    not inherit the first one's shape history and compile with symbolic shapes."""
    seen: list[bool] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        symbolic = any(isinstance(d, torch.SymInt) for t in example_inputs if isinstance(t, torch.Tensor)
                       for d in t.shape)
        seen.append(symbolic)
        return gm.forward

    nets = [torch.nn.Linear(8, 4).eval() for _ in range(3)]
    calls = [compiled(lambda x, n=n: n(x), backend=backend) for n in nets]   # one code object
    with torch.inference_mode():
        calls[0](torch.randn(3, 8))
        calls[1](torch.randn(5, 8))
        calls[2](torch.randn(7, 8))
        calls[0](torch.randn(6, 8))   # the first net's own second shape may turn dynamic
    assert seen[:3] == [False, False, False]
    assert len(seen) == 4


def test_fast_weights_take_the_weight_casts_out_of_the_compiled_graph() -> None:
    """Traced, every channels-last conv casts its fp32 weight on every call; with the weights kept
    as bf16 buffers (DanceUNet.set_fast_weights) the graph reads them as they are."""
    from jbdiff.accel import autocast_call
    from jbdiff.dance.blocks import Conv1d

    def casts(fast: bool) -> tuple[int, int]:
        torch.manual_seed(0)
        model = DanceUNet.from_shape(TINY_DANCE).eval().requires_grad_(False).set_channels_last(True)
        if fast:
            model.set_fast_weights(torch.bfloat16)
        counts: list[int] = []

        def backend(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
            counts.append(sum(1 for n in gm.graph.nodes
                              if n.op in ("call_method", "call_function") and str(n.target) == "to"))
            return gm.forward

        call = compiled(autocast_call(lambda a, b: model(a, b), torch.bfloat16), backend=backend)
        with torch.inference_mode():
            call(torch.randn(2, 2, 128), torch.rand(2))
        return counts[0], sum(isinstance(m, Conv1d) for m in model.modules())

    traced, convs = casts(False)
    buffered, _ = casts(True)
    assert traced - buffered >= convs


def test_compiled_passes_early_launch_and_inductor_settings_and_keeps_the_result() -> None:
    x = torch.randn(64)
    fn = compiled(lambda a: torch.sin(a) * 2 + 1, pdl=True, options={"realize_opcount_threshold": 200})
    assert torch.allclose(fn(x), torch.sin(x) * 2 + 1, atol=1e-6)   # inductor on CPU: no PDL to emit


def test_batch_1_tuning_follows_compile_and_layout() -> None:
    pipe = Pipeline.tiny("cpu", seed=0, options=PipelineOptions(compile="default", compile_backend="aot_eager"))
    result = pipe.generate(GenerationRequest(seconds_length=0.2, noise_seed=1, dd_noise_seed=1))
    assert result.metadata["fast_path"]["dd_batch1_tuning"] is False   # CPU: no channels-last stereo stage
