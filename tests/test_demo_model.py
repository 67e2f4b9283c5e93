"""The built-in demo model: shipped weights load and verify, generate stereo music-shaped audio."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jbdiff.demo import DEMO_BUNDLE, DEMO_SHA256, MODEL_CARD
from jbdiff.errors import CheckpointError, ConfigError
from jbdiff.model_registry import DEFAULT_MODEL, load_pipeline
from jbdiff.request import GenerationRequest

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_weights_match_their_checksum_and_fit_the_budget() -> None:
    digest = hashlib.sha256(DEMO_BUNDLE.read_bytes()).hexdigest()
    assert digest == DEMO_SHA256
    assert DEMO_BUNDLE.stat().st_size <= 50 * 1000**2
    assert MODEL_CARD.is_file() and "licen" in MODEL_CARD.read_text().lower()


def test_a_corrupted_copy_is_refused(tmp_path: Path) -> None:
    from jbdiff.bundle import load_bundle

    bad = tmp_path / "demo.safetensors"
    data = bytearray(DEMO_BUNDLE.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_bundle(bad, expected_sha256=DEMO_SHA256)


@pytest.fixture(scope="module")
def demo():
    return load_pipeline("demo", device="cpu")


def test_demo_is_the_default_and_every_stage_is_present(demo) -> None:
    assert DEFAULT_MODEL == "demo"
    assert sorted(demo.models.unets) == [0, 1, 2] and demo.models.dance is not None


def test_short_cpu_generation_is_finite_stereo_and_unlike_white_noise(demo) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from quality import flatness, frames_power

    seconds = 1.5
    res = demo.generate(GenerationRequest(seconds_length=seconds, noise_seed=1, dd_noise_seed=2,
                                          num_steps={2: 6, 1: 4, 0: 3, "dd": 6}))
    audio = res.audio
    assert audio.shape == (2, round(seconds * 44100)) and np.isfinite(audio).all()
    assert 1e-4 < float(np.sqrt((audio**2).mean())) < 1.0
    mono = audio.mean(axis=0)
    noise = np.random.default_rng(0).standard_normal(mono.size).astype(np.float32)
    # White noise is spectrally flat (about 0.56); the model's output is shaped like music's.
    assert flatness(frames_power(mono)) < 0.5 * flatness(frames_power(noise))


def test_model_selection_and_unknown_model() -> None:
    with pytest.raises(ConfigError, match=r"model: 'no-such-model' is not a known model"):
        load_pipeline("no-such-model", device="cpu")
    tiny = load_pipeline("tiny", device="cpu")
    assert tiny.models.name == "tiny"


def test_cli_unknown_model_is_a_clean_error(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "jbdiff.cli", "sample", "--model", "nope", "--seconds-length", "1",
                          "--save-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2 and "is not a known model" in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []
