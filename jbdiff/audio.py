"""Audio I/O and audio math: decode anything libsndfile reads, 44.1 kHz float32, atomic WAV out.

Arrays are numpy float32 shaped ``[channels, samples]`` everywhere in this module.
Functions are pure except ``read_audio``/``load_audio``/``save_wav``, which touch files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from jbdiff.atomic import atomic_open
from jbdiff.errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFound,
    AudioNotFinite,
    AudioTooShort,
)

logger = logging.getLogger(__name__)

SAMPLE_RATE = 44100
XfadeStyle = Literal["linear", "constant-power"]
XFADE_STYLES: tuple[str, ...] = ("linear", "constant-power")
WavSubtype = Literal["PCM_16", "PCM_24", "FLOAT"]
SILENCE_THRESHOLD = 1e-6  # peak below this (about -120 dBFS) counts as a silent file

# Downmix matrices for common multichannel layouts in WAV channel order
# (L, R, C, LFE, BL, BR, SL, SR): centre and surrounds at -3 dB, LFE dropped (ITU-R BS.775 style).
_M3 = 0.7071067811865476
_STEREO_DOWNMIX: dict[int, np.ndarray] = {
    3: np.array([[1, 0, _M3], [0, 1, _M3]]),  # L R C
    4: np.array([[1, 0, _M3, 0], [0, 1, 0, _M3]]),  # quad: L R BL BR
    5: np.array([[1, 0, _M3, _M3, 0], [0, 1, _M3, 0, _M3]]),  # 5.0: L R C BL BR
    6: np.array([[1, 0, _M3, 0, _M3, 0], [0, 1, _M3, 0, 0, _M3]]),  # 5.1
    8: np.array([[1, 0, _M3, 0, _M3, 0, _M3, 0], [0, 1, _M3, 0, 0, _M3, 0, _M3]]),  # 7.1
}


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a file as-is (no resampling) so callers see the file's own rate and channels."""
    p = Path(path)
    if not p.exists():
        raise AudioFileNotFound(f"{p}: audio file not found")
    if p.is_dir():
        raise AudioDecodeError(f"{p}: is a directory, not an audio file")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioDecodeError(f"{p}: cannot decode as audio ({exc})") from exc
    audio = np.ascontiguousarray(data.T)
    if audio.shape[1] == 0:
        raise AudioTooShort(f"{p}: holds no audio samples")
    return audio, int(sr)


def check_finite(audio: np.ndarray, what: str) -> None:
    """Reject NaN/inf early: they poison every later stage silently."""
    if not np.isfinite(audio).all():
        bad = int(np.size(audio) - np.count_nonzero(np.isfinite(audio)))
        raise AudioNotFinite(f"{what}: {bad} samples are NaN or infinite")


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling with soxr (very high quality), channel by channel."""
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive (got {sr_in} -> {sr_out})")
    if sr_in == sr_out:
        return audio
    out = soxr.resample(np.ascontiguousarray(audio.T), sr_in, sr_out, quality="VHQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Convert channel count by explicit rules so every caller gets the same mix.

    - 1 -> 2: the mono signal on both sides.
    - N -> 1: mean of all channels (what Jukebox's preprocessing does for stereo).
    - 3, 4, 5, 6 (5.1), 8 (7.1) -> 2: ITU-style downmix in WAV channel order, LFE dropped.
    - other N > 2 -> 2: even-indexed channels averaged to the left, odd-indexed to the right.
    """
    n = audio.shape[0]
    if channels not in (1, 2):
        raise AudioError(f"channels must be 1 or 2 (got {channels})")
    if n == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32)
    if n == 1:
        return np.repeat(audio, 2, axis=0)
    matrix = _STEREO_DOWNMIX.get(n)
    if matrix is None:
        left = audio[0::2].mean(axis=0)
        right = audio[1::2].mean(axis=0)
        return np.stack([left, right]).astype(np.float32)
    # Normalise rows so a signal present in every channel keeps its level.
    matrix = matrix / matrix.sum(axis=1, keepdims=True)
    return (matrix.astype(np.float32) @ audio).astype(np.float32)


def load_audio(
    path: str | os.PathLike,
    sr: int = SAMPLE_RATE,
    channels: int | None = None,
    min_samples: int = 1,
) -> np.ndarray:
    """Load any libsndfile-readable file as float32 ``[channels, samples]`` at ``sr``.

    ``channels=None`` keeps mono as mono and folds anything wider than stereo down to stereo.
    """
    audio, file_sr = read_audio(path)
    check_finite(audio, str(path))
    target = channels if channels is not None else min(audio.shape[0], 2)
    audio = to_channels(audio, target)
    audio = resample(audio, file_sr, sr)
    if audio.shape[1] < min_samples:
        raise AudioTooShort(
            f"{path}: {audio.shape[1] / sr:.3f} s of audio, at least {min_samples / sr:.3f} s needed"
        )
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < SILENCE_THRESHOLD:
        logger.warning("%s: the file is silent (peak %.2g)", path, peak)
    return audio


def pad_or_crop(audio: np.ndarray, length: int) -> np.ndarray:
    """Fix the length at the end (zero pad or cut), the usual contract for model windows."""
    n = audio.shape[-1]
    if n == length:
        return audio
    if n > length:
        return audio[..., :length]
    pad = np.zeros(audio.shape[:-1] + (length - n,), dtype=audio.dtype)
    return np.concatenate([audio, pad], axis=-1)


def save_wav(
    path: str | os.PathLike,
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    subtype: WavSubtype = "PCM_24",
) -> Path:
    """Write a WAV atomically: temp file in the same folder, fsync, rename; no half files ever."""
    p = Path(path)
    if audio.ndim != 2:
        raise AudioError(f"{p}: expected [channels, samples] audio, got shape {audio.shape}")
    check_finite(audio, f"{p} (data to write)")
    if subtype not in ("PCM_16", "PCM_24", "FLOAT"):
        raise AudioError(f"{p}: subtype must be PCM_16, PCM_24 or FLOAT (got {subtype!r})")
    data = np.ascontiguousarray(audio.T, dtype=np.float32)
    if subtype != "FLOAT":
        data = np.clip(data, -1.0, 1.0)
    with atomic_open(p, "wb") as fh:
        sf.write(fh, data, sr, subtype=subtype, format="WAV")
    return p


def fade_curves(n: int, style: XfadeStyle = "constant-power") -> tuple[np.ndarray, np.ndarray]:
    """(fade_out, fade_in) gains over ``n`` samples.

    ``linear`` keeps amplitude constant (gains sum to 1: right for correlated signals);
    ``constant-power`` keeps power constant (sin/cos, squares sum to 1: right for
    uncorrelated signals such as two different diffusion windows).
    """
    if style not in XFADE_STYLES:
        raise AudioError(f"xfade style must be one of {XFADE_STYLES} (got {style!r})")
    if n < 0:
        raise AudioError(f"crossfade length must be >= 0 (got {n})")
    x = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    if style == "linear":
        fade_in = x
        fade_out = 1.0 - x
    else:
        fade_in = np.sin(0.5 * np.pi * x)
        fade_out = np.cos(0.5 * np.pi * x)
    return fade_out.astype(np.float32), fade_in.astype(np.float32)


def crossfade(tail: np.ndarray, head: np.ndarray, style: XfadeStyle = "constant-power") -> np.ndarray:
    """Mix the end of one segment into the start of the next over their common length."""
    if tail.shape != head.shape:
        raise AudioError(f"crossfade needs equal shapes (got {tail.shape} and {head.shape})")
    fade_out, fade_in = fade_curves(tail.shape[-1], style)
    return tail * fade_out + head * fade_in


def join_segments(
    segments: list[np.ndarray], overlap: int, style: XfadeStyle = "constant-power"
) -> np.ndarray:
    """Concatenate segments whose neighbours share ``overlap`` samples, crossfading each seam."""
    if not segments:
        raise AudioError("join_segments needs at least one segment")
    if overlap < 0:
        raise AudioError(f"overlap must be >= 0 (got {overlap})")
    out = segments[0]
    for seg in segments[1:]:
        if overlap == 0:
            out = np.concatenate([out, seg], axis=-1)
            continue
        if seg.shape[-1] < overlap or out.shape[-1] < overlap:
            raise AudioError(f"segments shorter than the overlap ({overlap} samples)")
        mixed = crossfade(out[..., -overlap:], seg[..., :overlap], style)
        out = np.concatenate([out[..., :-overlap], mixed, seg[..., overlap:]], axis=-1)
    return out
