"""Short synthetic music from a random score (harmonic notes with envelopes), for tests and smoke runs.

Real recordings are not available offline in tests; pure sines would hide bugs (no transients,
no stereo, no spectral spread), so notes here have harmonics, attack/decay and a stereo position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A minor-key progression (MIDI roots) the melody and bass follow.
_PROGRESSION = (57, 53, 48, 55)
_SCALE = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class Note:
    """One note of a score: start and length in seconds, MIDI pitch, loudness 0..1, pan -1..1."""

    start: float
    length: float
    pitch: int
    velocity: float
    pan: float


def random_score(seconds: float, rng: np.random.Generator, *, tempo: float = 120.0) -> list[Note]:
    """A bass line and a melody on a fixed progression, one bar per chord, notes drawn from rng."""
    beat = 60.0 / tempo
    notes: list[Note] = []
    t, bar = 0.0, 0
    while t < seconds:
        root = _PROGRESSION[bar % len(_PROGRESSION)]
        notes.append(Note(t, 4 * beat * 0.95, root - 12, 0.6, -0.3))
        s = t
        while s < t + 4 * beat and s < seconds:
            length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
            degree = int(rng.integers(0, len(_SCALE)))
            octave = 12 * int(rng.integers(0, 2))
            notes.append(
                Note(
                    s,
                    length * 0.9,
                    root + 12 + _SCALE[degree] + octave,
                    float(rng.uniform(0.3, 0.8)),
                    float(rng.uniform(-0.7, 0.7)),
                )
            )
            s += length
        t += 4 * beat
        bar += 1
    return notes


def render(notes: list[Note], seconds: float, sample_rate: int, *, channels: int = 2) -> np.ndarray:
    """Render notes to float32 [frames, channels], peak-normalised to 0.5."""
    frames = int(round(seconds * sample_rate))
    out = np.zeros((frames, 2), dtype=np.float64)
    for n in notes:
        a = int(n.start * sample_rate)
        if a >= frames:
            continue
        b = min(frames, a + int((n.length + 0.15) * sample_rate))
        tt = np.arange(b - a) / sample_rate
        f0 = 440.0 * 2.0 ** ((n.pitch - 69) / 12.0)
        vib = 1.0 + 0.004 * np.sin(2 * np.pi * 5.5 * tt)
        phase = 2 * np.pi * f0 * np.cumsum(vib) / sample_rate
        wave = np.zeros_like(tt)
        for k in range(1, 7):
            if k * f0 >= sample_rate / 2:
                break
            wave += np.sin(k * phase) * (k**-1.3) * np.exp(-tt * 1.5 * k)
        attack = np.clip(tt / 0.01, 0, 1)
        release = np.clip((n.length + 0.15 - tt) / 0.15, 0, 1)
        env = attack * release * np.exp(-tt * 1.2)
        sig = n.velocity * wave * env
        left, right = np.sqrt((1 - n.pan) / 2), np.sqrt((1 + n.pan) / 2)
        out[a:b, 0] += sig * left
        out[a:b, 1] += sig * right
    peak = float(np.max(np.abs(out))) or 1.0
    out *= 0.5 / peak
    if channels == 1:
        out = out.mean(axis=1, keepdims=True)
    return out.astype(np.float32)


def synth_track(
    seconds: float, sample_rate: int = 44100, *, seed: int = 0, channels: int = 2
) -> np.ndarray:
    """Render a fresh random score of the given length: float32 [frames, channels]."""
    rng = np.random.default_rng(seed)
    return render(random_score(seconds, rng), seconds, sample_rate, channels=channels)


def write_synth_folder(root, files: int = 5, seconds: float = 3.0, sample_rate: int = 44100, *,
                       seed: int = 0, channels: int = 2) -> list:
    """Write `files` synth tracks as 16-bit WAVs into `root` (a test music library); returns their paths."""
    from pathlib import Path

    import soundfile as sf

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        path = root / f"track{i:02d}.wav"
        sf.write(path, synth_track(seconds, sample_rate, seed=seed + i, channels=channels), sample_rate,
                 subtype="PCM_16")
        paths.append(path)
    return paths
