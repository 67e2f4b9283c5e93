"""Decode, resample and shape audio for the data layer (soundfile + soxr only, no ffmpeg)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from training.data.errors import DataError

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100

# Extensions of the containers libsndfile reads; the set bounds what a folder walk picks up.
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".caf",
        ".w64",
        ".rf64",
    }
)


def is_audio_path(path: Path) -> bool:
    """True for a file name libsndfile may read, so folder walks skip text, images and caches."""
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Read a whole file as float32 [frames, channels]; libsndfile errors become DataError."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"cannot decode audio file {path}: {exc}") from exc
    return audio, int(rate)


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample [frames, channels] float32 with soxr HQ (deterministic); a no-op at the target rate."""
    if rate == target or audio.shape[0] == 0:
        return np.ascontiguousarray(audio, dtype=np.float32)
    out = soxr.resample(audio, rate, target, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Make [frames, C] have `channels` columns: mono is duplicated, stereo averaged to mono, extra dropped."""
    have = audio.shape[1]
    if have == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=1, keepdims=True, dtype=np.float32)
    if have == 1:
        return np.repeat(audio, channels, axis=1)
    return np.ascontiguousarray(audio[:, :channels])


def fit_length(audio: np.ndarray, frames: int) -> np.ndarray:
    """Crop or zero-pad [frames, C] to exactly `frames`, since decoded Vorbis can be a few hundred off."""
    have = audio.shape[0]
    if have == frames:
        return audio
    if have > frames:
        return audio[:frames]
    pad = np.zeros((frames - have, audio.shape[1]), dtype=audio.dtype)
    return np.concatenate([audio, pad], axis=0)


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    """Quantise float audio to int16 ourselves (round, clip) so the bytes never depend on libsndfile."""
    return np.clip(np.rint(audio * 32767.0), -32768, 32767).astype(np.int16)
