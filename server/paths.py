"""File paths from messages: allowed only if they resolve to a regular file inside a configured root."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePath

from server.errors import BadPath

MAX_PATH_CHARS = 4096


def resolve_in_roots(raw: object, roots: Sequence[Path], what: str = "path", expected: str = "an audio file") -> Path:
    """Resolve ``raw`` (absolute, or relative to the first root) and check it stays inside a root.

    Rejects ``..`` components outright (even when they would land inside a root, so clients
    learn the rule instead of relying on luck), symlinks that lead out of every root, and
    anything that is not a regular file (directories, devices, FIFOs, sockets).
    """
    if not isinstance(raw, str) or not raw:
        raise BadPath(f"{what}: expected a file path, got {raw!r}")
    if len(raw) > MAX_PATH_CHARS or "\x00" in raw:
        raise BadPath(f"{what}: not a usable path (too long or contains NUL)")
    if not roots:
        raise BadPath(f"{what}: no folders are configured for file access")
    expanded = os.path.expanduser(raw)
    if ".." in PurePath(expanded).parts:
        raise BadPath(f"{what}: {raw!r} contains '..' (paths must stay inside {_names(roots)})")
    candidate = Path(expanded)
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    try:
        real = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise BadPath(f"{what}: {raw!r} does not exist (looked for {candidate})") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop
        raise BadPath(f"{what}: {raw!r} cannot be resolved ({exc})") from None
    resolved_roots = [r.resolve() for r in roots]
    if not any(real == r or real.is_relative_to(r) for r in resolved_roots):
        raise BadPath(f"{what}: {raw!r} resolves to {real}, outside the allowed folders {_names(roots)}")
    try:
        mode = real.stat().st_mode
    except OSError as exc:
        raise BadPath(f"{what}: {raw!r} cannot be read ({exc})") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise BadPath(f"{what}: {raw!r} is {kind} (expected {expected})")
    return real


def _names(roots: Sequence[Path]) -> str:
    return ", ".join(str(r) for r in roots)
