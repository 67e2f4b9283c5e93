"""The generation pipeline on the tiny random-weight models: every flag does what it says."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jbdiff.audio import SAMPLE_RATE, save_wav
from jbdiff.errors import AudioFileNotFound, AudioTooShort, CancelledError, ConfigError
from jbdiff.outputs import write_outputs
from jbdiff.pipeline import Pipeline
from jbdiff.request import GenerationRequest

FAST = {"num_steps": {2: 2, 1: 2, 0: 1, "dd": 2}}


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.tiny(device="cpu", seed=0)


def req(**kw) -> GenerationRequest:
    base = dict(seconds_length=1.0, noise_seed=1, dd_noise_seed=2, **FAST)
    base.update(kw)
    return GenerationRequest(**base)


def music(seconds: float, sr: int = SAMPLE_RATE, channels: int = 2) -> np.ndarray:
    """A few notes with harmonics and decays (not a pure tone)."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for i, f in enumerate([220.0, 277.2, 329.6, 440.0]):
        start = i * seconds / 4
        env = np.where(t >= start, np.exp(-(t - start) * 3.0), 0.0)
        out += env * sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
    out = 0.3 * out / np.abs(out).max()
    return np.stack([out * (1 - 0.2 * c) for c in range(channels)]).astype(np.float32)


def test_output_length_is_exact_for_odd_lengths(pipe: Pipeline) -> None:
    res = pipe.generate(req(seconds_length=3.7, levels="2", use_dd=True))
    assert res.audio.shape == (2, round(3.7 * SAMPLE_RATE))
    assert res.audio.dtype == np.float32 and np.isfinite(res.audio).all()
    assert res.level_audio[2].shape == (1, round(3.7 * SAMPLE_RATE))


def test_same_seeds_same_audio_bit_for_bit(pipe: Pipeline) -> None:
    a = pipe.generate(req(levels="21"))
    b = pipe.generate(req(levels="21"))
    assert np.array_equal(a.audio, b.audio)
    c = pipe.generate(req(levels="21", noise_seed=99))
    assert not np.array_equal(a.level_audio[2], c.level_audio[2])
    d = pipe.generate(req(levels="21", dd_noise_seed=99))
    assert np.array_equal(a.level_audio[1], d.level_audio[1]) and not np.array_equal(a.audio, d.audio)


def test_missing_seeds_are_drawn_and_reported(pipe: Pipeline) -> None:
    res = pipe.generate(req(noise_seed=None, dd_noise_seed=None, levels="2"))
    assert res.request.noise_seed is not None and res.request.dd_noise_seed is not None
    again = pipe.generate(req(noise_seed=res.request.noise_seed, dd_noise_seed=res.request.dd_noise_seed, levels="2"))
    assert np.array_equal(res.audio, again.audio)


@pytest.mark.parametrize("levels,expected", [("012", [2, 1, 0]), ("12", [2, 1]), ("2", [2]), ("02", [2, 0]), ("1", [1])])
def test_level_subsets(pipe: Pipeline, levels: str, expected: list[int]) -> None:
    res = pipe.generate(req(levels=levels, use_dd=False))
    assert sorted(res.level_audio, reverse=True) == expected
    assert res.metadata["windows"].keys() == {str(lv) for lv in expected}
    # Without the stereo stage the result is the finest level on both channels.
    assert np.array_equal(res.audio[0], res.level_audio[expected[-1]][0])
    assert np.array_equal(res.audio[0], res.audio[1])


def test_windows_follow_token_multiplier(pipe: Pipeline) -> None:
    # tiny: base_tokens 32, level 2 hop 128: one window = tm * 4096 samples.
    one = pipe.generate(req(seconds_length=1.0, levels="21", token_multiplier=1, use_dd=False))
    two = pipe.generate(req(seconds_length=1.0, levels="21", token_multiplier=2, use_dd=False))
    assert one.metadata["windows"] == {"2": 11, "1": 44}
    assert two.metadata["windows"] == {"2": 6, "1": 24}
    assert not np.array_equal(one.level_audio[2], two.level_audio[2])


def test_init_audio_sets_length_and_strength_one_keeps_it(pipe: Pipeline, tmp_path: Path) -> None:
    init = tmp_path / "init.wav"
    save_wav(init, music(1.3), subtype="FLOAT")
    res = pipe.generate(req(init_audio=str(init), init_strength=0.5, levels="2", use_dd=False))
    assert res.audio.shape[1] == round(1.3 * SAMPLE_RATE)
    keep = pipe.generate(req(init_audio=str(init), init_strength=1.0, levels="2", use_dd=False))
    # strength 1: the level-2 result is the init's own VQ-VAE reconstruction.
    recon = pipe.models.decode(2, pipe.models.encode(2, _mono(init)))
    n = keep.audio.shape[1]
    assert np.allclose(keep.level_audio[2][0], recon.numpy()[0, :n], atol=1e-5)
    noisy = pipe.generate(req(init_audio=str(init), init_strength=0.0, levels="2", use_dd=False))
    assert not np.allclose(noisy.audio, keep.audio)


def _mono(path: Path):
    import torch

    from jbdiff.audio import load_audio
    from jbdiff.windows import plan_generation

    x = load_audio(path, channels=1)[0]
    plan = plan_generation((2,), x.size, 32, 2, 2)
    return torch.from_numpy(np.pad(x, (0, plan.padded_samples - x.size)))[None]


def test_context_changes_the_result(pipe: Pipeline, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx.wav"
    save_wav(ctx, music(2.0), subtype="FLOAT")
    silent = pipe.generate(req(levels="2", use_dd=False))
    with_ctx = pipe.generate(req(levels="2", use_dd=False, context_audio=str(ctx)))
    assert not np.allclose(silent.audio, with_ctx.audio)
    # A guidance scale of 0 ignores the context entirely.
    s0 = pipe.generate(req(levels="2", use_dd=False, embedding_strength={2: 0.0}))
    c0 = pipe.generate(req(levels="2", use_dd=False, context_audio=str(ctx), embedding_strength={2: 0.0}))
    assert np.allclose(s0.audio, c0.audio, atol=1e-6)


def test_update_lowest_context_slides_over_generated_audio(pipe: Pipeline, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx.wav"
    save_wav(ctx, music(2.0), subtype="FLOAT")
    fixed = pipe.generate(req(levels="2", use_dd=False, seconds_length=0.5, context_audio=str(ctx)))
    sliding = pipe.generate(req(levels="2", use_dd=False, seconds_length=0.5, context_audio=str(ctx),
                                update_lowest_context=True))
    w = 2 * 32 * 128  # one tiny level-2 window (token multiplier 2)
    # The first window sees the same context either way; later windows see generated audio.
    # (Its last samples may differ: the decoder also sees the start of the next window.)
    assert np.allclose(fixed.audio[:, : w // 2], sliding.audio[:, : w // 2], atol=1e-5)
    assert not np.allclose(fixed.audio[:, w:], sliding.audio[:, w:], atol=1e-4)


def test_dd_crossfade_has_no_discontinuity(pipe: Pipeline) -> None:
    from jbdiff.windows import plan_dance_windows

    pipe.options.dd_window = 4096
    try:
        res = pipe.generate(req(seconds_length=0.6, levels="2"))
    finally:
        pipe.options.dd_window = 65536
    win = plan_dance_windows(res.audio.shape[1], 4096, 256, pipe.models.dance.length_multiple)
    assert len(win.starts) > 2
    steps = np.abs(np.diff(res.audio, axis=1))
    typical = np.percentile(steps, 99.9)
    for s in win.starts[1:]:
        for edge in (s - 1, s, s + win.overlap - 1, s + win.overlap):
            assert steps[:, edge].max() <= max(typical * 1.5, 1e-3)


def test_cancel_stops_within_a_step_and_writes_nothing(pipe: Pipeline, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen = []

    def progress(stage, level, step, total):
        seen.append((stage, level, step))
        if stage == "level" and step == 1:
            cancel.set()

    with pytest.raises(CancelledError):
        pipe.generate(req(levels="21", num_steps={2: 20, 1: 2, 0: 1, "dd": 2}), progress=progress, cancel=cancel)
    assert max(s for st, lv, s in seen if st == "level") <= 2
    assert list(tmp_path.iterdir()) == []


def test_progress_is_monotone_per_stage(pipe: Pipeline) -> None:
    events = []
    pipe.generate(req(levels="210"), progress=lambda *e: events.append(e))
    stages = [e[:2] for e in events]
    assert stages[0] == ("level", 2) and ("dd", None) in stages and stages[-1] == ("done", None)
    for key in {s for s in stages}:
        steps = [e[2] for e in events if e[:2] == key]
        assert steps == sorted(steps) and steps[-1] == [e[3] for e in events if e[:2] == key][-1]


def test_write_outputs_layout_and_generation_json(pipe: Pipeline, tmp_path: Path) -> None:
    res = pipe.generate(req(levels="210", project_name="song"))
    out = write_outputs(res, tmp_path, "song")
    assert out.name == "song_00000001_00000002"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["final_audio.wav", "final_audio.png", "generation.json"]
                           + [f"level_{lv}.{ext}" for lv in (0, 1, 2) for ext in ("wav", "png")])
    info = sf.info(str(out / "final_audio.wav"))
    assert (info.channels, info.samplerate, info.frames) == (2, SAMPLE_RATE, SAMPLE_RATE)
    meta = json.loads((out / "generation.json").read_text())
    for key in ("request", "checkpoints", "jbdiff_version", "torch_version", "timings", "num_steps",
                "embedding_strength", "model_config", "sampling_config", "device", "files"):
        assert key in meta
    assert meta["request"]["noise_seed"] == 1 and meta["request"]["dd_noise_seed"] == 2
    assert {"level2", "level1", "level0", "dd", "total"} <= meta["timings"].keys()
    again = write_outputs(res, tmp_path, "song")
    assert again.name == "song_00000001_00000002_0000"  # the seed numbers repeats from 0000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_any_input_rate_and_channels(pipe: Pipeline, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx48k.flac"
    x = music(1.0, sr=48000, channels=6)
    sf.write(str(ctx), x.T, 48000, format="FLAC")
    res = pipe.generate(req(levels="2", context_audio=str(ctx), use_dd=False))
    assert res.audio.shape == (2, SAMPLE_RATE)


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(context_audio="missing.wav"), AudioFileNotFound, "not found"),
        (dict(levels="3"), ConfigError, "levels"),
        (dict(seconds_length=-1.0), ConfigError, "seconds_length"),
        (dict(init_strength=1.2), ConfigError, "init_strength"),
    ],
)
def test_bad_inputs(pipe: Pipeline, kw, err, match) -> None:
    with pytest.raises(err, match=match):
        pipe.generate(req(**kw))


def test_zero_length_init(pipe: Pipeline, tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1), np.float32), SAMPLE_RATE)
    with pytest.raises(AudioTooShort):
        pipe.generate(req(init_audio=str(empty)))


class Live(dict):
    """A live-value store like the server's: plain dict get()."""


def test_live_guidance_reaches_the_running_generation(pipe: Pipeline) -> None:
    base = dict(levels="2", use_dd=False, num_steps={2: 6}, embedding_strength={2: 2.0})
    fixed = pipe.generate(req(**base))
    same = pipe.generate(req(**base), live=Live(embedding_strength={2: 2.0}))
    assert np.array_equal(fixed.audio, same.audio)
    live = Live(embedding_strength={2: 2.0})
    seen = []

    def progress(stage, level, step, total):
        seen.append(step)
        if stage == "level" and step == 3:
            live["embedding_strength"] = {2: 6.0}

    changed = pipe.generate(req(**base), progress=progress, live=live)
    assert not np.array_equal(fixed.audio, changed.audio)
    # Setting 6.0 from the start differs again: the change took effect part-way through.
    from_start = pipe.generate(req(**{**base, "embedding_strength": {2: 6.0}}))
    assert not np.array_equal(from_start.audio, changed.audio)


def test_live_dd_noise_step_applies_to_windows_not_yet_started(pipe: Pipeline) -> None:
    pipe.options.dd_window, pipe.options.dd_batch = 4096, 2
    try:
        base = dict(levels="2", seconds_length=0.6, dd_noise_style="walk", dd_noise_step_size=0.1)
        fixed = pipe.generate(req(**base))
        live = Live(dd_noise_step_size=0.1)

        def progress(stage, level, step, total):
            if stage == "dd":
                live["dd_noise_step_size"] = 0.9

        changed = pipe.generate(req(**base), progress=progress, live=live)
    finally:
        pipe.options.dd_window, pipe.options.dd_batch = 65536, 4
    n = 4096 - 256  # the first batch of two windows is untouched up to its second window's start
    assert np.array_equal(fixed.audio[:, :n], changed.audio[:, :n])
    assert not np.array_equal(fixed.audio, changed.audio)


def test_draft_quality_runs_end_to_end_with_fewer_steps(pipe: Pipeline) -> None:
    steps = {2: 8, 1: 4, 0: 4, "dd": 8}
    events: list[tuple] = []
    draft = pipe.generate(req(levels="210", quality="draft", num_steps={}), progress=lambda *e: events.append(e))
    assert draft.audio.shape == (2, 44100) and np.isfinite(draft.audio).all()
    assert draft.metadata["num_steps"]["2"] == 1  # tiny config: 3 steps -> ceil(3 / 4)
    standard = pipe.generate(req(levels="210", num_steps=steps))
    assert not np.array_equal(draft.audio, standard.audio)


def test_a_levels_sampler_setting_picks_dpmpp_2m_as_the_draft_preset_does() -> None:
    import dataclasses

    pipe = Pipeline.tiny(device="cpu", seed=0)
    cfg = pipe.models.sampling_cfg.diffusion
    base = dict(levels="2", use_dd=False, num_steps={})
    cfg[2] = dataclasses.replace(cfg[2], num_steps=16)
    draft = pipe.generate(req(quality="draft", **base))            # 4 steps of DPM-Solver++(2M)
    cfg[2] = dataclasses.replace(cfg[2], num_steps=4)
    ddim = pipe.generate(req(**base))
    cfg[2] = dataclasses.replace(cfg[2], sampler="dpmpp-2m")
    second_order = pipe.generate(req(**base))
    assert draft.metadata["num_steps"]["2"] == second_order.metadata["num_steps"]["2"] == 4
    assert np.array_equal(second_order.level_audio[2], draft.level_audio[2])
    assert not np.array_equal(second_order.level_audio[2], ddim.level_audio[2])
    assert second_order.metadata["sampling_config"]["diffusion"][2]["sampler"] == "dpmpp-2m"


def test_the_stereo_stages_sampler_setting_reaches_dd_refine() -> None:
    import dataclasses

    pipe = Pipeline.tiny(device="cpu", seed=0)
    diffusion = pipe.models.sampling_cfg.diffusion
    base = dict(levels="0", num_steps={0: 2, "dd": 10})
    ddim = pipe.generate(req(**base))
    diffusion["dd"] = dataclasses.replace(pipe.models.sampling_cfg.dd, sampler="dpmpp-2m")
    second_order = pipe.generate(req(**base))
    assert np.array_equal(second_order.level_audio[0], ddim.level_audio[0])
    assert second_order.audio.shape == ddim.audio.shape and np.isfinite(second_order.audio).all()
    assert not np.array_equal(second_order.audio, ddim.audio)
    assert second_order.metadata["sampling_config"]["diffusion"]["dd"]["sampler"] == "dpmpp-2m"
    assert ddim.metadata["sampling_config"]["diffusion"]["dd"]["sampler"] == "ddim"


def test_cfg_mixed_outside_the_network_equals_the_unets_own_guidance(pipe: Pipeline) -> None:
    import torch

    unet = pipe.models.unets[2]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 64, generator=g)
    emb = torch.randn(3, 64, 16, generator=g)
    sigma = torch.full((3,), 0.7)
    with torch.no_grad():
        cond, uncond = unet.guidance_branches(x, sigma, emb).chunk(2)
        mixed = uncond + (cond - uncond) * 3.0
        direct = unet(x, sigma, embedding=emb, embedding_scale=3.0)
    assert torch.allclose(mixed, direct, atol=1e-6)


def test_gpu_options_fall_back_to_the_plain_path_on_cpu(pipe: Pipeline) -> None:
    from jbdiff.pipeline import PipelineOptions

    plain = pipe.generate(req(levels="21"))
    saved = pipe.options
    pipe.options = PipelineOptions(bf16=True, cuda_graphs=True, level_batch=3, dd_batch=1)
    try:
        fast = pipe.generate(req(levels="21"))
    finally:
        pipe.options = saved
    # Smaller batches and the GPU switches change nothing on the CPU: same numbers within rounding.
    assert np.allclose(plain.audio, fast.audio, atol=1e-5)


def test_fast_path_is_the_cuda_default_and_plain_switches_it_off(monkeypatch) -> None:
    import torch

    from jbdiff.pipeline import PipelineOptions

    cuda = PipelineOptions.for_device(torch.device("cuda"))
    assert cuda.bf16 and cuda.cuda_graphs and cuda.channels_last and cuda.fast
    plain = cuda.plain()
    assert not plain.fast and plain.level_batch == cuda.level_batch and plain.dd_batch == cuda.dd_batch
    assert not PipelineOptions.for_device(torch.device("cpu")).fast
    monkeypatch.setenv("JBDIFF_PLAIN", "1")
    assert not PipelineOptions.for_device(torch.device("cuda")).fast
