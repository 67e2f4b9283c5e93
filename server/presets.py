"""Named presets: the changed parameters as a small JSON file per name in ``<data-dir>/presets/``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from server.errors import BadRequest, PresetNotFound
from server.outputs import write_json_atomic

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
MAX_PRESET_BYTES = 64 * 1024


class Presets:
    """Save/load/list presets; names are checked so they can never leave the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: Any) -> Path:
        if not isinstance(name, str) or not _NAME.match(name) or name.endswith("."):
            raise BadRequest(f"preset name {name!r}: use 1 .. 64 letters, digits, space, - _ . "
                             "(starting with a letter or digit)")
        return self.folder / f"{name}.json"

    def save(self, name: str, values: dict[str, Any]) -> Path:
        return write_json_atomic(self.path(name), {"jbdiff_preset": 1, "params": values}).resolve()

    def load(self, name: str) -> dict[str, Any]:
        path = self.path(name)
        try:
            if path.stat().st_size > MAX_PRESET_BYTES:
                raise BadRequest(f"preset {name!r}: file is larger than {MAX_PRESET_BYTES} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PresetNotFound(f"no preset {name!r} (saved: {', '.join(self.names()) or 'none'})") from None
        except (OSError, ValueError) as exc:
            raise BadRequest(f"preset {name!r}: cannot read {path} ({exc})") from None
        params = data.get("params") if isinstance(data, dict) else None
        if not isinstance(params, dict):
            raise BadRequest(f"preset {name!r}: {path} has no 'params' mapping")
        return params

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if _NAME.match(p.stem))
