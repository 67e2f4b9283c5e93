"""Checkpoint store: a registry of published weights, a verified download cache, and name resolution."""

from jbdiff.store.download import download
from jbdiff.store.errors import (
    CheckpointNotFound,
    ChecksumMismatch,
    DiskFull,
    DownloadError,
    HostUnreachable,
    RemoteNotFound,
    UnknownCheckpoint,
)
from jbdiff.store.paths import cache_dir
from jbdiff.store.registry import CheckpointEntry, Registry, load_registry
from jbdiff.store.resolve import StoreRow, resolve_checkpoint, status, store_rows

__all__ = [
    "CheckpointEntry",
    "CheckpointNotFound",
    "ChecksumMismatch",
    "DiskFull",
    "DownloadError",
    "HostUnreachable",
    "Registry",
    "RemoteNotFound",
    "StoreRow",
    "UnknownCheckpoint",
    "cache_dir",
    "download",
    "load_registry",
    "resolve_checkpoint",
    "status",
    "store_rows",
]
