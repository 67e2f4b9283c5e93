"""`jbdiff train --stage dd`: the stereo stage trains, resumes exactly (Sobol draws included), writes
sample-generator's checkpoint layout, and load_dance_weights reads it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from jbdiff.config import load_config
from jbdiff.dance.checkpoint import load_dance_weights
from jbdiff.errors import ConfigError
from jbdiff.models import build_dance
from training import cli
from training.data.synth import write_synth_folder

pytestmark = pytest.mark.filterwarnings("ignore:.*(exists and is not empty|in eval mode|LeafSpec|dirpath has changed)")

COMMON = ("--stage dd --config tiny --device cpu --num-workers 0 --progress-bar false --sample-length 8192 "
          "--batch-size 2 --accumulate-grad-batches 1 --lr 1e-3 --val-items 4")


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music")
    write_synth_folder(root, files=4, seconds=2.0)
    return root


def run_dd(music: Path, out: Path, extra: str):
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return cli.train(p.parse_args(f"--train-data {music} --ckpt-save-location {out} {COMMON} {extra}".split()))


@pytest.mark.parametrize("cache_audio", ["false", "true"])
def test_dd_trains_resumes_and_loads(music, tmp_path, cache_audio):
    extra = f"--cache-audio {cache_audio} --max-steps 6 --ckpt-every 3"
    a = run_dd(music, tmp_path / "a", f"{extra} --demo-every 6 --num-demos 1 --demo-steps 2")
    b = run_dd(music, tmp_path / "b", f"{extra} --demo-every 0 --resume-network-pkl {tmp_path / 'a'}")
    # resuming from a folder takes its newest checkpoint (step 6): nothing left to do
    assert b.global_step == 6 and b.losses == []
    c = run_dd(music, tmp_path / "c", f"{extra} --demo-every 0 "
               f"--resume-network-pkl {tmp_path / 'a' / 'dd-step00000003.ckpt'}")
    assert [v for _, v in c.losses] == [v for s, v in a.losses if s >= 4]
    ckpt = torch.load(a.checkpoint, weights_only=True)
    keys = set(ckpt["state_dict"])
    assert {k.split(".")[0] for k in keys} == {"diffusion", "diffusion_ema"}
    assert ckpt["jbdiff"]["kind"] == "dd"
    net = build_dance(load_config("tiny").model.dd)
    load_dance_weights(net, str(a.checkpoint))  # EMA copy, as the sampler loads it
    ema = {k[len("diffusion_ema."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("diffusion_ema.")}
    assert all(torch.equal(net.state_dict()[k], v) for k, v in ema.items())
    assert "val_loss" in a.extra and np.isfinite(a.extra["val_loss"])
    audio, sr = sf.read(tmp_path / "a" / "demos" / "dd-step00000006.wav")
    assert sr == 44100 and audio.shape == (3 * 8192 + 44100 // 4, 2) and np.isfinite(audio).all()


def test_dd_sample_length_must_suit_the_net(music, tmp_path):
    with pytest.raises(ConfigError, match="Dance Diffusion needs a multiple of 128"):
        run_dd(music, tmp_path, "--max-steps 1 --sample-length 8000")


def test_same_seed_same_run_other_seed_other_weights(music, tmp_path):
    runs = {name: run_dd(music, tmp_path / name, f"--max-steps 2 --demo-every 0 --val-items 0 --seed {seed}")
            for name, seed in (("a", 0), ("b", 0), ("c", 1))}
    weights = {name: torch.load(r.checkpoint, weights_only=True)["state_dict"] for name, r in runs.items()}
    assert [v for _, v in runs["a"].losses] == [v for _, v in runs["b"].losses]
    assert all(torch.equal(v, weights["b"][k]) for k, v in weights["a"].items())
    assert not all(torch.equal(v, weights["c"][k]) for k, v in weights["a"].items())
