"""`jbdiff train` on tiny shapes and synth music: learning, seed checkpoint layout, exact resume, demos,
our sampler loading the result, and the clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from jbdiff.config import load_config, parse_sampling
from jbdiff.errors import ConfigError, JbdiffError
from jbdiff.level_checkpoint import UNET_ALIASES, level_state_dict_for_save, load_level_unet
from jbdiff.models import build_unet, tiny_models
from jbdiff.pipeline import Pipeline
from jbdiff.request import GenerationRequest
from training import cli
from training.data.errors import DataError
from training.data.synth import write_synth_folder
from training.latents import codec, codes_to_normalised, level_code_bank

# Lightning's notes about reused folders, eval-mode frozen nets and its own deprecations.
pytestmark = pytest.mark.filterwarnings("ignore:.*(exists and is not empty|in eval mode|LeafSpec|dirpath has changed)")

TINY = "--config tiny --device cpu --num-workers 0 --progress-bar false"


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music")
    write_synth_folder(root, files=5, seconds=3.0)
    return root


def parse(line: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p.parse_args(line.split())


def train(music: Path, out: Path, extra: str):
    return cli.train(parse(f"--train-data {music} --ckpt-save-location {out} {TINY} {extra}"))


@pytest.fixture(scope="module")
def level2_run(music, tmp_path_factory):
    out = tmp_path_factory.mktemp("level2")
    res = train(music, out, "--jb-level 2 --max-steps 30 --ckpt-every 15 --demo-every 30 --num-demos 2 "
                "--demo-seconds 0.2 --demo-steps 3 --batch-size 8 --accumulate-grad-batches 1 --lr 2e-3 "
                "--cache-latents true")
    return out, res


def test_level2_learns_and_writes_seed_layout_checkpoints(level2_run):
    out, res = level2_run
    assert res.global_step == 30
    assert res.extra["val_loss"] < 0.95 * res.extra["val_loss_start"]
    assert sorted(p.name for p in out.glob("*.ckpt")) == ["level2-step00000015.ckpt", "level2-step00000030.ckpt"]
    ckpt = torch.load(res.checkpoint, map_location="cpu", weights_only=True)  # plain data only
    state = ckpt["state_dict"]
    prefixes = {next(a for a in (*UNET_ALIASES, "vqvae.") if k.startswith(a)) for k in state}
    assert prefixes == {*UNET_ALIASES, "vqvae."}
    names = {k[len(UNET_ALIASES[0]):] for k in state if k.startswith(UNET_ALIASES[0])}
    for alias in UNET_ALIASES[1:]:
        assert all(torch.equal(state[UNET_ALIASES[0] + n], state[alias + n]) for n in names)
    assert ckpt["jbdiff"]["kind"] == "level" and ckpt["jbdiff"]["level"] == 2
    assert ckpt["jbdiff"]["model_config"]["vqvae"]["base_tokens"] == 32
    # The EMA net is what the sampler reads; the trained net rides along for resuming.
    raw = ckpt["jbdiff_train"]["unet"]
    assert set(raw) == names and any(not torch.equal(raw[n], state[UNET_ALIASES[0] + n]) for n in names)
    assert ckpt["global_step"] == 30


def test_level2_demo_wav_and_png_written(level2_run):
    out, _ = level2_run
    wav = out / "demos" / "level2-step00000030.wav"
    audio, sr = sf.read(wav)
    assert sr == 44100 and audio.shape[1] == 2 and np.isfinite(audio).all() and np.abs(audio).max() > 0
    # 2 items x (context 2 * 4096 + ceil(0.2 s / 4096 samples) = 3 windows) plus a quarter-second gap each
    assert audio.shape[0] == 2 * (2 * 4096 + 3 * 4096 + 44100 // 4)
    assert (out / "demos" / "level2-step00000030.png").stat().st_size > 1000


def test_our_sampler_loads_the_trained_checkpoint_and_generates(level2_run):
    _, res = level2_run
    cfg = load_config("tiny")
    sampling = parse_sampling({"diffusion": {2: {"num_steps": 3, "embedding_strength": 2.0,
                                                 "ckpt_loc": str(res.checkpoint)}}})
    pipe = Pipeline.from_config(cfg.model, sampling, "cpu")
    ckpt = torch.load(res.checkpoint, map_location="cpu", weights_only=True)
    ema = {k[len("diffusion.net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("diffusion.net.")}
    assert all(torch.equal(pipe.models.unets[2].state_dict()[k], v) for k, v in ema.items())
    out = pipe.generate(GenerationRequest(seconds_length=0.5, levels="2", use_dd=False, noise_seed=3,
                                          dd_noise_seed=4))
    assert out.audio.shape == (2, 22050) and np.isfinite(out.audio).all() and np.abs(out.audio).max() > 0


def test_resume_gives_the_same_loss_curve_and_weights(music, tmp_path):
    common = ("--jb-level 1 --max-steps 8 --ckpt-every 4 --demo-every 0 --batch-size 3 "
              "--accumulate-grad-batches 2 --lr 1e-3 --val-items 0")
    a = train(music, tmp_path / "a", common)
    b = train(music, tmp_path / "b", f"{common} --resume-network-pkl {tmp_path / 'a' / 'level1-step00000004.ckpt'}")
    assert b.losses[0][0] == 4 and a.global_step == b.global_step == 8
    resumed = [v for s, v in a.losses if s >= 4][1:]  # the row at step 4 closes the first run's window
    assert [v for _, v in b.losses] == resumed
    ca = torch.load(a.checkpoint, weights_only=True)
    cb = torch.load(b.checkpoint, weights_only=True)
    for part in (ca["state_dict"], ca["jbdiff_train"]["unet"]):
        other = cb["state_dict"] if part is ca["state_dict"] else cb["jbdiff_train"]["unet"]
        assert all(torch.equal(v, other[k]) for k, v in part.items())
    assert ca["jbdiff_train"]["items_seen"] == cb["jbdiff_train"]["items_seen"] == 16 * 3


def test_cached_latents_equal_the_samplers_encoding(music):
    models = tiny_models(0)
    cfg = models.model_cfg
    audio = sf.read(next(music.glob("*.wav")), dtype="float32")[0].T  # [2, T]
    bank = level_code_bank(models.vqvae, cfg, 1, [audio])
    cod = codec(models.vqvae, cfg)
    prefix = bank.seg_lo[0] * 32
    stream = torch.zeros(1, bank.arrays["x"].numel() * 32)
    stream[0, prefix:prefix + audio.shape[1]] = torch.from_numpy(audio.mean(0))
    with torch.inference_mode():  # as the pipeline runs
        expect = cod.encode(1, stream)
        noise = cod.encode(1, cod.decode(2, cod.encode(2, stream)))
        got = codes_to_normalised(models.vqvae, 1, bank.arrays["x"][None])
        got_noise = codes_to_normalised(models.vqvae, 1, bank.arrays["noise"][None])
    assert torch.equal(got, expect) and torch.equal(got_noise, noise)


def test_warm_start_from_a_seed_checkpoint(music, tmp_path):
    cfg = load_config("tiny").model
    unet = build_unet(cfg.diffusion[2], cfg.embedding_max_length(2))
    seed_like = tmp_path / "epoch=1-step=10.ckpt"
    torch.save({"state_dict": level_state_dict_for_save(unet, tiny_models(0).vqvae.state_dict())}, seed_like)
    res = train(music, tmp_path / "out", f"--jb-level 2 --max-steps 2 --demo-every 0 --batch-size 2 "
                f"--accumulate-grad-batches 1 --val-items 0 --resume-network-pkl {seed_like}")
    assert res.global_step == 2 and res.losses[0][0] in (0, 1)
    trained = build_unet(cfg.diffusion[2], cfg.embedding_max_length(2))
    load_level_unet(trained, str(res.checkpoint))
    with torch.no_grad():
            moved = sum(float((a - b).abs().sum()) for a, b in zip(trained.parameters(), unet.parameters(), strict=True))
    assert 0 < moved < 1e3


@pytest.mark.parametrize("case", ["empty", "unreadable", "short"])
def test_clear_data_errors(case, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    if case == "unreadable":
        (root / "broken.wav").write_bytes(b"RIFF not really a wave file")
        (root / "notes.txt").write_text("hello")
    elif case == "short":
        write_synth_folder(root, files=3, seconds=0.05)
    with pytest.raises(DataError) as err:
        train(root, tmp_path / "out", "--jb-level 2 --max-steps 1")
    message = str(err.value)
    expected = {"empty": "holds no audio files", "unreadable": "no readable audio", "short": "shorter than one chunk"}
    assert expected[case] in message
    if case == "short":
        assert "minimum length is 0.093 s" in message


def test_level_without_vqvae_weights_is_an_error(music, tmp_path):
    with pytest.raises(ConfigError, match="needs VQ-VAE weights: pass --vqvae"):
        cli.train(parse(f"--train-data {music} --ckpt-save-location {tmp_path} --config jbdiff-v1 "
                        f"--device cpu --jb-level 2 --max-steps 1"))


def test_cuda_requested_but_absent_fails_before_work(music, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from jbdiff.cli import main

    code = main(["train", "--train-data", str(music), "--ckpt-save-location", str(tmp_path / "x"), "--config",
                 "tiny", "--jb-level", "2", "--device", "cuda"])
    assert code == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_flags(music, tmp_path):
    a = parse(f"--train-data {music} --ckpt-save-location {tmp_path} --jb-level 0 --log-to-wandb no "
              f"--cache-latents yes")
    assert a.log_to_wandb is False and a.cache_latents is True and a.lr is None
    s = cli.settings_from(a)
    assert (s.batch_size, s.lr, s.run.accumulate) == (32, 4e-5, 4)  # the seed's values
    with pytest.raises(SystemExit):
        parse(f"--train-data {music} --ckpt-save-location {tmp_path} --jb-level 3")
    with pytest.raises(ConfigError, match="--jb-level: required"):
        cli.settings_from(parse(f"--train-data {music} --ckpt-save-location {tmp_path}"))
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(JbdiffError, match="needs the wandb package"):
            train(music, tmp_path / "w", "--jb-level 2 --max-steps 1 --log-to-wandb true")


def test_time_budget_stops_at_an_optimizer_step(music, tmp_path):
    res = train(music, tmp_path, "--jb-level 2 --max-time 1 --demo-every 0 --batch-size 2 "
                "--accumulate-grad-batches 2 --val-items 0")
    assert res.global_step > 0 and len(res.losses) == 2 * res.global_step  # whole accumulation windows
    assert res.seconds < 30 and res.checkpoint.name == f"level2-step{res.global_step:08d}.ckpt"
