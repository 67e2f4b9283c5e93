"""Turn a config's `ckpt_loc` (path, registry name or seed filename) into a file, or say how to get it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jbdiff.store.errors import CheckpointNotFound, ChecksumMismatch
from jbdiff.store.paths import cache_dir
from jbdiff.store.registry import CheckpointEntry, Registry, load_registry
from jbdiff.store.verify import cached_sha256, file_sha256

Status = Literal["verified", "present", "missing", "bad"]
PathLike = str | os.PathLike[str]


def _explicit(ref: str, config_dir: PathLike | None) -> Path | None:
    """An existing file named by `ref`: absolute, else relative to the config's folder, else to the CWD."""
    p = Path(ref).expanduser()
    candidates = (
        [p] if p.is_absolute() else [*([Path(config_dir) / p] if config_dir is not None else []), p]
    )
    for c in candidates:
        if c.is_file():
            return c.resolve()
    return None


def _dirs(search_dirs: Sequence[PathLike] | None) -> list[Path]:
    return [Path(d).expanduser() for d in search_dirs] if search_dirs is not None else [cache_dir()]


def find_entry(ref: str, registry: Registry | None = None) -> CheckpointEntry | None:
    """Registry entry named by `ref` (name, alias, or a path/URL ending in its filename), or None."""
    reg = registry or load_registry()
    return reg.get(ref) or reg.by_filename(ref)


def resolve_checkpoint(
    ref: str | os.PathLike[str],
    *,
    config_dir: PathLike | None = None,
    search_dirs: Sequence[PathLike] | None = None,
    registry: Registry | None = None,
    verify: bool = False,
) -> Path:
    """Existing path first, then the cache by registry name or filename; else say which download fetches it."""
    ref_s = os.fspath(ref)
    if not ref_s.strip():
        raise CheckpointNotFound(
            "empty checkpoint reference: give a path or a registry name (see `jbdiff download --list`)"
        )
    found = _explicit(ref_s, config_dir)
    if found is not None:
        return found
    reg = registry or load_registry()
    entry = find_entry(ref_s, reg)
    dirs = _dirs(search_dirs)
    if entry is not None:
        for d in dirs:
            candidate = d / entry.filename
            if candidate.is_file():
                if verify and entry.sha256 is not None:
                    actual = file_sha256(candidate)
                    if actual != entry.sha256:
                        raise ChecksumMismatch(
                            f"{candidate} failed its checksum: expected sha256 {entry.sha256}, got {actual}; "
                            f"run `jbdiff download {entry.name}` to replace it"
                        )
                return candidate
        where = ", ".join(str(d) for d in dirs)
        raise CheckpointNotFound(
            f"checkpoint {ref_s!r} ({entry.name}, {entry.size_text()}) is not downloaded (looked in {where}); "
            f"fetch it with `jbdiff download {entry.name}`"
        )
    looked = (
        [str(Path(config_dir) / ref_s)]
        if config_dir is not None and not Path(ref_s).is_absolute()
        else []
    )
    looked.append(str(Path(ref_s).expanduser()))
    raise CheckpointNotFound(
        f"checkpoint {ref_s!r} not found: no such file (looked at {', '.join(looked)}) and not a registry name; "
        f"known names: {', '.join(reg.names())} (see `jbdiff download --list`)"
    )


def status(
    entry: CheckpointEntry, dest_dir: PathLike | None = None, *, verify: bool = False
) -> Status:
    """verified/present/missing/bad from the sidecar cache; hashes only when `verify` is set."""
    path = cache_dir(dest_dir) / entry.filename
    if not path.is_file():
        return "missing"
    if entry.size is not None and path.stat().st_size != entry.size:
        return "bad"
    if entry.sha256 is None:
        return "present"
    digest = file_sha256(path) if verify else cached_sha256(path)
    if digest is None:
        return "present"
    return "verified" if digest == entry.sha256 else "bad"


@dataclass(frozen=True)
class StoreRow:
    """One line of `jbdiff info` / `jbdiff download --list`."""

    name: str
    status: Status
    size: str
    path: Path
    description: str


def store_rows(
    dest_dir: PathLike | None = None, *, registry: Registry | None = None, verify: bool = False
) -> list[StoreRow]:
    """Every registry entry with its status in the cache, for listings."""
    reg = registry or load_registry()
    d = cache_dir(dest_dir)
    return [
        StoreRow(e.name, status(e, d, verify=verify), e.size_text(), d / e.filename, e.description)
        for e in reg.entries
    ]
