"""`jbdiff train-vqvae`: trains (codebooks follow their EMA), resumes exactly, and its checkpoint is
what `load_vqvae_weights` and `jbdiff train --vqvae` take."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from jbdiff.config import load_config
from jbdiff.errors import ConfigError
from jbdiff.models import build_vqvae
from jbdiff.vqvae.checkpoint import load_vqvae_weights
from training import cli, vqvae_cli
from training.data.synth import write_synth_folder

pytestmark = pytest.mark.filterwarnings("ignore:.*(exists and is not empty|in eval mode|LeafSpec|dirpath has changed)")

COMMON = ("--config tiny --device cpu --num-workers 0 --progress-bar false --sample-length 8192 --batch-size 4 "
          "--lr 1e-3 --demo-every 0 --val-items 8")


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music")
    write_synth_folder(root, files=5, seconds=3.0)
    return root


def run_vq(music: Path, out: Path, extra: str):
    p = argparse.ArgumentParser()
    vqvae_cli.add_arguments(p)
    return vqvae_cli.train(p.parse_args(f"--train-data {music} --ckpt-save-location {out} {COMMON} {extra}".split()))


def test_trains_resumes_exactly_and_loads(music, tmp_path):
    a = run_vq(music, tmp_path / "a", "--max-steps 12 --ckpt-every 6 --demo-every 12 --num-demos 1")
    first = [v for _, v in a.losses[:3]]
    last = [v for _, v in a.losses[-3:]]
    assert sum(last) < sum(first)  # reconstruction + spectral + commit loss falls
    metrics = a.extra["val_metrics"]
    assert set(metrics) == {0, 1, 2} and all(k in metrics[0] for k in ("snr_db", "stft_sc", "stft_logmag"))
    assert (tmp_path / "a" / "demos" / "vqvae-step00000012.wav").is_file()
    b = run_vq(music, tmp_path / "b", f"--max-steps 12 --ckpt-every 6 --resume-network-pkl {tmp_path / 'a'}/vqvae-step00000006.ckpt")
    assert [v for s, v in b.losses] == [v for s, v in a.losses if s >= 6][1:]
    ca = torch.load(a.checkpoint, weights_only=True)
    cb = torch.load(b.checkpoint, weights_only=True)
    assert all(torch.equal(v, cb["state_dict"][k]) for k, v in ca["state_dict"].items())
    assert ca["jbdiff"]["kind"] == "vqvae" and ca["jbdiff"]["hop_lengths"] == [8, 32, 128]
    vq = build_vqvae(load_config("tiny").model.vqvae)
    load_vqvae_weights(vq, a.checkpoint)
    assert torch.equal(vq.bottleneck.level_blocks[0].k, ca["state_dict"]["vqvae.bottleneck.level_blocks.0.k"])
    # ... and a level trains on it: the level checkpoint carries exactly these VQ-VAE weights.
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(f"--train-data {music} --ckpt-save-location {tmp_path / 'l2'} --config tiny --device cpu "
                        f"--num-workers 0 --progress-bar false --jb-level 2 --max-steps 2 --batch-size 2 "
                        f"--demo-every 0 --val-items 0 --vqvae {a.checkpoint}".split())
    level = torch.load(cli.train(args).checkpoint, weights_only=True)["state_dict"]
    assert all(torch.equal(level["vqvae." + k[len("vqvae."):]], v) for k, v in ca["state_dict"].items())


def test_sample_length_must_fit_the_hops(music, tmp_path):
    with pytest.raises(ConfigError, match="multiple of the largest hop"):
        run_vq(music, tmp_path, "--max-steps 1 --sample-length 8200")
