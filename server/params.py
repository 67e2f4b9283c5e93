"""Generation parameters as OSC sees them: one table for ``/jbdiff/generate`` keys, live params and presets.

A value goes through three steps: ``coerce`` (OSC argument -> Python value, type only), the
parameter store or a message layer, then :func:`build_request`, which maps keys onto a
:class:`~jbdiff.request.GenerationRequest` and lets *its* ``validate`` check every range, so
ranges live in one place (jbdiff/request.py). The only ranges here are for keys the request
does not have (bars, bpm, beats per bar).
"""

from __future__ import annotations

import argparse
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jbdiff.commands.args import str2bool
from jbdiff.errors import ConfigError
from jbdiff.request import NOISE_STYLES, QUALITIES, GenerationRequest, parse_levels
from server.errors import BadRequest
from server.paths import resolve_in_roots

LEVEL_KEYS = ("0", "1", "2")
MAX_NAME_CHARS = 96


@dataclass(frozen=True)
class ParamSpec:
    """One key of ``/jbdiff/generate`` and ``/jbdiff/param/*``."""

    name: str
    kind: str                       # float, int, seed, bool, choice, levels, path, name
    doc: str
    choices: tuple[str, ...] = ()
    running: bool = False           # may change a job while it renders (needs the engine's live hook)

    @property
    def osc_type(self) -> str:
        """The argument type documented for clients."""
        return {"float": "float", "int": "int", "seed": "int|'random'", "bool": "int (0/1)",
                "choice": "string", "levels": "string|int", "path": "string", "name": "string"}[self.kind]


def _steps_doc(which: str) -> str:
    return f"diffusion steps for {which} (default: the sampling config's)"


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("seconds", "float", "length of the result in seconds (ignored with init audio)"),
    ParamSpec("bars", "float", "length in bars at `bpm` (0: off, use `seconds`); setting `seconds` turns it off"),
    ParamSpec("bpm", "float", "tempo for `bars` (20 .. 400)"),
    ParamSpec("beats_per_bar", "int", "beats in one bar for `bars` (1 .. 32)"),
    ParamSpec("levels", "levels", "levels to run, e.g. '210' (coarse to fine) or '21'"),
    ParamSpec("context", "path", "context clip (inside the drop or library folders); '' for none"),
    ParamSpec("init", "path", "init clip for a variation (inside the drop or library folders); '' for none"),
    ParamSpec("init_strength", "float", "how much of the init clip survives (0 .. 1)"),
    ParamSpec("noise_seed", "seed", "seed of the level noise; 'random' (or -1) for a fresh one per job"),
    ParamSpec("noise_style", "choice", "how noise evolves across windows", choices=NOISE_STYLES),
    ParamSpec("noise_step_size", "float", "noise change per window for walk/region styles (0 .. 1)",
              running=True),
    ParamSpec("dd_noise_seed", "seed", "seed of the stereo-stage noise; 'random' (or -1) per job"),
    ParamSpec("dd_noise_style", "choice", "stereo-stage noise style", choices=NOISE_STYLES),
    ParamSpec("dd_noise_step_size", "float", "stereo-stage noise change per window (0 .. 1)", running=True),
    ParamSpec("token_multiplier", "int", "window length in base tokens (longer windows, more memory)"),
    ParamSpec("use_dd", "bool", "run the Dance Diffusion stereo stage (0: mono copied to both sides)"),
    ParamSpec("update_lowest_context", "bool", "render first-level windows one after another, each "
              "conditioned on the previous"),
    ParamSpec("embedding_strength", "float", "guidance scale for every level (0 .. 50)", running=True),
    *(ParamSpec(f"embedding_strength_{lvl}", "float", f"guidance scale for level {lvl} only", running=True)
      for lvl in LEVEL_KEYS),
    ParamSpec("steps", "int", _steps_doc("every level and the stereo stage")),
    *(ParamSpec(f"steps_{lvl}", "int", _steps_doc(f"level {lvl}")) for lvl in (*LEVEL_KEYS, "dd")),
    ParamSpec("quality", "choice", "draft: a quarter of the configured steps", choices=QUALITIES),
    ParamSpec("name", "name", "name used in the output file name (letters, digits, - _ .)"),
)
PARAMS_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in PARAMS}
MESSAGE_ONLY_KEYS = ("tag",)            # generate keys that are not params: echoed, never stored

_BARS_RANGE = (0.0, 1024.0)
_BPM_RANGE = (20.0, 400.0)
_BEATS_RANGE = (1, 32)
_DEFAULTS = GenerationRequest()
_SERVER_DEFAULTS: dict[str, Any] = {"bars": None, "bpm": 120.0, "beats_per_bar": 4, "name": "jbdiff",
                                    "steps": None, "embedding_strength": None,
                                    **{f"embedding_strength_{k}": None for k in LEVEL_KEYS},
                                    **{f"steps_{k}": None for k in (*LEVEL_KEYS, "dd")}}
_FIELD_OF: dict[str, str] = {"seconds": "seconds_length", "context": "context_audio", "init": "init_audio",
                             "name": "project_name"}


def default_value(name: str) -> Any:
    """The value a parameter has before anyone sets it."""
    if name in _SERVER_DEFAULTS:
        return _SERVER_DEFAULTS[name]
    return getattr(_DEFAULTS, _FIELD_OF.get(name, name))


# ---------------------------------------------------------------------------- coercion


def spec_for(name: Any) -> ParamSpec:
    if not isinstance(name, str) or name not in PARAMS_BY_NAME:
        raise BadRequest(f"{name!r}: unknown parameter (allowed: {', '.join(PARAMS_BY_NAME)})")
    return PARAMS_BY_NAME[name]


def coerce(spec: ParamSpec, raw: Any) -> Any:
    """An OSC argument as the parameter's Python value (type and the server's own ranges only)."""
    if isinstance(raw, str) and raw.strip().lower() == "default":
        return default_value(spec.name)
    kind = spec.kind
    try:
        if kind == "float":
            value = _float(spec.name, raw)
            return _server_range(spec.name, value)
        if kind == "int":
            return _server_range(spec.name, _int(spec.name, raw))
        if kind == "seed":
            if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("random", "")):
                return None
            value = _int(spec.name, raw)
            return None if value == -1 else value
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, int) and raw in (0, 1):
                return bool(raw)
            if isinstance(raw, str):
                return str2bool(raw)
            raise BadRequest(f"{spec.name}: expected 0/1 or true/false, got {raw!r}")
        if kind == "choice":
            if not isinstance(raw, str):
                raise BadRequest(f"{spec.name}: expected one of {', '.join(spec.choices)}, got {raw!r}")
            return raw
        if kind == "levels":
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if not isinstance(raw, str | int) or isinstance(raw, bool):
                raise BadRequest(f"{spec.name}: expected levels like '210', got {raw!r}")
            return parse_levels(raw)
        if kind == "path":
            if raw is None or raw == "" or (isinstance(raw, str) and raw.lower() == "none"):
                return None
            if not isinstance(raw, str):
                raise BadRequest(f"{spec.name}: expected a file path, got {raw!r}")
            return raw
        if kind == "name":
            if not isinstance(raw, str) or not raw or len(raw) > MAX_NAME_CHARS:
                raise BadRequest(f"{spec.name}: expected a name of 1 .. {MAX_NAME_CHARS} characters, got {raw!r}")
            return raw
    except (ConfigError, argparse.ArgumentTypeError) as exc:
        raise BadRequest(f"{spec.name}: {exc}") from None
    raise AssertionError(f"unknown parameter kind {kind}")  # pragma: no cover


def _float(name: str, raw: Any) -> float:
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise BadRequest(f"{name}: expected a number, got {raw!r}") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise BadRequest(f"{name}: expected a number, got {raw!r}")
    value = float(raw)
    if not math.isfinite(value):
        raise BadRequest(f"{name}: expected a finite number, got {raw!r}")
    return value


def _int(name: str, raw: Any) -> int:
    if isinstance(raw, str):
        try:
            raw = int(raw.strip())
        except ValueError:
            raise BadRequest(f"{name}: expected an integer, got {raw!r}") from None
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadRequest(f"{name}: expected an integer, got {raw!r}")
    return raw


def _server_range(name: str, value: Any) -> Any:
    """Ranges for the keys GenerationRequest does not know (its own fields are checked by it)."""
    if name == "bars":
        if value == 0:
            return None
        lo, hi = _BARS_RANGE
        if not lo < value <= hi:
            raise BadRequest(f"bars: {value!r} is out of range (allowed: 0 for off, or > {lo} .. {hi})")
    elif name == "bpm":
        lo, hi = _BPM_RANGE
        if not lo <= value <= hi:
            raise BadRequest(f"bpm: {value!r} is out of range (allowed: {lo} .. {hi})")
    elif name == "beats_per_bar":
        lo, hi = _BEATS_RANGE
        if not lo <= value <= hi:
            raise BadRequest(f"beats_per_bar: {value!r} is out of range (allowed: {lo} .. {hi})")
    return value


def to_osc(value: Any, spec: ParamSpec) -> Any:
    """A parameter value as an OSC argument (no nil: Max cannot show it)."""
    if value is None:
        return {"seed": "random", "path": ""}.get(spec.kind, "default" if spec.name != "bars" else 0.0)
    if spec.kind == "levels":
        return "".join(str(v) for v in value)
    if spec.kind == "bool":
        return int(bool(value))
    return value


# -------------------------------------------------------------------- request building


def parse_pairs(args: Sequence[Any]) -> dict[str, Any]:
    """``key value key value ...`` -> coerced values; unknown or repeated keys are errors."""
    if len(args) % 2:
        raise BadRequest(f"expected key/value pairs, got an odd number of arguments ({len(args)})")
    out: dict[str, Any] = {}
    for key, raw in zip(args[0::2], args[1::2], strict=True):
        if not isinstance(key, str):
            raise BadRequest(f"expected a key (string) at this position, got {key!r}")
        if key in out:
            raise BadRequest(f"{key}: given twice")
        if key in MESSAGE_ONLY_KEYS:
            if not isinstance(raw, str | int) or isinstance(raw, bool) or len(str(raw)) > MAX_NAME_CHARS:
                raise BadRequest(f"{key}: expected a short string or integer, got {raw!r}")
            out[key] = str(raw)
            continue
        out[key] = coerce(spec_for(key), raw)
    if "seconds" in out and "bars" in out:
        raise BadRequest("give either seconds or bars (with bpm), not both")
    return out


def request_fields(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Map keys onto GenerationRequest fields; later layers win, global keys before per-level ones."""
    fields: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
        for key, value in layer.items():
            if key in ("steps", "embedding_strength") or key.startswith(("steps_", "embedding_strength_")):
                continue
            if key in ("bars", "bpm", "beats_per_bar") or key in MESSAGE_ONLY_KEYS:
                continue
            fields[_FIELD_OF.get(key, key)] = value
        for key, target, levels in (("steps", "num_steps", (2, 1, 0, "dd")),
                                    ("embedding_strength", "embedding_strength", (2, 1, 0))):
            per_level = dict(fields.get(target, {}))
            if key in layer:
                for lvl in levels:
                    if layer[key] is None:
                        per_level.pop(lvl, None)
                    else:
                        per_level[lvl] = layer[key]
            for lvl in levels:
                sub = layer.get(f"{key}_{lvl}", _MISSING)
                if sub is None:
                    per_level.pop(lvl, None)
                elif sub is not _MISSING:
                    per_level[lvl] = sub
            fields[target] = per_level
        # Length: within one layer bars (when on) beat seconds; a later layer's seconds beat
        # earlier bars, and a later bpm re-times earlier bars.
        if layer.get("bars") is not None or ("seconds" not in layer and merged.get("bars") is not None
                                              and any(k in layer for k in ("bpm", "beats_per_bar"))):
            bpm = merged.get("bpm") or default_value("bpm")
            beats = merged.get("beats_per_bar") or default_value("beats_per_bar")
            fields["seconds_length"] = merged["bars"] * beats * 60.0 / bpm
        elif "bars" in layer and "seconds" not in layer:      # bars switched off: back to seconds
            fields["seconds_length"] = merged.get("seconds", default_value("seconds"))
    return fields


_MISSING = object()


def build_request(layers: Sequence[Mapping[str, Any]], roots: Sequence[Path],
                  resolve_paths: bool = True) -> GenerationRequest:
    """Layers of key values (defaults, live params, the message) -> a validated request."""
    fields = request_fields(layers)
    for key, field_name in (("context", "context_audio"), ("init", "init_audio")):
        value = fields.get(field_name)
        if value is not None:
            fields[field_name] = str(resolve_in_roots(value, roots, key)) if resolve_paths else value
    try:
        return GenerationRequest(**fields).validate()
    except ConfigError as exc:
        raise BadRequest(_osc_names(str(exc))) from None


def _osc_names(message: str) -> str:
    """Say ``seconds`` where the request says ``seconds_length`` (clients know the OSC keys)."""
    for key, field_name in _FIELD_OF.items():
        if message.startswith(field_name + ":"):
            return key + message[len(field_name):]
    return message


# ------------------------------------------------------------------------ live values


class LiveValues:
    """Request fields a running job may re-read each step (the engine's ``live=`` hook)."""

    def __init__(self, fields: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._fields = dict(fields or {})
        self.version = 0

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._fields.get(key, default)

    def update(self, fields: Mapping[str, Any]) -> None:
        with self._lock:
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(self._fields.get(key), dict):
                    self._fields[key] = {**self._fields[key], **value}
                else:
                    self._fields[key] = value
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._fields)


def live_fields(request: GenerationRequest) -> dict[str, Any]:
    """The running-capable fields of a request, as the job starts."""
    names = {_FIELD_OF.get(p.name, p.name) for p in PARAMS if p.running and not p.name.startswith("embedding_")}
    out = {name: getattr(request, name) for name in names}
    out["embedding_strength"] = dict(request.embedding_strength)
    return out


# ------------------------------------------------------------------------ the store


class ParamStore:
    """Live defaults for the next jobs (thread-safe: OSC, MIDI and the hot folder all set them)."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = list(roots)
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        spec_for(name)
        with self._lock:
            return self._values.get(name, default_value(name))

    def snapshot(self) -> dict[str, Any]:
        """Every parameter's current value."""
        with self._lock:
            return {p.name: self._values.get(p.name, default_value(p.name)) for p in PARAMS}

    def set(self, name: Any, raw: Any) -> Any:
        """Coerce, check against a trial request, then store; returns the stored value."""
        return self.set_many({name: raw})[name]

    def set_many(self, raw: Mapping[Any, Any]) -> dict[str, Any]:
        """All or nothing: every value checked before any is stored."""
        new = {spec_for(name).name: coerce(spec_for(name), value) for name, value in raw.items()}
        if "seconds" in new and "bars" not in new:
            new["bars"] = None                    # seconds and bars are one choice
        with self._lock:
            trial = {**self._values, **new}
            for key in ("context", "init"):
                value = trial.get(key)
                if value is not None and key in new:
                    trial[key] = str(resolve_in_roots(value, self.roots, key))
                    new[key] = trial[key]
            others = {k: v for k, v in trial.items() if k not in ("context", "init") or k in new}
            build_request([others], self.roots, resolve_paths=False)
            self._values.update(new)
        return new

    def request(self, message: Mapping[str, Any]) -> GenerationRequest:
        """The request for one job: the store's values under the message's own keys."""
        with self._lock:
            current = dict(self._values)
        base = {"name": default_value("name")}
        return build_request([base, current, message], self.roots)

    def export(self) -> dict[str, Any]:
        """Changed values only, as JSON-ready OSC values (what a preset holds)."""
        with self._lock:
            return {k: to_osc(v, PARAMS_BY_NAME[k]) for k, v in sorted(self._values.items())}

    def replace_all(self, raw: Mapping[str, Any]) -> None:
        """Load a preset: reset to defaults, then set these values (all checked first)."""
        for name in raw:
            spec_for(name)
        defaults = {p.name: "default" for p in PARAMS if p.name not in raw}
        checked = self.set_many({**defaults, **raw})
        with self._lock:
            self._values = {k: v for k, v in checked.items() if v != default_value(k)}
