"""Named exceptions, so every layer (CLI, OSC, training) can turn a failure into a clear reply."""

from __future__ import annotations


class JbdiffError(Exception):
    """Base of every error jbdiff raises on purpose; its message is meant for the user."""


class ConfigError(JbdiffError, ValueError):
    """A config value (YAML, CLI flag, OSC argument) is missing, unknown or out of range."""


class AudioError(JbdiffError):
    """An audio file cannot be used; the message names the file and the reason."""


class AudioFileNotFound(AudioError, FileNotFoundError):
    """The audio file does not exist."""


class AudioDecodeError(AudioError):
    """The file exists but libsndfile cannot read it as audio (corrupt or not audio)."""


class AudioTooShort(AudioError):
    """The audio holds no samples, or fewer than the operation needs."""


class AudioNotFinite(AudioError):
    """The audio holds NaN or infinite samples."""


class CheckpointError(JbdiffError):
    """A checkpoint is missing, fails its checksum, or does not match the network."""


class CancelledError(JbdiffError):
    """A generation was cancelled by the caller; no output was written."""
