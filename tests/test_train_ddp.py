"""DDP through Lightning on CPU (gloo, 2 processes): gradients synchronised (identical weights and EMA on
both ranks), data sharded (different batches per rank), one checkpoint writer, and the checkpoint resumes
on 1 process at the same step with the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.data.synth import write_synth_folder

ROOT = Path(__file__).resolve().parents[1]


def train(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "training.train", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def fingerprints(folder: Path) -> dict[int, dict]:
    return {int(p.stem[4:]): json.loads(p.read_text()) for p in (folder / "fingerprints").glob("rank*.json")}


@pytest.mark.slow
def test_two_process_ddp_then_resume_on_one(tmp_path):
    music = tmp_path / "music"
    write_synth_folder(music, files=4, seconds=2.0)
    common = ["--train-data", str(music), "--config", "tiny", "--jb-level", "2", "--device", "cpu",
              "--batch-size", "2", "--accumulate-grad-batches", "1", "--num-workers", "0", "--progress-bar",
              "false", "--demo-every", "2", "--num-demos", "1", "--demo-seconds", "0.1", "--demo-steps", "2",
              "--val-items", "0", "--lr", "1e-3", "--debug-fingerprints"]
    two = tmp_path / "two"
    res = train([*common, "--ckpt-save-location", str(two), "--devices", "2", "--max-steps", "4",
                 "--ckpt-every", "4"], ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    fp = fingerprints(two)
    assert set(fp) == {0, 1} and fp[0]["world_size"] == 2
    assert fp[0]["model0"] == fp[1]["model0"] and fp[0]["ema0"] == fp[1]["ema0"]  # synchronised
    assert fp[0]["start_model0"] == fp[1]["start_model0"] and fp[0]["model0"] != fp[0]["start_model0"]
    assert len(fp[0]["batches"]) == 4 and all(a != b for a, b in zip(fp[0]["batches"], fp[1]["batches"], strict=True))
    assert fp[0]["items_seen"] == fp[1]["items_seen"] == 4 * 2 * 2
    ckpts = sorted(p.name for p in two.glob("*.ckpt"))
    assert ckpts == ["level2-step00000004.ckpt"]  # one writer
    assert sorted(p.name for p in (two / "demos").glob("*.wav")) == ["level2-step00000002.wav",
                                                                      "level2-step00000004.wav"]
    ckpt = torch.load(two / ckpts[0], weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["jbdiff_train"]["items_seen"] == 16

    one = tmp_path / "one"
    res = train([*common, "--ckpt-save-location", str(one), "--devices", "1", "--max-steps", "5",
                 "--resume-network-pkl", str(two / ckpts[0])], ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    fp1 = fingerprints(one)
    assert set(fp1) == {0} and fp1[0]["world_size"] == 1
    assert fp1[0]["start_step"] == 4 and fp1[0]["global_step"] == 5
    assert fp1[0]["start_model0"] == fp[0]["model0"] and fp1[0]["start_ema0"] == fp[0]["ema0"]
    assert fp1[0]["items_seen"] == 16 + 2


def test_strategy_for_several_processes_is_tuned_ddp():
    from lightning.pytorch.strategies import DDPStrategy

    from training.distributed import make_strategy

    assert make_strategy("auto", 1) == "auto"
    assert make_strategy("ddp_spawn", 2) == "ddp_spawn"     # other Lightning names pass through
    s = make_strategy("auto", 2, static_graph=True)
    assert isinstance(s, DDPStrategy)
    assert s._ddp_kwargs == {"gradient_as_bucket_view": True, "static_graph": True}
    assert make_strategy("ddp", 2)._ddp_kwargs["static_graph"] is False
    assert s._ddp_comm_hook is None
    assert make_strategy("ddp", 4, grad_comm="bf16")._ddp_comm_hook is not None


def test_strategy_rejects_bad_grad_comm():
    from jbdiff.errors import ConfigError
    from training.distributed import make_strategy

    with pytest.raises(ConfigError, match="--grad-comm: 'fp8'.*fp32, bf16"):
        make_strategy("auto", 2, grad_comm="fp8")
    with pytest.raises(ConfigError, match="needs more than one process"):
        make_strategy("auto", 1, grad_comm="bf16")
    with pytest.raises(ConfigError, match="not 'ddp_spawn'"):
        make_strategy("ddp_spawn", 2, grad_comm="bf16")
