"""bench/quality.py: the latent distances behave as distances, and --level2 runs end to end on CPU."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
quality = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(quality)


def test_frechet_is_zero_for_the_same_sample_and_the_squared_shift_for_a_moved_one() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 6)) @ rng.standard_normal((6, 6))
    assert abs(quality.frechet(a, a)) < 1e-6
    shift = np.array([0.5, -1.0, 0.0, 2.0, 0.0, 0.25])
    assert np.isclose(quality.frechet(a + shift, a), shift @ shift, rtol=1e-6, atol=1e-6)
    wider = quality.frechet(a * 2.0, a)
    assert wider > 1.0  # a different covariance counts even with equal means


def test_frame_stacks_put_consecutive_frames_of_every_channel_in_one_row() -> None:
    lat = np.arange(2 * 9, dtype=np.float32).reshape(2, 9)  # channels 0..8 and 9..17
    rows = quality.frame_stacks(lat, 4)
    assert rows.shape == (2, 8)  # the 9th frame is dropped
    np.testing.assert_array_equal(rows[1], [4, 5, 6, 7, 13, 14, 15, 16])


def _tones(folder: Path) -> None:
    sr = 44100
    t = np.arange(sr) / sr
    for i, f0 in enumerate((220.0, 330.0, 440.0, 550.0)):
        sf.write(folder / f"clip{i}.wav", (0.2 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), sr)


def test_full_generations_and_white_noise_get_latent_distances(tmp_path: Path) -> None:
    _tones(tmp_path)
    out = tmp_path / "table.json"
    assert quality.main(["--real", str(tmp_path), "--model", "tiny", "--seconds", "0.5", "--count", "2",
                         "--level2-steps", "2", "--json", str(out)]) == 0
    table = json.loads(out.read_text())
    assert set(table) == {"real (held-out)", "white noise", "tiny"}
    assert "fd" not in table["real (held-out)"]  # the reference itself is not scored against itself
    assert table["white noise"]["fd"] > 0 and np.isfinite(table["tiny"]["fd4"])


def test_level2_mode_runs_on_the_tiny_model(tmp_path: Path, capsys) -> None:
    _tones(tmp_path)
    out = tmp_path / "table.json"
    assert quality.main(["--real", str(tmp_path), "--model", "tiny", "--level2", "--seconds", "0.5",
                         "--count", "2", "--level2-steps", "2", "--json", str(out)]) == 0
    table = json.loads(out.read_text())
    assert set(table) == {"real (held-out)", "white noise", "real through level 2", "tiny (level 2)"}
    assert table["real through level 2"]["fd"] >= -1e-6 and np.isfinite(table["tiny (level 2)"]["fd4"])
    assert "fd4" in capsys.readouterr().out
