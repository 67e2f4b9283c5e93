"""SHA-256 of checkpoint files, cached in a sidecar so multi-GB files are hashed once, not per `info`."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from jbdiff.atomic import write_json_atomic

log = logging.getLogger(__name__)

HASH_CHUNK = 4 << 20
SIDECAR_SUFFIX = ".sha256.json"  # a cache; plain `<file>.sha256` files are published checksums


def sidecar_path(path: Path) -> Path:
    """`<file>.sha256.json` beside the file: digest, size and mtime it belongs to."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def cached_sha256(path: Path) -> str | None:
    """The sidecar's digest if it still matches the file's size and mtime, else None (never hashes)."""
    side = sidecar_path(path)
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
        size, mtime_ns = _stamp(path)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("size") != size or data.get("mtime_ns") != mtime_ns:
        return None
    digest = data.get("sha256")
    return digest if isinstance(digest, str) else None


def write_sidecar(path: Path, digest: str) -> None:
    """Record the digest with the size and mtime it belongs to; a failure only costs a re-hash later."""
    side = sidecar_path(path)
    try:
        size, mtime_ns = _stamp(path)
        write_json_atomic(side, {"sha256": digest, "size": size, "mtime_ns": mtime_ns}, indent=None)
    except OSError as exc:
        log.warning("could not write checksum cache %s: %s", side, exc)


def file_sha256(path: Path, *, use_cache: bool = True) -> str:
    """SHA-256 of `path`, from the sidecar when it is still valid, else hashed and cached."""
    if use_cache:
        cached = cached_sha256(path)
        if cached is not None:
            return cached
    log.info("hashing %s", path)
    digest = sha256_file(path)
    write_sidecar(path, digest)
    return digest
