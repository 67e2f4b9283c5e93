"""v-DDIM and dd_refine: parity with v-diffusion-pytorch / the seed via fixtures, plus behaviour."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import rel_error
from safetensors.torch import load_file

from jbdiff.dance import (
    TINY_DANCE,
    DanceInputError,
    DanceUNet,
    crash_schedule,
    dd_refine,
    refine_timesteps,
    t_to_alpha_sigma,
    to_stereo,
    v_ddim_sample,
)
from jbdiff.dance.schedule import alpha_sigma_to_t
from jbdiff.errors import CancelledError, ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "dance"
REL_TOL = 1e-5




@pytest.fixture(scope="module")
def io() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "io.safetensors")


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads((FIXTURES / "meta.json").read_text())


@pytest.fixture(scope="module")
def tiny() -> Iterator[DanceUNet]:
    weights = load_file(FIXTURES / "weights.safetensors")
    model = DanceUNet.from_shape(TINY_DANCE).eval()
    model.load_state_dict({k[5:]: v.float() for k, v in weights.items() if k.startswith("unet.")})
    yield model
    model.set_groupnorm_impl("auto")


def noise_for(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# --- parity with the reference code (fixtures written by the harness) ---


def test_v_ddim_eta0_matches_v_diffusion_sample(tiny: DanceUNet, io: dict) -> None:
    out = v_ddim_sample(tiny, io["ddim_x"], io["ddim_ts"])
    assert rel_error(out, io["ddim_eta0"]) < REL_TOL


def test_v_ddim_eta_noise_matches_v_diffusion_sample(tiny: DanceUNet, io: dict, meta: dict) -> None:
    eta = meta["ddim"]["eta"][1]
    gen = torch.Generator().manual_seed(meta["ddim"]["torch_manual_seed_for_eta"])
    out = v_ddim_sample(tiny, io["ddim_x"], io["ddim_ts"], eta=eta, generator=gen)
    assert rel_error(out, io["ddim_eta07"]) < REL_TOL


@pytest.mark.parametrize("impl", ["flat", "torch"])
@pytest.mark.parametrize("case", ["refine_mono", "refine_stereo"])
def test_dd_refine_matches_seed_resample(
    tiny: DanceUNet, io: dict, meta: dict, case: str, impl: str
) -> None:
    tiny.set_groupnorm_impl(impl)
    params = meta["refine"][case]
    out = dd_refine(
        tiny,
        io[f"{case}_audio"],
        io[f"{case}_noise"],
        steps=params["steps"],
        init_strength=params["init_strength"],
    )
    assert io[f"{case}_audio"].shape[1] == params["channels"]
    assert rel_error(out, io[f"{case}_out"]) < REL_TOL


# --- schedule ---


def test_schedule_round_trips_and_crash_is_monotone() -> None:
    t = torch.linspace(0, 1, 101)
    alpha, sigma = t_to_alpha_sigma(t)
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(t))
    assert torch.allclose(alpha_sigma_to_t(alpha, sigma), t, atol=1e-6)
    crashed = crash_schedule(t)
    assert crashed[0] == 0 and abs(crashed[-1].item() - 1) < 1e-6
    assert bool((crashed.diff() > 0).all())
    # crash: sigma(crash(t)) = sin(t pi/2)^2
    assert torch.allclose(t_to_alpha_sigma(crashed)[1], torch.sin(t * math.pi / 2) ** 2, atol=1e-6)


def test_refine_timesteps_keep_grid_below_noise_level() -> None:
    grid = refine_timesteps(20, 0.5)
    full = crash_schedule(torch.linspace(0, 1, 21))
    assert torch.equal(grid, full[full < 0.5])
    assert len(refine_timesteps(20, 1.0)) == 20  # t = 1 itself is never kept
    with pytest.raises(ConfigError, match="steps"):
        refine_timesteps(0, 0.5)


# --- behaviour ---


def test_same_seed_same_output_different_seed_different(tiny: DanceUNet) -> None:
    audio = noise_for(0, (2, 1, 64)) * 0.3
    a = dd_refine(tiny, audio, noise_for(1, (2, 2, 64)), steps=12, init_strength=0.4)
    b = dd_refine(tiny, audio, noise_for(1, (2, 2, 64)), steps=12, init_strength=0.4)
    c = dd_refine(tiny, audio, noise_for(2, (2, 2, 64)), steps=12, init_strength=0.4)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_eta_noise_comes_only_from_the_generator(tiny: DanceUNet, io: dict) -> None:
    x, ts = io["ddim_x"], io["ddim_ts"]
    a = v_ddim_sample(tiny, x, ts, eta=1.0, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(999)  # global RNG state must not matter
    b = v_ddim_sample(tiny, x, ts, eta=1.0, generator=torch.Generator().manual_seed(5))
    c = v_ddim_sample(tiny, x, ts, eta=1.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    with pytest.raises(ConfigError, match="generator"):
        v_ddim_sample(tiny, x, ts, eta=0.5)


def test_init_strength_one_or_no_step_left_returns_stereo_init(tiny: DanceUNet) -> None:
    audio = noise_for(0, (2, 1, 64))
    noise = noise_for(1, (2, 2, 64))
    for strength in (1.0, 0.99):  # 0.99 with 10 steps: no grid time lies below 0.01
        out = dd_refine(tiny, audio, noise, steps=10, init_strength=strength)
        assert torch.equal(out, audio.expand(-1, 2, -1))


def test_output_approaches_init_as_init_strength_approaches_one(tiny: DanceUNet) -> None:
    audio = noise_for(0, (1, 2, 64)) * 0.3
    noise = noise_for(1, (1, 2, 64))
    errors = [
        rel_error(dd_refine(tiny, audio, noise, steps=200, init_strength=s), audio)
        for s in (0.9, 0.98, 0.995)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.1 * errors[0]


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp-2m"])
def test_exact_v_model_recovers_the_init_at_any_strength(sampler: str) -> None:
    """With the true v of x0 (v = (alpha x - x0) / sigma), every x0 guess is x0: checks the algebra."""
    x0 = noise_for(0, (2, 2, 64)) * 0.5

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = t_to_alpha_sigma(t[:, None, None])
        return (alpha * x - x0) / sigma

    for strength in (0.0, 0.5, 0.9):
        out = dd_refine(oracle, x0, noise_for(1, (2, 2, 64)), steps=30, init_strength=strength,
                        sampler=sampler)
        assert torch.allclose(out, x0, atol=1e-5)


@pytest.mark.parametrize("length", [48, 64, 80, 128])
@pytest.mark.parametrize("channels", [1, 2])
def test_output_is_stereo_with_input_length(tiny: DanceUNet, length: int, channels: int) -> None:
    audio = noise_for(0, (2, channels, length)) * 0.3
    out = dd_refine(tiny, audio, noise_for(1, (2, 2, length)), steps=6, init_strength=0.2)
    assert out.shape == (2, 2, length)
    assert torch.isfinite(out).all()


def test_batched_windows_equal_one_at_a_time(tiny: DanceUNet) -> None:
    audio = noise_for(0, (3, 1, 64)) * 0.3
    noise = noise_for(1, (3, 2, 64))
    batched = dd_refine(tiny, audio, noise, steps=10, init_strength=0.3)
    single = torch.cat(
        [
            dd_refine(tiny, audio[i : i + 1], noise[i : i + 1], steps=10, init_strength=0.3)
            for i in range(3)
        ]
    )
    assert torch.allclose(batched, single, rtol=1e-5, atol=1e-5)


def test_to_stereo_duplicates_mono_and_drops_extra_channels() -> None:
    mono = torch.arange(6.0).view(1, 1, 6)
    assert torch.equal(to_stereo(mono), torch.cat([mono, mono], 1))
    surround = torch.randn(1, 4, 6)
    assert torch.equal(to_stereo(surround), surround[:, :2])
    with pytest.raises(DanceInputError):
        to_stereo(torch.zeros(6))


def test_callback_sees_every_step_and_cancel_raises(tiny: DanceUNet) -> None:
    audio = noise_for(0, (1, 1, 64))
    noise = noise_for(1, (1, 2, 64))
    seen: list[int] = []
    dd_refine(
        tiny, audio, noise, steps=10, init_strength=0.3, callback=lambda d: seen.append(d["i"])
    )
    expected_calls = len(refine_timesteps(10, 0.7)) - 1
    assert seen == list(range(expected_calls))
    calls = iter(range(100))
    with pytest.raises(CancelledError):
        dd_refine(
            tiny, audio, noise, steps=10, init_strength=0.3, should_cancel=lambda: next(calls) >= 2
        )


def test_rejects_bad_arguments_with_named_problem(tiny: DanceUNet) -> None:
    audio = torch.zeros(1, 1, 64)
    noise = torch.zeros(1, 2, 64)
    with pytest.raises(ConfigError, match="init_strength"):
        dd_refine(tiny, audio, noise, steps=10, init_strength=1.5)
    with pytest.raises(DanceInputError, match="noise"):
        dd_refine(tiny, audio, torch.zeros(1, 2, 48), steps=10, init_strength=0.5)
    with pytest.raises(DanceInputError, match="pad to 64"):
        dd_refine(tiny, torch.zeros(1, 1, 56), torch.zeros(1, 2, 56), steps=10, init_strength=0.5)


def test_cuda_graph_wrapper_runs_eagerly_off_cuda(tiny: DanceUNet, io: dict) -> None:
    from jbdiff.accel import graphed

    wrapped = graphed(tiny)
    with torch.no_grad():
        assert torch.equal(wrapped(io["fwd_x"], io["fwd_t"]), tiny(io["fwd_x"], io["fwd_t"]))
    audio, noise = io["refine_mono_audio"], io["refine_mono_noise"]
    out = dd_refine(wrapped, audio, noise, steps=24, init_strength=0.3)
    assert rel_error(out, io["refine_mono_out"]) < REL_TOL


# --- the second-order sampler (sampling.diffusion.dd.sampler: dpmpp-2m) ---


def test_dpmpp_is_closer_to_the_exact_ode_than_ddim_on_gaussian_data() -> None:
    """Data N(0, s^2): the ideal denoiser is linear and the ODE's end point is known in closed form."""
    s = 0.3
    audio = noise_for(0, (1, 2, 64)) * s
    noise = noise_for(1, (1, 2, 64))

    def gaussian_v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = t_to_alpha_sigma(t[:, None, None].double())
        denoised = alpha * s**2 * x.double() / (alpha**2 * s**2 + sigma**2)
        return ((alpha * x.double() - denoised) / sigma).float()

    steps, strength = 8, 0.0
    grid = refine_timesteps(steps, 1 - strength).double()
    a0, s0 = t_to_alpha_sigma(grid[-1])
    a1, s1 = t_to_alpha_sigma(grid[1])
    z = (audio * a0 + noise * s0).double() / (a0**2 * s**2 + s0**2).sqrt()
    exact = (a1 * s**2 * z / (a1**2 * s**2 + s1**2).sqrt()).float()
    ddim = dd_refine(gaussian_v, audio, noise, steps=steps, init_strength=strength)
    dpmpp = dd_refine(gaussian_v, audio, noise, steps=steps, init_strength=strength, sampler="dpmpp-2m")
    err_ddim, err_dpmpp = rel_error(ddim, exact), rel_error(dpmpp, exact)
    assert err_dpmpp < 0.5 * err_ddim, (err_dpmpp, err_ddim)


def test_dpmpp_makes_the_same_calls_and_its_first_step_is_ddims(tiny: DanceUNet) -> None:
    audio = noise_for(0, (2, 1, 64)) * 0.3
    noise = noise_for(1, (2, 2, 64))
    one_call = next(x / 100 for x in range(1, 100) if len(refine_timesteps(10, 1 - x / 100)) == 2)
    assert torch.allclose(
        dd_refine(tiny, audio, noise, steps=10, init_strength=one_call, sampler="dpmpp-2m"),
        dd_refine(tiny, audio, noise, steps=10, init_strength=one_call),
        rtol=1e-6, atol=1e-6,
    )
    seen: list[tuple[int, int]] = []
    out = dd_refine(tiny, audio, noise, steps=10, init_strength=0.3, sampler="dpmpp-2m",
                    callback=lambda d: seen.append((d["i"], d["n"])))
    calls = len(refine_timesteps(10, 0.7)) - 1
    assert seen == [(i, calls) for i in range(calls)]
    assert torch.isfinite(out).all() and out.shape == (2, 2, 64)
    assert not torch.allclose(out, dd_refine(tiny, audio, noise, steps=10, init_strength=0.3))
    ticks = iter(range(100))
    with pytest.raises(CancelledError, match="Dance Diffusion"):
        dd_refine(tiny, audio, noise, steps=10, init_strength=0.3, sampler="dpmpp-2m",
                  should_cancel=lambda: next(ticks) >= 2)
    with pytest.raises(ConfigError, match="'euler' is not allowed"):
        dd_refine(tiny, audio, noise, steps=10, init_strength=0.3, sampler="euler")
