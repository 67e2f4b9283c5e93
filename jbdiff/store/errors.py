"""Named checkpoint-store failures, so the CLI and server can answer each with one clear line."""

from __future__ import annotations

from jbdiff.errors import CheckpointError


class UnknownCheckpoint(CheckpointError, ValueError):
    """A name is neither a registry entry, an alias nor a group."""


class CheckpointNotFound(CheckpointError, FileNotFoundError):
    """A checkpoint reference resolves to no file on disk."""


class DownloadError(CheckpointError):
    """A download failed; the message says which file, from where, and why."""


class HostUnreachable(DownloadError):
    """The host could not be reached (no network, DNS failure, refused, timed out)."""


class RemoteNotFound(DownloadError):
    """The server (or mirror folder) has no such file (HTTP 404/410, missing path)."""


class DiskFull(DownloadError):
    """The cache folder has no room for the file."""


class ChecksumMismatch(DownloadError):
    """The file's SHA-256 differs from the registry; the bad copy was set aside."""
