"""Audio I/O and audio math: round trips, resampling, channel rules, crossfades, atomic writes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jbdiff import audio
from jbdiff.errors import AudioDecodeError, AudioFileNotFound, AudioNotFinite, AudioTooShort

SR = audio.SAMPLE_RATE


def tone(freq: float, seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x * (0.9 ** c) for c in range(channels)])


def peak_frequency(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


def test_float_round_trip_is_bit_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(2, 4410)).astype(np.float32)
    p = audio.save_wav(tmp_path / "f.wav", x, subtype="FLOAT")
    y = audio.load_audio(p)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.array_equal(x, y)


def test_pcm24_round_trip_within_one_lsb(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.99, 0.99, size=(2, 4410)).astype(np.float32)
    p = audio.save_wav(tmp_path / "i.wav", x, subtype="PCM_24")
    assert sf.info(str(p)).subtype == "PCM_24"
    y = audio.load_audio(p)
    assert np.max(np.abs(x - y)) <= 1.0 / 2**23 + 1e-9


@pytest.mark.parametrize("sr_in", [48000, 22050])
def test_resample_to_44k_keeps_length_and_frequency(tmp_path: Path, sr_in: int) -> None:
    x = tone(1000.0, 2.0, sr=sr_in)
    path = tmp_path / f"t{sr_in}.wav"
    sf.write(str(path), x.T, sr_in, subtype="FLOAT")
    y = audio.load_audio(path)
    assert abs(y.shape[1] - round(2.0 * SR)) <= 1
    assert abs(peak_frequency(y[0], SR) - 1000.0) < 2.0


def test_int16_file_reads_as_float(tmp_path: Path) -> None:
    x = tone(440.0, 0.5)
    path = tmp_path / "pcm16.wav"
    sf.write(str(path), x.T, SR, subtype="PCM_16")
    y = audio.load_audio(path)
    assert y.dtype == np.float32 and np.max(np.abs(x - y)) < 1.0 / 2**14


def test_mono_stays_mono_and_converts_to_stereo(tmp_path: Path) -> None:
    x = tone(440.0, 0.2)
    path = tmp_path / "m.wav"
    sf.write(str(path), x.T, SR, subtype="FLOAT")
    assert audio.load_audio(path).shape[0] == 1
    st = audio.load_audio(path, channels=2)
    assert st.shape[0] == 2 and np.array_equal(st[0], st[1]) and np.array_equal(st[0], x[0])


def test_stereo_to_mono_is_the_mean() -> None:
    x = np.stack([np.ones(10, np.float32), np.zeros(10, np.float32)])
    assert np.allclose(audio.to_channels(x, 1), 0.5)


def test_surround_downmix_rules(tmp_path: Path) -> None:
    n = 100
    # 5.1 in WAV order: only the centre channel carries signal -> equal in L and R.
    six = np.zeros((6, n), np.float32)
    six[2] = 1.0
    st = audio.to_channels(six, 2)
    assert st.shape == (2, n) and np.allclose(st[0], st[1]) and st[0, 0] > 0
    # LFE is dropped.
    lfe = np.zeros((6, n), np.float32)
    lfe[3] = 1.0
    assert np.allclose(audio.to_channels(lfe, 2), 0.0)
    # A signal present in every channel keeps its level.
    assert np.allclose(audio.to_channels(np.ones((8, n), np.float32), 2), 1.0)
    # Unusual count (7): even channels left, odd right.
    seven = np.zeros((7, n), np.float32)
    seven[0::2] = 1.0
    st7 = audio.to_channels(seven, 2)
    assert np.allclose(st7[0], 1.0) and np.allclose(st7[1], 0.0)
    # Loading a >2-channel file gives stereo by default.
    path = tmp_path / "six.wav"
    sf.write(str(path), six.T, SR, subtype="FLOAT")
    assert audio.load_audio(path).shape == (2, n)


@pytest.mark.parametrize("style", ["linear", "constant-power"])
def test_crossfade_curves(style: str) -> None:
    fade_out, fade_in = audio.fade_curves(1024, style)
    assert np.all(np.diff(fade_in) > 0) and np.all(np.diff(fade_out) < 0)
    if style == "linear":
        assert np.allclose(fade_in + fade_out, 1.0)
    else:
        assert np.allclose(fade_in**2 + fade_out**2, 1.0, atol=1e-6)
    # Uncorrelated noise keeps its power through an equal-power fade, not through a linear one.
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 200_000)).astype(np.float32)
    fo, fi = audio.fade_curves(a.size, style)
    mixed = a * fo + b * fi
    ratio = np.mean(mixed**2) / np.mean(a**2)
    if style == "constant-power":
        assert abs(ratio - 1.0) < 0.02
    else:
        assert ratio < 0.75  # linear dips to about 2/3 of the power in the middle


@pytest.mark.parametrize("style", ["linear", "constant-power"])
def test_join_segments_is_continuous(style: str) -> None:
    # Two windows cut from one smooth signal with an overlap must join without a jump.
    sig = tone(220.0, 0.5)
    overlap = 512
    first = sig[:, :12000]
    second = sig[:, 12000 - overlap:]
    joined = audio.join_segments([first, second], overlap, style)
    assert joined.shape == sig.shape
    max_step = np.max(np.abs(np.diff(sig[0])))
    # No jump at the seam edges: the first and last steps of the overlap look like the signal.
    steps = np.abs(np.diff(joined[0]))
    for edge in (12000 - overlap - 1, 12000 - 1):
        assert steps[edge] <= max_step * 1.05
    # Equal-power on identical (correlated) signals bumps the level by at most sqrt(2) mid-fade.
    assert steps.max() <= max_step * (1.05 if style == "linear" else np.sqrt(2) * 1.05)
    if style == "linear":
        assert np.allclose(joined, sig, atol=1e-6)


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        p = audio.save_wav(tmp_path / "perm.wav", tone(440, 0.05))
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


def test_atomic_write_cleans_up_on_error_and_keeps_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.wav"
    old = tone(440, 0.1)
    audio.save_wav(target, old, subtype="FLOAT")
    before = target.read_bytes()

    def boom(*args, **kwargs):
        args[0].write(b"RIFF-partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(audio.sf, "write", boom)
    with pytest.raises(OSError):
        audio.save_wav(target, tone(880, 0.1), subtype="FLOAT")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_atomic_write_survives_kill_mid_write(tmp_path: Path) -> None:
    target = tmp_path / "big.wav"
    script = textwrap.dedent(f"""
        import numpy as np, soundfile as sf, sys
        from jbdiff import audio
        real = sf.write
        def slow(fh, data, *a, **k):
            fh.write(b"RIFF" + b"0" * 4096)
            fh.flush()
            print("writing", flush=True)
            import time; time.sleep(60)
        audio.sf.write = slow
        audio.save_wav({str(target)!r}, np.zeros((2, 1000), np.float32))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout.readline().strip() == "writing"
        partial = [p for p in tmp_path.iterdir()]
        assert partial and all(p.name.startswith(".") and p.name.endswith(".part") for p in partial)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not target.exists()
    time.sleep(0.05)
    assert not target.exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileNotFound, match="not found"):
        audio.load_audio(tmp_path / "nope.wav")


def test_corrupt_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioDecodeError, match="bad.wav"):
        audio.load_audio(p)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(AudioDecodeError):
        audio.load_audio(txt)
    with pytest.raises(AudioDecodeError, match="directory"):
        audio.load_audio(tmp_path)


def test_empty_and_too_short(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    sf.write(str(p), np.zeros((0, 2), np.float32), SR)
    with pytest.raises(AudioTooShort, match="no audio"):
        audio.load_audio(p)
    q = tmp_path / "short.wav"
    sf.write(str(q), tone(440, 0.01).T, SR)
    with pytest.raises(AudioTooShort, match="at least"):
        audio.load_audio(q, min_samples=SR)


def test_nan_and_inf_rejected(tmp_path: Path) -> None:
    x = tone(440, 0.1)
    x[0, 10] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(str(p), x.T, SR, subtype="FLOAT")
    with pytest.raises(AudioNotFinite, match="NaN or infinite"):
        audio.load_audio(p)
    x[0, 10] = np.inf
    sf.write(str(p), x.T, SR, subtype="FLOAT")
    with pytest.raises(AudioNotFinite):
        audio.load_audio(p)
    with pytest.raises(AudioNotFinite):
        audio.save_wav(tmp_path / "o.wav", x)


def test_silent_file_warns(tmp_path: Path, caplog) -> None:
    p = tmp_path / "silent.wav"
    sf.write(str(p), np.zeros((1000, 1), np.float32), SR)
    with caplog.at_level(logging.WARNING, logger="jbdiff.audio"):
        y = audio.load_audio(p)
    assert y.shape == (1, 1000)
    assert any("silent" in r.message for r in caplog.records)


@pytest.mark.parametrize("fmt,subtype", [("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("AIFF", "PCM_24")])
def test_other_formats(tmp_path: Path, fmt: str, subtype: str) -> None:
    x = tone(440.0, 0.5, channels=2)
    p = tmp_path / f"x.{fmt.lower()}"
    sf.write(str(p), x.T, SR, format=fmt, subtype=subtype)
    y = audio.load_audio(p)
    assert y.shape[0] == 2 and abs(y.shape[1] - x.shape[1]) < 2048
    assert abs(peak_frequency(y[0], SR) - 440.0) < 3.0


def test_pad_or_crop() -> None:
    x = np.ones((2, 10), np.float32)
    assert audio.pad_or_crop(x, 4).shape == (2, 4)
    y = audio.pad_or_crop(x, 15)
    assert y.shape == (2, 15) and np.all(y[:, 10:] == 0)
