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
