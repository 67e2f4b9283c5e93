"""The console command: help for every subcommand, info on CPU, pending commands fail loudly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jbdiff.cli import COMMANDS, main
from jbdiff.commands.args import str2bool

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jbdiff.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_top_level_help() -> None:
    res = run_cli("--help")
    assert res.returncode == 0
    for cmd in COMMANDS:
        assert cmd.name in res.stdout


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_every_subcommand_has_help(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: jbdiff " + name in capsys.readouterr().out


def test_info_runs_on_cpu() -> None:
    res = run_cli("info", "--device", "cpu", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["device"].startswith("cpu")
    assert info["torch"] and info["jbdiff"]
    assert info["model_config"]["vqvae"]["base_tokens"] == 768
    assert info["model"] == "demo" and "default" in info["model_reason"] and info["model_sha256"]
    assert "jbdiff-v1-level2" in info["checkpoints"] and info["checkpoint_cache"]


def test_info_rejects_missing_cuda_cleanly() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this check needs a machine without CUDA")
    res = run_cli("info", "--device", "cuda")
    assert res.returncode == 2
    assert "CUDA is not available" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("text,value", [("true", True), ("Yes", True), ("1", True), ("false", False),
                                        ("no", False), ("0", False)])
def test_str2bool(text: str, value: bool) -> None:
    assert str2bool(text) is value


def test_str2bool_rejects_garbage() -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        str2bool("maybe")


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--context-audio", "missing.wav"], 1, "not found"),
        (["--levels", "3"], 2, "levels: 3 is not a level"),
        (["--seconds-length", "-2"], 2, "seconds_length: -2.0 is out of range"),
        (["--init-strength", "1.5"], 2, "init_strength: 1.5 is out of range"),
        (["--use-dd", "maybe"], 2, "expected a boolean"),
    ],
)
def test_sample_bad_inputs_fail_cleanly_and_write_nothing(tmp_path: Path, args, code, message) -> None:
    out = tmp_path / "out"
    res = run_cli("sample", "--model", "tiny", "--device", "cpu", "--save-dir", str(out), *args)
    assert res.returncode == code, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_sample_zero_length_init_audio(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1), np.float32), 44100)
    out = tmp_path / "out"
    res = run_cli("sample", "--model", "tiny", "--device", "cpu", "--save-dir", str(out), "--init-audio", str(empty))
    assert res.returncode == 1 and "holds no audio" in res.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_sample_with_tiny_model_writes_the_result_folder(tmp_path: Path) -> None:
    res = run_cli("sample", "--model", "tiny", "--device", "cpu", "--save-dir", str(tmp_path), "--seconds-length",
                  "0.5", "--noise-seed", "3", "--dd-noise-seed", "4", "--use-dd", "no", "--spectrograms", "false")
    assert res.returncode == 0, res.stderr
    folder = tmp_path / "JBDiffusion_00000003_00000004"
    assert sorted(p.name for p in folder.iterdir()) == ["final_audio.wav", "generation.json", "level_0.wav",
                                                        "level_1.wav", "level_2.wav"]


def test_sample_plain_flag_records_the_plain_path(tmp_path: Path) -> None:
    import json

    res = run_cli("-q", "sample", "--model", "tiny", "--device", "cpu", "--plain", "--seconds-length", "0.5",
                  "--save-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    meta = json.loads(next(tmp_path.glob("*/generation.json")).read_text())
    assert meta["fast_path"] == {"bf16": False, "cuda_graphs": False, "channels_last": False, "compile": "off",
                                 "dd_taps": False, "dd_fast_weights": False, "dd_gemm_max_len": 0,
                                 "dd_batch1_tuning": False}


def test_sample_refuses_plain_with_compile_and_unknown_compile_modes() -> None:
    both = run_cli("sample", "--plain", "--compile", "default")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    bad = run_cli("sample", "--compile", "turbo")
    assert bad.returncode == 2 and "--compile" in bad.stderr and "max-autotune" in bad.stderr
