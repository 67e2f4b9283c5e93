"""Atomic file writes: readers see the old file or the whole new one, never a half file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO]:
    """Open a hidden temp file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception (or a kill) the temp file never takes the final name; in-process failures
    also delete it. The folder is fsynced after the rename so the new name survives a power cut.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp makes 0600; results are for the DAW and other tools too
    try:
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def process_umask() -> int:
    """The process umask; from /proc where possible, since setting and restoring it races threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: str | os.PathLike) -> None:
    """Persist a rename in ``directory`` (best effort: some filesystems refuse directory fsync)."""
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Replace a text file atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, data: Any, **dump_kwargs: Any) -> Path:
    """Replace a JSON file atomically (indent 2 unless told otherwise, trailing newline)."""
    dump_kwargs.setdefault("indent", 2)
    return write_text_atomic(path, json.dumps(data, **dump_kwargs) + "\n")
