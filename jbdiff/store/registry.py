"""Load the checkpoint registry (registry.json) into dataclasses, so code never hard-codes URLs."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jbdiff.errors import CheckpointError
from jbdiff.store.errors import UnknownCheckpoint

DEFAULT_REGISTRY_PATH = Path(__file__).with_name("registry.json")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class CheckpointEntry:
    """One published file: where to get it and how to know it is the right one."""

    name: str
    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None
    approx_size_bytes: int | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()
    source: str = ""
    notes: str = ""

    def size_text(self) -> str:
        """Human size for messages: exact when published, else the estimate marked as such."""
        if self.size is not None:
            return format_bytes(self.size)
        if self.approx_size_bytes is not None:
            return f"about {format_bytes(self.approx_size_bytes)} (estimate)"
        return "size unknown"


@dataclass(frozen=True)
class Registry:
    """All entries plus named groups; looks names, aliases and filenames up."""

    entries: tuple[CheckpointEntry, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Entry names in registry order."""
        return [e.name for e in self.entries]

    def get(self, name: str) -> CheckpointEntry | None:
        """Entry by name or alias (case-insensitive), or None."""
        key = name.strip().lower()
        for e in self.entries:
            if key == e.name or key in e.aliases:
                return e
        return None

    def by_filename(self, ref: str) -> CheckpointEntry | None:
        """Entry whose filename is the last component of `ref` (URL-encoded or not), or None."""
        base = unquote(ref.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
        for e in self.entries:
            if base == e.filename:
                return e
        return None

    def expand(self, names: Iterable[str]) -> list[CheckpointEntry]:
        """Entries for names, aliases and groups, de-duplicated, in first-mention order."""
        out: list[CheckpointEntry] = []
        for raw in names:
            key = raw.strip().lower()
            if key in self.groups:
                found = [self._must_get(n) for n in self.groups[key]]
            else:
                entry = self.get(key)
                if entry is None:
                    known = ", ".join([*self.names(), *self.groups])
                    raise UnknownCheckpoint(f"unknown checkpoint {raw!r}; known names: {known}")
                found = [entry]
            out.extend(e for e in found if e not in out)
        return out

    def _must_get(self, name: str) -> CheckpointEntry:
        entry = self.get(name)
        if entry is None:
            raise CheckpointError(f"registry group names unknown entry {name!r}")
        return entry


def format_bytes(n: int) -> str:
    """Decimal units (GB = 1e9), as download sites and disk tools print them."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _entry_from_dict(d: Mapping[str, Any], where: str) -> CheckpointEntry:
    """Validate one JSON entry, naming the bad field."""
    allowed = {f for f in CheckpointEntry.__dataclass_fields__}
    unknown = set(d) - allowed
    if unknown:
        raise CheckpointError(
            f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    name = d.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CheckpointError(
            f"{where}: 'name' must be lower-case letters, digits, '.', '_' or '-', got {name!r}"
        )
    filename = d.get("filename")
    if not isinstance(filename, str) or not filename or "/" in filename or "\\" in filename:
        raise CheckpointError(
            f"{where} ({name}): 'filename' must be a bare file name, got {filename!r}"
        )
    urls = d.get("urls")
    if (
        not isinstance(urls, list)
        or not urls
        or not all(isinstance(u, str) and u.startswith(_URL_SCHEMES) for u in urls)
    ):
        raise CheckpointError(
            f"{where} ({name}): 'urls' must be a non-empty list of http(s):// or file:// URLs"
        )
    sha = d.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA256_RE.match(sha)):
        raise CheckpointError(
            f"{where} ({name}): 'sha256' must be 64 lower-case hex digits or null, got {sha!r}"
        )
    for key in ("size", "approx_size_bytes"):
        v = d.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise CheckpointError(
                f"{where} ({name}): {key!r} must be a non-negative integer or null, got {v!r}"
            )
    aliases = d.get("aliases", [])
    if not isinstance(aliases, list) or not all(
        isinstance(a, str) and _NAME_RE.match(a) for a in aliases
    ):
        raise CheckpointError(f"{where} ({name}): 'aliases' must be a list of lower-case names")
    return CheckpointEntry(
        name=name,
        filename=filename,
        urls=tuple(urls),
        sha256=sha,
        size=d.get("size"),
        approx_size_bytes=d.get("approx_size_bytes"),
        description=str(d.get("description", "")),
        aliases=tuple(aliases),
        source=str(d.get("source", "")),
        notes=str(d.get("notes", "")),
    )


def registry_from_dict(data: Mapping[str, Any], where: str = "registry") -> Registry:
    """Build and cross-check a Registry (unique names/aliases/filenames, groups name real entries)."""
    if data.get("format") != 1:
        raise CheckpointError(f"{where}: 'format' must be 1, got {data.get('format')!r}")
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise CheckpointError(f"{where}: 'entries' must be a non-empty list")
    entries = tuple(_entry_from_dict(d, f"{where} entries[{i}]") for i, d in enumerate(raw_entries))
    seen: dict[str, str] = {}
    files: set[str] = set()
    for e in entries:
        for key in (e.name, *e.aliases):
            if key in seen:
                raise CheckpointError(
                    f"{where}: name/alias {key!r} used by both {seen[key]!r} and {e.name!r}"
                )
            seen[key] = e.name
        if e.filename in files:
            raise CheckpointError(f"{where}: filename {e.filename!r} appears twice")
        files.add(e.filename)
    raw_groups = data.get("groups", {})
    groups: dict[str, tuple[str, ...]] = {}
    for g, members in raw_groups.items():
        if g in seen:
            raise CheckpointError(f"{where}: group {g!r} clashes with an entry name or alias")
        bad = [m for m in members if m not in seen]
        if bad:
            raise CheckpointError(f"{where}: group {g!r} names unknown entries {bad}")
        groups[g] = tuple(seen[m] for m in members)
    groups.setdefault("all", tuple(e.name for e in entries))
    return Registry(entries=entries, groups=groups)


def load_registry(path: str | Path | None = None) -> Registry:
    """Registry from a JSON file (default: the one shipped in this package)."""
    p = Path(path) if path is not None else DEFAULT_REGISTRY_PATH
    if path is None:
        return _default_registry()
    return _read(p)


@functools.cache
def _default_registry() -> Registry:
    return _read(DEFAULT_REGISTRY_PATH)


def _read(p: Path) -> Registry:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint registry {p} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint registry {p} is not valid JSON: {exc}") from exc
    return registry_from_dict(data, where=str(p))
