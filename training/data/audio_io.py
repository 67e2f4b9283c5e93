"""Decode, resample and shape audio for the data layer (soundfile + soxr only, no ffmpeg)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from jbdiff.audio import SAMPLE_RATE, pad_or_crop, read_audio
from jbdiff.audio import resample as resample_cf
from jbdiff.audio import to_channels as to_channels_cf
from jbdiff.errors import AudioError
from training.data.errors import DataError

log = logging.getLogger(__name__)


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
    """Read a whole file as float32 [frames, channels]; unreadable files become DataError."""
    try:
        audio, rate = read_audio(path)
    except AudioError as exc:
        raise DataError(f"cannot decode audio file {path}: {exc}") from exc
    return np.ascontiguousarray(audio.T), rate


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample [frames, channels] with the library's soxr settings (deterministic)."""
    if rate == target or audio.shape[0] == 0:
        return np.ascontiguousarray(audio, dtype=np.float32)
    return np.ascontiguousarray(resample_cf(np.ascontiguousarray(audio.T), rate, target).T)


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """[frames, C] to ``channels`` columns by the library's channel rules (jbdiff.audio.to_channels)."""
    return np.ascontiguousarray(to_channels_cf(np.ascontiguousarray(audio.T), channels).T)


def fit_length(audio: np.ndarray, frames: int) -> np.ndarray:
    """Crop or zero-pad [frames, C] to exactly `frames`, since decoded Vorbis can be a few hundred off."""
    return np.ascontiguousarray(pad_or_crop(np.ascontiguousarray(audio.T), frames).T)


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    """Quantise float audio to int16 ourselves (round, clip) so the bytes never depend on libsndfile."""
    return np.clip(np.rint(audio * 32767.0), -32768, 32767).astype(np.int16)
