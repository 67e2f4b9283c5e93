"""Where checkpoints live: one cache folder, overridable per call, per user and per machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

ENV_HOME = "JBDIFF_HOME"


def cache_dir(
    override: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Path:
    """`override` (--dir) if given, else $JBDIFF_HOME/checkpoints, else the user cache dir + /checkpoints."""
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    environ = os.environ if env is None else env
    home = environ.get(ENV_HOME, "")
    if home:
        return Path(home).expanduser() / "checkpoints"
    return Path(platformdirs.user_cache_dir("jbdiff", appauthor=False)) / "checkpoints"
